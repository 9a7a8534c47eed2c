/* SwiGLU (opset 28): Y = A * sigmoid(alpha * A) * B, A and B of one shape (no broadcast). */
#include <math.h>

#include "backends/cpu/attention_common.h"

kiln_status kiln_cpu_SwiGLU(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                            int32_t n_in, kiln_tview *out, int32_t n_out) {
    const kiln_tview *a = &in[0], *b = &in[1];
    kiln_tview *y = &out[0];
    int64_t n = kiln_tview_count(a);
    if (kiln_tview_count(b) != n) return kiln_shape_error(node, "A and B sizes differ");
    float alpha = kiln_attr_float(node, "alpha", 1.0f);
    int threads = kiln_cpu_threads(ctx);
    if (a->dtype == KILN_DTYPE_FLOAT64) {
        const double *ad = (const double *)a->data, *bd = (const double *)b->data;
        double *yd = (double *)y->data;
        for (int64_t i = 0; i < n; i++) yd[i] = ad[i] / (1.0 + exp(-(double)alpha * ad[i])) * bd[i];
        return KILN_OK;
    }
    if (a->dtype == KILN_DTYPE_FLOAT32) {
        const float *af = (const float *)a->data, *bf = (const float *)b->data;
        float *yf = (float *)y->data;
        KILN_ATTN_PRAGMA(omp parallel for num_threads(threads) if (threads > 1 && n > (1 << 16)) schedule(static))
        for (int64_t i = 0; i < n; i++) yf[i] = af[i] / (1.0f + expf(-alpha * af[i])) * bf[i];
        return KILN_OK;
    }
    /* float16 / bfloat16: blocks widened to float, rounded once on the way out. */
    enum { BLOCK = 256 };
    float ab[BLOCK], bb[BLOCK];
    for (int64_t at = 0; at < n; at += BLOCK) {
        int64_t m = n - at < BLOCK ? n - at : BLOCK;
        kiln_attn_to_f32(a->dtype, a->data, at, ab, m);
        kiln_attn_to_f32(b->dtype, b->data, at, bb, m);
        for (int64_t i = 0; i < m; i++) ab[i] = ab[i] / (1.0f + expf(-alpha * ab[i])) * bb[i];
        kiln_attn_from_f32(y->dtype, ab, y->data, at, m);
    }
    return KILN_OK;
}
