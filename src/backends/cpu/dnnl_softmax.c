/*
 * Softmax and LogSoftmax (float32) through oneDNN's softmax primitive: vectorized exp and
 * one pass per row, where the reference kernel calls libm's scalar expf per element (BERT's
 * attention spends ~10% of its time there otherwise). Before opset 13 the input is coerced
 * to 2-D at `axis`, as the reference kernel does.
 */
#include "backends/cpu/dnnl_common.h"

#ifdef KILN_HAVE_DNNL

#include <stdlib.h>
#include <string.h>

typedef struct softmax_prim {
    int32_t rank;
    int64_t dims[KILN_MAX_DIMS];
    int threads;
    kiln_dnnl_unary u;
} softmax_prim;

static void softmax_prim_free(void *p) {
    softmax_prim *c = p;
    if (!c) return;
    kiln_dnnl_unary_destroy(&c->u);
    free(c);
}

static kiln_status softmax_build(int threads, const kiln_node *node, const kiln_tview *x, int log,
                                 softmax_prim **out) {
    *out = NULL;
    int legacy = node->opset < 13;
    int32_t r = x->rank;
    int64_t a = kiln_attr_int(node, "axis", legacy ? 1 : -1);
    int32_t axis = kiln_nn_axis(a, r);
    if (axis < 0 || r < 1 || r > 8) return KILN_OK;
    int64_t dims[8];
    int32_t rank = r;
    for (int32_t i = 0; i < r; i++) dims[i] = x->dims[i];
    if (legacy) { /* (outer, everything from axis on) */
        int64_t outer = 1, inner = 1;
        for (int32_t i = 0; i < r; i++) {
            if (i < axis)
                outer *= x->dims[i];
            else
                inner *= x->dims[i];
        }
        rank = 2;
        dims[0] = outer;
        dims[1] = inner;
        axis = 1;
    }
    dnnl_memory_desc_t md;
    if (kiln_dnnl_md(&md, rank, dims, 0) != dnnl_success) return KILN_OK;
    dnnl_softmax_v2_desc_t d;
    if (dnnl_softmax_v2_forward_desc_init(&d, dnnl_forward_inference,
                                          log ? dnnl_softmax_log : dnnl_softmax_accurate, &md, &md,
                                          axis) != dnnl_success)
        return KILN_OK;
    dnnl_primitive_attr_t attr = NULL;
    if (dnnl_primitive_attr_create(&attr) != dnnl_success) return KILN_OK;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_status_t st = dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
    if (st == dnnl_success)
        st = dnnl_primitive_desc_create(&pd, &d, attr, kiln_dnnl_engine(), NULL);
    dnnl_primitive_attr_destroy(attr);
    if (st != dnnl_success) return KILN_OK;
    const char *impl = NULL;
    if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) != dnnl_success ||
        !impl || !strncmp(impl, "ref", 3)) { /* no faster than the reference kernel */
        dnnl_primitive_desc_destroy(pd);
        return KILN_OK;
    }
    softmax_prim *c = calloc(1, sizeof *c);
    if (!c) {
        dnnl_primitive_desc_destroy(pd);
        return kiln_node_error(KILN_ERR_OUT_OF_MEMORY, node, "out of memory");
    }
    c->rank = r;
    memcpy(c->dims, x->dims, sizeof(int64_t) * (size_t)r);
    c->threads = threads;
    st = kiln_dnnl_unary_create(&c->u, pd);
    dnnl_primitive_desc_destroy(pd);
    if (st != dnnl_success) {
        softmax_prim_free(c);
        return kiln_dnnl_error(node, st, "creating the softmax");
    }
    *out = c;
    return KILN_OK;
}

kiln_status kiln_dnnl_softmax(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *x,
                              kiln_tview *y, int log, int *handled) {
    *handled = 0;
    if (!kiln_dnnl_enabled() || x->dtype != KILN_DTYPE_FLOAT32 || y->dtype != KILN_DTYPE_FLOAT32 ||
        !kiln_dnnl_engine() || kiln_nn_count(x) == 0)
        return KILN_OK;
    kiln_nn_state *s = kiln_nn_node_state(ctx);
    if (!s) return kiln_node_error(KILN_ERR_OUT_OF_MEMORY, node, "out of memory");
    /* about ten operations per element: max, exp, sum, scale */
    int threads = kiln_dnnl_threads_for(kiln_cpu_threads(ctx), 10.0 * (double)kiln_nn_count(x));
    softmax_prim *c = s->dnnl;
    int same = c && c->rank == x->rank && c->threads == threads &&
               !memcmp(c->dims, x->dims, sizeof(int64_t) * (size_t)x->rank);
    uint64_t key = kiln_nn_run_key(x, 1, y, threads);
    if (!same && s->declined == key) return KILN_OK;
    int previous = kiln_dnnl_threads_begin(threads);
    kiln_status st = KILN_OK;
    if (!same) {
        if (s->dnnl && s->dnnl_free) s->dnnl_free(s->dnnl);
        s->dnnl = NULL;
        st = softmax_build(threads, node, x, log, &c);
        if (st == KILN_OK && c) {
            s->dnnl = c;
            s->dnnl_free = softmax_prim_free;
        } else if (st == KILN_OK) {
            s->declined = key;
        }
    }
    if (st == KILN_OK && c) {
        st = kiln_dnnl_unary_run(ctx, node, &c->u, x->data, y->data, "softmax");
        *handled = st == KILN_OK;
    }
    kiln_dnnl_threads_end(previous);
    return st;
}

#endif
