/*
 * QLinearMatMul: y = saturate(round((a - a_zp) @ (b - b_zp) * a_scale * b_scale / y_scale)
 * + y_zp), numpy-style batched matmul with broadcast batch dims. The products accumulate
 * in int32; the multiplier a_scale * b_scale / y_scale is formed in the scales' dtype
 * (float32 or float16, rounded at each step as the ONNX reference does) and applied in
 * double. Scales and zero points are per tensor, or a_* per row of a and b_* per column of b.
 */
#include <math.h>

#include "backends/cpu/cpu_kernel.h"
#include "backends/cpu/quant_common.h"

/* Index of the batch matrix of a tensor of rank `rank` for output batch index `ob`. */
static int64_t qmm_batch_offset(const kiln_tview *t, int32_t mat_rank, const kiln_tview *o,
                                int32_t out_batch_rank, int64_t ob) {
    int32_t br = t->rank - mat_rank;
    int64_t off = 0, stride = 1;
    for (int32_t d = out_batch_rank - 1, td = br - 1; d >= 0; d--, td--) {
        int64_t idx = ob % o->dims[d];
        ob /= o->dims[d];
        if (td < 0) continue;
        if (t->dims[td] != 1) off += idx * stride;
        stride *= t->dims[td];
    }
    return off;
}

/* a scale/zero point value for row m (a's) or column n (b's): per tensor or per row/col. */
static inline int64_t qmm_pick(const kiln_tview *t, int64_t i) {
    return kiln_tview_count(t) == 1 ? 0 : i;
}

static double qmm_mul_in(kiln_dtype t, double v) {
    if (t == KILN_DTYPE_FLOAT16) return kiln_half_to_float(kiln_float_to_half((float)v));
    if (t == KILN_DTYPE_BFLOAT16) return kiln_bf16_to_float(kiln_float_to_bf16((float)v));
    if (t == KILN_DTYPE_FLOAT32) return (float)v;
    return v;
}

kiln_status kiln_cpu_QLinearMatMul(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                                   int32_t n_in, kiln_tview *out, int32_t n_out) {
    const kiln_tview *a = &in[0], *as = &in[1], *azp = &in[2];
    const kiln_tview *b = &in[3], *bs = &in[4], *bzp = &in[5];
    const kiln_tview *ys = &in[6], *yzp = &in[7];
    kiln_tview *y = &out[0];
    int64_t M = a->rank >= 2 ? a->dims[a->rank - 2] : 1, K = a->dims[a->rank - 1];
    int64_t N = b->rank >= 2 ? b->dims[b->rank - 1] : 1;
    int32_t mat_rank_y = (a->rank >= 2) + (b->rank >= 2);
    int32_t brank = y->rank - mat_rank_y;
    int64_t batches = 1;
    for (int32_t d = 0; d < brank; d++) batches *= y->dims[d];
    int64_t nas = kiln_tview_count(as), nbs = kiln_tview_count(bs);
    if ((nas != 1 && nas != M) || (nbs != 1 && nbs != N) || kiln_tview_count(ys) != 1)
        return kiln_node_error(KILN_ERR_UNSUPPORTED, node,
                               "scales must be per tensor, per row of a or per column of b");
    if (kiln_tview_present(azp) && kiln_tview_count(azp) != nas)
        return kiln_node_error(KILN_ERR_SHAPE, node, "a_zero_point does not match a_scale");
    if (kiln_tview_present(bzp) && kiln_tview_count(bzp) != nbs)
        return kiln_node_error(KILN_ERR_SHAPE, node, "b_zero_point does not match b_scale");
    if (M * N == 0 || batches == 0) return KILN_OK;
    kiln_dtype st = as->dtype;
    double ysv = kiln_tview_get_double(ys, 0);
    int32_t yz = kiln_tview_present(yzp) ? quant_get_int(yzp->data, yzp->dtype, 0) : 0;
    int32_t lo, hi;
    quant_range(y->dtype, &lo, &hi);
    /* scratch: b - b_zp [K, N], then one int32 accumulator row [N] per row of a */
    int32_t *brow = kiln_cpu_scratch(ctx, (size_t)(K * N + M * N + 1) * sizeof(int32_t));
    if (!brow) return kiln_node_error(KILN_ERR_OUT_OF_MEMORY, node, "out of scratch memory");
    int32_t *accs = brow + K * N;
    for (int64_t bi = 0; bi < batches; bi++) {
        int64_t aoff = qmm_batch_offset(a, a->rank >= 2 ? 2 : 1, y, brank, bi) * M * K;
        int64_t boff = qmm_batch_offset(b, b->rank >= 2 ? 2 : 1, y, brank, bi) * K * N;
        for (int64_t k = 0; k < K; k++)
            for (int64_t n = 0; n < N; n++) {
                int32_t z = kiln_tview_present(bzp)
                                ? quant_get_int(bzp->data, bzp->dtype, qmm_pick(bzp, n))
                                : 0;
                brow[k * N + n] = quant_get_int(b->data, b->dtype, boff + k * N + n) - z;
            }
#ifdef KILN_HAVE_OPENMP
#pragma omp parallel for num_threads(kiln_cpu_threads(ctx)) if (M * N * K > 65536 && M > 1)
#endif
        for (int64_t m = 0; m < M; m++) {
            int32_t za = kiln_tview_present(azp)
                             ? quant_get_int(azp->data, azp->dtype, qmm_pick(azp, m))
                             : 0;
            double asv = kiln_tview_get_double(as, qmm_pick(as, m));
            int32_t *acc = accs + m * N;
            for (int64_t n = 0; n < N; n++) acc[n] = 0;
            for (int64_t k = 0; k < K; k++) {
                int32_t av = quant_get_int(a->data, a->dtype, aoff + m * K + k) - za;
                const int32_t *br = brow + k * N;
                for (int64_t n = 0; n < N; n++) acc[n] += av * br[n];
            }
            for (int64_t n = 0; n < N; n++) {
                double mul = qmm_mul_in(
                    st, qmm_mul_in(st, asv * kiln_tview_get_double(bs, qmm_pick(bs, n))) / ysv);
                double r = nearbyint((double)acc[n] * mul + (double)yz);
                int32_t v = r < lo ? lo : r > hi ? hi : (int32_t)r;
                quant_set_int(y->data, y->dtype, (bi * M + m) * N + n, v);
            }
        }
    }
    return KILN_OK;
}
