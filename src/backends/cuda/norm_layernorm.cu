/*
 * LayerNormalization on the GPU (Y only; float32, float16, bfloat16 with Scale and B of the
 * same dtype; statistics in float, two passes: mean, then the mean squared deviation).
 * X is [rows, cols] with cols the dims from `axis` on; one warp per row up to 1024 columns,
 * one block per row beyond. Scale and B broadcast to X's trailing dims (numpy rules); the
 * usual full-size parameters index by column directly.
 */
#include <math.h>

#include "backends/cuda/cuda_common.cuh"

extern "C" {
#include "ir/shape_nn.h"
}

#define KILN_CU_LN_BLOCK 512

/* Scale (input 0 of pb) and bias (input 1, when has_bias) offsets for column j. */
__device__ __forceinline__ void kiln_cu_ln_param_offsets(const kiln_cu_bcast &pb, int64_t j,
                                                         int64_t *off) {
    kiln_cu_bcast_offsets<2>(pb, j, off);
}

template <typename T>
__device__ __forceinline__ void
kiln_cu_ln_row(const T *__restrict__ xr, T *__restrict__ yr, const T *__restrict__ scale,
               const T *__restrict__ bias, const kiln_cu_bcast &pb, int64_t cols, float mean,
               float inv, int64_t j0, int64_t step) {
    for (int64_t j = j0; j < cols; j += step) {
        int64_t off[2];
        kiln_cu_ln_param_offsets(pb, j, off);
        float v = (kiln_cu_ldf(xr[j]) - mean) * inv * kiln_cu_ldf(scale[off[0]]);
        if (bias) v += kiln_cu_ldf(bias[off[1]]);
        yr[j] = kiln_cu_stf<T>(v);
    }
}

template <typename T>
__global__ void kiln_cu_ln_warp_kernel(const T *__restrict__ x, T *__restrict__ y,
                                       const T *__restrict__ scale, const T *__restrict__ bias,
                                       kiln_cu_bcast pb, int64_t rows, int64_t cols, float eps) {
    int lane = threadIdx.x & 31;
    int64_t warp = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    int64_t nwarps = ((int64_t)gridDim.x * blockDim.x) >> 5;
    for (int64_t r = warp; r < rows; r += nwarps) {
        const T *xr = x + r * cols;
        float sum = 0.0f;
        for (int64_t j = lane; j < cols; j += 32) sum += kiln_cu_ldf(xr[j]);
        float mean = kiln_cu_warp_reduce(sum, kiln_cu_add_op()) / (float)cols;
        float sq = 0.0f;
        for (int64_t j = lane; j < cols; j += 32) {
            float d = kiln_cu_ldf(xr[j]) - mean;
            sq += d * d;
        }
        float var = kiln_cu_warp_reduce(sq, kiln_cu_add_op()) / (float)cols;
        float inv = 1.0f / sqrtf(var + eps);
        kiln_cu_ln_row<T>(xr, y + r * cols, scale, bias, pb, cols, mean, inv, lane, 32);
    }
}

template <typename T>
__global__ void kiln_cu_ln_block_kernel(const T *__restrict__ x, T *__restrict__ y,
                                        const T *__restrict__ scale, const T *__restrict__ bias,
                                        kiln_cu_bcast pb, int64_t rows, int64_t cols, float eps) {
    for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
        const T *xr = x + r * cols;
        float sum = 0.0f;
        for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) sum += kiln_cu_ldf(xr[j]);
        float mean = kiln_cu_block_reduce(sum, kiln_cu_add_op(), 0.0f) / (float)cols;
        float sq = 0.0f;
        for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) {
            float d = kiln_cu_ldf(xr[j]) - mean;
            sq += d * d;
        }
        float var = kiln_cu_block_reduce(sq, kiln_cu_add_op(), 0.0f) / (float)cols;
        float inv = 1.0f / sqrtf(var + eps);
        kiln_cu_ln_row<T>(xr, y + r * cols, scale, bias, pb, cols, mean, inv, threadIdx.x,
                          blockDim.x);
    }
}

template <typename T>
static void kiln_cu_ln_launch(const void *x, void *y, const void *scale, const void *bias,
                              const kiln_cu_bcast *pb, int64_t rows, int64_t cols, float eps,
                              cudaStream_t st) {
    if (cols <= 1024) {
        kiln_cu_ln_warp_kernel<T><<<kiln_cu_blocks(rows * 32), KILN_CU_THREADS, 0, st>>>(
            (const T *)x, (T *)y, (const T *)scale, (const T *)bias, *pb, rows, cols, eps);
    } else {
        unsigned blocks = rows < KILN_CU_MAX_BLOCKS ? (unsigned)rows : KILN_CU_MAX_BLOCKS;
        kiln_cu_ln_block_kernel<T><<<blocks, KILN_CU_LN_BLOCK, 0, st>>>(
            (const T *)x, (T *)y, (const T *)scale, (const T *)bias, *pb, rows, cols, eps);
    }
}

/* X float32 / float16 / bfloat16; Scale and B of X's dtype; only the Y output. */
extern "C" int kiln_cuda_supports_layernorm(const kiln_node *node, const kiln_tview *in,
                                            int32_t n_in, const kiln_tview *out, int32_t n_out) {
    (void)node;
    if (n_in < 2 || n_out < 1) return 0;
    kiln_dtype t = in[0].dtype;
    if (!kiln_cu_is_float(t) || in[1].dtype != t || out[0].dtype != t) return 0;
    if (n_in > 2 && kiln_tview_present(&in[2]) && in[2].dtype != t) return 0;
    for (int32_t i = 1; i < n_out; i++)
        if (kiln_tview_present(&out[i])) return 0;
    return 1;
}

extern "C" kiln_status kiln_cuda_layernorm(kiln_cuda_ctx *ctx, const kiln_node *node,
                                           const kiln_tview *in, int32_t n_in, kiln_tview *out,
                                           int32_t n_out) {
    (void)n_out;
    const kiln_tview *x = &in[0], *scale = &in[1];
    const kiln_tview *bias = n_in > 2 && kiln_tview_present(&in[2]) ? &in[2] : NULL;
    int32_t axis = x->rank ? kiln_nn_axis(kiln_attr_int(node, "axis", -1), x->rank) : 0;
    if (axis < 0) return kiln_shape_error(node, "axis out of range");
    float eps = kiln_attr_float(node, "epsilon", 1e-5f);
    int64_t rows = 1, cols = 1;
    for (int32_t i = 0; i < x->rank; i++) *(i < axis ? &rows : &cols) *= x->dims[i];
    if (rows * cols == 0) return KILN_OK;
    /* Scale and B broadcast against the normalized shape X[axis:]; extra leading dims of
     * theirs must be 1 */
    kiln_tview norm;
    memset(&norm, 0, sizeof norm);
    norm.dtype = x->dtype;
    norm.rank = x->rank - axis;
    for (int32_t i = 0; i < norm.rank; i++) norm.dims[i] = x->dims[axis + i];
    kiln_tview params[2];
    const kiln_tview *pp[2] = {&params[0], &params[1]};
    for (int32_t k = 0; k < 2; k++) {
        const kiln_tview *p = k == 0 ? scale : (bias ? bias : scale);
        params[k] = *p;
        int32_t extra = p->rank - norm.rank;
        for (int32_t i = 0; i < extra; i++)
            if (p->dims[i] != 1) return kiln_shape_error(node, "parameter does not broadcast");
        if (extra > 0) {
            params[k].rank = norm.rank;
            for (int32_t i = 0; i < norm.rank; i++) params[k].dims[i] = p->dims[extra + i];
        }
    }
    kiln_cu_bcast pb;
    if (!kiln_cu_bcast_init(&pb, &norm, pp, 2))
        return kiln_shape_error(node, "parameter does not broadcast");
    const void *bd = bias ? bias->data : NULL;
    cudaStream_t st = kiln_cu_stream(ctx);
    switch (x->dtype) {
    case KILN_DTYPE_FLOAT32:
        kiln_cu_ln_launch<float>(x->data, out[0].data, scale->data, bd, &pb, rows, cols, eps, st);
        break;
    case KILN_DTYPE_FLOAT16:
        kiln_cu_ln_launch<__half>(x->data, out[0].data, scale->data, bd, &pb, rows, cols, eps, st);
        break;
    case KILN_DTYPE_BFLOAT16:
        kiln_cu_ln_launch<__nv_bfloat16>(x->data, out[0].data, scale->data, bd, &pb, rows, cols,
                                         eps, st);
        break;
    default:
        return kiln_node_error(KILN_ERR_UNSUPPORTED, node, "dtype %s not supported on CUDA",
                               kiln_dtype_name(x->dtype));
    }
    return kiln_cuda_check_launch(node, "kiln_cu_layernorm");
}
