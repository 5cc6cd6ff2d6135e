/* init.c — `tessera init [DIR] [--project NAME]`: creates a new feature repo with a small,
 * working example: tessera.yaml, features.yaml (an entity, a batch source over data/events.csv,
 * a push source, a feature view with row-level and window features, an on-demand feature and a
 * feature service) and data/events.csv, so that `tessera plan` and `tessera apply` work at once.
 *
 * It never overwrites: if any of the files exists, nothing is written. Files are created with
 * O_EXCL; if writing one fails, the files created so far are removed again.
 */
#include "cli/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char features_yaml[] =
    "# Example definitions written by `tessera init` (the format: DESIGN.md, \"Definition\n"
    "# files\"). Edit them, then `tessera plan` shows what would change and `tessera apply`\n"
    "# records a new version in the registry.\n"
    "\n"
    "entities:\n"
    "  - name: user\n"
    "    join_keys: [user_id]\n"
    "    description: A customer account\n"
    "\n"
    "sources:\n"
    "  - name: events\n"
    "    type: batch\n"
    "    path: data/events.csv\n"
    "    timestamp: ts\n"
    "    schema: {user_id: int64, amount: float64, category: string, ts: timestamp}\n"
    "    description: Purchases of users (example data written by tessera init)\n"
    "  - name: events_live\n"
    "    type: push\n"
    "    batch_source: events             # pushed rows are also kept in the offline store\n"
    "    description: Purchases pushed as they happen\n"
    "\n"
    "feature_views:\n"
    "  - name: user_purchases\n"
    "    entities: [user]\n"
    "    source: events\n"
    "    ttl: 30d                          # row-level values older than this are null\n"
    "    hop: 1h                           # tile size of the window aggregates\n"
    "    owner: data-team\n"
    "    tags: {domain: shop}\n"
    "    description: Purchase behaviour of a user\n"
    "    features:\n"
    "      - {name: last_amount, expr: amount}\n"
    "      - {name: last_category, expr: \"lower(category)\"}\n"
    "      - {name: amount_cents, expr: \"cast(amount * 100, int64)\"}\n"
    "      - {name: purchases_1d, agg: count, window: 1d}\n"
    "      - {name: amount_sum_7d, agg: sum, expr: amount, window: 7d}\n"
    "      - {name: big_purchases_30d, agg: count, where: \"amount > 100\", window: 30d}\n"
    "      - {name: amount_mean, agg: mean, expr: amount}       # no window: lifetime\n"
    "\n"
    "on_demand_features:\n"
    "  - name: amount_vs_mean\n"
    "    inputs: {features: [\"user_purchases:amount_mean\"], request: {amount: float64}}\n"
    "    expr: \"amount / amount_mean\"\n"
    "    description: Amount of the current purchase relative to the user's mean\n"
    "\n"
    "feature_services:\n"
    "  - name: purchase_model_v1\n"
    "    owner: data-team\n"
    "    description: Features of the example purchase model\n"
    "    features: [\"user_purchases:purchases_1d\", \"user_purchases:amount_sum_7d\",\n"
    "               \"user_purchases:big_purchases_30d\", amount_vs_mean]\n";

static int run_init(const cli_command *cmd, int argc, char **argv);

static const cli_optspec init_opts[] = {
    {"project", 'p', "NAME", 0, "the project's name (default: the directory's name)"},
    {NULL, 0, NULL, 0, NULL},
};

const cli_command cli_cmd_init = {
    .name = "init",
    .summary = "Create a new feature repo with a small working example.",
    .synopsis = "init [DIR] [--project NAME]",
    .description =
        "Creates DIR (default: the current directory) if needed and writes tessera.yaml,\n"
        "features.yaml and data/events.csv: an entity, a batch and a push source, a feature\n"
        "view with row-level and window features, an on-demand feature and a feature service.\n"
        "Refuses to overwrite any existing file. Then run 'tessera plan' and 'tessera apply'.\n"
        "Project names use letters, digits, '_' and '-'.\n",
    .opts = init_opts,
    .min_args = 0,
    .max_args = 1,
    .available = 1,
    .run = run_init,
};

static int valid_project(const char *s)
{
    if (!*s || strlen(s) > 64) return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '-'))
            return 0;
    return 1;
}

/* The default project name: the directory's own name, reduced to [A-Za-z0-9_-]. */
static void default_project(cli_sb *out)
{
    char cwd[4096];
    const char *base = getcwd(cwd, sizeof cwd) ? strrchr(cwd, '/') : NULL;
    base = base ? base + 1 : "";
    for (const char *p = base; *p && out->len < 64; p++) {
        char c = *p;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '_' || c == '-';
        cli_sb_addn(out, ok ? &c : "_", 1);
    }
    if (!valid_project(cli_sb_str(out)) || strspn(cli_sb_str(out), "_") == out->len) {
        out->len = 0;
        cli_sb_add(out, "features");
    }
}

/* mkdir -p */
static int make_dirs(const char *dir)
{
    cli_sb sb = {0};
    int rc = CLI_CONTINUE;
    cli_sb_add(&sb, dir);
    for (size_t i = 1; i <= sb.len; i++) {
        if (sb.p[i] != '/' && sb.p[i] != '\0') continue;
        char saved = sb.p[i];
        sb.p[i] = '\0';
        struct stat s;
        if (mkdir(sb.p, 0777) != 0 && errno != EEXIST) {
            cli_error("cannot create directory '%s': %s", sb.p, strerror(errno));
            rc = CLI_ERR;
        } else if (stat(sb.p, &s) != 0 || !S_ISDIR(s.st_mode)) {
            cli_error("'%s' exists and is not a directory", sb.p);
            rc = CLI_ERR;
        }
        sb.p[i] = saved;
        if (rc != CLI_CONTINUE) break;
    }
    cli_sb_release(&sb);
    return rc;
}

static int write_file(const char *path, const char *text, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0666);
    if (fd < 0) {
        cli_error("cannot create '%s': %s", path, strerror(errno));
        return CLI_ERR;
    }
    size_t off = 0;
    while (off < n) {
        ssize_t w = write(fd, text + off, n - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            cli_error("cannot write '%s': %s", path, strerror(errno));
            close(fd);
            unlink(path);
            return CLI_ERR;
        }
        off += (size_t)w;
    }
    if (close(fd) != 0) {
        cli_error("cannot write '%s': %s", path, strerror(errno));
        unlink(path);
        return CLI_ERR;
    }
    return CLI_CONTINUE;
}

/* A few dozen purchases of five users over three weeks of March 2024, deterministic. */
static void events_csv(cli_sb *sb)
{
    static const char *const categories[] = {"Groceries", "Travel", "Electronics", "Books"};
    cli_sb_add(sb, "user_id,amount,category,ts\n");
    for (int i = 0; i < 40; i++) {
        int user = 1 + (i * 7) % 5;
        int cents = ((i * 37) % 100) * 350 + 499 + (i % 3) * 1000;
        cli_sb_addf(sb, "%d,%d.%02d,%s,2024-03-%02dT%02d:%02d:00Z\n", user, cents / 100,
                    cents % 100, categories[(i * 3) % 4], 1 + i / 2, (i * 5) % 24, (i * 13) % 60);
    }
}

static int run_init(const cli_command *cmd, int argc, char **argv)
{
    cli_args a;
    int rc = cli_parse(cmd, argc, argv, &a);
    if (rc != CLI_CONTINUE) return rc;
    const char *dir = a.npos ? a.pos[0] : ".";
    const char *project = cli_opt(&a, "project");
    if (!*dir) return cli_usage_error(cmd, "the directory is empty");
    if (project && !valid_project(project))
        return cli_usage_error(cmd,
                               "invalid project name '%s' (use 1 to 64 letters, digits, '_' "
                               "or '-')",
                               project);

    static const char *const files[] = {"tessera.yaml", "features.yaml", "data/events.csv"};
    struct stat s;
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        cli_sb p = {0};
        cli_sb_addf(&p, "%s/%s", dir, files[i]);
        int exists = lstat(cli_sb_str(&p), &s) == 0;
        if (exists)
            cli_error("%s already exists; tessera init never overwrites a file%s", cli_sb_str(&p),
                      i == 0 ? " (this is a feature repo already)" : "");
        cli_sb_release(&p);
        if (exists) return CLI_ERR;
    }

    cli_sb path = {0}, name = {0}, cfg = {0}, csv = {0};
    int created = 0;
    rc = CLI_ERR;
    cli_sb_addf(&path, "%s/data", dir);
    if (make_dirs(cli_sb_str(&path)) != CLI_CONTINUE || cli_chdir(dir) != CLI_CONTINUE) goto out;
    if (project)
        cli_sb_add(&name, project);
    else
        default_project(&name);
    cli_sb_addf(&cfg,
                "# Tessera feature repo (DESIGN.md, \"Definition files\").\n"
                "project: %s\n"
                "store: .tessera            # store directory; the default back ends live "
                "inside it\n",
                cli_sb_str(&name));
    events_csv(&csv);
    if (write_file("tessera.yaml", cfg.p, cfg.len) != CLI_CONTINUE) goto out;
    created = 1;
    if (write_file("features.yaml", features_yaml, sizeof features_yaml - 1) != CLI_CONTINUE)
        goto out;
    created = 2;
    if (write_file("data/events.csv", csv.p, csv.len) != CLI_CONTINUE) goto out;
    created = 3;
    if (lstat(".gitignore", &s) != 0) (void)write_file(".gitignore", ".tessera/\n", 10);

    printf("Created feature repo \"%s\" in %s:\n"
           "  tessera.yaml      project configuration\n"
           "  features.yaml     example definitions\n"
           "  data/events.csv   example events (%d rows)\n"
           "\n"
           "Next: %s%s%stessera plan, then tessera apply.\n",
           cli_sb_str(&name), dir, 40, strcmp(dir, ".") ? "cd " : "", strcmp(dir, ".") ? dir : "",
           strcmp(dir, ".") ? ", " : "");
    rc = CLI_OK;
out:
    if (rc != CLI_OK) {
        /* Leave nothing half-written behind (the cwd is `dir` once anything was created). */
        for (int i = created - 1; i >= 0; i--)
            unlink(files[i]);
    }
    cli_sb_release(&path);
    cli_sb_release(&name);
    cli_sb_release(&cfg);
    cli_sb_release(&csv);
    return rc;
}
