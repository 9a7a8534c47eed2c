/*
 * Channels-last activations (dnnl_common.h): a MobileNetV2-like stage whose 24 channels are
 * no multiple of AVX-512's block of 16 (conv 3x3 + relu6, expand 1x1, depthwise 3x3, project
 * 1x1 + residual add, max pool, 1x1, global average pool, fully connected) is built with the
 * layer API and run from its plan
 *
 *   - without oneDNN (the reference kernels): the baseline;
 *   - with oneDNN, layouts chosen by the build (channels-last where a block of 16 would leave
 *     a tensor plain, i.e. on AVX-512);
 *   - with oneDNN, channels-last forced (KILN_DNNL_LAYOUT=nhwc): the nodes must say so;
 *   - that plan with oneDNN switched off: the reference kernels convert;
 *
 * and every run must match the baseline within 1e-4 relative (oneDNN sums in another order).
 * Also: the channels-last conversions of kiln_nn_block / kiln_nn_unblock (block = C) against
 * their definition. Without oneDNN, all runs are the baseline.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backends/cpu/dnnl_common.h"
#include "kiln/kiln.h"
#include "runtime/engine.h"
#include "test_layer_util.h"

enum { N = 2, C_IN = 16, H = 10, W = 9, C = 24, E = 48, C2 = 32, CLASSES = 10 };
enum { IN_COUNT = N * C_IN * H * W, OUT_COUNT = N * CLASSES };

static float image[IN_COUNT];
static float w1[C * C_IN * 9], b1[C], we[E * C], be[E], wd[E * 9], bd[E], wp[C * E], bp[C];
static float w2[C2 * C], b2[C2], fc_w[CLASSES * C2], fc_b[CLASSES];

static uint32_t rng = 1357;
static void fill(float *v, int64_t n, float scale) {
    kiln_test_fill(v, n, scale, &rng);
}

static kiln_host_memory *build_plan(void) {
    kiln_builder *b = NULL;
    kiln_network *net = NULL;
    kiln_dims dims = {4, {N, C_IN, H, W}};
    kiln_tensor *x = kiln_test_begin(dims, &b, &net);
    kiln_layer *c1, *r1, *ce, *re, *cd, *rd, *cp, *add, *pool, *c2, *r2, *gap, *flat, *fc;
    OK(kiln_network_add_convolution(net, x, C, kiln_test_window(3, 1, 1), 1,
                                    kiln_test_weights(w1, C * C_IN * 9), kiln_test_weights(b1, C),
                                    &c1));
    OK(kiln_network_add_activation(net, kiln_test_out0(c1), KILN_ACTIVATION_CLIP, 0, 6, &r1));
    OK(kiln_network_add_convolution(net, kiln_test_out0(r1), E, kiln_test_window(1, 1, 0), 1,
                                    kiln_test_weights(we, E * C), kiln_test_weights(be, E), &ce));
    OK(kiln_network_add_activation(net, kiln_test_out0(ce), KILN_ACTIVATION_CLIP, 0, 6, &re));
    OK(kiln_network_add_convolution(net, kiln_test_out0(re), E, kiln_test_window(3, 1, 1), E,
                                    kiln_test_weights(wd, E * 9), kiln_test_weights(bd, E), &cd));
    OK(kiln_network_add_activation(net, kiln_test_out0(cd), KILN_ACTIVATION_CLIP, 0, 6, &rd));
    OK(kiln_network_add_convolution(net, kiln_test_out0(rd), C, kiln_test_window(1, 1, 0), 1,
                                    kiln_test_weights(wp, C * E), kiln_test_weights(bp, C), &cp));
    OK(kiln_network_add_elementwise(net, kiln_test_out0(cp), kiln_test_out0(r1),
                                    KILN_ELEMENTWISE_SUM, &add));
    OK(kiln_network_add_pooling(net, kiln_test_out0(add), KILN_POOLING_MAX,
                                kiln_test_window(3, 2, 1), &pool));
    OK(kiln_network_add_convolution(net, kiln_test_out0(pool), C2, kiln_test_window(1, 1, 0), 1,
                                    kiln_test_weights(w2, C2 * C), kiln_test_weights(b2, C2), &c2));
    OK(kiln_network_add_activation(net, kiln_test_out0(c2), KILN_ACTIVATION_RELU, 0, 0, &r2));
    kiln_window all = kiln_test_window(1, 1, 0);
    all.kernel[0] = (H + 1) / 2, all.kernel[1] = (W + 1) / 2;
    OK(kiln_network_add_pooling(net, kiln_test_out0(r2), KILN_POOLING_AVERAGE, all, &gap));
    kiln_dims two = {2, {0, -1}};
    OK(kiln_network_add_shuffle(net, kiln_test_out0(gap), NULL, &two, NULL, &flat));
    OK(kiln_network_add_fully_connected(net, kiln_test_out0(flat), CLASSES,
                                        kiln_test_weights(fc_w, CLASSES * C2),
                                        kiln_test_weights(fc_b, CLASSES), &fc));
    kiln_tensor *y = kiln_test_out0(fc);
    OK(kiln_tensor_set_name(y, "logits"));
    OK(kiln_network_mark_output(net, y));
    return kiln_test_finish_plan(b, net);
}

/* Nodes that read or write a channels-last tensor. */
static int count_nhwc(const kiln_engine *e) {
    int n = 0;
    for (int32_t i = 0; i < e->graph->node_count; i++) {
        const kiln_node *node = &e->graph->nodes[i];
        if (kiln_nn_in_block(node) == KILN_NN_NHWC || kiln_nn_out_block(node) == KILN_NN_NHWC ||
            kiln_nn_sum_block(node) == KILN_NN_NHWC)
            n++;
    }
    return n;
}

/* kiln_nn_block / kiln_nn_unblock with block = C (channels-last) against the definition,
 * float32 (tiled transpose) and int16 (element-wise). */
static void test_conversions(void) {
    enum { CN = 2, CC = 24, CH = 7, CW = 5, COUNT = CN * CC * CH * CW };
    static float plain[COUNT], last[COUNT], back[COUNT];
    static int16_t p16[COUNT], l16[COUNT];
    int64_t dims[4] = {CN, CC, CH, CW};
    for (int i = 0; i < COUNT; i++) plain[i] = (float)i, p16[i] = (int16_t)i;
    for (int threads = 1; threads <= 2; threads++) {
        kiln_nn_block(plain, last, sizeof(float), 4, dims, CC, threads);
        kiln_nn_block(p16, l16, sizeof(int16_t), 4, dims, CC, threads);
        int bad = 0;
        for (int n = 0; n < CN; n++)
            for (int c = 0; c < CC; c++)
                for (int s = 0; s < CH * CW; s++) {
                    int nchw = (n * CC + c) * CH * CW + s, nhwc = (n * CH * CW + s) * CC + c;
                    bad += last[nhwc] != plain[nchw] || l16[nhwc] != p16[nchw];
                }
        EXPECT_EQ_INT(bad, 0);
        kiln_nn_unblock(last, back, sizeof(float), 4, dims, CC, threads);
        EXPECT(!memcmp(back, plain, sizeof plain));
    }
}

int main(void) {
    test_conversions();
    fill(image, IN_COUNT, 1.0f);
    fill(w1, C * C_IN * 9, 0.3f);
    fill(b1, C, 0.1f);
    fill(we, E * C, 0.3f);
    fill(be, E, 0.1f);
    fill(wd, E * 9, 0.5f);
    fill(bd, E, 0.1f);
    fill(wp, C * E, 0.3f);
    fill(bp, C, 0.1f);
    fill(w2, C2 * C, 0.3f);
    fill(b2, C2, 0.1f);
    fill(fc_w, CLASSES * C2, 0.3f);
    fill(fc_b, CLASSES, 0.1f);
    kiln_runtime *rt = NULL;
    OK(kiln_runtime_create(NULL, &rt));
    float want[OUT_COUNT], got[OUT_COUNT];

    kiln_nn_use_dnnl(0);
    kiln_host_memory *plain_plan = build_plan();
    kiln_engine *plain = kiln_test_load(rt, plain_plan);
    EXPECT_EQ_INT(count_nhwc(plain), 0);
    EXPECT(kiln_test_run(plain, image, want, OUT_COUNT));

    kiln_nn_use_dnnl(1);
    kiln_host_memory *auto_plan = build_plan();
    kiln_engine *chosen = kiln_test_load(rt, auto_plan);
    printf("layouts chosen by the build: %d nodes channels-last\n", count_nhwc(chosen));
#ifdef KILN_HAVE_DNNL
    if (kiln_dnnl_preferred_block() == 16) EXPECT(count_nhwc(chosen) >= 4);
#endif
    EXPECT(kiln_test_run(chosen, image, got, OUT_COUNT));
    kiln_test_compare("oneDNN, layouts chosen by the build", got, want, OUT_COUNT, 1e-4);

    setenv("KILN_DNNL_LAYOUT", "nhwc", 1);
    kiln_host_memory *plan = build_plan();
    unsetenv("KILN_DNNL_LAYOUT");
    kiln_engine *e = kiln_test_load(rt, plan);
    printf("channels-last forced: %d nodes channels-last\n", count_nhwc(e));
    /* conv, expand, depthwise, project + sum, max pool, 1x1 (when the ISA has blocks) */
#ifdef KILN_HAVE_DNNL
    if (kiln_dnnl_preferred_block()) EXPECT(count_nhwc(e) >= 5);
#endif
    EXPECT(kiln_test_run(e, image, got, OUT_COUNT));
    kiln_test_compare("oneDNN, channels-last", got, want, OUT_COUNT, 1e-4);

    kiln_nn_use_dnnl(0);
    kiln_engine *ref = kiln_test_load(rt, plan);
    EXPECT(kiln_test_run(ref, image, got, OUT_COUNT));
    kiln_test_compare("channels-last plan, reference kernels", got, want, OUT_COUNT, 1e-4);
    kiln_nn_use_dnnl(1);

    kiln_engine_destroy(ref);
    kiln_engine_destroy(e);
    kiln_engine_destroy(chosen);
    kiln_engine_destroy(plain);
    kiln_host_memory_destroy(plan);
    kiln_host_memory_destroy(auto_plan);
    kiln_host_memory_destroy(plain_plan);
    kiln_runtime_destroy(rt);
    TEST_MAIN_END();
}
