/*
 * MaxUnpool: scatters X into a zero tensor at the positions MaxPool's Indices give. The
 * indices are flat positions in the default unpooled shape ((in - 1) * stride - pads +
 * kernel); with an explicit output_shape each is unraveled there and re-raveled into the
 * given (possibly larger) output.
 */
#include <string.h>

#include "backends/cpu/nn_common.h"

kiln_status kiln_cpu_maxunpool(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                               int32_t n_in, kiln_tview *out, int32_t n_out) {
    const kiln_tview *x = &in[0], *ind = &in[1];
    kiln_tview *y = &out[0];
    int64_t n = kiln_nn_count(x), total = kiln_nn_count(y);
    if (kiln_nn_count(ind) != n) return kiln_shape_error(node, "X and I sizes differ");
    size_t es = kiln_dtype_nbytes(x->dtype, 1);
    if (es == 0 || kiln_dtype_bits(x->dtype) % 8) return kiln_nn_bad_dtype(node, x->dtype);
    if (y->rank != x->rank) return kiln_shape_error(node, "output_shape rank differs from X");
    int64_t unknown[KILN_MAX_DIMS] = {-1, -1, -1, -1, -1, -1, -1, -1};
    kiln_nn_window w;
    KILN_TRY(kiln_nn_window_init(node, x->rank - 2, unknown, NULL, 0, &w));
    int64_t dflt[KILN_MAX_DIMS];
    int same = 1;
    for (int32_t d = 0; d < x->rank; d++) {
        int32_t s = d - 2;
        dflt[d] =
            s < 0 ? x->dims[d]
                  : (x->dims[d] - 1) * w.stride[s] - w.pad_begin[s] - w.pad_end[s] + w.kernel[s];
        same &= dflt[d] == y->dims[d];
    }
    memset(y->data, 0, es * (size_t)total);
    const int64_t *id = (const int64_t *)ind->data;
    for (int64_t i = 0; i < n; i++) {
        int64_t pos = id[i];
        if (!same) {
            int64_t rem = pos, coord[KILN_MAX_DIMS];
            for (int32_t d = x->rank - 1; d >= 0; d--) {
                coord[d] = rem % dflt[d];
                rem /= dflt[d];
            }
            pos = 0;
            for (int32_t d = 0; d < x->rank; d++) {
                if (coord[d] >= y->dims[d]) {
                    pos = -1;
                    break;
                }
                pos = pos * y->dims[d] + coord[d];
            }
        }
        if (pos < 0 || pos >= total)
            return kiln_shape_error(node, "index %lld out of range", (long long)id[i]);
        memcpy((char *)y->data + (size_t)pos * es, (const char *)x->data + (size_t)i * es, es);
    }
    return KILN_OK;
}
