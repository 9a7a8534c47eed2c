#include <stdlib.h>
#include <string.h>

#include "passes/passes.h"

/* Marks what the graph outputs need, then rebuilds the node list without the rest.
 * Tensors stay (indices are stable); unused constants lose their data. */
static void kiln_dce_mark(void *user, int32_t tensor) {
    ((uint8_t *)user)[tensor] = 1;
}

kiln_status kiln_pass_eliminate_dead_code(kiln_graph *g, int32_t *removed) {
    uint8_t *live = calloc((size_t)(g->tensor_count + 1), 1);
    uint8_t *keep = calloc((size_t)(g->node_count + 1), 1);
    if (!live || !keep) {
        free(live);
        free(keep);
        return kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
    }
    for (int32_t i = 0; i < g->output_count; i++) live[g->outputs[i]] = 1;
    for (int32_t step = g->node_count - 1; step >= 0; step--) {
        const kiln_node *n = &g->nodes[step];
        int needed = 0;
        for (int32_t i = 0; i < n->output_count && !needed; i++)
            needed = n->outputs[i] >= 0 && live[n->outputs[i]];
        if (!needed) continue;
        keep[step] = 1;
        for (int32_t i = 0; i < n->input_count; i++)
            if (n->inputs[i] >= 0) live[n->inputs[i]] = 1;
        /* subgraphs may read any outer value by name: keep those alive too */
        kiln_node_outer_reads(n, g, kiln_dce_mark, live);
    }
    int32_t w = 0;
    for (int32_t step = 0; step < g->node_count; step++) {
        if (keep[step]) {
            g->nodes[w++] = g->nodes[step];
            continue;
        }
        kiln_node *n = &g->nodes[step];
        for (int32_t i = 0; i < n->output_count; i++)
            if (n->outputs[i] >= 0) g->tensors[n->outputs[i]].producer = -1;
        kiln_node_clear(n);
    }
    if (removed) *removed = g->node_count - w;
    g->node_count = w;
    for (int32_t step = 0; step < g->node_count; step++)
        for (int32_t i = 0; i < g->nodes[step].output_count; i++)
            if (g->nodes[step].outputs[i] >= 0) g->tensors[g->nodes[step].outputs[i]].producer = step;
    for (int32_t t = 0; t < g->tensor_count; t++) {
        kiln_ir_tensor *it = &g->tensors[t];
        if (it->data && !live[t]) kiln_graph_drop_constant(g, t);
    }
    free(live);
    free(keep);
    return KILN_OK;
}
