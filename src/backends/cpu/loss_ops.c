/*
 * NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss over input [N, C, d1, ...] and
 * target [N, d1, ...]: loss = -input[n, target, d...] * weight[target], zero where the
 * target equals ignore_index. reduction "none" keeps the per-element losses, "sum" adds
 * them, "mean" divides the sum by the sum of the weights applied. SoftmaxCrossEntropyLoss
 * first takes log_softmax over C (its optional second output). Accumulates in double.
 */
#include <math.h>
#include <string.h>

#include "backends/cpu/cpu_kernel.h"

/* The loss from log-probabilities: lp (N*C*D doubles) when given, else input x. */
static kiln_status nll_core(const kiln_node *node, const kiln_tview *x, const double *lp,
                            const kiln_tview *target, const kiln_tview *weight, kiln_tview *y) {
    int64_t N = x->dims[0], C = x->dims[1], D = 1;
    for (int32_t d = 2; d < x->rank; d++) D *= x->dims[d];
    const kiln_attr *ia = kiln_node_attr(node, "ignore_index");
    int has_ii = ia != NULL;
    int64_t ii = kiln_attr_int(node, "ignore_index", 0);
    const char *red = kiln_attr_string(node, "reduction", "mean");
    int none = !strcmp(red, "none"), mean = !strcmp(red, "mean");
    double loss_sum = 0, w_sum = 0;
    for (int64_t n = 0; n < N; n++)
        for (int64_t d = 0; d < D; d++) {
            int64_t t = kiln_tview_get_int(target, n * D + d);
            double l = 0, wt = 0;
            if (!(has_ii && t == ii)) {
                if (t < 0 || t >= C)
                    return kiln_node_error(KILN_ERR_SHAPE, node, "target %lld outside [0, %lld)",
                                           (long long)t, (long long)C);
                int64_t idx = (n * C + t) * D + d;
                double v = lp ? lp[idx] : kiln_tview_get_double(x, idx);
                wt = weight ? kiln_tview_get_double(weight, t) : 1.0;
                l = -v * wt;
            }
            if (none) kiln_tview_set_double(y, n * D + d, l);
            loss_sum += l;
            w_sum += wt;
        }
    if (!none) kiln_tview_set_double(y, 0, mean ? loss_sum / w_sum : loss_sum);
    return KILN_OK;
}

static const kiln_tview *loss_weight(const kiln_tview *in, int32_t n_in) {
    return n_in >= 3 && kiln_tview_present(&in[2]) ? &in[2] : NULL;
}

kiln_status kiln_cpu_NegativeLogLikelihoodLoss(kiln_cpu_ctx *ctx, const kiln_node *node,
                                               const kiln_tview *in, int32_t n_in, kiln_tview *out,
                                               int32_t n_out) {
    return nll_core(node, &in[0], NULL, &in[1], loss_weight(in, n_in), &out[0]);
}

kiln_status kiln_cpu_SoftmaxCrossEntropyLoss(kiln_cpu_ctx *ctx, const kiln_node *node,
                                             const kiln_tview *in, int32_t n_in, kiln_tview *out,
                                             int32_t n_out) {
    const kiln_tview *x = &in[0];
    int64_t N = x->dims[0], C = x->dims[1], D = 1;
    for (int32_t d = 2; d < x->rank; d++) D *= x->dims[d];
    double *lp = kiln_cpu_scratch(ctx, (size_t)(N * C * D + 1) * sizeof(double));
    if (!lp) return kiln_node_error(KILN_ERR_OUT_OF_MEMORY, node, "out of scratch memory");
    for (int64_t n = 0; n < N; n++)
        for (int64_t d = 0; d < D; d++) {
            int64_t base = n * C * D + d;
            double mx = -INFINITY, s = 0;
            for (int64_t c = 0; c < C; c++) {
                double v = kiln_tview_get_double(x, base + c * D);
                lp[base + c * D] = v;
                if (v > mx) mx = v;
            }
            for (int64_t c = 0; c < C; c++) s += exp(lp[base + c * D] - mx);
            double ls = log(s) + mx;
            for (int64_t c = 0; c < C; c++) lp[base + c * D] -= ls;
        }
    if (n_out > 1 && kiln_tview_present(&out[1]) && out[1].data)
        for (int64_t i = 0; i < N * C * D; i++) kiln_tview_set_double(&out[1], i, lp[i]);
    return nll_core(node, x, lp, &in[1], loss_weight(in, n_in), &out[0]);
}
