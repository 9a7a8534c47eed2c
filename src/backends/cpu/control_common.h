/* Helpers of the control-flow kernels: values kept across subgraph runs. */
#ifndef KILN_CPU_CONTROL_COMMON_H
#define KILN_CPU_CONTROL_COMMON_H

#include <stdlib.h>
#include <string.h>

#include "backends/cpu/cpu_kernel.h"

/* A tensor with memory of its own (the subgraph's outputs are overwritten by its next run). */
typedef struct kiln_owned_value {
    kiln_tview view;
    size_t capacity;
} kiln_owned_value;

static inline size_t kiln_view_bytes(const kiln_tview *v) {
    return kiln_dtype_nbytes(v->dtype, kiln_tview_count(v));
}

static inline kiln_status kiln_owned_set(kiln_owned_value *o, const kiln_tview *v) {
    if (!kiln_tview_is_numeric_tensor(v)) {
        /* sequences, empty optionals, strings: a packed copy (ir/tview.h) */
        if (v->data && v->data == o->view.data) return KILN_OK; /* already this value */
        size_t size = kiln_value_packed_size(v);
        void *p = malloc(size ? size : 1), *old = o->view.data;
        if (!p) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory in a control-flow op");
        kiln_value_pack(v, p, &o->view);
        free(old); /* after packing: v may have pointed into it */
        o->capacity = size;
        return KILN_OK;
    }
    size_t bytes = kiln_view_bytes(v);
    if (bytes > o->capacity || !o->view.data) {
        void *p = realloc(o->view.data, bytes ? bytes : 1);
        if (!p) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory in a control-flow op");
        o->view.data = p;
        o->capacity = bytes;
    }
    void *data = o->view.data;
    if (bytes) memmove(data, v->data, bytes);
    o->view = *v;
    o->view.data = data;
    return KILN_OK;
}

static inline void kiln_owned_free(kiln_owned_value *o, int32_t n) {
    for (int32_t i = 0; o && i < n; i++) free(o[i].view.data);
    free(o);
}

/* Allocates node output `i` like `v` and copies v's data into it. */
static inline kiln_status kiln_control_emit(kiln_cpu_ctx *ctx, kiln_tview *out, int32_t i,
                                            const kiln_tview *v) {
    if (!kiln_tview_is_numeric_tensor(v)) return kiln_cpu_copy_output(ctx, i, v);
    out[i].dtype = v->dtype;
    KILN_TRY(kiln_cpu_alloc_output(ctx, i, v->rank, v->dims));
    size_t bytes = kiln_view_bytes(v);
    if (bytes) memcpy(out[i].data, v->data, bytes);
    return KILN_OK;
}

#endif
