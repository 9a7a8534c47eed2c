/*
 * MatMul and Gemm through oneDNN's matmul primitive: batched (numpy broadcasting of the
 * batch dims), transposed operands as strides (Gemm's transA / transB, MatMul's folded
 * Transposes `_kiln_perm_a` / `_kiln_perm_b` / `_kiln_perm_y`), bias (MatMul's
 * `_kiln_bias_input`, Gemm's C vector), alpha / `_kiln_scale` as the output scale, a general
 * Gemm C through the sum post-op, MatMul's `_kiln_sum_input` as a binary-add post-op reading
 * the residual in place, and the fused activation as an eltwise post-op.
 *
 * Constant weights (B) are reordered once into the layout the primitive prefers ("any",
 * chosen single-threaded so that build time and run time agree), at build time when
 * prepared (dnnl_prepare.c), else on the first run of each context; other B operands are
 * read in place through their strides.
 *
 * With KILN_DNNL_THREADING=pool (dnnl_common.h) and several threads the product runs as
 * slices of its first dim of extent > 1 (a batch dim or the rows), one single-threaded
 * primitive each, on the work-sharing pool (dnnl_threads.h); else on OpenMP threads.
 */
#include "backends/cpu/dnnl_common.h"

#ifdef KILN_HAVE_DNNL

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "backends/cpu/dnnl_threads.h"

enum { MM_MAX_RANK = 8, MAX_PARTS = 8 };

/* Slices keep at least this many rows (the work threshold: kiln_dnnl_split_min_flops). */
#define SPLIT_MIN_ROWS 8


/* One slice: its own primitive, stream and memories; src / weights / dst at these byte
 * offsets of the full tensors (bias and the weights of a 2-D product are shared). */
typedef struct mm_part {
    dnnl_primitive_t prim;
    dnnl_stream_t stream;
    dnnl_memory_t m_src, m_wei, m_bias, m_dst, m_scratch;
    size_t src_off, wei_off, bias_off, dst_off, scratch;
} mm_part;

static void part_free(mm_part *p) {
    if (p->prim) dnnl_primitive_destroy(p->prim);
    dnnl_memory_t pm[] = {p->m_src, p->m_wei, p->m_bias, p->m_dst, p->m_scratch};
    for (size_t k = 0; k < sizeof pm / sizeof pm[0]; k++)
        if (pm[k]) dnnl_memory_destroy(pm[k]);
    if (p->stream) dnnl_stream_destroy(p->stream);
    memset(p, 0, sizeof *p);
}

/* What the primitive computes, from the node and the shapes of one run. */
typedef struct mm_geom {
    int32_t rank;
    dnnl_dims_t sd, ss, wd, ws, dd, ds; /* dims and strides of src, weights and dst */
    int has_bias;
    int has_add; /* a tensor of dst's dims (plain) added by a binary post-op */
    int strided; /* an operand or dst in a permuted (non row-major) layout */
    dnnl_dims_t bd;
    float alpha;     /* output scale (1: none) */
    float sum_scale; /* Gemm's beta with a general C: dst is prefilled with C (0: none) */
    int c_full;      /* prefill from C (Gemm) */
    kiln_nn_act act;
} mm_geom;

typedef struct mm_prim {
    mm_geom g;
    int threads, w_any;
    dnnl_stream_t stream;
    dnnl_primitive_t prim, wei_reorder;
    dnnl_memory_desc_t wei_md, uwei_md;
    size_t scratch;
    void *wbuf;
    const void *wbuf_from;
    dnnl_memory_t m_src, m_wei, m_uwei, m_bias, m_dst, m_scratch, m_add;
    int omp_threads; /* the OpenMP threads prim runs with */
    int nparts;      /* > 1: the work runs as these slices on the pool (prim is then NULL) */
    mm_part part[MAX_PARTS];
} mm_prim;

static void mm_prim_free(void *p) {
    mm_prim *c = p;
    if (!c) return;
    if (c->prim) dnnl_primitive_destroy(c->prim);
    if (c->wei_reorder) dnnl_primitive_destroy(c->wei_reorder);
    dnnl_memory_t mems[] = {c->m_src, c->m_wei,     c->m_uwei, c->m_bias,
                            c->m_dst, c->m_scratch, c->m_add};
    for (size_t i = 0; i < sizeof mems / sizeof mems[0]; i++)
        if (mems[i]) dnnl_memory_destroy(mems[i]);
    if (c->stream) dnnl_stream_destroy(c->stream);
    for (int i = 0; i < c->nparts; i++) part_free(&c->part[i]);
    free(c->wbuf);
    free(c);
}

static int same_geom(const mm_geom *a, const mm_geom *b) {
    return !memcmp(a, b, sizeof *a);
}

/* Row-major strides of dims. */
static void plain_strides(int32_t rank, const dnnl_dims_t d, dnnl_dims_t s) {
    int64_t st = 1;
    for (int32_t i = rank - 1; i >= 0; i--) {
        s[i] = st;
        st *= d[i];
    }
}

/* Logical dims and element strides of x seen through the node's permutation `attr` (a
 * folded Transpose: x's own strides, permuted); *has whether it has one. 0: invalid. */
static int permuted(const kiln_node *node, const char *attr, const kiln_tview *x, int64_t *d,
                    int64_t *st, int *has) {
    int32_t perm[KILN_MAX_DIMS];
    int64_t pd[KILN_MAX_DIMS], ps[KILN_MAX_DIMS], s = 1;
    *has = kiln_nn_matmul_perm(node, attr, x->rank, perm);
    if (*has < 0 || x->rank > KILN_MAX_DIMS) return 0;
    for (int32_t i = x->rank - 1; i >= 0; i--) {
        pd[i] = x->dims[i];
        ps[i] = s;
        s *= x->dims[i];
    }
    for (int32_t i = 0; i < x->rank; i++) {
        d[i] = *has ? pd[perm[i]] : pd[i];
        st[i] = *has ? ps[perm[i]] : ps[i];
    }
    return 1;
}

/* MatMul's geometry. B 2-D and A, Y row-major (a linear layer): A's batch dims fold into M.
 * Otherwise every operand gets the product's rank, batch dims of 1 broadcasting, with the
 * strides of the folded Transposes. */
static int matmul_geom(const kiln_node *node, const kiln_tview *a, const kiln_tview *b,
                       const kiln_tview *y, int has_bias, int has_add, float scale,
                       const kiln_nn_act *act, mm_geom *g) {
    memset(g, 0, sizeof *g);
    g->alpha = scale;
    g->act = *act;
    g->has_bias = has_bias;
    g->has_add = has_add;
    int64_t ad[KILN_MAX_DIMS], as[KILN_MAX_DIMS], bd[KILN_MAX_DIMS], bs[KILN_MAX_DIMS];
    dnnl_dims_t ys, yd = {0}; /* plain_strides takes oneDNN's (larger) dims arrays */
    int64_t rd[KILN_MAX_DIMS], rs[KILN_MAX_DIMS];
    int32_t py[KILN_MAX_DIMS];
    int ha, hb, hy = kiln_nn_matmul_perm(node, "_kiln_perm_y", y->rank, py);
    if (!permuted(node, "_kiln_perm_a", a, ad, as, &ha) ||
        !permuted(node, "_kiln_perm_b", b, bd, bs, &hb) || hy < 0 || y->rank > KILN_MAX_DIMS)
        return 0;
    if ((ha && a->rank < 2) || (hb && b->rank < 2)) return 0;
    if (hy && (a->rank < 2 || b->rank < 2 || has_bias || has_add)) return 0; /* contract */
    for (int32_t i = 0; i < y->rank; i++) yd[i] = y->dims[i];
    plain_strides(y->rank, yd, ys);
    for (int32_t i = 0; i < y->rank; i++) { /* the product: y with the permutation undone */
        rd[hy ? py[i] : i] = y->dims[i];
        rs[hy ? py[i] : i] = ys[i];
    }
    g->strided = ha || hb || hy;
    int32_t ar = a->rank, brk = b->rank;
    int64_t k = ad[ar - 1];
    int64_t m = ar >= 2 ? ad[ar - 2] : 1;
    int64_t n = brk >= 2 ? bd[brk - 1] : 1;
    if (brk <= 2 && !ha && !hy) {
        int64_t rows = kiln_nn_count(a) / (k ? k : 1);
        g->rank = 2;
        g->sd[0] = rows, g->sd[1] = k;
        g->wd[0] = k, g->wd[1] = n;
        g->dd[0] = rows, g->dd[1] = n;
        plain_strides(2, g->sd, g->ss);
        plain_strides(2, g->wd, g->ws);
        if (hb) g->ws[0] = bs[0], g->ws[1] = bs[1];
        plain_strides(2, g->dd, g->ds);
    } else {
        int32_t br = y->rank - (ar >= 2) - (brk >= 2); /* the output's batch rank */
        if (br + 2 > MM_MAX_RANK) return 0;
        g->rank = br + 2;
        int64_t a_all = kiln_nn_count(a), b_all = kiln_nn_count(b);
        for (int32_t i = 0; i < br; i++) {
            /* a dim an operand lacks has extent 1: any stride will do */
            int32_t ai = i - (br - (ar - 2)), bi = i - (br - (brk - 2));
            int a_has = ar > 2 && ai >= 0, b_has = brk > 2 && bi >= 0;
            g->sd[i] = a_has ? ad[ai] : 1, g->ss[i] = a_has ? as[ai] : a_all;
            g->wd[i] = b_has ? bd[bi] : 1, g->ws[i] = b_has ? bs[bi] : b_all;
            g->dd[i] = rd[i];
        }
        g->sd[br] = m, g->sd[br + 1] = k;
        g->ss[br] = ar >= 2 ? as[ar - 2] : k, g->ss[br + 1] = as[ar - 1];
        g->wd[br] = k, g->wd[br + 1] = n;
        g->ws[br] = brk >= 2 ? bs[brk - 2] : 1, g->ws[br + 1] = brk >= 2 ? bs[brk - 1] : 1;
        g->dd[br] = m, g->dd[br + 1] = n;
        if (hy)
            for (int32_t i = 0; i < g->rank; i++) g->ds[i] = rs[i];
        else
            plain_strides(g->rank, g->dd, g->ds);
    }
    for (int32_t i = 0; i < g->rank; i++) g->bd[i] = 1;
    g->bd[g->rank - 1] = n;
    return 1;
}

/* The matmul primitive descriptor from explicit descriptors and g's epilogue (NULL: no
 * implementation; with no_ref, none but oneDNN's reference one). */
static dnnl_primitive_desc_t mm_pd_md(const mm_geom *g, const dnnl_memory_desc_t *src,
                                      const dnnl_memory_desc_t *wei, const dnnl_memory_desc_t *bias,
                                      const dnnl_memory_desc_t *dst, int no_ref) {
    dnnl_matmul_desc_t md;
    if (dnnl_matmul_desc_init(&md, src, wei, bias, dst) != dnnl_success) return NULL;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_memory_desc_t add;
    if (g->has_add &&
        dnnl_memory_desc_init_by_strides(&add, g->rank, dst->dims, dnnl_f32, NULL) != dnnl_success)
        return NULL;
    if (!kiln_dnnl_make_attr_add(&g->act, g->sum_scale, g->has_add ? &add : NULL, &attr))
        return NULL;
    dnnl_primitive_desc_t pd = NULL;
    if (g->alpha != 1.0f &&
        dnnl_primitive_attr_set_output_scales(attr, 1, 0, &g->alpha) != dnnl_success) {
        dnnl_primitive_attr_destroy(attr);
        return NULL;
    }
    if (dnnl_primitive_desc_create(&pd, &md, attr, kiln_dnnl_engine(), NULL) != dnnl_success)
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

/* The descriptors of g (weights "any" when w_any). */
static int mm_mds(const mm_geom *g, int w_any, dnnl_memory_desc_t *src, dnnl_memory_desc_t *wei,
                  dnnl_memory_desc_t *bias, dnnl_memory_desc_t *dst) {
    dnnl_dims_t bs;
    plain_strides(g->rank, g->bd, bs);
    return dnnl_memory_desc_init_by_strides(src, g->rank, g->sd, dnnl_f32, g->ss) == dnnl_success &&
           (w_any ? dnnl_memory_desc_init_by_tag(wei, g->rank, g->wd, dnnl_f32, dnnl_format_tag_any)
                  : dnnl_memory_desc_init_by_strides(wei, g->rank, g->wd, dnnl_f32, g->ws)) ==
               dnnl_success &&
           dnnl_memory_desc_init_by_strides(dst, g->rank, g->dd, dnnl_f32, g->ds) == dnnl_success &&
           dnnl_memory_desc_init_by_strides(bias, g->rank, g->bd, dnnl_f32, bs) == dnnl_success;
}

/* The primitive descriptor that chooses the layouts (weights "any" when w_any): single-
 * threaded, so that the choice is the same at build time and at run time. */
static dnnl_primitive_desc_t mm_pd(const mm_geom *g, int w_any) {
    dnnl_memory_desc_t src, wei, bias, dst;
    if (!mm_mds(g, w_any, &src, &wei, &bias, &dst)) return NULL;
    int previous = kiln_dnnl_threads_begin(1);
    dnnl_primitive_desc_t pd = mm_pd_md(g, &src, &wei, g->has_bias ? &bias : NULL, &dst, 0);
    kiln_dnnl_threads_end(previous);
    return pd;
}

/* Multiply-adds times two: every output element reads K. */
static double mm_flops(const mm_geom *g) {
    double f = 2.0 * (double)g->sd[g->rank - 1];
    for (int32_t i = 0; i < g->rank; i++) f *= (double)g->dd[i];
    return f;
}

/* Cuts the product into slices along its first dim of extent > 1 (a batch dim, the rows,
 * or with a single row the columns): c->nparts of them, or none when that dim broadcasts
 * or the weights' layout does not allow it. */
static void mm_split(mm_prim *c, const mm_geom *g, int want) {
    if (want > MAX_PARTS) want = MAX_PARTS;
    /* the slices assume row-major operands and carry no residual (a rarely used mode: the
     * whole product then runs on OpenMP) */
    if (g->strided || g->has_add) return;
    int d = -1;
    for (int e = 0; e < g->rank; e++)
        if (g->dd[e] > 1) {
            d = e;
            break;
        }
    if (d < 0) return;
    int cols = d == g->rank - 1, rows = d == g->rank - 2;
    if (!cols && g->sd[d] != g->dd[d]) return;
    int wslice = cols || (!rows && g->wd[d] > 1); /* a dim the weights have too */
    /* weights in a layout of oneDNN's choice: only along a dim whose blocks are outermost */
    if (wslice && c->w_any && (!cols || !kiln_dnnl_outermost(&c->wei_md, d))) return;
    int64_t unit = wslice && c->w_any ? kiln_dnnl_inner_block(&c->wei_md, d) : 1;
    int64_t extent = g->dd[d], per = rows ? SPLIT_MIN_ROWS : cols ? 64 : 1;
    if (per < unit) per = unit;
    int64_t units = (extent + unit - 1) / unit;
    int parts = (int)(extent / per < want ? extent / per : want);
    if (parts < 2) return;
    dnnl_dims_t ds, bs;
    plain_strides(g->rank, g->dd, ds);
    plain_strides(g->rank, g->bd, bs);
    dnnl_engine_t eng = kiln_dnnl_engine();
    int previous = kiln_dnnl_threads_begin(1);
    int ok = 1;
    for (int i = 0; i < parts && ok; i++) {
        mm_part *p = &c->part[i];
        int64_t u0 = units * i / parts, u1 = units * (i + 1) / parts;
        int64_t e0 = u0 * unit, e1 = u1 * unit < extent ? u1 * unit : extent;
        dnnl_dims_t sd, wd, dd, bd;
        memcpy(sd, g->sd, sizeof sd);
        memcpy(wd, g->wd, sizeof wd);
        memcpy(dd, g->dd, sizeof dd);
        memcpy(bd, g->bd, sizeof bd);
        dd[d] = e1 - e0;
        if (!cols) sd[d] = e1 - e0;
        if (wslice) wd[d] = e1 - e0;
        if (cols) bd[d] = e1 - e0;
        p->src_off = cols ? 0 : (size_t)(e0 * g->ss[d]) * sizeof(float);
        p->dst_off = (size_t)(e0 * ds[d]) * sizeof(float);
        p->wei_off = wslice && !c->w_any ? (size_t)(e0 * g->ws[d]) * sizeof(float) : 0;
        p->bias_off = cols ? (size_t)e0 * sizeof(float) : 0;
        dnnl_memory_desc_t src, wei = c->wei_md, bias, dst;
        ok = dnnl_memory_desc_init_by_strides(&src, g->rank, sd, dnnl_f32, g->ss) == dnnl_success &&
             dnnl_memory_desc_init_by_strides(&dst, g->rank, dd, dnnl_f32, ds) == dnnl_success &&
             dnnl_memory_desc_init_by_strides(&bias, g->rank, bd, dnnl_f32, bs) == dnnl_success;
        if (ok && wslice && c->w_any)
            kiln_dnnl_slice_md(&c->wei_md, d, e0, e1 - e0, &wei, &p->wei_off);
        else if (ok && wslice)
            ok = dnnl_memory_desc_init_by_strides(&wei, g->rank, wd, dnnl_f32, g->ws) ==
                 dnnl_success;
        dnnl_primitive_desc_t pd =
            ok ? mm_pd_md(g, &src, &wei, g->has_bias ? &bias : NULL, &dst, 1) : NULL;
        ok = pd != NULL;
        if (ok) {
            p->scratch = dnnl_memory_desc_get_size(
                dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0));
            ok = dnnl_primitive_create(&p->prim, pd) == dnnl_success &&
                 dnnl_memory_create(&p->m_src, &src, eng, DNNL_MEMORY_NONE) == dnnl_success &&
                 dnnl_memory_create(&p->m_wei, &wei, eng, DNNL_MEMORY_NONE) == dnnl_success &&
                 dnnl_memory_create(&p->m_bias, &bias, eng, DNNL_MEMORY_NONE) == dnnl_success &&
                 dnnl_memory_create(&p->m_dst, &dst, eng, DNNL_MEMORY_NONE) == dnnl_success &&
                 kiln_dnnl_scratch_memory(p->scratch, &p->m_scratch) == dnnl_success &&
                 dnnl_stream_create(&p->stream, eng, dnnl_stream_default_flags) == dnnl_success;
            dnnl_primitive_desc_destroy(pd);
        }
        c->nparts = i + 1;
    }
    kiln_dnnl_threads_end(previous);
    if (ok) return;
    for (int i = 0; i < c->nparts; i++) part_free(&c->part[i]); /* all slices or none */
    c->nparts = 0;
}

/* The primitive (or its slices) for g, for a context of `threads` threads. *out NULL:
 * oneDNN cannot do it. */
static kiln_status mm_build(int threads, const kiln_node *node, const mm_geom *g, int w_any,
                            const dnnl_memory_desc_t *uwei, mm_prim **out) {
    *out = NULL;
    dnnl_primitive_desc_t pd = mm_pd(g, w_any);
    if (!pd) return KILN_OK;
    mm_prim *c = calloc(1, sizeof *c);
    if (!c) {
        dnnl_primitive_desc_destroy(pd);
        return kiln_node_error(KILN_ERR_OUT_OF_MEMORY, node, "out of memory");
    }
    c->g = *g;
    c->threads = threads;
    c->w_any = w_any;
    c->wei_md = *dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    c->uwei_md = *uwei;
    const dnnl_memory_desc_t *src = dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
    const dnnl_memory_desc_t *dst = dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
    dnnl_memory_desc_t bias;
    dnnl_engine_t eng = kiln_dnnl_engine();
    dnnl_status_t st = dnnl_success;
    double flops = mm_flops(g);
    if (threads > 1 && kiln_dnnl_use_pool() && flops >= kiln_dnnl_split_min_flops()) mm_split(c, g, threads);
    c->omp_threads = 1;
    if (!c->nparts) { /* one primitive, on OpenMP threads */
        int omp = kiln_dnnl_threads_for(threads, flops);
        dnnl_primitive_desc_t run_pd = NULL;
        int previous = kiln_dnnl_threads_begin(omp);
        dnnl_memory_desc_t s_md, w_md, b_md, d_md;
        if (omp > 1 && mm_mds(g, 0, &s_md, &w_md, &b_md, &d_md))
            run_pd = mm_pd_md(g, &s_md, &c->wei_md, g->has_bias ? &b_md : NULL, &d_md, 0);
        if (run_pd) c->omp_threads = omp;
        dnnl_primitive_desc_t use = run_pd ? run_pd : pd;
        c->scratch = dnnl_memory_desc_get_size(
            dnnl_primitive_desc_query_md(use, dnnl_query_scratchpad_md, 0));
        st = dnnl_primitive_create(&c->prim, use);
        kiln_dnnl_threads_end(previous);
        if (run_pd) dnnl_primitive_desc_destroy(run_pd);
    }
    if (st == dnnl_success && g->has_bias) {
        dnnl_dims_t bs;
        plain_strides(g->rank, g->bd, bs);
        st = dnnl_memory_desc_init_by_strides(&bias, g->rank, g->bd, dnnl_f32, bs);
        if (st == dnnl_success) st = dnnl_memory_create(&c->m_bias, &bias, eng, DNNL_MEMORY_NONE);
    }
    if (st == dnnl_success) st = kiln_dnnl_scratch_memory(c->scratch, &c->m_scratch);
    if (st == dnnl_success) st = dnnl_memory_create(&c->m_src, src, eng, DNNL_MEMORY_NONE);
    if (st == dnnl_success) st = dnnl_memory_create(&c->m_dst, dst, eng, DNNL_MEMORY_NONE);
    if (st == dnnl_success && g->has_add) {
        dnnl_memory_desc_t add;
        st = dnnl_memory_desc_init_by_strides(&add, g->rank, g->dd, dnnl_f32, NULL);
        if (st == dnnl_success) st = dnnl_memory_create(&c->m_add, &add, eng, DNNL_MEMORY_NONE);
    }
    if (st == dnnl_success) st = dnnl_memory_create(&c->m_wei, &c->wei_md, eng, DNNL_MEMORY_NONE);
    if (st == dnnl_success) st = dnnl_memory_create(&c->m_uwei, &c->uwei_md, eng, DNNL_MEMORY_NONE);
    if (st == dnnl_success && !dnnl_memory_desc_equal(&c->uwei_md, &c->wei_md)) {
        dnnl_primitive_desc_t rpd = NULL;
        st = dnnl_reorder_primitive_desc_create(&rpd, &c->uwei_md, eng, &c->wei_md, eng, NULL);
        if (st == dnnl_success) st = dnnl_primitive_create(&c->wei_reorder, rpd);
        if (rpd) dnnl_primitive_desc_destroy(rpd);
        if (st == dnnl_success) {
            c->wbuf = aligned_alloc(64, kiln_nn_align(dnnl_memory_desc_get_size(&c->wei_md)));
            if (!c->wbuf) st = dnnl_out_of_memory;
        }
    }
    if (st == dnnl_success) st = dnnl_stream_create(&c->stream, eng, dnnl_stream_default_flags);
    dnnl_primitive_desc_destroy(pd);
    if (st != dnnl_success) {
        mm_prim_free(c);
        return kiln_dnnl_error(node, st, "creating the matmul");
    }
    *out = c;
    return KILN_OK;
}

static kiln_status exec(const kiln_node *node, dnnl_primitive_t p, dnnl_stream_t s, int n,
                        const dnnl_exec_arg_t *args) {
    dnnl_status_t st = dnnl_primitive_execute(p, s, n, args);
    return st == dnnl_success ? KILN_OK : kiln_dnnl_error(node, st, "executing a primitive");
}

#define SET(m, p)                                                                                  \
    do {                                                                                           \
        dnnl_status_t st_ = dnnl_memory_set_data_handle((m), (void *)(p));                         \
        if (st_ != dnnl_success) return kiln_dnnl_error(node, st_, "set_data_handle");             \
    } while (0)

/* What the slices of one run share. */
typedef struct mm_job {
    mm_prim *c;
    const char *a, *w, *bias;
    char *y, *scratch;
    size_t scratch_stride;
    _Atomic int failed;
} mm_job;

static void mm_run_part(void *arg, int64_t i) {
    mm_job *j = arg;
    mm_part *p = &j->c->part[i];
    dnnl_status_t st = dnnl_memory_set_data_handle(p->m_src, (void *)(j->a + p->src_off));
    if (st == dnnl_success) st = dnnl_memory_set_data_handle(p->m_wei, (void *)(j->w + p->wei_off));
    if (st == dnnl_success && j->bias)
        st = dnnl_memory_set_data_handle(p->m_bias, (void *)(j->bias + p->bias_off));
    if (st == dnnl_success) st = dnnl_memory_set_data_handle(p->m_dst, j->y + p->dst_off);
    if (st == dnnl_success)
        st = dnnl_memory_set_data_handle(p->m_scratch, j->scratch + (size_t)i * j->scratch_stride);
    dnnl_exec_arg_t args[5] = {{DNNL_ARG_SRC, p->m_src},
                               {DNNL_ARG_WEIGHTS, p->m_wei},
                               {DNNL_ARG_DST, p->m_dst},
                               {DNNL_ARG_SCRATCHPAD, p->m_scratch},
                               {DNNL_ARG_BIAS, p->m_bias}};
    if (st == dnnl_success) st = dnnl_primitive_execute(p->prim, p->stream, j->bias ? 5 : 4, args);
    if (st == dnnl_success) st = dnnl_stream_wait(p->stream);
    if (st != dnnl_success) atomic_store(&j->failed, (int)st);
}

static kiln_status mm_execute(kiln_cpu_ctx *ctx, const kiln_node *node, mm_prim *c, const void *a,
                              const void *w, int w_const, const void *bias, const void *add,
                              void *y) {
    size_t stride = 0, bytes = c->scratch;
    for (int i = 0; i < c->nparts; i++)
        if (kiln_nn_align(c->part[i].scratch) > stride) stride = kiln_nn_align(c->part[i].scratch);
    if (c->nparts) bytes = stride * (size_t)c->nparts;
    char *cur;
    KILN_TRY(kiln_nn_scratch(ctx, node, bytes + 64, &cur));
    cur = (char *)(((uintptr_t)cur + 63) & ~(uintptr_t)63);
    if (c->wei_reorder) {
        if (!w_const || c->wbuf_from != w) {
            SET(c->m_uwei, w);
            SET(c->m_wei, c->wbuf);
            dnnl_exec_arg_t r[2] = {{DNNL_ARG_FROM, c->m_uwei}, {DNNL_ARG_TO, c->m_wei}};
            KILN_TRY(exec(node, c->wei_reorder, c->stream, 2, r));
            dnnl_status_t ws = dnnl_stream_wait(c->stream);
            if (ws != dnnl_success) return kiln_dnnl_error(node, ws, "dnnl_stream_wait");
            c->wbuf_from = w_const ? w : NULL;
        }
        w = c->wbuf;
    }
    if (c->nparts) {
        mm_job job = {c, a, w, bias, y, cur, stride, 0};
        kiln_par_run(c->threads - 1, c->nparts, mm_run_part, &job);
        int failed = atomic_load(&job.failed);
        return failed ? kiln_dnnl_error(node, (dnnl_status_t)failed, "a matmul slice") : KILN_OK;
    }
    SET(c->m_src, a);
    SET(c->m_wei, w);
    SET(c->m_dst, y);
    SET(c->m_scratch, cur);
    dnnl_exec_arg_t args[6] = {{DNNL_ARG_SRC, c->m_src},
                               {DNNL_ARG_WEIGHTS, c->m_wei},
                               {DNNL_ARG_DST, c->m_dst},
                               {DNNL_ARG_SCRATCHPAD, c->m_scratch}};
    int n_args = 4;
    if (bias) {
        SET(c->m_bias, bias);
        args[n_args++] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, c->m_bias};
    }
    if (c->m_add) {
        SET(c->m_add, add);
        args[n_args++] =
            (dnnl_exec_arg_t){DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1, c->m_add};
    }
    KILN_TRY(exec(node, c->prim, c->stream, n_args, args));
    dnnl_status_t st = dnnl_stream_wait(c->stream);
    return st == dnnl_success ? KILN_OK : kiln_dnnl_error(node, st, "dnnl_stream_wait");
}

/* Finds or builds the primitive for g and runs it. *handled = 0: oneDNN cannot. */
static kiln_status mm_run(kiln_cpu_ctx *ctx, const kiln_node *node, const mm_geom *g, int prepared,
                          int w_const, const void *a, const void *w, const void *bias,
                          const void *add, void *y, int *handled) {
    *handled = 0;
    dnnl_memory_desc_t uwei;
    if (prepared) {
        if (!kiln_dnnl_wdesc(node, &uwei) || uwei.ndims != g->rank) return KILN_OK;
        for (int32_t i = 0; i < g->rank; i++)
            if (uwei.dims[i] != g->wd[i]) return KILN_OK;
    } else if (dnnl_memory_desc_init_by_strides(&uwei, g->rank, g->wd, dnnl_f32, g->ws) !=
               dnnl_success) {
        return KILN_OK;
    }
    kiln_nn_state *s = kiln_nn_node_state(ctx);
    if (!s) return kiln_node_error(KILN_ERR_OUT_OF_MEMORY, node, "out of memory");
    int threads = kiln_cpu_threads(ctx);
    int w_any = prepared || w_const;
    uint64_t key = 1469598103934665603ull; /* FNV-1a of the geometry (zero-filled struct) */
    const unsigned char *bytes = (const unsigned char *)g;
    for (size_t i = 0; i < sizeof *g; i++) key = (key ^ bytes[i]) * 1099511628211ull;
    key = ((key ^ (uint64_t)threads) * 1099511628211ull ^ (uint64_t)(w_any * 2 + prepared)) | 1;
    if (s->declined == key) return KILN_OK;
    mm_prim *c = s->dnnl;
    kiln_status st = KILN_OK;
    if (!c || !same_geom(&c->g, g) || c->threads != threads || c->w_any != w_any ||
        !dnnl_memory_desc_equal(&c->uwei_md, &uwei)) {
        if (s->dnnl && s->dnnl_free) s->dnnl_free(s->dnnl);
        s->dnnl = NULL;
        st = mm_build(threads, node, g, w_any, &uwei, &c);
        if (st == KILN_OK && c) {
            s->dnnl = c;
            s->dnnl_free = mm_prim_free;
        } else if (st == KILN_OK) {
            s->declined = key;
        }
    }
    if (st == KILN_OK && c) {
        int previous = kiln_dnnl_threads_begin(c->omp_threads);
        st = mm_execute(ctx, node, c, a, w, w_const, bias, add, y);
        kiln_dnnl_threads_end(previous);
        *handled = 1;
    }
    return st;
}

kiln_status kiln_dnnl_matmul(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                             int32_t n_in, kiln_tview *out, int *handled) {
    *handled = 0;
    const kiln_tview *a = &in[0], *b = &in[1];
    kiln_tview *y = &out[0];
    if (a->dtype != KILN_DTYPE_FLOAT32 || y->dtype != KILN_DTYPE_FLOAT32 || !kiln_dnnl_engine())
        return KILN_OK;
    int prepared = kiln_nn_weights_prepared(node, b);
    if (!prepared && b->dtype != KILN_DTYPE_FLOAT32) return KILN_OK;
    kiln_tview bl_tmp;
    const kiln_tview *bl = kiln_nn_logical_weight(node, b, a, &bl_tmp);
    if (kiln_nn_count(y) == 0 || a->rank < 1 || bl->rank < 1 || a->dims[a->rank - 1] == 0)
        return KILN_OK;
    kiln_nn_act act;
    KILN_TRY(kiln_nn_act_from_node(node, &act));
    int64_t n = bl->rank >= 2 ? bl->dims[bl->rank - 1] : 1;
    const kiln_tview *bias = NULL, *sum = NULL;
    KILN_TRY(kiln_nn_bias_input(node, in, n_in, n, &bias));
    KILN_TRY(kiln_nn_sum_input(node, in, n_in, y, &sum));
    float scale = kiln_attr_float(node, "_kiln_scale", 1.0f);
    /* oneDNN's output scale would also scale the bias: the contract scales the product only */
    if (scale != 1.0f && bias) return KILN_OK;
    mm_geom g;
    if (!matmul_geom(node, a, bl, y, bias != NULL, sum != NULL, scale, &act, &g)) return KILN_OK;
    return mm_run(ctx, node, &g, prepared, kiln_cpu_input_is_constant(ctx, 1), a->data, b->data,
                  bias ? bias->data : NULL, sum ? sum->data : NULL, y->data, handled);
}

/* Gemm's geometry: A and B through their strides (transA / transB); C a bias vector when
 * beta is 1 (and alpha too), else prefilled into Y and added by the sum post-op. */
static int gemm_geom(const kiln_node *node, const kiln_tview *a, const kiln_tview *b,
                     const kiln_tview *c, const kiln_tview *y, const kiln_nn_act *act, mm_geom *g) {
    memset(g, 0, sizeof *g);
    int ta = kiln_attr_int(node, "transA", 0) != 0, tb = kiln_attr_int(node, "transB", 0) != 0;
    float alpha = kiln_attr_float(node, "alpha", 1.0f), beta = kiln_attr_float(node, "beta", 1.0f);
    int64_t m = y->dims[0], n = y->dims[1], k = a->dims[ta ? 0 : 1];
    if (a->rank != 2 || b->rank != 2 || y->rank != 2) return 0;
    g->rank = 2;
    g->sd[0] = m, g->sd[1] = k;
    g->ss[0] = ta ? 1 : k, g->ss[1] = ta ? m : 1;
    g->wd[0] = k, g->wd[1] = n;
    g->ws[0] = tb ? 1 : n, g->ws[1] = tb ? k : 1;
    g->dd[0] = m, g->dd[1] = n;
    plain_strides(2, g->dd, g->ds);
    g->bd[0] = 1, g->bd[1] = n;
    g->alpha = alpha;
    g->act = *act;
    if (c && beta != 0.0f) {
        int vec = kiln_tview_count(c) == n && (c->rank == 1 || (c->rank == 2 && c->dims[0] == 1));
        if (vec && beta == 1.0f && alpha == 1.0f) {
            g->has_bias = 1;
        } else {
            g->c_full = 1;
            g->sum_scale = beta;
        }
    }
    return 1;
}

kiln_status kiln_dnnl_gemm(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                           int32_t n_in, kiln_tview *out, int *handled) {
    *handled = 0;
    const kiln_tview *a = &in[0], *b = &in[1];
    const kiln_tview *c = n_in > 2 && kiln_tview_present(&in[2]) ? &in[2] : NULL;
    kiln_tview *y = &out[0];
    if (a->dtype != KILN_DTYPE_FLOAT32 || y->dtype != KILN_DTYPE_FLOAT32 || !kiln_dnnl_engine())
        return KILN_OK;
    if (c && c->dtype != KILN_DTYPE_FLOAT32) return KILN_OK;
    int prepared = kiln_nn_weights_prepared(node, b);
    if (!prepared && b->dtype != KILN_DTYPE_FLOAT32) return KILN_OK;
    kiln_tview bl_tmp;
    const kiln_tview *bl = kiln_nn_logical_weight(node, b, a, &bl_tmp);
    if (kiln_nn_count(y) == 0 || kiln_nn_count(a) == 0) return KILN_OK;
    kiln_nn_act act;
    KILN_TRY(kiln_nn_act_from_node(node, &act));
    mm_geom g;
    if (!gemm_geom(node, a, bl, c, y, &act, &g)) return KILN_OK;
    if (g.c_full) { /* Y starts as C broadcast to (M, N); the sum post-op scales it by beta */
        float *yf = y->data;
        const float *cf = c->data;
        int64_t m = y->dims[0], n = y->dims[1];
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) {
                int64_t ci = c->rank == 0   ? 0
                             : c->rank == 1 ? (c->dims[0] == 1 ? 0 : j)
                                            : (c->dims[0] == 1 ? 0 : i) * c->dims[1] +
                                                  (c->dims[1] == 1 ? 0 : j);
                yf[i * n + j] = cf[ci];
            }
    }
    return mm_run(ctx, node, &g, prepared, kiln_cpu_input_is_constant(ctx, 1), a->data, b->data,
                  g.has_bias ? c->data : NULL, NULL, y->data, handled);
}

/* ------------------------------------------------------------ build time ------------ */

kiln_status kiln_dnnl_matmul_weights_md(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                        const kiln_tview *y, int threads, dnnl_memory_desc_t *plain,
                                        dnnl_memory_desc_t *best, int *ok) {
    *ok = 0;
    const kiln_tview *a = &in[0], *b = &in[1];
    kiln_nn_act act;
    KILN_TRY(kiln_nn_act_from_node(node, &act));
    mm_geom g;
    if (node->op == KILN_OP_Gemm) {
        const kiln_tview *c = n_in > 2 && kiln_tview_present(&in[2]) ? &in[2] : NULL;
        if (!gemm_geom(node, a, b, c, y, &act, &g)) return KILN_OK;
    } else {
        int has_bias = kiln_attr_int(node, "_kiln_bias_input", -1) >= 0;
        int has_add = kiln_attr_int(node, "_kiln_sum_input", -1) >= 0;
        float scale = kiln_attr_float(node, "_kiln_scale", 1.0f);
        if (b->rank != 2 || (scale != 1.0f && has_bias) ||
            !matmul_geom(node, a, b, y, has_bias, has_add, scale, &act, &g))
            return KILN_OK;
    }
    (void)threads; /* layouts are chosen single-threaded, whatever the thread count */
    dnnl_primitive_desc_t pd = mm_pd(&g, 1);
    if (!pd) return KILN_OK;
    *best = *dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    dnnl_primitive_desc_destroy(pd);
    if (dnnl_memory_desc_init_by_strides(plain, g.rank, g.wd, dnnl_f32, g.ws) != dnnl_success)
        return KILN_OK;
    *ok = 1;
    return KILN_OK;
}

#endif
