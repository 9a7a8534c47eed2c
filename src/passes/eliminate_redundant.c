/*
 * Nodes that compute nothing, removed; chains of layout-only nodes collapsed.
 *
 * Removed (their readers read their input):
 *   - Identity; Dropout in inference (opset < 12, or training_mode absent / constant false,
 *     or a constant zero ratio; its mask unused); Cast / CastLike to the input's own type
 *     (KILN_FUSE_ELIMINATE_IDENTITY);
 *   - Reshape / Flatten / Squeeze / Unsqueeze whose static output shape is the input's
 *     (KILN_FUSE_ELIMINATE_RESHAPE); Transpose with the identity permutation
 *     (KILN_FUSE_ELIMINATE_TRANSPOSE).
 * Collapsed:
 *   - a chain of two or more Reshape / Flatten / Squeeze / Unsqueeze whose last output has a
 *     static shape -> one Reshape with a constant shape (KILN_FUSE_ELIMINATE_RESHAPE);
 *   - Transpose(Transpose(x, p1), p2) -> x when the permutations cancel, else one
 *     Transpose(x, p1[p2[i]]) (KILN_FUSE_ELIMINATE_TRANSPOSE).
 *
 * When a removed node's output is a graph output, the node writing its input writes the
 * output instead (if that input is an intermediate no one else needs by name); otherwise the
 * node stays. Values that a subgraph reads by name are never renamed. (A Transpose feeding a
 * MatMul is left alone: MatMul has no transposed operand in ONNX, and Gemm only covers 2-D.)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "passes/fuse_common.h"

static int is_graph_output(const kiln_graph *g, int32_t t) {
    for (int32_t i = 0; i < g->output_count; i++)
        if (g->outputs[i] == t) return 1;
    return 0;
}

/* Whether y can be replaced by x (see above): 1 by redirecting y's readers, 2 by making x's
 * producer write y; 0 when not. */
static int bypass_kind(const kiln_fuse *f, int32_t x, int32_t y) {
    const kiln_graph *g = f->g;
    if (x < 0 || y < 0 || x == y) return 0;
    if (!f->pinned[y]) return 1;
    if (!is_graph_output(g, y)) return 0; /* a subgraph reads it by name */
    int32_t p = kiln_fuse_producer(f, x);
    if (p < 0 || f->pinned[x]) return 0;
    /* a subgraph reading y by name as well is fine: y keeps its name */
    return 2;
}

/* Removes nodes[0..count) (a chain from x to y) and makes y's readers use x. */
static void bypass(kiln_fuse *f, const int32_t *nodes, int32_t count, int32_t x, int32_t y,
                   int kind) {
    for (int32_t i = 0; i < count; i++) kiln_fuse_remove(f, nodes[i]);
    if (kind == 1) {
        kiln_fuse_replace_uses(f, y, x);
        return;
    }
    int32_t p = kiln_fuse_producer(f, x);
    kiln_fuse_replace_uses(f, x, y);
    kiln_node *pn = &f->g->nodes[p];
    for (int32_t k = 0; k < pn->output_count; k++)
        if (pn->outputs[k] == x) kiln_fuse_set_output(f, p, k, y);
}

/* ---------------------------------------------------------------- no-op nodes ------ */

static int dropout_is_identity(const kiln_fuse *f, const kiln_node *n) {
    const kiln_graph *g = f->g;
    for (int32_t k = 1; k < n->output_count; k++) {
        int32_t m = n->outputs[k];
        if (m >= 0 && (f->uses[m] > 0 || f->pinned[m])) return 0;
    }
    if (n->opset < 12) return 1;
    int32_t train = n->input_count > 2 ? n->inputs[2] : -1;
    if (train < 0) return 1;
    double v;
    if (kiln_fuse_const_scalar(g, train, &v) && v == 0) return 1;
    int32_t ratio = n->input_count > 1 ? n->inputs[1] : -1;
    return ratio >= 0 && kiln_fuse_const_scalar(g, ratio, &v) && v == 0;
}

static int same_static_shape(const kiln_graph *g, int32_t a, int32_t b) {
    if (!kiln_fuse_static_shape(g, a) || !kiln_fuse_static_shape(g, b)) return 0;
    const kiln_ir_tensor *ta = &g->tensors[a], *tb = &g->tensors[b];
    if (ta->rank != tb->rank) return 0;
    for (int32_t d = 0; d < ta->rank; d++)
        if (ta->dims[d] != tb->dims[d]) return 0;
    return 1;
}

/* The permutation of a Transpose over rank r (the reversal when none is given); 0 when it
 * cannot be known. */
static int transpose_perm(const kiln_node *n, int32_t r, int64_t *perm) {
    int32_t count = 0;
    const int64_t *p = kiln_attr_ints(n, "perm", &count);
    if (!p) {
        if (r < 0) return 0;
        for (int32_t i = 0; i < r; i++) perm[i] = r - 1 - i;
        return 1;
    }
    if (count > KILN_MAX_DIMS || (r >= 0 && count != r)) return 0;
    uint8_t seen[KILN_MAX_DIMS] = {0};
    for (int32_t i = 0; i < count; i++) {
        if (p[i] < 0 || p[i] >= count || seen[p[i]]) return 0;
        seen[p[i]] = 1;
        perm[i] = p[i];
    }
    return 1;
}

/* Whether node n passes its first input through unchanged. */
static int is_noop(const kiln_fuse *f, const kiln_node *n, unsigned flags) {
    const kiln_graph *g = f->g;
    if (n->input_count < 1 || n->output_count < 1 || n->inputs[0] < 0 || n->outputs[0] < 0)
        return 0;
    int32_t x = n->inputs[0], y = n->outputs[0];
    const kiln_ir_tensor *xt = &g->tensors[x], *yt = &g->tensors[y];
    if (flags & KILN_FUSE_ELIMINATE_IDENTITY) {
        switch (n->op) {
        case KILN_OP_Identity:
            return n->output_count == 1;
        case KILN_OP_Dropout:
            return dropout_is_identity(f, n);
        case KILN_OP_Cast:
            return n->output_count == 1 && xt->dtype != KILN_DTYPE_UNDEFINED &&
                   kiln_attr_int(n, "to", -1) == xt->dtype && yt->dtype == xt->dtype;
        case KILN_OP_CastLike:
            return n->input_count == 2 && n->inputs[1] >= 0 && xt->dtype != KILN_DTYPE_UNDEFINED &&
                   g->tensors[n->inputs[1]].dtype == xt->dtype && yt->dtype == xt->dtype;
        default:
            break;
        }
    }
    if ((flags & KILN_FUSE_ELIMINATE_RESHAPE) &&
        (n->op == KILN_OP_Reshape || n->op == KILN_OP_Flatten || n->op == KILN_OP_Squeeze ||
         n->op == KILN_OP_Unsqueeze))
        return n->output_count == 1 && same_static_shape(g, x, y) && xt->dtype == yt->dtype;
    if ((flags & KILN_FUSE_ELIMINATE_TRANSPOSE) && n->op == KILN_OP_Transpose) {
        int64_t perm[KILN_MAX_DIMS];
        if (xt->rank < 0 || !transpose_perm(n, xt->rank, perm)) return 0;
        for (int32_t i = 0; i < xt->rank; i++)
            if (perm[i] != i) return 0;
        return 1;
    }
    return 0;
}

/* ---------------------------------------------------------------- chains ----------- */

static int is_shape_op(const kiln_node *n) {
    return (n->op == KILN_OP_Reshape || n->op == KILN_OP_Flatten || n->op == KILN_OP_Squeeze ||
            n->op == KILN_OP_Unsqueeze) &&
           n->input_count >= 1 && n->inputs[0] >= 0 && n->output_count == 1 && n->outputs[0] >= 0;
}

/* A chain of shape ops starting at node `first`: one Reshape with a constant shape. */
static kiln_status collapse_reshapes(kiln_fuse *f, int32_t first, int32_t *done) {
    kiln_graph *g = f->g;
    if (!is_shape_op(&g->nodes[first])) return KILN_OK;
    int32_t x = g->nodes[first].inputs[0];
    /* the chain must start here: skip when x itself comes from a shape op read only here */
    int32_t p = kiln_fuse_producer(f, x);
    if (p >= 0 && is_shape_op(&g->nodes[p]) && kiln_fuse_sole_reader(f, x) == first) return KILN_OK;
    int32_t nodes[64], count = 0, last = first;
    nodes[count++] = first;
    for (;;) {
        int32_t y = g->nodes[last].outputs[0];
        int32_t r = kiln_fuse_sole_reader(f, y);
        if (r < 0 || count == 64 || !is_shape_op(&g->nodes[r]) || g->nodes[r].inputs[0] != y) break;
        nodes[count++] = last = r;
    }
    /* the longest prefix ending in a static shape */
    while (count >= 2 && !kiln_fuse_static_shape(g, g->nodes[nodes[count - 1]].outputs[0])) count--;
    if (count < 2) return KILN_OK;
    last = nodes[count - 1];
    int32_t y = g->nodes[last].outputs[0];
    const kiln_ir_tensor *yt = &g->tensors[y];
    if (yt->dtype != g->tensors[x].dtype || !kiln_fuse_same_precision(g, nodes, count))
        return KILN_OK;
    int64_t rank = yt->rank, zero = 0;
    int64_t *shape = malloc(sizeof *shape * (size_t)(rank ? rank : 1));
    if (!shape) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory collapsing reshapes");
    for (int32_t d = 0; d < yt->rank; d++) {
        shape[d] = yt->dims[d];
        zero |= yt->dims[d] == 0;
    }
    char name[1024], base[1100];
    snprintf(name, sizeof name, "%s", g->nodes[last].name);
    snprintf(base, sizeof base, "%s/shape", yt->name);
    int32_t st_t;
    KILN_TRY(kiln_fuse_add_constant(f, base, KILN_DTYPE_INT64, 1, &rank, shape,
                                    sizeof *shape * (size_t)(rank ? rank : 0), &st_t));
    int32_t in[2] = {x, st_t};
    KILN_TRY(kiln_fuse_replace(f, nodes, count, last, name, KILN_OP_Reshape, 14, in, 2, &y, 1));
    if (zero) KILN_TRY(kiln_fuse_set_int(f, last, "allowzero", 1));
    (*done)++;
    return KILN_OK;
}

/* Transpose(Transpose(x)): removed, or one Transpose. */
static kiln_status merge_transposes(kiln_fuse *f, int32_t t1, int32_t *done) {
    kiln_graph *g = f->g;
    const kiln_node *a = &g->nodes[t1];
    if (a->op != KILN_OP_Transpose || a->input_count != 1 || a->output_count != 1) return KILN_OK;
    int32_t x = a->inputs[0], mid = a->outputs[0];
    int32_t t2 = kiln_fuse_sole_reader(f, mid);
    if (x < 0 || t2 < 0 || g->nodes[t2].op != KILN_OP_Transpose || g->nodes[t2].output_count != 1)
        return KILN_OK;
    int32_t r = g->tensors[x].rank;
    int64_t p1[KILN_MAX_DIMS], p2[KILN_MAX_DIMS], q[KILN_MAX_DIMS];
    if (r < 0 || !transpose_perm(a, r, p1) || !transpose_perm(&g->nodes[t2], r, p2)) return KILN_OK;
    int identity = 1;
    for (int32_t i = 0; i < r; i++) {
        q[i] = p1[p2[i]];
        identity &= q[i] == i;
    }
    int32_t y = g->nodes[t2].outputs[0];
    int32_t nodes[2] = {t1, t2};
    if (!kiln_fuse_same_precision(g, nodes, 2)) return KILN_OK;
    if (identity) {
        int kind = bypass_kind(f, x, y);
        if (!kind) return KILN_OK;
        bypass(f, nodes, 2, x, y, kind);
        (*done)++;
        return KILN_OK;
    }
    char name[1024];
    snprintf(name, sizeof name, "%s", g->nodes[t2].name);
    KILN_TRY(kiln_fuse_replace(f, nodes, 2, t2, name, KILN_OP_Transpose, 13, &x, 1, &y, 1));
    KILN_TRY(kiln_node_set_ints(g, t2, "perm", q, r));
    (*done)++;
    return KILN_OK;
}

kiln_status kiln_pass_eliminate_redundant(kiln_graph *g, const kiln_fuse_options *o,
                                          int32_t *count) {
    kiln_fuse f;
    int32_t done = 0;
    unsigned flags = o ? o->flags : KILN_FUSE_ALL;
    if (count) *count = 0;
    if (!(flags & (KILN_FUSE_ELIMINATE_IDENTITY | KILN_FUSE_ELIMINATE_RESHAPE |
                   KILN_FUSE_ELIMINATE_TRANSPOSE)))
        return KILN_OK;
    KILN_TRY(kiln_fuse_begin(&f, g, o));
    kiln_status st = KILN_OK;
    /* no-op nodes first, so that chains meet once they are gone */
    for (int32_t i = 0; i < g->node_count; i++) {
        if (f.gone[i] || !is_noop(&f, &g->nodes[i], flags)) continue;
        int32_t x = g->nodes[i].inputs[0], y = g->nodes[i].outputs[0];
        int kind = bypass_kind(&f, x, y);
        if (!kind) continue;
        bypass(&f, &i, 1, x, y, kind);
        done++;
    }
    for (int32_t i = 0; st == KILN_OK && i < g->node_count; i++) {
        if (f.gone[i]) continue;
        if (flags & KILN_FUSE_ELIMINATE_TRANSPOSE) st = merge_transposes(&f, i, &done);
        if (st == KILN_OK && !f.gone[i] && (flags & KILN_FUSE_ELIMINATE_RESHAPE))
            st = collapse_reshapes(&f, i, &done);
    }
    st = kiln_fuse_end(&f, st);
    if (count) *count = done;
    return st;
}
