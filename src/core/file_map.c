#define _POSIX_C_SOURCE 200809L
#include "core/file_map.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

kiln_status kiln_file_map_open(const char *path, kiln_file_map *out) {
    KILN_CHECK_ARG(path != NULL && out != NULL, "kiln_file_map_open");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return kiln_error(KILN_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return kiln_error(KILN_ERR_IO, "cannot stat '%s': %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return kiln_error(KILN_ERR_IO, "'%s' is not a regular file", path);
    }
    out->data = NULL;
    out->size = (size_t)st.st_size;
    out->mapped = 0;
    if (st.st_size > 0) {
        void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            int e = errno;
            close(fd);
            return kiln_error(KILN_ERR_IO, "cannot map '%s': %s", path, strerror(e));
        }
        out->data = p;
        out->mapped = 1;
    }
    close(fd);
    return KILN_OK;
}

void kiln_file_map_close(kiln_file_map *map) {
    if (map && map->mapped && map->data) munmap((void *)map->data, map->size);
    if (map) {
        map->data = NULL;
        map->size = 0;
        map->mapped = 0;
    }
}
