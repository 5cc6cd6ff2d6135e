/* apply.c — `tessera apply`: validates the definitions and, if they differ from the registry's
 * latest version, records them as a new version (atomically: invalid definitions leave the
 * registry untouched). Prints the change list of plan and "Applied version N." or
 * "No changes; version N is current.". Then materializes (tess_materialize): views that are
 * new or changed are computed whole, the others brought up to date, unless --no-materialize.
 */
#include "cli/cli.h"

#include <string.h>

static int run_apply(const cli_command *cmd, int argc, char **argv);

static const cli_optspec apply_opts[] = {
    {"json", 0, NULL, 0, "print the result (the plan plus \"version\") as JSON"},
    {"no-materialize", 0, NULL, 0, "do not compute the online store's values"},
    {NULL, 0, NULL, 0, NULL},
};

const cli_command cli_cmd_apply = {
    .name = "apply",
    .summary = "Validate the definitions and record them as a new registry version.",
    .synopsis = "apply [--json]",
    .description =
        "Validates every definition file and, if anything changed since the latest version,\n"
        "records the definitions as a new version in the registry, atomically. Nothing is\n"
        "written unless everything validates; problems are printed as file:line:column: message\n"
        "and the exit status is 1.\n"
        "\n"
        "Then the online store is brought up to date (`tessera materialize`): a new or changed\n"
        "feature view is computed from the offline store, so that a registered feature is\n"
        "served at once. --no-materialize skips this.\n",
    .opts = apply_opts,
    .min_args = 0,
    .max_args = 0,
    .available = 1,
    .run = run_apply,
};

/* One line per view that materialization changed. */
static void print_materialized(const json_t *mat)
{
    const json_t *v;
    size_t i;
    json_array_foreach(json_object_get(mat, "views"), i, v)
    {
        json_int_t ev = json_integer_value(json_object_get(v, "events"));
        json_int_t ex = json_integer_value(json_object_get(v, "expired")); /* 0 if absent */
        const char *mode = cli_jstr(v, "mode");
        if (ev == 0 && ex == 0 && mode && strcmp(mode, "incremental") == 0) continue;
        printf("Materialized %s (%s): %" JSON_INTEGER_FORMAT " events of %" JSON_INTEGER_FORMAT
               " entities",
               cli_jstr(v, "view"), mode, ev, json_integer_value(json_object_get(v, "entities")));
        if (ex) printf(", expired %" JSON_INTEGER_FORMAT " records", ex);
        printf(".\n");
    }
}

static int run_apply(const cli_command *cmd, int argc, char **argv)
{
    cli_args a;
    int rc = cli_parse(cmd, argc, argv, &a);
    if (rc != CLI_CONTINUE) return rc;
    tess_store *st = NULL;
    char *text = NULL;
    json_t *doc = NULL;
    if ((rc = cli_open(&st)) != CLI_CONTINUE) goto out;
    int lrc = tess_apply(st, &text);
    if (lrc != TESS_OK) {
        rc = cli_fail(st, lrc, "apply failed");
        goto out;
    }
    rc = CLI_ERR;
    if (!(doc = cli_json_load(text))) goto out;
    const json_t *version = json_object_get(doc, "version");
    json_t *mat = NULL;
    if (json_is_integer(version) && !cli_flag(&a, "no-materialize")) {
        char *mtext = NULL;
        lrc = tess_materialize(st, NULL, &mtext);
        if (lrc != TESS_OK) {
            cli_fail(st, lrc, NULL);
            cli_error("version %" JSON_INTEGER_FORMAT " is applied, but the online store could "
                      "not be brought up to date: run 'tessera materialize'",
                      json_integer_value(version));
            goto out;
        }
        mat = cli_json_load(mtext);
        tess_free(mtext);
        if (!mat) goto out;
        json_object_set_new(doc, "materialized", mat);
    }
    if (cli_flag(&a, "json")) {
        rc = cli_json_print(doc);
        goto out;
    }
    if (!json_is_true(json_object_get(doc, "changes"))) {
        if (json_is_integer(version))
            printf("No changes; version %" JSON_INTEGER_FORMAT " is current.\n",
                   json_integer_value(version));
        else
            printf("No changes; nothing has been applied yet (the definitions are empty).\n");
        print_materialized(mat);
        rc = CLI_OK;
        goto out;
    }
    size_t n[3];
    cli_print_changes(doc, n);
    printf("\n%zu added, %zu changed, %zu removed.\n", n[0], n[1], n[2]);
    cli_sb svcs = {0};
    cli_affected_services(doc, &svcs);
    if (svcs.len) printf("Services affected: %s.\n", cli_sb_str(&svcs));
    cli_sb_release(&svcs);
    printf("Applied version %" JSON_INTEGER_FORMAT ".\n", json_integer_value(version));
    print_materialized(mat);
    rc = CLI_OK;
out:
    json_decref(doc);
    tess_free(text);
    tess_store_close(st);
    return rc;
}
