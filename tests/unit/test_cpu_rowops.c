/*
 * The vectorized row kernels of the CPU backend (nn_fast.h) against double-precision
 * references on random data, at every instruction set this CPU has (scalar, AVX2,
 * AVX-512 forced in turn), with 1 and 2 threads (sizes on both sides of
 * KILN_NN_FAST_PAR_MIN), on row lengths that hit every tail
 * (1, 7, 16, 33, 768, 1000) and on cases the fast paths must leave to the reference
 * kernels (statistics outputs, broadcast scale, a softmax axis that is not the last).
 * Tolerance TOL = 2e-5: LayerNormalization |got - want| <= TOL * (1 + |want|) (float
 * statistics over rows of up to 1000 values are good to a few 1e-7; the slack covers rows
 * with a mean far from zero); Softmax relative, |got - want| <= TOL * (1e-24 + |want|)
 * (the vector exp is good to ~2 ulp; it gives 0 below e^-80, where the floor makes the
 * difference negligible).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backends/cpu/cpu_executor.h"
#include "backends/cpu/nn_fast.h"
#include "ir/ir.h"
#include "runtime/engine.h"
#include "test_util.h"

#define TOL 2e-5

static uint32_t rng = 2024;
static float frand(void) { /* uniform in [-1, 1) */
    rng = rng * 1664525u + 1013904223u;
    return (float)((rng >> 8) & 0xffffff) / 8388608.0f - 1.0f;
}

static int64_t count_of(int32_t rank, const int64_t *dims) {
    int64_t c = 1;
    for (int32_t i = 0; i < rank; i++) c *= dims[i];
    return c;
}

static int32_t tensor(kiln_graph *g, const char *name, int32_t rank, const int64_t *dims) {
    int32_t t = -1;
    EXPECT_EQ_INT(kiln_graph_add_tensor(g, name, KILN_DTYPE_FLOAT32, rank, dims, &t), KILN_OK);
    return t;
}

static int32_t constant(kiln_graph *g, const char *name, int32_t rank, const int64_t *dims,
                        const float *v) {
    int32_t t = tensor(g, name, rank, dims);
    EXPECT_EQ_INT(kiln_graph_set_constant(g, t, v, sizeof(float) * (size_t)count_of(rank, dims)),
                  KILN_OK);
    return t;
}

/* Runs g (inputs from `feeds`, ranks/dims of the graph's input tensors) with `threads`,
 * twice (the second on the planned arena), and copies output 0 into y. */
static int run(kiln_graph *g, const float *const *feeds, float *y, int64_t n, int threads) {
    kiln_engine e;
    memset(&e, 0, sizeof e);
    e.graph = g;
    if (kiln_engine_compute_liveness(&e) != KILN_OK) return 0;
    kiln_cpu_state s;
    int ok = kiln_cpu_state_init(&s, g, e.first_use, e.last_use, threads) == KILN_OK;
    for (int rep = 0; ok && rep < 2; rep++) {
        for (int32_t i = 0; i < g->input_count; i++) {
            const kiln_ir_tensor *it = &g->tensors[g->inputs[i]];
            kiln_tview *v = &s.values[g->inputs[i]];
            v->dtype = it->dtype;
            v->rank = it->rank;
            memcpy(v->dims, it->dims, sizeof v->dims);
            v->data = (void *)feeds[i];
        }
        ok = kiln_cpu_run(&s) == KILN_OK;
        if (!ok) fprintf(stderr, "run: %s\n", kiln_last_error());
    }
    if (ok) {
        const kiln_tview *o = &s.values[g->outputs[0]];
        ok = kiln_tview_count(o) == n;
        if (ok) memcpy(y, o->data, sizeof(float) * (size_t)n);
    }
    if (s.values) kiln_cpu_state_free(&s);
    free(e.first_use);
    free(e.last_use);
    return ok;
}

/* Fails unless |got - want| <= TOL * (floor + |want|) everywhere. */
static void compare(const char *what, const float *got, const double *want, int64_t n,
                    double floor) {
    double worst = 0;
    int64_t at = 0;
    for (int64_t i = 0; i < n; i++) {
        double err = fabs((double)got[i] - want[i]) / (floor + fabs(want[i]));
        if (!(err <= worst)) { /* NaN counts as worst */
            worst = isnan(err) ? INFINITY : err;
            at = i;
        }
    }
    if (!(worst <= TOL)) {
        fprintf(stderr, "%s: error %.3g at %lld (got %.9g, want %.9g)\n", what, worst,
                (long long)at, (double)got[at], want[at]);
        kiln_test_failures++;
    }
}

/* Runs g on one input x and compares its output with want (compare's floor); a run that
 * fails is a failure too. */
static void run_compare(const char *what, kiln_graph *g, const float *x, float *y,
                        const double *want, int64_t n, int threads, double floor) {
    const float *feeds[1] = {x};
    if (!run(g, feeds, y, n, threads)) {
        fprintf(stderr, "%s: did not run\n", what);
        kiln_test_failures++;
    } else {
        compare(what, y, want, n, floor);
    }
}

static const int ISAS[] = {KILN_ISA_SCALAR, KILN_ISA_AVX2, KILN_ISA_AVX512};
static const char *ISA_NAMES[] = {"scalar", "AVX2", "AVX-512"};

/* ---------------------------------------------------------------- LayerNormalization -- */

typedef struct ln_case {
    int32_t rank;
    int64_t dims[3];
    int64_t axis;
    int bias;      /* 0: no bias input */
    float offset;  /* added to x: rows with a mean far from zero */
    int stats;     /* ask for Mean / InvStdDev too (the reference kernel's case) */
    int broadcast; /* scale of shape (1) (reference kernel's case) */
} ln_case;

static const ln_case LNS[] = {
    {2, {128, 768}, -1, 1, 0.0f, 0, 0},
    {3, {2, 5, 7}, -1, 1, 0.5f, 0, 0},
    {2, {3, 1}, -1, 1, 0.0f, 0, 0},
    {2, {4, 16}, -1, 0, 0.0f, 0, 0},
    {2, {9, 33}, 1, 1, 0.0f, 0, 0},
    {3, {2, 4, 250}, 1, 1, 10.0f, 0, 0},
    {2, {64, 1000}, -1, 1, 3.0f, 0, 0},
    {2, {6, 768}, -1, 1, 0.0f, 1, 0},
    {2, {6, 20}, -1, 1, 0.0f, 0, 1},
    {2, {1100, 1000}, -1, 1, 0.0f, 0, 0}, /* over KILN_NN_FAST_PAR_MIN: split over threads */
    {2, {128, 768}, -1, 1, 0.0f, 0, 0},   /* BERT's, split too (KILN_NN_FAST_PAR_MIN 1 << 16) */
};

static void test_layernorm(void) {
    const float eps = 1e-5f;
    for (size_t ci = 0; ci < sizeof LNS / sizeof LNS[0]; ci++) {
        const ln_case *c = &LNS[ci];
        int32_t axis = (int32_t)(c->axis < 0 ? c->axis + c->rank : c->axis);
        int64_t rows = 1, cols = 1;
        for (int32_t i = 0; i < c->rank; i++) *(i < axis ? &rows : &cols) *= c->dims[i];
        int64_t n = rows * cols, pn = c->broadcast ? 1 : cols;
        float *x = malloc(sizeof(float) * (size_t)n), *y = malloc(sizeof(float) * (size_t)n);
        float *sc = malloc(sizeof(float) * (size_t)pn), *bi = malloc(sizeof(float) * (size_t)pn);
        double *want = malloc(sizeof(double) * (size_t)n);
        for (int64_t i = 0; i < n; i++) x[i] = frand() * 2.0f + c->offset;
        for (int64_t j = 0; j < pn; j++) {
            sc[j] = 1.0f + 0.5f * frand();
            bi[j] = c->bias ? frand() : 0.0f;
        }
        for (int64_t r = 0; r < rows; r++) {
            const float *xr = x + r * cols;
            double mean = 0, var = 0;
            for (int64_t j = 0; j < cols; j++) mean += xr[j];
            mean /= (double)cols;
            for (int64_t j = 0; j < cols; j++) var += (xr[j] - mean) * (xr[j] - mean);
            double inv = 1.0 / sqrt(var / (double)cols + eps);
            for (int64_t j = 0; j < cols; j++) {
                int64_t p = c->broadcast ? 0 : j;
                want[r * cols + j] = (xr[j] - mean) * inv * sc[p] + bi[p];
            }
        }
        for (int isa = 0; isa < 3; isa++)
            for (int threads = 1; threads <= 2; threads++) {
                kiln_nn_fast_force_isa(ISAS[isa]);
                kiln_graph *g = NULL;
                kiln_graph_create("ln", &g);
                int32_t xt = tensor(g, "x", c->rank, c->dims);
                kiln_graph_add_input(g, xt);
                int64_t pd[3] = {1, 1, 1};
                int32_t prank = c->broadcast ? 1 : c->rank - axis;
                if (!c->broadcast)
                    for (int32_t i = axis; i < c->rank; i++) pd[i - axis] = c->dims[i];
                int32_t ins[3] = {xt, constant(g, "scale", prank, pd, sc),
                                  c->bias ? constant(g, "bias", prank, pd, bi) : -1};
                int64_t sd[3];
                for (int32_t i = 0; i < c->rank; i++) sd[i] = i < axis ? c->dims[i] : 1;
                int32_t outs[3] = {tensor(g, "y", c->rank, c->dims), -1, -1}, node = -1;
                if (c->stats) {
                    outs[1] = tensor(g, "mean", c->rank, sd);
                    outs[2] = tensor(g, "inv", c->rank, sd);
                }
                EXPECT_EQ_INT(kiln_graph_add_node(g, "ln", KILN_OP_LayerNormalization, 17, ins,
                                                  c->bias ? 3 : 2, outs, c->stats ? 3 : 1, &node),
                              KILN_OK);
                kiln_node_set_int(g, node, "axis", c->axis);
                kiln_node_set_float(g, node, "epsilon", eps);
                kiln_graph_add_output(g, outs[0]);
                char what[128];
                snprintf(what, sizeof what, "LayerNormalization case %zu, %s, %d thread(s)", ci,
                         ISA_NAMES[isa], threads);
                run_compare(what, g, x, y, want, n, threads, 1.0);
                kiln_graph_destroy(g);
            }
        kiln_nn_fast_force_isa(KILN_ISA_AUTO);
        free(x);
        free(y);
        free(sc);
        free(bi);
        free(want);
    }
}

/* ---------------------------------------------------------------- Softmax ------------ */

typedef struct sm_case {
    int32_t rank;
    int64_t dims[4];
    int64_t axis;
    int32_t opset;
    float scale; /* x = scale * uniform(-1, 1) */
    int masked;  /* every third element gets -3.4e38 (an attention mask of finfo.min) */
} sm_case;

static const sm_case SMS[] = {
    {4, {1, 12, 128, 128}, -1, 13, 8.0f, 0},
    {4, {1, 2, 16, 128}, -1, 13, 4.0f, 1},
    {2, {3, 1}, -1, 13, 1.0f, 0},
    {2, {5, 7}, -1, 13, 30.0f, 0},
    {2, {4, 33}, 1, 13, 100.0f, 0},
    {3, {2, 3, 17}, 1, 11, 3.0f, 0},
    {3, {2, 9, 5}, 1, 13, 2.0f, 0},     /* not the last axis: the reference / oneDNN */
    {2, {1100, 1000}, -1, 13, 5.0f, 1}, /* over KILN_NN_FAST_PAR_MIN: split over threads */
};

static void test_softmax(void) {
    for (size_t ci = 0; ci < sizeof SMS / sizeof SMS[0]; ci++) {
        const sm_case *c = &SMS[ci];
        int32_t axis = (int32_t)(c->axis < 0 ? c->axis + c->rank : c->axis);
        int64_t outer = 1, len = 1, inner = 1;
        for (int32_t i = 0; i < c->rank; i++) {
            if (i < axis)
                outer *= c->dims[i];
            else if (i == axis || c->opset < 13)
                len *= c->dims[i];
            else
                inner *= c->dims[i];
        }
        int64_t n = outer * len * inner;
        float *x = malloc(sizeof(float) * (size_t)n), *y = malloc(sizeof(float) * (size_t)n);
        double *want = malloc(sizeof(double) * (size_t)n);
        for (int64_t i = 0; i < n; i++)
            x[i] = c->masked && i % 3 == 1 ? -3.4e38f : c->scale * frand();
        for (int64_t o = 0; o < outer; o++)
            for (int64_t k = 0; k < inner; k++) {
                const float *xr = x + o * len * inner + k;
                double mx = -INFINITY, sum = 0;
                for (int64_t j = 0; j < len; j++) mx = xr[j * inner] > mx ? xr[j * inner] : mx;
                for (int64_t j = 0; j < len; j++) sum += exp((double)xr[j * inner] - mx);
                for (int64_t j = 0; j < len; j++)
                    want[o * len * inner + k + j * inner] = exp((double)xr[j * inner] - mx) / sum;
            }
        for (int isa = 0; isa < 3; isa++)
            for (int threads = 1; threads <= 2; threads++) {
                kiln_nn_fast_force_isa(ISAS[isa]);
                kiln_graph *g = NULL;
                kiln_graph_create("sm", &g);
                int32_t xt = tensor(g, "x", c->rank, c->dims),
                        yt = tensor(g, "y", c->rank, c->dims);
                kiln_graph_add_input(g, xt);
                int32_t node = -1;
                EXPECT_EQ_INT(
                    kiln_graph_add_node(g, "sm", KILN_OP_Softmax, c->opset, &xt, 1, &yt, 1, &node),
                    KILN_OK);
                kiln_node_set_int(g, node, "axis", c->axis);
                kiln_graph_add_output(g, yt);
                char what[128];
                snprintf(what, sizeof what, "Softmax case %zu, %s, %d thread(s)", ci,
                         ISA_NAMES[isa], threads);
                /* floor 1e-24: relative, as probabilities are small */
                run_compare(what, g, x, y, want, n, threads, 1e-24);
                kiln_graph_destroy(g);
            }
        kiln_nn_fast_force_isa(KILN_ISA_AUTO);
        free(x);
        free(y);
        free(want);
    }
}

int main(void) {
    printf("fast paths: %s\n", ISA_NAMES[kiln_nn_fast_isa()]);
    test_layernorm();
    test_softmax();
    TEST_MAIN_END();
}
