/* Builder configs and optimization profiles. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include "api/builder_internal.h"

void kiln_builder_config_destroy(kiln_builder_config *config) {
    if (!config) return;
    for (int32_t i = 0; i < config->profile_count; i++)
        kiln_optimization_profile_destroy(config->profiles[i]);
    free(config->profiles);
    free(config);
}

static int kiln_flag_valid(kiln_builder_flag flag) {
    return flag >= KILN_BUILDER_FLAG_FP16 && flag <= KILN_BUILDER_FLAG_NO_OPTIMIZE;
}

kiln_status kiln_builder_config_set_flag(kiln_builder_config *config, kiln_builder_flag flag,
                                         int enabled) {
    KILN_CHECK_ARG(config && kiln_flag_valid(flag), "kiln_builder_config_set_flag");
    if (enabled) config->flags |= 1u << flag;
    else config->flags &= ~(1u << flag);
    return KILN_OK;
}

int kiln_builder_config_get_flag(const kiln_builder_config *config, kiln_builder_flag flag) {
    return config && kiln_flag_valid(flag) && (config->flags >> flag & 1u);
}

kiln_status kiln_builder_config_set_memory_pool_limit(kiln_builder_config *config,
                                                      kiln_memory_pool pool, size_t bytes) {
    KILN_CHECK_ARG(config && pool == KILN_MEMORY_POOL_WORKSPACE,
                   "kiln_builder_config_set_memory_pool_limit");
    config->workspace = bytes;
    return KILN_OK;
}

kiln_status kiln_builder_config_set_max_batch_size(kiln_builder_config *config, int32_t max_batch) {
    KILN_CHECK_ARG(config && max_batch >= 1, "kiln_builder_config_set_max_batch_size");
    config->max_batch = max_batch;
    return KILN_OK;
}

kiln_status kiln_builder_config_set_device(kiln_builder_config *config, kiln_device_type device,
                                           int32_t index) {
    KILN_CHECK_ARG(config && (device == KILN_DEVICE_CPU || device == KILN_DEVICE_CUDA) && index >= 0,
                   "kiln_builder_config_set_device");
    config->device = device;
    config->device_index = index;
    /* TF32 is on by default for GPU targets, as in TensorRT. */
    if (device == KILN_DEVICE_CUDA) config->flags |= 1u << KILN_BUILDER_FLAG_TF32;
    return KILN_OK;
}

kiln_status kiln_builder_config_set_num_threads(kiln_builder_config *config, int32_t threads) {
    KILN_CHECK_ARG(config && threads >= 0, "kiln_builder_config_set_num_threads");
    config->threads = threads;
    return KILN_OK;
}

kiln_status kiln_builder_config_add_optimization_profile(kiln_builder_config *config,
                                                         const kiln_optimization_profile *profile) {
    KILN_CHECK_ARG(config && profile, "kiln_builder_config_add_optimization_profile");
    for (int32_t i = 0; i < profile->count; i++)
        for (int k = 0; k < 3; k++)
            if (!profile->set[i][k])
                return kiln_error(KILN_ERR_INVALID_ARGUMENT,
                                  "kiln_builder_config_add_optimization_profile: input '%s' has "
                                  "no %s dimensions",
                                  profile->names[i], k == 0 ? "min" : k == 1 ? "opt" : "max");
    kiln_optimization_profile **p =
        realloc(config->profiles, sizeof *p * (size_t)(config->profile_count + 1));
    if (!p) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
    config->profiles = p;
    KILN_TRY(kiln_profile_copy(profile, &p[config->profile_count]));
    config->profile_count++;
    return KILN_OK;
}

void kiln_optimization_profile_destroy(kiln_optimization_profile *profile) {
    if (!profile) return;
    for (int32_t i = 0; i < profile->count; i++) free(profile->names[i]);
    free(profile->names);
    free(profile->dims);
    free(profile->set);
    free(profile);
}

static int32_t kiln_profile_find(const kiln_optimization_profile *p, const char *name) {
    for (int32_t i = 0; i < p->count; i++)
        if (!strcmp(p->names[i], name)) return i;
    return -1;
}

kiln_status kiln_optimization_profile_set_dimensions(kiln_optimization_profile *profile,
                                                     const char *input_name,
                                                     kiln_profile_selector which, kiln_dims dims) {
    KILN_CHECK_ARG(profile && input_name && which >= KILN_PROFILE_MIN && which <= KILN_PROFILE_MAX,
                   "kiln_optimization_profile_set_dimensions");
    if (dims.nb_dims < 0 || dims.nb_dims > KILN_MAX_DIMS)
        return kiln_error(KILN_ERR_INVALID_ARGUMENT,
                          "kiln_optimization_profile_set_dimensions: rank %d for '%s'",
                          dims.nb_dims, input_name);
    for (int32_t d = 0; d < dims.nb_dims; d++)
        if (dims.d[d] < 0)
            return kiln_error(KILN_ERR_INVALID_ARGUMENT,
                              "kiln_optimization_profile_set_dimensions: '%s' dimension %d is %lld",
                              input_name, d, (long long)dims.d[d]);
    int32_t i = kiln_profile_find(profile, input_name);
    if (i < 0) {
        int32_t n = profile->count + 1;
        char **names = realloc(profile->names, sizeof *names * (size_t)n);
        if (names) profile->names = names;
        kiln_dims(*d)[3] = realloc(profile->dims, sizeof *d * (size_t)n);
        if (d) profile->dims = d;
        uint8_t(*s)[3] = realloc(profile->set, sizeof *s * (size_t)n);
        if (s) profile->set = s;
        char *copy = strdup(input_name);
        if (!names || !d || !s || !copy) {
            free(copy);
            return kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
        }
        i = profile->count++;
        names[i] = copy;
        memset(s[i], 0, sizeof s[i]);
        memset(d[i], 0, sizeof d[i]);
    }
    profile->dims[i][which] = dims;
    profile->set[i][which] = 1;
    return KILN_OK;
}

kiln_status kiln_optimization_profile_get_dimensions(const kiln_optimization_profile *profile,
                                                     const char *input_name,
                                                     kiln_profile_selector which, kiln_dims *out) {
    KILN_CHECK_ARG(profile && input_name && out && which >= KILN_PROFILE_MIN && which <= KILN_PROFILE_MAX,
                   "kiln_optimization_profile_get_dimensions");
    int32_t i = kiln_profile_find(profile, input_name);
    if (i < 0 || !profile->set[i][which])
        return kiln_error(KILN_ERR_INVALID_ARGUMENT,
                          "kiln_optimization_profile_get_dimensions: no dimensions for '%s'",
                          input_name);
    *out = profile->dims[i][which];
    return KILN_OK;
}

kiln_status kiln_profile_copy(const kiln_optimization_profile *src, kiln_optimization_profile **out) {
    kiln_optimization_profile *p = calloc(1, sizeof *p);
    if (!p) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
    size_t n = (size_t)(src->count ? src->count : 1);
    p->names = calloc(n, sizeof *p->names);
    p->dims = calloc(n, sizeof *p->dims);
    p->set = calloc(n, sizeof *p->set);
    if (!p->names || !p->dims || !p->set) {
        kiln_optimization_profile_destroy(p);
        return kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
    }
    for (int32_t i = 0; i < src->count; i++) {
        p->names[i] = strdup(src->names[i]);
        if (!p->names[i]) {
            kiln_optimization_profile_destroy(p);
            return kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
        }
        p->count = i + 1;
    }
    memcpy(p->dims, src->dims, sizeof *p->dims * (size_t)src->count);
    memcpy(p->set, src->set, sizeof *p->set * (size_t)src->count);
    *out = p;
    return KILN_OK;
}
