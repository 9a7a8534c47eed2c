/*
 * Layer API, elementwise layers: activations, binary and unary ops, identity, cast. Each
 * maps onto one ONNX op (Clip reads its bounds as constant inputs, as ONNX has since
 * opset 11).
 */
#include "api/network_layers_internal.h"

/* The node of a one-input, one-output op; *node and *y are set. */
static kiln_status kiln_lc_unary_node(kiln_layer_ctx *c, kiln_tensor *input, kiln_op op,
                                      int32_t *node, int32_t *y) {
    int32_t x;
    KILN_TRY(kiln_lc_tensor(c, input, "input", &x));
    return kiln_lc_node(c, op, NULL, &x, 1, node, y);
}

/* ---------------------------------------------------------------- activation ------- */

typedef struct kiln_lc_activation {
    kiln_op op;
    const char *name; /* the default layer name's prefix */
} kiln_lc_activation;

static const kiln_lc_activation kiln_lc_activations[] = {
    [KILN_ACTIVATION_RELU] = {KILN_OP_Relu, "relu"},
    [KILN_ACTIVATION_SIGMOID] = {KILN_OP_Sigmoid, "sigmoid"},
    [KILN_ACTIVATION_TANH] = {KILN_OP_Tanh, "tanh"},
    [KILN_ACTIVATION_LEAKY_RELU] = {KILN_OP_LeakyRelu, "leaky_relu"},
    [KILN_ACTIVATION_ELU] = {KILN_OP_Elu, "elu"},
    [KILN_ACTIVATION_SELU] = {KILN_OP_Selu, "selu"},
    [KILN_ACTIVATION_SOFTSIGN] = {KILN_OP_Softsign, "softsign"},
    [KILN_ACTIVATION_SOFTPLUS] = {KILN_OP_Softplus, "softplus"},
    [KILN_ACTIVATION_CLIP] = {KILN_OP_Clip, "clip"},
    [KILN_ACTIVATION_HARD_SIGMOID] = {KILN_OP_HardSigmoid, "hard_sigmoid"},
    [KILN_ACTIVATION_GELU_ERF] = {KILN_OP_Gelu, "gelu"},
    [KILN_ACTIVATION_GELU_TANH] = {KILN_OP_Gelu, "gelu"},
    [KILN_ACTIVATION_SWISH] = {KILN_OP_Swish, "swish"},
};

/* ONNX added Swish (x * sigmoid(alpha * x)) in opset 24; its node says so. */
#define KILN_SWISH_OPSET 24

kiln_status kiln_network_add_activation(kiln_network *network, kiln_tensor *input,
                                        kiln_activation_type type, float alpha, float beta,
                                        kiln_layer **out) {
    kiln_layer_ctx c;
    int known =
        (int)type >= 0 && (size_t)type < sizeof kiln_lc_activations / sizeof kiln_lc_activations[0];
    KILN_TRY(kiln_lc_begin(&c, network, out, "kiln_network_add_activation",
                           known ? kiln_lc_activations[type].name : "activation"));
    if (!known) return kiln_lc_arg_error(&c, "unknown activation type %d", (int)type);
    int32_t x, node, y;
    KILN_TRY(kiln_lc_tensor(&c, input, "input", &x));
    kiln_graph *g = c.g;
    kiln_status st = KILN_OK;
    if (type == KILN_ACTIVATION_CLIP) {
        if (!(alpha <= beta))
            return kiln_lc_arg_error(&c, "clip bounds: alpha (min, %g) must be <= beta (max, %g)",
                                     (double)alpha, (double)beta);
        kiln_dtype dt = kiln_lc_t(&c, x)->dtype;
        int32_t ins[3] = {x, -1, -1};
        st = kiln_lc_scalar(&c, "min", dt, alpha, &ins[1]);
        if (st == KILN_OK) st = kiln_lc_scalar(&c, "max", dt, beta, &ins[2]);
        if (st == KILN_OK) st = kiln_lc_node(&c, KILN_OP_Clip, NULL, ins, 3, &node, &y);
        return kiln_lc_finish(&c, st, out);
    }
    st = kiln_lc_node(&c, kiln_lc_activations[type].op, NULL, &x, 1, &node, &y);
    if (st != KILN_OK) return kiln_lc_finish(&c, st, out);
    switch (type) {
    case KILN_ACTIVATION_LEAKY_RELU:
    case KILN_ACTIVATION_ELU:
        st = kiln_node_set_float(g, node, "alpha", alpha);
        break;
    case KILN_ACTIVATION_SELU:
        st = kiln_node_set_float(g, node, "alpha", alpha);
        if (st == KILN_OK) st = kiln_node_set_float(g, node, "gamma", beta);
        break;
    case KILN_ACTIVATION_HARD_SIGMOID:
        st = kiln_node_set_float(g, node, "alpha", alpha);
        if (st == KILN_OK) st = kiln_node_set_float(g, node, "beta", beta);
        break;
    case KILN_ACTIVATION_GELU_ERF:
        st = kiln_node_set_string(g, node, "approximate", "none", 4);
        break;
    case KILN_ACTIVATION_GELU_TANH:
        st = kiln_node_set_string(g, node, "approximate", "tanh", 4);
        break;
    case KILN_ACTIVATION_SWISH:
        /* Plain swish, x * sigmoid(x): alpha and beta are unused here, as for relu. */
        g->nodes[node].opset =
            KILN_SWISH_OPSET > g->nodes[node].opset ? KILN_SWISH_OPSET : g->nodes[node].opset;
        st = kiln_node_set_float(g, node, "alpha", 1.0f);
        break;
    default:
        break;
    }
    return kiln_lc_finish(&c, st, out);
}

/* ---------------------------------------------------------------- binary, unary ---- */

kiln_status kiln_network_add_elementwise(kiln_network *network, kiln_tensor *a, kiln_tensor *b,
                                         kiln_elementwise_op op, kiln_layer **out) {
    static const struct {
        kiln_op op;
        const char *name;
    } ops[] = {
        [KILN_ELEMENTWISE_SUM] = {KILN_OP_Add, "add"},
        [KILN_ELEMENTWISE_SUB] = {KILN_OP_Sub, "sub"},
        [KILN_ELEMENTWISE_PROD] = {KILN_OP_Mul, "mul"},
        [KILN_ELEMENTWISE_DIV] = {KILN_OP_Div, "div"},
        [KILN_ELEMENTWISE_MAX] = {KILN_OP_Max, "max"},
        [KILN_ELEMENTWISE_MIN] = {KILN_OP_Min, "min"},
        [KILN_ELEMENTWISE_POW] = {KILN_OP_Pow, "pow"},
    };
    kiln_layer_ctx c;
    int known = (int)op >= 0 && (size_t)op < sizeof ops / sizeof ops[0];
    KILN_TRY(kiln_lc_begin(&c, network, out, "kiln_network_add_elementwise",
                           known ? ops[op].name : "elementwise"));
    if (!known) return kiln_lc_arg_error(&c, "unknown elementwise op %d", (int)op);
    int32_t ins[2], node, y;
    KILN_TRY(kiln_lc_tensor(&c, a, "a", &ins[0]));
    KILN_TRY(kiln_lc_tensor(&c, b, "b", &ins[1]));
    return kiln_lc_finish(&c, kiln_lc_node(&c, ops[op].op, NULL, ins, 2, &node, &y), out);
}

kiln_status kiln_network_add_unary(kiln_network *network, kiln_tensor *input, kiln_unary_op op,
                                   kiln_layer **out) {
    static const struct {
        kiln_op op;
        const char *name;
    } ops[] = {
        [KILN_UNARY_EXP] = {KILN_OP_Exp, "exp"},
        [KILN_UNARY_LOG] = {KILN_OP_Log, "log"},
        [KILN_UNARY_SQRT] = {KILN_OP_Sqrt, "sqrt"},
        [KILN_UNARY_RECIP] = {KILN_OP_Reciprocal, "recip"},
        [KILN_UNARY_ABS] = {KILN_OP_Abs, "abs"},
        [KILN_UNARY_NEG] = {KILN_OP_Neg, "neg"},
        [KILN_UNARY_SIN] = {KILN_OP_Sin, "sin"},
        [KILN_UNARY_COS] = {KILN_OP_Cos, "cos"},
        [KILN_UNARY_ERF] = {KILN_OP_Erf, "erf"},
        [KILN_UNARY_FLOOR] = {KILN_OP_Floor, "floor"},
        [KILN_UNARY_CEIL] = {KILN_OP_Ceil, "ceil"},
        [KILN_UNARY_NOT] = {KILN_OP_Not, "not"},
    };
    kiln_layer_ctx c;
    int known = (int)op >= 0 && (size_t)op < sizeof ops / sizeof ops[0];
    KILN_TRY(
        kiln_lc_begin(&c, network, out, "kiln_network_add_unary", known ? ops[op].name : "unary"));
    if (!known) return kiln_lc_arg_error(&c, "unknown unary op %d", (int)op);
    int32_t node, y;
    return kiln_lc_finish(&c, kiln_lc_unary_node(&c, input, ops[op].op, &node, &y), out);
}

/* ---------------------------------------------------------------- identity, cast --- */

kiln_status kiln_network_add_identity(kiln_network *network, kiln_tensor *input, kiln_layer **out) {
    kiln_layer_ctx c;
    KILN_TRY(kiln_lc_begin(&c, network, out, "kiln_network_add_identity", "identity"));
    int32_t node, y;
    return kiln_lc_finish(&c, kiln_lc_unary_node(&c, input, KILN_OP_Identity, &node, &y), out);
}

kiln_status kiln_network_add_cast(kiln_network *network, kiln_tensor *input, kiln_dtype to,
                                  kiln_layer **out) {
    kiln_layer_ctx c;
    KILN_TRY(kiln_lc_begin(&c, network, out, "kiln_network_add_cast", "cast"));
    if (kiln_dtype_bits(to) == 0)
        return kiln_lc_arg_error(&c, "cannot cast to dtype %s (%d)", kiln_dtype_name(to), (int)to);
    int32_t node, y;
    kiln_status st = kiln_lc_unary_node(&c, input, KILN_OP_Cast, &node, &y);
    if (st == KILN_OK) st = kiln_node_set_int(c.g, node, "to", to);
    return kiln_lc_finish(&c, st, out);
}
