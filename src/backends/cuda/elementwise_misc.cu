/*
 * Clip, Identity and Dropout (inference) on the GPU.
 *
 * Clip: bounds from the min/max attributes before opset 11 (floats only), from the
 * optional scalar inputs 1 and 2 since (host inputs, read here); a missing bound does not
 * clip; NaN passes through; min > max gives max (numpy's clip).
 */
#include <float.h>

#include "backends/cuda/cuda_common.cuh"

template <typename T>
__global__ void kiln_cu_clip_float_kernel(const T *__restrict__ x, T *__restrict__ y, int64_t n,
                                          float lo, float hi) {
    KILN_CU_FOR(i, n) {
        float v = kiln_cu_ldf(x[i]);
        v = v < lo ? lo : v;
        y[i] = kiln_cu_stf<T>(v > hi ? hi : v);
    }
}

template <typename T>
__global__ void kiln_cu_clip_int_kernel(const T *__restrict__ x, T *__restrict__ y, int64_t n,
                                        int64_t lo, int64_t hi) {
    KILN_CU_FOR(i, n) {
        int64_t v = (int64_t)x[i];
        v = v < lo ? lo : v;
        y[i] = (T)(v > hi ? hi : v);
    }
}

static int kiln_cu_clip_int_dtype(kiln_dtype t) {
    return t == KILN_DTYPE_INT32 || t == KILN_DTYPE_INT64 || t == KILN_DTYPE_INT8 ||
           t == KILN_DTYPE_UINT8;
}

/* Floats at every opset; int8/uint8/int32/int64 from opset 11; bounds of the input's dtype. */
extern "C" int kiln_cuda_supports_clip(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                       const kiln_tview *out, int32_t n_out) {
    if (n_in < 1 || n_out < 1) return 0;
    kiln_dtype t = in[0].dtype;
    if (out[0].dtype != t) return 0;
    if (node->opset < 11) return kiln_cu_is_float(t);
    for (int32_t k = 1; k < 3 && k < n_in; k++)
        if (kiln_tview_present(&in[k]) && in[k].dtype != t) return 0;
    return kiln_cu_is_float(t) || kiln_cu_clip_int_dtype(t);
}

extern "C" kiln_status kiln_cuda_clip(kiln_cuda_ctx *ctx, const kiln_node *node,
                                      const kiln_tview *in, int32_t n_in, kiln_tview *out,
                                      int32_t n_out) {
    (void)n_out;
    kiln_dtype t = in[0].dtype;
    int64_t n = kiln_tview_count(&out[0]);
    if (n != kiln_tview_count(&in[0]))
        return kiln_shape_error(node, "output holds %lld elements, input %lld", (long long)n,
                                (long long)kiln_tview_count(&in[0]));
    int is_float = kiln_cu_is_float(t);
    float flo = -INFINITY, fhi = INFINITY;
    int64_t ilo = INT64_MIN, ihi = INT64_MAX;
    if (node->opset < 11) {
        if (!is_float)
            return kiln_node_error(KILN_ERR_UNSUPPORTED, node,
                                   "dtype %s not supported before opset 11", kiln_dtype_name(t));
        flo = kiln_attr_float(node, "min", -FLT_MAX);
        fhi = kiln_attr_float(node, "max", FLT_MAX);
    } else {
        for (int32_t k = 1; k < 3 && k < n_in; k++) {
            if (!kiln_tview_present(&in[k])) continue;
            if (in[k].dtype != t || kiln_tview_count(&in[k]) < 1 || !in[k].data)
                return kiln_node_error(KILN_ERR_INVALID_ARGUMENT, node,
                                       "bound %d must be a scalar of dtype %s", (int)k,
                                       kiln_dtype_name(t));
            if (is_float)
                *(k == 1 ? &flo : &fhi) = (float)kiln_tview_get_double(&in[k], 0);
            else
                *(k == 1 ? &ilo : &ihi) = kiln_tview_get_int(&in[k], 0);
        }
    }
    if (n <= 0) return KILN_OK;
    cudaStream_t st = kiln_cu_stream(ctx);
    unsigned blocks = kiln_cu_blocks(n);
    const void *x = in[0].data;
    void *y = out[0].data;
    switch (t) {
    case KILN_DTYPE_FLOAT32:
        kiln_cu_clip_float_kernel<float>
            <<<blocks, KILN_CU_THREADS, 0, st>>>((const float *)x, (float *)y, n, flo, fhi);
        break;
    case KILN_DTYPE_FLOAT16:
        kiln_cu_clip_float_kernel<__half>
            <<<blocks, KILN_CU_THREADS, 0, st>>>((const __half *)x, (__half *)y, n, flo, fhi);
        break;
    case KILN_DTYPE_BFLOAT16:
        kiln_cu_clip_float_kernel<__nv_bfloat16><<<blocks, KILN_CU_THREADS, 0, st>>>(
            (const __nv_bfloat16 *)x, (__nv_bfloat16 *)y, n, flo, fhi);
        break;
    case KILN_DTYPE_INT8:
        kiln_cu_clip_int_kernel<int8_t>
            <<<blocks, KILN_CU_THREADS, 0, st>>>((const int8_t *)x, (int8_t *)y, n, ilo, ihi);
        break;
    case KILN_DTYPE_UINT8:
        kiln_cu_clip_int_kernel<uint8_t>
            <<<blocks, KILN_CU_THREADS, 0, st>>>((const uint8_t *)x, (uint8_t *)y, n, ilo, ihi);
        break;
    case KILN_DTYPE_INT32:
        kiln_cu_clip_int_kernel<int32_t>
            <<<blocks, KILN_CU_THREADS, 0, st>>>((const int32_t *)x, (int32_t *)y, n, ilo, ihi);
        break;
    case KILN_DTYPE_INT64:
        kiln_cu_clip_int_kernel<int64_t>
            <<<blocks, KILN_CU_THREADS, 0, st>>>((const int64_t *)x, (int64_t *)y, n, ilo, ihi);
        break;
    default:
        return kiln_node_error(KILN_ERR_UNSUPPORTED, node, "dtype %s not supported on CUDA",
                               kiln_dtype_name(t));
    }
    return kiln_cuda_check_launch(node, "kiln_cu_clip_kernel");
}

/* ---------------------------------------------------------------- Identity --------- */

extern "C" kiln_status kiln_cuda_identity(kiln_cuda_ctx *ctx, const kiln_node *node,
                                          const kiln_tview *in, int32_t n_in, kiln_tview *out,
                                          int32_t n_out) {
    (void)n_in, (void)n_out;
    int64_t n = kiln_tview_count(&in[0]);
    if (n != kiln_tview_count(&out[0]))
        return kiln_shape_error(node, "output holds %lld elements, input %lld",
                                (long long)kiln_tview_count(&out[0]), (long long)n);
    if (n <= 0) return KILN_OK;
    return kiln_cu_copy_bytes(ctx, node, out[0].data, in[0].data,
                              (size_t)n * kiln_cu_elem_size(in[0].dtype));
}

/* ---------------------------------------------------------------- Dropout ---------- */

template <typename T> __global__ void kiln_cu_fill_one_kernel(T *y, int64_t n) {
    KILN_CU_FOR(i, n) y[i] = kiln_cu_stf<T>(1.0f);
}

/* Inference only: a training_mode input (opset 12+) leaves the node to the CPU, which
 * decides from its value. Data of a byte-sized dtype; mask bool (float before opset 10). */
extern "C" int kiln_cuda_supports_dropout(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                          const kiln_tview *out, int32_t n_out) {
    if (n_in < 1 || n_out < 1 || !kiln_cu_elem_size(in[0].dtype) || out[0].dtype != in[0].dtype)
        return 0;
    if (node->opset >= 12 && n_in > 2 && kiln_tview_present(&in[2])) return 0;
    if (n_out > 1 && kiln_tview_present(&out[1]))
        return out[1].dtype == KILN_DTYPE_BOOL || kiln_cu_is_float(out[1].dtype);
    return 1;
}

extern "C" kiln_status kiln_cuda_dropout(kiln_cuda_ctx *ctx, const kiln_node *node,
                                         const kiln_tview *in, int32_t n_in, kiln_tview *out,
                                         int32_t n_out) {
    KILN_TRY(kiln_cuda_identity(ctx, node, in, n_in, out, 1));
    if (n_out < 2 || !kiln_tview_present(&out[1])) return KILN_OK;
    int64_t n = kiln_tview_count(&out[1]);
    if (n <= 0) return KILN_OK;
    cudaStream_t st = kiln_cu_stream(ctx);
    void *m = out[1].data;
    unsigned blocks = kiln_cu_blocks(n);
    switch (out[1].dtype) {
    case KILN_DTYPE_BOOL:
        return kiln_cuda_check(node, cudaMemsetAsync(m, 1, (size_t)n, st), "cudaMemsetAsync");
    case KILN_DTYPE_FLOAT32:
        kiln_cu_fill_one_kernel<float><<<blocks, KILN_CU_THREADS, 0, st>>>((float *)m, n);
        break;
    case KILN_DTYPE_FLOAT16:
        kiln_cu_fill_one_kernel<__half><<<blocks, KILN_CU_THREADS, 0, st>>>((__half *)m, n);
        break;
    case KILN_DTYPE_BFLOAT16:
        kiln_cu_fill_one_kernel<__nv_bfloat16>
            <<<blocks, KILN_CU_THREADS, 0, st>>>((__nv_bfloat16 *)m, n);
        break;
    default:
        return kiln_node_error(KILN_ERR_UNSUPPORTED, node, "mask dtype %s not supported on CUDA",
                               kiln_dtype_name(out[1].dtype));
    }
    return kiln_cuda_check_launch(node, "kiln_cu_fill_one_kernel");
}
