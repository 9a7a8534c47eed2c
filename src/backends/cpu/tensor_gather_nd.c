/* GatherND: each index tuple (per batch) selects one contiguous slice of the data. */
#include "backends/cpu/tensor_common.h"

kiln_status kiln_cpu_tensor_gather_nd(kiln_cpu_ctx *ctx, const kiln_node *node,
                                      const kiln_tview *in, int32_t n_in, kiln_tview *out,
                                      int32_t n_out) {
    (void)ctx;
    (void)n_in;
    (void)n_out;
    size_t es;
    KILN_TRY(kiln_tensor_elem_size(node, in[0].dtype, &es));
    int32_t r = in[0].rank, q = in[1].rank;
    int64_t b = kiln_attr_int(node, "batch_dims", 0), k = in[1].dims[q - 1];
    int64_t batches = 1, tuples = 1, slice = 1, dstr[KILN_MAX_DIMS];
    for (int64_t i = 0; i < b; i++) batches *= in[1].dims[i];
    for (int64_t i = b; i < q - 1; i++) tuples *= in[1].dims[i];
    for (int64_t i = b + k; i < r; i++) slice *= in[0].dims[i];
    kiln_tensor_strides(r, in[0].dims, 1, dstr);
    int64_t batch_stride = b > 0 ? dstr[b - 1] : 0;
    size_t run = (size_t)slice * es;
    const char *src = in[0].data;
    char *o = out[0].data;
    for (int64_t bi = 0; bi < batches; bi++) {
        for (int64_t t = 0; t < tuples; t++) {
            int64_t row = bi * tuples + t, off = bi * batch_stride;
            for (int64_t j = 0; j < k; j++) {
                int64_t n = in[0].dims[b + j], v = kiln_tensor_index_at(&in[1], row * k + j);
                if (v < -n || v >= n)
                    return kiln_node_error(KILN_ERR_INVALID_ARGUMENT, node,
                                           "index %lld is out of range for dim %d of size %lld",
                                           (long long)v, (int)(b + j), (long long)n);
                off += (v < 0 ? v + n : v) * dstr[b + j];
            }
            if (run) memcpy(o + row * (int64_t)run, src + off * (int64_t)es, run);
        }
    }
    return KILN_OK;
}
