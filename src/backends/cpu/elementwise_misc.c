/* Identity, and Dropout in inference mode (a copy, with an all-true mask). */
#include <string.h>

#include "backends/cpu/elementwise_common.h"

kiln_status kiln_cpu_ew_Identity(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                                 int32_t n_in, kiln_tview *out, int32_t n_out) {
    if (!kiln_tview_is_numeric_tensor(&in[0])) /* sequences, empty optionals, strings */
        return kiln_cpu_copy_output(ctx, 0, &in[0]);
    if (in[0].dtype != out[0].dtype)
        return kiln_node_error(KILN_ERR_UNSUPPORTED, node, "dtype %s not supported",
                               kiln_dtype_name(in[0].dtype));
    kiln_ew_copy(ctx, &in[0], &out[0]);
    return KILN_OK;
}

/* Fills a mask of `count` elements with ones of its dtype (bool since opset 10; the data
 * dtype before). */
static kiln_status kiln_ew_fill_ones(const kiln_node *node, kiln_tview *mask) {
    int64_t n = kiln_tview_count(mask);
    if (mask->dtype == KILN_DTYPE_BOOL) {
        memset(mask->data, 1, (size_t)n);
        return KILN_OK;
    }
    if (!kiln_ew_is_float(mask->dtype))
        return kiln_node_error(KILN_ERR_UNSUPPORTED, node, "mask dtype %s not supported",
                               kiln_dtype_name(mask->dtype));
    for (int64_t i = 0; i < n; i++) kiln_tview_set_double(mask, i, 1.0);
    return KILN_OK;
}

kiln_status kiln_cpu_ew_Dropout(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                                int32_t n_in, kiln_tview *out, int32_t n_out) {
    if (node->opset >= 12 && n_in > 2 && kiln_tview_present(&in[2]) &&
        kiln_tview_get_int(&in[2], 0)) {
        /* training mode drops at random: only a zero ratio is deterministic */
        double ratio = n_in > 1 && kiln_tview_present(&in[1]) ? kiln_ew_scalar_double(&in[1]) : 0.5;
        if (ratio != 0)
            return kiln_node_error(KILN_ERR_UNSUPPORTED, node,
                                   "training mode with ratio %g (random dropout) not supported",
                                   ratio);
    }
    if (in[0].dtype != out[0].dtype || !kiln_ew_size(in[0].dtype))
        return kiln_node_error(KILN_ERR_UNSUPPORTED, node, "dtype %s not supported",
                               kiln_dtype_name(in[0].dtype));
    kiln_ew_copy(ctx, &in[0], &out[0]);
    if (n_out > 1 && kiln_tview_present(&out[1])) return kiln_ew_fill_ones(node, &out[1]);
    return KILN_OK;
}
