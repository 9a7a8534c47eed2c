/*
 * 3x3 stride-1 pad-1 convolutions on small maps by Winograd's algorithm with the output
 * tiles in the vector lanes and the weights transformed as they are read
 * (conv_winograd_lanes.c): F(2x2, 3x3) for maps up to 8x8, F(4x4, 3x3) up to 16x16, on
 * 16-channel-blocked activations (nChw16c). No groups or dilation; the caller checks.
 */
#ifndef KILN_CPU_CONV_WINOGRAD_LANES_H
#define KILN_CPU_CONV_WINOGRAD_LANES_H

#include <stddef.h>
#include <stdint.h>

/* The output tile size (2 or 4) the kernel uses for an h x w map with c input and oc
 * output channels, or 0 when it does not take it (more than 16 tiles, channels not in
 * blocks of 16, no AVX-512). */
int kiln_winol_tile(int64_t c, int64_t oc, int64_t h, int64_t w);

/* Floats of the kernel's weights (as many as the plain ones), and their layout from OIHW
 * 3x3 float32 weights: [oc / 16][c][3][3][16]. */
size_t kiln_winol_weights_floats(int64_t oc, int64_t c);
void kiln_winol_prepare_weights(const float *w, int64_t oc, int64_t c, float *wp);

/* Floats of scratch a run on `threads` threads needs. */
size_t kiln_winol_scratch_floats(int64_t c, int threads);

/* y[n][oc/16][h][w][16] = relu?(conv(x[n][c/16][h][w][16], weights) + bias + sum); bias
 * and sum (laid out as y; it may be y itself) may be NULL; wp from
 * kiln_winol_prepare_weights. Runs on up to `threads` OpenMP threads. */
void kiln_winol_run(const float *x, const float *wp, const float *bias, const float *sum, float *y,
                    int64_t n, int64_t c, int64_t oc, int64_t h, int64_t w, int relu,
                    float *scratch, int threads);

#endif
