/*
 * The CPU backend's kernels: plain C11 reference implementations, one op (or one family of
 * identical-shape ops) per file, threaded with OpenMP where it pays.
 *
 * A kernel gets the node (attributes, opset), its input views (all with data) and its
 * output views: outputs whose shape the shape function could compute arrive allocated
 * (data set); outputs left at rank -1 (data-dependent shapes) arrive with data NULL and
 * the kernel must call kiln_cpu_alloc_output once it knows their shape. Unsupported
 * dtypes or modes return kiln_node_error(KILN_ERR_UNSUPPORTED, ...) naming what.
 */
#ifndef KILN_CPU_KERNEL_H
#define KILN_CPU_KERNEL_H

#include "ir/tview.h"

typedef struct kiln_cpu_ctx kiln_cpu_ctx;

typedef kiln_status (*kiln_cpu_kernel_fn)(kiln_cpu_ctx *ctx, const kiln_node *node,
                                          const kiln_tview *in, int32_t n_in, kiln_tview *out,
                                          int32_t n_out);

/* The kernel for an op, or NULL when the CPU backend has none. */
kiln_cpu_kernel_fn kiln_cpu_kernel_for(kiln_op op);

/* Temporary memory valid until the kernel returns (grown on demand, reused across nodes).
 * There is one scratch buffer: a second call in the same kernel may move it and
 * invalidates the pointer the first returned — ask once, for the total. NULL when out of
 * memory. */
void *kiln_cpu_scratch(kiln_cpu_ctx *ctx, size_t bytes);
/* Allocates output `index` with the given shape (data-dependent outputs). */
kiln_status kiln_cpu_alloc_output(kiln_cpu_ctx *ctx, int32_t index, int32_t rank,
                                  const int64_t *dims);
/*
 * Values that are not numeric tensors (ir/tview.h): their outputs are always allocated by
 * the kernel, whatever the shape function computed (the executor gives them no memory).
 *
 * kiln_cpu_alloc_strings: output `index` becomes a string tensor of the given shape; its
 * kiln_string array is at out[index].data (entries zeroed) and *bytes receives a region of
 * `total_bytes` in the same allocation for the kernel to write the strings' bytes into and
 * point the entries at.
 * kiln_cpu_alloc_sequence: output `index` becomes a sequence of copies of `items` (tensor
 * views, numeric or string, all of one dtype), held in one block of the output's memory.
 * `items` may point anywhere (inputs, scratch, a subgraph's outputs).
 * kiln_cpu_copy_output: output `index` becomes a copy of value `v`, of any kind.
 * kiln_cpu_set_none: output `index` becomes an empty optional with element dtype `dtype`.
 */
kiln_status kiln_cpu_alloc_strings(kiln_cpu_ctx *ctx, int32_t index, int32_t rank,
                                   const int64_t *dims, size_t total_bytes, char **bytes);
kiln_status kiln_cpu_alloc_sequence(kiln_cpu_ctx *ctx, int32_t index, int32_t count,
                                    const kiln_tview *items);
kiln_status kiln_cpu_copy_output(kiln_cpu_ctx *ctx, int32_t index, const kiln_tview *v);
kiln_status kiln_cpu_set_none(kiln_cpu_ctx *ctx, int32_t index, kiln_dtype dtype);
/* Threads the kernel may use (>= 1). */
int kiln_cpu_threads(const kiln_cpu_ctx *ctx);

/* State a kernel keeps for its node between runs of one context (oneDNN primitives,
 * reordered weights): a slot holding NULL until the kernel stores something there. The
 * kernel checks what it stored still fits the current shapes and rebuilds it if not.
 * `destroy` (recorded at each call) frees the value when the context is freed. NULL when
 * out of memory. */
void **kiln_cpu_node_state(kiln_cpu_ctx *ctx, void (*destroy)(void *));
/* True when input `index` of the running node is a constant of the graph (weights): its
 * data and address are the same on every run. */
int kiln_cpu_input_is_constant(const kiln_cpu_ctx *ctx, int32_t index);

/* Runs a subgraph (If/Loop/Scan bodies): inputs bound to the graph's inputs in order;
 * outputs come back as views over memory that stays valid until the calling kernel
 * returns or runs the same subgraph again. Names the subgraph does not define resolve to
 * the enclosing graph's values. Inputs and outputs may be values of any kind. */
kiln_status kiln_cpu_run_subgraph(kiln_cpu_ctx *ctx, const kiln_graph *graph,
                                  const kiln_tview *inputs, int32_t n_inputs, kiln_tview *outputs,
                                  int32_t n_outputs);

#endif
