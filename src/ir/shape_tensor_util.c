/* Tensor family: argument decoding shared by shape functions and kernels. */
#include <stdint.h>
#include <string.h>

#include "ir/shape_tensor.h"

kiln_status kiln_tensor_require(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                int32_t i, const char *what) {
    if (!kiln_tensor_has_input(in, n_in, i))
        return kiln_shape_error(node, "input %d (%s) is required", (int)i, what);
    return KILN_OK;
}

kiln_status kiln_tensor_axis(const kiln_node *node, const char *what, int64_t axis, int32_t rank,
                             int32_t *out) {
    if (axis < -(int64_t)rank || axis >= rank)
        return kiln_shape_error(node, "%s %lld is out of range for rank %d", what, (long long)axis,
                                (int)rank);
    *out = (int32_t)(axis < 0 ? axis + rank : axis);
    return KILN_OK;
}

int kiln_tensor_is_int(kiln_dtype dtype) {
    switch (dtype) {
    case KILN_DTYPE_INT8:
    case KILN_DTYPE_INT16:
    case KILN_DTYPE_INT32:
    case KILN_DTYPE_INT64:
    case KILN_DTYPE_UINT8:
    case KILN_DTYPE_UINT16:
    case KILN_DTYPE_UINT32:
    case KILN_DTYPE_UINT64:
        return 1;
    default:
        return 0;
    }
}

int kiln_tensor_is_float(kiln_dtype dtype) {
    return dtype == KILN_DTYPE_FLOAT32 || dtype == KILN_DTYPE_FLOAT64 ||
           dtype == KILN_DTYPE_FLOAT16 || dtype == KILN_DTYPE_BFLOAT16;
}

kiln_status kiln_tensor_read_ints(const kiln_node *node, const char *what, const kiln_tview *t,
                                  int64_t *vals, int32_t max, int32_t *count) {
    if (!kiln_tensor_is_int(t->dtype))
        return kiln_shape_error(node, "%s must be an integer tensor, not %s", what,
                                kiln_dtype_name(t->dtype));
    if (t->rank > 1)
        return kiln_shape_error(node, "%s must be a scalar or 1-D tensor, got rank %d", what,
                                (int)t->rank);
    int64_t n = kiln_tview_count(t);
    if (n < 0) return kiln_shape_error(node, "%s has an unknown size", what);
    if (n > max)
        return kiln_shape_error(node, "%s has %lld values, at most %d allowed", what, (long long)n,
                                (int)max);
    for (int64_t i = 0; i < n; i++) vals[i] = kiln_tview_get_int(t, i);
    *count = (int32_t)n;
    return KILN_OK;
}

kiln_status kiln_tensor_axes_arg(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                 int32_t input, const char *attr, int32_t input_opset,
                                 int64_t *axes, int32_t max, int32_t *count, int *present,
                                 int *known) {
    *count = 0;
    *present = 0;
    *known = 1;
    if (node->opset < input_opset) {
        int32_t n = 0;
        const int64_t *a = kiln_attr_ints(node, attr, &n);
        if (!a) return KILN_OK;
        if (n > max)
            return kiln_shape_error(node, "attribute %s has %d values, at most %d allowed", attr,
                                    (int)n, (int)max);
        memcpy(axes, a, (size_t)n * sizeof *axes);
        *count = n;
        *present = 1;
        return KILN_OK;
    }
    if (!kiln_tensor_has_input(in, n_in, input)) return KILN_OK;
    *present = 1;
    if (!in[input].data) {
        *known = 0;
        return KILN_OK;
    }
    return kiln_tensor_read_ints(node, attr, &in[input], axes, max, count);
}

kiln_status kiln_tensor_norm_axes(const kiln_node *node, const char *what, int64_t *axes,
                                  int32_t count, int32_t rank) {
    for (int32_t i = 0; i < count; i++) {
        int32_t a = 0;
        KILN_TRY(kiln_tensor_axis(node, what, axes[i], rank, &a));
        axes[i] = a;
        for (int32_t j = 0; j < i; j++)
            if (axes[j] == a) return kiln_shape_error(node, "%s repeats axis %d", what, (int)a);
    }
    return KILN_OK;
}

static int64_t kiln_clamp64(int64_t v, int64_t lo, int64_t hi) {
    return v < lo ? lo : v > hi ? hi : v;
}

/* One sliced dim: normalizes start/end against dim per ONNX's clamping rules. */
static void kiln_slice_dim(int64_t dim, int64_t start, int64_t end, int64_t step, int64_t *first,
                           int64_t *count) {
    if (start < 0) start += dim;
    if (end < 0) end += dim;
    if (step > 0) {
        start = kiln_clamp64(start, 0, dim);
        end = kiln_clamp64(end, 0, dim);
        *count = end > start ? (end - start - 1) / step + 1 : 0;
    } else {
        start = kiln_clamp64(start, 0, dim - 1);
        end = kiln_clamp64(end, -1, dim - 1);
        int64_t neg = step == INT64_MIN ? INT64_MAX : -step;
        *count = start > end ? (start - end - 1) / neg + 1 : 0;
    }
    *first = *count > 0 ? start : 0;
}

kiln_status kiln_tensor_slice_params(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                     kiln_slice_params *p, int *known) {
    int64_t starts[KILN_MAX_DIMS], ends[KILN_MAX_DIMS], axes[KILN_MAX_DIMS], steps[KILN_MAX_DIMS];
    int32_t ns = 0, ne = 0, na = -1, nst = -1;
    int32_t rank = in[0].rank;
    *known = 1;
    if (node->opset < 10) {
        const int64_t *a = kiln_attr_ints(node, "starts", &ns);
        const int64_t *b = kiln_attr_ints(node, "ends", &ne);
        if (!a || !b) return kiln_shape_error(node, "attributes starts and ends are required");
        if (ns > KILN_MAX_DIMS || ne > KILN_MAX_DIMS)
            return kiln_shape_error(node, "too many starts/ends");
        memcpy(starts, a, (size_t)ns * sizeof *a);
        memcpy(ends, b, (size_t)ne * sizeof *b);
        const int64_t *c = kiln_attr_ints(node, "axes", &na);
        if (!c)
            na = -1;
        else if (na > KILN_MAX_DIMS)
            return kiln_shape_error(node, "too many axes");
        else
            memcpy(axes, c, (size_t)na * sizeof *c);
    } else {
        KILN_TRY(kiln_tensor_require(node, in, n_in, 1, "starts"));
        KILN_TRY(kiln_tensor_require(node, in, n_in, 2, "ends"));
        for (int32_t i = 1; i < 5 && i < n_in; i++)
            if (kiln_tview_present(&in[i]) && !in[i].data) *known = 0;
        if (!*known) return KILN_OK;
        KILN_TRY(kiln_tensor_read_ints(node, "starts", &in[1], starts, KILN_MAX_DIMS, &ns));
        KILN_TRY(kiln_tensor_read_ints(node, "ends", &in[2], ends, KILN_MAX_DIMS, &ne));
        if (kiln_tensor_has_input(in, n_in, 3))
            KILN_TRY(kiln_tensor_read_ints(node, "axes", &in[3], axes, KILN_MAX_DIMS, &na));
        if (kiln_tensor_has_input(in, n_in, 4))
            KILN_TRY(kiln_tensor_read_ints(node, "steps", &in[4], steps, KILN_MAX_DIMS, &nst));
    }
    if (ns != ne)
        return kiln_shape_error(node, "starts has %d values but ends has %d", (int)ns, (int)ne);
    if (na >= 0 && na != ns)
        return kiln_shape_error(node, "axes has %d values but starts has %d", (int)na, (int)ns);
    if (nst >= 0 && nst != ns)
        return kiln_shape_error(node, "steps has %d values but starts has %d", (int)nst, (int)ns);
    if (rank < 0) {
        *known = 0;
        return KILN_OK;
    }
    if (na < 0)
        for (int32_t i = 0; i < ns; i++) axes[i] = i;
    if (ns > rank)
        return kiln_shape_error(node, "%d starts given for rank %d data", (int)ns, (int)rank);
    KILN_TRY(kiln_tensor_norm_axes(node, "axes", axes, ns, rank));
    for (int32_t d = 0; d < rank; d++) {
        p->start[d] = 0;
        p->step[d] = 1;
        p->count[d] = in[0].dims[d];
    }
    for (int32_t i = 0; i < ns; i++) {
        int64_t step = nst >= 0 ? steps[i] : 1;
        if (step == 0) return kiln_shape_error(node, "steps must not be 0");
        int32_t d = (int32_t)axes[i];
        p->step[d] = step;
        if (in[0].dims[d] < 0) {
            p->count[d] = -1;
            continue;
        }
        kiln_slice_dim(in[0].dims[d], starts[i], ends[i], step, &p->start[d], &p->count[d]);
    }
    return KILN_OK;
}

static kiln_status kiln_pad_mode_parse(const kiln_node *node, kiln_pad_mode *mode) {
    const char *m = kiln_attr_string(node, "mode", "constant");
    if (!strcmp(m, "constant"))
        *mode = KILN_PAD_CONSTANT;
    else if (!strcmp(m, "reflect"))
        *mode = KILN_PAD_REFLECT;
    else if (!strcmp(m, "edge"))
        *mode = KILN_PAD_EDGE;
    else if (!strcmp(m, "wrap"))
        *mode = KILN_PAD_WRAP;
    else
        return kiln_node_error(KILN_ERR_UNSUPPORTED, node, "pad mode '%s' not supported", m);
    return KILN_OK;
}

kiln_status kiln_tensor_pad_params(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                   int64_t *begin, int64_t *end, kiln_pad_mode *mode, int *known) {
    int32_t rank = in[0].rank;
    int64_t pads[2 * KILN_MAX_DIMS], axes[KILN_MAX_DIMS];
    int32_t np = 0, na = -1;
    *known = 1;
    KILN_TRY(kiln_pad_mode_parse(node, mode));
    if (node->opset < 11) {
        const int64_t *a = kiln_attr_ints(node, "pads", &np);
        if (!a) a = kiln_attr_ints(node, "paddings", &np); /* Pad-1 */
        if (!a) return kiln_shape_error(node, "attribute pads is required");
        if (np > 2 * KILN_MAX_DIMS) return kiln_shape_error(node, "too many pads");
        memcpy(pads, a, (size_t)np * sizeof *a);
    } else {
        KILN_TRY(kiln_tensor_require(node, in, n_in, 1, "pads"));
        if (!in[1].data || (kiln_tensor_has_input(in, n_in, 3) && !in[3].data)) {
            *known = 0;
            return KILN_OK;
        }
        KILN_TRY(kiln_tensor_read_ints(node, "pads", &in[1], pads, 2 * KILN_MAX_DIMS, &np));
        if (kiln_tensor_has_input(in, n_in, 3))
            KILN_TRY(kiln_tensor_read_ints(node, "axes", &in[3], axes, KILN_MAX_DIMS, &na));
    }
    if (rank < 0) {
        *known = 0;
        return KILN_OK;
    }
    if (na < 0) {
        na = rank;
        for (int32_t i = 0; i < rank; i++) axes[i] = i;
    }
    KILN_TRY(kiln_tensor_norm_axes(node, "axes", axes, na, rank));
    if (np != 2 * na)
        return kiln_shape_error(node, "pads has %d values, expected %d (2 per axis)", (int)np,
                                (int)(2 * na));
    for (int32_t d = 0; d < rank; d++) begin[d] = end[d] = 0;
    for (int32_t i = 0; i < na; i++) {
        begin[axes[i]] = pads[i];
        end[axes[i]] = pads[na + i];
    }
    return KILN_OK;
}

kiln_status kiln_tensor_split_sizes(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                    int32_t n_out, int32_t *axis, int64_t *sizes, int *known) {
    int32_t rank = in[0].rank;
    *known = 1;
    if (rank < 0) {
        *known = 0;
        return KILN_OK;
    }
    KILN_TRY(kiln_tensor_axis(node, "axis", kiln_attr_int(node, "axis", 0), rank, axis));
    int64_t dim = in[0].dims[*axis];
    const kiln_tview *split = NULL;
    int32_t n_attr = 0;
    const int64_t *split_attr = kiln_attr_ints(node, "split", &n_attr);
    if (node->opset >= 13) split_attr = NULL;
    if ((node->opset < 2 || node->opset >= 13) && kiln_tensor_has_input(in, n_in, 1))
        split = &in[1];
    if (split) {
        if (!split->data) {
            *known = 0;
            return KILN_OK;
        }
        if (!kiln_tensor_is_int(split->dtype) || split->rank > 1)
            return kiln_shape_error(node, "split must be a 1-D integer tensor");
        if (kiln_tview_count(split) != n_out)
            return kiln_shape_error(node, "split has %lld values but the node has %d outputs",
                                    (long long)kiln_tview_count(split), (int)n_out);
        for (int32_t i = 0; i < n_out; i++) sizes[i] = kiln_tview_get_int(split, i);
    } else if (split_attr) {
        if (n_attr != n_out)
            return kiln_shape_error(node, "split has %d values but the node has %d outputs",
                                    (int)n_attr, (int)n_out);
        for (int32_t i = 0; i < n_out; i++) sizes[i] = split_attr[i];
    } else {
        int64_t parts = n_out;
        if (node->opset >= 18) {
            parts = kiln_attr_int(node, "num_outputs", n_out);
            if (parts != n_out)
                return kiln_shape_error(node, "num_outputs is %lld but the node has %d outputs",
                                        (long long)parts, (int)n_out);
        }
        if (dim < 0) {
            for (int32_t i = 0; i < n_out; i++) sizes[i] = -1;
            return KILN_OK;
        }
        /* Equal parts; when uneven (opset 18) all but the last are ceil(dim / parts). */
        int64_t chunk = (dim + parts - 1) / parts;
        if (node->opset < 18 && dim % parts)
            return kiln_shape_error(node,
                                    "dim %lld of axis %d cannot be split into %lld equal parts",
                                    (long long)dim, (int)*axis, (long long)parts);
        int64_t left = dim;
        for (int32_t i = 0; i < n_out; i++) {
            sizes[i] = left < chunk ? left : chunk;
            left -= sizes[i];
        }
        return KILN_OK;
    }
    int64_t sum = 0;
    for (int32_t i = 0; i < n_out; i++) {
        if (sizes[i] < 0)
            return kiln_shape_error(node, "split size %lld is negative", (long long)sizes[i]);
        sum += sizes[i];
    }
    if (dim >= 0 && sum != dim)
        return kiln_shape_error(node, "split sizes sum to %lld but axis %d has %lld elements",
                                (long long)sum, (int)*axis, (long long)dim);
    return KILN_OK;
}

kiln_status kiln_tensor_center_crop_offsets(const kiln_node *node, const kiln_tview *in,
                                            int32_t n_in, int64_t *out_dims, int64_t *offset,
                                            int *known) {
    int32_t rank = in[0].rank;
    *known = 1;
    KILN_TRY(kiln_tensor_require(node, in, n_in, 1, "shape"));
    if (rank < 0 || !in[1].data) {
        *known = 0;
        return KILN_OK;
    }
    int64_t shape[KILN_MAX_DIMS], axes[KILN_MAX_DIMS];
    int32_t ns = 0, na = 0;
    KILN_TRY(kiln_tensor_read_ints(node, "shape", &in[1], shape, KILN_MAX_DIMS, &ns));
    const int64_t *a = kiln_attr_ints(node, "axes", &na);
    if (a) {
        if (na > KILN_MAX_DIMS) return kiln_shape_error(node, "too many axes");
        memcpy(axes, a, (size_t)na * sizeof *a);
    } else {
        na = rank;
        for (int32_t i = 0; i < rank; i++) axes[i] = i;
    }
    KILN_TRY(kiln_tensor_norm_axes(node, "axes", axes, na, rank));
    if (ns != na)
        return kiln_shape_error(node, "shape has %d values but there are %d axes", (int)ns,
                                (int)na);
    for (int32_t d = 0; d < rank; d++) {
        out_dims[d] = in[0].dims[d];
        offset[d] = 0;
    }
    for (int32_t i = 0; i < na; i++) {
        int32_t d = (int32_t)axes[i];
        int64_t dim = in[0].dims[d], target = shape[i];
        if (target < 0)
            return kiln_shape_error(node, "target size %lld is negative", (long long)target);
        out_dims[d] = target;
        if (dim < 0) continue;
        /* The input is centered; an odd difference leaves the extra element at the end. */
        offset[d] = target >= dim ? (target - dim) / 2 : -((dim - target) / 2);
    }
    return KILN_OK;
}
