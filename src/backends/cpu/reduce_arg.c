/* ArgMax / ArgMin: the index of the largest (smallest) element along one axis, the first
 * one unless select_last_index. The data is seen as [outer, R, inner]; for each outer the
 * running best of every inner column is kept in scratch so rows are read contiguously. */
#include <stdint.h>

#include "backends/cpu/cpu_kernel.h"
#include "ir/shape_reduce.h"

#define ARG_FN(NAME, T, VT, LOAD)                                                                  \
    static void NAME(const void *xv, int64_t outer, int64_t R, int64_t inner, int is_max,          \
                     int last, int64_t *y, void *scratch) {                                        \
        const T *x = xv;                                                                           \
        VT *best = scratch;                                                                        \
        for (int64_t o = 0; o < outer; o++) {                                                      \
            const T *base = x + o * R * inner;                                                     \
            int64_t *yo = y + o * inner;                                                           \
            for (int64_t i = 0; i < inner; i++) {                                                  \
                best[i] = LOAD(base[i]);                                                           \
                yo[i] = 0;                                                                         \
            }                                                                                      \
            for (int64_t r = 1; r < R; r++) {                                                      \
                const T *p = base + r * inner;                                                     \
                for (int64_t i = 0; i < inner; i++) {                                              \
                    VT v = LOAD(p[i]);                                                             \
                    int better = is_max ? (last ? v >= best[i] : v > best[i])                      \
                                        : (last ? v <= best[i] : v < best[i]);                     \
                    if (better) {                                                                  \
                        best[i] = v;                                                               \
                        yo[i] = r;                                                                 \
                    }                                                                              \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }

#define LOAD_SAME(v) (v)
#define LOAD_HALF(v) kiln_half_to_float(v)
#define LOAD_BF16(v) kiln_bf16_to_float(v)
ARG_FN(arg_f32, float, float, LOAD_SAME)
ARG_FN(arg_f64, double, double, LOAD_SAME)
ARG_FN(arg_f16, uint16_t, float, LOAD_HALF)
ARG_FN(arg_bf16, uint16_t, float, LOAD_BF16)
ARG_FN(arg_i8, int8_t, int8_t, LOAD_SAME)
ARG_FN(arg_u8, uint8_t, uint8_t, LOAD_SAME)
ARG_FN(arg_i16, int16_t, int16_t, LOAD_SAME)
ARG_FN(arg_u16, uint16_t, uint16_t, LOAD_SAME)
ARG_FN(arg_i32, int32_t, int32_t, LOAD_SAME)
ARG_FN(arg_u32, uint32_t, uint32_t, LOAD_SAME)
ARG_FN(arg_i64, int64_t, int64_t, LOAD_SAME)
ARG_FN(arg_u64, uint64_t, uint64_t, LOAD_SAME)

typedef void (*arg_fn)(const void *, int64_t, int64_t, int64_t, int, int, int64_t *, void *);

static kiln_status arg_run(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                           kiln_tview *out, int is_max) {
    const kiln_tview *x = &in[0];
    arg_fn fn;
    switch (x->dtype) {
    case KILN_DTYPE_FLOAT32:
        fn = arg_f32;
        break;
    case KILN_DTYPE_FLOAT64:
        fn = arg_f64;
        break;
    case KILN_DTYPE_FLOAT16:
        fn = arg_f16;
        break;
    case KILN_DTYPE_BFLOAT16:
        fn = arg_bf16;
        break;
    case KILN_DTYPE_INT8:
        fn = arg_i8;
        break;
    case KILN_DTYPE_UINT8:
    case KILN_DTYPE_BOOL:
        fn = arg_u8;
        break;
    case KILN_DTYPE_INT16:
        fn = arg_i16;
        break;
    case KILN_DTYPE_UINT16:
        fn = arg_u16;
        break;
    case KILN_DTYPE_INT32:
        fn = arg_i32;
        break;
    case KILN_DTYPE_UINT32:
        fn = arg_u32;
        break;
    case KILN_DTYPE_INT64:
        fn = arg_i64;
        break;
    case KILN_DTYPE_UINT64:
        fn = arg_u64;
        break;
    default:
        return kiln_node_error(KILN_ERR_UNSUPPORTED, node, "dtype %s not supported",
                               kiln_dtype_name(x->dtype));
    }
    int32_t axis;
    KILN_TRY(kiln_reduce_norm_axis(node, kiln_attr_int(node, "axis", 0), x->rank, &axis));
    int64_t outer = 1, R = x->dims[axis], inner = 1;
    for (int32_t d = 0; d < axis; d++) outer *= x->dims[d];
    for (int32_t d = axis + 1; d < x->rank; d++) inner *= x->dims[d];
    if (outer * inner == 0) return KILN_OK;
    if (R == 0) return kiln_node_error(KILN_ERR_SHAPE, node, "cannot reduce an empty axis");
    void *scratch = kiln_cpu_scratch(ctx, (size_t)inner * sizeof(double));
    if (!scratch) return kiln_node_error(KILN_ERR_OUT_OF_MEMORY, node, "out of scratch memory");
    int last = node->opset >= 12 && kiln_attr_int(node, "select_last_index", 0) != 0;
    fn(x->data, outer, R, inner, is_max, last, out[0].data, scratch);
    return KILN_OK;
}

kiln_status kiln_cpu_ArgMax(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                            int32_t n_in, kiln_tview *out, int32_t n_out) {
    return arg_run(ctx, node, in, out, 1);
}

kiln_status kiln_cpu_ArgMin(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                            int32_t n_in, kiln_tview *out, int32_t n_out) {
    return arg_run(ctx, node, in, out, 0);
}
