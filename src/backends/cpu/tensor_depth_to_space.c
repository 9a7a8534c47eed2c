/* DepthToSpace: the input viewed as 6-D ([N, b, b, C', H, W] for DCR, [N, C', b, b, H, W]
 * for CRD) is transposed into the output [N, C', H, b, W, b]. */
#include <string.h>

#include "backends/cpu/tensor_common.h"

kiln_status kiln_cpu_tensor_depth_to_space(kiln_cpu_ctx *ctx, const kiln_node *node,
                                           const kiln_tview *in, int32_t n_in, kiln_tview *out,
                                           int32_t n_out) {
    (void)n_in;
    (void)n_out;
    size_t es;
    KILN_TRY(kiln_tensor_elem_size(node, in[0].dtype, &es));
    int64_t b = kiln_attr_int(node, "blocksize", 1);
    const int64_t *d = in[0].dims;
    int64_t c = d[1] / (b * b);
    int crd = !strcmp(kiln_attr_string(node, "mode", "DCR"), "CRD");
    static const int32_t dcr[6] = {0, 3, 4, 1, 5, 2}, crdp[6] = {0, 1, 4, 2, 5, 3};
    int64_t view[6], vst[6], dims[6], ss[6], ds[6];
    if (crd)
        view[0] = d[0], view[1] = c, view[2] = b, view[3] = b;
    else
        view[0] = d[0], view[1] = b, view[2] = b, view[3] = c;
    view[4] = d[2], view[5] = d[3];
    kiln_tensor_strides(6, view, (int64_t)es, vst);
    const int32_t *perm = crd ? crdp : dcr;
    for (int i = 0; i < 6; i++) {
        dims[i] = view[perm[i]];
        ss[i] = vst[perm[i]];
    }
    kiln_tensor_strides(6, dims, (int64_t)es, ds);
    kiln_tensor_copy_strided(ctx, out[0].data, ds, in[0].data, ss, 6, dims, es);
    return KILN_OK;
}
