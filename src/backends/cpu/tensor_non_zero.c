/* NonZero: the coordinates of nonzero elements, [rank, count] in row-major order; the
 * output size is data-dependent. */
#include "backends/cpu/tensor_common.h"

/* Whether element i is nonzero (by value for floats, so -0.0 counts as zero). */
static int kiln_nonzero_at(const kiln_tview *t, int64_t i, size_t es) {
    switch (t->dtype) {
    case KILN_DTYPE_FLOAT32:
        return ((const float *)t->data)[i] != 0;
    case KILN_DTYPE_FLOAT64:
        return ((const double *)t->data)[i] != 0;
    case KILN_DTYPE_FLOAT16:
    case KILN_DTYPE_BFLOAT16:
        return (((const uint16_t *)t->data)[i] & 0x7fff) != 0;
    default: {
        const unsigned char *p = (const unsigned char *)t->data + i * (int64_t)es;
        for (size_t b = 0; b < es; b++)
            if (p[b]) return 1;
        return 0;
    }
    }
}

kiln_status kiln_cpu_tensor_non_zero(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                                     int32_t n_in, kiln_tview *out, int32_t n_out) {
    (void)n_in;
    (void)n_out;
    size_t es;
    KILN_TRY(kiln_tensor_elem_size(node, in[0].dtype, &es));
    int64_t total = kiln_tview_count(&in[0]), nnz = 0;
    for (int64_t i = 0; i < total; i++) nnz += kiln_nonzero_at(&in[0], i, es);
    int32_t r = in[0].rank;
    int32_t rows = r > 0 ? r : 1; /* a scalar reads as 1-D, as numpy does */
    int64_t dims[2] = {rows, nnz};
    KILN_TRY(kiln_cpu_alloc_output(ctx, 0, 2, dims));
    int64_t *o = out[0].data, coord[KILN_MAX_DIMS] = {0}, j = 0;
    for (int64_t i = 0; i < total; i++) {
        if (kiln_nonzero_at(&in[0], i, es)) {
            for (int32_t d = 0; d < r; d++) o[d * nnz + j] = coord[d];
            if (r == 0) o[j] = 0;
            j++;
        }
        for (int32_t d = r - 1; d >= 0; d--) {
            if (++coord[d] < in[0].dims[d]) break;
            coord[d] = 0;
        }
    }
    return KILN_OK;
}
