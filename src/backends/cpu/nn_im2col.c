/* NN family: im2col / col2im over N-d windows (Conv, ConvTranspose, Col2Im, ConvInteger). */
#include <string.h>

#include "backends/cpu/nn_common.h"

int64_t kiln_nn_kernel_size(const kiln_nn_window *w) {
    int64_t p = 1;
    for (int32_t i = 0; i < w->n; i++) p *= w->kernel[i];
    return p;
}

int64_t kiln_nn_out_size(const kiln_nn_window *w) {
    int64_t p = 1;
    for (int32_t i = 0; i < w->n; i++) p *= w->out[i];
    return p;
}

int64_t kiln_nn_in_size(const kiln_nn_window *w) {
    int64_t p = 1;
    for (int32_t i = 0; i < w->n; i++) p *= w->in[i];
    return p;
}

/* Range [lo, hi) of output positions o along dim d whose tap i0 + o * s lands inside. */
static void valid_range(int64_t i0, int64_t s, int64_t in, int64_t out, int64_t *lo, int64_t *hi) {
    int64_t l = i0 >= 0 ? 0 : (-i0 + s - 1) / s;
    int64_t h = in - i0 <= 0 ? 0 : (in - i0 + s - 1) / s;
    if (h > out) h = out;
    if (l > h) l = h;
    *lo = l;
    *hi = h;
}

/* Walks one row (channel c, kernel tap kidx) of the col matrix, calling the row kernel on
 * each run of the last output dim. `scatter` selects col2im (add into x) over im2col. */
static void walk_row(float *x, float *colrow, const kiln_nn_window *w, int64_t kidx, int scatter) {
    int32_t n = w->n;
    int64_t kk[KILN_MAX_DIMS];
    for (int32_t d = n - 1; d >= 0; d--) {
        kk[d] = kidx % w->kernel[d];
        kidx /= w->kernel[d];
    }
    int64_t last_out = w->out[n - 1], last_in = w->in[n - 1], s = w->stride[n - 1];
    int64_t i0 = kk[n - 1] * w->dilation[n - 1] - w->pad_begin[n - 1];
    int64_t lo, hi;
    valid_range(i0, s, last_in, last_out, &lo, &hi);
    int64_t outer = 1;
    for (int32_t d = 0; d < n - 1; d++) outer *= w->out[d];
    int64_t o[KILN_MAX_DIMS] = {0};
    for (int64_t t = 0; t < outer; t++) {
        float *dst = colrow + t * last_out;
        int valid = 1;
        int64_t off = 0;
        for (int32_t d = 0; d < n - 1; d++) {
            int64_t i = o[d] * w->stride[d] + kk[d] * w->dilation[d] - w->pad_begin[d];
            if (i < 0 || i >= w->in[d]) valid = 0;
            off = off * w->in[d] + i;
        }
        if (valid) {
            float *xrow = x + off * last_in;
            if (!scatter) {
                for (int64_t j = 0; j < lo; j++) dst[j] = 0.0f;
                if (s == 1)
                    memcpy(dst + lo, xrow + i0 + lo, (size_t)(hi - lo) * sizeof(float));
                else
                    for (int64_t j = lo; j < hi; j++) dst[j] = xrow[i0 + j * s];
                for (int64_t j = hi; j < last_out; j++) dst[j] = 0.0f;
            } else {
                for (int64_t j = lo; j < hi; j++) xrow[i0 + j * s] += dst[j];
            }
        } else if (!scatter) {
            for (int64_t j = 0; j < last_out; j++) dst[j] = 0.0f;
        }
        for (int32_t d = n - 2; d >= 0; d--) {
            if (++o[d] < w->out[d]) break;
            o[d] = 0;
        }
    }
}

void kiln_nn_im2col(const float *x, int64_t channels, const kiln_nn_window *w, float *col,
                    int threads) {
    int64_t ksize = kiln_nn_kernel_size(w), osize = kiln_nn_out_size(w), isize = kiln_nn_in_size(w);
    int64_t rows = channels * ksize;
    int par = threads > 1 && rows * osize > (1 << 16);
    KILN_NN_PRAGMA(omp parallel for num_threads(threads) if (par) schedule(static))
    for (int64_t r = 0; r < rows; r++)
        walk_row((float *)x + (r / ksize) * isize, col + r * osize, w, r % ksize, 0);
}

void kiln_nn_col2im_add(const float *col, int64_t channels, const kiln_nn_window *w, float *y,
                        int threads) {
    int64_t ksize = kiln_nn_kernel_size(w), osize = kiln_nn_out_size(w), isize = kiln_nn_in_size(w);
    int par = threads > 1 && channels > 1 && channels * ksize * osize > (1 << 16);
    /* channels are independent planes, so they can run in parallel; taps of one channel
     * overlap and stay in order */
    KILN_NN_PRAGMA(omp parallel for num_threads(threads) if (par) schedule(static))
    for (int64_t c = 0; c < channels; c++)
        for (int64_t kidx = 0; kidx < ksize; kidx++)
            walk_row(y + c * isize, (float *)col + (c * ksize + kidx) * osize, w, kidx, 1);
}
