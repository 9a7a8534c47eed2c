#define _POSIX_C_SOURCE 200809L
#include "backends/cpu/cpu_executor.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/huge_pages.h"
#include "plan/memory_plan.h"

struct kiln_cpu_ctx {
    kiln_cpu_state *state;
    const kiln_node *node;
    kiln_tview *out;
    int32_t n_out;
    int32_t step;
};

/* Zero-byte tensors still need a valid, distinct-from-NULL address. */
static _Alignas(64) uint8_t kiln_cpu_empty[64];

kiln_status kiln_cpu_state_init(kiln_cpu_state *s, const kiln_graph *g, const int32_t *first_use,
                                const int32_t *last_use, int threads) {
    memset(s, 0, sizeof *s);
    s->graph = g;
    s->first_use = first_use;
    s->last_use = last_use;
    s->tensor_count = g->tensor_count;
    s->threads = threads > 0 ? threads : 1;
    size_t n = (size_t)(g->tensor_count ? g->tensor_count : 1);
    s->values = calloc(n, sizeof *s->values);
    s->heap = calloc(n, sizeof *s->heap);
    s->sizes = calloc(n, sizeof *s->sizes);
    s->offsets = calloc(n, sizeof *s->offsets);
    s->planned = calloc(n, sizeof *s->planned);
    if (!s->values || !s->heap || !s->sizes || !s->offsets || !s->planned) {
        kiln_cpu_state_free(s);
        return kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory creating an execution context");
    }
    return KILN_OK;
}

void kiln_cpu_state_free(kiln_cpu_state *s) {
    if (s->node_state)
        for (int32_t i = 0; i < s->node_state_count; i++) /* the graph may be gone */
            if (s->node_state[i] && s->node_destroy[i]) s->node_destroy[i](s->node_state[i]);
    free(s->node_state);
    free(s->node_destroy);
    for (int32_t i = 0; i < s->sub_count; i++) {
        kiln_cpu_state_free(s->subs[i].state);
        free(s->subs[i].state);
        free(s->subs[i].first_use);
        free(s->subs[i].last_use);
    }
    free(s->subs);
    if (s->heap)
        for (int32_t i = 0; i < s->tensor_count; i++) free(s->heap[i]);
    free(s->values);
    free(s->heap);
    free(s->sizes);
    free(s->offsets);
    free(s->planned);
    free(s->view_of);
    free(s->root);
    free(s->live_last);
    free(s->viewed);
    kiln_huge_free(s->arena);
    kiln_huge_free(s->retired_arena);
    free(s->scratch);
    memset(s, 0, sizeof *s);
}

void kiln_cpu_state_invalidate(kiln_cpu_state *s) {
    s->plan_valid = 0;
}

void *kiln_cpu_scratch(kiln_cpu_ctx *ctx, size_t bytes) {
    kiln_cpu_state *s = ctx->state;
    if (bytes > s->scratch_size) {
        void *p = realloc(s->scratch, bytes);
        if (!p) return NULL;
        s->scratch = p;
        s->scratch_size = bytes;
    }
    return s->scratch ? s->scratch : kiln_cpu_empty;
}

int kiln_cpu_threads(const kiln_cpu_ctx *ctx) {
    return ctx->state->threads;
}

void **kiln_cpu_node_state(kiln_cpu_ctx *ctx, void (*destroy)(void *)) {
    kiln_cpu_state *s = ctx->state;
    if (!s->node_state) {
        size_t n = (size_t)(s->graph->node_count ? s->graph->node_count : 1);
        s->node_state = calloc(n, sizeof *s->node_state);
        s->node_destroy = calloc(n, sizeof *s->node_destroy);
        s->node_state_count = s->graph->node_count;
        if (!s->node_state || !s->node_destroy) {
            free(s->node_state);
            free(s->node_destroy);
            s->node_state = NULL;
            s->node_destroy = NULL;
            return NULL;
        }
    }
    s->node_destroy[ctx->step] = destroy;
    return &s->node_state[ctx->step];
}

int kiln_cpu_input_is_constant(const kiln_cpu_ctx *ctx, int32_t index) {
    if (index < 0 || index >= ctx->node->input_count) return 0;
    int32_t t = ctx->node->inputs[index];
    return t >= 0 && ctx->state->graph->tensors[t].data != NULL;
}

/* Gives tensor t `bytes` of memory: its arena slot when it fits, else its own. */
static kiln_status kiln_cpu_place(kiln_cpu_state *s, int32_t t, uint64_t bytes, void **out) {
    s->sizes[t] = bytes;
    free(s->heap[t]);
    s->heap[t] = NULL;
    if (bytes == 0) {
        *out = kiln_cpu_empty;
        return KILN_OK;
    }
    if (s->plan_valid && bytes <= s->planned[t]) {
        *out = s->arena + s->offsets[t];
        return KILN_OK;
    }
    if (s->plan_valid) s->plan_stale = 1;
    if (bytes > SIZE_MAX - 64) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "tensor too large");
    s->heap[t] = malloc((size_t)bytes);
    if (!s->heap[t])
        return kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory allocating %llu bytes for '%s'",
                          (unsigned long long)bytes, s->graph->tensors[t].name);
    *out = s->heap[t];
    return KILN_OK;
}

kiln_status kiln_cpu_alloc_output(kiln_cpu_ctx *ctx, int32_t index, int32_t rank,
                                  const int64_t *dims) {
    if (index < 0 || index >= ctx->n_out || rank < 0 || rank > KILN_MAX_DIMS)
        return kiln_error(KILN_ERR_INTERNAL, "kiln_cpu_alloc_output: bad output %d / rank %d",
                          index, rank);
    kiln_tview *o = &ctx->out[index];
    int32_t t = ctx->node->outputs[index];
    if (o->dtype == KILN_DTYPE_STRING)
        return kiln_node_error(KILN_ERR_INTERNAL, ctx->node,
                               "string output %d must be allocated with kiln_cpu_alloc_strings",
                               index);
    o->kind = KILN_VALUE_TENSOR;
    o->seq_count = 0;
    o->seq_items = NULL;
    o->rank = rank;
    for (int32_t d = 0; d < rank; d++) o->dims[d] = dims[d];
    int64_t count = kiln_shape_count(rank, dims);
    if (count < 0) return kiln_node_error(KILN_ERR_INTERNAL, ctx->node, "negative output shape");
    return kiln_cpu_place(ctx->state, t, kiln_dtype_nbytes(o->dtype, count), &o->data);
}

static kiln_status kiln_cpu_check_output(const kiln_cpu_ctx *ctx, int32_t index, const char *call) {
    if (index < 0 || index >= ctx->n_out || ctx->node->outputs[index] < 0)
        return kiln_node_error(KILN_ERR_INTERNAL, ctx->node, "%s: no output %d", call, index);
    return KILN_OK;
}

kiln_status kiln_cpu_alloc_strings(kiln_cpu_ctx *ctx, int32_t index, int32_t rank,
                                   const int64_t *dims, size_t total_bytes, char **bytes) {
    KILN_TRY(kiln_cpu_check_output(ctx, index, "kiln_cpu_alloc_strings"));
    int64_t count = kiln_shape_count(rank, dims);
    if (rank < 0 || rank > KILN_MAX_DIMS || count < 0)
        return kiln_node_error(KILN_ERR_INTERNAL, ctx->node, "bad string output shape");
    if ((uint64_t)count > (SIZE_MAX - total_bytes) / sizeof(kiln_string) / 2)
        return kiln_error(KILN_ERR_OUT_OF_MEMORY, "string output too large");
    size_t head = ((size_t)count * sizeof(kiln_string) + 15) & ~(size_t)15;
    kiln_tview *o = &ctx->out[index];
    memset(o, 0, sizeof *o);
    o->dtype = KILN_DTYPE_STRING;
    o->rank = rank;
    for (int32_t d = 0; d < rank; d++) o->dims[d] = dims[d];
    KILN_TRY(kiln_cpu_place(ctx->state, ctx->node->outputs[index], head + total_bytes, &o->data));
    kiln_string *s = (kiln_string *)o->data;
    char *region = (char *)o->data + head;
    for (int64_t i = 0; i < count; i++) s[i] = (kiln_string){region, 0};
    *bytes = region;
    return KILN_OK;
}

kiln_status kiln_cpu_copy_output(kiln_cpu_ctx *ctx, int32_t index, const kiln_tview *v) {
    KILN_TRY(kiln_cpu_check_output(ctx, index, "kiln_cpu_copy_output"));
    if (v->kind == KILN_VALUE_TENSOR && (v->rank < 0 || v->rank > KILN_MAX_DIMS || kiln_tview_count(v) < 0))
        return kiln_node_error(KILN_ERR_INTERNAL, ctx->node, "copying a value of unknown shape");
    size_t bytes = kiln_value_packed_size(v);
    void *block;
    KILN_TRY(kiln_cpu_place(ctx->state, ctx->node->outputs[index], bytes, &block));
    kiln_value_pack(v, block, &ctx->out[index]);
    return KILN_OK;
}

kiln_status kiln_cpu_alloc_sequence(kiln_cpu_ctx *ctx, int32_t index, int32_t count,
                                    const kiln_tview *items) {
    KILN_TRY(kiln_cpu_check_output(ctx, index, "kiln_cpu_alloc_sequence"));
    if (count < 0) return kiln_node_error(KILN_ERR_INTERNAL, ctx->node, "negative sequence length");
    kiln_dtype dtype = count ? items[0].dtype : ctx->out[index].dtype;
    for (int32_t i = 0; i < count; i++) {
        if (items[i].kind != KILN_VALUE_TENSOR || items[i].rank < 0 ||
            kiln_tview_count(&items[i]) < 0)
            return kiln_node_error(KILN_ERR_UNSUPPORTED, ctx->node,
                                   "sequence item %d is a %s of unknown shape: sequences hold "
                                   "tensors",
                                   i, kiln_value_kind_name(items[i].kind));
        if (items[i].dtype != dtype)
            return kiln_node_error(KILN_ERR_SHAPE, ctx->node,
                                   "sequence items have different dtypes (%s and %s)",
                                   kiln_dtype_name(dtype), kiln_dtype_name(items[i].dtype));
    }
    kiln_tview seq;
    memset(&seq, 0, sizeof seq);
    seq.kind = KILN_VALUE_SEQUENCE;
    seq.dtype = dtype;
    seq.seq_count = count;
    seq.seq_items = (kiln_tview *)items;
    return kiln_cpu_copy_output(ctx, index, &seq);
}

kiln_status kiln_cpu_set_none(kiln_cpu_ctx *ctx, int32_t index, kiln_dtype dtype) {
    kiln_tview none;
    memset(&none, 0, sizeof none);
    none.kind = KILN_VALUE_NONE;
    none.dtype = dtype;
    return kiln_cpu_copy_output(ctx, index, &none);
}

/* Liveness of a subgraph's tensors (as kiln_engine_compute_liveness for engines). */
static kiln_status kiln_cpu_sub_liveness(const kiln_graph *g, int32_t **first, int32_t **last) {
    size_t n = (size_t)(g->tensor_count ? g->tensor_count : 1);
    *first = malloc(sizeof **first * n);
    *last = malloc(sizeof **last * n);
    if (!*first || !*last) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
    for (int32_t t = 0; t < g->tensor_count; t++) (*first)[t] = (*last)[t] = -1;
    for (int32_t step = 0; step < g->node_count; step++) {
        const kiln_node *node = &g->nodes[step];
        for (int32_t i = 0; i < node->input_count; i++)
            if (node->inputs[i] >= 0) (*last)[node->inputs[i]] = step;
        kiln_liveness_step ls = {*last, step};
        kiln_node_outer_reads(node, g, kiln_liveness_touch, &ls);
        for (int32_t i = 0; i < node->output_count; i++)
            if (node->outputs[i] >= 0) {
                (*first)[node->outputs[i]] = step;
                if ((*last)[node->outputs[i]] < step) (*last)[node->outputs[i]] = step;
            }
    }
    for (int32_t i = 0; i < g->output_count; i++) (*last)[g->outputs[i]] = g->node_count;
    return KILN_OK;
}

static kiln_status kiln_cpu_substate_for(kiln_cpu_state *s, const kiln_graph *graph,
                                         kiln_cpu_state **out) {
    for (int32_t i = 0; i < s->sub_count; i++)
        if (s->subs[i].graph == graph) {
            *out = s->subs[i].state;
            return KILN_OK;
        }
    kiln_cpu_substate *subs = realloc(s->subs, sizeof *subs * (size_t)(s->sub_count + 1));
    if (!subs) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
    s->subs = subs;
    kiln_cpu_substate *sub = &subs[s->sub_count];
    memset(sub, 0, sizeof *sub);
    sub->graph = graph;
    sub->state = calloc(1, sizeof *sub->state);
    kiln_status st = sub->state ? kiln_cpu_sub_liveness(graph, &sub->first_use, &sub->last_use)
                                : kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
    if (st == KILN_OK)
        st = kiln_cpu_state_init(sub->state, graph, sub->first_use, sub->last_use, s->threads);
    if (st != KILN_OK) {
        free(sub->state);
        free(sub->first_use);
        free(sub->last_use);
        return st;
    }
    sub->state->parent = s;
    s->sub_count++;
    *out = sub->state;
    return KILN_OK;
}

/* A value of an enclosing graph, by name. */
static const kiln_tview *kiln_cpu_outer_value(const kiln_cpu_state *s, const char *name) {
    for (const kiln_cpu_state *p = s->parent; p; p = p->parent) {
        int32_t t = kiln_graph_find_tensor(p->graph, name);
        if (t >= 0 && (p->values[t].data || p->values[t].rank >= 0)) return &p->values[t];
    }
    return NULL;
}

kiln_status kiln_cpu_run_subgraph(kiln_cpu_ctx *ctx, const kiln_graph *graph,
                                  const kiln_tview *inputs, int32_t n_inputs, kiln_tview *outputs,
                                  int32_t n_outputs) {
    if (n_inputs != graph->input_count || n_outputs != graph->output_count)
        return kiln_node_error(KILN_ERR_SHAPE, ctx->node,
                               "subgraph '%s' takes %d inputs and gives %d outputs; called with "
                               "%d and %d",
                               graph->name, graph->input_count, graph->output_count, n_inputs,
                               n_outputs);
    kiln_cpu_state *sub;
    KILN_TRY(kiln_cpu_substate_for(ctx->state, graph, &sub));
    for (int32_t i = 0; i < n_inputs; i++) sub->values[graph->inputs[i]] = inputs[i];
    for (int32_t t = 0; t < graph->tensor_count; t++) {
        if (graph->tensors[t].producer != -2) continue;
        const kiln_tview *v = kiln_cpu_outer_value(sub, graph->tensors[t].name);
        if (!v)
            return kiln_node_error(KILN_ERR_INTERNAL, ctx->node,
                                   "subgraph '%s' reads '%s', which no enclosing graph holds",
                                   graph->name, graph->tensors[t].name);
        sub->values[t] = *v;
    }
    /* Input shapes may change from one call to the next (Loop-carried values). */
    kiln_cpu_state_invalidate(sub);
    KILN_TRY(kiln_cpu_run(sub));
    for (int32_t i = 0; i < n_outputs; i++) outputs[i] = sub->values[graph->outputs[i]];
    return KILN_OK;
}

/*
 * The tensor whose bytes node's output 0 may share: its input 0, when the op only renames
 * the bytes (Reshape, Flatten, Squeeze, Unsqueeze, Identity) and the output is no graph
 * output (the caller may read or keep it after the run; a view of a graph input or of the
 * arena would then outlive or change with it). Blocked oneDNN activations never reach
 * these ops: dnnl_prepare blocks a tensor only when every reader is a oneDNN-capable op
 * (a global pool's (N, C, 1, 1) output, tagged blocked, is the same bytes either way).
 * Whether the view is taken is decided again at run time (dtype, element count).
 */
static int32_t kiln_cpu_view_source(const kiln_graph *g, const kiln_node *node) {
    switch (node->op) {
    case KILN_OP_Reshape:
    case KILN_OP_Flatten:
    case KILN_OP_Squeeze:
    case KILN_OP_Unsqueeze:
    case KILN_OP_Identity:
        break;
    default:
        return -1;
    }
    if (node->input_count < 1 || node->output_count != 1 || node->outputs[0] < 0) return -1;
    for (int32_t i = 0; i < g->output_count; i++)
        if (g->outputs[i] == node->outputs[0]) return -1;
    return node->inputs[0];
}

/* view_of / root / live_last of the state (see kiln_cpu_state), from the graph and the
 * liveness as they are at the first run (constant folding edits its liveness after init). */
static kiln_status kiln_cpu_views_init(kiln_cpu_state *s) {
    const kiln_graph *g = s->graph;
    size_t n = (size_t)(g->tensor_count ? g->tensor_count : 1);
    s->view_of = malloc(sizeof *s->view_of * n);
    s->root = malloc(sizeof *s->root * n);
    s->live_last = malloc(sizeof *s->live_last * n);
    s->viewed = calloc(n, 1);
    if (!s->view_of || !s->root || !s->live_last || !s->viewed) {
        free(s->view_of);
        free(s->root);
        free(s->live_last);
        free(s->viewed);
        s->view_of = s->root = s->live_last = NULL;
        s->viewed = NULL;
        return kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
    }
    for (int32_t t = 0; t < g->tensor_count; t++) s->view_of[t] = -1;
    for (int32_t step = 0; step < g->node_count; step++) {
        const kiln_node *node = &g->nodes[step];
        int32_t src = kiln_cpu_view_source(g, node);
        if (src >= 0) s->view_of[node->outputs[0]] = src;
    }
    kiln_memory_alias_lifetimes(g->tensor_count, s->view_of, s->last_use, s->root, s->live_last);
    return KILN_OK;
}

/* Makes node's output 0 a view of its input 0 when the plan allows it and the values
 * agree (a numeric tensor of the same dtype and element count); *done says it did. A view
 * of a planned view that was copied this run is copied too: the root's lifetime, which
 * the plan stretched, is not that copy's. */
static void kiln_cpu_try_view(kiln_cpu_state *s, const kiln_node *node, const kiln_tview *in,
                              kiln_tview *out, int *done) {
    *done = 0;
    int32_t t = node->output_count > 0 ? node->outputs[0] : -1; /* -1: an omitted output */
    if (!s->view_of || t < 0 || s->view_of[t] < 0) return;
    int32_t src = s->view_of[t];
    s->viewed[t] = 0;
    if (node->inputs[0] != src || (s->view_of[src] >= 0 && !s->viewed[src])) return;
    if (!in[0].data || !kiln_tview_is_numeric_tensor(&in[0]) ||
        !kiln_tview_is_numeric_tensor(&out[0]) || in[0].dtype != out[0].dtype ||
        kiln_tview_count(&in[0]) != kiln_tview_count(&out[0]))
        return;
    free(s->heap[t]);
    s->heap[t] = NULL;
    s->sizes[t] = 0; /* no arena slot of its own */
    out[0].data = in[0].data;
    s->viewed[t] = 1;
    *done = 1;
}

/* Re-plans the arena from the sizes of the run that just finished. */
static kiln_status kiln_cpu_replan(kiln_cpu_state *s) {
    uint64_t total = 0;
    int32_t n = s->tensor_count;
    /* Graph inputs and constants are not in the arena. */
    uint64_t *sizes = malloc(sizeof *sizes * (size_t)(n ? n : 1));
    if (!sizes) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory planning the arena");
    for (int32_t i = 0; i < n; i++)
        sizes[i] = s->graph->tensors[i].producer >= 0 ? s->sizes[i] : 0;
    /* Views have size 0; their roots live as long as the last of them is read. */
    const int32_t *last = s->live_last ? s->live_last : s->last_use;
    kiln_status st = kiln_memory_plan(n, sizes, s->first_use, last, s->offsets, &total);
    if (st == KILN_OK) {
        uint8_t *arena = NULL;
        /* in huge pages from 2 MiB, like the weights (core/huge_pages.h) */
        _Static_assert(KILN_HUGE_ALIGNMENT % KILN_ARENA_ALIGNMENT == 0, "arena alignment");
        if (total && (total > SIZE_MAX || !(arena = kiln_huge_alloc((size_t)total))))
            st = kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory allocating a %llu-byte arena",
                            (unsigned long long)total);
        if (st == KILN_OK) {
            /* Values of the run that just ended may be in the old arena (outputs the caller
             * reads next): keep it until the next run starts. */
            kiln_huge_free(s->retired_arena);
            s->retired_arena = s->arena;
            s->arena = arena;
            s->arena_size = total;
            memcpy(s->planned, sizes, sizeof *sizes * (size_t)n);
            s->plan_valid = 1;
            s->plan_stale = 0;
        }
    }
    free(sizes);
    return st;
}

static double kiln_cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static kiln_status kiln_cpu_run_node(kiln_cpu_state *s, int32_t step, kiln_tview *in,
                                     kiln_tview *out, int views) {
    const kiln_graph *g = s->graph;
    const kiln_node *node = &g->nodes[step];
    for (int32_t i = 0; i < node->input_count; i++) {
        int32_t t = node->inputs[i];
        if (t < 0) {
            memset(&in[i], 0, sizeof in[i]);
            in[i].rank = -1;
        } else {
            in[i] = s->values[t];
        }
    }
    for (int32_t i = 0; i < node->output_count; i++) {
        int32_t t = node->outputs[i];
        memset(&out[i], 0, sizeof out[i]);
        out[i].rank = -1;
        if (t >= 0) {
            kiln_dtype d = g->tensors[t].dtype;
            out[i].dtype = d != KILN_DTYPE_UNDEFINED ? d : KILN_DTYPE_FLOAT32;
        }
    }
    kiln_shape_fn shape = kiln_op_shape_fn(node->op);
    KILN_TRY(shape(node, in, node->input_count, out, node->output_count));
    int viewed = 0;
    if (views) kiln_cpu_try_view(s, node, in, out, &viewed);
    for (int32_t i = viewed; i < node->output_count; i++) {
        int32_t t = node->outputs[i];
        /* Sequences, empty optionals and strings are allocated by their kernels. */
        if (t < 0 || out[i].rank < 0 || !kiln_tview_is_numeric_tensor(&out[i])) {
            out[i].data = NULL;
            continue;
        }
        int64_t count = kiln_tview_count(&out[i]);
        if (count < 0) return kiln_shape_error(node, "output %d has a negative dimension", i);
        KILN_TRY(kiln_cpu_place(s, t, kiln_dtype_nbytes(out[i].dtype, count), &out[i].data));
    }
    kiln_cpu_kernel_fn kernel = kiln_cpu_kernel_for(node->op);
    if (!kernel)
        return kiln_node_error(KILN_ERR_UNSUPPORTED, node, "the CPU backend has no kernel for it");
    kiln_cpu_ctx ctx = {s, node, out, node->output_count, step};
    double t0 = s->node_seconds ? kiln_cpu_now() : 0;
    if (!viewed) KILN_TRY(kernel(&ctx, node, in, node->input_count, out, node->output_count));
    if (s->node_seconds) s->node_seconds[step] = kiln_cpu_now() - t0;
    for (int32_t i = 0; i < node->output_count; i++) {
        int32_t t = node->outputs[i];
        if (t < 0) continue;
        if (!out[i].data || (out[i].rank < 0 && out[i].kind == KILN_VALUE_TENSOR))
            return kiln_node_error(KILN_ERR_INTERNAL, node, "output %d was not produced", i);
        s->values[t] = out[i];
    }
    /* Tensors read for the last time, under any name, give their own memory back now: a
     * view has none (the bytes are its root's); a view copied this run has, and no view of
     * it was taken (kiln_cpu_try_view), so its own last read ends it. */
    const int32_t *last = views && s->live_last ? s->live_last : s->last_use;
    for (int32_t i = 0; i < node->input_count; i++) {
        int32_t t = node->inputs[i];
        if (t < 0) continue;
        int32_t r = views && s->root ? s->root[t] : t;
        if (last[t] == step && s->heap[t]) {
            free(s->heap[t]);
            s->heap[t] = NULL;
        }
        if (r != t && last[r] == step && s->heap[r]) {
            free(s->heap[r]);
            s->heap[r] = NULL;
        }
    }
    return KILN_OK;
}

kiln_status kiln_cpu_run_one(kiln_cpu_state *s, int32_t step) {
    const kiln_node *node = &s->graph->nodes[step];
    int32_t n = node->input_count > node->output_count ? node->input_count : node->output_count;
    kiln_tview *io = malloc(sizeof *io * 2 * (size_t)(n ? n : 1));
    if (!io) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
    kiln_status st = kiln_cpu_run_node(s, step, io, io + (n ? n : 1), 0);
    free(io);
    return st;
}

kiln_status kiln_cpu_run(kiln_cpu_state *s) {
    const kiln_graph *g = s->graph;
    kiln_huge_free(s->retired_arena); /* the last run's values are given up now */
    s->retired_arena = NULL;
    for (int32_t t = 0; t < g->tensor_count; t++) {
        const kiln_ir_tensor *it = &g->tensors[t];
        if (!it->data) continue;
        kiln_tview *v = &s->values[t];
        v->dtype = it->dtype;
        v->rank = it->rank;
        memcpy(v->dims, it->dims, sizeof v->dims);
        v->data = it->data;
    }
    int32_t max_io = 1;
    for (int32_t i = 0; i < g->node_count; i++) {
        if (g->nodes[i].input_count > max_io) max_io = g->nodes[i].input_count;
        if (g->nodes[i].output_count > max_io) max_io = g->nodes[i].output_count;
    }
    kiln_tview *in = malloc(sizeof *in * (size_t)max_io);
    kiln_tview *out = malloc(sizeof *out * (size_t)max_io);
    kiln_status st = in && out ? KILN_OK : kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
    if (st == KILN_OK && !s->view_of) st = kiln_cpu_views_init(s);
    for (int32_t step = 0; st == KILN_OK && step < g->node_count; step++)
        st = kiln_cpu_run_node(s, step, in, out, 1);
    free(in);
    free(out);
    if (st == KILN_OK && (!s->plan_valid || s->plan_stale)) st = kiln_cpu_replan(s);
    return st;
}
