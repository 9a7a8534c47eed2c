/* Signal family shape functions: shared helpers and BitCast. */
#include "ir/shape_signal.h"

int kiln_signal_is_float(kiln_dtype dtype) {
    return dtype == KILN_DTYPE_FLOAT32 || dtype == KILN_DTYPE_FLOAT64 ||
           dtype == KILN_DTYPE_FLOAT16 || dtype == KILN_DTYPE_BFLOAT16;
}

kiln_status kiln_signal_scalar_int(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                   int32_t index, const char *what, int64_t *value, int *known) {
    *known = 0;
    if (index >= n_in || !kiln_tview_present(&in[index])) return KILN_OK;
    const kiln_tview *t = &in[index];
    if (t->dtype != KILN_DTYPE_INT32 && t->dtype != KILN_DTYPE_INT64)
        return kiln_shape_error(node, "%s must be int32 or int64, got %s", what,
                                kiln_dtype_name(t->dtype));
    if (t->rank > 1 || (t->rank == 1 && t->dims[0] >= 0 && t->dims[0] != 1))
        return kiln_shape_error(node, "%s must be a scalar", what);
    if (t->data == NULL || t->rank < 0) return KILN_OK;
    *value = kiln_tview_get_int(t, 0);
    *known = 1;
    return KILN_OK;
}

/* BitCast: the same bytes under another dtype of the same width (ONNX requires equal
 * widths, so the shape never changes). */
kiln_status kiln_shape_BitCast(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                               kiln_tview *out, int32_t n_out) {
    const kiln_attr *to = kiln_node_attr(node, "to");
    if (!to || to->type != KILN_ATTR_INT)
        return kiln_shape_error(node, "attribute 'to' is required");
    if (to->i <= 0 || to->i > 64)
        return kiln_shape_error(node, "'to' %lld is no dtype", (long long)to->i);
    kiln_dtype from = in[0].dtype, dst = (kiln_dtype)to->i;
    if (from == KILN_DTYPE_STRING || dst == KILN_DTYPE_STRING)
        return kiln_shape_error(node, "BitCast from or to string is not allowed");
    int32_t bits_from = kiln_dtype_bits(from), bits_to = kiln_dtype_bits(dst);
    if (bits_from == 0 || bits_to == 0)
        return kiln_node_error(KILN_ERR_UNSUPPORTED, node, "BitCast from %s to %s not supported",
                               kiln_dtype_name(from), kiln_dtype_name(dst));
    if (bits_from != bits_to)
        return kiln_shape_error(
            node, "BitCast needs dtypes of the same bit width: %s has %d bits, %s %d",
            kiln_dtype_name(from), (int)bits_from, kiln_dtype_name(dst), (int)bits_to);
    out[0].dtype = dst;
    out[0].rank = in[0].rank;
    for (int32_t d = 0; d < in[0].rank; d++) out[0].dims[d] = in[0].dims[d];
    return KILN_OK;
}
