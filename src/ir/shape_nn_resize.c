/*
 * NN family shape functions: Resize, Upsample, GridSample, AffineGrid; plus the Resize
 * parameter resolution the CPU kernel shares.
 *
 * Inputs by opset: Upsample-7 scales attribute, Upsample-9 / Resize-10 (X, scales),
 * Resize-11+ (X, roi, scales, sizes) with empty or omitted scales meaning "use sizes";
 * Resize-18 adds the axes and keep_aspect_ratio_policy attributes.
 */
#include <math.h>
#include <string.h>

#include "ir/shape_nn.h"

static const kiln_tview *given(const kiln_tview *in, int32_t n_in, int32_t i) {
    if (i >= n_in || !kiln_tview_present(&in[i])) return NULL;
    if (in[i].rank >= 0 && kiln_tview_count(&in[i]) == 0) return NULL; /* empty: not given */
    return &in[i];
}

kiln_status kiln_nn_resize_params_init(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                       kiln_nn_resize_params *p) {
    const kiln_tview *x = &in[0];
    int32_t r = x->rank;
    memset(p, 0, sizeof *p);
    p->rank = r;
    p->known = 1;
    for (int32_t d = 0; d < r; d++) {
        p->scale[d] = 1.0;
        p->out[d] = x->dims[d];
        p->roi_start[d] = 0.0;
        p->roi_end[d] = 1.0;
    }
    const kiln_tview *scales = NULL, *sizes = NULL, *roi = NULL;
    const float *attr_scales = NULL;
    int32_t attr_cnt = 0;
    if (node->op == KILN_OP_Upsample && node->opset < 9) {
        attr_scales = kiln_attr_floats(node, "scales", &attr_cnt);
        if (!attr_scales) return kiln_shape_error(node, "scales attribute missing");
    } else if (node->op == KILN_OP_Upsample || node->opset < 11) {
        scales = given(in, n_in, 1);
    } else {
        roi = given(in, n_in, 1);
        scales = given(in, n_in, 2);
        sizes = given(in, n_in, 3);
    }
    int32_t naxes = r, cnt = 0;
    int32_t axes[KILN_MAX_DIMS];
    const int64_t *ax = kiln_attr_ints(node, "axes", &cnt);
    if (ax) {
        if (cnt > r) return kiln_shape_error(node, "too many axes");
        naxes = cnt;
        for (int32_t i = 0; i < cnt; i++) {
            axes[i] = kiln_nn_axis(ax[i], r);
            if (axes[i] < 0) return kiln_shape_error(node, "axis out of range");
        }
    } else {
        for (int32_t i = 0; i < r; i++) axes[i] = i;
    }
    if (sizes) {
        if (sizes->rank != 1 || (sizes->dims[0] >= 0 && sizes->dims[0] != naxes))
            return kiln_shape_error(node, "sizes must have %d values", (int)naxes);
        if (!sizes->data) {
            p->known = 0;
            return KILN_OK;
        }
        const char *policy = kiln_attr_string(node, "keep_aspect_ratio_policy", "stretch");
        int not_larger = !strcmp(policy, "not_larger"),
            not_smaller = !strcmp(policy, "not_smaller");
        if (!not_larger && !not_smaller && strcmp(policy, "stretch"))
            return kiln_shape_error(node, "unknown keep_aspect_ratio_policy '%s'", policy);
        double pick = not_larger ? INFINITY : -INFINITY;
        for (int32_t i = 0; i < naxes; i++) {
            int32_t d = axes[i];
            int64_t sz = kiln_tview_get_int(sizes, i);
            if (sz < 0) return kiln_shape_error(node, "negative size");
            p->out[d] = sz;
            p->scale[d] = x->dims[d] > 0 ? (double)sz / (double)x->dims[d] : 1.0;
            if (not_larger && p->scale[d] < pick) pick = p->scale[d];
            if (not_smaller && p->scale[d] > pick) pick = p->scale[d];
        }
        if (not_larger || not_smaller)
            for (int32_t i = 0; i < naxes; i++) {
                int32_t d = axes[i];
                p->scale[d] = pick;
                p->out[d] = (int64_t)(pick * (double)x->dims[d] + 0.5);
            }
    } else if (scales || attr_scales) {
        int32_t n = attr_scales ? attr_cnt : (int32_t)scales->dims[0];
        if ((scales && scales->rank != 1) || (n >= 0 && n != naxes))
            return kiln_shape_error(node, "scales must have %d values", (int)naxes);
        if (scales && !scales->data) {
            p->known = 0;
            return KILN_OK;
        }
        for (int32_t i = 0; i < naxes; i++) {
            int32_t d = axes[i];
            double s = attr_scales ? attr_scales[i] : kiln_tview_get_double(scales, i);
            if (!(s > 0.0)) return kiln_shape_error(node, "scales must be positive");
            p->scale[d] = s;
            p->out[d] = x->dims[d] < 0 ? -1 : (int64_t)floor(s * (double)x->dims[d]);
        }
    } else {
        return kiln_shape_error(node, "one of scales and sizes must be given");
    }
    if (roi && roi->data) {
        int64_t rc = kiln_tview_count(roi);
        if (rc == 2 * naxes)
            for (int32_t i = 0; i < naxes; i++) {
                p->roi_start[axes[i]] = kiln_tview_get_double(roi, i);
                p->roi_end[axes[i]] = kiln_tview_get_double(roi, naxes + i);
            }
    }
    return KILN_OK;
}

static kiln_status resize_shape(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                kiln_tview *out) {
    out[0].dtype = in[0].dtype;
    out[0].rank = in[0].rank;
    if (in[0].rank < 0) return KILN_OK;
    kiln_nn_resize_params p;
    KILN_TRY(kiln_nn_resize_params_init(node, in, n_in, &p));
    for (int32_t d = 0; d < in[0].rank; d++) out[0].dims[d] = p.known ? p.out[d] : -1;
    return KILN_OK;
}

kiln_status kiln_shape_Resize(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                              kiln_tview *out, int32_t n_out) {
    return resize_shape(node, in, n_in, out);
}

kiln_status kiln_shape_Upsample(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                kiln_tview *out, int32_t n_out) {
    return resize_shape(node, in, n_in, out);
}

kiln_status kiln_shape_GridSample(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                  kiln_tview *out, int32_t n_out) {
    const kiln_tview *x = &in[0], *grid = &in[1];
    out[0].dtype = x->dtype;
    if (x->rank < 0 || grid->rank < 0) {
        out[0].rank = -1;
        return KILN_OK;
    }
    if (x->rank < 3 || grid->rank != x->rank)
        return kiln_shape_error(node, "X (N, C, spatial...) and grid (N, spatial..., n) ranks");
    if (grid->dims[x->rank - 1] >= 0 && grid->dims[x->rank - 1] != x->rank - 2)
        return kiln_shape_error(node, "grid's last dim must be %d", (int)(x->rank - 2));
    out[0].rank = x->rank;
    out[0].dims[0] = x->dims[0];
    out[0].dims[1] = x->dims[1];
    for (int32_t i = 2; i < x->rank; i++) out[0].dims[i] = grid->dims[i - 1];
    return KILN_OK;
}

kiln_status kiln_shape_AffineGrid(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                  kiln_tview *out, int32_t n_out) {
    const kiln_tview *theta = &in[0], *size = &in[1];
    out[0].dtype = theta->dtype;
    if (size->rank != 1 || (size->dims[0] != 4 && size->dims[0] != 5))
        return kiln_shape_error(node, "size must be (N, C, H, W) or (N, C, D, H, W)");
    int32_t n = (int32_t)size->dims[0] - 2;
    out[0].rank = n + 2;
    for (int32_t i = 0; i < n + 2; i++) out[0].dims[i] = -1;
    out[0].dims[n + 1] = n;
    if (!size->data) return KILN_OK;
    out[0].dims[0] = kiln_tview_get_int(size, 0);
    for (int32_t i = 0; i < n; i++) out[0].dims[1 + i] = kiln_tview_get_int(size, 2 + i);
    return KILN_OK;
}
