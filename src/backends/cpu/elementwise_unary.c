/*
 * Unary elementwise kernels: math functions and activations on float tensors (float32 and
 * float64 typed loops; float16/bfloat16 computed in float), plus the few unary ops ONNX
 * also defines on integers (Abs, Neg, Sign, Relu) and on bool/bits (Not, BitwiseNot), and
 * the float -> bool predicates IsNaN / IsInf.
 */
#include <math.h>
#include <string.h>
#include <tgmath.h>

#include "backends/cpu/elementwise_common.h"

/* FP exception flags and errno are not part of any kernel's result: without these GCC may not
 * if-convert (and so vectorize) loops with float compares or selects, or inline sqrt. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math", "no-math-errno")
#endif

/* Attribute values of the parameterized activations. */
typedef struct kiln_ew_act {
    float alpha, beta, gamma;
    int64_t flag0, flag1; /* IsInf detect_positive / detect_negative */
} kiln_ew_act;

/* ------------------------------------------------------------- float loops --------- */

/* The transcendental loops are compute-bound: build them also for AVX2 (8 floats a vector
 * instead of SSE2's 4), picked at load time on CPUs that have it. No FMA contraction under
 * -std=c11, so both versions compute the same values. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define KILN_EW_WIDE __attribute__((target_clones("avx2", "default")))
#else
#define KILN_EW_WIDE
#endif

/* A float loop for type T computing y from x (params p). tgmath picks the float or double
 * version of every math call from the argument type. */
#define KILN_EW_UNARY_LOOP(fname, TT, EXPR)                                                        \
    KILN_EW_WIDE static void fname(void *out_, const void *const *in_, const int64_t *st,          \
                                   int64_t n, const void *params) {                                \
        typedef TT T;                                                                              \
        const T *a = in_[0];                                                                       \
        T *o = out_;                                                                               \
        /* a local copy: the compiler knows stores to o cannot change it */                        \
        const kiln_ew_act pv = params ? *(const kiln_ew_act *)params : (kiln_ew_act){0};           \
        const kiln_ew_act *p = &pv;                                                                \
        (void)p;                                                                                   \
        (void)st;                                                                                  \
        for (int64_t i = 0; i < n; i++) {                                                          \
            T x = a[i];                                                                            \
            o[i] = (T)(EXPR);                                                                      \
        }                                                                                          \
    }

#define KILN_EW_FLOAT_OP(Name, EXPR)                                                               \
    KILN_EW_UNARY_LOOP(kiln_ew_f32_##Name, float, EXPR)                                            \
    KILN_EW_UNARY_LOOP(kiln_ew_f64_##Name, double, EXPR)

/*
 * exp for float32 loops that the compiler can vectorize (libm's expf is a call per element):
 * exp(x) = 2^n * e^r with n = round(x / ln 2) and |r| <= ln2 / 2 (Cody-Waite), e^r by
 * Cephes' polynomial; within 2 ulp. 2^n is applied as two factors so that results in the
 * subnormal range and overflow to infinity come out right. NaN stays NaN.
 */
static inline float kiln_ew_expf(float x) {
    float xc = x > 89.0f ? 89.0f : (x < -104.0f ? -104.0f : x);
    float t = xc * 1.44269504088896341f + 12582912.0f; /* adding 1.5 * 2^23 rounds */
    float n = t - 12582912.0f;
    float r = xc - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float q = 1.9875691500e-4f;
    q = q * r + 1.3981999507e-3f;
    q = q * r + 8.3334519073e-3f;
    q = q * r + 4.1665795894e-2f;
    q = q * r + 1.6666665459e-1f;
    q = q * r + 5.0000001201e-1f;
    q = q * r * r + r + 1.0f;
    int32_t ni = (int32_t)(x == x ? n : 0.0f); /* no float -> int conversion of NaN */
    int32_t n1 = ni / 2, n2 = ni - n1;
    uint32_t b1 = (uint32_t)(n1 + 127) << 23, b2 = (uint32_t)(n2 + 127) << 23;
    float s1, s2;
    memcpy(&s1, &b1, 4);
    memcpy(&s2, &b2, 4);
    return q * s1 * s2;
}

/* tanh for float32 loops: a 13/6 rational approximation on [-7.9, 7.9] (Eigen's), within
 * 4e-7 relative; tiny inputs return themselves, NaN stays NaN. */
static inline float kiln_ew_tanhf(float x) {
    const float lim = 7.90531110763549805f;
    float xc = x > lim ? lim : (x < -lim ? -lim : x);
    float x2 = xc * xc;
    float p = -2.76076847742355e-16f;
    p = p * x2 + 2.00018790482477e-13f;
    p = p * x2 + -8.60467152213735e-11f;
    p = p * x2 + 5.12229709037114e-08f;
    p = p * x2 + 1.48572235717979e-05f;
    p = p * x2 + 6.37261928875436e-04f;
    p = p * x2 + 4.89352455891786e-03f;
    p = p * xc;
    float q = 1.19825839466702e-06f;
    q = q * x2 + 1.18534705686654e-04f;
    q = q * x2 + 2.26843463243900e-03f;
    q = q * x2 + 4.89352518554385e-03f;
    float r = p / q;
    return fabsf(x) < 0.0004f ? x : r;
}

/* erf for float32 loops: a 13/8 rational approximation on [-4, 4] (Eigen's), within 5e-7
 * relative. */
static inline float kiln_ew_erff(float x) {
    float xc = x > 4.0f ? 4.0f : (x < -4.0f ? -4.0f : x);
    float x2 = xc * xc;
    float p = -2.72614225801306e-10f;
    p = p * x2 + 2.77068142495902e-08f;
    p = p * x2 + -2.10102402082508e-06f;
    p = p * x2 + -5.69250639462346e-05f;
    p = p * x2 + -7.34990630326855e-04f;
    p = p * x2 + -2.95459980854025e-03f;
    p = p * x2 + -1.60960333262415e-02f;
    p = p * xc;
    float q = -1.45660718464996e-05f;
    q = q * x2 + -2.13374055278905e-04f;
    q = q * x2 + -1.68282697438203e-03f;
    q = q * x2 + -7.37332916720468e-03f;
    q = q * x2 + -1.42647390514189e-02f;
    return p / q;
}

/* x * tanh(softplus(x)) = x * n / (n + 2) with n = e^x (e^x + 2); beyond 20 it is x. */
static inline float kiln_ew_mishf(float x) {
    float e = kiln_ew_expf(x < 20.0f ? x : 20.0f);
    float n = e * (e + 2.0f);
    float m = x * n / (n + 2.0f);
    return x > 20.0f ? x : m;
}
static inline double kiln_ew_mish(double x) {
    double sp = x > 0 ? x + log1p(exp(-x)) : log1p(exp(x));
    return x * tanh(sp);
}

static inline float kiln_ew_sigmoidf(float x) {
    float e = kiln_ew_expf(-fabsf(x)); /* in (0, 1]: no overflow on either side */
    float s = 1.0f / (1.0f + e);
    float es = e * s; /* computed unconditionally so that the select vectorizes */
    return x >= 0 ? s : es;
}
static inline double kiln_ew_sigmoid(double x) {
    double e = exp(-fabs(x));
    double s = 1.0 / (1.0 + e);
    return x >= 0 ? s : e * s;
}

/* c ? a : b with both evaluated: arithmetic in a branch of ?: may trap (-ftrapping-math),
 * which keeps the compiler from vectorizing; as function arguments it is unconditional. */
static inline float kiln_ew_self(int c, float a, float b) {
    return c ? a : b;
}
static inline double kiln_ew_seld(int c, double a, double b) {
    return c ? a : b;
}
#define KILN_EW_SEL(c, a, b) _Generic((a), float : kiln_ew_self, default : kiln_ew_seld)(c, a, b)

/* Written once for float and double: float loops get the vectorizable versions. */
#define KILN_EW_EXP(x)     _Generic((x), float : kiln_ew_expf, default : exp)(x)
#define KILN_EW_ERF(x)     _Generic((x), float : kiln_ew_erff, default : erf)(x)
#define KILN_EW_TANH(x)    _Generic((x), float : kiln_ew_tanhf, default : tanh)(x)
#define KILN_EW_MISH(x)    _Generic((x), float : kiln_ew_mishf, default : kiln_ew_mish)(x)
#define KILN_EW_SIGMOID(x) _Generic((x), float : kiln_ew_sigmoidf, default : kiln_ew_sigmoid)(x)
/* log(1 + e^x) without overflow for large x */
#define KILN_EW_SOFTPLUS(x) ((x) > 0 ? (x) + log1p(exp(-(x))) : log1p(exp(x)))
/* clamp to [0, 1], NaN passing through (fmin/fmax would drop it, and do not vectorize) */
#define KILN_EW_UNIT(v) ((v) < 0 ? 0 : ((v) > 1 ? 1 : (v)))

/* clang-format off */
KILN_EW_FLOAT_OP(Abs, fabs(x))
KILN_EW_FLOAT_OP(Neg, -x)
KILN_EW_FLOAT_OP(Floor, floor(x))
KILN_EW_FLOAT_OP(Ceil, ceil(x))
KILN_EW_FLOAT_OP(Round, nearbyint(x)) /* default rounding mode: half to even */
KILN_EW_FLOAT_OP(Sqrt, sqrt(x))
KILN_EW_FLOAT_OP(Reciprocal, 1 / x)
KILN_EW_FLOAT_OP(Exp, KILN_EW_EXP(x))
KILN_EW_FLOAT_OP(Log, log(x))
KILN_EW_FLOAT_OP(Sin, sin(x))
KILN_EW_FLOAT_OP(Cos, cos(x))
KILN_EW_FLOAT_OP(Tan, tan(x))
KILN_EW_FLOAT_OP(Asin, asin(x))
KILN_EW_FLOAT_OP(Acos, acos(x))
KILN_EW_FLOAT_OP(Atan, atan(x))
KILN_EW_FLOAT_OP(Sinh, sinh(x))
KILN_EW_FLOAT_OP(Cosh, cosh(x))
KILN_EW_FLOAT_OP(Asinh, asinh(x))
KILN_EW_FLOAT_OP(Acosh, acosh(x))
KILN_EW_FLOAT_OP(Atanh, atanh(x))
KILN_EW_FLOAT_OP(Erf, KILN_EW_ERF(x))
KILN_EW_FLOAT_OP(Sign, x > 0 ? 1 : (x < 0 ? -1 : x)) /* keeps 0 and NaN */
KILN_EW_FLOAT_OP(Relu, x < 0 ? 0 : x)                /* keeps NaN */
KILN_EW_FLOAT_OP(LeakyRelu, KILN_EW_SEL(x < 0, (T)p->alpha * x, x))
KILN_EW_FLOAT_OP(Elu, KILN_EW_SEL(x < 0, (T)p->alpha * (KILN_EW_EXP(x) - 1), x))
KILN_EW_FLOAT_OP(Selu, (T)p->gamma * KILN_EW_SEL(x <= 0, (T)p->alpha * KILN_EW_EXP(x) - (T)p->alpha, x))
KILN_EW_FLOAT_OP(Celu, KILN_EW_SEL(x > 0, x, (T)p->alpha * (KILN_EW_EXP(x / (T)p->alpha) - 1)))
KILN_EW_FLOAT_OP(Sigmoid, KILN_EW_SIGMOID(x))
KILN_EW_FLOAT_OP(HardSigmoid, KILN_EW_UNIT((T)p->alpha * x + (T)p->beta))
KILN_EW_FLOAT_OP(HardSwish, x * KILN_EW_UNIT(x / 6 + (T)0.5))
KILN_EW_FLOAT_OP(Tanh, KILN_EW_TANH(x))
KILN_EW_FLOAT_OP(Softplus, KILN_EW_SOFTPLUS(x))
KILN_EW_FLOAT_OP(Softsign, x / (1 + fabs(x)))
KILN_EW_FLOAT_OP(ThresholdedRelu, x > (T)p->alpha ? x : 0)
KILN_EW_FLOAT_OP(Gelu, (T)0.5 * x * (1 + KILN_EW_ERF(x * (T)0.70710678118654752440)))
KILN_EW_FLOAT_OP(GeluTanh, (T)0.5 * x * (1 + KILN_EW_TANH((T)0.79788456080286535588 * (x + (T)0.044715 * x * x * x))))
KILN_EW_FLOAT_OP(Mish, KILN_EW_MISH(x))
KILN_EW_FLOAT_OP(Swish, x * KILN_EW_SIGMOID((T)p->alpha * x))
KILN_EW_FLOAT_OP(Shrink, KILN_EW_SEL(x < -(T)p->alpha, x + (T)p->beta, KILN_EW_SEL(x > (T)p->alpha, x - (T)p->beta, (T)0)))
/* clang-format on */

/* float -> bool predicates */
#define KILN_EW_PRED_LOOP(fname, TT, EXPR)                                                         \
    static void fname(void *out_, const void *const *in_, const int64_t *st, int64_t n,            \
                      const void *params) {                                                        \
        typedef TT T;                                                                              \
        const T *a = in_[0];                                                                       \
        uint8_t *o = out_;                                                                         \
        const kiln_ew_act *p = params;                                                             \
        (void)p;                                                                                   \
        (void)st;                                                                                  \
        for (int64_t i = 0; i < n; i++) {                                                          \
            T x = a[i];                                                                            \
            o[i] = (uint8_t)(EXPR);                                                                \
        }                                                                                          \
    }
#define KILN_EW_PRED_OP(Name, EXPR)                                                                \
    KILN_EW_PRED_LOOP(kiln_ew_f32_##Name, float, EXPR)                                             \
    KILN_EW_PRED_LOOP(kiln_ew_f64_##Name, double, EXPR)

KILN_EW_PRED_OP(IsNaN, isnan(x))
KILN_EW_PRED_OP(IsInf, isinf(x) && ((x > 0 && p->flag0) || (x < 0 && p->flag1)))

/* ------------------------------------------------------------- integer loops ------- */

/* Integer loops for the 8 integer types; U is the unsigned type of the same width, so that
 * negation wraps instead of overflowing. */
#define KILN_EW_INT_LOOP(fname, TT, UT, EXPR)                                                      \
    static void fname(void *out_, const void *const *in_, const int64_t *st, int64_t n,            \
                      const void *params) {                                                        \
        typedef TT T;                                                                              \
        typedef UT U;                                                                              \
        (void)sizeof(U);                                                                           \
        const T *a = in_[0];                                                                       \
        T *o = out_;                                                                               \
        (void)st;                                                                                  \
        (void)params;                                                                              \
        for (int64_t i = 0; i < n; i++) {                                                          \
            T x = a[i];                                                                            \
            o[i] = (T)(EXPR);                                                                      \
        }                                                                                          \
    }

#define KILN_EW_INT_OP(Name, EXPR)                                                                 \
    KILN_EW_INT_LOOP(kiln_ew_i8_##Name, int8_t, uint8_t, EXPR)                                     \
    KILN_EW_INT_LOOP(kiln_ew_u8_##Name, uint8_t, uint8_t, EXPR)                                    \
    KILN_EW_INT_LOOP(kiln_ew_i16_##Name, int16_t, uint16_t, EXPR)                                  \
    KILN_EW_INT_LOOP(kiln_ew_u16_##Name, uint16_t, uint16_t, EXPR)                                 \
    KILN_EW_INT_LOOP(kiln_ew_i32_##Name, int32_t, uint32_t, EXPR)                                  \
    KILN_EW_INT_LOOP(kiln_ew_u32_##Name, uint32_t, uint32_t, EXPR)                                 \
    KILN_EW_INT_LOOP(kiln_ew_i64_##Name, int64_t, uint64_t, EXPR)                                  \
    KILN_EW_INT_LOOP(kiln_ew_u64_##Name, uint64_t, uint64_t, EXPR)                                 \
    static const kiln_ew_loop_fn kiln_ew_int_##Name[8] = {                                         \
        kiln_ew_i8_##Name,  kiln_ew_u8_##Name,  kiln_ew_i16_##Name, kiln_ew_u16_##Name,            \
        kiln_ew_i32_##Name, kiln_ew_u32_##Name, kiln_ew_i64_##Name, kiln_ew_u64_##Name};

#define KILN_EW_NEG(x) ((U)0 - (U)(x))
/* x < 0, written so that it is no always-false (warned) comparison for unsigned T */
#define KILN_EW_ISNEG(x) ((x) < (T)1 && (x) != 0)

/* clang-format off */
KILN_EW_INT_OP(Abs, KILN_EW_ISNEG(x) ? KILN_EW_NEG(x) : (U)x)
KILN_EW_INT_OP(Neg, KILN_EW_NEG(x))
KILN_EW_INT_OP(Sign, KILN_EW_ISNEG(x) ? -1 : (x > 0 ? 1 : 0))
KILN_EW_INT_OP(Relu, KILN_EW_ISNEG(x) ? 0 : x)
KILN_EW_INT_OP(BitwiseNot, ~(U)x)
/* clang-format on */

static void kiln_ew_not_loop(void *out_, const void *const *in_, const int64_t *st, int64_t n,
                             const void *params) {
    const uint8_t *a = in_[0];
    uint8_t *o = out_;
    for (int64_t i = 0; i < n; i++) o[i] = !a[i];
}

/* ------------------------------------------------------------- dispatch ------------ */

static kiln_status kiln_ew_unsupported(const kiln_node *node, kiln_dtype dt) {
    return kiln_node_error(KILN_ERR_UNSUPPORTED, node, "dtype %s not supported",
                           kiln_dtype_name(dt));
}

/* Runs a unary op: f32/f64 float loops (float16/bfloat16 through f32), and an integer
 * table when the op has one. `out_bool`: the op outputs bool (predicates). */
static kiln_status kiln_ew_unary(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                                 kiln_tview *out, kiln_ew_loop_fn f32, kiln_ew_loop_fn f64,
                                 const kiln_ew_loop_fn *ints, const kiln_ew_act *p) {
    kiln_dtype dt = in[0].dtype;
    const kiln_tview *ins[1] = {&in[0]};
    if (dt == KILN_DTYPE_FLOAT32 && f32) return kiln_ew_apply(ctx, node, ins, 1, out, f32, p);
    if (dt == KILN_DTYPE_FLOAT64 && f64) return kiln_ew_apply(ctx, node, ins, 1, out, f64, p);
    if (kiln_ew_is_half(dt) && f32) {
        kiln_ew_half h = {f32, p, 1, {dt}, out->dtype};
        return kiln_ew_apply(ctx, node, ins, 1, out, kiln_ew_half_loop, &h);
    }
    int idx = kiln_ew_int_index(dt);
    if (idx >= 0 && ints) return kiln_ew_apply(ctx, node, ins, 1, out, ints[idx], p);
    return kiln_ew_unsupported(node, dt);
}

/* Integer tensors of ops ONNX defines on every numeric type but that compute in floats
 * (Erf, Shrink): element by element through the float64 loop, truncating back. */
static kiln_status kiln_ew_unary_int_via_double(const kiln_node *node, const kiln_tview *in,
                                                kiln_tview *out, kiln_ew_loop_fn f64,
                                                const kiln_ew_act *p) {
    if (kiln_ew_int_index(in->dtype) < 0) return kiln_ew_unsupported(node, in->dtype);
    int64_t n = kiln_tview_count(in);
    for (int64_t i = 0; i < n; i++) {
        double x = kiln_tview_get_double(in, i), y;
        const void *px = &x;
        const int64_t st = 1;
        f64(&y, &px, &st, 1, p);
        if (!(y > -9.2e18 && y < 9.2e18)) y = 0; /* keep the conversion defined */
        kiln_tview_set_int(out, i, (int64_t)y);
    }
    return KILN_OK;
}

/* Reads the attributes of the parameterized ops with ONNX's defaults. */
static void kiln_ew_act_params(const kiln_node *node, kiln_ew_act *p) {
    p->alpha = p->beta = p->gamma = 0;
    p->flag0 = p->flag1 = 1;
    switch (node->op) {
    case KILN_OP_LeakyRelu:
        p->alpha = kiln_attr_float(node, "alpha", 0.01f);
        break;
    case KILN_OP_Elu:
    case KILN_OP_Celu:
    case KILN_OP_ThresholdedRelu:
    case KILN_OP_Swish:
        p->alpha = kiln_attr_float(node, "alpha", 1.0f);
        break;
    case KILN_OP_Selu:
        p->alpha = kiln_attr_float(node, "alpha", 1.67326319217681884765625f);
        p->gamma = kiln_attr_float(node, "gamma", 1.05070102214813232421875f);
        break;
    case KILN_OP_HardSigmoid:
        p->alpha = kiln_attr_float(node, "alpha", 0.2f);
        p->beta = kiln_attr_float(node, "beta", 0.5f);
        break;
    case KILN_OP_Shrink: /* alpha: lambd, beta: bias */
        p->alpha = kiln_attr_float(node, "lambd", 0.5f);
        p->beta = kiln_attr_float(node, "bias", 0.0f);
        break;
    case KILN_OP_IsInf:
        p->flag0 = kiln_attr_int(node, "detect_positive", 1);
        p->flag1 = kiln_attr_int(node, "detect_negative", 1);
        break;
    default:
        break;
    }
}

#define KILN_EW_KERNEL_SIG(Name)                                                                   \
    kiln_status kiln_cpu_ew_##Name(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in, \
                                   int32_t n_in, kiln_tview *out, int32_t n_out)

/* Kernel of an op on floats only. */
#define KILN_EW_FLOAT_KERNEL(Name)                                                                 \
    KILN_EW_KERNEL_SIG(Name) {                                                                     \
        kiln_ew_act p;                                                                             \
        kiln_ew_act_params(node, &p);                                                              \
        return kiln_ew_unary(ctx, node, in, out, kiln_ew_f32_##Name, kiln_ew_f64_##Name, NULL,     \
                             &p);                                                                  \
    }

/* Kernel of an op on floats and integers. */
#define KILN_EW_NUMERIC_KERNEL(Name)                                                               \
    KILN_EW_KERNEL_SIG(Name) {                                                                     \
        kiln_ew_act p;                                                                             \
        kiln_ew_act_params(node, &p);                                                              \
        return kiln_ew_unary(ctx, node, in, out, kiln_ew_f32_##Name, kiln_ew_f64_##Name,           \
                             kiln_ew_int_##Name, &p);                                              \
    }

KILN_EW_NUMERIC_KERNEL(Abs)
KILN_EW_NUMERIC_KERNEL(Neg)
KILN_EW_NUMERIC_KERNEL(Sign)
KILN_EW_NUMERIC_KERNEL(Relu)
KILN_EW_FLOAT_KERNEL(Floor)
KILN_EW_FLOAT_KERNEL(Ceil)
KILN_EW_FLOAT_KERNEL(Round)
KILN_EW_FLOAT_KERNEL(Sqrt)
KILN_EW_FLOAT_KERNEL(Reciprocal)
KILN_EW_FLOAT_KERNEL(Exp)
KILN_EW_FLOAT_KERNEL(Log)
KILN_EW_FLOAT_KERNEL(Sin)
KILN_EW_FLOAT_KERNEL(Cos)
KILN_EW_FLOAT_KERNEL(Tan)
KILN_EW_FLOAT_KERNEL(Asin)
KILN_EW_FLOAT_KERNEL(Acos)
KILN_EW_FLOAT_KERNEL(Atan)
KILN_EW_FLOAT_KERNEL(Sinh)
KILN_EW_FLOAT_KERNEL(Cosh)
KILN_EW_FLOAT_KERNEL(Asinh)
KILN_EW_FLOAT_KERNEL(Acosh)
KILN_EW_FLOAT_KERNEL(Atanh)
KILN_EW_KERNEL_SIG(Erf) {
    kiln_ew_act p;
    kiln_ew_act_params(node, &p);
    if (kiln_ew_int_index(in[0].dtype) >= 0)
        return kiln_ew_unary_int_via_double(node, &in[0], &out[0], kiln_ew_f64_Erf, &p);
    return kiln_ew_unary(ctx, node, in, out, kiln_ew_f32_Erf, kiln_ew_f64_Erf, NULL, &p);
}
KILN_EW_FLOAT_KERNEL(LeakyRelu)
KILN_EW_FLOAT_KERNEL(Elu)
KILN_EW_FLOAT_KERNEL(Selu)
KILN_EW_FLOAT_KERNEL(Celu)
KILN_EW_FLOAT_KERNEL(Sigmoid)
KILN_EW_FLOAT_KERNEL(HardSigmoid)
KILN_EW_FLOAT_KERNEL(HardSwish)
KILN_EW_FLOAT_KERNEL(Tanh)
KILN_EW_FLOAT_KERNEL(Softplus)
KILN_EW_FLOAT_KERNEL(Softsign)
KILN_EW_FLOAT_KERNEL(ThresholdedRelu)
KILN_EW_FLOAT_KERNEL(Mish)
KILN_EW_FLOAT_KERNEL(Swish)
KILN_EW_KERNEL_SIG(Shrink) {
    kiln_ew_act p;
    kiln_ew_act_params(node, &p);
    if (kiln_ew_int_index(in[0].dtype) >= 0)
        return kiln_ew_unary_int_via_double(node, &in[0], &out[0], kiln_ew_f64_Shrink, &p);
    return kiln_ew_unary(ctx, node, in, out, kiln_ew_f32_Shrink, kiln_ew_f64_Shrink, NULL, &p);
}
KILN_EW_FLOAT_KERNEL(IsNaN)
KILN_EW_FLOAT_KERNEL(IsInf)

KILN_EW_KERNEL_SIG(Gelu) {
    kiln_ew_act p;
    kiln_ew_act_params(node, &p);
    const char *approx = kiln_attr_string(node, "approximate", "none");
    if (!strcmp(approx, "tanh"))
        return kiln_ew_unary(ctx, node, in, out, kiln_ew_f32_GeluTanh, kiln_ew_f64_GeluTanh, NULL,
                             &p);
    if (strcmp(approx, "none"))
        return kiln_node_error(KILN_ERR_UNSUPPORTED, node, "approximate '%s' not supported",
                               approx);
    return kiln_ew_unary(ctx, node, in, out, kiln_ew_f32_Gelu, kiln_ew_f64_Gelu, NULL, &p);
}

KILN_EW_KERNEL_SIG(BitwiseNot) {
    return kiln_ew_unary(ctx, node, in, out, NULL, NULL, kiln_ew_int_BitwiseNot, NULL);
}

KILN_EW_KERNEL_SIG(Not) {
    if (in[0].dtype != KILN_DTYPE_BOOL) return kiln_ew_unsupported(node, in[0].dtype);
    const kiln_tview *ins[1] = {&in[0]};
    return kiln_ew_apply(ctx, node, ins, 1, out, kiln_ew_not_loop, NULL);
}
