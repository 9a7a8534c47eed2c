/*
 * Unit test of the ONNX reader (src/onnx/onnx_*.c) on models encoded by hand in memory,
 * external data files in a temporary folder, and hostile input: every truncation and
 * byte flip of a real model, deep nesting, huge declared sizes.
 *
 * usage: test_onnx_reader [MODEL]   (MODEL: a small real model for the truncation tests;
 * default: the backend test test_conv_with_strides_padding, see default_model_path)
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "onnx/onnx_model.h"
#include "test_util.h"

#define KILN_TEST_MODEL "node/test_conv_with_strides_padding/model.onnx"

/* The model for the truncation tests: argv[1], else under $KILN_BACKEND_TESTS, else under
 * ../shared/onnx-backend-tests beside the repository this file is in. */
static void default_model_path(char *buf, size_t size) {
    const char *env = getenv("KILN_BACKEND_TESTS");
    if (env && *env) {
        snprintf(buf, size, "%s/%s", env, KILN_TEST_MODEL);
        return;
    }
    const char *file = __FILE__;
    const char *tail = strstr(file, "tests/unit/test_onnx_reader.c");
    if (tail && tail > file) {
        snprintf(buf, size, "%.*s../shared/onnx-backend-tests/%s", (int)(tail - file), file,
                 KILN_TEST_MODEL);
        return;
    }
    snprintf(buf, size, "/work/shared/onnx-backend-tests/%s", KILN_TEST_MODEL);
}

/* ---- a tiny protobuf encoder ---------------------------------------------------------- */

typedef struct pbuf {
    uint8_t *b;
    size_t n, cap;
} pbuf;

static void pb_byte(pbuf *w, uint8_t v) {
    if (w->n == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 64;
        uint8_t *b = realloc(w->b, cap);
        if (!b) {
            fprintf(stderr, "out of memory\n");
            exit(2);
        }
        w->b = b;
        w->cap = cap;
    }
    w->b[w->n++] = v;
}

static void pb_raw(pbuf *w, const void *data, size_t size) {
    for (size_t i = 0; i < size; i++) pb_byte(w, ((const uint8_t *)data)[i]);
}

static void pb_varint(pbuf *w, uint64_t v) {
    while (v >= 0x80) {
        pb_byte(w, (uint8_t)(v | 0x80));
        v >>= 7;
    }
    pb_byte(w, (uint8_t)v);
}

static void pb_key(pbuf *w, uint32_t number, uint32_t wire_type) {
    pb_varint(w, ((uint64_t)number << 3) | wire_type);
}

/* A varint field (int64 values are written as their two's complement, as protobuf does). */
static void pb_int(pbuf *w, uint32_t number, int64_t v) {
    pb_key(w, number, KILN_PB_VARINT);
    pb_varint(w, (uint64_t)v);
}

static void pb_fixed32(pbuf *w, uint32_t v) {
    for (int i = 0; i < 4; i++) pb_byte(w, (uint8_t)(v >> (8 * i)));
}

static void pb_fixed64(pbuf *w, uint64_t v) {
    for (int i = 0; i < 8; i++) pb_byte(w, (uint8_t)(v >> (8 * i)));
}

static uint32_t float_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static uint64_t double_bits(double d) {
    uint64_t u;
    memcpy(&u, &d, 8);
    return u;
}

static void pb_float(pbuf *w, uint32_t number, float f) {
    pb_key(w, number, KILN_PB_FIXED32);
    pb_fixed32(w, float_bits(f));
}

static void pb_bytes(pbuf *w, uint32_t number, const void *data, size_t size) {
    pb_key(w, number, KILN_PB_LEN);
    pb_varint(w, size);
    pb_raw(w, data, size);
}

static void pb_str(pbuf *w, uint32_t number, const char *s) {
    pb_bytes(w, number, s, strlen(s));
}

/* Appends `sub` as an embedded message and frees it. */
static void pb_msg(pbuf *w, uint32_t number, pbuf *sub) {
    pb_bytes(w, number, sub->b, sub->n);
    free(sub->b);
    memset(sub, 0, sizeof *sub);
}

/* Packed repeated varints and floats. */
static void pb_packed_ints(pbuf *w, uint32_t number, const int64_t *v, size_t n) {
    pbuf p = {0};
    for (size_t i = 0; i < n; i++) pb_varint(&p, (uint64_t)v[i]);
    pb_msg(w, number, &p);
}

static void pb_packed_floats(pbuf *w, uint32_t number, const float *v, size_t n) {
    pbuf p = {0};
    for (size_t i = 0; i < n; i++) pb_fixed32(&p, float_bits(v[i]));
    pb_msg(w, number, &p);
}

static void pb_free(pbuf *w) {
    free(w->b);
    memset(w, 0, sizeof *w);
}

/* A StringStringEntryProto field. */
static void pb_entry(pbuf *w, uint32_t number, const char *key, const char *value) {
    pbuf e = {0};
    pb_str(&e, 1, key);
    pb_str(&e, 2, value);
    pb_msg(w, number, &e);
}

/* ---- ONNX field numbers (onnx.proto) --------------------------------------------------- */

enum {
    M_IR_VERSION = 1,
    M_PRODUCER_NAME = 2,
    M_PRODUCER_VERSION = 3,
    M_DOMAIN = 4,
    M_MODEL_VERSION = 5,
    M_DOC = 6,
    M_GRAPH = 7,
    M_OPSET = 8,
    M_METADATA = 14,
    M_FUNCTIONS = 25
};
enum { G_NODE = 1, G_NAME = 2, G_INIT = 5, G_DOC = 10, G_INPUT = 11, G_OUTPUT = 12, G_VI = 13 };
enum { G_METADATA = 16 };
enum { N_INPUT = 1, N_OUTPUT = 2, N_NAME = 3, N_OP = 4, N_ATTR = 5, N_DOC = 6, N_DOMAIN = 7 };
enum { N_METADATA = 9 };
enum {
    A_NAME = 1,
    A_F = 2,
    A_I = 3,
    A_S = 4,
    A_T = 5,
    A_G = 6,
    A_FLOATS = 7,
    A_INTS = 8,
    A_STRINGS = 9,
    A_TENSORS = 10,
    A_GRAPHS = 11,
    A_DOC = 13,
    A_TP = 14,
    A_TYPE = 20,
    A_REF = 21
};
enum {
    T_DIMS = 1,
    T_DTYPE = 2,
    T_FLOAT = 4,
    T_INT32 = 5,
    T_STRING = 6,
    T_INT64 = 7,
    T_NAME = 8,
    T_RAW = 9,
    T_DOUBLE = 10,
    T_UINT64 = 11,
    T_EXTERNAL = 13,
    T_LOCATION = 14
};

/* ---- builders ------------------------------------------------------------------------- */

static void opset(pbuf *w, uint32_t number, const char *domain, int64_t version) {
    pbuf o = {0};
    if (domain) pb_str(&o, 1, domain);
    pb_int(&o, 2, version);
    pb_msg(w, number, &o);
}

/* A model holding `graph` (consumed), IR version `ir`, opset 17. */
static pbuf model_with(int64_t ir, pbuf *graph) {
    pbuf m = {0};
    pb_int(&m, M_IR_VERSION, ir);
    opset(&m, M_OPSET, "", 17);
    if (graph) pb_msg(&m, M_GRAPH, graph);
    return m;
}

/* A node with one input and one output. */
static pbuf simple_node(const char *op, const char *in, const char *out) {
    pbuf n = {0};
    pb_str(&n, N_INPUT, in);
    pb_str(&n, N_OUTPUT, out);
    pb_str(&n, N_OP, op);
    return n;
}

/* TypeProto.Tensor with elem_type and optional shape (dims: >= 0 value, -1 unknown,
 * -2 a symbolic "N"). */
static pbuf tensor_type(int32_t elem, const int64_t *dims, int rank) {
    pbuf tt = {0};
    pb_int(&tt, 1, elem);
    if (rank >= 0) {
        pbuf shape = {0};
        for (int i = 0; i < rank; i++) {
            pbuf d = {0};
            if (dims[i] >= 0)
                pb_int(&d, 1, dims[i]);
            else if (dims[i] == -2)
                pb_str(&d, 2, "N");
            pb_msg(&shape, 1, &d);
        }
        pb_msg(&tt, 2, &shape);
    }
    pbuf t = {0};
    pb_msg(&t, 1, &tt);
    return t;
}

static pbuf value_info(const char *name, pbuf *type) {
    pbuf v = {0};
    pb_str(&v, 1, name);
    if (type) pb_msg(&v, 2, type);
    return v;
}

/* A float tensor with raw data. */
static pbuf raw_float_tensor(const char *name, const int64_t *dims, int rank, const float *v,
                             size_t n) {
    pbuf t = {0};
    for (int i = 0; i < rank; i++) pb_int(&t, T_DIMS, dims[i]);
    pb_int(&t, T_DTYPE, KILN_DTYPE_FLOAT32);
    pb_str(&t, T_NAME, name);
    pb_bytes(&t, T_RAW, v, n * sizeof *v);
    return t;
}

static kiln_onnx_model *load(const pbuf *w, kiln_status expect) {
    kiln_onnx_model *m = NULL;
    kiln_clear_error();
    kiln_status st = kiln_onnx_model_load_memory(w->b, w->n, NULL, &m);
    EXPECT_EQ_INT(st, expect);
    if (st != expect) fprintf(stderr, "  load: %s\n", kiln_last_error());
    if (st != KILN_OK) return NULL;
    return m;
}

static kiln_onnx_value_file *load_value(const pbuf *w, kiln_onnx_value_kind kind,
                                        kiln_status expect) {
    kiln_onnx_value_file *vf = NULL;
    kiln_clear_error();
    kiln_status st = kiln_onnx_value_load_memory(w->b, w->n, kind, &vf);
    EXPECT_EQ_INT(st, expect);
    if (st != expect) fprintf(stderr, "  load value: %s\n", kiln_last_error());
    if (st != KILN_OK) return NULL;
    return vf;
}

/* Reads a tensor's data into a fresh buffer of exactly nbytes; NULL on failure (reported
 * unless `quiet`). */
static int quiet = 0;

static void *read_data(const kiln_onnx_tensor *t, size_t *nbytes) {
    *nbytes = 0;
    if (kiln_onnx_tensor_nbytes(t, nbytes) != KILN_OK) return NULL;
    void *p = malloc(*nbytes ? *nbytes : 1);
    if (!p) return NULL;
    if (kiln_onnx_tensor_read(t, p, *nbytes) != KILN_OK) {
        if (!quiet) fprintf(stderr, "  read: %s\n", kiln_last_error());
        free(p);
        return NULL;
    }
    return p;
}

/* ---- models, graphs, nodes, types ------------------------------------------------------ */

static void test_model_fields(void) {
    pbuf g = {0};
    pb_str(&g, G_NAME, "main graph");
    pb_str(&g, G_DOC, "graph doc");
    pbuf n = {0};
    pb_str(&n, N_INPUT, "X");
    pb_str(&n, N_INPUT, ""); /* an omitted optional input */
    pb_str(&n, N_INPUT, "B");
    pb_str(&n, N_OUTPUT, "Y");
    pb_str(&n, N_OUTPUT, "");
    pb_str(&n, N_NAME, "conv1");
    pb_str(&n, N_OP, "Conv");
    pb_str(&n, N_DOMAIN, "com.example");
    pb_str(&n, N_DOC, "node doc");
    pb_entry(&n, N_METADATA, "nk", "nv");
    pb_msg(&g, G_NODE, &n);
    pbuf n2 = simple_node("Relu", "Y", "Z");
    pb_msg(&g, G_NODE, &n2);

    /* inputs: X float [N, ?, 3] (symbolic, unknown, fixed); B without a type */
    int64_t xdims[] = {-2, -1, 3};
    pbuf xt = tensor_type(KILN_DTYPE_FLOAT32, xdims, 3);
    pbuf x = value_info("X", &xt);
    pb_msg(&g, G_INPUT, &x);
    pbuf b = value_info("B", NULL);
    pb_msg(&g, G_INPUT, &b);
    /* outputs: Z a tensor of rank 0 with no dims; S sequence(tensor int64);
     * O optional(tensor bool, no shape); M map(int64 -> tensor float) */
    pbuf zt = tensor_type(KILN_DTYPE_INT32, NULL, 0);
    pbuf z = value_info("Z", &zt);
    pb_msg(&g, G_OUTPUT, &z);
    {
        pbuf elem = tensor_type(KILN_DTYPE_INT64, NULL, -1), seq = {0}, t = {0};
        pb_msg(&seq, 1, &elem);
        pb_msg(&t, 4, &seq);
        pb_str(&t, 6, "a denotation");
        pbuf s = value_info("S", &t);
        pb_msg(&g, G_OUTPUT, &s);
    }
    {
        pbuf elem = tensor_type(KILN_DTYPE_BOOL, NULL, -1), opt = {0}, t = {0};
        pb_msg(&opt, 1, &elem);
        pb_msg(&t, 9, &opt);
        pbuf o = value_info("O", &t);
        pb_msg(&g, G_OUTPUT, &o);
    }
    {
        pbuf val = tensor_type(KILN_DTYPE_FLOAT32, NULL, -1), map = {0}, t = {0};
        pb_int(&map, 1, KILN_DTYPE_INT64);
        pb_msg(&map, 2, &val);
        pb_msg(&t, 5, &map);
        pbuf mv = value_info("M", &t);
        pb_msg(&g, G_OUTPUT, &mv);
    }
    int64_t vdims[] = {7};
    pbuf vt = tensor_type(KILN_DTYPE_FLOAT16, vdims, 1);
    pbuf vi = value_info("Y", &vt);
    pb_msg(&g, G_VI, &vi);
    pb_entry(&g, G_METADATA, "gk", "gv");

    pbuf m = {0};
    pb_int(&m, M_IR_VERSION, 9);
    pb_str(&m, M_PRODUCER_NAME, "hand");
    pb_str(&m, M_PRODUCER_VERSION, "1.0");
    pb_str(&m, M_DOMAIN, "org.test");
    pb_int(&m, M_MODEL_VERSION, 42);
    pb_str(&m, M_DOC, "model doc");
    opset(&m, M_OPSET, "", 21);
    opset(&m, M_OPSET, "com.example", 2);
    opset(&m, M_OPSET, NULL, 13); /* no domain: the default one */
    pb_entry(&m, M_METADATA, "author", "me");
    pb_entry(&m, M_METADATA, "license", "MIT");
    pb_int(&m, 999, 5); /* an unknown field: skipped */
    pb_msg(&m, M_GRAPH, &g);

    kiln_onnx_model *model = load(&m, KILN_OK);
    if (model) {
        EXPECT_EQ_INT(model->ir_version, 9);
        EXPECT(!strcmp(model->producer_name, "hand"));
        EXPECT(!strcmp(model->producer_version, "1.0"));
        EXPECT(!strcmp(model->domain, "org.test"));
        EXPECT_EQ_INT(model->model_version, 42);
        EXPECT(!strcmp(model->doc_string, "model doc"));
        EXPECT_EQ_INT(model->opset_count, 3);
        EXPECT(!strcmp(model->opsets[0].domain, "") && model->opsets[0].version == 21);
        EXPECT(!strcmp(model->opsets[1].domain, "com.example") && model->opsets[1].version == 2);
        EXPECT(!strcmp(model->opsets[2].domain, "") && model->opsets[2].version == 13);
        EXPECT_EQ_INT(model->metadata_count, 2);
        EXPECT(!strcmp(model->metadata[0].key, "author") &&
               !strcmp(model->metadata[0].value, "me"));
        EXPECT(!strcmp(model->metadata[1].key, "license") &&
               !strcmp(model->metadata[1].value, "MIT"));
        EXPECT_EQ_INT(model->file_size, m.n);

        const kiln_onnx_graph *gr = model->graph;
        EXPECT(!strcmp(gr->name, "main graph"));
        EXPECT(!strcmp(gr->doc_string, "graph doc"));
        EXPECT_EQ_INT(gr->metadata_count, 1);
        EXPECT(!strcmp(gr->metadata[0].key, "gk") && !strcmp(gr->metadata[0].value, "gv"));
        EXPECT_EQ_INT(gr->node_count, 2);
        const kiln_onnx_node *nd = &gr->nodes[0];
        EXPECT_EQ_INT(nd->input_count, 3);
        EXPECT(!strcmp(nd->inputs[0], "X"));
        EXPECT(!strcmp(nd->inputs[1], ""));
        EXPECT(!strcmp(nd->inputs[2], "B"));
        EXPECT_EQ_INT(nd->output_count, 2);
        EXPECT(!strcmp(nd->outputs[0], "Y"));
        EXPECT(!strcmp(nd->outputs[1], ""));
        EXPECT(!strcmp(nd->name, "conv1"));
        EXPECT(!strcmp(nd->op_type, "Conv"));
        EXPECT(!strcmp(nd->domain, "com.example"));
        EXPECT(!strcmp(nd->doc_string, "node doc"));
        EXPECT_EQ_INT(nd->attribute_count, 0);
        EXPECT_EQ_INT(nd->metadata_count, 1);
        EXPECT(!strcmp(nd->metadata[0].key, "nk") && !strcmp(nd->metadata[0].value, "nv"));
        EXPECT(!strcmp(gr->nodes[1].op_type, "Relu"));
        EXPECT(!strcmp(gr->nodes[1].name, "")); /* absent strings read as "" */
        EXPECT(!strcmp(gr->nodes[1].domain, ""));

        EXPECT_EQ_INT(gr->input_count, 2);
        const kiln_onnx_type *t = gr->inputs[0].type;
        EXPECT(!strcmp(gr->inputs[0].name, "X"));
        EXPECT(t && t->kind == KILN_ONNX_TYPE_TENSOR);
        if (t) {
            EXPECT_EQ_INT(t->elem_type, KILN_DTYPE_FLOAT32);
            EXPECT(t->has_shape);
            EXPECT_EQ_INT(t->rank, 3);
            if (t->rank == 3) {
                EXPECT(!t->dims[0].has_value && t->dims[0].param && !strcmp(t->dims[0].param, "N"));
                EXPECT(!t->dims[1].has_value && !t->dims[1].param);
                EXPECT(t->dims[2].has_value && t->dims[2].value == 3 && !t->dims[2].param);
            }
        }
        EXPECT(!strcmp(gr->inputs[1].name, "B"));
        EXPECT(gr->inputs[1].type == NULL);

        EXPECT_EQ_INT(gr->output_count, 4);
        t = gr->outputs[0].type;
        EXPECT(t && t->kind == KILN_ONNX_TYPE_TENSOR && t->has_shape && t->rank == 0 &&
               t->elem_type == KILN_DTYPE_INT32);
        t = gr->outputs[1].type;
        EXPECT(t && t->kind == KILN_ONNX_TYPE_SEQUENCE);
        if (t) {
            EXPECT(t->denotation && !strcmp(t->denotation, "a denotation"));
            EXPECT(t->elem && t->elem->kind == KILN_ONNX_TYPE_TENSOR &&
                   t->elem->elem_type == KILN_DTYPE_INT64 && !t->elem->has_shape);
        }
        t = gr->outputs[2].type;
        EXPECT(t && t->kind == KILN_ONNX_TYPE_OPTIONAL);
        if (t)
            EXPECT(t->elem && t->elem->kind == KILN_ONNX_TYPE_TENSOR &&
                   t->elem->elem_type == KILN_DTYPE_BOOL);
        t = gr->outputs[3].type;
        EXPECT(t && t->kind == KILN_ONNX_TYPE_MAP);
        if (t) {
            EXPECT_EQ_INT(t->key_type, KILN_DTYPE_INT64);
            EXPECT(t->elem && t->elem->kind == KILN_ONNX_TYPE_TENSOR &&
                   t->elem->elem_type == KILN_DTYPE_FLOAT32);
        }
        EXPECT_EQ_INT(gr->value_info_count, 1);
        t = gr->value_infos[0].type;
        EXPECT(!strcmp(gr->value_infos[0].name, "Y"));
        EXPECT(t && t->elem_type == KILN_DTYPE_FLOAT16 && t->rank == 1 && t->dims[0].value == 7);
        kiln_onnx_model_destroy(model);
    }
    pb_free(&m);
}

/* ---- attributes ------------------------------------------------------------------------ */

static pbuf attr_named(const char *name, int type) {
    pbuf a = {0};
    pb_str(&a, A_NAME, name);
    if (type >= 0) pb_int(&a, A_TYPE, type);
    return a;
}

static pbuf small_graph(const char *name, const char *op) {
    pbuf g = {0};
    pb_str(&g, G_NAME, name);
    pbuf n = simple_node(op, "a", "b");
    pb_msg(&g, G_NODE, &n);
    return g;
}

static pbuf float_tensor_typed(const char *name, const float *v, size_t n, int packed) {
    pbuf t = {0};
    pb_int(&t, T_DIMS, (int64_t)n);
    pb_int(&t, T_DTYPE, KILN_DTYPE_FLOAT32);
    pb_str(&t, T_NAME, name);
    if (packed)
        pb_packed_floats(&t, T_FLOAT, v, n);
    else
        for (size_t i = 0; i < n; i++) pb_float(&t, T_FLOAT, v[i]);
    return t;
}

static const kiln_onnx_attribute *find_attr(const kiln_onnx_node *n, const char *name) {
    for (int32_t i = 0; i < n->attribute_count; i++)
        if (!strcmp(n->attributes[i].name, name)) return &n->attributes[i];
    fprintf(stderr, "  attribute %s not found\n", name);
    return NULL;
}

static void test_attributes(void) {
    pbuf n = simple_node("Custom", "x", "y");
    pbuf a;
    /* scalars */
    a = attr_named("f", KILN_ONNX_ATTR_FLOAT);
    pb_float(&a, A_F, 0.25f);
    pb_str(&a, A_DOC, "attr doc");
    pb_msg(&n, N_ATTR, &a);
    a = attr_named("i", KILN_ONNX_ATTR_INT);
    pb_int(&a, A_I, -3);
    pb_msg(&n, N_ATTR, &a);
    a = attr_named("s", KILN_ONNX_ATTR_STRING);
    pb_bytes(&a, A_S, "a\0b\xff", 4);
    pb_msg(&n, N_ATTR, &a);
    a = attr_named("t", KILN_ONNX_ATTR_TENSOR);
    {
        float v[] = {1.0f, -2.5f};
        pbuf t = float_tensor_typed("tv", v, 2, 0);
        pb_msg(&a, A_T, &t);
    }
    pb_msg(&n, N_ATTR, &a);
    a = attr_named("g", KILN_ONNX_ATTR_GRAPH);
    {
        pbuf g = small_graph("body", "Identity");
        pb_msg(&a, A_G, &g);
    }
    pb_msg(&n, N_ATTR, &a);
    a = attr_named("tp", KILN_ONNX_ATTR_TYPE_PROTO);
    {
        pbuf t = tensor_type(KILN_DTYPE_UINT8, NULL, -1);
        pb_msg(&a, A_TP, &t);
    }
    pb_msg(&n, N_ATTR, &a);
    /* lists, packed and unpacked, and both mixed in one attribute */
    a = attr_named("floats_packed", KILN_ONNX_ATTR_FLOATS);
    {
        float v[] = {1.5f, -2.0f, 3.0f};
        pb_packed_floats(&a, A_FLOATS, v, 3);
    }
    pb_msg(&n, N_ATTR, &a);
    a = attr_named("floats_unpacked", KILN_ONNX_ATTR_FLOATS);
    pb_float(&a, A_FLOATS, 4.0f);
    pb_float(&a, A_FLOATS, -0.5f);
    {
        float v[] = {6.0f};
        pb_packed_floats(&a, A_FLOATS, v, 1);
    }
    pb_msg(&n, N_ATTR, &a);
    a = attr_named("ints_packed", KILN_ONNX_ATTR_INTS);
    {
        int64_t v[] = {1, -1, 300, INT64_MIN};
        pb_packed_ints(&a, A_INTS, v, 4);
    }
    pb_msg(&n, N_ATTR, &a);
    a = attr_named("ints_unpacked", KILN_ONNX_ATTR_INTS);
    pb_int(&a, A_INTS, 5);
    pb_int(&a, A_INTS, -6);
    {
        int64_t v[] = {7, 8};
        pb_packed_ints(&a, A_INTS, v, 2);
    }
    pb_int(&a, A_INTS, INT64_MAX);
    pb_msg(&n, N_ATTR, &a);
    a = attr_named("strings", KILN_ONNX_ATTR_STRINGS);
    pb_str(&a, A_STRINGS, "x");
    pb_str(&a, A_STRINGS, "");
    pb_bytes(&a, A_STRINGS, "y\0z", 3);
    pb_msg(&n, N_ATTR, &a);
    a = attr_named("tensors", KILN_ONNX_ATTR_TENSORS);
    {
        float v[] = {9.0f};
        pbuf t1 = float_tensor_typed("t1", v, 1, 1), t2 = float_tensor_typed("t2", v, 1, 0);
        pb_msg(&a, A_TENSORS, &t1);
        pb_msg(&a, A_TENSORS, &t2);
    }
    pb_msg(&n, N_ATTR, &a);
    a = attr_named("graphs", KILN_ONNX_ATTR_GRAPHS);
    {
        pbuf g1 = small_graph("g1", "Neg"), g2 = small_graph("g2", "Abs");
        pb_msg(&a, A_GRAPHS, &g1);
        pb_msg(&a, A_GRAPHS, &g2);
    }
    pb_msg(&n, N_ATTR, &a);
    a = attr_named("ref", KILN_ONNX_ATTR_FLOAT);
    pb_str(&a, A_REF, "alpha");
    pb_msg(&n, N_ATTR, &a);
    /* no `type` field: inferred from the field that holds a value */
    a = attr_named("inferred_i", -1);
    pb_int(&a, A_I, 11);
    pb_msg(&n, N_ATTR, &a);
    a = attr_named("inferred_f", -1);
    pb_float(&a, A_F, 2.0f);
    pb_msg(&n, N_ATTR, &a);
    a = attr_named("inferred_s", -1);
    pb_str(&a, A_S, "str");
    pb_msg(&n, N_ATTR, &a);
    a = attr_named("inferred_floats", -1);
    pb_float(&a, A_FLOATS, 1.0f);
    pb_msg(&n, N_ATTR, &a);
    a = attr_named("inferred_ints", -1);
    pb_int(&a, A_INTS, 1);
    pb_msg(&n, N_ATTR, &a);
    a = attr_named("inferred_g", -1);
    {
        pbuf g = small_graph("ig", "Identity");
        pb_msg(&a, A_G, &g);
    }
    pb_msg(&n, N_ATTR, &a);
    a = attr_named("inferred_none", -1);
    pb_msg(&n, N_ATTR, &a);

    pbuf g = {0};
    pb_msg(&g, G_NODE, &n);
    pbuf m = model_with(8, &g);
    kiln_onnx_model *model = load(&m, KILN_OK);
    if (model) {
        const kiln_onnx_node *nd = &model->graph->nodes[0];
        EXPECT_EQ_INT(nd->attribute_count, 21);
        const kiln_onnx_attribute *at;
        if ((at = find_attr(nd, "f"))) {
            EXPECT_EQ_INT(at->type, KILN_ONNX_ATTR_FLOAT);
            EXPECT(at->f == 0.25f);
            EXPECT(at->doc_string && !strcmp(at->doc_string, "attr doc"));
        }
        if ((at = find_attr(nd, "i"))) {
            EXPECT_EQ_INT(at->type, KILN_ONNX_ATTR_INT);
            EXPECT_EQ_INT(at->i, -3);
        }
        if ((at = find_attr(nd, "s"))) {
            EXPECT_EQ_INT(at->type, KILN_ONNX_ATTR_STRING);
            EXPECT_EQ_INT(at->s.size, 4);
            EXPECT(at->s.data && !memcmp(at->s.data, "a\0b\xff", 4) && at->s.data[4] == '\0');
        }
        if ((at = find_attr(nd, "t"))) {
            EXPECT_EQ_INT(at->type, KILN_ONNX_ATTR_TENSOR);
            EXPECT(at->t != NULL);
            if (at->t) {
                EXPECT(!strcmp(at->t->name, "tv"));
                EXPECT_EQ_INT(at->t->payload, KILN_ONNX_PAYLOAD_TYPED);
                size_t nb;
                float *d = read_data(at->t, &nb);
                EXPECT(d && nb == 8 && d[0] == 1.0f && d[1] == -2.5f);
                free(d);
            }
        }
        if ((at = find_attr(nd, "g"))) {
            EXPECT_EQ_INT(at->type, KILN_ONNX_ATTR_GRAPH);
            EXPECT(at->g && !strcmp(at->g->name, "body") && at->g->node_count == 1 &&
                   !strcmp(at->g->nodes[0].op_type, "Identity"));
        }
        if ((at = find_attr(nd, "tp"))) {
            EXPECT_EQ_INT(at->type, KILN_ONNX_ATTR_TYPE_PROTO);
            EXPECT(at->tp && at->tp->kind == KILN_ONNX_TYPE_TENSOR &&
                   at->tp->elem_type == KILN_DTYPE_UINT8);
        }
        if ((at = find_attr(nd, "floats_packed"))) {
            EXPECT_EQ_INT(at->type, KILN_ONNX_ATTR_FLOATS);
            EXPECT_EQ_INT(at->floats_count, 3);
            if (at->floats_count == 3)
                EXPECT(at->floats[0] == 1.5f && at->floats[1] == -2.0f && at->floats[2] == 3.0f);
        }
        if ((at = find_attr(nd, "floats_unpacked"))) {
            EXPECT_EQ_INT(at->floats_count, 3);
            if (at->floats_count == 3)
                EXPECT(at->floats[0] == 4.0f && at->floats[1] == -0.5f && at->floats[2] == 6.0f);
        }
        if ((at = find_attr(nd, "ints_packed"))) {
            EXPECT_EQ_INT(at->type, KILN_ONNX_ATTR_INTS);
            EXPECT_EQ_INT(at->ints_count, 4);
            if (at->ints_count == 4) {
                EXPECT_EQ_INT(at->ints[0], 1);
                EXPECT_EQ_INT(at->ints[1], -1);
                EXPECT_EQ_INT(at->ints[2], 300);
                EXPECT(at->ints[3] == INT64_MIN);
            }
        }
        if ((at = find_attr(nd, "ints_unpacked"))) {
            EXPECT_EQ_INT(at->ints_count, 5);
            if (at->ints_count == 5) {
                EXPECT_EQ_INT(at->ints[0], 5);
                EXPECT_EQ_INT(at->ints[1], -6);
                EXPECT_EQ_INT(at->ints[2], 7);
                EXPECT_EQ_INT(at->ints[3], 8);
                EXPECT(at->ints[4] == INT64_MAX);
            }
        }
        if ((at = find_attr(nd, "strings"))) {
            EXPECT_EQ_INT(at->type, KILN_ONNX_ATTR_STRINGS);
            EXPECT_EQ_INT(at->strings_count, 3);
            if (at->strings_count == 3) {
                EXPECT(at->strings[0].size == 1 && !strcmp(at->strings[0].data, "x"));
                EXPECT(at->strings[1].size == 0 && !strcmp(at->strings[1].data, ""));
                EXPECT(at->strings[2].size == 3 && !memcmp(at->strings[2].data, "y\0z", 3));
            }
        }
        if ((at = find_attr(nd, "tensors"))) {
            EXPECT_EQ_INT(at->type, KILN_ONNX_ATTR_TENSORS);
            EXPECT_EQ_INT(at->tensors_count, 2);
            if (at->tensors_count == 2) {
                EXPECT(!strcmp(at->tensors[0]->name, "t1") && !strcmp(at->tensors[1]->name, "t2"));
                for (int k = 0; k < 2; k++) {
                    size_t nb;
                    float *d = read_data(at->tensors[k], &nb);
                    EXPECT(d && nb == 4 && d[0] == 9.0f);
                    free(d);
                }
            }
        }
        if ((at = find_attr(nd, "graphs"))) {
            EXPECT_EQ_INT(at->type, KILN_ONNX_ATTR_GRAPHS);
            EXPECT_EQ_INT(at->graphs_count, 2);
            if (at->graphs_count == 2) {
                EXPECT(!strcmp(at->graphs[0]->name, "g1") &&
                       !strcmp(at->graphs[0]->nodes[0].op_type, "Neg"));
                EXPECT(!strcmp(at->graphs[1]->name, "g2") &&
                       !strcmp(at->graphs[1]->nodes[0].op_type, "Abs"));
            }
        }
        if ((at = find_attr(nd, "ref")))
            EXPECT(at->ref_attr_name && !strcmp(at->ref_attr_name, "alpha"));
        if ((at = find_attr(nd, "inferred_i"))) {
            EXPECT_EQ_INT(at->type, KILN_ONNX_ATTR_INT);
            EXPECT_EQ_INT(at->i, 11);
        }
        if ((at = find_attr(nd, "inferred_f"))) {
            EXPECT_EQ_INT(at->type, KILN_ONNX_ATTR_FLOAT);
            EXPECT(at->f == 2.0f);
        }
        if ((at = find_attr(nd, "inferred_s"))) {
            EXPECT_EQ_INT(at->type, KILN_ONNX_ATTR_STRING);
            EXPECT(at->s.size == 3 && !strcmp(at->s.data, "str"));
        }
        if ((at = find_attr(nd, "inferred_floats"))) EXPECT_EQ_INT(at->type, KILN_ONNX_ATTR_FLOATS);
        if ((at = find_attr(nd, "inferred_ints"))) EXPECT_EQ_INT(at->type, KILN_ONNX_ATTR_INTS);
        if ((at = find_attr(nd, "inferred_g"))) {
            EXPECT_EQ_INT(at->type, KILN_ONNX_ATTR_GRAPH);
            EXPECT(at->g && !strcmp(at->g->name, "ig"));
        }
        if ((at = find_attr(nd, "inferred_none")))
            EXPECT_EQ_INT(at->type, KILN_ONNX_ATTR_UNDEFINED);
        kiln_onnx_model_destroy(model);
    }
    pb_free(&m);

    EXPECT(!strcmp(kiln_onnx_attr_type_name(KILN_ONNX_ATTR_INTS), "ints"));
    EXPECT(!strcmp(kiln_onnx_attr_type_name((kiln_onnx_attr_type)99), "undefined"));

    /* an attribute type out of range, and a scalar with the wrong wire type */
    n = simple_node("Custom", "x", "y");
    a = attr_named("bad", 77);
    pb_msg(&n, N_ATTR, &a);
    g = (pbuf){0};
    pb_msg(&g, G_NODE, &n);
    m = model_with(8, &g);
    load(&m, KILN_ERR_PARSE);
    EXPECT_STR_CONTAINS(kiln_last_error(), "unknown type 77");
    EXPECT_STR_CONTAINS(kiln_last_error(), "bad");
    pb_free(&m);

    n = simple_node("Custom", "x", "y");
    a = attr_named("wrong_wire", KILN_ONNX_ATTR_FLOAT);
    pb_int(&a, A_F, 1); /* f as a varint */
    pb_msg(&n, N_ATTR, &a);
    g = (pbuf){0};
    pb_msg(&g, G_NODE, &n);
    m = model_with(8, &g);
    load(&m, KILN_ERR_PARSE);
    EXPECT_STR_CONTAINS(kiln_last_error(), "AttributeProto.f");
    EXPECT_STR_CONTAINS(kiln_last_error(), "Custom");
    pb_free(&m);
}

/* ---- tensors --------------------------------------------------------------------------- */

static void test_raw_span(void) {
    float v[6] = {1, 2, 3, 4, 5, -6};
    int64_t dims[] = {2, 3};
    pbuf init = raw_float_tensor("W", dims, 2, v, 6);
    pb_str(&init, 12, "tensor doc");
    pbuf g = {0};
    pb_msg(&g, G_INIT, &init);
    pbuf m = model_with(7, &g);
    kiln_onnx_model *model = load(&m, KILN_OK);
    if (model) {
        EXPECT_EQ_INT(model->graph->initializer_count, 1);
        const kiln_onnx_tensor *t = &model->graph->initializers[0];
        EXPECT(!strcmp(t->name, "W"));
        EXPECT(t->doc_string && !strcmp(t->doc_string, "tensor doc"));
        EXPECT_EQ_INT(t->data_type, KILN_DTYPE_FLOAT32);
        EXPECT_EQ_INT(t->rank, 2);
        EXPECT(t->rank == 2 && t->dims[0] == 2 && t->dims[1] == 3);
        EXPECT_EQ_INT(t->element_count, 6);
        EXPECT_EQ_INT(t->payload, KILN_ONNX_PAYLOAD_RAW);
        EXPECT_EQ_INT(t->raw.size, 24);
        /* no copy: the span points into the caller's buffer, at its file offset */
        EXPECT(t->raw.data >= m.b && t->raw.data + t->raw.size <= m.b + m.n);
        EXPECT_EQ_INT(t->raw.offset, (size_t)(t->raw.data - m.b));
        EXPECT(!memcmp(t->raw.data, v, sizeof v));
        EXPECT(t->message.data >= m.b && t->message.data + t->message.size <= m.b + m.n);
        size_t nb;
        float *d = read_data(t, &nb);
        EXPECT(d && nb == 24 && !memcmp(d, v, 24));
        free(d);
        /* a buffer of the wrong size is refused */
        float small[2];
        EXPECT_EQ_INT(kiln_onnx_tensor_read(t, small, sizeof small), KILN_ERR_INVALID_ARGUMENT);
        kiln_onnx_model_destroy(model);
    }
    pb_free(&m);
}

/* A tensor value file with one typed field; checks the bytes kiln_onnx_tensor_read gives. */
static void check_tensor_bytes(const char *what, const pbuf *w, int32_t dtype, int64_t count,
                               const void *expect, size_t expect_size) {
    kiln_onnx_value_file *vf = load_value(w, KILN_ONNX_VALUE_TENSOR, KILN_OK);
    if (!vf) {
        fprintf(stderr, "  (%s)\n", what);
        return;
    }
    const kiln_onnx_tensor *t = vf->value->tensor;
    EXPECT_EQ_INT(t->data_type, dtype);
    EXPECT_EQ_INT(t->element_count, count);
    size_t nb = 0;
    void *d = read_data(t, &nb);
    EXPECT(d != NULL);
    EXPECT_EQ_INT(nb, expect_size);
    if (d && nb == expect_size && memcmp(d, expect, nb)) {
        fprintf(stderr, "%s:%d: %s: bytes differ\n", __FILE__, __LINE__, what);
        kiln_test_failures++;
    }
    free(d);
    kiln_onnx_value_file_destroy(vf);
}

static pbuf typed_header(int32_t dtype, const int64_t *dims, int rank) {
    pbuf t = {0};
    for (int i = 0; i < rank; i++) pb_int(&t, T_DIMS, dims[i]);
    pb_int(&t, T_DTYPE, dtype);
    pb_str(&t, T_NAME, "v");
    return t;
}

static void test_typed_fields(void) {
    int64_t d1[] = {1}, d2[] = {2}, d3[] = {3}, d4[] = {4}, d5[] = {5};
    pbuf t;
    {
        /* float_data packed and unpacked in one tensor, NaN with payload kept */
        float v[3] = {1.0f, -0.5f, 0};
        uint32_t nan_bits = 0x7fc01234u;
        memcpy(&v[2], &nan_bits, 4);
        t = typed_header(KILN_DTYPE_FLOAT32, d3, 1);
        pb_packed_floats(&t, T_FLOAT, v, 2);
        pb_key(&t, T_FLOAT, KILN_PB_FIXED32);
        pb_fixed32(&t, nan_bits);
        check_tensor_bytes("float_data", &t, KILN_DTYPE_FLOAT32, 3, v, sizeof v);
        pb_free(&t);
    }
    {
        /* float16 bit patterns in int32_data */
        uint16_t v[2] = {0x3c00, 0xc000};
        t = typed_header(KILN_DTYPE_FLOAT16, d2, 1);
        int64_t w[2] = {0x3c00, 0xc000};
        pb_packed_ints(&t, T_INT32, w, 2);
        check_tensor_bytes("float16 in int32_data", &t, KILN_DTYPE_FLOAT16, 2, v, sizeof v);
        pb_free(&t);
    }
    {
        /* int8: negative values sign-extended to 10-byte varints, packed and unpacked */
        int8_t v[4] = {-1, -128, 127, 0};
        t = typed_header(KILN_DTYPE_INT8, d4, 1);
        int64_t w[2] = {-1, -128};
        pb_packed_ints(&t, T_INT32, w, 2);
        pb_int(&t, T_INT32, 127);
        pb_int(&t, T_INT32, 0);
        check_tensor_bytes("int8 in int32_data", &t, KILN_DTYPE_INT8, 4, v, sizeof v);
        pb_free(&t);
    }
    {
        int16_t v[3] = {-1, -32768, 32767};
        t = typed_header(KILN_DTYPE_INT16, d3, 1);
        for (int i = 0; i < 3; i++) pb_int(&t, T_INT32, v[i]);
        check_tensor_bytes("int16 in int32_data", &t, KILN_DTYPE_INT16, 3, v, sizeof v);
        pb_free(&t);
    }
    {
        int32_t v[3] = {INT32_MIN, -7, INT32_MAX};
        t = typed_header(KILN_DTYPE_INT32, d3, 1);
        for (int i = 0; i < 3; i++) pb_int(&t, T_INT32, v[i]);
        check_tensor_bytes("int32_data", &t, KILN_DTYPE_INT32, 3, v, sizeof v);
        pb_free(&t);
    }
    {
        uint8_t v[2] = {1, 0};
        t = typed_header(KILN_DTYPE_BOOL, d2, 1);
        pb_int(&t, T_INT32, 1);
        pb_int(&t, T_INT32, 0);
        check_tensor_bytes("bool in int32_data", &t, KILN_DTYPE_BOOL, 2, v, sizeof v);
        pb_free(&t);
    }
    {
        /* int4: two elements per int32_data entry, low nibble first: [-1, -8, 7] */
        uint8_t v[2] = {0x8f, 0x07};
        t = typed_header(KILN_DTYPE_INT4, d3, 1);
        pb_int(&t, T_INT32, 0x8f);
        pb_int(&t, T_INT32, 0x07);
        check_tensor_bytes("int4 in int32_data", &t, KILN_DTYPE_INT4, 3, v, sizeof v);
        pb_free(&t);
    }
    {
        /* uint2: four per byte */
        uint8_t v[2] = {0xe4, 0x03};
        t = typed_header(KILN_DTYPE_UINT2, d5, 1);
        pb_int(&t, T_INT32, 0xe4);
        pb_int(&t, T_INT32, 0x03);
        check_tensor_bytes("uint2 in int32_data", &t, KILN_DTYPE_UINT2, 5, v, sizeof v);
        pb_free(&t);
    }
    {
        int64_t v[2] = {INT64_MIN, -2};
        t = typed_header(KILN_DTYPE_INT64, d2, 1);
        pb_int(&t, T_INT64, v[0]);
        pb_int(&t, T_INT64, v[1]);
        check_tensor_bytes("int64_data", &t, KILN_DTYPE_INT64, 2, v, sizeof v);
        pb_free(&t);
    }
    {
        uint32_t v[2] = {UINT32_MAX, 5};
        t = typed_header(KILN_DTYPE_UINT32, d2, 1);
        pb_int(&t, T_UINT64, (int64_t)UINT32_MAX);
        pb_int(&t, T_UINT64, 5);
        check_tensor_bytes("uint32 in uint64_data", &t, KILN_DTYPE_UINT32, 2, v, sizeof v);
        pb_free(&t);
    }
    {
        uint64_t v[1] = {UINT64_MAX};
        t = typed_header(KILN_DTYPE_UINT64, d1, 1);
        pb_int(&t, T_UINT64, -1);
        check_tensor_bytes("uint64_data", &t, KILN_DTYPE_UINT64, 1, v, sizeof v);
        pb_free(&t);
    }
    {
        double v[2] = {1e300, -0.0};
        t = typed_header(KILN_DTYPE_FLOAT64, d2, 1);
        pb_key(&t, T_DOUBLE, KILN_PB_FIXED64);
        pb_fixed64(&t, double_bits(v[0]));
        pbuf p = {0};
        pb_fixed64(&p, double_bits(v[1]));
        pb_msg(&t, T_DOUBLE, &p);
        check_tensor_bytes("double_data", &t, KILN_DTYPE_FLOAT64, 2, v, sizeof v);
        pb_free(&t);
    }
    {
        /* complex64: (re, im) pairs in float_data */
        float v[4] = {1, -2, 3.5f, 0};
        t = typed_header(KILN_DTYPE_COMPLEX64, d2, 1);
        pb_packed_floats(&t, T_FLOAT, v, 4);
        check_tensor_bytes("complex64", &t, KILN_DTYPE_COMPLEX64, 2, v, sizeof v);
        pb_free(&t);
    }
    {
        double v[2] = {2.0, -3.0};
        t = typed_header(KILN_DTYPE_COMPLEX128, d1, 1);
        pbuf p = {0};
        pb_fixed64(&p, double_bits(v[0]));
        pb_fixed64(&p, double_bits(v[1]));
        pb_msg(&t, T_DOUBLE, &p);
        check_tensor_bytes("complex128", &t, KILN_DTYPE_COMPLEX128, 1, v, sizeof v);
        pb_free(&t);
    }
    {
        /* a scalar (rank 0) */
        float v[1] = {42};
        t = typed_header(KILN_DTYPE_FLOAT32, NULL, 0);
        pb_float(&t, T_FLOAT, 42);
        check_tensor_bytes("scalar", &t, KILN_DTYPE_FLOAT32, 1, v, sizeof v);
        pb_free(&t);
    }
    {
        /* zero elements */
        int64_t d0[] = {0, 3};
        t = typed_header(KILN_DTYPE_FLOAT32, d0, 2);
        kiln_onnx_value_file *vf = load_value(&t, KILN_ONNX_VALUE_TENSOR, KILN_OK);
        if (vf) {
            EXPECT_EQ_INT(vf->value->tensor->element_count, 0);
            EXPECT_EQ_INT(vf->value->tensor->payload, KILN_ONNX_PAYLOAD_NONE);
            size_t nb = 1;
            EXPECT_EQ_INT(kiln_onnx_tensor_nbytes(vf->value->tensor, &nb), KILN_OK);
            EXPECT_EQ_INT(nb, 0);
            EXPECT_EQ_INT(kiln_onnx_tensor_read(vf->value->tensor, NULL, 0), KILN_OK);
            kiln_onnx_value_file_destroy(vf);
        }
        pb_free(&t);
    }
    {
        /* strings, with an embedded NUL */
        t = typed_header(KILN_DTYPE_STRING, d3, 1);
        pb_str(&t, T_STRING, "ab");
        pb_str(&t, T_STRING, "");
        pb_bytes(&t, T_STRING, "c\0d", 3);
        kiln_onnx_value_file *vf = load_value(&t, KILN_ONNX_VALUE_TENSOR, KILN_OK);
        if (vf) {
            size_t nb = 1;
            EXPECT_EQ_INT(kiln_onnx_tensor_nbytes(vf->value->tensor, &nb), KILN_OK);
            EXPECT_EQ_INT(nb, 0);
            char dummy;
            EXPECT_EQ_INT(kiln_onnx_tensor_read(vf->value->tensor, &dummy, 0),
                          KILN_ERR_INVALID_ARGUMENT);
            kiln_onnx_value_file_destroy(vf);
        }
        pb_free(&t);
    }

    /* the number of values must match the shape */
    t = typed_header(KILN_DTYPE_FLOAT32, d3, 1);
    pb_float(&t, T_FLOAT, 1);
    pb_float(&t, T_FLOAT, 2);
    load_value(&t, KILN_ONNX_VALUE_TENSOR, KILN_ERR_PARSE);
    EXPECT_STR_CONTAINS(kiln_last_error(), "needs 3 values but the file has 2");
    pb_free(&t);
    /* the data in a field that is not the dtype's */
    t = typed_header(KILN_DTYPE_FLOAT32, d1, 1);
    pb_int(&t, T_INT64, 1);
    load_value(&t, KILN_ONNX_VALUE_TENSOR, KILN_ERR_PARSE);
    EXPECT_STR_CONTAINS(kiln_last_error(), "not the field for that type");
    pb_free(&t);
    /* raw_data of the wrong size */
    t = typed_header(KILN_DTYPE_INT32, d2, 1);
    pb_bytes(&t, T_RAW, "abc", 3);
    load_value(&t, KILN_ONNX_VALUE_TENSOR, KILN_ERR_PARSE);
    EXPECT_STR_CONTAINS(kiln_last_error(), "needs 8 bytes");
    pb_free(&t);
    /* an unknown dtype; a negative dimension; a string tensor with raw_data */
    t = typed_header(200, d1, 1);
    load_value(&t, KILN_ONNX_VALUE_TENSOR, KILN_ERR_PARSE);
    EXPECT_STR_CONTAINS(kiln_last_error(), "unknown data type 200");
    pb_free(&t);
    int64_t neg[] = {-4};
    t = typed_header(KILN_DTYPE_FLOAT32, neg, 1);
    load_value(&t, KILN_ONNX_VALUE_TENSOR, KILN_ERR_PARSE);
    EXPECT_STR_CONTAINS(kiln_last_error(), "negative dimension");
    pb_free(&t);
    t = typed_header(KILN_DTYPE_STRING, d1, 1);
    pb_bytes(&t, T_RAW, "x", 1);
    load_value(&t, KILN_ONNX_VALUE_TENSOR, KILN_ERR_PARSE);
    EXPECT_STR_CONTAINS(kiln_last_error(), "raw_data");
    pb_free(&t);

    /* a shape without data: loads, but reading it fails */
    int64_t d22[] = {2, 2};
    t = typed_header(KILN_DTYPE_FLOAT32, d22, 2);
    kiln_onnx_value_file *vf = load_value(&t, KILN_ONNX_VALUE_TENSOR, KILN_OK);
    if (vf) {
        EXPECT_EQ_INT(vf->value->tensor->payload, KILN_ONNX_PAYLOAD_NONE);
        float buf[4];
        EXPECT_EQ_INT(kiln_onnx_tensor_read(vf->value->tensor, buf, sizeof buf), KILN_ERR_PARSE);
        EXPECT_STR_CONTAINS(kiln_last_error(), "no data");
        kiln_onnx_value_file_destroy(vf);
    }
    pb_free(&t);
}

/* ---- sequence, optional and map values -------------------------------------------------- */

static void test_values(void) {
    int64_t d2[] = {2};
    float v[2] = {1, 2};
    pbuf s = {0};
    pb_str(&s, 1, "seq");
    pb_int(&s, 2, 1); /* TENSOR */
    pbuf t1 = raw_float_tensor("a", d2, 1, v, 2), t2 = raw_float_tensor("b", d2, 1, v, 2);
    pb_msg(&s, 3, &t1);
    pb_msg(&s, 3, &t2);
    kiln_onnx_value_file *vf = load_value(&s, KILN_ONNX_VALUE_SEQUENCE, KILN_OK);
    if (vf) {
        const kiln_onnx_value *val = vf->value;
        EXPECT_EQ_INT(val->kind, KILN_ONNX_VALUE_SEQUENCE);
        EXPECT(!strcmp(val->name, "seq"));
        EXPECT_EQ_INT(val->elem_type, 1);
        EXPECT_EQ_INT(val->count, 2);
        if (val->count == 2) {
            EXPECT(val->items[0]->kind == KILN_ONNX_VALUE_TENSOR &&
                   !strcmp(val->items[1]->tensor->name, "b"));
            EXPECT(val->items[0]->tensor->raw.data >= s.b &&
                   val->items[0]->tensor->raw.data < s.b + s.n);
        }
        kiln_onnx_value_file_destroy(vf);
    }
    pb_free(&s);

    /* an empty optional, and one holding a sequence */
    pbuf o = {0};
    pb_str(&o, 1, "none");
    vf = load_value(&o, KILN_ONNX_VALUE_OPTIONAL, KILN_OK);
    if (vf) {
        EXPECT_EQ_INT(vf->value->kind, KILN_ONNX_VALUE_OPTIONAL);
        EXPECT_EQ_INT(vf->value->count, 0);
        kiln_onnx_value_file_destroy(vf);
    }
    pb_free(&o);
    pb_int(&o, 2, 3); /* SEQUENCE */
    s = (pbuf){0};
    pb_int(&s, 2, 1);
    t1 = raw_float_tensor("a", d2, 1, v, 2);
    pb_msg(&s, 3, &t1);
    pb_msg(&o, 5, &s);
    vf = load_value(&o, KILN_ONNX_VALUE_OPTIONAL, KILN_OK);
    if (vf) {
        EXPECT_EQ_INT(vf->value->count, 1);
        EXPECT(vf->value->count == 1 && vf->value->items[0]->kind == KILN_ONNX_VALUE_SEQUENCE &&
               vf->value->items[0]->count == 1);
        kiln_onnx_value_file_destroy(vf);
    }
    pb_free(&o);
    /* an optional with two values */
    t1 = raw_float_tensor("a", d2, 1, v, 2);
    t2 = raw_float_tensor("b", d2, 1, v, 2);
    pb_msg(&o, 3, &t1);
    pb_msg(&o, 3, &t2);
    load_value(&o, KILN_ONNX_VALUE_OPTIONAL, KILN_ERR_PARSE);
    EXPECT_STR_CONTAINS(kiln_last_error(), "holds 2 values");
    pb_free(&o);

    /* a map int64 -> tensors, and one with string keys */
    pbuf m = {0};
    pb_str(&m, 1, "map");
    pb_int(&m, 2, KILN_DTYPE_INT64);
    int64_t keys[] = {-5, 9};
    pb_packed_ints(&m, 3, keys, 2);
    s = (pbuf){0};
    pb_int(&s, 2, 1);
    t1 = raw_float_tensor("a", d2, 1, v, 2);
    t2 = raw_float_tensor("b", d2, 1, v, 2);
    pb_msg(&s, 3, &t1);
    pb_msg(&s, 3, &t2);
    pb_msg(&m, 5, &s);
    vf = load_value(&m, KILN_ONNX_VALUE_MAP, KILN_OK);
    if (vf) {
        const kiln_onnx_value *val = vf->value;
        EXPECT_EQ_INT(val->kind, KILN_ONNX_VALUE_MAP);
        EXPECT_EQ_INT(val->key_type, KILN_DTYPE_INT64);
        EXPECT_EQ_INT(val->key_count, 2);
        EXPECT(val->int_keys && val->int_keys[0] == -5 && val->int_keys[1] == 9);
        EXPECT(val->map_values && val->map_values->count == 2);
        kiln_onnx_value_file_destroy(vf);
    }
    pb_free(&m);
    pb_int(&m, 2, KILN_DTYPE_STRING);
    pb_str(&m, 4, "k1");
    pb_bytes(&m, 4, "k\0", 2);
    vf = load_value(&m, KILN_ONNX_VALUE_MAP, KILN_OK);
    if (vf) {
        EXPECT_EQ_INT(vf->value->key_count, 2);
        EXPECT(vf->value->string_keys && vf->value->string_keys[1].size == 2 &&
               !memcmp(vf->value->string_keys[1].data, "k\0", 2));
        kiln_onnx_value_file_destroy(vf);
    }
    pb_free(&m);
}

/* ---- functions ------------------------------------------------------------------------- */

static void test_functions(void) {
    pbuf f = {0};
    pb_str(&f, 1, "MyFn");
    pb_str(&f, 10, "local.fns");
    pb_str(&f, 13, "v2");
    pb_str(&f, 8, "fn doc");
    pb_str(&f, 4, "A");
    pb_str(&f, 4, "B");
    pb_str(&f, 5, "C");
    pb_str(&f, 6, "alpha");
    pbuf ap = attr_named("beta", KILN_ONNX_ATTR_FLOAT);
    pb_float(&ap, A_F, 0.5f);
    pb_msg(&f, 11, &ap);
    pbuf n = simple_node("Add", "A", "C");
    pb_str(&n, N_INPUT, "B");
    pbuf ra = attr_named("alpha", KILN_ONNX_ATTR_FLOAT);
    pb_str(&ra, A_REF, "alpha");
    pb_msg(&n, N_ATTR, &ra);
    pb_msg(&f, 7, &n);
    opset(&f, 9, "", 18);
    int64_t d[] = {-2};
    pbuf tt = tensor_type(KILN_DTYPE_FLOAT32, d, 1);
    pbuf vi = value_info("C", &tt);
    pb_msg(&f, 12, &vi);
    pb_entry(&f, 14, "fk", "fv");

    pbuf g = {0};
    pbuf call = simple_node("MyFn", "x", "y");
    pb_str(&call, N_DOMAIN, "local.fns");
    pb_msg(&g, G_NODE, &call);
    pbuf m = model_with(10, &g);
    opset(&m, M_OPSET, "local.fns", 1);
    pb_msg(&m, M_FUNCTIONS, &f);
    kiln_onnx_model *model = load(&m, KILN_OK);
    if (model) {
        EXPECT_EQ_INT(model->function_count, 1);
        const kiln_onnx_function *fn = &model->functions[0];
        EXPECT(!strcmp(fn->name, "MyFn"));
        EXPECT(!strcmp(fn->domain, "local.fns"));
        EXPECT(!strcmp(fn->overload, "v2"));
        EXPECT(fn->doc_string && !strcmp(fn->doc_string, "fn doc"));
        EXPECT(fn->input_count == 2 && !strcmp(fn->inputs[0], "A") && !strcmp(fn->inputs[1], "B"));
        EXPECT(fn->output_count == 1 && !strcmp(fn->outputs[0], "C"));
        EXPECT(fn->attribute_count == 1 && !strcmp(fn->attributes[0], "alpha"));
        EXPECT(fn->attribute_proto_count == 1 && !strcmp(fn->attribute_protos[0].name, "beta") &&
               fn->attribute_protos[0].f == 0.5f);
        EXPECT_EQ_INT(fn->node_count, 1);
        if (fn->node_count == 1) {
            EXPECT(!strcmp(fn->nodes[0].op_type, "Add") && fn->nodes[0].input_count == 2);
            EXPECT(fn->nodes[0].attribute_count == 1 && fn->nodes[0].attributes[0].ref_attr_name &&
                   !strcmp(fn->nodes[0].attributes[0].ref_attr_name, "alpha"));
        }
        EXPECT(fn->opset_count == 1 && fn->opsets[0].version == 18);
        EXPECT(fn->value_info_count == 1 && fn->value_infos[0].type &&
               fn->value_infos[0].type->dims[0].param);
        EXPECT(fn->metadata_count == 1 && !strcmp(fn->metadata[0].value, "fv"));
        EXPECT_EQ_INT(model->opset_count, 2);
        kiln_onnx_model_destroy(model);
    }
    pb_free(&m);
}

/* ---- external data --------------------------------------------------------------------- */

static int write_file(const char *dir, const char *name, const void *data, size_t size) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    int ok = fwrite(data, 1, size, f) == size;
    return fclose(f) == 0 && ok;
}

static void remove_file(const char *dir, const char *name) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    remove(path);
}

/* A model with one float[3] initializer "ext_w" whose data is external. NULL offset or
 * length: the entry is left out. */
static pbuf external_model(const char *location, const char *offset, const char *length) {
    pbuf t = {0};
    pb_int(&t, T_DIMS, 3);
    pb_int(&t, T_DTYPE, KILN_DTYPE_FLOAT32);
    pb_str(&t, T_NAME, "ext_w");
    pb_entry(&t, T_EXTERNAL, "location", location);
    if (offset) pb_entry(&t, T_EXTERNAL, "offset", offset);
    if (length) pb_entry(&t, T_EXTERNAL, "length", length);
    pb_entry(&t, T_EXTERNAL, "checksum", "ignored");
    pb_int(&t, T_LOCATION, 1);
    pbuf g = {0};
    pb_msg(&g, G_INIT, &t);
    return model_with(8, &g);
}

static kiln_status load_external(const char *dir, pbuf *m, kiln_onnx_model **out) {
    char path[4096];
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    EXPECT(write_file(dir, "model.onnx", m->b, m->n));
    pb_free(m);
    *out = NULL;
    kiln_clear_error();
    return kiln_onnx_model_load_file(path, out);
}

static void test_external_data(void) {
    char dir[] = "/tmp/kiln_test_onnx_XXXXXX";
    if (!mkdtemp(dir)) {
        fprintf(stderr, "mkdtemp failed\n");
        kiln_test_failures++;
        return;
    }
    float v[3] = {1.5f, -2.0f, 7.0f};
    uint8_t bin[16 + sizeof v];
    memset(bin, 0xAB, 16);
    memcpy(bin + 16, v, sizeof v);
    EXPECT(write_file(dir, "weights.bin", bin, sizeof bin));
    EXPECT(write_file(dir, "exact.bin", v, sizeof v));

    kiln_onnx_model *model = NULL;
    pbuf m = external_model("weights.bin", "16", "12");
    EXPECT_EQ_INT(load_external(dir, &m, &model), KILN_OK);
    if (model) {
        const kiln_onnx_tensor *t = &model->graph->initializers[0];
        EXPECT_EQ_INT(t->payload, KILN_ONNX_PAYLOAD_EXTERNAL);
        EXPECT(!strcmp(t->external_location, "weights.bin"));
        EXPECT_EQ_INT(t->external_offset, 16);
        EXPECT_EQ_INT(t->external_length, 12);
        EXPECT_EQ_INT(t->external_count, 4);
        EXPECT_EQ_INT(model->external_file_count, 1);
        size_t nb;
        float *d = read_data(t, &nb);
        EXPECT(d && nb == sizeof v && !memcmp(d, v, sizeof v));
        free(d);
        kiln_onnx_model_destroy(model);
    } else {
        fprintf(stderr, "  %s\n", kiln_last_error());
    }
    /* without offset and length: the whole file */
    m = external_model("exact.bin", NULL, NULL);
    EXPECT_EQ_INT(load_external(dir, &m, &model), KILN_OK);
    if (model) {
        size_t nb;
        float *d = read_data(&model->graph->initializers[0], &nb);
        EXPECT(d && nb == sizeof v && !memcmp(d, v, sizeof v));
        free(d);
        kiln_onnx_model_destroy(model);
    }
    /* a location leaving the model's folder, or absolute */
    m = external_model("../weights.bin", "16", "12");
    EXPECT_EQ_INT(load_external(dir, &m, &model), KILN_ERR_PARSE);
    EXPECT_STR_CONTAINS(kiln_last_error(), "ext_w");
    EXPECT_STR_CONTAINS(kiln_last_error(), "leaves the model's folder");
    m = external_model("sub/../../weights.bin", NULL, NULL);
    EXPECT_EQ_INT(load_external(dir, &m, &model), KILN_ERR_PARSE);
    EXPECT_STR_CONTAINS(kiln_last_error(), "leaves the model's folder");
    char abs_loc[4200];
    snprintf(abs_loc, sizeof abs_loc, "%s/weights.bin", dir);
    m = external_model(abs_loc, "16", "12");
    EXPECT_EQ_INT(load_external(dir, &m, &model), KILN_ERR_PARSE);
    EXPECT_STR_CONTAINS(kiln_last_error(), "ext_w");
    EXPECT_STR_CONTAINS(kiln_last_error(), "absolute");
    /* offset or length beyond the end of the file */
    m = external_model("weights.bin", "100", "12");
    EXPECT_EQ_INT(load_external(dir, &m, &model), KILN_ERR_PARSE);
    EXPECT_STR_CONTAINS(kiln_last_error(), "ext_w");
    EXPECT_STR_CONTAINS(kiln_last_error(), "past the end");
    m = external_model("weights.bin", "20", "12");
    EXPECT_EQ_INT(load_external(dir, &m, &model), KILN_ERR_PARSE);
    EXPECT_STR_CONTAINS(kiln_last_error(), "ext_w");
    m = external_model("weights.bin", "18446744073709551615", "12");
    EXPECT_EQ_INT(load_external(dir, &m, &model), KILN_ERR_PARSE);
    EXPECT_STR_CONTAINS(kiln_last_error(), "is not a non-negative integer");
    EXPECT(model == NULL);
    /* a length that does not fit the tensor; a malformed offset; a missing file */
    m = external_model("weights.bin", "0", "8");
    EXPECT_EQ_INT(load_external(dir, &m, &model), KILN_ERR_PARSE);
    EXPECT_STR_CONTAINS(kiln_last_error(), "needs 12 bytes");
    m = external_model("weights.bin", "-4", NULL);
    EXPECT_EQ_INT(load_external(dir, &m, &model), KILN_ERR_PARSE);
    EXPECT_STR_CONTAINS(kiln_last_error(), "offset");
    m = external_model("missing.bin", NULL, NULL);
    EXPECT(load_external(dir, &m, &model) != KILN_OK);
    EXPECT_STR_CONTAINS(kiln_last_error(), "ext_w");
    m = external_model("", NULL, NULL);
    EXPECT_EQ_INT(load_external(dir, &m, &model), KILN_ERR_PARSE);
    EXPECT_STR_CONTAINS(kiln_last_error(), "without a location");
    /* string tensors cannot have external data */
    {
        pbuf t = {0};
        pb_int(&t, T_DIMS, 1);
        pb_int(&t, T_DTYPE, KILN_DTYPE_STRING);
        pb_str(&t, T_NAME, "ext_s");
        pb_entry(&t, T_EXTERNAL, "location", "weights.bin");
        pb_int(&t, T_LOCATION, 1);
        pbuf g = {0};
        pb_msg(&g, G_INIT, &t);
        m = model_with(8, &g);
        EXPECT_EQ_INT(load_external(dir, &m, &model), KILN_ERR_PARSE);
        EXPECT_STR_CONTAINS(kiln_last_error(), "string tensor 'ext_s' has external data");
    }
    /* external data in a standalone value file is refused */
    {
        pbuf t = {0};
        pb_int(&t, T_DIMS, 3);
        pb_int(&t, T_DTYPE, KILN_DTYPE_FLOAT32);
        pb_str(&t, T_NAME, "pbx");
        pb_entry(&t, T_EXTERNAL, "location", "weights.bin");
        pb_int(&t, T_LOCATION, 1);
        load_value(&t, KILN_ONNX_VALUE_TENSOR, KILN_ERR_UNSUPPORTED);
        EXPECT_STR_CONTAINS(kiln_last_error(), "pbx");
        pb_free(&t);
    }

    remove_file(dir, "model.onnx");
    remove_file(dir, "weights.bin");
    remove_file(dir, "exact.bin");
    EXPECT(rmdir(dir) == 0);
}

/* ---- hostile input --------------------------------------------------------------------- */

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

/* Loads `size` bytes (an exact copy) and, when that works, reads every initializer's data
 * and the tensor attributes of the main graph. Returns the load status. */
static kiln_status load_and_touch(const uint8_t *data, size_t size) {
    uint8_t *copy = exact_copy(data, size);
    kiln_onnx_model *m = NULL;
    quiet = 1;
    kiln_status st = kiln_onnx_model_load_memory(copy, size, NULL, &m);
    if (st == KILN_OK) {
        const kiln_onnx_graph *g = m->graph;
        /* A tensor that loaded with data reads: malformed data fails the load instead. */
        for (int32_t i = 0; i < g->initializer_count; i++) {
            const kiln_onnx_tensor *t = &g->initializers[i];
            size_t nb;
            void *d = t->data_type == KILN_DTYPE_STRING ? NULL : read_data(t, &nb);
            if (!d && t->payload != KILN_ONNX_PAYLOAD_NONE && t->data_type != KILN_DTYPE_STRING) {
                fprintf(stderr, "%s:%d: initializer '%s' loaded but does not read: %s\n", __FILE__,
                        __LINE__, t->name, kiln_last_error());
                kiln_test_failures++;
            }
            free(d);
        }
        for (int32_t n = 0; n < g->node_count; n++)
            for (int32_t a = 0; a < g->nodes[n].attribute_count; a++) {
                const kiln_onnx_attribute *at = &g->nodes[n].attributes[a];
                size_t nb;
                if (at->t && at->t->data_type != KILN_DTYPE_STRING &&
                    kiln_onnx_tensor_nbytes(at->t, &nb) == KILN_OK && nb < (1u << 20))
                    free(read_data(at->t, &nb));
            }
        kiln_onnx_model_destroy(m);
    } else {
        EXPECT(m == NULL);
        EXPECT(kiln_last_error()[0] != '\0');
    }
    free(copy);
    quiet = 0;
    return st;
}

/* Offsets where a top-level field of the model ends. */
static size_t top_level_boundaries(const uint8_t *data, size_t size, size_t *ends, size_t cap) {
    kiln_pb_reader r;
    kiln_pb_span span = {data, size, 0};
    kiln_pb_reader_init(&r, span);
    size_t n = 0;
    while (!kiln_pb_reader_done(&r)) {
        kiln_pb_field f;
        if (kiln_pb_next_field(&r, &f) != KILN_OK) break;
        if (n < cap) ends[n++] = kiln_pb_reader_offset(&r);
    }
    return n;
}

static void truncate_and_flip(const char *what, const uint8_t *data, size_t size) {
    size_t ends[256];
    size_t nends = top_level_boundaries(data, size, ends, 256);
    int graph_end_seen = 0, ok_count = 0;
    for (size_t len = 0; len < size; len++) {
        kiln_clear_error();
        kiln_status st = load_and_touch(data, len);
        int boundary = 0;
        for (size_t i = 0; i < nends; i++) boundary |= ends[i] == len;
        if (st == KILN_OK) {
            ok_count++;
            if (!boundary) {
                fprintf(stderr,
                        "%s:%d: %s truncated to %zu bytes loads but is not at a message "
                        "boundary\n",
                        __FILE__, __LINE__, what, len);
                kiln_test_failures++;
            }
        } else if (st != KILN_ERR_PARSE) {
            fprintf(stderr, "%s:%d: %s truncated to %zu bytes: status %s (%s)\n", __FILE__,
                    __LINE__, what, len, kiln_status_string(st), kiln_last_error());
            kiln_test_failures++;
        }
        graph_end_seen |= boundary;
    }
    EXPECT_EQ_INT(load_and_touch(data, size), KILN_OK);
    (void)graph_end_seen;
    (void)ok_count;
    /* every byte flipped (xor 0xFF), every bit flipped, every byte set to 0x00 / 0x80 / 0xFF */
    uint8_t *m = exact_copy(data, size);
    for (size_t i = 0; i < size; i++) {
        uint8_t orig = m[i];
        static const uint8_t sets[] = {0x00, 0x80, 0xFF, 0x7F};
        m[i] = orig ^ 0xFF;
        load_and_touch(m, size);
        for (int b = 0; b < 8; b++) {
            m[i] = orig ^ (uint8_t)(1u << b);
            load_and_touch(m, size);
        }
        for (size_t k = 0; k < sizeof sets; k++) {
            m[i] = sets[k];
            load_and_touch(m, size);
        }
        m[i] = orig;
    }
    free(m);
}

static uint8_t *read_whole_file(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    uint8_t *data = NULL;
    size_t n = 0, cap = 0;
    int c;
    while ((c = fgetc(f)) != EOF) {
        if (n == cap) {
            cap = cap ? 2 * cap : 4096;
            uint8_t *p = realloc(data, cap);
            if (!p) break;
            data = p;
        }
        data[n++] = (uint8_t)c;
    }
    fclose(f);
    *size = n;
    return data;
}

/* A model using much of the format: initializers, attributes of every kind, functions. */
static pbuf rich_model(void) {
    pbuf g = {0};
    pb_str(&g, G_NAME, "rich");
    float v[4] = {1, 2, 3, 4};
    int64_t d[] = {2, 2};
    pbuf t = raw_float_tensor("W", d, 2, v, 4);
    pb_msg(&g, G_INIT, &t);
    t = float_tensor_typed("F", v, 4, 1);
    pb_msg(&g, G_INIT, &t);
    t = typed_header(KILN_DTYPE_INT8, d, 2);
    int64_t w[] = {-1, 2, -3, 4};
    pb_packed_ints(&t, T_INT32, w, 4);
    pb_msg(&g, G_INIT, &t);
    pbuf n = simple_node("If", "c", "y");
    pbuf a = attr_named("then_branch", KILN_ONNX_ATTR_GRAPH);
    pbuf sub = small_graph("then", "Identity");
    pb_msg(&a, A_G, &sub);
    pb_msg(&n, N_ATTR, &a);
    a = attr_named("ints", KILN_ONNX_ATTR_INTS);
    pb_packed_ints(&a, A_INTS, w, 4);
    pb_msg(&n, N_ATTR, &a);
    a = attr_named("floats", KILN_ONNX_ATTR_FLOATS);
    pb_packed_floats(&a, A_FLOATS, v, 4);
    pb_msg(&n, N_ATTR, &a);
    a = attr_named("t", KILN_ONNX_ATTR_TENSOR);
    t = float_tensor_typed("T", v, 3, 0);
    pb_msg(&a, A_T, &t);
    pb_msg(&n, N_ATTR, &a);
    a = attr_named("s", KILN_ONNX_ATTR_STRINGS);
    pb_str(&a, A_STRINGS, "q");
    pb_msg(&n, N_ATTR, &a);
    pb_msg(&g, G_NODE, &n);
    int64_t xd[] = {-2, 3};
    pbuf tt = tensor_type(KILN_DTYPE_FLOAT32, xd, 2);
    pbuf vi = value_info("c", &tt);
    pb_msg(&g, G_INPUT, &vi);
    pbuf m = model_with(8, &g);
    pbuf f = {0};
    pb_str(&f, 1, "Fn");
    pb_str(&f, 4, "a");
    n = simple_node("Neg", "a", "b");
    pb_msg(&f, 7, &n);
    pb_msg(&m, M_FUNCTIONS, &f);
    pb_entry(&m, M_METADATA, "k", "v");
    return m;
}

static void test_hostile(const char *model_path) {
    size_t size = 0;
    uint8_t *data = read_whole_file(model_path, &size);
    if (!data || size == 0) {
        fprintf(stderr, "%s:%d: cannot read %s\n", __FILE__, __LINE__, model_path);
        kiln_test_failures++;
    } else {
        truncate_and_flip(model_path, data, size);
    }
    free(data);
    pbuf rich = rich_model();
    EXPECT_EQ_INT(load_and_touch(rich.b, rich.n), KILN_OK);
    truncate_and_flip("rich model", rich.b, rich.n);
    pb_free(&rich);

    /* 200 levels of subgraphs */
    pbuf g = small_graph("level200", "Identity");
    for (int level = 199; level >= 0; level--) {
        pbuf a = attr_named("then_branch", KILN_ONNX_ATTR_GRAPH);
        pb_msg(&a, A_G, &g);
        pbuf n = simple_node("If", "c", "y");
        pb_msg(&n, N_ATTR, &a);
        g = (pbuf){0};
        char name[32];
        snprintf(name, sizeof name, "level%d", level);
        pb_str(&g, G_NAME, name);
        pb_msg(&g, G_NODE, &n);
    }
    pbuf m = model_with(8, &g);
    load(&m, KILN_ERR_PARSE);
    EXPECT_STR_CONTAINS(kiln_last_error(), "nested");
    pb_free(&m);
    /* nested types: sequence(sequence(...)) 200 deep */
    pbuf ty = tensor_type(KILN_DTYPE_FLOAT32, NULL, -1);
    for (int level = 0; level < 200; level++) {
        pbuf seq = {0}, outer = {0};
        pb_msg(&seq, 1, &ty);
        pb_msg(&outer, 4, &seq);
        ty = outer;
    }
    pbuf vi = value_info("deep", &ty);
    g = (pbuf){0};
    pb_msg(&g, G_INPUT, &vi);
    m = model_with(8, &g);
    load(&m, KILN_ERR_PARSE);
    EXPECT_STR_CONTAINS(kiln_last_error(), "nested");
    pb_free(&m);
    /* nested values: optional(optional(...)) 200 deep */
    pbuf o = {0};
    for (int level = 0; level < 200; level++) {
        pbuf outer = {0};
        pb_int(&outer, 2, 5);
        pb_msg(&outer, 7, &o);
        o = outer;
    }
    load_value(&o, KILN_ONNX_VALUE_OPTIONAL, KILN_ERR_PARSE);
    EXPECT_STR_CONTAINS(kiln_last_error(), "nested");
    pb_free(&o);

    /* dims whose product overflows int64: refused while parsing */
    int64_t huge[] = {(int64_t)1 << 40, (int64_t)1 << 40};
    pbuf t = typed_header(KILN_DTYPE_FLOAT32, huge, 2);
    g = (pbuf){0};
    pb_msg(&g, G_INIT, &t);
    m = model_with(8, &g);
    load(&m, KILN_ERR_PARSE);
    EXPECT_STR_CONTAINS(kiln_last_error(), "too many elements");
    pb_free(&m);
    /* dims of 2^62 float elements and no data: loads (shape only); the size in bytes
     * overflows, so nbytes and read fail without allocating */
    int64_t big[] = {(int64_t)1 << 31, (int64_t)1 << 31};
    t = typed_header(KILN_DTYPE_FLOAT32, big, 2);
    g = (pbuf){0};
    pb_msg(&g, G_INIT, &t);
    m = model_with(8, &g);
    kiln_onnx_model *model = load(&m, KILN_OK);
    if (model) {
        const kiln_onnx_tensor *bt = &model->graph->initializers[0];
        EXPECT_EQ_INT(bt->payload, KILN_ONNX_PAYLOAD_NONE);
        EXPECT_EQ_INT(bt->element_count, (int64_t)1 << 62);
        size_t nb = 0;
        EXPECT_EQ_INT(kiln_onnx_tensor_nbytes(bt, &nb), KILN_ERR_PARSE);
        EXPECT_STR_CONTAINS(kiln_last_error(), "too large");
        EXPECT(kiln_onnx_tensor_read(bt, NULL, SIZE_MAX) != KILN_OK);
        kiln_onnx_model_destroy(model);
    }
    pb_free(&m);
    /* 2^40 elements: nbytes is representable, but there is no data to read */
    int64_t large[] = {(int64_t)1 << 20, (int64_t)1 << 20};
    t = typed_header(KILN_DTYPE_FLOAT32, large, 2);
    g = (pbuf){0};
    pb_msg(&g, G_INIT, &t);
    m = model_with(8, &g);
    model = load(&m, KILN_OK);
    if (model) {
        const kiln_onnx_tensor *bt = &model->graph->initializers[0];
        size_t nb = 0;
        EXPECT_EQ_INT(kiln_onnx_tensor_nbytes(bt, &nb), KILN_OK);
        EXPECT(nb == (size_t)4 << 40);
        EXPECT_EQ_INT(kiln_onnx_tensor_read(bt, NULL, nb), KILN_ERR_PARSE);
        EXPECT_STR_CONTAINS(kiln_last_error(), "no data");
        kiln_onnx_model_destroy(model);
    }
    pb_free(&m);

    /* a LEN field claiming 2^60 bytes */
    m = (pbuf){0};
    pb_int(&m, M_IR_VERSION, 8);
    pb_key(&m, M_GRAPH, KILN_PB_LEN);
    pb_varint(&m, (uint64_t)1 << 60);
    pb_raw(&m, "abc", 3);
    load(&m, KILN_ERR_PARSE);
    EXPECT_STR_CONTAINS(kiln_last_error(), "byte offset 2");
    EXPECT_STR_CONTAINS(kiln_last_error(), "1152921504606846976");
    pb_free(&m);
    /* ... and deeper: a packed float_data inside an initializer claiming 2^40 bytes */
    t = typed_header(KILN_DTYPE_FLOAT32, big, 1);
    pb_key(&t, T_FLOAT, KILN_PB_LEN);
    pb_varint(&t, (uint64_t)1 << 40);
    pb_fixed32(&t, 0);
    g = (pbuf){0};
    pb_msg(&g, G_INIT, &t);
    m = model_with(8, &g);
    load(&m, KILN_ERR_PARSE);
    EXPECT_STR_CONTAINS(kiln_last_error(), "byte offset");
    EXPECT_STR_CONTAINS(kiln_last_error(), "runs past the end");
    pb_free(&m);
    /* a shape of a million elements with one value: an error, not an allocation */
    int64_t million[] = {1000000};
    t = typed_header(KILN_DTYPE_FLOAT32, million, 1);
    pb_float(&t, T_FLOAT, 1);
    g = (pbuf){0};
    pb_msg(&g, G_INIT, &t);
    m = model_with(8, &g);
    load(&m, KILN_ERR_PARSE);
    EXPECT_STR_CONTAINS(kiln_last_error(), "needs 1000000 values but the file has 1");
    pb_free(&m);
    /* more dims than any tensor can have */
    t = (pbuf){0};
    pb_int(&t, T_DTYPE, KILN_DTYPE_FLOAT32);
    for (int i = 0; i < 1000; i++) pb_int(&t, T_DIMS, 1);
    load_value(&t, KILN_ONNX_VALUE_TENSOR, KILN_ERR_PARSE);
    EXPECT_STR_CONTAINS(kiln_last_error(), "1000 dimensions");
    pb_free(&t);
    /* a packed varint field ending mid-varint */
    t = (pbuf){0};
    pb_int(&t, T_DTYPE, KILN_DTYPE_INT64);
    pb_int(&t, T_DIMS, 1);
    pb_bytes(&t, T_INT64, "\x81", 1);
    load_value(&t, KILN_ONNX_VALUE_TENSOR, KILN_ERR_PARSE);
    EXPECT_STR_CONTAINS(kiln_last_error(), "mid-varint");
    pb_free(&t);
    /* a packed varint longer than 10 bytes, or overflowing 64 bits: the load fails */
    t = (pbuf){0};
    pb_int(&t, T_DTYPE, KILN_DTYPE_INT64);
    pb_int(&t, T_DIMS, 2);
    pb_str(&t, T_NAME, "overlong");
    pb_bytes(&t, T_INT64, "\x01\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x00", 12);
    load_value(&t, KILN_ONNX_VALUE_TENSOR, KILN_ERR_PARSE);
    EXPECT_STR_CONTAINS(kiln_last_error(), "overlong");
    EXPECT_STR_CONTAINS(kiln_last_error(), "varint");
    pb_free(&t);
    t = (pbuf){0};
    pb_int(&t, T_DTYPE, KILN_DTYPE_INT32);
    pb_int(&t, T_DIMS, 1);
    pb_str(&t, T_NAME, "overflow");
    pb_bytes(&t, T_INT32, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f", 10);
    load_value(&t, KILN_ONNX_VALUE_TENSOR, KILN_ERR_PARSE);
    EXPECT_STR_CONTAINS(kiln_last_error(), "overflow");
    EXPECT_STR_CONTAINS(kiln_last_error(), "overflows 64 bits");
    pb_free(&t);
    /* an invalid wire type and a field number 0 */
    m = (pbuf){0};
    pb_int(&m, M_IR_VERSION, 8);
    pb_byte(&m, 0x0f);
    load(&m, KILN_ERR_PARSE);
    EXPECT_STR_CONTAINS(kiln_last_error(), "wire type");
    pb_free(&m);
    m = (pbuf){0};
    pb_byte(&m, 0x00);
    load(&m, KILN_ERR_PARSE);
    EXPECT_STR_CONTAINS(kiln_last_error(), "field number");
    pb_free(&m);
}

static void test_bad_models(void) {
    kiln_onnx_model *model = NULL;
    kiln_clear_error();
    EXPECT_EQ_INT(kiln_onnx_model_load_memory(NULL, 0, NULL, &model), KILN_ERR_PARSE);
    EXPECT_STR_CONTAINS(kiln_last_error(), "empty");
    EXPECT(model == NULL);
    uint8_t one = 0;
    EXPECT_EQ_INT(kiln_onnx_model_load_memory(&one, 0, NULL, &model), KILN_ERR_PARSE);
    EXPECT_STR_CONTAINS(kiln_last_error(), "empty");
    EXPECT_EQ_INT(kiln_onnx_model_load_memory(NULL, 5, NULL, &model), KILN_ERR_INVALID_ARGUMENT);
    EXPECT_EQ_INT(kiln_onnx_model_load_memory(&one, 1, NULL, NULL), KILN_ERR_INVALID_ARGUMENT);
    EXPECT(kiln_onnx_model_load_file("/nonexistent/kiln/model.onnx", &model) != KILN_OK);
    EXPECT_STR_CONTAINS(kiln_last_error(), "/nonexistent/kiln/model.onnx");

    /* no graph */
    pbuf m = model_with(8, NULL);
    load(&m, KILN_ERR_PARSE);
    EXPECT_STR_CONTAINS(kiln_last_error(), "no graph");
    pb_free(&m);
    /* IR versions before 3 */
    for (int ir = 0; ir < 3; ir++) {
        pbuf g = small_graph("old", "Relu");
        m = model_with(ir, &g);
        load(&m, KILN_ERR_UNSUPPORTED);
        EXPECT_STR_CONTAINS(kiln_last_error(), "IR version");
        pb_free(&m);
    }
    pbuf g = small_graph("v3", "Relu");
    m = model_with(3, &g);
    model = load(&m, KILN_OK);
    kiln_onnx_model_destroy(model);
    pb_free(&m);
    /* a graph field that is a varint */
    m = (pbuf){0};
    pb_int(&m, M_IR_VERSION, 8);
    pb_int(&m, M_GRAPH, 1);
    load(&m, KILN_ERR_PARSE);
    EXPECT_STR_CONTAINS(kiln_last_error(), "ModelProto.graph");
    pb_free(&m);
    /* an error inside a node names the node */
    g = (pbuf){0};
    pb_str(&g, G_NAME, "gname");
    pbuf n = simple_node("MatMul", "a", "b");
    pb_str(&n, N_NAME, "mm7");
    pb_int(&n, N_INPUT, 3);
    pb_msg(&g, G_NODE, &n);
    m = model_with(8, &g);
    load(&m, KILN_ERR_PARSE);
    EXPECT_STR_CONTAINS(kiln_last_error(), "mm7");
    EXPECT_STR_CONTAINS(kiln_last_error(), "MatMul");
    EXPECT_STR_CONTAINS(kiln_last_error(), "NodeProto.input");
    pb_free(&m);
    kiln_onnx_model_destroy(NULL);
    kiln_onnx_value_file_destroy(NULL);
}

int main(int argc, char **argv) {
    char model_path[4096];
    if (argc > 1)
        snprintf(model_path, sizeof model_path, "%s", argv[1]);
    else
        default_model_path(model_path, sizeof model_path);
    test_model_fields();
    test_attributes();
    test_raw_span();
    test_typed_fields();
    test_values();
    test_functions();
    test_external_data();
    test_bad_models();
    test_hostile(model_path);
    TEST_MAIN_END();
}
