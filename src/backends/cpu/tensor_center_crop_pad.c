/* CenterCropPad: a zero pad whose negative offsets crop, centered per axis. */
#include "backends/cpu/tensor_common.h"

kiln_status kiln_cpu_tensor_center_crop_pad(kiln_cpu_ctx *ctx, const kiln_node *node,
                                            const kiln_tview *in, int32_t n_in, kiln_tview *out,
                                            int32_t n_out) {
    (void)n_out;
    size_t es;
    int64_t dims[KILN_MAX_DIMS], offset[KILN_MAX_DIMS];
    int known = 1;
    KILN_TRY(kiln_tensor_elem_size(node, in[0].dtype, &es));
    KILN_TRY(kiln_tensor_center_crop_offsets(node, in, n_in, dims, offset, &known));
    if (!known) return kiln_shape_error(node, "shape is not known at run time");
    unsigned char zero[16] = {0};
    if (es > sizeof zero) return kiln_node_error(KILN_ERR_UNSUPPORTED, node, "element too large");
    kiln_tensor_pad(ctx, &in[0], &out[0], offset, KILN_PAD_CONSTANT, zero, es);
    return KILN_OK;
}
