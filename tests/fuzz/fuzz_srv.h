/* fuzz_srv.h — the feature repo and the started server the HTTP targets share (fuzz_server.c,
 * fuzz_push.c; docs/fuzzing.md).
 *
 * fuzz_srv_setup makes a feature repo in the scratch directory (a batch source and a push
 * source with every type, a view with row-level and window features, an on-demand feature, a
 * service), applies, ingests and materializes it, and starts a tess_server on a loopback port
 * of its own (one thread, at most 100 entities; nothing connects to it). The targets then call
 * the handlers directly, on a worker-thread state of their own.
 */
#ifndef TESS_FUZZ_SRV_H
#define TESS_FUZZ_SRV_H

#include <sys/stat.h>

#include "fuzz.h"
#include "server/server.h"
#include "tessera.h"

static const char CONFIG[] = "project: fuzz\nstore: .tessera\n";
static const char DEFS[] =
    "entities:\n"
    "  - name: user\n"
    "    join_keys: [user_id]\n"
    "sources:\n"
    "  - name: events\n"
    "    type: batch\n"
    "    path: data/events.csv\n"
    "    timestamp: ts\n"
    "    created_timestamp: created\n"
    "    schema: {user_id: int64, name: string, amount: float64, ok: bool, ts: timestamp,\n"
    "             created: timestamp}\n"
    "  - name: events_live\n"
    "    type: push\n"
    "    batch_source: events\n"
    "feature_views:\n"
    "  - name: stats\n"
    "    entities: [user]\n"
    "    source: events\n"
    "    ttl: 30d\n"
    "    hop: 1h\n"
    "    features:\n"
    "      - {name: last_amount, expr: amount}\n"
    "      - {name: last_name, expr: \"upper(name)\"}\n"
    "      - {name: ok, expr: ok}\n"
    "      - {name: n_1h, agg: count, window: 1h}\n"
    "      - {name: sum_7d, agg: sum, expr: amount, window: 7d}\n"
    "      - {name: names, agg: count_distinct_approx, expr: name}\n"
    "      - {name: first_ts, agg: first, expr: ts}\n"
    "on_demand_features:\n"
    "  - name: ratio\n"
    "    inputs: {features: [\"stats:sum_7d\"], request: {req: float64}}\n"
    "    expr: \"req / sum_7d\"\n"
    "feature_services:\n"
    "  - name: svc\n"
    "    features: [\"stats:*\", ratio]\n";
static const char DATA[] = "user_id,name,amount,ok,ts,created\n"
                           "1,alice,10.5,true,2024-03-15T12:00:00Z,\n"
                           "2,bob,3,false,2024-03-15T13:00:00Z,2024-03-15T13:00:01Z\n";

static inline void fuzz_write_text(const char *dir, const char *name, const char *text)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fclose(f)) {
        perror(path);
        abort();
    }
}

static inline void fuzz_srv_setup(tess_store **stp, tess_server **srvp)
{
    tess_store *st = NULL;
    tess_server *srv = NULL;
    setenv("TESSERA_NOW", "2024-03-15T14:00:00Z", 1);
    char dir[512], data[600];
    snprintf(dir, sizeof dir, "%s/repo", fuzz_scratch());
    snprintf(data, sizeof data, "%s/data", dir);
    if (mkdir(dir, 0700) || mkdir(data, 0700)) abort();
    fuzz_write_text(dir, "tessera.yaml", CONFIG);
    fuzz_write_text(dir, "defs.yaml", DEFS);
    fuzz_write_text(data, "events.csv", DATA);
    char *o1 = NULL, *o2 = NULL, *o3 = NULL;
    if (tess_store_open(dir, &st) != TESS_OK || tess_apply(st, &o1) != TESS_OK ||
        tess_ingest(st, "events", NULL, 0, NULL, &o2) != TESS_OK ||
        tess_materialize(st, NULL, &o3) != TESS_OK) {
        fprintf(stderr, "set-up: %s\n", tess_store_errmsg(st));
        abort();
    }
    tess_free(o1);
    tess_free(o2);
    tess_free(o3);
    tess_server_opts o;
    memset(&o, 0, sizeof o);
    o.threads = 1;
    o.max_entities = 100;
    if (tess_server_start(st, &o, &srv) != TESS_OK) {
        fprintf(stderr, "server: %s\n", tess_store_errmsg(st));
        abort();
    }
    *stp = st;
    *srvp = srv;
}

#endif
