/* Compress: keeps the slices along the axis (or the flattened elements) whose condition
 * is true; the output size is data-dependent. */
#include "backends/cpu/tensor_common.h"

kiln_status kiln_cpu_tensor_compress(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                                     int32_t n_in, kiln_tview *out, int32_t n_out) {
    (void)n_in;
    (void)n_out;
    size_t es;
    KILN_TRY(kiln_tensor_elem_size(node, in[0].dtype, &es));
    const kiln_attr *axis_attr = kiln_node_attr(node, "axis");
    int32_t axis = 0, r = in[0].rank;
    int64_t outer = 1, n, inner = 1;
    if (axis_attr) {
        KILN_TRY(kiln_tensor_axis(node, "axis", axis_attr->i, r, &axis));
        for (int32_t i = 0; i < axis; i++) outer *= in[0].dims[i];
        for (int32_t i = axis + 1; i < r; i++) inner *= in[0].dims[i];
        n = in[0].dims[axis];
    } else {
        n = kiln_tview_count(&in[0]);
    }
    int64_t nc = kiln_tview_count(&in[1]);
    if (nc > n)
        return kiln_node_error(KILN_ERR_INVALID_ARGUMENT, node,
                               "condition has %lld values but the axis has %lld", (long long)nc,
                               (long long)n);
    size_t cs;
    KILN_TRY(kiln_tensor_elem_size(node, in[1].dtype, &cs));
    const unsigned char *cond = in[1].data;
    int64_t kept = 0;
    for (int64_t i = 0; i < nc; i++) {
        int nz = 0;
        for (size_t b = 0; b < cs; b++) nz |= cond[i * (int64_t)cs + (int64_t)b] != 0;
        kept += nz;
    }
    int64_t dims[KILN_MAX_DIMS];
    int32_t out_rank = axis_attr ? r : 1;
    if (axis_attr) {
        memcpy(dims, in[0].dims, (size_t)r * sizeof *dims);
        dims[axis] = kept;
    } else {
        dims[0] = kept;
    }
    KILN_TRY(kiln_cpu_alloc_output(ctx, 0, out_rank, dims));
    size_t run = (size_t)inner * es;
    const char *s = in[0].data;
    char *o = out[0].data;
    for (int64_t a = 0; a < outer; a++) {
        for (int64_t i = 0; i < nc; i++) {
            int nz = 0;
            for (size_t b = 0; b < cs; b++) nz |= cond[i * (int64_t)cs + (int64_t)b] != 0;
            if (!nz) continue;
            memcpy(o, s + (a * n + i) * (int64_t)run, run);
            o += run;
        }
    }
    return KILN_OK;
}
