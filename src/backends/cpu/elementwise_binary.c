/*
 * Binary elementwise kernels with numpy broadcasting: arithmetic (Add, Sub, Mul, Div, Mod,
 * Pow), comparisons (bool output), logic on bool, bit operations and shifts on integers,
 * and PRelu. Typed loops for float32, float64 and every integer type; float16/bfloat16 run
 * the float32 loops through float buffers. Integer arithmetic wraps (computed unsigned),
 * and integer division or modulo by zero gives 0 rather than trapping.
 */
#include <math.h>
#include <string.h>
#include <tgmath.h>

#include "backends/cpu/elementwise_common.h"
#include "backends/cpu/string_common.h"
#include "ir/shape_elementwise.h"

/* FP exception flags and errno are not part of any kernel's result: without these GCC may not
 * if-convert (and so vectorize) loops with float compares or selects, or inline sqrt. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math", "no-math-errno")
#endif

/* ------------------------------------------------------------- loops --------------- */

/* The loop `fname` over operands TA, TB into TO; EXPR sees x, y and the typedefs T (= TA)
 * and UW (a wide unsigned type for wrapping integer arithmetic). Each stride case gets its
 * own loop so the compiler vectorizes it. */
#define KILN_EW_BIN_LOOP(fname, TA, TB, TO, UWT, EXPR)                                             \
    static void fname(void *out_, const void *const *in_, const int64_t *st, int64_t n,            \
                      const void *params) {                                                        \
        typedef TA T;                                                                              \
        typedef UWT UW;                                                                            \
        const TA *a = in_[0];                                                                      \
        const TB *b = in_[1];                                                                      \
        TO *o = out_;                                                                              \
        (void)params;                                                                              \
        (void)sizeof(UW); /* not every EXPR uses it */                                             \
        if (st[0] && st[1]) {                                                                      \
            for (int64_t i = 0; i < n; i++) {                                                      \
                T x = a[i];                                                                        \
                TB y = b[i];                                                                       \
                o[i] = (TO)(EXPR);                                                                 \
            }                                                                                      \
        } else if (st[0]) {                                                                        \
            const TB y = b[0];                                                                     \
            for (int64_t i = 0; i < n; i++) {                                                      \
                T x = a[i];                                                                        \
                o[i] = (TO)(EXPR);                                                                 \
            }                                                                                      \
        } else if (st[1]) {                                                                        \
            const T x = a[0];                                                                      \
            for (int64_t i = 0; i < n; i++) {                                                      \
                TB y = b[i];                                                                       \
                o[i] = (TO)(EXPR);                                                                 \
            }                                                                                      \
        } else {                                                                                   \
            const T x = a[0];                                                                      \
            const TB y = b[0];                                                                     \
            const TO v = (TO)(EXPR);                                                               \
            for (int64_t i = 0; i < n; i++) o[i] = v;                                              \
        }                                                                                          \
    }

/* Integer loops of one op, for the 8 integer types, into TO (T: same type as inputs). */
#define KILN_EW_INT_LOOPS(Name, SAME, EXPR)                                                        \
    KILN_EW_BIN_LOOP(kiln_ew_i8_##Name, int8_t, int8_t, SAME(int8_t), uint32_t, EXPR)              \
    KILN_EW_BIN_LOOP(kiln_ew_u8_##Name, uint8_t, uint8_t, SAME(uint8_t), uint32_t, EXPR)           \
    KILN_EW_BIN_LOOP(kiln_ew_i16_##Name, int16_t, int16_t, SAME(int16_t), uint32_t, EXPR)          \
    KILN_EW_BIN_LOOP(kiln_ew_u16_##Name, uint16_t, uint16_t, SAME(uint16_t), uint32_t, EXPR)       \
    KILN_EW_BIN_LOOP(kiln_ew_i32_##Name, int32_t, int32_t, SAME(int32_t), uint32_t, EXPR)          \
    KILN_EW_BIN_LOOP(kiln_ew_u32_##Name, uint32_t, uint32_t, SAME(uint32_t), uint32_t, EXPR)       \
    KILN_EW_BIN_LOOP(kiln_ew_i64_##Name, int64_t, int64_t, SAME(int64_t), uint64_t, EXPR)          \
    KILN_EW_BIN_LOOP(kiln_ew_u64_##Name, uint64_t, uint64_t, SAME(uint64_t), uint64_t, EXPR)

#define KILN_EW_SAME(T) T
#define KILN_EW_BOOL(T) uint8_t

/* A numeric op: float loops with FEXPR, integer loops with IEXPR, and the table of 10
 * loops in kiln_ew_num_index order. */
#define KILN_EW_NUM_OP(Name, SAME, FEXPR, IEXPR)                                                   \
    KILN_EW_BIN_LOOP(kiln_ew_f32_##Name, float, float, SAME(float), uint32_t, FEXPR)               \
    KILN_EW_BIN_LOOP(kiln_ew_f64_##Name, double, double, SAME(double), uint64_t, FEXPR)            \
    KILN_EW_INT_LOOPS(Name, SAME, IEXPR)                                                           \
    static const kiln_ew_loop_fn kiln_ew_num_##Name[10] = {                                        \
        kiln_ew_f32_##Name, kiln_ew_f64_##Name, kiln_ew_i8_##Name,  kiln_ew_u8_##Name,             \
        kiln_ew_i16_##Name, kiln_ew_u16_##Name, kiln_ew_i32_##Name, kiln_ew_u32_##Name,            \
        kiln_ew_i64_##Name, kiln_ew_u64_##Name};

/* An integer-only op: table in kiln_ew_int_index order. */
#define KILN_EW_INT_OP(Name, EXPR)                                                                 \
    KILN_EW_INT_LOOPS(Name, KILN_EW_SAME, EXPR)                                                    \
    static const kiln_ew_loop_fn kiln_ew_int_##Name[8] = {                                         \
        kiln_ew_i8_##Name,  kiln_ew_u8_##Name,  kiln_ew_i16_##Name, kiln_ew_u16_##Name,            \
        kiln_ew_i32_##Name, kiln_ew_u32_##Name, kiln_ew_i64_##Name, kiln_ew_u64_##Name};

/* Compile-time: T is a signed type (no always-false `< 0` on unsigned types). */
#define KILN_EW_SIGNED ((T)-1 < (T)1)
#define KILN_EW_NEG(v) ((v) < (T)1 && (v) != 0)

/* Division and modulo on integers widened to 64 bits (exact for every narrower type). */
static inline int64_t kiln_ew_sdiv(int64_t x, int64_t y) {
    if (y == 0) return 0;
    if (y == -1) return (int64_t)(0 - (uint64_t)x); /* INT_MIN / -1 wraps, no trap */
    return x / y;
}
static inline uint64_t kiln_ew_udiv(uint64_t x, uint64_t y) {
    return y ? x / y : 0;
}
/* fmod: the sign of the dividend (C's %); else the sign of the divisor (Python's %). */
static inline int64_t kiln_ew_smod(int64_t x, int64_t y, int fmod_) {
    if (y == 0 || y == -1) return 0;
    int64_t r = x % y;
    if (!fmod_ && r != 0 && ((r < 0) != (y < 0))) r += y;
    return r;
}
static inline uint64_t kiln_ew_umod(uint64_t x, uint64_t y) {
    return y ? x % y : 0;
}
static inline double kiln_ew_pymod(double x, double y) {
    double r = fmod(x, y);
    if (r != 0 && ((r < 0) != (y < 0))) r += y;
    return r;
}
static inline float kiln_ew_pymodf(float x, float y) {
    float r = fmod(x, y);
    if (r != 0 && ((r < 0) != (y < 0))) r += y;
    return r;
}
#define KILN_EW_PYMOD(x, y) _Generic((x), float : kiln_ew_pymodf, default : kiln_ew_pymod)(x, y)

/* Integer power by squaring, wrapping; negative exponents give 0 unless |x| == 1. */
static inline uint64_t kiln_ew_upow(uint64_t x, uint64_t y) {
    uint64_t r = 1;
    while (y) {
        if (y & 1) r *= x;
        x *= x;
        y >>= 1;
    }
    return r;
}
static inline int64_t kiln_ew_spow(int64_t x, int64_t y) {
    if (y < 0) return x == 1 ? 1 : (x == -1 ? ((y & 1) ? -1 : 1) : 0);
    return (int64_t)kiln_ew_upow((uint64_t)x, (uint64_t)y);
}

#define KILN_EW_IDIV(x, y)                                                                         \
    (KILN_EW_SIGNED ? (T)kiln_ew_sdiv((int64_t)(x), (int64_t)(y))                                  \
                    : (T)kiln_ew_udiv((uint64_t)(x), (uint64_t)(y)))
#define KILN_EW_IMOD(x, y, f)                                                                      \
    (KILN_EW_SIGNED ? (T)kiln_ew_smod((int64_t)(x), (int64_t)(y), f)                               \
                    : (T)kiln_ew_umod((uint64_t)(x), (uint64_t)(y)))
#define KILN_EW_IPOW(x, y)                                                                         \
    (KILN_EW_SIGNED ? (T)kiln_ew_spow((int64_t)(x), (int64_t)(y))                                  \
                    : (T)kiln_ew_upow((uint64_t)(x), (uint64_t)(y)))
/* c ? a : b with both evaluated (so that float arithmetic in a branch does not keep the
 * compiler from vectorizing under -ftrapping-math) */
static inline float kiln_ew_self(int c, float a, float b) {
    return c ? a : b;
}
static inline double kiln_ew_seld(int c, double a, double b) {
    return c ? a : b;
}
#define KILN_EW_FSEL(c, a, b) _Generic((a), float : kiln_ew_self, default : kiln_ew_seld)(c, a, b)
#define KILN_EW_BITS          ((int)(sizeof(T) * 8))

/* clang-format off */
KILN_EW_NUM_OP(Add, KILN_EW_SAME, x + y, (UW)x + (UW)y)
KILN_EW_NUM_OP(Sub, KILN_EW_SAME, x - y, (UW)x - (UW)y)
KILN_EW_NUM_OP(Mul, KILN_EW_SAME, x * y, (UW)x * (UW)y)
KILN_EW_NUM_OP(Div, KILN_EW_SAME, x / y, KILN_EW_IDIV(x, y))
KILN_EW_NUM_OP(Mod, KILN_EW_SAME, KILN_EW_PYMOD(x, y), KILN_EW_IMOD(x, y, 0))
KILN_EW_NUM_OP(FMod, KILN_EW_SAME, fmod(x, y), KILN_EW_IMOD(x, y, 1))
KILN_EW_NUM_OP(Pow, KILN_EW_SAME, pow(x, y), KILN_EW_IPOW(x, y))
/* NaN wins in both operand positions, as numpy's maximum / minimum */
KILN_EW_NUM_OP(Max, KILN_EW_SAME, (x > y || x != x) ? x : y, x > y ? x : y)
KILN_EW_NUM_OP(Min, KILN_EW_SAME, (x < y || x != x) ? x : y, x < y ? x : y)
KILN_EW_NUM_OP(PRelu, KILN_EW_SAME, KILN_EW_FSEL(x < 0, x * y, x), KILN_EW_NEG(x) ? (UW)x * (UW)y : (UW)x)
KILN_EW_NUM_OP(Equal, KILN_EW_BOOL, x == y, x == y)
KILN_EW_NUM_OP(Less, KILN_EW_BOOL, x < y, x < y)
KILN_EW_NUM_OP(LessOrEqual, KILN_EW_BOOL, x <= y, x <= y)
KILN_EW_NUM_OP(Greater, KILN_EW_BOOL, x > y, x > y)
KILN_EW_NUM_OP(GreaterOrEqual, KILN_EW_BOOL, x >= y, x >= y)
KILN_EW_INT_OP(BitwiseAnd, x & y)
KILN_EW_INT_OP(BitwiseOr, x | y)
KILN_EW_INT_OP(BitwiseXor, x ^ y)
KILN_EW_INT_OP(ShiftLeft, (uint64_t)y >= (uint64_t)KILN_EW_BITS ? 0 : (UW)x << y)
KILN_EW_INT_OP(ShiftRight, (uint64_t)y >= (uint64_t)KILN_EW_BITS ? 0 : x >> y)
KILN_EW_BIN_LOOP(kiln_ew_And, uint8_t, uint8_t, uint8_t, uint32_t, (x != 0) & (y != 0))
KILN_EW_BIN_LOOP(kiln_ew_Or, uint8_t, uint8_t, uint8_t, uint32_t, (x != 0) | (y != 0))
KILN_EW_BIN_LOOP(kiln_ew_Xor, uint8_t, uint8_t, uint8_t, uint32_t, (x != 0) ^ (y != 0))
/* clang-format on */

/* float32 Pow by a scalar 2 (squares in normalizations, distances) without powf calls;
 * other exponents go to the generic loop. */
static void kiln_ew_f32_pow_fast(void *out, const void *const *in, const int64_t *st, int64_t n,
                                 const void *params) {
    const float *a = in[0], *b = in[1];
    float *o = out;
    if (st[0] && !st[1] && b[0] == 2.0f) {
        for (int64_t i = 0; i < n; i++) o[i] = a[i] * a[i];
        return;
    }
    kiln_ew_f32_Pow(out, in, st, n, params);
}

/* Mixed operand dtypes (Pow with an exponent of another type): element by element through
 * double, the result in the base's dtype. */
static void kiln_ew_pow_mixed(void *out, const void *const *in, const int64_t *st, int64_t n,
                              const void *params) {
    const kiln_ew_binop *r = params;
    kiln_tview a = {.dtype = r->mixed[0], .data = (void *)in[0]};
    kiln_tview b = {.dtype = r->mixed[1], .data = (void *)in[1]};
    kiln_tview o = {.dtype = r->out_dtype, .data = out};
    bool out_int = !kiln_ew_is_float(r->out_dtype);
    for (int64_t i = 0; i < n; i++) {
        double v = pow(kiln_tview_get_double(&a, i * st[0]), kiln_tview_get_double(&b, i * st[1]));
        if (out_int) {
            /* float -> int truncates; keep out-of-range values defined */
            if (!(v > -9.2e18 && v < 9.2e18)) v = 0;
            kiln_tview_set_int(&o, i, (int64_t)v);
        } else {
            kiln_tview_set_double(&o, i, v);
        }
    }
}

/* ------------------------------------------------------------- dispatch ------------ */

static kiln_status kiln_ew_bad_dtype(const kiln_node *node, kiln_dtype a, kiln_dtype b) {
    if (a != b)
        return kiln_node_error(KILN_ERR_UNSUPPORTED, node, "dtypes %s and %s not supported",
                               kiln_dtype_name(a), kiln_dtype_name(b));
    return kiln_node_error(KILN_ERR_UNSUPPORTED, node, "dtype %s not supported",
                           kiln_dtype_name(a));
}

/* The numeric table of an op (NULL when not numeric) and whether it outputs bool. */
static const kiln_ew_loop_fn *kiln_ew_num_table(const kiln_node *node, kiln_op op, bool *cmp) {
    *cmp = false;
    switch (op) {
    case KILN_OP_Add:
    case KILN_OP_Sum:
    case KILN_OP_Mean:
        return kiln_ew_num_Add;
    case KILN_OP_Sub:
        return kiln_ew_num_Sub;
    case KILN_OP_Mul:
        return kiln_ew_num_Mul;
    case KILN_OP_Div:
        return kiln_ew_num_Div;
    case KILN_OP_Mod:
        return kiln_attr_int(node, "fmod", 0) ? kiln_ew_num_FMod : kiln_ew_num_Mod;
    case KILN_OP_Pow:
        return kiln_ew_num_Pow;
    case KILN_OP_Max:
        return kiln_ew_num_Max;
    case KILN_OP_Min:
        return kiln_ew_num_Min;
    case KILN_OP_PRelu:
        return kiln_ew_num_PRelu;
    default:
        break;
    }
    *cmp = true;
    switch (op) {
    case KILN_OP_Equal:
        return kiln_ew_num_Equal;
    case KILN_OP_Less:
        return kiln_ew_num_Less;
    case KILN_OP_LessOrEqual:
        return kiln_ew_num_LessOrEqual;
    case KILN_OP_Greater:
        return kiln_ew_num_Greater;
    case KILN_OP_GreaterOrEqual:
        return kiln_ew_num_GreaterOrEqual;
    default:
        return NULL;
    }
}

kiln_status kiln_ew_binary_resolve(const kiln_node *node, kiln_op op, kiln_dtype a, kiln_dtype b,
                                   kiln_ew_binop *r) {
    memset(r, 0, sizeof *r);
    r->out_dtype = a;
    r->mixed[0] = a;
    r->mixed[1] = b;
    switch (op) {
    case KILN_OP_And:
    case KILN_OP_Or:
    case KILN_OP_Xor:
        if (a != KILN_DTYPE_BOOL || b != KILN_DTYPE_BOOL) return kiln_ew_bad_dtype(node, a, b);
        r->fn = op == KILN_OP_And ? kiln_ew_And : (op == KILN_OP_Or ? kiln_ew_Or : kiln_ew_Xor);
        return KILN_OK;
    case KILN_OP_BitwiseAnd:
    case KILN_OP_BitwiseOr:
    case KILN_OP_BitwiseXor:
    case KILN_OP_BitShift: {
        int idx = kiln_ew_int_index(a);
        if (a != b || idx < 0) return kiln_ew_bad_dtype(node, a, b);
        if (op == KILN_OP_BitShift) {
            const char *dir = kiln_attr_string(node, "direction", "");
            if (!strcmp(dir, "LEFT"))
                r->fn = kiln_ew_int_ShiftLeft[idx];
            else if (!strcmp(dir, "RIGHT"))
                r->fn = kiln_ew_int_ShiftRight[idx];
            else
                return kiln_node_error(KILN_ERR_INVALID_ARGUMENT, node,
                                       "direction '%s' is neither LEFT nor RIGHT", dir);
        } else {
            r->fn = op == KILN_OP_BitwiseAnd  ? kiln_ew_int_BitwiseAnd[idx]
                    : op == KILN_OP_BitwiseOr ? kiln_ew_int_BitwiseOr[idx]
                                              : kiln_ew_int_BitwiseXor[idx];
        }
        return KILN_OK;
    }
    default:
        break;
    }
    bool cmp;
    const kiln_ew_loop_fn *table = kiln_ew_num_table(node, op, &cmp);
    if (!table) return kiln_node_error(KILN_ERR_UNSUPPORTED, node, "not a binary elementwise op");
    if (cmp) r->out_dtype = KILN_DTYPE_BOOL;
    if (a != b) {
        bool numeric = (kiln_ew_is_float(a) || kiln_ew_is_int(a)) &&
                       (kiln_ew_is_float(b) || kiln_ew_is_int(b));
        if (op != KILN_OP_Pow || !numeric) return kiln_ew_bad_dtype(node, a, b);
        r->fn = kiln_ew_pow_mixed;
        r->params = r;
        return KILN_OK;
    }
    /* bool compares as uint8 (Equal on bool) */
    kiln_dtype as = a == KILN_DTYPE_BOOL && cmp ? KILN_DTYPE_UINT8 : a;
    kiln_ew_loop_fn f32 = table == kiln_ew_num_Pow ? kiln_ew_f32_pow_fast : table[0];
    if (kiln_ew_is_half(a)) {
        r->half.fn = f32;
        r->half.n_in = 2;
        r->half.in_dtype[0] = a;
        r->half.in_dtype[1] = b;
        r->half.out_dtype = r->out_dtype;
        r->fn = kiln_ew_half_loop;
        r->params = &r->half;
        return KILN_OK;
    }
    int idx = kiln_ew_num_index(as);
    if (idx < 0) return kiln_ew_bad_dtype(node, a, b);
    r->fn = idx == 0 ? f32 : table[idx];
    return KILN_OK;
}

/* The kernel of every binary op (registered under each name in cpu_elementwise.def). */
kiln_status kiln_cpu_ew_binary(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                               int32_t n_in, kiln_tview *out, int32_t n_out) {
    if (n_in < 2 || !kiln_tview_present(&in[0]) || !kiln_tview_present(&in[1]))
        return kiln_node_error(KILN_ERR_INVALID_ARGUMENT, node, "needs two inputs");
    if (node->op == KILN_OP_Equal && in[0].dtype == KILN_DTYPE_STRING)
        return kiln_cpu_string_equal(ctx, node, in, n_in, out, n_out);
    kiln_tview b;
    KILN_TRY(kiln_ew_operand_view(node, &in[0], &in[1], &b));
    kiln_ew_binop r;
    KILN_TRY(kiln_ew_binary_resolve(node, node->op, in[0].dtype, in[1].dtype, &r));
    const kiln_tview *ins[2] = {&in[0], &b};
    return kiln_ew_apply(ctx, node, ins, 2, &out[0], r.fn, r.params);
}
