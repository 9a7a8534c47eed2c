/*
 * Shape functions of the string ops (ops_string.def). String outputs are allocated by their
 * kernels: dims that depend on the strings' contents stay -1.
 */
#include <stdlib.h>
#include <string.h>

#include "ir/shape_string.h"

static kiln_status kiln_str_input(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                  int32_t i) {
    if (i >= n_in || !kiln_tview_present(&in[i]))
        return kiln_shape_error(node, "input %d is required", i);
    if (in[i].data && in[i].kind != KILN_VALUE_TENSOR)
        return kiln_shape_error(node, "input %d must be a tensor, not a %s", i,
                                kiln_value_kind_name(in[i].kind));
    if (in[i].dtype != KILN_DTYPE_STRING)
        return kiln_shape_error(node, "input %d must be string, not %s", i,
                                kiln_dtype_name(in[i].dtype));
    return KILN_OK;
}

static void kiln_str_set(kiln_tview *out, kiln_dtype dtype, int32_t rank, const int64_t *dims) {
    if (!kiln_tview_present(out)) return;
    out->kind = KILN_VALUE_TENSOR;
    out->dtype = dtype;
    out->rank = rank;
    for (int32_t d = 0; d < rank; d++) out->dims[d] = dims ? dims[d] : -1;
}

kiln_status kiln_shape_StringNormalizer(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                        kiln_tview *out, int32_t n_out) {
    (void)n_out;
    KILN_TRY(kiln_str_input(node, in, n_in, 0));
    const char *action = kiln_attr_string(node, "case_change_action", "NONE");
    if (strcmp(action, "NONE") && strcmp(action, "LOWER") && strcmp(action, "UPPER"))
        return kiln_shape_error(node, "case_change_action must be NONE, LOWER or UPPER, not '%s'",
                                action);
    if (in[0].rank >= 0 && in[0].rank != 1 && !(in[0].rank == 2 && in[0].dims[0] <= 1))
        return kiln_shape_error(node, "the input must be [C] or [1, C]");
    /* Stop words drop elements: the last dim depends on the strings. */
    int64_t dims[2] = {in[0].rank == 2 ? 1 : -1, -1};
    kiln_str_set(&out[0], KILN_DTYPE_STRING, in[0].rank, in[0].rank == 2 ? dims : NULL);
    return KILN_OK;
}

kiln_status kiln_shape_StringSplit(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                   kiln_tview *out, int32_t n_out) {
    KILN_TRY(kiln_str_input(node, in, n_in, 0));
    if (in[0].rank + 1 > KILN_MAX_DIMS)
        return kiln_node_error(KILN_ERR_UNSUPPORTED, node, "input rank %d is too high", in[0].rank);
    if (in[0].rank < 0) {
        kiln_str_set(&out[0], KILN_DTYPE_STRING, -1, NULL);
        if (n_out > 1) kiln_str_set(&out[1], KILN_DTYPE_INT64, -1, NULL);
        return KILN_OK;
    }
    int64_t dims[KILN_MAX_DIMS];
    memcpy(dims, in[0].dims, sizeof(int64_t) * (size_t)in[0].rank);
    dims[in[0].rank] = -1; /* the most pieces of any string */
    kiln_str_set(&out[0], KILN_DTYPE_STRING, in[0].rank + 1, dims);
    if (n_out > 1) kiln_str_set(&out[1], KILN_DTYPE_INT64, in[0].rank, in[0].dims);
    return KILN_OK;
}

kiln_status kiln_shape_StringConcat(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                    kiln_tview *out, int32_t n_out) {
    (void)n_out;
    KILN_TRY(kiln_str_input(node, in, n_in, 0));
    KILN_TRY(kiln_str_input(node, in, n_in, 1));
    kiln_tview shape;
    memset(&shape, 0, sizeof shape);
    KILN_TRY(kiln_broadcast_shapes(node, &in[0], &in[1], &shape));
    kiln_str_set(&out[0], KILN_DTYPE_STRING, shape.rank, shape.dims);
    return KILN_OK;
}

kiln_status kiln_shape_RegexFullMatch(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                      kiln_tview *out, int32_t n_out) {
    (void)n_out;
    KILN_TRY(kiln_str_input(node, in, n_in, 0));
    const kiln_attr *pattern = kiln_node_attr(node, "pattern");
    if (!pattern || pattern->type != KILN_ATTR_STRING)
        return kiln_shape_error(node, "the attribute 'pattern' is required");
    if (!in[0].data) { /* static inference: check the pattern translates, once */
        char *posix = NULL;
        int icase;
        KILN_TRY(kiln_regex_translate(node, pattern->s, pattern->s_len, &posix, &icase));
        free(posix);
    }
    kiln_str_set(&out[0], KILN_DTYPE_BOOL, in[0].rank, in[0].dims);
    return KILN_OK;
}

kiln_status kiln_shape_TfIdfVectorizer(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                       kiln_tview *out, int32_t n_out) {
    (void)n_out;
    if (n_in < 1 || !kiln_tview_present(&in[0]))
        return kiln_shape_error(node, "input 0 is required");
    kiln_dtype dt = in[0].dtype;
    if (dt != KILN_DTYPE_STRING && dt != KILN_DTYPE_INT32 && dt != KILN_DTYPE_INT64)
        return kiln_shape_error(node, "the input must be string, int32 or int64, not %s",
                                kiln_dtype_name(dt));
    if (in[0].rank > 2) return kiln_shape_error(node, "the input must be [C] or [N, C]");
    const char *mode = kiln_attr_string(node, "mode", "");
    if (strcmp(mode, "TF") && strcmp(mode, "IDF") && strcmp(mode, "TFIDF"))
        return kiln_shape_error(node, "mode must be TF, IDF or TFIDF, not '%s'", mode);
    int32_t n_idx = 0, n_counts = 0, n_ints = 0;
    const int64_t *idx = kiln_attr_ints(node, "ngram_indexes", &n_idx);
    kiln_attr_ints(node, "ngram_counts", &n_counts);
    kiln_attr_ints(node, "pool_int64s", &n_ints);
    const kiln_attr *strings = kiln_node_attr(node, "pool_strings");
    if (!n_idx || !n_counts)
        return kiln_shape_error(node, "ngram_indexes and ngram_counts are required");
    if ((dt == KILN_DTYPE_STRING) != (strings != NULL) || (strings && n_ints))
        return kiln_shape_error(node, "%s input needs pool_%s",
                                dt == KILN_DTYPE_STRING ? "a string" : "an integer",
                                dt == KILN_DTYPE_STRING ? "strings" : "int64s");
    int64_t size = 0;
    for (int32_t i = 0; i < n_idx; i++) {
        if (idx[i] < 0)
            return kiln_shape_error(node, "ngram_indexes holds %lld", (long long)idx[i]);
        if (idx[i] + 1 > size) size = idx[i] + 1;
    }
    int64_t dims[2] = {in[0].rank == 2 ? in[0].dims[0] : size, size};
    if (in[0].rank < 0) {
        kiln_str_set(&out[0], KILN_DTYPE_FLOAT32, -1, NULL);
        return KILN_OK;
    }
    kiln_str_set(&out[0], KILN_DTYPE_FLOAT32, in[0].rank == 2 ? 2 : 1,
                 in[0].rank == 2 ? dims : dims + 1);
    return KILN_OK;
}
