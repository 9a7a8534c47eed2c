/* The ONNX importer: fills a kiln graph from a decoded ONNX model. */
#ifndef KILN_ONNX_IMPORTER_H
#define KILN_ONNX_IMPORTER_H

#include "ir/ir.h"
#include "onnx/onnx_model.h"

/* One problem found while importing, naming its node. */
typedef struct kiln_import_error {
    char *node;    /* node name ("" when the problem has no node) */
    char *op;      /* op type, with its domain when not the default one */
    char *message; /* the whole sentence, node and op included */
} kiln_import_error;

typedef struct kiln_import_errors {
    int32_t count;
    kiln_import_error *items;
} kiln_import_errors;

void kiln_import_errors_clear(kiln_import_errors *errors);

/*
 * Adds the model's graph to `g`: inputs (those without initializers), initializers as
 * constants (raw data borrowed from the model, which must outlive the graph's build),
 * nodes (Constant nodes become constants; model-local functions are inlined) and outputs.
 * Every node that cannot be imported is recorded in `errors` (all of them, not only the
 * first); the call then fails with KILN_ERR_UNSUPPORTED and the first message.
 */
kiln_status kiln_onnx_import(const kiln_onnx_model *model, kiln_graph *g,
                             kiln_import_errors *errors);

/* Lists the nodes of a model kiln cannot import (the capability report), without
 * building anything. */
kiln_status kiln_onnx_check_support(const kiln_onnx_model *model, kiln_import_errors *errors);

#endif
