/* SequenceConstruct, SequenceEmpty, SequenceInsert, SequenceErase, SequenceAt,
 * SequenceLength: sequences built from views of their inputs' items, copied once into
 * the output (kiln_cpu_alloc_sequence). */
#include <string.h>

#include "backends/cpu/sequence_common.h"

kiln_status kiln_cpu_sequence_construct(kiln_cpu_ctx *ctx, const kiln_node *node,
                                        const kiln_tview *in, int32_t n_in, kiln_tview *out,
                                        int32_t n_out) {
    (void)node, (void)out, (void)n_out;
    return kiln_cpu_alloc_sequence(ctx, 0, n_in, in);
}

kiln_status kiln_cpu_sequence_empty(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                                    int32_t n_in, kiln_tview *out, int32_t n_out) {
    (void)node, (void)in, (void)n_in, (void)out, (void)n_out;
    return kiln_cpu_alloc_sequence(ctx, 0, 0, NULL);
}

kiln_status kiln_cpu_sequence_insert(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                                     int32_t n_in, kiln_tview *out, int32_t n_out) {
    (void)out, (void)n_out;
    const kiln_tview *seq = &in[0];
    int32_t n = seq->seq_count, at = n;
    if (n_in > 2 && kiln_tview_present(&in[2]))
        KILN_TRY(kiln_seq_position(node, &in[2], n, n, &at));
    kiln_tview *items = kiln_cpu_scratch(ctx, sizeof *items * (size_t)(n + 1));
    if (!items) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
    if (at) memcpy(items, seq->seq_items, sizeof *items * (size_t)at);
    items[at] = in[1];
    if (n - at) memcpy(items + at + 1, seq->seq_items + at, sizeof *items * (size_t)(n - at));
    return kiln_cpu_alloc_sequence(ctx, 0, n + 1, items);
}

kiln_status kiln_cpu_sequence_erase(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                                    int32_t n_in, kiln_tview *out, int32_t n_out) {
    (void)out, (void)n_out;
    const kiln_tview *seq = &in[0];
    int32_t n = seq->seq_count, at = n - 1;
    if (n == 0) return kiln_shape_error(node, "cannot erase from an empty sequence");
    if (n_in > 1 && kiln_tview_present(&in[1]))
        KILN_TRY(kiln_seq_position(node, &in[1], n, n - 1, &at));
    kiln_tview *items = kiln_cpu_scratch(ctx, sizeof *items * (size_t)n);
    if (!items) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
    if (at) memcpy(items, seq->seq_items, sizeof *items * (size_t)at);
    if (n - at - 1)
        memcpy(items + at, seq->seq_items + at + 1, sizeof *items * (size_t)(n - at - 1));
    return kiln_cpu_alloc_sequence(ctx, 0, n - 1, items);
}

kiln_status kiln_cpu_sequence_at(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                                 int32_t n_in, kiln_tview *out, int32_t n_out) {
    (void)n_in, (void)out, (void)n_out;
    int32_t n = in[0].seq_count, at;
    if (n == 0) return kiln_shape_error(node, "the sequence is empty");
    KILN_TRY(kiln_seq_position(node, &in[1], n, n - 1, &at));
    return kiln_cpu_copy_output(ctx, 0, &in[0].seq_items[at]);
}

kiln_status kiln_cpu_sequence_length(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                                     int32_t n_in, kiln_tview *out, int32_t n_out) {
    (void)ctx, (void)node, (void)n_in, (void)n_out;
    *(int64_t *)out[0].data = in[0].seq_count;
    return KILN_OK;
}
