/* Declared in kiln.h; filled in by the engine work (issue 3). Until then each call
 * fails with KILN_ERR_NOT_IMPLEMENTED naming itself, never silently. */
#include "core/error.h"

kiln_status kiln_builder_create(kiln_logger *logger, kiln_builder **out) {
    (void)logger;
    (void)out;
    return kiln_not_implemented("kiln_builder_create");
}

void kiln_builder_destroy(kiln_builder *builder) {
    (void)builder;
}

kiln_status kiln_builder_create_network(kiln_builder *builder, uint32_t flags, kiln_network **out) {
    (void)builder;
    (void)flags;
    (void)out;
    return kiln_not_implemented("kiln_builder_create_network");
}

kiln_status kiln_builder_create_config(kiln_builder *builder, kiln_builder_config **out) {
    (void)builder;
    (void)out;
    return kiln_not_implemented("kiln_builder_create_config");
}

kiln_status kiln_builder_create_optimization_profile(kiln_builder *builder,
                                                     kiln_optimization_profile **out) {
    (void)builder;
    (void)out;
    return kiln_not_implemented("kiln_builder_create_optimization_profile");
}

kiln_status kiln_builder_build_serialized_network(kiln_builder *builder, kiln_network *network,
                                                  kiln_builder_config *config,
                                                  kiln_host_memory **out_plan) {
    (void)builder;
    (void)network;
    (void)config;
    (void)out_plan;
    return kiln_not_implemented("kiln_builder_build_serialized_network");
}

kiln_status kiln_builder_build_engine(kiln_builder *builder, kiln_network *network,
                                      kiln_builder_config *config, kiln_engine **out) {
    (void)builder;
    (void)network;
    (void)config;
    (void)out;
    return kiln_not_implemented("kiln_builder_build_engine");
}
