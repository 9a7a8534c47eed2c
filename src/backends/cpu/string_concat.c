/* StringConcat: element-wise concatenation, numpy broadcasting. */
#include <string.h>

#include "backends/cpu/string_common.h"

kiln_status kiln_cpu_string_concat(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                                   int32_t n_in, kiln_tview *out, int32_t n_out) {
    (void)n_in, (void)n_out;
    kiln_tview shape;
    KILN_TRY(kiln_broadcast_shapes(node, &in[0], &in[1], &shape));
    int32_t rank = shape.rank;
    int64_t n = kiln_shape_count(rank, shape.dims);
    size_t total = 0;
    for (int64_t i = 0; i < n; i++)
        total +=
            (size_t)kiln_str_at(&in[0], kiln_str_bcast_index(rank, shape.dims, &in[0], i))->size +
            (size_t)kiln_str_at(&in[1], kiln_str_bcast_index(rank, shape.dims, &in[1], i))->size;
    char *bytes;
    KILN_TRY(kiln_cpu_alloc_strings(ctx, 0, rank, shape.dims, total, &bytes));
    kiln_string *z = (kiln_string *)out[0].data;
    for (int64_t i = 0; i < n; i++) {
        const kiln_string *a =
            kiln_str_at(&in[0], kiln_str_bcast_index(rank, shape.dims, &in[0], i));
        const kiln_string *b =
            kiln_str_at(&in[1], kiln_str_bcast_index(rank, shape.dims, &in[1], i));
        z[i].data = bytes;
        z[i].size = a->size + b->size;
        if (a->size) memcpy(bytes, a->data, (size_t)a->size);
        if (b->size) memcpy(bytes + a->size, b->data, (size_t)b->size);
        bytes += z[i].size;
    }
    return KILN_OK;
}
