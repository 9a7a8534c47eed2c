#include "backends/cuda/cuda_executor.h"

#include "backends/cuda/cublaslt_lazy.h"
#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef KILN_HAVE_CUDNN
#include <cudnn.h>
#endif

#include "backends/cpu/cpu_executor.h"
#include "plan/memory_plan.h"

enum { KILN_ON_HOST = 1, KILN_ON_DEVICE = 2 };

struct kiln_cuda_state {
    const kiln_engine *engine;
    const kiln_graph *graph;
    const kiln_cuda_engine *ce;
    kiln_cpu_state cpu;  /* host values: views, memory of CPU nodes' outputs */
    int32_t n;
    uint8_t *where;      /* per tensor: KILN_ON_HOST | KILN_ON_DEVICE this run */
    void **dev;          /* per tensor: device data this run */
    void **dev_heap;     /* per tensor: device memory of its own (first run) */
    uint64_t *dev_sizes, *dev_offsets, *dev_planned;
    uint8_t *dev_arena;
    uint64_t dev_arena_size;
    int plan_valid, plan_stale;
    void **host_copy;    /* per tensor: host copy of a device tensor */
    size_t *host_cap;
    void *workspace;
    size_t workspace_size;
    void **node_state;
    void (**node_destroy)(void *);
    cublasLtHandle_t lt;
    void *dnn;           /* cudnnHandle_t */
    cudaStream_t own_stream;
    cudaStream_t stream; /* of the current run */
    int tf32;
};

struct kiln_cuda_ctx {
    kiln_cuda_state *s;
    int32_t step;
};

/* ---------------------------------------------------------------- ctx services ----- */

void *kiln_cuda_stream(kiln_cuda_ctx *ctx) {
    return ctx->s->stream;
}

void *kiln_cuda_cublaslt(kiln_cuda_ctx *ctx) {
    return ctx->s->lt;
}

void *kiln_cuda_cudnn(kiln_cuda_ctx *ctx) {
    return ctx->s->dnn;
}

int kiln_cuda_allow_tf32(const kiln_cuda_ctx *ctx) {
    return ctx->s->tf32;
}

void *kiln_cuda_workspace(kiln_cuda_ctx *ctx, size_t bytes) {
    kiln_cuda_state *s = ctx->s;
    if (bytes > s->workspace_size || !s->workspace) {
        if (s->workspace) cudaFreeAsync(s->workspace, s->stream);
        s->workspace = NULL;
        s->workspace_size = 0;
        if (cudaMallocAsync(&s->workspace, bytes ? bytes : 256, s->stream) != cudaSuccess) return NULL;
        s->workspace_size = bytes;
    }
    return s->workspace;
}

void **kiln_cuda_node_state(kiln_cuda_ctx *ctx, void (*destroy)(void *)) {
    kiln_cuda_state *s = ctx->s;
    s->node_destroy[ctx->step] = destroy;
    return &s->node_state[ctx->step];
}

/* ---------------------------------------------------------------- engine ----------- */

/* The kernel a plan names for a node. The name was chosen at build time with the shapes
 * and types of the profile, which the plan's static types may not all repeat: the name
 * decides, not a second supports() check. */
static const kiln_cuda_kernel_info *kiln_cuda_kernel_named(const kiln_node *node, const char *name,
                                                           const kiln_tview *in, int32_t n_in,
                                                           const kiln_tview *out, int32_t n_out) {
    if (!name) return kiln_cuda_kernel_for(node, in, n_in, out, n_out);
    return kiln_cuda_kernel_by_name(node->op, name);
}

/* Static views of a node's tensors: dtype and rank from the graph, no data. */
static void kiln_cuda_static_views(const kiln_graph *g, const kiln_node *n, kiln_tview *in,
                                   kiln_tview *out, const kiln_tview *views) {
    for (int32_t i = 0; i < n->input_count; i++) {
        memset(&in[i], 0, sizeof in[i]);
        in[i].rank = -1;
        if (n->inputs[i] < 0) continue;
        if (views) in[i] = views[n->inputs[i]];
        else {
            const kiln_ir_tensor *t = &g->tensors[n->inputs[i]];
            in[i].dtype = t->dtype;
            in[i].rank = t->rank;
            memcpy(in[i].dims, t->dims, sizeof in[i].dims);
        }
        in[i].data = NULL;
    }
    for (int32_t i = 0; i < n->output_count; i++) {
        memset(&out[i], 0, sizeof out[i]);
        out[i].rank = -1;
        if (n->outputs[i] < 0) continue;
        if (views) out[i] = views[n->outputs[i]];
        else {
            const kiln_ir_tensor *t = &g->tensors[n->outputs[i]];
            out[i].dtype = t->dtype;
            out[i].rank = t->rank;
            memcpy(out[i].dims, t->dims, sizeof out[i].dims);
        }
        out[i].data = NULL;
    }
}

static int32_t kiln_cuda_max_io(const kiln_graph *g) {
    int32_t m = 1;
    for (int32_t i = 0; i < g->node_count; i++) {
        if (g->nodes[i].input_count > m) m = g->nodes[i].input_count;
        if (g->nodes[i].output_count > m) m = g->nodes[i].output_count;
    }
    return m;
}

kiln_status kiln_cuda_place_nodes(kiln_engine *e, const kiln_tview *views) {
    const kiln_graph *g = e->graph;
    int32_t m = kiln_cuda_max_io(g);
    kiln_tview *in = calloc((size_t)m, sizeof *in), *out = calloc((size_t)m, sizeof *out);
    if (!in || !out) {
        free(in);
        free(out);
        return kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
    }
    kiln_status st = KILN_OK;
    for (int32_t i = 0; st == KILN_OK && i < g->node_count; i++) {
        const kiln_node *n = &g->nodes[i];
        kiln_cuda_static_views(g, n, in, out, views);
        const kiln_cuda_kernel_info *k = kiln_cuda_kernel_for(n, in, n->input_count, out, n->output_count);
        char name[160];
        if (k) snprintf(name, sizeof name, "%s", k->name);
        else snprintf(name, sizeof name, "cpu.ref.%s", kiln_op_get_info(n->op)->name);
        free(e->kernel_names[i]);
        e->kernel_names[i] = malloc(strlen(name) + 1);
        if (!e->kernel_names[i]) st = kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
        else strcpy(e->kernel_names[i], name);
    }
    free(in);
    free(out);
    return st;
}

void kiln_cuda_engine_release(kiln_engine *e) {
    kiln_cuda_engine *ce = e->backend;
    if (!ce) return;
    for (int32_t t = 0; ce->device_constants && t < e->graph->tensor_count; t++)
        if (ce->device_constants[t]) cudaFree(ce->device_constants[t]);
    free(ce->device_constants);
    free(ce->kernels);
    free(ce);
    e->backend = NULL;
}

kiln_status kiln_cuda_engine_prepare(kiln_engine *e) {
    const kiln_graph *g = e->graph;
    kiln_cuda_engine *ce = calloc(1, sizeof *ce);
    if (!ce) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
    e->backend = ce;
    ce->kernels = calloc((size_t)g->node_count + 1, sizeof *ce->kernels);
    ce->device_constants = calloc((size_t)g->tensor_count + 1, sizeof *ce->device_constants);
    int32_t m = kiln_cuda_max_io(g);
    kiln_tview *in = calloc((size_t)m, sizeof *in), *out = calloc((size_t)m, sizeof *out);
    kiln_status st = ce->kernels && ce->device_constants && in && out
                         ? KILN_OK
                         : kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
    if (st == KILN_OK) st = kiln_cuda_check(NULL, cudaSetDevice(e->device_index), "cudaSetDevice");
    for (int32_t i = 0; st == KILN_OK && i < g->node_count; i++) {
        const kiln_node *n = &g->nodes[i];
        const char *name = e->kernel_names ? e->kernel_names[i] : NULL;
        if (name && !strncmp(name, "cpu.", 4)) continue;
        kiln_cuda_static_views(g, n, in, out, NULL);
        ce->kernels[i] = kiln_cuda_kernel_named(n, name, in, n->input_count, out, n->output_count);
        if (!ce->kernels[i])
            st = kiln_error(KILN_ERR_VERSION_MISMATCH,
                            "the plan runs node '%s' (%s) with kernel '%s', which this kiln does "
                            "not have: rebuild the plan with this kiln",
                            n->name, kiln_op_get_info(n->op)->name, name ? name : "?");
    }
    /* Weights read by CUDA nodes live on the device for the engine's lifetime. */
    for (int32_t i = 0; st == KILN_OK && i < g->node_count; i++) {
        const kiln_node *n = &g->nodes[i];
        if (!ce->kernels[i]) continue;
        for (int32_t k = 0; st == KILN_OK && k < n->input_count; k++) {
            int32_t t = n->inputs[k];
            if (t < 0 || !g->tensors[t].data || ce->device_constants[t]) continue;
            if (ce->kernels[i]->host_inputs >> k & 1u) continue;
            size_t bytes = g->tensors[t].nbytes;
            st = kiln_cuda_check(n, cudaMalloc(&ce->device_constants[t], bytes ? bytes : 1),
                                 "cudaMalloc (weights)");
            if (st == KILN_OK && bytes)
                st = kiln_cuda_check(n, cudaMemcpy(ce->device_constants[t], g->tensors[t].data, bytes,
                                                   cudaMemcpyHostToDevice),
                                     "cudaMemcpy (weights)");
        }
    }
    free(in);
    free(out);
    if (st != KILN_OK) kiln_cuda_engine_release(e);
    return st;
}

/* ---------------------------------------------------------------- state ------------ */

kiln_status kiln_cuda_state_create(const kiln_engine *e, int threads, kiln_cuda_state **out) {
    kiln_cuda_state *s = calloc(1, sizeof *s);
    if (!s) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
    s->engine = e;
    s->graph = e->graph;
    s->ce = e->backend;
    s->n = e->graph->tensor_count;
    s->tf32 = (e->flags >> KILN_BUILDER_FLAG_TF32) & 1u;
    size_t n = (size_t)(s->n ? s->n : 1), nodes = (size_t)(e->graph->node_count + 1);
    s->where = calloc(n, 1);
    s->dev = calloc(n, sizeof *s->dev);
    s->dev_heap = calloc(n, sizeof *s->dev_heap);
    s->dev_sizes = calloc(n, sizeof *s->dev_sizes);
    s->dev_offsets = calloc(n, sizeof *s->dev_offsets);
    s->dev_planned = calloc(n, sizeof *s->dev_planned);
    s->host_copy = calloc(n, sizeof *s->host_copy);
    s->host_cap = calloc(n, sizeof *s->host_cap);
    s->node_state = calloc(nodes, sizeof *s->node_state);
    s->node_destroy = calloc(nodes, sizeof *s->node_destroy);
    kiln_status st = s->where && s->dev && s->dev_heap && s->dev_sizes && s->dev_offsets &&
                             s->dev_planned && s->host_copy && s->host_cap && s->node_state &&
                             s->node_destroy
                         ? KILN_OK
                         : kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
    if (st == KILN_OK) st = kiln_cuda_check(NULL, cudaSetDevice(e->device_index), "cudaSetDevice");
    if (st == KILN_OK)
        st = kiln_cpu_state_init(&s->cpu, e->graph, e->first_use, e->last_use, threads);
    if (st == KILN_OK)
        st = kiln_cuda_check(NULL, cudaStreamCreateWithFlags(&s->own_stream, cudaStreamNonBlocking),
                             "cudaStreamCreateWithFlags");
    if (st == KILN_OK && !kiln_cublaslt_load())
        st = kiln_error(KILN_ERR_DEVICE, "%s", kiln_cublaslt_load_error());
    if (st == KILN_OK) st = kiln_cublas_check(NULL, cublasLtCreate(&s->lt), "cublasLtCreate");
#ifdef KILN_HAVE_CUDNN
    if (st == KILN_OK) st = kiln_cudnn_check(NULL, cudnnCreate((cudnnHandle_t *)&s->dnn), "cudnnCreate");
#endif
    if (st != KILN_OK) {
        kiln_cuda_state_destroy(s);
        return st;
    }
    *out = s;
    return KILN_OK;
}

void kiln_cuda_state_destroy(kiln_cuda_state *s) {
    if (!s) return;
    if (s->own_stream) cudaStreamSynchronize(s->own_stream);
    cudaDeviceSynchronize(); /* runs on callers' streams must be done before freeing */
    for (int32_t i = 0; s->node_state && i < s->graph->node_count; i++)
        if (s->node_state[i] && s->node_destroy[i]) s->node_destroy[i](s->node_state[i]);
    for (int32_t t = 0; t < s->n; t++) {
        if (s->dev_heap && s->dev_heap[t]) cudaFree(s->dev_heap[t]);
        if (s->host_copy) free(s->host_copy[t]);
    }
    if (s->dev_arena) cudaFree(s->dev_arena);
    if (s->workspace) cudaFree(s->workspace);
    if (s->lt) cublasLtDestroy(s->lt);
#ifdef KILN_HAVE_CUDNN
    if (s->dnn) cudnnDestroy((cudnnHandle_t)s->dnn);
#endif
    if (s->own_stream) cudaStreamDestroy(s->own_stream);
    if (s->cpu.values) kiln_cpu_state_free(&s->cpu);
    free(s->where);
    free(s->dev);
    free(s->dev_heap);
    free(s->dev_sizes);
    free(s->dev_offsets);
    free(s->dev_planned);
    free(s->host_copy);
    free(s->host_cap);
    free(s->node_state);
    free(s->node_destroy);
    free(s);
}

void kiln_cuda_state_invalidate(kiln_cuda_state *s) {
    s->plan_valid = 0;
    kiln_cpu_state_invalidate(&s->cpu);
}

void kiln_cuda_state_bind_input(kiln_cuda_state *s, int32_t t, kiln_dtype dtype, int32_t rank,
                                const int64_t *dims, void *device_data) {
    kiln_tview *v = &s->cpu.values[t];
    v->dtype = dtype;
    v->rank = rank;
    memcpy(v->dims, dims, sizeof(int64_t) * (size_t)rank);
    v->data = NULL;
    s->dev[t] = device_data;
    s->where[t] = KILN_ON_DEVICE;
}

const kiln_tview *kiln_cuda_state_value(const kiln_cuda_state *s, int32_t t) {
    return &s->cpu.values[t];
}

/* ---------------------------------------------------------------- residency -------- */

static size_t kiln_cuda_bytes(const kiln_tview *v) {
    return kiln_dtype_nbytes(v->dtype, kiln_tview_count(v));
}

/* Makes tensor t readable on the host (device -> host copy, waiting for the stream). */
static kiln_status kiln_cuda_to_host(kiln_cuda_state *s, int32_t t, const kiln_node *node) {
    if (s->where[t] & KILN_ON_HOST) return KILN_OK;
    kiln_tview *v = &s->cpu.values[t];
    size_t bytes = kiln_cuda_bytes(v);
    if (bytes > s->host_cap[t] || !s->host_copy[t]) {
        void *p = realloc(s->host_copy[t], bytes ? bytes : 1);
        if (!p) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
        s->host_copy[t] = p;
        s->host_cap[t] = bytes;
    }
    if (bytes) {
        KILN_TRY(kiln_cuda_check(node, cudaMemcpyAsync(s->host_copy[t], s->dev[t], bytes,
                                                       cudaMemcpyDeviceToHost, s->stream),
                                 "cudaMemcpyAsync (device to host)"));
        KILN_TRY(kiln_cuda_check(node, cudaStreamSynchronize(s->stream), "cudaStreamSynchronize"));
    }
    v->data = s->host_copy[t];
    s->where[t] |= KILN_ON_HOST;
    return KILN_OK;
}

/* Gives tensor t `bytes` of device memory: its arena slot when it fits, else its own. */
static kiln_status kiln_cuda_place(kiln_cuda_state *s, int32_t t, uint64_t bytes,
                                   const kiln_node *node) {
    s->dev_sizes[t] = bytes;
    if (s->plan_valid && bytes <= s->dev_planned[t] && bytes) {
        s->dev[t] = s->dev_arena + s->dev_offsets[t];
        return KILN_OK;
    }
    if (s->plan_valid) s->plan_stale = 1;
    if (s->dev_heap[t]) cudaFreeAsync(s->dev_heap[t], s->stream);
    s->dev_heap[t] = NULL;
    KILN_TRY(kiln_cuda_check(node, cudaMallocAsync(&s->dev_heap[t], bytes ? bytes : 256, s->stream),
                             "cudaMallocAsync"));
    s->dev[t] = s->dev_heap[t];
    return KILN_OK;
}

/* Makes tensor t readable on the device (host -> device copy). */
static kiln_status kiln_cuda_to_device(kiln_cuda_state *s, int32_t t, const kiln_node *node) {
    if (s->where[t] & KILN_ON_DEVICE) return KILN_OK;
    if (s->ce->device_constants[t]) {
        s->dev[t] = s->ce->device_constants[t];
        s->where[t] |= KILN_ON_DEVICE;
        return KILN_OK;
    }
    const kiln_tview *v = &s->cpu.values[t];
    size_t bytes = kiln_cuda_bytes(v);
    KILN_TRY(kiln_cuda_place(s, t, bytes, node));
    if (bytes)
        KILN_TRY(kiln_cuda_check(node, cudaMemcpyAsync(s->dev[t], v->data, bytes,
                                                       cudaMemcpyHostToDevice, s->stream),
                                 "cudaMemcpyAsync (host to device)"));
    s->where[t] |= KILN_ON_DEVICE;
    return KILN_OK;
}

/* ---------------------------------------------------------------- nodes ------------ */

static int kiln_cuda_shape_known(const kiln_node *node, const kiln_tview *out) {
    for (int32_t i = 0; i < node->output_count; i++) {
        if (node->outputs[i] < 0) continue;
        if (out[i].rank < 0) return 0;
        for (int32_t d = 0; d < out[i].rank; d++)
            if (out[i].dims[d] < 0) return 0;
    }
    return 1;
}

static kiln_status kiln_cuda_run_gpu_node(kiln_cuda_state *s, int32_t step, kiln_tview *in,
                                          kiln_tview *out) {
    const kiln_graph *g = s->graph;
    const kiln_node *node = &g->nodes[step];
    const kiln_cuda_kernel_info *k = s->ce->kernels[step];
    /* Shapes first, on the host, with the values the host already has. */
    for (int32_t i = 0; i < node->input_count; i++) {
        int32_t t = node->inputs[i];
        memset(&in[i], 0, sizeof in[i]);
        in[i].rank = -1;
        if (t < 0) continue;
        in[i] = s->cpu.values[t];
        if (!(s->where[t] & KILN_ON_HOST)) in[i].data = NULL;
    }
    for (int32_t i = 0; i < node->output_count; i++) {
        memset(&out[i], 0, sizeof out[i]);
        out[i].rank = -1;
        if (node->outputs[i] >= 0) {
            kiln_dtype d = g->tensors[node->outputs[i]].dtype;
            out[i].dtype = d != KILN_DTYPE_UNDEFINED ? d : KILN_DTYPE_FLOAT32;
        }
    }
    kiln_shape_fn shape = kiln_op_shape_fn(node->op);
    KILN_TRY(shape(node, in, node->input_count, out, node->output_count));
    if (!kiln_cuda_shape_known(node, out)) {
        /* The shape depends on values that live on the device: fetch them and retry. */
        for (int32_t i = 0; i < node->input_count; i++) {
            int32_t t = node->inputs[i];
            if (t < 0 || (s->where[t] & KILN_ON_HOST)) continue;
            KILN_TRY(kiln_cuda_to_host(s, t, node));
            in[i].data = s->cpu.values[t].data;
        }
        for (int32_t i = 0; i < node->output_count; i++) out[i].rank = -1;
        KILN_TRY(shape(node, in, node->input_count, out, node->output_count));
        if (!kiln_cuda_shape_known(node, out))
            return kiln_node_error(KILN_ERR_UNSUPPORTED, node,
                                   "its output shape depends on its data, which the CUDA kernel "
                                   "cannot report");
    }
    /* Inputs where the kernel reads them. */
    for (int32_t i = 0; i < node->input_count; i++) {
        int32_t t = node->inputs[i];
        if (t < 0) continue;
        if (k->host_inputs >> i & 1u) {
            KILN_TRY(kiln_cuda_to_host(s, t, node));
            in[i].data = s->cpu.values[t].data;
        } else {
            KILN_TRY(kiln_cuda_to_device(s, t, node));
            in[i].data = s->dev[t];
        }
    }
    for (int32_t i = 0; i < node->output_count; i++) {
        int32_t t = node->outputs[i];
        if (t < 0) continue;
        KILN_TRY(kiln_cuda_place(s, t, kiln_cuda_bytes(&out[i]), node));
        out[i].data = s->dev[t];
    }
    kiln_cuda_ctx ctx = {s, step};
    KILN_TRY(k->run(&ctx, node, in, node->input_count, out, node->output_count));
    for (int32_t i = 0; i < node->output_count; i++) {
        int32_t t = node->outputs[i];
        if (t < 0) continue;
        s->cpu.values[t] = out[i];
        s->cpu.values[t].data = NULL;
        s->where[t] = KILN_ON_DEVICE;
    }
    return KILN_OK;
}

/* Shape and Size read only their input's shape, which the host always knows. */
static int kiln_cuda_shape_only(const kiln_node *node) {
    const char *name = kiln_op_get_info(node->op)->name;
    return !strcmp(name, "Shape") || !strcmp(name, "Size");
}

typedef struct kiln_cuda_host_reads {
    kiln_cuda_state *s;
    const kiln_node *node;
    kiln_status status;
} kiln_cuda_host_reads;

static kiln_status kiln_cuda_to_host(kiln_cuda_state *s, int32_t t, const kiln_node *node);

static void kiln_cuda_outer_to_host(void *user, int32_t t) {
    kiln_cuda_host_reads *r = user;
    if (r->status == KILN_OK) r->status = kiln_cuda_to_host(r->s, t, r->node);
}

static kiln_status kiln_cuda_run_cpu_node(kiln_cuda_state *s, int32_t step) {
    const kiln_node *node = &s->graph->nodes[step];
    static uint8_t shape_only_dummy[16];
    /* Subgraphs (If/Loop/Scan bodies) read enclosing values by name, on the host. */
    kiln_cuda_host_reads reads = {s, node, KILN_OK};
    kiln_node_outer_reads(node, s->graph, kiln_cuda_outer_to_host, &reads);
    KILN_TRY(reads.status);
    for (int32_t i = 0; i < node->input_count; i++) {
        int32_t t = node->inputs[i];
        if (t < 0) continue;
        if (kiln_cuda_shape_only(node) && !(s->where[t] & KILN_ON_HOST)) {
            s->cpu.values[t].data = shape_only_dummy;
            continue;
        }
        KILN_TRY(kiln_cuda_to_host(s, t, node));
    }
    KILN_TRY(kiln_cpu_run_one(&s->cpu, step));
    for (int32_t i = 0; i < node->output_count; i++)
        if (node->outputs[i] >= 0) s->where[node->outputs[i]] = KILN_ON_HOST;
    for (int32_t i = 0; i < node->input_count; i++) {
        int32_t t = node->inputs[i];
        if (t >= 0 && kiln_cuda_shape_only(node) && !(s->where[t] & KILN_ON_HOST))
            s->cpu.values[t].data = NULL;
    }
    return KILN_OK;
}

/* Places every device tensor of the run that just finished in one arena. */
static kiln_status kiln_cuda_replan(kiln_cuda_state *s) {
    int32_t n = s->n;
    uint64_t *sizes = calloc((size_t)(n ? n : 1), sizeof *sizes);
    if (!sizes) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
    for (int32_t t = 0; t < n; t++)
        if (s->graph->tensors[t].producer >= 0 || !s->graph->tensors[t].data) sizes[t] = s->dev_sizes[t];
    for (int32_t i = 0; i < s->graph->input_count; i++) sizes[s->graph->inputs[i]] = 0;
    uint64_t total = 0;
    kiln_status st = kiln_memory_plan(n, sizes, s->engine->first_use, s->engine->last_use,
                                      s->dev_offsets, &total);
    if (st == KILN_OK) {
        /* The old arena may still be read by work in flight: free it in stream order. */
        if (s->dev_arena) cudaFreeAsync(s->dev_arena, s->stream);
        s->dev_arena = NULL;
        st = kiln_cuda_check(NULL, cudaMallocAsync((void **)&s->dev_arena, total ? total : 256, s->stream),
                             "cudaMallocAsync (activation arena)");
    }
    if (st == KILN_OK) {
        memcpy(s->dev_planned, sizes, sizeof *sizes * (size_t)n);
        s->dev_arena_size = total;
        s->plan_valid = 1;
        s->plan_stale = 0;
    }
    free(sizes);
    return st;
}

kiln_status kiln_cuda_run(kiln_cuda_state *s, void *stream) {
    const kiln_graph *g = s->graph;
    s->stream = stream ? (cudaStream_t)stream : s->own_stream;
#ifdef KILN_HAVE_CUDNN
    KILN_TRY(kiln_cudnn_check(NULL, cudnnSetStream((cudnnHandle_t)s->dnn, s->stream), "cudnnSetStream"));
#endif
    for (int32_t t = 0; t < g->tensor_count; t++) {
        const kiln_ir_tensor *it = &g->tensors[t];
        if (!it->data) continue;
        kiln_tview *v = &s->cpu.values[t];
        v->dtype = it->dtype;
        v->rank = it->rank;
        memcpy(v->dims, it->dims, sizeof v->dims);
        v->data = it->data;
        s->where[t] = KILN_ON_HOST;
        if (s->ce->device_constants[t]) {
            s->dev[t] = s->ce->device_constants[t];
            s->where[t] |= KILN_ON_DEVICE;
        }
    }
    int32_t m = kiln_cuda_max_io(g);
    kiln_tview *in = malloc(sizeof *in * (size_t)m), *out = malloc(sizeof *out * (size_t)m);
    kiln_status st = in && out ? KILN_OK : kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
    for (int32_t step = 0; st == KILN_OK && step < g->node_count; step++) {
        if (s->ce->kernels[step]) st = kiln_cuda_run_gpu_node(s, step, in, out);
        else st = kiln_cuda_run_cpu_node(s, step);
        /* Tensors of their own memory whose last reader ran go back to the pool. */
        const kiln_node *node = &g->nodes[step];
        for (int32_t i = 0; st == KILN_OK && i < node->input_count; i++) {
            int32_t t = node->inputs[i];
            if (t >= 0 && s->engine->last_use[t] == step && s->dev_heap[t]) {
                cudaFreeAsync(s->dev_heap[t], s->stream);
                s->dev_heap[t] = NULL;
            }
        }
    }
    free(in);
    free(out);
    if (st == KILN_OK && (!s->plan_valid || s->plan_stale)) st = kiln_cuda_replan(s);
    return st;
}

kiln_status kiln_cuda_state_copy_out(kiln_cuda_state *s, int32_t t, void *dst, void *stream) {
    const kiln_tview *v = &s->cpu.values[t];
    size_t bytes = kiln_cuda_bytes(v);
    if (!bytes) return KILN_OK;
    cudaStream_t st = stream ? (cudaStream_t)stream : s->stream;
    if (s->where[t] & KILN_ON_DEVICE)
        return kiln_cuda_check(NULL, cudaMemcpyAsync(dst, s->dev[t], bytes, cudaMemcpyDeviceToDevice, st),
                               "cudaMemcpyAsync (output)");
    return kiln_cuda_check(NULL, cudaMemcpyAsync(dst, v->data, bytes, cudaMemcpyHostToDevice, st),
                           "cudaMemcpyAsync (output)");
}

kiln_status kiln_cuda_state_device_data(kiln_cuda_state *s, int32_t t, const void **data) {
    int uploaded = !(s->where[t] & KILN_ON_DEVICE);
    KILN_TRY(kiln_cuda_to_device(s, t, NULL));
    /* The caller reads the pointer from any stream: the upload must be done. */
    if (uploaded) KILN_TRY(kiln_cuda_check(NULL, cudaStreamSynchronize(s->stream), "cudaStreamSynchronize"));
    *data = s->dev[t];
    return KILN_OK;
}

kiln_status kiln_cuda_state_synchronize(kiln_cuda_state *s, void *stream) {
    cudaStream_t st = stream ? (cudaStream_t)stream : s->own_stream;
    return kiln_cuda_check(NULL, cudaStreamSynchronize(st), "cudaStreamSynchronize");
}

/* ---------------------------------------------------------------- tuning ----------- */

kiln_status kiln_cuda_tune_nodes(kiln_engine *e, const kiln_tview *views, int32_t *tuned) {
    kiln_graph *g = e->graph;
    kiln_cuda_engine *ce = e->backend;
    kiln_cuda_state *s = NULL;
    *tuned = 0;
    KILN_TRY(kiln_cuda_state_create(e, 1, &s));
    s->stream = s->own_stream;
#ifdef KILN_HAVE_CUDNN
    cudnnSetStream((cudnnHandle_t)s->dnn, s->stream);
#endif
    int32_t m = kiln_cuda_max_io(g);
    kiln_tview *in = calloc((size_t)m, sizeof *in), *out = calloc((size_t)m, sizeof *out);
    void **bufs = calloc((size_t)m * 2, sizeof *bufs);
    kiln_status st = in && out && bufs ? KILN_OK : kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
    for (int32_t step = 0; st == KILN_OK && step < g->node_count; step++) {
        const kiln_cuda_kernel_info *k = ce->kernels[step];
        if (!k || k->tune == kiln_cuda_no_tune) continue;
        const kiln_node *n = &g->nodes[step];
        kiln_cuda_static_views(g, n, in, out, views);
        int ok = 1;
        for (int32_t i = 0; i < n->input_count && ok; i++)
            if (n->inputs[i] >= 0 && kiln_tview_count(&in[i]) < 0) ok = 0;
        for (int32_t i = 0; i < n->output_count && ok; i++)
            if (n->outputs[i] >= 0 && kiln_tview_count(&out[i]) < 0) ok = 0;
        if (!ok) continue; /* shapes unknown at build time: the kernel picks at run time */
        memset(bufs, 0, sizeof *bufs * (size_t)m * 2);
        for (int32_t i = 0; ok && i < n->input_count; i++) {
            int32_t t = n->inputs[i];
            if (t < 0) continue;
            if (k->host_inputs >> i & 1u) in[i].data = g->tensors[t].data;
            else if (ce->device_constants[t]) in[i].data = ce->device_constants[t];
            else {
                size_t bytes = kiln_cuda_bytes(&in[i]);
                if (cudaMalloc(&bufs[i], bytes ? bytes : 1) != cudaSuccess) ok = 0;
                else cudaMemset(bufs[i], 0, bytes); /* zeros: valid for every dtype */
                in[i].data = bufs[i];
            }
            if (k->host_inputs >> i & 1u && !in[i].data) ok = 0;
        }
        for (int32_t i = 0; ok && i < n->output_count; i++) {
            if (n->outputs[i] < 0) continue;
            size_t bytes = kiln_cuda_bytes(&out[i]);
            if (cudaMalloc(&bufs[m + i], bytes ? bytes : 1) != cudaSuccess) ok = 0;
            out[i].data = bufs[m + i];
        }
        if (ok) {
            kiln_cuda_ctx ctx = {s, step};
            int64_t tactic = k->tune(&ctx, n, in, n->input_count, out, n->output_count);
            if (tactic >= 0) {
                st = kiln_node_set_int(g, step, "_kiln_tactic", tactic);
                (*tuned)++;
            }
            kiln_clear_error();
        }
        cudaStreamSynchronize(s->stream);
        for (int32_t i = 0; i < 2 * m; i++)
            if (bufs[i]) cudaFree(bufs[i]);
    }
    free(in);
    free(out);
    free(bufs);
    kiln_cuda_state_destroy(s);
    return st;
}
