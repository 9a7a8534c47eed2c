/* Helpers the recurrent ops' (RNN, GRU, LSTM) shape functions share with their kernels. */
#ifndef KILN_IR_SHAPE_RNN_H
#define KILN_IR_SHAPE_RNN_H

#include "ir/tview.h"

/* Input positions of a recurrent node (ONNX order; initial_c and P are LSTM's only). */
enum {
    KILN_RNN_IN_X = 0,
    KILN_RNN_IN_W = 1,
    KILN_RNN_IN_R = 2,
    KILN_RNN_IN_B = 3,
    KILN_RNN_IN_SEQ_LENS = 4,
    KILN_RNN_IN_INITIAL_H = 5,
    KILN_RNN_IN_INITIAL_C = 6,
    KILN_RNN_IN_P = 7
};

/* The sizes of a recurrent node; a size is -1 while unknown (static inference only). */
typedef struct kiln_rnn_dims {
    int64_t seq, batch, input, hidden;
    int32_t ndir;    /* 2 for bidirectional, else 1 */
    int32_t gates;   /* RNN 1, GRU 3, LSTM 4 */
    int32_t layout;  /* 1: batch-major X / Y / states (opset 14+), else 0 */
    int32_t reverse; /* direction "reverse" (only meaningful when ndir is 1) */
} kiln_rnn_dims;

/*
 * Validates a recurrent node's attributes (direction, hidden_size, layout) and the ranks,
 * dims and dtypes of its inputs, and reads its sizes. The optional inputs (B,
 * sequence_lens, initial_h, initial_c, P) are checked when present.
 */
kiln_status kiln_rnn_get_dims(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                              kiln_rnn_dims *d);

/* Whether optional input i is present. */
static inline int kiln_rnn_has(const kiln_tview *in, int32_t n_in, int32_t i) {
    return i < n_in && kiln_tview_present(&in[i]);
}

#endif
