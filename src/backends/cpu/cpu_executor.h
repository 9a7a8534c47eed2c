/*
 * Runs a graph on the CPU, node by node: shape function, output allocation, kernel.
 *
 * Memory: the first run with given input shapes allocates each intermediate tensor on its
 * own and records its size; the memory plan (liveness + best fit) then places them all in
 * one arena, which later runs with the same input shapes use with no allocation at all.
 * A tensor that outgrows its planned slot (data-dependent shapes) gets memory of its own
 * for that run, and the plan is redone after it.
 *
 * Reshape, Flatten, Squeeze, Unsqueeze and Identity give, in kiln_cpu_run, a view of their
 * input's bytes rather than a copy (see kiln_cpu_view_source), unless their output is a
 * graph output (the caller may keep it past the input's life). No CPU kernel writes its
 * inputs, so a view of a constant or of a graph input is safe to read.
 */
#ifndef KILN_CPU_EXECUTOR_H
#define KILN_CPU_EXECUTOR_H

#include "backends/cpu/cpu_kernel.h"

typedef struct kiln_cpu_state kiln_cpu_state;

/* A subgraph's execution state, kept between runs (Loop bodies run many times). */
typedef struct kiln_cpu_substate {
    const kiln_graph *graph;
    int32_t *first_use, *last_use;
    kiln_cpu_state *state;
} kiln_cpu_substate;

struct kiln_cpu_state {
    const kiln_graph *graph;
    const int32_t *first_use, *last_use; /* liveness by step (see kiln_engine) */
    /* Zero-copy views (kiln_cpu_run only): view_of[t] >= 0 when tensor t may share the
     * bytes of tensor view_of[t] (Reshape and the like); root[t] owns t's bytes; live_last[t]
     * is last_use[t] raised to the last read of any view of t. Planned with these, the
     * engine's own liveness (and the plan file) stay as they are. */
    int32_t *view_of, *root, *live_last;
    uint8_t *viewed; /* this run: t is a view (1) or, though planned as one, a copy (0) */
    int32_t tensor_count;
    kiln_tview *values;  /* current view of every tensor */
    void **heap;         /* tensors with memory of their own this run */
    uint64_t *sizes;     /* bytes of each tensor in the last run */
    uint64_t *offsets;   /* arena offsets of the plan */
    uint64_t *planned;   /* bytes planned for each tensor */
    uint8_t *arena;
    uint64_t arena_size;
    uint8_t *retired_arena; /* the arena before a replan: the last run's values may live
                               there, so it is freed when the next run starts */
    int plan_valid;
    int plan_stale;      /* a tensor outgrew its slot: replan after this run */
    void *scratch;
    size_t scratch_size;
    int threads;
    /* profiling: seconds per node of the last run, when non-NULL */
    double *node_seconds;
    /* per-node kernel state (kiln_cpu_node_state), allocated on first use */
    void **node_state;
    void (**node_destroy)(void *);
    int32_t node_state_count;
    /* subgraphs: the enclosing state (outer values are looked up there by name) and the
     * states of the subgraphs run from this one */
    kiln_cpu_state *parent;
    int32_t sub_count;
    kiln_cpu_substate *subs;
};

kiln_status kiln_cpu_state_init(kiln_cpu_state *s, const kiln_graph *g, const int32_t *first_use,
                                const int32_t *last_use, int threads);
void kiln_cpu_state_free(kiln_cpu_state *s);
/* Forgets the memory plan (input shapes changed). */
void kiln_cpu_state_invalidate(kiln_cpu_state *s);

/* Runs the graph. The caller has set values[] of the graph inputs (dtype, shape, data);
 * constants are bound here. After the call values[] of every output holds its result. */
kiln_status kiln_cpu_run(kiln_cpu_state *s);

/* Runs one node (constant folding): its inputs' values[] must be set; its outputs get
 * memory of their own (heap[t]), which the caller may take over. */
kiln_status kiln_cpu_run_one(kiln_cpu_state *s, int32_t step);

#endif
