/*
 * Long-lived, hot buffers (engine weights, activation arenas) in transparent huge pages.
 *
 * A CPU engine at batch 1 streams its weights from the last-level cache or DRAM on every
 * run (ResNet-50: 100 MB). On 4 KiB pages that walk costs a TLB miss per page, and the
 * hardware prefetchers stop at every page boundary; on 2 MiB pages neither happens.
 * Linux gives huge pages to anonymous mappings that ask for them (madvise MADV_HUGEPAGE,
 * honoured when /sys/kernel/mm/transparent_hugepage/enabled is "always" or "madvise");
 * elsewhere the same calls return ordinary memory.
 *
 * Buffers smaller than a huge page come from aligned_alloc (a 2 MiB mapping for them would
 * waste memory). KILN_HUGE_PAGES=0 in the environment turns huge pages off (for
 * measurements, or machines where they hurt).
 */
#ifndef KILN_CORE_HUGE_PAGES_H
#define KILN_CORE_HUGE_PAGES_H

#include <stddef.h>

/* Alignment of what kiln_huge_alloc returns (the plan's weight alignment). */
#define KILN_HUGE_ALIGNMENT 256u

/* At least n bytes aligned to KILN_HUGE_ALIGNMENT, in huge pages when n is at least one
 * huge page and they are on; NULL when out of memory. Free with kiln_huge_free. */
void *kiln_huge_alloc(size_t n);
void kiln_huge_free(void *p); /* NULL-safe */
/* Whether kiln_huge_alloc(n) would ask for huge pages. */
int kiln_huge_wanted(size_t n);

/* Gives back the whole pages inside [p, p + n), which nobody will read again, to the system
 * (their contents are lost for anonymous memory, re-read for a file mapping). */
void kiln_pages_release(const void *p, size_t n);

#endif
