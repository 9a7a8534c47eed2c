/*
 * Conv / ConvTranspose / Gemm / MatMul + [Add] + [activation] -> one node
 * (docs/dev/fusion-contract.md).
 *
 *   Conv + Add(y, s), s of y's shape           -> `_kiln_sum_input` = 3 (KILN_FUSE_CONV_SUM)
 *   MatMul + Add(y, bias), bias a constant of
 *     the last output dim ([N] or [1, .., N])   -> `_kiln_bias_input` = 2 (KILN_FUSE_MATMUL_BIAS)
 *   MatMul [+ bias] + Add(y, s), s of y's shape -> `_kiln_sum_input` = 3 (KILN_FUSE_MATMUL_SUM):
 *     the residual Add of transformer blocks; a MatMul that took its bias meets the loop
 *     again in the bias Add's slot and takes the residual Add then
 *   Gemm without C + Add(y, bias [N] / [1, N]) -> Gemm with C = bias, beta 1 (KILN_FUSE_GEMM_BIAS)
 *   then an activation of the result           -> `_kiln_activation` (+ `_kiln_alpha`,
 *     `_kiln_beta`): Relu, LeakyRelu, Clip (constant bounds), Sigmoid, Tanh, HardSigmoid,
 *     Gelu (none / tanh), Swish, and Mul(y, Sigmoid(y)) (KILN_FUSE_CONV_ACTIVATION for
 *     Conv / ConvTranspose, KILN_FUSE_GEMM_ACTIVATION for Gemm / MatMul).
 *
 * Only float32 / float16 / bfloat16 results are fused; every intermediate tensor must have
 * the pattern's next node as its only reader and must not be a graph output. The fused node
 * keeps the host's name, writes the pattern's last output, takes the last node's slot and
 * lists the absorbed nodes in `_kiln_fused`.
 */
#include <float.h>
#include <string.h>

#include "passes/fuse_common.h"

typedef struct act_match {
    const char *name; /* contract name, NULL: none */
    float alpha, beta;
    int has_alpha, has_beta;
    int32_t nodes[2], node_count; /* absorbed nodes, in order */
    int32_t out;                  /* the tensor the activation writes */
} act_match;

/* A Clip bound: attribute (opset < 11) or constant input; 0 when it is a computed value. */
static int clip_bound(const kiln_graph *g, const kiln_node *n, int which, double dflt, double *v) {
    if (n->opset < 11) {
        *v = kiln_attr_float(n, which ? "max" : "min", (float)dflt);
        return 1;
    }
    int32_t t = n->input_count > 1 + which ? n->inputs[1 + which] : -1;
    if (t < 0) {
        *v = dflt;
        return 1;
    }
    return kiln_fuse_const_scalar(g, t, v);
}

/* The activation reading y, if any (m->name NULL otherwise). */
static void match_activation(const kiln_fuse *f, int32_t y, act_match *m) {
    const kiln_graph *g = f->g;
    memset(m, 0, sizeof *m);
    int32_t r = kiln_fuse_sole_reader(f, y);
    if (r >= 0) {
        const kiln_node *n = &g->nodes[r];
        if (n->input_count < 1 || n->inputs[0] != y || n->output_count < 1 || n->outputs[0] < 0)
            return;
        for (int32_t k = 1; k < n->output_count; k++)
            if (n->outputs[k] >= 0) return;
        switch (n->op) {
        case KILN_OP_Relu:
            m->name = "Relu";
            break;
        case KILN_OP_LeakyRelu:
            m->name = "LeakyRelu";
            m->alpha = kiln_attr_float(n, "alpha", 0.01f);
            m->has_alpha = 1;
            break;
        case KILN_OP_Clip: {
            double lo, hi;
            if (!clip_bound(g, n, 0, -FLT_MAX, &lo) || !clip_bound(g, n, 1, FLT_MAX, &hi)) return;
            m->name = "Clip";
            m->alpha = lo < -FLT_MAX ? -FLT_MAX : (float)lo;
            m->beta = hi > FLT_MAX ? FLT_MAX : (float)hi;
            m->has_alpha = m->has_beta = 1;
            break;
        }
        case KILN_OP_Sigmoid:
            m->name = "Sigmoid";
            break;
        case KILN_OP_Tanh:
            m->name = "Tanh";
            break;
        case KILN_OP_HardSigmoid:
            m->name = "HardSigmoid";
            m->alpha = kiln_attr_float(n, "alpha", 0.2f);
            m->beta = kiln_attr_float(n, "beta", 0.5f);
            m->has_alpha = m->has_beta = 1;
            break;
        case KILN_OP_Gelu: {
            const char *approx = kiln_attr_string(n, "approximate", "none");
            if (!strcmp(approx, "none"))
                m->name = "Gelu";
            else if (!strcmp(approx, "tanh"))
                m->name = "GeluTanh";
            else
                return;
            break;
        }
        case KILN_OP_Swish:
            m->name = "Swish";
            m->alpha = kiln_attr_float(n, "alpha", 1.0f);
            m->has_alpha = 1;
            break;
        default:
            return;
        }
        if (g->tensors[n->outputs[0]].dtype != g->tensors[y].dtype) {
            m->name = NULL;
            return;
        }
        m->nodes[0] = r;
        m->node_count = 1;
        m->out = n->outputs[0];
        return;
    }
    /* y * Sigmoid(y): y read by exactly a Sigmoid and a Mul of both */
    if (f->pinned[y] || f->uses[y] != 2) return;
    int32_t readers[2];
    if (kiln_fuse_readers(f, y, readers, 2) != 2) return;
    int32_t sig = -1, mul = -1;
    for (int i = 0; i < 2; i++) {
        const kiln_node *n = &g->nodes[readers[i]];
        if (n->op == KILN_OP_Sigmoid)
            sig = readers[i];
        else if (n->op == KILN_OP_Mul)
            mul = readers[i];
    }
    if (sig < 0 || mul < 0) return;
    const kiln_node *s = &g->nodes[sig], *mn = &g->nodes[mul];
    if (s->output_count != 1 || mn->input_count != 2 || mn->output_count != 1) return;
    int32_t st = s->outputs[0];
    if (kiln_fuse_sole_reader(f, st) != mul) return;
    if (!((mn->inputs[0] == y && mn->inputs[1] == st) ||
          (mn->inputs[1] == y && mn->inputs[0] == st)))
        return;
    if (mn->outputs[0] < 0 || g->tensors[mn->outputs[0]].dtype != g->tensors[y].dtype) return;
    m->name = "Swish";
    m->alpha = 1.0f;
    m->has_alpha = 1;
    m->nodes[0] = sig;
    m->nodes[1] = mul;
    m->node_count = 2;
    m->out = mn->outputs[0];
}

/* The Add reading y alone (the other operand in *other), or -1. */
static int32_t match_add(const kiln_fuse *f, int32_t y, int32_t *other) {
    int32_t r = kiln_fuse_sole_reader(f, y);
    if (r < 0) return -1;
    const kiln_node *n = &f->g->nodes[r];
    if (n->op != KILN_OP_Add || n->input_count != 2 || n->output_count != 1 || n->outputs[0] < 0)
        return -1;
    if (n->inputs[0] == y && n->inputs[1] != y)
        *other = n->inputs[1];
    else if (n->inputs[1] == y && n->inputs[0] != y)
        *other = n->inputs[0];
    else
        return -1;
    if (*other < 0 || f->g->tensors[*other].dtype != f->g->tensors[y].dtype) return -1;
    if (f->g->tensors[n->outputs[0]].dtype != f->g->tensors[y].dtype) return -1;
    return r;
}

/* Whether constant b is a bias of n values along the last dim of a rank-`rank` result:
 * [n] or [1, .., 1, n] of rank <= `rank`. */
static int is_row_bias(const kiln_graph *g, int32_t b, int64_t n, int32_t rank) {
    const kiln_ir_tensor *t = &g->tensors[b];
    if (!kiln_fuse_is_const(g, b) || t->rank < 1 || t->rank > rank) return 0;
    for (int32_t d = 0; d + 1 < t->rank; d++)
        if (t->dims[d] != 1) return 0;
    return t->dims[t->rank - 1] == n && t->nbytes >= kiln_dtype_nbytes(t->dtype, n);
}

static int has_fusion_attrs(const kiln_node *n) {
    return kiln_node_attr(n, "_kiln_activation") || kiln_node_attr(n, "_kiln_sum_input") ||
           kiln_node_attr(n, "_kiln_bias_input") || kiln_node_attr(n, "_kiln_scale") ||
           kiln_node_attr(n, "_kiln_perm_y");
}

/* Whether MatMul n may still take a residual sum: nothing is applied after the bias yet, and
 * no `_kiln_perm_y` (the contract keeps the sum and bias apart from it). A `_kiln_scale`
 * is fine: it scales the product before the bias and sum. */
static int matmul_sum_ok(const kiln_node *n) {
    return !kiln_node_attr(n, "_kiln_activation") && !kiln_node_attr(n, "_kiln_sum_input") &&
           !kiln_node_attr(n, "_kiln_perm_y") && n->input_count <= 3;
}

/* Tries every fusion rooted at host node h; *done counts the rewrites. */
static kiln_status fuse_host(kiln_fuse *f, int32_t h, int32_t *done) {
    kiln_graph *g = f->g;
    const kiln_node *n = &g->nodes[h];
    unsigned flags = f->opt ? f->opt->flags : KILN_FUSE_ALL;
    int conv = n->op == KILN_OP_Conv, convt = n->op == KILN_OP_ConvTranspose;
    int gemm = n->op == KILN_OP_Gemm, matmul = n->op == KILN_OP_MatMul;
    if (!conv && !convt && !gemm && !matmul) return KILN_OK;
    if (n->output_count < 1 || n->outputs[0] < 0 || n->input_count < 2) return KILN_OK;
    for (int32_t k = 1; k < n->output_count; k++)
        if (n->outputs[k] >= 0) return KILN_OK;
    int32_t y = n->outputs[0];
    if (!kiln_fuse_float_dtype(g->tensors[y].dtype)) return KILN_OK;
    if (kiln_node_attr(n, "_kiln_activation")) return KILN_OK;

    /* 1. the Add */
    int32_t add = -1, other = -1, cur = y;
    enum { ADD_NONE, ADD_SUM, ADD_BIAS, ADD_GEMM_C } add_kind = ADD_NONE;
    int32_t a = match_add(f, y, &other);
    int plain = !has_fusion_attrs(n);
    if (a >= 0) {
        const kiln_ir_tensor *ty = &g->tensors[y];
        int same =
            kiln_fuse_same_shape(f, other, y) && kiln_fuse_same_shape(f, g->nodes[a].outputs[0], y);
        if (conv && plain && (flags & KILN_FUSE_CONV_SUM) && n->input_count <= 3 && same)
            add_kind = ADD_SUM;
        else if (matmul && plain && (flags & KILN_FUSE_MATMUL_BIAS) && n->input_count == 2 &&
                 ty->rank >= 2 && ty->dims[ty->rank - 1] > 0 &&
                 g->tensors[n->inputs[0]].rank >= 2 && g->tensors[n->inputs[1]].rank >= 2 &&
                 is_row_bias(g, other, ty->dims[ty->rank - 1], ty->rank))
            add_kind = ADD_BIAS;
        else if (matmul && (flags & KILN_FUSE_MATMUL_SUM) && matmul_sum_ok(n) && same &&
                 g->tensors[n->inputs[0]].rank >= 2 && g->tensors[n->inputs[1]].rank >= 2)
            add_kind = ADD_SUM;
        else if (gemm && plain && (flags & KILN_FUSE_GEMM_BIAS) && n->opset >= 7 &&
                 (n->input_count < 3 || n->inputs[2] < 0) && ty->rank == 2 && ty->dims[1] > 0 &&
                 is_row_bias(g, other, ty->dims[1], 2))
            add_kind = ADD_GEMM_C;
        if (add_kind != ADD_NONE) {
            add = a;
            cur = g->nodes[a].outputs[0];
        }
    }

    /* 2. the activation */
    act_match act;
    unsigned act_flag = conv || convt ? KILN_FUSE_CONV_ACTIVATION : KILN_FUSE_GEMM_ACTIVATION;
    memset(&act, 0, sizeof act);
    if (flags & act_flag) match_activation(f, cur, &act);
    if (add < 0 && !act.name) return KILN_OK;
    /* a per-layer precision override must be the same on every node (else: the host alone) */
    int32_t pattern[4], np = 0;
    pattern[np++] = h;
    if (add >= 0) pattern[np++] = add;
    for (int32_t k = 0; k < act.node_count; k++) pattern[np++] = act.nodes[k];
    if (!kiln_fuse_same_precision(g, pattern, np)) return KILN_OK;

    /* rewrite: the host gains the inputs and attributes, then takes the last slot */
    int32_t last = h, out = y;
    if (add >= 0) {
        switch (add_kind) {
        case ADD_SUM:
            if (n->input_count < 3) KILN_TRY(kiln_fuse_set_input(f, h, 2, -1));
            KILN_TRY(kiln_fuse_set_input(f, h, 3, other));
            KILN_TRY(kiln_fuse_set_int(f, h, "_kiln_sum_input", 3));
            break;
        case ADD_BIAS:
            KILN_TRY(kiln_fuse_set_input(f, h, 2, other));
            KILN_TRY(kiln_fuse_set_int(f, h, "_kiln_bias_input", 2));
            break;
        case ADD_GEMM_C:
            KILN_TRY(kiln_fuse_set_input(f, h, 2, other));
            KILN_TRY(kiln_fuse_set_float(f, h, "beta", 1.0f));
            if (g->nodes[h].opset < 11) g->nodes[h].opset = 11; /* C optional, same semantics */
            break;
        default:
            break;
        }
        KILN_TRY(kiln_fuse_note(f, h, add));
        out = g->nodes[add].outputs[0];
        last = add;
    }
    if (act.name) {
        KILN_TRY(kiln_fuse_set_string(f, h, "_kiln_activation", act.name));
        if (act.has_alpha) KILN_TRY(kiln_fuse_set_float(f, h, "_kiln_alpha", act.alpha));
        if (act.has_beta) KILN_TRY(kiln_fuse_set_float(f, h, "_kiln_beta", act.beta));
        for (int32_t k = 0; k < act.node_count; k++) {
            KILN_TRY(kiln_fuse_note(f, h, act.nodes[k]));
            if (act.nodes[k] > last) last = act.nodes[k];
        }
        out = act.out;
    }
    if (add >= 0) kiln_fuse_remove(f, add);
    for (int32_t k = 0; k < act.node_count; k++) kiln_fuse_remove(f, act.nodes[k]);
    kiln_fuse_set_output(f, h, 0, out);
    kiln_fuse_move(f, h, last);
    (*done)++;
    return KILN_OK;
}

kiln_status kiln_pass_fuse_conv_activation(kiln_graph *g, const kiln_fuse_options *o,
                                           int32_t *count) {
    /* a host moves forward to its pattern's last slot, where the loop meets it again: a Gemm
     * that took its bias as C may then take an activation */
    return kiln_fuse_each(g, o, fuse_host, count);
}
