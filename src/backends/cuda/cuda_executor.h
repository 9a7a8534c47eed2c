/*
 * Running an engine on a GPU. Each node runs where the plan placed it: on the GPU through
 * a CUDA kernel, or on the CPU (a node the CUDA backend cannot run) with copies in and
 * out. Tensors are copied lazily, only where a consumer needs them: a device-resident
 * tensor read by a CPU node is copied to the host (the only place a run synchronizes), a
 * host-resident one read by a CUDA node is copied to the device.
 *
 * Output shapes come from the ops' shape functions on the host, given the input shapes
 * and the values of host-resident inputs; an input whose values a shape function needs and
 * that lives only on the device is fetched first.
 *
 * Device memory: the first run with given input shapes allocates each tensor on the
 * stream (cudaMallocAsync) and records its size; the memory plan then puts them all in one
 * arena, and later runs allocate nothing.
 */
#ifndef KILN_CUDA_EXECUTOR_H
#define KILN_CUDA_EXECUTOR_H

#include "backends/cuda/cuda_kernel.h"
#include "runtime/engine.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Placement and device weights of a CUDA engine (engine->backend). */
typedef struct kiln_cuda_engine {
    const kiln_cuda_kernel_info **kernels; /* per node; NULL: runs on the CPU */
    void **device_constants;              /* per tensor; device copy of constant data */
} kiln_cuda_engine;

/* Resolves every node's kernel from the plan's kernel names and uploads the weights. */
kiln_status kiln_cuda_engine_prepare(kiln_engine *e);
void kiln_cuda_engine_release(kiln_engine *e);

/* Build time: chooses each node's placement from the static views (dtype and shape of every
 * tensor at the profile's opt shapes) and writes kernel names ("cuda..." or "cpu.ref.Op"). */
kiln_status kiln_cuda_place_nodes(kiln_engine *e, const kiln_tview *views);
/* Build time: runs each CUDA node's tune function on device buffers of its opt shapes and
 * records the tactic as the node's "_kiln_tactic" attribute. */
kiln_status kiln_cuda_tune_nodes(kiln_engine *e, const kiln_tview *views, int32_t *tuned);

typedef struct kiln_cuda_state kiln_cuda_state;

kiln_status kiln_cuda_state_create(const kiln_engine *e, int threads, kiln_cuda_state **out);
void kiln_cuda_state_destroy(kiln_cuda_state *s);
void kiln_cuda_state_invalidate(kiln_cuda_state *s);
/* Binds graph input `tensor` to device memory of the given shape. */
void kiln_cuda_state_bind_input(kiln_cuda_state *s, int32_t tensor, kiln_dtype dtype, int32_t rank,
                                const int64_t *dims, void *device_data);
/* Runs the graph on `stream` (NULL: the state's own stream); returns without waiting
 * unless a CPU node needed device data. */
kiln_status kiln_cuda_run(kiln_cuda_state *s, void *stream);
/* After a run: the shape of a tensor, and copies its value to the caller's device buffer
 * on the run's stream. */
const kiln_tview *kiln_cuda_state_value(const kiln_cuda_state *s, int32_t tensor);
kiln_status kiln_cuda_state_copy_out(kiln_cuda_state *s, int32_t tensor, void *device_dst,
                                     void *stream);
/* After a run: a device pointer to the tensor's value (uploaded if it was host-only). */
kiln_status kiln_cuda_state_device_data(kiln_cuda_state *s, int32_t tensor, const void **data);
/* Waits for the last run's stream. */
kiln_status kiln_cuda_state_synchronize(kiln_cuda_state *s, void *stream);

#ifdef __cplusplus
}
#endif

#endif
