/*
 * GELU written out in elementary ops -> one Gelu node (ONNX opset 20).
 *
 * The erf form, as PyTorch exports nn.GELU() / F.gelu (and BERT's gelu):
 *     c = Add(Erf(Div(x, sqrt 2)), 1)            (or Mul(x, 1/sqrt 2); Add either way round)
 * the tanh form (approximate="tanh", GPT-2's "new GELU"):
 *     c = Add(Tanh(Mul(Add(x, Mul(Pow(x, 3), 0.044715)), sqrt(2/pi))), 1)
 *         (x^3 also as Mul(x, Mul(x, x)); every Mul and Add either way round)
 * then y = 0.5 x c, in any of the orders exporters write:
 *     Mul(Mul(x, c), 0.5)     Mul(Mul(x, 0.5), c)     Mul(x, Mul(c, 0.5))
 * (A two-input Sum counts as an Add, as ONNX's own function bodies write it.)
 * Constants are scalars (one element, rank no more than x's) matched to 1e-4 relative.
 * Every intermediate is read only inside the pattern and is not a graph output. The Gelu
 * takes the slot of the last Mul, writes y, is named "<common prefix>/Gelu" and lists the
 * nodes it replaces in `_kiln_fused`.
 */
#include <string.h>

#include "passes/fuse_common.h"

#define GELU_MAX_NODES 12

typedef struct gelu_match {
    int32_t x;
    int32_t nodes[GELU_MAX_NODES];
    int32_t count;
} gelu_match;

static void take(gelu_match *m, int32_t n) {
    if (m->count < GELU_MAX_NODES) m->nodes[m->count++] = n;
}

/* Whether t is a scalar constant near `want` that cannot widen x's shape. */
static int scalar_near(const kiln_graph *g, int32_t t, int32_t x, double want) {
    double v;
    if (!kiln_fuse_const_scalar(g, t, &v) || !kiln_fuse_near(v, want, 1e-4)) return 0;
    int32_t xr = g->tensors[x].rank;
    return g->tensors[t].rank == 0 || (xr >= 0 && g->tensors[t].rank <= xr);
}

/* Whether n is op `op`, or a two-input Sum standing for an Add. */
static int is_op(const kiln_node *n, kiln_op op) {
    return n->op == op || (op == KILN_OP_Add && n->op == KILN_OP_Sum && n->input_count == 2);
}

/* A binary node `op` with exactly one input equal to `a`: the other one, or -1. */
static int32_t other_input(const kiln_node *n, kiln_op op, int32_t a) {
    if (!is_op(n, op) || n->input_count != 2 || n->output_count != 1 || n->outputs[0] < 0)
        return -1;
    if (n->inputs[0] == a && n->inputs[1] != a) return n->inputs[1];
    if (n->inputs[1] == a && n->inputs[0] != a) return n->inputs[0];
    return -1;
}

/* The node writing t when t is read only by `reader` (and not pinned); else -1. */
static int32_t private_producer(const kiln_fuse *f, int32_t t, int32_t reader) {
    if (kiln_fuse_sole_reader(f, t) != reader) return -1;
    return kiln_fuse_producer(f, t);
}

/* The erf core: e = Erf(a), a = Div(x, sqrt2) or Mul(x, 1/sqrt2). Sets m->x. */
static int match_erf_core(const kiln_fuse *f, int32_t e, gelu_match *m) {
    const kiln_graph *g = f->g;
    const kiln_node *en = &g->nodes[e];
    if (en->op != KILN_OP_Erf || en->input_count != 1) return 0;
    int32_t d = private_producer(f, en->inputs[0], e);
    if (d < 0) return 0;
    const kiln_node *dn = &g->nodes[d];
    if (dn->input_count != 2 || dn->output_count != 1) return 0;
    int32_t x = -1;
    if (dn->op == KILN_OP_Div) {
        x = dn->inputs[0];
        if (!scalar_near(g, dn->inputs[1], x, 1.4142135623730951)) return 0;
    } else if (dn->op == KILN_OP_Mul) {
        for (int i = 0; i < 2 && x < 0; i++)
            if (scalar_near(g, dn->inputs[1 - i], dn->inputs[i], 0.7071067811865476))
                x = dn->inputs[i];
        if (x < 0) return 0;
    } else {
        return 0;
    }
    m->x = x;
    take(m, d);
    take(m, e);
    return 1;
}

/* Whether p computes x^3 (Pow(x, 3), Mul(x, Mul(x, x)), Mul(Mul(x, x), x)). */
static int match_cube(const kiln_fuse *f, int32_t p, int32_t x, gelu_match *m) {
    const kiln_graph *g = f->g;
    const kiln_node *pn = &g->nodes[p];
    if (pn->op == KILN_OP_Pow && pn->input_count == 2 && pn->inputs[0] == x &&
        scalar_near(g, pn->inputs[1], x, 3.0)) {
        take(m, p);
        return 1;
    }
    int32_t sq = other_input(pn, KILN_OP_Mul, x);
    if (sq < 0) return 0;
    int32_t q = private_producer(f, sq, p);
    if (q < 0) return 0;
    const kiln_node *qn = &g->nodes[q];
    if (qn->op != KILN_OP_Mul || qn->input_count != 2 || qn->inputs[0] != x || qn->inputs[1] != x)
        return 0;
    take(m, q);
    take(m, p);
    return 1;
}

/* The tanh core: th = Tanh(Mul(Add(x, Mul(x^3, 0.044715)), sqrt(2/pi))). Sets m->x. */
static int match_tanh_core(const kiln_fuse *f, int32_t th, gelu_match *m) {
    const kiln_graph *g = f->g;
    const kiln_node *tn = &g->nodes[th];
    if (tn->op != KILN_OP_Tanh || tn->input_count != 1) return 0;
    int32_t u = private_producer(f, tn->inputs[0], th);
    if (u < 0 || g->nodes[u].op != KILN_OP_Mul || g->nodes[u].input_count != 2) return 0;
    const kiln_node *un = &g->nodes[u];
    for (int i = 0; i < 2; i++) {
        int32_t inner = un->inputs[i], k = un->inputs[1 - i];
        if (kiln_fuse_is_const(g, inner) || !kiln_fuse_is_const(g, k)) continue;
        int32_t s = private_producer(f, inner, u);
        if (s < 0 || !is_op(&g->nodes[s], KILN_OP_Add) || g->nodes[s].input_count != 2) continue;
        const kiln_node *sn = &g->nodes[s];
        for (int j = 0; j < 2; j++) {
            int32_t x = sn->inputs[j], v = sn->inputs[1 - j];
            if (!scalar_near(g, k, x, 0.7978845608028654)) continue;
            int32_t vm = private_producer(f, v, s);
            if (vm < 0) continue;
            int32_t p = -1;
            const kiln_node *vn = &g->nodes[vm];
            for (int l = 0; l < 2 && p < 0; l++)
                if (vn->op == KILN_OP_Mul && vn->input_count == 2 &&
                    scalar_near(g, vn->inputs[1 - l], x, 0.044715))
                    p = private_producer(f, vn->inputs[l], vm);
            if (p < 0) continue;
            gelu_match tmp = *m;
            if (!match_cube(f, p, x, &tmp)) continue;
            *m = tmp;
            m->x = x;
            take(m, vm);
            take(m, s);
            take(m, u);
            take(m, th);
            return 1;
        }
    }
    return 0;
}

/* From the Add(core, 1) node `c`: the tail computing 0.5 x c. Returns the last node. */
static int32_t match_tail(const kiln_fuse *f, int32_t c, gelu_match *m) {
    const kiln_graph *g = f->g;
    int32_t ct = g->nodes[c].outputs[0], x = m->x;
    int32_t m1 = kiln_fuse_sole_reader(f, ct);
    if (m1 < 0) return -1;
    int32_t o1 = other_input(&g->nodes[m1], KILN_OP_Mul, ct);
    if (o1 < 0) return -1;
    int32_t d = g->nodes[m1].outputs[0];
    if (o1 == x) { /* Mul(Mul(x, c), 0.5) */
        int32_t m2 = kiln_fuse_sole_reader(f, d);
        if (m2 < 0) return -1;
        int32_t half = other_input(&g->nodes[m2], KILN_OP_Mul, d);
        if (half < 0 || !scalar_near(g, half, x, 0.5)) return -1;
        take(m, m1);
        take(m, m2);
        return m2;
    }
    if (scalar_near(g, o1, x, 0.5)) { /* Mul(x, Mul(c, 0.5)) */
        int32_t m2 = kiln_fuse_sole_reader(f, d);
        if (m2 < 0 || other_input(&g->nodes[m2], KILN_OP_Mul, d) != x) return -1;
        take(m, m1);
        take(m, m2);
        return m2;
    }
    /* Mul(Mul(x, 0.5), c) */
    int32_t hx = private_producer(f, o1, m1);
    if (hx < 0) return -1;
    int32_t half = other_input(&g->nodes[hx], KILN_OP_Mul, x);
    if (half < 0 || !scalar_near(g, half, x, 0.5)) return -1;
    take(m, hx);
    take(m, m1);
    return m1;
}

static kiln_status try_gelu(kiln_fuse *f, int32_t c, int32_t *done) {
    kiln_graph *g = f->g;
    const kiln_node *cn = &g->nodes[c];
    /* c = Add(core, 1) */
    if (!is_op(cn, KILN_OP_Add) || cn->input_count != 2 || cn->output_count != 1) return KILN_OK;
    gelu_match m;
    int tanh_form = -1;
    for (int i = 0; i < 2 && tanh_form < 0; i++) {
        memset(&m, 0, sizeof m);
        int32_t core = private_producer(f, cn->inputs[i], c);
        if (core < 0) continue;
        if (match_erf_core(f, core, &m))
            tanh_form = 0;
        else if ((memset(&m, 0, sizeof m), match_tanh_core(f, core, &m)))
            tanh_form = 1;
        else
            continue;
        if (!scalar_near(g, cn->inputs[1 - i], m.x, 1.0)) tanh_form = -1;
    }
    if (tanh_form < 0) return KILN_OK;
    int32_t x = m.x;
    if (!kiln_fuse_float_dtype(g->tensors[x].dtype) && g->tensors[x].dtype != KILN_DTYPE_FLOAT64)
        return KILN_OK;
    take(&m, c);
    int32_t last = match_tail(f, c, &m);
    if (last < 0 || m.count >= GELU_MAX_NODES) return KILN_OK;
    int32_t y = g->nodes[last].outputs[0];
    if (g->tensors[y].dtype != g->tensors[x].dtype) return KILN_OK;
    if (!kiln_fuse_same_precision(g, m.nodes, m.count)) return KILN_OK;
    /* x may be read outside the pattern; every other intermediate was checked to stay in */
    char name[1024];
    kiln_fuse_pattern_name(g, m.nodes, m.count, "Gelu", last, name, sizeof name);
    int32_t node_x = x;
    KILN_TRY(
        kiln_fuse_replace(f, m.nodes, m.count, last, name, KILN_OP_Gelu, 20, &node_x, 1, &y, 1));
    if (tanh_form) KILN_TRY(kiln_fuse_set_string(f, last, "approximate", "tanh"));
    (*done)++;
    return KILN_OK;
}

kiln_status kiln_pass_recognize_gelu(kiln_graph *g, const kiln_fuse_options *o, int32_t *count) {
    if (count) *count = 0;
    if (o && !(o->flags & KILN_FUSE_GELU)) return KILN_OK;
    return kiln_fuse_each(g, o, try_gelu, count);
}
