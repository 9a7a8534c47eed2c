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
 *
 * Threads. Layouts are chosen by a single-threaded primitive descriptor (the same at build
 * time and at run time, whatever the thread count), then one primitive runs on OpenMP
 * threads. With KILN_DNNL_THREADING=pool (see dnnl_common.h), a single image whose layouts
 * need no reorder runs instead as slices of its output channels (groups for grouped
 * convolutions), one single-threaded primitive each, on the work-sharing pool.
 *
 * Algorithm. 3x3 stride-1 convolutions with channels in blocks of 16 run Winograd's
 * algorithm in kiln's own kernels where they take the layer (conv_winograd_node.c, tried
 * before this file: F(4x4, 3x3) where its weights fit in cache, else with the tiles in the
 * vector lanes on maps of up to 16 tiles), else F(2x2, 3x3) where oneDNN has it (about
 * twice as fast as direct on ResNet-50's 3x3 layers);
 * its weight layout depends on the thread count and is not a plain blocked one, so those
 * weights are not prepared at build time but reordered once per context.
 */
#include "backends/cpu/dnnl_common.h"

#ifdef KILN_HAVE_DNNL

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "backends/cpu/dnnl_threads.h"

enum { MAX_SP = 3, MAX_PARTS = 8 };

/* One slice of the output channels (or groups): its own primitive, stream and memories;
 * src/weights/bias/dst (and the sum prefill) sit at these byte offsets of the full ones. */
typedef struct conv_part {
    dnnl_primitive_t prim;
    dnnl_stream_t stream;
    dnnl_memory_t m_src, m_wei, m_bias, m_dst, m_sum, m_scratch;
    size_t src_off, wei_off, bias_off, dst_off, dst_bytes, scratch;
} conv_part;

typedef struct conv_key {
    int32_t rank;
    int64_t xd[2 + MAX_SP], yd[2 + MAX_SP], wd[2 + MAX_SP];
    int threads;
} conv_key;

typedef struct conv_prim {
    conv_key key;
    dnnl_stream_t stream;
    dnnl_primitive_t prim;
    dnnl_primitive_t src_reorder, dst_reorder, sum_reorder, wei_reorder; /* NULL: not needed */
    /* kiln_dnnl_channels_kind of the src / dst / sum reorders: non-zero runs kiln's own */
    int src_fast, dst_fast, sum_fast;
    dnnl_memory_desc_t src_md, dst_md, wei_md, usrc_md, udst_md, usum_md, uwei_md;
    size_t src_tmp, dst_tmp, scratch; /* bytes of scratch each needs (0: none) */
    int has_bias, has_sum;
    int sum_binary;  /* the sum input is read in place by a binary post-op (no prefill) */
    int omp_threads; /* the OpenMP threads prim runs with */
    /* weights in the primitive's layout when they differ from the input's */
    void *wbuf;
    const void *wbuf_from; /* constant weights: the data wbuf was made from */
    dnnl_memory_t m_src, m_usrc, m_wei, m_uwei, m_bias, m_dst, m_udst, m_usum, m_scratch;
    int nparts; /* > 1: the work runs as these slices on the pool (prim is then NULL) */
    conv_part part[MAX_PARTS];
} conv_prim;

static void part_free(conv_part *p) {
    if (p->prim) dnnl_primitive_destroy(p->prim);
    dnnl_memory_t pm[] = {p->m_src, p->m_wei, p->m_bias, p->m_dst, p->m_sum, p->m_scratch};
    for (size_t k = 0; k < sizeof pm / sizeof pm[0]; k++)
        if (pm[k]) dnnl_memory_destroy(pm[k]);
    if (p->stream) dnnl_stream_destroy(p->stream);
    memset(p, 0, sizeof *p);
}

static void conv_prim_free(void *p) {
    conv_prim *c = p;
    if (!c) return;
    dnnl_primitive_t prims[] = {c->prim, c->src_reorder, c->dst_reorder, c->sum_reorder,
                                c->wei_reorder};
    for (size_t i = 0; i < sizeof prims / sizeof prims[0]; i++)
        if (prims[i]) dnnl_primitive_destroy(prims[i]);
    dnnl_memory_t mems[] = {c->m_src, c->m_usrc, c->m_wei,  c->m_uwei,   c->m_bias,
                            c->m_dst, c->m_udst, c->m_usum, c->m_scratch};
    for (size_t i = 0; i < sizeof mems / sizeof mems[0]; i++)
        if (mems[i]) dnnl_memory_destroy(mems[i]);
    if (c->stream) dnnl_stream_destroy(c->stream);
    for (int i = 0; i < c->nparts; i++) part_free(&c->part[i]);
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
    dnnl_alg_kind_t alg; /* direct, or Winograd (set by conv_pd) */
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
    g->alg = dnnl_convolution_direct;
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

/* The convolution primitive descriptor from explicit descriptors (NULL: no implementation;
 * with no_ref, none but oneDNN's reference one). The sum input is added by a sum post-op
 * (dst prefilled), or with add_md by a binary post-op reading it in place. */
static dnnl_primitive_desc_t conv_pd_md(const conv_geom *g, const dnnl_memory_desc_t *src,
                                        const dnnl_memory_desc_t *wei,
                                        const dnnl_memory_desc_t *bias,
                                        const dnnl_memory_desc_t *dst, const kiln_nn_act *act,
                                        int has_sum, const dnnl_memory_desc_t *add_md, int no_ref) {
    dnnl_convolution_desc_t cd;
    if (dnnl_dilated_convolution_forward_desc_init(&cd, dnnl_forward_inference, g->alg, src, wei,
                                                   bias, dst, g->strides, g->dilates, g->pad_l,
                                                   g->pad_r) != dnnl_success)
        return NULL;
    dnnl_primitive_attr_t attr = NULL;
    if (!kiln_dnnl_make_attr_add(act, has_sum ? 1.0f : 0.0f, has_sum ? add_md : NULL, &attr))
        return NULL;
    dnnl_primitive_desc_t pd = NULL;
    if (dnnl_primitive_desc_create(&pd, &cd, attr, kiln_dnnl_engine(), NULL) != dnnl_success)
        pd = NULL;
    dnnl_primitive_attr_destroy(attr);
    const char *impl = NULL;
    if (pd && no_ref &&
        (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) != dnnl_success ||
         !impl || !strncmp(impl, "ref", 3))) {
        dnnl_primitive_desc_destroy(pd);
        pd = NULL;
    }
    return pd;
}

int kiln_dnnl_winograd_enabled(void) {
    static int enabled = -1;
    if (enabled < 0) {
        const char *v = getenv("KILN_DNNL_WINOGRAD");
        enabled = !(v && !strcmp(v, "0"));
    }
    return enabled;
}

/* Whether a 3x3 convolution should try Winograd's algorithm (F(2x2, 3x3): oneDNN's
 * jit_fp32_wino_2x3 runs ResNet's 3x3 layers in about half the time of the direct kernel, at
 * an error well below 1e-5 relative). */
static int winograd_candidate(const conv_geom *g) {
    if (!kiln_dnnl_winograd_enabled() || g->rank != 4 || g->wrank != 4) return 0;
    for (int i = 0; i < 2; i++)
        if (g->wd[2 + i] != 3 || g->strides[i] != 1 || g->dilates[i] != 0) return 0;
    return g->xd[1] % 16 == 0 && g->yd[1] % 16 == 0;
}

/* Creates the convolution primitive descriptor that chooses the layouts (and the
 * algorithm, into g->alg): src/dst blocks 0 mean "any" (oneDNN chooses), the weights are
 * always "any"; one thread, so that the choice is the same at build time and at run time.
 * NULL when oneDNN has no implementation. */
static dnnl_primitive_desc_t conv_pd(conv_geom *g, int has_bias, const kiln_nn_act *act,
                                     int has_sum, int64_t in_block, int64_t out_block) {
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
    int previous = kiln_dnnl_threads_begin(1);
    dnnl_primitive_desc_t pd = NULL;
    /* [kiln mixed layouts] a layout boundary (one side blocked, the other channels-last):
     * oneDNN has only its reference kernel for both fixed, so one side is left to it and
     * reordered (conv_build), the smaller first (a cheaper reorder) */
    if (in_block && out_block && in_block != out_block) {
        pd = conv_pd_md(g, &src, &wei, has_bias ? &bias : NULL, &dst, act, has_sum, NULL, 1);
        dnnl_memory_desc_t any_src, any_dst;
        for (int32_t i = 0; i < g->rank; i++) d[i] = g->xd[i];
        int ok = dnnl_memory_desc_init_by_tag(&any_src, g->rank, d, dnnl_f32,
                                              dnnl_format_tag_any) == dnnl_success;
        for (int32_t i = 0; i < g->rank; i++) d[i] = g->yd[i];
        ok = ok && dnnl_memory_desc_init_by_tag(&any_dst, g->rank, d, dnnl_f32,
                                                dnnl_format_tag_any) == dnnl_success;
        int64_t xn = 1, yn = 1;
        for (int32_t i = 0; i < g->rank; i++) xn *= g->xd[i], yn *= g->yd[i];
        int dst_first = yn <= xn;
        for (int k = 0; ok && !pd && k < 2; k++) {
            int any_out = (k == 0) == dst_first;
            pd = conv_pd_md(g, any_out ? &src : &any_src, &wei, has_bias ? &bias : NULL,
                            any_out ? &any_dst : &dst, act, has_sum, NULL, 1);
        }
    }
    /* [end kiln mixed layouts] */
    if (!pd && winograd_candidate(g)) {
        g->alg = dnnl_convolution_winograd;
        pd = conv_pd_md(g, &src, &wei, has_bias ? &bias : NULL, &dst, act, has_sum, NULL, 1);
    }
    if (!pd) {
        g->alg = dnnl_convolution_direct;
        pd = conv_pd_md(g, &src, &wei, has_bias ? &bias : NULL, &dst, act, has_sum, NULL, 0);
    }
    kiln_dnnl_threads_end(previous);
    return pd;
}

/* ------------------------------------------------------------ slices ---------------- */

/* Cuts the convolution (one image, layouts with no reorder) into slices of its output
 * channels, or of its groups: c->nparts slices, or none (c->nparts 0) when the layouts do
 * not allow it. */
static void conv_split(conv_prim *c, const conv_geom *g, int has_bias, int has_sum,
                       const kiln_nn_act *act, int want) {
    if (want > MAX_PARTS) want = MAX_PARTS;
    int grouped = g->wrank == g->rank + 1;
    /* split dim: 1 (channels) of src (groups only) and dst, 0 (O or G) of the weights */
    int64_t extent = grouped ? g->wd[0] : g->yd[1];
    int64_t per_unit_dst = grouped ? g->wd[1] : 1, per_unit_src = grouped ? g->wd[2] : 0;
    if (!kiln_dnnl_outermost(&c->wei_md, 0) || !kiln_dnnl_outermost(&c->dst_md, 1) ||
        (grouped && !kiln_dnnl_outermost(&c->src_md, 1)))
        return;
    /* a slice must start on a block of each tensor it cuts */
    int64_t unit = kiln_dnnl_inner_block(&c->wei_md, 0);
    for (int64_t u = unit;; u += unit) {
        if ((u * per_unit_dst) % kiln_dnnl_inner_block(&c->dst_md, 1) == 0 &&
            (!grouped || (u * per_unit_src) % kiln_dnnl_inner_block(&c->src_md, 1) == 0)) {
            unit = u;
            break;
        }
        if (u > extent) return;
    }
    int64_t units = (extent + unit - 1) / unit;
    int parts = (int)(units < want ? units : want);
    if (parts < 2) return;
    dnnl_engine_t eng = kiln_dnnl_engine();
    int previous = kiln_dnnl_threads_begin(1);
    int ok = 1;
    for (int i = 0; i < parts && ok; i++) {
        conv_part *p = &c->part[i];
        int64_t u0 = units * i / parts, u1 = units * (i + 1) / parts;
        int64_t e0 = u0 * unit, e1 = u1 * unit < extent ? u1 * unit : extent;
        dnnl_memory_desc_t src = c->src_md, wei, dst, bias;
        kiln_dnnl_slice_md(&c->wei_md, 0, e0, e1 - e0, &wei, &p->wei_off);
        kiln_dnnl_slice_md(&c->dst_md, 1, e0 * per_unit_dst, (e1 - e0) * per_unit_dst, &dst,
                           &p->dst_off);
        if (grouped)
            kiln_dnnl_slice_md(&c->src_md, 1, e0 * per_unit_src, (e1 - e0) * per_unit_src, &src,
                               &p->src_off);
        dnnl_dims_t bd = {(e1 - e0) * per_unit_dst};
        p->bias_off = (size_t)(e0 * per_unit_dst) * sizeof(float);
        p->dst_bytes = dnnl_memory_desc_get_size(&dst);
        ok = dnnl_memory_desc_init_by_tag(&bias, 1, bd, dnnl_f32, dnnl_a) == dnnl_success;
        dnnl_primitive_desc_t pd = ok ? conv_pd_md(g, &src, &wei, has_bias ? &bias : NULL, &dst,
                                                   act, has_sum, c->sum_binary ? &dst : NULL, 1)
                                      : NULL;
        ok = pd != NULL;
        if (ok) {
            p->scratch = dnnl_memory_desc_get_size(
                dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0));
            ok = dnnl_primitive_create(&p->prim, pd) == dnnl_success &&
                 dnnl_memory_create(&p->m_src, &src, eng, DNNL_MEMORY_NONE) == dnnl_success &&
                 dnnl_memory_create(&p->m_wei, &wei, eng, DNNL_MEMORY_NONE) == dnnl_success &&
                 dnnl_memory_create(&p->m_bias, &bias, eng, DNNL_MEMORY_NONE) == dnnl_success &&
                 dnnl_memory_create(&p->m_dst, &dst, eng, DNNL_MEMORY_NONE) == dnnl_success &&
                 dnnl_memory_create(&p->m_sum, &dst, eng, DNNL_MEMORY_NONE) == dnnl_success &&
                 kiln_dnnl_scratch_memory(p->scratch, &p->m_scratch) == dnnl_success &&
                 dnnl_stream_create(&p->stream, eng, dnnl_stream_default_flags) == dnnl_success;
            dnnl_primitive_desc_destroy(pd);
        }
        c->nparts = i + 1; /* so that conv_prim_free releases what exists */
    }
    kiln_dnnl_threads_end(previous);
    if (ok) return;
    for (int i = 0; i < c->nparts; i++) part_free(&c->part[i]); /* all slices or none */
    c->nparts = 0;
}

/* Multiply-adds times two of a convolution: every output element reads C/group x kernel. */
static double conv_flops(const kiln_tview *w_logical, const kiln_tview *y) {
    double f = 2.0 * (double)kiln_nn_count(y);
    for (int32_t i = 1; i < w_logical->rank; i++) f *= (double)w_logical->dims[i];
    return f;
}

/* The primitive (or its slices) and its surroundings for these shapes, for a context of
 * `threads` threads. *ok = 0: not for oneDNN. */
static kiln_status conv_build(int threads, const kiln_node *node, const kiln_tview *in,
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
    dnnl_primitive_desc_t pd = conv_pd(&g, has_bias, act, has_sum, in_block, out_block);
    if (!pd) return KILN_OK;
    double flops = conv_flops(w_logical, y);
    int wino = g.alg == dnnl_convolution_winograd, wino_omp = 1;
    if (wino && kiln_dnnl_threads_for(threads, flops) > 1) {
        /* Winograd's weight layout depends on the thread count: the descriptor that runs
         * chooses it (the weights are not prepared at build time, but reordered once) */
        int omp = kiln_dnnl_threads_for(threads, flops);
        dnnl_memory_desc_t src = *dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
        dnnl_memory_desc_t dst = *dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
        dnnl_memory_desc_t wany, bmd;
        dnnl_dims_t bdims = {g.yd[1]}, wdims;
        for (int32_t i = 0; i < g.wrank; i++) wdims[i] = g.wd[i];
        dnnl_primitive_desc_t npd = NULL;
        if (dnnl_memory_desc_init_by_tag(&wany, g.wrank, wdims, dnnl_f32, dnnl_format_tag_any) ==
                dnnl_success &&
            dnnl_memory_desc_init_by_tag(&bmd, 1, bdims, dnnl_f32, dnnl_a) == dnnl_success) {
            int previous = kiln_dnnl_threads_begin(omp);
            npd = conv_pd_md(&g, &src, &wany, has_bias ? &bmd : NULL, &dst, act, has_sum, NULL, 1);
            kiln_dnnl_threads_end(previous);
        }
        if (npd) {
            dnnl_primitive_desc_destroy(pd);
            pd = npd;
            wino_omp = omp;
        }
    }
    conv_prim *c = calloc(1, sizeof *c);
    if (!c) {
        dnnl_primitive_desc_destroy(pd);
        return kiln_node_error(KILN_ERR_OUT_OF_MEMORY, node, "out of memory");
    }
    c->key.rank = g.rank;
    memcpy(c->key.xd, g.xd, sizeof g.xd);
    memcpy(c->key.yd, g.yd, sizeof g.yd);
    for (int32_t i = 0; i < g.rank; i++) c->key.wd[i] = w_logical->dims[i];
    c->key.threads = threads;
    c->has_bias = has_bias;
    c->has_sum = has_sum;
    c->uwei_md = uwei;
    c->src_md = *dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
    c->dst_md = *dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
    c->wei_md = *dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    dnnl_engine_t eng = kiln_dnnl_engine();
    dnnl_status_t st = kiln_dnnl_md(&c->usrc_md, g.rank, g.xd, in_block);
    if (st == dnnl_success) st = kiln_dnnl_md(&c->udst_md, g.rank, g.yd, out_block);
    if (st == dnnl_success && has_sum) st = kiln_dnnl_md(&c->usum_md, g.rank, g.yd, sum_block);
    if (st == dnnl_success) st = make_reorder(&c->usrc_md, &c->src_md, &c->src_reorder);
    if (st == dnnl_success) st = make_reorder(&c->dst_md, &c->udst_md, &c->dst_reorder);
    if (st == dnnl_success && has_sum) st = make_reorder(&c->usum_md, &c->dst_md, &c->sum_reorder);
    if (st == dnnl_success) st = make_reorder(&c->uwei_md, &c->wei_md, &c->wei_reorder);
    if (c->src_reorder) c->src_fast = kiln_dnnl_channels_kind(&c->usrc_md, &c->src_md);
    if (c->dst_reorder) c->dst_fast = kiln_dnnl_channels_kind(&c->dst_md, &c->udst_md);
    if (c->sum_reorder) c->sum_fast = kiln_dnnl_channels_kind(&c->usum_md, &c->dst_md);
    dnnl_memory_desc_t bias_md;
    dnnl_dims_t bd = {g.yd[1]};
    if (st == dnnl_success) st = dnnl_memory_desc_init_by_tag(&bias_md, 1, bd, dnnl_f32, dnnl_a);
    if (st == dnnl_success && has_sum && !c->sum_reorder && !wino) {
        /* the residual read in place by a binary post-op rather than copied into dst first,
         * where oneDNN has a fast kernel for it */
        int previous = kiln_dnnl_threads_begin(1);
        dnnl_primitive_desc_t bin =
            conv_pd_md(&g, &c->src_md, &c->wei_md, has_bias ? &bias_md : NULL, &c->dst_md, act, 1,
                       &c->dst_md, 1);
        kiln_dnnl_threads_end(previous);
        if (bin) {
            c->sum_binary = 1;
            dnnl_primitive_desc_destroy(bin);
        }
    }
    if (st == dnnl_success && threads > 1 && !wino && kiln_dnnl_use_pool() && g.xd[0] == 1 &&
        flops >= kiln_dnnl_split_min_flops() && !c->src_reorder && !c->dst_reorder &&
        !c->sum_reorder)
        conv_split(c, &g, has_bias, has_sum, act, threads);
    c->omp_threads = 1;
    if (st == dnnl_success && wino) { /* pd already is the one that runs */
        int previous = kiln_dnnl_threads_begin(wino_omp);
        c->omp_threads = wino_omp;
        c->scratch = dnnl_memory_desc_get_size(
            dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0));
        st = dnnl_primitive_create(&c->prim, pd);
        kiln_dnnl_threads_end(previous);
    } else if (st == dnnl_success && !c->nparts) { /* one primitive, on OpenMP threads */
        int omp = kiln_dnnl_threads_for(threads, flops);
        dnnl_primitive_desc_t run_pd = NULL;
        int previous = kiln_dnnl_threads_begin(omp);
        /* the layouts chosen above, this many threads; never oneDNN's reference kernel,
         * which is all that may accept a weight layout chosen for one thread (brgconv's
         * depends on the thread count): then the weights' layout is left to this
         * descriptor, and they are reordered once into it */
        if (omp > 1 || c->sum_binary)
            run_pd = conv_pd_md(&g, &c->src_md, &c->wei_md, has_bias ? &bias_md : NULL, &c->dst_md,
                                act, has_sum, c->sum_binary ? &c->dst_md : NULL, 1);
        if (!run_pd && omp > 1) {
            dnnl_memory_desc_t wany;
            dnnl_dims_t wdims;
            for (int32_t i = 0; i < g.wrank; i++) wdims[i] = g.wd[i];
            if (dnnl_memory_desc_init_by_tag(&wany, g.wrank, wdims, dnnl_f32,
                                             dnnl_format_tag_any) == dnnl_success)
                run_pd = conv_pd_md(&g, &c->src_md, &wany, has_bias ? &bias_md : NULL, &c->dst_md,
                                    act, has_sum, c->sum_binary ? &c->dst_md : NULL, 1);
            if (run_pd) {
                c->wei_md = *dnnl_primitive_desc_query_md(run_pd, dnnl_query_weights_md, 0);
                if (c->wei_reorder) dnnl_primitive_destroy(c->wei_reorder);
                st = make_reorder(&c->uwei_md, &c->wei_md, &c->wei_reorder);
            }
        }
        if (run_pd)
            c->omp_threads = omp;
        else
            c->sum_binary = 0; /* the layout descriptor's sum post-op */
        dnnl_primitive_desc_t use = run_pd ? run_pd : pd;
        c->scratch = dnnl_memory_desc_get_size(
            dnnl_primitive_desc_query_md(use, dnnl_query_scratchpad_md, 0));
        if (st == dnnl_success) st = dnnl_primitive_create(&c->prim, use);
        kiln_dnnl_threads_end(previous);
        if (run_pd) dnnl_primitive_desc_destroy(run_pd);
    }
    dnnl_primitive_desc_destroy(pd);
    if (st == dnnl_success && c->src_reorder) c->src_tmp = dnnl_memory_desc_get_size(&c->src_md);
    if (st == dnnl_success && c->dst_reorder) c->dst_tmp = dnnl_memory_desc_get_size(&c->dst_md);
    if (st == dnnl_success && c->wei_reorder) {
        c->wbuf = aligned_alloc(64, kiln_nn_align(dnnl_memory_desc_get_size(&c->wei_md)));
        if (!c->wbuf) st = dnnl_out_of_memory;
    }
    if (st == dnnl_success) st = dnnl_memory_create(&c->m_src, &c->src_md, eng, DNNL_MEMORY_NONE);
    if (st == dnnl_success) st = dnnl_memory_create(&c->m_usrc, &c->usrc_md, eng, DNNL_MEMORY_NONE);
    if (st == dnnl_success) st = dnnl_memory_create(&c->m_wei, &c->wei_md, eng, DNNL_MEMORY_NONE);
    if (st == dnnl_success) st = dnnl_memory_create(&c->m_uwei, &c->uwei_md, eng, DNNL_MEMORY_NONE);
    if (st == dnnl_success) st = dnnl_memory_create(&c->m_bias, &bias_md, eng, DNNL_MEMORY_NONE);
    if (st == dnnl_success) st = dnnl_memory_create(&c->m_dst, &c->dst_md, eng, DNNL_MEMORY_NONE);
    if (st == dnnl_success) st = dnnl_memory_create(&c->m_udst, &c->udst_md, eng, DNNL_MEMORY_NONE);
    if (st == dnnl_success && has_sum)
        st = dnnl_memory_create(&c->m_usum, &c->usum_md, eng, DNNL_MEMORY_NONE);
    if (st == dnnl_success) st = kiln_dnnl_scratch_memory(c->scratch, &c->m_scratch);
    if (st == dnnl_success) st = dnnl_stream_create(&c->stream, eng, dnnl_stream_default_flags);
    if (st != dnnl_success) {
        conv_prim_free(c);
        return kiln_dnnl_error(node, st, "creating the convolution");
    }
    *out = c;
    *ok = 1;
    return KILN_OK;
}

static int key_matches(const conv_prim *c, const kiln_tview *x, const kiln_tview *w,
                       const kiln_tview *y, int threads) {
    if (c->key.rank != x->rank || w->rank != x->rank || c->key.threads != threads) return 0;
    for (int32_t i = 0; i < x->rank; i++)
        if (c->key.xd[i] != x->dims[i] || c->key.yd[i] != y->dims[i] || c->key.wd[i] != w->dims[i])
            return 0;
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

static kiln_status wait_stream(const kiln_node *node, const conv_prim *c) {
    dnnl_status_t st = dnnl_stream_wait(c->stream);
    return st == dnnl_success ? KILN_OK : kiln_dnnl_error(node, st, "dnnl_stream_wait");
}

/* Reorders from (desc from_md, memory object m_from) into to (m_to): kiln's own loops for
 * the channel-block / channels-last boundaries (fast = their kind), else the primitive. */
static kiln_status run_reorder(const kiln_node *node, const conv_prim *c, dnnl_primitive_t prim,
                               int fast, const dnnl_memory_desc_t *from_md, dnnl_memory_t m_from,
                               const void *from, dnnl_memory_t m_to, void *to) {
    if (fast) {
        kiln_dnnl_channels_run(fast, from_md, from, to, c->key.threads);
        return KILN_OK;
    }
    KILN_TRY(set(node, m_from, from));
    KILN_TRY(set(node, m_to, to));
    dnnl_exec_arg_t a[2] = {{DNNL_ARG_FROM, m_from}, {DNNL_ARG_TO, m_to}};
    return run1(node, prim, c->stream, 2, a);
}

/* What the slices of one run share. */
typedef struct conv_job {
    conv_prim *c;
    const char *src, *wei, *bias, *sum;
    char *dst, *scratch;
    size_t scratch_stride;
    _Atomic int failed; /* a oneDNN status, 0 while all went well */
} conv_job;

static void conv_run_part(void *arg, int64_t i) {
    conv_job *j = arg;
    conv_part *p = &j->c->part[i];
    if (j->sum && !j->c->sum_binary) memcpy(j->dst + p->dst_off, j->sum + p->dst_off, p->dst_bytes);
    dnnl_status_t st = dnnl_memory_set_data_handle(p->m_src, (void *)(j->src + p->src_off));
    if (st == dnnl_success)
        st = dnnl_memory_set_data_handle(p->m_wei, (void *)(j->wei + p->wei_off));
    if (st == dnnl_success && j->bias)
        st = dnnl_memory_set_data_handle(p->m_bias, (void *)(j->bias + p->bias_off));
    if (st == dnnl_success) st = dnnl_memory_set_data_handle(p->m_dst, j->dst + p->dst_off);
    if (st == dnnl_success)
        st = dnnl_memory_set_data_handle(p->m_scratch, j->scratch + (size_t)i * j->scratch_stride);
    int binary = j->sum && j->c->sum_binary;
    if (st == dnnl_success && binary)
        st = dnnl_memory_set_data_handle(p->m_sum, (void *)(j->sum + p->dst_off));
    dnnl_exec_arg_t args[6] = {{DNNL_ARG_SRC, p->m_src},
                               {DNNL_ARG_WEIGHTS, p->m_wei},
                               {DNNL_ARG_DST, p->m_dst},
                               {DNNL_ARG_SCRATCHPAD, p->m_scratch},
                               {DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1, p->m_sum},
                               {DNNL_ARG_BIAS, p->m_bias}};
    if (!binary) args[4] = args[5];
    int nargs = 4 + binary + (j->bias != NULL);
    if (st == dnnl_success) st = dnnl_primitive_execute(p->prim, p->stream, nargs, args);
    if (st == dnnl_success) st = dnnl_stream_wait(p->stream);
    if (st != dnnl_success) atomic_store(&j->failed, (int)st);
}

static kiln_status conv_execute(kiln_cpu_ctx *ctx, const kiln_node *node, conv_prim *c,
                                const kiln_tview *in, const kiln_tview *b, const kiln_tview *sum,
                                kiln_tview *y, int w_const) {
    if (c->nparts) { /* slices on the pool; weights reordered first if they must be */
        size_t stride = 0;
        for (int i = 0; i < c->nparts; i++)
            if (kiln_nn_align(c->part[i].scratch) > stride)
                stride = kiln_nn_align(c->part[i].scratch);
        char *cur;
        KILN_TRY(kiln_nn_scratch(ctx, node, stride * (size_t)c->nparts + 64, &cur));
        cur = (char *)(((uintptr_t)cur + 63) & ~(uintptr_t)63);
        const void *wei = in[1].data;
        if (c->wei_reorder) {
            if (!w_const || c->wbuf_from != in[1].data) {
                KILN_TRY(set(node, c->m_uwei, in[1].data));
                KILN_TRY(set(node, c->m_wei, c->wbuf));
                dnnl_exec_arg_t a[2] = {{DNNL_ARG_FROM, c->m_uwei}, {DNNL_ARG_TO, c->m_wei}};
                KILN_TRY(run1(node, c->wei_reorder, c->stream, 2, a));
                dnnl_status_t ws = dnnl_stream_wait(c->stream);
                if (ws != dnnl_success) return kiln_dnnl_error(node, ws, "dnnl_stream_wait");
                c->wbuf_from = w_const ? in[1].data : NULL;
            }
            wei = c->wbuf;
        }
        conv_job job = {c,   in[0].data, wei, b ? b->data : NULL, sum ? sum->data : NULL, y->data,
                        cur, stride,     0};
        kiln_par_run(c->key.threads - 1, c->nparts, conv_run_part, &job);
        int failed = atomic_load(&job.failed);
        return failed ? kiln_dnnl_error(node, (dnnl_status_t)failed, "a convolution slice")
                      : KILN_OK;
    }
    size_t bytes =
        kiln_nn_align(c->scratch) + kiln_nn_align(c->src_tmp) + kiln_nn_align(c->dst_tmp);
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
        KILN_TRY(run_reorder(node, c, c->src_reorder, c->src_fast, &c->usrc_md, c->m_usrc, src,
                             c->m_src, src_tmp));
        src = src_tmp;
    }
    KILN_TRY(set(node, c->m_dst, dst));
    int binary = sum && c->sum_binary;
    if (binary) {
        KILN_TRY(set(node, c->m_usum, sum->data));
    } else if (sum) { /* the sum post-op adds what dst holds */
        if (c->sum_reorder) {
            KILN_TRY(run_reorder(node, c, c->sum_reorder, c->sum_fast, &c->usum_md, c->m_usum,
                                 sum->data, c->m_dst, dst));
        } else {
            memcpy(dst, sum->data, dnnl_memory_desc_get_size(&c->dst_md));
        }
    }
    KILN_TRY(set(node, c->m_src, src));
    KILN_TRY(set(node, c->m_wei, wei));
    dnnl_exec_arg_t args[6] = {{DNNL_ARG_SRC, c->m_src},
                               {DNNL_ARG_WEIGHTS, c->m_wei},
                               {DNNL_ARG_DST, c->m_dst},
                               {DNNL_ARG_SCRATCHPAD, c->m_scratch},
                               {DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1, c->m_usum},
                               {DNNL_ARG_BIAS, c->m_bias}};
    if (!binary) args[4] = args[5];
    if (b) KILN_TRY(set(node, c->m_bias, b->data));
    KILN_TRY(run1(node, c->prim, c->stream, 4 + binary + (b != NULL), args));
    if (c->dst_reorder) {
        /* the convolution must have finished writing dst before kiln's loops read it */
        if (c->dst_fast) KILN_TRY(wait_stream(node, c));
        KILN_TRY(run_reorder(node, c, c->dst_reorder, c->dst_fast, &c->dst_md, c->m_dst, dst,
                             c->m_udst, y->data));
    }
    return wait_stream(node, c);
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
    uint64_t key = kiln_nn_run_key(in, n_in, y, threads);
    if (s->declined == key) return KILN_OK;
    conv_prim *c = s->dnnl;
    kiln_status st = KILN_OK;
    if (!c || !key_matches(c, x, wl, y, threads) || c->has_bias != (b != NULL) ||
        c->has_sum != (sum != NULL)) {
        if (s->dnnl && s->dnnl_free) s->dnnl_free(s->dnnl);
        s->dnnl = NULL;
        int ok = 0;
        st = conv_build(threads, node, in, wl, prepared, y, b != NULL, sum != NULL, &act, &c, &ok);
        if (st == KILN_OK && ok) {
            s->dnnl = c;
            s->dnnl_free = conv_prim_free;
        } else {
            if (st == KILN_OK) s->declined = key;
            c = NULL;
        }
    }
    if (st == KILN_OK && c) {
        int previous = kiln_dnnl_threads_begin(c->omp_threads);
        st = conv_execute(ctx, node, c, in, b, sum, y, kiln_cpu_input_is_constant(ctx, 1));
        kiln_dnnl_threads_end(previous);
        *handled = 1;
    }
    return st;
}

/* ------------------------------------------------------------ build time ------------ */

int kiln_dnnl_conv_fast(const kiln_node *node, const kiln_tview *x, const kiln_tview *w,
                        const kiln_tview *y, int has_bias, int has_sum, int64_t in_block,
                        int64_t out_block, int threads) {
    conv_geom g;
    int ok = 0;
    kiln_nn_act act;
    if (conv_geometry(node, x, w, y, &g, &ok) != KILN_OK || !ok) return 0;
    if (kiln_nn_act_from_node(node, &act) != KILN_OK) return 0;
    (void)threads; /* layouts are chosen single-threaded, whatever the thread count */
    dnnl_primitive_desc_t pd = conv_pd(&g, has_bias, &act, has_sum, in_block, out_block);
    if (!pd) return 0;
    const char *impl = NULL;
    int fast = dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success &&
               impl && strncmp(impl, "ref", 3) != 0;
    dnnl_primitive_desc_destroy(pd);
    return fast;
}

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
    (void)threads; /* layouts are chosen single-threaded, whatever the thread count */
    dnnl_primitive_desc_t pd =
        conv_pd(&g, has_bias, &act, has_sum, kiln_nn_in_block(node), kiln_nn_out_block(node));
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
