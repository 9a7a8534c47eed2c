/* Shape functions of LinearAttention, CausalConvWithState, SwiGLU and TensorScatter. */
#include <string.h>

#include "ir/shape_attention.h"

static int clash(int64_t a, int64_t b) {
    return a >= 0 && b >= 0 && a != b;
}

static int64_t merge(int64_t a, int64_t b) {
    return a >= 0 ? a : b;
}

static void set_shape(kiln_tview *t, kiln_dtype dtype, int32_t rank, const int64_t *dims) {
    t->dtype = dtype;
    t->rank = rank;
    for (int32_t i = 0; i < rank; i++) t->dims[i] = dims[i];
}

/* ------------------------------------------------------------ LinearAttention ------- */

/* Per-head size of a packed (B, T, heads * size) tensor; -1 when unknown. */
static kiln_status packed_size(const kiln_node *node, const char *what, const kiln_tview *t,
                               int64_t heads, int64_t *size) {
    *size = -1;
    if (t->rank < 0 || t->dims[2] < 0) return KILN_OK;
    if (t->dims[2] % heads)
        return kiln_shape_error(node, "%s last dim %lld is not a multiple of %lld heads", what,
                                (long long)t->dims[2], (long long)heads);
    *size = t->dims[2] / heads;
    return KILN_OK;
}

/* update_rule: 1 for "linear", 2 "gated", 3 "delta", 4 "gated_delta"; 0 when unknown. */
static int linear_rule(const kiln_node *node) {
    const char *r = kiln_attr_string(node, "update_rule", "gated_delta");
    if (!strcmp(r, "linear")) return 1;
    if (!strcmp(r, "gated")) return 2;
    if (!strcmp(r, "delta")) return 3;
    if (!strcmp(r, "gated_delta")) return 4;
    return 0;
}

static kiln_status linear_side_input(const kiln_node *node, const char *what, const kiln_tview *t,
                                     const kiln_linattn_geom *g, int64_t alt_last) {
    if (!kiln_attn_is_float(t->dtype))
        return kiln_shape_error(node, "%s has dtype %s", what, kiln_dtype_name(t->dtype));
    if (t->rank < 0) return KILN_OK;
    if (t->rank != 3) return kiln_shape_error(node, "%s must be 3-D, got rank %d", what, t->rank);
    if (clash(t->dims[0], g->batch) || clash(t->dims[1], g->seq))
        return kiln_shape_error(node, "%s must be (batch, seq, ...)", what);
    /* The last dim is per head (kv_num_heads) or alt_last; alt_last -1: not known yet. */
    int64_t last = t->dims[2];
    if (last < 0 || last == g->kv_heads || last == alt_last || alt_last < 0) return KILN_OK;
    return kiln_shape_error(node, "%s last dim %lld must be %lld or %lld", what, (long long)last,
                            (long long)g->kv_heads, (long long)alt_last);
}

kiln_status kiln_linear_attention_geometry(const kiln_node *node, const kiln_tview *in,
                                           int32_t n_in, kiln_linattn_geom *g) {
    const char *names[3] = {"query", "key", "value"};
    for (int i = 0; i < 3; i++) {
        if (!kiln_attn_is_float(in[i].dtype))
            return kiln_shape_error(node, "%s has dtype %s", names[i],
                                    kiln_dtype_name(in[i].dtype));
        if (in[i].rank >= 0 && in[i].rank != 3)
            return kiln_shape_error(node, "%s must be 3-D (B, T, H*D), got rank %d", names[i],
                                    in[i].rank);
    }
    g->q_heads = kiln_attr_int(node, "q_num_heads", 0);
    g->kv_heads = kiln_attr_int(node, "kv_num_heads", 0);
    if (g->q_heads <= 0 || g->kv_heads <= 0 || g->q_heads % g->kv_heads)
        return kiln_shape_error(node,
                                "q_num_heads (%lld) must be a positive multiple of "
                                "kv_num_heads (%lld)",
                                (long long)g->q_heads, (long long)g->kv_heads);
    g->batch = g->seq = -1;
    for (int i = 0; i < 3; i++) {
        if (in[i].rank < 0) continue;
        if (clash(g->batch, in[i].dims[0]) || clash(g->seq, in[i].dims[1]))
            return kiln_shape_error(node, "query, key and value must share batch and seq dims");
        g->batch = merge(g->batch, in[i].dims[0]);
        g->seq = merge(g->seq, in[i].dims[1]);
    }
    int64_t kd;
    KILN_TRY(packed_size(node, "query", &in[0], g->q_heads, &g->dk));
    KILN_TRY(packed_size(node, "key", &in[1], g->kv_heads, &kd));
    KILN_TRY(packed_size(node, "value", &in[2], g->kv_heads, &g->dv));
    if (clash(g->dk, kd))
        return kiln_shape_error(node, "query head size %lld differs from key head size %lld",
                                (long long)g->dk, (long long)kd);
    g->dk = merge(g->dk, kd);
    int rule = linear_rule(node);
    if (!rule)
        return kiln_shape_error(node, "unsupported update_rule '%s'",
                                kiln_attr_string(node, "update_rule", ""));
    int gated = rule == 2 || rule == 4, delta = rule >= 3;
    const kiln_tview *past = kiln_attn_opt(in, n_in, 3);
    const kiln_tview *decay = kiln_attn_opt(in, n_in, 4);
    const kiln_tview *beta = kiln_attn_opt(in, n_in, 5);
    if (gated != (decay != NULL))
        return kiln_shape_error(node, "update_rule '%s' %s the decay input",
                                kiln_attr_string(node, "update_rule", "gated_delta"),
                                gated ? "requires" : "forbids");
    if (delta != (beta != NULL))
        return kiln_shape_error(node, "update_rule '%s' %s the beta input",
                                kiln_attr_string(node, "update_rule", "gated_delta"),
                                delta ? "requires" : "forbids");
    if (decay)
        KILN_TRY(linear_side_input(node, "decay", decay, g, g->dk >= 0 ? g->kv_heads * g->dk : -1));
    if (beta) KILN_TRY(linear_side_input(node, "beta", beta, g, 1));
    if (past) {
        if (!kiln_attn_is_float(past->dtype))
            return kiln_shape_error(node, "past_state has dtype %s", kiln_dtype_name(past->dtype));
        if (past->rank >= 0) {
            if (past->rank != 4 || clash(past->dims[0], g->batch) ||
                clash(past->dims[1], g->kv_heads) || clash(past->dims[2], g->dk) ||
                clash(past->dims[3], g->dv))
                return kiln_shape_error(node, "past_state must be (B, kv_num_heads, d_k, d_v)");
            g->batch = merge(g->batch, past->dims[0]);
            g->dk = merge(g->dk, past->dims[2]);
            g->dv = merge(g->dv, past->dims[3]);
        }
    }
    return KILN_OK;
}

kiln_status kiln_shape_LinearAttention(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                       kiln_tview *out, int32_t n_out) {
    kiln_linattn_geom g;
    KILN_TRY(kiln_linear_attention_geometry(node, in, n_in, &g));
    const kiln_tview *past = kiln_attn_opt(in, n_in, 3);
    int64_t y[3] = {g.batch, g.seq, g.dv >= 0 ? g.q_heads * g.dv : -1};
    set_shape(&out[0], in[0].dtype, 3, y);
    if (n_out > 1 && kiln_tview_present(&out[1])) {
        int64_t s[4] = {g.batch, g.kv_heads, g.dk, g.dv};
        set_shape(&out[1], past ? past->dtype : in[0].dtype, 4, s);
    }
    return KILN_OK;
}

/* ------------------------------------------------------------ CausalConvWithState --- */

kiln_status kiln_shape_CausalConvWithState(const kiln_node *node, const kiln_tview *in,
                                           int32_t n_in, kiln_tview *out, int32_t n_out) {
    const kiln_tview *x = &in[0], *w = &in[1];
    const kiln_tview *bias = kiln_attn_opt(in, n_in, 2), *past = kiln_attn_opt(in, n_in, 3);
    const char *act = kiln_attr_string(node, "activation", "none");
    if (strcmp(act, "none") && strcmp(act, "silu") && strcmp(act, "swish"))
        return kiln_shape_error(node, "unsupported activation '%s'", act);
    for (int32_t i = 0; i < n_in && i < 4; i++)
        if (kiln_tview_present(&in[i]) && !kiln_attn_is_float(in[i].dtype))
            return kiln_shape_error(node, "input %d has dtype %s", i, kiln_dtype_name(in[i].dtype));
    if (x->rank >= 0 && x->rank != 3)
        return kiln_shape_error(node, "input must be 3-D (B, C, L), got rank %d", x->rank);
    if (w->rank >= 0 && w->rank != 3)
        return kiln_shape_error(node, "weight must be 3-D (C, 1, k), got rank %d", w->rank);
    int64_t batch = x->rank == 3 ? x->dims[0] : -1, len = x->rank == 3 ? x->dims[2] : -1;
    int64_t ch = x->rank == 3 ? x->dims[1] : -1, k = w->rank == 3 ? w->dims[2] : -1;
    if (w->rank == 3) {
        if (clash(w->dims[0], ch) || clash(w->dims[1], 1))
            return kiln_shape_error(node, "weight must be (channels, 1, k)");
        if (w->dims[2] == 0) return kiln_shape_error(node, "kernel size must be >= 1");
        ch = merge(ch, w->dims[0]);
    }
    if (bias && bias->rank >= 0 && (bias->rank != 1 || clash(bias->dims[0], ch)))
        return kiln_shape_error(node, "bias must be (channels,)");
    if (past && past->rank >= 0 &&
        (past->rank != 3 || clash(past->dims[0], batch) || clash(past->dims[1], ch) ||
         clash(past->dims[2], k >= 0 ? k - 1 : -1)))
        return kiln_shape_error(node, "past_state must be (batch, channels, k - 1)");
    int64_t y[3] = {batch, ch, len}, s[3] = {batch, ch, k >= 0 ? k - 1 : -1};
    if (x->rank < 0)
        out[0].dtype = x->dtype, out[0].rank = -1;
    else
        set_shape(&out[0], x->dtype, 3, y);
    if (n_out > 1 && kiln_tview_present(&out[1])) set_shape(&out[1], x->dtype, 3, s);
    return KILN_OK;
}

/* ------------------------------------------------------------ SwiGLU ---------------- */

kiln_status kiln_shape_SwiGLU(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                              kiln_tview *out, int32_t n_out) {
    const kiln_tview *a = &in[0], *b = &in[1];
    if (!kiln_attn_is_float(a->dtype) || a->dtype != b->dtype)
        return kiln_shape_error(node, "A and B must share one float dtype, got %s and %s",
                                kiln_dtype_name(a->dtype), kiln_dtype_name(b->dtype));
    if (a->rank >= 0 && b->rank >= 0) {
        int bad = a->rank != b->rank;
        for (int32_t i = 0; !bad && i < a->rank; i++) bad = clash(a->dims[i], b->dims[i]);
        if (bad) return kiln_shape_error(node, "A and B must have identical shapes");
    }
    const kiln_tview *src = a->rank >= 0 ? a : b;
    out[0].dtype = a->dtype;
    out[0].rank = src->rank;
    for (int32_t i = 0; i < src->rank; i++)
        out[0].dims[i] = merge(a->dims[i], b->rank > i ? b->dims[i] : -1);
    return KILN_OK;
}

/* ------------------------------------------------------------ TensorScatter --------- */

kiln_status kiln_shape_TensorScatter(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                     kiln_tview *out, int32_t n_out) {
    const kiln_tview *past = &in[0], *upd = &in[1], *idx = kiln_attn_opt(in, n_in, 2);
    if (past->dtype != upd->dtype)
        return kiln_shape_error(node, "past_cache (%s) and update (%s) dtypes differ",
                                kiln_dtype_name(past->dtype), kiln_dtype_name(upd->dtype));
    if (past->dtype == KILN_DTYPE_STRING || kiln_dtype_bits(past->dtype) < 8)
        return kiln_shape_error(node, "dtype %s not supported", kiln_dtype_name(past->dtype));
    const char *mode = kiln_attr_string(node, "mode", "linear");
    if (strcmp(mode, "linear") && strcmp(mode, "circular"))
        return kiln_shape_error(node, "unsupported mode '%s'", mode);
    if (idx && idx->dtype != KILN_DTYPE_INT64)
        return kiln_shape_error(node, "write_indices must be int64, got %s",
                                kiln_dtype_name(idx->dtype));
    set_shape(&out[0], past->dtype, past->rank, past->dims);
    if (past->rank < 0 || upd->rank < 0) return KILN_OK;
    if (past->rank < 2 || upd->rank != past->rank)
        return kiln_shape_error(node, "past_cache and update must share a rank >= 2 (got %d, %d)",
                                past->rank, upd->rank);
    int64_t axis = kiln_attr_int(node, "axis", -2);
    if (axis < -(int64_t)past->rank || axis >= past->rank)
        return kiln_shape_error(node, "axis %lld out of range", (long long)axis);
    if (axis < 0) axis += past->rank;
    if (axis == 0) return kiln_shape_error(node, "axis cannot be the batch axis");
    for (int32_t i = 0; i < past->rank; i++) {
        int64_t p = past->dims[i], u = upd->dims[i];
        if (i == axis ? (p >= 0 && u >= 0 && u > p) : clash(p, u))
            return kiln_shape_error(node, "update does not fit past_cache in dim %d", i);
    }
    if (idx && idx->rank >= 0 && (idx->rank != 1 || clash(idx->dims[0], past->dims[0])))
        return kiln_shape_error(node, "write_indices must be (batch_size,)");
    return KILN_OK;
}
