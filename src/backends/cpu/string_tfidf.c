/*
 * TfIdfVectorizer: counts the n-grams of the pool (pool_int64s or pool_strings, grouped by
 * length through ngram_counts) in each row of X, with up to max_skip_count items skipped
 * between the items of an n-gram; n-gram i is counted in output column ngram_indexes[i].
 * Unigrams are counted once (skips do not apply to them). TF gives counts, IDF
 * weights[column] (or 1) where the count is non-zero, TFIDF counts times weights.
 * The pool holds few n-grams in practice: each is looked up by a scan.
 */
#include <stdlib.h>
#include <string.h>

#include "backends/cpu/string_common.h"

typedef struct kiln_tfidf {
    const kiln_tview *x;
    const int64_t *pool_ints;
    char **pool_strings;
    int64_t pool_size;
    /* n-grams of the pool: start in the pool, length, output column */
    int64_t n_grams;
    int64_t *start, *len, *column;
} kiln_tfidf;

/* Item k of the pool equals item e of X. */
static int kiln_tfidf_same(const kiln_tfidf *t, int64_t k, int64_t e) {
    if (t->pool_strings) {
        const kiln_string *s = kiln_str_at(t->x, e);
        size_t n = strlen(t->pool_strings[k]);
        return (size_t)s->size == n && (n == 0 || !memcmp(s->data, t->pool_strings[k], n));
    }
    return t->pool_ints[k] == kiln_tview_get_int(t->x, e);
}

/* The column of the n-gram of `size` items at X[first], X[first + step], ..., or -1. The
 * last matching n-gram of the pool wins, as the reference's map overwrites ids. */
static int64_t kiln_tfidf_find(const kiln_tfidf *t, int64_t first, int64_t step, int64_t size) {
    for (int64_t g = t->n_grams - 1; g >= 0; g--) {
        if (t->len[g] != size) continue;
        int64_t i = 0;
        while (i < size && kiln_tfidf_same(t, t->start[g] + i, first + i * step)) i++;
        if (i == size) return t->column[g];
    }
    return -1;
}

kiln_status kiln_cpu_tfidf_vectorizer(kiln_cpu_ctx *ctx, const kiln_node *node,
                                      const kiln_tview *in, int32_t n_in, kiln_tview *out,
                                      int32_t n_out) {
    (void)ctx, (void)n_in, (void)n_out;
    kiln_tfidf t = {0};
    t.x = &in[0];
    int32_t n_counts = 0, n_idx = 0, n_ints = 0, n_weights = 0;
    const int64_t *counts = kiln_attr_ints(node, "ngram_counts", &n_counts);
    const int64_t *idx = kiln_attr_ints(node, "ngram_indexes", &n_idx);
    t.pool_ints = kiln_attr_ints(node, "pool_int64s", &n_ints);
    const float *weights = kiln_attr_floats(node, "weights", &n_weights);
    const kiln_attr *ps = kiln_node_attr(node, "pool_strings");
    if (ps && ps->type == KILN_ATTR_STRINGS)
        t.pool_strings = ps->strings, t.pool_size = ps->count;
    else
        t.pool_size = n_ints;
    int64_t min_n = kiln_attr_int(node, "min_gram_length", 1);
    int64_t max_n = kiln_attr_int(node, "max_gram_length", 1);
    int64_t max_skip = kiln_attr_int(node, "max_skip_count", 0);
    const char *mode = kiln_attr_string(node, "mode", "TF");
    if (min_n < 1 || max_n < min_n || max_skip < 0)
        return kiln_shape_error(node, "bad n-gram lengths (min %lld, max %lld) or skip count %lld",
                                (long long)min_n, (long long)max_n, (long long)max_skip);
    /* The pool's n-grams, numbered in pool order across all lengths. */
    int64_t total = 0;
    for (int32_t i = 0; i < n_counts; i++) {
        int64_t begin = counts[i], end = i + 1 < n_counts ? counts[i + 1] : t.pool_size;
        if (begin < 0 || end < begin || end > t.pool_size)
            return kiln_shape_error(node, "ngram_counts does not fit the pool");
        total += (end - begin) / (i + 1);
    }
    if (total > n_idx)
        return kiln_shape_error(node, "the pool holds %lld n-grams; ngram_indexes has %d",
                                (long long)total, n_idx);
    int64_t *mem = malloc(sizeof(int64_t) * 3 * (size_t)(total ? total : 1));
    if (!mem) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
    t.start = mem, t.len = mem + total, t.column = mem + 2 * total;
    for (int32_t i = 0, g = 0; i < n_counts; i++) {
        int64_t begin = counts[i], end = i + 1 < n_counts ? counts[i + 1] : t.pool_size;
        for (int64_t p = begin; p + i + 1 <= end; p += i + 1, g++) { /* whole n-grams */
            int64_t size = i + 1;
            /* only the lengths asked for are looked up */
            t.len[t.n_grams] = size >= min_n && size <= max_n ? size : -1;
            t.start[t.n_grams] = p;
            t.column[t.n_grams++] = idx[g];
        }
    }
    int64_t columns = out[0].dims[out[0].rank - 1];
    int64_t rows = t.x->rank == 2 ? t.x->dims[0] : 1;
    int64_t row_len = t.x->rank == 0 ? 1 : t.x->dims[t.x->rank - 1];
    float *y = out[0].data;
    memset(y, 0, sizeof(float) * (size_t)(rows * columns));
    for (int64_t r = 0; r < rows; r++) {
        int64_t row = r * row_len, end = row + row_len;
        float *counts_row = y + r * columns;
        int64_t start_n = min_n;
        for (int64_t skip = 1; skip <= max_skip + 1; skip++) {
            for (int64_t s = row; s < end; s++) {
                if (s + skip * (start_n - 1) >= end) break;
                for (int64_t size = start_n; size <= max_n && s + skip * (size - 1) < end; size++) {
                    int64_t col = kiln_tfidf_find(&t, s, skip, size);
                    if (col >= 0 && col < columns) counts_row[col] += 1;
                }
            }
            if (start_n == 1) { /* unigrams once: skips do not change them */
                start_n = 2;
                if (start_n > max_n) break;
            }
        }
    }
    free(mem);
    int64_t n = rows * columns;
    if (!strcmp(mode, "IDF")) {
        for (int64_t i = 0; i < n; i++)
            y[i] = y[i] > 0 ? (n_weights ? (i % columns < n_weights ? weights[i % columns] : 0) : 1)
                            : 0;
    } else if (!strcmp(mode, "TFIDF") && n_weights) {
        for (int64_t i = 0; i < n; i++) y[i] *= i % columns < n_weights ? weights[i % columns] : 0;
    }
    return KILN_OK;
}
