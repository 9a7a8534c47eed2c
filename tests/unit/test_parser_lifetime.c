/* The ONNX parser, its network and the engines built from it may be destroyed in any
 * order: the network borrows the model's weights and keeps the mapped model alive while it
 * does, engines own copies; a network that goes first is forgotten by its parsers (no
 * dangling pointer; a parse after that is refused with a sentence). Run under ASan in CI,
 * which catches a use after free. */
#include <stdlib.h>

#include "kiln/kiln.h"
#include "api/network_internal.h"
#include "runtime/engine.h"
#include "test_util.h"

static const char *digits_path(char *buf, size_t size) {
    const char *src = getenv("KILN_SOURCE_DIR");
    snprintf(buf, size, "%s/models/digits/digits.onnx", src ? src : KILN_SOURCE_DIR);
    return buf;
}

/* Builds the network into an engine (max batch 1) and destroys it; returns the status. */
static kiln_status build(kiln_builder *b, kiln_network *n) {
    kiln_builder_config *cfg = NULL;
    kiln_engine *e = NULL;
    kiln_status st = kiln_builder_create_config(b, &cfg);
    if (st == KILN_OK) st = kiln_builder_config_set_max_batch_size(cfg, 1);
    if (st == KILN_OK) st = kiln_builder_config_set_num_threads(cfg, 1);
    if (st == KILN_OK) st = kiln_builder_build_engine(b, n, cfg, &e);
    if (st != KILN_OK) fprintf(stderr, "build: %s\n", kiln_last_error());
    kiln_engine_destroy(e);
    kiln_builder_config_destroy(cfg);
    return st;
}

/* Runs the digits engine on a fixed image batch of 2; out gets 2 x 10 probabilities. */
static kiln_status run_digits(kiln_engine *e, float *out) {
    float image[2 * 64];
    for (int i = 0; i < 2 * 64; i++) image[i] = (float)((i * 7) % 17) / 16.0f;
    kiln_context *c = NULL;
    kiln_dims d = {4, {2, 1, 8, 8}};
    kiln_status st = kiln_engine_create_execution_context(e, &c);
    if (st == KILN_OK) st = kiln_context_set_input_shape(c, "image", d);
    if (st == KILN_OK) st = kiln_context_set_tensor_address(c, "image", image);
    if (st == KILN_OK) st = kiln_context_set_tensor_address(c, "probabilities", out);
    if (st == KILN_OK) st = kiln_context_execute(c);
    kiln_context_destroy(c);
    return st;
}

/* An engine built from a parsed file, run after its parser and network are gone: it must
 * borrow at least one weight from the model (kept alive for it) and give the results of an
 * engine whose parser and network are still there. */
static void test_engine_outlives_parser(kiln_builder *b, const char *path) {
    kiln_engine *engines[2] = {NULL, NULL};
    kiln_network *nets[2] = {NULL, NULL};
    kiln_onnx_parser *parsers[2] = {NULL, NULL};
    for (int k = 0; k < 2; k++) {
        kiln_builder_config *cfg = NULL;
        kiln_optimization_profile *prof = NULL;
        kiln_dims lo = {4, {1, 1, 8, 8}}, hi = {4, {4, 1, 8, 8}};
        kiln_status st = kiln_builder_create_network(b, KILN_NETWORK_EXPLICIT_BATCH, &nets[k]);
        if (st == KILN_OK) st = kiln_onnx_parser_create(nets[k], NULL, &parsers[k]);
        if (st == KILN_OK) st = kiln_onnx_parser_parse_from_file(parsers[k], path);
        if (st == KILN_OK) st = kiln_builder_create_config(b, &cfg);
        if (st == KILN_OK) st = kiln_builder_config_set_num_threads(cfg, 1);
        if (st == KILN_OK) st = kiln_builder_create_optimization_profile(b, &prof);
        if (st == KILN_OK)
            st = kiln_optimization_profile_set_dimensions(prof, "image", KILN_PROFILE_MIN, lo);
        if (st == KILN_OK)
            st = kiln_optimization_profile_set_dimensions(prof, "image", KILN_PROFILE_OPT, hi);
        if (st == KILN_OK)
            st = kiln_optimization_profile_set_dimensions(prof, "image", KILN_PROFILE_MAX, hi);
        if (st == KILN_OK) st = kiln_builder_config_add_optimization_profile(cfg, prof);
        if (st == KILN_OK) st = kiln_builder_build_engine(b, nets[k], cfg, &engines[k]);
        EXPECT_EQ_INT(st, KILN_OK);
        kiln_optimization_profile_destroy(prof);
        kiln_builder_config_destroy(cfg);
    }
    if (!engines[0] || !engines[1]) return;
    /* the network borrows the model's weights (kept alive for it); the engine owns copies */
    int backed = 0, engine_borrowed = 0;
    const kiln_graph *ng = nets[0]->graph, *g = engines[0]->graph;
    for (int32_t t = 0; t < ng->tensor_count; t++)
        backed += ng->tensors[t].data && ng->tensors[t].borrowed && ng->tensors[t].backing;
    for (int32_t t = 0; t < g->tensor_count; t++)
        engine_borrowed += g->tensors[t].data && g->tensors[t].borrowed;
    EXPECT(backed > 0);
    EXPECT_EQ_INT(engine_borrowed, 0);
    /* engine 0: parser first, then network; engine 1 keeps both */
    kiln_onnx_parser_destroy(parsers[0]);
    kiln_network_destroy(nets[0]);
    float a[20], r[20];
    memset(a, 0, sizeof a);
    memset(r, 0xff, sizeof r);
    EXPECT_EQ_INT(run_digits(engines[0], a), KILN_OK);
    EXPECT_EQ_INT(run_digits(engines[1], r), KILN_OK);
    EXPECT(memcmp(a, r, sizeof a) == 0);
    float sum = 0;
    for (int i = 0; i < 10; i++) sum += a[i];
    EXPECT(sum > 0.99f && sum < 1.01f); /* softmax probabilities, not zeros */
    kiln_engine_destroy(engines[0]);
    kiln_engine_destroy(engines[1]);
    kiln_network_destroy(nets[1]); /* network before parser this time */
    kiln_onnx_parser_destroy(parsers[1]);
}

int main(void) {
    char path[4096];
    digits_path(path, sizeof path);
    kiln_builder *b = NULL;
    EXPECT_EQ_INT(kiln_builder_create(NULL, &b), KILN_OK);

    /* network first: the parser must not touch it afterwards */
    kiln_network *n = NULL;
    kiln_onnx_parser *p = NULL, *p2 = NULL;
    EXPECT_EQ_INT(kiln_builder_create_network(b, KILN_NETWORK_EXPLICIT_BATCH, &n), KILN_OK);
    EXPECT_EQ_INT(kiln_onnx_parser_create(n, NULL, &p), KILN_OK);
    EXPECT_EQ_INT(kiln_onnx_parser_create(n, NULL, &p2), KILN_OK);
    EXPECT_EQ_INT(kiln_onnx_parser_parse_from_file(p, path), KILN_OK);
    EXPECT_EQ_INT(build(b, n), KILN_OK);
    kiln_onnx_parser_destroy(p2); /* unlinks itself from the network's list */
    kiln_network_destroy(n);
    EXPECT(kiln_onnx_parser_parse_from_file(p, path) != KILN_OK);
    EXPECT_STR_CONTAINS(kiln_last_error(), "network was destroyed");
    kiln_onnx_parser_destroy(p);

    /* parser first: the network keeps working on its own copies of the weights */
    n = NULL;
    p = NULL;
    EXPECT_EQ_INT(kiln_builder_create_network(b, KILN_NETWORK_EXPLICIT_BATCH, &n), KILN_OK);
    EXPECT_EQ_INT(kiln_onnx_parser_create(n, NULL, &p), KILN_OK);
    EXPECT_EQ_INT(kiln_onnx_parser_parse_from_file(p, path), KILN_OK);
    kiln_onnx_parser_destroy(p);
    EXPECT_EQ_INT(build(b, n), KILN_OK);
    kiln_network_destroy(n);

    test_engine_outlives_parser(b, path);
    kiln_builder_destroy(b);
    TEST_MAIN_END();
}
