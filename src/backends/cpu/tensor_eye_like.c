/* EyeLike: zeros with ones on the k-th diagonal. */
#include "backends/cpu/tensor_common.h"

kiln_status kiln_cpu_tensor_eye_like(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                                     int32_t n_in, kiln_tview *out, int32_t n_out) {
    (void)ctx;
    (void)in;
    (void)n_in;
    (void)n_out;
    size_t es;
    KILN_TRY(kiln_tensor_elem_size(node, out[0].dtype, &es));
    if (!kiln_tensor_keyable(out[0].dtype))
        return kiln_node_error(KILN_ERR_UNSUPPORTED, node, "dtype %s not supported",
                               kiln_dtype_name(out[0].dtype));
    int64_t rows = out[0].dims[0], cols = out[0].dims[1], k = kiln_attr_int(node, "k", 0);
    if (rows * cols == 0) return KILN_OK;
    memset(out[0].data, 0, (size_t)(rows * cols) * es);
    for (int64_t i = 0; i < rows; i++) {
        int64_t j = i + k;
        if (j >= 0 && j < cols) kiln_tview_set_double(&out[0], i * cols + j, 1.0);
    }
    return KILN_OK;
}
