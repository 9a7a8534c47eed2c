/* NN family: sliding-window geometry (output sizes, auto_pad, ceil_mode). */
#include <string.h>

#include "ir/shape_nn.h"

typedef enum { PAD_NOTSET, PAD_VALID, PAD_SAME_UPPER, PAD_SAME_LOWER } pad_mode;

static kiln_status read_auto_pad(const kiln_node *node, pad_mode *mode) {
    const char *s = kiln_attr_string(node, "auto_pad", "NOTSET");
    if (!strcmp(s, "NOTSET") || !*s)
        *mode = PAD_NOTSET;
    else if (!strcmp(s, "VALID"))
        *mode = PAD_VALID;
    else if (!strcmp(s, "SAME_UPPER"))
        *mode = PAD_SAME_UPPER;
    else if (!strcmp(s, "SAME_LOWER"))
        *mode = PAD_SAME_LOWER;
    else
        return kiln_shape_error(node, "unknown auto_pad '%s'", s);
    return KILN_OK;
}

/* kernel, strides, dilations and explicit pads, validated. */
static kiln_status read_common(const kiln_node *node, int32_t n, const int64_t *kernel,
                               kiln_nn_window *w) {
    if (n < 1 || n > KILN_MAX_DIMS - 2)
        return kiln_shape_error(node, "%d spatial dims not supported", (int)n);
    w->n = n;
    int32_t cnt = 0;
    const int64_t *v;
    if (kernel) {
        for (int32_t i = 0; i < n; i++) w->kernel[i] = kernel[i];
    } else {
        v = kiln_attr_ints(node, "kernel_shape", &cnt);
        if (!v || cnt != n)
            return kiln_shape_error(node, "kernel_shape must have %d values", (int)n);
        for (int32_t i = 0; i < n; i++) w->kernel[i] = v[i];
    }
    v = kiln_attr_ints(node, "strides", &cnt);
    if (v && cnt != n) return kiln_shape_error(node, "strides must have %d values", (int)n);
    for (int32_t i = 0; i < n; i++) w->stride[i] = v ? v[i] : 1;
    v = kiln_attr_ints(node, "dilations", &cnt);
    if (v && cnt != n) return kiln_shape_error(node, "dilations must have %d values", (int)n);
    for (int32_t i = 0; i < n; i++) w->dilation[i] = v ? v[i] : 1;
    v = kiln_attr_ints(node, "pads", &cnt);
    if (v && cnt != 2 * n) return kiln_shape_error(node, "pads must have %d values", (int)(2 * n));
    for (int32_t i = 0; i < n; i++) {
        w->pad_begin[i] = v ? v[i] : 0;
        w->pad_end[i] = v ? v[n + i] : 0;
        if (w->kernel[i] < 1 || w->stride[i] < 1 || w->dilation[i] < 1)
            return kiln_shape_error(node, "kernel, strides and dilations must be positive");
        /* Bounded so the window arithmetic below cannot overflow (hostile models). */
        const int64_t big = (int64_t)1 << 31;
        if (w->kernel[i] > big || w->stride[i] > big || w->dilation[i] > big ||
            w->pad_begin[i] < -big || w->pad_begin[i] > big || w->pad_end[i] < -big ||
            w->pad_end[i] > big)
            return kiln_shape_error(node, "kernel, strides, dilations or pads of axis %d are out "
                                          "of range (more than 2^31)",
                                    (int)i);
    }
    return KILN_OK;
}

static int64_t ceildiv(int64_t a, int64_t b) {
    return -kiln_nn_floordiv(-a, b);
}

kiln_status kiln_nn_window_init(const kiln_node *node, int32_t n, const int64_t *in_dims,
                                const int64_t *kernel, int pool, kiln_nn_window *w) {
    memset(w, 0, sizeof *w);
    KILN_TRY(read_common(node, n, kernel, w));
    pad_mode mode;
    KILN_TRY(read_auto_pad(node, &mode));
    int ceil_mode = pool ? (int)kiln_attr_int(node, "ceil_mode", 0) : 0;
    for (int32_t i = 0; i < n; i++) {
        int64_t in = in_dims[i];
        int64_t dk = w->dilation[i] * (w->kernel[i] - 1) + 1; /* dilated kernel extent */
        int64_t s = w->stride[i];
        w->in[i] = in;
        if (mode == PAD_SAME_UPPER || mode == PAD_SAME_LOWER) {
            w->out[i] = in < 0 ? -1 : ceildiv(in, s);
            int64_t total = in < 0 ? 0 : (w->out[i] - 1) * s + dk - in;
            if (total < 0) total = 0;
            int64_t small = total / 2, big = total - total / 2;
            w->pad_begin[i] = mode == PAD_SAME_UPPER ? small : big;
            w->pad_end[i] = mode == PAD_SAME_UPPER ? big : small;
            continue;
        }
        if (mode == PAD_VALID) w->pad_begin[i] = w->pad_end[i] = 0;
        if (in < 0) {
            w->out[i] = -1;
            continue;
        }
        int64_t span = in + w->pad_begin[i] + w->pad_end[i] - dk;
        if (span < 0) return kiln_shape_error(node, "kernel larger than padded input");
        int64_t out = ceil_mode ? ceildiv(span, s) + 1 : span / s + 1;
        /* ceil_mode: the last window must start inside the input or its begin pad */
        if (ceil_mode && (out - 1) * s >= in + w->pad_begin[i]) out--;
        w->out[i] = out;
    }
    return KILN_OK;
}

kiln_status kiln_nn_convtranspose_window(const kiln_node *node, int32_t n, const int64_t *in_dims,
                                         const int64_t *kernel, kiln_nn_window *w) {
    memset(w, 0, sizeof *w);
    KILN_TRY(read_common(node, n, kernel, w));
    pad_mode mode;
    KILN_TRY(read_auto_pad(node, &mode));
    int32_t cnt = 0;
    const int64_t *opad = kiln_attr_ints(node, "output_padding", &cnt);
    if (opad && cnt != n && cnt != 2 * n)
        return kiln_shape_error(node, "output_padding must have %d values", (int)n);
    int32_t oscnt = 0;
    const int64_t *oshape = kiln_attr_ints(node, "output_shape", &oscnt);
    if (oshape && oscnt == n + 2)
        oshape += 2; /* some exporters give the full shape */
    else if (oshape && oscnt != n)
        return kiln_shape_error(node, "output_shape must have %d values", (int)n);
    int explicit_pads = kiln_node_attr(node, "pads") != NULL && mode == PAD_NOTSET;
    for (int32_t i = 0; i < n; i++) {
        int64_t in = in_dims[i];
        int64_t dk = w->dilation[i] * (w->kernel[i] - 1) + 1;
        int64_t s = w->stride[i];
        int64_t op = opad ? opad[i] : 0;
        w->in[i] = in;
        if (mode == PAD_VALID) w->pad_begin[i] = w->pad_end[i] = 0;
        if (in < 0) {
            w->out[i] = -1;
            continue;
        }
        int64_t full = s * (in - 1) + op + dk;
        if (oshape || mode == PAD_SAME_UPPER || mode == PAD_SAME_LOWER) {
            int64_t out = oshape ? oshape[i] : in * s;
            w->out[i] = out;
            if (explicit_pads) continue; /* given pads place the window; out crops/extends */
            int64_t total = full - out;
            int64_t half = kiln_nn_floordiv(total, 2);
            if (mode == PAD_SAME_UPPER) {
                w->pad_begin[i] = half;
                w->pad_end[i] = total - half;
            } else {
                w->pad_begin[i] = total - half;
                w->pad_end[i] = half;
            }
        } else {
            w->out[i] = full - w->pad_begin[i] - w->pad_end[i];
        }
        if (w->out[i] < 0) return kiln_shape_error(node, "negative output size");
    }
    return KILN_OK;
}
