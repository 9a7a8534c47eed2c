/*
 * What the fusion passes (fold_batchnorm.c, fuse_*.c, recognize_*.c, eliminate_*.c) share:
 * a rewrite session over one graph that knows how often each tensor is read, which tensors
 * must keep their name and producer (graph outputs, values a subgraph reads by name), and
 * which nodes are gone.
 *
 * The rules every rewrite follows:
 *   - only the top-level graph is rewritten; subgraphs are left as they are;
 *   - an intermediate tensor may disappear only when its one reader is in the pattern and it
 *     is not pinned (kiln_fuse_sole_reader);
 *   - the node that replaces a pattern takes the slot of the pattern's last node (the one
 *     writing the pattern's output), where every input of the pattern is already computed,
 *     so the node order stays topological without a sort;
 *   - removed nodes are cleared at once and dropped from the node list by kiln_fuse_end.
 */
#ifndef KILN_PASSES_FUSE_COMMON_H
#define KILN_PASSES_FUSE_COMMON_H

#include "passes/passes.h"

typedef struct kiln_fuse {
    kiln_graph *g;
    const kiln_fuse_options *opt;
    int32_t tensor_cap;
    int32_t *uses;   /* per tensor: input slots of live nodes reading it */
    int32_t *hint;   /* per tensor: a node that read it (checked before use) */
    uint8_t *pinned; /* per tensor: a graph output or read by a subgraph by name */
    uint8_t *gone;   /* per node: removed (cleared) */
    int32_t removed;
} kiln_fuse;

kiln_status kiln_fuse_begin(kiln_fuse *f, kiln_graph *g, const kiln_fuse_options *opt);
/* Drops the removed nodes (keeping the order of the others), sets producers again, frees
 * the session and returns st. Called on failure too. */
kiln_status kiln_fuse_end(kiln_fuse *f, kiln_status st);

/* What a pass does at one live node: rewrite the pattern it ends or starts (or nothing),
 * adding the rewrites to *count. */
typedef kiln_status (*kiln_fuse_node_fn)(kiln_fuse *f, int32_t node, int32_t *count);
/* A whole pass: a session over g, fn at every live node in order (a node a rewrite moves
 * into a later slot is met again there), kiln_fuse_end; *count (may be NULL) gets the
 * rewrites, 0 when the session cannot start. */
kiln_status kiln_fuse_each(kiln_graph *g, const kiln_fuse_options *opt, kiln_fuse_node_fn fn,
                           int32_t *count);

/* The node reading tensor t when it is its only reader and t is not pinned; else -1. */
int32_t kiln_fuse_sole_reader(const kiln_fuse *f, int32_t t);
/* The live nodes reading t (each once), up to `max`; returns how many there are in all. */
int32_t kiln_fuse_readers(const kiln_fuse *f, int32_t t, int32_t *nodes, int32_t max);
/* The node writing t, or -1 (inputs, constants). */
static inline int32_t kiln_fuse_producer(const kiln_fuse *f, int32_t t) {
    return t >= 0 ? f->g->tensors[t].producer : -1;
}

/* Removes node n (its readings are forgotten, the node cleared). */
void kiln_fuse_remove(kiln_fuse *f, int32_t n);
/* Moves node `from` into slot `to`, which must have been removed. */
void kiln_fuse_move(kiln_fuse *f, int32_t from, int32_t to);
/* Points input `slot` of node n at tensor t (-1: omitted), growing the input list if needed
 * (new slots omitted). */
kiln_status kiln_fuse_set_input(kiln_fuse *f, int32_t n, int32_t slot, int32_t t);
/* Replaces every reading of tensor `from` by live nodes with `to`. */
void kiln_fuse_replace_uses(kiln_fuse *f, int32_t from, int32_t to);
/* Makes node n write tensor t at output `slot` (the producer is updated). */
void kiln_fuse_set_output(kiln_fuse *f, int32_t n, int32_t slot, int32_t t);

/* Replaces a pattern by one new node: nodes[0..count) are removed (their outputs must be
 * read only inside the pattern, except those in `outputs`), and slot `slot` (a pattern node
 * after every other one) gets the node `op` at `opset`, named `name`, reading `inputs` and
 * writing `outputs`, with the pattern's original names in `_kiln_fused` (and the pattern's
 * `_kiln_precision`, which kiln_fuse_same_precision must have found common). */
kiln_status kiln_fuse_replace(kiln_fuse *f, const int32_t *nodes, int32_t count, int32_t slot,
                              const char *name, kiln_op op, int32_t opset, const int32_t *inputs,
                              int32_t n_in, const int32_t *outputs, int32_t n_out);

/* A name for a node replacing nodes[0..count): "<common prefix up to a '/'><suffix>", or
 * the name of node `fallback` when the names share no such prefix. */
void kiln_fuse_pattern_name(const kiln_graph *g, const int32_t *nodes, int32_t count,
                            const char *suffix, int32_t fallback, char *buf, size_t size);

/* A new constant tensor named after `base` (made unique), taking ownership of `data`
 * (malloc'ed, nbytes long; freed on failure). */
kiln_status kiln_fuse_add_constant(kiln_fuse *f, const char *base, kiln_dtype dtype, int32_t rank,
                                   const int64_t *dims, void *data, size_t nbytes, int32_t *out);

/* Removes attribute `name` from node n (if present). */
void kiln_fuse_drop_attr(kiln_node *n, const char *name);
/* Sets (replaces) an attribute of node n. */
kiln_status kiln_fuse_set_int(kiln_fuse *f, int32_t n, const char *name, int64_t v);
kiln_status kiln_fuse_set_float(kiln_fuse *f, int32_t n, const char *name, float v);
kiln_status kiln_fuse_set_string(kiln_fuse *f, int32_t n, const char *name, const char *s);
/* Records on node `host` (attribute `_kiln_fused`) that node `absorbed` was folded into it:
 * the names the absorbed node lists in its own `_kiln_fused`, else its name. Call before
 * removing `absorbed`. */
kiln_status kiln_fuse_note(kiln_fuse *f, int32_t host, int32_t absorbed);

/* Whether nodes[0..count) all have the same per-layer precision override (`_kiln_precision`,
 * or none): a pattern only fuses then. */
int kiln_fuse_same_precision(const kiln_graph *g, const int32_t *nodes, int32_t count);

/* Whether t is a constant (has data). */
static inline int kiln_fuse_is_const(const kiln_graph *g, int32_t t) {
    return t >= 0 && g->tensors[t].data != NULL;
}
/* Whether dtype is a floating type the NN kernels compute in float32. */
int kiln_fuse_float_dtype(kiln_dtype dtype);
/* The value of a constant holding one element of a numeric type (any rank); 0 otherwise. */
int kiln_fuse_const_scalar(const kiln_graph *g, int32_t t, double *v);
/* The values of a constant of a numeric type as doubles (malloc'ed, *count set); NULL when t
 * is not such a constant (or out of memory: check kiln_last_error). */
double *kiln_fuse_const_values(const kiln_graph *g, int32_t t, int64_t *count);
/* |v - want| <= rel * |want| */
static inline int kiln_fuse_near(double v, double want, double rel) {
    double d = v - want;
    if (d < 0) d = -d;
    return d <= rel * (want < 0 ? -want : want);
}

/* Whether the shape of t is fully known (every dim) at build time. */
int kiln_fuse_static_shape(const kiln_graph *g, int32_t t);
/* Whether tensors a and b have the same shape for every input shape of the profile: equal
 * ranks, known dims equal, and unknown dims equal at the profile's min and max. */
int kiln_fuse_same_shape(const kiln_fuse *f, int32_t a, int32_t b);

#endif
