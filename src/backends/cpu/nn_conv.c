/*
 * Conv (1-D/2-D/3-D..., groups, dilations, strides, pads, auto_pad, bias): im2col + the
 * blocked SGEMM per image and group; pointwise convolutions skip im2col, depthwise 2-D
 * convolutions run a direct loop.
 */
#include <stdlib.h>

#include "backends/cpu/dnnl_common.h"

/* Range [lo, hi) of output positions whose tap i0 + o * s is inside [0, in). */
static void tap_range(int64_t i0, int64_t s, int64_t in, int64_t out, int64_t *lo, int64_t *hi) {
    int64_t l = i0 >= 0 ? 0 : (-i0 + s - 1) / s;
    int64_t h = in - i0 <= 0 ? 0 : (in - i0 + s - 1) / s;
    if (h > out) h = out;
    if (l > h) l = h;
    *lo = l;
    *hi = h;
}

/* Depthwise 2-D (one input and one output channel per group): a direct loop over taps,
 * each tap a strided axpy over an output row. */
static void depthwise_2d(const float *x, const float *w, const float *bias, const float *sum,
                         const kiln_nn_act *act, float *y, int64_t batch, int64_t channels,
                         const kiln_nn_window *win, int threads) {
    int64_t ih = win->in[0], iw = win->in[1], oh = win->out[0], ow = win->out[1];
    int64_t kh = win->kernel[0], kw = win->kernel[1];
    int64_t planes = batch * channels;
    int par = threads > 1 && planes > 1 && planes * oh * ow * kh * kw > (1 << 15);
    KILN_NN_PRAGMA(omp parallel for num_threads(threads) if (par) schedule(static))
    for (int64_t pl = 0; pl < planes; pl++) {
        int64_t c = pl % channels;
        const float *xp = x + pl * ih * iw;
        const float *wp = w + c * kh * kw;
        float *yp = y + pl * oh * ow;
        float b = bias ? bias[c] : 0.0f;
        for (int64_t i = 0; i < oh * ow; i++) yp[i] = b;
        for (int64_t oy = 0; oy < oh; oy++) {
            float *yrow = yp + oy * ow;
            for (int64_t ky = 0; ky < kh; ky++) {
                int64_t iy = oy * win->stride[0] - win->pad_begin[0] + ky * win->dilation[0];
                if (iy < 0 || iy >= ih) continue;
                const float *xrow = xp + iy * iw;
                for (int64_t kx = 0; kx < kw; kx++) {
                    float wv = wp[ky * kw + kx];
                    int64_t i0 = kx * win->dilation[1] - win->pad_begin[1], s = win->stride[1];
                    int64_t lo, hi;
                    tap_range(i0, s, iw, ow, &lo, &hi);
                    if (s == 1) {
                        for (int64_t ox = lo; ox < hi; ox++) yrow[ox] += wv * xrow[i0 + ox];
                    } else {
                        for (int64_t ox = lo; ox < hi; ox++) yrow[ox] += wv * xrow[i0 + ox * s];
                    }
                }
            }
            /* fused residual and activation on the row just finished */
            if (sum) {
                const float *srow = sum + pl * oh * ow + oy * ow;
                for (int64_t ox = 0; ox < ow; ox++) yrow[ox] += srow[ox];
            }
            kiln_nn_act_apply(act, yrow, ow);
        }
    }
}

static int is_pointwise(const kiln_nn_window *w) {
    for (int32_t i = 0; i < w->n; i++)
        if (w->kernel[i] != 1 || w->stride[i] != 1 || w->pad_begin[i] != 0 || w->pad_end[i] != 0)
            return 0;
    return 1;
}

static kiln_status conv_ref(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                            int32_t n_in, kiln_tview *out, int32_t n_out) {
    const kiln_tview *x = &in[0], *w = &in[1];
    const kiln_tview *b = n_in > 2 && kiln_tview_present(&in[2]) ? &in[2] : NULL;
    kiln_tview *y = &out[0];
    if (!kiln_nn_is_float(x->dtype)) return kiln_nn_bad_dtype(node, x->dtype);
    kiln_nn_act act;
    KILN_TRY(kiln_nn_act_from_node(node, &act));
    const kiln_tview *sum = NULL;
    KILN_TRY(kiln_nn_sum_input(node, in, n_in, y, &sum));
    kiln_nn_window win;
    KILN_TRY(kiln_nn_window_init(node, x->rank - 2, x->dims + 2, w->dims + 2, 0, &win));
    int threads = kiln_cpu_threads(ctx);
    int64_t batch = x->dims[0], c = x->dims[1], m = w->dims[0];
    int64_t group = kiln_attr_int(node, "group", 1);
    int64_t cg = c / group, mg = m / group;
    int64_t ksize = kiln_nn_kernel_size(&win), osize = kiln_nn_out_size(&win);
    int64_t isize = kiln_nn_in_size(&win), kdim = cg * ksize;
    if (kiln_nn_count(y) == 0) return KILN_OK;
    int depthwise = win.n == 2 && cg == 1 && mg == 1;
    int pointwise = is_pointwise(&win);
    size_t col_bytes = depthwise || pointwise ? 0 : kiln_nn_align((size_t)(kdim * osize) * 4);
    size_t ws_bytes =
        depthwise ? 0 : kiln_nn_align(kiln_nn_sgemm_workspace(mg, osize, kdim, threads));
    size_t bytes = col_bytes + ws_bytes + kiln_nn_f32_bytes(x) + kiln_nn_f32_bytes(w) +
                   (b ? kiln_nn_f32_bytes(b) : 0) + (sum ? kiln_nn_f32_bytes(sum) : 0) +
                   kiln_nn_f32_bytes(y);
    char *cur;
    KILN_TRY(kiln_nn_scratch(ctx, node, bytes, &cur));
    float *col = col_bytes ? (float *)kiln_nn_carve(&cur, col_bytes) : NULL;
    char *ws = ws_bytes ? (char *)kiln_nn_carve(&cur, ws_bytes) : NULL;
    const float *xf = kiln_nn_f32_in(x, &cur), *wf = kiln_nn_f32_in(w, &cur);
    const float *bf = b ? kiln_nn_f32_in(b, &cur) : NULL;
    const float *sf = sum ? kiln_nn_f32_in(sum, &cur) : NULL;
    float *yf = kiln_nn_f32_out(y, &cur);
    if (depthwise) {
        depthwise_2d(xf, wf, bf, sf, &act, yf, batch, c, &win, threads);
    } else {
        for (int64_t nb = 0; nb < batch; nb++) {
            for (int64_t g = 0; g < group; g++) {
                const float *xg = xf + (nb * c + g * cg) * isize;
                const float *src = xg;
                if (!pointwise) {
                    kiln_nn_im2col(xg, cg, &win, col, threads);
                    src = col;
                }
                float *yg = yf + (nb * m + g * mg) * osize;
                /* bias, residual and activation in the GEMM's epilogue, per output tile */
                kiln_nn_epilogue ep = {bf ? bf + g * mg : NULL, NULL,
                                       sf ? sf + (nb * m + g * mg) * osize : NULL, osize, act};
                kiln_nn_sgemm_ep(0, 0, mg, osize, kdim, 1.0f, wf + g * mg * kdim, kdim, src, osize,
                                 0.0f, yg, osize, ws, threads, &ep);
            }
        }
    }
    kiln_nn_f32_out_done(y, yf);
    return KILN_OK;
}

/* The reference kernel on what oneDNN left: prepared weights decoded to plain ones, and
 * channel-blocked activations converted on the way in and out. */
kiln_status kiln_cpu_conv(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                          int32_t n_in, kiln_tview *out, int32_t n_out) {
#ifdef KILN_HAVE_DNNL
    if (kiln_dnnl_enabled()) {
        int handled = 0;
        KILN_TRY(kiln_cpu_conv_winograd(ctx, node, in, n_in, out, &handled));
        if (handled) return KILN_OK;
        KILN_TRY(kiln_dnnl_conv(ctx, node, in, n_in, out, &handled));
        if (handled) return KILN_OK;
    }
#endif
    kiln_tview v[4];
    int32_t n = n_in < 4 ? n_in : 4;
    for (int32_t i = 0; i < n; i++) v[i] = in[i];
    if (n > 1 && kiln_nn_weights_prepared(node, &in[1]))
        KILN_TRY(kiln_nn_plain_weights(ctx, node, &in[1], &v[1]));
    int64_t ib = kiln_nn_in_block(node), ob = kiln_nn_out_block(node), sb = kiln_nn_sum_block(node);
    int64_t si = kiln_attr_int(node, "_kiln_sum_input", -1);
    if (!ib && !ob && !sb) return conv_ref(ctx, node, v, n_in, out, n_out);
    return kiln_nn_run_unblocked(ctx, node, v, n_in, out, n_out, ib, sb ? si : -1, sb, ob,
                                 conv_ref);
}
