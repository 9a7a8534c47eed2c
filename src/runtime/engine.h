/* The engine and its parts shared by the builder, the plan reader and the runtime. */
#ifndef KILN_RUNTIME_ENGINE_H
#define KILN_RUNTIME_ENGINE_H

#include "core/file_map.h"
#include "ir/ir.h"

/* One input or output of the engine. */
typedef struct kiln_engine_io {
    char *name;
    kiln_tensor_io_mode mode;
    int32_t tensor; /* index in the engine graph */
    kiln_dtype dtype; /* of the elements, for sequences and optionals */
    int32_t rank;
    int64_t dims[KILN_MAX_DIMS]; /* -1: dynamic */
    uint8_t kind;     /* declared kiln_value_kind: TENSOR, SEQUENCE, OPTIONAL, OPTIONAL_SEQUENCE */
} kiln_engine_io;

/* An optimization profile: min/opt/max dims for each input, in io order (outputs unused). */
typedef struct kiln_engine_profile {
    int64_t (*min)[KILN_MAX_DIMS];
    int64_t (*opt)[KILN_MAX_DIMS];
    int64_t (*max)[KILN_MAX_DIMS];
} kiln_engine_profile;

struct kiln_engine {
    kiln_graph *graph; /* optimized; constants are the weights */
    kiln_device_type device;
    int32_t device_index;
    int32_t num_threads; /* 0: one per core */
    uint32_t flags;      /* builder flags the plan was built with (bit per kiln_builder_flag) */
    int32_t io_count;
    kiln_engine_io *io;
    int32_t profile_count;
    kiln_engine_profile *profiles;
    /* memory plan: liveness by node step, and the arena at the profile's opt shapes */
    int32_t *first_use; /* per tensor: the step writing it (-1 inputs/constants) */
    int32_t *last_use;  /* per tensor: the last step reading it (node_count for outputs) */
    uint64_t planned_arena_bytes; /* 0 when shapes were not all known at build time */
    uint64_t naive_bytes;         /* sum of intermediate tensor sizes at the same shapes */
    int32_t unknown_shape_tensors;
    uint64_t weight_bytes;
    char **kernel_names; /* per node: the kernel chosen */
    void *backend;       /* backend data (kiln_cuda_engine for CUDA engines), or NULL */
    char **fused_names;  /* per node, joined "_kiln_fused" names (kiln_engine_index_fused) */
    /* storage backing borrowed weights (a mapped or copied plan) */
    kiln_file_map plan_file;
    void *plan_copy;
    size_t plan_copy_size;
    void *weight_arena; /* the weights packed by kiln_engine_pack_weights (kiln_huge_alloc) */
    kiln_logger *logger;
};

/* Liveness of every tensor by node step; fills first_use/last_use. */
kiln_status kiln_engine_compute_liveness(kiln_engine *e);
/* The io entry of `name`, or NULL (and an error naming the engine's io tensors). */
const kiln_engine_io *kiln_engine_find_io(const kiln_engine *e, const char *name, const char *call);
int32_t kiln_engine_io_index(const kiln_engine *e, const char *name);
/* Fills fused_names from the nodes' attributes (built and loaded engines). */
kiln_status kiln_engine_index_fused(kiln_engine *e);

#endif
