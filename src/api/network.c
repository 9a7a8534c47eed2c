/* Declared in kiln.h; filled in by the engine work (issue 3). Until then each call
 * fails with KILN_ERR_NOT_IMPLEMENTED naming itself, never silently. */
#include "core/error.h"

void kiln_network_destroy(kiln_network *network) {
    (void)network;
}

int32_t kiln_network_num_inputs(const kiln_network *network) {
    (void)network;
    kiln_not_implemented("kiln_network_num_inputs");
    return -1;
}

int32_t kiln_network_num_outputs(const kiln_network *network) {
    (void)network;
    kiln_not_implemented("kiln_network_num_outputs");
    return -1;
}

int32_t kiln_network_num_layers(const kiln_network *network) {
    (void)network;
    kiln_not_implemented("kiln_network_num_layers");
    return -1;
}

kiln_tensor *kiln_network_get_input(const kiln_network *network, int32_t index) {
    (void)network;
    (void)index;
    kiln_not_implemented("kiln_network_get_input");
    return NULL;
}

kiln_tensor *kiln_network_get_output(const kiln_network *network, int32_t index) {
    (void)network;
    (void)index;
    kiln_not_implemented("kiln_network_get_output");
    return NULL;
}

kiln_layer *kiln_network_get_layer(const kiln_network *network, int32_t index) {
    (void)network;
    (void)index;
    kiln_not_implemented("kiln_network_get_layer");
    return NULL;
}

const char *kiln_tensor_get_name(const kiln_tensor *tensor) {
    (void)tensor;
    kiln_not_implemented("kiln_tensor_get_name");
    return NULL;
}

kiln_status kiln_tensor_set_name(kiln_tensor *tensor, const char *name) {
    (void)tensor;
    (void)name;
    return kiln_not_implemented("kiln_tensor_set_name");
}

kiln_dtype kiln_tensor_get_dtype(const kiln_tensor *tensor) {
    (void)tensor;
    kiln_not_implemented("kiln_tensor_get_dtype");
    return (kiln_dtype)0;
}

kiln_dims kiln_tensor_get_dims(const kiln_tensor *tensor) {
    (void)tensor;
    kiln_not_implemented("kiln_tensor_get_dims");
    kiln_dims none = {0};
    return none;
}

const char *kiln_layer_get_name(const kiln_layer *layer) {
    (void)layer;
    kiln_not_implemented("kiln_layer_get_name");
    return NULL;
}

kiln_status kiln_layer_set_name(kiln_layer *layer, const char *name) {
    (void)layer;
    (void)name;
    return kiln_not_implemented("kiln_layer_set_name");
}

kiln_tensor *kiln_layer_get_output(const kiln_layer *layer, int32_t index) {
    (void)layer;
    (void)index;
    kiln_not_implemented("kiln_layer_get_output");
    return NULL;
}

kiln_status kiln_layer_set_precision(kiln_layer *layer, kiln_dtype precision) {
    (void)layer;
    (void)precision;
    return kiln_not_implemented("kiln_layer_set_precision");
}

kiln_status kiln_network_add_input(kiln_network *network, const char *name, kiln_dtype dtype,
                                   kiln_dims dims, kiln_tensor **out) {
    (void)network;
    (void)name;
    (void)dtype;
    (void)dims;
    (void)out;
    return kiln_not_implemented("kiln_network_add_input");
}

kiln_status kiln_network_mark_output(kiln_network *network, kiln_tensor *tensor) {
    (void)network;
    (void)tensor;
    return kiln_not_implemented("kiln_network_mark_output");
}

kiln_status kiln_network_add_convolution(kiln_network *network, kiln_tensor *input,
                                         int64_t out_channels, kiln_window window, int64_t groups,
                                         kiln_weights kernel, kiln_weights bias, kiln_layer **out) {
    (void)network;
    (void)input;
    (void)out_channels;
    (void)window;
    (void)groups;
    (void)kernel;
    (void)bias;
    (void)out;
    return kiln_not_implemented("kiln_network_add_convolution");
}

kiln_status kiln_network_add_deconvolution(kiln_network *network, kiln_tensor *input,
                                           int64_t out_channels, kiln_window window, int64_t groups,
                                           kiln_weights kernel, kiln_weights bias,
                                           kiln_layer **out) {
    (void)network;
    (void)input;
    (void)out_channels;
    (void)window;
    (void)groups;
    (void)kernel;
    (void)bias;
    (void)out;
    return kiln_not_implemented("kiln_network_add_deconvolution");
}

kiln_status kiln_network_add_matrix_multiply(kiln_network *network, kiln_tensor *a, int transpose_a,
                                             kiln_tensor *b, int transpose_b, kiln_layer **out) {
    (void)network;
    (void)a;
    (void)transpose_a;
    (void)b;
    (void)transpose_b;
    (void)out;
    return kiln_not_implemented("kiln_network_add_matrix_multiply");
}

kiln_status kiln_network_add_fully_connected(kiln_network *network, kiln_tensor *input,
                                             int64_t out_features, kiln_weights kernel,
                                             kiln_weights bias, kiln_layer **out) {
    (void)network;
    (void)input;
    (void)out_features;
    (void)kernel;
    (void)bias;
    (void)out;
    return kiln_not_implemented("kiln_network_add_fully_connected");
}

kiln_status kiln_network_add_activation(kiln_network *network, kiln_tensor *input,
                                        kiln_activation_type type, float alpha, float beta,
                                        kiln_layer **out) {
    (void)network;
    (void)input;
    (void)type;
    (void)alpha;
    (void)beta;
    (void)out;
    return kiln_not_implemented("kiln_network_add_activation");
}

kiln_status kiln_network_add_pooling(kiln_network *network, kiln_tensor *input,
                                     kiln_pooling_type type, kiln_window window, kiln_layer **out) {
    (void)network;
    (void)input;
    (void)type;
    (void)window;
    (void)out;
    return kiln_not_implemented("kiln_network_add_pooling");
}

kiln_status kiln_network_add_elementwise(kiln_network *network, kiln_tensor *a, kiln_tensor *b,
                                         kiln_elementwise_op op, kiln_layer **out) {
    (void)network;
    (void)a;
    (void)b;
    (void)op;
    (void)out;
    return kiln_not_implemented("kiln_network_add_elementwise");
}

kiln_status kiln_network_add_unary(kiln_network *network, kiln_tensor *input, kiln_unary_op op,
                                   kiln_layer **out) {
    (void)network;
    (void)input;
    (void)op;
    (void)out;
    return kiln_not_implemented("kiln_network_add_unary");
}

kiln_status kiln_network_add_softmax(kiln_network *network, kiln_tensor *input, int32_t axis,
                                     kiln_layer **out) {
    (void)network;
    (void)input;
    (void)axis;
    (void)out;
    return kiln_not_implemented("kiln_network_add_softmax");
}

kiln_status kiln_network_add_concatenation(kiln_network *network, kiln_tensor *const *inputs,
                                           int32_t nb_inputs, int32_t axis, kiln_layer **out) {
    (void)network;
    (void)inputs;
    (void)nb_inputs;
    (void)axis;
    (void)out;
    return kiln_not_implemented("kiln_network_add_concatenation");
}

kiln_status kiln_network_add_shuffle(kiln_network *network, kiln_tensor *input, const int32_t *perm,
                                     const kiln_dims *reshape, const int32_t *second_perm,
                                     kiln_layer **out) {
    (void)network;
    (void)input;
    (void)perm;
    (void)reshape;
    (void)second_perm;
    (void)out;
    return kiln_not_implemented("kiln_network_add_shuffle");
}

kiln_status kiln_network_add_slice(kiln_network *network, kiln_tensor *input, kiln_dims start,
                                   kiln_dims size, kiln_dims stride, kiln_layer **out) {
    (void)network;
    (void)input;
    (void)start;
    (void)size;
    (void)stride;
    (void)out;
    return kiln_not_implemented("kiln_network_add_slice");
}

kiln_status kiln_network_add_gather(kiln_network *network, kiln_tensor *data, kiln_tensor *indices,
                                    int32_t axis, kiln_layer **out) {
    (void)network;
    (void)data;
    (void)indices;
    (void)axis;
    (void)out;
    return kiln_not_implemented("kiln_network_add_gather");
}

kiln_status kiln_network_add_reduce(kiln_network *network, kiln_tensor *input, kiln_reduce_op op,
                                    uint32_t axes_mask, int keep_dims, kiln_layer **out) {
    (void)network;
    (void)input;
    (void)op;
    (void)axes_mask;
    (void)keep_dims;
    (void)out;
    return kiln_not_implemented("kiln_network_add_reduce");
}

kiln_status kiln_network_add_constant(kiln_network *network, kiln_dims dims, kiln_weights weights,
                                      kiln_layer **out) {
    (void)network;
    (void)dims;
    (void)weights;
    (void)out;
    return kiln_not_implemented("kiln_network_add_constant");
}

kiln_status kiln_network_add_normalization(kiln_network *network, kiln_tensor *input,
                                           kiln_tensor *scale, kiln_tensor *bias,
                                           uint32_t axes_mask, float epsilon, kiln_layer **out) {
    (void)network;
    (void)input;
    (void)scale;
    (void)bias;
    (void)axes_mask;
    (void)epsilon;
    (void)out;
    return kiln_not_implemented("kiln_network_add_normalization");
}

kiln_status kiln_network_add_resize(kiln_network *network, kiln_tensor *input,
                                    kiln_resize_mode mode, kiln_dims output_dims,
                                    kiln_layer **out) {
    (void)network;
    (void)input;
    (void)mode;
    (void)output_dims;
    (void)out;
    return kiln_not_implemented("kiln_network_add_resize");
}

kiln_status kiln_network_add_identity(kiln_network *network, kiln_tensor *input, kiln_layer **out) {
    (void)network;
    (void)input;
    (void)out;
    return kiln_not_implemented("kiln_network_add_identity");
}

kiln_status kiln_network_add_cast(kiln_network *network, kiln_tensor *input, kiln_dtype to,
                                  kiln_layer **out) {
    (void)network;
    (void)input;
    (void)to;
    (void)out;
    return kiln_not_implemented("kiln_network_add_cast");
}
