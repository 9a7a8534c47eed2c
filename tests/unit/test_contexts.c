/*
 * Unit test of execution contexts (src/api/context.c) on the bundled digits model:
 *   - concurrency: contexts of one engine on 4 threads at once, each running its own
 *     random inputs (and batch sizes) many times, give bytes identical to a
 *     single-threaded run of the same inputs; once for a built engine, once for an engine
 *     loaded from a plan (weights shared in place);
 *   - shape errors: outside the profile (message with both bounds), wrong rank, fixed
 *     dimension changed, negative dimension, unset dynamic shape, unbound input, unknown
 *     name; a failed call leaves the context usable.
 *
 * The repository is found through $KILN_SOURCE_DIR, else from this file's path.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <threads.h>

#include "kiln/kiln.h"
#include "test_util.h"

#define THREADS           4
#define INPUTS_PER_THREAD 6
#define ROUNDS            12
#define MAX_BATCH         64
#define IMAGE_FLOATS      64 /* 1 x 8 x 8 */

static void source_path(char *buf, size_t size, const char *rel) {
    const char *env = getenv("KILN_SOURCE_DIR");
    if (env && *env) {
        snprintf(buf, size, "%s/%s", env, rel);
        return;
    }
    const char *file = __FILE__;
    const char *tail = strstr(file, "tests/unit/test_contexts.c");
    if (tail)
        snprintf(buf, size, "%.*s%s", (int)(tail - file), file, rel);
    else
        snprintf(buf, size, "../../%s", rel); /* ctest runs in <build>/tests */
}

static kiln_dims dims4(int64_t a, int64_t b, int64_t c, int64_t d) {
    kiln_dims r = {4, {a, b, c, d}};
    return r;
}

/* The digits engine with a batch profile 1..64 and one CPU thread per context unless
 * `threads` says otherwise (0: one per core). */
static kiln_engine *build_digits(const char *onnx_path, int32_t threads) {
    kiln_builder *builder = NULL;
    kiln_network *network = NULL;
    kiln_onnx_parser *parser = NULL;
    kiln_builder_config *config = NULL;
    kiln_optimization_profile *profile = NULL;
    kiln_engine *engine = NULL;
    kiln_status st = kiln_builder_create(NULL, &builder);
    if (st == KILN_OK)
        st = kiln_builder_create_network(builder, KILN_NETWORK_EXPLICIT_BATCH, &network);
    if (st == KILN_OK) st = kiln_onnx_parser_create(network, NULL, &parser);
    if (st == KILN_OK) st = kiln_onnx_parser_parse_from_file(parser, onnx_path);
    if (st == KILN_OK) st = kiln_builder_create_config(builder, &config);
    if (st == KILN_OK) st = kiln_builder_config_set_num_threads(config, threads);
    if (st == KILN_OK) st = kiln_builder_create_optimization_profile(builder, &profile);
    if (st == KILN_OK)
        st = kiln_optimization_profile_set_dimensions(profile, "image", KILN_PROFILE_MIN,
                                                      dims4(1, 1, 8, 8));
    if (st == KILN_OK)
        st = kiln_optimization_profile_set_dimensions(profile, "image", KILN_PROFILE_OPT,
                                                      dims4(16, 1, 8, 8));
    if (st == KILN_OK)
        st = kiln_optimization_profile_set_dimensions(profile, "image", KILN_PROFILE_MAX,
                                                      dims4(MAX_BATCH, 1, 8, 8));
    if (st == KILN_OK) st = kiln_builder_config_add_optimization_profile(config, profile);
    if (st == KILN_OK) st = kiln_builder_build_engine(builder, network, config, &engine);
    if (st != KILN_OK)
        fprintf(stderr, "building %s: %s: %s\n", onnx_path, kiln_status_string(st),
                kiln_last_error());
    kiln_optimization_profile_destroy(profile);
    kiln_builder_config_destroy(config);
    kiln_onnx_parser_destroy(parser);
    kiln_network_destroy(network);
    kiln_builder_destroy(builder);
    return st == KILN_OK ? engine : NULL;
}

/* One run on a context: shape, bindings, execute. */
static kiln_status run(kiln_context *c, const float *images, int64_t batch, float *out) {
    kiln_status st = kiln_context_set_input_shape(c, "image", dims4(batch, 1, 8, 8));
    if (st == KILN_OK) st = kiln_context_set_tensor_address(c, "image", (void *)images);
    if (st == KILN_OK) st = kiln_context_set_tensor_address(c, "probabilities", out);
    if (st == KILN_OK) st = kiln_context_execute(c);
    return st;
}

/* ---- concurrency ------------------------------------------------------------------------ */

typedef struct job {
    kiln_engine *engine;
    int64_t batch[INPUTS_PER_THREAD];
    float *images[INPUTS_PER_THREAD];
    float *expected[INPUTS_PER_THREAD]; /* single-threaded results */
    int mismatches, errors, runs;
    char first_error[512];
} job;

static uint64_t rng_state = 0x853C49E6748FEA9Bull;
static uint64_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* Each thread owns two contexts and alternates between them, so batch sizes change under
 * every context and more contexts than threads are alive at once. */
static int worker(void *arg) {
    job *j = arg;
    kiln_context *ctx[2] = {NULL, NULL};
    for (int k = 0; k < 2; k++)
        if (kiln_engine_create_execution_context(j->engine, &ctx[k]) != KILN_OK) {
            snprintf(j->first_error, sizeof j->first_error, "context: %s", kiln_last_error());
            j->errors++;
        }
    float *out = malloc(sizeof(float) * 10 * MAX_BATCH);
    for (int r = 0; r < ROUNDS && !j->errors && out; r++)
        for (int i = 0; i < INPUTS_PER_THREAD; i++) {
            /* Poison the output so a run that writes nothing cannot pass. */
            memset(out, 0xFF, sizeof(float) * 10 * MAX_BATCH);
            kiln_status st = run(ctx[(r + i) % 2], j->images[i], j->batch[i], out);
            j->runs++;
            if (st != KILN_OK) {
                if (!j->errors++)
                    snprintf(j->first_error, sizeof j->first_error, "%s: %s",
                             kiln_status_string(st), kiln_last_error());
                break;
            }
            if (memcmp(out, j->expected[i], sizeof(float) * 10 * (size_t)j->batch[i]) != 0)
                j->mismatches++;
        }
    free(out);
    kiln_context_destroy(ctx[0]);
    kiln_context_destroy(ctx[1]);
    return 0;
}

static void test_concurrent_contexts(kiln_engine *engine, const char *what) {
    job jobs[THREADS];
    memset(jobs, 0, sizeof jobs);
    /* Inputs and their single-threaded results, on one context, before any thread runs. */
    kiln_context *ref = NULL;
    EXPECT_EQ_INT(kiln_engine_create_execution_context(engine, &ref), KILN_OK);
    if (!ref) return;
    for (int t = 0; t < THREADS; t++) {
        jobs[t].engine = engine;
        for (int i = 0; i < INPUTS_PER_THREAD; i++) {
            /* The first input of each thread is the full batch, the rest random sizes. */
            int64_t b = i == 0 ? MAX_BATCH : 1 + (int64_t)(rnd() % MAX_BATCH);
            jobs[t].batch[i] = b;
            jobs[t].images[i] = malloc(sizeof(float) * IMAGE_FLOATS * (size_t)b);
            jobs[t].expected[i] = malloc(sizeof(float) * 10 * (size_t)b);
            for (int64_t k = 0; k < IMAGE_FLOATS * b; k++)
                jobs[t].images[i][k] = (float)(rnd() % 17) / 16.0f; /* pixels 0..16, /16 */
            EXPECT_EQ_INT(run(ref, jobs[t].images[i], b, jobs[t].expected[i]), KILN_OK);
        }
    }
    kiln_context_destroy(ref);

    thrd_t threads[THREADS];
    int started[THREADS];
    for (int t = 0; t < THREADS; t++)
        started[t] = thrd_create(&threads[t], worker, &jobs[t]) == thrd_success;
    for (int t = 0; t < THREADS; t++)
        if (started[t]) thrd_join(threads[t], NULL);
    for (int t = 0; t < THREADS; t++) {
        EXPECT(started[t]);
        if (jobs[t].errors) fprintf(stderr, "%s: thread %d: %s\n", what, t, jobs[t].first_error);
        if (jobs[t].mismatches)
            fprintf(stderr, "%s: thread %d: %d of %d runs differ from the single-threaded run\n",
                    what, t, jobs[t].mismatches, jobs[t].runs);
        EXPECT_EQ_INT(jobs[t].errors, 0);
        EXPECT_EQ_INT(jobs[t].mismatches, 0);
        EXPECT_EQ_INT(jobs[t].runs, ROUNDS * INPUTS_PER_THREAD);
        for (int i = 0; i < INPUTS_PER_THREAD; i++) {
            free(jobs[t].images[i]);
            free(jobs[t].expected[i]);
        }
    }
}

/* ---- shape errors ----------------------------------------------------------------------- */

static void test_shape_errors(kiln_engine *engine) {
    kiln_context *c = NULL;
    EXPECT_EQ_INT(kiln_engine_create_execution_context(engine, &c), KILN_OK);
    if (!c) return;
    static float images[IMAGE_FLOATS * MAX_BATCH], out[10 * MAX_BATCH], good[10 * MAX_BATCH];
    for (int k = 0; k < IMAGE_FLOATS * MAX_BATCH; k++) images[k] = (float)(k % 17) / 16.0f;

    /* A dynamic input has no shape until one is set. */
    EXPECT_EQ_INT(kiln_context_set_tensor_address(c, "image", images), KILN_OK);
    EXPECT_EQ_INT(kiln_context_set_tensor_address(c, "probabilities", out), KILN_OK);
    EXPECT_EQ_INT(kiln_context_execute(c), KILN_ERR_SHAPE);
    EXPECT_STR_CONTAINS(kiln_last_error(), "'image'");

    /* Outside the profile, above and below: the message gives both bounds. */
    EXPECT_EQ_INT(kiln_context_set_input_shape(c, "image", dims4(MAX_BATCH + 1, 1, 8, 8)),
                  KILN_ERR_SHAPE);
    EXPECT_STR_CONTAINS(kiln_last_error(), "'image'");
    EXPECT_STR_CONTAINS(kiln_last_error(), "[65, 1, 8, 8]");
    EXPECT_STR_CONTAINS(kiln_last_error(), "min [1, 1, 8, 8]");
    EXPECT_STR_CONTAINS(kiln_last_error(), "max [64, 1, 8, 8]");
    EXPECT_EQ_INT(kiln_context_set_input_shape(c, "image", dims4(0, 1, 8, 8)), KILN_ERR_SHAPE);
    EXPECT_STR_CONTAINS(kiln_last_error(), "min [1, 1, 8, 8]");
    EXPECT_STR_CONTAINS(kiln_last_error(), "max [64, 1, 8, 8]");

    /* A fixed dimension cannot change; a dimension cannot be negative. */
    EXPECT_EQ_INT(kiln_context_set_input_shape(c, "image", dims4(2, 1, 8, 9)), KILN_ERR_SHAPE);
    EXPECT_STR_CONTAINS(kiln_last_error(), "'image'");
    EXPECT_STR_CONTAINS(kiln_last_error(), "dimension 3");
    EXPECT_EQ_INT(kiln_context_set_input_shape(c, "image", dims4(-2, 1, 8, 8)), KILN_ERR_SHAPE);
    EXPECT_STR_CONTAINS(kiln_last_error(), "negative");

    /* Wrong rank, too low, too high, and nonsense. */
    kiln_dims rank3 = {3, {2, 8, 8}};
    EXPECT_EQ_INT(kiln_context_set_input_shape(c, "image", rank3), KILN_ERR_SHAPE);
    EXPECT_STR_CONTAINS(kiln_last_error(), "'image'");
    EXPECT_STR_CONTAINS(kiln_last_error(), "rank 4");
    EXPECT_STR_CONTAINS(kiln_last_error(), "rank 3");
    kiln_dims rank5 = {5, {2, 1, 8, 8, 1}};
    EXPECT_EQ_INT(kiln_context_set_input_shape(c, "image", rank5), KILN_ERR_SHAPE);
    EXPECT_STR_CONTAINS(kiln_last_error(), "rank 5");
    kiln_dims rank_bad = {KILN_MAX_DIMS + 1, {0}};
    EXPECT_EQ_INT(kiln_context_set_input_shape(c, "image", rank_bad), KILN_ERR_SHAPE);
    rank_bad.nb_dims = -1;
    EXPECT_EQ_INT(kiln_context_set_input_shape(c, "image", rank_bad), KILN_ERR_SHAPE);

    /* Names: unknown, and an output given as an input. */
    EXPECT_EQ_INT(kiln_context_set_input_shape(c, "imag", dims4(2, 1, 8, 8)),
                  KILN_ERR_INVALID_ARGUMENT);
    EXPECT_STR_CONTAINS(kiln_last_error(), "imag");
    EXPECT_EQ_INT(kiln_context_set_input_shape(c, "probabilities", dims4(2, 1, 8, 8)),
                  KILN_ERR_INVALID_ARGUMENT);
    EXPECT_STR_CONTAINS(kiln_last_error(), "output");
    EXPECT_EQ_INT(kiln_context_set_tensor_address(c, "nope", images), KILN_ERR_INVALID_ARGUMENT);
    EXPECT_STR_CONTAINS(kiln_last_error(), "nope");

    /* None of the failures set a shape: the input is still unset. */
    EXPECT_EQ_INT(kiln_context_execute(c), KILN_ERR_SHAPE);

    /* A good shape runs; then the failures above leave it, and the results, as they were. */
    EXPECT_EQ_INT(kiln_context_set_input_shape(c, "image", dims4(3, 1, 8, 8)), KILN_OK);
    EXPECT_EQ_INT(kiln_context_execute(c), KILN_OK);
    memcpy(good, out, sizeof(float) * 30);
    EXPECT_EQ_INT(kiln_context_set_input_shape(c, "image", dims4(MAX_BATCH + 1, 1, 8, 8)),
                  KILN_ERR_SHAPE);
    EXPECT_EQ_INT(kiln_context_set_input_shape(c, "image", rank3), KILN_ERR_SHAPE);
    kiln_dims shape;
    EXPECT_EQ_INT(kiln_context_get_tensor_shape(c, "image", &shape), KILN_OK);
    EXPECT(shape.nb_dims == 4 && shape.d[0] == 3 && shape.d[3] == 8);
    EXPECT_EQ_INT(kiln_context_get_tensor_shape(c, "probabilities", &shape), KILN_OK);
    EXPECT(shape.nb_dims == 2 && shape.d[0] == 3 && shape.d[1] == 10);
    memset(out, 0, sizeof out);
    EXPECT_EQ_INT(kiln_context_execute(c), KILN_OK);
    EXPECT(memcmp(out, good, sizeof(float) * 30) == 0);

    /* An input without a buffer: the error names it. */
    EXPECT_EQ_INT(kiln_context_set_tensor_address(c, "image", NULL), KILN_OK);
    kiln_status st = kiln_context_execute(c);
    EXPECT(st == KILN_ERR_INVALID_ARGUMENT);
    EXPECT_STR_CONTAINS(kiln_last_error(), "'image'");
    EXPECT_STR_CONTAINS(kiln_last_error(), "kiln_context_set_tensor_address");
    /* The same through enqueue. */
    EXPECT(kiln_context_enqueue(c, NULL) == KILN_ERR_INVALID_ARGUMENT);
    EXPECT_STR_CONTAINS(kiln_last_error(), "'image'");

    /* An unbound output is fine: its data stays in the context. */
    EXPECT_EQ_INT(kiln_context_set_tensor_address(c, "image", images), KILN_OK);
    EXPECT_EQ_INT(kiln_context_set_tensor_address(c, "probabilities", NULL), KILN_OK);
    EXPECT_EQ_INT(kiln_context_execute(c), KILN_OK);
    const void *data = NULL;
    EXPECT_EQ_INT(kiln_context_get_tensor_data(c, "probabilities", &data), KILN_OK);
    EXPECT(data && memcmp(data, good, sizeof(float) * 30) == 0);
    kiln_context_destroy(c);
}

int main(void) {
    char onnx_path[1024];
    source_path(onnx_path, sizeof onnx_path, "models/digits/digits.onnx");
    kiln_engine *built = build_digits(onnx_path, 1);
    EXPECT(built != NULL);
    if (!built) TEST_MAIN_END();
    test_shape_errors(built);
    test_concurrent_contexts(built, "built engine");

    /* The same from a plan: contexts share weights that live in the loaded plan. */
    kiln_host_memory *plan = NULL;
    kiln_runtime *runtime = NULL;
    kiln_engine *loaded = NULL;
    EXPECT_EQ_INT(kiln_engine_serialize(built, &plan), KILN_OK);
    EXPECT_EQ_INT(kiln_runtime_create(NULL, &runtime), KILN_OK);
    if (plan && runtime)
        EXPECT_EQ_INT(kiln_runtime_deserialize_engine(runtime, kiln_host_memory_data(plan),
                                                      kiln_host_memory_size(plan), &loaded),
                      KILN_OK);
    kiln_host_memory_destroy(plan);
    if (loaded) {
        test_shape_errors(loaded);
        test_concurrent_contexts(loaded, "loaded engine");
    }
    kiln_engine_destroy(loaded);
    kiln_engine_destroy(built);

    /* Contexts that run OpenMP teams of their own (one thread per core) from 4 threads. */
    kiln_engine *multi = build_digits(onnx_path, 0);
    EXPECT(multi != NULL);
    if (multi) test_concurrent_contexts(multi, "engine with OpenMP threads");
    kiln_engine_destroy(multi);
    kiln_runtime_destroy(runtime);
    TEST_MAIN_END();
}
