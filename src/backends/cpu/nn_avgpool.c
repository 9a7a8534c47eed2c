/* AveragePool (ceil_mode, count_include_pad, dilations, auto_pad; 1-D/2-D/3-D). */
#include "backends/cpu/dnnl_common.h"

static kiln_status averagepool_ref(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                                   int32_t n_in, kiln_tview *out, int32_t n_out) {
    const kiln_tview *x = &in[0];
    kiln_tview *y = &out[0];
    if (!kiln_nn_is_float(x->dtype)) return kiln_nn_bad_dtype(node, x->dtype);
    kiln_nn_window w;
    KILN_TRY(kiln_nn_window_init(node, x->rank - 2, x->dims + 2, NULL, 1, &w));
    kiln_nn_pool3 p;
    KILN_TRY(kiln_nn_pool3_init(node, &w, &p));
    int include_pad = kiln_attr_int(node, "count_include_pad", 0) != 0;
    int64_t planes = x->dims[0] * x->dims[1];
    int64_t isize = p.in[0] * p.in[1] * p.in[2], osize = p.out[0] * p.out[1] * p.out[2];
    if (kiln_nn_count(y) == 0) return KILN_OK;
    char *cur;
    KILN_TRY(kiln_nn_scratch(ctx, node, kiln_nn_f32_bytes(x) + kiln_nn_f32_bytes(y) + 64, &cur));
    const float *xf = kiln_nn_f32_in(x, &cur);
    float *yf = kiln_nn_f32_out(y, &cur);
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
                    float sum = 0.0f;
                    for (int64_t k0 = l0; k0 < h0; k0++) {
                        int64_t i0 = s0 + k0 * p.dilation[0];
                        for (int64_t k1 = l1; k1 < h1; k1++) {
                            int64_t i1 = s1 + k1 * p.dilation[1];
                            const float *row = xp + (i0 * p.in[1] + i1) * p.in[2];
                            for (int64_t k2 = l2; k2 < h2; k2++)
                                sum += row[s2 + k2 * p.dilation[2]];
                        }
                    }
                    int64_t cnt = include_pad ? c0 * c1 * c2 : (h0 - l0) * (h1 - l1) * (h2 - l2);
                    yp[o] = cnt > 0 ? sum / (float)cnt : 0.0f;
                }
            }
        }
    }
    kiln_nn_f32_out_done(y, yf);
    return KILN_OK;
}

kiln_status kiln_cpu_averagepool(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                                 int32_t n_in, kiln_tview *out, int32_t n_out) {
    return kiln_nn_pool_dispatch(ctx, node, in, n_in, out, n_out, averagepool_ref);
}
