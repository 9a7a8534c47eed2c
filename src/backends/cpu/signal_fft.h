/* The signal family's complex FFT in double: radix-2 for power-of-two lengths, a direct
 * O(n^2) DFT otherwise. Data is interleaved (re, im) pairs. */
#ifndef KILN_CPU_SIGNAL_FFT_H
#define KILN_CPU_SIGNAL_FFT_H

#include <stdint.h>

#include "backends/cpu/cpu_kernel.h"

#define KILN_SIGNAL_PI 3.14159265358979323846

typedef struct kiln_fft_plan {
    int64_t n;
    int pow2;
    const double *tw; /* n twiddles exp(-2 pi i k / n), interleaved */
} kiln_fft_plan;

/* Doubles of the shared twiddle table, and of one line's private buffers (data + work). */
static inline int64_t kiln_fft_table_doubles(int64_t n) {
    return 2 * n;
}
static inline int64_t kiln_fft_line_doubles(int64_t n) {
    return 4 * n;
}

/* Fills `table` (kiln_fft_table_doubles(n) doubles) and the plan. */
void kiln_fft_plan_init(kiln_fft_plan *plan, int64_t n, double *table);

/* In-place unnormalized transform of line[0 .. 2n): forward uses exp(-2 pi i k t / n),
 * inverse exp(+...). `line` is the first 2n doubles of a kiln_fft_line_doubles buffer,
 * the rest is work space. */
void kiln_fft_run(const kiln_fft_plan *plan, double *line, int inverse);

/* One line of an FFT-based op: line `index` with `plan`, in the private buffer `buf`
 * (kiln_fft_line_doubles doubles). */
typedef void (*kiln_fft_line_fn)(void *arg, const kiln_fft_plan *plan, int64_t index, double *buf);

/* Plans transforms of length n in the context's scratch and runs fn on lines
 * [0, count), on the context's threads when the work is worth it, each thread with its
 * own buffer. */
kiln_status kiln_fft_run_lines(kiln_cpu_ctx *ctx, const kiln_node *node, int64_t n, int64_t count,
                               kiln_fft_line_fn fn, void *arg);

#endif
