/*
 * Attention family, CPU side: helpers its kernels share. The kernels compute in float
 * (double for float64 tensors): float16/bfloat16 values are widened on the way in and
 * rounded once on the way out.
 */
#ifndef KILN_CPU_ATTENTION_COMMON_H
#define KILN_CPU_ATTENTION_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "backends/cpu/cpu_kernel.h"
#include "ir/shape_attention.h"

#ifdef KILN_HAVE_OPENMP
#define KILN_ATTN_PRAGMA(x) _Pragma(#x)
#else
#define KILN_ATTN_PRAGMA(x)
#endif

/* Converts elements [at, at + count) of a float-type (or integer) buffer to float / double. */
void kiln_attn_to_f32(kiln_dtype dtype, const void *src, int64_t at, float *dst, int64_t count);
void kiln_attn_to_f64(kiln_dtype dtype, const void *src, int64_t at, double *dst, int64_t count);
/* Writes count values into elements [at, at + count) of a float-type buffer (rounding to
 * nearest even for float16/bfloat16). */
void kiln_attn_from_f32(kiln_dtype dtype, const float *src, void *dst, int64_t at, int64_t count);
void kiln_attn_from_f64(kiln_dtype dtype, const double *src, void *dst, int64_t at, int64_t count);

/*
 * Clears the upper halves of the AVX registers (vzeroupper) when the CPU has AVX. The
 * GEMM's AVX2 micro-kernel can return with them dirty (its ragged-tile path), and then
 * every SSE instruction of the softmax that follows pays a state-transition penalty (30x
 * slower exp loops measured); calling this after each GEMM keeps that off our loops.
 */
void kiln_attn_clear_avx_state(void);

/* One scratch allocation carved into 64-byte aligned blocks. */
static inline size_t kiln_attn_align(size_t bytes) {
    return (bytes + 63) & ~(size_t)63;
}
static inline void *kiln_attn_carve(char **cursor, size_t bytes) {
    void *p = *cursor;
    *cursor += kiln_attn_align(bytes);
    return p;
}
/* Scratch of `bytes` (already aligned block sizes summed) into *cursor; an error when out
 * of memory. */
kiln_status kiln_attn_scratch(kiln_cpu_ctx *ctx, const kiln_node *node, size_t bytes,
                              char **cursor);

/* Splits n items into `parts` contiguous ranges: the range of part p is [*lo, *hi). */
static inline void kiln_attn_split(int64_t n, int64_t parts, int64_t p, int64_t *lo, int64_t *hi) {
    *lo = n * p / parts;
    *hi = n * (p + 1) / parts;
}

#endif
