/* BitCast: the input's bytes, unchanged, under the output's dtype (same width). */
#include <string.h>

#include "backends/cpu/cpu_kernel.h"

kiln_status kiln_cpu_BitCast(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                             int32_t n_in, kiln_tview *out, int32_t n_out) {
    size_t bytes = kiln_dtype_nbytes(in[0].dtype, kiln_tview_count(&in[0]));
    if (bytes && out[0].data != in[0].data) memmove(out[0].data, in[0].data, bytes);
    return KILN_OK;
}
