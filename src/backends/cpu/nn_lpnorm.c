/* LpNormalization: x / ||x||_p along axis (p 1 or 2); a zero norm gives 0. */
#include <math.h>

#include "backends/cpu/nn_common.h"

kiln_status kiln_cpu_lpnormalization(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                                     int32_t n_in, kiln_tview *out, int32_t n_out) {
    const kiln_tview *x = &in[0];
    kiln_tview *y = &out[0];
    if (!kiln_nn_is_float(x->dtype)) return kiln_nn_bad_dtype(node, x->dtype);
    int32_t axis = x->rank ? kiln_nn_axis(kiln_attr_int(node, "axis", -1), x->rank) : 0;
    if (axis < 0) return kiln_shape_error(node, "axis out of range");
    int64_t p = kiln_attr_int(node, "p", 2);
    int64_t outer = 1, n = 1, inner = 1;
    for (int32_t i = 0; i < x->rank; i++)
        *(i < axis ? &outer : i == axis ? &n : &inner) *= x->dims[i];
    char *cur;
    KILN_TRY(kiln_nn_scratch(ctx, node, kiln_nn_f32_bytes(x) + kiln_nn_f32_bytes(y), &cur));
    const float *xf = kiln_nn_f32_in(x, &cur);
    float *yf = kiln_nn_f32_out(y, &cur);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t j = 0; j < inner; j++) {
            const float *xp = xf + o * n * inner + j;
            float *yp = yf + o * n * inner + j;
            double norm = 0.0;
            for (int64_t i = 0; i < n; i++)
                norm +=
                    p == 1 ? fabs((double)xp[i * inner]) : (double)xp[i * inner] * xp[i * inner];
            if (p != 1) norm = sqrt(norm);
            for (int64_t i = 0; i < n; i++)
                yp[i * inner] = norm == 0.0 ? 0.0f : (float)(xp[i * inner] / norm);
        }
    kiln_nn_f32_out_done(y, yf);
    return KILN_OK;
}
