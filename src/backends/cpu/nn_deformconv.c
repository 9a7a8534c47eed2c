/*
 * DeformConv (2-D): every kernel tap samples X bilinearly at its position plus a learned
 * offset (scaled by the optional mask); the sampled columns then go through the same
 * grouped GEMM as Conv.
 */
#include <math.h>

#include "backends/cpu/nn_common.h"

/* Bilinear sample of an h x w plane at (y, x); corners outside the plane count as 0. */
static float bilinear(const float *p, int64_t h, int64_t w, float y, float x) {
    if (!(y > -1.0f && y < (float)h && x > -1.0f && x < (float)w)) return 0.0f;
    float fy = floorf(y), fx = floorf(x);
    int64_t y0 = (int64_t)fy, x0 = (int64_t)fx;
    float ly = y - fy, lx = x - fx;
    float v = 0.0f;
    for (int dy = 0; dy < 2; dy++)
        for (int dx = 0; dx < 2; dx++) {
            int64_t yy = y0 + dy, xx = x0 + dx;
            if (yy < 0 || yy >= h || xx < 0 || xx >= w) continue;
            float wt = (dy ? ly : 1.0f - ly) * (dx ? lx : 1.0f - lx);
            v += wt * p[yy * w + xx];
        }
    return v;
}

kiln_status kiln_cpu_deformconv(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                                int32_t n_in, kiln_tview *out, int32_t n_out) {
    const kiln_tview *x = &in[0], *w = &in[1], *off = &in[2];
    const kiln_tview *b = n_in > 3 && kiln_tview_present(&in[3]) ? &in[3] : NULL;
    const kiln_tview *mask = n_in > 4 && kiln_tview_present(&in[4]) ? &in[4] : NULL;
    kiln_tview *y = &out[0];
    if (!kiln_nn_is_float(x->dtype)) return kiln_nn_bad_dtype(node, x->dtype);
    if (x->rank != 4)
        return kiln_node_error(KILN_ERR_UNSUPPORTED, node, "only 2-D DeformConv is supported");
    kiln_nn_window win;
    KILN_TRY(kiln_nn_window_init(node, 2, x->dims + 2, w->dims + 2, 0, &win));
    int threads = kiln_cpu_threads(ctx);
    int64_t batch = x->dims[0], c = x->dims[1], m = w->dims[0];
    int64_t group = kiln_attr_int(node, "group", 1),
            ogroups = kiln_attr_int(node, "offset_group", 1);
    if (group < 1 || ogroups < 1 || c % ogroups)
        return kiln_shape_error(node, "channels not divisible by offset_group");
    int64_t cg = c / group, mg = m / group, cpo = c / ogroups;
    int64_t ih = win.in[0], iw = win.in[1], oh = win.out[0], ow = win.out[1];
    int64_t kh = win.kernel[0], kw = win.kernel[1], ksize = kh * kw, osize = oh * ow;
    int64_t kdim = cg * ksize;
    if (off->rank != 4 || off->dims[1] != ogroups * 2 * ksize || off->dims[2] != oh ||
        off->dims[3] != ow)
        return kiln_shape_error(node, "offset shape does not match the output");
    if (kiln_nn_count(y) == 0) return KILN_OK;
    size_t col_bytes = kiln_nn_align((size_t)(c * ksize * osize) * 4);
    size_t ws_bytes = kiln_nn_align(kiln_nn_sgemm_workspace(mg, osize, kdim, threads));
    size_t bytes = col_bytes + ws_bytes + kiln_nn_f32_bytes(x) + kiln_nn_f32_bytes(w) +
                   kiln_nn_f32_bytes(off) + (b ? kiln_nn_f32_bytes(b) : 0) +
                   (mask ? kiln_nn_f32_bytes(mask) : 0) + kiln_nn_f32_bytes(y);
    char *cur;
    KILN_TRY(kiln_nn_scratch(ctx, node, bytes, &cur));
    float *col = (float *)kiln_nn_carve(&cur, col_bytes);
    char *ws = (char *)kiln_nn_carve(&cur, ws_bytes);
    const float *xf = kiln_nn_f32_in(x, &cur), *wf = kiln_nn_f32_in(w, &cur);
    const float *of = kiln_nn_f32_in(off, &cur);
    const float *bf = b ? kiln_nn_f32_in(b, &cur) : NULL;
    const float *mf = mask ? kiln_nn_f32_in(mask, &cur) : NULL;
    float *yf = kiln_nn_f32_out(y, &cur);
    for (int64_t nb = 0; nb < batch; nb++) {
        /* sampled columns for all channels: row (ch, tap), column output position */
        int par = threads > 1 && c * ksize * osize > (1 << 14);
        KILN_NN_PRAGMA(omp parallel for num_threads(threads) if (par) schedule(static))
        for (int64_t r = 0; r < c * ksize; r++) {
            int64_t ch = r / ksize, tap = r % ksize, ky = tap / kw, kx = tap % kw;
            int64_t og = ch / cpo;
            const float *plane = xf + (nb * c + ch) * ih * iw;
            const float *oy_p = of + ((nb * ogroups + og) * 2 * ksize + 2 * tap) * osize;
            const float *ox_p = oy_p + osize;
            const float *mp = mf ? mf + ((nb * ogroups + og) * ksize + tap) * osize : NULL;
            float *dst = col + r * osize;
            for (int64_t oy = 0; oy < oh; oy++)
                for (int64_t ox = 0; ox < ow; ox++) {
                    int64_t o = oy * ow + ox;
                    float py =
                        (float)(oy * win.stride[0] - win.pad_begin[0] + ky * win.dilation[0]);
                    float px =
                        (float)(ox * win.stride[1] - win.pad_begin[1] + kx * win.dilation[1]);
                    float v = bilinear(plane, ih, iw, py + oy_p[o], px + ox_p[o]);
                    dst[o] = mp ? v * mp[o] : v;
                }
        }
        for (int64_t g = 0; g < group; g++) {
            float *yg = yf + (nb * m + g * mg) * osize;
            if (bf)
                for (int64_t i = 0; i < mg; i++)
                    for (int64_t j = 0; j < osize; j++) yg[i * osize + j] = bf[g * mg + i];
            kiln_nn_sgemm(0, 0, mg, osize, kdim, 1.0f, wf + g * mg * kdim, kdim,
                          col + g * kdim * osize, osize, bf ? 1.0f : 0.0f, yg, osize, ws, threads);
        }
    }
    kiln_nn_f32_out_done(y, yf);
    return KILN_OK;
}
