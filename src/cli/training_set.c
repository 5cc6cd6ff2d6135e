/* training_set.c — `tessera training-set (--service S | --features f,...) --labels FILE -o OUT
 * [--timestamp-column C] [--full-feature-names] [--json]`: a point-in-time correct training
 * set (DESIGN.md, "Time semantics": offline, t is each label row's timestamp). */
#include "cli/cli.h"

#include <string.h>

static int run_training_set(const cli_command *cmd, int argc, char **argv);

static const cli_optspec ts_opts[] = {
    {"service", 's', "NAME", 0, "the feature service whose features to compute"},
    {"features", 0, "LIST", 0, "comma-separated view:feature, view:* or on-demand names"},
    {"labels", 'l', "FILE", 0, "the label rows: join keys, a timestamp, any other columns"},
    {"output", 'o', "FILE", 0, "where to write the training set (CSV, or .jsonl)"},
    {"timestamp-column", 0, "NAME", 0, "the labels' timestamp column (default event_timestamp)"},
    {"full-feature-names", 0, NULL, 0, "name feature columns view__feature"},
    {"json", 0, NULL, 0, "print the result summary as JSON"},
    {NULL, 0, NULL, 0, NULL},
};

const cli_command cli_cmd_training_set = {
    .name = "training-set",
    .summary = "Build a point-in-time correct training set.",
    .synopsis = "training-set (--service NAME | --features LIST) --labels FILE -o FILE "
                "[--timestamp-column NAME] [--full-feature-names] [--json]",
    .description =
        "For every label row, computes each feature as of the row's timestamp from the\n"
        "offline store: no value from the future leaks in. Label rows keep their order and\n"
        "every column; one column is added per feature. Formats by extension: .jsonl/.json\n"
        "for JSON Lines, anything else CSV.\n",
    .opts = ts_opts,
    .min_args = 0,
    .max_args = 0,
    .available = 1,
    .run = run_training_set,
};

static int run_training_set(const cli_command *cmd, int argc, char **argv)
{
    cli_args a;
    int rc = cli_parse(cmd, argc, argv, &a);
    if (rc != CLI_CONTINUE) return rc;
    const char *service = cli_opt(&a, "service"), *features = cli_opt(&a, "features");
    const char *labels = cli_opt(&a, "labels"), *output = cli_opt(&a, "output");
    if (!service == !features)
        return cli_usage_error(cmd, "give exactly one of --service and --features");
    if (!labels) return cli_usage_error(cmd, "--labels FILE is required");
    if (!output) return cli_usage_error(cmd, "-o/--output FILE is required");

    tess_store *st = NULL;
    char *text = NULL, *list = NULL;
    const char **refs = NULL;
    json_t *doc = NULL;
    tess_training_opts o = {0};
    o.service = service;
    o.labels_path = labels;
    o.output_path = output;
    o.timestamp_column = cli_opt(&a, "timestamp-column");
    o.full_feature_names = cli_flag(&a, "full-feature-names");
    if (features) {
        if ((rc = cli_features_list(cmd, features, &list, &refs, &o.nfeatures)) != CLI_CONTINUE)
            goto out;
        o.features = refs;
    }
    if ((rc = cli_open(&st)) != CLI_CONTINUE) goto out;
    int lrc = tess_training_set(st, &o, &text);
    if (lrc != TESS_OK) {
        rc = cli_fail(st, lrc, "cannot build the training set");
        goto out;
    }
    if (cli_flag(&a, "json")) {
        rc = cli_json_print_text(text);
        goto out;
    }
    rc = CLI_ERR;
    if (!(doc = cli_json_load(text))) goto out;
    printf("Wrote %" JSON_INTEGER_FORMAT " rows with %zu feature columns to %s.\n",
           json_integer_value(json_object_get(doc, "rows")),
           json_array_size(json_object_get(doc, "features")), output);
    rc = CLI_OK;
out:
    json_decref(doc);
    tess_free(text);
    free(refs);
    free(list);
    tess_store_close(st);
    return rc;
}
