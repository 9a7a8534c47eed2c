/*
 * StringSplit: each string cut into pieces as Python's str.split(delimiter, maxsplit) does:
 * with a delimiter, at every occurrence; without one (or an empty one), at runs of
 * whitespace, ignoring leading and trailing whitespace. Output 0 is [*X.shape, M] with M
 * the most pieces of any string, padded with empty strings; output 1 counts the pieces.
 */
#include <string.h>

#include "backends/cpu/string_common.h"

static int kiln_split_space(char c) {
    return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f);
}

/* The pieces of s as (start, length) pairs into `pieces` (when non-NULL); returns how many. */
static int64_t kiln_split_one(const kiln_string *s, const char *sep, size_t sep_len,
                              int64_t max_split, int64_t *pieces) {
    const char *p = s->data;
    int64_t n = s->size, i = 0, count = 0;
    int64_t left = max_split < 0 ? INT64_MAX : max_split;
    if (sep_len) {
        while (left-- > 0) {
            int64_t pos = -1;
            for (int64_t k = i; k + (int64_t)sep_len <= n; k++)
                if (!memcmp(p + k, sep, sep_len)) {
                    pos = k;
                    break;
                }
            if (pos < 0) break;
            if (pieces) pieces[2 * count] = i, pieces[2 * count + 1] = pos - i;
            count++;
            i = pos + (int64_t)sep_len;
        }
        if (pieces) pieces[2 * count] = i, pieces[2 * count + 1] = n - i;
        return count + 1;
    }
    while (left-- > 0) {
        while (i < n && kiln_split_space(p[i])) i++;
        if (i == n) break;
        int64_t j = i++;
        while (i < n && !kiln_split_space(p[i])) i++;
        if (pieces) pieces[2 * count] = j, pieces[2 * count + 1] = i - j;
        count++;
    }
    if (i < n) { /* maxsplit reached: the rest, without its leading whitespace */
        while (i < n && kiln_split_space(p[i])) i++;
        if (i != n) {
            if (pieces) pieces[2 * count] = i, pieces[2 * count + 1] = n - i;
            count++;
        }
    }
    return count;
}

kiln_status kiln_cpu_string_split(kiln_cpu_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                                  int32_t n_in, kiln_tview *out, int32_t n_out) {
    (void)n_in;
    const kiln_attr *delim = kiln_node_attr(node, "delimiter");
    const char *sep = delim && delim->type == KILN_ATTR_STRING ? delim->s : "";
    size_t sep_len = delim && delim->type == KILN_ATTR_STRING ? delim->s_len : 0;
    const kiln_attr *ms = kiln_node_attr(node, "maxsplit");
    int64_t max_split = ms && ms->type == KILN_ATTR_INT ? ms->i : -1;
    const kiln_tview *x = &in[0];
    int64_t n = kiln_tview_count(x), most = 0, longest = 0;
    size_t total = 0;
    for (int64_t e = 0; e < n; e++) {
        int64_t c = kiln_split_one(kiln_str_at(x, e), sep, sep_len, max_split, NULL);
        if (c > most) most = c;
        total += (size_t)kiln_str_at(x, e)->size;
    }
    longest = most;
    int64_t dims[KILN_MAX_DIMS];
    memcpy(dims, x->dims, sizeof(int64_t) * (size_t)x->rank);
    dims[x->rank] = most;
    char *bytes;
    KILN_TRY(kiln_cpu_alloc_strings(ctx, 0, x->rank + 1, dims, total, &bytes));
    int64_t *pieces = kiln_cpu_scratch(ctx, sizeof(int64_t) * 2 * (size_t)(longest + 1));
    if (!pieces) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
    kiln_string *z = (kiln_string *)out[0].data;
    for (int64_t e = 0; e < n; e++) {
        const kiln_string *s = kiln_str_at(x, e);
        int64_t c = kiln_split_one(s, sep, sep_len, max_split, pieces);
        for (int64_t k = 0; k < c; k++) {
            kiln_string *d = &z[e * most + k];
            d->data = bytes;
            d->size = pieces[2 * k + 1];
            if (d->size) memcpy(bytes, s->data + pieces[2 * k], (size_t)d->size);
            bytes += d->size;
        }
        if (n_out > 1 && node->outputs[1] >= 0) ((int64_t *)out[1].data)[e] = c;
    }
    return KILN_OK;
}
