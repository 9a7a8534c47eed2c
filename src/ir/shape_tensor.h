/*
 * Helpers private to the tensor family (shape manipulation, indexing, generation): the
 * parameter decoding that both shape functions and CPU kernels need (Slice's starts and
 * steps, Pad's pads, Split's sizes, axes lists), so both read an op's opset-dependent
 * attributes and inputs the same way.
 */
#ifndef KILN_IR_SHAPE_TENSOR_H
#define KILN_IR_SHAPE_TENSOR_H

#include "ir/tview.h"

/* Whether input i exists and is not an omitted optional input. */
static inline int kiln_tensor_has_input(const kiln_tview *in, int32_t n_in, int32_t i) {
    return i >= 0 && i < n_in && kiln_tview_present(&in[i]);
}

/* A shape error unless input i (named `what`) is present. */
kiln_status kiln_tensor_require(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                int32_t i, const char *what);

/* Maps axis from [-rank, rank) onto [0, rank); a shape error naming `what` otherwise. */
kiln_status kiln_tensor_axis(const kiln_node *node, const char *what, int64_t axis, int32_t rank,
                             int32_t *out);

/* Whether dtype is an integer type (int8..int64, uint8..uint64). */
int kiln_tensor_is_int(kiln_dtype dtype);
/* Whether dtype is a floating type kiln computes with (float16/32/64, bfloat16). */
int kiln_tensor_is_float(kiln_dtype dtype);

/* Reads an integer tensor of rank 0 or 1 (with data) into vals[0..max); sets *count.
 * Errors name `what`: a non-integer dtype, rank > 1, more than max values. */
kiln_status kiln_tensor_read_ints(const kiln_node *node, const char *what, const kiln_tview *t,
                                  int64_t *vals, int32_t max, int32_t *count);

/* An axes list given as attribute `attr` before opset `input_opset`, as input `input`
 * from then on. *present: whether any was given; *known: whether its values are
 * available (0 for an input without data). Duplicates are not checked here. */
kiln_status kiln_tensor_axes_arg(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                 int32_t input, const char *attr, int32_t input_opset,
                                 int64_t *axes, int32_t max, int32_t *count, int *present,
                                 int *known);

/* Normalizes count axes against rank in place; errors on out-of-range or repeated axes. */
kiln_status kiln_tensor_norm_axes(const kiln_node *node, const char *what, int64_t *axes,
                                  int32_t count, int32_t rank);

/* Slice: for every dim of the data, the first index, the step and the element count. */
typedef struct kiln_slice_params {
    int64_t start[KILN_MAX_DIMS], step[KILN_MAX_DIMS], count[KILN_MAX_DIMS];
} kiln_slice_params;

/* Decodes Slice's starts/ends/axes/steps (attributes before opset 10, inputs from 10).
 * *known is 0 when an input's values are not available (static inference); counts of
 * dims whose size is unknown are -1. */
kiln_status kiln_tensor_slice_params(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                     kiln_slice_params *p, int *known);

typedef enum kiln_pad_mode {
    KILN_PAD_CONSTANT,
    KILN_PAD_REFLECT,
    KILN_PAD_EDGE,
    KILN_PAD_WRAP
} kiln_pad_mode;

/* Decodes Pad's pads (attribute before opset 11, input from 11, axes input from 18) into
 * per-dim begin/end pads of the data's rank, and its mode. *known as for Slice. */
kiln_status kiln_tensor_pad_params(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                   int64_t *begin, int64_t *end, kiln_pad_mode *mode, int *known);

/* Decodes Split's axis and part sizes (split attribute before opset 13, input from 13,
 * num_outputs or equal parts otherwise) into sizes[0..n_out). *known as for Slice; sizes
 * of a dim whose size is unknown are -1. */
kiln_status kiln_tensor_split_sizes(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                    int32_t n_out, int32_t *axis, int64_t *sizes, int *known);

/* CenterCropPad: per-dim offset of the input inside the output (negative: cropped). */
kiln_status kiln_tensor_center_crop_offsets(const kiln_node *node, const kiln_tview *in,
                                            int32_t n_in, int64_t *out_dims, int64_t *offset,
                                            int *known);

/* Constant: the value its attribute holds (value, value_float(s), value_int(s)); data
 * points into the attribute. */
kiln_status kiln_tensor_constant_value(const kiln_node *node, kiln_tview *value);

/* Shape: the [start, end) range of dims it returns (start/end attributes, opset 15). */
void kiln_tensor_shape_range(const kiln_node *node, int32_t rank, int64_t *start, int64_t *end);

#endif
