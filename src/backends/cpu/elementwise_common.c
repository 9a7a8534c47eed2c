/* The elementwise family's broadcasting iterator, threaded driver and float16 adapter. */
#include "backends/cpu/elementwise_common.h"

#include <string.h>

/* Below this many output elements a kernel runs on one thread. */
#define KILN_EW_PARALLEL_MIN 32768
/* Inner runs longer than this are split so that few long rows still spread over threads. */
#define KILN_EW_CHUNK 16384
/* float16 adapter buffer length (elements). */
#define KILN_EW_HALF_BLOCK 256

kiln_status kiln_ew_iter_init(kiln_ew_iter *it, const kiln_node *node, const kiln_tview *out,
                              const kiln_tview *const *in, int32_t n_in) {
    memset(it, 0, sizeof *it);
    it->n_in = n_in;
    int32_t rank = out->rank;
    int64_t dims[KILN_MAX_DIMS];
    int64_t strides[KILN_EW_MAX_IN][KILN_MAX_DIMS];
    for (int32_t d = 0; d < rank; d++) dims[d] = out->dims[d];
    for (int32_t k = 0; k < n_in; k++) {
        const kiln_tview *t = in[k];
        if (t->rank > rank)
            return kiln_shape_error(node, "input %d has rank %d above the output's %d", k, t->rank,
                                    rank);
        int64_t stride = 1;
        for (int32_t d = rank - 1; d >= 0; d--) {
            int32_t td = d - (rank - t->rank);
            int64_t dim = td >= 0 ? t->dims[td] : 1;
            if (dim != dims[d] && dim != 1)
                return kiln_shape_error(node, "input %d dim %d (%lld) does not broadcast to %lld",
                                        k, (int)td, (long long)dim, (long long)dims[d]);
            strides[k][d] = dim == 1 ? 0 : stride;
            stride *= dim;
        }
    }
    /* Drop dims of size 1, then merge neighbours that every operand walks contiguously. */
    int32_t r = 0;
    for (int32_t d = 0; d < rank; d++) {
        if (dims[d] == 1) continue;
        if (r > 0) {
            bool merge = true;
            for (int32_t k = 0; k < n_in && merge; k++)
                merge = it->strides[k][r - 1] == strides[k][d] * dims[d];
            if (merge) {
                it->dims[r - 1] *= dims[d];
                for (int32_t k = 0; k < n_in; k++) it->strides[k][r - 1] = strides[k][d];
                continue;
            }
        }
        it->dims[r] = dims[d];
        for (int32_t k = 0; k < n_in; k++) it->strides[k][r] = strides[k][d];
        r++;
    }
    if (r == 0) { /* every dim 1: a single element */
        it->dims[0] = 1;
        for (int32_t k = 0; k < n_in; k++) it->strides[k][0] = 1;
        r = 1;
    }
    it->rank = r;
    it->count = 1;
    for (int32_t d = 0; d < r; d++) it->count *= it->dims[d];
    return KILN_OK;
}

/* Runs the part [start, start+len) of outer row `row`. */
static void kiln_ew_run_piece(const kiln_ew_iter *it, kiln_ew_loop_fn fn, char *out,
                              size_t out_size, const void *const *in, const size_t *in_size,
                              const void *params, int64_t row, int64_t start, int64_t len) {
    int32_t inner = it->rank - 1;
    int64_t inner_len = it->dims[inner];
    int64_t off[KILN_EW_MAX_IN] = {0, 0, 0};
    int64_t rem = row;
    for (int32_t d = inner - 1; d >= 0; d--) {
        int64_t idx = rem % it->dims[d];
        rem /= it->dims[d];
        for (int32_t k = 0; k < it->n_in; k++) off[k] += idx * it->strides[k][d];
    }
    const void *ptr[KILN_EW_MAX_IN];
    int64_t st[KILN_EW_MAX_IN];
    for (int32_t k = 0; k < it->n_in; k++) {
        st[k] = it->strides[k][inner] ? 1 : 0;
        ptr[k] = (const char *)in[k] + (size_t)(off[k] + start * st[k]) * in_size[k];
    }
    fn(out + (size_t)(row * inner_len + start) * out_size, ptr, st, len, params);
}

void kiln_ew_run(kiln_cpu_ctx *ctx, const kiln_ew_iter *it, kiln_ew_loop_fn fn, void *out,
                 size_t out_size, const void *const *in, const size_t *in_size,
                 const void *params) {
    if (it->count <= 0) return;
    int64_t inner_len = it->dims[it->rank - 1];
    int64_t rows = it->count / inner_len;
    if (it->count < KILN_EW_PARALLEL_MIN) {
        for (int64_t r = 0; r < rows; r++)
            kiln_ew_run_piece(it, fn, out, out_size, in, in_size, params, r, 0, inner_len);
        return;
    }
    int64_t chunk = inner_len > KILN_EW_CHUNK ? KILN_EW_CHUNK : inner_len;
    int64_t per_row = (inner_len + chunk - 1) / chunk;
    int64_t tasks = rows * per_row;
#ifdef KILN_HAVE_OPENMP
#pragma omp parallel for num_threads(kiln_cpu_threads(ctx)) schedule(static)
#endif
    for (int64_t t = 0; t < tasks; t++) {
        int64_t r = t / per_row, start = (t % per_row) * chunk;
        int64_t len = inner_len - start < chunk ? inner_len - start : chunk;
        kiln_ew_run_piece(it, fn, out, out_size, in, in_size, params, r, start, len);
    }
    (void)ctx;
}

kiln_status kiln_ew_apply(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *const *in,
                          int32_t n_in, kiln_tview *out, kiln_ew_loop_fn fn, const void *params) {
    kiln_ew_iter it;
    KILN_TRY(kiln_ew_iter_init(&it, node, out, in, n_in));
    const void *ptr[KILN_EW_MAX_IN];
    size_t size[KILN_EW_MAX_IN];
    for (int32_t k = 0; k < n_in; k++) {
        ptr[k] = in[k]->data;
        size[k] = kiln_ew_size(in[k]->dtype);
    }
    kiln_ew_run(ctx, &it, fn, out->data, kiln_ew_size(out->dtype), ptr, size, params);
    return KILN_OK;
}

static void kiln_ew_half_to_float(kiln_dtype dt, const uint16_t *src, int64_t st, float *dst,
                                  int64_t n) {
    if (!st) n = 1;
    if (dt == KILN_DTYPE_FLOAT16)
        for (int64_t i = 0; i < n; i++) dst[i] = kiln_ew_h2f(src[i]);
    else
        for (int64_t i = 0; i < n; i++) dst[i] = kiln_ew_bf2f(src[i]);
}

void kiln_ew_half_loop(void *out, const void *const *in, const int64_t *st, int64_t n,
                       const void *params) {
    const kiln_ew_half *h = params;
    float buf[KILN_EW_MAX_IN][KILN_EW_HALF_BLOCK];
    float obuf[KILN_EW_HALF_BLOCK];
    size_t in_size[KILN_EW_MAX_IN];
    for (int32_t k = 0; k < h->n_in; k++) in_size[k] = kiln_ew_size(h->in_dtype[k]);
    bool out_half = kiln_ew_is_half(h->out_dtype);
    size_t out_size = kiln_ew_size(h->out_dtype);
    for (int64_t base = 0; base < n; base += KILN_EW_HALF_BLOCK) {
        int64_t len = n - base < KILN_EW_HALF_BLOCK ? n - base : KILN_EW_HALF_BLOCK;
        const void *ptr[KILN_EW_MAX_IN];
        for (int32_t k = 0; k < h->n_in; k++) {
            const char *src = (const char *)in[k] + (size_t)(base * st[k]) * in_size[k];
            if (kiln_ew_is_half(h->in_dtype[k])) {
                kiln_ew_half_to_float(h->in_dtype[k], (const uint16_t *)src, st[k], buf[k], len);
                ptr[k] = buf[k];
            } else {
                ptr[k] = src;
            }
        }
        if (!out_half) {
            h->fn((char *)out + (size_t)base * out_size, ptr, st, len, h->params);
            continue;
        }
        h->fn(obuf, ptr, st, len, h->params);
        uint16_t *o = (uint16_t *)out + base;
        if (h->out_dtype == KILN_DTYPE_FLOAT16)
            for (int64_t i = 0; i < len; i++) o[i] = kiln_ew_f2h(obuf[i]);
        else
            for (int64_t i = 0; i < len; i++) o[i] = kiln_ew_f2bf(obuf[i]);
    }
}

void kiln_ew_copy(kiln_cpu_ctx *ctx, const kiln_tview *in, kiln_tview *out) {
    if (in->data == out->data) return;
    int64_t count = kiln_tview_count(in);
    size_t bytes = kiln_dtype_nbytes(in->dtype, count);
    if (bytes) memmove(out->data, in->data, bytes);
    (void)ctx;
}

double kiln_ew_scalar_double(const kiln_tview *t) {
    return kiln_tview_get_double(t, 0);
}
