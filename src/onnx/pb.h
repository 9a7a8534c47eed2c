/*
 * A bounds-checked decoder for the protobuf wire format (no libprotobuf).
 *
 * Every read checks its length against the buffer it reads from; errors name the field
 * number and the byte offset from the start of the file (readers carry the offset of
 * their first byte, so nested messages still report file offsets).
 */
#ifndef KILN_ONNX_PB_H
#define KILN_ONNX_PB_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

enum {
    KILN_PB_VARINT = 0,
    KILN_PB_FIXED64 = 1,
    KILN_PB_LEN = 2,
    KILN_PB_START_GROUP = 3,
    KILN_PB_END_GROUP = 4,
    KILN_PB_FIXED32 = 5
};

/* Field numbers above this are invalid in protobuf. */
#define KILN_PB_MAX_FIELD_NUMBER ((1u << 29) - 1)

/* A span of bytes inside the file, with its file offset (for error messages). */
typedef struct kiln_pb_span {
    const uint8_t *data;
    size_t size;
    size_t offset;
} kiln_pb_span;

typedef struct kiln_pb_reader {
    const uint8_t *cur;
    const uint8_t *end;
    const uint8_t *begin;
    size_t offset; /* file offset of `begin` */
} kiln_pb_reader;

typedef struct kiln_pb_field {
    uint32_t number;
    uint32_t wire_type;
    uint64_t value;    /* VARINT, FIXED64 and FIXED32 (zero-extended) */
    kiln_pb_span span; /* LEN: the payload */
    size_t offset;     /* file offset of the field's key */
} kiln_pb_field;

void kiln_pb_reader_init(kiln_pb_reader *r, kiln_pb_span span);
static inline int kiln_pb_reader_done(const kiln_pb_reader *r) {
    return r->cur >= r->end;
}
static inline size_t kiln_pb_reader_offset(const kiln_pb_reader *r) {
    return r->offset + (size_t)(r->cur - r->begin);
}

/* A varint of at most 10 bytes whose value fits in 64 bits. */
kiln_status kiln_pb_read_varint(kiln_pb_reader *r, uint64_t *out);
/* The next field, its payload consumed. A deprecated group is skipped whole and returned
 * with wire type START_GROUP; readers ignore it like any unknown field. A stray END_GROUP is
 * an error. Call only when !kiln_pb_reader_done(r). */
kiln_status kiln_pb_next_field(kiln_pb_reader *r, kiln_pb_field *out);

static inline int64_t kiln_pb_zigzag64(uint64_t v) {
    return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}
static inline int32_t kiln_pb_zigzag32(uint32_t v) {
    return (int32_t)(v >> 1) ^ -(int32_t)(v & 1);
}

/* Repeated scalar fields arrive packed (one LEN field) or unpacked (one field each).
 * These helpers take one occurrence of the field and count or decode its elements.
 * `scalar_wire_type` is the element's own wire type (VARINT, FIXED32 or FIXED64). */
kiln_status kiln_pb_repeated_count(const kiln_pb_field *f, uint32_t scalar_wire_type,
                                   size_t *count);
/* Decodes up to `capacity` elements into `out` (as raw 64-bit values: varints as read,
 * fixed32 zero-extended, fixed64 as is) and sets *written. */
kiln_status kiln_pb_repeated_decode(const kiln_pb_field *f, uint32_t scalar_wire_type,
                                    uint64_t *out, size_t capacity, size_t *written);

/* Fails unless `f` has wire type `wire_type`; `what` names the field in the message. */
kiln_status kiln_pb_expect(const kiln_pb_field *f, uint32_t wire_type, const char *what);

#endif
