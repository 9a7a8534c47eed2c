/*
 * Recurrent family (RNN, GRU, LSTM), CPU side: the attributes a kernel needs, parsed once
 * (activations with their alpha/beta, clip, GRU's linear_before_reset, LSTM's
 * input_forget), and the per-batch sequence lengths.
 */
#ifndef KILN_CPU_RNN_COMMON_H
#define KILN_CPU_RNN_COMMON_H

#include "backends/cpu/cpu_kernel.h"
#include "ir/shape_rnn.h"

typedef enum kiln_rnn_act_kind {
    KILN_RNN_ACT_RELU,
    KILN_RNN_ACT_TANH,
    KILN_RNN_ACT_SIGMOID,
    KILN_RNN_ACT_AFFINE,
    KILN_RNN_ACT_LEAKY_RELU,
    KILN_RNN_ACT_THRESHOLDED_RELU,
    KILN_RNN_ACT_SCALED_TANH,
    KILN_RNN_ACT_HARD_SIGMOID,
    KILN_RNN_ACT_ELU,
    KILN_RNN_ACT_SOFTSIGN,
    KILN_RNN_ACT_SOFTPLUS
} kiln_rnn_act_kind;

typedef struct kiln_rnn_act {
    kiln_rnn_act_kind kind;
    double alpha, beta;
} kiln_rnn_act;

typedef struct kiln_rnn_plan {
    kiln_rnn_dims d;
    /* Per direction, the op's activations in ONNX order: RNN f; GRU f, g; LSTM f, g, h. */
    kiln_rnn_act act[2][3];
    int has_clip;
    double clip;
    int linear_before_reset; /* GRU */
    int input_forget;        /* LSTM: the forget gate is 1 - input gate */
} kiln_rnn_plan;

/* Reads and validates a recurrent node's attributes and sizes (all known at run time). */
kiln_status kiln_rnn_plan_init(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                               kiln_rnn_plan *p);

/* Each batch entry's sequence length into lens[batch]: sequence_lens when present (checked
 * to lie in [0, seq]), else seq. */
kiln_status kiln_rnn_seq_lens(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                              const kiln_rnn_plan *p, int64_t *lens);

#endif
