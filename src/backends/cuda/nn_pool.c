/*
 * Pooling on the GPU: MaxPool and AveragePool through cuDNN's pooling where cuDNN computes
 * exactly ONNX's result (no dilations, begin pads == end pads below the kernel size, and
 * the output size of floor mode, so ceil_mode only where it changes nothing); everything
 * else (asymmetric pads, ceil_mode adding windows, dilations) and builds without cuDNN run
 * an own direct kernel with the CPU reference's semantics. GlobalAveragePool and
 * GlobalMaxPool: an own reduction per (N, C) plane. MaxPool's Indices output is not
 * supported (the node runs on the CPU).
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "backends/cuda/nn_common.h"
#include "ir/shape_nn.h"

#ifdef KILN_HAVE_CUDNN
#include <cudnn.h>
#endif

/* Window normalized to 3 spatial dims. */
static kiln_status pool_window(const kiln_node *node, const kiln_tview *x, const kiln_tview *y,
                               kiln_cuda_nn_win3 *p) {
    int32_t nsp = x->rank - 2;
    if (nsp < 1 || nsp > 3 || y->rank != x->rank)
        return kiln_node_error(KILN_ERR_UNSUPPORTED, node, "pooling over %d spatial dims", (int)nsp);
    kiln_nn_window w;
    KILN_TRY(kiln_nn_window_init(node, nsp, x->dims + 2, NULL, 1, &w));
    int32_t lead = 3 - nsp;
    for (int32_t d = 0; d < 3; d++) {
        int32_t s = d - lead;
        p->in[d] = s >= 0 ? w.in[s] : 1;
        p->out[d] = s >= 0 ? w.out[s] : 1;
        p->kernel[d] = s >= 0 ? w.kernel[s] : 1;
        p->stride[d] = s >= 0 ? w.stride[s] : 1;
        p->dilation[d] = s >= 0 ? w.dilation[s] : 1;
        p->pad_begin[d] = s >= 0 ? w.pad_begin[s] : 0;
        p->pad_end[d] = s >= 0 ? w.pad_end[s] : 0;
        if (s >= 0 && p->out[d] != y->dims[2 + s])
            return kiln_shape_error(node, "output size %lld differs from the window's %lld",
                                    (long long)y->dims[2 + s], (long long)p->out[d]);
    }
    return KILN_OK;
}

#ifdef KILN_HAVE_CUDNN

typedef struct pool_state {
    cudnnTensorDescriptor_t xd, yd;
    cudnnPoolingDescriptor_t pd;
    int64_t key[32];
    int valid;
} pool_state;

static void pool_state_destroy(void *p) {
    pool_state *s = p;
    if (!s) return;
    if (s->xd) cudnnDestroyTensorDescriptor(s->xd);
    if (s->yd) cudnnDestroyTensorDescriptor(s->yd);
    if (s->pd) cudnnDestroyPoolingDescriptor(s->pd);
    free(s);
}

/* Whether cuDNN's pooling gives exactly ONNX's result for this window. */
static int pool_cudnn_exact(const kiln_tview *x, const kiln_cuda_nn_win3 *p) {
    int64_t total = kiln_cuda_nn_count(x);
    if (total > INT_MAX) return 0;
    for (int d = 0; d < 3; d++) {
        if (p->dilation[d] != 1 || p->pad_begin[d] != p->pad_end[d]) return 0;
        if (p->pad_begin[d] >= p->kernel[d] || p->kernel[d] > INT_MAX || p->stride[d] > INT_MAX)
            return 0;
        /* cuDNN's output size: floor mode */
        int64_t span = p->in[d] + 2 * p->pad_begin[d] - p->kernel[d];
        if (span < 0 || span / p->stride[d] + 1 != p->out[d]) return 0;
    }
    return x->dims[0] <= INT_MAX && x->dims[1] <= INT_MAX;
}

static kiln_status pool_cudnn(kiln_cuda_ctx *ctx, const kiln_node *node, const kiln_tview *x,
                              kiln_tview *y, const kiln_cuda_nn_win3 *p, cudnnPoolingMode_t mode) {
    void **slot = kiln_cuda_node_state(ctx, pool_state_destroy);
    pool_state *s = *slot;
    if (!s) {
        s = calloc(1, sizeof *s);
        if (!s) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
        *slot = s;
        KILN_TRY(kiln_cudnn_check(node, cudnnCreateTensorDescriptor(&s->xd), "cudnnCreateTensorDescriptor"));
        KILN_TRY(kiln_cudnn_check(node, cudnnCreateTensorDescriptor(&s->yd), "cudnnCreateTensorDescriptor"));
        KILN_TRY(kiln_cudnn_check(node, cudnnCreatePoolingDescriptor(&s->pd), "cudnnCreatePoolingDescriptor"));
    }
    /* 1-D and 2-D as 4-D NCHW (H = 1 for 1-D), 3-D as 5-D NCDHW. */
    int nd = x->rank == 5 ? 5 : 4, first = 3 - (nd - 2);
    int xdims[5], ydims[5], win[3], pad[3], stride[3];
    xdims[0] = ydims[0] = (int)x->dims[0];
    xdims[1] = ydims[1] = (int)x->dims[1];
    for (int d = 0; d < nd - 2; d++) {
        xdims[2 + d] = (int)p->in[first + d];
        ydims[2 + d] = (int)p->out[first + d];
        win[d] = (int)p->kernel[first + d];
        pad[d] = (int)p->pad_begin[first + d];
        stride[d] = (int)p->stride[first + d];
    }
    int64_t key[32] = {0};
    int k = 0;
    key[k++] = x->dtype;
    key[k++] = mode;
    key[k++] = nd;
    for (int d = 0; d < nd; d++) {
        key[k++] = xdims[d];
        key[k++] = ydims[d];
    }
    for (int d = 0; d < nd - 2; d++) {
        key[k++] = win[d];
        key[k++] = pad[d];
        key[k++] = stride[d];
    }
    if (!s->valid || memcmp(key, s->key, sizeof key)) {
        s->valid = 0;
        cudnnDataType_t dt = x->dtype == KILN_DTYPE_FLOAT16    ? CUDNN_DATA_HALF
                             : x->dtype == KILN_DTYPE_BFLOAT16 ? CUDNN_DATA_BFLOAT16
                                                               : CUDNN_DATA_FLOAT;
        int xs[5], ys[5];
        xs[nd - 1] = ys[nd - 1] = 1;
        for (int d = nd - 2; d >= 0; d--) {
            xs[d] = xs[d + 1] * xdims[d + 1];
            ys[d] = ys[d + 1] * ydims[d + 1];
        }
        KILN_TRY(kiln_cudnn_check(node, cudnnSetTensorNdDescriptor(s->xd, dt, nd, xdims, xs),
                                  "cudnnSetTensorNdDescriptor (x)"));
        KILN_TRY(kiln_cudnn_check(node, cudnnSetTensorNdDescriptor(s->yd, dt, nd, ydims, ys),
                                  "cudnnSetTensorNdDescriptor (y)"));
        KILN_TRY(kiln_cudnn_check(node,
                                  cudnnSetPoolingNdDescriptor(s->pd, mode, CUDNN_NOT_PROPAGATE_NAN,
                                                              nd - 2, win, pad, stride),
                                  "cudnnSetPoolingNdDescriptor"));
        int odims[5];
        KILN_TRY(kiln_cudnn_check(node, cudnnGetPoolingNdForwardOutputDim(s->pd, s->xd, nd, odims),
                                  "cudnnGetPoolingNdForwardOutputDim"));
        for (int d = 0; d < nd; d++)
            if (odims[d] != ydims[d])
                return kiln_node_error(KILN_ERR_DEVICE, node,
                                       "cuDNN's pooling output dim %d is %d, the shape function's %d",
                                       d, odims[d], ydims[d]);
        memcpy(s->key, key, sizeof key);
        s->valid = 1;
    }
    const float one = 1.0f, zero = 0.0f;
    return kiln_cudnn_check(node,
                            cudnnPoolingForward((cudnnHandle_t)kiln_cuda_cudnn(ctx), s->pd, &one, s->xd,
                                                x->data, &zero, s->yd, y->data),
                            "cudnnPoolingForward");
}

#endif /* KILN_HAVE_CUDNN */

static kiln_status pool_run(kiln_cuda_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                            kiln_tview *out, int is_max) {
    const kiln_tview *x = &in[0];
    kiln_tview *y = &out[0];
    if (kiln_cuda_nn_count(y) == 0) return KILN_OK;
    kiln_cuda_nn_win3 p;
    KILN_TRY(pool_window(node, x, y, &p));
    int include_pad = !is_max && kiln_attr_int(node, "count_include_pad", 0) != 0;
#ifdef KILN_HAVE_CUDNN
    if (pool_cudnn_exact(x, &p))
        return pool_cudnn(ctx, node, x, y, &p,
                          is_max        ? CUDNN_POOLING_MAX
                          : include_pad ? CUDNN_POOLING_AVERAGE_COUNT_INCLUDE_PADDING
                                        : CUDNN_POOLING_AVERAGE_COUNT_EXCLUDE_PADDING);
#endif
    kiln_cuda_nn_pool(x->data, y->data, x->dtype, x->dims[0] * x->dims[1], &p, is_max, include_pad,
                      kiln_cuda_stream(ctx));
    return kiln_cuda_check_launch(node, "kiln_cuda_nn_pool");
}

static int pool_supports(const kiln_tview *in, int32_t n_in, const kiln_tview *out, int32_t n_out) {
    if (n_in < 1 || n_out < 1) return 0;
    kiln_dtype dt = in[0].dtype;
    if (!kiln_cuda_nn_float(dt) || out[0].dtype != dt) return 0;
    if (in[0].rank < 3 || in[0].rank > 5) return 0;
    for (int32_t i = 1; i < n_out; i++)
        if (kiln_tview_present(&out[i])) return 0; /* MaxPool's Indices */
    return 1;
}

int kiln_cuda_maxpool_supports(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                               const kiln_tview *out, int32_t n_out) {
    (void)node;
    return pool_supports(in, n_in, out, n_out);
}

int kiln_cuda_averagepool_supports(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                   const kiln_tview *out, int32_t n_out) {
    (void)node;
    return pool_supports(in, n_in, out, n_out);
}

kiln_status kiln_cuda_maxpool(kiln_cuda_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                              int32_t n_in, kiln_tview *out, int32_t n_out) {
    (void)n_in, (void)n_out;
    return pool_run(ctx, node, in, out, 1);
}

kiln_status kiln_cuda_averagepool(kiln_cuda_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                                  int32_t n_in, kiln_tview *out, int32_t n_out) {
    (void)n_in, (void)n_out;
    return pool_run(ctx, node, in, out, 0);
}

/* ------------------------------------------------------------------ global pooling -- */

static int global_supports(const kiln_tview *in, int32_t n_in, const kiln_tview *out,
                           int32_t n_out) {
    if (n_in < 1 || n_out < 1) return 0;
    kiln_dtype dt = in[0].dtype;
    return kiln_cuda_nn_float(dt) && out[0].dtype == dt && in[0].rank >= 2;
}

static kiln_status global_run(kiln_cuda_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                              kiln_tview *out, int is_max) {
    const kiln_tview *x = &in[0];
    int64_t planes = x->dims[0] * x->dims[1], size = 1;
    for (int32_t i = 2; i < x->rank; i++) size *= x->dims[i];
    if (planes == 0) return KILN_OK;
    kiln_cuda_nn_global_pool(x->data, out[0].data, x->dtype, planes, size, is_max,
                             kiln_cuda_stream(ctx));
    return kiln_cuda_check_launch(node, "kiln_cuda_nn_global_pool");
}

int kiln_cuda_globalaveragepool_supports(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                         const kiln_tview *out, int32_t n_out) {
    (void)node;
    return global_supports(in, n_in, out, n_out);
}

int kiln_cuda_globalmaxpool_supports(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                     const kiln_tview *out, int32_t n_out) {
    (void)node;
    return global_supports(in, n_in, out, n_out);
}

kiln_status kiln_cuda_globalaveragepool(kiln_cuda_ctx *ctx, const kiln_node *node,
                                        const kiln_tview *in, int32_t n_in, kiln_tview *out,
                                        int32_t n_out) {
    (void)n_in, (void)n_out;
    return global_run(ctx, node, in, out, 0);
}

kiln_status kiln_cuda_globalmaxpool(kiln_cuda_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                                    int32_t n_in, kiln_tview *out, int32_t n_out) {
    (void)n_in, (void)n_out;
    return global_run(ctx, node, in, out, 1);
}
