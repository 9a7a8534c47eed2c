/*
 * NN family shape functions: the normalizations (BatchNormalization, InstanceNormalization,
 * LayerNormalization, GroupNormalization, RMSNormalization, LpNormalization,
 * MeanVarianceNormalization, LRN) and Softmax, LogSoftmax, Hardmax.
 */
#include "ir/shape_nn.h"

static kiln_status same_as_input(const kiln_node *node, const kiln_tview *x, kiln_tview *y) {
    if (!kiln_nn_is_float(x->dtype))
        return kiln_shape_error(node, "dtype %s not allowed", kiln_dtype_name(x->dtype));
    y->dtype = x->dtype;
    y->rank = x->rank;
    for (int32_t i = 0; i < x->rank && i < KILN_MAX_DIMS; i++) y->dims[i] = x->dims[i];
    return KILN_OK;
}

static kiln_status check_axis(const kiln_node *node, const kiln_tview *x, int64_t dflt) {
    if (x->rank < 0) return KILN_OK;
    int64_t axis = kiln_attr_int(node, "axis", dflt);
    /* a scalar has nothing to normalize over, but axis 0 / -1 on it is harmless */
    if (x->rank == 0 && (axis == 0 || axis == -1)) return KILN_OK;
    if (kiln_nn_axis(axis, x->rank) < 0)
        return kiln_shape_error(node, "axis %lld out of range for rank %d", (long long)axis,
                                (int)x->rank);
    return KILN_OK;
}

static int64_t softmax_default_axis(const kiln_node *node) {
    return node->opset >= 13 ? -1 : 1;
}

kiln_status kiln_shape_Softmax(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                               kiln_tview *out, int32_t n_out) {
    KILN_TRY(check_axis(node, &in[0], softmax_default_axis(node)));
    return same_as_input(node, &in[0], &out[0]);
}

kiln_status kiln_shape_LogSoftmax(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                  kiln_tview *out, int32_t n_out) {
    KILN_TRY(check_axis(node, &in[0], softmax_default_axis(node)));
    return same_as_input(node, &in[0], &out[0]);
}

kiln_status kiln_shape_Hardmax(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                               kiln_tview *out, int32_t n_out) {
    KILN_TRY(check_axis(node, &in[0], softmax_default_axis(node)));
    return same_as_input(node, &in[0], &out[0]);
}

kiln_status kiln_shape_LpNormalization(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                       kiln_tview *out, int32_t n_out) {
    KILN_TRY(check_axis(node, &in[0], -1));
    int64_t p = kiln_attr_int(node, "p", 2);
    if (p != 1 && p != 2) return kiln_shape_error(node, "p must be 1 or 2");
    return same_as_input(node, &in[0], &out[0]);
}

kiln_status kiln_shape_MeanVarianceNormalization(const kiln_node *node, const kiln_tview *in,
                                                 int32_t n_in, kiln_tview *out, int32_t n_out) {
    int32_t cnt = 0;
    const int64_t *axes = kiln_attr_ints(node, "axes", &cnt);
    if (in[0].rank >= 0)
        for (int32_t i = 0; i < cnt; i++)
            if (kiln_nn_axis(axes[i], in[0].rank) < 0)
                return kiln_shape_error(node, "axis %lld out of range", (long long)axes[i]);
    if (!axes && in[0].rank >= 0 && in[0].rank < 4 && in[0].rank != 3)
        return kiln_shape_error(node, "default axes [0, 2, 3] need a 4-D input");
    return same_as_input(node, &in[0], &out[0]);
}

kiln_status kiln_shape_LRN(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                           kiln_tview *out, int32_t n_out) {
    if (in[0].rank >= 0 && in[0].rank < 2) return kiln_shape_error(node, "X must be (N, C, ...)");
    if (kiln_attr_int(node, "size", 0) < 1) return kiln_shape_error(node, "size must be positive");
    return same_as_input(node, &in[0], &out[0]);
}

/* Per-channel parameter vectors must have C elements (or C * spatial with spatial=0). */
static kiln_status check_channel_params(const kiln_node *node, const kiln_tview *in, int32_t first,
                                        int32_t last) {
    const kiln_tview *x = &in[0];
    if (x->rank >= 0 && x->rank < 2) return kiln_shape_error(node, "X must be (N, C, ...)");
    for (int32_t i = first; i <= last; i++) {
        if (!kiln_tview_present(&in[i]) || in[i].rank < 0 || x->rank < 0 || x->dims[1] < 0)
            continue;
        int64_t cnt = kiln_tview_count(&in[i]);
        if (cnt >= 0 && cnt != x->dims[1] && in[i].rank <= 1)
            return kiln_shape_error(node, "input %d has %lld elements, expected %lld", (int)i,
                                    (long long)cnt, (long long)x->dims[1]);
    }
    return KILN_OK;
}

kiln_status kiln_shape_BatchNormalization(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                          kiln_tview *out, int32_t n_out) {
    KILN_TRY(check_channel_params(node, in, 1, 4));
    KILN_TRY(same_as_input(node, &in[0], &out[0]));
    /* running mean/var, saved mean/var (training mode): per channel */
    for (int32_t i = 1; i < n_out; i++) {
        if (!kiln_tview_present(&out[i])) continue;
        out[i].dtype = n_in > 3 ? in[3].dtype : in[0].dtype;
        out[i].rank = 1;
        out[i].dims[0] = in[0].rank >= 2 ? in[0].dims[1] : -1;
    }
    return KILN_OK;
}

kiln_status kiln_shape_InstanceNormalization(const kiln_node *node, const kiln_tview *in,
                                             int32_t n_in, kiln_tview *out, int32_t n_out) {
    KILN_TRY(check_channel_params(node, in, 1, 2));
    return same_as_input(node, &in[0], &out[0]);
}

kiln_status kiln_shape_GroupNormalization(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                          kiln_tview *out, int32_t n_out) {
    const kiln_tview *x = &in[0];
    int64_t groups = kiln_attr_int(node, "num_groups", 0);
    if (groups < 1) return kiln_shape_error(node, "num_groups must be positive");
    if (x->rank >= 0 && x->rank < 2) return kiln_shape_error(node, "X must be (N, C, ...)");
    if (x->rank >= 2 && x->dims[1] >= 0 && x->dims[1] % groups)
        return kiln_shape_error(node, "channels not divisible by num_groups");
    return same_as_input(node, x, &out[0]);
}

/* stash_type names the dtype of LayerNormalization's Mean / InvStdDev outputs. */
static kiln_dtype stash_dtype(const kiln_node *node, kiln_dtype x) {
    int64_t st = kiln_attr_int(node, "stash_type", 1);
    if (st == KILN_DTYPE_FLOAT32 || st == KILN_DTYPE_FLOAT64 || st == KILN_DTYPE_FLOAT16 ||
        st == KILN_DTYPE_BFLOAT16)
        return (kiln_dtype)st;
    return x;
}

kiln_status kiln_shape_LayerNormalization(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                          kiln_tview *out, int32_t n_out) {
    const kiln_tview *x = &in[0];
    KILN_TRY(check_axis(node, x, -1));
    KILN_TRY(same_as_input(node, x, &out[0]));
    int32_t axis = x->rank > 0 ? kiln_nn_axis(kiln_attr_int(node, "axis", -1), x->rank) : 0;
    for (int32_t i = 1; i < n_out && i < 3; i++) {
        if (!kiln_tview_present(&out[i])) continue;
        out[i].dtype = stash_dtype(node, x->dtype);
        out[i].rank = x->rank;
        for (int32_t d = 0; d < x->rank; d++) out[i].dims[d] = d < axis ? x->dims[d] : 1;
    }
    return KILN_OK;
}

kiln_status kiln_shape_RMSNormalization(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                        kiln_tview *out, int32_t n_out) {
    KILN_TRY(check_axis(node, &in[0], -1));
    return same_as_input(node, &in[0], &out[0]);
}
