#define _POSIX_C_SOURCE 200809L
/* kiln build MODEL.onnx -o MODEL.plan [engine options] */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "engine_options.h"

static void kiln_build_usage(FILE *f) {
    fprintf(f, "usage: kiln build MODEL.onnx -o OUT.plan [options]\noptions:\n%s",
            kiln_cli_engine_options_help());
}

int kiln_cli_build(int argc, char **argv) {
    kiln_cli_engine_options o = {0};
    const char *model = NULL, *out = NULL;
    for (int i = 0; i < argc; i++) {
        int r = kiln_cli_engine_option(argc, argv, &i, &o);
        if (r < 0) return 2;
        if (r > 0) continue;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            kiln_build_usage(stdout);
            return 0;
        }
        if ((!strcmp(argv[i], "-o") || !strcmp(argv[i], "--output")) && i + 1 < argc) out = argv[++i];
        else if (argv[i][0] == '-') {
            fprintf(stderr, "kiln build: unknown option '%s'\n", argv[i]);
            kiln_build_usage(stderr);
            return 2;
        } else if (!model) model = argv[i];
        else {
            fprintf(stderr, "kiln build: one model at a time ('%s' and '%s')\n", model, argv[i]);
            return 2;
        }
    }
    if (!model || !out) {
        kiln_build_usage(stderr);
        return 2;
    }
    kiln_logger *logger = kiln_cli_logger(o.verbose);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    kiln_host_memory *plan = NULL;
    int rc = kiln_cli_build_plan(model, &o, logger, &plan);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (!rc) {
        FILE *f = fopen(out, "wb");
        size_t size = kiln_host_memory_size(plan);
        if (!f || fwrite(kiln_host_memory_data(plan), 1, size, f) != size) {
            fprintf(stderr, "kiln build: cannot write %s: %s\n", out, strerror(errno));
            rc = 1;
        }
        if (f && fclose(f) != 0) rc = 1;
        if (!rc)
            printf("built %s -> %s (%zu bytes) in %.3f s\n", model, out, size,
                   (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec));
    }
    kiln_host_memory_destroy(plan);
    kiln_logger_destroy(logger);
    return rc;
}
