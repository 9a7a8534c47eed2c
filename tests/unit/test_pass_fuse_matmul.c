/*
 * The MatMul fusions of BERT-style attention and FFN blocks, each run by the CPU kernels
 * (oneDNN where built, then the reference kernels alone) on random non-zero data and
 * compared with the unfused graph within 1e-5 relative to 1 + |reference| (tp_check):
 *   - MatMul + bias Add + residual Add  -> `_kiln_sum_input` (kiln_pass_fuse_conv_activation)
 *   - MatMul + Div / Mul by a scalar    -> `_kiln_scale` (kiln_pass_fuse_matmul_scale)
 *   - Transposes around a MatMul        -> `_kiln_perm_a/b/y` (kiln_pass_fuse_matmul_transpose)
 *   - Add(scores, mask) + Softmax       -> `_kiln_add_input` (kiln_pass_fuse_softmax_add), with
 *     the vectorized Softmax and with the scalar level forced (the reference adds the mask)
 * plus what must stay unfused (a broadcasting Add, a non-scalar Div, a Transpose read twice,
 * a permutation that moves the contiguous axis out of the matrix dims) and the flags.
 */
#include "backends/cpu/dnnl_common.h"
#include "backends/cpu/nn_fast.h"
#include "test_pass_util.h"

/* x [2, 6, 8] @ W [8, 8] + b, + a residual r [2, 6, 8]. */
static kiln_graph *residual_graph(int with_bias, int broadcast_residual) {
    kiln_graph *g = NULL;
    kiln_graph_create("t", &g);
    int64_t xd[3] = {2, 6, 8}, wd[2] = {8, 8}, bd[1] = {8}, rd[3] = {2, 6, 8}, rb[3] = {1, 1, 8};
    int32_t x = tp_input(g, "x", 3, xd);
    int32_t r = broadcast_residual ? tp_const(g, "r", 3, rb, NULL, -1, 1) : tp_input(g, "r", 3, rd);
    int32_t w = tp_const(g, "w", 2, wd, NULL, -0.5f, 0.5f);
    int32_t y = tp_value(g, "mm_out");
    tp_node(g, "dense/MatMul", KILN_OP_MatMul, 13, 2, 1, x, w, y);
    if (with_bias) {
        int32_t b = tp_const(g, "bias", 1, bd, NULL, -1, 1);
        y = tp_binary(g, "dense/Add", KILN_OP_Add, b, y); /* bias first, as PyTorch writes */
    }
    int32_t s = tp_binary(g, "residual/Add", KILN_OP_Add, y, r);
    kiln_graph_add_output(g, s);
    return g;
}

static void test_residual(void) {
    kiln_graph *c = tp_check("MatMul + bias + residual Add", residual_graph(1, 0),
                             kiln_pass_fuse_conv_activation, KILN_FUSE_ALL, 1, 2);
    const kiln_node *n = &c->nodes[0];
    EXPECT_EQ_INT(kiln_attr_int(n, "_kiln_bias_input", -1), 2);
    EXPECT_EQ_INT(kiln_attr_int(n, "_kiln_sum_input", -1), 3);
    EXPECT_EQ_INT(n->input_count, 4);
    EXPECT_EQ_INT(tp_fused_count(n), 2);
    EXPECT(tp_fused_name(n, 1) && !strcmp(tp_fused_name(n, 1), "residual/Add"));
    kiln_graph_destroy(c);
    /* no bias: input 2 omitted */
    c = tp_check("MatMul + residual Add", residual_graph(0, 0), kiln_pass_fuse_conv_activation,
                 KILN_FUSE_ALL, 1, 1);
    EXPECT_EQ_INT(kiln_attr_int(&c->nodes[0], "_kiln_sum_input", -1), 3);
    EXPECT_EQ_INT(c->nodes[0].inputs[2], -1);
    kiln_graph_destroy(c);
    /* a residual that broadcasts is not a sum input (the bias still fuses) */
    c = tp_check("MatMul + bias + broadcast Add (kept)", residual_graph(1, 1),
                 kiln_pass_fuse_conv_activation, KILN_FUSE_ALL, 2, 1);
    kiln_graph_destroy(c);
    /* the flag switches it off */
    c = tp_check("MatMul + bias + residual Add (flag off)", residual_graph(1, 0),
                 kiln_pass_fuse_conv_activation, KILN_FUSE_ALL & ~KILN_FUSE_MATMUL_SUM, 2, 1);
    kiln_graph_destroy(c);
}

/* q [2, 3, 5, 4] @ k [2, 3, 4, 5], then Div / Mul by c (the scalar 3, or a [2, 1, 1, 5]
 * tensor when !scalar), then Add(mask). */
static kiln_graph *scale_graph(kiln_op op, int c_first, int scalar) {
    kiln_graph *g = NULL;
    kiln_graph_create("t", &g);
    int64_t qd[4] = {2, 3, 5, 4}, kd[4] = {2, 3, 4, 5}, md[4] = {2, 1, 1, 5};
    int32_t q = tp_input(g, "q", 4, qd), k = tp_input(g, "k", 4, kd);
    int32_t mask = tp_const(g, "mask", 4, md, NULL, -1, 0);
    int32_t y = tp_value(g, "scores");
    tp_node(g, "self/MatMul", KILN_OP_MatMul, 13, 2, 1, q, k, y);
    int32_t c = scalar ? tp_scalar(g, "c", 3.0f) : tp_const(g, "c", 4, md + 0, NULL, 1, 2);
    int32_t s = c_first ? tp_binary(g, "self/Div", op, c, y) : tp_binary(g, "self/Div", op, y, c);
    int32_t z = tp_binary(g, "self/Add", KILN_OP_Add, s, mask);
    kiln_graph_add_output(g, z);
    return g;
}

static void test_scale(void) {
    kiln_graph *c = tp_check("MatMul / 3 (attention scores)", scale_graph(KILN_OP_Div, 0, 1),
                             kiln_pass_fuse_matmul_scale, KILN_FUSE_ALL, 2, 1);
    const kiln_node *n = &c->nodes[0];
    EXPECT(n->op == KILN_OP_MatMul && kiln_attr_float(n, "_kiln_scale", 0) == (float)(1.0 / 3.0));
    EXPECT(tp_fused_name(n, 0) && !strcmp(tp_fused_name(n, 0), "self/Div"));
    kiln_graph_destroy(c);
    c = tp_check("MatMul * 3", scale_graph(KILN_OP_Mul, 0, 1), kiln_pass_fuse_matmul_scale,
                 KILN_FUSE_ALL, 2, 1);
    EXPECT(kiln_attr_float(&c->nodes[0], "_kiln_scale", 0) == 3.0f);
    kiln_graph_destroy(c);
    c = tp_check("3 * MatMul", scale_graph(KILN_OP_Mul, 1, 1), kiln_pass_fuse_matmul_scale,
                 KILN_FUSE_ALL, 2, 1);
    kiln_graph_destroy(c);
    /* kept: 2 / MatMul, a per-column divisor, the flag off */
    c = tp_check("3 / MatMul (kept)", scale_graph(KILN_OP_Div, 1, 1), kiln_pass_fuse_matmul_scale,
                 KILN_FUSE_ALL, 3, 0);
    kiln_graph_destroy(c);
    c = tp_check("MatMul / tensor (kept)", scale_graph(KILN_OP_Div, 0, 0),
                 kiln_pass_fuse_matmul_scale, KILN_FUSE_ALL, 3, 0);
    kiln_graph_destroy(c);
    c = tp_check("MatMul / 3 (flag off)", scale_graph(KILN_OP_Div, 0, 1),
                 kiln_pass_fuse_matmul_scale, KILN_FUSE_ALL & ~KILN_FUSE_MATMUL_SCALE, 3, 0);
    kiln_graph_destroy(c);
}

/* A Transpose node with perm; returns its output. */
static int32_t transpose(kiln_graph *g, const char *name, int32_t x, const int64_t *perm) {
    int32_t y = tp_value(g, name);
    int32_t n = tp_node(g, name, KILN_OP_Transpose, 13, 1, 1, x, y);
    kiln_node_set_ints(g, n, "perm", perm, 4);
    return y;
}

/* BERT's self-attention on [1, 6, 2 heads x 4]: q / k / v [1, 6, 2, 4] split into heads
 * by Transposes, scores = q kT / 2 (+ mask), context = softmax(scores) v merged back by
 * Transpose(0, 2, 1, 3). `share` makes k's Transpose read twice (not foldable). */
static kiln_graph *attention_graph(int share, const int64_t *k_perm) {
    kiln_graph *g = NULL;
    kiln_graph_create("t", &g);
    int64_t d[4] = {1, 6, 2, 4};
    static const int64_t heads[4] = {0, 2, 1, 3};
    int32_t q = tp_input(g, "q", 4, d), k = tp_input(g, "k", 4, d), v = tp_input(g, "v", 4, d);
    int32_t qt = transpose(g, "self/Transpose", q, heads);
    int32_t kt = transpose(g, "self/Transpose_1", k, k_perm);
    int32_t vt = transpose(g, "self/Transpose_2", v, heads);
    int32_t s = tp_value(g, "scores");
    tp_node(g, "self/MatMul", KILN_OP_MatMul, 13, 2, 1, qt, kt, s);
    int32_t sc = tp_binary(g, "self/Div", KILN_OP_Div, s, tp_scalar(g, "c", 2.0f));
    int32_t p = tp_unary(g, "self/Softmax", KILN_OP_Softmax, 13, sc);
    int32_t ctx = tp_value(g, "context");
    tp_node(g, "self/MatMul_1", KILN_OP_MatMul, 13, 2, 1, p, vt, ctx);
    int32_t out = transpose(g, "self/Transpose_3", ctx, heads);
    if (share) /* kt [1, 2, 4, 6] read again: an output of its own */
        kiln_graph_add_output(g, tp_unary(g, "kt_again", KILN_OP_Relu, 14, kt));
    kiln_graph_add_output(g, out);
    return g;
}

static void test_transpose(void) {
    static const int64_t kt[4] = {0, 2, 3, 1}, outer[4] = {3, 1, 2, 0}, heads[4] = {0, 2, 1, 3};
    /* 8 nodes: 4 Transposes folded (perm_a, perm_b of MatMul; perm_b, perm_y of MatMul_1) */
    kiln_graph *c = tp_check("attention Transposes into MatMul strides", attention_graph(0, kt),
                             kiln_pass_fuse_matmul_transpose, KILN_FUSE_ALL, 4, 4);
    int found = 0;
    for (int32_t i = 0; i < c->node_count; i++) {
        const kiln_node *n = &c->nodes[i];
        int32_t np = 0;
        const int64_t *p;
        if (n->op == KILN_OP_Transpose) EXPECT(0);
        if (n->op != KILN_OP_MatMul) continue;
        found++;
        if (!strcmp(n->name, "self/MatMul")) {
            p = kiln_attr_ints(n, "_kiln_perm_b", &np);
            EXPECT(p && np == 4 && !memcmp(p, kt, sizeof kt));
            EXPECT(kiln_attr_ints(n, "_kiln_perm_a", &np) && !kiln_node_attr(n, "_kiln_perm_y"));
        } else {
            p = kiln_attr_ints(n, "_kiln_perm_y", &np);
            EXPECT(p && np == 4 && !memcmp(p, heads, sizeof heads));
            EXPECT(!kiln_node_attr(n, "_kiln_perm_a") && kiln_node_attr(n, "_kiln_perm_b"));
        }
        EXPECT_EQ_INT(tp_fused_count(n), 2);
    }
    EXPECT_EQ_INT(found, 2);
    kiln_graph_destroy(c);
    /* with the scale folded first, as the build does (fuse_all.c's order) */
    {
        kiln_graph *g = attention_graph(0, kt);
        tp_infer(g);
        int32_t count = 0;
        kiln_fuse_options o = {KILN_FUSE_ALL, NULL, NULL, 0, NULL};
        EXPECT_EQ_INT(kiln_pass_fuse_matmul_scale(g, &o, &count), KILN_OK);
        EXPECT_EQ_INT(count, 1);
        c = tp_check("attention: scale, then Transposes", g, kiln_pass_fuse_matmul_transpose,
                     KILN_FUSE_ALL, 3, 4);
        kiln_graph_destroy(c);
    }
    /* kept: K's Transpose read twice; a reversal (contiguous axis leaves the matrix dims);
     * the flag off */
    c = tp_check("Transpose read twice (kept)", attention_graph(1, kt),
                 kiln_pass_fuse_matmul_transpose, KILN_FUSE_ALL, 6, 3);
    kiln_graph_destroy(c);
    {
        kiln_graph *g = NULL;
        kiln_graph_create("t", &g);
        int64_t d[4] = {2, 3, 5, 4}, wd[4] = {4, 3, 2, 6};
        int32_t x = tp_input(g, "x", 4, d), w = tp_input(g, "w", 4, wd);
        int32_t xt = transpose(g, "xt", x, outer); /* [4, 3, 5, 2]: x's rows become batch */
        int32_t y = tp_value(g, "y");
        tp_node(g, "mm", KILN_OP_MatMul, 13, 2, 1, xt, w, y);
        kiln_graph_add_output(g, y);
        c = tp_check("Transpose moving the contiguous axis out (kept)", g,
                     kiln_pass_fuse_matmul_transpose, KILN_FUSE_ALL, 2, 0);
        kiln_graph_destroy(c);
    }
    c = tp_check("attention Transposes (flag off)", attention_graph(0, kt),
                 kiln_pass_fuse_matmul_transpose, KILN_FUSE_ALL & ~KILN_FUSE_MATMUL_TRANSPOSE, 8,
                 0);
    kiln_graph_destroy(c);
}

/* scores [2, 3, 5, n] (+ mask md, of rank mr) -> Softmax (LogSoftmax when log); `mask_first`
 * writes Add(mask, scores); `keep` makes the Add's output a graph output too. */
static kiln_graph *softmax_mask_graph(int64_t n, int32_t mr, const int64_t *md, int mask_first,
                                      int keep, int log) {
    kiln_graph *g = NULL;
    kiln_graph_create("t", &g);
    int64_t sd[4] = {2, 3, 5, n};
    int32_t x = tp_input(g, "scores", 4, sd);
    int32_t m = tp_const(g, "mask", mr, md, NULL, -3, 0);
    int32_t a = mask_first ? tp_binary(g, "self/Add", KILN_OP_Add, m, x)
                           : tp_binary(g, "self/Add", KILN_OP_Add, x, m);
    int32_t y = tp_unary(g, "self/Softmax", log ? KILN_OP_LogSoftmax : KILN_OP_Softmax, 13, a);
    if (keep) kiln_graph_add_output(g, a);
    kiln_graph_add_output(g, y);
    return g;
}

static void test_softmax_mask(void) {
    /* BERT's [B, 1, 1, S] mask; a rank-1 row; a full [B, H, S, S] mask; row lengths that hit
     * the vector tails (7, 19) and a masked row of finfo.min-like values (-3 .. 0 here) */
    static const int64_t bert[4] = {2, 1, 1, 19}, row[1] = {7}, heads[4] = {1, 3, 1, 16};
    static const int64_t full[4] = {2, 3, 5, 16}, col[4] = {2, 1, 5, 1};
    /* the fast kernel (AVX-512 where the CPU has it, AVX2), then the reference path */
    static const int levels[3] = {KILN_ISA_AUTO, KILN_ISA_AVX2, KILN_ISA_SCALAR};
    static const char *const names[3] = {"auto", "avx2", "scalar"};
    for (int level = 0; level < 3; level++) {
        kiln_nn_fast_force_isa(levels[level]);
        printf("  (Softmax ISA level %s)\n", names[level]);
        kiln_graph *c =
            tp_check("Add([2,1,1,19] mask) + Softmax", softmax_mask_graph(19, 4, bert, 0, 0, 0),
                     kiln_pass_fuse_softmax_add, KILN_FUSE_ALL, 1, 1);
        const kiln_node *n = &c->nodes[0];
        EXPECT(n->op == KILN_OP_Softmax && kiln_attr_int(n, "_kiln_add_input", -1) == 1);
        EXPECT_EQ_INT(n->input_count, 2);
        EXPECT(tp_fused_name(n, 0) && !strcmp(tp_fused_name(n, 0), "self/Add"));
        kiln_graph_destroy(c);
        c = tp_check("Add(mask [7], scores) + Softmax", softmax_mask_graph(7, 1, row, 1, 0, 0),
                     kiln_pass_fuse_softmax_add, KILN_FUSE_ALL, 1, 1);
        kiln_graph_destroy(c);
        c = tp_check("Add([1,3,1,16] mask) + Softmax", softmax_mask_graph(16, 4, heads, 0, 0, 0),
                     kiln_pass_fuse_softmax_add, KILN_FUSE_ALL, 1, 1);
        kiln_graph_destroy(c);
        c = tp_check("Add(full mask) + Softmax", softmax_mask_graph(16, 4, full, 1, 0, 0),
                     kiln_pass_fuse_softmax_add, KILN_FUSE_ALL, 1, 1);
        kiln_graph_destroy(c);
        /* BERT's size: 2 x 3 x 5 x 4096 > KILN_NN_FAST_PAR_MIN, rows split over threads */
        {
            static const int64_t wide[4] = {2, 1, 1, 4096};
            c = tp_check("Add([2,1,1,4096] mask) + Softmax (threads)",
                         softmax_mask_graph(4096, 4, wide, 0, 0, 0), kiln_pass_fuse_softmax_add,
                         KILN_FUSE_ALL, 1, 1);
            kiln_graph_destroy(c);
        }
        /* a mask broadcast along the row: the fast kernel leaves it to the reference */
        c = tp_check("Add([2,1,5,1] mask) + Softmax", softmax_mask_graph(16, 4, col, 0, 0, 0),
                     kiln_pass_fuse_softmax_add, KILN_FUSE_ALL, 1, 1);
        kiln_graph_destroy(c);
        /* kept: the Add's output read elsewhere, LogSoftmax, the flag off */
        c = tp_check("Add read twice + Softmax (kept)", softmax_mask_graph(19, 4, bert, 0, 1, 0),
                     kiln_pass_fuse_softmax_add, KILN_FUSE_ALL, 2, 0);
        kiln_graph_destroy(c);
        c = tp_check("Add + LogSoftmax (kept)", softmax_mask_graph(19, 4, bert, 0, 0, 1),
                     kiln_pass_fuse_softmax_add, KILN_FUSE_ALL, 2, 0);
        kiln_graph_destroy(c);
        c = tp_check("Add + Softmax (flag off)", softmax_mask_graph(19, 4, bert, 0, 0, 0),
                     kiln_pass_fuse_softmax_add, KILN_FUSE_ALL & ~KILN_FUSE_SOFTMAX_ADD, 2, 0);
        kiln_graph_destroy(c);
    }
    kiln_nn_fast_force_isa(KILN_ISA_AUTO);
}

int main(void) {
    /* every case twice: oneDNN's kernels (where built), then the reference kernels alone */
    for (int pass = 0; pass < 1 + kiln_nn_have_dnnl(); pass++) {
        kiln_nn_use_dnnl(pass == 0 && kiln_nn_have_dnnl());
        printf("--- %s kernels\n", pass == 0 && kiln_nn_have_dnnl() ? "oneDNN" : "reference");
        test_residual();
        test_scale();
        test_transpose();
        test_softmax_mask();
    }
    TEST_MAIN_END();
}
