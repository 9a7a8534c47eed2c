/* Slice: a strided copy from the first selected element with stride step * dim stride
 * (negative for reversed axes). */
#include "backends/cpu/tensor_common.h"

kiln_status kiln_cpu_tensor_slice(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                                  int32_t n_in, kiln_tview *out, int32_t n_out) {
    (void)n_out;
    size_t es;
    kiln_slice_params p;
    int known = 1;
    int32_t rank = in[0].rank;
    KILN_TRY(kiln_tensor_elem_size(node, in[0].dtype, &es));
    KILN_TRY(kiln_tensor_slice_params(node, in, n_in, &p, &known));
    if (!known) return kiln_shape_error(node, "slice parameters are not known at run time");
    int64_t ist[KILN_MAX_DIMS], ss[KILN_MAX_DIMS], ds[KILN_MAX_DIMS];
    kiln_tensor_strides(rank, in[0].dims, (int64_t)es, ist);
    kiln_tensor_strides(rank, out[0].dims, (int64_t)es, ds);
    int64_t base = 0;
    for (int32_t d = 0; d < rank; d++) {
        if (p.count[d] != out[0].dims[d])
            return kiln_shape_error(node, "output dim %d is %lld, expected %lld", (int)d,
                                    (long long)out[0].dims[d], (long long)p.count[d]);
        base += p.start[d] * ist[d];
        ss[d] = p.step[d] * ist[d];
    }
    if (kiln_tview_count(&out[0]) == 0) return KILN_OK;
    kiln_tensor_copy_strided(ctx, out[0].data, ds, (const char *)in[0].data + base, ss, rank,
                             out[0].dims, es);
    return KILN_OK;
}
