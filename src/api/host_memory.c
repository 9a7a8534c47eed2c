/* Declared in kiln.h; filled in by the engine work (issue 3). Until then each call
 * fails with KILN_ERR_NOT_IMPLEMENTED naming itself, never silently. */
#include "core/error.h"

const void *kiln_host_memory_data(const kiln_host_memory *memory) {
    (void)memory;
    kiln_not_implemented("kiln_host_memory_data");
    return NULL;
}

size_t kiln_host_memory_size(const kiln_host_memory *memory) {
    (void)memory;
    kiln_not_implemented("kiln_host_memory_size");
    return 0;
}

void kiln_host_memory_destroy(kiln_host_memory *memory) {
    (void)memory;
}
