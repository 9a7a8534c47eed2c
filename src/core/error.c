#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define KILN_ERROR_CAPACITY 2048

static _Thread_local char kiln_error_message[KILN_ERROR_CAPACITY];

kiln_status kiln_error(kiln_status status, const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    vsnprintf(kiln_error_message, sizeof kiln_error_message, fmt, args);
    va_end(args);
    return status;
}

void kiln_error_prefix(const char *fmt, ...) {
    char prefix[KILN_ERROR_CAPACITY];
    char old[KILN_ERROR_CAPACITY];
    va_list args;
    va_start(args, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, args);
    va_end(args);
    memcpy(old, kiln_error_message, sizeof old);
    /* When the whole does not fit, the middle goes: the outermost context (this prefix)
     * and the end of the old message (the innermost context and the cause) stay. */
    size_t n = strlen(prefix), m = strlen(old);
    if (n > KILN_ERROR_CAPACITY / 4) n = KILN_ERROR_CAPACITY / 4;
    size_t rest = KILN_ERROR_CAPACITY - n - 3; /* ": " and the NUL */
    memcpy(kiln_error_message, prefix, n);
    memcpy(kiln_error_message + n, ": ", 2);
    char *dst = kiln_error_message + n + 2;
    if (m <= rest) {
        memcpy(dst, old, m);
        dst[m] = '\0';
        return;
    }
    memcpy(dst, "...", 3);
    memcpy(dst + 3, old + m - (rest - 3), rest - 3);
    dst[rest] = '\0';
}

kiln_status kiln_not_implemented(const char *call) {
    return kiln_error(KILN_ERR_NOT_IMPLEMENTED, "%s is not implemented in kiln %s", call,
                      kiln_version_string());
}

const char *kiln_last_error(void) {
    return kiln_error_message;
}

void kiln_clear_error(void) {
    kiln_error_message[0] = '\0';
}

const char *kiln_status_string(kiln_status status) {
    switch (status) {
    case KILN_OK:
        return "KILN_OK";
    case KILN_ERR_INVALID_ARGUMENT:
        return "KILN_ERR_INVALID_ARGUMENT";
    case KILN_ERR_OUT_OF_MEMORY:
        return "KILN_ERR_OUT_OF_MEMORY";
    case KILN_ERR_IO:
        return "KILN_ERR_IO";
    case KILN_ERR_PARSE:
        return "KILN_ERR_PARSE";
    case KILN_ERR_UNSUPPORTED:
        return "KILN_ERR_UNSUPPORTED";
    case KILN_ERR_NOT_IMPLEMENTED:
        return "KILN_ERR_NOT_IMPLEMENTED";
    case KILN_ERR_SHAPE:
        return "KILN_ERR_SHAPE";
    case KILN_ERR_PLAN:
        return "KILN_ERR_PLAN";
    case KILN_ERR_VERSION_MISMATCH:
        return "KILN_ERR_VERSION_MISMATCH";
    case KILN_ERR_DEVICE:
        return "KILN_ERR_DEVICE";
    case KILN_ERR_INTERNAL:
        return "KILN_ERR_INTERNAL";
    }
    return "KILN_ERR_UNKNOWN";
}
