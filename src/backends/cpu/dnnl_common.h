/*
 * The CPU backend's oneDNN path: Conv, MatMul and Gemm run as oneDNN primitives with the
 * fused epilogue as post-ops, on weights reordered once (at build time, dnnl_prepare.c)
 * into the layout the primitive prefers; pooling and Softmax run as oneDNN primitives too.
 * Every kernel falls back to the reference kernel for what oneDNN cannot do (set
 * KILN_DNNL=0 in the environment to run the reference kernels alone).
 *
 * Prepared weights. A node whose constant weights were prepared keeps, in place of its
 * weight input, a uint8 blob (the reordered bytes) and these attributes:
 *   _kiln_wshape        (ints)   the logical weight dims (shape functions read them)
 *   _kiln_wlayout       (ints)   the blob's layout, portable: ndims, dims, padded dims,
 *                                outer strides, inner block count, inner blocks, their dims
 *   _kiln_dnnl_wdesc    (string) the bytes of the dnnl_memory_desc_t it was reordered to
 *   _kiln_dnnl_version  (int)    the oneDNN version that wrote them (major*10000+minor*100+patch)
 *   _kiln_tactic        (int)    KILN_TACTIC_DNNL
 * A kiln with the same oneDNN uses the blob directly (or reorders it once per context when
 * the primitive it creates prefers another layout, e.g. on another ISA); any other kiln
 * (no oneDNN, another version) decodes it with _kiln_wlayout into plain weights, once per
 * context, and runs the reference kernel.
 *
 * Blocked activations. Between oneDNN nodes, activations may stay in oneDNN's channel-
 * blocked layout (nChw8c / nChw16c: the size of NCHW when C is a multiple of the block), or
 * channels-last (NHWC, any C: the size of NCHW too; oneDNN's blocked kernels would pad C to
 * the block, so a tensor whose C is not a multiple of it can only stay out of NCHW this way).
 * `_kiln_dnnl_in_block` / `_kiln_dnnl_out_block` / `_kiln_dnnl_sum_block` (int, the block size,
 * or KILN_NN_NHWC for channels-last) on a node say which of its input 0, output 0 and sum input
 * are not plain; every kernel that honours them also runs without oneDNN (the reference
 * kernels convert: channels-last is a blocking whose block is all of C).
 */
#ifndef KILN_CPU_DNNL_COMMON_H
#define KILN_CPU_DNNL_COMMON_H

#include "backends/cpu/nn_common.h"

enum { KILN_TACTIC_REF = 0, KILN_TACTIC_DNNL = 1 };

/* ------------------------------------------------------------ always available ------ */

/* True when node's weight input w is a prepared blob (see above). */
int kiln_nn_weights_prepared(const kiln_node *node, const kiln_tview *w);

/* The plain float32 weights of a prepared node (logical dims `_kiln_wshape`, row-major),
 * decoded once per context and kept in the node's state. *plain gets a view of them. */
kiln_status kiln_nn_plain_weights(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *w,
                                  kiln_tview *plain);

/* Decodes a blob in the portable layout into logical row-major floats (count elements). */
kiln_status kiln_nn_unpack_layout(const kiln_node *node, const int64_t *layout, int32_t n_layout,
                                  const float *blob, size_t blob_bytes, float *plain,
                                  int64_t count);

/* The block value that says channels-last (NHWC, NWC, NDHWC). */
#define KILN_NN_NHWC (-1)

/* The block of a tensor with `channels` channels in the layout `block` says (channels-last
 * is one block of all of them). */
static inline int64_t kiln_nn_block_size(int64_t block, int64_t channels) {
    return block == KILN_NN_NHWC ? channels : block;
}

/* The channel block of input 0 / output 0 / the sum input (0: plain NCHW; KILN_NN_NHWC:
 * channels-last). */
static inline int64_t kiln_nn_in_block(const kiln_node *node) {
    return kiln_attr_int(node, "_kiln_dnnl_in_block", 0);
}
static inline int64_t kiln_nn_out_block(const kiln_node *node) {
    return kiln_attr_int(node, "_kiln_dnnl_out_block", 0);
}
static inline int64_t kiln_nn_sum_block(const kiln_node *node) {
    return kiln_attr_int(node, "_kiln_dnnl_sum_block", 0);
}

/* Channel-blocked <-> plain for an (N, C, spatial...) tensor of esize-byte elements, C a
 * multiple of block (block C: channels-last). */
void kiln_nn_unblock(const void *src, void *dst, size_t esize, int32_t rank, const int64_t *dims,
                     int64_t block, int threads);
void kiln_nn_block(const void *src, void *dst, size_t esize, int32_t rank, const int64_t *dims,
                   int64_t block, int threads);

/* Runs a reference kernel `fn` on plain copies of blocked tensors: input 0 (in_block),
 * input extra_index (extra_block; -1: none) and output 0 (out_block), any dtype. v is
 * the node's input views (modified: blocked ones are replaced by plain copies). */
kiln_status kiln_nn_run_unblocked(kiln_cpu_ctx *ctx, const kiln_node *node, kiln_tview *v,
                                  int32_t n_in, kiln_tview *out, int32_t n_out, int64_t in_block,
                                  int32_t extra_index, int64_t extra_block, int64_t out_block,
                                  kiln_cpu_kernel_fn fn);

/* A pooling kernel: oneDNN where it takes the node, else the reference kernel `ref` (on
 * plain copies of blocked activations). */
kiln_status kiln_nn_pool_dispatch(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                                  int32_t n_in, kiln_tview *out, int32_t n_out,
                                  kiln_cpu_kernel_fn ref);

/* The per-node state every NN kernel of this family shares: decoded weights for the
 * reference path, or the oneDNN path's primitives (owned through dnnl_free). */
typedef struct kiln_nn_state {
    float *plain_w;           /* decoded prepared weights */
    const void *plain_w_from; /* the blob they were decoded from */
    void *dnnl;
    void (*dnnl_free)(void *);
    uint64_t declined;       /* kiln_nn_run_key of the run oneDNN last declined (0: none) */
    float *wino_u;           /* weights of kiln's Winograd kernel (conv_winograd_node.c) */
    size_t wino_u_bytes;     /* their buffer's size */
    uint64_t wino_declined;  /* kiln_nn_run_key of the run those kernels last declined */
    const void *wino_u_from; /* the constant weights they were made from (NULL: remake) */
    int wino_u_kind;         /* the kernel they are for */
} kiln_nn_state;

/* A hash of what a node runs with: its inputs' and output 0's dtypes and shapes, and the
 * thread count (never 0). oneDNN kernels remember the key of a run they cannot take, so
 * that they do not try to create that primitive again at every run; a collision only sends
 * a run to the reference kernel. */
uint64_t kiln_nn_run_key(const kiln_tview *in, int32_t n_in, const kiln_tview *out, int threads);

/* This node's state (created on first use), or NULL when out of memory. */
kiln_nn_state *kiln_nn_node_state(kiln_cpu_ctx *ctx);

/* Turns the oneDNN path on or off for this process (tests: the reference kernels as the
 * baseline); without oneDNN it does nothing. */
void kiln_nn_use_dnnl(int enabled);
/* True when this kiln was built with oneDNN. */
int kiln_nn_have_dnnl(void);

/* ------------------------------------------------------------ with oneDNN ----------- */

#ifdef KILN_HAVE_DNNL
#include <dnnl.h>

/* 0 when the environment says KILN_DNNL=0 (A/B timing, debugging): the reference kernels
 * run everything, prepared weights included. */
int kiln_dnnl_enabled(void);

/* The process's oneDNN CPU engine (created once), or NULL when it cannot be created. */
dnnl_engine_t kiln_dnnl_engine(void);

/* major * 10000 + minor * 100 + patch of the oneDNN in use. */
int64_t kiln_dnnl_version(void);

/* True when a prepared node's stored descriptor can be used by this oneDNN. */
int kiln_dnnl_wdesc(const kiln_node *node, dnnl_memory_desc_t *md);

/* The channel block oneDNN's convolutions prefer on this CPU (16 with AVX-512, 8 with
 * AVX2, 0 below). */
int64_t kiln_dnnl_preferred_block(void);

/* A failed oneDNN call as a kiln error naming the node and the call. */
kiln_status kiln_dnnl_error(const kiln_node *node, dnnl_status_t st, const char *what);
#define KILN_DNNL_TRY(node, call)                                                                  \
    do {                                                                                           \
        dnnl_status_t st_ = (call);                                                                \
        if (st_ != dnnl_success) return kiln_dnnl_error(node, st_, #call);                         \
    } while (0)

/* A primitive attribute with user-managed scratchpad and the post-ops of a fused node:
 * sum (scale sum_scale, when sum_scale != 0) then the activation. *out is NULL-safe to
 * destroy. Returns 0 when oneDNN cannot express the activation. */
int kiln_dnnl_make_attr(const kiln_nn_act *act, float sum_scale, dnnl_primitive_attr_t *out);
/* The same with the sum as a binary add of a tensor of descriptor add_md (read in place by
 * the primitive: argument DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1) when add_md is
 * not NULL. */
int kiln_dnnl_make_attr_add(const kiln_nn_act *act, float sum_scale,
                            const dnnl_memory_desc_t *add_md, dnnl_primitive_attr_t *out);

/* A memory descriptor of dims in a plain row-major layout, channel-blocked (block 8 or 16,
 * ranks 3-5) or channels-last (block KILN_NN_NHWC, ranks 3-5). */
dnnl_status_t kiln_dnnl_md(dnnl_memory_desc_t *md, int32_t rank, const int64_t *dims,
                           int64_t block);

/* A memory object for a user scratchpad of `bytes` (at least one byte): its data handle
 * is set at each run, to scratch space from the context. */
dnnl_status_t kiln_dnnl_scratch_memory(size_t bytes, dnnl_memory_t *out);

/* A primitive reading one tensor and writing one (pooling, softmax): the primitive, its
 * stream and memory objects, and the bytes of its user scratchpad. */
typedef struct kiln_dnnl_unary {
    dnnl_primitive_t prim;
    dnnl_stream_t stream;
    size_t scratch;
    dnnl_memory_t m_src, m_dst, m_scratch;
} kiln_dnnl_unary;

/* Creates u's primitive and memory objects from pd (which stays the caller's). */
dnnl_status_t kiln_dnnl_unary_create(kiln_dnnl_unary *u, const_dnnl_primitive_desc_t pd);
/* Destroys what kiln_dnnl_unary_create made (zeroed members are skipped). */
void kiln_dnnl_unary_destroy(kiln_dnnl_unary *u);
/* Runs u on src -> dst with a scratchpad from the context, and waits for it; a failure is
 * an error naming the node and `what`. */
kiln_status kiln_dnnl_unary_run(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_dnnl_unary *u,
                                const void *src, void *dst, const char *what);

/* Reorders src (desc smd) into dst (desc dmd) on the calling thread's stream `stream`. */
kiln_status kiln_dnnl_reorder(const kiln_node *node, dnnl_stream_t stream,
                              const dnnl_memory_desc_t *smd, const void *src,
                              const dnnl_memory_desc_t *dmd, void *dst);

/* Reorders between 16-channel blocks (channels padded to the block) and channels-last of
 * one float32 shape (ranks 3-5), run by kiln instead of oneDNN (dnnl_channels_reorder.c):
 * the kind of the reorder from -> to, 0 when it is not one of these; and running it, on up
 * to `threads` OpenMP threads. */
enum { KILN_DNNL_BLOCKED_TO_NHWC = 1, KILN_DNNL_NHWC_TO_BLOCKED = 2 };
int kiln_dnnl_channels_kind(const dnnl_memory_desc_t *from, const dnnl_memory_desc_t *to);
void kiln_dnnl_channels_run(int kind, const dnnl_memory_desc_t *from, const void *src, void *dst,
                            int threads);

/* The portable layout of a blocked descriptor (see above) into out (capacity cap);
 * returns the count, 0 when md is not a plain blocked layout. */
int32_t kiln_dnnl_layout_ints(const dnnl_memory_desc_t *md, int64_t *out, int32_t cap);

/* Blocked layouts: the product of md's inner blocks along dim d; whether dim d's blocks are
 * outermost (slices along d are contiguous); and the slice [start, start + size) along such
 * a dim (start a multiple of its block): its own dense descriptor and its byte offset. */
int64_t kiln_dnnl_inner_block(const dnnl_memory_desc_t *md, int d);
int kiln_dnnl_outermost(const dnnl_memory_desc_t *md, int d);
void kiln_dnnl_slice_md(const dnnl_memory_desc_t *md, int d, int64_t start, int64_t size,
                        dnnl_memory_desc_t *part, size_t *offset);

/*
 * How the oneDNN kernels use several threads. A oneDNN primitive runs one OpenMP parallel
 * region with a static split: the caller waits at its end for every thread of the team to
 * be woken, scheduled and done. How well that goes depends on how OpenMP's idle threads
 * wait, which only the environment sets (before the program starts):
 *   - GOMP's default (spin ~300000 times, milliseconds, before sleeping) is the fastest on
 *     a quiet machine and ruinous on a busy one (the spinning thread takes the CPU the
 *     caller needs: ResNet-50 went from 30 to 400+ ms here with other jobs running);
 *   - GOMP_SPINCOUNT=3000 (or OMP_WAIT_POLICY=passive) is as fast on a quiet machine and
 *     robust on a busy one: programs that run kiln should set it.
 * By default primitives run on OpenMP threads. KILN_DNNL_THREADING=pool instead cuts the
 * work of a single image into single-threaded slices run on kiln's own pool
 * (dnnl_threads.h: the caller never waits for a thread that has not started; what cannot
 * be cut still runs on OpenMP): robust where the environment cannot be set, but slower on
 * a quiet machine (slices are less efficient than oneDNN's own split).
 */
int kiln_dnnl_use_pool(void);

/* How many of `threads` a oneDNN primitive doing `flops` of work runs on (OpenMP): one per
 * KILN_DNNL_FLOPS_PER_THREAD, at least one (environment: KILN_DNNL_FLOPS_PER_THREAD). In
 * "pool" mode a layer left to OpenMP needs more work per thread to be worth waking one.
 * With a short OpenMP spin the second thread is cheap to wake: MobileNetV2's depthwise
 * layers of 0.5-1 MFLOP (7x7 and 14x14 maps) take half the time on two threads (0.023 ->
 * 0.011 ms each), the run 2.90 -> 2.83 ms median (A/B, 6 rounds, 2026-11-28; 5e5 before);
 * ResNet-50 and BERT have no layer this small and do not change. */
#define KILN_DNNL_FLOPS_PER_THREAD      5e4
#define KILN_DNNL_FLOPS_PER_THREAD_POOL 5e6
int kiln_dnnl_threads_for(int threads, double flops);

/* Sets the OpenMP threads oneDNN uses on this thread; returns the previous count. */
int kiln_dnnl_threads_begin(int threads);
void kiln_dnnl_threads_end(int previous);

/* The oneDNN kernels. Each sets *handled = 0 (and returns KILN_OK) for a node it does not
 * take (the reference kernel runs it), else runs it and sets *handled = 1. */
kiln_status kiln_dnnl_conv(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                           int32_t n_in, kiln_tview *out, int *handled);
/* 0 when the environment says KILN_DNNL_WINOGRAD=0: no Winograd, kiln's or oneDNN's. */
int kiln_dnnl_winograd_enabled(void);
/* Conv by kiln's own Winograd kernels (conv_winograd_node.c), tried first: 3x3 stride-1
 * pad-1 layers on 16-channel blocks, F(4x4, 3x3) where its transformed weights fit in
 * cache, else with the tiles in the lanes on maps of up to 16 tiles. */
kiln_status kiln_cpu_conv_winograd(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                                   int32_t n_in, kiln_tview *out, int *handled);
/* At build time, with the layouts planned: the kernel this CPU will run the node on
 * ("winograd43", "winograd_lanes"; the name kiln inspect shows), or NULL (oneDNN's). A plan
 * run on a CPU without AVX-512 falls back to oneDNN. */
const char *kiln_cpu_conv_wino_planned(const kiln_node *node, const kiln_tview *x,
                                       const kiln_tview *w, const kiln_tview *y);
kiln_status kiln_dnnl_matmul(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                             int32_t n_in, kiln_tview *out, int *handled);
kiln_status kiln_dnnl_gemm(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                           int32_t n_in, kiln_tview *out, int *handled);
kiln_status kiln_dnnl_pool(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                           int32_t n_in, kiln_tview *out, int32_t n_out, int *handled);
/* Softmax (log: LogSoftmax) of x into y; also checks kiln_dnnl_enabled(). */
kiln_status kiln_dnnl_softmax(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *x,
                              kiln_tview *y, int log, int *handled);

/* Build time: the layout the node's primitive would want its weights in (*best) beside
 * their plain layout (*plain), at the given shapes; *ok = 0 when oneDNN would not run it.
 * w is the logical (plain) weight view. */
kiln_status kiln_dnnl_conv_weights_md(const kiln_node *node, const kiln_tview *x,
                                      const kiln_tview *w, const kiln_tview *y, int has_bias,
                                      int has_sum, int threads, dnnl_memory_desc_t *plain,
                                      dnnl_memory_desc_t *best, int *ok);
/* True when the pooling primitive oneDNN would pick for these blocks is not its slow
 * reference implementation (build time: may activations stay blocked through it?). */
int kiln_dnnl_pool_fast(const kiln_node *node, const kiln_tview *x, const kiln_tview *y,
                        int64_t in_block, int64_t out_block, int threads);
/* The same for a convolution with these blocks (w logical). */
int kiln_dnnl_conv_fast(const kiln_node *node, const kiln_tview *x, const kiln_tview *w,
                        const kiln_tview *y, int has_bias, int has_sum, int64_t in_block,
                        int64_t out_block, int threads);
kiln_status kiln_dnnl_matmul_weights_md(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                        const kiln_tview *y, int threads, dnnl_memory_desc_t *plain,
                                        dnnl_memory_desc_t *best, int *ok);
#endif

#endif
