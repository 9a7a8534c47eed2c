/* Offline memory planning: tensors with lifetimes share one arena. */
#ifndef KILN_PLAN_MEMORY_PLAN_H
#define KILN_PLAN_MEMORY_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#define KILN_ARENA_ALIGNMENT 64

/*
 * Places `n` buffers in one arena: buffer i is live over steps [first[i], last[i]] and
 * needs sizes[i] bytes (0 or first[i] < 0: not placed, offset 0). Two buffers whose
 * lifetimes overlap never overlap in memory. Greedy by size, best fit: each buffer, largest
 * first, takes the smallest gap (or the lowest end) left by the buffers already placed
 * that are live at the same time. Writes offsets (KILN_ARENA_ALIGNMENT aligned) and the
 * arena size.
 */
kiln_status kiln_memory_plan(int32_t n, const uint64_t *sizes, const int32_t *first,
                             const int32_t *last, uint64_t *offsets, uint64_t *arena_size);

/*
 * Views (zero-copy Reshape and the like): alias_of[i] >= 0 says buffer i is buffer
 * alias_of[i]'s bytes under another name (that one may be a view too); -1: i owns its
 * bytes. Writes root[i], the buffer owning i's bytes, and live_last[i]: last[i], raised
 * for every root to the last step of any of its views, since the bytes must outlive every
 * name they are read under. A view itself needs no memory of its own (plan it with size 0).
 * A chain longer than n (a cycle, which a graph cannot make) is cut: i is its own root.
 */
void kiln_memory_alias_lifetimes(int32_t n, const int32_t *alias_of, const int32_t *last,
                                 int32_t *root, int32_t *live_last);

#endif
