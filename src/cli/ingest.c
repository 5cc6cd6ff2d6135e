/* ingest.c — `tessera ingest SOURCE [FILE...] [--force] [--max-bad-rows N] [--json]`: loads
 * event files into the offline store, atomically (all files or none) and idempotently (a file
 * ingested before is skipped unless --force). Without FILE, the source's own `path` glob. */
#include "cli/cli.h"

#include <unistd.h>

static int run_ingest(const cli_command *cmd, int argc, char **argv);

static const cli_optspec ingest_opts[] = {
    {"force", 'f', NULL, 0, "ingest files again even if their content was ingested before"},
    {"max-bad-rows", 0, "N", 1, "skip and report up to N bad rows instead of failing"},
    {"json", 0, NULL, 0, "print the result as JSON"},
    {NULL, 0, NULL, 0, NULL},
};

const cli_command cli_cmd_ingest = {
    .name = "ingest",
    .summary = "Load a batch source's files into the offline store.",
    .synopsis = "ingest SOURCE [FILE...] [--force] [--max-bad-rows N] [--json]",
    .description =
        "Reads CSV or JSON Lines files by the source's schema (from the latest applied\n"
        "definitions) and keeps their events in the offline store. Without FILE, reads the\n"
        "source's own path (a glob, relative to the repo). All files are one atomic commit:\n"
        "a bad row fails the ingest with file:line:column, the column and the value, and\n"
        "nothing is stored. A file whose content was ingested before is skipped.\n",
    .opts = ingest_opts,
    .min_args = 1,
    .max_args = -1,
    .available = 1,
    .run = run_ingest,
};

/* Progress on a terminal: a percentage on stderr, rewritten in place. */
static void progress(void *arg, uint64_t done, uint64_t total)
{
    int *last = arg;
    int pct = total ? (int)(done * 100 / total) : 0;
    if (pct == *last) return;
    *last = pct;
    fprintf(stderr, "\ringesting: %3d%%", pct);
    fflush(stderr);
}

static int run_ingest(const cli_command *cmd, int argc, char **argv)
{
    cli_args a;
    int rc = cli_parse(cmd, argc, argv, &a);
    if (rc != CLI_CONTINUE) return rc;
    tess_store *st = NULL;
    char *text = NULL;
    json_t *doc = NULL;
    int last = -1;
    tess_ingest_opts o = {0};
    o.force = cli_flag(&a, "force");
    o.max_bad_rows = (size_t)cli_opt_int(&a, "max-bad-rows", 0);
    if (isatty(STDERR_FILENO) && !cli_flag(&a, "json")) {
        o.progress = progress;
        o.progress_arg = &last;
    }
    if ((rc = cli_open(&st)) != CLI_CONTINUE) goto out;
    int lrc = tess_ingest(st, a.pos[0], a.pos + 1, (size_t)(a.npos - 1), &o, &text);
    if (last >= 0) fprintf(stderr, "\r%20s\r", "");
    if (lrc != TESS_OK) {
        rc = cli_fail(st, lrc, "ingest failed; nothing was stored");
        goto out;
    }
    if (cli_flag(&a, "json")) {
        rc = cli_json_print_text(text);
        goto out;
    }
    rc = CLI_ERR;
    if (!(doc = cli_json_load(text))) goto out;
    const json_t *files = json_object_get(doc, "files"), *f;
    size_t i, skipped = 0;
    json_array_foreach(files, i, f)
    {
        if (json_is_true(json_object_get(f, "skipped"))) {
            printf("skipped %s: already ingested (use --force to ingest it again)\n",
                   cli_jstr(f, "path"));
            skipped++;
        } else {
            printf("ingested %s\n", cli_jstr(f, "path"));
        }
    }
    json_int_t bad = json_integer_value(json_object_get(doc, "bad_rows"));
    if (bad > 0) {
        const json_t *msgs = json_object_get(doc, "bad_row_messages"), *m;
        printf("skipped %" JSON_INTEGER_FORMAT " bad rows:\n", bad);
        json_array_foreach(msgs, i, m) printf("  %s\n", json_string_value(m));
    }
    json_int_t nullkeys = json_integer_value(json_object_get(doc, "null_key_rows"));
    if (nullkeys > 0)
        printf("note: %" JSON_INTEGER_FORMAT " rows have a null join key; the views keyed on it "
               "skip them\n",
               nullkeys);
    printf("Source %s: %" JSON_INTEGER_FORMAT " rows ingested from %zu file(s)%s.\n",
           cli_jstr(doc, "source"), json_integer_value(json_object_get(doc, "rows")),
           json_array_size(files) - skipped, skipped ? " (others skipped)" : "");
    rc = CLI_OK;
out:
    json_decref(doc);
    tess_free(text);
    tess_store_close(st);
    return rc;
}
