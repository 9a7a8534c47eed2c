/*
 * Shape functions of sequences and optionals (ops_sequence.def).
 *
 * Sequence and empty-optional outputs have no shape: they get kind SEQUENCE (or NONE),
 * their element dtype and rank -1, and their kernels allocate them. Tensor outputs taken
 * out of a sequence (SequenceAt, ConcatFromSequence) depend on its values, so they are
 * data-dependent too. During static inference a sequence input may look like a tensor of
 * unknown rank (graph inputs carry no kind there): kinds are checked at run time only,
 * when `data` is set.
 */
#include "ir/tview.h"

static void kiln_seq_output(kiln_tview *out, uint8_t kind, kiln_dtype dtype) {
    if (!kiln_tview_present(out)) return;
    out->kind = kind;
    out->dtype = dtype;
    out->rank = -1;
    out->seq_count = 0;
    out->seq_items = NULL;
}

/* Input i must be a sequence (checked when its value is known). */
static kiln_status kiln_seq_input(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                  int32_t i) {
    if (i >= n_in || !kiln_tview_present(&in[i]))
        return kiln_shape_error(node, "input %d (a sequence) is required", i);
    if (in[i].data && in[i].kind != KILN_VALUE_SEQUENCE)
        return kiln_shape_error(node, "input %d must be a sequence, not a %s", i,
                                kiln_value_kind_name(in[i].kind));
    return KILN_OK;
}

/* Input i, when present, must be a tensor (checked when its value is known). */
static kiln_status kiln_seq_tensor_input(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                         int32_t i, int required) {
    if (i >= n_in || !kiln_tview_present(&in[i])) {
        if (required) return kiln_shape_error(node, "input %d is required", i);
        return KILN_OK;
    }
    if (in[i].data && in[i].kind != KILN_VALUE_TENSOR)
        return kiln_shape_error(node, "input %d must be a tensor, not a %s", i,
                                kiln_value_kind_name(in[i].kind));
    return KILN_OK;
}

/* A position input: an int32/int64 scalar (or one element), when present. */
static kiln_status kiln_seq_position_input(const kiln_node *node, const kiln_tview *in,
                                           int32_t n_in, int32_t i, int required) {
    KILN_TRY(kiln_seq_tensor_input(node, in, n_in, i, required));
    if (i >= n_in || !kiln_tview_present(&in[i])) return KILN_OK;
    if (in[i].dtype != KILN_DTYPE_INT32 && in[i].dtype != KILN_DTYPE_INT64)
        return kiln_shape_error(node, "input %d (a position) must be int32 or int64, not %s", i,
                                kiln_dtype_name(in[i].dtype));
    if (in[i].rank > 1 || (in[i].rank >= 0 && kiln_tview_count(&in[i]) > 1))
        return kiln_shape_error(node, "input %d (a position) must be a scalar", i);
    return KILN_OK;
}

kiln_status kiln_shape_SequenceConstruct(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                         kiln_tview *out, int32_t n_out) {
    (void)n_out;
    for (int32_t i = 0; i < n_in; i++) {
        KILN_TRY(kiln_seq_tensor_input(node, in, n_in, i, 1));
        if (in[i].dtype != in[0].dtype && in[i].dtype != KILN_DTYPE_UNDEFINED &&
            in[0].dtype != KILN_DTYPE_UNDEFINED)
            return kiln_shape_error(node, "inputs 0 and %d have different dtypes (%s, %s)", i,
                                    kiln_dtype_name(in[0].dtype), kiln_dtype_name(in[i].dtype));
    }
    kiln_seq_output(&out[0], KILN_VALUE_SEQUENCE, in[0].dtype);
    return KILN_OK;
}

kiln_status kiln_shape_SequenceEmpty(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                     kiln_tview *out, int32_t n_out) {
    (void)in, (void)n_in, (void)n_out;
    int64_t dtype = kiln_attr_int(node, "dtype", KILN_DTYPE_FLOAT32);
    if (dtype <= KILN_DTYPE_UNDEFINED || dtype > KILN_DTYPE_INT2)
        return kiln_shape_error(node, "dtype %lld is not a tensor element type", (long long)dtype);
    kiln_seq_output(&out[0], KILN_VALUE_SEQUENCE, (kiln_dtype)dtype);
    return KILN_OK;
}

kiln_status kiln_shape_SequenceInsert(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                      kiln_tview *out, int32_t n_out) {
    (void)n_out;
    KILN_TRY(kiln_seq_input(node, in, n_in, 0));
    KILN_TRY(kiln_seq_tensor_input(node, in, n_in, 1, 1));
    KILN_TRY(kiln_seq_position_input(node, in, n_in, 2, 0));
    kiln_dtype dtype = in[1].dtype != KILN_DTYPE_UNDEFINED ? in[1].dtype : in[0].dtype;
    /* An empty sequence takes the dtype of what is inserted; otherwise they must agree. */
    if (in[0].data && in[0].seq_count > 0 && in[0].dtype != in[1].dtype)
        return kiln_shape_error(node, "inserting a %s tensor into a sequence of %s",
                                kiln_dtype_name(in[1].dtype), kiln_dtype_name(in[0].dtype));
    kiln_seq_output(&out[0], KILN_VALUE_SEQUENCE, dtype);
    return KILN_OK;
}

kiln_status kiln_shape_SequenceErase(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                     kiln_tview *out, int32_t n_out) {
    (void)n_out;
    KILN_TRY(kiln_seq_input(node, in, n_in, 0));
    KILN_TRY(kiln_seq_position_input(node, in, n_in, 1, 0));
    kiln_seq_output(&out[0], KILN_VALUE_SEQUENCE, in[0].dtype);
    return KILN_OK;
}

kiln_status kiln_shape_SequenceAt(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                  kiln_tview *out, int32_t n_out) {
    (void)n_out;
    KILN_TRY(kiln_seq_input(node, in, n_in, 0));
    KILN_TRY(kiln_seq_position_input(node, in, n_in, 1, 1));
    kiln_seq_output(&out[0], KILN_VALUE_TENSOR, in[0].dtype);
    return KILN_OK;
}

kiln_status kiln_shape_SequenceLength(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                      kiln_tview *out, int32_t n_out) {
    (void)n_out;
    KILN_TRY(kiln_seq_input(node, in, n_in, 0));
    out[0].kind = KILN_VALUE_TENSOR;
    out[0].dtype = KILN_DTYPE_INT64;
    out[0].rank = 0;
    return KILN_OK;
}

kiln_status kiln_shape_ConcatFromSequence(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                          kiln_tview *out, int32_t n_out) {
    (void)n_out;
    KILN_TRY(kiln_seq_input(node, in, n_in, 0));
    if (!kiln_node_attr(node, "axis"))
        return kiln_shape_error(node, "the attribute 'axis' is required");
    int64_t new_axis = kiln_attr_int(node, "new_axis", 0);
    if (new_axis != 0 && new_axis != 1)
        return kiln_shape_error(node, "new_axis must be 0 or 1, not %lld", (long long)new_axis);
    kiln_seq_output(&out[0], KILN_VALUE_TENSOR, in[0].dtype);
    return KILN_OK;
}

kiln_status kiln_shape_SplitToSequence(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                       kiln_tview *out, int32_t n_out) {
    (void)n_out;
    KILN_TRY(kiln_seq_tensor_input(node, in, n_in, 0, 1));
    KILN_TRY(kiln_seq_tensor_input(node, in, n_in, 1, 0));
    if (n_in > 1 && kiln_tview_present(&in[1])) {
        if (in[1].dtype != KILN_DTYPE_INT32 && in[1].dtype != KILN_DTYPE_INT64)
            return kiln_shape_error(node, "split must be int32 or int64, not %s",
                                    kiln_dtype_name(in[1].dtype));
        if (in[1].rank > 1) return kiln_shape_error(node, "split must be a scalar or 1-D");
    }
    if (in[0].rank >= 0) {
        int64_t axis = kiln_attr_int(node, "axis", 0);
        if (axis < -in[0].rank || axis >= in[0].rank || in[0].rank == 0)
            return kiln_shape_error(node, "axis %lld is out of range for rank %d", (long long)axis,
                                    in[0].rank);
    }
    kiln_seq_output(&out[0], KILN_VALUE_SEQUENCE, in[0].dtype);
    return KILN_OK;
}

kiln_status kiln_shape_SequenceMap(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                   kiln_tview *out, int32_t n_out) {
    const kiln_attr *body = kiln_node_attr(node, "body");
    if (!body || body->type != KILN_ATTR_GRAPH)
        return kiln_shape_error(node, "needs a graph attribute 'body'");
    const kiln_graph *g = body->graph;
    if (g->input_count != n_in || g->output_count != n_out)
        return kiln_shape_error(node,
                                "the body takes %d inputs and gives %d outputs; the node "
                                "has %d inputs and %d outputs",
                                g->input_count, g->output_count, n_in, n_out);
    KILN_TRY(kiln_seq_input(node, in, n_in, 0));
    for (int32_t i = 0; i < n_out; i++) {
        kiln_dtype d = g->tensors[g->outputs[i]].dtype;
        kiln_seq_output(&out[i], KILN_VALUE_SEQUENCE, d != KILN_DTYPE_UNDEFINED ? d : out[i].dtype);
    }
    return KILN_OK;
}

/* Optional's `type` attribute (INTS {kind, dtype} from the importer): the element dtype. */
static kiln_dtype kiln_optional_type_dtype(const kiln_node *node, kiln_dtype dflt) {
    int32_t n = 0;
    const int64_t *v = kiln_attr_ints(node, "type", &n);
    return n == 2 && v[1] > 0 && v[1] <= KILN_DTYPE_INT2 ? (kiln_dtype)v[1] : dflt;
}

kiln_status kiln_shape_Optional(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                kiln_tview *out, int32_t n_out) {
    (void)n_out;
    if (n_in < 1 || !kiln_tview_present(&in[0])) {
        if (!kiln_node_attr(node, "type"))
            return kiln_shape_error(node, "without an input, the attribute 'type' is required");
        kiln_seq_output(&out[0], KILN_VALUE_NONE, kiln_optional_type_dtype(node, out[0].dtype));
        return KILN_OK;
    }
    if (!in[0].data && in[0].kind == KILN_VALUE_TENSOR) {
        out[0] = in[0]; /* static inference: the value it holds */
        return KILN_OK;
    }
    kiln_seq_output(&out[0], in[0].kind, in[0].dtype);
    return KILN_OK;
}

kiln_status kiln_shape_OptionalHasElement(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                          kiln_tview *out, int32_t n_out) {
    (void)node, (void)in, (void)n_in, (void)n_out;
    out[0].kind = KILN_VALUE_TENSOR;
    out[0].dtype = KILN_DTYPE_BOOL;
    out[0].rank = 0;
    return KILN_OK;
}

kiln_status kiln_shape_OptionalGetElement(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                          kiln_tview *out, int32_t n_out) {
    (void)n_out;
    if (n_in < 1 || !kiln_tview_present(&in[0]))
        return kiln_shape_error(node, "input 0 is required");
    if (in[0].data && in[0].kind == KILN_VALUE_NONE)
        return kiln_shape_error(node, "the optional input is empty");
    if (!in[0].data && in[0].kind == KILN_VALUE_TENSOR) {
        out[0] = in[0];
        return KILN_OK;
    }
    kiln_seq_output(&out[0], in[0].kind == KILN_VALUE_NONE ? KILN_VALUE_TENSOR : in[0].kind,
                    in[0].dtype);
    return KILN_OK;
}
