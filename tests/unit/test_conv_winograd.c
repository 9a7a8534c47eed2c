/*
 * kiln's Winograd convolutions: F(4x4, 3x3) with stored transformed weights
 * (conv_winograd_f43.c) and the tile-lane kernel, F(2x2, 3x3) or F(4x4, 3x3) with the
 * weights transformed as they are read (conv_winograd_lanes.c):
 *
 *   - each kernel against a float64 direct convolution on random data: channel counts of
 *     one and several blocks, maps that are and are not multiples of the tile (down to
 *     one partial tile; for the lane kernel 1 to 16 tiles, both tile sizes, ResNet-50's
 *     256- and 512-channel layers), batches of 1 and 2, one, two and eight threads, bias or
 *     none, ReLU or none; error within 1e-4 of (1 + |want|) (float32 gives ~1e-5 here);
 *   - which shapes each takes (16-channel blocks; pairs of them out for F(4x4) stored; at
 *     most 16 tiles for the lane kernel, and its tile size);
 *   - the residual (sum) input, apart from the output and in it;
 *   - inside an engine: three 3x3 convolutions and a 1x1 built with the layer API, run from
 *     the plan with oneDNN (the two middle ones sit between blocked layouts: the 48 -> 48
 *     one, with the first one's output as its residual, must run on the lane kernel, its
 *     48 output channels not being pairs of blocks, the 48 -> 64 one on F(4x4) stored, and
 *     the plan must name them so) against the same plan on the reference kernels, within
 *     1e-4.
 *
 * Where the CPU has no AVX-512 the kernels decline every shape; where kiln has no oneDNN the
 * engine never blocks activations and must not use them; the test checks both.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backends/cpu/conv_winograd_f43.h"
#include "backends/cpu/conv_winograd_lanes.h"
#include "backends/cpu/conv_winograd_node.h"
#include "backends/cpu/dnnl_common.h"
#include "test_layer_util.h"

static uint32_t rng = 24680;

/* y = relu?(conv(x, w) + bias + sum), pad 1, in float64, on 16-channel-blocked x, sum, y. */
static void direct_conv(const float *x, const float *w, const float *bias, const float *sum,
                        double *y, int64_t n, int64_t c, int64_t oc, int64_t h, int64_t wd,
                        int relu) {
    for (int64_t img = 0; img < n; img++)
        for (int64_t o = 0; o < oc; o++)
            for (int64_t i = 0; i < h; i++)
                for (int64_t j = 0; j < wd; j++) {
                    int64_t at = (((img * oc + o) / 16 * h + i) * wd + j) * 16 + o % 16;
                    double acc = (bias ? bias[o] : 0.0) + (sum ? sum[at] : 0.0);
                    for (int64_t ci = 0; ci < c; ci++)
                        for (int kh = 0; kh < 3; kh++)
                            for (int kw = 0; kw < 3; kw++) {
                                int64_t r = i + kh - 1, q = j + kw - 1;
                                if (r < 0 || r >= h || q < 0 || q >= wd) continue;
                                acc +=
                                    (double)
                                        x[(((img * c + ci) / 16 * h + r) * wd + q) * 16 + ci % 16] *
                                    w[((o * c + ci) * 3 + kh) * 3 + kw];
                            }
                    if (relu && acc < 0) acc = 0;
                    y[at] = acc;
                }
}

enum { KERNEL_F43, KERNEL_LANES };
/* what a check adds to the convolution: bias, ReLU, a residual (sum) input apart from y or
 * in y itself (y holding it beforehand, as when the output reuses the residual's memory) */
enum { BIAS = 1, RELU = 2, SUM = 4, SUM_IN_Y = 8 };

static void check_kernel(int kernel, int64_t n, int64_t c, int64_t oc, int64_t h, int64_t wd,
                         int threads, int what) {
    int lanes = kernel == KERNEL_LANES, relu = (what & RELU) != 0;
    int64_t xn = n * c * h * wd, yn = n * oc * h * wd, wn = oc * c * 9;
    float *x = malloc(sizeof(float) * (size_t)xn), *w = malloc(sizeof(float) * (size_t)wn);
    float *bias = malloc(sizeof(float) * (size_t)oc), *y = malloc(sizeof(float) * (size_t)yn);
    float *sum = malloc(sizeof(float) * (size_t)yn);
    float *u = aligned_alloc(64, sizeof(float) * (lanes ? kiln_winol_weights_floats(oc, c)
                                                        : kiln_wino43_weights_floats(oc, c)));
    float *scratch =
        aligned_alloc(64, sizeof(float) * (lanes ? kiln_winol_scratch_floats(c, threads)
                                                 : kiln_wino43_scratch_floats(oc, c, threads)));
    double *want = malloc(sizeof(double) * (size_t)yn);
    if (!x || !w || !bias || !y || !sum || !u || !scratch || !want) {
        EXPECT(0);
        goto done;
    }
    kiln_test_fill(x, xn, 1.0f, &rng);
    kiln_test_fill(w, wn, 1.0f / sqrtf((float)(c * 9)), &rng);
    kiln_test_fill(bias, oc, 0.5f, &rng);
    kiln_test_fill(sum, yn, 1.0f, &rng);
    const float *b = what & BIAS ? bias : NULL, *s = what & (SUM | SUM_IN_Y) ? sum : NULL;
    direct_conv(x, w, b, s, want, n, c, oc, h, wd, relu);
    if (what & SUM_IN_Y) {
        memcpy(y, sum, sizeof(float) * (size_t)yn);
        s = y;
    } else {
        for (int64_t i = 0; i < yn; i++) y[i] = NAN; /* every output must be written */
    }
    if (lanes) {
        kiln_winol_prepare_weights(w, oc, c, u);
        kiln_winol_run(x, u, b, s, y, n, c, oc, h, wd, relu, scratch, threads);
    } else {
        kiln_wino43_transform_weights(w, oc, c, u);
        kiln_wino43_run(x, u, b, s, y, n, c, oc, h, wd, relu, scratch, threads);
    }
    double worst = 0;
    for (int64_t i = 0; i < yn; i++) {
        double err = fabs((double)y[i] - want[i]) / (1.0 + fabs(want[i]));
        if (!(err <= worst)) worst = err;
    }
    printf("%s: n %lld, %lld -> %lld channels, %lldx%lld, %d thread(s), bias %d, relu %d, sum %s: "
           "error %.3g\n",
           lanes ? "lanes" : "f43", (long long)n, (long long)c, (long long)oc, (long long)h,
           (long long)wd, threads, b != NULL, relu,
           what & SUM_IN_Y ? "in y"
           : what & SUM    ? "apart"
                           : "none",
           worst);
    EXPECT(worst <= 1e-4);
done:
    free(x);
    free(w);
    free(bias);
    free(y);
    free(sum);
    free(u);
    free(scratch);
    free(want);
}

/* ------------------------------------------------------------ inside an engine ------ */

enum { N = 2, C_IN = 16, H = 10, W = 13, C1 = 48, C2 = 64, CLASSES = 8 };
enum { IN_COUNT = N * C_IN * H * W, OUT_COUNT = N * CLASSES * H * W };

static float image[IN_COUNT];
static float wa[C1 * C_IN * 9], ba[C1], wb[C1 * C1 * 9], bb[C1], wc[C2 * C1 * 9], bc[C2];
static float wl[CLASSES * C2], bl[CLASSES];

/* image -> 3x3 + ReLU = r1 -> 3x3 + r1, ReLU -> 3x3 -> 1x1 = "logits" */
static kiln_host_memory *build_plan(void) {
    kiln_builder *b = NULL;
    kiln_network *net = NULL;
    kiln_dims dims = {4, {N, C_IN, H, W}};
    kiln_tensor *x = kiln_test_begin(dims, &b, &net);
    if (!x) return NULL;
    kiln_layer *c1 = NULL, *r1 = NULL, *c2 = NULL, *r2 = NULL, *c3 = NULL, *c4 = NULL;
    kiln_window k3 = kiln_test_window(3, 1, 1), k1 = kiln_test_window(1, 1, 0);
    OK(kiln_network_add_convolution(net, x, C1, k3, 1, kiln_test_weights(wa, C1 * C_IN * 9),
                                    kiln_test_weights(ba, C1), &c1));
    OK(kiln_network_add_activation(net, kiln_test_out0(c1), KILN_ACTIVATION_RELU, 0, 0, &r1));
    OK(kiln_network_add_convolution(net, kiln_test_out0(r1), C1, k3, 1,
                                    kiln_test_weights(wb, C1 * C1 * 9), kiln_test_weights(bb, C1),
                                    &c2));
    /* a residual: ReLU(c2 + r1), which the build fuses into c2 as its sum input */
    kiln_layer *sum = NULL;
    OK(kiln_network_add_elementwise(net, kiln_test_out0(c2), kiln_test_out0(r1),
                                    KILN_ELEMENTWISE_SUM, &sum));
    OK(kiln_network_add_activation(net, kiln_test_out0(sum), KILN_ACTIVATION_RELU, 0, 0, &r2));
    OK(kiln_network_add_convolution(net, kiln_test_out0(r2), C2, k3, 1,
                                    kiln_test_weights(wc, C2 * C1 * 9), kiln_test_weights(bc, C2),
                                    &c3));
    OK(kiln_network_add_convolution(net, kiln_test_out0(c3), CLASSES, k1, 1,
                                    kiln_test_weights(wl, CLASSES * C2),
                                    kiln_test_weights(bl, CLASSES), &c4));
    kiln_tensor *y = kiln_test_out0(c4);
    OK(kiln_tensor_set_name(y, "logits"));
    OK(kiln_network_mark_output(net, y));
    return kiln_test_finish_plan(b, net);
}

static void check_engine(int kernel_available) {
    kiln_test_fill(image, IN_COUNT, 1.0f, &rng);
    kiln_test_fill(wa, C1 * C_IN * 9, 0.1f, &rng);
    kiln_test_fill(ba, C1, 0.1f, &rng);
    kiln_test_fill(wb, C1 * C1 * 9, 0.07f, &rng);
    kiln_test_fill(bb, C1, 0.1f, &rng);
    kiln_test_fill(wc, C2 * C1 * 9, 0.07f, &rng);
    kiln_test_fill(bc, C2, 0.1f, &rng);
    kiln_test_fill(wl, CLASSES * C2, 0.2f, &rng);
    kiln_test_fill(bl, CLASSES, 0.1f, &rng);
    kiln_runtime *rt = NULL;
    OK(kiln_runtime_create(NULL, &rt));
    static float want[OUT_COUNT], got[OUT_COUNT];
    kiln_host_memory *plan = build_plan();
    EXPECT(plan != NULL);
    if (!plan) return;

    kiln_nn_use_dnnl(0);
    kiln_engine *ref = kiln_test_load(rt, plan);
    EXPECT(kiln_test_run(ref, image, want, OUT_COUNT));
    kiln_nn_use_dnnl(1);

    kiln_engine *e = kiln_test_load(rt, plan);
    /* the build names the kernels it planned (kiln inspect) */
    int named43 = 0, named_lanes = 0;
    for (int32_t i = 0; e && i < kiln_engine_num_layers(e); i++) {
        const char *k = kiln_engine_get_layer_kernel(e, i);
        named43 += k && !strcmp(k, "cpu.winograd43.Conv");
        named_lanes += k && !strcmp(k, "cpu.winograd_lanes.Conv");
    }
    printf("engine: layers named cpu.winograd43.Conv %d, cpu.winograd_lanes.Conv %d\n", named43,
           named_lanes);
    EXPECT_EQ_INT(named43, kernel_available ? 1 : 0);
    EXPECT_EQ_INT(named_lanes, kernel_available ? 1 : 0);
    /* the residual Add and both ReLUs are fused into the convolutions: 4 layers are left */
    EXPECT_EQ_INT(e ? kiln_engine_num_layers(e) : 0, 4);
    uint64_t before43 = kiln_wino43_node_runs(), before_lanes = kiln_winol_node_runs();
    EXPECT(kiln_test_run(e, image, got, OUT_COUNT));
    uint64_t runs43 = kiln_wino43_node_runs() - before43;
    uint64_t runs_lanes = kiln_winol_node_runs() - before_lanes;
    printf("engine: convolution runs on F(4x4) stored %llu, on the lane kernel %llu\n",
           (unsigned long long)runs43, (unsigned long long)runs_lanes);
    /* the 3rd and the 2nd convolution, in each of kiln_test_run's two runs */
    EXPECT_EQ_INT((int)runs43, kernel_available ? 2 : 0);
    EXPECT_EQ_INT((int)runs_lanes, kernel_available ? 2 : 0);
    kiln_test_compare("engine with the kernels, against the reference kernels", got, want,
                      OUT_COUNT, 1e-4);
    kiln_engine_destroy(e);
    kiln_engine_destroy(ref);
    kiln_host_memory_destroy(plan);
    kiln_runtime_destroy(rt);
}

int main(void) {
    int available = kiln_wino43_supported(16, 32);
    EXPECT(!kiln_wino43_supported(8, 32));  /* input channels not in blocks of 16 */
    EXPECT(!kiln_wino43_supported(16, 16)); /* output channels not in pairs of blocks */
    EXPECT(!kiln_wino43_supported(24, 32));
    /* the lane kernel: at most 16 tiles, F(2x2) where it has that few, else F(4x4) */
    EXPECT_EQ_INT(kiln_winol_tile(16, 16, 7, 7), available ? 2 : 0);
    EXPECT_EQ_INT(kiln_winol_tile(16, 16, 8, 8), available ? 2 : 0);
    EXPECT_EQ_INT(kiln_winol_tile(16, 16, 9, 8), available ? 4 : 0);
    EXPECT_EQ_INT(kiln_winol_tile(16, 16, 14, 14), available ? 4 : 0);
    EXPECT_EQ_INT(kiln_winol_tile(16, 16, 16, 16), available ? 4 : 0);
    EXPECT_EQ_INT(kiln_winol_tile(16, 16, 17, 16), 0); /* 20 tiles */
    EXPECT_EQ_INT(kiln_winol_tile(8, 16, 7, 7), 0);
    EXPECT_EQ_INT(kiln_winol_tile(16, 24, 7, 7), 0);
    if (!available) {
        printf("no AVX-512 on this CPU (or build): the kernels decline every shape\n");
    } else {
        check_kernel(KERNEL_F43, 1, 16, 32, 4, 4, 1, BIAS);        /* one whole tile */
        check_kernel(KERNEL_F43, 1, 16, 32, 3, 2, 1, BIAS | RELU); /* one partial tile */
        check_kernel(KERNEL_F43, 1, 32, 64, 7, 10, 2,
                     BIAS | RELU);                        /* partial tiles at both edges */
        check_kernel(KERNEL_F43, 2, 48, 32, 13, 9, 2, 0); /* batch 2, no bias, odd sizes */
        check_kernel(KERNEL_F43, 1, 64, 64, 56, 56, 2, BIAS | RELU); /* ResNet-50's first stage */
        check_kernel(KERNEL_F43, 1, 128, 96, 28, 28, 1, BIAS);
        check_kernel(KERNEL_F43, 1, 16, 32, 9, 9, 8, BIAS | RELU); /* more threads than tile rows */
        check_kernel(KERNEL_F43, 2, 32, 64, 11, 7, 2, BIAS | RELU | SUM); /* a residual input */
        check_kernel(KERNEL_F43, 1, 16, 32, 9, 13, 2, SUM_IN_Y);          /* ... in y itself */
        check_kernel(KERNEL_LANES, 1, 16, 16, 7, 7, 1,
                     BIAS | RELU);                            /* F(2x2): 16 tiles, last partial */
        check_kernel(KERNEL_LANES, 1, 32, 48, 8, 8, 2, BIAS); /* 16 whole tiles */
        check_kernel(KERNEL_LANES, 2, 48, 32, 6, 5, 2, 0);    /* 9 tiles, batch 2, no bias */
        check_kernel(KERNEL_LANES, 1, 16, 32, 1, 1, 1, BIAS); /* one pixel */
        check_kernel(KERNEL_LANES, 1, 64, 48, 14, 14, 2,
                     BIAS | RELU);                              /* F(4x4): 16 tiles, partial */
        check_kernel(KERNEL_LANES, 1, 32, 16, 16, 16, 1, RELU); /* 16 whole tiles */
        check_kernel(KERNEL_LANES, 2, 48, 32, 13, 9, 8, BIAS);  /* 12 tiles, more threads */
        check_kernel(KERNEL_LANES, 1, 256, 256, 14, 14, 2,
                     BIAS | RELU);                                     /* ResNet-50's third stage */
        check_kernel(KERNEL_LANES, 1, 512, 512, 7, 7, 2, BIAS | RELU); /* and its fourth */
        check_kernel(KERNEL_LANES, 2, 32, 48, 7, 7, 2, BIAS | RELU | SUM); /* a residual input */
        check_kernel(KERNEL_LANES, 1, 48, 32, 14, 13, 2, RELU | SUM_IN_Y); /* ... in y itself */
    }
    /* without oneDNN activations are never blocked: the engine must not use the kernels */
    if (!kiln_nn_have_dnnl()) printf("kiln without oneDNN: the engine must not use the kernels\n");
    check_engine(available && kiln_nn_have_dnnl());
    TEST_MAIN_END();
}
