/* Graph passes: each a function from graph to graph, one per file. */
#ifndef KILN_PASSES_H
#define KILN_PASSES_H

#include "ir/tview.h"

/*
 * Static shape and type inference: runs every node's shape function in order, with the
 * given input shapes (in graph input order) and constant values, and writes the result
 * for every tensor into views[] (data set only for constants). Values computed at run time
 * are unknown (rank or dims -1 downstream of value-dependent shapes).
 */
kiln_status kiln_pass_infer_shapes(const kiln_graph *g, const int32_t *input_ranks,
                                   const int64_t (*input_dims)[KILN_MAX_DIMS], kiln_tview *views);

/* Constant folding: nodes whose inputs are all constants (and Shape/Size of inputs whose
 * shapes are fixed) are run once on the CPU at build time and replaced by their results.
 * `fixed_shape[t]` says whether tensor t has the same shape across the profile. */
kiln_status kiln_pass_fold_constants(kiln_graph *g, const kiln_tview *static_views,
                                     const uint8_t *fixed_shape, int32_t *folded);

/* Dead code elimination: removes nodes and tensors no graph output depends on. */
kiln_status kiln_pass_eliminate_dead_code(kiln_graph *g, int32_t *removed);

/* Reduced precision for the FP16 / BF16 flags (see precision.c): float32 work moves to
 * `half` where safe, with Cast nodes where precisions meet. */
kiln_status kiln_pass_reduce_precision(kiln_graph *g, kiln_dtype half, int32_t *casts);

/* ---------------------------------------------------------------- fusions ---------- */

/*
 * Graph-level fusions (docs/dev/fusion-contract.md). Each rewrite can be switched off: the
 * KILN_FUSE_* flags say which may run. Those marked "kernel attrs" leave `_kiln_` attributes
 * that the target's kernels must honour (the CPU kernels do; the CUDA kernels do not yet);
 * the others rewrite into plain ONNX ops that any backend runs.
 */
enum {
    KILN_FUSE_ELIMINATE_IDENTITY = 1u << 0,  /* Identity, inference Dropout, same-type Cast */
    KILN_FUSE_ELIMINATE_RESHAPE = 1u << 1,   /* Reshape/Flatten/Squeeze/Unsqueeze chains */
    KILN_FUSE_ELIMINATE_TRANSPOSE = 1u << 2, /* Transpose pairs (cancelled or merged) */
    KILN_FUSE_BATCHNORM = 1u << 3,           /* BatchNormalization into Conv/Gemm weights */
    KILN_FUSE_GELU = 1u << 4,                /* Erf / Tanh subgraphs into Gelu */
    KILN_FUSE_LAYERNORM = 1u << 5,           /* mean/variance subgraphs into LayerNormalization */
    KILN_FUSE_GEMM_BIAS = 1u << 6,           /* Gemm without C + Add(bias) into Gemm's C */
    KILN_FUSE_CONV_ACTIVATION = 1u << 8,     /* kernel attrs: Conv/ConvTranspose + activation */
    KILN_FUSE_CONV_SUM = 1u << 9,            /* kernel attrs: Conv + residual Add */
    KILN_FUSE_GEMM_ACTIVATION = 1u << 10,    /* kernel attrs: Gemm/MatMul + activation */
    KILN_FUSE_MATMUL_BIAS = 1u << 11,        /* kernel attrs: MatMul + Add(1-D bias) */
    KILN_FUSE_MATMUL_SUM = 1u << 12,         /* kernel attrs: MatMul + residual Add */
    KILN_FUSE_MATMUL_SCALE = 1u << 13,       /* kernel attrs: MatMul + Div / Mul by a scalar */
    KILN_FUSE_MATMUL_TRANSPOSE = 1u << 14,   /* kernel attrs: Transposes into MatMul strides */
    KILN_FUSE_SOFTMAX_ADD = 1u << 15         /* kernel attrs: Add(x, mask) into Softmax */
};
#define KILN_FUSE_PORTABLE                                                                    \
    (KILN_FUSE_ELIMINATE_IDENTITY | KILN_FUSE_ELIMINATE_RESHAPE | KILN_FUSE_ELIMINATE_TRANSPOSE | \
     KILN_FUSE_BATCHNORM | KILN_FUSE_GELU | KILN_FUSE_LAYERNORM | KILN_FUSE_GEMM_BIAS)
#define KILN_FUSE_KERNEL_ATTRS                                                                \
    (KILN_FUSE_CONV_ACTIVATION | KILN_FUSE_CONV_SUM | KILN_FUSE_GEMM_ACTIVATION |              \
     KILN_FUSE_MATMUL_BIAS | KILN_FUSE_MATMUL_SUM | KILN_FUSE_MATMUL_SCALE |                  \
     KILN_FUSE_MATMUL_TRANSPOSE | KILN_FUSE_SOFTMAX_ADD)
#define KILN_FUSE_ALL (KILN_FUSE_PORTABLE | KILN_FUSE_KERNEL_ATTRS)

typedef struct kiln_fuse_options {
    unsigned flags; /* KILN_FUSE_* */
    /* Static views of the graph's tensors at the profile's min and max shapes (either may
     * be NULL), for tensors below view_count: they let a pass see that two tensors whose
     * dims are dynamic still have the same shape. Without them only known dims count. */
    const kiln_tview *at_min, *at_max;
    int32_t view_count;
    /* kiln_pass_fold_constants' fixed_shape (may be NULL): with it and at_max, constants are
     * folded again after the removals (a CastLike gone makes its readers foldable). */
    const uint8_t *fixed;
} kiln_fuse_options;

/* The flags a build uses: everything on the CPU; only the portable rewrites elsewhere. */
unsigned kiln_fuse_default_flags(int cpu);

/* Each pass below returns in *count (may be NULL) how many rewrites it made. */

/* Identity, Dropout in inference, Cast to the same type; chains of Reshape / Flatten /
 * Squeeze / Unsqueeze into one Reshape with a constant shape (static shapes); Transpose
 * pairs that cancel (removed) or compose (one Transpose). */
kiln_status kiln_pass_eliminate_redundant(kiln_graph *g, const kiln_fuse_options *o,
                                          int32_t *count);
/* BatchNormalization (inference, constant parameters) after a Conv / ConvTranspose / Gemm /
 * 2-D MatMul with constant weights, folded into new weights and bias. */
kiln_status kiln_pass_fold_batchnorm(kiln_graph *g, const kiln_fuse_options *o, int32_t *count);
/* GELU written out (Div/Erf/Add/Mul/Mul in PyTorch's orders; the tanh form) into Gelu. */
kiln_status kiln_pass_recognize_gelu(kiln_graph *g, const kiln_fuse_options *o, int32_t *count);
/* ReduceMean/Sub/Pow/ReduceMean/Add/Sqrt/Div[/Mul/Add] over trailing axes into
 * LayerNormalization. */
kiln_status kiln_pass_recognize_layernorm(kiln_graph *g, const kiln_fuse_options *o,
                                          int32_t *count);
/* Conv / ConvTranspose / Gemm / MatMul + [residual or bias Add] + activation into one node
 * with the fusion contract's attributes; Gemm without C + Add(bias) into Gemm's C; a MatMul
 * with its bias + the residual Add as its sum input. */
kiln_status kiln_pass_fuse_conv_activation(kiln_graph *g, const kiln_fuse_options *o,
                                           int32_t *count);
/* MatMul + Div / Mul by a scalar constant into the MatMul's `_kiln_scale` (attention scores
 * divided by sqrt(d)). */
kiln_status kiln_pass_fuse_matmul_scale(kiln_graph *g, const kiln_fuse_options *o, int32_t *count);
/* Transposes feeding a MatMul (or fed by one) into its `_kiln_perm_a` / `_kiln_perm_b` /
 * `_kiln_perm_y`: the MatMul reads / writes the untransposed tensor through strides. */
kiln_status kiln_pass_fuse_matmul_transpose(kiln_graph *g, const kiln_fuse_options *o,
                                            int32_t *count);

/* Softmax(Add(x, m)), m broadcast to x (an attention mask) -> Softmax(x, m) with
 * `_kiln_add_input` = 1: the mask is added as the rows are read. */
kiln_status kiln_pass_fuse_softmax_add(kiln_graph *g, const kiln_fuse_options *o, int32_t *count);

/* Rewrites per pass, for the build's log. */
typedef struct kiln_fuse_counts {
    int32_t eliminated, refolded, batchnorms, gelus, layernorms, fused, scales, transposes;
    int32_t softmax_adds;
} kiln_fuse_counts;

/* All of the above, in order: eliminate (then constant folding again when it removed
 * something and o->fixed is given), fold BatchNorm, LayerNorm, Gelu, MatMul scale,
 * conv/activation, MatMul transposes, Softmax mask. */
kiln_status kiln_pass_fuse(kiln_graph *g, const kiln_fuse_options *o, kiln_fuse_counts *counts);

#endif
