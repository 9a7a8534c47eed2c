/* Tile: each output dim d is viewed as (repeat, d) with the repeat reading at stride 0,
 * so one strided copy of rank 2 * rank does the whole op. */
#include "backends/cpu/tensor_common.h"

kiln_status kiln_cpu_tensor_tile(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                                 int32_t n_in, kiln_tview *out, int32_t n_out) {
    (void)n_in;
    (void)n_out;
    size_t es;
    KILN_TRY(kiln_tensor_elem_size(node, in[0].dtype, &es));
    int32_t r = in[0].rank;
    int64_t ist[KILN_MAX_DIMS], ost[KILN_MAX_DIMS];
    int64_t dims[KILN_TENSOR_COPY_MAX_DIMS], ss[KILN_TENSOR_COPY_MAX_DIMS],
        ds[KILN_TENSOR_COPY_MAX_DIMS];
    kiln_tensor_strides(r, in[0].dims, (int64_t)es, ist);
    kiln_tensor_strides(r, out[0].dims, (int64_t)es, ost);
    for (int32_t i = 0; i < r; i++) {
        int64_t n = in[0].dims[i];
        if (n == 0 || out[0].dims[i] == 0) return KILN_OK;
        if (out[0].dims[i] % n)
            return kiln_shape_error(node, "output dim %d is not a multiple of the input's", (int)i);
        dims[2 * i] = out[0].dims[i] / n;
        ds[2 * i] = n * ost[i];
        ss[2 * i] = 0;
        dims[2 * i + 1] = n;
        ds[2 * i + 1] = ost[i];
        ss[2 * i + 1] = ist[i];
    }
    kiln_tensor_copy_strided(ctx, out[0].data, ds, in[0].data, ss, 2 * r, dims, es);
    return KILN_OK;
}
