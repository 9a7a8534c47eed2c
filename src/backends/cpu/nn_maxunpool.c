/* MaxUnpool: scatters X into a zero tensor at the flat positions MaxPool's Indices give. */
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
    memset(y->data, 0, es * (size_t)total);
    const int64_t *id = (const int64_t *)ind->data;
    for (int64_t i = 0; i < n; i++) {
        if (id[i] < 0 || id[i] >= total)
            return kiln_shape_error(node, "index %lld out of range", (long long)id[i]);
        memcpy((char *)y->data + (size_t)id[i] * es, (const char *)x->data + (size_t)i * es, es);
    }
    return KILN_OK;
}
