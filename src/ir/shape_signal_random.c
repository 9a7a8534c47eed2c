/* Signal family shape functions: the random generators. */
#include "ir/shape_signal.h"

/* The `dtype` attribute, or `dflt` when absent (0 also means absent: ONNX's default). */
static kiln_dtype random_dtype(const kiln_node *node, kiln_dtype dflt) {
    int64_t t = kiln_attr_int(node, "dtype", 0);
    return t > 0 && t <= 64 ? (kiln_dtype)t : t == 0 ? dflt : KILN_DTYPE_UNDEFINED;
}

static kiln_status random_float_output(const kiln_node *node, kiln_dtype dtype, kiln_tview *out) {
    if (!kiln_signal_is_float(dtype))
        return kiln_shape_error(node, "output dtype must be a floating type, got %s",
                                kiln_dtype_name(dtype));
    out->dtype = dtype;
    return KILN_OK;
}

/* RandomUniform, RandomNormal: the shape from the `shape` attribute. */
static kiln_status random_shape(const kiln_node *node, kiln_tview *out) {
    int32_t rank = 0;
    const int64_t *shape = kiln_attr_ints(node, "shape", &rank);
    if (!shape && !kiln_node_attr(node, "shape"))
        return kiln_shape_error(node, "attribute 'shape' is required");
    if (rank > KILN_MAX_DIMS)
        return kiln_shape_error(node, "shape of rank %d, at most %d supported", (int)rank,
                                KILN_MAX_DIMS);
    for (int32_t d = 0; d < rank; d++) {
        if (shape[d] < 0)
            return kiln_shape_error(node, "shape has a negative dim %lld", (long long)shape[d]);
        out->dims[d] = shape[d];
    }
    out->rank = rank;
    return random_float_output(node, random_dtype(node, KILN_DTYPE_FLOAT32), out);
}

kiln_status kiln_shape_RandomUniform(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                     kiln_tview *out, int32_t n_out) {
    return random_shape(node, out);
}

kiln_status kiln_shape_RandomNormal(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                    kiln_tview *out, int32_t n_out) {
    return random_shape(node, out);
}

/* The *Like ops and Bernoulli: the input's shape. */
static void copy_shape(const kiln_tview *x, kiln_tview *out) {
    out->rank = x->rank;
    for (int32_t d = 0; d < x->rank; d++) out->dims[d] = x->dims[d];
}

kiln_status kiln_shape_RandomUniformLike(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                         kiln_tview *out, int32_t n_out) {
    copy_shape(&in[0], out);
    return random_float_output(node, random_dtype(node, in[0].dtype), out);
}

kiln_status kiln_shape_RandomNormalLike(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                        kiln_tview *out, int32_t n_out) {
    copy_shape(&in[0], out);
    return random_float_output(node, random_dtype(node, in[0].dtype), out);
}

/* Bernoulli: probabilities in, 0/1 out in `dtype` (any numeric type or bool). */
kiln_status kiln_shape_Bernoulli(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                 kiln_tview *out, int32_t n_out) {
    if (!kiln_signal_is_float(in[0].dtype))
        return kiln_shape_error(node, "input must be a floating type, got %s",
                                kiln_dtype_name(in[0].dtype));
    kiln_dtype d = random_dtype(node, in[0].dtype);
    int ok = kiln_signal_is_float(d) || d == KILN_DTYPE_BOOL ||
             (d >= KILN_DTYPE_UINT8 && d <= KILN_DTYPE_INT64) || d == KILN_DTYPE_UINT32 ||
             d == KILN_DTYPE_UINT64;
    if (!ok)
        return kiln_node_error(KILN_ERR_UNSUPPORTED, node, "output dtype %s not supported",
                               kiln_dtype_name(d));
    copy_shape(&in[0], out);
    out->dtype = d;
    return KILN_OK;
}

/* Multinomial: [batch, classes] log-probabilities -> [batch, sample_size] class indices. */
kiln_status kiln_shape_Multinomial(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                   kiln_tview *out, int32_t n_out) {
    const kiln_tview *x = &in[0];
    if (!kiln_signal_is_float(x->dtype))
        return kiln_shape_error(node, "input must be a floating type, got %s",
                                kiln_dtype_name(x->dtype));
    if (x->rank >= 0 && x->rank != 2)
        return kiln_shape_error(node, "input must be [batch, classes], got rank %d", (int)x->rank);
    if (x->rank == 2 && x->dims[1] == 0) return kiln_shape_error(node, "no classes to draw from");
    int64_t samples = kiln_attr_int(node, "sample_size", 1);
    if (samples < 0)
        return kiln_shape_error(node, "sample_size must not be negative, got %lld",
                                (long long)samples);
    kiln_dtype d = (kiln_dtype)kiln_attr_int(node, "dtype", KILN_DTYPE_INT32);
    if (d != KILN_DTYPE_INT32 && d != KILN_DTYPE_INT64)
        return kiln_shape_error(node, "dtype must be int32 or int64, got %s", kiln_dtype_name(d));
    out->dtype = d;
    out->rank = 2;
    out->dims[0] = x->rank == 2 ? x->dims[0] : -1;
    out->dims[1] = samples;
    return KILN_OK;
}
