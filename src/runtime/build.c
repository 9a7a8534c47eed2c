/*
 * Network + config -> engine: copy the graph, fix the profile, infer shapes and types,
 * fold constants, drop dead code, check every node against the backend, plan memory.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/builder_internal.h"
#include "backends/cpu/cpu_kernel.h"
#include "backends/cpu/dnnl_prepare.h"
#include "core/logger.h"
#include "passes/passes.h"
#include "plan/memory_plan.h"
#include "runtime/build.h"
#ifdef KILN_HAVE_CUDA
#include "backends/cuda/cuda_executor.h"
#endif

typedef struct kiln_build_shapes {
    int32_t n;                      /* graph inputs */
    int32_t *rank;
    int64_t (*min)[KILN_MAX_DIMS], (*opt)[KILN_MAX_DIMS], (*max)[KILN_MAX_DIMS];
} kiln_build_shapes;

static void kiln_build_shapes_free(kiln_build_shapes *s) {
    free(s->rank);
    free(s->min);
    free(s->opt);
    free(s->max);
}

static int kiln_dims_dynamic(int32_t rank, const int64_t *dims) {
    if (rank < 0) return 1;
    for (int32_t d = 0; d < rank; d++)
        if (dims[d] < 0) return 1;
    return 0;
}

/* The min/opt/max shape of every input, from its static dims, the first profile or the
 * max batch size. Errors name the input and say what to give. */
static kiln_status kiln_build_profile(const kiln_graph *g, const kiln_builder_config *cfg,
                                      kiln_build_shapes *s) {
    s->n = g->input_count;
    size_t n = (size_t)(s->n ? s->n : 1);
    s->rank = calloc(n, sizeof *s->rank);
    s->min = calloc(n, sizeof *s->min);
    s->opt = calloc(n, sizeof *s->opt);
    s->max = calloc(n, sizeof *s->max);
    if (!s->rank || !s->min || !s->opt || !s->max)
        return kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
    const kiln_optimization_profile *p = cfg->profile_count ? cfg->profiles[0] : NULL;
    for (int32_t i = 0; i < s->n; i++) {
        const kiln_ir_tensor *t = &g->tensors[g->inputs[i]];
        char shape[256];
        kiln_shape_string(t->rank, t->dims, shape, sizeof shape);
        if (t->kind != KILN_VALUE_TENSOR) {
            /* Sequences and optionals have no shape to profile: their values come whole. */
            s->rank[i] = -1;
            continue;
        }
        int32_t k = -1;
        for (int32_t j = 0; p && j < p->count; j++)
            if (!strcmp(p->names[j], t->name)) k = j;
        if (k >= 0) {
            const kiln_dims *d = p->dims[k];
            int32_t rank = d[0].nb_dims;
            if ((t->rank >= 0 && rank != t->rank) || d[1].nb_dims != rank || d[2].nb_dims != rank)
                return kiln_error(KILN_ERR_SHAPE,
                                  "the optimization profile gives input '%s' %s a rank of %d",
                                  t->name, shape, rank);
            s->rank[i] = rank;
            for (int32_t dd = 0; dd < rank; dd++) {
                s->min[i][dd] = d[0].d[dd];
                s->opt[i][dd] = d[1].d[dd];
                s->max[i][dd] = d[2].d[dd];
                if (!(d[0].d[dd] <= d[1].d[dd] && d[1].d[dd] <= d[2].d[dd]))
                    return kiln_error(KILN_ERR_SHAPE,
                                      "the optimization profile of input '%s': dimension %d has "
                                      "min %lld, opt %lld, max %lld (need min <= opt <= max)",
                                      t->name, dd, (long long)d[0].d[dd], (long long)d[1].d[dd],
                                      (long long)d[2].d[dd]);
                if (t->rank >= 0 && t->dims[dd] >= 0 &&
                    (d[0].d[dd] != t->dims[dd] || d[2].d[dd] != t->dims[dd]))
                    return kiln_error(KILN_ERR_SHAPE,
                                      "the optimization profile of input '%s' %s changes its "
                                      "fixed dimension %d",
                                      t->name, shape, dd);
            }
            continue;
        }
        if (!kiln_dims_dynamic(t->rank, t->dims)) {
            s->rank[i] = t->rank;
            memcpy(s->min[i], t->dims, sizeof s->min[i]);
            memcpy(s->opt[i], t->dims, sizeof s->opt[i]);
            memcpy(s->max[i], t->dims, sizeof s->max[i]);
            continue;
        }
        /* A max batch size covers a dynamic leading dimension only. */
        int only_batch = t->rank >= 1 && t->dims[0] < 0 && !kiln_dims_dynamic(t->rank - 1, t->dims + 1);
        if (cfg->max_batch > 0 && only_batch) {
            s->rank[i] = t->rank;
            memcpy(s->min[i], t->dims, sizeof s->min[i]);
            memcpy(s->opt[i], t->dims, sizeof s->opt[i]);
            memcpy(s->max[i], t->dims, sizeof s->max[i]);
            s->min[i][0] = 1;
            s->opt[i][0] = s->max[i][0] = cfg->max_batch;
            continue;
        }
        return kiln_error(KILN_ERR_SHAPE,
                          "input '%s' has dynamic shape %s: give an optimization profile with "
                          "min/opt/max shapes for it%s",
                          t->name, shape, only_batch ? " (or a max batch size)" : "");
    }
    return KILN_OK;
}

/* Shapes and types at the profile's min and max: dims equal in both are fixed. */
static kiln_status kiln_build_infer(kiln_graph *g, const kiln_build_shapes *s, kiln_tview *at_min,
                                    kiln_tview *at_max, uint8_t *fixed) {
    KILN_TRY(kiln_pass_infer_shapes(g, s->rank, (const int64_t(*)[KILN_MAX_DIMS])s->min, at_min));
    KILN_TRY(kiln_pass_infer_shapes(g, s->rank, (const int64_t(*)[KILN_MAX_DIMS])s->max, at_max));
    for (int32_t t = 0; t < g->tensor_count; t++) {
        kiln_ir_tensor *it = &g->tensors[t];
        const kiln_tview *a = &at_min[t], *b = &at_max[t];
        /* A type the model declares (graph outputs) stays: static inference cannot always
         * see through subgraphs. A model computing another type fails when run, with a
         * message naming the output (kiln_context_check_outputs). */
        if (it->dtype == KILN_DTYPE_UNDEFINED) it->dtype = a->dtype;
        int same = a->rank >= 0 && a->rank == b->rank;
        for (int32_t d = 0; same && d < a->rank; d++) same = a->dims[d] == b->dims[d] && a->dims[d] >= 0;
        fixed[t] = (uint8_t)same;
        if (it->data) continue;
        if (a->rank >= 0 && a->rank == b->rank) {
            it->rank = a->rank;
            for (int32_t d = 0; d < a->rank; d++) it->dims[d] = a->dims[d] == b->dims[d] ? a->dims[d] : -1;
        } else if (it->producer >= 0) {
            it->rank = -1;
        }
    }
    return KILN_OK;
}

/* Counts the nodes (subgraphs included) the CPU backend has no kernel for. */
static int32_t kiln_build_count_missing(const kiln_graph *g, char *first, size_t size) {
    int32_t missing = 0;
    for (int32_t i = 0; i < g->node_count; i++) {
        const kiln_node *n = &g->nodes[i];
        for (int32_t a = 0; a < n->attr_count; a++)
            if (n->attrs[a].graph)
                missing += kiln_build_count_missing(n->attrs[a].graph, missing ? NULL : first, size);
        if (kiln_cpu_kernel_for(n->op)) continue;
        if (!missing++ && first)
            snprintf(first, size, "node '%s' (%s)", n->name, kiln_op_get_info(n->op)->name);
    }
    return missing;
}

/* Every node the CPU backend cannot run, in one error. */
static kiln_status kiln_build_check_support(const kiln_graph *g) {
    char first[512] = "";
    int32_t missing = kiln_build_count_missing(g, first, sizeof first);
    if (!missing) return KILN_OK;
    return kiln_error(KILN_ERR_UNSUPPORTED, "the CPU backend cannot run %d node(s), first %s",
                      missing, first);
}

/* The arena at the profile's opt shapes, beside the naive sum, for reports. */
static kiln_status kiln_build_plan_memory(kiln_engine *e, const kiln_tview *views) {
    kiln_graph *g = e->graph;
    size_t n = (size_t)(g->tensor_count ? g->tensor_count : 1);
    uint64_t *sizes = calloc(n, sizeof *sizes), *offsets = calloc(n, sizeof *offsets);
    kiln_status st = sizes && offsets ? KILN_OK : kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
    if (st == KILN_OK) {
        e->naive_bytes = 0;
        e->unknown_shape_tensors = 0;
        for (int32_t t = 0; t < g->tensor_count; t++) {
            if (g->tensors[t].producer < 0) continue;
            int64_t c = kiln_tview_count(&views[t]);
            if (c < 0) {
                e->unknown_shape_tensors++;
                continue;
            }
            sizes[t] = kiln_dtype_nbytes(views[t].dtype, c);
            e->naive_bytes += sizes[t];
        }
        st = kiln_memory_plan(g->tensor_count, sizes, e->first_use, e->last_use, offsets,
                              &e->planned_arena_bytes);
        if (e->unknown_shape_tensors) e->planned_arena_bytes = 0;
    }
    free(sizes);
    free(offsets);
    return st;
}

static kiln_status kiln_build_io(kiln_engine *e, const kiln_build_shapes *s) {
    const kiln_graph *g = e->graph;
    e->io_count = g->input_count + g->output_count;
    e->io = calloc((size_t)(e->io_count ? e->io_count : 1), sizeof *e->io);
    e->profiles = calloc(1, sizeof *e->profiles);
    if (!e->io || !e->profiles) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
    size_t bytes = sizeof(int64_t) * KILN_MAX_DIMS * (size_t)(e->io_count ? e->io_count : 1);
    e->profiles[0].min = calloc(1, bytes);
    e->profiles[0].opt = calloc(1, bytes);
    e->profiles[0].max = calloc(1, bytes);
    e->profile_count = 1;
    if (!e->profiles[0].min || !e->profiles[0].opt || !e->profiles[0].max)
        return kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
    for (int32_t i = 0; i < e->io_count; i++) {
        int input = i < g->input_count;
        int32_t t = input ? g->inputs[i] : g->outputs[i - g->input_count];
        const kiln_ir_tensor *it = &g->tensors[t];
        kiln_engine_io *io = &e->io[i];
        for (int32_t k = 0; k < i; k++)
            if (!strcmp(e->io[k].name, it->name) && !input)
                return kiln_error(KILN_ERR_UNSUPPORTED,
                                  "tensor '%s' is both an input and an output of the network",
                                  it->name);
        io->name = strdup(it->name);
        if (!io->name) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
        io->mode = input ? KILN_TENSOR_IO_INPUT : KILN_TENSOR_IO_OUTPUT;
        io->tensor = t;
        io->dtype = it->dtype;
        io->kind = it->kind;
        io->rank = it->kind == KILN_VALUE_TENSOR ? it->rank : -1;
        memcpy(io->dims, it->dims, sizeof io->dims);
        if (kiln_dtype_bits(io->dtype) == 0 && io->dtype != KILN_DTYPE_STRING)
            return kiln_error(KILN_ERR_UNSUPPORTED, "%s '%s' has type %s, which kiln cannot bind",
                              input ? "input" : "output", it->name, kiln_dtype_name(io->dtype));
        if (e->device == KILN_DEVICE_CUDA &&
            (io->kind != KILN_VALUE_TENSOR || io->dtype == KILN_DTYPE_STRING))
            return kiln_error(KILN_ERR_UNSUPPORTED,
                              "%s '%s' is a %s of %s: CUDA engines bind numeric tensors only; "
                              "build the engine for the CPU to run this model",
                              input ? "input" : "output", it->name, kiln_value_kind_name(io->kind),
                              kiln_dtype_name(io->dtype));
        if (input) {
            memcpy(e->profiles[0].min[i], s->min[i], sizeof s->min[i]);
            memcpy(e->profiles[0].opt[i], s->opt[i], sizeof s->opt[i]);
            memcpy(e->profiles[0].max[i], s->max[i], sizeof s->max[i]);
        }
    }
    return KILN_OK;
}

static void kiln_build_warn_flags(kiln_logger *logger, const kiln_builder_config *cfg) {
    static const char *names[] = {"FP16", "BF16", "TF32", "INT8"};
    for (int f = KILN_BUILDER_FLAG_FP16; f <= KILN_BUILDER_FLAG_INT8; f++) {
        if (!(cfg->flags >> f & 1u)) continue;
        kiln_logf(logger, KILN_SEVERITY_WARNING,
                  "the %s flag is set, but the CPU backend computes in FP32 (INT8 only from "
                  "Q/DQ nodes): the flag has no effect on this engine",
                  names[f]);
    }
}

/* Kernel names (CPU engines: the reference kernels; CUDA engines: placement per node,
 * then tuning on the device). */
static kiln_status kiln_build_choose_kernels(kiln_engine *e, const kiln_tview *views,
                                             kiln_logger *logger) {
    e->kernel_names = calloc((size_t)(e->graph->node_count + 1), sizeof(char *));
    if (!e->kernel_names) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
    for (int32_t i = 0; i < e->graph->node_count; i++) {
        char name[128];
        snprintf(name, sizeof name, "cpu.ref.%s", kiln_op_get_info(e->graph->nodes[i].op)->name);
        if (!(e->kernel_names[i] = strdup(name))) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "oom");
    }
#ifdef KILN_HAVE_DNNL
    /* oneDNN's weight layouts, once, at build time (names those nodes cpu.dnnl.<Op>) */
    if (e->device == KILN_DEVICE_CPU) KILN_TRY(kiln_cpu_prepare(e, views));
#endif
    if (e->device != KILN_DEVICE_CUDA) return KILN_OK;
#ifdef KILN_HAVE_CUDA
    KILN_TRY(kiln_cuda_place_nodes(e, views));
    KILN_TRY(kiln_cuda_engine_prepare(e));
    int32_t tuned = 0, on_gpu = 0;
    KILN_TRY(kiln_cuda_tune_nodes(e, views, &tuned));
    for (int32_t i = 0; i < e->graph->node_count; i++) on_gpu += strncmp(e->kernel_names[i], "cpu.", 4) != 0;
    kiln_logf(logger, KILN_SEVERITY_INFO, "CUDA placement: %d of %d layers on the GPU, %d tuned",
              on_gpu, e->graph->node_count, tuned);
    if (on_gpu < e->graph->node_count)
        kiln_logf(logger, KILN_SEVERITY_VERBOSE, "%d layers fall back to the CPU (see kiln inspect)",
                  e->graph->node_count - on_gpu);
    return KILN_OK;
#else
    (void)views, (void)logger;
    return kiln_error(KILN_ERR_UNSUPPORTED,
                      "this kiln was built without the CUDA backend: build for the CPU "
                      "(kiln_builder_config_set_device(config, KILN_DEVICE_CPU, 0)) or rebuild "
                      "kiln with nvcc");
#endif
}

kiln_status kiln_build_engine_internal(kiln_logger *logger, const kiln_graph *network,
                                       const kiln_builder_config *cfg, kiln_engine **out) {
    if (network->output_count == 0)
        return kiln_error(KILN_ERR_INVALID_ARGUMENT, "the network has no outputs: mark at least one");
    if (cfg->device == KILN_DEVICE_CPU) kiln_build_warn_flags(logger, cfg);
    kiln_engine *e = calloc(1, sizeof *e);
    if (!e) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
    e->logger = logger;
    e->device = cfg->device;
    e->device_index = cfg->device_index;
    e->num_threads = cfg->threads;
    e->flags = cfg->flags;
    kiln_build_shapes shapes = {0};
    kiln_tview *at_min = NULL, *at_max = NULL;
    uint8_t *fixed = NULL;
    int32_t shapes_views = 0; /* the tensors at_min / at_max / fixed have room for */
    kiln_status st = kiln_graph_clone(network, NULL, &e->graph);
    if (st == KILN_OK) st = kiln_build_profile(e->graph, cfg, &shapes);
    if (st == KILN_OK) {
        size_t n = (size_t)(e->graph->tensor_count + 1);
        at_min = calloc(n, sizeof *at_min);
        at_max = calloc(n, sizeof *at_max);
        fixed = calloc(n, 1);
        shapes_views = e->graph->tensor_count;
        if (!at_min || !at_max || !fixed) st = kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
    }
    if (st == KILN_OK) st = kiln_build_infer(e->graph, &shapes, at_min, at_max, fixed);
    if (st == KILN_OK) st = kiln_build_check_support(e->graph);
    int32_t folded = 0, removed = 0;
    if (st == KILN_OK && !(cfg->flags >> KILN_BUILDER_FLAG_NO_OPTIMIZE & 1u))
        st = kiln_pass_fold_constants(e->graph, at_max, fixed, &folded);
    /* Shapes again once folding turned shape arithmetic into constants (the Reshape targets
     * PyTorch computes with Shape / Gather / Concat): the fusions compare shapes (a residual
     * Add must have the MatMul's output shape) and need them known. Folding writes into
     * existing tensors; should it ever add some, the first inference's views stay. */
    for (int32_t more = folded, round = 0;
         st == KILN_OK && more > 0 && round < 64 && e->graph->tensor_count <= shapes_views;
         round++) {
        /* each round lets the next Shape-derived Reshape target fold (one layer further) */
        st = kiln_build_infer(e->graph, &shapes, at_min, at_max, fixed);
        more = 0;
        if (st == KILN_OK) st = kiln_pass_fold_constants(e->graph, at_max, fixed, &more);
        folded += more;
    }
    if (st == KILN_OK && !(cfg->flags >> KILN_BUILDER_FLAG_NO_OPTIMIZE & 1u)) {
        kiln_fuse_options fo = {kiln_fuse_default_flags(cfg->device == KILN_DEVICE_CPU), at_min,
                                at_max, e->graph->tensor_count, fixed};
        kiln_fuse_counts fc;
        st = kiln_pass_fuse(e->graph, &fo, &fc);
        folded += fc.refolded;
        kiln_logf(logger, KILN_SEVERITY_VERBOSE,
                  "fusion: %d no-op/layout nodes removed or merged, %d BatchNorms folded, "
                  "%d LayerNorms and %d GELUs recognized, %d layers fused with Add/activation, "
                  "%d scales and %d Transposes folded into MatMuls, %d masks into Softmax",
                  fc.eliminated, fc.batchnorms, fc.layernorms, fc.gelus, fc.fused, fc.scales,
                  fc.transposes, fc.softmax_adds);
    }
    if (st == KILN_OK) st = kiln_pass_eliminate_dead_code(e->graph, &removed);
    int32_t casts = 0;
    int want_half = cfg->flags >> KILN_BUILDER_FLAG_FP16 & 1u, want_bf16 = cfg->flags >> KILN_BUILDER_FLAG_BF16 & 1u;
    if (st == KILN_OK && cfg->device == KILN_DEVICE_CUDA && (want_half || want_bf16)) {
        st = kiln_pass_reduce_precision(e->graph, want_half ? KILN_DTYPE_FLOAT16 : KILN_DTYPE_BFLOAT16,
                                        &casts);
        kiln_logf(logger, KILN_SEVERITY_INFO, "%s: %d casts inserted", want_half ? "FP16" : "BF16", casts);
    }
    if (st == KILN_OK) st = kiln_build_io(e, &shapes);
    if (st == KILN_OK) st = kiln_engine_compute_liveness(e);
    kiln_tview *at_opt = NULL;
    if (st == KILN_OK) {
        at_opt = calloc((size_t)(e->graph->tensor_count + 1), sizeof *at_opt);
        st = at_opt ? kiln_pass_infer_shapes(e->graph, shapes.rank,
                                             (const int64_t(*)[KILN_MAX_DIMS])shapes.opt, at_opt)
                    : kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
    }
    if (st == KILN_OK) st = kiln_build_plan_memory(e, at_opt);
    if (st == KILN_OK) st = kiln_build_choose_kernels(e, at_opt, logger);
    free(at_opt);
    for (int32_t t = 0; st == KILN_OK && t < e->graph->tensor_count; t++)
        if (e->graph->tensors[t].data) e->weight_bytes += e->graph->tensors[t].nbytes;
    if (st == KILN_OK) st = kiln_engine_index_fused(e);
    free(at_min);
    free(at_max);
    free(fixed);
    kiln_build_shapes_free(&shapes);
    if (st != KILN_OK) {
        kiln_engine_free(e);
        return st;
    }
    kiln_logf(logger, KILN_SEVERITY_INFO,
              "built a %s engine: %d layers (%d folded into constants, %d unused removed), "
              "arena %llu bytes (naive %llu), weights %llu bytes",
              e->device == KILN_DEVICE_CUDA ? "CUDA" : "CPU", e->graph->node_count, folded, removed, (unsigned long long)e->planned_arena_bytes,
              (unsigned long long)e->naive_bytes, (unsigned long long)e->weight_bytes);
    *out = e;
    return KILN_OK;
}
