/*
 * Softmax over contiguous rows (the last axis from opset 13, everything from `axis` on
 * before), float32, AVX-512 or AVX2: per row one pass for the maximum, one writing
 * exp(x - max) and summing it, one scaling by 1 / sum -- all on a row that stays in L1.
 * exp is a polynomial on the reduced argument (Cephes' expf coefficients, ~1 ulp on
 * [-ln2/2, ln2/2]) times 2^n. Arguments are <= 0 once the max is taken off; below -80
 * (e^-80 ~ 2e-35, nothing next to the row's largest term, 1) the result is 0: the tiny
 * values in between would be denormal -- here or after the scaling by 1 / sum -- and each
 * vector holding one costs a microcode assist (attention masks of finfo.min put such
 * values in every padded row). The argument is clamped first, so finfo.min cannot make
 * inf - inf; NaN stays NaN.
 * A fused mask (`_kiln_add_input`: Add(scores, mask) -> Softmax, the attention mask) is added
 * as each vector is loaded, so the masked scores are never written out; the mask row of
 * each row follows the mask's broadcast (BERT's [1, 1, 1, 128] is one row for all).
 * Rows are split over the context's threads. Why not oneDNN's softmax primitive: on
 * BERT's attention (1536 rows of 128, a quarter of them masked) it took ~130 us a call
 * against ~85 us here, one thread, this Sapphire Rapids machine.
 */
#include <math.h>

#include "backends/cpu/nn_fast.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define KILN_SM_X86 1
#endif

#ifdef KILN_SM_X86
/* One row: y = softmax(x + m), m a row of n values added first (NULL: none). */
typedef void (*sm_row_fn)(const float *x, const float *m, float *y, int64_t n);

#define SM_LOG2E  1.44269504088896341f
#define SM_LN2_HI 0.693359375f
#define SM_LN2_LO -2.12194440e-4f
#define SM_P0     1.9875691500e-4f
#define SM_P1     1.3981999507e-3f
#define SM_P2     8.3334519073e-3f
#define SM_P3     4.1665795894e-2f
#define SM_P4     1.6666665459e-1f
#define SM_P5     5.0000001201e-1f

#define SM_ZERO_BELOW -80.0f

__attribute__((target("avx512f"))) static inline __m512 sm_exp512(__m512 x) {
    __mmask16 keep = _mm512_cmp_ps_mask(x, _mm512_set1_ps(SM_ZERO_BELOW), _CMP_NLT_UQ);
    x = _mm512_max_ps(_mm512_set1_ps(-88.0f), x); /* NaN stays NaN (second operand) */
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(SM_LOG2E)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(SM_LN2_HI), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(SM_LN2_LO), r);
    __m512 p = _mm512_set1_ps(SM_P0);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(SM_P1));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(SM_P2));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(SM_P3));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(SM_P4));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(SM_P5));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_maskz_scalef_ps(keep, p, n); /* p * 2^n */
}

/* x[j..j+16) (+ m[j..j+16)), lanes outside k zero */
__attribute__((target("avx512f"))) static inline __m512 sm_load512(const float *x, const float *m,
                                                                   int64_t j, __mmask16 k) {
    __m512 v = _mm512_maskz_loadu_ps(k, x + j);
    return m ? _mm512_add_ps(v, _mm512_maskz_loadu_ps(k, m + j)) : v;
}

__attribute__((target("avx512f"))) static void sm_row_avx512(const float *x, const float *m,
                                                             float *y, int64_t n) {
    int64_t body = n & ~(int64_t)15, j;
    __mmask16 tail = (__mmask16)((1u << (n - body)) - 1u), all = (__mmask16)0xffff;
    __m512 m0 = _mm512_set1_ps(-INFINITY), m1 = m0;
    for (j = 0; j + 32 <= body; j += 32) {
        m0 = _mm512_max_ps(m0, sm_load512(x, m, j, all));
        m1 = _mm512_max_ps(m1, sm_load512(x, m, j + 16, all));
    }
    if (j < body) m0 = _mm512_max_ps(m0, sm_load512(x, m, j, all));
    m1 = _mm512_mask_max_ps(m1, tail, m1, sm_load512(x, m, body, tail));
    __m512 mx = _mm512_set1_ps(_mm512_reduce_max_ps(_mm512_max_ps(m0, m1)));
    __m512 s = _mm512_setzero_ps();
    for (j = 0; j < n; j += 16) {
        __mmask16 k = j < body ? all : tail;
        __m512 e = sm_exp512(_mm512_sub_ps(sm_load512(x, m, j, k), mx));
        _mm512_mask_storeu_ps(y + j, k, e);
        s = _mm512_mask_add_ps(s, k, s, e);
    }
    __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(s));
    for (j = 0; j < n; j += 16) {
        __mmask16 k = j < body ? (__mmask16)0xffff : tail;
        _mm512_mask_storeu_ps(y + j, k, _mm512_mul_ps(_mm512_maskz_loadu_ps(k, y + j), inv));
    }
}

__attribute__((target("avx2,fma"))) static inline __m256 sm_exp256(__m256 x) {
    __m256 keep = _mm256_cmp_ps(x, _mm256_set1_ps(SM_ZERO_BELOW), _CMP_NLT_UQ);
    x = _mm256_max_ps(_mm256_set1_ps(-87.0f), x);
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(SM_LOG2E)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(SM_LN2_HI), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(SM_LN2_LO), r);
    __m256 p = _mm256_set1_ps(SM_P0);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(SM_P1));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(SM_P2));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(SM_P3));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(SM_P4));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(SM_P5));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    /* 2^n through the exponent bits: n in [-126, 0] for arguments in [-87, 0] */
    __m256i e =
        _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_and_ps(keep, _mm256_mul_ps(p, _mm256_castsi256_ps(e)));
}

__attribute__((target("avx2,fma"))) static float sm_hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* x[j..j+8) (+ m[j..j+8)) */
__attribute__((target("avx2,fma"))) static inline __m256 sm_load256(const float *x, const float *m,
                                                                    int64_t j) {
    __m256 v = _mm256_loadu_ps(x + j);
    return m ? _mm256_add_ps(v, _mm256_loadu_ps(m + j)) : v;
}

__attribute__((target("avx2,fma"))) static void sm_row_avx2(const float *x, const float *m,
                                                            float *y, int64_t n) {
    int64_t body = n & ~(int64_t)7, j;
    __m256 vm = _mm256_set1_ps(-INFINITY);
    for (j = 0; j < body; j += 8) vm = _mm256_max_ps(vm, sm_load256(x, m, j));
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(vm), _mm256_extractf128_ps(vm, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_movehdup_ps(h));
    float mx = _mm_cvtss_f32(h);
    for (j = body; j < n; j++) {
        float v = m ? x[j] + m[j] : x[j];
        mx = v > mx ? v : mx;
    }
    __m256 vmx = _mm256_set1_ps(mx), s = _mm256_setzero_ps();
    float tail_x[8], tail_y[8];
    for (j = 0; j < body; j += 8) {
        __m256 e = sm_exp256(_mm256_sub_ps(sm_load256(x, m, j), vmx));
        _mm256_storeu_ps(y + j, e);
        s = _mm256_add_ps(s, e);
    }
    float sum = sm_hsum256(s);
    if (body < n) { /* the tail through a padded copy, its padding giving 0 */
        for (int64_t k = 0; k < 8; k++)
            tail_x[k] = body + k < n ? (m ? x[body + k] + m[body + k] : x[body + k]) - mx : -100.0f;
        _mm256_storeu_ps(tail_y, sm_exp256(_mm256_loadu_ps(tail_x)));
        for (int64_t k = 0; body + k < n; k++) {
            y[body + k] = tail_y[k];
            sum += tail_y[k];
        }
    }
    __m256 inv = _mm256_set1_ps(1.0f / sum);
    for (j = 0; j < body; j += 8)
        _mm256_storeu_ps(y + j, _mm256_mul_ps(_mm256_loadu_ps(y + j), inv));
    for (; j < n; j++) y[j] *= 1.0f / sum;
}
#endif

/* Element strides of mask m broadcast (numpy rules) to x's leading rank - 1 dims (0 where m
 * broadcasts); 0 when m is not a row of x's last dim (the reference kernel then adds it). */
static int sm_mask_strides(const kiln_tview *x, const kiln_tview *m, int64_t *st) {
    int32_t r = x->rank, off = r - m->rank;
    if (m->dtype != KILN_DTYPE_FLOAT32 || m->rank < 1 || off < 0 ||
        m->dims[m->rank - 1] != x->dims[r - 1])
        return 0;
    int64_t s = m->dims[m->rank - 1];
    for (int32_t i = r - 2; i >= 0; i--) {
        int64_t md = i - off >= 0 ? m->dims[i - off] : 1;
        if (md != 1 && md != x->dims[i]) return 0;
        st[i] = md == 1 ? 0 : s;
        s *= md;
    }
    return 1;
}

int kiln_nn_softmax_fast(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *x,
                         const kiln_tview *m, kiln_tview *y) {
#ifdef KILN_SM_X86
    sm_row_fn row = NULL;
    switch (kiln_nn_fast_isa()) {
    case KILN_ISA_AVX512:
        row = sm_row_avx512;
        break;
    case KILN_ISA_AVX2:
        row = sm_row_avx2;
        break;
    default:
        return 0; /* the reference kernel (libm's expf) */
    }
    if (x->dtype != KILN_DTYPE_FLOAT32 || y->dtype != KILN_DTYPE_FLOAT32 || x->rank < 1) return 0;
    int legacy = node->opset < 13;
    int32_t axis = kiln_nn_axis(kiln_attr_int(node, "axis", legacy ? 1 : -1), x->rank);
    if (axis < 0 || (!legacy && axis != x->rank - 1)) return 0;
    /* with a mask, rows must be the last dim alone (the mask's rows index the leading dims) */
    if (m && axis != x->rank - 1) return 0;
    int64_t mst[KILN_MAX_DIMS] = {0};
    if (m && (x->rank > KILN_MAX_DIMS || !sm_mask_strides(x, m, mst))) return 0;
    int64_t rows = 1, n = 1;
    for (int32_t i = 0; i < x->rank; i++) *(i < axis ? &rows : &n) *= x->dims[i];
    if (rows <= 0 || n <= 0) return 0;
    const float *xf = x->data, *mf = m ? m->data : NULL;
    float *yf = y->data;
    int threads = kiln_cpu_threads(ctx);
    int par = threads > 1 && rows > 1 && rows * n > kiln_nn_fast_par_min();
    (void)par;
    int32_t lead = x->rank - 1;
    KILN_NN_PRAGMA(omp parallel for num_threads(threads) if (par) schedule(static))
    for (int64_t r = 0; r < rows; r++) {
        const float *mr = NULL;
        if (mf) { /* the mask row of row r: its index over the leading dims, m's strides */
            int64_t off = 0, rest = r;
            for (int32_t i = lead - 1; i >= 0; i--) {
                off += rest % x->dims[i] * mst[i];
                rest /= x->dims[i];
            }
            mr = mf + off;
        }
        row(xf + r * n, mr, yf + r * n, n);
    }
    return 1;
#else
    (void)ctx;
    (void)node;
    (void)x;
    (void)m;
    (void)y;
    return 0;
#endif
}
