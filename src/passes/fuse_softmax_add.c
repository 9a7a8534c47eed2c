/*
 * Add(x, m) -> Softmax  =>  Softmax(x, m) with `_kiln_add_input` = 1
 * (docs/dev/fusion-contract.md): y = softmax(x + m), m broadcast to x.
 *
 * The attention mask of PyTorch's BERT export: scores [B, H, S, S] + mask [B, 1, 1, S]. The
 * Add's output is a full copy of the scores that the Softmax then reads again; the fused
 * kernel adds the mask row as it loads each row instead. Why not a binary post-op of the
 * scores MatMul: oneDNN 2.6's brgemm matmul took ~35 us more per call (BERT-base, 2
 * threads) with a broadcast [1, 1, 1, 128] operand, more than the separate Add (~30 us);
 * an Add of the output's full shape is already the MatMul's `_kiln_sum_input`, and that
 * pass runs first.
 *
 * Only when x has the Add's output shape (m broadcasts to it; the Add checked that), both
 * are float32 of the same dtype as the Softmax, and the Add's output has the Softmax as its
 * only reader and is not a graph output.
 */
#include "passes/fuse_common.h"

/* Softmax node h whose input is an Add of x (the output's shape) and a mask m: h takes both
 * and adds them itself. */
static kiln_status fuse_at(kiln_fuse *f, int32_t h, int32_t *done) {
    kiln_graph *g = f->g;
    const kiln_node *n = &g->nodes[h];
    if (n->op != KILN_OP_Softmax || n->input_count != 1 || n->inputs[0] < 0 ||
        n->output_count != 1 || n->outputs[0] < 0 || kiln_node_attr(n, "_kiln_add_input"))
        return KILN_OK;
    int32_t s = n->inputs[0], a = kiln_fuse_producer(f, s);
    if (a < 0 || kiln_fuse_sole_reader(f, s) != h) return KILN_OK;
    const kiln_node *add = &g->nodes[a];
    if (add->op != KILN_OP_Add || add->input_count != 2 || add->output_count != 1 ||
        add->inputs[0] < 0 || add->inputs[1] < 0)
        return KILN_OK;
    /* x: the operand of the output's shape (the first when both are) */
    int32_t x = add->inputs[0], m = add->inputs[1];
    if (!kiln_fuse_same_shape(f, x, s)) {
        x = add->inputs[1], m = add->inputs[0];
        if (!kiln_fuse_same_shape(f, x, s)) return KILN_OK;
    }
    /* float32 only: the kernels add in float32, as the Add would */
    if (g->tensors[x].dtype != KILN_DTYPE_FLOAT32 || g->tensors[m].dtype != KILN_DTYPE_FLOAT32 ||
        g->tensors[s].dtype != KILN_DTYPE_FLOAT32 || g->tensors[m].rank < 0 ||
        g->tensors[m].rank > g->tensors[x].rank)
        return KILN_OK;
    int32_t pattern[2] = {a, h};
    if (!kiln_fuse_same_precision(g, pattern, 2)) return KILN_OK;
    /* the Add comes before h, so both of its operands are computed before h */
    KILN_TRY(kiln_fuse_set_input(f, h, 0, x));
    KILN_TRY(kiln_fuse_set_input(f, h, 1, m));
    KILN_TRY(kiln_fuse_set_int(f, h, "_kiln_add_input", 1));
    KILN_TRY(kiln_fuse_note(f, h, a));
    kiln_fuse_remove(f, a);
    (*done)++;
    return KILN_OK;
}

kiln_status kiln_pass_fuse_softmax_add(kiln_graph *g, const kiln_fuse_options *o, int32_t *count) {
    if (count) *count = 0;
    if (o && !(o->flags & KILN_FUSE_SOFTMAX_ADD)) return KILN_OK;
    return kiln_fuse_each(g, o, fuse_at, count);
}
