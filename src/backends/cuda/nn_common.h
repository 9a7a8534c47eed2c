/*
 * NN family, CUDA side: what the NN kernels' C files (cuDNN / cuBLASLt host code) and
 * nn_kernels.cu (own device kernels) share. Included from C and CUDA files.
 *
 * The own kernels load float32 / float16 / bfloat16 data, compute in float and round on
 * store. Every launcher enqueues on `stream` (a cudaStream_t) and returns without
 * checking: the caller runs kiln_cuda_check_launch right after.
 */
#ifndef KILN_CUDA_NN_COMMON_H
#define KILN_CUDA_NN_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "backends/cuda/cuda_kernel.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The dtypes the CUDA NN kernels handle. */
static inline int kiln_cuda_nn_float(kiln_dtype t) {
    return t == KILN_DTYPE_FLOAT32 || t == KILN_DTYPE_FLOAT16 || t == KILN_DTYPE_BFLOAT16;
}

/* Bytes per element of those dtypes. */
static inline size_t kiln_cuda_nn_esize(kiln_dtype t) {
    return t == KILN_DTYPE_FLOAT32 ? 4 : 2;
}

/* Element count of a view, 0 when unknown. */
static inline int64_t kiln_cuda_nn_count(const kiln_tview *t) {
    int64_t n = kiln_tview_count(t);
    return n < 0 ? 0 : n;
}

/* Rounds a workspace carve up to 256 bytes (cuDNN/cuBLASLt like aligned buffers). */
static inline size_t kiln_cuda_nn_align(size_t bytes) {
    return (bytes + 255) & ~(size_t)255;
}

/* A window over 3 spatial dims (leading unit dims for 1-D and 2-D). */
typedef struct kiln_cuda_nn_win3 {
    int64_t in[3], out[3], kernel[3], stride[3], dilation[3], pad_begin[3], pad_end[3];
} kiln_cuda_nn_win3;

/* y[o, c, i] += bias[c] over `outer` x `channels` x `inner` elements (bias of y's dtype). */
void kiln_cuda_nn_bias_channels(void *y, const void *bias, kiln_dtype dt, int64_t outer,
                                int64_t channels, int64_t inner, void *stream);

/* Zero padding: y (planes x w->out) from x (planes x w->in), x placed at w->pad_begin. */
void kiln_cuda_nn_pad(const void *x, void *y, kiln_dtype dt, int64_t planes,
                      const kiln_cuda_nn_win3 *w, void *stream);

/* Direct pooling (any pads, ceil_mode, dilations), the CPU reference's semantics:
 * is_max, else average (include_pad: count_include_pad). */
void kiln_cuda_nn_pool(const void *x, void *y, kiln_dtype dt, int64_t planes,
                       const kiln_cuda_nn_win3 *w, int is_max, int include_pad, void *stream);

/* One reduction per plane of `size` elements: max, or mean. */
void kiln_cuda_nn_global_pool(const void *x, void *y, kiln_dtype dt, int64_t planes, int64_t size,
                              int is_max, void *stream);

/* BatchNormalization (inference): a[i] = scale / sqrt(var + eps), b[i] = bias - mean * a
 * for `count` parameters (each input of its own dtype), into float a and b. */
void kiln_cuda_nn_bn_params(const void *scale, kiln_dtype scale_dt, const void *bias,
                            kiln_dtype bias_dt, const void *mean, kiln_dtype mean_dt,
                            const void *var, kiln_dtype var_dt, int64_t count, float eps, float *a,
                            float *b, void *stream);

/* y = x * a[p] + b[p] over `total` elements, p = (i / inner) % channels, or i % (channels *
 * inner) with per_activation. */
void kiln_cuda_nn_bn_apply(const void *x, void *y, kiln_dtype dt, int64_t total, int64_t channels,
                           int64_t inner, int per_activation, const float *a, const float *b,
                           void *stream);

/* y[i, j] = scale * c[i * cs0 + j * cs1] for an m x n row-major y (Gemm's C, broadcast). */
void kiln_cuda_nn_broadcast_2d(const void *c, void *y, kiln_dtype dt, int64_t m, int64_t n,
                               int64_t cs0, int64_t cs1, float scale, void *stream);

#ifdef __cplusplus
}
#endif

#endif
