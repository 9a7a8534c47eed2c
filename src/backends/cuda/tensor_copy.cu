/*
 * Data movement on the GPU: the shared strided-copy and 2-D copy launchers, and the ops
 * that are one strided copy (Transpose, Slice, Expand), a modular one (Tile) or a plain
 * copy of the bytes (Reshape, Flatten, Squeeze, Unsqueeze). Kernels work by element size,
 * so every byte-sized dtype is served.
 */
#include "backends/cuda/cuda_common.cuh"

extern "C" {
#include "ir/shape_tensor.h"
}

/* ---------------------------------------------------------------- engines ---------- */

template <typename E>
__global__ void kiln_cu_strided_kernel(E *__restrict__ dst, const E *__restrict__ src,
                                       kiln_cu_strided s) {
    if (s.rank == 1) {
        KILN_CU_FOR(i, s.count) dst[i] = src[s.base + i * s.strides[0]];
        return;
    }
    KILN_CU_FOR(i, s.count) {
        dst[i] = src[s.base + kiln_cu_box_offset(i, s.rank, s.count, s.dims, s.strides)];
    }
}

kiln_status kiln_cu_copy_bytes(kiln_cuda_ctx *ctx, const kiln_node *node, void *dst,
                               const void *src, size_t bytes) {
    if (!bytes || dst == src) return KILN_OK;
    return kiln_cuda_check(
        node, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, kiln_cu_stream(ctx)),
        "cudaMemcpyAsync (device to device)");
}

kiln_status kiln_cu_strided_copy(kiln_cuda_ctx *ctx, const kiln_node *node, void *dst,
                                 const void *src, const kiln_cu_strided *s, size_t es) {
    if (s->count <= 0) return KILN_OK;
    if (s->rank == 1 && s->strides[0] == 1)
        return kiln_cu_copy_bytes(ctx, node, dst, (const char *)src + s->base * (int64_t)es,
                                  (size_t)s->count * es);
    cudaStream_t st = kiln_cu_stream(ctx);
    unsigned blocks = kiln_cu_blocks(s->count);
    switch (es) {
    case 1:
        kiln_cu_strided_kernel<uint8_t>
            <<<blocks, KILN_CU_THREADS, 0, st>>>((uint8_t *)dst, (const uint8_t *)src, *s);
        break;
    case 2:
        kiln_cu_strided_kernel<uint16_t>
            <<<blocks, KILN_CU_THREADS, 0, st>>>((uint16_t *)dst, (const uint16_t *)src, *s);
        break;
    case 4:
        kiln_cu_strided_kernel<uint32_t>
            <<<blocks, KILN_CU_THREADS, 0, st>>>((uint32_t *)dst, (const uint32_t *)src, *s);
        break;
    case 8:
        kiln_cu_strided_kernel<unsigned long long><<<blocks, KILN_CU_THREADS, 0, st>>>(
            (unsigned long long *)dst, (const unsigned long long *)src, *s);
        break;
    default:
        return kiln_node_error(KILN_ERR_UNSUPPORTED, node, "element size %zu not supported", es);
    }
    return kiln_cuda_check_launch(node, "kiln_cu_strided_kernel");
}

template <typename E>
__global__ void kiln_cu_copy2d_kernel(E *__restrict__ dst, int64_t dp, const E *__restrict__ src,
                                      int64_t sp, int64_t rows, int64_t cols) {
    KILN_CU_FOR(i, rows * cols) {
        int64_t r = i / cols, c = i - r * cols;
        dst[r * dp + c] = src[r * sp + c];
    }
}

kiln_status kiln_cu_copy_2d(kiln_cuda_ctx *ctx, const kiln_node *node, void *dst, int64_t dst_pitch,
                            const void *src, int64_t src_pitch, int64_t rows, int64_t cols,
                            size_t es) {
    if (rows <= 0 || cols <= 0) return KILN_OK;
    if (rows == 1 || (dst_pitch == cols && src_pitch == cols))
        return kiln_cu_copy_bytes(ctx, node, dst, src, (size_t)(rows * cols) * es);
    /* the widest unit (up to 16 bytes) dividing the row, both pitches and both addresses;
     * everything below is in those units */
    size_t w = 16;
    while (w > 1 && (((size_t)cols * es) % w || ((size_t)dst_pitch * es) % w ||
                     ((size_t)src_pitch * es) % w || (uintptr_t)dst % w || (uintptr_t)src % w))
        w /= 2;
    int64_t c = cols * (int64_t)es / (int64_t)w;
    int64_t dp = dst_pitch * (int64_t)es / (int64_t)w, sp = src_pitch * (int64_t)es / (int64_t)w;
    cudaStream_t st = kiln_cu_stream(ctx);
    unsigned blocks = kiln_cu_blocks(rows * c);
    switch (w) {
    case 1:
        kiln_cu_copy2d_kernel<uint8_t><<<blocks, KILN_CU_THREADS, 0, st>>>(
            (uint8_t *)dst, dp, (const uint8_t *)src, sp, rows, c);
        break;
    case 2:
        kiln_cu_copy2d_kernel<uint16_t><<<blocks, KILN_CU_THREADS, 0, st>>>(
            (uint16_t *)dst, dp, (const uint16_t *)src, sp, rows, c);
        break;
    case 4:
        kiln_cu_copy2d_kernel<uint32_t><<<blocks, KILN_CU_THREADS, 0, st>>>(
            (uint32_t *)dst, dp, (const uint32_t *)src, sp, rows, c);
        break;
    case 8:
        kiln_cu_copy2d_kernel<unsigned long long><<<blocks, KILN_CU_THREADS, 0, st>>>(
            (unsigned long long *)dst, dp, (const unsigned long long *)src, sp, rows, c);
        break;
    default:
        kiln_cu_copy2d_kernel<uint4>
            <<<blocks, KILN_CU_THREADS, 0, st>>>((uint4 *)dst, dp, (const uint4 *)src, sp, rows, c);
        break;
    }
    return kiln_cuda_check_launch(node, "kiln_cu_copy2d_kernel");
}

/* ---------------------------------------------------------------- ops -------------- */

/* Any byte-sized dtype in and out, the same. */
extern "C" int kiln_cuda_supports_copy(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                       const kiln_tview *out, int32_t n_out) {
    (void)node;
    if (n_in < 1 || n_out < 1 || !kiln_cu_elem_size(in[0].dtype)) return 0;
    return out[0].dtype == in[0].dtype;
}

/* Reshape, Flatten, Squeeze, Unsqueeze: the bytes unchanged. */
extern "C" kiln_status kiln_cuda_reshape(kiln_cuda_ctx *ctx, const kiln_node *node,
                                         const kiln_tview *in, int32_t n_in, kiln_tview *out,
                                         int32_t n_out) {
    (void)n_in, (void)n_out;
    size_t es = kiln_cu_elem_size(in[0].dtype);
    int64_t n = kiln_tview_count(&out[0]);
    if (n != kiln_tview_count(&in[0]))
        return kiln_shape_error(node, "output holds %lld elements, input %lld", (long long)n,
                                (long long)kiln_tview_count(&in[0]));
    if (n <= 0) return KILN_OK;
    return kiln_cu_copy_bytes(ctx, node, out[0].data, in[0].data, (size_t)n * es);
}

extern "C" kiln_status kiln_cuda_transpose(kiln_cuda_ctx *ctx, const kiln_node *node,
                                           const kiln_tview *in, int32_t n_in, kiln_tview *out,
                                           int32_t n_out) {
    (void)n_in, (void)n_out;
    size_t es = kiln_cu_elem_size(in[0].dtype);
    int32_t rank = in[0].rank, np = 0;
    const int64_t *perm = kiln_attr_ints(node, "perm", &np);
    if (perm && np != rank)
        return kiln_shape_error(node, "perm has %d values for rank %d", (int)np, (int)rank);
    if (kiln_tview_count(&out[0]) <= 0) return KILN_OK;
    int64_t ist[KILN_MAX_DIMS], ss[KILN_MAX_DIMS];
    kiln_cu_dense_strides(rank, in[0].dims, ist);
    for (int32_t i = 0; i < rank; i++) {
        int64_t p = perm ? perm[i] : rank - 1 - i;
        if (p < 0) p += rank;
        if (p < 0 || p >= rank) return kiln_shape_error(node, "perm value out of range");
        ss[i] = ist[p];
    }
    kiln_cu_strided s;
    kiln_cu_strided_init(&s, rank, out[0].dims, ss, 0);
    return kiln_cu_strided_copy(ctx, node, out[0].data, in[0].data, &s, es);
}

extern "C" kiln_status kiln_cuda_slice(kiln_cuda_ctx *ctx, const kiln_node *node,
                                       const kiln_tview *in, int32_t n_in, kiln_tview *out,
                                       int32_t n_out) {
    (void)n_out;
    size_t es = kiln_cu_elem_size(in[0].dtype);
    kiln_slice_params p;
    int known = 1;
    int32_t rank = in[0].rank;
    KILN_TRY(kiln_tensor_slice_params(node, in, n_in, &p, &known));
    if (!known) return kiln_shape_error(node, "slice parameters are not known at run time");
    int64_t ist[KILN_MAX_DIMS], ss[KILN_MAX_DIMS];
    kiln_cu_dense_strides(rank, in[0].dims, ist);
    int64_t base = 0;
    for (int32_t d = 0; d < rank; d++) {
        if (p.count[d] != out[0].dims[d])
            return kiln_shape_error(node, "output dim %d is %lld, expected %lld", (int)d,
                                    (long long)out[0].dims[d], (long long)p.count[d]);
        ss[d] = p.step[d] * ist[d];
        if (p.count[d] > 0) base += p.start[d] * ist[d];
    }
    if (kiln_tview_count(&out[0]) <= 0) return KILN_OK;
    kiln_cu_strided s;
    kiln_cu_strided_init(&s, rank, out[0].dims, ss, base);
    return kiln_cu_strided_copy(ctx, node, out[0].data, in[0].data, &s, es);
}

extern "C" kiln_status kiln_cuda_expand(kiln_cuda_ctx *ctx, const kiln_node *node,
                                        const kiln_tview *in, int32_t n_in, kiln_tview *out,
                                        int32_t n_out) {
    (void)n_in, (void)n_out;
    size_t es = kiln_cu_elem_size(in[0].dtype);
    int32_t r = out[0].rank, ri = in[0].rank;
    if (ri > r) return kiln_shape_error(node, "input rank %d exceeds output rank %d", ri, r);
    int64_t ist[KILN_MAX_DIMS], ss[KILN_MAX_DIMS];
    kiln_cu_dense_strides(ri, in[0].dims, ist);
    for (int32_t i = 0; i < r; i++) {
        int32_t j = i - (r - ri);
        if (j >= 0 && in[0].dims[j] != 1 && in[0].dims[j] != out[0].dims[i])
            return kiln_shape_error(node, "input dim %d (%lld) does not broadcast to %lld", (int)j,
                                    (long long)in[0].dims[j], (long long)out[0].dims[i]);
        ss[i] = (j < 0 || in[0].dims[j] == 1) ? 0 : ist[j];
    }
    if (kiln_tview_count(&out[0]) <= 0) return KILN_OK;
    kiln_cu_strided s;
    kiln_cu_strided_init(&s, r, out[0].dims, ss, 0);
    return kiln_cu_strided_copy(ctx, node, out[0].data, in[0].data, &s, es);
}

/* Tile: output index o_d reads input index o_d mod in_d. */
typedef struct kiln_cu_tile {
    int32_t rank;
    int64_t count;
    int64_t odims[KILN_MAX_DIMS], idims[KILN_MAX_DIMS], istrides[KILN_MAX_DIMS];
} kiln_cu_tile;

template <typename E>
__global__ void kiln_cu_tile_kernel(E *__restrict__ dst, const E *__restrict__ src,
                                    kiln_cu_tile t) {
    KILN_CU_FOR(i, t.count) {
        int64_t off = 0, j = i;
#pragma unroll
        for (int d = KILN_MAX_DIMS - 1; d >= 0; d--) {
            if (d >= t.rank) continue;
            int64_t q = j / t.odims[d];
            off += ((j - q * t.odims[d]) % t.idims[d]) * t.istrides[d];
            j = q;
        }
        dst[i] = src[off];
    }
}

extern "C" kiln_status kiln_cuda_tile(kiln_cuda_ctx *ctx, const kiln_node *node,
                                      const kiln_tview *in, int32_t n_in, kiln_tview *out,
                                      int32_t n_out) {
    (void)n_in, (void)n_out;
    size_t es = kiln_cu_elem_size(in[0].dtype);
    int32_t r = in[0].rank;
    if (out[0].rank != r) return kiln_shape_error(node, "output rank differs from input rank");
    if (kiln_tview_count(&out[0]) <= 0) return KILN_OK;
    kiln_cu_tile t;
    memset(&t, 0, sizeof t);
    int64_t ist[KILN_MAX_DIMS];
    kiln_cu_dense_strides(r, in[0].dims, ist);
    t.count = 1;
    for (int32_t i = 0; i < r; i++) {
        if (in[0].dims[i] <= 0 || out[0].dims[i] % in[0].dims[i])
            return kiln_shape_error(node, "output dim %d is not a multiple of the input's", (int)i);
        t.count *= out[0].dims[i];
        /* dims of size 1 in the output add nothing: skip them */
        if (out[0].dims[i] == 1) continue;
        t.odims[t.rank] = out[0].dims[i];
        t.idims[t.rank] = in[0].dims[i];
        t.istrides[t.rank] = ist[i];
        t.rank++;
    }
    if (t.rank == 0) return kiln_cu_copy_bytes(ctx, node, out[0].data, in[0].data, es);
    cudaStream_t st = kiln_cu_stream(ctx);
    unsigned blocks = kiln_cu_blocks(t.count);
    switch (es) {
    case 1:
        kiln_cu_tile_kernel<uint8_t><<<blocks, KILN_CU_THREADS, 0, st>>>(
            (uint8_t *)out[0].data, (const uint8_t *)in[0].data, t);
        break;
    case 2:
        kiln_cu_tile_kernel<uint16_t><<<blocks, KILN_CU_THREADS, 0, st>>>(
            (uint16_t *)out[0].data, (const uint16_t *)in[0].data, t);
        break;
    case 4:
        kiln_cu_tile_kernel<uint32_t><<<blocks, KILN_CU_THREADS, 0, st>>>(
            (uint32_t *)out[0].data, (const uint32_t *)in[0].data, t);
        break;
    default:
        kiln_cu_tile_kernel<unsigned long long><<<blocks, KILN_CU_THREADS, 0, st>>>(
            (unsigned long long *)out[0].data, (const unsigned long long *)in[0].data, t);
        break;
    }
    return kiln_cuda_check_launch(node, "kiln_cu_tile_kernel");
}
