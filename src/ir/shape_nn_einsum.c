/* NN family: Einsum's equation parser and shape function. */
#include <ctype.h>
#include <string.h>

#include "ir/shape_nn.h"

static int letter_id(char c) {
    if (c >= 'a' && c <= 'z') return c - 'a';
    if (c >= 'A' && c <= 'Z') return 26 + (c - 'A');
    return -1;
}

/* Parses one term (letters and at most one "...") into label ids; `ell` receives the
 * position of the ellipsis among the labels (-1: none). */
static kiln_status parse_term(const kiln_node *node, const char *s, size_t len, int32_t *ids,
                              int32_t *n, int32_t *ell) {
    *n = 0;
    *ell = -1;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (isspace((unsigned char)c)) continue;
        if (c == '.') {
            if (i + 2 >= len || s[i + 1] != '.' || s[i + 2] != '.' || *ell >= 0)
                return kiln_shape_error(node, "bad ellipsis in equation");
            *ell = *n;
            i += 2;
            continue;
        }
        int id = letter_id(c);
        if (id < 0) return kiln_shape_error(node, "bad character '%c' in equation", c);
        if (*n >= KILN_MAX_DIMS) return kiln_shape_error(node, "too many labels in a term");
        ids[(*n)++] = id;
    }
    return KILN_OK;
}

/* Expands a term's ellipsis into `e_dims` labels 52 + (max_ell - e_dims) .. 52 + max_ell - 1. */
static kiln_status expand(const kiln_node *node, const int32_t *ids, int32_t n, int32_t ell,
                          int32_t e_dims, int32_t max_ell, int32_t *out, int32_t *out_n) {
    if (n + e_dims > KILN_MAX_DIMS) return kiln_shape_error(node, "too many dims");
    int32_t k = 0;
    for (int32_t i = 0; i <= n; i++) {
        if (i == ell)
            for (int32_t j = 0; j < e_dims; j++) out[k++] = 52 + max_ell - e_dims + j;
        if (i < n) out[k++] = ids[i];
    }
    *out_n = k;
    return KILN_OK;
}

kiln_status kiln_nn_einsum_parse(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                 kiln_nn_einsum *e) {
    memset(e, 0, sizeof *e);
    const char *eq = kiln_attr_string(node, "equation", NULL);
    if (!eq) return kiln_shape_error(node, "equation attribute missing");
    if (n_in > KILN_NN_EINSUM_MAX_INPUTS) return kiln_shape_error(node, "too many inputs");
    const char *arrow = strstr(eq, "->");
    size_t lhs_len = arrow ? (size_t)(arrow - eq) : strlen(eq);
    int32_t ids[KILN_NN_EINSUM_MAX_INPUTS][KILN_MAX_DIMS], n[KILN_NN_EINSUM_MAX_INPUTS],
        ell[KILN_NN_EINSUM_MAX_INPUTS];
    int32_t terms = 0, max_ell = 0;
    size_t start = 0;
    for (size_t i = 0; i <= lhs_len; i++) {
        if (i < lhs_len && eq[i] != ',') continue;
        if (terms >= n_in) return kiln_shape_error(node, "equation has more terms than inputs");
        KILN_TRY(parse_term(node, eq + start, i - start, ids[terms], &n[terms], &ell[terms]));
        start = i + 1;
        terms++;
    }
    if (terms != n_in)
        return kiln_shape_error(node, "equation has %d terms for %d inputs", (int)terms, (int)n_in);
    e->n_inputs = n_in;
    for (int32_t t = 0; t < n_in; t++) {
        if (in[t].rank < 0) return kiln_shape_error(node, "input rank unknown");
        int32_t e_dims = ell[t] >= 0 ? in[t].rank - n[t] : 0;
        if (e_dims < 0 || (ell[t] < 0 && in[t].rank != n[t]))
            return kiln_shape_error(node, "term %d has %d labels for rank %d", (int)t, (int)n[t],
                                    (int)in[t].rank);
        if (e_dims > max_ell) max_ell = e_dims;
    }
    for (int32_t l = 0; l < KILN_NN_EINSUM_LABELS; l++) e->label_dim[l] = 1;
    int count[KILN_NN_EINSUM_LABELS] = {0};
    for (int32_t t = 0; t < n_in; t++) {
        int32_t e_dims = ell[t] >= 0 ? in[t].rank - n[t] : 0;
        KILN_TRY(
            expand(node, ids[t], n[t], ell[t], e_dims, max_ell, e->in_labels[t], &e->in_rank[t]));
        for (int32_t d = 0; d < e->in_rank[t]; d++) {
            int32_t l = e->in_labels[t][d];
            int64_t sz = in[t].dims[d];
            count[l]++;
            if (!e->used[l] || e->label_dim[l] == 1)
                e->label_dim[l] = sz;
            else if (sz != 1 && sz >= 0 && e->label_dim[l] >= 0 && sz != e->label_dim[l])
                return kiln_shape_error(node, "label '%c' has sizes %lld and %lld",
                                        l < 26   ? 'a' + l
                                        : l < 52 ? 'A' + l - 26
                                                 : '.',
                                        (long long)e->label_dim[l], (long long)sz);
            e->used[l] = 1;
        }
    }
    if (arrow) {
        int32_t oids[KILN_MAX_DIMS], on, oell;
        const char *rhs = arrow + 2;
        KILN_TRY(parse_term(node, rhs, strlen(rhs), oids, &on, &oell));
        KILN_TRY(expand(node, oids, on, oell, oell >= 0 ? max_ell : 0, max_ell, e->out_labels,
                        &e->out_rank));
        for (int32_t d = 0; d < e->out_rank; d++) {
            int32_t l = e->out_labels[d];
            if (!e->used[l] && l < 52) return kiln_shape_error(node, "output label not in inputs");
            for (int32_t k = 0; k < d; k++)
                if (e->out_labels[k] == l) return kiln_shape_error(node, "repeated output label");
        }
    } else {
        /* implicit output: the ellipsis dims, then labels seen once, alphabetically */
        int32_t k = 0;
        for (int32_t j = 0; j < max_ell; j++) e->out_labels[k++] = 52 + j;
        for (int32_t l = 0; l < 52; l++)
            if (count[l] == 1) {
                if (k >= KILN_MAX_DIMS) return kiln_shape_error(node, "too many output dims");
                e->out_labels[k++] = l;
            }
        e->out_rank = k;
    }
    return KILN_OK;
}

kiln_status kiln_shape_Einsum(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                              kiln_tview *out, int32_t n_out) {
    for (int32_t i = 1; i < n_in; i++)
        if (in[i].dtype != in[0].dtype) return kiln_shape_error(node, "input dtypes differ");
    out[0].dtype = in[0].dtype;
    for (int32_t i = 0; i < n_in; i++)
        if (in[i].rank < 0) {
            out[0].rank = -1;
            return KILN_OK;
        }
    kiln_nn_einsum e;
    KILN_TRY(kiln_nn_einsum_parse(node, in, n_in, &e));
    out[0].rank = e.out_rank;
    for (int32_t d = 0; d < e.out_rank; d++) out[0].dims[d] = e.label_dim[e.out_labels[d]];
    return KILN_OK;
}
