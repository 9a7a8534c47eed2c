/* Helpers of the sequence and optional kernels. */
#ifndef KILN_CPU_SEQUENCE_COMMON_H
#define KILN_CPU_SEQUENCE_COMMON_H

#include "backends/cpu/cpu_kernel.h"

/* A position input (int32/int64, one element) normalized against a sequence of `count`
 * items: negative positions count from the end; the result must lie in [0, limit]. */
static inline kiln_status kiln_seq_position(const kiln_node *node, const kiln_tview *pos,
                                            int32_t count, int32_t limit, int32_t *out) {
    if (kiln_tview_count(pos) != 1)
        return kiln_shape_error(node, "the position must hold one element");
    int64_t p = kiln_tview_get_int(pos, 0);
    int64_t q = p < 0 ? p + count : p;
    if (q < 0 || q > limit)
        return kiln_shape_error(node, "position %lld is out of range for a sequence of %d",
                                (long long)p, count);
    *out = (int32_t)q;
    return KILN_OK;
}

#endif
