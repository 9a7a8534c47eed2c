/*
 * Build time: the layout of each activation between oneDNN nodes (dnnl_common.h, "Blocked
 * activations"), recorded on the nodes as _kiln_dnnl_in_block / _out_block / _sum_block.
 *
 * oneDNN's fastest kernels on AVX-512 read and write 16-channel blocks (nChw16c); a tensor
 * whose channels are no multiple of 16 (MobileNetV2's 24-channel stage) cannot be stored so
 * without padding, and a plain tensor between two oneDNN nodes costs a reorder at each of
 * them. Such tensors are stored channels-last (NHWC, any channel count) instead, and so is
 * a short gap of blocked tensors between two of them (inside an inverted-residual block:
 * leaving it blocked would cost two boundary reorders for nothing). Everything else stays
 * blocked: measured on MobileNetV2 (2 threads, Sapphire Rapids), the stem (whose plain
 * 3-channel input has oneDNN's fast "first convolution" kernel only with a blocked
 * output), the 16/32/96-channel layers before that stage and the small depthwise layers
 * after it are 10-50% slower channels-last. A conv whose input and output layouts differ
 * (a boundary) reorders one side into the layout its primitive wants (dnnl_conv.c's
 * conv_pd: the smaller tensor), and each boundary is moved a few nodes along its chain to
 * where that reorder is cheapest (slide_boundaries), as a boundary costs what its reorder
 * does (tens of microseconds at 56x56) and the layers around it run about as fast in
 * either layout. Where no tensor needs channels-last (ResNet-50), the plan is all-blocked.
 *
 * KILN_DNNL_LAYOUT=blocked|nhwc|mixed forces one plan (A/B runs; mixed: as the default,
 * but also where nothing needs channels-last); KILN_DNNL_NHWC_GAP=n sets the longest gap
 * of blocked tensors filled with channels-last (default 2), KILN_DNNL_BOUNDARY_REACH=n how
 * far a boundary may move (default 3; 0: not at all).
 */
#include "backends/cpu/dnnl_prepare.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "backends/cpu/dnnl_common.h"

#ifdef KILN_HAVE_DNNL

static int static_shape(const kiln_tview *v) {
    if (v->rank < 0) return 0;
    for (int32_t d = 0; d < v->rank; d++)
        if (v->dims[d] < 0) return 0;
    return 1;
}

static int is_pool(kiln_op op) {
    return op == KILN_OP_MaxPool || op == KILN_OP_AveragePool || op == KILN_OP_GlobalAveragePool ||
           op == KILN_OP_GlobalMaxPool;
}

/* A float32 4-D tensor of static shape whose channels split into blocks (any channel
 * count for channels-last). */
static int blockable_view(const kiln_tview *v, int64_t block) {
    return v->dtype == KILN_DTYPE_FLOAT32 && v->rank == 4 && static_shape(v) && v->dims[1] > 0 &&
           (block == KILN_NN_NHWC || v->dims[1] % block == 0);
}

/* The layout a tensor of view v would take under `block`: the block itself where the
 * channels allow it, else plain (0). */
static int64_t layout_of(const kiln_tview *v, int64_t block) {
    return blockable_view(v, block) ? block : 0;
}

/* Whether node i can read its input 0 in layout ib and write its output 0 in layout ob
 * (at least one of them not plain), with oneDNN picking a fast implementation for it. */
static int node_capable(const kiln_graph *g, int32_t i, const kiln_tview *views, int64_t ib,
                        int64_t ob, int threads) {
    const kiln_node *n = &g->nodes[i];
    if (n->op != KILN_OP_Conv && !is_pool(n->op)) return 0;
    if (n->input_count < 1 || n->inputs[0] < 0 || n->output_count < 1 || n->outputs[0] < 0)
        return 0;
    for (int32_t k = 1; k < n->output_count; k++)
        if (n->outputs[k] >= 0) return 0; /* MaxPool's Indices */
    const kiln_tview *x = &views[n->inputs[0]], *y = &views[n->outputs[0]];
    if (x->dtype != KILN_DTYPE_FLOAT32 || x->rank != 4 || !static_shape(x) || !static_shape(y))
        return 0;
    if (!ib && !ob) return 0;
    if (is_pool(n->op)) return ib && ob && kiln_dnnl_pool_fast(n, x, y, ib, ob, threads);
    if (n->input_count < 2 || n->inputs[1] < 0) return 0;
    const kiln_ir_tensor *w = &g->tensors[n->inputs[1]];
    if (w->dtype != KILN_DTYPE_FLOAT32 || w->rank != 4) return 0;
    kiln_tview wl;
    memset(&wl, 0, sizeof wl);
    wl.dtype = KILN_DTYPE_FLOAT32;
    wl.rank = w->rank;
    memcpy(wl.dims, w->dims, sizeof wl.dims);
    int has_bias = n->input_count > 2 && n->inputs[2] >= 0;
    int has_sum = kiln_attr_int(n, "_kiln_sum_input", -1) >= 0;
    return kiln_dnnl_conv_fast(n, x, &wl, y, has_bias, has_sum, ib, ob, threads);
}

/* node_capable with `block` on both sides where the channels allow it. */
static int block_capable(const kiln_graph *g, int32_t i, const kiln_tview *views, int64_t block,
                         int threads) {
    const kiln_node *n = &g->nodes[i];
    if (n->input_count < 1 || n->inputs[0] < 0 || n->output_count < 1 || n->outputs[0] < 0)
        return 0;
    return node_capable(g, i, views, layout_of(&views[n->inputs[0]], block),
                        layout_of(&views[n->outputs[0]], block), threads);
}

static void mark_outer_read(void *user, int32_t tensor) {
    ((uint8_t *)user)[tensor] = 1;
}

/*
 * Which tensors may stay in layout `block` (a channel block, or KILN_NN_NHWC) between nodes
 * that all run through oneDNN, so that no reorder runs between consecutive convolutions: a
 * tensor qualifies (ok[t] = 1) when its producer and every reader can take it so (as input
 * 0, or as a Conv's sum input), its channels allow the layout, and nothing else sees it (not
 * a graph output, not read by a subgraph). cap[i]: node i can.
 */
static void find_blocking(const kiln_graph *g, const kiln_tview *views, int threads, int64_t block,
                          const uint8_t *outer, uint8_t *cap, uint8_t *ok) {
    for (int32_t i = 0; i < g->node_count; i++)
        cap[i] = (uint8_t)block_capable(g, i, views, block, threads);
    memset(ok, 0, (size_t)g->tensor_count + 1);
    /* candidates: output 0 of a capable node */
    for (int32_t i = 0; i < g->node_count; i++) {
        const kiln_node *n = &g->nodes[i];
        if (!cap[i]) continue;
        int32_t t = n->outputs[0];
        ok[t] = (uint8_t)(blockable_view(&views[t], block) && !outer[t]);
    }
    for (int32_t i = 0; i < g->output_count; i++) ok[g->outputs[i]] = 0;
    /* every reader must take it blocked */
    for (int32_t i = 0; i < g->node_count; i++) {
        const kiln_node *n = &g->nodes[i];
        int64_t sum_index = n->op == KILN_OP_Conv ? kiln_attr_int(n, "_kiln_sum_input", -1) : -1;
        for (int32_t k = 0; k < n->input_count; k++) {
            int32_t t = n->inputs[k];
            if (t < 0 || !ok[t]) continue;
            if (!cap[i] || (k != 0 && k != sum_index)) ok[t] = 0;
            if (k == 0 && !blockable_view(&views[t], block)) ok[t] = 0;
        }
    }
}

/* Input 0 and output 0 of node i when both exist (else -1). */
static void ends(const kiln_node *n, int32_t *x, int32_t *y) {
    *x = n->input_count > 0 ? n->inputs[0] : -1;
    *y = n->output_count > 0 ? n->outputs[0] : -1;
    if (*x < 0 || *y < 0) *x = *y = -1;
}

/*
 * Channels-last for the blocked tensors of a gap of at most `gap` of them between two
 * channels-last ones along a chain of input 0 -> output 0 (nodes are in topological
 * order): fwd[t] counts the nodes from the last channels-last tensor upstream, bwd[t] to
 * the next one downstream.
 */
static void fill_gaps(const kiln_graph *g, int64_t *lay, const uint8_t *ok_nhwc, int64_t gap,
                      int32_t *fwd, int32_t *bwd) {
    int32_t nt = g->tensor_count;
    for (int32_t t = 0; t < nt; t++) fwd[t] = bwd[t] = INT_MAX / 4;
    for (int32_t i = 0; i < g->node_count; i++) {
        int32_t x, y;
        ends(&g->nodes[i], &x, &y);
        if (x < 0 || !lay[x] || !lay[y]) continue;
        int32_t f = (lay[x] == KILN_NN_NHWC ? 0 : fwd[x]) + 1;
        if (f < fwd[y]) fwd[y] = f;
    }
    for (int32_t i = g->node_count - 1; i >= 0; i--) {
        int32_t x, y;
        ends(&g->nodes[i], &x, &y);
        if (x < 0 || !lay[x] || !lay[y]) continue;
        int32_t b = (lay[y] == KILN_NN_NHWC ? 0 : bwd[y]) + 1;
        if (b < bwd[x]) bwd[x] = b;
    }
    for (int32_t t = 0; t < nt; t++)
        if (lay[t] > 0 && ok_nhwc[t] && (int64_t)fwd[t] + bwd[t] <= gap + 1) lay[t] = KILN_NN_NHWC;
}

/* What a boundary reorder of tensor t costs, in element units: a tensor whose channels are
 * no multiple of the block is reordered from or into a padded blocked layout, which oneDNN's
 * reorders do at about half the speed per element (measured: 24x56x56 padded 9-13 us, 96x56x56
 * unpadded 21-26 us, one thread). */
static double reorder_cost(const kiln_tview *v, int64_t block) {
    double n = 1;
    for (int32_t d = 0; d < v->rank; d++) n *= (double)v->dims[d];
    return v->dims[1] % block ? 2 * n : n;
}

/* A boundary node's cost: it reorders the cheaper of its input 0 and output 0. */
static double boundary_cost(const kiln_graph *g, const kiln_tview *views, int32_t i,
                            int64_t block) {
    const kiln_node *n = &g->nodes[i];
    double a = reorder_cost(&views[n->inputs[0]], block);
    double b = reorder_cost(&views[n->outputs[0]], block);
    return a < b ? a : b;
}

/*
 * Moves each boundary between channels-last and blocked (a node reading one and writing the
 * other) up to `reach` nodes along a chain (input 0 -> output 0, each tensor read once)
 * away from the channels-last region, to the node whose reorder is cheapest: the
 * network's narrowest point (MobileNetV2: out of the 24-channel stage not at the 144-channel
 * expansion but after the next block's strided depthwise and projection, 32x28x28).
 * producer[t]: the node writing t; reads[t]: how many inputs read it.
 */
static void slide_boundaries(const kiln_graph *g, const kiln_tview *views, int64_t block,
                             const uint8_t *ok_nhwc, const int32_t *producer, const int32_t *reads,
                             int reach, int64_t *lay) {
    for (int32_t i = 0; i < g->node_count; i++) {
        int32_t x, y;
        ends(&g->nodes[i], &x, &y);
        if (x < 0 || g->nodes[i].op != KILN_OP_Conv) continue;
        int exit = lay[x] == KILN_NN_NHWC && lay[y] == block;
        int entry = lay[x] == block && lay[y] == KILN_NN_NHWC;
        if (!exit && !entry) continue;
        double best = boundary_cost(g, views, i, block);
        int32_t cur = i, take = 0;
        for (int step = 1; step <= reach; step++) {
            /* exit: the next node reads cur's output; entry: the previous one writes its input */
            int32_t t = exit ? g->nodes[cur].outputs[0] : g->nodes[cur].inputs[0];
            int32_t next = -1;
            if (exit) {
                for (int32_t j = cur + 1; j < g->node_count && next < 0; j++)
                    if (g->nodes[j].input_count > 0 && g->nodes[j].inputs[0] == t) next = j;
            } else {
                next = producer[t];
            }
            if (next < 0 || reads[t] != 1 || !ok_nhwc[t] || lay[t] != block ||
                g->nodes[next].op != KILN_OP_Conv)
                break;
            int32_t nx, ny;
            ends(&g->nodes[next], &nx, &ny);
            if (nx < 0 || lay[exit ? ny : nx] != block || !ok_nhwc[exit ? ny : nx]) break;
            cur = next;
            double c = boundary_cost(g, views, cur, block);
            if (c < best) best = c, take = step;
        }
        /* channels-last for the tensors between node i and the chosen node */
        cur = i;
        for (int step = 0; step < take; step++) {
            int32_t t = exit ? g->nodes[cur].outputs[0] : g->nodes[cur].inputs[0];
            lay[t] = KILN_NN_NHWC;
            if (exit) {
                for (int32_t j = cur + 1; j < g->node_count; j++)
                    if (g->nodes[j].input_count > 0 && g->nodes[j].inputs[0] == t) {
                        cur = j;
                        break;
                    }
            } else {
                cur = producer[t];
            }
        }
    }
}

/* The layout node i writes its output 0 in: lay[] says, except that a pool's (N, C, 1, 1)
 * output (global average pool) is the same bytes in any layout, and so is tagged as its
 * input (one primitive that does not mix layouts) when lay[] leaves it plain. */
static int64_t pool_out(const kiln_graph *g, int32_t i, const kiln_tview *views,
                        const int64_t *lay) {
    const kiln_node *n = &g->nodes[i];
    int32_t x, y;
    ends(n, &x, &y);
    if (y < 0 || lay[y] || !lay[x]) return y >= 0 ? lay[y] : 0;
    int one = is_pool(n->op) && views[y].rank == 4;
    for (int32_t d = 2; one && d < 4; d++) one = views[y].dims[d] == 1;
    return one && blockable_view(&views[y], lay[x]) ? lay[x] : 0;
}

/*
 * Makes the mixed plan lay[] consistent: every oneDNN node whose input 0 / output 0
 * layouts it cannot take fast gets them back as in the all-blocked plan (ok_blk), or plain
 * where that does not help either. Only ever moves tensors towards plain: terminates.
 */
static void settle(const kiln_graph *g, const kiln_tview *views, int threads, int64_t block,
                   const uint8_t *ok_blk, int64_t *lay) {
    for (int changed = 1; changed;) {
        changed = 0;
        for (int32_t i = 0; i < g->node_count; i++) {
            int32_t x, y;
            ends(&g->nodes[i], &x, &y);
            if (x < 0 || (!lay[x] && !lay[y])) continue;
            if (node_capable(g, i, views, lay[x], pool_out(g, i, views, lay), threads)) continue;
            int32_t t[2] = {x, y};
            for (int k = 0; k < 2; k++) {
                int64_t back = lay[t[k]] == KILN_NN_NHWC && ok_blk[t[k]] ? block : 0;
                if (lay[t[k]] && lay[t[k]] != back) lay[t[k]] = back, changed = 1;
            }
        }
    }
}

/* Records lay[] on the nodes; *count: the tensors not plain. */
static kiln_status record(kiln_graph *g, const kiln_tview *views, int threads, const int64_t *lay,
                          int32_t *count) {
    kiln_status st = KILN_OK;
    for (int32_t t = 0; t < g->tensor_count; t++) *count += lay[t] != 0;
    for (int32_t i = 0; st == KILN_OK && i < g->node_count; i++) {
        const kiln_node *n = &g->nodes[i];
        int64_t sum_index = n->op == KILN_OP_Conv ? kiln_attr_int(n, "_kiln_sum_input", -1) : -1;
        int32_t x = n->input_count > 0 ? n->inputs[0] : -1;
        int32_t y = n->output_count ? n->outputs[0] : -1;
        int64_t ob = y >= 0 ? lay[y] : 0;
        if (!ob && y >= 0 && x >= 0 && lay[x]) {
            ob = pool_out(g, i, views, lay);
            if (ob && !node_capable(g, i, views, lay[x], ob, threads)) ob = 0;
        }
        if (ob) st = kiln_node_set_int(g, i, "_kiln_dnnl_out_block", ob);
        if (st == KILN_OK && x >= 0 && lay[x])
            st = kiln_node_set_int(g, i, "_kiln_dnnl_in_block", lay[x]);
        if (st == KILN_OK && sum_index > 0 && sum_index < n->input_count &&
            n->inputs[sum_index] >= 0 && lay[n->inputs[sum_index]])
            st = kiln_node_set_int(g, i, "_kiln_dnnl_sum_block", lay[n->inputs[sum_index]]);
    }
    return st;
}

kiln_status kiln_dnnl_plan_layouts(kiln_engine *e, const kiln_tview *views, int threads,
                                   int32_t *count) {
    kiln_graph *g = e->graph;
    *count = 0;
    int64_t block = kiln_dnnl_preferred_block();
    if (!block) return KILN_OK;
    const char *env = getenv("KILN_DNNL_LAYOUT");
    enum { AUTO, BLOCKED, NHWC, MIXED };
    int mode = !env                      ? AUTO
               : !strcmp(env, "blocked") ? BLOCKED
               : !strcmp(env, "nhwc")    ? NHWC
               : !strcmp(env, "mixed")   ? MIXED
                                         : AUTO;
    const char *gap_env = getenv("KILN_DNNL_NHWC_GAP");
    int64_t gap = gap_env ? strtol(gap_env, NULL, 10) : 2;
    const char *reach_env = getenv("KILN_DNNL_BOUNDARY_REACH");
    int reach = reach_env ? (int)strtol(reach_env, NULL, 10) : 3;
    size_t nt = (size_t)g->tensor_count + 1, nn = (size_t)g->node_count + 1;
    uint8_t *cap = calloc(nn, 1), *outer = calloc(nt, 1), *ok = calloc(nt, 1);
    uint8_t *ok_nhwc = calloc(nt, 1);
    int64_t *lay = calloc(nt, sizeof *lay);
    int32_t *fwd = calloc(nt, sizeof *fwd), *bwd = calloc(nt, sizeof *bwd);
    kiln_status st = KILN_OK;
    if (!cap || !outer || !ok || !ok_nhwc || !lay || !fwd || !bwd) {
        st = kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
        goto done;
    }
    for (int32_t i = 0; i < g->node_count; i++)
        kiln_node_outer_reads(&g->nodes[i], g, mark_outer_read, outer);
    find_blocking(g, views, threads, block, outer, cap, ok);
    find_blocking(g, views, threads, KILN_NN_NHWC, outer, cap, ok_nhwc);
    /* channels-last where the channels rule out the block (else plain), blocked elsewhere */
    int32_t need = 0;
    for (int32_t t = 0; t < g->tensor_count; t++) {
        int nhwc_only = ok_nhwc[t] && !ok[t] && !blockable_view(&views[t], block);
        need += nhwc_only;
        lay[t] = mode == NHWC      ? (ok_nhwc[t] ? KILN_NN_NHWC : 0)
                 : ok[t]           ? block
                 : mode == BLOCKED ? 0
                 : nhwc_only       ? KILN_NN_NHWC
                                   : 0;
    }
    if ((mode == AUTO && need) || mode == MIXED) {
        fill_gaps(g, lay, ok_nhwc, gap, fwd, bwd);
        /* fwd / bwd again, as each tensor's producer and reader count */
        for (int32_t t = 0; t < g->tensor_count; t++) fwd[t] = -1, bwd[t] = 0;
        for (int32_t i = 0; i < g->node_count; i++) {
            const kiln_node *n = &g->nodes[i];
            for (int32_t k = 0; k < n->output_count; k++)
                if (n->outputs[k] >= 0) fwd[n->outputs[k]] = i;
            for (int32_t k = 0; k < n->input_count; k++)
                if (n->inputs[k] >= 0) bwd[n->inputs[k]]++;
        }
        slide_boundaries(g, views, block, ok_nhwc, fwd, bwd, reach, lay);
        settle(g, views, threads, block, ok, lay);
    }
    st = record(g, views, threads, lay, count);
done:
    free(cap), free(outer), free(ok), free(ok_nhwc), free(lay), free(fwd), free(bwd);
    return st;
}

#endif
