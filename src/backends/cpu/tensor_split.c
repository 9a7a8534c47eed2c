/* Split: each output is a strided copy of its slab of the input along the axis. */
#include <stdlib.h>

#include "backends/cpu/tensor_common.h"

kiln_status kiln_cpu_tensor_split(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                                  int32_t n_in, kiln_tview *out, int32_t n_out) {
    size_t es;
    int32_t rank = in[0].rank, axis = 0;
    int known = 1;
    KILN_TRY(kiln_tensor_elem_size(node, in[0].dtype, &es));
    int64_t *sizes = kiln_cpu_scratch(ctx, (size_t)n_out * sizeof *sizes);
    if (!sizes) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
    KILN_TRY(kiln_tensor_split_sizes(node, in, n_in, n_out, &axis, sizes, &known));
    int64_t ss[KILN_MAX_DIMS], ds[KILN_MAX_DIMS];
    kiln_tensor_strides(rank, in[0].dims, (int64_t)es, ss);
    int64_t offset = 0;
    for (int32_t i = 0; i < n_out; i++) {
        if (kiln_tview_present(&out[i])) {
            kiln_tensor_strides(rank, out[i].dims, (int64_t)es, ds);
            kiln_tensor_copy_strided(ctx, out[i].data, ds,
                                     (const char *)in[0].data + offset * ss[axis], ss, rank,
                                     out[i].dims, es);
        }
        offset += sizes[i];
    }
    return KILN_OK;
}
