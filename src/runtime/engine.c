/* The engine object of the public API, and its serialization. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/huge_pages.h"
#include "plan/plan_format.h"
#ifdef KILN_HAVE_CUDA
#include "backends/cuda/cuda_executor.h"
#endif

void kiln_engine_free(kiln_engine *e) {
    if (!e) return;
#ifdef KILN_HAVE_CUDA
    if (e->backend) kiln_cuda_engine_release(e);
#endif
    if (e->graph)
        for (int32_t i = 0; e->kernel_names && i < e->graph->node_count; i++)
            free(e->kernel_names[i]);
    free(e->kernel_names);
    for (int32_t i = 0; e->fused_names && e->graph && i < e->graph->node_count; i++)
        free(e->fused_names[i]);
    free(e->fused_names);
    kiln_graph_destroy(e->graph);
    kiln_huge_free(e->weight_arena); /* after the graph: its weights point into it */
    for (int32_t i = 0; e->io && i < e->io_count; i++) free(e->io[i].name);
    free(e->io);
    for (int32_t p = 0; e->profiles && p < e->profile_count; p++) {
        free(e->profiles[p].min);
        free(e->profiles[p].opt);
        free(e->profiles[p].max);
    }
    free(e->profiles);
    free(e->first_use);
    free(e->last_use);
    kiln_file_map_close(&e->plan_file);
    free(e->plan_copy);
    free(e);
}

void kiln_engine_destroy(kiln_engine *engine) {
    kiln_engine_free(engine);
}

kiln_status kiln_engine_compute_liveness(kiln_engine *e) {
    const kiln_graph *g = e->graph;
    size_t n = (size_t)(g->tensor_count ? g->tensor_count : 1);
    int32_t *first = malloc(sizeof *first * n), *last = malloc(sizeof *last * n);
    if (!first || !last) {
        free(first);
        free(last);
        return kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
    }
    for (int32_t t = 0; t < g->tensor_count; t++) first[t] = last[t] = -1;
    for (int32_t step = 0; step < g->node_count; step++) {
        const kiln_node *node = &g->nodes[step];
        for (int32_t i = 0; i < node->input_count; i++)
            if (node->inputs[i] >= 0) last[node->inputs[i]] = step;
        kiln_liveness_step ls = {last, step};
        kiln_node_outer_reads(node, g, kiln_liveness_touch, &ls);
        for (int32_t i = 0; i < node->output_count; i++) {
            int32_t t = node->outputs[i];
            if (t < 0) continue;
            first[t] = step;
            if (last[t] < step) last[t] = step; /* written but never read: live one step */
        }
    }
    /* Graph outputs live until the end of the run, when the caller reads them. */
    for (int32_t i = 0; i < g->output_count; i++) last[g->outputs[i]] = g->node_count;
    free(e->first_use);
    free(e->last_use);
    e->first_use = first;
    e->last_use = last;
    return KILN_OK;
}

int32_t kiln_engine_io_index(const kiln_engine *e, const char *name) {
    for (int32_t i = 0; name && i < e->io_count; i++)
        if (!strcmp(e->io[i].name, name)) return i;
    return -1;
}

const kiln_engine_io *kiln_engine_find_io(const kiln_engine *e, const char *name, const char *call) {
    int32_t i = kiln_engine_io_index(e, name);
    if (i >= 0) return &e->io[i];
    char names[1024];
    size_t pos = 0;
    names[0] = '\0';
    for (int32_t k = 0; k < e->io_count && pos < sizeof names - 64; k++) {
        size_t len = strlen(e->io[k].name);
        if (pos + len + 8 >= sizeof names) {
            strcpy(names + pos, ", ...");
            break;
        }
        pos += (size_t)snprintf(names + pos, sizeof names - pos, "%s'%s'", k ? ", " : "", e->io[k].name);
    }
    kiln_error(KILN_ERR_INVALID_ARGUMENT, "%s: the engine has no input or output named '%s' (it has %s)",
               call, name ? name : "(null)", names);
    return NULL;
}


int32_t kiln_engine_num_io_tensors(const kiln_engine *engine) {
    return engine ? engine->io_count : 0;
}

const char *kiln_engine_get_tensor_name(const kiln_engine *engine, int32_t index) {
    if (!engine || index < 0 || index >= engine->io_count) return NULL;
    return engine->io[index].name;
}

kiln_tensor_io_mode kiln_engine_get_tensor_mode(const kiln_engine *engine, const char *name) {
    int32_t i = engine ? kiln_engine_io_index(engine, name) : -1;
    return i >= 0 ? engine->io[i].mode : KILN_TENSOR_IO_NONE;
}

kiln_dtype kiln_engine_get_tensor_dtype(const kiln_engine *engine, const char *name) {
    int32_t i = engine ? kiln_engine_io_index(engine, name) : -1;
    return i >= 0 ? engine->io[i].dtype : KILN_DTYPE_UNDEFINED;
}

kiln_status kiln_engine_get_tensor_shape(const kiln_engine *engine, const char *name,
                                         kiln_dims *out) {
    KILN_CHECK_ARG(engine && out, "kiln_engine_get_tensor_shape");
    const kiln_engine_io *io = kiln_engine_find_io(engine, name, "kiln_engine_get_tensor_shape");
    if (!io) return KILN_ERR_INVALID_ARGUMENT;
    memset(out, 0, sizeof *out);
    out->nb_dims = io->rank;
    for (int32_t d = 0; d < io->rank; d++) out->d[d] = io->dims[d];
    return KILN_OK;
}

kiln_status kiln_engine_get_profile_shape(const kiln_engine *engine, const char *input_name,
                                          int32_t profile, kiln_profile_selector which,
                                          kiln_dims *out) {
    KILN_CHECK_ARG(engine && out, "kiln_engine_get_profile_shape");
    int32_t i = kiln_engine_io_index(engine, input_name);
    if (i < 0 || engine->io[i].mode != KILN_TENSOR_IO_INPUT)
        return kiln_error(KILN_ERR_INVALID_ARGUMENT,
                          "kiln_engine_get_profile_shape: '%s' is not an input of the engine",
                          input_name ? input_name : "(null)");
    if (profile < 0 || profile >= engine->profile_count)
        return kiln_error(KILN_ERR_INVALID_ARGUMENT,
                          "kiln_engine_get_profile_shape: profile %d of %d", profile,
                          engine->profile_count);
    const kiln_engine_profile *p = &engine->profiles[profile];
    const int64_t *dims = which == KILN_PROFILE_MIN   ? p->min[i]
                          : which == KILN_PROFILE_OPT ? p->opt[i]
                                                      : p->max[i];
    memset(out, 0, sizeof *out);
    out->nb_dims = engine->io[i].rank;
    for (int32_t d = 0; d < out->nb_dims; d++) out->d[d] = dims[d];
    return KILN_OK;
}

int32_t kiln_engine_num_layers(const kiln_engine *engine) {
    return engine ? engine->graph->node_count : 0;
}

kiln_device_type kiln_engine_get_device(const kiln_engine *engine) {
    return engine ? engine->device : KILN_DEVICE_CPU;
}

const char *kiln_engine_get_layer_name(const kiln_engine *engine, int32_t index) {
    if (!engine || index < 0 || index >= engine->graph->node_count) return NULL;
    return engine->graph->nodes[index].name;
}

const char *kiln_engine_get_layer_op(const kiln_engine *engine, int32_t index) {
    if (!engine || index < 0 || index >= engine->graph->node_count) return NULL;
    return kiln_op_get_info(engine->graph->nodes[index].op)->name;
}

const char *kiln_engine_get_layer_kernel(const kiln_engine *engine, int32_t index) {
    if (!engine || !engine->kernel_names || index < 0 || index >= engine->graph->node_count)
        return NULL;
    return engine->kernel_names[index];
}

uint64_t kiln_engine_get_planned_arena_bytes(const kiln_engine *engine) {
    return engine ? engine->planned_arena_bytes : 0;
}

uint64_t kiln_engine_get_naive_activation_bytes(const kiln_engine *engine) {
    return engine ? engine->naive_bytes : 0;
}

uint64_t kiln_engine_get_weight_bytes(const kiln_engine *engine) {
    return engine ? engine->weight_bytes : 0;
}

/* Joins each node's "_kiln_fused" names once, when the engine is made: engines are
 * read-only afterwards, so threads may query them concurrently. */
kiln_status kiln_engine_index_fused(kiln_engine *e) {
    e->fused_names = calloc((size_t)e->graph->node_count + 1, sizeof(char *));
    if (!e->fused_names) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
    for (int32_t i = 0; i < e->graph->node_count; i++) {
        const kiln_attr *a = kiln_node_attr(&e->graph->nodes[i], "_kiln_fused");
        if (!a || a->type != KILN_ATTR_STRINGS || a->count == 0) continue;
        size_t len = 1;
        for (int32_t k = 0; k < a->count; k++) len += strlen(a->strings[k]) + 2;
        char *s = malloc(len);
        if (!s) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
        s[0] = '\0';
        for (int32_t k = 0; k < a->count; k++) {
            if (k) strcat(s, ", ");
            strcat(s, a->strings[k]);
        }
        e->fused_names[i] = s;
    }
    return KILN_OK;
}

const char *kiln_engine_get_layer_fused(const kiln_engine *engine, int32_t index) {
    if (!engine || !engine->fused_names || index < 0 || index >= engine->graph->node_count)
        return NULL;
    return engine->fused_names[index];
}
