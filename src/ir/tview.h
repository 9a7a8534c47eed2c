/* Tensor views and shape functions: what shape inference and kernels see of a tensor. */
#ifndef KILN_IR_TVIEW_H
#define KILN_IR_TVIEW_H

#include "ir/ir.h"

/* One element of a string tensor: `size` bytes at `data` (any bytes, NUL included; not
 * NUL-terminated in general). */
typedef struct kiln_string {
    const char *data;
    int64_t size;
} kiln_string;

/*
 * A value at run time (or during static shape inference): a tensor, a sequence of tensors
 * or an empty optional (`kind`, a kiln_value_kind; zero-initialized views are tensors).
 *
 * - Tensors: dtype, rank, dims, data (dense, row-major). String tensors (dtype
 *   KILN_DTYPE_STRING) hold an array of kiln_string at data, one per element; the bytes
 *   they point to live in the same allocation after the array (kiln_cpu_alloc_strings).
 *   kiln_dtype_nbytes(STRING) is 0: code sizing memory must special-case strings.
 * - Sequences: dtype is the element dtype (UNDEFINED while unknown), seq_count items, each
 *   a tensor view in seq_items; rank is 0 and data points at the memory holding the
 *   items (kiln_cpu_alloc_sequence). During static inference a sequence has rank -1 and
 *   no items.
 * - KILN_VALUE_NONE: an optional without a value (dtype: its declared element dtype).
 * An optional holding a value is just that value.
 */
typedef struct kiln_tview {
    kiln_dtype dtype; /* UNDEFINED marks an omitted optional input/output */
    int32_t rank;     /* -1: unknown (static inference only) */
    int64_t dims[KILN_MAX_DIMS];
    void *data;       /* NULL when the values are not known (static inference) */
    uint8_t kind;     /* kiln_value_kind: TENSOR (0), SEQUENCE or NONE */
    int32_t seq_count;
    struct kiln_tview *seq_items;
} kiln_tview;

static inline int kiln_tview_present(const kiln_tview *t) {
    return t->dtype != KILN_DTYPE_UNDEFINED || t->kind != KILN_VALUE_TENSOR;
}
/* A plain tensor of numbers or bools: no sequence, no empty optional, no strings. */
static inline int kiln_tview_is_numeric_tensor(const kiln_tview *t) {
    return t->kind == KILN_VALUE_TENSOR && t->dtype != KILN_DTYPE_STRING;
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

/* Bytes a self-contained copy of a value takes (kiln_value_pack): a tensor's data; a string
 * tensor's kiln_string array and bytes; a sequence's item views and items; 0 for none.
 * Parts are 16-byte aligned within the copy. */
size_t kiln_value_packed_size(const kiln_tview *v);
/* Copies value `v` into `block` (kiln_value_packed_size(v) bytes, 16-byte aligned) and sets
 * *out to a view of the copy, whose pointers all lead into `block`. `block` must not
 * overlap v's memory. */
void kiln_value_pack(const kiln_tview *v, void *block, kiln_tview *out);
/* "tensor", "sequence", "none", "optional", "optional sequence". */
const char *kiln_value_kind_name(int kind);

/* Half-precision conversions (round to nearest even). */
float kiln_half_to_float(uint16_t h);
uint16_t kiln_float_to_half(float f);
float kiln_bf16_to_float(uint16_t h);
uint16_t kiln_float_to_bf16(float f);

#endif
