/*
 * The CPU kernels of Conv, ConvTranspose, Gemm and MatMul honour the fused attributes of
 * docs/dev/fusion-contract.md: each fused node, run by the CPU executor, must give what
 * the same computation as separate nodes gives (the op, then Add, then the activation op)
 * within 1e-5. Shapes are picked so every GEMM path runs (tiny loops, matrix-vector, the
 * blocked kernel with ragged tiles, depthwise and pointwise convolutions, groups).
 * Built with oneDNN, the same graphs also go through the build-time weight preparation
 * (kiln_cpu_prepare) and must give the same results.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backends/cpu/cpu_executor.h"
#include "backends/cpu/dnnl_common.h"
#include "backends/cpu/dnnl_prepare.h"
#include "ir/ir.h"
#include "runtime/engine.h"
#include "test_util.h"

/* ---------------------------------------------------------------- activations -------- */

typedef struct act_case {
    const char *fused; /* _kiln_activation, NULL: none */
    kiln_op op;
    float alpha, beta;
    int has_params;
} act_case;

static const act_case ACTS[] = {
    {NULL, KILN_OP_COUNT, 0, 0, 0},
    {"Relu", KILN_OP_Relu, 0, 0, 0},
    {"LeakyRelu", KILN_OP_LeakyRelu, 0.1f, 0, 1},
    {"Clip", KILN_OP_Clip, -0.25f, 0.5f, 1},
    {"Sigmoid", KILN_OP_Sigmoid, 0, 0, 0},
    {"Tanh", KILN_OP_Tanh, 0, 0, 0},
    {"HardSigmoid", KILN_OP_HardSigmoid, 0.3f, 0.4f, 1},
    {"Gelu", KILN_OP_Gelu, 0, 0, 0},
    {"GeluTanh", KILN_OP_Gelu, 0, 0, 0},
    {"Swish", KILN_OP_Swish, 1.0f, 0, 0},
};
enum { N_ACTS = sizeof ACTS / sizeof ACTS[0] };

/* ---------------------------------------------------------------- graph building ----- */

static uint32_t rng_state = 12345;
static float frand(void) {
    rng_state = rng_state * 1664525u + 1013904223u;
    return (float)((rng_state >> 8) & 0xffff) / 32768.0f - 1.0f;
}

static int32_t tensor(kiln_graph *g, const char *name, int32_t rank, const int64_t *dims) {
    int32_t t = -1;
    EXPECT_EQ_INT(kiln_graph_add_tensor(g, name, KILN_DTYPE_FLOAT32, rank, dims, &t), KILN_OK);
    return t;
}

static int64_t count_of(int32_t rank, const int64_t *dims) {
    int64_t c = 1;
    for (int32_t i = 0; i < rank; i++) c *= dims[i];
    return c;
}

/* A constant of random values (scaled), or an input when `data` is NULL. */
static int32_t constant(kiln_graph *g, const char *name, int32_t rank, const int64_t *dims,
                        float scale) {
    int32_t t = tensor(g, name, rank, dims);
    int64_t n = count_of(rank, dims);
    float *v = malloc(sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < n; i++) v[i] = frand() * scale;
    EXPECT_EQ_INT(kiln_graph_set_constant(g, t, v, sizeof(float) * (size_t)n), KILN_OK);
    free(v);
    return t;
}

static int32_t input(kiln_graph *g, const char *name, int32_t rank, const int64_t *dims) {
    int32_t t = tensor(g, name, rank, dims);
    EXPECT_EQ_INT(kiln_graph_add_input(g, t), KILN_OK);
    return t;
}

/* Sets the fused activation attributes on node n. */
static void set_fused_act(kiln_graph *g, int32_t n, const act_case *a) {
    if (!a->fused) return;
    EXPECT_EQ_INT(kiln_node_set_string(g, n, "_kiln_activation", a->fused, strlen(a->fused)),
                  KILN_OK);
    if (a->has_params) {
        EXPECT_EQ_INT(kiln_node_set_float(g, n, "_kiln_alpha", a->alpha), KILN_OK);
        EXPECT_EQ_INT(kiln_node_set_float(g, n, "_kiln_beta", a->beta), KILN_OK);
    }
}

/* Adds the unfused activation node reading x into y (or nothing: y = x). */
static int32_t act_node(kiln_graph *g, const act_case *a, int32_t x, int32_t rank,
                        const int64_t *dims, const char *out_name) {
    if (!a->fused) return x;
    int32_t y = tensor(g, out_name, rank, dims), n = -1;
    int32_t opset = a->op == KILN_OP_Clip ? 6 : a->op == KILN_OP_Swish ? 24 : 20;
    EXPECT_EQ_INT(kiln_graph_add_node(g, "act", a->op, opset, &x, 1, &y, 1, &n), KILN_OK);
    switch (a->op) {
    case KILN_OP_LeakyRelu:
        kiln_node_set_float(g, n, "alpha", a->alpha);
        break;
    case KILN_OP_Clip:
        kiln_node_set_float(g, n, "min", a->alpha);
        kiln_node_set_float(g, n, "max", a->beta);
        break;
    case KILN_OP_HardSigmoid:
        kiln_node_set_float(g, n, "alpha", a->alpha);
        kiln_node_set_float(g, n, "beta", a->beta);
        break;
    case KILN_OP_Swish:
        kiln_node_set_float(g, n, "alpha", a->alpha);
        break;
    case KILN_OP_Gelu:
        if (!strcmp(a->fused, "GeluTanh")) kiln_node_set_string(g, n, "approximate", "tanh", 4);
        break;
    default:
        break;
    }
    return y;
}

/* ---------------------------------------------------------------- running ------------ */

typedef struct feed {
    int32_t rank;
    int64_t dims[KILN_MAX_DIMS];
    const float *data;
} feed;

/* How a graph runs: BASELINE and REF on the reference kernels alone; DNNL with oneDNN
 * where it takes the node; PREPARED after the build-time weight preparation, with oneDNN;
 * DECODED prepared, then run without oneDNN (the reference kernels decode the weights).
 * Without oneDNN, all are the reference kernels (preparation does nothing). */
enum { BASELINE = -1, REF, DNNL, PREPARED, DECODED, N_MODES };
static const char *MODE_NAMES[] = {"reference", "oneDNN", "prepared", "prepared, decoded"};

static int prepared_nodes; /* nodes whose weights kiln_cpu_prepare reordered */

/* Runs g (inputs in order from feeds) in `mode` and copies its one output into y. */
static int run_graph(kiln_graph *g, const feed *feeds, float *y, int64_t n, int threads, int mode) {
    int prepare = mode == PREPARED || mode == DECODED;
    kiln_nn_use_dnnl(mode != BASELINE && mode != REF);
    kiln_engine e;
    memset(&e, 0, sizeof e);
    e.graph = g;
    e.num_threads = threads;
    if (kiln_engine_compute_liveness(&e) != KILN_OK) return 0;
    int ok = 1;
    if (prepare) {
        kiln_tview *views = calloc((size_t)g->tensor_count + 1, sizeof *views);
        for (int32_t t = 0; t < g->tensor_count; t++) {
            const kiln_ir_tensor *it = &g->tensors[t];
            views[t].dtype = it->dtype;
            views[t].rank = it->rank;
            memcpy(views[t].dims, it->dims, sizeof it->dims);
        }
        if (kiln_cpu_prepare(&e, views) != KILN_OK) {
            fprintf(stderr, "prepare: %s\n", kiln_last_error());
            ok = 0;
        }
        for (int32_t i = 0; i < g->node_count; i++)
            if (kiln_node_attr(&g->nodes[i], "_kiln_wshape")) prepared_nodes++;
        free(views);
    }
    if (mode == DECODED) kiln_nn_use_dnnl(0);
    kiln_cpu_state s;
    ok = ok && kiln_cpu_state_init(&s, g, e.first_use, e.last_use, threads) == KILN_OK;
    if (ok) {
        for (int32_t i = 0; i < g->input_count; i++) {
            kiln_tview *v = &s.values[g->inputs[i]];
            v->dtype = KILN_DTYPE_FLOAT32;
            v->rank = feeds[i].rank;
            memcpy(v->dims, feeds[i].dims, sizeof v->dims);
            v->data = (void *)feeds[i].data;
        }
        /* twice: the second run reuses the planned arena and any per-node state */
        for (int rep = 0; ok && rep < 2; rep++) {
            ok = kiln_cpu_run(&s) == KILN_OK;
            if (!ok) fprintf(stderr, "run: %s\n", kiln_last_error());
        }
        const kiln_tview *o = &s.values[g->outputs[0]];
        if (ok && kiln_tview_count(o) == n)
            memcpy(y, o->data, sizeof(float) * (size_t)n);
        else
            ok = 0;
        kiln_cpu_state_free(&s);
    }
    free(e.first_use);
    free(e.last_use);
    return ok;
}

static int compare(const char *what, const float *got, const float *want, int64_t n) {
    double worst = 0;
    int64_t at = 0;
    for (int64_t i = 0; i < n; i++) {
        double err = fabs((double)got[i] - (double)want[i]) / (1.0 + fabs((double)want[i]));
        if (!(err <= worst)) {
            worst = err;
            at = i;
        }
    }
    if (worst <= 1e-5) return 1;
    fprintf(stderr, "%s: element %lld is %.8g, expected %.8g\n", what, (long long)at,
            (double)got[at], (double)want[at]);
    kiln_test_failures++;
    return 0;
}

/* ---------------------------------------------------------------- Conv --------------- */

typedef struct conv_case {
    const char *name;
    int64_t n, c, h, w, m, kh, kw, group;
    int64_t stride[2], dilation[2], pads[4];
} conv_case;

static const conv_case CONVS[] = {
    {"3x3", 2, 8, 9, 9, 16, 3, 3, 1, {1, 1}, {1, 1}, {1, 1, 1, 1}},
    {"tiny", 1, 3, 5, 5, 4, 3, 3, 1, {1, 1}, {1, 1}, {0, 0, 0, 0}},
    {"pointwise", 1, 16, 8, 8, 24, 1, 1, 1, {1, 1}, {1, 1}, {0, 0, 0, 0}},
    {"depthwise", 2, 8, 10, 10, 8, 3, 3, 8, {2, 2}, {1, 1}, {1, 1, 1, 1}},
    {"grouped", 1, 8, 11, 9, 12, 3, 3, 4, {1, 2}, {2, 1}, {0, 1, 2, 1}},
    {"wide", 1, 32, 14, 14, 40, 3, 3, 1, {1, 1}, {1, 1}, {1, 1, 1, 1}},
    {"stem", 1, 3, 32, 32, 16, 7, 7, 1, {2, 2}, {1, 1}, {3, 3, 3, 3}},
    {"winograd", 1, 16, 10, 10, 32, 3, 3, 1, {1, 1}, {1, 1}, {1, 1, 1, 1}},
};

static void conv_out_dims(const conv_case *cc, int64_t *dims) {
    dims[0] = cc->n;
    dims[1] = cc->m;
    int64_t in[2] = {cc->h, cc->w}, k[2] = {cc->kh, cc->kw};
    for (int d = 0; d < 2; d++) {
        int64_t span = (k[d] - 1) * cc->dilation[d] + 1;
        dims[2 + d] = (in[d] + cc->pads[d] + cc->pads[2 + d] - span) / cc->stride[d] + 1;
    }
}

/* Conv (+ sum) (+ activation): fused into one node, or as separate nodes. */
static kiln_graph *conv_graph(const conv_case *cc, const act_case *a, int with_sum, int fused,
                              int with_bias) {
    kiln_graph *g = NULL;
    kiln_graph_create("conv", &g);
    rng_state = 777; /* same weights in both graphs */
    int64_t xd[4] = {cc->n, cc->c, cc->h, cc->w},
            wd[4] = {cc->m, cc->c / cc->group, cc->kh, cc->kw};
    int64_t bd[1] = {cc->m}, yd[4];
    conv_out_dims(cc, yd);
    int32_t x = input(g, "x", 4, xd);
    int32_t s = with_sum ? input(g, "s", 4, yd) : -1;
    int32_t w = constant(g, "w", 4, wd, 0.5f);
    int32_t b = with_bias ? constant(g, "b", 1, bd, 1.0f) : -1;
    int32_t conv_out = tensor(g, "conv_out", 4, yd), n = -1;
    int32_t ins[4] = {x, w, b, s};
    EXPECT_EQ_INT(kiln_graph_add_node(g, "conv", KILN_OP_Conv, 11, ins, fused && with_sum ? 4 : 3,
                                      &conv_out, 1, &n),
                  KILN_OK);
    int64_t k[2] = {cc->kh, cc->kw};
    kiln_node_set_ints(g, n, "kernel_shape", k, 2);
    kiln_node_set_ints(g, n, "strides", cc->stride, 2);
    kiln_node_set_ints(g, n, "dilations", cc->dilation, 2);
    kiln_node_set_ints(g, n, "pads", cc->pads, 4);
    kiln_node_set_int(g, n, "group", cc->group);
    int32_t y = conv_out;
    if (fused) {
        if (with_sum) kiln_node_set_int(g, n, "_kiln_sum_input", 3);
        set_fused_act(g, n, a);
    } else {
        if (with_sum) {
            int32_t added = tensor(g, "added", 4, yd), an = -1, add_in[2] = {conv_out, s};
            EXPECT_EQ_INT(kiln_graph_add_node(g, "add", KILN_OP_Add, 14, add_in, 2, &added, 1, &an),
                          KILN_OK);
            y = added;
        }
        y = act_node(g, a, y, 4, yd, "y");
    }
    kiln_graph_add_output(g, y);
    return g;
}

static void test_conv(int threads) {
    for (size_t ci = 0; ci < sizeof CONVS / sizeof CONVS[0]; ci++) {
        const conv_case *cc = &CONVS[ci];
        int64_t xd[4] = {cc->n, cc->c, cc->h, cc->w}, yd[4];
        conv_out_dims(cc, yd);
        int64_t nx = count_of(4, xd), ny = count_of(4, yd);
        float *x = malloc(sizeof(float) * (size_t)nx), *s = malloc(sizeof(float) * (size_t)ny);
        float *want = malloc(sizeof(float) * (size_t)ny), *got = malloc(sizeof(float) * (size_t)ny);
        rng_state = 99;
        for (int64_t i = 0; i < nx; i++) x[i] = frand();
        for (int64_t i = 0; i < ny; i++) s[i] = frand();
        for (int with_sum = 0; with_sum < 2; with_sum++)
            for (int ai = 0; ai < N_ACTS; ai++) {
                const act_case *a = &ACTS[ai];
                int with_bias = (ai + (int)ci) % 3 != 0;
                feed feeds[2] = {{4, {xd[0], xd[1], xd[2], xd[3]}, x},
                                 {4, {yd[0], yd[1], yd[2], yd[3]}, s}};
                kiln_graph *ref = conv_graph(cc, a, with_sum, 0, with_bias);
                EXPECT(run_graph(ref, feeds, want, ny, threads, BASELINE));
                for (int mode = 0; mode < N_MODES; mode++) {
                    kiln_graph *fg = conv_graph(cc, a, with_sum, 1, with_bias);
                    char what[160];
                    snprintf(what, sizeof what, "Conv %s%s%s%s, %d thread(s), %s", cc->name,
                             with_sum ? " + sum" : "", a->fused ? " + " : "",
                             a->fused ? a->fused : "", threads, MODE_NAMES[mode]);
                    if (!run_graph(fg, feeds, got, ny, threads, mode)) {
                        fprintf(stderr, "%s: did not run\n", what);
                        kiln_test_failures++;
                    } else {
                        compare(what, got, want, ny);
                    }
                    kiln_graph_destroy(fg);
                }
                kiln_graph_destroy(ref);
            }
        free(x);
        free(s);
        free(want);
        free(got);
    }
}

/* ---------------------------------------------------------------- ConvTranspose ------ */

static kiln_graph *convtranspose_graph(const act_case *a, int fused) {
    kiln_graph *g = NULL;
    kiln_graph_create("convtranspose", &g);
    rng_state = 4242;
    int64_t xd[4] = {2, 4, 5, 6}, wd[4] = {4, 3, 3, 3}, bd[1] = {6}, yd[4] = {2, 6, 11, 13};
    int32_t x = input(g, "x", 4, xd);
    int32_t w = constant(g, "w", 4, wd, 0.5f), b = constant(g, "b", 1, bd, 1.0f);
    int32_t out = tensor(g, "ct_out", 4, yd), n = -1, ins[3] = {x, w, b};
    EXPECT_EQ_INT(kiln_graph_add_node(g, "ct", KILN_OP_ConvTranspose, 11, ins, 3, &out, 1, &n),
                  KILN_OK);
    int64_t strides[2] = {2, 2};
    kiln_node_set_ints(g, n, "strides", strides, 2);
    kiln_node_set_int(g, n, "group", 2);
    int32_t y = out;
    if (fused)
        set_fused_act(g, n, a);
    else
        y = act_node(g, a, out, 4, yd, "y");
    kiln_graph_add_output(g, y);
    return g;
}

static void test_convtranspose(int threads) {
    int64_t xd[4] = {2, 4, 5, 6}, ny = 2 * 6 * 11 * 13;
    float x[2 * 4 * 5 * 6], *want = malloc(sizeof(float) * (size_t)ny),
                            *got = malloc(sizeof(float) * (size_t)ny);
    rng_state = 5;
    for (int i = 0; i < 2 * 4 * 5 * 6; i++) x[i] = frand();
    feed f = {4, {xd[0], xd[1], xd[2], xd[3]}, x};
    for (int ai = 1; ai < N_ACTS; ai++)
        for (int mode = 0; mode < N_MODES; mode++) {
            kiln_graph *ref = convtranspose_graph(&ACTS[ai], 0);
            kiln_graph *fg = convtranspose_graph(&ACTS[ai], 1);
            char what[128];
            snprintf(what, sizeof what, "ConvTranspose + %s, %d thread(s), %s", ACTS[ai].fused,
                     threads, MODE_NAMES[mode]);
            EXPECT(run_graph(ref, &f, want, ny, threads, BASELINE));
            if (run_graph(fg, &f, got, ny, threads, mode))
                compare(what, got, want, ny);
            else
                kiln_test_failures++;
            kiln_graph_destroy(ref);
            kiln_graph_destroy(fg);
        }
    free(want);
    free(got);
}

/* ---------------------------------------------------------------- Gemm --------------- */

typedef struct gemm_case {
    const char *name;
    int64_t m, k, n;
    int trans_a, trans_b, c_rank; /* c_rank 0: no C */
    float alpha, beta;
} gemm_case;

static const gemm_case GEMMS[] = {
    {"fc", 1, 200, 70, 0, 1, 1, 1.0f, 1.0f},   {"wide fc", 1, 48, 260, 0, 1, 1, 1.0f, 1.0f},
    {"batch", 9, 64, 40, 0, 1, 1, 1.0f, 1.0f}, {"matrix C", 5, 30, 40, 1, 0, 2, 2.0f, 0.5f},
    {"no C", 33, 50, 21, 0, 0, 0, 1.0f, 1.0f},
};

static kiln_graph *gemm_graph(const gemm_case *gc, const act_case *a, int fused) {
    kiln_graph *g = NULL;
    kiln_graph_create("gemm", &g);
    rng_state = 31337;
    int64_t ad[2] = {gc->trans_a ? gc->k : gc->m, gc->trans_a ? gc->m : gc->k};
    int64_t bd[2] = {gc->trans_b ? gc->n : gc->k, gc->trans_b ? gc->k : gc->n};
    int64_t cd[2] = {gc->c_rank == 2 ? gc->m : gc->n, gc->n}, yd[2] = {gc->m, gc->n};
    int32_t x = input(g, "a", 2, ad), b = constant(g, "b", 2, bd, 0.3f);
    int32_t c = gc->c_rank ? constant(g, "c", gc->c_rank, gc->c_rank == 2 ? cd : cd + 1, 1.0f) : -1;
    int32_t out = tensor(g, "gemm_out", 2, yd), n = -1, ins[3] = {x, b, c};
    EXPECT_EQ_INT(
        kiln_graph_add_node(g, "gemm", KILN_OP_Gemm, 13, ins, gc->c_rank ? 3 : 2, &out, 1, &n),
        KILN_OK);
    kiln_node_set_int(g, n, "transA", gc->trans_a);
    kiln_node_set_int(g, n, "transB", gc->trans_b);
    kiln_node_set_float(g, n, "alpha", gc->alpha);
    kiln_node_set_float(g, n, "beta", gc->beta);
    int32_t y = out;
    if (fused)
        set_fused_act(g, n, a);
    else
        y = act_node(g, a, out, 2, yd, "y");
    kiln_graph_add_output(g, y);
    return g;
}

static void test_gemm(int threads) {
    for (size_t gi = 0; gi < sizeof GEMMS / sizeof GEMMS[0]; gi++) {
        const gemm_case *gc = &GEMMS[gi];
        int64_t na = gc->m * gc->k, ny = gc->m * gc->n;
        float *x = malloc(sizeof(float) * (size_t)na), *want = malloc(sizeof(float) * (size_t)ny),
              *got = malloc(sizeof(float) * (size_t)ny);
        rng_state = 8;
        for (int64_t i = 0; i < na; i++) x[i] = frand();
        feed f = {2, {gc->trans_a ? gc->k : gc->m, gc->trans_a ? gc->m : gc->k}, x};
        for (int ai = 0; ai < N_ACTS; ai++) {
            for (int mode = 0; mode < N_MODES; mode++) {
                kiln_graph *ref = gemm_graph(gc, &ACTS[ai], 0), *fg = gemm_graph(gc, &ACTS[ai], 1);
                char what[128];
                snprintf(what, sizeof what, "Gemm %s + %s, %d thread(s), %s", gc->name,
                         ACTS[ai].fused ? ACTS[ai].fused : "nothing", threads, MODE_NAMES[mode]);
                EXPECT(run_graph(ref, &f, want, ny, threads, BASELINE));
                if (run_graph(fg, &f, got, ny, threads, mode))
                    compare(what, got, want, ny);
                else
                    kiln_test_failures++;
                kiln_graph_destroy(ref);
                kiln_graph_destroy(fg);
            }
        }
        free(x);
        free(want);
        free(got);
    }
}

/* ---------------------------------------------------------------- MatMul ------------- */

typedef struct matmul_case {
    const char *name;
    int32_t a_rank, b_rank;
    int64_t a[4], b[4], y[4];
    int32_t y_rank;
    int b_const;
} matmul_case;

static const matmul_case MATMULS[] = {
    {"linear", 3, 2, {2, 7, 32}, {32, 48}, {2, 7, 48}, 3, 1},
    {"vector", 2, 2, {1, 64}, {64, 100}, {1, 100}, 2, 1},
    {"wide vector", 2, 2, {1, 40}, {40, 300}, {1, 300}, 2, 1},
    {"big", 2, 2, {70, 96}, {96, 130}, {70, 130}, 2, 1},
    {"batched", 3, 3, {3, 4, 16}, {3, 16, 20}, {3, 4, 20}, 3, 0},
    {"broadcast", 4, 3, {2, 3, 5, 8}, {3, 8, 6}, {2, 3, 5, 6}, 4, 0},
};

static kiln_graph *matmul_graph(const matmul_case *mc, const act_case *a, int with_bias,
                                int fused) {
    kiln_graph *g = NULL;
    kiln_graph_create("matmul", &g);
    rng_state = 2024;
    int64_t nd[1] = {mc->y[mc->y_rank - 1]};
    int32_t x = input(g, "a", mc->a_rank, mc->a);
    int32_t b =
        mc->b_const ? constant(g, "b", mc->b_rank, mc->b, 0.3f) : input(g, "b", mc->b_rank, mc->b);
    int32_t bias = with_bias ? constant(g, "bias", 1, nd, 1.0f) : -1;
    int32_t out = tensor(g, "mm_out", mc->y_rank, mc->y), n = -1, ins[3] = {x, b, bias};
    EXPECT_EQ_INT(kiln_graph_add_node(g, "mm", KILN_OP_MatMul, 13, ins, fused && with_bias ? 3 : 2,
                                      &out, 1, &n),
                  KILN_OK);
    int32_t y = out;
    if (fused) {
        if (with_bias) kiln_node_set_int(g, n, "_kiln_bias_input", 2);
        set_fused_act(g, n, a);
    } else {
        if (with_bias) {
            int32_t added = tensor(g, "added", mc->y_rank, mc->y), an = -1, add_in[2] = {out, bias};
            EXPECT_EQ_INT(kiln_graph_add_node(g, "add", KILN_OP_Add, 14, add_in, 2, &added, 1, &an),
                          KILN_OK);
            y = added;
        }
        y = act_node(g, a, y, mc->y_rank, mc->y, "y");
    }
    kiln_graph_add_output(g, y);
    return g;
}

static void test_matmul(int threads) {
    for (size_t mi = 0; mi < sizeof MATMULS / sizeof MATMULS[0]; mi++) {
        const matmul_case *mc = &MATMULS[mi];
        int64_t na = count_of(mc->a_rank, mc->a), nb = count_of(mc->b_rank, mc->b);
        int64_t ny = count_of(mc->y_rank, mc->y);
        float *x = malloc(sizeof(float) * (size_t)na), *bv = malloc(sizeof(float) * (size_t)nb);
        float *want = malloc(sizeof(float) * (size_t)ny), *got = malloc(sizeof(float) * (size_t)ny);
        rng_state = 3;
        for (int64_t i = 0; i < na; i++) x[i] = frand();
        for (int64_t i = 0; i < nb; i++) bv[i] = frand();
        feed f[2];
        f[0].rank = mc->a_rank;
        memcpy(f[0].dims, mc->a, sizeof mc->a);
        f[0].data = x;
        f[1].rank = mc->b_rank;
        memcpy(f[1].dims, mc->b, sizeof mc->b);
        f[1].data = bv;
        for (int with_bias = 0; with_bias < 2; with_bias++)
            for (int ai = 0; ai < N_ACTS; ai++)
                for (int mode = 0; mode < N_MODES; mode++) {
                    kiln_graph *ref = matmul_graph(mc, &ACTS[ai], with_bias, 0);
                    kiln_graph *fg = matmul_graph(mc, &ACTS[ai], with_bias, 1);
                    char what[128];
                    snprintf(what, sizeof what, "MatMul %s%s + %s, %d thread(s), %s", mc->name,
                             with_bias ? " + bias" : "",
                             ACTS[ai].fused ? ACTS[ai].fused : "nothing", threads,
                             MODE_NAMES[mode]);
                    EXPECT(run_graph(ref, f, want, ny, threads, BASELINE));
                    if (run_graph(fg, f, got, ny, threads, mode))
                        compare(what, got, want, ny);
                    else
                        kiln_test_failures++;
                    kiln_graph_destroy(ref);
                    kiln_graph_destroy(fg);
                }
        free(x);
        free(bv);
        free(want);
        free(got);
    }
}

/* An unknown activation name is a clear error, not a silent no-op. */
static void test_unknown_activation(void) {
    static const act_case bogus = {"Softplus", KILN_OP_COUNT, 0, 0, 0};
    kiln_graph *g = gemm_graph(&GEMMS[2], &bogus, 1); /* "batch": 9 x 64 -> 40 */
    float x[9 * 64], y[9 * 40];
    for (int i = 0; i < 9 * 64; i++) x[i] = 0.5f;
    feed f = {2, {9, 64}, x};
    EXPECT(!run_graph(g, &f, y, 9 * 40, 1, REF));
    EXPECT_STR_CONTAINS(kiln_last_error(), "Softplus");
    kiln_graph_destroy(g);
}

int main(void) {
    /* tiny layers would run on one thread: give oneDNN's primitives every thread, and cut
     * every one that can be cut into slices (dnnl_threads.h) */
    setenv("KILN_DNNL_FLOPS_PER_THREAD", "1", 1);
    setenv("KILN_DNNL_SPLIT_MIN_FLOPS", "0", 1);
    setenv("KILN_DNNL_THREADING", "pool", 1);
    for (int threads = 1; threads <= 2; threads++) {
        test_conv(threads);
        test_convtranspose(threads);
        test_gemm(threads);
        test_matmul(threads);
    }
    test_unknown_activation();
    /* with oneDNN, every Conv / Gemm and the MatMuls with constant B get prepared weights */
    printf("%d nodes prepared\n", prepared_nodes);
    if (kiln_nn_have_dnnl())
        EXPECT(prepared_nodes > 100);
    else
        EXPECT_EQ_INT(prepared_nodes, 0);
    TEST_MAIN_END();
}
