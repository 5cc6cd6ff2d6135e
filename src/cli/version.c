/* version.c — `tessera version` (also `tessera --version`): prints the version of tessera. */
#include "cli/cli.h"

static int run_version(const cli_command *cmd, int argc, char **argv)
{
    cli_args a;
    int rc = cli_parse(cmd, argc, argv, &a);
    if (rc != CLI_CONTINUE) return rc;
    printf("tessera %s\n", TESS_VERSION);
    return CLI_OK;
}

const cli_command cli_cmd_version = {
    .name = "version",
    .summary = "Print the version of tessera.",
    .synopsis = "version",
    .min_args = 0,
    .max_args = 0,
    .available = 1,
    .run = run_version,
};
