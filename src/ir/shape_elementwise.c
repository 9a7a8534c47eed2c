/*
 * Shape functions of the elementwise family: unary ops keep their input's shape, binary and
 * variadic ops broadcast (numpy rules; before opset 7, the legacy broadcast/axis attributes),
 * predicates and comparisons give bool, Cast/CastLike change only the dtype.
 *
 * Dtypes are checked against what ONNX allows per op: a dtype ONNX does not allow is a shape
 * error; one it allows but kiln does not compute with (string, complex, 8/4/2-bit floats and
 * ints outside Cast) is KILN_ERR_UNSUPPORTED.
 */
#include <ctype.h>
#include <stdbool.h>
#include <string.h>

#include "ir/shape_elementwise.h"

/* dtype classes */
enum {
    KILN_EWC_FLOAT = 1, /* float16, bfloat16, float32, float64 */
    KILN_EWC_SINT = 2,
    KILN_EWC_UINT = 4,
    KILN_EWC_BOOL = 8,
    KILN_EWC_OTHER = 16, /* string, complex, float8, 4/2-bit types */
    KILN_EWC_INT = KILN_EWC_SINT | KILN_EWC_UINT,
    KILN_EWC_NUM = KILN_EWC_FLOAT | KILN_EWC_INT,
    KILN_EWC_SIGNED = KILN_EWC_FLOAT | KILN_EWC_SINT,
    KILN_EWC_ALL = KILN_EWC_NUM | KILN_EWC_BOOL
};

static int kiln_ewc_class(kiln_dtype dt) {
    switch (dt) {
    case KILN_DTYPE_FLOAT16:
    case KILN_DTYPE_BFLOAT16:
    case KILN_DTYPE_FLOAT32:
    case KILN_DTYPE_FLOAT64:
        return KILN_EWC_FLOAT;
    case KILN_DTYPE_INT8:
    case KILN_DTYPE_INT16:
    case KILN_DTYPE_INT32:
    case KILN_DTYPE_INT64:
        return KILN_EWC_SINT;
    case KILN_DTYPE_UINT8:
    case KILN_DTYPE_UINT16:
    case KILN_DTYPE_UINT32:
    case KILN_DTYPE_UINT64:
        return KILN_EWC_UINT;
    case KILN_DTYPE_BOOL:
        return KILN_EWC_BOOL;
    default:
        return KILN_EWC_OTHER;
    }
}

/* Input i must be present with a dtype in `allowed` (a mask of classes). */
static kiln_status kiln_ewc_input(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                  int32_t i, int allowed) {
    if (i >= n_in || !kiln_tview_present(&in[i]))
        return kiln_shape_error(node, "input %d is required", (int)i);
    int cls = kiln_ewc_class(in[i].dtype);
    if (cls & allowed) return KILN_OK;
    if (cls == KILN_EWC_OTHER || in[i].dtype == KILN_DTYPE_UNDEFINED)
        return kiln_node_error(KILN_ERR_UNSUPPORTED, node, "dtype %s of input %d not supported",
                               kiln_dtype_name(in[i].dtype), (int)i);
    return kiln_shape_error(node, "dtype %s of input %d is not allowed",
                            kiln_dtype_name(in[i].dtype), (int)i);
}

static kiln_status kiln_ewc_same_dtype(const kiln_node *node, const kiln_tview *in, int32_t a,
                                       int32_t b) {
    if (in[a].dtype == in[b].dtype) return KILN_OK;
    return kiln_shape_error(node, "inputs %d and %d have different dtypes (%s, %s)", (int)a, (int)b,
                            kiln_dtype_name(in[a].dtype), kiln_dtype_name(in[b].dtype));
}

/* out[0] = in's shape with dtype dt */
static void kiln_ewc_set(kiln_tview *out, const kiln_tview *shape, kiln_dtype dt) {
    if (!kiln_tview_present(out)) return;
    out->dtype = dt;
    out->rank = shape->rank;
    for (int32_t d = 0; d < shape->rank && d < KILN_MAX_DIMS; d++) out->dims[d] = shape->dims[d];
}

/* Unary: the output has input 0's shape, and its dtype unless out_dt is given. */
static kiln_status kiln_ewc_unary(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                  kiln_tview *out, int allowed, kiln_dtype out_dt) {
    KILN_TRY(kiln_ewc_input(node, in, n_in, 0, allowed));
    kiln_ewc_set(&out[0], &in[0], out_dt != KILN_DTYPE_UNDEFINED ? out_dt : in[0].dtype);
    return KILN_OK;
}

kiln_status kiln_ew_operand_view(const kiln_node *node, const kiln_tview *a, const kiln_tview *b,
                                 kiln_tview *b_out) {
    *b_out = *b;
    if (a->rank < 0 || b->rank < 0) return KILN_OK;
    if (node->opset < 7 && kiln_attr_int(node, "broadcast", 0)) {
        int64_t axis = kiln_attr_int(node, "axis", a->rank - b->rank);
        if (axis < 0) axis += a->rank;
        if (b->rank > a->rank || axis < 0 || axis + b->rank > a->rank)
            return kiln_shape_error(node, "legacy broadcast of rank %d at axis %lld into rank %d",
                                    (int)b->rank, (long long)axis, (int)a->rank);
        b_out->rank = a->rank;
        for (int32_t d = 0; d < a->rank; d++) b_out->dims[d] = 1;
        for (int32_t d = 0; d < b->rank; d++) b_out->dims[axis + d] = b->dims[d];
        return KILN_OK;
    }
    if (node->op == KILN_OP_PRelu && b->rank == 1 && a->rank > 1 && b->dims[0] > 1 &&
        b->dims[0] != a->dims[a->rank - 1]) {
        int32_t at = -1, found = 0;
        for (int32_t d = 0; d < a->rank; d++)
            if (a->dims[d] == b->dims[0]) at = d, found++;
        if (found != 1) return KILN_OK; /* numpy broadcasting reports the mismatch */
        b_out->rank = a->rank - at;
        b_out->dims[0] = b->dims[0];
        for (int32_t d = 1; d < b_out->rank; d++) b_out->dims[d] = 1;
    }
    return KILN_OK;
}

/* Binary: both inputs in `allowed`, of one dtype unless `mixed`; the output broadcasts them,
 * with dtype out_dt (or input 0's). */
static kiln_status kiln_ewc_binary(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                   kiln_tview *out, int allowed, int allowed_b, bool mixed,
                                   kiln_dtype out_dt) {
    KILN_TRY(kiln_ewc_input(node, in, n_in, 0, allowed));
    KILN_TRY(kiln_ewc_input(node, in, n_in, 1, allowed_b));
    if (!mixed) KILN_TRY(kiln_ewc_same_dtype(node, in, 0, 1));
    kiln_tview b, shape;
    KILN_TRY(kiln_ew_operand_view(node, &in[0], &in[1], &b));
    KILN_TRY(kiln_broadcast_shapes(node, &in[0], &b, &shape));
    kiln_ewc_set(&out[0], &shape, out_dt != KILN_DTYPE_UNDEFINED ? out_dt : in[0].dtype);
    return KILN_OK;
}

/* ------------------------------------------------------------- unary --------------- */

#define KILN_EWC_UNARY(Name, ALLOWED, OUT_DT)                                                      \
    kiln_status kiln_shape_##Name(const kiln_node *node, const kiln_tview *in, int32_t n_in,       \
                                  kiln_tview *out, int32_t n_out) {                                \
        return kiln_ewc_unary(node, in, n_in, out, ALLOWED, OUT_DT);                               \
    }

#define KILN_EWC_SAME KILN_DTYPE_UNDEFINED

KILN_EWC_UNARY(Abs, KILN_EWC_NUM, KILN_EWC_SAME)
KILN_EWC_UNARY(Neg, KILN_EWC_SIGNED, KILN_EWC_SAME)
KILN_EWC_UNARY(Sign, KILN_EWC_NUM, KILN_EWC_SAME)
KILN_EWC_UNARY(Relu, KILN_EWC_SIGNED, KILN_EWC_SAME)
KILN_EWC_UNARY(Floor, KILN_EWC_FLOAT, KILN_EWC_SAME)
KILN_EWC_UNARY(Ceil, KILN_EWC_FLOAT, KILN_EWC_SAME)
KILN_EWC_UNARY(Round, KILN_EWC_FLOAT, KILN_EWC_SAME)
KILN_EWC_UNARY(Sqrt, KILN_EWC_FLOAT, KILN_EWC_SAME)
KILN_EWC_UNARY(Reciprocal, KILN_EWC_FLOAT, KILN_EWC_SAME)
KILN_EWC_UNARY(Exp, KILN_EWC_FLOAT, KILN_EWC_SAME)
KILN_EWC_UNARY(Log, KILN_EWC_FLOAT, KILN_EWC_SAME)
KILN_EWC_UNARY(Sin, KILN_EWC_FLOAT, KILN_EWC_SAME)
KILN_EWC_UNARY(Cos, KILN_EWC_FLOAT, KILN_EWC_SAME)
KILN_EWC_UNARY(Tan, KILN_EWC_FLOAT, KILN_EWC_SAME)
KILN_EWC_UNARY(Asin, KILN_EWC_FLOAT, KILN_EWC_SAME)
KILN_EWC_UNARY(Acos, KILN_EWC_FLOAT, KILN_EWC_SAME)
KILN_EWC_UNARY(Atan, KILN_EWC_FLOAT, KILN_EWC_SAME)
KILN_EWC_UNARY(Sinh, KILN_EWC_FLOAT, KILN_EWC_SAME)
KILN_EWC_UNARY(Cosh, KILN_EWC_FLOAT, KILN_EWC_SAME)
KILN_EWC_UNARY(Asinh, KILN_EWC_FLOAT, KILN_EWC_SAME)
KILN_EWC_UNARY(Acosh, KILN_EWC_FLOAT, KILN_EWC_SAME)
KILN_EWC_UNARY(Atanh, KILN_EWC_FLOAT, KILN_EWC_SAME)
KILN_EWC_UNARY(Erf, KILN_EWC_NUM, KILN_EWC_SAME)
KILN_EWC_UNARY(LeakyRelu, KILN_EWC_FLOAT, KILN_EWC_SAME)
KILN_EWC_UNARY(Elu, KILN_EWC_FLOAT, KILN_EWC_SAME)
KILN_EWC_UNARY(Selu, KILN_EWC_FLOAT, KILN_EWC_SAME)
KILN_EWC_UNARY(Celu, KILN_EWC_FLOAT, KILN_EWC_SAME)
KILN_EWC_UNARY(Sigmoid, KILN_EWC_FLOAT, KILN_EWC_SAME)
KILN_EWC_UNARY(HardSigmoid, KILN_EWC_FLOAT, KILN_EWC_SAME)
KILN_EWC_UNARY(HardSwish, KILN_EWC_FLOAT, KILN_EWC_SAME)
KILN_EWC_UNARY(Tanh, KILN_EWC_FLOAT, KILN_EWC_SAME)
KILN_EWC_UNARY(Softplus, KILN_EWC_FLOAT, KILN_EWC_SAME)
KILN_EWC_UNARY(Softsign, KILN_EWC_FLOAT, KILN_EWC_SAME)
KILN_EWC_UNARY(ThresholdedRelu, KILN_EWC_FLOAT, KILN_EWC_SAME)
KILN_EWC_UNARY(Mish, KILN_EWC_FLOAT, KILN_EWC_SAME)
KILN_EWC_UNARY(Swish, KILN_EWC_FLOAT, KILN_EWC_SAME)
KILN_EWC_UNARY(Shrink, KILN_EWC_NUM, KILN_EWC_SAME)
KILN_EWC_UNARY(IsNaN, KILN_EWC_FLOAT, KILN_DTYPE_BOOL)
KILN_EWC_UNARY(IsInf, KILN_EWC_FLOAT, KILN_DTYPE_BOOL)
KILN_EWC_UNARY(Not, KILN_EWC_BOOL, KILN_EWC_SAME)
KILN_EWC_UNARY(BitwiseNot, KILN_EWC_INT, KILN_EWC_SAME)

kiln_status kiln_shape_Gelu(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                            kiln_tview *out, int32_t n_out) {
    const char *approx = kiln_attr_string(node, "approximate", "none");
    if (strcmp(approx, "none") && strcmp(approx, "tanh"))
        return kiln_shape_error(node, "approximate must be 'none' or 'tanh', not '%s'", approx);
    return kiln_ewc_unary(node, in, n_in, out, KILN_EWC_FLOAT, KILN_EWC_SAME);
}

/* ------------------------------------------------------------- binary -------------- */

#define KILN_EWC_BINARY(Name, ALLOWED, OUT_DT)                                                     \
    kiln_status kiln_shape_##Name(const kiln_node *node, const kiln_tview *in, int32_t n_in,       \
                                  kiln_tview *out, int32_t n_out) {                                \
        return kiln_ewc_binary(node, in, n_in, out, ALLOWED, ALLOWED, false, OUT_DT);              \
    }

KILN_EWC_BINARY(Add, KILN_EWC_NUM, KILN_EWC_SAME)
KILN_EWC_BINARY(Sub, KILN_EWC_NUM, KILN_EWC_SAME)
KILN_EWC_BINARY(Mul, KILN_EWC_NUM, KILN_EWC_SAME)
KILN_EWC_BINARY(Div, KILN_EWC_NUM, KILN_EWC_SAME)
KILN_EWC_BINARY(Mod, KILN_EWC_NUM, KILN_EWC_SAME)
KILN_EWC_BINARY(PRelu, KILN_EWC_NUM, KILN_EWC_SAME)
KILN_EWC_BINARY(BitShift, KILN_EWC_UINT, KILN_EWC_SAME)
KILN_EWC_BINARY(And, KILN_EWC_BOOL, KILN_EWC_SAME)
KILN_EWC_BINARY(Or, KILN_EWC_BOOL, KILN_EWC_SAME)
KILN_EWC_BINARY(Xor, KILN_EWC_BOOL, KILN_EWC_SAME)
KILN_EWC_BINARY(BitwiseAnd, KILN_EWC_INT, KILN_EWC_SAME)
KILN_EWC_BINARY(BitwiseOr, KILN_EWC_INT, KILN_EWC_SAME)
KILN_EWC_BINARY(BitwiseXor, KILN_EWC_INT, KILN_EWC_SAME)
/* Equal also compares strings (its kernel hands them to string_equal.c). */
kiln_status kiln_shape_Equal(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                             kiln_tview *out, int32_t n_out) {
    (void)n_out;
    int strings = n_in >= 2 && in[0].dtype == KILN_DTYPE_STRING && in[1].dtype == KILN_DTYPE_STRING;
    int allowed = strings ? KILN_EWC_OTHER : KILN_EWC_ALL;
    return kiln_ewc_binary(node, in, n_in, out, allowed, allowed, false, KILN_DTYPE_BOOL);
}
KILN_EWC_BINARY(Less, KILN_EWC_NUM, KILN_DTYPE_BOOL)
KILN_EWC_BINARY(LessOrEqual, KILN_EWC_NUM, KILN_DTYPE_BOOL)
KILN_EWC_BINARY(Greater, KILN_EWC_NUM, KILN_DTYPE_BOOL)
KILN_EWC_BINARY(GreaterOrEqual, KILN_EWC_NUM, KILN_DTYPE_BOOL)

/* Pow: the exponent may have another numeric dtype; the result has the base's. */
kiln_status kiln_shape_Pow(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                           kiln_tview *out, int32_t n_out) {
    return kiln_ewc_binary(node, in, n_in, out, KILN_EWC_NUM, KILN_EWC_NUM, true, KILN_EWC_SAME);
}

/* ------------------------------------------------------------- variadic ------------ */

/* Max, Min, Sum, Mean: present inputs of one dtype, broadcast together. */
static kiln_status kiln_ewc_variadic(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                     kiln_tview *out, int allowed) {
    int32_t first = -1;
    kiln_tview shape;
    memset(&shape, 0, sizeof shape);
    for (int32_t k = 0; k < n_in; k++) {
        if (!kiln_tview_present(&in[k])) continue;
        KILN_TRY(kiln_ewc_input(node, in, n_in, k, allowed));
        if (first < 0) {
            first = k;
            shape = in[k];
            continue;
        }
        KILN_TRY(kiln_ewc_same_dtype(node, in, first, k));
        kiln_tview next;
        KILN_TRY(kiln_broadcast_shapes(node, &shape, &in[k], &next));
        shape.rank = next.rank;
        memcpy(shape.dims, next.dims, sizeof shape.dims);
    }
    if (first < 0) return kiln_shape_error(node, "needs at least one input");
    kiln_ewc_set(&out[0], &shape, in[first].dtype);
    return KILN_OK;
}

kiln_status kiln_shape_Max(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                           kiln_tview *out, int32_t n_out) {
    return kiln_ewc_variadic(node, in, n_in, out, KILN_EWC_NUM);
}
kiln_status kiln_shape_Min(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                           kiln_tview *out, int32_t n_out) {
    return kiln_ewc_variadic(node, in, n_in, out, KILN_EWC_NUM);
}
kiln_status kiln_shape_Sum(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                           kiln_tview *out, int32_t n_out) {
    return kiln_ewc_variadic(node, in, n_in, out, KILN_EWC_NUM);
}
kiln_status kiln_shape_Mean(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                            kiln_tview *out, int32_t n_out) {
    return kiln_ewc_variadic(node, in, n_in, out, KILN_EWC_FLOAT);
}

/* ------------------------------------------------------------- the rest ------------ */

kiln_status kiln_shape_Where(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                             kiln_tview *out, int32_t n_out) {
    KILN_TRY(kiln_ewc_input(node, in, n_in, 0, KILN_EWC_BOOL));
    /* any dtype of whole bytes: the select only copies elements */
    KILN_TRY(kiln_ewc_input(node, in, n_in, 1, KILN_EWC_ALL | KILN_EWC_OTHER));
    KILN_TRY(kiln_ewc_input(node, in, n_in, 2, KILN_EWC_ALL | KILN_EWC_OTHER));
    KILN_TRY(kiln_ewc_same_dtype(node, in, 1, 2));
    if (in[1].dtype == KILN_DTYPE_STRING || kiln_dtype_bits(in[1].dtype) < 8 ||
        kiln_dtype_bits(in[1].dtype) > 64)
        return kiln_node_error(KILN_ERR_UNSUPPORTED, node, "dtype %s not supported",
                               kiln_dtype_name(in[1].dtype));
    kiln_tview xy, shape;
    KILN_TRY(kiln_broadcast_shapes(node, &in[1], &in[2], &xy));
    KILN_TRY(kiln_broadcast_shapes(node, &in[0], &xy, &shape));
    kiln_ewc_set(&out[0], &shape, in[1].dtype);
    return KILN_OK;
}

kiln_status kiln_shape_Clip(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                            kiln_tview *out, int32_t n_out) {
    KILN_TRY(kiln_ewc_input(node, in, n_in, 0, node->opset < 11 ? KILN_EWC_FLOAT : KILN_EWC_NUM));
    for (int32_t k = 1; k < n_in && k < 3; k++) {
        if (!kiln_tview_present(&in[k])) continue;
        KILN_TRY(kiln_ewc_same_dtype(node, in, 0, k));
        int64_t count = kiln_tview_count(&in[k]);
        if (in[k].rank > 1 || (count >= 0 && count != 1))
            return kiln_shape_error(node, "%s must be a scalar", k == 1 ? "min" : "max");
    }
    kiln_ewc_set(&out[0], &in[0], in[0].dtype);
    return KILN_OK;
}

/* ONNX's names of the dtypes (Cast-1 to Cast-5 give `to` as a string). */
static kiln_dtype kiln_ewc_dtype_from_name(const char *s) {
    static const struct {
        const char *name;
        kiln_dtype dt;
    } names[] = {{"FLOAT", KILN_DTYPE_FLOAT32},
                 {"UINT8", KILN_DTYPE_UINT8},
                 {"INT8", KILN_DTYPE_INT8},
                 {"UINT16", KILN_DTYPE_UINT16},
                 {"INT16", KILN_DTYPE_INT16},
                 {"INT32", KILN_DTYPE_INT32},
                 {"INT64", KILN_DTYPE_INT64},
                 {"STRING", KILN_DTYPE_STRING},
                 {"BOOL", KILN_DTYPE_BOOL},
                 {"FLOAT16", KILN_DTYPE_FLOAT16},
                 {"DOUBLE", KILN_DTYPE_FLOAT64},
                 {"UINT32", KILN_DTYPE_UINT32},
                 {"UINT64", KILN_DTYPE_UINT64},
                 {"COMPLEX64", KILN_DTYPE_COMPLEX64},
                 {"COMPLEX128", KILN_DTYPE_COMPLEX128},
                 {"BFLOAT16", KILN_DTYPE_BFLOAT16}};
    char upper[16];
    size_t len = strlen(s);
    if (len >= sizeof upper) return KILN_DTYPE_UNDEFINED;
    for (size_t i = 0; i <= len; i++) upper[i] = (char)toupper((unsigned char)s[i]);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(upper, names[i].name)) return names[i].dt;
    return KILN_DTYPE_UNDEFINED;
}

/* Cast targets kiln converts to and from: every numeric dtype, float8/4 and 4/2-bit ints. */
static bool kiln_ewc_castable(kiln_dtype dt) {
    if (kiln_ewc_class(dt) != KILN_EWC_OTHER) return true;
    return dt >= KILN_DTYPE_FLOAT8E4M3FN && dt <= KILN_DTYPE_INT2;
}

static kiln_status kiln_ewc_cast(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                 kiln_tview *out, kiln_dtype to) {
    if (n_in < 1 || !kiln_tview_present(&in[0]))
        return kiln_shape_error(node, "input 0 is required");
    if (!kiln_ewc_castable(in[0].dtype) || !kiln_ewc_castable(to))
        return kiln_node_error(KILN_ERR_UNSUPPORTED, node, "cast from %s to %s not supported",
                               kiln_dtype_name(in[0].dtype), kiln_dtype_name(to));
    const char *mode = kiln_attr_string(node, "round_mode", "up");
    if (strcmp(mode, "up") && strcmp(mode, "down") && strcmp(mode, "nearest"))
        return kiln_shape_error(node, "round_mode must be up, down or nearest, not '%s'", mode);
    kiln_ewc_set(&out[0], &in[0], to);
    return KILN_OK;
}

kiln_status kiln_shape_Cast(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                            kiln_tview *out, int32_t n_out) {
    const kiln_attr *a = kiln_node_attr(node, "to");
    if (!a) return kiln_shape_error(node, "attribute 'to' is required");
    kiln_dtype to = KILN_DTYPE_UNDEFINED;
    if (a->type == KILN_ATTR_STRING)
        to = kiln_ewc_dtype_from_name(a->s ? a->s : "");
    else if (a->type == KILN_ATTR_INT && a->i > 0 && a->i <= KILN_DTYPE_INT2)
        to = (kiln_dtype)a->i;
    if (to == KILN_DTYPE_UNDEFINED) return kiln_shape_error(node, "attribute 'to' is not a dtype");
    return kiln_ewc_cast(node, in, n_in, out, to);
}

kiln_status kiln_shape_CastLike(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                kiln_tview *out, int32_t n_out) {
    if (n_in < 2 || !kiln_tview_present(&in[1]))
        return kiln_shape_error(node, "input 1 (target_type) is required");
    return kiln_ewc_cast(node, in, n_in, out, in[1].dtype);
}

kiln_status kiln_shape_Identity(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                kiln_tview *out, int32_t n_out) {
    if (n_in < 1 || !kiln_tview_present(&in[0]))
        return kiln_shape_error(node, "input 0 is required");
    if (!kiln_tview_is_numeric_tensor(&in[0])) {
        /* sequences, empty optionals and strings: the kernel copies the value whole */
        out[0].kind = in[0].kind;
        out[0].dtype = in[0].dtype;
        out[0].rank = -1;
        return KILN_OK;
    }
    kiln_ewc_set(&out[0], &in[0], in[0].dtype);
    return KILN_OK;
}

/* Dropout: output 0 is the input; output 1, the mask, bool since opset 10 (the input's
 * dtype before). Ratio and training_mode (opset 12+) are optional scalars. */
kiln_status kiln_shape_Dropout(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                               kiln_tview *out, int32_t n_out) {
    KILN_TRY(kiln_ewc_input(node, in, n_in, 0, KILN_EWC_FLOAT));
    if (n_in > 1 && kiln_tview_present(&in[1]))
        KILN_TRY(kiln_ewc_input(node, in, n_in, 1, KILN_EWC_FLOAT));
    if (n_in > 2 && kiln_tview_present(&in[2]))
        KILN_TRY(kiln_ewc_input(node, in, n_in, 2, KILN_EWC_BOOL));
    float ratio = kiln_attr_float(node, "ratio", 0.5f);
    if (ratio < 0 || ratio >= 1)
        return kiln_shape_error(node, "ratio %g is outside [0, 1)", (double)ratio);
    kiln_ewc_set(&out[0], &in[0], in[0].dtype);
    if (n_out > 1) kiln_ewc_set(&out[1], &in[0], node->opset >= 10 ? KILN_DTYPE_BOOL : in[0].dtype);
    return KILN_OK;
}
