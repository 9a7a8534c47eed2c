/*
 * Einsum. Two-operand contractions of float tensors without diagonals or broadcasting
 * (batched matmuls, attention-style products) become permute + batched SGEMM + permute.
 * Everything else runs a generic loop over the output labels and the summed labels: each
 * input's offset moves by the sum of the strides of its dims carrying a label, so repeated
 * labels walk diagonals and broadcast (size-1) dims stay put. The generic loop computes in
 * double.
 */
#include "backends/cpu/nn_common.h"

/* dst (dims[0..rank) row-major) = src read with the given per-dim strides. */
static void permute_copy(const float *src, const int64_t *strides, const int64_t *dims,
                         int32_t rank, float *dst) {
    int64_t total = 1, idx[KILN_NN_EINSUM_LABELS] = {0}, off = 0;
    for (int32_t d = 0; d < rank; d++) total *= dims[d];
    for (int64_t i = 0; i < total; i++) {
        dst[i] = src[off];
        for (int32_t d = rank - 1; d >= 0; d--) {
            if (++idx[d] < dims[d]) {
                off += strides[d];
                break;
            }
            off -= strides[d] * (dims[d] - 1);
            idx[d] = 0;
        }
    }
}

/* Strides of input t's dims by label (0 for labels it lacks). */
static void label_strides(const kiln_nn_einsum *e, const kiln_tview *t, int32_t ti,
                          int64_t *by_label) {
    for (int32_t l = 0; l < KILN_NN_EINSUM_LABELS; l++) by_label[l] = 0;
    int64_t st = 1;
    for (int32_t d = t->rank - 1; d >= 0; d--) {
        by_label[e->in_labels[ti][d]] = st;
        st *= t->dims[d];
    }
}

/* Appends the dims of `labels` (with their strides in some operand) to a permutation. */
static int32_t push_labels(const kiln_nn_einsum *e, const int32_t *labels, int32_t n,
                           const int64_t *by_label, int64_t *dims, int64_t *strides, int32_t r) {
    for (int32_t i = 0; i < n; i++, r++) {
        dims[r] = e->label_dim[labels[i]];
        strides[r] = by_label[labels[i]];
    }
    return r;
}

/* The GEMM path; *done = 0 when the equation does not fit it. */
static kiln_status einsum_gemm(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_nn_einsum *e,
                               const kiln_tview *in, kiln_tview *y, int *done) {
    *done = 0;
    if (e->n_inputs != 2 || in[0].dtype != in[1].dtype ||
        (in[0].dtype != KILN_DTYPE_FLOAT32 && in[0].dtype != KILN_DTYPE_FLOAT16 &&
         in[0].dtype != KILN_DTYPE_BFLOAT16))
        return KILN_OK;
    uint8_t where[KILN_NN_EINSUM_LABELS] = {0}; /* bit 0: A, 1: B, 2: output */
    for (int32_t t = 0; t < 2; t++)
        for (int32_t d = 0; d < e->in_rank[t]; d++) {
            int32_t l = e->in_labels[t][d];
            if (where[l] & (1 << t)) return KILN_OK;              /* diagonal */
            if (in[t].dims[d] != e->label_dim[l]) return KILN_OK; /* broadcast */
            where[l] |= (uint8_t)(1 << t);
        }
    for (int32_t d = 0; d < e->out_rank; d++) where[e->out_labels[d]] |= 4;
    int32_t bl[KILN_MAX_DIMS * 2], ml[KILN_MAX_DIMS * 2], nl[KILN_MAX_DIMS * 2],
        kl[KILN_MAX_DIMS * 2];
    int32_t nb = 0, nm = 0, nn = 0, nk = 0;
    int64_t batch = 1, m = 1, n = 1, k = 1;
    for (int32_t l = 0; l < KILN_NN_EINSUM_LABELS; l++) {
        int64_t sz = e->label_dim[l];
        switch (where[l]) {
        case 0:
            break;
        case 7:
            bl[nb++] = l;
            batch *= sz;
            break;
        case 5:
            ml[nm++] = l;
            m *= sz;
            break;
        case 6:
            nl[nn++] = l;
            n *= sz;
            break;
        case 3:
            kl[nk++] = l;
            k *= sz;
            break;
        default:
            return KILN_OK; /* a label summed within one operand */
        }
    }
    int threads = kiln_cpu_threads(ctx);
    size_t ws = kiln_nn_align(kiln_nn_sgemm_workspace(m, n, k, threads));
    size_t bytes = ws + kiln_nn_align((size_t)(batch * m * k) * 4) +
                   kiln_nn_align((size_t)(batch * k * n) * 4) +
                   kiln_nn_align((size_t)(batch * m * n) * 4) + kiln_nn_f32_bytes(&in[0]) +
                   kiln_nn_f32_bytes(&in[1]) + kiln_nn_f32_bytes(y);
    char *cur;
    KILN_TRY(kiln_nn_scratch(ctx, node, bytes, &cur));
    char *wsp = (char *)kiln_nn_carve(&cur, ws);
    float *ap = (float *)kiln_nn_carve(&cur, (size_t)(batch * m * k) * 4);
    float *bp = (float *)kiln_nn_carve(&cur, (size_t)(batch * k * n) * 4);
    float *cp = (float *)kiln_nn_carve(&cur, (size_t)(batch * m * n) * 4);
    const float *af = kiln_nn_f32_in(&in[0], &cur), *bf = kiln_nn_f32_in(&in[1], &cur);
    float *yf = kiln_nn_f32_out(y, &cur);
    int64_t sa[KILN_NN_EINSUM_LABELS], sb[KILN_NN_EINSUM_LABELS];
    label_strides(e, &in[0], 0, sa);
    label_strides(e, &in[1], 1, sb);
    int64_t dims[KILN_NN_EINSUM_LABELS], strides[KILN_NN_EINSUM_LABELS];
    /* A as (batch, m, k), B as (batch, k, n) */
    int32_t r = push_labels(e, bl, nb, sa, dims, strides, 0);
    r = push_labels(e, ml, nm, sa, dims, strides, r);
    r = push_labels(e, kl, nk, sa, dims, strides, r);
    permute_copy(af, strides, dims, r, ap);
    r = push_labels(e, bl, nb, sb, dims, strides, 0);
    r = push_labels(e, kl, nk, sb, dims, strides, r);
    r = push_labels(e, nl, nn, sb, dims, strides, r);
    permute_copy(bf, strides, dims, r, bp);
    for (int64_t t = 0; t < batch; t++)
        kiln_nn_sgemm(0, 0, m, n, k, 1.0f, ap + t * m * k, k, bp + t * k * n, n, 0.0f,
                      cp + t * m * n, n, wsp, threads);
    /* C (batch, m, n) into the output's label order */
    int64_t sc[KILN_NN_EINSUM_LABELS], st = 1;
    const int32_t *groups[3] = {nl, ml, bl};
    int32_t counts[3] = {nn, nm, nb};
    for (int g = 0; g < 3; g++)
        for (int32_t i = counts[g] - 1; i >= 0; i--) {
            sc[groups[g][i]] = st;
            st *= e->label_dim[groups[g][i]];
        }
    for (int32_t d = 0; d < e->out_rank; d++) {
        dims[d] = e->label_dim[e->out_labels[d]];
        strides[d] = sc[e->out_labels[d]];
    }
    permute_copy(cp, strides, dims, e->out_rank, yf);
    kiln_nn_f32_out_done(y, yf);
    *done = 1;
    return KILN_OK;
}

kiln_status kiln_cpu_einsum(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                            int32_t n_in, kiln_tview *out, int32_t n_out) {
    kiln_tview *y = &out[0];
    kiln_nn_einsum e;
    KILN_TRY(kiln_nn_einsum_parse(node, in, n_in, &e));
    kiln_dtype dt = in[0].dtype;
    if (dt == KILN_DTYPE_STRING || dt == KILN_DTYPE_BOOL || kiln_dtype_bits(dt) % 8 ||
        kiln_dtype_bits(dt) == 0)
        return kiln_nn_bad_dtype(node, dt);
    if (kiln_nn_count(y) > 0) {
        int done;
        KILN_TRY(einsum_gemm(ctx, node, &e, in, y, &done));
        if (done) return KILN_OK;
    }
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
