/* kiln command line: dispatches to one subcommand per file. */
#include <stdio.h>
#include <string.h>

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

int main(int argc, char **argv) {
    if (argc < 2) {
        kiln_cli_usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
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
