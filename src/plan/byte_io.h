/* Little-endian byte buffers for the plan file: a growable writer and a bounds-checked
 * reader whose errors give the byte offset. */
#ifndef KILN_PLAN_BYTE_IO_H
#define KILN_PLAN_BYTE_IO_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

typedef struct kiln_writer {
    uint8_t *data;
    size_t size, capacity;
    int failed; /* out of memory: every later write is dropped, kiln_writer_status tells */
} kiln_writer;

void kiln_writer_init(kiln_writer *w);
void kiln_writer_free(kiln_writer *w);
void kiln_write_bytes(kiln_writer *w, const void *data, size_t n);
void kiln_write_u32(kiln_writer *w, uint32_t v);
void kiln_write_u64(kiln_writer *w, uint64_t v);
void kiln_write_i64(kiln_writer *w, int64_t v);
void kiln_write_f32(kiln_writer *w, float v);
/* u32 length + bytes (no NUL). */
void kiln_write_str(kiln_writer *w, const char *s);
void kiln_write_str_n(kiln_writer *w, const char *s, size_t n);
/* Pads with zeros to a multiple of `alignment`. */
void kiln_write_align(kiln_writer *w, size_t alignment);
kiln_status kiln_writer_status(const kiln_writer *w);

typedef struct kiln_reader {
    const uint8_t *data;
    size_t size, pos;
    size_t base;         /* file offset of data[0], for messages */
    const char *section; /* section name, for messages */
    kiln_status status;  /* first failure; reads after it return zeros */
} kiln_reader;

void kiln_reader_init(kiln_reader *r, const uint8_t *data, size_t size, size_t base,
                      const char *section);
uint32_t kiln_read_u32(kiln_reader *r);
uint64_t kiln_read_u64(kiln_reader *r);
int64_t kiln_read_i64(kiln_reader *r);
float kiln_read_f32(kiln_reader *r);
void kiln_read_bytes(kiln_reader *r, void *out, size_t n);
/* A malloc'ed NUL-terminated copy; NULL on failure (r->status set). */
char *kiln_read_str(kiln_reader *r);
/* A count of items each taking at least `min_item_bytes` in what is left: refuses counts
 * the remaining bytes cannot hold, so hostile files cannot request huge allocations. */
uint32_t kiln_read_count(kiln_reader *r, size_t min_item_bytes, const char *what);
/* Fails the reader with a message at the current offset. */
void kiln_reader_fail(kiln_reader *r, const char *fmt, ...) KILN_PRINTF(2, 3);

/* 64-bit checksum of a byte range (FNV-1a over 8-byte words, then the tail). */
uint64_t kiln_checksum64(const void *data, size_t n);

#endif
