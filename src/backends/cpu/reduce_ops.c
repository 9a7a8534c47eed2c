/*
 * Reduce* kernels: one engine, the op picking how each element is mapped (x, |x|, x^2,
 * exp(x - max)), combined (+, *, max, min) and finished (mean, sqrt, log).
 *
 * Axes are first simplified: size-1 axes drop out and neighbouring axes reduced alike merge.
 * When one group of reduced axes remains the data is [outer, R, inner]: float32 then runs
 * tight loops (rows when inner is 1 — LayerNorm's last axis, GlobalAveragePool's spatial
 * axes — and vectorized columns otherwise). Every other case (other dtypes, reduced axes
 * split by kept ones) goes through a generic path over precomputed offsets, accumulating
 * in double for floating types and in int64 for integers.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "backends/cpu/cpu_kernel.h"
#include "ir/shape_reduce.h"

typedef enum reduce_kind {
    RK_SUM,
    RK_MEAN,
    RK_MAX,
    RK_MIN,
    RK_PROD,
    RK_L1,
    RK_L2,
    RK_LOGSUM,
    RK_LOGSUMEXP,
    RK_SUMSQ
} reduce_kind;

/* The input's shape after simplification: groups of axes, each kept or reduced. */
typedef struct reduce_plan {
    int32_t n;
    int64_t dims[KILN_MAX_DIMS];
    uint8_t red[KILN_MAX_DIMS];
    int32_t red_groups;
    int64_t R; /* elements reduced into each output */
} reduce_plan;

static void reduce_make_plan(const kiln_tview *x, const uint8_t *mask, reduce_plan *p) {
    p->n = 0;
    p->red_groups = 0;
    p->R = 1;
    for (int32_t d = 0; d < x->rank; d++) {
        int64_t n = x->dims[d];
        if (mask[d]) p->R *= n;
        if (n == 1) continue;
        if (p->n > 0 && p->red[p->n - 1] == mask[d]) {
            p->dims[p->n - 1] *= n;
        } else {
            p->dims[p->n] = n;
            p->red[p->n] = mask[d];
            p->red_groups += mask[d];
            p->n++;
        }
    }
}

/* ------------------------------------------------------------ float32 fast paths --- */

#define RED_BLOCK 4096 /* float partial sums per block, blocks summed in double */

static inline float max_f(float a, float b) {
    return b > a ? b : a;
}
static inline float min_f(float a, float b) {
    return b < a ? b : a;
}

/* Sum of MAP(v) over p[0..R) with 8 independent float lanes (vectorizable). */
#define ROW_SUM(MAP, result)                                                                       \
    do {                                                                                           \
        double total_ = 0;                                                                         \
        for (int64_t b_ = 0; b_ < R; b_ += RED_BLOCK) {                                            \
            int64_t e_ = b_ + RED_BLOCK < R ? b_ + RED_BLOCK : R;                                  \
            float a_[8] = {0, 0, 0, 0, 0, 0, 0, 0};                                                \
            int64_t r_ = b_;                                                                       \
            for (; r_ + 8 <= e_; r_ += 8)                                                          \
                for (int j_ = 0; j_ < 8; j_++) {                                                   \
                    float v = p[r_ + j_];                                                          \
                    a_[j_] += (MAP);                                                               \
                }                                                                                  \
            for (; r_ < e_; r_++) {                                                                \
                float v = p[r_];                                                                   \
                a_[0] += (MAP);                                                                    \
            }                                                                                      \
            total_ += (double)(((a_[0] + a_[4]) + (a_[1] + a_[5])) +                               \
                               ((a_[2] + a_[6]) + (a_[3] + a_[7])));                               \
        }                                                                                          \
        result = total_;                                                                           \
    } while (0)

/* Fold of p[0..R) with COMB (max_f, min_f) from INIT, 8 lanes. */
#define ROW_FOLD(COMB, INIT, result)                                                               \
    do {                                                                                           \
        float a_[8];                                                                               \
        for (int j_ = 0; j_ < 8; j_++) a_[j_] = (INIT);                                            \
        int64_t r_ = 0;                                                                            \
        for (; r_ + 8 <= R; r_ += 8)                                                               \
            for (int j_ = 0; j_ < 8; j_++) a_[j_] = COMB(a_[j_], p[r_ + j_]);                      \
        for (; r_ < R; r_++) a_[0] = COMB(a_[0], p[r_]);                                           \
        float m_ = a_[0];                                                                          \
        for (int j_ = 1; j_ < 8; j_++) m_ = COMB(m_, a_[j_]);                                      \
        result = m_;                                                                               \
    } while (0)

/* The largest finite value of a row, 0 when there is none (log-sum-exp's shift). */
static float row_finite_max(const float *p, int64_t R) {
    float m = -INFINITY;
    for (int64_t r = 0; r < R; r++)
        if (isfinite(p[r]) && p[r] > m) m = p[r];
    return m == -INFINITY ? 0.0f : m;
}

static float reduce_row_f32(reduce_kind k, const float *p, int64_t R) {
    double s = 0;
    float m = 0;
    switch (k) {
    case RK_SUM:
        ROW_SUM(v, s);
        return (float)s;
    case RK_MEAN:
        ROW_SUM(v, s);
        return (float)(s / (double)R);
    case RK_SUMSQ:
        ROW_SUM(v * v, s);
        return (float)s;
    case RK_L1:
        ROW_SUM(fabsf(v), s);
        return (float)s;
    case RK_L2:
        ROW_SUM(v * v, s);
        return (float)sqrt(s);
    case RK_LOGSUM:
        ROW_SUM(v, s);
        return (float)log(s);
    case RK_LOGSUMEXP: {
        float mx = row_finite_max(p, R);
        ROW_SUM(expf(v - mx), s);
        return (float)(log(s) + mx);
    }
    case RK_MAX:
        ROW_FOLD(max_f, -INFINITY, m);
        return m;
    case RK_MIN:
        ROW_FOLD(min_f, INFINITY, m);
        return m;
    case RK_PROD: {
        float prod = 1.0f;
        for (int64_t r = 0; r < R; r++) prod *= p[r];
        return prod;
    }
    }
    return 0;
}

static void reduce_rows_f32(kiln_cpu_ctx *ctx, reduce_kind k, const float *x, float *y,
                            int64_t outer, int64_t R) {
#ifdef KILN_HAVE_OPENMP
#pragma omp parallel for num_threads(kiln_cpu_threads(ctx)) if (outer * R > 65536 && outer > 1)
#endif
    for (int64_t o = 0; o < outer; o++) y[o] = reduce_row_f32(k, x + o * R, R);
}

#define COL_BLOCK 1024

/* Columns: y[o, i] = reduce over r of x[o, r, i], a block of i at a time. */
static void reduce_cols_block_f32(reduce_kind k, const float *x, float *y, int64_t R, int64_t inner,
                                  int64_t i0, int64_t n) {
    float acc[COL_BLOCK], mx[COL_BLOCK];
    float init = k == RK_MAX ? -INFINITY : k == RK_MIN ? INFINITY : k == RK_PROD ? 1.0f : 0.0f;
    for (int64_t i = 0; i < n; i++) acc[i] = init;
    if (k == RK_LOGSUMEXP) {
        for (int64_t i = 0; i < n; i++) mx[i] = -INFINITY;
        for (int64_t r = 0; r < R; r++) {
            const float *p = x + r * inner + i0;
            for (int64_t i = 0; i < n; i++)
                if (isfinite(p[i]) && p[i] > mx[i]) mx[i] = p[i];
        }
        for (int64_t i = 0; i < n; i++)
            if (mx[i] == -INFINITY) mx[i] = 0;
    }
    for (int64_t r = 0; r < R; r++) {
        const float *p = x + r * inner + i0;
        switch (k) {
        case RK_SUM:
        case RK_MEAN:
        case RK_LOGSUM:
            for (int64_t i = 0; i < n; i++) acc[i] += p[i];
            break;
        case RK_SUMSQ:
        case RK_L2:
            for (int64_t i = 0; i < n; i++) acc[i] += p[i] * p[i];
            break;
        case RK_L1:
            for (int64_t i = 0; i < n; i++) acc[i] += fabsf(p[i]);
            break;
        case RK_LOGSUMEXP:
            for (int64_t i = 0; i < n; i++) acc[i] += expf(p[i] - mx[i]);
            break;
        case RK_MAX:
            for (int64_t i = 0; i < n; i++) acc[i] = max_f(acc[i], p[i]);
            break;
        case RK_MIN:
            for (int64_t i = 0; i < n; i++) acc[i] = min_f(acc[i], p[i]);
            break;
        case RK_PROD:
            for (int64_t i = 0; i < n; i++) acc[i] *= p[i];
            break;
        }
    }
    float *q = y + i0;
    switch (k) {
    case RK_MEAN:
        for (int64_t i = 0; i < n; i++) q[i] = acc[i] / (float)R;
        break;
    case RK_L2:
        for (int64_t i = 0; i < n; i++) q[i] = sqrtf(acc[i]);
        break;
    case RK_LOGSUM:
        for (int64_t i = 0; i < n; i++) q[i] = logf(acc[i]);
        break;
    case RK_LOGSUMEXP:
        for (int64_t i = 0; i < n; i++) q[i] = logf(acc[i]) + mx[i];
        break;
    default:
        memcpy(q, acc, (size_t)n * sizeof(float));
        break;
    }
}

static void reduce_cols_f32(kiln_cpu_ctx *ctx, reduce_kind k, const float *x, float *y,
                            int64_t outer, int64_t R, int64_t inner) {
    int64_t nblk = (inner + COL_BLOCK - 1) / COL_BLOCK;
    int64_t units = outer * nblk;
#ifdef KILN_HAVE_OPENMP
#pragma omp parallel for num_threads(kiln_cpu_threads(ctx)) if (outer * R * inner > 65536 &&       \
                                                                units > 1)
#endif
    for (int64_t u = 0; u < units; u++) {
        int64_t o = u / nblk, i0 = (u % nblk) * COL_BLOCK;
        int64_t n = inner - i0 < COL_BLOCK ? inner - i0 : COL_BLOCK;
        reduce_cols_block_f32(k, x + o * R * inner, y + o * inner, R, inner, i0, n);
    }
}

/* ------------------------------------------------------------ generic path ---------- */

/* Offsets (in elements) of every position of the kept or the reduced groups, row-major. */
static void reduce_offsets(const reduce_plan *p, int want_reduced, int64_t *off) {
    int64_t stride[KILN_MAX_DIMS], idx[KILN_MAX_DIMS], dims[KILN_MAX_DIMS];
    int32_t m = 0;
    int64_t s = 1;
    for (int32_t g = p->n - 1; g >= 0; g--) {
        if (p->red[g] == want_reduced) {
            stride[m] = s;
            dims[m] = p->dims[g];
            m++;
        }
        s *= p->dims[g];
    }
    /* stride/dims hold the wanted groups innermost first. */
    int64_t count = 1;
    for (int32_t i = 0; i < m; i++) count *= dims[i];
    for (int32_t i = 0; i < m; i++) idx[i] = 0;
    int64_t cur = 0;
    for (int64_t c = 0; c < count; c++) {
        off[c] = cur;
        for (int32_t i = 0; i < m; i++) {
            cur += stride[i];
            if (++idx[i] < dims[i]) break;
            cur -= stride[i] * dims[i];
            idx[i] = 0;
        }
    }
}

static int reduce_is_float(kiln_dtype t) {
    return t == KILN_DTYPE_FLOAT32 || t == KILN_DTYPE_FLOAT64 || t == KILN_DTYPE_FLOAT16 ||
           t == KILN_DTYPE_BFLOAT16;
}

/* One output of the generic path in double: LOAD(i) reads element i of x as double. The
 * switch on the op sits outside the loops. */
#define RED_LOOP(LOAD, BODY)                                                                       \
    for (int64_t r = 0; r < R; r++) {                                                              \
        double v = LOAD(base + roff[r]);                                                           \
        BODY;                                                                                      \
    }
#define DEFINE_REDUCE_ONE(NAME, LOAD)                                                              \
    static double NAME(reduce_kind k, const kiln_tview *x, int64_t base, const int64_t *roff,      \
                       int64_t R) {                                                                \
        const void *d_ = x->data;                                                                  \
        (void)d_;                                                                                  \
        double acc = 0, mx = 0;                                                                    \
        switch (k) {                                                                               \
        case RK_SUM:                                                                               \
            RED_LOOP(LOAD, acc += v) return acc;                                                   \
        case RK_MEAN:                                                                              \
            RED_LOOP(LOAD, acc += v) return acc / (double)R;                                       \
        case RK_LOGSUM:                                                                            \
            RED_LOOP(LOAD, acc += v) return log(acc);                                              \
        case RK_SUMSQ:                                                                             \
            RED_LOOP(LOAD, acc += v * v) return acc;                                               \
        case RK_L2:                                                                                \
            RED_LOOP(LOAD, acc += v * v) return sqrt(acc);                                         \
        case RK_L1:                                                                                \
            RED_LOOP(LOAD, acc += fabs(v)) return acc;                                             \
        case RK_PROD:                                                                              \
            acc = 1;                                                                               \
            RED_LOOP(LOAD, acc *= v) return acc;                                                   \
        case RK_MAX:                                                                               \
            acc = -INFINITY;                                                                       \
            RED_LOOP(LOAD, acc = v > acc ? v : acc) return acc;                                    \
        case RK_MIN:                                                                               \
            acc = INFINITY;                                                                        \
            RED_LOOP(LOAD, acc = v < acc ? v : acc) return acc;                                    \
        case RK_LOGSUMEXP:                                                                         \
            mx = -INFINITY;                                                                        \
            RED_LOOP(LOAD, if (isfinite(v) && v > mx) mx = v)                                      \
            if (mx == -INFINITY) mx = 0;                                                           \
            RED_LOOP(LOAD, acc += exp(v - mx))                                                     \
            return log(acc) + mx;                                                                  \
        }                                                                                          \
        return 0;                                                                                  \
    }

#define LOAD_F32(i)  ((const float *)d_)[i]
#define LOAD_F64(i)  ((const double *)d_)[i]
#define LOAD_F16(i)  kiln_half_to_float(((const uint16_t *)d_)[i])
#define LOAD_BF16(i) kiln_bf16_to_float(((const uint16_t *)d_)[i])
#define LOAD_ANY(i)  kiln_tview_get_double(x, i)
DEFINE_REDUCE_ONE(reduce_one_f32, LOAD_F32)
DEFINE_REDUCE_ONE(reduce_one_f64, LOAD_F64)
DEFINE_REDUCE_ONE(reduce_one_f16, LOAD_F16)
DEFINE_REDUCE_ONE(reduce_one_bf16, LOAD_BF16)
DEFINE_REDUCE_ONE(reduce_one_any, LOAD_ANY)

typedef double (*reduce_one_fn)(reduce_kind, const kiln_tview *, int64_t, const int64_t *, int64_t);

/* The smallest and largest value of an integer dtype (empty max/min reductions). */
static void reduce_int_range(kiln_dtype t, int64_t *lo, int64_t *hi) {
    switch (t) {
    case KILN_DTYPE_INT8:
        *lo = INT8_MIN, *hi = INT8_MAX;
        return;
    case KILN_DTYPE_UINT8:
        *lo = 0, *hi = UINT8_MAX;
        return;
    case KILN_DTYPE_BOOL:
        *lo = 0, *hi = 1;
        return;
    case KILN_DTYPE_INT16:
        *lo = INT16_MIN, *hi = INT16_MAX;
        return;
    case KILN_DTYPE_UINT16:
        *lo = 0, *hi = UINT16_MAX;
        return;
    case KILN_DTYPE_INT32:
        *lo = INT32_MIN, *hi = INT32_MAX;
        return;
    case KILN_DTYPE_UINT32:
        *lo = 0, *hi = UINT32_MAX;
        return;
    default:
        *lo = INT64_MIN, *hi = INT64_MAX;
        return;
    }
}

static int64_t reduce_one_int(reduce_kind k, const kiln_tview *x, int64_t base, const int64_t *roff,
                              int64_t R) {
    int64_t lo, hi;
    reduce_int_range(x->dtype, &lo, &hi);
    /* Wrapping arithmetic in uint64 (int64 overflow is undefined, integer types wrap). */
    uint64_t acc = k == RK_PROD ? 1u : 0u;
    int64_t ext = k == RK_MAX ? lo : hi;
    for (int64_t r = 0; r < R; r++) {
        int64_t v = kiln_tview_get_int(x, base + roff[r]);
        switch (k) {
        case RK_MAX:
            ext = v > ext ? v : ext;
            break;
        case RK_MIN:
            ext = v < ext ? v : ext;
            break;
        case RK_PROD:
            acc *= (uint64_t)v;
            break;
        case RK_L1:
            acc += (uint64_t)(v < 0 ? -v : v);
            break;
        case RK_SUMSQ:
            acc += (uint64_t)v * (uint64_t)v;
            break;
        default:
            acc += (uint64_t)v;
            break;
        }
    }
    if (k == RK_MAX || k == RK_MIN) return ext;
    if (k == RK_MEAN) return R > 0 ? (int64_t)acc / R : 0;
    return (int64_t)acc;
}

static kiln_status reduce_generic(kiln_cpu_ctx *ctx, const kiln_node *node, reduce_kind k,
                                  const kiln_tview *x, kiln_tview *y, const reduce_plan *p,
                                  int64_t n_out) {
    int64_t *koff = kiln_cpu_scratch(ctx, (size_t)(n_out + p->R + 1) * sizeof(int64_t));
    if (!koff) return kiln_node_error(KILN_ERR_OUT_OF_MEMORY, node, "out of scratch memory");
    int64_t *roff = koff + n_out;
    reduce_offsets(p, 0, koff);
    reduce_offsets(p, 1, roff);
    int in_double = reduce_is_float(x->dtype) || k == RK_L2 || k == RK_LOGSUM || k == RK_LOGSUMEXP;
    reduce_one_fn one = x->dtype == KILN_DTYPE_FLOAT32    ? reduce_one_f32
                        : x->dtype == KILN_DTYPE_FLOAT64  ? reduce_one_f64
                        : x->dtype == KILN_DTYPE_FLOAT16  ? reduce_one_f16
                        : x->dtype == KILN_DTYPE_BFLOAT16 ? reduce_one_bf16
                                                          : reduce_one_any;
    int64_t R = p->R;
#ifdef KILN_HAVE_OPENMP
#pragma omp parallel for num_threads(kiln_cpu_threads(ctx)) if (n_out * R > 65536 && n_out > 1)
#endif
    for (int64_t o = 0; o < n_out; o++) {
        if (in_double)
            kiln_tview_set_double(y, o, one(k, x, koff[o], roff, R));
        else
            kiln_tview_set_int(y, o, reduce_one_int(k, x, koff[o], roff, R));
    }
    return KILN_OK;
}

/* ------------------------------------------------------------ entry ----------------- */

static kiln_status reduce_run(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                              int32_t n_in, kiln_tview *out, reduce_kind k) {
    const kiln_tview *x = &in[0];
    kiln_tview *y = &out[0];
    switch (x->dtype) {
    case KILN_DTYPE_STRING:
    case KILN_DTYPE_COMPLEX64:
    case KILN_DTYPE_COMPLEX128:
        return kiln_node_error(KILN_ERR_UNSUPPORTED, node, "dtype %s not supported",
                               kiln_dtype_name(x->dtype));
    default:
        if (kiln_dtype_bits(x->dtype) < 8 || x->dtype >= KILN_DTYPE_FLOAT8E4M3FN)
            return kiln_node_error(KILN_ERR_UNSUPPORTED, node, "dtype %s not supported",
                                   kiln_dtype_name(x->dtype));
        break;
    }
    uint8_t mask[KILN_MAX_DIMS];
    int known;
    KILN_TRY(kiln_reduce_axes_mask(node, in, n_in, mask, &known));
    if (!known) return kiln_node_error(KILN_ERR_SHAPE, node, "axes unknown at run time");
    int64_t n_out = kiln_tview_count(y);
    if (n_out <= 0) return KILN_OK;
    reduce_plan p;
    reduce_make_plan(x, mask, &p);
    if (x->dtype == KILN_DTYPE_FLOAT32 && p.red_groups <= 1) {
        int64_t outer = 1, inner = 1;
        int seen = 0;
        for (int32_t g = 0; g < p.n; g++) {
            if (p.red[g])
                seen = 1;
            else if (seen)
                inner *= p.dims[g];
            else
                outer *= p.dims[g];
        }
        if (inner == 1)
            reduce_rows_f32(ctx, k, x->data, y->data, outer, p.R);
        else
            reduce_cols_f32(ctx, k, x->data, y->data, outer, p.R, inner);
        return KILN_OK;
    }
    return reduce_generic(ctx, node, k, x, y, &p, n_out);
}

#define KILN_REDUCE_KERNEL(name, kind)                                                             \
    kiln_status kiln_cpu_##name(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,    \
                                int32_t n_in, kiln_tview *out, int32_t n_out) {                    \
        return reduce_run(ctx, node, in, n_in, out, kind);                                         \
    }
KILN_REDUCE_KERNEL(ReduceSum, RK_SUM)
KILN_REDUCE_KERNEL(ReduceMean, RK_MEAN)
KILN_REDUCE_KERNEL(ReduceMax, RK_MAX)
KILN_REDUCE_KERNEL(ReduceMin, RK_MIN)
KILN_REDUCE_KERNEL(ReduceProd, RK_PROD)
KILN_REDUCE_KERNEL(ReduceL1, RK_L1)
KILN_REDUCE_KERNEL(ReduceL2, RK_L2)
KILN_REDUCE_KERNEL(ReduceLogSum, RK_LOGSUM)
KILN_REDUCE_KERNEL(ReduceLogSumExp, RK_LOGSUMEXP)
KILN_REDUCE_KERNEL(ReduceSumSquare, RK_SUMSQ)
