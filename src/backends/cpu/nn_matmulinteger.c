/* MatMulInteger: (A - a_zero_point) x (B - b_zero_point) in int32, numpy batching. */
#include "backends/cpu/nn_common.h"

static int64_t elem_u8i8(const kiln_tview *t, int64_t i) {
    return t->dtype == KILN_DTYPE_INT8 ? ((const int8_t *)t->data)[i]
                                       : ((const uint8_t *)t->data)[i];
}

/* Zero point for row/column `i` (scalar or per-row/column vector), 0 when absent. */
static int32_t zero_point(const kiln_tview *zp, int64_t i) {
    if (!zp) return 0;
    int64_t cnt = kiln_nn_count(zp);
    return (int32_t)elem_u8i8(zp, cnt == 1 ? 0 : i);
}

kiln_status kiln_cpu_matmulinteger(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                                   int32_t n_in, kiln_tview *out, int32_t n_out) {
    const kiln_tview *a = &in[0], *b = &in[1];
    const kiln_tview *azp = n_in > 2 && kiln_tview_present(&in[2]) ? &in[2] : NULL;
    const kiln_tview *bzp = n_in > 3 && kiln_tview_present(&in[3]) ? &in[3] : NULL;
    kiln_tview *y = &out[0];
    int64_t k = a->dims[a->rank - 1];
    int64_t m = a->rank >= 2 ? a->dims[a->rank - 2] : 1;
    int64_t n = b->rank >= 2 ? b->dims[b->rank - 1] : 1;
    int32_t r = y->rank - (a->rank >= 2) - (b->rank >= 2);
    int64_t ad[KILN_MAX_DIMS], bd[KILN_MAX_DIMS], idx[KILN_MAX_DIMS] = {0};
    int32_t ar = a->rank > 2 ? a->rank - 2 : 0, br = b->rank > 2 ? b->rank - 2 : 0;
    int64_t batches = 1;
    for (int32_t i = 0; i < r; i++) {
        ad[i] = i - (r - ar) >= 0 ? a->dims[i - (r - ar)] : 1;
        bd[i] = i - (r - br) >= 0 ? b->dims[i - (r - br)] : 1;
        batches *= y->dims[i];
    }
    char *cur;
    KILN_TRY(kiln_nn_scratch(ctx, node, (size_t)(k * n + n) * sizeof(int32_t), &cur));
    int32_t *bt = (int32_t *)cur; /* B minus its zero point */
    int32_t *row = bt + k * n;
    int32_t *yd = (int32_t *)y->data;
    for (int64_t t = 0; t < batches; t++) {
        int64_t ao = 0, bo = 0;
        for (int32_t i = 0; i < r; i++) {
            ao = ao * ad[i] + (ad[i] == 1 ? 0 : idx[i]);
            bo = bo * bd[i] + (bd[i] == 1 ? 0 : idx[i]);
        }
        for (int32_t i = r - 1; i >= 0; i--) {
            if (++idx[i] < y->dims[i]) break;
            idx[i] = 0;
        }
        for (int64_t p = 0; p < k; p++)
            for (int64_t j = 0; j < n; j++)
                bt[p * n + j] = (int32_t)elem_u8i8(b, bo * k * n + p * n + j) - zero_point(bzp, j);
        for (int64_t i = 0; i < m; i++) {
            int32_t za = zero_point(azp, i);
            for (int64_t j = 0; j < n; j++) row[j] = 0;
            for (int64_t p = 0; p < k; p++) {
                int32_t av = (int32_t)elem_u8i8(a, ao * m * k + i * k + p) - za;
                const int32_t *brow = bt + p * n;
                for (int64_t j = 0; j < n; j++) row[j] += av * brow[j];
            }
            for (int64_t j = 0; j < n; j++) yd[t * m * n + i * n + j] = row[j];
        }
    }
    return KILN_OK;
}
