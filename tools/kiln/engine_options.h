/* Options shared by the commands that build engines (build, run, bench). */
#ifndef KILN_CLI_ENGINE_OPTIONS_H
#define KILN_CLI_ENGINE_OPTIONS_H

#include "kiln/kiln.h"

typedef struct kiln_cli_engine_options {
    const char *min_shapes, *opt_shapes, *max_shapes; /* "name:1x3x224x224,name2:..." */
    int32_t max_batch;
    int32_t threads;
    size_t workspace;
    int fp16, bf16, int8, no_tf32, no_optimize, verbose;
    kiln_device_type device;
} kiln_cli_engine_options;

/* Consumes argv[*i] (and its value) if it is an engine option; returns 1 when consumed,
 * 0 when not an engine option, -1 on a bad value (message printed). */
int kiln_cli_engine_option(int argc, char **argv, int *i, kiln_cli_engine_options *o);
/* The help text of the engine options. */
const char *kiln_cli_engine_options_help(void);

/* Loads MODEL (.onnx: parse and build with the options; anything else: a plan file). */
int kiln_cli_load_engine(const char *model, const kiln_cli_engine_options *o, kiln_logger *logger,
                         kiln_engine **out);
/* Parses and builds an ONNX model into a plan in memory. */
int kiln_cli_build_plan(const char *model, const kiln_cli_engine_options *o, kiln_logger *logger,
                        kiln_host_memory **out);
int kiln_cli_has_suffix(const char *s, const char *suffix);
/* A logger printing warnings and errors (all messages with verbose) to stderr. */
kiln_logger *kiln_cli_logger(int verbose);

#endif
