/*
 * Resize (opsets 10-19) and Upsample: nearest (every nearest_mode), linear and cubic
 * (cubic_coeff_a, exclude_outside), all coordinate_transformation_modes including
 * tf_crop_and_resize with extrapolation, antialiased linear/cubic downsampling, axes and
 * keep_aspect_ratio_policy.
 *
 * Interpolation is separable, so the kernel resizes one axis at a time: for each output
 * index along the axis a plan holds the first source tap and its weights (the onnx
 * reference's conventions: taps around the pixel left of the source coordinate, edge
 * clamped), then a pass mixes whole inner rows.
 */
#include <math.h>
#include <string.h>

#include "backends/cpu/nn_common.h"

typedef enum { R_NEAREST, R_LINEAR, R_CUBIC } r_mode;
typedef enum {
    CT_HALF_PIXEL,
    CT_HALF_PIXEL_SYM,
    CT_PYTORCH,
    CT_ALIGN,
    CT_ASYM,
    CT_TF_CROP
} ct_mode;
typedef enum { NM_PREFER_FLOOR, NM_PREFER_CEIL, NM_FLOOR, NM_CEIL, NM_SIMPLE } n_mode;

typedef struct resize_attrs {
    r_mode mode;
    ct_mode ct;
    n_mode nearest;
    double cubic_a;
    int exclude_outside, antialias;
    float extrapolation;
} resize_attrs;

typedef struct axis_plan {
    int64_t in, out;
    int n;           /* taps per output */
    int64_t *start;  /* first tap (before clamping) */
    float *w;        /* out * n weights */
    uint8_t *extrap; /* out flags: use the extrapolation value */
} axis_plan;

static kiln_status read_attrs(const kiln_node *node, resize_attrs *a) {
    int legacy = node->op == KILN_OP_Upsample || node->opset < 11;
    const char *m = kiln_attr_string(node, "mode", "nearest");
    if (!strcmp(m, "nearest"))
        a->mode = R_NEAREST;
    else if (!strcmp(m, "linear") || !strcmp(m, "bilinear") || !strcmp(m, "trilinear"))
        a->mode = R_LINEAR;
    else if (!strcmp(m, "cubic") && !legacy)
        a->mode = R_CUBIC;
    else
        return kiln_node_error(KILN_ERR_UNSUPPORTED, node, "mode '%s' not supported", m);
    const char *ct = legacy
                         ? "asymmetric"
                         : kiln_attr_string(node, "coordinate_transformation_mode", "half_pixel");
    static const char *const ct_names[] = {"half_pixel",         "half_pixel_symmetric",
                                           "pytorch_half_pixel", "align_corners",
                                           "asymmetric",         "tf_crop_and_resize"};
    a->ct = (ct_mode)-1;
    for (int i = 0; i < 6; i++)
        if (!strcmp(ct, ct_names[i])) a->ct = (ct_mode)i;
    if ((int)a->ct < 0)
        return kiln_node_error(KILN_ERR_UNSUPPORTED, node, "coordinate_transformation_mode '%s'",
                               ct);
    const char *nm = kiln_attr_string(node, "nearest_mode", "round_prefer_floor");
    if (legacy)
        a->nearest = NM_SIMPLE;
    else if (!strcmp(nm, "round_prefer_floor"))
        a->nearest = NM_PREFER_FLOOR;
    else if (!strcmp(nm, "round_prefer_ceil"))
        a->nearest = NM_PREFER_CEIL;
    else if (!strcmp(nm, "floor"))
        a->nearest = NM_FLOOR;
    else if (!strcmp(nm, "ceil"))
        a->nearest = NM_CEIL;
    else
        return kiln_node_error(KILN_ERR_UNSUPPORTED, node, "nearest_mode '%s'", nm);
    a->cubic_a = kiln_attr_float(node, "cubic_coeff_a", -0.75f);
    a->exclude_outside = kiln_attr_int(node, "exclude_outside", 0) != 0;
    a->antialias = kiln_attr_int(node, "antialias", 0) != 0 && a->mode != R_NEAREST;
    a->extrapolation = kiln_attr_float(node, "extrapolation_value", 0.0f);
    return KILN_OK;
}

/* Source coordinate of output index y along an axis. */
static double source_coord(const resize_attrs *a, double y, double scale, int64_t in,
                           int64_t out_int, double roi0, double roi1) {
    double out_w = scale * (double)in; /* the reference uses the unrounded output length */
    switch (a->ct) {
    case CT_HALF_PIXEL:
        return (y + 0.5) / scale - 0.5;
    case CT_HALF_PIXEL_SYM: {
        double adj = (double)out_int / out_w, center = (double)in / 2.0;
        return center * (1.0 - adj) + (y + 0.5) / scale - 0.5;
    }
    case CT_PYTORCH:
        return out_w == 1.0 ? -0.5 : (y + 0.5) / scale - 0.5;
    case CT_ALIGN:
        return out_w == 1.0 ? 0.0 : y * (double)(in - 1) / (out_w - 1.0);
    case CT_ASYM:
        return y / scale;
    case CT_TF_CROP:
        return (out_w == 1.0 ? (roi1 - roi0) * (double)(in - 1) / 2.0
                             : y * (roi1 - roi0) * (double)(in - 1) / (out_w - 1.0)) +
               roi0 * (double)(in - 1);
    }
    return 0.0;
}

static double cubic_weight(double x, double a) {
    x = fabs(x);
    if (x <= 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
    if (x < 2.0) return ((a * x - 5.0 * a) * x + 8.0 * a) * x - 4.0 * a;
    return 0.0;
}

/* Taps per output and the offset of the first tap from the left pixel. */
static int tap_count(const resize_attrs *a, double scale, int64_t *first) {
    double s = a->antialias && scale < 1.0 ? scale : 1.0;
    if (a->mode == R_NEAREST) {
        *first = 0;
        return 1;
    }
    if (a->mode == R_LINEAR) {
        *first = (int64_t)floor(-1.0 / s) + 1;
        return (int)(2 - 2 * *first);
    }
    *first = (int64_t)floor(-2.0 / s) + 1;
    return (int)(2 - 2 * *first);
}

static int64_t nearest_index(const resize_attrs *a, double x, double scale) {
    double fl = floor(x);
    if (a->nearest == NM_SIMPLE) /* Upsample / Resize-10: floor upsampling, ceil downsampling */
        return scale < 1.0 ? (int64_t)ceil(x) : (int64_t)fl;
    if (x == fl) return (int64_t)x;
    double frac = x - fl;
    switch (a->nearest) {
    case NM_PREFER_FLOOR:
        return (int64_t)fl + (frac > 0.5);
    case NM_PREFER_CEIL:
        return (int64_t)fl + (frac >= 0.5);
    case NM_FLOOR:
        return (int64_t)fl;
    default:
        return (int64_t)fl + 1;
    }
}

static void build_plan(const resize_attrs *a, const kiln_nn_resize_params *p, int32_t d,
                       axis_plan *ap) {
    int64_t in = ap->in, first;
    double scale = p->scale[d];
    double s_aa = a->antialias && scale < 1.0 ? scale : 1.0;
    int n = ap->n;
    (void)tap_count(a, scale, &first);
    for (int64_t o = 0; o < ap->out; o++) {
        double x = source_coord(a, (double)o, scale, in, ap->out, p->roi_start[d], p->roi_end[d]);
        float *w = ap->w + o * n;
        ap->extrap[o] = a->ct == CT_TF_CROP && (x < 0.0 || x > (double)(in - 1));
        if (a->mode == R_NEAREST) {
            int64_t i = nearest_index(a, x, scale);
            ap->start[o] = i < 0 ? 0 : i >= in ? in - 1 : i;
            w[0] = 1.0f;
            continue;
        }
        /* left pixel xl with ratio in (0, 1]: an integer x counts as ratio 1 */
        double xl = floor(x);
        if (xl == x) xl -= 1.0;
        double ratio = x - xl;
        double ws[64], sum = 0.0;
        for (int t = 0; t < n; t++) {
            double dist = (double)(first + t) - ratio;
            double v;
            if (a->mode == R_LINEAR) {
                v = 1.0 - fabs(dist * s_aa);
                if (v < 0.0) v = 0.0;
            } else {
                v = cubic_weight(dist * s_aa, a->cubic_a);
            }
            ws[t] = v;
        }
        ap->start[o] = (int64_t)xl + first;
        if (a->exclude_outside)
            for (int t = 0; t < n; t++) {
                int64_t idx = ap->start[o] + t;
                if (idx < 0 || idx >= in) ws[t] = 0.0;
            }
        for (int t = 0; t < n; t++) sum += ws[t];
        /* antialiased and exclude_outside weights are renormalized; plain ones sum to 1 */
        double norm = (a->antialias || a->exclude_outside) && sum != 0.0 ? 1.0 / sum : 1.0;
        for (int t = 0; t < n; t++) w[t] = (float)(ws[t] * norm);
    }
}

/* dst[outer, out, inner] from src[outer, in, inner] along one axis. */
static void apply_axis(const float *src, float *dst, int64_t outer, int64_t inner,
                       const axis_plan *ap, float extrap, int threads) {
    int64_t in = ap->in, out = ap->out;
    int n = ap->n;
    int par = threads > 1 && outer * out * inner * n > (1 << 15);
    KILN_NN_PRAGMA(omp parallel for num_threads(threads) if (par) schedule(static))
    for (int64_t row = 0; row < outer * out; row++) {
        int64_t ob = row / out, o = row % out;
        float *d = dst + row * inner;
        if (ap->extrap[o]) {
            for (int64_t j = 0; j < inner; j++) d[j] = extrap;
            continue;
        }
        const float *w = ap->w + o * n;
        if (n == 1) {
            memcpy(d, src + (ob * in + ap->start[o]) * inner, (size_t)inner * sizeof(float));
            continue;
        }
        for (int64_t j = 0; j < inner; j++) d[j] = 0.0f;
        for (int t = 0; t < n; t++) {
            if (w[t] == 0.0f) continue;
            int64_t idx = ap->start[o] + t;
            idx = idx < 0 ? 0 : idx >= in ? in - 1 : idx;
            const float *s = src + (ob * in + idx) * inner;
            float wt = w[t];
            for (int64_t j = 0; j < inner; j++) d[j] += wt * s[j];
        }
    }
}

static kiln_status resize(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                          int32_t n_in, kiln_tview *y) {
    const kiln_tview *x = &in[0];
    int32_t r = x->rank;
    resize_attrs a;
    KILN_TRY(read_attrs(node, &a));
    kiln_nn_resize_params p;
    KILN_TRY(kiln_nn_resize_params_init(node, in, n_in, &p));
    int is_float = kiln_nn_is_float(x->dtype);
    if (kiln_dtype_bits(x->dtype) == 0 || kiln_dtype_bits(x->dtype) % 8 ||
        x->dtype == KILN_DTYPE_BOOL)
        return kiln_nn_bad_dtype(node, x->dtype);
    if (kiln_nn_count(y) == 0) return KILN_OK;
    /* which axes need a pass, their plans, and the largest intermediate */
    int active[KILN_MAX_DIMS] = {0};
    int64_t first, cur_dims[KILN_MAX_DIMS], max_elems = 0;
    size_t plan_bytes = 0;
    for (int32_t d = 0; d < r; d++) cur_dims[d] = x->dims[d];
    for (int32_t d = 0; d < r; d++) {
        int trivial_roi = a.ct != CT_TF_CROP || (p.roi_start[d] == 0.0 && p.roi_end[d] == 1.0);
        active[d] = !(p.out[d] == x->dims[d] && fabs(p.scale[d] - 1.0) < 1e-12 && trivial_roi);
        if (!active[d]) continue;
        if (x->dims[d] == 0) return kiln_shape_error(node, "cannot resize an empty axis");
        int n = tap_count(&a, p.scale[d], &first);
        if (n > 64) return kiln_node_error(KILN_ERR_UNSUPPORTED, node, "antialias scale too small");
        plan_bytes += kiln_nn_align((size_t)p.out[d] * 8) +
                      kiln_nn_align((size_t)(p.out[d] * n) * 4) + kiln_nn_align((size_t)p.out[d]);
        cur_dims[d] = p.out[d];
        int64_t e = kiln_shape_count(r, cur_dims);
        if (e > max_elems) max_elems = e;
    }
    size_t inter = kiln_nn_align((size_t)max_elems * 4);
    size_t bytes = plan_bytes + 2 * inter + kiln_nn_align((size_t)kiln_nn_count(x) * 4) +
                   kiln_nn_align((size_t)kiln_nn_count(y) * 4);
    char *cur;
    KILN_TRY(kiln_nn_scratch(ctx, node, bytes, &cur));
    float *xf = (float *)kiln_nn_carve(&cur, (size_t)kiln_nn_count(x) * 4);
    float *yf = (float *)kiln_nn_carve(&cur, (size_t)kiln_nn_count(y) * 4);
    float *buf[2] = {(float *)kiln_nn_carve(&cur, inter), (float *)kiln_nn_carve(&cur, inter)};
    kiln_nn_to_f32(x->dtype, x->data, xf, kiln_nn_count(x));
    int last = -1;
    for (int32_t d = 0; d < r; d++)
        if (active[d]) last = d;
    const float *src = xf;
    int which = 0;
    int threads = kiln_cpu_threads(ctx);
    for (int32_t d = 0; d < r; d++) cur_dims[d] = x->dims[d];
    for (int32_t d = 0; d < r; d++) {
        if (!active[d]) continue;
        axis_plan ap = {.in = x->dims[d], .out = p.out[d]};
        ap.n = tap_count(&a, p.scale[d], &first);
        ap.start = (int64_t *)kiln_nn_carve(&cur, (size_t)ap.out * 8);
        ap.w = (float *)kiln_nn_carve(&cur, (size_t)(ap.out * ap.n) * 4);
        ap.extrap = (uint8_t *)kiln_nn_carve(&cur, (size_t)ap.out);
        build_plan(&a, &p, d, &ap);
        int64_t outer = 1, inner = 1;
        for (int32_t i = 0; i < d; i++) outer *= cur_dims[i];
        for (int32_t i = d + 1; i < r; i++) inner *= cur_dims[i];
        float *dst = d == last ? yf : buf[which];
        apply_axis(src, dst, outer, inner, &ap, a.extrapolation, threads);
        cur_dims[d] = p.out[d];
        src = dst;
        which ^= 1;
    }
    if (last < 0) memcpy(yf, xf, (size_t)kiln_nn_count(y) * 4);
    if (is_float) {
        kiln_nn_from_f32(y->dtype, yf, y->data, kiln_nn_count(y));
    } else {
        for (int64_t i = 0; i < kiln_nn_count(y); i++)
            kiln_tview_set_int(y, i, (int64_t)nearbyintf(yf[i]));
    }
    return KILN_OK;
}

kiln_status kiln_cpu_resize(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                            int32_t n_in, kiln_tview *out, int32_t n_out) {
    return resize(ctx, node, in, n_in, &out[0]);
}

kiln_status kiln_cpu_upsample(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                              int32_t n_in, kiln_tview *out, int32_t n_out) {
    return resize(ctx, node, in, n_in, &out[0]);
}
