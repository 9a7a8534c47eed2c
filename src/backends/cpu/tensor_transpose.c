/* Transpose: a strided copy reading the input in permuted order. */
#include "backends/cpu/tensor_common.h"

kiln_status kiln_cpu_tensor_transpose(kiln_cpu_ctx *ctx, const kiln_node *node,
                                      const kiln_tview *in, int32_t n_in, kiln_tview *out,
                                      int32_t n_out) {
    (void)n_in;
    (void)n_out;
    size_t es;
    KILN_TRY(kiln_tensor_elem_size(node, in[0].dtype, &es));
    int32_t rank = in[0].rank, np = 0;
    const int64_t *perm = kiln_attr_ints(node, "perm", &np);
    int64_t ist[KILN_MAX_DIMS], ss[KILN_MAX_DIMS], ds[KILN_MAX_DIMS];
    kiln_tensor_strides(rank, in[0].dims, (int64_t)es, ist);
    kiln_tensor_strides(rank, out[0].dims, (int64_t)es, ds);
    for (int32_t i = 0; i < rank; i++) ss[i] = ist[perm ? perm[i] : rank - 1 - i];
    kiln_tensor_copy_strided(ctx, out[0].data, ds, in[0].data, ss, rank, out[0].dims, es);
    return KILN_OK;
}
