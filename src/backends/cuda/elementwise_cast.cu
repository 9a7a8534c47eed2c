/*
 * Cast and CastLike on the GPU among float32, float16, bfloat16, float64, int8, uint8,
 * int32, int64 and bool, with the CPU kernels' conversions: floating sources go through
 * double, integer sources through int64; float -> integer truncates toward zero (NaN and
 * values beyond int64 give INT64_MIN, narrower integers wrap), integer -> float16/bfloat16
 * rounds through float, float -> bool is x != 0. Other dtypes (float8, int4, ...) stay on
 * the CPU.
 */
#include "backends/cuda/cuda_common.cuh"

/* bool storage, a type of its own so that it converts as x != 0 */
typedef struct kiln_cu_b8 {
    uint8_t v;
} kiln_cu_b8;

template <typename S> struct kiln_cu_src {
    static const bool fl = false;
    static __device__ __forceinline__ double f(S) {
        return 0.0;
    }
    static __device__ __forceinline__ int64_t i(S v) {
        return (int64_t)v;
    }
};
template <> struct kiln_cu_src<kiln_cu_b8> {
    static const bool fl = false;
    static __device__ __forceinline__ double f(kiln_cu_b8) {
        return 0.0;
    }
    static __device__ __forceinline__ int64_t i(kiln_cu_b8 v) {
        return (int64_t)v.v;
    }
};
#define KILN_CU_FLOAT_SRC(S, EXPR)                                                                 \
    template <> struct kiln_cu_src<S> {                                                            \
        static const bool fl = true;                                                               \
        static __device__ __forceinline__ double f(S v) {                                          \
            return (double)(EXPR);                                                                 \
        }                                                                                          \
        static __device__ __forceinline__ int64_t i(S) {                                           \
            return 0;                                                                              \
        }                                                                                          \
    };
KILN_CU_FLOAT_SRC(float, v)
KILN_CU_FLOAT_SRC(double, v)
KILN_CU_FLOAT_SRC(__half, __half2float(v))
KILN_CU_FLOAT_SRC(__nv_bfloat16, __bfloat162float(v))

/* float -> int64 without undefined behaviour: NaN and out-of-range give INT64_MIN */
__device__ __forceinline__ int64_t kiln_cu_f2i64(double v) {
    if (!(v >= -9223372036854775808.0 && v < 9223372036854775808.0)) return INT64_MIN;
    return (int64_t)v;
}

/* integer destinations (narrower ones wrap) */
template <typename D> struct kiln_cu_dst {
    static __device__ __forceinline__ D from_f(double v) {
        return (D)kiln_cu_f2i64(v);
    }
    static __device__ __forceinline__ D from_i(int64_t v) {
        return (D)v;
    }
};
template <> struct kiln_cu_dst<float> {
    static __device__ __forceinline__ float from_f(double v) {
        return (float)v;
    }
    static __device__ __forceinline__ float from_i(int64_t v) {
        return (float)v;
    }
};
template <> struct kiln_cu_dst<double> {
    static __device__ __forceinline__ double from_f(double v) {
        return v;
    }
    static __device__ __forceinline__ double from_i(int64_t v) {
        return (double)v;
    }
};
template <> struct kiln_cu_dst<__half> {
    static __device__ __forceinline__ __half from_f(double v) {
        return __float2half_rn((float)v);
    }
    static __device__ __forceinline__ __half from_i(int64_t v) {
        return __float2half_rn((float)v);
    }
};
template <> struct kiln_cu_dst<__nv_bfloat16> {
    static __device__ __forceinline__ __nv_bfloat16 from_f(double v) {
        return __float2bfloat16_rn((float)v);
    }
    static __device__ __forceinline__ __nv_bfloat16 from_i(int64_t v) {
        return __float2bfloat16_rn((float)v);
    }
};
template <> struct kiln_cu_dst<kiln_cu_b8> {
    static __device__ __forceinline__ kiln_cu_b8 from_f(double v) {
        kiln_cu_b8 r;
        r.v = v != 0.0;
        return r;
    }
    static __device__ __forceinline__ kiln_cu_b8 from_i(int64_t v) {
        kiln_cu_b8 r;
        r.v = v != 0;
        return r;
    }
};

template <typename S, typename D>
__global__ void kiln_cu_cast_kernel(const S *__restrict__ x, D *__restrict__ y, int64_t n) {
    KILN_CU_FOR(i, n) {
        S v = x[i];
        y[i] = kiln_cu_src<S>::fl ? kiln_cu_dst<D>::from_f(kiln_cu_src<S>::f(v))
                                  : kiln_cu_dst<D>::from_i(kiln_cu_src<S>::i(v));
    }
}

static int kiln_cu_cast_dtype(kiln_dtype t) {
    switch (t) {
    case KILN_DTYPE_FLOAT32:
    case KILN_DTYPE_FLOAT16:
    case KILN_DTYPE_BFLOAT16:
    case KILN_DTYPE_FLOAT64:
    case KILN_DTYPE_INT8:
    case KILN_DTYPE_UINT8:
    case KILN_DTYPE_INT32:
    case KILN_DTYPE_INT64:
    case KILN_DTYPE_BOOL:
        return 1;
    default:
        return 0;
    }
}

template <typename S>
static int kiln_cu_cast_to(kiln_dtype dst, const void *x, void *y, int64_t n, cudaStream_t st) {
    unsigned blocks = kiln_cu_blocks(n);
    const S *xs = (const S *)x;
    switch (dst) {
    case KILN_DTYPE_FLOAT32:
        kiln_cu_cast_kernel<S, float><<<blocks, KILN_CU_THREADS, 0, st>>>(xs, (float *)y, n);
        return 1;
    case KILN_DTYPE_FLOAT16:
        kiln_cu_cast_kernel<S, __half><<<blocks, KILN_CU_THREADS, 0, st>>>(xs, (__half *)y, n);
        return 1;
    case KILN_DTYPE_BFLOAT16:
        kiln_cu_cast_kernel<S, __nv_bfloat16>
            <<<blocks, KILN_CU_THREADS, 0, st>>>(xs, (__nv_bfloat16 *)y, n);
        return 1;
    case KILN_DTYPE_FLOAT64:
        kiln_cu_cast_kernel<S, double><<<blocks, KILN_CU_THREADS, 0, st>>>(xs, (double *)y, n);
        return 1;
    case KILN_DTYPE_INT8:
        kiln_cu_cast_kernel<S, int8_t><<<blocks, KILN_CU_THREADS, 0, st>>>(xs, (int8_t *)y, n);
        return 1;
    case KILN_DTYPE_UINT8:
        kiln_cu_cast_kernel<S, uint8_t><<<blocks, KILN_CU_THREADS, 0, st>>>(xs, (uint8_t *)y, n);
        return 1;
    case KILN_DTYPE_INT32:
        kiln_cu_cast_kernel<S, int32_t><<<blocks, KILN_CU_THREADS, 0, st>>>(xs, (int32_t *)y, n);
        return 1;
    case KILN_DTYPE_INT64:
        kiln_cu_cast_kernel<S, int64_t><<<blocks, KILN_CU_THREADS, 0, st>>>(xs, (int64_t *)y, n);
        return 1;
    case KILN_DTYPE_BOOL:
        kiln_cu_cast_kernel<S, kiln_cu_b8>
            <<<blocks, KILN_CU_THREADS, 0, st>>>(xs, (kiln_cu_b8 *)y, n);
        return 1;
    default:
        return 0;
    }
}

/* Cast: source and destination among the dtypes above; CastLike: the same, the destination
 * dtype (that of input 1) already on the output. */
extern "C" int kiln_cuda_supports_cast(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                       const kiln_tview *out, int32_t n_out) {
    (void)node;
    if (n_in < 1 || n_out < 1) return 0;
    return kiln_cu_cast_dtype(in[0].dtype) && kiln_cu_cast_dtype(out[0].dtype);
}

extern "C" kiln_status kiln_cuda_cast(kiln_cuda_ctx *ctx, const kiln_node *node,
                                      const kiln_tview *in, int32_t n_in, kiln_tview *out,
                                      int32_t n_out) {
    (void)n_in, (void)n_out;
    kiln_dtype src = in[0].dtype, dst = out[0].dtype;
    int64_t n = kiln_tview_count(&out[0]);
    if (n != kiln_tview_count(&in[0]))
        return kiln_shape_error(node, "output holds %lld elements, input %lld", (long long)n,
                                (long long)kiln_tview_count(&in[0]));
    if (n <= 0) return KILN_OK;
    if (src == dst)
        return kiln_cu_copy_bytes(ctx, node, out[0].data, in[0].data,
                                  (size_t)n * kiln_cu_elem_size(src));
    cudaStream_t st = kiln_cu_stream(ctx);
    const void *x = in[0].data;
    void *y = out[0].data;
    int ok = 0;
    switch (src) {
    case KILN_DTYPE_FLOAT32:
        ok = kiln_cu_cast_to<float>(dst, x, y, n, st);
        break;
    case KILN_DTYPE_FLOAT16:
        ok = kiln_cu_cast_to<__half>(dst, x, y, n, st);
        break;
    case KILN_DTYPE_BFLOAT16:
        ok = kiln_cu_cast_to<__nv_bfloat16>(dst, x, y, n, st);
        break;
    case KILN_DTYPE_FLOAT64:
        ok = kiln_cu_cast_to<double>(dst, x, y, n, st);
        break;
    case KILN_DTYPE_INT8:
        ok = kiln_cu_cast_to<int8_t>(dst, x, y, n, st);
        break;
    case KILN_DTYPE_UINT8:
        ok = kiln_cu_cast_to<uint8_t>(dst, x, y, n, st);
        break;
    case KILN_DTYPE_INT32:
        ok = kiln_cu_cast_to<int32_t>(dst, x, y, n, st);
        break;
    case KILN_DTYPE_INT64:
        ok = kiln_cu_cast_to<int64_t>(dst, x, y, n, st);
        break;
    case KILN_DTYPE_BOOL:
        ok = kiln_cu_cast_to<kiln_cu_b8>(dst, x, y, n, st);
        break;
    default:
        break;
    }
    if (!ok)
        return kiln_node_error(KILN_ERR_UNSUPPORTED, node,
                               "cast from %s to %s not supported on CUDA", kiln_dtype_name(src),
                               kiln_dtype_name(dst));
    return kiln_cuda_check_launch(node, "kiln_cu_cast_kernel");
}
