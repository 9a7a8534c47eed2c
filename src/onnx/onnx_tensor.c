/*
 * TensorProto: shape, dtype and where the elements are. The elements themselves are not
 * copied: raw_data stays a span of the file, and the typed repeated fields are decoded on
 * demand by kiln_onnx_tensor_read, after their element count was checked here.
 */
#include "onnx/onnx_reader_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum {
    KILN_TP_DIMS = 1,
    KILN_TP_DATA_TYPE = 2,
    KILN_TP_SEGMENT = 3,
    KILN_TP_FLOAT_DATA = 4,
    KILN_TP_INT32_DATA = 5,
    KILN_TP_STRING_DATA = 6,
    KILN_TP_INT64_DATA = 7,
    KILN_TP_NAME = 8,
    KILN_TP_RAW_DATA = 9,
    KILN_TP_DOUBLE_DATA = 10,
    KILN_TP_UINT64_DATA = 11,
    KILN_TP_DOC_STRING = 12,
    KILN_TP_EXTERNAL_DATA = 13,
    KILN_TP_DATA_LOCATION = 14,
    KILN_TP_METADATA = 16
};

static const kiln_onnx_packed kiln_tp_packed[] = {
    {KILN_TP_DIMS, KILN_PB_VARINT},         {KILN_TP_FLOAT_DATA, KILN_PB_FIXED32},
    {KILN_TP_INT32_DATA, KILN_PB_VARINT},   {KILN_TP_INT64_DATA, KILN_PB_VARINT},
    {KILN_TP_DOUBLE_DATA, KILN_PB_FIXED64}, {KILN_TP_UINT64_DATA, KILN_PB_VARINT}};

/* Which typed field holds a dtype's elements, and how many scalars `n` elements take. */
static uint32_t kiln_tp_typed_field(int32_t dtype) {
    switch (dtype) {
    case KILN_DTYPE_FLOAT32:
    case KILN_DTYPE_COMPLEX64: return KILN_TP_FLOAT_DATA;
    case KILN_DTYPE_STRING: return KILN_TP_STRING_DATA;
    case KILN_DTYPE_INT64: return KILN_TP_INT64_DATA;
    case KILN_DTYPE_FLOAT64:
    case KILN_DTYPE_COMPLEX128: return KILN_TP_DOUBLE_DATA;
    case KILN_DTYPE_UINT32:
    case KILN_DTYPE_UINT64: return KILN_TP_UINT64_DATA;
    default: return KILN_TP_INT32_DATA;
    }
}

static int kiln_tp_dtype_known(int32_t dtype) {
    return dtype > KILN_DTYPE_UNDEFINED && dtype <= KILN_DTYPE_INT2;
}

/* Scalars in the typed field for n elements: complex takes two; sub-byte types are packed
 * into bytes first (onnx.proto: "packed to 4bitx2"), one byte per int32_data entry. */
static size_t kiln_tp_typed_scalars(int32_t dtype, size_t n) {
    int32_t bits = kiln_dtype_bits((kiln_dtype)dtype);
    if (dtype == KILN_DTYPE_COMPLEX64 || dtype == KILN_DTYPE_COMPLEX128) return 2 * n;
    if (bits > 0 && bits < 8) return (n * (size_t)bits + 7) / 8;
    return n;
}

kiln_status kiln_onnx_tensor_nbytes(const kiln_onnx_tensor *t, size_t *out) {
    int32_t bits = kiln_dtype_bits((kiln_dtype)t->data_type);
    size_t n = (size_t)t->element_count;
    if (bits == 0) {
        *out = 0;
        return KILN_OK;
    }
    if (n > SIZE_MAX / (size_t)bits)
        return kiln_error(KILN_ERR_PARSE, "tensor '%s' is too large", t->name);
    *out = (n * (size_t)bits + 7) / 8;
    return KILN_OK;
}

static kiln_status kiln_tp_parse_segment(kiln_pb_span span, kiln_onnx_tensor *t) {
    kiln_pb_reader r;
    kiln_pb_reader_init(&r, span);
    t->has_segment = 1;
    while (!kiln_pb_reader_done(&r)) {
        kiln_pb_field f;
        KILN_TRY(kiln_pb_next_field(&r, &f));
        if (f.number == 1) KILN_TRY(kiln_onnx_read_int(&f, "Segment.begin", &t->segment_begin));
        if (f.number == 2) KILN_TRY(kiln_onnx_read_int(&f, "Segment.end", &t->segment_end));
    }
    return KILN_OK;
}

/* Interprets the external_data entries (location, offset, length). */
static kiln_status kiln_tp_parse_external(kiln_onnx_tensor *t) {
    t->external_offset = 0;
    t->external_length = -1;
    for (int32_t i = 0; i < t->external_count; i++) {
        const kiln_onnx_string_entry *e = &t->external_data[i];
        if (!strcmp(e->key, "location")) {
            t->external_location = e->value;
            continue;
        }
        int64_t *dst = !strcmp(e->key, "offset")   ? &t->external_offset
                       : !strcmp(e->key, "length") ? &t->external_length
                                                   : NULL;
        if (!dst) continue; /* "checksum" and others are informational */
        char *end = NULL;
        errno = 0;
        long long v = strtoll(e->value, &end, 10);
        if (!*e->value || *end || v < 0 || errno == ERANGE)
            return kiln_error(KILN_ERR_PARSE, "tensor '%s': external data %s '%s' is not a "
                                              "non-negative integer",
                              t->name, e->key, e->value);
        *dst = v;
    }
    if (!t->external_location || !*t->external_location)
        return kiln_error(KILN_ERR_PARSE, "tensor '%s' has external data without a location",
                          t->name);
    return KILN_OK;
}

/* Checks the dims and computes the element count without overflow. */
static kiln_status kiln_tp_count_elements(kiln_onnx_tensor *t) {
    uint64_t n = 1;
    for (int32_t i = 0; i < t->rank; i++) {
        int64_t d = t->dims[i];
        if (d < 0)
            return kiln_error(KILN_ERR_PARSE, "tensor '%s' has negative dimension %lld", t->name,
                              (long long)d);
        if (d != 0 && n > (uint64_t)INT64_MAX / (uint64_t)d)
            return kiln_error(KILN_ERR_PARSE, "tensor '%s' has too many elements", t->name);
        n *= (uint64_t)d;
    }
    t->element_count = (int64_t)n;
    return KILN_OK;
}

/* Packed varints were only counted (by their final bytes). Decoding them once here makes a
 * malformed one (longer than 10 bytes, or overflowing 64 bits) fail the load, naming the
 * tensor, rather than a later kiln_onnx_tensor_read of a tensor that loaded fine. */
static kiln_status kiln_tp_check_varints(const kiln_onnx_tensor *t) {
    if (t->typed_field != KILN_TP_INT32_DATA && t->typed_field != KILN_TP_INT64_DATA &&
        t->typed_field != KILN_TP_UINT64_DATA)
        return KILN_OK;
    kiln_pb_reader r;
    kiln_pb_reader_init(&r, t->message);
    while (!kiln_pb_reader_done(&r)) {
        kiln_pb_field f;
        KILN_TRY(kiln_pb_next_field(&r, &f));
        if (f.number != t->typed_field || f.wire_type != KILN_PB_LEN) continue;
        kiln_pb_reader pr;
        kiln_pb_reader_init(&pr, f.span);
        uint64_t v;
        while (!kiln_pb_reader_done(&pr)) KILN_TRY(kiln_pb_read_varint(&pr, &v));
    }
    return KILN_OK;
}

/* Decides where the elements are and checks that their amount matches the shape. */
static kiln_status kiln_tp_locate_payload(kiln_onnx_ctx *ctx, kiln_onnx_tensor *t,
                                          const size_t counts[KILN_ONNX_MAX_FIELD],
                                          int32_t data_location) {
    size_t n = (size_t)t->element_count;
    if (data_location == 1) {
        if (t->data_type == KILN_DTYPE_STRING)
            return kiln_error(KILN_ERR_PARSE, "string tensor '%s' has external data", t->name);
        KILN_TRY(kiln_tp_parse_external(t));
        t->payload = KILN_ONNX_PAYLOAD_EXTERNAL;
        kiln_onnx_pending *p = kiln_arena_alloc(ctx->arena, sizeof *p);
        if (!p) return kiln_onnx_oom();
        p->tensor = t;
        p->next = ctx->external;
        ctx->external = p;
        return KILN_OK;
    }
    if (counts[KILN_TP_RAW_DATA]) {
        if (t->data_type == KILN_DTYPE_STRING)
            return kiln_error(KILN_ERR_PARSE, "string tensor '%s' has raw_data", t->name);
        size_t nbytes = 0;
        KILN_TRY(kiln_onnx_tensor_nbytes(t, &nbytes));
        if (t->raw.size != nbytes)
            return kiln_error(KILN_ERR_PARSE,
                              "tensor '%s' (%s, %lld elements) needs %zu bytes but raw_data at "
                              "byte offset %zu has %zu",
                              t->name, kiln_dtype_name((kiln_dtype)t->data_type),
                              (long long)t->element_count, nbytes, t->raw.offset, t->raw.size);
        t->payload = KILN_ONNX_PAYLOAD_RAW;
        return KILN_OK;
    }
    uint32_t field = kiln_tp_typed_field(t->data_type);
    static const uint32_t typed[] = {KILN_TP_FLOAT_DATA,  KILN_TP_INT32_DATA,
                                     KILN_TP_STRING_DATA, KILN_TP_INT64_DATA,
                                     KILN_TP_DOUBLE_DATA, KILN_TP_UINT64_DATA};
    for (size_t i = 0; i < sizeof typed / sizeof typed[0]; i++)
        if (typed[i] != field && counts[typed[i]])
            return kiln_error(KILN_ERR_PARSE,
                              "tensor '%s' of type %s carries its data in field %u, which is "
                              "not the field for that type",
                              t->name, kiln_dtype_name((kiln_dtype)t->data_type), typed[i]);
    size_t expected = kiln_tp_typed_scalars(t->data_type, n);
    if (counts[field] == 0 && n > 0) {
        /* A tensor with a shape but no values: legal in some places (shape-only uses);
         * reading its data is an error. */
        t->payload = KILN_ONNX_PAYLOAD_NONE;
        return KILN_OK;
    }
    if (counts[field] != expected)
        return kiln_error(KILN_ERR_PARSE,
                          "tensor '%s' (%s, %lld elements) needs %zu values but the file has %zu",
                          t->name, kiln_dtype_name((kiln_dtype)t->data_type),
                          (long long)t->element_count, expected, counts[field]);
    t->payload = n ? KILN_ONNX_PAYLOAD_TYPED : KILN_ONNX_PAYLOAD_NONE;
    t->typed_field = field;
    t->typed_count = counts[field];
    if (t->payload == KILN_ONNX_PAYLOAD_TYPED) KILN_TRY(kiln_tp_check_varints(t));
    return KILN_OK;
}

static kiln_status kiln_tp_parse_fields(kiln_onnx_ctx *ctx, kiln_pb_span span, kiln_onnx_tensor *t,
                                        int32_t *data_location,
                                        size_t counts[KILN_ONNX_MAX_FIELD]) {
    int32_t ndims = 0, next = 0, nmeta = 0;
    size_t used_dims = 0;
    kiln_pb_reader r;
    kiln_pb_reader_init(&r, span);
    while (!kiln_pb_reader_done(&r)) {
        kiln_pb_field f;
        KILN_TRY(kiln_pb_next_field(&r, &f));
        switch (f.number) {
        case KILN_TP_DIMS: {
            size_t n = 0;
            KILN_TRY(kiln_pb_repeated_decode(&f, KILN_PB_VARINT, (uint64_t *)t->dims + used_dims,
                                             (size_t)t->rank - used_dims, &n));
            used_dims += n;
            ndims = (int32_t)used_dims;
            break;
        }
        case KILN_TP_DATA_TYPE: {
            int64_t v;
            KILN_TRY(kiln_onnx_read_int(&f, "TensorProto.data_type", &v));
            t->data_type = (int32_t)v;
            break;
        }
        case KILN_TP_SEGMENT:
            KILN_TRY(kiln_pb_expect(&f, KILN_PB_LEN, "TensorProto.segment"));
            KILN_TRY(kiln_tp_parse_segment(f.span, t));
            break;
        case KILN_TP_NAME: KILN_TRY(kiln_onnx_read_string(ctx, &f, "TensorProto.name", &t->name)); break;
        case KILN_TP_DOC_STRING:
            KILN_TRY(kiln_onnx_read_string(ctx, &f, "TensorProto.doc_string", &t->doc_string));
            break;
        case KILN_TP_RAW_DATA:
            KILN_TRY(kiln_pb_expect(&f, KILN_PB_LEN, "TensorProto.raw_data"));
            t->raw = f.span; /* the last occurrence wins, as in protobuf */
            break;
        case KILN_TP_EXTERNAL_DATA:
            KILN_TRY(kiln_pb_expect(&f, KILN_PB_LEN, "TensorProto.external_data"));
            KILN_TRY(kiln_onnx_parse_string_entry(ctx, f.span, &t->external_data[next++]));
            break;
        case KILN_TP_METADATA:
            KILN_TRY(kiln_pb_expect(&f, KILN_PB_LEN, "TensorProto.metadata_props"));
            KILN_TRY(kiln_onnx_parse_string_entry(ctx, f.span, &t->metadata[nmeta++]));
            break;
        case KILN_TP_DATA_LOCATION: {
            int64_t v;
            KILN_TRY(kiln_onnx_read_int(&f, "TensorProto.data_location", &v));
            *data_location = (int32_t)v;
            break;
        }
        case KILN_TP_STRING_DATA: KILN_TRY(kiln_pb_expect(&f, KILN_PB_LEN, "TensorProto.string_data")); break;
        default: break; /* typed data: counted already, decoded on demand */
        }
    }
    (void)ndims;
    (void)counts;
    return KILN_OK;
}

kiln_status kiln_onnx_parse_tensor(kiln_onnx_ctx *ctx, kiln_pb_span span, kiln_onnx_tensor *t) {
    size_t counts[KILN_ONNX_MAX_FIELD];
    memset(counts, 0, sizeof counts);
    t->name = "";
    t->message = span;
    /* First pass: count repeated fields (dims and typed data may be packed). */
    kiln_pb_reader r;
    kiln_pb_reader_init(&r, span);
    while (!kiln_pb_reader_done(&r)) {
        kiln_pb_field f;
        KILN_TRY(kiln_pb_next_field(&r, &f));
        if (f.number >= KILN_ONNX_MAX_FIELD) continue;
        size_t n = 1;
        for (size_t i = 0; i < sizeof kiln_tp_packed / sizeof kiln_tp_packed[0]; i++)
            if (kiln_tp_packed[i].number == f.number)
                KILN_TRY(kiln_pb_repeated_count(&f, kiln_tp_packed[i].wire_type, &n));
        counts[f.number] += n;
    }
    if (counts[KILN_TP_DIMS] > KILN_MAX_DIMS * 4)
        return kiln_error(KILN_ERR_PARSE, "tensor at byte offset %zu has %zu dimensions",
                          span.offset, counts[KILN_TP_DIMS]);
    t->rank = (int32_t)counts[KILN_TP_DIMS];
    /* Allocated even for rank 0: an empty packed dims field is decoded into it. */
    t->dims = kiln_arena_array(ctx->arena, t->rank ? (size_t)t->rank : 1, sizeof *t->dims);
    if (!t->dims) return kiln_onnx_oom();
    if (counts[KILN_TP_EXTERNAL_DATA]) {
        t->external_data = kiln_arena_array(ctx->arena, counts[KILN_TP_EXTERNAL_DATA],
                                            sizeof *t->external_data);
        if (!t->external_data) return kiln_onnx_oom();
    }
    t->external_count = (int32_t)counts[KILN_TP_EXTERNAL_DATA];
    if (counts[KILN_TP_METADATA]) {
        t->metadata = kiln_arena_array(ctx->arena, counts[KILN_TP_METADATA], sizeof *t->metadata);
        if (!t->metadata) return kiln_onnx_oom();
    }
    t->metadata_count = (int32_t)counts[KILN_TP_METADATA];

    int32_t data_location = 0;
    kiln_status st = kiln_tp_parse_fields(ctx, span, t, &data_location, counts);
    if (st == KILN_OK) st = kiln_tp_count_elements(t);
    if (st == KILN_OK && !kiln_tp_dtype_known(t->data_type))
        st = kiln_error(KILN_ERR_PARSE, "tensor '%s' has unknown data type %d", t->name,
                        t->data_type);
    if (st == KILN_OK) st = kiln_tp_locate_payload(ctx, t, counts, data_location);
    if (st != KILN_OK) kiln_error_prefix("tensor '%s' at byte offset %zu", t->name, span.offset);
    return st;
}

/* ---------------------------------------------------------------- reading data ----- */

/* Stores one decoded scalar of the typed field as the dtype's little-endian element. */
static void kiln_tp_store(int32_t dtype, uint32_t field, uint64_t v, uint8_t *dst, size_t *pos) {
    size_t width;
    if (field == KILN_TP_FLOAT_DATA) width = 4;
    else if (field == KILN_TP_INT64_DATA || field == KILN_TP_DOUBLE_DATA) width = 8;
    else if (field == KILN_TP_UINT64_DATA) width = dtype == KILN_DTYPE_UINT32 ? 4 : 8;
    else {
        int32_t bits = kiln_dtype_bits((kiln_dtype)dtype);
        width = bits >= 8 ? (size_t)bits / 8 : 1; /* sub-byte types: one packed byte each */
    }
    /* Truncating to the element width keeps the low bytes, which is what the writer put
     * there (int32_data holds e.g. float16 bit patterns, or sign-extended int8). */
    for (size_t i = 0; i < width; i++) dst[*pos + i] = (uint8_t)(v >> (8 * i));
    *pos += width;
}

kiln_status kiln_onnx_tensor_read(const kiln_onnx_tensor *t, void *dst, size_t dst_size) {
    size_t nbytes = 0;
    KILN_TRY(kiln_onnx_tensor_nbytes(t, &nbytes));
    if (t->data_type == KILN_DTYPE_STRING)
        return kiln_error(KILN_ERR_INVALID_ARGUMENT, "tensor '%s' holds strings", t->name);
    if (dst_size != nbytes)
        return kiln_error(KILN_ERR_INVALID_ARGUMENT,
                          "tensor '%s' has %zu bytes of data; the buffer has %zu", t->name,
                          nbytes, dst_size);
    switch (t->payload) {
    case KILN_ONNX_PAYLOAD_RAW:
    case KILN_ONNX_PAYLOAD_EXTERNAL:
        if (t->raw.size != nbytes)
            return kiln_error(KILN_ERR_PARSE, "tensor '%s': external data not resolved", t->name);
        if (nbytes) memcpy(dst, t->raw.data, nbytes);
        return KILN_OK;
    case KILN_ONNX_PAYLOAD_NONE:
        if (nbytes == 0) return KILN_OK;
        return kiln_error(KILN_ERR_PARSE, "tensor '%s' has a shape of %lld elements but no data",
                          t->name, (long long)t->element_count);
    case KILN_ONNX_PAYLOAD_TYPED: break;
    }
    uint32_t wt = t->typed_field == KILN_TP_FLOAT_DATA    ? KILN_PB_FIXED32
                  : t->typed_field == KILN_TP_DOUBLE_DATA ? KILN_PB_FIXED64
                                                          : KILN_PB_VARINT;
    uint8_t *out = dst;
    size_t pos = 0;
    uint64_t chunk[256];
    kiln_pb_reader r;
    kiln_pb_reader_init(&r, t->message);
    while (!kiln_pb_reader_done(&r)) {
        kiln_pb_field f;
        KILN_TRY(kiln_pb_next_field(&r, &f));
        if (f.number != t->typed_field) continue;
        if (f.wire_type == wt) {
            if (pos >= nbytes) return kiln_error(KILN_ERR_INTERNAL, "tensor data overflow");
            kiln_tp_store(t->data_type, f.number, f.value, out, &pos);
            continue;
        }
        /* Packed: decode in chunks through a small buffer. */
        kiln_pb_reader pr;
        kiln_pb_reader_init(&pr, f.span);
        while (!kiln_pb_reader_done(&pr)) {
            size_t n = 0;
            while (n < 256 && !kiln_pb_reader_done(&pr)) {
                if (wt == KILN_PB_VARINT) {
                    KILN_TRY(kiln_pb_read_varint(&pr, &chunk[n]));
                } else {
                    size_t w = wt == KILN_PB_FIXED32 ? 4 : 8;
                    uint64_t v = 0;
                    for (size_t i = 0; i < w; i++) v |= (uint64_t)pr.cur[i] << (8 * i);
                    pr.cur += w; /* counted as a multiple of w at parse time */
                    chunk[n] = v;
                }
                n++;
            }
            for (size_t i = 0; i < n; i++) {
                if (pos >= nbytes) return kiln_error(KILN_ERR_INTERNAL, "tensor data overflow");
                kiln_tp_store(t->data_type, f.number, chunk[i], out, &pos);
            }
        }
    }
    if (pos != nbytes)
        return kiln_error(KILN_ERR_INTERNAL, "tensor '%s': decoded %zu of %zu bytes", t->name,
                          pos, nbytes);
    return KILN_OK;
}

kiln_status kiln_onnx_tensor_read_strings(const kiln_onnx_tensor *t,
                                          void (*fn)(void *user, const char *data, size_t size),
                                          void *user) {
    if (t->data_type != KILN_DTYPE_STRING)
        return kiln_error(KILN_ERR_INVALID_ARGUMENT, "tensor '%s' does not hold strings", t->name);
    if (t->payload == KILN_ONNX_PAYLOAD_NONE && t->element_count > 0)
        return kiln_error(KILN_ERR_PARSE, "string tensor '%s' has no data", t->name);
    kiln_pb_reader r;
    kiln_pb_reader_init(&r, t->message);
    while (!kiln_pb_reader_done(&r)) {
        kiln_pb_field f;
        KILN_TRY(kiln_pb_next_field(&r, &f));
        if (f.number == KILN_TP_STRING_DATA && f.wire_type == KILN_PB_LEN)
            fn(user, (const char *)f.span.data, f.span.size);
    }
    return KILN_OK;
}
