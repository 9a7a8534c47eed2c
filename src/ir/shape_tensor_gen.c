/* Tensor family shape functions: ops that generate tensors (Constant, ConstantOfShape,
 * Range, EyeLike, Shape, Size). */
#include <math.h>
#include <string.h>

#include "ir/shape_tensor.h"

kiln_status kiln_tensor_constant_value(const kiln_node *node, kiln_tview *value) {
    const kiln_attr *a;
    memset(value, 0, sizeof *value);
    if ((a = kiln_node_attr(node, "value")) != NULL) {
        if (a->type != KILN_ATTR_TENSOR || !a->tensor)
            return kiln_shape_error(node, "attribute value must be a tensor");
        const kiln_attr_tensor *t = a->tensor;
        if (t->rank < 0 || t->rank > KILN_MAX_DIMS)
            return kiln_shape_error(node, "value has rank %d, at most %d supported", (int)t->rank,
                                    KILN_MAX_DIMS);
        if (kiln_dtype_bits(t->dtype) == 0)
            return kiln_node_error(KILN_ERR_UNSUPPORTED, node, "value of dtype %s not supported",
                                   kiln_dtype_name(t->dtype));
        value->dtype = t->dtype;
        value->rank = t->rank;
        memcpy(value->dims, t->dims, (size_t)t->rank * sizeof t->dims[0]);
        if (t->nbytes < kiln_dtype_nbytes(t->dtype, kiln_shape_count(t->rank, t->dims)))
            return kiln_shape_error(node, "value holds %zu bytes, too few for its shape",
                                    t->nbytes);
        value->data = t->data;
    } else if ((a = kiln_node_attr(node, "value_float")) != NULL) {
        value->dtype = KILN_DTYPE_FLOAT32;
        value->data = (void *)&a->f;
    } else if ((a = kiln_node_attr(node, "value_int")) != NULL) {
        value->dtype = KILN_DTYPE_INT64;
        value->data = (void *)&a->i;
    } else if ((a = kiln_node_attr(node, "value_floats")) != NULL) {
        value->dtype = KILN_DTYPE_FLOAT32;
        value->rank = 1;
        value->dims[0] = a->count;
        value->data = a->floats;
    } else if ((a = kiln_node_attr(node, "value_ints")) != NULL) {
        value->dtype = KILN_DTYPE_INT64;
        value->rank = 1;
        value->dims[0] = a->count;
        value->data = a->ints;
    } else if (kiln_node_attr(node, "value_string") || kiln_node_attr(node, "value_strings")) {
        return kiln_node_error(KILN_ERR_UNSUPPORTED, node, "string constants not supported");
    } else if (kiln_node_attr(node, "sparse_value")) {
        return kiln_node_error(KILN_ERR_UNSUPPORTED, node, "sparse constants not supported");
    } else {
        return kiln_shape_error(node, "no value attribute");
    }
    return KILN_OK;
}

kiln_status kiln_shape_Constant(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                kiln_tview *out, int32_t n_out) {
    (void)in;
    (void)n_in;
    (void)n_out;
    kiln_tview v;
    KILN_TRY(kiln_tensor_constant_value(node, &v));
    out[0].dtype = v.dtype;
    out[0].rank = v.rank;
    memcpy(out[0].dims, v.dims, sizeof v.dims);
    return KILN_OK;
}

kiln_status kiln_shape_ConstantOfShape(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                       kiln_tview *out, int32_t n_out) {
    (void)n_in;
    (void)n_out;
    const kiln_attr *value = kiln_node_attr(node, "value");
    out[0].dtype = KILN_DTYPE_FLOAT32;
    if (value) {
        if (value->type != KILN_ATTR_TENSOR || !value->tensor ||
            kiln_shape_count(value->tensor->rank, value->tensor->dims) != 1)
            return kiln_shape_error(node, "value must be a tensor of one element");
        if (kiln_dtype_bits(value->tensor->dtype) % 8 || !kiln_dtype_bits(value->tensor->dtype))
            return kiln_node_error(KILN_ERR_UNSUPPORTED, node, "value dtype %s not supported",
                                   kiln_dtype_name(value->tensor->dtype));
        out[0].dtype = value->tensor->dtype;
    }
    if (in[0].rank > 1) return kiln_shape_error(node, "input must be a 1-D shape");
    if (!in[0].data) {
        out[0].rank = -1;
        if (in[0].rank == 1 && in[0].dims[0] >= 0 && in[0].dims[0] <= KILN_MAX_DIMS) {
            out[0].rank = (int32_t)in[0].dims[0];
            for (int32_t i = 0; i < out[0].rank; i++) out[0].dims[i] = -1;
        }
        return KILN_OK;
    }
    KILN_TRY(
        kiln_tensor_read_ints(node, "shape", &in[0], out[0].dims, KILN_MAX_DIMS, &out[0].rank));
    for (int32_t i = 0; i < out[0].rank; i++)
        if (out[0].dims[i] < 0)
            return kiln_shape_error(node, "shape[%d] = %lld is negative", (int)i,
                                    (long long)out[0].dims[i]);
    return KILN_OK;
}

kiln_status kiln_shape_Range(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                             kiln_tview *out, int32_t n_out) {
    (void)n_in;
    (void)n_out;
    kiln_dtype dt = in[0].dtype;
    int have_data = in[0].data && in[1].data && in[2].data;
    out[0].dtype = dt;
    out[0].rank = 1;
    out[0].dims[0] = -1;
    for (int i = 0; i < 3; i++) {
        if (in[i].dtype != dt)
            return kiln_shape_error(node,
                                    "start, limit and delta must share a dtype (got %s, %s, %s)",
                                    kiln_dtype_name(in[0].dtype), kiln_dtype_name(in[1].dtype),
                                    kiln_dtype_name(in[2].dtype));
        if (in[i].rank > 1 || kiln_tview_count(&in[i]) > 1)
            return kiln_shape_error(node, "start, limit and delta must be scalars");
    }
    if (!kiln_tensor_is_int(dt) && !kiln_tensor_is_float(dt))
        return kiln_node_error(KILN_ERR_UNSUPPORTED, node, "dtype %s not supported",
                               kiln_dtype_name(dt));
    if (!have_data) return KILN_OK;
    int64_t n;
    if (kiln_tensor_is_int(dt)) {
        int64_t start = kiln_tview_get_int(&in[0], 0), limit = kiln_tview_get_int(&in[1], 0),
                delta = kiln_tview_get_int(&in[2], 0);
        if (delta == 0) return kiln_shape_error(node, "delta must not be 0");
        if (delta > 0)
            n = limit > start ? (limit - start - 1) / delta + 1 : 0;
        else
            n = start > limit ? (start - limit - 1) / -delta + 1 : 0;
    } else {
        double start = kiln_tview_get_double(&in[0], 0), limit = kiln_tview_get_double(&in[1], 0),
               delta = kiln_tview_get_double(&in[2], 0);
        if (delta == 0 || isnan(delta) || isnan(start) || isnan(limit))
            return kiln_shape_error(node, "delta must be nonzero and the bounds finite");
        double c = ceil((limit - start) / delta);
        if (!(c < 9.0e15)) return kiln_shape_error(node, "range has too many elements");
        n = c > 0 ? (int64_t)c : 0;
    }
    out[0].dims[0] = n;
    return KILN_OK;
}

kiln_status kiln_shape_EyeLike(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                               kiln_tview *out, int32_t n_out) {
    (void)n_in;
    (void)n_out;
    const kiln_attr *dtype = kiln_node_attr(node, "dtype");
    out[0].dtype = dtype ? (kiln_dtype)dtype->i : in[0].dtype;
    if (kiln_dtype_bits(out[0].dtype) == 0 || kiln_dtype_bits(out[0].dtype) % 8)
        return kiln_node_error(KILN_ERR_UNSUPPORTED, node, "dtype %s not supported",
                               kiln_dtype_name(out[0].dtype));
    if (in[0].rank >= 0 && in[0].rank != 2)
        return kiln_shape_error(node, "input must be 2-D, got rank %d", (int)in[0].rank);
    out[0].rank = 2;
    out[0].dims[0] = in[0].rank < 0 ? -1 : in[0].dims[0];
    out[0].dims[1] = in[0].rank < 0 ? -1 : in[0].dims[1];
    return KILN_OK;
}

/* Shape's [start, end) range of dims, clamped as the spec says (opset 15). */
void kiln_tensor_shape_range(const kiln_node *node, int32_t rank, int64_t *start, int64_t *end) {
    *start = 0;
    *end = rank;
    if (node->opset < 15) return;
    int64_t s = kiln_attr_int(node, "start", 0), e = kiln_attr_int(node, "end", rank);
    if (s < 0) s += rank;
    if (e < 0) e += rank;
    *start = s < 0 ? 0 : s > rank ? rank : s;
    *end = e < 0 ? 0 : e > rank ? rank : e;
    if (*end < *start) *end = *start;
}

kiln_status kiln_shape_Shape(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                             kiln_tview *out, int32_t n_out) {
    (void)n_in;
    (void)n_out;
    out[0].dtype = KILN_DTYPE_INT64;
    out[0].rank = 1;
    out[0].dims[0] = -1;
    if (in[0].rank < 0) return KILN_OK;
    int64_t s, e;
    kiln_tensor_shape_range(node, in[0].rank, &s, &e);
    out[0].dims[0] = e - s;
    return KILN_OK;
}

kiln_status kiln_shape_Size(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                            kiln_tview *out, int32_t n_out) {
    (void)node;
    (void)in;
    (void)n_in;
    (void)n_out;
    out[0].dtype = KILN_DTYPE_INT64;
    out[0].rank = 0;
    return KILN_OK;
}
