/* Gather: for each outer index and each (validated) index, one contiguous run of the
 * inner dims is copied. */
#include "backends/cpu/tensor_common.h"

kiln_status kiln_cpu_tensor_gather(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                                   int32_t n_in, kiln_tview *out, int32_t n_out) {
    (void)n_in;
    (void)n_out;
    size_t es;
    int32_t axis;
    KILN_TRY(kiln_tensor_elem_size(node, in[0].dtype, &es));
    KILN_TRY(kiln_tensor_axis(node, "axis", kiln_attr_int(node, "axis", 0), in[0].rank, &axis));
    int64_t outer = 1, inner = 1, n = in[0].dims[axis];
    for (int32_t i = 0; i < axis; i++) outer *= in[0].dims[i];
    for (int32_t i = axis + 1; i < in[0].rank; i++) inner *= in[0].dims[i];
    int64_t ni = kiln_tview_count(&in[1]);
    if (outer * ni * inner == 0) return KILN_OK;
    int64_t *idx = kiln_cpu_scratch(ctx, (size_t)ni * sizeof *idx);
    if (!idx) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
    for (int64_t j = 0; j < ni; j++) {
        int64_t v = kiln_tensor_index_at(&in[1], j);
        if (v < -n || v >= n)
            return kiln_node_error(KILN_ERR_INVALID_ARGUMENT, node,
                                   "index %lld is out of range for axis %d of size %lld",
                                   (long long)v, (int)axis, (long long)n);
        idx[j] = v < 0 ? v + n : v;
    }
    size_t run = (size_t)inner * es;
    const char *src = in[0].data;
    char *dst = out[0].data;
    int64_t rows = outer * ni;
    int nt = kiln_tensor_threads(ctx, rows * (int64_t)run);
#ifdef KILN_HAVE_OPENMP
#pragma omp parallel for num_threads(nt) if (nt > 1)
#endif
    for (int64_t r = 0; r < rows; r++) {
        int64_t o = r / ni, j = r % ni;
        const char *s = src + (o * n + idx[j]) * (int64_t)run;
        if (run == es) kiln_tensor_copy_elem(dst + r * (int64_t)run, s, es);
        else memcpy(dst + r * (int64_t)run, s, run);
    }
    (void)nt;
    return KILN_OK;
}
