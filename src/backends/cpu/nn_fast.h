/*
 * Vectorized fast paths of row-wise ops (AVX-512 / AVX2 picked at run time, scalar
 * otherwise), tried before the reference kernels. Each returns 1 when it computed the
 * node's outputs, 0 when the case is not its own (the caller runs the reference); they
 * only read and write the views' memory, so they cannot fail.
 */
#ifndef KILN_CPU_NN_FAST_H
#define KILN_CPU_NN_FAST_H

#include "backends/cpu/nn_common.h"

/*
 * Fewer elements than this run on one thread. These kernels take ~0.2 ns an element on
 * one core (BERT's 128 x 768 LayerNormalization ~20 us, its 12 x 128 x 128 Softmax ~85 us),
 * so a second thread saves little, while waking it costs a few us on an idle machine and
 * up to ~100 us on a loaded one: on this 2-core machine, shared, BERT's 25 LayerNorms took
 * 1.0-1.4 ms a run on one thread against 3.4-17 ms on two (and Softmax 1.2-2.3 against
 * 2.2-3.6 ms).
 */
#define KILN_NN_FAST_PAR_MIN (1 << 20)

/* The instruction set the fast paths use: KILN_ISA_AUTO (the best the CPU has, the
 * default) or, for tests, a lower one forced; a level the CPU lacks falls back to auto. */
enum { KILN_ISA_AUTO = -1, KILN_ISA_SCALAR = 0, KILN_ISA_AVX2 = 1, KILN_ISA_AVX512 = 2 };
void kiln_nn_fast_force_isa(int isa);
/* The level in use now (what KILN_ISA_AUTO resolves to on this CPU, or the forced one). */
int kiln_nn_fast_isa(void);

/* LayerNormalization, float32, scale / bias of one value per normalized element, no
 * Mean / InvStdDev outputs (nn_layernorm_fast.c). */
int kiln_nn_layernorm_fast(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                           int32_t n_in, kiln_tview *out, int32_t n_out);

/* Softmax over contiguous rows (last axis; from `axis` on before opset 13), float32; the
 * AVX-512 / AVX2 levels only, scalar is left to the reference (nn_softmax_fast.c). */
int kiln_nn_softmax_fast(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *x,
                         kiln_tview *y);

#endif
