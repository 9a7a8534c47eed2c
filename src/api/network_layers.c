/*
 * The layer API's shared plumbing (see network_layers_internal.h). The layers themselves
 * live by family in network_layers_nn.c, network_layers_elementwise.c and
 * network_layers_tensor.c.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/network_layers_internal.h"
#include "ir/tview.h"

kiln_status kiln_lc_arg_error(const kiln_layer_ctx *c, const char *fmt, ...) {
    char msg[1024];
    va_list args;
    va_start(args, fmt);
    vsnprintf(msg, sizeof msg, fmt, args);
    va_end(args);
    return kiln_error(KILN_ERR_INVALID_ARGUMENT, "%s: %s", c->call, msg);
}

static int kiln_lc_node_name_taken(const kiln_graph *g, const char *name) {
    for (int32_t i = 0; i < g->node_count; i++)
        if (g->nodes[i].name && !strcmp(g->nodes[i].name, name)) return 1;
    return 0;
}

kiln_status kiln_lc_begin(kiln_layer_ctx *c, kiln_network *net, kiln_layer **out, const char *call,
                          const char *prefix) {
    memset(c, 0, sizeof *c);
    c->call = call;
    if (!net) return kiln_error(KILN_ERR_INVALID_ARGUMENT, "%s: network is NULL", call);
    if (!out) return kiln_error(KILN_ERR_INVALID_ARGUMENT, "%s: out is NULL", call);
    c->net = net;
    c->g = net->graph;
    c->tensor_mark = c->g->tensor_count;
    c->node_mark = c->g->node_count;
    /* The node count makes names unique among layer-API names; a user's own layer name
     * could still take one, hence the check. */
    snprintf(c->name, sizeof c->name, "%s_%d", prefix, (int)c->g->node_count);
    for (int k = 1; kiln_lc_node_name_taken(c->g, c->name); k++)
        snprintf(c->name, sizeof c->name, "%s_%d_%d", prefix, (int)c->g->node_count, k);
    return KILN_OK;
}

static void kiln_lc_rollback(kiln_layer_ctx *c) {
    kiln_graph *g = c->g;
    for (int32_t i = c->node_mark; i < g->node_count; i++) kiln_node_clear(&g->nodes[i]);
    g->node_count = c->node_mark;
    for (int32_t t = c->tensor_mark; t < g->tensor_count; t++) {
        kiln_ir_tensor *it = &g->tensors[t];
        free(it->name);
        if (!it->borrowed) free(it->data);
        for (int d = 0; d < KILN_MAX_DIMS; d++) free(it->dim_names[d]);
        memset(it, 0, sizeof *it);
    }
    g->tensor_count = c->tensor_mark;
}

/* Output dtypes and shapes of a new node, from its op's shape function, so that callers
 * can read them back (kiln_tensor_get_dims) before any build. With every input fully known
 * a failure is the caller's mistake and is reported; with dynamic dims the builder decides
 * later with real shapes, so a failure here only leaves the outputs unknown. */
static kiln_status kiln_lc_infer(kiln_layer_ctx *c, int32_t node) {
    kiln_graph *g = c->g;
    const kiln_node *n = &g->nodes[node];
    kiln_shape_fn fn = kiln_op_shape_fn(n->op);
    if (!fn) return KILN_OK;
    int32_t n_in = n->input_count, n_out = n->output_count;
    kiln_tview *in = calloc((size_t)(n_in + 1), sizeof *in);
    kiln_tview *out = calloc((size_t)(n_out + 1), sizeof *out);
    if (!in || !out) {
        free(in);
        free(out);
        return kiln_error(KILN_ERR_OUT_OF_MEMORY, "%s: out of memory", c->call);
    }
    int known = 1, usable = 1;
    for (int32_t i = 0; i < n_in; i++) {
        in[i].rank = -1;
        if (n->inputs[i] < 0) continue;
        const kiln_ir_tensor *t = &g->tensors[n->inputs[i]];
        /* An unknown dtype would read as an omitted input: leave the node to the builder. */
        if (t->dtype == KILN_DTYPE_UNDEFINED) usable = 0;
        in[i].dtype = t->dtype;
        in[i].rank = t->rank;
        memcpy(in[i].dims, t->dims, sizeof in[i].dims);
        in[i].data = t->data;
        if (t->rank < 0) known = 0;
        for (int32_t d = 0; d < t->rank; d++)
            if (t->dims[d] < 0) known = 0;
    }
    for (int32_t i = 0; i < n_out; i++) {
        out[i].rank = -1;
        if (n->outputs[i] >= 0) out[i].dtype = KILN_DTYPE_FLOAT32; /* marks it present */
    }
    kiln_status st = KILN_OK;
    if (usable) {
        char saved[2048];
        snprintf(saved, sizeof saved, "%s", kiln_last_error());
        st = fn(n, in, n_in, out, n_out);
        if (st != KILN_OK && !known) {
            kiln_error(KILN_OK, "%s", saved); /* not the caller's error: keep theirs */
            st = KILN_OK;
            usable = 0;
        } else if (st != KILN_OK) {
            kiln_error_prefix("%s", c->call);
            /* Shapes that do not fit are bad arguments of this call. */
            if (st == KILN_ERR_SHAPE) st = KILN_ERR_INVALID_ARGUMENT;
        }
    }
    for (int32_t i = 0; st == KILN_OK && usable && i < n_out; i++) {
        if (n->outputs[i] < 0) continue;
        kiln_ir_tensor *t = &g->tensors[n->outputs[i]];
        t->dtype = out[i].dtype;
        t->rank = out[i].rank;
        for (int32_t d = 0; d < KILN_MAX_DIMS; d++)
            t->dims[d] = d < out[i].rank ? out[i].dims[d] : 0;
    }
    free(in);
    free(out);
    return st;
}

kiln_status kiln_lc_finish(kiln_layer_ctx *c, kiln_status st, kiln_layer **out) {
    if (!c->g) return st; /* kiln_lc_begin failed: nothing to undo */
    if (st == KILN_OK && c->g->node_count == c->node_mark)
        st = kiln_error(KILN_ERR_INTERNAL, "%s: no node was added", c->call);
    for (int32_t i = c->node_mark; st == KILN_OK && i < c->g->node_count; i++)
        st = kiln_lc_infer(c, i);
    kiln_layer *layer = NULL;
    if (st == KILN_OK) {
        layer = kiln_network_layer_handle(c->net, c->g->node_count - 1);
        if (!layer) st = kiln_error(KILN_ERR_OUT_OF_MEMORY, "%s: out of memory", c->call);
    }
    if (st != KILN_OK) {
        kiln_lc_rollback(c);
        return st;
    }
    *out = layer;
    return KILN_OK;
}

kiln_status kiln_lc_tensor(const kiln_layer_ctx *c, const kiln_tensor *t, const char *what,
                           int32_t *index) {
    if (!t) return kiln_lc_arg_error(c, "%s is NULL", what);
    if (t->network != c->net || t->index < 0 || t->index >= c->g->tensor_count)
        return kiln_lc_arg_error(c, "%s '%s' belongs to another network", what,
                                 t->network ? kiln_tensor_get_name(t) : "?");
    *index = t->index;
    return KILN_OK;
}

kiln_status kiln_lc_need_rank(const kiln_layer_ctx *c, int32_t index, const char *what,
                              int32_t *rank) {
    const kiln_ir_tensor *t = kiln_lc_t(c, index);
    if (t->rank < 0)
        return kiln_lc_arg_error(c, "the rank of %s '%s' is unknown, and this layer needs it", what,
                                 t->name);
    *rank = t->rank;
    return KILN_OK;
}

kiln_status kiln_lc_axis(const kiln_layer_ctx *c, int64_t axis, int32_t rank, const char *what,
                         int32_t *out) {
    if (axis < -(int64_t)rank || axis >= rank)
        return kiln_lc_arg_error(c, "%s %lld is out of range for rank %d (allowed: %d..%d)", what,
                                 (long long)axis, (int)rank, -(int)rank, (int)rank - 1);
    *out = (int32_t)(axis < 0 ? axis + rank : axis);
    return KILN_OK;
}

kiln_status kiln_lc_weights(const kiln_layer_ctx *c, kiln_weights w, const char *what, int32_t rank,
                            const int64_t *dims) {
    char shape_text[256];
    kiln_shape_string(rank, dims, shape_text, sizeof shape_text);
    int64_t expected = 1;
    for (int32_t i = 0; i < rank; i++) {
        if (dims[i] != 0 && expected > INT64_MAX / dims[i])
            return kiln_lc_arg_error(c, "%s weights of shape %s would be too large", what,
                                     shape_text);
        expected *= dims[i];
    }
    if (kiln_dtype_bits(w.dtype) == 0)
        return kiln_lc_arg_error(c, "%s weights have dtype %s", what, kiln_dtype_name(w.dtype));
    if (w.count != expected)
        return kiln_lc_arg_error(c, "%s weights have %lld values; shape %s needs %lld", what,
                                 (long long)w.count, shape_text, (long long)expected);
    if (w.count > 0 && !w.values) return kiln_lc_arg_error(c, "%s weights have no values", what);
    return KILN_OK;
}

kiln_status kiln_lc_weights_dtype(const kiln_layer_ctx *c, kiln_weights w, const char *what,
                                  int32_t input) {
    const kiln_ir_tensor *t = kiln_lc_t(c, input);
    if (t->dtype != KILN_DTYPE_UNDEFINED && w.dtype != t->dtype)
        return kiln_lc_arg_error(c, "%s weights are %s, but input '%s' is %s", what,
                                 kiln_dtype_name(w.dtype), t->name, kiln_dtype_name(t->dtype));
    return KILN_OK;
}

/* A new tensor named `base`, or `base_1`, `base_2`... when a user's tensor took the name. */
static kiln_status kiln_lc_add_tensor(kiln_layer_ctx *c, const char *base, kiln_dtype dtype,
                                      int32_t rank, const int64_t *dims, int32_t *out) {
    char name[256];
    snprintf(name, sizeof name, "%s", base);
    for (int k = 1; kiln_graph_find_tensor(c->g, name) >= 0; k++)
        snprintf(name, sizeof name, "%s_%d", base, k);
    return kiln_graph_add_tensor(c->g, name, dtype, rank, dims, out);
}

kiln_status kiln_lc_constant(kiln_layer_ctx *c, const char *suffix, kiln_dtype dtype, int32_t rank,
                             const int64_t *dims, const void *data, int32_t *out) {
    char name[256];
    snprintf(name, sizeof name, "%s/%s", c->name, suffix);
    int32_t t;
    KILN_TRY(kiln_lc_add_tensor(c, name, dtype, rank, dims, &t));
    int64_t count = kiln_shape_count(rank, dims);
    KILN_TRY(kiln_graph_set_constant(c->g, t, data, kiln_dtype_nbytes(dtype, count)));
    *out = t;
    return KILN_OK;
}

kiln_status kiln_lc_constant_ints(kiln_layer_ctx *c, const char *suffix, const int64_t *v,
                                  int32_t n, int32_t *out) {
    int64_t dims[1] = {n};
    return kiln_lc_constant(c, suffix, KILN_DTYPE_INT64, 1, dims, v, out);
}

kiln_status kiln_lc_scalar(kiln_layer_ctx *c, const char *suffix, kiln_dtype dtype, double v,
                           int32_t *out) {
    if (dtype == KILN_DTYPE_UNDEFINED) dtype = KILN_DTYPE_FLOAT32;
    if (kiln_dtype_bits(dtype) == 0 || kiln_dtype_bits(dtype) > 64 || kiln_dtype_bits(dtype) % 8)
        return kiln_lc_arg_error(c, "cannot make a %s constant for %s", kiln_dtype_name(dtype),
                                 suffix);
    uint64_t storage = 0;
    kiln_tview view = {0};
    view.dtype = dtype;
    view.rank = 0;
    view.data = &storage;
    kiln_tview_set_double(&view, 0, v);
    return kiln_lc_constant(c, suffix, dtype, 0, NULL, &storage, out);
}

kiln_status kiln_lc_node(kiln_layer_ctx *c, kiln_op op, const char *suffix, const int32_t *ins,
                         int32_t n_in, int32_t *node, int32_t *output) {
    char node_name[256], out_name[300];
    if (suffix)
        snprintf(node_name, sizeof node_name, "%s/%s", c->name, suffix);
    else
        snprintf(node_name, sizeof node_name, "%s", c->name);
    snprintf(out_name, sizeof out_name, "%s_output", node_name);
    int32_t t;
    KILN_TRY(kiln_lc_add_tensor(c, out_name, KILN_DTYPE_UNDEFINED, -1, NULL, &t));
    KILN_TRY(
        kiln_graph_add_node(c->g, node_name, op, c->net->default_opset, ins, n_in, &t, 1, node));
    *output = t;
    return KILN_OK;
}

kiln_status kiln_lc_find_op(const kiln_layer_ctx *c, const char *name, kiln_op *op) {
    *op = kiln_op_from_name(name);
    if (*op == KILN_OP_COUNT)
        return kiln_error(KILN_ERR_UNSUPPORTED,
                          "%s: this kiln has no %s op yet (the op registry, src/ir/ops*.def, "
                          "lacks it)",
                          c->call, name);
    return KILN_OK;
}
