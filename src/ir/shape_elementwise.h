/* Elementwise family: how a binary op reads its second operand (shape functions and CPU
 * kernels must agree). */
#ifndef KILN_IR_SHAPE_ELEMENTWISE_H
#define KILN_IR_SHAPE_ELEMENTWISE_H

#include "ir/tview.h"

/*
 * The view (same data, other dims) that operand b of a binary op broadcasts as against a:
 *  - before opset 7 with broadcast=1 (legacy broadcasting), b's dims sit at `axis` of a's
 *    shape (default: trailing), other dims 1;
 *  - PRelu's 1-D slope that numpy rules do not broadcast goes to the one dim of X with its
 *    length (as the ONNX reference implementation does: per-channel slopes of old models).
 * Otherwise a copy of *b. An error when legacy broadcasting cannot place b.
 */
kiln_status kiln_ew_operand_view(const kiln_node *node, const kiln_tview *a, const kiln_tview *b,
                                 kiln_tview *b_out);

#endif
