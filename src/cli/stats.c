/* stats.c — `tessera stats VIEW [--json]`: per feature count, nulls, mean, stddev, min, max,
 * approximate percentiles and distinct count, from the offline store. */
#include "cli/cli.h"

static int run_stats(const cli_command *cmd, int argc, char **argv);

static const cli_optspec stats_opts[] = {
    {"json", 0, NULL, 0, "print the statistics as JSON"},
    {NULL, 0, NULL, 0, NULL},
};

const cli_command cli_cmd_stats = {
    .name = "stats",
    .summary = "Show statistics of a feature view's features in the offline store.",
    .synopsis = "stats VIEW [--json]",
    .description = "One value per event of the view's source: a row-level feature on the event's\n"
                   "row, an aggregate as of the event's time. Percentiles and distinct counts\n"
                   "are approximate.\n",
    .opts = stats_opts,
    .min_args = 1,
    .max_args = 1,
    .available = 1,
    .run = run_stats,
};

static int run_stats(const cli_command *cmd, int argc, char **argv)
{
    cli_args a;
    int rc = cli_parse(cmd, argc, argv, &a);
    if (rc != CLI_CONTINUE) return rc;
    tess_store *st = NULL;
    char *text = NULL;
    json_t *doc = NULL;
    cli_table *t = NULL;
    if ((rc = cli_open(&st)) != CLI_CONTINUE) goto out;
    int lrc = tess_stats(st, a.pos[0], &text);
    if (lrc != TESS_OK) {
        rc = cli_fail(st, lrc, "cannot compute statistics");
        goto out;
    }
    if (cli_flag(&a, "json")) {
        rc = cli_json_print_text(text);
        goto out;
    }
    rc = CLI_ERR;
    if (!(doc = cli_json_load(text))) goto out;
    static const char *const heads[] = {"FEATURE", "TYPE", "COUNT", "NULLS", "MEAN", "STDDEV",
                                        "MIN",     "P50",  "P90",   "P99",   "MAX",  "DISTINCT"};
    static const char *const keys[] = {"name", "type", "count", "nulls", "mean", "stddev",
                                       "min",  "p50",  "p90",   "p99",   "max",  "distinct"};
    enum { N = sizeof(heads) / sizeof(heads[0]) };
    t = cli_table_new(N, heads);
    const json_t *f;
    size_t i;
    json_array_foreach(json_object_get(doc, "features"), i, f)
    {
        cli_sb cells[N] = {{0}};
        const char *row[N];
        for (int k = 0; k < N; k++) {
            const json_t *v = json_object_get(f, keys[k]);
            if (json_is_real(v))
                cli_sb_addf(&cells[k], "%.6g", json_real_value(v));
            else
                cli_jtext(&cells[k], v);
            row[k] = cli_sb_str(&cells[k]);
        }
        cli_table_add(t, row);
        for (int k = 0; k < N; k++) cli_sb_release(&cells[k]);
    }
    printf("%s: %" JSON_INTEGER_FORMAT " events\n", cli_jstr(doc, "view"),
           json_integer_value(json_object_get(doc, "rows")));
    cli_table_print(t, stdout, "");
    rc = CLI_OK;
out:
    cli_table_free(t);
    json_decref(doc);
    tess_free(text);
    tess_store_close(st);
    return rc;
}
