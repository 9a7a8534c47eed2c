/*
 * The fusion passes in the build: a small network (Conv, BatchNorm, Identity, residual Add,
 * Relu, pooling, Gemm) built into a CPU engine with and without the optimizer must give the
 * same results (within 1e-5), the optimized engine with fewer layers; the fused node's
 * `_kiln_fused` names survive the plan round trip (kiln inspect reads them from there).
 */
#include "api/builder_internal.h"
#include "runtime/build.h"
#include "test_pass_util.h"

static kiln_graph *network(void) {
    kiln_graph *g = NULL;
    kiln_graph_create("net", &g);
    int64_t xd[4] = {1, 4, 8, 8}, sd[4] = {1, 6, 8, 8}, wd[4] = {6, 4, 3, 3}, ch = 6;
    int64_t fd[2] = {10, 6};
    int32_t x = tp_input(g, "x", 4, xd), s = tp_input(g, "s", 4, sd);
    int32_t y = tp_value(g, "conv_out");
    int32_t n = tp_node(g, "conv", KILN_OP_Conv, 11, 2, 1, x,
                        tp_const(g, "w", 4, wd, NULL, -0.4f, 0.4f), y);
    int64_t pads[4] = {1, 1, 1, 1};
    kiln_node_set_ints(g, n, "pads", pads, 4);
    int32_t b = tp_value(g, "bn_out");
    tp_node(g, "bn", KILN_OP_BatchNormalization, 15, 5, 1, y,
            tp_const(g, "sc", 1, &ch, NULL, 0.5f, 1.5f), tp_const(g, "bi", 1, &ch, NULL, -1, 1),
            tp_const(g, "mu", 1, &ch, NULL, -1, 1), tp_const(g, "var", 1, &ch, NULL, 0.5f, 2), b);
    int32_t i = tp_unary(g, "id", KILN_OP_Identity, 16, b);
    int32_t a = tp_binary(g, "add", KILN_OP_Add, s, i);
    int32_t r = tp_unary(g, "relu", KILN_OP_Relu, 14, a);
    int32_t p = tp_unary(g, "pool", KILN_OP_GlobalAveragePool, 1, r);
    int32_t f = tp_unary(g, "flatten", KILN_OP_Flatten, 13, p);
    int32_t o = tp_value(g, "out");
    n = tp_node(g, "fc", KILN_OP_Gemm, 13, 2, 1, f, tp_const(g, "fw", 2, fd, NULL, -1, 1), o);
    kiln_node_set_int(g, n, "transB", 1);
    int32_t o2 = tp_binary(g, "fc_bias", KILN_OP_Add, o, tp_const(g, "fb", 1, &fd[0], NULL, -1, 1));
    kiln_graph_add_output(g, tp_unary(g, "prob", KILN_OP_Sigmoid, 13, o2));
    return g;
}

static kiln_engine *build(const kiln_graph *g, int optimize) {
    kiln_builder *b = NULL;
    kiln_builder_config *cfg = NULL;
    kiln_engine *e = NULL;
    EXPECT_EQ_INT(kiln_builder_create(NULL, &b), KILN_OK);
    EXPECT_EQ_INT(kiln_builder_create_config(b, &cfg), KILN_OK);
    if (!optimize) kiln_builder_config_set_flag(cfg, KILN_BUILDER_FLAG_NO_OPTIMIZE, 1);
    kiln_status st = kiln_build_engine_internal(NULL, g, cfg, &e);
    if (st != KILN_OK) fprintf(stderr, "build: %s\n", kiln_last_error());
    EXPECT_EQ_INT(st, KILN_OK);
    kiln_builder_config_destroy(cfg);
    kiln_builder_destroy(b);
    return e;
}

int main(void) {
    kiln_graph *g = network();
    tp_infer(g);
    EXPECT_EQ_INT(g->node_count, 10);
    kiln_engine *plain = build(g, 0), *fused = build(g, 1);
    kiln_graph_destroy(g);
    if (!plain || !fused) TEST_MAIN_END();
    /* conv+bn+add+relu, pool, flatten, fc+bias+sigmoid */
    printf("layers: %d without the optimizer, %d with\n", plain->graph->node_count,
           fused->graph->node_count);
    EXPECT_EQ_INT(plain->graph->node_count, 10);
    EXPECT_EQ_INT(fused->graph->node_count, 4);
    float *want = NULL, *got = NULL;
    int64_t n_want = 0, n_got = 0;
    EXPECT(tp_run(plain->graph, 7, &want, &n_want));
    EXPECT(tp_run(fused->graph, 7, &got, &n_got));
    EXPECT_EQ_INT(n_got, n_want);
    double worst = 0;
    for (int64_t k = 0; want && got && k < n_want && k < n_got; k++)
        worst = fmax(worst, fabs((double)got[k] - want[k]) / (1.0 + fabs((double)want[k])));
    printf("max error fused vs plain: %.3g\n", worst);
    EXPECT(worst <= 1e-5);
    free(want);
    free(got);

    /* the plan round trip keeps what was fused into the Conv */
    kiln_host_memory *mem = NULL;
    EXPECT_EQ_INT(kiln_engine_serialize(fused, &mem), KILN_OK);
    kiln_runtime *rt = NULL;
    kiln_engine *back = NULL;
    EXPECT_EQ_INT(kiln_runtime_create(NULL, &rt), KILN_OK);
    if (mem)
        EXPECT_EQ_INT(kiln_runtime_deserialize_engine(rt, kiln_host_memory_data(mem),
                                                      kiln_host_memory_size(mem), &back),
                      KILN_OK);
    if (back) {
        const kiln_node *conv = NULL;
        for (int32_t k = 0; k < back->graph->node_count; k++)
            if (back->graph->nodes[k].op == KILN_OP_Conv) conv = &back->graph->nodes[k];
        EXPECT(conv != NULL);
        if (conv) {
            EXPECT(!strcmp(conv->name, "conv"));
            EXPECT_EQ_INT(tp_fused_count(conv), 3);
            const char *names[3] = {"bn", "add", "relu"};
            for (int k = 0; k < 3; k++) {
                const char *s = tp_fused_name(conv, k);
                EXPECT(s && !strcmp(s, names[k]));
            }
            EXPECT(!strcmp(kiln_attr_string(conv, "_kiln_activation", ""), "Relu"));
            printf("plan round trip: conv fused with %s, %s, %s\n", tp_fused_name(conv, 0),
                   tp_fused_name(conv, 1), tp_fused_name(conv, 2));
        }
        kiln_engine_destroy(back);
    }
    kiln_runtime_destroy(rt);
    kiln_host_memory_destroy(mem);
    EXPECT_EQ_INT(kiln_fuse_default_flags(1), KILN_FUSE_ALL);
    EXPECT_EQ_INT(kiln_fuse_default_flags(0), KILN_FUSE_PORTABLE);
    kiln_engine_destroy(plain);
    kiln_engine_destroy(fused);
    TEST_MAIN_END();
}
