/* Unit test of the protobuf wire-format decoder (src/onnx/pb.c), on hand-built buffers. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx/pb.h"
#include "test_util.h"

/* Readers in this test start at this file offset, so offsets checked are file-absolute. */
#define BASE 1000u

/* ---- a tiny encoder ---------------------------------------------------------------- */

typedef struct buf {
    uint8_t b[1024];
    size_t n;
} buf;

static void put_byte(buf *w, uint8_t v) {
    if (w->n < sizeof w->b) w->b[w->n] = v;
    w->n++;
}

static void put_varint(buf *w, uint64_t v) {
    while (v >= 0x80) {
        put_byte(w, (uint8_t)(v | 0x80));
        v >>= 7;
    }
    put_byte(w, (uint8_t)v);
}

static void put_key(buf *w, uint32_t number, uint32_t wire_type) {
    put_varint(w, ((uint64_t)number << 3) | wire_type);
}

static void put_fixed(buf *w, uint64_t v, size_t bytes) {
    for (size_t i = 0; i < bytes; i++) put_byte(w, (uint8_t)(v >> (8 * i)));
}

static void put_fixed32(buf *w, uint32_t v) {
    put_fixed(w, v, 4);
}

static void put_fixed64(buf *w, uint64_t v) {
    put_fixed(w, v, 8);
}

static void put_bytes(buf *w, const uint8_t *data, size_t size) {
    for (size_t i = 0; i < size; i++) put_byte(w, data[i]);
}

static void put_len(buf *w, uint32_t number, const uint8_t *data, size_t size) {
    put_key(w, number, KILN_PB_LEN);
    put_varint(w, size);
    put_bytes(w, data, size);
}

static kiln_pb_span span_at(const uint8_t *data, size_t size, size_t offset) {
    kiln_pb_span s = {data, size, offset};
    return s;
}

/* A heap copy of exactly `size` bytes, so valgrind catches any read past the end. */
static uint8_t *exact_copy(const uint8_t *data, size_t size) {
    uint8_t *p = malloc(size ? size : 1);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    if (size) memcpy(p, data, size);
    return p;
}

/* Decodes every field of `data` (at file offset `base`) into `fields` (up to `cap`), and
 * sets *count to the number decoded successfully. Checks on the way that the reader never
 * leaves its buffer and always makes progress. */
static kiln_status decode_all(const uint8_t *data, size_t size, size_t base, kiln_pb_field *fields,
                              size_t cap, size_t *count) {
    kiln_pb_reader r;
    kiln_pb_reader_init(&r, span_at(data, size, base));
    *count = 0;
    while (!kiln_pb_reader_done(&r)) {
        kiln_pb_field f;
        const uint8_t *before = r.cur;
        size_t at = kiln_pb_reader_offset(&r);
        kiln_status st = kiln_pb_next_field(&r, &f);
        EXPECT(r.cur >= r.begin && r.cur <= r.end);
        if (st != KILN_OK) return st;
        EXPECT(r.cur > before);
        EXPECT_EQ_INT(f.offset, at);
        if (f.wire_type == KILN_PB_LEN) {
            EXPECT(f.span.data >= data && f.span.data + f.span.size <= data + size);
            EXPECT_EQ_INT(f.span.offset, base + (size_t)(f.span.data - data));
        }
        if (*count < cap) fields[*count] = f;
        (*count)++;
    }
    return KILN_OK;
}

/* Decodes one field from the start of `w`; expects the given status. */
static kiln_status decode_one(const buf *w, kiln_pb_field *f, kiln_pb_reader *r) {
    kiln_pb_reader_init(r, span_at(w->b, w->n, BASE));
    kiln_clear_error();
    return kiln_pb_next_field(r, f);
}

/* Expects `st` to be KILN_ERR_PARSE with a message containing each of the given words. */
#define EXPECT_PARSE_ERROR(st, ...)                                                                \
    do {                                                                                           \
        EXPECT_EQ_INT((st), KILN_ERR_PARSE);                                                       \
        const char *words_[] = {__VA_ARGS__};                                                      \
        for (size_t w_ = 0; w_ < sizeof words_ / sizeof words_[0]; w_++)                           \
            EXPECT_STR_CONTAINS(kiln_last_error(), words_[w_]);                                    \
    } while (0)

/* ---- single values of each wire type ------------------------------------------------ */

static void test_varints(void) {
    static const uint64_t values[] = {0,     1,     127,         128,        300,
                                      16383, 16384, 0xFFFFFFFFu, 1ull << 63, UINT64_MAX};
    static const size_t lengths[] = {1, 1, 1, 2, 2, 2, 3, 5, 10, 10};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        buf w = {{0}, 0};
        put_varint(&w, values[i]);
        EXPECT_EQ_INT(w.n, lengths[i]);
        kiln_pb_reader r;
        kiln_pb_reader_init(&r, span_at(w.b, w.n, BASE));
        uint64_t v = 12345;
        EXPECT_EQ_INT(kiln_pb_read_varint(&r, &v), KILN_OK);
        EXPECT(v == values[i]);
        EXPECT(kiln_pb_reader_done(&r));
        EXPECT_EQ_INT(kiln_pb_reader_offset(&r), BASE + lengths[i]);

        /* The same value as a VARINT field. */
        buf f = {{0}, 0};
        put_key(&f, 1, KILN_PB_VARINT);
        put_varint(&f, values[i]);
        kiln_pb_field field;
        EXPECT_EQ_INT(decode_one(&f, &field, &r), KILN_OK);
        EXPECT_EQ_INT(field.number, 1);
        EXPECT_EQ_INT(field.wire_type, KILN_PB_VARINT);
        EXPECT(field.value == values[i]);
        EXPECT_EQ_INT(field.offset, BASE);
        EXPECT(kiln_pb_reader_done(&r));
    }

    /* UINT64_MAX is nine 0xFF bytes and a final 0x01. */
    {
        static const uint8_t max[10] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
        kiln_pb_reader r;
        kiln_pb_reader_init(&r, span_at(max, sizeof max, 0));
        uint64_t v = 0;
        EXPECT_EQ_INT(kiln_pb_read_varint(&r, &v), KILN_OK);
        EXPECT(v == UINT64_MAX);
    }
    /* A redundant (non-canonical) encoding of 0 is still a valid varint. */
    {
        static const uint8_t zero[3] = {0x80, 0x80, 0x00};
        kiln_pb_reader r;
        kiln_pb_reader_init(&r, span_at(zero, sizeof zero, 0));
        uint64_t v = 99;
        EXPECT_EQ_INT(kiln_pb_read_varint(&r, &v), KILN_OK);
        EXPECT(v == 0);
        EXPECT(kiln_pb_reader_done(&r));
    }
    /* Two varints back to back. */
    {
        buf w = {{0}, 0};
        put_varint(&w, 300);
        put_varint(&w, 5);
        kiln_pb_reader r;
        kiln_pb_reader_init(&r, span_at(w.b, w.n, BASE));
        uint64_t a = 0, b = 0;
        EXPECT_EQ_INT(kiln_pb_read_varint(&r, &a), KILN_OK);
        EXPECT_EQ_INT(kiln_pb_reader_offset(&r), BASE + 2);
        EXPECT_EQ_INT(kiln_pb_read_varint(&r, &b), KILN_OK);
        EXPECT_EQ_INT(a, 300);
        EXPECT_EQ_INT(b, 5);
        EXPECT(kiln_pb_reader_done(&r));
    }
}

static void test_varint_errors(void) {
    kiln_pb_reader r;
    uint64_t v;

    /* An 11-byte varint: ten continuation bytes, then 0x01. */
    {
        uint8_t b[11];
        memset(b, 0xff, 10);
        b[10] = 0x01;
        kiln_pb_reader_init(&r, span_at(b, sizeof b, BASE));
        kiln_clear_error();
        EXPECT_PARSE_ERROR(kiln_pb_read_varint(&r, &v), "varint", "byte offset 1000");
        EXPECT(r.cur <= r.end);
    }
    /* An 11-byte varint whose 10th byte is a bare continuation bit (0x80). */
    {
        uint8_t b[11];
        memset(b, 0x80, 10);
        b[10] = 0x00;
        kiln_pb_reader_init(&r, span_at(b, sizeof b, BASE));
        kiln_clear_error();
        EXPECT_PARSE_ERROR(kiln_pb_read_varint(&r, &v), "varint", "byte offset 1000");
    }
    /* 10 bytes whose last byte is > 1: the value would need more than 64 bits. */
    for (uint8_t last = 2; last < 0x80; last = (uint8_t)(last * 2 + 1)) {
        uint8_t b[10];
        memset(b, 0xff, 9);
        b[9] = last;
        kiln_pb_reader_init(&r, span_at(b, sizeof b, BASE));
        kiln_clear_error();
        EXPECT_PARSE_ERROR(kiln_pb_read_varint(&r, &v), "overflows", "byte offset 1000");
    }
    /* The overflow offset names the start of the varint, here the value after a key. */
    {
        buf w = {{0}, 0};
        put_key(&w, 3, KILN_PB_VARINT);
        for (int i = 0; i < 9; i++) put_byte(&w, 0x80);
        put_byte(&w, 0x02);
        kiln_pb_field f;
        EXPECT_PARSE_ERROR(decode_one(&w, &f, &r), "overflows", "byte offset 1001");
    }
    /* Truncated: a continuation byte at the end of the buffer, and an empty buffer. */
    {
        static const uint8_t b[2] = {0x96, 0x81};
        kiln_pb_reader_init(&r, span_at(b, sizeof b, BASE));
        kiln_clear_error();
        EXPECT_PARSE_ERROR(kiln_pb_read_varint(&r, &v), "truncated varint", "byte offset 1000");
        EXPECT(r.cur == r.end);
        kiln_pb_reader_init(&r, span_at(b, 0, BASE + 7));
        kiln_clear_error();
        EXPECT_PARSE_ERROR(kiln_pb_read_varint(&r, &v), "truncated varint", "byte offset 1007");
        EXPECT(r.cur == r.end);
    }
}

static void test_fixed(void) {
    kiln_pb_reader r;
    kiln_pb_field f;
    {
        buf w = {{0}, 0};
        put_key(&w, 2, KILN_PB_FIXED32);
        put_fixed32(&w, 0xDEADBEEFu);
        EXPECT_EQ_INT(w.n, 5);
        EXPECT_EQ_INT(decode_one(&w, &f, &r), KILN_OK);
        EXPECT_EQ_INT(f.number, 2);
        EXPECT_EQ_INT(f.wire_type, KILN_PB_FIXED32);
        EXPECT(f.value == 0xDEADBEEFu); /* zero-extended */
        EXPECT(kiln_pb_reader_done(&r));
    }
    {
        buf w = {{0}, 0};
        put_key(&w, 3, KILN_PB_FIXED64);
        put_fixed64(&w, 0x0123456789ABCDEFull);
        EXPECT_EQ_INT(w.n, 9);
        EXPECT_EQ_INT(decode_one(&w, &f, &r), KILN_OK);
        EXPECT_EQ_INT(f.number, 3);
        EXPECT_EQ_INT(f.wire_type, KILN_PB_FIXED64);
        EXPECT(f.value == 0x0123456789ABCDEFull);
        EXPECT(kiln_pb_reader_done(&r));
    }
    /* Float bits survive as raw little-endian values. */
    {
        float one = 1.0f;
        uint32_t bits;
        memcpy(&bits, &one, 4);
        buf w = {{0}, 0};
        put_key(&w, 4, KILN_PB_FIXED32);
        put_fixed32(&w, bits);
        EXPECT_EQ_INT(decode_one(&w, &f, &r), KILN_OK);
        EXPECT_EQ_INT(f.value, 0x3F800000);
    }
    /* Truncated fixed values name the field and the offset. */
    {
        buf w = {{0}, 0};
        put_key(&w, 11, KILN_PB_FIXED32);
        put_fixed(&w, 0x010203, 3);
        EXPECT_PARSE_ERROR(decode_one(&w, &f, &r), "fixed32", "field 11", "byte offset 1001");
    }
    {
        buf w = {{0}, 0};
        put_key(&w, 12, KILN_PB_FIXED64);
        put_fixed(&w, 0x01020304050607, 7);
        EXPECT_PARSE_ERROR(decode_one(&w, &f, &r), "fixed64", "field 12", "byte offset 1001");
    }
}

static void test_len(void) {
    kiln_pb_reader r;
    kiln_pb_field f;
    /* Non-empty payload, after some leading bytes so the offset is not the buffer start. */
    {
        static const uint8_t payload[] = "hello";
        buf w = {{0}, 0};
        put_key(&w, 1, KILN_PB_VARINT);
        put_varint(&w, 7);
        put_len(&w, 4, payload, 5);
        kiln_pb_reader_init(&r, span_at(w.b, w.n, BASE));
        EXPECT_EQ_INT(kiln_pb_next_field(&r, &f), KILN_OK);
        EXPECT_EQ_INT(kiln_pb_next_field(&r, &f), KILN_OK);
        EXPECT_EQ_INT(f.number, 4);
        EXPECT_EQ_INT(f.wire_type, KILN_PB_LEN);
        EXPECT_EQ_INT(f.offset, BASE + 2);
        EXPECT(f.span.data == w.b + 4);
        EXPECT_EQ_INT(f.span.size, 5);
        EXPECT_EQ_INT(f.span.offset, BASE + 4);
        EXPECT(memcmp(f.span.data, "hello", 5) == 0);
        EXPECT(kiln_pb_reader_done(&r));
    }
    /* Empty payload. */
    {
        buf w = {{0}, 0};
        put_len(&w, 9, NULL, 0);
        EXPECT_EQ_INT(w.n, 2);
        EXPECT_EQ_INT(decode_one(&w, &f, &r), KILN_OK);
        EXPECT_EQ_INT(f.number, 9);
        EXPECT_EQ_INT(f.wire_type, KILN_PB_LEN);
        EXPECT_EQ_INT(f.span.size, 0);
        EXPECT_EQ_INT(f.span.offset, BASE + 2);
        EXPECT(f.span.data == w.b + 2);
        EXPECT(kiln_pb_reader_done(&r));
    }
    /* A payload whose length needs a two-byte varint (200 bytes). */
    {
        uint8_t payload[200];
        for (size_t i = 0; i < sizeof payload; i++) payload[i] = (uint8_t)i;
        buf w = {{0}, 0};
        put_len(&w, 16, payload, sizeof payload); /* field 16: a two-byte key */
        EXPECT_EQ_INT(decode_one(&w, &f, &r), KILN_OK);
        EXPECT_EQ_INT(f.number, 16);
        EXPECT_EQ_INT(f.span.size, 200);
        EXPECT_EQ_INT(f.span.offset, BASE + 4);
        EXPECT(memcmp(f.span.data, payload, sizeof payload) == 0);
    }
    /* Nested messages: a reader over a payload reports file-absolute offsets. */
    {
        buf inner = {{0}, 0};
        put_key(&inner, 1, KILN_PB_VARINT);
        put_varint(&inner, 150);
        put_key(&inner, 2, KILN_PB_FIXED32);
        put_fixed32(&inner, 7);
        buf w = {{0}, 0};
        put_key(&w, 5, KILN_PB_FIXED64);
        put_fixed64(&w, 1);
        put_len(&w, 6, inner.b, inner.n);
        kiln_pb_reader_init(&r, span_at(w.b, w.n, BASE));
        EXPECT_EQ_INT(kiln_pb_next_field(&r, &f), KILN_OK);
        EXPECT_EQ_INT(kiln_pb_next_field(&r, &f), KILN_OK);
        EXPECT_EQ_INT(f.span.offset, BASE + 11);
        kiln_pb_reader sub;
        kiln_pb_reader_init(&sub, f.span);
        kiln_pb_field g;
        EXPECT_EQ_INT(kiln_pb_next_field(&sub, &g), KILN_OK);
        EXPECT_EQ_INT(g.number, 1);
        EXPECT_EQ_INT(g.value, 150);
        EXPECT_EQ_INT(g.offset, BASE + 11);
        EXPECT_EQ_INT(kiln_pb_next_field(&sub, &g), KILN_OK);
        EXPECT_EQ_INT(g.number, 2);
        EXPECT_EQ_INT(g.value, 7);
        EXPECT_EQ_INT(g.offset, BASE + 14);
        EXPECT(kiln_pb_reader_done(&sub));
        EXPECT_EQ_INT(kiln_pb_reader_offset(&sub), BASE + w.n);
    }
}

static void test_zigzag(void) {
    EXPECT_EQ_INT(kiln_pb_zigzag32(0), 0);
    EXPECT_EQ_INT(kiln_pb_zigzag32(1), -1);
    EXPECT_EQ_INT(kiln_pb_zigzag32(2), 1);
    EXPECT_EQ_INT(kiln_pb_zigzag32(3), -2);
    EXPECT_EQ_INT(kiln_pb_zigzag32(4294967294u), INT32_MAX);
    EXPECT_EQ_INT(kiln_pb_zigzag32(4294967295u), INT32_MIN);
    EXPECT_EQ_INT(kiln_pb_zigzag64(0), 0);
    EXPECT_EQ_INT(kiln_pb_zigzag64(1), -1);
    EXPECT_EQ_INT(kiln_pb_zigzag64(2), 1);
    EXPECT_EQ_INT(kiln_pb_zigzag64(3), -2);
    EXPECT_EQ_INT(kiln_pb_zigzag64(4294967294u), INT32_MAX);
    EXPECT_EQ_INT(kiln_pb_zigzag64(4294967295u), INT32_MIN);
    EXPECT(kiln_pb_zigzag64(UINT64_MAX - 1) == INT64_MAX);
    EXPECT(kiln_pb_zigzag64(UINT64_MAX) == INT64_MIN);
    /* Round trip through the encoding (n << 1) ^ (n >> 63). */
    static const int64_t samples[] = {0, 1, -1, 63, -64, 1000000, -1000000, INT64_MAX, INT64_MIN};
    for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
        int64_t n = samples[i];
        uint64_t enc = ((uint64_t)n << 1) ^ (n < 0 ? UINT64_MAX : 0);
        EXPECT(kiln_pb_zigzag64(enc) == n);
        if (n >= INT32_MIN && n <= INT32_MAX) EXPECT(kiln_pb_zigzag32((uint32_t)enc) == n);
    }
}

/* ---- truncation at every byte -------------------------------------------------------- */

static void test_truncation(void) {
    buf w = {{0}, 0};
    size_t bounds[32];
    size_t nb = 0;
    bounds[nb++] = 0;

    put_key(&w, 1, KILN_PB_VARINT);
    put_varint(&w, 300);
    bounds[nb++] = w.n;
    put_key(&w, 2, KILN_PB_FIXED32);
    put_fixed32(&w, 0x11223344u);
    bounds[nb++] = w.n;
    put_key(&w, 3, KILN_PB_FIXED64);
    put_fixed64(&w, 0x5566778899AABBCCull);
    bounds[nb++] = w.n;
    put_len(&w, 4, (const uint8_t *)"hello", 5);
    bounds[nb++] = w.n;
    { /* nested message with a varint, a fixed32 and a LEN of its own */
        buf inner = {{0}, 0};
        put_key(&inner, 1, KILN_PB_VARINT);
        put_varint(&inner, 1ull << 40);
        put_key(&inner, 2, KILN_PB_FIXED32);
        put_fixed32(&inner, 9);
        put_len(&inner, 3, (const uint8_t *)"xy", 2);
        put_len(&w, 5, inner.b, inner.n);
    }
    bounds[nb++] = w.n;
    { /* group 6 { varint 1, group 7 { fixed64 2, len 3 }, fixed32 4 } */
        put_key(&w, 6, KILN_PB_START_GROUP);
        put_key(&w, 1, KILN_PB_VARINT);
        put_varint(&w, 150);
        put_key(&w, 7, KILN_PB_START_GROUP);
        put_key(&w, 2, KILN_PB_FIXED64);
        put_fixed64(&w, 42);
        put_len(&w, 3, (const uint8_t *)"abc", 3);
        put_key(&w, 7, KILN_PB_END_GROUP);
        put_key(&w, 4, KILN_PB_FIXED32);
        put_fixed32(&w, 1);
        put_key(&w, 6, KILN_PB_END_GROUP);
    }
    bounds[nb++] = w.n;
    put_key(&w, 20, KILN_PB_VARINT); /* two-byte key, ten-byte value */
    put_varint(&w, UINT64_MAX);
    bounds[nb++] = w.n;
    put_len(&w, 8, NULL, 0);
    bounds[nb++] = w.n;
    put_key(&w, 2000, KILN_PB_FIXED32); /* two-byte key */
    put_fixed32(&w, 0xFFFFFFFFu);
    bounds[nb++] = w.n;
    put_key(&w, 100000, KILN_PB_VARINT); /* three-byte key */
    put_varint(&w, 0);
    bounds[nb++] = w.n;
    const size_t nfields = nb - 1;
    EXPECT(w.n <= sizeof w.b);

    /* The whole message decodes to the expected fields. */
    {
        kiln_pb_field fields[16];
        size_t count = 0;
        EXPECT_EQ_INT(decode_all(w.b, w.n, BASE, fields, 16, &count), KILN_OK);
        EXPECT_EQ_INT(count, nfields);
        static const uint32_t numbers[] = {1, 2, 3, 4, 5, 6, 20, 8, 2000, 100000};
        static const uint32_t types[] = {
            KILN_PB_VARINT,      KILN_PB_FIXED32, KILN_PB_FIXED64, KILN_PB_LEN,     KILN_PB_LEN,
            KILN_PB_START_GROUP, KILN_PB_VARINT,  KILN_PB_LEN,     KILN_PB_FIXED32, KILN_PB_VARINT};
        for (size_t i = 0; i < count && i < nfields; i++) {
            EXPECT_EQ_INT(fields[i].number, numbers[i]);
            EXPECT_EQ_INT(fields[i].wire_type, types[i]);
            EXPECT_EQ_INT(fields[i].offset, BASE + bounds[i]);
        }
        if (count == nfields) {
            EXPECT_EQ_INT(fields[0].value, 300);
            EXPECT(fields[1].value == 0x11223344u);
            EXPECT(fields[2].value == 0x5566778899AABBCCull);
            EXPECT_EQ_INT(fields[3].span.size, 5);
            EXPECT_EQ_INT(fields[3].span.offset, BASE + bounds[3] + 2);
            EXPECT(fields[6].value == UINT64_MAX);
            EXPECT_EQ_INT(fields[7].span.size, 0);
            EXPECT(fields[8].value == 0xFFFFFFFFu);
        }
    }

    /* Every prefix: succeeds exactly on field boundaries, fails with a parse error else. */
    size_t failures_seen = 0;
    for (size_t len = 0; len < w.n; len++) {
        uint8_t *copy = exact_copy(w.b, len);
        int on_boundary = 0;
        size_t complete = 0; /* fields wholly inside the prefix */
        for (size_t i = 0; i < nb; i++) {
            if (bounds[i] == len) on_boundary = 1;
            if (i > 0 && bounds[i] <= len) complete++;
        }
        kiln_pb_field fields[16];
        size_t count = 0;
        kiln_clear_error();
        kiln_status st = decode_all(copy, len, BASE, fields, 16, &count);
        if (on_boundary) {
            if (st != KILN_OK) fprintf(stderr, "prefix %zu: %s\n", len, kiln_last_error());
            EXPECT_EQ_INT(st, KILN_OK);
        } else {
            if (st != KILN_ERR_PARSE) fprintf(stderr, "prefix %zu succeeded\n", len);
            EXPECT_PARSE_ERROR(st, "byte offset");
            failures_seen++;
        }
        EXPECT_EQ_INT(count, complete);
        free(copy);
    }
    EXPECT_EQ_INT(failures_seen, w.n - (nb - 1));
}

/* ---- malformed keys and lengths ----------------------------------------------------- */

static void test_bad_keys(void) {
    kiln_pb_reader r;
    kiln_pb_field f;
    /* Field number 0, with each wire type. */
    for (uint32_t wt = 0; wt < 6; wt++) {
        buf w = {{0}, 0};
        put_byte(&w, (uint8_t)wt);
        put_byte(&w, 0); /* something to read after, so only the key is at fault */
        EXPECT_PARSE_ERROR(decode_one(&w, &f, &r), "field number 0", "byte offset 1000");
    }
    /* Wire types 6 and 7. */
    for (uint32_t wt = 6; wt <= 7; wt++) {
        buf w = {{0}, 0};
        put_key(&w, 1, KILN_PB_VARINT);
        put_varint(&w, 1);
        put_key(&w, 13, wt);
        put_byte(&w, 0);
        kiln_pb_reader_init(&r, span_at(w.b, w.n, BASE));
        EXPECT_EQ_INT(kiln_pb_next_field(&r, &f), KILN_OK);
        kiln_clear_error();
        EXPECT_PARSE_ERROR(kiln_pb_next_field(&r, &f), "wire type", wt == 6 ? "6" : "7", "field 13",
                           "byte offset 1002");
    }
    /* The largest valid field number, then one past it. */
    {
        buf w = {{0}, 0};
        put_key(&w, KILN_PB_MAX_FIELD_NUMBER, KILN_PB_VARINT);
        put_varint(&w, 1);
        EXPECT_EQ_INT(decode_one(&w, &f, &r), KILN_OK);
        EXPECT_EQ_INT(f.number, KILN_PB_MAX_FIELD_NUMBER);
        EXPECT_EQ_INT(f.value, 1);
    }
    {
        buf w = {{0}, 0};
        put_varint(&w, ((uint64_t)KILN_PB_MAX_FIELD_NUMBER + 1) << 3);
        put_varint(&w, 1);
        EXPECT_PARSE_ERROR(decode_one(&w, &f, &r), "invalid field number 536870912",
                           "byte offset 1000");
    }
    /* A key far beyond 32 bits must not wrap around to a valid number. */
    {
        buf w = {{0}, 0};
        put_varint(&w, ((uint64_t)1 << 35) | (1u << 3)); /* would be field 1 if truncated */
        put_varint(&w, 1);
        EXPECT_PARSE_ERROR(decode_one(&w, &f, &r), "invalid field number", "byte offset 1000");
    }
    /* A truncated key. */
    {
        buf w = {{0}, 0};
        put_byte(&w, 0x80 | (2000 & 0x7f));
        EXPECT_PARSE_ERROR(decode_one(&w, &f, &r), "truncated varint", "byte offset 1000");
    }
}

static void test_len_past_end(void) {
    kiln_pb_reader r;
    kiln_pb_field f;
    {
        buf w = {{0}, 0};
        put_key(&w, 1, KILN_PB_VARINT);
        put_varint(&w, 0);
        put_key(&w, 9, KILN_PB_LEN);
        put_varint(&w, 10);
        put_bytes(&w, (const uint8_t *)"abc", 3);
        uint8_t *copy = exact_copy(w.b, w.n);
        kiln_pb_reader_init(&r, span_at(copy, w.n, BASE));
        EXPECT_EQ_INT(kiln_pb_next_field(&r, &f), KILN_OK);
        kiln_clear_error();
        EXPECT_PARSE_ERROR(kiln_pb_next_field(&r, &f), "length 10", "field 9", "byte offset 1002",
                           "3 bytes left");
        EXPECT(r.cur <= r.end);
        free(copy);
    }
    /* One byte too many: exactly at the edge. */
    {
        buf w = {{0}, 0};
        put_key(&w, 4, KILN_PB_LEN);
        put_varint(&w, 4);
        put_bytes(&w, (const uint8_t *)"abc", 3);
        EXPECT_PARSE_ERROR(decode_one(&w, &f, &r), "field 4", "byte offset 1000");
    }
    /* A huge length must not wrap a pointer. */
    {
        buf w = {{0}, 0};
        put_key(&w, 7, KILN_PB_LEN);
        put_varint(&w, UINT64_MAX);
        put_byte(&w, 0);
        EXPECT_PARSE_ERROR(decode_one(&w, &f, &r), "field 7", "byte offset 1000", "past the end");
        EXPECT(r.cur <= r.end);
    }
    {
        buf w = {{0}, 0};
        put_key(&w, 7, KILN_PB_LEN);
        put_varint(&w, (uint64_t)SIZE_MAX - 2);
        put_byte(&w, 0);
        EXPECT_PARSE_ERROR(decode_one(&w, &f, &r), "field 7", "byte offset 1000");
    }
    /* The same inside a group: the inner field is named. */
    {
        buf w = {{0}, 0};
        put_key(&w, 3, KILN_PB_START_GROUP);
        put_key(&w, 8, KILN_PB_LEN);
        put_varint(&w, 50);
        put_byte(&w, 1);
        put_key(&w, 3, KILN_PB_END_GROUP);
        EXPECT_PARSE_ERROR(decode_one(&w, &f, &r), "length 50", "field 8", "byte offset");
    }
}

/* ---- groups ----------------------------------------------------------------------------- */

static void test_groups(void) {
    kiln_pb_reader r;
    kiln_pb_field f;
    /* varint 1; group 6 { varint 1, fixed32 2, group 7 { fixed64 3, len 4, group 8 {} },
     * len 5 }; varint 9 */
    {
        buf w = {{0}, 0};
        put_key(&w, 1, KILN_PB_VARINT);
        put_varint(&w, 11);
        size_t group_at = w.n;
        put_key(&w, 6, KILN_PB_START_GROUP);
        put_key(&w, 1, KILN_PB_VARINT);
        put_varint(&w, 300);
        put_key(&w, 2, KILN_PB_FIXED32);
        put_fixed32(&w, 5);
        put_key(&w, 7, KILN_PB_START_GROUP);
        put_key(&w, 3, KILN_PB_FIXED64);
        put_fixed64(&w, 6);
        put_len(&w, 4, (const uint8_t *)"\x0c\x0c", 2); /* END_GROUP-looking payload bytes */
        put_key(&w, 8, KILN_PB_START_GROUP);
        put_key(&w, 8, KILN_PB_END_GROUP);
        put_key(&w, 7, KILN_PB_END_GROUP);
        put_len(&w, 5, NULL, 0);
        put_key(&w, 6, KILN_PB_END_GROUP);
        size_t after = w.n;
        put_key(&w, 9, KILN_PB_VARINT);
        put_varint(&w, 5);

        kiln_pb_reader_init(&r, span_at(w.b, w.n, BASE));
        EXPECT_EQ_INT(kiln_pb_next_field(&r, &f), KILN_OK);
        EXPECT_EQ_INT(f.number, 1);
        EXPECT_EQ_INT(f.value, 11);
        EXPECT_EQ_INT(kiln_pb_next_field(&r, &f), KILN_OK);
        EXPECT_EQ_INT(f.number, 6);
        EXPECT_EQ_INT(f.wire_type, KILN_PB_START_GROUP);
        EXPECT_EQ_INT(f.offset, BASE + group_at);
        EXPECT_EQ_INT(f.value, 0);
        EXPECT_EQ_INT(f.span.size, 0);
        EXPECT_EQ_INT(kiln_pb_reader_offset(&r), BASE + after);
        EXPECT_EQ_INT(kiln_pb_next_field(&r, &f), KILN_OK);
        EXPECT_EQ_INT(f.number, 9);
        EXPECT_EQ_INT(f.value, 5);
        EXPECT(kiln_pb_reader_done(&r));
    }
    /* An empty group. */
    {
        buf w = {{0}, 0};
        put_key(&w, 2, KILN_PB_START_GROUP);
        put_key(&w, 2, KILN_PB_END_GROUP);
        EXPECT_EQ_INT(decode_one(&w, &f, &r), KILN_OK);
        EXPECT_EQ_INT(f.wire_type, KILN_PB_START_GROUP);
        EXPECT_EQ_INT(f.number, 2);
        EXPECT(kiln_pb_reader_done(&r));
    }
    /* Deep nesting is handled without recursion. */
    {
        enum { DEPTH = 100000 };
        uint8_t *b = malloc(2 * DEPTH);
        if (!b) exit(2);
        memset(b, (1 << 3) | KILN_PB_START_GROUP, DEPTH);
        memset(b + DEPTH, (1 << 3) | KILN_PB_END_GROUP, DEPTH);
        kiln_pb_reader_init(&r, span_at(b, 2 * DEPTH, BASE));
        EXPECT_EQ_INT(kiln_pb_next_field(&r, &f), KILN_OK);
        EXPECT(kiln_pb_reader_done(&r));
        /* One END_GROUP short: unterminated. */
        kiln_pb_reader_init(&r, span_at(b, 2 * DEPTH - 1, BASE));
        kiln_clear_error();
        EXPECT_PARSE_ERROR(kiln_pb_next_field(&r, &f), "unterminated group", "byte offset 1000");
        free(b);
    }
    /* Unterminated: a group with a field but no end. */
    {
        buf w = {{0}, 0};
        put_key(&w, 1, KILN_PB_VARINT);
        put_varint(&w, 0);
        put_key(&w, 6, KILN_PB_START_GROUP);
        put_key(&w, 1, KILN_PB_VARINT);
        put_varint(&w, 1);
        kiln_pb_reader_init(&r, span_at(w.b, w.n, BASE));
        EXPECT_EQ_INT(kiln_pb_next_field(&r, &f), KILN_OK);
        kiln_clear_error();
        EXPECT_PARSE_ERROR(kiln_pb_next_field(&r, &f), "unterminated group", "field 6",
                           "byte offset 1002");
        EXPECT(r.cur <= r.end);
    }
    /* Unterminated: the nested group is closed but the outer one is not. */
    {
        buf w = {{0}, 0};
        put_key(&w, 6, KILN_PB_START_GROUP);
        put_key(&w, 7, KILN_PB_START_GROUP);
        put_key(&w, 7, KILN_PB_END_GROUP);
        EXPECT_PARSE_ERROR(decode_one(&w, &f, &r), "unterminated group", "field 6",
                           "byte offset 1000");
    }
    /* Unterminated: only a start key. */
    {
        buf w = {{0}, 0};
        put_key(&w, 6, KILN_PB_START_GROUP);
        EXPECT_PARSE_ERROR(decode_one(&w, &f, &r), "unterminated group", "byte offset 1000");
    }
    /* A stray END_GROUP, at the start and after a field. */
    {
        buf w = {{0}, 0};
        put_key(&w, 5, KILN_PB_END_GROUP);
        EXPECT_PARSE_ERROR(decode_one(&w, &f, &r), "end-group", "field 5", "byte offset 1000");
    }
    {
        buf w = {{0}, 0};
        put_key(&w, 6, KILN_PB_START_GROUP);
        put_key(&w, 6, KILN_PB_END_GROUP);
        put_key(&w, 6, KILN_PB_END_GROUP);
        kiln_pb_reader_init(&r, span_at(w.b, w.n, BASE));
        EXPECT_EQ_INT(kiln_pb_next_field(&r, &f), KILN_OK);
        kiln_clear_error();
        EXPECT_PARSE_ERROR(kiln_pb_next_field(&r, &f), "end-group", "field 6", "byte offset 1002");
    }
    /* Malformed contents of a group are errors too. */
    {
        buf w = {{0}, 0};
        put_key(&w, 6, KILN_PB_START_GROUP);
        put_key(&w, 1, 7);
        put_key(&w, 6, KILN_PB_END_GROUP);
        EXPECT_PARSE_ERROR(decode_one(&w, &f, &r), "wire type 7", "byte offset 1001");
    }
    {
        buf w = {{0}, 0};
        put_key(&w, 6, KILN_PB_START_GROUP);
        put_byte(&w, 0); /* field number 0 */
        put_key(&w, 6, KILN_PB_END_GROUP);
        EXPECT_PARSE_ERROR(decode_one(&w, &f, &r), "field number 0", "byte offset 1001");
    }
    {
        buf w = {{0}, 0};
        put_key(&w, 6, KILN_PB_START_GROUP);
        put_key(&w, 2, KILN_PB_FIXED64);
        put_fixed32(&w, 0);
        put_key(&w, 6, KILN_PB_END_GROUP);
        /* the fixed64 swallows the end key and then runs out */
        EXPECT_PARSE_ERROR(decode_one(&w, &f, &r), "fixed64", "field 2", "byte offset 1002");
    }
}

/* ---- repeated fields --------------------------------------------------------------------- */

static void test_repeated(void) {
    kiln_pb_reader r;
    kiln_pb_field f;
    size_t count, written;

    /* Packed varints. */
    {
        static const uint64_t values[] = {0, 1, 300, UINT64_MAX, 150, 127, 128};
        enum { N = sizeof values / sizeof values[0] };
        buf payload = {{0}, 0};
        for (size_t i = 0; i < N; i++) put_varint(&payload, values[i]);
        buf w = {{0}, 0};
        put_len(&w, 4, payload.b, payload.n);
        EXPECT_EQ_INT(decode_one(&w, &f, &r), KILN_OK);
        count = 0;
        EXPECT_EQ_INT(kiln_pb_repeated_count(&f, KILN_PB_VARINT, &count), KILN_OK);
        EXPECT_EQ_INT(count, N);
        uint64_t *out = malloc(N * sizeof *out);
        if (!out) exit(2);
        written = 0;
        EXPECT_EQ_INT(kiln_pb_repeated_decode(&f, KILN_PB_VARINT, out, N, &written), KILN_OK);
        EXPECT_EQ_INT(written, N);
        for (size_t i = 0; i < N && i < written; i++) EXPECT(out[i] == values[i]);
        free(out);
        /* Too little room: an error, never a write past `capacity` (valgrind checks). */
        uint64_t *small = malloc(3 * sizeof *small);
        if (!small) exit(2);
        kiln_clear_error();
        EXPECT_EQ_INT(kiln_pb_repeated_decode(&f, KILN_PB_VARINT, small, 3, &written),
                      KILN_ERR_INTERNAL);
        EXPECT_STR_CONTAINS(kiln_last_error(), "field 4");
        free(small);
    }
    /* Packed zigzag (sint64) values decode through the raw values. */
    {
        buf payload = {{0}, 0};
        put_varint(&payload, 3); /* -2 */
        put_varint(&payload, 4); /* 2 */
        buf w = {{0}, 0};
        put_len(&w, 1, payload.b, payload.n);
        EXPECT_EQ_INT(decode_one(&w, &f, &r), KILN_OK);
        uint64_t out[2] = {0, 0};
        EXPECT_EQ_INT(kiln_pb_repeated_decode(&f, KILN_PB_VARINT, out, 2, &written), KILN_OK);
        EXPECT_EQ_INT(kiln_pb_zigzag64(out[0]), -2);
        EXPECT_EQ_INT(kiln_pb_zigzag64(out[1]), 2);
    }
    /* Packed fixed32, zero-extended. */
    {
        static const uint32_t values[] = {1, 0xFFFFFFFFu, 0x80000000u, 0};
        buf payload = {{0}, 0};
        for (size_t i = 0; i < 4; i++) put_fixed32(&payload, values[i]);
        buf w = {{0}, 0};
        put_len(&w, 5, payload.b, payload.n);
        EXPECT_EQ_INT(decode_one(&w, &f, &r), KILN_OK);
        EXPECT_EQ_INT(kiln_pb_repeated_count(&f, KILN_PB_FIXED32, &count), KILN_OK);
        EXPECT_EQ_INT(count, 4);
        uint64_t out[4];
        EXPECT_EQ_INT(kiln_pb_repeated_decode(&f, KILN_PB_FIXED32, out, 4, &written), KILN_OK);
        EXPECT_EQ_INT(written, 4);
        for (size_t i = 0; i < 4; i++) EXPECT(out[i] == values[i]);
    }
    /* Packed fixed64. */
    {
        static const uint64_t values[] = {UINT64_MAX, 0x0102030405060708ull, 0};
        buf payload = {{0}, 0};
        for (size_t i = 0; i < 3; i++) put_fixed64(&payload, values[i]);
        buf w = {{0}, 0};
        put_len(&w, 6, payload.b, payload.n);
        EXPECT_EQ_INT(decode_one(&w, &f, &r), KILN_OK);
        EXPECT_EQ_INT(kiln_pb_repeated_count(&f, KILN_PB_FIXED64, &count), KILN_OK);
        EXPECT_EQ_INT(count, 3);
        uint64_t out[3];
        EXPECT_EQ_INT(kiln_pb_repeated_decode(&f, KILN_PB_FIXED64, out, 3, &written), KILN_OK);
        EXPECT_EQ_INT(written, 3);
        for (size_t i = 0; i < 3; i++) EXPECT(out[i] == values[i]);
    }
    /* An empty packed field holds no elements of any type. */
    {
        buf w = {{0}, 0};
        put_len(&w, 7, NULL, 0);
        EXPECT_EQ_INT(decode_one(&w, &f, &r), KILN_OK);
        static const uint32_t types[] = {KILN_PB_VARINT, KILN_PB_FIXED32, KILN_PB_FIXED64};
        for (size_t t = 0; t < 3; t++) {
            count = 99;
            EXPECT_EQ_INT(kiln_pb_repeated_count(&f, types[t], &count), KILN_OK);
            EXPECT_EQ_INT(count, 0);
            written = 99;
            uint64_t out[1];
            EXPECT_EQ_INT(kiln_pb_repeated_decode(&f, types[t], out, 0, &written), KILN_OK);
            EXPECT_EQ_INT(written, 0);
        }
    }
    /* Unpacked: each occurrence is one element, and repeated occurrences add up. */
    {
        buf w = {{0}, 0};
        put_key(&w, 3, KILN_PB_VARINT);
        put_varint(&w, 300);
        put_key(&w, 3, KILN_PB_VARINT);
        put_varint(&w, 7);
        put_key(&w, 4, KILN_PB_FIXED32);
        put_fixed32(&w, 0xCAFEBABEu);
        put_key(&w, 5, KILN_PB_FIXED64);
        put_fixed64(&w, UINT64_MAX);
        kiln_pb_field fields[4];
        size_t n = 0;
        EXPECT_EQ_INT(decode_all(w.b, w.n, BASE, fields, 4, &n), KILN_OK);
        EXPECT_EQ_INT(n, 4);
        uint64_t out[2] = {0, 0};
        size_t total = 0;
        for (size_t i = 0; i < 2; i++) {
            EXPECT_EQ_INT(kiln_pb_repeated_count(&fields[i], KILN_PB_VARINT, &count), KILN_OK);
            EXPECT_EQ_INT(count, 1);
            EXPECT_EQ_INT(kiln_pb_repeated_decode(&fields[i], KILN_PB_VARINT, out + total,
                                                  2 - total, &written),
                          KILN_OK);
            EXPECT_EQ_INT(written, 1);
            total += written;
        }
        EXPECT_EQ_INT(out[0], 300);
        EXPECT_EQ_INT(out[1], 7);
        EXPECT_EQ_INT(kiln_pb_repeated_count(&fields[2], KILN_PB_FIXED32, &count), KILN_OK);
        EXPECT_EQ_INT(count, 1);
        EXPECT_EQ_INT(kiln_pb_repeated_decode(&fields[2], KILN_PB_FIXED32, out, 1, &written),
                      KILN_OK);
        EXPECT_EQ_INT(written, 1);
        EXPECT(out[0] == 0xCAFEBABEu);
        EXPECT_EQ_INT(kiln_pb_repeated_count(&fields[3], KILN_PB_FIXED64, &count), KILN_OK);
        EXPECT_EQ_INT(count, 1);
        EXPECT_EQ_INT(kiln_pb_repeated_decode(&fields[3], KILN_PB_FIXED64, out, 1, &written),
                      KILN_OK);
        EXPECT_EQ_INT(written, 1);
        EXPECT(out[0] == UINT64_MAX);
        /* An unpacked element with no room for it. */
        kiln_clear_error();
        EXPECT_EQ_INT(kiln_pb_repeated_decode(&fields[0], KILN_PB_VARINT, out, 0, &written),
                      KILN_ERR_INTERNAL);
        /* The wrong scalar wire type for an unpacked field. */
        kiln_clear_error();
        EXPECT_PARSE_ERROR(kiln_pb_repeated_count(&fields[2], KILN_PB_VARINT, &count), "field 4",
                           "byte offset 1005", "wire type 5");
        kiln_clear_error();
        EXPECT_PARSE_ERROR(kiln_pb_repeated_decode(&fields[2], KILN_PB_VARINT, out, 1, &written),
                           "field 4", "byte offset 1005", "fixed32");
    }
    /* Packed varints ending mid-varint. */
    {
        static const uint8_t payload[] = {0x01, 0x96, 0x02, 0x80};
        buf w = {{0}, 0};
        put_key(&w, 1, KILN_PB_VARINT);
        put_varint(&w, 0);
        put_len(&w, 8, payload, sizeof payload);
        kiln_pb_reader_init(&r, span_at(w.b, w.n, BASE));
        EXPECT_EQ_INT(kiln_pb_next_field(&r, &f), KILN_OK);
        EXPECT_EQ_INT(kiln_pb_next_field(&r, &f), KILN_OK);
        EXPECT_EQ_INT(f.span.offset, BASE + 4);
        kiln_clear_error();
        EXPECT_PARSE_ERROR(kiln_pb_repeated_count(&f, KILN_PB_VARINT, &count), "mid-varint",
                           "field 8", "byte offset 1004");
        uint64_t out[4];
        kiln_clear_error();
        /* the truncated varint starts at payload byte 3: file offset 1007 */
        EXPECT_PARSE_ERROR(kiln_pb_repeated_decode(&f, KILN_PB_VARINT, out, 4, &written),
                           "truncated varint", "byte offset 1007");
    }
    /* A packed varint longer than ten bytes: counted, but decoding fails. */
    {
        uint8_t payload[12];
        payload[0] = 0x05;
        memset(payload + 1, 0xff, 10);
        payload[11] = 0x01;
        buf w = {{0}, 0};
        put_len(&w, 8, payload, sizeof payload);
        EXPECT_EQ_INT(decode_one(&w, &f, &r), KILN_OK);
        uint64_t out[4];
        kiln_clear_error();
        EXPECT_PARSE_ERROR(kiln_pb_repeated_decode(&f, KILN_PB_VARINT, out, 4, &written), "varint",
                           "byte offset 1003");
    }
    /* Packed fixed32 / fixed64 whose size is not a multiple of the width. */
    {
        buf w = {{0}, 0};
        put_len(&w, 9, (const uint8_t *)"\1\2\3\4\5", 5);
        EXPECT_EQ_INT(decode_one(&w, &f, &r), KILN_OK);
        kiln_clear_error();
        EXPECT_PARSE_ERROR(kiln_pb_repeated_count(&f, KILN_PB_FIXED32, &count), "fixed32",
                           "field 9", "byte offset 1002", "multiple of 4");
        uint64_t out[4];
        kiln_clear_error();
        EXPECT_PARSE_ERROR(kiln_pb_repeated_decode(&f, KILN_PB_FIXED32, out, 4, &written),
                           "fixed32", "field 9", "byte offset 1006");
    }
    {
        buf w = {{0}, 0};
        put_len(&w, 10, (const uint8_t *)"abcdefghijkl", 12);
        EXPECT_EQ_INT(decode_one(&w, &f, &r), KILN_OK);
        kiln_clear_error();
        EXPECT_PARSE_ERROR(kiln_pb_repeated_count(&f, KILN_PB_FIXED64, &count), "fixed64",
                           "field 10", "multiple of 8");
        uint64_t out[4];
        kiln_clear_error();
        EXPECT_PARSE_ERROR(kiln_pb_repeated_decode(&f, KILN_PB_FIXED64, out, 4, &written),
                           "fixed64", "field 10", "byte offset 1010");
        /* 12 bytes are three fixed32s though. */
        EXPECT_EQ_INT(kiln_pb_repeated_count(&f, KILN_PB_FIXED32, &count), KILN_OK);
        EXPECT_EQ_INT(count, 3);
    }
    /* A group is neither packed nor a scalar. */
    {
        buf w = {{0}, 0};
        put_key(&w, 2, KILN_PB_START_GROUP);
        put_key(&w, 2, KILN_PB_END_GROUP);
        EXPECT_EQ_INT(decode_one(&w, &f, &r), KILN_OK);
        kiln_clear_error();
        EXPECT_PARSE_ERROR(kiln_pb_repeated_count(&f, KILN_PB_FIXED64, &count), "field 2",
                           "byte offset 1000");
    }
}

static void test_expect(void) {
    kiln_pb_reader r;
    kiln_pb_field f;
    buf w = {{0}, 0};
    put_key(&w, 1, KILN_PB_FIXED32);
    put_fixed32(&w, 0);
    put_key(&w, 7, KILN_PB_VARINT);
    put_varint(&w, 3);
    kiln_pb_reader_init(&r, span_at(w.b, w.n, BASE));
    EXPECT_EQ_INT(kiln_pb_next_field(&r, &f), KILN_OK);
    EXPECT_EQ_INT(kiln_pb_next_field(&r, &f), KILN_OK);
    EXPECT_EQ_INT(kiln_pb_expect(&f, KILN_PB_VARINT, "dims"), KILN_OK);
    kiln_clear_error();
    EXPECT_PARSE_ERROR(kiln_pb_expect(&f, KILN_PB_LEN, "TensorProto.name"), "TensorProto.name",
                       "field 7", "byte offset 1005", "has wire type varint",
                       "expected length-delimited");
    kiln_clear_error();
    EXPECT_PARSE_ERROR(kiln_pb_expect(&f, KILN_PB_FIXED64, "x"), "expected fixed64");
    kiln_pb_field g = f;
    g.wire_type = KILN_PB_START_GROUP;
    kiln_clear_error();
    EXPECT_PARSE_ERROR(kiln_pb_expect(&g, KILN_PB_FIXED32, "y"), "wire type start-group",
                       "expected fixed32");
}

/* ---- random bytes ------------------------------------------------------------------------ */

static uint32_t lcg_state = 12345u;
static uint32_t lcg(void) {
    lcg_state = lcg_state * 1664525u + 1013904223u;
    return lcg_state >> 8;
}

static void test_random(void) {
    /* Bytes that make plausible keys and varints, so many strings get past the first field. */
    static const uint8_t alphabet[] = {0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x10, 0x12,
                                       0x1a, 0x1b, 0x1c, 0x00, 0x01, 0x02, 0x03, 0x04,
                                       0x7f, 0x80, 0xff, 0x05, 0x0e, 0x0f, 0x81, 0xfe};
    size_t ok = 0, errors = 0, fields_total = 0;
    for (int iter = 0; iter < 10000; iter++) {
        size_t len = lcg() % 65;
        uint8_t tmp[64];
        int biased = iter % 2;
        for (size_t i = 0; i < len; i++)
            tmp[i] = biased ? alphabet[lcg() % sizeof alphabet] : (uint8_t)lcg();
        uint8_t *data = exact_copy(tmp, len);
        size_t base = (size_t)(lcg() % 100000);
        kiln_pb_reader r;
        kiln_pb_reader_init(&r, span_at(data, len, base));
        kiln_status st = KILN_OK;
        kiln_clear_error();
        while (!kiln_pb_reader_done(&r)) {
            kiln_pb_field f;
            const uint8_t *before = r.cur;
            st = kiln_pb_next_field(&r, &f);
            EXPECT(r.cur >= r.begin && r.cur <= r.end);
            if (st != KILN_OK) break;
            EXPECT(r.cur > before);
            fields_total++;
            if (f.wire_type == KILN_PB_LEN) {
                EXPECT(f.span.data >= data && f.span.data + f.span.size <= data + len);
                EXPECT_EQ_INT(f.span.offset, base + (size_t)(f.span.data - data));
                /* Exercise the packed helpers on whatever the payload holds. */
                static const uint32_t types[] = {KILN_PB_VARINT, KILN_PB_FIXED32, KILN_PB_FIXED64};
                for (size_t t = 0; t < 3; t++) {
                    size_t count = 0, written = 0;
                    kiln_status cs = kiln_pb_repeated_count(&f, types[t], &count);
                    EXPECT(cs == KILN_OK || cs == KILN_ERR_PARSE);
                    if (cs != KILN_OK) continue;
                    uint64_t *out = malloc((count ? count : 1) * sizeof *out);
                    if (!out) exit(2);
                    kiln_status ds = kiln_pb_repeated_decode(&f, types[t], out, count, &written);
                    EXPECT(ds == KILN_OK || ds == KILN_ERR_PARSE);
                    if (ds == KILN_OK) EXPECT_EQ_INT(written, count);
                    free(out);
                }
            }
        }
        if (st == KILN_OK) {
            ok++;
        } else {
            errors++;
            EXPECT_EQ_INT(st, KILN_ERR_PARSE);
            EXPECT_STR_CONTAINS(kiln_last_error(), "byte offset");
        }
        free(data);
    }
    EXPECT(ok > 100);
    EXPECT(errors > 100);
    EXPECT(fields_total > 1000);
    printf("random: %zu ok, %zu errors, %zu fields\n", ok, errors, fields_total);
}

int main(void) {
    test_varints();
    test_varint_errors();
    test_fixed();
    test_len();
    test_zigzag();
    test_truncation();
    test_bad_keys();
    test_len_past_end();
    test_groups();
    test_repeated();
    test_expect();
    test_random();
    TEST_MAIN_END();
}
