/*
 * Helpers private to the tensor family's CPU kernels. These ops move data, so they work
 * byte-wise by element size: one strided-copy engine serves Transpose, Slice, Expand,
 * Tile, Concat, Split and Depth/SpaceToDepth for every dtype.
 */
#ifndef KILN_CPU_TENSOR_COMMON_H
#define KILN_CPU_TENSOR_COMMON_H

#include <stddef.h>
#include <string.h>

#include "backends/cpu/cpu_kernel.h"
#include "ir/shape_tensor.h"

/* Rank limit of kiln_tensor_copy_strided (Tile views each dim as two). */
#define KILN_TENSOR_COPY_MAX_DIMS (2 * KILN_MAX_DIMS)

/* Bytes of one element; an UNSUPPORTED error for sub-byte, string and undefined dtypes. */
kiln_status kiln_tensor_elem_size(const kiln_node *node, kiln_dtype dtype, size_t *es);

/* Row-major strides of dims, in units of `unit` (bytes per element, or 1). */
void kiln_tensor_strides(int32_t rank, const int64_t *dims, int64_t unit, int64_t *strides);

/* Copies the box `dims` (rank <= KILN_TENSOR_COPY_MAX_DIMS) from src to dst, both addressed
 * with byte strides, which may be 0 (broadcast) for src. Merges contiguous dims, copies
 * contiguous runs with memcpy, tiles 2-D transposes and threads over outer dims. */
void kiln_tensor_copy_strided(kiln_cpu_ctx *ctx, void *dst, const int64_t *dst_strides,
                              const void *src, const int64_t *src_strides, int32_t rank,
                              const int64_t *dims, size_t es);

/* Writes src into dst (same rank) with src's origin at begin[d] in dst (negative: src is
 * cropped); the rest of dst is filled per mode (value: one element for CONSTANT). */
void kiln_tensor_pad(kiln_cpu_ctx *ctx, const kiln_tview *src, kiln_tview *dst,
                     const int64_t *begin, kiln_pad_mode mode, const void *value, size_t es);

/* Fills n elements of es bytes with one value. */
void kiln_tensor_fill(void *dst, int64_t n, const void *value, size_t es);

/* A stable merge sort of idx[0..n) by cmp(cctx, a, b) < 0 meaning a before b; tmp holds n. */
typedef int (*kiln_tensor_cmp_fn)(const void *cctx, int64_t a, int64_t b);
void kiln_tensor_sort(int64_t *idx, int64_t n, kiln_tensor_cmp_fn cmp, const void *cctx,
                      int64_t *tmp);

/* Whether kiln_tensor_order_key handles dtype (numeric types and bool). */
int kiln_tensor_keyable(kiln_dtype dtype);
/* A key whose unsigned order is the numeric order of the element at p (-0 == +0). */
uint64_t kiln_tensor_order_key(kiln_dtype dtype, const void *p);

/* Scatter reductions. */
typedef enum kiln_scatter_reduction {
    KILN_SCATTER_NONE,
    KILN_SCATTER_ADD,
    KILN_SCATTER_MUL,
    KILN_SCATTER_MAX,
    KILN_SCATTER_MIN
} kiln_scatter_reduction;

kiln_status kiln_tensor_reduction(const kiln_node *node, kiln_dtype dtype,
                                  kiln_scatter_reduction *r);
/* dst[i] = reduce(dst[i], src[i]) for n contiguous elements of dtype. */
void kiln_tensor_reduce_into(kiln_dtype dtype, void *dst, const void *src, int64_t n,
                             kiln_scatter_reduction r);

/* Reads element i of an int32 or int64 index tensor. */
static inline int64_t kiln_tensor_index_at(const kiln_tview *t, int64_t i) {
    return t->dtype == KILN_DTYPE_INT32 ? ((const int32_t *)t->data)[i]
                                        : ((const int64_t *)t->data)[i];
}

/* Copies one element of es bytes (constant sizes become single moves). */
static inline void kiln_tensor_copy_elem(void *dst, const void *src, size_t es) {
    switch (es) {
    case 1:
        memcpy(dst, src, 1);
        break;
    case 2:
        memcpy(dst, src, 2);
        break;
    case 4:
        memcpy(dst, src, 4);
        break;
    case 8:
        memcpy(dst, src, 8);
        break;
    default:
        memcpy(dst, src, es);
        break;
    }
}

/* Threads for work of `bytes` bytes: 1 below a threshold where threading does not pay. */
int kiln_tensor_threads(const kiln_cpu_ctx *ctx, int64_t bytes);

#endif
