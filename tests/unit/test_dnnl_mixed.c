/*
 * Mixed activation layouts (dnnl_layout.c): a small MobileNetV2 — a stem conv on a plain
 * 3-channel image, a 32/16/48-channel part whose channels split into blocks of 16, a stage of
 * 24 channels (no multiple of 16) with an inverted-residual block, and a 64/32-channel part
 * after it, then max pool, global average pool and a fully connected layer — built with the
 * layer API and run from its plan:
 *
 *   - without oneDNN (the reference kernels): the baseline;
 *   - with oneDNN, each plan: as chosen by the build (on AVX-512: blocked around the
 *     24-channel stage, channels-last in it, so that some convolutions read one layout and
 *     write the other), forced blocked, forced channels-last, mixed with no gap filled
 *     (KILN_DNNL_NHWC_GAP=0: more boundaries, a residual sum in another layout than the
 *     convolution's output);
 *   - each plan again after a serialize / deserialize round trip, with oneDNN and without
 *     it (the reference kernels convert at every boundary);
 *
 * and every run must match the baseline within 1e-4 relative to 1 + |value| (oneDNN sums
 * in another order; the values are O(1)). Without oneDNN, all runs are the baseline.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backends/cpu/dnnl_common.h"
#include "kiln/kiln.h"
#include "runtime/engine.h"
#include "test_layer_util.h"

enum { N = 1, C_IN = 3, H = 16, W = 14, CLASSES = 10 };
enum { IN_COUNT = N * C_IN * H * W, OUT_COUNT = N * CLASSES };

static float image[IN_COUNT];
static uint32_t rng = 2468;

static void fill(float *v, int64_t n, float scale) {
    kiln_test_fill(v, n, scale, &rng);
}

/* Weights live until the network is built: a pool of random floats handed out in order. */
static float pool_data[1 << 16];
static int64_t pool_used;
static kiln_weights rand_weights(int64_t count, float scale) {
    kiln_weights w = {KILN_DTYPE_FLOAT32, NULL, count};
    if (pool_used + count > (int64_t)(sizeof pool_data / sizeof pool_data[0])) return w;
    w.values = pool_data + pool_used;
    fill(pool_data + pool_used, count, scale);
    pool_used += count;
    return w;
}

/* conv (k x k, stride, groups) + bias, then clip(0, 6) unless linear. */
static kiln_tensor *conv(kiln_network *net, kiln_tensor *x, int64_t cin, int64_t cout, int64_t k,
                         int64_t stride, int64_t groups, int linear) {
    kiln_layer *c = NULL, *a = NULL;
    int64_t wcount = cout * (cin / groups) * k * k;
    float scale = 1.7f / sqrtf((float)(cin / groups * k * k));
    OK(kiln_network_add_convolution(net, x, cout, kiln_test_window(k, stride, k / 2), groups,
                                    rand_weights(wcount, scale), rand_weights(cout, 0.1f), &c));
    if (linear || !c) return c ? kiln_test_out0(c) : NULL;
    OK(kiln_network_add_activation(net, kiln_test_out0(c), KILN_ACTIVATION_CLIP, 0, 6, &a));
    return a ? kiln_test_out0(a) : NULL;
}

/* MobileNetV2's inverted residual: expand 1x1, depthwise 3x3, project 1x1 (+ x). */
static kiln_tensor *block(kiln_network *net, kiln_tensor *x, int64_t cin, int64_t e, int64_t cout,
                          int64_t stride) {
    kiln_tensor *y = conv(net, x, cin, e, 1, 1, 1, 0);
    y = conv(net, y, e, e, 3, stride, e, 0);
    y = conv(net, y, e, cout, 1, 1, 1, 1);
    if (stride == 1 && cin == cout) {
        kiln_layer *add = NULL;
        OK(kiln_network_add_elementwise(net, y, x, KILN_ELEMENTWISE_SUM, &add));
        y = add ? kiln_test_out0(add) : NULL;
    }
    return y;
}

static kiln_host_memory *build_plan(void) {
    kiln_builder *b = NULL;
    kiln_network *net = NULL;
    pool_used = 0;
    rng = 2468;
    kiln_dims dims = {4, {N, C_IN, H, W}};
    kiln_tensor *x = kiln_test_begin(dims, &b, &net);
    x = conv(net, x, C_IN, 32, 3, 1, 1, 0); /* the stem: plain in, blocked out */
    x = conv(net, x, 32, 32, 3, 1, 32, 0);
    x = conv(net, x, 32, 16, 1, 1, 1, 1);
    x = block(net, x, 16, 48, 24, 1); /* into the 24-channel stage */
    x = block(net, x, 24, 48, 24, 1); /* residual, all 24/48 channels */
    x = block(net, x, 24, 64, 32, 2); /* out of it */
    x = block(net, x, 32, 64, 32, 1);
    kiln_layer *mp = NULL, *gap = NULL, *flat = NULL, *fc = NULL;
    OK(kiln_network_add_pooling(net, x, KILN_POOLING_MAX, kiln_test_window(3, 2, 1), &mp));
    kiln_window all = kiln_test_window(1, 1, 0);
    all.kernel[0] = 4, all.kernel[1] = 4;
    OK(kiln_network_add_pooling(net, kiln_test_out0(mp), KILN_POOLING_AVERAGE, all, &gap));
    kiln_dims two = {2, {0, -1}};
    OK(kiln_network_add_shuffle(net, kiln_test_out0(gap), NULL, &two, NULL, &flat));
    OK(kiln_network_add_fully_connected(net, kiln_test_out0(flat), CLASSES,
                                        rand_weights(CLASSES * 32, 0.3f),
                                        rand_weights(CLASSES, 0.1f), &fc));
    kiln_tensor *y = kiln_test_out0(fc);
    OK(kiln_tensor_set_name(y, "logits"));
    OK(kiln_network_mark_output(net, y));
    return kiln_test_finish_plan(b, net);
}

/* What a plan's nodes say: reading / writing 16-blocks, channels-last, and nodes whose
 * input 0 and output 0 are in different non-plain layouts (boundaries). */
typedef struct census {
    int blocked, nhwc, boundaries, stem_plain_to_blocked;
    int64_t gap_in; /* the global average pool's input layout */
} census;

static census count(const kiln_engine *e) {
    census c = {0, 0, 0, 0, 0};
    for (int32_t i = 0; i < e->graph->node_count; i++) {
        const kiln_node *node = &e->graph->nodes[i];
        int64_t ib = kiln_nn_in_block(node), ob = kiln_nn_out_block(node);
        int64_t sb = kiln_nn_sum_block(node);
        c.blocked += ib > 0 || ob > 0 || sb > 0;
        c.nhwc += ib == KILN_NN_NHWC || ob == KILN_NN_NHWC || sb == KILN_NN_NHWC;
        c.boundaries += ib && ob && ib != ob;
        if (i == 0 && node->op == KILN_OP_Conv && ib == 0 && ob > 0) c.stem_plain_to_blocked = 1;
        if (node->op == KILN_OP_GlobalAveragePool || node->op == KILN_OP_AveragePool) c.gap_in = ib;
    }
    return c;
}

/* Every node's layout attributes agree between two engines (a plan round trip). */
static int same_layouts(const kiln_engine *a, const kiln_engine *b) {
    if (a->graph->node_count != b->graph->node_count) return 0;
    for (int32_t i = 0; i < a->graph->node_count; i++) {
        const kiln_node *x = &a->graph->nodes[i], *y = &b->graph->nodes[i];
        if (kiln_nn_in_block(x) != kiln_nn_in_block(y) ||
            kiln_nn_out_block(x) != kiln_nn_out_block(y) ||
            kiln_nn_sum_block(x) != kiln_nn_sum_block(y))
            return 0;
    }
    return 1;
}

/* Builds with the layout environment given (NULL: unset), checks the plan against want
 * with oneDNN, after a round trip, and with the reference kernels; returns its census. */
static census check(kiln_runtime *rt, const char *what, const char *layout, const char *gap,
                    const float *want) {
    if (layout) setenv("KILN_DNNL_LAYOUT", layout, 1);
    if (gap) setenv("KILN_DNNL_NHWC_GAP", gap, 1);
    kiln_host_memory *plan = build_plan();
    unsetenv("KILN_DNNL_LAYOUT");
    unsetenv("KILN_DNNL_NHWC_GAP");
    float got[OUT_COUNT];
    char label[160];
    kiln_engine *e = kiln_test_load(rt, plan);
    census c = count(e);
    printf("%s: %d nodes blocked, %d channels-last, %d boundaries, final pool reads %lld\n", what,
           c.blocked, c.nhwc, c.boundaries, (long long)c.gap_in);
    snprintf(label, sizeof label, "%s, oneDNN", what);
    EXPECT(kiln_test_run(e, image, got, OUT_COUNT));
    kiln_test_compare(label, got, want, OUT_COUNT, 1e-4);
    /* round trip: serialize the loaded engine, load it again */
    kiln_host_memory *again = NULL;
    OK(kiln_engine_serialize(e, &again));
    kiln_engine *e2 = again ? kiln_test_load(rt, again) : NULL;
    EXPECT(e2 && same_layouts(e, e2));
    snprintf(label, sizeof label, "%s, round trip, oneDNN", what);
    EXPECT(kiln_test_run(e2, image, got, OUT_COUNT));
    kiln_test_compare(label, got, want, OUT_COUNT, 1e-4);
    kiln_nn_use_dnnl(0);
    kiln_engine *ref = kiln_test_load(rt, plan);
    snprintf(label, sizeof label, "%s, reference kernels", what);
    EXPECT(kiln_test_run(ref, image, got, OUT_COUNT));
    kiln_test_compare(label, got, want, OUT_COUNT, 1e-4);
    kiln_nn_use_dnnl(1);
    kiln_engine_destroy(ref);
    kiln_engine_destroy(e2);
    kiln_engine_destroy(e);
    kiln_host_memory_destroy(again);
    kiln_host_memory_destroy(plan);
    return c;
}

int main(void) {
    fill(image, IN_COUNT, 1.0f);
    kiln_runtime *rt = NULL;
    OK(kiln_runtime_create(NULL, &rt));
    float want[OUT_COUNT];

    kiln_nn_use_dnnl(0);
    kiln_host_memory *plain_plan = build_plan();
    kiln_engine *plain = kiln_test_load(rt, plain_plan);
    census c0 = count(plain);
    EXPECT_EQ_INT(c0.blocked + c0.nhwc, 0);
    EXPECT(kiln_test_run(plain, image, want, OUT_COUNT));
    kiln_nn_use_dnnl(1);

    census chosen = check(rt, "layouts chosen by the build", NULL, NULL, want);
    census blocked = check(rt, "blocked forced", "blocked", NULL, want);
    census nhwc = check(rt, "channels-last forced", "nhwc", NULL, want);
    census nogap = check(rt, "mixed, no gap filled", "mixed", "0", want);
    /* the block this CPU's oneDNN kernels use (KILN_HAVE_DNNL is the library's own) */
    if (kiln_nn_have_dnnl() && blocked.gap_in == 16) {
        /* blocked before and after the 24-channel stage, channels-last in it, and the stem
         * reads the plain image into blocks (oneDNN's "first convolution" kernel) */
        EXPECT(chosen.blocked >= 8 && chosen.nhwc >= 4 && chosen.boundaries >= 2);
        EXPECT(chosen.stem_plain_to_blocked);
        /* the last conv's output reaches the final pool blocked (not reordered to plain) */
        EXPECT_EQ_INT(chosen.gap_in, 16);
        EXPECT_EQ_INT(blocked.nhwc, 0);
        EXPECT_EQ_INT(nhwc.blocked, 0);
        EXPECT(nhwc.nhwc >= 10);
        EXPECT(nogap.boundaries > chosen.boundaries);
    }
    kiln_engine_destroy(plain);
    kiln_host_memory_destroy(plain_plan);
    kiln_runtime_destroy(rt);
    TEST_MAIN_END();
}
