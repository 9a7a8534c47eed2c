/*
 * The CPU backend's build-time preparation for oneDNN, end to end through a plan: a small
 * residual CNN (conv + relu, conv + residual add + relu, max pool, depthwise conv, average
 * pool, fully connected) is built with the layer API and run from its plan
 *
 *   - without oneDNN (the reference kernels, nothing prepared): the baseline;
 *   - with oneDNN: weights reordered at build time (kernels named cpu.dnnl.*), activations
 *     kept channel-blocked between oneDNN nodes, plan written and read back;
 *   - the same plan with oneDNN switched off: the reference kernels decode the prepared
 *     weights and convert the blocked activations;
 *   - the same plan as if written by another oneDNN version: prepared weights are decoded;
 *   - two contexts of one engine running at once on two threads;
 *
 * and every run must match the baseline. Without oneDNN, all of them are the baseline.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "backends/cpu/dnnl_common.h"
#include "kiln/kiln.h"
#include "runtime/engine.h"
#include "test_layer_util.h"

enum { N = 2, C_IN = 16, H = 12, W = 12, C1 = 32, CLASSES = 10 };
enum { PH = 6, PW = 6, IN_COUNT = N * C_IN * H * W, OUT_COUNT = N * CLASSES };

static int64_t batch = N; /* images the network takes: N, or 1 (the first one) */

static float image[IN_COUNT];
static float w1[C1 * C_IN * 9], b1[C1], w2[C1 * C1], b2[C1], w3[C1 * 9], b3[C1];
static float fc_w[CLASSES * C1], fc_b[CLASSES];

static uint32_t rng = 2468;
static void fill(float *v, int64_t n, float scale) {
    kiln_test_fill(v, n, scale, &rng);
}

static kiln_host_memory *build_plan(void) {
    kiln_builder *b = NULL;
    kiln_network *net = NULL;
    kiln_dims dims = {4, {batch, C_IN, H, W}};
    kiln_tensor *x = kiln_test_begin(dims, &b, &net);
    kiln_layer *conv1, *relu1, *conv2, *add, *relu2, *pool, *dw, *relu3, *avg, *flat, *fc;
    OK(kiln_network_add_convolution(net, x, C1, kiln_test_window(3, 1, 1), 1,
                                    kiln_test_weights(w1, C1 * C_IN * 9), kiln_test_weights(b1, C1),
                                    &conv1));
    OK(kiln_network_add_activation(net, kiln_layer_get_output(conv1, 0), KILN_ACTIVATION_RELU, 0, 0,
                                   &relu1));
    OK(kiln_network_add_convolution(net, kiln_layer_get_output(relu1, 0), C1,
                                    kiln_test_window(1, 1, 0), 1, kiln_test_weights(w2, C1 * C1),
                                    kiln_test_weights(b2, C1), &conv2));
    OK(kiln_network_add_elementwise(net, kiln_layer_get_output(conv2, 0),
                                    kiln_layer_get_output(relu1, 0), KILN_ELEMENTWISE_SUM, &add));
    OK(kiln_network_add_activation(net, kiln_layer_get_output(add, 0), KILN_ACTIVATION_RELU, 0, 0,
                                   &relu2));
    OK(kiln_network_add_pooling(net, kiln_layer_get_output(relu2, 0), KILN_POOLING_MAX,
                                kiln_test_window(3, 2, 1), &pool));
    OK(kiln_network_add_convolution(net, kiln_layer_get_output(pool, 0), C1,
                                    kiln_test_window(3, 1, 1), C1, kiln_test_weights(w3, C1 * 9),
                                    kiln_test_weights(b3, C1), &dw));
    OK(kiln_network_add_activation(net, kiln_layer_get_output(dw, 0), KILN_ACTIVATION_RELU, 0, 0,
                                   &relu3));
    OK(kiln_network_add_pooling(net, kiln_layer_get_output(relu3, 0), KILN_POOLING_AVERAGE,
                                kiln_test_window(PH, 1, 0), &avg));
    kiln_dims two = {2, {0, -1}};
    OK(kiln_network_add_shuffle(net, kiln_layer_get_output(avg, 0), NULL, &two, NULL, &flat));
    OK(kiln_network_add_fully_connected(net, kiln_layer_get_output(flat, 0), CLASSES,
                                        kiln_test_weights(fc_w, CLASSES * C1),
                                        kiln_test_weights(fc_b, CLASSES), &fc));
    kiln_tensor *y = kiln_layer_get_output(fc, 0);
    OK(kiln_tensor_set_name(y, "logits"));
    OK(kiln_network_mark_output(net, y));
    return kiln_test_finish_plan(b, net);
}

static void compare(const char *what, const float *got, const float *want) {
    double worst = 0;
    for (int i = 0; i < batch * CLASSES; i++) {
        double err = fabs((double)got[i] - want[i]) / (1.0 + fabs((double)want[i]));
        if (!(err <= worst)) worst = err;
    }
    if (!(worst <= 1e-5)) {
        fprintf(stderr, "%s, batch %lld: error %.3g against the baseline\n", what, (long long)batch,
                worst);
        kiln_test_failures++;
    }
}

/* What the build prepared: layers on oneDNN (kernels named cpu.dnnl.*), nodes with
 * prepared weights, nodes writing blocked activations. */
static void count_prepared(const kiln_engine *e, int *dnnl_kernels, int *prepared, int *blocked) {
    *dnnl_kernels = *prepared = *blocked = 0;
    for (int32_t i = 0; i < kiln_engine_num_layers(e); i++)
        if (!strncmp(kiln_engine_get_layer_kernel(e, i), "cpu.dnnl.", 9)) (*dnnl_kernels)++;
    for (int32_t i = 0; i < e->graph->node_count; i++) {
        if (kiln_nn_out_block(&e->graph->nodes[i])) (*blocked)++;
        if (kiln_node_attr(&e->graph->nodes[i], "_kiln_wshape")) (*prepared)++;
    }
}

typedef struct thread_job {
    kiln_engine *e;
    float y[OUT_COUNT];
    int ok;
} thread_job;

static void *thread_main(void *p) {
    thread_job *j = p;
    j->ok = 1;
    for (int i = 0; i < 5 && j->ok; i++) j->ok = kiln_test_run(j->e, image, j->y, OUT_COUNT);
    return NULL;
}

static void scenario(kiln_runtime *rt);

int main(void) {
    /* every layer, however small, cut into slices or run on all threads: all paths run */
    setenv("KILN_DNNL_SPLIT_MIN_FLOPS", "0", 1);
    setenv("KILN_DNNL_FLOPS_PER_THREAD", "1", 1);
    setenv("KILN_DNNL_THREADING", "pool", 1);
    fill(image, IN_COUNT, 1.0f);
    fill(w1, C1 * C_IN * 9, 0.3f);
    fill(b1, C1, 0.1f);
    fill(w2, C1 * C1, 0.3f);
    fill(b2, C1, 0.1f);
    fill(w3, C1 * 9, 0.5f);
    fill(b3, C1, 0.1f);
    fill(fc_w, CLASSES * C1, 0.3f);
    fill(fc_b, CLASSES, 0.1f);
    kiln_runtime *rt = NULL;
    OK(kiln_runtime_create(NULL, &rt));
    for (batch = N; batch >= 1; batch--) scenario(rt);
    kiln_runtime_destroy(rt);
    TEST_MAIN_END();
}

/* Builds and runs the network every way at the current batch size. */
static void scenario(kiln_runtime *rt) {
    float want[OUT_COUNT], got[OUT_COUNT];

    kiln_nn_use_dnnl(0);
    kiln_host_memory *plain_plan = build_plan();
    kiln_engine *plain = kiln_test_load(rt, plain_plan);
    int kernels = 0, prepared = 0, blocked = 0;
    count_prepared(plain, &kernels, &prepared, &blocked);
    EXPECT_EQ_INT(kernels, 0);
    EXPECT_EQ_INT(prepared, 0);
    EXPECT_EQ_INT(blocked, 0);
    EXPECT(kiln_test_run(plain, image, want, OUT_COUNT));

    kiln_nn_use_dnnl(1);
    kiln_host_memory *plan = build_plan();
    kiln_engine *e = kiln_test_load(rt, plan);
    count_prepared(e, &kernels, &prepared, &blocked);
    printf("batch %lld with oneDNN: %d layers on oneDNN, %d with prepared weights, %d writing "
           "blocked activations\n",
           (long long)batch, kernels, prepared, blocked);
    if (kiln_nn_have_dnnl()) {
        EXPECT_EQ_INT(kernels, 6); /* convolutions, pools, fully connected */
        /* the convolutions and the fully connected layer, but for a Winograd convolution,
         * whose weights are reordered when a context first runs it */
        EXPECT(prepared >= 3);
        EXPECT(blocked >= 3); /* conv, conv + sum, max pool, depthwise conv */
    }
    EXPECT(kiln_test_run(e, image, got, OUT_COUNT));
    compare("oneDNN, prepared", got, want);

    /* two contexts of one engine at once */
    thread_job jobs[2] = {{e, {0}, 0}, {e, {0}, 0}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, thread_main, &jobs[i]);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < 2; i++) {
        EXPECT(jobs[i].ok);
        compare("oneDNN, concurrent contexts", jobs[i].y, want);
    }

    kiln_nn_use_dnnl(0);
    kiln_engine *decoded = kiln_test_load(rt, plan);
    EXPECT(kiln_test_run(decoded, image, got, OUT_COUNT));
    compare("prepared plan, reference kernels", got, want);
    kiln_nn_use_dnnl(1);

    /* another oneDNN wrote it: the stored descriptors cannot be trusted */
    kiln_engine *other = kiln_test_load(rt, plan);
    for (int32_t i = 0; i < other->graph->node_count; i++) {
        kiln_node *n = &other->graph->nodes[i];
        for (int32_t a = 0; a < n->attr_count; a++)
            if (!strcmp(n->attrs[a].name, "_kiln_dnnl_version")) n->attrs[a].i = 1;
    }
    EXPECT(kiln_test_run(other, image, got, OUT_COUNT));
    compare("prepared plan, other oneDNN version", got, want);

    kiln_engine_destroy(other);
    kiln_engine_destroy(decoded);
    kiln_engine_destroy(e);
    kiln_engine_destroy(plain);
    kiln_host_memory_destroy(plan);
    kiln_host_memory_destroy(plain_plan);
}
