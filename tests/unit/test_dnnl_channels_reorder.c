/*
 * kiln's own reorders between 16-channel blocks and channels-last (dnnl_channels_reorder.c)
 * against oneDNN's reorder of the same data: which descriptor pairs they take, and equal
 * bytes (padding lanes included) for channel counts below, at and between multiples of 16,
 * ranks 3 to 5, batches of 1 and 2, one and two threads, the AVX-512 and the scalar loops.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backends/cpu/dnnl_common.h"
#include "backends/cpu/nn_fast.h"
#include "test_layer_util.h"

#ifdef KILN_HAVE_DNNL

static uint32_t rng = 97531;

/* One shape both ways: oneDNN's reorder and kiln's must write the same bytes. */
static void check_shape(int32_t rank, const int64_t *dims, int threads) {
    dnnl_memory_desc_t blocked, nhwc;
    EXPECT_EQ_INT(kiln_dnnl_md(&blocked, rank, dims, 16), dnnl_success);
    EXPECT_EQ_INT(kiln_dnnl_md(&nhwc, rank, dims, KILN_NN_NHWC), dnnl_success);
    size_t bbytes = dnnl_memory_desc_get_size(&blocked), nbytes = dnnl_memory_desc_get_size(&nhwc);
    float *bsrc = malloc(bbytes), *nsrc = malloc(nbytes);
    float *want = malloc(bbytes > nbytes ? bbytes : nbytes),
          *got = malloc(bbytes > nbytes ? bbytes : nbytes);
    if (!bsrc || !nsrc || !want || !got) {
        EXPECT(0);
        goto done;
    }
    dnnl_stream_t stream = NULL;
    EXPECT_EQ_INT(dnnl_stream_create(&stream, kiln_dnnl_engine(), dnnl_stream_default_flags),
                  dnnl_success);
    /* blocked source: random everywhere, padding lanes included (a reorder reads only the
     * real channels) */
    kiln_test_fill(bsrc, (int64_t)(bbytes / sizeof(float)), 1.0f, &rng);
    kiln_test_fill(nsrc, (int64_t)(nbytes / sizeof(float)), 1.0f, &rng);

    EXPECT_EQ_INT(kiln_dnnl_channels_kind(&blocked, &nhwc), KILN_DNNL_BLOCKED_TO_NHWC);
    OK(kiln_dnnl_reorder(NULL, stream, &blocked, bsrc, &nhwc, want));
    memset(got, 0xff, nbytes);
    kiln_dnnl_channels_run(KILN_DNNL_BLOCKED_TO_NHWC, &blocked, bsrc, got, threads);
    EXPECT(memcmp(want, got, nbytes) == 0);

    EXPECT_EQ_INT(kiln_dnnl_channels_kind(&nhwc, &blocked), KILN_DNNL_NHWC_TO_BLOCKED);
    OK(kiln_dnnl_reorder(NULL, stream, &nhwc, nsrc, &blocked, want));
    memset(got, 0xff, bbytes); /* padding lanes must be written (zeros), not left */
    kiln_dnnl_channels_run(KILN_DNNL_NHWC_TO_BLOCKED, &nhwc, nsrc, got, threads);
    EXPECT(memcmp(want, got, bbytes) == 0);
    if (stream) dnnl_stream_destroy(stream);
done:
    free(bsrc);
    free(nsrc);
    free(want);
    free(got);
}

/* Pairs that are not such a reorder are left to oneDNN. */
static void check_kinds(void) {
    int64_t dims[4] = {1, 24, 5, 7}, other[4] = {1, 24, 5, 8};
    dnnl_memory_desc_t plain, b16, b8, nhwc, nhwc_other;
    EXPECT_EQ_INT(kiln_dnnl_md(&plain, 4, dims, 0), dnnl_success);
    EXPECT_EQ_INT(kiln_dnnl_md(&b16, 4, dims, 16), dnnl_success);
    EXPECT_EQ_INT(kiln_dnnl_md(&b8, 4, dims, 8), dnnl_success);
    EXPECT_EQ_INT(kiln_dnnl_md(&nhwc, 4, dims, KILN_NN_NHWC), dnnl_success);
    EXPECT_EQ_INT(kiln_dnnl_md(&nhwc_other, 4, other, KILN_NN_NHWC), dnnl_success);
    EXPECT_EQ_INT(kiln_dnnl_channels_kind(&plain, &b16), 0);
    EXPECT_EQ_INT(kiln_dnnl_channels_kind(&b16, &plain), 0);
    EXPECT_EQ_INT(kiln_dnnl_channels_kind(&b8, &nhwc), 0);
    EXPECT_EQ_INT(kiln_dnnl_channels_kind(&b16, &nhwc_other), 0);
    EXPECT_EQ_INT(kiln_dnnl_channels_kind(&nhwc, &nhwc), 0);
}

int main(void) {
    check_kinds();
    static const int64_t shapes[][6] = {
        /* rank, dims */
        {4, 1, 24, 5, 7}, {4, 2, 40, 3, 3},    {4, 1, 16, 4, 4},
        {4, 1, 3, 2, 2},  {4, 1, 24, 56, 56}, /* MobileNetV2's boundary: two threads take it */
        {3, 2, 20, 9},    {5, 1, 33, 2, 3, 4},
    };
    int isas[] = {KILN_ISA_AUTO, KILN_ISA_SCALAR};
    for (size_t k = 0; k < sizeof isas / sizeof isas[0]; k++) {
        kiln_nn_fast_force_isa(isas[k]);
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
            for (int threads = 1; threads <= 2; threads++)
                check_shape((int32_t)shapes[s][0], &shapes[s][1], threads);
    }
    kiln_nn_fast_force_isa(KILN_ISA_AUTO);
    TEST_MAIN_END();
}

#else

int main(void) {
    /* without oneDNN there are no oneDNN layouts to reorder between */
    return 0;
}

#endif
