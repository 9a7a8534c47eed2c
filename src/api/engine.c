/* Engine serialization and the runtime that loads plans. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/host_memory_internal.h"
#include "core/logger.h"
#include "passes/passes.h"
#include "plan/plan_format.h"
#include "runtime/weight_arena.h"
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

/*
 * What a checksum cannot catch: a plan whose bytes are intact but whose graph no build
 * would have produced (a buggy or hostile writer). The builder ran shape inference at the
 * profile's bounds before writing the plan; run it again, so a graph that does not fit its
 * own profile (Conv pads of 2^56, a Gemm whose inner dims differ) is refused here rather
 * than reaching kernels at run time, and check that every graph input is an engine input.
 */
static kiln_status kiln_engine_check_loaded(kiln_engine *e) {
    kiln_graph *g = e->graph;
    size_t n = (size_t)(g->input_count + 1);
    int32_t *io_of = calloc(n, sizeof *io_of), *ranks = calloc(n, sizeof *ranks);
    int64_t(*dims)[KILN_MAX_DIMS] = calloc(n, sizeof *dims);
    kiln_tview *views = calloc((size_t)(g->tensor_count + 1), sizeof *views);
    kiln_status st = io_of && ranks && dims && views
                         ? KILN_OK
                         : kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory loading a plan");
    for (int32_t i = 0; st == KILN_OK && i < g->input_count; i++) {
        io_of[i] = -1;
        for (int32_t k = 0; k < e->io_count; k++)
            if (e->io[k].mode == KILN_TENSOR_IO_INPUT && e->io[k].tensor == g->inputs[i])
                io_of[i] = k;
        if (io_of[i] < 0 ||
            (e->io[io_of[i]].rank < 0 && e->io[io_of[i]].kind == KILN_VALUE_TENSOR))
            st = kiln_error(KILN_ERR_PLAN,
                            "corrupted plan: graph input '%s' is not an input of the engine "
                            "with a known rank",
                            g->tensors[g->inputs[i]].name);
    }
    for (int32_t p = 0; st == KILN_OK && p < e->profile_count; p++)
        for (int bound = 0; st == KILN_OK && bound < 2; bound++) {
            for (int32_t i = 0; i < g->input_count; i++) {
                ranks[i] = e->io[io_of[i]].rank;
                memcpy(dims[i], bound ? e->profiles[p].max[io_of[i]] : e->profiles[p].min[io_of[i]],
                       sizeof dims[i]);
            }
            st = kiln_pass_infer_shapes(g, ranks, (const int64_t(*)[KILN_MAX_DIMS])dims, views);
            if (st != KILN_OK) {
                kiln_error_prefix("corrupted plan: the graph does not fit the %s shapes of "
                                  "optimization profile %d",
                                  bound ? "max" : "min", p);
                st = KILN_ERR_PLAN;
            }
        }
    free(io_of);
    free(ranks);
    free(dims);
    free(views);
    return st;
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
    void *copy =
        size <= SIZE_MAX - align ? aligned_alloc(align, (size + align) / align * align) : NULL;
    if (!copy) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory loading a plan");
    if (size) memcpy(copy, plan, size);
    kiln_engine *e;
    kiln_status st = kiln_plan_deserialize(copy, size, 1, &e);
    if (st != KILN_OK) {
        free(copy);
        return st;
    }
    e->plan_copy = copy;
    e->plan_copy_size = size;
    e->logger = runtime->logger;
    st = kiln_engine_check_loaded(e);
    if (st == KILN_OK) st = kiln_engine_load_device(e);
    if (st == KILN_OK) st = kiln_engine_pack_weights(e);
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
    e->plan_file = map; /* weights borrowed from the mapping (CPU: until packed below) */
    e->logger = runtime->logger;
    st = kiln_engine_check_loaded(e);
    if (st != KILN_OK) kiln_error_prefix("%s", path);
    if (st == KILN_OK) st = kiln_engine_load_device(e);
    if (st == KILN_OK) st = kiln_engine_pack_weights(e);
    if (st != KILN_OK) {
        kiln_engine_free(e);
        return st;
    }
    *out = e;
    return KILN_OK;
}
