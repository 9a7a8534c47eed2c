/*
 * Cast and CastLike between every numeric dtype: typed (threaded) loops among float32,
 * float64, the integer types and bool; float16/bfloat16 through float buffers; and an
 * element-by-element path for the 8-bit floats (E4M3FN, E4M3FNUZ, E5M2, E5M2FNUZ, E8M0),
 * FLOAT4E2M1 and the packed INT4/UINT4/INT2/UINT2 types. Conversions follow numpy / ml_dtypes
 * as the ONNX reference does: float -> int truncates (narrow ints wrap), float -> float
 * rounds to nearest even, float8 `saturate` clamps to the finite range, and E8M0 follows
 * round_mode.
 */
#include <math.h>
#include <string.h>

#include "backends/cpu/elementwise_common.h"

/* ------------------------------------------------------------- typed loops --------- */

/* float -> integer without undefined behaviour: NaN and out-of-range give INT64_MIN (what
 * x86 conversions give, and so numpy there). */
static inline int64_t kiln_ew_f2i64(double v) {
    if (!(v >= -9223372036854775808.0 && v < 9223372036854775808.0)) return INT64_MIN;
    return (int64_t)v;
}
static inline uint64_t kiln_ew_f2u64(double v) {
    if (v >= 9223372036854775808.0 && v < 18446744073709551616.0) return (uint64_t)v;
    return (uint64_t)kiln_ew_f2i64(v);
}

#define KILN_EW_IS_FLOAT_T(T) ((T)0.5 != (T)0)
#define KILN_EW_IS_U64_T(T)   (sizeof(T) == 8 && (T)-1 > (T)0)
#define KILN_EW_CONVERT(D, S, v)                                                                   \
    ((KILN_EW_IS_FLOAT_T(D) || !KILN_EW_IS_FLOAT_T(S)) ? (D)(v)                                    \
     : KILN_EW_IS_U64_T(D)                             ? (D)kiln_ew_f2u64((double)(v))             \
                                                       : (D)kiln_ew_f2i64((double)(v)))

#define KILN_EW_CAST_LOOP(fname, S, D)                                                             \
    static void fname(void *out_, const void *const *in_, const int64_t *st, int64_t n,            \
                      const void *params) {                                                        \
        const S *a = in_[0];                                                                       \
        D *o = out_;                                                                               \
        (void)st;                                                                                  \
        (void)params;                                                                              \
        for (int64_t i = 0; i < n; i++) o[i] = KILN_EW_CONVERT(D, S, a[i]);                        \
    }

/* One source type into the 10 typed destinations (kiln_ew_num_index order) and bool. */
#define KILN_EW_CAST_ROW(s, S)                                                                     \
    KILN_EW_CAST_LOOP(kiln_ew_cast_##s##_f32, S, float)                                            \
    KILN_EW_CAST_LOOP(kiln_ew_cast_##s##_f64, S, double)                                           \
    KILN_EW_CAST_LOOP(kiln_ew_cast_##s##_i8, S, int8_t)                                            \
    KILN_EW_CAST_LOOP(kiln_ew_cast_##s##_u8, S, uint8_t)                                           \
    KILN_EW_CAST_LOOP(kiln_ew_cast_##s##_i16, S, int16_t)                                          \
    KILN_EW_CAST_LOOP(kiln_ew_cast_##s##_u16, S, uint16_t)                                         \
    KILN_EW_CAST_LOOP(kiln_ew_cast_##s##_i32, S, int32_t)                                          \
    KILN_EW_CAST_LOOP(kiln_ew_cast_##s##_u32, S, uint32_t)                                         \
    KILN_EW_CAST_LOOP(kiln_ew_cast_##s##_i64, S, int64_t)                                          \
    KILN_EW_CAST_LOOP(kiln_ew_cast_##s##_u64, S, uint64_t)                                         \
    static void kiln_ew_cast_##s##_bool(void *out_, const void *const *in_, const int64_t *st,     \
                                        int64_t n, const void *params) {                           \
        const S *a = in_[0];                                                                       \
        uint8_t *o = out_;                                                                         \
        for (int64_t i = 0; i < n; i++) o[i] = a[i] != 0;                                          \
    }

KILN_EW_CAST_ROW(f32, float)
KILN_EW_CAST_ROW(f64, double)
KILN_EW_CAST_ROW(i8, int8_t)
KILN_EW_CAST_ROW(u8, uint8_t)
KILN_EW_CAST_ROW(i16, int16_t)
KILN_EW_CAST_ROW(u16, uint16_t)
KILN_EW_CAST_ROW(i32, int32_t)
KILN_EW_CAST_ROW(u32, uint32_t)
KILN_EW_CAST_ROW(i64, int64_t)
KILN_EW_CAST_ROW(u64, uint64_t)

#define KILN_EW_CAST_TABLE_ROW(s)                                                                  \
    {                                                                                              \
        kiln_ew_cast_##s##_f32, kiln_ew_cast_##s##_f64, kiln_ew_cast_##s##_i8,                     \
            kiln_ew_cast_##s##_u8, kiln_ew_cast_##s##_i16, kiln_ew_cast_##s##_u16,                 \
            kiln_ew_cast_##s##_i32, kiln_ew_cast_##s##_u32, kiln_ew_cast_##s##_i64,                \
            kiln_ew_cast_##s##_u64, kiln_ew_cast_##s##_bool                                        \
    }

/* [source][destination]: kiln_ew_num_index order, destination 10 is bool */
static const kiln_ew_loop_fn kiln_ew_cast_table[10][11] = {
    KILN_EW_CAST_TABLE_ROW(f32), KILN_EW_CAST_TABLE_ROW(f64), KILN_EW_CAST_TABLE_ROW(i8),
    KILN_EW_CAST_TABLE_ROW(u8),  KILN_EW_CAST_TABLE_ROW(i16), KILN_EW_CAST_TABLE_ROW(u16),
    KILN_EW_CAST_TABLE_ROW(i32), KILN_EW_CAST_TABLE_ROW(u32), KILN_EW_CAST_TABLE_ROW(i64),
    KILN_EW_CAST_TABLE_ROW(u64)};

/* Source index into the typed table (bool reads as uint8), or -1. */
static int kiln_ew_cast_src(kiln_dtype dt) {
    return kiln_ew_num_index(dt == KILN_DTYPE_BOOL ? KILN_DTYPE_UINT8 : dt);
}
/* Destination index (10 for bool), or -1. */
static int kiln_ew_cast_dst(kiln_dtype dt) {
    return dt == KILN_DTYPE_BOOL ? 10 : kiln_ew_num_index(dt);
}

/* ------------------------------------------------------------- small floats -------- */

typedef enum kiln_ew_mf_kind {
    KILN_EW_MF_IEEE, /* infinities and NaNs at the top exponent (E5M2) */
    KILN_EW_MF_FN,   /* no infinity; NaN is S.1111.111 (E4M3FN) */
    KILN_EW_MF_FNUZ, /* no infinity, no -0; NaN is 0x80 */
    KILN_EW_MF_E2M1  /* no infinity, no NaN; always saturates */
} kiln_ew_mf_kind;

typedef struct kiln_ew_mf {
    int ebits, mbits, bias;
    kiln_ew_mf_kind kind;
    double max;       /* largest finite value */
    uint8_t max_code; /* its encoding (without sign) */
} kiln_ew_mf;

static const kiln_ew_mf kiln_ew_e4m3fn = {4, 3, 7, KILN_EW_MF_FN, 448.0, 0x7e};
static const kiln_ew_mf kiln_ew_e4m3fnuz = {4, 3, 8, KILN_EW_MF_FNUZ, 240.0, 0x7f};
static const kiln_ew_mf kiln_ew_e5m2 = {5, 2, 15, KILN_EW_MF_IEEE, 57344.0, 0x7b};
static const kiln_ew_mf kiln_ew_e5m2fnuz = {5, 2, 16, KILN_EW_MF_FNUZ, 57344.0, 0x7f};
static const kiln_ew_mf kiln_ew_e2m1 = {2, 1, 1, KILN_EW_MF_E2M1, 6.0, 0x7};

static const kiln_ew_mf *kiln_ew_mf_format(kiln_dtype dt) {
    switch (dt) {
    case KILN_DTYPE_FLOAT8E4M3FN:
        return &kiln_ew_e4m3fn;
    case KILN_DTYPE_FLOAT8E4M3FNUZ:
        return &kiln_ew_e4m3fnuz;
    case KILN_DTYPE_FLOAT8E5M2:
        return &kiln_ew_e5m2;
    case KILN_DTYPE_FLOAT8E5M2FNUZ:
        return &kiln_ew_e5m2fnuz;
    case KILN_DTYPE_FLOAT4E2M1:
        return &kiln_ew_e2m1;
    default:
        return NULL;
    }
}

/* The code of an out-of-range value: the largest finite value when saturating (E2M1
 * always), else infinity or NaN, whichever the format has. */
static uint8_t kiln_ew_mf_overflow(const kiln_ew_mf *f, uint8_t sbit, bool saturate) {
    if (saturate || f->kind == KILN_EW_MF_E2M1) return sbit | f->max_code;
    switch (f->kind) {
    case KILN_EW_MF_IEEE:
        return (uint8_t)(sbit | (((1u << f->ebits) - 1) << f->mbits));
    case KILN_EW_MF_FN:
        return sbit | 0x7f;
    default:
        return 0x80;
    }
}

/* Rounds to nearest even into the format (as ml_dtypes, which the ONNX reference uses). */
static uint8_t kiln_ew_mf_encode(float x, const kiln_ew_mf *f, bool saturate) {
    bool neg = signbit(x) != 0;
    uint8_t sbit = (uint8_t)(neg ? 1u << (f->ebits + f->mbits) : 0);
    if (isnan(x)) {
        switch (f->kind) {
        case KILN_EW_MF_IEEE:
            return (uint8_t)(sbit | (((1u << f->ebits) - 1) << f->mbits) | (1u << (f->mbits - 1)));
        case KILN_EW_MF_FN:
            return sbit | 0x7f;
        case KILN_EW_MF_FNUZ:
            return 0x80;
        default:
            return neg ? 0 : 0x8; /* ml_dtypes' E2M1 NaN: zero of the other sign */
        }
    }
    if (isinf(x)) return kiln_ew_mf_overflow(f, sbit, saturate);
    double a = fabs((double)x);
    int e;
    frexp(a, &e);
    int ex = e - 1, emin = 1 - f->bias;
    if (ex < emin) ex = emin;
    double q = ldexp(1.0, ex - f->mbits); /* the spacing of values around a */
    double n = nearbyint(a / q);
    if (n * q > f->max) return kiln_ew_mf_overflow(f, sbit, saturate);
    if (n == 0) return f->kind == KILN_EW_MF_FNUZ ? 0 : sbit;
    uint32_t m = (uint32_t)n, one = 1u << f->mbits;
    if (m >= 2 * one) { /* rounded up into the next binade */
        m >>= 1;
        ex++;
    }
    if (m < one) return sbit | (uint8_t)m; /* subnormal */
    return (uint8_t)(sbit | ((uint32_t)(ex + f->bias) << f->mbits) | (m - one));
}

static double kiln_ew_mf_decode(uint8_t c, const kiln_ew_mf *f) {
    int sign_shift = f->ebits + f->mbits;
    bool neg = (c >> sign_shift) & 1;
    uint32_t emax = (1u << f->ebits) - 1, mmax = (1u << f->mbits) - 1;
    uint32_t e = (c >> f->mbits) & emax, m = c & mmax;
    switch (f->kind) {
    case KILN_EW_MF_FNUZ:
        if (c == 0x80) return -NAN;
        break;
    case KILN_EW_MF_FN:
        if (e == emax && m == mmax) return neg ? -NAN : NAN;
        break;
    case KILN_EW_MF_IEEE:
        if (e == emax) return m ? (neg ? -NAN : NAN) : (neg ? -INFINITY : INFINITY);
        break;
    default:
        break;
    }
    double v = e == 0 ? ldexp((double)m, 1 - f->bias - f->mbits)
                      : ldexp((double)((1u << f->mbits) + m), (int)e - f->bias - f->mbits);
    return neg ? -v : v;
}

typedef enum kiln_ew_round {
    KILN_EW_ROUND_UP,
    KILN_EW_ROUND_DOWN,
    KILN_EW_ROUND_NEAREST
} kiln_ew_round;

/* float -> E8M0 (a biased power of two), as onnx.numpy_helper.to_float8e8m0 */
static uint8_t kiln_ew_e8m0_encode(float x, bool saturate, kiln_ew_round mode) {
    uint32_t bits;
    memcpy(&bits, &x, 4);
    uint32_t exp = (bits >> 23) & 0xff;
    if (exp == 0xff) return 0xff;
    bool up = false;
    if (mode == KILN_EW_ROUND_NEAREST) {
        bool g = bits & 0x400000, r = bits & 0x200000, s = bits & 0x1fffff, lsb = exp > 0;
        up = g && (r || s || lsb);
    } else if (mode == KILN_EW_ROUND_UP) {
        up = (bits & 0x7fffff) != 0;
    }
    if (up && saturate && exp == 0xfe) up = false;
    return (uint8_t)(exp + up);
}

static double kiln_ew_e8m0_decode(uint8_t c) {
    return c == 0xff ? NAN : ldexp(1.0, (int)c - 127);
}

/* ------------------------------------------------------------- generic path -------- */

/* One element on its way between dtypes: a float, or an integer (signed or not). */
typedef struct kiln_ew_value {
    enum { KILN_EW_V_FLOAT, KILN_EW_V_INT, KILN_EW_V_UINT } kind;
    double d;
    int64_t i;
    uint64_t u;
} kiln_ew_value;

typedef struct kiln_ew_cast_opts {
    bool saturate;
    kiln_ew_round round;
} kiln_ew_cast_opts;

static unsigned kiln_ew_packed_get(const uint8_t *p, int64_t i, int bits) {
    int per = 8 / bits;
    return (p[i / per] >> ((i % per) * bits)) & ((1u << bits) - 1);
}

static void kiln_ew_packed_set(uint8_t *p, int64_t i, int bits, unsigned v) {
    int per = 8 / bits, shift = (int)(i % per) * bits;
    unsigned mask = (1u << bits) - 1;
    p[i / per] = (uint8_t)((p[i / per] & ~(mask << shift)) | ((v & mask) << shift));
}

static kiln_ew_value kiln_ew_read(const kiln_tview *t, int64_t i) {
    kiln_ew_value v = {KILN_EW_V_FLOAT, 0, 0, 0};
    const kiln_ew_mf *mf = kiln_ew_mf_format(t->dtype);
    if (mf) {
        unsigned code = t->dtype == KILN_DTYPE_FLOAT4E2M1 ? kiln_ew_packed_get(t->data, i, 4)
                                                          : ((const uint8_t *)t->data)[i];
        v.d = kiln_ew_mf_decode((uint8_t)code, mf);
        return v;
    }
    switch (t->dtype) {
    case KILN_DTYPE_FLOAT8E8M0:
        v.d = kiln_ew_e8m0_decode(((const uint8_t *)t->data)[i]);
        return v;
    case KILN_DTYPE_FLOAT32:
    case KILN_DTYPE_FLOAT64:
    case KILN_DTYPE_FLOAT16:
    case KILN_DTYPE_BFLOAT16:
        v.d = kiln_tview_get_double(t, i);
        return v;
    case KILN_DTYPE_UINT64:
        v.kind = KILN_EW_V_UINT;
        v.u = ((const uint64_t *)t->data)[i];
        return v;
    case KILN_DTYPE_INT4:
        v.kind = KILN_EW_V_INT;
        v.i = (int64_t)(kiln_ew_packed_get(t->data, i, 4) ^ 8u) - 8;
        return v;
    case KILN_DTYPE_UINT4:
        v.kind = KILN_EW_V_INT;
        v.i = kiln_ew_packed_get(t->data, i, 4);
        return v;
    case KILN_DTYPE_INT2:
        v.kind = KILN_EW_V_INT;
        v.i = (int64_t)(kiln_ew_packed_get(t->data, i, 2) ^ 2u) - 2;
        return v;
    case KILN_DTYPE_UINT2:
        v.kind = KILN_EW_V_INT;
        v.i = kiln_ew_packed_get(t->data, i, 2);
        return v;
    default:
        v.kind = KILN_EW_V_INT;
        v.i = kiln_tview_get_int(t, i);
        return v;
    }
}

static double kiln_ew_value_double(const kiln_ew_value *v) {
    return v->kind == KILN_EW_V_FLOAT ? v->d
           : v->kind == KILN_EW_V_INT ? (double)v->i
                                      : (double)v->u;
}

static float kiln_ew_value_float(const kiln_ew_value *v) {
    return v->kind == KILN_EW_V_FLOAT ? (float)v->d
           : v->kind == KILN_EW_V_INT ? (float)v->i
                                      : (float)v->u;
}

/* The value's bits as an integer of any width (wrapping), floats truncated. `sub_byte`:
 * non-finite floats give 0 (ml_dtypes' int4/int2) rather than INT64_MIN. */
static uint64_t kiln_ew_value_bits(const kiln_ew_value *v, bool sub_byte) {
    if (v->kind == KILN_EW_V_INT) return (uint64_t)v->i;
    if (v->kind == KILN_EW_V_UINT) return v->u;
    if (sub_byte && !isfinite(v->d)) return 0;
    return kiln_ew_f2u64(v->d);
}

static void kiln_ew_write(kiln_tview *t, int64_t i, const kiln_ew_value *v,
                          const kiln_ew_cast_opts *o) {
    const kiln_ew_mf *mf = kiln_ew_mf_format(t->dtype);
    if (mf) {
        uint8_t code = kiln_ew_mf_encode(kiln_ew_value_float(v), mf, o->saturate);
        if (t->dtype == KILN_DTYPE_FLOAT4E2M1)
            kiln_ew_packed_set(t->data, i, 4, code);
        else
            ((uint8_t *)t->data)[i] = code;
        return;
    }
    switch (t->dtype) {
    case KILN_DTYPE_FLOAT8E8M0:
        ((uint8_t *)t->data)[i] =
            kiln_ew_e8m0_encode(kiln_ew_value_float(v), o->saturate, o->round);
        return;
    case KILN_DTYPE_FLOAT32:
        ((float *)t->data)[i] = kiln_ew_value_float(v);
        return;
    case KILN_DTYPE_FLOAT16:
        ((uint16_t *)t->data)[i] = kiln_float_to_half(kiln_ew_value_float(v));
        return;
    case KILN_DTYPE_BFLOAT16:
        ((uint16_t *)t->data)[i] = kiln_float_to_bf16(kiln_ew_value_float(v));
        return;
    case KILN_DTYPE_FLOAT64:
        ((double *)t->data)[i] = kiln_ew_value_double(v);
        return;
    case KILN_DTYPE_BOOL:
        ((uint8_t *)t->data)[i] = v->kind == KILN_EW_V_FLOAT
                                      ? v->d != 0
                                      : (v->kind == KILN_EW_V_INT ? v->i != 0 : v->u != 0);
        return;
    case KILN_DTYPE_INT4:
    case KILN_DTYPE_UINT4:
        kiln_ew_packed_set(t->data, i, 4, (unsigned)kiln_ew_value_bits(v, true));
        return;
    case KILN_DTYPE_INT2:
    case KILN_DTYPE_UINT2:
        kiln_ew_packed_set(t->data, i, 2, (unsigned)kiln_ew_value_bits(v, true));
        return;
    default:
        kiln_tview_set_int(t, i, (int64_t)kiln_ew_value_bits(v, false));
        return;
    }
}

static bool kiln_ew_cast_known(kiln_dtype dt) {
    return kiln_ew_cast_src(dt) >= 0 || dt == KILN_DTYPE_BOOL || kiln_ew_is_half(dt) ||
           kiln_ew_mf_format(dt) || dt == KILN_DTYPE_FLOAT8E8M0 || dt == KILN_DTYPE_INT4 ||
           dt == KILN_DTYPE_UINT4 || dt == KILN_DTYPE_INT2 || dt == KILN_DTYPE_UINT2;
}

/* ------------------------------------------------------------- kernels ------------- */

static kiln_status kiln_ew_cast(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                                kiln_tview *out) {
    kiln_dtype src = in->dtype, dst = out->dtype;
    if (!kiln_ew_cast_known(src) || !kiln_ew_cast_known(dst))
        return kiln_node_error(KILN_ERR_UNSUPPORTED, node, "cast from %s to %s not supported",
                               kiln_dtype_name(src), kiln_dtype_name(dst));
    if (src == dst) {
        kiln_ew_copy(ctx, in, out);
        return KILN_OK;
    }
    const kiln_tview *ins[1] = {in};
    int si = kiln_ew_cast_src(src), di = kiln_ew_cast_dst(dst);
    if (si >= 0 && di >= 0)
        return kiln_ew_apply(ctx, node, ins, 1, out, kiln_ew_cast_table[si][di], NULL);
    bool src_half = kiln_ew_is_half(src), dst_half = kiln_ew_is_half(dst);
    if ((src_half || si >= 0) && (dst_half || di >= 0)) {
        /* through float: float16/bfloat16 operands convert in the adapter */
        kiln_ew_loop_fn fn = kiln_ew_cast_table[src_half ? 0 : si][dst_half ? 0 : di];
        kiln_ew_half h = {fn, NULL, 1, {src}, dst};
        return kiln_ew_apply(ctx, node, ins, 1, out, kiln_ew_half_loop, &h);
    }
    kiln_ew_cast_opts o;
    o.saturate = kiln_attr_int(node, "saturate", 1) != 0;
    const char *mode = kiln_attr_string(node, "round_mode", "up");
    if (!strcmp(mode, "up"))
        o.round = KILN_EW_ROUND_UP;
    else if (!strcmp(mode, "down"))
        o.round = KILN_EW_ROUND_DOWN;
    else if (!strcmp(mode, "nearest"))
        o.round = KILN_EW_ROUND_NEAREST;
    else
        return kiln_node_error(KILN_ERR_INVALID_ARGUMENT, node, "unknown round_mode '%s'", mode);
    int64_t n = kiln_tview_count(in);
    if (kiln_dtype_bits(dst) < 8) memset(out->data, 0, kiln_dtype_nbytes(dst, n));
    for (int64_t i = 0; i < n; i++) {
        kiln_ew_value v = kiln_ew_read(in, i);
        kiln_ew_write(out, i, &v, &o);
    }
    return KILN_OK;
}

kiln_status kiln_cpu_ew_Cast(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                             int32_t n_in, kiln_tview *out, int32_t n_out) {
    return kiln_ew_cast(ctx, node, &in[0], &out[0]);
}

/* CastLike: the second input only gives the dtype, which the shape function put on out. */
kiln_status kiln_cpu_ew_CastLike(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                                 int32_t n_in, kiln_tview *out, int32_t n_out) {
    return kiln_ew_cast(ctx, node, &in[0], &out[0]);
}
