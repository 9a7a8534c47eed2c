/* ReverseSequence: per batch entry, the first seq_len steps along the time axis reversed. */
#include "backends/cpu/tensor_common.h"

kiln_status kiln_cpu_tensor_reverse_sequence(kiln_cpu_ctx *ctx, const kiln_node *node,
                                             const kiln_tview *in, int32_t n_in, kiln_tview *out,
                                             int32_t n_out) {
    (void)ctx;
    (void)n_in;
    (void)n_out;
    size_t es;
    KILN_TRY(kiln_tensor_elem_size(node, in[0].dtype, &es));
    int32_t ta = (int32_t)kiln_attr_int(node, "time_axis", 0);
    int32_t ba = (int32_t)kiln_attr_int(node, "batch_axis", 1);
    int64_t st[KILN_MAX_DIMS];
    kiln_tensor_strides(in[0].rank, in[0].dims, (int64_t)es, st);
    int64_t steps = in[0].dims[ta], batch = in[0].dims[ba];
    size_t run = (size_t)st[1]; /* dims after the first two are contiguous */
    if (kiln_tview_count(&in[1]) != batch)
        return kiln_shape_error(node, "sequence_lens has %lld values for batch size %lld",
                                (long long)kiln_tview_count(&in[1]), (long long)batch);
    const char *s = in[0].data;
    char *o = out[0].data;
    for (int64_t b = 0; b < batch; b++) {
        int64_t len = kiln_tensor_index_at(&in[1], b);
        if (len < 0 || len > steps)
            return kiln_node_error(KILN_ERR_INVALID_ARGUMENT, node,
                                   "sequence length %lld is outside [0, %lld]", (long long)len,
                                   (long long)steps);
        for (int64_t t = 0; t < steps; t++) {
            int64_t from = t < len ? len - 1 - t : t;
            if (run) memcpy(o + t * st[ta] + b * st[ba], s + from * st[ta] + b * st[ba], run);
        }
    }
    return KILN_OK;
}
