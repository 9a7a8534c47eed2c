/* The builder: networks, configs, profiles, and engines from them. */
#include <stdlib.h>

#include "api/builder_internal.h"
#include "api/host_memory_internal.h"
#include "api/network_internal.h"
#include "runtime/build.h"
#include "runtime/weight_arena.h"

kiln_status kiln_builder_create(kiln_logger *logger, kiln_builder **out) {
    KILN_CHECK_ARG(out != NULL, "kiln_builder_create");
    kiln_builder *b = calloc(1, sizeof *b);
    if (!b) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "kiln_builder_create: out of memory");
    b->logger = logger;
    *out = b;
    return KILN_OK;
}

void kiln_builder_destroy(kiln_builder *builder) {
    free(builder);
}

kiln_status kiln_builder_create_network(kiln_builder *builder, uint32_t flags, kiln_network **out) {
    KILN_CHECK_ARG(builder && out, "kiln_builder_create_network");
    return kiln_network_create_internal(builder->logger, flags, out);
}

kiln_status kiln_builder_create_config(kiln_builder *builder, kiln_builder_config **out) {
    KILN_CHECK_ARG(builder && out, "kiln_builder_create_config");
    kiln_builder_config *c = calloc(1, sizeof *c);
    if (!c) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "kiln_builder_create_config: out of memory");
    c->device = KILN_DEVICE_CPU;
    c->workspace = (size_t)1 << 30;
    *out = c;
    return KILN_OK;
}

kiln_status kiln_builder_create_optimization_profile(kiln_builder *builder,
                                                     kiln_optimization_profile **out) {
    KILN_CHECK_ARG(builder && out, "kiln_builder_create_optimization_profile");
    kiln_optimization_profile *p = calloc(1, sizeof *p);
    if (!p) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
    *out = p;
    return KILN_OK;
}

kiln_status kiln_builder_build_engine(kiln_builder *builder, kiln_network *network,
                                      kiln_builder_config *config, kiln_engine **out) {
    KILN_CHECK_ARG(builder && network && config && out, "kiln_builder_build_engine");
    KILN_TRY(kiln_build_engine_internal(builder->logger, network->graph, config, out));
    /* an engine to run: its weights into huge pages (a plan being serialized is not) */
    kiln_status st = kiln_engine_pack_weights(*out);
    if (st != KILN_OK) {
        kiln_engine_destroy(*out);
        *out = NULL;
    }
    return st;
}

kiln_status kiln_builder_build_serialized_network(kiln_builder *builder, kiln_network *network,
                                                  kiln_builder_config *config,
                                                  kiln_host_memory **out_plan) {
    KILN_CHECK_ARG(builder && network && config && out_plan,
                   "kiln_builder_build_serialized_network");
    kiln_engine *e;
    KILN_TRY(kiln_build_engine_internal(builder->logger, network->graph, config, &e));
    kiln_status st = kiln_engine_serialize(e, out_plan);
    kiln_engine_destroy(e);
    return st;
}
