/*
 * CausalConvWithState (opset 27): depthwise causal 1-D convolution over (B, C, L) whose
 * left context is past_state (B, C, k - 1) (zeros when absent), with optional bias and
 * fused SiLU/Swish; present_state is the last k - 1 positions of [past_state, input].
 * Computed in float; like the reference, the convolution result is rounded to the
 * tensor's type before the activation.
 */
#include <math.h>
#include <string.h>

#include "backends/cpu/attention_common.h"

kiln_status kiln_cpu_CausalConvWithState(kiln_cpu_ctx *ctx, const kiln_node *node,
                                         const kiln_tview *in, int32_t n_in, kiln_tview *out,
                                         int32_t n_out) {
    const kiln_tview *x = &in[0], *w = &in[1];
    const kiln_tview *bias = kiln_attn_opt(in, n_in, 2), *past = kiln_attn_opt(in, n_in, 3);
    kiln_tview *y = &out[0];
    kiln_tview *state = n_out > 1 && kiln_tview_present(&out[1]) ? &out[1] : NULL;
    int silu = strcmp(kiln_attr_string(node, "activation", "none"), "none") != 0;
    int64_t B = x->dims[0], C = x->dims[1], L = x->dims[2], K = w->dims[2], P = K - 1;
    int64_t W = L + P; /* padded length */
    size_t bytes = kiln_attn_align((size_t)(B * C * W) * 4) + kiln_attn_align((size_t)(C * K) * 4) +
                   kiln_attn_align((size_t)C * 4) + kiln_attn_align((size_t)(B * C * L) * 4);
    char *cur;
    KILN_TRY(kiln_attn_scratch(ctx, node, bytes, &cur));
    float *pad = kiln_attn_carve(&cur, (size_t)(B * C * W) * 4);
    float *wf = kiln_attn_carve(&cur, (size_t)(C * K) * 4);
    float *bf = kiln_attn_carve(&cur, (size_t)C * 4);
    float *yf = kiln_attn_carve(&cur, (size_t)(B * C * L) * 4);
    kiln_attn_to_f32(w->dtype, w->data, 0, wf, C * K);
    if (bias)
        kiln_attn_to_f32(bias->dtype, bias->data, 0, bf, C);
    else
        memset(bf, 0, (size_t)C * 4);
    for (int64_t bc = 0; bc < B * C; bc++) {
        float *row = pad + bc * W;
        if (past)
            kiln_attn_to_f32(past->dtype, past->data, bc * P, row, P);
        else
            memset(row, 0, (size_t)P * 4);
        kiln_attn_to_f32(x->dtype, x->data, bc * L, row + P, L);
    }
    int round = y->dtype != KILN_DTYPE_FLOAT32;
    int threads = kiln_cpu_threads(ctx);
    KILN_ATTN_PRAGMA(omp parallel for num_threads(threads) if (threads > 1 && B * C * L * K > (1 << 16)) schedule(static))
    for (int64_t bc = 0; bc < B * C; bc++) {
        const float *row = pad + bc * W, *wc = wf + (bc % C) * K;
        float *yr = yf + bc * L;
        for (int64_t t = 0; t < L; t++) {
            float acc = bf[bc % C];
            for (int64_t j = 0; j < K; j++) acc += wc[j] * row[t + j];
            if (round) {  /* the reference rounds the convolution to the tensor's type */
                double r; /* room for one element of any float type */
                kiln_attn_from_f32(y->dtype, &acc, &r, 0, 1);
                kiln_attn_to_f32(y->dtype, &r, 0, &acc, 1);
            }
            yr[t] = silu ? acc / (1.0f + expf(-acc)) : acc;
        }
    }
    kiln_attn_from_f32(y->dtype, yf, y->data, 0, B * C * L);
    if (state)
        for (int64_t bc = 0; bc < B * C; bc++)
            kiln_attn_from_f32(state->dtype, pad + bc * W + L, state->data, bc * P, P);
    return KILN_OK;
}
