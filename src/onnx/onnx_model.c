/* Loading a model: map the file, decode its messages, map its external data files. */
#define _POSIX_C_SOURCE 200809L
#include "onnx/onnx_reader_internal.h"

#include "core/keepalive.h"

#include <stdlib.h>
#include <string.h>

/* External data paths are relative to the model's folder and may not leave it: an
 * absolute path or a ".." component is refused (as the ONNX checker does). */
static kiln_status kiln_onnx_check_location(const kiln_onnx_tensor *t) {
    const char *loc = t->external_location;
    if (loc[0] == '/' || loc[0] == '\\')
        return kiln_error(KILN_ERR_PARSE, "tensor '%s': external data location '%s' is absolute",
                          t->name, loc);
    for (const char *p = loc; *p;) {
        size_t n = strcspn(p, "/\\");
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return kiln_error(KILN_ERR_PARSE,
                              "tensor '%s': external data location '%s' leaves the model's folder",
                              t->name, loc);
        p += n;
        if (*p) p++;
    }
    return KILN_OK;
}

/* Maps (once per file) the external data file named by `location`. */
static kiln_status kiln_onnx_external_file(kiln_onnx_model *m, const char *location,
                                           const kiln_file_map **out) {
    for (int32_t i = 0; i < m->external_file_count; i++)
        if (!strcmp(m->external_file_names[i], location)) {
            *out = &m->external_files[i];
            return KILN_OK;
        }
    size_t n = (size_t)m->external_file_count + 1;
    kiln_file_map *files = realloc(m->external_files, n * sizeof *files);
    if (!files) return kiln_onnx_oom();
    m->external_files = files;
    const char **names = realloc(m->external_file_names, n * sizeof *names);
    if (!names) return kiln_onnx_oom();
    m->external_file_names = names;

    size_t dir_len = strlen(m->model_dir);
    char *path = malloc(dir_len + strlen(location) + 2);
    if (!path) return kiln_onnx_oom();
    sprintf(path, "%s/%s", m->model_dir, location);
    kiln_status st = kiln_file_map_open(path, &files[n - 1]);
    free(path);
    if (st != KILN_OK) return st;
    names[n - 1] = location;
    m->external_file_count = (int32_t)n;
    *out = &files[n - 1];
    return KILN_OK;
}

static kiln_status kiln_onnx_resolve_external(kiln_onnx_model *m, kiln_onnx_tensor *t) {
    KILN_TRY(kiln_onnx_check_location(t));
    const kiln_file_map *file = NULL;
    kiln_status st = kiln_onnx_external_file(m, t->external_location, &file);
    if (st != KILN_OK) {
        kiln_error_prefix("external data of tensor '%s'", t->name);
        return st;
    }
    size_t nbytes = 0;
    KILN_TRY(kiln_onnx_tensor_nbytes(t, &nbytes));
    uint64_t offset = (uint64_t)t->external_offset;
    uint64_t length = t->external_length < 0 ? (offset <= file->size ? file->size - offset : 0)
                                             : (uint64_t)t->external_length;
    if (offset > file->size || length > file->size - offset)
        return kiln_error(KILN_ERR_PARSE,
                          "tensor '%s': external data '%s' offset %llu length %llu runs past the "
                          "end of the file (%zu bytes)",
                          t->name, t->external_location, (unsigned long long)offset,
                          (unsigned long long)length, file->size);
    if (length != nbytes)
        return kiln_error(KILN_ERR_PARSE,
                          "tensor '%s' needs %zu bytes but its external data in '%s' has %llu",
                          t->name, nbytes, t->external_location, (unsigned long long)length);
    t->raw.data = file->data ? file->data + offset : NULL;
    t->raw.size = (size_t)length;
    t->raw.offset = (size_t)offset;
    return KILN_OK;
}

static kiln_status kiln_onnx_model_parse(kiln_onnx_model *m, const uint8_t *data, size_t size) {
    kiln_onnx_ctx ctx = {&m->arena, 0, NULL};
    kiln_pb_span span = {data, size, 0};
    m->file_size = size;
    if (size == 0) return kiln_error(KILN_ERR_PARSE, "the model is empty (0 bytes)");
    KILN_TRY(kiln_onnx_parse_model(&ctx, span, m));
    for (kiln_onnx_pending *p = ctx.external; p; p = p->next)
        KILN_TRY(kiln_onnx_resolve_external(m, p->tensor));
    return KILN_OK;
}

static int kiln_onnx_model_contains(void *owner, const void *p, size_t n, int *file);
static void kiln_onnx_model_free(void *owner);

static kiln_status kiln_onnx_model_new(const char *model_dir, kiln_onnx_model **out) {
    kiln_onnx_model *m = calloc(1, sizeof *m);
    if (!m) return kiln_onnx_oom();
    kiln_arena_init(&m->arena);
    /* without a keepalive (out of memory) graphs copy the weights instead of borrowing */
    kiln_keepalive_owner owner = {m, kiln_onnx_model_free, kiln_onnx_model_contains};
    m->keep = kiln_keepalive_create(&owner);
    m->model_dir = strdup(model_dir && *model_dir ? model_dir : ".");
    if (!m->model_dir) {
        kiln_onnx_model_destroy(m);
        return kiln_onnx_oom();
    }
    *out = m;
    return KILN_OK;
}

kiln_status kiln_onnx_model_load_memory(const void *data, size_t size, const char *model_dir,
                                        kiln_onnx_model **out) {
    KILN_CHECK_ARG(out != NULL && (data != NULL || size == 0), "kiln_onnx_model_load_memory");
    kiln_onnx_model *m = NULL;
    KILN_TRY(kiln_onnx_model_new(model_dir, &m));
    kiln_status st = kiln_onnx_model_parse(m, data, size);
    if (st != KILN_OK) {
        kiln_onnx_model_destroy(m);
        return st;
    }
    *out = m;
    return KILN_OK;
}

kiln_status kiln_onnx_model_load_file(const char *path, kiln_onnx_model **out) {
    KILN_CHECK_ARG(path != NULL && out != NULL, "kiln_onnx_model_load_file");
    char *dir = strdup(path);
    if (!dir) return kiln_onnx_oom();
    char *slash = strrchr(dir, '/');
    if (slash) *slash = '\0';
    kiln_onnx_model *m = NULL;
    kiln_status st = kiln_onnx_model_new(slash ? (dir[0] ? dir : "/") : ".", &m);
    free(dir);
    if (st != KILN_OK) return st;
    st = kiln_file_map_open(path, &m->file);
    if (st == KILN_OK) st = kiln_onnx_model_parse(m, m->file.data, m->file.size);
    if (st != KILN_OK) {
        kiln_error_prefix("%s", path);
        kiln_onnx_model_destroy(m);
        return st;
    }
    *out = m;
    return KILN_OK;
}

/* Whether [p, p + n) lies in the model's bytes or its external data files. */
static int kiln_onnx_model_contains(void *owner, const void *p, size_t n, int *file) {
    const kiln_onnx_model *m = owner;
    const uint8_t *q = p;
    const kiln_file_map *maps[1] = {&m->file};
    for (int32_t i = -1; i < m->external_file_count; i++) {
        const kiln_file_map *f = i < 0 ? maps[0] : &m->external_files[i];
        if (f->data && q >= f->data && n <= f->size && (size_t)(q - f->data) <= f->size - n) {
            *file = f->mapped;
            return 1;
        }
    }
    const uint8_t *c = m->owned_copy;
    if (c && q >= c && n <= m->file_size && (size_t)(q - c) <= m->file_size - n) {
        *file = 0;
        return 1;
    }
    return 0;
}

static void kiln_onnx_model_free(void *owner) {
    kiln_onnx_model *m = owner;
    for (int32_t i = 0; i < m->external_file_count; i++) kiln_file_map_close(&m->external_files[i]);
    free(m->external_files);
    free(m->external_file_names);
    kiln_file_map_close(&m->file);
    kiln_arena_free(&m->arena);
    free(m->model_dir);
    free(m->owned_copy);
    free(m);
}

void kiln_onnx_model_destroy(kiln_onnx_model *m) {
    if (!m) return;
    if (m->keep)
        kiln_keepalive_unref(m->keep);
    else
        kiln_onnx_model_free(m);
}

const char *kiln_onnx_attr_type_name(kiln_onnx_attr_type type) {
    static const char *names[] = {"undefined", "float",   "int",     "string",  "tensor",
                                  "graph",     "floats",  "ints",    "strings", "tensors",
                                  "graphs",    "sparse_tensor", "sparse_tensors", "type_proto",
                                  "type_protos"};
    if ((int)type < 0 || (size_t)type >= sizeof names / sizeof names[0]) return "undefined";
    return names[type];
}
