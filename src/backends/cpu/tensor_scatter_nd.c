/* ScatterND: out = data, then each index tuple's slice is replaced by (or reduced with)
 * the matching slice of updates, in order. */
#include "backends/cpu/tensor_common.h"

kiln_status kiln_cpu_tensor_scatter_nd(kiln_cpu_ctx *ctx, const kiln_node *node,
                                       const kiln_tview *in, int32_t n_in, kiln_tview *out,
                                       int32_t n_out) {
    (void)ctx;
    (void)n_in;
    (void)n_out;
    size_t es;
    kiln_scatter_reduction red;
    KILN_TRY(kiln_tensor_elem_size(node, in[0].dtype, &es));
    KILN_TRY(kiln_tensor_reduction(node, in[0].dtype, &red));
    int32_t r = in[0].rank, q = in[1].rank;
    int64_t k = in[1].dims[q - 1], tuples = 1, slice = 1, st[KILN_MAX_DIMS];
    for (int32_t i = 0; i < q - 1; i++) tuples *= in[1].dims[i];
    for (int64_t i = k; i < r; i++) slice *= in[0].dims[i];
    kiln_tensor_strides(r, in[0].dims, 1, st);
    int64_t n_data = kiln_tview_count(&in[0]);
    if (out[0].data != in[0].data && n_data > 0)
        memcpy(out[0].data, in[0].data, (size_t)n_data * es);
    const char *upd = in[2].data;
    char *o = out[0].data;
    for (int64_t t = 0; t < tuples; t++) {
        int64_t off = 0;
        for (int64_t j = 0; j < k; j++) {
            int64_t n = in[0].dims[j], v = kiln_tensor_index_at(&in[1], t * k + j);
            if (v < -n || v >= n)
                return kiln_node_error(KILN_ERR_INVALID_ARGUMENT, node,
                                       "index %lld is out of range for dim %d of size %lld",
                                       (long long)v, (int)j, (long long)n);
            off += (v < 0 ? v + n : v) * st[j];
        }
        char *dst = o + off * (int64_t)es;
        const char *src = upd + t * slice * (int64_t)es;
        if (red == KILN_SCATTER_NONE)
            memcpy(dst, src, (size_t)slice * es);
        else
            kiln_tensor_reduce_into(in[0].dtype, dst, src, slice, red);
    }
    return KILN_OK;
}
