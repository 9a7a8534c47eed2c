/* Unique: items (elements, or slices along `axis`) grouped by a stable sort of their order
 * keys; outputs in sorted order or in order of first occurrence. All sizes but
 * inverse_indices' are data-dependent. */
#include "backends/cpu/tensor_common.h"

typedef struct kiln_unique_keys {
    const uint64_t *keys;
    int64_t m; /* keys per item */
} kiln_unique_keys;

static int kiln_unique_cmp(const void *cctx, int64_t a, int64_t b) {
    const kiln_unique_keys *u = cctx;
    const uint64_t *ka = u->keys + a * u->m, *kb = u->keys + b * u->m;
    for (int64_t i = 0; i < u->m; i++)
        if (ka[i] != kb[i]) return ka[i] < kb[i] ? -1 : 1;
    return 0;
}

/* Orders group numbers by their first occurrence (groups' first indices are distinct). */
static int kiln_unique_first_cmp(const void *cctx, int64_t a, int64_t b) {
    const int64_t *first = cctx;
    return first[a] < first[b] ? -1 : first[a] > first[b];
}

kiln_status kiln_cpu_tensor_unique(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                                   int32_t n_in, kiln_tview *out, int32_t n_out) {
    (void)n_in;
    size_t es;
    kiln_dtype dt = in[0].dtype;
    KILN_TRY(kiln_tensor_elem_size(node, dt, &es));
    if (!kiln_tensor_keyable(dt))
        return kiln_node_error(KILN_ERR_UNSUPPORTED, node, "dtype %s not supported",
                               kiln_dtype_name(dt));
    const kiln_attr *axis_attr = kiln_node_attr(node, "axis");
    int sorted = kiln_attr_int(node, "sorted", 1) != 0;
    int32_t r = in[0].rank, axis = 0;
    int64_t outer = 1, n, inner = 1;
    if (axis_attr) {
        KILN_TRY(kiln_tensor_axis(node, "axis", axis_attr->i, r, &axis));
        for (int32_t i = 0; i < axis; i++) outer *= in[0].dims[i];
        for (int32_t i = axis + 1; i < r; i++) inner *= in[0].dims[i];
        n = in[0].dims[axis];
    } else {
        n = kiln_tview_count(&in[0]);
    }
    int64_t m = outer * inner; /* elements per item */
    size_t nn = (size_t)(n > 0 ? n : 1);
    size_t bytes = nn * (size_t)(m > 0 ? m : 1) * 8 + nn * 8 * 6;
    char *scratch = kiln_cpu_scratch(ctx, bytes);
    if (!scratch) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
    uint64_t *keys = (uint64_t *)scratch;
    int64_t *order = (int64_t *)(scratch + nn * (size_t)(m > 0 ? m : 1) * 8);
    int64_t *tmp = order + nn, *group_of = tmp + nn, *first = group_of + nn, *count = first + nn,
            *pos = count + nn;
    const char *src = in[0].data;
    for (int64_t j = 0; j < n; j++)
        for (int64_t o = 0; o < outer; o++)
            for (int64_t i = 0; i < inner; i++)
                keys[j * m + o * inner + i] =
                    kiln_tensor_order_key(dt, src + ((o * n + j) * inner + i) * (int64_t)es);
    for (int64_t j = 0; j < n; j++) order[j] = j;
    kiln_unique_keys uk = {keys, m};
    kiln_tensor_sort(order, n, kiln_unique_cmp, &uk, tmp);
    /* Groups in sorted order: first index (stable sort: the group's first) and count. */
    int64_t groups = 0;
    for (int64_t s = 0; s < n; s++) {
        int64_t j = order[s];
        if (s == 0 || kiln_unique_cmp(&uk, order[s - 1], j) != 0) {
            first[groups] = j;
            count[groups] = 0;
            groups++;
        }
        group_of[j] = groups - 1;
        count[groups - 1]++;
    }
    /* pos[g]: group g's output position; tmp: the group at each output position. */
    for (int64_t g = 0; g < groups; g++) tmp[g] = g;
    if (!sorted) kiln_tensor_sort(tmp, groups, kiln_unique_first_cmp, first, order);
    for (int64_t p = 0; p < groups; p++) pos[tmp[p]] = p;
    int64_t dims[KILN_MAX_DIMS];
    if (axis_attr) {
        memcpy(dims, in[0].dims, (size_t)r * sizeof *dims);
        dims[axis] = groups;
    } else {
        dims[0] = groups;
    }
    KILN_TRY(kiln_cpu_alloc_output(ctx, 0, axis_attr ? r : 1, dims));
    char *y = out[0].data;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t p = 0; p < groups; p++)
            memcpy(y + (o * groups + p) * inner * (int64_t)es,
                   src + (o * n + first[tmp[p]]) * inner * (int64_t)es, (size_t)inner * es);
    for (int32_t k = 1; k < n_out && k < 4; k++) {
        if (!kiln_tview_present(&out[k])) continue;
        int64_t len = k == 2 ? n : groups;
        if (out[k].rank < 0 || !out[k].data) KILN_TRY(kiln_cpu_alloc_output(ctx, k, 1, &len));
        int64_t *v = out[k].data;
        for (int64_t i = 0; i < len; i++)
            v[i] = k == 1 ? first[tmp[i]] : k == 2 ? pos[group_of[i]] : count[tmp[i]];
    }
    return KILN_OK;
}
