/* Tensor family CPU helpers: strided copies, padding, sorting, scatter reductions. */
#include "backends/cpu/tensor_common.h"

#include <math.h>
#ifdef __SSE2__
#include <xmmintrin.h>
#endif
#include <stdint.h>
#include <string.h>

kiln_status kiln_tensor_elem_size(const kiln_node *node, kiln_dtype dtype, size_t *es) {
    int32_t bits = kiln_dtype_bits(dtype);
    if (bits <= 0 || bits % 8)
        return kiln_node_error(KILN_ERR_UNSUPPORTED, node, "dtype %s not supported",
                               kiln_dtype_name(dtype));
    *es = (size_t)bits / 8;
    return KILN_OK;
}

void kiln_tensor_strides(int32_t rank, const int64_t *dims, int64_t unit, int64_t *strides) {
    int64_t s = unit;
    for (int32_t i = rank - 1; i >= 0; i--) {
        strides[i] = s;
        s *= dims[i];
    }
}

int kiln_tensor_threads(const kiln_cpu_ctx *ctx, int64_t bytes) {
    if (!ctx || bytes < (1 << 18)) return 1;
    int t = kiln_cpu_threads(ctx);
    return t < 1 ? 1 : t;
}

/* ------------------------------------------------------------ strided copy --------- */

typedef struct kiln_copy_plan {
    int32_t rank; /* one more than the copy's rank in TILE mode: the block dim */
    int64_t dims[KILN_TENSOR_COPY_MAX_DIMS + 1];
    int64_t ds[KILN_TENSOR_COPY_MAX_DIMS + 1], ss[KILN_TENSOR_COPY_MAX_DIMS + 1];
} kiln_copy_plan;

/* Drops size-1 dims and merges neighbours that address memory contiguously on both sides,
 * so a plain copy becomes one memcpy and a transpose keeps only its real dims. */
static void kiln_copy_plan_build(kiln_copy_plan *p, const int64_t *dims, const int64_t *ds,
                                 const int64_t *ss, int32_t rank) {
    int32_t n = 0; /* built innermost first, reversed at the end */
    for (int32_t i = rank - 1; i >= 0; i--) {
        if (dims[i] == 1) continue;
        if (n > 0 && ds[i] == p->ds[n - 1] * p->dims[n - 1] &&
            ss[i] == p->ss[n - 1] * p->dims[n - 1]) {
            p->dims[n - 1] *= dims[i];
            continue;
        }
        p->dims[n] = dims[i];
        p->ds[n] = ds[i];
        p->ss[n] = ss[i];
        n++;
    }
    for (int32_t i = 0; i < n / 2; i++) {
        int64_t t;
        t = p->dims[i], p->dims[i] = p->dims[n - 1 - i], p->dims[n - 1 - i] = t;
        t = p->ds[i], p->ds[i] = p->ds[n - 1 - i], p->ds[n - 1 - i] = t;
        t = p->ss[i], p->ss[i] = p->ss[n - 1 - i], p->ss[n - 1 - i] = t;
    }
    p->rank = n;
}

/* n elements from stride ss to stride ds (bytes). */
static void kiln_copy_row(char *d, int64_t ds, const char *s, int64_t ss, int64_t n, size_t es) {
    switch (es) {
    case 1:
        for (int64_t i = 0; i < n; i++) d[i * ds] = s[i * ss];
        break;
    case 2:
        for (int64_t i = 0; i < n; i++) memcpy(d + i * ds, s + i * ss, 2);
        break;
    case 4:
        for (int64_t i = 0; i < n; i++) memcpy(d + i * ds, s + i * ss, 4);
        break;
    case 8:
        for (int64_t i = 0; i < n; i++) memcpy(d + i * ds, s + i * ss, 8);
        break;
    default:
        for (int64_t i = 0; i < n; i++) memcpy(d + i * ds, s + i * ss, es);
        break;
    }
}

enum { KILN_COPY_MEMCPY, KILN_COPY_ROW, KILN_COPY_TILE };
#define KILN_COPY_TILE_SIZE 32

/* A transposed 2-D block of na x nb elements: `a` is contiguous in src (stride es), `b` in
 * dst; tiles of KILN_COPY_TILE_SIZE keep both sides in cache. */
static void kiln_copy_tile(char *d, int64_t dsa, const char *s, int64_t ssb, int64_t na, int64_t nb,
                           size_t es) {
    const int64_t e = (int64_t)es;
    for (int64_t b0 = 0; b0 < nb; b0 += KILN_COPY_TILE_SIZE) {
        int64_t b1 = b0 + KILN_COPY_TILE_SIZE < nb ? b0 + KILN_COPY_TILE_SIZE : nb;
        int64_t a = 0;
#ifdef __SSE2__
        if (es == 4) { /* 4x4 register transposes */
            for (; a + 4 <= na; a += 4) {
                int64_t b = b0;
                for (; b + 4 <= b1; b += 4) {
                    const char *sp = s + a * 4 + b * ssb;
                    __m128 r0 = _mm_loadu_ps((const float *)sp);
                    __m128 r1 = _mm_loadu_ps((const float *)(sp + ssb));
                    __m128 r2 = _mm_loadu_ps((const float *)(sp + 2 * ssb));
                    __m128 r3 = _mm_loadu_ps((const float *)(sp + 3 * ssb));
                    _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
                    char *dp = d + a * dsa + b * 4;
                    _mm_storeu_ps((float *)dp, r0);
                    _mm_storeu_ps((float *)(dp + dsa), r1);
                    _mm_storeu_ps((float *)(dp + 2 * dsa), r2);
                    _mm_storeu_ps((float *)(dp + 3 * dsa), r3);
                }
                for (int64_t k = 0; k < 4 && b < b1; k++)
                    kiln_copy_row(d + (a + k) * dsa + b * 4, 4, s + (a + k) * 4 + b * ssb, ssb,
                                  b1 - b, 4);
            }
        }
#endif
        for (; a < na; a++)
            kiln_copy_row(d + a * dsa + b0 * e, e, s + a * e + b0 * ssb, ssb, b1 - b0, es);
    }
}

/* Copies outer indices [begin, end) of the plan's outer dims (in TILE mode the last outer
 * dim counts blocks of KILN_COPY_TILE_SIZE along the tile's `a` dim). */
static void kiln_copy_range(char *dst, const char *src, const kiln_copy_plan *p, int32_t outer,
                            int mode, size_t es, int64_t begin, int64_t end) {
    int64_t idx[KILN_TENSOR_COPY_MAX_DIMS + 1];
    int64_t rem = begin, doff = 0, soff = 0;
    for (int32_t i = outer - 1; i >= 0; i--) {
        idx[i] = rem % p->dims[i];
        rem /= p->dims[i];
        doff += idx[i] * p->ds[i];
        soff += idx[i] * p->ss[i];
    }
    int32_t in = p->rank - 1;
    for (int64_t o = begin; o < end; o++) {
        if (mode == KILN_COPY_MEMCPY)
            memcpy(dst + doff, src + soff, (size_t)p->dims[in] * es);
        else if (mode == KILN_COPY_ROW)
            kiln_copy_row(dst + doff, p->ds[in], src + soff, p->ss[in], p->dims[in], es);
        else {
            int64_t left = p->dims[in - 1] - idx[outer - 1] * KILN_COPY_TILE_SIZE;
            kiln_copy_tile(dst + doff, p->ds[in - 1], src + soff, p->ss[in],
                           left < KILN_COPY_TILE_SIZE ? left : KILN_COPY_TILE_SIZE, p->dims[in],
                           es);
        }
        for (int32_t i = outer - 1; i >= 0; i--) { /* odometer increment */
            doff += p->ds[i];
            soff += p->ss[i];
            if (++idx[i] < p->dims[i]) break;
            doff -= p->ds[i] * p->dims[i];
            soff -= p->ss[i] * p->dims[i];
            idx[i] = 0;
        }
    }
}

void kiln_tensor_copy_strided(kiln_cpu_ctx *ctx, void *dst, const int64_t *dst_strides,
                              const void *src, const int64_t *src_strides, int32_t rank,
                              const int64_t *dims, size_t es) {
    int64_t total = 1;
    for (int32_t i = 0; i < rank; i++) total *= dims[i];
    if (total <= 0) return;
    kiln_copy_plan p;
    kiln_copy_plan_build(&p, dims, dst_strides, src_strides, rank);
    if (p.rank == 0) {
        kiln_tensor_copy_elem(dst, src, es);
        return;
    }
    int32_t in = p.rank - 1, outer = p.rank - 1;
    int mode = KILN_COPY_ROW;
    if (p.ds[in] == (int64_t)es && p.ss[in] == (int64_t)es) {
        mode = KILN_COPY_MEMCPY;
    } else if (p.ds[in] == (int64_t)es && p.rank >= 2 && p.dims[in] >= 8) {
        /* A transpose: move the src-contiguous dim `a` next to the innermost, and put a
         * block dim over `a` before it so tiles are units of (threaded) outer work. */
        for (int32_t j = in - 1; j >= 0; j--) {
            if (p.ss[j] != (int64_t)es || p.dims[j] < 8) continue;
            int64_t d = p.dims[j], a = p.ds[j], b = p.ss[j];
            for (int32_t k = j; k < in - 1; k++) {
                p.dims[k] = p.dims[k + 1];
                p.ds[k] = p.ds[k + 1];
                p.ss[k] = p.ss[k + 1];
            }
            p.dims[in + 1] = p.dims[in], p.ds[in + 1] = p.ds[in], p.ss[in + 1] = p.ss[in];
            p.dims[in] = d, p.ds[in] = a, p.ss[in] = b;
            p.dims[in - 1] = (d + KILN_COPY_TILE_SIZE - 1) / KILN_COPY_TILE_SIZE;
            p.ds[in - 1] = a * KILN_COPY_TILE_SIZE;
            p.ss[in - 1] = b * KILN_COPY_TILE_SIZE;
            p.rank++;
            mode = KILN_COPY_TILE;
            outer = p.rank - 2;
            break;
        }
    }
    int64_t n_outer = 1;
    for (int32_t i = 0; i < outer; i++) n_outer *= p.dims[i];
    int nt = kiln_tensor_threads(ctx, total * (int64_t)es);
    if (nt > n_outer) nt = (int)n_outer;
    if (nt <= 1) {
        kiln_copy_range(dst, src, &p, outer, mode, es, 0, n_outer);
        return;
    }
#ifdef KILN_HAVE_OPENMP
#pragma omp parallel for num_threads(nt)
#endif
    for (int t = 0; t < nt; t++)
        kiln_copy_range(dst, src, &p, outer, mode, es, n_outer * t / nt, n_outer * (t + 1) / nt);
}

/* ------------------------------------------------------------ fill / pad ----------- */

void kiln_tensor_fill(void *dst, int64_t n, const void *value, size_t es) {
    if (n <= 0) return;
    const unsigned char *v = value;
    int zero = 1;
    for (size_t i = 0; i < es; i++) zero &= v[i] == 0;
    if (zero) {
        memset(dst, 0, (size_t)n * es);
        return;
    }
    char *d = dst;
    if (es == 1) {
        memset(d, v[0], (size_t)n);
        return;
    }
    /* Doubling copies: O(log n) memcpy calls of growing size. */
    memcpy(d, v, es);
    size_t done = es, all = (size_t)n * es;
    while (done < all) {
        size_t c = done < all - done ? done : all - done;
        memcpy(d + done, d, c);
        done += c;
    }
}

/* Per-dim mapping of a padded output coordinate onto the (cropped) source: -1 for a
 * constant-filled position. */
typedef struct kiln_pad_dim {
    int64_t lo; /* first source index kept (cropping at the start) */
    int64_t m;  /* source elements kept */
    int64_t pb; /* positive begin pad */
} kiln_pad_dim;

static int64_t kiln_pad_map(const kiln_pad_dim *d, int64_t o, kiln_pad_mode mode) {
    int64_t c = o - d->pb;
    if (c >= 0 && c < d->m) return d->lo + c;
    if (d->m <= 0) return -1;
    switch (mode) {
    case KILN_PAD_EDGE:
        c = c < 0 ? 0 : d->m - 1;
        break;
    case KILN_PAD_WRAP:
        c = ((c % d->m) + d->m) % d->m;
        break;
    case KILN_PAD_REFLECT:
        if (d->m == 1)
            c = 0;
        else {
            int64_t period = 2 * (d->m - 1);
            c = ((c % period) + period) % period;
            if (c >= d->m) c = period - c;
        }
        break;
    default:
        return -1;
    }
    return d->lo + c;
}

/* One output row (the innermost dim) from source row s (NULL: all constant). */
static void kiln_pad_row(char *o, const char *s, const kiln_pad_dim *d, int64_t n,
                         kiln_pad_mode mode, const void *value, size_t es) {
    if (!s) {
        kiln_tensor_fill(o, n, value, es);
        return;
    }
    int64_t a = d->pb < n ? d->pb : n; /* interior [a, b) maps 1:1 */
    int64_t b = d->pb + d->m < n ? d->pb + d->m : n;
    if (b < a) b = a;
    for (int64_t i = 0; i < a; i++) {
        int64_t c = kiln_pad_map(d, i, mode);
        if (c < 0)
            kiln_tensor_copy_elem(o + i * (int64_t)es, value, es);
        else
            kiln_tensor_copy_elem(o + i * (int64_t)es, s + c * (int64_t)es, es);
    }
    if (b > a)
        memcpy(o + a * (int64_t)es, s + (d->lo + a - d->pb) * (int64_t)es, (size_t)(b - a) * es);
    for (int64_t i = b; i < n; i++) {
        int64_t c = kiln_pad_map(d, i, mode);
        if (c < 0)
            kiln_tensor_copy_elem(o + i * (int64_t)es, value, es);
        else
            kiln_tensor_copy_elem(o + i * (int64_t)es, s + c * (int64_t)es, es);
    }
}

void kiln_tensor_pad(kiln_cpu_ctx *ctx, const kiln_tview *src, kiln_tview *dst,
                     const int64_t *begin, kiln_pad_mode mode, const void *value, size_t es) {
    int32_t rank = dst->rank;
    int64_t total = kiln_tview_count(dst);
    if (total <= 0) return;
    if (rank == 0) {
        kiln_tensor_copy_elem(dst->data, src->data, es);
        return;
    }
    kiln_pad_dim pd[KILN_MAX_DIMS];
    int64_t sst[KILN_MAX_DIMS];
    kiln_tensor_strides(rank, src->dims, (int64_t)es, sst);
    for (int32_t i = 0; i < rank; i++) {
        int64_t n = src->dims[i], b = begin[i], e = dst->dims[i] - n - b;
        pd[i].lo = b < 0 ? -b : 0;
        pd[i].m = n - pd[i].lo - (e < 0 ? -e : 0);
        pd[i].pb = b > 0 ? b : 0;
    }
    int64_t row = dst->dims[rank - 1], rows = total / row;
    int nt = kiln_tensor_threads(ctx, total * (int64_t)es);
    if (nt > rows) nt = (int)rows;
    if (nt < 1) nt = 1;
#ifdef KILN_HAVE_OPENMP
#pragma omp parallel for num_threads(nt) if (nt > 1)
#endif
    for (int t = 0; t < nt; t++) {
        int64_t r0 = rows * t / nt, r1 = rows * (t + 1) / nt;
        for (int64_t r = r0; r < r1; r++) {
            const char *s = src->data;
            int64_t rem = r;
            for (int32_t i = rank - 2; i >= 0 && s; i--) {
                int64_t c = kiln_pad_map(&pd[i], rem % dst->dims[i], mode);
                rem /= dst->dims[i];
                s = c < 0 ? NULL : s + c * sst[i];
            }
            kiln_pad_row((char *)dst->data + r * row * (int64_t)es, s, &pd[rank - 1], row, mode,
                         value, es);
        }
    }
}

/* ------------------------------------------------------------ sorting -------------- */

void kiln_tensor_sort(int64_t *idx, int64_t n, kiln_tensor_cmp_fn cmp, const void *cctx,
                      int64_t *tmp) {
    /* Bottom-up merge sort: runs of 8 by insertion sort, then merges. */
    const int64_t run = 8;
    for (int64_t lo = 0; lo < n; lo += run) {
        int64_t hi = lo + run < n ? lo + run : n;
        for (int64_t i = lo + 1; i < hi; i++) {
            int64_t v = idx[i], j = i;
            while (j > lo && cmp(cctx, v, idx[j - 1]) < 0) {
                idx[j] = idx[j - 1];
                j--;
            }
            idx[j] = v;
        }
    }
    int64_t *a = idx, *b = tmp;
    for (int64_t width = run; width < n; width *= 2) {
        for (int64_t lo = 0; lo < n; lo += 2 * width) {
            int64_t mid = lo + width < n ? lo + width : n;
            int64_t hi = lo + 2 * width < n ? lo + 2 * width : n;
            int64_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi) b[k++] = cmp(cctx, a[j], a[i]) < 0 ? a[j++] : a[i++];
            while (i < mid) b[k++] = a[i++];
            while (j < hi) b[k++] = a[j++];
        }
        int64_t *t = a;
        a = b;
        b = t;
    }
    if (a != idx) memcpy(idx, a, (size_t)n * sizeof *idx);
}

int kiln_tensor_keyable(kiln_dtype dtype) {
    return kiln_tensor_is_int(dtype) || kiln_tensor_is_float(dtype) || dtype == KILN_DTYPE_BOOL;
}

uint64_t kiln_tensor_order_key(kiln_dtype dtype, const void *p) {
    const uint64_t sign = (uint64_t)1 << 63;
    double d;
    switch (dtype) {
    case KILN_DTYPE_INT8:
        return (uint64_t)(int64_t) * (const int8_t *)p ^ sign;
    case KILN_DTYPE_INT16: {
        int16_t v;
        memcpy(&v, p, 2);
        return (uint64_t)(int64_t)v ^ sign;
    }
    case KILN_DTYPE_INT32: {
        int32_t v;
        memcpy(&v, p, 4);
        return (uint64_t)(int64_t)v ^ sign;
    }
    case KILN_DTYPE_INT64: {
        int64_t v;
        memcpy(&v, p, 8);
        return (uint64_t)v ^ sign;
    }
    case KILN_DTYPE_UINT8:
    case KILN_DTYPE_BOOL:
        return *(const uint8_t *)p;
    case KILN_DTYPE_UINT16: {
        uint16_t v;
        memcpy(&v, p, 2);
        return v;
    }
    case KILN_DTYPE_UINT32: {
        uint32_t v;
        memcpy(&v, p, 4);
        return v;
    }
    case KILN_DTYPE_UINT64: {
        uint64_t v;
        memcpy(&v, p, 8);
        return v;
    }
    case KILN_DTYPE_FLOAT32: {
        float v;
        memcpy(&v, p, 4);
        d = v;
        break;
    }
    case KILN_DTYPE_FLOAT64:
        memcpy(&d, p, 8);
        break;
    case KILN_DTYPE_FLOAT16: {
        uint16_t v;
        memcpy(&v, p, 2);
        d = kiln_half_to_float(v);
        break;
    }
    case KILN_DTYPE_BFLOAT16: {
        uint16_t v;
        memcpy(&v, p, 2);
        d = kiln_bf16_to_float(v);
        break;
    }
    default:
        return 0;
    }
    if (d == 0) d = 0; /* -0 orders as +0 */
    uint64_t bits;
    memcpy(&bits, &d, 8);
    return (bits & sign) ? ~bits : bits | sign;
}

/* ------------------------------------------------------------ reductions ----------- */

kiln_status kiln_tensor_reduction(const kiln_node *node, kiln_dtype dtype,
                                  kiln_scatter_reduction *r) {
    const char *s = kiln_attr_string(node, "reduction", "none");
    if (!strcmp(s, "none"))
        *r = KILN_SCATTER_NONE;
    else if (!strcmp(s, "add"))
        *r = KILN_SCATTER_ADD;
    else if (!strcmp(s, "mul"))
        *r = KILN_SCATTER_MUL;
    else if (!strcmp(s, "max"))
        *r = KILN_SCATTER_MAX;
    else if (!strcmp(s, "min"))
        *r = KILN_SCATTER_MIN;
    else
        return kiln_node_error(KILN_ERR_UNSUPPORTED, node, "reduction '%s' not supported", s);
    if (*r != KILN_SCATTER_NONE && !kiln_tensor_is_int(dtype) && !kiln_tensor_is_float(dtype) &&
        dtype != KILN_DTYPE_BOOL)
        return kiln_node_error(KILN_ERR_UNSUPPORTED, node, "reduction '%s' on dtype %s", s,
                               kiln_dtype_name(dtype));
    return KILN_OK;
}

#define KILN_SCATTER_LOOP(T)                                                                       \
    do {                                                                                           \
        T *d = dst;                                                                                \
        const T *s = src;                                                                          \
        for (int64_t i = 0; i < n; i++) {                                                          \
            switch (r) {                                                                           \
            case KILN_SCATTER_ADD:                                                                 \
                d[i] = (T)(d[i] + s[i]);                                                           \
                break;                                                                             \
            case KILN_SCATTER_MUL:                                                                 \
                d[i] = (T)(d[i] * s[i]);                                                           \
                break;                                                                             \
            case KILN_SCATTER_MAX:                                                                 \
                d[i] = s[i] > d[i] ? s[i] : d[i];                                                  \
                break;                                                                             \
            case KILN_SCATTER_MIN:                                                                 \
                d[i] = s[i] < d[i] ? s[i] : d[i];                                                  \
                break;                                                                             \
            default:                                                                               \
                d[i] = s[i];                                                                       \
                break;                                                                             \
            }                                                                                      \
        }                                                                                          \
    } while (0)

void kiln_tensor_reduce_into(kiln_dtype dtype, void *dst, const void *src, int64_t n,
                             kiln_scatter_reduction r) {
    switch (dtype) {
    case KILN_DTYPE_FLOAT32:
        KILN_SCATTER_LOOP(float);
        return;
    case KILN_DTYPE_FLOAT64:
        KILN_SCATTER_LOOP(double);
        return;
    case KILN_DTYPE_INT8:
        KILN_SCATTER_LOOP(int8_t);
        return;
    case KILN_DTYPE_INT16:
        KILN_SCATTER_LOOP(int16_t);
        return;
    case KILN_DTYPE_INT32:
        KILN_SCATTER_LOOP(int32_t);
        return;
    case KILN_DTYPE_INT64:
        KILN_SCATTER_LOOP(int64_t);
        return;
    case KILN_DTYPE_UINT8:
        KILN_SCATTER_LOOP(uint8_t);
        return;
    case KILN_DTYPE_UINT16:
        KILN_SCATTER_LOOP(uint16_t);
        return;
    case KILN_DTYPE_UINT32:
        KILN_SCATTER_LOOP(uint32_t);
        return;
    case KILN_DTYPE_UINT64:
        KILN_SCATTER_LOOP(uint64_t);
        return;
    case KILN_DTYPE_BOOL: {
        uint8_t *d = dst;
        const uint8_t *s = src;
        for (int64_t i = 0; i < n; i++) {
            if (r == KILN_SCATTER_ADD || r == KILN_SCATTER_MAX)
                d[i] = d[i] || s[i];
            else if (r == KILN_SCATTER_MUL || r == KILN_SCATTER_MIN)
                d[i] = d[i] && s[i];
            else
                d[i] = s[i];
        }
        return;
    }
    case KILN_DTYPE_FLOAT16:
    case KILN_DTYPE_BFLOAT16: {
        int half = dtype == KILN_DTYPE_FLOAT16;
        uint16_t *d = dst;
        const uint16_t *s = src;
        for (int64_t i = 0; i < n; i++) {
            float a = half ? kiln_half_to_float(d[i]) : kiln_bf16_to_float(d[i]);
            float b = half ? kiln_half_to_float(s[i]) : kiln_bf16_to_float(s[i]);
            float v = b;
            if (r == KILN_SCATTER_ADD)
                v = a + b;
            else if (r == KILN_SCATTER_MUL)
                v = a * b;
            else if (r == KILN_SCATTER_MAX)
                v = b > a ? b : a;
            else if (r == KILN_SCATTER_MIN)
                v = b < a ? b : a;
            d[i] = half ? kiln_float_to_half(v) : kiln_float_to_bf16(v);
        }
        return;
    }
    default:
        memcpy(dst, src, kiln_dtype_nbytes(dtype, n));
        return;
    }
}
