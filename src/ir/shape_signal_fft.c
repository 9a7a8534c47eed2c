/* Signal family shape functions: DFT and STFT (geometry shared with the kernels). */
#include <string.h>

#include "ir/shape_signal.h"

kiln_status kiln_signal_dft_params(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                   kiln_dft_params *p) {
    const kiln_tview *x = &in[0];
    memset(p, 0, sizeof *p);
    p->axis = -1;
    p->n_in = p->length = p->n_out = -1;
    if (!kiln_signal_is_float(x->dtype))
        return kiln_shape_error(node, "input must be a floating type, got %s",
                                kiln_dtype_name(x->dtype));
    p->inverse = kiln_attr_int(node, "inverse", 0) != 0;
    p->onesided = kiln_attr_int(node, "onesided", 0) != 0;
    /* The inverse of a one-sided transform (irfft) gives the real signal back. */
    p->out_complex = !(p->inverse && p->onesided);
    /* DFT-17 takes axis as an attribute (default 1); DFT-20 as input 2 (default -2). */
    int64_t axis = 1;
    int axis_known = 1;
    if (node->opset >= 20) {
        axis = -2;
        if (n_in > 2 && kiln_tview_present(&in[2]))
            KILN_TRY(kiln_signal_scalar_int(node, in, n_in, 2, "axis", &axis, &axis_known));
    } else {
        axis = kiln_attr_int(node, "axis", 1);
    }
    if (x->rank < 0) return KILN_OK;
    if (x->rank < 2)
        return kiln_shape_error(node,
                                "input must be [..., 1] (real) or [..., 2] (complex), "
                                "got rank %d",
                                (int)x->rank);
    int64_t last = x->dims[x->rank - 1];
    if (last >= 0 && last != 1 && last != 2)
        return kiln_shape_error(node,
                                "the last dim of the input must be 1 (real) or 2 "
                                "(complex), got %lld",
                                (long long)last);
    p->in_complex = last == 2;
    if (axis_known) {
        /* Negative axes count from the back of the whole shape, the [1|2] dim included. */
        int64_t a = axis < 0 ? axis + x->rank : axis;
        if (a < 0 || a > x->rank - 2)
            return kiln_shape_error(node, "axis %lld out of range for an input of rank %d",
                                    (long long)axis, (int)x->rank);
        p->axis = (int32_t)a;
        p->n_in = x->dims[a];
    }
    int has_length = n_in > 1 && kiln_tview_present(&in[1]);
    if (has_length) {
        int known;
        int64_t len = -1;
        KILN_TRY(kiln_signal_scalar_int(node, in, n_in, 1, "dft_length", &len, &known));
        if (known && len < 1)
            return kiln_shape_error(node, "dft_length must be positive, got %lld", (long long)len);
        p->length = known ? len : -1;
    } else if (p->n_in >= 0) {
        p->length = p->inverse && p->onesided ? 2 * (p->n_in - 1) : p->n_in;
        if (p->length < 1)
            return kiln_shape_error(node, "a transform of length %lld along axis %d",
                                    (long long)p->length, (int)p->axis);
    }
    if (p->length >= 0) p->n_out = !p->inverse && p->onesided ? p->length / 2 + 1 : p->length;
    return KILN_OK;
}

kiln_status kiln_shape_DFT(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                           kiln_tview *out, int32_t n_out) {
    kiln_dft_params p;
    KILN_TRY(kiln_signal_dft_params(node, in, n_in, &p));
    const kiln_tview *x = &in[0];
    out[0].dtype = x->dtype;
    out[0].rank = x->rank;
    if (x->rank < 0) return KILN_OK;
    for (int32_t d = 0; d < x->rank; d++) out[0].dims[d] = p.axis < 0 ? -1 : x->dims[d];
    if (p.axis >= 0) out[0].dims[p.axis] = p.n_out;
    out[0].dims[x->rank - 1] = p.out_complex ? 2 : 1;
    return KILN_OK;
}

kiln_status kiln_signal_stft_params(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                    kiln_stft_params *p) {
    const kiln_tview *x = &in[0];
    memset(p, 0, sizeof *p);
    p->batch = p->signal_length = p->frame_step = p->frame_length = p->frames = p->bins = -1;
    if (!kiln_signal_is_float(x->dtype))
        return kiln_shape_error(node, "signal must be a floating type, got %s",
                                kiln_dtype_name(x->dtype));
    p->onesided = kiln_attr_int(node, "onesided", 1) != 0;
    if (x->rank >= 0) {
        if (x->rank != 3)
            return kiln_shape_error(node, "signal must be [batch, length, 1|2], got rank %d",
                                    (int)x->rank);
        if (x->dims[2] >= 0 && x->dims[2] != 1 && x->dims[2] != 2)
            return kiln_shape_error(node,
                                    "the last dim of the signal must be 1 (real) or 2 "
                                    "(complex), got %lld",
                                    (long long)x->dims[2]);
        p->batch = x->dims[0];
        p->signal_length = x->dims[1];
        p->in_complex = x->dims[2] == 2;
    }
    int known;
    int64_t v = -1;
    if (!kiln_tview_present(&in[1])) return kiln_shape_error(node, "frame_step is required");
    KILN_TRY(kiln_signal_scalar_int(node, in, n_in, 1, "frame_step", &v, &known));
    if (known && v < 1)
        return kiln_shape_error(node, "frame_step must be positive, got %lld", (long long)v);
    if (known) p->frame_step = v;
    int64_t window_length = -1;
    if (n_in > 2 && kiln_tview_present(&in[2])) {
        const kiln_tview *w = &in[2];
        p->has_window = 1;
        if (w->dtype != x->dtype)
            return kiln_shape_error(node, "window has dtype %s, the signal %s",
                                    kiln_dtype_name(w->dtype), kiln_dtype_name(x->dtype));
        if (w->rank >= 0 && w->rank != 1)
            return kiln_shape_error(node, "window must be 1-D, got rank %d", (int)w->rank);
        if (w->rank == 1) window_length = w->dims[0];
    }
    if (n_in > 3 && kiln_tview_present(&in[3])) {
        KILN_TRY(kiln_signal_scalar_int(node, in, n_in, 3, "frame_length", &v, &known));
        if (known && v < 1)
            return kiln_shape_error(node, "frame_length must be positive, got %lld", (long long)v);
        if (known) p->frame_length = v;
        if (known && window_length >= 0 && v != window_length)
            return kiln_shape_error(node, "frame_length %lld differs from the window's %lld",
                                    (long long)v, (long long)window_length);
    } else {
        p->frame_length = p->has_window ? window_length : p->signal_length;
    }
    if (p->frame_length == 0) return kiln_shape_error(node, "frames of length 0");
    if (p->frame_length > 0) p->bins = p->onesided ? p->frame_length / 2 + 1 : p->frame_length;
    if (p->frame_length > 0 && p->signal_length >= 0 && p->frame_step > 0) {
        if (p->signal_length < p->frame_length)
            return kiln_shape_error(node, "signal of length %lld is shorter than a frame (%lld)",
                                    (long long)p->signal_length, (long long)p->frame_length);
        p->frames = (p->signal_length - p->frame_length) / p->frame_step + 1;
    }
    return KILN_OK;
}

kiln_status kiln_shape_STFT(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                            kiln_tview *out, int32_t n_out) {
    kiln_stft_params p;
    KILN_TRY(kiln_signal_stft_params(node, in, n_in, &p));
    out[0].dtype = in[0].dtype;
    out[0].rank = 4;
    out[0].dims[0] = p.batch;
    out[0].dims[1] = p.frames;
    out[0].dims[2] = p.bins;
    out[0].dims[3] = 2;
    return KILN_OK;
}
