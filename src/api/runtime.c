/* Declared in kiln.h; filled in by the engine work (issue 3). Until then each call
 * fails with KILN_ERR_NOT_IMPLEMENTED naming itself, never silently. */
#include "core/error.h"

kiln_status kiln_runtime_create(kiln_logger *logger, kiln_runtime **out) {
    (void)logger;
    (void)out;
    return kiln_not_implemented("kiln_runtime_create");
}

void kiln_runtime_destroy(kiln_runtime *runtime) {
    (void)runtime;
}

kiln_status kiln_runtime_deserialize_engine(kiln_runtime *runtime, const void *plan, size_t size,
                                            kiln_engine **out) {
    (void)runtime;
    (void)plan;
    (void)size;
    (void)out;
    return kiln_not_implemented("kiln_runtime_deserialize_engine");
}

kiln_status kiln_runtime_deserialize_engine_from_file(kiln_runtime *runtime, const char *path,
                                                      kiln_engine **out) {
    (void)runtime;
    (void)path;
    (void)out;
    return kiln_not_implemented("kiln_runtime_deserialize_engine_from_file");
}
