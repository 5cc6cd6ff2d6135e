/* materialize.c — `tessera materialize [VIEW...] [--start T --end T] [--full] [--json]`:
 * computes the online store's state of feature views from the offline store. */
#include "cli/cli.h"

#include <string.h>

static int run_materialize(const cli_command *cmd, int argc, char **argv);

static const cli_optspec materialize_opts[] = {
    {"start", 0, "TIME", 0, "only events at or after TIME (with --end; rebuilds the views)"},
    {"end", 0, "TIME", 0, "only events at or before TIME (with --start)"},
    {"full", 0, NULL, 0, "rebuild the views from every event instead of going on from the last "
                         "materialization"},
    {"json", 0, NULL, 0, "print the report as JSON"},
    {NULL, 0, NULL, 0, NULL},
};

const cli_command cli_cmd_materialize = {
    .name = "materialize",
    .summary = "Compute online values from the offline store.",
    .synopsis = "materialize [VIEW...] [--start TIME --end TIME] [--full] [--json]",
    .description =
        "Brings the online store up to date with the offline store: the latest row and the\n"
        "window tiles of every entity of the views (default: every online view). A view is\n"
        "rebuilt whole when it was never materialized or its definition changed; otherwise\n"
        "only the events ingested since its last materialization are added. `tessera apply`\n"
        "runs this by itself.\n",
    .opts = materialize_opts,
    .min_args = 0,
    .max_args = -1,
    .available = 1,
    .run = run_materialize,
};

static int run_materialize(const cli_command *cmd, int argc, char **argv)
{
    cli_args a;
    int rc = cli_parse(cmd, argc, argv, &a);
    if (rc != CLI_CONTINUE) return rc;
    tess_materialize_opts o = {0};
    const char *start = cli_opt(&a, "start"), *end = cli_opt(&a, "end");
    if (!start != !end) return cli_usage_error(cmd, "--start and --end go together");
    if (start) {
        if ((rc = cli_opt_time(cmd, "start", start, &o.start)) != CLI_CONTINUE ||
            (rc = cli_opt_time(cmd, "end", end, &o.end)) != CLI_CONTINUE)
            return rc;
        o.has_range = 1;
    }
    o.full = cli_flag(&a, "full");
    o.views = a.pos;
    o.nviews = (size_t)a.npos;
    tess_store *st = NULL;
    char *text = NULL;
    json_t *doc = NULL;
    if ((rc = cli_open(&st)) != CLI_CONTINUE) goto out;
    int lrc = tess_materialize(st, &o, &text);
    if (lrc != TESS_OK) {
        rc = cli_fail(st, lrc, "cannot materialize");
        goto out;
    }
    if (cli_flag(&a, "json")) {
        rc = cli_json_print_text(text);
        goto out;
    }
    rc = CLI_ERR;
    if (!(doc = cli_json_load(text))) goto out;
    const json_t *v;
    size_t i;
    json_array_foreach(json_object_get(doc, "views"), i, v)
    {
        printf("%s: %s, %" JSON_INTEGER_FORMAT " events of %" JSON_INTEGER_FORMAT
               " entities",
               cli_jstr(v, "view"), cli_jstr(v, "mode"),
               json_integer_value(json_object_get(v, "events")),
               json_integer_value(json_object_get(v, "entities")));
        const json_t *ex = json_object_get(v, "expired"); /* views with online_expiry */
        if (ex) printf(", expired %" JSON_INTEGER_FORMAT " records", json_integer_value(ex));
        putchar('\n');
    }
    if (json_array_size(json_object_get(doc, "views")) == 0) printf("No online view.\n");
    rc = CLI_OK;
out:
    json_decref(doc);
    tess_free(text);
    tess_store_close(st);
    return rc;
}
