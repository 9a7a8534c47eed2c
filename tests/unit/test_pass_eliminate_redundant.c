/*
 * kiln_pass_eliminate_redundant: Identity, inference Dropout, same-type Cast / CastLike and
 * identity Transposes disappear (graph outputs keep their names); Reshape / Flatten /
 * Squeeze / Unsqueeze chains become one Reshape; Transpose pairs cancel or merge. Results
 * must not change (within 1e-5). Values a subgraph reads by name are never renamed, a
 * Dropout in training mode or with its mask read stays, a graph input passed straight to an
 * output keeps its Identity.
 */
#include "test_pass_util.h"

static kiln_graph *new_graph(int32_t *x, int32_t rank, const int64_t *dims) {
    kiln_graph *g = NULL;
    kiln_graph_create("t", &g);
    *x = tp_input(g, "in", rank, dims);
    return g;
}

static void test_noops(void) {
    int64_t d3[3] = {2, 3, 4};
    int32_t x;
    kiln_graph *g, *c;
    /* Relu -> Identity -> Dropout(opset 13, no training input) -> Cast(float) -> Identity -> Relu
     */
    g = new_graph(&x, 3, d3);
    int32_t a = tp_unary(g, "relu", KILN_OP_Relu, 14, x);
    a = tp_unary(g, "id1", KILN_OP_Identity, 16, a);
    int32_t dr = tp_value(g, "drop");
    tp_node(g, "drop", KILN_OP_Dropout, 13, 2, 1, a, tp_scalar(g, "ratio", 0.3f), dr);
    int32_t cs = tp_value(g, "cast");
    int32_t n = tp_node(g, "cast", KILN_OP_Cast, 19, 1, 1, dr, cs);
    kiln_node_set_int(g, n, "to", KILN_DTYPE_FLOAT32);
    int32_t cl = tp_value(g, "castlike");
    tp_node(g, "castlike", KILN_OP_CastLike, 19, 2, 1, cs, x, cl);
    int32_t t = tp_value(g, "transpose_id");
    n = tp_node(g, "transpose_id", KILN_OP_Transpose, 13, 1, 1, cl, t);
    int64_t perm[3] = {0, 1, 2};
    kiln_node_set_ints(g, n, "perm", perm, 3);
    int32_t y = tp_unary(g, "id2", KILN_OP_Identity, 16, t);
    kiln_graph_add_output(g, tp_unary(g, "relu2", KILN_OP_Sigmoid, 13, y));
    c = tp_check("Identity, Dropout, Cast, CastLike, Transpose(0,1,2)", g,
                 kiln_pass_eliminate_redundant, KILN_FUSE_ALL, 2, 6);
    kiln_graph_destroy(c);

    /* the last Identity writes a graph output: its producer takes the name */
    g = new_graph(&x, 3, d3);
    a = tp_unary(g, "relu", KILN_OP_Relu, 14, x);
    y = tp_unary(g, "out", KILN_OP_Identity, 16, a);
    kiln_graph_add_output(g, y);
    c = tp_check("Relu -> Identity -> output", g, kiln_pass_eliminate_redundant, KILN_FUSE_ALL, 1,
                 1);
    EXPECT(!strcmp(c->tensors[c->outputs[0]].name, "out"));
    EXPECT_EQ_INT(c->tensors[c->outputs[0]].producer, 0);
    kiln_graph_destroy(c);

    /* input -> Identity -> output: stays */
    g = new_graph(&x, 3, d3);
    kiln_graph_add_output(g, tp_unary(g, "out", KILN_OP_Identity, 16, x));
    c = tp_check("input -> Identity -> output: kept", g, kiln_pass_eliminate_redundant,
                 KILN_FUSE_ALL, 1, 0);
    kiln_graph_destroy(c);

    /* Relu's output is an output too: the Identity after it stays */
    g = new_graph(&x, 3, d3);
    a = tp_unary(g, "relu", KILN_OP_Relu, 14, x);
    kiln_graph_add_output(g, tp_unary(g, "out", KILN_OP_Identity, 16, a));
    kiln_graph_add_output(g, a);
    c = tp_check("both ends graph outputs: kept", g, kiln_pass_eliminate_redundant, KILN_FUSE_ALL,
                 2, 0);
    kiln_graph_destroy(c);

    /* Dropout whose mask is read, Dropout in training mode with ratio 0 (removable) */
    g = new_graph(&x, 3, d3);
    a = tp_unary(g, "relu", KILN_OP_Relu, 14, x);
    int32_t m = tp_value(g, "mask"), o = tp_value(g, "drop");
    tp_node(g, "drop", KILN_OP_Dropout, 10, 1, 2, a, o, m);
    int32_t o2 = tp_value(g, "drop2");
    uint8_t yes = 1;
    int32_t train = -1;
    kiln_graph_add_tensor(g, "train", KILN_DTYPE_BOOL, 0, NULL, &train);
    kiln_graph_set_constant(g, train, &yes, 1);
    tp_node(g, "drop2", KILN_OP_Dropout, 13, 3, 1, o, tp_scalar(g, "zero", 0.0f), train, o2);
    int32_t mf = tp_value(g, "maskf");
    n = tp_node(g, "maskf", KILN_OP_Cast, 13, 1, 1, m, mf);
    kiln_node_set_int(g, n, "to", KILN_DTYPE_FLOAT32);
    kiln_graph_add_output(g, tp_binary(g, "sum", KILN_OP_Add, o2, mf));
    c = tp_check("Dropout with its mask read: kept; ratio 0 training: removed", g,
                 kiln_pass_eliminate_redundant, KILN_FUSE_ALL, 4, 1);
    kiln_graph_destroy(c);

    /* flags off */
    g = new_graph(&x, 3, d3);
    a = tp_unary(g, "relu", KILN_OP_Relu, 14, x);
    kiln_graph_add_output(
        g, tp_unary(g, "sig", KILN_OP_Sigmoid, 13, tp_unary(g, "id", KILN_OP_Identity, 16, a)));
    c = tp_check("Identity, flag off: kept", g, kiln_pass_eliminate_redundant,
                 KILN_FUSE_ALL & ~KILN_FUSE_ELIMINATE_IDENTITY, 3, 0);
    kiln_graph_destroy(c);
}

static void test_chains(void) {
    int64_t d3[3] = {2, 3, 4};
    int32_t x;
    kiln_graph *g, *c;
    /* Relu -> Flatten(1) -> Unsqueeze(0) -> Reshape(4, 6) -> Squeeze(?) -> Sigmoid */
    g = new_graph(&x, 3, d3);
    int32_t a = tp_unary(g, "relu", KILN_OP_Relu, 14, x);
    int32_t f = tp_unary(g, "flatten", KILN_OP_Flatten, 13, a); /* [2, 12] */
    int64_t ax0[1] = {0};
    int32_t u = tp_value(g, "unsq");
    tp_node(g, "unsq", KILN_OP_Unsqueeze, 13, 2, 1, f, tp_ints(g, "ax0", 1, ax0),
            u); /* [1, 2, 12] */
    int64_t shape[3] = {4, 1, 6};
    int32_t r = tp_value(g, "reshape");
    tp_node(g, "reshape", KILN_OP_Reshape, 14, 2, 1, u, tp_ints(g, "shape", 3, shape), r);
    int64_t ax1[1] = {1};
    int32_t s = tp_value(g, "squeeze");
    tp_node(g, "squeeze", KILN_OP_Squeeze, 13, 2, 1, r, tp_ints(g, "ax1", 1, ax1), s); /* [4, 6] */
    kiln_graph_add_output(g, tp_unary(g, "sig", KILN_OP_Sigmoid, 13, s));
    c = tp_check("Flatten -> Unsqueeze -> Reshape -> Squeeze: one Reshape", g,
                 kiln_pass_eliminate_redundant, KILN_FUSE_ALL, 3, 1);
    EXPECT_EQ_INT(c->nodes[1].op, KILN_OP_Reshape);
    EXPECT_EQ_INT(tp_fused_count(&c->nodes[1]), 4);
    kiln_graph_destroy(c);

    /* a Reshape to the same shape disappears */
    g = new_graph(&x, 3, d3);
    a = tp_unary(g, "relu", KILN_OP_Relu, 14, x);
    int32_t rr = tp_value(g, "reshape");
    tp_node(g, "reshape", KILN_OP_Reshape, 14, 2, 1, a, tp_ints(g, "shape", 3, d3), rr);
    kiln_graph_add_output(g, tp_unary(g, "sig", KILN_OP_Sigmoid, 13, rr));
    c = tp_check("Reshape to its own shape: removed", g, kiln_pass_eliminate_redundant,
                 KILN_FUSE_ALL, 2, 1);
    kiln_graph_destroy(c);

    /* Transposes that cancel; Transposes that merge */
    int64_t d4[4] = {2, 3, 4, 5};
    g = new_graph(&x, 4, d4);
    a = tp_unary(g, "relu", KILN_OP_Relu, 14, x);
    int64_t p1[4] = {0, 2, 1, 3}, p2[4] = {0, 2, 3, 1}, p3[4] = {0, 3, 1, 2};
    int32_t t1 = tp_value(g, "t1"), t2 = tp_value(g, "t2");
    int32_t n = tp_node(g, "t1", KILN_OP_Transpose, 13, 1, 1, a, t1);
    kiln_node_set_ints(g, n, "perm", p1, 4);
    n = tp_node(g, "t2", KILN_OP_Transpose, 13, 1, 1, t1, t2);
    kiln_node_set_ints(g, n, "perm", p1, 4);
    int32_t b = tp_unary(g, "sig", KILN_OP_Sigmoid, 13, t2);
    int32_t t3 = tp_value(g, "t3"), t4 = tp_value(g, "t4");
    n = tp_node(g, "t3", KILN_OP_Transpose, 13, 1, 1, b, t3);
    kiln_node_set_ints(g, n, "perm", p2, 4);
    n = tp_node(g, "t4", KILN_OP_Transpose, 13, 1, 1, t3, t4);
    kiln_node_set_ints(g, n, "perm", p2, 4); /* not the inverse (p3 is) */
    (void)p3;
    kiln_graph_add_output(g, tp_unary(g, "neg", KILN_OP_Neg, 13, t4));
    c = tp_check("Transpose pair cancelled, Transpose pair merged", g,
                 kiln_pass_eliminate_redundant, KILN_FUSE_ALL, 4, 2);
    kiln_graph_destroy(c);
}

/* An If whose branch reads the Identity's output by name: the Identity stays. */
static void test_subgraph_reads(void) {
    int64_t d1[1] = {4};
    int32_t x;
    kiln_graph *g = new_graph(&x, 1, d1);
    int32_t a = tp_unary(g, "relu", KILN_OP_Relu, 14, x);
    int32_t id = tp_unary(g, "id", KILN_OP_Identity, 16, a);
    int32_t cond = -1, y = tp_value(g, "if_out");
    uint8_t yes = 1;
    kiln_graph_add_tensor(g, "cond", KILN_DTYPE_BOOL, 0, NULL, &cond);
    kiln_graph_set_constant(g, cond, &yes, 1);
    int32_t n = tp_node(g, "if", KILN_OP_If, 16, 1, 1, cond, y);
    for (int branch = 0; branch < 2; branch++) {
        kiln_graph *sub = NULL;
        kiln_graph_create(branch ? "else" : "then", &sub);
        int32_t outer = -1, out = -1, node = -1;
        kiln_graph_add_tensor(sub, "id", KILN_DTYPE_FLOAT32, 1, d1, &outer);
        sub->tensors[outer].producer = -2;
        kiln_graph_add_tensor(sub, branch ? "else_out" : "then_out", KILN_DTYPE_FLOAT32, 1, d1,
                              &out);
        kiln_graph_add_node(sub, "neg", branch ? KILN_OP_Neg : KILN_OP_Abs, 13, &outer, 1, &out, 1,
                            &node);
        kiln_graph_add_output(sub, out);
        kiln_attr *attr = NULL;
        kiln_node_add_attr(g, n, branch ? "else_branch" : "then_branch", KILN_ATTR_GRAPH, &attr);
        attr->graph = sub;
    }
    kiln_graph_add_output(g, tp_binary(g, "sum", KILN_OP_Add, y, id));
    kiln_graph *c = tp_check("Identity read by name in an If branch: kept", g,
                             kiln_pass_eliminate_redundant, KILN_FUSE_ALL, 4, 0);
    kiln_graph_destroy(c);
}

int main(void) {
    test_noops();
    test_chains();
    test_subgraph_reads();
    TEST_MAIN_END();
}
