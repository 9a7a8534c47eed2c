/* kiln command line: dispatches to one subcommand per file. */
#define _DEFAULT_SOURCE /* setenv */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kiln/kiln.h"
#include "cli.h"

static void kiln_cli_usage(FILE *f) {
    fprintf(f,
            "kiln %s — deep-learning deployment engine\n"
            "usage: kiln <command> [options]\n"
            "commands:\n"
            "  build MODEL.onnx -o OUT.plan [options]  build an engine and save its plan\n"
            "  run MODEL.plan|MODEL.onnx --input NAME=FILE ...  run it on inputs\n"
            "  bench MODEL.onnx|MODEL.plan [options]   latency and throughput, --profile per layer\n"
            "  inspect MODEL.onnx|MODEL.plan [--nodes] [--json]  describe a model or plan\n"
            "  version                                 print the version\n"
            "Run 'kiln <command> --help' for a command's options.\n",
            kiln_version_string());
}

/* Plans and --support go to their own commands; ONNX models to kiln_cli_inspect. */
static int kiln_cli_inspect_dispatch(int argc, char **argv) {
    int json = 0, support = 0;
    const char *file = NULL;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) json = 1;
        else if (!strcmp(argv[i], "--support")) support = 1;
        else if (argv[i][0] != '-') file = argv[i];
    }
    if (file && !support) {
        FILE *f = fopen(file, "rb");
        char magic[8] = {0};
        if (f) {
            size_t n = fread(magic, 1, 8, f);
            fclose(f);
            if (n == 8 && !memcmp(magic, "KILNPLAN", 8)) return kiln_cli_inspect_plan(file, json);
        }
    }
    if (file && support) return kiln_cli_inspect_support(file, json);
    return kiln_cli_inspect(argc, argv);
}

/*
 * OpenMP's idle threads spin before they sleep, and GNU OpenMP's default spin (300,000
 * rounds: milliseconds) has every worker burn a core between layers: on a machine with
 * other work running they take the CPU the next layer needs (ResNet-50 went from 30 to
 * 400+ ms on a busy 2-core machine), while a short spin costs nothing on a quiet one.
 * libgomp reads its settings once, as it is loaded, before main: so the commands that run
 * models set a short spin and start kiln again, unless the user chose a policy
 * (GOMP_SPINCOUNT or OMP_WAIT_POLICY set).
 */
static void kiln_cli_short_openmp_spin(char **argv) {
    if (getenv("GOMP_SPINCOUNT") || getenv("OMP_WAIT_POLICY")) return;
    if (setenv("GOMP_SPINCOUNT", "3000", 1) != 0) return;
    execv("/proc/self/exe", argv);
    unsetenv("GOMP_SPINCOUNT"); /* could not start again: go on with the defaults */
}

int main(int argc, char **argv) {
    if (argc < 2) {
        kiln_cli_usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "build") || !strcmp(cmd, "run") || !strcmp(cmd, "bench"))
        kiln_cli_short_openmp_spin(argv);
    if (!strcmp(cmd, "inspect")) return kiln_cli_inspect_dispatch(argc - 2, argv + 2);
    if (!strcmp(cmd, "build")) return kiln_cli_build(argc - 2, argv + 2);
    if (!strcmp(cmd, "run")) return kiln_cli_run(argc - 2, argv + 2);
    if (!strcmp(cmd, "bench")) return kiln_cli_bench(argc - 2, argv + 2);
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        printf("kiln %s\n", kiln_version_string());
        return 0;
    }
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        kiln_cli_usage(stdout);
        return 0;
    }
    fprintf(stderr, "kiln: unknown command '%s'\n", cmd);
    kiln_cli_usage(stderr);
    return 2;
}
