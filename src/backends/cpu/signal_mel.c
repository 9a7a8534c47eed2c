/*
 * MelWeightMatrix: num_mel_bins triangular filters over dft_length / 2 + 1 linear bins,
 * as ONNX's reference computes them: num_mel_bins + 2 edges evenly spaced on the mel scale
 * (step (high - low) / (num_mel_bins + 2)), mapped back to hertz and to bin indices
 * floor((dft_length + 1) * hz / sample_rate); filter i rises from edge i to edge i + 1
 * (peak 1) and falls to edge i + 2.
 */
#include <math.h>

#include "backends/cpu/cpu_kernel.h"

/* numpy's float floor division (npy_divmod): the rounding its reference relies on. */
static double floor_divide(double a, double b) {
    double mod = fmod(a, b);
    double div = (a - mod) / b;
    if (mod != 0 && ((b < 0) != (mod < 0))) div -= 1.0;
    if (div == 0) return copysign(0.0, a / b);
    double fl = floor(div);
    if (div - fl > 0.5) fl += 1.0;
    return fl;
}

static double hz_to_mel(double hz) {
    return 2595.0 * log1p(hz / 700.0) / log(10.0);
}

static double mel_to_hz(double mel) {
    return 700.0 * expm1(mel / 2595.0 * log(10.0));
}

kiln_status kiln_cpu_MelWeightMatrix(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                                     int32_t n_in, kiln_tview *out, int32_t n_out) {
    int64_t mel_bins = kiln_tview_get_int(&in[0], 0), dft_length = kiln_tview_get_int(&in[1], 0);
    double sample_rate = (double)kiln_tview_get_int(&in[2], 0);
    double low = kiln_tview_get_double(&in[3], 0), high = kiln_tview_get_double(&in[4], 0);
    kiln_tview *y = &out[0];
    int64_t spec_bins = y->dims[0], count = kiln_tview_count(y);
    for (int64_t i = 0; i < count; i++) kiln_tview_set_double(y, i, 0.0);
    if (mel_bins == 0) return KILN_OK;
    int64_t *edge = kiln_cpu_scratch(ctx, (size_t)(mel_bins + 2) * sizeof *edge);
    if (!edge) return kiln_node_error(KILN_ERR_OUT_OF_MEMORY, node, "out of memory");
    double low_mel = hz_to_mel(low), high_mel = hz_to_mel(high);
    double step = (high_mel - low_mel) / (double)(mel_bins + 2);
    for (int64_t i = 0; i < mel_bins + 2; i++) {
        double hz = mel_to_hz((double)i * step + low_mel);
        edge[i] = (int64_t)floor_divide((double)(dft_length + 1) * hz, sample_rate);
    }
    /* Rows outside the matrix (edges past the Nyquist bin) are skipped. */
    for (int64_t i = 0; i < mel_bins; i++) {
        int64_t lo = edge[i], center = edge[i + 1], hi = edge[i + 2];
        if (center == lo && center >= 0 && center < spec_bins)
            kiln_tview_set_double(y, center * mel_bins + i, 1.0);
        int64_t j0 = lo > 0 ? lo : 0, j1 = center < spec_bins - 1 ? center : spec_bins - 1;
        for (int64_t j = j0; center != lo && j <= j1; j++)
            kiln_tview_set_double(y, j * mel_bins + i, (double)(j - lo) / (double)(center - lo));
        j0 = center > 0 ? center : 0;
        j1 = hi < spec_bins ? hi : spec_bins;
        for (int64_t j = j0; hi > center && j < j1; j++)
            kiln_tview_set_double(y, j * mel_bins + i, (double)(hi - j) / (double)(hi - center));
    }
    return KILN_OK;
}
