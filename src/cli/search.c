/* search.c — `tessera search TEXT... [--json]`: finds objects of the latest version whose name,
 * description, tags or owner contain every word of TEXT (case-insensitively), best first, as a
 * table KIND NAME OWNER DESCRIPTION. No match is an answer, not an error (exit 0).
 */
#include "cli/cli.h"

#include <string.h>

static int run_search(const cli_command *cmd, int argc, char **argv);

static const cli_optspec search_opts[] = {
    {"json", 0, NULL, 0, "print the registry's JSON array of matches"},
    {NULL, 0, NULL, 0, NULL},
};

const cli_command cli_cmd_search = {
    .name = "search",
    .summary = "Search names, descriptions, tags and owners of the catalog.",
    .synopsis = "search TEXT... [--json]",
    .description = "Every word of TEXT must match (case-insensitively) the name, description,\n"
                   "tags or owner of an object of the latest version. Best matches first.\n",
    .opts = search_opts,
    .min_args = 1,
    .max_args = -1,
    .available = 1,
    .run = run_search,
};

static int run_search(const cli_command *cmd, int argc, char **argv)
{
    cli_args a;
    int rc = cli_parse(cmd, argc, argv, &a);
    if (rc != CLI_CONTINUE) return rc;
    cli_sb words = {0};
    for (int i = 0; i < a.npos; i++)
        cli_sb_addf(&words, "%s%s", i ? " " : "", a.pos[i]);
    tess_store *st = NULL;
    char *text = NULL;
    json_t *doc = NULL;
    cli_table *t = NULL;
    if (words.len == 0 || strspn(cli_sb_str(&words), " \t\n") == words.len) {
        rc = cli_usage_error(cmd, "nothing to search for");
        goto out;
    }
    if ((rc = cli_open(&st)) != CLI_CONTINUE) goto out;
    int lrc = tess_catalog_search(st, cli_sb_str(&words), &text);
    if (lrc != TESS_OK) {
        rc = lrc == TESS_NOTFOUND ? cli_notfound(st, 0, NULL) : cli_fail(st, lrc, "cannot search");
        goto out;
    }
    if (cli_flag(&a, "json")) {
        rc = cli_json_print_text(text);
        goto out;
    }
    rc = CLI_ERR;
    if (!(doc = cli_json_load(text))) goto out;
    if (json_array_size(doc) == 0) {
        printf("No matches for \"%s\".\n", cli_sb_str(&words));
        rc = CLI_OK;
        goto out;
    }
    static const char *const headers[] = {"KIND", "NAME", "OWNER", "DESCRIPTION"};
    t = cli_table_new(4, headers);
    cli_table_limit(t, 3, CLI_DESC_WIDTH);
    size_t i;
    json_t *o;
    json_array_foreach(doc, i, o)
    {
        const char *row[4] = {cli_jstr(o, "kind"), cli_jstr(o, "name"), cli_jstr(o, "owner"),
                              cli_jstr(o, "description")};
        cli_table_add(t, row);
    }
    cli_table_print(t, stdout, "");
    rc = CLI_OK;
out:
    cli_table_free(t);
    json_decref(doc);
    tess_free(text);
    tess_store_close(st);
    cli_sb_release(&words);
    return rc;
}
