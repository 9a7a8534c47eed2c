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
    int nt = kiln_tensor_threads(ctx, outer * ni * (int64_t)run);
    if (outer == 1 || run > 64) { /* rows of indices: long runs, thread over them */
        int64_t rows = outer * ni;
#ifdef KILN_HAVE_OPENMP
#pragma omp parallel for num_threads(nt) if (nt > 1)
#endif
        for (int64_t r = 0; r < rows; r++) {
            int64_t o = r / ni, j = r % ni;
            memcpy(dst + r * (int64_t)run, src + (o * n + idx[j]) * (int64_t)run, run);
        }
    } else { /* short runs (often one element): a typed loop per outer slab */
#ifdef KILN_HAVE_OPENMP
#pragma omp parallel for num_threads(nt) if (nt > 1)
#endif
        for (int64_t o = 0; o < outer; o++) {
            const char *s = src + o * n * (int64_t)run;
            char *d = dst + o * ni * (int64_t)run;
            if (run == 4)
                for (int64_t j = 0; j < ni; j++) memcpy(d + j * 4, s + idx[j] * 4, 4);
            else if (run == 8)
                for (int64_t j = 0; j < ni; j++) memcpy(d + j * 8, s + idx[j] * 8, 8);
            else if (run == 2)
                for (int64_t j = 0; j < ni; j++) memcpy(d + j * 2, s + idx[j] * 2, 2);
            else if (run == 1)
                for (int64_t j = 0; j < ni; j++) d[j] = s[idx[j]];
            else
                for (int64_t j = 0; j < ni; j++)
                    memcpy(d + j * (int64_t)run, s + idx[j] * (int64_t)run, run);
        }
    }
    (void)nt;
    return KILN_OK;
}
