/* Size: the input's element count as an int64 scalar. */
#include "backends/cpu/tensor_common.h"

kiln_status kiln_cpu_tensor_size(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                                 int32_t n_in, kiln_tview *out, int32_t n_out) {
    (void)ctx;
    (void)node;
    (void)n_in;
    (void)n_out;
    *(int64_t *)out[0].data = kiln_tview_count(&in[0]);
    return KILN_OK;
}
