/*
 * SequenceMap: runs `body` once per item of input 0; sequence inputs give the body their
 * item of the same position, tensor inputs are passed whole. Body output k of every run
 * becomes item of output sequence k. The body's outputs are overwritten by its next run,
 * so each is copied out first.
 */
#include <stdlib.h>

#include "backends/cpu/cpu_kernel.h"

kiln_status kiln_cpu_sequence_map(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                                  int32_t n_in, kiln_tview *out, int32_t n_out) {
    (void)out;
    const kiln_graph *body = kiln_node_attr(node, "body")->graph;
    int32_t n = in[0].seq_count;
    for (int32_t j = 1; j < n_in; j++)
        if (in[j].kind == KILN_VALUE_SEQUENCE && in[j].seq_count != n)
            return kiln_shape_error(node, "input %d has %d items; input 0 has %d", j,
                                    in[j].seq_count, n);
        else if (in[j].kind == KILN_VALUE_NONE)
            return kiln_shape_error(node, "input %d is an empty optional", j);
    size_t cells = (size_t)n * (size_t)n_out;
    kiln_tview *args = calloc((size_t)n_in, sizeof *args);
    kiln_tview *results = calloc((size_t)n_out, sizeof *results);
    kiln_tview *items = calloc(cells ? cells : 1, sizeof *items); /* [output][run] */
    void **blocks = calloc(cells ? cells : 1, sizeof *blocks);
    kiln_status st = args && results && items && blocks
                         ? KILN_OK
                         : kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory in SequenceMap");
    for (int32_t k = 0; st == KILN_OK && k < n; k++) {
        for (int32_t j = 0; j < n_in; j++)
            args[j] = in[j].kind == KILN_VALUE_SEQUENCE ? in[j].seq_items[k] : in[j];
        st = kiln_cpu_run_subgraph(ctx, body, args, n_in, results, n_out);
        for (int32_t o = 0; st == KILN_OK && o < n_out; o++) {
            const kiln_tview *r = &results[o];
            if (r->kind != KILN_VALUE_TENSOR) {
                st = kiln_node_error(KILN_ERR_UNSUPPORTED, node,
                                     "body output %d is a %s: sequences hold tensors", o,
                                     kiln_value_kind_name(r->kind));
                break;
            }
            size_t bytes = kiln_value_packed_size(r);
            size_t cell = (size_t)o * (size_t)n + (size_t)k;
            blocks[cell] = malloc(bytes ? bytes : 1);
            if (!blocks[cell]) {
                st = kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory in SequenceMap");
                break;
            }
            kiln_value_pack(r, blocks[cell], &items[cell]);
        }
    }
    for (int32_t o = 0; st == KILN_OK && o < n_out; o++)
        if (node->outputs[o] >= 0)
            st = kiln_cpu_alloc_sequence(ctx, o, n, items + (size_t)o * (size_t)n);
    for (size_t c = 0; blocks && c < cells; c++) free(blocks[c]);
    free(blocks);
    free(items);
    free(results);
    free(args);
    return st;
}
