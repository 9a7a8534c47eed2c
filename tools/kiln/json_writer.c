/* The streaming JSON writer (see json_writer.h). */
#include "json_writer.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum {
    KILN_JSON_FRAME_OBJECT = 1,   /* else an array */
    KILN_JSON_FRAME_NONEMPTY = 2, /* something was written in it: the next needs a comma */
    KILN_JSON_FRAME_INLINE = 4    /* written on one line */
};

void kiln_json_writer_init(kiln_json_writer *w, FILE *out, int indent) {
    memset(w, 0, sizeof *w);
    w->out = out;
    w->indent = indent;
}

int kiln_json_writer_finish(kiln_json_writer *w) {
    int ok = !w->failed && w->depth == 0 && !w->after_key;
    fputc('\n', w->out);
    free(w->frames);
    w->frames = NULL;
    w->capacity = 0;
    return ok ? 0 : -1;
}

static unsigned char *kiln_json_top(kiln_json_writer *w) {
    return w->depth ? &w->frames[w->depth - 1] : NULL;
}

static int kiln_json_inline(kiln_json_writer *w) {
    unsigned char *top = kiln_json_top(w);
    return w->indent == 0 || (top && (*top & KILN_JSON_FRAME_INLINE));
}

static void kiln_json_newline(kiln_json_writer *w, size_t depth) {
    fputc('\n', w->out);
    for (size_t i = 0; i < depth * (size_t)w->indent; i++) fputc(' ', w->out);
}

/* Separates an element from the previous one and puts it on its own line. */
static void kiln_json_next_element(kiln_json_writer *w) {
    unsigned char *top = kiln_json_top(w);
    if (!top) return;
    if (*top & KILN_JSON_FRAME_NONEMPTY) fputc(',', w->out);
    if (!kiln_json_inline(w)) {
        kiln_json_newline(w, w->depth);
    } else if ((*top & KILN_JSON_FRAME_NONEMPTY) && w->indent) {
        fputc(' ', w->out);
    }
    *top |= KILN_JSON_FRAME_NONEMPTY;
}

/* Called before every value: inside an object a key must have come first. */
static void kiln_json_before_value(kiln_json_writer *w) {
    if (w->after_key) {
        w->after_key = 0;
        return;
    }
    unsigned char *top = kiln_json_top(w);
    if (top && (*top & KILN_JSON_FRAME_OBJECT)) w->failed = 1;
    kiln_json_next_element(w);
}

static void kiln_json_begin(kiln_json_writer *w, unsigned char flags, char open) {
    int parent_inline = w->depth && kiln_json_inline(w);
    kiln_json_before_value(w);
    if (w->depth == w->capacity) {
        /* Nesting follows the model's subgraphs, so the stack grows instead of a limit. */
        size_t cap = w->capacity ? w->capacity * 2 : 32;
        unsigned char *frames = realloc(w->frames, cap);
        if (!frames) {
            w->failed = 1;
            return;
        }
        w->frames = frames;
        w->capacity = cap;
    }
    if (parent_inline) flags |= KILN_JSON_FRAME_INLINE;
    w->frames[w->depth++] = flags;
    fputc(open, w->out);
}

void kiln_json_begin_object(kiln_json_writer *w) {
    kiln_json_begin(w, KILN_JSON_FRAME_OBJECT, '{');
}

void kiln_json_begin_array(kiln_json_writer *w) {
    kiln_json_begin(w, 0, '[');
}

void kiln_json_begin_array_inline(kiln_json_writer *w) {
    kiln_json_begin(w, KILN_JSON_FRAME_INLINE, '[');
}

void kiln_json_end(kiln_json_writer *w) {
    unsigned char *top = kiln_json_top(w);
    if (!top || w->after_key) {
        w->failed = 1;
        return;
    }
    unsigned char flags = *top;
    int on_own_line = (flags & KILN_JSON_FRAME_NONEMPTY) && !kiln_json_inline(w);
    w->depth--;
    if (on_own_line) kiln_json_newline(w, w->depth);
    fputc((flags & KILN_JSON_FRAME_OBJECT) ? '}' : ']', w->out);
}

int kiln_json_utf8_char_len(const char *s, size_t size) {
    const unsigned char *p = (const unsigned char *)s;
    if (size == 0) return 0;
    unsigned char c = p[0];
    if (c < 0x80) return 1;
    int len;
    unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0) lo = 0xA0; /* no overlongs */
        if (c == 0xED) hi = 0x9F; /* no UTF-16 surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0) lo = 0x90; /* no overlongs */
        if (c == 0xF4) hi = 0x8F; /* nothing above U+10FFFF */
    } else {
        return 0;
    }
    if (size < (size_t)len || p[1] < lo || p[1] > hi) return 0;
    for (int i = 2; i < len; i++)
        if (p[i] < 0x80 || p[i] > 0xBF) return 0;
    return len;
}

/* The escape for one byte that cannot appear as itself; invalid UTF-8 bytes become the
 * code point of the same value, so binary strings survive as readable JSON. */
static void kiln_json_put_escape(FILE *out, unsigned char c) {
    switch (c) {
    case '"':
        fputs("\\\"", out);
        break;
    case '\\':
        fputs("\\\\", out);
        break;
    case '\b':
        fputs("\\b", out);
        break;
    case '\f':
        fputs("\\f", out);
        break;
    case '\n':
        fputs("\\n", out);
        break;
    case '\r':
        fputs("\\r", out);
        break;
    case '\t':
        fputs("\\t", out);
        break;
    default:
        fprintf(out, "\\u%04x", (unsigned)c);
        break;
    }
}

static void kiln_json_put_string(FILE *out, const char *s, size_t size) {
    size_t i = 0, run = 0; /* bytes [run, i) are written as they are */
    fputc('"', out);
    while (i < size) {
        unsigned char c = (unsigned char)s[i];
        /* DEL is legal JSON but escaped anyway: the output may land on a terminal */
        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x7F) {
            i++;
            continue;
        }
        if (c >= 0x80) {
            int len = kiln_json_utf8_char_len(s + i, size - i);
            if (len) {
                i += (size_t)len;
                continue;
            }
        }
        fwrite(s + run, 1, i - run, out);
        kiln_json_put_escape(out, c);
        run = ++i;
    }
    fwrite(s + run, 1, i - run, out);
    fputc('"', out);
}

void kiln_json_key(kiln_json_writer *w, const char *key) {
    unsigned char *top = kiln_json_top(w);
    if (!top || !(*top & KILN_JSON_FRAME_OBJECT) || w->after_key) {
        w->failed = 1;
        return;
    }
    kiln_json_next_element(w);
    kiln_json_put_string(w->out, key ? key : "", key ? strlen(key) : 0);
    fputs(w->indent ? ": " : ":", w->out);
    w->after_key = 1;
}

void kiln_json_string_n(kiln_json_writer *w, const char *data, size_t size) {
    kiln_json_before_value(w);
    kiln_json_put_string(w->out, data ? data : "", data ? size : 0);
}

void kiln_json_string(kiln_json_writer *w, const char *s) {
    if (!s) {
        kiln_json_null(w);
        return;
    }
    kiln_json_string_n(w, s, strlen(s));
}

void kiln_json_int(kiln_json_writer *w, int64_t v) {
    kiln_json_before_value(w);
    fprintf(w->out, "%" PRId64, v);
}

void kiln_json_uint(kiln_json_writer *w, uint64_t v) {
    kiln_json_before_value(w);
    fprintf(w->out, "%" PRIu64, v);
}

static void kiln_json_number(kiln_json_writer *w, double v, int digits) {
    if (isnan(v)) {
        kiln_json_string(w, "NaN");
        return;
    }
    if (isinf(v)) {
        kiln_json_string(w, v > 0 ? "Infinity" : "-Infinity");
        return;
    }
    char buf[40];
    snprintf(buf, sizeof buf, "%.*g", digits, v);
    /* "1" would read back as an integer; keep float attributes floats. */
    if (!strpbrk(buf, ".e")) strcat(buf, ".0");
    kiln_json_before_value(w);
    fputs(buf, w->out);
}

void kiln_json_double(kiln_json_writer *w, double v) {
    kiln_json_number(w, v, 17);
}

void kiln_json_float(kiln_json_writer *w, float v) {
    kiln_json_number(w, (double)v, 9);
}

void kiln_json_bool(kiln_json_writer *w, int v) {
    kiln_json_before_value(w);
    fputs(v ? "true" : "false", w->out);
}

void kiln_json_null(kiln_json_writer *w) {
    kiln_json_before_value(w);
    fputs("null", w->out);
}
