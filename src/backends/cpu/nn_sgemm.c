/*
 * NN family: the float32 GEMM (and a plain double GEMM) behind MatMul, Gemm, Conv and
 * ConvTranspose.
 *
 * Goto/BLIS structure: B is packed into KC x NC panels of NR-wide strips (shared by the
 * threads), A into MC x KC blocks of MR-tall strips (per thread), and a 6x16 register-tile
 * micro-kernel multiplies one A strip by one B strip. The micro-kernel has a portable C
 * version the compiler vectorizes and an AVX2+FMA version picked at run time; the library
 * is built without -march flags, so the AVX2 code lives in a target("avx2,fma") function.
 */
#include <string.h>

#include "backends/cpu/nn_common.h"

#ifdef KILN_HAVE_OPENMP
#include <omp.h>
#endif

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define NN_X86 1
#include <immintrin.h>
#endif

enum { MR = 6, NR = 16, KC = 256, MC = 120, NC = 3072 };

/* Below this many multiply-adds a plain loop beats packing. */
#define SMALL_GEMM_FLOPS (24 * 24 * 24)
/* Below this many multiply-adds one thread does it all. */
#define PARALLEL_GEMM_FLOPS (64 * 64 * 64)

typedef void (*ukernel_fn)(int64_t kc, const float *a, const float *b, float *c, int64_t ldc,
                           float alpha, float beta, int mr, int nr);

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
static void ukernel_c(int64_t kc, const float *restrict a, const float *restrict b,
                      float *restrict c, int64_t ldc, float alpha, float beta, int mr, int nr) {
    float acc[MR * NR];
    for (int i = 0; i < MR * NR; i++) acc[i] = 0.0f;
    for (int64_t p = 0; p < kc; p++) {
        const float *ap = a + p * MR;
        const float *bp = b + p * NR;
        for (int i = 0; i < MR; i++) {
            float av = ap[i];
            for (int j = 0; j < NR; j++) acc[i * NR + j] += av * bp[j];
        }
    }
    store_tile(acc, c, ldc, alpha, beta, mr, nr);
}

#ifdef NN_X86
__attribute__((target("avx2,fma"))) static void
ukernel_avx2(int64_t kc, const float *restrict a, const float *restrict b, float *restrict c,
             int64_t ldc, float alpha, float beta, int mr, int nr) {
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
        b += NR;
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
    return kiln_nn_align((size_t)(kc * ncr) * sizeof(float)) +
           (size_t)threads * kiln_nn_align((size_t)(mcr * kc) * sizeof(float)) + 64;
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
                        float *c, int64_t ldc) {
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
        }
    }
}

void kiln_nn_sgemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                   const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
                   int64_t ldc, void *workspace, int threads) {
    if (m <= 0 || n <= 0) return;
    if (k <= 0 || alpha == 0.0f) {
        scale_c(m, n, beta, c, ldc);
        return;
    }
    double flops = (double)m * (double)n * (double)k;
    if (flops <= SMALL_GEMM_FLOPS) {
        sgemm_small(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    if (threads < 1 || flops < PARALLEL_GEMM_FLOPS) threads = 1;
    ukernel_fn ukernel = pick_ukernel();
    int64_t kc_max = k < KC ? k : KC;
    int64_t ncr_max = round_up(n < NC ? n : NC, NR);
    int64_t mcr_max = round_up(m < MC ? m : MC, MR);
    char *ws = (char *)(((uintptr_t)workspace + 63) & ~(uintptr_t)63);
    float *bpack = (float *)ws;
    float *apack_base = (float *)(ws + kiln_nn_align((size_t)(kc_max * ncr_max) * sizeof(float)));
    size_t apack_stride = kiln_nn_align((size_t)(mcr_max * kc_max) * sizeof(float)) / sizeof(float);
    int64_t n_ic = (m + MC - 1) / MC;

    KILN_NN_PRAGMA(omp parallel num_threads(threads) if (threads > 1)) {
        int tid = 0;
#ifdef KILN_HAVE_OPENMP
        tid = omp_get_thread_num();
#endif
        float *apack = apack_base + (size_t)tid * apack_stride;
        for (int64_t jc = 0; jc < n; jc += NC) {
            int64_t nc = n - jc < NC ? n - jc : NC;
            int64_t n_strips = (nc + NR - 1) / NR;
            /* Split the N panel too when there are fewer A blocks than threads. */
            int64_t n_jch = 1;
            if (n_ic < 2 * threads) {
                n_jch = (2 * threads + n_ic - 1) / n_ic;
                if (n_jch > n_strips) n_jch = n_strips;
            }
            int64_t strips_per_ch = (n_strips + n_jch - 1) / n_jch;
            for (int64_t pc = 0; pc < k; pc += KC) {
                int64_t kc = k - pc < KC ? k - pc : KC;
                float beta_eff = pc == 0 ? beta : 1.0f;
                KILN_NN_PRAGMA(omp for schedule(static))
                for (int64_t s = 0; s < n_strips; s++)
                    pack_b_strip(trans_b, b, ldb, pc, jc, nc, kc, s, bpack);
                KILN_NN_PRAGMA(omp for schedule(dynamic, 1))
                for (int64_t t = 0; t < n_ic * n_jch; t++) {
                    int64_t ic = (t / n_jch) * MC;
                    int64_t mc = m - ic < MC ? m - ic : MC;
                    int64_t s0 = (t % n_jch) * strips_per_ch;
                    int64_t s1 = s0 + strips_per_ch < n_strips ? s0 + strips_per_ch : n_strips;
                    if (s0 >= s1) continue;
                    pack_a(trans_a, a, lda, ic, pc, mc, kc, apack);
                    for (int64_t s = s0; s < s1; s++) {
                        int64_t jr = s * NR;
                        int nr = (int)(nc - jr < NR ? nc - jr : NR);
                        const float *bs = bpack + jr * kc;
                        for (int64_t ir = 0; ir < mc; ir += MR) {
                            int mr = (int)(mc - ir < MR ? mc - ir : MR);
                            ukernel(kc, apack + ir * kc, bs, c + (ic + ir) * ldc + jc + jr, ldc,
                                    alpha, beta_eff, mr, nr);
                        }
                    }
                }
            }
        }
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
