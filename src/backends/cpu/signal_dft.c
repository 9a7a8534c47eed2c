/*
 * DFT: one complex transform per line along `axis`, computed in double whatever the dtype.
 * A line is read into a buffer of dft_length complex values (zero-padded or truncated),
 * transformed and written back (the first n_out values). The inverse of a one-sided
 * transform (irfft) first rebuilds the full Hermitian spectrum and keeps the real part.
 */
#include "backends/cpu/cpu_kernel.h"
#include "backends/cpu/signal_fft.h"
#include "ir/shape_signal.h"

static inline double load(const kiln_tview *t, int64_t i) {
    return t->dtype == KILN_DTYPE_FLOAT32 ? ((const float *)t->data)[i]
                                          : kiln_tview_get_double(t, i);
}

static inline void store(kiln_tview *t, int64_t i, double v) {
    if (t->dtype == KILN_DTYPE_FLOAT32)
        ((float *)t->data)[i] = (float)v;
    else
        kiln_tview_set_double(t, i, v);
}

typedef struct dft_job {
    const kiln_tview *x;
    kiln_tview *y;
    kiln_dft_params p;
    int64_t inner; /* elements between the axis and the [1|2] dim */
    int in_c, out_c;
} dft_job;

static void dft_line(const dft_job *j, const kiln_fft_plan *plan, int64_t o, int64_t i,
                     double *buf) {
    int64_t n = j->p.length, n_in = j->p.n_in;
    for (int64_t k = 0; k < 2 * n; k++) buf[k] = 0;
    int irfft = j->p.inverse && j->p.onesided;
    /* irfft reads the non-negative frequencies 0 .. n/2 only. */
    int64_t take = irfft ? n / 2 + 1 : n;
    if (take > n_in) take = n_in;
    for (int64_t t = 0; t < take; t++) {
        int64_t at = ((o * n_in + t) * j->inner + i) * j->in_c;
        buf[2 * t] = load(j->x, at);
        buf[2 * t + 1] = j->in_c == 2 ? load(j->x, at + 1) : 0.0;
    }
    if (irfft) /* X[n - k] = conj(X[k]) */
        for (int64_t k = n / 2 + 1; k < n; k++) {
            buf[2 * k] = buf[2 * (n - k)];
            buf[2 * k + 1] = -buf[2 * (n - k) + 1];
        }
    kiln_fft_run(plan, buf, j->p.inverse);
    double scale = j->p.inverse ? 1.0 / (double)n : 1.0;
    for (int64_t k = 0; k < j->p.n_out; k++) {
        int64_t at = ((o * j->p.n_out + k) * j->inner + i) * j->out_c;
        store(j->y, at, buf[2 * k] * scale);
        if (j->out_c == 2) store(j->y, at + 1, buf[2 * k + 1] * scale);
    }
}

/* Line l of the job: outer index l / inner, inner index l % inner. */
static void dft_line_at(void *arg, const kiln_fft_plan *plan, int64_t l, double *buf) {
    const dft_job *j = arg;
    dft_line(j, plan, l / j->inner, l % j->inner, buf);
}

kiln_status kiln_cpu_DFT(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                         int32_t n_in, kiln_tview *out, int32_t n_out) {
    dft_job j = {.x = &in[0], .y = &out[0]};
    KILN_TRY(kiln_signal_dft_params(node, in, n_in, &j.p));
    if (j.p.axis < 0 || j.p.length < 1 || j.p.n_out < 0)
        return kiln_node_error(KILN_ERR_SHAPE, node, "axis or dft_length not known at run time");
    const kiln_tview *x = &in[0];
    int32_t rank = x->rank;
    int64_t outer = 1;
    j.inner = 1;
    for (int32_t d = 0; d < j.p.axis; d++) outer *= x->dims[d];
    for (int32_t d = j.p.axis + 1; d < rank - 1; d++) j.inner *= x->dims[d];
    j.in_c = (int)x->dims[rank - 1];
    j.out_c = j.p.out_complex ? 2 : 1;
    int64_t lines = outer * j.inner, n = j.p.length;
    if (kiln_tview_count(&out[0]) == 0) return KILN_OK;
    return kiln_fft_run_lines(ctx, node, n, lines, dft_line_at, &j);
}
