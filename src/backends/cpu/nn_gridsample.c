/*
 * GridSample (N-d): samples X at the normalized grid coordinates with nearest, (bi/tri)linear
 * or cubic interpolation and zeros / border / reflection padding (opset 16 names bilinear /
 * bicubic, opset 20+ linear / cubic).
 */
#include <math.h>
#include <string.h>

#include "backends/cpu/nn_common.h"

typedef enum { GS_NEAREST, GS_LINEAR, GS_CUBIC } gs_mode;
typedef enum { PAD_ZEROS, PAD_BORDER, PAD_REFLECTION } gs_pad;

/* Reflects x into [lo, hi] by its near border until it is inside. */
static double reflect(double x, double lo, double hi) {
    double rng = hi - lo;
    if (rng <= 0.0) return lo;
    if (x < lo) {
        double dx = lo - x;
        int64_t n = (int64_t)(dx / rng);
        double r = dx - (double)n * rng;
        return n % 2 == 0 ? lo + r : hi - r;
    }
    if (x > hi) {
        double dx = x - hi;
        int64_t n = (int64_t)(dx / rng);
        double r = dx - (double)n * rng;
        return n % 2 == 0 ? hi - r : lo + r;
    }
    return x;
}

static void cubic_coeffs(float t, float *c) {
    const float a = -0.75f;
    t = fabsf(t);
    c[0] = ((a * (t + 1) - 5 * a) * (t + 1) + 8 * a) * (t + 1) - 4 * a;
    c[1] = ((a + 2) * t - (a + 3)) * t * t + 1;
    c[2] = ((a + 2) * (1 - t) - (a + 3)) * (1 - t) * (1 - t) + 1;
    c[3] = ((a * (2 - t) - 5 * a) * (2 - t) + 8 * a) * (2 - t) - 4 * a;
}

typedef struct gs_ctx {
    int32_t n;
    int64_t dims[KILN_MAX_DIMS];
    double lo[KILN_MAX_DIMS], hi[KILN_MAX_DIMS]; /* coordinate borders */
    gs_pad pad;
} gs_ctx;

/* Resolves one tap index along dim d per the padding mode; -1 means "zero". */
static int64_t tap_index(const gs_ctx *g, int32_t d, int64_t i) {
    int64_t len = g->dims[d];
    if (g->pad == PAD_ZEROS) return i >= 0 && i < len ? i : -1;
    if (g->pad == PAD_BORDER) return i < 0 ? 0 : i >= len ? len - 1 : i;
    int64_t r = (int64_t)reflect((double)i, g->lo[d], g->hi[d]);
    return r < 0 ? 0 : r >= len ? len - 1 : r;
}

kiln_status kiln_cpu_gridsample(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                                int32_t n_in, kiln_tview *out, int32_t n_out) {
    const kiln_tview *x = &in[0], *grid = &in[1];
    kiln_tview *y = &out[0];
    if (!kiln_nn_is_float(x->dtype)) return kiln_nn_bad_dtype(node, x->dtype);
    const char *ms = kiln_attr_string(node, "mode", node->opset >= 20 ? "linear" : "bilinear");
    gs_mode mode;
    if (!strcmp(ms, "nearest"))
        mode = GS_NEAREST;
    else if (!strcmp(ms, "linear") || !strcmp(ms, "bilinear"))
        mode = GS_LINEAR;
    else if (!strcmp(ms, "cubic") || !strcmp(ms, "bicubic"))
        mode = GS_CUBIC;
    else
        return kiln_node_error(KILN_ERR_UNSUPPORTED, node, "mode '%s'", ms);
    const char *ps = kiln_attr_string(node, "padding_mode", "zeros");
    gs_ctx g;
    if (!strcmp(ps, "zeros"))
        g.pad = PAD_ZEROS;
    else if (!strcmp(ps, "border"))
        g.pad = PAD_BORDER;
    else if (!strcmp(ps, "reflection"))
        g.pad = PAD_REFLECTION;
    else
        return kiln_node_error(KILN_ERR_UNSUPPORTED, node, "padding_mode '%s'", ps);
    int align = kiln_attr_int(node, "align_corners", 0) != 0;
    g.n = x->rank - 2;
    if (g.n < 1 || g.n > 3)
        return kiln_node_error(KILN_ERR_UNSUPPORTED, node, "%d spatial dims", (int)g.n);
    int64_t isize = 1, osize = 1;
    for (int32_t d = 0; d < g.n; d++) {
        g.dims[d] = x->dims[2 + d];
        isize *= g.dims[d];
        osize *= grid->dims[1 + d];
        g.lo[d] = align ? 0.0 : -0.5;
        g.hi[d] = align ? (double)g.dims[d] - 1.0 : (double)g.dims[d] - 0.5;
    }
    int64_t batch = x->dims[0], c = x->dims[1];
    if (kiln_nn_count(y) == 0) return KILN_OK;
    char *cur;
    KILN_TRY(kiln_nn_scratch(
        ctx, node, kiln_nn_f32_bytes(x) + kiln_nn_f32_bytes(grid) + kiln_nn_f32_bytes(y), &cur));
    const float *xf = kiln_nn_f32_in(x, &cur), *gf = kiln_nn_f32_in(grid, &cur);
    float *yf = kiln_nn_f32_out(y, &cur);
    int taps = mode == GS_NEAREST ? 1 : mode == GS_LINEAR ? 2 : 4;
    for (int64_t nb = 0; nb < batch; nb++)
        for (int64_t o = 0; o < osize; o++) {
            /* per dim: first tap index and weights (grid's last dim is x, y, z: reversed) */
            const float *gp = gf + (nb * osize + o) * g.n;
            int64_t base[3];
            float w[3][4];
            for (int32_t d = 0; d < g.n; d++) {
                float nv = gp[g.n - 1 - d], len = (float)g.dims[d];
                float xv =
                    align ? (nv + 1.0f) / 2.0f * (len - 1.0f) : ((nv + 1.0f) * len - 1.0f) / 2.0f;
                if (mode == GS_NEAREST) xv = rintf(xv);
                if (xv < g.lo[d] || xv > g.hi[d]) {
                    if (g.pad == PAD_BORDER)
                        xv = xv < 0.0f ? 0.0f : xv > len - 1.0f ? len - 1.0f : xv;
                    else if (g.pad == PAD_REFLECTION)
                        xv = (float)reflect(xv, g.lo[d], g.hi[d]);
                }
                if (mode == GS_NEAREST) {
                    base[d] = (int64_t)xv;
                    w[d][0] = 1.0f;
                    continue;
                }
                float x0 = floorf(xv), t = xv - x0;
                if (mode == GS_LINEAR) {
                    base[d] = (int64_t)x0;
                    w[d][0] = 1.0f - t;
                    w[d][1] = t;
                } else {
                    base[d] = (int64_t)x0 - 1;
                    cubic_coeffs(t, w[d]);
                }
            }
            int64_t ntap = 1;
            for (int32_t d = 0; d < g.n; d++) ntap *= taps;
            for (int64_t ch = 0; ch < c; ch++) {
                const float *plane = xf + (nb * c + ch) * isize;
                float acc = 0.0f;
                for (int64_t t = 0; t < ntap; t++) {
                    int64_t rem = t, off = 0;
                    float wt = 1.0f;
                    for (int32_t d = g.n - 1; d >= 0; d--) {
                        int k = (int)(rem % taps);
                        rem /= taps;
                        int64_t idx = tap_index(&g, d, base[d] + k);
                        if (idx < 0) {
                            wt = 0.0f;
                            break;
                        }
                        wt *= w[d][k];
                        int64_t stride = 1;
                        for (int32_t e = d + 1; e < g.n; e++) stride *= g.dims[e];
                        off += idx * stride;
                    }
                    if (wt != 0.0f) acc += wt * plane[off];
                }
                yf[(nb * c + ch) * osize + o] = acc;
            }
        }
    kiln_nn_f32_out_done(y, yf);
    return KILN_OK;
}
