/*
 * NN family: the float32 GEMM (and a plain double GEMM) behind MatMul, Gemm, Conv and
 * ConvTranspose.
 *
 * Goto/BLIS structure: B is packed into KC x NC panels of NR-wide strips, A into MC x KC
 * blocks of MR-tall strips, and a 6x16 register-tile micro-kernel multiplies one A strip by
 * one B strip. With few rows of A (conv layers: M = output channels), B is read in place
 * instead of packed. The micro-kernel has a portable C version the compiler vectorizes and
 * an AVX2+FMA version picked at run time; the library is built without -march flags, so
 * the AVX2 code lives in a target("avx2,fma") function.
 *
 * Threads each take one block of C and pack their own panels: some packing is duplicated,
 * but there are no barriers, so a thread that gets descheduled (oversubscribed machines)
 * only delays its own block. Matrix-vector shapes skip packing altogether.
 */
#include <string.h>

#include "backends/cpu/nn_common.h"

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define NN_X86 1
#include <immintrin.h>
#endif

enum { MR = 6, NR = 16, KC = 256, MC = 120, NC = 3072 };

/* Below this many multiply-adds a plain loop beats packing. */
#define SMALL_GEMM_FLOPS (24 * 24 * 24)
/* Up to this many rows of A, B is read in place rather than packed: it would be used by
 * too few A strips to repay the copy. */
#define DIRECT_B_MAX_M 240
/* Below this many multiply-adds one thread does it all. */
#define PARALLEL_GEMM_FLOPS (64 * 64 * 64)

/* One MR x NR tile: a is a packed A strip, b holds kc rows of NR floats ldb apart (a packed
 * B strip has ldb == NR; unpacked B is read in place). */
typedef void (*ukernel_fn)(int64_t kc, const float *a, const float *b, int64_t ldb, float *c,
                           int64_t ldc, float alpha, float beta, int mr, int nr);

static int64_t round_up(int64_t x, int64_t m) {
    return (x + m - 1) / m * m;
}

/* Writes an MR x NR accumulator tile into C (only mr x nr of it is valid). */
static void store_tile(const float *acc, float *c, int64_t ldc, float alpha, float beta, int mr,
                       int nr) {
    for (int i = 0; i < mr; i++) {
        float *crow = c + i * ldc;
        const float *arow = acc + i * NR;
        if (beta == 0.0f)
            for (int j = 0; j < nr; j++) crow[j] = alpha * arow[j];
        else if (beta == 1.0f)
            for (int j = 0; j < nr; j++) crow[j] += alpha * arow[j];
        else
            for (int j = 0; j < nr; j++) crow[j] = alpha * arow[j] + beta * crow[j];
    }
}

/* Portable micro-kernel: fixed trip counts and restrict so -O3 keeps acc in vectors. */
static void ukernel_c(int64_t kc, const float *restrict a, const float *restrict b, int64_t ldb,
                      float *restrict c, int64_t ldc, float alpha, float beta, int mr, int nr) {
    float acc[MR * NR];
    for (int i = 0; i < MR * NR; i++) acc[i] = 0.0f;
    for (int64_t p = 0; p < kc; p++) {
        const float *ap = a + p * MR;
        const float *bp = b + p * ldb;
        for (int i = 0; i < MR; i++) {
            float av = ap[i];
            for (int j = 0; j < NR; j++) acc[i * NR + j] += av * bp[j];
        }
    }
    store_tile(acc, c, ldc, alpha, beta, mr, nr);
}

#ifdef NN_X86
__attribute__((target("avx2,fma"))) static void
ukernel_avx2(int64_t kc, const float *restrict a, const float *restrict b, int64_t ldb,
             float *restrict c, int64_t ldc, float alpha, float beta, int mr, int nr) {
    __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
    __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
    __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
    __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
    __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
    __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
    for (int64_t p = 0; p < kc; p++) {
        __m256 b0 = _mm256_loadu_ps(b);
        __m256 b1 = _mm256_loadu_ps(b + 8);
        __m256 av;
        av = _mm256_broadcast_ss(a + 0);
        c00 = _mm256_fmadd_ps(av, b0, c00);
        c01 = _mm256_fmadd_ps(av, b1, c01);
        av = _mm256_broadcast_ss(a + 1);
        c10 = _mm256_fmadd_ps(av, b0, c10);
        c11 = _mm256_fmadd_ps(av, b1, c11);
        av = _mm256_broadcast_ss(a + 2);
        c20 = _mm256_fmadd_ps(av, b0, c20);
        c21 = _mm256_fmadd_ps(av, b1, c21);
        av = _mm256_broadcast_ss(a + 3);
        c30 = _mm256_fmadd_ps(av, b0, c30);
        c31 = _mm256_fmadd_ps(av, b1, c31);
        av = _mm256_broadcast_ss(a + 4);
        c40 = _mm256_fmadd_ps(av, b0, c40);
        c41 = _mm256_fmadd_ps(av, b1, c41);
        av = _mm256_broadcast_ss(a + 5);
        c50 = _mm256_fmadd_ps(av, b0, c50);
        c51 = _mm256_fmadd_ps(av, b1, c51);
        a += MR;
        b += ldb;
    }
    if (mr == MR && nr == NR) {
        __m256 va = _mm256_set1_ps(alpha);
        __m256 rows[MR][2] = {{c00, c01}, {c10, c11}, {c20, c21},
                              {c30, c31}, {c40, c41}, {c50, c51}};
        if (beta == 0.0f) {
            for (int i = 0; i < MR; i++) {
                _mm256_storeu_ps(c + i * ldc, _mm256_mul_ps(va, rows[i][0]));
                _mm256_storeu_ps(c + i * ldc + 8, _mm256_mul_ps(va, rows[i][1]));
            }
        } else {
            __m256 vb = _mm256_set1_ps(beta);
            for (int i = 0; i < MR; i++) {
                float *cr = c + i * ldc;
                __m256 o0 = _mm256_mul_ps(vb, _mm256_loadu_ps(cr));
                __m256 o1 = _mm256_mul_ps(vb, _mm256_loadu_ps(cr + 8));
                _mm256_storeu_ps(cr, _mm256_fmadd_ps(va, rows[i][0], o0));
                _mm256_storeu_ps(cr + 8, _mm256_fmadd_ps(va, rows[i][1], o1));
            }
        }
        _mm256_zeroupper();
        return;
    }
    float acc[MR * NR];
    _mm256_storeu_ps(acc + 0 * NR, c00);
    _mm256_storeu_ps(acc + 0 * NR + 8, c01);
    _mm256_storeu_ps(acc + 1 * NR, c10);
    _mm256_storeu_ps(acc + 1 * NR + 8, c11);
    _mm256_storeu_ps(acc + 2 * NR, c20);
    _mm256_storeu_ps(acc + 2 * NR + 8, c21);
    _mm256_storeu_ps(acc + 3 * NR, c30);
    _mm256_storeu_ps(acc + 3 * NR + 8, c31);
    _mm256_storeu_ps(acc + 4 * NR, c40);
    _mm256_storeu_ps(acc + 4 * NR + 8, c41);
    _mm256_storeu_ps(acc + 5 * NR, c50);
    _mm256_storeu_ps(acc + 5 * NR + 8, c51);
    /* store_tile is SSE code: leaving the upper halves dirty makes it (and whatever runs
     * next) pay AVX-SSE transition penalties */
    _mm256_zeroupper();
    store_tile(acc, c, ldc, alpha, beta, mr, nr);
}
#endif

static ukernel_fn pick_ukernel(void) {
#ifdef NN_X86
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return ukernel_avx2;
#endif
    return ukernel_c;
}

/* Packs op(A)[ic..ic+mc, pc..pc+kc] into MR-tall strips: strip r holds, for each p, MR
 * consecutive rows (zero past mc). */
static void pack_a(int trans_a, const float *a, int64_t lda, int64_t ic, int64_t pc, int64_t mc,
                   int64_t kc, float *restrict out) {
    for (int64_t r = 0; r < mc; r += MR) {
        int64_t rows = mc - r < MR ? mc - r : MR;
        float *dst = out + r * kc;
        if (trans_a) {
            for (int64_t p = 0; p < kc; p++) {
                const float *src = a + (pc + p) * lda + ic + r;
                int64_t i = 0;
                for (; i < rows; i++) dst[p * MR + i] = src[i];
                for (; i < MR; i++) dst[p * MR + i] = 0.0f;
            }
        } else {
            for (int64_t i = 0; i < MR; i++) {
                if (i < rows) {
                    const float *src = a + (ic + r + i) * lda + pc;
                    for (int64_t p = 0; p < kc; p++) dst[p * MR + i] = src[p];
                } else {
                    for (int64_t p = 0; p < kc; p++) dst[p * MR + i] = 0.0f;
                }
            }
        }
    }
}

/* Packs strip s (columns jc + s*NR ..) of op(B)[pc..pc+kc, jc..jc+nc]. */
static void pack_b_strip(int trans_b, const float *b, int64_t ldb, int64_t pc, int64_t jc,
                         int64_t nc, int64_t kc, int64_t s, float *restrict out) {
    int64_t j0 = s * NR;
    int64_t cols = nc - j0 < NR ? nc - j0 : NR;
    float *dst = out + j0 * kc;
    if (!trans_b) {
        for (int64_t p = 0; p < kc; p++) {
            const float *src = b + (pc + p) * ldb + jc + j0;
            float *d = dst + p * NR;
            if (cols == NR) {
                memcpy(d, src, NR * sizeof(float));
            } else {
                int64_t j = 0;
                for (; j < cols; j++) d[j] = src[j];
                for (; j < NR; j++) d[j] = 0.0f;
            }
        }
    } else {
        for (int64_t j = 0; j < NR; j++) {
            if (j < cols) {
                const float *src = b + (jc + j0 + j) * ldb + pc;
                for (int64_t p = 0; p < kc; p++) dst[p * NR + j] = src[p];
            } else {
                for (int64_t p = 0; p < kc; p++) dst[p * NR + j] = 0.0f;
            }
        }
    }
}

size_t kiln_nn_sgemm_workspace(int64_t m, int64_t n, int64_t k, int threads) {
    if (threads < 1) threads = 1;
    int64_t kc = k < KC ? k : KC;
    int64_t ncr = round_up(n < NC ? n : NC, NR);
    int64_t mcr = round_up(m < MC ? m : MC, MR);
    /* per thread: a B panel, an A block and one ragged edge strip of B */
    return (size_t)threads * (kiln_nn_align((size_t)(kc * ncr) * sizeof(float)) +
                              kiln_nn_align((size_t)(mcr * kc) * sizeof(float)) +
                              kiln_nn_align((size_t)(kc * NR) * sizeof(float))) +
           64;
}

static void scale_c(int64_t m, int64_t n, float beta, float *c, int64_t ldc) {
    for (int64_t i = 0; i < m; i++) {
        float *row = c + i * ldc;
        if (beta == 0.0f)
            for (int64_t j = 0; j < n; j++) row[j] = 0.0f;
        else if (beta != 1.0f)
            for (int64_t j = 0; j < n; j++) row[j] *= beta;
    }
}

/* Small problems: i-p-j loops straight from the operands. */
static void sgemm_small(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                        const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                        float *c, int64_t ldc, const kiln_nn_epilogue *ep) {
    float row[64];
    for (int64_t i = 0; i < m; i++) {
        for (int64_t j0 = 0; j0 < n; j0 += 64) {
            int64_t nn = n - j0 < 64 ? n - j0 : 64;
            for (int64_t j = 0; j < nn; j++) row[j] = 0.0f;
            for (int64_t p = 0; p < k; p++) {
                float av = trans_a ? a[p * lda + i] : a[i * lda + p];
                if (!trans_b) {
                    const float *brow = b + p * ldb + j0;
                    for (int64_t j = 0; j < nn; j++) row[j] += av * brow[j];
                } else {
                    for (int64_t j = 0; j < nn; j++) row[j] += av * b[(j0 + j) * ldb + p];
                }
            }
            float *crow = c + i * ldc + j0;
            for (int64_t j = 0; j < nn; j++)
                crow[j] = alpha * row[j] + (beta == 0.0f ? 0.0f : beta * crow[j]);
            if (ep) kiln_nn_epilogue_apply(ep, c, ldc, i, 1, j0, nn);
        }
    }
}

/* Dot product of two strided vectors; 8 partial sums so the compiler can vectorize it. */
static float dot(const float *x, int64_t incx, const float *y, int64_t incy, int64_t n) {
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t i = 0;
    if (incx == 1 && incy == 1) {
        for (; i + 8 <= n; i += 8)
            for (int l = 0; l < 8; l++) acc[l] += x[i + l] * y[i + l];
    }
    float s = 0.0f;
    for (; i < n; i++) s += x[i * incx] * y[i * incy];
    for (int l = 0; l < 8; l++) s += acc[l];
    return s;
}

/* Matrix-vector products (m == 1 or n == 1): no packing, just dots or axpys. */
static void sgemv(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                  const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
                  int64_t ldc, int threads, const kiln_nn_epilogue *ep) {
    if (m == 1) {
        /* c[0, j] = a[0, :] . op(B)[:, j] */
        int64_t inca = trans_a ? lda : 1;
        if (trans_b) {
            int par = threads > 1 && n * k > (1 << 16);
            KILN_NN_PRAGMA(omp parallel for num_threads(threads) if (par) schedule(static))
            for (int64_t j = 0; j < n; j++) {
                float v = alpha * dot(a, inca, b + j * ldb, 1, k);
                c[j] = beta == 0.0f ? v : v + beta * c[j];
            }
            if (ep) kiln_nn_epilogue_apply(ep, c, ldc, 0, 1, 0, n);
            return;
        }
        int64_t chunk = 512, nch = (n + chunk - 1) / chunk;
        int par = threads > 1 && nch > 1 && n * k > (1 << 16);
        KILN_NN_PRAGMA(omp parallel for num_threads(threads) if (par) schedule(static))
        for (int64_t ch = 0; ch < nch; ch++) {
            int64_t j0 = ch * chunk, j1 = j0 + chunk < n ? j0 + chunk : n;
            float acc[512];
            for (int64_t j = j0; j < j1; j++) acc[j - j0] = 0.0f;
            for (int64_t p = 0; p < k; p++) {
                float av = a[p * inca];
                const float *brow = b + p * ldb;
                for (int64_t j = j0; j < j1; j++) acc[j - j0] += av * brow[j];
            }
            for (int64_t j = j0; j < j1; j++)
                c[j] = beta == 0.0f ? alpha * acc[j - j0] : alpha * acc[j - j0] + beta * c[j];
            if (ep) kiln_nn_epilogue_apply(ep, c, ldc, 0, 1, j0, j1 - j0);
        }
        return;
    }
    /* n == 1: c[i, 0] = op(A)[i, :] . b[:, 0] */
    int64_t incb = trans_b ? 1 : ldb;
    int par = threads > 1 && m * k > (1 << 16);
    KILN_NN_PRAGMA(omp parallel for num_threads(threads) if (par) schedule(static))
    for (int64_t i = 0; i < m; i++) {
        float v = trans_a ? dot(a + i, lda, b, incb, k) : dot(a + i * lda, 1, b, incb, k);
        v *= alpha;
        c[i * ldc] = beta == 0.0f ? v : v + beta * c[i * ldc];
        if (ep) kiln_nn_epilogue_apply(ep, c, ldc, i, 1, 0, 1);
    }
}

typedef struct gemm_args {
    int trans_a, trans_b, direct_b;
    int64_t k, lda, ldb, ldc;
    float alpha, beta;
    const float *a, *b;
    float *c;
    ukernel_fn ukernel;
    const kiln_nn_epilogue *ep; /* NULL: none */
} gemm_args;

/* C[m0..m1, n0..n1] with this thread's own packing buffers. */
static void gemm_block(const gemm_args *g, int64_t m0, int64_t m1, int64_t n0, int64_t n1,
                       float *bpack, float *apack, float *edge) {
    for (int64_t jc = n0; jc < n1; jc += NC) {
        int64_t nc = n1 - jc < NC ? n1 - jc : NC;
        int64_t n_strips = (nc + NR - 1) / NR;
        for (int64_t pc = 0; pc < g->k; pc += KC) {
            int64_t kc = g->k - pc < KC ? g->k - pc : KC;
            float beta = pc == 0 ? g->beta : 1.0f;
            if (!g->direct_b)
                for (int64_t s = 0; s < n_strips; s++)
                    pack_b_strip(g->trans_b, g->b, g->ldb, pc, jc, nc, kc, s, bpack);
            for (int64_t ic = m0; ic < m1; ic += MC) {
                int64_t mc = m1 - ic < MC ? m1 - ic : MC;
                pack_a(g->trans_a, g->a, g->lda, ic, pc, mc, kc, apack);
                for (int64_t s = 0; s < n_strips; s++) {
                    int64_t jr = s * NR;
                    int nr = (int)(nc - jr < NR ? nc - jr : NR);
                    const float *bs = bpack + jr * kc;
                    int64_t bstride = NR;
                    if (g->direct_b && nr == NR) {
                        bs = g->b + pc * g->ldb + jc + jr;
                        bstride = g->ldb;
                    } else if (g->direct_b) { /* ragged last strip: a zero-padded copy */
                        pack_b_strip(0, g->b, g->ldb, pc, jc + jr, nr, kc, 0, edge);
                        bs = edge;
                    }
                    int last = pc + kc >= g->k;
                    for (int64_t ir = 0; ir < mc; ir += MR) {
                        int mr = (int)(mc - ir < MR ? mc - ir : MR);
                        g->ukernel(kc, apack + ir * kc, bs, bstride,
                                   g->c + (ic + ir) * g->ldc + jc + jr, g->ldc, g->alpha, beta, mr,
                                   nr);
                        /* the finished tile is still in L1: bias, sum and activation now */
                        if (last && g->ep)
                            kiln_nn_epilogue_apply(g->ep, g->c, g->ldc, ic + ir, mr, jc + jr, nr);
                    }
                }
            }
        }
    }
}

/* Splits C into tm x tn blocks, one per thread (tm * tn <= threads), picking the split with
 * the least estimated time per thread: its share of multiply-adds (about 16 per cycle) plus
 * its own packing (A once per NC panel, B once per panel, or B read per MC block when B is
 * used in place). Block edges are rounded to MR / NR, which the estimate includes. */
static void pick_grid(int64_t m, int64_t n, int64_t k, int threads, int direct_b, int *tm,
                      int *tn) {
    double best = -1.0;
    *tm = *tn = 1;
    for (int a = 1; a <= threads; a++)
        for (int b = 1; a * b <= threads; b++) {
            int64_t ms = round_up((m + a - 1) / a, MR), ns = round_up((n + b - 1) / b, NR);
            if ((a > 1 && ms * (a - 1) >= m) || (b > 1 && ns * (b - 1) >= n)) continue; /* idle */
            double fk = (double)k;
            double t = (double)ms * (double)ns * fk / 16.0 +
                       (double)ms * fk * (double)((ns + NC - 1) / NC) +
                       (double)ns * fk * (direct_b ? 0.5 * (double)((ms + MC - 1) / MC) : 1.0);
            if (best < 0.0 || t < best) {
                best = t;
                *tm = a;
                *tn = b;
            }
        }
}

void kiln_nn_sgemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                   const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
                   int64_t ldc, void *workspace, int threads) {
    kiln_nn_sgemm_ep(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, workspace,
                     threads, NULL);
}

void kiln_nn_sgemm_ep(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                      const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                      float *c, int64_t ldc, void *workspace, int threads,
                      const kiln_nn_epilogue *ep) {
    if (m <= 0 || n <= 0) return;
    if (!kiln_nn_epilogue_active(ep)) ep = NULL;
    if (k <= 0 || alpha == 0.0f) {
        scale_c(m, n, beta, c, ldc);
        if (ep) kiln_nn_epilogue_apply(ep, c, ldc, 0, m, 0, n);
        return;
    }
    double flops = (double)m * (double)n * (double)k;
    if (threads < 1 || flops < PARALLEL_GEMM_FLOPS) threads = 1;
    if (m == 1 || n == 1) {
        sgemv(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, threads, ep);
        return;
    }
    if (flops <= SMALL_GEMM_FLOPS) {
        sgemm_small(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, ep);
        return;
    }
    gemm_args g = {trans_a,
                   trans_b,
                   !trans_b && m <= DIRECT_B_MAX_M,
                   k,
                   lda,
                   ldb,
                   ldc,
                   alpha,
                   beta,
                   a,
                   b,
                   c,
                   pick_ukernel(),
                   ep};
    int64_t kc_max = k < KC ? k : KC;
    size_t bpack_bytes = kiln_nn_align((size_t)(kc_max * round_up(n < NC ? n : NC, NR)) * 4);
    size_t apack_bytes = kiln_nn_align((size_t)(kc_max * round_up(m < MC ? m : MC, MR)) * 4);
    size_t thread_bytes = bpack_bytes + apack_bytes + kiln_nn_align((size_t)(kc_max * NR) * 4);
    char *ws = (char *)(((uintptr_t)workspace + 63) & ~(uintptr_t)63);
    int tm, tn;
    pick_grid(m, n, k, threads, g.direct_b, &tm, &tn);
    /* block edges on MR / NR multiples so only the last block has ragged tiles */
    int64_t mstep = round_up((m + tm - 1) / tm, MR), nstep = round_up((n + tn - 1) / tn, NR);
    /* one block per thread and no barriers: a descheduled thread only delays its own block */
    KILN_NN_PRAGMA(omp parallel for num_threads(tm * tn) if (tm * tn > 1) schedule(static, 1))
    for (int t = 0; t < tm * tn; t++) {
        int64_t m0 = (t / tn) * mstep, n0 = (t % tn) * nstep;
        int64_t m1 = m0 + mstep < m ? m0 + mstep : m, n1 = n0 + nstep < n ? n0 + nstep : n;
        if (m0 >= m1 || n0 >= n1) continue;
        char *mine = ws + (size_t)t * thread_bytes;
        gemm_block(&g, m0, m1, n0, n1, (float *)mine, (float *)(mine + bpack_bytes),
                   (float *)(mine + bpack_bytes + apack_bytes));
    }
}

void kiln_nn_dgemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, double alpha,
                   const double *a, int64_t lda, const double *b, int64_t ldb, double beta,
                   double *c, int64_t ldc) {
    double row[64];
    for (int64_t i = 0; i < m; i++) {
        for (int64_t j0 = 0; j0 < n; j0 += 64) {
            int64_t nn = n - j0 < 64 ? n - j0 : 64;
            for (int64_t j = 0; j < nn; j++) row[j] = 0.0;
            for (int64_t p = 0; p < k; p++) {
                double av = trans_a ? a[p * lda + i] : a[i * lda + p];
                if (!trans_b) {
                    const double *brow = b + p * ldb + j0;
                    for (int64_t j = 0; j < nn; j++) row[j] += av * brow[j];
                } else {
                    for (int64_t j = 0; j < nn; j++) row[j] += av * b[(j0 + j) * ldb + p];
                }
            }
            double *crow = c + i * ldc + j0;
            for (int64_t j = 0; j < nn; j++)
                crow[j] = alpha * row[j] + (beta == 0.0 ? 0.0 : beta * crow[j]);
        }
    }
}
