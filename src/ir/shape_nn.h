/*
 * NN family: sliding-window geometry shared by the shape functions and the CPU kernels of
 * Conv, ConvTranspose, the pools, DeformConv and Col2Im (one place decides output sizes
 * and the effective begin/end pads, so shapes and kernels can never disagree).
 */
#ifndef KILN_IR_SHAPE_NN_H
#define KILN_IR_SHAPE_NN_H

#include "ir/tview.h"

typedef struct kiln_nn_window {
    int32_t n; /* spatial rank */
    int64_t in[KILN_MAX_DIMS];
    int64_t out[KILN_MAX_DIMS]; /* -1 when the input dim is unknown */
    int64_t kernel[KILN_MAX_DIMS];
    int64_t stride[KILN_MAX_DIMS];
    int64_t dilation[KILN_MAX_DIMS];
    int64_t pad_begin[KILN_MAX_DIMS];
    int64_t pad_end[KILN_MAX_DIMS];
} kiln_nn_window;

/* Window of a Conv-like or pooling node over the spatial dims `in_dims[0..n)`: reads the
 * node's kernel_shape (unless `kernel` is given, e.g. from the weights), strides,
 * dilations, pads and auto_pad attributes; `pool` enables ceil_mode. */
kiln_status kiln_nn_window_init(const kiln_node *node, int32_t n, const int64_t *in_dims,
                                const int64_t *kernel, int pool, kiln_nn_window *w);

/* ConvTranspose's window: `in` is the input's spatial size, `out` the output's (honours
 * output_shape, output_padding and auto_pad); pads are those of the equivalent Conv. */
kiln_status kiln_nn_convtranspose_window(const kiln_node *node, int32_t n, const int64_t *in_dims,
                                         const int64_t *kernel, kiln_nn_window *w);

/* Resize / Upsample: per-dim scale factors and output sizes from whichever of scales,
 * sizes (with axes and keep_aspect_ratio_policy) the node's opset provides. `known` is 0
 * when a needed input's values are not available (static inference). */
typedef struct kiln_nn_resize_params {
    int32_t rank;
    int known;
    double scale[KILN_MAX_DIMS];
    int64_t out[KILN_MAX_DIMS];
    double roi_start[KILN_MAX_DIMS], roi_end[KILN_MAX_DIMS]; /* tf_crop_and_resize */
} kiln_nn_resize_params;

kiln_status kiln_nn_resize_params_init(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                       kiln_nn_resize_params *p);

/* Einsum: the parsed equation. Labels a-z are 0..25, A-Z 26..51, and the dims an ellipsis
 * stands for 52.. (right-aligned across inputs, so they broadcast like numpy). */
enum { KILN_NN_EINSUM_MAX_INPUTS = 16, KILN_NN_EINSUM_LABELS = 52 + KILN_MAX_DIMS };
typedef struct kiln_nn_einsum {
    int32_t n_inputs;
    int32_t in_rank[KILN_NN_EINSUM_MAX_INPUTS];
    int32_t in_labels[KILN_NN_EINSUM_MAX_INPUTS][KILN_MAX_DIMS];
    int32_t out_rank;
    int32_t out_labels[KILN_MAX_DIMS];
    int64_t label_dim[KILN_NN_EINSUM_LABELS]; /* 1 for unused labels, -1 unknown */
    uint8_t used[KILN_NN_EINSUM_LABELS];
} kiln_nn_einsum;

/* Parses the node's equation against its inputs' ranks and dims (dims may be -1). */
kiln_status kiln_nn_einsum_parse(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                 kiln_nn_einsum *e);

/* The weights of Conv / ConvTranspose / MatMul / Gemm as shapes see them. The CPU backend
 * may store a node's constant weights prepared for its kernels (reordered into oneDNN's
 * blocked layout: a uint8 blob) with their logical dims in the `_kiln_wshape` attribute;
 * for such a node this gives a view with those dims and the dtype of `like` (the other
 * operand), else `w` itself. */
static inline const kiln_tview *kiln_nn_logical_weight(const kiln_node *node, const kiln_tview *w,
                                                       const kiln_tview *like, kiln_tview *tmp) {
    int32_t rank = 0;
    const int64_t *dims = kiln_attr_ints(node, "_kiln_wshape", &rank);
    if (!dims || w->dtype != KILN_DTYPE_UINT8 || w->rank != 1 || rank < 1 || rank > KILN_MAX_DIMS)
        return w;
    *tmp = *w;
    tmp->dtype = like->dtype;
    tmp->rank = rank;
    for (int32_t i = 0; i < rank; i++) tmp->dims[i] = dims[i];
    return tmp;
}

/* MatMul's folded Transposes (fusion contract: `_kiln_perm_a`, `_kiln_perm_b`, `_kiln_perm_y`,
 * each the `perm` of the Transpose it replaced): the permutation `attr` of node for a tensor
 * of `rank` dims into perm. 0: the node has none; -1: it is not a permutation of that rank
 * (an error for the caller to report); 1: perm set. */
int kiln_nn_matmul_perm(const kiln_node *node, const char *attr, int32_t rank, int32_t *perm);
/* dims / strides permuted as Transpose(perm) does: out[i] = in[perm[i]] (in and out apart). */
static inline void kiln_nn_permute_dims(int32_t rank, const int32_t *perm, const int64_t *in,
                                        int64_t *out) {
    for (int32_t i = 0; i < rank; i++) out[i] = in[perm[i]];
}

/* Floor division for possibly negative numerators (pads arithmetic). */
static inline int64_t kiln_nn_floordiv(int64_t a, int64_t b) {
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0))) q--;
    return q;
}

/* Normalizes an axis attribute against rank; -1 (and an error) when out of range. */
static inline int32_t kiln_nn_axis(int64_t axis, int32_t rank) {
    if (axis < -(int64_t)rank || axis >= rank) return -1;
    return (int32_t)(axis < 0 ? axis + rank : axis);
}

/* True for the float types the NN family computes (in float, or double for float64). */
static inline int kiln_nn_is_float(kiln_dtype t) {
    return t == KILN_DTYPE_FLOAT32 || t == KILN_DTYPE_FLOAT64 || t == KILN_DTYPE_FLOAT16 ||
           t == KILN_DTYPE_BFLOAT16;
}

#endif
