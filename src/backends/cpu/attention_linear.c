/*
 * LinearAttention (opset 27): the recurrent form of linear attention, token by token, with
 * a (d_k, d_v) state per batch and KV head:
 *   gated:  S *= exp(g_t)                       (g per head or per key dim)
 *   delta:  v_t = beta_t * (v_t - S^T k_t)      (beta per head or shared)
 *   all:    S += k_t v_t^T;  o_t = scale * q_t^T S   for each query head of the group.
 * Inputs are packed (B, T, H * D); the state starts from past_state or zeros and leaves as
 * present_state. Everything runs in float like the reference; chunk_size is only a hint.
 */
#include <math.h>
#include <string.h>

#include "backends/cpu/attention_common.h"

typedef struct lin_plan {
    kiln_linattn_geom g;
    int64_t group;
    float scale;
    int gated, delta;
    int64_t decay_last, beta_last; /* last dims of decay and beta */
    const float *q, *k, *v, *decay, *beta;
} lin_plan;

/* Runs every token for one (batch, KV head) state; writes its query heads' outputs. */
static void lin_head(const lin_plan *p, int64_t b, int64_t kvh, float *state, float *out,
                     float *vt) {
    const kiln_linattn_geom *g = &p->g;
    const int64_t dk = g->dk, dv = g->dv, T = g->seq;
    for (int64_t t = 0; t < T; t++) {
        int64_t bt = b * T + t;
        const float *kt = p->k + (bt * g->kv_heads + kvh) * dk;
        const float *vsrc = p->v + (bt * g->kv_heads + kvh) * dv;
        if (p->gated) {
            const float *gt = p->decay + bt * p->decay_last;
            int per_dim = p->decay_last != g->kv_heads;
            for (int64_t d = 0; d < dk; d++) {
                float f = expf(per_dim ? gt[kvh * dk + d] : gt[kvh]);
                float *sd = state + d * dv;
                for (int64_t m = 0; m < dv; m++) sd[m] *= f;
            }
        }
        memcpy(vt, vsrc, (size_t)dv * sizeof *vt);
        if (p->delta) {
            float beta = p->beta[bt * p->beta_last + (p->beta_last == 1 ? 0 : kvh)];
            for (int64_t m = 0; m < dv; m++) {
                float r = 0;
                for (int64_t d = 0; d < dk; d++) r += state[d * dv + m] * kt[d];
                vt[m] = beta * (vt[m] - r);
            }
        }
        for (int64_t d = 0; d < dk; d++) {
            float *sd = state + d * dv;
            for (int64_t m = 0; m < dv; m++) sd[m] += kt[d] * vt[m];
        }
        for (int64_t gi = 0; gi < p->group; gi++) {
            int64_t h = kvh * p->group + gi;
            const float *qt = p->q + (bt * g->q_heads + h) * dk;
            float *ot = out + (bt * g->q_heads + h) * dv;
            for (int64_t m = 0; m < dv; m++) ot[m] = 0;
            for (int64_t d = 0; d < dk; d++) {
                const float *sd = state + d * dv;
                for (int64_t m = 0; m < dv; m++) ot[m] += qt[d] * sd[m];
            }
            for (int64_t m = 0; m < dv; m++) ot[m] *= p->scale;
        }
    }
}

/* A whole input widened to float into scratch. */
static const float *lin_load(const kiln_tview *t, char **cur) {
    if (!t) return NULL;
    int64_t n = kiln_tview_count(t);
    float *f = kiln_attn_carve(cur, (size_t)n * 4);
    kiln_attn_to_f32(t->dtype, t->data, 0, f, n);
    return f;
}

static size_t lin_bytes(const kiln_tview *t) {
    return t ? kiln_attn_align((size_t)kiln_tview_count(t) * 4) : 0;
}

kiln_status kiln_cpu_LinearAttention(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                                     int32_t n_in, kiln_tview *out, int32_t n_out) {
    lin_plan p;
    memset(&p, 0, sizeof p);
    KILN_TRY(kiln_linear_attention_geometry(node, in, n_in, &p.g));
    const kiln_linattn_geom *g = &p.g;
    const kiln_tview *past = kiln_attn_opt(in, n_in, 3);
    const kiln_tview *decay = kiln_attn_opt(in, n_in, 4), *beta = kiln_attn_opt(in, n_in, 5);
    kiln_tview *y = &out[0];
    kiln_tview *present = n_out > 1 && kiln_tview_present(&out[1]) ? &out[1] : NULL;
    p.group = g->q_heads / g->kv_heads;
    float scale = kiln_attr_float(node, "scale", 0.0f);
    p.scale = scale != 0.0f ? scale : (g->dk > 0 ? (float)(1.0 / sqrt((double)g->dk)) : 1.0f);
    p.gated = decay != NULL;
    p.delta = beta != NULL;
    p.decay_last = decay ? decay->dims[2] : 0;
    p.beta_last = beta ? beta->dims[2] : 0;
    int64_t ns = g->batch * g->kv_heads * g->dk * g->dv, ny = kiln_tview_count(y);
    int threads = kiln_cpu_threads(ctx);
    int64_t heads = g->batch * g->kv_heads;
    size_t bytes = lin_bytes(&in[0]) + lin_bytes(&in[1]) + lin_bytes(&in[2]) + lin_bytes(decay) +
                   lin_bytes(beta) + kiln_attn_align((size_t)ns * 4) +
                   kiln_attn_align((size_t)ny * 4) + kiln_attn_align((size_t)(heads * g->dv) * 4);
    char *cur;
    KILN_TRY(kiln_attn_scratch(ctx, node, bytes, &cur));
    p.q = lin_load(&in[0], &cur);
    p.k = lin_load(&in[1], &cur);
    p.v = lin_load(&in[2], &cur);
    p.decay = lin_load(decay, &cur);
    p.beta = lin_load(beta, &cur);
    float *state = kiln_attn_carve(&cur, (size_t)ns * 4);
    float *yf = kiln_attn_carve(&cur, (size_t)ny * 4);
    float *vt = kiln_attn_carve(&cur, (size_t)(heads * g->dv) * 4);
    if (past)
        kiln_attn_to_f32(past->dtype, past->data, 0, state, ns);
    else
        memset(state, 0, (size_t)ns * 4);
    int64_t per = g->dk * g->dv;
    double work = (double)ns * (double)g->seq * (double)(p.group + 2);
    KILN_ATTN_PRAGMA(omp parallel for num_threads(threads) if (threads > 1 && heads > 1 && work > 65536.0) schedule(static))
    for (int64_t bh = 0; bh < heads; bh++)
        lin_head(&p, bh / g->kv_heads, bh % g->kv_heads, state + bh * per, yf, vt + bh * g->dv);
    kiln_attn_from_f32(y->dtype, yf, y->data, 0, ny);
    if (present) kiln_attn_from_f32(present->dtype, state, present->data, 0, ns);
    return KILN_OK;
}
