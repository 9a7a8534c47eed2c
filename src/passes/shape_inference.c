#include <stdlib.h>
#include <string.h>

#include "passes/passes.h"

/* Types of a subgraph's values (If/Loop/Scan bodies), for the node's own shape function to
 * read off its outputs: inferred with the subgraph's declared input types and the types of
 * the outer values it reads, and written into its tensors where the model left them
 * unknown. Failures are left for run time, where the values are known. */
static void kiln_pass_infer_subgraph_types(kiln_graph *sub, const kiln_graph *outer,
                                           const kiln_tview *outer_views) {
    for (int32_t t = 0; t < sub->tensor_count; t++) {
        kiln_ir_tensor *it = &sub->tensors[t];
        if (it->producer != -2 || it->dtype != KILN_DTYPE_UNDEFINED) continue;
        int32_t o = kiln_graph_find_tensor(outer, it->name);
        if (o >= 0) it->dtype = outer_views[o].dtype;
    }
    size_t n = (size_t)(sub->input_count + 1);
    int32_t *ranks = calloc(n, sizeof *ranks);
    int64_t(*dims)[KILN_MAX_DIMS] = calloc(n, sizeof *dims);
    kiln_tview *views = calloc((size_t)(sub->tensor_count + 1), sizeof *views);
    if (ranks && dims && views) {
        for (int32_t i = 0; i < sub->input_count; i++) {
            const kiln_ir_tensor *it = &sub->tensors[sub->inputs[i]];
            ranks[i] = it->rank;
            memcpy(dims[i], it->dims, sizeof dims[i]);
        }
        if (kiln_pass_infer_shapes(sub, ranks, (const int64_t(*)[KILN_MAX_DIMS])dims, views) == KILN_OK) {
            for (int32_t t = 0; t < sub->tensor_count; t++)
                if (sub->tensors[t].dtype == KILN_DTYPE_UNDEFINED && sub->tensors[t].producer >= 0)
                    sub->tensors[t].dtype = views[t].dtype;
        }
        kiln_clear_error();
    }
    free(ranks);
    free(dims);
    free(views);
}

kiln_status kiln_pass_infer_shapes(const kiln_graph *g, const int32_t *input_ranks,
                                   const int64_t (*input_dims)[KILN_MAX_DIMS], kiln_tview *views) {
    for (int32_t t = 0; t < g->tensor_count; t++) {
        const kiln_ir_tensor *it = &g->tensors[t];
        kiln_tview *v = &views[t];
        memset(v, 0, sizeof *v);
        v->dtype = it->dtype;
        v->rank = it->data ? it->rank : -1;
        if (it->data) memcpy(v->dims, it->dims, sizeof v->dims);
        v->data = it->data;
    }
    for (int32_t i = 0; i < g->input_count; i++) {
        kiln_tview *v = &views[g->inputs[i]];
        v->rank = input_ranks[i];
        memcpy(v->dims, input_dims[i], sizeof v->dims);
    }
    int32_t max_io = 1;
    for (int32_t i = 0; i < g->node_count; i++) {
        if (g->nodes[i].input_count > max_io) max_io = g->nodes[i].input_count;
        if (g->nodes[i].output_count > max_io) max_io = g->nodes[i].output_count;
    }
    kiln_tview *in = calloc((size_t)max_io, sizeof *in), *out = calloc((size_t)max_io, sizeof *out);
    if (!in || !out) {
        free(in);
        free(out);
        return kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory inferring shapes");
    }
    kiln_status st = KILN_OK;
    for (int32_t step = 0; st == KILN_OK && step < g->node_count; step++) {
        const kiln_node *n = &g->nodes[step];
        for (int32_t i = 0; i < n->input_count; i++) {
            if (n->inputs[i] >= 0) {
                in[i] = views[n->inputs[i]];
            } else {
                memset(&in[i], 0, sizeof in[i]);
                in[i].rank = -1;
            }
        }
        for (int32_t i = 0; i < n->output_count; i++) {
            memset(&out[i], 0, sizeof out[i]);
            out[i].rank = -1;
            if (n->outputs[i] >= 0) out[i].dtype = KILN_DTYPE_FLOAT32; /* present */
        }
        for (int32_t a = 0; a < n->attr_count; a++)
            if (n->attrs[a].graph) kiln_pass_infer_subgraph_types(n->attrs[a].graph, g, views);
        /* An input of unknown dtype (downstream of an unsupported case) stops nothing: the
         * shape function sees it and reports what it can. */
        st = kiln_op_shape_fn(n->op)(n, in, n->input_count, out, n->output_count);
        for (int32_t i = 0; st == KILN_OK && i < n->output_count; i++) {
            if (n->outputs[i] < 0) continue;
            out[i].data = NULL; /* values are known only for constants */
            views[n->outputs[i]] = out[i];
        }
    }
    free(in);
    free(out);
    return st;
}
