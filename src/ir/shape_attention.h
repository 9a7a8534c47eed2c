/* Helpers the attention family's shape functions share with its kernels. */
#ifndef KILN_IR_SHAPE_ATTENTION_H
#define KILN_IR_SHAPE_ATTENTION_H

#include "ir/tview.h"

/* Inputs of Attention by position. */
enum {
    KILN_ATTN_Q,
    KILN_ATTN_K,
    KILN_ATTN_V,
    KILN_ATTN_MASK,
    KILN_ATTN_PAST_KEY,
    KILN_ATTN_PAST_VALUE,
    KILN_ATTN_NONPAD
};

/*
 * The sizes an Attention node works with, Q/K/V unpacked to (batch, heads, seq, head size).
 * rank is Q's rank: 3 (heads packed into the last axis, counted by q_num_heads and
 * kv_num_heads) or 4; -1 when not known yet. Sizes not known yet (static inference) are -1.
 */
typedef struct kiln_attn_geom {
    int32_t rank;
    int64_t batch, q_heads, kv_heads;
    int64_t q_len, kv_len, past_len, total_len; /* total = past + kv */
    int64_t head_size, v_head_size;             /* of Q and K; of V */
} kiln_attn_geom;

/* Reads and validates the geometry of an Attention node (attributes and input shapes). */
kiln_status kiln_attention_geometry(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                    kiln_attn_geom *g);

/* The sizes of a LinearAttention node: query (B, T, Hq*dk), key (B, T, Hkv*dk), value
 * (B, T, Hkv*dv); the recurrent state is (B, Hkv, dk, dv). Unknown sizes are -1. */
typedef struct kiln_linattn_geom {
    int64_t batch, seq, q_heads, kv_heads, dk, dv;
} kiln_linattn_geom;

kiln_status kiln_linear_attention_geometry(const kiln_node *node, const kiln_tview *in,
                                           int32_t n_in, kiln_linattn_geom *g);

/* The optional input i when the node has it, else NULL. */
static inline const kiln_tview *kiln_attn_opt(const kiln_tview *in, int32_t n_in, int32_t i) {
    return i < n_in && kiln_tview_present(&in[i]) ? &in[i] : NULL;
}

/* float32, float64, float16 or bfloat16. */
static inline int kiln_attn_is_float(kiln_dtype d) {
    return d == KILN_DTYPE_FLOAT32 || d == KILN_DTYPE_FLOAT64 || d == KILN_DTYPE_FLOAT16 ||
           d == KILN_DTYPE_BFLOAT16;
}

#endif
