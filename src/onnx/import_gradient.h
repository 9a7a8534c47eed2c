/*
 * The Gradient op of the ai.onnx.preview.training domain, imported as a rewrite: its
 * outputs d(y)/d(x) for each x in `xs` are computed by reverse-mode differentiation of
 * the nodes already imported on the path from xs to y, emitted as ordinary IR nodes
 * (seeded with ones shaped like y, so each output is the gradient of the sum of y).
 */
#ifndef KILN_ONNX_IMPORT_GRADIENT_H
#define KILN_ONNX_IMPORT_GRADIENT_H

#include "ir/ir.h"
#include "onnx/onnx_model.h"

/* The importer's name scope (graph names, or an inlined function's renaming). */
struct kiln_import_scope;

/* Resolves a name a node uses into the graph tensor name it stands for. */
typedef void (*kiln_import_resolve_fn)(const struct kiln_import_scope *scope, const char *name,
                                       char *buf, size_t size);

/* Whether n is ai.onnx.preview.training::Gradient. */
int kiln_import_is_gradient(const kiln_onnx_node *n);

/*
 * Appends to g the nodes computing the Gradient node n's outputs from the nodes g already
 * holds. Differentiable ops: Add, Sub, Mul, Div, Sum (with broadcasting: each gradient is
 * summed back to its input's shape), Neg, Identity, Relu, Sigmoid, Tanh, Exp, Log, Sqrt,
 * MatMul (operands of rank >= 2), Reshape, Flatten, Squeeze, Unsqueeze, Transpose. An x
 * that y does not depend on gets zeros. Another op on the path is an error (message set,
 * nothing added to g) naming the node and op it cannot differentiate.
 */
kiln_status kiln_import_gradient(kiln_graph *g, const kiln_onnx_node *n,
                                 kiln_import_resolve_fn resolve,
                                 const struct kiln_import_scope *scope);

#endif
