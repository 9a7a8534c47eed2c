/* Read-only file mappings (mmap), so model weights are used in place, never copied. */
#ifndef KILN_CORE_FILE_MAP_H
#define KILN_CORE_FILE_MAP_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

typedef struct kiln_file_map {
    const uint8_t *data; /* NULL for an empty file */
    size_t size;
    int mapped; /* 1 when `data` must be unmapped */
} kiln_file_map;

/* Maps `path` read-only. A missing or unreadable file is KILN_ERR_IO naming the path. */
kiln_status kiln_file_map_open(const char *path, kiln_file_map *out);
void kiln_file_map_close(kiln_file_map *map);

#endif
