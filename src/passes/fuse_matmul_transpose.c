/*
 * Transposes around a MatMul -> strides (docs/dev/fusion-contract.md):
 *
 *   MatMul(Transpose(x, p), b)  -> MatMul(x, b) with `_kiln_perm_a` = p
 *   MatMul(a, Transpose(x, p))  -> MatMul(a, x) with `_kiln_perm_b` = p
 *   Transpose(MatMul(a, b), p)  -> MatMul(a, b) with `_kiln_perm_y` = p, writing the
 *                                  Transpose's output
 *
 * PyTorch's attention export splits heads with Reshape + Transpose(0, 2, 1, 3) (K with
 * (0, 2, 3, 1)) and merges them again with Transpose(0, 2, 1, 3) + Reshape: each Transpose
 * is a full copy of Q / K / V / the context that the MatMul can instead read (or write)
 * through permuted strides. A permuted operand is only folded when its contiguous (last)
 * axis stays one of the two matrix dims, so that the GEMM still reads rows or columns
 * contiguously (oneDNN's fast kernels take such strides; other permutations stay copies).
 *
 * `_kiln_perm_y` is only folded into a MatMul without bias or sum input (those index the
 * product, and the contract keeps them apart); this pass runs after the epilogue fusions.
 * Each Transpose must have the MatMul as its only reader (or, for the output, be the
 * MatMul's only reader), not be a graph output, and keep its dtype.
 */
#include "passes/fuse_common.h"

/* The Transpose node's permutation for a tensor of `rank` dims into perm (the default is
 * the reversal); 0 when it has none that fits. */
static int transpose_perm(const kiln_node *n, int32_t rank, int64_t *perm) {
    int32_t np = 0;
    const int64_t *p = kiln_attr_ints(n, "perm", &np);
    if (rank < 2 || rank > KILN_MAX_DIMS || (p && np != rank)) return 0;
    uint32_t seen = 0;
    for (int32_t i = 0; i < rank; i++) {
        perm[i] = p ? p[i] : rank - 1 - i;
        if (perm[i] < 0 || perm[i] >= rank || (seen >> perm[i] & 1u)) return 0;
        seen |= 1u << perm[i];
    }
    return 1;
}

/* Whether the GEMM still reads rows or columns contiguously. An operand Transpose(x, perm):
 * x's contiguous last axis lands at position i with perm[i] == rank - 1, which must be one of
 * the two matrix dims. The output y = Transpose(product, perm): y's last axis is the
 * product's axis perm[rank - 1], which must be one of the product's matrix dims. */
static int friendly_input(const int64_t *perm, int32_t rank) {
    return perm[rank - 1] == rank - 1 || perm[rank - 2] == rank - 1;
}
static int friendly_output(const int64_t *perm, int32_t rank) {
    return perm[rank - 1] >= rank - 2;
}

/* Folds the Transpose producing input `slot` of MatMul h; 1 when done. */
static kiln_status fold_input(kiln_fuse *f, int32_t h, int32_t slot, const char *attr, int *done) {
    kiln_graph *g = f->g;
    *done = 0;
    const kiln_node *n = &g->nodes[h];
    int32_t t = n->inputs[slot];
    int32_t p = kiln_fuse_producer(f, t);
    if (p < 0 || kiln_node_attr(n, attr) || kiln_fuse_sole_reader(f, t) != h) return KILN_OK;
    const kiln_node *tr = &g->nodes[p];
    if (tr->op != KILN_OP_Transpose || tr->input_count != 1 || tr->inputs[0] < 0 ||
        tr->output_count != 1)
        return KILN_OK;
    int32_t x = tr->inputs[0];
    int32_t rank = g->tensors[x].rank;
    int64_t perm[KILN_MAX_DIMS];
    if (g->tensors[x].dtype != g->tensors[t].dtype || !transpose_perm(tr, rank, perm) ||
        !friendly_input(perm, rank))
        return KILN_OK;
    int32_t pattern[2] = {p, h};
    if (!kiln_fuse_same_precision(g, pattern, 2)) return KILN_OK;
    /* the Transpose comes before h, so h's slot stays valid: x is computed before p */
    KILN_TRY(kiln_node_set_ints(g, h, attr, perm, rank));
    KILN_TRY(kiln_fuse_note(f, h, p));
    KILN_TRY(kiln_fuse_set_input(f, h, slot, x));
    kiln_fuse_remove(f, p);
    *done = 1;
    return KILN_OK;
}

/* Folds the Transpose reading MatMul h's output; 1 when done. */
static kiln_status fold_output(kiln_fuse *f, int32_t h, int *done) {
    kiln_graph *g = f->g;
    *done = 0;
    const kiln_node *n = &g->nodes[h];
    int32_t y = n->outputs[0];
    if (kiln_node_attr(n, "_kiln_perm_y") || kiln_attr_int(n, "_kiln_bias_input", -1) >= 0 ||
        kiln_attr_int(n, "_kiln_sum_input", -1) >= 0)
        return KILN_OK;
    int32_t r = kiln_fuse_sole_reader(f, y);
    if (r < 0) return KILN_OK;
    const kiln_node *tr = &g->nodes[r];
    if (tr->op != KILN_OP_Transpose || tr->input_count != 1 || tr->output_count != 1 ||
        tr->outputs[0] < 0)
        return KILN_OK;
    int32_t rank = g->tensors[y].rank, out = tr->outputs[0];
    int64_t perm[KILN_MAX_DIMS];
    if (g->tensors[out].dtype != g->tensors[y].dtype || !transpose_perm(tr, rank, perm) ||
        !friendly_output(perm, rank))
        return KILN_OK;
    int32_t pattern[2] = {h, r};
    if (!kiln_fuse_same_precision(g, pattern, 2)) return KILN_OK;
    KILN_TRY(kiln_node_set_ints(g, h, "_kiln_perm_y", perm, rank));
    KILN_TRY(kiln_fuse_note(f, h, r));
    kiln_fuse_remove(f, r);
    kiln_fuse_set_output(f, h, 0, out);
    kiln_fuse_move(f, h, r);
    *done = 1;
    return KILN_OK;
}

/* MatMul node h: Transposes of its operands and of its output folded into its strides. */
static kiln_status fuse_at(kiln_fuse *f, int32_t h, int32_t *done) {
    kiln_graph *g = f->g;
    const kiln_node *n = &g->nodes[h];
    if (n->op != KILN_OP_MatMul || n->input_count < 2 || n->output_count != 1 ||
        n->outputs[0] < 0 || !kiln_fuse_float_dtype(g->tensors[n->outputs[0]].dtype))
        return KILN_OK;
    /* both operands at least 2-D: the strided kernels take matrices */
    if (n->inputs[0] < 0 || n->inputs[1] < 0 || g->tensors[n->inputs[0]].rank < 2 ||
        g->tensors[n->inputs[1]].rank < 2)
        return KILN_OK;
    int d = 0;
    KILN_TRY(fold_input(f, h, 0, "_kiln_perm_a", &d));
    *done += d;
    KILN_TRY(fold_input(f, h, 1, "_kiln_perm_b", &d));
    *done += d;
    KILN_TRY(fold_output(f, h, &d));
    *done += d;
    return KILN_OK;
}

kiln_status kiln_pass_fuse_matmul_transpose(kiln_graph *g, const kiln_fuse_options *o,
                                            int32_t *count) {
    if (count) *count = 0;
    if (o && !(o->flags & KILN_FUSE_MATMUL_TRANSPOSE)) return KILN_OK;
    return kiln_fuse_each(g, o, fuse_at, count);
}
