/* Shape functions of the reductions: Reduce*, ArgMax, ArgMin. */
#include "ir/shape_reduce.h"

kiln_status kiln_reduce_norm_axis(const kiln_node *node, int64_t axis, int32_t rank, int32_t *out) {
    if (axis < -(int64_t)rank || axis >= (int64_t)rank)
        return kiln_shape_error(node, "axis %lld out of range for rank %d", (long long)axis,
                                (int)rank);
    *out = (int32_t)(axis < 0 ? axis + rank : axis);
    return KILN_OK;
}

/* ReduceSum took axes as an input from opset 13, the other reductions from opset 18. */
static int reduce_axes_is_input(const kiln_node *node) {
    return node->opset >= (node->op == KILN_OP_ReduceSum ? 13 : 18);
}

kiln_status kiln_reduce_axes_mask(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                  uint8_t mask[KILN_MAX_DIMS], int *known) {
    int32_t rank = in[0].rank;
    int64_t axes_buf[KILN_MAX_DIMS];
    const int64_t *axes = NULL;
    int64_t count = 0;
    *known = 1;
    if (reduce_axes_is_input(node)) {
        if (n_in >= 2 && kiln_tview_present(&in[1])) {
            const kiln_tview *a = &in[1];
            if (a->rank > 1)
                return kiln_shape_error(node, "axes must be 1-D, got rank %d", a->rank);
            count = kiln_tview_count(a);
            if (count > 0 && a->data == NULL) {
                *known = 0;
                return KILN_OK;
            }
            if (count < 0) {
                *known = 0;
                return KILN_OK;
            }
            if (a->dtype != KILN_DTYPE_INT64 && a->dtype != KILN_DTYPE_INT32)
                return kiln_shape_error(node, "axes must be int64, got %s",
                                        kiln_dtype_name(a->dtype));
            if (count > KILN_MAX_DIMS)
                return kiln_shape_error(node, "%lld axes for rank %d", (long long)count, rank);
            for (int64_t i = 0; i < count; i++) axes_buf[i] = kiln_tview_get_int(a, i);
            axes = axes_buf;
        }
    } else {
        int32_t n = 0;
        axes = kiln_attr_ints(node, "axes", &n);
        count = n;
    }
    if (rank < 0) {
        *known = 0;
        return KILN_OK;
    }
    if (count == 0) {
        int noop = reduce_axes_is_input(node) && kiln_attr_int(node, "noop_with_empty_axes", 0);
        for (int32_t d = 0; d < rank; d++) mask[d] = noop ? 0 : 1;
        return KILN_OK;
    }
    for (int32_t d = 0; d < rank; d++) mask[d] = 0;
    for (int64_t i = 0; i < count; i++) {
        int32_t ax;
        KILN_TRY(kiln_reduce_norm_axis(node, axes[i], rank, &ax));
        if (mask[ax]) return kiln_shape_error(node, "axis %lld repeated", (long long)axes[i]);
        mask[ax] = 1;
    }
    return KILN_OK;
}

static kiln_status reduce_shape(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                kiln_tview *out) {
    const kiln_tview *x = &in[0];
    if (x->dtype == KILN_DTYPE_STRING || x->dtype == KILN_DTYPE_UNDEFINED)
        return kiln_shape_error(node, "unsupported input dtype %s", kiln_dtype_name(x->dtype));
    int keepdims = kiln_attr_int(node, "keepdims", 1) != 0;
    uint8_t mask[KILN_MAX_DIMS];
    int known;
    KILN_TRY(kiln_reduce_axes_mask(node, in, n_in, mask, &known));
    out[0].dtype = x->dtype;
    if (x->rank < 0) {
        out[0].rank = -1;
        return KILN_OK;
    }
    if (!known) {
        /* Axes not known before run time: with keepdims only the rank is. */
        if (keepdims) {
            out[0].rank = x->rank;
            for (int32_t d = 0; d < x->rank; d++) out[0].dims[d] = x->dims[d] == 1 ? 1 : -1;
        } else {
            out[0].rank = -1;
        }
        return KILN_OK;
    }
    int32_t r = 0;
    for (int32_t d = 0; d < x->rank; d++) {
        if (!mask[d])
            out[0].dims[r++] = x->dims[d];
        else if (keepdims)
            out[0].dims[r++] = 1;
    }
    out[0].rank = r;
    return KILN_OK;
}

#define KILN_REDUCE_SHAPE(name)                                                                    \
    kiln_status kiln_shape_##name(const kiln_node *node, const kiln_tview *in, int32_t n_in,       \
                                  kiln_tview *out, int32_t n_out) {                                \
        return reduce_shape(node, in, n_in, out);                                                  \
    }
KILN_REDUCE_SHAPE(ReduceSum)
KILN_REDUCE_SHAPE(ReduceMean)
KILN_REDUCE_SHAPE(ReduceMax)
KILN_REDUCE_SHAPE(ReduceMin)
KILN_REDUCE_SHAPE(ReduceProd)
KILN_REDUCE_SHAPE(ReduceL1)
KILN_REDUCE_SHAPE(ReduceL2)
KILN_REDUCE_SHAPE(ReduceLogSum)
KILN_REDUCE_SHAPE(ReduceLogSumExp)
KILN_REDUCE_SHAPE(ReduceSumSquare)

static kiln_status arg_shape(const kiln_node *node, const kiln_tview *in, kiln_tview *out) {
    const kiln_tview *x = &in[0];
    if (x->dtype == KILN_DTYPE_STRING || x->dtype == KILN_DTYPE_UNDEFINED)
        return kiln_shape_error(node, "unsupported input dtype %s", kiln_dtype_name(x->dtype));
    out[0].dtype = KILN_DTYPE_INT64;
    if (x->rank < 0) {
        out[0].rank = -1;
        return KILN_OK;
    }
    if (x->rank == 0) return kiln_shape_error(node, "input must have rank >= 1");
    int32_t axis;
    KILN_TRY(kiln_reduce_norm_axis(node, kiln_attr_int(node, "axis", 0), x->rank, &axis));
    if (x->dims[axis] == 0) return kiln_shape_error(node, "cannot reduce an empty axis");
    int keepdims = kiln_attr_int(node, "keepdims", 1) != 0;
    int32_t r = 0;
    for (int32_t d = 0; d < x->rank; d++) {
        if (d != axis)
            out[0].dims[r++] = x->dims[d];
        else if (keepdims)
            out[0].dims[r++] = 1;
    }
    out[0].rank = r;
    return KILN_OK;
}

kiln_status kiln_shape_ArgMax(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                              kiln_tview *out, int32_t n_out) {
    return arg_shape(node, in, out);
}

kiln_status kiln_shape_ArgMin(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                              kiln_tview *out, int32_t n_out) {
    return arg_shape(node, in, out);
}
