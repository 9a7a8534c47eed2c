/*
 * How much of a cold weight stream an FMA loop can hide, with and without software
 * prefetch: the question behind ResNet-50's last two stages at batch 1, where every run
 * reads ~100 MB of weights from memory and each weight vector feeds a few dozen FMAs.
 *
 * Each of 2 threads streams 4 MB of "weights" once, doing 84 FMAs per 128 bytes read (a 1x1
 * convolution on a 7x7 map does 49 per 64), either on the same 4 MB every repetition (hot:
 * the data stays in L2/L3) or walking a 256 MB pool (cold: from memory every time), with
 * prefetcht0 at a few distances ahead of the loads.
 *
 *   gcc -O3 -fopenmp bench/micro/weight_stream.c -o /tmp/weight_stream && /tmp/weight_stream
 *
 * On the project's 2-core AVX-512 VM (2026-11-28, two runs): hot 0.56-0.75 ms; cold
 * 0.97-0.99 ms with no software prefetch (the hardware prefetcher alone: +30-40%), 0.61-0.81
 * ms with prefetch 1-16 KB ahead (+0-14%). oneDNN's jit_1x1 inside ResNet-50 loses about
 * what the no-prefetch case does (0.34 -> 0.45 ms on the 7x7 layers).
 */
#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { TILE = 14 };

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Streams n floats of w, 2 x TILE accumulators fed 3 times per 32 floats; prefetch `ahead`
 * floats ahead (0: none). Returns a sum so that nothing is optimized away. */
__attribute__((target("avx512f"))) static float stream(const float *w, size_t n, int ahead) {
    __m512 acc[2 * TILE], x[TILE];
    for (int i = 0; i < 2 * TILE; i++) acc[i] = _mm512_set1_ps(0.001f * (float)i);
    for (int i = 0; i < TILE; i++) x[i] = _mm512_set1_ps(1.0f + (float)i);
    for (size_t k = 0; k < n; k += 32) {
        if (ahead) {
            _mm_prefetch((const char *)(w + k + ahead), _MM_HINT_T0);
            _mm_prefetch((const char *)(w + k + ahead + 16), _MM_HINT_T0);
        }
        __m512 a = _mm512_load_ps(w + k), b = _mm512_load_ps(w + k + 16);
        for (int rep = 0; rep < 3; rep++)
            for (int p = 0; p < TILE; p++) {
                acc[p] = _mm512_fmadd_ps(rep == 1 ? b : a, x[p], acc[p]);
                acc[TILE + p] = _mm512_fmadd_ps(rep == 1 ? a : b, x[p], acc[TILE + p]);
            }
    }
    __m512 s = acc[0];
    for (int i = 1; i < 2 * TILE; i++) s = _mm512_add_ps(s, acc[i]);
    return _mm512_reduce_add_ps(s);
}

int main(void) {
    const size_t per = (size_t)1 << 20;   /* floats a thread streams: 4 MB */
    const size_t pool = (size_t)64 << 20; /* floats in the cold pool: 256 MB */
    const int reps = 30, aheads[] = {0, 256, 1024, 4096};
    float *buf = aligned_alloc((size_t)2 << 20, pool * sizeof(float));
    if (!buf) return 1;
    memset(buf, 0, pool * sizeof(float));
    for (size_t d = 0; d < sizeof aheads / sizeof aheads[0]; d++) {
        double hot = 0, cold = 0;
        float sink = 0;
        for (int r = 0; r < reps; r++) {
            double t0 = now();
#pragma omp parallel num_threads(2) reduction(+ : sink)
            sink += stream(buf + (size_t)omp_get_thread_num() * per, per, aheads[d]);
            hot += now() - t0;
        }
        size_t off = 0;
        for (int r = 0; r < reps; r++) {
            off = (off + 2 * per) % (pool - 2 * per);
            double t0 = now();
#pragma omp parallel num_threads(2) reduction(+ : sink)
            sink += stream(buf + off + (size_t)omp_get_thread_num() * per, per, aheads[d]);
            cold += now() - t0;
        }
        printf("prefetch %5d floats ahead: hot %.3f ms, cold %.3f ms%s\n", aheads[d],
               hot / reps * 1e3, cold / reps * 1e3, sink == 1.0f ? " " : "");
    }
    free(buf);
    return 0;
}
