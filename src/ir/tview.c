/* Shared helpers of shape functions and kernels: errors, broadcasting, element access. */
#include "ir/tview.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static kiln_status kiln_node_verror(kiln_status status, const kiln_node *node, const char *fmt,
                                    va_list args) {
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, args);
    const kiln_op_info *info = kiln_op_get_info(node->op);
    return kiln_error(status, "node '%s' (%s): %s", node->name, info ? info->name : "?", msg);
}

kiln_status kiln_shape_error(const kiln_node *node, const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    kiln_status st = kiln_node_verror(KILN_ERR_SHAPE, node, fmt, args);
    va_end(args);
    return st;
}

kiln_status kiln_node_error(kiln_status status, const kiln_node *node, const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    kiln_status st = kiln_node_verror(status, node, fmt, args);
    va_end(args);
    return st;
}

size_t kiln_dtype_nbytes(kiln_dtype dtype, int64_t count) {
    int32_t bits = kiln_dtype_bits(dtype);
    if (count <= 0 || bits == 0) return 0;
    return ((size_t)count * (size_t)bits + 7) / 8;
}

int64_t kiln_shape_count(int32_t rank, const int64_t *dims) {
    if (rank < 0) return -1;
    int64_t n = 1;
    for (int32_t i = 0; i < rank; i++) {
        if (dims[i] < 0) return -1;
        /* An element count past int64 is no real tensor: report it as unknown. */
        if (__builtin_mul_overflow(n, dims[i], &n)) return -1;
    }
    return n;
}

const char *kiln_shape_string(int32_t rank, const int64_t *dims, char *buf, size_t size) {
    if (rank < 0) {
        snprintf(buf, size, "[unknown rank]");
        return buf;
    }
    size_t pos = 0;
    pos += (size_t)snprintf(buf + pos, size - pos, "[");
    for (int32_t i = 0; i < rank && pos < size; i++) {
        if (dims[i] < 0)
            pos += (size_t)snprintf(buf + pos, size - pos, "%s?", i ? ", " : "");
        else
            pos += (size_t)snprintf(buf + pos, size - pos, "%s%lld", i ? ", " : "",
                                    (long long)dims[i]);
    }
    if (pos < size) snprintf(buf + pos, size - pos, "]");
    return buf;
}

kiln_status kiln_broadcast_shapes(const kiln_node *node, const kiln_tview *a, const kiln_tview *b,
                                  kiln_tview *out) {
    if (a->rank < 0 || b->rank < 0) {
        out->rank = -1;
        return KILN_OK;
    }
    int32_t rank = a->rank > b->rank ? a->rank : b->rank;
    for (int32_t i = 0; i < rank; i++) {
        int32_t ia = i - (rank - a->rank), ib = i - (rank - b->rank);
        int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
        int64_t d;
        if (da == db) d = da;
        else if (da == 1) d = db;
        else if (db == 1) d = da;
        else if (da < 0 || db < 0) d = -1; /* unknown until run time */
        else {
            char sa[128], sb[128];
            return kiln_shape_error(node, "shapes %s and %s cannot be broadcast",
                                    kiln_shape_string(a->rank, a->dims, sa, sizeof sa),
                                    kiln_shape_string(b->rank, b->dims, sb, sizeof sb));
        }
        out->dims[i] = d;
    }
    out->rank = rank;
    return KILN_OK;
}

float kiln_half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t mant = h & 0x3ff;
    uint32_t bits;
    if (exp == 0) {
        if (mant == 0) bits = sign;
        else { /* subnormal: normalize */
            float f = ldexpf((float)mant, -24);
            return sign ? -f : f;
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (mant << 13);
    } else {
        bits = sign | ((exp + 112) << 23) | (mant << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t kiln_float_to_half(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000;
    uint32_t exp = (x >> 23) & 0xff;
    uint32_t mant = x & 0x7fffff;
    if (exp == 0xff) return (uint16_t)(sign | 0x7c00 | (mant ? 0x200 | (mant >> 13) : 0));
    int32_t e = (int32_t)exp - 127 + 15;
    if (e >= 31) return (uint16_t)(sign | 0x7c00); /* overflow to infinity */
    if (e <= 0) {
        if (e < -10) return (uint16_t)sign; /* underflow to zero */
        mant |= 0x800000;
        uint32_t shift = (uint32_t)(14 - e);
        uint32_t half = mant >> shift;
        uint32_t rem = mant & ((1u << shift) - 1);
        uint32_t mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1))) half++;
        return (uint16_t)(sign | half);
    }
    uint32_t half = sign | ((uint32_t)e << 10) | (mant >> 13);
    uint32_t rem = mant & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (half & 1))) half++; /* may carry into exponent */
    return (uint16_t)half;
}

float kiln_bf16_to_float(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t kiln_float_to_bf16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffff) > 0x7f800000) return (uint16_t)((x >> 16) | 0x40); /* quiet NaN */
    x += 0x7fff + ((x >> 16) & 1);
    return (uint16_t)(x >> 16);
}

int64_t kiln_tview_get_int(const kiln_tview *t, int64_t i) {
    switch (t->dtype) {
    case KILN_DTYPE_INT8: return ((const int8_t *)t->data)[i];
    case KILN_DTYPE_UINT8:
    case KILN_DTYPE_BOOL: return ((const uint8_t *)t->data)[i];
    case KILN_DTYPE_INT16: return ((const int16_t *)t->data)[i];
    case KILN_DTYPE_UINT16: return ((const uint16_t *)t->data)[i];
    case KILN_DTYPE_INT32: return ((const int32_t *)t->data)[i];
    case KILN_DTYPE_UINT32: return ((const uint32_t *)t->data)[i];
    case KILN_DTYPE_INT64: return ((const int64_t *)t->data)[i];
    case KILN_DTYPE_UINT64: return (int64_t)((const uint64_t *)t->data)[i];
    default: return (int64_t)kiln_tview_get_double(t, i);
    }
}

double kiln_tview_get_double(const kiln_tview *t, int64_t i) {
    switch (t->dtype) {
    case KILN_DTYPE_FLOAT32: return ((const float *)t->data)[i];
    case KILN_DTYPE_FLOAT64: return ((const double *)t->data)[i];
    case KILN_DTYPE_FLOAT16: return kiln_half_to_float(((const uint16_t *)t->data)[i]);
    case KILN_DTYPE_BFLOAT16: return kiln_bf16_to_float(((const uint16_t *)t->data)[i]);
    case KILN_DTYPE_UINT64: return (double)((const uint64_t *)t->data)[i];
    default: return (double)kiln_tview_get_int(t, i);
    }
}

void kiln_tview_set_double(kiln_tview *t, int64_t i, double v) {
    switch (t->dtype) {
    case KILN_DTYPE_FLOAT32: ((float *)t->data)[i] = (float)v; return;
    case KILN_DTYPE_FLOAT64: ((double *)t->data)[i] = v; return;
    case KILN_DTYPE_FLOAT16: ((uint16_t *)t->data)[i] = kiln_float_to_half((float)v); return;
    case KILN_DTYPE_BFLOAT16: ((uint16_t *)t->data)[i] = kiln_float_to_bf16((float)v); return;
    case KILN_DTYPE_BOOL: ((uint8_t *)t->data)[i] = v != 0; return;
    case KILN_DTYPE_UINT64: ((uint64_t *)t->data)[i] = (uint64_t)v; return;
    case KILN_DTYPE_INT8:
    case KILN_DTYPE_UINT8:
    case KILN_DTYPE_INT16:
    case KILN_DTYPE_UINT16:
    case KILN_DTYPE_INT32:
    case KILN_DTYPE_UINT32:
    case KILN_DTYPE_INT64: kiln_tview_set_int(t, i, (int64_t)v); return;
    default: return; /* no numeric form (strings, complex, float8): callers check first */
    }
}

void kiln_tview_set_int(kiln_tview *t, int64_t i, int64_t v) {
    switch (t->dtype) {
    case KILN_DTYPE_INT8: ((int8_t *)t->data)[i] = (int8_t)v; return;
    case KILN_DTYPE_UINT8: ((uint8_t *)t->data)[i] = (uint8_t)v; return;
    case KILN_DTYPE_BOOL: ((uint8_t *)t->data)[i] = v != 0; return;
    case KILN_DTYPE_INT16: ((int16_t *)t->data)[i] = (int16_t)v; return;
    case KILN_DTYPE_UINT16: ((uint16_t *)t->data)[i] = (uint16_t)v; return;
    case KILN_DTYPE_INT32: ((int32_t *)t->data)[i] = (int32_t)v; return;
    case KILN_DTYPE_UINT32: ((uint32_t *)t->data)[i] = (uint32_t)v; return;
    case KILN_DTYPE_INT64: ((int64_t *)t->data)[i] = v; return;
    case KILN_DTYPE_UINT64: ((uint64_t *)t->data)[i] = (uint64_t)v; return;
    case KILN_DTYPE_FLOAT32:
    case KILN_DTYPE_FLOAT64:
    case KILN_DTYPE_FLOAT16:
    case KILN_DTYPE_BFLOAT16: kiln_tview_set_double(t, i, (double)v); return;
    default: return; /* no numeric form: callers check first */
    }
}

/* ---------------------------------------------------------------- values ----------- */

#define KILN_VALUE_ALIGN 16u

static size_t kiln_value_align(size_t n) {
    return (n + KILN_VALUE_ALIGN - 1) & ~(size_t)(KILN_VALUE_ALIGN - 1);
}

const char *kiln_value_kind_name(int kind) {
    switch (kind) {
    case KILN_VALUE_TENSOR: return "tensor";
    case KILN_VALUE_SEQUENCE: return "sequence";
    case KILN_VALUE_NONE: return "none";
    case KILN_VALUE_OPTIONAL: return "optional";
    case KILN_VALUE_OPTIONAL_SEQUENCE: return "optional sequence";
    default: return "unknown kind";
    }
}

size_t kiln_value_packed_size(const kiln_tview *v) {
    if (v->kind == KILN_VALUE_NONE) return 0;
    if (v->kind == KILN_VALUE_SEQUENCE) {
        size_t n = kiln_value_align(sizeof(kiln_tview) * (size_t)(v->seq_count > 0 ? v->seq_count : 0));
        for (int32_t i = 0; i < v->seq_count; i++)
            n += kiln_value_align(kiln_value_packed_size(&v->seq_items[i]));
        return n;
    }
    int64_t count = kiln_tview_count(v);
    if (count <= 0) return 0;
    if (v->dtype != KILN_DTYPE_STRING) return kiln_dtype_nbytes(v->dtype, count);
    const kiln_string *s = (const kiln_string *)v->data;
    size_t n = kiln_value_align(sizeof(kiln_string) * (size_t)count);
    for (int64_t i = 0; i < count; i++) n += (size_t)s[i].size;
    return n;
}

void kiln_value_pack(const kiln_tview *v, void *block, kiln_tview *out) {
    kiln_tview copy = *v;
    uint8_t *p = (uint8_t *)block;
    copy.data = block;
    if (v->kind == KILN_VALUE_SEQUENCE) {
        int32_t n = v->seq_count > 0 ? v->seq_count : 0;
        kiln_tview *items = (kiln_tview *)(void *)p;
        size_t pos = kiln_value_align(sizeof(kiln_tview) * (size_t)n);
        for (int32_t i = 0; i < n; i++) {
            kiln_value_pack(&v->seq_items[i], p + pos, &items[i]);
            pos += kiln_value_align(kiln_value_packed_size(&v->seq_items[i]));
        }
        copy.seq_count = n;
        copy.seq_items = n ? items : NULL;
        copy.rank = 0;
    } else if (v->kind == KILN_VALUE_TENSOR && v->dtype == KILN_DTYPE_STRING) {
        int64_t count = kiln_tview_count(v);
        kiln_string *dst = (kiln_string *)(void *)p;
        const kiln_string *src = (const kiln_string *)v->data;
        char *bytes = (char *)p + kiln_value_align(sizeof(kiln_string) * (size_t)(count > 0 ? count : 0));
        for (int64_t i = 0; i < count; i++) {
            if (src[i].size) memcpy(bytes, src[i].data, (size_t)src[i].size);
            dst[i].data = bytes;
            dst[i].size = src[i].size;
            bytes += src[i].size;
        }
    } else if (v->kind == KILN_VALUE_TENSOR) {
        size_t bytes = kiln_value_packed_size(v);
        if (bytes) memcpy(block, v->data, bytes);
    }
    *out = copy;
}
