/* RMSNormalization: y = x / sqrt(mean(x^2 over dims [axis, rank)) + epsilon) * scale. */
#include <math.h>

#include "backends/cpu/nn_common.h"

kiln_status kiln_cpu_rmsnormalization(kiln_cpu_ctx *ctx, const kiln_node *node,
                                      const kiln_tview *in, int32_t n_in, kiln_tview *out,
                                      int32_t n_out) {
    const kiln_tview *x = &in[0], *scale = &in[1];
    kiln_tview *y = &out[0];
    if (!kiln_nn_is_float(x->dtype)) return kiln_nn_bad_dtype(node, x->dtype);
    int32_t axis = x->rank ? kiln_nn_axis(kiln_attr_int(node, "axis", -1), x->rank) : 0;
    if (axis < 0) return kiln_shape_error(node, "axis out of range");
    float eps = kiln_attr_float(node, "epsilon", 1e-5f);
    int64_t rows = 1, cols = 1;
    for (int32_t i = 0; i < x->rank; i++) *(i < axis ? &rows : &cols) *= x->dims[i];
    size_t bytes = kiln_nn_f32_bytes(x) + kiln_nn_f32_bytes(y) + kiln_nn_f32_bytes(scale) +
                   kiln_nn_align((size_t)cols * 4);
    char *cur;
    KILN_TRY(kiln_nn_scratch(ctx, node, bytes, &cur));
    const float *xf = kiln_nn_f32_in(x, &cur);
    const float *sf = kiln_nn_f32_in(scale, &cur);
    float *yf = kiln_nn_f32_out(y, &cur);
    float *sc = (float *)kiln_nn_carve(&cur, (size_t)cols * 4);
    KILN_TRY(kiln_nn_expand_param(node, scale, sf, x->rank, x->dims, axis, sc));
    int threads = kiln_cpu_threads(ctx);
    int par = threads > 1 && rows > 1 && rows * cols > (1 << 15);
    KILN_NN_PRAGMA(omp parallel for num_threads(threads) if (par) schedule(static))
    for (int64_t r = 0; r < rows; r++) {
        const float *xp = xf + r * cols;
        float *yp = yf + r * cols;
        double sq = 0.0;
        for (int64_t j = 0; j < cols; j++) sq += (double)xp[j] * xp[j];
        float inv = (float)(1.0 / sqrt((cols ? sq / (double)cols : 0.0) + eps));
        for (int64_t j = 0; j < cols; j++) yp[j] = xp[j] * inv * sc[j];
    }
    kiln_nn_f32_out_done(y, yf);
    return KILN_OK;
}
