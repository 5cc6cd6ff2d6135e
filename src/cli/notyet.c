/* notyet.c — the commands of DESIGN.md that are not built yet. They are listed in the help so
 * that users know they are coming; `--help` describes them, anything else exits 1 with
 * "tessera <cmd>: not implemented yet (see issue tracker)". */
#include "cli/cli.h"

#include <string.h>

static int run_notyet(const cli_command *cmd, int argc, char **argv)
{
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            printf("usage: tessera %s\n\n%s\n\nNot yet available: this command is planned "
                   "(DESIGN.md) but not implemented yet.\n",
                   cmd->synopsis, cmd->summary);
            return CLI_OK;
        }
    fprintf(stderr, "tessera %s: not implemented yet (see issue tracker)\n", cmd->name);
    return CLI_ERR;
}

#define NOTYET(var, nm, syn, sum)                                                                  \
    static const cli_command var = {                                                               \
        .name = nm, .summary = sum, .synopsis = syn, .max_args = -1, .run = run_notyet}

NOTYET(cmd_verify, "verify", "verify", "Verify the integrity of the store's files.");

const cli_command *const cli_notyet_commands[] = {
    &cmd_verify, NULL,
};
