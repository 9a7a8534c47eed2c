/*
 * Scan: body(states..., slices...) -> (states..., outputs...), once per position along each
 * scan input's axis (or in reverse); per-iteration outputs are stacked along their axis.
 * Opset 8's Scan has a leading batch dimension on every input and scans axis 1; it runs the
 * same loop once per batch element.
 */
#include "backends/cpu/control_common.h"

typedef struct kiln_scan_spec {
    int32_t n_states, n_inputs, n_outputs;
    const int64_t *in_axes, *in_dirs, *out_axes, *out_dirs;
    int32_t n_in_axes, n_in_dirs, n_out_axes, n_out_dirs;
} kiln_scan_spec;

static int64_t kiln_scan_attr(const int64_t *v, int32_t n, int32_t i) {
    return v && i < n ? v[i] : 0;
}

static int64_t kiln_prod(const int64_t *d, int32_t from, int32_t to) {
    int64_t p = 1;
    for (int32_t i = from; i < to; i++) p *= d[i];
    return p;
}

/* Copies slice `index` of `src` along `axis` into `dst` (dims without that axis). */
static void kiln_scan_take(const kiln_tview *src, int32_t axis, int64_t index, kiln_tview *dst) {
    size_t es = kiln_dtype_nbytes(src->dtype, 1);
    int64_t outer = kiln_prod(src->dims, 0, axis), inner = kiln_prod(src->dims, axis + 1, src->rank);
    int64_t len = src->dims[axis];
    for (int64_t o = 0; o < outer; o++)
        memcpy((uint8_t *)dst->data + (size_t)(o * inner) * es,
               (const uint8_t *)src->data + (size_t)((o * len + index) * inner) * es,
               (size_t)inner * es);
    dst->dtype = src->dtype;
    dst->rank = src->rank - 1;
    for (int32_t d = 0, k = 0; d < src->rank; d++)
        if (d != axis) dst->dims[k++] = src->dims[d];
}

/* Writes `v` as position `index` along `axis` of `dst` (whose dims include that axis). */
static void kiln_scan_put(kiln_tview *dst, int32_t axis, int64_t index, const kiln_tview *v) {
    size_t es = kiln_dtype_nbytes(v->dtype, 1);
    int64_t outer = kiln_prod(dst->dims, 0, axis), inner = kiln_prod(dst->dims, axis + 1, dst->rank);
    int64_t len = dst->dims[axis];
    for (int64_t o = 0; o < outer; o++)
        memcpy((uint8_t *)dst->data + (size_t)((o * len + index) * inner) * es,
               (const uint8_t *)v->data + (size_t)(o * inner) * es, (size_t)inner * es);
}

/* One scan over `inputs` (no batch axis). Outputs: states[] final states (owned), and the
 * stacked outputs written into `stacked[k]` (allocated here on the first iteration). */
static kiln_status kiln_scan_run(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_graph *body,
                                 const kiln_scan_spec *sp, const kiln_tview *init,
                                 const kiln_tview *scan_in, kiln_owned_value *states,
                                 kiln_owned_value *stacked) {
    int32_t ns = sp->n_states, ni = sp->n_inputs, no = sp->n_outputs;
    int64_t length = -1;
    for (int32_t j = 0; j < ni; j++) {
        int64_t axis = kiln_scan_attr(sp->in_axes, sp->n_in_axes, j);
        if (axis < 0) axis += scan_in[j].rank;
        if (axis < 0 || axis >= scan_in[j].rank)
            return kiln_node_error(KILN_ERR_SHAPE, node, "scan input %d has no axis %lld", j, (long long)axis);
        int64_t len = scan_in[j].dims[axis];
        if (length >= 0 && len != length)
            return kiln_node_error(KILN_ERR_SHAPE, node, "scan inputs differ in length (%lld vs %lld)",
                                   (long long)length, (long long)len);
        length = len;
    }
    if (length < 0) length = 0;
    kiln_status st = KILN_OK;
    for (int32_t i = 0; st == KILN_OK && i < ns; i++) st = kiln_owned_set(&states[i], &init[i]);
    kiln_tview *args = calloc((size_t)(ns + ni + 1), sizeof *args);
    kiln_tview *res = calloc((size_t)(ns + no + 1), sizeof *res);
    kiln_owned_value *slices = calloc((size_t)ni + 1, sizeof *slices);
    if (!args || !res || !slices) st = kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory in Scan");
    for (int64_t t = 0; st == KILN_OK && t < length; t++) {
        for (int32_t i = 0; i < ns; i++) args[i] = states[i].view;
        for (int32_t j = 0; st == KILN_OK && j < ni; j++) {
            int64_t axis = kiln_scan_attr(sp->in_axes, sp->n_in_axes, j);
            if (axis < 0) axis += scan_in[j].rank;
            int64_t pos = kiln_scan_attr(sp->in_dirs, sp->n_in_dirs, j) ? length - 1 - t : t;
            size_t bytes = kiln_view_bytes(&scan_in[j]) / (size_t)(length ? length : 1);
            if (!slices[j].view.data || slices[j].capacity < bytes) {
                void *p = realloc(slices[j].view.data, bytes ? bytes : 1);
                if (!p) {
                    st = kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory in Scan");
                    break;
                }
                slices[j].view.data = p;
                slices[j].capacity = bytes;
            }
            kiln_scan_take(&scan_in[j], (int32_t)axis, pos, &slices[j].view);
            args[ns + j] = slices[j].view;
        }
        if (st == KILN_OK) st = kiln_cpu_run_subgraph(ctx, body, args, ns + ni, res, ns + no);
        for (int32_t i = 0; st == KILN_OK && i < ns; i++) st = kiln_owned_set(&states[i], &res[i]);
        for (int32_t k = 0; st == KILN_OK && k < no; k++) {
            const kiln_tview *v = &res[ns + k];
            int64_t axis = kiln_scan_attr(sp->out_axes, sp->n_out_axes, k);
            if (axis < 0) axis += v->rank + 1;
            if (axis < 0 || axis > v->rank || v->rank + 1 > KILN_MAX_DIMS) {
                st = kiln_node_error(KILN_ERR_SHAPE, node, "scan output %d has no axis %lld", k,
                                     (long long)axis);
                break;
            }
            kiln_owned_value *o = &stacked[k];
            if (t == 0) {
                kiln_tview shape = *v;
                memmove(shape.dims + axis + 1, shape.dims + axis, sizeof(int64_t) * (size_t)(v->rank - axis));
                shape.dims[axis] = length;
                shape.rank = v->rank + 1;
                size_t bytes = kiln_view_bytes(&shape);
                void *p = realloc(o->view.data, bytes ? bytes : 1);
                if (!p) {
                    st = kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory in Scan");
                    break;
                }
                o->view = shape;
                o->view.data = p;
                o->capacity = bytes;
            } else if (kiln_view_bytes(v) * (size_t)length != kiln_view_bytes(&o->view)) {
                st = kiln_node_error(KILN_ERR_SHAPE, node, "scan output %d changes shape", k);
                break;
            }
            int64_t pos = kiln_scan_attr(sp->out_dirs, sp->n_out_dirs, k) ? length - 1 - t : t;
            kiln_scan_put(&o->view, (int32_t)axis, pos, v);
        }
    }
    kiln_owned_free(slices, ni);
    free(args);
    free(res);
    return st;
}

kiln_status kiln_cpu_scan(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                          int32_t n_in, kiln_tview *out, int32_t n_out) {
    const kiln_attr *body_attr = kiln_node_attr(node, "body");
    if (!body_attr || body_attr->type != KILN_ATTR_GRAPH)
        return kiln_node_error(KILN_ERR_INVALID_ARGUMENT, node, "missing body graph");
    const kiln_graph *body = body_attr->graph;
    int legacy = node->opset < 9; /* opset 8: sequence_lens first, batch axis 0 */
    int32_t first = legacy ? 1 : 0;
    kiln_scan_spec sp = {0};
    sp.n_inputs = (int32_t)kiln_attr_int(node, "num_scan_inputs", 0);
    sp.n_states = n_in - first - sp.n_inputs;
    sp.n_outputs = n_out - sp.n_states;
    if (sp.n_inputs < 1 || sp.n_states < 0 || sp.n_outputs < 0 ||
        body->input_count != sp.n_states + sp.n_inputs || body->output_count != n_out)
        return kiln_node_error(KILN_ERR_SHAPE, node, "the body's inputs/outputs do not match the node");
    if (legacy && kiln_tview_present(&in[0]))
        return kiln_node_error(KILN_ERR_UNSUPPORTED, node, "sequence_lens is not supported");
    sp.in_axes = kiln_attr_ints(node, "scan_input_axes", &sp.n_in_axes);
    sp.in_dirs = kiln_attr_ints(node, legacy ? "directions" : "scan_input_directions", &sp.n_in_dirs);
    sp.out_axes = kiln_attr_ints(node, "scan_output_axes", &sp.n_out_axes);
    sp.out_dirs = kiln_attr_ints(node, "scan_output_directions", &sp.n_out_dirs);
    if (legacy) sp.in_axes = sp.out_axes = NULL, sp.n_in_axes = sp.n_out_axes = 0;
    int32_t ns = sp.n_states, no = sp.n_outputs;
    kiln_owned_value *states = calloc((size_t)ns + 1, sizeof *states);
    kiln_owned_value *stacked = calloc((size_t)no + 1, sizeof *stacked);
    kiln_status st = states && stacked ? KILN_OK : kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
    if (!legacy) {
        if (st == KILN_OK) st = kiln_scan_run(ctx, node, body, &sp, in, in + ns, states, stacked);
        for (int32_t i = 0; st == KILN_OK && i < ns; i++)
            if (node->outputs[i] >= 0) st = kiln_control_emit(ctx, out, i, &states[i].view);
        for (int32_t k = 0; st == KILN_OK && k < no; k++)
            if (node->outputs[ns + k] >= 0) st = kiln_control_emit(ctx, out, ns + k, &stacked[k].view);
    } else {
        /* Batch b of every input is a contiguous block: scan each block on its own. */
        int64_t batch = in[first].rank > 0 ? in[first].dims[0] : 0;
        int32_t total = n_in - first;
        kiln_tview *sub = calloc((size_t)total + 1, sizeof *sub);
        if (!sub) st = kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
        for (int64_t b = 0; st == KILN_OK && b < batch; b++) {
            for (int32_t j = 0; j < total; j++) {
                const kiln_tview *v = &in[first + j];
                sub[j] = *v;
                sub[j].rank = v->rank - 1;
                memmove(sub[j].dims, v->dims + 1, sizeof(int64_t) * (size_t)(v->rank - 1));
                sub[j].data = (uint8_t *)v->data + (size_t)b * kiln_view_bytes(&sub[j]);
            }
            st = kiln_scan_run(ctx, node, body, &sp, sub, sub + ns, states, stacked);
            for (int32_t o = 0; st == KILN_OK && o < n_out; o++) {
                const kiln_tview *v = o < ns ? &states[o].view : &stacked[o - ns].view;
                if (node->outputs[o] < 0) continue;
                if (b == 0) {
                    int64_t dims[KILN_MAX_DIMS];
                    dims[0] = batch;
                    memcpy(dims + 1, v->dims, sizeof(int64_t) * (size_t)v->rank);
                    out[o].dtype = v->dtype;
                    st = kiln_cpu_alloc_output(ctx, o, v->rank + 1, dims);
                    if (st != KILN_OK) break;
                }
                size_t bytes = kiln_view_bytes(v);
                if (bytes * (size_t)batch != kiln_view_bytes(&out[o])) {
                    st = kiln_node_error(KILN_ERR_SHAPE, node, "output %d differs across the batch", o);
                    break;
                }
                memcpy((uint8_t *)out[o].data + (size_t)b * bytes, v->data, bytes);
            }
        }
        free(sub);
    }
    kiln_owned_free(states, ns);
    kiln_owned_free(stacked, no);
    return st;
}
