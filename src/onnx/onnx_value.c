/*
 * Values outside models: TensorProto, SequenceProto, MapProto and OptionalProto files
 * (the input_N.pb / output_N.pb files of the ONNX backend tests).
 */
#include "onnx/onnx_reader_internal.h"

#include <stdlib.h>
#include <string.h>

/* SequenceProto.DataType / OptionalProto.DataType values. */
enum { KILN_ELEM_UNDEFINED = 0, KILN_ELEM_TENSOR = 1, KILN_ELEM_SPARSE = 2, KILN_ELEM_SEQUENCE = 3,
       KILN_ELEM_MAP = 4, KILN_ELEM_OPTIONAL = 5 };

static kiln_status kiln_onnx_parse_value(kiln_onnx_ctx *ctx, kiln_pb_span span,
                                         kiln_onnx_value_kind kind, kiln_onnx_value **out);

static kiln_status kiln_onnx_new_value(kiln_onnx_ctx *ctx, kiln_onnx_value_kind kind,
                                       kiln_onnx_value **out) {
    kiln_onnx_value *v = kiln_arena_alloc(ctx->arena, sizeof *v);
    if (!v) return kiln_onnx_oom();
    v->kind = kind;
    v->name = "";
    *out = v;
    return KILN_OK;
}

/* The element fields of SequenceProto and OptionalProto use the same numbers:
 * 3 tensor, 4 sparse tensor, 5 sequence, 6 map, 7 optional. */
static int kiln_onnx_elem_kind(uint32_t field, kiln_onnx_value_kind *kind) {
    switch (field) {
    case 3: *kind = KILN_ONNX_VALUE_TENSOR; return 1;
    case 4: *kind = KILN_ONNX_VALUE_SPARSE_TENSOR; return 1;
    case 5: *kind = KILN_ONNX_VALUE_SEQUENCE; return 1;
    case 6: *kind = KILN_ONNX_VALUE_MAP; return 1;
    case 7: *kind = KILN_ONNX_VALUE_OPTIONAL; return 1;
    default: return 0;
    }
}

/* Sequences and optionals: a name, an element kind and element values. */
static kiln_status kiln_onnx_parse_container(kiln_onnx_ctx *ctx, kiln_pb_span span,
                                             kiln_onnx_value *v) {
    size_t count = 0;
    kiln_pb_reader r;
    kiln_pb_reader_init(&r, span);
    while (!kiln_pb_reader_done(&r)) {
        kiln_pb_field f;
        KILN_TRY(kiln_pb_next_field(&r, &f));
        kiln_onnx_value_kind k;
        count += kiln_onnx_elem_kind(f.number, &k);
    }
    if (v->kind == KILN_ONNX_VALUE_OPTIONAL && count > 1)
        return kiln_error(KILN_ERR_PARSE, "optional value at byte offset %zu holds %zu values",
                          span.offset, count);
    if (count > INT32_MAX) return kiln_error(KILN_ERR_PARSE, "sequence too long");
    if (count) {
        v->items = kiln_arena_array(ctx->arena, count, sizeof *v->items);
        if (!v->items) return kiln_onnx_oom();
    }
    kiln_pb_reader_init(&r, span);
    while (!kiln_pb_reader_done(&r)) {
        kiln_pb_field f;
        KILN_TRY(kiln_pb_next_field(&r, &f));
        kiln_onnx_value_kind k;
        if (f.number == 1) {
            KILN_TRY(kiln_onnx_read_string(ctx, &f, "value name", &v->name));
        } else if (f.number == 2) {
            int64_t t;
            KILN_TRY(kiln_onnx_read_int(&f, "elem_type", &t));
            v->elem_type = (int32_t)t;
        } else if (kiln_onnx_elem_kind(f.number, &k)) {
            KILN_TRY(kiln_pb_expect(&f, KILN_PB_LEN, "element value"));
            KILN_TRY(kiln_onnx_parse_value(ctx, f.span, k, &v->items[v->count++]));
        }
    }
    return KILN_OK;
}

static kiln_status kiln_onnx_parse_map(kiln_onnx_ctx *ctx, kiln_pb_span span, kiln_onnx_value *v) {
    size_t nkeys = 0, nstr = 0;
    kiln_pb_reader r;
    kiln_pb_reader_init(&r, span);
    while (!kiln_pb_reader_done(&r)) {
        kiln_pb_field f;
        KILN_TRY(kiln_pb_next_field(&r, &f));
        size_t n = 0;
        if (f.number == 3) KILN_TRY(kiln_pb_repeated_count(&f, KILN_PB_VARINT, &n));
        nkeys += n;
        nstr += f.number == 4;
    }
    if (nkeys > INT32_MAX || nstr > INT32_MAX) return kiln_error(KILN_ERR_PARSE, "map too large");
    /* At least one element each: empty packed keys are decoded into the array. */
    v->int_keys = kiln_arena_array(ctx->arena, nkeys ? nkeys : 1, sizeof *v->int_keys);
    v->string_keys = kiln_arena_array(ctx->arena, nstr ? nstr : 1, sizeof *v->string_keys);
    if (!v->int_keys || !v->string_keys) return kiln_onnx_oom();
    size_t used = 0;
    int32_t si = 0;
    kiln_pb_reader_init(&r, span);
    while (!kiln_pb_reader_done(&r)) {
        kiln_pb_field f;
        KILN_TRY(kiln_pb_next_field(&r, &f));
        switch (f.number) {
        case 1: KILN_TRY(kiln_onnx_read_string(ctx, &f, "MapProto.name", &v->name)); break;
        case 2: {
            int64_t t;
            KILN_TRY(kiln_onnx_read_int(&f, "MapProto.key_type", &t));
            v->key_type = (int32_t)t;
            break;
        }
        case 3: {
            size_t n = 0;
            KILN_TRY(kiln_pb_repeated_decode(&f, KILN_PB_VARINT, (uint64_t *)v->int_keys + used,
                                             nkeys - used, &n));
            used += n;
            break;
        }
        case 4:
            KILN_TRY(kiln_pb_expect(&f, KILN_PB_LEN, "MapProto.string_keys"));
            v->string_keys[si].data = kiln_arena_strndup(ctx->arena, (const char *)f.span.data,
                                                         f.span.size);
            if (!v->string_keys[si].data) return kiln_onnx_oom();
            v->string_keys[si++].size = f.span.size;
            break;
        case 5:
            KILN_TRY(kiln_pb_expect(&f, KILN_PB_LEN, "MapProto.values"));
            KILN_TRY(kiln_onnx_parse_value(ctx, f.span, KILN_ONNX_VALUE_SEQUENCE, &v->map_values));
            break;
        default: break;
        }
    }
    v->key_count = (int32_t)(nkeys ? nkeys : nstr);
    return KILN_OK;
}

static kiln_status kiln_onnx_parse_value(kiln_onnx_ctx *ctx, kiln_pb_span span,
                                         kiln_onnx_value_kind kind, kiln_onnx_value **out) {
    if (++ctx->depth > KILN_ONNX_MAX_DEPTH)
        return kiln_error(KILN_ERR_PARSE, "values nested more than %d deep at byte offset %zu",
                          KILN_ONNX_MAX_DEPTH, span.offset);
    kiln_onnx_value *v = NULL;
    KILN_TRY(kiln_onnx_new_value(ctx, kind, &v));
    switch (kind) {
    case KILN_ONNX_VALUE_TENSOR:
        v->tensor = kiln_arena_alloc(ctx->arena, sizeof *v->tensor);
        if (!v->tensor) return kiln_onnx_oom();
        KILN_TRY(kiln_onnx_parse_tensor(ctx, span, v->tensor));
        v->name = v->tensor->name;
        break;
    case KILN_ONNX_VALUE_SPARSE_TENSOR:
        v->sparse = kiln_arena_alloc(ctx->arena, sizeof *v->sparse);
        if (!v->sparse) return kiln_onnx_oom();
        KILN_TRY(kiln_onnx_parse_sparse_tensor(ctx, span, v->sparse));
        break;
    case KILN_ONNX_VALUE_SEQUENCE:
    case KILN_ONNX_VALUE_OPTIONAL: KILN_TRY(kiln_onnx_parse_container(ctx, span, v)); break;
    case KILN_ONNX_VALUE_MAP: KILN_TRY(kiln_onnx_parse_map(ctx, span, v)); break;
    default: return kiln_error(KILN_ERR_INVALID_ARGUMENT, "unknown value kind %d", (int)kind);
    }
    ctx->depth--;
    *out = v;
    return KILN_OK;
}

static kiln_status kiln_onnx_value_file_parse(kiln_onnx_value_file *vf, const uint8_t *data,
                                              size_t size, kiln_onnx_value_kind kind) {
    kiln_onnx_ctx ctx = {&vf->arena, 0, NULL};
    kiln_pb_span span = {data, size, 0};
    KILN_TRY(kiln_onnx_parse_value(&ctx, span, kind, &vf->value));
    if (ctx.external)
        return kiln_error(KILN_ERR_UNSUPPORTED,
                          "tensor '%s' keeps its data in an external file, which kiln does not "
                          "follow for standalone value files",
                          ctx.external->tensor->name);
    return KILN_OK;
}

static kiln_status kiln_onnx_value_file_new(kiln_onnx_value_file **out) {
    kiln_onnx_value_file *vf = calloc(1, sizeof *vf);
    if (!vf) return kiln_onnx_oom();
    kiln_arena_init(&vf->arena);
    *out = vf;
    return KILN_OK;
}

kiln_status kiln_onnx_value_load_memory(const void *data, size_t size, kiln_onnx_value_kind kind,
                                        kiln_onnx_value_file **out) {
    KILN_CHECK_ARG(out != NULL && (data != NULL || size == 0), "kiln_onnx_value_load_memory");
    kiln_onnx_value_file *vf = NULL;
    KILN_TRY(kiln_onnx_value_file_new(&vf));
    kiln_status st = kiln_onnx_value_file_parse(vf, data, size, kind);
    if (st != KILN_OK) {
        kiln_onnx_value_file_destroy(vf);
        return st;
    }
    *out = vf;
    return KILN_OK;
}

kiln_status kiln_onnx_value_load_file(const char *path, kiln_onnx_value_kind kind,
                                      kiln_onnx_value_file **out) {
    KILN_CHECK_ARG(path != NULL && out != NULL, "kiln_onnx_value_load_file");
    kiln_onnx_value_file *vf = NULL;
    KILN_TRY(kiln_onnx_value_file_new(&vf));
    kiln_status st = kiln_file_map_open(path, &vf->file);
    if (st == KILN_OK) st = kiln_onnx_value_file_parse(vf, vf->file.data, vf->file.size, kind);
    if (st != KILN_OK) {
        kiln_error_prefix("%s", path);
        kiln_onnx_value_file_destroy(vf);
        return st;
    }
    *out = vf;
    return KILN_OK;
}

void kiln_onnx_value_file_destroy(kiln_onnx_value_file *vf) {
    if (!vf) return;
    kiln_file_map_close(&vf->file);
    kiln_arena_free(&vf->arena);
    free(vf);
}
