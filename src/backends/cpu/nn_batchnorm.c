/*
 * BatchNormalization: inference with the given statistics, or (training_mode, or the
 * pre-14 extra outputs) with batch statistics plus updated running statistics.
 * Legacy spatial=0 (opset < 9) gives per-activation parameters of C * spatial elements.
 */
#include <math.h>

#include "backends/cpu/nn_common.h"

static void write_vec(kiln_tview *t, const double *v, int64_t n) {
    for (int64_t i = 0; i < n; i++) kiln_tview_set_double(t, i, v[i]);
}

kiln_status kiln_cpu_batchnormalization(kiln_cpu_ctx *ctx, const kiln_node *node,
                                        const kiln_tview *in, int32_t n_in, kiln_tview *out,
                                        int32_t n_out) {
    const kiln_tview *x = &in[0];
    kiln_tview *y = &out[0];
    if (!kiln_nn_is_float(x->dtype)) return kiln_nn_bad_dtype(node, x->dtype);
    int64_t batch = x->dims[0], c = x->rank > 1 ? x->dims[1] : 1, s = 1;
    for (int32_t i = 2; i < x->rank; i++) s *= x->dims[i];
    float eps = kiln_attr_float(node, "epsilon", 1e-5f);
    float momentum = kiln_attr_float(node, "momentum", 0.9f);
    int extra = 0;
    for (int32_t i = 1; i < n_out; i++) extra |= kiln_tview_present(&out[i]);
    int training = node->opset >= 14 ? kiln_attr_int(node, "training_mode", 0) != 0 : extra;
    size_t bytes = kiln_nn_f32_bytes(x) + kiln_nn_f32_bytes(y) + 4 * kiln_nn_align((size_t)c * 8);
    for (int i = 1; i < 5; i++) bytes += kiln_nn_f32_bytes(&in[i]);
    char *cur;
    KILN_TRY(kiln_nn_scratch(ctx, node, bytes, &cur));
    const float *xf = kiln_nn_f32_in(x, &cur);
    const float *p[4];
    for (int i = 0; i < 4; i++) p[i] = kiln_nn_f32_in(&in[1 + i], &cur);
    float *yf = kiln_nn_f32_out(y, &cur);
    /* per-activation parameters (legacy spatial=0) index by c * s + j, else by c */
    int per_act = kiln_nn_count(&in[1]) == c * s && s > 1;
    double *bmean = (double *)kiln_nn_carve(&cur, (size_t)c * 8);
    double *bvar = (double *)kiln_nn_carve(&cur, (size_t)c * 8);
    double *rmean = (double *)kiln_nn_carve(&cur, (size_t)c * 8);
    double *rvar = (double *)kiln_nn_carve(&cur, (size_t)c * 8);
    if (training) {
        if (per_act) return kiln_node_error(KILN_ERR_UNSUPPORTED, node, "training with spatial=0");
        for (int64_t ch = 0; ch < c; ch++) {
            double sum = 0.0, sq = 0.0;
            for (int64_t nb = 0; nb < batch; nb++) {
                const float *xp = xf + (nb * c + ch) * s;
                for (int64_t j = 0; j < s; j++) sum += xp[j];
            }
            double cnt = (double)(batch * s), mean = cnt > 0 ? sum / cnt : 0.0;
            for (int64_t nb = 0; nb < batch; nb++) {
                const float *xp = xf + (nb * c + ch) * s;
                for (int64_t j = 0; j < s; j++) sq += (xp[j] - mean) * (xp[j] - mean);
            }
            bmean[ch] = mean;
            bvar[ch] = cnt > 0 ? sq / cnt : 0.0;
            rmean[ch] = p[2][ch] * momentum + mean * (1.0 - momentum);
            rvar[ch] = p[3][ch] * momentum + bvar[ch] * (1.0 - momentum);
        }
    }
    for (int64_t nb = 0; nb < batch; nb++)
        for (int64_t ch = 0; ch < c; ch++) {
            const float *xp = xf + (nb * c + ch) * s;
            float *yp = yf + (nb * c + ch) * s;
            if (per_act) {
                for (int64_t j = 0; j < s; j++) {
                    int64_t k = ch * s + j;
                    yp[j] = (xp[j] - p[2][k]) / sqrtf(p[3][k] + eps) * p[0][k] + p[1][k];
                }
                continue;
            }
            double mean = training ? bmean[ch] : p[2][ch];
            double var = training ? bvar[ch] : p[3][ch];
            float a = (float)(p[0][ch] / sqrt(var + eps));
            float b = (float)(p[1][ch] - mean * a);
            for (int64_t j = 0; j < s; j++) yp[j] = xp[j] * a + b;
        }
    kiln_nn_f32_out_done(y, yf);
    if (training) {
        /* opset 14+: running mean, running var; before: those, then saved mean and var */
        const double *vals[4] = {rmean, rvar, bmean, bvar};
        for (int32_t i = 1; i < n_out && i < 5; i++)
            if (kiln_tview_present(&out[i])) write_vec(&out[i], vals[i - 1], c);
    }
    return KILN_OK;
}
