/* Tensor family shape functions: ops that reinterpret or replicate the data's shape
 * (Reshape, Flatten, Squeeze, Unsqueeze, Expand, Tile). */
#include <string.h>

#include "ir/shape_tensor.h"

/* Output rank from a 1-D shape-like input whose values are not known yet: its length
 * when static, else unknown. All dims unknown. */
static void kiln_unknown_from_shape_input(const kiln_tview *shape, int32_t extra_rank,
                                          kiln_tview *out) {
    out->rank = -1;
    if (shape->rank == 1 && shape->dims[0] >= 0 && shape->dims[0] + extra_rank <= KILN_MAX_DIMS) {
        out->rank = (int32_t)shape->dims[0] + extra_rank;
        for (int32_t i = 0; i < out->rank; i++) out->dims[i] = -1;
    }
}

kiln_status kiln_shape_Reshape(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                               kiln_tview *out, int32_t n_out) {
    (void)n_out;
    int64_t shape[KILN_MAX_DIMS];
    int32_t n = 0;
    out[0].dtype = in[0].dtype;
    if (node->opset < 5) {
        const int64_t *s = kiln_attr_ints(node, "shape", &n);
        if (!s) return kiln_shape_error(node, "attribute shape is required");
        if (n > KILN_MAX_DIMS)
            return kiln_shape_error(node, "shape has %d dims, at most %d supported", (int)n,
                                    KILN_MAX_DIMS);
        memcpy(shape, s, (size_t)n * sizeof *s);
    } else {
        KILN_TRY(kiln_tensor_require(node, in, n_in, 1, "shape"));
        if (!in[1].data) {
            kiln_unknown_from_shape_input(&in[1], 0, &out[0]);
            return KILN_OK;
        }
        KILN_TRY(kiln_tensor_read_ints(node, "shape", &in[1], shape, KILN_MAX_DIMS, &n));
    }
    int allowzero = node->opset >= 14 ? (int)kiln_attr_int(node, "allowzero", 0) : 0;
    int64_t in_count = kiln_tview_count(&in[0]);
    int32_t infer = -1;
    int64_t product = 1;
    int unknown = 0, has_zero = 0;
    for (int32_t i = 0; i < n; i++) {
        int64_t v = shape[i], d;
        if (v == -1) {
            if (infer >= 0) return kiln_shape_error(node, "shape has more than one -1");
            infer = i;
            continue;
        }
        if (v < -1)
            return kiln_shape_error(node, "shape[%d] = %lld is invalid", (int)i, (long long)v);
        if (v == 0 && !allowzero) {
            if (in[0].rank >= 0 && i >= in[0].rank)
                return kiln_shape_error(node, "shape[%d] is 0 (copy) but the input has rank %d",
                                        (int)i, (int)in[0].rank);
            d = in[0].rank >= 0 ? in[0].dims[i] : -1;
        } else {
            d = v;
            if (v == 0) has_zero = 1;
        }
        out[0].dims[i] = d;
        if (d < 0)
            unknown = 1;
        else
            product *= d;
    }
    out[0].rank = n;
    if (allowzero && has_zero && infer >= 0)
        return kiln_shape_error(node, "shape has both 0 and -1 with allowzero set");
    if (infer >= 0) {
        if (in_count < 0 || unknown)
            out[0].dims[infer] = -1;
        else if (product == 0) {
            if (in_count != 0)
                return kiln_shape_error(node, "cannot infer the -1 dim: other dims multiply to 0");
            out[0].dims[infer] = 0;
        } else if (in_count % product)
            return kiln_shape_error(node, "cannot reshape %lld elements: not divisible by %lld",
                                    (long long)in_count, (long long)product);
        else
            out[0].dims[infer] = in_count / product;
    } else if (in_count >= 0 && !unknown && product != in_count) {
        char buf[128];
        return kiln_shape_error(node, "cannot reshape %lld elements into %s", (long long)in_count,
                                kiln_shape_string(n, out[0].dims, buf, sizeof buf));
    }
    return KILN_OK;
}

/* Product of dims [from, to); -1 when any is unknown. */
static int64_t kiln_dims_product(const int64_t *dims, int32_t from, int32_t to) {
    int64_t p = 1;
    for (int32_t i = from; i < to; i++) {
        if (dims[i] < 0) return -1;
        if (__builtin_mul_overflow(p, dims[i], &p)) return -1;
    }
    return p;
}

kiln_status kiln_shape_Flatten(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                               kiln_tview *out, int32_t n_out) {
    (void)n_in;
    (void)n_out;
    out[0].dtype = in[0].dtype;
    out[0].rank = 2;
    int32_t rank = in[0].rank;
    int64_t axis = kiln_attr_int(node, "axis", 1);
    if (rank < 0) {
        out[0].dims[0] = out[0].dims[1] = -1;
        return KILN_OK;
    }
    if (axis < -(int64_t)rank || axis > rank)
        return kiln_shape_error(node, "axis %lld is out of range for rank %d", (long long)axis,
                                (int)rank);
    if (axis < 0) axis += rank;
    out[0].dims[0] = kiln_dims_product(in[0].dims, 0, (int32_t)axis);
    out[0].dims[1] = kiln_dims_product(in[0].dims, (int32_t)axis, rank);
    return KILN_OK;
}

kiln_status kiln_shape_Squeeze(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                               kiln_tview *out, int32_t n_out) {
    (void)n_out;
    int64_t axes[KILN_MAX_DIMS];
    int32_t na = 0;
    int present = 0, known = 1;
    int32_t rank = in[0].rank;
    out[0].dtype = in[0].dtype;
    KILN_TRY(kiln_tensor_axes_arg(node, in, n_in, 1, "axes", 13, axes, KILN_MAX_DIMS, &na, &present,
                                  &known));
    if (!known || rank < 0) {
        out[0].rank = -1;
        return KILN_OK;
    }
    int drop[KILN_MAX_DIMS] = {0};
    if (present) {
        KILN_TRY(kiln_tensor_norm_axes(node, "axes", axes, na, rank));
        for (int32_t i = 0; i < na; i++) {
            int64_t d = in[0].dims[axes[i]];
            if (d >= 0 && d != 1)
                return kiln_shape_error(node, "cannot squeeze axis %d of size %lld", (int)axes[i],
                                        (long long)d);
            drop[axes[i]] = 1;
        }
    } else {
        for (int32_t i = 0; i < rank; i++) {
            if (in[0].dims[i] < 0) { /* whether it is 1 is not known yet */
                out[0].rank = -1;
                return KILN_OK;
            }
            drop[i] = in[0].dims[i] == 1;
        }
    }
    int32_t r = 0;
    for (int32_t i = 0; i < rank; i++)
        if (!drop[i]) out[0].dims[r++] = in[0].dims[i];
    out[0].rank = r;
    return KILN_OK;
}

kiln_status kiln_shape_Unsqueeze(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                 kiln_tview *out, int32_t n_out) {
    (void)n_out;
    int64_t axes[KILN_MAX_DIMS];
    int32_t na = 0;
    int present = 0, known = 1;
    int32_t rank = in[0].rank;
    out[0].dtype = in[0].dtype;
    KILN_TRY(kiln_tensor_axes_arg(node, in, n_in, 1, "axes", 13, axes, KILN_MAX_DIMS, &na, &present,
                                  &known));
    if (!present) return kiln_shape_error(node, "axes are required");
    if (rank < 0) {
        out[0].rank = -1;
        return KILN_OK;
    }
    if (!known) {
        kiln_unknown_from_shape_input(&in[1], rank, &out[0]);
        return KILN_OK;
    }
    int32_t out_rank = rank + na;
    if (out_rank > KILN_MAX_DIMS)
        return kiln_shape_error(node, "output rank %d exceeds the maximum of %d", (int)out_rank,
                                KILN_MAX_DIMS);
    KILN_TRY(kiln_tensor_norm_axes(node, "axes", axes, na, out_rank));
    int inserted[KILN_MAX_DIMS] = {0};
    for (int32_t i = 0; i < na; i++) inserted[axes[i]] = 1;
    for (int32_t i = 0, j = 0; i < out_rank; i++)
        out[0].dims[i] = inserted[i] ? 1 : in[0].dims[j++];
    out[0].rank = out_rank;
    return KILN_OK;
}

kiln_status kiln_shape_Expand(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                              kiln_tview *out, int32_t n_out) {
    (void)n_out;
    kiln_tview shape_view = {0};
    out[0].dtype = in[0].dtype;
    KILN_TRY(kiln_tensor_require(node, in, n_in, 1, "shape"));
    if (!in[1].data) {
        kiln_unknown_from_shape_input(&in[1], 0, &shape_view);
        if (shape_view.rank < 0) {
            out[0].rank = -1;
            return KILN_OK;
        }
    } else {
        KILN_TRY(kiln_tensor_read_ints(node, "shape", &in[1], shape_view.dims, KILN_MAX_DIMS,
                                       &shape_view.rank));
        for (int32_t i = 0; i < shape_view.rank; i++)
            if (shape_view.dims[i] < 0)
                return kiln_shape_error(node, "shape[%d] = %lld is negative", (int)i,
                                        (long long)shape_view.dims[i]);
    }
    return kiln_broadcast_shapes(node, &in[0], &shape_view, &out[0]);
}

kiln_status kiln_shape_Tile(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                            kiln_tview *out, int32_t n_out) {
    (void)n_out;
    int32_t rank = in[0].rank;
    out[0].dtype = in[0].dtype;
    out[0].rank = rank;
    KILN_TRY(kiln_tensor_require(node, in, n_in, 1, "repeats"));
    if (rank < 0) return KILN_OK;
    memcpy(out[0].dims, in[0].dims, sizeof out[0].dims);
    int old_form = node->opset < 6; /* Tile-1: tiles (scalar) along input `axis` */
    if (!in[1].data || (old_form && (!kiln_tensor_has_input(in, n_in, 2) || !in[2].data))) {
        for (int32_t i = 0; i < rank; i++) out[0].dims[i] = -1;
        return KILN_OK;
    }
    int64_t reps[KILN_MAX_DIMS];
    int32_t nr = 0;
    if (old_form) {
        int64_t tiles = kiln_tview_get_int(&in[1], 0), axis = kiln_tview_get_int(&in[2], 0);
        int32_t a;
        KILN_TRY(kiln_tensor_axis(node, "axis", axis, rank, &a));
        for (int32_t i = 0; i < rank; i++) reps[i] = i == a ? tiles : 1;
        nr = rank;
    } else {
        KILN_TRY(kiln_tensor_read_ints(node, "repeats", &in[1], reps, KILN_MAX_DIMS, &nr));
    }
    if (nr != rank)
        return kiln_shape_error(node, "repeats has %d values for rank %d input", (int)nr,
                                (int)rank);
    for (int32_t i = 0; i < rank; i++) {
        if (reps[i] < 0)
            return kiln_shape_error(node, "repeats[%d] = %lld is negative", (int)i,
                                    (long long)reps[i]);
        out[0].dims[i] = in[0].dims[i] < 0 ? -1 : in[0].dims[i] * reps[i];
    }
    return KILN_OK;
}
