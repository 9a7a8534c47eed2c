/*
 * NonMaxSuppression: per batch and class, boxes above score_threshold in descending score
 * order (ties: lower box index first) are kept unless their IoU with an already kept box
 * of that class exceeds iou_threshold, up to max_output_boxes_per_class. The output,
 * [selected, 3] rows of (batch, class, box), is data-dependent in size. The IoU arithmetic
 * is float, as onnxruntime and the ONNX reference do, so threshold ties decide alike.
 */
#include <stdlib.h>

#include "backends/cpu/nn_common.h"

typedef struct nms_cand {
    float score;
    int64_t index;
} nms_cand;

/* Descending score, then ascending index. */
static int nms_cmp(const void *pa, const void *pb) {
    const nms_cand *a = (const nms_cand *)pa, *b = (const nms_cand *)pb;
    if (a->score != b->score) return a->score > b->score ? -1 : 1;
    return (a->index > b->index) - (a->index < b->index);
}

/* A box as (x_min, y_min, x_max, y_max) from either encoding. */
typedef struct nms_box {
    float x0, y0, x1, y1;
} nms_box;

static nms_box nms_corners(const float *b, int center) {
    nms_box r;
    if (center) { /* [x_center, y_center, width, height] */
        float hw = b[2] / 2, hh = b[3] / 2;
        r.x0 = b[0] - hw;
        r.x1 = b[0] + hw;
        r.y0 = b[1] - hh;
        r.y1 = b[1] + hh;
    } else { /* [y1, x1, y2, x2], either corner pair */
        r.y0 = b[0] < b[2] ? b[0] : b[2];
        r.y1 = b[0] < b[2] ? b[2] : b[0];
        r.x0 = b[1] < b[3] ? b[1] : b[3];
        r.x1 = b[1] < b[3] ? b[3] : b[1];
    }
    return r;
}

/* Whether a and b overlap by more than the threshold (IoU > threshold). */
static int nms_suppress(const nms_box *a, const nms_box *b, float iou_threshold) {
    float ix0 = a->x0 > b->x0 ? a->x0 : b->x0, ix1 = a->x1 < b->x1 ? a->x1 : b->x1;
    if (ix1 <= ix0) return 0;
    float iy0 = a->y0 > b->y0 ? a->y0 : b->y0, iy1 = a->y1 < b->y1 ? a->y1 : b->y1;
    if (iy1 <= iy0) return 0;
    float inter = (ix1 - ix0) * (iy1 - iy0);
    if (inter <= 0) return 0;
    float area_a = (a->x1 - a->x0) * (a->y1 - a->y0), area_b = (b->x1 - b->x0) * (b->y1 - b->y0);
    float uni = area_a + area_b - inter;
    if (area_a <= 0 || area_b <= 0 || uni <= 0) return 0;
    return inter / uni > iou_threshold;
}

static int nms_has(const kiln_tview *in, int32_t n_in, int32_t i) {
    return i < n_in && kiln_tview_present(&in[i]) && kiln_tview_count(&in[i]) > 0;
}

kiln_status kiln_cpu_NonMaxSuppression(kiln_cpu_ctx *ctx, const kiln_node *node,
                                       const kiln_tview *in, int32_t n_in, kiln_tview *out,
                                       int32_t n_out) {
    (void)n_out;
    const kiln_tview *boxes = &in[0], *scores = &in[1];
    int64_t nb = boxes->dims[0], nbox = boxes->dims[1], ncls = scores->dims[1];
    int center = kiln_attr_int(node, "center_point_box", 0) != 0;
    int64_t max_out = nms_has(in, n_in, 2) ? kiln_tview_get_int(&in[2], 0) : 0;
    float iou_thr = nms_has(in, n_in, 3) ? (float)kiln_tview_get_double(&in[3], 0) : 0.0f;
    int use_score = nms_has(in, n_in, 4);
    float score_thr = use_score ? (float)kiln_tview_get_double(&in[4], 0) : 0.0f;
    if (max_out < 0) max_out = 0;
    if (max_out > nbox) max_out = nbox;

    /* scratch: float copies of boxes and scores, every box's corners, candidates, kept
     * indices of the current class, and the selected triples (at most nb*ncls*max_out) */
    int64_t n_sel_max = nb * ncls * max_out;
    size_t bytes = kiln_nn_f32_bytes(boxes) + kiln_nn_f32_bytes(scores) +
                   kiln_nn_align((size_t)(nb * nbox) * sizeof(nms_box)) +
                   kiln_nn_align((size_t)nbox * sizeof(nms_cand)) +
                   kiln_nn_align((size_t)nbox * sizeof(int64_t)) +
                   kiln_nn_align((size_t)n_sel_max * 3 * sizeof(int64_t));
    char *cur;
    KILN_TRY(kiln_nn_scratch(ctx, node, bytes, &cur));
    const float *bf = kiln_nn_f32_in(boxes, &cur), *sf = kiln_nn_f32_in(scores, &cur);
    nms_box *corners = (nms_box *)kiln_nn_carve(&cur, (size_t)(nb * nbox) * sizeof(nms_box));
    nms_cand *cand = (nms_cand *)kiln_nn_carve(&cur, (size_t)nbox * sizeof(nms_cand));
    int64_t *kept = (int64_t *)kiln_nn_carve(&cur, (size_t)nbox * sizeof(int64_t));
    int64_t *sel = (int64_t *)kiln_nn_carve(&cur, (size_t)n_sel_max * 3 * sizeof(int64_t));
    for (int64_t i = 0; i < nb * nbox; i++) corners[i] = nms_corners(bf + i * 4, center);

    int64_t n_sel = 0;
    for (int64_t b = 0; b < nb && max_out > 0; b++) {
        const nms_box *bc = corners + b * nbox;
        for (int64_t c = 0; c < ncls; c++) {
            const float *sc = sf + (b * ncls + c) * nbox;
            int64_t n_cand = 0, n_kept = 0;
            for (int64_t i = 0; i < nbox; i++)
                if (!use_score || sc[i] > score_thr) {
                    cand[n_cand].score = sc[i];
                    cand[n_cand].index = i;
                    n_cand++;
                }
            qsort(cand, (size_t)n_cand, sizeof *cand, nms_cmp);
            for (int64_t k = 0; k < n_cand && n_kept < max_out; k++) {
                int64_t i = cand[k].index;
                int keep = 1;
                for (int64_t j = 0; j < n_kept && keep; j++)
                    if (nms_suppress(&bc[i], &bc[kept[j]], iou_thr)) keep = 0;
                if (!keep) continue;
                kept[n_kept++] = i;
                sel[n_sel * 3 + 0] = b;
                sel[n_sel * 3 + 1] = c;
                sel[n_sel * 3 + 2] = i;
                n_sel++;
            }
        }
    }
    int64_t dims[2] = {n_sel, 3};
    KILN_TRY(kiln_cpu_alloc_output(ctx, 0, 2, dims));
    int64_t *o = (int64_t *)out[0].data;
    for (int64_t i = 0; i < n_sel * 3; i++) o[i] = sel[i];
    return KILN_OK;
}
