#include "engine_options.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *kiln_cli_engine_options_help(void) {
    return "  --max-batch N              dynamic leading dimension from 1 to N\n"
           "  --min-shapes S, --opt-shapes S, --max-shapes S\n"
           "                             optimization profile, S = name:1x3x224x224[,name2:...]\n"
           "  --workspace MiB            workspace limit\n"
           "  --fp16, --bf16, --int8     precision flags (the CPU backend computes in FP32 and\n"
           "                             says so)\n"
           "  --no-tf32                  disable TF32 on GPUs\n"
           "  --threads N                CPU threads (default: one per core)\n"
           "  --device cpu|cuda          target device (default cpu)\n"
           "  --no-optimize              skip graph optimizations\n"
           "  --verbose                  log everything\n";
}

int kiln_cli_engine_option(int argc, char **argv, int *i, kiln_cli_engine_options *o) {
    const char *a = argv[*i];
    const char **shape = !strcmp(a, "--min-shapes")   ? &o->min_shapes
                         : !strcmp(a, "--opt-shapes") ? &o->opt_shapes
                         : !strcmp(a, "--max-shapes") ? &o->max_shapes
                         : !strcmp(a, "--shapes")     ? &o->opt_shapes
                                                      : NULL;
    int takes_value = shape || !strcmp(a, "--max-batch") || !strcmp(a, "--threads") ||
                      !strcmp(a, "--workspace") || !strcmp(a, "--device");
    if (takes_value && *i + 1 >= argc) {
        fprintf(stderr, "kiln: %s needs a value\n", a);
        return -1;
    }
    if (shape) {
        *shape = argv[++*i];
        if (!strcmp(a, "--shapes")) o->min_shapes = o->max_shapes = *shape;
        return 1;
    }
    if (!strcmp(a, "--max-batch") || !strcmp(a, "--threads") || !strcmp(a, "--workspace")) {
        char *end;
        long v = strtol(argv[++*i], &end, 10);
        if (*end || v < 0 || (v == 0 && strcmp(a, "--threads"))) {
            fprintf(stderr, "kiln: %s takes a positive number, not '%s'\n", a, argv[*i]);
            return -1;
        }
        if (!strcmp(a, "--max-batch")) o->max_batch = (int32_t)v;
        else if (!strcmp(a, "--threads")) o->threads = (int32_t)v;
        else o->workspace = (size_t)v << 20;
        return 1;
    }
    if (!strcmp(a, "--device")) {
        const char *d = argv[++*i];
        if (!strcmp(d, "cpu")) o->device = KILN_DEVICE_CPU;
        else if (!strcmp(d, "cuda") || !strcmp(d, "gpu")) o->device = KILN_DEVICE_CUDA;
        else {
            fprintf(stderr, "kiln: --device is cpu or cuda, not '%s'\n", d);
            return -1;
        }
        return 1;
    }
    int *flag = !strcmp(a, "--fp16")          ? &o->fp16
                : !strcmp(a, "--bf16")        ? &o->bf16
                : !strcmp(a, "--int8")        ? &o->int8
                : !strcmp(a, "--no-tf32")     ? &o->no_tf32
                : !strcmp(a, "--no-optimize") ? &o->no_optimize
                : !strcmp(a, "--verbose")     ? &o->verbose
                                              : NULL;
    if (!flag) return 0;
    *flag = 1;
    return 1;
}

int kiln_cli_has_suffix(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

static void kiln_cli_log(void *user, kiln_severity severity, const char *message) {
    (void)user;
    static const char *names[] = {"internal error", "error", "warning", "info", "verbose"};
    fprintf(stderr, "kiln: %s: %s\n", names[severity], message);
}

kiln_logger *kiln_cli_logger(int verbose) {
    kiln_logger *logger = NULL;
    kiln_logger_create(kiln_cli_log, NULL, verbose ? KILN_SEVERITY_VERBOSE : KILN_SEVERITY_WARNING,
                       &logger);
    return logger;
}

/* Adds "name:1x3x224x224,name2:..." to the profile as the `which` dims. */
static int kiln_cli_parse_shapes(const char *spec, kiln_optimization_profile *p,
                                 kiln_profile_selector which) {
    char *copy = malloc(strlen(spec) + 1);
    if (!copy) return 1;
    strcpy(copy, spec);
    int rc = 0;
    for (char *item = strtok(copy, ","); item && !rc; item = strtok(NULL, ",")) {
        char *colon = strrchr(item, ':');
        if (!colon) {
            fprintf(stderr, "kiln: shape '%s' must be name:dims, e.g. input:1x3x224x224\n", item);
            rc = 1;
            break;
        }
        *colon = '\0';
        kiln_dims d = {0};
        for (char *p2 = colon + 1; *p2 && !rc;) {
            char *end;
            long long v = strtoll(p2, &end, 10);
            if (end == p2 || v < 0 || d.nb_dims >= KILN_MAX_DIMS) {
                fprintf(stderr, "kiln: bad dimensions '%s' for '%s'\n", colon + 1, item);
                rc = 1;
                break;
            }
            d.d[d.nb_dims++] = v;
            p2 = *end == 'x' || *end == 'X' ? end + 1 : end;
            if (*end && *end != 'x' && *end != 'X') {
                fprintf(stderr, "kiln: bad dimensions '%s' for '%s'\n", colon + 1, item);
                rc = 1;
            }
        }
        if (!rc && kiln_optimization_profile_set_dimensions(p, item, which, d) != KILN_OK) {
            fprintf(stderr, "kiln: error: %s\n", kiln_last_error());
            rc = 1;
        }
    }
    free(copy);
    return rc;
}

static int kiln_cli_configure(kiln_builder *b, kiln_builder_config *c,
                              const kiln_cli_engine_options *o) {
    kiln_builder_config_set_device(c, o->device, 0);
    if (o->threads) kiln_builder_config_set_num_threads(c, o->threads);
    if (o->workspace) kiln_builder_config_set_memory_pool_limit(c, KILN_MEMORY_POOL_WORKSPACE, o->workspace);
    if (o->max_batch) kiln_builder_config_set_max_batch_size(c, o->max_batch);
    if (o->fp16) kiln_builder_config_set_flag(c, KILN_BUILDER_FLAG_FP16, 1);
    if (o->bf16) kiln_builder_config_set_flag(c, KILN_BUILDER_FLAG_BF16, 1);
    if (o->int8) kiln_builder_config_set_flag(c, KILN_BUILDER_FLAG_INT8, 1);
    if (o->no_tf32) kiln_builder_config_set_flag(c, KILN_BUILDER_FLAG_TF32, 0);
    if (o->no_optimize) kiln_builder_config_set_flag(c, KILN_BUILDER_FLAG_NO_OPTIMIZE, 1);
    if (!o->min_shapes && !o->opt_shapes && !o->max_shapes) return 0;
    const char *mn = o->min_shapes ? o->min_shapes : o->opt_shapes ? o->opt_shapes : o->max_shapes;
    const char *op = o->opt_shapes ? o->opt_shapes : o->max_shapes ? o->max_shapes : mn;
    const char *mx = o->max_shapes ? o->max_shapes : op;
    kiln_optimization_profile *p = NULL;
    int rc = kiln_builder_create_optimization_profile(b, &p) != KILN_OK ||
             kiln_cli_parse_shapes(mn, p, KILN_PROFILE_MIN) ||
             kiln_cli_parse_shapes(op, p, KILN_PROFILE_OPT) ||
             kiln_cli_parse_shapes(mx, p, KILN_PROFILE_MAX);
    if (!rc && kiln_builder_config_add_optimization_profile(c, p) != KILN_OK) {
        fprintf(stderr, "kiln: error: %s\n", kiln_last_error());
        rc = 1;
    }
    kiln_optimization_profile_destroy(p);
    return rc;
}

/* Imports model and builds it: into a plan (*plan) or straight into an engine (*engine),
 * whichever is not NULL. */
static int build_model(const char *model, const kiln_cli_engine_options *o, kiln_logger *logger,
                       kiln_host_memory **plan, kiln_engine **engine) {
    kiln_builder *b = NULL;
    kiln_network *net = NULL;
    kiln_onnx_parser *parser = NULL;
    kiln_builder_config *c = NULL;
    int rc = 1;
    if (kiln_builder_create(logger, &b) != KILN_OK ||
        kiln_builder_create_network(b, KILN_NETWORK_EXPLICIT_BATCH, &net) != KILN_OK ||
        kiln_onnx_parser_create(net, logger, &parser) != KILN_OK) {
        fprintf(stderr, "kiln: error: %s\n", kiln_last_error());
        goto done;
    }
    if (kiln_onnx_parser_parse_from_file(parser, model) != KILN_OK) {
        int32_t n = kiln_onnx_parser_num_errors(parser);
        fprintf(stderr, "kiln: cannot import %s: %d problem(s)\n", model, n);
        for (int32_t i = 0; i < n; i++) fprintf(stderr, "  %s\n", kiln_onnx_parser_get_error(parser, i));
        goto done;
    }
    if (kiln_builder_create_config(b, &c) != KILN_OK || kiln_cli_configure(b, c, o)) goto done;
    kiln_status st = plan ? kiln_builder_build_serialized_network(b, net, c, plan)
                          : kiln_builder_build_engine(b, net, c, engine);
    if (st != KILN_OK) {
        fprintf(stderr, "kiln: cannot build %s: %s\n", model, kiln_last_error());
        goto done;
    }
    rc = 0;
done:
    kiln_builder_config_destroy(c);
    /* The network before the parser: a parser that goes first hands the network copies of
     * the weights it borrowed from the mapped model, which would only be freed again. */
    kiln_network_destroy(net);
    kiln_onnx_parser_destroy(parser);
    kiln_builder_destroy(b);
    return rc;
}

int kiln_cli_build_plan(const char *model, const kiln_cli_engine_options *o, kiln_logger *logger,
                        kiln_host_memory **out) {
    return build_model(model, o, logger, out, NULL);
}

int kiln_cli_load_engine(const char *model, const kiln_cli_engine_options *o, kiln_logger *logger,
                         kiln_engine **out) {
    kiln_runtime *rt = NULL;
    if (kiln_runtime_create(logger, &rt) != KILN_OK) return 1;
    int rc = 0;
    if (kiln_cli_has_suffix(model, ".onnx")) {
        /* built in memory, as trtexec does: no plan to write and read back */
        rc = build_model(model, o, logger, NULL, out);
    } else if (kiln_runtime_deserialize_engine_from_file(rt, model, out) != KILN_OK) {
        fprintf(stderr, "kiln: cannot load plan: %s\n", kiln_last_error());
        rc = 1;
    }
    kiln_runtime_destroy(rt);
    return rc;
}
