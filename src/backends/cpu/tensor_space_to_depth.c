/* SpaceToDepth: the input viewed as [N, C, H', b, W', b] is transposed into the output
 * [N, b, b, C, H', W']. */
#include "backends/cpu/tensor_common.h"

kiln_status kiln_cpu_tensor_space_to_depth(kiln_cpu_ctx *ctx, const kiln_node *node,
                                           const kiln_tview *in, int32_t n_in, kiln_tview *out,
                                           int32_t n_out) {
    (void)n_in;
    (void)n_out;
    size_t es;
    KILN_TRY(kiln_tensor_elem_size(node, in[0].dtype, &es));
    int64_t b = kiln_attr_int(node, "blocksize", 1);
    const int64_t *d = in[0].dims;
    static const int32_t perm[6] = {0, 3, 5, 1, 2, 4};
    int64_t view[6] = {d[0], d[1], d[2] / b, b, d[3] / b, b}, vst[6], dims[6], ss[6], ds[6];
    kiln_tensor_strides(6, view, (int64_t)es, vst);
    for (int i = 0; i < 6; i++) {
        dims[i] = view[perm[i]];
        ss[i] = vst[perm[i]];
    }
    kiln_tensor_strides(6, dims, (int64_t)es, ds);
    kiln_tensor_copy_strided(ctx, out[0].data, ds, in[0].data, ss, 6, dims, es);
    return KILN_OK;
}
