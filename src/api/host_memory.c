/* Blobs handed to the caller (serialized plans). */
#include <stdlib.h>

#include "api/host_memory_internal.h"

kiln_status kiln_host_memory_wrap(void *data, size_t size, kiln_host_memory **out) {
    kiln_host_memory *m = malloc(sizeof *m);
    if (!m) {
        free(data);
        return kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
    }
    m->data = data;
    m->size = size;
    *out = m;
    return KILN_OK;
}

const void *kiln_host_memory_data(const kiln_host_memory *memory) {
    return memory ? memory->data : NULL;
}

size_t kiln_host_memory_size(const kiln_host_memory *memory) {
    return memory ? memory->size : 0;
}

void kiln_host_memory_destroy(kiln_host_memory *memory) {
    if (!memory) return;
    free(memory->data);
    free(memory);
}
