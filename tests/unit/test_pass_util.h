/*
 * Helpers for the fusion pass tests (test_pass_*.c): small graphs built with the IR API,
 * shapes inferred as the build does, run with the CPU executor before and after a pass, the
 * results compared within 1e-5 (relative to 1 + |reference|) and the node count checked.
 */
#ifndef KILN_TEST_PASS_UTIL_H
#define KILN_TEST_PASS_UTIL_H

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "backends/cpu/cpu_executor.h"
#include "passes/passes.h"
#include "runtime/engine.h"
#include "test_util.h"

/* ---------------------------------------------------------------- building --------- */

static uint32_t tp_rng = 2024;
static inline float tp_rand(void) { /* in [-1, 1) */
    tp_rng = tp_rng * 1664525u + 1013904223u;
    return (float)((tp_rng >> 8) & 0xffff) / 32768.0f - 1.0f;
}

static inline int64_t tp_count(int32_t rank, const int64_t *dims) {
    int64_t c = 1;
    for (int32_t i = 0; i < rank; i++) c *= dims[i];
    return c;
}

/* A float32 tensor of unknown shape (inferred later). */
static inline int32_t tp_value(kiln_graph *g, const char *name) {
    int32_t t = -1;
    EXPECT_EQ_INT(kiln_graph_add_tensor(g, name, KILN_DTYPE_FLOAT32, -1, NULL, &t), KILN_OK);
    return t;
}

static inline int32_t tp_input(kiln_graph *g, const char *name, int32_t rank, const int64_t *dims) {
    int32_t t = -1;
    EXPECT_EQ_INT(kiln_graph_add_tensor(g, name, KILN_DTYPE_FLOAT32, rank, dims, &t), KILN_OK);
    EXPECT_EQ_INT(kiln_graph_add_input(g, t), KILN_OK);
    return t;
}

/* A float32 constant: `values` (count of the shape), or random in [lo, hi] when NULL. */
static inline int32_t tp_const(kiln_graph *g, const char *name, int32_t rank, const int64_t *dims,
                               const float *values, float lo, float hi) {
    int32_t t = -1;
    EXPECT_EQ_INT(kiln_graph_add_tensor(g, name, KILN_DTYPE_FLOAT32, rank, dims, &t), KILN_OK);
    int64_t n = tp_count(rank, dims);
    float *v = malloc(sizeof(float) * (size_t)(n ? n : 1));
    for (int64_t i = 0; i < n; i++)
        v[i] = values ? values[i] : lo + (hi - lo) * 0.5f * (tp_rand() + 1.0f);
    EXPECT_EQ_INT(kiln_graph_set_constant(g, t, v, sizeof(float) * (size_t)n), KILN_OK);
    free(v);
    return t;
}

/* A float32 scalar constant (rank 0). */
static inline int32_t tp_scalar(kiln_graph *g, const char *name, float v) {
    return tp_const(g, name, 0, NULL, &v, 0, 0);
}

/* An int64 1-D constant. */
static inline int32_t tp_ints(kiln_graph *g, const char *name, int32_t n, const int64_t *v) {
    int32_t t = -1;
    int64_t dims[1] = {n};
    EXPECT_EQ_INT(kiln_graph_add_tensor(g, name, KILN_DTYPE_INT64, 1, dims, &t), KILN_OK);
    EXPECT_EQ_INT(kiln_graph_set_constant(g, t, v, sizeof(int64_t) * (size_t)n), KILN_OK);
    return t;
}

/* A node with `n_in` inputs then `n_out` outputs in the variadic list. */
static inline int32_t tp_node(kiln_graph *g, const char *name, kiln_op op, int32_t opset,
                              int32_t n_in, int32_t n_out, ...) {
    int32_t in[8], out[4], node = -1;
    va_list ap;
    va_start(ap, n_out);
    for (int32_t i = 0; i < n_in; i++) in[i] = va_arg(ap, int32_t);
    for (int32_t i = 0; i < n_out; i++) out[i] = va_arg(ap, int32_t);
    va_end(ap);
    EXPECT_EQ_INT(kiln_graph_add_node(g, name, op, opset, in, n_in, out, n_out, &node), KILN_OK);
    return node;
}

/* y = op(x) as a new node and value; returns y. */
static inline int32_t tp_unary(kiln_graph *g, const char *name, kiln_op op, int32_t opset,
                               int32_t x) {
    int32_t y = tp_value(g, name);
    tp_node(g, name, op, opset, 1, 1, x, y);
    return y;
}

static inline int32_t tp_binary(kiln_graph *g, const char *name, kiln_op op, int32_t a, int32_t b) {
    int32_t y = tp_value(g, name);
    tp_node(g, name, op, 14, 2, 1, a, b, y);
    return y;
}

/* Fills every tensor's dtype, rank and dims by static inference (as the build does). */
static inline void tp_infer(kiln_graph *g) {
    int32_t ranks[8];
    int64_t dims[8][KILN_MAX_DIMS];
    for (int32_t i = 0; i < g->input_count && i < 8; i++) {
        const kiln_ir_tensor *t = &g->tensors[g->inputs[i]];
        ranks[i] = t->rank;
        memcpy(dims[i], t->dims, sizeof dims[i]);
    }
    kiln_tview *views = calloc((size_t)g->tensor_count + 1, sizeof *views);
    EXPECT_EQ_INT(kiln_pass_infer_shapes(g, ranks, (const int64_t(*)[KILN_MAX_DIMS])dims, views),
                  KILN_OK);
    for (int32_t t = 0; t < g->tensor_count; t++) {
        kiln_ir_tensor *it = &g->tensors[t];
        if (it->data || it->producer < 0) continue;
        it->dtype = views[t].dtype;
        it->rank = views[t].rank;
        memcpy(it->dims, views[t].dims, sizeof it->dims);
    }
    free(views);
}

/* ---------------------------------------------------------------- running ---------- */

/* Runs g on inputs filled from a fixed seed; copies output 0 (float32) into *y (malloc'ed)
 * and its element count into *n. */
static inline int tp_run(const kiln_graph *g, uint32_t seed, float **y, int64_t *n) {
    kiln_engine e;
    memset(&e, 0, sizeof e);
    e.graph = (kiln_graph *)g;
    *y = NULL;
    *n = 0;
    if (kiln_engine_compute_liveness(&e) != KILN_OK) return 0;
    kiln_cpu_state s;
    int inited = kiln_cpu_state_init(&s, g, e.first_use, e.last_use, 1) == KILN_OK;
    int ok = inited;
    float *data[8] = {NULL};
    uint32_t saved = tp_rng;
    tp_rng = seed;
    for (int32_t i = 0; ok && i < g->input_count && i < 8; i++) {
        const kiln_ir_tensor *it = &g->tensors[g->inputs[i]];
        kiln_tview *v = &s.values[g->inputs[i]];
        int64_t c = tp_count(it->rank, it->dims);
        data[i] = malloc(sizeof(float) * (size_t)(c ? c : 1));
        for (int64_t k = 0; k < c; k++) data[i][k] = 2.0f * tp_rand();
        v->dtype = KILN_DTYPE_FLOAT32;
        v->rank = it->rank;
        memcpy(v->dims, it->dims, sizeof v->dims);
        v->data = data[i];
    }
    tp_rng = saved;
    if (ok) {
        ok = kiln_cpu_run(&s) == KILN_OK;
        if (!ok) fprintf(stderr, "run: %s\n", kiln_last_error());
    }
    if (ok) {
        const kiln_tview *o = &s.values[g->outputs[0]];
        *n = kiln_tview_count(o);
        *y = malloc(sizeof(float) * (size_t)(*n ? *n : 1));
        if (o->dtype == KILN_DTYPE_FLOAT32)
            memcpy(*y, o->data, sizeof(float) * (size_t)*n);
        else
            ok = 0;
    }
    if (inited) kiln_cpu_state_free(&s);
    for (int i = 0; i < 8; i++) free(data[i]);
    free(e.first_use);
    free(e.last_use);
    return ok;
}

typedef kiln_status (*tp_pass_fn)(kiln_graph *, const kiln_fuse_options *, int32_t *);

/* Runs g, applies `pass` with `flags` to a copy, runs that; both must agree within 1e-5
 * and the copy must have `want_nodes` nodes and `want_count` rewrites. Returns the copy
 * (for further checks; the caller destroys it) and destroys g. */
static inline kiln_graph *tp_check(const char *what, kiln_graph *g, tp_pass_fn pass, unsigned flags,
                                   int32_t want_nodes, int32_t want_count) {
    tp_infer(g);
    float *ref = NULL, *got = NULL;
    int64_t n_ref = 0, n_got = 0;
    int ok_ref = tp_run(g, 99, &ref, &n_ref);
    EXPECT(ok_ref);
    kiln_graph *c = NULL;
    EXPECT_EQ_INT(kiln_graph_clone(g, NULL, &c), KILN_OK);
    kiln_graph_destroy(g);
    kiln_fuse_options o = {flags, NULL, NULL, 0, NULL};
    int32_t count = -1;
    kiln_status st = pass(c, &o, &count);
    if (st != KILN_OK) fprintf(stderr, "%s: pass failed: %s\n", what, kiln_last_error());
    EXPECT_EQ_INT(st, KILN_OK);
    int ok_got = tp_run(c, 99, &got, &n_got);
    EXPECT(ok_got);
    double worst = 0;
    if (ok_ref && ok_got) {
        EXPECT_EQ_INT(n_got, n_ref);
        for (int64_t i = 0; i < n_ref && i < n_got; i++) {
            double err = fabs((double)got[i] - (double)ref[i]) / (1.0 + fabs((double)ref[i]));
            if (!(err <= worst)) worst = err;
        }
    }
    int good =
        ok_ref && ok_got && worst <= 1e-5 && c->node_count == want_nodes && count == want_count;
    printf("%-58s %s: %d nodes, %d rewrites, max err %.2g\n", what, good ? "ok  " : "FAIL",
           c->node_count, count, worst);
    EXPECT(worst <= 1e-5);
    EXPECT_EQ_INT(c->node_count, want_nodes);
    EXPECT_EQ_INT(count, want_count);
    free(ref);
    free(got);
    return c;
}

/* The i-th string of node n's `_kiln_fused`, or NULL. */
static inline const char *tp_fused_name(const kiln_node *n, int32_t i) {
    const kiln_attr *a = kiln_node_attr(n, "_kiln_fused");
    return a && a->type == KILN_ATTR_STRINGS && i < a->count ? a->strings[i] : NULL;
}

static inline int32_t tp_fused_count(const kiln_node *n) {
    const kiln_attr *a = kiln_node_attr(n, "_kiln_fused");
    return a && a->type == KILN_ATTR_STRINGS ? a->count : 0;
}

#endif
