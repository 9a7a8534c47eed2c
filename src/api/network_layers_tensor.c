/*
 * Layer API, tensor layers: concatenation, shuffle, slice, gather, reduce, constant,
 * resize. Index arguments (shapes, starts, axes) become int64 constant inputs, the form
 * ONNX ops take them in at the network's opset.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/network_layers_internal.h"

kiln_status kiln_network_add_concatenation(kiln_network *network, kiln_tensor *const *inputs,
                                           int32_t nb_inputs, int32_t axis, kiln_layer **out) {
    kiln_layer_ctx c;
    KILN_TRY(kiln_lc_begin(&c, network, out, "kiln_network_add_concatenation", "concat"));
    if (!inputs || nb_inputs < 1)
        return kiln_lc_arg_error(&c, "needs at least one input (inputs %s, nb_inputs %d)",
                                 inputs ? "given" : "NULL", (int)nb_inputs);
    int32_t *ins = malloc(sizeof(int32_t) * (size_t)nb_inputs);
    if (!ins) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "%s: out of memory", c.call);
    kiln_status st = KILN_OK;
    for (int32_t i = 0; st == KILN_OK && i < nb_inputs; i++) {
        char what[32];
        snprintf(what, sizeof what, "inputs[%d]", (int)i);
        st = kiln_lc_tensor(&c, inputs[i], what, &ins[i]);
    }
    int32_t rank, a, node, y;
    if (st == KILN_OK) st = kiln_lc_need_rank(&c, ins[0], "inputs[0]", &rank);
    if (st == KILN_OK) st = kiln_lc_axis(&c, axis, rank, "axis", &a);
    if (st == KILN_OK) st = kiln_lc_node(&c, KILN_OP_Concat, NULL, ins, nb_inputs, &node, &y);
    if (st == KILN_OK) st = kiln_node_set_int(c.g, node, "axis", a);
    free(ins);
    return kiln_lc_finish(&c, st, out);
}

/* ---------------------------------------------------------------- shuffle ---------- */

static kiln_status kiln_lc_check_perm(const kiln_layer_ctx *c, const int32_t *perm, int32_t rank,
                                      const char *what, int64_t *out) {
    uint32_t seen = 0;
    for (int32_t i = 0; i < rank; i++) {
        if (perm[i] < 0 || perm[i] >= rank || (seen >> perm[i] & 1u))
            return kiln_lc_arg_error(c, "%s is not a permutation of 0..%d (entry %d is %d)", what,
                                     (int)rank - 1, (int)i, (int)perm[i]);
        seen |= 1u << perm[i];
        out[i] = perm[i];
    }
    return KILN_OK;
}

kiln_status kiln_network_add_shuffle(kiln_network *network, kiln_tensor *input, const int32_t *perm,
                                     const kiln_dims *reshape, const int32_t *second_perm,
                                     kiln_layer **out) {
    kiln_layer_ctx c;
    KILN_TRY(kiln_lc_begin(&c, network, out, "kiln_network_add_shuffle", "shuffle"));
    int32_t x, rank = 0;
    KILN_TRY(kiln_lc_tensor(&c, input, "input", &x));
    int64_t p1[KILN_MAX_DIMS], p2[KILN_MAX_DIMS];
    if (perm || second_perm || reshape) KILN_TRY(kiln_lc_need_rank(&c, x, "input", &rank));
    if (perm) KILN_TRY(kiln_lc_check_perm(&c, perm, rank, "perm", p1));
    int32_t rank2 = rank;
    if (reshape) {
        if (reshape->nb_dims < 0 || reshape->nb_dims > KILN_MAX_DIMS)
            return kiln_lc_arg_error(&c, "reshape has rank %d (0..%d allowed)",
                                     (int)reshape->nb_dims, KILN_MAX_DIMS);
        int inferred = 0;
        for (int32_t i = 0; i < reshape->nb_dims; i++) {
            int64_t d = reshape->d[i];
            if (d < -1 || (d == -1 && inferred++) || (d == 0 && i >= rank))
                return kiln_lc_arg_error(&c,
                                         "reshape dimension %d is %lld (allowed: >= 1, 0 to copy "
                                         "an input dim, one -1 to infer)",
                                         (int)i, (long long)d);
        }
        rank2 = reshape->nb_dims;
    }
    if (second_perm) KILN_TRY(kiln_lc_check_perm(&c, second_perm, rank2, "second_perm", p2));
    kiln_status st = KILN_OK;
    int32_t t = x, node;
    if (!perm && !reshape && !second_perm)
        return kiln_lc_finish(&c, kiln_lc_node(&c, KILN_OP_Identity, NULL, &x, 1, &node, &t), out);
    /* The last of the (up to) three nodes is the layer; the others are helpers. */
    if (perm) {
        st = kiln_lc_node(&c, KILN_OP_Transpose, reshape || second_perm ? "transpose" : NULL, &t, 1,
                          &node, &t);
        if (st == KILN_OK) st = kiln_node_set_ints(c.g, node, "perm", p1, rank);
    }
    if (st == KILN_OK && reshape) {
        int32_t ins[2] = {t, -1};
        st = kiln_lc_constant_ints(&c, "shape", reshape->d, reshape->nb_dims, &ins[1]);
        if (st == KILN_OK)
            st = kiln_lc_node(&c, KILN_OP_Reshape, second_perm ? "reshape" : NULL, ins, 2, &node,
                              &t);
    }
    if (st == KILN_OK && second_perm) {
        st = kiln_lc_node(&c, KILN_OP_Transpose, NULL, &t, 1, &node, &t);
        if (st == KILN_OK) st = kiln_node_set_ints(c.g, node, "perm", p2, rank2);
    }
    return kiln_lc_finish(&c, st, out);
}

/* ---------------------------------------------------------------- slice, gather ---- */

kiln_status kiln_network_add_slice(kiln_network *network, kiln_tensor *input, kiln_dims start,
                                   kiln_dims size, kiln_dims stride, kiln_layer **out) {
    kiln_layer_ctx c;
    KILN_TRY(kiln_lc_begin(&c, network, out, "kiln_network_add_slice", "slice"));
    int32_t x, rank;
    KILN_TRY(kiln_lc_tensor(&c, input, "input", &x));
    KILN_TRY(kiln_lc_need_rank(&c, x, "input", &rank));
    if (start.nb_dims != rank || size.nb_dims != rank || stride.nb_dims != rank)
        return kiln_lc_arg_error(&c,
                                 "start, size and stride have ranks %d, %d and %d; the input "
                                 "has rank %d",
                                 (int)start.nb_dims, (int)size.nb_dims, (int)stride.nb_dims,
                                 (int)rank);
    int64_t starts[KILN_MAX_DIMS], ends[KILN_MAX_DIMS], axes[KILN_MAX_DIMS];
    const kiln_ir_tensor *xt = kiln_lc_t(&c, x);
    for (int32_t i = 0; i < rank; i++) {
        int64_t s = start.d[i], n = size.d[i], k = stride.d[i], dim = xt->dims[i];
        if (k == 0 || s < 0 || n < 0)
            return kiln_lc_arg_error(&c,
                                     "dimension %d: start %lld, size %lld, stride %lld (start "
                                     "and size must be >= 0, stride non-zero)",
                                     (int)i, (long long)s, (long long)n, (long long)k);
        int64_t last = s + (n - 1) * k;
        if (dim >= 0 && n > 0 && (s >= dim || last < 0 || last >= dim))
            return kiln_lc_arg_error(&c,
                                     "dimension %d: start %lld, size %lld, stride %lld reach "
                                     "index %lld, outside [0, %lld)",
                                     (int)i, (long long)s, (long long)n, (long long)k,
                                     (long long)(s >= dim ? s : last), (long long)dim);
        starts[i] = s;
        ends[i] = s + n * k;
        /* Walking backwards past index 0: a negative end would count from the back, so
         * use ONNX's "before the first element". */
        if (k < 0 && ends[i] < 0) ends[i] = INT64_MIN;
        axes[i] = i;
    }
    int32_t ins[5] = {x, -1, -1, -1, -1}, node, y;
    kiln_status st = kiln_lc_constant_ints(&c, "starts", starts, rank, &ins[1]);
    if (st == KILN_OK) st = kiln_lc_constant_ints(&c, "ends", ends, rank, &ins[2]);
    if (st == KILN_OK) st = kiln_lc_constant_ints(&c, "axes", axes, rank, &ins[3]);
    if (st == KILN_OK) st = kiln_lc_constant_ints(&c, "steps", stride.d, rank, &ins[4]);
    if (st == KILN_OK) st = kiln_lc_node(&c, KILN_OP_Slice, NULL, ins, 5, &node, &y);
    return kiln_lc_finish(&c, st, out);
}

kiln_status kiln_network_add_gather(kiln_network *network, kiln_tensor *data, kiln_tensor *indices,
                                    int32_t axis, kiln_layer **out) {
    kiln_layer_ctx c;
    KILN_TRY(kiln_lc_begin(&c, network, out, "kiln_network_add_gather", "gather"));
    int32_t ins[2], rank, a, node, y;
    KILN_TRY(kiln_lc_tensor(&c, data, "data", &ins[0]));
    KILN_TRY(kiln_lc_tensor(&c, indices, "indices", &ins[1]));
    KILN_TRY(kiln_lc_need_rank(&c, ins[0], "data", &rank));
    KILN_TRY(kiln_lc_axis(&c, axis, rank, "axis", &a));
    kiln_dtype it = kiln_lc_t(&c, ins[1])->dtype;
    if (it != KILN_DTYPE_UNDEFINED && it != KILN_DTYPE_INT32 && it != KILN_DTYPE_INT64)
        return kiln_lc_arg_error(&c, "indices '%s' are %s (int32 or int64 needed)",
                                 kiln_lc_t(&c, ins[1])->name, kiln_dtype_name(it));
    kiln_status st = kiln_lc_node(&c, KILN_OP_Gather, NULL, ins, 2, &node, &y);
    if (st == KILN_OK) st = kiln_node_set_int(c.g, node, "axis", a);
    return kiln_lc_finish(&c, st, out);
}

/* ---------------------------------------------------------------- reduce ----------- */

kiln_status kiln_network_add_reduce(kiln_network *network, kiln_tensor *input, kiln_reduce_op op,
                                    uint32_t axes_mask, int keep_dims, kiln_layer **out) {
    static const struct {
        kiln_op op;
        const char *name;
    } ops[] = {
        [KILN_REDUCE_SUM] = {KILN_OP_ReduceSum, "reduce_sum"},
        [KILN_REDUCE_MEAN] = {KILN_OP_ReduceMean, "reduce_mean"},
        [KILN_REDUCE_MAX] = {KILN_OP_ReduceMax, "reduce_max"},
        [KILN_REDUCE_MIN] = {KILN_OP_ReduceMin, "reduce_min"},
        [KILN_REDUCE_PROD] = {KILN_OP_ReduceProd, "reduce_prod"},
    };
    kiln_layer_ctx c;
    int known = (int)op >= 0 && (size_t)op < sizeof ops / sizeof ops[0];
    KILN_TRY(kiln_lc_begin(&c, network, out, "kiln_network_add_reduce",
                           known ? ops[op].name : "reduce"));
    if (!known) return kiln_lc_arg_error(&c, "unknown reduce op %d", (int)op);
    int32_t x, rank;
    KILN_TRY(kiln_lc_tensor(&c, input, "input", &x));
    KILN_TRY(kiln_lc_need_rank(&c, x, "input", &rank));
    /* An empty axes input would reduce everything in ONNX: a zero mask is more likely a
     * mistake, so say so instead. */
    if (axes_mask == 0)
        return kiln_lc_arg_error(&c, "axes_mask is 0: set bit i to reduce dimension i");
    if (rank < 32 && axes_mask >> rank)
        return kiln_lc_arg_error(&c, "axes_mask 0x%x names dimensions beyond the input's rank %d",
                                 (unsigned)axes_mask, (int)rank);
    int64_t axes[KILN_MAX_DIMS];
    int32_t n_axes = 0;
    for (int32_t i = 0; i < rank; i++)
        if (axes_mask >> i & 1u) axes[n_axes++] = i;
    int32_t ins[2] = {x, -1}, node, y;
    kiln_status st = kiln_lc_constant_ints(&c, "axes", axes, n_axes, &ins[1]);
    if (st == KILN_OK) st = kiln_lc_node(&c, ops[op].op, NULL, ins, 2, &node, &y);
    if (st == KILN_OK) st = kiln_node_set_int(c.g, node, "keepdims", keep_dims ? 1 : 0);
    return kiln_lc_finish(&c, st, out);
}

/* ---------------------------------------------------------------- constant --------- */

kiln_status kiln_network_add_constant(kiln_network *network, kiln_dims dims, kiln_weights weights,
                                      kiln_layer **out) {
    kiln_layer_ctx c;
    KILN_TRY(kiln_lc_begin(&c, network, out, "kiln_network_add_constant", "constant"));
    if (dims.nb_dims < 0 || dims.nb_dims > KILN_MAX_DIMS)
        return kiln_lc_arg_error(&c, "dims has rank %d (0..%d allowed)", (int)dims.nb_dims,
                                 KILN_MAX_DIMS);
    for (int32_t i = 0; i < dims.nb_dims; i++)
        if (dims.d[i] < 0)
            return kiln_lc_arg_error(&c, "dimension %d is %lld (a constant's dims must be known)",
                                     (int)i, (long long)dims.d[i]);
    KILN_TRY(kiln_lc_weights(&c, weights, "constant", dims.nb_dims, dims.d));
    /* The value feeds an Identity node so that, like every layer, it has a node and an
     * output tensor of its own (constant folding removes the node again). */
    int32_t value, node, y;
    kiln_status st =
        kiln_lc_constant(&c, "value", weights.dtype, dims.nb_dims, dims.d, weights.values, &value);
    if (st == KILN_OK) st = kiln_lc_node(&c, KILN_OP_Identity, NULL, &value, 1, &node, &y);
    return kiln_lc_finish(&c, st, out);
}

/* ---------------------------------------------------------------- resize ----------- */

kiln_status kiln_network_add_resize(kiln_network *network, kiln_tensor *input,
                                    kiln_resize_mode mode, kiln_dims output_dims,
                                    kiln_layer **out) {
    static const char *modes[] = {
        [KILN_RESIZE_NEAREST] = "nearest",
        [KILN_RESIZE_LINEAR] = "linear",
        [KILN_RESIZE_CUBIC] = "cubic",
    };
    kiln_layer_ctx c;
    KILN_TRY(kiln_lc_begin(&c, network, out, "kiln_network_add_resize", "resize"));
    if ((int)mode < 0 || (size_t)mode >= sizeof modes / sizeof modes[0])
        return kiln_lc_arg_error(&c, "unknown resize mode %d", (int)mode);
    int32_t x, rank;
    KILN_TRY(kiln_lc_tensor(&c, input, "input", &x));
    KILN_TRY(kiln_lc_need_rank(&c, x, "input", &rank));
    if (output_dims.nb_dims != rank)
        return kiln_lc_arg_error(&c, "output_dims has rank %d; the input has rank %d",
                                 (int)output_dims.nb_dims, (int)rank);
    for (int32_t i = 0; i < rank; i++)
        if (output_dims.d[i] < 1)
            return kiln_lc_arg_error(&c, "output dimension %d is %lld (must be >= 1)", (int)i,
                                     (long long)output_dims.d[i]);
    kiln_op op;
    KILN_TRY(kiln_lc_find_op(&c, "Resize", &op));
    /* Resize(X, roi, scales, sizes) with ONNX's defaults otherwise: half_pixel
     * coordinates, round_prefer_floor for nearest, cubic coefficient -0.75. */
    int32_t ins[4] = {x, -1, -1, -1}, node, y;
    kiln_status st = kiln_lc_constant_ints(&c, "sizes", output_dims.d, rank, &ins[3]);
    if (st == KILN_OK) st = kiln_lc_node(&c, op, NULL, ins, 4, &node, &y);
    if (st == KILN_OK)
        st = kiln_node_set_string(c.g, node, "mode", modes[mode], strlen(modes[mode]));
    return kiln_lc_finish(&c, st, out);
}
