/* SplitToSequence: the input cut along `axis` into pieces (of the sizes in `split`, of
 * `split` elements each with a shorter last one, or of one element each, squeezed unless
 * keepdims). */
#include <string.h>

#include "backends/cpu/cpu_kernel.h"

kiln_status kiln_cpu_split_to_sequence(kiln_cpu_ctx *ctx, const kiln_node *node,
                                       const kiln_tview *in, int32_t n_in, kiln_tview *out,
                                       int32_t n_out) {
    (void)out, (void)n_out;
    const kiln_tview *x = &in[0];
    if (x->dtype == KILN_DTYPE_STRING || kiln_dtype_bits(x->dtype) % 8)
        return kiln_node_error(KILN_ERR_UNSUPPORTED, node, "dtype %s not supported",
                               kiln_dtype_name(x->dtype));
    int32_t r = x->rank;
    int64_t axis = kiln_attr_int(node, "axis", 0);
    if (axis < 0) axis += r;
    int64_t dim = x->dims[axis];
    const kiln_tview *split = n_in > 1 && kiln_tview_present(&in[1]) ? &in[1] : NULL;
    int64_t count, chunk = 1;
    if (!split) {
        count = dim;
    } else if (split->rank == 0) {
        chunk = kiln_tview_get_int(split, 0);
        if (chunk <= 0)
            return kiln_shape_error(node, "split must be positive, not %lld", (long long)chunk);
        count = (dim + chunk - 1) / chunk;
    } else {
        count = kiln_tview_count(split);
        int64_t sum = 0;
        for (int64_t i = 0; i < count; i++) {
            int64_t s = kiln_tview_get_int(split, i);
            if (s < 0) return kiln_shape_error(node, "split %lld is negative", (long long)s);
            sum += s;
        }
        if (sum != dim)
            return kiln_shape_error(node, "the splits add up to %lld; axis %lld has %lld",
                                    (long long)sum, (long long)axis, (long long)dim);
    }
    if (count > INT32_MAX) return kiln_shape_error(node, "too many pieces");
    int keep = split || kiln_attr_int(node, "keepdims", 1) != 0;
    size_t elem = (size_t)kiln_dtype_bits(x->dtype) / 8;
    int64_t outer = 1, inner = 1;
    for (int32_t d = 0; d < axis; d++) outer *= x->dims[d];
    for (int32_t d = (int32_t)axis + 1; d < r; d++) inner *= x->dims[d];
    size_t total = kiln_dtype_nbytes(x->dtype, kiln_tview_count(x));
    size_t views = sizeof(kiln_tview) * (size_t)(count ? count : 1);
    views = (views + 63) & ~(size_t)63;
    uint8_t *scratch = kiln_cpu_scratch(ctx, views + total);
    if (!scratch) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
    kiln_tview *items = (kiln_tview *)(void *)scratch;
    uint8_t *data = scratch + views;
    int64_t start = 0;
    for (int64_t i = 0; i < count; i++) {
        int64_t len = !split             ? 1
                      : split->rank == 0 ? (dim - start < chunk ? dim - start : chunk)
                                         : kiln_tview_get_int(split, i);
        kiln_tview *t = &items[i];
        memset(t, 0, sizeof *t);
        t->dtype = x->dtype;
        t->rank = 0;
        for (int32_t d = 0; d < r; d++) {
            if (d == axis && !keep) continue;
            t->dims[t->rank++] = d == axis ? len : x->dims[d];
        }
        t->data = data;
        size_t row = (size_t)(len * inner) * elem;
        for (int64_t o = 0; o < outer; o++) {
            const uint8_t *src =
                (const uint8_t *)x->data + ((size_t)(o * dim + start) * (size_t)inner) * elem;
            if (row) memcpy(data, src, row);
            data += row;
        }
        start += len;
    }
    return kiln_cpu_alloc_sequence(ctx, 0, (int32_t)count, items);
}
