#include "plan/memory_plan.h"

#include <stdlib.h>

typedef struct kiln_mp_item {
    int32_t index;
    uint64_t size;
} kiln_mp_item;

static int kiln_mp_by_size_desc(const void *a, const void *b) {
    const kiln_mp_item *x = a, *y = b;
    if (x->size != y->size) return x->size < y->size ? 1 : -1;
    return x->index - y->index; /* stable, so plans are reproducible */
}

static int kiln_mp_by_offset(const void *a, const void *b) {
    const uint64_t *x = a, *y = b; /* pairs (offset, end) */
    return x[0] < y[0] ? -1 : x[0] > y[0];
}

static uint64_t kiln_mp_align(uint64_t v) {
    return (v + KILN_ARENA_ALIGNMENT - 1) & ~(uint64_t)(KILN_ARENA_ALIGNMENT - 1);
}

kiln_status kiln_memory_plan(int32_t n, const uint64_t *sizes, const int32_t *first,
                             const int32_t *last, uint64_t *offsets, uint64_t *arena_size) {
    kiln_mp_item *items = malloc(sizeof *items * (size_t)(n + 1));
    int32_t *placed = malloc(sizeof *placed * (size_t)(n + 1));
    uint64_t *busy = malloc(sizeof *busy * 2 * (size_t)(n + 1));
    if (!items || !placed || !busy) {
        free(items);
        free(placed);
        free(busy);
        return kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory planning the arena");
    }
    int32_t m = 0;
    for (int32_t i = 0; i < n; i++) {
        offsets[i] = 0;
        if (sizes[i] > 0 && first[i] >= 0) items[m++] = (kiln_mp_item){i, kiln_mp_align(sizes[i])};
    }
    qsort(items, (size_t)m, sizeof *items, kiln_mp_by_size_desc);
    uint64_t total = 0;
    int32_t nplaced = 0;
    for (int32_t k = 0; k < m; k++) {
        int32_t i = items[k].index;
        /* The placed buffers live at the same time as i, sorted by offset. */
        int32_t nb = 0;
        for (int32_t p = 0; p < nplaced; p++) {
            int32_t j = placed[p];
            if (first[j] <= last[i] && first[i] <= last[j]) {
                busy[2 * nb] = offsets[j];
                busy[2 * nb + 1] = offsets[j] + kiln_mp_align(sizes[j]);
                nb++;
            }
        }
        qsort(busy, (size_t)nb, 2 * sizeof *busy, kiln_mp_by_offset);
        uint64_t best = UINT64_MAX, best_gap = UINT64_MAX, cursor = 0;
        for (int32_t b = 0; b < nb; b++) {
            if (busy[2 * b] > cursor) {
                uint64_t gap = busy[2 * b] - cursor;
                if (gap >= items[k].size && gap < best_gap) {
                    best = cursor;
                    best_gap = gap;
                }
            }
            if (busy[2 * b + 1] > cursor) cursor = busy[2 * b + 1];
        }
        if (best == UINT64_MAX) best = cursor; /* no gap fits: after the last live buffer */
        offsets[i] = best;
        if (best + items[k].size > total) total = best + items[k].size;
        placed[nplaced++] = i;
    }
    free(items);
    free(placed);
    free(busy);
    *arena_size = total;
    return KILN_OK;
}

void kiln_memory_alias_lifetimes(int32_t n, const int32_t *alias_of, const int32_t *last,
                                 int32_t *root, int32_t *live_last) {
    for (int32_t i = 0; i < n; i++) {
        int32_t r = i, hops = 0;
        while (alias_of[r] >= 0 && alias_of[r] < n && hops++ < n) r = alias_of[r];
        root[i] = hops > n ? i : r;
        live_last[i] = last[i];
    }
    for (int32_t i = 0; i < n; i++)
        if (live_last[root[i]] < last[i]) live_last[root[i]] = last[i];
}
