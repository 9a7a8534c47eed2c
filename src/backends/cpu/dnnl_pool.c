/*
 * MaxPool, AveragePool, GlobalAveragePool and GlobalMaxPool through oneDNN's pooling
 * primitive (float32, 1-D to 3-D, dilations, ceil_mode, explicit or auto pads), reading and
 * writing plain or channel-blocked activations (`_kiln_dnnl_in_block` / `_out_block`).
 * MaxPool's Indices output and the cases oneDNN cannot express exactly (AveragePool
 * counting the padding that ceil_mode adds) stay with the reference kernels.
 */
#include "backends/cpu/dnnl_common.h"

#ifdef KILN_HAVE_DNNL

#include <stdlib.h>
#include <string.h>

enum { MAX_SP = 3 };

typedef struct pool_prim {
    int32_t rank;
    int64_t xd[2 + MAX_SP], yd[2 + MAX_SP];
    int threads;
    kiln_dnnl_unary u;
} pool_prim;

static void pool_prim_free(void *p) {
    pool_prim *c = p;
    if (!c) return;
    kiln_dnnl_unary_destroy(&c->u);
    free(c);
}

/* Work of a pooling: about one operation per input element read (windows overlap little). */
static double pool_work(const kiln_tview *x, const kiln_tview *y) {
    double a = (double)kiln_nn_count(x), b = (double)kiln_nn_count(y);
    return 2.0 * (a > b ? a : b);
}

/* The pooling descriptor for this node at these shapes; 0 when oneDNN cannot do it. */
static int pool_desc(const kiln_node *node, const kiln_tview *x, const kiln_tview *y,
                     int64_t in_block, int64_t out_block, dnnl_pooling_v2_desc_t *pd_desc) {
    int32_t sp = x->rank - 2;
    if (sp < 1 || sp > MAX_SP || y->rank != x->rank) return 0;
    dnnl_dims_t strides, kernel, dil, pl, pr;
    dnnl_alg_kind_t alg;
    int global = node->op == KILN_OP_GlobalAveragePool || node->op == KILN_OP_GlobalMaxPool;
    if (global) {
        alg =
            node->op == KILN_OP_GlobalMaxPool ? dnnl_pooling_max : dnnl_pooling_avg_include_padding;
        for (int32_t i = 0; i < sp; i++) {
            strides[i] = 1, kernel[i] = x->dims[2 + i], dil[i] = 0, pl[i] = 0, pr[i] = 0;
            if (y->dims[2 + i] != 1) return 0;
        }
    } else {
        kiln_nn_window w;
        if (kiln_nn_window_init(node, sp, x->dims + 2, NULL, 1, &w) != KILN_OK) return 0;
        int avg = node->op == KILN_OP_AveragePool;
        int include = avg && kiln_attr_int(node, "count_include_pad", 0) != 0;
        alg = !avg      ? dnnl_pooling_max
              : include ? dnnl_pooling_avg_include_padding
                        : dnnl_pooling_avg_exclude_padding;
        for (int32_t i = 0; i < sp; i++) {
            if (w.out[i] != y->dims[2 + i] || w.pad_begin[i] < 0) return 0;
            int64_t span = (w.kernel[i] - 1) * w.dilation[i] + 1;
            /* oneDNN wants out = (in + pl + pr - span) / stride + 1 exactly: the right pad
             * that ceil_mode implies, which must count for nothing but windows that start
             * inside the input or its explicit pads */
            int64_t right = (w.out[i] - 1) * w.stride[i] + span - x->dims[2 + i] - w.pad_begin[i];
            if (right < 0) right = 0;
            if ((w.out[i] - 1) * w.stride[i] - w.pad_begin[i] >= x->dims[2 + i] + w.pad_end[i])
                return 0; /* a window wholly in ceil_mode's padding: ONNX and oneDNN differ */
            if (include && right != w.pad_end[i]) return 0;
            strides[i] = w.stride[i], kernel[i] = w.kernel[i], dil[i] = w.dilation[i] - 1;
            pl[i] = w.pad_begin[i], pr[i] = right;
        }
    }
    dnnl_memory_desc_t src, dst;
    if (kiln_dnnl_md(&src, x->rank, x->dims, in_block) != dnnl_success ||
        kiln_dnnl_md(&dst, y->rank, y->dims, out_block) != dnnl_success)
        return 0;
    return dnnl_pooling_v2_forward_desc_init(pd_desc, dnnl_forward_inference, alg, &src, &dst,
                                             strides, kernel, dil, pl, pr) == dnnl_success;
}

int kiln_dnnl_pool_fast(const kiln_node *node, const kiln_tview *x, const kiln_tview *y,
                        int64_t in_block, int64_t out_block, int threads) {
    dnnl_pooling_v2_desc_t d;
    if (!pool_desc(node, x, y, in_block, out_block, &d)) return 0;
    int previous = kiln_dnnl_threads_begin(kiln_dnnl_threads_for(threads, pool_work(x, y)));
    dnnl_primitive_desc_t pd = NULL;
    int fast = dnnl_primitive_desc_create(&pd, &d, NULL, kiln_dnnl_engine(), NULL) == dnnl_success;
    if (fast) {
        const char *impl = NULL;
        fast = dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success &&
               impl && strncmp(impl, "ref", 3) != 0;
        dnnl_primitive_desc_destroy(pd);
    }
    kiln_dnnl_threads_end(previous);
    return fast;
}

static kiln_status pool_build(int threads, const kiln_node *node, const kiln_tview *x,
                              const kiln_tview *y, pool_prim **out) {
    *out = NULL;
    dnnl_pooling_v2_desc_t d;
    if (!pool_desc(node, x, y, kiln_nn_in_block(node), kiln_nn_out_block(node), &d)) return KILN_OK;
    dnnl_primitive_attr_t attr = NULL;
    if (dnnl_primitive_attr_create(&attr) != dnnl_success) return KILN_OK;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_status_t st = dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
    if (st == dnnl_success)
        st = dnnl_primitive_desc_create(&pd, &d, attr, kiln_dnnl_engine(), NULL);
    dnnl_primitive_attr_destroy(attr);
    if (st != dnnl_success) return KILN_OK;
    pool_prim *c = calloc(1, sizeof *c);
    if (!c) {
        dnnl_primitive_desc_destroy(pd);
        return kiln_node_error(KILN_ERR_OUT_OF_MEMORY, node, "out of memory");
    }
    c->rank = x->rank;
    memcpy(c->xd, x->dims, sizeof(int64_t) * (size_t)x->rank);
    memcpy(c->yd, y->dims, sizeof(int64_t) * (size_t)y->rank);
    c->threads = threads;
    st = kiln_dnnl_unary_create(&c->u, pd);
    dnnl_primitive_desc_destroy(pd);
    if (st != dnnl_success) {
        pool_prim_free(c);
        return kiln_dnnl_error(node, st, "creating the pooling");
    }
    *out = c;
    return KILN_OK;
}

kiln_status kiln_dnnl_pool(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                           int32_t n_in, kiln_tview *out, int32_t n_out, int *handled) {
    *handled = 0;
    const kiln_tview *x = &in[0];
    kiln_tview *y = &out[0];
    if (x->dtype != KILN_DTYPE_FLOAT32 || y->dtype != KILN_DTYPE_FLOAT32 || !kiln_dnnl_engine())
        return KILN_OK;
    if (n_out > 1 && kiln_tview_present(&out[1])) return KILN_OK; /* MaxPool's Indices */
    if (kiln_nn_count(y) == 0 || kiln_nn_count(x) == 0) return KILN_OK;
    kiln_nn_state *s = kiln_nn_node_state(ctx);
    if (!s) return kiln_node_error(KILN_ERR_OUT_OF_MEMORY, node, "out of memory");
    int threads = kiln_dnnl_threads_for(kiln_cpu_threads(ctx), pool_work(x, y));
    pool_prim *c = s->dnnl;
    int same = c && c->rank == x->rank && c->threads == threads &&
               !memcmp(c->xd, x->dims, sizeof(int64_t) * (size_t)x->rank) &&
               !memcmp(c->yd, y->dims, sizeof(int64_t) * (size_t)y->rank);
    uint64_t key = kiln_nn_run_key(in, n_in, y, threads);
    if (!same && s->declined == key) return KILN_OK;
    int previous = kiln_dnnl_threads_begin(threads);
    kiln_status st = KILN_OK;
    if (!same) {
        if (s->dnnl && s->dnnl_free) s->dnnl_free(s->dnnl);
        s->dnnl = NULL;
        st = pool_build(threads, node, x, y, &c);
        if (st == KILN_OK && c) {
            s->dnnl = c;
            s->dnnl_free = pool_prim_free;
        } else if (st == KILN_OK) {
            s->declined = key;
        }
    }
    if (st == KILN_OK && c) {
        st = kiln_dnnl_unary_run(ctx, node, &c->u, x->data, y->data, "pooling");
        *handled = st == KILN_OK;
    }
    kiln_dnnl_threads_end(previous);
    return st;
}

#endif
