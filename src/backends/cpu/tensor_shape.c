/* Shape: the input's dims [start, end) as int64. */
#include "backends/cpu/tensor_common.h"

kiln_status kiln_cpu_tensor_shape(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                                  int32_t n_in, kiln_tview *out, int32_t n_out) {
    (void)ctx;
    (void)n_in;
    (void)n_out;
    int64_t s, e;
    kiln_tensor_shape_range(node, in[0].rank, &s, &e);
    int64_t *o = out[0].data;
    for (int64_t i = s; i < e; i++) o[i - s] = in[0].dims[i];
    return KILN_OK;
}
