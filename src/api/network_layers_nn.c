/*
 * Layer API, neural-network layers: convolution, deconvolution, matrix multiply, fully
 * connected, pooling, softmax, normalization. Each becomes the ONNX op of the same meaning
 * (Conv, ConvTranspose, MatMul, Gemm, MaxPool/AveragePool, Softmax, LayerNormalization),
 * with Transpose/Add nodes or a decomposition where one op does not say it alone.
 */
#include <stdlib.h>
#include <string.h>

#include "api/network_layers_internal.h"

/* ---------------------------------------------------------------- windows ---------- */

/* A kiln_window as ONNX attributes: 0 strides and dilations read as 1. */
typedef struct kiln_lc_window {
    int32_t n;
    int64_t kernel[3], strides[3], pads[6], dilations[3];
    int dilated; /* any dilation other than 1 */
} kiln_lc_window;

static kiln_status kiln_lc_read_window(const kiln_layer_ctx *c, const kiln_window *w, int32_t x,
                                       int need_channels, kiln_lc_window *out) {
    memset(out, 0, sizeof *out);
    if (w->nb_spatial < 1 || w->nb_spatial > 3)
        return kiln_lc_arg_error(c, "window.nb_spatial is %d (1, 2 or 3 allowed)",
                                 (int)w->nb_spatial);
    int32_t n = w->nb_spatial;
    out->n = n;
    for (int32_t i = 0; i < n; i++) {
        if (w->kernel[i] < 1)
            return kiln_lc_arg_error(c, "window.kernel[%d] is %lld (must be >= 1)", (int)i,
                                     (long long)w->kernel[i]);
        if (w->stride[i] < 0 || w->dilation[i] < 0)
            return kiln_lc_arg_error(c,
                                     "window.stride[%d] and window.dilation[%d] must be >= 0 "
                                     "(0 means 1), not %lld and %lld",
                                     (int)i, (int)i, (long long)w->stride[i],
                                     (long long)w->dilation[i]);
        if (w->pad_begin[i] < 0 || w->pad_end[i] < 0)
            return kiln_lc_arg_error(c,
                                     "window pads of spatial dim %d must be >= 0, not %lld and "
                                     "%lld",
                                     (int)i, (long long)w->pad_begin[i], (long long)w->pad_end[i]);
        out->kernel[i] = w->kernel[i];
        out->strides[i] = w->stride[i] ? w->stride[i] : 1;
        out->dilations[i] = w->dilation[i] ? w->dilation[i] : 1;
        out->pads[i] = w->pad_begin[i];
        out->pads[n + i] = w->pad_end[i];
        if (out->dilations[i] != 1) out->dilated = 1;
    }
    const kiln_ir_tensor *t = kiln_lc_t(c, x);
    if (t->rank >= 0 && t->rank != n + 2)
        return kiln_lc_arg_error(c,
                                 "input '%s' has rank %d; a %d-D window needs rank %d "
                                 "(N, C and %d spatial dims)",
                                 t->name, (int)t->rank, (int)n, (int)n + 2, (int)n);
    if (need_channels && (t->rank < 0 || t->dims[1] < 0))
        return kiln_lc_arg_error(c, "the channel dimension (1) of input '%s' must be known",
                                 t->name);
    return KILN_OK;
}

static kiln_status kiln_lc_set_window(kiln_layer_ctx *c, int32_t node, const kiln_lc_window *w,
                                      int dilations) {
    KILN_TRY(kiln_node_set_ints(c->g, node, "kernel_shape", w->kernel, w->n));
    KILN_TRY(kiln_node_set_ints(c->g, node, "strides", w->strides, w->n));
    KILN_TRY(kiln_node_set_ints(c->g, node, "pads", w->pads, 2 * w->n));
    if (dilations) KILN_TRY(kiln_node_set_ints(c->g, node, "dilations", w->dilations, w->n));
    return KILN_OK;
}

/* Conv and ConvTranspose share everything but the weight layout. */
static kiln_status kiln_lc_add_conv(kiln_layer_ctx *c, kiln_tensor *input, int64_t out_channels,
                                    kiln_window window, int64_t groups, kiln_weights kernel,
                                    kiln_weights bias, int transposed, kiln_layer **out) {
    int32_t x;
    KILN_TRY(kiln_lc_tensor(c, input, "input", &x));
    kiln_lc_window w;
    KILN_TRY(kiln_lc_read_window(c, &window, x, 1, &w));
    if (out_channels < 1)
        return kiln_lc_arg_error(c, "out_channels is %lld (must be >= 1)", (long long)out_channels);
    if (groups < 1) return kiln_lc_arg_error(c, "groups is %lld (must be >= 1)", (long long)groups);
    int64_t in_channels = kiln_lc_t(c, x)->dims[1];
    if (in_channels % groups || out_channels % groups)
        return kiln_lc_arg_error(c,
                                 "groups (%lld) must divide both the input channels (%lld) and "
                                 "out_channels (%lld)",
                                 (long long)groups, (long long)in_channels,
                                 (long long)out_channels);
    /* Conv: [out, in / groups, k...]; ConvTranspose: [in, out / groups, k...]. */
    int64_t wdims[5];
    wdims[0] = transposed ? in_channels : out_channels;
    wdims[1] = transposed ? out_channels / groups : in_channels / groups;
    for (int32_t i = 0; i < w.n; i++) wdims[2 + i] = w.kernel[i];
    KILN_TRY(kiln_lc_weights(c, kernel, "kernel", w.n + 2, wdims));
    KILN_TRY(kiln_lc_weights_dtype(c, kernel, "kernel", x));
    if (bias.count != 0) {
        KILN_TRY(kiln_lc_weights(c, bias, "bias", 1, &out_channels));
        KILN_TRY(kiln_lc_weights_dtype(c, bias, "bias", x));
    }
    int32_t ins[3] = {x, -1, -1}, n_in = 2, node, y;
    kiln_status st =
        kiln_lc_constant(c, "kernel", kernel.dtype, w.n + 2, wdims, kernel.values, &ins[1]);
    if (st == KILN_OK && bias.count != 0) {
        st = kiln_lc_constant(c, "bias", bias.dtype, 1, &out_channels, bias.values, &ins[2]);
        n_in = 3;
    }
    if (st == KILN_OK)
        st = kiln_lc_node(c, transposed ? KILN_OP_ConvTranspose : KILN_OP_Conv, NULL, ins, n_in,
                          &node, &y);
    if (st == KILN_OK) st = kiln_lc_set_window(c, node, &w, 1);
    if (st == KILN_OK) st = kiln_node_set_int(c->g, node, "group", groups);
    return kiln_lc_finish(c, st, out);
}

kiln_status kiln_network_add_convolution(kiln_network *network, kiln_tensor *input,
                                         int64_t out_channels, kiln_window window, int64_t groups,
                                         kiln_weights kernel, kiln_weights bias, kiln_layer **out) {
    kiln_layer_ctx c;
    KILN_TRY(kiln_lc_begin(&c, network, out, "kiln_network_add_convolution", "conv"));
    return kiln_lc_add_conv(&c, input, out_channels, window, groups, kernel, bias, 0, out);
}

kiln_status kiln_network_add_deconvolution(kiln_network *network, kiln_tensor *input,
                                           int64_t out_channels, kiln_window window, int64_t groups,
                                           kiln_weights kernel, kiln_weights bias,
                                           kiln_layer **out) {
    kiln_layer_ctx c;
    KILN_TRY(kiln_lc_begin(&c, network, out, "kiln_network_add_deconvolution", "deconv"));
    return kiln_lc_add_conv(&c, input, out_channels, window, groups, kernel, bias, 1, out);
}

/* ---------------------------------------------------------------- matrices --------- */

/* A Transpose swapping the last two dims of `*t` (rank >= 2), replacing *t by its output. */
static kiln_status kiln_lc_swap_last_two(kiln_layer_ctx *c, const char *suffix, const char *what,
                                         int32_t *t) {
    int32_t rank;
    KILN_TRY(kiln_lc_need_rank(c, *t, what, &rank));
    if (rank < 2)
        return kiln_lc_arg_error(c, "%s '%s' has rank %d: transposing needs rank >= 2", what,
                                 kiln_lc_t(c, *t)->name, (int)rank);
    int64_t perm[KILN_MAX_DIMS];
    for (int32_t i = 0; i < rank; i++) perm[i] = i;
    perm[rank - 2] = rank - 1;
    perm[rank - 1] = rank - 2;
    int32_t node, y;
    KILN_TRY(kiln_lc_node(c, KILN_OP_Transpose, suffix, t, 1, &node, &y));
    KILN_TRY(kiln_node_set_ints(c->g, node, "perm", perm, rank));
    *t = y;
    return KILN_OK;
}

kiln_status kiln_network_add_matrix_multiply(kiln_network *network, kiln_tensor *a, int transpose_a,
                                             kiln_tensor *b, int transpose_b, kiln_layer **out) {
    kiln_layer_ctx c;
    KILN_TRY(kiln_lc_begin(&c, network, out, "kiln_network_add_matrix_multiply", "matmul"));
    int32_t ins[2], node, y;
    KILN_TRY(kiln_lc_tensor(&c, a, "a", &ins[0]));
    KILN_TRY(kiln_lc_tensor(&c, b, "b", &ins[1]));
    kiln_status st = KILN_OK;
    if (transpose_a) st = kiln_lc_swap_last_two(&c, "transpose_a", "a", &ins[0]);
    if (st == KILN_OK && transpose_b) st = kiln_lc_swap_last_two(&c, "transpose_b", "b", &ins[1]);
    if (st == KILN_OK) st = kiln_lc_node(&c, KILN_OP_MatMul, NULL, ins, 2, &node, &y);
    return kiln_lc_finish(&c, st, out);
}

kiln_status kiln_network_add_fully_connected(kiln_network *network, kiln_tensor *input,
                                             int64_t out_features, kiln_weights kernel,
                                             kiln_weights bias, kiln_layer **out) {
    kiln_layer_ctx c;
    KILN_TRY(kiln_lc_begin(&c, network, out, "kiln_network_add_fully_connected", "fc"));
    int32_t x, rank;
    KILN_TRY(kiln_lc_tensor(&c, input, "input", &x));
    KILN_TRY(kiln_lc_need_rank(&c, x, "input", &rank));
    const kiln_ir_tensor *xt = kiln_lc_t(&c, x);
    if (rank < 1)
        return kiln_lc_arg_error(&c, "input '%s' is a scalar (rank >= 1 needed)", xt->name);
    if (out_features < 1)
        return kiln_lc_arg_error(&c, "out_features is %lld (must be >= 1)",
                                 (long long)out_features);
    /* A last dim unknown here (a flatten of a dynamic-batch tensor) is read off the
     * weights; the builder checks it against the real shape. */
    int64_t in_features = xt->dims[rank - 1];
    if (in_features < 0) {
        if (kernel.count <= 0 || kernel.count % out_features)
            return kiln_lc_arg_error(&c,
                                     "kernel weights have %lld values, not a multiple of "
                                     "out_features (%lld)",
                                     (long long)kernel.count, (long long)out_features);
        in_features = kernel.count / out_features;
    }
    int64_t wdims[2] = {out_features, in_features};
    KILN_TRY(kiln_lc_weights(&c, kernel, "kernel", 2, wdims));
    KILN_TRY(kiln_lc_weights_dtype(&c, kernel, "kernel", x));
    if (bias.count != 0) {
        KILN_TRY(kiln_lc_weights(&c, bias, "bias", 1, &out_features));
        KILN_TRY(kiln_lc_weights_dtype(&c, bias, "bias", x));
    }
    /* Ranks other than 2 store the weights transposed, element by element. */
    int32_t elem = kiln_dtype_bits(kernel.dtype);
    if (rank != 2 && elem % 8)
        return kiln_lc_arg_error(&c,
                                 "%s kernel weights on a rank-%d input are not supported "
                                 "(sub-byte elements)",
                                 kiln_dtype_name(kernel.dtype), (int)rank);
    int32_t ins[3] = {x, -1, -1}, node, y, b = -1;
    kiln_status st = KILN_OK;
    if (bias.count != 0)
        st = kiln_lc_constant(&c, "bias", bias.dtype, 1, &out_features, bias.values, &b);
    if (st == KILN_OK && rank == 2) {
        /* Gemm reads W as stored, [out, in], through transB. */
        st = kiln_lc_constant(&c, "kernel", kernel.dtype, 2, wdims, kernel.values, &ins[1]);
        ins[2] = b;
        if (st == KILN_OK)
            st = kiln_lc_node(&c, KILN_OP_Gemm, NULL, ins, b >= 0 ? 3 : 2, &node, &y);
        if (st == KILN_OK) st = kiln_node_set_int(c.g, node, "transB", 1);
        return kiln_lc_finish(&c, st, out);
    }
    /* Other ranks: MatMul broadcasts over the leading dims but has no transpose, so the
     * weights are stored transposed, [in, out]. */
    size_t esize = (size_t)elem / 8;
    char *wt = malloc(esize * (size_t)(out_features * in_features) + 1);
    if (!wt) st = kiln_error(KILN_ERR_OUT_OF_MEMORY, "%s: out of memory", c.call);
    for (int64_t o = 0; st == KILN_OK && o < out_features; o++)
        for (int64_t i = 0; i < in_features; i++)
            memcpy(wt + (size_t)(i * out_features + o) * esize,
                   (const char *)kernel.values + (size_t)(o * in_features + i) * esize, esize);
    int64_t tdims[2] = {in_features, out_features};
    if (st == KILN_OK) st = kiln_lc_constant(&c, "kernel_t", kernel.dtype, 2, tdims, wt, &ins[1]);
    free(wt);
    if (st == KILN_OK)
        st = kiln_lc_node(&c, KILN_OP_MatMul, b >= 0 ? "matmul" : NULL, ins, 2, &node, &y);
    if (st == KILN_OK && b >= 0) {
        int32_t add_in[2] = {y, b};
        st = kiln_lc_node(&c, KILN_OP_Add, NULL, add_in, 2, &node, &y);
    }
    return kiln_lc_finish(&c, st, out);
}

/* ---------------------------------------------------------------- pooling, softmax - */

kiln_status kiln_network_add_pooling(kiln_network *network, kiln_tensor *input,
                                     kiln_pooling_type type, kiln_window window, kiln_layer **out) {
    kiln_layer_ctx c;
    int max = type == KILN_POOLING_MAX;
    KILN_TRY(
        kiln_lc_begin(&c, network, out, "kiln_network_add_pooling", max ? "maxpool" : "avgpool"));
    if (type != KILN_POOLING_MAX && type != KILN_POOLING_AVERAGE)
        return kiln_lc_arg_error(&c, "unknown pooling type %d", (int)type);
    int32_t x, node, y;
    KILN_TRY(kiln_lc_tensor(&c, input, "input", &x));
    kiln_lc_window w;
    KILN_TRY(kiln_lc_read_window(&c, &window, x, 0, &w));
    kiln_status st =
        kiln_lc_node(&c, max ? KILN_OP_MaxPool : KILN_OP_AveragePool, NULL, &x, 1, &node, &y);
    /* Dilations only when used: AveragePool took them only in opset 19. */
    if (st == KILN_OK) st = kiln_lc_set_window(&c, node, &w, w.dilated);
    /* Padding does not count toward an average (TensorRT's default, and ONNX's). */
    if (st == KILN_OK && !max) st = kiln_node_set_int(c.g, node, "count_include_pad", 0);
    return kiln_lc_finish(&c, st, out);
}

kiln_status kiln_network_add_softmax(kiln_network *network, kiln_tensor *input, int32_t axis,
                                     kiln_layer **out) {
    kiln_layer_ctx c;
    KILN_TRY(kiln_lc_begin(&c, network, out, "kiln_network_add_softmax", "softmax"));
    int32_t x, rank, a, node, y;
    KILN_TRY(kiln_lc_tensor(&c, input, "input", &x));
    KILN_TRY(kiln_lc_need_rank(&c, x, "input", &rank));
    KILN_TRY(kiln_lc_axis(&c, axis, rank, "axis", &a));
    kiln_status st = kiln_lc_node(&c, KILN_OP_Softmax, NULL, &x, 1, &node, &y);
    if (st == KILN_OK) st = kiln_node_set_int(c.g, node, "axis", a);
    return kiln_lc_finish(&c, st, out);
}

/* ---------------------------------------------------------------- normalization ---- */

/* Whether a parameter of shape p broadcasts onto the normalized dims [axis, rank) only,
 * which is what LayerNormalization's Scale and B may do. */
static int kiln_lc_param_fits(const kiln_ir_tensor *p, const kiln_ir_tensor *x, int32_t axis) {
    if (p->rank < 0 || p->rank > x->rank) return 0;
    for (int32_t i = 0; i < p->rank; i++) {
        int32_t xi = x->rank - p->rank + i;
        int64_t pd = p->dims[i];
        if (pd < 0) return 0;
        if (xi < axis ? pd != 1 : (pd != 1 && pd != x->dims[xi])) return 0;
    }
    return 1;
}

/* y = (x - mean) / sqrt(var + eps) * scale + bias over `axes`, with the plain ops. */
static kiln_status kiln_lc_norm_decomposed(kiln_layer_ctx *c, int32_t x, int32_t scale,
                                           int32_t bias, const int64_t *axes, int32_t n_axes,
                                           float epsilon) {
    kiln_dtype dt = kiln_lc_t(c, x)->dtype;
    int32_t axes_t, eps_t, node, mean, diff, sq, var, var_eps, sd, normed, scaled, y;
    KILN_TRY(kiln_lc_constant_ints(c, "axes", axes, n_axes, &axes_t));
    KILN_TRY(kiln_lc_scalar(c, "epsilon", dt, epsilon, &eps_t));
    int32_t in_mean[2] = {x, axes_t};
    KILN_TRY(kiln_lc_node(c, KILN_OP_ReduceMean, "mean", in_mean, 2, &node, &mean));
    KILN_TRY(kiln_node_set_int(c->g, node, "keepdims", 1));
    int32_t in_diff[2] = {x, mean};
    KILN_TRY(kiln_lc_node(c, KILN_OP_Sub, "centered", in_diff, 2, &node, &diff));
    int32_t in_sq[2] = {diff, diff};
    KILN_TRY(kiln_lc_node(c, KILN_OP_Mul, "squared", in_sq, 2, &node, &sq));
    int32_t in_var[2] = {sq, axes_t};
    KILN_TRY(kiln_lc_node(c, KILN_OP_ReduceMean, "variance", in_var, 2, &node, &var));
    KILN_TRY(kiln_node_set_int(c->g, node, "keepdims", 1));
    int32_t in_ve[2] = {var, eps_t};
    KILN_TRY(kiln_lc_node(c, KILN_OP_Add, "variance_eps", in_ve, 2, &node, &var_eps));
    KILN_TRY(kiln_lc_node(c, KILN_OP_Sqrt, "stddev", &var_eps, 1, &node, &sd));
    int32_t in_div[2] = {diff, sd};
    KILN_TRY(kiln_lc_node(c, KILN_OP_Div, "normalized", in_div, 2, &node, &normed));
    int32_t in_scale[2] = {normed, scale};
    KILN_TRY(kiln_lc_node(c, KILN_OP_Mul, "scaled", in_scale, 2, &node, &scaled));
    int32_t in_bias[2] = {scaled, bias};
    return kiln_lc_node(c, KILN_OP_Add, NULL, in_bias, 2, &node, &y);
}

kiln_status kiln_network_add_normalization(kiln_network *network, kiln_tensor *input,
                                           kiln_tensor *scale, kiln_tensor *bias,
                                           uint32_t axes_mask, float epsilon, kiln_layer **out) {
    kiln_layer_ctx c;
    KILN_TRY(kiln_lc_begin(&c, network, out, "kiln_network_add_normalization", "norm"));
    int32_t x, s, b, rank;
    KILN_TRY(kiln_lc_tensor(&c, input, "input", &x));
    KILN_TRY(kiln_lc_tensor(&c, scale, "scale", &s));
    KILN_TRY(kiln_lc_tensor(&c, bias, "bias", &b));
    KILN_TRY(kiln_lc_need_rank(&c, x, "input", &rank));
    if (axes_mask == 0)
        return kiln_lc_arg_error(&c, "axes_mask is 0: set bit i to normalize over dimension i");
    if (rank < 32 && axes_mask >> rank)
        return kiln_lc_arg_error(&c, "axes_mask 0x%x names dimensions beyond the input's rank %d",
                                 (unsigned)axes_mask, (int)rank);
    if (!(epsilon >= 0.0f))
        return kiln_lc_arg_error(&c, "epsilon is %g (must be >= 0)", (double)epsilon);
    int64_t axes[KILN_MAX_DIMS];
    int32_t n_axes = 0;
    for (int32_t i = 0; i < rank; i++)
        if (axes_mask >> i & 1u) axes[n_axes++] = i;
    const kiln_ir_tensor *xt = kiln_lc_t(&c, x);
    /* LayerNormalization covers axes [a, rank) with parameters over those dims only. */
    int32_t first = (int32_t)axes[0];
    int trailing = axes[n_axes - 1] == rank - 1 && n_axes == rank - first;
    int fused = trailing && kiln_lc_param_fits(kiln_lc_t(&c, s), xt, first) &&
                kiln_lc_param_fits(kiln_lc_t(&c, b), xt, first) &&
                kiln_lc_t(&c, s)->dtype == xt->dtype && kiln_lc_t(&c, b)->dtype == xt->dtype;
    for (int32_t d = first; fused && d < rank; d++)
        if (xt->dims[d] < 0) fused = 0;
    kiln_status st;
    if (fused) {
        int32_t ins[3] = {x, s, b}, node, y;
        st = kiln_lc_node(&c, KILN_OP_LayerNormalization, NULL, ins, 3, &node, &y);
        if (st == KILN_OK) st = kiln_node_set_int(c.g, node, "axis", first);
        if (st == KILN_OK) st = kiln_node_set_float(c.g, node, "epsilon", epsilon);
    } else {
        st = kiln_lc_norm_decomposed(&c, x, s, b, axes, n_axes, epsilon);
    }
    return kiln_lc_finish(&c, st, out);
}
