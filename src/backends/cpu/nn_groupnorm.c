/*
 * GroupNormalization: statistics over each group of C / num_groups channels (and all
 * spatial positions). Opset 18 has one scale/bias per group, opset 21 one per channel.
 */
#include <math.h>

#include "backends/cpu/nn_common.h"

kiln_status kiln_cpu_groupnormalization(kiln_cpu_ctx *ctx, const kiln_node *node,
                                        const kiln_tview *in, int32_t n_in, kiln_tview *out,
                                        int32_t n_out) {
    const kiln_tview *x = &in[0];
    kiln_tview *y = &out[0];
    if (!kiln_nn_is_float(x->dtype)) return kiln_nn_bad_dtype(node, x->dtype);
    int64_t batch = x->dims[0], c = x->dims[1], s = 1;
    for (int32_t i = 2; i < x->rank; i++) s *= x->dims[i];
    int64_t groups = kiln_attr_int(node, "num_groups", 1), cpg = c / groups;
    float eps = kiln_attr_float(node, "epsilon", 1e-5f);
    int64_t nparam = kiln_nn_count(&in[1]);
    int per_channel = node->opset >= 21 ? nparam == c : (nparam == c && nparam != groups);
    if (nparam != (per_channel ? c : groups) || kiln_nn_count(&in[2]) != nparam)
        return kiln_shape_error(node, "scale/bias have %lld elements", (long long)nparam);
    char *cur;
    KILN_TRY(kiln_nn_scratch(ctx, node,
                             kiln_nn_f32_bytes(x) + kiln_nn_f32_bytes(y) +
                                 kiln_nn_f32_bytes(&in[1]) + kiln_nn_f32_bytes(&in[2]),
                             &cur));
    const float *xf = kiln_nn_f32_in(x, &cur);
    const float *sc = kiln_nn_f32_in(&in[1], &cur), *bi = kiln_nn_f32_in(&in[2], &cur);
    float *yf = kiln_nn_f32_out(y, &cur);
    int64_t blocks = batch * groups, bsize = cpg * s;
    int threads = kiln_cpu_threads(ctx);
    int par = threads > 1 && blocks > 1 && blocks * bsize > (1 << 15);
    KILN_NN_PRAGMA(omp parallel for num_threads(threads) if (par) schedule(static))
    for (int64_t bl = 0; bl < blocks; bl++) {
        const float *xp = xf + bl * bsize;
        float *yp = yf + bl * bsize;
        double sum = 0.0, sq = 0.0;
        for (int64_t j = 0; j < bsize; j++) sum += xp[j];
        double mean = bsize ? sum / (double)bsize : 0.0;
        for (int64_t j = 0; j < bsize; j++) sq += (xp[j] - mean) * (xp[j] - mean);
        double inv = 1.0 / sqrt((bsize ? sq / (double)bsize : 0.0) + eps);
        int64_t g = bl % groups;
        for (int64_t cc = 0; cc < cpg; cc++) {
            int64_t k = per_channel ? g * cpg + cc : g;
            float a = (float)(sc[k] * inv), b = (float)(bi[k] - mean * sc[k] * inv);
            for (int64_t j = 0; j < s; j++) yp[cc * s + j] = xp[cc * s + j] * a + b;
        }
    }
    kiln_nn_f32_out_done(y, yf);
    return KILN_OK;
}
