/* kiln inspect MODEL.plan: the engine in a plan file — I/O, profiles, layers with the
 * kernel chosen for each (and where it runs), the activation arena beside the naive sum. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "engine_options.h"

static void kiln_inspect_dims(const kiln_dims *d, char *buf, size_t size) {
    size_t p = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < d->nb_dims && p < size; i++)
        p += (size_t)(d->d[i] < 0 ? snprintf(buf + p, size - p, "%s?", i ? ", " : "")
                                  : snprintf(buf + p, size - p, "%s%lld", i ? ", " : "", (long long)d->d[i]));
    if (p < size) snprintf(buf + p, size - p, "]");
}

static void kiln_inspect_json_str(const char *s) {
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') printf("\\%c", c);
        else if (c < 0x20) printf("\\u%04x", c);
        else putchar(c);
    }
    putchar('"');
}

int kiln_cli_inspect_plan(const char *path, int json) {
    kiln_logger *logger = kiln_cli_logger(0);
    kiln_engine *e = NULL;
    kiln_cli_engine_options o = {0};
    if (kiln_cli_load_engine(path, &o, logger, &e)) {
        kiln_logger_destroy(logger);
        return 1;
    }
    uint64_t arena = kiln_engine_get_planned_arena_bytes(e), naive = kiln_engine_get_naive_activation_bytes(e);
    uint64_t weights = kiln_engine_get_weight_bytes(e);
    const char *device = kiln_engine_get_device(e) == KILN_DEVICE_CUDA ? "cuda" : "cpu";
    int32_t layers = kiln_engine_num_layers(e), nio = kiln_engine_num_io_tensors(e), on_cpu = 0;
    for (int32_t i = 0; i < layers; i++) on_cpu += !strncmp(kiln_engine_get_layer_kernel(e, i), "cpu.", 4);
    if (json) {
        printf("{\"file\": ");
        kiln_inspect_json_str(path);
        printf(", \"kiln_version\": \"%s\", \"device\": \"%s\", \"layers\": %d, \"weight_bytes\": %llu, "
               "\"arena_bytes\": %llu, \"naive_activation_bytes\": %llu,\n \"io\": [",
               kiln_version_string(), device, layers, (unsigned long long)weights,
               (unsigned long long)arena, (unsigned long long)naive);
    } else {
        printf("Plan:        %s (kiln %s)\nDevice:      %s\nLayers:      %d", path, kiln_version_string(),
               device, layers);
        if (kiln_engine_get_device(e) == KILN_DEVICE_CUDA) printf(" (%d on the GPU, %d on the CPU)", layers - on_cpu, on_cpu);
        printf("\nWeights:     %llu bytes\n", (unsigned long long)weights);
        if (arena)
            printf("Activations: %llu bytes in the planned arena, against %llu bytes as separate "
                   "tensors (%.1fx smaller)\n",
                   (unsigned long long)arena, (unsigned long long)naive, naive ? (double)naive / (double)arena : 0.0);
        else
            printf("Activations: shapes depend on the data; the arena is planned at run time\n");
        printf("\nInputs and outputs:\n");
    }
    for (int32_t i = 0; i < nio; i++) {
        const char *name = kiln_engine_get_tensor_name(e, i);
        kiln_dims d, lo, op, hi;
        kiln_engine_get_tensor_shape(e, name, &d);
        char shape[256], s_lo[256] = "", s_op[256] = "", s_hi[256] = "";
        kiln_inspect_dims(&d, shape, sizeof shape);
        int input = kiln_engine_get_tensor_mode(e, name) == KILN_TENSOR_IO_INPUT;
        int profile = input && kiln_engine_get_profile_shape(e, name, 0, KILN_PROFILE_MIN, &lo) == KILN_OK &&
                      kiln_engine_get_profile_shape(e, name, 0, KILN_PROFILE_OPT, &op) == KILN_OK &&
                      kiln_engine_get_profile_shape(e, name, 0, KILN_PROFILE_MAX, &hi) == KILN_OK;
        if (profile) {
            kiln_inspect_dims(&lo, s_lo, sizeof s_lo);
            kiln_inspect_dims(&op, s_op, sizeof s_op);
            kiln_inspect_dims(&hi, s_hi, sizeof s_hi);
        }
        const char *dtype = kiln_dtype_name(kiln_engine_get_tensor_dtype(e, name));
        if (json) {
            printf("%s\n  {\"name\": ", i ? "," : "");
            kiln_inspect_json_str(name);
            printf(", \"mode\": \"%s\", \"dtype\": \"%s\", \"shape\": \"%s\"", input ? "input" : "output", dtype, shape);
            if (profile) printf(", \"min\": \"%s\", \"opt\": \"%s\", \"max\": \"%s\"", s_lo, s_op, s_hi);
            printf("}");
        } else {
            printf("  %-6s %-24s %-8s %s", input ? "input" : "output", name, dtype, shape);
            if (profile && strcmp(s_lo, s_hi)) printf("  profile min %s opt %s max %s", s_lo, s_op, s_hi);
            printf("\n");
        }
    }
    if (json) printf("],\n \"layer_list\": [");
    else printf("\nLayers (kernel chosen for each):\n");
    for (int32_t i = 0; i < layers; i++) {
        const char *name = kiln_engine_get_layer_name(e, i), *op = kiln_engine_get_layer_op(e, i);
        const char *kernel = kiln_engine_get_layer_kernel(e, i);
        const char *fused = kiln_engine_get_layer_fused(e, i);
        if (json) {
            printf("%s\n  {\"name\": ", i ? "," : "");
            kiln_inspect_json_str(name);
            printf(", \"op\": \"%s\", \"kernel\": \"%s\"", op, kernel);
            if (fused) {
                printf(", \"fused\": ");
                kiln_inspect_json_str(fused);
            }
            printf("}");
        } else {
            printf("  %4d  %-40.40s %-20s %s\n", i, name, op, kernel);
            if (fused) printf("        fused: %s\n", fused);
        }
    }
    if (json) printf("]}\n");
    kiln_engine_destroy(e);
    kiln_logger_destroy(logger);
    return 0;
}
