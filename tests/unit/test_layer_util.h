/* Helpers of the unit tests that build small networks with the layer API and run them
 * through plans (test_dnnl_*.c): random weights, pooling windows, plan building, runs and
 * comparisons against a baseline. */
#ifndef KILN_TEST_LAYER_UTIL_H
#define KILN_TEST_LAYER_UTIL_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "kiln/kiln.h"
#include "test_util.h"

#define OK(call) EXPECT_EQ_INT((call), KILN_OK)

/* n values uniform in [-scale, scale) from the generator state *rng (each test file keeps
 * its own seed, so that its data does not depend on the others). */
static inline void kiln_test_fill(float *v, int64_t n, float scale, uint32_t *rng) {
    for (int64_t i = 0; i < n; i++) {
        *rng = *rng * 1664525u + 1013904223u;
        v[i] = ((float)((*rng >> 8) & 0xffff) / 32768.0f - 1.0f) * scale;
    }
}

static inline kiln_weights kiln_test_weights(const float *v, int64_t count) {
    kiln_weights w = {KILN_DTYPE_FLOAT32, v, count};
    return w;
}

/* A square 2-D window. */
static inline kiln_window kiln_test_window(int64_t k, int64_t stride, int64_t pad) {
    kiln_window w;
    memset(&w, 0, sizeof w);
    w.nb_spatial = 2;
    w.kernel[0] = w.kernel[1] = k;
    w.stride[0] = w.stride[1] = stride;
    w.pad_begin[0] = w.pad_begin[1] = w.pad_end[0] = w.pad_end[1] = pad;
    return w;
}

static inline kiln_tensor *kiln_test_out0(kiln_layer *l) {
    return kiln_layer_get_output(l, 0);
}

/* A builder and an explicit-batch network with a float32 input "image" of dims (what
 * kiln_test_finish_plan takes); the input, NULL (failures counted) when it cannot be made. */
static inline kiln_tensor *kiln_test_begin(kiln_dims dims, kiln_builder **b, kiln_network **net) {
    kiln_tensor *x = NULL;
    *b = NULL;
    *net = NULL;
    OK(kiln_builder_create(NULL, b));
    OK(kiln_builder_create_network(*b, KILN_NETWORK_EXPLICIT_BATCH, net));
    OK(kiln_network_add_input(*net, "image", KILN_DTYPE_FLOAT32, dims, &x));
    return x;
}

/* Builds net into a plan for 2 threads, then destroys the network and the builder. */
static inline kiln_host_memory *kiln_test_finish_plan(kiln_builder *b, kiln_network *net) {
    kiln_builder_config *cfg = NULL;
    kiln_host_memory *plan = NULL;
    OK(kiln_builder_create_config(b, &cfg));
    OK(kiln_builder_config_set_num_threads(cfg, 2));
    OK(kiln_builder_build_serialized_network(b, net, cfg, &plan));
    kiln_builder_config_destroy(cfg);
    kiln_network_destroy(net);
    kiln_builder_destroy(b);
    return plan;
}

static inline kiln_engine *kiln_test_load(kiln_runtime *rt, const kiln_host_memory *plan) {
    kiln_engine *e = NULL;
    OK(kiln_runtime_deserialize_engine(rt, kiln_host_memory_data(plan), kiln_host_memory_size(plan),
                                       &e));
    return e;
}

/* Runs e twice (the second run on the arena the first planned) on input "image", output
 * "logits" of count floats; 1 when both runs succeed. */
static inline int kiln_test_run(kiln_engine *e, float *image, float *y, int64_t count) {
    kiln_context *c = NULL;
    int ok = e && kiln_engine_create_execution_context(e, &c) == KILN_OK;
    for (int rep = 0; ok && rep < 2; rep++) {
        memset(y, 0, sizeof(float) * (size_t)count);
        ok = kiln_context_set_tensor_address(c, "image", image) == KILN_OK &&
             kiln_context_set_tensor_address(c, "logits", y) == KILN_OK &&
             kiln_context_execute(c) == KILN_OK;
        if (!ok) fprintf(stderr, "run: %s\n", kiln_last_error());
    }
    kiln_context_destroy(c);
    return ok;
}

/* Fails the test when some |got - want| / (1 + |want|) exceeds tol (NaN included). */
static inline void kiln_test_compare(const char *what, const float *got, const float *want,
                                     int64_t count, double tol) {
    double worst = 0;
    for (int64_t i = 0; i < count; i++) {
        double err = fabs((double)got[i] - want[i]) / (1.0 + fabs((double)want[i]));
        if (!(err <= worst)) worst = err;
    }
    printf("%s: error %.3g against the baseline\n", what, worst);
    if (!(worst <= tol)) {
        fprintf(stderr, "%s: error %.3g against the baseline\n", what, worst);
        kiln_test_failures++;
    }
}

#endif
