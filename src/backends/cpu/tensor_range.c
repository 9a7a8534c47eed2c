/* Range: start + i * delta; integers exactly, floats computed in double and rounded once
 * (as numpy's arange of Python floats does). */
#include "backends/cpu/tensor_common.h"

kiln_status kiln_cpu_tensor_range(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                                  int32_t n_in, kiln_tview *out, int32_t n_out) {
    (void)ctx;
    (void)node;
    (void)n_in;
    (void)n_out;
    int64_t n = kiln_tview_count(&out[0]);
    if (kiln_tensor_is_int(out[0].dtype)) {
        int64_t start = kiln_tview_get_int(&in[0], 0), delta = kiln_tview_get_int(&in[2], 0);
        for (int64_t i = 0; i < n; i++) kiln_tview_set_int(&out[0], i, start + i * delta);
    } else if (out[0].dtype == KILN_DTYPE_FLOAT32) {
        double start = kiln_tview_get_double(&in[0], 0), delta = kiln_tview_get_double(&in[2], 0);
        float *o = out[0].data;
        for (int64_t i = 0; i < n; i++) o[i] = (float)(start + (double)i * delta);
    } else {
        double start = kiln_tview_get_double(&in[0], 0), delta = kiln_tview_get_double(&in[2], 0);
        for (int64_t i = 0; i < n; i++)
            kiln_tview_set_double(&out[0], i, start + (double)i * delta);
    }
    return KILN_OK;
}
