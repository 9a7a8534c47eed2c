/*
 * ONNX model -> kiln graph. IR ops carry ONNX semantics, so a node maps onto one IR node
 * with its attributes and the opset of its domain; the work here is names, constants,
 * functions and errors that name the node at fault.
 */
#define _POSIX_C_SOURCE 200809L
#include "onnx/importer.h"

#include "onnx/import_gradient.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A name scope: graph tensor names, or a function call's renaming of its formals. */
typedef struct kiln_import_scope {
    const kiln_onnx_function *fn;   /* NULL at the top level */
    const kiln_onnx_node *call;     /* the node calling fn */
    const char *prefix;             /* prepended to the function's internal names */
    const struct kiln_import_scope *outer;
} kiln_import_scope;

typedef struct kiln_importer {
    const kiln_onnx_model *model;
    kiln_graph *g;
    kiln_import_errors *errors;
    int64_t default_opset;
    int32_t inline_counter;
    int check_only; /* only collect unsupported nodes */
} kiln_importer;

void kiln_import_errors_clear(kiln_import_errors *errors) {
    if (!errors) return;
    for (int32_t i = 0; i < errors->count; i++) {
        free(errors->items[i].node);
        free(errors->items[i].op);
        free(errors->items[i].message);
    }
    free(errors->items);
    errors->items = NULL;
    errors->count = 0;
}

static char *kiln_import_strdup(const char *s) {
    return strdup(s ? s : "");
}

/* Records a problem of a node; the import goes on so every problem is reported. */
static void kiln_import_report(kiln_importer *im, const kiln_onnx_node *n, const char *fmt, ...) {
    char msg[1536];
    va_list args;
    va_start(args, fmt);
    vsnprintf(msg, sizeof msg, fmt, args);
    va_end(args);
    kiln_import_errors *e = im->errors;
    if (!e) return;
    kiln_import_error *items = realloc(e->items, sizeof *items * (size_t)(e->count + 1));
    if (!items) return;
    e->items = items;
    char op[512];
    if (n && n->domain[0] && strcmp(n->domain, "ai.onnx"))
        snprintf(op, sizeof op, "%s::%s", n->domain, n->op_type);
    else
        snprintf(op, sizeof op, "%s", n ? n->op_type : "");
    char full[2200];
    if (n)
        snprintf(full, sizeof full, "node '%s' (%s): %s", n->name, op, msg);
    else
        snprintf(full, sizeof full, "%s", msg);
    items[e->count].node = kiln_import_strdup(n ? n->name : "");
    items[e->count].op = kiln_import_strdup(op);
    items[e->count].message = kiln_import_strdup(full);
    e->count++;
}

static int64_t kiln_import_opset(const kiln_onnx_model *m, const char *domain) {
    for (int32_t i = 0; i < m->opset_count; i++) {
        const char *d = m->opsets[i].domain;
        if (!strcmp(d, domain) || ((!*d || !strcmp(d, "ai.onnx")) && (!*domain || !strcmp(domain, "ai.onnx"))))
            return m->opsets[i].version;
    }
    return -1;
}

/* ---------------------------------------------------------------- tensors ---------- */

/* Converts an ONNX value type's shape into rank/dims (dim_param -> -1 with its name). */
static void kiln_import_shape(const kiln_onnx_type *type, int32_t *rank, int64_t *dims,
                              const char **names) {
    *rank = -1;
    if (!type || type->kind != KILN_ONNX_TYPE_TENSOR || !type->has_shape) return;
    if (type->rank > KILN_MAX_DIMS) return;
    *rank = type->rank;
    for (int32_t i = 0; i < type->rank; i++) {
        dims[i] = type->dims[i].has_value ? type->dims[i].value : -1;
        names[i] = type->dims[i].has_value ? NULL : type->dims[i].param;
    }
}

/* The kind kiln gives a value of an ONNX type (kiln_value_kind: tensors, sequences of
 * tensors, optionals of either) and its element dtype; 0 for types kiln cannot hold (maps,
 * sparse tensors, sequences of sequences). */
static int kiln_import_value_type(const kiln_onnx_type *type, uint8_t *kind, kiln_dtype *dtype) {
    if (!type) return 0;
    const kiln_onnx_type *elem = type->elem;
    switch (type->kind) {
    case KILN_ONNX_TYPE_TENSOR:
        *kind = KILN_VALUE_TENSOR;
        *dtype = (kiln_dtype)type->elem_type;
        return 1;
    case KILN_ONNX_TYPE_SEQUENCE:
        if (elem && elem->kind != KILN_ONNX_TYPE_TENSOR) return 0;
        *kind = KILN_VALUE_SEQUENCE;
        *dtype = elem ? (kiln_dtype)elem->elem_type : KILN_DTYPE_UNDEFINED;
        return 1;
    case KILN_ONNX_TYPE_OPTIONAL:
        if (!elem) return 0;
        if (elem->kind == KILN_ONNX_TYPE_TENSOR) {
            *kind = KILN_VALUE_OPTIONAL;
            *dtype = (kiln_dtype)elem->elem_type;
            return 1;
        }
        if (!kiln_import_value_type(elem, kind, dtype) || *kind != KILN_VALUE_SEQUENCE) return 0;
        *kind = KILN_VALUE_OPTIONAL_SEQUENCE;
        return 1;
    default: return 0;
    }
}

static const char *kiln_import_type_kind_name(const kiln_onnx_type *type) {
    if (!type) return "value without a type";
    switch (type->kind) {
    case KILN_ONNX_TYPE_SPARSE_TENSOR: return "sparse tensor";
    case KILN_ONNX_TYPE_MAP: return "map";
    case KILN_ONNX_TYPE_SEQUENCE: return "sequence of non-tensors";
    case KILN_ONNX_TYPE_OPTIONAL: return "optional of a map or nested sequence";
    default: return "value of unknown type";
    }
}

/* Copies (or borrows) an ONNX tensor's data into a new constant tensor of the graph. */
static kiln_status kiln_import_constant(kiln_graph *g, const kiln_onnx_tensor *t, const char *name,
                                        int32_t *out) {
    if (t->rank > KILN_MAX_DIMS)
        return kiln_error(KILN_ERR_UNSUPPORTED, "constant '%s' has rank %d; kiln supports up to %d",
                          name, t->rank, KILN_MAX_DIMS);
    if (t->data_type == KILN_DTYPE_STRING)
        return kiln_error(KILN_ERR_UNSUPPORTED, "constant '%s' holds strings", name);
    int32_t index;
    KILN_TRY(kiln_graph_add_tensor(g, name, (kiln_dtype)t->data_type, t->rank, t->dims, &index));
    size_t nbytes = 0;
    KILN_TRY(kiln_onnx_tensor_nbytes(t, &nbytes));
    kiln_ir_tensor *it = &g->tensors[index];
    if (t->payload == KILN_ONNX_PAYLOAD_RAW || t->payload == KILN_ONNX_PAYLOAD_EXTERNAL) {
        /* Borrowed from the mapped model: no copy while parsing. */
        it->data = (void *)t->raw.data;
        it->nbytes = nbytes;
        it->borrowed = 1;
        if (!it->data && nbytes == 0) {
            static uint8_t kiln_import_empty[1];
            it->data = kiln_import_empty;
        }
    } else {
        void *data = malloc(nbytes ? nbytes : 1);
        if (!data) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory importing '%s'", name);
        kiln_status st = kiln_onnx_tensor_read(t, data, nbytes);
        if (st != KILN_OK) {
            free(data);
            return st;
        }
        kiln_graph_take_constant(g, index, data, nbytes);
    }
    *out = index;
    return KILN_OK;
}

/* Resolves a name used inside a (possibly inlined) node to a graph tensor name. */
static void kiln_import_resolve(const kiln_import_scope *s, const char *name, char *buf,
                                size_t size) {
    if (!s || !s->fn) {
        snprintf(buf, size, "%s", name);
        return;
    }
    for (int32_t i = 0; i < s->fn->input_count; i++)
        if (!strcmp(s->fn->inputs[i], name)) {
            const char *actual = i < s->call->input_count ? s->call->inputs[i] : "";
            kiln_import_resolve(s->outer, actual, buf, size);
            if (!*actual) buf[0] = '\0';
            return;
        }
    for (int32_t i = 0; i < s->fn->output_count; i++)
        if (!strcmp(s->fn->outputs[i], name)) {
            const char *actual = i < s->call->output_count ? s->call->outputs[i] : "";
            kiln_import_resolve(s->outer, actual, buf, size);
            if (!*actual) buf[0] = '\0';
            return;
        }
    if (!*name) {
        buf[0] = '\0';
        return;
    }
    snprintf(buf, size, "%s%s", s->prefix, name);
}

/* ---------------------------------------------------------------- attributes ------- */

static const kiln_onnx_attribute *kiln_import_call_attr(const kiln_import_scope *s,
                                                        const char *name) {
    for (; s && s->fn; s = s->outer) {
        for (int32_t i = 0; i < s->call->attribute_count; i++)
            if (!strcmp(s->call->attributes[i].name, name)) {
                const kiln_onnx_attribute *a = &s->call->attributes[i];
                if (!a->ref_attr_name) return a;
                name = a->ref_attr_name;
                goto next_scope;
            }
        for (int32_t i = 0; i < s->fn->attribute_proto_count; i++)
            if (!strcmp(s->fn->attribute_protos[i].name, name)) return &s->fn->attribute_protos[i];
        return NULL;
    next_scope:;
    }
    return NULL;
}

static kiln_status kiln_import_attr_tensor(const kiln_onnx_tensor *t, kiln_attr_tensor **out) {
    if (t->rank > KILN_MAX_DIMS || t->data_type == KILN_DTYPE_STRING)
        return kiln_error(KILN_ERR_UNSUPPORTED, "tensor attribute of type %s and rank %d",
                          kiln_dtype_name((kiln_dtype)t->data_type), t->rank);
    kiln_attr_tensor *at = calloc(1, sizeof *at);
    if (!at) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
    size_t nbytes = 0;
    kiln_status st = kiln_onnx_tensor_nbytes(t, &nbytes);
    at->data = malloc(nbytes ? nbytes : 1);
    if (st == KILN_OK && !at->data) st = kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
    if (st == KILN_OK) st = kiln_onnx_tensor_read(t, at->data, nbytes);
    if (st != KILN_OK) {
        free(at->data);
        free(at);
        return st;
    }
    at->dtype = (kiln_dtype)t->data_type;
    at->rank = t->rank;
    for (int32_t i = 0; i < t->rank; i++) at->dims[i] = t->dims[i];
    at->nbytes = nbytes;
    *out = at;
    return KILN_OK;
}

static kiln_status kiln_import_graph_body(kiln_importer *im, const kiln_onnx_graph *og,
                                          kiln_graph *g, const kiln_import_scope *scope);

static kiln_status kiln_import_attr(kiln_importer *im, int32_t node, const kiln_onnx_attribute *a,
                                    const kiln_import_scope *scope) {
    kiln_graph *g = im->g;
    if (a->ref_attr_name) {
        const kiln_onnx_attribute *actual = kiln_import_call_attr(scope, a->ref_attr_name);
        if (!actual) return KILN_OK; /* not given by the caller: the op's default applies */
        kiln_onnx_attribute renamed = *actual;
        renamed.name = a->name;
        renamed.ref_attr_name = NULL;
        return kiln_import_attr(im, node, &renamed, scope->outer);
    }
    kiln_attr *attr;
    switch (a->type) {
    case KILN_ONNX_ATTR_INT: return kiln_node_set_int(g, node, a->name, a->i);
    case KILN_ONNX_ATTR_FLOAT: return kiln_node_set_float(g, node, a->name, a->f);
    case KILN_ONNX_ATTR_STRING: return kiln_node_set_string(g, node, a->name, a->s.data, a->s.size);
    case KILN_ONNX_ATTR_INTS: return kiln_node_set_ints(g, node, a->name, a->ints, a->ints_count);
    case KILN_ONNX_ATTR_FLOATS:
        return kiln_node_set_floats(g, node, a->name, a->floats, a->floats_count);
    case KILN_ONNX_ATTR_STRINGS:
        KILN_TRY(kiln_node_add_attr(g, node, a->name, KILN_ATTR_STRINGS, &attr));
        attr->strings = calloc((size_t)(a->strings_count ? a->strings_count : 1), sizeof(char *));
        if (!attr->strings) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
        attr->count = a->strings_count;
        for (int32_t i = 0; i < a->strings_count; i++) {
            attr->strings[i] = kiln_import_strdup(a->strings[i].data);
            if (!attr->strings[i]) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
        }
        return KILN_OK;
    case KILN_ONNX_ATTR_TENSOR: {
        kiln_attr_tensor *t;
        KILN_TRY(kiln_import_attr_tensor(a->t, &t));
        kiln_status st = kiln_node_add_attr(g, node, a->name, KILN_ATTR_TENSOR, &attr);
        if (st != KILN_OK) {
            free(t->data);
            free(t);
            return st;
        }
        attr->tensor = t;
        return KILN_OK;
    }
    case KILN_ONNX_ATTR_TYPE_PROTO: {
        /* A type (Optional's `type`) becomes INTS {kiln_value_kind, element dtype}. */
        uint8_t kind;
        kiln_dtype dtype;
        if (!kiln_import_value_type(a->tp, &kind, &dtype))
            return kiln_error(KILN_ERR_UNSUPPORTED, "attribute '%s': a type of %s", a->name,
                              kiln_import_type_kind_name(a->tp));
        int64_t v[2] = {kind, dtype};
        return kiln_node_set_ints(g, node, a->name, v, 2);
    }
    case KILN_ONNX_ATTR_GRAPH: {
        kiln_graph *sub;
        KILN_TRY(kiln_graph_create(a->g->name, &sub));
        sub->parent = g;
        kiln_graph *saved = im->g;
        im->g = sub;
        kiln_status st = kiln_import_graph_body(im, a->g, sub, scope);
        im->g = saved;
        if (st == KILN_OK) st = kiln_node_add_attr(g, node, a->name, KILN_ATTR_GRAPH, &attr);
        if (st != KILN_OK) {
            kiln_graph_destroy(sub);
            return st;
        }
        attr->graph = sub;
        return KILN_OK;
    }
    default:
        return kiln_error(KILN_ERR_UNSUPPORTED, "attribute '%s' of type %s is not supported",
                          a->name, kiln_onnx_attr_type_name(a->type));
    }
}

/* ---------------------------------------------------------------- Constant --------- */

/* Constant nodes become constant tensors directly. */
static kiln_status kiln_import_constant_node(kiln_importer *im, const kiln_onnx_node *n,
                                             const char *out_name,
                                             const kiln_import_scope *scope) {
    kiln_graph *g = im->g;
    for (int32_t i = 0; i < n->attribute_count; i++) {
        const kiln_onnx_attribute *a = &n->attributes[i];
        if (a->ref_attr_name) a = kiln_import_call_attr(scope, a->ref_attr_name);
        if (!a) continue;
        const char *which = n->attributes[i].name;
        int32_t index;
        if (!strcmp(which, "value")) return kiln_import_constant(g, a->t, out_name, &index);
        int64_t one = 1;
        const void *data = NULL;
        kiln_dtype dtype;
        int32_t rank = 1;
        int64_t count = 0;
        if (!strcmp(which, "value_float")) {
            dtype = KILN_DTYPE_FLOAT32, rank = 0, count = 1, data = &a->f;
        } else if (!strcmp(which, "value_floats")) {
            dtype = KILN_DTYPE_FLOAT32, count = a->floats_count, data = a->floats;
        } else if (!strcmp(which, "value_int")) {
            dtype = KILN_DTYPE_INT64, rank = 0, count = 1, data = &a->i;
        } else if (!strcmp(which, "value_ints")) {
            dtype = KILN_DTYPE_INT64, count = a->ints_count, data = a->ints;
        } else {
            return kiln_error(KILN_ERR_UNSUPPORTED, "Constant with attribute '%s' is not supported",
                              which);
        }
        (void)one;
        KILN_TRY(kiln_graph_add_tensor(g, out_name, dtype, rank, &count, &index));
        return kiln_graph_set_constant(g, index, data, kiln_dtype_nbytes(dtype, count));
    }
    return kiln_error(KILN_ERR_PARSE, "Constant node without a value");
}

/* ---------------------------------------------------------------- nodes ------------ */

static const kiln_onnx_function *kiln_import_find_function(const kiln_onnx_model *m,
                                                           const kiln_onnx_node *n) {
    for (int32_t i = 0; i < m->function_count; i++)
        if (!strcmp(m->functions[i].name, n->op_type) && !strcmp(m->functions[i].domain, n->domain))
            return &m->functions[i];
    return NULL;
}

static int kiln_import_default_domain(const char *d) {
    return !*d || !strcmp(d, "ai.onnx");
}

/* Finds a tensor by name in the graph or its enclosing graphs (subgraph outer scope). */
static int32_t kiln_import_lookup(kiln_graph *g, const char *name, kiln_graph **owner) {
    for (kiln_graph *s = g; s; s = s->parent) {
        int32_t t = kiln_graph_find_tensor(s, name);
        if (t >= 0) {
            *owner = s;
            return t;
        }
    }
    return -1;
}

static kiln_status kiln_import_nodes(kiln_importer *im, const kiln_onnx_node *nodes, int32_t count,
                                     const kiln_import_scope *scope, int depth);

static kiln_status kiln_import_function_call(kiln_importer *im, const kiln_onnx_node *n,
                                             const kiln_onnx_function *fn,
                                             const kiln_import_scope *scope, int depth) {
    if (depth > 32)
        return kiln_error(KILN_ERR_UNSUPPORTED, "functions nested more than 32 deep");
    char prefix[256];
    snprintf(prefix, sizeof prefix, "%s/%s#%d/", n->name, fn->name, im->inline_counter++);
    kiln_import_scope inner = {fn, n, prefix, scope};
    return kiln_import_nodes(im, fn->nodes, fn->node_count, &inner, depth + 1);
}

/* The outputs of a node that cannot be imported still get names, so the nodes reading
 * them report their own problems rather than a missing input. */
static void kiln_import_placeholder_outputs(kiln_importer *im, const kiln_onnx_node *n,
                                            const kiln_import_scope *scope) {
    char name[1024];
    for (int32_t i = 0; !im->check_only && i < n->output_count; i++) {
        kiln_import_resolve(scope, n->outputs[i], name, sizeof name);
        int32_t t;
        if (name[0] && kiln_graph_find_tensor(im->g, name) < 0)
            kiln_graph_add_tensor(im->g, name, KILN_DTYPE_UNDEFINED, -1, NULL, &t);
    }
}

static kiln_status kiln_import_node(kiln_importer *im, const kiln_onnx_node *n,
                                    const kiln_import_scope *scope, int depth) {
    kiln_graph *g = im->g;
    if (!kiln_import_default_domain(n->domain) || kiln_op_from_name(n->op_type) == KILN_OP_COUNT) {
        const kiln_onnx_function *fn = kiln_import_find_function(im->model, n);
        if (fn) return kiln_import_function_call(im, n, fn, scope, depth);
    }
    if (kiln_import_is_gradient(n)) { /* a rewrite of the nodes imported so far */
        if (im->check_only) return KILN_OK;
        if (kiln_import_gradient(im->g, n, kiln_import_resolve, scope) != KILN_OK) {
            kiln_import_report(im, n, "%s", kiln_last_error());
            kiln_import_placeholder_outputs(im, n, scope);
        }
        return KILN_OK;
    }
    if (!kiln_import_default_domain(n->domain)) {
        kiln_import_report(im, n, "domain '%s' (opset %lld) is not supported by kiln; hint: "
                                  "export with the default ONNX domain only",
                           n->domain, (long long)kiln_import_opset(im->model, n->domain));
        kiln_import_placeholder_outputs(im, n, scope);
        return KILN_OK;
    }
    char name[1024];
    if (!strcmp(n->op_type, "Constant") && n->output_count == 1) {
        kiln_import_resolve(scope, n->outputs[0], name, sizeof name);
        if (im->check_only) return KILN_OK;
        kiln_status st = kiln_import_constant_node(im, n, name, scope);
        if (st != KILN_OK) kiln_import_report(im, n, "%s", kiln_last_error());
        return KILN_OK;
    }
    kiln_op op = kiln_op_from_name(n->op_type);
    if (op == KILN_OP_COUNT) {
        kiln_import_report(im, n, "kiln has no implementation of %s (opset %lld); hint: see "
                                  "docs/operators.md for the ops kiln supports",
                           n->op_type, (long long)im->default_opset);
        kiln_import_placeholder_outputs(im, n, scope);
        return KILN_OK;
    }
    const kiln_op_info *info = kiln_op_get_info(op);
    if (n->input_count < info->min_inputs ||
        (info->max_inputs >= 0 && n->input_count > info->max_inputs) ||
        n->output_count < info->min_outputs ||
        (info->max_outputs >= 0 && n->output_count > info->max_outputs)) {
        kiln_import_report(im, n, "has %d inputs and %d outputs; %s takes %d..%d inputs and %d..%d outputs",
                           n->input_count, n->output_count, info->name, info->min_inputs,
                           info->max_inputs, info->min_outputs, info->max_outputs);
        return KILN_OK;
    }
    if (im->check_only) return KILN_OK;
    int32_t *ins = malloc(sizeof(int32_t) * (size_t)(n->input_count + 1));
    int32_t *outs = malloc(sizeof(int32_t) * (size_t)(n->output_count + 1));
    kiln_status st = ins && outs ? KILN_OK : kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
    for (int32_t i = 0; st == KILN_OK && i < n->input_count; i++) {
        kiln_import_resolve(scope, n->inputs[i], name, sizeof name);
        ins[i] = -1;
        if (!name[0]) continue;
        kiln_graph *owner = NULL;
        int32_t t = kiln_import_lookup(g, name, &owner);
        if (t >= 0 && owner != g) {
            /* A value of an enclosing graph: a local tensor of the same name stands for it. */
            const kiln_ir_tensor *ot = &owner->tensors[t];
            st = kiln_graph_add_tensor(g, name, ot->dtype, ot->rank, ot->dims, &t);
            if (st == KILN_OK) g->tensors[t].producer = -2;
        }
        if (st == KILN_OK && t < 0) {
            kiln_import_report(im, n, "input '%s' is not produced by any earlier node, input or "
                                      "initializer",
                               name);
            st = KILN_ERR_PARSE;
        }
        ins[i] = t;
    }
    for (int32_t i = 0; st == KILN_OK && i < n->output_count; i++) {
        kiln_import_resolve(scope, n->outputs[i], name, sizeof name);
        outs[i] = -1;
        if (!name[0]) continue;
        if (kiln_graph_find_tensor(g, name) >= 0) {
            kiln_import_report(im, n, "output '%s' is already defined (ONNX graphs assign each "
                                      "name once)",
                               name);
            st = KILN_ERR_PARSE;
            break;
        }
        st = kiln_graph_add_tensor(g, name, KILN_DTYPE_UNDEFINED, -1, NULL, &outs[i]);
    }
    int32_t node = -1;
    char node_name[1024];
    kiln_import_resolve(scope, n->name, node_name, sizeof node_name);
    if (scope && scope->fn) snprintf(node_name, sizeof node_name, "%s%s", scope->prefix, n->name);
    if (st == KILN_OK)
        st = kiln_graph_add_node(g, node_name, op, (int32_t)im->default_opset, ins, n->input_count,
                                 outs, n->output_count, &node);
    free(ins);
    free(outs);
    for (int32_t i = 0; st == KILN_OK && i < n->attribute_count; i++) {
        st = kiln_import_attr(im, node, &n->attributes[i], scope);
        if (st != KILN_OK) {
            kiln_import_report(im, n, "%s", kiln_last_error());
            return KILN_OK;
        }
    }
    if (st == KILN_ERR_PARSE) return KILN_OK; /* reported above */
    return st;
}

static kiln_status kiln_import_nodes(kiln_importer *im, const kiln_onnx_node *nodes, int32_t count,
                                     const kiln_import_scope *scope, int depth) {
    for (int32_t i = 0; i < count; i++) KILN_TRY(kiln_import_node(im, &nodes[i], scope, depth));
    return KILN_OK;
}

/* ---------------------------------------------------------------- graphs ----------- */

static int kiln_import_is_initializer(const kiln_onnx_graph *og, const char *name) {
    for (int32_t i = 0; i < og->initializer_count; i++)
        if (!strcmp(og->initializers[i].name, name)) return 1;
    return 0;
}

static kiln_status kiln_import_graph_body(kiln_importer *im, const kiln_onnx_graph *og,
                                          kiln_graph *g, const kiln_import_scope *scope) {
    /* Inputs first: graph inputs that an initializer also names are constants with a
     * default (ONNX IR < 4 style); kiln treats them as constants. */
    for (int32_t i = 0; i < og->input_count; i++) {
        const kiln_onnx_value_info *vi = &og->inputs[i];
        if (kiln_import_is_initializer(og, vi->name)) continue;
        if (!vi->type && g->parent) {
            /* Subgraph inputs may leave their type to the node (Scan, Loop): known at run. */
            if (im->check_only) continue;
            int32_t t;
            KILN_TRY(kiln_graph_add_tensor(g, vi->name, KILN_DTYPE_UNDEFINED, -1, NULL, &t));
            KILN_TRY(kiln_graph_add_input(g, t));
            continue;
        }
        uint8_t kind;
        kiln_dtype dtype;
        if (!kiln_import_value_type(vi->type, &kind, &dtype)) {
            kiln_import_report(im, NULL, "graph input '%s' is a %s, which kiln does not support "
                                         "(tensors, sequences of tensors and optionals are)",
                               vi->name, kiln_import_type_kind_name(vi->type));
            continue;
        }
        if (im->check_only) continue;
        int32_t rank = -1;
        int64_t dims[KILN_MAX_DIMS];
        const char *names[KILN_MAX_DIMS] = {0};
        if (kind == KILN_VALUE_TENSOR) kiln_import_shape(vi->type, &rank, dims, names);
        int32_t t;
        KILN_TRY(kiln_graph_add_tensor(g, vi->name, dtype, rank, dims, &t));
        g->tensors[t].kind = kind;
        for (int32_t d = 0; d < rank; d++)
            if (names[d]) g->tensors[t].dim_names[d] = kiln_import_strdup(names[d]);
        KILN_TRY(kiln_graph_add_input(g, t));
    }
    for (int32_t i = 0; i < og->initializer_count && !im->check_only; i++) {
        int32_t t;
        kiln_status st = kiln_import_constant(g, &og->initializers[i], og->initializers[i].name, &t);
        if (st != KILN_OK) kiln_import_report(im, NULL, "initializer '%s': %s",
                                              og->initializers[i].name, kiln_last_error());
    }
    if (og->sparse_initializer_count)
        kiln_import_report(im, NULL, "sparse initializers are not supported");
    KILN_TRY(kiln_import_nodes(im, og->nodes, og->node_count, scope, 0));
    for (int32_t i = 0; i < og->output_count && !im->check_only; i++) {
        int32_t t = kiln_graph_find_tensor(g, og->outputs[i].name);
        if (t < 0) {
            if (im->errors && im->errors->count) continue; /* an unimportable node made it */
            kiln_import_report(im, NULL, "graph output '%s' is produced by no node",
                               og->outputs[i].name);
            continue;
        }
        /* Declared output types fill in what shape inference may not know (subgraph
         * outputs are typed from here: If/Loop/Scan read them). */
        kiln_ir_tensor *it = &g->tensors[t];
        const kiln_onnx_type *type = og->outputs[i].type;
        uint8_t kind;
        kiln_dtype dtype;
        if (type && kiln_import_value_type(type, &kind, &dtype)) {
            if (it->dtype == KILN_DTYPE_UNDEFINED) it->dtype = dtype;
            it->kind = kind;
        } else if (type && type->kind != KILN_ONNX_TYPE_UNDEFINED) {
            kiln_import_report(im, NULL, "graph output '%s' is a %s, which kiln does not support",
                               og->outputs[i].name, kiln_import_type_kind_name(type));
            continue;
        }
        KILN_TRY(kiln_graph_add_output(g, t));
    }
    return KILN_OK;
}

static kiln_status kiln_import_run(kiln_importer *im) {
    const kiln_onnx_model *m = im->model;
    im->default_opset = kiln_import_opset(m, "");
    if (im->default_opset < 0) im->default_opset = 1; /* no opset_import: the first */
    if (im->default_opset > 28)
        kiln_import_report(im, NULL, "the model uses ONNX opset %lld; kiln knows opsets up to 28",
                           (long long)im->default_opset);
    KILN_TRY(kiln_import_graph_body(im, m->graph, im->g, NULL));
    if (im->errors && im->errors->count) {
        if (im->errors->count == 1)
            return kiln_error(KILN_ERR_UNSUPPORTED, "%s", im->errors->items[0].message);
    {
        /* One error naming every node at fault, then the first reason in full. */
        char list[1200];
        size_t pos = 0;
        list[0] = '\0';
        for (int32_t i = 0; i < im->errors->count && pos < sizeof list - 80; i++)
            pos += (size_t)snprintf(list + pos, sizeof list - pos, "%s'%s' (%s)", i ? ", " : "",
                                    im->errors->items[i].node, im->errors->items[i].op);
        if (pos >= sizeof list - 80) snprintf(list + pos, sizeof list - pos, ", ...");
        return kiln_error(KILN_ERR_UNSUPPORTED, "%d nodes cannot be imported: %s. First: %s",
                          im->errors->count, list, im->errors->items[0].message);
    }
    }
    return KILN_OK;
}

kiln_status kiln_onnx_import(const kiln_onnx_model *model, kiln_graph *g,
                             kiln_import_errors *errors) {
    kiln_importer im = {model, g, errors, 0, 0, 0};
    kiln_status st = kiln_import_run(&im);
    /* the graph borrows the model's weights: it keeps the model alive while it does */
    if (st == KILN_OK && model->keep) st = kiln_graph_adopt_keepalive(g, model->keep);
    return st;
}

kiln_status kiln_onnx_check_support(const kiln_onnx_model *model, kiln_import_errors *errors) {
    kiln_graph *scratch;
    KILN_TRY(kiln_graph_create("check", &scratch));
    kiln_importer im = {model, scratch, errors, 0, 0, 1};
    kiln_status st = kiln_import_run(&im);
    kiln_graph_destroy(scratch);
    return st;
}
