/* Det: determinants of a batch of square matrices [..., M, M] by LU decomposition with
 * partial pivoting, in double. */
#include <math.h>

#include "backends/cpu/cpu_kernel.h"

static double det_lu(double *a, int64_t m) {
    double det = 1.0;
    for (int64_t k = 0; k < m; k++) {
        int64_t piv = k;
        for (int64_t i = k + 1; i < m; i++)
            if (fabs(a[i * m + k]) > fabs(a[piv * m + k])) piv = i;
        if (a[piv * m + k] == 0.0) return 0.0;
        if (piv != k) {
            for (int64_t j = 0; j < m; j++) {
                double t = a[k * m + j];
                a[k * m + j] = a[piv * m + j];
                a[piv * m + j] = t;
            }
            det = -det;
        }
        double p = a[k * m + k];
        det *= p;
        for (int64_t i = k + 1; i < m; i++) {
            double f = a[i * m + k] / p;
            for (int64_t j = k + 1; j < m; j++) a[i * m + j] -= f * a[k * m + j];
        }
    }
    return det;
}

kiln_status kiln_cpu_Det(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                         int32_t n_in, kiln_tview *out, int32_t n_out) {
    const kiln_tview *x = &in[0];
    int64_t m = x->dims[x->rank - 1], batches = kiln_tview_count(&out[0]);
    double *a = kiln_cpu_scratch(ctx, (size_t)(m * m + 1) * sizeof(double));
    if (!a) return kiln_node_error(KILN_ERR_OUT_OF_MEMORY, node, "out of scratch memory");
    for (int64_t b = 0; b < batches; b++) {
        for (int64_t i = 0; i < m * m; i++) a[i] = kiln_tview_get_double(x, b * m * m + i);
        kiln_tview_set_double(&out[0], b, det_lu(a, m));
    }
    return KILN_OK;
}
