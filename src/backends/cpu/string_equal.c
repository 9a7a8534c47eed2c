/* Equal on strings: byte-for-byte comparison, numpy broadcasting. */
#include <string.h>

#include "backends/cpu/string_common.h"

kiln_status kiln_cpu_string_equal(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                                  int32_t n_in, kiln_tview *out, int32_t n_out) {
    (void)ctx, (void)n_in, (void)n_out;
    if (in[1].dtype != KILN_DTYPE_STRING)
        return kiln_shape_error(node, "inputs 0 and 1 have different dtypes (string, %s)",
                                kiln_dtype_name(in[1].dtype));
    uint8_t *z = out[0].data;
    int64_t n = kiln_tview_count(&out[0]);
    for (int64_t i = 0; i < n; i++) {
        const kiln_string *a =
            kiln_str_at(&in[0], kiln_str_bcast_index(out[0].rank, out[0].dims, &in[0], i));
        const kiln_string *b =
            kiln_str_at(&in[1], kiln_str_bcast_index(out[0].rank, out[0].dims, &in[1], i));
        z[i] =
            a->size == b->size && (a->size == 0 || memcmp(a->data, b->data, (size_t)a->size) == 0);
    }
    return KILN_OK;
}
