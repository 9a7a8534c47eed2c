/*
 * The work-sharing pool of the oneDNN kernels (see dnnl_threads.h).
 *
 * One job at a time: the thread that gets the job lock publishes (fn, arg) and a ticket
 * word packing the job's generation, item count and next item; everyone claims items by
 * compare-and-swap on the ticket, so a helper that wakes late (or from an old job) can
 * only claim an item of the current job, and then reads that job's fn and arg, which stay
 * put until all its items are done.
 */
#define _POSIX_C_SOURCE 200809L
#include "backends/cpu/dnnl_threads.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#ifdef KILN_HAVE_OPENMP
#include <omp.h>
#endif

enum { MAX_HELPERS = 63 };

/* ticket: generation (16 bits) | item count (24 bits) | next item (24 bits) */
#define TICKET(gen, n, next) (((uint64_t)(gen) << 48) | ((uint64_t)(n) << 24) | (uint64_t)(next))
#define TICKET_GEN(t)        ((uint32_t)((t) >> 48))
#define TICKET_N(t)          ((int64_t)(((t) >> 24) & 0xffffff))
#define TICKET_NEXT(t)       ((int64_t)((t)&0xffffff))

static pthread_mutex_t job_lock = PTHREAD_MUTEX_INITIALIZER;
static kiln_par_fn job_fn;
static void *job_arg;
static _Atomic uint64_t ticket;
static _Atomic int64_t job_done;
static _Atomic int job_helpers_wanted, job_helpers_joined;
static _Atomic uint32_t epoch; /* the current job's generation; helpers watch it */
static uint32_t generation;    /* written under job_lock */

static pthread_mutex_t sleep_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t sleep_cond = PTHREAD_COND_INITIALIZER;
static _Atomic int sleepers;
static int helper_count; /* under job_lock */
static long spin_ns = -1;

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000000000L + ts.tv_nsec;
}

/* Claims and runs items of job generation `gen` until none are left. */
static void work(uint32_t gen) {
    for (;;) {
        uint64_t t = atomic_load_explicit(&ticket, memory_order_acquire);
        if (TICKET_GEN(t) != gen || TICKET_NEXT(t) >= TICKET_N(t)) return;
        if (!atomic_compare_exchange_weak_explicit(&ticket, &t, t + 1, memory_order_acq_rel,
                                                   memory_order_relaxed))
            continue;
        /* the job cannot finish (nor change) before this item is done */
        job_fn(job_arg, TICKET_NEXT(t));
        atomic_fetch_add_explicit(&job_done, 1, memory_order_release);
    }
}

static void *helper_main(void *unused) {
    (void)unused;
#ifdef KILN_HAVE_OPENMP
    omp_set_num_threads(1); /* oneDNN run from here must not start teams of its own */
#endif
    uint32_t seen = atomic_load(&epoch);
    for (;;) {
        /* spin a little: the next layer's job usually comes within microseconds */
        long t0 = now_ns();
        int spins = 0;
        while (atomic_load_explicit(&epoch, memory_order_acquire) == seen) {
            cpu_relax();
            if (++spins % 64 == 0 && now_ns() - t0 > spin_ns) break;
        }
        if (atomic_load_explicit(&epoch, memory_order_acquire) == seen) {
            pthread_mutex_lock(&sleep_lock);
            atomic_fetch_add(&sleepers, 1);
            while (atomic_load(&epoch) == seen) pthread_cond_wait(&sleep_cond, &sleep_lock);
            atomic_fetch_sub(&sleepers, 1);
            pthread_mutex_unlock(&sleep_lock);
        }
        seen = atomic_load_explicit(&epoch, memory_order_acquire);
        if (atomic_fetch_add(&job_helpers_joined, 1) < atomic_load(&job_helpers_wanted)) work(seen);
    }
    return NULL;
}

/* Starts helpers up to `want` (under job_lock); returns how many there are. */
static int ensure_helpers(int want) {
    if (spin_ns < 0) {
        const char *v = getenv("KILN_SPIN_US");
        long us = v ? strtol(v, NULL, 10) : 100;
        spin_ns = (us < 0 ? 0 : us) * 1000L;
    }
    if (want > MAX_HELPERS) want = MAX_HELPERS;
    while (helper_count < want) {
        pthread_t th;
        pthread_attr_t attr;
        if (pthread_attr_init(&attr)) break;
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        int err = pthread_create(&th, &attr, helper_main, NULL);
        pthread_attr_destroy(&attr);
        if (err) break;
        helper_count++;
    }
    return helper_count;
}

void kiln_par_run(int helpers, int64_t n, kiln_par_fn fn, void *arg) {
    if (helpers <= 0 || n <= 1 || n >= (1 << 24) || pthread_mutex_trylock(&job_lock) != 0) {
        for (int64_t i = 0; i < n; i++) fn(arg, i);
        return;
    }
    helpers = ensure_helpers(helpers) < helpers ? helper_count : helpers;
    if (helpers <= 0) {
        pthread_mutex_unlock(&job_lock);
        for (int64_t i = 0; i < n; i++) fn(arg, i);
        return;
    }
    generation = (generation + 1) & 0xffff;
    job_fn = fn;
    job_arg = arg;
    atomic_store(&job_done, 0);
    atomic_store(&job_helpers_wanted, helpers);
    atomic_store(&job_helpers_joined, 0);
    atomic_store_explicit(&ticket, TICKET(generation, n, 0), memory_order_release);
    /* sequentially consistent, against a helper going to sleep: it counts itself in
     * sleepers before it looks at epoch, we store epoch before we look at sleepers */
    atomic_store(&epoch, generation);
    if (atomic_load(&sleepers) > 0) {
        pthread_mutex_lock(&sleep_lock);
        pthread_cond_broadcast(&sleep_cond);
        pthread_mutex_unlock(&sleep_lock);
    }
    work(generation);
    /* only items a helper is running are left: wait for those */
    for (int spins = 0; atomic_load_explicit(&job_done, memory_order_acquire) < n; spins++) {
        if (spins < 4096)
            cpu_relax();
        else
            sched_yield();
    }
    pthread_mutex_unlock(&job_lock);
}

double kiln_dnnl_split_min_flops(void) {
    /* Read once; a benign race at worst computes the same value twice. */
    static double v = -1.0;
    if (v < 0.0) {
        const char *e = getenv("KILN_DNNL_SPLIT_MIN_FLOPS");
        double d = e ? strtod(e, NULL) : -1.0;
        v = d >= 0.0 ? d : 5e5;
    }
    return v;
}
