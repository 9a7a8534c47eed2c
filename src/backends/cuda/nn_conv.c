/*
 * Conv on the GPU through cuDNN's convolution (legacy descriptor API): 1-D (as 2-D with H = 1),
 * 2-D and 3-D, groups, strides, dilations, pads and auto_pad. Pads cuDNN cannot express
 * (begin != end) are applied by copying the input into a zero-padded buffer first. Bias is
 * added by an own per-channel kernel. Tactic: the cuDNN forward algorithm
 * (cudnnConvolutionFwdAlgo_t) found fastest by cudnnFindConvolutionForwardAlgorithmEx at
 * build time; without one, cudnnGetConvolutionForwardAlgorithm_v7's first that fits.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime.h>

#include "backends/cuda/nn_common.h"
#include "ir/shape_nn.h"

#ifdef KILN_HAVE_CUDNN
#include <cudnn.h>

/* The most workspace one convolution algorithm may use. */
#define CONV_WORKSPACE_CAP ((size_t)1 << 30)
#define CONV_KEY_LEN 48

typedef struct conv_state {
    cudnnTensorDescriptor_t xd, yd;
    cudnnFilterDescriptor_t wd;
    cudnnConvolutionDescriptor_t cd;
    int64_t key[CONV_KEY_LEN];
    int valid;
    cudnnConvolutionFwdAlgo_t algo;
    size_t ws_bytes;
} conv_state;

static void conv_state_destroy(void *p) {
    conv_state *s = p;
    if (!s) return;
    if (s->xd) cudnnDestroyTensorDescriptor(s->xd);
    if (s->yd) cudnnDestroyTensorDescriptor(s->yd);
    if (s->wd) cudnnDestroyFilterDescriptor(s->wd);
    if (s->cd) cudnnDestroyConvolutionDescriptor(s->cd);
    free(s);
}

static cudnnDataType_t conv_cudnn_dtype(kiln_dtype t) {
    return t == KILN_DTYPE_FLOAT16    ? CUDNN_DATA_HALF
           : t == KILN_DTYPE_BFLOAT16 ? CUDNN_DATA_BFLOAT16
                                      : CUDNN_DATA_FLOAT;
}

/* Everything one run needs beyond the state: the geometry and where the (padded) input is. */
typedef struct conv_plan {
    kiln_nn_window win;
    int64_t group;
    int padded;              /* the input goes through a zero-padded copy */
    kiln_cuda_nn_win3 pad;   /* that copy's geometry (planes = N * C) */
    size_t pad_bytes;
    int nd;                  /* cuDNN tensor rank: 4 or 5 */
    int xdims[5], wdims[5], ydims[5];
    int cpad[3], cstride[3], cdil[3];
} conv_plan;

static int fits_int(int64_t v) {
    return v >= 0 && v <= INT_MAX;
}

/* Geometry of the node on these shapes, in cuDNN's terms. */
static kiln_status conv_make_plan(const kiln_node *node, const kiln_tview *x, const kiln_tview *w,
                                  const kiln_tview *y, conv_plan *p) {
    memset(p, 0, sizeof *p);
    int32_t nsp = x->rank - 2;
    if (nsp < 1 || nsp > 3 || w->rank != x->rank || y->rank != x->rank)
        return kiln_node_error(KILN_ERR_UNSUPPORTED, node, "cuDNN conv: %d spatial dims", (int)nsp);
    KILN_TRY(kiln_nn_window_init(node, nsp, x->dims + 2, w->dims + 2, 0, &p->win));
    p->group = kiln_attr_int(node, "group", 1);
    if (p->group < 1 || x->dims[1] % p->group || w->dims[0] % p->group ||
        w->dims[1] * p->group != x->dims[1])
        return kiln_shape_error(node, "channels do not match group %lld", (long long)p->group);
    for (int32_t i = 0; i < nsp; i++) {
        if (p->win.out[i] != y->dims[2 + i])
            return kiln_shape_error(node, "output size %lld differs from the window's %lld",
                                    (long long)y->dims[2 + i], (long long)p->win.out[i]);
        if (p->win.pad_begin[i] != p->win.pad_end[i]) p->padded = 1;
        if (p->win.pad_begin[i] < 0 || p->win.pad_end[i] < 0)
            return kiln_node_error(KILN_ERR_UNSUPPORTED, node, "negative pads");
    }
    /* Normalized to 3 spatial dims for the padding kernel. */
    int32_t lead = 3 - nsp;
    for (int32_t d = 0; d < 3; d++) {
        int32_t s = d - lead;
        int64_t pb = s >= 0 && p->padded ? p->win.pad_begin[s] : 0;
        int64_t pe = s >= 0 && p->padded ? p->win.pad_end[s] : 0;
        p->pad.in[d] = s >= 0 ? x->dims[2 + s] : 1;
        p->pad.out[d] = p->pad.in[d] + pb + pe;
        p->pad.pad_begin[d] = pb;
        p->pad.pad_end[d] = pe;
        p->pad.kernel[d] = p->pad.stride[d] = p->pad.dilation[d] = 1;
    }
    int64_t xd[5], wd[5], yd[5];
    int64_t cpad[3], cstride[3], cdil[3];
    p->nd = nsp == 3 ? 5 : 4;
    xd[0] = x->dims[0];
    xd[1] = x->dims[1];
    wd[0] = w->dims[0];
    wd[1] = w->dims[1];
    yd[0] = y->dims[0];
    yd[1] = y->dims[1];
    int32_t first = p->nd - 2 - nsp; /* 1 for 1-D (H = 1), else 0 */
    for (int32_t d = 0; d < p->nd - 2; d++) {
        int32_t s = d - first;
        if (s < 0) {
            xd[2 + d] = wd[2 + d] = yd[2 + d] = 1;
            cpad[d] = 0;
            cstride[d] = cdil[d] = 1;
            continue;
        }
        xd[2 + d] = p->padded ? x->dims[2 + s] + p->win.pad_begin[s] + p->win.pad_end[s] : x->dims[2 + s];
        wd[2 + d] = w->dims[2 + s];
        yd[2 + d] = y->dims[2 + s];
        cpad[d] = p->padded ? 0 : p->win.pad_begin[s];
        cstride[d] = p->win.stride[s];
        cdil[d] = p->win.dilation[s];
    }
    int64_t xn = 1, wn = 1, yn = 1;
    for (int d = 0; d < p->nd; d++) {
        if (!fits_int(xd[d]) || !fits_int(wd[d]) || !fits_int(yd[d]))
            return kiln_node_error(KILN_ERR_UNSUPPORTED, node, "cuDNN conv: dims beyond int");
        xn *= xd[d];
        wn *= wd[d];
        yn *= yd[d];
        p->xdims[d] = (int)xd[d];
        p->wdims[d] = (int)wd[d];
        p->ydims[d] = (int)yd[d];
    }
    if (!fits_int(xn) || !fits_int(wn) || !fits_int(yn))
        return kiln_node_error(KILN_ERR_UNSUPPORTED, node,
                               "cuDNN conv: a tensor of more than 2^31 elements");
    for (int d = 0; d < p->nd - 2; d++) {
        if (!fits_int(cpad[d]) || !fits_int(cstride[d]) || !fits_int(cdil[d]))
            return kiln_node_error(KILN_ERR_UNSUPPORTED, node, "cuDNN conv: window beyond int");
        p->cpad[d] = (int)cpad[d];
        p->cstride[d] = (int)cstride[d];
        p->cdil[d] = (int)cdil[d];
    }
    p->pad_bytes = p->padded ? kiln_cuda_nn_align((size_t)xn * kiln_cuda_nn_esize(x->dtype)) : 0;
    return KILN_OK;
}

static void packed_strides(const int *dims, int nd, int *strides) {
    int s = 1;
    for (int d = nd - 1; d >= 0; d--) {
        strides[d] = s;
        s *= dims[d];
    }
}

static cudnnMathType_t conv_math(kiln_cuda_ctx *ctx, kiln_dtype dt) {
    if (dt != KILN_DTYPE_FLOAT32) return CUDNN_TENSOR_OP_MATH;
    return kiln_cuda_allow_tf32(ctx) ? CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION : CUDNN_FMA_MATH;
}

/* The node's state with descriptors for this plan (rebuilt when shapes change). */
static kiln_status conv_get_state(kiln_cuda_ctx *ctx, const kiln_node *node, kiln_dtype dt,
                                  const conv_plan *p, conv_state **out) {
    void **slot = kiln_cuda_node_state(ctx, conv_state_destroy);
    conv_state *s = *slot;
    if (!s) {
        s = calloc(1, sizeof *s);
        if (!s) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
        *slot = s;
        KILN_TRY(kiln_cudnn_check(node, cudnnCreateTensorDescriptor(&s->xd), "cudnnCreateTensorDescriptor"));
        KILN_TRY(kiln_cudnn_check(node, cudnnCreateTensorDescriptor(&s->yd), "cudnnCreateTensorDescriptor"));
        KILN_TRY(kiln_cudnn_check(node, cudnnCreateFilterDescriptor(&s->wd), "cudnnCreateFilterDescriptor"));
        KILN_TRY(kiln_cudnn_check(node, cudnnCreateConvolutionDescriptor(&s->cd),
                                  "cudnnCreateConvolutionDescriptor"));
    }
    cudnnMathType_t math = conv_math(ctx, dt);
    int64_t key[CONV_KEY_LEN] = {0};
    int k = 0;
    key[k++] = dt;
    key[k++] = math;
    key[k++] = p->nd;
    key[k++] = p->group;
    key[k++] = kiln_attr_int(node, "_kiln_tactic", -1);
    for (int d = 0; d < p->nd; d++) {
        key[k++] = p->xdims[d];
        key[k++] = p->wdims[d];
        key[k++] = p->ydims[d];
    }
    for (int d = 0; d < p->nd - 2; d++) {
        key[k++] = p->cpad[d];
        key[k++] = p->cstride[d];
        key[k++] = p->cdil[d];
    }
    *out = s;
    if (s->valid && !memcmp(key, s->key, sizeof key)) return KILN_OK;
    s->valid = 0;
    cudnnDataType_t cdt = conv_cudnn_dtype(dt);
    int strides[5];
    packed_strides(p->xdims, p->nd, strides);
    KILN_TRY(kiln_cudnn_check(node, cudnnSetTensorNdDescriptor(s->xd, cdt, p->nd, p->xdims, strides),
                              "cudnnSetTensorNdDescriptor (x)"));
    KILN_TRY(kiln_cudnn_check(node,
                              cudnnSetFilterNdDescriptor(s->wd, cdt, CUDNN_TENSOR_NCHW, p->nd, p->wdims),
                              "cudnnSetFilterNdDescriptor"));
    KILN_TRY(kiln_cudnn_check(node,
                              cudnnSetConvolutionNdDescriptor(s->cd, p->nd - 2, p->cpad, p->cstride,
                                                              p->cdil, CUDNN_CROSS_CORRELATION,
                                                              CUDNN_DATA_FLOAT),
                              "cudnnSetConvolutionNdDescriptor"));
    KILN_TRY(kiln_cudnn_check(node, cudnnSetConvolutionGroupCount(s->cd, (int)p->group),
                              "cudnnSetConvolutionGroupCount"));
    KILN_TRY(kiln_cudnn_check(node, cudnnSetConvolutionMathType(s->cd, math),
                              "cudnnSetConvolutionMathType"));
    int odims[5];
    KILN_TRY(kiln_cudnn_check(node, cudnnGetConvolutionNdForwardOutputDim(s->cd, s->xd, s->wd, p->nd, odims),
                              "cudnnGetConvolutionNdForwardOutputDim"));
    for (int d = 0; d < p->nd; d++)
        if (odims[d] != p->ydims[d])
            return kiln_node_error(KILN_ERR_DEVICE, node,
                                   "cuDNN's output dim %d is %d, the shape function's %d", d,
                                   odims[d], p->ydims[d]);
    packed_strides(p->ydims, p->nd, strides);
    KILN_TRY(kiln_cudnn_check(node, cudnnSetTensorNdDescriptor(s->yd, cdt, p->nd, p->ydims, strides),
                              "cudnnSetTensorNdDescriptor (y)"));
    memcpy(s->key, key, sizeof key);
    s->valid = 1;
    s->ws_bytes = 0;
    s->algo = (cudnnConvolutionFwdAlgo_t)-1;
    return KILN_OK;
}

/* cuDNN's heuristic choice: the first algorithm that is supported and fits the cap;
 * `skip` (or -1) is left out. */
static kiln_status conv_heuristic(cudnnHandle_t h, const kiln_node *node, conv_state *s, int skip,
                                  cudnnConvolutionFwdAlgo_t *algo, size_t *ws) {
    cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    int n = 0;
    KILN_TRY(kiln_cudnn_check(node,
                              cudnnGetConvolutionForwardAlgorithm_v7(h, s->xd, s->wd, s->cd, s->yd,
                                                                     CUDNN_CONVOLUTION_FWD_ALGO_COUNT,
                                                                     &n, perf),
                              "cudnnGetConvolutionForwardAlgorithm_v7"));
    for (int i = 0; i < n; i++) {
        if (perf[i].status != CUDNN_STATUS_SUCCESS || (int)perf[i].algo == skip) continue;
        size_t bytes = 0;
        if (cudnnGetConvolutionForwardWorkspaceSize(h, s->xd, s->wd, s->cd, s->yd, perf[i].algo,
                                                    &bytes) != CUDNN_STATUS_SUCCESS)
            continue;
        if (bytes > CONV_WORKSPACE_CAP) continue;
        *algo = perf[i].algo;
        *ws = bytes;
        return KILN_OK;
    }
    return kiln_node_error(KILN_ERR_DEVICE, node,
                           "cuDNN has no convolution algorithm for these shapes within %zu bytes "
                           "of workspace",
                           (size_t)CONV_WORKSPACE_CAP);
}

/* The algorithm for this run: the tuned tactic when cuDNN accepts it here, else the
 * heuristic's. */
static kiln_status conv_choose(cudnnHandle_t h, const kiln_node *node, conv_state *s) {
    if (s->algo != (cudnnConvolutionFwdAlgo_t)-1) return KILN_OK;
    int64_t tactic = kiln_attr_int(node, "_kiln_tactic", -1);
    if (tactic >= 0 && tactic < CUDNN_CONVOLUTION_FWD_ALGO_COUNT) {
        size_t bytes = 0;
        if (cudnnGetConvolutionForwardWorkspaceSize(h, s->xd, s->wd, s->cd, s->yd,
                                                    (cudnnConvolutionFwdAlgo_t)tactic,
                                                    &bytes) == CUDNN_STATUS_SUCCESS &&
            bytes <= CONV_WORKSPACE_CAP) {
            s->algo = (cudnnConvolutionFwdAlgo_t)tactic;
            s->ws_bytes = bytes;
            return KILN_OK;
        }
    }
    return conv_heuristic(h, node, s, -1, &s->algo, &s->ws_bytes);
}

/* The input as cuDNN reads it: x itself, or its zero-padded copy at the start of ws. */
static kiln_status conv_input(kiln_cuda_ctx *ctx, const kiln_node *node, const kiln_tview *x,
                              const conv_plan *p, char *ws, const void **xp) {
    *xp = x->data;
    if (!p->padded) return KILN_OK;
    kiln_cuda_nn_pad(x->data, ws, x->dtype, x->dims[0] * x->dims[1], &p->pad, kiln_cuda_stream(ctx));
    KILN_TRY(kiln_cuda_check_launch(node, "kiln_cuda_nn_pad"));
    *xp = ws;
    return KILN_OK;
}

#endif /* KILN_HAVE_CUDNN */

int kiln_cuda_conv_supports(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                            const kiln_tview *out, int32_t n_out) {
#ifdef KILN_HAVE_CUDNN
    if (n_in < 2 || n_out < 1) return 0;
    const kiln_tview *x = &in[0], *w = &in[1];
    kiln_dtype dt = x->dtype;
    if (!kiln_cuda_nn_float(dt) || w->dtype != dt || out[0].dtype != dt) return 0;
    if (n_in > 2 && kiln_tview_present(&in[2]) && in[2].dtype != dt) return 0;
    if (x->rank < 3 || x->rank > 5) return 0;
    if (w->rank >= 0 && w->rank != x->rank) return 0;
    if (kiln_attr_int(node, "group", 1) < 1) return 0;
    const char *ap = kiln_attr_string(node, "auto_pad", "NOTSET");
    if (*ap && strcmp(ap, "NOTSET") && strcmp(ap, "VALID") && strcmp(ap, "SAME_UPPER") &&
        strcmp(ap, "SAME_LOWER"))
        return 0;
    int32_t cnt = 0;
    const int64_t *pads = kiln_attr_ints(node, "pads", &cnt);
    for (int32_t i = 0; pads && i < cnt; i++)
        if (pads[i] < 0) return 0;
    return 1;
#else
    (void)node, (void)in, (void)n_in, (void)out, (void)n_out;
    return 0;
#endif
}

kiln_status kiln_cuda_conv(kiln_cuda_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                           int32_t n_in, kiln_tview *out, int32_t n_out) {
#ifdef KILN_HAVE_CUDNN
    const kiln_tview *x = &in[0], *w = &in[1];
    const kiln_tview *b = n_in > 2 && kiln_tview_present(&in[2]) ? &in[2] : NULL;
    kiln_tview *y = &out[0];
    if (kiln_cuda_nn_count(y) == 0) return KILN_OK;
    conv_plan p;
    KILN_TRY(conv_make_plan(node, x, w, y, &p));
    if (kiln_cuda_nn_count(x) == 0 || kiln_cuda_nn_count(w) == 0)
        return kiln_node_error(KILN_ERR_UNSUPPORTED, node, "cuDNN conv: empty input or weights");
    cudnnHandle_t h = (cudnnHandle_t)kiln_cuda_cudnn(ctx);
    conv_state *s;
    KILN_TRY(conv_get_state(ctx, node, x->dtype, &p, &s));
    KILN_TRY(conv_choose(h, node, s));
    char *ws = kiln_cuda_workspace(ctx, p.pad_bytes + s->ws_bytes);
    if (!ws)
        return kiln_node_error(KILN_ERR_OUT_OF_MEMORY, node,
                               "out of device memory (%zu bytes of conv workspace)",
                               p.pad_bytes + s->ws_bytes);
    const void *xp;
    KILN_TRY(conv_input(ctx, node, x, &p, ws, &xp));
    const float one = 1.0f, zero = 0.0f;
    cudnnStatus_t cs = cudnnConvolutionForward(h, &one, s->xd, xp, s->wd, w->data, s->cd, s->algo,
                                               s->ws_bytes ? ws + p.pad_bytes : NULL, s->ws_bytes,
                                               &zero, s->yd, y->data);
    if (CUDNN_STATUS_CATEGORY(cs) == CUDNN_STATUS_NOT_SUPPORTED ||
        CUDNN_STATUS_CATEGORY(cs) == CUDNN_STATUS_BAD_PARAM) {
        /* The tuned algorithm does not take these shapes: the heuristic's next best. */
        cudnnConvolutionFwdAlgo_t algo;
        size_t bytes;
        KILN_TRY(conv_heuristic(h, node, s, (int)s->algo, &algo, &bytes));
        ws = kiln_cuda_workspace(ctx, p.pad_bytes + bytes);
        if (!ws)
            return kiln_node_error(KILN_ERR_OUT_OF_MEMORY, node,
                                   "out of device memory (%zu bytes of conv workspace)",
                                   p.pad_bytes + bytes);
        KILN_TRY(conv_input(ctx, node, x, &p, ws, &xp));
        s->algo = algo;
        s->ws_bytes = bytes;
        cs = cudnnConvolutionForward(h, &one, s->xd, xp, s->wd, w->data, s->cd, s->algo,
                                     bytes ? ws + p.pad_bytes : NULL, bytes, &zero, s->yd, y->data);
    }
    KILN_TRY(kiln_cudnn_check(node, cs, "cudnnConvolutionForward"));
    if (b) {
        int64_t inner = 1;
        for (int32_t d = 2; d < y->rank; d++) inner *= y->dims[d];
        kiln_cuda_nn_bias_channels(y->data, b->data, y->dtype, y->dims[0], y->dims[1], inner,
                                   kiln_cuda_stream(ctx));
        KILN_TRY(kiln_cuda_check_launch(node, "kiln_cuda_nn_bias_channels"));
    }
    return KILN_OK;
#else
    (void)ctx, (void)in, (void)n_in, (void)out, (void)n_out;
    return kiln_node_error(KILN_ERR_UNSUPPORTED, node, "this kiln was built without cuDNN");
#endif
}

int64_t kiln_cuda_conv_tune(kiln_cuda_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                            int32_t n_in, kiln_tview *out, int32_t n_out) {
#ifdef KILN_HAVE_CUDNN
    (void)n_in, (void)n_out;
    const kiln_tview *x = &in[0], *w = &in[1];
    kiln_tview *y = &out[0];
    if (kiln_cuda_nn_count(y) == 0 || kiln_cuda_nn_count(x) == 0 || kiln_cuda_nn_count(w) == 0)
        return -1;
    conv_plan p;
    if (conv_make_plan(node, x, w, y, &p) != KILN_OK) return -1;
    cudnnHandle_t h = (cudnnHandle_t)kiln_cuda_cudnn(ctx);
    conv_state *s;
    if (conv_get_state(ctx, node, x->dtype, &p, &s) != KILN_OK) return -1;
    /* Workspace for the search: what the hungriest algorithm within the cap asks. */
    size_t find_bytes = 0;
    for (int a = 0; a < CUDNN_CONVOLUTION_FWD_ALGO_COUNT; a++) {
        size_t bytes = 0;
        if (cudnnGetConvolutionForwardWorkspaceSize(h, s->xd, s->wd, s->cd, s->yd,
                                                    (cudnnConvolutionFwdAlgo_t)a,
                                                    &bytes) == CUDNN_STATUS_SUCCESS &&
            bytes <= CONV_WORKSPACE_CAP && bytes > find_bytes)
            find_bytes = bytes;
    }
    char *ws = NULL;
    for (;;) {
        ws = kiln_cuda_workspace(ctx, p.pad_bytes + find_bytes);
        if (ws || find_bytes == 0) break;
        find_bytes /= 4; /* less memory: the search skips the algorithms that need more */
        if (find_bytes < ((size_t)1 << 20)) find_bytes = 0;
    }
    if (!ws) return -1;
    const void *xp;
    if (conv_input(ctx, node, x, &p, ws, &xp) != KILN_OK) return -1;
    cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    int n = 0;
    if (cudnnFindConvolutionForwardAlgorithmEx(h, s->xd, xp, s->wd, w->data, s->cd, s->yd, y->data,
                                               CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &n, perf,
                                               find_bytes ? ws + p.pad_bytes : NULL,
                                               find_bytes) != CUDNN_STATUS_SUCCESS)
        return -1;
    for (int i = 0; i < n; i++)
        if (perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].memory <= CONV_WORKSPACE_CAP)
            return (int64_t)perf[i].algo;
    return -1;
#else
    (void)ctx, (void)node, (void)in, (void)n_in, (void)out, (void)n_out;
    return -1;
#endif
}
