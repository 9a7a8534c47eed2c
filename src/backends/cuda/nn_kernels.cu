/*
 * NN family, own device kernels: conv bias, zero padding, direct pooling, global pooling,
 * BatchNormalization (inference) and Gemm's broadcast of C. float32 / float16 / bfloat16
 * data, float arithmetic. Host launchers with C linkage (nn_common.h).
 */
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <math.h>

#include "backends/cuda/nn_common.h"

namespace {

template <typename T> __device__ __forceinline__ float to_f(T v);
template <> __device__ __forceinline__ float to_f<float>(float v) {
    return v;
}
template <> __device__ __forceinline__ float to_f<__half>(__half v) {
    return __half2float(v);
}
template <> __device__ __forceinline__ float to_f<__nv_bfloat16>(__nv_bfloat16 v) {
    return __bfloat162float(v);
}

template <typename T> __device__ __forceinline__ T from_f(float v);
template <> __device__ __forceinline__ float from_f<float>(float v) {
    return v;
}
template <> __device__ __forceinline__ __half from_f<__half>(float v) {
    return __float2half_rn(v);
}
template <> __device__ __forceinline__ __nv_bfloat16 from_f<__nv_bfloat16>(float v) {
    return __float2bfloat16_rn(v);
}

/* Any of the three dtypes, by tag, as double (BatchNormalization's parameters). */
__device__ __forceinline__ double load_any(const void *p, int dt, int64_t i) {
    if (dt == KILN_DTYPE_FLOAT16) return (double)__half2float(((const __half *)p)[i]);
    if (dt == KILN_DTYPE_BFLOAT16) return (double)__bfloat162float(((const __nv_bfloat16 *)p)[i]);
    return (double)((const float *)p)[i];
}

const int kThreads = 256;

unsigned grid_for(int64_t n) {
    int64_t b = (n + kThreads - 1) / kThreads;
    if (b < 1) b = 1;
    if (b > 8192) b = 8192; /* grid-stride loops cover the rest */
    return (unsigned)b;
}

#define GRID_STRIDE(i, n)                                                                       \
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n);                  \
         i += (int64_t)gridDim.x * blockDim.x)

/* Runs the statement with T the element type of dtype `dt`. */
#define KILN_NN_DISPATCH(dt, ...)                                                              \
    do {                                                                                        \
        switch (dt) {                                                                           \
        case KILN_DTYPE_FLOAT32: {                                                              \
            typedef float T;                                                                    \
            __VA_ARGS__;                                                                        \
        } break;                                                                                \
        case KILN_DTYPE_FLOAT16: {                                                              \
            typedef __half T;                                                                   \
            __VA_ARGS__;                                                                        \
        } break;                                                                                \
        case KILN_DTYPE_BFLOAT16: {                                                             \
            typedef __nv_bfloat16 T;                                                            \
            __VA_ARGS__;                                                                        \
        } break;                                                                                \
        default:                                                                                \
            break;                                                                              \
        }                                                                                       \
    } while (0)

/* ------------------------------------------------------------------ conv bias ------- */

template <typename T>
__global__ void bias_channels_kernel(T *y, const T *b, int64_t total, int64_t channels,
                                     int64_t inner) {
    GRID_STRIDE(i, total) {
        int64_t c = (i / inner) % channels;
        y[i] = from_f<T>(to_f<T>(y[i]) + to_f<T>(b[c]));
    }
}

/* ------------------------------------------------------------------ padding --------- */

template <typename T>
__global__ void pad_kernel(const T *x, T *y, int64_t total, kiln_cuda_nn_win3 w) {
    int64_t osize = w.out[0] * w.out[1] * w.out[2], isize = w.in[0] * w.in[1] * w.in[2];
    GRID_STRIDE(i, total) {
        int64_t p = i / osize, r = i % osize;
        int64_t o2 = r % w.out[2];
        r /= w.out[2];
        int64_t o1 = r % w.out[1], o0 = r / w.out[1];
        int64_t i0 = o0 - w.pad_begin[0], i1 = o1 - w.pad_begin[1], i2 = o2 - w.pad_begin[2];
        T v = from_f<T>(0.0f);
        if (i0 >= 0 && i0 < w.in[0] && i1 >= 0 && i1 < w.in[1] && i2 >= 0 && i2 < w.in[2])
            v = x[p * isize + (i0 * w.in[1] + i1) * w.in[2] + i2];
        y[i] = v;
    }
}

/* ------------------------------------------------------------------ pooling --------- */

/* Taps of output index o along dim d (the CPU's kiln_nn_pool_taps): [lo, hi) inside the
 * input, `counted` inside the input or its explicit pads. */
__device__ __forceinline__ void pool_taps(const kiln_cuda_nn_win3 &p, int d, int64_t o,
                                          int64_t *lo, int64_t *hi, int64_t *counted) {
    int64_t start = o * p.stride[d] - p.pad_begin[d], dil = p.dilation[d], k = p.kernel[d];
    int64_t l = start >= 0 ? 0 : (-start + dil - 1) / dil;
    int64_t h = p.in[d] - start <= 0 ? 0 : (p.in[d] - start + dil - 1) / dil;
    int64_t c = p.in[d] + p.pad_end[d] - start <= 0
                    ? 0
                    : (p.in[d] + p.pad_end[d] - start + dil - 1) / dil;
    if (h > k) h = k;
    if (l > h) l = h;
    if (c > k) c = k;
    *lo = l;
    *hi = h;
    *counted = c;
}

template <typename T>
__global__ void pool_kernel(const T *x, T *y, int64_t total, kiln_cuda_nn_win3 p, int is_max,
                            int include_pad) {
    int64_t osize = p.out[0] * p.out[1] * p.out[2], isize = p.in[0] * p.in[1] * p.in[2];
    GRID_STRIDE(i, total) {
        int64_t pl = i / osize, r = i % osize;
        int64_t o2 = r % p.out[2];
        r /= p.out[2];
        int64_t o1 = r % p.out[1], o0 = r / p.out[1];
        int64_t l0, h0, c0, l1, h1, c1, l2, h2, c2;
        pool_taps(p, 0, o0, &l0, &h0, &c0);
        pool_taps(p, 1, o1, &l1, &h1, &c1);
        pool_taps(p, 2, o2, &l2, &h2, &c2);
        int64_t s0 = o0 * p.stride[0] - p.pad_begin[0];
        int64_t s1 = o1 * p.stride[1] - p.pad_begin[1];
        int64_t s2 = o2 * p.stride[2] - p.pad_begin[2];
        const T *xp = x + pl * isize;
        float best = -INFINITY, sum = 0.0f;
        int found = 0;
        for (int64_t k0 = l0; k0 < h0; k0++) {
            int64_t i0 = s0 + k0 * p.dilation[0];
            for (int64_t k1 = l1; k1 < h1; k1++) {
                int64_t i1 = s1 + k1 * p.dilation[1];
                const T *row = xp + (i0 * p.in[1] + i1) * p.in[2];
                for (int64_t k2 = l2; k2 < h2; k2++) {
                    float v = to_f<T>(row[s2 + k2 * p.dilation[2]]);
                    if (is_max) {
                        if (!found || v > best) best = v;
                        found = 1;
                    } else {
                        sum += v;
                    }
                }
            }
        }
        if (is_max) {
            y[i] = from_f<T>(best);
        } else {
            int64_t cnt = include_pad ? c0 * c1 * c2 : (h0 - l0) * (h1 - l1) * (h2 - l2);
            y[i] = from_f<T>(cnt > 0 ? sum / (float)cnt : 0.0f);
        }
    }
}

/* ------------------------------------------------------------------ global pooling -- */

__device__ __forceinline__ float combine(float a, float b, int is_max) {
    return is_max ? (b > a ? b : a) : a + b;
}

/* One warp per plane (small planes). */
template <typename T>
__global__ void global_pool_warp_kernel(const T *x, T *y, int64_t planes, int64_t size,
                                        int is_max) {
    int64_t plane = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) / 32;
    int lane = threadIdx.x & 31;
    if (plane >= planes) return; /* uniform across the warp */
    const T *xp = x + plane * size;
    float acc = is_max ? -INFINITY : 0.0f;
    for (int64_t j = lane; j < size; j += 32) acc = combine(acc, to_f<T>(xp[j]), is_max);
    for (int off = 16; off > 0; off >>= 1)
        acc = combine(acc, __shfl_down_sync(0xffffffffu, acc, off), is_max);
    if (lane == 0) y[plane] = from_f<T>(is_max ? acc : (size ? acc / (float)size : 0.0f));
}

/* One block per plane (large planes). */
template <typename T>
__global__ void global_pool_block_kernel(const T *x, T *y, int64_t size, int is_max) {
    __shared__ float partial[kThreads / 32];
    int64_t plane = blockIdx.x;
    const T *xp = x + plane * size;
    float acc = is_max ? -INFINITY : 0.0f;
    for (int64_t j = threadIdx.x; j < size; j += blockDim.x) acc = combine(acc, to_f<T>(xp[j]), is_max);
    for (int off = 16; off > 0; off >>= 1)
        acc = combine(acc, __shfl_down_sync(0xffffffffu, acc, off), is_max);
    int warp = threadIdx.x / 32, lane = threadIdx.x & 31;
    if (lane == 0) partial[warp] = acc;
    __syncthreads();
    if (warp == 0) {
        int nw = blockDim.x / 32;
        acc = lane < nw ? partial[lane] : (is_max ? -INFINITY : 0.0f);
        for (int off = 16; off > 0; off >>= 1)
            acc = combine(acc, __shfl_down_sync(0xffffffffu, acc, off), is_max);
        if (lane == 0) y[plane] = from_f<T>(is_max ? acc : acc / (float)size);
    }
}

/* ------------------------------------------------------------------ batch norm ------ */

__global__ void bn_params_kernel(const void *scale, int sdt, const void *bias, int bdt,
                                 const void *mean, int mdt, const void *var, int vdt,
                                 int64_t count, float eps, float *a, float *b) {
    GRID_STRIDE(i, count) {
        double s = load_any(scale, sdt, i), bb = load_any(bias, bdt, i);
        double m = load_any(mean, mdt, i), v = load_any(var, vdt, i);
        float av = (float)(s / sqrt(v + (double)eps));
        a[i] = av;
        b[i] = (float)(bb - m * (double)av);
    }
}

template <typename T>
__global__ void bn_apply_kernel(const T *x, T *y, int64_t total, int64_t channels, int64_t inner,
                                int per_activation, const float *a, const float *b) {
    GRID_STRIDE(i, total) {
        int64_t p = per_activation ? i % (channels * inner) : (i / inner) % channels;
        y[i] = from_f<T>(fmaf(to_f<T>(x[i]), a[p], b[p]));
    }
}

/* ------------------------------------------------------------------ Gemm's C -------- */

template <typename T>
__global__ void broadcast_2d_kernel(const T *c, T *y, int64_t m, int64_t n, int64_t cs0,
                                    int64_t cs1, float scale) {
    GRID_STRIDE(i, m * n) {
        int64_t r = i / n, col = i % n;
        y[i] = from_f<T>(scale * to_f<T>(c[r * cs0 + col * cs1]));
    }
}

} // namespace

extern "C" {

void kiln_cuda_nn_bias_channels(void *y, const void *bias, kiln_dtype dt, int64_t outer,
                                int64_t channels, int64_t inner, void *stream) {
    int64_t total = outer * channels * inner;
    if (total <= 0) return;
    cudaStream_t s = (cudaStream_t)stream;
    KILN_NN_DISPATCH(dt, bias_channels_kernel<T><<<grid_for(total), kThreads, 0, s>>>(
                             (T *)y, (const T *)bias, total, channels, inner));
}

void kiln_cuda_nn_pad(const void *x, void *y, kiln_dtype dt, int64_t planes,
                      const kiln_cuda_nn_win3 *w, void *stream) {
    int64_t total = planes * w->out[0] * w->out[1] * w->out[2];
    if (total <= 0) return;
    cudaStream_t s = (cudaStream_t)stream;
    KILN_NN_DISPATCH(dt, pad_kernel<T><<<grid_for(total), kThreads, 0, s>>>((const T *)x, (T *)y,
                                                                            total, *w));
}

void kiln_cuda_nn_pool(const void *x, void *y, kiln_dtype dt, int64_t planes,
                       const kiln_cuda_nn_win3 *w, int is_max, int include_pad, void *stream) {
    int64_t total = planes * w->out[0] * w->out[1] * w->out[2];
    if (total <= 0) return;
    cudaStream_t s = (cudaStream_t)stream;
    KILN_NN_DISPATCH(dt, pool_kernel<T><<<grid_for(total), kThreads, 0, s>>>(
                             (const T *)x, (T *)y, total, *w, is_max, include_pad));
}

void kiln_cuda_nn_global_pool(const void *x, void *y, kiln_dtype dt, int64_t planes, int64_t size,
                              int is_max, void *stream) {
    if (planes <= 0) return;
    cudaStream_t s = (cudaStream_t)stream;
    if (size >= 4096 && planes <= 0x7fffffff) {
        KILN_NN_DISPATCH(dt, global_pool_block_kernel<T><<<(unsigned)planes, kThreads, 0, s>>>(
                                 (const T *)x, (T *)y, size, is_max));
        return;
    }
    int64_t per_block = kThreads / 32;
    int64_t blocks = (planes + per_block - 1) / per_block;
    KILN_NN_DISPATCH(dt, global_pool_warp_kernel<T><<<(unsigned)blocks, kThreads, 0, s>>>(
                             (const T *)x, (T *)y, planes, size, is_max));
}

void kiln_cuda_nn_bn_params(const void *scale, kiln_dtype scale_dt, const void *bias,
                            kiln_dtype bias_dt, const void *mean, kiln_dtype mean_dt,
                            const void *var, kiln_dtype var_dt, int64_t count, float eps, float *a,
                            float *b, void *stream) {
    if (count <= 0) return;
    bn_params_kernel<<<grid_for(count), kThreads, 0, (cudaStream_t)stream>>>(
        scale, (int)scale_dt, bias, (int)bias_dt, mean, (int)mean_dt, var, (int)var_dt, count, eps,
        a, b);
}

void kiln_cuda_nn_bn_apply(const void *x, void *y, kiln_dtype dt, int64_t total, int64_t channels,
                           int64_t inner, int per_activation, const float *a, const float *b,
                           void *stream) {
    if (total <= 0) return;
    cudaStream_t s = (cudaStream_t)stream;
    KILN_NN_DISPATCH(dt, bn_apply_kernel<T><<<grid_for(total), kThreads, 0, s>>>(
                             (const T *)x, (T *)y, total, channels, inner, per_activation, a, b));
}

void kiln_cuda_nn_broadcast_2d(const void *c, void *y, kiln_dtype dt, int64_t m, int64_t n,
                               int64_t cs0, int64_t cs1, float scale, void *stream) {
    if (m <= 0 || n <= 0) return;
    cudaStream_t s = (cudaStream_t)stream;
    KILN_NN_DISPATCH(dt, broadcast_2d_kernel<T><<<grid_for(m * n), kThreads, 0, s>>>(
                             (const T *)c, (T *)y, m, n, cs0, cs1, scale));
}

} // extern "C"
