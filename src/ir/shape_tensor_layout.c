/* Tensor family shape functions: ops that move data between positions (Transpose, Concat,
 * Split, Slice, DepthToSpace, SpaceToDepth, Pad, CenterCropPad). */
#include <stdlib.h>
#include <string.h>

#include "ir/shape_tensor.h"

kiln_status kiln_shape_Transpose(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                 kiln_tview *out, int32_t n_out) {
    (void)n_in;
    (void)n_out;
    int32_t rank = in[0].rank, np = 0;
    out[0].dtype = in[0].dtype;
    out[0].rank = rank;
    if (rank < 0) return KILN_OK;
    const int64_t *perm = kiln_attr_ints(node, "perm", &np);
    if (perm && np != rank)
        return kiln_shape_error(node, "perm has %d values for rank %d input", (int)np, (int)rank);
    int seen[KILN_MAX_DIMS] = {0};
    for (int32_t i = 0; i < rank; i++) {
        int64_t p = perm ? perm[i] : rank - 1 - i;
        if (p < 0 || p >= rank || seen[p])
            return kiln_shape_error(node, "perm is not a permutation of 0..%d", (int)rank - 1);
        seen[p] = 1;
        out[0].dims[i] = in[0].dims[p];
    }
    return KILN_OK;
}

kiln_status kiln_shape_Concat(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                              kiln_tview *out, int32_t n_out) {
    (void)n_out;
    const kiln_tview *first = NULL;
    for (int32_t i = 0; i < n_in; i++) {
        if (!kiln_tview_present(&in[i]))
            return kiln_shape_error(node, "input %d is missing", (int)i);
        if (in[i].dtype != in[0].dtype)
            return kiln_shape_error(node, "input %d is %s but input 0 is %s", (int)i,
                                    kiln_dtype_name(in[i].dtype), kiln_dtype_name(in[0].dtype));
        if (!first && in[i].rank >= 0) first = &in[i];
    }
    out[0].dtype = in[0].dtype;
    if (!first) {
        out[0].rank = -1;
        return KILN_OK;
    }
    int32_t rank = first->rank, axis;
    if (rank == 0) return kiln_shape_error(node, "cannot concatenate scalars");
    KILN_TRY(kiln_tensor_axis(node, "axis", kiln_attr_int(node, "axis", 1), rank, &axis));
    out[0].rank = rank;
    memcpy(out[0].dims, first->dims, sizeof out[0].dims);
    out[0].dims[axis] = 0;
    for (int32_t i = 0; i < n_in; i++) {
        if (in[i].rank < 0) {
            out[0].dims[axis] = -1;
            continue;
        }
        if (in[i].rank != rank)
            return kiln_shape_error(node, "input %d has rank %d but input 0 has rank %d", (int)i,
                                    (int)in[i].rank, (int)rank);
        for (int32_t d = 0; d < rank; d++) {
            if (d == axis) continue;
            int64_t a = out[0].dims[d], b = in[i].dims[d];
            if (a >= 0 && b >= 0 && a != b)
                return kiln_shape_error(node, "input %d has size %lld on axis %d, expected %lld",
                                        (int)i, (long long)b, (int)d, (long long)a);
            if (a < 0) out[0].dims[d] = b;
        }
        if (out[0].dims[axis] >= 0)
            out[0].dims[axis] = in[i].dims[axis] < 0 ? -1 : out[0].dims[axis] + in[i].dims[axis];
    }
    return KILN_OK;
}

kiln_status kiln_shape_Split(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                             kiln_tview *out, int32_t n_out) {
    int32_t axis = 0;
    int known = 1;
    int64_t *sizes = malloc((size_t)(n_out > 0 ? n_out : 1) * sizeof *sizes);
    if (!sizes) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
    kiln_status st = kiln_tensor_split_sizes(node, in, n_in, n_out, &axis, sizes, &known);
    for (int32_t i = 0; st == KILN_OK && i < n_out; i++) {
        if (!kiln_tview_present(&out[i])) continue;
        out[i].dtype = in[0].dtype;
        out[i].rank = in[0].rank;
        if (in[0].rank < 0) continue;
        memcpy(out[i].dims, in[0].dims, sizeof out[i].dims);
        out[i].dims[axis] = known ? sizes[i] : -1;
    }
    free(sizes);
    return st;
}

kiln_status kiln_shape_Slice(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                             kiln_tview *out, int32_t n_out) {
    (void)n_out;
    kiln_slice_params p;
    int known = 1;
    out[0].dtype = in[0].dtype;
    out[0].rank = in[0].rank;
    KILN_TRY(kiln_tensor_slice_params(node, in, n_in, &p, &known));
    if (in[0].rank < 0) return KILN_OK;
    for (int32_t d = 0; d < in[0].rank; d++) out[0].dims[d] = known ? p.count[d] : -1;
    return KILN_OK;
}

/* DepthToSpace / SpaceToDepth: both need a 4-D input and a positive blocksize. */
static kiln_status kiln_block_args(const kiln_node *node, const kiln_tview *x, int64_t *b) {
    *b = kiln_attr_int(node, "blocksize", 0);
    if (*b <= 0) return kiln_shape_error(node, "blocksize must be positive");
    if (x->rank >= 0 && x->rank != 4)
        return kiln_shape_error(node, "input must be 4-D (NCHW), got rank %d", (int)x->rank);
    return KILN_OK;
}

kiln_status kiln_shape_DepthToSpace(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                    kiln_tview *out, int32_t n_out) {
    (void)n_in;
    (void)n_out;
    int64_t b;
    KILN_TRY(kiln_block_args(node, &in[0], &b));
    const char *mode = kiln_attr_string(node, "mode", "DCR");
    if (strcmp(mode, "DCR") && strcmp(mode, "CRD"))
        return kiln_shape_error(node, "mode '%s' is not DCR or CRD", mode);
    out[0].dtype = in[0].dtype;
    out[0].rank = in[0].rank;
    if (in[0].rank < 0) return KILN_OK;
    const int64_t *d = in[0].dims;
    if (d[1] >= 0 && d[1] % (b * b))
        return kiln_shape_error(node, "channels %lld are not divisible by blocksize^2 = %lld",
                                (long long)d[1], (long long)(b * b));
    out[0].dims[0] = d[0];
    out[0].dims[1] = d[1] < 0 ? -1 : d[1] / (b * b);
    out[0].dims[2] = d[2] < 0 ? -1 : d[2] * b;
    out[0].dims[3] = d[3] < 0 ? -1 : d[3] * b;
    return KILN_OK;
}

kiln_status kiln_shape_SpaceToDepth(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                    kiln_tview *out, int32_t n_out) {
    (void)n_in;
    (void)n_out;
    int64_t b;
    KILN_TRY(kiln_block_args(node, &in[0], &b));
    out[0].dtype = in[0].dtype;
    out[0].rank = in[0].rank;
    if (in[0].rank < 0) return KILN_OK;
    const int64_t *d = in[0].dims;
    for (int i = 2; i < 4; i++)
        if (d[i] >= 0 && d[i] % b)
            return kiln_shape_error(node, "dim %d (%lld) is not divisible by blocksize %lld", i,
                                    (long long)d[i], (long long)b);
    out[0].dims[0] = d[0];
    out[0].dims[1] = d[1] < 0 ? -1 : d[1] * b * b;
    out[0].dims[2] = d[2] < 0 ? -1 : d[2] / b;
    out[0].dims[3] = d[3] < 0 ? -1 : d[3] / b;
    return KILN_OK;
}

kiln_status kiln_shape_Pad(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                           kiln_tview *out, int32_t n_out) {
    (void)n_out;
    int64_t begin[KILN_MAX_DIMS], end[KILN_MAX_DIMS];
    kiln_pad_mode mode;
    int known = 1;
    out[0].dtype = in[0].dtype;
    out[0].rank = in[0].rank;
    KILN_TRY(kiln_tensor_pad_params(node, in, n_in, begin, end, &mode, &known));
    if (kiln_tensor_has_input(in, n_in, 2) && node->opset >= 11) {
        if (in[2].dtype != in[0].dtype)
            return kiln_shape_error(node, "constant_value is %s but data is %s",
                                    kiln_dtype_name(in[2].dtype), kiln_dtype_name(in[0].dtype));
        if (kiln_tview_count(&in[2]) > 1)
            return kiln_shape_error(node, "constant_value must hold one value");
    }
    if (in[0].rank < 0) return KILN_OK;
    for (int32_t d = 0; d < in[0].rank; d++) {
        int64_t dim = in[0].dims[d];
        if (!known || dim < 0) {
            out[0].dims[d] = -1;
            continue;
        }
        int64_t o = dim + begin[d] + end[d];
        if (o < 0)
            return kiln_shape_error(node, "pads remove more than the %lld elements of axis %d",
                                    (long long)dim, (int)d);
        if (mode != KILN_PAD_CONSTANT && (begin[d] > 0 || end[d] > 0) &&
            dim + (begin[d] < 0 ? begin[d] : 0) + (end[d] < 0 ? end[d] : 0) <= 0)
            return kiln_shape_error(node, "cannot pad empty axis %d in a non-constant mode",
                                    (int)d);
        out[0].dims[d] = o;
    }
    return KILN_OK;
}

kiln_status kiln_shape_CenterCropPad(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                     kiln_tview *out, int32_t n_out) {
    (void)n_out;
    int64_t offset[KILN_MAX_DIMS];
    int known = 1;
    out[0].dtype = in[0].dtype;
    out[0].rank = in[0].rank;
    KILN_TRY(kiln_tensor_center_crop_offsets(node, in, n_in, out[0].dims, offset, &known));
    if (!known && in[0].rank >= 0)
        for (int32_t d = 0; d < in[0].rank; d++) out[0].dims[d] = -1;
    return KILN_OK;
}
