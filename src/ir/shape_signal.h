/* Signal family: what its shape functions and CPU kernels share (DFT/STFT geometry,
 * scalar inputs). */
#ifndef KILN_IR_SHAPE_SIGNAL_H
#define KILN_IR_SHAPE_SIGNAL_H

#include "ir/tview.h"

/* Whether dtype is one of the floating types the signal ops compute on. */
int kiln_signal_is_float(kiln_dtype dtype);

/* Reads a scalar integer input (int32 or int64, rank 0 or [1]). *known is 0 when the input
 * is absent (`*value` untouched) or its value is not known yet (static inference). */
kiln_status kiln_signal_scalar_int(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                   int32_t index, const char *what, int64_t *value, int *known);

/* DFT geometry. The input is [..., n_in, ..., 1|2] with the transform along `axis`
 * (never the last dim); the output is the input's shape with `n_out` along axis and a last
 * dim of 2, or 1 for the inverse of a one-sided transform (irfft). */
typedef struct kiln_dft_params {
    int32_t axis;   /* in [0, rank - 2]; -1 when not known yet */
    int64_t n_in;   /* input length along axis */
    int64_t length; /* transform length (dft_length); -1 when not known yet */
    int64_t n_out;  /* output length along axis; -1 when not known yet */
    int inverse, onesided;
    int in_complex, out_complex; /* last dim is 2 */
} kiln_dft_params;

kiln_status kiln_signal_dft_params(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                   kiln_dft_params *p);

/* STFT geometry: signal [batch, length, 1|2] -> output [batch, frames, bins, 2]. */
typedef struct kiln_stft_params {
    int64_t batch, signal_length;
    int64_t frame_step;   /* -1 when not known yet */
    int64_t frame_length; /* also the DFT length; -1 when not known yet */
    int64_t frames, bins; /* -1 when not known yet */
    int onesided, in_complex, has_window;
} kiln_stft_params;

kiln_status kiln_signal_stft_params(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                    kiln_stft_params *p);

#endif
