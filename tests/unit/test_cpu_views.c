/*
 * Zero-copy views in the CPU executor: Reshape, Flatten, Squeeze, Unsqueeze and Identity
 * share their input's bytes (of an intermediate, a chain of views, a constant, a graph
 * input), except into a graph output, which gets a copy. The graph is built so that a
 * planner ignoring the views would hand the viewed bytes of `a` to `b` (same size, born
 * after a's last direct read) and the sum would come out wrong; both runs are checked,
 * the first on per-tensor memory, the second on the planned arena.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backends/cpu/cpu_executor.h"
#include "ir/ir.h"
#include "runtime/engine.h"
#include "test_util.h"

enum { ROWS = 4, COLS = 8, N = ROWS * COLS };

static int32_t tensor(kiln_graph *g, const char *name, kiln_dtype dt, int32_t rank,
                      const int64_t *dims) {
    int32_t t = -1;
    EXPECT_EQ_INT(kiln_graph_add_tensor(g, name, dt, rank, dims, &t), KILN_OK);
    return t;
}

static int32_t node(kiln_graph *g, kiln_op op, int32_t opset, int32_t a, int32_t b, int32_t y) {
    int32_t ins[2] = {a, b}, n = -1;
    EXPECT_EQ_INT(kiln_graph_add_node(g, "n", op, opset, ins, b >= 0 ? 2 : 1, &y, 1, &n), KILN_OK);
    return n;
}

typedef struct ids {
    int32_t x, w, a, r1, r2, b, rb, wv, xi, y, y2, u, sq;
} ids;

static kiln_graph *build(ids *t, const float *w) {
    kiln_graph *g = NULL;
    kiln_graph_create("views", &g);
    const kiln_dtype F = KILN_DTYPE_FLOAT32;
    int64_t xd[2] = {ROWS, COLS}, vd[2] = {2, N / 2}, nd[1] = {N}, sd[1] = {2},
            ud[3] = {1, ROWS, COLS};
    t->x = tensor(g, "x", F, 2, xd);
    kiln_graph_add_input(g, t->x);
    t->w = tensor(g, "w", F, 1, nd);
    kiln_graph_set_constant(g, t->w, w, sizeof(float) * N);
    int32_t shape = tensor(g, "shape", KILN_DTYPE_INT64, 1, sd);
    int64_t shape_v[2] = {2, N / 2};
    kiln_graph_set_constant(g, shape, shape_v, sizeof shape_v);
    t->a = tensor(g, "a", F, 2, xd);
    t->r1 = tensor(g, "r1", F, 2, vd);
    t->r2 = tensor(g, "r2", F, 2, vd);
    t->b = tensor(g, "b", F, 2, xd);
    t->rb = tensor(g, "rb", F, 2, vd);
    int32_t s1 = tensor(g, "s1", F, 2, vd), s2 = tensor(g, "s2", F, 2, vd);
    t->wv = tensor(g, "wv", F, 2, vd);
    t->xi = tensor(g, "xi", F, 2, vd);
    t->y = tensor(g, "y", F, 2, vd);
    t->y2 = tensor(g, "y2", F, 2, xd);
    t->u = tensor(g, "u", F, 3, ud);
    t->sq = tensor(g, "sq", F, 2, xd);
    node(g, KILN_OP_Relu, 14, t->x, -1, t->a);
    node(g, KILN_OP_Reshape, 14, t->a, shape, t->r1);
    kiln_node_set_int(g, node(g, KILN_OP_Flatten, 13, t->r1, -1, t->r2), "axis", 1);
    node(g, KILN_OP_Neg, 13, t->x, -1, t->b);
    node(g, KILN_OP_Reshape, 14, t->b, shape, t->rb);
    node(g, KILN_OP_Add, 14, t->r2, t->rb, s1);       /* relu(x) - x */
    node(g, KILN_OP_Reshape, 14, t->w, shape, t->wv); /* view of a constant */
    node(g, KILN_OP_Add, 14, s1, t->wv, s2);          /* + w */
    node(g, KILN_OP_Reshape, 14, t->x, shape, t->xi); /* view of a graph input */
    node(g, KILN_OP_Add, 14, s2, t->xi, t->y);        /* + x */
    int32_t axes = tensor(g, "axes", KILN_DTYPE_INT64, 1, (int64_t[]){1});
    kiln_graph_set_constant(g, axes, (int64_t[]){0}, sizeof(int64_t));
    node(g, KILN_OP_Unsqueeze, 13, t->a, axes, t->u);
    node(g, KILN_OP_Squeeze, 13, t->u, axes, t->sq);
    node(g, KILN_OP_Identity, 16, t->sq, -1, t->y2); /* a graph output: copied */
    kiln_graph_add_output(g, t->y);
    kiln_graph_add_output(g, t->y2);
    return g;
}

static void test_views(int threads) {
    float x[N], w[N], want_y[N], want_a[N];
    for (int i = 0; i < N; i++) {
        x[i] = (float)((i * 37) % 19) / 4.0f - 2.0f;
        w[i] = (float)(i % 7) / 8.0f;
        want_a[i] = x[i] > 0 ? x[i] : 0.0f;
        want_y[i] = ((want_a[i] + -x[i]) + w[i]) + x[i];
    }
    ids t;
    kiln_graph *g = build(&t, w);
    kiln_engine e;
    memset(&e, 0, sizeof e);
    e.graph = g;
    EXPECT_EQ_INT(kiln_engine_compute_liveness(&e), KILN_OK);
    kiln_cpu_state s;
    EXPECT_EQ_INT(kiln_cpu_state_init(&s, g, e.first_use, e.last_use, threads), KILN_OK);
    for (int rep = 0; rep < 3; rep++) {
        kiln_tview *v = &s.values[t.x];
        v->dtype = KILN_DTYPE_FLOAT32;
        v->rank = 2;
        v->dims[0] = ROWS;
        v->dims[1] = COLS;
        v->data = x;
        if (kiln_cpu_run(&s) != KILN_OK) {
            fprintf(stderr, "run %d: %s\n", rep, kiln_last_error());
            kiln_test_failures++;
            break;
        }
        const kiln_tview *vals = s.values;
        const void *a = vals[t.a].data;
        EXPECT(vals[t.r1].data == a);
        EXPECT(vals[t.r2].data == a);
        EXPECT(vals[t.u].data == a);
        EXPECT(vals[t.sq].data == a);
        EXPECT(vals[t.rb].data == vals[t.b].data);
        EXPECT(vals[t.wv].data == g->tensors[t.w].data);
        EXPECT(vals[t.xi].data == (void *)x);
        EXPECT(vals[t.y2].data != a); /* graph output: its own bytes */
        EXPECT_EQ_INT(vals[t.r2].rank, 2);
        EXPECT_EQ_INT(vals[t.r2].dims[1], N / 2);
        const float *y = vals[t.y].data, *y2 = vals[t.y2].data;
        int bad = 0;
        for (int i = 0; i < N; i++)
            if (fabsf(y[i] - want_y[i]) > 1e-6f || y2[i] != want_a[i]) bad++;
        if (bad) fprintf(stderr, "run %d, %d thread(s): %d wrong values\n", rep, threads, bad);
        EXPECT_EQ_INT(bad, 0);
        if (rep == 1) EXPECT(s.plan_valid && s.arena); /* later runs use the arena */
    }
    kiln_cpu_state_free(&s);
    free(e.first_use);
    free(e.last_use);
    kiln_graph_destroy(g);
}

int main(void) {
    test_views(1);
    test_views(2);
    TEST_MAIN_END();
}
