/* Tensor family shape functions: indexing ops (Gather*, Scatter*, Compress, NonZero,
 * OneHot, TopK, Unique, ReverseSequence, Trilu, CumSum, CumProd). */
#include <string.h>

#include "ir/shape_tensor.h"

static kiln_status kiln_index_dtype(const kiln_node *node, const kiln_tview *t, const char *what) {
    if (t->dtype != KILN_DTYPE_INT32 && t->dtype != KILN_DTYPE_INT64)
        return kiln_shape_error(node, "%s must be int32 or int64, not %s", what,
                                kiln_dtype_name(t->dtype));
    return KILN_OK;
}

kiln_status kiln_shape_Gather(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                              kiln_tview *out, int32_t n_out) {
    (void)n_in;
    (void)n_out;
    int32_t r = in[0].rank, q = in[1].rank, axis;
    out[0].dtype = in[0].dtype;
    KILN_TRY(kiln_index_dtype(node, &in[1], "indices"));
    if (r < 0 || q < 0) {
        out[0].rank = -1;
        return KILN_OK;
    }
    if (r == 0) return kiln_shape_error(node, "data must have rank >= 1");
    KILN_TRY(kiln_tensor_axis(node, "axis", kiln_attr_int(node, "axis", 0), r, &axis));
    if (r + q - 1 > KILN_MAX_DIMS)
        return kiln_shape_error(node, "output rank %d exceeds the maximum of %d", (int)(r + q - 1),
                                KILN_MAX_DIMS);
    int32_t o = 0;
    for (int32_t i = 0; i < axis; i++) out[0].dims[o++] = in[0].dims[i];
    for (int32_t i = 0; i < q; i++) out[0].dims[o++] = in[1].dims[i];
    for (int32_t i = axis + 1; i < r; i++) out[0].dims[o++] = in[0].dims[i];
    out[0].rank = o;
    return KILN_OK;
}

kiln_status kiln_shape_GatherElements(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                      kiln_tview *out, int32_t n_out) {
    (void)n_in;
    (void)n_out;
    int32_t axis;
    out[0].dtype = in[0].dtype;
    out[0].rank = in[1].rank;
    memcpy(out[0].dims, in[1].dims, sizeof out[0].dims);
    KILN_TRY(kiln_index_dtype(node, &in[1], "indices"));
    if (in[0].rank < 0 || in[1].rank < 0) return KILN_OK;
    if (in[0].rank != in[1].rank || in[0].rank == 0)
        return kiln_shape_error(node,
                                "data (rank %d) and indices (rank %d) must have the same rank >= 1",
                                (int)in[0].rank, (int)in[1].rank);
    KILN_TRY(kiln_tensor_axis(node, "axis", kiln_attr_int(node, "axis", 0), in[0].rank, &axis));
    return KILN_OK;
}

kiln_status kiln_shape_GatherND(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                kiln_tview *out, int32_t n_out) {
    (void)n_in;
    (void)n_out;
    int32_t r = in[0].rank, q = in[1].rank;
    int64_t b = kiln_attr_int(node, "batch_dims", 0);
    out[0].dtype = in[0].dtype;
    if (in[1].dtype != KILN_DTYPE_INT64 && in[1].dtype != KILN_DTYPE_INT32)
        return kiln_shape_error(node, "indices must be int64");
    if (r < 0 || q < 0 || in[1].dims[q > 0 ? q - 1 : 0] < 0) {
        out[0].rank = -1;
        return KILN_OK;
    }
    if (r < 1 || q < 1) return kiln_shape_error(node, "data and indices must have rank >= 1");
    if (b < 0 || b >= r || b >= q)
        return kiln_shape_error(node, "batch_dims %lld must be less than both ranks", (long long)b);
    int64_t k = in[1].dims[q - 1];
    if (k < 1 || k > r - b)
        return kiln_shape_error(node, "indices' last dim %lld must be in [1, %lld]", (long long)k,
                                (long long)(r - b));
    for (int32_t i = 0; i < b; i++)
        if (in[0].dims[i] >= 0 && in[1].dims[i] >= 0 && in[0].dims[i] != in[1].dims[i])
            return kiln_shape_error(node, "batch dim %d differs between data and indices", (int)i);
    int32_t o = 0;
    for (int32_t i = 0; i < q - 1; i++) out[0].dims[o++] = in[1].dims[i];
    for (int64_t i = b + k; i < r; i++) out[0].dims[o++] = in[0].dims[i];
    out[0].rank = o;
    return KILN_OK;
}

/* ScatterElements / Scatter: indices and updates share a shape of the data's rank. */
static kiln_status kiln_scatter_elements_shape(const kiln_node *node, const kiln_tview *in,
                                               kiln_tview *out) {
    int32_t axis;
    out[0].dtype = in[0].dtype;
    out[0].rank = in[0].rank;
    memcpy(out[0].dims, in[0].dims, sizeof out[0].dims);
    KILN_TRY(kiln_index_dtype(node, &in[1], "indices"));
    if (in[2].dtype != in[0].dtype)
        return kiln_shape_error(node, "updates are %s but data is %s", kiln_dtype_name(in[2].dtype),
                                kiln_dtype_name(in[0].dtype));
    if (in[0].rank < 0 || in[1].rank < 0 || in[2].rank < 0) return KILN_OK;
    if (in[1].rank != in[0].rank || in[2].rank != in[0].rank || in[0].rank == 0)
        return kiln_shape_error(node, "data, indices and updates must have the same rank >= 1");
    for (int32_t i = 0; i < in[1].rank; i++)
        if (in[1].dims[i] >= 0 && in[2].dims[i] >= 0 && in[1].dims[i] != in[2].dims[i])
            return kiln_shape_error(node, "indices and updates differ in shape");
    return kiln_tensor_axis(node, "axis", kiln_attr_int(node, "axis", 0), in[0].rank, &axis);
}

kiln_status kiln_shape_ScatterElements(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                       kiln_tview *out, int32_t n_out) {
    (void)n_in;
    (void)n_out;
    return kiln_scatter_elements_shape(node, in, out);
}

kiln_status kiln_shape_Scatter(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                               kiln_tview *out, int32_t n_out) {
    (void)n_in;
    (void)n_out;
    return kiln_scatter_elements_shape(node, in, out);
}

kiln_status kiln_shape_ScatterND(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                 kiln_tview *out, int32_t n_out) {
    (void)n_in;
    (void)n_out;
    int32_t r = in[0].rank, q = in[1].rank;
    out[0].dtype = in[0].dtype;
    out[0].rank = r;
    memcpy(out[0].dims, in[0].dims, sizeof out[0].dims);
    if (in[1].dtype != KILN_DTYPE_INT64 && in[1].dtype != KILN_DTYPE_INT32)
        return kiln_shape_error(node, "indices must be int64");
    if (in[2].dtype != in[0].dtype)
        return kiln_shape_error(node, "updates are %s but data is %s", kiln_dtype_name(in[2].dtype),
                                kiln_dtype_name(in[0].dtype));
    if (r < 0 || q < 0 || in[2].rank < 0) return KILN_OK;
    if (r < 1 || q < 1) return kiln_shape_error(node, "data and indices must have rank >= 1");
    int64_t k = in[1].dims[q - 1];
    if (k < 0) return KILN_OK;
    if (k > r)
        return kiln_shape_error(node, "indices' last dim %lld exceeds data rank %d", (long long)k,
                                (int)r);
    if (in[2].rank != q - 1 + r - k)
        return kiln_shape_error(node, "updates have rank %d, expected %lld", (int)in[2].rank,
                                (long long)(q - 1 + r - k));
    for (int32_t i = 0; i < in[2].rank; i++) {
        int64_t want = i < q - 1 ? in[1].dims[i] : in[0].dims[k + i - (q - 1)];
        if (want >= 0 && in[2].dims[i] >= 0 && want != in[2].dims[i])
            return kiln_shape_error(node, "updates dim %d is %lld, expected %lld", (int)i,
                                    (long long)in[2].dims[i], (long long)want);
    }
    return KILN_OK;
}

kiln_status kiln_shape_Compress(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                kiln_tview *out, int32_t n_out) {
    (void)n_in;
    (void)n_out;
    out[0].dtype = in[0].dtype;
    if (in[1].rank > 1) return kiln_shape_error(node, "condition must be 1-D");
    const kiln_attr *axis_attr = kiln_node_attr(node, "axis");
    int32_t axis = 0;
    if (in[0].rank < 0) {
        out[0].rank = -1;
        return KILN_OK;
    }
    if (axis_attr) KILN_TRY(kiln_tensor_axis(node, "axis", axis_attr->i, in[0].rank, &axis));
    if (in[0].data && in[1].data) { /* run time: the kernel sizes the output */
        out[0].rank = -1;
        return KILN_OK;
    }
    if (axis_attr) {
        out[0].rank = in[0].rank;
        memcpy(out[0].dims, in[0].dims, sizeof out[0].dims);
        out[0].dims[axis] = -1;
    } else {
        out[0].rank = 1;
        out[0].dims[0] = -1;
    }
    return KILN_OK;
}

kiln_status kiln_shape_NonZero(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                               kiln_tview *out, int32_t n_out) {
    (void)node;
    (void)n_in;
    (void)n_out;
    out[0].dtype = KILN_DTYPE_INT64;
    if (in[0].data || in[0].rank < 0) { /* data-dependent: the kernel sizes the output */
        out[0].rank = -1;
        return KILN_OK;
    }
    out[0].rank = 2;
    out[0].dims[0] = in[0].rank > 0 ? in[0].rank : 1; /* a scalar reads as 1-D */
    out[0].dims[1] = -1;
    return KILN_OK;
}

kiln_status kiln_shape_OneHot(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                              kiln_tview *out, int32_t n_out) {
    (void)n_in;
    (void)n_out;
    int32_t r = in[0].rank;
    out[0].dtype = in[2].dtype;
    if (kiln_tview_count(&in[1]) > 1 || in[1].rank > 1)
        return kiln_shape_error(node, "depth must hold one value");
    if (in[2].rank >= 0 && (in[2].rank != 1 || (in[2].dims[0] >= 0 && in[2].dims[0] != 2)))
        return kiln_shape_error(node, "values must be a 1-D tensor of 2 values (off, on)");
    if (r < 0) {
        out[0].rank = -1;
        return KILN_OK;
    }
    if (r + 1 > KILN_MAX_DIMS) return kiln_shape_error(node, "output rank exceeds the maximum");
    int32_t axis;
    KILN_TRY(kiln_tensor_axis(node, "axis", kiln_attr_int(node, "axis", -1), r + 1, &axis));
    int64_t depth = -1;
    if (in[1].data) {
        depth = (int64_t)kiln_tview_get_double(&in[1], 0);
        if (depth < 1)
            return kiln_shape_error(node, "depth %lld must be positive", (long long)depth);
    }
    for (int32_t i = 0, j = 0; i <= r; i++) out[0].dims[i] = i == axis ? depth : in[0].dims[j++];
    out[0].rank = r + 1;
    return KILN_OK;
}

kiln_status kiln_shape_TopK(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                            kiln_tview *out, int32_t n_out) {
    int32_t r = in[0].rank, axis = 0;
    int64_t k = -1;
    int k_known = 0;
    if (node->opset < 10) {
        const kiln_attr *ka = kiln_node_attr(node, "k");
        if (!ka) return kiln_shape_error(node, "attribute k is required");
        k = ka->i;
        k_known = 1;
    } else {
        KILN_TRY(kiln_tensor_require(node, in, n_in, 1, "K"));
        if (!kiln_tensor_is_int(in[1].dtype) || in[1].rank > 1 || kiln_tview_count(&in[1]) > 1)
            return kiln_shape_error(node, "K must be a single integer");
        if (in[1].data) {
            k = kiln_tview_get_int(&in[1], 0);
            k_known = 1;
        }
    }
    if (k_known && k < 0) return kiln_shape_error(node, "k %lld is negative", (long long)k);
    if (r >= 0) {
        if (r == 0) return kiln_shape_error(node, "input must have rank >= 1");
        KILN_TRY(kiln_tensor_axis(node, "axis", kiln_attr_int(node, "axis", -1), r, &axis));
        if (k >= 0 && in[0].dims[axis] >= 0 && k > in[0].dims[axis])
            return kiln_shape_error(node, "k %lld exceeds axis %d's size %lld", (long long)k,
                                    (int)axis, (long long)in[0].dims[axis]);
    }
    for (int32_t o = 0; o < n_out && o < 2; o++) {
        if (!kiln_tview_present(&out[o])) continue;
        out[o].dtype = o == 0 ? in[0].dtype : KILN_DTYPE_INT64;
        out[o].rank = r;
        if (r < 0) continue;
        memcpy(out[o].dims, in[0].dims, sizeof out[o].dims);
        out[o].dims[axis] = k;
    }
    return KILN_OK;
}

kiln_status kiln_shape_Unique(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                              kiln_tview *out, int32_t n_out) {
    (void)n_in;
    const kiln_attr *axis_attr = kiln_node_attr(node, "axis");
    int32_t axis = 0, r = in[0].rank;
    int runtime = in[0].data != NULL;
    if (r >= 0 && axis_attr) {
        if (r == 0) return kiln_shape_error(node, "axis given for a scalar input");
        KILN_TRY(kiln_tensor_axis(node, "axis", axis_attr->i, r, &axis));
    }
    int64_t n = r < 0 ? -1 : axis_attr ? in[0].dims[axis] : kiln_tview_count(&in[0]);
    for (int32_t o = 0; o < n_out && o < 4; o++) {
        if (!kiln_tview_present(&out[o])) continue;
        out[o].dtype = o == 0 ? in[0].dtype : KILN_DTYPE_INT64;
        out[o].rank = 1;
        out[o].dims[0] = -1;
        if (o == 2) { /* inverse_indices: one per input element (or slice) */
            out[o].dims[0] = n;
            continue;
        }
        if (runtime || r < 0)
            out[o].rank = -1; /* data-dependent: the kernel sizes it */
        else if (o == 0 && axis_attr) {
            out[o].rank = r;
            memcpy(out[o].dims, in[0].dims, sizeof out[o].dims);
            out[o].dims[axis] = -1;
        }
    }
    return KILN_OK;
}

kiln_status kiln_shape_ReverseSequence(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                       kiln_tview *out, int32_t n_out) {
    (void)n_in;
    (void)n_out;
    int64_t ta = kiln_attr_int(node, "time_axis", 0), ba = kiln_attr_int(node, "batch_axis", 1);
    out[0].dtype = in[0].dtype;
    out[0].rank = in[0].rank;
    memcpy(out[0].dims, in[0].dims, sizeof out[0].dims);
    if ((ta != 0 && ta != 1) || (ba != 0 && ba != 1) || ta == ba)
        return kiln_shape_error(node, "time_axis and batch_axis must be 0 and 1 in some order");
    if (in[1].dtype != KILN_DTYPE_INT64 && in[1].dtype != KILN_DTYPE_INT32)
        return kiln_shape_error(node, "sequence_lens must be int64");
    if (in[0].rank >= 0 && in[0].rank < 2)
        return kiln_shape_error(node, "input must have rank >= 2");
    if (in[1].rank >= 0 && in[1].rank != 1)
        return kiln_shape_error(node, "sequence_lens must be 1-D");
    if (in[0].rank >= 2 && in[1].rank == 1 && in[0].dims[ba] >= 0 && in[1].dims[0] >= 0 &&
        in[0].dims[ba] != in[1].dims[0])
        return kiln_shape_error(node, "sequence_lens has %lld values for batch size %lld",
                                (long long)in[1].dims[0], (long long)in[0].dims[ba]);
    return KILN_OK;
}

kiln_status kiln_shape_Trilu(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                             kiln_tview *out, int32_t n_out) {
    (void)n_out;
    out[0].dtype = in[0].dtype;
    out[0].rank = in[0].rank;
    memcpy(out[0].dims, in[0].dims, sizeof out[0].dims);
    if (in[0].rank >= 0 && in[0].rank < 2)
        return kiln_shape_error(node, "input must have rank >= 2");
    if (kiln_tensor_has_input(in, n_in, 1) &&
        (!kiln_tensor_is_int(in[1].dtype) || kiln_tview_count(&in[1]) > 1))
        return kiln_shape_error(node, "k must be a single integer");
    return KILN_OK;
}

/* CumSum / CumProd: same shape; the axis input, when known, must be in range. */
static kiln_status kiln_cumulative_shape(const kiln_node *node, const kiln_tview *in,
                                         kiln_tview *out) {
    out[0].dtype = in[0].dtype;
    out[0].rank = in[0].rank;
    memcpy(out[0].dims, in[0].dims, sizeof out[0].dims);
    if (in[1].dtype != KILN_DTYPE_INT32 && in[1].dtype != KILN_DTYPE_INT64)
        return kiln_shape_error(node, "axis must be int32 or int64");
    if (kiln_tview_count(&in[1]) > 1 || in[1].rank > 1)
        return kiln_shape_error(node, "axis must be a single value");
    if (in[1].data && in[0].rank >= 0) {
        int32_t axis;
        KILN_TRY(kiln_tensor_axis(node, "axis", kiln_tview_get_int(&in[1], 0),
                                  in[0].rank ? in[0].rank : 1, &axis));
    }
    return KILN_OK;
}

kiln_status kiln_shape_CumSum(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                              kiln_tview *out, int32_t n_out) {
    (void)n_in;
    (void)n_out;
    return kiln_cumulative_shape(node, in, out);
}

kiln_status kiln_shape_CumProd(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                               kiln_tview *out, int32_t n_out) {
    (void)n_in;
    (void)n_out;
    return kiln_cumulative_shape(node, in, out);
}
