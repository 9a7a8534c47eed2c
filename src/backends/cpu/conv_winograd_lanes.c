/*
 * 3x3 stride-1 pad-1 convolutions on small maps (at most 16 output tiles: up to 8x8 with
 * F(2x2, 3x3), up to 16x16 with F(4x4, 3x3)) by Winograd's algorithm, kiln's own AVX-512
 * kernel, on activations in 16-channel blocks (nChw16c). On this project's 2-core machine,
 * inside ResNet-50: 0.53-0.59 -> 0.47-0.50 ms a 256-channel 14x14 layer, 1.03-1.21 ->
 * 0.90 ms a 512-channel 7x7 one, against oneDNN's F(2x2, 3x3) (docs/benchmarks.md).
 *
 * Why: ResNet-50's last two stages (256 channels at 14x14, 512 at 7x7) stream their
 * weights from L3 or memory at every run. oneDNN 2.6's F(2x2, 3x3) reads transformed
 * weights 16/9 the size of the plain ones (4.2 and 16.7 MB a layer), and kiln's
 * F(4x4, 3x3) with stored transformed weights (conv_winograd_f43.c) 36/9. This kernel
 * reads the plain weights (in a 16-output-channel layout) and transforms them in
 * registers as it goes, so a layer streams 9 floats a channel pair and still does the
 * Winograd products: 36 a channel pair for 16x16 (F(4x4, 3x3)) where oneDNN does 49 x 16
 * / 16 for 14x14, 16 for 8x8 where the direct kernel does 49 x 9 / 16.
 *
 * The trick that makes the on-the-fly transform cheap: the (at most 16) tiles of the map
 * sit in the 16 lanes of a vector, so each transformed weight is used in exactly one
 * multiply-add -- by every tile at once -- and a weight is transformed once per run, not
 * once per tile or per thread.
 *
 * The work, per image:
 * 1. Input: V[e][c] (16 lanes: the tiles) = B^T d B for every input channel; the threads
 *    split the channel blocks, transform with the channels in the lanes and transpose
 *    16 x 16 blocks into tile lanes; then a barrier, as every thread reads all of V.
 * 2. Products: the threads split the output channel blocks. For a block of 16 output
 *    channels, one row of positions at a time (F(4x4): its 36 positions' U and M together
 *    do not fit in L1 beside V), and a chunk of WINOL_K input channels, the weights
 *    G' g G'^T of the row are computed (output channels in the lanes) into a small buffer
 *    in L1, then for each of its positions e M[e][o] += U[e][o][c] * V[e][c] with U
 *    broadcast from that buffer (16 accumulators, one a channel of the block); M lives in
 *    the thread's scratch. Meanwhile the next block's weights are asked into L2.
 * 3. Output: per output channel Y = A^T M A (tile lanes), transposed back into 16-channel
 *    vectors per pixel, plus bias and ReLU.
 *
 * Numerics: G's rows are scaled to integers (G = diag(s) G'), so the weight transform is
 * additions and multiplications by 2 and 4, exact but for rounding; the scale s_r s_c of
 * each position is applied to M before the output transform. The interpolation points are
 * 0, +-1 (F(2x2)) and 0, +-1, +-2 (F(4x4)), as in conv_winograd_f43.c.
 */
#include "backends/cpu/conv_winograd_lanes.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define KILN_WINOL_X86 1
#include "backends/cpu/conv_winograd_transforms.h"
#endif

enum {
    WINOL_K = 16,    /* input channels whose weights are transformed at a time */
    WINOL_AMAX = 6,  /* positions in a row of a tile: 4 (F(2x2)) or 6 (F(4x4)) */
    WINOL_EMAX = 36, /* positions of a tile: 4x4 or 6x6 */
    /* a thread's scratch: U for a row of positions and a chunk, M for an output block, the
     * output block's values per tile position, the input block's transform */
    WINOL_THREAD_FLOATS = WINOL_AMAX * WINOL_K * 16 + WINOL_EMAX * 256 + 16 * 256 + WINOL_EMAX * 256
};

/* V's positions lie one cache line more than a multiple of 4 KiB apart when the channels
 * are a power of two, so that the product loop's streams (one a position) do not all fall
 * into the same L1 sets. */
#define WINOL_VS(c) ((c)*16 + 16)

int kiln_winol_tile(int64_t c, int64_t oc, int64_t h, int64_t w) {
    if (c <= 0 || oc <= 0 || c % 16 || oc % 16 || h < 1 || w < 1) return 0;
#ifdef KILN_WINOL_X86
    if (!__builtin_cpu_supports("avx512f")) return 0;
    if (((h + 1) / 2) * ((w + 1) / 2) <= 16) return 2;
    if (((h + 3) / 4) * ((w + 3) / 4) <= 16) return 4;
#endif
    return 0;
}

size_t kiln_winol_weights_floats(int64_t oc, int64_t c) {
    return (size_t)(oc * c * 9);
}

void kiln_winol_prepare_weights(const float *w, int64_t oc, int64_t c, float *wp) {
    for (int64_t o = 0; o < oc; o++)
        for (int64_t i = 0; i < c; i++)
            for (int k = 0; k < 9; k++)
                wp[(((o / 16) * c + i) * 9 + k) * 16 + o % 16] = w[(o * c + i) * 9 + k];
}

size_t kiln_winol_scratch_floats(int64_t c, int threads) {
    if (threads < 1) threads = 1;
    return (size_t)(WINOL_EMAX * WINOL_VS(c)) + (size_t)threads * WINOL_THREAD_FLOATS;
}

#ifdef KILN_WINOL_X86

#define WINOL_TARGET __attribute__((target("avx512f")))

#if defined(__clang__)
#define WINOL_UNROLL _Pragma("unroll")
#else
#define WINOL_UNROLL _Pragma("GCC unroll 16")
#endif

typedef struct winol_job {
    const float *wp, *bias, *sum; /* sum: NULL, or added before ReLU, laid out as y */
    const float *y;               /* the first image's output (sum's offsets from it) */
    float *v, *scratch;
    int64_t c, oc, h, w, vs;     /* vs: floats from one position's V to the next */
    int m, a, e, tiles_w, tiles; /* tile size, patch size (m + 2), positions (a * a) */
    int relu;
} winol_job;

/* The transposed 16 x 16 block: r[i] (row i, 16 floats) -> r[j] = column j. */
WINOL_TARGET static inline void winol_transpose(__m512 r[16]) {
    __m512 t[16], s[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; i++) {
        __m512d a0 = _mm512_castps_pd(t[4 * i]), a1 = _mm512_castps_pd(t[4 * i + 1]);
        __m512d a2 = _mm512_castps_pd(t[4 * i + 2]), a3 = _mm512_castps_pd(t[4 * i + 3]);
        s[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a0, a2));
        s[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a0, a2));
        s[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(a1, a3));
        s[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(a1, a3));
    }
    /* s[4i + k], 128-bit lane l: column 4l + k of rows 4i .. 4i + 3 */
    for (int k = 0; k < 4; k++) {
        __m512 xlo = _mm512_shuffle_f32x4(s[k], s[4 + k], 0x44);
        __m512 xhi = _mm512_shuffle_f32x4(s[k], s[4 + k], 0xEE);
        __m512 ylo = _mm512_shuffle_f32x4(s[8 + k], s[12 + k], 0x44);
        __m512 yhi = _mm512_shuffle_f32x4(s[8 + k], s[12 + k], 0xEE);
        r[k] = _mm512_shuffle_f32x4(xlo, ylo, 0x88);
        r[4 + k] = _mm512_shuffle_f32x4(xlo, ylo, 0xDD);
        r[8 + k] = _mm512_shuffle_f32x4(xhi, yhi, 0x88);
        r[12 + k] = _mm512_shuffle_f32x4(xhi, yhi, 0xDD);
    }
}

/* B^T d of a column (or row) of a patch, F(2x2, 3x3): 4 values (F(4x4)'s:
 * conv_winograd_transforms.h). */
#define WINOL_BT4(d, r)                                                                            \
    do {                                                                                           \
        r[0] = _mm512_sub_ps(d[0], d[2]);                                                          \
        r[1] = _mm512_add_ps(d[1], d[2]);                                                          \
        r[2] = _mm512_sub_ps(d[2], d[1]);                                                          \
        r[3] = _mm512_sub_ps(d[1], d[3]);                                                          \
    } while (0)

/* A^T m of a column (or row), F(2x2, 3x3): 2 values from 4. */
#define WINOL_AT4(mm, o)                                                                           \
    do {                                                                                           \
        o[0] = _mm512_add_ps(_mm512_add_ps(mm[0], mm[1]), mm[2]);                                  \
        o[1] = _mm512_sub_ps(_mm512_sub_ps(mm[1], mm[2]), mm[3]);                                  \
    } while (0)

/* G' g of a column (or row) of 3 weights: G = diag(s) G' with G' of small integers. */
#define WINOL_G4(g, r)                                                                             \
    do {                                                                                           \
        __m512 g_p = _mm512_add_ps(g[0], g[2]);                                                    \
        r[0] = g[0];                                                                               \
        r[1] = _mm512_add_ps(g_p, g[1]);                                                           \
        r[2] = _mm512_sub_ps(g_p, g[1]);                                                           \
        r[3] = g[2];                                                                               \
    } while (0)

#define WINOL_G6(g, r)                                                                             \
    do {                                                                                           \
        __m512 g_p = _mm512_add_ps(g[0], g[2]),                                                    \
               g_q = _mm512_fmadd_ps(_mm512_set1_ps(4.0f), g[2], g[0]);                            \
        __m512 g_b2 = _mm512_add_ps(g[1], g[1]);                                                   \
        r[0] = g[0];                                                                               \
        r[1] = _mm512_add_ps(g_p, g[1]);                                                           \
        r[2] = _mm512_sub_ps(g_p, g[1]);                                                           \
        r[3] = _mm512_add_ps(g_q, g_b2);                                                           \
        r[4] = _mm512_sub_ps(g_q, g_b2);                                                           \
        r[5] = g[2];                                                                               \
    } while (0)

/* The scale s_r s_c of each position (G = diag(s) G'). */
static void winol_scales(int a, float *scale) {
    static const float s4[4] = {1.0f, 0.5f, 0.5f, 1.0f};
    static const float s6[6] = {1.0f / 4, -1.0f / 6, -1.0f / 6, 1.0f / 24, 1.0f / 24, 1.0f};
    const float *s = a == 4 ? s4 : s6;
    for (int r = 0; r < a; r++)
        for (int q = 0; q < a; q++) scale[r * a + q] = s[r] * s[q];
}

/* B^T d B of tile t's patch of channel block xc ([h][w][16]), zeros past the edges, into
 * tmp[e][t][16]; one function per patch size, so that the patch stays in registers. */
#define WINOL_PATCH_FN(A, BT)                                                                      \
    WINOL_TARGET static void winol_patch##A(const winol_job *j, const float *xc, int t,            \
                                            float *tmp) {                                          \
        const int64_t H = j->h, W = j->w, m = j->m;                                                \
        const int64_t r0 = m * (t / j->tiles_w) - 1, c0 = m * (t % j->tiles_w) - 1;                \
        __m512 rows[A][A];                                                                         \
        WINOL_UNROLL for (int i = 0; i < A; i++) {                                                 \
            __m512 d[A];                                                                           \
            WINOL_UNROLL for (int q = 0; q < A; q++) {                                             \
                int64_t rr = r0 + i, cc = c0 + q;                                                  \
                d[q] = rr >= 0 && rr < H && cc >= 0 && cc < W                                      \
                           ? _mm512_loadu_ps(xc + (rr * W + cc) * 16)                              \
                           : _mm512_setzero_ps();                                                  \
            }                                                                                      \
            BT(d, rows[i]);                                                                        \
        }                                                                                          \
        WINOL_UNROLL for (int q = 0; q < A; q++) {                                                 \
            __m512 col[A], r[A];                                                                   \
            WINOL_UNROLL for (int i = 0; i < A; i++) col[i] = rows[i][q];                          \
            BT(col, r);                                                                            \
            WINOL_UNROLL for (int i = 0; i < A; i++)                                               \
                _mm512_store_ps(tmp + ((i * A + q) * 16 + t) * 16, r[i]);                          \
        }                                                                                          \
    }
WINOL_PATCH_FN(4, WINOL_BT4)
WINOL_PATCH_FN(6, KILN_WINO_BT6)

/* V[e][c][16 tiles] of input channel blocks [cb0, cb1). */
WINOL_TARGET static void winol_input(const winol_job *j, const float *x, int64_t cb0, int64_t cb1,
                                     float *tmp) {
    for (int64_t cb = cb0; cb < cb1; cb++) {
        const float *xc = x + cb * j->h * j->w * 16;
        for (int t = 0; t < 16; t++) {
            if (t < j->tiles) {
                if (j->a == 4)
                    winol_patch4(j, xc, t, tmp);
                else
                    winol_patch6(j, xc, t, tmp);
                continue;
            }
            for (int e = 0; e < j->e; e++)
                _mm512_store_ps(tmp + (e * 16 + t) * 16, _mm512_setzero_ps());
        }
        for (int e = 0; e < j->e; e++) {
            __m512 r[16];
            for (int i = 0; i < 16; i++) r[i] = _mm512_load_ps(tmp + (e * 16 + i) * 16);
            winol_transpose(r);
            float *ve = j->v + (int64_t)e * j->vs + cb * 16 * 16;
            for (int i = 0; i < 16; i++) _mm512_store_ps(ve + i * 16, r[i]);
        }
    }
}

/* Row r of G' g (3 vectors: one a kernel column) from g ([3][3][16]). */
WINOL_TARGET __attribute__((always_inline)) static inline void
winol_grow(int a, int r, const float *g, __m512 t[3]) {
    WINOL_UNROLL for (int col = 0; col < 3; col++) {
        __m512 g0 = _mm512_loadu_ps(g + col * 16), g1 = _mm512_loadu_ps(g + (3 + col) * 16),
               g2 = _mm512_loadu_ps(g + (6 + col) * 16);
        if (r == 0)
            t[col] = g0;
        else if (r == a - 1)
            t[col] = g2;
        else if (r == 1)
            t[col] = _mm512_add_ps(_mm512_add_ps(g0, g2), g1);
        else if (r == 2)
            t[col] = _mm512_sub_ps(_mm512_add_ps(g0, g2), g1);
        else if (r == 3) /* F(4x4) only: g0 + 2 g1 + 4 g2, g0 - 2 g1 + 4 g2 */
            t[col] = _mm512_fmadd_ps(_mm512_set1_ps(2.0f), g1,
                                     _mm512_fmadd_ps(_mm512_set1_ps(4.0f), g2, g0));
        else
            t[col] = _mm512_fnmadd_ps(_mm512_set1_ps(2.0f), g1,
                                      _mm512_fmadd_ps(_mm512_set1_ps(4.0f), g2, g0));
    }
}

/* U[q][k][16] (q < a: positions r * a + q) = row r of G' g G'^T for the WINOL_K input
 * channels from g ([k][9][16], output channels in the lanes). A row at a time keeps
 * U and M of the positions being multiplied in L1 (all 36 of F(4x4) at once do not fit
 * beside V: the stores then miss L1 and the transform costs three times as much). One
 * function per patch size and row, so that the row's coefficients are constants. */
#define WINOL_ROW_FN(A, R, GFN)                                                                    \
    WINOL_TARGET static void winol_row##A##_##R(const float *g, float *u) {                        \
        for (int k = 0; k < WINOL_K; k++, g += 9 * 16) {                                           \
            __m512 t[3], row[A];                                                                   \
            winol_grow(A, R, g, t);                                                                \
            GFN(t, row);                                                                           \
            WINOL_UNROLL for (int i = 0; i < A; i++)                                               \
                _mm512_store_ps(u + (i * WINOL_K + k) * 16, row[i]);                               \
        }                                                                                          \
    }
WINOL_ROW_FN(4, 0, WINOL_G4)
WINOL_ROW_FN(4, 1, WINOL_G4)
WINOL_ROW_FN(4, 2, WINOL_G4)
WINOL_ROW_FN(4, 3, WINOL_G4)
WINOL_ROW_FN(6, 0, WINOL_G6)
WINOL_ROW_FN(6, 1, WINOL_G6)
WINOL_ROW_FN(6, 2, WINOL_G6)
WINOL_ROW_FN(6, 3, WINOL_G6)
WINOL_ROW_FN(6, 4, WINOL_G6)
WINOL_ROW_FN(6, 5, WINOL_G6)

typedef void (*winol_row_fn)(const float *, float *);
static const winol_row_fn winol_rows4[4] = {winol_row4_0, winol_row4_1, winol_row4_2, winol_row4_3};
static const winol_row_fn winol_rows6[6] = {winol_row6_0, winol_row6_1, winol_row6_2,
                                            winol_row6_3, winol_row6_4, winol_row6_5};

/* M[e][o][16 tiles] (+)= sum over the chunk's channels of U[e][k][o] V[e][c0 + k] for the
 * positions e0 .. e0 + ne - 1 (U and M of those only). pf, pfn: lines of the next output
 * block's weights to ask for in L2 meanwhile, so that they do not wait on L3 or memory. */
WINOL_TARGET static void winol_products(const winol_job *j, const float *u, int e0, int ne,
                                        int64_t c0, int first, float *mac, const char *pf,
                                        int pfn) {
    for (int i = 0; i < ne; i++) {
        const int e = e0 + i;
        for (int l = pfn * i / ne; l < pfn * (i + 1) / ne; l++)
            _mm_prefetch(pf + l * 64, _MM_HINT_T1);
        __m512 acc[16];
        float *me = mac + i * 256;
        WINOL_UNROLL for (int o = 0; o < 16; o++) acc[o] =
            first ? _mm512_setzero_ps() : _mm512_load_ps(me + o * 16);
        const float *ve = j->v + (int64_t)e * j->vs + c0 * 16;
        const float *ue = u + (int64_t)i * WINOL_K * 16;
        /* V of the next position (or chunk): each position's 1 KB is a new stream that
         * the hardware prefetchers find late */
        const char *vn =
            (const char *)(i + 1 < ne ? ve + j->vs : ve - (int64_t)i * j->vs + WINOL_K * 16);
        for (int k = 0; k < WINOL_K; k++) {
            _mm_prefetch(vn + k * 64, _MM_HINT_T0);
            __m512 v = _mm512_load_ps(ve + k * 16);
            WINOL_UNROLL for (int o = 0; o < 16; o++) acc[o] =
                _mm512_fmadd_ps(_mm512_set1_ps(ue[k * 16 + o]), v, acc[o]);
        }
        WINOL_UNROLL for (int o = 0; o < 16; o++) _mm512_store_ps(me + o * 16, acc[o]);
    }
}

/* M of output channel block ob (g: its weights): one row of positions at a time, all
 * input channels in chunks of WINOL_K; meanwhile the next block's weights (gn) come
 * into L2 a share per chunk. */
WINOL_TARGET static void winol_block(const winol_job *j, const float *g, const float *gn, float *u,
                                     float *mac) {
    const int a = j->a;
    /* the next block's weights: c x 9 vectors of 16 floats, a cache line each */
    const int64_t chunks = j->c / WINOL_K, lines = j->c * 9, steps = a * chunks;
    for (int r = 0; r < a; r++)
        for (int64_t ch = 0; ch < chunks; ch++) {
            int64_t step = r * chunks + ch, l0 = lines * step / steps,
                    l1 = lines * (step + 1) / steps;
            (a == 4 ? winol_rows4 : winol_rows6)[r](g + ch * WINOL_K * 9 * 16, u);
            winol_products(j, u, r * a, a, ch * WINOL_K, ch == 0, mac + r * a * 256,
                           gn ? (const char *)gn + l0 * 64 : NULL, gn ? (int)(l1 - l0) : 0);
        }
}

/* Output channel block ob from M: A^T M A per channel (tile lanes), then transposed into
 * 16-channel vectors per pixel, plus bias and the sum input, ReLU. */
WINOL_TARGET static void winol_output(const winol_job *j, const float *mac, const float *scale,
                                      int64_t ob, float *obuf, float *y) {
    const int a = j->a, m = j->m;
    for (int o = 0; o < 16; o++) {
        __m512 col[6][4];
        for (int q = 0; q < a; q++) {
            __m512 mm[6];
            for (int i = 0; i < a; i++) {
                int e = i * a + q;
                mm[i] =
                    _mm512_mul_ps(_mm512_load_ps(mac + e * 256 + o * 16), _mm512_set1_ps(scale[e]));
            }
            if (a == 4)
                WINOL_AT4(mm, col[q]);
            else
                KILN_WINO_AT6(mm, col[q]);
        }
        for (int i = 0; i < m; i++) {
            __m512 mm[6], r[4];
            for (int q = 0; q < a; q++) mm[q] = col[q][i];
            if (a == 4)
                WINOL_AT4(mm, r);
            else
                KILN_WINO_AT6(mm, r);
            for (int q = 0; q < m; q++) _mm512_store_ps(obuf + ((i * m + q) * 16 + o) * 16, r[q]);
        }
    }
    const __m512 zero = _mm512_setzero_ps();
    const __m512 bias = j->bias ? _mm512_loadu_ps(j->bias + ob * 16) : zero;
    float *yb = y + ob * j->h * j->w * 16;
    const float *sb = j->sum ? j->sum + (yb - j->y) : NULL; /* this image's, this block's */
    for (int i = 0; i < m; i++)
        for (int q = 0; q < m; q++) {
            __m512 r[16];
            for (int o = 0; o < 16; o++) r[o] = _mm512_load_ps(obuf + ((i * m + q) * 16 + o) * 16);
            winol_transpose(r); /* r[t]: tile t's pixel (i, q), 16 channels */
            for (int t = 0; t < j->tiles; t++) {
                int64_t py = (int64_t)m * (t / j->tiles_w) + i,
                        px = (int64_t)m * (t % j->tiles_w) + q;
                if (py >= j->h || px >= j->w) continue;
                int64_t at = (py * j->w + px) * 16;
                __m512 v = _mm512_add_ps(r[t], bias);
                if (sb) v = _mm512_add_ps(v, _mm512_loadu_ps(sb + at));
                if (j->relu) v = _mm512_max_ps(v, zero);
                _mm512_storeu_ps(yb + at, v);
            }
        }
}

/* Thread `id` of `n`: its share of the input channel blocks' transform, a barrier, then
 * its share of the output channel blocks. */
WINOL_TARGET static void winol_thread(const void *job, const float *x, float *y, int id, int n) {
    const winol_job *j = job;
    float *u = j->scratch + (size_t)id * WINOL_THREAD_FLOATS;
    float *mac = u + WINOL_AMAX * WINOL_K * 16, *obuf = mac + WINOL_EMAX * 256;
    float *tmp = obuf + 16 * 256;
    const int64_t cbn = j->c / 16, obn = j->oc / 16;
    winol_input(j, x, cbn * id / n, cbn * (id + 1) / n, tmp);
#ifdef KILN_HAVE_OPENMP
    if (n > 1) {
#pragma omp barrier
    }
#endif
    float scale[WINOL_EMAX];
    winol_scales(j->a, scale);
    for (int64_t ob = obn * id / n; ob < obn * (id + 1) / n; ob++) {
        const float *g = j->wp + ob * j->c * 9 * 16;
        winol_block(j, g, ob + 1 < obn * (id + 1) / n ? g + j->c * 9 * 16 : NULL, u, mac);
        winol_output(j, mac, scale, ob, obuf, y);
    }
}

#endif /* KILN_WINOL_X86 */

void kiln_winol_run(const float *x, const float *wp, const float *bias, const float *sum, float *y,
                    int64_t n, int64_t c, int64_t oc, int64_t h, int64_t w, int relu,
                    float *scratch, int threads) {
#ifdef KILN_WINOL_X86
    int m = kiln_winol_tile(c, oc, h, w);
    if (!m) return;
    winol_job j = {.wp = wp, .bias = bias, .sum = sum, .y = y, .v = scratch};
    j.c = c, j.oc = oc, j.h = h, j.w = w;
    j.vs = WINOL_VS(c);
    j.m = m;
    j.a = m + 2;
    j.e = j.a * j.a;
    j.tiles_w = (int)((w + m - 1) / m);
    j.tiles = j.tiles_w * (int)((h + m - 1) / m);
    j.relu = relu;
    j.scratch = scratch + WINOL_EMAX * j.vs;
    if (threads < 1) threads = 1;
    if (threads > oc / 16) threads = (int)(oc / 16);
    kiln_wino_images(winol_thread, &j, x, c * h * w, y, oc * h * w, n, threads);
#else
    (void)x, (void)wp, (void)bias, (void)sum, (void)y, (void)n, (void)c, (void)oc, (void)h;
    (void)w, (void)relu, (void)scratch, (void)threads;
#endif
}
