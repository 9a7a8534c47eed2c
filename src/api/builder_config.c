/* Declared in kiln.h; filled in by the engine work (issue 3). Until then each call
 * fails with KILN_ERR_NOT_IMPLEMENTED naming itself, never silently. */
#include "core/error.h"

void kiln_builder_config_destroy(kiln_builder_config *config) {
    (void)config;
}

kiln_status kiln_builder_config_set_flag(kiln_builder_config *config, kiln_builder_flag flag,
                                         int enabled) {
    (void)config;
    (void)flag;
    (void)enabled;
    return kiln_not_implemented("kiln_builder_config_set_flag");
}

int kiln_builder_config_get_flag(const kiln_builder_config *config, kiln_builder_flag flag) {
    (void)config;
    (void)flag;
    kiln_not_implemented("kiln_builder_config_get_flag");
    return 0;
}

kiln_status kiln_builder_config_set_memory_pool_limit(kiln_builder_config *config,
                                                      kiln_memory_pool pool, size_t bytes) {
    (void)config;
    (void)pool;
    (void)bytes;
    return kiln_not_implemented("kiln_builder_config_set_memory_pool_limit");
}

kiln_status kiln_builder_config_set_max_batch_size(kiln_builder_config *config, int32_t max_batch) {
    (void)config;
    (void)max_batch;
    return kiln_not_implemented("kiln_builder_config_set_max_batch_size");
}

kiln_status kiln_builder_config_set_device(kiln_builder_config *config, kiln_device_type device,
                                           int32_t index) {
    (void)config;
    (void)device;
    (void)index;
    return kiln_not_implemented("kiln_builder_config_set_device");
}

kiln_status kiln_builder_config_set_num_threads(kiln_builder_config *config, int32_t threads) {
    (void)config;
    (void)threads;
    return kiln_not_implemented("kiln_builder_config_set_num_threads");
}

kiln_status kiln_builder_config_add_optimization_profile(kiln_builder_config *config,
                                                         const kiln_optimization_profile *profile) {
    (void)config;
    (void)profile;
    return kiln_not_implemented("kiln_builder_config_add_optimization_profile");
}

void kiln_optimization_profile_destroy(kiln_optimization_profile *profile) {
    (void)profile;
}

kiln_status kiln_optimization_profile_set_dimensions(kiln_optimization_profile *profile,
                                                     const char *input_name,
                                                     kiln_profile_selector which, kiln_dims dims) {
    (void)profile;
    (void)input_name;
    (void)which;
    (void)dims;
    return kiln_not_implemented("kiln_optimization_profile_set_dimensions");
}

kiln_status kiln_optimization_profile_get_dimensions(const kiln_optimization_profile *profile,
                                                     const char *input_name,
                                                     kiln_profile_selector which, kiln_dims *out) {
    (void)profile;
    (void)input_name;
    (void)which;
    (void)out;
    return kiln_not_implemented("kiln_optimization_profile_get_dimensions");
}
