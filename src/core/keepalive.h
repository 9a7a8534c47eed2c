/*
 * Reference-counted owners of borrowed weights.
 *
 * A network imported from ONNX borrows its weights from the model's bytes (a read-only
 * file mapping, or the parser's copy) instead of copying them. A kiln_keepalive stands for
 * the owner of such bytes: every graph with a constant inside them (the network, its
 * subgraphs) holds a reference, and the owner is released with the last one, whatever
 * order the parser and the network are destroyed in. Engines copy the weights once
 * (graph_clone.c) and give the mapping's pages back (kiln_keepalive_drop_pages).
 */
#ifndef KILN_CORE_KEEPALIVE_H
#define KILN_CORE_KEEPALIVE_H

#include <stddef.h>

typedef struct kiln_keepalive kiln_keepalive;

/* What a keepalive needs to know of its owner. */
typedef struct kiln_keepalive_owner {
    void *owner;
    void (*release)(void *owner); /* called once, when the last reference goes */
    /* 1 when [p, p + n) lies in memory the owner keeps; *file = 1 when that memory is a
     * read-only file mapping (its clean pages can be given back and read again later). */
    int (*contains)(void *owner, const void *p, size_t n, int *file);
} kiln_keepalive_owner;

/* A keepalive holding one reference; NULL when out of memory. */
kiln_keepalive *kiln_keepalive_create(const kiln_keepalive_owner *owner);
void kiln_keepalive_ref(kiln_keepalive *k);
/* Drops a reference (NULL-safe); the last one releases the owner. */
void kiln_keepalive_unref(kiln_keepalive *k);
/* Whether [p, p + n) lies in k's memory. */
int kiln_keepalive_contains(const kiln_keepalive *k, const void *p, size_t n);
/* Hints that [p, p + n), in k's memory, will not be read for a while: where it is a file
 * mapping, the whole pages inside it leave the process's resident set (a later read brings
 * them back from the file). Used when a borrowed weight is replaced by a reordered copy, so
 * that the model's pages and the copy are not both resident. */
void kiln_keepalive_drop_pages(const kiln_keepalive *k, const void *p, size_t n);

#endif
