/*
 * A streaming JSON writer for the command line's --json output.
 *
 * The writer places commas, colons, newlines and indentation itself, so callers only say
 * what comes next: begin/end containers, keys, values. Strings are escaped per RFC 8259;
 * bytes that are not valid UTF-8 (names and attributes may be binary) are written as
 * \u00XX, so the output is always valid JSON whatever the model holds.
 *
 * Misuse (a value where a key is due, an end with nothing open) and running out of memory
 * are recorded, not fatal: kiln_json_writer_finish reports them.
 */
#ifndef KILN_JSON_WRITER_H
#define KILN_JSON_WRITER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct kiln_json_writer {
    FILE *out;
    int indent;            /* spaces per level; 0 writes everything on one line */
    size_t depth;          /* open containers */
    size_t capacity;       /* of `frames` */
    unsigned char *frames; /* per open container: KILN_JSON_FRAME_* flags */
    int after_key;         /* a key was written; its value comes next */
    int failed;            /* misuse or out of memory */
} kiln_json_writer;

void kiln_json_writer_init(kiln_json_writer *w, FILE *out, int indent);
/* Ends the document with a newline and frees the writer's memory. Returns 0 when the
 * document was complete and well formed, -1 otherwise. */
int kiln_json_writer_finish(kiln_json_writer *w);

void kiln_json_begin_object(kiln_json_writer *w);
void kiln_json_begin_array(kiln_json_writer *w);
/* An array written on one line (with everything inside it), for short lists: shapes. */
void kiln_json_begin_array_inline(kiln_json_writer *w);
/* Closes the innermost open object or array. */
void kiln_json_end(kiln_json_writer *w);

void kiln_json_key(kiln_json_writer *w, const char *key);
void kiln_json_string(kiln_json_writer *w, const char *s); /* NULL writes null */
void kiln_json_string_n(kiln_json_writer *w, const char *data, size_t size);
void kiln_json_int(kiln_json_writer *w, int64_t v);
void kiln_json_uint(kiln_json_writer *w, uint64_t v);
/* Finite values as numbers that always read back as floats ("1.0", not "1"); JSON has no
 * NaN or infinities, so those are written as the strings "NaN", "Infinity", "-Infinity". */
void kiln_json_double(kiln_json_writer *w, double v);
/* As kiln_json_double, with the 9 significant digits that round-trip a float32. */
void kiln_json_float(kiln_json_writer *w, float v);
void kiln_json_bool(kiln_json_writer *w, int v);
void kiln_json_null(kiln_json_writer *w);

/* Length (1 to 4) of the well-formed UTF-8 sequence (RFC 3629: no overlongs, surrogates
 * or code points above U+10FFFF) starting at `s`, or 0 when the bytes there are not one. */
int kiln_json_utf8_char_len(const char *s, size_t size);

#endif
