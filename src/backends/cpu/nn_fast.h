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
 * one core (BERT's 128 x 768 LayerNormalization ~20 us, its 12 x 128 x 128 Softmax ~85 us)
 * against a few us to fork an OpenMP team that the MatMuls around them keep awake. What
 * decides is where the data lives: a MatMul on two threads leaves each half of its output
 * in its own core's cache, and a one-thread Softmax then pulls half its input across -- and
 * leaves all of P in one core for the P.V MatMul that reads it on both. BERT-base, seq 128,
 * 2 threads, per run (min over interleaved runs, this shared Sapphire Rapids machine):
 * Softmax 1.37 -> 0.71 ms, LayerNorm 0.80 -> 0.60 ms, P.V MatMul 1.90 -> 1.20 ms, the run
 * 90.0 -> 85.6-88 ms median. (At 1M elements, the earlier threshold, both ran on one.)
 */
#define KILN_NN_FAST_PAR_MIN (1 << 16)
/* KILN_NN_FAST_PAR_MIN, or the environment's KILN_NN_FAST_PAR_MIN (for A/B runs). */
int64_t kiln_nn_fast_par_min(void);

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
 * AVX-512 / AVX2 levels only, scalar is left to the reference (nn_softmax_fast.c). m: the
 * fused `_kiln_add_input` added first (NULL: none); taken when it holds whole rows of the
 * last axis, broadcast over the leading dims. */
int kiln_nn_softmax_fast(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *x,
                         const kiln_tview *m, kiln_tview *y);

#endif
