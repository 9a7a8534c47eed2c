/* mmap, madvise */
#define _DEFAULT_SOURCE
#include "core/huge_pages.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define KILN_HUGE_PAGE ((size_t)2 << 20)

/* Sits just before the pointer handed out, so kiln_huge_free needs no size. The header takes
 * KILN_HUGE_ALIGNMENT bytes, keeping the data aligned. */
typedef struct kiln_huge_header {
    void *base;    /* what to unmap or free */
    size_t mapped; /* bytes mapped; 0 when base came from aligned_alloc */
} kiln_huge_header;

_Static_assert(sizeof(kiln_huge_header) <= KILN_HUGE_ALIGNMENT, "header fits its slot");

static int kiln_huge_enabled(void) {
    static int enabled = -1; /* the environment is read once */
    if (enabled < 0) {
        const char *v = getenv("KILN_HUGE_PAGES");
        enabled = !(v && (strcmp(v, "0") == 0 || strcmp(v, "off") == 0));
    }
    return enabled;
}

int kiln_huge_wanted(size_t n) {
    return n >= KILN_HUGE_PAGE && kiln_huge_enabled();
}

static void *kiln_huge_map(size_t need) {
#ifdef MADV_HUGEPAGE
    /* Map one huge page more than needed and trim both ends, so the mapping starts on a
     * huge-page boundary and every 2 MiB of it can be one huge page. */
    size_t size = (need + KILN_HUGE_PAGE - 1) / KILN_HUGE_PAGE * KILN_HUGE_PAGE;
    if (size < need || size > SIZE_MAX - KILN_HUGE_PAGE) return NULL;
    uint8_t *raw = mmap(NULL, size + KILN_HUGE_PAGE, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) return NULL;
    uintptr_t start = ((uintptr_t)raw + KILN_HUGE_PAGE - 1) & ~(uintptr_t)(KILN_HUGE_PAGE - 1);
    uint8_t *base = (uint8_t *)start;
    if (base > raw) munmap(raw, (size_t)(base - raw));
    size_t tail = (size_t)(raw + size + KILN_HUGE_PAGE - (base + size));
    if (tail) munmap(base + size, tail);
    (void)madvise(base, size, MADV_HUGEPAGE); /* a hint: without THP the pages are small */
    kiln_huge_header *h = (kiln_huge_header *)base;
    h->base = base;
    h->mapped = size;
    return base + KILN_HUGE_ALIGNMENT;
#else
    (void)need;
    return NULL;
#endif
}

void *kiln_huge_alloc(size_t n) {
    if (n > SIZE_MAX - 2 * KILN_HUGE_ALIGNMENT) return NULL;
    size_t need = KILN_HUGE_ALIGNMENT +
                  (n + KILN_HUGE_ALIGNMENT - 1) / KILN_HUGE_ALIGNMENT * KILN_HUGE_ALIGNMENT;
    if (kiln_huge_wanted(n)) {
        void *p = kiln_huge_map(need);
        if (p) return p;
    }
    uint8_t *base = aligned_alloc(KILN_HUGE_ALIGNMENT, need);
    if (!base) return NULL;
    kiln_huge_header *h = (kiln_huge_header *)base;
    h->base = base;
    h->mapped = 0;
    return base + KILN_HUGE_ALIGNMENT;
}

void kiln_huge_free(void *p) {
    if (!p) return;
    kiln_huge_header *h = (kiln_huge_header *)((uint8_t *)p - KILN_HUGE_ALIGNMENT);
    if (h->mapped)
        munmap(h->base, h->mapped);
    else
        free(h->base);
}

void kiln_pages_release(const void *p, size_t n) {
    long page = sysconf(_SC_PAGESIZE);
    if (page <= 0 || !p) return;
    uintptr_t start = ((uintptr_t)p + (uintptr_t)page - 1) & ~(uintptr_t)(page - 1);
    uintptr_t end = ((uintptr_t)p + n) & ~(uintptr_t)(page - 1);
    if (end > start) (void)madvise((void *)start, end - start, MADV_DONTNEED);
}
