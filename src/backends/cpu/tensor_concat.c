/* Concat: each input is a strided copy into its slab of the output along the axis. */
#include "backends/cpu/tensor_common.h"

kiln_status kiln_cpu_tensor_concat(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                                   int32_t n_in, kiln_tview *out, int32_t n_out) {
    (void)n_out;
    size_t es;
    int32_t rank = out[0].rank, axis;
    KILN_TRY(kiln_tensor_elem_size(node, out[0].dtype, &es));
    KILN_TRY(kiln_tensor_axis(node, "axis", kiln_attr_int(node, "axis", 1), rank, &axis));
    int64_t ds[KILN_MAX_DIMS], ss[KILN_MAX_DIMS];
    kiln_tensor_strides(rank, out[0].dims, (int64_t)es, ds);
    int64_t offset = 0;
    for (int32_t i = 0; i < n_in; i++) {
        kiln_tensor_strides(rank, in[i].dims, (int64_t)es, ss);
        kiln_tensor_copy_strided(ctx, (char *)out[0].data + offset * ds[axis], ds, in[i].data, ss,
                                 rank, in[i].dims, es);
        offset += in[i].dims[axis];
    }
    return KILN_OK;
}
