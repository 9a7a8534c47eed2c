/*
 * 3x3 stride-1 convolutions by Winograd's F(4x4, 3x3) on 16-channel-blocked activations
 * (conv_winograd_f43.c). Pad 1 on every side, no groups or dilation; the caller checks.
 */
#ifndef KILN_CPU_CONV_WINOGRAD_F43_H
#define KILN_CPU_CONV_WINOGRAD_F43_H

#include <stddef.h>
#include <stdint.h>

/* A thread transforms and multiplies as many tiles (4x4 outputs each) at a time as fill
 * this many bytes of transformed input (V). */
#define KILN_WINO43_V_BYTES (256 * 1024)

/* Whether this build and CPU run the kernel for c input and oc output channels (c a
 * multiple of 16, oc of 32, AVX-512). */
int kiln_wino43_supported(int64_t c, int64_t oc);

/* Floats of the transformed weights, and their transform from OIHW 3x3 float32 weights. */
size_t kiln_wino43_weights_floats(int64_t oc, int64_t c);
void kiln_wino43_transform_weights(const float *w, int64_t oc, int64_t c, float *u);

/* Floats of scratch a run on `threads` threads needs. */
size_t kiln_wino43_scratch_floats(int64_t oc, int64_t c, int threads);

/* y[n][oc/16][h][w][16] = relu?(conv(x[n][c/16][h][w][16], weights) + bias + sum); bias
 * and sum (laid out as y; it may be y itself) may be NULL. Runs on up to `threads` OpenMP
 * threads. */
void kiln_wino43_run(const float *x, const float *u, const float *bias, const float *sum, float *y,
                     int64_t n, int64_t c, int64_t oc, int64_t h, int64_t w, int relu,
                     float *scratch, int threads);

#endif
