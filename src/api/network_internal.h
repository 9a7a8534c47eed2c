/* The public network object: a graph plus stable handles for the layer API. */
#ifndef KILN_API_NETWORK_INTERNAL_H
#define KILN_API_NETWORK_INTERNAL_H

#include "ir/ir.h"

struct kiln_tensor {
    kiln_network *network;
    int32_t index;
};

struct kiln_layer {
    kiln_network *network;
    int32_t index;
};

struct kiln_network {
    kiln_graph *graph;
    kiln_logger *logger;
    uint32_t flags;
    /* Handles are allocated on demand, one per tensor/node, so pointers stay valid while
     * the graph's arrays grow. */
    int32_t tensor_handle_count, layer_handle_count;
    kiln_tensor **tensor_handles;
    kiln_layer **layer_handles;
    int32_t default_opset; /* opset for layer-API nodes */
    /* ONNX parsers created on this network (linked through the parsers): they lend it
     * weights, and must not reach a network destroyed before them. */
    kiln_onnx_parser *parsers;
};

/* Called by kiln_network_destroy for each parser of the network: forgets the network and
 * returns the next parser of the list. */
kiln_onnx_parser *kiln_onnx_parser_forget_network(kiln_onnx_parser *parser);

kiln_tensor *kiln_network_tensor_handle(kiln_network *net, int32_t index);
kiln_layer *kiln_network_layer_handle(kiln_network *net, int32_t index);
kiln_status kiln_network_create_internal(kiln_logger *logger, uint32_t flags, kiln_network **out);

#endif
