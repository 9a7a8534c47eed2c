/*
 * ONNX messages from protobuf bytes.
 *
 * Each message is read in two passes over its bytes: the first counts the repeated
 * fields, so every array is allocated once at its exact size (memory stays proportional
 * to the file, whatever it claims); the second fills them. Nesting (subgraphs, nested
 * types and values) is bounded by KILN_ONNX_MAX_DEPTH so hostile files cannot exhaust the
 * stack.
 */
#include "onnx/onnx_reader_internal.h"

#include <stdlib.h>
#include <string.h>

kiln_status kiln_onnx_oom(void) {
    return kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory while reading ONNX");
}

/* ---------------------------------------------------------------- field counting --- */

/* Counts the fields of a message by number; fields listed in `packed` are repeated
 * scalars whose elements are counted (they may be packed). */
static kiln_status kiln_onnx_count_fields(kiln_pb_span span, const kiln_onnx_packed *packed,
                                          size_t npacked, size_t counts[KILN_ONNX_MAX_FIELD]) {
    memset(counts, 0, sizeof(size_t) * KILN_ONNX_MAX_FIELD);
    kiln_pb_reader r;
    kiln_pb_reader_init(&r, span);
    while (!kiln_pb_reader_done(&r)) {
        kiln_pb_field f;
        KILN_TRY(kiln_pb_next_field(&r, &f));
        if (f.number >= KILN_ONNX_MAX_FIELD) continue;
        size_t n = 1;
        for (size_t i = 0; i < npacked; i++)
            if (packed[i].number == f.number)
                KILN_TRY(kiln_pb_repeated_count(&f, packed[i].wire_type, &n));
        counts[f.number] += n;
    }
    return KILN_OK;
}

/* Allocates an array for a counted field; counts stay within int32 for the structs. */
static kiln_status kiln_onnx_alloc_array(kiln_onnx_ctx *ctx, size_t count, size_t size,
                                         void **out, int32_t *out_count) {
    if (count > INT32_MAX)
        return kiln_error(KILN_ERR_PARSE, "a repeated field has %zu elements, more than kiln "
                                          "supports", count);
    *out_count = (int32_t)count;
    /* Never NULL, even for zero elements: packed fields may be present but empty, and
     * their decoders do pointer arithmetic on the array. */
    *out = kiln_arena_array(ctx->arena, count ? count : 1, size);
    return *out ? KILN_OK : kiln_onnx_oom();
}

#define KILN_ONNX_ALLOC(ctx, counts, number, ptr, count_field)                                \
    KILN_TRY(kiln_onnx_alloc_array((ctx), (counts)[number], sizeof *(ptr), (void **)&(ptr),    \
                                   &(count_field)))

/* ---------------------------------------------------------------- scalars ---------- */

kiln_status kiln_onnx_read_string(kiln_onnx_ctx *ctx, const kiln_pb_field *f, const char *what,
                                  const char **out) {
    KILN_TRY(kiln_pb_expect(f, KILN_PB_LEN, what));
    char *s = kiln_arena_strndup(ctx->arena, (const char *)f->span.data, f->span.size);
    if (!s) return kiln_onnx_oom();
    *out = s;
    return KILN_OK;
}

static kiln_status kiln_onnx_read_bytes(kiln_onnx_ctx *ctx, const kiln_pb_field *f,
                                        const char *what, kiln_onnx_bytes *out) {
    KILN_TRY(kiln_onnx_read_string(ctx, f, what, &out->data));
    out->size = f->span.size;
    return KILN_OK;
}

kiln_status kiln_onnx_read_int(const kiln_pb_field *f, const char *what, int64_t *out) {
    KILN_TRY(kiln_pb_expect(f, KILN_PB_VARINT, what));
    *out = (int64_t)f->value;
    return KILN_OK;
}

static kiln_status kiln_onnx_read_int32(const kiln_pb_field *f, const char *what, int32_t *out) {
    int64_t v;
    KILN_TRY(kiln_onnx_read_int(f, what, &v));
    *out = (int32_t)v;
    return KILN_OK;
}

/* Appends the elements of one occurrence of a repeated int64 field to `dst` at *used. */
static kiln_status kiln_onnx_read_ints(const kiln_pb_field *f, int64_t *dst, size_t capacity,
                                       size_t *used) {
    size_t n = 0;
    KILN_TRY(kiln_pb_repeated_decode(f, KILN_PB_VARINT, (uint64_t *)(dst + *used),
                                     capacity - *used, &n));
    *used += n;
    return KILN_OK;
}

static kiln_status kiln_onnx_enter(kiln_onnx_ctx *ctx, size_t offset) {
    if (++ctx->depth > KILN_ONNX_MAX_DEPTH)
        return kiln_error(KILN_ERR_PARSE,
                          "messages nested more than %d deep at byte offset %zu",
                          KILN_ONNX_MAX_DEPTH, offset);
    return KILN_OK;
}

/* ---------------------------------------------------------------- small messages --- */

kiln_status kiln_onnx_parse_string_entry(kiln_onnx_ctx *ctx, kiln_pb_span span,
                                         kiln_onnx_string_entry *out) {
    out->key = "";
    out->value = "";
    kiln_pb_reader r;
    kiln_pb_reader_init(&r, span);
    while (!kiln_pb_reader_done(&r)) {
        kiln_pb_field f;
        KILN_TRY(kiln_pb_next_field(&r, &f));
        if (f.number == 1) KILN_TRY(kiln_onnx_read_string(ctx, &f, "StringStringEntry.key", &out->key));
        else if (f.number == 2)
            KILN_TRY(kiln_onnx_read_string(ctx, &f, "StringStringEntry.value", &out->value));
    }
    return KILN_OK;
}

static kiln_status kiln_onnx_parse_opset(kiln_onnx_ctx *ctx, kiln_pb_span span,
                                         kiln_onnx_opset *out) {
    out->domain = "";
    out->version = 0;
    kiln_pb_reader r;
    kiln_pb_reader_init(&r, span);
    while (!kiln_pb_reader_done(&r)) {
        kiln_pb_field f;
        KILN_TRY(kiln_pb_next_field(&r, &f));
        if (f.number == 1) KILN_TRY(kiln_onnx_read_string(ctx, &f, "OperatorSetId.domain", &out->domain));
        else if (f.number == 2) KILN_TRY(kiln_onnx_read_int(&f, "OperatorSetId.version", &out->version));
    }
    return KILN_OK;
}

/* ---------------------------------------------------------------- types ------------ */

static kiln_status kiln_onnx_parse_dim(kiln_onnx_ctx *ctx, kiln_pb_span span, kiln_onnx_dim *out) {
    kiln_pb_reader r;
    kiln_pb_reader_init(&r, span);
    while (!kiln_pb_reader_done(&r)) {
        kiln_pb_field f;
        KILN_TRY(kiln_pb_next_field(&r, &f));
        if (f.number == 1) {
            KILN_TRY(kiln_onnx_read_int(&f, "Dimension.dim_value", &out->value));
            out->has_value = 1;
            out->param = NULL;
        } else if (f.number == 2) {
            KILN_TRY(kiln_onnx_read_string(ctx, &f, "Dimension.dim_param", &out->param));
            out->has_value = 0;
        } else if (f.number == 3) {
            KILN_TRY(kiln_onnx_read_string(ctx, &f, "Dimension.denotation", &out->denotation));
        }
    }
    return KILN_OK;
}

static kiln_status kiln_onnx_parse_shape(kiln_onnx_ctx *ctx, kiln_pb_span span,
                                         kiln_onnx_type *out) {
    size_t counts[KILN_ONNX_MAX_FIELD];
    KILN_TRY(kiln_onnx_count_fields(span, NULL, 0, counts));
    KILN_ONNX_ALLOC(ctx, counts, 1, out->dims, out->rank);
    out->has_shape = 1;
    int32_t i = 0;
    kiln_pb_reader r;
    kiln_pb_reader_init(&r, span);
    while (!kiln_pb_reader_done(&r)) {
        kiln_pb_field f;
        KILN_TRY(kiln_pb_next_field(&r, &f));
        if (f.number != 1) continue;
        KILN_TRY(kiln_pb_expect(&f, KILN_PB_LEN, "TensorShapeProto.dim"));
        KILN_TRY(kiln_onnx_parse_dim(ctx, f.span, &out->dims[i++]));
    }
    return KILN_OK;
}

/* TypeProto.Tensor and TypeProto.SparseTensor share their layout. */
static kiln_status kiln_onnx_parse_tensor_type(kiln_onnx_ctx *ctx, kiln_pb_span span,
                                               kiln_onnx_type *out) {
    kiln_pb_reader r;
    kiln_pb_reader_init(&r, span);
    while (!kiln_pb_reader_done(&r)) {
        kiln_pb_field f;
        KILN_TRY(kiln_pb_next_field(&r, &f));
        if (f.number == 1) KILN_TRY(kiln_onnx_read_int32(&f, "TypeProto.Tensor.elem_type", &out->elem_type));
        else if (f.number == 2) {
            KILN_TRY(kiln_pb_expect(&f, KILN_PB_LEN, "TypeProto.Tensor.shape"));
            KILN_TRY(kiln_onnx_parse_shape(ctx, f.span, out));
        }
    }
    return KILN_OK;
}

/* The single TypeProto field of Sequence and Optional; Map has key_type too. */
static kiln_status kiln_onnx_parse_container_type(kiln_onnx_ctx *ctx, kiln_pb_span span,
                                                  kiln_onnx_type *out, uint32_t elem_field,
                                                  const char *what) {
    kiln_pb_reader r;
    kiln_pb_reader_init(&r, span);
    while (!kiln_pb_reader_done(&r)) {
        kiln_pb_field f;
        KILN_TRY(kiln_pb_next_field(&r, &f));
        if (f.number == elem_field) {
            KILN_TRY(kiln_pb_expect(&f, KILN_PB_LEN, what));
            KILN_TRY(kiln_onnx_parse_type(ctx, f.span, &out->elem));
        } else if (out->kind == KILN_ONNX_TYPE_MAP && f.number == 1) {
            KILN_TRY(kiln_onnx_read_int32(&f, "TypeProto.Map.key_type", &out->key_type));
        }
    }
    return KILN_OK;
}

kiln_status kiln_onnx_parse_type(kiln_onnx_ctx *ctx, kiln_pb_span span, kiln_onnx_type **out) {
    KILN_TRY(kiln_onnx_enter(ctx, span.offset));
    kiln_onnx_type *t = kiln_arena_alloc(ctx->arena, sizeof *t);
    if (!t) return kiln_onnx_oom();
    kiln_pb_reader r;
    kiln_pb_reader_init(&r, span);
    while (!kiln_pb_reader_done(&r)) {
        kiln_pb_field f;
        KILN_TRY(kiln_pb_next_field(&r, &f));
        switch (f.number) {
        case 1:
            KILN_TRY(kiln_pb_expect(&f, KILN_PB_LEN, "TypeProto.tensor_type"));
            t->kind = KILN_ONNX_TYPE_TENSOR;
            KILN_TRY(kiln_onnx_parse_tensor_type(ctx, f.span, t));
            break;
        case 8:
            KILN_TRY(kiln_pb_expect(&f, KILN_PB_LEN, "TypeProto.sparse_tensor_type"));
            t->kind = KILN_ONNX_TYPE_SPARSE_TENSOR;
            KILN_TRY(kiln_onnx_parse_tensor_type(ctx, f.span, t));
            break;
        case 4:
            KILN_TRY(kiln_pb_expect(&f, KILN_PB_LEN, "TypeProto.sequence_type"));
            t->kind = KILN_ONNX_TYPE_SEQUENCE;
            KILN_TRY(kiln_onnx_parse_container_type(ctx, f.span, t, 1, "TypeProto.Sequence.elem_type"));
            break;
        case 5:
            KILN_TRY(kiln_pb_expect(&f, KILN_PB_LEN, "TypeProto.map_type"));
            t->kind = KILN_ONNX_TYPE_MAP;
            KILN_TRY(kiln_onnx_parse_container_type(ctx, f.span, t, 2, "TypeProto.Map.value_type"));
            break;
        case 9:
            KILN_TRY(kiln_pb_expect(&f, KILN_PB_LEN, "TypeProto.optional_type"));
            t->kind = KILN_ONNX_TYPE_OPTIONAL;
            KILN_TRY(kiln_onnx_parse_container_type(ctx, f.span, t, 1, "TypeProto.Optional.elem_type"));
            break;
        case 6: KILN_TRY(kiln_onnx_read_string(ctx, &f, "TypeProto.denotation", &t->denotation)); break;
        default: break;
        }
    }
    ctx->depth--;
    *out = t;
    return KILN_OK;
}

kiln_status kiln_onnx_parse_value_info(kiln_onnx_ctx *ctx, kiln_pb_span span,
                                       kiln_onnx_value_info *out) {
    out->name = "";
    kiln_pb_reader r;
    kiln_pb_reader_init(&r, span);
    while (!kiln_pb_reader_done(&r)) {
        kiln_pb_field f;
        KILN_TRY(kiln_pb_next_field(&r, &f));
        if (f.number == 1) KILN_TRY(kiln_onnx_read_string(ctx, &f, "ValueInfoProto.name", &out->name));
        else if (f.number == 3)
            KILN_TRY(kiln_onnx_read_string(ctx, &f, "ValueInfoProto.doc_string", &out->doc_string));
        else if (f.number == 2) {
            KILN_TRY(kiln_pb_expect(&f, KILN_PB_LEN, "ValueInfoProto.type"));
            kiln_status st = kiln_onnx_parse_type(ctx, f.span, &out->type);
            if (st != KILN_OK) {
                kiln_error_prefix("type of value '%s'", out->name);
                return st;
            }
        }
    }
    return KILN_OK;
}

/* ---------------------------------------------------------------- sparse tensors --- */

kiln_status kiln_onnx_parse_sparse_tensor(kiln_onnx_ctx *ctx, kiln_pb_span span,
                                          kiln_onnx_sparse_tensor *out) {
    static const kiln_onnx_packed packed[] = {{3, KILN_PB_VARINT}};
    size_t counts[KILN_ONNX_MAX_FIELD];
    KILN_TRY(kiln_onnx_count_fields(span, packed, 1, counts));
    KILN_ONNX_ALLOC(ctx, counts, 3, out->dims, out->rank);
    size_t used = 0;
    kiln_pb_reader r;
    kiln_pb_reader_init(&r, span);
    while (!kiln_pb_reader_done(&r)) {
        kiln_pb_field f;
        KILN_TRY(kiln_pb_next_field(&r, &f));
        if (f.number == 1 || f.number == 2) {
            KILN_TRY(kiln_pb_expect(&f, KILN_PB_LEN, f.number == 1 ? "SparseTensorProto.values"
                                                                   : "SparseTensorProto.indices"));
            kiln_onnx_tensor **slot = f.number == 1 ? &out->values : &out->indices;
            *slot = kiln_arena_alloc(ctx->arena, sizeof **slot);
            if (!*slot) return kiln_onnx_oom();
            KILN_TRY(kiln_onnx_parse_tensor(ctx, f.span, *slot));
        } else if (f.number == 3) {
            KILN_TRY(kiln_onnx_read_ints(&f, out->dims, (size_t)out->rank, &used));
        }
    }
    return KILN_OK;
}

/* ---------------------------------------------------------------- attributes ------- */

static kiln_status kiln_onnx_new_tensor(kiln_onnx_ctx *ctx, kiln_pb_span span,
                                        kiln_onnx_tensor **out) {
    *out = kiln_arena_alloc(ctx->arena, sizeof **out);
    if (!*out) return kiln_onnx_oom();
    return kiln_onnx_parse_tensor(ctx, span, *out);
}

static kiln_status kiln_onnx_new_graph(kiln_onnx_ctx *ctx, kiln_pb_span span,
                                       kiln_onnx_graph **out) {
    *out = kiln_arena_alloc(ctx->arena, sizeof **out);
    if (!*out) return kiln_onnx_oom();
    return kiln_onnx_parse_graph(ctx, span, *out);
}

static kiln_status kiln_onnx_new_sparse(kiln_onnx_ctx *ctx, kiln_pb_span span,
                                        kiln_onnx_sparse_tensor **out) {
    *out = kiln_arena_alloc(ctx->arena, sizeof **out);
    if (!*out) return kiln_onnx_oom();
    return kiln_onnx_parse_sparse_tensor(ctx, span, *out);
}

/* Old files omit AttributeProto.type; infer it from the field that carries a value. */
static kiln_onnx_attr_type kiln_onnx_infer_attr_type(const size_t counts[KILN_ONNX_MAX_FIELD]) {
    static const struct {
        uint32_t field;
        kiln_onnx_attr_type type;
    } map[] = {{2, KILN_ONNX_ATTR_FLOAT},          {3, KILN_ONNX_ATTR_INT},
               {4, KILN_ONNX_ATTR_STRING},         {5, KILN_ONNX_ATTR_TENSOR},
               {6, KILN_ONNX_ATTR_GRAPH},          {22, KILN_ONNX_ATTR_SPARSE_TENSOR},
               {14, KILN_ONNX_ATTR_TYPE_PROTO},    {7, KILN_ONNX_ATTR_FLOATS},
               {8, KILN_ONNX_ATTR_INTS},           {9, KILN_ONNX_ATTR_STRINGS},
               {10, KILN_ONNX_ATTR_TENSORS},       {11, KILN_ONNX_ATTR_GRAPHS},
               {23, KILN_ONNX_ATTR_SPARSE_TENSORS}, {15, KILN_ONNX_ATTR_TYPE_PROTOS}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (counts[map[i].field]) return map[i].type;
    return KILN_ONNX_ATTR_UNDEFINED;
}

kiln_status kiln_onnx_parse_attribute(kiln_onnx_ctx *ctx, kiln_pb_span span,
                                      kiln_onnx_attribute *a) {
    static const kiln_onnx_packed packed[] = {{7, KILN_PB_FIXED32}, {8, KILN_PB_VARINT}};
    size_t counts[KILN_ONNX_MAX_FIELD];
    KILN_TRY(kiln_onnx_count_fields(span, packed, 2, counts));
    KILN_ONNX_ALLOC(ctx, counts, 7, a->floats, a->floats_count);
    KILN_ONNX_ALLOC(ctx, counts, 8, a->ints, a->ints_count);
    KILN_ONNX_ALLOC(ctx, counts, 9, a->strings, a->strings_count);
    KILN_ONNX_ALLOC(ctx, counts, 10, a->tensors, a->tensors_count);
    KILN_ONNX_ALLOC(ctx, counts, 11, a->graphs, a->graphs_count);
    KILN_ONNX_ALLOC(ctx, counts, 23, a->sparse_tensors, a->sparse_tensors_count);
    KILN_ONNX_ALLOC(ctx, counts, 15, a->type_protos, a->type_protos_count);
    a->name = "";
    a->type = kiln_onnx_infer_attr_type(counts);
    size_t nfloats = 0, nints = 0;
    int32_t nstrings = 0, ntensors = 0, ngraphs = 0, nsparse = 0, ntypes = 0;
    kiln_pb_reader r;
    kiln_pb_reader_init(&r, span);
    while (!kiln_pb_reader_done(&r)) {
        kiln_pb_field f;
        KILN_TRY(kiln_pb_next_field(&r, &f));
        switch (f.number) {
        case 1: KILN_TRY(kiln_onnx_read_string(ctx, &f, "AttributeProto.name", &a->name)); break;
        case 21:
            KILN_TRY(kiln_onnx_read_string(ctx, &f, "AttributeProto.ref_attr_name", &a->ref_attr_name));
            break;
        case 13:
            KILN_TRY(kiln_onnx_read_string(ctx, &f, "AttributeProto.doc_string", &a->doc_string));
            break;
        case 20: {
            int32_t type;
            KILN_TRY(kiln_onnx_read_int32(&f, "AttributeProto.type", &type));
            if (type < 0 || type > KILN_ONNX_ATTR_TYPE_PROTOS)
                return kiln_error(KILN_ERR_PARSE, "attribute '%s' has unknown type %d at byte offset %zu",
                                  a->name, type, f.offset);
            a->type = (kiln_onnx_attr_type)type;
            break;
        }
        case 2: {
            KILN_TRY(kiln_pb_expect(&f, KILN_PB_FIXED32, "AttributeProto.f"));
            uint32_t bits = (uint32_t)f.value;
            memcpy(&a->f, &bits, sizeof bits);
            break;
        }
        case 3: KILN_TRY(kiln_onnx_read_int(&f, "AttributeProto.i", &a->i)); break;
        case 4: KILN_TRY(kiln_onnx_read_bytes(ctx, &f, "AttributeProto.s", &a->s)); break;
        case 5:
            KILN_TRY(kiln_pb_expect(&f, KILN_PB_LEN, "AttributeProto.t"));
            KILN_TRY(kiln_onnx_new_tensor(ctx, f.span, &a->t));
            break;
        case 6:
            KILN_TRY(kiln_pb_expect(&f, KILN_PB_LEN, "AttributeProto.g"));
            KILN_TRY(kiln_onnx_new_graph(ctx, f.span, &a->g));
            break;
        case 22:
            KILN_TRY(kiln_pb_expect(&f, KILN_PB_LEN, "AttributeProto.sparse_tensor"));
            KILN_TRY(kiln_onnx_new_sparse(ctx, f.span, &a->sparse_tensor));
            break;
        case 14:
            KILN_TRY(kiln_pb_expect(&f, KILN_PB_LEN, "AttributeProto.tp"));
            KILN_TRY(kiln_onnx_parse_type(ctx, f.span, &a->tp));
            break;
        case 7: {
            size_t n;
            KILN_TRY(kiln_pb_repeated_count(&f, KILN_PB_FIXED32, &n));
            if (f.wire_type == KILN_PB_FIXED32) {
                uint32_t bits = (uint32_t)f.value;
                memcpy(&a->floats[nfloats++], &bits, 4);
            } else {
                /* Packed: n little-endian IEEE floats, the host's layout (kiln targets
                 * little-endian machines only). */
                memcpy(&a->floats[nfloats], f.span.data, n * 4);
                nfloats += n;
            }
            break;
        }
        case 8: KILN_TRY(kiln_onnx_read_ints(&f, a->ints, (size_t)a->ints_count, &nints)); break;
        case 9: KILN_TRY(kiln_onnx_read_bytes(ctx, &f, "AttributeProto.strings", &a->strings[nstrings++])); break;
        case 10:
            KILN_TRY(kiln_pb_expect(&f, KILN_PB_LEN, "AttributeProto.tensors"));
            KILN_TRY(kiln_onnx_new_tensor(ctx, f.span, &a->tensors[ntensors++]));
            break;
        case 11:
            KILN_TRY(kiln_pb_expect(&f, KILN_PB_LEN, "AttributeProto.graphs"));
            KILN_TRY(kiln_onnx_new_graph(ctx, f.span, &a->graphs[ngraphs++]));
            break;
        case 23:
            KILN_TRY(kiln_pb_expect(&f, KILN_PB_LEN, "AttributeProto.sparse_tensors"));
            KILN_TRY(kiln_onnx_new_sparse(ctx, f.span, &a->sparse_tensors[nsparse++]));
            break;
        case 15:
            KILN_TRY(kiln_pb_expect(&f, KILN_PB_LEN, "AttributeProto.type_protos"));
            KILN_TRY(kiln_onnx_parse_type(ctx, f.span, &a->type_protos[ntypes++]));
            break;
        default: break;
        }
    }
    return KILN_OK;
}

/* ---------------------------------------------------------------- nodes ------------ */

/* Finds a node's name and op type for an error message, ignoring any decoding error. */
static void kiln_onnx_describe_node(kiln_pb_span span, char *buf, size_t size) {
    kiln_pb_span name = {0}, op = {0};
    kiln_pb_reader r;
    kiln_pb_reader_init(&r, span);
    char saved[2048];
    snprintf(saved, sizeof saved, "%s", kiln_last_error());
    while (!kiln_pb_reader_done(&r)) {
        kiln_pb_field f;
        if (kiln_pb_next_field(&r, &f) != KILN_OK) break;
        if (f.wire_type != KILN_PB_LEN) continue;
        if (f.number == 3) name = f.span;
        if (f.number == 4) op = f.span;
    }
    kiln_error(KILN_ERR_PARSE, "%s", saved);
    snprintf(buf, size, "'%.*s' (%.*s)", (int)(name.size > 200 ? 200 : name.size),
             name.data ? (const char *)name.data : "", (int)(op.size > 100 ? 100 : op.size),
             op.data ? (const char *)op.data : "?");
}

static kiln_status kiln_onnx_parse_node_fields(kiln_onnx_ctx *ctx, kiln_pb_span span,
                                               kiln_onnx_node *n) {
    size_t counts[KILN_ONNX_MAX_FIELD];
    KILN_TRY(kiln_onnx_count_fields(span, NULL, 0, counts));
    KILN_ONNX_ALLOC(ctx, counts, 1, n->inputs, n->input_count);
    KILN_ONNX_ALLOC(ctx, counts, 2, n->outputs, n->output_count);
    KILN_ONNX_ALLOC(ctx, counts, 5, n->attributes, n->attribute_count);
    KILN_ONNX_ALLOC(ctx, counts, 9, n->metadata, n->metadata_count);
    n->name = n->op_type = n->domain = n->overload = "";
    int32_t ni = 0, no = 0, na = 0, nm = 0;
    kiln_pb_reader r;
    kiln_pb_reader_init(&r, span);
    while (!kiln_pb_reader_done(&r)) {
        kiln_pb_field f;
        KILN_TRY(kiln_pb_next_field(&r, &f));
        switch (f.number) {
        case 1: KILN_TRY(kiln_onnx_read_string(ctx, &f, "NodeProto.input", &n->inputs[ni++])); break;
        case 2: KILN_TRY(kiln_onnx_read_string(ctx, &f, "NodeProto.output", &n->outputs[no++])); break;
        case 3: KILN_TRY(kiln_onnx_read_string(ctx, &f, "NodeProto.name", &n->name)); break;
        case 4: KILN_TRY(kiln_onnx_read_string(ctx, &f, "NodeProto.op_type", &n->op_type)); break;
        case 6: KILN_TRY(kiln_onnx_read_string(ctx, &f, "NodeProto.doc_string", &n->doc_string)); break;
        case 7: KILN_TRY(kiln_onnx_read_string(ctx, &f, "NodeProto.domain", &n->domain)); break;
        case 8: KILN_TRY(kiln_onnx_read_string(ctx, &f, "NodeProto.overload", &n->overload)); break;
        case 5: {
            KILN_TRY(kiln_pb_expect(&f, KILN_PB_LEN, "NodeProto.attribute"));
            kiln_onnx_attribute *a = &n->attributes[na++];
            kiln_status st = kiln_onnx_parse_attribute(ctx, f.span, a);
            if (st != KILN_OK) {
                kiln_error_prefix("attribute #%d '%s'", na - 1, a->name ? a->name : "");
                return st;
            }
            break;
        }
        case 9:
            KILN_TRY(kiln_pb_expect(&f, KILN_PB_LEN, "NodeProto.metadata_props"));
            KILN_TRY(kiln_onnx_parse_string_entry(ctx, f.span, &n->metadata[nm++]));
            break;
        default: break;
        }
    }
    return KILN_OK;
}

kiln_status kiln_onnx_parse_node(kiln_onnx_ctx *ctx, kiln_pb_span span, kiln_onnx_node *n,
                                 int32_t index) {
    kiln_status st = kiln_onnx_parse_node_fields(ctx, span, n);
    if (st != KILN_OK) {
        char who[400];
        kiln_onnx_describe_node(span, who, sizeof who);
        kiln_error_prefix("node #%d %s", index, who);
    }
    return st;
}

/* ---------------------------------------------------------------- graphs ----------- */

static kiln_status kiln_onnx_parse_graph_fields(kiln_onnx_ctx *ctx, kiln_pb_span span,
                                                kiln_onnx_graph *g) {
    size_t counts[KILN_ONNX_MAX_FIELD];
    KILN_TRY(kiln_onnx_count_fields(span, NULL, 0, counts));
    KILN_ONNX_ALLOC(ctx, counts, 1, g->nodes, g->node_count);
    KILN_ONNX_ALLOC(ctx, counts, 5, g->initializers, g->initializer_count);
    KILN_ONNX_ALLOC(ctx, counts, 15, g->sparse_initializers, g->sparse_initializer_count);
    KILN_ONNX_ALLOC(ctx, counts, 11, g->inputs, g->input_count);
    KILN_ONNX_ALLOC(ctx, counts, 12, g->outputs, g->output_count);
    KILN_ONNX_ALLOC(ctx, counts, 13, g->value_infos, g->value_info_count);
    KILN_ONNX_ALLOC(ctx, counts, 16, g->metadata, g->metadata_count);
    g->name = "";
    int32_t nn = 0, ninit = 0, nsparse = 0, nin = 0, nout = 0, nvi = 0, nm = 0;
    kiln_pb_reader r;
    kiln_pb_reader_init(&r, span);
    while (!kiln_pb_reader_done(&r)) {
        kiln_pb_field f;
        KILN_TRY(kiln_pb_next_field(&r, &f));
        kiln_status st = KILN_OK;
        switch (f.number) {
        case 2: st = kiln_onnx_read_string(ctx, &f, "GraphProto.name", &g->name); break;
        case 10: st = kiln_onnx_read_string(ctx, &f, "GraphProto.doc_string", &g->doc_string); break;
        case 1:
            KILN_TRY(kiln_pb_expect(&f, KILN_PB_LEN, "GraphProto.node"));
            st = kiln_onnx_parse_node(ctx, f.span, &g->nodes[nn], nn);
            nn++;
            break;
        case 5:
            KILN_TRY(kiln_pb_expect(&f, KILN_PB_LEN, "GraphProto.initializer"));
            st = kiln_onnx_parse_tensor(ctx, f.span, &g->initializers[ninit]);
            if (st != KILN_OK) kiln_error_prefix("initializer #%d", ninit);
            ninit++;
            break;
        case 15:
            KILN_TRY(kiln_pb_expect(&f, KILN_PB_LEN, "GraphProto.sparse_initializer"));
            st = kiln_onnx_parse_sparse_tensor(ctx, f.span, &g->sparse_initializers[nsparse++]);
            break;
        case 11:
            KILN_TRY(kiln_pb_expect(&f, KILN_PB_LEN, "GraphProto.input"));
            st = kiln_onnx_parse_value_info(ctx, f.span, &g->inputs[nin++]);
            break;
        case 12:
            KILN_TRY(kiln_pb_expect(&f, KILN_PB_LEN, "GraphProto.output"));
            st = kiln_onnx_parse_value_info(ctx, f.span, &g->outputs[nout++]);
            break;
        case 13:
            KILN_TRY(kiln_pb_expect(&f, KILN_PB_LEN, "GraphProto.value_info"));
            st = kiln_onnx_parse_value_info(ctx, f.span, &g->value_infos[nvi++]);
            break;
        case 16:
            KILN_TRY(kiln_pb_expect(&f, KILN_PB_LEN, "GraphProto.metadata_props"));
            st = kiln_onnx_parse_string_entry(ctx, f.span, &g->metadata[nm++]);
            break;
        default: break;
        }
        if (st != KILN_OK) return st;
    }
    return KILN_OK;
}

kiln_status kiln_onnx_parse_graph(kiln_onnx_ctx *ctx, kiln_pb_span span, kiln_onnx_graph *g) {
    KILN_TRY(kiln_onnx_enter(ctx, span.offset));
    kiln_status st = kiln_onnx_parse_graph_fields(ctx, span, g);
    if (st != KILN_OK) {
        kiln_error_prefix("graph '%s'", g->name ? g->name : "");
        return st;
    }
    ctx->depth--;
    return KILN_OK;
}

/* ---------------------------------------------------------------- functions -------- */

static kiln_status kiln_onnx_parse_function(kiln_onnx_ctx *ctx, kiln_pb_span span,
                                            kiln_onnx_function *fn) {
    size_t counts[KILN_ONNX_MAX_FIELD];
    KILN_TRY(kiln_onnx_count_fields(span, NULL, 0, counts));
    KILN_ONNX_ALLOC(ctx, counts, 4, fn->inputs, fn->input_count);
    KILN_ONNX_ALLOC(ctx, counts, 5, fn->outputs, fn->output_count);
    KILN_ONNX_ALLOC(ctx, counts, 6, fn->attributes, fn->attribute_count);
    KILN_ONNX_ALLOC(ctx, counts, 11, fn->attribute_protos, fn->attribute_proto_count);
    KILN_ONNX_ALLOC(ctx, counts, 7, fn->nodes, fn->node_count);
    KILN_ONNX_ALLOC(ctx, counts, 9, fn->opsets, fn->opset_count);
    KILN_ONNX_ALLOC(ctx, counts, 12, fn->value_infos, fn->value_info_count);
    KILN_ONNX_ALLOC(ctx, counts, 14, fn->metadata, fn->metadata_count);
    fn->name = fn->domain = fn->overload = "";
    int32_t ni = 0, no = 0, na = 0, nap = 0, nn = 0, nop = 0, nvi = 0, nm = 0;
    kiln_pb_reader r;
    kiln_pb_reader_init(&r, span);
    while (!kiln_pb_reader_done(&r)) {
        kiln_pb_field f;
        KILN_TRY(kiln_pb_next_field(&r, &f));
        switch (f.number) {
        case 1: KILN_TRY(kiln_onnx_read_string(ctx, &f, "FunctionProto.name", &fn->name)); break;
        case 10: KILN_TRY(kiln_onnx_read_string(ctx, &f, "FunctionProto.domain", &fn->domain)); break;
        case 13: KILN_TRY(kiln_onnx_read_string(ctx, &f, "FunctionProto.overload", &fn->overload)); break;
        case 8: KILN_TRY(kiln_onnx_read_string(ctx, &f, "FunctionProto.doc_string", &fn->doc_string)); break;
        case 4: KILN_TRY(kiln_onnx_read_string(ctx, &f, "FunctionProto.input", &fn->inputs[ni++])); break;
        case 5: KILN_TRY(kiln_onnx_read_string(ctx, &f, "FunctionProto.output", &fn->outputs[no++])); break;
        case 6: KILN_TRY(kiln_onnx_read_string(ctx, &f, "FunctionProto.attribute", &fn->attributes[na++])); break;
        case 11:
            KILN_TRY(kiln_pb_expect(&f, KILN_PB_LEN, "FunctionProto.attribute_proto"));
            KILN_TRY(kiln_onnx_parse_attribute(ctx, f.span, &fn->attribute_protos[nap++]));
            break;
        case 7:
            KILN_TRY(kiln_pb_expect(&f, KILN_PB_LEN, "FunctionProto.node"));
            KILN_TRY(kiln_onnx_parse_node(ctx, f.span, &fn->nodes[nn], nn));
            nn++;
            break;
        case 9:
            KILN_TRY(kiln_pb_expect(&f, KILN_PB_LEN, "FunctionProto.opset_import"));
            KILN_TRY(kiln_onnx_parse_opset(ctx, f.span, &fn->opsets[nop++]));
            break;
        case 12:
            KILN_TRY(kiln_pb_expect(&f, KILN_PB_LEN, "FunctionProto.value_info"));
            KILN_TRY(kiln_onnx_parse_value_info(ctx, f.span, &fn->value_infos[nvi++]));
            break;
        case 14:
            KILN_TRY(kiln_pb_expect(&f, KILN_PB_LEN, "FunctionProto.metadata_props"));
            KILN_TRY(kiln_onnx_parse_string_entry(ctx, f.span, &fn->metadata[nm++]));
            break;
        default: break;
        }
    }
    return KILN_OK;
}

/* ---------------------------------------------------------------- models ----------- */

kiln_status kiln_onnx_parse_model(kiln_onnx_ctx *ctx, kiln_pb_span span, kiln_onnx_model *m) {
    size_t counts[KILN_ONNX_MAX_FIELD];
    KILN_TRY(kiln_onnx_count_fields(span, NULL, 0, counts));
    KILN_ONNX_ALLOC(ctx, counts, 8, m->opsets, m->opset_count);
    KILN_ONNX_ALLOC(ctx, counts, 25, m->functions, m->function_count);
    KILN_ONNX_ALLOC(ctx, counts, 14, m->metadata, m->metadata_count);
    m->producer_name = m->producer_version = m->domain = "";
    int32_t nop = 0, nfn = 0, nm = 0;
    kiln_pb_reader r;
    kiln_pb_reader_init(&r, span);
    while (!kiln_pb_reader_done(&r)) {
        kiln_pb_field f;
        KILN_TRY(kiln_pb_next_field(&r, &f));
        switch (f.number) {
        case 1: KILN_TRY(kiln_onnx_read_int(&f, "ModelProto.ir_version", &m->ir_version)); break;
        case 2: KILN_TRY(kiln_onnx_read_string(ctx, &f, "ModelProto.producer_name", &m->producer_name)); break;
        case 3: KILN_TRY(kiln_onnx_read_string(ctx, &f, "ModelProto.producer_version", &m->producer_version)); break;
        case 4: KILN_TRY(kiln_onnx_read_string(ctx, &f, "ModelProto.domain", &m->domain)); break;
        case 5: KILN_TRY(kiln_onnx_read_int(&f, "ModelProto.model_version", &m->model_version)); break;
        case 6: KILN_TRY(kiln_onnx_read_string(ctx, &f, "ModelProto.doc_string", &m->doc_string)); break;
        case 7:
            KILN_TRY(kiln_pb_expect(&f, KILN_PB_LEN, "ModelProto.graph"));
            m->graph = kiln_arena_alloc(ctx->arena, sizeof *m->graph);
            if (!m->graph) return kiln_onnx_oom();
            KILN_TRY(kiln_onnx_parse_graph(ctx, f.span, m->graph));
            break;
        case 8:
            KILN_TRY(kiln_pb_expect(&f, KILN_PB_LEN, "ModelProto.opset_import"));
            KILN_TRY(kiln_onnx_parse_opset(ctx, f.span, &m->opsets[nop++]));
            break;
        case 14:
            KILN_TRY(kiln_pb_expect(&f, KILN_PB_LEN, "ModelProto.metadata_props"));
            KILN_TRY(kiln_onnx_parse_string_entry(ctx, f.span, &m->metadata[nm++]));
            break;
        case 25: {
            KILN_TRY(kiln_pb_expect(&f, KILN_PB_LEN, "ModelProto.functions"));
            kiln_status st = kiln_onnx_parse_function(ctx, f.span, &m->functions[nfn]);
            if (st != KILN_OK) {
                kiln_error_prefix("function #%d '%s'", nfn,
                                  m->functions[nfn].name ? m->functions[nfn].name : "");
                return st;
            }
            nfn++;
            break;
        }
        default: break;
        }
    }
    if (!m->graph) return kiln_error(KILN_ERR_PARSE, "the model has no graph (ModelProto.graph is missing)");
    if (m->ir_version < 3)
        return kiln_error(KILN_ERR_UNSUPPORTED,
                          "the model's IR version is %lld; kiln reads IR version 3 and later",
                          (long long)m->ir_version);
    return KILN_OK;
}
