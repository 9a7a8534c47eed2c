#ifndef KILN_CORE_LOGGER_H
#define KILN_CORE_LOGGER_H

#include "core/error.h"

/* printf-style logging through a (possibly NULL) logger; NULL loggers drop messages. */
void kiln_logf(kiln_logger *logger, kiln_severity severity, const char *fmt, ...) KILN_PRINTF(3, 4);

#endif
