/* The CUDA kernel table generated from cuda_kernels.def. */
#include <string.h>

#include "backends/cuda/cuda_kernel.h"

#define KILN_CUDA_KERNEL(op, run, supports, tune, host, name)                                 \
    kiln_status run(kiln_cuda_ctx *ctx, const kiln_node *node, const kiln_tview *in,          \
                    int32_t n_in, kiln_tview *out, int32_t n_out);                            \
    int supports(const kiln_node *node, const kiln_tview *in, int32_t n_in,                   \
                 const kiln_tview *out, int32_t n_out);                                       \
    int64_t tune(kiln_cuda_ctx *ctx, const kiln_node *node, const kiln_tview *in,             \
                 int32_t n_in, kiln_tview *out, int32_t n_out);
#include "backends/cuda/cuda_kernels.def"
#undef KILN_CUDA_KERNEL

static const kiln_cuda_kernel_info kiln_cuda_kernel_table[] = {
#define KILN_CUDA_KERNEL(op, run, supports, tune, host, name)                                 \
    {KILN_OP_##op, run, supports, tune, host, name},
#include "backends/cuda/cuda_kernels.def"
#undef KILN_CUDA_KERNEL
    {KILN_OP_COUNT, NULL, NULL, NULL, 0, NULL}};

int64_t kiln_cuda_no_tune(kiln_cuda_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                          int32_t n_in, kiln_tview *out, int32_t n_out) {
    (void)ctx, (void)node, (void)in, (void)n_in, (void)out, (void)n_out;
    return -1;
}

const kiln_cuda_kernel_info *kiln_cuda_kernel_for(const kiln_node *node, const kiln_tview *in,
                                                  int32_t n_in, const kiln_tview *out,
                                                  int32_t n_out) {
    for (const kiln_cuda_kernel_info *k = kiln_cuda_kernel_table; k->run; k++)
        if (k->op == node->op && k->supports(node, in, n_in, out, n_out)) return k;
    return NULL;
}

const kiln_cuda_kernel_info *kiln_cuda_kernel_by_name(kiln_op op, const char *name) {
    for (const kiln_cuda_kernel_info *k = kiln_cuda_kernel_table; k->run; k++)
        if (k->op == op && !strcmp(k->name, name)) return k;
    return NULL;
}
