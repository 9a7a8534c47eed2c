/* TopK: per lane along the axis, the k largest (or smallest) elements by order key, ties
 * broken by the smaller index; a bounded heap when k is small, a full sort otherwise. */
#include <stdlib.h>

#include "backends/cpu/tensor_common.h"

typedef struct kiln_topk_item {
    uint64_t key; /* smaller is better (keys of `largest` are complemented) */
    int64_t idx;
} kiln_topk_item;

static int kiln_topk_before(const kiln_topk_item *a, const kiln_topk_item *b) {
    return a->key != b->key ? a->key < b->key : a->idx < b->idx;
}

static int kiln_topk_cmp(const void *pa, const void *pb) {
    const kiln_topk_item *a = pa, *b = pb;
    return kiln_topk_before(a, b) ? -1 : kiln_topk_before(b, a) ? 1 : 0;
}

/* Sift-down in a heap whose root is the worst kept item. */
static void kiln_topk_sift(kiln_topk_item *h, int64_t n, int64_t i) {
    for (;;) {
        int64_t l = 2 * i + 1, r = l + 1, w = i;
        if (l < n && kiln_topk_before(&h[w], &h[l])) w = l;
        if (r < n && kiln_topk_before(&h[w], &h[r])) w = r;
        if (w == i) return;
        kiln_topk_item t = h[i];
        h[i] = h[w];
        h[w] = t;
        i = w;
    }
}

/* The best k of items[0..n), sorted, into items[0..k). */
static void kiln_topk_select(kiln_topk_item *items, int64_t n, int64_t k) {
    if (k < n / 4) {
        for (int64_t i = k / 2 - 1; i >= 0; i--) kiln_topk_sift(items, k, i);
        for (int64_t i = k; i < n; i++) {
            if (kiln_topk_before(&items[i], &items[0])) {
                items[0] = items[i];
                kiln_topk_sift(items, k, 0);
            }
        }
        qsort(items, (size_t)k, sizeof *items, kiln_topk_cmp);
    } else {
        qsort(items, (size_t)n, sizeof *items, kiln_topk_cmp);
    }
}

kiln_status kiln_cpu_tensor_top_k(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                                  int32_t n_in, kiln_tview *out, int32_t n_out) {
    size_t es;
    int32_t r = in[0].rank, axis;
    kiln_dtype dt = in[0].dtype;
    KILN_TRY(kiln_tensor_elem_size(node, dt, &es));
    if (!kiln_tensor_keyable(dt))
        return kiln_node_error(KILN_ERR_UNSUPPORTED, node, "dtype %s not supported",
                               kiln_dtype_name(dt));
    KILN_TRY(kiln_tensor_axis(node, "axis", kiln_attr_int(node, "axis", -1), r, &axis));
    int64_t k = node->opset < 10 ? kiln_attr_int(node, "k", 0) : kiln_tview_get_int(&in[1], 0);
    (void)n_in;
    int largest = kiln_attr_int(node, "largest", 1) != 0;
    int64_t outer = 1, n = in[0].dims[axis], inner = 1;
    for (int32_t i = 0; i < axis; i++) outer *= in[0].dims[i];
    for (int32_t i = axis + 1; i < r; i++) inner *= in[0].dims[i];
    if (k < 0 || k > n) return kiln_shape_error(node, "k %lld is out of range", (long long)k);
    int64_t lanes = outer * inner;
    if (lanes == 0 || k == 0) return KILN_OK;
    char *vals = n_out > 0 && kiln_tview_present(&out[0]) ? out[0].data : NULL;
    int64_t *idxs = n_out > 1 && kiln_tview_present(&out[1]) ? out[1].data : NULL;
    int nt = kiln_tensor_threads(ctx, lanes * n * 16);
    if (nt > lanes) nt = (int)lanes;
    kiln_topk_item *items = kiln_cpu_scratch(ctx, (size_t)nt * (size_t)n * sizeof *items);
    if (!items) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
    const char *src = in[0].data;
#ifdef KILN_HAVE_OPENMP
#pragma omp parallel for num_threads(nt) if (nt > 1)
#endif
    for (int t = 0; t < nt; t++) {
        kiln_topk_item *it = items + (int64_t)t * n;
        for (int64_t lane = lanes * t / nt; lane < lanes * (t + 1) / nt; lane++) {
            int64_t o = lane / inner, i = lane % inner;
            const char *base = src + (o * n * inner + i) * (int64_t)es;
            for (int64_t j = 0; j < n; j++) {
                uint64_t key = kiln_tensor_order_key(dt, base + j * inner * (int64_t)es);
                it[j].key = largest ? ~key : key;
                it[j].idx = j;
            }
            kiln_topk_select(it, n, k);
            for (int64_t j = 0; j < k; j++) {
                int64_t at = (o * k + j) * inner + i;
                if (vals)
                    kiln_tensor_copy_elem(vals + at * (int64_t)es,
                                          base + it[j].idx * inner * (int64_t)es, es);
                if (idxs) idxs[at] = it[j].idx;
            }
        }
    }
    return KILN_OK;
}
