/* GlobalAveragePool, GlobalMaxPool, GlobalLpPool: one reduction over each (N, C) plane. */
#include <math.h>

#include "backends/cpu/dnnl_common.h"

typedef enum { GLOBAL_AVG, GLOBAL_MAX, GLOBAL_LP } global_kind;

static kiln_status global_pool(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *x,
                               kiln_tview *y, global_kind kind) {
    if (!kiln_nn_is_float(x->dtype)) return kiln_nn_bad_dtype(node, x->dtype);
    int64_t planes = x->dims[0] * x->dims[1];
    int64_t size = 1;
    for (int32_t i = 2; i < x->rank; i++) size *= x->dims[i];
    if (planes == 0) return KILN_OK;
    char *cur;
    KILN_TRY(kiln_nn_scratch(ctx, node, kiln_nn_f32_bytes(x) + kiln_nn_f32_bytes(y) + 64, &cur));
    const float *xf = kiln_nn_f32_in(x, &cur);
    float *yf = kiln_nn_f32_out(y, &cur);
    float pw = kind == GLOBAL_LP ? kiln_nn_lp_attr(node) : 0.0f;
    int threads = kiln_cpu_threads(ctx);
    int par = threads > 1 && planes > 1 && planes * size > (1 << 16);
    KILN_NN_PRAGMA(omp parallel for num_threads(threads) if (par) schedule(static))
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *xp = xf + pl * size;
        if (kind == GLOBAL_MAX) {
            float m = size ? xp[0] : -INFINITY;
            for (int64_t i = 1; i < size; i++) m = xp[i] > m ? xp[i] : m;
            yf[pl] = m;
        } else if (kind == GLOBAL_AVG) {
            double s = 0.0;
            for (int64_t i = 0; i < size; i++) s += xp[i];
            yf[pl] = size ? (float)(s / (double)size) : 0.0f;
        } else {
            double s = 0.0;
            for (int64_t i = 0; i < size; i++) s += pow(fabs((double)xp[i]), pw);
            yf[pl] = (float)pow(s, 1.0 / pw);
        }
    }
    kiln_nn_f32_out_done(y, yf);
    return KILN_OK;
}

static kiln_status global_avg_ref(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                                  int32_t n_in, kiln_tview *out, int32_t n_out) {
    return global_pool(ctx, node, &in[0], &out[0], GLOBAL_AVG);
}

static kiln_status global_max_ref(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                                  int32_t n_in, kiln_tview *out, int32_t n_out) {
    return global_pool(ctx, node, &in[0], &out[0], GLOBAL_MAX);
}

kiln_status kiln_cpu_globalaveragepool(kiln_cpu_ctx *ctx, const kiln_node *node,
                                       const kiln_tview *in, int32_t n_in, kiln_tview *out,
                                       int32_t n_out) {
    return kiln_nn_pool_dispatch(ctx, node, in, n_in, out, n_out, global_avg_ref);
}

kiln_status kiln_cpu_globalmaxpool(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                                   int32_t n_in, kiln_tview *out, int32_t n_out) {
    return kiln_nn_pool_dispatch(ctx, node, in, n_in, out, n_out, global_max_ref);
}

kiln_status kiln_cpu_globallppool(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                                  int32_t n_in, kiln_tview *out, int32_t n_out) {
    return global_pool(ctx, node, &in[0], &out[0], GLOBAL_LP);
}
