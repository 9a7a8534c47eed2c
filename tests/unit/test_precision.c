/*
 * The reduced-precision pass on a real model: the digits classifier built for the CPU, its
 * graph moved to float16 / bfloat16 by kiln_pass_reduce_precision and run by the CPU
 * executor, must give the float32 results within half precision's tolerance, keep float32
 * at its inputs and outputs, and actually compute in the half type inside.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "api/builder_internal.h"
#include "api/network_internal.h"
#include "backends/cpu/cpu_executor.h"
#include "passes/passes.h"
#include "runtime/build.h"
#include "test_util.h"

#ifndef KILN_SOURCE_DIR
#define KILN_SOURCE_DIR "."
#endif

static kiln_engine *build_digits(void) {
    kiln_builder *b = NULL;
    kiln_network *net = NULL;
    kiln_onnx_parser *p = NULL;
    kiln_builder_config *c = NULL;
    kiln_engine *e = NULL;
    kiln_builder_create(NULL, &b);
    kiln_builder_create_network(b, 0, &net);
    kiln_onnx_parser_create(net, NULL, &p);
    EXPECT_EQ_INT(kiln_onnx_parser_parse_from_file(p, KILN_SOURCE_DIR "/models/digits/digits.onnx"), KILN_OK);
    kiln_builder_create_config(b, &c);
    kiln_builder_config_set_max_batch_size(c, 8);
    EXPECT_EQ_INT(kiln_builder_build_engine(b, net, c, &e), KILN_OK);
    kiln_builder_config_destroy(c);
    kiln_onnx_parser_destroy(p);
    kiln_network_destroy(net);
    kiln_builder_destroy(b);
    return e;
}

/* Runs `g` on x [8,1,8,8] and copies the single float32 output [8,10] into y. */
static int run_graph(kiln_graph *g, const float *x, float *y) {
    kiln_engine tmp = {0};
    tmp.graph = g;
    if (kiln_engine_compute_liveness(&tmp) != KILN_OK) return 0;
    kiln_cpu_state s;
    int ok = kiln_cpu_state_init(&s, g, tmp.first_use, tmp.last_use, 1) == KILN_OK;
    if (ok) {
        kiln_tview *v = &s.values[g->inputs[0]];
        v->dtype = KILN_DTYPE_FLOAT32;
        v->rank = 4;
        int64_t dims[4] = {8, 1, 8, 8};
        memcpy(v->dims, dims, sizeof dims);
        v->data = (void *)x;
        ok = kiln_cpu_run(&s) == KILN_OK;
        if (!ok) fprintf(stderr, "run: %s\n", kiln_last_error());
        const kiln_tview *o = &s.values[g->outputs[0]];
        EXPECT_EQ_INT(o->dtype, KILN_DTYPE_FLOAT32);
        if (ok && o->dtype == KILN_DTYPE_FLOAT32) memcpy(y, o->data, sizeof(float) * 80);
        kiln_cpu_state_free(&s);
    }
    free(tmp.first_use);
    free(tmp.last_use);
    return ok;
}

static void check_half(kiln_engine *e, kiln_dtype half, double tolerance) {
    float x[8 * 64], ref[80], got[80];
    uint32_t r = 7;
    for (int i = 0; i < 8 * 64; i++) x[i] = (float)((r = r * 1664525u + 1013904223u) >> 8 & 0xffff) / 65536.0f;
    EXPECT(run_graph(e->graph, x, ref));
    kiln_graph *g = NULL;
    EXPECT_EQ_INT(kiln_graph_clone(e->graph, NULL, &g), KILN_OK);
    int32_t casts = 0;
    EXPECT_EQ_INT(kiln_pass_reduce_precision(g, half, &casts), KILN_OK);
    EXPECT(casts >= 2); /* at least one in, one out */
    /* Every float32 weight of the source graph is now half (weights a backend prepared in
     * its own layout are bytes, and stay as they are). */
    int was_float = 0, half_weights = 0, float_weights = 0;
    for (int32_t t = 0; t < e->graph->tensor_count; t++)
        was_float += e->graph->tensors[t].data && e->graph->tensors[t].dtype == KILN_DTYPE_FLOAT32;
    for (int32_t t = 0; t < g->tensor_count; t++) {
        if (!g->tensors[t].data) continue;
        half_weights += g->tensors[t].dtype == half;
        float_weights += g->tensors[t].dtype == KILN_DTYPE_FLOAT32;
    }
    EXPECT(was_float >= 2);
    EXPECT_EQ_INT(half_weights, was_float);
    EXPECT_EQ_INT(float_weights, 0);
    EXPECT_EQ_INT(g->tensors[g->inputs[0]].dtype, KILN_DTYPE_FLOAT32);
    EXPECT(run_graph(g, x, got));
    double worst = 0;
    for (int i = 0; i < 80; i++) worst = fmax(worst, fabs(got[i] - ref[i]));
    printf("%s: %d casts, max abs error %.3g against float32\n", kiln_dtype_name(half), casts, worst);
    EXPECT(worst < tolerance);
    EXPECT(worst > 0); /* it did compute in reduced precision */
    kiln_graph_destroy(g);
}

int main(void) {
    kiln_engine *e = build_digits();
    EXPECT(e != NULL);
    if (e) {
        check_half(e, KILN_DTYPE_FLOAT16, 1e-2);
        check_half(e, KILN_DTYPE_BFLOAT16, 5e-2);
    }
    kiln_engine_destroy(e);
    TEST_MAIN_END();
}
