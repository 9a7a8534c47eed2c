/* Expand: a strided copy with stride 0 along broadcast dims. */
#include "backends/cpu/tensor_common.h"

kiln_status kiln_cpu_tensor_expand(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                                   int32_t n_in, kiln_tview *out, int32_t n_out) {
    (void)n_in;
    (void)n_out;
    size_t es;
    KILN_TRY(kiln_tensor_elem_size(node, in[0].dtype, &es));
    int32_t r = out[0].rank, ri = in[0].rank;
    int64_t ist[KILN_MAX_DIMS], ss[KILN_MAX_DIMS], ds[KILN_MAX_DIMS];
    kiln_tensor_strides(ri, in[0].dims, (int64_t)es, ist);
    kiln_tensor_strides(r, out[0].dims, (int64_t)es, ds);
    for (int32_t i = 0; i < r; i++) {
        int32_t j = i - (r - ri);
        if (j >= 0 && in[0].dims[j] != 1 && in[0].dims[j] != out[0].dims[i])
            return kiln_shape_error(node, "input dim %d (%lld) does not broadcast to %lld", (int)j,
                                    (long long)in[0].dims[j], (long long)out[0].dims[i]);
        ss[i] = (j < 0 || in[0].dims[j] == 1) ? 0 : ist[j];
    }
    kiln_tensor_copy_strided(ctx, out[0].data, ds, in[0].data, ss, r, out[0].dims, es);
    return KILN_OK;
}
