#include "core/logger.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

struct kiln_logger {
    kiln_log_callback callback;
    void *user_data;
    kiln_severity min_severity;
};

static int kiln_severity_valid(kiln_severity s) {
    return s >= KILN_SEVERITY_INTERNAL_ERROR && s <= KILN_SEVERITY_VERBOSE;
}

kiln_status kiln_logger_create(kiln_log_callback callback, void *user_data,
                               kiln_severity min_severity, kiln_logger **out) {
    KILN_CHECK_ARG(out != NULL, "kiln_logger_create");
    KILN_CHECK_ARG(kiln_severity_valid(min_severity), "kiln_logger_create");
    kiln_logger *logger = calloc(1, sizeof *logger);
    if (!logger) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "kiln_logger_create: out of memory");
    logger->callback = callback;
    logger->user_data = user_data;
    logger->min_severity = min_severity;
    *out = logger;
    return KILN_OK;
}

void kiln_logger_destroy(kiln_logger *logger) {
    free(logger);
}

kiln_status kiln_logger_set_min_severity(kiln_logger *logger, kiln_severity severity) {
    KILN_CHECK_ARG(logger != NULL, "kiln_logger_set_min_severity");
    KILN_CHECK_ARG(kiln_severity_valid(severity), "kiln_logger_set_min_severity");
    logger->min_severity = severity;
    return KILN_OK;
}

void kiln_logger_log(kiln_logger *logger, kiln_severity severity, const char *message) {
    static const char letters[] = "FEWIV";
    if (!logger || !message || !kiln_severity_valid(severity)) return;
    if (severity > logger->min_severity) return;
    if (logger->callback)
        logger->callback(logger->user_data, severity, message);
    else
        fprintf(stderr, "[kiln] %c: %s\n", letters[severity], message);
}

void kiln_logf(kiln_logger *logger, kiln_severity severity, const char *fmt, ...) {
    if (!logger || severity > logger->min_severity) return;
    char message[2048];
    va_list args;
    va_start(args, fmt);
    vsnprintf(message, sizeof message, fmt, args);
    va_end(args);
    kiln_logger_log(logger, severity, message);
}
