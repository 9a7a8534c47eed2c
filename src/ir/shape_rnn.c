/* Recurrent family shape functions: RNN, GRU, LSTM (every opset; layout from opset 14). */
#include <string.h>

#include "ir/shape_rnn.h"

static int rnn_is_float(kiln_dtype dt) {
    return dt == KILN_DTYPE_FLOAT32 || dt == KILN_DTYPE_FLOAT64 || dt == KILN_DTYPE_FLOAT16 ||
           dt == KILN_DTYPE_BFLOAT16;
}

/* Merges a size read from a tensor into *known: an error when both are known and differ. */
static kiln_status rnn_merge(const kiln_node *node, const char *what, int64_t seen,
                             int64_t *known) {
    if (seen < 0) return KILN_OK;
    if (*known >= 0 && *known != seen)
        return kiln_shape_error(node, "%s: size %lld where %lld was expected", what,
                                (long long)seen, (long long)*known);
    *known = seen;
    return KILN_OK;
}

/* An optional input's rank and dtype (the dims are merged by the caller). */
static kiln_status rnn_check_input(const kiln_node *node, const kiln_tview *t, const char *name,
                                   int32_t rank, kiln_dtype dtype) {
    if (t->dtype != dtype)
        return kiln_shape_error(node, "%s must be %s like X, got %s", name, kiln_dtype_name(dtype),
                                kiln_dtype_name(t->dtype));
    if (t->rank >= 0 && t->rank != rank)
        return kiln_shape_error(node, "%s must have rank %d, got %d", name, (int)rank,
                                (int)t->rank);
    return KILN_OK;
}

/* dims[i] of t, or -1 when its rank is unknown. */
static int64_t rnn_dim(const kiln_tview *t, int32_t i) {
    return t->rank > i ? t->dims[i] : -1;
}

/* Divides a known size by `by`, an error when it does not divide. */
static kiln_status rnn_split(const kiln_node *node, const char *what, int64_t n, int64_t by,
                             int64_t *out) {
    if (n < 0) {
        *out = -1;
        return KILN_OK;
    }
    if (n % by != 0)
        return kiln_shape_error(node, "%s: %lld is not a multiple of %lld", what, (long long)n,
                                (long long)by);
    *out = n / by;
    return KILN_OK;
}

static kiln_status rnn_attrs(const kiln_node *node, kiln_rnn_dims *d) {
    const char *dir = kiln_attr_string(node, "direction", "forward");
    d->ndir = 1;
    d->reverse = 0;
    if (!strcmp(dir, "bidirectional"))
        d->ndir = 2;
    else if (!strcmp(dir, "reverse"))
        d->reverse = 1;
    else if (strcmp(dir, "forward") != 0)
        return kiln_shape_error(node, "unknown direction '%s'", dir);
    d->gates = node->op == KILN_OP_LSTM ? 4 : node->op == KILN_OP_GRU ? 3 : 1;
    d->layout = node->opset >= 14 ? (int32_t)kiln_attr_int(node, "layout", 0) : 0;
    if (d->layout != 0 && d->layout != 1)
        return kiln_shape_error(node, "layout must be 0 or 1, got %d", (int)d->layout);
    d->hidden = -1;
    if (kiln_node_attr(node, "hidden_size")) {
        d->hidden = kiln_attr_int(node, "hidden_size", 0);
        if (d->hidden <= 0)
            return kiln_shape_error(node, "hidden_size must be positive, got %lld",
                                    (long long)d->hidden);
    }
    if (node->op == KILN_OP_GRU && kiln_attr_int(node, "linear_before_reset", 0) != 0 &&
        kiln_attr_int(node, "linear_before_reset", 0) != 1)
        return kiln_shape_error(node, "linear_before_reset must be 0 or 1");
    return KILN_OK;
}

/* The [ndir, batch, hidden] (layout 1: [batch, ndir, hidden]) state inputs. */
static kiln_status rnn_state_input(const kiln_node *node, const kiln_tview *t, const char *name,
                                   kiln_dtype dtype, kiln_rnn_dims *d) {
    KILN_TRY(rnn_check_input(node, t, name, 3, dtype));
    int64_t nd = d->ndir;
    KILN_TRY(rnn_merge(node, name, rnn_dim(t, d->layout ? 1 : 0), &nd));
    KILN_TRY(rnn_merge(node, name, rnn_dim(t, d->layout ? 0 : 1), &d->batch));
    KILN_TRY(rnn_merge(node, name, rnn_dim(t, 2), &d->hidden));
    return KILN_OK;
}

kiln_status kiln_rnn_get_dims(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                              kiln_rnn_dims *d) {
    KILN_TRY(rnn_attrs(node, d));
    const kiln_tview *x = &in[KILN_RNN_IN_X], *w = &in[KILN_RNN_IN_W], *r = &in[KILN_RNN_IN_R];
    kiln_dtype dt = x->dtype;
    if (!rnn_is_float(dt))
        return kiln_shape_error(node, "X must be a float tensor, got %s", kiln_dtype_name(dt));
    if (x->rank >= 0 && x->rank != 3)
        return kiln_shape_error(node, "X must have rank 3, got %d", (int)x->rank);
    KILN_TRY(rnn_check_input(node, w, "W", 3, dt));
    KILN_TRY(rnn_check_input(node, r, "R", 3, dt));
    d->seq = rnn_dim(x, d->layout ? 1 : 0);
    d->batch = rnn_dim(x, d->layout ? 0 : 1);
    d->input = rnn_dim(x, 2);
    int64_t g = d->gates, nd = d->ndir, h;
    KILN_TRY(rnn_merge(node, "R's hidden size (dim 2)", rnn_dim(r, 2), &d->hidden));
    KILN_TRY(rnn_split(node, "W dim 1 (gates x hidden_size)", rnn_dim(w, 1), g, &h));
    KILN_TRY(rnn_merge(node, "W dim 1 / gates", h, &d->hidden));
    KILN_TRY(rnn_split(node, "R dim 1 (gates x hidden_size)", rnn_dim(r, 1), g, &h));
    KILN_TRY(rnn_merge(node, "R dim 1 / gates", h, &d->hidden));
    KILN_TRY(rnn_merge(node, "W dim 0 (num_directions)", rnn_dim(w, 0), &nd));
    KILN_TRY(rnn_merge(node, "R dim 0 (num_directions)", rnn_dim(r, 0), &nd));
    KILN_TRY(rnn_merge(node, "W dim 2 (input_size)", rnn_dim(w, 2), &d->input));
    if (kiln_rnn_has(in, n_in, KILN_RNN_IN_B)) {
        const kiln_tview *b = &in[KILN_RNN_IN_B];
        KILN_TRY(rnn_check_input(node, b, "B", 2, dt));
        KILN_TRY(rnn_merge(node, "B dim 0 (num_directions)", rnn_dim(b, 0), &nd));
        KILN_TRY(rnn_split(node, "B dim 1 (2 x gates x hidden_size)", rnn_dim(b, 1), 2 * g, &h));
        KILN_TRY(rnn_merge(node, "B dim 1", h, &d->hidden));
    }
    if (kiln_rnn_has(in, n_in, KILN_RNN_IN_SEQ_LENS)) {
        const kiln_tview *s = &in[KILN_RNN_IN_SEQ_LENS];
        if (s->dtype != KILN_DTYPE_INT32 && s->dtype != KILN_DTYPE_INT64)
            return kiln_shape_error(node, "sequence_lens must be int32 or int64, got %s",
                                    kiln_dtype_name(s->dtype));
        if (s->rank >= 0 && s->rank != 1)
            return kiln_shape_error(node, "sequence_lens must have rank 1, got %d", (int)s->rank);
        KILN_TRY(rnn_merge(node, "sequence_lens (batch)", rnn_dim(s, 0), &d->batch));
    }
    if (kiln_rnn_has(in, n_in, KILN_RNN_IN_INITIAL_H))
        KILN_TRY(rnn_state_input(node, &in[KILN_RNN_IN_INITIAL_H], "initial_h", dt, d));
    if (node->op == KILN_OP_LSTM) {
        if (kiln_rnn_has(in, n_in, KILN_RNN_IN_INITIAL_C))
            KILN_TRY(rnn_state_input(node, &in[KILN_RNN_IN_INITIAL_C], "initial_c", dt, d));
        if (kiln_rnn_has(in, n_in, KILN_RNN_IN_P)) {
            const kiln_tview *p = &in[KILN_RNN_IN_P];
            KILN_TRY(rnn_check_input(node, p, "P", 2, dt));
            KILN_TRY(rnn_merge(node, "P dim 0 (num_directions)", rnn_dim(p, 0), &nd));
            KILN_TRY(rnn_split(node, "P dim 1 (3 x hidden_size)", rnn_dim(p, 1), 3, &h));
            KILN_TRY(rnn_merge(node, "P dim 1", h, &d->hidden));
        }
    }
    return KILN_OK;
}

static kiln_status rnn_shape(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                             kiln_tview *out, int32_t n_out) {
    kiln_rnn_dims d;
    KILN_TRY(kiln_rnn_get_dims(node, in, n_in, &d));
    kiln_dtype dt = in[KILN_RNN_IN_X].dtype;
    if (n_out > 0 && kiln_tview_present(&out[0])) {
        kiln_tview *y = &out[0];
        y->dtype = dt;
        y->rank = 4;
        int64_t dims[4] = {d.seq, d.ndir, d.batch, d.hidden};
        if (d.layout) { /* [batch, seq, ndir, hidden] */
            dims[0] = d.batch;
            dims[1] = d.seq;
            dims[2] = d.ndir;
        }
        memcpy(y->dims, dims, sizeof dims);
    }
    for (int32_t i = 1; i < n_out && i < 3; i++) {
        kiln_tview *s = &out[i];
        if (!kiln_tview_present(s)) continue;
        s->dtype = dt;
        s->rank = 3;
        s->dims[0] = d.layout ? d.batch : d.ndir;
        s->dims[1] = d.layout ? d.ndir : d.batch;
        s->dims[2] = d.hidden;
    }
    return KILN_OK;
}

kiln_status kiln_shape_RNN(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                           kiln_tview *out, int32_t n_out) {
    return rnn_shape(node, in, n_in, out, n_out);
}

kiln_status kiln_shape_GRU(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                           kiln_tview *out, int32_t n_out) {
    return rnn_shape(node, in, n_in, out, n_out);
}

kiln_status kiln_shape_LSTM(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                            kiln_tview *out, int32_t n_out) {
    return rnn_shape(node, in, n_in, out, n_out);
}
