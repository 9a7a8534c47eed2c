/*
 * Loop: body(iteration, cond, carried...) -> (cond, carried..., scan outputs...), run while
 * iteration < M and cond. Carried values are copied out of the body between runs; scan
 * outputs of every iteration are stacked along a new first axis.
 */
#include "backends/cpu/control_common.h"

typedef struct kiln_loop_stack {
    kiln_tview elem; /* shape of one iteration's value */
    uint8_t *data;
    size_t used, capacity;
} kiln_loop_stack;

static kiln_status kiln_loop_push(const kiln_node *node, kiln_loop_stack *s, const kiln_tview *v,
                                  int64_t iteration) {
    if (!kiln_tview_is_numeric_tensor(v))
        return kiln_node_error(KILN_ERR_UNSUPPORTED, node, "a scan output is a %s of %s",
                               kiln_value_kind_name(v->kind), kiln_dtype_name(v->dtype));
    size_t bytes = kiln_view_bytes(v);
    if (iteration == 0) {
        s->elem = *v;
    } else {
        int same = s->elem.rank == v->rank && s->elem.dtype == v->dtype;
        for (int32_t d = 0; same && d < v->rank; d++) same = s->elem.dims[d] == v->dims[d];
        if (!same)
            return kiln_node_error(KILN_ERR_SHAPE, node,
                                   "a scan output changes shape between iterations");
    }
    if (s->used + bytes > s->capacity) {
        size_t cap = s->capacity ? s->capacity * 2 : 256;
        while (cap < s->used + bytes) cap *= 2;
        uint8_t *p = realloc(s->data, cap);
        if (!p) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory in Loop");
        s->data = p;
        s->capacity = cap;
    }
    if (bytes) memcpy(s->data + s->used, v->data, bytes);
    s->used += bytes;
    return KILN_OK;
}

kiln_status kiln_cpu_loop(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                          int32_t n_in, kiln_tview *out, int32_t n_out) {
    const kiln_attr *body_attr = kiln_node_attr(node, "body");
    if (!body_attr || body_attr->type != KILN_ATTR_GRAPH)
        return kiln_node_error(KILN_ERR_INVALID_ARGUMENT, node, "missing body graph");
    const kiln_graph *body = body_attr->graph;
    int32_t n_carried = n_in - 2, n_scan = n_out - n_carried;
    if (n_carried < 0 || n_scan < 0 || body->input_count != n_carried + 2 ||
        body->output_count != 1 + n_carried + n_scan)
        return kiln_node_error(KILN_ERR_SHAPE, node,
                               "the body takes %d inputs and gives %d outputs; the node has %d "
                               "inputs and %d outputs",
                               body->input_count, body->output_count, n_in, n_out);
    int64_t max_trip = kiln_tview_present(&in[0]) ? kiln_tview_get_int(&in[0], 0) : INT64_MAX;
    int cond = kiln_tview_present(&in[1]) ? kiln_tview_get_int(&in[1], 0) != 0 : 1;
    kiln_owned_value *carried = calloc((size_t)n_carried + 1, sizeof *carried);
    kiln_loop_stack *stacks = calloc((size_t)n_scan + 1, sizeof *stacks);
    kiln_tview *args = calloc((size_t)n_carried + 2, sizeof *args);
    kiln_tview *results = calloc((size_t)body->output_count + 1, sizeof *results);
    kiln_status st = carried && stacks && args && results
                         ? KILN_OK
                         : kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory in Loop");
    for (int32_t i = 0; st == KILN_OK && i < n_carried; i++) st = kiln_owned_set(&carried[i], &in[2 + i]);
    int64_t iteration = 0;
    uint8_t cond_value = 1;
    while (st == KILN_OK && iteration < max_trip && cond) {
        args[0] = (kiln_tview){.dtype = KILN_DTYPE_INT64, .rank = 0, .data = &iteration};
        cond_value = (uint8_t)cond;
        args[1] = (kiln_tview){.dtype = KILN_DTYPE_BOOL, .rank = 0, .data = &cond_value};
        for (int32_t i = 0; i < n_carried; i++) args[2 + i] = carried[i].view;
        st = kiln_cpu_run_subgraph(ctx, body, args, n_carried + 2, results, body->output_count);
        if (st != KILN_OK) break;
        cond = kiln_tview_get_int(&results[0], 0) != 0;
        for (int32_t i = 0; st == KILN_OK && i < n_carried; i++)
            st = kiln_owned_set(&carried[i], &results[1 + i]);
        for (int32_t k = 0; st == KILN_OK && k < n_scan; k++)
            st = kiln_loop_push(node, &stacks[k], &results[1 + n_carried + k], iteration);
        iteration++;
    }
    for (int32_t i = 0; st == KILN_OK && i < n_carried; i++)
        if (node->outputs[i] >= 0) st = kiln_control_emit(ctx, out, i, &carried[i].view);
    for (int32_t k = 0; st == KILN_OK && k < n_scan; k++) {
        int32_t o = n_carried + k;
        if (node->outputs[o] < 0) continue;
        kiln_tview v = stacks[k].elem;
        if (iteration == 0) { /* no iteration: an empty stack */
            v.dtype = out[o].dtype;
            v.rank = 0;
        }
        if (v.rank + 1 > KILN_MAX_DIMS) {
            st = kiln_node_error(KILN_ERR_UNSUPPORTED, node, "scan output rank too high");
            break;
        }
        memmove(v.dims + 1, v.dims, sizeof(int64_t) * (size_t)v.rank);
        v.dims[0] = iteration;
        v.rank++;
        v.data = stacks[k].data;
        st = kiln_control_emit(ctx, out, o, &v);
    }
    kiln_owned_free(carried, n_carried);
    for (int32_t k = 0; stacks && k < n_scan; k++) free(stacks[k].data);
    free(stacks);
    free(args);
    free(results);
    return st;
}
