/*
 * TensorScatter (opset 24): present = past with update written along `axis` at
 * write_indices[b] (per batch, 0 when absent), wrapping modulo the cache length in
 * "circular" mode. A plain byte copy: any fixed-size dtype.
 */
#include <string.h>

#include "backends/cpu/attention_common.h"

kiln_status kiln_cpu_TensorScatter(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                                   int32_t n_in, kiln_tview *out, int32_t n_out) {
    const kiln_tview *past = &in[0], *upd = &in[1], *idx = kiln_attn_opt(in, n_in, 2);
    kiln_tview *y = &out[0];
    int circular = !strcmp(kiln_attr_string(node, "mode", "linear"), "circular");
    int64_t axis = kiln_attr_int(node, "axis", -2);
    if (axis < 0) axis += past->rank;
    size_t es = (size_t)kiln_dtype_bits(past->dtype) / 8;
    int64_t batch = past->dims[0], outer = 1, inner = 1;
    for (int32_t i = 1; i < axis; i++) outer *= past->dims[i];
    for (int32_t i = (int32_t)axis + 1; i < past->rank; i++) inner *= past->dims[i];
    int64_t max_len = past->dims[axis], len = upd->dims[axis];
    memcpy(y->data, past->data, kiln_dtype_nbytes(past->dtype, kiln_tview_count(past)));
    const int64_t *wi = idx ? (const int64_t *)idx->data : NULL;
    const char *src = (const char *)upd->data;
    char *dst = (char *)y->data;
    size_t row = (size_t)inner * es;
    for (int64_t b = 0; b < batch; b++) {
        int64_t start = wi ? wi[b] : 0;
        for (int64_t s = 0; s < len; s++) {
            int64_t at = start + s;
            if (circular && max_len > 0) at = ((at % max_len) + max_len) % max_len;
            if (at < 0 || at >= max_len)
                return kiln_shape_error(node,
                                        "write index %lld out of range [0, %lld) in batch %lld",
                                        (long long)at, (long long)max_len, (long long)b);
            for (int64_t o = 0; o < outer; o++)
                memcpy(dst + (size_t)(((b * outer + o) * max_len + at) * inner) * es,
                       src + (size_t)(((b * outer + o) * len + s) * inner) * es, row);
        }
    }
    return KILN_OK;
}
