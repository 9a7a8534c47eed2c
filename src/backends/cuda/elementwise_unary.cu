/*
 * Unary elementwise kernels on the GPU: math functions and activations on float32,
 * float16 and bfloat16 (halves computed in float, as the CPU kernels do), Abs / Neg / Sign /
 * Relu also on int32 and int64 (wrapping), Not on bool, and the float -> bool predicates
 * IsNaN / IsInf. One kernel per storage type; the op is a uniform switch inside.
 */
#include <math.h>

#include "backends/cuda/cuda_common.cuh"

/* The ops, by kiln op, plus Gelu's tanh approximation. */
enum {
    KILN_CU_GELU_TANH = KILN_OP_COUNT + 1,
};

typedef struct kiln_cu_act {
    float alpha, beta, gamma;
    int flag0, flag1; /* IsInf detect_positive / detect_negative */
} kiln_cu_act;

/* clamp to [0, 1], NaN passing through */
__device__ __forceinline__ float kiln_cu_unit(float v) {
    return v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v);
}

__device__ __forceinline__ float kiln_cu_sigmoid(float x) {
    float e = expf(-fabsf(x)); /* in (0, 1]: no overflow on either side */
    float s = 1.0f / (1.0f + e);
    return x >= 0.0f ? s : e * s;
}

/* log(1 + e^x) without overflow */
__device__ __forceinline__ float kiln_cu_softplus(float x) {
    return x > 0.0f ? x + log1pf(expf(-x)) : log1pf(expf(x));
}

/* x * tanh(softplus(x)) = x * n / (n + 2) with n = e^x (e^x + 2); beyond 20 it is x */
__device__ __forceinline__ float kiln_cu_mish(float x) {
    float e = expf(x < 20.0f ? x : 20.0f);
    float n = e * (e + 2.0f);
    float m = x * n / (n + 2.0f);
    return x > 20.0f ? x : m;
}

__device__ __forceinline__ float kiln_cu_unary_f(int op, float x, const kiln_cu_act &p) {
    switch (op) {
    case KILN_OP_Abs:
        return fabsf(x);
    case KILN_OP_Neg:
        return -x;
    case KILN_OP_Sign:
        return x > 0.0f ? 1.0f : (x < 0.0f ? -1.0f : x); /* keeps 0 and NaN */
    case KILN_OP_Relu:
        return x < 0.0f ? 0.0f : x; /* keeps NaN */
    case KILN_OP_Floor:
        return floorf(x);
    case KILN_OP_Ceil:
        return ceilf(x);
    case KILN_OP_Round:
        return rintf(x); /* half to even */
    case KILN_OP_Sqrt:
        return sqrtf(x);
    case KILN_OP_Reciprocal:
        return 1.0f / x;
    case KILN_OP_Exp:
        return expf(x);
    case KILN_OP_Log:
        return logf(x);
    case KILN_OP_Sin:
        return sinf(x);
    case KILN_OP_Cos:
        return cosf(x);
    case KILN_OP_Tan:
        return tanf(x);
    case KILN_OP_Asin:
        return asinf(x);
    case KILN_OP_Acos:
        return acosf(x);
    case KILN_OP_Atan:
        return atanf(x);
    case KILN_OP_Sinh:
        return sinhf(x);
    case KILN_OP_Cosh:
        return coshf(x);
    case KILN_OP_Asinh:
        return asinhf(x);
    case KILN_OP_Acosh:
        return acoshf(x);
    case KILN_OP_Atanh:
        return atanhf(x);
    case KILN_OP_Erf:
        return erff(x);
    case KILN_OP_Tanh:
        return tanhf(x);
    case KILN_OP_LeakyRelu:
        return x < 0.0f ? p.alpha * x : x;
    case KILN_OP_Elu:
        return x < 0.0f ? p.alpha * (expf(x) - 1.0f) : x;
    case KILN_OP_Selu:
        return p.gamma * (x <= 0.0f ? p.alpha * expf(x) - p.alpha : x);
    case KILN_OP_Celu:
        return x > 0.0f ? x : p.alpha * (expf(x / p.alpha) - 1.0f);
    case KILN_OP_Sigmoid:
        return kiln_cu_sigmoid(x);
    case KILN_OP_HardSigmoid:
        return kiln_cu_unit(p.alpha * x + p.beta);
    case KILN_OP_HardSwish:
        return x * kiln_cu_unit(x / 6.0f + 0.5f);
    case KILN_OP_Softplus:
        return kiln_cu_softplus(x);
    case KILN_OP_Softsign:
        return x / (1.0f + fabsf(x));
    case KILN_OP_ThresholdedRelu:
        return x > p.alpha ? x : 0.0f;
    case KILN_OP_Gelu:
        return 0.5f * x * (1.0f + erff(x * 0.70710678118654752440f));
    case KILN_CU_GELU_TANH:
        return 0.5f * x * (1.0f + tanhf(0.79788456080286535588f * (x + 0.044715f * x * x * x)));
    case KILN_OP_Mish:
        return kiln_cu_mish(x);
    case KILN_OP_Swish:
        return x * kiln_cu_sigmoid(p.alpha * x);
    case KILN_OP_Shrink: /* alpha: lambd, beta: bias */
        return x < -p.alpha ? x + p.beta : (x > p.alpha ? x - p.beta : 0.0f);
    default:
        return x;
    }
}

template <typename T>
__global__ void kiln_cu_unary_float_kernel(const T *__restrict__ x, T *__restrict__ y, int64_t n,
                                           int op, kiln_cu_act p) {
    KILN_CU_FOR(i, n) y[i] = kiln_cu_stf<T>(kiln_cu_unary_f(op, kiln_cu_ldf(x[i]), p));
}

/* Integer ops, wrapping through the unsigned type U. */
template <typename T, typename U>
__global__ void kiln_cu_unary_int_kernel(const T *__restrict__ x, T *__restrict__ y, int64_t n,
                                         int op) {
    KILN_CU_FOR(i, n) {
        T v = x[i], r;
        switch (op) {
        case KILN_OP_Abs:
            r = v < 0 ? (T)((U)0 - (U)v) : v;
            break;
        case KILN_OP_Neg:
            r = (T)((U)0 - (U)v);
            break;
        case KILN_OP_Sign:
            r = v < 0 ? (T)-1 : (v > 0 ? (T)1 : (T)0);
            break;
        default: /* Relu */
            r = v < 0 ? (T)0 : v;
            break;
        }
        y[i] = r;
    }
}

template <typename T>
__global__ void kiln_cu_pred_kernel(const T *__restrict__ x, uint8_t *__restrict__ y, int64_t n,
                                    int op, kiln_cu_act p) {
    KILN_CU_FOR(i, n) {
        float v = kiln_cu_ldf(x[i]);
        y[i] = op == KILN_OP_IsNaN
                   ? (uint8_t)isnan(v)
                   : (uint8_t)(isinf(v) && ((v > 0.0f && p.flag0) || (v < 0.0f && p.flag1)));
    }
}

__global__ void kiln_cu_not_kernel(const uint8_t *__restrict__ x, uint8_t *__restrict__ y,
                                   int64_t n) {
    KILN_CU_FOR(i, n) y[i] = !x[i];
}

/* ---------------------------------------------------------------- host ------------- */

/* Attribute values of the parameterized ops, with ONNX's defaults. */
static void kiln_cu_act_params(const kiln_node *node, kiln_cu_act *p) {
    p->alpha = p->beta = p->gamma = 0.0f;
    p->flag0 = p->flag1 = 1;
    switch (node->op) {
    case KILN_OP_LeakyRelu:
        p->alpha = kiln_attr_float(node, "alpha", 0.01f);
        break;
    case KILN_OP_Elu:
    case KILN_OP_Celu:
    case KILN_OP_ThresholdedRelu:
    case KILN_OP_Swish:
        p->alpha = kiln_attr_float(node, "alpha", 1.0f);
        break;
    case KILN_OP_Selu:
        p->alpha = kiln_attr_float(node, "alpha", 1.67326319217681884765625f);
        p->gamma = kiln_attr_float(node, "gamma", 1.05070102214813232421875f);
        break;
    case KILN_OP_HardSigmoid:
        p->alpha = kiln_attr_float(node, "alpha", 0.2f);
        p->beta = kiln_attr_float(node, "beta", 0.5f);
        break;
    case KILN_OP_Shrink:
        p->alpha = kiln_attr_float(node, "lambd", 0.5f);
        p->beta = kiln_attr_float(node, "bias", 0.0f);
        break;
    case KILN_OP_IsInf:
        p->flag0 = kiln_attr_int(node, "detect_positive", 1) != 0;
        p->flag1 = kiln_attr_int(node, "detect_negative", 1) != 0;
        break;
    default:
        break;
    }
}

static int kiln_cu_unary_int_op(kiln_op op) {
    return op == KILN_OP_Abs || op == KILN_OP_Neg || op == KILN_OP_Sign || op == KILN_OP_Relu;
}

/* Float ops: float32/float16/bfloat16 in, the same out; Abs, Neg, Sign, Relu also int32 and
 * int64; IsNaN / IsInf float in, bool out; Not bool; Gelu with approximate none or tanh. */
extern "C" int kiln_cuda_supports_unary(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                        const kiln_tview *out, int32_t n_out) {
    if (n_in < 1 || n_out < 1) return 0;
    kiln_dtype dt = in[0].dtype;
    switch (node->op) {
    case KILN_OP_Not:
        return dt == KILN_DTYPE_BOOL && out[0].dtype == KILN_DTYPE_BOOL;
    case KILN_OP_IsNaN:
    case KILN_OP_IsInf:
        return kiln_cu_is_float(dt) && out[0].dtype == KILN_DTYPE_BOOL;
    case KILN_OP_Gelu: {
        const char *a = kiln_attr_string(node, "approximate", "none");
        if (strcmp(a, "none") && strcmp(a, "tanh")) return 0;
        break;
    }
    default:
        break;
    }
    if (out[0].dtype != dt) return 0;
    if (kiln_cu_is_float(dt)) return 1;
    return kiln_cu_unary_int_op(node->op) && (dt == KILN_DTYPE_INT32 || dt == KILN_DTYPE_INT64);
}

extern "C" kiln_status kiln_cuda_unary(kiln_cuda_ctx *ctx, const kiln_node *node,
                                       const kiln_tview *in, int32_t n_in, kiln_tview *out,
                                       int32_t n_out) {
    (void)n_in, (void)n_out;
    int64_t n = kiln_tview_count(&out[0]);
    if (n != kiln_tview_count(&in[0]))
        return kiln_shape_error(node, "output holds %lld elements, input %lld", (long long)n,
                                (long long)kiln_tview_count(&in[0]));
    if (n <= 0) return KILN_OK;
    kiln_cu_act p;
    kiln_cu_act_params(node, &p);
    int op = (int)node->op;
    if (node->op == KILN_OP_Gelu && !strcmp(kiln_attr_string(node, "approximate", "none"), "tanh"))
        op = KILN_CU_GELU_TANH;
    cudaStream_t st = kiln_cu_stream(ctx);
    unsigned blocks = kiln_cu_blocks(n);
    const void *x = in[0].data;
    void *y = out[0].data;
    switch (in[0].dtype) {
    case KILN_DTYPE_FLOAT32:
    case KILN_DTYPE_FLOAT16:
    case KILN_DTYPE_BFLOAT16:
        if (node->op == KILN_OP_IsNaN || node->op == KILN_OP_IsInf) {
            if (in[0].dtype == KILN_DTYPE_FLOAT32)
                kiln_cu_pred_kernel<float>
                    <<<blocks, KILN_CU_THREADS, 0, st>>>((const float *)x, (uint8_t *)y, n, op, p);
            else if (in[0].dtype == KILN_DTYPE_FLOAT16)
                kiln_cu_pred_kernel<__half>
                    <<<blocks, KILN_CU_THREADS, 0, st>>>((const __half *)x, (uint8_t *)y, n, op, p);
            else
                kiln_cu_pred_kernel<__nv_bfloat16><<<blocks, KILN_CU_THREADS, 0, st>>>(
                    (const __nv_bfloat16 *)x, (uint8_t *)y, n, op, p);
        } else if (in[0].dtype == KILN_DTYPE_FLOAT32) {
            kiln_cu_unary_float_kernel<float>
                <<<blocks, KILN_CU_THREADS, 0, st>>>((const float *)x, (float *)y, n, op, p);
        } else if (in[0].dtype == KILN_DTYPE_FLOAT16) {
            kiln_cu_unary_float_kernel<__half>
                <<<blocks, KILN_CU_THREADS, 0, st>>>((const __half *)x, (__half *)y, n, op, p);
        } else {
            kiln_cu_unary_float_kernel<__nv_bfloat16><<<blocks, KILN_CU_THREADS, 0, st>>>(
                (const __nv_bfloat16 *)x, (__nv_bfloat16 *)y, n, op, p);
        }
        break;
    case KILN_DTYPE_INT32:
        if (!kiln_cu_unary_int_op(node->op)) goto unsupported;
        kiln_cu_unary_int_kernel<int32_t, uint32_t>
            <<<blocks, KILN_CU_THREADS, 0, st>>>((const int32_t *)x, (int32_t *)y, n, op);
        break;
    case KILN_DTYPE_INT64:
        if (!kiln_cu_unary_int_op(node->op)) goto unsupported;
        kiln_cu_unary_int_kernel<int64_t, uint64_t>
            <<<blocks, KILN_CU_THREADS, 0, st>>>((const int64_t *)x, (int64_t *)y, n, op);
        break;
    case KILN_DTYPE_BOOL:
        if (node->op != KILN_OP_Not) goto unsupported;
        kiln_cu_not_kernel<<<blocks, KILN_CU_THREADS, 0, st>>>((const uint8_t *)x, (uint8_t *)y, n);
        break;
    default:
    unsupported:
        return kiln_node_error(KILN_ERR_UNSUPPORTED, node, "dtype %s not supported on CUDA",
                               kiln_dtype_name(in[0].dtype));
    }
    return kiln_cuda_check_launch(node, "kiln_cu_unary");
}
