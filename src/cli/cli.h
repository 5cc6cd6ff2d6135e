/* cli.h — what the files of the `tessera` command share: the command table entry, strict option
 * parsing, output helpers (tables, pretty JSON, error messages) and a few JSON accessors.
 *
 * The command is built on include/tessera.h alone (plus jansson to read the JSON documents the
 * catalog returns, plus libc). Each command lives in its own file and exports one cli_command.
 *
 * Exit status everywhere: 0 ok, 1 error (library failure, invalid definitions, I/O), 2 usage.
 * Out of memory inside the command prints a message and exits 1 (the library never exits; the
 * command may).
 */
#ifndef TESS_CLI_CLI_H
#define TESS_CLI_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "tessera.h"

enum {
    CLI_OK = 0,
    CLI_ERR = 1,
    CLI_USAGE = 2,
    CLI_CONTINUE = -1, /* cli_parse: options are fine, run the command */
};

/* One option of a command. Every command also takes -C/--repo DIR and -h/--help. */
typedef struct cli_optspec {
    const char *name; /* long name without "--" */
    char short_name;  /* e.g. 'p', or 0 */
    const char *arg;  /* metavariable ("N", "NAME"), or NULL for a flag */
    int positive_int; /* the argument must be a positive integer */
    const char *help;
} cli_optspec;

typedef struct cli_command cli_command;

struct cli_command {
    const char *name;
    const char *summary;     /* one line, for the top-level help */
    const char *synopsis;    /* what follows "usage: tessera " */
    const char *description; /* paragraphs printed by --help (may be NULL) */
    const cli_optspec *opts; /* terminated by an entry with name NULL; may be NULL */
    int min_args, max_args;  /* positional arguments; max_args -1: any number */
    int available;           /* 0: listed as "not yet available" */
    /* argv[0] is the command's name. Returns the exit status. */
    int (*run)(const cli_command *cmd, int argc, char **argv);
};

#define CLI_MAX_OPTS 24
#define CLI_MAX_ARGS 256
#define CLI_MAX_DIRS 8

/* The parsed command line of one command. */
typedef struct cli_args {
    const cli_command *cmd;
    const char *values[CLI_MAX_OPTS]; /* parallel to cmd->opts; "" for a seen flag; else NULL */
    const char *pos[CLI_MAX_ARGS];    /* positional arguments, in order */
    int npos;
} cli_args;

/*
 * Parses argv (argv[0] is the command's name) against cmd: long options (--name, --name=value,
 * --name value), short ones (-x, -xVALUE, -x VALUE), "--" ending the options, and positional
 * arguments anywhere. -C/--repo DIR changes directory (in order, after everything parsed).
 * Returns CLI_CONTINUE, or the exit status after printing: 0 for --help (usage on stdout),
 * 2 for a usage error (message and hint on stderr), 1 if a -C directory cannot be entered.
 */
int cli_parse(const cli_command *cmd, int argc, char **argv, cli_args *a);

/* The value of option `name` (long name), "" for a seen flag, NULL if absent. */
const char *cli_opt(const cli_args *a, const char *name);
int cli_flag(const cli_args *a, const char *name);
/* A positive_int option's value, or `dflt` when absent (already validated by cli_parse). */
int64_t cli_opt_int(const cli_args *a, const char *name, int64_t dflt);

/* --features LIST: splits the comma-separated list (spaces around names dropped, empty items
 * skipped) into *refs (cli_xmalloc; free it and *list, the copy they point into). Returns
 * CLI_CONTINUE, or a usage error when the list names nothing. */
int cli_features_list(const cli_command *cmd, const char *features, char **list,
                      const char ***refs, size_t *n);
/* An option's TIME argument (any timestamp form DESIGN.md accepts) in microseconds. Returns
 * CLI_CONTINUE, or a usage error naming the option. */
int cli_opt_time(const cli_command *cmd, const char *opt, const char *text, int64_t *out);

/* Prints a command's full help (stdout) / its usage error and hint (stderr; returns 2). */
void cli_help(const cli_command *cmd, FILE *f);
int cli_usage_error(const cli_command *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Changes directory like git -C. Returns CLI_CONTINUE or CLI_ERR (after a message). */
int cli_chdir(const char *dir);

/* The closest candidate to `word` (edit distance), or NULL if none is close enough. */
const char *cli_suggest(const char *word, const char *const *cands, size_t n);

/* ---- errors ---------------------------------------------------------------------------- */

/* Prints every line of the formatted message on stderr, each prefixed "error: ". */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Reports a failed library call on st (st may be NULL) and returns CLI_ERR. Definition errors
 * (TESS_EDEFS) print their file:line:column lines as they are, then a summary line; everything
 * else prints tess_store_errmsg (or tess_strerror when empty) with the "error: " prefix.
 * `what` (may be NULL) says what failed, e.g. "cannot read the registry".
 */
int cli_fail(const tess_store *st, int rc, const char *what);

/* Opens the feature repo in the current directory. Returns CLI_CONTINUE (with *out set) or
 * CLI_ERR after a message (with a hint when there is no tessera.yaml). */
int cli_open(tess_store **out);

/* Explains a TESS_NOTFOUND from the catalog: nothing applied yet, no such version, or no object
 * named `name` (with suggestions). Returns CLI_ERR. `name` may be NULL. */
int cli_notfound(tess_store *st, int64_t version, const char *name);

/* ---- memory and strings ---------------------------------------------------------------- */

void *cli_xmalloc(size_t n);
void *cli_xrealloc(void *p, size_t n);
char *cli_xstrdup(const char *s);

/* A growable string; zero-initialise it. */
typedef struct cli_sb {
    char *p;
    size_t len, cap;
} cli_sb;

void cli_sb_add(cli_sb *sb, const char *s);
void cli_sb_addn(cli_sb *sb, const char *s, size_t n);
void cli_sb_addf(cli_sb *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The string so far ("" if nothing was added); stays owned by sb. */
const char *cli_sb_str(cli_sb *sb);
void cli_sb_release(cli_sb *sb);

/* ---- JSON -------------------------------------------------------------------------------- */

/* Parses a JSON document returned by the library; prints an error and returns NULL if it is
 * malformed. The text stays owned by the caller. */
json_t *cli_json_load(const char *text);

/* Prints a document pretty (2-space indent, keys sorted, so that output is stable) + newline. */
int cli_json_print(const json_t *doc);

/* Parses the library's text and prints it pretty. Returns the exit status. */
int cli_json_print_text(const char *text);

/* obj[key] as a string: "" when absent, null or not a string. */
const char *cli_jstr(const json_t *obj, const char *key);

/*
 * Any JSON value as display text, appended to sb: strings as they are, numbers, booleans,
 * null as "", arrays joined with ", " (objects with "name" shown by name, {"name","type"} as
 * "name:type"; {"kind","name"} as "kind name"), other objects as key=value pairs.
 */
void cli_jtext(cli_sb *sb, const json_t *v);

/* ---- tables ------------------------------------------------------------------------------ */

typedef struct cli_table cli_table;

/* A table with `ncols` columns headed by `headers` (borrowed; must outlive the table). */
cli_table *cli_table_new(int ncols, const char *const *headers);
/* Shortens the cells of column `col` to at most `width` display characters ("..." at the end). */
void cli_table_limit(cli_table *t, int col, size_t width);
/* Adds a row; cells are copied, NULL or "" shows as "-", control characters as spaces. */
void cli_table_add(cli_table *t, const char *const *cells);
size_t cli_table_rows(const cli_table *t);
/* Prints headers and rows, columns aligned (UTF-8 aware), each line starting with indent. */
void cli_table_print(const cli_table *t, FILE *f, const char *indent);
void cli_table_free(cli_table *t);

#define CLI_DESC_WIDTH 60 /* descriptions in tables are shortened to this many characters */

/* ---- the commands ------------------------------------------------------------------------ */

extern const cli_command cli_cmd_init;
extern const cli_command cli_cmd_plan;
extern const cli_command cli_cmd_apply;
extern const cli_command cli_cmd_ls;
extern const cli_command cli_cmd_describe;
extern const cli_command cli_cmd_search;
extern const cli_command cli_cmd_lineage;
extern const cli_command cli_cmd_history;
extern const cli_command cli_cmd_ingest;
extern const cli_command cli_cmd_training_set;
extern const cli_command cli_cmd_stats;
extern const cli_command cli_cmd_materialize;
extern const cli_command cli_cmd_get;
extern const cli_command cli_cmd_check;
extern const cli_command cli_cmd_verify;
extern const cli_command cli_cmd_push;
extern const cli_command cli_cmd_serve;
extern const cli_command cli_cmd_keys;
extern const cli_command cli_cmd_version;

/* plan.c: prints the change list of a plan/apply document (tess_plan), terraform-like:
 * "+ kind name", "~ kind name (fields)", "- kind name", each changed or removed object followed
 * by the services it affects. Fills counts[0..2] with the numbers added, changed, removed. */
void cli_print_changes(const json_t *plan, size_t counts[3]);
/* The services affected by a plan, as "a, b" (empty if none). */
void cli_affected_services(const json_t *plan, cli_sb *out);

#endif
