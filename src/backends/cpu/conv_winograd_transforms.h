/*
 * What kiln's two Winograd kernels (conv_winograd_f43.c, conv_winograd_lanes.c) share:
 * the input and output transforms of F(4x4, 3x3) on vectors of 16 floats (interpolation
 * points 0, +-1, +-2; B^T d of six values, A^T m of six into four), and the loop that runs
 * a kernel's per-thread work image by image. Include only where <immintrin.h> is; the
 * transforms belong in functions compiled for AVX-512.
 */
#ifndef KILN_CPU_CONV_WINOGRAD_TRANSFORMS_H
#define KILN_CPU_CONV_WINOGRAD_TRANSFORMS_H

#include <stdint.h>

#ifdef KILN_HAVE_OPENMP
#include <omp.h>
#endif

/* Runs work(job, image's x, image's y, thread, threads) on `threads` OpenMP threads for
 * each of the n images (x_size and y_size floats each), one parallel region an image. */
typedef void (*kiln_wino_thread_fn)(const void *job, const float *x, float *y, int id, int n);

static inline void kiln_wino_images(kiln_wino_thread_fn work, const void *job, const float *x,
                                    int64_t x_size, float *y, int64_t y_size, int64_t n,
                                    int threads) {
    for (int64_t img = 0; img < n; img++) {
        const float *xi = x + img * x_size;
        float *yi = y + img * y_size;
#ifdef KILN_HAVE_OPENMP
        if (threads > 1) {
#pragma omp parallel num_threads(threads)
            work(job, xi, yi, omp_get_thread_num(), omp_get_num_threads());
            continue;
        }
#else
        (void)threads;
#endif
        work(job, xi, yi, 0, 1);
    }
}

/* r = B^T d for six vectors d (a column or row of a 6x6 patch). */
#define KILN_WINO_BT6(d, r)                                                                        \
    do {                                                                                           \
        __m512 four = _mm512_set1_ps(4.0f), five = _mm512_set1_ps(5.0f),                           \
               two = _mm512_set1_ps(2.0f);                                                         \
        __m512 d4m2 = _mm512_sub_ps(d[4], d[2]), d3m1 = _mm512_sub_ps(d[3], d[1]);                 \
        __m512 bt_a = _mm512_fnmadd_ps(four, d[2], d[4]),                                          \
               bt_b = _mm512_fnmadd_ps(four, d[1], d[3]);                                          \
        r[0] = _mm512_fnmadd_ps(five, d[2], _mm512_fmadd_ps(four, d[0], d[4]));                    \
        r[1] = _mm512_add_ps(bt_a, bt_b);                                                          \
        r[2] = _mm512_sub_ps(bt_a, bt_b);                                                          \
        r[3] = _mm512_fmadd_ps(two, d3m1, d4m2);                                                   \
        r[4] = _mm512_fnmadd_ps(two, d3m1, d4m2);                                                  \
        r[5] = _mm512_fnmadd_ps(five, d[3], _mm512_fmadd_ps(four, d[1], d[5]));                    \
    } while (0)

/* o = A^T m: four vectors from six. */
#define KILN_WINO_AT6(m, o)                                                                        \
    do {                                                                                           \
        __m512 p12 = _mm512_add_ps(m[1], m[2]), m12 = _mm512_sub_ps(m[1], m[2]);                   \
        __m512 p34 = _mm512_add_ps(m[3], m[4]), m34 = _mm512_sub_ps(m[3], m[4]);                   \
        o[0] = _mm512_add_ps(_mm512_add_ps(m[0], p12), p34);                                       \
        o[1] = _mm512_fmadd_ps(_mm512_set1_ps(2.0f), m34, m12);                                    \
        o[2] = _mm512_fmadd_ps(_mm512_set1_ps(4.0f), p34, p12);                                    \
        o[3] = _mm512_add_ps(_mm512_fmadd_ps(_mm512_set1_ps(8.0f), m34, m12), m[5]);               \
    } while (0)

#endif
