/*
 * RoiAlign: each region of interest is cut into output_height x output_width bins; each bin
 * averages (mode avg) or takes the maximum of (mode max) bilinear samples on a regular
 * grid of sampling_ratio^2 points (or ceil(bin size) per axis when sampling_ratio is 0).
 * Follows onnxruntime / the ONNX reference exactly: samples more than one pixel outside the
 * map read 0, others clamp to the map; max mode takes the largest of the four weighted
 * corner terms rather than the interpolated value. Before opset 16 (and with
 * coordinate_transformation_mode output_half_pixel) the ROI is not shifted by half a pixel
 * and malformed ROIs are forced to at least 1x1.
 *
 * The sample positions and weights of one ROI are shared by all channels: they are
 * computed once per ROI into scratch sized for the largest ROI grid.
 */
#include <math.h>
#include <string.h>

#include "backends/cpu/nn_common.h"

typedef struct roi_sample {
    int64_t pos[4];
    double w[4];
} roi_sample;

typedef struct roi_geom {
    double start_h, start_w, bin_h, bin_w;
    int64_t grid_h, grid_w;
} roi_geom;

static roi_geom roi_make_geom(const double *roi, double scale, int half_pixel, int64_t oh,
                              int64_t ow, int64_t sampling_ratio) {
    roi_geom g;
    double off = half_pixel ? 0.5 : 0.0;
    double sw = roi[0] * scale - off, sh = roi[1] * scale - off;
    double ew = roi[2] * scale - off, eh = roi[3] * scale - off;
    double rw = ew - sw, rh = eh - sh;
    if (!half_pixel) {
        if (rw < 1.0) rw = 1.0;
        if (rh < 1.0) rh = 1.0;
    }
    g.start_h = sh;
    g.start_w = sw;
    g.bin_h = rh / (double)oh;
    g.bin_w = rw / (double)ow;
    g.grid_h = sampling_ratio > 0 ? sampling_ratio : (int64_t)ceil(rh / (double)oh);
    g.grid_w = sampling_ratio > 0 ? sampling_ratio : (int64_t)ceil(rw / (double)ow);
    if (g.grid_h < 0) g.grid_h = 0;
    if (g.grid_w < 0) g.grid_w = 0;
    return g;
}

/* The bilinear taps of every sample of every bin, bin-major then sample row-major. */
static void roi_precalc(const roi_geom *g, int64_t height, int64_t width, int64_t oh, int64_t ow,
                        roi_sample *out) {
    int64_t k = 0;
    for (int64_t ph = 0; ph < oh; ph++)
        for (int64_t pw = 0; pw < ow; pw++)
            for (int64_t iy = 0; iy < g->grid_h; iy++) {
                double y0 = g->start_h + (double)ph * g->bin_h +
                            ((double)iy + 0.5) * g->bin_h / (double)g->grid_h;
                for (int64_t ix = 0; ix < g->grid_w; ix++, k++) {
                    double x = g->start_w + (double)pw * g->bin_w +
                               ((double)ix + 0.5) * g->bin_w / (double)g->grid_w;
                    double y = y0;
                    roi_sample *s = &out[k];
                    if (y < -1.0 || y > (double)height || x < -1.0 || x > (double)width) {
                        memset(s, 0, sizeof *s);
                        continue;
                    }
                    if (y < 0) y = 0;
                    if (x < 0) x = 0;
                    int64_t yl = (int64_t)y, xl = (int64_t)x, yh, xh;
                    if (yl >= height - 1) {
                        yh = yl = height - 1;
                        y = (double)yl;
                    } else {
                        yh = yl + 1;
                    }
                    if (xl >= width - 1) {
                        xh = xl = width - 1;
                        x = (double)xl;
                    } else {
                        xh = xl + 1;
                    }
                    double ly = y - (double)yl, lx = x - (double)xl, hy = 1.0 - ly, hx = 1.0 - lx;
                    s->pos[0] = yl * width + xl;
                    s->pos[1] = yl * width + xh;
                    s->pos[2] = yh * width + xl;
                    s->pos[3] = yh * width + xh;
                    s->w[0] = hy * hx;
                    s->w[1] = hy * lx;
                    s->w[2] = ly * hx;
                    s->w[3] = ly * lx;
                }
            }
}

/* One channel plane's bins of one ROI into dst (oh * ow values). */
#define ROI_POOL_PLANE(T, name)                                                                    \
    static void name(const roi_sample *pc, int64_t bins, int64_t per_bin, int max_mode,            \
                     const T *plane, double *dst) {                                                \
        double count = per_bin > 1 ? (double)per_bin : 1.0;                                        \
        for (int64_t bin = 0; bin < bins; bin++) {                                                 \
            const roi_sample *s = pc + bin * per_bin;                                              \
            double acc = 0.0;                                                                      \
            for (int64_t k = 0; k < per_bin; k++) {                                                \
                double t0 = s[k].w[0] * plane[s[k].pos[0]], t1 = s[k].w[1] * plane[s[k].pos[1]];   \
                double t2 = s[k].w[2] * plane[s[k].pos[2]], t3 = s[k].w[3] * plane[s[k].pos[3]];   \
                if (max_mode) {                                                                    \
                    double v = fmax(fmax(t0, t1), fmax(t2, t3));                                   \
                    acc = k == 0 ? v : fmax(acc, v);                                               \
                } else {                                                                           \
                    acc += t0 + t1 + t2 + t3;                                                      \
                }                                                                                  \
            }                                                                                      \
            dst[bin] = max_mode ? acc : acc / count;                                               \
        }                                                                                          \
    }
ROI_POOL_PLANE(float, roi_pool_plane_f)
ROI_POOL_PLANE(double, roi_pool_plane_d)

static void roi_store(kiln_tview *y, int64_t at, const double *src, int64_t n) {
    switch (y->dtype) {
    case KILN_DTYPE_FLOAT32:
        for (int64_t i = 0; i < n; i++) ((float *)y->data)[at + i] = (float)src[i];
        return;
    case KILN_DTYPE_FLOAT64:
        memcpy((double *)y->data + at, src, (size_t)n * sizeof(double));
        return;
    default:
        for (int64_t i = 0; i < n; i++) kiln_tview_set_double(y, at + i, src[i]);
        return;
    }
}

kiln_status kiln_cpu_RoiAlign(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                              int32_t n_in, kiln_tview *out, int32_t n_out) {
    (void)n_in;
    (void)n_out;
    const kiln_tview *x = &in[0], *rois = &in[1], *bi = &in[2];
    kiln_tview *y = &out[0];
    int64_t n = x->dims[0], ch = x->dims[1], height = x->dims[2], width = x->dims[3];
    int64_t nr = y->dims[0], oh = y->dims[2], ow = y->dims[3];
    int64_t sr = kiln_attr_int(node, "sampling_ratio", 0);
    double scale = kiln_attr_float(node, "spatial_scale", 1.0f);
    int max_mode = strcmp(kiln_attr_string(node, "mode", "avg"), "max") == 0;
    const char *ctm_default = node->opset >= 16 ? "half_pixel" : "output_half_pixel";
    int half_pixel = strcmp(kiln_attr_string(node, "coordinate_transformation_mode", ctm_default),
                            "half_pixel") == 0;
    if (nr == 0 || ch == 0) return KILN_OK;
    if (height == 0 || width == 0) return kiln_shape_error(node, "X has an empty spatial dim");

    /* the largest sample table of any ROI, and each ROI's batch index checked */
    int64_t max_samples = 1;
    for (int64_t r = 0; r < nr; r++) {
        double roi[4];
        for (int k = 0; k < 4; k++) roi[k] = kiln_tview_get_double(rois, r * 4 + k);
        roi_geom g = roi_make_geom(roi, scale, half_pixel, oh, ow, sr);
        int64_t s = oh * ow * g.grid_h * g.grid_w;
        if (s > max_samples) max_samples = s;
        int64_t b = kiln_tview_get_int(bi, r);
        if (b < 0 || b >= n)
            return kiln_node_error(KILN_ERR_INVALID_ARGUMENT, node,
                                   "batch_indices[%lld] = %lld is outside [0, %lld)", (long long)r,
                                   (long long)b, (long long)n);
    }
    int is_f32 = x->dtype == KILN_DTYPE_FLOAT32, is_f64 = x->dtype == KILN_DTYPE_FLOAT64;
    int64_t plane = height * width, out_plane = oh * ow;
    size_t xd_bytes =
        is_f32 || is_f64 ? 0 : kiln_nn_align((size_t)kiln_nn_count(x) * sizeof(double));
    size_t bytes = kiln_nn_align((size_t)max_samples * sizeof(roi_sample)) + xd_bytes +
                   kiln_nn_align((size_t)(ch * out_plane) * sizeof(double));
    char *cur;
    KILN_TRY(kiln_nn_scratch(ctx, node, bytes, &cur));
    roi_sample *pc = (roi_sample *)kiln_nn_carve(&cur, (size_t)max_samples * sizeof(roi_sample));
    const double *xd = is_f64 ? (const double *)x->data : NULL;
    if (xd_bytes) { /* float16 / bfloat16: widen once */
        double *buf = (double *)kiln_nn_carve(&cur, xd_bytes);
        for (int64_t i = 0; i < kiln_nn_count(x); i++) buf[i] = kiln_tview_get_double(x, i);
        xd = buf;
    }
    double *res = (double *)kiln_nn_carve(&cur, (size_t)(ch * out_plane) * sizeof(double));

    for (int64_t r = 0; r < nr; r++) {
        double roi[4];
        for (int k = 0; k < 4; k++) roi[k] = kiln_tview_get_double(rois, r * 4 + k);
        roi_geom g = roi_make_geom(roi, scale, half_pixel, oh, ow, sr);
        roi_precalc(&g, height, width, oh, ow, pc);
        int64_t b = kiln_tview_get_int(bi, r), per_bin = g.grid_h * g.grid_w;
        int par = ch * out_plane * per_bin > (1 << 16);
        (void)par;
#ifdef KILN_HAVE_OPENMP
#pragma omp parallel for num_threads(kiln_cpu_threads(ctx)) if (par)
#endif
        for (int64_t c = 0; c < ch; c++) {
            int64_t off = (b * ch + c) * plane;
            if (is_f32)
                roi_pool_plane_f(pc, out_plane, per_bin, max_mode, (const float *)x->data + off,
                                 res + c * out_plane);
            else
                roi_pool_plane_d(pc, out_plane, per_bin, max_mode, xd + off, res + c * out_plane);
        }
        roi_store(y, r * ch * out_plane, res, ch * out_plane);
    }
    return KILN_OK;
}
