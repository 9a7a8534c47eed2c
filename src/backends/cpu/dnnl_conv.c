/*
 * Conv through oneDNN: 1-D to 3-D, groups (depthwise included), strides, dilations,
 * asymmetric pads, bias, and the fused epilogue as post-ops (sum for `_kiln_sum_input`,
 * eltwise for `_kiln_activation`).
 *
 * The primitive is created on a node's first run in a context (oneDNN picks the layouts:
 * weights and, for plain activations, src/dst are "any") and kept in the node's state with
 * everything derived from it, until the input shape changes. Weights arrive either plain
 * (reordered into the primitive's layout here, once for constants) or prepared at build
 * time (dnnl_prepare.c), in which case they are used as they are when the layouts agree.
 */
#include "backends/cpu/dnnl_common.h"

#ifdef KILN_HAVE_DNNL

#include <stdlib.h>
#include <string.h>

enum { MAX_SP = 3 };

typedef struct conv_key {
    int32_t rank;
    int64_t xd[2 + MAX_SP], yd[2 + MAX_SP];
    int threads;
} conv_key;

typedef struct conv_prim {
    conv_key key;
    dnnl_stream_t stream;
    dnnl_primitive_t prim;
    dnnl_primitive_t src_reorder, dst_reorder, sum_reorder, wei_reorder; /* NULL: not needed */
    dnnl_memory_desc_t src_md, dst_md, wei_md, usrc_md, udst_md, usum_md, uwei_md;
    size_t src_tmp, dst_tmp, scratch; /* bytes of scratch each needs (0: none) */
    int has_bias, has_sum;
    /* weights in the primitive's layout when they differ from the input's */
    void *wbuf;
    const void *wbuf_from; /* constant weights: the data wbuf was made from */
    dnnl_memory_t m_src, m_usrc, m_wei, m_uwei, m_bias, m_dst, m_udst, m_usum, m_scratch;
} conv_prim;

static void conv_prim_free(void *p) {
    conv_prim *c = p;
    if (!c) return;
    dnnl_primitive_t prims[] = {c->prim, c->src_reorder, c->dst_reorder, c->sum_reorder,
                                c->wei_reorder};
    for (size_t i = 0; i < sizeof prims / sizeof prims[0]; i++)
        if (prims[i]) dnnl_primitive_destroy(prims[i]);
    dnnl_memory_t mems[] = {c->m_src, c->m_usrc, c->m_wei,  c->m_uwei,    c->m_bias,
                            c->m_dst, c->m_udst, c->m_usum, c->m_scratch};
    for (size_t i = 0; i < sizeof mems / sizeof mems[0]; i++)
        if (mems[i]) dnnl_memory_destroy(mems[i]);
    if (c->stream) dnnl_stream_destroy(c->stream);
    free(c->wbuf);
    free(c);
}

/* A reorder primitive from a to b, or NULL (and no error) when the layouts agree. */
static dnnl_status_t make_reorder(const dnnl_memory_desc_t *a, const dnnl_memory_desc_t *b,
                                  dnnl_primitive_t *out) {
    *out = NULL;
    if (dnnl_memory_desc_equal(a, b)) return dnnl_success;
    dnnl_engine_t eng = kiln_dnnl_engine();
    dnnl_primitive_desc_t pd = NULL;
    dnnl_status_t st = dnnl_reorder_primitive_desc_create(&pd, a, eng, b, eng, NULL);
    if (st == dnnl_success) st = dnnl_primitive_create(out, pd);
    if (pd) dnnl_primitive_desc_destroy(pd);
    return st;
}

/* The convolution's descriptors at these shapes; *ok = 0 when oneDNN cannot express the
 * node (the reference kernel runs it). Shared with build-time preparation. */
typedef struct conv_geom {
    int32_t rank;
    int64_t xd[2 + MAX_SP], yd[2 + MAX_SP], wd[3 + MAX_SP];
    int32_t wrank;
    dnnl_dims_t strides, dilates, pad_l, pad_r;
} conv_geom;

static kiln_status conv_geometry(const kiln_node *node, const kiln_tview *x,
                                 const kiln_tview *w_logical, const kiln_tview *y, conv_geom *g,
                                 int *ok) {
    *ok = 0;
    int32_t sp = x->rank - 2;
    if (sp < 1 || sp > MAX_SP || w_logical->rank != x->rank || y->rank != x->rank) return KILN_OK;
    kiln_nn_window win;
    KILN_TRY(kiln_nn_window_init(node, sp, x->dims + 2, w_logical->dims + 2, 0, &win));
    int64_t group = kiln_attr_int(node, "group", 1);
    int64_t m = w_logical->dims[0];
    if (group < 1 || m % group || x->dims[1] != w_logical->dims[1] * group) return KILN_OK;
    memset(g, 0, sizeof *g);
    g->rank = x->rank;
    for (int32_t i = 0; i < x->rank; i++) {
        g->xd[i] = x->dims[i];
        g->yd[i] = y->dims[i];
    }
    for (int32_t i = 0; i < sp; i++) {
        if (win.pad_begin[i] < 0 || win.pad_end[i] < 0 || win.out[i] != y->dims[2 + i])
            return KILN_OK;
        g->strides[i] = win.stride[i];
        g->dilates[i] = win.dilation[i] - 1;
        g->pad_l[i] = win.pad_begin[i];
        g->pad_r[i] = win.pad_end[i];
    }
    if (group > 1) { /* oneDNN's grouped weights: (G, O/G, I/G, k...) */
        g->wrank = x->rank + 1;
        g->wd[0] = group;
        g->wd[1] = m / group;
        for (int32_t i = 1; i < x->rank; i++) g->wd[1 + i] = w_logical->dims[i];
    } else {
        g->wrank = x->rank;
        for (int32_t i = 0; i < x->rank; i++) g->wd[i] = w_logical->dims[i];
    }
    *ok = 1;
    return KILN_OK;
}

/* Creates the convolution primitive descriptor; src/dst blocks 0 mean "any" (oneDNN
 * chooses), the weights are always "any". NULL when oneDNN has no implementation. */
static dnnl_primitive_desc_t conv_pd(const kiln_node *node, const conv_geom *g, int has_bias,
                                     const kiln_nn_act *act, int has_sum, int64_t in_block,
                                     int64_t out_block) {
    dnnl_memory_desc_t src, wei, bias, dst;
    dnnl_dims_t d;
    for (int32_t i = 0; i < g->rank; i++) d[i] = g->xd[i];
    if (in_block ? kiln_dnnl_md(&src, g->rank, g->xd, in_block) != dnnl_success
                 : dnnl_memory_desc_init_by_tag(&src, g->rank, d, dnnl_f32, dnnl_format_tag_any) !=
                       dnnl_success)
        return NULL;
    for (int32_t i = 0; i < g->rank; i++) d[i] = g->yd[i];
    if (out_block ? kiln_dnnl_md(&dst, g->rank, g->yd, out_block) != dnnl_success
                  : dnnl_memory_desc_init_by_tag(&dst, g->rank, d, dnnl_f32, dnnl_format_tag_any) !=
                        dnnl_success)
        return NULL;
    for (int32_t i = 0; i < g->wrank; i++) d[i] = g->wd[i];
    if (dnnl_memory_desc_init_by_tag(&wei, g->wrank, d, dnnl_f32, dnnl_format_tag_any) !=
        dnnl_success)
        return NULL;
    d[0] = g->yd[1];
    if (has_bias && dnnl_memory_desc_init_by_tag(&bias, 1, d, dnnl_f32, dnnl_a) != dnnl_success)
        return NULL;
    dnnl_convolution_desc_t cd;
    if (dnnl_dilated_convolution_forward_desc_init(&cd, dnnl_forward_inference,
                                                   dnnl_convolution_direct, &src, &wei,
                                                   has_bias ? &bias : NULL, &dst, g->strides,
                                                   g->dilates, g->pad_l, g->pad_r) != dnnl_success)
        return NULL;
    dnnl_primitive_attr_t attr = NULL;
    if (!kiln_dnnl_make_attr(act, has_sum ? 1.0f : 0.0f, &attr)) return NULL;
    dnnl_primitive_desc_t pd = NULL;
    if (dnnl_primitive_desc_create(&pd, &cd, attr, kiln_dnnl_engine(), NULL) != dnnl_success)
        pd = NULL;
    dnnl_primitive_attr_destroy(attr);
    (void)node;
    return pd;
}

/* The primitive and its surroundings for these shapes. *ok = 0: not for oneDNN. */
static kiln_status conv_build(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                              const kiln_tview *w_logical, int prepared, const kiln_tview *y,
                              int has_bias, int has_sum, const kiln_nn_act *act, conv_prim **out,
                              int *ok) {
    *out = NULL;
    conv_geom g;
    KILN_TRY(conv_geometry(node, &in[0], w_logical, y, &g, ok));
    if (!*ok) return KILN_OK;
    *ok = 0;
    int64_t in_block = kiln_nn_in_block(node), out_block = kiln_nn_out_block(node);
    int64_t sum_block = kiln_nn_sum_block(node);
    dnnl_memory_desc_t uwei;
    dnnl_dims_t d;
    if (prepared) {
        if (!kiln_dnnl_wdesc(node, &uwei) || uwei.ndims != g.wrank) return KILN_OK;
        for (int32_t i = 0; i < g.wrank; i++)
            if (uwei.dims[i] != g.wd[i]) return KILN_OK;
    } else {
        for (int32_t i = 0; i < g.wrank; i++) d[i] = g.wd[i];
        static const dnnl_format_tag_t plain[] = {dnnl_abc, dnnl_abcd, dnnl_abcde, dnnl_abcdef};
        if (dnnl_memory_desc_init_by_tag(&uwei, g.wrank, d, dnnl_f32, plain[g.wrank - 3]) !=
            dnnl_success)
            return KILN_OK;
    }
    dnnl_primitive_desc_t pd = conv_pd(node, &g, has_bias, act, has_sum, in_block, out_block);
    if (!pd) return KILN_OK;
    conv_prim *c = calloc(1, sizeof *c);
    if (!c) {
        dnnl_primitive_desc_destroy(pd);
        return kiln_node_error(KILN_ERR_OUT_OF_MEMORY, node, "out of memory");
    }
    c->key.rank = g.rank;
    memcpy(c->key.xd, g.xd, sizeof g.xd);
    memcpy(c->key.yd, g.yd, sizeof g.yd);
    c->key.threads = kiln_cpu_threads(ctx);
    c->has_bias = has_bias;
    c->has_sum = has_sum;
    c->uwei_md = uwei;
    c->src_md = *dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
    c->dst_md = *dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
    c->wei_md = *dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    c->scratch = dnnl_memory_desc_get_size(dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0));
    dnnl_engine_t eng = kiln_dnnl_engine();
    dnnl_status_t st = dnnl_primitive_create(&c->prim, pd);
    dnnl_primitive_desc_destroy(pd);
    if (st == dnnl_success) st = kiln_dnnl_md(&c->usrc_md, g.rank, g.xd, in_block);
    if (st == dnnl_success) st = kiln_dnnl_md(&c->udst_md, g.rank, g.yd, out_block);
    if (st == dnnl_success && has_sum) st = kiln_dnnl_md(&c->usum_md, g.rank, g.yd, sum_block);
    if (st == dnnl_success) st = make_reorder(&c->usrc_md, &c->src_md, &c->src_reorder);
    if (st == dnnl_success) st = make_reorder(&c->dst_md, &c->udst_md, &c->dst_reorder);
    if (st == dnnl_success && has_sum) st = make_reorder(&c->usum_md, &c->dst_md, &c->sum_reorder);
    if (st == dnnl_success) st = make_reorder(&c->uwei_md, &c->wei_md, &c->wei_reorder);
    if (st == dnnl_success && c->src_reorder) c->src_tmp = dnnl_memory_desc_get_size(&c->src_md);
    if (st == dnnl_success && c->dst_reorder) c->dst_tmp = dnnl_memory_desc_get_size(&c->dst_md);
    if (st == dnnl_success && c->wei_reorder) {
        c->wbuf = aligned_alloc(64, kiln_nn_align(dnnl_memory_desc_get_size(&c->wei_md)));
        if (!c->wbuf) st = dnnl_out_of_memory;
    }
    dnnl_memory_desc_t bias_md, scratch_md;
    d[0] = g.yd[1];
    if (st == dnnl_success) st = dnnl_memory_desc_init_by_tag(&bias_md, 1, d, dnnl_f32, dnnl_a);
    d[0] = (int64_t)(c->scratch ? c->scratch : 1);
    if (st == dnnl_success) st = dnnl_memory_desc_init_by_tag(&scratch_md, 1, d, dnnl_u8, dnnl_a);
    if (st == dnnl_success) st = dnnl_memory_create(&c->m_src, &c->src_md, eng, DNNL_MEMORY_NONE);
    if (st == dnnl_success) st = dnnl_memory_create(&c->m_usrc, &c->usrc_md, eng, DNNL_MEMORY_NONE);
    if (st == dnnl_success) st = dnnl_memory_create(&c->m_wei, &c->wei_md, eng, DNNL_MEMORY_NONE);
    if (st == dnnl_success) st = dnnl_memory_create(&c->m_uwei, &c->uwei_md, eng, DNNL_MEMORY_NONE);
    if (st == dnnl_success) st = dnnl_memory_create(&c->m_bias, &bias_md, eng, DNNL_MEMORY_NONE);
    if (st == dnnl_success) st = dnnl_memory_create(&c->m_dst, &c->dst_md, eng, DNNL_MEMORY_NONE);
    if (st == dnnl_success) st = dnnl_memory_create(&c->m_udst, &c->udst_md, eng, DNNL_MEMORY_NONE);
    if (st == dnnl_success && has_sum)
        st = dnnl_memory_create(&c->m_usum, &c->usum_md, eng, DNNL_MEMORY_NONE);
    if (st == dnnl_success)
        st = dnnl_memory_create(&c->m_scratch, &scratch_md, eng, DNNL_MEMORY_NONE);
    if (st == dnnl_success) st = dnnl_stream_create(&c->stream, eng, dnnl_stream_default_flags);
    if (st != dnnl_success) {
        conv_prim_free(c);
        return kiln_dnnl_error(node, st, "creating the convolution");
    }
    *out = c;
    *ok = 1;
    return KILN_OK;
}

static int key_matches(const conv_prim *c, const kiln_tview *x, const kiln_tview *y, int threads) {
    if (c->key.rank != x->rank || c->key.threads != threads) return 0;
    for (int32_t i = 0; i < x->rank; i++)
        if (c->key.xd[i] != x->dims[i] || c->key.yd[i] != y->dims[i]) return 0;
    return 1;
}

static kiln_status run1(const kiln_node *node, dnnl_primitive_t p, dnnl_stream_t s, int n,
                        const dnnl_exec_arg_t *args) {
    dnnl_status_t st = dnnl_primitive_execute(p, s, n, args);
    return st == dnnl_success ? KILN_OK : kiln_dnnl_error(node, st, "executing a primitive");
}

static kiln_status set(const kiln_node *node, dnnl_memory_t m, const void *p) {
    dnnl_status_t st = dnnl_memory_set_data_handle(m, (void *)p);
    return st == dnnl_success ? KILN_OK : kiln_dnnl_error(node, st, "dnnl_memory_set_data_handle");
}

static kiln_status conv_execute(kiln_cpu_ctx *ctx, const kiln_node *node, conv_prim *c,
                                const kiln_tview *in, const kiln_tview *b, const kiln_tview *sum,
                                kiln_tview *y, int w_const) {
    size_t bytes = kiln_nn_align(c->scratch) + kiln_nn_align(c->src_tmp) + kiln_nn_align(c->dst_tmp);
    char *cur;
    KILN_TRY(kiln_nn_scratch(ctx, node, bytes + 64, &cur));
    cur = (char *)(((uintptr_t)cur + 63) & ~(uintptr_t)63);
    void *scratch = kiln_nn_carve(&cur, c->scratch);
    void *src_tmp = c->src_tmp ? kiln_nn_carve(&cur, c->src_tmp) : NULL;
    void *dst_tmp = c->dst_tmp ? kiln_nn_carve(&cur, c->dst_tmp) : NULL;
    void *dst = dst_tmp ? dst_tmp : y->data;
    const void *src = in[0].data;
    KILN_TRY(set(node, c->m_scratch, scratch));
    /* weights: the input itself, or reordered into wbuf (once, for constants) */
    const void *wei = in[1].data;
    if (c->wei_reorder) {
        if (!w_const || c->wbuf_from != in[1].data) {
            KILN_TRY(set(node, c->m_uwei, in[1].data));
            KILN_TRY(set(node, c->m_wei, c->wbuf));
            dnnl_exec_arg_t a[2] = {{DNNL_ARG_FROM, c->m_uwei}, {DNNL_ARG_TO, c->m_wei}};
            KILN_TRY(run1(node, c->wei_reorder, c->stream, 2, a));
            c->wbuf_from = w_const ? in[1].data : NULL;
        }
        wei = c->wbuf;
    }
    if (c->src_reorder) {
        KILN_TRY(set(node, c->m_usrc, src));
        KILN_TRY(set(node, c->m_src, src_tmp));
        dnnl_exec_arg_t a[2] = {{DNNL_ARG_FROM, c->m_usrc}, {DNNL_ARG_TO, c->m_src}};
        KILN_TRY(run1(node, c->src_reorder, c->stream, 2, a));
        src = src_tmp;
    }
    KILN_TRY(set(node, c->m_dst, dst));
    if (sum) { /* the sum post-op adds what dst holds */
        if (c->sum_reorder) {
            KILN_TRY(set(node, c->m_usum, sum->data));
            dnnl_exec_arg_t a[2] = {{DNNL_ARG_FROM, c->m_usum}, {DNNL_ARG_TO, c->m_dst}};
            KILN_TRY(run1(node, c->sum_reorder, c->stream, 2, a));
        } else {
            memcpy(dst, sum->data, dnnl_memory_desc_get_size(&c->dst_md));
        }
    }
    KILN_TRY(set(node, c->m_src, src));
    KILN_TRY(set(node, c->m_wei, wei));
    dnnl_exec_arg_t args[5] = {{DNNL_ARG_SRC, c->m_src},
                               {DNNL_ARG_WEIGHTS, c->m_wei},
                               {DNNL_ARG_DST, c->m_dst},
                               {DNNL_ARG_SCRATCHPAD, c->m_scratch},
                               {DNNL_ARG_BIAS, c->m_bias}};
    if (b) KILN_TRY(set(node, c->m_bias, b->data));
    KILN_TRY(run1(node, c->prim, c->stream, b ? 5 : 4, args));
    if (c->dst_reorder) {
        KILN_TRY(set(node, c->m_udst, y->data));
        dnnl_exec_arg_t a[2] = {{DNNL_ARG_FROM, c->m_dst}, {DNNL_ARG_TO, c->m_udst}};
        KILN_TRY(run1(node, c->dst_reorder, c->stream, 2, a));
    }
    dnnl_status_t st = dnnl_stream_wait(c->stream);
    return st == dnnl_success ? KILN_OK : kiln_dnnl_error(node, st, "dnnl_stream_wait");
}

kiln_status kiln_dnnl_conv(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                           int32_t n_in, kiln_tview *out, int *handled) {
    *handled = 0;
    const kiln_tview *x = &in[0], *w = &in[1];
    kiln_tview *y = &out[0];
    const kiln_tview *b = n_in > 2 && kiln_tview_present(&in[2]) ? &in[2] : NULL;
    if (x->dtype != KILN_DTYPE_FLOAT32 || y->dtype != KILN_DTYPE_FLOAT32 || !kiln_dnnl_engine())
        return KILN_OK;
    if (b && (b->dtype != KILN_DTYPE_FLOAT32 || kiln_tview_count(b) != y->dims[1])) return KILN_OK;
    int prepared = kiln_nn_weights_prepared(node, w);
    if (!prepared && w->dtype != KILN_DTYPE_FLOAT32) return KILN_OK;
    if (kiln_nn_count(y) == 0 || kiln_nn_count(x) == 0) return KILN_OK;
    kiln_nn_act act;
    KILN_TRY(kiln_nn_act_from_node(node, &act));
    const kiln_tview *sum = NULL;
    KILN_TRY(kiln_nn_sum_input(node, in, n_in, y, &sum));
    kiln_tview wl_tmp;
    const kiln_tview *wl = kiln_nn_logical_weight(node, w, x, &wl_tmp);
    kiln_nn_state *s = kiln_nn_node_state(ctx);
    if (!s) return kiln_node_error(KILN_ERR_OUT_OF_MEMORY, node, "out of memory");
    int threads = kiln_cpu_threads(ctx);
    conv_prim *c = s->dnnl;
    int previous = kiln_dnnl_threads_begin(threads);
    kiln_status st = KILN_OK;
    if (!c || !key_matches(c, x, y, threads) || c->has_bias != (b != NULL) ||
        c->has_sum != (sum != NULL)) {
        if (s->dnnl && s->dnnl_free) s->dnnl_free(s->dnnl);
        s->dnnl = NULL;
        int ok = 0;
        st = conv_build(ctx, node, in, wl, prepared, y, b != NULL, sum != NULL, &act, &c, &ok);
        if (st == KILN_OK && ok) {
            s->dnnl = c;
            s->dnnl_free = conv_prim_free;
        } else {
            c = NULL;
        }
    }
    if (st == KILN_OK && c) {
        st = conv_execute(ctx, node, c, in, b, sum, y, kiln_cpu_input_is_constant(ctx, 1));
        *handled = 1;
    }
    kiln_dnnl_threads_end(previous);
    return st;
}

/* ------------------------------------------------------------ build time ------------ */

kiln_status kiln_dnnl_conv_weights_md(const kiln_node *node, const kiln_tview *x,
                                      const kiln_tview *w, const kiln_tview *y, int has_bias,
                                      int has_sum, int threads, dnnl_memory_desc_t *plain,
                                      dnnl_memory_desc_t *best, int *ok) {
    conv_geom g;
    KILN_TRY(conv_geometry(node, x, w, y, &g, ok));
    if (!*ok) return KILN_OK;
    *ok = 0;
    kiln_nn_act act;
    KILN_TRY(kiln_nn_act_from_node(node, &act));
    int previous = kiln_dnnl_threads_begin(threads);
    dnnl_primitive_desc_t pd = conv_pd(node, &g, has_bias, &act, has_sum, kiln_nn_in_block(node),
                                       kiln_nn_out_block(node));
    kiln_dnnl_threads_end(previous);
    if (!pd) return KILN_OK;
    *best = *dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    dnnl_primitive_desc_destroy(pd);
    dnnl_dims_t d;
    for (int32_t i = 0; i < g.wrank; i++) d[i] = g.wd[i];
    static const dnnl_format_tag_t tags[] = {dnnl_abc, dnnl_abcd, dnnl_abcde, dnnl_abcdef};
    if (dnnl_memory_desc_init_by_tag(plain, g.wrank, d, dnnl_f32, tags[g.wrank - 3]) !=
        dnnl_success)
        return KILN_OK;
    *ok = 1;
    return KILN_OK;
}

#endif
