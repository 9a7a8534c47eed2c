/* The signal family's FFT engine (see signal_fft.h). */
#include "backends/cpu/signal_fft.h"

#include <math.h>
#include <string.h>
#ifdef KILN_HAVE_OPENMP
#include <omp.h>
#endif

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

kiln_status kiln_fft_run_lines(kiln_cpu_ctx *ctx, const kiln_node *node, int64_t n, int64_t count,
                               kiln_fft_line_fn fn, void *arg) {
    int threads = kiln_cpu_threads(ctx);
    int64_t line_d = kiln_fft_line_doubles(n);
    double *scratch = kiln_cpu_scratch(
        ctx, (size_t)(kiln_fft_table_doubles(n) + (int64_t)threads * line_d) * sizeof(double));
    if (!scratch) return kiln_node_error(KILN_ERR_OUT_OF_MEMORY, node, "out of memory");
    kiln_fft_plan plan;
    kiln_fft_plan_init(&plan, n, scratch);
    double *bufs = scratch + kiln_fft_table_doubles(n);
    int64_t work = count * n * (plan.pow2 ? 8 : n);
    (void)work;
#ifdef KILN_HAVE_OPENMP
#pragma omp parallel for num_threads(threads) if (threads > 1 && count > 1 && work > (1 << 16))
#endif
    for (int64_t l = 0; l < count; l++) {
        int tid = 0;
#ifdef KILN_HAVE_OPENMP
        tid = omp_get_thread_num();
#endif
        fn(arg, &plan, l, bufs + (int64_t)tid * line_d);
    }
    return KILN_OK;
}
