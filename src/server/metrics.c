/* metrics.c — the server's counters and GET /metrics (Prometheus text format 0.0.4).
 *
 * Every worker thread counts into its own srv_metrics (single writer, relaxed atomics: no lock
 * and no shared cache line on the request path); a scrape sums them over the thread list
 * under threads_lock. Series (docs/server.md):
 *   tessera_http_requests_total{route,code}          code: the status class, "2xx".."5xx"
 *   tessera_http_errors_total{route,error}           error: the "code" of the error body
 *   tessera_http_request_duration_seconds{route}     histogram, from the request's headers
 *                                                    to its response being queued
 *   tessera_lookup_entities_total                    entity rows looked up
 *   tessera_pushes_total, tessera_pushed_rows_total  pushes accepted and their rows
 *   tessera_registry_version, tessera_http_connections, tessera_server_threads,
 *   tessera_uptime_seconds
 *   tessera_online_store_bytes, tessera_online_store_keys   (tess_online_stats)
 *   tessera_view_materialized{view}, tessera_view_freshness_seconds{view}: the age of the
 *   newest event the online store holds for the view
 *   tessera_http_slow_closed_total                   connections the guard closed (guard.c)
 *   tessera_api_keys, tessera_api_keys_reload_failures_total   with a keys file (auth.c)
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>

#include <jansson.h>

#include "core/alloc.h"
#include "server/server.h"

/* The online store's size and each view's freshness (a call on the store: under store_lock). */
static void online_metrics(tess_server *srv, srv_buf *o)
{
    char *text = NULL;
    pthread_mutex_lock(&srv->store_lock);
    int rc = tess_online_stats(srv->st, &text);
    pthread_mutex_unlock(&srv->store_lock);
    json_t *d = rc == TESS_OK ? json_loads(text, 0, NULL) : NULL;
    tess_free(text);
    if (!d) return;
    int64_t now = (int64_t)time(NULL) * 1000000;
    const char *pin = getenv("TESSERA_NOW");
    tess_value pv;
    if (pin && *pin && tess_value_parse(pin, strlen(pin), TESS_TYPE_TIMESTAMP, &pv) == TESS_OK)
        now = pv.u.i;
    srv_printf(o,
               "# HELP tessera_online_store_bytes Size of the online store.\n"
               "# TYPE tessera_online_store_bytes gauge\n"
               "tessera_online_store_bytes %lld\n"
               "# HELP tessera_online_store_keys Records in the online store.\n"
               "# TYPE tessera_online_store_keys gauge\n"
               "tessera_online_store_keys %lld\n"
               "# HELP tessera_view_materialized 1 if the view's online records are up to its "
               "definition.\n# TYPE tessera_view_materialized gauge\n",
               (long long)json_integer_value(json_object_get(d, "bytes")),
               (long long)json_integer_value(json_object_get(d, "keys")));
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(d, "views"), i, v)
        srv_printf(o, "tessera_view_materialized{view=\"%s\"} %d\n",
                   json_string_value(json_object_get(v, "view")),
                   json_is_true(json_object_get(v, "materialized")));
    srv_puts(o, "# HELP tessera_view_freshness_seconds Age of the newest event the online store "
                "holds for the view.\n# TYPE tessera_view_freshness_seconds gauge\n");
    json_array_foreach(json_object_get(d, "views"), i, v)
    {
        const char *ts = json_string_value(json_object_get(v, "newest_event"));
        tess_value t;
        if (!ts || tess_value_parse(ts, strlen(ts), TESS_TYPE_TIMESTAMP, &t) != TESS_OK) continue;
        double age = (double)(now - t.u.i) / 1e6;
        srv_printf(o, "tessera_view_freshness_seconds{view=\"%s\"} %.3f\n",
                   json_string_value(json_object_get(v, "view")), age > 0 ? age : 0.0);
    }
    json_decref(d);
}

const char *const srv_route_names[R__COUNT] = {
    "/get-online-features", "/push", "/write-to-online-store", "/health", "/metrics", "other",
};

const uint64_t srv_bucket_us[SRV_NBUCKETS] = {
    50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000,
};

void srv_metrics_record(srv_thread *th, int route, int status, int ecode, uint64_t us)
{
    srv_metrics *m = &th->m;
    int cls = status / 100;
    if (cls < 1 || cls > 5) cls = 5;
    srv_count(&m->requests[route][cls], 1);
    if (ecode >= 0 && ecode < E__COUNT) srv_count(&m->errors[route][ecode], 1);
    int b = 0;
    while (b < SRV_NBUCKETS && us > srv_bucket_us[b])
        b++;
    srv_count(&m->buckets[route][b], 1);
    srv_count(&m->sum_us[route], us);
}

static uint64_t ld(const _Atomic uint64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

int srv_handle_metrics(srv_req *r)
{
    tess_server *srv = r->srv;
    srv_metrics *sum = tess__calloc(1, sizeof *sum);
    if (!sum) return srv_error(r, 500, E_INTERNAL, "out of memory");
    int nthreads = 0;
    pthread_mutex_lock(&srv->threads_lock);
    for (srv_thread *t = srv->threads; t; t = t->next) {
        nthreads++;
        for (int i = 0; i < R__COUNT; i++) {
            for (int c = 0; c < 6; c++)
                srv_count(&sum->requests[i][c], ld(&t->m.requests[i][c]));
            for (int e = 0; e < E__COUNT; e++)
                srv_count(&sum->errors[i][e], ld(&t->m.errors[i][e]));
            for (int b = 0; b <= SRV_NBUCKETS; b++)
                srv_count(&sum->buckets[i][b], ld(&t->m.buckets[i][b]));
            srv_count(&sum->sum_us[i], ld(&t->m.sum_us[i]));
        }
        srv_count(&sum->entities, ld(&t->m.entities));
        srv_count(&sum->pushes, ld(&t->m.pushes));
        srv_count(&sum->pushed_rows, ld(&t->m.pushed_rows));
    }
    pthread_mutex_unlock(&srv->threads_lock);

    srv_buf *o = &r->th->out;
    srv_puts(o, "# HELP tessera_http_requests_total HTTP requests answered, by route and status "
                "class.\n# TYPE tessera_http_requests_total counter\n");
    for (int i = 0; i < R__COUNT; i++)
        for (int c = 1; c < 6; c++) {
            uint64_t v = ld(&sum->requests[i][c]);
            /* every route shows its 2xx, 4xx and 5xx series, even at 0 */
            if (!v && (c == 1 || c == 3)) continue;
            srv_printf(o, "tessera_http_requests_total{route=\"%s\",code=\"%dxx\"} %llu\n",
                       srv_route_names[i], c, (unsigned long long)v);
        }
    srv_puts(o, "# HELP tessera_http_errors_total Error replies, by route and error code.\n"
                "# TYPE tessera_http_errors_total counter\n");
    for (int i = 0; i < R__COUNT; i++)
        for (int e = 0; e < E__COUNT; e++) {
            uint64_t v = ld(&sum->errors[i][e]);
            if (v)
                srv_printf(o, "tessera_http_errors_total{route=\"%s\",error=\"%s\"} %llu\n",
                           srv_route_names[i], srv_error_codes[e], (unsigned long long)v);
        }
    srv_puts(o, "# HELP tessera_http_request_duration_seconds Time from a request's headers to "
                "its response.\n# TYPE tessera_http_request_duration_seconds histogram\n");
    for (int i = 0; i < R__COUNT; i++) {
        uint64_t cum = 0;
        for (int b = 0; b <= SRV_NBUCKETS; b++) {
            cum += ld(&sum->buckets[i][b]);
            if (b < SRV_NBUCKETS)
                srv_printf(o,
                           "tessera_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} "
                           "%llu\n",
                           srv_route_names[i], (double)srv_bucket_us[b] / 1e6,
                           (unsigned long long)cum);
            else
                srv_printf(o,
                           "tessera_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"}"
                           " %llu\n",
                           srv_route_names[i], (unsigned long long)cum);
        }
        srv_printf(o, "tessera_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n",
                   srv_route_names[i], (double)ld(&sum->sum_us[i]) / 1e6);
        srv_printf(o, "tessera_http_request_duration_seconds_count{route=\"%s\"} %llu\n",
                   srv_route_names[i], (unsigned long long)cum);
    }
    srv_printf(o,
               "# HELP tessera_lookup_entities_total Entity rows looked up.\n"
               "# TYPE tessera_lookup_entities_total counter\n"
               "tessera_lookup_entities_total %llu\n"
               "# HELP tessera_pushes_total Pushes accepted (POST /push, /write-to-online-store).\n"
               "# TYPE tessera_pushes_total counter\n"
               "tessera_pushes_total %llu\n"
               "# HELP tessera_pushed_rows_total Rows of the pushes accepted.\n"
               "# TYPE tessera_pushed_rows_total counter\n"
               "tessera_pushed_rows_total %llu\n"
               "# HELP tessera_registry_version The registry version being served (0: none).\n"
               "# TYPE tessera_registry_version gauge\n"
               "tessera_registry_version %lld\n"
               "# HELP tessera_http_connections Open HTTP connections.\n"
               "# TYPE tessera_http_connections gauge\n"
               "tessera_http_connections %lld\n"
               "# HELP tessera_server_threads Worker threads that have served a request.\n"
               "# TYPE tessera_server_threads gauge\n"
               "tessera_server_threads %d\n"
               "# HELP tessera_uptime_seconds Seconds since the server started.\n"
               "# TYPE tessera_uptime_seconds gauge\n"
               "tessera_uptime_seconds %.3f\n",
               (unsigned long long)ld(&sum->entities), (unsigned long long)ld(&sum->pushes),
               (unsigned long long)ld(&sum->pushed_rows), (long long)atomic_load(&srv->version),
               (long long)atomic_load(&srv->connections), nthreads,
               (double)(srv_now_us() - srv->started_us) / 1e6);
    tess__free(sum);
    srv_printf(o,
               "# HELP tessera_http_slow_closed_total Connections closed because a request was "
               "not received, or its reply not sent, within the request timeout.\n"
               "# TYPE tessera_http_slow_closed_total counter\n"
               "tessera_http_slow_closed_total %llu\n"
               "# HELP tessera_http_body_bytes Bytes of request bodies held in memory now "
               "(being received, or pushes waiting for their commit).\n"
               "# TYPE tessera_http_body_bytes gauge\n"
               "tessera_http_body_bytes %llu\n"
               "# HELP tessera_http_body_bytes_limit The limit of tessera_http_body_bytes "
               "(--max-body-memory): bodies past it are refused with 503 busy.\n"
               "# TYPE tessera_http_body_bytes_limit gauge\n"
               "tessera_http_body_bytes_limit %llu\n",
               (unsigned long long)atomic_load(&srv->slow_closed),
               (unsigned long long)atomic_load(&srv->body_memory),
               (unsigned long long)srv->o.max_body_memory);
    if (srv->o.keys_file)
        srv_printf(o,
                   "# HELP tessera_api_keys API keys loaded from the keys file.\n"
                   "# TYPE tessera_api_keys gauge\n"
                   "tessera_api_keys %lld\n"
                   "# HELP tessera_api_keys_reload_failures_total Reloads of the keys file that "
                   "failed (the keys before stay).\n"
                   "# TYPE tessera_api_keys_reload_failures_total counter\n"
                   "tessera_api_keys_reload_failures_total %llu\n",
                   (long long)atomic_load(&srv->nkeys),
                   (unsigned long long)atomic_load(&srv->keys_reload_failures));
    online_metrics(srv, o);
    r->ctype = "text/plain; version=0.0.4; charset=utf-8";
    return 200;
}
