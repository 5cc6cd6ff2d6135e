/* test_registry.c — the registry (src/registry) against hand-written canonical definitions
 * documents (the shape of tess__defs_to_json), and the store glue (src/store) on a small repo.
 *
 * Versions and no-op applies, old versions readable, plan (added / changed / removed, affected
 * services), search, describe, lineage, history; a reader during an open write transaction,
 * a writer behind another writer, a crash before COMMIT, and every allocation of an apply failed
 * in turn (the library's, jansson's and SQLite's, all routed through tess__malloc here).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/hash.h"
#include "registry/registry.h"
#include "store/store_int.h"
#include "tessera.h"

/* ---- allocation routing: jansson and SQLite through tess__malloc ------------------------ */

static long jansson_live; /* jansson blocks not yet freed */

static void *j_malloc(size_t n)
{
    void *p = tess__malloc(n);
    if (p) __atomic_add_fetch(&jansson_live, 1, __ATOMIC_RELAXED);
    return p;
}

static void j_free(void *p)
{
    if (p) __atomic_sub_fetch(&jansson_live, 1, __ATOMIC_RELAXED);
    tess__free(p);
}

#define SQ_HDR 16
static void *sq_malloc(int n)
{
    char *p = tess__malloc((size_t)n + SQ_HDR);
    if (!p) return NULL;
    *(size_t *)p = (size_t)n;
    return p + SQ_HDR;
}
static void sq_free(void *p)
{
    if (p) tess__free((char *)p - SQ_HDR);
}
static void *sq_realloc(void *p, int n)
{
    if (!p) return sq_malloc(n);
    char *q = tess__realloc((char *)p - SQ_HDR, (size_t)n + SQ_HDR);
    if (!q) return NULL;
    *(size_t *)q = (size_t)n;
    return q + SQ_HDR;
}
static int sq_size(void *p)
{
    return p ? (int)*(size_t *)((char *)p - SQ_HDR) : 0;
}
static int sq_roundup(int n)
{
    return (n + 7) & ~7;
}
static int sq_init(void *a)
{
    (void)a;
    return SQLITE_OK;
}
static void sq_shutdown(void *a)
{
    (void)a;
}

/* ---- fixtures ---------------------------------------------------------------------------- */

typedef struct fx {
    char dir[64];
    char path[96];
    tess__registry *r;
    tess__err err;
} fx;

static void rm_rf(const char *dir)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/tess_registry_XXXXXX");
    if (!mkdtemp(f->dir)) return -1;
    snprintf(f->path, sizeof f->path, "%s/registry.db", f->dir);
    f->err = (tess__err)TESS__ERR_INIT;
    if (tess__registry_open(f->path, &f->r, &f->err) != TESS_OK) {
        fprintf(stderr, "open: %s\n", tess__err_msg(&f->err));
        return -1;
    }
    setenv("TESSERA_NOW", "2024-01-02T03:04:05Z", 1);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    tess__registry_close(f->r);
    tess__err_release(&f->err);
    rm_rf(f->dir);
    free(f);
    unsetenv("TESSERA_NOW");
    return 0;
}

/* JSON written with ' for " (readable literals). */
static json_t *J(const char *text)
{
    char *s = strdup(text);
    for (char *p = s; *p; p++)
        if (*p == '\'') *p = '"';
    json_error_t e;
    json_t *j = json_loads(s, 0, &e);
    if (!j) fail_msg("bad test JSON: %s at %d:%d", e.text, e.line, e.column);
    free(s);
    return j;
}

static const char *const BASE =
    "{'project': 'fraud',"
    " 'entities': ["
    "  {'name': 'merchant', 'join_keys': [{'name': 'merchant_id', 'type': 'string'}],"
    "   'description': 'A shop', 'owner': '', 'tags': {}},"
    "  {'name': 'user', 'join_keys': [{'name': 'user_id', 'type': 'int64'}],"
    "   'description': 'A customer account', 'owner': '', 'tags': {}}],"
    " 'sources': ["
    "  {'name': 'transactions', 'type': 'batch', 'path': 'data/transactions.csv', 'format': 'csv',"
    "   'timestamp': 'ts', 'created_timestamp': null, 'batch_source': null,"
    "   'schema': [{'name': 'user_id', 'type': 'int64'}, {'name': 'amount', 'type': 'float64'},"
    "              {'name': 'ts', 'type': 'timestamp'}],"
    "   'description': 'Card transactions', 'owner': 'payments-eng', 'tags': {}},"
    "  {'name': 'transactions_live', 'type': 'push', 'path': null, 'format': null,"
    "   'timestamp': 'ts', 'created_timestamp': null, 'batch_source': 'transactions',"
    "   'schema': [{'name': 'user_id', 'type': 'int64'}, {'name': 'amount', 'type': 'float64'},"
    "              {'name': 'ts', 'type': 'timestamp'}],"
    "   'description': '', 'owner': '', 'tags': {}}],"
    " 'feature_views': ["
    "  {'name': 'merchant_stats', 'entities': ['merchant'], 'source': 'transactions',"
    "   'ttl': null, 'hop': '1h', 'description': 'Merchant activity and amounts',"
    "   'owner': 'merchant-team', 'tags': {'domain': 'merchants'}, 'online': true,"
    "   'features': ["
    "    {'name': 'txn_count_1d', 'type': 'int64', 'kind': 'aggregate', 'expr': null,"
    "     'agg': 'count', 'where': null, 'window': '1d', 'description': ''}]},"
    "  {'name': 'user_txn', 'entities': ['user'], 'source': 'transactions_live',"
    "   'ttl': '30d', 'hop': '1h', 'description': 'Spending behaviour of a user',"
    "   'owner': 'risk-team', 'tags': {'domain': 'payments'}, 'online': true,"
    "   'features': ["
    "    {'name': 'amount_mean', 'type': 'float64', 'kind': 'aggregate', 'expr': 'amount',"
    "     'agg': 'mean', 'where': null, 'window': null, 'description': ''},"
    "    {'name': 'amount_sum_7d', 'type': 'float64', 'kind': 'aggregate', 'expr': 'amount',"
    "     'agg': 'sum', 'where': null, 'window': '7d', 'description': ''},"
    "    {'name': 'last_amount', 'type': 'float64', 'kind': 'row', 'expr': 'amount',"
    "     'agg': null, 'where': null, 'window': null,"
    "     'description': 'Amount of the latest transaction'},"
    "    {'name': 'txn_count_1h', 'type': 'int64', 'kind': 'aggregate', 'expr': null,"
    "     'agg': 'count', 'where': null, 'window': '1h', 'description': ''}]}],"
    " 'on_demand_features': ["
    "  {'name': 'amount_vs_mean', 'type': 'float64', 'expr': 'amount / amount_mean',"
    "   'features': ['user_txn:amount_mean'], 'request': [{'name': 'amount', 'type': 'float64'}],"
    "   'description': 'Ratio of the amount to the mean', 'owner': 'risk-team', 'tags': {}}],"
    " 'feature_services': ["
    "  {'name': 'fraud_model_v1',"
    "   'features': ['user_txn:txn_count_1h', 'user_txn:amount_sum_7d', 'merchant_stats:*',"
    "                'amount_vs_mean'],"
    "   'resolved': ['user_txn:txn_count_1h', 'user_txn:amount_sum_7d',"
    "                'merchant_stats:txn_count_1d', 'amount_vs_mean'],"
    "   'description': 'Fraud scoring', 'owner': 'risk-team', 'tags': {'tier': 'gold'}},"
    "  {'name': 'marketing_model', 'features': ['user_txn:last_amount'],"
    "   'resolved': ['user_txn:last_amount'], 'description': '', 'owner': 'growth',"
    "   'tags': {}}]}";

#define N_BASE_OBJECTS 14 /* 2 entities, 2 sources, 2 views, 5 features, 1 odf, 2 services */

static json_t *section_item(json_t *doc, const char *section, const char *name)
{
    size_t i;
    json_t *o;
    json_array_foreach(json_object_get(doc, section), i, o)
    {
        if (strcmp(json_string_value(json_object_get(o, "name")), name) == 0) return o;
    }
    fail_msg("no %s %s in the test document", section, name);
    return NULL;
}

static json_t *feature_of(json_t *doc, const char *view, const char *name)
{
    size_t i;
    json_t *o;
    json_array_foreach(json_object_get(section_item(doc, "feature_views", view), "features"), i, o)
    {
        if (strcmp(json_string_value(json_object_get(o, "name")), name) == 0) return o;
    }
    fail_msg("no feature %s:%s in the test document", view, name);
    return NULL;
}

static void set_str(json_t *o, const char *key, const char *value)
{
    assert_int_equal(json_object_set_new(o, key, json_string(value)), 0);
}

/* Removes the element named `name` from doc[section]. */
static void remove_item(json_t *arr, const char *name)
{
    size_t i;
    json_t *o;
    json_array_foreach(arr, i, o)
    {
        if (strcmp(json_string_value(json_object_get(o, "name")), name) == 0) {
            json_array_remove(arr, i);
            return;
        }
    }
    fail_msg("no %s to remove", name);
}

static json_t *apply_ok(fx *f, json_t *doc)
{
    json_t *res = NULL;
    int rc = tess__registry_apply(f->r, doc, &res, &f->err);
    if (rc != TESS_OK) fail_msg("apply: %s", tess__err_msg(&f->err));
    return res;
}

static int64_t latest_version(fx *f)
{
    int64_t v = -1;
    assert_int_equal(tess__registry_latest(f->r, &v, NULL, &f->err), TESS_OK);
    return v;
}

/* True if arr holds {"kind": kind, "name": name, ...}. */
static json_t *find_kn(json_t *arr, const char *kind, const char *name)
{
    size_t i;
    json_t *o;
    json_array_foreach(arr, i, o)
    {
        if (strcmp(json_string_value(json_object_get(o, "kind")), kind) == 0 &&
            strcmp(json_string_value(json_object_get(o, "name")), name) == 0)
            return o;
    }
    return NULL;
}

static int has_string(json_t *arr, const char *s)
{
    size_t i;
    json_t *o;
    json_array_foreach(arr, i, o)
    {
        if (json_is_string(o) && strcmp(json_string_value(o), s) == 0) return 1;
    }
    return 0;
}

/* "a,b,c" from an array of strings. */
static char *joined(json_t *arr)
{
    static char buf[1024];
    size_t i, n = 0;
    json_t *o;
    buf[0] = '\0';
    json_array_foreach(arr, i, o)
    {
        n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%s", i ? "," : "", json_string_value(o));
    }
    return buf;
}

static void assert_fields(json_t *changed, const char *kind, const char *name, const char *fields)
{
    json_t *c = find_kn(changed, kind, name);
    if (!c) fail_msg("%s %s is not in changed", kind, name);
    assert_string_equal(joined(json_object_get(c, "fields")), fields);
}

static void assert_affects(json_t *plan, const char *kind, const char *name, const char *services)
{
    json_t *a = find_kn(json_object_get(plan, "affected_services"), kind, name);
    if (!services) {
        if (a) fail_msg("%s %s affects %s", kind, name, joined(json_object_get(a, "services")));
        return;
    }
    if (!a) fail_msg("%s %s is not in affected_services", kind, name);
    assert_string_equal(joined(json_object_get(a, "services")), services);
}

static json_t *list(fx *f, const char *kind, int64_t version)
{
    json_t *res = NULL;
    int rc = tess__registry_list(f->r, kind, version, &res, &f->err);
    if (rc != TESS_OK) fail_msg("list: %s", tess__err_msg(&f->err));
    return res;
}

static const char *feature_field(fx *f, int64_t version, const char *name, const char *field)
{
    static char buf[256];
    json_t *l = list(f, "features", version);
    json_t *o = find_kn(l, "feature", name);
    buf[0] = '\0';
    if (o) snprintf(buf, sizeof buf, "%s", json_string_value(json_object_get(o, field)));
    json_decref(l);
    return o ? buf : NULL;
}

/* ---- versions ---------------------------------------------------------------------------- */

static void test_apply_versions(void **state)
{
    fx *f = *state;
    json_t *doc = J(BASE);
    char *text = tess__json_text(doc, JSON_SORT_KEYS | JSON_COMPACT), hash[33];
    tess__hash128_hex(text, strlen(text), hash);

    /* nothing applied yet */
    json_t *res = NULL;
    assert_int_equal(latest_version(f), 0);
    assert_int_equal(tess__registry_list(f->r, NULL, 0, &res, &f->err), TESS_NOTFOUND);
    assert_non_null(strstr(tess__err_msg(&f->err), "empty"));

    res = apply_ok(f, doc);
    assert_int_equal(json_integer_value(json_object_get(res, "version")), 1);
    assert_true(json_is_true(json_object_get(res, "changes")));
    assert_true(json_is_null(json_object_get(res, "from_version")));
    assert_string_equal(json_string_value(json_object_get(res, "hash")), hash);
    assert_string_equal(json_string_value(json_object_get(res, "applied_at")),
                        "2024-01-02T03:04:05Z");
    assert_int_equal(json_array_size(json_object_get(res, "added")), N_BASE_OBJECTS);
    assert_int_equal(json_array_size(json_object_get(res, "changed")), 0);
    json_decref(res);

    /* the same definitions again, keys in another order: no new version */
    json_t *same = J(BASE);
    json_object_del(same, "project");
    set_str(same, "project", "fraud");
    setenv("TESSERA_NOW", "2024-02-01T00:00:00Z", 1);
    res = apply_ok(f, same);
    assert_false(json_is_true(json_object_get(res, "changes")));
    assert_int_equal(json_integer_value(json_object_get(res, "version")), 1);
    assert_int_equal(json_integer_value(json_object_get(res, "from_version")), 1);
    assert_string_equal(json_string_value(json_object_get(res, "applied_at")),
                        "2024-01-02T03:04:05Z");
    assert_int_equal(json_array_size(json_object_get(res, "added")), 0);
    json_decref(res);
    assert_int_equal(latest_version(f), 1);

    /* a change: version 2 */
    set_str(feature_of(same, "user_txn", "last_amount"), "expr", "amount * 2");
    res = apply_ok(f, same);
    assert_int_equal(json_integer_value(json_object_get(res, "version")), 2);
    assert_string_equal(json_string_value(json_object_get(res, "applied_at")),
                        "2024-02-01T00:00:00Z");
    assert_fields(json_object_get(res, "changed"), "feature", "user_txn:last_amount", "expr");
    assert_int_equal(json_array_size(json_object_get(res, "changed")), 1);
    json_decref(res);
    assert_int_equal(latest_version(f), 2);

    /* both versions stay readable */
    char *d1 = NULL, *d2 = NULL, *d0 = NULL;
    assert_int_equal(tess__registry_definitions(f->r, 1, &d1, &f->err), TESS_OK);
    assert_string_equal(d1, text);
    assert_int_equal(tess__registry_definitions(f->r, 2, &d2, &f->err), TESS_OK);
    assert_int_equal(tess__registry_definitions(f->r, 0, &d0, &f->err), TESS_OK);
    assert_string_equal(d0, d2);
    assert_string_not_equal(d1, d2);
    assert_non_null(strstr(d2, "amount * 2"));
    char *d3 = NULL;
    assert_int_equal(tess__registry_definitions(f->r, 3, &d3, &f->err), TESS_NOTFOUND);
    assert_null(d3);
    assert_string_equal(feature_field(f, 1, "user_txn:last_amount", "expr"), "amount");
    assert_string_equal(feature_field(f, 2, "user_txn:last_amount", "expr"), "amount * 2");
    assert_string_equal(feature_field(f, 0, "user_txn:last_amount", "expr"), "amount * 2");
    assert_int_equal(tess__registry_list(f->r, "features", 3, &res, &f->err), TESS_NOTFOUND);
    assert_int_equal(tess__registry_list(f->r, "widgets", 0, &res, &f->err), TESS_EINVAL);

    /* list: kinds and shape; unchanged objects keep their first version */
    json_t *all = list(f, NULL, 0);
    assert_int_equal(json_array_size(all), N_BASE_OBJECTS);
    assert_string_equal(json_string_value(json_object_get(json_array_get(all, 0), "kind")),
                        "entity");
    json_t *v = find_kn(all, "feature_view", "user_txn");
    assert_non_null(v);
    assert_int_equal(json_integer_value(json_object_get(v, "since_version")), 2);
    assert_string_equal(json_string_value(json_object_get(v, "owner")), "risk-team");
    assert_int_equal(json_array_size(json_object_get(v, "features")), 4);
    json_t *m = find_kn(all, "feature_view", "merchant_stats");
    assert_int_equal(json_integer_value(json_object_get(m, "since_version")), 1);
    json_t *lf = find_kn(all, "feature", "user_txn:last_amount");
    assert_string_equal(json_string_value(json_object_get(lf, "feature_kind")), "row");
    assert_string_equal(json_string_value(json_object_get(lf, "view")), "user_txn");
    json_decref(all);
    json_t *svc = list(f, "services", 0);
    assert_int_equal(json_array_size(svc), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(svc, 0), "name")),
                        "fraud_model_v1");
    json_decref(svc);

    tess__free(d0);
    tess__free(d1);
    tess__free(d2);
    tess__free(text);
    json_decref(doc);
    json_decref(same);
}

static void test_reopen_keeps_versions(void **state)
{
    fx *f = *state;
    json_t *doc = J(BASE);
    json_decref(apply_ok(f, doc));
    tess__registry_close(f->r);
    f->r = NULL;
    assert_int_equal(tess__registry_open(f->path, &f->r, &f->err), TESS_OK);
    assert_int_equal(latest_version(f), 1);
    json_t *res = apply_ok(f, doc);
    assert_false(json_is_true(json_object_get(res, "changes")));
    json_decref(res);
    json_decref(doc);

    /* not a registry */
    char bad[128];
    tess__registry *r2 = NULL;
    snprintf(bad, sizeof bad, "%s/garbage.db", f->dir);
    FILE *fp = fopen(bad, "w");
    fputs("this is not a database, just some text that is long enough to be a header......", fp);
    fclose(fp);
    assert_int_equal(tess__registry_open(bad, &r2, &f->err), TESS_EREGISTRY);
    assert_null(r2);
    assert_non_null(strstr(tess__err_msg(&f->err), "garbage.db"));
}

static void test_bad_documents(void **state)
{
    fx *f = *state;
    const char *bad[] = {
        "[]",
        "{'entities': 3}",
        "{'entities': [{'description': 'no name'}]}",
        "{'entities': [{'name': 'a'}, {'name': 'a'}]}",
        "{'feature_views': [{'name': 'v', 'features': [{'type': 'int64'}]}]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *doc = J(bad[i]), *res = NULL;
        assert_int_equal(tess__registry_apply(f->r, doc, &res, &f->err), TESS_EINVAL);
        assert_null(res);
        assert_non_null(strstr(tess__err_msg(&f->err), "definitions document"));
        json_decref(doc);
    }
    assert_int_equal(latest_version(f), 0);
    setenv("TESSERA_NOW", "yesterday", 1);
    json_t *doc = J(BASE), *res = NULL;
    assert_int_equal(tess__registry_apply(f->r, doc, &res, &f->err), TESS_EINVAL);
    assert_non_null(strstr(tess__err_msg(&f->err), "TESSERA_NOW"));
    json_decref(doc);
}

/* ---- plan -------------------------------------------------------------------------------- */

static json_t *plan(fx *f, json_t *doc)
{
    json_t *res = NULL;
    int rc = tess__registry_plan(f->r, doc, &res, &f->err);
    if (rc != TESS_OK) fail_msg("plan: %s", tess__err_msg(&f->err));
    return res;
}

static void test_plan(void **state)
{
    fx *f = *state;
    json_t *doc = J(BASE);

    /* before anything is applied: everything is added */
    json_t *p = plan(f, doc);
    assert_true(json_is_true(json_object_get(p, "changes")));
    assert_true(json_is_null(json_object_get(p, "from_version")));
    assert_int_equal(json_array_size(json_object_get(p, "added")), N_BASE_OBJECTS);
    assert_non_null(find_kn(json_object_get(p, "added"), "feature", "merchant_stats:txn_count_1d"));
    json_decref(p);
    json_decref(apply_ok(f, doc));

    /* the same: no changes */
    p = plan(f, doc);
    assert_false(json_is_true(json_object_get(p, "changes")));
    assert_int_equal(json_integer_value(json_object_get(p, "from_version")), 1);
    json_decref(p);

    /* add a feature, change one, remove one */
    json_t *d2 = J(BASE);
    json_array_append_new(
        json_object_get(section_item(d2, "feature_views", "merchant_stats"), "features"),
        J("{'name': 'amount_sum_1d', 'type': 'float64', 'kind': 'aggregate',"
          " 'expr': 'amount', 'agg': 'sum', 'where': null, 'window': '1d',"
          " 'description': ''}"));
    json_t *fraud = section_item(d2, "feature_services", "fraud_model_v1");
    json_array_insert_new(json_object_get(fraud, "resolved"), 3,
                          json_string("merchant_stats:amount_sum_1d"));
    set_str(feature_of(d2, "user_txn", "amount_mean"), "window", "30d");
    remove_item(json_object_get(section_item(d2, "feature_views", "user_txn"), "features"),
                "last_amount");
    json_t *mkt = section_item(d2, "feature_services", "marketing_model");
    json_object_set_new(mkt, "features", J("['user_txn:amount_sum_7d']"));
    json_object_set_new(mkt, "resolved", J("['user_txn:amount_sum_7d']"));

    p = plan(f, d2);
    json_t *added = json_object_get(p, "added"), *changed = json_object_get(p, "changed");
    json_t *removed = json_object_get(p, "removed");
    assert_true(json_is_true(json_object_get(p, "changes")));
    assert_int_equal(json_array_size(added), 1);
    assert_non_null(find_kn(added, "feature", "merchant_stats:amount_sum_1d"));
    assert_int_equal(json_array_size(removed), 1);
    assert_non_null(find_kn(removed, "feature", "user_txn:last_amount"));
    assert_int_equal(json_array_size(changed), 3);
    assert_fields(changed, "feature", "user_txn:amount_mean", "window");
    assert_fields(changed, "feature_service", "marketing_model", "features,resolved");
    assert_fields(changed, "feature_service", "fraud_model_v1", "resolved");
    /* a view whose feature list changed is not itself changed */
    assert_null(find_kn(changed, "feature_view", "merchant_stats"));
    /* amount_mean reaches fraud_model_v1 through the on-demand feature amount_vs_mean */
    assert_affects(p, "feature", "user_txn:amount_mean", "fraud_model_v1");
    assert_affects(p, "feature", "user_txn:last_amount", "marketing_model");
    assert_affects(p, "feature", "merchant_stats:amount_sum_1d", NULL);
    assert_int_equal(json_array_size(json_object_get(p, "affected_services")), 2);
    json_decref(p);
    assert_int_equal(latest_version(f), 1); /* plan writes nothing */

    /* an on-demand feature changed; a new service is not "affected" */
    json_t *d3 = J(BASE);
    set_str(section_item(d3, "on_demand_features", "amount_vs_mean"), "expr",
            "amount - amount_mean");
    json_array_append_new(json_object_get(d3, "feature_services"),
                          J("{'name': 'new_model', 'features': ['amount_vs_mean'],"
                            " 'resolved': ['amount_vs_mean'], 'description': '', 'owner': '',"
                            " 'tags': {}}"));
    p = plan(f, d3);
    assert_fields(json_object_get(p, "changed"), "on_demand_feature", "amount_vs_mean", "expr");
    assert_affects(p, "on_demand_feature", "amount_vs_mean", "fraud_model_v1");
    json_decref(p);

    /* a view's ttl: every feature it keeps is affected; its description: none */
    json_t *d4 = J(BASE);
    set_str(section_item(d4, "feature_views", "user_txn"), "ttl", "7d");
    set_str(section_item(d4, "feature_views", "merchant_stats"), "description", "Shops");
    p = plan(f, d4);
    changed = json_object_get(p, "changed");
    assert_int_equal(json_array_size(changed), 2);
    assert_fields(changed, "feature_view", "user_txn", "ttl");
    assert_fields(changed, "feature_view", "merchant_stats", "description");
    assert_affects(p, "feature", "user_txn:last_amount", "marketing_model");
    assert_affects(p, "feature", "user_txn:txn_count_1h", "fraud_model_v1");
    assert_affects(p, "feature", "user_txn:amount_mean", "fraud_model_v1");
    assert_affects(p, "feature", "merchant_stats:txn_count_1d", NULL);
    json_decref(p);

    /* a removed view removes its features */
    json_t *d5 = J(BASE);
    remove_item(json_object_get(d5, "feature_views"), "merchant_stats");
    fraud = section_item(d5, "feature_services", "fraud_model_v1");
    json_array_remove(json_object_get(fraud, "resolved"), 2);
    json_array_remove(json_object_get(fraud, "features"), 2);
    p = plan(f, d5);
    removed = json_object_get(p, "removed");
    assert_int_equal(json_array_size(removed), 2);
    assert_non_null(find_kn(removed, "feature_view", "merchant_stats"));
    assert_non_null(find_kn(removed, "feature", "merchant_stats:txn_count_1d"));
    assert_affects(p, "feature", "merchant_stats:txn_count_1d", "fraud_model_v1");
    /* a removed service affects nothing (it is not in the new definitions) */
    json_decref(p);
    remove_item(json_object_get(d5, "feature_services"), "fraud_model_v1");
    p = plan(f, d5);
    assert_affects(p, "feature", "merchant_stats:txn_count_1d", NULL);
    json_decref(p);

    json_decref(doc);
    json_decref(d2);
    json_decref(d3);
    json_decref(d4);
    json_decref(d5);
}

/* ---- catalog ----------------------------------------------------------------------------- */

static json_t *search(fx *f, const char *text)
{
    json_t *res = NULL;
    int rc = tess__registry_search(f->r, text, &res, &f->err);
    if (rc != TESS_OK) fail_msg("search: %s", tess__err_msg(&f->err));
    return res;
}

static const char *nth_name(json_t *arr, size_t i)
{
    return json_string_value(json_object_get(json_array_get(arr, i), "name"));
}

static void test_search(void **state)
{
    fx *f = *state;
    json_t *doc = J(BASE), *res = NULL;
    assert_int_equal(tess__registry_search(f->r, "amount", &res, &f->err), TESS_NOTFOUND);
    json_decref(apply_ok(f, doc));

    /* name matches first, then description-only matches */
    json_t *s = search(f, "amount");
    assert_int_equal(json_array_size(s), 5);
    for (size_t i = 0; i < 4; i++) {
        assert_non_null(strstr(nth_name(s, i), "amount"));
        assert_true(has_string(json_object_get(json_array_get(s, i), "matched"), "name"));
    }
    assert_string_equal(nth_name(s, 4), "merchant_stats");
    assert_string_equal(joined(json_object_get(json_array_get(s, 4), "matched")), "description");
    /* last_amount matches in its name and its description */
    json_t *last = find_kn(s, "feature", "user_txn:last_amount");
    assert_string_equal(joined(json_object_get(last, "matched")), "name,description");
    json_decref(s);

    /* the exact name first */
    s = search(f, "  AMOUNT_vs_mean ");
    assert_int_equal(json_array_size(s), 1);
    assert_string_equal(nth_name(s, 0), "amount_vs_mean");
    json_decref(s);
    s = search(f, "last_amount");
    assert_string_equal(nth_name(s, 0), "user_txn:last_amount");
    json_decref(s);

    /* owner, inherited by a view's features */
    s = search(f, "RISK-team");
    assert_non_null(find_kn(s, "feature_view", "user_txn"));
    assert_non_null(find_kn(s, "feature", "user_txn:txn_count_1h"));
    assert_non_null(find_kn(s, "feature_service", "fraud_model_v1"));
    assert_non_null(find_kn(s, "on_demand_feature", "amount_vs_mean"));
    assert_null(find_kn(s, "feature_service", "marketing_model"));
    assert_int_equal(json_array_size(s), 7);
    assert_string_equal(joined(json_object_get(json_array_get(s, 0), "matched")), "owner");
    json_decref(s);

    /* tags: keys and values */
    s = search(f, "tier");
    assert_int_equal(json_array_size(s), 1);
    assert_string_equal(nth_name(s, 0), "fraud_model_v1");
    assert_string_equal(joined(json_object_get(json_array_get(s, 0), "matched")), "tags");
    json_decref(s);
    s = search(f, "payments");
    assert_non_null(find_kn(s, "source", "transactions"));          /* owner payments-eng */
    assert_non_null(find_kn(s, "feature", "user_txn:amount_mean")); /* inherited tags */
    json_decref(s);

    /* every word must match, in any field */
    s = search(f, "merchant count");
    assert_int_equal(json_array_size(s), 1);
    assert_string_equal(nth_name(s, 0), "merchant_stats:txn_count_1d");
    json_decref(s);
    s = search(f, "customer user");
    assert_int_equal(json_array_size(s), 1);
    assert_string_equal(nth_name(s, 0), "user");
    assert_string_equal(joined(json_object_get(json_array_get(s, 0), "matched")),
                        "name,description");
    json_decref(s);
    s = search(f, "gold user");
    assert_int_equal(json_array_size(s), 0);
    json_decref(s);
    assert_int_equal(tess__registry_search(f->r, "  ", &res, &f->err), TESS_EINVAL);
    json_decref(doc);
}

static json_t *describe(fx *f, const char *name, int64_t v)
{
    json_t *res = NULL;
    int rc = tess__registry_describe(f->r, name, v, &res, &f->err);
    if (rc != TESS_OK) fail_msg("describe %s: %s", name, tess__err_msg(&f->err));
    return res;
}

static void test_describe(void **state)
{
    fx *f = *state;
    json_t *doc = J(BASE);
    json_decref(apply_ok(f, doc));

    json_t *d = describe(f, "user_txn:last_amount", 0);
    assert_string_equal(json_string_value(json_object_get(d, "kind")), "feature");
    assert_string_equal(json_string_value(json_object_get(d, "name")), "user_txn:last_amount");
    assert_string_equal(json_string_value(json_object_get(d, "owner")), "risk-team");
    assert_string_equal(json_string_value(json_object_get(json_object_get(d, "tags"), "domain")),
                        "payments");
    assert_string_equal(json_string_value(json_object_get(d, "description")),
                        "Amount of the latest transaction");
    assert_string_equal(json_string_value(json_object_get(d, "expr")), "amount");
    assert_string_equal(json_string_value(json_object_get(d, "type")), "float64");
    assert_string_equal(json_string_value(json_object_get(d, "feature_kind")), "row");
    assert_int_equal(json_integer_value(json_object_get(d, "version")), 1);
    json_t *uses = json_object_get(d, "uses"), *used_by = json_object_get(d, "used_by");
    assert_int_equal(json_array_size(uses), 1);
    assert_non_null(find_kn(uses, "feature_view", "user_txn"));
    assert_int_equal(json_array_size(used_by), 1);
    assert_non_null(find_kn(used_by, "feature_service", "marketing_model"));
    json_decref(d);

    /* a feature's own owner wins over its view's */
    json_t *d2 = J(BASE);
    set_str(feature_of(d2, "user_txn", "last_amount"), "owner", "alice");
    json_decref(apply_ok(f, d2));
    d = describe(f, "user_txn:last_amount", 0);
    assert_string_equal(json_string_value(json_object_get(d, "owner")), "alice");
    json_decref(d);
    d = describe(f, "user_txn:last_amount", 1);
    assert_string_equal(json_string_value(json_object_get(d, "owner")), "risk-team");
    json_decref(d);

    /* a view: its entity and source upstream, its features downstream */
    d = describe(f, "user_txn", 0);
    assert_string_equal(json_string_value(json_object_get(d, "kind")), "feature_view");
    uses = json_object_get(d, "uses");
    assert_int_equal(json_array_size(uses), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(uses, 0), "kind")),
                        "entity");
    assert_non_null(find_kn(uses, "source", "transactions_live"));
    assert_int_equal(json_array_size(json_object_get(d, "used_by")), 4);
    assert_int_equal(json_array_size(json_object_get(d, "features")), 4);
    json_decref(d);

    /* a push source uses its batch source; the service uses features and an on-demand one */
    d = describe(f, "transactions_live", 0);
    assert_non_null(find_kn(json_object_get(d, "uses"), "source", "transactions"));
    json_decref(d);
    d = describe(f, "fraud_model_v1", 0);
    uses = json_object_get(d, "uses");
    assert_int_equal(json_array_size(uses), 4);
    assert_non_null(find_kn(uses, "on_demand_feature", "amount_vs_mean"));
    assert_non_null(find_kn(uses, "feature", "merchant_stats:txn_count_1d"));
    assert_int_equal(json_array_size(json_object_get(d, "used_by")), 0);
    json_decref(d);

    json_t *res = NULL;
    assert_int_equal(tess__registry_describe(f->r, "nope", 0, &res, &f->err), TESS_NOTFOUND);
    assert_non_null(strstr(tess__err_msg(&f->err), "nope"));
    assert_int_equal(tess__registry_describe(f->r, "user_txn:nope", 0, &res, &f->err),
                     TESS_NOTFOUND);
    assert_int_equal(tess__registry_describe(f->r, "user", 9, &res, &f->err), TESS_NOTFOUND);
    json_decref(doc);
    json_decref(d2);
}

static json_t *lineage(fx *f, const char *name)
{
    json_t *res = NULL;
    int rc = tess__registry_lineage(f->r, name, 0, &res, &f->err);
    if (rc != TESS_OK) fail_msg("lineage %s: %s", name, tess__err_msg(&f->err));
    return res;
}

static long depth_of(json_t *arr, const char *kind, const char *name)
{
    json_t *o = find_kn(arr, kind, name);
    return o ? (long)json_integer_value(json_object_get(o, "depth")) : -1;
}

static int has_edge(json_t *edges, const char *fk, const char *from, const char *tk, const char *to)
{
    size_t i;
    json_t *e;
    json_array_foreach(edges, i, e)
    {
        json_t *a = json_object_get(e, "from"), *b = json_object_get(e, "to");
        if (!strcmp(json_string_value(json_object_get(a, "kind")), fk) &&
            !strcmp(json_string_value(json_object_get(a, "name")), from) &&
            !strcmp(json_string_value(json_object_get(b, "kind")), tk) &&
            !strcmp(json_string_value(json_object_get(b, "name")), to))
            return 1;
    }
    return 0;
}

static void test_lineage(void **state)
{
    fx *f = *state;
    json_t *doc = J(BASE);
    json_decref(apply_ok(f, doc));

    json_t *l = lineage(f, "user_txn");
    json_t *up = json_object_get(l, "upstream"), *down = json_object_get(l, "downstream");
    json_t *edges = json_object_get(l, "edges");
    assert_string_equal(json_string_value(json_object_get(l, "kind")), "feature_view");
    assert_int_equal(json_array_size(up), 3);
    assert_int_equal(depth_of(up, "entity", "user"), 1);
    assert_int_equal(depth_of(up, "source", "transactions_live"), 1);
    assert_int_equal(depth_of(up, "source", "transactions"), 2); /* batch -> push */
    assert_int_equal(depth_of(down, "feature", "user_txn:amount_mean"), 1);
    assert_int_equal(depth_of(down, "feature", "user_txn:last_amount"), 1);
    assert_int_equal(depth_of(down, "on_demand_feature", "amount_vs_mean"), 2);
    assert_int_equal(depth_of(down, "feature_service", "fraud_model_v1"), 2);
    assert_int_equal(depth_of(down, "feature_service", "marketing_model"), 2);
    assert_int_equal(json_array_size(down), 7);
    assert_int_equal(depth_of(down, "feature_view", "merchant_stats"), -1);
    /* sorted by depth */
    assert_int_equal(json_integer_value(json_object_get(json_array_get(down, 0), "depth")), 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(down, 6), "depth")), 2);
    assert_true(has_edge(edges, "source", "transactions", "source", "transactions_live"));
    assert_true(
        has_edge(edges, "feature", "user_txn:amount_mean", "on_demand_feature", "amount_vs_mean"));
    assert_true(has_edge(edges, "on_demand_feature", "amount_vs_mean", "feature_service",
                         "fraud_model_v1"));
    assert_false(has_edge(edges, "source", "transactions", "feature_view", "merchant_stats"));
    assert_int_equal(json_array_size(edges), 3 + 4 + 1 + 4); /* up, view->f, f->odf, ->svc */
    json_decref(l);

    /* a service: everything upstream, transitively */
    l = lineage(f, "fraud_model_v1");
    up = json_object_get(l, "upstream");
    assert_int_equal(json_array_size(json_object_get(l, "downstream")), 0);
    assert_int_equal(depth_of(up, "on_demand_feature", "amount_vs_mean"), 1);
    assert_int_equal(depth_of(up, "feature", "user_txn:txn_count_1h"), 1);
    assert_int_equal(depth_of(up, "feature", "user_txn:amount_mean"), 2);
    assert_int_equal(depth_of(up, "feature_view", "user_txn"), 2);
    assert_int_equal(depth_of(up, "source", "transactions"), 3); /* via merchant_stats */
    assert_int_equal(depth_of(up, "source", "transactions_live"), 3);
    assert_int_equal(depth_of(up, "entity", "merchant"), 3);
    assert_int_equal(depth_of(up, "feature", "user_txn:last_amount"), -1);
    json_decref(l);

    /* a source: everything downstream */
    l = lineage(f, "transactions");
    down = json_object_get(l, "downstream");
    assert_int_equal(json_array_size(json_object_get(l, "upstream")), 0);
    assert_int_equal(depth_of(down, "source", "transactions_live"), 1);
    assert_int_equal(depth_of(down, "feature_view", "merchant_stats"), 1);
    assert_int_equal(depth_of(down, "feature_view", "user_txn"), 2);
    assert_int_equal(depth_of(down, "feature_service", "fraud_model_v1"), 3);
    assert_int_equal(depth_of(down, "feature_service", "marketing_model"), 4);
    json_decref(l);

    json_t *res = NULL;
    assert_int_equal(tess__registry_lineage(f->r, "nope", 0, &res, &f->err), TESS_NOTFOUND);
    json_decref(doc);
}

static void test_history(void **state)
{
    fx *f = *state;
    json_t *h = NULL;
    assert_int_equal(tess__registry_history(f->r, &h, &f->err), TESS_OK);
    assert_int_equal(json_array_size(h), 0);
    json_decref(h);

    json_t *doc = J(BASE);
    json_decref(apply_ok(f, doc));
    setenv("TESSERA_NOW", "2024-03-01T10:00:00.5Z", 1);
    set_str(section_item(doc, "entities", "user"), "description", "A person");
    json_decref(apply_ok(f, doc));
    json_decref(apply_ok(f, doc)); /* no-op */
    setenv("TESSERA_NOW", "2024-03-02", 1);
    remove_item(json_object_get(doc, "feature_services"), "marketing_model");
    json_decref(apply_ok(f, doc));

    assert_int_equal(tess__registry_history(f->r, &h, &f->err), TESS_OK);
    assert_int_equal(json_array_size(h), 3);
    json_t *v1 = json_array_get(h, 0), *v2 = json_array_get(h, 1), *v3 = json_array_get(h, 2);
    assert_int_equal(json_integer_value(json_object_get(v1, "version")), 1);
    assert_string_equal(json_string_value(json_object_get(v1, "applied_at")),
                        "2024-01-02T03:04:05Z");
    assert_int_equal(strlen(json_string_value(json_object_get(v1, "hash"))), 32);
    assert_string_equal(json_string_value(json_object_get(v1, "project")), "fraud");
    assert_int_equal(json_array_size(json_object_get(v1, "added")), N_BASE_OBJECTS);
    assert_true(has_string(json_object_get(v1, "added"), "feature:user_txn:last_amount"));
    assert_string_equal(json_string_value(json_object_get(v2, "applied_at")),
                        "2024-03-01T10:00:00.500000Z");
    assert_string_equal(joined(json_object_get(v2, "changed")), "entity:user");
    assert_int_equal(json_array_size(json_object_get(v2, "added")), 0);
    assert_int_equal(json_integer_value(json_object_get(v3, "version")), 3);
    assert_string_equal(joined(json_object_get(v3, "removed")), "feature_service:marketing_model");
    assert_string_equal(json_string_value(json_object_get(v3, "applied_at")),
                        "2024-03-02T00:00:00Z");
    json_decref(h);

    /* a removed object is gone from the latest version and still in the older ones */
    json_t *l3 = list(f, "services", 0), *l2 = list(f, "services", 2);
    assert_int_equal(json_array_size(l3), 1);
    assert_int_equal(json_array_size(l2), 2);
    json_decref(l3);
    json_decref(l2);
    json_t *res = NULL;
    assert_int_equal(tess__registry_describe(f->r, "marketing_model", 0, &res, &f->err),
                     TESS_NOTFOUND);
    res = describe(f, "marketing_model", 2);
    json_decref(res);
    /* and an object that comes back gets a new row */
    json_t *back = J(BASE);
    set_str(section_item(back, "entities", "user"), "description", "A person");
    json_decref(apply_ok(f, back));
    res = describe(f, "marketing_model", 0);
    assert_int_equal(json_integer_value(json_object_get(res, "since_version")), 4);
    json_decref(res);
    json_decref(back);
    json_decref(doc);
}

/* ---- concurrency and crashes ------------------------------------------------------------- */

typedef struct writer {
    const char *path;
    json_t *doc;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int in_txn, go, rc;
    int64_t version;
} writer;

static int hold_txn(void *arg)
{
    writer *w = arg;
    pthread_mutex_lock(&w->mu);
    w->in_txn = 1;
    pthread_cond_broadcast(&w->cv);
    while (!w->go)
        pthread_cond_wait(&w->cv, &w->mu);
    pthread_mutex_unlock(&w->mu);
    return TESS_OK;
}

static void *writer_main(void *arg)
{
    writer *w = arg;
    tess__err err = TESS__ERR_INIT;
    tess__registry *r = NULL;
    json_t *res = NULL;
    w->rc = tess__registry_open(w->path, &r, &err);
    if (w->rc == TESS_OK) {
        tess__registry_set_hook(r, hold_txn, w);
        w->rc = tess__registry_apply(r, w->doc, &res, &err);
        w->version = json_integer_value(json_object_get(res, "version"));
        json_decref(res);
    }
    if (w->rc != TESS_OK) { /* never leave the main thread waiting */
        pthread_mutex_lock(&w->mu);
        w->in_txn = 1;
        pthread_cond_broadcast(&w->cv);
        pthread_mutex_unlock(&w->mu);
    }
    tess__registry_close(r);
    tess__err_release(&err);
    return NULL;
}

static void test_reader_during_write(void **state)
{
    fx *f = *state;
    json_t *doc = J(BASE);
    json_decref(apply_ok(f, doc));
    char *v1 = NULL;
    assert_int_equal(tess__registry_definitions(f->r, 0, &v1, &f->err), TESS_OK);

    json_t *d2 = J(BASE);
    set_str(section_item(d2, "entities", "user"), "description", "changed by the writer");
    writer w = {.path = f->path, .doc = d2};
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, writer_main, &w), 0);
    pthread_mutex_lock(&w.mu);
    while (!w.in_txn)
        pthread_cond_wait(&w.cv, &w.mu);
    pthread_mutex_unlock(&w.mu);
    assert_int_equal(w.rc, TESS_OK);

    /* the writer holds its transaction open: a reader sees version 1 and does not wait */
    tess__registry_set_busy_timeout(f->r, 0);
    char *now = NULL;
    assert_int_equal(latest_version(f), 1);
    assert_int_equal(tess__registry_definitions(f->r, 0, &now, &f->err), TESS_OK);
    assert_string_equal(now, v1);
    tess__free(now);
    json_t *d = describe(f, "user", 0);
    assert_string_equal(json_string_value(json_object_get(d, "description")), "A customer account");
    json_decref(d);

    /* a second writer waits for the busy timeout, then fails cleanly */
    tess__registry *r3 = NULL;
    json_t *res = NULL, *d3 = J(BASE);
    assert_int_equal(tess__registry_open(f->path, &r3, &f->err), TESS_OK);
    tess__registry_set_busy_timeout(r3, 50);
    set_str(section_item(d3, "entities", "user"), "description", "third");
    assert_int_equal(tess__registry_apply(r3, d3, &res, &f->err), TESS_EREGISTRY);
    assert_non_null(strstr(tess__err_msg(&f->err), "locked"));
    assert_null(res);

    pthread_mutex_lock(&w.mu);
    w.go = 1;
    pthread_cond_broadcast(&w.cv);
    pthread_mutex_unlock(&w.mu);
    pthread_join(th, NULL);
    assert_int_equal(w.rc, TESS_OK);
    assert_int_equal(w.version, 2);

    /* the same reader handle sees the new version at once */
    assert_int_equal(latest_version(f), 2);
    d = describe(f, "user", 0);
    assert_string_equal(json_string_value(json_object_get(d, "description")),
                        "changed by the writer");
    json_decref(d);
    /* and the second writer, retried, diffs against version 2 */
    tess__registry_set_busy_timeout(r3, 1000);
    assert_int_equal(tess__registry_apply(r3, d3, &res, &f->err), TESS_OK);
    assert_int_equal(json_integer_value(json_object_get(res, "version")), 3);
    assert_int_equal(json_integer_value(json_object_get(res, "from_version")), 2);
    assert_fields(json_object_get(res, "changed"), "entity", "user", "description");
    json_decref(res);
    tess__registry_close(r3);

    pthread_mutex_destroy(&w.mu);
    pthread_cond_destroy(&w.cv);
    tess__free(v1);
    json_decref(doc);
    json_decref(d2);
    json_decref(d3);
}

static int die(void *arg)
{
    (void)arg;
    _exit(3); /* a crash with the transaction written but not committed */
}

static void test_crash_before_commit(void **state)
{
    fx *f = *state;
    json_t *doc = J(BASE), *d2 = J(BASE);
    json_decref(apply_ok(f, doc));
    remove_item(json_object_get(d2, "feature_services"), "marketing_model");
    set_str(feature_of(d2, "user_txn", "amount_mean"), "window", "1d");

    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        tess__err err = TESS__ERR_INIT;
        tess__registry *r = NULL;
        json_t *res = NULL;
        if (tess__registry_open(f->path, &r, &err) != TESS_OK) _exit(1);
        tess__registry_set_hook(r, die, NULL);
        tess__registry_apply(r, d2, &res, &err);
        _exit(2);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 3);

    /* a fresh handle (recovery) and the old one both see version 1, whole */
    tess__registry_close(f->r);
    f->r = NULL;
    assert_int_equal(tess__registry_open(f->path, &f->r, &f->err), TESS_OK);
    assert_int_equal(latest_version(f), 1);
    json_t *l = list(f, NULL, 0);
    assert_int_equal(json_array_size(l), N_BASE_OBJECTS);
    json_decref(l);
    assert_string_equal(feature_field(f, 0, "user_txn:amount_mean", "agg"), "mean");

    /* and the apply goes through afterwards */
    json_t *res = apply_ok(f, d2);
    assert_int_equal(json_integer_value(json_object_get(res, "version")), 2);
    json_decref(res);
    l = list(f, NULL, 0);
    assert_int_equal(json_array_size(l), N_BASE_OBJECTS - 1);
    json_decref(l);
    assert_string_equal(feature_field(f, 2, "user_txn:amount_mean", "window"), "1d");
    json_decref(doc);
    json_decref(d2);
}

/* Every allocation of an apply fails in turn: each attempt fails cleanly, leaves version 1 as it
 * was, frees all it took; then the apply succeeds. Same for the read calls. */
static void test_apply_alloc_failures(void **state)
{
    fx *f = *state;
    json_t *doc = J(BASE), *d2 = J(BASE);
    json_decref(apply_ok(f, doc));
    char *v1 = NULL;
    assert_int_equal(tess__registry_definitions(f->r, 1, &v1, &f->err), TESS_OK);
    json_t *before = list(f, NULL, 1);
    remove_item(json_object_get(d2, "feature_services"), "marketing_model");
    set_str(feature_of(d2, "user_txn", "amount_mean"), "window", "1d");

    long n, failures = 0;
    json_t *res = NULL;
    for (n = 0;; n++) {
        long live = jansson_live;
        tess__alloc_fail_after(n);
        int rc = tess__registry_apply(f->r, d2, &res, &f->err);
        tess__alloc_fail_after(-1);
        if (rc == TESS_OK) break;
        failures++;
        assert_null(res);
        if (rc != TESS_ENOMEM && rc != TESS_EREGISTRY && rc != TESS_EIO)
            fail_msg("N=%ld: unexpected status %d: %s", n, rc, tess__err_msg(&f->err));
        assert_int_equal(jansson_live, live);
        assert_int_equal(latest_version(f), 1);
        if (n % 16 == 0) { /* the whole version 1, every so often (it is slow-ish) */
            json_t *now = list(f, NULL, 0);
            assert_true(json_equal(now, before));
            json_decref(now);
        }
        assert_true(n < 100000);
    }
    assert_true(failures > 10);
    assert_int_equal(json_integer_value(json_object_get(res, "version")), 2);
    json_decref(res);
    assert_int_equal(latest_version(f), 2);
    json_t *after1 = list(f, NULL, 1);
    assert_true(json_equal(after1, before));
    json_decref(after1);
    assert_string_equal(feature_field(f, 2, "user_txn:amount_mean", "window"), "1d");
    assert_null(feature_field(f, 2, "user_txn:last_amount_nope", "window"));

    /* read calls under failing allocations: clean errors or answers, no leaks */
    for (int call = 0; call < 6; call++) {
        for (n = 0;; n++) {
            long live = jansson_live;
            json_t *out = NULL;
            char *text = NULL;
            int rc = TESS_OK;
            tess__alloc_fail_after(n);
            switch (call) {
            case 0:
                rc = tess__registry_list(f->r, NULL, 1, &out, &f->err);
                break;
            case 1:
                rc = tess__registry_describe(f->r, "user_txn", 0, &out, &f->err);
                break;
            case 2:
                rc = tess__registry_search(f->r, "amount risk", &out, &f->err);
                break;
            case 3:
                rc = tess__registry_lineage(f->r, "user_txn", 0, &out, &f->err);
                break;
            case 4:
                rc = tess__registry_history(f->r, &out, &f->err);
                break;
            case 5:
                rc = tess__registry_plan(f->r, doc, &out, &f->err);
                break;
            }
            tess__alloc_fail_after(-1);
            json_decref(out);
            tess__free(text);
            if (rc == TESS_OK) break;
            assert_null(out);
            assert_int_equal(jansson_live, live);
            assert_true(n < 100000);
        }
    }
    assert_int_equal(latest_version(f), 2);
    tess__free(v1);
    json_decref(before);
    json_decref(doc);
    json_decref(d2);
}

/* ---- the store (src/store): open, configuration, plan and apply of a repo ------------------ */

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static void test_store(void **state)
{
    fx *f = *state;
    char repo[128], path[256];
    tess_store *st = NULL;
    char *out = NULL;
    struct stat sb;

    /* no tessera.yaml: a handle that explains */
    snprintf(repo, sizeof repo, "%s/repo", f->dir);
    assert_int_equal(mkdir(repo, 0777), 0);
    assert_int_equal(tess_store_open(repo, &st), TESS_ECONFIG);
    assert_non_null(st);
    assert_true(strlen(tess_store_errmsg(st)) > 0);
    assert_int_equal(tess_catalog_history(st, &out), TESS_ECONFIG);
    assert_null(out);
    tess_store_close(st);

    /* a registry back end that does not exist yet */
    write_file(repo, "tessera.yaml",
               "project: fraud\nstore: data/store\nregistry: postgresql://localhost/tessera\n");
    assert_int_equal(tess_store_open(repo, &st), TESS_ECONFIG);
    assert_non_null(strstr(tess_store_errmsg(st), "tessera.yaml:3:11"));
    assert_non_null(strstr(tess_store_errmsg(st), "not supported yet"));
    tess_store_close(st);

    /* the store directory is created (with its parents), and the registry inside it */
    write_file(repo, "tessera.yaml", "project: fraud\nstore: data/store\n");
    write_file(repo, "defs.yaml",
               "entities:\n"
               "  - name: user\n"
               "    join_keys: [user_id]\n"
               "    description: A customer account\n"
               "sources:\n"
               "  - name: transactions\n"
               "    type: batch\n"
               "    path: data/transactions.csv\n"
               "    timestamp: ts\n"
               "    schema: {user_id: int64, amount: float64, ts: timestamp}\n"
               "feature_views:\n"
               "  - name: user_txn\n"
               "    entities: [user]\n"
               "    source: transactions\n"
               "    owner: risk-team\n"
               "    features:\n"
               "      - {name: last_amount, expr: amount}\n"
               "      - {name: txn_count_1h, agg: count, window: 1h}\n"
               "feature_services:\n"
               "  - name: fraud_model_v1\n"
               "    features: [\"user_txn:*\"]\n");
    int rc = tess_store_open(repo, &st);
    if (rc != TESS_OK) fail_msg("open: %s", tess_store_errmsg(st));
    assert_string_equal(tess_store_project(st), "fraud");
    snprintf(path, sizeof path, "%s/data/store/registry.db", repo);
    assert_int_equal(stat(path, &sb), 0);

    rc = tess_plan(st, &out);
    if (rc != TESS_OK) fail_msg("plan: %s", tess_store_errmsg(st));
    json_t *p = json_loads(out, 0, NULL);
    tess_free(out);
    assert_true(json_is_true(json_object_get(p, "changes")));
    assert_non_null(find_kn(json_object_get(p, "added"), "feature", "user_txn:txn_count_1h"));
    json_decref(p);
    assert_int_equal(tess_catalog_history(st, &out), TESS_OK);
    assert_string_equal(out, "[]");
    tess_free(out);

    assert_int_equal(tess_apply(st, &out), TESS_OK);
    p = json_loads(out, 0, NULL);
    tess_free(out);
    assert_int_equal(json_integer_value(json_object_get(p, "version")), 1);
    json_decref(p);
    assert_int_equal(tess_apply(st, &out), TESS_OK);
    p = json_loads(out, 0, NULL);
    tess_free(out);
    assert_false(json_is_true(json_object_get(p, "changes")));
    json_decref(p);

    assert_int_equal(tess_catalog_describe(st, "user_txn:last_amount", 0, &out), TESS_OK);
    p = json_loads(out, 0, NULL);
    tess_free(out);
    assert_string_equal(json_string_value(json_object_get(p, "owner")), "risk-team");
    assert_non_null(find_kn(json_object_get(p, "used_by"), "feature_service", "fraud_model_v1"));
    json_decref(p);
    assert_int_equal(tess_catalog_describe(st, "nope", 0, &out), TESS_NOTFOUND);
    assert_null(out);
    assert_non_null(strstr(tess_store_errmsg(st), "nope"));
    assert_int_equal(tess_catalog_list(st, "features", 0, &out), TESS_OK);
    tess_free(out);
    assert_int_equal(tess_catalog_search(st, "risk", &out), TESS_OK);
    tess_free(out);
    assert_int_equal(tess_catalog_lineage(st, "transactions", &out), TESS_OK);
    tess_free(out);
    assert_int_equal(tess_catalog_definitions(st, 1, &out), TESS_OK);
    assert_non_null(strstr(out, "\"project\":\"fraud\""));
    tess_free(out);
    assert_string_equal(tess_store_errmsg(st), ""); /* cleared by the last successful call */

    /* the typed definitions of the applied version come back from the registry, unchanged
     * when the repo's files change afterwards */
    const tess__defs *ad = NULL;
    assert_int_equal(tess__store_applied_defs(st, &ad), TESS_OK);
    assert_non_null(tess__defs_view(ad, "user_txn"));
    assert_int_equal(tess__defs_view(ad, "user_txn")->nfeatures, 2);
    write_file(repo, "more.yaml", "entities:\n  - name: merchant\n    join_keys: [merchant_id]\n");
    const tess__defs *ad2 = NULL;
    assert_int_equal(tess__store_applied_defs(st, &ad2), TESS_OK);
    assert_ptr_equal(ad, ad2); /* cached: same version */
    assert_null(tess__defs_entity(ad2, "merchant"));
    assert_int_equal(remove(strcat(strcpy(path, repo), "/more.yaml")), 0);

    /* invalid definitions: nothing is written */
    write_file(repo, "bad.yaml", "entities:\n  - name: merchant\n    join_keys: 7\n");
    assert_int_equal(tess_apply(st, &out), TESS_EDEFS);
    assert_null(out);
    assert_non_null(strstr(tess_store_errmsg(st), "bad.yaml:"));
    tess_store_close(st);

    /* an absolute store path */
    snprintf(path, sizeof path, "project: fraud\nstore: %s/abs\n", f->dir);
    write_file(repo, "tessera.yaml", path);
    snprintf(path, sizeof path, "%s/bad.yaml", repo);
    unlink(path);
    assert_int_equal(tess_store_open(repo, &st), TESS_OK);
    snprintf(path, sizeof path, "%s/abs/registry.db", f->dir);
    assert_int_equal(stat(path, &sb), 0);
    tess_store_close(st);
}

int main(void)
{
    static const sqlite3_mem_methods mem = {sq_malloc,  sq_free, sq_realloc,  sq_size,
                                            sq_roundup, sq_init, sq_shutdown, NULL};
    if (sqlite3_config(SQLITE_CONFIG_MALLOC, &mem) != SQLITE_OK) return 1;
    json_set_alloc_funcs(j_malloc, j_free);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_apply_versions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_keeps_versions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_documents, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plan, setup, teardown),
        cmocka_unit_test_setup_teardown(test_search, setup, teardown),
        cmocka_unit_test_setup_teardown(test_describe, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lineage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_history, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reader_during_write, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash_before_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_apply_alloc_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
