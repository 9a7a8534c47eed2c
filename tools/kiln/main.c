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

int main(int argc, char **argv) {
    if (argc < 2) {
        kiln_cli_usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "inspect")) return kiln_cli_inspect(argc - 2, argv + 2);
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
