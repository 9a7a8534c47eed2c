/*
 * Writes the values kiln's ONNX reader decodes as .npy files, so a Python test can compare
 * them with what the onnx package decodes (tests/python/test_onnx_values.py).
 *
 * usage: pb_to_npy OUT_DIR LIST_FILE
 *
 * LIST_FILE has one line per file, `KIND PATH`: KIND is tensor, sequence, optional or map
 * for a .pb value file (the message type it holds), or model for a model.onnx (any path
 * ending in ".onnx" is read as a model whatever its KIND). Blank lines are skipped; lines
 * are numbered from 1 and the number N names what is written for that line:
 *
 *   a tensor value      N.npy and N.json
 *   a sequence/optional N.json {"kind", "count", "empty", "elem_type", "name"} and each
 *                       element as N_<i> (recursively: a tensor N_<i>.npy + N_<i>.json)
 *   a map               N.json with the keys, its values as the sequence N_values
 *   a model             N.json {"kind": "model", "initializers": [names],
 *                       "attributes": [names]}, each initializer of the main graph as
 *                       N_init_<i>, and every other tensor of the model (tensor attributes
 *                       of nodes, initializers of subgraphs; depth first, in file order) as
 *                       N_attr_<i>
 *
 * A tensor's .json is {"dtype": kiln dtype name, "shape": [...], "packed": bool, "name"}.
 * Its .npy holds the elements as kiln reads them: numeric types with their numpy descr;
 * bfloat16 as '<u2' and the 8-bit float types as '|u1' (the stored bit patterns, shape as
 * the tensor); 4- and 2-bit types as '|u1' of the packed bytes, shape [nbytes] ("packed":
 * true). String tensors have no .npy: their .json has "strings", a list in which each byte
 * of an element is one code point (decode with .encode('latin-1')).
 * Names are written the same way.
 *
 * Any failure prints the path and kiln_last_error(); the tool goes on with the next line
 * and exits 1 at the end.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx/onnx_model.h"

static const char *out_dir;

/* ---------------------------------------------------------------- output helpers --- */

static FILE *open_out(const char *stem, const char *ext) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.%s", out_dir, stem, ext);
    FILE *f = fopen(path, "wb");
    if (!f) fprintf(stderr, "cannot write %s\n", path);
    return f;
}

/* A JSON string in which each byte is one code point (latin-1), so binary survives. */
static void json_bytes(FILE *f, const char *s, size_t n) {
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20 || c >= 0x7f)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

static void json_str(FILE *f, const char *s) {
    json_bytes(f, s ? s : "", s ? strlen(s) : 0);
}

static void json_shape(FILE *f, const kiln_onnx_tensor *t) {
    fputc('[', f);
    for (int32_t i = 0; i < t->rank; i++)
        fprintf(f, "%s%lld", i ? ", " : "", (long long)t->dims[i]);
    fputc(']', f);
}

/* numpy .npy format version 1.0: magic, version, header length, a Python dict literal
 * padded with spaces and ended by '\n' so the data starts 64-byte aligned, then data. */
static int write_npy(const char *stem, const char *descr, const int64_t *shape, int32_t rank,
                     const void *data, size_t nbytes) {
    char header[4096];
    int n = snprintf(header, sizeof header, "{'descr': '%s', 'fortran_order': False, 'shape': (",
                     descr);
    for (int32_t i = 0; i < rank && n < (int)sizeof header - 64; i++)
        n += snprintf(header + n, sizeof header - (size_t)n, "%lld,%s", (long long)shape[i],
                      i + 1 < rank ? " " : "");
    n += snprintf(header + n, sizeof header - (size_t)n, "), }");
    size_t total = 10 + (size_t)n + 1;
    size_t pad = (64 - total % 64) % 64;
    size_t hlen = (size_t)n + pad + 1;
    FILE *f = open_out(stem, "npy");
    if (!f) return 0;
    static const unsigned char magic[8] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0};
    fwrite(magic, 1, sizeof magic, f);
    fputc((int)(hlen & 0xff), f);
    fputc((int)(hlen >> 8), f);
    fwrite(header, 1, (size_t)n, f);
    for (size_t i = 0; i < pad; i++) fputc(' ', f);
    fputc('\n', f);
    if (nbytes) fwrite(data, 1, nbytes, f);
    return fclose(f) == 0;
}

/* ---------------------------------------------------------------- tensors ---------- */

/* The numpy descr of a dtype, and whether the .npy holds packed sub-byte elements. */
static const char *npy_descr(int32_t dtype, int *packed) {
    *packed = 0;
    switch (dtype) {
    case KILN_DTYPE_FLOAT32:
        return "<f4";
    case KILN_DTYPE_FLOAT64:
        return "<f8";
    case KILN_DTYPE_FLOAT16:
        return "<f2";
    case KILN_DTYPE_INT8:
        return "|i1";
    case KILN_DTYPE_UINT8:
        return "|u1";
    case KILN_DTYPE_INT16:
        return "<i2";
    case KILN_DTYPE_UINT16:
        return "<u2";
    case KILN_DTYPE_INT32:
        return "<i4";
    case KILN_DTYPE_UINT32:
        return "<u4";
    case KILN_DTYPE_INT64:
        return "<i8";
    case KILN_DTYPE_UINT64:
        return "<u8";
    case KILN_DTYPE_BOOL:
        return "|b1";
    case KILN_DTYPE_COMPLEX64:
        return "<c8";
    case KILN_DTYPE_COMPLEX128:
        return "<c16";
    case KILN_DTYPE_BFLOAT16:
        return "<u2";
    case KILN_DTYPE_FLOAT8E4M3FN:
    case KILN_DTYPE_FLOAT8E4M3FNUZ:
    case KILN_DTYPE_FLOAT8E5M2:
    case KILN_DTYPE_FLOAT8E5M2FNUZ:
    case KILN_DTYPE_FLOAT8E8M0:
        return "|u1";
    case KILN_DTYPE_UINT4:
    case KILN_DTYPE_INT4:
    case KILN_DTYPE_FLOAT4E2M1:
    case KILN_DTYPE_UINT2:
    case KILN_DTYPE_INT2:
        *packed = 1;
        return "|u1";
    default:
        return NULL;
    }
}

typedef struct string_list {
    FILE *f;
    int count;
} string_list;

static void put_string(void *user, const char *data, size_t size) {
    string_list *s = user;
    if (s->count++) fputs(", ", s->f);
    json_bytes(s->f, data, size);
}

static int write_tensor(const char *stem, const kiln_onnx_tensor *t) {
    int packed = 0;
    const char *descr = npy_descr(t->data_type, &packed);
    if (t->data_type != KILN_DTYPE_STRING && !descr) {
        fprintf(stderr, "tensor '%s': no .npy type for %s\n", t->name,
                kiln_dtype_name((kiln_dtype)t->data_type));
        return 0;
    }
    FILE *f = open_out(stem, "json");
    if (!f) return 0;
    fprintf(f, "{\"dtype\": \"%s\", \"shape\": ", kiln_dtype_name((kiln_dtype)t->data_type));
    json_shape(f, t);
    fprintf(f, ", \"packed\": %s, \"name\": ", packed ? "true" : "false");
    json_str(f, t->name);
    int ok = 1;
    if (t->data_type == KILN_DTYPE_STRING) {
        fputs(", \"strings\": [", f);
        string_list s = {f, 0};
        ok = kiln_onnx_tensor_read_strings(t, put_string, &s) == KILN_OK;
        fputs("]", f);
        if (ok && s.count != t->element_count) {
            fprintf(stderr, "tensor '%s': %d strings for %lld elements\n", t->name, s.count,
                    (long long)t->element_count);
            ok = 0;
        }
    }
    fputs("}\n", f);
    if (fclose(f) != 0) ok = 0;
    if (!ok || t->data_type == KILN_DTYPE_STRING) return ok;

    size_t nbytes = 0;
    if (kiln_onnx_tensor_nbytes(t, &nbytes) != KILN_OK) return 0;
    void *buf = malloc(nbytes ? nbytes : 1);
    if (!buf) return 0;
    if (kiln_onnx_tensor_read(t, buf, nbytes) != KILN_OK) {
        free(buf);
        return 0;
    }
    int64_t flat = (int64_t)nbytes;
    ok = packed ? write_npy(stem, descr, &flat, 1, buf, nbytes)
                : write_npy(stem, descr, t->dims, t->rank, buf, nbytes);
    free(buf);
    return ok;
}

/* ---------------------------------------------------------------- values ----------- */

static const char *kind_name(kiln_onnx_value_kind kind) {
    switch (kind) {
    case KILN_ONNX_VALUE_TENSOR:
        return "tensor";
    case KILN_ONNX_VALUE_SPARSE_TENSOR:
        return "sparse_tensor";
    case KILN_ONNX_VALUE_SEQUENCE:
        return "sequence";
    case KILN_ONNX_VALUE_MAP:
        return "map";
    case KILN_ONNX_VALUE_OPTIONAL:
        return "optional";
    }
    return "unknown";
}

static int write_value(const char *stem, const kiln_onnx_value *v) {
    char sub[4096];
    if (v->kind == KILN_ONNX_VALUE_TENSOR) return write_tensor(stem, v->tensor);
    if (v->kind == KILN_ONNX_VALUE_SPARSE_TENSOR) {
        fprintf(stderr, "sparse tensor values are not written\n");
        return 0;
    }
    FILE *f = open_out(stem, "json");
    if (!f) return 0;
    fprintf(f, "{\"kind\": \"%s\", \"name\": ", kind_name(v->kind));
    json_str(f, v->name);
    if (v->kind == KILN_ONNX_VALUE_MAP) {
        fprintf(f, ", \"key_type\": %d, \"count\": %d, \"keys\": [", v->key_type, v->key_count);
        for (int32_t i = 0; i < v->key_count; i++) {
            if (i) fputs(", ", f);
            if (v->key_type == KILN_DTYPE_STRING)
                json_bytes(f, v->string_keys[i].data, v->string_keys[i].size);
            else
                fprintf(f, "%lld", (long long)v->int_keys[i]);
        }
        fprintf(f, "], \"has_values\": %s}\n", v->map_values ? "true" : "false");
        int ok = fclose(f) == 0;
        snprintf(sub, sizeof sub, "%s_values", stem);
        return ok && (!v->map_values || write_value(sub, v->map_values));
    }
    fprintf(f, ", \"elem_type\": %d, \"count\": %d, \"empty\": %s}\n", v->elem_type, v->count,
            v->count ? "false" : "true");
    int ok = fclose(f) == 0;
    for (int32_t i = 0; ok && i < v->count; i++) {
        snprintf(sub, sizeof sub, "%s_%d", stem, i);
        ok = write_value(sub, v->items[i]);
    }
    return ok;
}

/* ---------------------------------------------------------------- models ----------- */

typedef struct tensor_walk {
    const char *stem;
    FILE *names; /* the model's .json, receiving the names */
    int count;
    int ok;
} tensor_walk;

static void walk_tensor(tensor_walk *w, const kiln_onnx_tensor *t) {
    char sub[4096];
    snprintf(sub, sizeof sub, "%s_attr_%d", w->stem, w->count);
    if (w->count++) fputs(", ", w->names);
    json_str(w->names, t->name);
    if (w->ok && !write_tensor(sub, t)) w->ok = 0;
}

static void walk_graph(tensor_walk *w, const kiln_onnx_graph *g, int is_main);

static void walk_nodes(tensor_walk *w, const kiln_onnx_node *nodes, int32_t count) {
    for (int32_t n = 0; n < count; n++)
        for (int32_t a = 0; a < nodes[n].attribute_count; a++) {
            const kiln_onnx_attribute *at = &nodes[n].attributes[a];
            if (at->t) walk_tensor(w, at->t);
            for (int32_t i = 0; i < at->tensors_count; i++) walk_tensor(w, at->tensors[i]);
            if (at->g) walk_graph(w, at->g, 0);
            for (int32_t i = 0; i < at->graphs_count; i++) walk_graph(w, at->graphs[i], 0);
        }
}

/* The main graph's initializers are written separately (N_init_<i>). */
static void walk_graph(tensor_walk *w, const kiln_onnx_graph *g, int is_main) {
    if (!is_main)
        for (int32_t i = 0; i < g->initializer_count; i++) walk_tensor(w, &g->initializers[i]);
    walk_nodes(w, g->nodes, g->node_count);
}

static int write_model(const char *stem, const kiln_onnx_model *m) {
    char sub[4096];
    int ok = 1;
    FILE *f = open_out(stem, "json");
    if (!f) return 0;
    fputs("{\"kind\": \"model\", \"initializers\": [", f);
    for (int32_t i = 0; i < m->graph->initializer_count; i++) {
        const kiln_onnx_tensor *t = &m->graph->initializers[i];
        if (i) fputs(", ", f);
        json_str(f, t->name);
        snprintf(sub, sizeof sub, "%s_init_%d", stem, i);
        if (ok && !write_tensor(sub, t)) ok = 0;
    }
    fputs("], \"attributes\": [", f);
    tensor_walk w = {stem, f, 0, ok};
    walk_graph(&w, m->graph, 1);
    for (int32_t i = 0; i < m->function_count; i++)
        walk_nodes(&w, m->functions[i].nodes, m->functions[i].node_count);
    fputs("]}\n", f);
    if (fclose(f) != 0) w.ok = 0;
    return w.ok;
}

/* ---------------------------------------------------------------- main ------------- */

static int parse_kind(const char *s, kiln_onnx_value_kind *kind) {
    if (!strcmp(s, "tensor"))
        *kind = KILN_ONNX_VALUE_TENSOR;
    else if (!strcmp(s, "sequence"))
        *kind = KILN_ONNX_VALUE_SEQUENCE;
    else if (!strcmp(s, "optional"))
        *kind = KILN_ONNX_VALUE_OPTIONAL;
    else if (!strcmp(s, "map"))
        *kind = KILN_ONNX_VALUE_MAP;
    else
        return 0;
    return 1;
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

static int process_line(int number, char *line) {
    char stem[64];
    snprintf(stem, sizeof stem, "%d", number);
    char *space = strchr(line, ' ');
    if (!space) {
        fprintf(stderr, "line %d: expected 'KIND PATH'\n", number);
        return 0;
    }
    *space = '\0';
    const char *kind_text = line, *path = space + 1;
    if (!strcmp(kind_text, "model") || ends_with(path, ".onnx")) {
        kiln_onnx_model *m = NULL;
        if (kiln_onnx_model_load_file(path, &m) != KILN_OK) {
            fprintf(stderr, "FAIL %s: %s\n", path, kiln_last_error());
            return 0;
        }
        int ok = write_model(stem, m);
        if (!ok) fprintf(stderr, "FAIL %s: %s\n", path, kiln_last_error());
        kiln_onnx_model_destroy(m);
        return ok;
    }
    kiln_onnx_value_kind kind;
    if (!parse_kind(kind_text, &kind)) {
        fprintf(stderr, "line %d: unknown kind '%s'\n", number, kind_text);
        return 0;
    }
    kiln_onnx_value_file *vf = NULL;
    if (kiln_onnx_value_load_file(path, kind, &vf) != KILN_OK) {
        fprintf(stderr, "FAIL %s: %s\n", path, kiln_last_error());
        return 0;
    }
    int ok = write_value(stem, vf->value);
    if (!ok) fprintf(stderr, "FAIL %s: %s\n", path, kiln_last_error());
    kiln_onnx_value_file_destroy(vf);
    return ok;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: pb_to_npy OUT_DIR LIST_FILE\n");
        return 2;
    }
    out_dir = argv[1];
    FILE *list = fopen(argv[2], "r");
    if (!list) {
        fprintf(stderr, "cannot open %s\n", argv[2]);
        return 1;
    }
    char line[8192];
    int number = 0, failures = 0, done = 0;
    while (fgets(line, sizeof line, list)) {
        number++;
        size_t n = strlen(line);
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = '\0';
        if (!n) continue;
        if (process_line(number, line))
            done++;
        else
            failures++;
    }
    fclose(list);
    printf("pb_to_npy: %d files written, %d failures\n", done, failures);
    return failures ? 1 : 0;
}
