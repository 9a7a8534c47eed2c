/*
 * kiln_pass_fold_batchnorm: BatchNormalization after Conv (with and without bias, grouped),
 * ConvTranspose (grouped), Gemm (transB, alpha, beta, C) and 2-D MatMul, folded into new
 * weights, must give what the two nodes give (within 1e-5) with one node left; training
 * mode, computed statistics and a layer output read elsewhere block the fold.
 */
#include "test_pass_util.h"

/* Appends BatchNormalization over `channels` to x; returns its output. */
static int32_t add_bn(kiln_graph *g, int32_t x, int64_t channels, int training, int computed_mean) {
    int32_t scale = tp_const(g, "bn_scale", 1, &channels, NULL, 0.5f, 1.5f);
    int32_t bias = tp_const(g, "bn_bias", 1, &channels, NULL, -1, 1);
    int32_t mean = tp_const(g, "bn_mean", 1, &channels, NULL, -0.5f, 0.5f);
    int32_t var = tp_const(g, "bn_var", 1, &channels, NULL, 0.2f, 2.0f);
    if (computed_mean) mean = tp_unary(g, "mean_copy", KILN_OP_Identity, 16, mean);
    int32_t y = tp_value(g, "bn_out");
    int32_t n =
        tp_node(g, "bn", KILN_OP_BatchNormalization, 15, 5, 1, x, scale, bias, mean, var, y);
    kiln_node_set_float(g, n, "epsilon", 1e-3f);
    if (training) kiln_node_set_int(g, n, "training_mode", 1);
    return y;
}

static kiln_graph *conv_bn(int bias, int64_t group, int transpose) {
    kiln_graph *g = NULL;
    kiln_graph_create("t", &g);
    int64_t xd[4] = {2, 4, 6, 6};
    int32_t x = tp_input(g, "x", 4, xd);
    int64_t wd[4] = {transpose ? 4 : 6, transpose ? 3 : 4 / group, 3, 3};
    int64_t out_ch = transpose ? 3 * group : 6;
    int32_t w = tp_const(g, "w", 4, wd, NULL, -0.5f, 0.5f);
    int32_t b = bias ? tp_const(g, "b", 1, &out_ch, NULL, -1, 1) : -1;
    int32_t y = tp_value(g, "conv_out");
    int32_t n =
        tp_node(g, "conv", transpose ? KILN_OP_ConvTranspose : KILN_OP_Conv, 11, 3, 1, x, w, b, y);
    kiln_node_set_int(g, n, "group", group);
    kiln_graph_add_output(g, add_bn(g, y, out_ch, 0, 0));
    return g;
}

static kiln_graph *gemm_bn(int matmul, int with_c, int transb) {
    kiln_graph *g = NULL;
    kiln_graph_create("t", &g);
    int64_t ad[2] = {5, 9}, bd[2] = {transb ? 7 : 9, transb ? 9 : 7}, cd[2] = {1, 7};
    int32_t a = tp_input(g, "a", 2, ad);
    int32_t w = tp_const(g, "w", 2, bd, NULL, -0.5f, 0.5f);
    int32_t c = with_c ? tp_const(g, "c", 2, cd, NULL, -1, 1) : -1;
    int32_t y = tp_value(g, "gemm_out");
    if (matmul) {
        tp_node(g, "matmul", KILN_OP_MatMul, 13, 2, 1, a, w, y);
    } else {
        int32_t n = tp_node(g, "gemm", KILN_OP_Gemm, 13, 3, 1, a, w, c, y);
        kiln_node_set_int(g, n, "transB", transb);
        kiln_node_set_float(g, n, "alpha", 0.8f);
        kiln_node_set_float(g, n, "beta", 0.6f);
    }
    kiln_graph_add_output(g, add_bn(g, y, 7, 0, 0));
    return g;
}

int main(void) {
    kiln_graph *c;
    c = tp_check("Conv + BN", conv_bn(1, 1, 0), kiln_pass_fold_batchnorm, KILN_FUSE_ALL, 1, 1);
    EXPECT_EQ_INT(c->nodes[0].op, KILN_OP_Conv);
    EXPECT(tp_fused_name(&c->nodes[0], 0) && !strcmp(tp_fused_name(&c->nodes[0], 0), "bn"));
    kiln_graph_destroy(c);
    c = tp_check("Conv (no bias, group 2) + BN", conv_bn(0, 2, 0), kiln_pass_fold_batchnorm,
                 KILN_FUSE_ALL, 1, 1);
    EXPECT_EQ_INT(c->nodes[0].input_count, 3);
    kiln_graph_destroy(c);
    c = tp_check("ConvTranspose + BN", conv_bn(1, 1, 1), kiln_pass_fold_batchnorm, KILN_FUSE_ALL, 1,
                 1);
    kiln_graph_destroy(c);
    c = tp_check("ConvTranspose (no bias, group 2) + BN", conv_bn(0, 2, 1),
                 kiln_pass_fold_batchnorm, KILN_FUSE_ALL, 1, 1);
    kiln_graph_destroy(c);
    c = tp_check("Gemm (transB, alpha, beta, C [1,N]) + BN", gemm_bn(0, 1, 1),
                 kiln_pass_fold_batchnorm, KILN_FUSE_ALL, 1, 1);
    kiln_graph_destroy(c);
    c = tp_check("Gemm (no C) + BN", gemm_bn(0, 0, 0), kiln_pass_fold_batchnorm, KILN_FUSE_ALL, 1,
                 1);
    EXPECT_EQ_INT(c->nodes[0].input_count, 3);
    kiln_graph_destroy(c);
    c = tp_check("MatMul (2-D) + BN -> Gemm", gemm_bn(1, 0, 0), kiln_pass_fold_batchnorm,
                 KILN_FUSE_ALL, 1, 1);
    EXPECT_EQ_INT(c->nodes[0].op, KILN_OP_Gemm);
    kiln_graph_destroy(c);

    /* blocked */
    kiln_graph *g = conv_bn(1, 1, 0);
    kiln_graph_add_output(g, kiln_graph_find_tensor(g, "conv_out"));
    c = tp_check("Conv + BN, conv output is a graph output", g, kiln_pass_fold_batchnorm,
                 KILN_FUSE_ALL, 2, 0);
    kiln_graph_destroy(c);
    g = NULL;
    kiln_graph_create("t", &g);
    {
        int64_t xd[4] = {1, 3, 5, 5}, wd[4] = {4, 3, 1, 1};
        int32_t x = tp_input(g, "x", 4, xd), y = tp_value(g, "conv_out");
        tp_node(g, "conv", KILN_OP_Conv, 11, 2, 1, x, tp_const(g, "w", 4, wd, NULL, -1, 1), y);
        kiln_graph_add_output(g, add_bn(g, y, 4, 0, 1));
    }
    c = tp_check("Conv + BN with a computed mean", g, kiln_pass_fold_batchnorm, KILN_FUSE_ALL, 3,
                 0);
    kiln_graph_destroy(c);
    c = tp_check("Conv + BN, flag off", conv_bn(1, 1, 0), kiln_pass_fold_batchnorm,
                 KILN_FUSE_ALL & ~KILN_FUSE_BATCHNORM, 2, 0);
    kiln_graph_destroy(c);
    /* training mode: no fold (not run: the reference computes batch statistics) */
    g = NULL;
    kiln_graph_create("t", &g);
    {
        int64_t xd[4] = {1, 3, 5, 5}, wd[4] = {4, 3, 1, 1};
        int32_t x = tp_input(g, "x", 4, xd), y = tp_value(g, "conv_out");
        tp_node(g, "conv", KILN_OP_Conv, 11, 2, 1, x, tp_const(g, "w", 4, wd, NULL, -1, 1), y);
        kiln_graph_add_output(g, add_bn(g, y, 4, 1, 0));
    }
    int32_t count = -1;
    kiln_fuse_options o = {KILN_FUSE_ALL, NULL, NULL, 0, NULL};
    EXPECT_EQ_INT(kiln_pass_fold_batchnorm(g, &o, &count), KILN_OK);
    EXPECT_EQ_INT(count, 0);
    EXPECT_EQ_INT(g->node_count, 2);
    printf("%-58s %s\n", "Conv + BN in training mode", count == 0 ? "ok  : not folded" : "FAIL");
    kiln_graph_destroy(g);
    TEST_MAIN_END();
}
