/*
 * The ONNX model view: ONNX messages decoded from a mapped file.
 *
 * Names and other strings are copied (NUL-terminated) into the model's arena; tensor
 * payloads are not: a tensor keeps a span of the file (raw_data, or the message itself for
 * the typed repeated fields, decoded on demand by kiln_onnx_tensor_read), so weights are
 * never copied while parsing. Everything lives until kiln_onnx_model_destroy.
 *
 * Field names follow onnx.proto.
 */
#ifndef KILN_ONNX_MODEL_H
#define KILN_ONNX_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/file_map.h"
#include "onnx/pb.h"

typedef struct kiln_onnx_graph kiln_onnx_graph;
typedef struct kiln_onnx_type kiln_onnx_type;

typedef struct kiln_onnx_string_entry {
    const char *key;
    const char *value;
} kiln_onnx_string_entry;

typedef struct kiln_onnx_opset {
    const char *domain; /* "" is the default ONNX domain ("ai.onnx") */
    int64_t version;
} kiln_onnx_opset;

/* Where a tensor's elements are. */
typedef enum kiln_onnx_payload {
    KILN_ONNX_PAYLOAD_NONE = 0,    /* no data (zero elements, or a shape-only tensor) */
    KILN_ONNX_PAYLOAD_RAW = 1,     /* `raw`: little-endian packed bytes */
    KILN_ONNX_PAYLOAD_TYPED = 2,   /* the typed repeated field `typed_field` of `message` */
    KILN_ONNX_PAYLOAD_EXTERNAL = 3 /* `raw` points into a mapped external data file */
} kiln_onnx_payload;

typedef struct kiln_onnx_tensor {
    const char *name;
    const char *doc_string;
    int32_t data_type; /* kiln_dtype / TensorProto.DataType */
    int32_t rank;
    int64_t *dims;
    int64_t element_count; /* product of dims (1 for rank 0) */
    kiln_onnx_payload payload;
    kiln_pb_span raw;     /* RAW and EXTERNAL */
    kiln_pb_span message; /* the TensorProto bytes (TYPED decoding rescans them) */
    uint32_t typed_field; /* TYPED: the field number holding the elements */
    size_t typed_count;   /* TYPED: number of scalars in that field */
    /* external data, as written in the file */
    const char *external_location;
    int64_t external_offset;
    int64_t external_length; /* -1 when not given: to the end of the file */
    int32_t external_count;
    kiln_onnx_string_entry *external_data;
    int has_segment;
    int64_t segment_begin, segment_end;
    int32_t metadata_count;
    kiln_onnx_string_entry *metadata;
} kiln_onnx_tensor;

typedef struct kiln_onnx_sparse_tensor {
    kiln_onnx_tensor *values;
    kiln_onnx_tensor *indices;
    int32_t rank;
    int64_t *dims;
} kiln_onnx_sparse_tensor;

typedef struct kiln_onnx_dim {
    int has_value;
    int64_t value;
    const char *param;      /* symbolic name, or NULL */
    const char *denotation; /* or NULL */
} kiln_onnx_dim;

typedef enum kiln_onnx_type_kind {
    KILN_ONNX_TYPE_UNDEFINED = 0,
    KILN_ONNX_TYPE_TENSOR = 1,
    KILN_ONNX_TYPE_SPARSE_TENSOR = 2,
    KILN_ONNX_TYPE_SEQUENCE = 3,
    KILN_ONNX_TYPE_MAP = 4,
    KILN_ONNX_TYPE_OPTIONAL = 5
} kiln_onnx_type_kind;

struct kiln_onnx_type {
    kiln_onnx_type_kind kind;
    int32_t elem_type; /* TENSOR, SPARSE_TENSOR: the element dtype */
    int has_shape;     /* TENSOR, SPARSE_TENSOR: a shape was given (rank may be 0) */
    int32_t rank;
    kiln_onnx_dim *dims;
    int32_t key_type;     /* MAP: the key dtype */
    kiln_onnx_type *elem; /* SEQUENCE, OPTIONAL: element type; MAP: value type */
    const char *denotation;
};

typedef struct kiln_onnx_value_info {
    const char *name;
    const char *doc_string;
    kiln_onnx_type *type; /* may be NULL: the file gave no type */
} kiln_onnx_value_info;

typedef enum kiln_onnx_attr_type {
    KILN_ONNX_ATTR_UNDEFINED = 0,
    KILN_ONNX_ATTR_FLOAT = 1,
    KILN_ONNX_ATTR_INT = 2,
    KILN_ONNX_ATTR_STRING = 3,
    KILN_ONNX_ATTR_TENSOR = 4,
    KILN_ONNX_ATTR_GRAPH = 5,
    KILN_ONNX_ATTR_FLOATS = 6,
    KILN_ONNX_ATTR_INTS = 7,
    KILN_ONNX_ATTR_STRINGS = 8,
    KILN_ONNX_ATTR_TENSORS = 9,
    KILN_ONNX_ATTR_GRAPHS = 10,
    KILN_ONNX_ATTR_SPARSE_TENSOR = 11,
    KILN_ONNX_ATTR_SPARSE_TENSORS = 12,
    KILN_ONNX_ATTR_TYPE_PROTO = 13,
    KILN_ONNX_ATTR_TYPE_PROTOS = 14
} kiln_onnx_attr_type;

/* A string attribute value: bytes, possibly binary, NUL-terminated for convenience. */
typedef struct kiln_onnx_bytes {
    const char *data;
    size_t size;
} kiln_onnx_bytes;

typedef struct kiln_onnx_attribute {
    const char *name;
    const char *doc_string;
    const char *ref_attr_name; /* inside functions: refers to the caller's attribute */
    kiln_onnx_attr_type type;  /* as declared; when the file omits it, inferred from data */
    float f;
    int64_t i;
    kiln_onnx_bytes s;
    kiln_onnx_tensor *t;
    kiln_onnx_graph *g;
    kiln_onnx_sparse_tensor *sparse_tensor;
    kiln_onnx_type *tp;
    int32_t floats_count, ints_count, strings_count, tensors_count, graphs_count;
    int32_t sparse_tensors_count, type_protos_count;
    float *floats;
    int64_t *ints;
    kiln_onnx_bytes *strings;
    kiln_onnx_tensor **tensors;
    kiln_onnx_graph **graphs;
    kiln_onnx_sparse_tensor **sparse_tensors;
    kiln_onnx_type **type_protos;
} kiln_onnx_attribute;

typedef struct kiln_onnx_node {
    const char *name;
    const char *op_type;
    const char *domain;
    const char *overload;
    const char *doc_string;
    int32_t input_count, output_count, attribute_count, metadata_count;
    const char **inputs; /* "" marks an omitted optional input */
    const char **outputs;
    kiln_onnx_attribute *attributes;
    kiln_onnx_string_entry *metadata;
} kiln_onnx_node;

struct kiln_onnx_graph {
    const char *name;
    const char *doc_string;
    int32_t node_count, initializer_count, sparse_initializer_count;
    int32_t input_count, output_count, value_info_count, metadata_count;
    kiln_onnx_node *nodes;
    kiln_onnx_tensor *initializers;
    kiln_onnx_sparse_tensor *sparse_initializers;
    kiln_onnx_value_info *inputs;
    kiln_onnx_value_info *outputs;
    kiln_onnx_value_info *value_infos;
    kiln_onnx_string_entry *metadata;
};

typedef struct kiln_onnx_function {
    const char *name;
    const char *domain;
    const char *overload;
    const char *doc_string;
    int32_t input_count, output_count, attribute_count, attribute_proto_count;
    int32_t node_count, opset_count, value_info_count, metadata_count;
    const char **inputs;
    const char **outputs;
    const char **attributes;               /* names of attributes without defaults */
    kiln_onnx_attribute *attribute_protos; /* attributes with defaults */
    kiln_onnx_node *nodes;
    kiln_onnx_opset *opsets;
    kiln_onnx_value_info *value_infos;
    kiln_onnx_string_entry *metadata;
} kiln_onnx_function;

typedef struct kiln_onnx_model {
    int64_t ir_version;
    const char *producer_name;
    const char *producer_version;
    const char *domain;
    int64_t model_version;
    const char *doc_string;
    int32_t opset_count, function_count, metadata_count;
    kiln_onnx_opset *opsets;
    kiln_onnx_graph *graph; /* NULL only if the file has none (an error for models) */
    kiln_onnx_function *functions;
    kiln_onnx_string_entry *metadata;
    /* ownership */
    kiln_arena arena;
    kiln_file_map file; /* the mapped model, when read from a file */
    char *model_dir;    /* where external data paths are resolved */
    int32_t external_file_count;
    kiln_file_map *external_files;
    const char **external_file_names;
    size_t file_size; /* bytes of the serialized model */
    void *owned_copy; /* malloc'ed model bytes the model owns, or NULL */
    /* The model's own reference: graphs borrowing its weights hold more (importer.c), and
     * kiln_onnx_model_destroy frees the model when the last one goes. */
    struct kiln_keepalive *keep;
} kiln_onnx_model;

/* Reads a model file (mapped). External data is resolved against the file's folder. */
kiln_status kiln_onnx_model_load_file(const char *path, kiln_onnx_model **out);
/* Reads a model from memory, which must outlive the model (it is not copied).
 * External data is resolved against `model_dir` (NULL: the current directory). */
kiln_status kiln_onnx_model_load_memory(const void *data, size_t size, const char *model_dir,
                                        kiln_onnx_model **out);
/* Drops the caller's reference: the model is freed now, or when the last graph borrowing
 * its weights goes (see `keep`). */
void kiln_onnx_model_destroy(kiln_onnx_model *model);

/* ---- values outside models: the .pb files of the ONNX test data ---- */

typedef enum kiln_onnx_value_kind {
    KILN_ONNX_VALUE_TENSOR = 1,
    KILN_ONNX_VALUE_SPARSE_TENSOR = 2,
    KILN_ONNX_VALUE_SEQUENCE = 3,
    KILN_ONNX_VALUE_MAP = 4,
    KILN_ONNX_VALUE_OPTIONAL = 5
} kiln_onnx_value_kind;

typedef struct kiln_onnx_value kiln_onnx_value;
struct kiln_onnx_value {
    kiln_onnx_value_kind kind;
    const char *name;
    int32_t elem_type;               /* SEQUENCE / OPTIONAL: kind of the elements (0 = none) */
    kiln_onnx_tensor *tensor;        /* TENSOR */
    kiln_onnx_sparse_tensor *sparse; /* SPARSE_TENSOR */
    int32_t count;                   /* SEQUENCE: elements; OPTIONAL: 0 (empty) or 1 */
    kiln_onnx_value **items;         /* SEQUENCE and OPTIONAL elements */
    /* MAP */
    int32_t key_type;
    int32_t key_count;
    int64_t *int_keys;
    kiln_onnx_bytes *string_keys;
    kiln_onnx_value *map_values; /* a SEQUENCE value */
};

/* A file that is one serialized value. As the .pb files carry no type tag, the caller says
 * which message it holds: TENSOR (TensorProto), SEQUENCE (SequenceProto), MAP (MapProto) or
 * OPTIONAL (OptionalProto). */
typedef struct kiln_onnx_value_file {
    kiln_onnx_value *value;
    kiln_arena arena;
    kiln_file_map file;
} kiln_onnx_value_file;

kiln_status kiln_onnx_value_load_file(const char *path, kiln_onnx_value_kind kind,
                                      kiln_onnx_value_file **out);
kiln_status kiln_onnx_value_load_memory(const void *data, size_t size, kiln_onnx_value_kind kind,
                                        kiln_onnx_value_file **out);
void kiln_onnx_value_file_destroy(kiln_onnx_value_file *file);

/* ---- tensor data ---- */

/* Bytes the tensor's elements take packed little-endian (sub-byte types rounded up);
 * 0 for strings. Fails on overflow. */
kiln_status kiln_onnx_tensor_nbytes(const kiln_onnx_tensor *t, size_t *out);
/* Writes the elements packed little-endian into `dst` (exactly nbytes), whatever field
 * of the file held them. Not for strings. */
kiln_status kiln_onnx_tensor_read(const kiln_onnx_tensor *t, void *dst, size_t dst_size);
/* String tensors: calls `fn` for each element in order. */
kiln_status kiln_onnx_tensor_read_strings(const kiln_onnx_tensor *t,
                                          void (*fn)(void *user, const char *data, size_t size),
                                          void *user);

const char *kiln_onnx_attr_type_name(kiln_onnx_attr_type type);

#endif
