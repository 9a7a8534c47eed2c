/* MaxPool (1-D/2-D/3-D, ceil_mode, dilations, auto_pad, optional Indices with storage_order). */
#include <math.h>

#include "backends/cpu/dnnl_common.h"

static kiln_status maxpool_ref(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                               int32_t n_in, kiln_tview *out, int32_t n_out) {
    const kiln_tview *x = &in[0];
    kiln_tview *y = &out[0];
    kiln_tview *ind = n_out > 1 && kiln_tview_present(&out[1]) ? &out[1] : NULL;
    kiln_dtype dt = x->dtype;
    if (!kiln_nn_is_float(dt) && dt != KILN_DTYPE_INT8 && dt != KILN_DTYPE_UINT8)
        return kiln_nn_bad_dtype(node, dt);
    kiln_nn_window w;
    KILN_TRY(kiln_nn_window_init(node, x->rank - 2, x->dims + 2, NULL, 1, &w));
    kiln_nn_pool3 p;
    KILN_TRY(kiln_nn_pool3_init(node, &w, &p));
    int col_major = kiln_attr_int(node, "storage_order", 0) != 0;
    int64_t planes = x->dims[0] * x->dims[1];
    int64_t isize = p.in[0] * p.in[1] * p.in[2], osize = p.out[0] * p.out[1] * p.out[2];
    if (kiln_nn_count(y) == 0) return KILN_OK;
    char *cur;
    KILN_TRY(kiln_nn_scratch(ctx, node, kiln_nn_f32_bytes(x) + kiln_nn_f32_bytes(y) + 64, &cur));
    const float *xf = kiln_nn_f32_in(x, &cur);
    float *yf = kiln_nn_f32_out(y, &cur);
    int64_t *id = ind ? (int64_t *)ind->data : NULL;
    int threads = kiln_cpu_threads(ctx);
    int64_t ksz = p.kernel[0] * p.kernel[1] * p.kernel[2];
    int par = threads > 1 && planes > 1 && planes * osize * ksz > (1 << 15);
    KILN_NN_PRAGMA(omp parallel for num_threads(threads) if (par) schedule(static))
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *xp = xf + pl * isize;
        float *yp = yf + pl * osize;
        int64_t o = 0;
        for (int64_t o0 = 0; o0 < p.out[0]; o0++) {
            int64_t l0, h0, c0;
            kiln_nn_pool_taps(&p, 0, o0, &l0, &h0, &c0);
            int64_t s0 = o0 * p.stride[0] - p.pad_begin[0];
            for (int64_t o1 = 0; o1 < p.out[1]; o1++) {
                int64_t l1, h1, c1;
                kiln_nn_pool_taps(&p, 1, o1, &l1, &h1, &c1);
                int64_t s1 = o1 * p.stride[1] - p.pad_begin[1];
                for (int64_t o2 = 0; o2 < p.out[2]; o2++, o++) {
                    int64_t l2, h2, c2;
                    kiln_nn_pool_taps(&p, 2, o2, &l2, &h2, &c2);
                    int64_t s2 = o2 * p.stride[2] - p.pad_begin[2];
                    float best = -INFINITY;
                    int64_t bi[3] = {-1, -1, -1};
                    int found = 0;
                    for (int64_t k0 = l0; k0 < h0; k0++) {
                        int64_t i0 = s0 + k0 * p.dilation[0];
                        for (int64_t k1 = l1; k1 < h1; k1++) {
                            int64_t i1 = s1 + k1 * p.dilation[1];
                            const float *row = xp + (i0 * p.in[1] + i1) * p.in[2];
                            for (int64_t k2 = l2; k2 < h2; k2++) {
                                int64_t i2 = s2 + k2 * p.dilation[2];
                                float v = row[i2];
                                if (!found || v > best) {
                                    best = v;
                                    bi[0] = i0;
                                    bi[1] = i1;
                                    bi[2] = i2;
                                    found = 1;
                                }
                            }
                        }
                    }
                    yp[o] = best;
                    if (id) {
                        int64_t flat = col_major ? bi[0] + p.in[0] * (bi[1] + p.in[1] * bi[2])
                                                 : (bi[0] * p.in[1] + bi[1]) * p.in[2] + bi[2];
                        id[pl * osize + o] = pl * isize + flat;
                    }
                }
            }
        }
    }
    kiln_nn_f32_out_done(y, yf);
    return KILN_OK;
}

kiln_status kiln_cpu_maxpool(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                             int32_t n_in, kiln_tview *out, int32_t n_out) {
    return kiln_nn_pool_dispatch(ctx, node, in, n_in, out, n_out, maxpool_ref);
}
