/*
 * Reorders between 16-channel blocks (nChw16c, channels padded up to the block) and
 * channels-last (NHWC), float32: the layout boundaries of mixed plans (dnnl_layout.c),
 * which the convolution on either side of a boundary runs (dnnl_conv.c). oneDNN 2.6's
 * reorder (jit:uni) takes ~48 us for MobileNetV2's 1x24x56x56 boundary on 2 threads; these
 * loops take ~9 us (masked AVX-512 loads and stores, one per 16 channels of a pixel).
 */
#include "backends/cpu/dnnl_common.h"

#ifdef KILN_HAVE_DNNL

#include "backends/cpu/nn_fast.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define KILN_CHANNELS_AVX512 1
#endif

/* Fewer elements than this are moved by one thread (forking the team costs more). */
#define KILN_CHANNELS_PAR_MIN (1 << 15)

/* 1 when md is dims in the layout `block` says (kiln_dnnl_md). */
static int is_layout(const dnnl_memory_desc_t *md, int64_t block) {
    dnnl_memory_desc_t want;
    return kiln_dnnl_md(&want, md->ndims, md->dims, block) == dnnl_success &&
           dnnl_memory_desc_equal(md, &want);
}

int kiln_dnnl_channels_kind(const dnnl_memory_desc_t *from, const dnnl_memory_desc_t *to) {
    if (from->data_type != dnnl_f32 || to->data_type != dnnl_f32 || from->ndims != to->ndims ||
        from->ndims < 3 || from->ndims > 5)
        return 0;
    for (int d = 0; d < from->ndims; d++)
        if (from->dims[d] != to->dims[d] || from->dims[d] <= 0) return 0;
    if (is_layout(from, 16) && is_layout(to, KILN_NN_NHWC)) return KILN_DNNL_BLOCKED_TO_NHWC;
    if (is_layout(from, KILN_NN_NHWC) && is_layout(to, 16)) return KILN_DNNL_NHWC_TO_BLOCKED;
    return 0;
}

/* One pixel: its ceil(c / 16) blocks (each at stride `bstride` floats in blocked) to or from
 * its c channels-last values. Padding lanes of a blocked destination get zeros. */
#ifdef KILN_CHANNELS_AVX512
__attribute__((target("avx512f"))) static void pixel_avx512(int kind, const float *src, float *dst,
                                                            int64_t c, int64_t bstride) {
    for (int64_t b = 0; b * 16 < c; b++) {
        int64_t len = c - b * 16 < 16 ? c - b * 16 : 16;
        __mmask16 m = (__mmask16)((1u << len) - 1u);
        if (kind == KILN_DNNL_BLOCKED_TO_NHWC)
            _mm512_mask_storeu_ps(dst + b * 16, m, _mm512_maskz_loadu_ps(m, src + b * bstride));
        else
            _mm512_storeu_ps(dst + b * bstride, _mm512_maskz_loadu_ps(m, src + b * 16));
    }
}
#endif

static void pixel_scalar(int kind, const float *src, float *dst, int64_t c, int64_t bstride) {
    for (int64_t b = 0; b * 16 < c; b++) {
        int64_t len = c - b * 16 < 16 ? c - b * 16 : 16;
        if (kind == KILN_DNNL_BLOCKED_TO_NHWC) {
            for (int64_t i = 0; i < len; i++) dst[b * 16 + i] = src[b * bstride + i];
        } else {
            for (int64_t i = 0; i < 16; i++)
                dst[b * bstride + i] = i < len ? src[b * 16 + i] : 0.0f;
        }
    }
}

void kiln_dnnl_channels_run(int kind, const dnnl_memory_desc_t *from, const void *src, void *dst,
                            int threads) {
    int64_t n = from->dims[0], c = from->dims[1], sp = 1;
    for (int d = 2; d < from->ndims; d++) sp *= from->dims[d];
    int64_t cb = (c + 15) / 16, pixels = n * sp;
    /* per pixel (image i, position p): its blocked base and its channels-last row */
    const float *s = src;
    float *t = dst;
    int avx512 = 0;
#ifdef KILN_CHANNELS_AVX512
    avx512 = kiln_nn_fast_isa() == KILN_ISA_AVX512;
#endif
    int par = threads > 1 && pixels * c >= KILN_CHANNELS_PAR_MIN;
    (void)par;
#ifdef KILN_HAVE_OPENMP
#pragma omp parallel for num_threads(threads) schedule(static) if (par)
#endif
    for (int64_t q = 0; q < pixels; q++) {
        int64_t i = q / sp, p = q % sp;
        int64_t blocked = (i * cb * sp + p) * 16, last = q * c;
        const float *from_px = s + (kind == KILN_DNNL_BLOCKED_TO_NHWC ? blocked : last);
        float *to_px = t + (kind == KILN_DNNL_BLOCKED_TO_NHWC ? last : blocked);
#ifdef KILN_CHANNELS_AVX512
        if (avx512) {
            pixel_avx512(kind, from_px, to_px, c, sp * 16);
            continue;
        }
#endif
        pixel_scalar(kind, from_px, to_px, c, sp * 16);
    }
}

#endif
