/* get.c — `tessera get (--service S | --features LIST) --entity KEY=VALUE[,KEY=VALUE...]
 * [--entity ...] [--now TIME] [--full-feature-names] [--json]`: online feature values of
 * entities, read in-process from the online store (what `POST /get-online-features` answers). */
#include "cli/cli.h"

#include <string.h>

static int run_get(const cli_command *cmd, int argc, char **argv);

static const cli_optspec get_opts[] = {
    {"service", 's', "NAME", 0, "the feature service whose features to read"},
    {"features", 0, "LIST", 0, "comma-separated view:feature, view:* or on-demand names"},
    {"entity", 'e', "K=V,...", 0, "one entity: its join keys (and request fields); repeatable"},
    {"now", 0, "TIME", 0, "the time the values are as of (default: now, or TESSERA_NOW)"},
    {"full-feature-names", 0, NULL, 0, "name features view__feature"},
    {"json", 0, NULL, 0, "print the response of POST /get-online-features (Feast's shape)"},
    {NULL, 0, NULL, 0, NULL},
};

const cli_command cli_cmd_get = {
    .name = "get",
    .summary = "Read online feature values of entities.",
    .synopsis = "get (--service NAME | --features LIST) --entity KEY=VALUE[,...] [--entity ...]",
    .description =
        "Each --entity gives one entity row: its join keys, and the request fields that\n"
        "on-demand features need, as KEY=VALUE pairs separated by commas, e.g.\n"
        "  tessera get --service fraud_model_v1 --entity user_id=42 --entity user_id=7\n"
        "Statuses: PRESENT, NOT_FOUND (no row for the entity), NULL_VALUE, OUTSIDE_MAX_AGE\n"
        "(the latest row is older than the view's ttl).\n",
    .opts = get_opts,
    .min_args = 0,
    .max_args = 0,
    .available = 1,
    .run = run_get,
};

/* Every --entity/-e value of argv, in order (cli_parse keeps only the last). */
static size_t entity_args(int argc, char **argv, const char **out, size_t max)
{
    size_t n = 0;
    for (int i = 1; i < argc && n < max; i++) {
        const char *s = argv[i];
        if (strcmp(s, "--") == 0) break;
        if (strncmp(s, "--entity=", 9) == 0) out[n++] = s + 9;
        else if ((strcmp(s, "--entity") == 0 || strcmp(s, "-e") == 0) && i + 1 < argc)
            out[n++] = argv[++i];
        else if (strncmp(s, "-e", 2) == 0 && s[2]) out[n++] = s + 2;
    }
    return n;
}

/* Fills row (ninputs values) from "k=v,k=v". Returns CLI_CONTINUE or a usage error. */
static int parse_entity(const cli_command *cmd, const tess_query *q, const char *spec, size_t row,
                        tess_value *vals)
{
    size_t nin = tess_query_ninputs(q);
    char seen[64] = {0};
    for (size_t i = 0; i < nin; i++) vals[i] = (tess_value){.type = TESS_TYPE_NULL, .null = 1};
    const char *p = spec;
    while (*p) {
        const char *comma = strchr(p, ','), *end = comma ? comma : p + strlen(p);
        const char *eq = memchr(p, '=', (size_t)(end - p));
        if (!eq)
            return cli_usage_error(cmd, "--entity %zu: \"%.*s\" is not KEY=VALUE", row + 1,
                                   (int)(end - p), p);
        size_t k = 0;
        int type = 0;
        for (; k < nin; k++) {
            const char *name = tess_query_input(q, k, &type, NULL);
            if (strlen(name) == (size_t)(eq - p) && memcmp(name, p, (size_t)(eq - p)) == 0) break;
        }
        if (k == nin) {
            cli_sb names = {0};
            for (size_t i = 0; i < nin; i++)
                cli_sb_addf(&names, "%s%s", i ? ", " : "", tess_query_input(q, i, NULL, NULL));
            int rc = cli_usage_error(cmd, "--entity %zu: unknown key \"%.*s\" (expected: %s)",
                                     row + 1, (int)(eq - p), p, cli_sb_str(&names));
            cli_sb_release(&names);
            return rc;
        }
        const char *v = eq + 1;
        if (tess_value_parse(v, (size_t)(end - v), type, &vals[k]) != TESS_OK)
            return cli_usage_error(cmd, "--entity %zu: %.*s: \"%.*s\" is not a %s", row + 1,
                                   (int)(eq - p), p, (int)(end - v), v, tess_type_name(type));
        if (k < sizeof seen) seen[k] = 1;
        p = comma ? comma + 1 : end;
    }
    for (size_t i = 0; i < nin && i < sizeof seen; i++)
        if (!seen[i])
            return cli_usage_error(cmd, "--entity %zu: %s is missing", row + 1,
                                   tess_query_input(q, i, NULL, NULL));
    return CLI_CONTINUE;
}

static void ts_text(cli_sb *sb, int64_t us)
{
    tess_value v = {.type = TESS_TYPE_TIMESTAMP, .null = 0, .u.i = us};
    char tmp[64];
    tess_value_format(&v, tmp, sizeof tmp);
    cli_sb_add(sb, tmp);
}

static json_t *value_json(const tess_value *v)
{
    if (v->null) return json_null();
    switch (v->type) {
    case TESS_TYPE_BOOL: return json_boolean(v->u.b);
    case TESS_TYPE_INT64: return json_integer(v->u.i);
    case TESS_TYPE_FLOAT64: return json_real(v->u.f);
    case TESS_TYPE_STRING: return json_stringn(v->u.s.p, v->u.s.n);
    default: {
        char tmp[64];
        tess_value_format(v, tmp, sizeof tmp);
        return json_string(tmp);
    }
    }
}

/* The response of POST /get-online-features: names (inputs that are join keys first, then
 * features), and one column per name. */
static json_t *feast_json(const tess_query *q, const tess_value *in, size_t nrows,
                          const tess_online_result *r)
{
    json_t *names = json_array(), *results = json_array();
    size_t nin = tess_query_ninputs(q);
    for (size_t i = 0; i < nin; i++) {
        int req;
        const char *name = tess_query_input(q, i, NULL, &req);
        if (req) continue;
        json_t *vals = json_array(), *sts = json_array(), *tss = json_array();
        for (size_t row = 0; row < nrows; row++) {
            json_array_append_new(vals, value_json(&in[row * nin + i]));
            json_array_append_new(sts, json_string("PRESENT"));
            json_array_append_new(tss, json_string("1970-01-01T00:00:00Z"));
        }
        json_array_append_new(names, json_string(name));
        json_array_append_new(results, json_pack("{s:o, s:o, s:o}", "values", vals, "statuses",
                                                 sts, "event_timestamps", tss));
    }
    for (size_t f = 0; f < r->nfeatures; f++) {
        json_t *vals = json_array(), *sts = json_array(), *tss = json_array();
        for (size_t row = 0; row < nrows; row++) {
            size_t at = row * r->nfeatures + f;
            cli_sb ts = {0};
            ts_text(&ts, r->event_ts[at]);
            json_array_append_new(vals, value_json(&r->values[at]));
            json_array_append_new(sts, json_string(tess_status_name(r->statuses[at])));
            json_array_append_new(tss, json_string(cli_sb_str(&ts)));
            cli_sb_release(&ts);
        }
        json_array_append_new(names, json_string(tess_query_feature(q, f, NULL)));
        json_array_append_new(results, json_pack("{s:o, s:o, s:o}", "values", vals, "statuses",
                                                 sts, "event_timestamps", tss));
    }
    return json_pack("{s:{s:o}, s:o}", "metadata", "feature_names", names, "results", results);
}

static void print_table(const tess_query *q, const tess_value *in, size_t nrows,
                        const tess_online_result *r)
{
    size_t nin = tess_query_ninputs(q);
    static const char *const heads[] = {"FEATURE", "VALUE", "STATUS", "EVENT TIME"};
    for (size_t row = 0; row < nrows; row++) {
        cli_sb who = {0};
        for (size_t i = 0; i < nin; i++) {
            char tmp[128];
            tess_value_format(&in[row * nin + i], tmp, sizeof tmp);
            cli_sb_addf(&who, "%s%s=%s", i ? " " : "", tess_query_input(q, i, NULL, NULL), tmp);
        }
        printf("%s%s\n", row ? "\n" : "", cli_sb_str(&who));
        cli_sb_release(&who);
        cli_table *t = cli_table_new(4, heads);
        for (size_t f = 0; f < r->nfeatures; f++) {
            size_t at = row * r->nfeatures + f;
            char val[256];
            cli_sb ts = {0};
            if (r->event_ts[at]) ts_text(&ts, r->event_ts[at]);
            tess_value_format(&r->values[at], val, sizeof val);
            const char *cells[4] = {tess_query_feature(q, f, NULL), val,
                                    tess_status_name(r->statuses[at]), cli_sb_str(&ts)};
            cli_table_add(t, cells);
            cli_sb_release(&ts);
        }
        cli_table_print(t, stdout, "  ");
        cli_table_free(t);
    }
}

static int run_get(const cli_command *cmd, int argc, char **argv)
{
    cli_args a;
    int rc = cli_parse(cmd, argc, argv, &a);
    if (rc != CLI_CONTINUE) return rc;
    const char *service = cli_opt(&a, "service"), *features = cli_opt(&a, "features");
    if (!service == !features) return cli_usage_error(cmd, "give exactly one of --service and --features");
    const char *ents[CLI_MAX_ARGS];
    size_t nents = entity_args(argc, argv, ents, CLI_MAX_ARGS);
    if (nents == 0) return cli_usage_error(cmd, "give at least one --entity KEY=VALUE");
    int64_t now = 0;
    const char *nowtext = cli_opt(&a, "now");
    if (nowtext && (rc = cli_opt_time(cmd, "now", nowtext, &now)) != CLI_CONTINUE) return rc;
    char *list = NULL;
    const char **refs = NULL;
    size_t nrefs = 0;
    if (features && (rc = cli_features_list(cmd, features, &list, &refs, &nrefs)) != CLI_CONTINUE) {
        free(list);
        free(refs);
        return rc;
    }
    tess_store *st = NULL;
    tess_query *q = NULL;
    tess_session *s = NULL;
    tess_value *in = NULL;
    json_t *doc = NULL;
    if ((rc = cli_open(&st)) != CLI_CONTINUE) goto out;
    int lrc = tess_query_new(st, service, features ? refs : NULL, nrefs,
                             cli_flag(&a, "full-feature-names"), &q);
    if (lrc != TESS_OK) {
        rc = cli_fail(st, lrc, "cannot resolve the features");
        goto out;
    }
    size_t nin = tess_query_ninputs(q);
    in = cli_xmalloc((nin ? nin : 1) * nents * sizeof(*in));
    for (size_t r = 0; r < nents; r++)
        if ((rc = parse_entity(cmd, q, ents[r], r, in + r * nin)) != CLI_CONTINUE) goto out;
    if ((lrc = tess_session_new(st, &s)) != TESS_OK) {
        rc = cli_fail(st, lrc, "cannot open the online store");
        goto out;
    }
    tess_online_result res;
    if ((lrc = tess_get_online(s, q, in, nents, now, &res)) != TESS_OK) {
        cli_error("cannot read online features: %s", tess_session_errmsg(s));
        rc = CLI_ERR;
        goto out;
    }
    if (cli_flag(&a, "json")) {
        doc = feast_json(q, in, nents, &res);
        rc = doc ? cli_json_print(doc) : CLI_ERR;
    } else {
        print_table(q, in, nents, &res);
        rc = CLI_OK;
    }
out:
    json_decref(doc);
    free(in);
    free(list);
    free(refs);
    tess_session_free(s);
    tess_query_free(q);
    tess_store_close(st);
    return rc;
}
