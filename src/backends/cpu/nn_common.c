/* NN family, CPU side: dtype conversion and scratch helpers shared by the NN kernels. */
#include "backends/cpu/nn_common.h"

void kiln_nn_to_f32(kiln_dtype dtype, const void *src, float *dst, int64_t count) {
    switch (dtype) {
    case KILN_DTYPE_FLOAT32:
        for (int64_t i = 0; i < count; i++) dst[i] = ((const float *)src)[i];
        return;
    case KILN_DTYPE_FLOAT64:
        for (int64_t i = 0; i < count; i++) dst[i] = (float)((const double *)src)[i];
        return;
    case KILN_DTYPE_FLOAT16:
        for (int64_t i = 0; i < count; i++) dst[i] = kiln_half_to_float(((const uint16_t *)src)[i]);
        return;
    case KILN_DTYPE_BFLOAT16:
        for (int64_t i = 0; i < count; i++) dst[i] = kiln_bf16_to_float(((const uint16_t *)src)[i]);
        return;
    default: {
        kiln_tview t = {.dtype = dtype, .rank = 1, .dims = {count}, .data = (void *)src};
        for (int64_t i = 0; i < count; i++) dst[i] = (float)kiln_tview_get_double(&t, i);
        return;
    }
    }
}

void kiln_nn_from_f32(kiln_dtype dtype, const float *src, void *dst, int64_t count) {
    switch (dtype) {
    case KILN_DTYPE_FLOAT32:
        for (int64_t i = 0; i < count; i++) ((float *)dst)[i] = src[i];
        return;
    case KILN_DTYPE_FLOAT64:
        for (int64_t i = 0; i < count; i++) ((double *)dst)[i] = src[i];
        return;
    case KILN_DTYPE_FLOAT16:
        for (int64_t i = 0; i < count; i++) ((uint16_t *)dst)[i] = kiln_float_to_half(src[i]);
        return;
    case KILN_DTYPE_BFLOAT16:
        for (int64_t i = 0; i < count; i++) ((uint16_t *)dst)[i] = kiln_float_to_bf16(src[i]);
        return;
    default: {
        kiln_tview t = {.dtype = dtype, .rank = 1, .dims = {count}, .data = dst};
        for (int64_t i = 0; i < count; i++) kiln_tview_set_double(&t, i, src[i]);
        return;
    }
    }
}

kiln_status kiln_nn_bad_dtype(const kiln_node *node, kiln_dtype dtype) {
    return kiln_node_error(KILN_ERR_UNSUPPORTED, node, "dtype %s not supported",
                           kiln_dtype_name(dtype));
}

kiln_status kiln_nn_scratch(kiln_cpu_ctx *ctx, const kiln_node *node, size_t bytes, char **out) {
    *out = (char *)kiln_cpu_scratch(ctx, bytes < 64 ? 64 : bytes);
    if (!*out)
        return kiln_node_error(KILN_ERR_OUT_OF_MEMORY, node, "out of memory (%zu bytes scratch)",
                               bytes);
    return KILN_OK;
}
