/*
 * The CPU backend's build-time preparation: weights of the nodes that oneDNN runs are
 * reordered once, at build time, into the layout oneDNN's primitive prefers, and stored that
 * way in the engine (and so in the plan). See dnnl_prepare.c.
 */
#ifndef KILN_CPU_DNNL_PREPARE_H
#define KILN_CPU_DNNL_PREPARE_H

#include "ir/tview.h"
#include "runtime/engine.h"

/* Prepares the weights of e's graph for the CPU kernels; `views` holds every tensor's
 * static shape at the profile's opt shapes. Without oneDNN it changes nothing. */
kiln_status kiln_cpu_prepare(kiln_engine *e, const kiln_tview *views);

#ifdef KILN_HAVE_DNNL
/* The layout of each activation between oneDNN nodes (dnnl_layout.c), recorded on the
 * nodes; *count: the tensors not left plain. Runs before the weights are prepared (their
 * best layout depends on it). */
kiln_status kiln_dnnl_plan_layouts(kiln_engine *e, const kiln_tview *views, int threads,
                                   int32_t *count);
#endif

#endif
