/*
 * QLinearConv: a direct N-D convolution of (x - x_zp) and (w - w_zp) accumulated in int32
 * (plus the int32 bias), requantized with x_scale * w_scale / y_scale (w_scale and w_zp per
 * tensor or per output channel) and saturated to y's type. Padding reads as zero after the
 * zero point is removed, like the ONNX reference. Groups, strides, dilations, pads and
 * auto_pad as in Conv.
 */
#include <math.h>
#include <string.h>

#include "backends/cpu/cpu_kernel.h"
#include "backends/cpu/quant_common.h"

#define QC_MAX_SPATIAL (KILN_MAX_DIMS - 2)

typedef struct qconv_geom {
    int32_t ns;
    int64_t in[QC_MAX_SPATIAL], out[QC_MAX_SPATIAL], k[QC_MAX_SPATIAL];
    int64_t stride[QC_MAX_SPATIAL], dil[QC_MAX_SPATIAL], pad[QC_MAX_SPATIAL];
    int64_t in_count, out_count, k_count;
} qconv_geom;

static void qconv_geom_make(const kiln_node *node, const kiln_tview *x, const kiln_tview *w,
                            const kiln_tview *y, qconv_geom *g) {
    int32_t cnt;
    g->ns = x->rank - 2;
    const int64_t *strides = kiln_attr_ints(node, "strides", &cnt);
    const int64_t *dil = kiln_attr_ints(node, "dilations", &cnt);
    const int64_t *pads = kiln_attr_ints(node, "pads", &cnt);
    const char *ap = kiln_attr_string(node, "auto_pad", "NOTSET");
    int same_upper = !strcmp(ap, "SAME_UPPER"), same_lower = !strcmp(ap, "SAME_LOWER");
    g->in_count = g->out_count = g->k_count = 1;
    for (int32_t i = 0; i < g->ns; i++) {
        g->in[i] = x->dims[2 + i];
        g->out[i] = y->dims[2 + i];
        g->k[i] = w->dims[2 + i];
        g->stride[i] = strides ? strides[i] : 1;
        g->dil[i] = dil ? dil[i] : 1;
        g->pad[i] = pads && !strcmp(ap, "NOTSET") ? pads[i] : 0;
        if (same_upper || same_lower) {
            int64_t total =
                (g->out[i] - 1) * g->stride[i] + g->dil[i] * (g->k[i] - 1) + 1 - g->in[i];
            if (total < 0) total = 0;
            g->pad[i] = same_upper ? total / 2 : total - total / 2;
        }
        g->in_count *= g->in[i];
        g->out_count *= g->out[i];
        g->k_count *= g->k[i];
    }
}

/* im2col of one image's group: col[(c * k_count + t) * out_count + p] = x[c, in_pos(p, t)] -
 * x_zp, 0 where the tap falls in the padding. */
static void qconv_im2col(const qconv_geom *g, const kiln_tview *x, int64_t x_off, int32_t xzp,
                         int64_t cg, int32_t *col) {
    for (int64_t c = 0; c < cg; c++) {
        int64_t cbase = x_off + c * g->in_count;
        int64_t kk[QC_MAX_SPATIAL] = {0};
        for (int64_t t = 0; t < g->k_count; t++) {
            int32_t *dst = col + (c * g->k_count + t) * g->out_count;
            int64_t o[QC_MAX_SPATIAL] = {0};
            for (int64_t p = 0; p < g->out_count; p++) {
                int64_t off = 0;
                int inside = 1;
                for (int32_t i = 0; i < g->ns; i++) {
                    int64_t pos = o[i] * g->stride[i] - g->pad[i] + kk[i] * g->dil[i];
                    if (pos < 0 || pos >= g->in[i]) {
                        inside = 0;
                        break;
                    }
                    off = off * g->in[i] + pos;
                }
                dst[p] = inside ? quant_get_int(x->data, x->dtype, cbase + off) - xzp : 0;
                for (int32_t i = g->ns - 1; i >= 0; i--) {
                    if (++o[i] < g->out[i]) break;
                    o[i] = 0;
                }
            }
            for (int32_t i = g->ns - 1; i >= 0; i--) {
                if (++kk[i] < g->k[i]) break;
                kk[i] = 0;
            }
        }
    }
}

kiln_status kiln_cpu_QLinearConv(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                                 int32_t n_in, kiln_tview *out, int32_t n_out) {
    const kiln_tview *x = &in[0], *xs = &in[1], *xzp = &in[2];
    const kiln_tview *w = &in[3], *ws = &in[4], *wzp = &in[5];
    const kiln_tview *ys = &in[6], *yzp = &in[7];
    const kiln_tview *bias = n_in > 8 && kiln_tview_present(&in[8]) ? &in[8] : NULL;
    kiln_tview *y = &out[0];
    if (x->rank - 2 > QC_MAX_SPATIAL)
        return kiln_node_error(KILN_ERR_UNSUPPORTED, node, "rank %d not supported", x->rank);
    qconv_geom g;
    qconv_geom_make(node, x, w, y, &g);
    int64_t N = x->dims[0], C = x->dims[1], M = w->dims[0], cg = w->dims[1];
    int64_t group = kiln_attr_int(node, "group", 1), mg = M / group;
    int64_t nws = kiln_tview_count(ws);
    if (kiln_tview_count(xs) != 1 || kiln_tview_count(ys) != 1 || (nws != 1 && nws != M))
        return kiln_node_error(KILN_ERR_SHAPE, node,
                               "x_scale, y_scale must be scalars, w_scale scalar or per channel");
    if (kiln_tview_present(wzp) && kiln_tview_count(wzp) != 1 && kiln_tview_count(wzp) != M)
        return kiln_node_error(KILN_ERR_SHAPE, node, "w_zero_point must be scalar or per channel");
    if (bias && kiln_tview_count(bias) != M)
        return kiln_node_error(KILN_ERR_SHAPE, node, "bias must have %lld values", (long long)M);
    if (kiln_tview_count(y) <= 0) return KILN_OK;
    int64_t kdim = cg * g.k_count;
    size_t nw = (size_t)(M * kdim), ncol = (size_t)(kdim * g.out_count);
    size_t nacc = (size_t)(mg * g.out_count);
    int32_t *wz = kiln_cpu_scratch(ctx, (nw + ncol + nacc) * sizeof(int32_t) + 4);
    if (!wz) return kiln_node_error(KILN_ERR_OUT_OF_MEMORY, node, "out of scratch memory");
    int32_t *col = wz + nw, *acc = col + ncol;
    for (size_t i = 0; i < nw; i++) {
        int64_t m = (int64_t)i / kdim;
        int32_t z = 0;
        if (kiln_tview_present(wzp))
            z = quant_get_int(wzp->data, wzp->dtype, kiln_tview_count(wzp) == 1 ? 0 : m);
        wz[i] = quant_get_int(w->data, w->dtype, (int64_t)i) - z;
    }
    int32_t xz0 = kiln_tview_present(xzp) ? quant_get_int(xzp->data, xzp->dtype, 0) : 0;
    int32_t yz = kiln_tview_present(yzp) ? quant_get_int(yzp->data, yzp->dtype, 0) : 0;
    int32_t lo, hi;
    quant_range(y->dtype, &lo, &hi);
    double xsv = kiln_tview_get_double(xs, 0), ysv = kiln_tview_get_double(ys, 0);
    int64_t oc = g.out_count;
    for (int64_t n = 0; n < N; n++)
        for (int64_t gi = 0; gi < group; gi++) {
            qconv_im2col(&g, x, (n * C + gi * cg) * g.in_count, xz0, cg, col);
#ifdef KILN_HAVE_OPENMP
#pragma omp parallel for num_threads(kiln_cpu_threads(ctx)) if (mg * kdim * oc > 65536 && mg > 1)
#endif
            for (int64_t j = 0; j < mg; j++) {
                int64_t m = gi * mg + j;
                int32_t *a = acc + j * oc;
                int32_t b = bias ? (int32_t)kiln_tview_get_int(bias, m) : 0;
                for (int64_t p = 0; p < oc; p++) a[p] = b;
                const int32_t *wr = wz + m * kdim;
                for (int64_t kk = 0; kk < kdim; kk++) {
                    int32_t wv = wr[kk];
                    if (wv == 0) continue;
                    const int32_t *cr = col + kk * oc;
                    for (int64_t p = 0; p < oc; p++) a[p] += wv * cr[p];
                }
                /* the multiplier in float32, as numpy forms it from float32 scales */
                float mul =
                    (float)((float)(xsv * kiln_tview_get_double(ws, nws == 1 ? 0 : m)) / ysv);
                int64_t base = (n * M + m) * oc;
                for (int64_t p = 0; p < oc; p++) {
                    double r = (double)a[p] * (double)mul + (double)yz;
                    r = r < lo ? lo : r > hi ? hi : r;
                    int32_t v = (int32_t)nearbyint(r);
                    if (y->dtype == KILN_DTYPE_INT8)
                        ((int8_t *)y->data)[base + p] = (int8_t)v;
                    else
                        ((uint8_t *)y->data)[base + p] = (uint8_t)v;
                }
            }
        }
    return KILN_OK;
}
