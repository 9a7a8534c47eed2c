/* Engine serialization and the runtime that loads plans. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/host_memory_internal.h"
#include "core/logger.h"
#include "plan/plan_format.h"
#ifdef KILN_HAVE_CUDA
#include "backends/cuda/cuda_executor.h"
#endif

/* Device-side preparation of a loaded engine (CUDA: placement and weights upload). */
static kiln_status kiln_engine_load_device(kiln_engine *e) {
    if (e->device != KILN_DEVICE_CUDA) return KILN_OK;
#ifdef KILN_HAVE_CUDA
    return kiln_cuda_engine_prepare(e);
#else
    return kiln_error(KILN_ERR_UNSUPPORTED,
                      "the plan is a CUDA engine, and this kiln was built without the CUDA "
                      "backend");
#endif
}

struct kiln_runtime {
    kiln_logger *logger;
};

kiln_status kiln_engine_serialize(const kiln_engine *engine, kiln_host_memory **out) {
    KILN_CHECK_ARG(engine && out, "kiln_engine_serialize");
    uint8_t *data;
    size_t size;
    KILN_TRY(kiln_plan_serialize(engine, &data, &size));
    return kiln_host_memory_wrap(data, size, out);
}

kiln_status kiln_engine_serialize_to_file(const kiln_engine *engine, const char *path) {
    KILN_CHECK_ARG(engine && path, "kiln_engine_serialize_to_file");
    uint8_t *data;
    size_t size;
    KILN_TRY(kiln_plan_serialize(engine, &data, &size));
    FILE *f = fopen(path, "wb");
    if (!f) {
        free(data);
        return kiln_error(KILN_ERR_IO, "cannot write '%s': %s", path, strerror(errno));
    }
    size_t written = fwrite(data, 1, size, f);
    int closed = fclose(f);
    free(data);
    if (written != size || closed != 0)
        return kiln_error(KILN_ERR_IO, "cannot write '%s': %s", path, strerror(errno));
    return KILN_OK;
}

kiln_status kiln_runtime_create(kiln_logger *logger, kiln_runtime **out) {
    KILN_CHECK_ARG(out != NULL, "kiln_runtime_create");
    kiln_runtime *rt = calloc(1, sizeof *rt);
    if (!rt) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "kiln_runtime_create: out of memory");
    rt->logger = logger;
    *out = rt;
    return KILN_OK;
}

void kiln_runtime_destroy(kiln_runtime *runtime) {
    free(runtime);
}

kiln_status kiln_runtime_deserialize_engine(kiln_runtime *runtime, const void *plan, size_t size,
                                            kiln_engine **out) {
    KILN_CHECK_ARG(runtime && out, "kiln_runtime_deserialize_engine");
    KILN_CHECK_ARG(plan != NULL || size == 0, "kiln_runtime_deserialize_engine");
    /* The caller may free its buffer on return: keep one aligned copy and borrow from it,
     * so weights are copied once, not once per tensor. Aligned like a mapped file, so the
     * WEIGHTS section (256-byte aligned in the plan) is aligned in memory too; C11 wants
     * the size a multiple of the alignment. */
    size_t align = KILN_PLAN_WEIGHT_ALIGN;
    void *copy = size <= SIZE_MAX - align ? aligned_alloc(align, (size + align) / align * align)
                                          : NULL;
    if (!copy) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory loading a plan");
    if (size) memcpy(copy, plan, size);
    kiln_engine *e;
    kiln_status st = kiln_plan_deserialize(copy, size, 1, &e);
    if (st != KILN_OK) {
        free(copy);
        return st;
    }
    e->plan_copy = copy;
    e->logger = runtime->logger;
    st = kiln_engine_load_device(e);
    if (st != KILN_OK) {
        kiln_engine_free(e);
        return st;
    }
    *out = e;
    return KILN_OK;
}

kiln_status kiln_runtime_deserialize_engine_from_file(kiln_runtime *runtime, const char *path,
                                                      kiln_engine **out) {
    KILN_CHECK_ARG(runtime && path && out, "kiln_runtime_deserialize_engine_from_file");
    kiln_file_map map;
    KILN_TRY(kiln_file_map_open(path, &map));
    kiln_engine *e;
    kiln_status st = kiln_plan_deserialize(map.data, map.size, 1, &e);
    if (st != KILN_OK) {
        kiln_file_map_close(&map);
        kiln_error_prefix("%s", path);
        return st;
    }
    e->plan_file = map; /* weights stay in the mapping: zero-copy */
    e->logger = runtime->logger;
    st = kiln_engine_load_device(e);
    if (st != KILN_OK) {
        kiln_engine_free(e);
        return st;
    }
    *out = e;
    return KILN_OK;
}
