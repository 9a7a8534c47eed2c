/*
 * Concat and Split on the GPU: seen as [outer, axis * inner] rows, each input (output) is
 * a 2-D copy into (out of) its column slab of the output (input).
 */
#include <stdlib.h>

#include "backends/cuda/cuda_common.cuh"

extern "C" {
#include "ir/shape_tensor.h"
}

/* Every present input and output of one byte-sized dtype. */
extern "C" int kiln_cuda_supports_concat(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                         const kiln_tview *out, int32_t n_out) {
    (void)node;
    if (n_in < 1 || n_out < 1 || !kiln_cu_elem_size(out[0].dtype)) return 0;
    for (int32_t i = 0; i < n_in; i++)
        if (in[i].dtype != out[0].dtype) return 0;
    return 1;
}

extern "C" kiln_status kiln_cuda_concat(kiln_cuda_ctx *ctx, const kiln_node *node,
                                        const kiln_tview *in, int32_t n_in, kiln_tview *out,
                                        int32_t n_out) {
    (void)n_out;
    size_t es = kiln_cu_elem_size(out[0].dtype);
    int32_t rank = out[0].rank, axis;
    KILN_TRY(kiln_tensor_axis(node, "axis", kiln_attr_int(node, "axis", 1), rank, &axis));
    if (kiln_tview_count(&out[0]) <= 0) return KILN_OK;
    int64_t outer = 1, inner = 1;
    for (int32_t d = 0; d < axis; d++) outer *= out[0].dims[d];
    for (int32_t d = axis + 1; d < rank; d++) inner *= out[0].dims[d];
    int64_t dst_pitch = out[0].dims[axis] * inner, offset = 0;
    for (int32_t i = 0; i < n_in; i++) {
        if (!kiln_tview_present(&in[i])) continue;
        if (in[i].rank != rank)
            return kiln_shape_error(node, "input %d has rank %d, not %d", (int)i, (int)in[i].rank,
                                    (int)rank);
        int64_t n = in[i].dims[axis];
        if (offset + n > out[0].dims[axis])
            return kiln_shape_error(node, "inputs exceed the output along axis %d", (int)axis);
        int64_t cols = n * inner;
        KILN_TRY(kiln_cu_copy_2d(ctx, node, (char *)out[0].data + offset * inner * (int64_t)es,
                                 dst_pitch, in[i].data, cols, outer, cols, es));
        offset += n;
    }
    return KILN_OK;
}

/* Split: the input and every present output of one byte-sized dtype. */
extern "C" int kiln_cuda_supports_split(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                        const kiln_tview *out, int32_t n_out) {
    (void)node;
    if (n_in < 1 || n_out < 1 || !kiln_cu_elem_size(in[0].dtype)) return 0;
    for (int32_t i = 0; i < n_out; i++)
        if (kiln_tview_present(&out[i]) && out[i].dtype != in[0].dtype) return 0;
    return 1;
}

extern "C" kiln_status kiln_cuda_split(kiln_cuda_ctx *ctx, const kiln_node *node,
                                       const kiln_tview *in, int32_t n_in, kiln_tview *out,
                                       int32_t n_out) {
    size_t es = kiln_cu_elem_size(in[0].dtype);
    int32_t rank = in[0].rank, axis = 0;
    int known = 1;
    int64_t *sizes = (int64_t *)malloc((size_t)(n_out > 0 ? n_out : 1) * sizeof *sizes);
    if (!sizes) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
    kiln_status st = kiln_tensor_split_sizes(node, in, n_in, n_out, &axis, sizes, &known);
    if (st == KILN_OK && !known)
        st = kiln_shape_error(node, "split sizes are not known at run time");
    int64_t outer = 1, inner = 1;
    for (int32_t d = 0; st == KILN_OK && d < axis; d++) outer *= in[0].dims[d];
    for (int32_t d = axis + 1; st == KILN_OK && d < rank; d++) inner *= in[0].dims[d];
    int64_t src_pitch = rank > 0 ? in[0].dims[axis] * inner : 1, offset = 0;
    for (int32_t i = 0; st == KILN_OK && i < n_out; i++) {
        if (offset + sizes[i] > (rank > 0 ? in[0].dims[axis] : 1)) {
            st = kiln_shape_error(node, "split sizes exceed the input along axis %d", (int)axis);
            break;
        }
        if (kiln_tview_present(&out[i]) && kiln_tview_count(&out[i]) > 0) {
            int64_t cols = sizes[i] * inner;
            st = kiln_cu_copy_2d(ctx, node, out[i].data, cols,
                                 (const char *)in[0].data + offset * inner * (int64_t)es, src_pitch,
                                 outer, cols, es);
        }
        offset += sizes[i];
    }
    free(sizes);
    return st;
}
