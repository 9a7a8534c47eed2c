/* Thread-local error messages behind kiln_last_error(). */
#ifndef KILN_CORE_ERROR_H
#define KILN_CORE_ERROR_H

#include "kiln/kiln.h"

#if defined(__GNUC__)
#define KILN_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define KILN_PRINTF(fmt, args)
#endif

/* Records a message for kiln_last_error() and returns `status`, so a failing path reads
 * `return kiln_error(KILN_ERR_PARSE, "...", ...);`. */
kiln_status kiln_error(kiln_status status, const char *fmt, ...) KILN_PRINTF(2, 3);

/* Prefixes the current message with more context: "while reading node 'x': <old>". */
void kiln_error_prefix(const char *fmt, ...) KILN_PRINTF(1, 2);

/* The standard failure of a declared call that this version does not implement. */
kiln_status kiln_not_implemented(const char *call);

#define KILN_CHECK_ARG(cond, call)                                                                 \
    do {                                                                                           \
        if (!(cond))                                                                               \
            return kiln_error(KILN_ERR_INVALID_ARGUMENT, "%s: invalid argument: %s", call, #cond); \
    } while (0)

#define KILN_TRY(expr)                                                                             \
    do {                                                                                           \
        kiln_status kiln_try_status_ = (expr);                                                     \
        if (kiln_try_status_ != KILN_OK) return kiln_try_status_;                                  \
    } while (0)

#endif
