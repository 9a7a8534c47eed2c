/* NN family shape functions: Conv, ConvInteger, ConvTranspose, DeformConv, Col2Im. */
#include "ir/shape_nn.h"

/* Common checks of X (N, C, spatial...) and W; fills the window from W's kernel dims. */
static kiln_status conv_common(const kiln_node *node, const kiln_tview *x, const kiln_tview *w,
                               int transpose, kiln_nn_window *win, int64_t *out_channels) {
    if (x->rank < 3) return kiln_shape_error(node, "X must be at least 3-D (N, C, spatial...)");
    if (w->rank != x->rank) return kiln_shape_error(node, "W rank differs from X rank");
    int64_t group = kiln_attr_int(node, "group", 1);
    if (group < 1) return kiln_shape_error(node, "group must be positive");
    int32_t n = x->rank - 2;
    int64_t kernel[KILN_MAX_DIMS];
    int32_t kcnt = 0;
    const int64_t *ks = kiln_attr_ints(node, "kernel_shape", &kcnt);
    for (int32_t i = 0; i < n; i++) {
        kernel[i] = w->dims[2 + i];
        if (ks && kcnt == n && kernel[i] < 0) kernel[i] = ks[i];
        if (kernel[i] < 0) { /* W's dims unknown until run time */
            win->n = n;
            for (int32_t j = 0; j < n; j++) win->out[j] = -1;
            *out_channels = transpose || w->dims[0] < 0 ? -1 : w->dims[0];
            return KILN_OK;
        }
    }
    int64_t c = x->dims[1];
    if (!transpose) {
        if (c >= 0 && w->dims[1] >= 0 && c != w->dims[1] * group)
            return kiln_shape_error(node, "X has %lld channels, W expects %lld x %lld groups",
                                    (long long)c, (long long)w->dims[1], (long long)group);
        if (w->dims[0] >= 0 && w->dims[0] % group)
            return kiln_shape_error(node, "output channels not divisible by group");
        *out_channels = w->dims[0];
        return kiln_nn_window_init(node, n, x->dims + 2, kernel, 0, win);
    }
    if (c >= 0 && w->dims[0] >= 0 && c != w->dims[0])
        return kiln_shape_error(node, "X has %lld channels, W has %lld", (long long)c,
                                (long long)w->dims[0]);
    if (c >= 0 && c % group) return kiln_shape_error(node, "input channels not divisible by group");
    *out_channels = w->dims[1] < 0 ? -1 : w->dims[1] * group;
    return kiln_nn_convtranspose_window(node, n, x->dims + 2, kernel, win);
}

static void set_output(kiln_tview *y, const kiln_tview *x, int64_t channels,
                       const kiln_nn_window *win) {
    y->rank = x->rank;
    y->dims[0] = x->dims[0];
    y->dims[1] = channels;
    for (int32_t i = 0; i < win->n; i++) y->dims[2 + i] = win->out[i];
}

static kiln_status conv_shape(const kiln_node *node, const kiln_tview *in, kiln_tview *out,
                              int transpose) {
    if (in[0].rank < 0 || in[1].rank < 0) {
        out[0].rank = -1;
        return KILN_OK;
    }
    kiln_nn_window win;
    int64_t channels;
    KILN_TRY(conv_common(node, &in[0], &in[1], transpose, &win, &channels));
    set_output(&out[0], &in[0], channels, &win);
    return KILN_OK;
}

/* Inputs past W (bias, the fused sum input) play no part in the shape. */
kiln_status kiln_shape_Conv(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                            kiln_tview *out, int32_t n_out) {
    kiln_tview tmp;
    kiln_tview xw[2] = {in[0], *kiln_nn_logical_weight(node, &in[1], &in[0], &tmp)};
    if (xw[0].dtype != xw[1].dtype) return kiln_shape_error(node, "X and W dtypes differ");
    out[0].dtype = in[0].dtype;
    return conv_shape(node, xw, out, 0);
}

kiln_status kiln_shape_ConvTranspose(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                     kiln_tview *out, int32_t n_out) {
    kiln_tview tmp;
    kiln_tview xw[2] = {in[0], *kiln_nn_logical_weight(node, &in[1], &in[0], &tmp)};
    if (xw[0].dtype != xw[1].dtype) return kiln_shape_error(node, "X and W dtypes differ");
    out[0].dtype = in[0].dtype;
    return conv_shape(node, xw, out, 1);
}

kiln_status kiln_shape_ConvInteger(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                   kiln_tview *out, int32_t n_out) {
    for (int i = 0; i < 2; i++)
        if (in[i].dtype != KILN_DTYPE_UINT8 && in[i].dtype != KILN_DTYPE_INT8)
            return kiln_shape_error(node, "X and W must be int8 or uint8");
    out[0].dtype = KILN_DTYPE_INT32;
    return conv_shape(node, in, out, 0);
}

kiln_status kiln_shape_DeformConv(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                  kiln_tview *out, int32_t n_out) {
    if (in[0].dtype != in[1].dtype || in[0].dtype != in[2].dtype)
        return kiln_shape_error(node, "X, W and offset dtypes differ");
    out[0].dtype = in[0].dtype;
    return conv_shape(node, in, out, 0);
}

kiln_status kiln_shape_Col2Im(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                              kiln_tview *out, int32_t n_out) {
    const kiln_tview *x = &in[0], *img = &in[1], *blk = &in[2];
    out[0].dtype = x->dtype;
    if (img->rank != 1 || blk->rank != 1)
        return kiln_shape_error(node, "image_shape and block_shape must be 1-D");
    int32_t n = img->dims[0] < 0 ? -1 : (int32_t)img->dims[0];
    if (n < 0) {
        out[0].rank = -1;
        return KILN_OK;
    }
    if (n < 1 || n > KILN_MAX_DIMS - 2 || blk->dims[0] != n)
        return kiln_shape_error(node, "image_shape and block_shape must have the same length");
    if (x->rank >= 0 && x->rank != 3)
        return kiln_shape_error(node, "input must be 3-D (N, C*K, L)");
    out[0].rank = 2 + n;
    out[0].dims[0] = x->rank == 3 ? x->dims[0] : -1;
    if (!img->data || !blk->data || x->rank != 3) {
        for (int32_t i = 1; i < 2 + n; i++) out[0].dims[i] = -1;
        if (img->data)
            for (int32_t i = 0; i < n; i++) out[0].dims[2 + i] = kiln_tview_get_int(img, i);
        return KILN_OK;
    }
    int64_t kprod = 1, image[KILN_MAX_DIMS], kernel[KILN_MAX_DIMS];
    for (int32_t i = 0; i < n; i++) {
        image[i] = kiln_tview_get_int(img, i);
        kernel[i] = kiln_tview_get_int(blk, i);
        if (kernel[i] < 1 || image[i] < 0)
            return kiln_shape_error(node, "bad image_shape or block_shape");
        kprod *= kernel[i];
    }
    kiln_nn_window win;
    KILN_TRY(kiln_nn_window_init(node, n, image, kernel, 0, &win));
    int64_t l = 1;
    for (int32_t i = 0; i < n; i++) l *= win.out[i];
    if (x->dims[1] >= 0 && x->dims[1] % kprod)
        return kiln_shape_error(node, "input dim 1 not divisible by the block size");
    if (x->dims[2] >= 0 && x->dims[2] != l)
        return kiln_shape_error(node, "input has %lld blocks, the image fits %lld",
                                (long long)x->dims[2], (long long)l);
    out[0].dims[1] = x->dims[1] < 0 ? -1 : x->dims[1] / kprod;
    for (int32_t i = 0; i < n; i++) out[0].dims[2 + i] = image[i];
    return KILN_OK;
}
