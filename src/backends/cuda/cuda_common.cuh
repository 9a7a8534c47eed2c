/*
 * Helpers private to the CUDA backend's own kernels (elementwise_*.cu, tensor_*.cu,
 * norm_*.cu, reduce_*.cu): C linkage for the C headers, launch shapes and grid-stride
 * loops with 64-bit indices, float16 / bfloat16 loads and stores computing in float, and
 * index math for broadcasting and strided copies over up to KILN_MAX_DIMS dims, passed to
 * kernels by value.
 *
 * Conventions: every launch goes to kiln_cu_stream(ctx) and is followed by
 * kiln_cuda_check_launch; zero-element outputs return KILN_OK without launching; element
 * types are the storage types (float, __half, __nv_bfloat16, int32_t, ..., uint8_t for bool)
 * and half types compute in float, like the CPU kernels.
 */
#ifndef KILN_CUDA_COMMON_CUH
#define KILN_CUDA_COMMON_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <stdint.h>
#include <string.h>

extern "C" {
#include "backends/cuda/cuda_kernel.h"
#include "ir/ir.h"
#include "ir/tview.h"
}

/* ---------------------------------------------------------------- launches --------- */

#define KILN_CU_THREADS    256
#define KILN_CU_MAX_BLOCKS 8192 /* grid-stride loops cover the rest */

/* for (i in [0, n)) over the whole grid, 64-bit */
#define KILN_CU_FOR(i, n)                                                                          \
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (int64_t)(n);             \
         i += (int64_t)blockDim.x * gridDim.x)

static inline unsigned kiln_cu_blocks(int64_t n, int threads = KILN_CU_THREADS) {
    int64_t b = (n + threads - 1) / threads;
    if (b < 1) b = 1;
    if (b > KILN_CU_MAX_BLOCKS) b = KILN_CU_MAX_BLOCKS;
    return (unsigned)b;
}

static inline cudaStream_t kiln_cu_stream(kiln_cuda_ctx *ctx) {
    return (cudaStream_t)kiln_cuda_stream(ctx);
}

/* ---------------------------------------------------------------- dtypes ----------- */

static inline int kiln_cu_is_half(kiln_dtype t) {
    return t == KILN_DTYPE_FLOAT16 || t == KILN_DTYPE_BFLOAT16;
}
/* float32, float16, bfloat16: the float types the math kernels take */
static inline int kiln_cu_is_float(kiln_dtype t) {
    return t == KILN_DTYPE_FLOAT32 || kiln_cu_is_half(t);
}
/* Bytes of one element for dtypes the data-movement kernels copy (1, 2, 4, 8), else 0. */
static inline size_t kiln_cu_elem_size(kiln_dtype t) {
    if (t == KILN_DTYPE_UNDEFINED || t == KILN_DTYPE_STRING || t == KILN_DTYPE_COMPLEX64 ||
        t == KILN_DTYPE_COMPLEX128)
        return 0;
    int32_t bits = kiln_dtype_bits(t);
    return bits == 8 || bits == 16 || bits == 32 || bits == 64 ? (size_t)bits / 8 : 0;
}

/* Storage type T computes as C: half types as float, others as themselves. */
template <typename T> struct kiln_cu_num {
    typedef T C;
    static __device__ __forceinline__ C ld(T v) {
        return v;
    }
    static __device__ __forceinline__ T st(C v) {
        return v;
    }
};
template <> struct kiln_cu_num<__half> {
    typedef float C;
    static __device__ __forceinline__ float ld(__half v) {
        return __half2float(v);
    }
    static __device__ __forceinline__ __half st(float v) {
        return __float2half_rn(v);
    }
};
template <> struct kiln_cu_num<__nv_bfloat16> {
    typedef float C;
    static __device__ __forceinline__ float ld(__nv_bfloat16 v) {
        return __bfloat162float(v);
    }
    static __device__ __forceinline__ __nv_bfloat16 st(float v) {
        return __float2bfloat16_rn(v);
    }
};

template <typename T> __device__ __forceinline__ float kiln_cu_ldf(T v) {
    return (float)kiln_cu_num<T>::ld(v);
}
template <typename T> __device__ __forceinline__ T kiln_cu_stf(float v) {
    return kiln_cu_num<T>::st(v);
}
template <> __device__ __forceinline__ float kiln_cu_stf<float>(float v) {
    return v;
}

/* ---------------------------------------------------------------- reductions ------- */

/* Combiners for the warp / block reductions below. */
struct kiln_cu_add_op {
    template <typename A> __device__ __forceinline__ A operator()(A a, A b) const {
        return a + b;
    }
};
/* max ignoring NaN in b (as fmaxf does for either operand) */
struct kiln_cu_max_op {
    __device__ __forceinline__ float operator()(float a, float b) const {
        return fmaxf(a, b);
    }
};

/* Reduces v over the 32 lanes of a warp (all lanes must call); every lane gets the result. */
template <typename A, typename Op> __device__ __forceinline__ A kiln_cu_warp_reduce(A v, Op op) {
#pragma unroll
    for (int m = 16; m > 0; m >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, m));
    return v;
}

/* Reduces v over the block (blockDim.x a multiple of 32, at most 1024; every thread must
 * call); every thread gets the result. `ident` is the combiner's identity. Safe to call
 * several times in a row. */
template <typename A, typename Op>
__device__ __forceinline__ A kiln_cu_block_reduce(A v, Op op, A ident) {
    __shared__ A kiln_cu_partial[32];
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = (blockDim.x + 31) >> 5;
    v = kiln_cu_warp_reduce(v, op);
    __syncthreads(); /* an earlier call's readers are done with the partials */
    if (lane == 0) kiln_cu_partial[warp] = v;
    __syncthreads();
    v = lane < nwarps ? kiln_cu_partial[lane] : ident;
    return kiln_cu_warp_reduce(v, op);
}

/* ---------------------------------------------------------------- broadcasting ----- */

#define KILN_CU_MAX_IN 3

/* Inputs broadcast to a dense output, dims collapsed where memory allows (rank >= 1). */
typedef struct kiln_cu_bcast {
    int32_t rank, n_in;
    int64_t count; /* output elements */
    int64_t dims[KILN_MAX_DIMS];
    int64_t strides[KILN_CU_MAX_IN][KILN_MAX_DIMS]; /* in elements; 0 on broadcast dims */
} kiln_cu_bcast;

/* Sets up b for output shape `out` and inputs in[0..n_in) (numpy rules, aligned at the last
 * dim). 0 when an input does not broadcast to the output. */
static inline int kiln_cu_bcast_init(kiln_cu_bcast *b, const kiln_tview *out,
                                     const kiln_tview *const *in, int32_t n_in) {
    memset(b, 0, sizeof *b);
    b->n_in = n_in;
    int32_t r = out->rank;
    if (r < 0 || n_in > KILN_CU_MAX_IN) return 0;
    int64_t full[KILN_CU_MAX_IN][KILN_MAX_DIMS];
    for (int32_t k = 0; k < n_in; k++) {
        int32_t ri = in[k]->rank;
        if (ri < 0 || ri > r) return 0;
        int64_t s = 1;
        for (int32_t d = r - 1; d >= 0; d--) {
            int32_t j = d - (r - ri);
            int64_t n = j >= 0 ? in[k]->dims[j] : 1;
            if (n != 1 && n != out->dims[d]) return 0;
            full[k][d] = n == 1 ? 0 : s;
            s *= n;
        }
    }
    /* drop size-1 dims, merge neighbours every input steps through alike */
    int32_t m = 0;
    b->count = 1;
    for (int32_t d = 0; d < r; d++) {
        int64_t n = out->dims[d];
        b->count *= n;
        if (n == 1) continue;
        int merge = m > 0;
        for (int32_t k = 0; merge && k < n_in; k++)
            if (b->strides[k][m - 1] != full[k][d] * n) merge = 0;
        if (merge) {
            b->dims[m - 1] *= n;
            for (int32_t k = 0; k < n_in; k++) b->strides[k][m - 1] = full[k][d];
        } else {
            b->dims[m] = n;
            for (int32_t k = 0; k < n_in; k++) b->strides[k][m] = full[k][d];
            m++;
        }
    }
    if (m == 0) { /* a scalar output */
        b->dims[0] = 1;
        for (int32_t k = 0; k < n_in; k++) b->strides[k][0] = 0;
        m = 1;
    }
    b->rank = m;
    return 1;
}

/* Element offsets of output element i in each input. */
template <int NIN>
__device__ __forceinline__ void kiln_cu_bcast_offsets(const kiln_cu_bcast &b, int64_t i,
                                                      int64_t *off) {
#pragma unroll
    for (int k = 0; k < NIN; k++) off[k] = 0;
    if (b.rank == 1) {
#pragma unroll
        for (int k = 0; k < NIN; k++) off[k] = i * b.strides[k][0];
        return;
    }
    if (b.count <= 0x7fffffff) { /* 32-bit divisions: several times cheaper */
        uint32_t j = (uint32_t)i;
#pragma unroll
        for (int d = KILN_MAX_DIMS - 1; d >= 0; d--) {
            if (d >= b.rank) continue;
            uint32_t n = (uint32_t)b.dims[d], q = j / n, r = j - q * n;
            j = q;
#pragma unroll
            for (int k = 0; k < NIN; k++) off[k] += (int64_t)r * b.strides[k][d];
        }
        return;
    }
#pragma unroll
    for (int d = KILN_MAX_DIMS - 1; d >= 0; d--) {
        if (d >= b.rank) continue;
        int64_t q = i / b.dims[d], r = i - q * b.dims[d];
        i = q;
#pragma unroll
        for (int k = 0; k < NIN; k++) off[k] += r * b.strides[k][d];
    }
}

/* Element offset of dense index i in a box of `rank` dims read at strides (base not added). */
__device__ __forceinline__ int64_t kiln_cu_box_offset(int64_t i, int32_t rank, int64_t count,
                                                      const int64_t *dims, const int64_t *strides) {
    int64_t off = 0;
    if (count <= 0x7fffffff) {
        uint32_t j = (uint32_t)i;
#pragma unroll
        for (int d = KILN_MAX_DIMS - 1; d >= 0; d--) {
            if (d >= rank) continue;
            uint32_t n = (uint32_t)dims[d], q = j / n;
            off += (int64_t)(j - q * n) * strides[d];
            j = q;
        }
        return off;
    }
#pragma unroll
    for (int d = KILN_MAX_DIMS - 1; d >= 0; d--) {
        if (d >= rank) continue;
        int64_t q = i / dims[d];
        off += (i - q * dims[d]) * strides[d];
        i = q;
    }
    return off;
}

/* ---------------------------------------------------------------- strided copies --- */

/* A dense output box `dims` read from src at base + sum(index[d] * strides[d]) elements
 * (strides may be 0 or negative). */
typedef struct kiln_cu_strided {
    int32_t rank;
    int64_t count;
    int64_t base;
    int64_t dims[KILN_MAX_DIMS];
    int64_t strides[KILN_MAX_DIMS];
} kiln_cu_strided;

/* Fills s from a box and source strides (rank <= KILN_MAX_DIMS), collapsing size-1 dims
 * and neighbours that are contiguous in the source. */
static inline void kiln_cu_strided_init(kiln_cu_strided *s, int32_t rank, const int64_t *dims,
                                        const int64_t *src_strides, int64_t base) {
    memset(s, 0, sizeof *s);
    s->base = base;
    s->count = 1;
    int32_t m = 0;
    for (int32_t d = 0; d < rank; d++) {
        int64_t n = dims[d];
        s->count *= n;
        if (n == 1) continue;
        if (m > 0 && s->strides[m - 1] == src_strides[d] * n) {
            s->dims[m - 1] *= n;
            s->strides[m - 1] = src_strides[d];
        } else {
            s->dims[m] = n;
            s->strides[m] = src_strides[d];
            m++;
        }
    }
    if (m == 0) {
        s->dims[0] = 1;
        s->strides[0] = 0;
        m = 1;
    }
    s->rank = m;
}

/* Row-major element strides of a shape. */
static inline void kiln_cu_dense_strides(int32_t rank, const int64_t *dims, int64_t *strides) {
    int64_t s = 1;
    for (int32_t d = rank - 1; d >= 0; d--) {
        strides[d] = s;
        s *= dims[d];
    }
}

/* Shared launchers (tensor_copy.cu). dst is dense; es is the element size (1, 2, 4, 8).
 * Nothing is launched for an empty box. */
kiln_status kiln_cu_strided_copy(kiln_cuda_ctx *ctx, const kiln_node *node, void *dst,
                                 const void *src, const kiln_cu_strided *s, size_t es);
/* Copies rows x cols elements: dst[r * dst_pitch + c] = src[r * src_pitch + c]. */
kiln_status kiln_cu_copy_2d(kiln_cuda_ctx *ctx, const kiln_node *node, void *dst, int64_t dst_pitch,
                            const void *src, int64_t src_pitch, int64_t rows, int64_t cols,
                            size_t es);
/* Copies bytes device to device on the stream, unless dst == src or bytes == 0. */
kiln_status kiln_cu_copy_bytes(kiln_cuda_ctx *ctx, const kiln_node *node, void *dst,
                               const void *src, size_t bytes);

#endif
