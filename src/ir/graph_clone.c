/* Deep copies of graphs: the engine owns its graph, weights included. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include "core/keepalive.h"
#include "ir/ir.h"

static kiln_status kiln_clone_oom(void) {
    return kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory copying the network");
}

static kiln_status kiln_attr_clone(const kiln_attr *src, kiln_attr *dst, kiln_graph *parent) {
    *dst = *src;
    dst->name = strdup(src->name);
    dst->s = NULL;
    dst->ints = NULL;
    dst->floats = NULL;
    dst->strings = NULL;
    dst->tensor = NULL;
    dst->graph = NULL;
    dst->graphs = NULL;
    if (!dst->name) return kiln_clone_oom();
    if (src->s) {
        dst->s = malloc(src->s_len + 1);
        if (!dst->s) return kiln_clone_oom();
        memcpy(dst->s, src->s, src->s_len + 1);
    }
    size_t n = (size_t)(src->count > 0 ? src->count : 0);
    if (src->ints) {
        dst->ints = malloc(sizeof(int64_t) * (n ? n : 1));
        if (!dst->ints) return kiln_clone_oom();
        memcpy(dst->ints, src->ints, sizeof(int64_t) * n);
    }
    if (src->floats) {
        dst->floats = malloc(sizeof(float) * (n ? n : 1));
        if (!dst->floats) return kiln_clone_oom();
        memcpy(dst->floats, src->floats, sizeof(float) * n);
    }
    if (src->strings) {
        dst->strings = calloc(n ? n : 1, sizeof(char *));
        if (!dst->strings) return kiln_clone_oom();
        for (size_t i = 0; i < n; i++)
            if (!(dst->strings[i] = strdup(src->strings[i]))) return kiln_clone_oom();
    }
    if (src->tensor) {
        dst->tensor = malloc(sizeof *dst->tensor);
        if (!dst->tensor) return kiln_clone_oom();
        *dst->tensor = *src->tensor;
        dst->tensor->data = malloc(src->tensor->nbytes ? src->tensor->nbytes : 1);
        if (!dst->tensor->data) return kiln_clone_oom();
        memcpy(dst->tensor->data, src->tensor->data, src->tensor->nbytes);
    }
    if (src->graph) KILN_TRY(kiln_graph_clone(src->graph, parent, &dst->graph));
    if (src->graphs) {
        dst->graphs = calloc(n ? n : 1, sizeof(kiln_graph *));
        if (!dst->graphs) return kiln_clone_oom();
        for (size_t i = 0; i < n; i++) KILN_TRY(kiln_graph_clone(src->graphs[i], parent, &dst->graphs[i]));
    }
    return KILN_OK;
}

kiln_status kiln_graph_clone(const kiln_graph *src, kiln_graph *parent, kiln_graph **out) {
    kiln_graph *g;
    KILN_TRY(kiln_graph_create(src->name, &g));
    g->parent = parent;
    kiln_status st = KILN_OK;
    for (int32_t i = 0; st == KILN_OK && i < src->tensor_count; i++) {
        const kiln_ir_tensor *t = &src->tensors[i];
        int32_t index;
        st = kiln_graph_add_tensor(g, t->name, t->dtype, t->rank, t->dims, &index);
        if (st != KILN_OK) break;
        g->tensors[index].producer = t->producer;
        g->tensors[index].kind = t->kind;
        for (int d = 0; d < KILN_MAX_DIMS; d++)
            if (t->dim_names[d] && !(g->tensors[index].dim_names[d] = strdup(t->dim_names[d])))
                st = kiln_clone_oom();
        /* Weights are copied: an engine must not depend on the model file (a file
         * rewritten or truncated under a mapping changes or faults the weights). A copy
         * of file-mapped bytes gives their pages back, so that the mapping and the copy
         * are not both resident while building (re-read from the file if needed). */
        if (st == KILN_OK && t->data) {
            st = kiln_graph_set_constant(g, index, t->data, t->nbytes);
            if (st == KILN_OK && t->borrowed && t->backing)
                kiln_keepalive_drop_pages(t->backing, t->data, t->nbytes);
        }
    }
    for (int32_t i = 0; st == KILN_OK && i < src->node_count; i++) {
        const kiln_node *n = &src->nodes[i];
        int32_t index;
        st = kiln_graph_add_node(g, n->name, n->op, n->opset, n->inputs, n->input_count, n->outputs,
                                 n->output_count, &index);
        if (st != KILN_OK) break;
        kiln_node *dn = &g->nodes[index];
        if (n->attr_count) {
            dn->attrs = calloc((size_t)n->attr_count, sizeof *dn->attrs);
            if (!dn->attrs) {
                st = kiln_clone_oom();
                break;
            }
        }
        for (int32_t a = 0; st == KILN_OK && a < n->attr_count; a++) {
            st = kiln_attr_clone(&n->attrs[a], &dn->attrs[a], g);
            dn->attr_count = a + 1;
        }
    }
    /* add_node set producers from outputs; keep the source's (identical) values */
    for (int32_t i = 0; st == KILN_OK && i < src->tensor_count; i++)
        g->tensors[i].producer = src->tensors[i].producer;
    for (int32_t i = 0; st == KILN_OK && i < src->input_count; i++)
        st = kiln_graph_add_input(g, src->inputs[i]);
    for (int32_t i = 0; st == KILN_OK && i < src->output_count; i++)
        st = kiln_graph_add_output(g, src->outputs[i]);
    if (st != KILN_OK) {
        kiln_graph_destroy(g);
        return st;
    }
    *out = g;
    return KILN_OK;
}
