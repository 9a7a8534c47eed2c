/* MeanVarianceNormalization: (x - mean) / (std + 1e-9) over `axes` (default [0, 2, 3]). */
#include <math.h>

#include "backends/cpu/nn_common.h"

kiln_status kiln_cpu_meanvariancenormalization(kiln_cpu_ctx *ctx, const kiln_node *node,
                                               const kiln_tview *in, int32_t n_in, kiln_tview *out,
                                               int32_t n_out) {
    const kiln_tview *x = &in[0];
    kiln_tview *y = &out[0];
    if (!kiln_nn_is_float(x->dtype)) return kiln_nn_bad_dtype(node, x->dtype);
    static const int64_t default_axes[3] = {0, 2, 3};
    int32_t cnt = 0;
    const int64_t *axes = kiln_attr_ints(node, "axes", &cnt);
    if (!axes) {
        axes = default_axes;
        cnt = 3;
    }
    int reduced[KILN_MAX_DIMS] = {0};
    for (int32_t i = 0; i < cnt; i++) {
        int32_t a = kiln_nn_axis(axes[i], x->rank);
        if (a < 0) return kiln_shape_error(node, "axis out of range");
        reduced[a] = 1;
    }
    /* each element's group is its index over the kept dims */
    int64_t gstride[KILN_MAX_DIMS], groups = 1;
    for (int32_t d = x->rank - 1; d >= 0; d--) {
        gstride[d] = reduced[d] ? 0 : groups;
        if (!reduced[d]) groups *= x->dims[d];
    }
    int64_t total = kiln_nn_count(x);
    if (total == 0) return KILN_OK;
    int64_t per_group = total / groups;
    char *cur;
    KILN_TRY(kiln_nn_scratch(ctx, node,
                             kiln_nn_f32_bytes(x) + kiln_nn_f32_bytes(y) +
                                 2 * kiln_nn_align((size_t)groups * 8) +
                                 kiln_nn_align((size_t)total * 8),
                             &cur));
    const float *xf = kiln_nn_f32_in(x, &cur);
    float *yf = kiln_nn_f32_out(y, &cur);
    double *sum = (double *)kiln_nn_carve(&cur, (size_t)groups * 8);
    double *sq = (double *)kiln_nn_carve(&cur, (size_t)groups * 8);
    int64_t *gid = (int64_t *)kiln_nn_carve(&cur, (size_t)total * 8);
    for (int64_t g = 0; g < groups; g++) sum[g] = sq[g] = 0.0;
    int64_t idx[KILN_MAX_DIMS] = {0};
    for (int64_t i = 0; i < total; i++) {
        int64_t g = 0;
        for (int32_t d = 0; d < x->rank; d++) g += idx[d] * gstride[d];
        gid[i] = g;
        sum[g] += xf[i];
        sq[g] += (double)xf[i] * xf[i];
        for (int32_t d = x->rank - 1; d >= 0; d--) {
            if (++idx[d] < x->dims[d]) break;
            idx[d] = 0;
        }
    }
    for (int64_t g = 0; g < groups; g++) {
        double mean = sum[g] / (double)per_group;
        double var = sq[g] / (double)per_group - mean * mean;
        sum[g] = mean;
        sq[g] = 1.0 / (sqrt(var > 0.0 ? var : 0.0) + 1e-9);
    }
    for (int64_t i = 0; i < total; i++) yf[i] = (float)((xf[i] - sum[gid[i]]) * sq[gid[i]]);
    kiln_nn_f32_out_done(y, yf);
    return KILN_OK;
}
