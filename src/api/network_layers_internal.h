/*
 * Shared plumbing of the layer API (network_layers*.c): each kiln_network_add_* call
 * validates its arguments, then adds one or more IR nodes (ONNX ops at the network's
 * default opset) and the constants they read, and returns the last node as the layer.
 *
 * A call either succeeds whole or leaves the network as it found it: kiln_lc_finish rolls
 * back every tensor and node added since kiln_lc_begin when anything failed.
 */
#ifndef KILN_API_NETWORK_LAYERS_INTERNAL_H
#define KILN_API_NETWORK_LAYERS_INTERNAL_H

#include "api/network_internal.h"

typedef struct kiln_layer_ctx {
    kiln_network *net;
    kiln_graph *g;
    const char *call; /* "kiln_network_add_convolution": every message starts with it */
    char name[128];   /* the layer's default name, "conv_3"; helper nodes get "conv_3/..." */
    int32_t tensor_mark, node_mark; /* graph sizes on entry, for the rollback */
} kiln_layer_ctx;

/* Checks network and out, and names the layer `<prefix>_<node count>` (made unique). */
kiln_status kiln_lc_begin(kiln_layer_ctx *c, kiln_network *net, kiln_layer **out, const char *call,
                          const char *prefix);
/* Ends a call: on st != KILN_OK rolls the network back and returns st; otherwise infers
 * the shapes of the new nodes and hands out the last node added as the layer. */
kiln_status kiln_lc_finish(kiln_layer_ctx *c, kiln_status st, kiln_layer **out);

/* KILN_ERR_INVALID_ARGUMENT with "<call>: <message>". */
kiln_status kiln_lc_arg_error(const kiln_layer_ctx *c, const char *fmt, ...) KILN_PRINTF(2, 3);

/* A tensor argument: not NULL, of this network. `what` names it in messages ("input"). */
kiln_status kiln_lc_tensor(const kiln_layer_ctx *c, const kiln_tensor *t, const char *what,
                           int32_t *index);
/* The graph tensor behind an index (valid until the graph grows). */
static inline const kiln_ir_tensor *kiln_lc_t(const kiln_layer_ctx *c, int32_t index) {
    return &c->g->tensors[index];
}
/* A tensor's rank, which the call needs to know ("the input's rank must be known"). */
kiln_status kiln_lc_need_rank(const kiln_layer_ctx *c, int32_t index, const char *what,
                              int32_t *rank);
/* An axis in [-rank, rank), returned normalized to [0, rank). */
kiln_status kiln_lc_axis(const kiln_layer_ctx *c, int64_t axis, int32_t rank, const char *what,
                         int32_t *out);
/* Weights for a constant of shape `dims`: a real dtype, values present, as many as the
 * shape has elements. `what` names them in messages ("kernel"). */
kiln_status kiln_lc_weights(const kiln_layer_ctx *c, kiln_weights w, const char *what, int32_t rank,
                            const int64_t *dims);
/* Weights of the input's dtype (when that is known). */
kiln_status kiln_lc_weights_dtype(const kiln_layer_ctx *c, kiln_weights w, const char *what,
                                  int32_t input);

/* Constant tensors named "<layer>/<suffix>" holding a copy of `data`. */
kiln_status kiln_lc_constant(kiln_layer_ctx *c, const char *suffix, kiln_dtype dtype, int32_t rank,
                             const int64_t *dims, const void *data, int32_t *out);
kiln_status kiln_lc_constant_ints(kiln_layer_ctx *c, const char *suffix, const int64_t *v,
                                  int32_t n, int32_t *out);
/* A scalar of a floating dtype (float32 when the dtype is unknown). */
kiln_status kiln_lc_scalar(kiln_layer_ctx *c, const char *suffix, kiln_dtype dtype, double v,
                           int32_t *out);

/* Adds a node with one output. suffix NULL: the layer's own node, named c->name; others
 * are helpers named "<layer>/<suffix>". Returns the node and its output tensor. */
kiln_status kiln_lc_node(kiln_layer_ctx *c, kiln_op op, const char *suffix, const int32_t *ins,
                         int32_t n_in, int32_t *node, int32_t *output);
/* The same for an op found by name at run time (one another part of kiln may not have
 * registered yet): KILN_ERR_UNSUPPORTED naming it when the registry lacks it. */
kiln_status kiln_lc_find_op(const kiln_layer_ctx *c, const char *name, kiln_op *op);

#endif
