/* CumSum and CumProd: one kernel, the operation picked by the op. Each outer slab runs
 * along the axis with a row of inner accumulators (contiguous, so it vectorizes). */
#include "backends/cpu/tensor_common.h"

typedef struct kiln_cum_args {
    int64_t outer, n, inner;
    int exclusive, reverse, prod;
} kiln_cum_args;

#define KILN_CUM_LOOP(T, ACC, LOAD, STORE)                                                         \
    do {                                                                                           \
        const T *x = src;                                                                          \
        T *y = dst;                                                                                \
        for (int64_t o = 0; o < a->outer; o++) {                                                   \
            for (int64_t i = 0; i < a->inner; i++) acc[i] = a->prod ? (ACC)1 : (ACC)0;             \
            for (int64_t t = 0; t < a->n; t++) {                                                   \
                int64_t pos = a->reverse ? a->n - 1 - t : t;                                       \
                const T *xs = x + (o * a->n + pos) * a->inner;                                     \
                T *ys = y + (o * a->n + pos) * a->inner;                                           \
                for (int64_t i = 0; i < a->inner; i++) {                                           \
                    ACC prev = acc[i], v = LOAD(xs[i]);                                            \
                    acc[i] = a->prod ? (ACC)(prev * v) : (ACC)(prev + v);                          \
                    ys[i] = STORE(a->exclusive ? prev : acc[i]);                                   \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    } while (0)

#define KILN_SAME(v) (v)
#define KILN_CUM_TYPED(T)                                                                          \
    do {                                                                                           \
        T *acc = scratch;                                                                          \
        KILN_CUM_LOOP(T, T, KILN_SAME, KILN_SAME);                                                 \
    } while (0)

static kiln_status kiln_cum_run(const kiln_node *node, kiln_dtype dt, const void *src, void *dst,
                                const kiln_cum_args *a, void *scratch) {
    switch (dt) {
    case KILN_DTYPE_FLOAT32:
        KILN_CUM_TYPED(float);
        break;
    case KILN_DTYPE_FLOAT64:
        KILN_CUM_TYPED(double);
        break;
    case KILN_DTYPE_INT32:
        KILN_CUM_TYPED(int32_t);
        break;
    case KILN_DTYPE_INT64:
        KILN_CUM_TYPED(int64_t);
        break;
    case KILN_DTYPE_UINT32:
        KILN_CUM_TYPED(uint32_t);
        break;
    case KILN_DTYPE_UINT64:
        KILN_CUM_TYPED(uint64_t);
        break;
    case KILN_DTYPE_INT8:
        KILN_CUM_TYPED(int8_t);
        break;
    case KILN_DTYPE_UINT8:
        KILN_CUM_TYPED(uint8_t);
        break;
    case KILN_DTYPE_INT16:
        KILN_CUM_TYPED(int16_t);
        break;
    case KILN_DTYPE_UINT16:
        KILN_CUM_TYPED(uint16_t);
        break;
    case KILN_DTYPE_FLOAT16: {
        float *acc = scratch;
        KILN_CUM_LOOP(uint16_t, float, kiln_half_to_float, kiln_float_to_half);
        break;
    }
    case KILN_DTYPE_BFLOAT16: {
        float *acc = scratch;
        KILN_CUM_LOOP(uint16_t, float, kiln_bf16_to_float, kiln_float_to_bf16);
        break;
    }
    default:
        return kiln_node_error(KILN_ERR_UNSUPPORTED, node, "dtype %s not supported",
                               kiln_dtype_name(dt));
    }
    return KILN_OK;
}

kiln_status kiln_cpu_tensor_cumulative(kiln_cpu_ctx *ctx, const kiln_node *node,
                                       const kiln_tview *in, int32_t n_in, kiln_tview *out,
                                       int32_t n_out) {
    (void)n_in;
    (void)n_out;
    int32_t r = in[0].rank, axis;
    KILN_TRY(kiln_tensor_axis(node, "axis", kiln_tview_get_int(&in[1], 0), r ? r : 1, &axis));
    kiln_cum_args a = {1,
                       1,
                       1,
                       (int)kiln_attr_int(node, "exclusive", 0),
                       (int)kiln_attr_int(node, "reverse", 0),
                       node->op == KILN_OP_CumProd};
    if (r > 0) {
        for (int32_t i = 0; i < axis; i++) a.outer *= in[0].dims[i];
        a.n = in[0].dims[axis];
        for (int32_t i = axis + 1; i < r; i++) a.inner *= in[0].dims[i];
    }
    if (a.outer * a.n * a.inner == 0) return KILN_OK;
    void *scratch = kiln_cpu_scratch(ctx, (size_t)a.inner * 8);
    if (!scratch) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
    return kiln_cum_run(node, in[0].dtype, in[0].data, out[0].data, &a, scratch);
}
