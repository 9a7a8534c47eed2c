/* Declared in kiln.h; filled in by the engine work (issue 3). Until then each call
 * fails with KILN_ERR_NOT_IMPLEMENTED naming itself, never silently. */
#include "core/error.h"

void kiln_context_destroy(kiln_context *context) {
    (void)context;
}

kiln_status kiln_context_set_input_shape(kiln_context *context, const char *name, kiln_dims dims) {
    (void)context;
    (void)name;
    (void)dims;
    return kiln_not_implemented("kiln_context_set_input_shape");
}

kiln_status kiln_context_get_tensor_shape(const kiln_context *context, const char *name,
                                          kiln_dims *out) {
    (void)context;
    (void)name;
    (void)out;
    return kiln_not_implemented("kiln_context_get_tensor_shape");
}

kiln_status kiln_context_set_tensor_address(kiln_context *context, const char *name,
                                            void *address) {
    (void)context;
    (void)name;
    (void)address;
    return kiln_not_implemented("kiln_context_set_tensor_address");
}

kiln_status kiln_context_enqueue(kiln_context *context, void *stream) {
    (void)context;
    (void)stream;
    return kiln_not_implemented("kiln_context_enqueue");
}

kiln_status kiln_context_execute(kiln_context *context) {
    (void)context;
    return kiln_not_implemented("kiln_context_execute");
}
