/* Building graphs: tensors, nodes, attributes. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include "ir/ir.h"

#include "core/keepalive.h"

static kiln_status kiln_ir_oom(void) {
    return kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory while building the network");
}

/* Grows an array of `size`-byte elements to hold at least `need`. */
static kiln_status kiln_ir_grow(void **array, int32_t *capacity, int32_t need, size_t size) {
    if (need <= *capacity) return KILN_OK;
    int32_t cap = *capacity ? *capacity : 16;
    while (cap < need) cap *= 2;
    void *p = realloc(*array, (size_t)cap * size);
    if (!p) return kiln_ir_oom();
    memset((char *)p + (size_t)*capacity * size, 0, (size_t)(cap - *capacity) * size);
    *array = p;
    *capacity = cap;
    return KILN_OK;
}

kiln_status kiln_graph_create(const char *name, kiln_graph **out) {
    kiln_graph *g = calloc(1, sizeof *g);
    if (!g) return kiln_ir_oom();
    g->name = strdup(name ? name : "");
    if (!g->name) {
        free(g);
        return kiln_ir_oom();
    }
    *out = g;
    return KILN_OK;
}

static void kiln_attr_free(kiln_attr *a) {
    free(a->name);
    free(a->s);
    free(a->ints);
    free(a->floats);
    for (int32_t i = 0; a->strings && i < a->count; i++) free(a->strings[i]);
    free(a->strings);
    if (a->tensor) free(a->tensor->data);
    free(a->tensor);
    kiln_graph_destroy(a->graph);
    for (int32_t i = 0; a->graphs && i < a->count; i++) kiln_graph_destroy(a->graphs[i]);
    free(a->graphs);
}

void kiln_node_clear(kiln_node *n) {
    free(n->name);
    free(n->inputs);
    free(n->outputs);
    for (int32_t a = 0; a < n->attr_count; a++) kiln_attr_free(&n->attrs[a]);
    free(n->attrs);
    memset(n, 0, sizeof *n);
}

void kiln_graph_destroy(kiln_graph *g) {
    if (!g) return;
    for (int32_t i = 0; i < g->tensor_count; i++) {
        free(g->tensors[i].name);
        if (!g->tensors[i].borrowed) free(g->tensors[i].data);
        for (int d = 0; d < KILN_MAX_DIMS; d++) free(g->tensors[i].dim_names[d]);
    }
    for (int32_t i = 0; i < g->node_count; i++) kiln_node_clear(&g->nodes[i]);
    for (int32_t i = 0; i < g->keep_count; i++) kiln_keepalive_unref(g->keeps[i]);
    free(g->keeps);
    free(g->tensors);
    free(g->nodes);
    free(g->inputs);
    free(g->outputs);
    free(g->name);
    free(g);
}

int32_t kiln_graph_find_tensor(const kiln_graph *g, const char *name) {
    /* Linear: graphs are built once; hot paths hold indices, not names. */
    for (int32_t i = g->tensor_count - 1; i >= 0; i--)
        if (!strcmp(g->tensors[i].name, name)) return i;
    return -1;
}

kiln_status kiln_graph_add_tensor(kiln_graph *g, const char *name, kiln_dtype dtype,
                                  int32_t rank, const int64_t *dims, int32_t *out) {
    if (rank > KILN_MAX_DIMS)
        return kiln_error(KILN_ERR_UNSUPPORTED, "tensor '%s' has rank %d; kiln supports up to %d",
                          name, rank, KILN_MAX_DIMS);
    KILN_TRY(kiln_ir_grow((void **)&g->tensors, &g->tensor_capacity, g->tensor_count + 1,
                          sizeof *g->tensors));
    kiln_ir_tensor *t = &g->tensors[g->tensor_count];
    memset(t, 0, sizeof *t);
    t->name = strdup(name);
    if (!t->name) return kiln_ir_oom();
    t->dtype = dtype;
    t->rank = rank;
    for (int32_t d = 0; d < rank && d < KILN_MAX_DIMS; d++) t->dims[d] = dims ? dims[d] : -1;
    t->producer = -1;
    *out = g->tensor_count++;
    return KILN_OK;
}

kiln_status kiln_graph_set_constant(kiln_graph *g, int32_t tensor, const void *data,
                                    size_t nbytes) {
    void *copy = malloc(nbytes ? nbytes : 1);
    if (!copy) return kiln_ir_oom();
    if (nbytes) memcpy(copy, data, nbytes);
    kiln_graph_take_constant(g, tensor, copy, nbytes);
    return KILN_OK;
}

void kiln_graph_drop_constant(kiln_graph *g, int32_t tensor) {
    kiln_ir_tensor *t = &g->tensors[tensor];
    if (!t->borrowed)
        free(t->data);
    else if (t->backing && t->data)
        kiln_keepalive_drop_pages(t->backing, t->data, t->nbytes);
    t->data = NULL;
    t->nbytes = 0;
    t->borrowed = 0;
    t->backing = NULL;
}

void kiln_graph_take_constant(kiln_graph *g, int32_t tensor, void *data, size_t nbytes) {
    kiln_graph_drop_constant(g, tensor);
    kiln_ir_tensor *t = &g->tensors[tensor];
    t->data = data;
    t->nbytes = nbytes;
}

kiln_status kiln_graph_hold(kiln_graph *g, kiln_keepalive *k) {
    for (int32_t i = 0; i < g->keep_count; i++)
        if (g->keeps[i] == k) return KILN_OK;
    kiln_keepalive **grown = realloc(g->keeps, sizeof *grown * (size_t)(g->keep_count + 1));
    if (!grown) return kiln_ir_oom();
    g->keeps = grown;
    g->keeps[g->keep_count++] = k;
    kiln_keepalive_ref(k);
    return KILN_OK;
}

kiln_status kiln_graph_adopt_keepalive(kiln_graph *g, kiln_keepalive *k) {
    for (int32_t i = 0; i < g->tensor_count; i++) {
        kiln_ir_tensor *t = &g->tensors[i];
        if (!t->borrowed || t->backing || !t->data ||
            !kiln_keepalive_contains(k, t->data, t->nbytes))
            continue;
        KILN_TRY(kiln_graph_hold(g, k));
        t->backing = k;
    }
    for (int32_t i = 0; i < g->node_count; i++)
        for (int32_t a = 0; a < g->nodes[i].attr_count; a++) {
            const kiln_attr *at = &g->nodes[i].attrs[a];
            if (at->graph) KILN_TRY(kiln_graph_adopt_keepalive(at->graph, k));
            for (int32_t j = 0; at->graphs && j < at->count; j++)
                KILN_TRY(kiln_graph_adopt_keepalive(at->graphs[j], k));
        }
    return KILN_OK;
}

kiln_status kiln_graph_add_node(kiln_graph *g, const char *name, kiln_op op, int32_t opset,
                                const int32_t *inputs, int32_t input_count,
                                const int32_t *outputs, int32_t output_count, int32_t *out) {
    KILN_TRY(kiln_ir_grow((void **)&g->nodes, &g->node_capacity, g->node_count + 1,
                          sizeof *g->nodes));
    kiln_node *n = &g->nodes[g->node_count];
    memset(n, 0, sizeof *n);
    n->name = strdup(name ? name : "");
    n->inputs = malloc(sizeof(int32_t) * (size_t)(input_count ? input_count : 1));
    n->outputs = malloc(sizeof(int32_t) * (size_t)(output_count ? output_count : 1));
    if (!n->name || !n->inputs || !n->outputs) {
        free(n->name);
        free(n->inputs);
        free(n->outputs);
        return kiln_ir_oom();
    }
    n->op = op;
    n->opset = opset;
    n->input_count = input_count;
    n->output_count = output_count;
    if (input_count) memcpy(n->inputs, inputs, sizeof(int32_t) * (size_t)input_count);
    if (output_count) memcpy(n->outputs, outputs, sizeof(int32_t) * (size_t)output_count);
    for (int32_t i = 0; i < output_count; i++)
        if (outputs[i] >= 0) g->tensors[outputs[i]].producer = g->node_count;
    *out = g->node_count++;
    return KILN_OK;
}

static kiln_status kiln_graph_append_index(int32_t **array, int32_t *count, int32_t v) {
    int32_t *p = realloc(*array, sizeof(int32_t) * (size_t)(*count + 1));
    if (!p) return kiln_ir_oom();
    p[(*count)++] = v;
    *array = p;
    return KILN_OK;
}

kiln_status kiln_graph_add_input(kiln_graph *g, int32_t tensor) {
    return kiln_graph_append_index(&g->inputs, &g->input_count, tensor);
}

kiln_status kiln_graph_add_output(kiln_graph *g, int32_t tensor) {
    return kiln_graph_append_index(&g->outputs, &g->output_count, tensor);
}

kiln_status kiln_node_add_attr(kiln_graph *g, int32_t node, const char *name, kiln_attr_type type,
                               kiln_attr **out) {
    kiln_node *n = &g->nodes[node];
    kiln_attr *attrs = realloc(n->attrs, sizeof *attrs * (size_t)(n->attr_count + 1));
    if (!attrs) return kiln_ir_oom();
    n->attrs = attrs;
    kiln_attr *a = &attrs[n->attr_count];
    memset(a, 0, sizeof *a);
    a->name = strdup(name);
    if (!a->name) return kiln_ir_oom();
    a->type = type;
    n->attr_count++;
    *out = a;
    return KILN_OK;
}

/* A node set an attribute it already had: the new one (last) replaces the older ones.
 * Removed only once the new value is copied, since the caller's value may point into the
 * old attribute. Lookups find the first of a name, so an older copy would otherwise win. */
static kiln_status kiln_node_keep_last(kiln_graph *g, int32_t node, const char *name) {
    kiln_node *n = &g->nodes[node];
    int32_t w = 0;
    for (int32_t i = 0; i < n->attr_count; i++) {
        int older = i < n->attr_count - 1 && !strcmp(n->attrs[i].name, name);
        if (older) {
            kiln_attr_free(&n->attrs[i]);
            continue;
        }
        n->attrs[w++] = n->attrs[i];
    }
    n->attr_count = w;
    return KILN_OK;
}

kiln_status kiln_node_set_int(kiln_graph *g, int32_t node, const char *name, int64_t v) {
    kiln_attr *a;
    KILN_TRY(kiln_node_add_attr(g, node, name, KILN_ATTR_INT, &a));
    a->i = v;
    return kiln_node_keep_last(g, node, name);
}

kiln_status kiln_node_set_float(kiln_graph *g, int32_t node, const char *name, float v) {
    kiln_attr *a;
    KILN_TRY(kiln_node_add_attr(g, node, name, KILN_ATTR_FLOAT, &a));
    a->f = v;
    return kiln_node_keep_last(g, node, name);
}

kiln_status kiln_node_set_ints(kiln_graph *g, int32_t node, const char *name, const int64_t *v,
                               int32_t n) {
    kiln_attr *a;
    KILN_TRY(kiln_node_add_attr(g, node, name, KILN_ATTR_INTS, &a));
    a->ints = malloc(sizeof(int64_t) * (size_t)(n ? n : 1));
    if (!a->ints) return kiln_ir_oom();
    if (n) memcpy(a->ints, v, sizeof(int64_t) * (size_t)n);
    a->count = n;
    return kiln_node_keep_last(g, node, name);
}

kiln_status kiln_node_set_floats(kiln_graph *g, int32_t node, const char *name, const float *v,
                                 int32_t n) {
    kiln_attr *a;
    KILN_TRY(kiln_node_add_attr(g, node, name, KILN_ATTR_FLOATS, &a));
    a->floats = malloc(sizeof(float) * (size_t)(n ? n : 1));
    if (!a->floats) return kiln_ir_oom();
    if (n) memcpy(a->floats, v, sizeof(float) * (size_t)n);
    a->count = n;
    return kiln_node_keep_last(g, node, name);
}

kiln_status kiln_node_set_string(kiln_graph *g, int32_t node, const char *name, const char *s,
                                 size_t len) {
    kiln_attr *a;
    KILN_TRY(kiln_node_add_attr(g, node, name, KILN_ATTR_STRING, &a));
    a->s = malloc(len + 1);
    if (!a->s) return kiln_ir_oom();
    memcpy(a->s, s, len);
    a->s[len] = '\0';
    a->s_len = len;
    return kiln_node_keep_last(g, node, name);
}

const kiln_attr *kiln_node_attr(const kiln_node *n, const char *name) {
    for (int32_t i = 0; i < n->attr_count; i++)
        if (!strcmp(n->attrs[i].name, name)) return &n->attrs[i];
    return NULL;
}

int64_t kiln_attr_int(const kiln_node *n, const char *name, int64_t dflt) {
    const kiln_attr *a = kiln_node_attr(n, name);
    return a && a->type == KILN_ATTR_INT ? a->i : dflt;
}

float kiln_attr_float(const kiln_node *n, const char *name, float dflt) {
    const kiln_attr *a = kiln_node_attr(n, name);
    if (a && a->type == KILN_ATTR_FLOAT) return a->f;
    if (a && a->type == KILN_ATTR_INT) return (float)a->i;
    return dflt;
}

const char *kiln_attr_string(const kiln_node *n, const char *name, const char *dflt) {
    const kiln_attr *a = kiln_node_attr(n, name);
    return a && a->type == KILN_ATTR_STRING ? a->s : dflt;
}

const int64_t *kiln_attr_ints(const kiln_node *n, const char *name, int32_t *count) {
    const kiln_attr *a = kiln_node_attr(n, name);
    if (!a || a->type != KILN_ATTR_INTS) {
        *count = 0;
        return NULL;
    }
    *count = a->count;
    return a->ints;
}

const float *kiln_attr_floats(const kiln_node *n, const char *name, int32_t *count) {
    const kiln_attr *a = kiln_node_attr(n, name);
    if (!a || a->type != KILN_ATTR_FLOATS) {
        *count = 0;
        return NULL;
    }
    *count = a->count;
    return a->floats;
}

/* Whether `name` is defined in graph `g` itself (not as a reference to an outer value). */
static int kiln_graph_defines(const kiln_graph *g, const char *name) {
    int32_t t = kiln_graph_find_tensor(g, name);
    return t >= 0 && g->tensors[t].producer != -2;
}

static void kiln_graph_outer_reads_of(const kiln_graph *sub, const kiln_graph *enclosing,
                                      const kiln_graph *scope_chain_top,
                                      void (*fn)(void *user, int32_t tensor), void *user) {
    for (int32_t t = 0; t < sub->tensor_count; t++) {
        if (sub->tensors[t].producer != -2) continue;
        int32_t e = kiln_graph_find_tensor(enclosing, sub->tensors[t].name);
        if (e >= 0) fn(user, e);
    }
    /* Values read by nested subgraphs pass through this one without a local name. */
    for (int32_t i = 0; i < sub->node_count; i++)
        for (int32_t a = 0; a < sub->nodes[i].attr_count; a++) {
            const kiln_attr *attr = &sub->nodes[i].attrs[a];
            const kiln_graph *inner = attr->graph;
            for (int32_t k = 0; k < (attr->graphs ? attr->count : 1); k++) {
                if (attr->graphs) inner = attr->graphs[k];
                if (!inner) continue;
                for (int32_t t = 0; t < inner->tensor_count; t++) {
                    if (inner->tensors[t].producer != -2) continue;
                    if (kiln_graph_defines(sub, inner->tensors[t].name)) continue;
                    int32_t e = kiln_graph_find_tensor(enclosing, inner->tensors[t].name);
                    if (e >= 0) fn(user, e);
                }
                kiln_graph_outer_reads_of(inner, enclosing, scope_chain_top, fn, user);
            }
        }
}

void kiln_node_outer_reads(const kiln_node *n, const kiln_graph *enclosing,
                           void (*fn)(void *user, int32_t tensor), void *user) {
    for (int32_t a = 0; a < n->attr_count; a++) {
        const kiln_attr *attr = &n->attrs[a];
        if (attr->graph) kiln_graph_outer_reads_of(attr->graph, enclosing, enclosing, fn, user);
        for (int32_t k = 0; attr->graphs && k < attr->count; k++)
            kiln_graph_outer_reads_of(attr->graphs[k], enclosing, enclosing, fn, user);
    }
}
