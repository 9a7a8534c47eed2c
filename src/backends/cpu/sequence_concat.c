/* ConcatFromSequence: the items concatenated along `axis` (new_axis = 0), or stacked along
 * a new axis at `axis` (new_axis = 1). */
#include <string.h>

#include "backends/cpu/cpu_kernel.h"

kiln_status kiln_cpu_concat_from_sequence(kiln_cpu_ctx *ctx, const kiln_node *node,
                                          const kiln_tview *in, int32_t n_in, kiln_tview *out,
                                          int32_t n_out) {
    (void)n_in, (void)n_out;
    const kiln_tview *seq = &in[0];
    int32_t n = seq->seq_count;
    if (n == 0) return kiln_shape_error(node, "cannot concatenate an empty sequence");
    const kiln_tview *first = &seq->seq_items[0];
    if (first->dtype == KILN_DTYPE_STRING)
        return kiln_node_error(KILN_ERR_UNSUPPORTED, node, "sequences of strings not supported");
    int64_t new_axis = kiln_attr_int(node, "new_axis", 0);
    int32_t r = first->rank, out_rank = r + (new_axis ? 1 : 0);
    int64_t axis = kiln_attr_int(node, "axis", 0);
    if (axis < -out_rank || axis >= out_rank || out_rank == 0 || out_rank > KILN_MAX_DIMS)
        return kiln_shape_error(node, "axis %lld is out of range for items of rank %d%s",
                                (long long)axis, r, new_axis ? " (stacked)" : "");
    if (axis < 0) axis += out_rank;
    int64_t dims[KILN_MAX_DIMS];
    for (int32_t d = 0, k = 0; d < out_rank; d++)
        dims[d] = new_axis && d == axis ? n : first->dims[k++];
    if (!new_axis) dims[axis] = 0;
    for (int32_t i = 0; i < n; i++) {
        const kiln_tview *t = &seq->seq_items[i];
        int ok = t->rank == r && t->dtype == first->dtype;
        for (int32_t d = 0; ok && d < r; d++)
            ok = t->dims[d] == first->dims[d] || (!new_axis && d == axis);
        if (!ok)
            return kiln_shape_error(node, "item %d does not match item 0 in %s", i,
                                    t->dtype != first->dtype ? "dtype" : "shape");
        if (!new_axis) dims[axis] += t->dims[axis];
    }
    KILN_TRY(kiln_cpu_alloc_output(ctx, 0, out_rank, dims));
    /* Each item contributes a block of `inner` elements per `outer` step. */
    int64_t outer = 1;
    for (int32_t d = 0; d < axis; d++) outer *= dims[d];
    size_t elem_bits = (size_t)kiln_dtype_bits(first->dtype);
    if (elem_bits % 8)
        return kiln_node_error(KILN_ERR_UNSUPPORTED, node, "dtype %s not supported",
                               kiln_dtype_name(first->dtype));
    uint8_t *dst = out[0].data;
    for (int64_t o = 0; o < outer; o++)
        for (int32_t i = 0; i < n; i++) {
            const kiln_tview *t = &seq->seq_items[i];
            int64_t inner = 1;
            for (int32_t d = (int32_t)axis; d < r; d++) inner *= t->dims[d];
            size_t bytes = (size_t)inner * elem_bits / 8;
            if (bytes) memcpy(dst, (const uint8_t *)t->data + (size_t)o * bytes, bytes);
            dst += bytes;
        }
    return KILN_OK;
}
