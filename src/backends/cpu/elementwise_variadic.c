/*
 * Variadic elementwise kernels with broadcasting: Max, Min, Sum and Mean fold their inputs
 * pairwise into the output (out = in0 op in1, then out = out op in_k), which broadcasts every
 * input to the output shape without temporaries. Mean divides the sum at the end.
 */
#include <string.h>

#include "backends/cpu/elementwise_common.h"

/* out /= count, for the float types Mean takes */
static kiln_status kiln_ew_divide(const kiln_node *node, kiln_tview *out, int32_t count) {
    int64_t n = kiln_tview_count(out);
    switch (out->dtype) {
    case KILN_DTYPE_FLOAT32: {
        float *o = out->data;
        for (int64_t i = 0; i < n; i++) o[i] /= (float)count;
        return KILN_OK;
    }
    case KILN_DTYPE_FLOAT64: {
        double *o = out->data;
        for (int64_t i = 0; i < n; i++) o[i] /= count;
        return KILN_OK;
    }
    case KILN_DTYPE_FLOAT16:
    case KILN_DTYPE_BFLOAT16:
        for (int64_t i = 0; i < n; i++)
            kiln_tview_set_double(out, i, (float)kiln_tview_get_double(out, i) / (float)count);
        return KILN_OK;
    default:
        return kiln_node_error(KILN_ERR_UNSUPPORTED, node, "dtype %s not supported",
                               kiln_dtype_name(out->dtype));
    }
}

/* Copies (broadcasting) one input into the output. */
static void kiln_ew_copy_loop(void *out, const void *const *in, const int64_t *st, int64_t n,
                              const void *params) {
    size_t size = *(const size_t *)params;
    const char *a = in[0];
    char *o = out;
    if (st[0]) {
        if (o != a) memcpy(o, a, (size_t)n * size);
        return;
    }
    for (int64_t i = 0; i < n; i++) memcpy(o + (size_t)i * size, a, size);
}

kiln_status kiln_cpu_ew_variadic(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                                 int32_t n_in, kiln_tview *out, int32_t n_out) {
    int32_t first = -1, count = 0;
    for (int32_t k = 0; k < n_in; k++) {
        if (!kiln_tview_present(&in[k])) continue;
        if (in[k].dtype != out[0].dtype)
            return kiln_node_error(KILN_ERR_INVALID_ARGUMENT, node, "input %d has dtype %s, not %s",
                                   k, kiln_dtype_name(in[k].dtype), kiln_dtype_name(out[0].dtype));
        if (first < 0) first = k;
        count++;
    }
    if (count == 0) return kiln_node_error(KILN_ERR_INVALID_ARGUMENT, node, "needs an input");
    /* An input sharing the output's memory must be read first, before the output is
     * written: start the fold with it (the ops are commutative). */
    for (int32_t k = 0; k < n_in; k++)
        if (kiln_tview_present(&in[k]) && in[k].data == out[0].data) first = k;
    kiln_ew_binop r;
    KILN_TRY(kiln_ew_binary_resolve(node, node->op, out[0].dtype, out[0].dtype, &r));
    const kiln_tview *ins[2] = {&in[first], NULL};
    if (count == 1) {
        size_t size = kiln_ew_size(out[0].dtype);
        KILN_TRY(kiln_ew_apply(ctx, node, ins, 1, &out[0], kiln_ew_copy_loop, &size));
    }
    for (int32_t k = 0; k < n_in; k++) {
        if (k == first || !kiln_tview_present(&in[k])) continue;
        ins[1] = &in[k];
        KILN_TRY(kiln_ew_apply(ctx, node, ins, 2, &out[0], r.fn, r.params));
        ins[0] = &out[0]; /* later inputs fold into the output */
    }
    if (node->op == KILN_OP_Mean) return kiln_ew_divide(node, &out[0], count);
    return KILN_OK;
}
