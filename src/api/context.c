/* Execution contexts: shapes, bindings and runs of one engine. */
#include <stdlib.h>
#include <string.h>

#include "backends/cpu/cpu_executor.h"
#include "core/logger.h"
#include "passes/passes.h"
#include "runtime/engine.h"
#ifdef KILN_HAVE_CUDA
#include "backends/cuda/cuda_executor.h"
#endif

/* The most CPU threads one context runs with (see kiln_engine_create_execution_context). */
#define KILN_CONTEXT_MAX_THREADS 1024

struct kiln_context {
    kiln_engine *engine;
    kiln_cpu_state cpu;
    void **addresses;          /* per io: the caller's buffer */
    int64_t (*shapes)[KILN_MAX_DIMS]; /* per io: the current shape */
    int32_t *ranks;
    int *shape_set;            /* per input: set by the caller (dynamic inputs must be) */
    int ran;                   /* outputs hold results of a run */
#ifdef KILN_HAVE_CUDA
    kiln_cuda_state *cuda;     /* CUDA engines: the device-side state */
#endif
};

static int kiln_context_is_cuda(const kiln_context *c) {
    return c->engine->device == KILN_DEVICE_CUDA;
}

/* The value of a tensor after a run, wherever the engine keeps it. */
static const kiln_tview *kiln_context_value(const kiln_context *c, int32_t t) {
#ifdef KILN_HAVE_CUDA
    if (c->cuda) return kiln_cuda_state_value(c->cuda, t);
#endif
    return &c->cpu.values[t];
}

static int kiln_io_is_dynamic(const kiln_engine_io *io) {
    if (io->rank < 0) return 1;
    for (int32_t d = 0; d < io->rank; d++)
        if (io->dims[d] < 0) return 1;
    return 0;
}

kiln_status kiln_engine_create_execution_context(kiln_engine *engine, kiln_context **out) {
    KILN_CHECK_ARG(engine && out, "kiln_engine_create_execution_context");
#ifndef KILN_HAVE_CUDA
    if (engine->device != KILN_DEVICE_CPU)
        return kiln_error(KILN_ERR_UNSUPPORTED,
                          "kiln_engine_create_execution_context: the engine targets CUDA, and this "
                          "kiln was built without the CUDA backend");
#endif
    kiln_context *c = calloc(1, sizeof *c);
    if (!c) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory creating a context");
    c->engine = engine;
    size_t n = (size_t)(engine->io_count ? engine->io_count : 1);
    c->addresses = calloc(n, sizeof *c->addresses);
    c->shapes = calloc(n, sizeof *c->shapes);
    c->ranks = calloc(n, sizeof *c->ranks);
    c->shape_set = calloc(n, sizeof *c->shape_set);
    kiln_status st = c->addresses && c->shapes && c->ranks && c->shape_set
                         ? KILN_OK
                         : kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory creating a context");
    int threads = engine->num_threads;
#ifdef KILN_HAVE_OPENMP
    extern int omp_get_num_procs(void);
    if (threads <= 0) threads = omp_get_num_procs();
#endif
    /* The thread count comes from the builder or a plan, unchecked above zero: libgomp
     * crashes in GOMP_parallel on huge teams (65,537 threads), and teams far beyond the
     * cores only add overhead, so cap it. */
    if (threads > KILN_CONTEXT_MAX_THREADS) threads = KILN_CONTEXT_MAX_THREADS;
#ifdef KILN_HAVE_CUDA
    if (st == KILN_OK && engine->device == KILN_DEVICE_CUDA)
        st = kiln_cuda_state_create(engine, threads, &c->cuda);
    else
#endif
        if (st == KILN_OK)
        st = kiln_cpu_state_init(&c->cpu, engine->graph, engine->first_use, engine->last_use,
                                 threads);
    if (st != KILN_OK) {
        kiln_context_destroy(c);
        return st;
    }
    for (int32_t i = 0; i < engine->io_count; i++) {
        const kiln_engine_io *io = &engine->io[i];
        c->ranks[i] = io->rank;
        memcpy(c->shapes[i], io->dims, sizeof c->shapes[i]);
        c->shape_set[i] = !kiln_io_is_dynamic(io);
    }
    *out = c;
    return KILN_OK;
}

void kiln_context_destroy(kiln_context *context) {
    if (!context) return;
    free(context->cpu.node_seconds);
    context->cpu.node_seconds = NULL;
    if (context->cpu.values) kiln_cpu_state_free(&context->cpu);
#ifdef KILN_HAVE_CUDA
    kiln_cuda_state_destroy(context->cuda);
#endif
    free(context->addresses);
    free(context->shapes);
    free(context->ranks);
    free(context->shape_set);
    free(context);
}

static void kiln_dims_text(const int64_t *dims, int32_t rank, char *buf, size_t size) {
    kiln_shape_string(rank, dims, buf, size);
}

/* Checks a shape against the input's static dims and every profile; the message gives
 * the bounds. */
static kiln_status kiln_context_check_shape(const kiln_engine *e, int32_t i, kiln_dims dims) {
    const kiln_engine_io *io = &e->io[i];
    char given[256], want[256];
    kiln_dims_text(dims.d, dims.nb_dims, given, sizeof given);
    if (io->rank >= 0 && dims.nb_dims != io->rank) {
        kiln_dims_text(io->dims, io->rank, want, sizeof want);
        return kiln_error(KILN_ERR_SHAPE,
                          "kiln_context_set_input_shape: input '%s' has rank %d %s; %s has rank %d",
                          io->name, io->rank, want, given, dims.nb_dims);
    }
    for (int32_t d = 0; d < dims.nb_dims; d++) {
        if (dims.d[d] < 0)
            return kiln_error(KILN_ERR_SHAPE,
                              "kiln_context_set_input_shape: input '%s': shape %s has a negative "
                              "dimension",
                              io->name, given);
        if (io->rank >= 0 && io->dims[d] >= 0 && io->dims[d] != dims.d[d]) {
            kiln_dims_text(io->dims, io->rank, want, sizeof want);
            return kiln_error(KILN_ERR_SHAPE,
                              "kiln_context_set_input_shape: input '%s' is %s; dimension %d of %s "
                              "cannot change",
                              io->name, want, d, given);
        }
    }
    if (e->profile_count == 0) return KILN_OK;
    for (int32_t p = 0; p < e->profile_count; p++) {
        int inside = 1;
        for (int32_t d = 0; d < dims.nb_dims && inside; d++)
            inside = dims.d[d] >= e->profiles[p].min[i][d] && dims.d[d] <= e->profiles[p].max[i][d];
        if (inside) return KILN_OK;
    }
    char lo[256], hi[256];
    kiln_dims_text(e->profiles[0].min[i], dims.nb_dims, lo, sizeof lo);
    kiln_dims_text(e->profiles[0].max[i], dims.nb_dims, hi, sizeof hi);
    return kiln_error(KILN_ERR_SHAPE,
                      "kiln_context_set_input_shape: input '%s' shape %s is outside the "
                      "optimization profile: min %s, max %s",
                      io->name, given, lo, hi);
}

kiln_status kiln_context_set_input_shape(kiln_context *context, const char *name, kiln_dims dims) {
    KILN_CHECK_ARG(context != NULL, "kiln_context_set_input_shape");
    const kiln_engine *e = context->engine;
    const kiln_engine_io *io = kiln_engine_find_io(e, name, "kiln_context_set_input_shape");
    if (!io) return KILN_ERR_INVALID_ARGUMENT;
    if (io->mode != KILN_TENSOR_IO_INPUT)
        return kiln_error(KILN_ERR_INVALID_ARGUMENT,
                          "kiln_context_set_input_shape: '%s' is an output", name);
    if (dims.nb_dims < 0 || dims.nb_dims > KILN_MAX_DIMS)
        return kiln_error(KILN_ERR_SHAPE, "kiln_context_set_input_shape: rank %d for '%s'",
                          dims.nb_dims, name);
    int32_t i = (int32_t)(io - e->io);
    KILN_TRY(kiln_context_check_shape(e, i, dims));
    int changed = context->ranks[i] != dims.nb_dims ||
                  memcmp(context->shapes[i], dims.d, sizeof(int64_t) * (size_t)dims.nb_dims) != 0;
    context->ranks[i] = dims.nb_dims;
    memcpy(context->shapes[i], dims.d, sizeof(int64_t) * (size_t)dims.nb_dims);
    context->shape_set[i] = 1;
    if (changed) {
#ifdef KILN_HAVE_CUDA
        if (context->cuda) kiln_cuda_state_invalidate(context->cuda);
        else
#endif
            kiln_cpu_state_invalidate(&context->cpu);
        context->ran = 0;
    }
    return KILN_OK;
}

/* Before a run: an output's shape from the input shapes set so far (static shape
 * inference); dims that depend on input values stay -1. */
static kiln_status kiln_context_infer_output_shape(const kiln_context *c, const kiln_engine_io *io,
                                                   kiln_dims *out) {
    const kiln_engine *e = c->engine;
    const kiln_graph *g = e->graph;
    out->nb_dims = io->rank;
    for (int32_t d = 0; d < io->rank; d++) out->d[d] = io->dims[d];
    size_t n = (size_t)(g->input_count + 1);
    int32_t *ranks = calloc(n, sizeof *ranks);
    int64_t(*dims)[KILN_MAX_DIMS] = calloc(n, sizeof *dims);
    kiln_tview *views = calloc((size_t)(g->tensor_count + 1), sizeof *views);
    int ok = ranks && dims && views;
    for (int32_t k = 0, j = 0; ok && k < e->io_count; k++) {
        if (e->io[k].mode != KILN_TENSOR_IO_INPUT) continue;
        if (!c->shape_set[k]) ok = 0; /* a dynamic input without a shape yet */
        ranks[j] = c->ranks[k];
        memcpy(dims[j++], c->shapes[k], sizeof dims[0]);
    }
    if (ok && kiln_pass_infer_shapes(g, ranks, (const int64_t(*)[KILN_MAX_DIMS])dims, views) == KILN_OK) {
        const kiln_tview *v = &views[io->tensor];
        if (v->rank >= 0) {
            out->nb_dims = v->rank;
            for (int32_t d = 0; d < v->rank; d++) out->d[d] = v->dims[d];
        }
    }
    kiln_clear_error();
    free(ranks);
    free(dims);
    free(views);
    return KILN_OK;
}

kiln_status kiln_context_get_tensor_shape(const kiln_context *context, const char *name,
                                          kiln_dims *out) {
    KILN_CHECK_ARG(context && out, "kiln_context_get_tensor_shape");
    const kiln_engine *e = context->engine;
    const kiln_engine_io *io = kiln_engine_find_io(e, name, "kiln_context_get_tensor_shape");
    if (!io) return KILN_ERR_INVALID_ARGUMENT;
    int32_t i = (int32_t)(io - e->io);
    memset(out, 0, sizeof *out);
    if (io->mode == KILN_TENSOR_IO_OUTPUT && context->ran) {
        const kiln_tview *v = kiln_context_value(context, io->tensor);
        out->nb_dims = v->rank;
        memcpy(out->d, v->dims, sizeof(int64_t) * (size_t)(v->rank > 0 ? v->rank : 0));
        return KILN_OK;
    }
    if (io->mode == KILN_TENSOR_IO_OUTPUT) return kiln_context_infer_output_shape(context, io, out);
    out->nb_dims = context->ranks[i];
    for (int32_t d = 0; d < out->nb_dims; d++) out->d[d] = context->shapes[i][d];
    return KILN_OK;
}

kiln_status kiln_context_set_tensor_address(kiln_context *context, const char *name, void *address) {
    KILN_CHECK_ARG(context != NULL, "kiln_context_set_tensor_address");
    const kiln_engine_io *io = kiln_engine_find_io(context->engine, name,
                                                   "kiln_context_set_tensor_address");
    if (!io) return KILN_ERR_INVALID_ARGUMENT;
    context->addresses[io - context->engine->io] = address;
    return KILN_OK;
}

kiln_status kiln_context_get_tensor_data(const kiln_context *context, const char *name,
                                         const void **data) {
    KILN_CHECK_ARG(context && data, "kiln_context_get_tensor_data");
    const kiln_engine_io *io = kiln_engine_find_io(context->engine, name,
                                                   "kiln_context_get_tensor_data");
    if (!io) return KILN_ERR_INVALID_ARGUMENT;
    if (io->mode != KILN_TENSOR_IO_OUTPUT || !context->ran)
        return kiln_error(KILN_ERR_INVALID_ARGUMENT,
                          "kiln_context_get_tensor_data: '%s' is not an output of a finished run",
                          name);
#ifdef KILN_HAVE_CUDA
    if (context->cuda) return kiln_cuda_state_device_data(context->cuda, io->tensor, data);
#endif
    *data = context->cpu.values[io->tensor].data;
    return KILN_OK;
}

/* Checks that every input has a shape and a buffer. */
static kiln_status kiln_context_check_inputs(const kiln_context *c, const char *call) {
    const kiln_engine *e = c->engine;
    for (int32_t i = 0; i < e->io_count; i++) {
        const kiln_engine_io *io = &e->io[i];
        if (io->mode != KILN_TENSOR_IO_INPUT) continue;
        if (!c->shape_set[i])
            return kiln_error(KILN_ERR_SHAPE,
                              "%s: input '%s' has dynamic dimensions: set its shape with "
                              "kiln_context_set_input_shape first",
                              call, io->name);
        if (!c->addresses[i] && kiln_dtype_nbytes(io->dtype, kiln_shape_count(c->ranks[i], c->shapes[i])))
            return kiln_error(KILN_ERR_INVALID_ARGUMENT,
                              "%s: input '%s' has no buffer: bind one with "
                              "kiln_context_set_tensor_address",
                              call, io->name);
    }
    return KILN_OK;
}

/* An output whose computed type differs from the engine's (a model declaring one type and
 * computing another) is an error, never bytes read with the wrong size. */
static kiln_status kiln_context_check_outputs(const kiln_context *c, const char *call) {
    const kiln_engine *e = c->engine;
    for (int32_t i = 0; i < e->io_count; i++) {
        const kiln_engine_io *io = &e->io[i];
        if (io->mode != KILN_TENSOR_IO_OUTPUT) continue;
        const kiln_tview *v = kiln_context_value(c, io->tensor);
        if (v->dtype != io->dtype)
            return kiln_error(KILN_ERR_SHAPE, "%s: output '%s' is declared %s, but the graph computed %s",
                              call, io->name, kiln_dtype_name(io->dtype), kiln_dtype_name(v->dtype));
    }
    return KILN_OK;
}

#ifdef KILN_HAVE_CUDA
/* CUDA engines: inputs and outputs are device buffers; the run is queued on `stream`. */
static kiln_status kiln_context_run_cuda(kiln_context *c, void *stream, int wait) {
    const kiln_engine *e = c->engine;
    for (int32_t i = 0; i < e->io_count; i++) {
        const kiln_engine_io *io = &e->io[i];
        if (io->mode == KILN_TENSOR_IO_INPUT)
            kiln_cuda_state_bind_input(c->cuda, io->tensor, io->dtype, c->ranks[i], c->shapes[i],
                                       c->addresses[i]);
    }
    c->ran = 0;
    KILN_TRY(kiln_cuda_run(c->cuda, stream));
    KILN_TRY(kiln_context_check_outputs(c, "kiln_context_enqueue"));
    c->ran = 1;
    for (int32_t i = 0; i < e->io_count; i++) {
        const kiln_engine_io *io = &e->io[i];
        if (io->mode == KILN_TENSOR_IO_OUTPUT && c->addresses[i])
            KILN_TRY(kiln_cuda_state_copy_out(c->cuda, io->tensor, c->addresses[i], stream));
    }
    return wait ? kiln_cuda_state_synchronize(c->cuda, stream) : KILN_OK;
}
#endif

/* Binds the inputs, runs the graph, copies outputs to the caller's buffers. */
static kiln_status kiln_context_run(kiln_context *c, const char *call, void *stream, int wait) {
    const kiln_engine *e = c->engine;
    KILN_TRY(kiln_context_check_inputs(c, call));
#ifdef KILN_HAVE_CUDA
    if (c->cuda) return kiln_context_run_cuda(c, stream, wait);
#endif
    (void)stream, (void)wait;
    for (int32_t i = 0; i < e->io_count; i++) {
        const kiln_engine_io *io = &e->io[i];
        if (io->mode != KILN_TENSOR_IO_INPUT) continue;
        kiln_tview *v = &c->cpu.values[io->tensor];
        v->dtype = io->dtype;
        v->rank = c->ranks[i];
        memcpy(v->dims, c->shapes[i], sizeof v->dims);
        v->data = c->addresses[i];
        if (!v->data) {
            static uint8_t kiln_context_empty[8];
            v->data = kiln_context_empty;
        }
    }
    c->ran = 0;
    KILN_TRY(kiln_cpu_run(&c->cpu));
    KILN_TRY(kiln_context_check_outputs(c, call));
    c->ran = 1;
    for (int32_t i = 0; i < e->io_count; i++) {
        const kiln_engine_io *io = &e->io[i];
        if (io->mode != KILN_TENSOR_IO_OUTPUT || !c->addresses[i]) continue;
        const kiln_tview *v = &c->cpu.values[io->tensor];
        size_t bytes = kiln_dtype_nbytes(v->dtype, kiln_tview_count(v));
        if (bytes && v->data != c->addresses[i]) memcpy(c->addresses[i], v->data, bytes);
    }
    return KILN_OK;
}

kiln_status kiln_context_enqueue(kiln_context *context, void *stream) {
    KILN_CHECK_ARG(context != NULL, "kiln_context_enqueue");
    /* CPU engines run on the calling thread; CUDA engines queue on `stream`. */
    return kiln_context_run(context, "kiln_context_enqueue", stream, 0);
}

kiln_status kiln_context_execute(kiln_context *context) {
    KILN_CHECK_ARG(context != NULL, "kiln_context_execute");
    return kiln_context_run(context, "kiln_context_execute", NULL, 1);
}

kiln_status kiln_context_set_profiling(kiln_context *context, int enabled) {
    KILN_CHECK_ARG(context != NULL, "kiln_context_set_profiling");
    if (kiln_context_is_cuda(context) && enabled)
        return kiln_error(KILN_ERR_UNSUPPORTED,
                          "kiln_context_set_profiling: layer profiles of CUDA engines are not "
                          "implemented yet");
    if (!enabled) {
        free(context->cpu.node_seconds);
        context->cpu.node_seconds = NULL;
        return KILN_OK;
    }
    if (!context->cpu.node_seconds) {
        context->cpu.node_seconds =
            calloc((size_t)(context->engine->graph->node_count + 1), sizeof(double));
        if (!context->cpu.node_seconds)
            return kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
    }
    return KILN_OK;
}

kiln_status kiln_context_get_layer_time(const kiln_context *context, int32_t index,
                                        double *seconds) {
    KILN_CHECK_ARG(context && seconds, "kiln_context_get_layer_time");
    if (!context->cpu.node_seconds)
        return kiln_error(KILN_ERR_INVALID_ARGUMENT,
                          "kiln_context_get_layer_time: profiling is off (kiln_context_set_profiling)");
    if (index < 0 || index >= context->engine->graph->node_count)
        return kiln_error(KILN_ERR_INVALID_ARGUMENT, "kiln_context_get_layer_time: layer %d of %d",
                          index, context->engine->graph->node_count);
    *seconds = context->cpu.node_seconds[index];
    return KILN_OK;
}
