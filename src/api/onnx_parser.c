/* The ONNX parser of the public API: reads a model and fills a network. */
#include <stdlib.h>
#include <string.h>

#include "api/network_internal.h"
#include "core/logger.h"
#include "onnx/importer.h"

struct kiln_onnx_parser {
    kiln_network *network;
    kiln_logger *logger;
    kiln_onnx_model *model; /* kept: the network borrows its weights until the build */
    kiln_import_errors errors;
    char *load_error;       /* a parse failure before any node, as error 0 */
    kiln_onnx_parser *next_on_network; /* the network's list of parsers */
};

kiln_status kiln_onnx_parser_create(kiln_network *network, kiln_logger *logger,
                                    kiln_onnx_parser **out) {
    KILN_CHECK_ARG(network && out, "kiln_onnx_parser_create");
    kiln_onnx_parser *p = calloc(1, sizeof *p);
    if (!p) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "kiln_onnx_parser_create: out of memory");
    p->network = network;
    p->logger = logger;
    p->next_on_network = network->parsers;
    network->parsers = p;
    *out = p;
    return KILN_OK;
}

static void kiln_parser_reset(kiln_onnx_parser *p) {
    kiln_import_errors_clear(&p->errors);
    free(p->load_error);
    p->load_error = NULL;
}

/* The network borrowed its weights from the mapped model and holds a reference to it
 * (kiln_graph_adopt_keepalive), so the model outlives the parser where needed. Weights it
 * borrowed without one (the model's keepalive could not be allocated) are copied before the
 * model goes, so the network can still be built after the parser is destroyed. */
static void kiln_parser_detach_weights(kiln_onnx_parser *p) {
    if (!p->model || !p->network) return;
    kiln_graph *g = p->network->graph;
    for (int32_t t = 0; t < g->tensor_count; t++) {
        kiln_ir_tensor *it = &g->tensors[t];
        if (!it->borrowed || !it->data || it->backing) continue;
        if (kiln_graph_set_constant(g, t, it->data, it->nbytes) != KILN_OK)
            kiln_logger_log(p->logger, KILN_SEVERITY_ERROR,
                            "out of memory copying weights out of the ONNX model");
    }
}

kiln_onnx_parser *kiln_onnx_parser_forget_network(kiln_onnx_parser *parser) {
    kiln_onnx_parser *next = parser->next_on_network;
    parser->network = NULL;
    parser->next_on_network = NULL;
    return next;
}

void kiln_onnx_parser_destroy(kiln_onnx_parser *parser) {
    if (!parser) return;
    kiln_parser_detach_weights(parser);
    if (parser->network) { /* off the network's list */
        kiln_onnx_parser **link = &parser->network->parsers;
        while (*link && *link != parser) link = &(*link)->next_on_network;
        if (*link) *link = parser->next_on_network;
    }
    kiln_parser_reset(parser);
    kiln_onnx_model_destroy(parser->model);
    free(parser);
}

static kiln_status kiln_parser_import(kiln_onnx_parser *p, kiln_onnx_model *m) {
    if (!p->network) {
        kiln_onnx_model_destroy(m);
        return kiln_error(KILN_ERR_INVALID_ARGUMENT,
                          "ONNX parser: its network was destroyed; create the parser on a new "
                          "network");
    }
    if (p->model) kiln_onnx_model_destroy(p->model);
    p->model = m;
    kiln_status st = kiln_onnx_import(m, p->network->graph, &p->errors);
    for (int32_t i = 0; i < p->errors.count; i++)
        kiln_logger_log(p->logger, KILN_SEVERITY_ERROR, p->errors.items[i].message);
    return st;
}

static kiln_status kiln_parser_load_failed(kiln_onnx_parser *p, kiln_status st) {
    size_t n = strlen(kiln_last_error());
    p->load_error = malloc(n + 1);
    if (p->load_error) memcpy(p->load_error, kiln_last_error(), n + 1);
    kiln_logger_log(p->logger, KILN_SEVERITY_ERROR, kiln_last_error());
    return st;
}

kiln_status kiln_onnx_parser_parse(kiln_onnx_parser *parser, const void *data, size_t size,
                                   const char *model_dir) {
    KILN_CHECK_ARG(parser && (data || !size), "kiln_onnx_parser_parse");
    kiln_parser_reset(parser);
    /* The bytes are the caller's: keep a copy the network can borrow weights from. */
    void *copy = malloc(size ? size : 1);
    if (!copy) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
    if (size) memcpy(copy, data, size);
    kiln_onnx_model *m;
    kiln_status st = kiln_onnx_model_load_memory(copy, size, model_dir, &m);
    if (st != KILN_OK) {
        free(copy);
        return kiln_parser_load_failed(parser, st);
    }
    m->owned_copy = copy;
    return kiln_parser_import(parser, m);
}

kiln_status kiln_onnx_parser_parse_from_file(kiln_onnx_parser *parser, const char *path) {
    KILN_CHECK_ARG(parser && path, "kiln_onnx_parser_parse_from_file");
    kiln_parser_reset(parser);
    kiln_onnx_model *m;
    kiln_status st = kiln_onnx_model_load_file(path, &m);
    if (st != KILN_OK) return kiln_parser_load_failed(parser, st);
    return kiln_parser_import(parser, m);
}

int32_t kiln_onnx_parser_num_errors(const kiln_onnx_parser *parser) {
    if (!parser) return 0;
    return parser->errors.count + (parser->load_error != NULL);
}

static const kiln_import_error *kiln_parser_error_at(const kiln_onnx_parser *p, int32_t index) {
    int32_t base = p->load_error != NULL;
    if (index < base || index - base >= p->errors.count) return NULL;
    return &p->errors.items[index - base];
}

const char *kiln_onnx_parser_get_error(const kiln_onnx_parser *parser, int32_t index) {
    if (!parser) return NULL;
    if (parser->load_error && index == 0) return parser->load_error;
    const kiln_import_error *e = kiln_parser_error_at(parser, index);
    return e ? e->message : NULL;
}

const char *kiln_onnx_parser_get_error_node(const kiln_onnx_parser *parser, int32_t index) {
    if (!parser) return NULL;
    if (parser->load_error && index == 0) return "";
    const kiln_import_error *e = kiln_parser_error_at(parser, index);
    return e ? e->node : NULL;
}

const char *kiln_onnx_parser_get_error_op(const kiln_onnx_parser *parser, int32_t index) {
    if (!parser) return NULL;
    if (parser->load_error && index == 0) return "";
    const kiln_import_error *e = kiln_parser_error_at(parser, index);
    return e ? e->op : NULL;
}
