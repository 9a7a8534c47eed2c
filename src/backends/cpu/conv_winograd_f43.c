/*
 * 3x3 stride-1 convolutions by Winograd's F(4x4, 3x3), kiln's own AVX-512 kernel, on
 * activations in 16-channel blocks (nChw16c).
 *
 * Why: oneDNN 2.6 runs these layers with F(2x2, 3x3) (jit_fp32_wino_2x3), 16 products for
 * every 4 outputs; F(4x4, 3x3) needs 36 for every 16, 2.25 / 4 of them. Where the layer's
 * transformed weights (36 x C x OC floats) stay in cache -- ResNet-50's 64- and 128-channel
 * stages -- that is what the layer costs; at 256 channels and more they no longer fit and
 * the larger weights cost more than the products save, so the caller (conv_winograd_node.c)
 * gives those to the tile-lane kernel (conv_winograd_lanes.c) or oneDNN.
 * On this project's 2-core AVX-512 machine: 64 channels at 56x56 0.43 -> 0.26 ms, 128 at
 * 28x28 0.37 -> 0.23 ms with the data in cache; inside ResNet-50 0.43-0.48 -> 0.29-0.35 and
 * 0.47 -> 0.33-0.40 ms (docs/benchmarks.md).
 *
 * The work, per image: output tiles of 4x4 (input patches of 6x6 with a 1-pixel border of
 * zeros around the image), split into contiguous ranges, one per thread, and each range in
 * chunks whose transformed input fits KILN_WINO43_V_BYTES. A chunk is transformed
 * (V = B^T d B, 36 values a tile and channel), then, one pair of output channel blocks at a
 * time, multiplied position by position with the transformed weights (M[e] = V[e] U[e], 36
 * independent products of chunk x C by C x 32) and transformed back (Y = A^T M A, plus bias
 * and ReLU) -- all inside the thread's own scratch, so a chunk stays in its core's L2 and
 * the threads never wait for each other.
 *
 * Numerics: the weight transform is computed in double and rounded once; the input and
 * output transforms use the interpolation points 0, +-1, +-2 (coefficients up to 8), which
 * keeps float32's error within about 1e-5 of the output's scale on ResNet's layers (the
 * tests compare against a float64 direct convolution).
 */
#include "backends/cpu/conv_winograd_f43.h"

#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define KILN_WINO43_X86 1
#include "backends/cpu/conv_winograd_transforms.h"
#endif

enum {
    WINO_E = 36, /* products a tile: the 6x6 transformed patch */
    WINO_NT = 14 /* tiles in the product kernel's registers: 2 x 14 accumulators of 32 zmm */
};

size_t kiln_wino43_weights_floats(int64_t oc, int64_t c) {
    return (size_t)(WINO_E * oc * c);
}

size_t kiln_wino43_scratch_floats(int64_t oc, int64_t c, int threads) {
    if (threads < 1) threads = 1;
    (void)oc;
    int64_t cap = KILN_WINO43_V_BYTES / (WINO_E * c * (int64_t)sizeof(float));
    if (cap < 1) cap = 1;
    return (size_t)threads * (size_t)(WINO_E * cap * (c + 32));
}

/* U[op][e][c][32]: position e = 6 * row + column of G g G^T for output channels
 * 32 op .. 32 op + 31 (innermost) and input channel c: a pair of output channel blocks
 * reads its weights for all 36 positions as one sequential stream, and the block after
 * each is the one to prefetch. (Position-major, the same speed on ResNet-50.) */
void kiln_wino43_transform_weights(const float *w, int64_t oc, int64_t c, float *u) {
    static const double G[6][3] = {{1.0 / 4, 0, 0},
                                   {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                   {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                   {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                   {1.0 / 24, -1.0 / 12, 1.0 / 6},
                                   {0, 0, 1}};
    for (int64_t o = 0; o < oc; o++)
        for (int64_t i = 0; i < c; i++) {
            const float *g = w + (o * c + i) * 9;
            double gt[6][3]; /* G g */
            for (int r = 0; r < 6; r++)
                for (int k = 0; k < 3; k++)
                    gt[r][k] = G[r][0] * g[k] + G[r][1] * g[3 + k] + G[r][2] * g[6 + k];
            for (int r = 0; r < 6; r++)
                for (int s = 0; s < 6; s++) {
                    double v = gt[r][0] * G[s][0] + gt[r][1] * G[s][1] + gt[r][2] * G[s][2];
                    int64_t e = r * 6 + s;
                    u[(((o / 32) * WINO_E + e) * c + i) * 32 + o % 32] = (float)v;
                }
        }
}

#ifdef KILN_WINO43_X86

#define WINO_TARGET __attribute__((target("avx512f")))

/* The geometry of one run, shared by the threads. */
typedef struct wino_job {
    const float *x, *u, *bias, *sum; /* sum: NULL, or added before ReLU, laid out as y */
    float *y, *scratch;
    int64_t c, oc, h, w, tiles_w, tiles;
    int relu;
} wino_job;

/* B^T d B of one 6x6 patch of 16-channel vectors (rows rs floats apart, columns 16), into
 * v[e * es]: the rows first, then the columns. */
WINO_TARGET static inline void wino_patch(const float *p, int64_t rs, float *v, int64_t es) {
    __m512 t[6][6]; /* d B, row by row */
    for (int i = 0; i < 6; i++) {
        __m512 d[6];
        for (int jj = 0; jj < 6; jj++) d[jj] = _mm512_loadu_ps(p + i * rs + jj * 16);
        KILN_WINO_BT6(d, t[i]);
    }
    for (int jj = 0; jj < 6; jj++) {
        __m512 d[6], r[6];
        for (int i = 0; i < 6; i++) d[i] = t[i][jj];
        KILN_WINO_BT6(d, r);
        for (int i = 0; i < 6; i++) _mm512_storeu_ps(v + (i * 6 + jj) * es, r[i]);
    }
}

/* V[e][cb][t][16] (t < ts) of the chunk's tiles [t0, t0 + nt), from V's column vt: B^T d B
 * of each 6x6 patch. Patches inside the image are read in place; those over its edge are
 * copied first, with zeros for the padding, so the transform itself never branches. */
WINO_TARGET static void wino_input(const wino_job *j, const float *x, int64_t t0, int nt, float *v,
                                   int64_t ts, int64_t vt) {
    const int64_t cbn = j->c / 16, H = j->h, W = j->w, es = cbn * ts * 16;
    const __m512 zero = _mm512_setzero_ps();
    float patch[36 * 16] __attribute__((aligned(64)));
    for (int t = 0; t < nt; t++) {
        int64_t ty = (t0 + t) / j->tiles_w, tx = (t0 + t) % j->tiles_w;
        int64_t r0 = 4 * ty - 1, c0 = 4 * tx - 1;
        int inside = r0 >= 0 && r0 + 6 <= H && c0 >= 0 && c0 + 6 <= W;
        for (int64_t cb = 0; cb < cbn; cb++) {
            const float *xc = x + cb * H * W * 16;
            float *vc = v + (cb * ts + vt + t) * 16;
            if (inside) {
                wino_patch(xc + (r0 * W + c0) * 16, W * 16, vc, es);
                continue;
            }
            for (int i = 0; i < 6; i++)
                for (int jj = 0; jj < 6; jj++) {
                    int64_t rr = r0 + i, cc = c0 + jj;
                    _mm512_store_ps(patch + (i * 6 + jj) * 16,
                                    rr >= 0 && rr < H && cc >= 0 && cc < W
                                        ? _mm512_loadu_ps(xc + (rr * W + cc) * 16)
                                        : zero);
                }
            wino_patch(patch, 6 * 16, vc, es);
        }
    }
}

/* Every loop over the tiles of a product unrolled, so that the accumulators live in
 * registers (not unrolled, GCC keeps them on the stack: 7% slower). */
#if defined(__clang__)
#define WINO_UNROLL _Pragma("unroll")
#else
#define WINO_UNROLL _Pragma("GCC unroll 16")
#endif

/* M[e][ob..ob+1][t0..t0+NP) = V[e][.][t0..] U[op][e]: 2 x NP accumulators, a weight
 * vector pair and a broadcast input value per input channel; vs: floats from one channel
 * block of V to the next. pf (or NULL): the weights that follow, asked for in L1 line by
 * line as these are used -- they come from L3 or memory and the first tiles would
 * otherwise wait for them. */
#define WINO_GEMM_FN(NP)                                                                           \
    WINO_TARGET static void wino_gemm##NP(const float *v, int64_t vs, const float *u, int64_t cbn, \
                                          float *m0, float *m1, const float *pf) {                 \
        __m512 a0[NP], a1[NP];                                                                     \
        WINO_UNROLL for (int p = 0; p < NP; p++) a0[p] = a1[p] = _mm512_setzero_ps();              \
        for (int64_t cb = 0; cb < cbn; cb++) {                                                     \
            const float *vb = v + cb * vs;                                                         \
            const float *wc = u + cb * 512;                                                        \
            for (int i = 0; i < 16; i++) {                                                         \
                if (pf) {                                                                          \
                    _mm_prefetch((const char *)(pf + cb * 512 + i * 32), _MM_HINT_T0);             \
                    _mm_prefetch((const char *)(pf + cb * 512 + i * 32 + 16), _MM_HINT_T0);        \
                }                                                                                  \
                __m512 wa = _mm512_loadu_ps(wc + i * 32), wb = _mm512_loadu_ps(wc + i * 32 + 16);  \
                WINO_UNROLL for (int p = 0; p < NP; p++) {                                         \
                    __m512 s = _mm512_set1_ps(vb[p * 16 + i]);                                     \
                    a0[p] = _mm512_fmadd_ps(wa, s, a0[p]);                                         \
                    a1[p] = _mm512_fmadd_ps(wb, s, a1[p]);                                         \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
        WINO_UNROLL for (int p = 0; p < NP; p++) {                                                 \
            _mm512_storeu_ps(m0 + p * 16, a0[p]);                                                  \
            _mm512_storeu_ps(m1 + p * 16, a1[p]);                                                  \
        }                                                                                          \
    }
WINO_GEMM_FN(1)
WINO_GEMM_FN(2)
WINO_GEMM_FN(3)
WINO_GEMM_FN(4)
WINO_GEMM_FN(5)
WINO_GEMM_FN(6)
WINO_GEMM_FN(7)
WINO_GEMM_FN(8)
WINO_GEMM_FN(9)
WINO_GEMM_FN(10)
WINO_GEMM_FN(11)
WINO_GEMM_FN(12)
WINO_GEMM_FN(13)
WINO_GEMM_FN(14)

typedef void (*wino_gemm_fn)(const float *, int64_t, const float *, int64_t, float *, float *,
                             const float *);
static const wino_gemm_fn wino_gemms[WINO_NT + 1] = {
    NULL,        wino_gemm1,  wino_gemm2,  wino_gemm3,  wino_gemm4,
    wino_gemm5,  wino_gemm6,  wino_gemm7,  wino_gemm8,  wino_gemm9,
    wino_gemm10, wino_gemm11, wino_gemm12, wino_gemm13, wino_gemm14};

/* Y of the chunk's tiles [t0, t0 + nt), output channel blocks [ob0, ob1) (M[e][ob - ob0]
 * [t][16] with tile stride mts, from its column mt): A^T M A, plus bias and the sum input,
 * ReLU; the parts of a tile past the image's edge are not stored. */
WINO_TARGET static void wino_output(const wino_job *j, const float *m, int64_t mts, int64_t mt,
                                    int64_t ob0, int64_t ob1, int64_t t0, int nt, float *y) {
    const int64_t mobn = ob1 - ob0, H = j->h, W = j->w;
    const __m512 zero = _mm512_setzero_ps();
    const float *sum = j->sum ? j->sum + (y - j->y) : NULL; /* this image's */
    for (int t = 0; t < nt; t++) {
        int64_t ty = (t0 + t) / j->tiles_w, tx = (t0 + t) % j->tiles_w;
        for (int64_t ob = ob0; ob < ob1; ob++) {
            __m512 bias = j->bias ? _mm512_loadu_ps(j->bias + ob * 16) : zero;
            __m512 col[6][4]; /* A^T over each column */
            for (int jj = 0; jj < 6; jj++) {
                __m512 mm[6];
                for (int i = 0; i < 6; i++)
                    mm[i] = _mm512_loadu_ps(
                        m + (((int64_t)(i * 6 + jj) * mobn + ob - ob0) * mts + mt + t) * 16);
                KILN_WINO_AT6(mm, col[jj]);
            }
            for (int i = 0; i < 4; i++) {
                int64_t rr = 4 * ty + i;
                if (rr >= H) break;
                __m512 mm[6], o[4];
                for (int jj = 0; jj < 6; jj++) mm[jj] = col[jj][i];
                KILN_WINO_AT6(mm, o);
                for (int jj = 0; jj < 4; jj++) {
                    int64_t cc = 4 * tx + jj;
                    if (cc >= W) break;
                    int64_t at = ob * H * W * 16 + (rr * W + cc) * 16;
                    __m512 r = _mm512_add_ps(o[jj], bias);
                    if (sum) r = _mm512_add_ps(r, _mm512_loadu_ps(sum + at));
                    if (j->relu) r = _mm512_max_ps(r, zero);
                    _mm512_storeu_ps(y + at, r);
                }
            }
        }
    }
}

/* A chunk's products and output, one pair of output channel blocks at a time: the 36
 * products of the pair (V's tile stride vts) into m (M[e][2][t][16], tile stride mts), then
 * their output transform -- so that M stays small and in L1/L2. */
static void wino_products_output(const wino_job *j, const float *v, int64_t vts, int64_t t0, int nt,
                                 float *m, int64_t mts, float *y) {
    const int64_t cbn = j->c / 16, obn = j->oc / 16, block = j->c * 32;
    for (int64_t ob = 0; ob < obn; ob += 2)
        for (int e = 0; e < WINO_E; e++) {
            const float *ve = v + (int64_t)e * cbn * vts * 16;
            const float *u = j->u + ((ob / 2) * WINO_E + e) * block;
            /* the next block: this pair's next position, or the next pair's first */
            int last = e == WINO_E - 1 && ob + 2 == obn;
            float *m0 = m + (int64_t)e * 2 * mts * 16, *m1 = m0 + mts * 16;
            for (int t = 0; t < nt; t += WINO_NT) {
                int np = nt - t < WINO_NT ? nt - t : WINO_NT;
                wino_gemms[np](ve + t * 16, vts * 16, u, cbn, m0 + t * 16, m1 + t * 16,
                               t == 0 && !last ? u + block : NULL);
            }
            if (e == WINO_E - 1) wino_output(j, m, mts, 0, ob, ob + 2, t0, nt, y);
        }
}

/* Tiles a chunk holds: its V within KILN_WINO43_V_BYTES. */
static int64_t wino_chunk(int64_t c) {
    int64_t n = KILN_WINO43_V_BYTES / (WINO_E * c * (int64_t)sizeof(float));
    return n < 1 ? 1 : n;
}

/* Thread `id` of `n`: a range of the image's tiles, in chunks, all in its own scratch with
 * no barrier. (Splitting by output channels instead -- each thread half the weights, with
 * one V shared or each thread transforming every tile -- was 1.3-1.8x slower on
 * ResNet-50's layers.) */
static void wino_by_tiles(const void *job, const float *x, float *y, int id, int n) {
    const wino_job *j = job;
    int64_t t0 = j->tiles * id / n, t1 = j->tiles * (id + 1) / n;
    int64_t cap = wino_chunk(j->c);
    float *v = j->scratch + (size_t)id * (size_t)(WINO_E * cap * (j->c + 32));
    float *m = v + (size_t)(WINO_E * cap * j->c);
    /* chunks of equal size, so that the last is not a sliver */
    int64_t chunks = (t1 - t0 + cap - 1) / cap;
    for (int64_t k = 0; k < chunks; k++) {
        int64_t a = t0 + (t1 - t0) * k / chunks, b = t0 + (t1 - t0) * (k + 1) / chunks;
        wino_input(j, x, a, (int)(b - a), v, cap, 0);
        wino_products_output(j, v, cap, a, (int)(b - a), m, cap, y);
    }
}

#endif /* KILN_WINO43_X86 */

int kiln_wino43_supported(int64_t c, int64_t oc) {
#ifdef KILN_WINO43_X86
    return c > 0 && oc > 0 && c % 16 == 0 && oc % 32 == 0 && __builtin_cpu_supports("avx512f");
#else
    (void)c, (void)oc;
    return 0;
#endif
}

void kiln_wino43_run(const float *x, const float *u, const float *bias, const float *sum, float *y,
                     int64_t n, int64_t c, int64_t oc, int64_t h, int64_t w, int relu,
                     float *scratch, int threads) {
#ifdef KILN_WINO43_X86
    wino_job j = {x, u, bias, sum, y, scratch, c, oc, h, w, (w + 3) / 4, 0, relu};
    j.tiles = j.tiles_w * ((h + 3) / 4);
    if (threads < 1) threads = 1;
    if (threads > j.tiles) threads = (int)j.tiles;
    kiln_wino_images(wino_by_tiles, &j, x, c * h * w, y, oc * h * w, n, threads);
#else
    (void)x, (void)u, (void)bias, (void)sum, (void)y, (void)n, (void)c, (void)oc, (void)h, (void)w;
    (void)relu, (void)scratch, (void)threads;
#endif
}
