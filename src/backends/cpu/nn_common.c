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

kiln_status kiln_nn_pool3_init(const kiln_node *node, const kiln_nn_window *w, kiln_nn_pool3 *p) {
    if (w->n > 3)
        return kiln_node_error(KILN_ERR_UNSUPPORTED, node, "pooling over %d spatial dims",
                               (int)w->n);
    int32_t lead = 3 - w->n;
    for (int32_t d = 0; d < 3; d++) {
        int32_t s = d - lead;
        p->in[d] = s >= 0 ? w->in[s] : 1;
        p->out[d] = s >= 0 ? w->out[s] : 1;
        p->kernel[d] = s >= 0 ? w->kernel[s] : 1;
        p->stride[d] = s >= 0 ? w->stride[s] : 1;
        p->dilation[d] = s >= 0 ? w->dilation[s] : 1;
        p->pad_begin[d] = s >= 0 ? w->pad_begin[s] : 0;
        p->pad_end[d] = s >= 0 ? w->pad_end[s] : 0;
    }
    return KILN_OK;
}

kiln_status kiln_nn_expand_param(const kiln_node *node, const kiln_tview *p, const float *pf,
                                 int32_t rank, const int64_t *x_dims, int32_t axis, float *dst) {
    int32_t nr = rank - axis;
    int64_t strides[KILN_MAX_DIMS], total = 1;
    /* p's dims aligned to the trailing nr dims; extra leading dims of p must be 1 */
    for (int32_t i = 0; i < p->rank - nr; i++)
        if (p->dims[i] != 1) return kiln_shape_error(node, "parameter does not broadcast");
    int64_t st = 1;
    for (int32_t i = nr - 1; i >= 0; i--) {
        int32_t pi = p->rank - nr + i;
        int64_t pd = pi >= 0 ? p->dims[pi] : 1;
        if (pd != 1 && pd != x_dims[axis + i])
            return kiln_shape_error(node, "parameter does not broadcast");
        strides[i] = pd == 1 ? 0 : st;
        st *= pd;
        total *= x_dims[axis + i];
    }
    int64_t idx[KILN_MAX_DIMS] = {0};
    for (int64_t j = 0; j < total; j++) {
        int64_t off = 0;
        for (int32_t i = 0; i < nr; i++) off += idx[i] * strides[i];
        dst[j] = pf[off];
        for (int32_t i = nr - 1; i >= 0; i--) {
            if (++idx[i] < x_dims[axis + i]) break;
            idx[i] = 0;
        }
    }
    return KILN_OK;
}
