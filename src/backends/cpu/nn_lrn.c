/* LRN: y = x / (bias + alpha / size * sum of x^2 over nearby channels)^beta. */
#include <math.h>

#include "backends/cpu/nn_common.h"

kiln_status kiln_cpu_lrn(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                         int32_t n_in, kiln_tview *out, int32_t n_out) {
    const kiln_tview *x = &in[0];
    kiln_tview *y = &out[0];
    if (!kiln_nn_is_float(x->dtype)) return kiln_nn_bad_dtype(node, x->dtype);
    float alpha = kiln_attr_float(node, "alpha", 1e-4f),
          beta = kiln_attr_float(node, "beta", 0.75f);
    float bias = kiln_attr_float(node, "bias", 1.0f);
    int64_t size = kiln_attr_int(node, "size", 1);
    int64_t batch = x->dims[0], c = x->dims[1], s = 1;
    for (int32_t i = 2; i < x->rank; i++) s *= x->dims[i];
    int64_t before = (size - 1) / 2, after = size / 2; /* floor / ceil of (size - 1) / 2 */
    char *cur;
    KILN_TRY(kiln_nn_scratch(ctx, node, kiln_nn_f32_bytes(x) + kiln_nn_f32_bytes(y), &cur));
    const float *xf = kiln_nn_f32_in(x, &cur);
    float *yf = kiln_nn_f32_out(y, &cur);
    for (int64_t nb = 0; nb < batch; nb++)
        for (int64_t ch = 0; ch < c; ch++) {
            int64_t c0 = ch - before < 0 ? 0 : ch - before;
            int64_t c1 = ch + after + 1 > c ? c : ch + after + 1;
            const float *xp = xf + (nb * c + ch) * s;
            float *yp = yf + (nb * c + ch) * s;
            for (int64_t j = 0; j < s; j++) {
                float sq = 0.0f;
                for (int64_t k = c0; k < c1; k++) {
                    float v = xf[(nb * c + k) * s + j];
                    sq += v * v;
                }
                yp[j] = xp[j] / powf(bias + alpha / (float)size * sq, beta);
            }
        }
    kiln_nn_f32_out_done(y, yf);
    return KILN_OK;
}
