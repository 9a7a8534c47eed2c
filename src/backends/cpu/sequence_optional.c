/* Optional, OptionalHasElement, OptionalGetElement. An optional holding a value is that
 * value; an empty one is a view of kind KILN_VALUE_NONE. */
#include "backends/cpu/cpu_kernel.h"

kiln_status kiln_cpu_optional(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                              int32_t n_in, kiln_tview *out, int32_t n_out) {
    (void)node, (void)n_out;
    if (n_in > 0 && kiln_tview_present(&in[0])) return kiln_cpu_copy_output(ctx, 0, &in[0]);
    return kiln_cpu_set_none(ctx, 0, out[0].dtype);
}

kiln_status kiln_cpu_optional_has_element(kiln_cpu_ctx *ctx, const kiln_node *node,
                                          const kiln_tview *in, int32_t n_in, kiln_tview *out,
                                          int32_t n_out) {
    (void)ctx, (void)node, (void)n_out;
    int has = n_in > 0 && kiln_tview_present(&in[0]) && in[0].kind != KILN_VALUE_NONE;
    *(uint8_t *)out[0].data = (uint8_t)has;
    return KILN_OK;
}

kiln_status kiln_cpu_optional_get_element(kiln_cpu_ctx *ctx, const kiln_node *node,
                                          const kiln_tview *in, int32_t n_in, kiln_tview *out,
                                          int32_t n_out) {
    (void)n_in, (void)out, (void)n_out;
    if (in[0].kind == KILN_VALUE_NONE) return kiln_shape_error(node, "the optional input is empty");
    return kiln_cpu_copy_output(ctx, 0, &in[0]);
}
