/*
 * Reduced precision (the FP16 and BF16 builder flags): float32 work moves to the half type
 * where it is safe, with casts where the two meet.
 *
 * A node runs in half precision when its op computes in its inputs' type (the list below)
 * and no per-layer override (kiln_layer_set_precision: "_kiln_precision") keeps it in
 * float32. A float32 tensor becomes half when its producer runs in half, or — constants —
 * when every reader does (the data is converted here, once). Where a tensor's type and a
 * reader's precision differ, a Cast node goes between them; graph inputs and outputs keep
 * their float32 type for the caller. Value inputs that ONNX requires in float32 (Resize
 * scales and roi) are left alone. Kernels accumulate reductions, softmax and normalizations
 * in float32 whatever their inputs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "passes/passes.h"

static const char *const kiln_half_ops[] = {
    "Conv", "ConvTranspose", "MatMul", "Gemm", "Relu", "LeakyRelu", "Sigmoid", "Tanh", "Gelu",
    "HardSigmoid", "HardSwish", "Add", "Sub", "Mul", "Div", "Pow", "Sqrt", "Reciprocal", "Erf",
    "Exp", "Log", "Neg", "Abs", "Clip", "Max", "Min", "MaxPool", "AveragePool",
    "GlobalAveragePool", "GlobalMaxPool", "BatchNormalization", "LayerNormalization",
    "Softmax", "LogSoftmax", "Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze",
    "Concat", "Slice", "Gather", "Split", "Expand", "Identity", "ReduceMean", "ReduceSum",
    "ReduceMax", "Where", "Dropout", "Resize", "Pad", "Tile", "Equal", "Less", "Greater",
    "Softplus", "Elu", "Selu", "Mish", "Swish", NULL};

static int kiln_precision_half_op(const kiln_node *n) {
    const char *name = kiln_op_get_info(n->op)->name;
    if (kiln_attr_int(n, "_kiln_precision", 0) == KILN_DTYPE_FLOAT32) return 0;
    for (const char *const *p = kiln_half_ops; *p; p++)
        if (!strcmp(*p, name)) return 1;
    /* Cast to float32 becomes a cast to the half type. */
    return !strcmp(name, "Cast") && kiln_attr_int(n, "to", 0) == KILN_DTYPE_FLOAT32;
}

/* Inputs ONNX types independently of the data (they stay float32). */
static int kiln_precision_fixed_input(const kiln_node *n, int32_t i) {
    const char *name = kiln_op_get_info(n->op)->name;
    if (!strcmp(name, "Resize") || !strcmp(name, "Upsample")) return i >= 1;
    return 0;
}

/* Constants saturate at float16's largest finite value rather than becoming infinite:
 * exporters write "minus infinity" masks as -FLT_MAX, and 0 * -inf would be NaN. */
static void kiln_precision_convert(void *dst, const float *src, size_t n, kiln_dtype half) {
    uint16_t *h = dst;
    for (size_t i = 0; i < n; i++) {
        float v = src[i];
        if (half == KILN_DTYPE_FLOAT16 && v == v) {
            if (v > 65504.0f && v <= 3.4028235e38f) v = 65504.0f;
            if (v < -65504.0f && v >= -3.4028235e38f) v = -65504.0f;
        }
        h[i] = half == KILN_DTYPE_FLOAT16 ? kiln_float_to_half(v) : kiln_float_to_bf16(v);
    }
}

/* Adds "Cast(src) -> new tensor of type `to`" before step `before` (nodes are appended and
 * moved into place by the caller's final reorder). Returns the new tensor. */
static kiln_status kiln_precision_cast(kiln_graph *g, int32_t src, kiln_dtype to, int32_t *out) {
    char name[1024];
    snprintf(name, sizeof name, "%s/as_%s", g->tensors[src].name, kiln_dtype_name(to));
    int32_t existing = kiln_graph_find_tensor(g, name);
    if (existing >= 0) {
        *out = existing;
        return KILN_OK;
    }
    int32_t t, node;
    KILN_TRY(kiln_graph_add_tensor(g, name, to, g->tensors[src].rank, g->tensors[src].dims, &t));
    KILN_TRY(kiln_graph_add_node(g, name, kiln_op_from_name("Cast"), 21, &src, 1, &t, 1, &node));
    KILN_TRY(kiln_node_set_int(g, node, "to", to));
    *out = t;
    return KILN_OK;
}

/* Puts nodes back in an order where every input is produced before it is read. */
static kiln_status kiln_precision_reorder(kiln_graph *g) {
    int32_t n = g->node_count;
    uint8_t *done = calloc((size_t)n + 1, 1), *ready = calloc((size_t)g->tensor_count + 1, 1);
    kiln_node *order = malloc(sizeof *order * (size_t)(n + 1));
    if (!done || !ready || !order) {
        free(done);
        free(ready);
        free(order);
        return kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
    }
    for (int32_t t = 0; t < g->tensor_count; t++) ready[t] = g->tensors[t].producer < 0;
    int32_t w = 0, progress = 1;
    while (w < n && progress) {
        progress = 0;
        for (int32_t i = 0; i < n; i++) {
            if (done[i]) continue;
            const kiln_node *node = &g->nodes[i];
            int ok = 1;
            for (int32_t k = 0; k < node->input_count && ok; k++)
                ok = node->inputs[k] < 0 || ready[node->inputs[k]];
            if (!ok) continue;
            order[w++] = *node;
            done[i] = 1;
            progress = 1;
            for (int32_t k = 0; k < node->output_count; k++)
                if (node->outputs[k] >= 0) ready[node->outputs[k]] = 1;
        }
    }
    kiln_status st = w == n ? KILN_OK
                            : kiln_error(KILN_ERR_INTERNAL, "reduced precision: the graph has a cycle");
    if (st == KILN_OK) {
        memcpy(g->nodes, order, sizeof *order * (size_t)n);
        for (int32_t i = 0; i < n; i++)
            for (int32_t k = 0; k < g->nodes[i].output_count; k++)
                if (g->nodes[i].outputs[k] >= 0) g->tensors[g->nodes[i].outputs[k]].producer = i;
    }
    free(done);
    free(ready);
    free(order);
    return st;
}

kiln_status kiln_pass_reduce_precision(kiln_graph *g, kiln_dtype half, int32_t *casts) {
    int32_t nodes = g->node_count, tensors = g->tensor_count;
    uint8_t *half_node = calloc((size_t)nodes + 1, 1);
    uint8_t *to_half = calloc((size_t)tensors + 1, 1);
    if (!half_node || !to_half) {
        free(half_node);
        free(to_half);
        return kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
    }
    for (int32_t i = 0; i < nodes; i++) half_node[i] = (uint8_t)kiln_precision_half_op(&g->nodes[i]);
    /* Outputs of half nodes that were float32 become half. */
    for (int32_t i = 0; i < nodes; i++) {
        if (!half_node[i]) continue;
        const kiln_node *n = &g->nodes[i];
        for (int32_t k = 0; k < n->output_count; k++) {
            int32_t t = n->outputs[k];
            if (t >= 0 && (g->tensors[t].dtype == KILN_DTYPE_FLOAT32 ||
                           kiln_op_from_name("Cast") == n->op))
                to_half[t] = g->tensors[t].dtype == KILN_DTYPE_FLOAT32;
        }
    }
    /* float32 constants read only by half nodes (at ordinary positions) become half. */
    for (int32_t t = 0; t < tensors; t++) {
        kiln_ir_tensor *it = &g->tensors[t];
        if (!it->data || it->dtype != KILN_DTYPE_FLOAT32) continue;
        int readers = 0, all_half = 1;
        for (int32_t i = 0; i < nodes; i++)
            for (int32_t k = 0; k < g->nodes[i].input_count; k++)
                if (g->nodes[i].inputs[k] == t) {
                    readers++;
                    if (!half_node[i] || kiln_precision_fixed_input(&g->nodes[i], k)) all_half = 0;
                }
        for (int32_t i = 0; i < g->output_count; i++) all_half &= g->outputs[i] != t;
        if (readers && all_half) to_half[t] = 1;
    }
    kiln_status st = KILN_OK;
    for (int32_t t = 0; st == KILN_OK && t < tensors; t++) {
        if (!to_half[t]) continue;
        kiln_ir_tensor *it = &g->tensors[t];
        if (it->data) {
            size_t count = it->nbytes / 4;
            void *h = malloc(count * 2 + 1);
            if (!h) {
                st = kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
                break;
            }
            kiln_precision_convert(h, it->data, count, half);
            kiln_graph_take_constant(g, t, h, count * 2);
        }
        it->dtype = half;
    }
    for (int32_t i = 0; st == KILN_OK && i < nodes; i++)
        if (half_node[i] && g->nodes[i].op == kiln_op_from_name("Cast")) {
            kiln_attr *a = (kiln_attr *)kiln_node_attr(&g->nodes[i], "to");
            if (a) a->i = half;
        }
    /* Casts where types and precisions meet. */
    int32_t added = 0;
    for (int32_t i = 0; st == KILN_OK && i < nodes; i++) {
        for (int32_t k = 0; st == KILN_OK && k < g->nodes[i].input_count; k++) {
            int32_t t = g->nodes[i].inputs[k];
            if (t < 0) continue;
            kiln_dtype have = g->tensors[t].dtype;
            int want_half = half_node[i] && !kiln_precision_fixed_input(&g->nodes[i], k);
            kiln_dtype want = have;
            if (want_half && have == KILN_DTYPE_FLOAT32) want = half;
            if (!want_half && have == half && to_half[t]) want = KILN_DTYPE_FLOAT32;
            /* Cast's input keeps its type: the Cast converts anyway. */
            if (g->nodes[i].op == kiln_op_from_name("Cast")) want = have;
            if (want == have) continue;
            int32_t c;
            st = kiln_precision_cast(g, t, want, &c);
            g->nodes[i].inputs[k] = c; /* g->nodes may have moved: index again */
            added++;
        }
    }
    /* Graph outputs keep their declared float32 type for the caller. */
    for (int32_t i = 0; st == KILN_OK && i < g->output_count; i++) {
        int32_t t = g->outputs[i];
        if (!to_half[t]) continue;
        /* The half value gets a new name; the output name goes to a float32 cast of it. */
        kiln_ir_tensor *it = &g->tensors[t];
        char internal[1024];
        snprintf(internal, sizeof internal, "%s/%s", it->name, kiln_dtype_name(half));
        char *renamed = malloc(strlen(internal) + 1);
        char *original = it->name;
        if (!renamed) {
            st = kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
            break;
        }
        strcpy(renamed, internal);
        it->name = renamed;
        int32_t out, node;
        st = kiln_graph_add_tensor(g, original, KILN_DTYPE_FLOAT32, it->rank, it->dims, &out);
        free(original);
        if (st == KILN_OK)
            st = kiln_graph_add_node(g, g->tensors[out].name, kiln_op_from_name("Cast"), 21, &t, 1,
                                     &out, 1, &node);
        if (st == KILN_OK) st = kiln_node_set_int(g, node, "to", KILN_DTYPE_FLOAT32);
        g->outputs[i] = out;
        added++;
    }
    if (st == KILN_OK) st = kiln_precision_reorder(g);
    free(half_node);
    free(to_half);
    if (casts) *casts = added;
    return st;
}
