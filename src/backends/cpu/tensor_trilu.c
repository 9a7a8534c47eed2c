/* Trilu: per row of each matrix, a copied run and a zeroed run. */
#include "backends/cpu/tensor_common.h"

kiln_status kiln_cpu_tensor_trilu(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                                  int32_t n_in, kiln_tview *out, int32_t n_out) {
    (void)ctx;
    (void)n_out;
    size_t es;
    KILN_TRY(kiln_tensor_elem_size(node, in[0].dtype, &es));
    int64_t k = kiln_tensor_has_input(in, n_in, 1) && kiln_tview_count(&in[1]) == 1
                    ? kiln_tview_get_int(&in[1], 0)
                    : 0;
    int upper = kiln_attr_int(node, "upper", 1) != 0;
    int32_t r = in[0].rank;
    int64_t rows = in[0].dims[r - 2], cols = in[0].dims[r - 1];
    int64_t mats = rows * cols > 0 ? kiln_tview_count(&in[0]) / (rows * cols) : 0;
    const char *s = in[0].data;
    char *o = out[0].data;
    for (int64_t m = 0; m < mats; m++) {
        for (int64_t i = 0; i < rows; i++) {
            int64_t off = (m * rows + i) * cols * (int64_t)es;
            /* upper keeps j >= i + k; lower keeps j <= i + k */
            int64_t edge = upper ? i + k : i + k + 1;
            if (edge < 0) edge = 0;
            if (edge > cols) edge = cols;
            size_t head = (size_t)edge * es, tail = (size_t)(cols - edge) * es;
            if (upper) {
                memset(o + off, 0, head);
                if (tail) memmove(o + off + head, s + off + head, tail);
            } else {
                if (head) memmove(o + off, s + off, head);
                memset(o + off + head, 0, tail);
            }
        }
    }
    return KILN_OK;
}
