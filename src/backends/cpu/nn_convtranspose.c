/*
 * ConvTranspose: per image and group, col = W_g^T x X_g with the blocked SGEMM, then col2im
 * scatters the columns into the output (the adjoint of Conv's im2col).
 */
#include "backends/cpu/nn_common.h"

kiln_status kiln_cpu_convtranspose(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                                   int32_t n_in, kiln_tview *out, int32_t n_out) {
    const kiln_tview *x = &in[0], *w = &in[1];
    const kiln_tview *b = n_in > 2 && kiln_tview_present(&in[2]) ? &in[2] : NULL;
    kiln_tview *y = &out[0];
    if (!kiln_nn_is_float(x->dtype)) return kiln_nn_bad_dtype(node, x->dtype);
    kiln_nn_act act;
    KILN_TRY(kiln_nn_act_from_node(node, &act));
    kiln_nn_window ct;
    KILN_TRY(kiln_nn_convtranspose_window(node, x->rank - 2, x->dims + 2, w->dims + 2, &ct));
    /* the equivalent Conv maps the output image onto the input positions */
    kiln_nn_window cw = ct;
    for (int32_t i = 0; i < ct.n; i++) {
        cw.in[i] = ct.out[i];
        cw.out[i] = ct.in[i];
    }
    int threads = kiln_cpu_threads(ctx);
    int64_t batch = x->dims[0], c = x->dims[1], group = kiln_attr_int(node, "group", 1);
    int64_t cg = c / group, mg = w->dims[1], m = mg * group;
    int64_t ksize = kiln_nn_kernel_size(&cw);
    int64_t isize = kiln_nn_out_size(&cw); /* input positions */
    int64_t osize = kiln_nn_in_size(&cw);  /* output image */
    int64_t rows = mg * ksize;
    if (kiln_nn_count(y) == 0) return KILN_OK;
    size_t col_bytes = kiln_nn_align((size_t)(rows * isize) * 4);
    size_t ws_bytes = kiln_nn_align(kiln_nn_sgemm_workspace(rows, isize, cg, threads));
    size_t bytes = col_bytes + ws_bytes + kiln_nn_f32_bytes(x) + kiln_nn_f32_bytes(w) +
                   (b ? kiln_nn_f32_bytes(b) : 0) + kiln_nn_f32_bytes(y);
    char *cur;
    KILN_TRY(kiln_nn_scratch(ctx, node, bytes, &cur));
    float *col = (float *)kiln_nn_carve(&cur, col_bytes);
    char *ws = (char *)kiln_nn_carve(&cur, ws_bytes);
    const float *xf = kiln_nn_f32_in(x, &cur), *wf = kiln_nn_f32_in(w, &cur);
    const float *bf = b ? kiln_nn_f32_in(b, &cur) : NULL;
    float *yf = kiln_nn_f32_out(y, &cur);
    for (int64_t nb = 0; nb < batch; nb++) {
        for (int64_t oc = 0; oc < m; oc++) {
            float v = bf ? bf[oc] : 0.0f;
            float *yp = yf + (nb * m + oc) * osize;
            for (int64_t i = 0; i < osize; i++) yp[i] = v;
        }
        for (int64_t g = 0; g < group; g++) {
            const float *xg = xf + (nb * c + g * cg) * isize;
            const float *wg = wf + g * cg * rows; /* (cg, mg * ksize) */
            kiln_nn_sgemm(1, 0, rows, isize, cg, 1.0f, wg, rows, xg, isize, 0.0f, col, isize, ws,
                          threads);
            kiln_nn_col2im_add(col, mg, &cw, yf + (nb * m + g * mg) * osize, threads);
        }
        /* the fused activation, once every tap of the image has landed */
        if (act.kind != KILN_NN_ACT_NONE) {
            int par = threads > 1 && m > 1 && m * osize > (1 << 15);
            KILN_NN_PRAGMA(omp parallel for num_threads(threads) if (par) schedule(static))
            for (int64_t oc = 0; oc < m; oc++)
                kiln_nn_act_apply(&act, yf + (nb * m + oc) * osize, osize);
        }
    }
    kiln_nn_f32_out_done(y, yf);
    return KILN_OK;
}
