/*
 * ai.onnx.preview.training::Gradient as an import-time rewrite (see import_gradient.h).
 *
 * The forward nodes are those the importer has added so far, in topological order. Three
 * sweeps over them: forward, which tensors depend on some x; backward, which nodes lie on
 * a differentiable path from the xs to y (every one must be an op this file knows, checked
 * before anything is added); backward again, emitting for each such node the adjoints of
 * its inputs from the adjoint of its output, summed where a tensor feeds several nodes.
 *
 * Broadcasting: the adjoint of an input that an op broadcast is summed over the broadcast
 * axes. Where static inference at import time knows both shapes that is one ReduceSum with
 * constant axes (none at all for equal shapes); otherwise the axes are computed in the
 * graph from the two shapes (Shape/Equal/NonZero/ReduceSum), which constant folding
 * reduces to the same thing once the build fixes the shapes.
 */
#define _POSIX_C_SOURCE 200809L
#include "onnx/import_gradient.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir/tview.h"
#include "passes/passes.h"

#define KILN_GRAD_DOMAIN "ai.onnx.preview.training"
/* The opset of every emitted node: ReduceSum/Squeeze take axes as inputs, Reshape has
 * allowzero, CastLike exists. */
#define KILN_GRAD_OPSET 18
#define KILN_GRAD_OPS                                                                              \
    "Add, Sub, Mul, Div, Sum, Neg, Identity, Relu, Sigmoid, Tanh, Exp, Log, Sqrt, MatMul, "        \
    "Reshape, Flatten, Squeeze, Unsqueeze, Transpose"

typedef struct grad_ctx {
    kiln_graph *g;
    char base[512];    /* prefix of the names of emitted nodes and tensors */
    int32_t counter;   /* makes those names unique */
    kiln_tview *views; /* static views of the tensors that existed at the start */
    int32_t view_count;
} grad_ctx;

int kiln_import_is_gradient(const kiln_onnx_node *n) {
    return !strcmp(n->domain, KILN_GRAD_DOMAIN) && !strcmp(n->op_type, "Gradient");
}

/* ---------------------------------------------------------------- which ops -------- */

/* Whether op is differentiable here. */
static int grad_supported(kiln_op op) {
    switch (op) {
    case KILN_OP_Add:
    case KILN_OP_Sub:
    case KILN_OP_Mul:
    case KILN_OP_Div:
    case KILN_OP_Sum:
    case KILN_OP_Neg:
    case KILN_OP_Identity:
    case KILN_OP_Relu:
    case KILN_OP_Sigmoid:
    case KILN_OP_Tanh:
    case KILN_OP_Exp:
    case KILN_OP_Log:
    case KILN_OP_Sqrt:
    case KILN_OP_MatMul:
    case KILN_OP_Reshape:
    case KILN_OP_Flatten:
    case KILN_OP_Squeeze:
    case KILN_OP_Unsqueeze:
    case KILN_OP_Transpose:
        return 1;
    default:
        return 0;
    }
}

/* Whether input i of a differentiable op carries a gradient (shapes, axes and the like
 * do not). */
static int grad_input_differentiable(kiln_op op, int32_t i) {
    switch (op) {
    case KILN_OP_Add:
    case KILN_OP_Sub:
    case KILN_OP_Mul:
    case KILN_OP_Div:
    case KILN_OP_MatMul:
        return i < 2;
    case KILN_OP_Sum:
        return 1;
    default:
        return i == 0;
    }
}

/* ---------------------------------------------------------------- emitting --------- */

static const kiln_tview *grad_view(const grad_ctx *c, int32_t t) {
    return t >= 0 && t < c->view_count ? &c->views[t] : NULL;
}

/* Rank and every dim known. */
static int grad_static(const kiln_tview *v) {
    if (!v || v->rank < 0) return 0;
    for (int32_t d = 0; d < v->rank; d++)
        if (v->dims[d] < 0) return 0;
    return 1;
}

static kiln_status grad_new_tensor(grad_ctx *c, const char *what, int32_t *out) {
    char name[640];
    do snprintf(name, sizeof name, "%s/%s_%d", c->base, what, c->counter++);
    while (kiln_graph_find_tensor(c->g, name) >= 0);
    return kiln_graph_add_tensor(c->g, name, KILN_DTYPE_UNDEFINED, -1, NULL, out);
}

/* A node of op writing the existing tensor `out`; *node (may be NULL) gets its index. */
static kiln_status grad_emit_to(grad_ctx *c, kiln_op op, const int32_t *ins, int32_t n_in,
                                int32_t out, int32_t *node) {
    char name[640];
    snprintf(name, sizeof name, "%s/%s_%d", c->base, kiln_op_get_info(op)->name, c->counter++);
    int32_t index;
    KILN_TRY(kiln_graph_add_node(c->g, name, op, KILN_GRAD_OPSET, ins, n_in, &out, 1, &index));
    if (node) *node = index;
    return KILN_OK;
}

/* A node of op writing a new tensor, returned in *out. */
static kiln_status grad_emit(grad_ctx *c, kiln_op op, const int32_t *ins, int32_t n_in,
                             int32_t *out, int32_t *node) {
    KILN_TRY(grad_new_tensor(c, "grad", out));
    return grad_emit_to(c, op, ins, n_in, *out, node);
}

static kiln_status grad_unary(grad_ctx *c, kiln_op op, int32_t a, int32_t *out) {
    return grad_emit(c, op, &a, 1, out, NULL);
}

static kiln_status grad_binary(grad_ctx *c, kiln_op op, int32_t a, int32_t b, int32_t *out) {
    int32_t ins[2] = {a, b};
    return grad_emit(c, op, ins, 2, out, NULL);
}

/* A constant int64 tensor of rank 1 (n values) or 0 (rank0, one value). */
static kiln_status grad_const_i64(grad_ctx *c, const int64_t *v, int32_t n, int rank0,
                                  int32_t *out) {
    char name[640];
    do snprintf(name, sizeof name, "%s/const_%d", c->base, c->counter++);
    while (kiln_graph_find_tensor(c->g, name) >= 0);
    int64_t dims[1] = {n};
    KILN_TRY(kiln_graph_add_tensor(c->g, name, KILN_DTYPE_INT64, rank0 ? 0 : 1, dims, out));
    return kiln_graph_set_constant(c->g, *out, v, sizeof(int64_t) * (size_t)(n ? n : 0));
}

/* A scalar of value v and dtype (a float dtype or any other the view helpers write). */
static kiln_status grad_const_scalar(grad_ctx *c, kiln_dtype dtype, double v, int32_t *out) {
    char name[640];
    do snprintf(name, sizeof name, "%s/const_%d", c->base, c->counter++);
    while (kiln_graph_find_tensor(c->g, name) >= 0);
    unsigned char buf[16] = {0};
    kiln_tview tv;
    memset(&tv, 0, sizeof tv);
    tv.dtype = dtype;
    tv.rank = 0;
    tv.data = buf;
    kiln_tview_set_double(&tv, 0, v);
    KILN_TRY(kiln_graph_add_tensor(c->g, name, dtype, 0, NULL, out));
    return kiln_graph_set_constant(c->g, *out, buf, kiln_dtype_nbytes(dtype, 1));
}

/* The dtype of a forward tensor, when static inference knows it. */
static kiln_dtype grad_dtype(const grad_ctx *c, int32_t t) {
    const kiln_tview *v = grad_view(c, t);
    return v ? v->dtype : KILN_DTYPE_UNDEFINED;
}

/* A scalar v of the dtype of forward tensor `like`: a constant when the dtype is known,
 * else a float constant CastLike'd at run time. */
static kiln_status grad_scalar_like(grad_ctx *c, double v, int32_t like, int32_t *out) {
    kiln_dtype dt = grad_dtype(c, like);
    if (dt != KILN_DTYPE_UNDEFINED && dt != KILN_DTYPE_STRING)
        return grad_const_scalar(c, dt, v, out);
    int32_t f;
    KILN_TRY(grad_const_scalar(c, KILN_DTYPE_FLOAT32, v, &f));
    return grad_binary(c, KILN_OP_CastLike, f, like, out);
}

/* The shape of forward tensor t: a constant when static inference knows it (so the
 * build's inference sees it too), else Shape(t). */
static kiln_status grad_shape_of(grad_ctx *c, int32_t t, int32_t *out) {
    const kiln_tview *v = grad_view(c, t);
    if (grad_static(v)) return grad_const_i64(c, v->dims, v->rank, 0, out);
    return grad_unary(c, KILN_OP_Shape, t, out);
}

/* ConstantOfShape's `value`: one element of dtype. */
static kiln_status grad_set_value_attr(grad_ctx *c, int32_t node, kiln_dtype dtype, double v) {
    kiln_attr_tensor *t = calloc(1, sizeof *t);
    if (!t) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
    t->dtype = dtype;
    t->rank = 1;
    t->dims[0] = 1;
    t->nbytes = kiln_dtype_nbytes(dtype, 1);
    t->data = calloc(1, t->nbytes ? t->nbytes : 1);
    kiln_attr *attr = NULL;
    kiln_status st = t->data ? kiln_node_add_attr(c->g, node, "value", KILN_ATTR_TENSOR, &attr)
                             : kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
    if (st != KILN_OK) {
        free(t->data);
        free(t);
        return st;
    }
    kiln_tview tv;
    memset(&tv, 0, sizeof tv);
    tv.dtype = dtype;
    tv.rank = 1;
    tv.dims[0] = 1;
    tv.data = t->data;
    kiln_tview_set_double(&tv, 0, v);
    attr->tensor = t;
    return KILN_OK;
}

/* A tensor shaped like forward tensor `like`, every element v, of like's dtype; written
 * into `into` when it is >= 0, else a new tensor (*out). */
static kiln_status grad_fill_like(grad_ctx *c, double v, int32_t like, int32_t into, int32_t *out) {
    int32_t shape, node, filled;
    KILN_TRY(grad_shape_of(c, like, &shape));
    kiln_dtype dt = grad_dtype(c, like);
    int known = dt != KILN_DTYPE_UNDEFINED && dt != KILN_DTYPE_STRING;
    if (known && into >= 0) {
        KILN_TRY(grad_emit_to(c, KILN_OP_ConstantOfShape, &shape, 1, into, &node));
        filled = into;
    } else {
        KILN_TRY(grad_emit(c, KILN_OP_ConstantOfShape, &shape, 1, &filled, &node));
    }
    KILN_TRY(grad_set_value_attr(c, node, known ? dt : KILN_DTYPE_FLOAT32, v));
    if (!known) {
        int32_t ins[2] = {filled, like};
        if (into >= 0) {
            KILN_TRY(grad_emit_to(c, KILN_OP_CastLike, ins, 2, into, NULL));
            filled = into;
        } else {
            KILN_TRY(grad_emit(c, KILN_OP_CastLike, ins, 2, &filled, NULL));
        }
    }
    *out = filled;
    return KILN_OK;
}

/* ---------------------------------------------------------------- broadcasting ----- */

/* Sums gradient gt (static shape gv, or NULL when unknown) down to the shape of forward
 * tensor `target`, which was broadcast to gt's shape. */
static kiln_status grad_reduce_to(grad_ctx *c, int32_t gt, const kiln_tview *gv, int32_t target,
                                  int32_t *out) {
    const kiln_tview *tv = grad_view(c, target);
    if (grad_static(gv) && grad_static(tv) && gv->rank >= tv->rank) {
        int32_t lead = gv->rank - tv->rank, naxes = 0;
        int64_t axes[KILN_MAX_DIMS];
        for (int32_t i = 0; i < gv->rank; i++)
            if (i < lead || (tv->dims[i - lead] == 1 && gv->dims[i] != 1)) axes[naxes++] = i;
        int32_t r = gt;
        if (naxes) {
            int32_t a, node;
            KILN_TRY(grad_const_i64(c, axes, naxes, 0, &a));
            int32_t ins[2] = {gt, a};
            KILN_TRY(grad_emit(c, KILN_OP_ReduceSum, ins, 2, &r, &node));
            KILN_TRY(kiln_node_set_int(c->g, node, "keepdims", 1));
        }
        if (lead) {
            int32_t s, node;
            KILN_TRY(grad_const_i64(c, tv->dims, tv->rank, 0, &s));
            int32_t ins[2] = {r, s};
            KILN_TRY(grad_emit(c, KILN_OP_Reshape, ins, 2, &r, &node));
            KILN_TRY(kiln_node_set_int(c->g, node, "allowzero", 1));
        }
        *out = r;
        return KILN_OK;
    }
    /* Shapes known only at run time: pad the target's shape with leading ones to gt's
     * rank, sum over the axes where it is 1 (keeping them), reshape to the target. */
    int32_t sg, st, rg, rt, lead, ones, padded, one, eq, nz, zero, axes, red, node;
    KILN_TRY(grad_unary(c, KILN_OP_Shape, gt, &sg));
    KILN_TRY(grad_unary(c, KILN_OP_Shape, target, &st));
    KILN_TRY(grad_unary(c, KILN_OP_Shape, sg, &rg));
    KILN_TRY(grad_unary(c, KILN_OP_Shape, st, &rt));
    KILN_TRY(grad_binary(c, KILN_OP_Sub, rg, rt, &lead));
    KILN_TRY(grad_emit(c, KILN_OP_ConstantOfShape, &lead, 1, &ones, &node));
    KILN_TRY(grad_set_value_attr(c, node, KILN_DTYPE_INT64, 1));
    KILN_TRY(grad_binary(c, KILN_OP_Concat, ones, st, &padded));
    KILN_TRY(kiln_node_set_int(c->g, c->g->tensors[padded].producer, "axis", 0));
    int64_t v1 = 1, v0 = 0;
    KILN_TRY(grad_const_i64(c, &v1, 1, 1, &one));
    KILN_TRY(grad_binary(c, KILN_OP_Equal, padded, one, &eq));
    KILN_TRY(grad_unary(c, KILN_OP_NonZero, eq, &nz));
    KILN_TRY(grad_const_i64(c, &v0, 1, 0, &zero));
    KILN_TRY(grad_binary(c, KILN_OP_Squeeze, nz, zero, &axes));
    int32_t rins[2] = {gt, axes};
    KILN_TRY(grad_emit(c, KILN_OP_ReduceSum, rins, 2, &red, &node));
    KILN_TRY(kiln_node_set_int(c->g, node, "keepdims", 1));
    KILN_TRY(kiln_node_set_int(c->g, node, "noop_with_empty_axes", 1));
    int32_t sins[2] = {red, st};
    KILN_TRY(grad_emit(c, KILN_OP_Reshape, sins, 2, out, &node));
    return kiln_node_set_int(c->g, node, "allowzero", 1);
}

/* ---------------------------------------------------------------- adjoints --------- */

/* Adds contribution d to the adjoint of forward tensor t. */
static kiln_status grad_accumulate(grad_ctx *c, int32_t *adj, int32_t t, int32_t d) {
    if (adj[t] < 0) {
        adj[t] = d;
        return KILN_OK;
    }
    return grad_binary(c, KILN_OP_Add, adj[t], d, &adj[t]);
}

/* The Transpose permutation swapping the last two of `rank` axes. */
static void grad_swap_last(int32_t rank, int64_t *perm) {
    for (int32_t i = 0; i < rank; i++) perm[i] = i;
    perm[rank - 1] = rank - 2;
    perm[rank - 2] = rank - 1;
}

static kiln_status grad_transpose_last(grad_ctx *c, int32_t t, int32_t rank, int32_t *out) {
    int64_t perm[KILN_MAX_DIMS];
    grad_swap_last(rank, perm);
    int32_t node;
    KILN_TRY(grad_emit(c, KILN_OP_Transpose, &t, 1, out, &node));
    return kiln_node_set_ints(c->g, node, "perm", perm, rank);
}

/* MatMul's adjoints: dA = dY B^T, dB = A^T dY (the last two axes), each summed over
 * the batch axes its operand was broadcast along. */
static kiln_status grad_matmul(grad_ctx *c, const kiln_node *n, int32_t gy, const uint8_t *marked,
                               int32_t *adj) {
    int32_t a = n->inputs[0], b = n->inputs[1], y = n->outputs[0];
    const kiln_tview *va = grad_view(c, a), *vb = grad_view(c, b), *vy = grad_view(c, y);
    for (int32_t k = 0; k < 2; k++) {
        int32_t x = n->inputs[k];
        if (x < 0 || !marked[x]) continue;
        int32_t other = n->inputs[1 - k], ot, prod;
        KILN_TRY(grad_transpose_last(c, other, (k ? va : vb)->rank, &ot));
        if (k == 0)
            KILN_TRY(grad_binary(c, KILN_OP_MatMul, gy, ot, &prod));
        else
            KILN_TRY(grad_binary(c, KILN_OP_MatMul, ot, gy, &prod));
        /* The product has y's batch dims and x's matrix dims. */
        kiln_tview pv;
        const kiln_tview *pvp = NULL;
        const kiln_tview *vx = k ? vb : va;
        if (vy && vy->rank >= 2 && vx->rank >= 2) {
            pv = *vy;
            pv.dims[pv.rank - 2] = vx->dims[vx->rank - 2];
            pv.dims[pv.rank - 1] = vx->dims[vx->rank - 1];
            pvp = &pv;
        }
        int32_t d;
        KILN_TRY(grad_reduce_to(c, prod, pvp, x, &d));
        KILN_TRY(grad_accumulate(c, adj, x, d));
    }
    return KILN_OK;
}

/* Emits the adjoints of the differentiable inputs of node n (marked ones only) from gy,
 * the adjoint of its output. */
static kiln_status grad_node(grad_ctx *c, const kiln_node *n, int32_t gy, const uint8_t *marked,
                             int32_t *adj) {
    int32_t y = n->outputs[0];
    int32_t x0 = n->input_count > 0 ? n->inputs[0] : -1;
    int32_t x1 = n->input_count > 1 ? n->inputs[1] : -1;
    int m0 = x0 >= 0 && marked[x0], m1 = x1 >= 0 && marked[x1];
    const kiln_tview *vy = grad_view(c, y);
    int32_t d, t, u, one;
    switch (n->op) {
    case KILN_OP_Add:
    case KILN_OP_Sub:
        if (m0) {
            KILN_TRY(grad_reduce_to(c, gy, vy, x0, &d));
            KILN_TRY(grad_accumulate(c, adj, x0, d));
        }
        if (m1) {
            t = gy;
            if (n->op == KILN_OP_Sub) KILN_TRY(grad_unary(c, KILN_OP_Neg, gy, &t));
            KILN_TRY(grad_reduce_to(c, t, vy, x1, &d));
            KILN_TRY(grad_accumulate(c, adj, x1, d));
        }
        return KILN_OK;
    case KILN_OP_Sum:
        for (int32_t i = 0; i < n->input_count; i++) {
            int32_t x = n->inputs[i];
            if (x < 0 || !marked[x]) continue;
            KILN_TRY(grad_reduce_to(c, gy, vy, x, &d));
            KILN_TRY(grad_accumulate(c, adj, x, d));
        }
        return KILN_OK;
    case KILN_OP_Mul:
        if (m0) { /* d/dA (A*B) = B */
            KILN_TRY(grad_binary(c, KILN_OP_Mul, gy, x1, &t));
            KILN_TRY(grad_reduce_to(c, t, vy, x0, &d));
            KILN_TRY(grad_accumulate(c, adj, x0, d));
        }
        if (m1) {
            KILN_TRY(grad_binary(c, KILN_OP_Mul, gy, x0, &t));
            KILN_TRY(grad_reduce_to(c, t, vy, x1, &d));
            KILN_TRY(grad_accumulate(c, adj, x1, d));
        }
        return KILN_OK;
    case KILN_OP_Div:
        if (m0) { /* d/dA (A/B) = 1/B */
            KILN_TRY(grad_binary(c, KILN_OP_Div, gy, x1, &t));
            KILN_TRY(grad_reduce_to(c, t, vy, x0, &d));
            KILN_TRY(grad_accumulate(c, adj, x0, d));
        }
        if (m1) { /* d/dB (A/B) = -A/B^2 = -Y/B */
            KILN_TRY(grad_binary(c, KILN_OP_Mul, gy, y, &t));
            KILN_TRY(grad_binary(c, KILN_OP_Div, t, x1, &u));
            KILN_TRY(grad_unary(c, KILN_OP_Neg, u, &t));
            KILN_TRY(grad_reduce_to(c, t, vy, x1, &d));
            KILN_TRY(grad_accumulate(c, adj, x1, d));
        }
        return KILN_OK;
    case KILN_OP_MatMul:
        return grad_matmul(c, n, gy, marked, adj);
    default:
        break;
    }
    if (!m0) return KILN_OK; /* unary from here on: only input 0 is differentiable */
    switch (n->op) {
    case KILN_OP_Identity:
        d = gy;
        break;
    case KILN_OP_Neg:
        KILN_TRY(grad_unary(c, KILN_OP_Neg, gy, &d));
        break;
    case KILN_OP_Relu: /* 1 where the output is positive: Sign(Relu(x)) */
        KILN_TRY(grad_unary(c, KILN_OP_Sign, y, &t));
        KILN_TRY(grad_binary(c, KILN_OP_Mul, gy, t, &d));
        break;
    case KILN_OP_Sigmoid: /* y (1 - y) */
        KILN_TRY(grad_scalar_like(c, 1.0, y, &one));
        KILN_TRY(grad_binary(c, KILN_OP_Sub, one, y, &t));
        KILN_TRY(grad_binary(c, KILN_OP_Mul, y, t, &u));
        KILN_TRY(grad_binary(c, KILN_OP_Mul, gy, u, &d));
        break;
    case KILN_OP_Tanh: /* 1 - y^2 */
        KILN_TRY(grad_scalar_like(c, 1.0, y, &one));
        KILN_TRY(grad_binary(c, KILN_OP_Mul, y, y, &t));
        KILN_TRY(grad_binary(c, KILN_OP_Sub, one, t, &u));
        KILN_TRY(grad_binary(c, KILN_OP_Mul, gy, u, &d));
        break;
    case KILN_OP_Exp:
        KILN_TRY(grad_binary(c, KILN_OP_Mul, gy, y, &d));
        break;
    case KILN_OP_Log:
        KILN_TRY(grad_binary(c, KILN_OP_Div, gy, x0, &d));
        break;
    case KILN_OP_Sqrt: /* 1 / (2 y) */
        KILN_TRY(grad_binary(c, KILN_OP_Add, y, y, &t));
        KILN_TRY(grad_binary(c, KILN_OP_Div, gy, t, &d));
        break;
    case KILN_OP_Reshape:
    case KILN_OP_Flatten:
    case KILN_OP_Squeeze:
    case KILN_OP_Unsqueeze: { /* the same elements: back to the input's shape */
        int32_t node;
        KILN_TRY(grad_shape_of(c, x0, &t));
        int32_t ins[2] = {gy, t};
        KILN_TRY(grad_emit(c, KILN_OP_Reshape, ins, 2, &d, &node));
        KILN_TRY(kiln_node_set_int(c->g, node, "allowzero", 1));
        break;
    }
    case KILN_OP_Transpose: {
        int32_t node, count = 0;
        const int64_t *perm = kiln_attr_ints(n, "perm", &count);
        KILN_TRY(grad_emit(c, KILN_OP_Transpose, &gy, 1, &d, &node));
        if (perm) { /* the inverse permutation; without perm both reverse the axes */
            int64_t inv[KILN_MAX_DIMS];
            if (count > KILN_MAX_DIMS)
                return kiln_error(KILN_ERR_UNSUPPORTED, "Transpose '%s': perm of %d axes", n->name,
                                  (int)count);
            for (int32_t i = 0; i < count; i++) {
                if (perm[i] < 0 || perm[i] >= count)
                    return kiln_error(KILN_ERR_INVALID_ARGUMENT, "Transpose '%s': bad perm",
                                      n->name);
                inv[perm[i]] = i;
            }
            KILN_TRY(kiln_node_set_ints(c->g, node, "perm", inv, count));
        }
        break;
    }
    default:
        return kiln_error(KILN_ERR_UNSUPPORTED, "cannot differentiate %s",
                          kiln_op_get_info(n->op)->name);
    }
    return grad_accumulate(c, adj, x0, d);
}

/* ---------------------------------------------------------------- the node --------- */

static const kiln_onnx_attribute *grad_attr(const kiln_onnx_node *n, const char *name) {
    for (int32_t i = 0; i < n->attribute_count; i++)
        if (!strcmp(n->attributes[i].name, name)) return &n->attributes[i];
    return NULL;
}

typedef struct grad_outer_check {
    const uint8_t *marked;
    int hit;
} grad_outer_check;

static void grad_outer_touch(void *user, int32_t tensor) {
    grad_outer_check *oc = user;
    if (oc->marked[tensor]) oc->hit = 1;
}

/* Static shapes and dtypes of g's tensors as far as import time knows them. */
static kiln_tview *grad_infer(const kiln_graph *g) {
    kiln_tview *views = calloc((size_t)g->tensor_count + 1, sizeof *views);
    int32_t *ranks = calloc((size_t)g->input_count + 1, sizeof *ranks);
    int64_t(*dims)[KILN_MAX_DIMS] = calloc((size_t)g->input_count + 1, sizeof *dims);
    if (views && ranks && dims) {
        for (int32_t i = 0; i < g->input_count; i++) {
            const kiln_ir_tensor *it = &g->tensors[g->inputs[i]];
            ranks[i] = it->rank;
            memcpy(dims[i], it->dims, sizeof dims[i]);
        }
        /* A failure leaves the views of later tensors unknown: they take the run-time
         * route. */
        if (kiln_pass_infer_shapes(g, ranks, (const int64_t(*)[KILN_MAX_DIMS])dims, views) !=
            KILN_OK)
            kiln_clear_error();
    }
    free(ranks);
    free(dims);
    return views;
}

typedef struct grad_work {
    char (*xs)[1024];
    int32_t *x_index, *adj;
    uint8_t *marked, *needed, *path;
    kiln_tview *views;
} grad_work;

static void grad_work_free(grad_work *w) {
    free(w->xs);
    free(w->x_index);
    free(w->adj);
    free(w->marked);
    free(w->needed);
    free(w->path);
    free(w->views);
}

static kiln_status grad_run(kiln_graph *g, const kiln_onnx_node *n, kiln_import_resolve_fn resolve,
                            const struct kiln_import_scope *scope, grad_work *w) {
    const kiln_onnx_attribute *axs = grad_attr(n, "xs"), *ay = grad_attr(n, "y");
    if (!axs || axs->strings_count < 1)
        return kiln_error(KILN_ERR_PARSE, "attribute xs (the names of the inputs to "
                                          "differentiate by) is required");
    if (!ay || !ay->s.data)
        return kiln_error(KILN_ERR_PARSE, "attribute y (the name of the value to "
                                          "differentiate) is required");
    int32_t nx = axs->strings_count;
    if (n->output_count != nx)
        return kiln_error(KILN_ERR_PARSE,
                          "has %d output(s) for %d name(s) in xs; it needs one gradient per x",
                          n->output_count, nx);
    /* zs (inputs held constant) needs nothing: only paths from the xs are followed. */

    char name[1024], raw[1024];
    snprintf(raw, sizeof raw, "%.*s", (int)ay->s.size, ay->s.data ? ay->s.data : "");
    resolve(scope, raw, name, sizeof name);
    int32_t y = kiln_graph_find_tensor(g, name);
    if (y < 0)
        return kiln_error(KILN_ERR_PARSE,
                          "y '%s' is not produced by any earlier node, input or "
                          "initializer",
                          raw);
    w->xs = calloc((size_t)nx, sizeof *w->xs);
    w->x_index = calloc((size_t)nx, sizeof *w->x_index);
    int32_t nt = g->tensor_count, nn = g->node_count;
    w->adj = malloc(sizeof *w->adj * (size_t)(nt + 1));
    w->marked = calloc((size_t)nt + 1, 1);
    w->needed = calloc((size_t)nt + 1, 1);
    w->path = calloc((size_t)nn + 1, 1);
    if (!w->xs || !w->x_index || !w->adj || !w->marked || !w->needed || !w->path)
        return kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
    for (int32_t i = 0; i < nx; i++) {
        const kiln_onnx_bytes *xi = &axs->strings[i];
        snprintf(raw, sizeof raw, "%.*s", (int)xi->size, xi->data ? xi->data : "");
        resolve(scope, raw, w->xs[i], sizeof w->xs[i]);
        w->x_index[i] = kiln_graph_find_tensor(g, w->xs[i]);
        if (w->x_index[i] < 0)
            return kiln_error(KILN_ERR_PARSE,
                              "xs[%d] '%s' is not an input, initializer or "
                              "earlier value of the graph",
                              (int)i, raw);
        w->marked[w->x_index[i]] = 1;
    }
    for (int32_t i = 0; i < n->output_count; i++) {
        resolve(scope, n->outputs[i], name, sizeof name);
        if (name[0] && kiln_graph_find_tensor(g, name) >= 0)
            return kiln_error(KILN_ERR_PARSE,
                              "output '%s' is already defined (ONNX graphs "
                              "assign each name once)",
                              name);
    }

    /* Forward: what depends on an x (through any input, or a subgraph's outer reads). */
    for (int32_t i = 0; i < nn; i++) {
        const kiln_node *fn = &g->nodes[i];
        int hit = 0;
        for (int32_t k = 0; k < fn->input_count && !hit; k++)
            hit = fn->inputs[k] >= 0 && w->marked[fn->inputs[k]];
        if (!hit) {
            grad_outer_check oc = {w->marked, 0};
            kiln_node_outer_reads(fn, g, grad_outer_touch, &oc);
            hit = oc.hit;
        }
        for (int32_t k = 0; hit && k < fn->output_count; k++)
            if (fn->outputs[k] >= 0) w->marked[fn->outputs[k]] = 1;
    }
    /* Backward: the nodes on a differentiable path to y; every one must be supported. */
    w->needed[y] = 1;
    for (int32_t i = nn - 1; i >= 0; i--) {
        const kiln_node *fn = &g->nodes[i];
        int out_needed = 0, in_marked = 0;
        for (int32_t k = 0; k < fn->output_count; k++)
            out_needed |= fn->outputs[k] >= 0 && w->needed[fn->outputs[k]];
        if (!out_needed) continue;
        if (!grad_supported(fn->op)) {
            for (int32_t k = 0; k < fn->input_count; k++)
                in_marked |= fn->inputs[k] >= 0 && w->marked[fn->inputs[k]];
            grad_outer_check oc = {w->marked, 0};
            kiln_node_outer_reads(fn, g, grad_outer_touch, &oc);
            if (in_marked || oc.hit)
                return kiln_error(KILN_ERR_UNSUPPORTED,
                                  "cannot differentiate node '%s' (%s) on the path from xs to y "
                                  "'%s'; Gradient supports %s",
                                  fn->name, kiln_op_get_info(fn->op)->name, g->tensors[y].name,
                                  KILN_GRAD_OPS);
            continue;
        }
        for (int32_t k = 0; k < fn->input_count; k++) {
            int32_t t = fn->inputs[k];
            if (t < 0 || !w->marked[t] || !grad_input_differentiable(fn->op, k)) continue;
            w->needed[t] = 1;
            w->path[i] = 1;
        }
    }
    grad_ctx c;
    memset(&c, 0, sizeof c);
    c.g = g;
    resolve(scope, n->name, name, sizeof name);
    snprintf(c.base, sizeof c.base, "%s", name[0] ? name : "Gradient");
    w->views = grad_infer(g);
    if (!w->views) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
    c.views = w->views;
    c.view_count = nt;
    for (int32_t i = 0; i < nn; i++) {
        const kiln_node *fn = &g->nodes[i];
        if (!w->path[i] || fn->op != KILN_OP_MatMul) continue;
        const kiln_tview *va = grad_view(&c, fn->inputs[0]), *vb = grad_view(&c, fn->inputs[1]);
        if (!va || !vb || va->rank < 2 || vb->rank < 2)
            return kiln_error(KILN_ERR_UNSUPPORTED,
                              "cannot differentiate node '%s' (MatMul) with operands of rank "
                              "%d and %d: Gradient supports MatMul of operands of known rank 2 "
                              "or more",
                              fn->name, va ? (int)va->rank : -1, vb ? (int)vb->rank : -1);
    }

    /* Reverse sweep: adjoints, seeded with ones shaped like y. */
    for (int32_t t = 0; t < nt; t++) w->adj[t] = -1;
    KILN_TRY(grad_fill_like(&c, 1.0, y, -1, &w->adj[y]));
    for (int32_t i = nn - 1; i >= 0; i--) {
        if (!w->path[i]) continue;
        kiln_node fn = g->nodes[i]; /* a copy: emitting moves g->nodes */
        int32_t gy = fn.outputs[0] >= 0 ? w->adj[fn.outputs[0]] : -1;
        if (gy < 0) continue;
        KILN_TRY(grad_node(&c, &fn, gy, w->marked, w->adj));
    }
    /* The outputs: an x that y does not depend on gets zeros. */
    for (int32_t i = 0; i < nx; i++) {
        resolve(scope, n->outputs[i], name, sizeof name);
        if (!name[0]) continue;
        int32_t out, x = w->x_index[i];
        KILN_TRY(kiln_graph_add_tensor(g, name, KILN_DTYPE_UNDEFINED, -1, NULL, &out));
        if (w->adj[x] >= 0) {
            KILN_TRY(grad_emit_to(&c, KILN_OP_Identity, &w->adj[x], 1, out, NULL));
        } else {
            int32_t z;
            KILN_TRY(grad_fill_like(&c, 0.0, x, out, &z));
        }
    }
    return KILN_OK;
}

kiln_status kiln_import_gradient(kiln_graph *g, const kiln_onnx_node *n,
                                 kiln_import_resolve_fn resolve,
                                 const struct kiln_import_scope *scope) {
    grad_work w;
    memset(&w, 0, sizeof w);
    kiln_status st = grad_run(g, n, resolve, scope, &w);
    grad_work_free(&w);
    return st;
}
