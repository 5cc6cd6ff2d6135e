/* ls.c — `tessera ls [KIND] [--version N] [--json]`: lists the registry's objects of one kind,
 * or of every kind grouped by kind, as aligned tables: NAME, the kind's own columns, OWNER and
 * DESCRIPTION. KIND is singular or plural: entities, sources, views, features, on-demand,
 * services (and the long forms feature-views, on-demand-features, feature-services).
 */
#include "cli/cli.h"

#include <string.h>

/* The kind's own columns of one object, appended to cells (at most 3). */
typedef void (*extra_fn)(const json_t *o, cli_sb *cells);

static void count_of(cli_sb *cell, const json_t *arr)
{
    if (json_is_array(arr)) cli_sb_addf(cell, "%zu", json_array_size(arr));
}

static void entity_cols(const json_t *o, cli_sb *c)
{
    cli_jtext(&c[0], json_object_get(o, "join_keys"));
}

static void source_cols(const json_t *o, cli_sb *c)
{
    cli_sb_add(&c[0], cli_jstr(o, "type"));
    if (*cli_jstr(o, "path"))
        cli_sb_add(&c[1], cli_jstr(o, "path"));
    else if (*cli_jstr(o, "batch_source"))
        cli_sb_addf(&c[1], "(kept in %s)", cli_jstr(o, "batch_source"));
}

static void view_cols(const json_t *o, cli_sb *c)
{
    cli_jtext(&c[0], json_object_get(o, "entities"));
    cli_sb_add(&c[1], cli_jstr(o, "source"));
    count_of(&c[2], json_object_get(o, "features"));
}

static void feature_cols(const json_t *o, cli_sb *c)
{
    cli_sb_add(&c[0], cli_jstr(o, "type"));
}

static void service_cols(const json_t *o, cli_sb *c)
{
    const json_t *f = json_object_get(o, "resolved");
    count_of(&c[0], json_is_array(f) ? f : json_object_get(o, "features"));
}

static const struct kind {
    const char *api;   /* tess_catalog_list's kind */
    const char *title; /* section title */
    const char *names[7];
    const char *extra[3];
    extra_fn cols;
} kinds[] = {
    {"entities", "Entities", {"entities", "entity"}, {"JOIN_KEYS"}, entity_cols},
    {"sources", "Sources", {"sources", "source"}, {"TYPE", "PATH"}, source_cols},
    {"views",
     "Feature views",
     {"views", "view", "feature-views", "feature-view", "feature_views", "feature_view"},
     {"ENTITIES", "SOURCE", "FEATURES"},
     view_cols},
    {"features", "Features", {"features", "feature"}, {"TYPE"}, feature_cols},
    {"on_demand_features",
     "On-demand features",
     {"on-demand", "on_demand", "on-demand-features", "on-demand-feature", "on_demand_features",
      "on_demand_feature"},
     {"TYPE"},
     feature_cols},
    {"services",
     "Feature services",
     {"services", "service", "feature-services", "feature-service", "feature_services",
      "feature_service"},
     {"FEATURES"},
     service_cols},
};

#define NKINDS (sizeof kinds / sizeof kinds[0])

static const struct kind *find_kind(const char *s)
{
    for (size_t k = 0; k < NKINDS; k++)
        for (size_t i = 0; i < 7 && kinds[k].names[i]; i++)
            if (strcmp(kinds[k].names[i], s) == 0) return &kinds[k];
    return NULL;
}

/* A feature's display name: "view:feature". */
static void object_name(const json_t *o, cli_sb *out)
{
    const char *name = cli_jstr(o, "name"), *view = cli_jstr(o, "view");
    if (*view && !strchr(name, ':')) cli_sb_addf(out, "%s:", view);
    cli_sb_add(out, name);
}

static void print_table(const struct kind *k, const json_t *objs, const char *indent)
{
    const char *headers[6] = {"NAME"};
    int ncols = 1, nextra = 0;
    while (nextra < 3 && k->extra[nextra])
        headers[ncols++] = k->extra[nextra++];
    headers[ncols++] = "OWNER";
    headers[ncols++] = "DESCRIPTION";
    cli_table *t = cli_table_new(ncols, headers);
    cli_table_limit(t, ncols - 1, CLI_DESC_WIDTH);
    size_t i;
    json_t *o;
    json_array_foreach(objs, i, o)
    {
        cli_sb cells[6] = {{0}};
        const char *row[6];
        object_name(o, &cells[0]);
        k->cols(o, &cells[1]);
        cli_sb_add(&cells[ncols - 2], cli_jstr(o, "owner"));
        cli_sb_add(&cells[ncols - 1], cli_jstr(o, "description"));
        for (int c = 0; c < ncols; c++)
            row[c] = cli_sb_str(&cells[c]);
        cli_table_add(t, row);
        for (int c = 0; c < ncols; c++)
            cli_sb_release(&cells[c]);
    }
    cli_table_print(t, stdout, indent);
    cli_table_free(t);
}

static int run_ls(const cli_command *cmd, int argc, char **argv);

static const cli_optspec ls_opts[] = {
    {"version", 0, "N", 1, "list registry version N (default: the latest)"},
    {"json", 0, NULL, 0, "print the registry's JSON array of objects"},
    {NULL, 0, NULL, 0, NULL},
};

const cli_command cli_cmd_ls = {
    .name = "ls",
    .summary = "List entities, sources, views, features, on-demand features, services.",
    .synopsis = "ls [KIND] [--version N] [--json]",
    .description =
        "KIND is one of: entities, sources, views, features, on-demand, services (singular\n"
        "forms too). Without KIND, every object is listed, grouped by kind.\n",
    .opts = ls_opts,
    .min_args = 0,
    .max_args = 1,
    .available = 1,
    .run = run_ls,
};

static int run_ls(const cli_command *cmd, int argc, char **argv)
{
    cli_args a;
    int rc = cli_parse(cmd, argc, argv, &a);
    if (rc != CLI_CONTINUE) return rc;
    const struct kind *kind = NULL;
    if (a.npos) {
        kind = find_kind(a.pos[0]);
        if (!kind) {
            const char *cands[NKINDS * 7];
            size_t n = 0;
            for (size_t k = 0; k < NKINDS; k++)
                for (size_t i = 0; i < 7 && kinds[k].names[i]; i++)
                    cands[n++] = kinds[k].names[i];
            const char *best = cli_suggest(a.pos[0], cands, n);
            if (best)
                return cli_usage_error(cmd, "unknown kind '%s' (did you mean '%s'?)", a.pos[0],
                                       best);
            return cli_usage_error(cmd,
                                   "unknown kind '%s' (expected entities, sources, views, "
                                   "features, on-demand or services)",
                                   a.pos[0]);
        }
    }
    int64_t version = cli_opt_int(&a, "version", 0);
    tess_store *st = NULL;
    char *text = NULL;
    json_t *doc = NULL;
    if ((rc = cli_open(&st)) != CLI_CONTINUE) goto out;
    if (cli_flag(&a, "json") || kind) {
        int lrc = tess_catalog_list(st, kind ? kind->api : NULL, version, &text);
        if (lrc != TESS_OK) {
            rc = lrc == TESS_NOTFOUND ? cli_notfound(st, version, NULL)
                                      : cli_fail(st, lrc, "cannot list the registry");
            goto out;
        }
        if (cli_flag(&a, "json")) {
            rc = cli_json_print_text(text);
            goto out;
        }
        rc = CLI_ERR;
        if (!(doc = cli_json_load(text))) goto out;
        if (json_array_size(doc) == 0)
            printf("No %c%s.\n", (char)(kind->title[0] - 'A' + 'a'), kind->title + 1);
        else
            print_table(kind, doc, "");
        rc = CLI_OK;
        goto out;
    }
    for (size_t k = 0; k < NKINDS; k++) {
        int lrc = tess_catalog_list(st, kinds[k].api, version, &text);
        if (lrc != TESS_OK) {
            rc = lrc == TESS_NOTFOUND ? cli_notfound(st, version, NULL)
                                      : cli_fail(st, lrc, "cannot list the registry");
            goto out;
        }
        rc = CLI_ERR;
        if (!(doc = cli_json_load(text))) goto out;
        printf("%s%s (%zu)\n", k ? "\n" : "", kinds[k].title, json_array_size(doc));
        if (json_array_size(doc))
            print_table(&kinds[k], doc, "  ");
        else
            printf("  (none)\n");
        json_decref(doc);
        doc = NULL;
        tess_free(text);
        text = NULL;
    }
    rc = CLI_OK;
out:
    json_decref(doc);
    tess_free(text);
    tess_store_close(st);
    return rc;
}
