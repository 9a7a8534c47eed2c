/*
 * RegexFullMatch with POSIX <regex.h>: the RE2 pattern is translated once per context
 * (kiln_regex_translate, anchored ^(...)$) and compiled; each string is matched whole.
 */
#define _GNU_SOURCE /* REG_STARTEND: strings with NUL bytes */
#include <regex.h>
#include <stdlib.h>
#include <string.h>

#include "backends/cpu/string_common.h"
#include "ir/shape_string.h"

typedef struct kiln_regex_state {
    regex_t re;
    size_t mb_cur_max; /* the locale it was compiled for */
} kiln_regex_state;

static void kiln_regex_state_free(void *p) {
    kiln_regex_state *s = p;
    regfree(&s->re);
    free(s);
}

static kiln_status kiln_regex_compile(const kiln_node *node, kiln_regex_state **out) {
    const kiln_attr *pattern = kiln_node_attr(node, "pattern");
    if (!pattern || pattern->type != KILN_ATTR_STRING)
        return kiln_shape_error(node, "the attribute 'pattern' is required");
    char *posix;
    int icase;
    KILN_TRY(kiln_regex_translate(node, pattern->s, pattern->s_len, &posix, &icase));
    kiln_regex_state *s = calloc(1, sizeof *s);
    if (!s) {
        free(posix);
        return kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
    }
    int rc = regcomp(&s->re, posix, REG_EXTENDED | REG_NOSUB | (icase ? REG_ICASE : 0));
    free(posix);
    if (rc != 0) {
        char msg[256];
        regerror(rc, &s->re, msg, sizeof msg);
        free(s);
        return kiln_node_error(KILN_ERR_UNSUPPORTED, node,
                               "the pattern '%s' does not compile as a POSIX regular expression "
                               "(%s)",
                               pattern->s, msg);
    }
    s->mb_cur_max = MB_CUR_MAX;
    *out = s;
    return KILN_OK;
}

kiln_status kiln_cpu_regex_full_match(kiln_cpu_ctx *ctx, const kiln_node *node,
                                      const kiln_tview *in, int32_t n_in, kiln_tview *out,
                                      int32_t n_out) {
    (void)n_in, (void)n_out;
    void **slot = kiln_cpu_node_state(ctx, kiln_regex_state_free);
    if (!slot) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
    kiln_regex_state *s = *slot;
    if (s && s->mb_cur_max != MB_CUR_MAX) { /* the locale changed: translate again */
        kiln_regex_state_free(s);
        *slot = s = NULL;
    }
    if (!s) {
        KILN_TRY(kiln_regex_compile(node, &s));
        *slot = s;
    }
    int64_t n = kiln_tview_count(&in[0]), longest = 0;
    for (int64_t i = 0; i < n; i++)
        if (kiln_str_at(&in[0], i)->size > longest) longest = kiln_str_at(&in[0], i)->size;
    /* NUL-terminated copies: regexec (and sanitizers' view of it) reads C strings */
    char *copy = kiln_cpu_scratch(ctx, (size_t)longest + 1);
    if (!copy) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
    uint8_t *y = out[0].data;
    for (int64_t i = 0; i < n; i++) {
        const kiln_string *str = kiln_str_at(&in[0], i);
        if (str->size) memcpy(copy, str->data, (size_t)str->size);
        copy[str->size] = '\0';
#ifdef REG_STARTEND /* strings holding NUL bytes are matched whole */
        regmatch_t range = {0, (regoff_t)str->size};
        y[i] = regexec(&s->re, copy, 1, &range, REG_STARTEND) == 0;
#else
        y[i] = !memchr(copy, 0, (size_t)str->size) && regexec(&s->re, copy, 0, NULL, 0) == 0;
#endif
    }
    return KILN_OK;
}
