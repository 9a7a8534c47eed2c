/*
 * Plan bytes -> engine. Nothing is trusted: the header and section table are checked
 * (magic, versions, sizes, checksums) before any section is read, every count is bounded
 * by the bytes left, every index by its table, every weight by the WEIGHTS section.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan/byte_io.h"
#include "plan/plan_format.h"

typedef struct kiln_plan_in {
    const uint8_t *weights;
    uint64_t weights_size;
    int borrow;
} kiln_plan_in;

static kiln_status kiln_plan_fail(const char *fmt, const char *a, unsigned long long b,
                                  unsigned long long c) {
    char msg[512];
    snprintf(msg, sizeof msg, fmt, a, b, c);
    return kiln_error(KILN_ERR_PLAN, "%s", msg);
}

static int kiln_plan_dtype_ok(uint32_t d) {
    return d >= 1 && d <= KILN_DTYPE_INT2;
}

/* A dtype field: the kiln_dtype in bits 0..7, the value kind (kiln_value_kind) in bits
 * 8..15, zeros above. Returns 0 when the kind or the upper bits are wrong. */
static int kiln_plan_split_dtype(uint32_t field, uint32_t *dtype, uint8_t *kind) {
    *dtype = field & 0xffu;
    *kind = (uint8_t)(field >> 8 & 0xffu);
    return (field >> 16) == 0 && *kind <= KILN_VALUE_OPTIONAL_SEQUENCE && *kind != KILN_VALUE_NONE;
}

static kiln_status kiln_plan_read_graph(kiln_reader *r, const kiln_plan_in *in, kiln_graph *parent,
                                        int depth, kiln_graph **out);

/* Elements of a constant's shape, or -1 when a dim is negative or the count is too large
 * to size in bits. kiln_shape_count wraps on overflow, and a wrapped count can match the
 * byte size of the data: a weight [2^56 + 32, 16, 3, 3] would pass as 18,432 bytes. */
static int64_t kiln_plan_shape_count(uint32_t rank, const int64_t *dims) {
    int64_t n = 1;
    for (uint32_t d = 0; d < rank; d++) {
        if (dims[d] < 0) return -1;
        if (dims[d] > 0 && n > INT64_MAX / 128 / dims[d]) return -1; /* 128: the widest dtype */
        n *= dims[d];
    }
    return n;
}

static void kiln_plan_read_dims(kiln_reader *r, int64_t *dims, uint32_t rank) {
    for (uint32_t d = 0; d < rank; d++) dims[d] = kiln_read_i64(r);
}

static void kiln_plan_read_attr(kiln_reader *r, const kiln_plan_in *in, kiln_graph *g,
                                int32_t node, int depth) {
    char *name = kiln_read_str(r);
    uint32_t type = kiln_read_u32(r);
    if (r->status != KILN_OK) {
        free(name);
        return;
    }
    kiln_attr *a = NULL;
    if (type < KILN_ATTR_INT || type > KILN_ATTR_GRAPHS) {
        kiln_reader_fail(r, "attribute '%s' has unknown type %u", name, type);
    } else if (kiln_node_add_attr(g, node, name, (kiln_attr_type)type, &a) != KILN_OK) {
        r->status = KILN_ERR_OUT_OF_MEMORY;
    }
    free(name);
    if (!a) return;
    switch (a->type) {
    case KILN_ATTR_INT: a->i = kiln_read_i64(r); break;
    case KILN_ATTR_FLOAT: a->f = kiln_read_f32(r); break;
    case KILN_ATTR_STRING: {
        uint32_t n = kiln_read_count(r, 1, "string bytes");
        a->s = malloc((size_t)n + 1);
        if (!a->s) break;
        kiln_read_bytes(r, a->s, n);
        a->s[n] = '\0';
        a->s_len = n;
        break;
    }
    case KILN_ATTR_INTS:
    case KILN_ATTR_FLOATS: {
        size_t size = a->type == KILN_ATTR_INTS ? 8 : 4;
        a->count = (int32_t)kiln_read_count(r, size, "attribute values");
        void *p = malloc(size * (size_t)(a->count ? a->count : 1));
        if (!p) break;
        kiln_read_bytes(r, p, size * (size_t)a->count);
        if (a->type == KILN_ATTR_INTS) a->ints = p;
        else a->floats = p;
        break;
    }
    case KILN_ATTR_STRINGS:
        a->count = (int32_t)kiln_read_count(r, 4, "strings");
        a->strings = calloc((size_t)(a->count ? a->count : 1), sizeof(char *));
        for (int32_t i = 0; a->strings && i < a->count; i++) a->strings[i] = kiln_read_str(r);
        break;
    case KILN_ATTR_TENSOR: {
        a->tensor = calloc(1, sizeof *a->tensor);
        if (!a->tensor) break;
        uint32_t dtype = kiln_read_u32(r), rank = kiln_read_u32(r);
        if (!kiln_plan_dtype_ok(dtype) || rank > KILN_MAX_DIMS) {
            kiln_reader_fail(r, "tensor attribute with dtype %u, rank %u", dtype, rank);
            break;
        }
        a->tensor->dtype = (kiln_dtype)dtype;
        a->tensor->rank = (int32_t)rank;
        kiln_plan_read_dims(r, a->tensor->dims, rank);
        uint64_t nbytes = kiln_read_u64(r);
        int64_t count = kiln_plan_shape_count(rank, a->tensor->dims);
        if (count < 0 || nbytes != kiln_dtype_nbytes((kiln_dtype)dtype, count) ||
            nbytes > r->size - r->pos) {
            kiln_reader_fail(r, "tensor attribute of %llu bytes does not match its shape",
                             (unsigned long long)nbytes);
            break;
        }
        a->tensor->data = malloc((size_t)nbytes + 1);
        a->tensor->nbytes = (size_t)nbytes;
        if (a->tensor->data) kiln_read_bytes(r, a->tensor->data, (size_t)nbytes);
        break;
    }
    case KILN_ATTR_GRAPH: kiln_plan_read_graph(r, in, g, depth + 1, &a->graph); break;
    case KILN_ATTR_GRAPHS:
        a->count = (int32_t)kiln_read_count(r, 16, "graphs");
        a->graphs = calloc((size_t)(a->count ? a->count : 1), sizeof(kiln_graph *));
        for (int32_t i = 0; a->graphs && i < a->count && r->status == KILN_OK; i++)
            kiln_plan_read_graph(r, in, g, depth + 1, &a->graphs[i]);
        break;
    }
}

static void kiln_plan_read_tensor(kiln_reader *r, const kiln_plan_in *in, kiln_graph *g) {
    char *name = kiln_read_str(r);
    uint32_t dtype_field = kiln_read_u32(r), rank = kiln_read_u32(r), dtype;
    uint8_t kind;
    int kind_ok = kiln_plan_split_dtype(dtype_field, &dtype, &kind);
    if (r->status == KILN_OK &&
        (!kind_ok || dtype > KILN_DTYPE_INT2 || (rank > KILN_MAX_DIMS && rank != UINT32_MAX)))
        kiln_reader_fail(r, "tensor '%s' has dtype %u and rank %u", name, dtype_field, rank);
    int64_t dims[KILN_MAX_DIMS];
    char *dim_names[KILN_MAX_DIMS] = {0};
    int32_t srank = rank == UINT32_MAX ? -1 : (int32_t)rank;
    for (int32_t d = 0; d < srank && r->status == KILN_OK; d++) {
        dims[d] = kiln_read_i64(r);
        dim_names[d] = kiln_read_str(r);
    }
    int32_t producer = (int32_t)kiln_read_u32(r);
    uint32_t has_data = kiln_read_u32(r);
    uint64_t offset = 0, nbytes = 0;
    if (has_data) {
        offset = kiln_read_u64(r);
        nbytes = kiln_read_u64(r);
        int64_t count = r->status == KILN_OK && srank >= 0 ? kiln_plan_shape_count(rank, dims) : -1;
        if (r->status == KILN_OK &&
            (count < 0 || nbytes != kiln_dtype_nbytes((kiln_dtype)dtype, count) ||
             offset > in->weights_size || nbytes > in->weights_size - offset))
            kiln_reader_fail(r, "weights of '%s' (%llu bytes at %llu) do not fit its shape or the "
                                "WEIGHTS section",
                             name, (unsigned long long)nbytes, (unsigned long long)offset);
    }
    int32_t index = -1;
    if (r->status == KILN_OK &&
        kiln_graph_add_tensor(g, name, (kiln_dtype)dtype, srank, dims, &index) != KILN_OK)
        r->status = KILN_ERR_OUT_OF_MEMORY;
    if (index >= 0) {
        kiln_ir_tensor *t = &g->tensors[index];
        t->producer = producer;
        t->kind = kind;
        for (int32_t d = 0; d < srank; d++) {
            t->dim_names[d] = dim_names[d] && *dim_names[d] ? dim_names[d] : NULL;
            if (!t->dim_names[d]) free(dim_names[d]);
            dim_names[d] = NULL;
        }
        if (has_data) {
            if (in->borrow) {
                t->data = (void *)(in->weights + offset);
                t->nbytes = (size_t)nbytes;
                t->borrowed = 1;
            } else if (kiln_graph_set_constant(g, index, in->weights + offset, (size_t)nbytes) !=
                       KILN_OK) {
                r->status = KILN_ERR_OUT_OF_MEMORY;
            }
        }
    }
    for (int32_t d = 0; d < KILN_MAX_DIMS; d++) free(dim_names[d]);
    free(name);
}

static void kiln_plan_read_indices(kiln_reader *r, int32_t *dst, uint32_t n, int32_t limit,
                                   int allow_none, const char *what) {
    for (uint32_t i = 0; i < n; i++) {
        int32_t v = (int32_t)kiln_read_u32(r);
        if (r->status == KILN_OK && (v >= limit || v < (allow_none ? -1 : 0)))
            kiln_reader_fail(r, "%s index %d out of range (%d tensors)", what, v, limit);
        dst[i] = v;
    }
}

static void kiln_plan_read_node(kiln_reader *r, const kiln_plan_in *in, kiln_graph *g, int depth) {
    char *name = kiln_read_str(r);
    char *op_name = kiln_read_str(r);
    int32_t opset = (int32_t)kiln_read_u32(r);
    kiln_op op = op_name ? kiln_op_from_name(op_name) : KILN_OP_COUNT;
    if (r->status == KILN_OK && op == KILN_OP_COUNT)
        kiln_reader_fail(r, "node '%s' has op '%s', which this kiln does not know", name, op_name);
    uint32_t nin = kiln_read_count(r, 4, "inputs");
    int32_t *ins = malloc(sizeof(int32_t) * (nin + 1));
    if (ins) kiln_plan_read_indices(r, ins, nin, g->tensor_count, 1, "input");
    uint32_t nout = kiln_read_count(r, 4, "outputs");
    int32_t *outs = malloc(sizeof(int32_t) * (nout + 1));
    if (outs) kiln_plan_read_indices(r, outs, nout, g->tensor_count, 1, "output");
    int32_t node = -1;
    if (r->status == KILN_OK && ins && outs &&
        kiln_graph_add_node(g, name, op, opset, ins, (int32_t)nin, outs, (int32_t)nout, &node) !=
            KILN_OK)
        r->status = KILN_ERR_OUT_OF_MEMORY;
    free(ins);
    free(outs);
    free(name);
    free(op_name);
    uint32_t nattr = kiln_read_count(r, 8, "attributes");
    for (uint32_t i = 0; i < nattr && r->status == KILN_OK && node >= 0; i++)
        kiln_plan_read_attr(r, in, g, node, depth);
}

static kiln_status kiln_plan_read_graph(kiln_reader *r, const kiln_plan_in *in, kiln_graph *parent,
                                        int depth, kiln_graph **out) {
    if (depth > 64) kiln_reader_fail(r, "graphs nested more than 64 deep");
    char *name = kiln_read_str(r);
    if (r->status != KILN_OK) {
        free(name);
        return r->status;
    }
    kiln_graph *g;
    kiln_status st = kiln_graph_create(name, &g);
    free(name);
    if (st != KILN_OK) return r->status = st;
    g->parent = parent;
    *out = g; /* owned by the caller even on failure */
    uint32_t nt = kiln_read_count(r, 20, "tensors");
    for (uint32_t i = 0; i < nt && r->status == KILN_OK; i++) kiln_plan_read_tensor(r, in, g);
    uint32_t nn = kiln_read_count(r, 20, "nodes");
    for (uint32_t i = 0; i < nn && r->status == KILN_OK; i++) kiln_plan_read_node(r, in, g, depth);
    for (int pass = 0; pass < 2 && r->status == KILN_OK; pass++) {
        uint32_t n = kiln_read_count(r, 4, pass ? "graph outputs" : "graph inputs");
        for (uint32_t i = 0; i < n && r->status == KILN_OK; i++) {
            int32_t t = (int32_t)kiln_read_u32(r);
            if (t < 0 || t >= g->tensor_count) kiln_reader_fail(r, "graph i/o index %d", t);
            else if ((pass ? kiln_graph_add_output(g, t) : kiln_graph_add_input(g, t)) != KILN_OK)
                r->status = KILN_ERR_OUT_OF_MEMORY;
        }
    }
    /* Producers must name real nodes that write the tensor. */
    for (int32_t i = 0; i < g->tensor_count && r->status == KILN_OK; i++) {
        int32_t p = g->tensors[i].producer;
        if (p < -2 || p >= g->node_count) kiln_reader_fail(r, "tensor %d has producer %d", i, p);
    }
    return r->status;
}

/* ---------------------------------------------------------------- sections --------- */

static void kiln_plan_read_meta(kiln_reader *r, kiln_engine *e) {
    char *version = kiln_read_str(r);
    char *fingerprint = kiln_read_str(r);
    e->device_index = (int32_t)kiln_read_u32(r);
    e->flags = kiln_read_u32(r);
    e->num_threads = (int32_t)kiln_read_u32(r);
    if (r->status == KILN_OK) {
        char here[256];
        kiln_plan_device_fingerprint(e->device, e->device_index, here, sizeof here);
        /* CPU plans hold portable C kernels: the architecture must match; GPU plans are
         * tied to the device and library versions they were built and tuned for. */
        size_t cmp = strlen(here) + 1;
        if (e->device == KILN_DEVICE_CPU) {
            /* "cpu <arch> <features>": compare "cpu <arch>" and the end of the word. */
            cmp = strcspn(here, " ") + 1;
            cmp += strcspn(here + cmp, " ");
            if (strlen(fingerprint) < cmp || (fingerprint[cmp] != ' ' && fingerprint[cmp] != '\0'))
                cmp = strlen(here) + 1;
        }
        if (strncmp(here, fingerprint, cmp) != 0)
            r->status = kiln_error(KILN_ERR_VERSION_MISMATCH,
                                   "the plan was built for device '%s' but this machine is '%s'; "
                                   "rebuild the plan here",
                                   fingerprint, here);
    }
    free(version);
    free(fingerprint);
}

static void kiln_plan_read_bindings(kiln_reader *r, kiln_engine *e) {
    uint32_t n = kiln_read_count(r, 20, "I/O tensors");
    e->io = calloc(n ? n : 1, sizeof *e->io);
    if (!e->io) {
        r->status = KILN_ERR_OUT_OF_MEMORY;
        return;
    }
    e->io_count = (int32_t)n;
    for (uint32_t i = 0; i < n && r->status == KILN_OK; i++) {
        kiln_engine_io *io = &e->io[i];
        io->name = kiln_read_str(r);
        io->mode = (kiln_tensor_io_mode)kiln_read_u32(r);
        io->tensor = (int32_t)kiln_read_u32(r);
        uint32_t dtype_field = kiln_read_u32(r), dtype;
        uint32_t rank = kiln_read_u32(r);
        if (r->status != KILN_OK) break;
        int kind_ok = kiln_plan_split_dtype(dtype_field, &dtype, &io->kind);
        io->dtype = (kiln_dtype)dtype;
        if ((io->mode != KILN_TENSOR_IO_INPUT && io->mode != KILN_TENSOR_IO_OUTPUT) ||
            io->tensor < 0 || io->tensor >= e->graph->tensor_count || !kind_ok ||
            !kiln_plan_dtype_ok((uint32_t)io->dtype) || (rank > KILN_MAX_DIMS && rank != UINT32_MAX) ||
            (io->kind != KILN_VALUE_TENSOR && rank != UINT32_MAX)) {
            kiln_reader_fail(r, "I/O tensor %u is malformed", i);
            break;
        }
        io->rank = rank == UINT32_MAX ? -1 : (int32_t)rank;
        kiln_plan_read_dims(r, io->dims, rank == UINT32_MAX ? 0 : rank);
    }
    uint32_t np = kiln_read_count(r, 0, "profiles");
    if (r->status != KILN_OK) return;
    if (np > 64) {
        kiln_reader_fail(r, "%u optimization profiles", np);
        return;
    }
    e->profiles = calloc(np ? np : 1, sizeof *e->profiles);
    if (!e->profiles) {
        r->status = KILN_ERR_OUT_OF_MEMORY;
        return;
    }
    e->profile_count = (int32_t)np;
    for (uint32_t p = 0; p < np && r->status == KILN_OK; p++) {
        kiln_engine_profile *pr = &e->profiles[p];
        size_t bytes = sizeof(int64_t) * KILN_MAX_DIMS * (size_t)(e->io_count ? e->io_count : 1);
        pr->min = calloc(1, bytes);
        pr->opt = calloc(1, bytes);
        pr->max = calloc(1, bytes);
        if (!pr->min || !pr->opt || !pr->max) {
            r->status = KILN_ERR_OUT_OF_MEMORY;
            return;
        }
        for (int32_t i = 0; i < e->io_count; i++) {
            int32_t rank = e->io[i].mode == KILN_TENSOR_IO_INPUT && e->io[i].rank > 0 ? e->io[i].rank : 0;
            kiln_plan_read_dims(r, pr->min[i], (uint32_t)rank);
            kiln_plan_read_dims(r, pr->opt[i], (uint32_t)rank);
            kiln_plan_read_dims(r, pr->max[i], (uint32_t)rank);
            /* What the builder guarantees: 0 <= min <= opt <= max, and fixed dims fixed.
             * Contexts accept any shape inside these bounds without further checks. */
            for (int32_t d = 0; d < rank && r->status == KILN_OK; d++) {
                int64_t lo = pr->min[i][d], mid = pr->opt[i][d], hi = pr->max[i][d];
                int64_t fixed = e->io[i].dims[d];
                if (lo < 0 || lo > mid || mid > hi || (fixed >= 0 && (lo != fixed || hi != fixed)))
                    kiln_reader_fail(r,
                                     "profile %u of input '%s': dimension %d has min %lld, opt "
                                     "%lld, max %lld",
                                     p, e->io[i].name, d, (long long)lo, (long long)mid,
                                     (long long)hi);
            }
        }
    }
}

static void kiln_plan_read_memory(kiln_reader *r, kiln_engine *e) {
    uint32_t n = kiln_read_u32(r);
    if (r->status != KILN_OK) return;
    if ((int32_t)n != e->graph->tensor_count) {
        kiln_reader_fail(r, "liveness for %u tensors, the graph has %d", n, e->graph->tensor_count);
        return;
    }
    e->first_use = malloc(sizeof(int32_t) * (n + 1));
    e->last_use = malloc(sizeof(int32_t) * (n + 1));
    if (!e->first_use || !e->last_use) {
        r->status = KILN_ERR_OUT_OF_MEMORY;
        return;
    }
    for (uint32_t i = 0; i < n && r->status == KILN_OK; i++) {
        e->first_use[i] = (int32_t)kiln_read_u32(r);
        e->last_use[i] = (int32_t)kiln_read_u32(r);
        if (e->first_use[i] < -1 || e->last_use[i] < -1 || e->first_use[i] > e->graph->node_count ||
            e->last_use[i] > e->graph->node_count)
            kiln_reader_fail(r, "liveness of tensor %u is out of range", i);
    }
    e->planned_arena_bytes = kiln_read_u64(r);
    e->naive_bytes = kiln_read_u64(r);
    e->unknown_shape_tensors = (int32_t)kiln_read_u32(r);
}

static void kiln_plan_read_kernels(kiln_reader *r, kiln_engine *e) {
    uint32_t n = kiln_read_u32(r);
    if (r->status == KILN_OK && (int32_t)n != e->graph->node_count) {
        kiln_reader_fail(r, "kernels for %u nodes, the graph has %d", n, e->graph->node_count);
        return;
    }
    e->kernel_names = calloc(n ? n : 1, sizeof(char *));
    if (!e->kernel_names) {
        r->status = KILN_ERR_OUT_OF_MEMORY;
        return;
    }
    for (uint32_t i = 0; i < n && r->status == KILN_OK; i++) e->kernel_names[i] = kiln_read_str(r);
}

/* ---------------------------------------------------------------- header ----------- */

static const char *kiln_plan_section_names[] = {"", "META", "GRAPH", "BINDINGS", "MEMORY", "KERNELS",
                                                "WEIGHTS"};

kiln_status kiln_plan_deserialize(const uint8_t *data, size_t size, int borrow, kiln_engine **out) {
    if (!data || size < KILN_PLAN_HEADER_BYTES)
        return kiln_plan_fail("not a kiln plan: %s%llu bytes is shorter than the %llu-byte header",
                              "", (unsigned long long)size, KILN_PLAN_HEADER_BYTES);
    if (memcmp(data, KILN_PLAN_MAGIC, 8) != 0)
        return kiln_error(KILN_ERR_PLAN, "not a kiln plan (the file does not start with "
                                         "\"KILNPLAN\"); was it opened in text mode, or is it an "
                                         "ONNX model?");
    kiln_reader h;
    kiln_reader_init(&h, data, KILN_PLAN_HEADER_BYTES, 0, "header");
    h.pos = 8;
    uint32_t format = kiln_read_u32(&h), version = kiln_read_u32(&h);
    uint32_t device = kiln_read_u32(&h), nsections = kiln_read_u32(&h);
    uint64_t file_size = kiln_read_u64(&h), table_sum = kiln_read_u64(&h);
    uint64_t header_sum = kiln_read_u64(&h);
    if (header_sum != kiln_checksum64(data, 40))
        return kiln_error(KILN_ERR_PLAN, "corrupted plan: the header checksum does not match");
    if (format != KILN_PLAN_FORMAT_VERSION)
        return kiln_error(KILN_ERR_VERSION_MISMATCH,
                          "the plan has format version %u; this kiln (%s) reads version %u",
                          format, kiln_version_string(), KILN_PLAN_FORMAT_VERSION);
    if (version != (uint32_t)KILN_VERSION)
        return kiln_error(KILN_ERR_VERSION_MISMATCH,
                          "the plan was built by kiln %u.%u.%u; this is kiln %s: rebuild the plan",
                          version / 10000, version / 100 % 100, version % 100,
                          kiln_version_string());
    if (file_size != size)
        return kiln_error(KILN_ERR_PLAN,
                          "truncated or padded plan: the header says %llu bytes, there are %zu",
                          (unsigned long long)file_size, size);
    if (nsections != KILN_PLAN_SECTION_COUNT || device > KILN_DEVICE_CUDA)
        return kiln_error(KILN_ERR_PLAN, "corrupted plan: %u sections, device %u", nsections, device);
    size_t table_bytes = (size_t)KILN_PLAN_SECTION_BYTES * nsections;
    if (size < KILN_PLAN_HEADER_BYTES + table_bytes ||
        kiln_checksum64(data + KILN_PLAN_HEADER_BYTES, table_bytes) != table_sum)
        return kiln_error(KILN_ERR_PLAN, "corrupted plan: the section table checksum does not match");
    const uint8_t *sec_data[KILN_PLAN_SECTION_COUNT + 1];
    uint64_t sec_size[KILN_PLAN_SECTION_COUNT + 1], sec_off[KILN_PLAN_SECTION_COUNT + 1];
    kiln_reader t;
    kiln_reader_init(&t, data + KILN_PLAN_HEADER_BYTES, table_bytes, KILN_PLAN_HEADER_BYTES, "table");
    uint64_t prev_end = KILN_PLAN_HEADER_BYTES + table_bytes;
    for (uint32_t i = 1; i <= nsections; i++) {
        uint32_t id = kiln_read_u32(&t);
        kiln_read_u32(&t);
        uint64_t off = kiln_read_u64(&t), len = kiln_read_u64(&t), sum = kiln_read_u64(&t);
        /* WEIGHTS must start 256-byte aligned: engines loaded from a file use them in place. */
        if (id != i || off < prev_end || off > size || len > size - off ||
            (i == KILN_PLAN_WEIGHTS && off % KILN_PLAN_WEIGHT_ALIGN != 0))
            return kiln_error(KILN_ERR_PLAN, "corrupted plan: section %u (%s) at %llu, %llu bytes",
                              i, kiln_plan_section_names[i], (unsigned long long)off,
                              (unsigned long long)len);
        /* No checksum covers the padding before a section: it must be the writer's zeros, or
         * a damaged byte there would go unnoticed. */
        for (uint64_t b = prev_end; b < off; b++)
            if (data[b] != 0)
                return kiln_error(KILN_ERR_PLAN,
                                  "corrupted plan: padding byte %llu before the %s section is not "
                                  "zero",
                                  (unsigned long long)b, kiln_plan_section_names[i]);
        if (kiln_checksum64(data + off, (size_t)len) != sum)
            return kiln_error(KILN_ERR_PLAN,
                              "corrupted plan: the checksum of the %s section (bytes %llu..%llu) "
                              "does not match",
                              kiln_plan_section_names[i], (unsigned long long)off,
                              (unsigned long long)(off + len));
        sec_data[i] = data + off;
        sec_size[i] = len;
        sec_off[i] = off;
        prev_end = off + len;
    }
    if (prev_end != size)
        return kiln_error(KILN_ERR_PLAN, "corrupted plan: %llu bytes after the last section",
                          (unsigned long long)(size - prev_end));
    kiln_engine *e = calloc(1, sizeof *e);
    if (!e) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory loading the plan");
    e->device = (kiln_device_type)device;
    kiln_plan_in in = {sec_data[KILN_PLAN_WEIGHTS], sec_size[KILN_PLAN_WEIGHTS], borrow};
    kiln_reader r;
    kiln_status st = KILN_OK;
    for (int i = KILN_PLAN_META; i < KILN_PLAN_WEIGHTS && st == KILN_OK; i++) {
        kiln_reader_init(&r, sec_data[i], (size_t)sec_size[i], (size_t)sec_off[i],
                         kiln_plan_section_names[i]);
        switch (i) {
        case KILN_PLAN_META: kiln_plan_read_meta(&r, e); break;
        case KILN_PLAN_GRAPH: kiln_plan_read_graph(&r, &in, NULL, 0, &e->graph); break;
        case KILN_PLAN_BINDINGS: kiln_plan_read_bindings(&r, e); break;
        case KILN_PLAN_MEMORY: kiln_plan_read_memory(&r, e); break;
        case KILN_PLAN_KERNELS: kiln_plan_read_kernels(&r, e); break;
        }
        if (r.status == KILN_OK && r.pos != r.size)
            kiln_reader_fail(&r, "%zu bytes left over", r.size - r.pos);
        st = r.status;
        if (st == KILN_ERR_OUT_OF_MEMORY) st = kiln_error(st, "out of memory loading the plan");
    }
    if (st != KILN_OK) {
        kiln_engine_free(e);
        return st;
    }
    for (int32_t i = 0; i < e->graph->tensor_count; i++)
        if (e->graph->tensors[i].data) e->weight_bytes += e->graph->tensors[i].nbytes;
    st = kiln_engine_index_fused(e);
    if (st != KILN_OK) {
        kiln_engine_free(e);
        return st;
    }
    *out = e;
    return KILN_OK;
}
