/* Pad: constant / reflect / edge / wrap padding (negative pads crop). */
#include "backends/cpu/tensor_common.h"

kiln_status kiln_cpu_tensor_pad(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                                int32_t n_in, kiln_tview *out, int32_t n_out) {
    (void)n_out;
    size_t es;
    int64_t begin[KILN_MAX_DIMS], end[KILN_MAX_DIMS];
    kiln_pad_mode mode;
    int known = 1;
    KILN_TRY(kiln_tensor_elem_size(node, in[0].dtype, &es));
    KILN_TRY(kiln_tensor_pad_params(node, in, n_in, begin, end, &mode, &known));
    if (!known) return kiln_shape_error(node, "pads are not known at run time");
    unsigned char value[16] = {0};
    if (es > sizeof value) return kiln_node_error(KILN_ERR_UNSUPPORTED, node, "element too large");
    if (node->opset >= 11) {
        if (kiln_tensor_has_input(in, n_in, 2) && kiln_tview_count(&in[2]) == 1)
            memcpy(value, in[2].data, es);
    } else if (kiln_tensor_keyable(in[0].dtype)) {
        /* Pad-2's float `value`, converted to the data's dtype. */
        kiln_tview v = {.dtype = in[0].dtype, .rank = 0, .data = value};
        kiln_tview_set_double(&v, 0, kiln_attr_float(node, "value", 0.0f));
    }
    kiln_tensor_pad(ctx, &in[0], &out[0], begin, mode, value, es);
    return KILN_OK;
}
