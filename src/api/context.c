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
    /* Values other than numeric tensors (CPU engines): per io */
    uint8_t *in_kind;          /* what the caller bound: TENSOR, SEQUENCE or NONE */
    int32_t *seq_count;        /* a bound sequence: its items, whose data is the caller's */
    kiln_tview **seq_items;
    void **strings;            /* a bound string tensor: the context's copy (kiln_string[]) */
    int64_t *string_count;
    int32_t io_count;          /* the engine's, for destroy (which must not read the engine) */
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
    c->io_count = engine->io_count;
    size_t n = (size_t)(engine->io_count ? engine->io_count : 1);
    c->addresses = calloc(n, sizeof *c->addresses);
    c->shapes = calloc(n, sizeof *c->shapes);
    c->ranks = calloc(n, sizeof *c->ranks);
    c->shape_set = calloc(n, sizeof *c->shape_set);
    c->in_kind = calloc(n, sizeof *c->in_kind);
    c->seq_count = calloc(n, sizeof *c->seq_count);
    c->seq_items = calloc(n, sizeof *c->seq_items);
    c->strings = calloc(n, sizeof *c->strings);
    c->string_count = calloc(n, sizeof *c->string_count);
    kiln_status st = c->addresses && c->shapes && c->ranks && c->shape_set && c->in_kind &&
                             c->seq_count && c->seq_items && c->strings && c->string_count
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
    for (int32_t i = 0; i < context->io_count; i++) {
        if (context->seq_items) free(context->seq_items[i]);
        if (context->strings) free(context->strings[i]);
    }
    free(context->addresses);
    free(context->shapes);
    free(context->ranks);
    free(context->shape_set);
    free(context->in_kind);
    free(context->seq_count);
    free(context->seq_items);
    free(context->strings);
    free(context->string_count);
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
    /* Optionals have no profile: their values come whole. */
    if (e->profile_count == 0 || io->kind != KILN_VALUE_TENSOR) return KILN_OK;
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
    if (io->kind == KILN_VALUE_SEQUENCE || io->kind == KILN_VALUE_OPTIONAL_SEQUENCE)
        return kiln_error(KILN_ERR_INVALID_ARGUMENT,
                          "kiln_context_set_input_shape: input '%s' is a %s: bind it with "
                          "kiln_context_set_input_sequence%s",
                          name, kiln_value_kind_name(io->kind),
                          io->kind == KILN_VALUE_SEQUENCE ? "" : " or kiln_context_set_input_none");
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
    context->in_kind[i] = KILN_VALUE_TENSOR; /* an optional given a tensor */
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
        if (v->kind != KILN_VALUE_TENSOR) { /* sequences and empty optionals have no shape */
            out->nb_dims = -1;
            return KILN_OK;
        }
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
    int32_t i = (int32_t)(io - context->engine->io);
    if (io->mode == KILN_TENSOR_IO_INPUT && address &&
        (io->kind == KILN_VALUE_SEQUENCE || io->kind == KILN_VALUE_OPTIONAL_SEQUENCE ||
         io->dtype == KILN_DTYPE_STRING))
        return kiln_error(KILN_ERR_INVALID_ARGUMENT,
                          "kiln_context_set_tensor_address: input '%s' is a %s of %s: bind it "
                          "with kiln_context_set_input_%s",
                          name, kiln_value_kind_name(io->kind), kiln_dtype_name(io->dtype),
                          io->dtype == KILN_DTYPE_STRING ? "strings" : "sequence");
    context->addresses[i] = address;
    if (io->mode == KILN_TENSOR_IO_INPUT && address) context->in_kind[i] = KILN_VALUE_TENSOR;
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
    const kiln_tview *v = &context->cpu.values[io->tensor];
    if (!kiln_tview_is_numeric_tensor(v))
        return kiln_error(KILN_ERR_INVALID_ARGUMENT,
                          "kiln_context_get_tensor_data: output '%s' is a %s of %s: read it with "
                          "kiln_context_get_output_%s",
                          name, kiln_value_kind_name(v->kind), kiln_dtype_name(v->dtype),
                          v->kind == KILN_VALUE_SEQUENCE ? "sequence_item"
                          : v->kind == KILN_VALUE_NONE   ? "kind"
                                                         : "string");
    *data = v->data;
    return KILN_OK;
}

/* Checks that every input has a shape and a buffer. */
static kiln_status kiln_context_check_inputs(const kiln_context *c, const char *call) {
    const kiln_engine *e = c->engine;
    for (int32_t i = 0; i < e->io_count; i++) {
        const kiln_engine_io *io = &e->io[i];
        if (io->mode != KILN_TENSOR_IO_INPUT) continue;
        uint8_t bound = c->in_kind[i];
        if ((io->kind == KILN_VALUE_SEQUENCE && bound != KILN_VALUE_SEQUENCE) ||
            (io->kind == KILN_VALUE_OPTIONAL_SEQUENCE && bound == KILN_VALUE_TENSOR))
            return kiln_error(KILN_ERR_INVALID_ARGUMENT,
                              "%s: input '%s' is a %s: bind it with "
                              "kiln_context_set_input_sequence%s first",
                              call, io->name, kiln_value_kind_name(io->kind),
                              io->kind == KILN_VALUE_SEQUENCE ? "" : " or kiln_context_set_input_none");
        if (bound != KILN_VALUE_TENSOR) continue;
        if (io->kind == KILN_VALUE_OPTIONAL && !c->shape_set[i])
            return kiln_error(KILN_ERR_SHAPE,
                              "%s: input '%s' is optional: give it a tensor (shape and buffer) "
                              "or mark it empty with kiln_context_set_input_none first",
                              call, io->name);
        if (!c->shape_set[i])
            return kiln_error(KILN_ERR_SHAPE,
                              "%s: input '%s' has dynamic dimensions: set its shape with "
                              "kiln_context_set_input_shape first",
                              call, io->name);
        if (io->dtype == KILN_DTYPE_STRING) {
            int64_t count = kiln_shape_count(c->ranks[i], c->shapes[i]);
            if (count > 0 && (!c->strings[i] || c->string_count[i] != count))
                return kiln_error(KILN_ERR_INVALID_ARGUMENT,
                                  "%s: string input '%s' has no strings of its current shape: "
                                  "bind them with kiln_context_set_input_strings",
                                  call, io->name);
            continue;
        }
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
        int want_seq = io->kind == KILN_VALUE_SEQUENCE || io->kind == KILN_VALUE_OPTIONAL_SEQUENCE;
        int may_be_none = io->kind == KILN_VALUE_OPTIONAL || io->kind == KILN_VALUE_OPTIONAL_SEQUENCE;
        if ((v->kind == KILN_VALUE_NONE && !may_be_none) ||
            (v->kind == KILN_VALUE_SEQUENCE && !want_seq) ||
            (v->kind == KILN_VALUE_TENSOR && want_seq))
            return kiln_error(KILN_ERR_SHAPE, "%s: output '%s' is declared a %s, but the graph "
                                              "computed a %s",
                              call, io->name, kiln_value_kind_name(io->kind),
                              kiln_value_kind_name(v->kind));
        if (v->kind == KILN_VALUE_NONE) continue;
        if (v->kind == KILN_VALUE_SEQUENCE) {
            for (int32_t k = 0; k < v->seq_count; k++)
                if (v->seq_items[k].dtype != io->dtype)
                    return kiln_error(KILN_ERR_SHAPE,
                                      "%s: output '%s' is declared a sequence of %s, but item %d "
                                      "is %s",
                                      call, io->name, kiln_dtype_name(io->dtype), k,
                                      kiln_dtype_name(v->seq_items[k].dtype));
            continue;
        }
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
        static _Alignas(16) uint8_t kiln_context_empty[16];
        memset(v, 0, sizeof *v);
        v->kind = c->in_kind[i];
        v->dtype = io->dtype;
        if (v->kind == KILN_VALUE_SEQUENCE) {
            v->seq_count = c->seq_count[i];
            v->seq_items = c->seq_items[i];
            v->data = v->seq_items ? (void *)v->seq_items : kiln_context_empty;
            continue;
        }
        if (v->kind == KILN_VALUE_NONE) {
            v->data = kiln_context_empty;
            continue;
        }
        v->rank = c->ranks[i];
        memcpy(v->dims, c->shapes[i], sizeof v->dims);
        v->data = io->dtype == KILN_DTYPE_STRING ? c->strings[i] : c->addresses[i];
        if (!v->data) v->data = kiln_context_empty;
    }
    c->ran = 0;
    KILN_TRY(kiln_cpu_run(&c->cpu));
    KILN_TRY(kiln_context_check_outputs(c, call));
    c->ran = 1;
    for (int32_t i = 0; i < e->io_count; i++) {
        const kiln_engine_io *io = &e->io[i];
        if (io->mode != KILN_TENSOR_IO_OUTPUT || !c->addresses[i]) continue;
        const kiln_tview *v = &c->cpu.values[io->tensor];
        if (!kiln_tview_is_numeric_tensor(v)) continue; /* read with kiln_context_get_output_* */
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

/* ---------------------------------------------------------------- values ----------- */

kiln_value_kind kiln_engine_get_tensor_kind(const kiln_engine *engine, const char *name) {
    int32_t i = engine ? kiln_engine_io_index(engine, name) : -1;
    return i >= 0 ? (kiln_value_kind)engine->io[i].kind : KILN_VALUE_TENSOR;
}

/* The io entry `name` of the given mode, on a CPU engine. */
static kiln_status kiln_context_value_io(const kiln_context *c, const char *name,
                                         kiln_tensor_io_mode mode, const char *call,
                                         const kiln_engine_io **out) {
    if (kiln_context_is_cuda(c))
        return kiln_error(KILN_ERR_UNSUPPORTED,
                          "%s: sequences, optionals and strings are bound on CPU engines only; "
                          "build the engine for the CPU to run this model",
                          call);
    const kiln_engine_io *io = kiln_engine_find_io(c->engine, name, call);
    if (!io) return KILN_ERR_INVALID_ARGUMENT;
    if (io->mode != mode)
        return kiln_error(KILN_ERR_INVALID_ARGUMENT, "%s: '%s' is an %s", call, name,
                          io->mode == KILN_TENSOR_IO_INPUT ? "input" : "output");
    *out = io;
    return KILN_OK;
}

kiln_status kiln_context_set_input_sequence(kiln_context *context, const char *name,
                                            int32_t count, const kiln_dims *shapes,
                                            const void *const *data) {
    const char *call = "kiln_context_set_input_sequence";
    KILN_CHECK_ARG(context && count >= 0 && (count == 0 || (shapes && data)), call);
    const kiln_engine_io *io = NULL;
    KILN_TRY(kiln_context_value_io(context, name, KILN_TENSOR_IO_INPUT, call, &io));
    if (io->kind != KILN_VALUE_SEQUENCE && io->kind != KILN_VALUE_OPTIONAL_SEQUENCE)
        return kiln_error(KILN_ERR_INVALID_ARGUMENT, "%s: input '%s' is a %s, not a sequence", call,
                          name, kiln_value_kind_name(io->kind));
    if (kiln_dtype_bits(io->dtype) == 0)
        return kiln_error(KILN_ERR_UNSUPPORTED, "%s: input '%s' is a sequence of %s, which kiln "
                                                "cannot bind",
                          call, name, kiln_dtype_name(io->dtype));
    kiln_tview *items = count ? calloc((size_t)count, sizeof *items) : NULL;
    if (count && !items) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "%s: out of memory", call);
    for (int32_t k = 0; k < count; k++) {
        const kiln_dims *d = &shapes[k];
        int ok = d->nb_dims >= 0 && d->nb_dims <= KILN_MAX_DIMS;
        for (int32_t j = 0; ok && j < d->nb_dims; j++) ok = d->d[j] >= 0;
        int64_t n = ok ? kiln_shape_count(d->nb_dims, d->d) : -1;
        if (!ok || n < 0 || (!data[k] && kiln_dtype_nbytes(io->dtype, n))) {
            free(items);
            return kiln_error(KILN_ERR_INVALID_ARGUMENT,
                              "%s: input '%s', item %d: %s", call, name, k,
                              !ok ? "its shape has a bad rank or a negative dimension"
                                  : "its data is NULL");
        }
        items[k].dtype = io->dtype;
        items[k].rank = d->nb_dims;
        memcpy(items[k].dims, d->d, sizeof(int64_t) * (size_t)d->nb_dims);
        static _Alignas(16) uint8_t kiln_context_no_data[16];
        items[k].data = data[k] ? (void *)data[k] : kiln_context_no_data;
    }
    int32_t i = (int32_t)(io - context->engine->io);
    free(context->seq_items[i]);
    context->seq_items[i] = items;
    context->seq_count[i] = count;
    context->in_kind[i] = KILN_VALUE_SEQUENCE;
    context->shape_set[i] = 1;
    context->ran = 0;
    return KILN_OK;
}

kiln_status kiln_context_set_input_none(kiln_context *context, const char *name) {
    const char *call = "kiln_context_set_input_none";
    KILN_CHECK_ARG(context != NULL, call);
    const kiln_engine_io *io = NULL;
    KILN_TRY(kiln_context_value_io(context, name, KILN_TENSOR_IO_INPUT, call, &io));
    if (io->kind != KILN_VALUE_OPTIONAL && io->kind != KILN_VALUE_OPTIONAL_SEQUENCE)
        return kiln_error(KILN_ERR_INVALID_ARGUMENT, "%s: input '%s' is a %s, not an optional",
                          call, name, kiln_value_kind_name(io->kind));
    int32_t i = (int32_t)(io - context->engine->io);
    context->in_kind[i] = KILN_VALUE_NONE;
    context->shape_set[i] = 1;
    context->ran = 0;
    return KILN_OK;
}

kiln_status kiln_context_set_input_strings(kiln_context *context, const char *name, kiln_dims dims,
                                           const char *const *strings) {
    const char *call = "kiln_context_set_input_strings";
    KILN_CHECK_ARG(context != NULL, call);
    const kiln_engine_io *io = NULL;
    KILN_TRY(kiln_context_value_io(context, name, KILN_TENSOR_IO_INPUT, call, &io));
    if (io->dtype != KILN_DTYPE_STRING)
        return kiln_error(KILN_ERR_INVALID_ARGUMENT, "%s: input '%s' is %s, not string", call, name,
                          kiln_dtype_name(io->dtype));
    int64_t count = dims.nb_dims >= 0 && dims.nb_dims <= KILN_MAX_DIMS
                        ? kiln_shape_count(dims.nb_dims, dims.d)
                        : 0;
    if (count > 0 && !strings)
        return kiln_error(KILN_ERR_INVALID_ARGUMENT, "%s: input '%s': strings is NULL", call, name);
    size_t total = 0;
    for (int64_t k = 0; k < count; k++) {
        if (!strings[k])
            return kiln_error(KILN_ERR_INVALID_ARGUMENT, "%s: input '%s': string %lld is NULL",
                              call, name, (long long)k);
        total += strlen(strings[k]);
    }
    KILN_TRY(kiln_context_set_input_shape(context, name, dims)); /* checks dims, profile */
    int32_t i = (int32_t)(io - context->engine->io);
    size_t head = sizeof(kiln_string) * (size_t)(count > 0 ? count : 0);
    uint8_t *block = malloc(head + total + 1);
    if (!block) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "%s: out of memory", call);
    kiln_string *s = (kiln_string *)(void *)block;
    char *bytes = (char *)block + head;
    for (int64_t k = 0; k < count; k++) {
        size_t len = strlen(strings[k]);
        memcpy(bytes, strings[k], len);
        s[k].data = bytes;
        s[k].size = (int64_t)len;
        bytes += len;
    }
    free(context->strings[i]);
    context->strings[i] = block;
    context->string_count[i] = count > 0 ? count : 0;
    context->in_kind[i] = KILN_VALUE_TENSOR;
    context->ran = 0;
    return KILN_OK;
}

/* Output `name` after a run. */
static kiln_status kiln_context_output(const kiln_context *c, const char *name, const char *call,
                                       const kiln_tview **out) {
    const kiln_engine_io *io = NULL;
    KILN_TRY(kiln_context_value_io(c, name, KILN_TENSOR_IO_OUTPUT, call, &io));
    if (!c->ran)
        return kiln_error(KILN_ERR_INVALID_ARGUMENT, "%s: '%s' is not an output of a finished run",
                          call, name);
    *out = kiln_context_value(c, io->tensor);
    return KILN_OK;
}

kiln_status kiln_context_get_output_kind(const kiln_context *context, const char *name,
                                         int32_t *kind) {
    const char *call = "kiln_context_get_output_kind";
    KILN_CHECK_ARG(context && kind, call);
    if (kiln_context_is_cuda(context)) { /* CUDA engines hold tensors only */
        const kiln_engine_io *io = kiln_engine_find_io(context->engine, name, call);
        if (!io) return KILN_ERR_INVALID_ARGUMENT;
        *kind = KILN_VALUE_TENSOR;
        return KILN_OK;
    }
    const kiln_tview *v = NULL;
    KILN_TRY(kiln_context_output(context, name, call, &v));
    *kind = v->kind;
    return KILN_OK;
}

static kiln_status kiln_context_sequence_output(const kiln_context *c, const char *name,
                                                const char *call, const kiln_tview **out) {
    KILN_TRY(kiln_context_output(c, name, call, out));
    if ((*out)->kind != KILN_VALUE_SEQUENCE)
        return kiln_error(KILN_ERR_INVALID_ARGUMENT, "%s: output '%s' is a %s, not a sequence",
                          call, name, kiln_value_kind_name((*out)->kind));
    return KILN_OK;
}

kiln_status kiln_context_get_output_sequence_count(const kiln_context *context, const char *name,
                                                   int32_t *count) {
    const char *call = "kiln_context_get_output_sequence_count";
    KILN_CHECK_ARG(context && count, call);
    const kiln_tview *v = NULL;
    KILN_TRY(kiln_context_sequence_output(context, name, call, &v));
    *count = v->seq_count;
    return KILN_OK;
}

kiln_status kiln_context_get_output_sequence_item(const kiln_context *context, const char *name,
                                                  int32_t index, kiln_dims *dims,
                                                  const void **data) {
    const char *call = "kiln_context_get_output_sequence_item";
    KILN_CHECK_ARG(context && dims && data, call);
    const kiln_tview *v = NULL;
    KILN_TRY(kiln_context_sequence_output(context, name, call, &v));
    if (index < 0 || index >= v->seq_count)
        return kiln_error(KILN_ERR_INVALID_ARGUMENT, "%s: output '%s' has %d items; asked for %d",
                          call, name, v->seq_count, index);
    const kiln_tview *item = &v->seq_items[index];
    memset(dims, 0, sizeof *dims);
    dims->nb_dims = item->rank;
    memcpy(dims->d, item->dims, sizeof(int64_t) * (size_t)item->rank);
    *data = item->data;
    return KILN_OK;
}

kiln_status kiln_context_get_output_string(const kiln_context *context, const char *name,
                                           int64_t index, const char **s, size_t *len) {
    const char *call = "kiln_context_get_output_string";
    KILN_CHECK_ARG(context && s && len, call);
    const kiln_tview *v = NULL;
    KILN_TRY(kiln_context_output(context, name, call, &v));
    if (v->kind != KILN_VALUE_TENSOR || v->dtype != KILN_DTYPE_STRING)
        return kiln_error(KILN_ERR_INVALID_ARGUMENT, "%s: output '%s' is a %s of %s, not strings",
                          call, name, kiln_value_kind_name(v->kind), kiln_dtype_name(v->dtype));
    int64_t count = kiln_tview_count(v);
    if (index < 0 || index >= count)
        return kiln_error(KILN_ERR_INVALID_ARGUMENT, "%s: output '%s' has %lld strings; asked for "
                                                     "%lld",
                          call, name, (long long)count, (long long)index);
    const kiln_string *str = (const kiln_string *)v->data;
    *s = str[index].data;
    *len = (size_t)str[index].size;
    return KILN_OK;
}
