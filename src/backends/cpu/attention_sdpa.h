/*
 * Attention's plan and its compute core. The core is written once over a scalar type and
 * instantiated for float (float32, float16, bfloat16 tensors) and double (float64) by
 * including this header with ATTN_T, ATTN_SFX (f32 / f64: names the converters), ATTN_EXP,
 * ATTN_TANH, ATTN_GEMM and ATTN_GEMM_WS (the GEMM and its workspace size) defined (see
 * attention_sdpa.c). Without them it only declares the plan.
 */
#ifndef KILN_CPU_ATTENTION_SDPA_PLAN
#define KILN_CPU_ATTENTION_SDPA_PLAN

#include <math.h>

#include "backends/cpu/attention_common.h"

/* Query rows per GEMM block. */
#define ATTN_BLOCK 64

/* Everything the core needs, Q/K/V unpacked to (batch, heads, seq, size) buffers. */
typedef struct attn_plan {
    kiln_attn_geom g;
    int64_t group;  /* query heads per KV head */
    double scale;   /* applied to Q.K */
    double softcap; /* > 0: scores = softcap * tanh(scores / softcap) */
    int causal;
    int64_t left_window, right_window; /* -1: unbounded */
    int mode;                          /* qk_matmul_output_mode */
    int has_bias;                      /* any mask, causal, window or padding */
    const int64_t *nonpad;             /* (batch,) valid key counts, or NULL */
    /* The mask in the compute type (bool already mapped to 0 / -inf), with strides
     * broadcasting it onto (batch, q_heads, q_len); its last axis is mask_len long. */
    const void *mask;
    int64_t mask_len, mask_stride[3];
} attn_plan;

#endif

#ifdef ATTN_T
#define ATTN_CAT2(a, b) a##_##b
#define ATTN_CAT(a, b)  ATTN_CAT2(a, b)
#define ATTN_NAME(x)    ATTN_CAT(x, ATTN_SFX)
/* Short names for calls (plain identifiers keep clang-format's layout sane). */
#define attn_block_t ATTN_NAME(attn_block)
#define attn_from_t  ATTN_NAME(kiln_attn_from)

/* The additive bias of query row i of (b, h): mask + causal + window + padding, each
 * disallowed key contributing -inf (added, as the reference does). Returns 1 when every
 * key is disallowed (the row then attends nothing). */
static int ATTN_NAME(attn_bias_row)(const attn_plan *p, int64_t b, int64_t h, int64_t i,
                                    ATTN_T *bias) {
    const kiln_attn_geom *g = &p->g;
    const ATTN_T ninf = (ATTN_T)-INFINITY;
    const ATTN_T *m = p->mask ? (const ATTN_T *)p->mask + b * p->mask_stride[0] +
                                    h * p->mask_stride[1] + i * p->mask_stride[2]
                              : NULL;
    /* Keys before the query block: the past cache, or the external cache's valid keys. */
    int64_t offset = g->past_len;
    if (p->nonpad && g->past_len == 0) offset = p->nonpad[b] - g->q_len;
    int64_t valid = p->nonpad ? p->nonpad[b] : g->total_len;
    int64_t frontier = i + offset; /* causal: keys j <= frontier */
    int windowed = p->left_window >= 0 || p->right_window >= 0;
    ATTN_T top = ninf;
    for (int64_t j = 0; j < g->total_len; j++) {
        ATTN_T v = 0;
        if (m) v = j < p->mask_len ? m[j] : ninf;
        if (p->causal && j > frontier) v += ninf;
        if (windowed) {
            int64_t diff = frontier - j;
            if ((p->left_window >= 0 && diff > p->left_window) ||
                (p->right_window >= 0 && -diff > p->right_window))
                v += ninf;
        }
        if (j >= valid) v += ninf;
        bias[j] = v;
        if (v > top) top = v;
    }
    return !(top > ninf);
}

/*
 * One block of query rows sharing a KV head: rows [r0, r0 + m) of the group * q_len rows
 * of KV head kvh in batch b (the group's query heads are adjacent, so their rows are one
 * contiguous run of Q). Scores = scale * Q K^T (GEMM), softcap, bias, a stable softmax
 * (fully masked rows get zero probabilities), then Y = P V (GEMM). q: (B, Hq, S, Dk);
 * k: (B, Hkv, T, Dk); v: (B, Hkv, T, Dv); y: (B, Hq, S, Dv); qk (or NULL): (B, Hq, S, T).
 * work holds m * T + T values, gemm_ws the GEMM workspace for `threads`.
 */
static void ATTN_NAME(attn_block)(const attn_plan *p, const ATTN_T *q, const ATTN_T *k,
                                  const ATTN_T *v, ATTN_T *y, ATTN_T *qk, ATTN_T *work,
                                  void *gemm_ws, int threads, int64_t b, int64_t kvh, int64_t r0,
                                  int64_t m) {
    const kiln_attn_geom *g = &p->g;
    const int64_t T = g->total_len, S = g->q_len, Dk = g->head_size, Dv = g->v_head_size;
    const ATTN_T ninf = (ATTN_T)-INFINITY, cap = (ATTN_T)p->softcap;
    const int64_t row0 = (b * g->q_heads + kvh * p->group) * S + r0; /* first global row */
    const ATTN_T *kb = k + (b * g->kv_heads + kvh) * T * Dk,
                 *vb = v + (b * g->kv_heads + kvh) * T * Dv;
    ATTN_T *sc = work, *bias = work + m * T;
    ATTN_GEMM(0, 1, m, T, Dk, (ATTN_T)p->scale, q + row0 * Dk, Dk, kb, Dk, sc, T, gemm_ws, threads);
    kiln_attn_clear_avx_state();
    for (int64_t r = 0; r < m; r++) {
        int64_t h = kvh * p->group + (r0 + r) / S, i = (r0 + r) % S;
        ATTN_T *x = sc + r * T, *qkr = qk ? qk + (row0 + r) * T : NULL;
        int masked = p->has_bias ? ATTN_NAME(attn_bias_row)(p, b, h, i, bias) : T == 0;
        if (cap > 0)
            for (int64_t j = 0; j < T; j++) x[j] = cap * ATTN_TANH(x[j] / cap);
        if (qkr && p->mode <= 1)
            for (int64_t j = 0; j < T; j++) qkr[j] = x[j];
        if (p->has_bias)
            for (int64_t j = 0; j < T; j++) x[j] += bias[j];
        if (qkr && p->mode == 2)
            for (int64_t j = 0; j < T; j++) qkr[j] = x[j];
        if (masked) {
            for (int64_t j = 0; j < T; j++) x[j] = 0;
        } else {
            ATTN_T top = ninf;
            int nan = 0; /* a NaN score poisons the row, as numpy's max does */
            for (int64_t j = 0; j < T; j++) {
                top = x[j] > top ? x[j] : top;
                nan |= x[j] != x[j];
            }
            if (nan)
                top = (ATTN_T)NAN;
            else if (top == ninf)
                top = 0;
            ATTN_T sum = 0;
            for (int64_t j = 0; j < T; j++) {
                x[j] = ATTN_EXP(x[j] - top);
                sum += x[j];
            }
            ATTN_T inv = sum == 0 ? 1 : 1 / sum;
            for (int64_t j = 0; j < T; j++) x[j] *= inv;
        }
        if (qkr && p->mode == 3)
            for (int64_t j = 0; j < T; j++) qkr[j] = x[j];
    }
    ATTN_GEMM(0, 0, m, Dv, T, (ATTN_T)1, sc, T, vb, Dv, y + row0 * Dv, Dv, gemm_ws, threads);
    kiln_attn_clear_avx_state();
}

/* Copies a Q/K/V-shaped input into dst laid out (B, H, dst_len, D) at sequence offset
 * dst_at: from (B, H, L, D) when rank 4, from (B, L, H * D) when rank 3. */
static void ATTN_NAME(attn_load_heads)(const kiln_tview *t, int64_t B, int64_t H, int64_t L,
                                       int64_t D, ATTN_T *dst, int64_t dst_len, int64_t dst_at) {
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t s = 0; s < L; s++) {
                int64_t from =
                    t->rank == 4 ? ((b * H + h) * L + s) * D : (b * L + s) * H * D + h * D;
                ATTN_T *to = dst + ((b * H + h) * dst_len + dst_at + s) * D;
                ATTN_NAME(kiln_attn_to)(t->dtype, t->data, from, to, D);
            }
}

/* A rank-3/4 view's (B, H, L, D) data usable as is: same type as the core, heads split. */
static int ATTN_NAME(attn_direct)(const kiln_tview *t, kiln_dtype ct) {
    return t->dtype == ct && t->rank == 4;
}

/* The mask converted to the core's type (bool: true -> 0, false -> -inf). */
static void ATTN_NAME(attn_load_mask)(const kiln_tview *m, ATTN_T *dst) {
    int64_t n = kiln_tview_count(m);
    if (m->dtype == KILN_DTYPE_BOOL) {
        const uint8_t *b = (const uint8_t *)m->data;
        for (int64_t i = 0; i < n; i++) dst[i] = b[i] ? (ATTN_T)0 : (ATTN_T)-INFINITY;
    } else {
        ATTN_NAME(kiln_attn_to)(m->dtype, m->data, 0, dst, n);
    }
}

/* Unpacks the inputs, runs the core over all query rows and writes the outputs. */
static kiln_status ATTN_NAME(attn_run)(kiln_cpu_ctx *ctx, const kiln_node *node,
                                       const kiln_tview *in, int32_t n_in, kiln_tview *out,
                                       int32_t n_out, attn_plan *p, kiln_dtype ct) {
    const kiln_attn_geom *g = &p->g;
    const int64_t B = g->batch, Hq = g->q_heads, Hkv = g->kv_heads, S = g->q_len;
    const int64_t P = g->past_len, L = g->kv_len, T = g->total_len;
    const int64_t Dk = g->head_size, Dv = g->v_head_size;
    const kiln_tview *q = &in[KILN_ATTN_Q], *k = &in[KILN_ATTN_K], *v = &in[KILN_ATTN_V];
    const kiln_tview *pk = kiln_attn_opt(in, n_in, KILN_ATTN_PAST_KEY);
    const kiln_tview *pv = kiln_attn_opt(in, n_in, KILN_ATTN_PAST_VALUE);
    const kiln_tview *mask = kiln_attn_opt(in, n_in, KILN_ATTN_MASK);
    kiln_tview *y = &out[0];
    kiln_tview *ok = n_out > 1 && kiln_tview_present(&out[1]) ? &out[1] : NULL;
    kiln_tview *ov = n_out > 2 && kiln_tview_present(&out[2]) ? &out[2] : NULL;
    kiln_tview *oqk = n_out > 3 && kiln_tview_present(&out[3]) ? &out[3] : NULL;
    const size_t es = sizeof(ATTN_T);
    const int64_t nq = B * Hq * S * Dk, nk = B * Hkv * T * Dk, nv = B * Hkv * T * Dv;
    const int64_t ny = B * Hq * S * Dv, nqk = B * Hq * S * T, rows = B * Hq * S;
    /* Tasks: blocks of up to ATTN_BLOCK query rows of one (batch, KV head); threads take
     * whole tasks when there are enough of them, else share each GEMM. */
    const int64_t grows = p->group * S, per_head = (grows + ATTN_BLOCK - 1) / ATTN_BLOCK;
    const int64_t tasks = B * Hkv * per_head, mb = grows < ATTN_BLOCK ? grows : ATTN_BLOCK;
    int threads = kiln_cpu_threads(ctx);
    double work = (double)rows * (double)T * (double)(Dk + Dv);
    int64_t parts = threads > 1 && work > 65536.0 && tasks >= threads ? threads : 1;
    int gemm_threads = parts > 1 ? 1 : threads;
    size_t ws_bytes = ATTN_GEMM_WS(mb, T, Dk, gemm_threads);
    size_t ws2 = ATTN_GEMM_WS(mb, Dv, T, gemm_threads);
    if (ws2 > ws_bytes) ws_bytes = ws2;
    ws_bytes = kiln_attn_align(ws_bytes + 64);
    /* Where each operand lives: the tensor itself when it already has the core's layout
     * and type, the matching output for K/V (building the present cache in place), else
     * scratch. */
    int q_in = ATTN_NAME(attn_direct)(q, ct);
    int k_in = !pk && ATTN_NAME(attn_direct)(k, ct), v_in = !pv && ATTN_NAME(attn_direct)(v, ct);
    int k_out = !k_in && ok && ok->dtype == ct, v_out = !v_in && ov && ov->dtype == ct;
    int y_out = y->dtype == ct && g->rank == 4, qk_out = oqk && oqk->dtype == ct;
    size_t bytes = (q_in ? 0 : kiln_attn_align(es * (size_t)nq)) +
                   (k_in || k_out ? 0 : kiln_attn_align(es * (size_t)nk)) +
                   (v_in || v_out ? 0 : kiln_attn_align(es * (size_t)nv)) +
                   (y_out ? 0 : kiln_attn_align(es * (size_t)ny)) +
                   (!oqk || qk_out ? 0 : kiln_attn_align(es * (size_t)nqk)) +
                   (mask ? kiln_attn_align(es * (size_t)kiln_tview_count(mask)) : 0) +
                   (size_t)parts * (kiln_attn_align(es * (size_t)(mb * T + T)) + ws_bytes);
    char *cur;
    KILN_TRY(kiln_attn_scratch(ctx, node, bytes, &cur));
    ATTN_T *qb = q_in ? (ATTN_T *)q->data : (ATTN_T *)kiln_attn_carve(&cur, es * (size_t)nq);
    ATTN_T *kb = k_in    ? (ATTN_T *)k->data
                 : k_out ? (ATTN_T *)ok->data
                         : (ATTN_T *)kiln_attn_carve(&cur, es * (size_t)nk);
    ATTN_T *vb = v_in    ? (ATTN_T *)v->data
                 : v_out ? (ATTN_T *)ov->data
                         : (ATTN_T *)kiln_attn_carve(&cur, es * (size_t)nv);
    ATTN_T *yb = y_out ? (ATTN_T *)y->data : (ATTN_T *)kiln_attn_carve(&cur, es * (size_t)ny);
    ATTN_T *qkb = !oqk     ? NULL
                  : qk_out ? (ATTN_T *)oqk->data
                           : (ATTN_T *)kiln_attn_carve(&cur, es * (size_t)nqk);
    ATTN_T *maskb =
        mask ? (ATTN_T *)kiln_attn_carve(&cur, es * (size_t)kiln_tview_count(mask)) : NULL;
    char *part_mem = kiln_attn_carve(
        &cur, (size_t)parts * (kiln_attn_align(es * (size_t)(mb * T + T)) + ws_bytes));
    if (!q_in) ATTN_NAME(attn_load_heads)(q, B, Hq, S, Dk, qb, S, 0);
    if (!k_in) {
        if (pk) ATTN_NAME(attn_load_heads)(pk, B, Hkv, P, Dk, kb, T, 0);
        ATTN_NAME(attn_load_heads)(k, B, Hkv, L, Dk, kb, T, P);
    }
    if (!v_in) {
        if (pv) ATTN_NAME(attn_load_heads)(pv, B, Hkv, P, Dv, vb, T, 0);
        ATTN_NAME(attn_load_heads)(v, B, Hkv, L, Dv, vb, T, P);
    }
    if (mask) {
        ATTN_NAME(attn_load_mask)(mask, maskb);
        p->mask = maskb;
    }
    size_t part_bytes = kiln_attn_align(es * (size_t)(mb * T + T)) + ws_bytes;
    KILN_ATTN_PRAGMA(omp parallel for num_threads(threads) if (parts > 1) schedule(static))
    for (int64_t c = 0; c < parts; c++) {
        char *mine = part_mem + (size_t)c * part_bytes;
        ATTN_T *wk = (ATTN_T *)mine;
        void *ws = mine + kiln_attn_align(es * (size_t)(mb * T + T));
        int64_t lo, hi;
        kiln_attn_split(tasks, parts, c, &lo, &hi);
        for (int64_t t = lo; t < hi; t++) {
            int64_t blk = t % per_head, bk = t / per_head, r0 = blk * ATTN_BLOCK;
            int64_t m = grows - r0 < ATTN_BLOCK ? grows - r0 : ATTN_BLOCK;
            attn_block_t(p, qb, kb, vb, yb, qkb, wk, ws, gemm_threads, bk / Hkv, bk % Hkv, r0, m);
        }
    }
    if (!y_out) {
        if (g->rank == 4) {
            attn_from_t(y->dtype, yb, y->data, 0, ny);
        } else { /* (B, Hq, S, Dv) -> (B, S, Hq * Dv) */
            for (int64_t b = 0; b < B; b++)
                for (int64_t h = 0; h < Hq; h++)
                    for (int64_t s = 0; s < S; s++)
                        attn_from_t(y->dtype, yb + ((b * Hq + h) * S + s) * Dv, y->data,
                                    (b * S + s) * Hq * Dv + h * Dv, Dv);
        }
    }
    if (ok && (ATTN_T *)ok->data != kb) attn_from_t(ok->dtype, kb, ok->data, 0, nk);
    if (ov && (ATTN_T *)ov->data != vb) attn_from_t(ov->dtype, vb, ov->data, 0, nv);
    if (oqk && !qk_out) attn_from_t(oqk->dtype, qkb, oqk->data, 0, nqk);
    return KILN_OK;
}

#undef attn_block_t
#undef attn_from_t
#undef ATTN_NAME
#undef ATTN_CAT
#undef ATTN_CAT2
#endif
