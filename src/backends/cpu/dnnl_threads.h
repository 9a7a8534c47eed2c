/*
 * A small work-sharing pool for the oneDNN kernels: a node's work is cut into independent
 * items (a primitive per output-channel or row slice, each run on one thread) that the
 * calling thread and helper threads take as they come.
 *
 * Why not OpenMP: a oneDNN primitive runs one OpenMP parallel region with a static split,
 * so the caller waits at its end for every thread of the team to be woken, scheduled and
 * finished. On a busy machine (or a virtual one) a helper's wake-up can cost more than a
 * small layer, and GOMP's remedy, spinning, takes the CPU the caller needs. Here the caller
 * never waits for a helper that has not started: it takes every item nobody else took, and
 * waits only for items already running. Helpers spin 100 us after a job (the next layer's
 * usually comes within microseconds; KILN_SPIN_US in the environment sets it), then sleep.
 */
#ifndef KILN_CPU_DNNL_THREADS_H
#define KILN_CPU_DNNL_THREADS_H

#include <stdint.h>

typedef void (*kiln_par_fn)(void *arg, int64_t item);

/* Runs fn(arg, i) for every i in [0, n), on the calling thread and at most `helpers` helper
 * threads; returns when all are done. With helpers <= 0, n <= 1, or while another thread
 * holds the pool (contexts running at once), everything runs on the caller. */
void kiln_par_run(int helpers, int64_t n, kiln_par_fn fn, void *arg);

/* Below this much work (flops) a convolution or product is not cut into slices; the
 * environment's KILN_DNNL_SPLIT_MIN_FLOPS overrides it (tests cut tiny ones). */
double kiln_dnnl_split_min_flops(void);

#endif
