/*
 * BatchNormalization on the GPU, inference only: per-parameter factors a = scale /
 * sqrt(var + eps) and b = bias - mean * a in float (one small kernel, into the workspace),
 * then y = x * a + b (legacy spatial=0's per-activation parameters too). Training mode
 * (training_mode=1, or the statistics outputs before opset 14) runs on the CPU.
 */
#include "backends/cuda/nn_common.h"

int kiln_cuda_batchnorm_supports(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                 const kiln_tview *out, int32_t n_out) {
    if (n_in < 5 || n_out < 1) return 0;
    kiln_dtype dt = in[0].dtype;
    if (!kiln_cuda_nn_float(dt) || out[0].dtype != dt || in[0].rank < 1) return 0;
    for (int32_t i = 1; i < 5; i++)
        if (!kiln_cuda_nn_float(in[i].dtype)) return 0;
    for (int32_t i = 1; i < n_out; i++)
        if (kiln_tview_present(&out[i])) return 0; /* statistics outputs: training */
    if (node->opset >= 14 && kiln_attr_int(node, "training_mode", 0) != 0) return 0;
    return 1;
}

kiln_status kiln_cuda_batchnorm(kiln_cuda_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                                int32_t n_in, kiln_tview *out, int32_t n_out) {
    (void)n_in, (void)n_out;
    const kiln_tview *x = &in[0];
    kiln_tview *y = &out[0];
    int64_t total = kiln_cuda_nn_count(x);
    if (total == 0) return KILN_OK;
    int64_t c = x->rank > 1 ? x->dims[1] : 1, s = 1;
    for (int32_t i = 2; i < x->rank; i++) s *= x->dims[i];
    int64_t count = kiln_cuda_nn_count(&in[1]);
    int per_act = count == c * s && s > 1;
    if (!per_act) count = c;
    for (int32_t i = 1; i < 5; i++)
        if (kiln_cuda_nn_count(&in[i]) < count)
            return kiln_shape_error(node, "input %d has %lld values, %lld needed", (int)i,
                                    (long long)kiln_cuda_nn_count(&in[i]), (long long)count);
    size_t half = kiln_cuda_nn_align((size_t)count * sizeof(float));
    char *ws = kiln_cuda_workspace(ctx, 2 * half);
    if (!ws)
        return kiln_node_error(KILN_ERR_OUT_OF_MEMORY, node, "out of device memory (%zu bytes)",
                               2 * half);
    float *a = (float *)ws, *b = (float *)(ws + half);
    void *stream = kiln_cuda_stream(ctx);
    kiln_cuda_nn_bn_params(in[1].data, in[1].dtype, in[2].data, in[2].dtype, in[3].data,
                           in[3].dtype, in[4].data, in[4].dtype, count,
                           kiln_attr_float(node, "epsilon", 1e-5f), a, b, stream);
    KILN_TRY(kiln_cuda_check_launch(node, "kiln_cuda_nn_bn_params"));
    kiln_cuda_nn_bn_apply(x->data, y->data, x->dtype, total, c, s, per_act, a, b, stream);
    return kiln_cuda_check_launch(node, "kiln_cuda_nn_bn_apply");
}
