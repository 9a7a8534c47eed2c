/*
 * kiln_pass_recognize_gelu: the erf form in PyTorch's orders and the tanh form (Pow or
 * Mul cube, Sum for Add) become one Gelu that gives what the subgraph gives (within 1e-5);
 * after a MatMul + bias the conv/activation pass then absorbs it (one node in all); wrong
 * constants or intermediates read elsewhere leave the subgraph alone.
 */
#include "test_pass_util.h"

enum { TAIL_MUL_HALF_LAST, TAIL_HALF_X_FIRST, TAIL_HALF_C };

/* 0.5 x c in one of the exporters' orders; returns the output. */
static int32_t tail(kiln_graph *g, int32_t x, int32_t c, int order, const char *prefix) {
    char name[128];
    int32_t half = tp_scalar(g, "half", 0.5f);
    snprintf(name, sizeof name, "%s/Mul", prefix);
    if (order == TAIL_MUL_HALF_LAST) {
        int32_t d = tp_binary(g, name, KILN_OP_Mul, x, c);
        snprintf(name, sizeof name, "%s/Mul_1", prefix);
        return tp_binary(g, name, KILN_OP_Mul, d, half);
    }
    if (order == TAIL_HALF_X_FIRST) {
        int32_t hx = tp_binary(g, name, KILN_OP_Mul, half, x);
        snprintf(name, sizeof name, "%s/Mul_1", prefix);
        return tp_binary(g, name, KILN_OP_Mul, hx, c);
    }
    int32_t hc = tp_binary(g, name, KILN_OP_Mul, c, half);
    snprintf(name, sizeof name, "%s/Mul_1", prefix);
    return tp_binary(g, name, KILN_OP_Mul, x, hc);
}

/* GELU (erf) of x: Div(x, sqrt 2) or Mul(x, 1/sqrt 2), Erf, Add(1) either way round. */
static int32_t gelu_erf(kiln_graph *g, int32_t x, int use_mul, int one_first, int order,
                        float sqrt2) {
    const char *p = "/mlp/act";
    int32_t a =
        use_mul ? tp_binary(g, "/mlp/act/Mul_s", KILN_OP_Mul, tp_scalar(g, "rs2", 1.0f / sqrt2), x)
                : tp_binary(g, "/mlp/act/Div", KILN_OP_Div, x, tp_scalar(g, "s2", sqrt2));
    int32_t e = tp_unary(g, "/mlp/act/Erf", KILN_OP_Erf, 13, a);
    int32_t one = tp_scalar(g, "one", 1.0f);
    int32_t c = one_first ? tp_binary(g, "/mlp/act/Add", KILN_OP_Add, one, e)
                          : tp_binary(g, "/mlp/act/Add", KILN_OP_Add, e, one);
    return tail(g, x, c, order, p);
}

/* GELU (tanh) of x: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). */
static int32_t gelu_tanh(kiln_graph *g, int32_t x, int pow_cube, int use_sum) {
    int32_t cube;
    if (pow_cube) {
        cube = tp_binary(g, "pow", KILN_OP_Pow, x, tp_scalar(g, "three", 3.0f));
    } else {
        int32_t sq = tp_binary(g, "sq", KILN_OP_Mul, x, x);
        cube = tp_binary(g, "cube", KILN_OP_Mul, x, sq);
    }
    int32_t v = tp_binary(g, "c0", KILN_OP_Mul, tp_scalar(g, "k0", 0.044715f), cube);
    int32_t s = tp_binary(g, "inner", use_sum ? KILN_OP_Sum : KILN_OP_Add, x, v);
    int32_t u = tp_binary(g, "scale", KILN_OP_Mul, s, tp_scalar(g, "k1", 0.7978845608f));
    int32_t t = tp_unary(g, "tanh", KILN_OP_Tanh, 13, u);
    int32_t c =
        tp_binary(g, "phi", use_sum ? KILN_OP_Sum : KILN_OP_Add, tp_scalar(g, "one", 1.0f), t);
    return tail(g, x, c, TAIL_HALF_X_FIRST, "");
}

/* x = relu(input) (so that x has a producer), then f(x), then one more reader of the output. */
static kiln_graph *wrap(int which, int a, int b, int c, float k) {
    kiln_graph *g = NULL;
    kiln_graph_create("t", &g);
    int64_t xd[3] = {2, 3, 17};
    int32_t in = tp_input(g, "in", 3, xd);
    int32_t x = tp_unary(g, "pre", KILN_OP_Neg, 13, in);
    int32_t y = which == 0 ? gelu_erf(g, x, a, b, c, k) : gelu_tanh(g, x, a, b);
    kiln_graph_add_output(g, tp_unary(g, "post", KILN_OP_Neg, 13, y));
    return g;
}

static void expect_gelu(const kiln_graph *c, const char *approx, int32_t fused) {
    const kiln_node *n = NULL;
    for (int32_t i = 0; i < c->node_count; i++)
        if (c->nodes[i].op == KILN_OP_Gelu) n = &c->nodes[i];
    EXPECT(n != NULL);
    if (!n) return;
    EXPECT(!strcmp(kiln_attr_string(n, "approximate", "none"), approx));
    EXPECT_EQ_INT(tp_fused_count(n), fused);
}

int main(void) {
    static const char *orders[] = {"Mul(Mul(x,c),.5)", "Mul(Mul(.5,x),c)", "Mul(x,Mul(c,.5))"};
    kiln_graph *c;
    for (int use_mul = 0; use_mul < 2; use_mul++)
        for (int one_first = 0; one_first < 2; one_first++)
            for (int order = 0; order < 3; order++) {
                char what[128];
                snprintf(what, sizeof what, "erf GELU: %s, Add(%s), %s",
                         use_mul ? "Mul(1/sqrt2)" : "Div(sqrt2)", one_first ? "1,erf" : "erf,1",
                         orders[order]);
                c = tp_check(what, wrap(0, use_mul, one_first, order, 1.4142135f),
                             kiln_pass_recognize_gelu, KILN_FUSE_ALL, 3, 1);
                expect_gelu(c, "none", 5);
                if (use_mul == 0 && order == 0) EXPECT(!strcmp(c->nodes[1].name, "/mlp/act/Gelu"));
                kiln_graph_destroy(c);
            }
    c = tp_check("tanh GELU: Pow(x,3), Add", wrap(1, 1, 0, 0, 0), kiln_pass_recognize_gelu,
                 KILN_FUSE_ALL, 3, 1);
    expect_gelu(c, "tanh", 8);
    kiln_graph_destroy(c);
    c = tp_check("tanh GELU: Mul(x,Mul(x,x)), Sum", wrap(1, 0, 1, 0, 0), kiln_pass_recognize_gelu,
                 KILN_FUSE_ALL, 3, 1);
    expect_gelu(c, "tanh", 9);
    kiln_graph_destroy(c);

    /* not GELU */
    c = tp_check("Div by 1.5: unchanged", wrap(0, 0, 0, 0, 1.5f), kiln_pass_recognize_gelu,
                 KILN_FUSE_ALL, 7, 0);
    kiln_graph_destroy(c);
    {
        kiln_graph *g = wrap(0, 0, 0, 0, 1.4142135f);
        int32_t e = kiln_graph_find_tensor(g, "/mlp/act/Erf");
        int32_t post = g->outputs[0];
        g->outputs[0] = tp_binary(g, "extra", KILN_OP_Add, e, post);
        c = tp_check("Erf output read elsewhere: unchanged", g, kiln_pass_recognize_gelu,
                     KILN_FUSE_ALL, 8, 0);
        kiln_graph_destroy(c);
    }
    c = tp_check("flag off: unchanged", wrap(0, 0, 0, 0, 1.4142135f), kiln_pass_recognize_gelu,
                 KILN_FUSE_ALL & ~KILN_FUSE_GELU, 7, 0);
    kiln_graph_destroy(c);

    /* MatMul + bias + GELU: recognized, then fused into the MatMul */
    {
        kiln_graph *g = NULL;
        kiln_graph_create("t", &g);
        int64_t ad[3] = {2, 4, 8}, wd[2] = {8, 16}, bd[1] = {16};
        int32_t a = tp_input(g, "a", 3, ad);
        int32_t mm = tp_value(g, "mm");
        tp_node(g, "dense/MatMul", KILN_OP_MatMul, 13, 2, 1, a,
                tp_const(g, "w", 2, wd, NULL, -1, 1), mm);
        int32_t x =
            tp_binary(g, "dense/Add", KILN_OP_Add, tp_const(g, "b", 1, bd, NULL, -1, 1), mm);
        kiln_graph_add_output(g, gelu_erf(g, x, 0, 0, 0, 1.4142135f));
        c = tp_check("MatMul + bias + erf GELU: recognized", g, kiln_pass_recognize_gelu,
                     KILN_FUSE_ALL, 3, 1);
        kiln_graph *c2 = tp_check("... then fused into the MatMul", c,
                                  kiln_pass_fuse_conv_activation, KILN_FUSE_ALL, 1, 1);
        const kiln_node *n = &c2->nodes[0];
        EXPECT(!strcmp(kiln_attr_string(n, "_kiln_activation", ""), "Gelu"));
        EXPECT_EQ_INT(kiln_attr_int(n, "_kiln_bias_input", -1), 2);
        /* the Add, then the five nodes of the GELU (flattened) */
        EXPECT_EQ_INT(tp_fused_count(n), 6);
        EXPECT(tp_fused_name(n, 1) && !strcmp(tp_fused_name(n, 1), "/mlp/act/Div"));
        kiln_graph_destroy(c2);
    }
    TEST_MAIN_END();
}
