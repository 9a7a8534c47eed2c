/*
 * HannWindow, HammingWindow, BlackmanWindow: w[n] for n in [0, size), in double, with the
 * period N = size (periodic, the default) or size - 1 (symmetric). Coefficients as ONNX's
 * reference: Hamming alpha = 25/46, beta = 21/46; Blackman 0.42, 0.5, 0.08.
 */
#include <math.h>

#include "backends/cpu/cpu_kernel.h"
#include "backends/cpu/signal_fft.h"

typedef enum { WIN_HANN, WIN_HAMMING, WIN_BLACKMAN } window_kind;

static double window_value(window_kind kind, double n, double period) {
    double a = 2.0 * KILN_SIGNAL_PI * n / period;
    switch (kind) {
    case WIN_HANN: {
        double s = sin(KILN_SIGNAL_PI * n / period);
        return s * s;
    }
    case WIN_HAMMING:
        return 25.0 / 46.0 - (21.0 / 46.0) * cos(a);
    case WIN_BLACKMAN:
        return 0.42 - 0.5 * cos(a) + 0.08 * cos(2.0 * a);
    }
    return 0;
}

static kiln_status window_op(const kiln_node *node, kiln_tview *y, window_kind kind) {
    int64_t size = y->dims[0];
    double period = (double)(kiln_attr_int(node, "periodic", 1) ? size : size - 1);
    for (int64_t n = 0; n < size; n++) {
        double v = window_value(kind, (double)n, period);
        if (y->dtype == KILN_DTYPE_FLOAT32)
            ((float *)y->data)[n] = (float)v;
        else
            kiln_tview_set_double(y, n, v);
    }
    return KILN_OK;
}

kiln_status kiln_cpu_HannWindow(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                                int32_t n_in, kiln_tview *out, int32_t n_out) {
    return window_op(node, &out[0], WIN_HANN);
}

kiln_status kiln_cpu_HammingWindow(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                                   int32_t n_in, kiln_tview *out, int32_t n_out) {
    return window_op(node, &out[0], WIN_HAMMING);
}

kiln_status kiln_cpu_BlackmanWindow(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                                    int32_t n_in, kiln_tview *out, int32_t n_out) {
    return window_op(node, &out[0], WIN_BLACKMAN);
}
