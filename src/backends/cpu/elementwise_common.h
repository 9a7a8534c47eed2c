/*
 * Private helpers of the CPU elementwise kernels (elementwise_*.c): a broadcasting iterator
 * that collapses shapes into (outer rows) x (contiguous inner run), a threaded driver that
 * calls a typed inner loop per run, and an adapter that runs float32 loops on float16 /
 * bfloat16 data through small float buffers.
 *
 * Inner loops see every operand with an element stride of 0 (broadcast) or 1 (contiguous),
 * so a loop written as `if (st[0] && st[1]) ... else if (st[0]) ...` vectorizes each case.
 */
#ifndef KILN_CPU_ELEMENTWISE_COMMON_H
#define KILN_CPU_ELEMENTWISE_COMMON_H

#include <stdbool.h>
#include <string.h>

#include "backends/cpu/cpu_kernel.h"

#define KILN_EW_MAX_IN 3

/* Computes n outputs; in[k] advances st[k] (0 or 1) elements per output. */
typedef void (*kiln_ew_loop_fn)(void *out, const void *const *in, const int64_t *st, int64_t n,
                                const void *params);

/* Operands broadcast to the output shape, with dims collapsed where memory allows. */
typedef struct kiln_ew_iter {
    int32_t n_in;
    int32_t rank; /* >= 1 */
    int64_t dims[KILN_MAX_DIMS];
    int64_t strides[KILN_EW_MAX_IN][KILN_MAX_DIMS]; /* in elements; 0 on broadcast dims */
    int64_t count;                                  /* output elements */
} kiln_ew_iter;

/* Sets up iteration of `out` (dense) over inputs that each broadcast to its shape (numpy
 * rules, aligned at the last dim). An error (naming the node) if one does not. */
kiln_status kiln_ew_iter_init(kiln_ew_iter *it, const kiln_node *node, const kiln_tview *out,
                              const kiln_tview *const *in, int32_t n_in);

/* Runs fn over the whole output, threaded for large outputs. Element sizes in bytes. */
void kiln_ew_run(kiln_cpu_ctx *ctx, const kiln_ew_iter *it, kiln_ew_loop_fn fn, void *out,
                 size_t out_size, const void *const *in, const size_t *in_size, const void *params);

/* Convenience: broadcast `n_in` inputs into out[0] with fn. Element sizes from dtypes. */
kiln_status kiln_ew_apply(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *const *in,
                          int32_t n_in, kiln_tview *out, kiln_ew_loop_fn fn, const void *params);

/*
 * Runs a float32 loop on operands some of which are float16/bfloat16: those are converted
 * through float buffers (the others are passed through), and a float16/bfloat16 output is
 * rounded back. Put one of these in the params of kiln_ew_half_loop.
 */
typedef struct kiln_ew_half {
    kiln_ew_loop_fn fn; /* the float32 loop */
    const void *params; /* its params */
    int32_t n_in;
    kiln_dtype in_dtype[KILN_EW_MAX_IN];
    kiln_dtype out_dtype;
} kiln_ew_half;

void kiln_ew_half_loop(void *out, const void *const *in, const int64_t *st, int64_t n,
                       const void *params);

/* Element size in bytes of a byte-aligned dtype (0 for sub-byte and string types). */
static inline size_t kiln_ew_size(kiln_dtype dt) {
    int32_t bits = kiln_dtype_bits(dt);
    return bits >= 8 && dt != KILN_DTYPE_STRING ? (size_t)bits / 8 : 0;
}

static inline bool kiln_ew_is_half(kiln_dtype dt) {
    return dt == KILN_DTYPE_FLOAT16 || dt == KILN_DTYPE_BFLOAT16;
}

static inline bool kiln_ew_is_float(kiln_dtype dt) {
    return dt == KILN_DTYPE_FLOAT32 || dt == KILN_DTYPE_FLOAT64 || kiln_ew_is_half(dt);
}

static inline bool kiln_ew_is_signed_int(kiln_dtype dt) {
    return dt == KILN_DTYPE_INT8 || dt == KILN_DTYPE_INT16 || dt == KILN_DTYPE_INT32 ||
           dt == KILN_DTYPE_INT64;
}

static inline bool kiln_ew_is_unsigned_int(kiln_dtype dt) {
    return dt == KILN_DTYPE_UINT8 || dt == KILN_DTYPE_UINT16 || dt == KILN_DTYPE_UINT32 ||
           dt == KILN_DTYPE_UINT64;
}

static inline bool kiln_ew_is_int(kiln_dtype dt) {
    return kiln_ew_is_signed_int(dt) || kiln_ew_is_unsigned_int(dt);
}

/*
 * float16 <-> float32 conversions the compiler can inline and vectorize (the same results as
 * kiln_half_to_float / kiln_float_to_half: exact widening; narrowing rounds to nearest even,
 * overflows to infinity, and turns NaN into a quiet NaN of the same sign). After F. Giesen's
 * branch-free versions.
 */
/* c ? a : b on bits, written with masks: plain selects here become branches for GCC */
static inline uint32_t kiln_ew_sel32(bool c, uint32_t a, uint32_t b) {
    uint32_t m = 0u - (uint32_t)c;
    return (a & m) | (b & ~m);
}

static inline float kiln_ew_h2f(uint16_t h) {
    uint32_t o = (uint32_t)(h & 0x7fff) << 13;
    uint32_t exp = o & 0x0f800000u;  /* the exponent, in float position */
    o += (uint32_t)(127 - 15) << 23; /* rebias */
    uint32_t infnan = o + ((uint32_t)(128 - 16) << 23);
    float sub, magic;
    uint32_t sub_bits = o + (1u << 23), magic_bits = 113u << 23;
    memcpy(&sub, &sub_bits, 4);
    memcpy(&magic, &magic_bits, 4);
    sub -= magic; /* renormalizes subnormals (and zero) */
    uint32_t sub_o;
    memcpy(&sub_o, &sub, 4);
    o = kiln_ew_sel32(exp == 0x0f800000u, infnan, kiln_ew_sel32(exp == 0, sub_o, o));
    o |= (uint32_t)(h & 0x8000) << 16;
    float f;
    memcpy(&f, &o, 4);
    return f;
}

static inline uint16_t kiln_ew_f2h(float x) {
    uint32_t f;
    memcpy(&f, &x, 4);
    uint32_t sign = f & 0x80000000u;
    f ^= sign;
    /* infinity or NaN, or a value that rounds to infinity */
    uint32_t big = kiln_ew_sel32(f > 0x7f800000u, 0x7e00u, 0x7c00u);
    /* subnormal results: adding 0.5 (as a float) aligns the mantissa, rounding to even */
    float fa, dm;
    uint32_t dm_bits = ((127u - 15u) + (23u - 10u) + 1u) << 23;
    memcpy(&fa, &f, 4);
    memcpy(&dm, &dm_bits, 4);
    fa += dm;
    uint32_t sub;
    memcpy(&sub, &fa, 4);
    sub -= dm_bits;
    /* normal results: rebias and round to nearest even */
    uint32_t odd = (f >> 13) & 1;
    uint32_t norm = (f + ((uint32_t)(15 - 127) << 23) + 0xfff + odd) >> 13;
    uint32_t o = kiln_ew_sel32(f >= (143u << 23), big, kiln_ew_sel32(f < (113u << 23), sub, norm));
    return (uint16_t)(o | (sign >> 16));
}

static inline float kiln_ew_bf2f(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* float -> bfloat16, rounding to nearest even; NaN stays a quiet NaN */
static inline uint16_t kiln_ew_f2bf(float x) {
    uint32_t f;
    memcpy(&f, &x, 4);
    uint32_t nan = (f >> 16) | 0x40;
    uint32_t r = (f + 0x7fff + ((f >> 16) & 1)) >> 16;
    return (uint16_t)kiln_ew_sel32((f & 0x7fffffffu) > 0x7f800000u, nan, r);
}

/* Index of an integer dtype in the order int8, uint8, int16, uint16, int32, uint32, int64,
 * uint64 (the order of the typed loop tables), or -1. */
static inline int kiln_ew_int_index(kiln_dtype dt) {
    switch (dt) {
    case KILN_DTYPE_INT8:
        return 0;
    case KILN_DTYPE_UINT8:
        return 1;
    case KILN_DTYPE_INT16:
        return 2;
    case KILN_DTYPE_UINT16:
        return 3;
    case KILN_DTYPE_INT32:
        return 4;
    case KILN_DTYPE_UINT32:
        return 5;
    case KILN_DTYPE_INT64:
        return 6;
    case KILN_DTYPE_UINT64:
        return 7;
    default:
        return -1;
    }
}

/* Index of a numeric dtype in the order float32, float64, then the integer order above (the
 * order of the numeric loop tables), or -1. */
static inline int kiln_ew_num_index(kiln_dtype dt) {
    if (dt == KILN_DTYPE_FLOAT32) return 0;
    if (dt == KILN_DTYPE_FLOAT64) return 1;
    int i = kiln_ew_int_index(dt);
    return i < 0 ? -1 : i + 2;
}

/*
 * A binary op resolved for operand dtypes: the loop to run and its params (which may point
 * into the struct itself: resolve in place and do not copy). Used by the binary kernels and
 * by the variadic ones (Max, Min, Sum and Mean run Max, Min, Add pairwise).
 */
typedef struct kiln_ew_binop {
    kiln_ew_loop_fn fn;
    const void *params;
    kiln_ew_half half;
    kiln_dtype mixed[2]; /* operand dtypes of the generic (double) path */
    kiln_dtype out_dtype;
} kiln_ew_binop;

kiln_status kiln_ew_binary_resolve(const kiln_node *node, kiln_op op, kiln_dtype a, kiln_dtype b,
                                   kiln_ew_binop *r);

/* Copies in to out (same dtype and element count) unless they share memory. */
void kiln_ew_copy(kiln_cpu_ctx *ctx, const kiln_tview *in, kiln_tview *out);

/* Reads a scalar operand (first element) of any numeric dtype. */
double kiln_ew_scalar_double(const kiln_tview *t);

#endif
