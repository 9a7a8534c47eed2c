/*
 * Reads every model.onnx under the given folders of the ONNX backend test data, and every
 * input_N.pb / output_N.pb beside it, decoding each tensor's data. The message type of a
 * .pb file follows from the type of the graph input or output it belongs to.
 *
 * usage: read_all DIR...   (each DIR holds test folders: node/, simple/, ...)
 * Prints one line per failure and a summary; exits non-zero on any failure.
 */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "onnx/onnx_model.h"

static int failures = 0, models = 0, values = 0, tensors_read = 0;

static void count_string(void *user, const char *data, size_t size) {
    (void)data;
    (void)size;
    (*(int *)user)++;
}

static int read_tensor(const kiln_onnx_tensor *t) {
    if (t->data_type == KILN_DTYPE_STRING) {
        int n = 0;
        if (kiln_onnx_tensor_read_strings(t, count_string, &n) != KILN_OK) return 0;
        return n == t->element_count;
    }
    size_t nbytes = 0;
    if (kiln_onnx_tensor_nbytes(t, &nbytes) != KILN_OK) return 0;
    void *buf = malloc(nbytes ? nbytes : 1);
    int ok = buf && kiln_onnx_tensor_read(t, buf, nbytes) == KILN_OK;
    free(buf);
    tensors_read += ok;
    return ok;
}

static int read_value(const kiln_onnx_value *v) {
    switch (v->kind) {
    case KILN_ONNX_VALUE_TENSOR: return read_tensor(v->tensor);
    case KILN_ONNX_VALUE_SPARSE_TENSOR:
        return (!v->sparse->values || read_tensor(v->sparse->values)) &&
               (!v->sparse->indices || read_tensor(v->sparse->indices));
    case KILN_ONNX_VALUE_MAP: return !v->map_values || read_value(v->map_values);
    default:
        for (int32_t i = 0; i < v->count; i++)
            if (!read_value(v->items[i])) return 0;
        return 1;
    }
}

static kiln_onnx_value_kind kind_of(const kiln_onnx_type *t) {
    if (!t) return KILN_ONNX_VALUE_TENSOR;
    switch (t->kind) {
    case KILN_ONNX_TYPE_SEQUENCE: return KILN_ONNX_VALUE_SEQUENCE;
    case KILN_ONNX_TYPE_MAP: return KILN_ONNX_VALUE_MAP;
    case KILN_ONNX_TYPE_OPTIONAL: return KILN_ONNX_VALUE_OPTIONAL;
    case KILN_ONNX_TYPE_SPARSE_TENSOR: return KILN_ONNX_VALUE_SPARSE_TENSOR;
    default: return KILN_ONNX_VALUE_TENSOR;
    }
}

static int is_initializer(const kiln_onnx_graph *g, const char *name) {
    for (int32_t i = 0; i < g->initializer_count; i++)
        if (!strcmp(g->initializers[i].name, name)) return 1;
    return 0;
}

/* The graph's inputs that the test data feeds: those without an initializer. */
static const kiln_onnx_value_info *fed_input(const kiln_onnx_graph *g, int index) {
    for (int32_t i = 0; i < g->input_count; i++) {
        if (is_initializer(g, g->inputs[i].name)) continue;
        if (index-- == 0) return &g->inputs[i];
    }
    return NULL;
}

static void read_dataset(const char *dir, const kiln_onnx_graph *g) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        int index;
        char kind[16];
        if (sscanf(e->d_name, "%15[a-z]_%d.pb", kind, &index) != 2) continue;
        const kiln_onnx_value_info *vi = NULL;
        if (!strcmp(kind, "input")) vi = fed_input(g, index);
        else if (!strcmp(kind, "output") && index < g->output_count) vi = &g->outputs[index];
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        kiln_onnx_value_file *vf = NULL;
        values++;
        if (kiln_onnx_value_load_file(path, kind_of(vi ? vi->type : NULL), &vf) != KILN_OK) {
            printf("FAIL %s: %s\n", path, kiln_last_error());
            failures++;
            continue;
        }
        if (!read_value(vf->value)) {
            printf("FAIL %s: data: %s\n", path, kiln_last_error());
            failures++;
        }
        kiln_onnx_value_file_destroy(vf);
    }
    closedir(d);
}

static void read_test(const char *dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    struct stat st;
    if (stat(path, &st) != 0) return;
    kiln_onnx_model *m = NULL;
    models++;
    if (kiln_onnx_model_load_file(path, &m) != KILN_OK) {
        printf("FAIL %s: %s\n", path, kiln_last_error());
        failures++;
        return;
    }
    for (int32_t i = 0; i < m->graph->initializer_count; i++)
        if (!read_tensor(&m->graph->initializers[i])) {
            printf("FAIL %s: initializer %s: %s\n", path, m->graph->initializers[i].name,
                   kiln_last_error());
            failures++;
        }
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (strncmp(e->d_name, "test_data_set_", 14)) continue;
        char sub[4096];
        snprintf(sub, sizeof sub, "%s/%s", dir, e->d_name);
        read_dataset(sub, m->graph);
    }
    if (d) closedir(d);
    kiln_onnx_model_destroy(m);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: read_all DIR...\n");
        return 2;
    }
    for (int a = 1; a < argc; a++) {
        DIR *d = opendir(argv[a]);
        if (!d) {
            printf("FAIL cannot open %s\n", argv[a]);
            failures++;
            continue;
        }
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.') continue;
            char sub[4096];
            snprintf(sub, sizeof sub, "%s/%s", argv[a], e->d_name);
            read_test(sub);
        }
        closedir(d);
    }
    printf("%d models, %d value files, %d tensors decoded, %d failures\n", models, values,
           tensors_read, failures);
    return failures ? 1 : 0;
}
