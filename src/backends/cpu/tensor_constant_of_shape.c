/* ConstantOfShape: fills the output with the `value` attribute's element (float32 0 when
 * absent). */
#include "backends/cpu/tensor_common.h"

kiln_status kiln_cpu_tensor_constant_of_shape(kiln_cpu_ctx *ctx, const kiln_node *node,
                                              const kiln_tview *in, int32_t n_in, kiln_tview *out,
                                              int32_t n_out) {
    (void)ctx;
    (void)in;
    (void)n_in;
    (void)n_out;
    size_t es;
    KILN_TRY(kiln_tensor_elem_size(node, out[0].dtype, &es));
    const kiln_attr *a = kiln_node_attr(node, "value");
    unsigned char zero[16] = {0};
    const void *value = zero;
    if (a && a->tensor && a->tensor->data && a->tensor->nbytes >= es)
        value = a->tensor->data;
    else if (es > sizeof zero)
        return kiln_node_error(KILN_ERR_UNSUPPORTED, node, "element too large");
    kiln_tensor_fill(out[0].data, kiln_tview_count(&out[0]), value, es);
    return KILN_OK;
}
