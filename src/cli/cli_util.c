/* cli_util.c — option parsing, help and usage errors, error reporting, tables and JSON output
 * for the `tessera` command (declarations and conventions in cli.h).
 *
 * Option parsing is strict: an unknown option, a missing or unexpected value, a malformed
 * number or a wrong number of arguments is a usage error (exit 2) naming the problem, with a
 * suggestion when the input is close to something valid. Nothing here keeps global state.
 */
#include "cli/cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- memory and strings ---------------------------------------------------------------- */

static void out_of_memory(void)
{
    fputs("error: out of memory\n", stderr);
    exit(CLI_ERR);
}

void *cli_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) out_of_memory();
    return p;
}

void *cli_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) out_of_memory();
    return q;
}

char *cli_xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = cli_xmalloc(n);
    memcpy(p, s, n);
    return p;
}

static void sb_grow(cli_sb *sb, size_t more)
{
    if (sb->len + more + 1 <= sb->cap) return;
    size_t cap = sb->cap ? sb->cap : 64;
    while (cap < sb->len + more + 1)
        cap *= 2;
    sb->p = cli_xrealloc(sb->p, cap);
    sb->cap = cap;
}

void cli_sb_addn(cli_sb *sb, const char *s, size_t n)
{
    sb_grow(sb, n);
    memcpy(sb->p + sb->len, s, n);
    sb->len += n;
    sb->p[sb->len] = '\0';
}

void cli_sb_add(cli_sb *sb, const char *s)
{
    cli_sb_addn(sb, s, strlen(s));
}

void cli_sb_addf(cli_sb *sb, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    sb_grow(sb, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(sb->p + sb->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sb->len += (size_t)n;
}

const char *cli_sb_str(cli_sb *sb)
{
    return sb->p ? sb->p : "";
}

void cli_sb_release(cli_sb *sb)
{
    free(sb->p);
    sb->p = NULL;
    sb->len = sb->cap = 0;
}

/* ---- suggestions ----------------------------------------------------------------------- */

/* Levenshtein distance, capped: strings longer than 64 bytes are never "close". */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64) return (size_t)-1;
    size_t row[65];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            size_t best = diag + cost;
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

const char *cli_suggest(const char *word, const char *const *cands, size_t n)
{
    size_t limit = strlen(word) / 3;
    if (limit < 1) limit = 1;
    if (limit > 3) limit = 3;
    const char *best = NULL;
    size_t best_d = limit + 1;
    for (size_t i = 0; i < n; i++) {
        size_t d = edit_distance(word, cands[i]);
        if (d < best_d) {
            best = cands[i];
            best_d = d;
        }
    }
    return best;
}

/* ---- help and option parsing ----------------------------------------------------------- */

static const cli_optspec builtin_opts[] = {
    {"repo", 'C', "DIR", 0, "run in feature repo DIR (default: the current directory)"},
    {"help", 'h', NULL, 0, "show this help"},
    {NULL, 0, NULL, 0, NULL},
};

static size_t nopts(const cli_command *cmd)
{
    size_t n = 0;
    if (cmd->opts)
        while (cmd->opts[n].name)
            n++;
    return n;
}

static void opt_label(cli_sb *sb, const cli_optspec *o)
{
    if (o->short_name)
        cli_sb_addf(sb, "-%c, --%s", o->short_name, o->name);
    else
        cli_sb_addf(sb, "    --%s", o->name);
    if (o->arg) cli_sb_addf(sb, " %s", o->arg);
}

void cli_help(const cli_command *cmd, FILE *f)
{
    fprintf(f, "usage: tessera %s\n\n%s\n", cmd->synopsis, cmd->summary);
    if (cmd->description) fprintf(f, "\n%s", cmd->description);
    fputs("\nOptions:\n", f);
    const cli_optspec *lists[2] = {cmd->opts, builtin_opts};
    size_t width = 0;
    for (int l = 0; l < 2; l++)
        for (const cli_optspec *o = lists[l]; o && o->name; o++) {
            cli_sb sb = {0};
            opt_label(&sb, o);
            if (sb.len > width) width = sb.len;
            cli_sb_release(&sb);
        }
    for (int l = 0; l < 2; l++)
        for (const cli_optspec *o = lists[l]; o && o->name; o++) {
            cli_sb sb = {0};
            opt_label(&sb, o);
            fprintf(f, "  %-*s  %s\n", (int)width, cli_sb_str(&sb), o->help);
            cli_sb_release(&sb);
        }
}

int cli_usage_error(const cli_command *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "tessera %s: ", cmd->name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nusage: tessera %s\nTry 'tessera %s --help' for more information.\n",
            cmd->synopsis, cmd->name);
    return CLI_USAGE;
}

int cli_chdir(const char *dir)
{
    if (chdir(dir) != 0) {
        cli_error("cannot change to directory '%s': %s", dir, strerror(errno));
        return CLI_ERR;
    }
    return CLI_CONTINUE;
}

static int all_digits(const char *s)
{
    if (!*s) return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9') return 0;
    return 1;
}

/* Finds an option by long name (namelen bytes) or short name. Returns its index in cmd->opts,
 * -2 for --help, -3 for --repo, -1 if unknown. */
static int find_opt(const cli_command *cmd, const char *name, size_t namelen, char short_name)
{
    const cli_optspec *lists[2] = {cmd->opts, builtin_opts};
    for (int l = 0; l < 2; l++) {
        int i = 0;
        for (const cli_optspec *o = lists[l]; o && o->name; o++, i++) {
            int hit = name ? strlen(o->name) == namelen && memcmp(o->name, name, namelen) == 0
                           : short_name && o->short_name == short_name;
            if (!hit) continue;
            if (l == 0) return i;
            return strcmp(o->name, "help") == 0 ? -2 : -3;
        }
    }
    return -1;
}

static int unknown_option(const cli_command *cmd, const char *arg, const char *name, size_t namelen)
{
    const char *cands[CLI_MAX_OPTS + 2];
    size_t n = 0;
    const cli_optspec *lists[2] = {cmd->opts, builtin_opts};
    for (int l = 0; l < 2; l++)
        for (const cli_optspec *o = lists[l]; o && o->name && n < CLI_MAX_OPTS + 2; o++)
            cands[n++] = o->name;
    const char *best = NULL;
    if (name && namelen < 64) {
        char word[64];
        memcpy(word, name, namelen);
        word[namelen] = '\0';
        best = cli_suggest(word, cands, n);
    }
    if (best) return cli_usage_error(cmd, "unknown option '%s' (did you mean '--%s'?)", arg, best);
    return cli_usage_error(cmd, "unknown option '%s'", arg);
}

int cli_parse(const cli_command *cmd, int argc, char **argv, cli_args *a)
{
    const char *dirs[CLI_MAX_DIRS];
    int ndirs = 0;
    int only_pos = 0;

    memset(a, 0, sizeof *a);
    a->cmd = cmd;
    if (nopts(cmd) > CLI_MAX_OPTS) return cli_usage_error(cmd, "internal error: too many options");
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        if (only_pos || s[0] != '-' || s[1] == '\0') {
            if (a->npos == CLI_MAX_ARGS) return cli_usage_error(cmd, "too many arguments");
            a->pos[a->npos++] = s;
            continue;
        }
        if (strcmp(s, "--") == 0) {
            only_pos = 1;
            continue;
        }
        const char *name = NULL, *val = NULL;
        size_t namelen = 0;
        char shortc = 0;
        if (s[1] == '-') {
            name = s + 2;
            const char *eq = strchr(name, '=');
            namelen = eq ? (size_t)(eq - name) : strlen(name);
            val = eq ? eq + 1 : NULL;
        } else {
            shortc = s[1];
            val = s[2] ? s + 2 : NULL;
        }
        int idx = find_opt(cmd, name, namelen, shortc);
        if (idx == -1) return unknown_option(cmd, s, name, namelen);
        const cli_optspec *spec = idx >= 0 ? &cmd->opts[idx] : NULL;
        int takes_arg = idx == -3 || (spec && spec->arg);
        const char *label = idx >= 0 ? spec->name : idx == -2 ? "help" : "repo";
        if (!takes_arg && val)
            return cli_usage_error(cmd, "option '--%s' takes no value (got '%s')", label, s);
        if (takes_arg && !val) {
            if (i + 1 >= argc)
                return cli_usage_error(cmd, "option '--%s' needs a value (%s)", label,
                                       idx == -3 ? "DIR" : spec->arg);
            val = argv[++i];
        }
        if (idx == -2) {
            cli_help(cmd, stdout);
            return CLI_OK;
        }
        if (idx == -3) {
            if (!*val) return cli_usage_error(cmd, "option '--repo' needs a directory, got ''");
            if (ndirs == CLI_MAX_DIRS) return cli_usage_error(cmd, "too many -C options");
            dirs[ndirs++] = val;
            continue;
        }
        if (spec->positive_int) {
            errno = 0;
            long long v = all_digits(val) ? strtoll(val, NULL, 10) : 0;
            if (v <= 0 || errno == ERANGE)
                return cli_usage_error(cmd, "option '--%s' needs a positive integer, got '%s'",
                                       spec->name, val);
        }
        a->values[idx] = takes_arg ? val : "";
    }
    if (a->npos < cmd->min_args) return cli_usage_error(cmd, "missing argument");
    if (cmd->max_args >= 0 && a->npos > cmd->max_args)
        return cli_usage_error(cmd, "unexpected argument '%s'", a->pos[cmd->max_args]);
    for (int i = 0; i < ndirs; i++)
        if (cli_chdir(dirs[i]) != CLI_CONTINUE) return CLI_ERR;
    return CLI_CONTINUE;
}

const char *cli_opt(const cli_args *a, const char *name)
{
    int idx = find_opt(a->cmd, name, strlen(name), 0);
    return idx >= 0 ? a->values[idx] : NULL;
}

int cli_flag(const cli_args *a, const char *name)
{
    return cli_opt(a, name) != NULL;
}

int64_t cli_opt_int(const cli_args *a, const char *name, int64_t dflt)
{
    const char *v = cli_opt(a, name);
    return v ? (int64_t)strtoll(v, NULL, 10) : dflt;
}

/* ---- errors ---------------------------------------------------------------------------- */

static void print_prefixed(const char *msg)
{
    const char *p = msg;
    do {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        if (n || !nl) fprintf(stderr, "error: %.*s\n", (int)n, p);
        p = nl ? nl + 1 : NULL;
    } while (p && *p);
}

void cli_error(const char *fmt, ...)
{
    cli_sb sb = {0};
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n >= 0) {
        sb_grow(&sb, (size_t)n);
        va_start(ap, fmt);
        vsnprintf(sb.p, (size_t)n + 1, fmt, ap);
        va_end(ap);
        sb.len = (size_t)n;
    }
    print_prefixed(cli_sb_str(&sb));
    cli_sb_release(&sb);
}

/* "file:12:7: ..." — a line of a definitions or configuration problem. */
static int located(const char *line, size_t n)
{
    size_t i = 0, fields = 0;
    while (i < n && line[i] != ':')
        i++;
    while (i < n && line[i] == ':' && fields < 2) {
        size_t d = ++i;
        while (i < n && line[i] >= '0' && line[i] <= '9')
            i++;
        if (i == d) return 0;
        fields++;
    }
    return fields == 2 && i < n && line[i] == ':';
}

int cli_fail(const tess_store *st, int rc, const char *what)
{
    const char *msg = st ? tess_store_errmsg(st) : NULL;
    if (!msg || !*msg) msg = tess_strerror(rc);
    int defs = rc == TESS_EDEFS || rc == TESS_ECONFIG;
    size_t problems = 0, other = 0;
    for (const char *p = msg; *p;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        if (defs && located(p, n)) {
            fprintf(stderr, "%.*s\n", (int)n, p);
            problems++;
        } else if (defs && n > 3 && memcmp(p, "...", 3) == 0) {
            fprintf(stderr, "%.*s\n", (int)n, p);
        } else if (n) {
            fprintf(stderr, "error: %s%s%.*s\n", what && !other ? what : "",
                    what && !other ? ": " : "", (int)n, p);
            other++;
        }
        p = nl ? nl + 1 : p + n;
    }
    if (problems)
        cli_error("%s (%zu problem%s)",
                  rc == TESS_EDEFS ? "invalid definitions" : "invalid configuration", problems,
                  problems == 1 ? "" : "s");
    else if (!other)
        cli_error("%s%s%s", what ? what : "", what ? ": " : "", tess_strerror(rc));
    return CLI_ERR;
}

int cli_open(tess_store **out)
{
    *out = NULL;
    if (access("tessera.yaml", F_OK) != 0) {
        char cwd[4096];
        const char *where = getcwd(cwd, sizeof cwd) ? cwd : "the current directory";
        cli_error("not a feature repo: no tessera.yaml in %s", where);
        fputs("hint: create one with 'tessera init', or choose the repo with -C DIR\n", stderr);
        return CLI_ERR;
    }
    tess_store *st = NULL;
    int rc = tess_store_open(".", &st);
    if (rc != TESS_OK) {
        cli_fail(st, rc, "cannot open the feature repo");
        tess_store_close(st);
        return CLI_ERR;
    }
    *out = st;
    return CLI_CONTINUE;
}

/* Up to 3 names of the latest version close to `name`: containing it, or a small edit away. */
static void suggest_names(tess_store *st, const char *name, cli_sb *sb)
{
    char *text = NULL;
    if (tess_catalog_list(st, NULL, 0, &text) != TESS_OK) return;
    json_t *doc = json_loads(text, 0, NULL);
    tess_free(text);
    if (!json_is_array(doc)) {
        json_decref(doc);
        return;
    }
    size_t i, found = 0;
    json_t *o;
    json_array_foreach(doc, i, o)
    {
        const char *cand = cli_jstr(o, "name");
        const char *tail = strchr(cand, ':');
        const char *one[2] = {cand, tail ? tail + 1 : cand};
        if (!*cand || found == 3) continue;
        if (strstr(cand, name) || cli_suggest(name, one, 2)) {
            cli_sb_addf(sb, "%s%s", found ? ", " : "", cand);
            found++;
        }
    }
    json_decref(doc);
}

int cli_notfound(tess_store *st, int64_t version, const char *name)
{
    char *text = NULL;
    json_t *hist = NULL;
    if (tess_catalog_history(st, &text) == TESS_OK) hist = json_loads(text, 0, NULL);
    tess_free(text);
    if (json_is_array(hist) && json_array_size(hist) == 0) {
        cli_error("nothing has been applied yet (run 'tessera apply' first)");
        goto out;
    }
    if (version > 0 && json_is_array(hist)) {
        size_t i;
        json_t *v;
        int64_t latest = 0;
        int found = 0;
        json_array_foreach(hist, i, v)
        {
            json_int_t n = json_integer_value(json_object_get(v, "version"));
            if (n == version) found = 1;
            if (n > latest) latest = n;
        }
        if (!found) {
            cli_error("no version %lld in the registry (the latest is %lld)", (long long)version,
                      (long long)latest);
            goto out;
        }
    }
    if (name) {
        cli_sb sb = {0};
        if (version == 0) suggest_names(st, name, &sb);
        if (version > 0)
            cli_error("no object named \"%s\" in version %lld", name, (long long)version);
        else
            cli_error("no object named \"%s\"", name);
        if (sb.len)
            fprintf(stderr, "hint: did you mean: %s?\n", cli_sb_str(&sb));
        else
            fprintf(stderr, "hint: 'tessera ls' lists every object, 'tessera search TEXT' "
                            "finds them\n");
        cli_sb_release(&sb);
    } else {
        cli_error("not found");
    }
out:
    json_decref(hist);
    return CLI_ERR;
}

/* ---- JSON -------------------------------------------------------------------------------- */

json_t *cli_json_load(const char *text)
{
    json_error_t e;
    json_t *doc = json_loads(text ? text : "", JSON_DECODE_ANY, &e);
    if (!doc)
        cli_error("internal error: the library returned malformed JSON (%s, line %d)", e.text,
                  e.line);
    return doc;
}

int cli_json_print(const json_t *doc)
{
    char *s = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    if (!s) {
        cli_error("out of memory");
        return CLI_ERR;
    }
    fputs(s, stdout);
    fputc('\n', stdout);
    free(s);
    return CLI_OK;
}

int cli_json_print_text(const char *text)
{
    json_t *doc = cli_json_load(text);
    if (!doc) return CLI_ERR;
    int rc = cli_json_print(doc);
    json_decref(doc);
    return rc;
}

const char *cli_jstr(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s ? s : "";
}

void cli_jtext(cli_sb *sb, const json_t *v)
{
    size_t i;
    json_t *e;
    const char *k;
    if (!v) return;
    switch (json_typeof(v)) {
    case JSON_STRING:
        cli_sb_addn(sb, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        cli_sb_addf(sb, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        break;
    case JSON_REAL:
        cli_sb_addf(sb, "%.17g", json_real_value(v));
        break;
    case JSON_TRUE:
        cli_sb_add(sb, "true");
        break;
    case JSON_FALSE:
        cli_sb_add(sb, "false");
        break;
    case JSON_NULL:
        break;
    case JSON_ARRAY:
        json_array_foreach((json_t *)v, i, e)
        {
            if (i) cli_sb_add(sb, ", ");
            cli_jtext(sb, e);
        }
        break;
    case JSON_OBJECT: {
        const json_t *name = json_object_get(v, "name");
        const json_t *kind = json_object_get(v, "kind");
        const json_t *type = json_object_get(v, "type");
        if (json_is_string(name)) {
            if (json_is_string(kind)) {
                cli_sb_addf(sb, "%s ", json_string_value(kind));
            }
            cli_sb_add(sb, json_string_value(name));
            if (json_is_string(type) && !json_is_string(kind))
                cli_sb_addf(sb, ":%s", json_string_value(type));
            break;
        }
        int first = 1;
        json_object_foreach((json_t *)v, k, e)
        {
            cli_sb_addf(sb, "%s%s=", first ? "" : ", ", k);
            cli_jtext(sb, e);
            first = 0;
        }
        break;
    }
    }
}

/* ---- tables ------------------------------------------------------------------------------ */

#define MAX_COLS 16

struct cli_table {
    int ncols;
    const char *const *headers;
    size_t limit[MAX_COLS]; /* per column, 0: none */
    char **cells;           /* nrows * ncols */
    size_t nrows, cap;
};

cli_table *cli_table_new(int ncols, const char *const *headers)
{
    cli_table *t = cli_xmalloc(sizeof *t);
    memset(t, 0, sizeof *t);
    t->ncols = ncols > MAX_COLS ? MAX_COLS : ncols;
    t->headers = headers;
    return t;
}

void cli_table_limit(cli_table *t, int col, size_t width)
{
    if (col >= 0 && col < t->ncols) t->limit[col] = width < 4 ? 4 : width;
}

/* Display width of the UTF-8 character starting at s: 0 for continuation bytes and for the
 * combining diacritical marks U+0300..U+036F, else 1 (wide CJK characters count as 1: tables
 * with them are slightly off, never broken). */
static size_t char_width(const unsigned char *s)
{
    if ((s[0] & 0xC0) == 0x80) return 0;
    if (s[0] == 0xCC || (s[0] == 0xCD && s[1] >= 0x80 && s[1] < 0xB0)) return 0;
    return 1;
}

static size_t text_width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        w += char_width((const unsigned char *)s);
    return w;
}

/* A copy of s fit for one table cell: control characters become spaces, at most `limit`
 * display characters (0: no limit), "-" for empty. */
static char *cell_copy(const char *s, size_t limit)
{
    if (!s || !*s) return cli_xstrdup("-");
    cli_sb sb = {0};
    size_t w = 0, total = text_width(s);
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        int starts = char_width((const unsigned char *)p) != 0;
        if (starts && limit && total > limit && w == limit - 3) {
            cli_sb_add(&sb, "...");
            break;
        }
        if (starts) w++;
        char ch = c < 0x20 || c == 0x7f ? ' ' : (char)c;
        cli_sb_addn(&sb, &ch, 1);
    }
    char *r = cli_xstrdup(cli_sb_str(&sb));
    cli_sb_release(&sb);
    return r;
}

void cli_table_add(cli_table *t, const char *const *cells)
{
    if (t->nrows == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 16;
        t->cells = cli_xrealloc(t->cells, t->cap * (size_t)t->ncols * sizeof *t->cells);
    }
    for (int c = 0; c < t->ncols; c++)
        t->cells[t->nrows * (size_t)t->ncols + (size_t)c] = cell_copy(cells[c], t->limit[c]);
    t->nrows++;
}

size_t cli_table_rows(const cli_table *t)
{
    return t->nrows;
}

void cli_table_print(const cli_table *t, FILE *f, const char *indent)
{
    size_t width[MAX_COLS];
    for (int c = 0; c < t->ncols; c++) {
        width[c] = text_width(t->headers[c]);
        for (size_t r = 0; r < t->nrows; r++) {
            size_t w = text_width(t->cells[r * (size_t)t->ncols + (size_t)c]);
            if (w > width[c]) width[c] = w;
        }
    }
    for (size_t r = 0; r <= t->nrows; r++) {
        fputs(indent ? indent : "", f);
        for (int c = 0; c < t->ncols; c++) {
            const char *s =
                r == 0 ? t->headers[c] : t->cells[(r - 1) * (size_t)t->ncols + (size_t)c];
            fputs(s, f);
            if (c + 1 < t->ncols) fprintf(f, "%*s", (int)(width[c] - text_width(s) + 2), "");
        }
        fputc('\n', f);
    }
}

void cli_table_free(cli_table *t)
{
    if (!t) return;
    for (size_t i = 0; i < t->nrows * (size_t)t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    free(t);
}

int cli_features_list(const cli_command *cmd, const char *features, char **list,
                      const char ***refs, size_t *n)
{
    size_t cap = 1;
    *list = cli_xstrdup(features);
    for (const char *p = *list; *p; p++) cap += *p == ',';
    *refs = cli_xmalloc(cap * sizeof(**refs));
    *n = 0;
    for (char *p = *list, *e; p; p = e) {
        e = strchr(p, ',');
        if (e) *e++ = '\0';
        while (*p == ' ') p++;
        char *end = p + strlen(p);
        while (end > p && end[-1] == ' ') *--end = '\0';
        if (*p) (*refs)[(*n)++] = p;
    }
    return *n ? CLI_CONTINUE : cli_usage_error(cmd, "--features lists no feature");
}

int cli_opt_time(const cli_command *cmd, const char *opt, const char *text, int64_t *out)
{
    tess_value v;
    if (tess_value_parse(text, strlen(text), TESS_TYPE_TIMESTAMP, &v) != TESS_OK)
        return cli_usage_error(cmd, "--%s: \"%s\" is not a timestamp (e.g. 2024-01-31 or "
                               "2024-01-31T12:00:00Z)", opt, text);
    *out = v.u.i;
    return CLI_CONTINUE;
}
