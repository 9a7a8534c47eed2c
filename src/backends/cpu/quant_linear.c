/*
 * QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear.
 *
 *   QuantizeLinear:   y = saturate(round_half_even(x / scale) + zero_point)
 *   DequantizeLinear: y = (x - zero_point) * scale
 *
 * scale and zero_point are per tensor (one value), per axis (a 1-D tensor along `axis`) or
 * blocked (opset 21+: x's shape with dims[axis] / block_size rounded up). x / scale is
 * rounded to x's precision (or the `precision` attribute's) as the ONNX reference does;
 * float8 results ignore the zero point, float4 results add it before rounding.
 */
#include <math.h>
#include <string.h>

#include "backends/cpu/cpu_kernel.h"
#include "backends/cpu/quant_common.h"
#include "ir/shape_reduce.h"

/* Where the scale of element (o, a, i) of x viewed as [outer, A, inner] lives. */
typedef struct quant_layout {
    int64_t outer, A, inner;
    int64_t block; /* 0: per axis */
    int per_tensor;
} quant_layout;

static kiln_status quant_layout_make(const kiln_node *node, const kiln_tview *x,
                                     const kiln_tview *scale, quant_layout *q) {
    int64_t n = kiln_tview_count(x);
    q->block = node->opset >= 21 ? kiln_attr_int(node, "block_size", 0) : 0;
    q->per_tensor = q->block == 0 && kiln_tview_count(scale) == 1 && scale->rank <= 1;
    if (q->per_tensor) {
        q->outer = 1, q->A = n, q->inner = 1;
        return KILN_OK;
    }
    int32_t axis;
    KILN_TRY(kiln_reduce_norm_axis(node, kiln_attr_int(node, "axis", 1), x->rank, &axis));
    q->outer = 1, q->inner = 1, q->A = x->dims[axis];
    for (int32_t d = 0; d < axis; d++) q->outer *= x->dims[d];
    for (int32_t d = axis + 1; d < x->rank; d++) q->inner *= x->dims[d];
    return KILN_OK;
}

static inline int64_t quant_param_index(const quant_layout *q, int64_t o, int64_t a, int64_t i) {
    if (q->per_tensor) return 0;
    if (q->block == 0) return a;
    int64_t nb = (q->A + q->block - 1) / q->block;
    return (o * nb + a / q->block) * q->inner + i;
}

/* v rounded to the precision of dtype t (what numpy's arithmetic in t would give). */
static inline double quant_round_to(kiln_dtype t, double v) {
    switch (t) {
    case KILN_DTYPE_FLOAT32:
        return (float)v;
    case KILN_DTYPE_FLOAT16:
        return kiln_half_to_float(kiln_float_to_half((float)v));
    case KILN_DTYPE_BFLOAT16:
        return kiln_bf16_to_float(kiln_float_to_bf16((float)v));
    default:
        return v;
    }
}

static inline int32_t quant_saturate(double v, int32_t lo, int32_t hi) {
    if (!(v >= (double)lo)) return lo; /* NaN too, like numpy's cast through int32 */
    if (v > (double)hi) return hi;
    return (int32_t)v;
}

/* float32 per-tensor to int8/uint8: the common case, a tight loop. */
static void quantize_f32_8bit(kiln_cpu_ctx *ctx, const float *x, int64_t n, float scale, int32_t zp,
                              int32_t lo, int32_t hi, kiln_dtype t, void *y) {
#ifdef KILN_HAVE_OPENMP
#pragma omp parallel for num_threads(kiln_cpu_threads(ctx)) if (n > 65536)
#endif
    for (int64_t i = 0; i < n; i++) {
        float q = nearbyintf(x[i] / scale) + (float)zp;
        int32_t v = q >= (float)lo ? (q <= (float)hi ? (int32_t)q : hi) : lo;
        if (t == KILN_DTYPE_INT8)
            ((int8_t *)y)[i] = (int8_t)v;
        else
            ((uint8_t *)y)[i] = (uint8_t)v;
    }
}

kiln_status kiln_cpu_QuantizeLinear(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                                    int32_t n_in, kiln_tview *out, int32_t n_out) {
    const kiln_tview *x = &in[0], *scale = &in[1];
    const kiln_tview *zp = n_in >= 3 && kiln_tview_present(&in[2]) ? &in[2] : NULL;
    kiln_tview *y = &out[0];
    kiln_dtype t = y->dtype;
    if (zp && zp->dtype != t)
        return kiln_node_error(KILN_ERR_SHAPE, node, "zero point dtype differs from output");
    int64_t n = kiln_tview_count(x);
    if (n <= 0) return KILN_OK;
    quant_layout q;
    KILN_TRY(quant_layout_make(node, x, scale, &q));
    int32_t lo, hi;
    quant_range(t, &lo, &hi);
    int mf = quant_is_minifloat(t);
    if (!mf && !zp && x->dtype == KILN_DTYPE_FLOAT32 && scale->dtype == KILN_DTYPE_FLOAT32 &&
        q.per_tensor && (t == KILN_DTYPE_INT8 || t == KILN_DTYPE_UINT8)) {
        quantize_f32_8bit(ctx, x->data, n, *(const float *)scale->data, 0, lo, hi, t, y->data);
        return KILN_OK;
    }
    if (!mf && zp && x->dtype == KILN_DTYPE_FLOAT32 && scale->dtype == KILN_DTYPE_FLOAT32 &&
        q.per_tensor && (t == KILN_DTYPE_INT8 || t == KILN_DTYPE_UINT8)) {
        quantize_f32_8bit(ctx, x->data, n, *(const float *)scale->data,
                          quant_get_int(zp->data, t, 0), lo, hi, t, y->data);
        return KILN_OK;
    }
    kiln_dtype prec = x->dtype == KILN_DTYPE_INT32 ? KILN_DTYPE_FLOAT64 : x->dtype;
    int64_t p = node->opset >= 23 ? kiln_attr_int(node, "precision", 0) : 0;
    if (p != 0) prec = (kiln_dtype)p;
    const quant_mf_format *fmt = mf ? quant_mf(t) : NULL;
    int saturate = kiln_attr_int(node, "saturate", 1) != 0;
    int packed = kiln_dtype_bits(t) < 8;
    if (packed) memset(y->data, 0, kiln_dtype_nbytes(t, n));
    for (int64_t o = 0; o < q.outer; o++)
        for (int64_t a = 0; a < q.A; a++)
            for (int64_t i = 0; i < q.inner; i++) {
                int64_t idx = (o * q.A + a) * q.inner + i;
                int64_t pi = quant_param_index(&q, o, a, i);
                double s = kiln_tview_get_double(scale, pi);
                double v = quant_round_to(prec, kiln_tview_get_double(x, idx) / s);
                if (mf) {
                    if (t == KILN_DTYPE_FLOAT4E2M1) {
                        if (zp) v += quant_mf_decode(fmt, quant_get_bits(zp->data, 4, pi));
                        quant_set_bits(y->data, 4, idx, quant_mf_encode(fmt, (float)v, 1));
                    } else {
                        ((uint8_t *)y->data)[idx] =
                            (uint8_t)quant_mf_encode(fmt, (float)v, saturate);
                    }
                    continue;
                }
                double r = nearbyint(v) + (zp ? quant_get_int(zp->data, t, pi) : 0);
                quant_set_int(y->data, t, idx, quant_saturate(r, lo, hi));
            }
    return KILN_OK;
}

static double dequant_value(const kiln_tview *x, const kiln_tview *zp, int64_t idx, int64_t pi) {
    kiln_dtype t = x->dtype;
    if (quant_is_minifloat(t)) {
        uint32_t code = t == KILN_DTYPE_FLOAT4E2M1 ? quant_get_bits(x->data, 4, idx)
                                                   : ((const uint8_t *)x->data)[idx];
        return quant_mf_decode(quant_mf(t), code);
    }
    int64_t v = quant_get_int(x->data, t, idx);
    if (zp) v -= quant_get_int(zp->data, zp->dtype, pi);
    return (double)v;
}

kiln_status kiln_cpu_DequantizeLinear(kiln_cpu_ctx *ctx, const kiln_node *node,
                                      const kiln_tview *in, int32_t n_in, kiln_tview *out,
                                      int32_t n_out) {
    const kiln_tview *x = &in[0], *scale = &in[1];
    const kiln_tview *zp = n_in >= 3 && kiln_tview_present(&in[2]) ? &in[2] : NULL;
    kiln_tview *y = &out[0];
    if (zp && !quant_is_minifloat(x->dtype) && zp->dtype != x->dtype)
        return kiln_node_error(KILN_ERR_SHAPE, node, "zero point dtype %s differs from x's %s",
                               kiln_dtype_name(zp->dtype), kiln_dtype_name(x->dtype));
    int64_t n = kiln_tview_count(x);
    if (n <= 0) return KILN_OK;
    quant_layout q;
    KILN_TRY(quant_layout_make(node, x, scale, &q));
    /* int8/uint8 per tensor into float32: a tight loop. */
    if (q.per_tensor && y->dtype == KILN_DTYPE_FLOAT32 && scale->dtype == KILN_DTYPE_FLOAT32 &&
        (x->dtype == KILN_DTYPE_INT8 || x->dtype == KILN_DTYPE_UINT8)) {
        float s = *(const float *)scale->data;
        int32_t z = zp ? quant_get_int(zp->data, zp->dtype, 0) : 0;
        float *yd = y->data;
        if (x->dtype == KILN_DTYPE_INT8) {
            const int8_t *xd = x->data;
            for (int64_t i = 0; i < n; i++) yd[i] = (float)(xd[i] - z) * s;
        } else {
            const uint8_t *xd = x->data;
            for (int64_t i = 0; i < n; i++) yd[i] = (float)(xd[i] - z) * s;
        }
        return KILN_OK;
    }
    /* numpy computes (x - zp) * scale in float32 (float64 for int32 x), then casts. */
    int wide = x->dtype == KILN_DTYPE_INT32;
    for (int64_t o = 0; o < q.outer; o++)
        for (int64_t a = 0; a < q.A; a++)
            for (int64_t i = 0; i < q.inner; i++) {
                int64_t idx = (o * q.A + a) * q.inner + i;
                int64_t pi = quant_param_index(&q, o, a, i);
                double v = dequant_value(x, zp, idx, pi) * kiln_tview_get_double(scale, pi);
                if (!wide) v = (float)v;
                kiln_tview_set_double(y, idx, v);
            }
    return KILN_OK;
}

kiln_status kiln_cpu_DynamicQuantizeLinear(kiln_cpu_ctx *ctx, const kiln_node *node,
                                           const kiln_tview *in, int32_t n_in, kiln_tview *out,
                                           int32_t n_out) {
    const kiln_tview *x = &in[0];
    const float *xd = x->data;
    int64_t n = kiln_tview_count(x);
    float mx = 0.0f, mn = 0.0f;
    for (int64_t i = 0; i < n; i++) {
        mx = xd[i] > mx ? xd[i] : mx;
        mn = xd[i] < mn ? xd[i] : mn;
    }
    /* float32 arithmetic throughout, as the reference does. */
    float scale = (mx == mn ? 1.0f : mx - mn) / 255.0f;
    float zp0 = 0.0f - mn / scale;
    float zpc = zp0 < 0.0f ? 0.0f : zp0 > 255.0f ? 255.0f : zp0;
    float zp = nearbyintf(zpc);
    uint8_t *y = out[0].data;
    for (int64_t i = 0; i < n; i++) {
        float v = nearbyintf(xd[i] / scale) + zp;
        y[i] = (uint8_t)(v < 0.0f ? 0.0f : v > 255.0f ? 255.0f : v);
    }
    if (n_out > 1 && out[1].data) *(float *)out[1].data = scale;
    if (n_out > 2 && out[2].data) *(uint8_t *)out[2].data = (uint8_t)zp;
    return KILN_OK;
}
