#include "kiln/kiln.h"

#define KILN_STR2(x) #x
#define KILN_STR(x)  KILN_STR2(x)

int32_t kiln_get_version(void) {
    return KILN_VERSION;
}

const char *kiln_version_string(void) {
    return KILN_STR(KILN_VERSION_MAJOR) "." KILN_STR(KILN_VERSION_MINOR) "." KILN_STR(
        KILN_VERSION_PATCH);
}
