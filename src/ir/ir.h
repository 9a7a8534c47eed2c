/*
 * kiln's network IR: tensors and nodes, independent of ONNX and of any backend.
 *
 * IR ops follow ONNX's operator semantics (the op registry, ops.def, names them), so
 * the importer maps an ONNX node onto one IR node; each node keeps the opset version its
 * semantics come from (`opset`), and shape functions and kernels honour it where an op
 * changed between opsets (e.g. attributes that became inputs). The layer API creates the
 * same nodes at the newest opset.
 *
 * Everything a graph holds is owned by it: names, attributes, constant data.
 */
#ifndef KILN_IR_H
#define KILN_IR_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

typedef struct kiln_graph kiln_graph;

/* ---------------------------------------------------------------- ops -------------- */

typedef enum kiln_op {
#define KILN_OP(name, min_in, max_in, min_out, max_out) KILN_OP_##name,
#include "ir/ops.def"
#undef KILN_OP
    KILN_OP_COUNT
} kiln_op;

typedef struct kiln_op_info {
    const char *name;
    int32_t min_inputs, max_inputs; /* max -1: variadic */
    int32_t min_outputs, max_outputs;
} kiln_op_info;

const kiln_op_info *kiln_op_get_info(kiln_op op);
/* The op with this (ONNX) name, or KILN_OP_COUNT when there is none. */
kiln_op kiln_op_from_name(const char *name);

/* ---------------------------------------------------------------- attributes ------- */

typedef enum kiln_attr_type {
    KILN_ATTR_INT = 1,
    KILN_ATTR_FLOAT = 2,
    KILN_ATTR_STRING = 3,
    KILN_ATTR_INTS = 4,
    KILN_ATTR_FLOATS = 5,
    KILN_ATTR_STRINGS = 6,
    KILN_ATTR_TENSOR = 7, /* a constant tensor, owned by the attribute */
    KILN_ATTR_GRAPH = 8,  /* a subgraph, owned by the attribute */
    KILN_ATTR_GRAPHS = 9
} kiln_attr_type;

/* A tensor value held by an attribute (Constant's value, ConstantOfShape's value). */
typedef struct kiln_attr_tensor {
    kiln_dtype dtype;
    int32_t rank;
    int64_t dims[KILN_MAX_DIMS];
    void *data; /* owned; nbytes long */
    size_t nbytes;
} kiln_attr_tensor;

typedef struct kiln_attr {
    char *name;
    kiln_attr_type type;
    int64_t i;
    float f;
    char *s; /* NUL-terminated; s_len bytes (may hold NULs) */
    size_t s_len;
    int32_t count; /* INTS, FLOATS, STRINGS, GRAPHS */
    int64_t *ints;
    float *floats;
    char **strings;
    kiln_attr_tensor *tensor;
    kiln_graph *graph;
    kiln_graph **graphs;
} kiln_attr;

/* ---------------------------------------------------------------- tensors ---------- */

/* A value of the graph. Dims of -1 are unknown until shapes are set at run time. */
typedef struct kiln_ir_tensor {
    char *name;
    kiln_dtype dtype;
    int32_t rank;                   /* -1: unknown */
    int64_t dims[KILN_MAX_DIMS];
    char *dim_names[KILN_MAX_DIMS]; /* symbolic names of dynamic dims, or NULL */
    void *data;                     /* constant (weights, folded values), or NULL */
    size_t nbytes;
    int borrowed;                   /* data points into memory the graph does not own */
    struct kiln_keepalive *backing; /* for borrowed data: the owner the graph holds a reference
                                       to, or NULL: memory the graph cannot vouch for */
    int32_t producer;               /* the node writing it, -1 for inputs and constants */
    uint8_t kind;                   /* declared kiln_value_kind (graph inputs and outputs):
                                       TENSOR, SEQUENCE, OPTIONAL or OPTIONAL_SEQUENCE; the
                                       dtype of the others is their elements' */
} kiln_ir_tensor;

/* ---------------------------------------------------------------- nodes ------------ */

typedef struct kiln_node {
    char *name;
    kiln_op op;
    int32_t opset; /* the ONNX opset version whose semantics apply */
    int32_t input_count, output_count, attr_count;
    int32_t *inputs;  /* tensor indices; -1 for an omitted optional input */
    int32_t *outputs; /* tensor indices; -1 for an omitted optional output */
    kiln_attr *attrs;
} kiln_node;

/* ---------------------------------------------------------------- graphs ----------- */

struct kiln_graph {
    char *name;
    int32_t tensor_count, tensor_capacity;
    kiln_ir_tensor *tensors;
    int32_t node_count, node_capacity;
    kiln_node *nodes;
    int32_t input_count, output_count;
    int32_t *inputs;  /* tensor indices of the graph inputs (runtime-fed) */
    int32_t *outputs; /* tensor indices of the graph outputs */
    kiln_graph *parent; /* for subgraphs: names not found here are looked up there */
    int32_t keep_count;
    struct kiln_keepalive **keeps; /* held: the owners of its borrowed constants */
};

kiln_status kiln_graph_create(const char *name, kiln_graph **out);
/* A deep copy (constants copied, owned by the copy); `parent` becomes its parent. */
kiln_status kiln_graph_clone(const kiln_graph *src, kiln_graph *parent, kiln_graph **out);
void kiln_graph_destroy(kiln_graph *g);
/* Frees what a node owns (name, indices, attributes) and zeroes it. */
void kiln_node_clear(kiln_node *n);

/* Adds a tensor; returns its index in *out. Names must be unique within the graph. */
kiln_status kiln_graph_add_tensor(kiln_graph *g, const char *name, kiln_dtype dtype,
                                  int32_t rank, const int64_t *dims, int32_t *out);
/* The tensor named `name`, or -1. */
int32_t kiln_graph_find_tensor(const kiln_graph *g, const char *name);
/* Gives a tensor constant data (copied). */
kiln_status kiln_graph_set_constant(kiln_graph *g, int32_t tensor, const void *data, size_t nbytes);
/* Gives a tensor constant data whose ownership passes to the graph (malloc'ed). */
void kiln_graph_take_constant(kiln_graph *g, int32_t tensor, void *data, size_t nbytes);
/* Makes g (and its subgraphs) hold a reference to k for every borrowed constant that lies in
 * k's memory and has no owner yet, so that k's memory outlives whoever else releases it. */
kiln_status kiln_graph_adopt_keepalive(kiln_graph *g, struct kiln_keepalive *k);
/* Holds a reference to k (once per graph). */
kiln_status kiln_graph_hold(kiln_graph *g, struct kiln_keepalive *k);
/* Forgets tensor t's constant, which nothing reads any more (frees it, or gives the pages of
 * a borrowed one back, see kiln_keepalive_drop_pages). */
void kiln_graph_drop_constant(kiln_graph *g, int32_t t);

/* Adds a node reading and writing the given tensors (-1 for omitted ones); attributes
 * are added after with kiln_node_add_attr. Returns the node index in *out. */
kiln_status kiln_graph_add_node(kiln_graph *g, const char *name, kiln_op op, int32_t opset,
                                const int32_t *inputs, int32_t input_count,
                                const int32_t *outputs, int32_t output_count, int32_t *out);
kiln_status kiln_graph_add_input(kiln_graph *g, int32_t tensor);
kiln_status kiln_graph_add_output(kiln_graph *g, int32_t tensor);

/* Attributes: the new attribute is returned zeroed but for name and type. */
kiln_status kiln_node_add_attr(kiln_graph *g, int32_t node, const char *name, kiln_attr_type type,
                               kiln_attr **out);
kiln_status kiln_node_set_int(kiln_graph *g, int32_t node, const char *name, int64_t v);
kiln_status kiln_node_set_float(kiln_graph *g, int32_t node, const char *name, float v);
kiln_status kiln_node_set_ints(kiln_graph *g, int32_t node, const char *name, const int64_t *v,
                               int32_t n);
kiln_status kiln_node_set_floats(kiln_graph *g, int32_t node, const char *name, const float *v,
                                 int32_t n);
kiln_status kiln_node_set_string(kiln_graph *g, int32_t node, const char *name, const char *s,
                                 size_t len);

/* Calls fn for every tensor of `enclosing` that a subgraph of node n (at any depth) reads
 * by name: such a node reads those values too, for liveness and dead-code elimination. */
void kiln_node_outer_reads(const kiln_node *n, const kiln_graph *enclosing,
                           void (*fn)(void *user, int32_t tensor), void *user);

/* For liveness: a node at `step` reads `tensor` (used with kiln_node_outer_reads). */
typedef struct kiln_liveness_step {
    int32_t *last_use;
    int32_t step;
} kiln_liveness_step;
static inline void kiln_liveness_touch(void *user, int32_t tensor) {
    kiln_liveness_step *ls = (kiln_liveness_step *)user;
    if (ls->last_use[tensor] < ls->step) ls->last_use[tensor] = ls->step;
}

/* Attribute lookup for shape functions and kernels. */
const kiln_attr *kiln_node_attr(const kiln_node *n, const char *name);
int64_t kiln_attr_int(const kiln_node *n, const char *name, int64_t dflt);
float kiln_attr_float(const kiln_node *n, const char *name, float dflt);
/* The string attribute, or `dflt` when absent. */
const char *kiln_attr_string(const kiln_node *n, const char *name, const char *dflt);
/* INTS attribute: sets *count and returns the array, or NULL (count 0) when absent. */
const int64_t *kiln_attr_ints(const kiln_node *n, const char *name, int32_t *count);
const float *kiln_attr_floats(const kiln_node *n, const char *name, int32_t *count);

/* Bytes of `count` elements of dtype (sub-byte types rounded up); 0 for strings. */
size_t kiln_dtype_nbytes(kiln_dtype dtype, int64_t count);
/* Elements of a shape; -1 when any dim is unknown or rank is unknown. */
int64_t kiln_shape_count(int32_t rank, const int64_t *dims);
/* "[1, 3, 224, 224]" into buf; unknown dims as '?'. */
const char *kiln_shape_string(int32_t rank, const int64_t *dims, char *buf, size_t size);

#endif
