/* Helpers of the string kernels (ops_string.def, and Equal on strings). */
#ifndef KILN_CPU_STRING_COMMON_H
#define KILN_CPU_STRING_COMMON_H

#include "backends/cpu/cpu_kernel.h"

static inline const kiln_string *kiln_str_at(const kiln_tview *t, int64_t i) {
    return &((const kiln_string *)t->data)[i];
}

/* The element of `in` that element i of a broadcast output of shape (rank, dims) reads. */
static inline int64_t kiln_str_bcast_index(int32_t rank, const int64_t *dims, const kiln_tview *in,
                                           int64_t i) {
    int64_t index = 0, stride = 1;
    for (int32_t d = rank - 1, k = in->rank - 1; d >= 0; d--, k--) {
        int64_t coord = dims[d] ? i % dims[d] : 0;
        i = dims[d] ? i / dims[d] : 0;
        if (k < 0) continue;
        if (in->dims[k] != 1) index += coord * stride;
        stride *= in->dims[k];
    }
    return index;
}

/* Equal on two string tensors (called by the elementwise Equal kernel). */
kiln_status kiln_cpu_string_equal(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                                  int32_t n_in, kiln_tview *out, int32_t n_out);

#endif
