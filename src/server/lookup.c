/* lookup.c — POST /get-online-features: the request, the query cache, the registry version
 * watcher and the response.
 *
 * Request (Feast's shape): {"feature_service": "svc"} or {"features": ["view:feat", ...]},
 * plus "entities": {"user_id": [1, 2], "amount": [10.5, 3]} (join keys and the request fields
 * of on-demand features, as columns of equal length) and optionally "full_feature_names".
 * The body is parsed by jsonr.c (errors say line and column; nesting limited to --max-depth),
 * then checked against the query's inputs.
 *
 * Query cache: one tess_query per request shape (service name, or the features list, and
 * full_feature_names), shared by all threads, in a hash table under cache_lock (readers take
 * the read lock only to find an entry and take a reference). Entries are reference counted so
 * that dropping the cache never frees a query a request is still running. The watcher thread
 * reads the registry's latest version every second; when it changes, the cache is emptied and
 * queries are rebuilt against the new version on their next request (DESIGN: a running server
 * picks up a new registry version within a second). At most SRV_CACHE_MAX shapes are kept;
 * beyond that a query is made for its request and freed after it.
 *
 * Response (Feast's shape): {"metadata": {"feature_names": [join keys..., features...]},
 * "results": [{"values": [...], "statuses": [...], "event_timestamps": [...]}, ...]}, one
 * result per name, written by hand into the thread's buffer; the part up to "results": [ is
 * made once per cache entry.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "core/alloc.h"
#include "core/hash.h"
#include "core/time.h"
#include "server/server.h"

#define SRV_CACHE_BUCKETS 256
#define SRV_CACHE_MAX 4096

struct srv_qentry {
    srv_qentry *next;
    uint64_t hash;
    char *key;
    size_t klen;
    tess_query *q;
    _Atomic int refs;
    char *prefix; /* {"metadata":{"feature_names":[...]},"results":[ */
    size_t prefix_len;
};

/* ---- the query cache ------------------------------------------------------------------------ */

static void entry_free(tess_server *srv, srv_qentry *e)
{
    if (!e) return;
    pthread_mutex_lock(&srv->store_lock);
    tess_query_free(e->q);
    pthread_mutex_unlock(&srv->store_lock);
    tess__free(e->key);
    tess__free(e->prefix);
    tess__free(e);
}

static void entry_release(tess_server *srv, srv_qentry *e)
{
    if (e && atomic_fetch_sub(&e->refs, 1) == 1) entry_free(srv, e);
}

/* Empties the cache; entries in use are freed by their last user. */
static void cache_clear(tess_server *srv)
{
    srv_qentry *dead = NULL;
    pthread_rwlock_wrlock(&srv->cache_lock);
    for (size_t b = 0; b < SRV_CACHE_BUCKETS; b++) {
        while (srv->cache[b]) {
            srv_qentry *e = srv->cache[b];
            srv->cache[b] = e->next;
            e->next = dead;
            dead = e;
        }
    }
    srv->cache_count = 0;
    pthread_rwlock_unlock(&srv->cache_lock);
    while (dead) {
        srv_qentry *e = dead;
        dead = e->next;
        entry_release(srv, e);
    }
}

static srv_qentry *cache_find(tess_server *srv, uint64_t h, const char *key, size_t klen)
{
    for (srv_qentry *e = srv->cache[h % SRV_CACHE_BUCKETS]; e; e = e->next)
        if (e->hash == h && e->klen == klen && memcmp(e->key, key, klen) == 0) return e;
    return NULL;
}

/* The metadata part of the response, the same for every request of the query. */
static char *make_prefix(const tess_query *q, size_t *len)
{
    srv_buf b = {0};
    srv_puts(&b, "{\"metadata\":{\"feature_names\":[");
    int first = 1;
    for (size_t i = 0; i < tess_query_ninputs(q); i++) {
        int is_request = 0;
        const char *name = tess_query_input(q, i, NULL, &is_request);
        if (is_request) continue;
        if (!first) srv_put(&b, ",", 1);
        srv_put_str(&b, name, strlen(name));
        first = 0;
    }
    for (size_t f = 0; f < tess_query_nfeatures(q); f++) {
        const char *name = tess_query_feature(q, f, NULL);
        if (!first) srv_put(&b, ",", 1);
        srv_put_str(&b, name, strlen(name));
        first = 0;
    }
    srv_puts(&b, "]},\"results\":[");
    if (b.oom) {
        srv_buf_release(&b);
        return NULL;
    }
    *len = b.len;
    return b.p;
}

/*
 * The cache entry of a request shape (a reference: entry_release it), made on a miss. The key
 * is th->key: 's' or 'f', full_feature_names as '0' or '1', then the service name or the
 * feature names, each followed by a NUL (JSON strings with NUL are rejected by the parser).
 * Returns 0 or an HTTP status after srv_error.
 */
static int query_get(srv_req *r, const char *service, const char *const *features, size_t nfeatures,
                     int ffn, srv_qentry **out)
{
    tess_server *srv = r->srv;
    srv_buf *k = &r->th->key;
    k->len = 0;
    srv_put(k, service ? "s" : "f", 1);
    srv_put(k, ffn ? "1" : "0", 1);
    if (service) {
        srv_put(k, service, strlen(service) + 1);
    } else {
        for (size_t i = 0; i < nfeatures; i++)
            srv_put(k, features[i], strlen(features[i]) + 1);
    }
    if (k->oom) {
        k->oom = 0;
        return srv_error(r, 500, E_INTERNAL, "out of memory");
    }
    uint64_t h = tess__hash64(k->p, k->len);

    pthread_rwlock_rdlock(&srv->cache_lock);
    srv_qentry *e = cache_find(srv, h, k->p, k->len);
    if (e) atomic_fetch_add(&e->refs, 1);
    pthread_rwlock_unlock(&srv->cache_lock);
    if (e) {
        *out = e;
        return 0;
    }

    /* a miss: make the query (one at a time on the store handle) */
    tess_query *q = NULL;
    char msg[1024];
    pthread_mutex_lock(&srv->store_lock);
    int rc = tess_query_new(srv->st, service, service ? NULL : features, service ? 0 : nfeatures,
                            ffn, &q);
    if (rc != TESS_OK) snprintf(msg, sizeof msg, "%s", tess_store_errmsg(srv->st));
    pthread_mutex_unlock(&srv->store_lock);
    if (rc != TESS_OK) {
        if (!msg[0]) snprintf(msg, sizeof msg, "%s", tess_strerror(rc));
        if (rc == TESS_NOTFOUND && atomic_load(&srv->version) == 0)
            return srv_error(r, 404, E_NOTHING_APPLIED, "%s", msg);
        if (rc == TESS_NOTFOUND)
            return srv_error(r, 404, service ? E_UNKNOWN_SERVICE : E_UNKNOWN_FEATURE, "%s", msg);
        if (rc == TESS_EINVAL || rc == TESS_ETYPE)
            return srv_error(r, 400, E_INVALID_REQUEST, "%s", msg);
        return srv_error(r, 500, E_INTERNAL, "%s", msg);
    }
    e = tess__calloc(1, sizeof *e);
    if (e) {
        e->q = q;
        e->hash = h;
        e->klen = k->len;
        e->key = tess__malloc(k->len);
        e->prefix = make_prefix(q, &e->prefix_len);
        atomic_init(&e->refs, 1);
    }
    if (!e || !e->key || !e->prefix) {
        if (e)
            entry_free(srv, e);
        else
            tess_query_free(q);
        return srv_error(r, 500, E_INTERNAL, "out of memory");
    }
    memcpy(e->key, k->p, k->len);

    pthread_rwlock_wrlock(&srv->cache_lock);
    srv_qentry *had = cache_find(srv, h, e->key, e->klen);
    if (had) { /* another thread made it meanwhile */
        atomic_fetch_add(&had->refs, 1);
    } else if (srv->cache_count < SRV_CACHE_MAX &&
               tess_query_version(q) == atomic_load(&srv->version)) {
        atomic_fetch_add(&e->refs, 1); /* the cache's reference */
        e->next = srv->cache[h % SRV_CACHE_BUCKETS];
        srv->cache[h % SRV_CACHE_BUCKETS] = e;
        srv->cache_count++;
    }
    pthread_rwlock_unlock(&srv->cache_lock);
    if (had) {
        entry_release(srv, e);
        e = had;
    }
    *out = e;
    return 0;
}

/* ---- the registry version watcher ------------------------------------------------------------ */

/* The latest applied version (0: none), or -1 if the registry could not be read. */
static int64_t read_version(tess_server *srv)
{
    char *text = NULL;
    pthread_mutex_lock(&srv->store_lock);
    int rc = tess_catalog_history(srv->st, &text);
    pthread_mutex_unlock(&srv->store_lock);
    if (rc != TESS_OK) return -1;
    int64_t v = -1;
    json_t *doc = json_loads(text, 0, NULL);
    if (json_is_array(doc)) {
        size_t n = json_array_size(doc);
        v = 0;
        if (n) v = json_integer_value(json_object_get(json_array_get(doc, n - 1), "version"));
    }
    json_decref(doc);
    tess_free(text);
    return v;
}

static void check_version(tess_server *srv)
{
    int64_t v = read_version(srv);
    if (v < 0 || v == atomic_load(&srv->version)) return;
    atomic_store(&srv->version, v);
    cache_clear(srv);
}

static void *watcher_main(void *arg)
{
    tess_server *srv = arg;
    pthread_mutex_lock(&srv->watch_lock);
    while (!srv->stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&srv->watch_cond, &srv->watch_lock, &ts);
        if (srv->stopping) break;
        pthread_mutex_unlock(&srv->watch_lock);
        check_version(srv);
        pthread_mutex_lock(&srv->watch_lock);
    }
    pthread_mutex_unlock(&srv->watch_lock);
    return NULL;
}

int srv_lookup_init(tess_server *srv)
{
    if (!(srv->cache = tess__calloc(SRV_CACHE_BUCKETS, sizeof *srv->cache))) return TESS_ENOMEM;
    pthread_rwlock_init(&srv->cache_lock, NULL);
    pthread_mutex_init(&srv->watch_lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&srv->watch_cond, &ca);
    pthread_condattr_destroy(&ca);
    int64_t v = read_version(srv);
    atomic_store(&srv->version, v > 0 ? v : 0);
    if (pthread_create(&srv->watcher, NULL, watcher_main, srv) != 0) return TESS_ENOMEM;
    srv->watcher_started = 1;
    return TESS_OK;
}

void srv_lookup_release(tess_server *srv)
{
    if (!srv->cache) return;
    if (srv->watcher_started) {
        pthread_mutex_lock(&srv->watch_lock);
        srv->stopping = 1;
        pthread_cond_signal(&srv->watch_cond);
        pthread_mutex_unlock(&srv->watch_lock);
        pthread_join(srv->watcher, NULL);
    }
    cache_clear(srv);
    tess__free(srv->cache);
    srv->cache = NULL;
    pthread_rwlock_destroy(&srv->cache_lock);
    pthread_mutex_destroy(&srv->watch_lock);
    pthread_cond_destroy(&srv->watch_cond);
}

void srv_thread_release_lookup(srv_thread *th)
{
    tess_session_free(th->session);
    th->session = NULL;
    tess__free(th->inputs);
    th->inputs = NULL;
    th->inputs_cap = 0;
    tess__free(th->tsc);
    th->tsc = NULL;
    th->tsc_cap = 0;
}

/* ---- the request ------------------------------------------------------------------------------
 */

/* One entity value as input of the given type (push.c's cells too); NULL or a static reason. */
const char *srv_json_value(const srv_jnode *j, int type, int null_ok, tess_value *v)
{
    v->type = type;
    v->null = 0;
    v->u.i = 0;
    switch (j->type) {
    case SJ_NULL:
        if (!null_ok) return "is null (join keys cannot be null)";
        v->null = 1;
        return NULL;
    case SJ_INT:
        if (type == TESS_TYPE_INT64 || type == TESS_TYPE_TIMESTAMP) {
            v->u.i = j->u.i; /* timestamps: microseconds since the epoch */
            return NULL;
        }
        if (type == TESS_TYPE_FLOAT64) {
            v->u.f = (double)j->u.i;
            return NULL;
        }
        break;
    case SJ_REAL:
        if (type == TESS_TYPE_FLOAT64) {
            v->u.f = j->u.f;
            return NULL;
        }
        break;
    case SJ_STRING:
        if (type == TESS_TYPE_STRING) {
            v->u.s.p = j->u.s;
            v->u.s.n = j->n;
            return NULL;
        }
        if (type == TESS_TYPE_TIMESTAMP) {
            if (tess__ts_parse(j->u.s, j->n, &v->u.i, NULL) != TESS_OK)
                return "is not a timestamp (expected RFC 3339, e.g. 2026-01-02T03:04:05Z)";
            return NULL;
        }
        break;
    case SJ_TRUE:
    case SJ_FALSE:
        if (type == TESS_TYPE_BOOL) {
            v->u.b = j->type == SJ_TRUE;
            return NULL;
        }
        break;
    }
    switch (type) {
    case TESS_TYPE_BOOL:
        return "expected a boolean";
    case TESS_TYPE_INT64:
        return "expected an integer";
    case TESS_TYPE_FLOAT64:
        return "expected a number";
    case TESS_TYPE_STRING:
        return "expected a string";
    case TESS_TYPE_TIMESTAMP:
        return "expected an RFC 3339 string";
    }
    return "has a type the server cannot read";
}

static void put_value(srv_buf *o, const tess_value *v)
{
    if (v->null) {
        srv_put(o, "null", 4);
        return;
    }
    switch (v->type) {
    case TESS_TYPE_BOOL:
        if (v->u.b)
            srv_put(o, "true", 4);
        else
            srv_put(o, "false", 5);
        break;
    case TESS_TYPE_INT64:
        srv_put_int(o, v->u.i);
        break;
    case TESS_TYPE_FLOAT64:
        srv_put_float(o, v->u.f);
        break;
    case TESS_TYPE_STRING:
        srv_put_str(o, v->u.s.p, v->u.s.n);
        break;
    case TESS_TYPE_TIMESTAMP:
        srv_put_ts(o, v->u.i);
        break;
    default:
        srv_put(o, "null", 4);
    }
}

#define EPOCH "\"1970-01-01T00:00:00Z\""

/* The status and timestamp arrays of a join key: all PRESENT, all epoch. */
static void put_repeated(srv_buf *o, const char *s, size_t len, size_t n)
{
    char *d = srv_reserve(o, n * (len + 1));
    if (!d) return;
    for (size_t i = 0; i < n; i++) {
        if (i) *d++ = ',';
        memcpy(d, s, len);
        d += len;
    }
    o->len += n ? n * (len + 1) - 1 : 0;
}

static void write_response(srv_thread *th, const srv_qentry *e, const tess_value *inputs,
                           size_t ninputs, size_t nrows, const tess_online_result *res)
{
    srv_buf *o = &th->out;
#define Q(s)                                                                                       \
    {                                                                                              \
        "\"" s "\"", sizeof s + 1                                                                  \
    }
    static const struct {
        const char *s;
        size_t n;
    } status_json[5] = {Q("PRESENT"), Q("NOT_FOUND"), Q("NULL_VALUE"), Q("OUTSIDE_MAX_AGE"),
                        Q("UNKNOWN")};
#undef Q
    o->len = 0;
    srv_put(o, e->prefix, e->prefix_len);
    int first = 1;
    for (size_t i = 0; i < ninputs; i++) {
        int is_request = 0;
        tess_query_input(e->q, i, NULL, &is_request);
        if (is_request) continue;
        srv_puts(o, first ? "{\"values\":[" : ",{\"values\":[");
        first = 0;
        for (size_t row = 0; row < nrows; row++) {
            if (row) srv_put(o, ",", 1);
            put_value(o, &inputs[row * ninputs + i]);
        }
        srv_puts(o, "],\"statuses\":[");
        put_repeated(o, "\"PRESENT\"", 9, nrows);
        srv_puts(o, "],\"event_timestamps\":[");
        put_repeated(o, EPOCH, sizeof EPOCH - 1, nrows);
        srv_puts(o, "]}");
    }
    size_t nf = res->nfeatures;
    /* the features of one view share each row's timestamp: per row, the last one written is
     * copied when it comes again (formatting a timestamp costs more than copying it) */
    srv_tsref one, *tsc = &one;
    if (nrows > th->tsc_cap) {
        srv_tsref *t = tess__realloc(th->tsc, nrows * sizeof *t);
        if (t) {
            th->tsc = t;
            th->tsc_cap = nrows;
        }
    }
    size_t ntsc = nrows <= th->tsc_cap ? nrows : 1;
    if (nrows <= th->tsc_cap) tsc = th->tsc;
    if (ntsc) memset(tsc, 0, ntsc * sizeof *tsc);
    for (size_t f = 0; f < nf; f++) {
        srv_puts(o, first ? "{\"values\":[" : ",{\"values\":[");
        first = 0;
        for (size_t row = 0; row < nrows; row++) {
            if (row) srv_put(o, ",", 1);
            size_t k = row * nf + f;
            if (res->statuses[k] != TESS_STATUS_PRESENT)
                srv_put(o, "null", 4);
            else
                put_value(o, &res->values[k]);
        }
        srv_puts(o, "],\"statuses\":[");
        for (size_t row = 0; row < nrows; row++) {
            if (row) srv_put(o, ",", 1);
            int s = res->statuses[row * nf + f];
            if (s < 0 || s > 3) s = 4;
            srv_put(o, status_json[s].s, status_json[s].n);
        }
        srv_puts(o, "],\"event_timestamps\":[");
        for (size_t row = 0; row < nrows; row++) {
            if (row) srv_put(o, ",", 1);
            int64_t ts = res->event_ts[row * nf + f];
            srv_tsref *c = &tsc[ntsc == nrows ? row : 0];
            if (ts == 0) {
                srv_put(o, EPOCH, sizeof EPOCH - 1);
            } else if (c->len && ts == c->ts && !o->oom) {
                char *d = srv_reserve(o, c->len);
                if (d) {
                    memcpy(d, o->p + c->off, c->len);
                    o->len += c->len;
                }
            } else {
                size_t at = o->len;
                srv_put_ts(o, ts);
                c->ts = ts;
                c->off = (uint32_t)at;
                c->len = (uint32_t)(o->len - at);
                if (at > UINT32_MAX / 2) c->len = 0; /* (a body of gigabytes: no reuse) */
            }
        }
        srv_puts(o, "]}");
    }
    srv_puts(o, "]}\n");
}

/* The names of the query's join keys and request fields, for messages. */
static void input_names(const tess_query *q, char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = 0;
    for (size_t i = 0; i < tess_query_ninputs(q) && len + 1 < cap; i++) {
        int n = snprintf(buf + len, cap - len, "%s%s", i ? ", " : "",
                         tess_query_input(q, i, NULL, NULL));
        if (n < 0) break;
        len += (size_t)n;
    }
    if (len >= cap) len = cap - 1;
    if (!len) snprintf(buf, cap, "none");
}

int srv_thread_session(srv_req *r)
{
    tess_server *srv = r->srv;
    srv_thread *th = r->th;
    if (th->session) return 0;
    pthread_mutex_lock(&srv->store_lock);
    int rc = tess_session_new(srv->st, &th->session);
    char msg[1024] = "";
    if (rc != TESS_OK) {
        snprintf(msg, sizeof msg, "%s",
                 th->session ? tess_session_errmsg(th->session) : tess_store_errmsg(srv->st));
        tess_session_free(th->session);
        th->session = NULL;
    }
    pthread_mutex_unlock(&srv->store_lock);
    if (rc != TESS_OK)
        return srv_error(r, rc == TESS_EIO ? 503 : 500, rc == TESS_EIO ? E_UNAVAILABLE : E_INTERNAL,
                         "cannot open a session: %s", msg[0] ? msg : tess_strerror(rc));
    return 0;
}

int srv_handle_get_online(srv_req *r)
{
    tess_server *srv = r->srv;
    srv_thread *th = r->th;
    srv_jdoc *d = &th->doc;
    srv_qentry *e = NULL;
    const char *fbuf[16], **feats = fbuf;
    int status;

    if ((status = srv_parse_body(r)) != 0) return status;
    const srv_jnode *nd = d->nodes;
    uint32_t service = 0, features = 0, ffn = 0, entities = 0;
    for (SRV_JEACH_MEMBER(d, 0, k, i)) {
        const char *key = nd[k].u.s;
        if (strcmp(key, "feature_service") == 0)
            service = k + 1;
        else if (strcmp(key, "features") == 0)
            features = k + 1;
        else if (strcmp(key, "entities") == 0)
            entities = k + 1;
        else if (strcmp(key, "full_feature_names") == 0)
            ffn = k + 1;
        else
            return srv_error(r, 400, E_UNKNOWN_FIELD,
                             "unknown field \"%s\" (expected feature_service or features, "
                             "entities, full_feature_names)",
                             key);
    }
    if (service && nd[service].type == SJ_NULL) service = 0;
    if (features && nd[features].type == SJ_NULL) features = 0;
    if (!service == !features)
        return srv_error(r, 400, E_INVALID_REQUEST,
                         service ? "give either feature_service or features, not both"
                                 : "give feature_service (a name) or features (a list)");
    if (service && (nd[service].type != SJ_STRING || nd[service].n == 0))
        return srv_error(r, 400, E_INVALID_REQUEST,
                         "feature_service must be a non-empty string, not %s",
                         srv_jkind(&nd[service]));
    size_t nfeat = 0;
    if (features) {
        if (nd[features].type != SJ_ARRAY || nd[features].n == 0)
            return srv_error(r, 400, E_INVALID_REQUEST,
                             "features must be a non-empty array of strings");
        nfeat = nd[features].n;
        if (nfeat > sizeof fbuf / sizeof fbuf[0] && !(feats = tess__malloc(nfeat * sizeof *feats)))
            return srv_error(r, 500, E_INTERNAL, "out of memory");
        for (SRV_JEACH_ELEM(d, features, f, i)) {
            if (nd[f].type != SJ_STRING) {
                status = srv_error(r, 400, E_INVALID_REQUEST,
                                   "features[%u] must be a string, not %s", i, srv_jkind(&nd[f]));
                goto out;
            }
            feats[i] = nd[f].u.s;
        }
    }
    if (ffn && nd[ffn].type != SJ_TRUE && nd[ffn].type != SJ_FALSE) {
        status = srv_error(r, 400, E_INVALID_REQUEST,
                           "full_feature_names must be true or false, not %s", srv_jkind(&nd[ffn]));
        goto out;
    }
    if (!entities || nd[entities].type != SJ_OBJECT) {
        status = srv_error(r, 400, E_INVALID_REQUEST,
                           entities ? "entities must be an object of columns, not %s"
                                    : "entities is missing (an object of columns: "
                                      "{\"user_id\": [1, 2]})%s",
                           entities ? srv_jkind(&nd[entities]) : "");
        goto out;
    }

    if ((status = query_get(r, service ? nd[service].u.s : NULL, feats, nfeat,
                            ffn && nd[ffn].type == SJ_TRUE, &e)) != 0)
        goto out;
    const tess_query *q = e->q;
    size_t ni = tess_query_ninputs(q);
    char names[512];

    /* every column is an input of the query, every input a column, all of one length */
    uint32_t cols[64], *col = cols;
    if (ni > 64 && !(col = tess__calloc(ni, sizeof *col))) {
        status = srv_error(r, 500, E_INTERNAL, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < ni; i++)
        col[i] = 0;
    for (SRV_JEACH_MEMBER(d, entities, k, m)) {
        const char *key = nd[k].u.s;
        size_t i = 0;
        while (i < ni && strcmp(tess_query_input(q, i, NULL, NULL), key) != 0)
            i++;
        if (i == ni) {
            input_names(q, names, sizeof names);
            status = srv_error(r, 400, E_UNKNOWN_ENTITY_KEY,
                               "entities.%s is not a join key or request field of these features "
                               "(they take: %s)",
                               key, names);
            goto out_cols;
        }
        col[i] = k + 1;
    }
    size_t nrows = 0;
    const char *first_name = NULL;
    for (size_t i = 0; i < ni; i++) {
        int is_request = 0;
        const char *name = tess_query_input(q, i, NULL, &is_request);
        if (!col[i]) {
            status = srv_error(r, 400, is_request ? E_MISSING_REQUEST_FIELD : E_MISSING_ENTITY_KEY,
                               "entities has no %s \"%s\"",
                               is_request ? "request field" : "join key", name);
            goto out_cols;
        }
        if (nd[col[i]].type != SJ_ARRAY) {
            status = srv_error(r, 400, E_INVALID_ENTITY_VALUE,
                               "entities.%s must be an array (a column), not %s", name,
                               srv_jkind(&nd[col[i]]));
            goto out_cols;
        }
        size_t n = nd[col[i]].n;
        if (!first_name) {
            nrows = n;
            first_name = name;
        } else if (n != nrows) {
            status = srv_error(r, 400, E_LENGTH_MISMATCH,
                               "entities.%s has %zu values but entities.%s has %zu", name, n,
                               first_name, nrows);
            goto out_cols;
        }
    }
    if (nrows > srv->o.max_entities) {
        status =
            srv_error(r, 413, E_TOO_MANY_ENTITIES, "%zu entities in one request; the limit is %zu",
                      nrows, srv->o.max_entities);
        goto out_cols;
    }
    size_t nvals = nrows * ni;
    if (nvals > th->inputs_cap) {
        tess_value *p = tess__realloc(th->inputs, nvals * sizeof *p);
        if (!p) {
            status = srv_error(r, 500, E_INTERNAL, "out of memory");
            goto out_cols;
        }
        th->inputs = p;
        th->inputs_cap = nvals;
    }
    for (size_t i = 0; i < ni; i++) {
        int type = 0, is_request = 0;
        const char *name = tess_query_input(q, i, &type, &is_request);
        for (SRV_JEACH_ELEM(d, col[i], j, row)) {
            const char *why = srv_json_value(&nd[j], type, is_request, &th->inputs[row * ni + i]);
            if (why) {
                if (why[0] == 'e') /* "expected ...": say what came instead */
                    status = srv_error(r, 400, E_INVALID_ENTITY_VALUE,
                                       "entities.%s[%u]: %s (%s), got %s", name, row, why,
                                       tess_type_name(type), srv_jkind(&nd[j]));
                else
                    status = srv_error(r, 400, E_INVALID_ENTITY_VALUE, "entities.%s[%u] %s", name,
                                       row, why);
                goto out_cols;
            }
        }
    }

    if ((status = srv_thread_session(r)) != 0) goto out_cols;
    tess_online_result res;
    int rc = tess_get_online(th->session, q, th->inputs, nrows, 0, &res);
    if (rc != TESS_OK) {
        const char *msg = tess_session_errmsg(th->session);
        if (!msg || !msg[0]) msg = tess_strerror(rc);
        if (rc == TESS_EINVAL || rc == TESS_ETYPE)
            status = srv_error(r, 400, E_INVALID_ENTITY_VALUE, "%s", msg);
        else if (rc == TESS_EIO) /* the online store cannot be reached or read: try again */
            status = srv_error(r, 503, E_UNAVAILABLE, "lookup failed: %s", msg);
        else
            status = srv_error(r, 500, E_INTERNAL, "lookup failed: %s", msg);
        goto out_cols;
    }
    srv_count(&th->m.entities, nrows);
    write_response(th, e, th->inputs, ni, nrows, &res);
    status = 200;
out_cols:
    if (col != cols) tess__free(col);
out:
    entry_release(srv, e);
    if (feats != fbuf) tess__free(feats);
    return status;
}
