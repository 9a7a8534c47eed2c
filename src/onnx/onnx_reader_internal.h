/* Shared between the files of the ONNX reader; not for other modules. */
#ifndef KILN_ONNX_READER_INTERNAL_H
#define KILN_ONNX_READER_INTERNAL_H

#include <stdio.h>

#include "onnx/onnx_model.h"

/* Field numbers at or above this are never ONNX's own: they are skipped as unknown. */
#define KILN_ONNX_MAX_FIELD 32
/* Subgraphs, nested types and nested values deeper than this are refused. */
#define KILN_ONNX_MAX_DEPTH 64

/* A tensor with external data, waiting for its file to be mapped. */
typedef struct kiln_onnx_pending {
    kiln_onnx_tensor *tensor;
    struct kiln_onnx_pending *next;
} kiln_onnx_pending;

typedef struct kiln_onnx_ctx {
    kiln_arena *arena;
    int depth;
    kiln_onnx_pending *external; /* tensors whose data lives in other files */
} kiln_onnx_ctx;

/* A repeated scalar field of a message (it may arrive packed). */
typedef struct kiln_onnx_packed {
    uint32_t number;
    uint32_t wire_type;
} kiln_onnx_packed;

kiln_status kiln_onnx_oom(void);
kiln_status kiln_onnx_read_string(kiln_onnx_ctx *ctx, const kiln_pb_field *f, const char *what,
                                  const char **out);
kiln_status kiln_onnx_read_int(const kiln_pb_field *f, const char *what, int64_t *out);

kiln_status kiln_onnx_parse_string_entry(kiln_onnx_ctx *ctx, kiln_pb_span span,
                                         kiln_onnx_string_entry *out);
kiln_status kiln_onnx_parse_tensor(kiln_onnx_ctx *ctx, kiln_pb_span span, kiln_onnx_tensor *t);
kiln_status kiln_onnx_parse_sparse_tensor(kiln_onnx_ctx *ctx, kiln_pb_span span,
                                          kiln_onnx_sparse_tensor *out);
kiln_status kiln_onnx_parse_type(kiln_onnx_ctx *ctx, kiln_pb_span span, kiln_onnx_type **out);
kiln_status kiln_onnx_parse_value_info(kiln_onnx_ctx *ctx, kiln_pb_span span,
                                       kiln_onnx_value_info *out);
kiln_status kiln_onnx_parse_attribute(kiln_onnx_ctx *ctx, kiln_pb_span span,
                                      kiln_onnx_attribute *a);
kiln_status kiln_onnx_parse_node(kiln_onnx_ctx *ctx, kiln_pb_span span, kiln_onnx_node *n,
                                 int32_t index);
kiln_status kiln_onnx_parse_graph(kiln_onnx_ctx *ctx, kiln_pb_span span, kiln_onnx_graph *g);
kiln_status kiln_onnx_parse_model(kiln_onnx_ctx *ctx, kiln_pb_span span, kiln_onnx_model *m);

#endif
