/* mkstemp, pthreads */
#define _DEFAULT_SOURCE
/*
 * Huge-page buffers (core/huge_pages.c) and CPU engines whose weights are packed into one
 * (runtime/weight_arena.c): alignment and size of what the allocator hands out, the
 * mapping's huge-page advice, and engines that compute the same as a float64 reference
 * when built in memory, loaded from a plan buffer (whose copy of the weights is given
 * back) and loaded from a plan file (whose mapped pages are given back), and two
 * contexts running one packed engine at once on two threads. With
 * KILN_HUGE_PAGES=0 (the second ctest entry) nothing is packed and the engines still agree.
 */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/huge_pages.h"
#include "runtime/engine.h"
#include "test_layer_util.h"

#define IN  1024
#define HID 768
#define OUT 512

/* The VmFlags line of the mapping holding p in /proc/self/smaps; "" when not found. */
static void vm_flags_of(const void *p, char *flags, size_t cap) {
    flags[0] = 0;
    FILE *f = fopen("/proc/self/smaps", "r");
    if (!f) return;
    char line[512];
    int inside = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
            inside = (uintptr_t)p >= lo && (uintptr_t)p < hi;
        } else if (inside && strncmp(line, "VmFlags:", 8) == 0) {
            snprintf(flags, cap, "%s", line + 8);
            break;
        }
    }
    fclose(f);
}

/* Whether KILN_HUGE_PAGES leaves huge pages on (ctest runs this test both ways). */
static int huge_on(void) {
    const char *v = getenv("KILN_HUGE_PAGES");
    return !(v && (strcmp(v, "0") == 0 || strcmp(v, "off") == 0));
}

/* Whether transparent huge pages may be asked for here ("always" or "madvise"). */
static int thp_available(void) {
    FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    if (!f) return 0;
    char mode[128] = {0};
    int ok = fgets(mode, sizeof mode, f) != NULL && !strstr(mode, "[never]");
    fclose(f);
    return ok;
}

static void test_allocator(void) {
    size_t sizes[] = {1, 1000, ((size_t)2 << 20) - 1, (size_t)2 << 20, ((size_t)5 << 20) + 17};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        uint8_t *p = kiln_huge_alloc(sizes[i]);
        EXPECT(p != NULL);
        if (!p) continue;
        EXPECT_EQ_INT((uintptr_t)p % KILN_HUGE_ALIGNMENT, 0);
        memset(p, 0xa5, sizes[i]); /* every byte writable (ASan checks the small ones) */
        EXPECT_EQ_INT(p[sizes[i] - 1], 0xa5);
        EXPECT_EQ_INT(kiln_huge_wanted(sizes[i]), huge_on() && sizes[i] >= ((size_t)2 << 20));
        if (kiln_huge_wanted(sizes[i]) && thp_available()) {
            /* the mapping carries the advice ("hg"); whether the kernel found free huge
             * pages at that moment is its business */
            char flags[256];
            vm_flags_of(p, flags, sizeof flags);
            EXPECT_STR_CONTAINS(flags, " hg");
        }
        kiln_huge_free(p);
    }
    kiln_huge_free(NULL);
}

/* image [1, IN] -> fully connected -> ReLU -> fully connected -> logits [1, OUT]:
 * 4.5 MB of weights, more than one huge page. */
static kiln_host_memory *build_plan(const float *w1, const float *b1, const float *w2,
                                    const float *b2, kiln_engine **built) {
    kiln_builder *b = NULL;
    kiln_network *net = NULL;
    kiln_dims dims = {2, {1, IN}};
    kiln_tensor *x = kiln_test_begin(dims, &b, &net);
    kiln_layer *fc1 = NULL, *relu = NULL, *fc2 = NULL;
    OK(kiln_network_add_fully_connected(net, x, HID, kiln_test_weights(w1, (int64_t)HID * IN),
                                        kiln_test_weights(b1, HID), &fc1));
    OK(kiln_network_add_activation(net, kiln_test_out0(fc1), KILN_ACTIVATION_RELU, 0, 0, &relu));
    OK(kiln_network_add_fully_connected(net, kiln_test_out0(relu), OUT,
                                        kiln_test_weights(w2, (int64_t)OUT * HID),
                                        kiln_test_weights(b2, OUT), &fc2));
    OK(kiln_tensor_set_name(kiln_test_out0(fc2), "logits"));
    OK(kiln_network_mark_output(net, kiln_test_out0(fc2)));
    kiln_builder_config *cfg = NULL;
    OK(kiln_builder_create_config(b, &cfg));
    OK(kiln_builder_config_set_num_threads(cfg, 2));
    OK(kiln_builder_build_engine(b, net, cfg, built));
    kiln_builder_config_destroy(cfg);
    return kiln_test_finish_plan(b, net);
}

static void expect_close(const char *what, const float *y, const double *ref) {
    double worst = 0, scale = 0;
    for (int i = 0; i < OUT; i++) {
        worst = fmax(worst, fabs(y[i] - ref[i]));
        scale = fmax(scale, fabs(ref[i]));
    }
    /* float32 accumulation over 1024 + 768 terms of magnitude ~0.1 */
    if (!(scale > 0 && worst <= 1e-4 * scale)) {
        fprintf(stderr, "%s: max error %g against max |ref| %g\n", what, worst, scale);
        kiln_test_failures++;
    }
}

/* One thread's context of a shared engine: five runs. */
typedef struct thread_job {
    kiln_engine *e;
    const float *image;
    float y[OUT];
    int ok;
} thread_job;

static void *thread_main(void *p) {
    thread_job *j = p;
    float image[IN];
    memcpy(image, j->image, sizeof image);
    j->ok = 1;
    for (int i = 0; i < 5 && j->ok; i++) j->ok = kiln_test_run(j->e, image, j->y, OUT);
    return NULL;
}

static void test_engines(void) {
    uint32_t rng = 0x5eed7u;
    float *w1 = malloc(sizeof(float) * HID * IN), *b1 = malloc(sizeof(float) * HID);
    float *w2 = malloc(sizeof(float) * OUT * HID), *b2 = malloc(sizeof(float) * OUT);
    float image[IN], y[OUT];
    double hidden[HID], ref[OUT];
    kiln_test_fill(w1, (int64_t)HID * IN, 0.05f, &rng);
    kiln_test_fill(b1, HID, 0.1f, &rng);
    kiln_test_fill(w2, (int64_t)OUT * HID, 0.05f, &rng);
    kiln_test_fill(b2, OUT, 0.1f, &rng);
    kiln_test_fill(image, IN, 1.0f, &rng);
    for (int h = 0; h < HID; h++) {
        double s = b1[h];
        for (int i = 0; i < IN; i++) s += (double)w1[(size_t)h * IN + i] * image[i];
        hidden[h] = s > 0 ? s : 0;
    }
    for (int o = 0; o < OUT; o++) {
        double s = b2[o];
        for (int h = 0; h < HID; h++) s += (double)w2[(size_t)o * HID + h] * hidden[h];
        ref[o] = s;
    }

    kiln_engine *built = NULL;
    kiln_host_memory *plan = build_plan(w1, b1, w2, b2, &built);
    /* the user's weights are no longer needed: overwrite them, so a stale pointer shows */
    memset(w1, 0, sizeof(float) * HID * IN);
    memset(w2, 0, sizeof(float) * OUT * HID);
    EXPECT(built != NULL && plan != NULL);
    if (!built || !plan) goto done;
    EXPECT((built->weight_arena != NULL) == huge_on());
    EXPECT(kiln_test_run(built, image, y, OUT));
    expect_close("built engine", y, ref);

    kiln_runtime *rt = NULL;
    OK(kiln_runtime_create(NULL, &rt));
    kiln_engine *loaded = kiln_test_load(rt, plan);
    EXPECT(loaded != NULL && (loaded->weight_arena != NULL) == huge_on());
    kiln_host_memory_destroy(plan); /* the engine depends on its own copies only */
    plan = NULL;
    EXPECT(kiln_test_run(loaded, image, y, OUT));
    expect_close("engine loaded from a buffer", y, ref);
    /* the packed weights are read-only: contexts on two threads share them */
    thread_job jobs[2] = {{loaded, image, {0}, 0}, {loaded, image, {0}, 0}};
    pthread_t th[2];
    int started[2] = {0, 0};
    for (int i = 0; loaded && i < 2; i++)
        started[i] = pthread_create(&th[i], NULL, thread_main, &jobs[i]) == 0;
    for (int i = 0; i < 2; i++) {
        if (!started[i]) continue;
        pthread_join(th[i], NULL);
        EXPECT(jobs[i].ok);
        expect_close("two contexts at once", jobs[i].y, ref);
    }
    EXPECT(!loaded || (started[0] && started[1]));

    /* the plan of a packed engine holds the same weights */
    char path[] = "/tmp/kiln_test_weight_arena_XXXXXX";
    int fd = mkstemp(path);
    EXPECT(fd >= 0);
    if (fd >= 0) {
        close(fd);
        OK(kiln_engine_serialize_to_file(loaded, path));
        kiln_engine *mapped = NULL;
        OK(kiln_runtime_deserialize_engine_from_file(rt, path, &mapped));
        EXPECT(mapped != NULL && (mapped->weight_arena != NULL) == huge_on());
        EXPECT(kiln_test_run(mapped, image, y, OUT));
        expect_close("engine loaded from a file", y, ref);
        kiln_engine_destroy(mapped);
        unlink(path);
    }
    kiln_engine_destroy(loaded);
    kiln_runtime_destroy(rt);
done:
    kiln_engine_destroy(built);
    kiln_host_memory_destroy(plan);
    free(w1);
    free(b1);
    free(w2);
    free(b2);
}

int main(void) {
    test_allocator();
    test_engines();
    TEST_MAIN_END();
}
