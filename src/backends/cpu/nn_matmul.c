/*
 * MatMul: numpy-style batched matrix product (1-D operands, broadcast batch dims), with the
 * fused epilogue of the fusion contract: y = act(scale * A B + bias + sum), and folded
 * Transposes (`_kiln_perm_a` / `_kiln_perm_b` / `_kiln_perm_y`), which the reference path
 * materializes (oneDNN reads them through strides).
 */
#include <stdlib.h>

#include "backends/cpu/dnnl_common.h"
#include "backends/cpu/tensor_common.h"

#ifdef KILN_HAVE_OPENMP
#include <omp.h>
#endif

/* The product's geometry: batch offsets (in matrices) of A and B for every output batch. */
typedef struct mm_geom {
    int64_t m, n, k;
    int64_t batches, a_batches, b_batches;
    int64_t *a_off, *b_off; /* batches entries each, in scratch */
} mm_geom;

static void batch_shape(const kiln_tview *t, int32_t r, int64_t *dims) {
    int32_t tb = t->rank > 2 ? t->rank - 2 : 0;
    for (int32_t i = 0; i < r; i++) {
        int32_t j = i - (r - tb);
        dims[i] = j >= 0 ? t->dims[j] : 1;
    }
}

static int64_t product(const int64_t *d, int32_t r) {
    int64_t p = 1;
    for (int32_t i = 0; i < r; i++) p *= d[i];
    return p;
}

/* Fills geometry sizes (offsets later, once scratch is known). */
static void mm_sizes(const kiln_tview *a, const kiln_tview *b, const kiln_tview *y, mm_geom *g,
                     int32_t *batch_rank) {
    g->k = a->dims[a->rank - 1];
    g->m = a->rank >= 2 ? a->dims[a->rank - 2] : 1;
    g->n = b->rank >= 2 ? b->dims[b->rank - 1] : 1;
    int32_t r = y->rank - (a->rank >= 2) - (b->rank >= 2);
    *batch_rank = r;
    g->batches = product(y->dims, r);
    int64_t ad[KILN_MAX_DIMS], bd[KILN_MAX_DIMS];
    batch_shape(a, r, ad);
    batch_shape(b, r, bd);
    g->a_batches = product(ad, r);
    g->b_batches = product(bd, r);
}

static void mm_offsets(const kiln_tview *a, const kiln_tview *b, const kiln_tview *y, int32_t r,
                       mm_geom *g) {
    int64_t ad[KILN_MAX_DIMS], bd[KILN_MAX_DIMS], idx[KILN_MAX_DIMS] = {0};
    batch_shape(a, r, ad);
    batch_shape(b, r, bd);
    for (int64_t t = 0; t < g->batches; t++) {
        int64_t ao = 0, bo = 0;
        for (int32_t i = 0; i < r; i++) {
            ao = ao * ad[i] + (ad[i] == 1 ? 0 : idx[i]);
            bo = bo * bd[i] + (bd[i] == 1 ? 0 : idx[i]);
        }
        g->a_off[t] = ao;
        g->b_off[t] = bo;
        for (int32_t i = r - 1; i >= 0; i--) {
            if (++idx[i] < y->dims[i]) break;
            idx[i] = 0;
        }
    }
}

static void mm_f32(kiln_cpu_ctx *ctx, const mm_geom *g, float alpha, const float *a, const float *b,
                   float *y, char *ws_base, size_t ws_one, const kiln_nn_epilogue *ep) {
    int threads = kiln_cpu_threads(ctx);
    int64_t m = g->m, n = g->n, k = g->k;
    if (g->b_batches == 1 && g->a_batches == g->batches) {
        /* B shared by every batch: one tall GEMM over all of A's rows */
        kiln_nn_sgemm_ep(0, 0, g->batches * m, n, k, alpha, a, k, b, n, 0.0f, y, n, ws_base,
                         threads, ep);
        return;
    }
    double flops = (double)m * (double)n * (double)k;
    if (threads > 1 && g->batches >= threads && flops < 128.0 * 128 * 128) {
        /* many small products: one per thread */
        KILN_NN_PRAGMA(omp parallel for num_threads(threads) schedule(dynamic, 1))
        for (int64_t t = 0; t < g->batches; t++) {
            int tid = 0;
#ifdef KILN_HAVE_OPENMP
            tid = omp_get_thread_num();
#endif
            kiln_nn_epilogue e = *ep; /* the sum matrix of this batch */
            if (e.sum) e.sum += t * m * n;
            kiln_nn_sgemm_ep(0, 0, m, n, k, alpha, a + g->a_off[t] * m * k, k,
                             b + g->b_off[t] * k * n, n, 0.0f, y + t * m * n, n,
                             ws_base + (size_t)tid * ws_one, 1, &e);
        }
        return;
    }
    for (int64_t t = 0; t < g->batches; t++) {
        kiln_nn_epilogue e = *ep;
        if (e.sum) e.sum += t * m * n;
        kiln_nn_sgemm_ep(0, 0, m, n, k, alpha, a + g->a_off[t] * m * k, k, b + g->b_off[t] * k * n,
                         n, 0.0f, y + t * m * n, n, ws_base, threads, &e);
    }
}

static void mm_f64(const mm_geom *g, double alpha, const double *a, const double *b, double *y) {
    int64_t m = g->m, n = g->n, k = g->k;
    for (int64_t t = 0; t < g->batches; t++)
        kiln_nn_dgemm(0, 0, m, n, k, alpha, a + g->a_off[t] * m * k, k, b + g->b_off[t] * k * n, n,
                      0.0, y + t * m * n, n);
}

/* Integer types: int64 accumulation through the generic accessors (rarely used). */
static void mm_int(const mm_geom *g, const kiln_tview *a, const kiln_tview *b, kiln_tview *y) {
    int64_t m = g->m, n = g->n, k = g->k;
    for (int64_t t = 0; t < g->batches; t++) {
        int64_t ab = g->a_off[t] * m * k, bb = g->b_off[t] * k * n, yb = t * m * n;
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) {
                int64_t s = 0;
                for (int64_t p = 0; p < k; p++)
                    s += kiln_tview_get_int(a, ab + i * k + p) *
                         kiln_tview_get_int(b, bb + p * n + j);
                kiln_tview_set_int(y, yb + i * n + j, s);
            }
    }
}

static kiln_status matmul_ref(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                              int32_t n_in, kiln_tview *out, int32_t n_out) {
    const kiln_tview *a = &in[0], *b = &in[1];
    kiln_tview *y = &out[0];
    kiln_dtype dt = a->dtype;
    switch (dt) {
    case KILN_DTYPE_FLOAT32:
    case KILN_DTYPE_FLOAT16:
    case KILN_DTYPE_BFLOAT16:
    case KILN_DTYPE_FLOAT64:
    case KILN_DTYPE_INT32:
    case KILN_DTYPE_INT64:
    case KILN_DTYPE_UINT32:
    case KILN_DTYPE_UINT64:
        break;
    default:
        return kiln_nn_bad_dtype(node, dt);
    }
    mm_geom g;
    int32_t r;
    mm_sizes(a, b, y, &g, &r);
    if (kiln_nn_count(y) == 0) return KILN_OK;
    kiln_nn_act act;
    KILN_TRY(kiln_nn_act_from_node(node, &act));
    const kiln_tview *bias = NULL, *sum = NULL;
    KILN_TRY(kiln_nn_bias_input(node, in, n_in, g.n, &bias));
    KILN_TRY(kiln_nn_sum_input(node, in, n_in, y, &sum));
    float scale = kiln_attr_float(node, "_kiln_scale", 1.0f);
    int fused = bias || sum || scale != 1.0f || act.kind != KILN_NN_ACT_NONE;
    if (fused && dt != KILN_DTYPE_FLOAT32 && dt != KILN_DTYPE_FLOAT16 &&
        dt != KILN_DTYPE_BFLOAT16 && dt != KILN_DTYPE_FLOAT64)
        return kiln_node_error(KILN_ERR_UNSUPPORTED, node, "fused epilogue on %s MatMul",
                               kiln_dtype_name(dt));
    int threads = kiln_cpu_threads(ctx);
    int64_t big_m = g.b_batches == 1 && g.a_batches == g.batches ? g.batches * g.m : g.m;
    size_t ws_one = kiln_nn_align(kiln_nn_sgemm_workspace(big_m, g.n, g.k, 1));
    size_t ws_all = kiln_nn_align(kiln_nn_sgemm_workspace(big_m, g.n, g.k, threads));
    if ((size_t)threads * ws_one > ws_all) ws_all = (size_t)threads * ws_one;
    size_t bytes = 2 * kiln_nn_align((size_t)g.batches * sizeof(int64_t));
    int f32 = dt == KILN_DTYPE_FLOAT32 || dt == KILN_DTYPE_FLOAT16 || dt == KILN_DTYPE_BFLOAT16;
    if (f32)
        bytes += ws_all + kiln_nn_f32_bytes(a) + kiln_nn_f32_bytes(b) + kiln_nn_f32_bytes(y) +
                 (bias ? kiln_nn_f32_bytes(bias) : 0) + (sum ? kiln_nn_f32_bytes(sum) : 0);
    char *cur;
    KILN_TRY(kiln_nn_scratch(ctx, node, bytes, &cur));
    g.a_off = (int64_t *)kiln_nn_carve(&cur, (size_t)g.batches * sizeof(int64_t));
    g.b_off = (int64_t *)kiln_nn_carve(&cur, (size_t)g.batches * sizeof(int64_t));
    mm_offsets(a, b, y, r, &g);
    if (f32) {
        char *ws = (char *)kiln_nn_carve(&cur, ws_all);
        const float *af = kiln_nn_f32_in(a, &cur), *bf = kiln_nn_f32_in(b, &cur);
        kiln_nn_epilogue ep = {NULL, bias ? kiln_nn_f32_in(bias, &cur) : NULL,
                               sum ? kiln_nn_f32_in(sum, &cur) : NULL, g.n, act};
        float *yf = kiln_nn_f32_out(y, &cur);
        mm_f32(ctx, &g, scale, af, bf, yf, ws, ws_one, &ep);
        kiln_nn_f32_out_done(y, yf);
    } else if (dt == KILN_DTYPE_FLOAT64) {
        double *yd = (double *)y->data;
        mm_f64(&g, scale, (const double *)a->data, (const double *)b->data, yd);
        if (fused) {
            const double *bd = bias ? (const double *)bias->data : NULL;
            const double *sd = sum ? (const double *)sum->data : NULL;
            int64_t rows = kiln_nn_count(y) / g.n;
            for (int64_t i = 0; i < rows; i++) {
                if (bd)
                    for (int64_t j = 0; j < g.n; j++) yd[i * g.n + j] += bd[j];
                if (sd)
                    for (int64_t j = 0; j < g.n; j++) yd[i * g.n + j] += sd[i * g.n + j];
                kiln_nn_act_apply_f64(&act, yd + i * g.n, g.n);
            }
        }
    } else {
        mm_int(&g, a, b, y);
    }
    return KILN_OK;
}

/* x permuted (Transpose semantics) into a malloc'ed contiguous copy *buf, viewed by *v. */
static kiln_status permute_copy(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *x,
                                const int32_t *perm, kiln_tview *v, void **buf) {
    size_t es;
    KILN_TRY(kiln_tensor_elem_size(node, x->dtype, &es));
    *v = *x;
    kiln_nn_permute_dims(x->rank, perm, x->dims, v->dims);
    *buf = malloc(es * (size_t)(kiln_nn_count(x) + 1));
    if (!*buf) return kiln_node_error(KILN_ERR_OUT_OF_MEMORY, node, "out of memory");
    int64_t xs[KILN_MAX_DIMS], ss[KILN_MAX_DIMS], ds[KILN_MAX_DIMS];
    kiln_tensor_strides(x->rank, x->dims, (int64_t)es, xs);
    kiln_tensor_strides(v->rank, v->dims, (int64_t)es, ds);
    kiln_nn_permute_dims(x->rank, perm, xs, ss);
    kiln_tensor_copy_strided(ctx, *buf, ds, x->data, ss, x->rank, v->dims, es);
    v->data = *buf;
    return KILN_OK;
}

/* The reference kernel with folded Transposes: operands copied into their permuted layout,
 * the product into a temporary that is then permuted into y. The fusion contract keeps
 * `_kiln_perm_y` apart from a bias or sum input (which would index the product, not y);
 * scale and activation are element-wise and commute with it. */
static kiln_status matmul_ref_perm(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                                   int32_t n_in, kiln_tview *out, int32_t n_out) {
    int32_t pa[KILN_MAX_DIMS], pb[KILN_MAX_DIMS], py[KILN_MAX_DIMS];
    int has_a = kiln_nn_matmul_perm(node, "_kiln_perm_a", in[0].rank, pa);
    int has_b = kiln_nn_matmul_perm(node, "_kiln_perm_b", in[1].rank, pb);
    int has_y = kiln_nn_matmul_perm(node, "_kiln_perm_y", out[0].rank, py);
    if (has_a < 0 || has_b < 0 || has_y < 0)
        return kiln_node_error(KILN_ERR_INVALID_ARGUMENT, node,
                               "a _kiln_perm_* attribute does not fit its operand's rank");
    if (!has_a && !has_b && !has_y) return matmul_ref(ctx, node, in, n_in, out, n_out);
    if (has_y && (kiln_attr_int(node, "_kiln_bias_input", -1) >= 0 ||
                  kiln_attr_int(node, "_kiln_sum_input", -1) >= 0))
        return kiln_node_error(KILN_ERR_UNSUPPORTED, node,
                               "_kiln_perm_y together with a fused bias / sum input");
    kiln_tview v[4], y[1] = {out[0]};
    void *buf[3] = {NULL, NULL, NULL};
    kiln_status st = KILN_OK;
    for (int32_t i = 0; i < n_in && i < 4; i++) v[i] = in[i];
    if (has_a) st = permute_copy(ctx, node, &in[0], pa, &v[0], &buf[0]);
    if (st == KILN_OK && has_b) st = permute_copy(ctx, node, &in[1], pb, &v[1], &buf[1]);
    if (st == KILN_OK && has_y) { /* the product's dims: y's with the permutation undone */
        for (int32_t i = 0; i < y->rank; i++) y->dims[py[i]] = out[0].dims[i];
        size_t es = 0;
        st = kiln_tensor_elem_size(node, y->dtype, &es);
        if (st == KILN_OK && !(buf[2] = y->data = malloc(es * (size_t)(kiln_nn_count(y) + 1))))
            st = kiln_node_error(KILN_ERR_OUT_OF_MEMORY, node, "out of memory");
    }
    if (st == KILN_OK) st = matmul_ref(ctx, node, v, n_in, y, n_out);
    if (st == KILN_OK && has_y) {
        kiln_tview tmp;
        void *copy = NULL;
        st = permute_copy(ctx, node, y, py, &tmp, &copy);
        if (st == KILN_OK)
            memcpy(out[0].data, copy, kiln_dtype_nbytes(out[0].dtype, kiln_nn_count(&out[0])));
        free(copy);
    }
    for (int k = 0; k < 3; k++) free(buf[k]);
    return st;
}

/* oneDNN where it takes the node, else the reference kernel (prepared weights decoded). */
kiln_status kiln_cpu_matmul(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                            int32_t n_in, kiln_tview *out, int32_t n_out) {
#ifdef KILN_HAVE_DNNL
    if (kiln_dnnl_enabled()) {
        int handled = 0;
        KILN_TRY(kiln_dnnl_matmul(ctx, node, in, n_in, out, &handled));
        if (handled) return KILN_OK;
    }
#endif
    if (n_in < 2 || !kiln_nn_weights_prepared(node, &in[1]))
        return matmul_ref_perm(ctx, node, in, n_in, out, n_out);
    kiln_tview v[4];
    for (int32_t i = 0; i < n_in && i < 4; i++) v[i] = in[i];
    KILN_TRY(kiln_nn_plain_weights(ctx, node, &in[1], &v[1]));
    return matmul_ref_perm(ctx, node, v, n_in, out, n_out);
}
