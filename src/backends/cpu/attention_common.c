/* Attention family: dtype conversion and scratch helpers shared by its kernels. */
#include "backends/cpu/attention_common.h"

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#include <immintrin.h>

__attribute__((target("avx"))) static void attn_zeroupper(void) {
    _mm256_zeroupper();
}

void kiln_attn_clear_avx_state(void) {
    if (__builtin_cpu_supports("avx")) attn_zeroupper();
}
#else
void kiln_attn_clear_avx_state(void) {}
#endif

void kiln_attn_to_f32(kiln_dtype dtype, const void *src, int64_t at, float *dst, int64_t count) {
    switch (dtype) {
    case KILN_DTYPE_FLOAT32: {
        const float *s = (const float *)src + at;
        for (int64_t i = 0; i < count; i++) dst[i] = s[i];
        return;
    }
    case KILN_DTYPE_FLOAT16: {
        const uint16_t *s = (const uint16_t *)src + at;
        for (int64_t i = 0; i < count; i++) dst[i] = kiln_half_to_float(s[i]);
        return;
    }
    case KILN_DTYPE_BFLOAT16: {
        const uint16_t *s = (const uint16_t *)src + at;
        for (int64_t i = 0; i < count; i++) dst[i] = kiln_bf16_to_float(s[i]);
        return;
    }
    default: {
        kiln_tview t = {.dtype = dtype, .data = (void *)(uintptr_t)src};
        for (int64_t i = 0; i < count; i++) dst[i] = (float)kiln_tview_get_double(&t, at + i);
        return;
    }
    }
}

void kiln_attn_to_f64(kiln_dtype dtype, const void *src, int64_t at, double *dst, int64_t count) {
    if (dtype == KILN_DTYPE_FLOAT64) {
        const double *s = (const double *)src + at;
        for (int64_t i = 0; i < count; i++) dst[i] = s[i];
        return;
    }
    kiln_tview t = {.dtype = dtype, .data = (void *)(uintptr_t)src};
    for (int64_t i = 0; i < count; i++) dst[i] = kiln_tview_get_double(&t, at + i);
}

void kiln_attn_from_f32(kiln_dtype dtype, const float *src, void *dst, int64_t at, int64_t count) {
    switch (dtype) {
    case KILN_DTYPE_FLOAT32: {
        float *d = (float *)dst + at;
        for (int64_t i = 0; i < count; i++) d[i] = src[i];
        return;
    }
    case KILN_DTYPE_FLOAT16: {
        uint16_t *d = (uint16_t *)dst + at;
        for (int64_t i = 0; i < count; i++) d[i] = kiln_float_to_half(src[i]);
        return;
    }
    case KILN_DTYPE_BFLOAT16: {
        uint16_t *d = (uint16_t *)dst + at;
        for (int64_t i = 0; i < count; i++) d[i] = kiln_float_to_bf16(src[i]);
        return;
    }
    default: {
        kiln_tview t = {.dtype = dtype, .data = dst};
        for (int64_t i = 0; i < count; i++) kiln_tview_set_double(&t, at + i, src[i]);
        return;
    }
    }
}

void kiln_attn_from_f64(kiln_dtype dtype, const double *src, void *dst, int64_t at, int64_t count) {
    if (dtype == KILN_DTYPE_FLOAT64) {
        double *d = (double *)dst + at;
        for (int64_t i = 0; i < count; i++) d[i] = src[i];
        return;
    }
    kiln_tview t = {.dtype = dtype, .data = dst};
    for (int64_t i = 0; i < count; i++) kiln_tview_set_double(&t, at + i, src[i]);
}

kiln_status kiln_attn_scratch(kiln_cpu_ctx *ctx, const kiln_node *node, size_t bytes,
                              char **cursor) {
    *cursor = kiln_cpu_scratch(ctx, bytes ? bytes : 64);
    if (!*cursor)
        return kiln_node_error(KILN_ERR_OUT_OF_MEMORY, node, "out of memory (%zu bytes of scratch)",
                               bytes);
    return KILN_OK;
}
