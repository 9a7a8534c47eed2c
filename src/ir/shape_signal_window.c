/* Signal family shape functions: window functions and MelWeightMatrix, whose output
 * sizes are input values (unknown, -1, during static inference). */
#include "ir/shape_signal.h"

/* The dtypes kiln_tview_set_double writes: floats, integers, bool. */
static kiln_status signal_numeric_output(const kiln_node *node, const char *attr, int64_t dflt,
                                         kiln_dtype *out) {
    int64_t t = kiln_attr_int(node, attr, dflt);
    kiln_dtype d = (kiln_dtype)t;
    int ok = t > 0 && t <= 64 && d != KILN_DTYPE_STRING && kiln_dtype_bits(d) >= 8 &&
             (kiln_signal_is_float(d) || (d >= KILN_DTYPE_UINT8 && d <= KILN_DTYPE_INT64) ||
              d == KILN_DTYPE_BOOL || d == KILN_DTYPE_UINT32 || d == KILN_DTYPE_UINT64);
    if (!ok)
        return kiln_node_error(KILN_ERR_UNSUPPORTED, node, "%s %lld (%s) not supported", attr,
                               (long long)t, kiln_dtype_name(d));
    *out = d;
    return KILN_OK;
}

static kiln_status window_shape(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                kiln_tview *out) {
    int64_t size = -1;
    int known;
    KILN_TRY(kiln_signal_scalar_int(node, in, n_in, 0, "size", &size, &known));
    if (known && size < 0)
        return kiln_shape_error(node, "size must not be negative, got %lld", (long long)size);
    KILN_TRY(signal_numeric_output(node, "output_datatype", KILN_DTYPE_FLOAT32, &out[0].dtype));
    out[0].rank = 1;
    out[0].dims[0] = known ? size : -1;
    return KILN_OK;
}

kiln_status kiln_shape_HannWindow(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                  kiln_tview *out, int32_t n_out) {
    return window_shape(node, in, n_in, out);
}

kiln_status kiln_shape_HammingWindow(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                     kiln_tview *out, int32_t n_out) {
    return window_shape(node, in, n_in, out);
}

kiln_status kiln_shape_BlackmanWindow(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                      kiln_tview *out, int32_t n_out) {
    return window_shape(node, in, n_in, out);
}

/* Output [dft_length / 2 + 1, num_mel_bins]. */
kiln_status kiln_shape_MelWeightMatrix(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                       kiln_tview *out, int32_t n_out) {
    static const char *const names[3] = {"num_mel_bins", "dft_length", "sample_rate"};
    int64_t v[3] = {-1, -1, -1};
    int known[3];
    for (int32_t i = 0; i < 3; i++) {
        KILN_TRY(kiln_signal_scalar_int(node, in, n_in, i, names[i], &v[i], &known[i]));
        if (known[i] && v[i] < (i == 0 ? 0 : 1))
            return kiln_shape_error(node, "%s must be %s, got %lld", names[i],
                                    i == 0 ? "non-negative" : "positive", (long long)v[i]);
        if (!known[i]) v[i] = -1;
    }
    for (int32_t i = 3; i < 5; i++) {
        const kiln_tview *t = &in[i];
        int64_t count = kiln_tview_count(t);
        if (!kiln_signal_is_float(t->dtype) || t->rank > 1 || (count >= 0 && count != 1))
            return kiln_shape_error(node, "%s must be a floating scalar",
                                    i == 3 ? "lower_edge_hertz" : "upper_edge_hertz");
    }
    KILN_TRY(signal_numeric_output(node, "output_datatype", KILN_DTYPE_FLOAT32, &out[0].dtype));
    out[0].rank = 2;
    out[0].dims[0] = v[1] >= 0 ? v[1] / 2 + 1 : -1;
    out[0].dims[1] = v[0];
    return KILN_OK;
}
