/*
 * The fusion passes in the order the build runs them: removals first (so that patterns
 * meet across Identity / Dropout), then BatchNorm folding (before the activation fusion
 * takes the layer), the recognizers (whose Gelu the activation fusion then absorbs), the
 * MatMul scale (before the Add fusions: a Div between MatMul and Add hides the Add), the
 * layer + [Add] + activation fusion, the MatMul transposes (after the epilogue is known:
 * `_kiln_perm_y` is only folded into a MatMul without bias or sum), and last the Softmax
 * mask (an Add of the scores' full shape went to the MatMul's sum input before).
 */
#include "passes/fuse_common.h"

unsigned kiln_fuse_default_flags(int cpu) {
    /* The CUDA kernels ignore the `_kiln_` fusion attributes (and their `supports` does not
     * refuse them yet): only rewrites into plain ONNX ops there. */
    return cpu ? KILN_FUSE_ALL : KILN_FUSE_PORTABLE;
}

/* Whether folding again may use the build's views: every value a node writes (or reads
 * without data) is one the views cover. The rewrites above only add constants. */
static int refold_safe(const kiln_graph *g, const kiln_fuse_options *o) {
    for (int32_t i = 0; i < g->node_count; i++) {
        const kiln_node *n = &g->nodes[i];
        for (int32_t k = 0; k < n->output_count; k++)
            if (n->outputs[k] >= o->view_count) return 0;
        for (int32_t k = 0; k < n->input_count; k++)
            if (n->inputs[k] >= o->view_count && !g->tensors[n->inputs[k]].data) return 0;
    }
    return 1;
}

kiln_status kiln_pass_fuse(kiln_graph *g, const kiln_fuse_options *o, kiln_fuse_counts *counts) {
    kiln_fuse_counts c = {0};
    kiln_status st = kiln_pass_eliminate_redundant(g, o, &c.eliminated);
    if (st == KILN_OK && c.eliminated && o && o->at_max && o->fixed && refold_safe(g, o))
        st = kiln_pass_fold_constants(g, o->at_max, o->fixed, &c.refolded);
    if (st == KILN_OK) st = kiln_pass_fold_batchnorm(g, o, &c.batchnorms);
    if (st == KILN_OK) st = kiln_pass_recognize_layernorm(g, o, &c.layernorms);
    if (st == KILN_OK) st = kiln_pass_recognize_gelu(g, o, &c.gelus);
    if (st == KILN_OK) st = kiln_pass_fuse_matmul_scale(g, o, &c.scales);
    if (st == KILN_OK) st = kiln_pass_fuse_conv_activation(g, o, &c.fused);
    if (st == KILN_OK) st = kiln_pass_fuse_matmul_transpose(g, o, &c.transposes);
    if (st == KILN_OK) st = kiln_pass_fuse_softmax_add(g, o, &c.softmax_adds);
    if (counts) *counts = c;
    return st;
}
