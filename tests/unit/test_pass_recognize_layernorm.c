/*
 * kiln_pass_recognize_layernorm: mean / variance / normalize / scale / shift over trailing
 * axes, as exporters write nn.LayerNorm before opset 17 (Pow or Mul square; axes as an
 * attribute or, from opset 18, an input; gamma and beta optional and broadcast), becomes
 * one LayerNormalization giving the same values (within 1e-5); axes that are not trailing,
 * or intermediates read elsewhere, leave it alone.
 */
#include "test_pass_util.h"

typedef struct ln_case {
    const char *what;
    int32_t rank;
    int64_t dims[4];
    int64_t axes[2];
    int32_t n_axes;
    int mul_square, opset18, gamma, beta, eps_first;
    int32_t gamma_rank;
    int64_t gamma_dims[3];
} ln_case;

static int32_t reduce_mean(kiln_graph *g, const char *name, int32_t x, const ln_case *c) {
    int32_t y = tp_value(g, name), n;
    if (c->opset18) {
        char an[64];
        snprintf(an, sizeof an, "%s_axes", name);
        n = tp_node(g, name, KILN_OP_ReduceMean, 18, 2, 1, x, tp_ints(g, an, c->n_axes, c->axes),
                    y);
    } else {
        n = tp_node(g, name, KILN_OP_ReduceMean, 13, 1, 1, x, y);
        kiln_node_set_ints(g, n, "axes", c->axes, c->n_axes);
    }
    (void)n;
    return y;
}

static kiln_graph *build(const ln_case *c, int extra_reader) {
    kiln_graph *g = NULL;
    kiln_graph_create("t", &g);
    int32_t in = tp_input(g, "in", c->rank, c->dims);
    int32_t x = tp_unary(g, "pre", KILN_OP_Neg, 13, in);
    int32_t mean = reduce_mean(g, "/ln/ReduceMean", x, c);
    int32_t d = tp_binary(g, "/ln/Sub", KILN_OP_Sub, x, mean);
    int32_t sq = c->mul_square ? tp_binary(g, "/ln/Mul_sq", KILN_OP_Mul, d, d)
                               : tp_binary(g, "/ln/Pow", KILN_OP_Pow, d, tp_scalar(g, "two", 2.0f));
    int32_t var = reduce_mean(g, "/ln/ReduceMean_1", sq, c);
    int32_t eps = tp_scalar(g, "eps", 1e-5f);
    int32_t ve = c->eps_first ? tp_binary(g, "/ln/Add", KILN_OP_Add, eps, var)
                              : tp_binary(g, "/ln/Add", KILN_OP_Add, var, eps);
    int32_t sd = tp_unary(g, "/ln/Sqrt", KILN_OP_Sqrt, 13, ve);
    int32_t y = tp_binary(g, "/ln/Div", KILN_OP_Div, d, sd);
    if (c->gamma)
        y = tp_binary(g, "/ln/Mul", KILN_OP_Mul, y,
                      tp_const(g, "gamma", c->gamma_rank, c->gamma_dims, NULL, 0.5f, 1.5f));
    if (c->beta)
        y = tp_binary(g, "/ln/Add_1", KILN_OP_Add,
                      tp_const(g, "beta", c->gamma_rank, c->gamma_dims, NULL, -1, 1), y);
    if (extra_reader) y = tp_binary(g, "extra", KILN_OP_Add, y, sq);
    kiln_graph_add_output(g, tp_unary(g, "post", KILN_OP_Neg, 13, y));
    return g;
}

int main(void) {
    static const ln_case cases[] = {
        {"last axis, Pow, gamma, beta", 3, {2, 5, 16}, {-1}, 1, 0, 0, 1, 1, 0, 1, {16}},
        {"last axis, Mul square, eps first, opset 18",
         3,
         {2, 5, 16},
         {2},
         1,
         1,
         1,
         1,
         1,
         1,
         1,
         {16}},
        {"two trailing axes, gamma [1,1,16] broadcast",
         4,
         {2, 3, 4, 16},
         {-2, -1},
         2,
         0,
         0,
         1,
         1,
         0,
         3,
         {1, 1, 16}},
        {"last axis, no gamma, no beta", 2, {7, 33}, {-1}, 1, 0, 0, 0, 0, 0, 1, {33}},
        {"last axis, gamma only", 2, {7, 33}, {1}, 1, 0, 0, 1, 0, 0, 1, {33}},
        {"last axis, beta only", 2, {7, 33}, {1}, 1, 0, 0, 0, 1, 0, 1, {33}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const ln_case *lc = &cases[i];
        kiln_graph *c =
            tp_check(lc->what, build(lc, 0), kiln_pass_recognize_layernorm, KILN_FUSE_ALL, 3, 1);
        const kiln_node *n = &c->nodes[1];
        EXPECT_EQ_INT(n->op, KILN_OP_LayerNormalization);
        EXPECT_EQ_INT(kiln_attr_int(n, "axis", 0), -lc->n_axes);
        EXPECT_EQ_INT(tp_fused_count(n), 7 + lc->gamma + lc->beta);
        EXPECT_EQ_INT(n->input_count, lc->beta ? 3 : 2);
        EXPECT(!strcmp(n->name, "/ln/LayerNormalization"));
        kiln_graph_destroy(c);
    }
    /* not layer norms */
    ln_case mid = {
        "axis 1 of 3 (not trailing): unchanged", 3, {2, 5, 16}, {1}, 1, 0, 0, 1, 1, 0, 1, {16}};
    kiln_graph *c =
        tp_check(mid.what, build(&mid, 0), kiln_pass_recognize_layernorm, KILN_FUSE_ALL, 11, 0);
    kiln_graph_destroy(c);
    c = tp_check("square read elsewhere: unchanged", build(&cases[0], 1),
                 kiln_pass_recognize_layernorm, KILN_FUSE_ALL, 12, 0);
    kiln_graph_destroy(c);
    c = tp_check("flag off: unchanged", build(&cases[0], 0), kiln_pass_recognize_layernorm,
                 KILN_FUSE_ALL & ~KILN_FUSE_LAYERNORM, 11, 0);
    kiln_graph_destroy(c);
    TEST_MAIN_END();
}
