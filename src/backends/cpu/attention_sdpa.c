/*
 * Attention (opset 23, 24: nonpad_kv_seqlen, 25: sliding windows): scaled dot-product
 * attention with GQA, 3-D (packed heads) or 4-D inputs, a bool or additive mask that
 * broadcasts (its last axis may be short: the rest is masked), bottom-right aligned causal
 * masking, softcap, an internal KV cache (past_* -> present_*) and the optional
 * qk_matmul_output in its four modes. Semantics follow the ONNX reference
 * (onnx/reference/ops/op_attention.py), including zero output for fully masked rows.
 *
 * Q, K and V are unpacked once to (batch, heads, seq, size) in the compute type (float;
 * double for float64 Q), reusing the tensors in place when they already are; then blocks
 * of query rows of one KV head run independently (threaded over blocks), their two
 * matrix products through the NN family's GEMM. softmax_precision needs nothing:
 * the softmax is always computed in float or wider.
 */
#include <math.h>
#include <string.h>

#include "backends/cpu/attention_sdpa.h"
#include "backends/cpu/nn_common.h"

/* The NN family's GEMMs (C = alpha * A op(B), beta 0); dgemm needs no workspace. */
#define ATTN_SGEMM(tb, m, n, k, alpha, a, lda, b, ldb, c, ldc, ws, threads)                        \
    kiln_nn_sgemm(0, tb, m, n, k, alpha, a, lda, b, ldb, 0.0f, c, ldc, ws, threads)
#define ATTN_DGEMM(tb, m, n, k, alpha, a, lda, b, ldb, c, ldc, ws, threads)                        \
    kiln_nn_dgemm(0, tb, m, n, k, alpha, a, lda, b, ldb, 0.0, c, ldc)

#define ATTN_T                         float
#define ATTN_SFX                       f32
#define ATTN_EXP                       expf
#define ATTN_TANH                      tanhf
#define ATTN_GEMM(ta, tb, ...)         ATTN_SGEMM(tb, __VA_ARGS__)
#define ATTN_GEMM_WS(m, n, k, threads) kiln_nn_sgemm_workspace(m, n, k, threads)
#include "backends/cpu/attention_sdpa.h"
#undef ATTN_T
#undef ATTN_SFX
#undef ATTN_EXP
#undef ATTN_TANH
#undef ATTN_GEMM
#undef ATTN_GEMM_WS

#define ATTN_T                         double
#define ATTN_SFX                       f64
#define ATTN_EXP                       exp
#define ATTN_TANH                      tanh
#define ATTN_GEMM(ta, tb, ...)         ATTN_DGEMM(tb, __VA_ARGS__)
#define ATTN_GEMM_WS(m, n, k, threads) ((size_t)0)
#include "backends/cpu/attention_sdpa.h"
#undef ATTN_T
#undef ATTN_SFX
#undef ATTN_EXP
#undef ATTN_TANH
#undef ATTN_GEMM
#undef ATTN_GEMM_WS

/* Broadcast strides of the mask onto (batch, q_heads, q_len); its last axis stays its own. */
static void attn_mask_strides(const kiln_tview *m, attn_plan *p) {
    int64_t stride = m->dims[m->rank - 1];
    p->mask_len = stride;
    for (int a = 2; a >= 0; a--) {
        int32_t mi = a - (4 - m->rank);
        p->mask_stride[a] = 0;
        if (mi < 0) continue;
        if (m->dims[mi] != 1) p->mask_stride[a] = stride;
        stride *= m->dims[mi];
    }
}

kiln_status kiln_cpu_Attention(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                               int32_t n_in, kiln_tview *out, int32_t n_out) {
    attn_plan p;
    memset(&p, 0, sizeof p);
    KILN_TRY(kiln_attention_geometry(node, in, n_in, &p.g));
    if (p.g.rank < 0) return kiln_node_error(KILN_ERR_INTERNAL, node, "input shapes unknown");
    p.group = p.g.q_heads / p.g.kv_heads;
    const kiln_attr *scale = kiln_node_attr(node, "scale");
    if (scale)
        p.scale = scale->f;
    else
        p.scale = p.g.head_size > 0 ? 1.0 / sqrt((double)p.g.head_size) : 1.0;
    p.softcap = kiln_attr_float(node, "softcap", 0.0f);
    p.causal = kiln_attr_int(node, "is_causal", 0) != 0;
    p.left_window = kiln_attr_int(node, "left_window_size", -1);
    p.right_window = kiln_attr_int(node, "right_window_size", -1);
    if (p.left_window < -1 || p.right_window < -1)
        return kiln_shape_error(node, "window sizes must be -1 or nonnegative");
    p.mode = (int)kiln_attr_int(node, "qk_matmul_output_mode", 0);
    const kiln_tview *nonpad = kiln_attn_opt(in, n_in, KILN_ATTN_NONPAD);
    if (nonpad) p.nonpad = (const int64_t *)nonpad->data;
    const kiln_tview *mask = kiln_attn_opt(in, n_in, KILN_ATTN_MASK);
    if (mask) attn_mask_strides(mask, &p);
    p.has_bias = mask || nonpad || p.causal || p.left_window >= 0 || p.right_window >= 0;
    if (in[KILN_ATTN_Q].dtype == KILN_DTYPE_FLOAT64)
        return attn_run_f64(ctx, node, in, n_in, out, n_out, &p, KILN_DTYPE_FLOAT64);
    return attn_run_f32(ctx, node, in, n_in, out, n_out, &p, KILN_DTYPE_FLOAT32);
}
