/*
 * Reduce* on the GPU: ReduceSum, ReduceMean, ReduceMax, ReduceMin, ReduceProd on float32,
 * float16, bfloat16, int32 and int64; ReduceL1, ReduceL2, ReduceSumSquare, ReduceLogSum,
 * ReduceLogSumExp on the float types. Floats accumulate in float, integers in int64
 * (wrapping). Axes come from the attribute or from input 1 (a host input), as
 * kiln_reduce_axes_mask reads them (keepdims only changes the output shape; no axes
 * reduce everything unless noop_with_empty_axes).
 *
 * The input's shape is first simplified as on the CPU: size-1 dims drop out, neighbouring
 * dims reduced alike merge. When one reduced group remains and it is innermost, each output
 * is a contiguous row: one warp per row up to 1024 elements, one block per row beyond.
 * Everything else maps each output element to one thread looping over its reduced
 * elements (kept inner dims run across threads, so the reads coalesce).
 *
 * As on the CPU, max / min skip NaN and an empty max (min) is -inf (+inf) for floats and
 * the dtype's lowest (highest) value for integers; an empty mean is NaN (0 for integers).
 */
#include <math.h>

#include "backends/cuda/cuda_common.cuh"

extern "C" {
#include "ir/shape_reduce.h"
}

enum {
    KILN_CU_RSUM,
    KILN_CU_RMEAN,
    KILN_CU_RMAX,
    KILN_CU_RMIN,
    KILN_CU_RPROD,
    KILN_CU_RL1,
    KILN_CU_RL2,
    KILN_CU_RLOGSUM,
    KILN_CU_RLOGSUMEXP,
    KILN_CU_RSUMSQ
};

#define KILN_CU_REDUCE_BLOCK 512

/* ---------------------------------------------------------------- accumulators ----- */

/* How one kind maps, combines and finishes, for an accumulator type A (float or int64).
 * lo / hi: the dtype's range for empty integer max / min. */
struct kiln_cu_rf {
    int kind;
    __device__ __forceinline__ float init() const {
        return kind == KILN_CU_RMAX
                   ? -INFINITY
                   : (kind == KILN_CU_RMIN ? INFINITY : (kind == KILN_CU_RPROD ? 1.0f : 0.0f));
    }
    /* mx: log-sum-exp's shift */
    __device__ __forceinline__ float map(float v, float mx) const {
        switch (kind) {
        case KILN_CU_RL1:
            return fabsf(v);
        case KILN_CU_RL2:
        case KILN_CU_RSUMSQ:
            return v * v;
        case KILN_CU_RLOGSUMEXP:
            return expf(v - mx);
        default:
            return v;
        }
    }
    __device__ __forceinline__ float operator()(float a, float b) const {
        switch (kind) {
        case KILN_CU_RMAX:
            return b > a ? b : a;
        case KILN_CU_RMIN:
            return b < a ? b : a;
        case KILN_CU_RPROD:
            return a * b;
        default:
            return a + b;
        }
    }
    __device__ __forceinline__ float finish(float acc, int64_t R, float mx) const {
        switch (kind) {
        case KILN_CU_RMEAN:
            return acc / (float)R;
        case KILN_CU_RL2:
            return sqrtf(acc);
        case KILN_CU_RLOGSUM:
            return logf(acc);
        case KILN_CU_RLOGSUMEXP:
            return logf(acc) + mx;
        default:
            return acc;
        }
    }
};

struct kiln_cu_ri {
    int kind;
    int64_t lo, hi;
    __device__ __forceinline__ int64_t init() const {
        return kind == KILN_CU_RMAX ? lo
                                    : (kind == KILN_CU_RMIN ? hi : (kind == KILN_CU_RPROD ? 1 : 0));
    }
    __device__ __forceinline__ int64_t map(int64_t v, int64_t) const {
        return v;
    }
    __device__ __forceinline__ int64_t operator()(int64_t a, int64_t b) const {
        switch (kind) {
        case KILN_CU_RMAX:
            return b > a ? b : a;
        case KILN_CU_RMIN:
            return b < a ? b : a;
        case KILN_CU_RPROD:
            return (int64_t)((uint64_t)a * (uint64_t)b);
        default:
            return (int64_t)((uint64_t)a + (uint64_t)b);
        }
    }
    __device__ __forceinline__ int64_t finish(int64_t acc, int64_t R, int64_t) const {
        return kind == KILN_CU_RMEAN ? (R > 0 ? acc / R : 0) : acc;
    }
};

/* Storage T reads as the accumulator type of F. */
template <typename T, typename F> struct kiln_cu_rload;
template <typename T> struct kiln_cu_rload<T, kiln_cu_rf> {
    typedef float A;
    static __device__ __forceinline__ float ld(T v) {
        return kiln_cu_ldf(v);
    }
    static __device__ __forceinline__ T st(float v) {
        return kiln_cu_stf<T>(v);
    }
};
template <typename T> struct kiln_cu_rload<T, kiln_cu_ri> {
    typedef int64_t A;
    static __device__ __forceinline__ int64_t ld(T v) {
        return (int64_t)v;
    }
    static __device__ __forceinline__ T st(int64_t v) {
        return (T)v;
    }
};

/* the largest finite value (log-sum-exp's shift; 0 when there is none) */
struct kiln_cu_finite_max_op {
    __device__ __forceinline__ float operator()(float a, float b) const {
        return (isfinite(b) && b > a) ? b : a;
    }
};

/* ---------------------------------------------------------------- rows ------------- */

/* Reduces x[r * R .. r * R + R) over `lanes` threads (index `lane`, stride `lanes`): the
 * partial of this thread; REDUCE combines partials across the threads. */
#define KILN_CU_ROW_BODY(REDUCE)                                                                   \
    const T *xr = x + r * R;                                                                       \
    A mx = 0;                                                                                      \
    if (f.kind == KILN_CU_RLOGSUMEXP) {                                                            \
        float m = -INFINITY;                                                                       \
        for (int64_t j = lane; j < R; j += lanes)                                                  \
            m = kiln_cu_finite_max_op()(m, (float)L::ld(xr[j]));                                   \
        m = REDUCE(m, kiln_cu_finite_max_op(), -INFINITY);                                         \
        mx = (A)(m == -INFINITY ? 0.0f : m);                                                       \
    }                                                                                              \
    A acc = f.init();                                                                              \
    for (int64_t j = lane; j < R; j += lanes) acc = f(acc, f.map(L::ld(xr[j]), mx));               \
    acc = REDUCE(acc, f, f.init());

#define KILN_CU_WARP_REDUCE(v, op, ident)  kiln_cu_warp_reduce(v, op)
#define KILN_CU_BLOCK_REDUCE(v, op, ident) kiln_cu_block_reduce(v, op, ident)

template <typename T, typename F>
__global__ void kiln_cu_reduce_rows_warp(const T *__restrict__ x, T *__restrict__ y, int64_t rows,
                                         int64_t R, F f) {
    typedef kiln_cu_rload<T, F> L;
    typedef typename L::A A;
    int lane = threadIdx.x & 31, lanes = 32;
    int64_t warp = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    int64_t nwarps = ((int64_t)gridDim.x * blockDim.x) >> 5;
    for (int64_t r = warp; r < rows; r += nwarps) {
        KILN_CU_ROW_BODY(KILN_CU_WARP_REDUCE)
        if (lane == 0) y[r] = L::st(f.finish(acc, R, mx));
    }
}

template <typename T, typename F>
__global__ void kiln_cu_reduce_rows_block(const T *__restrict__ x, T *__restrict__ y, int64_t rows,
                                          int64_t R, F f) {
    typedef kiln_cu_rload<T, F> L;
    typedef typename L::A A;
    int lane = threadIdx.x, lanes = blockDim.x;
    for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
        KILN_CU_ROW_BODY(KILN_CU_BLOCK_REDUCE)
        if (lane == 0) y[r] = L::st(f.finish(acc, R, mx));
    }
}

/* ---------------------------------------------------------------- generic ---------- */

/* Kept groups (outer to inner, with their input strides) enumerate the outputs; reduced
 * groups enumerate each output's inputs. */
typedef struct kiln_cu_reduce_plan {
    int32_t nk, nr;
    int64_t n_out, R;
    int64_t kdims[KILN_MAX_DIMS], kstrides[KILN_MAX_DIMS];
    int64_t rdims[KILN_MAX_DIMS], rstrides[KILN_MAX_DIMS];
} kiln_cu_reduce_plan;

/* Runs BODY with v set to every reduced element of the output whose first input is `base`:
 * one strided loop for one reduced group, an odometer over the groups otherwise. */
#define KILN_CU_FOR_REDUCED(BODY)                                                                  \
    do {                                                                                           \
        if (p.nr <= 1) {                                                                           \
            int64_t st_ = p.nr ? p.rstrides[0] : 0;                                                \
            for (int64_t r_ = 0; r_ < p.R; r_++) {                                                 \
                A v = L::ld(x[base + r_ * st_]);                                                   \
                BODY;                                                                              \
            }                                                                                      \
            break;                                                                                 \
        }                                                                                          \
        int64_t idx_[KILN_MAX_DIMS] = {0, 0, 0, 0, 0, 0, 0, 0};                                    \
        int64_t off_ = base;                                                                       \
        for (int64_t r_ = 0; r_ < p.R; r_++) {                                                     \
            A v = L::ld(x[off_]);                                                                  \
            BODY;                                                                                  \
            for (int d_ = p.nr - 1; d_ >= 0; d_--) {                                               \
                off_ += p.rstrides[d_];                                                            \
                if (++idx_[d_] < p.rdims[d_]) break;                                               \
                off_ -= p.rstrides[d_] * p.rdims[d_];                                              \
                idx_[d_] = 0;                                                                      \
            }                                                                                      \
        }                                                                                          \
    } while (0)

template <typename T, typename F>
__global__ void kiln_cu_reduce_generic(const T *__restrict__ x, T *__restrict__ y,
                                       kiln_cu_reduce_plan p, F f) {
    typedef kiln_cu_rload<T, F> L;
    typedef typename L::A A;
    KILN_CU_FOR(o, p.n_out) {
        int64_t base = 0, q = o;
        for (int d = p.nk - 1; d >= 0; d--) {
            int64_t nq = q / p.kdims[d];
            base += (q - nq * p.kdims[d]) * p.kstrides[d];
            q = nq;
        }
        A mx = 0;
        if (f.kind == KILN_CU_RLOGSUMEXP) {
            float m = -INFINITY;
            KILN_CU_FOR_REDUCED(m = kiln_cu_finite_max_op()(m, (float)v));
            mx = (A)(m == -INFINITY ? 0.0f : m);
        }
        A acc = f.init();
        KILN_CU_FOR_REDUCED(acc = f(acc, f.map(v, mx)));
        y[o] = L::st(f.finish(acc, p.R, mx));
    }
}

/* ---------------------------------------------------------------- host ------------- */

static int kiln_cu_reduce_kind(kiln_op op) {
    switch (op) {
    case KILN_OP_ReduceSum:
        return KILN_CU_RSUM;
    case KILN_OP_ReduceMean:
        return KILN_CU_RMEAN;
    case KILN_OP_ReduceMax:
        return KILN_CU_RMAX;
    case KILN_OP_ReduceMin:
        return KILN_CU_RMIN;
    case KILN_OP_ReduceProd:
        return KILN_CU_RPROD;
    case KILN_OP_ReduceL1:
        return KILN_CU_RL1;
    case KILN_OP_ReduceL2:
        return KILN_CU_RL2;
    case KILN_OP_ReduceLogSum:
        return KILN_CU_RLOGSUM;
    case KILN_OP_ReduceLogSumExp:
        return KILN_CU_RLOGSUMEXP;
    case KILN_OP_ReduceSumSquare:
        return KILN_CU_RSUMSQ;
    default:
        return -1;
    }
}

static int kiln_cu_reduce_int_kind(int k) {
    return k == KILN_CU_RSUM || k == KILN_CU_RMEAN || k == KILN_CU_RMAX || k == KILN_CU_RMIN ||
           k == KILN_CU_RPROD;
}

/* float32 / float16 / bfloat16 for every kind; int32 / int64 for sum, mean, max, min, prod;
 * the output of the input's dtype. */
extern "C" int kiln_cuda_supports_reduce(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                         const kiln_tview *out, int32_t n_out) {
    if (n_in < 1 || n_out < 1) return 0;
    int k = kiln_cu_reduce_kind(node->op);
    kiln_dtype t = in[0].dtype;
    if (k < 0 || out[0].dtype != t) return 0;
    if (kiln_cu_is_float(t)) return 1;
    return (t == KILN_DTYPE_INT32 || t == KILN_DTYPE_INT64) && kiln_cu_reduce_int_kind(k);
}

template <typename T, typename F>
static void kiln_cu_reduce_launch(const void *x, void *y, int rows_path, int64_t rows, int64_t R,
                                  const kiln_cu_reduce_plan *p, F f, cudaStream_t st) {
    const T *xt = (const T *)x;
    T *yt = (T *)y;
    if (rows_path && R <= 1024) {
        kiln_cu_reduce_rows_warp<T, F>
            <<<kiln_cu_blocks(rows * 32), KILN_CU_THREADS, 0, st>>>(xt, yt, rows, R, f);
    } else if (rows_path) {
        unsigned blocks = rows < KILN_CU_MAX_BLOCKS ? (unsigned)rows : KILN_CU_MAX_BLOCKS;
        kiln_cu_reduce_rows_block<T, F>
            <<<blocks, KILN_CU_REDUCE_BLOCK, 0, st>>>(xt, yt, rows, R, f);
    } else {
        kiln_cu_reduce_generic<T, F>
            <<<kiln_cu_blocks(p->n_out), KILN_CU_THREADS, 0, st>>>(xt, yt, *p, f);
    }
}

extern "C" kiln_status kiln_cuda_reduce(kiln_cuda_ctx *ctx, const kiln_node *node,
                                        const kiln_tview *in, int32_t n_in, kiln_tview *out,
                                        int32_t n_out) {
    (void)n_out;
    const kiln_tview *x = &in[0];
    int kind = kiln_cu_reduce_kind(node->op);
    uint8_t mask[KILN_MAX_DIMS];
    int known = 1;
    KILN_TRY(kiln_reduce_axes_mask(node, in, n_in, mask, &known));
    if (!known) return kiln_node_error(KILN_ERR_SHAPE, node, "axes unknown at run time");
    int64_t n_out_el = kiln_tview_count(&out[0]);
    if (n_out_el <= 0) return KILN_OK;
    /* simplify: drop size-1 dims, merge neighbours reduced alike */
    int32_t n = 0;
    int64_t dims[KILN_MAX_DIMS];
    uint8_t red[KILN_MAX_DIMS];
    int64_t R = 1, kept = 1;
    for (int32_t d = 0; d < x->rank; d++) {
        int64_t s = x->dims[d];
        if (mask[d])
            R *= s;
        else
            kept *= s;
        if (s == 1) continue;
        if (n > 0 && red[n - 1] == mask[d]) {
            dims[n - 1] *= s;
        } else {
            dims[n] = s;
            red[n] = mask[d];
            n++;
        }
    }
    if (kept != n_out_el)
        return kiln_shape_error(node, "output holds %lld elements, expected %lld",
                                (long long)n_out_el, (long long)kept);
    kiln_cu_reduce_plan p;
    memset(&p, 0, sizeof p);
    p.n_out = n_out_el;
    p.R = R;
    int32_t red_groups = 0;
    int64_t stride = 1, gstride[KILN_MAX_DIMS];
    for (int32_t g = n - 1; g >= 0; g--) { /* dense strides of the groups */
        red_groups += red[g];
        gstride[g] = stride;
        stride *= dims[g];
    }
    for (int32_t g = 0; g < n; g++) {
        if (red[g]) {
            p.rdims[p.nr] = dims[g];
            p.rstrides[p.nr] = gstride[g];
            p.nr++;
        } else {
            p.kdims[p.nk] = dims[g];
            p.kstrides[p.nk] = gstride[g];
            p.nk++;
        }
    }
    /* rows: at most one reduced group, innermost (or nothing reduced: rows of one) */
    int rows_path = red_groups == 0 || (red_groups == 1 && red[n - 1]);
    int64_t rows = n_out_el;
    cudaStream_t st = kiln_cu_stream(ctx);
    kiln_cu_rf ff = {kind};
    kiln_cu_ri fi = {kind, INT64_MIN, INT64_MAX};
    switch (x->dtype) {
    case KILN_DTYPE_FLOAT32:
        kiln_cu_reduce_launch<float>(x->data, out[0].data, rows_path, rows, R, &p, ff, st);
        break;
    case KILN_DTYPE_FLOAT16:
        kiln_cu_reduce_launch<__half>(x->data, out[0].data, rows_path, rows, R, &p, ff, st);
        break;
    case KILN_DTYPE_BFLOAT16:
        kiln_cu_reduce_launch<__nv_bfloat16>(x->data, out[0].data, rows_path, rows, R, &p, ff, st);
        break;
    case KILN_DTYPE_INT32:
        if (!kiln_cu_reduce_int_kind(kind)) goto unsupported;
        fi.lo = INT32_MIN;
        fi.hi = INT32_MAX;
        kiln_cu_reduce_launch<int32_t>(x->data, out[0].data, rows_path, rows, R, &p, fi, st);
        break;
    case KILN_DTYPE_INT64:
        if (!kiln_cu_reduce_int_kind(kind)) goto unsupported;
        kiln_cu_reduce_launch<int64_t>(x->data, out[0].data, rows_path, rows, R, &p, fi, st);
        break;
    default:
    unsupported:
        return kiln_node_error(KILN_ERR_UNSUPPORTED, node, "dtype %s not supported on CUDA",
                               kiln_dtype_name(x->dtype));
    }
    return kiln_cuda_check_launch(node, "kiln_cu_reduce");
}
