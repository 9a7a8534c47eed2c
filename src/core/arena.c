#include "core/arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define KILN_ARENA_BLOCK (64 * 1024)

struct kiln_arena_block {
    kiln_arena_block *next;
    size_t used;
    size_t capacity;
    _Alignas(16) unsigned char data[];
};

void kiln_arena_init(kiln_arena *arena) {
    arena->head = NULL;
    arena->total = 0;
}

void kiln_arena_free(kiln_arena *arena) {
    kiln_arena_block *b = arena->head;
    while (b) {
        kiln_arena_block *next = b->next;
        free(b);
        b = next;
    }
    arena->head = NULL;
    arena->total = 0;
}

void *kiln_arena_alloc(kiln_arena *arena, size_t size) {
    if (size > SIZE_MAX - 15 - sizeof(kiln_arena_block)) return NULL;
    size_t rounded = (size + 15) & ~(size_t)15;
    if (rounded == 0) rounded = 16;
    kiln_arena_block *b = arena->head;
    if (!b || b->capacity - b->used < rounded) {
        /* Large requests get a block of their own, so waste stays bounded. */
        size_t capacity = rounded > KILN_ARENA_BLOCK / 4 ? rounded : KILN_ARENA_BLOCK;
        kiln_arena_block *nb = malloc(sizeof *nb + capacity);
        if (!nb) return NULL;
        nb->used = 0;
        nb->capacity = capacity;
        if (b && capacity != KILN_ARENA_BLOCK) {
            /* keep the current partly used block at the head */
            nb->next = b->next;
            b->next = nb;
        } else {
            nb->next = b;
            arena->head = nb;
        }
        b = nb;
    }
    void *p = b->data + b->used;
    b->used += rounded;
    arena->total += rounded;
    memset(p, 0, rounded);
    return p;
}

void *kiln_arena_array(kiln_arena *arena, size_t n, size_t size) {
    if (size != 0 && n > SIZE_MAX / size) return NULL;
    return kiln_arena_alloc(arena, n * size);
}

char *kiln_arena_strndup(kiln_arena *arena, const char *data, size_t size) {
    if (size == SIZE_MAX) return NULL;
    char *s = kiln_arena_alloc(arena, size + 1);
    if (!s) return NULL;
    if (size) memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

char *kiln_arena_strdup(kiln_arena *arena, const char *s) {
    return kiln_arena_strndup(arena, s, strlen(s));
}
