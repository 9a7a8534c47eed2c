/*
 * LayerNormalization: normalizes over dims [axis, rank) with statistics in double; optional
 * Mean and InvStdDev outputs (shape X[:axis] + ones) in the stash dtype. The common float32
 * case runs the vectorized kernel of nn_layernorm_fast.c instead.
 */
#include <math.h>

#include "backends/cpu/nn_fast.h"

kiln_status kiln_cpu_layernormalization(kiln_cpu_ctx *ctx, const kiln_node *node,
                                        const kiln_tview *in, int32_t n_in, kiln_tview *out,
                                        int32_t n_out) {
    const kiln_tview *x = &in[0], *scale = &in[1];
    const kiln_tview *bias = n_in > 2 && kiln_tview_present(&in[2]) ? &in[2] : NULL;
    kiln_tview *y = &out[0];
    kiln_tview *mean_out = n_out > 1 && kiln_tview_present(&out[1]) ? &out[1] : NULL;
    kiln_tview *inv_out = n_out > 2 && kiln_tview_present(&out[2]) ? &out[2] : NULL;
    if (!kiln_nn_is_float(x->dtype)) return kiln_nn_bad_dtype(node, x->dtype);
    if (kiln_nn_layernorm_fast(ctx, node, in, n_in, out, n_out)) return KILN_OK;
    int32_t axis = x->rank ? kiln_nn_axis(kiln_attr_int(node, "axis", -1), x->rank) : 0;
    if (axis < 0) return kiln_shape_error(node, "axis out of range");
    float eps = kiln_attr_float(node, "epsilon", 1e-5f);
    int64_t rows = 1, cols = 1;
    for (int32_t i = 0; i < x->rank; i++) *(i < axis ? &rows : &cols) *= x->dims[i];
    size_t bytes = kiln_nn_f32_bytes(x) + kiln_nn_f32_bytes(y) + kiln_nn_f32_bytes(scale) +
                   (bias ? kiln_nn_f32_bytes(bias) : 0) + 2 * kiln_nn_align((size_t)cols * 4) +
                   2 * kiln_nn_align((size_t)rows * 8);
    char *cur;
    KILN_TRY(kiln_nn_scratch(ctx, node, bytes, &cur));
    const float *xf = kiln_nn_f32_in(x, &cur);
    const float *sf = kiln_nn_f32_in(scale, &cur);
    const float *bf = bias ? kiln_nn_f32_in(bias, &cur) : NULL;
    float *yf = kiln_nn_f32_out(y, &cur);
    float *sc = (float *)kiln_nn_carve(&cur, (size_t)cols * 4);
    float *bi = (float *)kiln_nn_carve(&cur, (size_t)cols * 4);
    double *means = (double *)kiln_nn_carve(&cur, (size_t)rows * 8);
    double *invs = (double *)kiln_nn_carve(&cur, (size_t)rows * 8);
    KILN_TRY(kiln_nn_expand_param(node, scale, sf, x->rank, x->dims, axis, sc));
    if (bf)
        KILN_TRY(kiln_nn_expand_param(node, bias, bf, x->rank, x->dims, axis, bi));
    else
        for (int64_t j = 0; j < cols; j++) bi[j] = 0.0f;
    int threads = kiln_cpu_threads(ctx);
    int par = threads > 1 && rows > 1 && rows * cols > (1 << 15);
    KILN_NN_PRAGMA(omp parallel for num_threads(threads) if (par) schedule(static))
    for (int64_t r = 0; r < rows; r++) {
        const float *xp = xf + r * cols;
        float *yp = yf + r * cols;
        double sum = 0.0, sq = 0.0;
        for (int64_t j = 0; j < cols; j++) sum += xp[j];
        double mean = cols ? sum / (double)cols : 0.0;
        for (int64_t j = 0; j < cols; j++) sq += (xp[j] - mean) * (xp[j] - mean);
        double inv = 1.0 / sqrt((cols ? sq / (double)cols : 0.0) + eps);
        means[r] = mean;
        invs[r] = inv;
        float m = (float)mean, iv = (float)inv;
        for (int64_t j = 0; j < cols; j++) yp[j] = (xp[j] - m) * iv * sc[j] + bi[j];
    }
    kiln_nn_f32_out_done(y, yf);
    for (int64_t r = 0; r < rows; r++) {
        if (mean_out) kiln_tview_set_double(mean_out, r, means[r]);
        if (inv_out) kiln_tview_set_double(inv_out, r, invs[r]);
    }
    return KILN_OK;
}
