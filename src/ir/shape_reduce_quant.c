/* Shape functions of the quantization ops: QuantizeLinear, DequantizeLinear,
 * DynamicQuantizeLinear, QLinearMatMul, QLinearConv. */
#include <string.h>

#include "ir/shape_reduce.h"

static int quant_is_float(kiln_dtype t) {
    return t == KILN_DTYPE_FLOAT32 || t == KILN_DTYPE_FLOAT16 || t == KILN_DTYPE_BFLOAT16 ||
           t == KILN_DTYPE_FLOAT64;
}

/* The quantized types QuantizeLinear may produce and DequantizeLinear read. */
static int quant_is_qtype(kiln_dtype t) {
    switch (t) {
    case KILN_DTYPE_UINT8:
    case KILN_DTYPE_INT8:
    case KILN_DTYPE_UINT16:
    case KILN_DTYPE_INT16:
    case KILN_DTYPE_UINT4:
    case KILN_DTYPE_INT4:
    case KILN_DTYPE_UINT2:
    case KILN_DTYPE_INT2:
    case KILN_DTYPE_FLOAT8E4M3FN:
    case KILN_DTYPE_FLOAT8E4M3FNUZ:
    case KILN_DTYPE_FLOAT8E5M2:
    case KILN_DTYPE_FLOAT8E5M2FNUZ:
    case KILN_DTYPE_FLOAT4E2M1:
        return 1;
    default:
        return 0;
    }
}

/*
 * Checks scale (and zero point) against x: one value (per tensor), a 1-D tensor of
 * x.dims[axis] values (per axis), or with block_size > 0 x's shape with dims[axis] divided
 * by block_size rounded up (blocked).
 */
static kiln_status quant_check_params(const kiln_node *node, const kiln_tview *x,
                                      const kiln_tview *scale, const kiln_tview *zp) {
    if (!quant_is_float(scale->dtype) && scale->dtype != KILN_DTYPE_INT32)
        return kiln_shape_error(node, "scale dtype %s not supported",
                                kiln_dtype_name(scale->dtype));
    if (zp && kiln_tview_present(zp) && zp->rank >= 0 && scale->rank >= 0) {
        int64_t nz = kiln_tview_count(zp), ns = kiln_tview_count(scale);
        if (nz >= 0 && ns >= 0 && nz != ns)
            return kiln_shape_error(node, "zero point has %lld values, scale %lld", (long long)nz,
                                    (long long)ns);
    }
    if (x->rank < 0 || scale->rank < 0) return KILN_OK;
    int64_t ns = kiln_tview_count(scale);
    int64_t block = node->opset >= 21 ? kiln_attr_int(node, "block_size", 0) : 0;
    if (block < 0) return kiln_shape_error(node, "block_size must be >= 0");
    if (block == 0 && ns == 1 && scale->rank <= 1) return KILN_OK;
    int32_t axis;
    KILN_TRY(kiln_reduce_norm_axis(node, kiln_attr_int(node, "axis", 1), x->rank, &axis));
    if (block == 0) {
        if (scale->rank != 1)
            return kiln_shape_error(node, "per-axis scale must be 1-D, got rank %d", scale->rank);
        if (x->dims[axis] >= 0 && scale->dims[0] >= 0 && scale->dims[0] != x->dims[axis])
            return kiln_shape_error(node, "scale has %lld values for axis %d of size %lld",
                                    (long long)scale->dims[0], (int)axis, (long long)x->dims[axis]);
        return KILN_OK;
    }
    if (scale->rank != x->rank)
        return kiln_shape_error(node, "blocked scale must have rank %d, got %d", x->rank,
                                scale->rank);
    for (int32_t d = 0; d < x->rank; d++) {
        if (x->dims[d] < 0 || scale->dims[d] < 0) continue;
        int64_t want = d == axis ? (x->dims[d] + block - 1) / block : x->dims[d];
        if (scale->dims[d] != want)
            return kiln_shape_error(node, "blocked scale dim %d is %lld, expected %lld", (int)d,
                                    (long long)scale->dims[d], (long long)want);
    }
    return KILN_OK;
}

static void copy_shape(kiln_tview *dst, const kiln_tview *src) {
    dst->rank = src->rank;
    if (src->rank > 0) memcpy(dst->dims, src->dims, sizeof(int64_t) * (size_t)src->rank);
}

kiln_status kiln_shape_QuantizeLinear(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                      kiln_tview *out, int32_t n_out) {
    const kiln_tview *x = &in[0], *scale = &in[1];
    const kiln_tview *zp = n_in >= 3 && kiln_tview_present(&in[2]) ? &in[2] : NULL;
    if (!quant_is_float(x->dtype) && x->dtype != KILN_DTYPE_INT32)
        return kiln_shape_error(node, "input dtype %s not supported", kiln_dtype_name(x->dtype));
    KILN_TRY(quant_check_params(node, x, scale, zp));
    kiln_dtype t = KILN_DTYPE_UINT8;
    int64_t od = node->opset >= 21 ? kiln_attr_int(node, "output_dtype", 0) : 0;
    if (zp) {
        if (od != 0 && od != (int64_t)zp->dtype)
            return kiln_shape_error(node, "output_dtype %lld differs from the zero point's %s",
                                    (long long)od, kiln_dtype_name(zp->dtype));
        t = zp->dtype;
    } else if (od != 0) {
        t = (kiln_dtype)od;
    }
    if (!quant_is_qtype(t))
        return kiln_shape_error(node, "output dtype %s is not a quantized type",
                                kiln_dtype_name(t));
    out[0].dtype = t;
    copy_shape(&out[0], x);
    return KILN_OK;
}

kiln_status kiln_shape_DequantizeLinear(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                        kiln_tview *out, int32_t n_out) {
    const kiln_tview *x = &in[0], *scale = &in[1];
    const kiln_tview *zp = n_in >= 3 && kiln_tview_present(&in[2]) ? &in[2] : NULL;
    if (!quant_is_qtype(x->dtype) && x->dtype != KILN_DTYPE_INT32)
        return kiln_shape_error(node, "input dtype %s not supported", kiln_dtype_name(x->dtype));
    KILN_TRY(quant_check_params(node, x, scale, zp));
    if (!quant_is_float(scale->dtype))
        return kiln_shape_error(node, "scale dtype %s not supported",
                                kiln_dtype_name(scale->dtype));
    kiln_dtype t = scale->dtype;
    int64_t od = node->opset >= 23 ? kiln_attr_int(node, "output_dtype", 0) : 0;
    if (od != 0) {
        if (!quant_is_float((kiln_dtype)od))
            return kiln_shape_error(node, "output_dtype %lld not supported", (long long)od);
        t = (kiln_dtype)od;
    }
    out[0].dtype = t;
    copy_shape(&out[0], x);
    return KILN_OK;
}

kiln_status kiln_shape_DynamicQuantizeLinear(const kiln_node *node, const kiln_tview *in,
                                             int32_t n_in, kiln_tview *out, int32_t n_out) {
    const kiln_tview *x = &in[0];
    if (x->dtype != KILN_DTYPE_FLOAT32)
        return kiln_shape_error(node, "input dtype %s not supported", kiln_dtype_name(x->dtype));
    out[0].dtype = KILN_DTYPE_UINT8;
    copy_shape(&out[0], x);
    if (n_out > 1 && kiln_tview_present(&out[1])) {
        out[1].dtype = KILN_DTYPE_FLOAT32;
        out[1].rank = 0;
    }
    if (n_out > 2 && kiln_tview_present(&out[2])) {
        out[2].dtype = KILN_DTYPE_UINT8;
        out[2].rank = 0;
    }
    return KILN_OK;
}

static int quant_is_int8ish(kiln_dtype t) {
    return t == KILN_DTYPE_UINT8 || t == KILN_DTYPE_INT8;
}

kiln_status kiln_shape_QLinearMatMul(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                     kiln_tview *out, int32_t n_out) {
    const kiln_tview *a = &in[0], *b = &in[3];
    if (!quant_is_int8ish(a->dtype) || !quant_is_int8ish(b->dtype))
        return kiln_shape_error(node, "inputs must be int8 or uint8, got %s and %s",
                                kiln_dtype_name(a->dtype), kiln_dtype_name(b->dtype));
    for (int i = 1; i < 8; i += i == 4 ? 2 : 3)
        if (!quant_is_float(in[i].dtype))
            return kiln_shape_error(node, "scale %d dtype %s not supported", i,
                                    kiln_dtype_name(in[i].dtype));
    kiln_dtype t = kiln_tview_present(&in[7]) ? in[7].dtype : a->dtype;
    if (!quant_is_int8ish(t))
        return kiln_shape_error(node, "output dtype %s not supported", kiln_dtype_name(t));
    out[0].dtype = t;
    if (a->rank < 0 || b->rank < 0) {
        out[0].rank = -1;
        return KILN_OK;
    }
    if (a->rank < 1 || b->rank < 1) return kiln_shape_error(node, "inputs must have rank >= 1");
    int64_t ka = a->dims[a->rank - 1];
    int64_t kb = b->rank == 1 ? b->dims[0] : b->dims[b->rank - 2];
    if (ka >= 0 && kb >= 0 && ka != kb)
        return kiln_shape_error(node, "inner dimensions differ: %lld and %lld", (long long)ka,
                                (long long)kb);
    kiln_tview ba = {0}, bb = {0}, bo = {0};
    ba.rank = a->rank > 2 ? a->rank - 2 : 0;
    bb.rank = b->rank > 2 ? b->rank - 2 : 0;
    for (int32_t i = 0; i < ba.rank; i++) ba.dims[i] = a->dims[i];
    for (int32_t i = 0; i < bb.rank; i++) bb.dims[i] = b->dims[i];
    KILN_TRY(kiln_broadcast_shapes(node, &ba, &bb, &bo));
    int32_t r = bo.rank;
    for (int32_t i = 0; i < r; i++) out[0].dims[i] = bo.dims[i];
    if (a->rank >= 2) out[0].dims[r++] = a->dims[a->rank - 2];
    if (b->rank >= 2) out[0].dims[r++] = b->dims[b->rank - 1];
    out[0].rank = r;
    return KILN_OK;
}

kiln_status kiln_shape_QLinearConv(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                   kiln_tview *out, int32_t n_out) {
    const kiln_tview *x = &in[0], *w = &in[3];
    if (!quant_is_int8ish(x->dtype) || !quant_is_int8ish(w->dtype))
        return kiln_shape_error(node, "x and w must be int8 or uint8, got %s and %s",
                                kiln_dtype_name(x->dtype), kiln_dtype_name(w->dtype));
    if (n_in > 8 && kiln_tview_present(&in[8]) && in[8].dtype != KILN_DTYPE_INT32)
        return kiln_shape_error(node, "bias must be int32");
    kiln_dtype t = kiln_tview_present(&in[7]) ? in[7].dtype : x->dtype;
    if (!quant_is_int8ish(t))
        return kiln_shape_error(node, "output dtype %s not supported", kiln_dtype_name(t));
    out[0].dtype = t;
    if (x->rank < 0 || w->rank < 0) {
        out[0].rank = -1;
        return KILN_OK;
    }
    if (x->rank < 3 || w->rank != x->rank)
        return kiln_shape_error(node, "x must have rank >= 3 and w the same rank (%d, %d)", x->rank,
                                w->rank);
    int32_t ns = x->rank - 2;
    int64_t group = kiln_attr_int(node, "group", 1);
    if (group < 1) return kiln_shape_error(node, "group must be >= 1");
    if (x->dims[1] >= 0 && w->dims[1] >= 0 && x->dims[1] != w->dims[1] * group)
        return kiln_shape_error(node, "x has %lld channels, w expects %lld x %lld groups",
                                (long long)x->dims[1], (long long)w->dims[1], (long long)group);
    if (w->dims[0] >= 0 && w->dims[0] % group != 0)
        return kiln_shape_error(node, "output channels %lld not divisible by group %lld",
                                (long long)w->dims[0], (long long)group);
    int32_t cnt;
    const int64_t *strides = kiln_attr_ints(node, "strides", &cnt);
    if (strides && cnt != ns) return kiln_shape_error(node, "strides needs %d values", ns);
    const int64_t *dil = kiln_attr_ints(node, "dilations", &cnt);
    if (dil && cnt != ns) return kiln_shape_error(node, "dilations needs %d values", ns);
    const int64_t *pads = kiln_attr_ints(node, "pads", &cnt);
    if (pads && cnt != 2 * ns) return kiln_shape_error(node, "pads needs %d values", 2 * ns);
    const int64_t *ks = kiln_attr_ints(node, "kernel_shape", &cnt);
    if (ks && cnt != ns) return kiln_shape_error(node, "kernel_shape needs %d values", ns);
    const char *ap = kiln_attr_string(node, "auto_pad", "NOTSET");
    out[0].rank = x->rank;
    out[0].dims[0] = x->dims[0];
    out[0].dims[1] = w->dims[0];
    for (int32_t i = 0; i < ns; i++) {
        int64_t in_d = x->dims[2 + i], k = ks ? ks[i] : w->dims[2 + i];
        if (ks && w->dims[2 + i] >= 0 && ks[i] != w->dims[2 + i])
            return kiln_shape_error(node, "kernel_shape %lld differs from w's %lld",
                                    (long long)ks[i], (long long)w->dims[2 + i]);
        int64_t s = strides ? strides[i] : 1, d = dil ? dil[i] : 1;
        if (s < 1 || d < 1) return kiln_shape_error(node, "strides and dilations must be >= 1");
        if (in_d < 0 || k < 0) {
            out[0].dims[2 + i] = -1;
            continue;
        }
        int64_t ek = d * (k - 1) + 1, o;
        if (!strcmp(ap, "SAME_UPPER") || !strcmp(ap, "SAME_LOWER"))
            o = (in_d + s - 1) / s;
        else if (!strcmp(ap, "VALID"))
            o = in_d >= ek ? (in_d - ek) / s + 1 : 0;
        else if (!strcmp(ap, "NOTSET")) {
            int64_t p = pads ? pads[i] + pads[i + ns] : 0;
            o = in_d + p >= ek ? (in_d + p - ek) / s + 1 : 0;
        } else
            return kiln_shape_error(node, "unknown auto_pad '%s'", ap);
        out[0].dims[2 + i] = o;
    }
    return KILN_OK;
}
