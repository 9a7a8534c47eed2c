/* The signal family's FFT engine (see signal_fft.h). */
#include "backends/cpu/signal_fft.h"

#include <math.h>
#include <string.h>

void kiln_fft_plan_init(kiln_fft_plan *plan, int64_t n, double *table) {
    plan->n = n;
    plan->pow2 = n > 0 && (n & (n - 1)) == 0;
    /* Each twiddle from its own angle: no error accumulates along the table. */
    for (int64_t k = 0; k < n; k++) {
        double a = -2.0 * KILN_SIGNAL_PI * (double)k / (double)n;
        table[2 * k] = cos(a);
        table[2 * k + 1] = sin(a);
    }
    plan->tw = table;
}

/* Iterative Cooley-Tukey: bit-reversal permutation, then butterflies of growing span. */
static void fft_radix2(const kiln_fft_plan *plan, double *x, int inverse) {
    int64_t n = plan->n;
    for (int64_t i = 1, j = 0; i < n; i++) {
        int64_t bit = n >> 1;
        for (; j & bit; bit >>= 1) j ^= bit;
        j ^= bit;
        if (i < j) {
            double tr = x[2 * i], ti = x[2 * i + 1];
            x[2 * i] = x[2 * j], x[2 * i + 1] = x[2 * j + 1];
            x[2 * j] = tr, x[2 * j + 1] = ti;
        }
    }
    double sign = inverse ? -1.0 : 1.0;
    for (int64_t len = 2; len <= n; len <<= 1) {
        int64_t half = len >> 1, step = n / len;
        for (int64_t s = 0; s < n; s += len) {
            for (int64_t j = 0; j < half; j++) {
                double wr = plan->tw[2 * j * step], wi = sign * plan->tw[2 * j * step + 1];
                double *a = x + 2 * (s + j), *b = x + 2 * (s + j + half);
                double br = b[0] * wr - b[1] * wi, bi = b[0] * wi + b[1] * wr;
                b[0] = a[0] - br, b[1] = a[1] - bi;
                a[0] += br, a[1] += bi;
            }
        }
    }
}

/* y[k] = sum_t x[t] w^(k t), the exponent reduced mod n so the table is exact. */
static void dft_direct(const kiln_fft_plan *plan, double *x, double *work, int inverse) {
    int64_t n = plan->n;
    double sign = inverse ? -1.0 : 1.0;
    for (int64_t k = 0; k < n; k++) {
        double re = 0, im = 0;
        int64_t idx = 0;
        for (int64_t t = 0; t < n; t++) {
            double wr = plan->tw[2 * idx], wi = sign * plan->tw[2 * idx + 1];
            re += x[2 * t] * wr - x[2 * t + 1] * wi;
            im += x[2 * t] * wi + x[2 * t + 1] * wr;
            idx += k;
            if (idx >= n) idx -= n;
        }
        work[2 * k] = re, work[2 * k + 1] = im;
    }
    memcpy(x, work, (size_t)(2 * n) * sizeof *x);
}

void kiln_fft_run(const kiln_fft_plan *plan, double *line, int inverse) {
    if (plan->n <= 1) return;
    if (plan->pow2)
        fft_radix2(plan, line, inverse);
    else
        dft_direct(plan, line, line + 2 * plan->n, inverse);
}
