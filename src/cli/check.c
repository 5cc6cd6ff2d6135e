/* check.c — `tessera check [--service S | --features LIST] [--sample N] [--now T] [--json]`:
 * online values against offline ones for sampled entities; exit 1 on any mismatch. */
#include "cli/cli.h"

#include <string.h>

static int run_check(const cli_command *cmd, int argc, char **argv);

static const cli_optspec check_opts[] = {
    {"service", 's', "NAME", 0, "the feature service to check (default: every service)"},
    {"features", 0, "LIST", 0, "comma-separated view:feature, view:* or on-demand names"},
    {"sample", 'n', "N", 1, "entities to compare per service (default 100)"},
    {"now", 0, "TIME", 0, "the instant to compare at (default: now, or TESSERA_NOW)"},
    {"json", 0, NULL, 0, "print the report as JSON"},
    {NULL, 0, NULL, 0, NULL},
};

const cli_command cli_cmd_check = {
    .name = "check",
    .summary = "Check online/offline consistency.",
    .synopsis = "check [--service NAME | --features LIST] [--sample N] [--now TIME] [--json]",
    .description =
        "Draws entities from the offline store's events, computes their features online\n"
        "(as the server does) and offline (as a training set does) at the same instant, and\n"
        "reports every value that differs. Exit status 1 if any does.\n",
    .opts = check_opts,
    .min_args = 0,
    .max_args = 0,
    .available = 1,
    .run = run_check,
};

/* Checks one service (or feature list); adds its report to `all`. */
static int check_one(tess_store *st, tess_check_opts *o, json_t *all, size_t *mismatches)
{
    char *text = NULL;
    int lrc = tess_check(st, o, &text);
    if (lrc != TESS_OK) return cli_fail(st, lrc, "cannot check");
    json_t *doc = cli_json_load(text);
    tess_free(text);
    if (!doc) return CLI_ERR;
    *mismatches += (size_t)json_integer_value(json_object_get(doc, "mismatch_count"));
    json_array_append_new(all, doc);
    return CLI_CONTINUE;
}

static int run_check(const cli_command *cmd, int argc, char **argv)
{
    cli_args a;
    int rc = cli_parse(cmd, argc, argv, &a);
    if (rc != CLI_CONTINUE) return rc;
    tess_check_opts o = {0};
    o.service = cli_opt(&a, "service");
    const char *features = cli_opt(&a, "features");
    if (o.service && features) return cli_usage_error(cmd, "give at most one of --service and --features");
    o.sample = (size_t)cli_opt_int(&a, "sample", 100);
    const char *now = cli_opt(&a, "now");
    if (now && (rc = cli_opt_time(cmd, "now", now, &o.now)) != CLI_CONTINUE) return rc;
    char *list = NULL;
    const char **refs = NULL;
    if (features) {
        if ((rc = cli_features_list(cmd, features, &list, &refs, &o.nfeatures)) != CLI_CONTINUE) {
            free(list);
            free(refs);
            return rc;
        }
        o.features = refs;
    }
    tess_store *st = NULL;
    json_t *all = json_array(), *services = NULL;
    char *text = NULL;
    size_t mismatches = 0;
    if ((rc = cli_open(&st)) != CLI_CONTINUE) goto out;
    if (o.service || o.features) {
        if ((rc = check_one(st, &o, all, &mismatches)) != CLI_CONTINUE) goto out;
    } else {
        int lrc = tess_catalog_list(st, "services", 0, &text);
        if (lrc != TESS_OK) {
            rc = lrc == TESS_NOTFOUND ? cli_notfound(st, 0, NULL) : cli_fail(st, lrc, NULL);
            goto out;
        }
        if (!(services = cli_json_load(text))) {
            rc = CLI_ERR;
            goto out;
        }
        const json_t *sv;
        size_t i;
        json_array_foreach(services, i, sv)
        {
            o.service = cli_jstr(sv, "name");
            if ((rc = check_one(st, &o, all, &mismatches)) != CLI_CONTINUE) goto out;
        }
        if (json_array_size(services) == 0) {
            cli_error("no feature service to check: give --features");
            rc = CLI_ERR;
            goto out;
        }
    }
    if (cli_flag(&a, "json")) {
        json_t *doc = json_pack("{s:O, s:I}", "checks", all, "mismatch_count", (json_int_t)mismatches);
        cli_json_print(doc);
        json_decref(doc);
    } else {
        const json_t *c;
        size_t i;
        json_array_foreach(all, i, c)
        {
            const char *svc = cli_jstr(c, "service");
            printf("%s at %s: %" JSON_INTEGER_FORMAT " entities, %" JSON_INTEGER_FORMAT
                   " values compared, %" JSON_INTEGER_FORMAT " mismatches\n",
                   svc ? svc : "features", cli_jstr(c, "now"),
                   json_integer_value(json_object_get(c, "sampled")),
                   json_integer_value(json_object_get(c, "compared")),
                   json_integer_value(json_object_get(c, "mismatch_count")));
            const json_t *m;
            size_t k;
            json_array_foreach(json_object_get(c, "mismatches"), k, m)
            {
                char *ent = json_dumps(json_object_get(m, "entity"), JSON_COMPACT);
                printf("  %s %s: online %s (%s), offline %s\n", ent ? ent : "?",
                       cli_jstr(m, "feature"), cli_jstr(m, "online"), cli_jstr(m, "status"),
                       cli_jstr(m, "offline"));
                free(ent);
            }
        }
    }
    rc = mismatches ? CLI_ERR : CLI_OK;
out:
    json_decref(services);
    json_decref(all);
    tess_free(text);
    free(list);
    free(refs);
    tess_store_close(st);
    return rc;
}
