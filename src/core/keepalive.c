#include "core/keepalive.h"

#include <stdatomic.h>
#include <stdlib.h>

#include "core/huge_pages.h"

struct kiln_keepalive {
    atomic_int refs;
    kiln_keepalive_owner owner;
};

kiln_keepalive *kiln_keepalive_create(const kiln_keepalive_owner *owner) {
    kiln_keepalive *k = malloc(sizeof *k);
    if (!k) return NULL;
    atomic_init(&k->refs, 1);
    k->owner = *owner;
    return k;
}

void kiln_keepalive_ref(kiln_keepalive *k) {
    atomic_fetch_add_explicit(&k->refs, 1, memory_order_relaxed);
}

void kiln_keepalive_unref(kiln_keepalive *k) {
    if (!k || atomic_fetch_sub_explicit(&k->refs, 1, memory_order_acq_rel) != 1) return;
    if (k->owner.release) k->owner.release(k->owner.owner);
    free(k);
}

int kiln_keepalive_contains(const kiln_keepalive *k, const void *p, size_t n) {
    int file = 0;
    return k && k->owner.contains && k->owner.contains(k->owner.owner, p, n, &file);
}

void kiln_keepalive_drop_pages(const kiln_keepalive *k, const void *p, size_t n) {
    int file = 0;
    if (!k || !k->owner.contains || !k->owner.contains(k->owner.owner, p, n, &file) || !file)
        return;
    /* Clean pages of a read-only private file mapping: MADV_DONTNEED only frees them, the
     * next read maps the file's bytes again. Failure changes nothing but memory use. */
    kiln_pages_release(p, n);
}
