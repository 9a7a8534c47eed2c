/*
 * The CUDA backend's kernels. Included from C (.c) and CUDA (.cu) files.
 *
 * A kernel gets the node, its input views and its output views like a CPU kernel
 * (backends/cpu/cpu_kernel.h), except that data pointers are DEVICE pointers — but for the
 * inputs the kernel table marks as host inputs (value-only inputs such as Reshape's shape:
 * their data is on the host, and not copied to the device). Output shapes come from the
 * op's shape function, run on the host before the kernel; outputs arrive allocated in
 * device memory. Every launch goes to kiln_cuda_stream(ctx); a kernel never synchronizes.
 * Errors name the node and the CUDA, cuBLAS or cuDNN call (kiln_cuda_check_*).
 */
#ifndef KILN_CUDA_KERNEL_H
#define KILN_CUDA_KERNEL_H

#include "ir/tview.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kiln_cuda_ctx kiln_cuda_ctx;

typedef kiln_status (*kiln_cuda_kernel_fn)(kiln_cuda_ctx *ctx, const kiln_node *node,
                                           const kiln_tview *in, int32_t n_in, kiln_tview *out,
                                           int32_t n_out);
/* Whether the kernel handles this node with these input dtypes and ranks (shapes may be
 * unknown, rank -1, at build time). */
typedef int (*kiln_cuda_supports_fn)(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                     const kiln_tview *out, int32_t n_out);

/* Build-time tuning on the device: times the kernel's candidates (cuDNN algorithms,
 * cuBLASLt heuristics) on inputs and outputs of the node's shapes (allocated and filled
 * by the builder) and returns the fastest as a tactic id >= 0, stored in the plan as the
 * node's "_kiln_tactic" attribute and read back by run (kiln_attr_int(node, "_kiln_tactic",
 * -1)). -1: nothing to choose. Kernels with no choice use kiln_cuda_no_tune. */
typedef int64_t (*kiln_cuda_tune_fn)(kiln_cuda_ctx *ctx, const kiln_node *node,
                                     const kiln_tview *in, int32_t n_in, kiln_tview *out,
                                     int32_t n_out);
int64_t kiln_cuda_no_tune(kiln_cuda_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                          int32_t n_in, kiln_tview *out, int32_t n_out);

typedef struct kiln_cuda_kernel_info {
    kiln_op op;
    kiln_cuda_kernel_fn run;
    kiln_cuda_supports_fn supports;
    kiln_cuda_tune_fn tune;
    uint32_t host_inputs; /* bit i: input i is read on the host only */
    const char *name;     /* "cuda.elementwise", "cudnn.conv", ... */
} kiln_cuda_kernel_info;

/* The kernel for a node, or NULL when the CUDA backend cannot run it (the node then runs
 * on the CPU, with copies). */
const kiln_cuda_kernel_info *kiln_cuda_kernel_for(const kiln_node *node, const kiln_tview *in,
                                                  int32_t n_in, const kiln_tview *out,
                                                  int32_t n_out);

/* The kernel of an op with a given name (as a plan records it), or NULL. */
const kiln_cuda_kernel_info *kiln_cuda_kernel_by_name(kiln_op op, const char *name);

/* The stream of the run (a cudaStream_t). */
void *kiln_cuda_stream(kiln_cuda_ctx *ctx);
/* Device scratch memory valid until the kernel returns; NULL when out of memory. */
void *kiln_cuda_workspace(kiln_cuda_ctx *ctx, size_t bytes);
/* Library handles bound to the run's stream (cublasLtHandle_t / cudnnHandle_t). */
void *kiln_cuda_cublaslt(kiln_cuda_ctx *ctx);
void *kiln_cuda_cudnn(kiln_cuda_ctx *ctx);
/* Whether TF32 tensor cores may be used for float32 math (the TF32 builder flag). */
int kiln_cuda_allow_tf32(const kiln_cuda_ctx *ctx);
/* Per-node state kept across runs (descriptors, chosen algorithms): the node's slot (NULL
 * on the first run, what the kernel stored there afterwards) and the function the context
 * calls on it when destroyed. */
void **kiln_cuda_node_state(kiln_cuda_ctx *ctx, void (*destroy)(void *));

/* Error helpers: on failure they return KILN_ERR_DEVICE with "node 'x' (Op): <call>
 * failed: <error string>". `err` is a cudaError_t / cublasStatus_t / cudnnStatus_t. */
kiln_status kiln_cuda_check(const kiln_node *node, int err, const char *call);
kiln_status kiln_cublas_check(const kiln_node *node, int status, const char *call);
kiln_status kiln_cudnn_check(const kiln_node *node, int status, const char *call);
/* After launching a kernel: the launch error, if any (cudaGetLastError). */
kiln_status kiln_cuda_check_launch(const kiln_node *node, const char *kernel);

#ifdef __cplusplus
}
#endif

#endif
