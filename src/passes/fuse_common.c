/* The rewrite session the fusion passes share (fuse_common.h). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "passes/fuse_common.h"

static kiln_status kiln_fuse_oom(void) {
    return kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory in a fusion pass");
}

static void kiln_fuse_pin(void *user, int32_t tensor) {
    ((uint8_t *)user)[tensor] = 1;
}

kiln_status kiln_fuse_begin(kiln_fuse *f, kiln_graph *g, const kiln_fuse_options *opt) {
    memset(f, 0, sizeof *f);
    f->g = g;
    f->opt = opt;
    f->tensor_cap = g->tensor_count + 16;
    f->uses = calloc((size_t)f->tensor_cap, sizeof *f->uses);
    f->hint = malloc(sizeof *f->hint * (size_t)f->tensor_cap);
    f->pinned = calloc((size_t)f->tensor_cap, 1);
    f->gone = calloc((size_t)g->node_count + 1, 1);
    if (!f->uses || !f->hint || !f->pinned || !f->gone) return kiln_fuse_end(f, kiln_fuse_oom());
    for (int32_t t = 0; t < f->tensor_cap; t++) f->hint[t] = -1;
    for (int32_t i = 0; i < g->output_count; i++) f->pinned[g->outputs[i]] = 1;
    for (int32_t i = 0; i < g->node_count; i++) {
        const kiln_node *n = &g->nodes[i];
        for (int32_t k = 0; k < n->input_count; k++)
            if (n->inputs[k] >= 0) {
                f->uses[n->inputs[k]]++;
                f->hint[n->inputs[k]] = i;
            }
        kiln_node_outer_reads(n, g, kiln_fuse_pin, f->pinned);
    }
    return KILN_OK;
}

kiln_status kiln_fuse_each(kiln_graph *g, const kiln_fuse_options *opt, kiln_fuse_node_fn fn,
                           int32_t *count) {
    int32_t done = 0;
    if (count) *count = 0;
    kiln_fuse f;
    KILN_TRY(kiln_fuse_begin(&f, g, opt));
    kiln_status st = KILN_OK;
    for (int32_t i = 0; st == KILN_OK && i < g->node_count; i++)
        if (!f.gone[i]) st = fn(&f, i, &done);
    st = kiln_fuse_end(&f, st);
    if (count) *count = done;
    return st;
}

kiln_status kiln_fuse_end(kiln_fuse *f, kiln_status st) {
    kiln_graph *g = f->g;
    if (f->gone) { /* on failure too: the graph stays consistent */
        int32_t w = 0;
        for (int32_t i = 0; i < g->node_count; i++) {
            if (f->gone[i]) continue;
            if (w != i) g->nodes[w] = g->nodes[i];
            w++;
        }
        for (int32_t i = w; i < g->node_count; i++) memset(&g->nodes[i], 0, sizeof g->nodes[i]);
        g->node_count = w;
        for (int32_t t = 0; t < g->tensor_count; t++)
            if (g->tensors[t].producer >= 0) g->tensors[t].producer = -1;
        for (int32_t i = 0; i < w; i++)
            for (int32_t k = 0; k < g->nodes[i].output_count; k++)
                if (g->nodes[i].outputs[k] >= 0) g->tensors[g->nodes[i].outputs[k]].producer = i;
    }
    free(f->uses);
    free(f->hint);
    free(f->pinned);
    free(f->gone);
    f->uses = NULL;
    f->hint = NULL;
    f->pinned = NULL;
    f->gone = NULL;
    return st;
}

int32_t kiln_fuse_readers(const kiln_fuse *f, int32_t t, int32_t *nodes, int32_t max) {
    int32_t count = 0;
    if (t < 0 || f->uses[t] == 0) return 0;
    for (int32_t i = 0; i < f->g->node_count; i++) {
        if (f->gone[i]) continue;
        const kiln_node *n = &f->g->nodes[i];
        for (int32_t k = 0; k < n->input_count; k++)
            if (n->inputs[k] == t) {
                if (count < max) nodes[count] = i;
                count++;
                break;
            }
    }
    return count;
}

/* Whether live node n reads t. */
static int kiln_fuse_reads(const kiln_fuse *f, int32_t n, int32_t t) {
    if (n < 0 || n >= f->g->node_count || f->gone[n]) return 0;
    const kiln_node *node = &f->g->nodes[n];
    for (int32_t k = 0; k < node->input_count; k++)
        if (node->inputs[k] == t) return 1;
    return 0;
}

int32_t kiln_fuse_sole_reader(const kiln_fuse *f, int32_t t) {
    if (t < 0 || f->pinned[t] || f->uses[t] != 1) return -1;
    if (kiln_fuse_reads(f, f->hint[t], t)) return f->hint[t];
    int32_t n = -1;
    return kiln_fuse_readers(f, t, &n, 1) == 1 ? n : -1;
}

void kiln_fuse_remove(kiln_fuse *f, int32_t n) {
    kiln_node *node = &f->g->nodes[n];
    if (f->gone[n]) return;
    for (int32_t k = 0; k < node->input_count; k++)
        if (node->inputs[k] >= 0) f->uses[node->inputs[k]]--;
    for (int32_t k = 0; k < node->output_count; k++) {
        int32_t t = node->outputs[k];
        if (t >= 0 && f->g->tensors[t].producer == n) f->g->tensors[t].producer = -1;
    }
    kiln_node_clear(node);
    f->gone[n] = 1;
    f->removed++;
}

void kiln_fuse_move(kiln_fuse *f, int32_t from, int32_t to) {
    if (from == to) return;
    kiln_graph *g = f->g;
    g->nodes[to] = g->nodes[from];
    memset(&g->nodes[from], 0, sizeof g->nodes[from]);
    f->gone[to] = 0;
    f->gone[from] = 1;
    const kiln_node *n = &g->nodes[to];
    for (int32_t k = 0; k < n->output_count; k++)
        if (n->outputs[k] >= 0) g->tensors[n->outputs[k]].producer = to;
    for (int32_t k = 0; k < n->input_count; k++)
        if (n->inputs[k] >= 0) f->hint[n->inputs[k]] = to;
}

kiln_status kiln_fuse_set_input(kiln_fuse *f, int32_t n, int32_t slot, int32_t t) {
    kiln_node *node = &f->g->nodes[n];
    if (slot >= node->input_count) {
        int32_t *in = realloc(node->inputs, sizeof *in * (size_t)(slot + 1));
        if (!in) return kiln_fuse_oom();
        for (int32_t k = node->input_count; k <= slot; k++) in[k] = -1;
        node->inputs = in;
        node->input_count = slot + 1;
    }
    if (node->inputs[slot] >= 0) f->uses[node->inputs[slot]]--;
    node->inputs[slot] = t;
    if (t >= 0) {
        f->uses[t]++;
        f->hint[t] = n;
    }
    return KILN_OK;
}

void kiln_fuse_replace_uses(kiln_fuse *f, int32_t from, int32_t to) {
    for (int32_t i = 0; i < f->g->node_count && f->uses[from] > 0; i++) {
        if (f->gone[i]) continue;
        kiln_node *node = &f->g->nodes[i];
        for (int32_t k = 0; k < node->input_count; k++)
            if (node->inputs[k] == from) {
                node->inputs[k] = to;
                f->uses[from]--;
                f->uses[to]++;
                f->hint[to] = i;
            }
    }
}

void kiln_fuse_set_output(kiln_fuse *f, int32_t n, int32_t slot, int32_t t) {
    kiln_node *node = &f->g->nodes[n];
    int32_t old = node->outputs[slot];
    if (old >= 0 && f->g->tensors[old].producer == n) f->g->tensors[old].producer = -1;
    node->outputs[slot] = t;
    if (t >= 0) f->g->tensors[t].producer = n;
}

kiln_status kiln_fuse_add_constant(kiln_fuse *f, const char *base, kiln_dtype dtype, int32_t rank,
                                   const int64_t *dims, void *data, size_t nbytes, int32_t *out) {
    kiln_graph *g = f->g;
    char name[1024];
    snprintf(name, sizeof name, "%s", base);
    for (int k = 1; kiln_graph_find_tensor(g, name) >= 0; k++)
        snprintf(name, sizeof name, "%s_%d", base, k);
    if (g->tensor_count + 1 > f->tensor_cap) {
        int32_t cap = f->tensor_cap * 2 + 16;
        int32_t *uses = realloc(f->uses, sizeof *uses * (size_t)cap);
        if (uses) f->uses = uses;
        int32_t *hint = realloc(f->hint, sizeof *hint * (size_t)cap);
        if (hint) f->hint = hint;
        uint8_t *pinned = realloc(f->pinned, (size_t)cap);
        if (pinned) f->pinned = pinned;
        if (!uses || !hint || !pinned) {
            free(data);
            return kiln_fuse_oom();
        }
        memset(f->uses + f->tensor_cap, 0, sizeof *uses * (size_t)(cap - f->tensor_cap));
        memset(f->pinned + f->tensor_cap, 0, (size_t)(cap - f->tensor_cap));
        for (int32_t t = f->tensor_cap; t < cap; t++) f->hint[t] = -1;
        f->tensor_cap = cap;
    }
    kiln_status st = kiln_graph_add_tensor(g, name, dtype, rank, dims, out);
    if (st != KILN_OK) {
        free(data);
        return st;
    }
    kiln_graph_take_constant(g, *out, data, nbytes);
    return KILN_OK;
}

/* ---------------------------------------------------------------- attributes ------- */

void kiln_fuse_drop_attr(kiln_node *n, const char *name) {
    for (int32_t i = 0; i < n->attr_count; i++) {
        kiln_attr *a = &n->attrs[i];
        if (strcmp(a->name, name)) continue;
        free(a->name);
        free(a->s);
        free(a->ints);
        free(a->floats);
        for (int32_t k = 0; a->strings && k < a->count; k++) free(a->strings[k]);
        free(a->strings);
        if (a->tensor) free(a->tensor->data);
        free(a->tensor);
        kiln_graph_destroy(a->graph);
        for (int32_t k = 0; a->graphs && k < a->count; k++) kiln_graph_destroy(a->graphs[k]);
        free(a->graphs);
        memmove(a, a + 1, sizeof *a * (size_t)(n->attr_count - i - 1));
        n->attr_count--;
        return;
    }
}

kiln_status kiln_fuse_set_int(kiln_fuse *f, int32_t n, const char *name, int64_t v) {
    kiln_fuse_drop_attr(&f->g->nodes[n], name);
    return kiln_node_set_int(f->g, n, name, v);
}

kiln_status kiln_fuse_set_float(kiln_fuse *f, int32_t n, const char *name, float v) {
    kiln_fuse_drop_attr(&f->g->nodes[n], name);
    return kiln_node_set_float(f->g, n, name, v);
}

kiln_status kiln_fuse_set_string(kiln_fuse *f, int32_t n, const char *name, const char *s) {
    kiln_fuse_drop_attr(&f->g->nodes[n], name);
    return kiln_node_set_string(f->g, n, name, s, strlen(s));
}

/* Appends one name to the STRINGS attribute `_kiln_fused` of node n. */
static kiln_status kiln_fuse_append_name(kiln_fuse *f, int32_t n, const char *name) {
    kiln_node *node = &f->g->nodes[n];
    kiln_attr *a = (kiln_attr *)kiln_node_attr(node, "_kiln_fused");
    if (a && a->type != KILN_ATTR_STRINGS) {
        kiln_fuse_drop_attr(node, "_kiln_fused");
        a = NULL;
    }
    if (!a) KILN_TRY(kiln_node_add_attr(f->g, n, "_kiln_fused", KILN_ATTR_STRINGS, &a));
    char **strings = realloc(a->strings, sizeof *strings * (size_t)(a->count + 1));
    if (!strings) return kiln_fuse_oom();
    a->strings = strings;
    if (!(strings[a->count] = strdup(name ? name : ""))) return kiln_fuse_oom();
    a->count++;
    return KILN_OK;
}

kiln_status kiln_fuse_note(kiln_fuse *f, int32_t host, int32_t absorbed) {
    const kiln_attr *a = kiln_node_attr(&f->g->nodes[absorbed], "_kiln_fused");
    if (a && a->type == KILN_ATTR_STRINGS && a->count > 0) {
        for (int32_t k = 0; k < a->count; k++) {
            /* the absorbed node's attributes stay put while the host's grow */
            a = kiln_node_attr(&f->g->nodes[absorbed], "_kiln_fused");
            KILN_TRY(kiln_fuse_append_name(f, host, a->strings[k]));
        }
        return KILN_OK;
    }
    return kiln_fuse_append_name(f, host, f->g->nodes[absorbed].name);
}

int kiln_fuse_same_precision(const kiln_graph *g, const int32_t *nodes, int32_t count) {
    for (int32_t i = 1; i < count; i++)
        if (kiln_attr_int(&g->nodes[nodes[i]], "_kiln_precision", -1) !=
            kiln_attr_int(&g->nodes[nodes[0]], "_kiln_precision", -1))
            return 0;
    return 1;
}

kiln_status kiln_fuse_replace(kiln_fuse *f, const int32_t *nodes, int32_t count, int32_t slot,
                              const char *name, kiln_op op, int32_t opset, const int32_t *inputs,
                              int32_t n_in, const int32_t *outputs, int32_t n_out) {
    kiln_graph *g = f->g;
    /* the original names, before the nodes go */
    int32_t n_names = 0, cap = 0;
    char **names = NULL;
    kiln_status st = KILN_OK;
    for (int32_t i = 0; i < count && st == KILN_OK; i++) {
        const kiln_node *n = &g->nodes[nodes[i]];
        const kiln_attr *a = kiln_node_attr(n, "_kiln_fused");
        int32_t k_count = a && a->type == KILN_ATTR_STRINGS && a->count ? a->count : 1;
        for (int32_t k = 0; k < k_count && st == KILN_OK; k++) {
            const char *s = a && a->type == KILN_ATTR_STRINGS && a->count ? a->strings[k] : n->name;
            if (n_names == cap) {
                cap = cap ? cap * 2 : 16;
                char **p = realloc(names, sizeof *p * (size_t)cap);
                if (!p) {
                    st = kiln_fuse_oom();
                    break;
                }
                names = p;
            }
            if (!(names[n_names] = strdup(s ? s : "")))
                st = kiln_fuse_oom();
            else
                n_names++;
        }
    }
    int64_t precision = count > 0 ? kiln_attr_int(&g->nodes[nodes[0]], "_kiln_precision", -1) : -1;
    char *own_name = st == KILN_OK ? strdup(name ? name : "") : NULL;
    int32_t *in = st == KILN_OK ? malloc(sizeof *in * (size_t)(n_in ? n_in : 1)) : NULL;
    int32_t *out = st == KILN_OK ? malloc(sizeof *out * (size_t)(n_out ? n_out : 1)) : NULL;
    if (st == KILN_OK && (!own_name || !in || !out)) st = kiln_fuse_oom();
    if (st == KILN_OK) {
        for (int32_t i = 0; i < count; i++) kiln_fuse_remove(f, nodes[i]);
        kiln_node *n = &g->nodes[slot];
        memset(n, 0, sizeof *n);
        n->name = own_name;
        n->op = op;
        n->opset = opset;
        n->inputs = in;
        n->outputs = out;
        n->input_count = n_in;
        n->output_count = n_out;
        if (n_in) memcpy(in, inputs, sizeof *in * (size_t)n_in);
        if (n_out) memcpy(out, outputs, sizeof *out * (size_t)n_out);
        own_name = NULL;
        in = out = NULL;
        f->gone[slot] = 0;
        f->removed--;
        for (int32_t k = 0; k < n_in; k++)
            if (inputs[k] >= 0) {
                f->uses[inputs[k]]++;
                f->hint[inputs[k]] = slot;
            }
        for (int32_t k = 0; k < n_out; k++)
            if (outputs[k] >= 0) g->tensors[outputs[k]].producer = slot;
        for (int32_t k = 0; k < n_names && st == KILN_OK; k++)
            st = kiln_fuse_append_name(f, slot, names[k]);
        if (st == KILN_OK && precision >= 0)
            st = kiln_node_set_int(g, slot, "_kiln_precision", precision);
    }
    free(own_name);
    free(in);
    free(out);
    for (int32_t k = 0; k < n_names; k++) free(names[k]);
    free(names);
    return st;
}

void kiln_fuse_pattern_name(const kiln_graph *g, const int32_t *nodes, int32_t count,
                            const char *suffix, int32_t fallback, char *buf, size_t size) {
    const char *first = count > 0 ? g->nodes[nodes[0]].name : NULL;
    size_t common = first ? strlen(first) : 0;
    for (int32_t i = 1; i < count; i++) {
        const char *s = g->nodes[nodes[i]].name;
        size_t k = 0;
        while (k < common && s[k] && s[k] == first[k]) k++;
        common = k;
    }
    while (common > 0 && first[common - 1] != '/') common--;
    if (common > 0)
        snprintf(buf, size, "%.*s%s", (int)common, first, suffix);
    else
        snprintf(buf, size, "%s", g->nodes[fallback].name ? g->nodes[fallback].name : "");
}

/* ---------------------------------------------------------------- constants -------- */

int kiln_fuse_float_dtype(kiln_dtype dtype) {
    return dtype == KILN_DTYPE_FLOAT32 || dtype == KILN_DTYPE_FLOAT16 ||
           dtype == KILN_DTYPE_BFLOAT16;
}

static int kiln_fuse_numeric(kiln_dtype dtype) {
    switch (dtype) {
    case KILN_DTYPE_FLOAT32:
    case KILN_DTYPE_FLOAT16:
    case KILN_DTYPE_BFLOAT16:
    case KILN_DTYPE_FLOAT64:
    case KILN_DTYPE_INT8:
    case KILN_DTYPE_UINT8:
    case KILN_DTYPE_INT16:
    case KILN_DTYPE_UINT16:
    case KILN_DTYPE_INT32:
    case KILN_DTYPE_UINT32:
    case KILN_DTYPE_INT64:
    case KILN_DTYPE_UINT64:
        return 1;
    default:
        return 0;
    }
}

/* A view of constant t (data set), or 0 when t is not a numeric constant of known size. */
static int kiln_fuse_const_view(const kiln_graph *g, int32_t t, kiln_tview *v) {
    if (!kiln_fuse_is_const(g, t)) return 0;
    const kiln_ir_tensor *it = &g->tensors[t];
    if (!kiln_fuse_numeric(it->dtype) || it->rank < 0) return 0;
    memset(v, 0, sizeof *v);
    v->dtype = it->dtype;
    v->rank = it->rank;
    memcpy(v->dims, it->dims, sizeof v->dims);
    v->data = it->data;
    int64_t count = kiln_tview_count(v);
    return count >= 0 && kiln_dtype_nbytes(it->dtype, count) <= it->nbytes;
}

int kiln_fuse_const_scalar(const kiln_graph *g, int32_t t, double *value) {
    kiln_tview v;
    if (!kiln_fuse_const_view(g, t, &v) || kiln_tview_count(&v) != 1) return 0;
    *value = kiln_tview_get_double(&v, 0);
    return 1;
}

double *kiln_fuse_const_values(const kiln_graph *g, int32_t t, int64_t *count) {
    kiln_tview v;
    if (!kiln_fuse_const_view(g, t, &v)) return NULL;
    int64_t n = kiln_tview_count(&v);
    double *d = malloc(sizeof *d * (size_t)(n ? n : 1));
    if (!d) {
        kiln_fuse_oom();
        return NULL;
    }
    for (int64_t i = 0; i < n; i++) d[i] = kiln_tview_get_double(&v, i);
    *count = n;
    return d;
}

/* ---------------------------------------------------------------- shapes ----------- */

int kiln_fuse_static_shape(const kiln_graph *g, int32_t t) {
    const kiln_ir_tensor *it = &g->tensors[t];
    if (it->rank < 0) return 0;
    for (int32_t d = 0; d < it->rank; d++)
        if (it->dims[d] < 0) return 0;
    return 1;
}

static int kiln_fuse_view_dims_equal(const kiln_tview *v, int32_t a, int32_t b, int32_t d) {
    return v[a].rank > d && v[b].rank > d && v[a].dims[d] >= 0 && v[a].dims[d] == v[b].dims[d];
}

int kiln_fuse_same_shape(const kiln_fuse *f, int32_t a, int32_t b) {
    const kiln_ir_tensor *ta = &f->g->tensors[a], *tb = &f->g->tensors[b];
    if (ta->rank < 0 || ta->rank != tb->rank) return 0;
    const kiln_fuse_options *o = f->opt;
    int views = o && o->at_min && o->at_max && a < o->view_count && b < o->view_count;
    for (int32_t d = 0; d < ta->rank; d++) {
        if (ta->dims[d] >= 0 && tb->dims[d] >= 0) {
            if (ta->dims[d] != tb->dims[d]) return 0;
            continue;
        }
        if (ta->dims[d] >= 0 || tb->dims[d] >= 0) return 0;
        /* both dynamic: equal at both ends of the profile */
        if (!views || !kiln_fuse_view_dims_equal(o->at_min, a, b, d) ||
            !kiln_fuse_view_dims_equal(o->at_max, a, b, d))
            return 0;
    }
    return 1;
}
