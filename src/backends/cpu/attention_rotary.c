/*
 * RotaryEmbedding (opset 23): rotates the first rotary_embedding_dim values of every head
 * by position-dependent angles. Pairs are (x[i], x[i + half]) or, interleaved, (x[2i],
 * x[2i + 1]); cos/sin come from the caches at position_ids[b, s] (caches (max_pos, half)),
 * or without position_ids straight from caches (batch, seq, half). Input (B, H, S, D) or
 * (B, S, H * D) with num_heads; computed in float.
 */
#include "backends/cpu/attention_common.h"

/* Rotates one head's row in place. */
static void rope_row(float *x, const float *c, const float *s, int64_t half, int interleaved) {
    for (int64_t i = 0; i < half; i++) {
        int64_t i1 = interleaved ? 2 * i : i, i2 = interleaved ? 2 * i + 1 : i + half;
        float x1 = x[i1], x2 = x[i2];
        x[i1] = c[i] * x1 - s[i] * x2;
        x[i2] = s[i] * x1 + c[i] * x2;
    }
}

kiln_status kiln_cpu_RotaryEmbedding(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                                     int32_t n_in, kiln_tview *out, int32_t n_out) {
    const kiln_tview *x = &in[0], *cos_c = &in[1], *sin_c = &in[2];
    const kiln_tview *pos = kiln_attn_opt(in, n_in, 3);
    kiln_tview *y = &out[0];
    int four = x->rank == 4;
    int64_t B = x->dims[0], S = four ? x->dims[2] : x->dims[1];
    int64_t H = four ? x->dims[1] : kiln_attr_int(node, "num_heads", 0);
    int64_t D = four ? x->dims[3] : x->dims[2] / H;
    int64_t rot = kiln_attr_int(node, "rotary_embedding_dim", 0);
    if (rot == 0) rot = D;
    int64_t half = rot / 2;
    int interleaved = kiln_attr_int(node, "interleaved", 0) != 0;
    int64_t n = kiln_tview_count(x), nc = kiln_tview_count(cos_c), ns = kiln_tview_count(sin_c);
    if (nc != ns) return kiln_shape_error(node, "cos_cache and sin_cache shapes differ");
    int64_t max_pos = pos ? cos_c->dims[0] : 0;
    const int64_t *ids = pos ? (const int64_t *)pos->data : NULL;
    if (ids)
        for (int64_t i = 0; i < B * S; i++)
            if (ids[i] < 0 || ids[i] >= max_pos)
                return kiln_shape_error(node, "position id %lld out of range [0, %lld)",
                                        (long long)ids[i], (long long)max_pos);
    size_t bytes = kiln_attn_align((size_t)n * 4) + 2 * kiln_attn_align((size_t)nc * 4);
    char *cur;
    KILN_TRY(kiln_attn_scratch(ctx, node, bytes, &cur));
    float *xf = kiln_attn_carve(&cur, (size_t)n * 4);
    float *cf = kiln_attn_carve(&cur, (size_t)nc * 4), *sf = kiln_attn_carve(&cur, (size_t)nc * 4);
    kiln_attn_to_f32(x->dtype, x->data, 0, xf, n);
    kiln_attn_to_f32(cos_c->dtype, cos_c->data, 0, cf, nc);
    kiln_attn_to_f32(sin_c->dtype, sin_c->data, 0, sf, nc);
    int64_t rows = B * S * H;
    int threads = kiln_cpu_threads(ctx);
    KILN_ATTN_PRAGMA(omp parallel for num_threads(threads) if (threads > 1 && n > (1 << 16)) schedule(static))
    for (int64_t r = 0; r < rows; r++) {
        int64_t h = r % H, bs = r / H, s = bs % S, b = bs / S;
        int64_t at = four ? ((b * H + h) * S + s) * D : bs * H * D + h * D;
        int64_t c = (ids ? ids[bs] : bs) * half;
        rope_row(xf + at, cf + c, sf + c, half, interleaved);
    }
    kiln_attn_from_f32(y->dtype, xf, y->data, 0, n);
    return KILN_OK;
}
