/* If: runs then_branch or else_branch and returns its outputs. */
#include "backends/cpu/control_common.h"

kiln_status kiln_cpu_if(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                        int32_t n_in, kiln_tview *out, int32_t n_out) {
    (void)n_in;
    if (kiln_tview_count(&in[0]) != 1)
        return kiln_node_error(KILN_ERR_SHAPE, node, "the condition must hold one element");
    int cond = kiln_tview_get_int(&in[0], 0) != 0;
    const kiln_attr *branch = kiln_node_attr(node, cond ? "then_branch" : "else_branch");
    if (!branch || branch->type != KILN_ATTR_GRAPH)
        return kiln_node_error(KILN_ERR_INVALID_ARGUMENT, node, "missing branch graph");
    const kiln_graph *g = branch->graph;
    if (g->output_count != n_out)
        return kiln_node_error(KILN_ERR_SHAPE, node, "the %s branch has %d outputs; the node %d",
                               cond ? "then" : "else", g->output_count, n_out);
    kiln_tview *copy = malloc(sizeof *copy * (size_t)(n_out ? n_out : 1));
    if (!copy) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
    kiln_status st = kiln_cpu_run_subgraph(ctx, g, NULL, 0, copy, n_out);
    for (int32_t i = 0; st == KILN_OK && i < n_out; i++)
        if (node->outputs[i] >= 0) st = kiln_control_emit(ctx, out, i, &copy[i]);
    free(copy);
    return st;
}
