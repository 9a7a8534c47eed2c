/* Recurrent family, CPU side: attribute parsing shared by the RNN, GRU and LSTM kernels. */
#include <ctype.h>
#include <string.h>

#include "backends/cpu/rnn_common.h"

typedef struct rnn_act_info {
    const char *name; /* lower case; ONNX spells them CamelCase, matched case-insensitively */
    kiln_rnn_act_kind kind;
    int uses_alpha, uses_beta;
    double alpha, beta; /* defaults when activation_alpha / _beta run out */
} rnn_act_info;

static const rnn_act_info rnn_acts[] = {
    {"relu", KILN_RNN_ACT_RELU, 0, 0, 0, 0},
    {"tanh", KILN_RNN_ACT_TANH, 0, 0, 0, 0},
    {"sigmoid", KILN_RNN_ACT_SIGMOID, 0, 0, 0, 0},
    {"affine", KILN_RNN_ACT_AFFINE, 1, 1, 1.0, 0.0},
    {"leakyrelu", KILN_RNN_ACT_LEAKY_RELU, 1, 0, 0.01, 0},
    {"thresholdedrelu", KILN_RNN_ACT_THRESHOLDED_RELU, 1, 0, 1.0, 0},
    {"scaledtanh", KILN_RNN_ACT_SCALED_TANH, 1, 1, 1.0, 1.0},
    {"hardsigmoid", KILN_RNN_ACT_HARD_SIGMOID, 1, 1, 0.2, 0.5},
    {"elu", KILN_RNN_ACT_ELU, 1, 0, 1.0, 0},
    {"softsign", KILN_RNN_ACT_SOFTSIGN, 0, 0, 0, 0},
    {"softplus", KILN_RNN_ACT_SOFTPLUS, 0, 0, 0, 0},
};

static int rnn_name_eq(const char *a, const char *lower) {
    for (; *a && *lower; a++, lower++)
        if (tolower((unsigned char)*a) != *lower) return 0;
    return *a == 0 && *lower == 0;
}

static const rnn_act_info *rnn_find_act(const char *name) {
    for (size_t i = 0; i < sizeof rnn_acts / sizeof rnn_acts[0]; i++)
        if (rnn_name_eq(name, rnn_acts[i].name)) return &rnn_acts[i];
    return NULL;
}

/*
 * activations lists the op's functions for each direction in turn (a bidirectional node
 * giving one direction's list uses it for both). activation_alpha / activation_beta are
 * consumed in that order by the functions that take them, the rest getting defaults, as
 * onnxruntime does.
 */
static kiln_status rnn_parse_acts(const kiln_node *node, kiln_rnn_plan *p) {
    static const char *const defaults[3][3] = {
        {"Tanh", NULL, NULL}, {"Sigmoid", "Tanh", NULL}, {"Sigmoid", "Tanh", "Tanh"}};
    int per_dir = node->op == KILN_OP_LSTM ? 3 : node->op == KILN_OP_GRU ? 2 : 1;
    int def_row = per_dir - 1, ndir = p->d.ndir;
    const kiln_attr *acts = kiln_node_attr(node, "activations");
    int32_t n_names = acts ? acts->count : 0;
    if (acts && acts->type != KILN_ATTR_STRINGS)
        return kiln_shape_error(node, "activations must be a list of strings");
    if (n_names != 0 && n_names != per_dir && n_names != per_dir * ndir)
        return kiln_shape_error(node, "%d activations given, expected %d", (int)n_names,
                                per_dir * ndir);
    int32_t n_alpha = 0, n_beta = 0, ia = 0, ib = 0;
    const float *alphas = kiln_attr_floats(node, "activation_alpha", &n_alpha);
    const float *betas = kiln_attr_floats(node, "activation_beta", &n_beta);
    for (int dir = 0; dir < ndir; dir++)
        for (int k = 0; k < per_dir; k++) {
            const char *name =
                n_names ? acts->strings[(dir * per_dir + k) % n_names] : defaults[def_row][k];
            const rnn_act_info *info = rnn_find_act(name);
            if (!info)
                return kiln_node_error(KILN_ERR_UNSUPPORTED, node, "activation '%s' not supported",
                                       name);
            kiln_rnn_act *a = &p->act[dir][k];
            a->kind = info->kind;
            a->alpha = info->alpha;
            a->beta = info->beta;
            if (info->uses_alpha && ia < n_alpha) a->alpha = alphas[ia++];
            if (info->uses_beta && ib < n_beta) a->beta = betas[ib++];
        }
    return KILN_OK;
}

kiln_status kiln_rnn_plan_init(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                               kiln_rnn_plan *p) {
    memset(p, 0, sizeof *p);
    KILN_TRY(kiln_rnn_get_dims(node, in, n_in, &p->d));
    if (p->d.seq < 0 || p->d.batch < 0 || p->d.input < 0 || p->d.hidden < 0)
        return kiln_shape_error(node, "sizes unknown at run time");
    KILN_TRY(rnn_parse_acts(node, p));
    const kiln_attr *clip = kiln_node_attr(node, "clip");
    if (clip) {
        p->has_clip = 1;
        p->clip = clip->f;
        if (!(p->clip >= 0)) return kiln_shape_error(node, "clip must be >= 0, got %g", p->clip);
    }
    p->linear_before_reset =
        node->op == KILN_OP_GRU && kiln_attr_int(node, "linear_before_reset", 0) != 0;
    p->input_forget = node->op == KILN_OP_LSTM && kiln_attr_int(node, "input_forget", 0) != 0;
    return KILN_OK;
}

kiln_status kiln_rnn_seq_lens(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                              const kiln_rnn_plan *p, int64_t *lens) {
    int64_t batch = p->d.batch, seq = p->d.seq;
    if (!kiln_rnn_has(in, n_in, KILN_RNN_IN_SEQ_LENS)) {
        for (int64_t b = 0; b < batch; b++) lens[b] = seq;
        return KILN_OK;
    }
    const kiln_tview *s = &in[KILN_RNN_IN_SEQ_LENS];
    for (int64_t b = 0; b < batch; b++) {
        lens[b] = kiln_tview_get_int(s, b);
        if (lens[b] < 0 || lens[b] > seq)
            return kiln_node_error(KILN_ERR_INVALID_ARGUMENT, node,
                                   "sequence_lens[%lld] = %lld is outside [0, %lld]", (long long)b,
                                   (long long)lens[b], (long long)seq);
    }
    return KILN_OK;
}
