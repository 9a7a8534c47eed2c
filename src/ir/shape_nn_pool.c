/* NN family shape functions: MaxPool, AveragePool, LpPool, the global pools, MaxUnpool. */
#include "ir/shape_nn.h"

static kiln_status pool_shape(const kiln_node *node, const kiln_tview *x, kiln_tview *out,
                              int32_t n_out) {
    out[0].dtype = x->dtype;
    if (x->rank < 0) {
        out[0].rank = -1;
        if (n_out > 1 && kiln_tview_present(&out[1])) {
            out[1].dtype = KILN_DTYPE_INT64;
            out[1].rank = -1;
        }
        return KILN_OK;
    }
    if (x->rank < 3) return kiln_shape_error(node, "X must be at least 3-D (N, C, spatial...)");
    kiln_nn_window w;
    KILN_TRY(kiln_nn_window_init(node, x->rank - 2, x->dims + 2, NULL, 1, &w));
    out[0].rank = x->rank;
    out[0].dims[0] = x->dims[0];
    out[0].dims[1] = x->dims[1];
    for (int32_t i = 0; i < w.n; i++) out[0].dims[2 + i] = w.out[i];
    if (n_out > 1 && kiln_tview_present(&out[1])) {
        out[1] = out[0];
        out[1].data = NULL;
        out[1].dtype = KILN_DTYPE_INT64;
    }
    return KILN_OK;
}

kiln_status kiln_shape_MaxPool(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                               kiln_tview *out, int32_t n_out) {
    kiln_dtype t = in[0].dtype;
    if (!kiln_nn_is_float(t) && t != KILN_DTYPE_INT8 && t != KILN_DTYPE_UINT8)
        return kiln_shape_error(node, "dtype %s not allowed", kiln_dtype_name(t));
    return pool_shape(node, &in[0], out, n_out);
}

kiln_status kiln_shape_AveragePool(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                   kiln_tview *out, int32_t n_out) {
    return pool_shape(node, &in[0], out, 1);
}

kiln_status kiln_shape_LpPool(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                              kiln_tview *out, int32_t n_out) {
    return pool_shape(node, &in[0], out, 1);
}

static kiln_status global_shape(const kiln_node *node, const kiln_tview *x, kiln_tview *y) {
    y->dtype = x->dtype;
    y->rank = x->rank;
    if (x->rank < 0) return KILN_OK;
    if (x->rank < 2) return kiln_shape_error(node, "X must be at least 2-D (N, C, ...)");
    for (int32_t i = 0; i < x->rank; i++) y->dims[i] = i < 2 ? x->dims[i] : 1;
    return KILN_OK;
}

kiln_status kiln_shape_GlobalAveragePool(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                         kiln_tview *out, int32_t n_out) {
    return global_shape(node, &in[0], &out[0]);
}

kiln_status kiln_shape_GlobalMaxPool(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                     kiln_tview *out, int32_t n_out) {
    return global_shape(node, &in[0], &out[0]);
}

kiln_status kiln_shape_GlobalLpPool(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                    kiln_tview *out, int32_t n_out) {
    return global_shape(node, &in[0], &out[0]);
}

kiln_status kiln_shape_MaxUnpool(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                 kiln_tview *out, int32_t n_out) {
    const kiln_tview *x = &in[0];
    out[0].dtype = x->dtype;
    if (in[1].dtype != KILN_DTYPE_INT64) return kiln_shape_error(node, "I must be int64");
    const kiln_tview *os = n_in > 2 && kiln_tview_present(&in[2]) ? &in[2] : NULL;
    if (os) {
        if (os->rank != 1) return kiln_shape_error(node, "output_shape must be 1-D");
        out[0].rank = (int32_t)os->dims[0];
        if (out[0].rank < 0 || out[0].rank > KILN_MAX_DIMS)
            return kiln_shape_error(node, "bad output_shape length");
        for (int32_t i = 0; i < out[0].rank; i++)
            out[0].dims[i] = os->data ? kiln_tview_get_int(os, i) : -1;
        return KILN_OK;
    }
    if (x->rank < 0) {
        out[0].rank = -1;
        return KILN_OK;
    }
    if (x->rank < 3) return kiln_shape_error(node, "X must be at least 3-D (N, C, spatial...)");
    kiln_nn_window w;
    int64_t unknown[KILN_MAX_DIMS] = {-1, -1, -1, -1, -1, -1, -1, -1}; /* attributes only */
    KILN_TRY(kiln_nn_window_init(node, x->rank - 2, unknown, NULL, 0, &w));
    out[0].rank = x->rank;
    out[0].dims[0] = x->dims[0];
    out[0].dims[1] = x->dims[1];
    for (int32_t i = 0; i < w.n; i++) {
        int64_t d = x->dims[2 + i];
        out[0].dims[2 + i] =
            d < 0 ? -1 : (d - 1) * w.stride[i] - w.pad_begin[i] - w.pad_end[i] + w.kernel[i];
    }
    return KILN_OK;
}
