/* A bump allocator: many small allocations, freed all at once. */
#ifndef KILN_CORE_ARENA_H
#define KILN_CORE_ARENA_H

#include <stddef.h>

typedef struct kiln_arena_block kiln_arena_block;

typedef struct kiln_arena {
    kiln_arena_block *head;
    size_t total; /* bytes handed out, for reports */
} kiln_arena;

void kiln_arena_init(kiln_arena *arena);
void kiln_arena_free(kiln_arena *arena);
/* Zeroed, 16-byte aligned memory; NULL when out of memory or on overflow. */
void *kiln_arena_alloc(kiln_arena *arena, size_t size);
/* n elements of `size` bytes each, checking n * size for overflow. */
void *kiln_arena_array(kiln_arena *arena, size_t n, size_t size);
/* A NUL-terminated copy of `size` bytes. */
char *kiln_arena_strndup(kiln_arena *arena, const char *data, size_t size);
char *kiln_arena_strdup(kiln_arena *arena, const char *s);

#endif
