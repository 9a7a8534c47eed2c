/*
 * kiln_pass_fuse_conv_activation: Conv / ConvTranspose / Gemm / MatMul + [Add] + activation
 * into one node with the fusion contract's attributes, run by the CPU kernels, must give
 * what the separate nodes give (within 1e-5), with the expected node count; patterns whose
 * intermediates are needed elsewhere, or whose Add broadcasts, stay as they are; the flags
 * switch each fusion off.
 */
#include "test_pass_util.h"

/* ---------------------------------------------------------------- activations ------ */

typedef struct act_case {
    const char *name; /* the contract's name */
    kiln_op op;
    int32_t opset;
    float alpha, beta;
    int mode; /* 0 plain; 1 attrs alpha/beta; 2 Clip inputs; 3 x * sigmoid(x); 4 Gelu tanh */
} act_case;

static const act_case ACTS[] = {
    {"Relu", KILN_OP_Relu, 14, 0, 0, 0},
    {"LeakyRelu", KILN_OP_LeakyRelu, 16, 0.1f, 0, 1},
    {"Clip", KILN_OP_Clip, 6, -0.25f, 0.5f, 1},
    {"Clip", KILN_OP_Clip, 13, 0.0f, 6.0f, 2},
    {"Sigmoid", KILN_OP_Sigmoid, 13, 0, 0, 0},
    {"Tanh", KILN_OP_Tanh, 13, 0, 0, 0},
    {"HardSigmoid", KILN_OP_HardSigmoid, 6, 0.3f, 0.4f, 1},
    {"Gelu", KILN_OP_Gelu, 20, 0, 0, 0},
    {"GeluTanh", KILN_OP_Gelu, 20, 0, 0, 4},
    {"Swish", KILN_OP_Swish, 24, 1.0f, 0, 0},
    {"Swish", KILN_OP_Mul, 14, 0, 0, 3},
};
enum { N_ACTS = sizeof ACTS / sizeof ACTS[0] };

/* The activation of x as separate nodes; returns its output. *nodes += nodes added. */
static int32_t add_act(kiln_graph *g, const act_case *a, int32_t x, int32_t *nodes) {
    int32_t y = tp_value(g, "act_out"), n;
    switch (a->mode) {
    case 2: {
        int32_t lo = tp_scalar(g, "clip_min", a->alpha), hi = tp_scalar(g, "clip_max", a->beta);
        tp_node(g, "act", a->op, a->opset, 3, 1, x, lo, hi, y);
        break;
    }
    case 3: {
        int32_t s = tp_unary(g, "sig", KILN_OP_Sigmoid, 13, x);
        tp_node(g, "act", KILN_OP_Mul, 14, 2, 1, s, x, y); /* Sigmoid first: either order */
        (*nodes)++;
        break;
    }
    default:
        n = tp_node(g, "act", a->op, a->opset, 1, 1, x, y);
        if (a->mode == 1 && a->op == KILN_OP_Clip) {
            kiln_node_set_float(g, n, "min", a->alpha);
            kiln_node_set_float(g, n, "max", a->beta);
        } else if (a->mode == 1) {
            kiln_node_set_float(g, n, "alpha", a->alpha);
            if (a->op == KILN_OP_HardSigmoid) kiln_node_set_float(g, n, "beta", a->beta);
        } else if (a->mode == 4) {
            kiln_node_set_string(g, n, "approximate", "tanh", 4);
        }
        break;
    }
    (*nodes)++;
    return y;
}

/* ---------------------------------------------------------------- graphs ----------- */

enum { HOST_CONV, HOST_CONVT, HOST_GEMM, HOST_MATMUL };

/* host [+ Add] [+ act]: returns the graph; *nodes is its node count. add: 0 none, 1 the
 * fusable Add (residual for Conv, bias for MatMul / Gemm), 2 an Add that broadcasts. */
static kiln_graph *build(int host, int add, const act_case *act, int32_t *nodes) {
    kiln_graph *g = NULL;
    kiln_graph_create("t", &g);
    *nodes = 0;
    int32_t y = -1;
    int64_t n_out = 0;
    if (host == HOST_CONV) {
        int64_t xd[4] = {2, 4, 7, 7}, wd[4] = {6, 2, 3, 3}, bd[1] = {6};
        int32_t x = tp_input(g, "x", 4, xd);
        int32_t w = tp_const(g, "w", 4, wd, NULL, -0.5f, 0.5f),
                b = tp_const(g, "b", 1, bd, NULL, -1, 1);
        y = tp_value(g, "conv_out");
        int32_t n = tp_node(g, "conv", KILN_OP_Conv, 11, 3, 1, x, w, b, y);
        kiln_node_set_int(g, n, "group", 2);
        int64_t pads[4] = {1, 1, 1, 1};
        kiln_node_set_ints(g, n, "pads", pads, 4);
        n_out = 6;
    } else if (host == HOST_CONVT) {
        int64_t xd[4] = {1, 4, 5, 5}, wd[4] = {4, 3, 3, 3};
        int32_t x = tp_input(g, "x", 4, xd);
        int32_t w = tp_const(g, "w", 4, wd, NULL, -0.5f, 0.5f);
        y = tp_value(g, "convt_out");
        int32_t n = tp_node(g, "convt", KILN_OP_ConvTranspose, 11, 2, 1, x, w, y);
        int64_t strides[2] = {2, 2};
        kiln_node_set_ints(g, n, "strides", strides, 2);
        n_out = 3;
    } else if (host == HOST_GEMM) {
        int64_t ad[2] = {5, 9}, bd[2] = {7, 9};
        int32_t a = tp_input(g, "a", 2, ad);
        int32_t b = tp_const(g, "w", 2, bd, NULL, -0.5f, 0.5f);
        y = tp_value(g, "gemm_out");
        int32_t n = tp_node(g, "gemm", KILN_OP_Gemm, 13, 2, 1, a, b, y);
        kiln_node_set_int(g, n, "transB", 1);
        kiln_node_set_float(g, n, "alpha", 0.75f);
        n_out = 7;
    } else {
        int64_t ad[3] = {2, 5, 9}, bd[2] = {9, 7};
        int32_t a = tp_input(g, "a", 3, ad);
        int32_t b = tp_const(g, "w", 2, bd, NULL, -0.5f, 0.5f);
        y = tp_value(g, "mm_out");
        tp_node(g, "matmul", KILN_OP_MatMul, 13, 2, 1, a, b, y);
        n_out = 7;
    }
    (*nodes)++;
    if (add) {
        int32_t other;
        if (host == HOST_CONV && add == 1) {
            int64_t sd[4] = {2, 6, 7, 7};
            other = tp_input(g, "residual", 4, sd);
        } else if (host == HOST_CONV) {
            int64_t sd[4] = {1, 6, 1, 1};
            other = tp_const(g, "chan_bias", 4, sd, NULL, -1, 1);
        } else if (add == 1) {
            other = tp_const(g, "bias", 1, &n_out, NULL, -1, 1);
        } else {
            int64_t sd[2] = {5, 1};
            other = tp_const(g, "col_bias", 2, sd, NULL, -1, 1);
        }
        int32_t s = tp_value(g, "add_out");
        tp_node(g, "add", KILN_OP_Add, 14, 2, 1, other, y, s); /* the layer second */
        y = s;
        (*nodes)++;
    }
    if (act) y = add_act(g, act, y, nodes);
    kiln_graph_add_output(g, y);
    return g;
}

static void check_attrs(const kiln_graph *g, const char *act, int sum, int bias) {
    const kiln_node *n = &g->nodes[g->node_count - 1];
    const char *got = kiln_attr_string(n, "_kiln_activation", NULL);
    if (act)
        EXPECT(got && !strcmp(got, act));
    else
        EXPECT(got == NULL);
    EXPECT_EQ_INT(kiln_attr_int(n, "_kiln_sum_input", -1), sum ? 3 : -1);
    EXPECT_EQ_INT(kiln_attr_int(n, "_kiln_bias_input", -1), bias ? 2 : -1);
    EXPECT(tp_fused_count(n) >= 1);
}

static void test_activations(void) {
    static const char *hosts[] = {"Conv", "ConvTranspose", "Gemm", "MatMul"};
    for (int h = 0; h < 4; h++)
        for (int i = 0; i < N_ACTS; i++) {
            int32_t nodes;
            kiln_graph *g = build(h, 0, &ACTS[i], &nodes);
            char what[128];
            snprintf(what, sizeof what, "%s + %s%s", hosts[h], ACTS[i].name,
                     ACTS[i].mode == 3   ? " (x*sigmoid(x))"
                     : ACTS[i].mode == 2 ? " (inputs)"
                                         : "");
            kiln_graph *c = tp_check(what, g, kiln_pass_fuse_conv_activation, KILN_FUSE_ALL, 1, 1);
            check_attrs(c, ACTS[i].name, 0, 0);
            EXPECT_EQ_INT(tp_fused_count(&c->nodes[0]), ACTS[i].mode == 3 ? 2 : 1);
            kiln_graph_destroy(c);
        }
}

static void test_adds(void) {
    int32_t nodes;
    kiln_graph *c;
    /* Conv + residual Add (+ Relu) */
    c = tp_check("Conv + residual Add", build(HOST_CONV, 1, NULL, &nodes),
                 kiln_pass_fuse_conv_activation, KILN_FUSE_ALL, 1, 1);
    check_attrs(c, NULL, 1, 0);
    EXPECT_EQ_INT(c->nodes[0].input_count, 4);
    kiln_graph_destroy(c);
    c = tp_check("Conv + residual Add + Relu", build(HOST_CONV, 1, &ACTS[0], &nodes),
                 kiln_pass_fuse_conv_activation, KILN_FUSE_ALL, 1, 1);
    check_attrs(c, "Relu", 1, 0);
    EXPECT_EQ_INT(tp_fused_count(&c->nodes[0]), 2);
    EXPECT(tp_fused_name(&c->nodes[0], 0) && !strcmp(tp_fused_name(&c->nodes[0], 0), "add"));
    EXPECT(tp_fused_name(&c->nodes[0], 1) && !strcmp(tp_fused_name(&c->nodes[0], 1), "act"));
    EXPECT(!strcmp(c->nodes[0].name, "conv"));
    kiln_graph_destroy(c);
    /* a Conv with no bias gets an omitted input 2 before the sum */
    {
        kiln_graph *g = NULL;
        kiln_graph_create("t", &g);
        int64_t xd[4] = {1, 3, 6, 6}, wd[4] = {5, 3, 1, 1}, sd[4] = {1, 5, 6, 6};
        int32_t x = tp_input(g, "x", 4, xd), s = tp_input(g, "s", 4, sd);
        int32_t w = tp_const(g, "w", 4, wd, NULL, -1, 1);
        int32_t y = tp_value(g, "y");
        tp_node(g, "conv", KILN_OP_Conv, 11, 2, 1, x, w, y);
        int32_t z = tp_binary(g, "add", KILN_OP_Add, y, s);
        int32_t r = tp_unary(g, "relu", KILN_OP_Relu, 14, z);
        kiln_graph_add_output(g, r);
        c = tp_check("Conv (no bias) + Add + Relu", g, kiln_pass_fuse_conv_activation,
                     KILN_FUSE_ALL, 1, 1);
        EXPECT_EQ_INT(c->nodes[0].input_count, 4);
        EXPECT_EQ_INT(c->nodes[0].inputs[2], -1);
        kiln_graph_destroy(c);
    }
    /* the Add broadcasts: not a residual; the activation reads the Add, not the Conv */
    c = tp_check("Conv + broadcast Add + Relu: unchanged", build(HOST_CONV, 2, &ACTS[0], &nodes),
                 kiln_pass_fuse_conv_activation, KILN_FUSE_ALL, 3, 0);
    kiln_graph_destroy(c);
    /* MatMul + bias (+ Gelu) */
    c = tp_check("MatMul + bias Add", build(HOST_MATMUL, 1, NULL, &nodes),
                 kiln_pass_fuse_conv_activation, KILN_FUSE_ALL, 1, 1);
    check_attrs(c, NULL, 0, 1);
    kiln_graph_destroy(c);
    c = tp_check("MatMul + bias Add + Gelu", build(HOST_MATMUL, 1, &ACTS[7], &nodes),
                 kiln_pass_fuse_conv_activation, KILN_FUSE_ALL, 1, 1);
    check_attrs(c, "Gelu", 0, 1);
    kiln_graph_destroy(c);
    c = tp_check("MatMul + [5,1] Add + Relu: unchanged", build(HOST_MATMUL, 2, &ACTS[0], &nodes),
                 kiln_pass_fuse_conv_activation, KILN_FUSE_ALL, 3, 0);
    kiln_graph_destroy(c);
    /* Gemm without C + bias Add -> C, then the activation */
    c = tp_check("Gemm + bias Add + Tanh", build(HOST_GEMM, 1, &ACTS[5], &nodes),
                 kiln_pass_fuse_conv_activation, KILN_FUSE_ALL, 1, 1);
    EXPECT_EQ_INT(c->nodes[0].input_count, 3);
    check_attrs(c, "Tanh", 0, 0);
    kiln_graph_destroy(c);
    /* the portable subset: Gemm's C yes, the activation no */
    c = tp_check("Gemm + bias Add + Tanh, portable flags", build(HOST_GEMM, 1, &ACTS[5], &nodes),
                 kiln_pass_fuse_conv_activation, KILN_FUSE_PORTABLE, 2, 1);
    EXPECT(kiln_node_attr(&c->nodes[0], "_kiln_activation") == NULL);
    kiln_graph_destroy(c);
}

static void test_blocked(void) {
    int32_t nodes;
    kiln_graph *g, *c;
    /* the intermediate is a graph output */
    g = build(HOST_CONV, 0, &ACTS[0], &nodes);
    kiln_graph_add_output(g, kiln_graph_find_tensor(g, "conv_out"));
    c = tp_check("Conv + Relu, conv output is a graph output", g, kiln_pass_fuse_conv_activation,
                 KILN_FUSE_ALL, 2, 0);
    kiln_graph_destroy(c);
    /* the intermediate has a second reader */
    g = build(HOST_MATMUL, 1, &ACTS[4], &nodes);
    {
        int32_t t = kiln_graph_find_tensor(g, "add_out");
        int32_t e = tp_unary(g, "exp", KILN_OP_Exp, 13, t);
        int32_t s = tp_binary(g, "sum", KILN_OP_Add, e, kiln_graph_find_tensor(g, "act_out"));
        g->outputs[0] = s;
    }
    c = tp_check("MatMul + bias + Sigmoid, Add read twice", g, kiln_pass_fuse_conv_activation,
                 KILN_FUSE_ALL, 4, 1); /* the bias fuses; the Sigmoid cannot */
    EXPECT(kiln_node_attr(&c->nodes[0], "_kiln_activation") == NULL);
    kiln_graph_destroy(c);
    /* a per-layer precision override on the activation alone */
    g = build(HOST_CONV, 0, &ACTS[0], &nodes);
    kiln_node_set_int(g, 1, "_kiln_precision", KILN_DTYPE_FLOAT32);
    c = tp_check("Conv + Relu with its own _kiln_precision", g, kiln_pass_fuse_conv_activation,
                 KILN_FUSE_ALL, 2, 0);
    kiln_graph_destroy(c);
    /* flags off: nothing */
    c = tp_check("Conv + Add + Relu, flags 0", build(HOST_CONV, 1, &ACTS[0], &nodes),
                 kiln_pass_fuse_conv_activation, 0, 3, 0);
    kiln_graph_destroy(c);
    c = tp_check("Conv + Add + Relu, activation only", build(HOST_CONV, 1, &ACTS[0], &nodes),
                 kiln_pass_fuse_conv_activation, KILN_FUSE_CONV_ACTIVATION, 3, 0);
    kiln_graph_destroy(c);
    c = tp_check("Conv + Add + Relu, sum only", build(HOST_CONV, 1, &ACTS[0], &nodes),
                 kiln_pass_fuse_conv_activation, KILN_FUSE_CONV_SUM, 2, 1);
    kiln_graph_destroy(c);
}

/* ResNet's two-branch block: Add(conv_a, conv_b) + Relu, then a reader of the block. */
static void test_resnet_block(void) {
    kiln_graph *g = NULL;
    kiln_graph_create("t", &g);
    int64_t xd[4] = {1, 4, 6, 6}, wd[4] = {8, 4, 1, 1}, w3[4] = {8, 8, 3, 3}, bd[1] = {8};
    int32_t x = tp_input(g, "x", 4, xd);
    int32_t a = tp_value(g, "a"), a2 = tp_value(g, "a2"), b = tp_value(g, "b");
    int32_t n =
        tp_node(g, "conv_a", KILN_OP_Conv, 11, 3, 1, x, tp_const(g, "wa", 4, wd, NULL, -1, 1),
                tp_const(g, "ba", 1, bd, NULL, -1, 1), a);
    (void)n;
    int32_t ar = tp_unary(g, "relu_a", KILN_OP_Relu, 14, a);
    n = tp_node(g, "conv_a2", KILN_OP_Conv, 11, 3, 1, ar,
                tp_const(g, "wa2", 4, w3, NULL, -0.3f, 0.3f),
                tp_const(g, "ba2", 1, bd, NULL, -1, 1), a2);
    int64_t pads[4] = {1, 1, 1, 1};
    kiln_node_set_ints(g, n, "pads", pads, 4);
    tp_node(g, "conv_b", KILN_OP_Conv, 11, 3, 1, x, tp_const(g, "wb", 4, wd, NULL, -1, 1),
            tp_const(g, "bb", 1, bd, NULL, -1, 1), b);
    int32_t s = tp_binary(g, "add", KILN_OP_Add, a2, b);
    int32_t r = tp_unary(g, "relu", KILN_OP_Relu, 14, s);
    int32_t m = tp_unary(g, "pool", KILN_OP_GlobalAveragePool, 1, r);
    int32_t out = tp_binary(g, "out", KILN_OP_Mul, m, r);
    kiln_graph_add_output(g, out);
    /* conv_a + relu_a, conv_a2 + add(conv_b) + relu: 8 nodes -> 5 */
    kiln_graph *c = tp_check("ResNet block (conv+relu, conv+add+relu)", g,
                             kiln_pass_fuse_conv_activation, KILN_FUSE_ALL, 5, 2);
    kiln_graph_destroy(c);
}

int main(void) {
    test_activations();
    test_adds();
    test_blocked();
    test_resnet_block();
    TEST_MAIN_END();
}
