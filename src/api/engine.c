/* Declared in kiln.h; filled in by the engine work (issue 3). Until then each call
 * fails with KILN_ERR_NOT_IMPLEMENTED naming itself, never silently. */
#include "core/error.h"

void kiln_engine_destroy(kiln_engine *engine) {
    (void)engine;
}

kiln_status kiln_engine_serialize(const kiln_engine *engine, kiln_host_memory **out) {
    (void)engine;
    (void)out;
    return kiln_not_implemented("kiln_engine_serialize");
}

kiln_status kiln_engine_serialize_to_file(const kiln_engine *engine, const char *path) {
    (void)engine;
    (void)path;
    return kiln_not_implemented("kiln_engine_serialize_to_file");
}

int32_t kiln_engine_num_io_tensors(const kiln_engine *engine) {
    (void)engine;
    kiln_not_implemented("kiln_engine_num_io_tensors");
    return -1;
}

const char *kiln_engine_get_tensor_name(const kiln_engine *engine, int32_t index) {
    (void)engine;
    (void)index;
    kiln_not_implemented("kiln_engine_get_tensor_name");
    return NULL;
}

kiln_tensor_io_mode kiln_engine_get_tensor_mode(const kiln_engine *engine, const char *name) {
    (void)engine;
    (void)name;
    kiln_not_implemented("kiln_engine_get_tensor_mode");
    return (kiln_tensor_io_mode)0;
}

kiln_dtype kiln_engine_get_tensor_dtype(const kiln_engine *engine, const char *name) {
    (void)engine;
    (void)name;
    kiln_not_implemented("kiln_engine_get_tensor_dtype");
    return (kiln_dtype)0;
}

kiln_status kiln_engine_get_tensor_shape(const kiln_engine *engine, const char *name,
                                         kiln_dims *out) {
    (void)engine;
    (void)name;
    (void)out;
    return kiln_not_implemented("kiln_engine_get_tensor_shape");
}

kiln_status kiln_engine_get_profile_shape(const kiln_engine *engine, const char *input_name,
                                          int32_t profile, kiln_profile_selector which,
                                          kiln_dims *out) {
    (void)engine;
    (void)input_name;
    (void)profile;
    (void)which;
    (void)out;
    return kiln_not_implemented("kiln_engine_get_profile_shape");
}

int32_t kiln_engine_num_layers(const kiln_engine *engine) {
    (void)engine;
    kiln_not_implemented("kiln_engine_num_layers");
    return -1;
}

kiln_device_type kiln_engine_get_device(const kiln_engine *engine) {
    (void)engine;
    kiln_not_implemented("kiln_engine_get_device");
    return (kiln_device_type)0;
}

kiln_status kiln_engine_create_execution_context(kiln_engine *engine, kiln_context **out) {
    (void)engine;
    (void)out;
    return kiln_not_implemented("kiln_engine_create_execution_context");
}
