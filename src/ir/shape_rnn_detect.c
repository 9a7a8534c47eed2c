/* Detection ops' shape functions: NonMaxSuppression (data-dependent output) and RoiAlign. */
#include <string.h>

#include "ir/tview.h"

static int detect_is_float(kiln_dtype dt) {
    return dt == KILN_DTYPE_FLOAT32 || dt == KILN_DTYPE_FLOAT64 || dt == KILN_DTYPE_FLOAT16 ||
           dt == KILN_DTYPE_BFLOAT16;
}

/* A scalar-like optional input (rank 0, or 1-D holding at most one value). */
static kiln_status detect_scalar_input(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                       int32_t i, const char *name, int want_int) {
    if (i >= n_in || !kiln_tview_present(&in[i])) return KILN_OK;
    const kiln_tview *t = &in[i];
    int ok = want_int ? (t->dtype == KILN_DTYPE_INT64 || t->dtype == KILN_DTYPE_INT32)
                      : detect_is_float(t->dtype);
    if (!ok)
        return kiln_shape_error(node, "%s must be %s, got %s", name, want_int ? "int64" : "float",
                                kiln_dtype_name(t->dtype));
    if (t->rank > 1 || (t->rank == 1 && t->dims[0] > 1))
        return kiln_shape_error(node, "%s must be a scalar or a 1-element tensor", name);
    return KILN_OK;
}

kiln_status kiln_shape_NonMaxSuppression(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                         kiln_tview *out, int32_t n_out) {
    (void)n_out;
    const kiln_tview *boxes = &in[0], *scores = &in[1];
    if (!detect_is_float(boxes->dtype))
        return kiln_shape_error(node, "boxes must be float, got %s", kiln_dtype_name(boxes->dtype));
    if (scores->dtype != boxes->dtype)
        return kiln_shape_error(node, "scores must be %s like boxes, got %s",
                                kiln_dtype_name(boxes->dtype), kiln_dtype_name(scores->dtype));
    if (boxes->rank >= 0 && boxes->rank != 3)
        return kiln_shape_error(node, "boxes must have rank 3, got %d", (int)boxes->rank);
    if (scores->rank >= 0 && scores->rank != 3)
        return kiln_shape_error(node, "scores must have rank 3, got %d", (int)scores->rank);
    if (boxes->rank == 3 && boxes->dims[2] >= 0 && boxes->dims[2] != 4)
        return kiln_shape_error(node, "boxes must be [batches, boxes, 4], got last dim %lld",
                                (long long)boxes->dims[2]);
    if (boxes->rank == 3 && scores->rank == 3) {
        if (boxes->dims[0] >= 0 && scores->dims[0] >= 0 && boxes->dims[0] != scores->dims[0])
            return kiln_shape_error(node, "boxes have %lld batches, scores %lld",
                                    (long long)boxes->dims[0], (long long)scores->dims[0]);
        if (boxes->dims[1] >= 0 && scores->dims[2] >= 0 && boxes->dims[1] != scores->dims[2])
            return kiln_shape_error(node, "boxes hold %lld boxes per batch, scores %lld",
                                    (long long)boxes->dims[1], (long long)scores->dims[2]);
    }
    int64_t cpb = kiln_attr_int(node, "center_point_box", 0);
    if (cpb != 0 && cpb != 1)
        return kiln_shape_error(node, "center_point_box must be 0 or 1, got %lld", (long long)cpb);
    KILN_TRY(detect_scalar_input(node, in, n_in, 2, "max_output_boxes_per_class", 1));
    KILN_TRY(detect_scalar_input(node, in, n_in, 3, "iou_threshold", 0));
    KILN_TRY(detect_scalar_input(node, in, n_in, 4, "score_threshold", 0));
    out[0].dtype = KILN_DTYPE_INT64;
    if (boxes->data) { /* run time: the kernel sizes the output */
        out[0].rank = -1;
        return KILN_OK;
    }
    out[0].rank = 2;
    out[0].dims[0] = -1;
    out[0].dims[1] = 3;
    return KILN_OK;
}

kiln_status kiln_shape_RoiAlign(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                kiln_tview *out, int32_t n_out) {
    (void)n_in;
    (void)n_out;
    const kiln_tview *x = &in[0], *rois = &in[1], *bi = &in[2];
    if (!detect_is_float(x->dtype))
        return kiln_shape_error(node, "X must be float, got %s", kiln_dtype_name(x->dtype));
    if (rois->dtype != x->dtype)
        return kiln_shape_error(node, "rois must be %s like X, got %s", kiln_dtype_name(x->dtype),
                                kiln_dtype_name(rois->dtype));
    if (bi->dtype != KILN_DTYPE_INT64 && bi->dtype != KILN_DTYPE_INT32)
        return kiln_shape_error(node, "batch_indices must be int64, got %s",
                                kiln_dtype_name(bi->dtype));
    if (x->rank >= 0 && x->rank != 4)
        return kiln_shape_error(node, "X must have rank 4 (N, C, H, W), got %d", (int)x->rank);
    if (rois->rank >= 0 && rois->rank != 2)
        return kiln_shape_error(node, "rois must have rank 2, got %d", (int)rois->rank);
    if (bi->rank >= 0 && bi->rank != 1)
        return kiln_shape_error(node, "batch_indices must have rank 1, got %d", (int)bi->rank);
    if (rois->rank == 2 && rois->dims[1] >= 0 && rois->dims[1] != 4)
        return kiln_shape_error(node, "rois must be [num_rois, 4], got last dim %lld",
                                (long long)rois->dims[1]);
    int64_t num = rois->rank == 2 ? rois->dims[0] : -1;
    if (bi->rank == 1 && bi->dims[0] >= 0) {
        if (num >= 0 && num != bi->dims[0])
            return kiln_shape_error(node, "%lld rois but %lld batch_indices", (long long)num,
                                    (long long)bi->dims[0]);
        num = bi->dims[0];
    }
    const char *mode = kiln_attr_string(node, "mode", "avg");
    if (strcmp(mode, "avg") != 0 && strcmp(mode, "max") != 0)
        return kiln_shape_error(node, "mode must be avg or max, got '%s'", mode);
    const char *ctm = kiln_attr_string(node, "coordinate_transformation_mode", "half_pixel");
    if (strcmp(ctm, "half_pixel") != 0 && strcmp(ctm, "output_half_pixel") != 0)
        return kiln_shape_error(node, "unknown coordinate_transformation_mode '%s'", ctm);
    int64_t oh = kiln_attr_int(node, "output_height", 1),
            ow = kiln_attr_int(node, "output_width", 1);
    if (oh <= 0 || ow <= 0)
        return kiln_shape_error(node, "output_height and output_width must be positive");
    if (kiln_attr_int(node, "sampling_ratio", 0) < 0)
        return kiln_shape_error(node, "sampling_ratio must be >= 0");
    out[0].dtype = x->dtype;
    out[0].rank = 4;
    out[0].dims[0] = num;
    out[0].dims[1] = x->rank == 4 ? x->dims[1] : -1;
    out[0].dims[2] = oh;
    out[0].dims[3] = ow;
    return KILN_OK;
}
