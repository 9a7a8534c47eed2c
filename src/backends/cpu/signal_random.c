/*
 * RandomUniform(Like), RandomNormal(Like), Bernoulli, Multinomial: xoshiro256** streams.
 *
 * A node with a `seed` attribute starts the same stream at every run (the same values each
 * time, as a seeded generator is expected to); without one, each run takes the next value
 * of a process-wide counter as its seed, so runs differ. Values are drawn in double
 * (53-bit uniforms, Box-Muller normals) and rounded to the output dtype. The streams are
 * kiln's own: no other framework's values are reproduced, even with the same seed.
 */
#include <math.h>
#include <stdatomic.h>
#include <string.h>

#include "backends/cpu/cpu_kernel.h"
#include "backends/cpu/signal_fft.h"

typedef struct rng {
    uint64_t s[4];
} rng;

static atomic_uint_fast64_t unseeded_runs;

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline uint64_t rotl(uint64_t x, int k) {
    return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(rng *r) {
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/* Uniform in [0, 1), 53 random bits. */
static inline double rng_uniform(rng *r) {
    return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

static void rng_init(rng *r, const kiln_node *node) {
    const kiln_attr *a = kiln_node_attr(node, "seed");
    uint64_t x;
    if (a && a->type == KILN_ATTR_FLOAT) {
        uint32_t bits;
        memcpy(&bits, &a->f, sizeof bits);
        x = 0x5eed5eed00000000ull ^ bits;
    } else if (a && a->type == KILN_ATTR_INT) {
        x = 0x5eed5eed00000000ull ^ (uint64_t)a->i;
    } else {
        x = 0x6a09e667f3bcc909ull + (uint64_t)atomic_fetch_add(&unseeded_runs, 1);
    }
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

/* Writes a float value; `below` (when finite) is an exclusive upper bound the rounding to
 * the dtype must not reach, so uniforms stay inside [low, high). */
static void store(kiln_tview *y, int64_t i, double v, double below) {
    switch (y->dtype) {
    case KILN_DTYPE_FLOAT32: {
        float f = (float)v;
        if (isfinite(below) && f >= below) f = nextafterf((float)below, -INFINITY);
        ((float *)y->data)[i] = f;
        return;
    }
    case KILN_DTYPE_FLOAT64:
        if (isfinite(below) && v >= below) v = nextafter(below, -INFINITY);
        ((double *)y->data)[i] = v;
        return;
    default:
        kiln_tview_set_double(y, i, v);
        return;
    }
}

static kiln_status uniform_fill(const kiln_node *node, kiln_tview *y) {
    double low = kiln_attr_float(node, "low", 0.0f), high = kiln_attr_float(node, "high", 1.0f);
    double below = high > low ? high : INFINITY;
    rng r;
    rng_init(&r, node);
    int64_t count = kiln_tview_count(y);
    for (int64_t i = 0; i < count; i++) store(y, i, low + rng_uniform(&r) * (high - low), below);
    return KILN_OK;
}

static kiln_status normal_fill(const kiln_node *node, kiln_tview *y) {
    double mean = kiln_attr_float(node, "mean", 0.0f), scale = kiln_attr_float(node, "scale", 1.0f);
    rng r;
    rng_init(&r, node);
    int64_t count = kiln_tview_count(y);
    for (int64_t i = 0; i < count; i += 2) {
        /* Box-Muller: u1 in (0, 1] keeps the log finite. */
        double u1 = 1.0 - rng_uniform(&r), u2 = rng_uniform(&r);
        double rad = sqrt(-2.0 * log(u1)), th = 2.0 * KILN_SIGNAL_PI * u2;
        store(y, i, mean + scale * rad * cos(th), INFINITY);
        if (i + 1 < count) store(y, i + 1, mean + scale * rad * sin(th), INFINITY);
    }
    return KILN_OK;
}

kiln_status kiln_cpu_RandomUniform(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                                   int32_t n_in, kiln_tview *out, int32_t n_out) {
    return uniform_fill(node, &out[0]);
}

kiln_status kiln_cpu_RandomUniformLike(kiln_cpu_ctx *ctx, const kiln_node *node,
                                       const kiln_tview *in, int32_t n_in, kiln_tview *out,
                                       int32_t n_out) {
    return uniform_fill(node, &out[0]);
}

kiln_status kiln_cpu_RandomNormal(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                                  int32_t n_in, kiln_tview *out, int32_t n_out) {
    return normal_fill(node, &out[0]);
}

kiln_status kiln_cpu_RandomNormalLike(kiln_cpu_ctx *ctx, const kiln_node *node,
                                      const kiln_tview *in, int32_t n_in, kiln_tview *out,
                                      int32_t n_out) {
    return normal_fill(node, &out[0]);
}

/* 1 with probability p (the input), else 0. */
kiln_status kiln_cpu_Bernoulli(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                               int32_t n_in, kiln_tview *out, int32_t n_out) {
    rng r;
    rng_init(&r, node);
    int64_t count = kiln_tview_count(&out[0]);
    for (int64_t i = 0; i < count; i++) {
        double p = kiln_tview_get_double(&in[0], i);
        kiln_tview_set_double(&out[0], i, rng_uniform(&r) < p ? 1.0 : 0.0);
    }
    return KILN_OK;
}

/* Each row of the input holds unnormalized log-probabilities of the classes: draw
 * sample_size class indices from softmax(row) by inverting its cumulative sum. */
kiln_status kiln_cpu_Multinomial(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                                 int32_t n_in, kiln_tview *out, int32_t n_out) {
    const kiln_tview *x = &in[0];
    kiln_tview *y = &out[0];
    int64_t batch = x->dims[0], classes = x->dims[1], samples = y->dims[1];
    if (batch * samples == 0) return KILN_OK;
    double *cum = kiln_cpu_scratch(ctx, (size_t)classes * sizeof *cum);
    if (!cum) return kiln_node_error(KILN_ERR_OUT_OF_MEMORY, node, "out of memory");
    rng r;
    rng_init(&r, node);
    for (int64_t b = 0; b < batch; b++) {
        double mx = -INFINITY, total = 0;
        for (int64_t c = 0; c < classes; c++) {
            double v = kiln_tview_get_double(x, b * classes + c);
            if (v > mx) mx = v;
        }
        for (int64_t c = 0; c < classes; c++) {
            double v = kiln_tview_get_double(x, b * classes + c);
            total += isfinite(mx) && !isnan(v) ? exp(v - mx) : 0.0;
            cum[c] = total;
        }
        for (int64_t s = 0; s < samples; s++) {
            int64_t k = 0;
            if (total > 0 && isfinite(total)) {
                /* the first class whose cumulative weight exceeds u */
                double u = rng_uniform(&r) * total;
                int64_t lo = 0, hi = classes - 1;
                while (lo < hi) {
                    int64_t mid = lo + (hi - lo) / 2;
                    if (cum[mid] > u)
                        hi = mid;
                    else
                        lo = mid + 1;
                }
                k = lo;
            }
            kiln_tview_set_int(y, b * samples + s, k);
        }
    }
    return KILN_OK;
}
