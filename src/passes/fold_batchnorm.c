/*
 * BatchNormalization folded into the layer before it.
 *
 * In inference, BatchNormalization is y = s * (x - mean) + B per channel (dim 1), with
 * s = scale / sqrt(var + epsilon). After a layer that is linear in its constant weights,
 * s goes into the weights of each output channel and (b - mean) * s + B becomes the bias:
 *   Conv           W[m, ...] *= s[m]; bias (added when missing) b' = (b - mean) s + B
 *   ConvTranspose  W[c, j, ...] *= s[group(c) * M/group + j]; bias likewise
 *   Gemm           op(B)[:, n] *= s[n]; C' = beta C s + B - mean s (C of [N], [1, N] or a
 *                  scalar; beta set to 1)
 *   MatMul         (2-D A and constant 2-D B) becomes such a Gemm
 * Conditions: BatchNormalization in inference (training_mode 0, spatial 1, only Y used),
 * scale/B/mean/var float32 constants of C values; the layer's output read by the
 * BatchNormalization alone and not a graph output; float32 constant weights (and bias). The
 * weights and bias are new constants (the old ones stay for any other reader; dead-code
 * elimination drops them otherwise). The layer takes the BatchNormalization's slot and
 * output.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "passes/fuse_common.h"

/* s and t = B - mean s of a BatchNormalization in inference mode, or 0. */
static int bn_params(const kiln_fuse *f, const kiln_node *bn, int64_t channels, double **s,
                     double **t) {
    const kiln_graph *g = f->g;
    *s = *t = NULL;
    if (bn->input_count < 5 || bn->output_count < 1 || bn->outputs[0] < 0) return 0;
    if (kiln_attr_int(bn, "training_mode", 0) != 0) return 0;
    if (bn->opset < 9 && kiln_attr_int(bn, "spatial", 1) != 1) return 0;
    for (int32_t k = 1; k < bn->output_count; k++) {
        int32_t o = bn->outputs[k];
        if (o >= 0 && (f->uses[o] > 0 || f->pinned[o])) return 0;
    }
    for (int32_t k = 1; k < 5; k++) {
        int32_t p = bn->inputs[k];
        if (!kiln_fuse_is_const(g, p) || g->tensors[p].dtype != KILN_DTYPE_FLOAT32) return 0;
    }
    double eps = kiln_attr_float(bn, "epsilon", 1e-5f);
    double *v[4] = {NULL, NULL, NULL, NULL};
    int ok = 1;
    for (int k = 0; k < 4 && ok; k++) {
        int64_t count = 0;
        v[k] = kiln_fuse_const_values(g, bn->inputs[1 + k], &count);
        ok = v[k] && count == channels;
    }
    if (ok) {
        double *scale = v[0], *bias = v[1], *mean = v[2], *var = v[3];
        for (int64_t c = 0; c < channels && ok; c++) {
            double d = var[c] + eps;
            if (!(d > 0))
                ok = 0;
            else
                scale[c] = scale[c] / sqrt(d);      /* s */
            bias[c] = bias[c] - mean[c] * scale[c]; /* t */
        }
    }
    if (ok) {
        *s = v[0];
        *t = v[1];
        v[0] = v[1] = NULL;
    }
    for (int k = 0; k < 4; k++) free(v[k]);
    return ok;
}

/* A float32 copy of constant w, or NULL (out of memory: error set). */
static float *copy_f32(const kiln_graph *g, int32_t w, int64_t *count) {
    const kiln_ir_tensor *t = &g->tensors[w];
    *count = kiln_shape_count(t->rank, t->dims);
    float *p = malloc(sizeof *p * (size_t)(*count > 0 ? *count : 1));
    if (!p) {
        kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory folding a BatchNormalization");
        return NULL;
    }
    memcpy(p, t->data, sizeof *p * (size_t)*count);
    return p;
}

static int f32_const(const kiln_graph *g, int32_t t) {
    const kiln_ir_tensor *it = &g->tensors[t];
    int64_t n = kiln_shape_count(it->rank, it->dims);
    return kiln_fuse_is_const(g, t) && it->dtype == KILN_DTYPE_FLOAT32 && n >= 0 &&
           it->nbytes >= sizeof(float) * (size_t)n;
}

/* The new bias: b' = b s + t (b: the layer's bias, NULL for none). */
static kiln_status new_bias(kiln_fuse *f, const char *base, const float *b, const double *s,
                            const double *t, int64_t channels, int32_t *out) {
    float *nb = malloc(sizeof *nb * (size_t)(channels > 0 ? channels : 1));
    if (!nb)
        return kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory folding a BatchNormalization");
    for (int64_t c = 0; c < channels; c++) nb[c] = (float)((b ? b[c] : 0.0) * s[c] + t[c]);
    return kiln_fuse_add_constant(f, base, KILN_DTYPE_FLOAT32, 1, &channels, nb,
                                  sizeof *nb * (size_t)channels, out);
}

static kiln_status new_weights(kiln_fuse *f, int32_t w, float *data, int64_t count, int32_t *out) {
    char name[1024];
    const kiln_ir_tensor *t = &f->g->tensors[w];
    snprintf(name, sizeof name, "%s/bn_folded", t->name);
    int64_t dims[KILN_MAX_DIMS];
    memcpy(dims, t->dims, sizeof dims);
    return kiln_fuse_add_constant(f, name, KILN_DTYPE_FLOAT32, t->rank, dims, data,
                                  sizeof *data * (size_t)count, out);
}

/* Conv / ConvTranspose host h, BatchNormalization bn. */
static kiln_status fold_conv(kiln_fuse *f, int32_t h, int32_t bn, int *done) {
    kiln_graph *g = f->g;
    const kiln_node *n = &g->nodes[h];
    int convt = n->op == KILN_OP_ConvTranspose;
    int32_t w = n->inputs[1], b = n->input_count > 2 ? n->inputs[2] : -1;
    if (!f32_const(g, w) || g->tensors[w].rank < 3) return KILN_OK;
    if (b >= 0 && !f32_const(g, b)) return KILN_OK;
    const kiln_ir_tensor *wt = &g->tensors[w];
    int64_t group = kiln_attr_int(n, "group", 1);
    if (group < 1) return KILN_OK;
    int64_t channels = convt ? wt->dims[1] * group : wt->dims[0];
    if (convt && wt->dims[0] % group) return KILN_OK;
    if (b >= 0 && kiln_shape_count(g->tensors[b].rank, g->tensors[b].dims) != channels)
        return KILN_OK;
    double *s, *t;
    if (!bn_params(f, &g->nodes[bn], channels, &s, &t)) return KILN_OK;
    int64_t count;
    float *nw = copy_f32(g, w, &count);
    kiln_status st = nw ? KILN_OK : KILN_ERR_OUT_OF_MEMORY;
    if (st == KILN_OK) {
        if (!convt) {
            int64_t per = count / channels;
            for (int64_t m = 0; m < channels; m++)
                for (int64_t i = 0; i < per; i++) nw[m * per + i] = (float)(nw[m * per + i] * s[m]);
        } else {
            int64_t cin = wt->dims[0], mg = wt->dims[1], per = count / (cin * mg), cg = cin / group;
            for (int64_t c = 0; c < cin; c++)
                for (int64_t j = 0; j < mg; j++) {
                    double sc = s[(c / cg) * mg + j];
                    float *p = nw + (c * mg + j) * per;
                    for (int64_t i = 0; i < per; i++) p[i] = (float)(p[i] * sc);
                }
        }
    }
    int32_t nw_t = -1, nb_t = -1;
    if (st == KILN_OK)
        st = new_weights(f, w, nw, count, &nw_t);
    else
        free(nw);
    if (st == KILN_OK) {
        char name[1024];
        snprintf(name, sizeof name, "%s/bias_bn_folded", g->nodes[h].name);
        st = new_bias(f, name, b >= 0 ? (const float *)g->tensors[b].data : NULL, s, t, channels,
                      &nb_t);
    }
    free(s);
    free(t);
    if (st != KILN_OK) return st;
    KILN_TRY(kiln_fuse_set_input(f, h, 1, nw_t));
    KILN_TRY(kiln_fuse_set_input(f, h, 2, nb_t));
    *done = 1;
    return KILN_OK;
}

/* Gemm host h (or MatMul, turned into a Gemm), BatchNormalization bn. */
static kiln_status fold_gemm(kiln_fuse *f, int32_t h, int32_t bn, int *done) {
    kiln_graph *g = f->g;
    kiln_node *n = &g->nodes[h];
    int matmul = n->op == KILN_OP_MatMul;
    int32_t a = n->inputs[0], w = n->inputs[1], c = n->input_count > 2 ? n->inputs[2] : -1;
    if (matmul && (n->input_count != 2 || g->tensors[a].rank != 2)) return KILN_OK;
    if (!matmul && n->opset < 7) return KILN_OK;
    if (!f32_const(g, w) || g->tensors[w].rank != 2 || g->tensors[g->nodes[h].outputs[0]].rank != 2)
        return KILN_OK;
    int tb = matmul ? 0 : kiln_attr_int(n, "transB", 0) != 0;
    const kiln_ir_tensor *wt = &g->tensors[w];
    int64_t k = tb ? wt->dims[1] : wt->dims[0], channels = tb ? wt->dims[0] : wt->dims[1];
    double beta = matmul ? 1.0 : kiln_attr_float(n, "beta", 1.0f);
    double *cv = NULL;
    if (c >= 0) { /* C must be one value per output column, or one value */
        const kiln_ir_tensor *ct = &g->tensors[c];
        int64_t cc = 0;
        int row = ct->rank == 1 || (ct->rank == 2 && ct->dims[0] == 1);
        if (!f32_const(g, c) || ct->rank > 2) return KILN_OK;
        cv = kiln_fuse_const_values(g, c, &cc);
        if (!cv) return KILN_OK;
        if (!(cc == 1 || (row && cc == channels))) {
            free(cv);
            return KILN_OK;
        }
        if (cc == 1 && channels > 1) {
            double *full = realloc(cv, sizeof *full * (size_t)channels);
            if (!full) {
                free(cv);
                return kiln_error(KILN_ERR_OUT_OF_MEMORY,
                                  "out of memory folding a BatchNormalization");
            }
            cv = full;
            for (int64_t j = 1; j < channels; j++) cv[j] = cv[0];
        }
    }
    double *s, *t;
    if (!bn_params(f, &g->nodes[bn], channels, &s, &t)) {
        free(cv);
        return KILN_OK;
    }
    int64_t count;
    float *nw = copy_f32(g, w, &count);
    kiln_status st = nw ? KILN_OK : KILN_ERR_OUT_OF_MEMORY;
    if (st == KILN_OK)
        for (int64_t i = 0; i < (tb ? channels : k); i++)
            for (int64_t j = 0; j < (tb ? k : channels); j++) {
                float *p = nw + i * (tb ? k : channels) + j;
                *p = (float)(*p * s[tb ? i : j]);
            }
    int32_t nw_t = -1, nc_t = -1;
    if (st == KILN_OK)
        st = new_weights(f, w, nw, count, &nw_t);
    else
        free(nw);
    if (st == KILN_OK) {
        if (cv)
            for (int64_t j = 0; j < channels; j++) cv[j] *= beta;
        float *bias = NULL;
        float *tmp = malloc(sizeof *tmp * (size_t)(channels > 0 ? channels : 1));
        if (!tmp)
            st = kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory folding a BatchNormalization");
        for (int64_t j = 0; tmp && j < channels; j++) tmp[j] = cv ? (float)cv[j] : 0.0f;
        bias = cv ? tmp : NULL;
        char name[1024];
        snprintf(name, sizeof name, "%s/bias_bn_folded", g->nodes[h].name);
        if (st == KILN_OK) st = new_bias(f, name, bias, s, t, channels, &nc_t);
        free(tmp);
    }
    free(cv);
    free(s);
    free(t);
    if (st != KILN_OK) return st;
    n = &g->nodes[h];
    if (matmul) {
        n->op = KILN_OP_Gemm;
        n->opset = 13;
    } else if (n->opset < 11) {
        n->opset = 11;
    }
    KILN_TRY(kiln_fuse_set_input(f, h, 1, nw_t));
    KILN_TRY(kiln_fuse_set_input(f, h, 2, nc_t));
    KILN_TRY(kiln_fuse_set_float(f, h, "beta", 1.0f));
    *done = 1;
    return KILN_OK;
}

/* BatchNormalization node i whose input only a Conv / ConvTranspose / Gemm / MatMul h
 * writes: folded into h's weights and bias, h moving into i's slot. */
static kiln_status fold_at(kiln_fuse *f, int32_t i, int32_t *folded) {
    kiln_graph *g = f->g;
    if (g->nodes[i].op != KILN_OP_BatchNormalization) return KILN_OK;
    const kiln_node *bn = &g->nodes[i];
    int32_t x = bn->inputs[0];
    int32_t h = kiln_fuse_producer(f, x);
    if (h < 0 || kiln_fuse_sole_reader(f, x) != i) return KILN_OK;
    const kiln_node *n = &g->nodes[h];
    if (n->output_count < 1 || n->outputs[0] != x || n->input_count < 2) return KILN_OK;
    int extra = 0;
    for (int32_t k = 1; k < n->output_count; k++) extra |= n->outputs[k] >= 0;
    if (extra || kiln_node_attr(n, "_kiln_activation") || kiln_node_attr(n, "_kiln_sum_input") ||
        kiln_node_attr(n, "_kiln_bias_input") || g->tensors[x].dtype != KILN_DTYPE_FLOAT32)
        return KILN_OK;
    int32_t pair[2] = {h, i};
    if (!kiln_fuse_same_precision(g, pair, 2)) return KILN_OK;
    int done = 0;
    if (n->op == KILN_OP_Conv || n->op == KILN_OP_ConvTranspose)
        KILN_TRY(fold_conv(f, h, i, &done));
    else if (n->op == KILN_OP_Gemm || n->op == KILN_OP_MatMul)
        KILN_TRY(fold_gemm(f, h, i, &done));
    if (!done) return KILN_OK;
    int32_t y = g->nodes[i].outputs[0];
    KILN_TRY(kiln_fuse_note(f, h, i));
    kiln_fuse_remove(f, i);
    kiln_fuse_set_output(f, h, 0, y);
    kiln_fuse_move(f, h, i);
    (*folded)++;
    return KILN_OK;
}

kiln_status kiln_pass_fold_batchnorm(kiln_graph *g, const kiln_fuse_options *o, int32_t *count) {
    if (count) *count = 0;
    if (o && !(o->flags & KILN_FUSE_BATCHNORM)) return KILN_OK;
    return kiln_fuse_each(g, o, fold_at, count);
}
