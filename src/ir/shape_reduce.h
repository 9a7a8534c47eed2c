/* Helpers the reduce family's shape functions share with its kernels. */
#ifndef KILN_IR_SHAPE_REDUCE_H
#define KILN_IR_SHAPE_REDUCE_H

#include "ir/tview.h"

/*
 * Which axes of input 0 a Reduce* node reduces: mask[d] = 1 for a reduced axis. Axes come
 * from the "axes" attribute (ReduceSum before 13, the others before 18) or from input 1;
 * no axes reduce every axis unless noop_with_empty_axes is set (then none). *known is 0
 * when the axes input has no data yet (static inference); mask is then unset.
 */
kiln_status kiln_reduce_axes_mask(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                  uint8_t mask[KILN_MAX_DIMS], int *known);

/* Normalizes axis (negative counts from the end) into [0, rank); an error when outside. */
kiln_status kiln_reduce_norm_axis(const kiln_node *node, int64_t axis, int32_t rank, int32_t *out);

#endif
