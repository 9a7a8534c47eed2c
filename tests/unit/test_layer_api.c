/*
 * The layer API end to end: every kiln_network_add_* builds a tiny network that is built
 * into a CPU engine, serialized, deserialized and run; its output is compared with a direct
 * computation here, in double precision, on random non-zero data from a fixed seed.
 * Tolerance: |got - ref| <= 1e-5 * (1 + |ref|).
 * Then the argument checks: each bad call fails with KILN_ERR_INVALID_ARGUMENT, a message
 * naming the layer, and leaves the network unchanged.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln/kiln.h"
#include "test_layer_util.h"
#include "test_util.h"

#define TOL 1e-5

static kiln_builder *g_builder;
static kiln_runtime *g_runtime;

/* ---------------------------------------------------------------- helpers ---------- */

static uint32_t g_rng = 20240611u;

/* Uniform in [lo, hi], never within 0.05 of zero (so products and quotients stay honest). */
static float rnd(float lo, float hi) {
    for (;;) {
        g_rng = g_rng * 1664525u + 1013904223u;
        float v = lo + (hi - lo) * (float)((g_rng >> 8) / 16777216.0);
        if (fabsf(v) >= 0.05f) return v;
    }
}

static float *rnd_array(int64_t n, float lo, float hi) {
    float *a = malloc(sizeof(float) * (size_t)(n ? n : 1));
    for (int64_t i = 0; i < n; i++) a[i] = rnd(lo, hi);
    return a;
}

static kiln_dims dims_of(int32_t n, const int64_t *d) {
    kiln_dims r;
    memset(&r, 0, sizeof r);
    r.nb_dims = n;
    for (int32_t i = 0; i < n; i++) r.d[i] = d[i];
    return r;
}
#define DIMS(...)                                                                                  \
    dims_of((int32_t)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (int64_t[]){__VA_ARGS__})

static int64_t count_of(kiln_dims d) {
    int64_t n = 1;
    for (int32_t i = 0; i < d.nb_dims; i++) n *= d.d[i];
    return n;
}

static kiln_weights fw(const float *v, int64_t n) {
    kiln_weights w = {KILN_DTYPE_FLOAT32, v, n};
    return w;
}

static const kiln_weights no_weights = {KILN_DTYPE_FLOAT32, NULL, 0};

static kiln_network *new_net(void) {
    kiln_network *n = NULL;
    if (kiln_builder_create_network(g_builder, KILN_NETWORK_EXPLICIT_BATCH, &n) != KILN_OK) {
        fprintf(stderr, "cannot create a network: %s\n", kiln_last_error());
        exit(1);
    }
    return n;
}

static kiln_tensor *input(kiln_network *net, const char *name, kiln_dtype dt, kiln_dims d) {
    kiln_tensor *t = NULL;
    kiln_status st = kiln_network_add_input(net, name, dt, d, &t);
    if (st != KILN_OK) fprintf(stderr, "add_input %s: %s\n", name, kiln_last_error());
    EXPECT_EQ_INT(st, KILN_OK);
    return t;
}

/* The output of a layer just added, after checking the call worked. */
static kiln_tensor *out_of(kiln_status st, kiln_layer *layer, const char *what) {
    if (st != KILN_OK) {
        fprintf(stderr, "%s: %s: %s\n", what, kiln_status_string(st), kiln_last_error());
        kiln_test_failures++;
        return NULL;
    }
    return kiln_layer_get_output(layer, 0);
}

/* Marks `result` the output, builds a plan, deserializes and runs it with the inputs
 * bound in network input order, and leaves the output (of shape `expect`) in `got`. */
static int run(kiln_network *net, kiln_tensor *result, const void *const *inputs, kiln_dims expect,
               void *got, const char *what) {
    if (!result) return -1;
    kiln_host_memory *plan = NULL;
    kiln_builder_config *cfg = NULL;
    kiln_engine *engine = NULL;
    kiln_context *ctx = NULL;
    kiln_status st = kiln_network_mark_output(net, result);
    if (st == KILN_OK) st = kiln_builder_create_config(g_builder, &cfg);
    if (st == KILN_OK) st = kiln_builder_build_serialized_network(g_builder, net, cfg, &plan);
    if (st == KILN_OK)
        st = kiln_runtime_deserialize_engine(g_runtime, kiln_host_memory_data(plan),
                                             kiln_host_memory_size(plan), &engine);
    if (st == KILN_OK) st = kiln_engine_create_execution_context(engine, &ctx);
    for (int32_t i = 0; st == KILN_OK && i < kiln_network_num_inputs(net); i++)
        st = kiln_context_set_tensor_address(
            ctx, kiln_tensor_get_name(kiln_network_get_input(net, i)), (void *)inputs[i]);
    const char *name = kiln_tensor_get_name(result);
    if (st == KILN_OK) st = kiln_context_set_tensor_address(ctx, name, got);
    if (st == KILN_OK) st = kiln_context_execute(ctx);
    kiln_dims shape;
    memset(&shape, 0, sizeof shape);
    if (st == KILN_OK) st = kiln_context_get_tensor_shape(ctx, name, &shape);
    int rc = 0;
    if (st != KILN_OK) {
        fprintf(stderr, "%s: %s: %s\n", what, kiln_status_string(st), kiln_last_error());
        kiln_test_failures++;
        rc = -1;
    } else if (shape.nb_dims != expect.nb_dims ||
               memcmp(shape.d, expect.d, sizeof(int64_t) * (size_t)expect.nb_dims)) {
        fprintf(stderr,
                "%s: output has rank %d (first dims %lld %lld), expected rank %d (%lld %lld)\n",
                what, shape.nb_dims, (long long)shape.d[0], (long long)shape.d[1], expect.nb_dims,
                (long long)expect.d[0], (long long)expect.d[1]);
        kiln_test_failures++;
        rc = -1;
    }
    kiln_context_destroy(ctx);
    kiln_engine_destroy(engine);
    kiln_host_memory_destroy(plan);
    kiln_builder_config_destroy(cfg);
    return rc;
}

static void check_close(const char *what, const float *got, const double *ref, int64_t n) {
    double max_err = 0.0;
    int64_t bad = -1;
    for (int64_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - ref[i]);
        if (!(e <= TOL * (1.0 + fabs(ref[i]))) && bad < 0) bad = i;
        if (e > max_err || e != e) max_err = e;
    }
    if (bad >= 0) {
        fprintf(stderr, "%s: element %lld is %.9g, expected %.9g (max abs error %.3g)\n", what,
                (long long)bad, (double)got[bad], ref[bad], max_err);
        kiln_test_failures++;
    }
}

/* Builds and runs `net`, then compares its float output with ref. */
static void run_and_check(kiln_network *net, kiln_tensor *result, const void *const *inputs,
                          kiln_dims expect, const double *ref, const char *what) {
    int64_t n = count_of(expect);
    float *got = calloc((size_t)(n ? n : 1), sizeof *got);
    if (run(net, result, inputs, expect, got, what) == 0) check_close(what, got, ref, n);
    free(got);
    kiln_network_destroy(net);
}

/* ---------------------------------------------------------------- convolution ------ */

typedef struct conv_case {
    int64_t n, c, h, w, m, groups, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw;
    int bias;
} conv_case;

static void test_convolution_case(const conv_case *k) {
    int64_t cg = k->c / k->groups, mg = k->m / k->groups;
    int64_t oh = (k->h + k->pt + k->pb - k->dh * (k->kh - 1) - 1) / k->sh + 1;
    int64_t ow = (k->w + k->pl + k->pr - k->dw * (k->kw - 1) - 1) / k->sw + 1;
    float *x = rnd_array(k->n * k->c * k->h * k->w, -1, 1);
    float *w = rnd_array(k->m * cg * k->kh * k->kw, -1, 1);
    float *b = rnd_array(k->m, -1, 1);
    double *ref = calloc((size_t)(k->n * k->m * oh * ow), sizeof *ref);
    for (int64_t n = 0; n < k->n; n++)
        for (int64_t m = 0; m < k->m; m++)
            for (int64_t y = 0; y < oh; y++)
                for (int64_t z = 0; z < ow; z++) {
                    double s = k->bias ? b[m] : 0.0;
                    int64_t g = m / mg;
                    for (int64_t ci = 0; ci < cg; ci++)
                        for (int64_t i = 0; i < k->kh; i++)
                            for (int64_t j = 0; j < k->kw; j++) {
                                int64_t iy = y * k->sh - k->pt + i * k->dh;
                                int64_t iz = z * k->sw - k->pl + j * k->dw;
                                if (iy < 0 || iy >= k->h || iz < 0 || iz >= k->w) continue;
                                s += (double)x[((n * k->c + g * cg + ci) * k->h + iy) * k->w + iz] *
                                     w[((m * cg + ci) * k->kh + i) * k->kw + j];
                            }
                    ref[((n * k->m + m) * oh + y) * ow + z] = s;
                }
    kiln_network *net = new_net();
    kiln_tensor *in = input(net, "x", KILN_DTYPE_FLOAT32, DIMS(k->n, k->c, k->h, k->w));
    kiln_window win;
    memset(&win, 0, sizeof win);
    win.nb_spatial = 2;
    win.kernel[0] = k->kh, win.kernel[1] = k->kw;
    win.stride[0] = k->sh, win.stride[1] = k->sw;
    win.pad_begin[0] = k->pt, win.pad_begin[1] = k->pl;
    win.pad_end[0] = k->pb, win.pad_end[1] = k->pr;
    win.dilation[0] = k->dh, win.dilation[1] = k->dw;
    kiln_layer *layer = NULL;
    kiln_status st = kiln_network_add_convolution(net, in, k->m, win, k->groups,
                                                  fw(w, k->m * cg * k->kh * k->kw),
                                                  k->bias ? fw(b, k->m) : no_weights, &layer);
    kiln_tensor *y = out_of(st, layer, "add_convolution");
    if (y) {
        /* Shapes are known as soon as the layer exists. */
        kiln_dims d = kiln_tensor_get_dims(y);
        EXPECT_EQ_INT(d.nb_dims, 4);
        EXPECT_EQ_INT(d.d[2], oh);
        EXPECT_EQ_INT(d.d[3], ow);
        EXPECT_EQ_INT(kiln_tensor_get_dtype(y), KILN_DTYPE_FLOAT32);
    }
    const void *ins[] = {x};
    run_and_check(net, y, ins, DIMS(k->n, k->m, oh, ow), ref, "convolution");
    free(x);
    free(w);
    free(b);
    free(ref);
}

static void test_convolution(void) {
    conv_case plain = {1, 3, 6, 7, 4, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    conv_case grouped = {2, 4, 7, 6, 6, 2, 3, 2, 2, 1, 1, 0, 1, 1, 1, 2, 0};
    test_convolution_case(&plain);
    test_convolution_case(&grouped);
}

static void test_deconvolution(void) {
    const int64_t N = 1, C = 4, H = 3, W = 4, M = 6, G = 2, K = 3, S = 2, P0 = 1, P1 = 0;
    int64_t cg = C / G, mg = M / G;
    int64_t oh = S * (H - 1) + K - P0 - P1, ow = S * (W - 1) + K - P0 - P1;
    float *x = rnd_array(N * C * H * W, -1, 1);
    float *w = rnd_array(C * mg * K * K, -1, 1);
    float *b = rnd_array(M, -1, 1);
    double *ref = calloc((size_t)(N * M * oh * ow), sizeof *ref);
    for (int64_t n = 0; n < N; n++)
        for (int64_t m = 0; m < M; m++)
            for (int64_t i = 0; i < oh * ow; i++) ref[(n * M + m) * oh * ow + i] = b[m];
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t iy = 0; iy < H; iy++)
                for (int64_t iz = 0; iz < W; iz++)
                    for (int64_t mo = 0; mo < mg; mo++)
                        for (int64_t i = 0; i < K; i++)
                            for (int64_t j = 0; j < K; j++) {
                                int64_t y = iy * S - P0 + i, z = iz * S - P0 + j;
                                if (y < 0 || y >= oh || z < 0 || z >= ow) continue;
                                int64_t m = (c / cg) * mg + mo;
                                ref[((n * M + m) * oh + y) * ow + z] +=
                                    (double)x[((n * C + c) * H + iy) * W + iz] *
                                    w[((c * mg + mo) * K + i) * K + j];
                            }
    kiln_network *net = new_net();
    kiln_tensor *in = input(net, "x", KILN_DTYPE_FLOAT32, DIMS(N, C, H, W));
    kiln_window win;
    memset(&win, 0, sizeof win);
    win.nb_spatial = 2;
    win.kernel[0] = win.kernel[1] = K;
    win.stride[0] = win.stride[1] = S;
    win.pad_begin[0] = win.pad_begin[1] = P0;
    win.pad_end[0] = win.pad_end[1] = P1;
    kiln_layer *layer = NULL;
    kiln_status st =
        kiln_network_add_deconvolution(net, in, M, win, G, fw(w, C * mg * K * K), fw(b, M), &layer);
    const void *ins[] = {x};
    run_and_check(net, out_of(st, layer, "add_deconvolution"), ins, DIMS(N, M, oh, ow), ref,
                  "deconvolution");
    free(x);
    free(w);
    free(b);
    free(ref);
}

/* ---------------------------------------------------------------- matrices --------- */

/* a: [batch, ra, ca] (or [ra, ca] when batch_a is 0), b likewise; op(a) @ op(b). */
static void test_matmul_case(int ta, int tb, int batch_a, int batch_b) {
    const int64_t B = 2, M = 3, K = 4, N = 5;
    int64_t ar = ta ? K : M, ac = ta ? M : K, br = tb ? N : K, bc = tb ? K : N;
    float *a = rnd_array((batch_a ? B : 1) * ar * ac, -1, 1);
    float *b = rnd_array((batch_b ? B : 1) * br * bc, -1, 1);
    int batched = batch_a || batch_b;
    double *ref = calloc((size_t)(B * M * N), sizeof *ref);
    for (int64_t p = 0; p < (batched ? B : 1); p++)
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) {
                double s = 0;
                for (int64_t k = 0; k < K; k++) {
                    const float *ap = a + (batch_a ? p * ar * ac : 0);
                    const float *bp = b + (batch_b ? p * br * bc : 0);
                    double av = ta ? ap[k * ac + i] : ap[i * ac + k];
                    double bv = tb ? bp[j * bc + k] : bp[k * bc + j];
                    s += av * bv;
                }
                ref[(p * M + i) * N + j] = s;
            }
    kiln_network *net = new_net();
    kiln_tensor *ta_ =
        input(net, "a", KILN_DTYPE_FLOAT32, batch_a ? DIMS(B, ar, ac) : DIMS(ar, ac));
    kiln_tensor *tb_ =
        input(net, "b", KILN_DTYPE_FLOAT32, batch_b ? DIMS(B, br, bc) : DIMS(br, bc));
    kiln_layer *layer = NULL;
    kiln_status st = kiln_network_add_matrix_multiply(net, ta_, ta, tb_, tb, &layer);
    const void *ins[] = {a, b};
    char what[64];
    snprintf(what, sizeof what, "matrix_multiply(ta %d, tb %d)", ta, tb);
    run_and_check(net, out_of(st, layer, what), ins, batched ? DIMS(B, M, N) : DIMS(M, N), ref,
                  what);
    free(a);
    free(b);
    free(ref);
}

static void test_matrix_multiply(void) {
    test_matmul_case(0, 0, 0, 0);
    test_matmul_case(1, 0, 1, 0);
    test_matmul_case(0, 1, 1, 1);
    test_matmul_case(1, 1, 0, 1);
}

static void test_fully_connected_case(int rank, int bias) {
    const int64_t B0 = 2, B1 = 3, IN = 5, OUT = 4;
    int64_t rows = rank == 2 ? B1 : (rank == 3 ? B0 * B1 : 1);
    float *x = rnd_array(rows * IN, -1, 1);
    float *w = rnd_array(OUT * IN, -1, 1);
    float *b = rnd_array(OUT, -1, 1);
    double *ref = calloc((size_t)(rows * OUT), sizeof *ref);
    for (int64_t r = 0; r < rows; r++)
        for (int64_t o = 0; o < OUT; o++) {
            double s = bias ? b[o] : 0.0;
            for (int64_t i = 0; i < IN; i++) s += (double)x[r * IN + i] * w[o * IN + i];
            ref[r * OUT + o] = s;
        }
    kiln_network *net = new_net();
    kiln_dims xd = rank == 2 ? DIMS(B1, IN) : (rank == 3 ? DIMS(B0, B1, IN) : DIMS(IN));
    kiln_dims yd = rank == 2 ? DIMS(B1, OUT) : (rank == 3 ? DIMS(B0, B1, OUT) : DIMS(OUT));
    kiln_tensor *in = input(net, "x", KILN_DTYPE_FLOAT32, xd);
    kiln_layer *layer = NULL;
    kiln_status st = kiln_network_add_fully_connected(net, in, OUT, fw(w, OUT * IN),
                                                      bias ? fw(b, OUT) : no_weights, &layer);
    const void *ins[] = {x};
    char what[64];
    snprintf(what, sizeof what, "fully_connected(rank %d, bias %d)", rank, bias);
    run_and_check(net, out_of(st, layer, what), ins, yd, ref, what);
    free(x);
    free(w);
    free(b);
    free(ref);
}

static void test_fully_connected(void) {
    test_fully_connected_case(2, 1);
    test_fully_connected_case(2, 0);
    test_fully_connected_case(3, 1);
    test_fully_connected_case(3, 0);
    test_fully_connected_case(1, 1);
}

/* ---------------------------------------------------------------- activations ------ */

static double sigmoid(double x) {
    return 1.0 / (1.0 + exp(-x));
}

static double activation_ref(kiln_activation_type t, double x, double a, double b) {
    switch (t) {
    case KILN_ACTIVATION_RELU:
        return x > 0 ? x : 0;
    case KILN_ACTIVATION_SIGMOID:
        return sigmoid(x);
    case KILN_ACTIVATION_TANH:
        return tanh(x);
    case KILN_ACTIVATION_LEAKY_RELU:
        return x < 0 ? a * x : x;
    case KILN_ACTIVATION_ELU:
        return x < 0 ? a * (exp(x) - 1) : x;
    case KILN_ACTIVATION_SELU:
        return x <= 0 ? b * (a * exp(x) - a) : b * x;
    case KILN_ACTIVATION_SOFTSIGN:
        return x / (1 + fabs(x));
    case KILN_ACTIVATION_SOFTPLUS:
        return log1p(exp(x));
    case KILN_ACTIVATION_CLIP:
        return x < a ? a : (x > b ? b : x);
    case KILN_ACTIVATION_HARD_SIGMOID:
        return fmax(0.0, fmin(1.0, a * x + b));
    case KILN_ACTIVATION_GELU_ERF:
        return 0.5 * x * (1 + erf(x / sqrt(2.0)));
    case KILN_ACTIVATION_GELU_TANH:
        return 0.5 * x *
               (1 + tanh(sqrt(2.0 / 3.14159265358979323846) * (x + 0.044715 * x * x * x)));
    case KILN_ACTIVATION_SWISH:
        return x * sigmoid(x);
    }
    return NAN;
}

static void test_activation(void) {
    static const struct {
        kiln_activation_type type;
        float alpha, beta;
        const char *name;
    } cases[] = {
        {KILN_ACTIVATION_RELU, 0, 0, "relu"},
        {KILN_ACTIVATION_SIGMOID, 0, 0, "sigmoid"},
        {KILN_ACTIVATION_TANH, 0, 0, "tanh"},
        {KILN_ACTIVATION_LEAKY_RELU, 0.1f, 0, "leaky_relu"},
        {KILN_ACTIVATION_ELU, 0.7f, 0, "elu"},
        {KILN_ACTIVATION_SELU, 1.6732632f, 1.0507010f, "selu"},
        {KILN_ACTIVATION_SOFTSIGN, 0, 0, "softsign"},
        {KILN_ACTIVATION_SOFTPLUS, 0, 0, "softplus"},
        {KILN_ACTIVATION_CLIP, -0.5f, 0.75f, "clip"},
        {KILN_ACTIVATION_HARD_SIGMOID, 0.2f, 0.5f, "hard_sigmoid"},
        {KILN_ACTIVATION_GELU_ERF, 0, 0, "gelu"},
        {KILN_ACTIVATION_GELU_TANH, 0, 0, "gelu"},
        {KILN_ACTIVATION_SWISH, 0, 0, "swish"},
    };
    const int64_t N = 24;
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        float *x = rnd_array(N, -3, 3);
        double ref[24];
        for (int64_t i = 0; i < N; i++)
            ref[i] = activation_ref(cases[k].type, x[i], cases[k].alpha, cases[k].beta);
        kiln_network *net = new_net();
        kiln_tensor *in = input(net, "x", KILN_DTYPE_FLOAT32, DIMS(2, 3, 4));
        kiln_layer *layer = NULL;
        kiln_status st = kiln_network_add_activation(net, in, cases[k].type, cases[k].alpha,
                                                     cases[k].beta, &layer);
        if (st == KILN_OK) EXPECT_STR_CONTAINS(kiln_layer_get_name(layer), cases[k].name);
        const void *ins[] = {x};
        char what[64];
        snprintf(what, sizeof what, "activation %s (type %d)", cases[k].name, (int)cases[k].type);
        run_and_check(net, out_of(st, layer, what), ins, DIMS(2, 3, 4), ref, what);
        free(x);
    }
}

/* ---------------------------------------------------------------- pooling ---------- */

static void test_pooling_case(kiln_pooling_type type) {
    const int64_t N = 1, C = 2, H = 5, W = 6, K = 3, S = 2, P = 1;
    int64_t oh = (H + 2 * P - K) / S + 1, ow = (W + 2 * P - K) / S + 1;
    float *x = rnd_array(N * C * H * W, -1, 1);
    double *ref = calloc((size_t)(N * C * oh * ow), sizeof *ref);
    for (int64_t p = 0; p < N * C; p++)
        for (int64_t y = 0; y < oh; y++)
            for (int64_t z = 0; z < ow; z++) {
                double acc = type == KILN_POOLING_MAX ? -INFINITY : 0.0;
                int cnt = 0;
                for (int64_t i = 0; i < K; i++)
                    for (int64_t j = 0; j < K; j++) {
                        int64_t iy = y * S - P + i, iz = z * S - P + j;
                        if (iy < 0 || iy >= H || iz < 0 || iz >= W) continue;
                        double v = x[(p * H + iy) * W + iz];
                        acc = type == KILN_POOLING_MAX ? fmax(acc, v) : acc + v;
                        cnt++;
                    }
                /* Padding does not count toward the average. */
                ref[(p * oh + y) * ow + z] = type == KILN_POOLING_MAX ? acc : acc / cnt;
            }
    kiln_network *net = new_net();
    kiln_tensor *in = input(net, "x", KILN_DTYPE_FLOAT32, DIMS(N, C, H, W));
    kiln_layer *layer = NULL;
    kiln_status st = kiln_network_add_pooling(net, in, type, kiln_test_window(K, S, P), &layer);
    const void *ins[] = {x};
    const char *what = type == KILN_POOLING_MAX ? "max pooling" : "average pooling";
    run_and_check(net, out_of(st, layer, what), ins, DIMS(N, C, oh, ow), ref, what);
    free(x);
    free(ref);
}

static void test_pooling(void) {
    test_pooling_case(KILN_POOLING_MAX);
    test_pooling_case(KILN_POOLING_AVERAGE);
}

/* ---------------------------------------------------------------- elementwise ------ */

static void test_elementwise(void) {
    /* a [2, 3, 4] against b [3, 1]: numpy broadcasting. */
    for (int op = KILN_ELEMENTWISE_SUM; op <= KILN_ELEMENTWISE_POW; op++) {
        int pow_op = op == KILN_ELEMENTWISE_POW;
        float *a = rnd_array(24, pow_op ? 0.1f : -2, 2);
        float *b = rnd_array(3, -2, 2);
        double ref[24];
        for (int64_t i = 0; i < 24; i++) {
            double x = a[i], y = b[(i / 4) % 3];
            switch (op) {
            case KILN_ELEMENTWISE_SUM:
                ref[i] = x + y;
                break;
            case KILN_ELEMENTWISE_SUB:
                ref[i] = x - y;
                break;
            case KILN_ELEMENTWISE_PROD:
                ref[i] = x * y;
                break;
            case KILN_ELEMENTWISE_DIV:
                ref[i] = x / y;
                break;
            case KILN_ELEMENTWISE_MAX:
                ref[i] = fmax(x, y);
                break;
            case KILN_ELEMENTWISE_MIN:
                ref[i] = fmin(x, y);
                break;
            default:
                ref[i] = pow(x, y);
                break;
            }
        }
        kiln_network *net = new_net();
        kiln_tensor *ta = input(net, "a", KILN_DTYPE_FLOAT32, DIMS(2, 3, 4));
        kiln_tensor *tb = input(net, "b", KILN_DTYPE_FLOAT32, DIMS(3, 1));
        kiln_layer *layer = NULL;
        kiln_status st = kiln_network_add_elementwise(net, ta, tb, (kiln_elementwise_op)op, &layer);
        const void *ins[] = {a, b};
        char what[64];
        snprintf(what, sizeof what, "elementwise op %d", op);
        run_and_check(net, out_of(st, layer, what), ins, DIMS(2, 3, 4), ref, what);
        free(a);
        free(b);
    }
}

static void test_unary(void) {
    for (int op = KILN_UNARY_EXP; op <= KILN_UNARY_CEIL; op++) {
        int positive = op == KILN_UNARY_LOG || op == KILN_UNARY_SQRT;
        float *x = rnd_array(12, positive ? 0.1f : -3, 3);
        double ref[12];
        for (int i = 0; i < 12; i++) {
            double v = x[i];
            switch (op) {
            case KILN_UNARY_EXP:
                ref[i] = exp(v);
                break;
            case KILN_UNARY_LOG:
                ref[i] = log(v);
                break;
            case KILN_UNARY_SQRT:
                ref[i] = sqrt(v);
                break;
            case KILN_UNARY_RECIP:
                ref[i] = 1.0 / v;
                break;
            case KILN_UNARY_ABS:
                ref[i] = fabs(v);
                break;
            case KILN_UNARY_NEG:
                ref[i] = -v;
                break;
            case KILN_UNARY_SIN:
                ref[i] = sin(v);
                break;
            case KILN_UNARY_COS:
                ref[i] = cos(v);
                break;
            case KILN_UNARY_ERF:
                ref[i] = erf(v);
                break;
            case KILN_UNARY_FLOOR:
                ref[i] = floor(v);
                break;
            default:
                ref[i] = ceil(v);
                break;
            }
        }
        kiln_network *net = new_net();
        kiln_tensor *in = input(net, "x", KILN_DTYPE_FLOAT32, DIMS(3, 4));
        kiln_layer *layer = NULL;
        kiln_status st = kiln_network_add_unary(net, in, (kiln_unary_op)op, &layer);
        const void *ins[] = {x};
        char what[64];
        snprintf(what, sizeof what, "unary op %d", op);
        run_and_check(net, out_of(st, layer, what), ins, DIMS(3, 4), ref, what);
        free(x);
    }
    /* Not works on bools. */
    uint8_t b[6] = {1, 0, 0, 1, 1, 0}, got[6] = {0};
    kiln_network *net = new_net();
    kiln_tensor *in = input(net, "x", KILN_DTYPE_BOOL, DIMS(2, 3));
    kiln_layer *layer = NULL;
    kiln_status st = kiln_network_add_unary(net, in, KILN_UNARY_NOT, &layer);
    const void *ins[] = {b};
    if (run(net, out_of(st, layer, "unary not"), ins, DIMS(2, 3), got, "unary not") == 0)
        for (int i = 0; i < 6; i++) EXPECT_EQ_INT(got[i], !b[i]);
    kiln_network_destroy(net);
}

/* ---------------------------------------------------------------- softmax ---------- */

static void test_softmax_case(int32_t axis) {
    const int64_t D0 = 2, D1 = 3, D2 = 4;
    float *x = rnd_array(D0 * D1 * D2, -3, 3);
    double ref[24];
    int32_t a = axis < 0 ? axis + 3 : axis;
    int64_t dims[3] = {D0, D1, D2}, stride = a == 2 ? 1 : (a == 1 ? D2 : D1 * D2), len = dims[a];
    for (int64_t i = 0; i < 24; i++) {
        int64_t base = i - ((i / stride) % len) * stride;
        double m = -INFINITY, s = 0;
        for (int64_t k = 0; k < len; k++) m = fmax(m, x[base + k * stride]);
        for (int64_t k = 0; k < len; k++) s += exp(x[base + k * stride] - m);
        ref[i] = exp(x[i] - m) / s;
    }
    kiln_network *net = new_net();
    kiln_tensor *in = input(net, "x", KILN_DTYPE_FLOAT32, DIMS(D0, D1, D2));
    kiln_layer *layer = NULL;
    kiln_status st = kiln_network_add_softmax(net, in, axis, &layer);
    const void *ins[] = {x};
    char what[64];
    snprintf(what, sizeof what, "softmax(axis %d)", (int)axis);
    run_and_check(net, out_of(st, layer, what), ins, DIMS(D0, D1, D2), ref, what);
    free(x);
}

static void test_softmax(void) {
    test_softmax_case(1);
    test_softmax_case(-1);
    test_softmax_case(0);
}

/* ---------------------------------------------------------------- tensor layers ---- */

static void test_concatenation(void) {
    /* [2, 1, 3] ++ [2, 2, 3] ++ [2, 3, 3] on axis 1 -> [2, 6, 3] */
    float *p[3];
    for (int i = 0; i < 3; i++) p[i] = rnd_array(2 * (i + 1) * 3, -1, 1);
    double ref[36];
    for (int64_t n = 0; n < 2; n++) {
        int64_t row = 0;
        for (int i = 0; i < 3; i++)
            for (int64_t r = 0; r < i + 1; r++, row++)
                for (int64_t k = 0; k < 3; k++)
                    ref[(n * 6 + row) * 3 + k] = p[i][(n * (i + 1) + r) * 3 + k];
    }
    kiln_network *net = new_net();
    kiln_tensor *ins_t[3] = {input(net, "a", KILN_DTYPE_FLOAT32, DIMS(2, 1, 3)),
                             input(net, "b", KILN_DTYPE_FLOAT32, DIMS(2, 2, 3)),
                             input(net, "c", KILN_DTYPE_FLOAT32, DIMS(2, 3, 3))};
    kiln_layer *layer = NULL;
    kiln_status st = kiln_network_add_concatenation(net, ins_t, 3, 1, &layer);
    const void *ins[] = {p[0], p[1], p[2]};
    run_and_check(net, out_of(st, layer, "concatenation"), ins, DIMS(2, 6, 3), ref,
                  "concatenation");
    for (int i = 0; i < 3; i++) free(p[i]);
}

static void test_shuffle(void) {
    /* x [2, 3, 4]; transpose (2, 0, 1) -> [4, 2, 3]; reshape (0, -1) -> [4, 6];
     * transpose (1, 0) -> [6, 4]. So y[j][i] = t[i][j], t[i][a*3+b] = x[a][b][i]. */
    float *x = rnd_array(24, -1, 1);
    double ref[24];
    for (int64_t j = 0; j < 6; j++)
        for (int64_t i = 0; i < 4; i++) ref[j * 4 + i] = x[((j / 3) * 3 + j % 3) * 4 + i];
    int32_t perm[3] = {2, 0, 1}, perm2[2] = {1, 0};
    kiln_dims shape = DIMS(0, -1);
    kiln_network *net = new_net();
    kiln_tensor *in = input(net, "x", KILN_DTYPE_FLOAT32, DIMS(2, 3, 4));
    kiln_layer *layer = NULL;
    kiln_status st = kiln_network_add_shuffle(net, in, perm, &shape, perm2, &layer);
    const void *ins[] = {x};
    run_and_check(net, out_of(st, layer, "shuffle"), ins, DIMS(6, 4), ref, "shuffle");

    /* Reshape alone, and nothing at all (an identity). */
    kiln_dims flat = DIMS(-1);
    double same[24];
    for (int i = 0; i < 24; i++) same[i] = x[i];
    net = new_net();
    in = input(net, "x", KILN_DTYPE_FLOAT32, DIMS(2, 3, 4));
    st = kiln_network_add_shuffle(net, in, NULL, &flat, NULL, &layer);
    run_and_check(net, out_of(st, layer, "shuffle reshape"), ins, DIMS(24), same,
                  "shuffle reshape");
    net = new_net();
    in = input(net, "x", KILN_DTYPE_FLOAT32, DIMS(2, 3, 4));
    st = kiln_network_add_shuffle(net, in, NULL, NULL, NULL, &layer);
    run_and_check(net, out_of(st, layer, "shuffle none"), ins, DIMS(2, 3, 4), same, "shuffle none");
    free(x);
}

static void test_slice(void) {
    /* x [4, 6]: rows 1, 3 (stride 2); columns 5, 4, 3 (stride -1) -> [2, 3]; then a
     * backward walk to index 0 (rows 2, 1, 0), whose end lies before the first row. */
    float *x = rnd_array(24, -1, 1);
    double ref[6], ref2[18];
    for (int64_t i = 0; i < 2; i++)
        for (int64_t j = 0; j < 3; j++) ref[i * 3 + j] = x[(1 + 2 * i) * 6 + (5 - j)];
    for (int64_t i = 0; i < 3; i++)
        for (int64_t j = 0; j < 6; j++) ref2[i * 6 + j] = x[(2 - i) * 6 + j];
    kiln_network *net = new_net();
    kiln_tensor *in = input(net, "x", KILN_DTYPE_FLOAT32, DIMS(4, 6));
    kiln_layer *layer = NULL;
    kiln_status st = kiln_network_add_slice(net, in, DIMS(1, 5), DIMS(2, 3), DIMS(2, -1), &layer);
    const void *ins[] = {x};
    run_and_check(net, out_of(st, layer, "slice"), ins, DIMS(2, 3), ref, "slice");
    net = new_net();
    in = input(net, "x", KILN_DTYPE_FLOAT32, DIMS(4, 6));
    st = kiln_network_add_slice(net, in, DIMS(2, 0), DIMS(3, 6), DIMS(-1, 1), &layer);
    run_and_check(net, out_of(st, layer, "slice to 0"), ins, DIMS(3, 6), ref2, "slice to 0");
    free(x);
}

static void test_gather(void) {
    /* data [2, 5, 3], indices [2, 2] on axis 1 -> [2, 2, 2, 3] */
    float *x = rnd_array(30, -1, 1);
    int32_t idx[4] = {4, 0, 2, 2};
    double ref[24];
    for (int64_t n = 0; n < 2; n++)
        for (int64_t q = 0; q < 4; q++)
            for (int64_t k = 0; k < 3; k++) ref[(n * 4 + q) * 3 + k] = x[(n * 5 + idx[q]) * 3 + k];
    kiln_network *net = new_net();
    kiln_tensor *data = input(net, "data", KILN_DTYPE_FLOAT32, DIMS(2, 5, 3));
    kiln_tensor *ind = input(net, "indices", KILN_DTYPE_INT32, DIMS(2, 2));
    kiln_layer *layer = NULL;
    kiln_status st = kiln_network_add_gather(net, data, ind, 1, &layer);
    const void *ins[] = {x, idx};
    run_and_check(net, out_of(st, layer, "gather"), ins, DIMS(2, 2, 2, 3), ref, "gather");
    free(x);
}

static void test_reduce(void) {
    /* x [2, 3, 4] reduced over dims 0 and 2 (mask 0b101) -> [3] or [1, 3, 1] */
    for (int op = KILN_REDUCE_SUM; op <= KILN_REDUCE_PROD; op++) {
        for (int keep = 0; keep <= 1; keep++) {
            float *x = rnd_array(24, op == KILN_REDUCE_PROD ? 0.5f : -2, 2);
            double ref[3];
            for (int64_t j = 0; j < 3; j++) {
                double acc = op == KILN_REDUCE_PROD ? 1
                                                    : (op == KILN_REDUCE_MAX   ? -INFINITY
                                                       : op == KILN_REDUCE_MIN ? INFINITY
                                                                               : 0);
                for (int64_t i = 0; i < 2; i++)
                    for (int64_t k = 0; k < 4; k++) {
                        double v = x[(i * 3 + j) * 4 + k];
                        switch (op) {
                        case KILN_REDUCE_MAX:
                            acc = fmax(acc, v);
                            break;
                        case KILN_REDUCE_MIN:
                            acc = fmin(acc, v);
                            break;
                        case KILN_REDUCE_PROD:
                            acc *= v;
                            break;
                        default:
                            acc += v;
                            break;
                        }
                    }
                ref[j] = op == KILN_REDUCE_MEAN ? acc / 8 : acc;
            }
            kiln_network *net = new_net();
            kiln_tensor *in = input(net, "x", KILN_DTYPE_FLOAT32, DIMS(2, 3, 4));
            kiln_layer *layer = NULL;
            kiln_status st =
                kiln_network_add_reduce(net, in, (kiln_reduce_op)op, 0x5u, keep, &layer);
            const void *ins[] = {x};
            char what[64];
            snprintf(what, sizeof what, "reduce op %d keep_dims %d", op, keep);
            run_and_check(net, out_of(st, layer, what), ins, keep ? DIMS(1, 3, 1) : DIMS(3), ref,
                          what);
            free(x);
        }
    }
}

static void test_constant(void) {
    /* x [2, 3] + constant [3], and a constant as an output by itself. */
    float *x = rnd_array(6, -1, 1);
    float c[3] = {0.5f, -1.25f, 2.0f};
    double ref[6], cref[3] = {0.5, -1.25, 2.0};
    for (int i = 0; i < 6; i++) ref[i] = (double)x[i] + c[i % 3];
    kiln_network *net = new_net();
    kiln_tensor *in = input(net, "x", KILN_DTYPE_FLOAT32, DIMS(2, 3));
    kiln_layer *cl = NULL, *layer = NULL;
    kiln_status st = kiln_network_add_constant(net, DIMS(3), fw(c, 3), &cl);
    kiln_tensor *ct = out_of(st, cl, "add_constant");
    if (ct) st = kiln_network_add_elementwise(net, in, ct, KILN_ELEMENTWISE_SUM, &layer);
    const void *ins[] = {x};
    run_and_check(net, ct ? out_of(st, layer, "constant + x") : NULL, ins, DIMS(2, 3), ref,
                  "constant + x");
    net = new_net();
    st = kiln_network_add_constant(net, DIMS(3), fw(c, 3), &cl);
    run_and_check(net, out_of(st, cl, "constant output"), NULL, DIMS(3), cref, "constant output");
    free(x);
}

/* ---------------------------------------------------------------- normalization ---- */

/* x [2, 3, 4] normalized over `mask`; scale and bias shaped as given (broadcasting). */
static void test_normalization_case(uint32_t mask, kiln_dims sd, kiln_dims bd, int32_t layers,
                                    const char *what) {
    const int64_t dims[3] = {2, 3, 4};
    const float eps = 1e-3f;
    float *x = rnd_array(24, -2, 2);
    float *s = rnd_array(count_of(sd), -1.5f, 1.5f);
    float *b = rnd_array(count_of(bd), -1, 1);
    double ref[24];
    for (int64_t i = 0; i < 24; i++) {
        int64_t idx[3] = {i / 12, (i / 4) % 3, i % 4};
        double sum = 0, sq = 0;
        int64_t n = 0;
        /* every element agreeing with i outside the normalized dims */
        for (int64_t j = 0; j < 24; j++) {
            int64_t jdx[3] = {j / 12, (j / 4) % 3, j % 4};
            int same = 1;
            for (int d = 0; d < 3; d++)
                if (!(mask >> d & 1u) && jdx[d] != idx[d]) same = 0;
            if (!same) continue;
            sum += x[j];
            n++;
        }
        double mean = sum / (double)n;
        for (int64_t j = 0; j < 24; j++) {
            int64_t jdx[3] = {j / 12, (j / 4) % 3, j % 4};
            int same = 1;
            for (int d = 0; d < 3; d++)
                if (!(mask >> d & 1u) && jdx[d] != idx[d]) same = 0;
            if (same) sq += (x[j] - mean) * (x[j] - mean);
        }
        /* scale and bias broadcast from the right */
        int64_t so = 0, bo = 0;
        for (int d = 0; d < sd.nb_dims; d++)
            so = so * sd.d[d] + (sd.d[d] == 1 ? 0 : idx[3 - sd.nb_dims + d]);
        for (int d = 0; d < bd.nb_dims; d++)
            bo = bo * bd.d[d] + (bd.d[d] == 1 ? 0 : idx[3 - bd.nb_dims + d]);
        ref[i] = (x[i] - mean) / sqrt(sq / (double)n + eps) * s[so] + b[bo];
    }
    (void)dims;
    kiln_network *net = new_net();
    kiln_tensor *in = input(net, "x", KILN_DTYPE_FLOAT32, DIMS(2, 3, 4));
    kiln_tensor *ts = input(net, "scale", KILN_DTYPE_FLOAT32, sd);
    kiln_tensor *tb = input(net, "bias", KILN_DTYPE_FLOAT32, bd);
    kiln_layer *layer = NULL;
    kiln_status st = kiln_network_add_normalization(net, in, ts, tb, mask, eps, &layer);
    /* The fused form is one LayerNormalization node; the other the nine plain ops. */
    if (st == KILN_OK) EXPECT_EQ_INT(kiln_network_num_layers(net), layers);
    const void *ins[] = {x, s, b};
    run_and_check(net, out_of(st, layer, what), ins, DIMS(2, 3, 4), ref, what);
    free(x);
    free(s);
    free(b);
}

static void test_normalization(void) {
    test_normalization_case(0x6u, DIMS(3, 4), DIMS(4), 1, "normalization (layernorm)");
    test_normalization_case(0x4u, DIMS(1, 1, 4), DIMS(1, 4), 1, "normalization (last axis)");
    test_normalization_case(0x2u, DIMS(3, 1), DIMS(3, 1), 9, "normalization (middle axis)");
    test_normalization_case(0x5u, DIMS(2, 1, 4), DIMS(4), 9, "normalization (axes 0, 2)");
    /* Trailing axes, but a scale varying along a dim that is not normalized. */
    test_normalization_case(0x4u, DIMS(3, 4), DIMS(4), 9, "normalization (scale over dim 1)");
}

/* ---------------------------------------------------------------- resize ----------- */

/* ONNX Resize with half_pixel coordinates: nearest rounds half down, linear and cubic
 * repeat the edge values beyond the input. */
static double resize_coord(int64_t o, int64_t in, int64_t out) {
    return ((double)o + 0.5) * (double)in / (double)out - 0.5;
}

static int64_t resize_nearest(double c, int64_t in) {
    double f = floor(c);
    int64_t i = (int64_t)(c - f == 0.5 ? f : floor(c + 0.5));
    return i < 0 ? 0 : (i >= in ? in - 1 : i);
}

/* Keys' cubic weights (a = -0.75) of the taps at offsets -1, 0, 1, 2 from floor(c). */
static void resize_cubic_weights(double r, double *w) {
    const double a = -0.75;
    double d[4] = {r + 1, r, 1 - r, 2 - r};
    for (int i = 0; i < 4; i++) {
        double t = d[i];
        w[i] = t <= 1 ? ((a + 2) * t - (a + 3)) * t * t + 1
                      : ((a * t - 5 * a) * t + 8 * a) * t - 4 * a;
    }
}

static int64_t clamp_index(int64_t i, int64_t n) {
    return i < 0 ? 0 : (i >= n ? n - 1 : i);
}

static void test_resize_case(kiln_resize_mode mode) {
    const int64_t H = 3, W = 4, OH = 5, OW = 7;
    float *x = rnd_array(H * W, -1, 1);
    double ref[35];
    for (int64_t y = 0; y < OH; y++)
        for (int64_t z = 0; z < OW; z++) {
            double cy = resize_coord(y, H, OH), cz = resize_coord(z, W, OW);
            if (mode == KILN_RESIZE_NEAREST) {
                ref[y * OW + z] = x[resize_nearest(cy, H) * W + resize_nearest(cz, W)];
                continue;
            }
            if (mode == KILN_RESIZE_CUBIC) {
                /* Taps beyond the edges repeat the edge values. */
                double wy[4], wz[4], sum = 0;
                int64_t y0 = (int64_t)floor(cy), z0 = (int64_t)floor(cz);
                resize_cubic_weights(cy - (double)y0, wy);
                resize_cubic_weights(cz - (double)z0, wz);
                for (int i = 0; i < 4; i++)
                    for (int j = 0; j < 4; j++)
                        sum += wy[i] * wz[j] *
                               x[clamp_index(y0 - 1 + i, H) * W + clamp_index(z0 - 1 + j, W)];
                ref[y * OW + z] = sum;
                continue;
            }
            cy = fmin(fmax(cy, 0), (double)(H - 1));
            cz = fmin(fmax(cz, 0), (double)(W - 1));
            int64_t y0 = (int64_t)floor(cy), z0 = (int64_t)floor(cz);
            int64_t y1 = y0 + 1 < H ? y0 + 1 : y0, z1 = z0 + 1 < W ? z0 + 1 : z0;
            double fy = cy - y0, fz = cz - z0;
            ref[y * OW + z] = (1 - fy) * ((1 - fz) * x[y0 * W + z0] + fz * x[y0 * W + z1]) +
                              fy * ((1 - fz) * x[y1 * W + z0] + fz * x[y1 * W + z1]);
        }
    kiln_network *net = new_net();
    kiln_tensor *in = input(net, "x", KILN_DTYPE_FLOAT32, DIMS(1, 1, H, W));
    kiln_layer *layer = NULL;
    kiln_status st = kiln_network_add_resize(net, in, mode, DIMS(1, 1, OH, OW), &layer);
    if (st == KILN_ERR_UNSUPPORTED && strstr(kiln_last_error(), "no Resize op")) {
        printf("SKIP resize: %s\n", kiln_last_error());
        kiln_network_destroy(net);
        free(x);
        return;
    }
    const void *ins[] = {x};
    const char *what = mode == KILN_RESIZE_NEAREST  ? "resize nearest"
                       : mode == KILN_RESIZE_LINEAR ? "resize linear"
                                                    : "resize cubic";
    run_and_check(net, out_of(st, layer, what), ins, DIMS(1, 1, OH, OW), ref, what);
    free(x);
}

static void test_resize(void) {
    test_resize_case(KILN_RESIZE_NEAREST);
    test_resize_case(KILN_RESIZE_LINEAR);
    test_resize_case(KILN_RESIZE_CUBIC);
}

/* ---------------------------------------------------------------- identity, cast --- */

static void test_identity_and_cast(void) {
    float *x = rnd_array(6, -1, 1);
    double ref[6];
    for (int i = 0; i < 6; i++) ref[i] = x[i];
    kiln_network *net = new_net();
    kiln_tensor *in = input(net, "x", KILN_DTYPE_FLOAT32, DIMS(2, 3));
    kiln_layer *layer = NULL;
    kiln_status st = kiln_network_add_identity(net, in, &layer);
    const void *ins[] = {x};
    run_and_check(net, out_of(st, layer, "identity"), ins, DIMS(2, 3), ref, "identity");
    free(x);

    /* int32 -> float32 */
    int32_t iv[6] = {-7, 3, 100000, -2, 1, 42};
    for (int i = 0; i < 6; i++) ref[i] = iv[i];
    net = new_net();
    in = input(net, "x", KILN_DTYPE_INT32, DIMS(6));
    st = kiln_network_add_cast(net, in, KILN_DTYPE_FLOAT32, &layer);
    kiln_tensor *y = out_of(st, layer, "cast");
    if (y) EXPECT_EQ_INT(kiln_tensor_get_dtype(y), KILN_DTYPE_FLOAT32);
    const void *cins[] = {iv};
    run_and_check(net, y, cins, DIMS(6), ref, "cast int32 -> float32");

    /* float32 -> int64, on whole numbers */
    float fv[4] = {-3.0f, 8.0f, 0.0f, 12345.0f};
    int64_t got[4] = {0};
    net = new_net();
    in = input(net, "x", KILN_DTYPE_FLOAT32, DIMS(4));
    st = kiln_network_add_cast(net, in, KILN_DTYPE_INT64, &layer);
    const void *fins[] = {fv};
    if (run(net, out_of(st, layer, "cast to int64"), fins, DIMS(4), got, "cast to int64") == 0)
        for (int i = 0; i < 4; i++) EXPECT_EQ_INT(got[i], (int64_t)fv[i]);
    kiln_network_destroy(net);
}

/* ---------------------------------------------------------------- a chain ---------- */

/* Layers feed each other; names are unique and default to "<kind>_<index>". */
static void test_chain_and_names(void) {
    kiln_network *net = new_net();
    kiln_tensor *in = input(net, "x", KILN_DTYPE_FLOAT32, DIMS(2, 3));
    kiln_layer *l1 = NULL, *l2 = NULL, *l3 = NULL;
    EXPECT_EQ_INT(kiln_network_add_activation(net, in, KILN_ACTIVATION_RELU, 0, 0, &l1), KILN_OK);
    EXPECT_EQ_INT(kiln_network_add_unary(net, kiln_layer_get_output(l1, 0), KILN_UNARY_NEG, &l2),
                  KILN_OK);
    EXPECT_EQ_INT(kiln_network_add_activation(net, kiln_layer_get_output(l2, 0),
                                              KILN_ACTIVATION_RELU, 0, 0, &l3),
                  KILN_OK);
    if (l1 && l2 && l3) {
        EXPECT(!strcmp(kiln_layer_get_name(l1), "relu_0"));
        EXPECT(!strcmp(kiln_layer_get_name(l2), "neg_1"));
        EXPECT(!strcmp(kiln_layer_get_name(l3), "relu_2"));
        /* relu(-relu(x)) is zero everywhere */
        float x[6] = {1, -2, 3, -4, 5, -6};
        double ref[6] = {0};
        const void *ins[] = {x};
        run_and_check(net, kiln_layer_get_output(l3, 0), ins, DIMS(2, 3), ref, "chain");
    } else {
        kiln_network_destroy(net);
    }
    /* A user's name taken by the next default name is not reused. */
    net = new_net();
    in = input(net, "x", KILN_DTYPE_FLOAT32, DIMS(2));
    EXPECT_EQ_INT(kiln_network_add_identity(net, in, &l1), KILN_OK);
    if (l1) EXPECT_EQ_INT(kiln_layer_set_name(l1, "identity_1"), KILN_OK);
    EXPECT_EQ_INT(kiln_network_add_identity(net, in, &l2), KILN_OK);
    if (l1 && l2) EXPECT(strcmp(kiln_layer_get_name(l1), kiln_layer_get_name(l2)) != 0);
    kiln_network_destroy(net);
}

/* A dynamic batch: layer outputs keep -1 where the input has it, and the engine runs at
 * a batch chosen when the context's input shape is set. The flatten before the fully
 * connected layer leaves its last dim unknown too; the weights tell it. */
static void test_dynamic_batch(void) {
    const int64_t B = 3, IN = 4, OUT = 5;
    float *x = rnd_array(B * IN, -1, 1), *w = rnd_array(OUT * IN, -1, 1),
          *b = rnd_array(OUT, -1, 1);
    double ref[15];
    for (int64_t r = 0; r < B; r++)
        for (int64_t o = 0; o < OUT; o++) {
            double s = b[o];
            for (int64_t i = 0; i < IN; i++) s += (double)x[r * IN + i] * w[o * IN + i];
            ref[r * OUT + o] = s > 0 ? s : 0;
        }
    kiln_network *net = new_net();
    kiln_tensor *in = input(net, "x", KILN_DTYPE_FLOAT32, DIMS(-1, 2, IN / 2));
    kiln_layer *flat = NULL, *fc = NULL, *relu = NULL;
    kiln_dims flat_dims = DIMS(0, -1);
    EXPECT_EQ_INT(kiln_network_add_shuffle(net, in, NULL, &flat_dims, NULL, &flat), KILN_OK);
    EXPECT_EQ_INT(kiln_network_add_fully_connected(net, kiln_layer_get_output(flat, 0), OUT,
                                                   fw(w, OUT * IN), fw(b, OUT), &fc),
                  KILN_OK);
    kiln_tensor *y = NULL;
    if (fc && kiln_network_add_activation(net, kiln_layer_get_output(fc, 0), KILN_ACTIVATION_RELU,
                                          0, 0, &relu) == KILN_OK)
        y = kiln_layer_get_output(relu, 0);
    EXPECT(y != NULL);
    if (y) {
        kiln_dims d = kiln_tensor_get_dims(y);
        EXPECT_EQ_INT(d.nb_dims, 2);
        EXPECT_EQ_INT(d.d[0], -1);
        EXPECT_EQ_INT(d.d[1], OUT);
    }
    kiln_builder_config *cfg = NULL;
    kiln_engine *engine = NULL;
    kiln_context *ctx = NULL;
    float got[15] = {0};
    kiln_status st = y ? kiln_network_mark_output(net, y) : KILN_ERR_INTERNAL;
    if (st == KILN_OK) st = kiln_builder_create_config(g_builder, &cfg);
    if (st == KILN_OK) st = kiln_builder_config_set_max_batch_size(cfg, 8);
    if (st == KILN_OK) st = kiln_builder_build_engine(g_builder, net, cfg, &engine);
    if (st == KILN_OK) st = kiln_engine_create_execution_context(engine, &ctx);
    if (st == KILN_OK) st = kiln_context_set_input_shape(ctx, "x", DIMS(B, 2, IN / 2));
    if (st == KILN_OK) st = kiln_context_set_tensor_address(ctx, "x", x);
    if (st == KILN_OK) st = kiln_context_set_tensor_address(ctx, kiln_tensor_get_name(y), got);
    if (st == KILN_OK) st = kiln_context_execute(ctx);
    if (st != KILN_OK) fprintf(stderr, "dynamic batch: %s\n", kiln_last_error());
    EXPECT_EQ_INT(st, KILN_OK);
    if (st == KILN_OK) check_close("dynamic batch", got, ref, B * OUT);
    kiln_context_destroy(ctx);
    kiln_engine_destroy(engine);
    kiln_builder_config_destroy(cfg);
    kiln_network_destroy(net);
    free(x);
    free(w);
    free(b);
}

/* ---------------------------------------------------------------- errors ----------- */

/* A failed call: the status, a message naming the layer (and `detail`), and no change. */
#define EXPECT_ARG_ERROR(net, call, layer_name, detail)                                            \
    do {                                                                                           \
        int32_t layers_ = kiln_network_num_layers(net);                                            \
        kiln_layer *bad_ = (kiln_layer *)0x1;                                                      \
        kiln_layer **out = &bad_;                                                                  \
        kiln_status st_ = (call);                                                                  \
        EXPECT_EQ_INT(st_, KILN_ERR_INVALID_ARGUMENT);                                             \
        EXPECT_STR_CONTAINS(kiln_last_error(), layer_name);                                        \
        EXPECT_STR_CONTAINS(kiln_last_error(), detail);                                            \
        EXPECT(bad_ == (kiln_layer *)0x1);                                                         \
        EXPECT_EQ_INT(kiln_network_num_layers(net), layers_);                                      \
        (void)out;                                                                                 \
    } while (0)

static void test_argument_errors(void) {
    kiln_network *net = new_net(), *other = new_net();
    kiln_tensor *x = input(net, "x", KILN_DTYPE_FLOAT32, DIMS(1, 3, 8, 8));
    kiln_tensor *m = input(net, "m", KILN_DTYPE_FLOAT32, DIMS(4, 5));
    kiln_tensor *foreign = input(other, "f", KILN_DTYPE_FLOAT32, DIMS(4, 5));
    float w[256] = {0.5f};
    kiln_window win;
    memset(&win, 0, sizeof win);
    win.nb_spatial = 2;
    win.kernel[0] = win.kernel[1] = 3;

    EXPECT_ARG_ERROR(
        net, kiln_network_add_convolution(net, NULL, 8, win, 1, fw(w, 216), no_weights, out),
        "convolution", "input is NULL");
    EXPECT_ARG_ERROR(net,
                     kiln_network_add_convolution(net, x, 8, win, 1, fw(w, 100), no_weights, out),
                     "convolution", "kernel weights have 100 values");
    EXPECT_ARG_ERROR(net,
                     kiln_network_add_convolution(net, x, 8, win, 1, fw(w, 216), fw(w, 7), out),
                     "convolution", "bias weights have 7 values");
    EXPECT_ARG_ERROR(net,
                     kiln_network_add_convolution(net, x, 8, win, 2, fw(w, 216), no_weights, out),
                     "convolution", "groups");
    EXPECT_ARG_ERROR(net,
                     kiln_network_add_convolution(net, m, 8, win, 1, fw(w, 216), no_weights, out),
                     "convolution", "rank");
    kiln_window bad_win = win;
    bad_win.nb_spatial = 4;
    EXPECT_ARG_ERROR(
        net, kiln_network_add_convolution(net, x, 8, bad_win, 1, fw(w, 216), no_weights, out),
        "convolution", "nb_spatial");
    kiln_weights null_values = {KILN_DTYPE_FLOAT32, NULL, 216};
    EXPECT_ARG_ERROR(net,
                     kiln_network_add_convolution(net, x, 8, win, 1, null_values, no_weights, out),
                     "convolution", "no values");
    kiln_weights halves = {KILN_DTYPE_FLOAT16, w, 216};
    EXPECT_ARG_ERROR(net, kiln_network_add_convolution(net, x, 8, win, 1, halves, no_weights, out),
                     "convolution", "float16");
    EXPECT_ARG_ERROR(net,
                     kiln_network_add_deconvolution(net, x, 8, win, 1, fw(w, 100), no_weights, out),
                     "deconvolution", "kernel weights");
    EXPECT_ARG_ERROR(net, kiln_network_add_matrix_multiply(net, m, 0, foreign, 0, out),
                     "matrix_multiply", "another network");
    EXPECT_ARG_ERROR(net, kiln_network_add_matrix_multiply(net, m, 0, m, 0, out), "matrix_multiply",
                     "MatMul");
    EXPECT_ARG_ERROR(net, kiln_network_add_fully_connected(net, m, 3, fw(w, 14), no_weights, out),
                     "fully_connected", "kernel weights have 14 values");
    EXPECT_ARG_ERROR(net, kiln_network_add_fully_connected(net, m, 3, fw(w, 15), fw(w, 2), out),
                     "fully_connected", "bias");
    EXPECT_ARG_ERROR(net, kiln_network_add_activation(net, x, (kiln_activation_type)99, 0, 0, out),
                     "activation", "unknown activation type 99");
    EXPECT_ARG_ERROR(net, kiln_network_add_activation(net, x, KILN_ACTIVATION_CLIP, 1, -1, out),
                     "activation", "clip");
    EXPECT_ARG_ERROR(net, kiln_network_add_pooling(net, x, (kiln_pooling_type)7, win, out),
                     "pooling", "unknown pooling type");
    EXPECT_ARG_ERROR(net, kiln_network_add_elementwise(net, x, m, KILN_ELEMENTWISE_SUM, out),
                     "elementwise", "broadcast");
    EXPECT_ARG_ERROR(net, kiln_network_add_elementwise(net, x, NULL, KILN_ELEMENTWISE_SUM, out),
                     "elementwise", "b is NULL");
    EXPECT_ARG_ERROR(net, kiln_network_add_unary(net, x, (kiln_unary_op)-1, out), "unary",
                     "unknown");
    EXPECT_ARG_ERROR(net, kiln_network_add_softmax(net, x, 4, out), "softmax", "axis 4");
    EXPECT_ARG_ERROR(net, kiln_network_add_concatenation(net, NULL, 0, 0, out), "concatenation",
                     "at least one input");
    kiln_tensor *pair[2] = {m, foreign};
    EXPECT_ARG_ERROR(net, kiln_network_add_concatenation(net, pair, 2, 0, out), "concatenation",
                     "inputs[1]");
    int32_t bad_perm[4] = {0, 1, 1, 2};
    EXPECT_ARG_ERROR(net, kiln_network_add_shuffle(net, x, bad_perm, NULL, NULL, out), "shuffle",
                     "permutation");
    kiln_dims two_infer = DIMS(-1, -1);
    EXPECT_ARG_ERROR(net, kiln_network_add_shuffle(net, x, NULL, &two_infer, NULL, out), "shuffle",
                     "reshape");
    kiln_dims bad_count = DIMS(5, 5);
    EXPECT_ARG_ERROR(net, kiln_network_add_shuffle(net, x, NULL, &bad_count, NULL, out), "shuffle",
                     "Reshape");
    EXPECT_ARG_ERROR(net, kiln_network_add_slice(net, m, DIMS(0, 3), DIMS(2, 3), DIMS(1, 1), out),
                     "slice", "outside");
    EXPECT_ARG_ERROR(net, kiln_network_add_slice(net, m, DIMS(0), DIMS(2), DIMS(1), out), "slice",
                     "ranks");
    EXPECT_ARG_ERROR(net, kiln_network_add_slice(net, m, DIMS(0, 0), DIMS(2, 2), DIMS(0, 1), out),
                     "slice", "stride");
    EXPECT_ARG_ERROR(net, kiln_network_add_gather(net, m, m, 0, out), "gather", "int32 or int64");
    EXPECT_ARG_ERROR(net, kiln_network_add_gather(net, m, NULL, 0, out), "gather",
                     "indices is NULL");
    EXPECT_ARG_ERROR(net, kiln_network_add_reduce(net, x, KILN_REDUCE_SUM, 0, 1, out), "reduce",
                     "axes_mask is 0");
    EXPECT_ARG_ERROR(net, kiln_network_add_reduce(net, m, KILN_REDUCE_SUM, 0x4u, 1, out), "reduce",
                     "beyond");
    EXPECT_ARG_ERROR(net, kiln_network_add_constant(net, DIMS(2, 3), fw(w, 5), out), "constant",
                     "have 5 values; shape [2, 3] needs 6");
    EXPECT_ARG_ERROR(net, kiln_network_add_constant(net, DIMS(2, -1), fw(w, 5), out), "constant",
                     "known");
    EXPECT_ARG_ERROR(net, kiln_network_add_normalization(net, x, NULL, m, 0x8u, 1e-5f, out),
                     "normalization", "scale is NULL");
    EXPECT_ARG_ERROR(net, kiln_network_add_normalization(net, x, m, m, 0x10u, 1e-5f, out),
                     "normalization", "beyond");
    EXPECT_ARG_ERROR(net, kiln_network_add_resize(net, x, KILN_RESIZE_NEAREST, DIMS(1, 3, 16), out),
                     "resize", "rank");
    EXPECT_ARG_ERROR(net, kiln_network_add_identity(net, foreign, out), "identity",
                     "another network");
    EXPECT_ARG_ERROR(net, kiln_network_add_cast(net, x, KILN_DTYPE_UNDEFINED, out), "cast",
                     "undefined");

    /* A NULL network or out pointer. */
    kiln_layer *layer = NULL;
    EXPECT_EQ_INT(kiln_network_add_identity(NULL, x, &layer), KILN_ERR_INVALID_ARGUMENT);
    EXPECT_STR_CONTAINS(kiln_last_error(), "identity");
    EXPECT_EQ_INT(kiln_network_add_identity(net, x, NULL), KILN_ERR_INVALID_ARGUMENT);
    EXPECT_EQ_INT(kiln_network_num_layers(net), 0);

    /* The network still works after all that. */
    EXPECT_EQ_INT(kiln_network_add_identity(net, m, &layer), KILN_OK);
    EXPECT_EQ_INT(kiln_network_num_layers(net), 1);
    kiln_network_destroy(net);
    kiln_network_destroy(other);
}

static void test_no_outputs(void) {
    kiln_network *net = new_net();
    kiln_tensor *x = input(net, "x", KILN_DTYPE_FLOAT32, DIMS(2));
    kiln_layer *layer = NULL;
    EXPECT_EQ_INT(kiln_network_add_identity(net, x, &layer), KILN_OK);
    kiln_builder_config *cfg = NULL;
    EXPECT_EQ_INT(kiln_builder_create_config(g_builder, &cfg), KILN_OK);
    kiln_host_memory *plan = NULL;
    EXPECT_EQ_INT(kiln_builder_build_serialized_network(g_builder, net, cfg, &plan),
                  KILN_ERR_INVALID_ARGUMENT);
    EXPECT_STR_CONTAINS(kiln_last_error(), "no outputs");
    EXPECT(plan == NULL);
    kiln_builder_config_destroy(cfg);
    kiln_network_destroy(net);
}

int main(void) {
    if (kiln_builder_create(NULL, &g_builder) != KILN_OK ||
        kiln_runtime_create(NULL, &g_runtime) != KILN_OK) {
        fprintf(stderr, "setup: %s\n", kiln_last_error());
        return 1;
    }
    test_convolution();
    test_deconvolution();
    test_matrix_multiply();
    test_fully_connected();
    test_activation();
    test_pooling();
    test_elementwise();
    test_unary();
    test_softmax();
    test_concatenation();
    test_shuffle();
    test_slice();
    test_gather();
    test_reduce();
    test_constant();
    test_normalization();
    test_resize();
    test_identity_and_cast();
    test_chain_and_names();
    test_dynamic_batch();
    test_argument_errors();
    test_no_outputs();
    kiln_runtime_destroy(g_runtime);
    kiln_builder_destroy(g_builder);
    TEST_MAIN_END();
}
