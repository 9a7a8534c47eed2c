/*
 * Binary elementwise kernels on the GPU with numpy broadcasting (up to KILN_MAX_DIMS dims,
 * and the legacy axis broadcasting of opset < 7 through kiln_ew_operand_view): arithmetic
 * (Add, Sub, Mul, Div on float32/float16/bfloat16/int32/int64, Pow and PRelu on floats),
 * comparisons (bool out), And/Or/Xor on bool; the variadic Max, Min, Sum, Mean folding their
 * inputs pairwise into the output; and Where's three-way select. Halves compute in float;
 * integer arithmetic wraps, integer division by zero gives 0 (as the CPU kernels).
 */
#include <math.h>

#include "backends/cuda/cuda_common.cuh"

extern "C" {
#include "ir/shape_elementwise.h"
}

/* ---------------------------------------------------------------- device ----------- */

__device__ __forceinline__ float kiln_cu_arith(int op, float x, float y) {
    switch (op) {
    case KILN_OP_Add:
    case KILN_OP_Sum:
    case KILN_OP_Mean:
        return x + y;
    case KILN_OP_Sub:
        return x - y;
    case KILN_OP_Mul:
        return x * y;
    case KILN_OP_Div:
        return x / y;
    case KILN_OP_Pow:
        return y == 2.0f ? x * x : powf(x, y);
    case KILN_OP_Max: /* NaN wins in both positions, as numpy's maximum */
        return (x > y || x != x) ? x : y;
    case KILN_OP_Min:
        return (x < y || x != x) ? x : y;
    case KILN_OP_PRelu:
        return x < 0.0f ? x * y : x;
    default:
        return 0.0f;
    }
}

/* int32 / int64: wrapping through U; x / 0 gives 0, MIN / -1 wraps */
template <typename T, typename U> __device__ __forceinline__ T kiln_cu_arith_int(int op, T x, T y) {
    switch (op) {
    case KILN_OP_Add:
    case KILN_OP_Sum:
    case KILN_OP_Mean:
        return (T)((U)x + (U)y);
    case KILN_OP_Sub:
        return (T)((U)x - (U)y);
    case KILN_OP_Mul:
        return (T)((U)x * (U)y);
    case KILN_OP_Div:
        return y == 0 ? (T)0 : (y == (T)-1 ? (T)((U)0 - (U)x) : (T)(x / y));
    case KILN_OP_Max:
        return x > y ? x : y;
    case KILN_OP_Min:
        return x < y ? x : y;
    default:
        return 0;
    }
}

template <typename T> struct kiln_cu_arith_op {
    static __device__ __forceinline__ T apply(int op, T x, T y) {
        return kiln_cu_stf<T>(kiln_cu_arith(op, kiln_cu_ldf(x), kiln_cu_ldf(y)));
    }
};
template <> struct kiln_cu_arith_op<int32_t> {
    static __device__ __forceinline__ int32_t apply(int op, int32_t x, int32_t y) {
        return kiln_cu_arith_int<int32_t, uint32_t>(op, x, y);
    }
};
template <> struct kiln_cu_arith_op<int64_t> {
    static __device__ __forceinline__ int64_t apply(int op, int64_t x, int64_t y) {
        return kiln_cu_arith_int<int64_t, uint64_t>(op, x, y);
    }
};

template <typename C> __device__ __forceinline__ uint8_t kiln_cu_compare(int op, C x, C y) {
    switch (op) {
    case KILN_OP_Equal:
        return x == y;
    case KILN_OP_Less:
        return x < y;
    case KILN_OP_LessOrEqual:
        return x <= y;
    case KILN_OP_Greater:
        return x > y;
    case KILN_OP_GreaterOrEqual:
        return x >= y;
    case KILN_OP_And:
        return (x != 0) & (y != 0);
    case KILN_OP_Or:
        return (x != 0) | (y != 0);
    case KILN_OP_Xor:
        return (x != 0) ^ (y != 0);
    default:
        return 0;
    }
}

template <typename T>
__global__ void kiln_cu_arith_kernel(const T *a, const T *b, T *o, kiln_cu_bcast bc, int op) {
    KILN_CU_FOR(i, bc.count) {
        int64_t off[2];
        kiln_cu_bcast_offsets<2>(bc, i, off);
        /* `a` may be the output itself (variadic folds): read before the write */
        T x = a[off[0]], y = b[off[1]];
        o[i] = kiln_cu_arith_op<T>::apply(op, x, y);
    }
}

template <typename T>
__global__ void kiln_cu_compare_kernel(const T *__restrict__ a, const T *__restrict__ b,
                                       uint8_t *__restrict__ o, kiln_cu_bcast bc, int op) {
    KILN_CU_FOR(i, bc.count) {
        int64_t off[2];
        kiln_cu_bcast_offsets<2>(bc, i, off);
        o[i] = kiln_cu_compare(op, kiln_cu_num<T>::ld(a[off[0]]), kiln_cu_num<T>::ld(b[off[1]]));
    }
}

template <typename T> __global__ void kiln_cu_divide_kernel(T *o, int64_t n, float count) {
    KILN_CU_FOR(i, n) o[i] = kiln_cu_stf<T>(kiln_cu_ldf(o[i]) / count);
}

template <typename E>
__global__ void kiln_cu_where_kernel(const uint8_t *__restrict__ c, const E *__restrict__ x,
                                     const E *__restrict__ y, E *__restrict__ o, kiln_cu_bcast bc) {
    KILN_CU_FOR(i, bc.count) {
        int64_t off[3];
        kiln_cu_bcast_offsets<3>(bc, i, off);
        o[i] = c[off[0]] ? x[off[1]] : y[off[2]];
    }
}

/* ---------------------------------------------------------------- host ------------- */

static int kiln_cu_is_compare(kiln_op op) {
    return op == KILN_OP_Equal || op == KILN_OP_Less || op == KILN_OP_LessOrEqual ||
           op == KILN_OP_Greater || op == KILN_OP_GreaterOrEqual;
}
static int kiln_cu_is_logic(kiln_op op) {
    return op == KILN_OP_And || op == KILN_OP_Or || op == KILN_OP_Xor;
}
static int kiln_cu_is_int(kiln_dtype t) {
    return t == KILN_DTYPE_INT32 || t == KILN_DTYPE_INT64;
}

/* Whether op computes on dtype t (operands and, but for compares, output). */
static int kiln_cu_binary_dtype_ok(kiln_op op, kiln_dtype t) {
    if (kiln_cu_is_logic(op)) return t == KILN_DTYPE_BOOL;
    if (op == KILN_OP_Equal && t == KILN_DTYPE_BOOL) return 1;
    if (kiln_cu_is_float(t)) return 1;
    if (op == KILN_OP_Pow || op == KILN_OP_PRelu || op == KILN_OP_Mean) return 0;
    return kiln_cu_is_int(t);
}

/* Launches o = a op b over the broadcast bc; t is the operands' dtype. */
static kiln_status kiln_cu_binary_launch(kiln_cuda_ctx *ctx, const kiln_node *node, kiln_op op,
                                         kiln_dtype t, const void *a, const void *b, void *o,
                                         const kiln_cu_bcast *bc) {
    if (bc->count <= 0) return KILN_OK;
    cudaStream_t st = kiln_cu_stream(ctx);
    unsigned blocks = kiln_cu_blocks(bc->count);
    int iop = (int)op;
    if (kiln_cu_is_compare(op) || kiln_cu_is_logic(op)) {
        uint8_t *ob = (uint8_t *)o;
        switch (t) {
        case KILN_DTYPE_FLOAT32:
            kiln_cu_compare_kernel<float><<<blocks, KILN_CU_THREADS, 0, st>>>(
                (const float *)a, (const float *)b, ob, *bc, iop);
            break;
        case KILN_DTYPE_FLOAT16:
            kiln_cu_compare_kernel<__half><<<blocks, KILN_CU_THREADS, 0, st>>>(
                (const __half *)a, (const __half *)b, ob, *bc, iop);
            break;
        case KILN_DTYPE_BFLOAT16:
            kiln_cu_compare_kernel<__nv_bfloat16><<<blocks, KILN_CU_THREADS, 0, st>>>(
                (const __nv_bfloat16 *)a, (const __nv_bfloat16 *)b, ob, *bc, iop);
            break;
        case KILN_DTYPE_INT32:
            kiln_cu_compare_kernel<int32_t><<<blocks, KILN_CU_THREADS, 0, st>>>(
                (const int32_t *)a, (const int32_t *)b, ob, *bc, iop);
            break;
        case KILN_DTYPE_INT64:
            kiln_cu_compare_kernel<int64_t><<<blocks, KILN_CU_THREADS, 0, st>>>(
                (const int64_t *)a, (const int64_t *)b, ob, *bc, iop);
            break;
        case KILN_DTYPE_BOOL:
            kiln_cu_compare_kernel<uint8_t><<<blocks, KILN_CU_THREADS, 0, st>>>(
                (const uint8_t *)a, (const uint8_t *)b, ob, *bc, iop);
            break;
        default:
            return kiln_node_error(KILN_ERR_UNSUPPORTED, node, "dtype %s not supported on CUDA",
                                   kiln_dtype_name(t));
        }
        return kiln_cuda_check_launch(node, "kiln_cu_compare_kernel");
    }
    switch (t) {
    case KILN_DTYPE_FLOAT32:
        kiln_cu_arith_kernel<float><<<blocks, KILN_CU_THREADS, 0, st>>>(
            (const float *)a, (const float *)b, (float *)o, *bc, iop);
        break;
    case KILN_DTYPE_FLOAT16:
        kiln_cu_arith_kernel<__half><<<blocks, KILN_CU_THREADS, 0, st>>>(
            (const __half *)a, (const __half *)b, (__half *)o, *bc, iop);
        break;
    case KILN_DTYPE_BFLOAT16:
        kiln_cu_arith_kernel<__nv_bfloat16><<<blocks, KILN_CU_THREADS, 0, st>>>(
            (const __nv_bfloat16 *)a, (const __nv_bfloat16 *)b, (__nv_bfloat16 *)o, *bc, iop);
        break;
    case KILN_DTYPE_INT32:
        kiln_cu_arith_kernel<int32_t><<<blocks, KILN_CU_THREADS, 0, st>>>(
            (const int32_t *)a, (const int32_t *)b, (int32_t *)o, *bc, iop);
        break;
    case KILN_DTYPE_INT64:
        kiln_cu_arith_kernel<int64_t><<<blocks, KILN_CU_THREADS, 0, st>>>(
            (const int64_t *)a, (const int64_t *)b, (int64_t *)o, *bc, iop);
        break;
    default:
        return kiln_node_error(KILN_ERR_UNSUPPORTED, node, "dtype %s not supported on CUDA",
                               kiln_dtype_name(t));
    }
    return kiln_cuda_check_launch(node, "kiln_cu_arith_kernel");
}

/* Two inputs of one dtype the op computes on; output of that dtype, bool for compares. */
extern "C" int kiln_cuda_supports_binary(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                         const kiln_tview *out, int32_t n_out) {
    if (n_in < 2 || n_out < 1) return 0;
    kiln_dtype t = in[0].dtype;
    if (in[1].dtype != t || !kiln_cu_binary_dtype_ok(node->op, t)) return 0;
    int to_bool = kiln_cu_is_compare(node->op) || kiln_cu_is_logic(node->op);
    return out[0].dtype == (to_bool ? KILN_DTYPE_BOOL : t);
}

extern "C" kiln_status kiln_cuda_binary(kiln_cuda_ctx *ctx, const kiln_node *node,
                                        const kiln_tview *in, int32_t n_in, kiln_tview *out,
                                        int32_t n_out) {
    (void)n_in, (void)n_out;
    if (kiln_tview_count(&out[0]) <= 0) return KILN_OK;
    kiln_tview b;
    KILN_TRY(kiln_ew_operand_view(node, &in[0], &in[1], &b));
    const kiln_tview *ins[2] = {&in[0], &b};
    kiln_cu_bcast bc;
    if (!kiln_cu_bcast_init(&bc, &out[0], ins, 2))
        return kiln_shape_error(node, "inputs do not broadcast to the output shape");
    return kiln_cu_binary_launch(ctx, node, node->op, in[0].dtype, in[0].data, b.data, out[0].data,
                                 &bc);
}

/* ---------------------------------------------------------------- variadic --------- */

/* Max, Min, Sum: floats, int32, int64; Mean: floats. All inputs of the output's dtype. */
extern "C" int kiln_cuda_supports_variadic(const kiln_node *node, const kiln_tview *in,
                                           int32_t n_in, const kiln_tview *out, int32_t n_out) {
    if (n_in < 1 || n_out < 1) return 0;
    kiln_dtype t = out[0].dtype;
    if (!kiln_cu_binary_dtype_ok(node->op, t) || t == KILN_DTYPE_BOOL) return 0;
    int count = 0;
    for (int32_t k = 0; k < n_in; k++) {
        if (!kiln_tview_present(&in[k])) continue;
        if (in[k].dtype != t) return 0;
        count++;
    }
    return count > 0;
}

extern "C" kiln_status kiln_cuda_variadic(kiln_cuda_ctx *ctx, const kiln_node *node,
                                          const kiln_tview *in, int32_t n_in, kiln_tview *out,
                                          int32_t n_out) {
    (void)n_out;
    int64_t n = kiln_tview_count(&out[0]);
    if (n <= 0) return KILN_OK;
    kiln_dtype t = out[0].dtype;
    int32_t first = -1, count = 0;
    for (int32_t k = 0; k < n_in; k++) {
        if (!kiln_tview_present(&in[k])) continue;
        if (first < 0) first = k;
        count++;
    }
    if (count == 0) return kiln_node_error(KILN_ERR_INVALID_ARGUMENT, node, "needs an input");
    const kiln_tview *ins[2] = {&in[first], NULL};
    kiln_cu_bcast bc;
    if (count == 1) { /* a broadcasting copy */
        if (!kiln_cu_bcast_init(&bc, &out[0], ins, 1))
            return kiln_shape_error(node, "input does not broadcast to the output shape");
        kiln_cu_strided s;
        memset(&s, 0, sizeof s);
        s.rank = bc.rank;
        s.count = bc.count;
        for (int32_t d = 0; d < bc.rank; d++) {
            s.dims[d] = bc.dims[d];
            s.strides[d] = bc.strides[0][d];
        }
        KILN_TRY(
            kiln_cu_strided_copy(ctx, node, out[0].data, in[first].data, &s, kiln_cu_elem_size(t)));
    }
    for (int32_t k = first + 1; k < n_in; k++) {
        if (!kiln_tview_present(&in[k])) continue;
        ins[1] = &in[k];
        if (!kiln_cu_bcast_init(&bc, &out[0], ins, 2))
            return kiln_shape_error(node, "inputs do not broadcast to the output shape");
        KILN_TRY(kiln_cu_binary_launch(ctx, node, node->op, t, ins[0]->data, in[k].data,
                                       out[0].data, &bc));
        ins[0] = &out[0]; /* later inputs fold into the output */
    }
    if (node->op != KILN_OP_Mean || count == 1) return KILN_OK;
    cudaStream_t st = kiln_cu_stream(ctx);
    unsigned blocks = kiln_cu_blocks(n);
    float c = (float)count;
    switch (t) {
    case KILN_DTYPE_FLOAT32:
        kiln_cu_divide_kernel<float>
            <<<blocks, KILN_CU_THREADS, 0, st>>>((float *)out[0].data, n, c);
        break;
    case KILN_DTYPE_FLOAT16:
        kiln_cu_divide_kernel<__half>
            <<<blocks, KILN_CU_THREADS, 0, st>>>((__half *)out[0].data, n, c);
        break;
    case KILN_DTYPE_BFLOAT16:
        kiln_cu_divide_kernel<__nv_bfloat16>
            <<<blocks, KILN_CU_THREADS, 0, st>>>((__nv_bfloat16 *)out[0].data, n, c);
        break;
    default:
        return kiln_node_error(KILN_ERR_UNSUPPORTED, node, "dtype %s not supported on CUDA",
                               kiln_dtype_name(t));
    }
    return kiln_cuda_check_launch(node, "kiln_cu_divide_kernel");
}

/* ---------------------------------------------------------------- Where ------------ */

/* Where(condition, X, Y): bool condition, X and Y of one byte-sized dtype. */
extern "C" int kiln_cuda_supports_where(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                        const kiln_tview *out, int32_t n_out) {
    (void)node;
    if (n_in < 3 || n_out < 1 || in[0].dtype != KILN_DTYPE_BOOL) return 0;
    if (in[1].dtype != in[2].dtype || out[0].dtype != in[1].dtype) return 0;
    return kiln_cu_elem_size(in[1].dtype) != 0;
}

extern "C" kiln_status kiln_cuda_where(kiln_cuda_ctx *ctx, const kiln_node *node,
                                       const kiln_tview *in, int32_t n_in, kiln_tview *out,
                                       int32_t n_out) {
    (void)n_in, (void)n_out;
    if (kiln_tview_count(&out[0]) <= 0) return KILN_OK;
    const kiln_tview *ins[3] = {&in[0], &in[1], &in[2]};
    kiln_cu_bcast bc;
    if (!kiln_cu_bcast_init(&bc, &out[0], ins, 3))
        return kiln_shape_error(node, "inputs do not broadcast to the output shape");
    cudaStream_t st = kiln_cu_stream(ctx);
    unsigned blocks = kiln_cu_blocks(bc.count);
    const uint8_t *c = (const uint8_t *)in[0].data;
    switch (kiln_cu_elem_size(in[1].dtype)) {
    case 1:
        kiln_cu_where_kernel<uint8_t><<<blocks, KILN_CU_THREADS, 0, st>>>(
            c, (const uint8_t *)in[1].data, (const uint8_t *)in[2].data, (uint8_t *)out[0].data,
            bc);
        break;
    case 2:
        kiln_cu_where_kernel<uint16_t><<<blocks, KILN_CU_THREADS, 0, st>>>(
            c, (const uint16_t *)in[1].data, (const uint16_t *)in[2].data, (uint16_t *)out[0].data,
            bc);
        break;
    case 4:
        kiln_cu_where_kernel<uint32_t><<<blocks, KILN_CU_THREADS, 0, st>>>(
            c, (const uint32_t *)in[1].data, (const uint32_t *)in[2].data, (uint32_t *)out[0].data,
            bc);
        break;
    case 8:
        kiln_cu_where_kernel<unsigned long long><<<blocks, KILN_CU_THREADS, 0, st>>>(
            c, (const unsigned long long *)in[1].data, (const unsigned long long *)in[2].data,
            (unsigned long long *)out[0].data, bc);
        break;
    default:
        return kiln_node_error(KILN_ERR_UNSUPPORTED, node, "dtype %s not supported on CUDA",
                               kiln_dtype_name(in[1].dtype));
    }
    return kiln_cuda_check_launch(node, "kiln_cu_where_kernel");
}
