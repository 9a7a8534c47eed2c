/* Which instruction set the vectorized fast paths (nn_fast.h) use. */
#include <stdlib.h>

#include "backends/cpu/nn_fast.h"

static int kiln_fast_forced = KILN_ISA_AUTO;

static int kiln_fast_best(void) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (__builtin_cpu_supports("avx512f")) return KILN_ISA_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return KILN_ISA_AVX2;
#endif
    return KILN_ISA_SCALAR;
}

void kiln_nn_fast_force_isa(int isa) {
    kiln_fast_forced = isa;
}

int kiln_nn_fast_isa(void) {
    int best = kiln_fast_best();
    return kiln_fast_forced >= KILN_ISA_SCALAR && kiln_fast_forced < best ? kiln_fast_forced : best;
}

int64_t kiln_nn_fast_par_min(void) {
    static int64_t min = -1; /* racy first reads all store the same value */
    if (min < 0) {
        const char *v = getenv("KILN_NN_FAST_PAR_MIN");
        long long n = v ? strtoll(v, NULL, 10) : -1;
        min = n >= 0 ? (int64_t)n : KILN_NN_FAST_PAR_MIN;
    }
    return min;
}
