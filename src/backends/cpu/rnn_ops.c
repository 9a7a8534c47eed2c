/*
 * RNN, GRU, LSTM kernels: the loops of rnn_core.h instantiated in float (float32, float16
 * and bfloat16 tensors, through kiln_nn_sgemm) and in double (float64, kiln_nn_dgemm).
 */
#include <string.h>
#include <tgmath.h>
#undef I /* <tgmath.h> brings in <complex.h>'s imaginary unit; nothing here wants it */

#include "backends/cpu/nn_common.h"
#include "backends/cpu/rnn_common.h"

/* ------------------------------------------------------------------ float ---------- */

#define RNN_T   float
#define RNN_SUF f
#define RNN_GEMM(m, n, k, a, lda, b, ldb, c, ldc, ws, threads)                                     \
    kiln_nn_sgemm(0, 1, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, ldc, ws, threads)
#define RNN_GEMM_WS(m, n, k, threads) kiln_nn_sgemm_workspace(m, n, k, threads)
#define RNN_LOAD(dtype, src, dst, n)  kiln_nn_to_f32(dtype, src, dst, n)
#define RNN_STORE(dtype, src, dst, n) kiln_nn_from_f32(dtype, src, dst, n)
#include "backends/cpu/rnn_core.h"
#undef RNN_T
#undef RNN_SUF
#undef RNN_GEMM
#undef RNN_GEMM_WS
#undef RNN_LOAD
#undef RNN_STORE

/* ------------------------------------------------------------------ double --------- */

/* The double instance only runs float64 nodes (every input has X's dtype), so loads and
 * stores are copies. */
#define RNN_T   double
#define RNN_SUF d
#define RNN_GEMM(m, n, k, a, lda, b, ldb, c, ldc, ws, threads)                                     \
    kiln_nn_dgemm(0, 1, m, n, k, 1.0, a, lda, b, ldb, 0.0, c, ldc)
#define RNN_GEMM_WS(m, n, k, threads) ((size_t)0)
#define RNN_LOAD(dtype, src, dst, n)  memcpy(dst, src, (size_t)(n) * sizeof(double))
#define RNN_STORE(dtype, src, dst, n) memcpy(dst, src, (size_t)(n) * sizeof(double))
#include "backends/cpu/rnn_core.h"
#undef RNN_T
#undef RNN_SUF
#undef RNN_GEMM
#undef RNN_GEMM_WS
#undef RNN_LOAD
#undef RNN_STORE

/* ------------------------------------------------------------------ kernels -------- */

static kiln_status rnn_kernel(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                              int32_t n_in, kiln_tview *out, int32_t n_out) {
    kiln_rnn_plan plan;
    KILN_TRY(kiln_rnn_plan_init(node, in, n_in, &plan));
    switch (in[KILN_RNN_IN_X].dtype) {
    case KILN_DTYPE_FLOAT32:
    case KILN_DTYPE_FLOAT16:
    case KILN_DTYPE_BFLOAT16:
        return rnn_run_f(ctx, node, &plan, in, n_in, out, n_out);
    case KILN_DTYPE_FLOAT64:
        return rnn_run_d(ctx, node, &plan, in, n_in, out, n_out);
    default:
        return kiln_nn_bad_dtype(node, in[KILN_RNN_IN_X].dtype);
    }
}

kiln_status kiln_cpu_RNN(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                         int32_t n_in, kiln_tview *out, int32_t n_out) {
    return rnn_kernel(ctx, node, in, n_in, out, n_out);
}

kiln_status kiln_cpu_GRU(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                         int32_t n_in, kiln_tview *out, int32_t n_out) {
    return rnn_kernel(ctx, node, in, n_in, out, n_out);
}

kiln_status kiln_cpu_LSTM(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                          int32_t n_in, kiln_tview *out, int32_t n_out) {
    return rnn_kernel(ctx, node, in, n_in, out, n_out);
}
