/*
 * What the oneDNN path shares (see dnnl_common.h): prepared-weight decoding and channel
 * blocking (always built: a plan written with oneDNN runs on a kiln without it), the
 * per-node state, and, with oneDNN, the engine, descriptors, post-ops and reorders.
 */
#define _POSIX_C_SOURCE 200809L
#include "backends/cpu/dnnl_common.h"

#include <stdlib.h>
#include <string.h>

#ifdef KILN_HAVE_OPENMP
#include <omp.h>
#endif
#ifdef KILN_HAVE_DNNL
#include <pthread.h>
#endif

/* ------------------------------------------------------------ per-node state -------- */

static void nn_state_free(void *p) {
    kiln_nn_state *s = p;
    if (!s) return;
    if (s->dnnl && s->dnnl_free) s->dnnl_free(s->dnnl);
    free(s->plain_w);
    free(s->wino_u);
    free(s);
}

kiln_nn_state *kiln_nn_node_state(kiln_cpu_ctx *ctx) {
    void **slot = kiln_cpu_node_state(ctx, nn_state_free);
    if (!slot) return NULL;
    if (!*slot) *slot = calloc(1, sizeof(kiln_nn_state));
    return *slot;
}

uint64_t kiln_nn_run_key(const kiln_tview *in, int32_t n_in, const kiln_tview *out, int threads) {
    uint64_t h = 1469598103934665603ull;
#define KILN_NN_MIX(v) (h = (h ^ (uint64_t)(v)) * 1099511628211ull)
    KILN_NN_MIX(threads);
    for (int32_t i = 0; i <= n_in; i++) {
        const kiln_tview *t = i < n_in ? &in[i] : out;
        KILN_NN_MIX(t->dtype);
        KILN_NN_MIX(t->rank + 1);
        for (int32_t d = 0; d < t->rank && d < KILN_MAX_DIMS; d++) KILN_NN_MIX(t->dims[d]);
    }
#undef KILN_NN_MIX
    return h ? h : 1;
}

/* ------------------------------------------------------------ prepared weights ------ */

int kiln_nn_weights_prepared(const kiln_node *node, const kiln_tview *w) {
    int32_t n = 0;
    return w->dtype == KILN_DTYPE_UINT8 && w->rank == 1 &&
           kiln_attr_ints(node, "_kiln_wshape", &n) != NULL && n >= 1;
}

kiln_status kiln_nn_unpack_layout(const kiln_node *node, const int64_t *layout, int32_t n_layout,
                                  const float *blob, size_t blob_bytes, float *plain,
                                  int64_t count) {
    if (n_layout < 2) goto bad;
    int64_t nd = layout[0];
    if (nd < 1 || nd > KILN_MAX_DIMS || n_layout < 1 + 3 * nd + 1) goto bad;
    const int64_t *dims = layout + 1, *padded = dims + nd, *strides = padded + nd;
    int64_t nblks = layout[1 + 3 * nd];
    if (nblks < 0 || nblks > KILN_MAX_DIMS || n_layout != 2 + 3 * nd + 2 * nblks) goto bad;
    const int64_t *blks = layout + 2 + 3 * nd, *idxs = blks + nblks;
    int64_t total = 1;
    for (int64_t d = 0; d < nd; d++) {
        if (dims[d] < 1 || padded[d] < dims[d]) goto bad;
        total *= dims[d];
    }
    for (int64_t b = 0; b < nblks; b++)
        if (blks[b] < 1 || idxs[b] < 0 || idxs[b] >= nd) goto bad;
    if (total != count) goto bad;
    int64_t elems = (int64_t)(blob_bytes / sizeof(float));
    int64_t idx[KILN_MAX_DIMS] = {0};
    for (int64_t i = 0; i < count; i++) {
        /* oneDNN's blocked offset: inner blocks innermost-first, then outer strides */
        int64_t pos[KILN_MAX_DIMS], off = 0, bstride = 1;
        for (int64_t d = 0; d < nd; d++) pos[d] = idx[d];
        for (int64_t b = nblks - 1; b >= 0; b--) {
            int64_t d = idxs[b];
            off += (pos[d] % blks[b]) * bstride;
            pos[d] /= blks[b];
            bstride *= blks[b];
        }
        for (int64_t d = 0; d < nd; d++) off += pos[d] * strides[d];
        if (off < 0 || off >= elems) goto bad;
        plain[i] = blob[off];
        for (int64_t d = nd - 1; d >= 0; d--) {
            if (++idx[d] < dims[d]) break;
            idx[d] = 0;
        }
    }
    return KILN_OK;
bad:
    return kiln_node_error(KILN_ERR_INVALID_ARGUMENT, node,
                           "its prepared weights have a malformed _kiln_wlayout");
}

kiln_status kiln_nn_plain_weights(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *w,
                                  kiln_tview *plain) {
    int32_t rank = 0, n_layout = 0;
    const int64_t *dims = kiln_attr_ints(node, "_kiln_wshape", &rank);
    const int64_t *layout = kiln_attr_ints(node, "_kiln_wlayout", &n_layout);
    if (!dims || rank > KILN_MAX_DIMS || !layout)
        return kiln_node_error(KILN_ERR_INVALID_ARGUMENT, node,
                               "its prepared weights lack _kiln_wshape / _kiln_wlayout");
    int64_t count = kiln_shape_count(rank, dims);
    kiln_nn_state *s = kiln_nn_node_state(ctx);
    if (!s || count < 0) return kiln_node_error(KILN_ERR_OUT_OF_MEMORY, node, "out of memory");
    if (!s->plain_w || s->plain_w_from != w->data) {
        free(s->plain_w);
        s->plain_w = malloc(sizeof(float) * (size_t)(count ? count : 1));
        s->plain_w_from = NULL;
        if (!s->plain_w) return kiln_node_error(KILN_ERR_OUT_OF_MEMORY, node, "out of memory");
        KILN_TRY(kiln_nn_unpack_layout(node, layout, n_layout, (const float *)w->data,
                                       (size_t)w->dims[0], s->plain_w, count));
        s->plain_w_from = w->data;
    }
    memset(plain, 0, sizeof *plain);
    plain->dtype = KILN_DTYPE_FLOAT32;
    plain->rank = rank;
    for (int32_t i = 0; i < rank; i++) plain->dims[i] = dims[i];
    plain->data = s->plain_w;
    return KILN_OK;
}

/* ------------------------------------------------------------ channel blocking ------ */

/* Channels-last <-> plain for float32: per image, a (C x S) <-> (S x C) transpose in tiles
 * (the element-wise loop below strides through memory a whole plane per element). */
static void transpose_f32(const void *src, void *dst, int64_t n, int64_t c, int64_t sp, int threads,
                          int to_last) {
    enum { T = 32 };
    int64_t ct = (c + T - 1) / T, st = (sp + T - 1) / T, units = n * ct * st;
    int par = threads > 1 && units > 1 && n * c * sp > (1 << 15);
    KILN_NN_PRAGMA(omp parallel for num_threads(threads) if (par) schedule(static))
    for (int64_t u = 0; u < units; u++) {
        int64_t b = u / (ct * st), c0 = (u / st) % ct * T, s0 = u % st * T;
        int64_t c1 = c0 + T < c ? c0 + T : c, s1 = s0 + T < sp ? s0 + T : sp;
        const float *x = (const float *)src + b * c * sp;
        float *y = (float *)dst + b * c * sp;
        for (int64_t i = c0; i < c1; i++)
            for (int64_t p = s0; p < s1; p++) {
                if (to_last)
                    y[p * c + i] = x[i * sp + p];
                else
                    y[i * sp + p] = x[p * c + i];
            }
    }
}

static void blocking(const void *src, void *dst, size_t esize, int32_t rank, const int64_t *dims,
                     int64_t block, int threads, int to_blocked) {
    int64_t n = dims[0], c = dims[1], sp = 1;
    for (int32_t d = 2; d < rank; d++) sp *= dims[d];
    if (block == c && c > 1 && n > 0 && esize == sizeof(float)) { /* channels-last */
        transpose_f32(src, dst, n, c, sp, threads, to_blocked);
        return;
    }
    int64_t cb = c / block, units = n * cb;
    int par = threads > 1 && units > 1 && n * c * sp > (1 << 15);
    KILN_NN_PRAGMA(omp parallel for num_threads(threads) if (par) schedule(static))
    for (int64_t u = 0; u < units; u++) {
        int64_t nb = u / cb, b = u % cb;
        /* the (block x spatial) slab of unit u: blocked it is spatial-major */
        const char *s = (const char *)src, *sblk = s + (size_t)(u * sp * block) * esize;
        const char *spl = s + (size_t)((nb * c + b * block) * sp) * esize;
        char *d = (char *)dst, *dblk = d + (size_t)(u * sp * block) * esize;
        char *dpl = d + (size_t)((nb * c + b * block) * sp) * esize;
        for (int64_t p = 0; p < sp; p++)
            for (int64_t i = 0; i < block; i++) {
                if (to_blocked)
                    memcpy(dblk + (size_t)(p * block + i) * esize,
                           spl + (size_t)(i * sp + p) * esize, esize);
                else
                    memcpy(dpl + (size_t)(i * sp + p) * esize,
                           sblk + (size_t)(p * block + i) * esize, esize);
            }
    }
}

void kiln_nn_unblock(const void *src, void *dst, size_t esize, int32_t rank, const int64_t *dims,
                     int64_t block, int threads) {
    blocking(src, dst, esize, rank, dims, block, threads, 0);
}

void kiln_nn_block(const void *src, void *dst, size_t esize, int32_t rank, const int64_t *dims,
                   int64_t block, int threads) {
    blocking(src, dst, esize, rank, dims, block, threads, 1);
}

/* Any fixed-size element type: blocking only moves elements (a precision pass may have
 * changed a blocked tensor's type after the build). */
static int blockable(const kiln_tview *t, int64_t block) {
    return kiln_dtype_nbytes(t->dtype, 1) > 0 && kiln_dtype_bits(t->dtype) % 8 == 0 &&
           t->rank >= 3 && block > 0 && t->dims[1] % block == 0;
}

kiln_status kiln_nn_run_unblocked(kiln_cpu_ctx *ctx, const kiln_node *node, kiln_tview *v,
                                  int32_t n_in, kiln_tview *out, int32_t n_out, int64_t in_block,
                                  int32_t extra_index, int64_t extra_block, int64_t out_block,
                                  kiln_cpu_kernel_fn fn) {
    int threads = kiln_cpu_threads(ctx);
    float *tmp[3] = {NULL, NULL, NULL};
    kiln_status st = KILN_OK;
    int32_t idx[2] = {0, extra_index};
    int64_t blk[2] = {in_block, extra_block};
    for (int k = 0; k < 2 && st == KILN_OK; k++) {
        if (!blk[k] || idx[k] < 0 || idx[k] >= n_in) continue;
        kiln_tview *t = &v[idx[k]];
        if (blk[k] == KILN_NN_NHWC && t->rank >= 3) blk[k] = t->dims[1];
        if (!blockable(t, blk[k])) {
            st = kiln_node_error(KILN_ERR_INVALID_ARGUMENT, node,
                                 "input %d is marked channel-blocked by %lld but cannot be", idx[k],
                                 (long long)blk[k]);
            break;
        }
        tmp[k] = malloc(kiln_dtype_nbytes(t->dtype, kiln_nn_count(t) + 1));
        if (!tmp[k]) {
            st = kiln_node_error(KILN_ERR_OUT_OF_MEMORY, node, "out of memory");
            break;
        }
        kiln_nn_unblock(t->data, tmp[k], kiln_dtype_nbytes(t->dtype, 1), t->rank, t->dims, blk[k],
                        threads);
        t->data = tmp[k];
    }
    kiln_tview *outs = out;
    kiln_tview *local = NULL;
    if (out_block == KILN_NN_NHWC && n_out > 0 && out[0].rank >= 3) out_block = out[0].dims[1];
    if (st == KILN_OK && out_block) {
        if (!blockable(&out[0], out_block)) {
            st = kiln_node_error(KILN_ERR_INVALID_ARGUMENT, node,
                                 "its output is marked channel-blocked by %lld but cannot be",
                                 (long long)out_block);
        } else {
            tmp[2] = malloc(kiln_dtype_nbytes(out[0].dtype, kiln_nn_count(&out[0]) + 1));
            local = malloc(sizeof *local * (size_t)(n_out > 0 ? n_out : 1));
            if (!tmp[2] || !local) {
                st = kiln_node_error(KILN_ERR_OUT_OF_MEMORY, node, "out of memory");
            } else {
                for (int32_t i = 0; i < n_out; i++) local[i] = out[i];
                local[0].data = tmp[2];
                outs = local;
            }
        }
    }
    if (st == KILN_OK) st = fn(ctx, node, v, n_in, outs, n_out);
    if (st == KILN_OK && out_block)
        kiln_nn_block(tmp[2], out[0].data, kiln_dtype_nbytes(out[0].dtype, 1), out[0].rank,
                      out[0].dims, out_block, threads);
    for (int k = 0; k < 3; k++) free(tmp[k]);
    free(local);
    return st;
}

kiln_status kiln_nn_pool_dispatch(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                                  int32_t n_in, kiln_tview *out, int32_t n_out,
                                  kiln_cpu_kernel_fn ref) {
#ifdef KILN_HAVE_DNNL
    if (kiln_dnnl_enabled()) {
        int handled = 0;
        KILN_TRY(kiln_dnnl_pool(ctx, node, in, n_in, out, n_out, &handled));
        if (handled) return KILN_OK;
    }
#endif
    int64_t ib = kiln_nn_in_block(node), ob = kiln_nn_out_block(node);
    if (!ib && !ob) return ref(ctx, node, in, n_in, out, n_out);
    kiln_tview v[1] = {in[0]};
    return kiln_nn_run_unblocked(ctx, node, v, n_in < 1 ? n_in : 1, out, n_out, ib, -1, 0, ob, ref);
}

/* ------------------------------------------------------------ oneDNN ---------------- */

static int dnnl_enabled = -1; /* -1: not decided yet (KILN_DNNL environment variable) */

void kiln_nn_use_dnnl(int enabled) {
    dnnl_enabled = enabled != 0;
}

int kiln_nn_have_dnnl(void) {
#ifdef KILN_HAVE_DNNL
    return 1;
#else
    return 0;
#endif
}

#ifdef KILN_HAVE_DNNL

int kiln_dnnl_enabled(void) {
    if (dnnl_enabled < 0) {
        const char *v = getenv("KILN_DNNL");
        dnnl_enabled = !(v && (!strcmp(v, "0") || !strcmp(v, "off") || !strcmp(v, "OFF")));
    }
    return dnnl_enabled;
}

static pthread_once_t engine_once = PTHREAD_ONCE_INIT;
static dnnl_engine_t engine;

static void engine_create(void) {
    if (dnnl_engine_create(&engine, dnnl_cpu, 0) != dnnl_success) engine = NULL;
}

dnnl_engine_t kiln_dnnl_engine(void) {
    pthread_once(&engine_once, engine_create);
    return engine;
}

int64_t kiln_dnnl_version(void) {
    const dnnl_version_t *v = dnnl_version();
    return (int64_t)v->major * 10000 + v->minor * 100 + v->patch;
}

int kiln_dnnl_wdesc(const kiln_node *node, dnnl_memory_desc_t *md) {
    const kiln_attr *a = kiln_node_attr(node, "_kiln_dnnl_wdesc");
    if (!a || a->type != KILN_ATTR_STRING || a->s_len != sizeof *md) return 0;
    if (kiln_attr_int(node, "_kiln_dnnl_version", -1) != kiln_dnnl_version()) return 0;
    memcpy(md, a->s, sizeof *md);
    return md->data_type == dnnl_f32 && md->format_kind == dnnl_blocked;
}

int64_t kiln_dnnl_preferred_block(void) {
    unsigned isa = (unsigned)dnnl_get_effective_cpu_isa();
    if ((isa & dnnl_cpu_isa_avx512_core) == dnnl_cpu_isa_avx512_core) return 16;
    if ((isa & dnnl_cpu_isa_avx2) == dnnl_cpu_isa_avx2) return 8;
    return 0;
}

kiln_status kiln_dnnl_error(const kiln_node *node, dnnl_status_t st, const char *what) {
    return kiln_node_error(st == dnnl_out_of_memory ? KILN_ERR_OUT_OF_MEMORY : KILN_ERR_INTERNAL,
                           node, "oneDNN call failed (status %d): %s", (int)st, what);
}

int kiln_dnnl_make_attr(const kiln_nn_act *act, float sum_scale, dnnl_primitive_attr_t *out) {
    return kiln_dnnl_make_attr_add(act, sum_scale, NULL, out);
}

int kiln_dnnl_make_attr_add(const kiln_nn_act *act, float sum_scale,
                            const dnnl_memory_desc_t *add_md, dnnl_primitive_attr_t *out) {
    *out = NULL;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    int ok =
        dnnl_primitive_attr_create(&attr) == dnnl_success &&
        dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user) == dnnl_success &&
        dnnl_post_ops_create(&po) == dnnl_success;
    if (ok && add_md)
        ok = dnnl_post_ops_append_binary(po, dnnl_binary_add, add_md) == dnnl_success;
    else if (ok && sum_scale != 0.0f)
        ok = dnnl_post_ops_append_sum(po, sum_scale) == dnnl_success;
    if (ok) {
        dnnl_alg_kind_t alg = dnnl_alg_kind_undef;
        float alpha = 0.0f, beta = 0.0f;
        switch (act->kind) {
        case KILN_NN_ACT_NONE:
            break;
        case KILN_NN_ACT_RELU:
            alg = dnnl_eltwise_relu;
            break;
        case KILN_NN_ACT_LEAKY_RELU:
            alg = dnnl_eltwise_relu, alpha = act->alpha;
            break;
        case KILN_NN_ACT_CLIP:
            alg = dnnl_eltwise_clip, alpha = act->alpha, beta = act->beta;
            break;
        case KILN_NN_ACT_SIGMOID:
            alg = dnnl_eltwise_logistic;
            break;
        case KILN_NN_ACT_TANH:
            alg = dnnl_eltwise_tanh;
            break;
        case KILN_NN_ACT_HARD_SIGMOID: /* clip(alpha x + beta, 0, 1) */
            ok = dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_linear, act->alpha,
                                              act->beta) == dnnl_success;
            alg = dnnl_eltwise_clip, alpha = 0.0f, beta = 1.0f;
            break;
        case KILN_NN_ACT_GELU:
            alg = dnnl_eltwise_gelu_erf;
            break;
        case KILN_NN_ACT_GELU_TANH:
            alg = dnnl_eltwise_gelu_tanh;
            break;
        case KILN_NN_ACT_SWISH:
            alg = dnnl_eltwise_swish, alpha = act->alpha;
            break;
        }
        if (ok && alg != dnnl_alg_kind_undef)
            ok = dnnl_post_ops_append_eltwise(po, 1.0f, alg, alpha, beta) == dnnl_success;
    }
    if (ok) ok = dnnl_primitive_attr_set_post_ops(attr, po) == dnnl_success;
    if (po) dnnl_post_ops_destroy(po);
    if (!ok) {
        if (attr) dnnl_primitive_attr_destroy(attr);
        return 0;
    }
    *out = attr;
    return 1;
}

dnnl_status_t kiln_dnnl_md(dnnl_memory_desc_t *md, int32_t rank, const int64_t *dims,
                           int64_t block) {
    static const dnnl_format_tag_t plain[] = {dnnl_a,     dnnl_ab,     dnnl_abc,     dnnl_abcd,
                                              dnnl_abcde, dnnl_abcdef, dnnl_abcdefg, dnnl_abcdefgh};
    dnnl_dims_t d;
    if (rank < 1 || rank > 8) return dnnl_invalid_arguments;
    for (int32_t i = 0; i < rank; i++) d[i] = dims[i];
    dnnl_format_tag_t tag = plain[rank - 1];
    if (block == 16) {
        tag = rank == 3   ? dnnl_aBc16b
              : rank == 4 ? dnnl_aBcd16b
              : rank == 5 ? dnnl_aBcde16b
                          : dnnl_format_tag_undef;
    } else if (block == 8) {
        tag = rank == 3   ? dnnl_aBc8b
              : rank == 4 ? dnnl_aBcd8b
              : rank == 5 ? dnnl_aBcde8b
                          : dnnl_format_tag_undef;
    } else if (block == KILN_NN_NHWC) {
        tag = rank == 3   ? dnnl_acb
              : rank == 4 ? dnnl_acdb
              : rank == 5 ? dnnl_acdeb
                          : dnnl_format_tag_undef;
    } else if (block != 0) {
        tag = dnnl_format_tag_undef;
    }
    if (tag == dnnl_format_tag_undef) return dnnl_invalid_arguments;
    return dnnl_memory_desc_init_by_tag(md, rank, d, dnnl_f32, tag);
}

dnnl_status_t kiln_dnnl_scratch_memory(size_t bytes, dnnl_memory_t *out) {
    dnnl_memory_desc_t md;
    dnnl_dims_t d = {(int64_t)(bytes ? bytes : 1)};
    dnnl_status_t st = dnnl_memory_desc_init_by_tag(&md, 1, d, dnnl_u8, dnnl_a);
    if (st == dnnl_success) st = dnnl_memory_create(out, &md, kiln_dnnl_engine(), DNNL_MEMORY_NONE);
    return st;
}

dnnl_status_t kiln_dnnl_unary_create(kiln_dnnl_unary *u, const_dnnl_primitive_desc_t pd) {
    dnnl_engine_t eng = kiln_dnnl_engine();
    u->scratch =
        dnnl_memory_desc_get_size(dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0));
    dnnl_status_t st = dnnl_primitive_create(&u->prim, pd);
    if (st == dnnl_success)
        st = dnnl_memory_create(&u->m_src, dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0),
                                eng, DNNL_MEMORY_NONE);
    if (st == dnnl_success)
        st = dnnl_memory_create(&u->m_dst, dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0),
                                eng, DNNL_MEMORY_NONE);
    if (st == dnnl_success) st = kiln_dnnl_scratch_memory(u->scratch, &u->m_scratch);
    if (st == dnnl_success) st = dnnl_stream_create(&u->stream, eng, dnnl_stream_default_flags);
    return st;
}

void kiln_dnnl_unary_destroy(kiln_dnnl_unary *u) {
    if (u->prim) dnnl_primitive_destroy(u->prim);
    if (u->m_src) dnnl_memory_destroy(u->m_src);
    if (u->m_dst) dnnl_memory_destroy(u->m_dst);
    if (u->m_scratch) dnnl_memory_destroy(u->m_scratch);
    if (u->stream) dnnl_stream_destroy(u->stream);
}

kiln_status kiln_dnnl_unary_run(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_dnnl_unary *u,
                                const void *src, void *dst, const char *what) {
    char *cur = NULL;
    KILN_TRY(kiln_nn_scratch(ctx, node, u->scratch + 64, &cur));
    cur = (char *)(((uintptr_t)cur + 63) & ~(uintptr_t)63); /* oneDNN wants it 64-aligned */
    dnnl_status_t ds = dnnl_memory_set_data_handle(u->m_src, (void *)src);
    if (ds == dnnl_success) ds = dnnl_memory_set_data_handle(u->m_dst, dst);
    if (ds == dnnl_success) ds = dnnl_memory_set_data_handle(u->m_scratch, cur);
    dnnl_exec_arg_t args[3] = {
        {DNNL_ARG_SRC, u->m_src}, {DNNL_ARG_DST, u->m_dst}, {DNNL_ARG_SCRATCHPAD, u->m_scratch}};
    if (ds == dnnl_success) ds = dnnl_primitive_execute(u->prim, u->stream, 3, args);
    if (ds == dnnl_success) ds = dnnl_stream_wait(u->stream);
    return ds == dnnl_success ? KILN_OK : kiln_dnnl_error(node, ds, what);
}

kiln_status kiln_dnnl_reorder(const kiln_node *node, dnnl_stream_t stream,
                              const dnnl_memory_desc_t *smd, const void *src,
                              const dnnl_memory_desc_t *dmd, void *dst) {
    dnnl_engine_t eng = kiln_dnnl_engine();
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_t prim = NULL;
    dnnl_memory_t sm = NULL, dm = NULL;
    dnnl_status_t st = dnnl_reorder_primitive_desc_create(&pd, smd, eng, dmd, eng, NULL);
    if (st == dnnl_success) st = dnnl_primitive_create(&prim, pd);
    if (st == dnnl_success) st = dnnl_memory_create(&sm, smd, eng, (void *)src);
    if (st == dnnl_success) st = dnnl_memory_create(&dm, dmd, eng, dst);
    if (st == dnnl_success) {
        dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, sm}, {DNNL_ARG_TO, dm}};
        st = dnnl_primitive_execute(prim, stream, 2, args);
    }
    if (st == dnnl_success) st = dnnl_stream_wait(stream);
    if (sm) dnnl_memory_destroy(sm);
    if (dm) dnnl_memory_destroy(dm);
    if (prim) dnnl_primitive_destroy(prim);
    if (pd) dnnl_primitive_desc_destroy(pd);
    return st == dnnl_success ? KILN_OK : kiln_dnnl_error(node, st, "reorder");
}

int32_t kiln_dnnl_layout_ints(const dnnl_memory_desc_t *md, int64_t *out, int32_t cap) {
    if (md->format_kind != dnnl_blocked || md->offset0 != 0 || md->extra.flags != 0) return 0;
    int nd = md->ndims;
    const dnnl_blocking_desc_t *b = &md->format_desc.blocking;
    int32_t need = 2 + 3 * nd + 2 * b->inner_nblks;
    if (nd < 1 || nd > KILN_MAX_DIMS || b->inner_nblks > KILN_MAX_DIMS || need > cap) return 0;
    for (int d = 0; d < nd; d++)
        if (md->padded_offsets[d] != 0) return 0;
    int32_t k = 0;
    out[k++] = nd;
    for (int d = 0; d < nd; d++) out[k++] = md->dims[d];
    for (int d = 0; d < nd; d++) out[k++] = md->padded_dims[d];
    for (int d = 0; d < nd; d++) out[k++] = b->strides[d];
    out[k++] = b->inner_nblks;
    for (int i = 0; i < b->inner_nblks; i++) out[k++] = b->inner_blks[i];
    for (int i = 0; i < b->inner_nblks; i++) out[k++] = b->inner_idxs[i];
    return k;
}

/* Product of md's inner blocks along dim d. */
int64_t kiln_dnnl_inner_block(const dnnl_memory_desc_t *md, int d) {
    int64_t b = 1;
    const dnnl_blocking_desc_t *bd = &md->format_desc.blocking;
    for (int i = 0; i < bd->inner_nblks; i++)
        if (bd->inner_idxs[i] == d) b *= bd->inner_blks[i];
    return b;
}

/* Whether md is a blocked layout in which dim d's blocks are outermost (every other dim
 * whose outer extent exceeds 1 has a smaller stride): slices along d are contiguous. */
int kiln_dnnl_outermost(const dnnl_memory_desc_t *md, int d) {
    if (md->format_kind != dnnl_blocked || md->offset0 != 0 || md->extra.flags != 0) return 0;
    const dnnl_dim_t *st = md->format_desc.blocking.strides;
    for (int e = 0; e < md->ndims; e++)
        if (e != d && md->padded_dims[e] / kiln_dnnl_inner_block(md, e) > 1 && st[e] >= st[d])
            return 0;
    return md->padded_offsets[d] == 0;
}

/* Elements [start, start + size) of md along dim d (outermost; start a multiple of its
 * block): the slice's own descriptor and its byte offset in the full tensor. */
void kiln_dnnl_slice_md(const dnnl_memory_desc_t *md, int d, int64_t start, int64_t size,
                        dnnl_memory_desc_t *part, size_t *offset) {
    int64_t blk = kiln_dnnl_inner_block(md, d);
    *part = *md;
    part->dims[d] = size;
    part->padded_dims[d] = (size + blk - 1) / blk * blk;
    dnnl_dim_t *st = part->format_desc.blocking.strides;
    const dnnl_dim_t *fst = md->format_desc.blocking.strides;
    /* dims of extent 1 outside d: strides of a dense slice */
    for (int e = 0; e < md->ndims; e++)
        if (e != d && md->padded_dims[e] / kiln_dnnl_inner_block(md, e) == 1 && fst[e] > fst[d])
            st[e] = fst[d] * (part->padded_dims[d] / blk);
    *offset = (size_t)(start / blk * fst[d]) * sizeof(float);
}

int kiln_dnnl_use_pool(void) {
    static int pool = -1;
    if (pool < 0) {
        const char *v = getenv("KILN_DNNL_THREADING");
        pool = v && !strcmp(v, "pool");
    }
    return pool;
}

int kiln_dnnl_threads_for(int threads, double flops) {
    static double per_thread = -1.0;
    if (per_thread < 0.0) { /* KILN_DNNL_FLOPS_PER_THREAD in the environment overrides */
        const char *v = getenv("KILN_DNNL_FLOPS_PER_THREAD");
        double d = v ? strtod(v, NULL) : 0.0;
        per_thread = d > 0.0                ? d
                     : kiln_dnnl_use_pool() ? KILN_DNNL_FLOPS_PER_THREAD_POOL
                                            : KILN_DNNL_FLOPS_PER_THREAD;
    }
    if (threads <= 1) return 1;
    double t = flops / per_thread;
    if (t >= (double)threads) return threads;
    return t < 2.0 ? 1 : (int)t;
}

int kiln_dnnl_threads_begin(int threads) {
#ifdef KILN_HAVE_OPENMP
    int previous = omp_get_max_threads();
    if (previous != threads) omp_set_num_threads(threads);
    return previous;
#else
    (void)threads;
    return 0;
#endif
}

void kiln_dnnl_threads_end(int previous) {
#ifdef KILN_HAVE_OPENMP
    if (previous > 0 && previous != omp_get_max_threads()) omp_set_num_threads(previous);
#else
    (void)previous;
#endif
}

#endif
