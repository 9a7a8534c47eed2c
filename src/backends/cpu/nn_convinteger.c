/* ConvInteger: (X - x_zero_point) conv (W - w_zero_point) accumulated exactly in int32. */
#include "backends/cpu/nn_common.h"

static int32_t u8i8(const kiln_tview *t, int64_t i) {
    return t->dtype == KILN_DTYPE_INT8 ? ((const int8_t *)t->data)[i]
                                       : ((const uint8_t *)t->data)[i];
}

kiln_status kiln_cpu_convinteger(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                                 int32_t n_in, kiln_tview *out, int32_t n_out) {
    const kiln_tview *x = &in[0], *w = &in[1];
    const kiln_tview *xzp = n_in > 2 && kiln_tview_present(&in[2]) ? &in[2] : NULL;
    const kiln_tview *wzp = n_in > 3 && kiln_tview_present(&in[3]) ? &in[3] : NULL;
    kiln_tview *y = &out[0];
    kiln_nn_window win;
    KILN_TRY(kiln_nn_window_init(node, x->rank - 2, x->dims + 2, w->dims + 2, 0, &win));
    int threads = kiln_cpu_threads(ctx);
    int64_t batch = x->dims[0], c = x->dims[1], m = w->dims[0];
    int64_t group = kiln_attr_int(node, "group", 1);
    int64_t cg = c / group, mg = m / group;
    int64_t ksize = kiln_nn_kernel_size(&win), osize = kiln_nn_out_size(&win);
    int64_t isize = kiln_nn_in_size(&win), kdim = cg * ksize;
    int64_t xcount = kiln_nn_count(x), wcount = kiln_nn_count(w);
    if (kiln_nn_count(y) == 0) return KILN_OK;
    /* X - zp is exact in float, so im2col can be shared with Conv; products and sums stay
     * in int32 */
    size_t bytes = kiln_nn_align((size_t)xcount * 4) + kiln_nn_align((size_t)(kdim * osize) * 4) +
                   kiln_nn_align((size_t)wcount * 4) + kiln_nn_align((size_t)osize * 4);
    char *cur;
    KILN_TRY(kiln_nn_scratch(ctx, node, bytes, &cur));
    float *xf = (float *)kiln_nn_carve(&cur, (size_t)xcount * 4);
    float *col = (float *)kiln_nn_carve(&cur, (size_t)(kdim * osize) * 4);
    int32_t *wi = (int32_t *)kiln_nn_carve(&cur, (size_t)wcount * 4);
    int32_t *row = (int32_t *)kiln_nn_carve(&cur, (size_t)osize * 4);
    int32_t xz = xzp ? u8i8(xzp, 0) : 0;
    for (int64_t i = 0; i < xcount; i++) xf[i] = (float)(u8i8(x, i) - xz);
    int64_t wper = kiln_nn_count(w) / (m ? m : 1);
    int64_t wzn = wzp ? kiln_nn_count(wzp) : 0;
    for (int64_t i = 0; i < wcount; i++) {
        int64_t oc = i / wper;
        wi[i] = u8i8(w, i) - (wzp ? u8i8(wzp, wzn == 1 ? 0 : oc) : 0);
    }
    int32_t *yd = (int32_t *)y->data;
    for (int64_t nb = 0; nb < batch; nb++)
        for (int64_t g = 0; g < group; g++) {
            kiln_nn_im2col(xf + (nb * c + g * cg) * isize, cg, &win, col, threads);
            for (int64_t oc = 0; oc < mg; oc++) {
                const int32_t *wr = wi + (g * mg + oc) * kdim;
                for (int64_t j = 0; j < osize; j++) row[j] = 0;
                for (int64_t p = 0; p < kdim; p++) {
                    int32_t wv = wr[p];
                    if (!wv) continue;
                    const float *cr = col + p * osize;
                    for (int64_t j = 0; j < osize; j++) row[j] += wv * (int32_t)cr[j];
                }
                int32_t *yp = yd + (nb * m + g * mg + oc) * osize;
                for (int64_t j = 0; j < osize; j++) yp[j] = row[j];
            }
        }
    return KILN_OK;
}
