/* plan.c — `tessera plan`: validates the definitions and shows, terraform-like, what `apply`
 * would change against the registry's latest version, and which feature services each change
 * or removal affects. Exit 0 whether or not there are changes; 1 on invalid definitions.
 *
 * The change-list rendering is shared with apply.c (cli_print_changes).
 */
#include "cli/cli.h"

#include <string.h>

/* The services affected by a change of (kind, name), joined with ", ". */
static void services_of(const json_t *plan, const char *kind, const char *name, cli_sb *out)
{
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(plan, "affected_services"), i, e)
    {
        if (strcmp(cli_jstr(e, "name"), name) != 0 || strcmp(cli_jstr(e, "kind"), kind) != 0)
            continue;
        cli_jtext(out, json_object_get(e, "services"));
    }
}

void cli_affected_services(const json_t *plan, cli_sb *out)
{
    size_t i, j;
    json_t *e, *s;
    /* Unique names in order of first appearance (plans are small: quadratic is fine). */
    json_t *seen = json_array();
    if (!seen) return;
    json_array_foreach(json_object_get(plan, "affected_services"), i, e)
    {
        json_array_foreach(json_object_get(e, "services"), j, s)
        {
            const char *svc = json_string_value(s);
            size_t k;
            json_t *t;
            int dup = 0;
            if (!svc) continue;
            json_array_foreach(seen, k, t)
            {
                dup |= strcmp(json_string_value(t), svc) == 0;
            }
            if (dup) continue;
            json_array_append(seen, s);
            cli_sb_addf(out, "%s%s", out->len ? ", " : "", svc);
        }
    }
    json_decref(seen);
}

void cli_print_changes(const json_t *plan, size_t counts[3])
{
    static const char *const keys[3] = {"added", "changed", "removed"};
    static const char marks[3] = {'+', '~', '-'};
    for (int g = 0; g < 3; g++) {
        size_t i;
        json_t *e;
        counts[g] = 0;
        json_array_foreach(json_object_get(plan, keys[g]), i, e)
        {
            const char *kind = cli_jstr(e, "kind"), *name = cli_jstr(e, "name");
            cli_sb line = {0};
            cli_sb_addf(&line, "%c %s %s", marks[g], kind, name);
            const json_t *fields = json_object_get(e, "fields");
            if (json_array_size(fields) > 0) {
                cli_sb_add(&line, " (");
                cli_jtext(&line, fields);
                cli_sb_add(&line, ")");
            }
            puts(cli_sb_str(&line));
            cli_sb_release(&line);
            if (g > 0) {
                cli_sb svcs = {0};
                services_of(plan, kind, name, &svcs);
                if (svcs.len) printf("    affects %s\n", cli_sb_str(&svcs));
                cli_sb_release(&svcs);
            }
            counts[g]++;
        }
    }
}

static int run_plan(const cli_command *cmd, int argc, char **argv);

static const cli_optspec plan_opts[] = {
    {"json", 0, NULL, 0, "print the plan as JSON"},
    {NULL, 0, NULL, 0, NULL},
};

const cli_command cli_cmd_plan = {
    .name = "plan",
    .summary = "Show what apply would change, and which services it affects.",
    .synopsis = "plan [--json]",
    .description =
        "Reads and validates every definition file of the repo and compares them with the\n"
        "registry's latest version. Lines start with + (added), ~ (changed, with the fields\n"
        "that changed) or - (removed); changed and removed objects name the feature services\n"
        "they affect. Exit status 0 with or without changes; 1 if the definitions are invalid\n"
        "(every problem is printed as file:line:column: message).\n",
    .opts = plan_opts,
    .min_args = 0,
    .max_args = 0,
    .available = 1,
    .run = run_plan,
};

static int run_plan(const cli_command *cmd, int argc, char **argv)
{
    cli_args a;
    int rc = cli_parse(cmd, argc, argv, &a);
    if (rc != CLI_CONTINUE) return rc;
    tess_store *st = NULL;
    char *text = NULL;
    json_t *doc = NULL;
    if ((rc = cli_open(&st)) != CLI_CONTINUE) goto out;
    int lrc = tess_plan(st, &text);
    if (lrc != TESS_OK) {
        rc = cli_fail(st, lrc, "cannot plan");
        goto out;
    }
    if (cli_flag(&a, "json")) {
        rc = cli_json_print_text(text);
        goto out;
    }
    rc = CLI_ERR;
    if (!(doc = cli_json_load(text))) goto out;
    const json_t *from = json_object_get(doc, "from_version");
    const char *project = tess_store_project(st) ? tess_store_project(st) : "";
    if (!json_is_true(json_object_get(doc, "changes"))) {
        if (json_is_integer(from))
            printf("No changes. The definitions match version %" JSON_INTEGER_FORMAT ".\n",
                   json_integer_value(from));
        else
            printf("No changes.\n");
        rc = CLI_OK;
        goto out;
    }
    if (json_is_integer(from))
        printf("Comparing the definitions with version %" JSON_INTEGER_FORMAT
               " of project \"%s\".\n\n",
               json_integer_value(from), project);
    else
        printf("Nothing applied yet in project \"%s\": everything is new.\n\n", project);
    size_t n[3];
    cli_print_changes(doc, n);
    printf("\nPlan: %zu to add, %zu to change, %zu to remove.\n", n[0], n[1], n[2]);
    cli_sb svcs = {0};
    cli_affected_services(doc, &svcs);
    if (svcs.len) printf("Services affected: %s.\n", cli_sb_str(&svcs));
    cli_sb_release(&svcs);
    printf("Run 'tessera apply' to apply these changes.\n");
    rc = CLI_OK;
out:
    json_decref(doc);
    tess_free(text);
    tess_store_close(st);
    return rc;
}
