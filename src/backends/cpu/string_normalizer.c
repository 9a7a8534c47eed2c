/*
 * StringNormalizer: drops the elements equal to a stop word (compared case-insensitively
 * unless is_case_sensitive), then lower- or upper-cases the rest (case_change_action).
 * X is [C] or [1, C]; Y is [C'] or [1, C'], and [1] / [1, 1] holding "" when every element
 * was dropped. Case mapping is per Unicode character (UTF-8) through the C library's wide
 * character tables of the `locale` attribute's locale (default, and fallback, C.UTF-8);
 * where no UTF-8 locale exists, ASCII letters only.
 */
#define _GNU_SOURCE /* newlocale, towupper_l */
#include <locale.h>
#include <stdlib.h>
#include <string.h>
#include <wctype.h>

#include "backends/cpu/string_common.h"

enum { KILN_CASE_NONE, KILN_CASE_LOWER, KILN_CASE_UPPER };

/* One UTF-8 character at s (n bytes left): its code point, or -1 for a malformed byte. */
static int32_t kiln_utf8_decode(const unsigned char *s, size_t n, size_t *len) {
    *len = 1;
    if (s[0] < 0x80) return s[0];
    size_t k = s[0] >= 0xf0 && s[0] < 0xf8 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc0 ? 2 : 0;
    if (!k || k > n) return -1;
    int32_t cp = s[0] & (0x7f >> k);
    for (size_t i = 1; i < k; i++) {
        if ((s[i] & 0xc0) != 0x80) return -1;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    *len = k;
    return cp;
}

static size_t kiln_utf8_encode(int32_t cp, char *out) {
    if (cp < 0x80) return out[0] = (char)cp, 1;
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | cp >> 6), out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | cp >> 12), out[1] = (char)(0x80 | (cp >> 6 & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | cp >> 18), out[1] = (char)(0x80 | (cp >> 12 & 0x3f));
    out[2] = (char)(0x80 | (cp >> 6 & 0x3f)), out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* s case-mapped into dst (at most 4 * n bytes; NULL to measure); returns its length.
 * Malformed bytes are kept as they are. */
static size_t kiln_case_map(const char *s, size_t n, int action, locale_t loc, char *dst) {
    size_t out = 0;
    for (size_t i = 0; i < n;) {
        size_t len;
        int32_t cp = kiln_utf8_decode((const unsigned char *)s + i, n - i, &len);
        char buf[4];
        size_t w;
        if (cp < 0 || action == KILN_CASE_NONE) {
            memcpy(buf, s + i, len);
            w = len;
        } else {
            int32_t m = cp;
            if (loc)
                m = (int32_t)(action == KILN_CASE_UPPER ? towupper_l((wint_t)cp, loc)
                                                        : towlower_l((wint_t)cp, loc));
            else if (cp < 0x80)
                m = action == KILN_CASE_UPPER ? (cp >= 'a' && cp <= 'z' ? cp - 32 : cp)
                                              : (cp >= 'A' && cp <= 'Z' ? cp + 32 : cp);
            if (m < 0 || m > 0x10ffff) m = cp;
            w = kiln_utf8_encode(m, buf);
        }
        if (dst) memcpy(dst + out, buf, w);
        out += w;
        i += len;
    }
    return out;
}

static locale_t kiln_norm_locale(const char *name) {
    locale_t loc = name && *name ? newlocale(LC_CTYPE_MASK, name, (locale_t)0) : (locale_t)0;
    if (!loc) loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
    return loc;
}

/* Lower-cased copy (for case-insensitive comparison), malloc'ed. */
static char *kiln_fold(const char *s, size_t n, locale_t loc, size_t *len) {
    char *d = malloc(4 * n + 1);
    if (d) *len = kiln_case_map(s, n, KILN_CASE_LOWER, loc, d);
    return d;
}

kiln_status kiln_cpu_string_normalizer(kiln_cpu_ctx *ctx, const kiln_node *node,
                                       const kiln_tview *in, int32_t n_in, kiln_tview *out,
                                       int32_t n_out) {
    (void)n_in, (void)n_out;
    const kiln_tview *x = &in[0];
    if (x->rank != 1 && !(x->rank == 2 && x->dims[0] == 1))
        return kiln_shape_error(node, "the input must be [C] or [1, C]");
    const char *act = kiln_attr_string(node, "case_change_action", "NONE");
    int action = !strcmp(act, "LOWER")   ? KILN_CASE_LOWER
                 : !strcmp(act, "UPPER") ? KILN_CASE_UPPER
                                         : KILN_CASE_NONE;
    int sensitive = kiln_attr_int(node, "is_case_sensitive", 0) != 0;
    const kiln_attr *stop = kiln_node_attr(node, "stopwords");
    int32_t n_stop = stop && stop->type == KILN_ATTR_STRINGS ? stop->count : 0;
    locale_t loc = kiln_norm_locale(kiln_attr_string(node, "locale", ""));
    int64_t n = kiln_tview_count(x);
    uint8_t *keep = malloc((size_t)(n ? n : 1));
    char **folded_stop = calloc((size_t)(n_stop ? n_stop : 1), sizeof *folded_stop);
    size_t *folded_len = calloc((size_t)(n_stop ? n_stop : 1), sizeof *folded_len);
    kiln_status st = keep && folded_stop && folded_len
                         ? KILN_OK
                         : kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
    for (int32_t k = 0; st == KILN_OK && !sensitive && k < n_stop; k++)
        if (!(folded_stop[k] =
                  kiln_fold(stop->strings[k], strlen(stop->strings[k]), loc, &folded_len[k])))
            st = kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
    int64_t kept = 0;
    size_t total = 0;
    for (int64_t i = 0; st == KILN_OK && i < n; i++) {
        const kiln_string *s = kiln_str_at(x, i);
        size_t flen = (size_t)s->size;
        char *f = sensitive ? NULL : kiln_fold(s->data, (size_t)s->size, loc, &flen);
        if (!sensitive && !f) {
            st = kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
            break;
        }
        const char *cmp = sensitive ? s->data : f;
        keep[i] = 1;
        for (int32_t k = 0; k < n_stop && keep[i]; k++) {
            const char *w = sensitive ? stop->strings[k] : folded_stop[k];
            size_t wlen = sensitive ? strlen(stop->strings[k]) : folded_len[k];
            if (wlen == flen && (flen == 0 || !memcmp(w, cmp, flen))) keep[i] = 0;
        }
        free(f);
        if (keep[i]) {
            kept++;
            total += kiln_case_map(s->data, (size_t)s->size, action, loc, NULL);
        }
    }
    if (st == KILN_OK) {
        int64_t dims[2] = {1, kept ? kept : 1};
        char *bytes;
        st = x->rank == 2 ? kiln_cpu_alloc_strings(ctx, 0, 2, dims, total, &bytes)
                          : kiln_cpu_alloc_strings(ctx, 0, 1, dims + 1, total, &bytes);
        kiln_string *y = st == KILN_OK ? (kiln_string *)out[0].data : NULL;
        for (int64_t i = 0, j = 0; st == KILN_OK && i < n; i++) {
            if (!keep[i]) continue;
            const kiln_string *s = kiln_str_at(x, i);
            y[j].data = bytes;
            y[j].size = (int64_t)kiln_case_map(s->data, (size_t)s->size, action, loc, bytes);
            bytes += y[j++].size;
        }
    }
    for (int32_t k = 0; folded_stop && k < n_stop; k++) free(folded_stop[k]);
    free(folded_stop);
    free(folded_len);
    free(keep);
    if (loc) freelocale(loc);
    return st;
}
