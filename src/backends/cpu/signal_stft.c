/*
 * STFT: frames of frame_length samples every frame_step, each multiplied by the window
 * (all ones when absent) and transformed with a DFT of frame_length, in double; one-sided
 * output keeps bins 0 .. frame_length / 2.
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

static void stft_frame(const kiln_tview *x, const kiln_tview *window, kiln_tview *y,
                       const kiln_stft_params *p, const kiln_fft_plan *plan, int64_t b, int64_t f,
                       double *buf) {
    int64_t n = p->frame_length, c = p->in_complex ? 2 : 1;
    for (int64_t t = 0; t < n; t++) {
        int64_t at = (b * p->signal_length + f * p->frame_step + t) * c;
        double w = window ? load(window, t) : 1.0;
        buf[2 * t] = load(x, at) * w;
        buf[2 * t + 1] = c == 2 ? load(x, at + 1) * w : 0.0;
    }
    kiln_fft_run(plan, buf, 0);
    for (int64_t k = 0; k < p->bins; k++) {
        int64_t at = ((b * p->frames + f) * p->bins + k) * 2;
        store(y, at, buf[2 * k]);
        store(y, at + 1, buf[2 * k + 1]);
    }
}

typedef struct stft_job {
    const kiln_tview *x, *window;
    kiln_tview *y;
    const kiln_stft_params *p;
} stft_job;

/* Frame j of the job: batch j / frames, frame j % frames. */
static void stft_frame_at(void *arg, const kiln_fft_plan *plan, int64_t j, double *buf) {
    const stft_job *s = arg;
    stft_frame(s->x, s->window, s->y, s->p, plan, j / s->p->frames, j % s->p->frames, buf);
}

kiln_status kiln_cpu_STFT(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                          int32_t n_in, kiln_tview *out, int32_t n_out) {
    kiln_stft_params p;
    KILN_TRY(kiln_signal_stft_params(node, in, n_in, &p));
    if (p.frame_length < 1 || p.frames < 0 || p.bins < 0)
        return kiln_node_error(KILN_ERR_SHAPE, node, "frame sizes not known at run time");
    const kiln_tview *window = p.has_window ? &in[2] : NULL;
    int64_t n = p.frame_length, jobs = p.batch * p.frames;
    if (jobs == 0) return KILN_OK;
    stft_job job = {&in[0], window, &out[0], &p};
    return kiln_fft_run_lines(ctx, node, n, jobs, stft_frame_at, &job);
}
