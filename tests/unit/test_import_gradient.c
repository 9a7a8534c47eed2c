/*
 * Unit test of the importer's ai.onnx.preview.training::Gradient rewrite
 * (src/onnx/import_gradient.c), through the public path: parse -> build -> execute.
 *   - the ONNX backend tests simple/test_gradient_of_add and test_gradient_of_add_and_mul
 *     on random non-zero inputs, against the derivatives written out here;
 *   - a model written in memory (float64) that broadcasts (Mul, Sub with a 1-D operand) and
 *     goes through Tanh and a MatMul: every gradient against central differences of the
 *     sum of y, once with static shapes and once with a dynamic batch dim (the run-time
 *     route that sums over broadcast axes), at two batch sizes;
 *   - an op that cannot be differentiated on the path (Softmax) is an import error naming
 *     the Gradient node and that op; the same op off the path is fine.
 *
 * The backend tests are found through $KILN_BACKEND_TESTS (set by ctest); without it that
 * part is skipped.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln/kiln.h"
#include "test_util.h"

/* ---------------------------------------------------------------- random ----------- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static double rnd_uniform(void) { /* [-1, 1) */
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) / (double)(1ull << 52) - 1.0;
}
/* Non-zero, away from 0: magnitude in [0.25, 1.25). */
static double rnd_nonzero(void) {
    double v = rnd_uniform();
    return v < 0 ? v - 0.25 : v + 0.25;
}

/* ---------------------------------------------------------------- engines ---------- */

typedef struct dyn_input {
    const char *name;
    kiln_dims min, opt, max;
} dyn_input;

/* Builds an engine from a file (path) or from bytes; NULL on failure, with the parser's
 * first error copied to err when err is given. */
static kiln_engine *build(const char *path, const void *bytes, size_t size, const dyn_input *dyn,
                          char *err, size_t err_size) {
    kiln_builder *builder = NULL;
    kiln_network *network = NULL;
    kiln_onnx_parser *parser = NULL;
    kiln_builder_config *config = NULL;
    kiln_optimization_profile *profile = NULL;
    kiln_engine *engine = NULL;
    if (err) err[0] = '\0';
    kiln_status st = kiln_builder_create(NULL, &builder);
    if (st == KILN_OK)
        st = kiln_builder_create_network(builder, KILN_NETWORK_EXPLICIT_BATCH, &network);
    if (st == KILN_OK) st = kiln_onnx_parser_create(network, NULL, &parser);
    if (st == KILN_OK)
        st = path ? kiln_onnx_parser_parse_from_file(parser, path)
                  : kiln_onnx_parser_parse(parser, bytes, size, NULL);
    if (st != KILN_OK && err) {
        if (parser && kiln_onnx_parser_num_errors(parser) > 0)
            snprintf(err, err_size, "%s", kiln_onnx_parser_get_error(parser, 0));
        else
            snprintf(err, err_size, "%s", kiln_last_error());
    }
    if (st == KILN_OK) st = kiln_builder_create_config(builder, &config);
    if (st == KILN_OK && dyn) {
        st = kiln_builder_create_optimization_profile(builder, &profile);
        if (st == KILN_OK)
            st = kiln_optimization_profile_set_dimensions(profile, dyn->name, KILN_PROFILE_MIN,
                                                          dyn->min);
        if (st == KILN_OK)
            st = kiln_optimization_profile_set_dimensions(profile, dyn->name, KILN_PROFILE_OPT,
                                                          dyn->opt);
        if (st == KILN_OK)
            st = kiln_optimization_profile_set_dimensions(profile, dyn->name, KILN_PROFILE_MAX,
                                                          dyn->max);
        if (st == KILN_OK) st = kiln_builder_config_add_optimization_profile(config, profile);
    }
    if (st == KILN_OK) st = kiln_builder_build_engine(builder, network, config, &engine);
    if (st != KILN_OK && !err)
        fprintf(stderr, "building %s: %s: %s\n", path ? path : "in-memory model",
                kiln_status_string(st), kiln_last_error());
    kiln_optimization_profile_destroy(profile);
    kiln_builder_config_destroy(config);
    kiln_onnx_parser_destroy(parser);
    kiln_network_destroy(network);
    kiln_builder_destroy(builder);
    return st == KILN_OK ? engine : NULL;
}

typedef struct io {
    const char *name;
    kiln_dims dims;
    const void *data;
} io;

/* Sets the inputs and runs; outputs are read with output(). */
static kiln_status run(kiln_context *c, const io *inputs, int n) {
    kiln_status st = KILN_OK;
    for (int i = 0; st == KILN_OK && i < n; i++) {
        st = kiln_context_set_input_shape(c, inputs[i].name, inputs[i].dims);
        if (st == KILN_OK)
            st = kiln_context_set_tensor_address(c, inputs[i].name, (void *)inputs[i].data);
    }
    if (st == KILN_OK) st = kiln_context_execute(c);
    if (st != KILN_OK) fprintf(stderr, "run: %s\n", kiln_last_error());
    return st;
}

/* An output after a run, with its element count. */
static const void *output(kiln_context *c, const char *name, int64_t *count) {
    kiln_dims d;
    const void *data = NULL;
    *count = -1;
    if (kiln_context_get_tensor_shape(c, name, &d) != KILN_OK) return NULL;
    if (kiln_context_get_tensor_data(c, name, &data) != KILN_OK) return NULL;
    *count = 1;
    for (int32_t i = 0; i < d.nb_dims; i++) *count *= d.d[i];
    return data;
}

static int close_to(double got, double want, double tol) {
    return fabs(got - want) <= tol * (1.0 + fabs(want));
}

/* ---------------------------------------------------------------- backend tests ---- */

/* simple/test_gradient_of_add:          c = a + b;        dc/da = 1,      dc/db = 1
 * simple/test_gradient_of_add_and_mul:  d = (a + b) * a;  dd/da = 2a + b, dd/db = a */
static void test_backend_models(void) {
    const char *root = getenv("KILN_BACKEND_TESTS");
    if (!root || !*root) {
        printf("KILN_BACKEND_TESTS not set: skipping the backend models\n");
        return;
    }
    for (int which = 0; which < 2; which++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/simple/%s/model.onnx", root,
                 which ? "test_gradient_of_add_and_mul" : "test_gradient_of_add");
        kiln_engine *e = build(path, NULL, 0, NULL, NULL, 0);
        EXPECT(e != NULL);
        if (!e) continue;
        kiln_context *c = NULL;
        EXPECT_EQ_INT(kiln_engine_create_execution_context(e, &c), KILN_OK);
        for (int trial = 0; c && trial < 8; trial++) {
            float a = (float)(4.0 * rnd_nonzero()), b = (float)(4.0 * rnd_nonzero());
            kiln_dims scalar = {0, {0}};
            io in[2] = {{"a", scalar, &a}, {"b", scalar, &b}};
            if (run(c, in, 2) != KILN_OK) {
                kiln_test_failures++;
                break;
            }
            const char *names[2][3] = {{"c", "dc_da", "dc_db"}, {"d", "dd_da", "dd_db"}};
            float want[3];
            if (which == 0) {
                want[0] = a + b, want[1] = 1.0f, want[2] = 1.0f;
            } else {
                want[0] = (a + b) * a, want[1] = 2.0f * a + b, want[2] = a;
            }
            for (int k = 0; k < 3; k++) {
                int64_t count;
                const float *got = output(c, names[which][k], &count);
                EXPECT(got != NULL && count == 1);
                if (!got || count != 1) continue;
                if (!close_to(*got, want[k], 1e-5)) {
                    fprintf(stderr, "%s: a=%g b=%g: %s = %g, expected %g\n", path, a, b,
                            names[which][k], *got, want[k]);
                    kiln_test_failures++;
                }
            }
        }
        kiln_context_destroy(c);
        kiln_engine_destroy(e);
    }
}

/* ---------------------------------------------------------------- protobuf writer -- */

/* Just enough of the wire format to write a small ModelProto. */
typedef struct pb {
    uint8_t *p;
    size_t n, cap;
} pb;

static void pb_byte(pb *b, uint8_t v) {
    if (b->n == b->cap) {
        b->cap = b->cap ? 2 * b->cap : 256;
        b->p = realloc(b->p, b->cap);
        if (!b->p) abort(); /* test code */
    }
    b->p[b->n++] = v;
}
static void pb_varint(pb *b, uint64_t v) {
    while (v >= 0x80) {
        pb_byte(b, (uint8_t)(v | 0x80));
        v >>= 7;
    }
    pb_byte(b, (uint8_t)v);
}
static void pb_int(pb *b, int field, int64_t v) {
    pb_varint(b, (uint64_t)field << 3);
    pb_varint(b, (uint64_t)v);
}
static void pb_bytes(pb *b, int field, const void *data, size_t len) {
    pb_varint(b, (uint64_t)field << 3 | 2);
    pb_varint(b, len);
    for (size_t i = 0; i < len; i++) pb_byte(b, ((const uint8_t *)data)[i]);
}
static void pb_str(pb *b, int field, const char *s) {
    pb_bytes(b, field, s, strlen(s));
}
/* Appends sub as a length-delimited field and frees it. */
static void pb_msg(pb *b, int field, pb *sub) {
    pb_bytes(b, field, sub->p, sub->n);
    free(sub->p);
    memset(sub, 0, sizeof *sub);
}

enum { ONNX_DOUBLE = 11 };

/* ValueInfoProto of a double tensor; dims NULL: shape unknown; a negative dim is the
 * symbolic dim "N". */
static void pb_value_info(pb *graph, int field, const char *name, int rank, const int64_t *dims) {
    pb vi = {0}, type = {0}, tensor = {0}, shape = {0};
    pb_str(&vi, 1, name);
    pb_int(&tensor, 1, ONNX_DOUBLE);
    if (dims) {
        for (int i = 0; i < rank; i++) {
            pb dim = {0};
            if (dims[i] < 0)
                pb_str(&dim, 2, "N");
            else
                pb_int(&dim, 1, dims[i]);
            pb_msg(&shape, 1, &dim);
        }
        pb_msg(&tensor, 2, &shape);
    }
    pb_msg(&type, 1, &tensor);
    pb_msg(&vi, 2, &type);
    pb_msg(graph, field, &vi);
}

/* NodeProto with up to 4 inputs/outputs ("" ends the list). */
static void pb_node(pb *graph, const char *name, const char *op, const char *const *ins,
                    const char *const *outs, pb *attrs, int nattrs, const char *domain) {
    pb node = {0};
    for (int i = 0; i < 4 && ins[i] && *ins[i]; i++) pb_str(&node, 1, ins[i]);
    for (int i = 0; i < 4 && outs[i] && *outs[i]; i++) pb_str(&node, 2, outs[i]);
    pb_str(&node, 3, name);
    pb_str(&node, 4, op);
    for (int i = 0; i < nattrs; i++) pb_msg(&node, 5, &attrs[i]);
    if (domain) pb_str(&node, 7, domain);
    pb_msg(graph, 1, &node);
}

/* The Gradient node of y by xs (its inputs are the xs; outputs "d_<x>"). */
static void pb_gradient(pb *graph, const char *const *xs, int nx, const char *y) {
    pb attrs[2] = {{0}, {0}};
    pb_str(&attrs[0], 1, "xs");
    for (int i = 0; i < nx; i++) pb_str(&attrs[0], 9, xs[i]);
    pb_int(&attrs[0], 20, 8); /* STRINGS */
    pb_str(&attrs[1], 1, "y");
    pb_str(&attrs[1], 4, y);
    pb_int(&attrs[1], 20, 3); /* STRING */
    char outs[4][32];
    const char *outp[5] = {0};
    for (int i = 0; i < nx && i < 4; i++) {
        snprintf(outs[i], sizeof outs[i], "d_%s", xs[i]);
        outp[i] = outs[i];
    }
    pb_node(graph, "grad", "Gradient", xs, outp, attrs, 2, "ai.onnx.preview.training");
}

static void pb_model(pb *model, pb *graph) {
    pb_int(model, 1, 8); /* ir_version */
    pb opset = {0};
    pb_int(&opset, 2, 17);
    pb_msg(model, 8, &opset);
    pb_str(&opset, 1, "ai.onnx.preview.training");
    pb_int(&opset, 2, 1);
    pb_msg(model, 8, &opset);
    pb_msg(model, 7, graph);
}

/* ---------------------------------------------------------------- broadcasting ----- */

/*
 * a [N, 3], b [3], w [3, 2] (float64):
 *   c = Mul(a, b)   d = Sub(c, b)   e = Tanh(d)   y = MatMul(e, w)   [N, 2]
 *   Gradient(xs = [a, b, w], y = y) -> d_a, d_b, d_w
 * N is 2 (static) or the symbolic "N" (dynamic).
 */
static pb broadcast_model(int dynamic, const char *mid_op) {
    pb graph = {0}, model = {0};
    const char *const mul[] = {"a", "b", ""}, *const c[] = {"c", ""};
    const char *const sub[] = {"c", "b", ""}, *const d[] = {"d", ""};
    const char *const tanh_in[] = {"d", ""}, *const e[] = {"e", ""};
    const char *const mm[] = {"e", "w", ""}, *const y[] = {"y", ""};
    pb_node(&graph, "mul", "Mul", mul, c, NULL, 0, NULL);
    pb_node(&graph, "sub", "Sub", sub, d, NULL, 0, NULL);
    pb_node(&graph, "mid", mid_op, tanh_in, e, NULL, 0, NULL);
    pb_node(&graph, "mm", "MatMul", mm, y, NULL, 0, NULL);
    const char *const xs[] = {"a", "b", "w", ""};
    pb_gradient(&graph, xs, 3, "y");
    pb_str(&graph, 2, "broadcast");
    int64_t da[2] = {dynamic ? -1 : 2, 3}, db[1] = {3}, dw[2] = {3, 2};
    pb_value_info(&graph, 11, "a", 2, da);
    pb_value_info(&graph, 11, "b", 1, db);
    pb_value_info(&graph, 11, "w", 2, dw);
    pb_value_info(&graph, 12, "y", 0, NULL);
    pb_value_info(&graph, 12, "d_a", 0, NULL);
    pb_value_info(&graph, 12, "d_b", 0, NULL);
    pb_value_info(&graph, 12, "d_w", 0, NULL);
    pb_model(&model, &graph);
    return model;
}

/* The sum of y on one context, for central differences. */
static double sum_y(kiln_context *c, const io *in, int n) {
    if (run(c, in, n) != KILN_OK) return NAN;
    int64_t count;
    const double *y = output(c, "y", &count);
    double s = 0;
    for (int64_t i = 0; y && i < count; i++) s += y[i];
    return y ? s : NAN;
}

static void check_broadcast(int dynamic) {
    pb model = broadcast_model(dynamic, "Tanh");
    dyn_input dyn = {"a", {2, {1, 3}}, {2, {2, 3}}, {2, {4, 3}}};
    kiln_engine *e = build(NULL, model.p, model.n, dynamic ? &dyn : NULL, NULL, 0);
    free(model.p);
    EXPECT(e != NULL);
    if (!e) return;
    kiln_context *c = NULL;
    EXPECT_EQ_INT(kiln_engine_create_execution_context(e, &c), KILN_OK);
    for (int64_t batch = 2; c && batch <= (dynamic ? 3 : 2); batch++) {
        double a[4 * 3], b[3], w[3 * 2];
        for (int i = 0; i < 12; i++) a[i] = rnd_nonzero();
        for (int i = 0; i < 3; i++) b[i] = rnd_nonzero();
        for (int i = 0; i < 6; i++) w[i] = rnd_nonzero();
        io in[3] = {{"a", {2, {batch, 3}}, a}, {"b", {1, {3}}, b}, {"w", {2, {3, 2}}, w}};
        double *xs[3] = {a, b, w};
        int64_t sizes[3] = {batch * 3, 3, 6};
        const char *grads[3] = {"d_a", "d_b", "d_w"};
        double got[3][12];
        if (run(c, in, 3) != KILN_OK) {
            kiln_test_failures++;
            break;
        }
        for (int k = 0; k < 3; k++) {
            int64_t count;
            const double *g = output(c, grads[k], &count);
            EXPECT(g != NULL);
            EXPECT_EQ_INT(count, sizes[k]);
            if (!g || count != sizes[k]) return;
            memcpy(got[k], g, sizeof(double) * (size_t)count);
        }
        const double h = 1e-6;
        for (int k = 0; k < 3; k++)
            for (int64_t i = 0; i < sizes[k]; i++) {
                double saved = xs[k][i];
                xs[k][i] = saved + h;
                double up = sum_y(c, in, 3);
                xs[k][i] = saved - h;
                double down = sum_y(c, in, 3);
                xs[k][i] = saved;
                double want = (up - down) / (2 * h);
                if (!close_to(got[k][i], want, 1e-6)) {
                    fprintf(stderr, "broadcast (%s, N=%lld): %s[%lld] = %.9g, expected %.9g\n",
                            dynamic ? "dynamic" : "static", (long long)batch, grads[k],
                            (long long)i, got[k][i], want);
                    kiln_test_failures++;
                }
            }
    }
    kiln_context_destroy(c);
    kiln_engine_destroy(e);
}

/* ---------------------------------------------------------------- errors ----------- */

static void test_not_differentiable(void) {
    char err[2048];
    pb model = broadcast_model(0, "Softmax");
    kiln_engine *e = build(NULL, model.p, model.n, NULL, err, sizeof err);
    free(model.p);
    EXPECT(e == NULL);
    kiln_engine_destroy(e);
    EXPECT_STR_CONTAINS(err, "'grad'");
    EXPECT_STR_CONTAINS(err, "cannot differentiate node 'mid' (Softmax)");

    /* Softmax off the path (on w alone, which is not differentiated): fine. */
    pb graph = {0};
    model = (pb){0};
    const char *const sm_in[] = {"w", ""}, *const s[] = {"s", ""};
    const char *const mm[] = {"a", "s", ""}, *const y[] = {"y", ""};
    pb_node(&graph, "sm", "Softmax", sm_in, s, NULL, 0, NULL);
    pb_node(&graph, "mm", "MatMul", mm, y, NULL, 0, NULL);
    const char *const xs[] = {"a", ""};
    pb_gradient(&graph, xs, 1, "y");
    pb_str(&graph, 2, "offpath");
    int64_t da[2] = {2, 3}, dw[2] = {3, 2};
    pb_value_info(&graph, 11, "a", 2, da);
    pb_value_info(&graph, 11, "w", 2, dw);
    pb_value_info(&graph, 12, "y", 0, NULL);
    pb_value_info(&graph, 12, "d_a", 0, NULL);
    pb_model(&model, &graph);
    e = build(NULL, model.p, model.n, NULL, err, sizeof err);
    free(model.p);
    EXPECT(e != NULL);
    if (!e) fprintf(stderr, "off-path Softmax: %s\n", err);
    kiln_engine_destroy(e);
}

int main(void) {
    test_backend_models();
    check_broadcast(0);
    check_broadcast(1);
    test_not_differentiable();
    TEST_MAIN_END();
}
