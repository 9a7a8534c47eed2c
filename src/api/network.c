/* The network object of the public API: a kiln_graph with handles for the layer API. */
#include <stdlib.h>
#include <string.h>

#include "api/network_internal.h"
#include "core/logger.h"

/* Opset of the ONNX operator semantics that layer-API nodes follow. */
#define KILN_LAYER_API_OPSET 21

kiln_status kiln_network_create_internal(kiln_logger *logger, uint32_t flags, kiln_network **out) {
    kiln_network *net = calloc(1, sizeof *net);
    if (!net) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "kiln_builder_create_network: out of memory");
    kiln_status st = kiln_graph_create("network", &net->graph);
    if (st != KILN_OK) {
        free(net);
        return st;
    }
    net->logger = logger;
    net->flags = flags;
    net->default_opset = KILN_LAYER_API_OPSET;
    *out = net;
    return KILN_OK;
}

void kiln_network_destroy(kiln_network *network) {
    if (!network) return;
    for (kiln_onnx_parser *p = network->parsers; p;) p = kiln_onnx_parser_forget_network(p);
    for (int32_t i = 0; i < network->tensor_handle_count; i++) free(network->tensor_handles[i]);
    for (int32_t i = 0; i < network->layer_handle_count; i++) free(network->layer_handles[i]);
    free(network->tensor_handles);
    free(network->layer_handles);
    kiln_graph_destroy(network->graph);
    free(network);
}

/* Finds or makes the handle of an index in a lazily grown handle table. */
static void *kiln_network_handle(kiln_network *net, int32_t index, int32_t *count, void ***table,
                                 size_t size) {
    if (index < 0) return NULL;
    if (index >= *count) {
        void **grown = realloc(*table, sizeof(void *) * (size_t)(index + 1));
        if (!grown) return NULL;
        memset(grown + *count, 0, sizeof(void *) * (size_t)(index + 1 - *count));
        *table = grown;
        *count = index + 1;
    }
    if (!(*table)[index]) {
        struct {
            kiln_network *network;
            int32_t index;
        } *h = calloc(1, size);
        if (!h) return NULL;
        h->network = net;
        h->index = index;
        (*table)[index] = h;
    }
    return (*table)[index];
}

kiln_tensor *kiln_network_tensor_handle(kiln_network *net, int32_t index) {
    if (index >= net->graph->tensor_count) return NULL;
    return kiln_network_handle(net, index, &net->tensor_handle_count,
                               (void ***)&net->tensor_handles, sizeof(kiln_tensor));
}

kiln_layer *kiln_network_layer_handle(kiln_network *net, int32_t index) {
    if (index >= net->graph->node_count) return NULL;
    return kiln_network_handle(net, index, &net->layer_handle_count,
                               (void ***)&net->layer_handles, sizeof(kiln_layer));
}

int32_t kiln_network_num_inputs(const kiln_network *network) {
    return network ? network->graph->input_count : 0;
}

int32_t kiln_network_num_outputs(const kiln_network *network) {
    return network ? network->graph->output_count : 0;
}

int32_t kiln_network_num_layers(const kiln_network *network) {
    return network ? network->graph->node_count : 0;
}

kiln_tensor *kiln_network_get_input(const kiln_network *network, int32_t index) {
    if (!network || index < 0 || index >= network->graph->input_count) return NULL;
    return kiln_network_tensor_handle((kiln_network *)network, network->graph->inputs[index]);
}

kiln_tensor *kiln_network_get_output(const kiln_network *network, int32_t index) {
    if (!network || index < 0 || index >= network->graph->output_count) return NULL;
    return kiln_network_tensor_handle((kiln_network *)network, network->graph->outputs[index]);
}

kiln_layer *kiln_network_get_layer(const kiln_network *network, int32_t index) {
    if (!network || index < 0 || index >= network->graph->node_count) return NULL;
    return kiln_network_layer_handle((kiln_network *)network, index);
}

const char *kiln_tensor_get_name(const kiln_tensor *tensor) {
    return tensor ? tensor->network->graph->tensors[tensor->index].name : NULL;
}

kiln_status kiln_tensor_set_name(kiln_tensor *tensor, const char *name) {
    KILN_CHECK_ARG(tensor && name && *name, "kiln_tensor_set_name");
    kiln_graph *g = tensor->network->graph;
    int32_t other = kiln_graph_find_tensor(g, name);
    if (other >= 0 && other != tensor->index)
        return kiln_error(KILN_ERR_INVALID_ARGUMENT,
                          "kiln_tensor_set_name: the network already has a tensor named '%s'", name);
    char *copy = malloc(strlen(name) + 1);
    if (!copy) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "kiln_tensor_set_name: out of memory");
    strcpy(copy, name);
    free(g->tensors[tensor->index].name);
    g->tensors[tensor->index].name = copy;
    return KILN_OK;
}

kiln_dtype kiln_tensor_get_dtype(const kiln_tensor *tensor) {
    return tensor ? tensor->network->graph->tensors[tensor->index].dtype : KILN_DTYPE_UNDEFINED;
}

kiln_dims kiln_tensor_get_dims(const kiln_tensor *tensor) {
    kiln_dims d = {0};
    if (!tensor) return d;
    const kiln_ir_tensor *t = &tensor->network->graph->tensors[tensor->index];
    d.nb_dims = t->rank;
    for (int32_t i = 0; i < t->rank && i < KILN_MAX_DIMS; i++) d.d[i] = t->dims[i];
    return d;
}

const char *kiln_layer_get_name(const kiln_layer *layer) {
    return layer ? layer->network->graph->nodes[layer->index].name : NULL;
}

kiln_status kiln_layer_set_name(kiln_layer *layer, const char *name) {
    KILN_CHECK_ARG(layer && name, "kiln_layer_set_name");
    char *copy = malloc(strlen(name) + 1);
    if (!copy) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "kiln_layer_set_name: out of memory");
    strcpy(copy, name);
    kiln_node *n = &layer->network->graph->nodes[layer->index];
    free(n->name);
    n->name = copy;
    return KILN_OK;
}

kiln_tensor *kiln_layer_get_output(const kiln_layer *layer, int32_t index) {
    if (!layer) return NULL;
    const kiln_node *n = &layer->network->graph->nodes[layer->index];
    if (index < 0 || index >= n->output_count) return NULL;
    return kiln_network_tensor_handle(layer->network, n->outputs[index]);
}

kiln_status kiln_layer_set_precision(kiln_layer *layer, kiln_dtype precision) {
    KILN_CHECK_ARG(layer != NULL, "kiln_layer_set_precision");
    if (precision != KILN_DTYPE_FLOAT32 && precision != KILN_DTYPE_FLOAT16 &&
        precision != KILN_DTYPE_BFLOAT16)
        return kiln_error(KILN_ERR_INVALID_ARGUMENT,
                          "kiln_layer_set_precision: precision must be float32, float16 or "
                          "bfloat16, not %s",
                          kiln_dtype_name(precision));
    kiln_graph *g = layer->network->graph;
    return kiln_node_set_int(g, layer->index, "_kiln_precision", precision);
}

kiln_status kiln_network_add_input(kiln_network *network, const char *name, kiln_dtype dtype,
                                   kiln_dims dims, kiln_tensor **out) {
    KILN_CHECK_ARG(network && name && *name && out, "kiln_network_add_input");
    if (dims.nb_dims < 0 || dims.nb_dims > KILN_MAX_DIMS)
        return kiln_error(KILN_ERR_INVALID_ARGUMENT,
                          "kiln_network_add_input: input '%s' has rank %d (0..%d allowed)", name,
                          dims.nb_dims, KILN_MAX_DIMS);
    if (kiln_dtype_bits(dtype) == 0)
        return kiln_error(KILN_ERR_INVALID_ARGUMENT, "kiln_network_add_input: input '%s' has dtype %s",
                          name, kiln_dtype_name(dtype));
    if (kiln_graph_find_tensor(network->graph, name) >= 0)
        return kiln_error(KILN_ERR_INVALID_ARGUMENT,
                          "kiln_network_add_input: the network already has a tensor named '%s'", name);
    int32_t index;
    KILN_TRY(kiln_graph_add_tensor(network->graph, name, dtype, dims.nb_dims, dims.d, &index));
    KILN_TRY(kiln_graph_add_input(network->graph, index));
    kiln_tensor *t = kiln_network_tensor_handle(network, index);
    if (!t) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "kiln_network_add_input: out of memory");
    *out = t;
    return KILN_OK;
}

kiln_status kiln_network_mark_output(kiln_network *network, kiln_tensor *tensor) {
    KILN_CHECK_ARG(network && tensor && tensor->network == network, "kiln_network_mark_output");
    for (int32_t i = 0; i < network->graph->output_count; i++)
        if (network->graph->outputs[i] == tensor->index) return KILN_OK;
    return kiln_graph_add_output(network->graph, tensor->index);
}
