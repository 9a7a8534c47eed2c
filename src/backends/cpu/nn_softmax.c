/*
 * Softmax, LogSoftmax, Hardmax. Before opset 13 the input is coerced to 2-D at `axis` (the
 * op runs over all trailing dims at once); from 13 on it runs along `axis` alone. Softmax
 * over contiguous float32 rows runs the vectorized kernel of nn_softmax_fast.c, other
 * float32 cases oneDNN's primitive where it has one.
 *
 * A fused mask (`_kiln_add_input`, docs/dev/fusion-contract.md) is added to the input
 * first, broadcast to it: by the fast kernel as it loads each row, else here into a scratch
 * copy that the other paths then read.
 */
#include <math.h>

#include "backends/cpu/dnnl_common.h"
#include "backends/cpu/nn_fast.h"

#ifdef KILN_HAVE_OPENMP
#include <omp.h>
#endif

typedef enum { SOFTMAX, LOG_SOFTMAX, HARDMAX } softmax_kind;

/* One softmax over n values spaced `inner` apart, for `inner` interleaved columns at once
 * (inner == 1 is the contiguous row); tmp holds 2 * inner floats. */
static void softmax_block(const float *x, float *y, int64_t n, int64_t inner, softmax_kind kind,
                          float *tmp) {
    float *mx = tmp, *sum = tmp + inner;
    for (int64_t j = 0; j < inner; j++) {
        mx[j] = x[j];
        sum[j] = 0.0f;
    }
    if (kind == HARDMAX) {
        /* first index of the maximum gets 1; sum[] holds that index */
        for (int64_t i = 1; i < n; i++)
            for (int64_t j = 0; j < inner; j++)
                if (x[i * inner + j] > mx[j]) {
                    mx[j] = x[i * inner + j];
                    sum[j] = (float)i;
                }
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < inner; j++) y[i * inner + j] = (float)i == sum[j] ? 1.0f : 0.0f;
        return;
    }
    for (int64_t i = 1; i < n; i++)
        for (int64_t j = 0; j < inner; j++) mx[j] = fmaxf(mx[j], x[i * inner + j]);
    if (kind == SOFTMAX) {
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < inner; j++) {
                float e = expf(x[i * inner + j] - mx[j]);
                y[i * inner + j] = e;
                sum[j] += e;
            }
        for (int64_t j = 0; j < inner; j++) sum[j] = 1.0f / sum[j];
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < inner; j++) y[i * inner + j] *= sum[j];
    } else {
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < inner; j++) sum[j] += expf(x[i * inner + j] - mx[j]);
        for (int64_t j = 0; j < inner; j++) mx[j] += logf(sum[j]);
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < inner; j++) y[i * inner + j] = x[i * inner + j] - mx[j];
    }
}

/* The fused mask input (`_kiln_add_input`), NULL when none; an error unless it broadcasts to x
 * (numpy rules) with a float type. */
static kiln_status mask_input(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                              const kiln_tview **m) {
    *m = NULL;
    int64_t index = kiln_attr_int(node, "_kiln_add_input", -1);
    if (index < 0) return KILN_OK;
    if (index < 1 || index >= n_in || !kiln_tview_present(&in[index]))
        return kiln_node_error(KILN_ERR_INVALID_ARGUMENT, node,
                               "_kiln_add_input is %lld, but the node has no input there",
                               (long long)index);
    const kiln_tview *x = &in[0], *t = &in[index];
    int ok = kiln_nn_is_float(t->dtype) && t->rank <= x->rank;
    for (int32_t i = 0; ok && i < t->rank; i++) {
        int64_t d = t->dims[i], xd = x->dims[x->rank - t->rank + i];
        ok = d == 1 || d == xd;
    }
    if (!ok) return kiln_shape_error(node, "the fused mask input does not broadcast to the input");
    *m = t;
    return KILN_OK;
}

/* xm = x + m, m broadcast to x's shape (m's dims right-aligned, 1 broadcasting). */
static void add_mask(const kiln_tview *x, const float *xf, const kiln_tview *m, const float *mf,
                     float *xm) {
    int64_t mst[KILN_MAX_DIMS], s = 1, count = kiln_nn_count(x);
    int32_t r = x->rank, off = r - m->rank;
    for (int32_t i = r - 1; i >= 0; i--) {
        int64_t md = i >= off ? m->dims[i - off] : 1;
        mst[i] = md == 1 ? 0 : s;
        s *= md;
    }
    for (int64_t e = 0; e < count; e++) {
        int64_t mi = 0, rest = e;
        for (int32_t i = r - 1; i >= 0; i--) {
            mi += rest % x->dims[i] * mst[i];
            rest /= x->dims[i];
        }
        xm[e] = xf[e] + mf[mi];
    }
}

static kiln_status softmax_op(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                              int32_t n_in, kiln_tview *y, softmax_kind kind) {
    const kiln_tview *x = &in[0], *m;
    if (!kiln_nn_is_float(x->dtype)) return kiln_nn_bad_dtype(node, x->dtype);
    KILN_TRY(mask_input(node, in, n_in, &m));
    /* contiguous float32 rows: the vectorized kernel, ~1.5x faster than oneDNN's on BERT's
     * attention (1536 rows of 128, one thread) */
    if (kind == SOFTMAX && kiln_nn_softmax_fast(ctx, node, x, m, y)) return KILN_OK;
#ifdef KILN_HAVE_DNNL
    if (kind != HARDMAX && !m) { /* oneDNN's vectorized softmax where it has one */
        int handled = 0;
        KILN_TRY(kiln_dnnl_softmax(ctx, node, x, y, kind == LOG_SOFTMAX, &handled));
        if (handled) return KILN_OK;
    }
#endif
    int legacy = node->opset < 13;
    int32_t r = x->rank;
    int64_t outer = 1, n = 1, inner = 1;
    if (r > 0) {
        int32_t axis = kiln_nn_axis(kiln_attr_int(node, "axis", legacy ? 1 : -1), r);
        if (axis < 0) return kiln_shape_error(node, "axis out of range");
        for (int32_t i = 0; i < r; i++) {
            if (i < axis)
                outer *= x->dims[i];
            else if (i == axis || legacy)
                n *= x->dims[i];
            else
                inner *= x->dims[i];
        }
    }
    if (outer * n * inner == 0) return KILN_OK;
    int threads = kiln_cpu_threads(ctx);
    size_t tmp_one = kiln_nn_align((size_t)(2 * inner) * sizeof(float));
    char *cur;
    size_t mask_bytes =
        m ? kiln_nn_f32_bytes(m) + kiln_nn_align((size_t)kiln_nn_count(x) * sizeof(float)) : 0;
    KILN_TRY(kiln_nn_scratch(ctx, node,
                             (size_t)threads * tmp_one + kiln_nn_f32_bytes(x) +
                                 kiln_nn_f32_bytes(y) + mask_bytes,
                             &cur));
    char *tmp = (char *)kiln_nn_carve(&cur, (size_t)threads * tmp_one);
    const float *xf = kiln_nn_f32_in(x, &cur);
    if (m) {
        const float *mf = kiln_nn_f32_in(m, &cur);
        float *xm = kiln_nn_carve(&cur, (size_t)kiln_nn_count(x) * sizeof(float));
        add_mask(x, xf, m, mf, xm);
        xf = xm;
    }
    float *yf = kiln_nn_f32_out(y, &cur);
    int par = threads > 1 && outer > 1 && outer * n * inner > (1 << 15);
    KILN_NN_PRAGMA(omp parallel for num_threads(threads) if (par) schedule(static))
    for (int64_t o = 0; o < outer; o++) {
        int tid = 0;
#ifdef KILN_HAVE_OPENMP
        tid = omp_get_thread_num();
#endif
        softmax_block(xf + o * n * inner, yf + o * n * inner, n, inner, kind,
                      (float *)(tmp + (size_t)tid * tmp_one));
    }
    kiln_nn_f32_out_done(y, yf);
    return KILN_OK;
}

kiln_status kiln_cpu_softmax(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                             int32_t n_in, kiln_tview *out, int32_t n_out) {
    return softmax_op(ctx, node, in, n_in, &out[0], SOFTMAX);
}

kiln_status kiln_cpu_logsoftmax(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                                int32_t n_in, kiln_tview *out, int32_t n_out) {
    return softmax_op(ctx, node, in, n_in, &out[0], LOG_SOFTMAX);
}

kiln_status kiln_cpu_hardmax(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                             int32_t n_in, kiln_tview *out, int32_t n_out) {
    return softmax_op(ctx, node, in, n_in, &out[0], HARDMAX);
}
