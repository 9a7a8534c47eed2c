/* The CPU kernel table generated from cpu_kernels.def. */
#include "backends/cpu/cpu_kernel.h"

#define KILN_CPU_KERNEL(op, fn)                                                               \
    kiln_status fn(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,            \
                   int32_t n_in, kiln_tview *out, int32_t n_out);
#include "backends/cpu/cpu_kernels.def"
#undef KILN_CPU_KERNEL

typedef struct kiln_cpu_kernel_entry {
    kiln_op op;
    kiln_cpu_kernel_fn fn;
} kiln_cpu_kernel_entry;

static const kiln_cpu_kernel_entry kiln_cpu_kernel_table[] = {
#define KILN_CPU_KERNEL(op, fn) {KILN_OP_##op, fn},
#include "backends/cpu/cpu_kernels.def"
#undef KILN_CPU_KERNEL
    {KILN_OP_COUNT, NULL}};

kiln_cpu_kernel_fn kiln_cpu_kernel_for(kiln_op op) {
    for (const kiln_cpu_kernel_entry *e = kiln_cpu_kernel_table; e->fn; e++)
        if (e->op == op) return e->fn;
    return NULL;
}
