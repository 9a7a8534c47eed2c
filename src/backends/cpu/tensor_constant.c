/* Constant: copies the attribute's value into the output. */
#include "backends/cpu/tensor_common.h"

kiln_status kiln_cpu_tensor_constant(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                                     int32_t n_in, kiln_tview *out, int32_t n_out) {
    (void)ctx;
    (void)in;
    (void)n_in;
    (void)n_out;
    kiln_tview v;
    KILN_TRY(kiln_tensor_constant_value(node, &v));
    size_t n = kiln_dtype_nbytes(v.dtype, kiln_tview_count(&v));
    if (n) memcpy(out[0].data, v.data, n);
    return KILN_OK;
}
