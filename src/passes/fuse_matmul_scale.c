/*
 * MatMul + Div(y, c) / Mul(y, c) / Mul(c, y), c a constant holding one number -> the MatMul
 * with `_kiln_scale` = 1/c or c (docs/dev/fusion-contract.md): y = scale * A B, applied by
 * the GEMM to its accumulators (oneDNN: the output scale), so the scaled copy of the
 * attention scores (Q K^T / sqrt(d) in PyTorch's BERT export) is never written and read.
 *
 * Only a MatMul with nothing applied to its product yet (no bias, sum or activation: the
 * scale would apply to them too) and a float result; c may have any rank up to y's (a
 * higher rank would broadcast y's shape up). Division becomes multiplication by 1/c, which
 * may differ from the division by one rounding.
 */
#include <math.h>

#include "passes/fuse_common.h"

/* The scale the Div / Mul node r applies to y, or 0 when it is not such a node. */
static int match_scale(const kiln_fuse *f, int32_t r, int32_t y, double *scale) {
    const kiln_graph *g = f->g;
    const kiln_node *n = &g->nodes[r];
    if ((n->op != KILN_OP_Div && n->op != KILN_OP_Mul) || n->input_count != 2 ||
        n->output_count != 1 || n->outputs[0] < 0)
        return 0;
    int32_t c;
    if (n->inputs[0] == y && n->inputs[1] != y)
        c = n->inputs[1];
    else if (n->op == KILN_OP_Mul && n->inputs[1] == y && n->inputs[0] != y)
        c = n->inputs[0];
    else
        return 0;
    double v;
    if (!kiln_fuse_const_scalar(g, c, &v) || g->tensors[c].rank > g->tensors[y].rank) return 0;
    if (g->tensors[n->outputs[0]].dtype != g->tensors[y].dtype) return 0;
    if (n->op == KILN_OP_Div) {
        if (v == 0.0) return 0; /* inf / nan patterns stay as written */
        v = 1.0 / v;
    }
    if (!isfinite(v) || v == 0.0) return 0;
    *scale = v;
    return 1;
}

/* MatMul node h whose only reader multiplies or divides by a constant scalar: h scales its
 * product itself (a second such reader meets the loop again in the first's slot). */
static kiln_status fuse_at(kiln_fuse *f, int32_t h, int32_t *done) {
    kiln_graph *g = f->g;
    const kiln_node *n = &g->nodes[h];
    if (n->op != KILN_OP_MatMul || n->output_count != 1 || n->outputs[0] < 0) return KILN_OK;
    if (kiln_node_attr(n, "_kiln_activation") || kiln_node_attr(n, "_kiln_bias_input") ||
        kiln_node_attr(n, "_kiln_sum_input"))
        return KILN_OK;
    int32_t y = n->outputs[0];
    if (!kiln_fuse_float_dtype(g->tensors[y].dtype)) return KILN_OK;
    int32_t r = kiln_fuse_sole_reader(f, y);
    double scale;
    if (r < 0 || !match_scale(f, r, y, &scale)) return KILN_OK;
    int32_t pattern[2] = {h, r};
    if (!kiln_fuse_same_precision(g, pattern, 2)) return KILN_OK;
    /* a second Div / Mul meets the loop again in r's slot and multiplies in */
    scale *= kiln_attr_float(n, "_kiln_scale", 1.0f);
    int32_t out = g->nodes[r].outputs[0];
    KILN_TRY(kiln_fuse_set_float(f, h, "_kiln_scale", (float)scale));
    KILN_TRY(kiln_fuse_note(f, h, r));
    kiln_fuse_remove(f, r);
    kiln_fuse_set_output(f, h, 0, out);
    kiln_fuse_move(f, h, r);
    (*done)++;
    return KILN_OK;
}

kiln_status kiln_pass_fuse_matmul_scale(kiln_graph *g, const kiln_fuse_options *o, int32_t *count) {
    if (count) *count = 0;
    if (o && !(o->flags & KILN_FUSE_MATMUL_SCALE)) return KILN_OK;
    return kiln_fuse_each(g, o, fuse_at, count);
}
