/* Col2Im: folds (N, C * prod(block), L) columns back into (N, C, image...) by summation. */
#include <string.h>

#include "backends/cpu/nn_common.h"

kiln_status kiln_cpu_col2im(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                            int32_t n_in, kiln_tview *out, int32_t n_out) {
    const kiln_tview *x = &in[0], *img = &in[1], *blk = &in[2];
    kiln_tview *y = &out[0];
    if (!kiln_nn_is_float(x->dtype)) return kiln_nn_bad_dtype(node, x->dtype);
    int32_t n = (int32_t)img->dims[0];
    int64_t image[KILN_MAX_DIMS], kernel[KILN_MAX_DIMS];
    for (int32_t i = 0; i < n; i++) {
        image[i] = kiln_tview_get_int(img, i);
        kernel[i] = kiln_tview_get_int(blk, i);
    }
    kiln_nn_window win;
    KILN_TRY(kiln_nn_window_init(node, n, image, kernel, 0, &win));
    int64_t batch = y->dims[0], c = y->dims[1];
    int64_t isize = kiln_nn_in_size(&win), csize = kiln_nn_count(x) / (batch ? batch : 1);
    if (kiln_nn_count(y) == 0) return KILN_OK;
    char *cur;
    KILN_TRY(kiln_nn_scratch(ctx, node, kiln_nn_f32_bytes(x) + kiln_nn_f32_bytes(y) + 64, &cur));
    const float *xf = kiln_nn_f32_in(x, &cur);
    float *yf = kiln_nn_f32_out(y, &cur);
    memset(yf, 0, (size_t)kiln_nn_count(y) * sizeof(float));
    for (int64_t nb = 0; nb < batch; nb++)
        kiln_nn_col2im_add(xf + nb * csize, c, &win, yf + nb * c * isize, kiln_cpu_threads(ctx));
    kiln_nn_f32_out_done(y, yf);
    return KILN_OK;
}
