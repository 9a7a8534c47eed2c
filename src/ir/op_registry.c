/* The op table generated from ops.def: names, arities and shape functions. */
#include <string.h>

#include "ir/tview.h"

#define KILN_OP(name, min_in, max_in, min_out, max_out)                                       \
    kiln_status kiln_shape_##name(const kiln_node *node, const kiln_tview *in, int32_t n_in,  \
                                  kiln_tview *out, int32_t n_out);
#include "ir/ops.def"
#undef KILN_OP

static const kiln_op_info kiln_op_table[KILN_OP_COUNT + 1] = {
#define KILN_OP(name, min_in, max_in, min_out, max_out) {#name, min_in, max_in, min_out, max_out},
#include "ir/ops.def"
#undef KILN_OP
    {NULL, 0, 0, 0, 0}};

static const kiln_shape_fn kiln_shape_table[KILN_OP_COUNT + 1] = {
#define KILN_OP(name, min_in, max_in, min_out, max_out) kiln_shape_##name,
#include "ir/ops.def"
#undef KILN_OP
    NULL};

const kiln_op_info *kiln_op_get_info(kiln_op op) {
    if ((int)op < 0 || op >= KILN_OP_COUNT) return NULL;
    return &kiln_op_table[op];
}

kiln_op kiln_op_from_name(const char *name) {
    for (int i = 0; i < KILN_OP_COUNT; i++)
        if (!strcmp(kiln_op_table[i].name, name)) return (kiln_op)i;
    return KILN_OP_COUNT;
}

kiln_shape_fn kiln_op_shape_fn(kiln_op op) {
    if ((int)op < 0 || op >= KILN_OP_COUNT) return NULL;
    return kiln_shape_table[op];
}
