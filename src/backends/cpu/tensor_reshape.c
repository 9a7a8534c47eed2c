/* Reshape, Flatten, Squeeze, Unsqueeze: the data is unchanged, only its shape; one kernel
 * copies the bytes (nothing when the runtime let the output alias the input). */
#include "backends/cpu/tensor_common.h"

kiln_status kiln_cpu_tensor_reshape(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                                    int32_t n_in, kiln_tview *out, int32_t n_out) {
    (void)ctx;
    (void)n_in;
    (void)n_out;
    size_t es;
    KILN_TRY(kiln_tensor_elem_size(node, in[0].dtype, &es));
    int64_t n = kiln_tview_count(&out[0]);
    if (n != kiln_tview_count(&in[0]))
        return kiln_shape_error(node, "output holds %lld elements, input %lld", (long long)n,
                                (long long)kiln_tview_count(&in[0]));
    if (n > 0 && out[0].data != in[0].data) memmove(out[0].data, in[0].data, (size_t)n * es);
    return KILN_OK;
}
