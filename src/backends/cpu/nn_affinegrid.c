/* AffineGrid: theta (N, 2, 3) / (N, 3, 4) applied to the normalized base grid of `size`. */
#include "backends/cpu/nn_common.h"

static float base_coord(int64_t i, int64_t len, int align) {
    if (align) return len > 1 ? -1.0f + (float)i * 2.0f / (float)(len - 1) : -1.0f;
    return -1.0f + (2.0f * (float)i + 1.0f) / (float)len;
}

kiln_status kiln_cpu_affinegrid(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                                int32_t n_in, kiln_tview *out, int32_t n_out) {
    const kiln_tview *theta = &in[0];
    kiln_tview *y = &out[0];
    if (!kiln_nn_is_float(theta->dtype)) return kiln_nn_bad_dtype(node, theta->dtype);
    int align = kiln_attr_int(node, "align_corners", 0) != 0;
    int32_t n = y->rank - 2; /* 2 or 3 spatial dims */
    int64_t batch = y->dims[0], dims[3] = {1, 1, 1};
    for (int32_t d = 0; d < n; d++) dims[3 - n + d] = y->dims[1 + d];
    if (theta->rank != 3 || theta->dims[0] != batch || theta->dims[1] != n ||
        theta->dims[2] != n + 1)
        return kiln_shape_error(node, "theta must be (N, %d, %d)", (int)n, (int)(n + 1));
    char *cur;
    KILN_TRY(kiln_nn_scratch(ctx, node, kiln_nn_f32_bytes(theta) + kiln_nn_f32_bytes(y), &cur));
    const float *tf = kiln_nn_f32_in(theta, &cur);
    float *yf = kiln_nn_f32_out(y, &cur);
    int64_t o = 0;
    for (int64_t nb = 0; nb < batch; nb++) {
        const float *th = tf + nb * n * (n + 1);
        for (int64_t iz = 0; iz < dims[0]; iz++)
            for (int64_t iy = 0; iy < dims[1]; iy++)
                for (int64_t ix = 0; ix < dims[2]; ix++) {
                    /* homogeneous point (x, y[, z], 1) */
                    float pt[4] = {base_coord(ix, dims[2], align), base_coord(iy, dims[1], align),
                                   n == 3 ? base_coord(iz, dims[0], align) : 1.0f, 1.0f};
                    for (int32_t k = 0; k < n; k++) {
                        float v = 0.0f;
                        for (int32_t j = 0; j <= n; j++) v += th[k * (n + 1) + j] * pt[j];
                        yf[o++] = v;
                    }
                }
    }
    kiln_nn_f32_out_done(y, yf);
    return KILN_OK;
}
