/* Gemm: Y = alpha * op(A) * op(B) + beta * C, C unidirectionally broadcast to (M, N). */
#include "backends/cpu/dnnl_common.h"

/* Index into C (rank 0..2) for output element (i, j). */
static int64_t c_index(const kiln_tview *c, int64_t i, int64_t j) {
    if (c->rank == 0) return 0;
    if (c->rank == 1) return c->dims[0] == 1 ? 0 : j;
    return (c->dims[0] == 1 ? 0 : i) * c->dims[1] + (c->dims[1] == 1 ? 0 : j);
}

static kiln_status gemm_ref(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                            int32_t n_in, kiln_tview *out, int32_t n_out) {
    const kiln_tview *a = &in[0], *b = &in[1];
    const kiln_tview *c = n_in > 2 && kiln_tview_present(&in[2]) ? &in[2] : NULL;
    kiln_tview *y = &out[0];
    kiln_dtype dt = a->dtype;
    int ta = kiln_attr_int(node, "transA", 0) != 0, tb = kiln_attr_int(node, "transB", 0) != 0;
    float alpha = kiln_attr_float(node, "alpha", 1.0f), beta = kiln_attr_float(node, "beta", 1.0f);
    int64_t m = y->dims[0], n = y->dims[1], k = a->dims[ta ? 0 : 1];
    int64_t lda = a->dims[1], ldb = b->dims[1];
    if (!c || beta == 0.0f) c = NULL;
    if (m == 0 || n == 0) return KILN_OK;
    kiln_nn_act act;
    KILN_TRY(kiln_nn_act_from_node(node, &act));

    if (dt == KILN_DTYPE_FLOAT32 || dt == KILN_DTYPE_FLOAT16 || dt == KILN_DTYPE_BFLOAT16) {
        int threads = kiln_cpu_threads(ctx);
        size_t ws_bytes = kiln_nn_align(kiln_nn_sgemm_workspace(m, n, k, threads));
        size_t bytes = ws_bytes + kiln_nn_f32_bytes(a) + kiln_nn_f32_bytes(b) +
                       kiln_nn_f32_bytes(y) + (c ? kiln_nn_f32_bytes(c) : 0);
        char *cur;
        KILN_TRY(kiln_nn_scratch(ctx, node, bytes, &cur));
        char *ws = (char *)kiln_nn_carve(&cur, ws_bytes);
        const float *af = kiln_nn_f32_in(a, &cur), *bf = kiln_nn_f32_in(b, &cur);
        const float *cf = c ? kiln_nn_f32_in(c, &cur) : NULL;
        float *yf = kiln_nn_f32_out(y, &cur);
        kiln_nn_epilogue ep = {NULL, NULL, NULL, 0, act};
        /* a bias vector over N (the usual fully-connected layer) goes in the epilogue */
        int c_row = cf && beta == 1.0f && kiln_tview_count(c) == n &&
                    (c->rank == 1 || (c->rank == 2 && c->dims[0] == 1));
        if (c_row && n > 1) {
            ep.col_bias = cf;
            cf = NULL;
        }
        if (cf) /* Y starts as C, then the GEMM scales it by beta */
            for (int64_t i = 0; i < m; i++)
                for (int64_t j = 0; j < n; j++) yf[i * n + j] = cf[c_index(c, i, j)];
        kiln_nn_sgemm_ep(ta, tb, m, n, k, alpha, af, lda, bf, ldb, cf ? beta : 0.0f, yf, n, ws,
                         threads, &ep);
        kiln_nn_f32_out_done(y, yf);
        return KILN_OK;
    }
    if (dt == KILN_DTYPE_FLOAT64) {
        double *yd = (double *)y->data;
        const double *cd = c ? (const double *)c->data : NULL;
        if (c && c->dtype != KILN_DTYPE_FLOAT64) return kiln_shape_error(node, "C dtype differs");
        if (cd)
            for (int64_t i = 0; i < m; i++)
                for (int64_t j = 0; j < n; j++) yd[i * n + j] = cd[c_index(c, i, j)];
        kiln_nn_dgemm(ta, tb, m, n, k, alpha, (const double *)a->data, lda, (const double *)b->data,
                      ldb, cd ? beta : 0.0, yd, n);
        kiln_nn_act_apply_f64(&act, yd, m * n);
        return KILN_OK;
    }
    switch (dt) {
    case KILN_DTYPE_INT32:
    case KILN_DTYPE_INT64:
    case KILN_DTYPE_UINT32:
    case KILN_DTYPE_UINT64:
        break;
    default:
        return kiln_nn_bad_dtype(node, dt);
    }
    if (act.kind != KILN_NN_ACT_NONE)
        return kiln_node_error(KILN_ERR_UNSUPPORTED, node, "fused activation on integer Gemm");
    /* integer Gemm (opset 9+): exact int64 accumulation, alpha/beta applied in double */
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            int64_t s = 0;
            for (int64_t p = 0; p < k; p++)
                s += kiln_tview_get_int(a, ta ? p * lda + i : i * lda + p) *
                     kiln_tview_get_int(b, tb ? j * ldb + p : p * ldb + j);
            double v = (double)alpha * (double)s;
            if (c) v += (double)beta * kiln_tview_get_double(c, c_index(c, i, j));
            kiln_tview_set_int(y, i * n + j, (int64_t)v);
        }
    return KILN_OK;
}

/* oneDNN where it takes the node, else the reference kernel (prepared weights decoded). */
kiln_status kiln_cpu_gemm(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                          int32_t n_in, kiln_tview *out, int32_t n_out) {
#ifdef KILN_HAVE_DNNL
    if (kiln_dnnl_enabled()) {
        int handled = 0;
        KILN_TRY(kiln_dnnl_gemm(ctx, node, in, n_in, out, &handled));
        if (handled) return KILN_OK;
    }
#endif
    if (n_in < 2 || !kiln_nn_weights_prepared(node, &in[1]))
        return gemm_ref(ctx, node, in, n_in, out, n_out);
    kiln_tview v[3];
    for (int32_t i = 0; i < n_in && i < 3; i++) v[i] = in[i];
    KILN_TRY(kiln_nn_plain_weights(ctx, node, &in[1], &v[1]));
    return gemm_ref(ctx, node, v, n_in, out, n_out);
}
