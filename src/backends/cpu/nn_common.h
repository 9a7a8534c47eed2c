/*
 * NN family, CPU side: the float32 GEMM behind MatMul/Gemm/Conv/ConvTranspose, and small
 * helpers the NN kernels share (dtype conversion to float, scratch carving).
 *
 * NN kernels compute in float32; float16/bfloat16 tensors are converted on the way in and
 * rounded on the way out, float64 goes through double paths where the op does arithmetic
 * that needs it (GEMM) and through float otherwise (accumulations stay in double).
 */
#ifndef KILN_CPU_NN_COMMON_H
#define KILN_CPU_NN_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "backends/cpu/cpu_kernel.h"
#include "ir/shape_nn.h"

/* ------------------------------------------------------------------ fused epilogue -- */

/* The activation of a fused node (docs/dev/fusion-contract.md: `_kiln_activation` with
 * `_kiln_alpha` / `_kiln_beta`). */
typedef enum kiln_nn_act_kind {
    KILN_NN_ACT_NONE = 0,
    KILN_NN_ACT_RELU,
    KILN_NN_ACT_LEAKY_RELU, /* alpha: slope below 0 (default 0.01) */
    KILN_NN_ACT_CLIP,       /* [alpha, beta] (default unbounded) */
    KILN_NN_ACT_SIGMOID,
    KILN_NN_ACT_TANH,
    KILN_NN_ACT_HARD_SIGMOID, /* max(0, min(1, alpha x + beta)), default 0.2, 0.5 */
    KILN_NN_ACT_GELU,         /* erf form */
    KILN_NN_ACT_GELU_TANH,
    KILN_NN_ACT_SWISH /* x sigmoid(alpha x), alpha default 1 */
} kiln_nn_act_kind;

typedef struct kiln_nn_act {
    kiln_nn_act_kind kind;
    float alpha, beta;
} kiln_nn_act;

/* The node's fused activation (KILN_NN_ACT_NONE when it has none); an unknown name is an
 * UNSUPPORTED error naming it. */
kiln_status kiln_nn_act_from_node(const kiln_node *node, kiln_nn_act *act);
/* x[i] = act(x[i]) for n floats / doubles. */
void kiln_nn_act_apply(const kiln_nn_act *act, float *x, int64_t n);
void kiln_nn_act_apply_f64(const kiln_nn_act *act, double *x, int64_t n);

/* What a GEMM adds to its result tile, while the tile is in cache, after the last K panel:
 * C = act(alpha op(A) op(B) + beta C + row_bias[i] + col_bias[j] + sum[i, j]). */
typedef struct kiln_nn_epilogue {
    const float *row_bias; /* one per row of C (Conv: per output channel), or NULL */
    const float *col_bias; /* one per column of C (MatMul's bias input), or NULL */
    const float *sum;      /* a matrix added element-wise (Conv's sum input), or NULL */
    int64_t ld_sum;        /* sum's row stride */
    kiln_nn_act act;
} kiln_nn_epilogue;

/* True when the epilogue does anything. */
static inline int kiln_nn_epilogue_active(const kiln_nn_epilogue *ep) {
    return ep && (ep->row_bias || ep->col_bias || ep->sum || ep->act.kind != KILN_NN_ACT_NONE);
}

/* Applies ep to rows [i0, i0 + rows) x columns [j0, j0 + cols) of C (c points at C[0, 0]). */
void kiln_nn_epilogue_apply(const kiln_nn_epilogue *ep, float *c, int64_t ldc, int64_t i0,
                            int64_t rows, int64_t j0, int64_t cols);

/* Conv's `_kiln_sum_input`: *sum is that input (NULL when the node has none); it must have
 * y's shape and dtype. */
kiln_status kiln_nn_sum_input(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                              const kiln_tview *y, const kiln_tview **sum);
/* MatMul's `_kiln_bias_input`: *bias is that input (NULL when none); it must hold `n`
 * elements (the last output dim) of the operands' dtype. */
kiln_status kiln_nn_bias_input(const kiln_node *node, const kiln_tview *in, int32_t n_in, int64_t n,
                               const kiln_tview **bias);

/* ------------------------------------------------------------------ GEMM ------------ */

/* Bytes of workspace kiln_nn_sgemm needs for these sizes and thread count. */
size_t kiln_nn_sgemm_workspace(int64_t m, int64_t n, int64_t k, int threads);

/* kiln_nn_sgemm with an epilogue (NULL: none) applied per output tile; row / column indices
 * of the epilogue are those of C. */
void kiln_nn_sgemm_ep(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                      const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                      float *c, int64_t ldc, void *workspace, int threads,
                      const kiln_nn_epilogue *ep);

/*
 * C[m x n] = alpha * op(A) * op(B) + beta * C, all row-major. op(A) is m x k: element (i, p)
 * is A[i * lda + p], or A[p * lda + i] with trans_a; op(B) is k x n likewise. beta == 0
 * overwrites C without reading it. `workspace` holds kiln_nn_sgemm_workspace() bytes
 * (64-byte aligned); `threads` > 1 runs the blocks in parallel with OpenMP.
 */
void kiln_nn_sgemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                   const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
                   int64_t ldc, void *workspace, int threads);

/* The same in double precision (simple cache-friendly loops, no workspace). */
void kiln_nn_dgemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, double alpha,
                   const double *a, int64_t lda, const double *b, int64_t ldb, double beta,
                   double *c, int64_t ldc);

/* ------------------------------------------------------------------ im2col ---------- */

/* Product of the window's kernel dims and of its output dims. */
int64_t kiln_nn_kernel_size(const kiln_nn_window *w);
int64_t kiln_nn_out_size(const kiln_nn_window *w);
int64_t kiln_nn_in_size(const kiln_nn_window *w);

/* Unfolds `channels` planes of x (each w->in sized) into col, a (channels * kernel size) x
 * (output size) matrix: row (c, k...) holds x at every window position's tap k (0 in the
 * padding). */
void kiln_nn_im2col(const float *x, int64_t channels, const kiln_nn_window *w, float *col,
                    int threads);

/* The adjoint: adds each col entry into the image position it was read from (skipping
 * padding). y holds `channels` planes of w->in size. */
void kiln_nn_col2im_add(const float *col, int64_t channels, const kiln_nn_window *w, float *y,
                        int threads);

/* ------------------------------------------------------------------ pooling --------- */

/* A pooling window normalized to 3 spatial dims (leading unit dims for 1-D/2-D). */
typedef struct kiln_nn_pool3 {
    int64_t in[3], out[3], kernel[3], stride[3], dilation[3], pad_begin[3], pad_end[3];
} kiln_nn_pool3;

/* Fails with UNSUPPORTED beyond 3 spatial dims. */
kiln_status kiln_nn_pool3_init(const kiln_node *node, const kiln_nn_window *w, kiln_nn_pool3 *p);

/* Taps of output index o along dim d: [*lo, *hi) land inside the input; *counted is how
 * many land inside the input or its explicit pads (count_include_pad's divisor). */
static inline void kiln_nn_pool_taps(const kiln_nn_pool3 *p, int d, int64_t o, int64_t *lo,
                                     int64_t *hi, int64_t *counted) {
    int64_t start = o * p->stride[d] - p->pad_begin[d], dil = p->dilation[d], k = p->kernel[d];
    int64_t l = start >= 0 ? 0 : (-start + dil - 1) / dil;
    int64_t h = p->in[d] - start <= 0 ? 0 : (p->in[d] - start + dil - 1) / dil;
    int64_t c = p->in[d] + p->pad_end[d] - start <= 0
                    ? 0
                    : (p->in[d] + p->pad_end[d] - start + dil - 1) / dil;
    if (h > k) h = k;
    if (l > h) l = h;
    if (c > k) c = k;
    *lo = l;
    *hi = h;
    *counted = c;
}

/* LpPool's / GlobalLpPool's p (an INT attribute from opset 2 on, FLOAT in LpPool-1). */
float kiln_nn_lp_attr(const kiln_node *node);

/* Broadcasts a parameter tensor p (float data pf) onto the trailing dims x_dims[axis..rank)
 * (LayerNormalization / RMSNormalization scale and bias) into dst of their product. */
kiln_status kiln_nn_expand_param(const kiln_node *node, const kiln_tview *p, const float *pf,
                                 int32_t rank, const int64_t *x_dims, int32_t axis, float *dst);

/* ------------------------------------------------------------------ helpers --------- */

/* Rounds a scratch size up so carved blocks stay 64-byte aligned. */
static inline size_t kiln_nn_align(size_t bytes) {
    return (bytes + 63) & ~(size_t)63;
}

/* Takes `bytes` (aligned) from a carving cursor over one scratch allocation. */
static inline void *kiln_nn_carve(char **cursor, size_t bytes) {
    void *p = *cursor;
    *cursor += kiln_nn_align(bytes);
    return p;
}

/* Element count of a view (0 for unknown). */
static inline int64_t kiln_nn_count(const kiln_tview *t) {
    int64_t n = kiln_tview_count(t);
    return n < 0 ? 0 : n;
}

/* Bytes a float32 copy of `t` needs when it is not float32 already (0 otherwise). */
static inline size_t kiln_nn_f32_bytes(const kiln_tview *t) {
    return t->dtype == KILN_DTYPE_FLOAT32 ? 0 : kiln_nn_align((size_t)kiln_nn_count(t) * 4);
}

/* Converts `count` elements of a float-type (or integer) buffer into float. */
void kiln_nn_to_f32(kiln_dtype dtype, const void *src, float *dst, int64_t count);
/* Converts float back into a tensor's dtype (rounding to nearest even). */
void kiln_nn_from_f32(kiln_dtype dtype, const float *src, void *dst, int64_t count);

/* A float32 view of t's data: t->data itself for float32, else converted into *cursor
 * (which must have kiln_nn_f32_bytes(t) bytes left). */
static inline const float *kiln_nn_f32_in(const kiln_tview *t, char **cursor) {
    if (t->dtype == KILN_DTYPE_FLOAT32) return (const float *)t->data;
    float *buf = (float *)kiln_nn_carve(cursor, (size_t)kiln_nn_count(t) * 4);
    kiln_nn_to_f32(t->dtype, t->data, buf, kiln_nn_count(t));
    return buf;
}

/* Where a kernel writes float results for output t: t->data for float32, else a scratch
 * block; kiln_nn_f32_out_done converts the block into t. */
static inline float *kiln_nn_f32_out(kiln_tview *t, char **cursor) {
    if (t->dtype == KILN_DTYPE_FLOAT32) return (float *)t->data;
    return (float *)kiln_nn_carve(cursor, (size_t)kiln_nn_count(t) * 4);
}
static inline void kiln_nn_f32_out_done(kiln_tview *t, const float *buf) {
    if (t->dtype != KILN_DTYPE_FLOAT32) kiln_nn_from_f32(t->dtype, buf, t->data, kiln_nn_count(t));
}

/* The standard "dtype not supported" error. */
kiln_status kiln_nn_bad_dtype(const kiln_node *node, kiln_dtype dtype);

/* Scratch of `bytes` (at least 64) or an out-of-memory error. */
kiln_status kiln_nn_scratch(kiln_cpu_ctx *ctx, const kiln_node *node, size_t bytes, char **out);

#ifdef KILN_HAVE_OPENMP
#define KILN_NN_PRAGMA(x) _Pragma(#x)
#else
#define KILN_NN_PRAGMA(x)
#endif

#endif
