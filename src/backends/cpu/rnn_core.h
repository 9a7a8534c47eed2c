/*
 * The recurrent loops of RNN, GRU and LSTM, written once for a compute type. rnn_ops.c
 * includes this file once per type (no include guard on purpose) after defining:
 *   RNN_T                      the compute type (float or double)
 *   RNN_SUF                    a suffix naming the generated functions (f, d)
 *   RNN_GEMM(m, n, k, a, lda, b, ldb, c, ldc, ws, threads)
 *                              C[m x n] = A[m x k] * B^T (B row-major n x k), C overwritten
 *   RNN_GEMM_WS(m, n, k, threads)   workspace bytes RNN_GEMM needs
 *   RNN_LOAD(dtype, src, dst, n)    n elements of dtype into RNN_T
 *   RNN_STORE(dtype, src, dst, n)   n RNN_T elements into dtype
 * Math goes through <tgmath.h>, so the float instance computes in float.
 *
 * The input projection X * W^T (plus the biases that do not depend on the state) is one
 * GEMM over all time steps; each step then does one GEMM of the state with R^T for the
 * whole batch (two for GRU without linear_before_reset, whose candidate gate needs
 * (r . H) * Rh^T) and the gates' elementwise math. Batch entries past their sequence
 * length stop updating; a reverse direction runs each entry from its own last step.
 */

#define RNN_CAT2(a, b) a##_##b
#define RNN_CAT(a, b)  RNN_CAT2(a, b)
#define RNN_FN(name)   RNN_CAT(name, RNN_SUF)
/* This instance's names (upper case, so the code reads as plain calls). */
#define RNN_ACT        RNN_FN(rnn_act)
#define RNN_CLIP       RNN_FN(rnn_clip)
#define RNN_GATE       RNN_FN(rnn_gate)
#define RNN_CELL       RNN_FN(rnn_cell)
#define RNN_GRU_FINISH RNN_FN(rnn_gru_finish)
#define RNN_TIME       RNN_FN(rnn_time)
#define RNN_DIRECTION  RNN_FN(rnn_direction)
#define RNN_LOAD3      RNN_FN(rnn_load3)
#define RNN_STORE3     RNN_FN(rnn_store3)
#define RNN_LOAD_OPT   RNN_FN(rnn_load_opt)
#define RNN_BUFS       RNN_FN(rnn_bufs)

static inline RNN_T RNN_ACT(const kiln_rnn_act *a, RNN_T x) {
    RNN_T al = (RNN_T)a->alpha, be = (RNN_T)a->beta;
    switch (a->kind) {
    case KILN_RNN_ACT_RELU:
        return x > 0 ? x : 0;
    case KILN_RNN_ACT_TANH:
        return tanh(x);
    case KILN_RNN_ACT_SIGMOID:
        return 1 / (1 + exp(-x));
    case KILN_RNN_ACT_AFFINE:
        return al * x + be;
    case KILN_RNN_ACT_LEAKY_RELU:
        return x >= 0 ? x : al * x;
    case KILN_RNN_ACT_THRESHOLDED_RELU:
        return x > al ? x : 0;
    case KILN_RNN_ACT_SCALED_TANH:
        return al * tanh(be * x);
    case KILN_RNN_ACT_HARD_SIGMOID: {
        RNN_T v = al * x + be;
        return v < 0 ? 0 : v > 1 ? 1 : v;
    }
    case KILN_RNN_ACT_ELU:
        return x >= 0 ? x : al * (exp(x) - 1);
    case KILN_RNN_ACT_SOFTSIGN:
        return x / (1 + fabs(x));
    case KILN_RNN_ACT_SOFTPLUS:
        return x > 30 ? x : log1p(exp(x));
    }
    return x;
}

/* clip bounds the activations' inputs to [-clip, clip] when the node has one. */
static inline RNN_T RNN_CLIP(const kiln_rnn_plan *p, RNN_T x) {
    if (!p->has_clip) return x;
    RNN_T c = (RNN_T)p->clip;
    return x < -c ? -c : x > c ? c : x;
}

/* The act-then-clip of one gate pre-activation. */
static inline RNN_T RNN_GATE(const kiln_rnn_plan *p, const kiln_rnn_act *a, RNN_T x) {
    return RNN_ACT(a, RNN_CLIP(p, x));
}

/* Every buffer of one node's run, in the compute type. Layouts are ONNX's layout 0:
 * x [seq, batch, input], w [ndir, G*H, input], r [ndir, G*H, H], b [ndir, 2*G*H],
 * p [ndir, 3*H], h0 / c0 / yh / yc [ndir, batch, H], y [seq, ndir, batch, H]. */
typedef struct RNN_BUFS {
    RNN_T *x, *w, *r, *b, *p, *h0, *c0, *y, *yh, *yc;
    RNN_T *xw; /* [seq, batch, G*H]: one direction's input projection plus biases */
    RNN_T *hr; /* [batch, G*H]: the state times R^T */
    RNN_T *h;  /* [batch, H]: the running state */
    RNN_T *c;  /* [batch, H]: LSTM's running cell */
    RNN_T *z;  /* [batch, H]: GRU's update gate between its two GEMMs */
    RNN_T *rh; /* [batch, H]: GRU's r . H */
    int64_t *lens;
    void *ws;
    int threads;
} RNN_BUFS;

/* The GRU candidate h~ and the new state for one batch entry, given r . H * Rh^T (or with
 * linear_before_reset, H * Rh^T) in hr_h. */
static void RNN_GRU_FINISH(const kiln_rnn_plan *p, const kiln_rnn_act *act, int64_t H,
                           const RNN_T *xw_h, const RNN_T *hr_h, const RNN_T *z, RNN_T *h) {
    for (int64_t j = 0; j < H; j++) {
        RNN_T cand = RNN_GATE(p, &act[1], xw_h[j] + hr_h[j]);
        h[j] = (1 - z[j]) * cand + z[j] * h[j];
    }
}

/* One time step's gate math for batch entry rows whose projections are xw and hr. */
static void RNN_CELL(const kiln_node *node, const kiln_rnn_plan *p, const kiln_rnn_act *act,
                     const RNN_T *pp, const RNN_T *rb, int64_t H, const RNN_T *xw, const RNN_T *hr,
                     RNN_T *h, RNN_T *c, RNN_T *z, RNN_T *rh) {
    if (node->op == KILN_OP_RNN) {
        for (int64_t j = 0; j < H; j++) h[j] = RNN_GATE(p, &act[0], xw[j] + hr[j]);
    } else if (node->op == KILN_OP_LSTM) {
        /* gates in W/R/B order i, o, f, c; peepholes P in order i, o, f */
        const RNN_T *pi = pp, *po = pp + H, *pf = pp + 2 * H;
        for (int64_t j = 0; j < H; j++) {
            RNN_T cp = c[j];
            RNN_T gi = RNN_GATE(p, &act[0], xw[j] + hr[j] + pi[j] * cp);
            RNN_T gf = p->input_forget
                           ? 1 - gi
                           : RNN_GATE(p, &act[0], xw[2 * H + j] + hr[2 * H + j] + pf[j] * cp);
            RNN_T gc = RNN_GATE(p, &act[1], xw[3 * H + j] + hr[3 * H + j]);
            RNN_T cn = gf * cp + gi * gc;
            RNN_T go = RNN_GATE(p, &act[0], xw[H + j] + hr[H + j] + po[j] * cn);
            c[j] = cn;
            h[j] = go * RNN_ACT(&act[2], cn);
        }
    } else if (p->linear_before_reset) {
        /* GRU gates z, r, h; h~ = g(x Wh^T + Wbh + r . (H Rh^T + Rbh)) */
        for (int64_t j = 0; j < H; j++) {
            z[j] = RNN_GATE(p, &act[0], xw[j] + hr[j]);
            RNN_T r = RNN_GATE(p, &act[0], xw[H + j] + hr[H + j]);
            rh[j] = r * (hr[2 * H + j] + rb[2 * H + j]);
        }
        RNN_GRU_FINISH(p, act, H, xw + 2 * H, rh, z, h);
    } else {
        /* GRU first half: z and r . H; the caller multiplies r . H by Rh^T */
        for (int64_t j = 0; j < H; j++) {
            z[j] = RNN_GATE(p, &act[0], xw[j] + hr[j]);
            rh[j] = RNN_GATE(p, &act[0], xw[H + j] + hr[H + j]) * h[j];
        }
    }
}

/* The time index batch entry of length len reads at step s. */
static inline int64_t RNN_TIME(int rev, int64_t len, int64_t s) {
    return rev ? len - 1 - s : s;
}

static void RNN_DIRECTION(const kiln_node *node, const kiln_rnn_plan *p, const RNN_BUFS *bf,
                          int dir) {
    const kiln_rnn_dims *d = &p->d;
    int64_t S = d->seq, N = d->batch, NI = d->input, H = d->hidden, D = d->ndir;
    int64_t GH = d->gates * H;
    int gru = node->op == KILN_OP_GRU, two_gemm = gru && !p->linear_before_reset;
    int rev = D == 2 ? dir == 1 : d->reverse;
    const RNN_T *w = bf->w + dir * GH * NI, *r = bf->r + dir * GH * H;
    const RNN_T *wb = bf->b + dir * 2 * GH, *rb = wb + GH, *pp = bf->p + dir * 3 * H;
    const kiln_rnn_act *act = p->act[dir];

    /* Input projection for every step, with Wb and Rb folded in (but GRU's Rbh when it
     * sits inside r . (...) under linear_before_reset). */
    RNN_GEMM(S * N, GH, NI, bf->x, NI, w, NI, bf->xw, GH, bf->ws, bf->threads);
    int64_t rb_end = gru && p->linear_before_reset ? 2 * H : GH;
    for (int64_t row = 0; row < S * N; row++) {
        RNN_T *xr = bf->xw + row * GH;
        for (int64_t j = 0; j < GH; j++) xr[j] += wb[j] + (j < rb_end ? rb[j] : 0);
    }
    memcpy(bf->h, bf->h0 + dir * N * H, (size_t)(N * H) * sizeof(RNN_T));
    memcpy(bf->c, bf->c0 + dir * N * H, (size_t)(N * H) * sizeof(RNN_T));
    memset(bf->rh, 0, (size_t)(N * H) * sizeof(RNN_T));

    for (int64_t s = 0; s < S; s++) {
        RNN_GEMM(N, two_gemm ? 2 * H : GH, H, bf->h, H, r, H, bf->hr, GH, bf->ws, bf->threads);
        for (int64_t b = 0; b < N; b++) {
            if (s >= bf->lens[b]) continue;
            int64_t t = RNN_TIME(rev, bf->lens[b], s);
            RNN_CELL(node, p, act, pp, rb, H, bf->xw + (t * N + b) * GH, bf->hr + b * GH,
                     bf->h + b * H, bf->c + b * H, bf->z + b * H, bf->rh + b * H);
        }
        if (two_gemm) {
            /* h~ = g(x Wh^T + Wbh + Rbh + (r . H) Rh^T); rows past their length hold zeros */
            RNN_GEMM(N, H, H, bf->rh, H, r + 2 * H * H, H, bf->hr + 2 * H, GH, bf->ws, bf->threads);
            for (int64_t b = 0; b < N; b++) {
                if (s >= bf->lens[b]) continue;
                int64_t t = RNN_TIME(rev, bf->lens[b], s);
                RNN_GRU_FINISH(p, act, H, bf->xw + (t * N + b) * GH + 2 * H,
                               bf->hr + b * GH + 2 * H, bf->z + b * H, bf->h + b * H);
            }
        }
        for (int64_t b = 0; b < N; b++) {
            if (s >= bf->lens[b]) {
                if (two_gemm) memset(bf->rh + b * H, 0, (size_t)H * sizeof(RNN_T));
                continue;
            }
            int64_t t = RNN_TIME(rev, bf->lens[b], s);
            memcpy(bf->y + ((t * D + dir) * N + b) * H, bf->h + b * H, (size_t)H * sizeof(RNN_T));
        }
    }
    /* Final states; an entry of length 0 has none and reads zeros. */
    for (int64_t b = 0; b < N; b++) {
        if (bf->lens[b] == 0) continue;
        memcpy(bf->yh + (dir * N + b) * H, bf->h + b * H, (size_t)H * sizeof(RNN_T));
        memcpy(bf->yc + (dir * N + b) * H, bf->c + b * H, (size_t)H * sizeof(RNN_T));
    }
}

/* Loads a rank-3 tensor [d0, d1, d2] into dst, as [d1, d0, d2] when swap is set. */
static void RNN_LOAD3(const kiln_tview *t, RNN_T *dst, int swap) {
    int64_t d0 = t->dims[0], d1 = t->dims[1], d2 = t->dims[2];
    size_t es = kiln_dtype_nbytes(t->dtype, 1);
    if (!swap) {
        RNN_LOAD(t->dtype, t->data, dst, d0 * d1 * d2);
        return;
    }
    for (int64_t i = 0; i < d0; i++)
        for (int64_t j = 0; j < d1; j++)
            RNN_LOAD(t->dtype, (const char *)t->data + (size_t)((i * d1 + j) * d2) * es,
                     dst + (j * d0 + i) * d2, d2);
}

/* Stores src, [d0, d1, d2], into t, as [d1, d0, d2] when swap is set. */
static void RNN_STORE3(const RNN_T *src, int64_t d0, int64_t d1, int64_t d2, kiln_tview *t,
                       int swap) {
    size_t es = kiln_dtype_nbytes(t->dtype, 1);
    if (!swap) {
        RNN_STORE(t->dtype, src, t->data, d0 * d1 * d2);
        return;
    }
    for (int64_t i = 0; i < d0; i++)
        for (int64_t j = 0; j < d1; j++)
            RNN_STORE(t->dtype, src + (i * d1 + j) * d2,
                      (char *)t->data + (size_t)((j * d0 + i) * d2) * es, d2);
}

/* An optional input into dst (rank 3 with the layout swap, or flat), or zeros. */
static void RNN_LOAD_OPT(const kiln_tview *in, int32_t n_in, int32_t i, RNN_T *dst, int64_t count,
                         int rank3_swap) {
    if (!kiln_rnn_has(in, n_in, i)) {
        memset(dst, 0, (size_t)count * sizeof(RNN_T));
        return;
    }
    if (in[i].rank == 3)
        RNN_LOAD3(&in[i], dst, rank3_swap);
    else
        RNN_LOAD(in[i].dtype, in[i].data, dst, count);
}

static kiln_status RNN_FN(rnn_run)(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_rnn_plan *p,
                                   const kiln_tview *in, int32_t n_in, kiln_tview *out,
                                   int32_t n_out) {
    const kiln_rnn_dims *d = &p->d;
    int64_t S = d->seq, N = d->batch, NI = d->input, H = d->hidden, D = d->ndir;
    int64_t GH = d->gates * H;
    int threads = kiln_cpu_threads(ctx);
    size_t ws1 = RNN_GEMM_WS(S * N, GH, NI, threads), ws2 = RNN_GEMM_WS(N, GH, H, threads);
    size_t ws_bytes = ws1 > ws2 ? ws1 : ws2;
    size_t ts = sizeof(RNN_T);
    /* element counts of x w r b p h0 c0 y yh yc xw hr h c z rh */
    int64_t counts[16] = {S * N * NI, D * GH * NI,   D * GH * H, D * 2 * GH, D * 3 * H,  D * N * H,
                          D * N * H,  S * D * N * H, D * N * H,  D * N * H,  S * N * GH, N * GH,
                          N * H,      N * H,         N * H,      N * H};
    size_t total = kiln_nn_align(ws_bytes) + kiln_nn_align((size_t)N * sizeof(int64_t));
    for (int i = 0; i < 16; i++) total += kiln_nn_align((size_t)counts[i] * ts);
    char *cur;
    KILN_TRY(kiln_nn_scratch(ctx, node, total, &cur));
    RNN_BUFS bf;
    RNN_T **slots[16] = {&bf.x,  &bf.w,  &bf.r,  &bf.b,  &bf.p, &bf.h0, &bf.c0, &bf.y,
                         &bf.yh, &bf.yc, &bf.xw, &bf.hr, &bf.h, &bf.c,  &bf.z,  &bf.rh};
    bf.ws = kiln_nn_carve(&cur, ws_bytes);
    bf.lens = (int64_t *)kiln_nn_carve(&cur, (size_t)N * sizeof(int64_t));
    for (int i = 0; i < 16; i++) *slots[i] = (RNN_T *)kiln_nn_carve(&cur, (size_t)counts[i] * ts);
    bf.threads = threads;
    KILN_TRY(kiln_rnn_seq_lens(node, in, n_in, p, bf.lens));

    RNN_LOAD3(&in[KILN_RNN_IN_X], bf.x, d->layout);
    RNN_LOAD3(&in[KILN_RNN_IN_W], bf.w, 0);
    RNN_LOAD3(&in[KILN_RNN_IN_R], bf.r, 0);
    RNN_LOAD_OPT(in, n_in, KILN_RNN_IN_B, bf.b, counts[3], 0);
    RNN_LOAD_OPT(in, n_in, KILN_RNN_IN_INITIAL_H, bf.h0, counts[5], d->layout);
    int lstm = node->op == KILN_OP_LSTM;
    RNN_LOAD_OPT(in, lstm ? n_in : 0, KILN_RNN_IN_INITIAL_C, bf.c0, counts[6], d->layout);
    RNN_LOAD_OPT(in, lstm ? n_in : 0, KILN_RNN_IN_P, bf.p, counts[4], 0);
    memset(bf.y, 0, (size_t)counts[7] * ts);
    memset(bf.yh, 0, (size_t)counts[8] * ts);
    memset(bf.yc, 0, (size_t)counts[9] * ts);

    for (int dir = 0; dir < D; dir++) RNN_DIRECTION(node, p, &bf, dir);

    /* Outputs: Y [seq, ndir, batch, H] (layout 1: [batch, seq, ndir, H]); Y_h / Y_c
     * [ndir, batch, H] (layout 1: [batch, ndir, H]). */
    RNN_T *results[3] = {bf.y, bf.yh, bf.yc};
    for (int32_t i = 0; i < n_out && i < 3; i++) {
        if (!kiln_tview_present(&out[i]) || !out[i].data) continue; /* output omitted */
        RNN_STORE3(results[i], i == 0 ? S * D : D, N, H, &out[i], d->layout);
    }
    return KILN_OK;
}

#undef RNN_ACT
#undef RNN_CLIP
#undef RNN_GATE
#undef RNN_CELL
#undef RNN_GRU_FINISH
#undef RNN_TIME
#undef RNN_DIRECTION
#undef RNN_LOAD3
#undef RNN_STORE3
#undef RNN_LOAD_OPT
#undef RNN_BUFS
#undef RNN_FN
#undef RNN_CAT
#undef RNN_CAT2
