/* Tensor views and shape functions: what shape inference and kernels see of a tensor. */
#ifndef KILN_IR_TVIEW_H
#define KILN_IR_TVIEW_H

#include "ir/ir.h"

/* A tensor at run time (or during static shape inference). */
typedef struct kiln_tview {
    kiln_dtype dtype; /* UNDEFINED marks an omitted optional input/output */
    int32_t rank;     /* -1: unknown (static inference only) */
    int64_t dims[KILN_MAX_DIMS];
    void *data;       /* NULL when the values are not known (static inference) */
} kiln_tview;

static inline int kiln_tview_present(const kiln_tview *t) {
    return t->dtype != KILN_DTYPE_UNDEFINED;
}
static inline int64_t kiln_tview_count(const kiln_tview *t) {
    return kiln_shape_count(t->rank, t->dims);
}

/*
 * A shape function sets dtype, rank and dims of every present output from the inputs.
 * Inputs whose values matter (Reshape's shape, Slice's starts, ...) may have data NULL
 * during static inference at build time: then the function sets the output rank (or
 * dims) it cannot know to -1 and returns KILN_OK. At run time every input has data; an
 * output left at rank -1 then is data-dependent, and its kernel allocates it with
 * kiln_cpu_alloc_output. Outputs the node omits have dtype UNDEFINED on entry and are
 * left alone. Errors name the node: use kiln_shape_error.
 */
typedef kiln_status (*kiln_shape_fn)(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                     kiln_tview *out, int32_t n_out);

kiln_shape_fn kiln_op_shape_fn(kiln_op op);

/* "node 'name' (Op): <message>" as a KILN_ERR_SHAPE. */
kiln_status kiln_shape_error(const kiln_node *node, const char *fmt, ...) KILN_PRINTF(2, 3);
/* The same with another status (KILN_ERR_UNSUPPORTED for a dtype or mode not handled). */
kiln_status kiln_node_error(kiln_status status, const kiln_node *node, const char *fmt, ...)
    KILN_PRINTF(3, 4);

/* Numpy-style broadcast of two shapes into out (rank and dims); an error if incompatible. */
kiln_status kiln_broadcast_shapes(const kiln_node *node, const kiln_tview *a, const kiln_tview *b,
                                  kiln_tview *out);

/* Reads element i of an integer tensor (int8..int64, uint8..uint64, bool) as int64. */
int64_t kiln_tview_get_int(const kiln_tview *t, int64_t i);
/* Reads element i of any numeric tensor as double (float16/bfloat16 converted). */
double kiln_tview_get_double(const kiln_tview *t, int64_t i);
/* Writes element i, converting from double (rounding to nearest for floats, truncating
 * toward zero for integers, saturating never: the caller's values must fit). */
void kiln_tview_set_double(kiln_tview *t, int64_t i, double v);
void kiln_tview_set_int(kiln_tview *t, int64_t i, int64_t v);

/* Half-precision conversions (round to nearest even). */
float kiln_half_to_float(uint16_t h);
uint16_t kiln_float_to_half(float f);
float kiln_bf16_to_float(uint16_t h);
uint16_t kiln_float_to_bf16(float f);

#endif
