/* OneHot: fills with the off value, then writes the on value at each valid index (negative
 * indices count from depth; others out of range leave their row off). */
#include <math.h>

#include "backends/cpu/tensor_common.h"

kiln_status kiln_cpu_tensor_one_hot(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                                    int32_t n_in, kiln_tview *out, int32_t n_out) {
    (void)ctx;
    (void)n_in;
    (void)n_out;
    size_t es;
    int32_t axis, r = in[0].rank;
    KILN_TRY(kiln_tensor_elem_size(node, out[0].dtype, &es));
    KILN_TRY(kiln_tensor_axis(node, "axis", kiln_attr_int(node, "axis", -1), r + 1, &axis));
    if (!kiln_tensor_is_int(in[0].dtype) && !kiln_tensor_is_float(in[0].dtype))
        return kiln_node_error(KILN_ERR_UNSUPPORTED, node, "indices of dtype %s",
                               kiln_dtype_name(in[0].dtype));
    int64_t depth = out[0].dims[axis], outer = 1, inner = 1;
    for (int32_t i = 0; i < axis; i++) outer *= in[0].dims[i];
    for (int32_t i = axis; i < r; i++) inner *= in[0].dims[i];
    const char *values = in[2].data;
    char *o = out[0].data;
    kiln_tensor_fill(o, kiln_tview_count(&out[0]), values, es);
    int is_int = kiln_tensor_is_int(in[0].dtype);
    for (int64_t a = 0; a < outer; a++) {
        for (int64_t b = 0; b < inner; b++) {
            int64_t i = a * inner + b;
            int64_t v = is_int ? kiln_tview_get_int(&in[0], i)
                               : (int64_t)trunc(kiln_tview_get_double(&in[0], i));
            if (v < 0) v += depth;
            if (v < 0 || v >= depth) continue;
            kiln_tensor_copy_elem(o + ((a * depth + v) * inner + b) * (int64_t)es, values + es, es);
        }
    }
    return KILN_OK;
}
