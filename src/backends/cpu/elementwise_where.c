/* Where(condition, X, Y): three-way broadcast select, by element size (any dtype). */
#include "backends/cpu/elementwise_common.h"

#define KILN_EW_WHERE_LOOP(fname, T)                                                               \
    static void fname(void *out_, const void *const *in_, const int64_t *st, int64_t n,            \
                      const void *params) {                                                        \
        const uint8_t *c = in_[0];                                                                 \
        const T *x = in_[1], *y = in_[2];                                                          \
        T *o = out_;                                                                               \
        (void)params;                                                                              \
        if (st[0] && st[1] && st[2]) {                                                             \
            for (int64_t i = 0; i < n; i++) o[i] = c[i] ? x[i] : y[i];                             \
        } else if (st[0] && !st[1] && !st[2]) {                                                    \
            const T xv = x[0], yv = y[0];                                                          \
            for (int64_t i = 0; i < n; i++) o[i] = c[i] ? xv : yv;                                 \
        } else {                                                                                   \
            for (int64_t i = 0; i < n; i++) o[i] = c[i * st[0]] ? x[i * st[1]] : y[i * st[2]];     \
        }                                                                                          \
    }

KILN_EW_WHERE_LOOP(kiln_ew_where8, uint8_t)
KILN_EW_WHERE_LOOP(kiln_ew_where16, uint16_t)
KILN_EW_WHERE_LOOP(kiln_ew_where32, uint32_t)
KILN_EW_WHERE_LOOP(kiln_ew_where64, uint64_t)

kiln_status kiln_cpu_ew_Where(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                              int32_t n_in, kiln_tview *out, int32_t n_out) {
    if (n_in < 3) return kiln_node_error(KILN_ERR_INVALID_ARGUMENT, node, "needs 3 inputs");
    if (in[0].dtype != KILN_DTYPE_BOOL)
        return kiln_node_error(KILN_ERR_INVALID_ARGUMENT, node, "condition is %s, not bool",
                               kiln_dtype_name(in[0].dtype));
    if (in[1].dtype != in[2].dtype || in[1].dtype != out[0].dtype)
        return kiln_node_error(KILN_ERR_INVALID_ARGUMENT, node, "X and Y dtypes differ");
    kiln_ew_loop_fn fn;
    switch (kiln_ew_size(in[1].dtype)) {
    case 1:
        fn = kiln_ew_where8;
        break;
    case 2:
        fn = kiln_ew_where16;
        break;
    case 4:
        fn = kiln_ew_where32;
        break;
    case 8:
        fn = kiln_ew_where64;
        break;
    default:
        return kiln_node_error(KILN_ERR_UNSUPPORTED, node, "dtype %s not supported",
                               kiln_dtype_name(in[1].dtype));
    }
    const kiln_tview *ins[3] = {&in[0], &in[1], &in[2]};
    return kiln_ew_apply(ctx, node, ins, 3, &out[0], fn, NULL);
}
