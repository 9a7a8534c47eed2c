/* ScatterElements (and the deprecated Scatter): out = data, then each update lands at its
 * coordinate with the axis coordinate replaced by the index, combined per `reduction`. */
#include "backends/cpu/tensor_common.h"

kiln_status kiln_cpu_tensor_scatter_elements(kiln_cpu_ctx *ctx, const kiln_node *node,
                                             const kiln_tview *in, int32_t n_in, kiln_tview *out,
                                             int32_t n_out) {
    (void)ctx;
    (void)n_in;
    (void)n_out;
    size_t es;
    int32_t axis, r = in[0].rank;
    kiln_scatter_reduction red = KILN_SCATTER_NONE;
    KILN_TRY(kiln_tensor_elem_size(node, in[0].dtype, &es));
    KILN_TRY(kiln_tensor_axis(node, "axis", kiln_attr_int(node, "axis", 0), r, &axis));
    if (node->op != KILN_OP_Scatter) KILN_TRY(kiln_tensor_reduction(node, in[0].dtype, &red));
    for (int32_t d = 0; d < r; d++)
        if (d != axis && in[1].dims[d] > in[0].dims[d])
            return kiln_shape_error(node, "indices dim %d (%lld) exceeds data's (%lld)", (int)d,
                                    (long long)in[1].dims[d], (long long)in[0].dims[d]);
    int64_t n_data = kiln_tview_count(&in[0]);
    if (out[0].data != in[0].data && n_data > 0)
        memcpy(out[0].data, in[0].data, (size_t)n_data * es);
    int64_t st[KILN_MAX_DIMS], coord[KILN_MAX_DIMS] = {0};
    kiln_tensor_strides(r, in[0].dims, 1, st);
    int64_t total = kiln_tview_count(&in[1]), n = in[0].dims[axis], base = 0;
    const char *upd = in[2].data;
    char *o = out[0].data;
    for (int64_t i = 0; i < total; i++) {
        int64_t v = kiln_tensor_index_at(&in[1], i);
        if (v < -n || v >= n)
            return kiln_node_error(KILN_ERR_INVALID_ARGUMENT, node,
                                   "index %lld is out of range for axis %d of size %lld",
                                   (long long)v, (int)axis, (long long)n);
        if (v < 0) v += n;
        char *dst = o + (base + v * st[axis]) * (int64_t)es;
        if (red == KILN_SCATTER_NONE)
            kiln_tensor_copy_elem(dst, upd + i * (int64_t)es, es);
        else
            kiln_tensor_reduce_into(in[0].dtype, dst, upd + i * (int64_t)es, 1, red);
        for (int32_t d = r - 1; d >= 0; d--) {
            if (d != axis) base += st[d];
            if (++coord[d] < in[1].dims[d]) break;
            if (d != axis) base -= st[d] * coord[d];
            coord[d] = 0;
        }
    }
    return KILN_OK;
}
