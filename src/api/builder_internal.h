#ifndef KILN_API_BUILDER_INTERNAL_H
#define KILN_API_BUILDER_INTERNAL_H

#include "core/error.h"

struct kiln_builder {
    kiln_logger *logger;
};

/* min/opt/max dims for each named input. */
struct kiln_optimization_profile {
    int32_t count;
    char **names;
    kiln_dims (*dims)[3]; /* indexed by kiln_profile_selector */
    uint8_t (*set)[3];
};

struct kiln_builder_config {
    uint32_t flags; /* bit per kiln_builder_flag */
    size_t workspace;
    int32_t max_batch; /* 0: none */
    kiln_device_type device;
    int32_t device_index;
    int32_t threads;
    int32_t profile_count;
    kiln_optimization_profile **profiles;
};

kiln_status kiln_profile_copy(const kiln_optimization_profile *src, kiln_optimization_profile **out);

#endif
