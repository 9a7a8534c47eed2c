/*
 * Gather on the GPU: data seen as [outer, n, inner] along axis, indices (int32 / int64, on
 * the device) flattened to ni; output [outer, ni, inner]. Negative indices count from the
 * end. An index out of [-n, n) cannot be reported from the device: its run is zero-filled
 * (the CPU kernel reports an error).
 */
#include "backends/cuda/cuda_common.cuh"

extern "C" {
#include "ir/shape_tensor.h"
}

template <typename E, typename I>
__global__ void kiln_cu_gather_kernel(E *__restrict__ dst, const E *__restrict__ src,
                                      const I *__restrict__ idx, int64_t total, int64_t n,
                                      int64_t ni, int64_t inner) {
    KILN_CU_FOR(i, total) {
        int64_t q = i / inner, c = i - q * inner;
        int64_t o = q / ni, j = q - o * ni;
        int64_t v = (int64_t)idx[j];
        if (v < 0) v += n;
        E r = 0;
        if (v >= 0 && v < n) r = src[(o * n + v) * inner + c];
        dst[i] = r;
    }
}

extern "C" int kiln_cuda_supports_gather(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                         const kiln_tview *out, int32_t n_out) {
    (void)node;
    if (n_in < 2 || n_out < 1 || !kiln_cu_elem_size(in[0].dtype)) return 0;
    if (in[1].dtype != KILN_DTYPE_INT32 && in[1].dtype != KILN_DTYPE_INT64) return 0;
    return out[0].dtype == in[0].dtype;
}

template <typename I>
static void kiln_cu_gather_launch(size_t es, void *dst, const void *src, const void *idx,
                                  int64_t total, int64_t n, int64_t ni, int64_t inner,
                                  cudaStream_t st) {
    unsigned blocks = kiln_cu_blocks(total);
    const I *ix = (const I *)idx;
    switch (es) {
    case 1:
        kiln_cu_gather_kernel<uint8_t, I><<<blocks, KILN_CU_THREADS, 0, st>>>(
            (uint8_t *)dst, (const uint8_t *)src, ix, total, n, ni, inner);
        break;
    case 2:
        kiln_cu_gather_kernel<uint16_t, I><<<blocks, KILN_CU_THREADS, 0, st>>>(
            (uint16_t *)dst, (const uint16_t *)src, ix, total, n, ni, inner);
        break;
    case 4:
        kiln_cu_gather_kernel<uint32_t, I><<<blocks, KILN_CU_THREADS, 0, st>>>(
            (uint32_t *)dst, (const uint32_t *)src, ix, total, n, ni, inner);
        break;
    default:
        kiln_cu_gather_kernel<unsigned long long, I><<<blocks, KILN_CU_THREADS, 0, st>>>(
            (unsigned long long *)dst, (const unsigned long long *)src, ix, total, n, ni, inner);
        break;
    }
}

extern "C" kiln_status kiln_cuda_gather(kiln_cuda_ctx *ctx, const kiln_node *node,
                                        const kiln_tview *in, int32_t n_in, kiln_tview *out,
                                        int32_t n_out) {
    (void)n_in, (void)n_out;
    size_t es = kiln_cu_elem_size(in[0].dtype);
    int32_t axis;
    KILN_TRY(kiln_tensor_axis(node, "axis", kiln_attr_int(node, "axis", 0), in[0].rank, &axis));
    int64_t outer = 1, inner = 1, n = in[0].dims[axis];
    for (int32_t i = 0; i < axis; i++) outer *= in[0].dims[i];
    for (int32_t i = axis + 1; i < in[0].rank; i++) inner *= in[0].dims[i];
    int64_t ni = kiln_tview_count(&in[1]);
    int64_t total = outer * ni * inner;
    if (total <= 0) return KILN_OK;
    if (total != kiln_tview_count(&out[0]))
        return kiln_shape_error(node, "output holds %lld elements, expected %lld",
                                (long long)kiln_tview_count(&out[0]), (long long)total);
    cudaStream_t st = kiln_cu_stream(ctx);
    if (in[1].dtype == KILN_DTYPE_INT32)
        kiln_cu_gather_launch<int32_t>(es, out[0].data, in[0].data, in[1].data, total, n, ni, inner,
                                       st);
    else
        kiln_cu_gather_launch<int64_t>(es, out[0].data, in[0].data, in[1].data, total, n, ni, inner,
                                       st);
    return kiln_cuda_check_launch(node, "kiln_cu_gather_kernel");
}
