#ifndef KILN_API_HOST_MEMORY_INTERNAL_H
#define KILN_API_HOST_MEMORY_INTERNAL_H

#include "core/error.h"

struct kiln_host_memory {
    void *data; /* malloc'ed */
    size_t size;
};

/* Takes ownership of `data` (freed on failure too). */
kiln_status kiln_host_memory_wrap(void *data, size_t size, kiln_host_memory **out);

#endif
