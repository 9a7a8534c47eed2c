/*
 * Clip: bounds from the min/max attributes before opset 11, from the optional scalar inputs
 * since. A missing bound does not clip. min > max gives max everywhere (numpy's clip).
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "backends/cpu/elementwise_common.h"

/* see elementwise_unary.c: lets GCC vectorize the float compares */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif

/* The bounds as raw values of the tensor's dtype (float for float16/bfloat16). */
typedef struct kiln_ew_clip {
    unsigned char lo[8], hi[8];
} kiln_ew_clip;

#define KILN_EW_CLIP_LOOP(fname, T)                                                                \
    static void fname(void *out_, const void *const *in_, const int64_t *st, int64_t n,            \
                      const void *params) {                                                        \
        const kiln_ew_clip *p = params;                                                            \
        const T *a = in_[0];                                                                       \
        T *o = out_;                                                                               \
        T lo, hi;                                                                                  \
        memcpy(&lo, p->lo, sizeof lo);                                                             \
        memcpy(&hi, p->hi, sizeof hi);                                                             \
        (void)st;                                                                                  \
        for (int64_t i = 0; i < n; i++) {                                                          \
            T v = a[i] < lo ? lo : a[i];                                                           \
            o[i] = v > hi ? hi : v;                                                                \
        }                                                                                          \
    }

KILN_EW_CLIP_LOOP(kiln_ew_clip_f32, float)
KILN_EW_CLIP_LOOP(kiln_ew_clip_f64, double)
KILN_EW_CLIP_LOOP(kiln_ew_clip_i8, int8_t)
KILN_EW_CLIP_LOOP(kiln_ew_clip_u8, uint8_t)
KILN_EW_CLIP_LOOP(kiln_ew_clip_i16, int16_t)
KILN_EW_CLIP_LOOP(kiln_ew_clip_u16, uint16_t)
KILN_EW_CLIP_LOOP(kiln_ew_clip_i32, int32_t)
KILN_EW_CLIP_LOOP(kiln_ew_clip_u32, uint32_t)
KILN_EW_CLIP_LOOP(kiln_ew_clip_i64, int64_t)
KILN_EW_CLIP_LOOP(kiln_ew_clip_u64, uint64_t)

static const kiln_ew_loop_fn kiln_ew_clip_loops[10] = {
    kiln_ew_clip_f32, kiln_ew_clip_f64, kiln_ew_clip_i8,  kiln_ew_clip_u8,  kiln_ew_clip_i16,
    kiln_ew_clip_u16, kiln_ew_clip_i32, kiln_ew_clip_u32, kiln_ew_clip_i64, kiln_ew_clip_u64};

/* Writes the lowest / highest value of dtype `dt` (its float type for halves). */
static void kiln_ew_clip_limit(kiln_dtype dt, bool high, unsigned char *dst) {
    union {
        float f;
        double d;
        int8_t i8;
        uint8_t u8;
        int16_t i16;
        uint16_t u16;
        int32_t i32;
        uint32_t u32;
        int64_t i64;
        uint64_t u64;
    } v;
    memset(&v, 0, sizeof v);
    switch (dt) {
    case KILN_DTYPE_FLOAT64:
        v.d = high ? INFINITY : -INFINITY;
        break;
    case KILN_DTYPE_INT8:
        v.i8 = high ? INT8_MAX : INT8_MIN;
        break;
    case KILN_DTYPE_UINT8:
        v.u8 = high ? UINT8_MAX : 0;
        break;
    case KILN_DTYPE_INT16:
        v.i16 = high ? INT16_MAX : INT16_MIN;
        break;
    case KILN_DTYPE_UINT16:
        v.u16 = high ? UINT16_MAX : 0;
        break;
    case KILN_DTYPE_INT32:
        v.i32 = high ? INT32_MAX : INT32_MIN;
        break;
    case KILN_DTYPE_UINT32:
        v.u32 = high ? UINT32_MAX : 0;
        break;
    case KILN_DTYPE_INT64:
        v.i64 = high ? INT64_MAX : INT64_MIN;
        break;
    case KILN_DTYPE_UINT64:
        v.u64 = high ? UINT64_MAX : 0;
        break;
    default:
        v.f = high ? INFINITY : -INFINITY;
        break;
    }
    memcpy(dst, &v, 8);
}

/* Reads a bound given as a scalar tensor of the input's dtype. */
static void kiln_ew_clip_bound(const kiln_tview *t, kiln_dtype dt, unsigned char *dst) {
    memset(dst, 0, 8);
    if (kiln_ew_is_half(dt)) {
        float f = (float)kiln_tview_get_double(t, 0);
        memcpy(dst, &f, sizeof f);
        return;
    }
    memcpy(dst, t->data, kiln_ew_size(dt));
}

kiln_status kiln_cpu_ew_Clip(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                             int32_t n_in, kiln_tview *out, int32_t n_out) {
    kiln_dtype dt = in[0].dtype;
    int idx = kiln_ew_num_index(kiln_ew_is_half(dt) ? KILN_DTYPE_FLOAT32 : dt);
    if (idx < 0)
        return kiln_node_error(KILN_ERR_UNSUPPORTED, node, "dtype %s not supported",
                               kiln_dtype_name(dt));
    kiln_ew_clip p;
    kiln_ew_clip_limit(dt, false, p.lo);
    kiln_ew_clip_limit(dt, true, p.hi);
    if (node->opset < 11) {
        /* attributes, float only; defaults are the float range */
        float lo = kiln_attr_float(node, "min", -FLT_MAX),
              hi = kiln_attr_float(node, "max", FLT_MAX);
        if (dt == KILN_DTYPE_FLOAT64) {
            double dlo = lo, dhi = hi;
            memcpy(p.lo, &dlo, 8);
            memcpy(p.hi, &dhi, 8);
        } else if (dt == KILN_DTYPE_FLOAT32 || kiln_ew_is_half(dt)) {
            memcpy(p.lo, &lo, 4);
            memcpy(p.hi, &hi, 4);
        } else {
            return kiln_node_error(KILN_ERR_UNSUPPORTED, node,
                                   "dtype %s not supported before opset 11", kiln_dtype_name(dt));
        }
    } else {
        for (int32_t k = 1; k < 3 && k < n_in; k++) {
            if (!kiln_tview_present(&in[k])) continue;
            if (in[k].dtype != dt || kiln_tview_count(&in[k]) < 1)
                return kiln_node_error(KILN_ERR_INVALID_ARGUMENT, node,
                                       "bound %d must be a scalar of dtype %s", k,
                                       kiln_dtype_name(dt));
            kiln_ew_clip_bound(&in[k], dt, k == 1 ? p.lo : p.hi);
        }
    }
    const kiln_tview *ins[1] = {&in[0]};
    if (kiln_ew_is_half(dt)) {
        kiln_ew_half h = {kiln_ew_clip_loops[0], &p, 1, {dt}, dt};
        return kiln_ew_apply(ctx, node, ins, 1, &out[0], kiln_ew_half_loop, &h);
    }
    return kiln_ew_apply(ctx, node, ins, 1, &out[0], kiln_ew_clip_loops[idx], &p);
}
