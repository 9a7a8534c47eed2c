#include <stdlib.h>
#include <string.h>

#include "backends/cpu/cpu_executor.h"
#include "passes/passes.h"

/* Folded results larger than this stay computed at run time: they would bloat the plan. */
#define KILN_FOLD_MAX_BYTES (64u << 20)

static int kiln_fold_is_random(kiln_op op) {
    const char *name = kiln_op_get_info(op)->name;
    return !strncmp(name, "Random", 6) || !strcmp(name, "Bernoulli") ||
           !strcmp(name, "Multinomial");
}

static int kiln_fold_has_subgraph(const kiln_node *n) {
    for (int32_t a = 0; a < n->attr_count; a++)
        if (n->attrs[a].type == KILN_ATTR_GRAPH || n->attrs[a].type == KILN_ATTR_GRAPHS) return 1;
    return 0;
}

/* Whether a node's inputs are all known at build time. Shape and Size only need their
 * input's shape, which is known when it is the same across the whole profile. */
static int kiln_fold_inputs_known(const kiln_graph *g, const kiln_node *n,
                                  const uint8_t *fixed_shape) {
    const char *name = kiln_op_get_info(n->op)->name;
    int shape_only = !strcmp(name, "Shape") || !strcmp(name, "Size");
    for (int32_t i = 0; i < n->input_count; i++) {
        int32_t t = n->inputs[i];
        if (t < 0) continue;
        if (g->tensors[t].data) continue;
        if (shape_only && fixed_shape[t]) continue;
        return 0;
    }
    return 1;
}

kiln_status kiln_pass_fold_constants(kiln_graph *g, const kiln_tview *static_views,
                                     const uint8_t *fixed_shape, int32_t *folded) {
    int32_t *first = calloc((size_t)(g->tensor_count + 1), sizeof *first);
    int32_t *last = calloc((size_t)(g->tensor_count + 1), sizeof *last);
    uint8_t *gone = calloc((size_t)(g->node_count + 1), 1);
    kiln_cpu_state s;
    kiln_status st = first && last && gone ? kiln_cpu_state_init(&s, g, first, last, 1)
                                           : kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
    if (st != KILN_OK) {
        free(first);
        free(last);
        free(gone);
        return st;
    }
    /* last_use stays 0 for every tensor, and steps are > 0 below except the first: the
     * executor never frees an input early, since -1 never matches a step. */
    for (int32_t t = 0; t < g->tensor_count; t++) last[t] = -1;
    static uint8_t shape_only_dummy[8];
    int32_t count = 0;
    for (int32_t step = 0; step < g->node_count; step++) {
        const kiln_node *n = &g->nodes[step];
        if (kiln_fold_is_random(n->op) || kiln_fold_has_subgraph(n) ||
            !kiln_fold_inputs_known(g, n, fixed_shape))
            continue;
        int too_big = 0;
        for (int32_t i = 0; i < n->output_count; i++) {
            int32_t t = n->outputs[i];
            if (t < 0) continue;
            const kiln_tview *v = &static_views[t];
            int64_t c = kiln_tview_count(v);
            if (c < 0 || kiln_dtype_nbytes(v->dtype, c) > KILN_FOLD_MAX_BYTES) too_big = 1;
        }
        if (too_big) continue;
        for (int32_t i = 0; i < n->input_count; i++) {
            int32_t t = n->inputs[i];
            if (t < 0) continue;
            const kiln_ir_tensor *it = &g->tensors[t];
            kiln_tview *v = &s.values[t];
            if (it->data) {
                v->dtype = it->dtype;
                v->rank = it->rank;
                memcpy(v->dims, it->dims, sizeof v->dims);
                v->data = it->data;
            } else { /* Shape/Size of a fixed-shape tensor: only the shape is read */
                *v = static_views[t];
                v->data = shape_only_dummy;
            }
        }
        if (kiln_cpu_run_one(&s, step) != KILN_OK) {
            kiln_clear_error(); /* left to run time, where the error names the inputs */
            continue;
        }
        for (int32_t i = 0; i < n->output_count; i++) {
            int32_t t = n->outputs[i];
            if (t < 0) continue;
            kiln_ir_tensor *it = &g->tensors[t];
            const kiln_tview *v = &s.values[t];
            size_t bytes = kiln_dtype_nbytes(v->dtype, kiln_tview_count(v));
            void *data = s.heap[t];
            s.heap[t] = NULL;
            if (!data) { /* zero bytes, or placed elsewhere: keep a copy of its own */
                data = malloc(bytes ? bytes : 1);
                if (!data) {
                    st = kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
                    break;
                }
                if (bytes) memcpy(data, v->data, bytes);
            }
            it->dtype = v->dtype;
            it->rank = v->rank;
            memcpy(it->dims, v->dims, sizeof it->dims);
            kiln_graph_take_constant(g, t, data, bytes);
            it->producer = -1;
        }
        if (st != KILN_OK) break;
        gone[step] = 1;
        count++;
    }
    kiln_cpu_state_free(&s);
    /* Drop the folded nodes, keeping the others in order. */
    int32_t w = 0;
    for (int32_t step = 0; step < g->node_count && st == KILN_OK; step++) {
        if (!gone[step]) {
            g->nodes[w++] = g->nodes[step];
            continue;
        }
        kiln_node_clear(&g->nodes[step]);
    }
    if (st == KILN_OK) {
        g->node_count = w;
        for (int32_t step = 0; step < w; step++)
            for (int32_t i = 0; i < g->nodes[step].output_count; i++)
                if (g->nodes[step].outputs[i] >= 0)
                    g->tensors[g->nodes[step].outputs[i]].producer = step;
    }
    free(first);
    free(last);
    free(gone);
    if (folded) *folded = count;
    return st;
}
