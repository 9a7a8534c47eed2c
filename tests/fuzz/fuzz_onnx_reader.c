/*
 * libFuzzer target for the ONNX reader: the input is read as a model and as each kind of
 * value file, and every tensor found is decoded. Any crash, leak, hang or sanitizer report
 * is a bug; parse errors are expected.
 */
#include <stdint.h>
#include <stdlib.h>

#include "onnx/onnx_model.h"

static void kiln_fuzz_ignore_string(void *user, const char *data, size_t size) {
    (void)user;
    (void)data;
    (void)size;
}

static void kiln_fuzz_read_tensor(const kiln_onnx_tensor *t) {
    if (t->data_type == KILN_DTYPE_STRING) {
        kiln_onnx_tensor_read_strings(t, kiln_fuzz_ignore_string, NULL);
        return;
    }
    size_t nbytes = 0;
    /* Shapes may promise far more than the file holds; only decode what can exist. */
    if (kiln_onnx_tensor_nbytes(t, &nbytes) != KILN_OK || nbytes > (64u << 20)) return;
    void *buf = malloc(nbytes ? nbytes : 1);
    if (buf) kiln_onnx_tensor_read(t, buf, nbytes);
    free(buf);
}

static void kiln_fuzz_read_graph(const kiln_onnx_graph *g, int depth) {
    if (depth > 8) return;
    for (int32_t i = 0; i < g->initializer_count; i++) kiln_fuzz_read_tensor(&g->initializers[i]);
    for (int32_t n = 0; n < g->node_count; n++)
        for (int32_t a = 0; a < g->nodes[n].attribute_count; a++) {
            const kiln_onnx_attribute *attr = &g->nodes[n].attributes[a];
            if (attr->t) kiln_fuzz_read_tensor(attr->t);
            if (attr->g) kiln_fuzz_read_graph(attr->g, depth + 1);
        }
}

static void kiln_fuzz_read_value(const kiln_onnx_value *v) {
    if (v->tensor) kiln_fuzz_read_tensor(v->tensor);
    for (int32_t i = 0; i < v->count; i++) kiln_fuzz_read_value(v->items[i]);
    if (v->map_values) kiln_fuzz_read_value(v->map_values);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    kiln_onnx_model *m = NULL;
    /* A folder that does not exist: external data references must fail cleanly. */
    if (kiln_onnx_model_load_memory(data, size, "/nonexistent-kiln-fuzz", &m) == KILN_OK) {
        kiln_fuzz_read_graph(m->graph, 0);
        kiln_onnx_model_destroy(m);
    }
    for (int kind = KILN_ONNX_VALUE_TENSOR; kind <= KILN_ONNX_VALUE_OPTIONAL; kind++) {
        kiln_onnx_value_file *vf = NULL;
        if (kiln_onnx_value_load_memory(data, size, (kiln_onnx_value_kind)kind, &vf) == KILN_OK) {
            kiln_fuzz_read_value(vf->value);
            kiln_onnx_value_file_destroy(vf);
        }
    }
    return 0;
}
