/* test_defs.c — the definitions loader: the DESIGN.md example, canonical JSON, and one test per
 * class of error with its exact file:line:column and message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/err.h"
#include "defs/defs.h"
#include "defs/defs_model.h"
#include "tessera.h"

/* ---- helpers ------------------------------------------------------------------------------ */

static const char *const CONFIG = "project: t\n";

/* Nine lines every error test starts from, so that the lines of a test's own text are 10+. */
#define BASE                                                                                       \
    "entities:\n"                                                                      /* 1 */     \
    "  - name: user\n"                                                                 /* 2 */     \
    "    join_keys: [user_id]\n"                                                       /* 3 */     \
    "sources:\n"                                                                       /* 4 */     \
    "  - name: tx\n"                                                                   /* 5 */     \
    "    type: batch\n"                                                                /* 6 */     \
    "    path: data/tx.csv\n"                                                          /* 7 */     \
    "    timestamp: ts\n"                                                              /* 8 */     \
    "    schema: {user_id: int64, merchant: string, amount: float64, ts: timestamp}\n" /* 9 */

static char msg[16384];

/* Loads tessera.yaml (CONFIG) and the given (name, text) pairs from memory. */
static int load_n(tess__defs **out, size_t n, const char *const *nt)
{
    tess__defs_file files[8];
    tess__err err = TESS__ERR_INIT;
    files[0].name = "tessera.yaml";
    files[0].text = CONFIG;
    files[0].len = strlen(CONFIG);
    for (size_t i = 0; i < n; i++) {
        files[i + 1].name = nt[2 * i];
        files[i + 1].text = nt[2 * i + 1];
        files[i + 1].len = strlen(nt[2 * i + 1]);
    }
    int rc = tess__defs_load_strings(files, n + 1, out, &err);
    snprintf(msg, sizeof(msg), "%s", tess__err_msg(&err));
    tess__err_release(&err);
    return rc;
}

/* Loads one definition file "defs.yaml"; expects failure; returns the message. */
static const char *errors_of(const char *text)
{
    tess__defs *d = NULL;
    const char *nt[] = {"defs.yaml", text};
    int rc = load_n(&d, 1, nt);
    if (rc != TESS_EDEFS) fail_msg("expected TESS_EDEFS, got %d: %s", rc, msg);
    assert_null(d);
    return msg;
}

static tess__defs *ok_of(const char *text)
{
    tess__defs *d = NULL;
    const char *nt[] = {"defs.yaml", text};
    int rc = load_n(&d, 1, nt);
    if (rc != TESS_OK) fail_msg("expected success, got %d:\n%s", rc, msg);
    return d;
}

static char *canonical(const tess__defs *d)
{
    json_t *j = tess__defs_to_json(d);
    assert_non_null(j);
    char *s = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
    json_decref(j);
    assert_non_null(s);
    return s;
}

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void remove_dir(const char *dir, const char *const *names, size_t n)
{
    char path[512];
    for (size_t i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
}

/* ---- the DESIGN.md example ------------------------------------------------------------------ */

static const char *const design_config =
    "# tessera.yaml\n"
    "project: fraud\n"
    "store: .tessera            # store directory; the default back ends live inside it\n"
    "# online: redis://127.0.0.1:6379        (default: embedded, inside the store)\n"
    "# registry: postgresql://localhost/tessera (default: embedded, inside the store)\n";

/* DESIGN.md's definitions, plus the merchant entity and merchant_stats view that its service
 * refers to. */
static const char *const design_defs =
    "entities:\n"
    "  - name: user\n"
    "    join_keys: [user_id]\n"
    "    description: A customer account\n"
    "  - name: merchant\n"
    "    join_keys: [{name: merchant_id, type: string}]\n"
    "\n"
    "sources:\n"
    "  - name: transactions\n"
    "    type: batch\n"
    "    path: data/transactions.csv\n"
    "    timestamp: ts\n"
    "    created_timestamp: created_at     # optional: tie-break between rows with the same ts\n"
    "    schema: {user_id: int64, merchant_id: string, amount: float64, ts: timestamp, "
    "created_at: timestamp}\n"
    "  - name: transactions_live\n"
    "    type: push\n"
    "    batch_source: transactions         # pushed rows are also kept in the offline store\n"
    "\n"
    "feature_views:\n"
    "  - name: user_txn\n"
    "    entities: [user]\n"
    "    source: transactions\n"
    "    ttl: 30d                  # row-level features older than this are OUTSIDE_MAX_AGE\n"
    "    hop: 1h                   # tile size of window aggregates\n"
    "    owner: risk-team\n"
    "    tags: {domain: payments}\n"
    "    description: Spending behaviour of a user\n"
    "    features:\n"
    "      - {name: last_amount, expr: amount}\n"
    "      - {name: amount_cents, expr: \"cast(amount * 100, int64)\"}\n"
    "      - {name: txn_count_1h, agg: count, window: 1h}\n"
    "      - {name: amount_sum_7d, agg: sum, expr: amount, window: 7d}\n"
    "      - {name: big_txn_count_30d, agg: count, where: \"amount > 1000\", window: 30d}\n"
    "      - {name: amount_mean, agg: mean, expr: amount}          # no window: lifetime\n"
    "  - name: merchant_stats\n"
    "    entities: [merchant]\n"
    "    source: transactions_live\n"
    "    features:\n"
    "      - {name: txn_count_10m, agg: count, window: 10m}\n"
    "      - {name: amount_max_1d, agg: max, expr: amount, window: 1d}\n"
    "\n"
    "on_demand_features:\n"
    "  - name: amount_vs_mean\n"
    "    inputs: {features: [\"user_txn:amount_mean\"], request: {amount: float64}}\n"
    "    expr: \"amount / amount_mean\"\n"
    "\n"
    "feature_services:\n"
    "  - name: fraud_model_v1\n"
    "    owner: risk-team\n"
    "    features: [\"user_txn:txn_count_1h\", \"user_txn:amount_sum_7d\", \"merchant_stats:*\", "
    "amount_vs_mean]\n";

static void test_design_example(void **state)
{
    (void)state;
    char dir[] = "/tmp/tessera_defs_XXXXXX";
    assert_non_null(mkdtemp(dir));
    write_file(dir, "tessera.yaml", design_config);
    write_file(dir, "features.yaml", design_defs);
    write_file(dir, "notes.txt", "not: [yaml"); /* ignored: not *.yaml */
    char sub[600];
    snprintf(sub, sizeof(sub), "%s/sub.yaml", dir); /* ignored: a directory */
    assert_int_equal(mkdir(sub, 0700), 0);

    tess__defs *d = NULL;
    tess__err err = TESS__ERR_INIT;
    int rc = tess__defs_load(dir, &d, &err);
    if (rc != TESS_OK) fail_msg("%s", tess__err_msg(&err));
    assert_string_equal(tess__defs_project(d), "fraud");
    assert_string_equal(d->config.store, ".tessera");
    assert_null(d->config.online);
    assert_int_equal(d->nfiles, 2);
    assert_string_equal(d->files[1], "features.yaml");

    /* entities: user's key type comes from the source */
    const tess__entity *user = tess__defs_entity(d, "user");
    assert_non_null(user);
    assert_int_equal(user->njoin_keys, 1);
    assert_int_equal(user->join_keys[0].type, TESS_T_INT64);
    assert_string_equal(user->meta.description, "A customer account");
    assert_string_equal(user->loc.file, "features.yaml");
    assert_int_equal(user->loc.line, 2);
    assert_int_equal(user->loc.col, 5);

    /* sources: the push source shares its batch source's schema */
    const tess__source *tx = tess__defs_source(d, "transactions");
    const tess__source *live = tess__defs_source(d, "transactions_live");
    assert_int_equal(tx->kind, TESS_SOURCE_BATCH);
    assert_int_equal(tx->format, TESS_FORMAT_CSV);
    assert_int_equal(tx->delimiter, ',');
    assert_int_equal(tx->nschema, 5);
    assert_string_equal(tx->schema[2].name, "amount"); /* written order */
    assert_string_equal(tx->schema[tx->ts_col].name, "ts");
    assert_int_equal(tx->created_col, 4);
    assert_int_equal(live->kind, TESS_SOURCE_PUSH);
    assert_ptr_equal(live->batch_source, tx);
    assert_int_equal(live->nschema, 5);
    assert_int_equal(live->ts_col, 3);

    /* the view */
    const tess__view *v = tess__defs_view(d, "user_txn");
    assert_non_null(v);
    assert_ptr_equal(v->source, tx);
    assert_int_equal(v->nentities, 1);
    assert_ptr_equal(v->entities[0], user);
    assert_int_equal(v->njoin, 1);
    assert_int_equal(v->join_cols[0], 0);
    assert_int_equal(v->ttl_us, 30LL * 86400 * 1000000);
    assert_int_equal(v->hop_us, 3600LL * 1000000);
    assert_true(v->hop_given);
    assert_true(v->online);
    assert_string_equal(v->meta.owner, "risk-team");
    assert_int_equal(v->meta.ntags, 1);
    assert_string_equal(v->meta.tags[0].key, "domain");
    assert_string_equal(v->meta.tags[0].value, "payments");
    assert_int_equal(v->nfeatures, 6);
    static const struct {
        const char *name;
        tess__feature_kind kind;
        tess__agg agg;
        tess__type type;
        int64_t window_s;
    } want[] = {
        {"last_amount", TESS_FEATURE_ROW, TESS_AGG_NONE, TESS_T_FLOAT64, 0},
        {"amount_cents", TESS_FEATURE_ROW, TESS_AGG_NONE, TESS_T_INT64, 0},
        {"txn_count_1h", TESS_FEATURE_AGG, TESS_AGG_COUNT, TESS_T_INT64, 3600},
        {"amount_sum_7d", TESS_FEATURE_AGG, TESS_AGG_SUM, TESS_T_FLOAT64, 7 * 86400},
        {"big_txn_count_30d", TESS_FEATURE_AGG, TESS_AGG_COUNT, TESS_T_INT64, 30 * 86400},
        {"amount_mean", TESS_FEATURE_AGG, TESS_AGG_MEAN, TESS_T_FLOAT64, 0},
    };
    for (size_t i = 0; i < 6; i++) {
        const tess__feature *f = &v->features[i];
        assert_string_equal(f->name, want[i].name);
        assert_int_equal(f->index, i);
        assert_ptr_equal(f->view, v);
        assert_int_equal(f->kind, want[i].kind);
        assert_int_equal(f->agg, want[i].agg);
        assert_int_equal(f->type, want[i].type);
        assert_int_equal(f->window_us, want[i].window_s * 1000000);
        assert_ptr_equal(tess__view_feature(v, want[i].name), f);
    }
    assert_null(v->features[2].expr);
    assert_non_null(v->features[4].where);
    assert_string_equal(v->features[4].where_src, "amount > 1000");
    assert_string_equal(v->features[1].expr_src, "cast(amount * 100, int64)");
    assert_int_equal(v->features[1].loc.line, 30);
    assert_int_equal(v->features[1].loc.col, 9);

    /* the default hop: min(1h, the shortest window) */
    const tess__view *m = tess__defs_view(d, "merchant_stats");
    assert_false(m->hop_given);
    assert_int_equal(m->hop_us, 600LL * 1000000);
    assert_ptr_equal(m->source, live);

    /* on-demand feature and service */
    const tess__odf *o = tess__defs_odf(d, "amount_vs_mean");
    assert_non_null(o);
    assert_int_equal(o->ninputs, 1);
    assert_ptr_equal(o->inputs[0], &v->features[5]);
    assert_int_equal(o->nrequest, 1);
    assert_int_equal(o->type, TESS_T_FLOAT64);
    const tess__service *s = tess__defs_service(d, "fraud_model_v1");
    assert_int_equal(s->nrefs, 4);
    assert_int_equal(s->nitems, 5);
    assert_ptr_equal(s->items[0].feature, &v->features[2]);
    assert_ptr_equal(s->items[1].feature, &v->features[3]);
    assert_ptr_equal(s->items[2].feature, &m->features[0]);
    assert_ptr_equal(s->items[3].feature, &m->features[1]);
    assert_ptr_equal(s->items[4].odf, o);
    assert_ptr_equal(tess__defs_feature_ref(d, "merchant_stats:amount_max_1d", 28),
                     &m->features[1]);
    assert_null(tess__defs_feature_ref(d, "merchant_stats:nope", 19));
    assert_null(tess__defs_view(d, "user"));

    /* the canonical document */
    json_t *j = tess__defs_to_json(d);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "project")), "fraud");
    json_t *views = json_object_get(j, "feature_views");
    assert_int_equal(json_array_size(views), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(views, 0), "name")),
                        "merchant_stats"); /* sorted by name */
    json_t *uv = json_array_get(views, 1);
    assert_string_equal(json_string_value(json_object_get(uv, "ttl")), "30d");
    assert_string_equal(json_string_value(json_object_get(uv, "hop")), "1h");
    json_t *f3 = json_array_get(json_object_get(uv, "features"), 3);
    char *f3s = json_dumps(f3, JSON_SORT_KEYS | JSON_COMPACT);
    assert_string_equal(f3s, "{\"agg\":\"sum\",\"description\":\"\",\"expr\":\"amount\",\"kind\":"
                             "\"aggregate\",\"name\":\"amount_sum_7d\",\"type\":\"float64\","
                             "\"where\":null,\"window\":\"1w\"}");
    free(f3s);
    json_t *svc = json_array_get(json_object_get(j, "feature_services"), 0);
    char *res = json_dumps(json_object_get(svc, "resolved"), JSON_COMPACT);
    assert_string_equal(res, "[\"user_txn:txn_count_1h\",\"user_txn:amount_sum_7d\","
                             "\"merchant_stats:txn_count_10m\",\"merchant_stats:amount_max_1d\","
                             "\"amount_vs_mean\"]");
    free(res);
    json_t *src1 = json_array_get(json_object_get(j, "sources"), 1);
    assert_string_equal(json_string_value(json_object_get(src1, "batch_source")), "transactions");
    assert_true(json_is_null(json_object_get(src1, "path")));
    json_decref(j);

    /* tess__defs_resolve, as a get-online-features request would */
    const char *refs[] = {"user_txn:last_amount", "user_txn:*", "amount_vs_mean"};
    tess__service_item *items = NULL;
    size_t nitems = 0;
    assert_int_equal(tess__defs_resolve(d, refs, 3, &items, &nitems, &err), TESS_OK);
    assert_int_equal(nitems, 7);
    assert_ptr_equal(items[0].feature, &v->features[0]);
    assert_ptr_equal(items[1].feature, &v->features[1]);
    assert_ptr_equal(items[6].odf, o);
    tess__free(items);
    const char *bad[] = {"user_txn:amount_men"};
    assert_int_equal(tess__defs_resolve(d, bad, 1, &items, &nitems, &err), TESS_NOTFOUND);
    assert_string_equal(tess__err_msg(&err), "feature view \"user_txn\" has no feature "
                                             "\"amount_men\"; did you mean \"amount_mean\"?");
    tess__defs_free(d);

    /* tess__config_load reads tessera.yaml alone */
    tess__config cfg;
    assert_int_equal(tess__config_load(dir, &cfg, &err), TESS_OK);
    assert_string_equal(cfg.project, "fraud");
    assert_string_equal(cfg.store, ".tessera");
    tess__config_release(&cfg);
    tess__err_release(&err);

    rmdir(sub);
    const char *names[] = {"tessera.yaml", "features.yaml", "notes.txt"};
    remove_dir(dir, names, 3);
}

static void test_config_errors(void **state)
{
    (void)state;
    char dir[] = "/tmp/tessera_defs_XXXXXX";
    assert_non_null(mkdtemp(dir));
    tess__config cfg;
    tess__err err = TESS__ERR_INIT;
    tess__defs *d = NULL;
    /* no tessera.yaml */
    assert_int_equal(tess__config_load(dir, &cfg, &err), TESS_ECONFIG);
    assert_int_equal(tess__defs_load(dir, &d, &err), TESS_ECONFIG);
    assert_null(d);
    write_file(dir, "tessera.yaml", "projet: fraud\nstore: data\nonline: 5\n");
    assert_int_equal(tess__config_load(dir, &cfg, &err), TESS_ECONFIG);
    assert_string_equal(tess__err_msg(&err),
                        "tessera.yaml:1:1: unknown key \"projet\"; did you mean \"project\"?\n"
                        "tessera.yaml:1:1: missing required key \"project\" (the project name)");
    assert_null(cfg.project);
    write_file(dir, "tessera.yaml", "project: a b\n");
    assert_int_equal(tess__config_load(dir, &cfg, &err), TESS_ECONFIG);
    assert_string_equal(tess__err_msg(&err),
                        "tessera.yaml:1:10: invalid project name \"a b\": use letters, digits, _ "
                        "and - (at most 128)");
    /* a config key in a definition file */
    write_file(dir, "tessera.yaml", "project: p\n");
    write_file(dir, "more.yml", "store: x\n");
    assert_int_equal(tess__config_load(dir, &cfg, &err), TESS_OK); /* only tessera.yaml */
    tess__config_release(&cfg);
    assert_int_equal(tess__defs_load(dir, &d, &err), TESS_EDEFS);
    assert_string_equal(tess__err_msg(&err),
                        "more.yml:1:1: \"store\" belongs in tessera.yaml, not in a definition "
                        "file");
    tess__err_release(&err);
    const char *names[] = {"tessera.yaml", "more.yml"};
    remove_dir(dir, names, 2);
}

/* ---- canonical JSON ------------------------------------------------------------------------- */

static void test_canonical_reordered_split(void **state)
{
    (void)state;
    tess__defs *a = NULL, *b = NULL;
    const char *one[] = {"features.yaml", design_defs};
    assert_int_equal(load_n(&a, 1, one), TESS_OK);

    /* the same definitions in three files, other object order, other formatting */
    const char *three[] = {
        "z_services.yaml",
        "feature_services:\n"
        "- features:\n"
        "  - user_txn:txn_count_1h\n"
        "  - 'user_txn:amount_sum_7d'\n"
        "  - merchant_stats:*\n"
        "  - amount_vs_mean\n"
        "  owner: risk-team\n"
        "  name: fraud_model_v1\n"
        "on_demand_features:\n"
        "- expr: amount / amount_mean\n"
        "  name: amount_vs_mean\n"
        "  inputs:\n"
        "    request:\n"
        "      amount: float64\n"
        "    features: [user_txn:amount_mean]\n",
        "a_sources.yaml",
        "sources:\n"
        "  - {name: transactions_live, type: push, batch_source: transactions}\n"
        "  - name: transactions\n"
        "    schema:\n"
        "      user_id: int64\n"
        "      merchant_id: string\n"
        "      amount: float64\n"
        "      ts: timestamp\n"
        "      created_at: timestamp\n"
        "    created_timestamp: created_at\n"
        "    timestamp: ts\n"
        "    format: csv\n"
        "    path: \"data/transactions.csv\"\n"
        "    type: batch\n"
        "entities:\n"
        "  - {name: merchant, join_keys: [{type: string, name: merchant_id}]}\n",
        "m_views.yaml",
        "feature_views:\n"
        "  - name: merchant_stats\n"
        "    source: transactions_live\n"
        "    entities: [merchant]\n"
        "    hop: 10m\n"
        "    online: true\n"
        "    features:\n"
        "      - {name: txn_count_10m, agg: count, window: 600s}\n"
        "      - {name: amount_max_1d, agg: max, expr: amount, window: 24h}\n"
        "  - name: user_txn\n"
        "    tags:\n"
        "      domain: payments\n"
        "    description: >-\n"
        "      Spending behaviour of a user\n"
        "    owner: risk-team\n"
        "    ttl: 720h\n"
        "    hop: 60m\n"
        "    source: transactions\n"
        "    entities: [user]\n"
        "    features:\n"
        "      - name: last_amount\n"
        "        expr: amount\n"
        "      - name: amount_cents\n"
        "        expr: cast(amount * 100, int64)\n"
        "      - {agg: count, name: txn_count_1h, window: 3600s}\n"
        "      - {name: amount_sum_7d, agg: sum, expr: '  amount ', window: 1w}\n"
        "      - name: big_txn_count_30d\n"
        "        agg: count\n"
        "        where: |\n"
        "          amount > 1000\n"
        "        window: 30d\n"
        "      - {name: amount_mean, agg: mean, expr: amount}\n"
        "entities:\n"
        "  - name: user\n"
        "    description: \"A customer account\"\n"
        "    join_keys:\n"
        "      - user_id\n"};
    int rc = load_n(&b, 3, three);
    if (rc != TESS_OK) fail_msg("%s", msg);
    char *ja = canonical(a), *jb = canonical(b);
    assert_string_equal(ja, jb);
    free(ja);
    free(jb);
    tess__defs_free(a);
    tess__defs_free(b);

    /* the order of a view's features is part of the definitions (output column order) */
    tess__defs *c = ok_of(BASE "feature_views:\n"
                               "  - {name: v, entities: [user], source: tx, features: "
                               "[{name: a, expr: amount}, {name: b, expr: merchant}]}\n");
    tess__defs *e = ok_of(BASE "feature_views:\n"
                               "  - {name: v, entities: [user], source: tx, features: "
                               "[{name: b, expr: merchant}, {name: a, expr: amount}]}\n");
    char *jc = canonical(c), *je = canonical(e);
    assert_string_not_equal(jc, je);
    free(jc);
    free(je);
    tess__defs_free(c);
    tess__defs_free(e);
}

/* ---- one test per class of error ------------------------------------------------------------ */

static void test_broken_yaml(void **state)
{
    (void)state;
    assert_string_equal(errors_of("entities:\n"
                                  "  - name: user\n"
                                  "   join_keys: [user_id]\n"),
                        "defs.yaml:3:4: invalid YAML: did not find expected '-' indicator (while "
                        "parsing a block collection at line 2, column 3)");
    assert_string_equal(errors_of("entities:\n"
                                  "  - name: user\n"
                                  "    join_keys: [user_id\n"),
                        "defs.yaml:4:1: invalid YAML: did not find expected ',' or ']' (while "
                        "parsing a flow sequence at line 3, column 16)");
    /* a broken file does not hide the problems of the others */
    tess__defs *d = NULL;
    const char *two[] = {"a.yaml", "entities: [\n", "b.yaml", "sources: 3\n"};
    assert_int_equal(load_n(&d, 2, two), TESS_EDEFS);
    assert_string_equal(msg, "a.yaml:2:1: invalid YAML: did not find expected node content "
                             "(while parsing a flow node at line 2, column 1)\n"
                             "b.yaml:1:10: sources must be a list (of sources), not a string");
    assert_string_equal(errors_of("a: \xc3\x28\n"),
                        "defs.yaml:1:5: invalid YAML: invalid trailing UTF-8 octet");
}

static void test_yaml_limits(void **state)
{
    (void)state;
    assert_string_equal(errors_of(BASE "  - &x {name: tx2, type: push, batch_source: tx}\n"
                                       "  - *x\n"),
                        "defs.yaml:11:5: YAML aliases (*x) are not supported; write the value "
                        "out");
    char deep[400];
    memset(deep, '[', 200);
    deep[200] = '\0';
    assert_string_equal(errors_of(deep), "defs.yaml:1:65: nesting is deeper than 64 levels");
    assert_string_equal(errors_of("entities: []\n---\nsources: []\n"),
                        "defs.yaml:2:1: a definition file holds one YAML document; found a "
                        "second one");
    assert_string_equal(errors_of("entities:\n"
                                  "  - name: user\n"
                                  "    join_keys: [a]\n"
                                  "    name: u2\n"),
                        "defs.yaml:4:5: duplicate key \"name\" (first at line 2, column 5)");
    /* empty files and empty sections are fine */
    tess__defs *d = ok_of("");
    tess__defs_free(d);
    d = ok_of("# nothing yet\nentities:\nsources: []\n");
    tess__defs_free(d);
}

static void test_unknown_key(void **state)
{
    (void)state;
    assert_string_equal(errors_of(BASE "feature_views:\n"
                                       "  - name: v\n"
                                       "    entities: [user]\n"
                                       "    sorce: tx\n"
                                       "    features: [{name: a, expr: amount, windw: 1h}]\n"),
                        "defs.yaml:11:5: feature view \"v\": missing required key \"source\"\n"
                        "defs.yaml:13:5: feature view \"v\": unknown key \"sorce\"; did you mean "
                        "\"source\"?\n"
                        "defs.yaml:14:40: feature \"v:a\": unknown key \"windw\"; did you mean "
                        "\"window\"?");
}

static void test_unknown_type(void **state)
{
    (void)state;
    assert_string_equal(errors_of("sources:\n"
                                  "  - name: tx\n"
                                  "    type: batch\n"
                                  "    path: tx.csv\n"
                                  "    timestamp: ts\n"
                                  "    schema:\n"
                                  "      ts: timestamp\n"
                                  "      amount: flaot64\n"
                                  "      n: integer\n"),
                        "defs.yaml:8:15: source \"tx\": column \"amount\": unknown type "
                        "\"flaot64\"; did you mean \"float64\"? (types: bool, int64, float64, "
                        "string, timestamp)\n"
                        "defs.yaml:9:10: source \"tx\": column \"n\": unknown type \"integer\" "
                        "(types: bool, int64, float64, string, timestamp)");
}

static void test_duplicate_names_across_files(void **state)
{
    (void)state;
    tess__defs *d = NULL;
    const char *files[] = {"b.yaml", BASE, "a.yaml",
                           "feature_views:\n"
                           "  - name: tx\n"
                           "    entities: [user]\n"
                           "    source: tx\n"
                           "    features:\n"
                           "      - {name: a, expr: amount}\n"
                           "      - {name: a, expr: amount}\n"
                           "entities:\n"
                           "  - {name: user, join_keys: [user_id]}\n"};
    assert_int_equal(load_n(&d, 2, files), TESS_EDEFS);
    assert_null(d);
    /* a.yaml is read first: the later definitions in b.yaml are the duplicates (and so the
     * view's source "tx" is the view itself, which the message explains) */
    assert_string_equal(msg,
                        "a.yaml:4:13: feature view \"tx\": unknown source \"tx\" (\"tx\" is a "
                        "feature view)\n"
                        "a.yaml:7:16: feature view \"tx\": duplicate feature \"a\" (first at line "
                        "6, column 16)\n"
                        "b.yaml:2:11: duplicate name \"user\": already defined as an entity at "
                        "a.yaml:9:12\n"
                        "b.yaml:5:11: duplicate name \"tx\": already defined as a feature view "
                        "at a.yaml:2:11");
}

static void test_dangling_references(void **state)
{
    (void)state;
    assert_string_equal(
        errors_of(BASE "  - {name: live, type: push, batch_source: txs}\n"
                       "feature_views:\n"
                       "  - name: v\n"
                       "    entities: [usr]\n"
                       "    source: tz\n"
                       "    features: [{name: amount_sum, agg: sum, expr: amount}]\n"
                       "  - {name: w, entities: [user], source: tx, features: [{name: a, expr: "
                       "amount}]}\n"
                       "on_demand_features:\n"
                       "  - name: od\n"
                       "    inputs: {features: [\"w:b\", \"x:a\", \"od2\"]}\n"
                       "    expr: a\n"
                       "  - {name: od2, inputs: {request: {q: int64}}, expr: q}\n"
                       "feature_services:\n"
                       "  - name: svc\n"
                       "    features: [\"v:amount_sun\", \"vv:*\", od3, w, \"w:a\", user]\n"),
        "defs.yaml:10:44: source \"live\": unknown source \"txs\"; did you mean \"tx\"?\n"
        "defs.yaml:13:16: feature view \"v\": unknown entity \"usr\"; did you mean \"user\"?\n"
        "defs.yaml:14:13: feature view \"v\": unknown source \"tz\"; did you mean \"tx\"?\n"
        "defs.yaml:19:25: on-demand feature \"od\": feature view \"w\" has no feature \"b\"\n"
        "defs.yaml:19:32: on-demand feature \"od\": unknown feature view \"x\" in \"x:a\"\n"
        "defs.yaml:19:39: on-demand feature \"od\": input \"od2\" is an on-demand feature; "
        "on-demand features may not use other on-demand features (use its inputs instead)\n"
        "defs.yaml:24:16: feature service \"svc\": feature view \"v\" has no feature "
        "\"amount_sun\"; did you mean \"amount_sum\"?\n"
        "defs.yaml:24:32: feature service \"svc\": unknown feature view \"vv\" in \"vv:*\"\n"
        "defs.yaml:24:40: feature service \"svc\": unknown on-demand feature \"od3\" (a view's "
        "feature is written \"view:feature\"); did you mean \"od\"?\n"
        "defs.yaml:24:45: feature service \"svc\": \"w\" is a feature view; name its features as "
        "\"w:name\" or all of them as \"w:*\"\n"
        "defs.yaml:24:55: feature service \"svc\": unknown on-demand feature \"user\" (a view's "
        "feature is written \"view:feature\")");
}

static void test_expression_error_position(void **state)
{
    (void)state;
    /* the column points at "amout" inside the expression, in every scalar style */
    const char *m = errors_of(BASE "feature_views:\n"
                                   "  - name: v\n"
                                   "    entities: [user]\n"
                                   "    source: tx\n"
                                   "    features:\n"
                                   "      - {name: a, expr: \"amount * amout\"}\n"
                                   "      - {name: b, expr: amount * amout}\n"
                                   "      - name: c\n"
                                   "        expr: 'amount *  amout'\n"
                                   "      - name: d\n"
                                   "        expr: |\n"
                                   "          amount *\n"
                                   "            amout\n");
    const char *want[] = {
        "defs.yaml:15:35: feature \"v:a\": expr: ", "defs.yaml:16:34: feature \"v:b\": expr: ",
        "defs.yaml:18:26: feature \"v:c\": expr: ", "defs.yaml:22:13: feature \"v:d\": expr: "};
    const char *line = m;
    for (size_t i = 0; i < 4; i++) {
        if (strncmp(line, want[i], strlen(want[i])) != 0)
            fail_msg("line %zu: want prefix %s, got:\n%s", i, want[i], m);
        const char *end = strchr(line, '\n');
        size_t n = end ? (size_t)(end - line) : strlen(line);
        char one[512];
        snprintf(one, sizeof(one), "%.*s", (int)n, line);
        assert_non_null(strstr(one, "amout")); /* the message names the unknown column */
        line = end ? end + 1 : line + n;
    }
    assert_int_equal(*line, '\0');

    /* a type error: somewhere inside the expression text, on its line */
    m = errors_of(BASE "feature_views:\n"
                       "  - name: v\n"
                       "    entities: [user]\n"
                       "    source: tx\n"
                       "    features: [{name: a, expr: \"merchant + 1\"}]\n");
    int line_no = 0, col = 0;
    assert_int_equal(sscanf(m, "defs.yaml:%d:%d: feature \"v:a\": expr: ", &line_no, &col), 2);
    assert_int_equal(line_no, 14);
    assert_in_range(col, 37, 48); /* the text merchant + 1 spans columns 37..48 */
    assert_null(strchr(m, '\n'));
}

static void test_where_not_bool(void **state)
{
    (void)state;
    assert_string_equal(errors_of(BASE "feature_views:\n"
                                       "  - name: v\n"
                                       "    entities: [user]\n"
                                       "    source: tx\n"
                                       "    features:\n"
                                       "      - {name: a, agg: count, where: amount, window: 1h}\n"
                                       "      - {name: b, expr: amount, where: amount > 1}\n"),
                        "defs.yaml:15:38: feature \"v:a\": where must be a bool expression, got "
                        "float64\n"
                        "defs.yaml:16:33: feature \"v:b\": where is only for aggregates (add "
                        "agg:)");
}

static void test_aggregate_types(void **state)
{
    (void)state;
    assert_string_equal(errors_of(BASE "feature_views:\n"
                                       "  - name: v\n"
                                       "    entities: [user]\n"
                                       "    source: tx\n"
                                       "    features:\n"
                                       "      - {name: a, agg: sum, expr: merchant}\n"
                                       "      - {name: b, agg: stddev_samp, expr: ts}\n"
                                       "      - {name: c, agg: max, expr: amount > 1}\n"
                                       "      - {name: d, agg: mean}\n"
                                       "      - {name: e, agg: summ, expr: amount}\n"),
                        "defs.yaml:15:35: feature \"v:a\": sum needs an int64 or float64 "
                        "expression, got string\n"
                        "defs.yaml:16:43: feature \"v:b\": stddev_samp needs an int64 or float64 "
                        "expression, got timestamp\n"
                        "defs.yaml:17:35: feature \"v:c\": max needs an int64, float64, "
                        "timestamp or string expression, got bool\n"
                        "defs.yaml:18:9: feature \"v:d\": missing required key \"expr\" (mean "
                        "needs an expression to aggregate)\n"
                        "defs.yaml:19:24: feature \"v:e\": unknown aggregation \"summ\"; did you "
                        "mean \"sum\"? (aggregations: count, sum, mean, min, max, first, last, "
                        "stddev_samp, stddev_pop, var_samp, var_pop, count_distinct_approx)");
    /* result types */
    tess__defs *d = ok_of(BASE "feature_views:\n"
                               "  - name: v\n"
                               "    entities: [user]\n"
                               "    source: tx\n"
                               "    features:\n"
                               "      - {name: a, agg: sum, expr: user_id}\n"
                               "      - {name: b, agg: var_pop, expr: user_id}\n"
                               "      - {name: c, agg: min, expr: ts}\n"
                               "      - {name: d, agg: last, expr: merchant}\n"
                               "      - {name: e, agg: count_distinct_approx, expr: merchant}\n"
                               "      - {name: f, agg: count, expr: merchant}\n");
    const tess__view *v = tess__defs_view(d, "v");
    tess__type want[] = {TESS_T_INT64,  TESS_T_FLOAT64, TESS_T_TIMESTAMP,
                         TESS_T_STRING, TESS_T_INT64,   TESS_T_INT64};
    for (size_t i = 0; i < 6; i++)
        assert_int_equal(v->features[i].type, want[i]);
    assert_int_equal(v->features[5].input_type, TESS_T_STRING);
    assert_int_equal(v->hop_us, 3600LL * 1000000); /* no windows: 1h */
    tess__defs_free(d);
}

static void test_window_and_hop(void **state)
{
    (void)state;
    assert_string_equal(errors_of(BASE "feature_views:\n"
                                       "  - name: v\n"
                                       "    entities: [user]\n"
                                       "    source: tx\n"
                                       "    hop: 1h\n"
                                       "    ttl: 3x\n"
                                       "    features:\n"
                                       "      - {name: a, agg: count, window: 30m}\n"
                                       "      - {name: b, agg: count, window: 0}\n"
                                       "      - {name: c, expr: amount, window: 1h}\n"
                                       "  - {name: w, entities: [user], source: tx, hop: 0s, "
                                       "features: [{name: a, expr: amount}]}\n"),
                        "defs.yaml:15:10: feature view \"v\": invalid ttl \"3x\": unknown unit: "
                        "use s, m, h, d or w\n"
                        "defs.yaml:17:39: feature \"v:a\": window 30m is shorter than the view's "
                        "hop 1h\n"
                        "defs.yaml:18:39: feature \"v:b\": window must be greater than 0\n"
                        "defs.yaml:19:33: feature \"v:c\": window is only for aggregates (add "
                        "agg:)\n"
                        "defs.yaml:20:50: feature view \"w\": hop must be greater than 0");
}

/* online_expiry: a duration > 0, shown in the JSON only when set; refused (at its value) where
 * it could change a value: lifetime aggregates, row-level features without a ttl, shorter
 * than the ttl, shorter than the longest window + hop. */
static void test_online_expiry(void **state)
{
    (void)state;
    tess__defs *d = ok_of(BASE "feature_views:\n"
                               "  - name: v\n"
                               "    entities: [user]\n"
                               "    source: tx\n"
                               "    hop: 1h\n"
                               "    ttl: 2d\n"
                               "    online_expiry: 8d\n"
                               "    features:\n"
                               "      - {name: a, expr: amount}\n"
                               "      - {name: b, agg: count, window: 7d}\n"
                               "  - name: w\n"
                               "    entities: [user]\n"
                               "    source: tx\n"
                               "    hop: 1h\n"
                               "    online_expiry: 169h\n" /* exactly 7d + 1h, and no ttl */
                               "    features:\n"
                               "      - {name: b, agg: count, window: 7d}\n"
                               "  - {name: x, entities: [user], source: tx, features: [{name: a, "
                               "expr: amount}]}\n");
    assert_int_equal(tess__defs_view(d, "v")->online_expiry_us, 8LL * 86400 * 1000000);
    assert_int_equal(tess__defs_view(d, "x")->online_expiry_us, 0);
    json_t *doc = tess__defs_to_json(d);
    json_t *vs = json_object_get(doc, "feature_views");
    assert_string_equal(json_string_value(json_object_get(json_array_get(vs, 0), "online_expiry")),
                        "8d");
    assert_string_equal(json_string_value(json_object_get(json_array_get(vs, 1), "online_expiry")),
                        "169h");
    assert_null(json_object_get(json_array_get(vs, 2), "online_expiry")); /* absent: no key */
    json_decref(doc);
    tess__defs_free(d);

    assert_string_equal(
        errors_of(BASE "feature_views:\n"
                       "  - name: v\n"                                            /* 11 */
                       "    entities: [user]\n"
                       "    source: tx\n"
                       "    online_expiry: 30d\n"                                 /* 14 */
                       "    features:\n"
                       "      - {name: m, agg: mean, expr: amount}\n"
                       "  - name: w\n"                                            /* 17 */
                       "    entities: [user]\n"
                       "    source: tx\n"
                       "    online_expiry: 30d\n"                                 /* 20 */
                       "    features:\n"
                       "      - {name: a, expr: amount}\n"
                       "  - name: x\n"                                            /* 23 */
                       "    entities: [user]\n"
                       "    source: tx\n"
                       "    ttl: 2d\n"
                       "    online_expiry: 1d\n"                                  /* 27 */
                       "    features:\n"
                       "      - {name: a, expr: amount}\n"
                       "  - name: y\n"                                            /* 30 */
                       "    entities: [user]\n"
                       "    source: tx\n"
                       "    hop: 1h\n"
                       "    online_expiry: 7d\n"                                  /* 34 */
                       "    features:\n"
                       "      - {name: b, agg: count, window: 7d}\n"
                       "  - {name: z, entities: [user], source: tx, online_expiry: 0s, "
                       "features: [{name: b, agg: count, window: 1h}]}\n"),   /* 37 */
        "defs.yaml:14:20: feature view \"v\": online_expiry cannot be used with lifetime "
        "aggregates (feature \"m\" has no window): lifetime aggregates would lose their history\n"
        "defs.yaml:20:20: feature view \"w\": online_expiry needs a ttl when the view has "
        "row-level features (feature \"a\"): their values must be OUTSIDE_MAX_AGE before the "
        "entity is forgotten\n"
        "defs.yaml:27:20: feature view \"x\": online_expiry 1d is shorter than the view's ttl 2d\n"
        "defs.yaml:34:20: feature view \"y\": online_expiry 1w is shorter than the view's longest "
        "window + hop (1w + 1h = 169h)\n"
        "defs.yaml:37:60: feature view \"z\": online_expiry must be greater than 0");
}

static void test_missing_required(void **state)
{
    (void)state;
    assert_string_equal(errors_of("entities:\n"
                                  "  - name: user\n"
                                  "  - join_keys: [a]\n"
                                  "sources:\n"
                                  "  - name: s\n"
                                  "    type: batch\n"
                                  "    schema: {ts: timestamp}\n"
                                  "feature_views:\n"
                                  "  - name: v\n"
                                  "    entities: []\n"
                                  "    source:\n"
                                  "    features:\n"
                                  "      - {expr: ts}\n"
                                  "on_demand_features:\n"
                                  "  - name: o\n"
                                  "feature_services:\n"
                                  "  - name: f\n"
                                  "  - 42\n"),
                        "defs.yaml:2:5: entity \"user\": missing required key \"join_keys\"\n"
                        "defs.yaml:3:5: entity: missing required key \"name\"\n"
                        "defs.yaml:5:5: source \"s\": missing required key \"path\"\n"
                        "defs.yaml:5:5: source \"s\": missing required key \"timestamp\"\n"
                        "defs.yaml:10:15: feature view \"v\": entities must list at least one of "
                        "entity names\n"
                        "defs.yaml:11:5: feature view \"v\": source needs a value\n"
                        "defs.yaml:13:9: feature #1 of feature view \"v\": missing required key "
                        "\"name\"\n"
                        "defs.yaml:15:5: on-demand feature \"o\": missing required key \"expr\"\n"
                        "defs.yaml:17:5: feature service \"f\": missing required key "
                        "\"features\"\n"
                        "defs.yaml:18:5: feature_services: expected a feature service (a mapping "
                        "with name: and its keys), not a string");
}

static void test_join_keys(void **state)
{
    (void)state;
    assert_string_equal(errors_of("entities:\n"
                                  "  - {name: user, join_keys: [user_id]}\n"
                                  "  - {name: account, join_keys: [account_id]}\n"
                                  "  - {name: shop, join_keys: [{name: merchant, type: int64}]}\n"
                                  "sources:\n"
                                  "  - {name: tx, type: batch, path: tx.csv, timestamp: ts, "
                                  "schema: {user_id: int64, merchant: string, ts: timestamp}}\n"
                                  "  - {name: s2, type: batch, path: s2.jsonl, timestamp: ts, "
                                  "schema: {user_id: string, ts: timestamp}}\n"
                                  "feature_views:\n"
                                  "  - {name: v1, entities: [user], source: tx, features: "
                                  "[{name: a, expr: ts}]}\n"
                                  "  - {name: v2, entities: [user], source: s2, features: "
                                  "[{name: a, expr: ts}]}\n"
                                  "  - {name: v3, entities: [account, shop], source: tx, "
                                  "features: [{name: a, expr: ts}]}\n"),
                        "defs.yaml:10:27: feature view \"v2\": join key \"user_id\" of entity "
                        "\"user\" is string in source \"s2\" but int64 in source \"tx\" (feature "
                        "view \"v1\"); declare its type in the entity and make the sources agree\n"
                        "defs.yaml:11:27: feature view \"v3\": join key \"account_id\" of entity "
                        "\"account\" is not a column of source \"tx\"\n"
                        "defs.yaml:11:36: feature view \"v3\": join key \"merchant\" of entity "
                        "\"shop\" has type int64, but column \"merchant\" of source \"tx\" is "
                        "string");
    /* an entity no view uses keeps an unknown key type (null in JSON) */
    tess__defs *d = ok_of("entities: [{name: e, join_keys: [k]}]\n");
    assert_int_equal(tess__defs_entity(d, "e")->join_keys[0].type, TESS_T_NULL);
    char *j = canonical(d);
    assert_non_null(strstr(j, "\"join_keys\":[{\"name\":\"k\",\"type\":null}]"));
    free(j);
    tess__defs_free(d);
}

static void test_push_sources(void **state)
{
    (void)state;
    assert_string_equal(errors_of(BASE "  - name: live\n"
                                       "    type: push\n"
                                       "    batch_source: tx\n"
                                       "    timestamp: ts\n"
                                       "    schema: {ts: timestamp}\n"
                                       "    path: x.csv\n"
                                       "  - {name: live2, type: push, batch_source: live}\n"
                                       "  - {name: live3, type: push, schema: {a: int64}, "
                                       "timestamp: a}\n"
                                       "  - {name: b, type: bach, path: x.csv}\n"),
                        "defs.yaml:13:5: source \"live\": timestamp comes from batch_source "
                        "\"tx\"; do not repeat it here\n"
                        "defs.yaml:14:5: source \"live\": schema comes from batch_source \"tx\"; "
                        "do not repeat it here\n"
                        "defs.yaml:15:5: source \"live\": path is only for batch sources (a push "
                        "source receives its rows from clients)\n"
                        "defs.yaml:16:45: source \"live2\": batch_source \"live\" is a push "
                        "source; expected a batch source\n"
                        "defs.yaml:17:62: source \"live3\": timestamp column \"a\" has type int64; "
                        "it must be timestamp\n"
                        "defs.yaml:18:21: source \"b\": unknown source type \"bach\"; did you mean "
                        "\"batch\"? (expected batch or push)");
}

static void test_batch_source_options(void **state)
{
    (void)state;
    assert_string_equal(errors_of("sources:\n"
                                  "  - name: a\n"
                                  "    type: batch\n"
                                  "    path: data/*\n"
                                  "    timestamp: tss\n"
                                  "    schema: {ts: timestamp, 1x: int64}\n"
                                  "  - {name: b, type: batch, path: b.jsonl, delimiter: \";\", "
                                  "timestamp: t, schema: {t: timestamp}}\n"
                                  "  - {name: c, type: batch, path: c.txt, format: tsv, delimiter: "
                                  "ab, timestamp: t, schema: {t: timestamp}}\n"),
                        "defs.yaml:4:11: source \"a\": cannot tell the format of \"data/*\" from "
                        "its extension; add format: csv or format: jsonl\n"
                        "defs.yaml:6:29: source \"a\": invalid column name \"1x\": use letters, "
                        "digits and _, not starting with a digit (at most 128 characters)\n"
                        "defs.yaml:7:43: source \"b\": delimiter is only for csv sources\n"
                        "defs.yaml:8:49: source \"c\": unknown format \"tsv\"; did you mean "
                        "\"csv\"? (expected csv or jsonl)\n"
                        "defs.yaml:8:65: source \"c\": delimiter must be one character (not a "
                        "quote or a line break), e.g. \";\" or \"\\t\"");
    tess__defs *d = ok_of("sources:\n"
                          "  - {name: a, type: batch, path: \"in/*.csv\", delimiter: \"\\t\", "
                          "timestamp: t, schema: {t: timestamp}}\n"
                          "  - {name: b, type: batch, path: in/b, format: jsonl, timestamp: t, "
                          "schema: {t: timestamp}}\n");
    assert_int_equal(tess__defs_source(d, "a")->delimiter, '\t');
    assert_int_equal(tess__defs_source(d, "a")->format, TESS_FORMAT_CSV);
    assert_int_equal(tess__defs_source(d, "b")->format, TESS_FORMAT_JSONL);
    assert_int_equal(tess__defs_source(d, "b")->delimiter, 0);
    tess__defs_free(d);
}

static void test_on_demand(void **state)
{
    (void)state;
    const char *views = BASE "feature_views:\n"
                             "  - {name: v, entities: [user], source: tx, features: [{name: "
                             "amount, expr: amount}, {name: n, agg: count}]}\n";
    char buf[2048];
    snprintf(buf, sizeof(buf),
             "%son_demand_features:\n"
             "  - name: o\n"
             "    inputs: {features: [\"v:amount\", \"v:*\"], request: {amount: float64}}\n"
             "    expr: amount\n"
             "  - name: p\n"
             "    inputs: {features: [\"v:n\"], request: {z: int64, a: string}}\n"
             "    expr: n + z + a\n",
             views);
    const char *m = errors_of(buf);
    const char *want = "defs.yaml:14:37: on-demand feature \"o\": inputs name single features "
                       "(\"view:feature\"), not \"v:*\"\n"
                       "defs.yaml:14:55: on-demand feature \"o\": the name \"amount\" is given "
                       "twice to the expression (also at line 14, column 25); an input feature "
                       "and a request field, or two input features, cannot share a name\n"
                       "defs.yaml:18:"; /* then where the expression module points, in n + z + a */
    if (strncmp(m, want, strlen(want)) != 0) fail_msg("got:\n%s", m);

    snprintf(buf, sizeof(buf),
             "%son_demand_features:\n"
             "  - name: p\n"
             "    inputs: {features: [\"v:n\"], request: {z: int64, a: float64}}\n"
             "    expr: n + z + a\n",
             views);
    tess__defs *d = ok_of(buf);
    const tess__odf *p = tess__defs_odf(d, "p");
    assert_int_equal(p->type, TESS_T_FLOAT64);
    assert_int_equal(p->nrequest, 2);
    assert_string_equal(p->request[0].name, "a"); /* sorted by name */
    assert_string_equal(p->request[1].name, "z");
    assert_string_equal(p->input_refs[0], "v:n");
    tess__defs_free(d);
}

static void test_services_dedupe(void **state)
{
    (void)state;
    tess__defs *d = ok_of(BASE "feature_views:\n"
                               "  - {name: v, entities: [user], source: tx, online: false, "
                               "features: [{name: a, expr: amount}, {name: b, expr: merchant}]}\n"
                               "feature_services:\n"
                               "  - {name: s, features: [\"v:b\", \"v:*\", \"v:b\"], tags: {team: "
                               "x, tier: 1}}\n");
    const tess__service *s = tess__defs_service(d, "s");
    const tess__view *v = tess__defs_view(d, "v");
    assert_false(v->online);
    assert_int_equal(s->nitems, 2);
    assert_ptr_equal(s->items[0].feature, &v->features[1]);
    assert_ptr_equal(s->items[1].feature, &v->features[0]);
    assert_int_equal(s->meta.ntags, 2);
    assert_string_equal(s->meta.tags[1].value, "1");
    tess__defs_free(d);
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(errors_of("entities:\n"
                                  "  - {name: 1user, join_keys: [user id]}\n"
                                  "unknown_section: []\n"
                                  "feature_view: []\n"),
                        "defs.yaml:2:12: entity: invalid name \"1user\": use letters, digits and "
                        "_, not starting with a digit (at most 128 characters)\n"
                        "defs.yaml:2:31: entity: invalid join key \"user id\": use letters, "
                        "digits and _, not starting with a digit (at most 128 characters)\n"
                        "defs.yaml:3:1: unknown key \"unknown_section\" (expected one of: "
                        "entities, sources, feature_views, on_demand_features, "
                        "feature_services)\n"
                        "defs.yaml:4:1: unknown key \"feature_view\"; did you mean "
                        "\"feature_views\"?");
}

static void test_error_cap(void **state)
{
    (void)state;
    size_t cap = 150 * 48 + 32, len = 0;
    char *big = malloc(cap);
    assert_non_null(big);
    len += (size_t)snprintf(big, cap, "entities:\n");
    for (int i = 0; i < 150; i++)
        len += (size_t)snprintf(big + len, cap - len, "  - {name: e%d, join_keys: [k], x: 1}\n", i);
    const char *m = errors_of(big);
    size_t lines = 1;
    for (const char *c = m; *c; c++)
        lines += *c == '\n';
    assert_int_equal(lines, 101);
    assert_non_null(strstr(m, "... and 50 more problems (only the first 100 are shown)"));
    free(big);
}

/* Fails every allocation in turn: each load must fail cleanly (ASan checks for leaks). */
static void test_allocation_failures(void **state)
{
    (void)state;
    const char *files[] = {"features.yaml", design_defs};
    tess__defs *d = NULL;
    tess__alloc_fail_after(-1);
    assert_int_equal(load_n(&d, 1, files), TESS_OK);
    tess__defs_free(d);
    tess__alloc_fail_after(-1);
    assert_int_equal(load_n(&d, 1, files), TESS_OK);
    long total = tess__alloc_fail_after(-1);
    tess__defs_free(d);
    assert_true(total > 10);
    for (long n = 0; n < total; n++) {
        tess__alloc_fail_after(n);
        int rc = load_n(&d, 1, files);
        tess__alloc_fail_after(-1);
        if (rc == TESS_OK) {
            tess__defs_free(d);
            continue;
        }
        if (rc != TESS_ENOMEM) fail_msg("fail after %ld: rc %d: %s", n, rc, msg);
        assert_null(d);
    }
}

/* Garbage must never crash the loader. */
static void test_garbage_inputs(void **state)
{
    (void)state;
    static const char *const inputs[] = {
        "",
        "~",
        "- a\n- b\n",
        "entities: [[[]]]\n",
        "entities: [{name: {a: b}}]\n",
        "sources: [{name: s, type: [push]}]\n",
        "sources: [{name: s, type: push, batch_source: {x: 1}}]\n",
        "feature_views: [{name: v, features: [[], 1, {name: x, agg: [sum]}]}]\n",
        ("feature_views: [{name: v, entities: [user, user], source: s, features: "
         "[{name: x, expr: \"\"}]}]\n"),
        "on_demand_features: [{name: o, inputs: [1], expr: 1}]\n",
        "on_demand_features: [{name: o, inputs: {features: \"x\", request: [1]}, expr: 1}]\n",
        "feature_services: [{name: s, features: [[1]]}]\n",
        "? [a, b]\n: c\n",
        "entities: [{name: \"a\\0b\", join_keys: [x]}]\n",
        "&a entities: !!str [ ]\n",
        "tags: {}\n",
        "\t\n",
        "\"unterminated\n",
        "entities:\n  - name: e\n    join_keys: [k]\n    tags: [1, 2]\n    owner: {}\n",
    };
    for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
        tess__defs *d = NULL;
        const char *nt[] = {"x.yaml", inputs[i]};
        int rc = load_n(&d, 1, nt);
        assert_true(rc == TESS_OK || rc == TESS_EDEFS);
        if (rc == TESS_OK)
            tess__defs_free(d);
        else
            assert_true(strlen(msg) > 0 && strncmp(msg, "x.yaml:", 7) == 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_design_example),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_canonical_reordered_split),
        cmocka_unit_test(test_broken_yaml),
        cmocka_unit_test(test_yaml_limits),
        cmocka_unit_test(test_unknown_key),
        cmocka_unit_test(test_unknown_type),
        cmocka_unit_test(test_duplicate_names_across_files),
        cmocka_unit_test(test_dangling_references),
        cmocka_unit_test(test_expression_error_position),
        cmocka_unit_test(test_where_not_bool),
        cmocka_unit_test(test_aggregate_types),
        cmocka_unit_test(test_window_and_hop),
        cmocka_unit_test(test_missing_required),
        cmocka_unit_test(test_join_keys),
        cmocka_unit_test(test_push_sources),
        cmocka_unit_test(test_batch_source_options),
        cmocka_unit_test(test_on_demand),
        cmocka_unit_test(test_services_dedupe),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_online_expiry),
        cmocka_unit_test(test_error_cap),
        cmocka_unit_test(test_allocation_failures),
        cmocka_unit_test(test_garbage_inputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
