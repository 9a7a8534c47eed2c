/* Shape functions of Attention and RotaryEmbedding. */
#include "ir/shape_attention.h"

/* Two sizes that are both known and differ. */
static int clash(int64_t a, int64_t b) {
    return a >= 0 && b >= 0 && a != b;
}

/* The known one of two sizes that must agree (-1 when neither is known). */
static int64_t merge(int64_t a, int64_t b) {
    return a >= 0 ? a : b;
}

/* hidden / heads for a packed (B, S, heads * size) input; -1 when hidden is unknown. */
static kiln_status unpack_heads(const kiln_node *node, const char *what, int64_t hidden,
                                int64_t heads, int64_t *size) {
    if (hidden < 0) {
        *size = -1;
        return KILN_OK;
    }
    if (hidden % heads != 0)
        return kiln_shape_error(node, "%s hidden size %lld is not a multiple of %lld heads", what,
                                (long long)hidden, (long long)heads);
    *size = hidden / heads;
    return KILN_OK;
}

static kiln_status attention_qkv(const kiln_node *node, const kiln_tview *q, const kiln_tview *k,
                                 const kiln_tview *v, kiln_attn_geom *g) {
    if (q->rank != k->rank || q->rank != v->rank)
        return kiln_shape_error(node, "Q, K and V must have the same rank, got %d, %d and %d",
                                q->rank, k->rank, v->rank);
    if (q->rank != 3 && q->rank != 4)
        return kiln_shape_error(node, "Q, K and V must be 3-D or 4-D, got rank %d", q->rank);
    if (clash(q->dims[0], k->dims[0]) || clash(q->dims[0], v->dims[0]))
        return kiln_shape_error(node, "Q, K and V batch sizes differ");
    g->batch = merge(q->dims[0], merge(k->dims[0], v->dims[0]));
    if (q->rank == 3) {
        g->q_heads = kiln_attr_int(node, "q_num_heads", 0);
        g->kv_heads = kiln_attr_int(node, "kv_num_heads", 0);
        if (g->q_heads <= 0 || g->kv_heads <= 0)
            return kiln_shape_error(node, "3-D inputs need positive q_num_heads and kv_num_heads");
        int64_t kd;
        KILN_TRY(unpack_heads(node, "Q", q->dims[2], g->q_heads, &g->head_size));
        KILN_TRY(unpack_heads(node, "K", k->dims[2], g->kv_heads, &kd));
        KILN_TRY(unpack_heads(node, "V", v->dims[2], g->kv_heads, &g->v_head_size));
        if (clash(g->head_size, kd))
            return kiln_shape_error(node, "Q head size %lld differs from K head size %lld",
                                    (long long)g->head_size, (long long)kd);
        g->head_size = merge(g->head_size, kd);
        g->q_len = q->dims[1];
        if (clash(k->dims[1], v->dims[1]))
            return kiln_shape_error(node, "K and V sequence lengths differ");
        g->kv_len = merge(k->dims[1], v->dims[1]);
        return KILN_OK;
    }
    g->q_heads = q->dims[1];
    if (clash(k->dims[1], v->dims[1])) return kiln_shape_error(node, "K and V head counts differ");
    g->kv_heads = merge(k->dims[1], v->dims[1]);
    if (clash(q->dims[3], k->dims[3]))
        return kiln_shape_error(node, "Q head size %lld differs from K head size %lld",
                                (long long)q->dims[3], (long long)k->dims[3]);
    g->head_size = merge(q->dims[3], k->dims[3]);
    g->v_head_size = v->dims[3];
    g->q_len = q->dims[2];
    if (clash(k->dims[2], v->dims[2]))
        return kiln_shape_error(node, "K and V sequence lengths differ");
    g->kv_len = merge(k->dims[2], v->dims[2]);
    return KILN_OK;
}

static kiln_status attention_past(const kiln_node *node, const kiln_tview *pk, const kiln_tview *pv,
                                  kiln_attn_geom *g) {
    if (!pk != !pv) return kiln_shape_error(node, "past_key and past_value go together");
    g->past_len = 0;
    if (!pk) return KILN_OK;
    if (pk->rank < 0 || pv->rank < 0) {
        g->past_len = -1;
        return KILN_OK;
    }
    if (pk->rank != 4 || pv->rank != 4)
        return kiln_shape_error(node, "past_key and past_value must be 4-D");
    if (clash(pk->dims[0], g->batch) || clash(pv->dims[0], g->batch) ||
        clash(pk->dims[1], g->kv_heads) || clash(pv->dims[1], g->kv_heads) ||
        clash(pk->dims[3], g->head_size) || clash(pv->dims[3], g->v_head_size) ||
        clash(pk->dims[2], pv->dims[2]))
        return kiln_shape_error(node, "past_key/past_value shapes do not match K/V");
    g->past_len = merge(pk->dims[2], pv->dims[2]);
    return KILN_OK;
}

/* The mask broadcasts onto (batch, q_heads, q_len, total_len); its last axis may be shorter. */
static kiln_status attention_mask(const kiln_node *node, const kiln_tview *m,
                                  const kiln_attn_geom *g) {
    if (m->rank < 0) return KILN_OK;
    if (m->rank < 1 || m->rank > 4)
        return kiln_shape_error(node, "attn_mask must have rank 1 to 4, got %d", m->rank);
    if (m->dtype == KILN_DTYPE_STRING || kiln_dtype_bits(m->dtype) < 8)
        return kiln_shape_error(node, "attn_mask dtype %s not supported",
                                kiln_dtype_name(m->dtype));
    const int64_t full[4] = {g->batch, g->q_heads, g->q_len, g->total_len};
    int64_t last = m->dims[m->rank - 1];
    if (last >= 0 && g->total_len >= 0 && last > g->total_len)
        return kiln_shape_error(node,
                                "attn_mask last dim %lld exceeds the total sequence length %lld",
                                (long long)last, (long long)g->total_len);
    for (int32_t i = 0; i + 1 < m->rank; i++) {
        int64_t d = m->dims[i], want = full[4 - m->rank + i];
        if (d != 1 && clash(d, want))
            return kiln_shape_error(node, "attn_mask dim %d (%lld) does not broadcast to %lld", i,
                                    (long long)d, (long long)want);
    }
    return KILN_OK;
}

kiln_status kiln_attention_geometry(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                    kiln_attn_geom *g) {
    const kiln_tview *q = &in[KILN_ATTN_Q], *k = &in[KILN_ATTN_K], *v = &in[KILN_ATTN_V];
    for (int i = 0; i < 3; i++)
        if (!kiln_attn_is_float(in[i].dtype))
            return kiln_shape_error(node, "input %d has dtype %s; Attention takes float types", i,
                                    kiln_dtype_name(in[i].dtype));
    const kiln_tview *pk = kiln_attn_opt(in, n_in, KILN_ATTN_PAST_KEY);
    const kiln_tview *pv = kiln_attn_opt(in, n_in, KILN_ATTN_PAST_VALUE);
    const kiln_tview *mask = kiln_attn_opt(in, n_in, KILN_ATTN_MASK);
    const kiln_tview *nonpad = kiln_attn_opt(in, n_in, KILN_ATTN_NONPAD);
    g->rank = -1;
    if (q->rank < 0 || k->rank < 0 || v->rank < 0) return KILN_OK;
    KILN_TRY(attention_qkv(node, q, k, v, g));
    g->rank = q->rank;
    if (g->kv_heads == 0 || (g->q_heads > 0 && g->kv_heads > 0 && g->q_heads % g->kv_heads))
        return kiln_shape_error(node, "q_num_heads %lld is not a multiple of kv_num_heads %lld",
                                (long long)g->q_heads, (long long)g->kv_heads);
    KILN_TRY(attention_past(node, pk, pv, g));
    g->total_len = g->past_len >= 0 && g->kv_len >= 0 ? g->past_len + g->kv_len : -1;
    if (nonpad) {
        if (pk) return kiln_shape_error(node, "nonpad_kv_seqlen cannot be used with past_key");
        if (nonpad->dtype != KILN_DTYPE_INT64)
            return kiln_shape_error(node, "nonpad_kv_seqlen must be int64, got %s",
                                    kiln_dtype_name(nonpad->dtype));
        if (nonpad->rank >= 0 && (nonpad->rank != 1 || clash(nonpad->dims[0], g->batch)))
            return kiln_shape_error(node, "nonpad_kv_seqlen must have shape (batch_size,)");
    }
    if (mask) KILN_TRY(attention_mask(node, mask, g));
    int64_t mode = kiln_attr_int(node, "qk_matmul_output_mode", 0);
    if (mode < 0 || mode > 3)
        return kiln_shape_error(node, "qk_matmul_output_mode %lld not in 0..3", (long long)mode);
    return KILN_OK;
}

kiln_status kiln_shape_Attention(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                 kiln_tview *out, int32_t n_out) {
    kiln_attn_geom g;
    KILN_TRY(kiln_attention_geometry(node, in, n_in, &g));
    const kiln_dtype qt = in[KILN_ATTN_Q].dtype;
    const kiln_dtype types[4] = {qt, in[KILN_ATTN_K].dtype, in[KILN_ATTN_V].dtype, qt};
    for (int32_t i = 0; i < n_out && i < 4; i++) {
        if (!kiln_tview_present(&out[i])) continue;
        out[i].dtype = types[i];
        out[i].rank = g.rank < 0 ? -1 : (i == 0 ? g.rank : 4);
    }
    if (g.rank < 0) return KILN_OK;
    kiln_tview *y = &out[0];
    if (g.rank == 3) {
        y->dims[0] = g.batch;
        y->dims[1] = g.q_len;
        y->dims[2] = g.v_head_size >= 0 ? g.q_heads * g.v_head_size : -1;
    } else {
        y->dims[0] = g.batch;
        y->dims[1] = g.q_heads;
        y->dims[2] = g.q_len;
        y->dims[3] = g.v_head_size;
    }
    const int64_t last[4] = {0, g.head_size, g.v_head_size, g.total_len};
    for (int32_t i = 1; i < n_out && i < 4; i++) {
        if (!kiln_tview_present(&out[i])) continue;
        out[i].dims[0] = g.batch;
        out[i].dims[1] = i == 3 ? g.q_heads : g.kv_heads;
        out[i].dims[2] = i == 3 ? g.q_len : g.total_len;
        out[i].dims[3] = last[i];
    }
    return KILN_OK;
}

/* ------------------------------------------------------------ RotaryEmbedding ------- */

kiln_status kiln_shape_RotaryEmbedding(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                       kiln_tview *out, int32_t n_out) {
    const kiln_tview *x = &in[0], *cos_c = &in[1], *sin_c = &in[2];
    const kiln_tview *pos = kiln_attn_opt(in, n_in, 3);
    for (int i = 0; i < 3; i++)
        if (!kiln_attn_is_float(in[i].dtype))
            return kiln_shape_error(node,
                                    "input %d has dtype %s; RotaryEmbedding takes float types", i,
                                    kiln_dtype_name(in[i].dtype));
    if (pos && pos->dtype != KILN_DTYPE_INT64)
        return kiln_shape_error(node, "position_ids must be int64, got %s",
                                kiln_dtype_name(pos->dtype));
    if (pos && pos->rank >= 0 && pos->rank != 2)
        return kiln_shape_error(node, "position_ids must be 2-D, got rank %d", pos->rank);
    out[0].dtype = x->dtype;
    out[0].rank = x->rank;
    for (int32_t i = 0; i < x->rank; i++) out[0].dims[i] = x->dims[i];
    if (x->rank < 0) return KILN_OK;
    if (x->rank != 3 && x->rank != 4)
        return kiln_shape_error(node, "input must be 3-D or 4-D, got rank %d", x->rank);
    int64_t heads = kiln_attr_int(node, "num_heads", 0);
    if (x->rank == 3 && heads <= 0)
        return kiln_shape_error(node, "a 3-D input needs a positive num_heads");
    int64_t head_size = -1;
    if (x->rank == 4)
        head_size = x->dims[3];
    else
        KILN_TRY(unpack_heads(node, "input", x->dims[2], heads, &head_size));
    int64_t rot = kiln_attr_int(node, "rotary_embedding_dim", 0);
    if (rot < 0) return kiln_shape_error(node, "rotary_embedding_dim must be >= 0");
    if (head_size >= 0) {
        if (rot == 0) rot = head_size;
        if (rot > head_size || rot % 2)
            return kiln_shape_error(node, "rotary dim %lld must be even and at most head size %lld",
                                    (long long)rot, (long long)head_size);
    }
    int32_t want_rank = pos ? 2 : 3;
    const kiln_tview *caches[2] = {cos_c, sin_c};
    for (int i = 0; i < 2; i++) {
        const kiln_tview *c = caches[i];
        if (c->rank < 0) continue;
        if (c->rank != want_rank)
            return kiln_shape_error(node, "%s_cache must be %d-D %s position_ids, got rank %d",
                                    i ? "sin" : "cos", want_rank, pos ? "with" : "without",
                                    c->rank);
        int64_t half = c->dims[c->rank - 1];
        if (head_size >= 0 && half >= 0 && half * 2 != rot)
            return kiln_shape_error(node, "%s_cache last dim %lld is not rotary dim / 2 (%lld)",
                                    i ? "sin" : "cos", (long long)half, (long long)(rot / 2));
    }
    int64_t batch = x->dims[0], seq = x->rank == 4 ? x->dims[2] : x->dims[1];
    const kiln_tview *idx = pos ? pos : cos_c;
    if (idx->rank >= 2 && (clash(idx->dims[0], batch) || clash(idx->dims[1], seq)))
        return kiln_shape_error(node, "%s does not match (batch_size, sequence_length)",
                                pos ? "position_ids" : "cos_cache");
    return KILN_OK;
}
