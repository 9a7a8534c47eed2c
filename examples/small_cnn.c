/*
 * small_cnn: a network built with kiln's layer API, from weights to results.
 *
 *   image [1, 3, 16, 16]
 *     -> convolution 3x3, 8 channels, padding 1, with bias   [1, 8, 16, 16]
 *     -> relu
 *     -> max pooling 2x2, stride 2                            [1, 8, 8, 8]
 *     -> shuffle (flatten)                                    [1, 512]
 *     -> fully connected, 10 outputs, with bias               [1, 10]
 *     -> softmax                                              [1, 10]  "probabilities"
 *
 * The weights are deterministic pseudo-random numbers. The program builds a plan
 * (kiln_builder_build_serialized_network), drops the network and builder as a deployment
 * would, deserializes the plan with a runtime, runs it, and checks the probabilities
 * against the same network computed here with plain loops in double precision.
 *
 * Exit status: 0 when the largest absolute difference is at most 1e-5, 1 otherwise.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "kiln/kiln.h"

enum {
    C_IN = 3,
    H = 16,
    W = 16,
    C_OUT = 8,
    K = 3,
    PH = H / 2,
    PW = W / 2,
    FEATURES = C_OUT * PH * PW,
    CLASSES = 10
};

#define TOLERANCE 1e-5

/* Stops with kiln's message when a call fails. */
#define CHECK(call)                                                                                \
    do {                                                                                           \
        kiln_status check_status_ = (call);                                                        \
        if (check_status_ != KILN_OK) {                                                            \
            fprintf(stderr, "small_cnn: %s failed: %s: %s\n", #call,                               \
                    kiln_status_string(check_status_), kiln_last_error());                         \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

/* A fixed-seed generator (xorshift32), so every run sees the same numbers. */
static uint32_t rng_state = 0x2545F491u;

static float random_uniform(float lo, float hi) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return lo + (hi - lo) * (float)((rng_state >> 8) / 16777216.0);
}

static void fill(float *v, int n, float scale) {
    for (int i = 0; i < n; i++) v[i] = random_uniform(-scale, scale);
}

static float image[C_IN * H * W];
static float conv_w[C_OUT * C_IN * K * K], conv_b[C_OUT];
static float fc_w[CLASSES * FEATURES], fc_b[CLASSES];

/* ---------------------------------------------------------------- the network ------ */

static kiln_weights weights(const float *v, int64_t count) {
    kiln_weights w = {KILN_DTYPE_FLOAT32, v, count};
    return w;
}

static kiln_host_memory *build_plan(kiln_logger *logger) {
    kiln_builder *builder;
    kiln_network *network;
    CHECK(kiln_builder_create(logger, &builder));
    CHECK(kiln_builder_create_network(builder, KILN_NETWORK_EXPLICIT_BATCH, &network));

    kiln_tensor *x;
    kiln_dims image_dims = {4, {1, C_IN, H, W}};
    CHECK(kiln_network_add_input(network, "image", KILN_DTYPE_FLOAT32, image_dims, &x));

    kiln_window conv_window = {0};
    conv_window.nb_spatial = 2;
    conv_window.kernel[0] = conv_window.kernel[1] = K;
    conv_window.pad_begin[0] = conv_window.pad_begin[1] = 1;
    conv_window.pad_end[0] = conv_window.pad_end[1] = 1;
    kiln_layer *conv, *relu, *pool, *flatten, *fc, *softmax;
    CHECK(kiln_network_add_convolution(network, x, C_OUT, conv_window, 1,
                                       weights(conv_w, C_OUT * C_IN * K * K),
                                       weights(conv_b, C_OUT), &conv));
    CHECK(kiln_network_add_activation(network, kiln_layer_get_output(conv, 0), KILN_ACTIVATION_RELU,
                                      0.0f, 0.0f, &relu));

    kiln_window pool_window = {0};
    pool_window.nb_spatial = 2;
    pool_window.kernel[0] = pool_window.kernel[1] = 2;
    pool_window.stride[0] = pool_window.stride[1] = 2;
    CHECK(kiln_network_add_pooling(network, kiln_layer_get_output(relu, 0), KILN_POOLING_MAX,
                                   pool_window, &pool));

    /* Fully connected works on the last dimension: flatten C, H, W into it first. */
    kiln_dims flat = {2, {0, -1}};
    CHECK(kiln_network_add_shuffle(network, kiln_layer_get_output(pool, 0), NULL, &flat, NULL,
                                   &flatten));
    CHECK(kiln_network_add_fully_connected(network, kiln_layer_get_output(flatten, 0), CLASSES,
                                           weights(fc_w, CLASSES * FEATURES),
                                           weights(fc_b, CLASSES), &fc));
    CHECK(kiln_network_add_softmax(network, kiln_layer_get_output(fc, 0), 1, &softmax));

    kiln_tensor *probabilities = kiln_layer_get_output(softmax, 0);
    CHECK(kiln_tensor_set_name(probabilities, "probabilities"));
    CHECK(kiln_network_mark_output(network, probabilities));

    printf("network: %d layers\n", kiln_network_num_layers(network));
    for (int32_t i = 0; i < kiln_network_num_layers(network); i++) {
        const kiln_layer *layer = kiln_network_get_layer(network, i);
        kiln_dims d = kiln_tensor_get_dims(kiln_layer_get_output(layer, 0));
        printf("  %-12s ->", kiln_layer_get_name(layer));
        for (int32_t k = 0; k < d.nb_dims; k++) printf(" %lld", (long long)d.d[k]);
        printf("\n");
    }

    kiln_builder_config *config;
    kiln_host_memory *plan;
    CHECK(kiln_builder_create_config(builder, &config));
    CHECK(kiln_builder_build_serialized_network(builder, network, config, &plan));
    printf("plan: %zu bytes\n", kiln_host_memory_size(plan));
    /* The plan holds everything: the network, config and builder can go. */
    kiln_builder_config_destroy(config);
    kiln_network_destroy(network);
    kiln_builder_destroy(builder);
    return plan;
}

static void run_plan(kiln_logger *logger, const kiln_host_memory *plan, float *probabilities) {
    kiln_runtime *runtime;
    kiln_engine *engine;
    kiln_context *context;
    CHECK(kiln_runtime_create(logger, &runtime));
    CHECK(kiln_runtime_deserialize_engine(runtime, kiln_host_memory_data(plan),
                                          kiln_host_memory_size(plan), &engine));
    CHECK(kiln_engine_create_execution_context(engine, &context));
    CHECK(kiln_context_set_tensor_address(context, "image", image));
    CHECK(kiln_context_set_tensor_address(context, "probabilities", probabilities));
    CHECK(kiln_context_execute(context));
    kiln_context_destroy(context);
    kiln_engine_destroy(engine);
    kiln_runtime_destroy(runtime);
}

/* ---------------------------------------------------------------- the reference ---- */

/* The same network, written out plainly in double precision. */
static void reference(double *probabilities) {
    static double conv[C_OUT][H][W], pooled[C_OUT][PH][PW];
    for (int o = 0; o < C_OUT; o++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                double sum = conv_b[o];
                for (int c = 0; c < C_IN; c++)
                    for (int i = 0; i < K; i++)
                        for (int j = 0; j < K; j++) {
                            int iy = y + i - 1, ix = x + j - 1; /* padding 1 */
                            if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                            sum += (double)image[(c * H + iy) * W + ix] *
                                   conv_w[((o * C_IN + c) * K + i) * K + j];
                        }
                conv[o][y][x] = sum > 0.0 ? sum : 0.0; /* relu */
            }
    for (int o = 0; o < C_OUT; o++)
        for (int y = 0; y < PH; y++)
            for (int x = 0; x < PW; x++) {
                double m = conv[o][2 * y][2 * x];
                for (int i = 0; i < 2; i++)
                    for (int j = 0; j < 2; j++)
                        if (conv[o][2 * y + i][2 * x + j] > m) m = conv[o][2 * y + i][2 * x + j];
                pooled[o][y][x] = m;
            }
    double logits[CLASSES], max_logit = -INFINITY, total = 0.0;
    for (int k = 0; k < CLASSES; k++) {
        double sum = fc_b[k];
        for (int o = 0; o < C_OUT; o++) /* flattened in C, H, W order */
            for (int y = 0; y < PH; y++)
                for (int x = 0; x < PW; x++)
                    sum += pooled[o][y][x] * fc_w[k * FEATURES + (o * PH + y) * PW + x];
        logits[k] = sum;
        if (sum > max_logit) max_logit = sum;
    }
    for (int k = 0; k < CLASSES; k++) total += exp(logits[k] - max_logit);
    for (int k = 0; k < CLASSES; k++) probabilities[k] = exp(logits[k] - max_logit) / total;
}

int main(void) {
    fill(image, C_IN * H * W, 1.0f);
    fill(conv_w, C_OUT * C_IN * K * K, 0.5f);
    fill(conv_b, C_OUT, 0.1f);
    fill(fc_w, CLASSES * FEATURES, 0.1f);
    fill(fc_b, CLASSES, 0.1f);

    kiln_logger *logger;
    CHECK(kiln_logger_create(NULL, NULL, KILN_SEVERITY_WARNING, &logger));
    kiln_host_memory *plan = build_plan(logger);
    float got[CLASSES];
    run_plan(logger, plan, got);
    kiln_host_memory_destroy(plan);
    kiln_logger_destroy(logger);

    double want[CLASSES], max_error = 0.0;
    reference(want);
    int best = 0;
    printf("class  kiln        reference\n");
    for (int k = 0; k < CLASSES; k++) {
        double e = fabs((double)got[k] - want[k]);
        if (!(e <= max_error)) max_error = e; /* NaN counts as the largest */
        if (got[k] > got[best]) best = k;
        printf("%5d  %.8f  %.8f\n", k, (double)got[k], want[k]);
    }
    printf("predicted class %d; max abs error %.3g (tolerance %g)\n", best, max_error, TOLERANCE);
    if (!(max_error <= TOLERANCE)) {
        fprintf(stderr, "small_cnn: FAILED: the engine's output differs from the reference\n");
        return 1;
    }
    printf("OK\n");
    return 0;
}
