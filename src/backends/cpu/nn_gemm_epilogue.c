/*
 * NN family: the fused epilogue of Conv / ConvTranspose / Gemm / MatMul (fusion contract:
 * `_kiln_activation`, `_kiln_alpha`, `_kiln_beta`, plus bias and residual sum), applied by
 * the GEMM to each output tile while it is in cache.
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "backends/cpu/nn_common.h"

kiln_status kiln_nn_act_from_node(const kiln_node *node, kiln_nn_act *act) {
    static const struct {
        const char *name;
        kiln_nn_act_kind kind;
        float alpha, beta;
    } table[] = {
        {"Relu", KILN_NN_ACT_RELU, 0.0f, 0.0f},
        {"LeakyRelu", KILN_NN_ACT_LEAKY_RELU, 0.01f, 0.0f},
        {"Clip", KILN_NN_ACT_CLIP, -FLT_MAX, FLT_MAX},
        {"Sigmoid", KILN_NN_ACT_SIGMOID, 0.0f, 0.0f},
        {"Tanh", KILN_NN_ACT_TANH, 0.0f, 0.0f},
        {"HardSigmoid", KILN_NN_ACT_HARD_SIGMOID, 0.2f, 0.5f},
        {"Gelu", KILN_NN_ACT_GELU, 0.0f, 0.0f},
        {"GeluTanh", KILN_NN_ACT_GELU_TANH, 0.0f, 0.0f},
        {"Swish", KILN_NN_ACT_SWISH, 1.0f, 0.0f},
    };
    memset(act, 0, sizeof *act);
    const char *name = kiln_attr_string(node, "_kiln_activation", NULL);
    if (!name || !*name) return KILN_OK;
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        if (strcmp(table[i].name, name)) continue;
        act->kind = table[i].kind;
        act->alpha = kiln_attr_float(node, "_kiln_alpha", table[i].alpha);
        act->beta = kiln_attr_float(node, "_kiln_beta", table[i].beta);
        return KILN_OK;
    }
    return kiln_node_error(KILN_ERR_UNSUPPORTED, node, "fused activation '%s' not supported", name);
}

/* One activation over a contiguous run; each case is a simple loop the compiler can
 * vectorize (the transcendental ones call libm). */
#define KILN_NN_ACT_LOOP(T, EXP, TANH, ERF)                                                        \
    switch (act->kind) {                                                                           \
    case KILN_NN_ACT_NONE:                                                                         \
        return;                                                                                    \
    case KILN_NN_ACT_RELU:                                                                         \
        for (int64_t i = 0; i < n; i++) x[i] = x[i] > 0 ? x[i] : 0;                                \
        return;                                                                                    \
    case KILN_NN_ACT_LEAKY_RELU: {                                                                 \
        T a = act->alpha;                                                                          \
        for (int64_t i = 0; i < n; i++) x[i] = x[i] >= 0 ? x[i] : a * x[i];                        \
        return;                                                                                    \
    }                                                                                              \
    case KILN_NN_ACT_CLIP: {                                                                       \
        T lo = act->alpha, hi = act->beta;                                                         \
        for (int64_t i = 0; i < n; i++) {                                                          \
            T v = x[i] < lo ? lo : x[i];                                                           \
            x[i] = v > hi ? hi : v;                                                                \
        }                                                                                          \
        return;                                                                                    \
    }                                                                                              \
    case KILN_NN_ACT_SIGMOID:                                                                      \
        for (int64_t i = 0; i < n; i++) x[i] = 1 / (1 + EXP(-x[i]));                               \
        return;                                                                                    \
    case KILN_NN_ACT_TANH:                                                                         \
        for (int64_t i = 0; i < n; i++) x[i] = TANH(x[i]);                                         \
        return;                                                                                    \
    case KILN_NN_ACT_HARD_SIGMOID: {                                                               \
        T a = act->alpha, b = act->beta;                                                           \
        for (int64_t i = 0; i < n; i++) {                                                          \
            T v = a * x[i] + b;                                                                    \
            v = v < 0 ? 0 : v;                                                                     \
            x[i] = v > 1 ? 1 : v;                                                                  \
        }                                                                                          \
        return;                                                                                    \
    }                                                                                              \
    case KILN_NN_ACT_GELU:                                                                         \
        for (int64_t i = 0; i < n; i++)                                                            \
            x[i] = (T)0.5 * x[i] * (1 + ERF(x[i] * (T)0.70710678118654752440));                    \
        return;                                                                                    \
    case KILN_NN_ACT_GELU_TANH:                                                                    \
        for (int64_t i = 0; i < n; i++) {                                                          \
            T v = x[i];                                                                            \
            x[i] = (T)0.5 * v *                                                                    \
                   (1 + TANH((T)0.79788456080286535588 * (v + (T)0.044715 * v * v * v)));          \
        }                                                                                          \
        return;                                                                                    \
    case KILN_NN_ACT_SWISH: {                                                                      \
        T a = act->alpha;                                                                          \
        for (int64_t i = 0; i < n; i++) x[i] = x[i] / (1 + EXP(-a * x[i]));                        \
        return;                                                                                    \
    }                                                                                              \
    }

void kiln_nn_act_apply(const kiln_nn_act *act, float *x, int64_t n) {
    KILN_NN_ACT_LOOP(float, expf, tanhf, erff)
}

void kiln_nn_act_apply_f64(const kiln_nn_act *act, double *x, int64_t n) {
    KILN_NN_ACT_LOOP(double, exp, tanh, erf)
}

void kiln_nn_epilogue_apply(const kiln_nn_epilogue *ep, float *c, int64_t ldc, int64_t i0,
                            int64_t rows, int64_t j0, int64_t cols) {
    for (int64_t i = i0; i < i0 + rows; i++) {
        float *restrict row = c + i * ldc + j0;
        if (ep->row_bias) {
            float b = ep->row_bias[i];
            for (int64_t j = 0; j < cols; j++) row[j] += b;
        }
        if (ep->col_bias) {
            const float *restrict b = ep->col_bias + j0;
            for (int64_t j = 0; j < cols; j++) row[j] += b[j];
        }
        if (ep->sum) {
            const float *restrict s = ep->sum + i * ep->ld_sum + j0;
            for (int64_t j = 0; j < cols; j++) row[j] += s[j];
        }
        kiln_nn_act_apply(&ep->act, row, cols);
    }
}

/* The fused input `attr` names, or NULL; an index that is out of range or omitted is an
 * error (the pass that set the attribute also wired the input). */
static kiln_status fused_input(const kiln_node *node, const char *attr, const kiln_tview *in,
                               int32_t n_in, const kiln_tview **out) {
    *out = NULL;
    int64_t index = kiln_attr_int(node, attr, -1);
    if (index < 0) return KILN_OK;
    if (index < 2 || index >= n_in || !kiln_tview_present(&in[index]))
        return kiln_node_error(KILN_ERR_INVALID_ARGUMENT, node,
                               "%s is %lld, but the node has no input there", attr,
                               (long long)index);
    *out = &in[index];
    return KILN_OK;
}

kiln_status kiln_nn_sum_input(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                              const kiln_tview *y, const kiln_tview **sum) {
    KILN_TRY(fused_input(node, "_kiln_sum_input", in, n_in, sum));
    const kiln_tview *s = *sum;
    if (!s) return KILN_OK;
    int same = s->rank == y->rank && s->dtype == y->dtype;
    for (int32_t d = 0; same && d < y->rank; d++) same = s->dims[d] == y->dims[d];
    if (!same) {
        char a[128], b[128];
        return kiln_shape_error(
            node, "the fused sum input %s %s differs from the output %s %s",
            kiln_dtype_name(s->dtype), kiln_shape_string(s->rank, s->dims, a, sizeof a),
            kiln_dtype_name(y->dtype), kiln_shape_string(y->rank, y->dims, b, sizeof b));
    }
    return KILN_OK;
}

kiln_status kiln_nn_bias_input(const kiln_node *node, const kiln_tview *in, int32_t n_in, int64_t n,
                               const kiln_tview **bias) {
    KILN_TRY(fused_input(node, "_kiln_bias_input", in, n_in, bias));
    const kiln_tview *b = *bias;
    if (!b) return KILN_OK;
    if (b->dtype != in[0].dtype || kiln_tview_count(b) != n)
        return kiln_shape_error(node, "the fused bias input must hold %lld %s values (has %lld %s)",
                                (long long)n, kiln_dtype_name(in[0].dtype),
                                (long long)kiln_tview_count(b), kiln_dtype_name(b->dtype));
    return KILN_OK;
}
