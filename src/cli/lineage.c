/* lineage.c — `tessera lineage NAME [--json]`: where an object comes from (upstream: sources,
 * entities, views, features it is computed from) and what depends on it (downstream: features,
 * on-demand features, services), as two indented trees built from the lineage edges.
 *
 * The graph is a DAG, so a node can be reached twice: its subtree is printed once, and later
 * occurrences say "(see above)". Depth is bounded, so even a damaged registry with a cycle
 * prints a finite tree.
 */
#include "cli/cli.h"

#include <string.h>

#define MAX_DEPTH 32

static int same_node(const json_t *a, const json_t *b)
{
    return strcmp(cli_jstr(a, "name"), cli_jstr(b, "name")) == 0 &&
           strcmp(cli_jstr(a, "kind"), cli_jstr(b, "kind")) == 0;
}

static int node_in(const json_t *list, const json_t *node)
{
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e)
    {
        if (same_node(e, node)) return 1;
    }
    return 0;
}

/* Prints the children of `node`: along edges from it (down) or into it (up). */
static void print_tree(const json_t *edges, const json_t *node, int down, int depth,
                       json_t *expanded)
{
    const char *near = down ? "from" : "to", *far = down ? "to" : "from";
    size_t i;
    json_t *e;
    json_array_foreach(edges, i, e)
    {
        const json_t *child = json_object_get(e, far);
        if (!same_node(json_object_get(e, near), node) || !json_is_object(child)) continue;
        printf("%*s%s %s", 2 * depth, "", cli_jstr(child, "kind"), cli_jstr(child, "name"));
        int has_children = 0;
        size_t j;
        json_t *f;
        json_array_foreach(edges, j, f)
        {
            has_children |= same_node(json_object_get(f, near), child);
        }
        if (has_children && node_in(expanded, child)) {
            printf("  (see above)\n");
            continue;
        }
        if (has_children && depth >= MAX_DEPTH) {
            printf("  ...\n");
            continue;
        }
        putchar('\n');
        if (has_children) {
            json_array_append(expanded, (json_t *)child);
            print_tree(edges, child, down, depth + 1, expanded);
        }
    }
}

/* Without edges: the list, indented by depth. */
static void print_list(const json_t *list)
{
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e)
    {
        json_int_t d = json_integer_value(json_object_get(e, "depth"));
        if (d < 1) d = 1;
        if (d > MAX_DEPTH) d = MAX_DEPTH;
        printf("%*s%s %s\n", 2 * (int)d, "", cli_jstr(e, "kind"), cli_jstr(e, "name"));
    }
}

static void print_side(const json_t *doc, const char *key, const char *title, int down)
{
    const json_t *list = json_object_get(doc, key), *edges = json_object_get(doc, "edges");
    printf("%s\n", title);
    if (json_array_size(list) == 0) {
        printf("  (nothing)\n");
        return;
    }
    if (json_array_size(edges) == 0) {
        print_list(list);
        return;
    }
    json_t *expanded = json_array();
    if (!expanded) return;
    print_tree(edges, doc, down, 1, expanded);
    json_decref(expanded);
}

static int run_lineage(const cli_command *cmd, int argc, char **argv);

static const cli_optspec lineage_opts[] = {
    {"json", 0, NULL, 0, "print the registry's lineage document"},
    {NULL, 0, NULL, 0, NULL},
};

const cli_command cli_cmd_lineage = {
    .name = "lineage",
    .summary = "Show what an object is built from and what depends on it.",
    .synopsis = "lineage NAME [--json]",
    .description = "Upstream: the sources, entities, views and features NAME is computed from.\n"
                   "Downstream: the features, on-demand features and services that use it.\n",
    .opts = lineage_opts,
    .min_args = 1,
    .max_args = 1,
    .available = 1,
    .run = run_lineage,
};

static int run_lineage(const cli_command *cmd, int argc, char **argv)
{
    cli_args a;
    int rc = cli_parse(cmd, argc, argv, &a);
    if (rc != CLI_CONTINUE) return rc;
    const char *name = a.pos[0];
    tess_store *st = NULL;
    char *text = NULL;
    json_t *doc = NULL;
    if (!*name) return cli_usage_error(cmd, "the name is empty");
    if ((rc = cli_open(&st)) != CLI_CONTINUE) goto out;
    int lrc = tess_catalog_lineage(st, name, &text);
    if (lrc != TESS_OK) {
        rc = lrc == TESS_NOTFOUND ? cli_notfound(st, 0, name)
                                  : cli_fail(st, lrc, "cannot read the lineage");
        goto out;
    }
    if (cli_flag(&a, "json")) {
        rc = cli_json_print_text(text);
        goto out;
    }
    rc = CLI_ERR;
    if (!(doc = cli_json_load(text))) goto out;
    printf("%s %s\n\n", cli_jstr(doc, "kind"), cli_jstr(doc, "name"));
    print_side(doc, "upstream", "Upstream (what it is built from):", 0);
    print_side(doc, "downstream", "\nDownstream (what uses it):", 1);
    rc = CLI_OK;
out:
    json_decref(doc);
    tess_free(text);
    tess_store_close(st);
    return rc;
}
