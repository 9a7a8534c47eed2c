/* InstanceNormalization: y = scale * (x - mean) / sqrt(var + epsilon) + B per (N, C) plane. */
#include <math.h>

#include "backends/cpu/nn_common.h"

kiln_status kiln_cpu_instancenormalization(kiln_cpu_ctx *ctx, const kiln_node *node,
                                           const kiln_tview *in, int32_t n_in, kiln_tview *out,
                                           int32_t n_out) {
    const kiln_tview *x = &in[0];
    kiln_tview *y = &out[0];
    if (!kiln_nn_is_float(x->dtype)) return kiln_nn_bad_dtype(node, x->dtype);
    int64_t planes = x->dims[0] * x->dims[1], c = x->dims[1], s = 1;
    for (int32_t i = 2; i < x->rank; i++) s *= x->dims[i];
    float eps = kiln_attr_float(node, "epsilon", 1e-5f);
    char *cur;
    KILN_TRY(kiln_nn_scratch(ctx, node,
                             kiln_nn_f32_bytes(x) + kiln_nn_f32_bytes(y) +
                                 kiln_nn_f32_bytes(&in[1]) + kiln_nn_f32_bytes(&in[2]),
                             &cur));
    const float *xf = kiln_nn_f32_in(x, &cur);
    const float *sc = kiln_nn_f32_in(&in[1], &cur), *bi = kiln_nn_f32_in(&in[2], &cur);
    float *yf = kiln_nn_f32_out(y, &cur);
    int threads = kiln_cpu_threads(ctx);
    int par = threads > 1 && planes > 1 && planes * s > (1 << 15);
    KILN_NN_PRAGMA(omp parallel for num_threads(threads) if (par) schedule(static))
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *xp = xf + pl * s;
        float *yp = yf + pl * s;
        double sum = 0.0, sq = 0.0;
        for (int64_t j = 0; j < s; j++) sum += xp[j];
        double mean = s ? sum / (double)s : 0.0;
        for (int64_t j = 0; j < s; j++) sq += (xp[j] - mean) * (xp[j] - mean);
        double var = s ? sq / (double)s : 0.0;
        int64_t ch = pl % c;
        float a = (float)(sc[ch] / sqrt(var + eps));
        float b = (float)(bi[ch] - mean * a);
        for (int64_t j = 0; j < s; j++) yp[j] = xp[j] * a + b;
    }
    kiln_nn_f32_out_done(y, yf);
    return KILN_OK;
}
