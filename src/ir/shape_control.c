/*
 * Shape functions of If, Loop and Scan. Their output shapes come from running a subgraph,
 * so they are data-dependent: outputs are left at rank -1 and the kernels allocate them.
 * Types are known from the subgraphs' declared outputs where the model gives them.
 */
#include "ir/tview.h"

/* The declared dtype of output `i` of a subgraph attribute, or UNDEFINED. */
static kiln_dtype kiln_shape_sub_dtype(const kiln_node *node, const char *attr, int32_t i) {
    const kiln_attr *a = kiln_node_attr(node, attr);
    if (!a || a->type != KILN_ATTR_GRAPH || i < 0 || i >= a->graph->output_count)
        return KILN_DTYPE_UNDEFINED;
    return a->graph->tensors[a->graph->outputs[i]].dtype;
}

static void kiln_shape_unknown(kiln_tview *out, int32_t n_out) {
    for (int32_t i = 0; i < n_out; i++)
        if (kiln_tview_present(&out[i])) out[i].rank = -1;
}

static kiln_status kiln_shape_require_graph(const kiln_node *node, const char *name) {
    const kiln_attr *a = kiln_node_attr(node, name);
    if (!a || a->type != KILN_ATTR_GRAPH)
        return kiln_shape_error(node, "needs a graph attribute '%s'", name);
    return KILN_OK;
}

kiln_status kiln_shape_If(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                          kiln_tview *out, int32_t n_out) {
    (void)in, (void)n_in;
    KILN_TRY(kiln_shape_require_graph(node, "then_branch"));
    KILN_TRY(kiln_shape_require_graph(node, "else_branch"));
    kiln_shape_unknown(out, n_out);
    for (int32_t i = 0; i < n_out; i++) {
        kiln_dtype d = kiln_shape_sub_dtype(node, "then_branch", i);
        if (d == KILN_DTYPE_UNDEFINED) d = kiln_shape_sub_dtype(node, "else_branch", i);
        if (d != KILN_DTYPE_UNDEFINED && kiln_tview_present(&out[i])) out[i].dtype = d;
    }
    return KILN_OK;
}

kiln_status kiln_shape_Loop(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                            kiln_tview *out, int32_t n_out) {
    KILN_TRY(kiln_shape_require_graph(node, "body"));
    kiln_shape_unknown(out, n_out);
    int32_t carried = n_in - 2;
    for (int32_t i = 0; i < n_out; i++) {
        if (!kiln_tview_present(&out[i])) continue;
        if (i < carried && kiln_tview_present(&in[2 + i])) out[i].dtype = in[2 + i].dtype;
        kiln_dtype d = kiln_shape_sub_dtype(node, "body", 1 + i);
        if (d != KILN_DTYPE_UNDEFINED) out[i].dtype = d;
    }
    return KILN_OK;
}

kiln_status kiln_shape_Scan(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                            kiln_tview *out, int32_t n_out) {
    (void)in, (void)n_in;
    KILN_TRY(kiln_shape_require_graph(node, "body"));
    kiln_shape_unknown(out, n_out);
    for (int32_t i = 0; i < n_out; i++) {
        kiln_dtype d = kiln_shape_sub_dtype(node, "body", i);
        if (d != KILN_DTYPE_UNDEFINED && kiln_tview_present(&out[i])) out[i].dtype = d;
    }
    return KILN_OK;
}
