/* describe.c — `tessera describe NAME [--version N] [--json]`: one registry object in full —
 * kind, owner, description, tags, its own fields (schema, join keys, features with their types
 * and definitions, ...), what it uses (upstream) and what uses it (downstream).
 *
 * The rendering is driven by the JSON document of tess_catalog_describe: known fields first in
 * a fixed order, then every other field as the library sent it, so that fields added to the
 * registry later show up without a change here.
 */
#include "cli/cli.h"

#include <string.h>

#define LABEL_WIDTH 19 /* "created timestamp:" and a space */

/* "used_by:" padded to the value column, or followed by a newline when the value is a block. */
static void print_label(const char *key, int block)
{
    cli_sb sb = {0};
    for (const char *p = key; *p; p++)
        cli_sb_addn(&sb, *p == '_' ? " " : p, 1);
    cli_sb_add(&sb, ":");
    if (block)
        printf("  %s\n", cli_sb_str(&sb));
    else
        printf("  %-*s", LABEL_WIDTH, cli_sb_str(&sb));
    cli_sb_release(&sb);
}

/* How a feature is computed: "amount", "sum(amount) over 7d", "count(*) where amount > 1000
 * over 30d", "mean(amount) over lifetime". */
static void feature_definition(const json_t *f, cli_sb *out)
{
    const char *agg = cli_jstr(f, "agg"), *expr = cli_jstr(f, "expr");
    if (!*agg) {
        cli_sb_add(out, expr);
        return;
    }
    cli_sb_addf(out, "%s(%s)", agg, *expr ? expr : "*");
    if (*cli_jstr(f, "where")) cli_sb_addf(out, " where %s", cli_jstr(f, "where"));
    cli_sb_addf(out, " over %s", *cli_jstr(f, "window") ? cli_jstr(f, "window") : "lifetime");
}

/* An array of objects with names (features, schema, ...) as an indented table. */
static void print_object_list(const json_t *arr)
{
    static const char *const headers[] = {"NAME", "TYPE", "DEFINITION", "DESCRIPTION"};
    int has_def = 0, has_desc = 0;
    size_t i;
    json_t *o;
    json_array_foreach(arr, i, o)
    {
        has_def |= *cli_jstr(o, "expr") || *cli_jstr(o, "agg");
        has_desc |= *cli_jstr(o, "description") != '\0';
    }
    const char *hdr[4] = {headers[0], headers[1]};
    int ncols = 2;
    if (has_def) hdr[ncols++] = headers[2];
    if (has_desc) hdr[ncols++] = headers[3];
    cli_table *t = cli_table_new(ncols, hdr);
    if (has_desc) cli_table_limit(t, ncols - 1, CLI_DESC_WIDTH);
    json_array_foreach(arr, i, o)
    {
        cli_sb def = {0};
        const char *row[4] = {cli_jstr(o, "name"), cli_jstr(o, "type")};
        int c = 2;
        feature_definition(o, &def);
        if (has_def) row[c++] = cli_sb_str(&def);
        if (has_desc) row[c++] = cli_jstr(o, "description");
        cli_table_add(t, row);
        cli_sb_release(&def);
    }
    cli_table_print(t, stdout, "    ");
    cli_table_free(t);
}

/* Every element is an object with a string "name". */
static int is_named_object_list(const json_t *v)
{
    size_t i;
    json_t *o;
    if (!json_is_array(v) || json_array_size(v) == 0) return 0;
    json_array_foreach(v, i, o)
    {
        if (!json_is_string(json_object_get(o, "name"))) return 0;
    }
    return 1;
}

/* Every element is a reference to a registry object: {"kind", "name"} (maybe "depth"). */
static int is_reference_list(const json_t *v)
{
    size_t i;
    json_t *o;
    if (!is_named_object_list(v)) return 0;
    json_array_foreach(v, i, o)
    {
        const char *key;
        json_t *f;
        json_object_foreach(o, key, f)
        {
            if (strcmp(key, "kind") && strcmp(key, "name") && strcmp(key, "depth")) return 0;
        }
    }
    return 1;
}

static void print_field(const char *key, const json_t *v)
{
    if (!v || json_is_null(v) || (json_is_string(v) && json_string_length(v) == 0) ||
        (json_is_array(v) && json_array_size(v) == 0) ||
        (json_is_object(v) && json_object_size(v) == 0))
        return;
    /* Lists of named objects (schema, features, join keys, request fields) read best as a
     * table when they carry more than a name and a type, or are long. */
    if (is_named_object_list(v) && !is_reference_list(v)) {
        int rich = 0;
        size_t i;
        json_t *o;
        json_array_foreach(v, i, o)
        {
            rich |= json_object_size(o) > 2;
        }
        if (rich || json_array_size(v) > 3) {
            print_label(key, 1);
            print_object_list(v);
            return;
        }
    }
    /* Long lists and references to other objects: one item per line. */
    if (json_is_array(v) && (json_array_size(v) > 3 || is_reference_list(v))) {
        size_t i;
        json_t *e;
        print_label(key, 1);
        json_array_foreach(v, i, e)
        {
            cli_sb sb = {0};
            cli_jtext(&sb, e);
            printf("    %s\n", cli_sb_str(&sb));
            cli_sb_release(&sb);
        }
        return;
    }
    cli_sb sb = {0};
    cli_jtext(&sb, v);
    print_label(key, 0);
    printf("%s\n", cli_sb_str(&sb));
    cli_sb_release(&sb);
}

/* Fields shown after owner, description and tags, in this order (when present); every other
 * field follows in the document's order, then "uses" and "used_by". */
static const char *const ordered_keys[] = {
    "view",   "type",      "entities",          "join_keys", "source", "batch_source", "path",
    "format", "timestamp", "created_timestamp", "schema",    "ttl",    "hop",          "online",
    "online_expiry", "expr", "features",        "request",   "resolved", NULL,
};
/* Fields shown elsewhere (the heading, the fixed lines) or folded into the definition. */
static const char *const heading_keys[] = {"kind",    "name",        "version", "since_version",
                                           "owner",   "description", "tags",    "uses",
                                           "used_by", NULL};
static const char *const feature_keys[] = {"agg", "expr", "where", "window", "feature_kind", NULL};

static int listed(const char *key, const char *const *keys)
{
    for (; *keys; keys++)
        if (strcmp(*keys, key) == 0) return 1;
    return 0;
}

static void print_description(const json_t *doc)
{
    const char *key;
    json_t *v;
    int feature = strcmp(cli_jstr(doc, "kind"), "feature") == 0;

    printf("%s %s", cli_jstr(doc, "kind"), cli_jstr(doc, "name"));
    const json_t *ver = json_object_get(doc, "version"),
                 *since = json_object_get(doc, "since_version");
    if (json_is_integer(ver) && json_is_integer(since) &&
        json_integer_value(since) < json_integer_value(ver))
        printf("  (version %" JSON_INTEGER_FORMAT ", unchanged since version %" JSON_INTEGER_FORMAT
               ")",
               json_integer_value(ver), json_integer_value(since));
    else if (json_is_integer(ver))
        printf("  (version %" JSON_INTEGER_FORMAT ")", json_integer_value(ver));
    putchar('\n');
    for (int i = 0; i < 2; i++) {
        const char *k = i ? "description" : "owner";
        print_label(k, 0);
        printf("%s\n", *cli_jstr(doc, k) ? cli_jstr(doc, k) : "-");
    }
    print_field("tags", json_object_get(doc, "tags"));
    if (feature) {
        cli_sb def = {0};
        feature_definition(doc, &def);
        print_field("view", json_object_get(doc, "view"));
        print_field("type", json_object_get(doc, "type"));
        print_label("definition", 0);
        printf("%s\n", cli_sb_str(&def));
        cli_sb_release(&def);
    }
    const json_t *features = json_object_get(doc, "features");
    for (const char *const *k = ordered_keys; *k; k++) {
        if (feature && (listed(*k, feature_keys) || !strcmp(*k, "view") || !strcmp(*k, "type")))
            continue;
        v = json_object_get(doc, *k);
        if (!strcmp(*k, "resolved") && features && json_equal(v, (json_t *)features))
            continue; /* the service names every feature explicitly */
        print_field(*k, v);
    }
    json_object_foreach((json_t *)doc, key, v)
    {
        if (!listed(key, heading_keys) && !listed(key, ordered_keys) &&
            !(feature && listed(key, feature_keys)))
            print_field(key, v);
    }
    for (int i = 0; i < 2; i++) {
        const char *k = i ? "used_by" : "uses";
        v = json_object_get(doc, k);
        if (json_array_size(v) == 0) {
            print_label(k, 0);
            printf("(nothing)\n");
        } else {
            print_field(k, v);
        }
    }
}

static int run_describe(const cli_command *cmd, int argc, char **argv);

static const cli_optspec describe_opts[] = {
    {"version", 0, "N", 1, "describe the object as of registry version N (default: latest)"},
    {"json", 0, NULL, 0, "print the registry's JSON document"},
    {NULL, 0, NULL, 0, NULL},
};

const cli_command cli_cmd_describe = {
    .name = "describe",
    .summary = "Describe one object: its fields, features, what it uses and what uses it.",
    .synopsis = "describe NAME [--version N] [--json]",
    .description = "NAME is an entity, a source, a feature view, a feature (view:feature), an\n"
                   "on-demand feature or a feature service.\n",
    .opts = describe_opts,
    .min_args = 1,
    .max_args = 1,
    .available = 1,
    .run = run_describe,
};

static int run_describe(const cli_command *cmd, int argc, char **argv)
{
    cli_args a;
    int rc = cli_parse(cmd, argc, argv, &a);
    if (rc != CLI_CONTINUE) return rc;
    const char *name = a.pos[0];
    int64_t version = cli_opt_int(&a, "version", 0);
    tess_store *st = NULL;
    char *text = NULL;
    json_t *doc = NULL;
    if (!*name) return cli_usage_error(cmd, "the name is empty");
    if ((rc = cli_open(&st)) != CLI_CONTINUE) goto out;
    int lrc = tess_catalog_describe(st, name, version, &text);
    if (lrc != TESS_OK) {
        rc = lrc == TESS_NOTFOUND ? cli_notfound(st, version, name)
                                  : cli_fail(st, lrc, "cannot describe");
        goto out;
    }
    if (cli_flag(&a, "json")) {
        rc = cli_json_print_text(text);
        goto out;
    }
    rc = CLI_ERR;
    if (!(doc = cli_json_load(text))) goto out;
    print_description(doc);
    rc = CLI_OK;
out:
    json_decref(doc);
    tess_free(text);
    tess_store_close(st);
    return rc;
}
