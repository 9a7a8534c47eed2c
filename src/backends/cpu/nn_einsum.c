/*
 * Einsum: a generic loop over the output labels and the summed labels. Each input's offset
 * moves by the sum of the strides of its dims carrying a label, so repeated labels walk
 * diagonals and broadcast (size-1) dims stay put. Computes in double.
 */
#include "backends/cpu/nn_common.h"

kiln_status kiln_cpu_einsum(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                            int32_t n_in, kiln_tview *out, int32_t n_out) {
    kiln_tview *y = &out[0];
    kiln_nn_einsum e;
    KILN_TRY(kiln_nn_einsum_parse(node, in, n_in, &e));
    kiln_dtype dt = in[0].dtype;
    if (dt == KILN_DTYPE_STRING || dt == KILN_DTYPE_BOOL || kiln_dtype_bits(dt) % 8 ||
        kiln_dtype_bits(dt) == 0)
        return kiln_nn_bad_dtype(node, dt);
    /* loop labels: the output's, then the summed ones */
    int32_t loop[KILN_NN_EINSUM_LABELS], nl = 0, n_out_l = e.out_rank;
    uint8_t in_out[KILN_NN_EINSUM_LABELS] = {0};
    for (int32_t d = 0; d < e.out_rank; d++) {
        loop[nl++] = e.out_labels[d];
        in_out[e.out_labels[d]] = 1;
    }
    for (int32_t l = 0; l < KILN_NN_EINSUM_LABELS; l++)
        if (e.used[l] && !in_out[l]) loop[nl++] = l;
    /* strides[input][loop position] */
    int64_t strides[KILN_NN_EINSUM_MAX_INPUTS][KILN_NN_EINSUM_LABELS];
    int64_t total_in = 0;
    for (int32_t t = 0; t < n_in; t++) {
        int64_t st = 1, dstride[KILN_MAX_DIMS];
        for (int32_t d = in[t].rank - 1; d >= 0; d--) {
            dstride[d] = in[t].dims[d] == 1 ? 0 : st;
            st *= in[t].dims[d];
        }
        for (int32_t k = 0; k < nl; k++) {
            strides[t][k] = 0;
            for (int32_t d = 0; d < in[t].rank; d++)
                if (e.in_labels[t][d] == loop[k]) strides[t][k] += dstride[d];
        }
        total_in += kiln_nn_count(&in[t]);
    }
    int64_t dims[KILN_NN_EINSUM_LABELS], out_count = 1, sum_count = 1;
    for (int32_t k = 0; k < nl; k++) {
        dims[k] = e.label_dim[loop[k]];
        *(k < n_out_l ? &out_count : &sum_count) *= dims[k];
    }
    char *cur;
    KILN_TRY(kiln_nn_scratch(ctx, node, kiln_nn_align((size_t)total_in * 8) + 64, &cur));
    double *vals[KILN_NN_EINSUM_MAX_INPUTS];
    for (int32_t t = 0; t < n_in; t++) {
        int64_t cnt = kiln_nn_count(&in[t]);
        vals[t] = (double *)kiln_nn_carve(&cur, (size_t)cnt * 8);
        for (int64_t i = 0; i < cnt; i++) vals[t][i] = kiln_tview_get_double(&in[t], i);
    }
    int64_t idx[KILN_NN_EINSUM_LABELS] = {0}, off[KILN_NN_EINSUM_MAX_INPUTS] = {0};
    for (int64_t o = 0; o < out_count; o++) {
        double acc = 0.0;
        for (int64_t s = 0; s < sum_count; s++) {
            double prod = 1.0;
            for (int32_t t = 0; t < n_in; t++) prod *= vals[t][off[t]];
            acc += prod;
            /* advance the summed labels (they wrap back to 0 after the last step) */
            for (int32_t k = nl - 1; k >= n_out_l; k--) {
                if (++idx[k] < dims[k]) {
                    for (int32_t t = 0; t < n_in; t++) off[t] += strides[t][k];
                    break;
                }
                idx[k] = 0;
                for (int32_t t = 0; t < n_in; t++) off[t] -= strides[t][k] * (dims[k] - 1);
            }
        }
        kiln_tview_set_double(y, o, acc);
        for (int32_t k = n_out_l - 1; k >= 0; k--) {
            if (++idx[k] < dims[k]) {
                for (int32_t t = 0; t < n_in; t++) off[t] += strides[t][k];
                break;
            }
            idx[k] = 0;
            for (int32_t t = 0; t < n_in; t++) off[t] -= strides[t][k] * (dims[k] - 1);
        }
    }
    return KILN_OK;
}
