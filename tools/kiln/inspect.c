/*
 * kiln inspect MODEL.onnx [--nodes] [--json]: what a model holds, without building it.
 *
 * Everything here reads the model view of src/onnx; tensor payloads are never touched
 * (sizes come from kiln_onnx_tensor_nbytes), so inspecting a large model costs about as
 * much as walking its graph.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln/kiln.h"
#include "onnx/onnx_model.h"
#include "cli.h"
#include "json_writer.h"

/* Lists of values (attribute lists, names) in the text report stop after this many. */
#define KILN_INSPECT_LIST_MAX 16
/* String attributes and metadata values in the text report stop after this many bytes. */
#define KILN_INSPECT_STRING_MAX 64
/* The name column of tables stops growing here, so one long name cannot push every row. */
#define KILN_INSPECT_NAME_COLUMN_MAX 40
/* Subgraph nesting followed; the reader already bounds it lower, this guards the recursion. */
#define KILN_INSPECT_MAX_DEPTH 100
/* Initializer dtype tallies: one bin per dtype value below this, one for anything else. */
#define KILN_INSPECT_DTYPE_BINS 32

/* ------------------------------------------------------------ memory and strings ---- */

/* A command-line tool has nothing sensible to do without memory: say so and stop. */
static void *kiln_inspect_realloc(void *p, size_t size) {
    void *q = realloc(p, size ? size : 1);
    if (!q) {
        fprintf(stderr, "kiln: error: out of memory\n");
        exit(1);
    }
    return q;
}

static const char *kiln_inspect_str(const char *s) {
    return s ? s : "";
}

/* A growable string, for cells of the text report (escaped names, types, shapes). */
typedef struct sbuf {
    char *data;
    size_t len, cap;
} sbuf;

static void sb_putn(sbuf *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1) cap *= 2;
        b->data = kiln_inspect_realloc(b->data, cap);
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void sb_puts(sbuf *b, const char *s) {
    sb_putn(b, s, strlen(s));
}

static void sb_printf(sbuf *b, const char *fmt, ...) KILN_PRINTF(2, 3);
static void sb_printf(sbuf *b, const char *fmt, ...) {
    char buf[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof buf) {
        sb_putn(b, buf, (size_t)n);
        return;
    }
    char *big = kiln_inspect_realloc(NULL, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sb_putn(b, big, (size_t)n);
    free(big);
}

static const char *sb_str(const sbuf *b) {
    return b->data ? b->data : "";
}

static void sb_clear(sbuf *b) {
    b->len = 0;
    if (b->data) b->data[0] = '\0';
}

static void sb_free(sbuf *b) {
    free(b->data);
    memset(b, 0, sizeof *b);
}

/* Appends up to `max` bytes of `data` (0: all) for a terminal: control bytes, DEL and
 * invalid UTF-8 become \xNN, so a hostile name can neither move the cursor nor break the
 * layout. With `quote`, " and \ are escaped too (the caller adds the quotes). Returns the
 * input bytes consumed, which is less than `size` when `max` cut it short. */
static size_t sb_put_text(sbuf *b, const char *data, size_t size, int quote, size_t max) {
    size_t i = 0;
    while (i < size && (!max || i < max)) {
        unsigned char c = (unsigned char)data[i];
        int len = kiln_json_utf8_char_len(data + i, size - i);
        if (c >= 0x80 && len) {
            sb_putn(b, data + i, (size_t)len);
            i += (size_t)len;
            continue;
        }
        if (quote && (c == '"' || c == '\\')) {
            sb_putn(b, "\\", 1);
            sb_putn(b, data + i, 1);
        } else if (c == '\n') {
            sb_puts(b, "\\n");
        } else if (c == '\t') {
            sb_puts(b, "\\t");
        } else if (c < 0x20 || c >= 0x7F) {
            sb_printf(b, "\\x%02x", (unsigned)c);
        } else {
            sb_putn(b, data + i, 1);
        }
        i++;
    }
    return i;
}

/* A quoted string attribute or metadata value, cut after `max` bytes with its size. */
static void sb_put_quoted(sbuf *b, const char *data, size_t size, size_t max) {
    sb_puts(b, "\"");
    size_t used = sb_put_text(b, kiln_inspect_str(data), data ? size : 0, 1, max);
    sb_puts(b, "\"");
    if (used < size) sb_printf(b, "... (%zu bytes)", size);
}

/* A name as the report shows it: escaped, and "" when empty so it is still visible. */
static void sb_put_name(sbuf *b, const char *name) {
    if (!name || !*name) {
        sb_puts(b, "\"\"");
        return;
    }
    sb_put_text(b, name, strlen(name), 0, 0);
}

/* Columns on a terminal: escaped text is ASCII plus valid UTF-8, one column a code point. */
static size_t kiln_inspect_width(const char *s) {
    size_t w = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80) w++;
    return w;
}

static void kiln_inspect_print_padded(FILE *out, const char *s, size_t width) {
    fputs(s, out);
    for (size_t w = kiln_inspect_width(s); w < width; w++) fputc(' ', out);
}

/* 1234567 -> "1,234,567" */
static const char *kiln_inspect_count(char *buf, size_t size, uint64_t v) {
    char digits[32];
    int n = snprintf(digits, sizeof digits, "%" PRIu64, v);
    size_t o = 0;
    for (int i = 0; i < n && o + 2 < size; i++) {
        if (i && (n - i) % 3 == 0) buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = '\0';
    return buf;
}

/* "207 bytes", or "4.7 MiB (4,938,268 bytes)" */
static void sb_put_bytes(sbuf *b, uint64_t v) {
    static const char *units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    char count[40];
    kiln_inspect_count(count, sizeof count, v);
    if (v < 1024) {
        sb_printf(b, "%s bytes", count);
        return;
    }
    double scaled = (double)v / 1024.0;
    int unit = 0;
    while (scaled >= 1024.0 && unit < 5) {
        scaled /= 1024.0;
        unit++;
    }
    sb_printf(b, "%.1f %s (%s bytes)", scaled, units[unit], count);
}

/* ------------------------------------------------------------ a map of name pairs --- */

/* Op histogram (domain, op_type) and the set of initializer names (name, ""). Keys point
 * into the model, which outlives the map. */
typedef struct pair_entry {
    const char *a, *b; /* a == NULL: empty slot */
    int64_t count;
} pair_entry;

typedef struct pair_map {
    pair_entry *slots;
    size_t cap, size;
} pair_map;

static uint64_t kiln_inspect_hash(const char *a, const char *b) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *a; a++) h = (h ^ (unsigned char)*a) * 1099511628211ull;
    h = (h ^ 0xFF) * 1099511628211ull; /* no UTF-8 string holds 0xFF: ("ab","c") != ("a","bc") */
    for (; *b; b++) h = (h ^ (unsigned char)*b) * 1099511628211ull;
    return h;
}

static pair_entry *pair_map_slot(const pair_map *m, const char *a, const char *b) {
    size_t i = (size_t)kiln_inspect_hash(a, b) & (m->cap - 1);
    while (m->slots[i].a && (strcmp(m->slots[i].a, a) || strcmp(m->slots[i].b, b)))
        i = (i + 1) & (m->cap - 1);
    return &m->slots[i];
}

static void pair_map_grow(pair_map *m) {
    pair_map bigger = {NULL, m->cap ? m->cap * 2 : 64, m->size};
    bigger.slots = kiln_inspect_realloc(NULL, bigger.cap * sizeof *bigger.slots);
    memset(bigger.slots, 0, bigger.cap * sizeof *bigger.slots);
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].a) *pair_map_slot(&bigger, m->slots[i].a, m->slots[i].b) = m->slots[i];
    free(m->slots);
    *m = bigger;
}

/* The entry of (a, b), added with count 0 when new. */
static pair_entry *pair_map_add(pair_map *m, const char *a, const char *b) {
    a = kiln_inspect_str(a);
    b = kiln_inspect_str(b);
    if (2 * (m->size + 1) > m->cap) pair_map_grow(m);
    pair_entry *e = pair_map_slot(m, a, b);
    if (!e->a) {
        e->a = a;
        e->b = b;
        m->size++;
    }
    return e;
}

static int pair_map_has(const pair_map *m, const char *a, const char *b) {
    return m->cap && pair_map_slot(m, kiln_inspect_str(a), kiln_inspect_str(b))->a != NULL;
}

static void pair_map_free(pair_map *m) {
    free(m->slots);
    memset(m, 0, sizeof *m);
}

/* ------------------------------------------------------------ types and shapes ------ */

static const char *kiln_inspect_dtype(int32_t dtype) {
    return kiln_dtype_name((kiln_dtype)dtype);
}

static void sb_put_dim(sbuf *b, const kiln_onnx_dim *d) {
    if (d->has_value)
        sb_printf(b, "%" PRId64, d->value);
    else if (d->param && *d->param)
        sb_put_text(b, d->param, strlen(d->param), 0, 0);
    else
        sb_puts(b, "?");
}

/* "[batch, 3, 224, 224]"; "unknown rank" when the file gave no shape. */
static void sb_put_shape(sbuf *b, const kiln_onnx_type *t) {
    if (!t->has_shape) {
        sb_puts(b, "unknown rank");
        return;
    }
    sb_puts(b, "[");
    for (int32_t i = 0; i < t->rank && t->dims; i++) {
        if (i) sb_puts(b, ", ");
        sb_put_dim(b, &t->dims[i]);
    }
    sb_puts(b, "]");
}

static void sb_put_dims(sbuf *b, const int64_t *dims, int32_t rank) {
    sb_puts(b, "[");
    for (int32_t i = 0; i < rank && dims; i++) sb_printf(b, "%s%" PRId64, i ? ", " : "", dims[i]);
    sb_puts(b, "]");
}

/* "tensor(float32)", "sequence(tensor(int64))", "map(string, tensor(float32))", ... */
static void sb_put_type(sbuf *b, const kiln_onnx_type *t, int depth) {
    if (!t) {
        sb_puts(b, "?");
        return;
    }
    if (depth > KILN_INSPECT_MAX_DEPTH) {
        sb_puts(b, "...");
        return;
    }
    switch (t->kind) {
    case KILN_ONNX_TYPE_TENSOR:
        sb_printf(b, "tensor(%s)", kiln_inspect_dtype(t->elem_type));
        break;
    case KILN_ONNX_TYPE_SPARSE_TENSOR:
        sb_printf(b, "sparse_tensor(%s)", kiln_inspect_dtype(t->elem_type));
        break;
    case KILN_ONNX_TYPE_SEQUENCE:
    case KILN_ONNX_TYPE_OPTIONAL:
        sb_puts(b, t->kind == KILN_ONNX_TYPE_SEQUENCE ? "sequence(" : "optional(");
        sb_put_type(b, t->elem, depth + 1);
        sb_puts(b, ")");
        break;
    case KILN_ONNX_TYPE_MAP:
        sb_printf(b, "map(%s, ", kiln_inspect_dtype(t->key_type));
        sb_put_type(b, t->elem, depth + 1);
        sb_puts(b, ")");
        break;
    default:
        sb_puts(b, "undefined");
        break;
    }
}

static int kiln_inspect_is_tensor(const kiln_onnx_type *t) {
    return t && (t->kind == KILN_ONNX_TYPE_TENSOR || t->kind == KILN_ONNX_TYPE_SPARSE_TENSOR);
}

/* The op's name in the histogram and node lists: "Conv", or "com.microsoft::FusedConv". */
static void sb_put_op(sbuf *b, const char *domain, const char *op_type) {
    domain = kiln_inspect_str(domain);
    if (*domain && strcmp(domain, "ai.onnx")) {
        sb_put_text(b, domain, strlen(domain), 0, 0);
        sb_puts(b, "::");
    }
    sb_put_name(b, op_type);
}

static const char *kiln_inspect_opset_domain(const char *domain) {
    return domain && *domain ? domain : "ai.onnx";
}

/* ------------------------------------------------------------ statistics ----------- */

typedef struct model_stats {
    int64_t nodes, subgraph_nodes, subgraphs;
    int64_t initializers, subgraph_initializers, sparse_initializers;
    int64_t params, external, unsized; /* unsized: nbytes failed (overflow) */
    uint64_t bytes;
    int64_t dtypes[KILN_INSPECT_DTYPE_BINS + 1];
    pair_map ops; /* (domain, op_type) -> count; "ai.onnx" is stored as "" */
    int too_deep;
} model_stats;

static int64_t kiln_inspect_add_sat(int64_t a, int64_t b) {
    if (b <= 0) return a;
    return a > INT64_MAX - b ? INT64_MAX : a + b;
}

static uint64_t kiln_inspect_add_sat_u(uint64_t a, uint64_t b) {
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* Adds the size of one tensor's data; 0 when nbytes cannot say (overflow). */
static int kiln_inspect_add_nbytes(model_stats *st, const kiln_onnx_tensor *t) {
    size_t nbytes = 0;
    if (!t) return 0;
    if (kiln_onnx_tensor_nbytes(t, &nbytes) != KILN_OK) {
        kiln_clear_error(); /* a count we cannot give, not a failure of the command */
        st->unsized++;
        return 0;
    }
    st->bytes = kiln_inspect_add_sat_u(st->bytes, (uint64_t)nbytes);
    return 1;
}

static void kiln_inspect_add_dtype(model_stats *st, int32_t dtype) {
    int bin = dtype >= 0 && dtype < KILN_INSPECT_DTYPE_BINS ? dtype : KILN_INSPECT_DTYPE_BINS;
    st->dtypes[bin]++;
}

static int kiln_inspect_is_external(const kiln_onnx_tensor *t) {
    return t->payload == KILN_ONNX_PAYLOAD_EXTERNAL || t->external_location;
}

static void kiln_inspect_count_initializer(model_stats *st, const kiln_onnx_tensor *t, int depth) {
    st->initializers++;
    if (depth) st->subgraph_initializers++;
    st->params = kiln_inspect_add_sat(st->params, t->element_count);
    kiln_inspect_add_nbytes(st, t);
    if (kiln_inspect_is_external(t)) st->external++;
    kiln_inspect_add_dtype(st, t->data_type);
}

/* A sparse initializer's parameters are its stored values; its bytes include the indices. */
static void kiln_inspect_count_sparse(model_stats *st, const kiln_onnx_sparse_tensor *s,
                                      int depth) {
    st->initializers++;
    st->sparse_initializers++;
    if (depth) st->subgraph_initializers++;
    if (s->values) {
        st->params = kiln_inspect_add_sat(st->params, s->values->element_count);
        kiln_inspect_add_dtype(st, s->values->data_type);
        if (kiln_inspect_is_external(s->values)) st->external++;
    }
    kiln_inspect_add_nbytes(st, s->values);
    kiln_inspect_add_nbytes(st, s->indices);
}

static void kiln_inspect_walk_graph(model_stats *st, const kiln_onnx_graph *g, int depth);

static void kiln_inspect_walk_node(model_stats *st, const kiln_onnx_node *n, int depth) {
    st->nodes++;
    if (depth) st->subgraph_nodes++;
    const char *domain = kiln_inspect_str(n->domain);
    if (!strcmp(domain, "ai.onnx")) domain = "";
    pair_map_add(&st->ops, domain, n->op_type)->count++;
    for (int32_t i = 0; i < n->attribute_count; i++) {
        const kiln_onnx_attribute *a = &n->attributes[i];
        if (a->type == KILN_ONNX_ATTR_GRAPH && a->g) {
            st->subgraphs++;
            kiln_inspect_walk_graph(st, a->g, depth + 1);
        }
        for (int32_t k = 0; a->type == KILN_ONNX_ATTR_GRAPHS && a->graphs && k < a->graphs_count;
             k++) {
            st->subgraphs++;
            kiln_inspect_walk_graph(st, a->graphs[k], depth + 1);
        }
    }
}

static void kiln_inspect_walk_graph(model_stats *st, const kiln_onnx_graph *g, int depth) {
    if (!g) return;
    if (depth > KILN_INSPECT_MAX_DEPTH) {
        st->too_deep = 1;
        return;
    }
    for (int32_t i = 0; i < g->initializer_count; i++)
        kiln_inspect_count_initializer(st, &g->initializers[i], depth);
    for (int32_t i = 0; i < g->sparse_initializer_count; i++)
        kiln_inspect_count_sparse(st, &g->sparse_initializers[i], depth);
    for (int32_t i = 0; i < g->node_count; i++) kiln_inspect_walk_node(st, &g->nodes[i], depth);
}

/* The op histogram, sorted by count (most first), then name. */
typedef struct hist_item {
    char *name;
    int64_t count;
} hist_item;

static int kiln_inspect_hist_cmp(const void *pa, const void *pb) {
    const hist_item *a = pa, *b = pb;
    if (a->count != b->count) return a->count > b->count ? -1 : 1;
    return strcmp(a->name, b->name);
}

static hist_item *kiln_inspect_histogram(const pair_map *ops, size_t *count) {
    hist_item *items = kiln_inspect_realloc(NULL, ops->size * sizeof *items);
    size_t n = 0;
    for (size_t i = 0; i < ops->cap; i++) {
        if (!ops->slots[i].a) continue;
        sbuf b = {0};
        sb_put_op(&b, ops->slots[i].a, ops->slots[i].b);
        items[n].name = b.data ? b.data : kiln_inspect_realloc(NULL, 1);
        if (!b.data) items[n].name[0] = '\0';
        items[n++].count = ops->slots[i].count;
    }
    qsort(items, n, sizeof *items, kiln_inspect_hist_cmp);
    *count = n;
    return items;
}

static void kiln_inspect_histogram_free(hist_item *items, size_t count) {
    for (size_t i = 0; i < count; i++) free(items[i].name);
    free(items);
}

/* ------------------------------------------------------------ the report ----------- */

typedef struct inspect_opts {
    const char *path;
    int nodes;
    int json;
} inspect_opts;

typedef struct inspect_ctx {
    FILE *out;
    const inspect_opts *opts;
    const kiln_onnx_model *model;
    const kiln_onnx_graph *graph; /* the main graph, or NULL */
    model_stats stats;
    pair_map initializer_names; /* of the main graph */
    hist_item *hist;
    size_t hist_count;
} inspect_ctx;

/* Graph inputs fed by an initializer are constants with a default, not inputs for users
 * (IR < 4 files list every weight as an input): the report keeps them apart. */
static int kiln_inspect_is_initializer_input(const inspect_ctx *c, const kiln_onnx_value_info *v) {
    return pair_map_has(&c->initializer_names, v->name, "");
}

static const char *kiln_inspect_plural(int64_t n, const char *one, const char *many) {
    return n == 1 ? one : many;
}

/* ------------------------------------------------------------ text: summary -------- */

static void kiln_text_label(inspect_ctx *c, const char *label, const char *value) {
    char buf[32];
    snprintf(buf, sizeof buf, "%s:", label);
    fprintf(c->out, "%-15s%s\n", buf, value);
}

static void kiln_text_model_fields(inspect_ctx *c, sbuf *b) {
    const kiln_onnx_model *m = c->model;
    sb_clear(b);
    sb_put_name(b, c->opts->path);
    sb_puts(b, ", ");
    sb_put_bytes(b, (uint64_t)m->file_size);
    kiln_text_label(c, "File", sb_str(b));
    sb_clear(b);
    sb_printf(b, "%" PRId64, m->ir_version);
    kiln_text_label(c, "IR version", sb_str(b));
    const char *pname = kiln_inspect_str(m->producer_name);
    const char *pversion = kiln_inspect_str(m->producer_version);
    if (*pname || *pversion) {
        sb_clear(b);
        sb_put_text(b, pname, strlen(pname), 0, 0);
        if (*pname && *pversion) sb_puts(b, " ");
        sb_put_text(b, pversion, strlen(pversion), 0, 0);
        kiln_text_label(c, "Producer", sb_str(b));
    }
    if (m->domain && *m->domain) {
        sb_clear(b);
        sb_put_name(b, m->domain);
        kiln_text_label(c, "Domain", sb_str(b));
    }
    if (m->model_version) {
        sb_clear(b);
        sb_printf(b, "%" PRId64, m->model_version);
        kiln_text_label(c, "Model version", sb_str(b));
    }
}

static void kiln_text_opsets(inspect_ctx *c, sbuf *b) {
    sb_clear(b);
    for (int32_t i = 0; i < c->model->opset_count; i++) {
        const kiln_onnx_opset *o = &c->model->opsets[i];
        if (i) sb_puts(b, ", ");
        sb_put_name(b, kiln_inspect_opset_domain(o->domain));
        sb_printf(b, " %" PRId64, o->version);
    }
    kiln_text_label(c, "Opsets", c->model->opset_count ? sb_str(b) : "none");
}

static void kiln_text_functions(inspect_ctx *c, sbuf *b) {
    const kiln_onnx_model *m = c->model;
    sb_clear(b);
    sb_printf(b, "%" PRId32, m->function_count);
    for (int32_t i = 0; i < m->function_count && i < KILN_INSPECT_LIST_MAX; i++) {
        sb_puts(b, i ? ", " : " (");
        sb_put_op(b, m->functions[i].domain, m->functions[i].name);
    }
    if (m->function_count > KILN_INSPECT_LIST_MAX) sb_puts(b, ", ...");
    if (m->function_count) sb_puts(b, ")");
    kiln_text_label(c, "Functions", sb_str(b));
}

static void kiln_text_metadata(inspect_ctx *c, sbuf *b) {
    const kiln_onnx_model *m = c->model;
    if (!m->metadata_count) return;
    sb_clear(b);
    sb_printf(b, "%" PRId32 " %s", m->metadata_count,
              kiln_inspect_plural(m->metadata_count, "entry", "entries"));
    kiln_text_label(c, "Metadata", sb_str(b));
    for (int32_t i = 0; i < m->metadata_count; i++) {
        const char *value = kiln_inspect_str(m->metadata[i].value);
        sb_clear(b);
        sb_put_name(b, m->metadata[i].key);
        sb_puts(b, " = ");
        sb_put_quoted(b, value, strlen(value), 2 * KILN_INSPECT_STRING_MAX);
        fprintf(c->out, "  %s\n", sb_str(b));
    }
}

static void kiln_text_graph_line(inspect_ctx *c, sbuf *b) {
    const model_stats *st = &c->stats;
    char count[40];
    sb_clear(b);
    if (!c->graph) {
        kiln_text_label(c, "Graph", "none");
        return;
    }
    sb_put_name(b, c->graph->name);
    sb_printf(b, ", %s %s", kiln_inspect_count(count, sizeof count, (uint64_t)st->nodes),
              kiln_inspect_plural(st->nodes, "node", "nodes"));
    if (st->subgraphs)
        sb_printf(b, " (%" PRId64 " in %" PRId64 " %s)", st->subgraph_nodes, st->subgraphs,
                  kiln_inspect_plural(st->subgraphs, "subgraph", "subgraphs"));
    kiln_text_label(c, "Graph", sb_str(b));
}

/* One row of an inputs/outputs/initializers table. */
typedef struct table_row {
    sbuf name, type, shape;
} table_row;

static void kiln_text_table(inspect_ctx *c, table_row *rows, size_t n, int indent) {
    size_t wname = 0, wtype = 0;
    for (size_t i = 0; i < n; i++) {
        size_t w = kiln_inspect_width(sb_str(&rows[i].name));
        if (w > wname) wname = w;
        /* only rows with a shape column need their type padded */
        w = kiln_inspect_width(sb_str(&rows[i].type));
        if (rows[i].shape.len && w > wtype) wtype = w;
    }
    if (wname > KILN_INSPECT_NAME_COLUMN_MAX) wname = KILN_INSPECT_NAME_COLUMN_MAX;
    for (size_t i = 0; i < n; i++) {
        fprintf(c->out, "%*s", indent, "");
        kiln_inspect_print_padded(c->out, sb_str(&rows[i].name), wname);
        fputs("  ", c->out);
        if (rows[i].shape.len) {
            kiln_inspect_print_padded(c->out, sb_str(&rows[i].type), wtype);
            fprintf(c->out, "  %s\n", sb_str(&rows[i].shape));
        } else {
            fprintf(c->out, "%s\n", sb_str(&rows[i].type));
        }
    }
}

static void kiln_text_free_rows(table_row *rows, size_t n) {
    for (size_t i = 0; i < n; i++) {
        sb_free(&rows[i].name);
        sb_free(&rows[i].type);
        sb_free(&rows[i].shape);
    }
    free(rows);
}

/* A tensor's dtype and shape go in their own columns; other types are written whole. */
static void kiln_text_value_row(table_row *row, const kiln_onnx_value_info *v) {
    sb_put_name(&row->name, v->name);
    if (!v->type) {
        sb_puts(&row->type, "(no type)");
    } else if (v->type->kind == KILN_ONNX_TYPE_TENSOR) {
        sb_puts(&row->type, kiln_inspect_dtype(v->type->elem_type));
        sb_put_shape(&row->shape, v->type);
    } else if (v->type->kind == KILN_ONNX_TYPE_SPARSE_TENSOR) {
        sb_put_type(&row->type, v->type, 0);
        sb_put_shape(&row->shape, v->type);
    } else {
        sb_put_type(&row->type, v->type, 0);
    }
}

/* Prints value infos as a table; `skip_initializers` leaves out initializer-fed inputs. */
static void kiln_text_values(inspect_ctx *c, const char *title, const kiln_onnx_value_info *vs,
                             int32_t count, int skip_initializers, int indent) {
    table_row *rows = kiln_inspect_realloc(NULL, (size_t)count * sizeof *rows);
    size_t n = 0;
    for (int32_t i = 0; i < count; i++) {
        if (skip_initializers && kiln_inspect_is_initializer_input(c, &vs[i])) continue;
        memset(&rows[n], 0, sizeof rows[n]);
        kiln_text_value_row(&rows[n++], &vs[i]);
    }
    if (title) fprintf(c->out, "%*s%s (%zu):%s\n", indent - 2, "", title, n, n ? "" : " none");
    kiln_text_table(c, rows, n, indent);
    kiln_text_free_rows(rows, n);
}

static void kiln_text_initializer_inputs(inspect_ctx *c, sbuf *b) {
    const kiln_onnx_graph *g = c->graph;
    int64_t n = 0;
    sb_clear(b);
    for (int32_t i = 0; i < g->input_count; i++) {
        if (!kiln_inspect_is_initializer_input(c, &g->inputs[i])) continue;
        if (n < KILN_INSPECT_LIST_MAX) {
            if (n) sb_puts(b, ", ");
            sb_put_name(b, g->inputs[i].name);
        }
        n++;
    }
    if (!n) return;
    if (n > KILN_INSPECT_LIST_MAX) sb_printf(b, ", ... (%" PRId64 " total)", n);
    fprintf(c->out,
            "Initializer inputs (%" PRId64 ", constants with defaults, not listed above):\n", n);
    fprintf(c->out, "  %s\n", sb_str(b));
}

static void kiln_text_histogram(inspect_ctx *c) {
    const model_stats *st = &c->stats;
    size_t wname = 0;
    char count[40];
    int wcount =
        c->hist_count
            ? (int)strlen(kiln_inspect_count(count, sizeof count, (uint64_t)c->hist[0].count))
            : 0;
    fprintf(c->out, "Ops (%zu %s, %s %s", c->hist_count,
            kiln_inspect_plural((int64_t)c->hist_count, "type", "types"),
            kiln_inspect_count(count, sizeof count, (uint64_t)st->nodes),
            kiln_inspect_plural(st->nodes, "node", "nodes"));
    if (st->subgraphs) fprintf(c->out, ", %" PRId64 " of them in subgraphs", st->subgraph_nodes);
    fprintf(c->out, "):%s\n", c->hist_count ? "" : " none");
    for (size_t i = 0; i < c->hist_count; i++) {
        size_t w = kiln_inspect_width(c->hist[i].name);
        if (w > wname) wname = w;
    }
    for (size_t i = 0; i < c->hist_count; i++) {
        fputs("  ", c->out);
        kiln_inspect_print_padded(c->out, c->hist[i].name, wname);
        fprintf(c->out, "  %*s\n", wcount,
                kiln_inspect_count(count, sizeof count, (uint64_t)c->hist[i].count));
    }
}

static void kiln_text_dtype_breakdown(inspect_ctx *c, sbuf *b) {
    int64_t counts[KILN_INSPECT_DTYPE_BINS + 1];
    memcpy(counts, c->stats.dtypes, sizeof counts);
    sb_clear(b);
    /* Few bins: repeatedly take the largest, so the breakdown reads most common first. */
    for (;;) {
        int best = -1;
        for (int i = 0; i <= KILN_INSPECT_DTYPE_BINS; i++)
            if (counts[i] && (best < 0 || counts[i] > counts[best])) best = i;
        if (best < 0) break;
        if (b->len) sb_puts(b, ", ");
        sb_printf(b, "%s %" PRId64,
                  best == KILN_INSPECT_DTYPE_BINS ? "other" : kiln_inspect_dtype(best),
                  counts[best]);
        counts[best] = 0;
    }
    kiln_text_label(c, "  dtypes", sb_str(b));
}

static void kiln_text_parameters(inspect_ctx *c, sbuf *b) {
    const model_stats *st = &c->stats;
    char count[40];
    sb_clear(b);
    if (!st->initializers) {
        kiln_text_label(c, "Parameters", "none (no initializers)");
        return;
    }
    char inits[40];
    sb_printf(b, "%s in %s %s", kiln_inspect_count(count, sizeof count, (uint64_t)st->params),
              kiln_inspect_count(inits, sizeof inits, (uint64_t)st->initializers),
              kiln_inspect_plural(st->initializers, "initializer", "initializers"));
    if (st->subgraph_initializers)
        sb_printf(b, " (%" PRId64 " in subgraphs)", st->subgraph_initializers);
    if (st->sparse_initializers) sb_printf(b, " (%" PRId64 " sparse)", st->sparse_initializers);
    kiln_text_label(c, "Parameters", sb_str(b));
    sb_clear(b);
    sb_put_bytes(b, st->bytes);
    if (st->unsized) sb_printf(b, " (+%" PRId64 " too large to count)", st->unsized);
    kiln_text_label(c, "  size", sb_str(b));
    sb_clear(b);
    sb_printf(b, "%" PRId64 " %s", st->external,
              kiln_inspect_plural(st->external, "initializer", "initializers"));
    kiln_text_label(c, "  external", sb_str(b));
    kiln_text_dtype_breakdown(c, b);
}

/* ------------------------------------------------------------ text: nodes ---------- */

typedef void (*kiln_text_elem_fn)(sbuf *b, const kiln_onnx_attribute *a, int32_t i);

static void kiln_text_elem_float(sbuf *b, const kiln_onnx_attribute *a, int32_t i) {
    sb_printf(b, "%g", (double)a->floats[i]);
}

static void kiln_text_elem_int(sbuf *b, const kiln_onnx_attribute *a, int32_t i) {
    sb_printf(b, "%" PRId64, a->ints[i]);
}

static void kiln_text_elem_string(sbuf *b, const kiln_onnx_attribute *a, int32_t i) {
    sb_put_quoted(b, a->strings[i].data, a->strings[i].size, KILN_INSPECT_STRING_MAX);
}

static void sb_put_tensor(sbuf *b, const kiln_onnx_tensor *t) {
    if (!t) {
        sb_puts(b, "<tensor ?>");
        return;
    }
    sb_printf(b, "<tensor %s ", kiln_inspect_dtype(t->data_type));
    sb_put_dims(b, t->dims, t->rank);
    sb_puts(b, ">");
}

static void kiln_text_elem_tensor(sbuf *b, const kiln_onnx_attribute *a, int32_t i) {
    sb_put_tensor(b, a->tensors[i]);
}

static void sb_put_graph(sbuf *b, const kiln_onnx_graph *g) {
    if (!g) {
        sb_puts(b, "<graph ?>");
        return;
    }
    sb_puts(b, "<graph ");
    sb_put_name(b, g->name);
    sb_printf(b, ": %" PRId32 " %s>", g->node_count,
              kiln_inspect_plural(g->node_count, "node", "nodes"));
}

static void kiln_text_elem_graph(sbuf *b, const kiln_onnx_attribute *a, int32_t i) {
    sb_put_graph(b, a->graphs[i]);
}

static void sb_put_sparse(sbuf *b, const kiln_onnx_sparse_tensor *s) {
    if (!s) {
        sb_puts(b, "<sparse_tensor ?>");
        return;
    }
    sb_printf(b, "<sparse_tensor %s ",
              kiln_inspect_dtype(s->values ? s->values->data_type : KILN_DTYPE_UNDEFINED));
    sb_put_dims(b, s->dims, s->rank);
    sb_printf(b, ", %" PRId64 " values>", s->values ? s->values->element_count : 0);
}

static void kiln_text_elem_sparse(sbuf *b, const kiln_onnx_attribute *a, int32_t i) {
    sb_put_sparse(b, a->sparse_tensors[i]);
}

static void sb_put_type_proto(sbuf *b, const kiln_onnx_type *t) {
    sb_puts(b, "<type ");
    sb_put_type(b, t, 0);
    if (kiln_inspect_is_tensor(t)) sb_put_shape(b, t);
    sb_puts(b, ">");
}

static void kiln_text_elem_type(sbuf *b, const kiln_onnx_attribute *a, int32_t i) {
    sb_put_type_proto(b, a->type_protos[i]);
}

/* "[1, 2, 3]", cut after KILN_INSPECT_LIST_MAX elements with the total. `present` is 0 when
 * the list's array is missing, which then reads as empty. */
static void sb_put_list(sbuf *b, const kiln_onnx_attribute *a, int32_t count, int present,
                        kiln_text_elem_fn fn) {
    if (!present) count = 0;
    sb_puts(b, "[");
    for (int32_t i = 0; i < count && i < KILN_INSPECT_LIST_MAX; i++) {
        if (i) sb_puts(b, ", ");
        fn(b, a, i);
    }
    if (count > KILN_INSPECT_LIST_MAX) sb_printf(b, ", ... (%" PRId32 " total)", count);
    sb_puts(b, "]");
}

static void sb_put_attr_value(sbuf *b, const kiln_onnx_attribute *a) {
    if (a->ref_attr_name && *a->ref_attr_name) {
        /* inside a function: the value is the caller's attribute of that name */
        sb_puts(b, "@");
        sb_put_name(b, a->ref_attr_name);
        return;
    }
    switch (a->type) {
    case KILN_ONNX_ATTR_FLOAT:
        sb_printf(b, "%g", (double)a->f);
        break;
    case KILN_ONNX_ATTR_INT:
        sb_printf(b, "%" PRId64, a->i);
        break;
    case KILN_ONNX_ATTR_STRING:
        sb_put_quoted(b, a->s.data, a->s.size, KILN_INSPECT_STRING_MAX);
        break;
    case KILN_ONNX_ATTR_TENSOR:
        sb_put_tensor(b, a->t);
        break;
    case KILN_ONNX_ATTR_GRAPH:
        sb_put_graph(b, a->g);
        break;
    case KILN_ONNX_ATTR_SPARSE_TENSOR:
        sb_put_sparse(b, a->sparse_tensor);
        break;
    case KILN_ONNX_ATTR_TYPE_PROTO:
        sb_put_type_proto(b, a->tp);
        break;
    case KILN_ONNX_ATTR_FLOATS:
        sb_put_list(b, a, a->floats_count, a->floats != NULL, kiln_text_elem_float);
        break;
    case KILN_ONNX_ATTR_INTS:
        sb_put_list(b, a, a->ints_count, a->ints != NULL, kiln_text_elem_int);
        break;
    case KILN_ONNX_ATTR_STRINGS:
        sb_put_list(b, a, a->strings_count, a->strings != NULL, kiln_text_elem_string);
        break;
    case KILN_ONNX_ATTR_TENSORS:
        sb_put_list(b, a, a->tensors_count, a->tensors != NULL, kiln_text_elem_tensor);
        break;
    case KILN_ONNX_ATTR_GRAPHS:
        sb_put_list(b, a, a->graphs_count, a->graphs != NULL, kiln_text_elem_graph);
        break;
    case KILN_ONNX_ATTR_SPARSE_TENSORS:
        sb_put_list(b, a, a->sparse_tensors_count, a->sparse_tensors != NULL,
                    kiln_text_elem_sparse);
        break;
    case KILN_ONNX_ATTR_TYPE_PROTOS:
        sb_put_list(b, a, a->type_protos_count, a->type_protos != NULL, kiln_text_elem_type);
        break;
    default:
        sb_printf(b, "<%s>", kiln_onnx_attr_type_name(a->type));
        break;
    }
}

/* "x, W, B"; omitted optional inputs ("") show as <omitted>; "(none)" for no names. */
static void sb_put_names(sbuf *b, const char *const *names, int32_t count) {
    if (count <= 0 || !names) {
        sb_puts(b, "(none)");
        return;
    }
    for (int32_t i = 0; i < count; i++) {
        if (i) sb_puts(b, ", ");
        if (names[i] && *names[i])
            sb_put_name(b, names[i]);
        else
            sb_puts(b, "<omitted>");
    }
}

static void kiln_text_nodes(inspect_ctx *c, const kiln_onnx_node *nodes, int32_t count, int indent,
                            int depth);

static void kiln_text_subgraph(inspect_ctx *c, const kiln_onnx_graph *g, int indent, int depth) {
    if (!g) return;
    if (depth > KILN_INSPECT_MAX_DEPTH) {
        fprintf(c->out, "%*s... (subgraphs nested too deep)\n", indent, "");
        return;
    }
    sbuf b = {0};
    const char **names = kiln_inspect_realloc(NULL, ((size_t)g->input_count + 1) * sizeof *names);
    for (int32_t i = 0; i < g->input_count; i++) names[i] = g->inputs[i].name;
    sb_put_names(&b, names, g->input_count);
    sb_puts(&b, " -> ");
    names = kiln_inspect_realloc(names, ((size_t)g->output_count + 1) * sizeof *names);
    for (int32_t i = 0; i < g->output_count; i++) names[i] = g->outputs[i].name;
    sb_put_names(&b, names, g->output_count);
    fprintf(c->out, "%*sgraph io: %s\n", indent, "", sb_str(&b));
    free(names);
    sb_free(&b);
    kiln_text_nodes(c, g->nodes, g->node_count, indent, depth);
    if (!g->initializer_count) return;
    fprintf(c->out, "%*sinitializers (%" PRId32 "):\n", indent, "", g->initializer_count);
    table_row *rows = kiln_inspect_realloc(NULL, (size_t)g->initializer_count * sizeof *rows);
    memset(rows, 0, (size_t)g->initializer_count * sizeof *rows);
    for (int32_t i = 0; i < g->initializer_count; i++) {
        const kiln_onnx_tensor *t = &g->initializers[i];
        sb_put_name(&rows[i].name, t->name);
        sb_puts(&rows[i].type, kiln_inspect_dtype(t->data_type));
        sb_put_dims(&rows[i].shape, t->dims, t->rank);
    }
    kiln_text_table(c, rows, (size_t)g->initializer_count, indent + 2);
    kiln_text_free_rows(rows, (size_t)g->initializer_count);
}

/* One attribute line; a graph attribute is followed by its graph's nodes, indented. */
static void kiln_text_attribute(inspect_ctx *c, const kiln_onnx_attribute *a, int indent,
                                int depth) {
    sbuf b = {0};
    int is_ref = a->ref_attr_name && *a->ref_attr_name;
    int is_graphs = a->type == KILN_ONNX_ATTR_GRAPHS && a->graphs && !is_ref;
    for (int32_t k = 0; is_graphs && k < a->graphs_count; k++) {
        sb_clear(&b);
        sb_put_name(&b, a->name);
        sb_printf(&b, "[%" PRId32 "]=", k);
        sb_put_graph(&b, a->graphs[k]);
        fprintf(c->out, "%*s%s\n", indent, "", sb_str(&b));
        kiln_text_subgraph(c, a->graphs[k], indent + 2, depth + 1);
    }
    if (!is_graphs) {
        sb_put_name(&b, a->name);
        sb_puts(&b, "=");
        sb_put_attr_value(&b, a);
        fprintf(c->out, "%*s%s\n", indent, "", sb_str(&b));
        if (a->type == KILN_ONNX_ATTR_GRAPH && !is_ref)
            kiln_text_subgraph(c, a->g, indent + 2, depth + 1);
    }
    sb_free(&b);
}

static void kiln_text_node(inspect_ctx *c, const kiln_onnx_node *n, int32_t index, int indent,
                           int depth) {
    sbuf b = {0};
    sb_printf(&b, "[%" PRId32 "] ", index);
    sb_put_op(&b, n->domain, n->op_type);
    if (n->name && *n->name) {
        sb_puts(&b, " (");
        sb_put_name(&b, n->name);
        sb_puts(&b, ")");
    }
    sb_puts(&b, ": ");
    sb_put_names(&b, n->inputs, n->input_count);
    sb_puts(&b, " -> ");
    sb_put_names(&b, n->outputs, n->output_count);
    fprintf(c->out, "%*s%s\n", indent, "", sb_str(&b));
    sb_free(&b);
    for (int32_t i = 0; i < n->attribute_count; i++)
        kiln_text_attribute(c, &n->attributes[i], indent + 4, depth);
}

static void kiln_text_nodes(inspect_ctx *c, const kiln_onnx_node *nodes, int32_t count, int indent,
                            int depth) {
    for (int32_t i = 0; i < count; i++) kiln_text_node(c, &nodes[i], i, indent, depth);
}

static void kiln_text_initializers(inspect_ctx *c) {
    const kiln_onnx_graph *g = c->graph;
    int32_t n = g->initializer_count;
    fprintf(c->out, "\nInitializers (%" PRId32 "):%s\n", n, n ? "" : " none");
    table_row *rows = kiln_inspect_realloc(NULL, (size_t)n * sizeof *rows);
    memset(rows, 0, (size_t)n * sizeof *rows);
    for (int32_t i = 0; i < n; i++) {
        const kiln_onnx_tensor *t = &g->initializers[i];
        sb_put_name(&rows[i].name, t->name);
        sb_puts(&rows[i].type, kiln_inspect_dtype(t->data_type));
        sb_put_dims(&rows[i].shape, t->dims, t->rank);
        if (kiln_inspect_is_external(t)) {
            sb_puts(&rows[i].shape, "  external: ");
            sb_put_name(&rows[i].shape, t->external_location);
        }
    }
    kiln_text_table(c, rows, (size_t)n, 2);
    kiln_text_free_rows(rows, (size_t)n);
    for (int32_t i = 0; i < g->sparse_initializer_count; i++) {
        sbuf b = {0};
        const kiln_onnx_sparse_tensor *s = &g->sparse_initializers[i];
        sb_put_name(&b, s->values ? s->values->name : NULL);
        sb_puts(&b, "  ");
        sb_put_sparse(&b, s);
        fprintf(c->out, "  %s\n", sb_str(&b));
        sb_free(&b);
    }
}

static void kiln_text_function_nodes(inspect_ctx *c) {
    for (int32_t i = 0; i < c->model->function_count; i++) {
        const kiln_onnx_function *f = &c->model->functions[i];
        sbuf b = {0};
        sb_put_op(&b, f->domain, f->name);
        sb_puts(&b, ": ");
        sb_put_names(&b, f->inputs, f->input_count);
        sb_puts(&b, " -> ");
        sb_put_names(&b, f->outputs, f->output_count);
        for (int32_t k = 0; k < f->attribute_count && f->attributes; k++) {
            sb_puts(&b, k ? ", " : "; attributes: ");
            sb_put_name(&b, f->attributes[k]);
        }
        for (int32_t k = 0; k < f->attribute_proto_count && f->attribute_protos; k++) {
            sb_puts(&b, k || f->attribute_count ? ", " : "; attributes: ");
            sb_put_name(&b, f->attribute_protos[k].name);
            sb_puts(&b, "=");
            sb_put_attr_value(&b, &f->attribute_protos[k]);
        }
        fprintf(c->out, "\nFunction %s\n", sb_str(&b));
        sb_free(&b);
        kiln_text_nodes(c, f->nodes, f->node_count, 2, 1);
    }
}

static void kiln_text_report(inspect_ctx *c) {
    sbuf b = {0};
    kiln_text_model_fields(c, &b);
    kiln_text_opsets(c, &b);
    kiln_text_functions(c, &b);
    kiln_text_metadata(c, &b);
    kiln_text_graph_line(c, &b);
    if (c->graph) {
        fputc('\n', c->out);
        kiln_text_values(c, "Inputs", c->graph->inputs, c->graph->input_count, 1, 2);
        kiln_text_initializer_inputs(c, &b);
        kiln_text_values(c, "Outputs", c->graph->outputs, c->graph->output_count, 0, 2);
        fputc('\n', c->out);
        kiln_text_histogram(c);
        fputc('\n', c->out);
        kiln_text_parameters(c, &b);
    }
    if (c->stats.too_deep) fprintf(c->out, "(subgraphs nested too deep were not counted)\n");
    if (c->opts->nodes && c->graph) {
        fprintf(c->out, "\nNodes (%" PRId32 "):%s\n", c->graph->node_count,
                c->graph->node_count ? "" : " none");
        kiln_text_nodes(c, c->graph->nodes, c->graph->node_count, 2, 0);
        kiln_text_initializers(c);
    }
    if (c->opts->nodes) kiln_text_function_nodes(c);
    sb_free(&b);
}

/* ------------------------------------------------------------ JSON ----------------- */

static void kiln_json_key_string(kiln_json_writer *w, const char *key, const char *value) {
    kiln_json_key(w, key);
    kiln_json_string(w, kiln_inspect_str(value));
}

static void kiln_json_key_int(kiln_json_writer *w, const char *key, int64_t value) {
    kiln_json_key(w, key);
    kiln_json_int(w, value);
}

static void kiln_json_names(kiln_json_writer *w, const char *const *names, int32_t count) {
    kiln_json_begin_array_inline(w);
    for (int32_t i = 0; i < count && names; i++) kiln_json_string(w, kiln_inspect_str(names[i]));
    kiln_json_end(w);
}

/* Symbolic dims are strings, unknown dims null. */
static void kiln_json_shape(kiln_json_writer *w, const kiln_onnx_type *t) {
    if (!kiln_inspect_is_tensor(t) || !t->has_shape) {
        kiln_json_null(w);
        return;
    }
    kiln_json_begin_array_inline(w);
    for (int32_t i = 0; i < t->rank && t->dims; i++) {
        const kiln_onnx_dim *d = &t->dims[i];
        if (d->has_value)
            kiln_json_int(w, d->value);
        else if (d->param && *d->param)
            kiln_json_string(w, d->param);
        else
            kiln_json_null(w);
    }
    kiln_json_end(w);
}

static void kiln_json_dims(kiln_json_writer *w, const int64_t *dims, int32_t rank) {
    kiln_json_begin_array_inline(w);
    for (int32_t i = 0; i < rank && dims; i++) kiln_json_int(w, dims[i]);
    kiln_json_end(w);
}

static void kiln_json_type_string(kiln_json_writer *w, const kiln_onnx_type *t) {
    sbuf b = {0};
    if (t) sb_put_type(&b, t, 0);
    if (t)
        kiln_json_string(w, sb_str(&b));
    else
        kiln_json_null(w);
    sb_free(&b);
}

static void kiln_json_value_info(kiln_json_writer *w, const kiln_onnx_value_info *v) {
    kiln_json_begin_object(w);
    kiln_json_key_string(w, "name", v->name);
    kiln_json_key(w, "type");
    kiln_json_type_string(w, v->type);
    kiln_json_key(w, "dtype");
    kiln_json_string(w, kiln_inspect_is_tensor(v->type) ? kiln_inspect_dtype(v->type->elem_type)
                                                        : NULL);
    kiln_json_key(w, "shape");
    kiln_json_shape(w, v->type);
    kiln_json_end(w);
}

static void kiln_json_values(inspect_ctx *c, kiln_json_writer *w, const kiln_onnx_value_info *vs,
                             int32_t count, int skip_initializers) {
    kiln_json_begin_array(w);
    for (int32_t i = 0; i < count; i++)
        if (!skip_initializers || !kiln_inspect_is_initializer_input(c, &vs[i]))
            kiln_json_value_info(w, &vs[i]);
    kiln_json_end(w);
}

static void kiln_json_initializer_inputs(inspect_ctx *c, kiln_json_writer *w) {
    kiln_json_begin_array(w);
    for (int32_t i = 0; c->graph && i < c->graph->input_count; i++)
        if (kiln_inspect_is_initializer_input(c, &c->graph->inputs[i]))
            kiln_json_string(w, kiln_inspect_str(c->graph->inputs[i].name));
    kiln_json_end(w);
}

static void kiln_json_entries(kiln_json_writer *w, const kiln_onnx_string_entry *e, int32_t n) {
    kiln_json_begin_object(w);
    for (int32_t i = 0; i < n; i++) kiln_json_key_string(w, e[i].key, e[i].value);
    kiln_json_end(w);
}

static void kiln_json_tensor(kiln_json_writer *w, const kiln_onnx_tensor *t) {
    kiln_json_begin_object(w);
    if (t) {
        kiln_json_key_string(w, "name", t->name);
        kiln_json_key_string(w, "dtype", kiln_inspect_dtype(t->data_type));
        kiln_json_key(w, "shape");
        kiln_json_dims(w, t->dims, t->rank);
        if (kiln_inspect_is_external(t)) kiln_json_key_string(w, "external", t->external_location);
    }
    kiln_json_end(w);
}

static void kiln_json_sparse(kiln_json_writer *w, const kiln_onnx_sparse_tensor *s) {
    kiln_json_begin_object(w);
    kiln_json_key_string(w, "kind", "sparse_tensor");
    if (s) {
        kiln_json_key_string(w, "name", s->values ? s->values->name : NULL);
        kiln_json_key_string(w, "dtype", kiln_inspect_dtype(s->values ? s->values->data_type : 0));
        kiln_json_key(w, "shape");
        kiln_json_dims(w, s->dims, s->rank);
        kiln_json_key_int(w, "values", s->values ? s->values->element_count : 0);
    }
    kiln_json_end(w);
}

static void kiln_json_nodes(inspect_ctx *c, kiln_json_writer *w, const kiln_onnx_node *nodes,
                            int32_t count, int depth);

static void kiln_json_initializers(kiln_json_writer *w, const kiln_onnx_graph *g) {
    kiln_json_begin_array(w);
    for (int32_t i = 0; i < g->initializer_count; i++) kiln_json_tensor(w, &g->initializers[i]);
    for (int32_t i = 0; i < g->sparse_initializer_count; i++)
        kiln_json_sparse(w, &g->sparse_initializers[i]);
    kiln_json_end(w);
}

static void kiln_json_graph(inspect_ctx *c, kiln_json_writer *w, const kiln_onnx_graph *g,
                            int depth) {
    kiln_json_begin_object(w);
    kiln_json_key_string(w, "kind", "graph");
    if (g) {
        kiln_json_key_string(w, "name", g->name);
        kiln_json_key_int(w, "node_count", g->node_count);
    }
    if (g && depth > KILN_INSPECT_MAX_DEPTH) {
        kiln_json_key(w, "truncated");
        kiln_json_bool(w, 1);
    } else if (g) {
        kiln_json_key(w, "inputs");
        kiln_json_values(c, w, g->inputs, g->input_count, 0);
        kiln_json_key(w, "outputs");
        kiln_json_values(c, w, g->outputs, g->output_count, 0);
        kiln_json_key(w, "initializers");
        kiln_json_initializers(w, g);
        kiln_json_key(w, "nodes");
        kiln_json_nodes(c, w, g->nodes, g->node_count, depth);
    }
    kiln_json_end(w);
}

/* Attribute values as JSON values: numbers, strings, arrays, and objects with a "kind"
 * for tensors, graphs and the rest. */
static void kiln_json_attr_value(inspect_ctx *c, kiln_json_writer *w, const kiln_onnx_attribute *a,
                                 int depth) {
    if (a->ref_attr_name && *a->ref_attr_name) {
        kiln_json_begin_object(w);
        kiln_json_key_string(w, "ref", a->ref_attr_name);
        kiln_json_end(w);
        return;
    }
    switch (a->type) {
    case KILN_ONNX_ATTR_FLOAT:
        kiln_json_float(w, a->f);
        return;
    case KILN_ONNX_ATTR_INT:
        kiln_json_int(w, a->i);
        return;
    case KILN_ONNX_ATTR_STRING:
        kiln_json_string_n(w, a->s.data, a->s.size);
        return;
    case KILN_ONNX_ATTR_TENSOR:
        kiln_json_tensor(w, a->t);
        return;
    case KILN_ONNX_ATTR_GRAPH:
        kiln_json_graph(c, w, a->g, depth + 1);
        return;
    case KILN_ONNX_ATTR_SPARSE_TENSOR:
        kiln_json_sparse(w, a->sparse_tensor);
        return;
    case KILN_ONNX_ATTR_TYPE_PROTO:
        kiln_json_type_string(w, a->tp);
        return;
    default:
        break;
    }
    kiln_json_begin_array_inline(w);
    for (int32_t i = 0; a->type == KILN_ONNX_ATTR_FLOATS && a->floats && i < a->floats_count; i++)
        kiln_json_float(w, a->floats[i]);
    for (int32_t i = 0; a->type == KILN_ONNX_ATTR_INTS && a->ints && i < a->ints_count; i++)
        kiln_json_int(w, a->ints[i]);
    for (int32_t i = 0; a->type == KILN_ONNX_ATTR_STRINGS && a->strings && i < a->strings_count;
         i++)
        kiln_json_string_n(w, a->strings[i].data, a->strings[i].size);
    for (int32_t i = 0; a->type == KILN_ONNX_ATTR_TENSORS && a->tensors && i < a->tensors_count;
         i++)
        kiln_json_tensor(w, a->tensors[i]);
    for (int32_t i = 0; a->type == KILN_ONNX_ATTR_GRAPHS && a->graphs && i < a->graphs_count; i++)
        kiln_json_graph(c, w, a->graphs[i], depth + 1);
    for (int32_t i = 0; a->type == KILN_ONNX_ATTR_SPARSE_TENSORS && a->sparse_tensors &&
                        i < a->sparse_tensors_count;
         i++)
        kiln_json_sparse(w, a->sparse_tensors[i]);
    for (int32_t i = 0;
         a->type == KILN_ONNX_ATTR_TYPE_PROTOS && a->type_protos && i < a->type_protos_count; i++)
        kiln_json_type_string(w, a->type_protos[i]);
    kiln_json_end(w);
}

static void kiln_json_node(inspect_ctx *c, kiln_json_writer *w, const kiln_onnx_node *n,
                           int depth) {
    kiln_json_begin_object(w);
    kiln_json_key_string(w, "name", n->name);
    kiln_json_key_string(w, "op_type", n->op_type);
    kiln_json_key_string(w, "domain", n->domain);
    kiln_json_key(w, "inputs");
    kiln_json_names(w, n->inputs, n->input_count);
    kiln_json_key(w, "outputs");
    kiln_json_names(w, n->outputs, n->output_count);
    kiln_json_key(w, "attributes");
    kiln_json_begin_object(w);
    for (int32_t i = 0; i < n->attribute_count; i++) {
        kiln_json_key(w, kiln_inspect_str(n->attributes[i].name));
        kiln_json_attr_value(c, w, &n->attributes[i], depth);
    }
    kiln_json_end(w);
    kiln_json_end(w);
}

static void kiln_json_nodes(inspect_ctx *c, kiln_json_writer *w, const kiln_onnx_node *nodes,
                            int32_t count, int depth) {
    kiln_json_begin_array(w);
    for (int32_t i = 0; i < count; i++) kiln_json_node(c, w, &nodes[i], depth);
    kiln_json_end(w);
}

static void kiln_json_model_fields(inspect_ctx *c, kiln_json_writer *w) {
    const kiln_onnx_model *m = c->model;
    kiln_json_key_string(w, "file", c->opts->path);
    kiln_json_key(w, "file_size");
    kiln_json_uint(w, (uint64_t)m->file_size);
    kiln_json_key_int(w, "ir_version", m->ir_version);
    kiln_json_key_string(w, "producer_name", m->producer_name);
    kiln_json_key_string(w, "producer_version", m->producer_version);
    kiln_json_key_string(w, "domain", m->domain);
    kiln_json_key_int(w, "model_version", m->model_version);
    kiln_json_key(w, "opsets");
    kiln_json_begin_array(w);
    for (int32_t i = 0; i < m->opset_count; i++) {
        kiln_json_begin_object(w);
        kiln_json_key_string(w, "domain", kiln_inspect_opset_domain(m->opsets[i].domain));
        kiln_json_key_int(w, "version", m->opsets[i].version);
        kiln_json_end(w);
    }
    kiln_json_end(w);
    kiln_json_key(w, "metadata");
    kiln_json_entries(w, m->metadata, m->metadata_count);
}

static void kiln_json_functions(inspect_ctx *c, kiln_json_writer *w) {
    kiln_json_key(w, "functions");
    kiln_json_begin_array(w);
    for (int32_t i = 0; i < c->model->function_count; i++) {
        const kiln_onnx_function *f = &c->model->functions[i];
        kiln_json_begin_object(w);
        kiln_json_key_string(w, "name", f->name);
        kiln_json_key_string(w, "domain", f->domain);
        kiln_json_key(w, "inputs");
        kiln_json_names(w, f->inputs, f->input_count);
        kiln_json_key(w, "outputs");
        kiln_json_names(w, f->outputs, f->output_count);
        kiln_json_key(w, "attributes");
        kiln_json_names(w, f->attributes, f->attribute_count);
        kiln_json_key(w, "attribute_defaults");
        kiln_json_begin_object(w);
        for (int32_t k = 0; k < f->attribute_proto_count && f->attribute_protos; k++) {
            kiln_json_key(w, kiln_inspect_str(f->attribute_protos[k].name));
            kiln_json_attr_value(c, w, &f->attribute_protos[k], 1);
        }
        kiln_json_end(w);
        kiln_json_key_int(w, "node_count", f->node_count);
        if (c->opts->nodes) {
            kiln_json_key(w, "nodes");
            kiln_json_nodes(c, w, f->nodes, f->node_count, 1);
        }
        kiln_json_end(w);
    }
    kiln_json_end(w);
}

static void kiln_json_parameters(inspect_ctx *c, kiln_json_writer *w) {
    const model_stats *st = &c->stats;
    kiln_json_key(w, "parameters");
    kiln_json_begin_object(w);
    kiln_json_key_int(w, "count", st->params);
    kiln_json_key(w, "bytes");
    kiln_json_uint(w, st->bytes);
    kiln_json_key_int(w, "initializers", st->initializers);
    kiln_json_key_int(w, "subgraph_initializers", st->subgraph_initializers);
    kiln_json_key_int(w, "sparse_initializers", st->sparse_initializers);
    kiln_json_key_int(w, "external", st->external);
    kiln_json_key_int(w, "unsized", st->unsized);
    kiln_json_key(w, "dtypes");
    kiln_json_begin_object(w);
    for (int i = 0; i <= KILN_INSPECT_DTYPE_BINS; i++)
        if (st->dtypes[i])
            kiln_json_key_int(w, i == KILN_INSPECT_DTYPE_BINS ? "other" : kiln_inspect_dtype(i),
                              st->dtypes[i]);
    kiln_json_end(w);
    kiln_json_end(w);
}

static void kiln_json_graph_summary(inspect_ctx *c, kiln_json_writer *w) {
    const kiln_onnx_graph *g = c->graph;
    kiln_json_key_string(w, "graph_name", g ? g->name : NULL);
    kiln_json_key_int(w, "node_count", c->stats.nodes);
    kiln_json_key_int(w, "subgraph_node_count", c->stats.subgraph_nodes);
    kiln_json_key(w, "inputs");
    kiln_json_values(c, w, g ? g->inputs : NULL, g ? g->input_count : 0, 1);
    kiln_json_key(w, "initializer_inputs");
    kiln_json_initializer_inputs(c, w);
    kiln_json_key(w, "outputs");
    kiln_json_values(c, w, g ? g->outputs : NULL, g ? g->output_count : 0, 0);
    kiln_json_key(w, "op_histogram");
    kiln_json_begin_object(w);
    for (size_t i = 0; i < c->hist_count; i++)
        kiln_json_key_int(w, c->hist[i].name, c->hist[i].count);
    kiln_json_end(w);
}

static int kiln_json_report(inspect_ctx *c) {
    kiln_json_writer w;
    kiln_json_writer_init(&w, c->out, 2);
    kiln_json_begin_object(&w);
    kiln_json_model_fields(c, &w);
    kiln_json_functions(c, &w);
    kiln_json_graph_summary(c, &w);
    kiln_json_parameters(c, &w);
    if (c->opts->nodes && c->graph) {
        kiln_json_key(&w, "nodes");
        kiln_json_nodes(c, &w, c->graph->nodes, c->graph->node_count, 0);
        kiln_json_key(&w, "initializers");
        kiln_json_initializers(&w, c->graph);
    }
    kiln_json_end(&w);
    return kiln_json_writer_finish(&w);
}

/* ------------------------------------------------------------ the command ---------- */

static void kiln_inspect_usage(FILE *f) {
    fprintf(f, "usage: kiln inspect MODEL.onnx [--nodes] [--json]\n"
               "Describes an ONNX model: inputs, outputs, ops, parameters.\n"
               "  --nodes   also list every node (with subgraphs), initializer and function\n"
               "  --json    write one JSON object instead of text\n"
               "  --help    show this help\n");
}

/* Returns 0 to go on, 1 when help was asked for, 2 on a usage error. */
static int kiln_inspect_parse_args(int argc, char **argv, inspect_opts *o) {
    int options_done = 0;
    memset(o, 0, sizeof *o);
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (!options_done && arg[0] == '-' && arg[1]) {
            if (!strcmp(arg, "--")) {
                options_done = 1;
            } else if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
                kiln_inspect_usage(stdout);
                return 1;
            } else if (!strcmp(arg, "--nodes")) {
                o->nodes = 1;
            } else if (!strcmp(arg, "--json")) {
                o->json = 1;
            } else {
                fprintf(stderr, "kiln inspect: unknown option '%s'\n", arg);
                return 2;
            }
        } else if (o->path) {
            fprintf(stderr, "kiln inspect: more than one model given ('%s', '%s')\n", o->path, arg);
            return 2;
        } else {
            o->path = arg;
        }
    }
    if (!o->path) {
        fprintf(stderr, "kiln inspect: no model given\n");
        return 2;
    }
    return 0;
}

static void kiln_inspect_prepare(inspect_ctx *c) {
    kiln_inspect_walk_graph(&c->stats, c->graph, 0);
    for (int32_t i = 0; c->graph && i < c->graph->initializer_count; i++)
        pair_map_add(&c->initializer_names, c->graph->initializers[i].name, "");
    c->hist = kiln_inspect_histogram(&c->stats.ops, &c->hist_count);
}

static void kiln_inspect_release(inspect_ctx *c) {
    kiln_inspect_histogram_free(c->hist, c->hist_count);
    pair_map_free(&c->initializer_names);
    pair_map_free(&c->stats.ops);
}

int kiln_cli_inspect(int argc, char **argv) {
    inspect_opts opts;
    int rc = kiln_inspect_parse_args(argc, argv, &opts);
    if (rc == 1) return 0;
    if (rc) {
        kiln_inspect_usage(stderr);
        return 2;
    }
    kiln_onnx_model *model = NULL;
    if (kiln_onnx_model_load_file(opts.path, &model) != KILN_OK) {
        const char *msg = kiln_last_error();
        /* The message should name the file; make sure the user sees which one failed. */
        if (strstr(msg, opts.path))
            fprintf(stderr, "kiln: error: %s\n", msg);
        else
            fprintf(stderr, "kiln: error: %s: %s\n", opts.path, msg);
        return 1;
    }
    inspect_ctx c;
    memset(&c, 0, sizeof c);
    c.out = stdout;
    c.opts = &opts;
    c.model = model;
    c.graph = model->graph;
    kiln_inspect_prepare(&c);
    int bad_json = 0;
    if (opts.json)
        bad_json = kiln_json_report(&c);
    else
        kiln_text_report(&c);
    kiln_inspect_release(&c);
    kiln_onnx_model_destroy(model);
    if (fflush(stdout) || ferror(stdout) || bad_json) {
        fprintf(stderr, "kiln: error: %s\n",
                bad_json ? "internal error writing JSON" : "could not write the report");
        return 1;
    }
    return 0;
}
