/*
 * Helpers of the quantization kernels: element access to the quantized types (int2/int4
 * packed little-endian, first element in the low bits), saturation ranges, and the
 * minifloat formats (float8 e4m3fn/e4m3fnuz/e5m2/e5m2fnuz, float4 e2m1) with
 * round-to-nearest-even conversion from float.
 */
#ifndef KILN_CPU_QUANT_COMMON_H
#define KILN_CPU_QUANT_COMMON_H

#include <math.h>
#include <stdint.h>

#include "ir/tview.h"

static inline int quant_is_minifloat(kiln_dtype t) {
    return t == KILN_DTYPE_FLOAT8E4M3FN || t == KILN_DTYPE_FLOAT8E4M3FNUZ ||
           t == KILN_DTYPE_FLOAT8E5M2 || t == KILN_DTYPE_FLOAT8E5M2FNUZ ||
           t == KILN_DTYPE_FLOAT4E2M1;
}

/* The saturation range of an integer quantized type. */
static inline void quant_range(kiln_dtype t, int32_t *lo, int32_t *hi) {
    switch (t) {
    case KILN_DTYPE_INT8:
        *lo = -128, *hi = 127;
        return;
    case KILN_DTYPE_UINT16:
        *lo = 0, *hi = 65535;
        return;
    case KILN_DTYPE_INT16:
        *lo = -32768, *hi = 32767;
        return;
    case KILN_DTYPE_UINT4:
        *lo = 0, *hi = 15;
        return;
    case KILN_DTYPE_INT4:
        *lo = -8, *hi = 7;
        return;
    case KILN_DTYPE_UINT2:
        *lo = 0, *hi = 3;
        return;
    case KILN_DTYPE_INT2:
        *lo = -2, *hi = 1;
        return;
    case KILN_DTYPE_INT32:
        *lo = INT32_MIN, *hi = INT32_MAX;
        return;
    default:
        *lo = 0, *hi = 255;
        return;
    }
}

/* Raw bits of element i of a sub-byte type of `bits` bits. */
static inline uint32_t quant_get_bits(const void *data, int bits, int64_t i) {
    int per = 8 / bits;
    uint8_t byte = ((const uint8_t *)data)[i / per];
    return (uint32_t)(byte >> ((i % per) * bits)) & ((1u << bits) - 1);
}

static inline void quant_set_bits(void *data, int bits, int64_t i, uint32_t v) {
    int per = 8 / bits, shift = (int)(i % per) * bits;
    uint8_t *p = (uint8_t *)data + i / per;
    uint8_t m = (uint8_t)(((1u << bits) - 1) << shift);
    *p = (uint8_t)((*p & ~m) | ((v << shift) & m));
}

/* Element i of an integer quantized type (int2..int32, packed or not). */
static inline int32_t quant_get_int(const void *data, kiln_dtype t, int64_t i) {
    switch (t) {
    case KILN_DTYPE_INT8:
        return ((const int8_t *)data)[i];
    case KILN_DTYPE_UINT8:
        return ((const uint8_t *)data)[i];
    case KILN_DTYPE_INT16:
        return ((const int16_t *)data)[i];
    case KILN_DTYPE_UINT16:
        return ((const uint16_t *)data)[i];
    case KILN_DTYPE_INT32:
        return ((const int32_t *)data)[i];
    case KILN_DTYPE_UINT4:
        return (int32_t)quant_get_bits(data, 4, i);
    case KILN_DTYPE_INT4: {
        int32_t v = (int32_t)quant_get_bits(data, 4, i);
        return v >= 8 ? v - 16 : v;
    }
    case KILN_DTYPE_UINT2:
        return (int32_t)quant_get_bits(data, 2, i);
    case KILN_DTYPE_INT2: {
        int32_t v = (int32_t)quant_get_bits(data, 2, i);
        return v >= 2 ? v - 4 : v;
    }
    default:
        return 0;
    }
}

static inline void quant_set_int(void *data, kiln_dtype t, int64_t i, int32_t v) {
    switch (t) {
    case KILN_DTYPE_INT8:
        ((int8_t *)data)[i] = (int8_t)v;
        return;
    case KILN_DTYPE_UINT8:
        ((uint8_t *)data)[i] = (uint8_t)v;
        return;
    case KILN_DTYPE_INT16:
        ((int16_t *)data)[i] = (int16_t)v;
        return;
    case KILN_DTYPE_UINT16:
        ((uint16_t *)data)[i] = (uint16_t)v;
        return;
    case KILN_DTYPE_INT32:
        ((int32_t *)data)[i] = v;
        return;
    case KILN_DTYPE_UINT4:
    case KILN_DTYPE_INT4:
        quant_set_bits(data, 4, i, (uint32_t)v & 0xf);
        return;
    case KILN_DTYPE_UINT2:
    case KILN_DTYPE_INT2:
        quant_set_bits(data, 2, i, (uint32_t)v & 0x3);
        return;
    default:
        return;
    }
}

/* ---------------------------------------------------------------- minifloats ------- */

typedef struct quant_mf_format {
    int ebits, mbits, bias;
    int ieee;     /* all-ones exponent: infinity (mantissa 0) or NaN (e5m2) */
    int fn;       /* no infinity; all-ones exponent and mantissa is NaN (e4m3fn) */
    int uz;       /* no infinity, no negative zero; 0x80 is NaN (the fnuz types) */
    uint32_t max; /* magnitude bits of the largest finite value */
    uint32_t nan; /* the NaN pattern produced */
} quant_mf_format;

static inline const quant_mf_format *quant_mf(kiln_dtype t) {
    static const quant_mf_format e4m3fn = {4, 3, 7, 0, 1, 0, 0x7e, 0x7f};
    static const quant_mf_format e4m3fnuz = {4, 3, 8, 0, 0, 1, 0x7f, 0x80};
    static const quant_mf_format e5m2 = {5, 2, 15, 1, 0, 0, 0x7b, 0x7e};
    static const quant_mf_format e5m2fnuz = {5, 2, 16, 0, 0, 1, 0x7f, 0x80};
    static const quant_mf_format e2m1 = {2, 1, 1, 0, 0, 0, 0x7, 0x7};
    switch (t) {
    case KILN_DTYPE_FLOAT8E4M3FN:
        return &e4m3fn;
    case KILN_DTYPE_FLOAT8E4M3FNUZ:
        return &e4m3fnuz;
    case KILN_DTYPE_FLOAT8E5M2:
        return &e5m2;
    case KILN_DTYPE_FLOAT8E5M2FNUZ:
        return &e5m2fnuz;
    default:
        return &e2m1;
    }
}

static inline float quant_mf_decode(const quant_mf_format *f, uint32_t code) {
    int sbit = f->ebits + f->mbits;
    uint32_t emask = (1u << f->ebits) - 1, mmask = (1u << f->mbits) - 1;
    uint32_t sign = (code >> sbit) & 1, e = (code >> f->mbits) & emask, m = code & mmask;
    if (f->uz && code == 0x80) return NAN;
    if (f->fn && e == emask && m == mmask) return NAN;
    if (f->ieee && e == emask) return m ? NAN : (sign ? -INFINITY : INFINITY);
    float v = e == 0 ? ldexpf((float)m, 1 - f->bias - f->mbits)
                     : ldexpf((float)(m | (1u << f->mbits)), (int)e - f->bias - f->mbits);
    return sign ? -v : v;
}

/* float -> minifloat, rounding to nearest even; out-of-range values become the largest
 * finite value when saturating, else infinity (e5m2) or NaN (types without infinity). */
static inline uint32_t quant_mf_encode(const quant_mf_format *f, float x, int saturate) {
    int sbit = f->ebits + f->mbits;
    uint32_t sign = signbit(x) ? 1u << sbit : 0;
    if (isnan(x)) return f->nan;
    float a = fabsf(x);
    uint32_t over;
    if (f->ebits == 2)
        over = f->max; /* float4 has neither infinity nor NaN: always saturates */
    else if (saturate)
        over = f->max;
    else if (f->ieee)
        over = ((1u << f->ebits) - 1) << f->mbits;
    else
        over = f->uz ? 0x80 : f->nan;
    uint32_t code;
    if (isinf(a)) {
        code = over;
    } else if (a == 0) {
        code = 0;
    } else {
        int e2;
        frexpf(a, &e2);
        int E = e2 - 1, emin = 1 - f->bias;
        if (E < emin) {
            code = (uint32_t)nearbyintf(ldexpf(a, f->mbits - emin)); /* subnormal (or min normal) */
        } else {
            uint32_t q = (uint32_t)nearbyintf(ldexpf(a, f->mbits - E));
            if (q == 2u << f->mbits) {
                q >>= 1;
                E++;
            }
            code = ((uint32_t)(E + f->bias) << f->mbits) | (q & ((1u << f->mbits) - 1));
        }
        if (code > f->max) code = over;
    }
    if (code == 0x80 && f->uz) return code; /* NaN carries no sign */
    if (f->uz && code == 0) return 0;       /* no negative zero */
    return code | sign;
}

#endif
