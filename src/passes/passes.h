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

#endif
