/* history.c — `tessera history [--json]`: every registry version, oldest first, as a table
 * VERSION APPLIED_AT HASH CHANGES (short hash; changes as +added ~changed -removed counts).
 */
#include "cli/cli.h"

#include <string.h>
#include <time.h>

static int run_history(const cli_command *cmd, int argc, char **argv);

static const cli_optspec history_opts[] = {
    {"json", 0, NULL, 0, "print the registry's JSON array of versions"},
    {NULL, 0, NULL, 0, NULL},
};

const cli_command cli_cmd_history = {
    .name = "history",
    .summary = "List the registry's versions: when applied, hash, what changed.",
    .synopsis = "history [--json]",
    .description = "CHANGES counts the objects added (+), changed (~) and removed (-) by each\n"
                   "version; 'tessera describe NAME --version N' shows an object as of N.\n",
    .opts = history_opts,
    .min_args = 0,
    .max_args = 0,
    .available = 1,
    .run = run_history,
};

/* applied_at as RFC 3339: strings as they are, integers as microseconds since the epoch. */
static void applied_at(const json_t *v, cli_sb *out)
{
    if (!json_is_integer(v)) {
        cli_jtext(out, v);
        return;
    }
    json_int_t us = json_integer_value(v);
    time_t secs = (time_t)(us / 1000000 - (us % 1000000 < 0));
    struct tm tm;
    char buf[64];
    if (gmtime_r(&secs, &tm) && strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm))
        cli_sb_add(out, buf);
    else
        cli_sb_addf(out, "%" JSON_INTEGER_FORMAT, us);
}

static int run_history(const cli_command *cmd, int argc, char **argv)
{
    cli_args a;
    int rc = cli_parse(cmd, argc, argv, &a);
    if (rc != CLI_CONTINUE) return rc;
    tess_store *st = NULL;
    char *text = NULL;
    json_t *doc = NULL;
    cli_table *t = NULL;
    if ((rc = cli_open(&st)) != CLI_CONTINUE) goto out;
    int lrc = tess_catalog_history(st, &text);
    if (lrc != TESS_OK) {
        rc = cli_fail(st, lrc, "cannot read the registry's history");
        goto out;
    }
    if (cli_flag(&a, "json")) {
        rc = cli_json_print_text(text);
        goto out;
    }
    rc = CLI_ERR;
    if (!(doc = cli_json_load(text))) goto out;
    if (json_array_size(doc) == 0) {
        printf("Nothing applied yet.\n");
        rc = CLI_OK;
        goto out;
    }
    static const char *const headers[] = {"VERSION", "APPLIED_AT", "HASH", "CHANGES"};
    t = cli_table_new(4, headers);
    size_t i;
    json_t *v;
    json_array_foreach(doc, i, v)
    {
        cli_sb cells[4] = {{0}};
        cli_jtext(&cells[0], json_object_get(v, "version"));
        applied_at(json_object_get(v, "applied_at"), &cells[1]);
        const char *hash = cli_jstr(v, "hash");
        cli_sb_addn(&cells[2], hash, strnlen(hash, 12));
        cli_sb_addf(&cells[3], "+%zu ~%zu -%zu", json_array_size(json_object_get(v, "added")),
                    json_array_size(json_object_get(v, "changed")),
                    json_array_size(json_object_get(v, "removed")));
        const char *row[4] = {cli_sb_str(&cells[0]), cli_sb_str(&cells[1]), cli_sb_str(&cells[2]),
                              cli_sb_str(&cells[3])};
        cli_table_add(t, row);
        for (int c = 0; c < 4; c++)
            cli_sb_release(&cells[c]);
    }
    cli_table_print(t, stdout, "");
    rc = CLI_OK;
out:
    cli_table_free(t);
    json_decref(doc);
    tess_free(text);
    tess_store_close(st);
    return rc;
}
