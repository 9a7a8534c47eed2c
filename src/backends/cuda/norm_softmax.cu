/*
 * Softmax and LogSoftmax on the GPU (float32, float16, bfloat16; statistics in float).
 * Before opset 13 the input is coerced to 2-D at `axis` (one softmax over all trailing
 * dims); from 13 on it runs along `axis` alone. The data is [outer, n, inner]:
 *  - inner == 1 (the axis innermost): one warp per row for rows up to 1024, one block per
 *    row beyond, with warp / block reductions;
 *  - otherwise one thread per (outer, inner) column, looping over n (coalesced in inner).
 */
#include <math.h>

#include "backends/cuda/cuda_common.cuh"

extern "C" {
#include "ir/shape_nn.h"
}

#define KILN_CU_SOFTMAX_BLOCK 512

/* y from x, the row's max and sum of exp(x - max) */
template <typename T>
__device__ __forceinline__ T kiln_cu_softmax_out(float v, float mx, float sum, int log_) {
    return kiln_cu_stf<T>(log_ ? v - (mx + logf(sum)) : expf(v - mx) * (1.0f / sum));
}

template <typename T>
__global__ void kiln_cu_softmax_warp_kernel(const T *__restrict__ x, T *__restrict__ y,
                                            int64_t rows, int64_t n, int log_) {
    int lane = threadIdx.x & 31;
    int64_t warp = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    int64_t nwarps = ((int64_t)gridDim.x * blockDim.x) >> 5;
    for (int64_t r = warp; r < rows; r += nwarps) {
        const T *xr = x + r * n;
        T *yr = y + r * n;
        float mx = -INFINITY;
        for (int64_t j = lane; j < n; j += 32) mx = fmaxf(mx, kiln_cu_ldf(xr[j]));
        mx = kiln_cu_warp_reduce(mx, kiln_cu_max_op());
        float sum = 0.0f;
        for (int64_t j = lane; j < n; j += 32) sum += expf(kiln_cu_ldf(xr[j]) - mx);
        sum = kiln_cu_warp_reduce(sum, kiln_cu_add_op());
        for (int64_t j = lane; j < n; j += 32)
            yr[j] = kiln_cu_softmax_out<T>(kiln_cu_ldf(xr[j]), mx, sum, log_);
    }
}

template <typename T>
__global__ void kiln_cu_softmax_block_kernel(const T *__restrict__ x, T *__restrict__ y,
                                             int64_t rows, int64_t n, int log_) {
    for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
        const T *xr = x + r * n;
        T *yr = y + r * n;
        float mx = -INFINITY;
        for (int64_t j = threadIdx.x; j < n; j += blockDim.x) mx = fmaxf(mx, kiln_cu_ldf(xr[j]));
        mx = kiln_cu_block_reduce(mx, kiln_cu_max_op(), -INFINITY);
        float sum = 0.0f;
        for (int64_t j = threadIdx.x; j < n; j += blockDim.x) sum += expf(kiln_cu_ldf(xr[j]) - mx);
        sum = kiln_cu_block_reduce(sum, kiln_cu_add_op(), 0.0f);
        for (int64_t j = threadIdx.x; j < n; j += blockDim.x)
            yr[j] = kiln_cu_softmax_out<T>(kiln_cu_ldf(xr[j]), mx, sum, log_);
    }
}

template <typename T>
__global__ void kiln_cu_softmax_cols_kernel(const T *__restrict__ x, T *__restrict__ y,
                                            int64_t outer, int64_t n, int64_t inner, int log_) {
    KILN_CU_FOR(c, outer * inner) {
        int64_t o = c / inner, i = c - o * inner;
        const T *xc = x + o * n * inner + i;
        T *yc = y + o * n * inner + i;
        float mx = -INFINITY;
        for (int64_t j = 0; j < n; j++) mx = fmaxf(mx, kiln_cu_ldf(xc[j * inner]));
        float sum = 0.0f;
        for (int64_t j = 0; j < n; j++) sum += expf(kiln_cu_ldf(xc[j * inner]) - mx);
        for (int64_t j = 0; j < n; j++)
            yc[j * inner] = kiln_cu_softmax_out<T>(kiln_cu_ldf(xc[j * inner]), mx, sum, log_);
    }
}

template <typename T>
static void kiln_cu_softmax_launch(const void *x, void *y, int64_t outer, int64_t n, int64_t inner,
                                   int log_, cudaStream_t st) {
    const T *xt = (const T *)x;
    T *yt = (T *)y;
    if (inner == 1 && n <= 1024) {
        int64_t threads = outer * 32;
        kiln_cu_softmax_warp_kernel<T>
            <<<kiln_cu_blocks(threads), KILN_CU_THREADS, 0, st>>>(xt, yt, outer, n, log_);
    } else if (inner == 1) {
        unsigned blocks = outer < KILN_CU_MAX_BLOCKS ? (unsigned)outer : KILN_CU_MAX_BLOCKS;
        kiln_cu_softmax_block_kernel<T>
            <<<blocks, KILN_CU_SOFTMAX_BLOCK, 0, st>>>(xt, yt, outer, n, log_);
    } else {
        kiln_cu_softmax_cols_kernel<T><<<kiln_cu_blocks(outer * inner), KILN_CU_THREADS, 0, st>>>(
            xt, yt, outer, n, inner, log_);
    }
}

/* float32 / float16 / bfloat16 in, the same out; not a CPU fusion (`_kiln_add_input`: the
 * fusion passes are CPU-only, docs/dev/fusion-contract.md). */
extern "C" int kiln_cuda_supports_softmax(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                          const kiln_tview *out, int32_t n_out) {
    if (n_in != 1 || n_out < 1 || kiln_node_attr(node, "_kiln_add_input")) return 0;
    return kiln_cu_is_float(in[0].dtype) && out[0].dtype == in[0].dtype;
}

/* Softmax and LogSoftmax (by node->op). */
extern "C" kiln_status kiln_cuda_softmax(kiln_cuda_ctx *ctx, const kiln_node *node,
                                         const kiln_tview *in, int32_t n_in, kiln_tview *out,
                                         int32_t n_out) {
    (void)n_in, (void)n_out;
    const kiln_tview *x = &in[0];
    int legacy = node->opset < 13;
    int32_t r = x->rank;
    int64_t outer = 1, n = 1, inner = 1;
    if (r > 0) {
        int32_t axis = kiln_nn_axis(kiln_attr_int(node, "axis", legacy ? 1 : -1), r);
        if (axis < 0) return kiln_shape_error(node, "axis out of range");
        for (int32_t i = 0; i < r; i++) {
            if (i < axis)
                outer *= x->dims[i];
            else if (i == axis || legacy)
                n *= x->dims[i];
            else
                inner *= x->dims[i];
        }
    }
    if (outer * n * inner == 0) return KILN_OK;
    int log_ = node->op == KILN_OP_LogSoftmax;
    cudaStream_t st = kiln_cu_stream(ctx);
    switch (x->dtype) {
    case KILN_DTYPE_FLOAT32:
        kiln_cu_softmax_launch<float>(x->data, out[0].data, outer, n, inner, log_, st);
        break;
    case KILN_DTYPE_FLOAT16:
        kiln_cu_softmax_launch<__half>(x->data, out[0].data, outer, n, inner, log_, st);
        break;
    case KILN_DTYPE_BFLOAT16:
        kiln_cu_softmax_launch<__nv_bfloat16>(x->data, out[0].data, outer, n, inner, log_, st);
        break;
    default:
        return kiln_node_error(KILN_ERR_UNSUPPORTED, node, "dtype %s not supported on CUDA",
                               kiln_dtype_name(x->dtype));
    }
    return kiln_cuda_check_launch(node, "kiln_cu_softmax");
}
