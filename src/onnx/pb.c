#include "onnx/pb.h"

void kiln_pb_reader_init(kiln_pb_reader *r, kiln_pb_span span) {
    /* An empty span may have no data pointer; pointer arithmetic on NULL is undefined. */
    static const uint8_t kiln_pb_empty[1];
    if (!span.data) {
        span.data = kiln_pb_empty;
        span.size = 0;
    }
    r->begin = span.data;
    r->cur = span.data;
    r->end = span.data + span.size;
    r->offset = span.offset;
}

kiln_status kiln_pb_read_varint(kiln_pb_reader *r, uint64_t *out) {
    size_t start = kiln_pb_reader_offset(r);
    uint64_t value = 0;
    for (int i = 0; i < 10; i++) {
        if (r->cur >= r->end)
            return kiln_error(KILN_ERR_PARSE, "truncated varint at byte offset %zu", start);
        uint8_t byte = *r->cur++;
        /* The tenth byte may only carry the 64th bit. */
        if (i == 9 && byte > 1)
            return kiln_error(KILN_ERR_PARSE, "varint overflows 64 bits at byte offset %zu", start);
        value |= (uint64_t)(byte & 0x7f) << (7 * i);
        if (!(byte & 0x80)) {
            *out = value;
            return KILN_OK;
        }
    }
    return kiln_error(KILN_ERR_PARSE, "varint longer than 10 bytes at byte offset %zu", start);
}

static kiln_status kiln_pb_read_fixed(kiln_pb_reader *r, size_t bytes, uint64_t *out,
                                      uint32_t number) {
    if ((size_t)(r->end - r->cur) < bytes)
        return kiln_error(KILN_ERR_PARSE,
                          "truncated fixed%zu value of field %u at byte offset %zu (%zu bytes "
                          "left)",
                          bytes * 8, number, kiln_pb_reader_offset(r), (size_t)(r->end - r->cur));
    uint64_t v = 0;
    for (size_t i = 0; i < bytes; i++) v |= (uint64_t)r->cur[i] << (8 * i);
    r->cur += bytes;
    *out = v;
    return KILN_OK;
}

/* Reads a key (field number + wire type) and validates it. */
static kiln_status kiln_pb_read_key(kiln_pb_reader *r, uint32_t *number, uint32_t *wire_type) {
    size_t at = kiln_pb_reader_offset(r);
    uint64_t key;
    KILN_TRY(kiln_pb_read_varint(r, &key));
    uint64_t n = key >> 3;
    *wire_type = (uint32_t)(key & 7);
    if (n == 0 || n > KILN_PB_MAX_FIELD_NUMBER)
        return kiln_error(KILN_ERR_PARSE, "invalid field number %llu at byte offset %zu",
                          (unsigned long long)n, at);
    if (*wire_type > KILN_PB_FIXED32)
        return kiln_error(KILN_ERR_PARSE, "invalid wire type %u for field %llu at byte offset %zu",
                          *wire_type, (unsigned long long)n, at);
    *number = (uint32_t)n;
    return KILN_OK;
}

/* Skips a deprecated group up to its matching END_GROUP. Nesting is tracked with a
 * counter rather than recursion, so hostile input cannot exhaust the stack. */
static kiln_status kiln_pb_skip_group(kiln_pb_reader *r, uint32_t number, size_t at) {
    size_t depth = 1;
    while (depth > 0) {
        if (kiln_pb_reader_done(r))
            return kiln_error(KILN_ERR_PARSE, "unterminated group (field %u) at byte offset %zu",
                              number, at);
        uint32_t n = 0, wt = 0;
        KILN_TRY(kiln_pb_read_key(r, &n, &wt));
        uint64_t v;
        switch (wt) {
        case KILN_PB_VARINT:
            KILN_TRY(kiln_pb_read_varint(r, &v));
            break;
        case KILN_PB_FIXED64:
            KILN_TRY(kiln_pb_read_fixed(r, 8, &v, n));
            break;
        case KILN_PB_FIXED32:
            KILN_TRY(kiln_pb_read_fixed(r, 4, &v, n));
            break;
        case KILN_PB_LEN:
            KILN_TRY(kiln_pb_read_varint(r, &v));
            if (v > (uint64_t)(r->end - r->cur))
                return kiln_error(KILN_ERR_PARSE,
                                  "length %llu of field %u runs past the end at byte offset %zu",
                                  (unsigned long long)v, n, kiln_pb_reader_offset(r));
            r->cur += v;
            break;
        case KILN_PB_START_GROUP:
            depth++;
            break;
        case KILN_PB_END_GROUP:
            depth--;
            break;
        }
    }
    return KILN_OK;
}

kiln_status kiln_pb_next_field(kiln_pb_reader *r, kiln_pb_field *out) {
    {
        size_t at = kiln_pb_reader_offset(r);
        uint32_t number = 0, wt = 0;
        KILN_TRY(kiln_pb_read_key(r, &number, &wt));
        out->number = number;
        out->wire_type = wt;
        out->offset = at;
        out->value = 0;
        out->span.data = NULL;
        out->span.size = 0;
        out->span.offset = 0;
        switch (wt) {
        case KILN_PB_VARINT:
            return kiln_pb_read_varint(r, &out->value);
        case KILN_PB_FIXED64:
            return kiln_pb_read_fixed(r, 8, &out->value, number);
        case KILN_PB_FIXED32:
            return kiln_pb_read_fixed(r, 4, &out->value, number);
        case KILN_PB_LEN: {
            uint64_t len;
            KILN_TRY(kiln_pb_read_varint(r, &len));
            size_t left = (size_t)(r->end - r->cur);
            if (len > left)
                return kiln_error(KILN_ERR_PARSE,
                                  "length %llu of field %u at byte offset %zu runs past the end "
                                  "(%zu bytes left)",
                                  (unsigned long long)len, number, at, left);
            out->span.data = r->cur;
            out->span.size = (size_t)len;
            out->span.offset = kiln_pb_reader_offset(r);
            r->cur += len;
            return KILN_OK;
        }
        case KILN_PB_START_GROUP:
            /* Deprecated groups are skipped whole and returned as a field of their own
             * wire type, which no ONNX field has, so readers treat it as unknown. */
            return kiln_pb_skip_group(r, number, at);
        default: /* KILN_PB_END_GROUP without a start */
            return kiln_error(KILN_ERR_PARSE, "unexpected end-group (field %u) at byte offset %zu",
                              number, at);
        }
    }
}

static size_t kiln_pb_fixed_size(uint32_t scalar_wire_type) {
    return scalar_wire_type == KILN_PB_FIXED32 ? 4 : 8;
}

kiln_status kiln_pb_repeated_count(const kiln_pb_field *f, uint32_t scalar_wire_type,
                                   size_t *count) {
    if (f->wire_type == scalar_wire_type) {
        *count = 1;
        return KILN_OK;
    }
    if (f->wire_type != KILN_PB_LEN)
        return kiln_error(KILN_ERR_PARSE,
                          "field %u at byte offset %zu has wire type %u, expected %u or packed",
                          f->number, f->offset, f->wire_type, scalar_wire_type);
    if (scalar_wire_type == KILN_PB_VARINT) {
        /* Every varint ends with a byte below 0x80; the last byte must be one. */
        size_t n = 0;
        for (size_t i = 0; i < f->span.size; i++) n += f->span.data[i] < 0x80;
        if (f->span.size > 0 && f->span.data[f->span.size - 1] >= 0x80)
            return kiln_error(KILN_ERR_PARSE,
                              "packed varints of field %u at byte offset %zu end mid-varint",
                              f->number, f->span.offset);
        *count = n;
        return KILN_OK;
    }
    size_t width = kiln_pb_fixed_size(scalar_wire_type);
    if (f->span.size % width != 0)
        return kiln_error(KILN_ERR_PARSE,
                          "packed fixed%zu field %u at byte offset %zu has %zu bytes, not a "
                          "multiple of %zu",
                          width * 8, f->number, f->span.offset, f->span.size, width);
    *count = f->span.size / width;
    return KILN_OK;
}

kiln_status kiln_pb_repeated_decode(const kiln_pb_field *f, uint32_t scalar_wire_type,
                                    uint64_t *out, size_t capacity, size_t *written) {
    size_t n = 0;
    if (f->wire_type == scalar_wire_type) {
        if (capacity < 1) return kiln_error(KILN_ERR_INTERNAL, "repeated field overflow");
        out[0] = f->value;
        *written = 1;
        return KILN_OK;
    }
    KILN_TRY(kiln_pb_expect(f, KILN_PB_LEN, "packed repeated field"));
    kiln_pb_reader r;
    kiln_pb_reader_init(&r, f->span);
    while (!kiln_pb_reader_done(&r)) {
        if (n >= capacity)
            return kiln_error(KILN_ERR_INTERNAL, "packed field %u holds more than counted",
                              f->number);
        if (scalar_wire_type == KILN_PB_VARINT)
            KILN_TRY(kiln_pb_read_varint(&r, &out[n]));
        else
            KILN_TRY(
                kiln_pb_read_fixed(&r, kiln_pb_fixed_size(scalar_wire_type), &out[n], f->number));
        n++;
    }
    *written = n;
    return KILN_OK;
}

kiln_status kiln_pb_expect(const kiln_pb_field *f, uint32_t wire_type, const char *what) {
    static const char *names[] = {"varint",      "fixed64",   "length-delimited",
                                  "start-group", "end-group", "fixed32"};
    if (f->wire_type == wire_type) return KILN_OK;
    return kiln_error(KILN_ERR_PARSE,
                      "%s (field %u) at byte offset %zu has wire type %s, expected %s", what,
                      f->number, f->offset, names[f->wire_type % 6], names[wire_type % 6]);
}
