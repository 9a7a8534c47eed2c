/* Declared in kiln.h; filled in by the engine work (issue 3). Until then each call
 * fails with KILN_ERR_NOT_IMPLEMENTED naming itself, never silently. */
#include "core/error.h"

kiln_status kiln_onnx_parser_create(kiln_network *network, kiln_logger *logger,
                                    kiln_onnx_parser **out) {
    (void)network;
    (void)logger;
    (void)out;
    return kiln_not_implemented("kiln_onnx_parser_create");
}

void kiln_onnx_parser_destroy(kiln_onnx_parser *parser) {
    (void)parser;
}

kiln_status kiln_onnx_parser_parse(kiln_onnx_parser *parser, const void *data, size_t size,
                                   const char *model_dir) {
    (void)parser;
    (void)data;
    (void)size;
    (void)model_dir;
    return kiln_not_implemented("kiln_onnx_parser_parse");
}

kiln_status kiln_onnx_parser_parse_from_file(kiln_onnx_parser *parser, const char *path) {
    (void)parser;
    (void)path;
    return kiln_not_implemented("kiln_onnx_parser_parse_from_file");
}

int32_t kiln_onnx_parser_num_errors(const kiln_onnx_parser *parser) {
    (void)parser;
    kiln_not_implemented("kiln_onnx_parser_num_errors");
    return -1;
}

const char *kiln_onnx_parser_get_error(const kiln_onnx_parser *parser, int32_t index) {
    (void)parser;
    (void)index;
    kiln_not_implemented("kiln_onnx_parser_get_error");
    return NULL;
}

const char *kiln_onnx_parser_get_error_node(const kiln_onnx_parser *parser, int32_t index) {
    (void)parser;
    (void)index;
    kiln_not_implemented("kiln_onnx_parser_get_error_node");
    return NULL;
}

const char *kiln_onnx_parser_get_error_op(const kiln_onnx_parser *parser, int32_t index) {
    (void)parser;
    (void)index;
    kiln_not_implemented("kiln_onnx_parser_get_error_op");
    return NULL;
}
