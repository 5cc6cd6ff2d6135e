/* push.c — `tessera push SOURCE FILE [--to online|offline|online_and_offline]`: pushes the
 * rows of a CSV or JSON Lines file to a push source, as one push (all rows or none). */
#include "cli/cli.h"

#include <string.h>

static int run_push(const cli_command *cmd, int argc, char **argv);

static const cli_optspec push_opts[] = {
    {"to", 0, "WHERE", 0, "online, offline or online_and_offline (default)"},
    {NULL, 0, NULL, 0, NULL},
};

const cli_command cli_cmd_push = {
    .name = "push",
    .summary = "Push events to a push source.",
    .synopsis = "push SOURCE FILE [--to online|offline|online_and_offline]",
    .description =
        "Reads FILE (CSV with a header, or JSON Lines: .jsonl/.json) by the source's schema and\n"
        "pushes every row at once: kept in the offline store (fsynced) and applied to the\n"
        "online store, so lookups see them when the command returns. A bad row rejects the\n"
        "whole file with its file:line, column and value; nothing is stored.\n",
    .opts = push_opts,
    .min_args = 2,
    .max_args = 2,
    .available = 1,
    .run = run_push,
};

static int run_push(const cli_command *cmd, int argc, char **argv)
{
    cli_args a;
    int rc = cli_parse(cmd, argc, argv, &a);
    if (rc != CLI_CONTINUE) return rc;
    int to = TESS_PUSH_ONLINE_AND_OFFLINE;
    const char *where = cli_opt(&a, "to");
    if (where) {
        if (strcmp(where, "online") == 0) to = TESS_PUSH_ONLINE;
        else if (strcmp(where, "offline") == 0) to = TESS_PUSH_OFFLINE;
        else if (strcmp(where, "online_and_offline") == 0) to = TESS_PUSH_ONLINE_AND_OFFLINE;
        else
            return cli_usage_error(cmd, "--to: \"%s\" is not online, offline or "
                                   "online_and_offline", where);
    }
    tess_store *st = NULL;
    tess_pusher *p = NULL;
    tess_session *s = NULL;
    if ((rc = cli_open(&st)) != CLI_CONTINUE) goto out;
    int lrc = tess_pusher_new(st, a.pos[0], &p);
    if (lrc == TESS_OK) lrc = tess_session_new(st, &s);
    if (lrc != TESS_OK) {
        rc = cli_fail(st, lrc, "cannot push");
        goto out;
    }
    size_t rows = 0;
    if ((lrc = tess_push_file(s, p, a.pos[1], to, &rows)) != TESS_OK) {
        cli_error("%s", tess_session_errmsg(s));
        rc = CLI_ERR;
        goto out;
    }
    printf("Pushed %zu rows to %s.\n", rows, a.pos[0]);
    rc = CLI_OK;
out:
    tess_session_free(s);
    tess_pusher_free(p);
    tess_store_close(st);
    return rc;
}
