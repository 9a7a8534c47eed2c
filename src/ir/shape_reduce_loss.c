/* Shape functions of the losses (NegativeLogLikelihoodLoss, SoftmaxCrossEntropyLoss) and
 * of Det. */
#include <string.h>

#include "ir/shape_reduce.h"

static int loss_is_float(kiln_dtype t) {
    return t == KILN_DTYPE_FLOAT32 || t == KILN_DTYPE_FLOAT16 || t == KILN_DTYPE_BFLOAT16 ||
           t == KILN_DTYPE_FLOAT64;
}

static kiln_status loss_shape(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                              kiln_tview *out) {
    const kiln_tview *x = &in[0], *t = &in[1];
    if (!loss_is_float(x->dtype))
        return kiln_shape_error(node, "input dtype %s not supported", kiln_dtype_name(x->dtype));
    if (t->dtype != KILN_DTYPE_INT64 && t->dtype != KILN_DTYPE_INT32)
        return kiln_shape_error(node, "target dtype %s not supported", kiln_dtype_name(t->dtype));
    const char *red = kiln_attr_string(node, "reduction", "mean");
    int none = !strcmp(red, "none");
    if (!none && strcmp(red, "sum") && strcmp(red, "mean"))
        return kiln_shape_error(node, "unknown reduction '%s'", red);
    if (n_in >= 3 && kiln_tview_present(&in[2])) {
        const kiln_tview *w = &in[2];
        if (w->dtype != x->dtype) return kiln_shape_error(node, "weight dtype differs from input");
        if (w->rank >= 0 && w->rank != 1) return kiln_shape_error(node, "weight must be 1-D");
        if (w->rank == 1 && x->rank >= 2 && w->dims[0] >= 0 && x->dims[1] >= 0 &&
            w->dims[0] != x->dims[1])
            return kiln_shape_error(node, "weight has %lld values for %lld classes",
                                    (long long)w->dims[0], (long long)x->dims[1]);
    }
    out[0].dtype = x->dtype;
    if (x->rank >= 0 && x->rank < 2) return kiln_shape_error(node, "input must have rank >= 2");
    if (x->rank >= 0 && t->rank >= 0) {
        if (t->rank != x->rank - 1)
            return kiln_shape_error(node, "target must have rank %d, got %d", x->rank - 1, t->rank);
        for (int32_t d = 0; d < t->rank; d++) {
            int64_t xd = x->dims[d == 0 ? 0 : d + 1];
            if (xd >= 0 && t->dims[d] >= 0 && xd != t->dims[d])
                return kiln_shape_error(node, "target dim %d is %lld, input's is %lld", (int)d,
                                        (long long)t->dims[d], (long long)xd);
        }
    }
    if (!none) {
        out[0].rank = 0;
    } else {
        out[0].rank = t->rank;
        if (t->rank > 0) memcpy(out[0].dims, t->dims, sizeof(int64_t) * (size_t)t->rank);
    }
    return KILN_OK;
}

kiln_status kiln_shape_NegativeLogLikelihoodLoss(const kiln_node *node, const kiln_tview *in,
                                                 int32_t n_in, kiln_tview *out, int32_t n_out) {
    return loss_shape(node, in, n_in, out);
}

kiln_status kiln_shape_SoftmaxCrossEntropyLoss(const kiln_node *node, const kiln_tview *in,
                                               int32_t n_in, kiln_tview *out, int32_t n_out) {
    KILN_TRY(loss_shape(node, in, n_in, out));
    if (n_out > 1 && kiln_tview_present(&out[1])) {
        out[1].dtype = in[0].dtype;
        out[1].rank = in[0].rank;
        if (in[0].rank > 0) memcpy(out[1].dims, in[0].dims, sizeof(int64_t) * (size_t)in[0].rank);
    }
    return KILN_OK;
}

kiln_status kiln_shape_Det(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                           kiln_tview *out, int32_t n_out) {
    const kiln_tview *x = &in[0];
    if (!loss_is_float(x->dtype))
        return kiln_shape_error(node, "input dtype %s not supported", kiln_dtype_name(x->dtype));
    out[0].dtype = x->dtype;
    if (x->rank < 0) {
        out[0].rank = -1;
        return KILN_OK;
    }
    if (x->rank < 2) return kiln_shape_error(node, "input must have rank >= 2");
    int64_t m = x->dims[x->rank - 2], n = x->dims[x->rank - 1];
    if (m >= 0 && n >= 0 && m != n)
        return kiln_shape_error(node, "matrices must be square, got %lld x %lld", (long long)m,
                                (long long)n);
    out[0].rank = x->rank - 2;
    for (int32_t d = 0; d < x->rank - 2; d++) out[0].dims[d] = x->dims[d];
    return KILN_OK;
}
