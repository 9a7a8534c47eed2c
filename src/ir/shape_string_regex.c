/*
 * RE2 -> POSIX ERE for RegexFullMatch (see shape_string.h). RE2 matches UTF-8 text by code
 * point; POSIX regex in the C locale matches bytes. Full-match semantics make the
 * translation simple in places: greedy and lazy quantifiers accept the same whole strings,
 * and alternation order (leftmost-first vs leftmost-longest) does not change whether a
 * full match exists.
 */
#include <stdlib.h>
#include <string.h>

#include "ir/shape_string.h"

typedef struct kiln_rx {
    char *buf;
    size_t len, cap;
    int failed;
    int utf8_bytes; /* single-byte locale: rewrite for UTF-8 (see the header) */
} kiln_rx;

static void kiln_rx_put(kiln_rx *b, const char *s, size_t n) {
    if (b->failed) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->buf, cap);
        if (!p) {
            b->failed = 1;
            return;
        }
        b->buf = p;
        b->cap = cap;
    }
    memcpy(b->buf + b->len, s, n);
    b->len += n;
    b->buf[b->len] = '\0';
}

static void kiln_rx_puts(kiln_rx *b, const char *s) {
    kiln_rx_put(b, s, strlen(s));
}

/* A literal byte outside a bracket expression. */
static void kiln_rx_literal(kiln_rx *b, unsigned char c) {
    char s[3] = {'\\', (char)c, 0};
    if (strchr(".[]()|*+?{}^$\\", c) && c)
        kiln_rx_put(b, s, 2);
    else
        kiln_rx_put(b, s + 1, 1);
}

/* Bytes of the UTF-8 character starting with lead byte c (1 for ASCII or a stray byte). */
static size_t kiln_rx_utf8_len(unsigned char c) {
    if (c >= 0xf0 && c < 0xf8) return 4;
    if (c >= 0xe0) return c < 0xf0 ? 3 : 1;
    if (c >= 0xc0) return 2;
    return 1;
}

/* Any one character but those of a (negated) ASCII bracket body, whole UTF-8 characters
 * included, as RE2 matches code points. */
static void kiln_rx_negated(kiln_rx *b, const char *body) {
    if (!b->utf8_bytes) {
        kiln_rx_puts(b, "[^");
        kiln_rx_puts(b, body);
        kiln_rx_puts(b, "]");
        return;
    }
    kiln_rx_puts(b, "([^");
    kiln_rx_puts(b, body);
    kiln_rx_puts(b, "\x80-\xff]|[\xc0-\xff][\x80-\xbf]*)");
}

static int kiln_rx_hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* The byte an RE2 escape of a single character stands for (\n, \t, \x41, \., ...), or -1
 * for the class and assertion escapes handled elsewhere. *used: pattern bytes read after
 * the backslash. */
static int kiln_rx_escape_byte(const char *p, size_t left, size_t *used) {
    *used = 1;
    switch (p[0]) {
    case 'n':
        return '\n';
    case 't':
        return '\t';
    case 'r':
        return '\r';
    case 'f':
        return '\f';
    case 'v':
        return '\v';
    case 'a':
        return '\a';
    case 'x':
        if (left >= 3 && kiln_rx_hex(p[1]) >= 0 && kiln_rx_hex(p[2]) >= 0) {
            *used = 3;
            return kiln_rx_hex(p[1]) * 16 + kiln_rx_hex(p[2]);
        }
        return -2;
    default:
        if ((unsigned char)p[0] < 0x80 &&
            !((p[0] >= 'a' && p[0] <= 'z') || (p[0] >= 'A' && p[0] <= 'Z') ||
              (p[0] >= '0' && p[0] <= '9')))
            return (unsigned char)p[0]; /* escaped punctuation */
        return -1;
    }
}

/* The POSIX class of \d \w \s (lower case) or their negations (upper case), or NULL. */
static const char *kiln_rx_perl_class(char c, int *negated) {
    *negated = c >= 'A' && c <= 'Z';
    switch (c) {
    case 'd':
    case 'D':
        return "[:digit:]";
    case 'w':
    case 'W':
        return "[:alnum:]_";
    case 's':
    case 'S':
        return "[:space:]";
    default:
        return NULL;
    }
}

/* A bracket expression [...] starting at p[i] == '['; i ends after its ']'. */
static kiln_status kiln_rx_class(const kiln_node *node, kiln_rx *b, const char *p, size_t n,
                                 size_t *i) {
    size_t k = *i + 1;
    int negated = 0, has_dash = 0, has_close = 0, has_caret = 0;
    kiln_rx body = {0};
    if (k < n && p[k] == '^') negated = 1, k++;
    int first = 1;
    while (k < n && (p[k] != ']' || first)) {
        first = 0;
        int lo;
        if (p[k] == '[' && k + 1 < n && p[k + 1] == ':') { /* [:alpha:] */
            const char *end = strstr(p + k, ":]");
            if (!end || (size_t)(end - p) >= n) break;
            kiln_rx_put(&body, p + k, (size_t)(end - (p + k)) + 2);
            k = (size_t)(end - p) + 2;
            continue;
        }
        if (p[k] == '\\' && k + 1 < n) {
            int neg;
            const char *cls = kiln_rx_perl_class(p[k + 1], &neg);
            if (cls) {
                if (neg)
                    return kiln_node_error(KILN_ERR_UNSUPPORTED, node,
                                           "the pattern's class uses \\%c, which POSIX regular "
                                           "expressions cannot express inside brackets",
                                           p[k + 1]);
                kiln_rx_puts(&body, cls);
                k += 2;
                continue;
            }
            size_t used;
            lo = kiln_rx_escape_byte(p + k + 1, n - k - 1, &used);
            if (lo < 0) {
                free(body.buf);
                return kiln_node_error(KILN_ERR_UNSUPPORTED, node,
                                       "the pattern uses \\%c in a class, which kiln cannot "
                                       "translate to POSIX",
                                       p[k + 1]);
            }
            k += 1 + used;
        } else {
            lo = (unsigned char)p[k++];
        }
        int hi = lo;
        if (k + 1 < n && p[k] == '-' && p[k + 1] != ']') { /* a range */
            k++;
            if (p[k] == '\\' && k + 1 < n) {
                size_t used;
                hi = kiln_rx_escape_byte(p + k + 1, n - k - 1, &used);
                k += 1 + used;
            } else {
                hi = (unsigned char)p[k++];
            }
            if (hi < lo) {
                free(body.buf);
                return kiln_shape_error(node, "the pattern has a bad range in a class");
            }
        }
        if (lo >= 0x80 || hi >= 0x80) {
            free(body.buf);
            return kiln_node_error(KILN_ERR_UNSUPPORTED, node,
                                   "the pattern's class holds non-ASCII characters, which kiln "
                                   "cannot translate to POSIX");
        }
        if (lo == hi) {
            if (lo == '-')
                has_dash = 1;
            else if (lo == ']')
                has_close = 1;
            else if (lo == '^')
                has_caret = 1;
            else {
                char c = (char)lo;
                kiln_rx_put(&body, &c, 1);
            }
        } else {
            char r[3] = {(char)lo, '-', (char)hi};
            kiln_rx_put(&body, r, 3);
        }
    }
    if (k >= n) {
        free(body.buf);
        return kiln_shape_error(node, "the pattern has an unterminated class");
    }
    *i = k + 1;
    /* POSIX places: ']' first, '^' not first, '-' last. */
    kiln_rx full = {0};
    if (has_close) kiln_rx_puts(&full, "]");
    if (body.buf) kiln_rx_puts(&full, body.buf);
    if (has_caret) kiln_rx_puts(&full, "^");
    if (has_dash) kiln_rx_puts(&full, "-");
    free(body.buf);
    if (full.failed || (!full.buf && !negated)) {
        free(full.buf);
        return full.failed ? kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory")
                           : kiln_shape_error(node, "the pattern has an empty class");
    }
    if (negated) {
        kiln_rx_negated(b, full.buf ? full.buf : "");
    } else {
        kiln_rx_puts(b, "[");
        kiln_rx_puts(b, full.buf);
        kiln_rx_puts(b, "]");
    }
    free(full.buf);
    return KILN_OK;
}

/* {n}, {n,}, {n,m} at p[i]: its length, or 0 when `{` is a literal (as in RE2). */
static size_t kiln_rx_repeat_len(const char *p, size_t n, size_t i) {
    size_t k = i + 1, digits = 0;
    while (k < n && p[k] >= '0' && p[k] <= '9') k++, digits++;
    if (!digits) return 0;
    if (k < n && p[k] == ',') {
        k++;
        while (k < n && p[k] >= '0' && p[k] <= '9') k++;
    }
    return k < n && p[k] == '}' ? k - i + 1 : 0;
}

static kiln_status kiln_rx_body(const kiln_node *node, kiln_rx *b, const char *p, size_t n,
                                int *icase) {
    size_t i = 0;
    if (n >= 4 && !memcmp(p, "(?i)", 4)) {
        *icase = 1;
        i = 4;
    }
    while (i < n) {
        unsigned char c = (unsigned char)p[i];
        if (c == '\\') {
            if (i + 1 >= n) return kiln_shape_error(node, "the pattern ends with a backslash");
            char e = p[i + 1];
            int neg;
            const char *cls = kiln_rx_perl_class(e, &neg);
            if (cls) {
                if (neg) {
                    kiln_rx_negated(b, cls);
                } else {
                    kiln_rx_puts(b, "[");
                    kiln_rx_puts(b, cls);
                    kiln_rx_puts(b, "]");
                }
                i += 2;
                continue;
            }
            if (e == 'b' || e == 'B') { /* word boundaries: GNU extensions of POSIX regex */
                kiln_rx_put(b, p + i, 2);
                i += 2;
                continue;
            }
            if (e == 'A' || e == 'z') {
                kiln_rx_puts(b, e == 'A' ? "^" : "$");
                i += 2;
                continue;
            }
            size_t used;
            int byte = kiln_rx_escape_byte(p + i + 1, n - i - 1, &used);
            if (byte < 0)
                return kiln_node_error(KILN_ERR_UNSUPPORTED, node,
                                       "the pattern uses the RE2 escape \\%c, which kiln cannot "
                                       "translate to POSIX regular expressions",
                                       e);
            kiln_rx_literal(b, (unsigned char)byte);
            i += 1 + used;
            continue;
        }
        if (c == '[') {
            KILN_TRY(kiln_rx_class(node, b, p, n, &i));
            continue;
        }
        if (c == '(' && i + 1 < n && p[i + 1] == '?') {
            if (i + 2 < n && p[i + 2] == ':') {
                i += 3;
            } else if (i + 3 < n && p[i + 2] == 'P' && p[i + 3] == '<') {
                const char *end = memchr(p + i, '>', n - i);
                if (!end)
                    return kiln_shape_error(node, "the pattern has an unterminated group name");
                i = (size_t)(end - p) + 1;
            } else if (i + 2 < n && p[i + 2] == '<' && i + 3 < n && p[i + 3] != '=' &&
                       p[i + 3] != '!') {
                const char *end = memchr(p + i, '>', n - i);
                if (!end)
                    return kiln_shape_error(node, "the pattern has an unterminated group name");
                i = (size_t)(end - p) + 1;
            } else {
                return kiln_node_error(KILN_ERR_UNSUPPORTED, node,
                                       "the pattern uses a (?...) group or flag that POSIX regular "
                                       "expressions cannot express (only (?:...), named groups "
                                       "and a leading (?i) are translated)");
            }
            kiln_rx_puts(b, "(");
            continue;
        }
        if (c == '{') {
            size_t len = kiln_rx_repeat_len(p, n, i);
            if (!len) {
                kiln_rx_puts(b, "\\{");
                i++;
                continue;
            }
            kiln_rx_put(b, p + i, len);
            i += len;
            if (i < n && p[i] == '?') i++; /* lazy: the same full matches */
            continue;
        }
        if (c == '*' || c == '+' || c == '?') {
            kiln_rx_put(b, p + i, 1);
            i++;
            if (i < n && p[i] == '?') i++; /* lazy */
            continue;
        }
        if (c == '.') {
            kiln_rx_negated(b, "\n");
            i++;
            continue;
        }
        if (c >= 0x80 && b->utf8_bytes) { /* one code point, grouped for quantifiers */
            size_t len = kiln_rx_utf8_len(c);
            if (len > n - i) len = n - i;
            kiln_rx_puts(b, "(");
            kiln_rx_put(b, p + i, len);
            kiln_rx_puts(b, ")");
            i += len;
            continue;
        }
        kiln_rx_put(b, p + i, 1); /* literals and ( ) | ^ $ */
        i++;
    }
    return KILN_OK;
}

kiln_status kiln_regex_translate(const kiln_node *node, const char *pattern, size_t len, char **out,
                                 int *icase) {
    kiln_rx b = {0};
    b.utf8_bytes = MB_CUR_MAX == 1;
    *icase = 0;
    kiln_rx_puts(&b, "^(");
    kiln_status st = kiln_rx_body(node, &b, pattern, len, icase);
    kiln_rx_puts(&b, ")$");
    if (st == KILN_OK && b.failed) st = kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
    if (st != KILN_OK) {
        free(b.buf);
        return st;
    }
    *out = b.buf;
    return KILN_OK;
}
