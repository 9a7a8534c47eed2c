#ifndef KILN_CLI_H
#define KILN_CLI_H

/* Each subcommand takes the arguments after its name and returns the exit status:
 * 0 success, 1 failure of the work itself, 2 bad usage. */
int kiln_cli_inspect(int argc, char **argv);
int kiln_cli_build(int argc, char **argv);
int kiln_cli_run(int argc, char **argv);
int kiln_cli_bench(int argc, char **argv);
int kiln_cli_inspect_plan(const char *path, int json);
int kiln_cli_inspect_support(const char *path, int json);

#endif
