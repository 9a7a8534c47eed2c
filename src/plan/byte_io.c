#include "plan/byte_io.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void kiln_writer_init(kiln_writer *w) {
    memset(w, 0, sizeof *w);
}

void kiln_writer_free(kiln_writer *w) {
    free(w->data);
    memset(w, 0, sizeof *w);
}

void kiln_write_bytes(kiln_writer *w, const void *data, size_t n) {
    if (w->failed || n == 0) return;
    if (w->size + n > w->capacity) {
        size_t cap = w->capacity ? w->capacity : 4096;
        while (cap < w->size + n) cap *= 2;
        uint8_t *p = realloc(w->data, cap);
        if (!p) {
            w->failed = 1;
            return;
        }
        w->data = p;
        w->capacity = cap;
    }
    if (data) memcpy(w->data + w->size, data, n);
    else memset(w->data + w->size, 0, n);
    w->size += n;
}

/* The plan is little-endian; kiln runs on little-endian hosts, so bytes go as they are. */
void kiln_write_u32(kiln_writer *w, uint32_t v) {
    kiln_write_bytes(w, &v, 4);
}
void kiln_write_u64(kiln_writer *w, uint64_t v) {
    kiln_write_bytes(w, &v, 8);
}
void kiln_write_i64(kiln_writer *w, int64_t v) {
    kiln_write_bytes(w, &v, 8);
}
void kiln_write_f32(kiln_writer *w, float v) {
    kiln_write_bytes(w, &v, 4);
}

void kiln_write_str_n(kiln_writer *w, const char *s, size_t n) {
    kiln_write_u32(w, (uint32_t)n);
    kiln_write_bytes(w, s, n);
}

void kiln_write_str(kiln_writer *w, const char *s) {
    kiln_write_str_n(w, s ? s : "", s ? strlen(s) : 0);
}

void kiln_write_align(kiln_writer *w, size_t alignment) {
    size_t pad = (alignment - w->size % alignment) % alignment;
    kiln_write_bytes(w, NULL, pad);
}

kiln_status kiln_writer_status(const kiln_writer *w) {
    return w->failed ? kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory writing the plan")
                     : KILN_OK;
}

void kiln_reader_init(kiln_reader *r, const uint8_t *data, size_t size, size_t base,
                      const char *section) {
    r->data = data;
    r->size = size;
    r->pos = 0;
    r->base = base;
    r->section = section;
    r->status = KILN_OK;
}

void kiln_reader_fail(kiln_reader *r, const char *fmt, ...) {
    if (r->status != KILN_OK) return;
    char msg[512];
    va_list args;
    va_start(args, fmt);
    vsnprintf(msg, sizeof msg, fmt, args);
    va_end(args);
    r->status = kiln_error(KILN_ERR_PLAN, "corrupted plan: %s section at byte offset %zu: %s",
                           r->section, r->base + r->pos, msg);
}

static int kiln_reader_need(kiln_reader *r, size_t n) {
    if (r->status != KILN_OK) return 0;
    if (n > r->size - r->pos) {
        kiln_reader_fail(r, "needs %zu bytes, %zu left", n, r->size - r->pos);
        return 0;
    }
    return 1;
}

void kiln_read_bytes(kiln_reader *r, void *out, size_t n) {
    if (!kiln_reader_need(r, n)) {
        memset(out, 0, n);
        return;
    }
    memcpy(out, r->data + r->pos, n);
    r->pos += n;
}

uint32_t kiln_read_u32(kiln_reader *r) {
    uint32_t v;
    kiln_read_bytes(r, &v, 4);
    return v;
}
uint64_t kiln_read_u64(kiln_reader *r) {
    uint64_t v;
    kiln_read_bytes(r, &v, 8);
    return v;
}
int64_t kiln_read_i64(kiln_reader *r) {
    int64_t v;
    kiln_read_bytes(r, &v, 8);
    return v;
}
float kiln_read_f32(kiln_reader *r) {
    float v;
    kiln_read_bytes(r, &v, 4);
    return v;
}

char *kiln_read_str(kiln_reader *r) {
    uint32_t n = kiln_read_u32(r);
    if (!kiln_reader_need(r, n)) return NULL;
    char *s = malloc((size_t)n + 1);
    if (!s) {
        r->status = kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory reading the plan");
        return NULL;
    }
    memcpy(s, r->data + r->pos, n);
    s[n] = '\0';
    r->pos += n;
    return s;
}

uint32_t kiln_read_count(kiln_reader *r, size_t min_item_bytes, const char *what) {
    uint32_t n = kiln_read_u32(r);
    if (r->status != KILN_OK) return 0;
    if (min_item_bytes && (size_t)n > (r->size - r->pos) / min_item_bytes) {
        kiln_reader_fail(r, "%u %s cannot fit in the %zu bytes left", n, what, r->size - r->pos);
        return 0;
    }
    return n;
}

uint64_t kiln_checksum64(const void *data, size_t n) {
    const uint8_t *p = data;
    uint64_t h = 0xcbf29ce484222325ull;
    size_t words = n / 8;
    for (size_t i = 0; i < words; i++) {
        uint64_t w;
        memcpy(&w, p + 8 * i, 8);
        h = (h ^ w) * 0x100000001b3ull;
        h ^= h >> 29;
    }
    for (size_t i = words * 8; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
    return h ^ (uint64_t)n;
}
