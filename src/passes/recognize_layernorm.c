/*
 * Layer normalization written out in elementary ops -> one LayerNormalization (opset 17).
 *
 *     mean = ReduceMean(x, axes)            d = Sub(x, mean)
 *     var  = ReduceMean(Pow(d, 2), axes)    (or Mul(d, d))
 *     n    = Div(d, Sqrt(Add(var, eps)))    (Add either way round)
 *     y    = Add(Mul(n, gamma), beta)       (Mul and Add optional, either way round)
 *
 * as exporters write nn.LayerNorm before opset 17. The axes (attribute, or constant input
 * from opset 18) must be the trailing ones, the same in both ReduceMeans, with keepdims; x's
 * rank and its normalized dims must be known; eps, gamma and beta constants of x's type
 * whose broadcast does not widen x (gamma and beta are expanded to the normalized shape).
 * Every intermediate is read only inside the pattern and is not a graph output. The new
 * node takes the last node's slot, writes y, and lists the replaced nodes in `_kiln_fused`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "passes/fuse_common.h"

#define LN_MAX_NODES 10

/* The trailing axes count k of a ReduceMean with keepdims over x of rank r, or 0. */
static int32_t reduce_trailing(const kiln_graph *g, const kiln_node *n, int32_t r) {
    if (n->op != KILN_OP_ReduceMean || n->output_count != 1 || n->input_count < 1) return 0;
    if (kiln_attr_int(n, "keepdims", 1) != 1) return 0;
    int64_t axes[KILN_MAX_DIMS];
    int32_t count = 0;
    if (n->opset >= 18) {
        if (n->input_count < 2 || n->inputs[1] < 0) return 0; /* all axes (or none) */
        int64_t c = 0;
        double *v = kiln_fuse_const_values(g, n->inputs[1], &c);
        if (!v) return 0;
        if (c < 1 || c > KILN_MAX_DIMS) c = 0;
        for (int64_t i = 0; i < c; i++) axes[i] = (int64_t)v[i];
        count = (int32_t)c;
        free(v);
    } else {
        const int64_t *a = kiln_attr_ints(n, "axes", &count);
        if (!a || count < 1 || count > KILN_MAX_DIMS) return 0;
        memcpy(axes, a, sizeof *a * (size_t)count);
    }
    if (count < 1 || count > r) return 0;
    uint8_t seen[KILN_MAX_DIMS] = {0};
    for (int32_t i = 0; i < count; i++) {
        int64_t a = axes[i] < 0 ? axes[i] + r : axes[i];
        if (a < r - count || a >= r || seen[a]) return 0;
        seen[a] = 1;
    }
    return count;
}

/* A binary node `op` reading `a` and a constant: the constant, or -1. */
static int32_t const_operand(const kiln_graph *g, const kiln_node *n, kiln_op op, int32_t a,
                             int commutative) {
    if (n->op != op || n->input_count != 2 || n->output_count != 1) return -1;
    if (n->inputs[0] == a && kiln_fuse_is_const(g, n->inputs[1])) return n->inputs[1];
    if (commutative && n->inputs[1] == a && kiln_fuse_is_const(g, n->inputs[0]))
        return n->inputs[0];
    return -1;
}

/* Whether constant p (of x's type) broadcasts onto x without widening it, and varies only
 * along the k trailing dims. */
static int param_fits(const kiln_graph *g, int32_t p, int32_t x, int32_t k) {
    const kiln_ir_tensor *pt = &g->tensors[p], *xt = &g->tensors[x];
    if (pt->dtype != xt->dtype || pt->rank < 0 || pt->rank > xt->rank) return 0;
    int64_t count = kiln_shape_count(pt->rank, pt->dims);
    if (count < 0 || pt->nbytes < kiln_dtype_nbytes(pt->dtype, count)) return 0;
    for (int32_t i = 0; i < pt->rank; i++) {
        int32_t xd = xt->rank - pt->rank + i; /* the dim of x it lines up with */
        if (pt->dims[i] == 1) continue;
        if (xd < xt->rank - k || pt->dims[i] != xt->dims[xd]) return 0;
    }
    return 1;
}

/* p broadcast to x's k trailing dims (a new constant); p < 0: ones. */
static kiln_status expand_param(kiln_fuse *f, int32_t p, int32_t x, int32_t k, const char *base,
                                int32_t *out) {
    kiln_graph *g = f->g;
    const kiln_ir_tensor *xt = &g->tensors[x];
    kiln_dtype dt = xt->dtype;
    int64_t dims[KILN_MAX_DIMS], count = 1;
    for (int32_t i = 0; i < k; i++) count *= dims[i] = xt->dims[xt->rank - k + i];
    size_t esize = kiln_dtype_nbytes(dt, 1);
    uint8_t *data = malloc(esize * (size_t)(count ? count : 1));
    if (!data) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory recognizing a layer norm");
    if (p < 0) {
        kiln_tview v = {0};
        v.dtype = dt;
        v.rank = 1;
        v.dims[0] = count;
        v.data = data;
        for (int64_t i = 0; i < count; i++) kiln_tview_set_double(&v, i, 1.0);
    } else {
        const kiln_ir_tensor *pt = &g->tensors[p];
        /* strides of p aligned to the trailing k dims (0 where p broadcasts) */
        int64_t stride[KILN_MAX_DIMS] = {0}, s = 1;
        for (int32_t i = pt->rank - 1; i >= 0; i--) {
            int32_t j = k - (pt->rank - i); /* the trailing dim it lines up with */
            if (j >= 0 && pt->dims[i] != 1) stride[j] = s;
            s *= pt->dims[i];
        }
        for (int64_t e = 0; e < count; e++) {
            int64_t rem = e, src = 0;
            for (int32_t j = k - 1; j >= 0; j--) {
                src += (rem % dims[j]) * stride[j];
                rem /= dims[j];
            }
            memcpy(data + (size_t)e * esize, (const uint8_t *)pt->data + (size_t)src * esize,
                   esize);
        }
    }
    return kiln_fuse_add_constant(f, base, dt, k, dims, data, esize * (size_t)count, out);
}

static kiln_status try_layernorm(kiln_fuse *f, int32_t m1, int32_t *done) {
    kiln_graph *g = f->g;
    const kiln_node *mn = &g->nodes[m1];
    if (mn->op != KILN_OP_ReduceMean || mn->input_count < 1) return KILN_OK;
    int32_t x = mn->inputs[0];
    const kiln_ir_tensor *xt = &g->tensors[x];
    int32_t r = xt->rank;
    if (r < 1 || !kiln_fuse_float_dtype(xt->dtype)) return KILN_OK;
    int32_t k = reduce_trailing(g, mn, r);
    if (!k) return KILN_OK;
    for (int32_t i = r - k; i < r; i++)
        if (xt->dims[i] <= 0) return KILN_OK;
    int32_t nodes[LN_MAX_NODES], count = 0;
    nodes[count++] = m1;
    /* d = Sub(x, mean) */
    int32_t mean = mn->outputs[0];
    int32_t sub = kiln_fuse_sole_reader(f, mean);
    if (sub < 0) return KILN_OK;
    const kiln_node *sn = &g->nodes[sub];
    if (sn->op != KILN_OP_Sub || sn->input_count != 2 || sn->inputs[0] != x ||
        sn->inputs[1] != mean)
        return KILN_OK;
    nodes[count++] = sub;
    int32_t d = sn->outputs[0];
    /* d's readers: the square and the Div */
    if (f->pinned[d]) return KILN_OK;
    int32_t readers[3];
    int32_t nr = kiln_fuse_readers(f, d, readers, 3);
    if (nr != 2) return KILN_OK;
    int32_t sq = -1, div = -1;
    for (int i = 0; i < 2; i++) {
        const kiln_node *n = &g->nodes[readers[i]];
        double e;
        if (n->op == KILN_OP_Div && n->input_count == 2 && n->inputs[0] == d && n->inputs[1] != d)
            div = readers[i];
        else if (n->op == KILN_OP_Pow && n->input_count == 2 && n->inputs[0] == d &&
                 kiln_fuse_const_scalar(g, n->inputs[1], &e) && e == 2.0 &&
                 g->tensors[n->inputs[1]].rank <= r)
            sq = readers[i];
        else if (n->op == KILN_OP_Mul && n->input_count == 2 && n->inputs[0] == d &&
                 n->inputs[1] == d)
            sq = readers[i];
    }
    if (sq < 0 || div < 0) return KILN_OK;
    /* the uses of d are exactly those: one in the Div, one or two in the square */
    if (f->uses[d] != 1 + (g->nodes[sq].op == KILN_OP_Mul ? 2 : 1)) return KILN_OK;
    nodes[count++] = sq;
    /* var = ReduceMean(sq) over the same axes */
    int32_t m2 = kiln_fuse_sole_reader(f, g->nodes[sq].outputs[0]);
    if (m2 < 0 || g->nodes[m2].inputs[0] != g->nodes[sq].outputs[0] ||
        reduce_trailing(g, &g->nodes[m2], r) != k)
        return KILN_OK;
    nodes[count++] = m2;
    /* Add(var, eps) */
    int32_t var = g->nodes[m2].outputs[0];
    int32_t ae = kiln_fuse_sole_reader(f, var);
    if (ae < 0) return KILN_OK;
    int32_t eps_t = const_operand(g, &g->nodes[ae], KILN_OP_Add, var, 1);
    double eps;
    if (eps_t < 0 || !kiln_fuse_const_scalar(g, eps_t, &eps) || g->tensors[eps_t].rank > r ||
        !(eps >= 0))
        return KILN_OK;
    nodes[count++] = ae;
    /* Sqrt, then Div(d, .) */
    int32_t sqrt_n = kiln_fuse_sole_reader(f, g->nodes[ae].outputs[0]);
    if (sqrt_n < 0 || g->nodes[sqrt_n].op != KILN_OP_Sqrt) return KILN_OK;
    nodes[count++] = sqrt_n;
    int32_t sd = g->nodes[sqrt_n].outputs[0];
    if (kiln_fuse_sole_reader(f, sd) != div || g->nodes[div].inputs[1] != sd) return KILN_OK;
    nodes[count++] = div;
    int32_t last = div, y = g->nodes[div].outputs[0];
    /* optional Mul(gamma), Add(beta) */
    int32_t gamma = -1, beta = -1;
    int32_t r1 = kiln_fuse_sole_reader(f, y);
    if (r1 >= 0) {
        int32_t p = const_operand(g, &g->nodes[r1], KILN_OP_Mul, y, 1);
        if (p >= 0 && param_fits(g, p, x, k)) {
            gamma = p;
            nodes[count++] = last = r1;
            y = g->nodes[r1].outputs[0];
            r1 = kiln_fuse_sole_reader(f, y);
        }
    }
    if (r1 >= 0) {
        int32_t p = const_operand(g, &g->nodes[r1], KILN_OP_Add, y, 1);
        if (p >= 0 && param_fits(g, p, x, k)) {
            beta = p;
            nodes[count++] = last = r1;
            y = g->nodes[r1].outputs[0];
        }
    }
    if (g->tensors[y].dtype != xt->dtype || !kiln_fuse_same_precision(g, nodes, count))
        return KILN_OK;
    char name[1024], base[1100];
    kiln_fuse_pattern_name(g, nodes, count, "LayerNormalization", last, name, sizeof name);
    int32_t in[3] = {x, -1, -1};
    snprintf(base, sizeof base, "%s/scale", name);
    KILN_TRY(expand_param(f, gamma, x, k, base, &in[1]));
    if (beta >= 0) {
        snprintf(base, sizeof base, "%s/bias", name);
        KILN_TRY(expand_param(f, beta, x, k, base, &in[2]));
    }
    KILN_TRY(kiln_fuse_replace(f, nodes, count, last, name, KILN_OP_LayerNormalization, 17, in,
                               beta >= 0 ? 3 : 2, &y, 1));
    KILN_TRY(kiln_fuse_set_int(f, last, "axis", -k));
    KILN_TRY(kiln_fuse_set_float(f, last, "epsilon", (float)eps));
    (*done)++;
    return KILN_OK;
}

kiln_status kiln_pass_recognize_layernorm(kiln_graph *g, const kiln_fuse_options *o,
                                          int32_t *count) {
    if (count) *count = 0;
    if (o && !(o->flags & KILN_FUSE_LAYERNORM)) return KILN_OK;
    return kiln_fuse_each(g, o, try_layernorm, count);
}
