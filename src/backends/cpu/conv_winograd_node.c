/*
 * Conv nodes on kiln's own Winograd kernels, tried before oneDNN (nn_conv.c): 3x3,
 * stride 1, pad 1, no dilation or groups, 16-channel blocks in and out (and for the
 * residual input, if the node has one), float32 plain weights, no activation but ReLU.
 * Which kernel:
 *
 * - F(4x4, 3x3) with stored transformed weights (conv_winograd_f43.c) where those fit in
 *   KILN_WINO43_MAX_BYTES (ResNet-50's 64- and 128-channel stages);
 * - else, on maps of at most 16 tiles (up to 16x16), F(4x4) or F(2x2) with the tiles in
 *   the lanes and the weights transformed as they are read (conv_winograd_lanes.c):
 *   ResNet-50's 256-channel layers at 14x14 and 512-channel ones at 7x7, whose weights
 *   come from L3 or memory at every run -- this kernel reads 9 floats a channel pair
 *   where oneDNN's F(2x2, 3x3) reads 16. KILN_WINO_LANES=0 in the environment turns it
 *   off;
 * - else oneDNN (dnnl_conv.c).
 *
 * Each kernel's weights are made from the plain ones once per context and kept in the
 * node's state.
 */
#include <stdatomic.h>
#include <stdlib.h>

#include "backends/cpu/conv_winograd_f43.h"
#include "backends/cpu/conv_winograd_lanes.h"
#include "backends/cpu/conv_winograd_node.h"

static _Atomic uint64_t wino43_node_runs, winol_node_runs;

uint64_t kiln_wino43_node_runs(void) {
    return atomic_load(&wino43_node_runs);
}

uint64_t kiln_winol_node_runs(void) {
    return atomic_load(&winol_node_runs);
}

#ifdef KILN_HAVE_DNNL
#include "backends/cpu/dnnl_common.h"

/* Transformed weights larger than this stay off F(4x4, 3x3) with stored weights: they are
 * streamed from L3 or memory at every run, and at 36 / 9 of the plain weights' size they
 * then cost more in waiting than the products save (ResNet-50's 256-channel layers,
 * 9.4 MB). KILN_WINO43_MAX_BYTES in the environment overrides it (0 turns that kernel
 * off), and KILN_DNNL_WINOGRAD=0, no Winograd at all, turns both kernels off. */
#define KILN_WINO43_MAX_BYTES (4.0 * 1024 * 1024)

static double wino43_max_bytes(void) {
    static double v = -1;
    if (v < 0) {
        const char *e = getenv("KILN_WINO43_MAX_BYTES");
        v = !kiln_dnnl_winograd_enabled() ? 0 : e && *e ? atof(e) : KILN_WINO43_MAX_BYTES;
    }
    return v;
}

static int winol_enabled(void) {
    static int v = -1;
    if (v < 0) {
        const char *e = getenv("KILN_WINO_LANES");
        v = kiln_dnnl_winograd_enabled() && !(e && *e == '0');
    }
    return v;
}

enum { WINO_NONE, WINO_F43, WINO_LANES };

/* Which of kiln's kernels computes the node (WINO_NONE: neither; see the top). */
static int wino_choice(const kiln_node *node, const kiln_tview *x, const kiln_tview *w,
                       const kiln_tview *y, const kiln_nn_act *act, int has_sum) {
    if (act->kind != KILN_NN_ACT_NONE && act->kind != KILN_NN_ACT_RELU) return WINO_NONE;
    if (has_sum && kiln_nn_sum_block(node) != 16) return WINO_NONE;
    if (x->rank != 4 || w->rank != 4 || y->rank != 4 || w->dtype != KILN_DTYPE_FLOAT32 ||
        kiln_nn_weights_prepared(node, w))
        return WINO_NONE;
    if (kiln_nn_in_block(node) != 16 || kiln_nn_out_block(node) != 16) return WINO_NONE;
    if (kiln_attr_int(node, "group", 1) != 1 || w->dims[1] != x->dims[1] ||
        w->dims[0] != y->dims[1] || w->dims[2] != 3 || w->dims[3] != 3 || y->dims[0] != x->dims[0])
        return WINO_NONE;
    kiln_nn_window win;
    if (kiln_nn_window_init(node, 2, x->dims + 2, w->dims + 2, 0, &win) != KILN_OK)
        return WINO_NONE;
    for (int i = 0; i < 2; i++)
        if (win.stride[i] != 1 || win.dilation[i] != 1 || win.pad_begin[i] != 1 ||
            win.pad_end[i] != 1 || y->dims[2 + i] != x->dims[2 + i])
            return WINO_NONE;
    int64_t c = x->dims[1], oc = y->dims[1];
    if (kiln_wino43_supported(c, oc) &&
        4.0 * (double)kiln_wino43_weights_floats(oc, c) <= wino43_max_bytes())
        return WINO_F43;
    if (winol_enabled() && kiln_winol_tile(c, oc, x->dims[2], x->dims[3])) return WINO_LANES;
    return WINO_NONE;
}

const char *kiln_cpu_conv_wino_planned(const kiln_node *node, const kiln_tview *x,
                                       const kiln_tview *w, const kiln_tview *y) {
    kiln_nn_act act;
    if (kiln_nn_act_from_node(node, &act) != KILN_OK) return NULL;
    if (x->dtype != KILN_DTYPE_FLOAT32 || y->dtype != KILN_DTYPE_FLOAT32) return NULL;
    int has_sum = kiln_attr_int(node, "_kiln_sum_input", -1) >= 0;
    switch (wino_choice(node, x, w, y, &act, has_sum)) {
    case WINO_F43:
        return "winograd43";
    case WINO_LANES:
        return "winograd_lanes";
    default:
        return NULL;
    }
}

kiln_status kiln_cpu_conv_winograd(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                                   int32_t n_in, kiln_tview *out, int *handled) {
    *handled = 0;
    const kiln_tview *x = &in[0], *w = &in[1];
    kiln_tview *y = &out[0];
    const kiln_tview *b = n_in > 2 && kiln_tview_present(&in[2]) ? &in[2] : NULL;
    if (x->dtype != KILN_DTYPE_FLOAT32 || y->dtype != KILN_DTYPE_FLOAT32) return KILN_OK;
    if (b && (b->dtype != KILN_DTYPE_FLOAT32 || kiln_tview_count(b) != y->dims[1])) return KILN_OK;
    kiln_nn_state *s = kiln_nn_node_state(ctx);
    if (!s) return kiln_node_error(KILN_ERR_OUT_OF_MEMORY, node, "out of memory");
    /* the answer for these shapes is kept: the checks below read a dozen attributes */
    uint64_t key = kiln_nn_run_key(in, n_in, y, kiln_cpu_threads(ctx));
    if (s->wino_declined == key) return KILN_OK;
    kiln_nn_act act;
    KILN_TRY(kiln_nn_act_from_node(node, &act));
    const kiln_tview *sum = NULL;
    KILN_TRY(kiln_nn_sum_input(node, in, n_in, y, &sum));
    int kind = wino_choice(node, x, w, y, &act, sum != NULL);
    if (kind == WINO_NONE) {
        s->wino_declined = key;
        return KILN_OK;
    }
    int64_t c = x->dims[1], oc = y->dims[1], h = x->dims[2], wd = x->dims[3];
    int w_const = kiln_cpu_input_is_constant(ctx, 1);
    /* the kernel's weights, made once from constant ones (each time from others) */
    if (!s->wino_u || !w_const || s->wino_u_from != w->data || s->wino_u_kind != kind) {
        size_t floats =
            kind == WINO_F43 ? kiln_wino43_weights_floats(oc, c) : kiln_winol_weights_floats(oc, c);
        size_t bytes = kiln_nn_align(sizeof(float) * floats);
        if (s->wino_u_bytes < bytes) {
            free(s->wino_u);
            s->wino_u_bytes = 0;
            s->wino_u = aligned_alloc(64, bytes);
            if (!s->wino_u) return kiln_node_error(KILN_ERR_OUT_OF_MEMORY, node, "out of memory");
            s->wino_u_bytes = bytes;
        }
        if (kind == WINO_F43)
            kiln_wino43_transform_weights((const float *)w->data, oc, c, s->wino_u);
        else
            kiln_winol_prepare_weights((const float *)w->data, oc, c, s->wino_u);
        s->wino_u_from = w_const ? w->data : NULL;
        s->wino_u_kind = kind;
    }
    double flops = 2.0 * (double)kiln_nn_count(y) * (double)c * 9.0;
    int threads = kiln_dnnl_threads_for(kiln_cpu_threads(ctx), flops);
    size_t scratch_floats = kind == WINO_F43 ? kiln_wino43_scratch_floats(oc, c, threads)
                                             : kiln_winol_scratch_floats(c, threads);
    char *cur;
    KILN_TRY(kiln_nn_scratch(ctx, node, sizeof(float) * scratch_floats + 64, &cur));
    float *scratch = (float *)(((uintptr_t)cur + 63) & ~(uintptr_t)63);
    const float *bias = b ? (const float *)b->data : NULL;
    const float *sum_data = sum ? (const float *)sum->data : NULL;
    int relu = act.kind == KILN_NN_ACT_RELU;
    if (kind == WINO_F43) {
        kiln_wino43_run((const float *)x->data, s->wino_u, bias, sum_data, (float *)y->data,
                        x->dims[0], c, oc, h, wd, relu, scratch, threads);
        atomic_fetch_add(&wino43_node_runs, 1);
    } else {
        kiln_winol_run((const float *)x->data, s->wino_u, bias, sum_data, (float *)y->data,
                       x->dims[0], c, oc, h, wd, relu, scratch, threads);
        atomic_fetch_add(&winol_node_runs, 1);
    }
    *handled = 1;
    return KILN_OK;
}

#endif
