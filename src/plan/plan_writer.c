/* Engine -> plan bytes (docs/plan-format.md). */
#include <stdlib.h>
#include <string.h>

#include "plan/byte_io.h"
#include "plan/plan_format.h"

/* Weights are gathered while the graph is written, then laid out last. */
typedef struct kiln_weight_list {
    int32_t count, capacity;
    const kiln_ir_tensor **tensors;
    uint64_t next_offset; /* offset within the WEIGHTS section */
    int failed;
} kiln_weight_list;

static uint64_t kiln_plan_add_weight(kiln_weight_list *wl, const kiln_ir_tensor *t) {
    if (wl->count == wl->capacity) {
        int32_t cap = wl->capacity ? wl->capacity * 2 : 64;
        const kiln_ir_tensor **p = realloc(wl->tensors, sizeof *p * (size_t)cap);
        if (!p) {
            wl->failed = 1;
            return 0;
        }
        wl->tensors = p;
        wl->capacity = cap;
    }
    wl->tensors[wl->count++] = t;
    uint64_t offset = wl->next_offset;
    wl->next_offset += (t->nbytes + KILN_PLAN_WEIGHT_ALIGN - 1) & ~(uint64_t)(KILN_PLAN_WEIGHT_ALIGN - 1);
    return offset;
}

static void kiln_plan_write_graph(kiln_writer *w, const kiln_graph *g, kiln_weight_list *wl);

static void kiln_plan_write_attr(kiln_writer *w, const kiln_attr *a, kiln_weight_list *wl) {
    kiln_write_str(w, a->name);
    kiln_write_u32(w, (uint32_t)a->type);
    switch (a->type) {
    case KILN_ATTR_INT: kiln_write_i64(w, a->i); break;
    case KILN_ATTR_FLOAT: kiln_write_f32(w, a->f); break;
    case KILN_ATTR_STRING: kiln_write_str_n(w, a->s, a->s_len); break;
    case KILN_ATTR_INTS:
        kiln_write_u32(w, (uint32_t)a->count);
        kiln_write_bytes(w, a->ints, sizeof(int64_t) * (size_t)a->count);
        break;
    case KILN_ATTR_FLOATS:
        kiln_write_u32(w, (uint32_t)a->count);
        kiln_write_bytes(w, a->floats, sizeof(float) * (size_t)a->count);
        break;
    case KILN_ATTR_STRINGS:
        kiln_write_u32(w, (uint32_t)a->count);
        for (int32_t i = 0; i < a->count; i++) kiln_write_str(w, a->strings[i]);
        break;
    case KILN_ATTR_TENSOR:
        kiln_write_u32(w, (uint32_t)a->tensor->dtype);
        kiln_write_u32(w, (uint32_t)a->tensor->rank);
        for (int32_t d = 0; d < a->tensor->rank; d++) kiln_write_i64(w, a->tensor->dims[d]);
        kiln_write_u64(w, a->tensor->nbytes);
        kiln_write_bytes(w, a->tensor->data, a->tensor->nbytes);
        break;
    case KILN_ATTR_GRAPH: kiln_plan_write_graph(w, a->graph, wl); break;
    case KILN_ATTR_GRAPHS:
        kiln_write_u32(w, (uint32_t)a->count);
        for (int32_t i = 0; i < a->count; i++) kiln_plan_write_graph(w, a->graphs[i], wl);
        break;
    }
}

static void kiln_plan_write_graph(kiln_writer *w, const kiln_graph *g, kiln_weight_list *wl) {
    kiln_write_str(w, g->name);
    kiln_write_u32(w, (uint32_t)g->tensor_count);
    for (int32_t i = 0; i < g->tensor_count; i++) {
        const kiln_ir_tensor *t = &g->tensors[i];
        kiln_write_str(w, t->name);
        kiln_write_u32(w, (uint32_t)t->dtype | (uint32_t)t->kind << 8);
        kiln_write_u32(w, (uint32_t)t->rank);
        for (int32_t d = 0; d < t->rank; d++) {
            kiln_write_i64(w, t->dims[d]);
            kiln_write_str(w, t->dim_names[d]);
        }
        kiln_write_u32(w, (uint32_t)t->producer);
        kiln_write_u32(w, t->data != NULL);
        if (t->data) {
            kiln_write_u64(w, kiln_plan_add_weight(wl, t));
            kiln_write_u64(w, t->nbytes);
        }
    }
    kiln_write_u32(w, (uint32_t)g->node_count);
    for (int32_t i = 0; i < g->node_count; i++) {
        const kiln_node *n = &g->nodes[i];
        kiln_write_str(w, n->name);
        kiln_write_str(w, kiln_op_get_info(n->op)->name); /* by name: robust to new ops */
        kiln_write_u32(w, (uint32_t)n->opset);
        kiln_write_u32(w, (uint32_t)n->input_count);
        for (int32_t k = 0; k < n->input_count; k++) kiln_write_u32(w, (uint32_t)n->inputs[k]);
        kiln_write_u32(w, (uint32_t)n->output_count);
        for (int32_t k = 0; k < n->output_count; k++) kiln_write_u32(w, (uint32_t)n->outputs[k]);
        kiln_write_u32(w, (uint32_t)n->attr_count);
        for (int32_t k = 0; k < n->attr_count; k++) kiln_plan_write_attr(w, &n->attrs[k], wl);
    }
    kiln_write_u32(w, (uint32_t)g->input_count);
    for (int32_t i = 0; i < g->input_count; i++) kiln_write_u32(w, (uint32_t)g->inputs[i]);
    kiln_write_u32(w, (uint32_t)g->output_count);
    for (int32_t i = 0; i < g->output_count; i++) kiln_write_u32(w, (uint32_t)g->outputs[i]);
}

static void kiln_plan_write_meta(kiln_writer *w, const kiln_engine *e) {
    char fingerprint[256];
    kiln_plan_device_fingerprint(e->device, e->device_index, fingerprint, sizeof fingerprint);
    kiln_write_str(w, kiln_version_string());
    kiln_write_str(w, fingerprint);
    kiln_write_u32(w, (uint32_t)e->device_index);
    kiln_write_u32(w, e->flags);
    kiln_write_u32(w, (uint32_t)e->num_threads);
}

static void kiln_plan_write_dims(kiln_writer *w, const int64_t *dims, int32_t rank) {
    for (int32_t d = 0; d < rank; d++) kiln_write_i64(w, dims[d]);
}

static void kiln_plan_write_bindings(kiln_writer *w, const kiln_engine *e) {
    kiln_write_u32(w, (uint32_t)e->io_count);
    for (int32_t i = 0; i < e->io_count; i++) {
        const kiln_engine_io *io = &e->io[i];
        kiln_write_str(w, io->name);
        kiln_write_u32(w, (uint32_t)io->mode);
        kiln_write_u32(w, (uint32_t)io->tensor);
        kiln_write_u32(w, (uint32_t)io->dtype | (uint32_t)io->kind << 8);
        kiln_write_u32(w, (uint32_t)io->rank);
        kiln_plan_write_dims(w, io->dims, io->rank);
    }
    kiln_write_u32(w, (uint32_t)e->profile_count);
    for (int32_t p = 0; p < e->profile_count; p++)
        for (int32_t i = 0; i < e->io_count; i++) {
            int32_t rank = e->io[i].mode == KILN_TENSOR_IO_INPUT ? e->io[i].rank : 0;
            kiln_plan_write_dims(w, e->profiles[p].min[i], rank);
            kiln_plan_write_dims(w, e->profiles[p].opt[i], rank);
            kiln_plan_write_dims(w, e->profiles[p].max[i], rank);
        }
}

static void kiln_plan_write_memory(kiln_writer *w, const kiln_engine *e) {
    int32_t n = e->graph->tensor_count;
    kiln_write_u32(w, (uint32_t)n);
    for (int32_t i = 0; i < n; i++) {
        kiln_write_u32(w, (uint32_t)e->first_use[i]);
        kiln_write_u32(w, (uint32_t)e->last_use[i]);
    }
    kiln_write_u64(w, e->planned_arena_bytes);
    kiln_write_u64(w, e->naive_bytes);
    kiln_write_u32(w, (uint32_t)e->unknown_shape_tensors);
}

static void kiln_plan_write_kernels(kiln_writer *w, const kiln_engine *e) {
    kiln_write_u32(w, (uint32_t)e->graph->node_count);
    for (int32_t i = 0; i < e->graph->node_count; i++) kiln_write_str(w, e->kernel_names[i]);
}

/* The plan is assembled in one buffer of its final size, the weights copied into it
 * straight from the graph: weights are most of a plan, and a growable buffer (or a weights
 * section assembled apart) would hold them two or three times over while serializing. */
kiln_status kiln_plan_serialize(const kiln_engine *e, uint8_t **out, size_t *out_size) {
    enum { WEIGHTS = KILN_PLAN_SECTION_COUNT - 1 };
    kiln_writer sections[WEIGHTS];
    for (int i = 0; i < WEIGHTS; i++) kiln_writer_init(&sections[i]);
    kiln_weight_list wl = {0};
    kiln_plan_write_meta(&sections[0], e);
    kiln_plan_write_graph(&sections[1], e->graph, &wl);
    kiln_plan_write_bindings(&sections[2], e);
    kiln_plan_write_memory(&sections[3], e);
    kiln_plan_write_kernels(&sections[4], e);
    kiln_status st = wl.failed ? kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory") : KILN_OK;
    for (int i = 0; st == KILN_OK && i < WEIGHTS; i++) st = kiln_writer_status(&sections[i]);

    size_t sizes[KILN_PLAN_SECTION_COUNT], offsets[KILN_PLAN_SECTION_COUNT];
    const size_t align = KILN_PLAN_WEIGHT_ALIGN;
    for (int i = 0; i < WEIGHTS; i++) sizes[i] = sections[i].size;
    sizes[WEIGHTS] = 0; /* each tensor padded to the alignment, as the reader expects */
    for (int32_t i = 0; i < wl.count; i++)
        sizes[WEIGHTS] = (sizes[WEIGHTS] + wl.tensors[i]->nbytes + align - 1) & ~(align - 1);
    size_t offset = KILN_PLAN_HEADER_BYTES + KILN_PLAN_SECTION_BYTES * KILN_PLAN_SECTION_COUNT;
    for (int i = 0; i < KILN_PLAN_SECTION_COUNT; i++) {
        if (i == WEIGHTS) offset = (offset + align - 1) & ~(align - 1); /* 256-byte aligned */
        offsets[i] = offset;
        offset += sizes[i];
    }
    size_t file_size = offset;
    uint8_t *buf = st == KILN_OK ? calloc(1, file_size) : NULL; /* zeros: the padding */
    if (st == KILN_OK && !buf) st = kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
    if (st == KILN_OK) {
        for (int i = 0; i < WEIGHTS; i++)
            if (sizes[i]) memcpy(buf + offsets[i], sections[i].data, sizes[i]);
        size_t at = offsets[WEIGHTS];
        for (int32_t i = 0; i < wl.count; i++) {
            if (wl.tensors[i]->nbytes) memcpy(buf + at, wl.tensors[i]->data, wl.tensors[i]->nbytes);
            at = (at + wl.tensors[i]->nbytes + align - 1) & ~(align - 1);
        }
        /* the table first, so that its checksum can go into the header */
        kiln_writer head, tw;
        kiln_writer_init(&head);
        kiln_writer_init(&tw);
        for (int i = 0; i < KILN_PLAN_SECTION_COUNT; i++) {
            kiln_write_u32(&tw, (uint32_t)(i + 1));
            kiln_write_u32(&tw, 0);
            kiln_write_u64(&tw, offsets[i]);
            kiln_write_u64(&tw, sizes[i]);
            kiln_write_u64(&tw, kiln_checksum64(buf + offsets[i], sizes[i]));
        }
        kiln_write_bytes(&head, KILN_PLAN_MAGIC, 8);
        kiln_write_u32(&head, KILN_PLAN_FORMAT_VERSION);
        kiln_write_u32(&head, (uint32_t)KILN_VERSION);
        kiln_write_u32(&head, (uint32_t)e->device);
        kiln_write_u32(&head, KILN_PLAN_SECTION_COUNT);
        kiln_write_u64(&head, file_size);
        kiln_write_u64(&head, tw.data ? kiln_checksum64(tw.data, tw.size) : 0);
        kiln_write_u64(&head, kiln_checksum64(head.data, head.size));
        kiln_write_bytes(&head, tw.data, tw.size);
        st = kiln_writer_status(&head);
        if (st == KILN_OK && head.size != offsets[0])
            st = kiln_error(KILN_ERR_INTERNAL, "plan header of %zu bytes, expected %zu", head.size,
                            offsets[0]);
        if (st == KILN_OK) memcpy(buf, head.data, head.size);
        kiln_writer_free(&head);
        kiln_writer_free(&tw);
    }
    for (int i = 0; i < WEIGHTS; i++) kiln_writer_free(&sections[i]);
    free(wl.tensors);
    if (st != KILN_OK) {
        free(buf);
        return st;
    }
    *out = buf;
    *out_size = file_size;
    return KILN_OK;
}
