/* verify.c — `tessera verify [--json]`: checks every file Tessera wrote into the store
 * (tess_verify); exit 1 if anything is damaged. */
#include "cli/cli.h"

#include <stdbool.h>

static int run_verify(const cli_command *cmd, int argc, char **argv);

static const cli_optspec verify_opts[] = {
    {"json", 0, NULL, 0, "print the report as JSON"},
    {NULL, 0, NULL, 0, NULL},
};

const cli_command cli_cmd_verify = {
    .name = "verify",
    .summary = "Verify the integrity of the store's files.",
    .synopsis = "verify [--json]",
    .description =
        "Reads everything Tessera wrote into the store and checks it: the registry (SQLite's\n"
        "integrity check), each source's offline files (manifest, segments and push log,\n"
        "against their checksums) and every online record. Reports each damaged part; exit\n"
        "status 1 if any. Nothing is repaired: `tessera materialize --full` rebuilds a\n"
        "damaged online store from the offline store.\n",
    .opts = verify_opts,
    .min_args = 0,
    .max_args = 0,
    .available = 1,
    .run = run_verify,
};

static int run_verify(const cli_command *cmd, int argc, char **argv)
{
    cli_args a;
    int rc = cli_parse(cmd, argc, argv, &a);
    if (rc != CLI_CONTINUE) return rc;
    tess_store *st = NULL;
    char *text = NULL;
    json_t *doc = NULL;
    if ((rc = cli_open(&st)) != CLI_CONTINUE) goto out;
    int lrc = tess_verify(st, &text);
    if (lrc != TESS_OK) {
        rc = cli_fail(st, lrc, "cannot verify");
        goto out;
    }
    rc = CLI_ERR;
    if (!(doc = cli_json_load(text))) goto out;
    bool ok = json_is_true(json_object_get(doc, "ok"));
    if (cli_flag(&a, "json")) {
        cli_json_print_text(text);
    } else {
        const json_t *c;
        size_t i;
        json_array_foreach(json_object_get(doc, "checks"), i, c)
        {
            const char *part = cli_jstr(c, "part"), *src = cli_jstr(c, "source");
            if (!src || !*src) src = cli_jstr(c, "backend");
            if (src && !*src) src = NULL;
            bool cok = json_is_true(json_object_get(c, "ok"));
            const char *detail = cli_jstr(c, "detail");
            printf("%s%s%s: %s%s%s\n", part, src ? " " : "", src ? src : "",
                   cok ? "ok" : "DAMAGED", detail && *detail ? ": " : "", detail ? detail : "");
            const json_t *d;
            size_t k;
            json_array_foreach(json_object_get(c, "damaged"), k, d)
                printf("  %s: %s\n", cli_jstr(d, "what"), cli_jstr(d, "error"));
            json_int_t n = json_integer_value(json_object_get(c, "damaged_count"));
            if (n > (json_int_t)json_array_size(json_object_get(c, "damaged")))
                printf("  ... %" JSON_INTEGER_FORMAT " damaged in all\n", n);
        }
        printf("verify: %s\n", ok ? "ok" : "damage found");
    }
    rc = ok ? CLI_OK : CLI_ERR;
out:
    json_decref(doc);
    tess_free(text);
    tess_store_close(st);
    return rc;
}
