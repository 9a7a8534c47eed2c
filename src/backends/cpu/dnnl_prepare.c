/*
 * Build-time preparation for the oneDNN kernels (see dnnl_common.h for what a prepared
 * node holds). For each Conv, MatMul and Gemm whose weights are a float32 constant read by
 * that node alone, the primitive the kernel will create is described at the profile's opt
 * shapes, its preferred weight layout queried ("any"), and the weights reordered into it
 * once: the engine, and so the plan, stores them that way. The kernel then finds them in
 * the layout it wants and runs with no reorder at all.
 */
#include "backends/cpu/dnnl_prepare.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/cpu/dnnl_common.h"

#ifdef KILN_HAVE_DNNL

#ifdef KILN_HAVE_OPENMP
#include <omp.h>
#endif

static int static_shape(const kiln_tview *v) {
    if (v->rank < 0) return 0;
    for (int32_t d = 0; d < v->rank; d++)
        if (v->dims[d] < 0) return 0;
    return 1;
}

/* Node inputs reading each tensor, plus one for a graph output. */
static int32_t *count_readers(const kiln_graph *g) {
    int32_t *n = calloc((size_t)g->tensor_count + 1, sizeof *n);
    if (!n) return NULL;
    for (int32_t i = 0; i < g->node_count; i++)
        for (int32_t k = 0; k < g->nodes[i].input_count; k++)
            if (g->nodes[i].inputs[k] >= 0) n[g->nodes[i].inputs[k]]++;
    for (int32_t i = 0; i < g->output_count; i++) n[g->outputs[i]]++;
    return n;
}

/* Reorders tensor wt (plain desc `plain`) into `best` and records it on node i. */
static kiln_status store_prepared(kiln_engine *e, int32_t i, int32_t wt, const kiln_tview *wl,
                                  const dnnl_memory_desc_t *plain, const dnnl_memory_desc_t *best) {
    kiln_graph *g = e->graph;
    const kiln_node *node = &g->nodes[i];
    int64_t layout[2 + 3 * KILN_MAX_DIMS + 2 * KILN_MAX_DIMS];
    int32_t n_layout =
        kiln_dnnl_layout_ints(best, layout, (int32_t)(sizeof layout / sizeof layout[0]));
    if (!n_layout) return KILN_OK; /* not a layout the fallback could decode: leave it plain */
    size_t bytes = dnnl_memory_desc_get_size(best);
    void *blob = aligned_alloc(64, kiln_nn_align(bytes ? bytes : 1));
    if (!blob) return kiln_node_error(KILN_ERR_OUT_OF_MEMORY, node, "out of memory");
    /* oneDNN leaves the padding of blocked layouts alone: zero it */
    memset(blob, 0, kiln_nn_align(bytes ? bytes : 1));
    dnnl_stream_t stream = NULL;
    kiln_status st = KILN_OK;
    if (dnnl_stream_create(&stream, kiln_dnnl_engine(), dnnl_stream_default_flags) != dnnl_success)
        st = kiln_node_error(KILN_ERR_INTERNAL, node, "cannot create a oneDNN stream");
    if (st == KILN_OK) st = kiln_dnnl_reorder(node, stream, plain, g->tensors[wt].data, best, blob);
    if (stream) dnnl_stream_destroy(stream);
    if (st != KILN_OK) {
        free(blob);
        return st;
    }
    kiln_ir_tensor *t = &g->tensors[wt];
    kiln_graph_take_constant(g, wt, blob, bytes);
    t->dtype = KILN_DTYPE_UINT8;
    t->rank = 1;
    memset(t->dims, 0, sizeof t->dims);
    t->dims[0] = (int64_t)bytes;
    KILN_TRY(kiln_node_set_ints(g, i, "_kiln_wshape", wl->dims, wl->rank));
    KILN_TRY(kiln_node_set_ints(g, i, "_kiln_wlayout", layout, n_layout));
    KILN_TRY(kiln_node_set_string(g, i, "_kiln_dnnl_wdesc", (const char *)best, sizeof *best));
    KILN_TRY(kiln_node_set_int(g, i, "_kiln_dnnl_version", kiln_dnnl_version()));
    KILN_TRY(kiln_node_set_int(g, i, "_kiln_tactic", KILN_TACTIC_DNNL));
    return KILN_OK;
}

/* Names node i's kernel cpu.<impl>.<Op> in the engine (kiln inspect, bench --profile): impl
 * "dnnl", or "winograd43" / "winograd_lanes" for the convolutions kiln's Winograd kernels take. */
static kiln_status name_dnnl(kiln_engine *e, int32_t i, const char *impl) {
    if (!e->kernel_names) return KILN_OK;
    char name[128];
    snprintf(name, sizeof name, "cpu.%s.%s", impl, kiln_op_get_info(e->graph->nodes[i].op)->name);
    char *copy = malloc(strlen(name) + 1);
    if (!copy) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
    strcpy(copy, name);
    free(e->kernel_names[i]);
    e->kernel_names[i] = copy;
    return KILN_OK;
}

/* Whether the oneDNN path will run node i (float32, an op it has, no output it lacks). */
static int runs_on_dnnl(const kiln_graph *g, int32_t i, const kiln_tview *views) {
    const kiln_node *n = &g->nodes[i];
    switch (n->op) {
    case KILN_OP_Conv:
    case KILN_OP_MatMul:
    case KILN_OP_Gemm:
    case KILN_OP_AveragePool:
    case KILN_OP_GlobalAveragePool:
    case KILN_OP_GlobalMaxPool:
    case KILN_OP_Softmax:
    case KILN_OP_LogSoftmax:
        break;
    case KILN_OP_MaxPool:
        if (n->output_count > 1 && n->outputs[1] >= 0) return 0; /* Indices */
        break;
    default:
        return 0;
    }
    return n->input_count > 0 && n->inputs[0] >= 0 &&
           views[n->inputs[0]].dtype == KILN_DTYPE_FLOAT32;
}

/* The views of node i's inputs at the opt shapes, with the weight input's data; 0 when a
 * shape the primitive needs is not static. */
static int node_views(const kiln_graph *g, const kiln_node *n, const kiln_tview *views,
                      kiln_tview *in, int32_t cap) {
    if (n->input_count > cap) return 0;
    for (int32_t k = 0; k < n->input_count; k++) {
        int32_t t = n->inputs[k];
        memset(&in[k], 0, sizeof in[k]);
        if (t < 0) {
            in[k].rank = -1;
            continue;
        }
        in[k] = views[t];
        in[k].data = g->tensors[t].data;
        if (!static_shape(&in[k])) return 0;
    }
    return n->output_count >= 1 && n->outputs[0] >= 0 && static_shape(&views[n->outputs[0]]);
}

/* The kiln Winograd kernel Conv node i runs on (its layouts planned), or NULL. */
static const char *runs_winograd(const kiln_graph *g, int32_t i, const kiln_tview *views) {
    const kiln_node *n = &g->nodes[i];
    kiln_tview in[4];
    if (n->op != KILN_OP_Conv || n->output_count < 1 || n->outputs[0] < 0 ||
        !node_views(g, n, views, in, 4) || n->input_count < 2)
        return NULL;
    return kiln_cpu_conv_wino_planned(n, &in[0], &in[1], &views[n->outputs[0]]);
}

static kiln_status prepare_node(kiln_engine *e, int32_t i, const kiln_tview *views,
                                const int32_t *readers, int threads) {
    kiln_graph *g = e->graph;
    const kiln_node *n = &g->nodes[i];
    if (n->op != KILN_OP_Conv && n->op != KILN_OP_MatMul && n->op != KILN_OP_Gemm) return KILN_OK;
    if (n->input_count < 2 || n->inputs[1] < 0 || kiln_node_attr(n, "_kiln_wshape")) return KILN_OK;
    int32_t wt = n->inputs[1];
    const kiln_ir_tensor *w = &g->tensors[wt];
    if (!w->data || w->dtype != KILN_DTYPE_FLOAT32 || readers[wt] != 1) return KILN_OK;
    kiln_tview in[4];
    if (!node_views(g, n, views, in, 4)) return KILN_OK;
    if (in[0].dtype != KILN_DTYPE_FLOAT32) return KILN_OK;
    const kiln_tview *y = &views[n->outputs[0]];
    kiln_tview wl = in[1];
    wl.rank = w->rank;
    memcpy(wl.dims, w->dims, sizeof wl.dims);
    in[1] = wl;
    dnnl_memory_desc_t plain, best;
    int ok = 0;
    if (n->op == KILN_OP_Conv) {
        int has_bias = n->input_count > 2 && n->inputs[2] >= 0;
        int has_sum = kiln_attr_int(n, "_kiln_sum_input", -1) >= 0;
        KILN_TRY(kiln_dnnl_conv_weights_md(n, &in[0], &wl, y, has_bias, has_sum, threads, &plain,
                                           &best, &ok));
    } else {
        if (w->rank != 2) return KILN_OK;
        KILN_TRY(
            kiln_dnnl_matmul_weights_md(n, in, n->input_count, y, threads, &plain, &best, &ok));
    }
    if (!ok) return KILN_OK;
    if (n->op == KILN_OP_Gemm && kiln_attr_int(n, "transB", 0)) {
        /* stored as B^T, i.e. (K, N): the node now reads it untransposed */
        int64_t kn[2] = {w->dims[1], w->dims[0]};
        wl.dims[0] = kn[0];
        wl.dims[1] = kn[1];
        KILN_TRY(store_prepared(e, i, wt, &wl, &plain, &best));
        if (kiln_node_attr(&g->nodes[i], "_kiln_wshape"))
            KILN_TRY(kiln_node_set_int(g, i, "transB", 0));
        return KILN_OK;
    }
    return store_prepared(e, i, wt, &wl, &plain, &best);
}

#endif

kiln_status kiln_cpu_prepare(kiln_engine *e, const kiln_tview *views) {
#ifdef KILN_HAVE_DNNL
    if (!kiln_dnnl_enabled() || !kiln_dnnl_engine()) return KILN_OK;
    kiln_graph *g = e->graph;
    int threads = e->num_threads;
#ifdef KILN_HAVE_OPENMP
    if (threads <= 0) threads = omp_get_num_procs();
#endif
    if (threads <= 0) threads = 1;
    int32_t *readers = count_readers(g);
    if (!readers) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
    /* layouts of activations first: the weights' best layout depends on them */
    int32_t blocked = 0;
    kiln_status st = kiln_dnnl_plan_layouts(e, views, threads, &blocked);
    for (int32_t i = 0; st == KILN_OK && i < g->node_count; i++) {
        st = prepare_node(e, i, views, readers, threads);
        if (st == KILN_OK && runs_on_dnnl(g, i, views)) {
            const char *wino = runs_winograd(g, i, views);
            st = name_dnnl(e, i, wino ? wino : "dnnl");
        }
    }
    free(readers);
    return st;
#else
    (void)e, (void)views;
    return KILN_OK;
#endif
}
