/* server.h — what the files of the feature server share (src/server/):
 *
 *   server.c   the tess_server handle, libmicrohttpd glue, the route table, request bodies and
 *              their limits, error replies, /health
 *   lookup.c   POST /get-online-features: request parsing, the query cache, the registry
 *              version watcher, the response writer
 *   jsonw.c    the hand-written JSON output (strings, floats, timestamps) and the depth scan
 *   jsonr.c    the JSON reader of request bodies (a flat tree, strings decoded in place)
 *   push.c     POST /push and POST /write-to-online-store: parsed and checked on the worker
 *              thread, then committed by the committer thread while the connection waits
 *              suspended (it never blocks a worker)
 *   metrics.c  per-thread counters and the Prometheus text of GET /metrics
 *   auth.c     API keys (auth.h): the keys file, the check of each request, reloads
 *   guard.c    the guard thread: per-request deadlines of slow clients, keys file changes
 *
 * Threads: libmicrohttpd runs a pool of worker threads; each connection stays on one of them.
 * Each worker owns a srv_thread (made on its first request, found through a pthread key): its
 * lookup session, its output buffer and its metric counters, so the hot path takes no lock but
 * the query cache's read lock. The server keeps the list of srv_threads and frees them after
 * libmicrohttpd has joined its threads. Calls on the store handle itself (making sessions and
 * queries, reading the registry version) are serialised by srv->store_lock.
 *
 * Pushes: the worker parses and checks the body, suspends the connection and queues it
 * (srv->pq_*); the committer thread takes everything queued, commits it with one
 * tess_push_many (one group commit) and resumes each connection, whose worker then answers.
 */
#ifndef TESS_SERVER_SERVER_H
#define TESS_SERVER_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "server/auth.h"
#include "tessera.h"

/* jsonw.c: a growable output buffer with a sticky out-of-memory flag, so that writers need
 * not check every append: check `oom` once at the end. */
typedef struct srv_buf {
    char *p;
    size_t len, cap;
    int oom;
} srv_buf;

void srv_buf_release(srv_buf *b);
/* Room for n more bytes: returns the place to write them, or NULL (and sets oom). */
char *srv_reserve(srv_buf *b, size_t n);
void srv_put_slow(srv_buf *b, const char *s, size_t n);
/* Appends n bytes: inline while they fit (the response writers call it per value). */
static inline void srv_put(srv_buf *b, const char *s, size_t n)
{
    if (n < b->cap - b->len) {
        memcpy(b->p + b->len, s, n);
        b->len += n;
        return;
    }
    srv_put_slow(b, s, n);
}
/* A C string; for a literal the compiler folds the strlen. */
static inline void srv_puts(srv_buf *b, const char *s)
{
    srv_put(b, s, strlen(s));
}
void srv_printf(srv_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A quoted JSON string: control characters as \u00XX, invalid UTF-8 as U+FFFD. */
void srv_put_str(srv_buf *b, const char *s, size_t n);
void srv_put_int(srv_buf *b, int64_t v);
/* A float64 as JSON: the shortest form that reads back to the same double, with ".0" when it
 * would look like an integer; NaN and infinities as the strings "NaN", "Infinity", "-Infinity"
 * (protobuf's JSON mapping, which Feast's server uses). */
void srv_put_float(srv_buf *b, double v);
void srv_put_ts(srv_buf *b, int64_t us); /* a quoted RFC 3339 timestamp with Z */
/* The length of the valid UTF-8 sequence at s (n bytes left), or 0 if it is not valid. */
size_t srv_utf8_len(const unsigned char *s, size_t n);

/* jsonr.c: a parsed JSON document, nodes in document order. A container's members follow it:
 * an array's elements, an object's key (a string node) and value pairs; `next` is the index
 * just after a node's subtree (its next sibling). Strings point into the parsed text (decoded
 * in place, NUL-terminated, no NUL inside). */
enum { SJ_NULL, SJ_FALSE, SJ_TRUE, SJ_INT, SJ_REAL, SJ_STRING, SJ_ARRAY, SJ_OBJECT };
typedef struct srv_jnode {
    uint8_t type; /* SJ_* */
    uint32_t n;   /* string: bytes; array: elements; object: members */
    uint32_t next;
    union {
        int64_t i;
        double f;
        const char *s;
    } u;
} srv_jnode;

typedef struct srv_jdoc {
    srv_jnode *nodes; /* nodes[0] is the root */
    size_t len, cap;
    uint32_t *stack; /* open containers while parsing */
    size_t scap;
    const char **keys; /* duplicate-key check of large objects */
    size_t kcap;
    char msg[160]; /* SRV_JSON_INVALID: what, at line:column */
    int line, column;
    long deep_at; /* SRV_JSON_TOO_DEEP: the byte offset of the bracket too deep */
} srv_jdoc;

#define SRV_JSON_INVALID (-1)
#define SRV_JSON_TOO_DEEP (-2)
/* Parses text[0..n) (modified: strings are decoded in place) into d (reused). 0, or one of
 * the two errors above. */
int srv_json_parse(srv_jdoc *d, char *text, size_t n, int max_depth);
void srv_jdoc_release(srv_jdoc *d);
const char *srv_jkind(const srv_jnode *j); /* "object", "integer", ... for messages */
/* The value of `key` in the object at index obj, or 0 (no such key; not an object). */
uint32_t srv_jget(const srv_jdoc *d, uint32_t obj, const char *key);
/* for (SRV_JEACH_MEMBER(d, obj, k, i)): k is the key of member i of object obj, its value
 * is at k + 1. */
#define SRV_JEACH_MEMBER(d, obj, k, i)                                                             \
    uint32_t i = 0, k = (obj) + 1;                                                                 \
    i < (d)->nodes[obj].n;                                                                         \
    i++, k = (d)->nodes[k + 1].next
/* for (SRV_JEACH_ELEM(d, arr, e, i)): e is each element of array arr in turn. */
#define SRV_JEACH_ELEM(d, arr, e, i)                                                               \
    uint32_t i = 0, e = (arr) + 1;                                                                 \
    i < (d)->nodes[arr].n;                                                                         \
    i++, e = (d)->nodes[e].next

/* Routes (metrics labels). R_OTHER: every path that is not in the route table. */
enum { R_GET_ONLINE, R_PUSH, R_WRITE_ONLINE, R_HEALTH, R_METRICS, R_OTHER, R__COUNT };

/* The "code" of error bodies; docs/server.md lists them with their HTTP statuses. */
enum {
    E_INVALID_JSON,
    E_TOO_DEEP,
    E_INVALID_REQUEST,
    E_UNKNOWN_FIELD,
    E_UNKNOWN_FEATURE,
    E_UNKNOWN_SERVICE,
    E_NOTHING_APPLIED,
    E_UNKNOWN_ENTITY_KEY,
    E_MISSING_ENTITY_KEY,
    E_MISSING_REQUEST_FIELD,
    E_INVALID_ENTITY_VALUE,
    E_LENGTH_MISMATCH,
    E_TOO_MANY_ENTITIES,
    E_BODY_TOO_LARGE,
    E_UNSUPPORTED_MEDIA_TYPE,
    E_NOT_FOUND,
    E_METHOD_NOT_ALLOWED,
    E_NOT_IMPLEMENTED,
    E_INTERNAL,
    E_UNAVAILABLE, /* 503: the store cannot be reached or read (e.g. Redis is down) */
    E_UNKNOWN_SOURCE,
    E_UNKNOWN_VIEW,
    E_INVALID_ROW,
    E_UNAUTHORIZED, /* 401: no API key, or not a valid one */
    E_FORBIDDEN,    /* 403: a valid key without the route's scope */
    E_BUSY,         /* 503: request bodies in memory at their limit (max_body_memory) */
    E__COUNT
};
extern const char *const srv_error_codes[E__COUNT];

/* Latency histogram buckets (upper bounds in microseconds; +Inf is implicit). */
#define SRV_NBUCKETS 14
extern const uint64_t srv_bucket_us[SRV_NBUCKETS];

/* Counters of one worker thread. Only that thread writes them (relaxed atomics, no lock
 * prefix); /metrics sums them over the threads. */
typedef struct srv_metrics {
    _Atomic uint64_t requests[R__COUNT][6]; /* [route][status / 100] */
    _Atomic uint64_t errors[R__COUNT][E__COUNT];
    _Atomic uint64_t buckets[R__COUNT][SRV_NBUCKETS + 1]; /* not cumulative; last: +Inf */
    _Atomic uint64_t sum_us[R__COUNT];
    _Atomic uint64_t entities; /* entity rows looked up */
    _Atomic uint64_t pushes;   /* pushes accepted (POST /push, /write-to-online-store) */
    _Atomic uint64_t pushed_rows;
} srv_metrics;

static inline void srv_count(_Atomic uint64_t *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

struct MHD_Connection;
typedef struct srv_thread srv_thread;

/* A timestamp already written into a response: its value, where, how long. */
typedef struct srv_tsref {
    int64_t ts;
    uint32_t off, len;
} srv_tsref;

/* The state of a request with a body, from its headers to its reply (server.c); recycled per
 * worker thread. */
typedef struct srv_conn {
    struct srv_conn *next_free;
    srv_thread *th;
    int route;
    int too_large; /* the body passed max_body_bytes: the rest is dropped, then 413 */
    int too_busy;  /* the bodies in memory passed max_body_memory: dropped, then 503 */
    size_t dropped;
    size_t held;   /* bytes of the body counted in srv->body_memory */
    uint64_t t0;
    srv_buf body;
    /* a push waiting for its commit (push.c) */
    int state; /* SRV_C_* */
    struct MHD_Connection *mc;
    struct srv_conn *next_push; /* srv->pq_head */
    tess_push_req push;         /* rows, columns: owned; status and message: by the commit */
} srv_conn;

enum {
    SRV_C_READING,   /* the body is coming */
    SRV_C_QUEUED,    /* suspended, queued for the committer */
    SRV_C_COMMITTED, /* resumed by the committer: push.status says how it went */
    SRV_C_ANSWERED
};

/* One worker thread's state. */
struct srv_thread {
    struct srv_thread *next; /* srv->threads */
    tess_session *session;   /* made on the first lookup; NULL until then */
    srv_buf out;             /* the response body being written (reused) */
    srv_jdoc doc;            /* the request being parsed (reused) */
    srv_buf key;             /* the query-cache key being built (reused) */
    tess_value *inputs;      /* entity rows of the lookup being run (reused) */
    size_t inputs_cap;
    struct srv_tsref *tsc; /* per entity row, the last timestamp written (lookup.c) */
    size_t tsc_cap;
    srv_conn *free_conns; /* recycled per-connection states */
    int nfree_conns;
    _Atomic(srv_keys *) keys_hazard; /* the keys table this thread is reading (auth.c) */
    srv_metrics m;
};

/* One open connection, for the guard thread (guard.c): libmicrohttpd's socket context. */
typedef struct srv_sock {
    struct srv_sock *prev, *next; /* srv->socks, under socks_lock */
    int fd;
    _Atomic uint64_t deadline_us; /* monotonic; 0: none (a push waiting for its commit) */
} srv_sock;

/* What identifies a version of the keys file (a change of any field: reload). */
typedef struct srv_filesig {
    uint64_t dev, ino;
    int64_t size, mtime_ns, ctime_ns;
} srv_filesig;

typedef struct srv_qentry srv_qentry;

struct tess_server {
    tess_store *st;
    tess_server_opts o; /* with the defaults filled in */
    char *host;         /* o.host points here */
    int port;
    struct MHD_Daemon *daemon;
    pthread_key_t key; /* -> srv_thread */
    int key_made;

    pthread_mutex_t threads_lock; /* srv->threads */
    srv_thread *threads;

    pthread_mutex_t store_lock; /* every call on st */

    /* push targets (push.c), by name; kept until the server stops (a few per applied version) */
    struct srv_pentry *pushers; /* under store_lock */

    /* the query cache (lookup.c) */
    pthread_rwlock_t cache_lock;
    srv_qentry **cache; /* SRV_CACHE_BUCKETS chains */
    size_t cache_count;

    /* the registry version watcher (lookup.c) */
    _Atomic int64_t version; /* latest applied registry version seen; 0: none */
    pthread_t watcher;
    int watcher_started;
    pthread_mutex_t watch_lock;
    pthread_cond_t watch_cond;
    int stopping;

    /* the push queue and its committer thread (push.c) */
    pthread_mutex_t pq_lock;
    pthread_cond_t pq_cond;
    srv_conn *pq_head, *pq_tail;
    int pq_closing;             /* no more pushes are queued (answered 503) */
    _Atomic int64_t pq_pending; /* pushes queued or committed but not answered yet */
    pthread_t committer[2]; /* two: one group's online write overlaps the next's offline
                               commit (src/store/push.c) */
    int committers;         /* started */
    _Atomic int closing;      /* tess_server_stop runs: replies close their connections */

    _Atomic int64_t connections; /* open now */
    _Atomic uint64_t body_memory; /* bytes of request bodies held now (srv_conn.held) */
    uint64_t started_us;         /* monotonic clock at start */

    /* API keys (auth.c); keys is NULL when there is no keys file (no access control) */
    _Atomic(srv_keys *) keys;
    _Atomic int64_t nkeys;
    _Atomic uint64_t keys_reload_failures;
    pthread_mutex_t keys_lock; /* reloads; keys_retired, keys_sig */
    int keys_lock_made;
    srv_keys *keys_retired; /* replaced tables some worker may still read */
    srv_filesig keys_sig;   /* of the file loaded last */

    /* TLS: the PEM texts handed to libmicrohttpd (kept until stop) */
    char *tls_cert, *tls_key;
    size_t tls_key_len;

    /* the guard thread (guard.c) and the connections it watches */
    pthread_mutex_t socks_lock;
    srv_sock *socks;
    pthread_t guard;
    int guard_started;
    pthread_mutex_t guard_lock;
    pthread_cond_t guard_cond;
    int guard_stop;
    uint64_t request_us, idle_us; /* the request timeout and the idle one, in microseconds */
    _Atomic uint64_t slow_closed; /* connections closed for a request not in by its deadline */
};

/* A request as the handlers see it: the whole body, and where to answer. */
typedef struct srv_req {
    tess_server *srv;
    srv_thread *th;
    char *body; /* the handler may modify it (srv_json_parse decodes strings in place) */
    size_t n;
    int route;
    int ecode;         /* E_* of an error reply, -1 otherwise */
    const char *ctype; /* content type of th->out */
    srv_conn *c;       /* NULL for requests without a body (GET) */
    struct MHD_Connection *mc;
    const char *www_auth; /* a WWW-Authenticate header of the reply (401, 403), or NULL */
} srv_req;

/* A handler's answer that there is no reply yet: the connection is suspended (push.c). */
#define SRV_SUSPENDED 0

/* Writes the JSON error body into th->out and returns `status` (handlers return it). */
int srv_error(srv_req *r, int status, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Monotonic clock in microseconds. */
uint64_t srv_now_us(void);

/* Parses the request's body into th->doc: 0, or the status of the error reply
 * (400 invalid_json, too_deep, or invalid_request when the body is not an object). */
int srv_parse_body(srv_req *r);

/* lookup.c */
int srv_handle_get_online(srv_req *r);
/* Makes the thread's session on first use; 0 or the status of the error reply. */
int srv_thread_session(srv_req *r);
/* A JSON value as a value of `type` (timestamps: RFC 3339 strings or integers of
 * microseconds; null allowed when null_ok). NULL, or a static reason ("expected ..."). */
const char *srv_json_value(const srv_jnode *j, int type, int null_ok, tess_value *v);

/* push.c: POST /push and POST /write-to-online-store */
int srv_handle_push(srv_req *r);
int srv_handle_write_online(srv_req *r);
/* The fuzzing seam (tests/fuzz/fuzz_push.c): everything the push routes do on the worker
 * thread before queueing — the body parsed, the push target resolved, every value checked and
 * converted into r->c->push. 0 when the push is ready; else the status of the error reply
 * (r->c->push is then released). view: 1 for /write-to-online-store. */
int srv_push_prepare(srv_req *r, int view);
/* Commits a prepared push on the caller's thread as a committer would (a group of one, on
 * *session, made on first use; the caller frees it) and writes its reply: the status. */
int srv_push_commit_now(srv_req *r, tess_session **session);
/* The reply of a push the committer has resumed (c->state SRV_C_COMMITTED). */
int srv_push_answer(srv_req *r);
int srv_push_init(tess_server *srv); /* starts the committer */
/* Stops taking pushes, waits for the committer to commit and resume every queued one. */
void srv_push_stop(tess_server *srv);
void srv_push_release(tess_server *srv);
/* A push connection ends (answered or not): its memory. */
void srv_push_conn_done(tess_server *srv, srv_conn *c);
int srv_lookup_init(tess_server *srv); /* the cache and the watcher; TESS_OK or an error */
void srv_lookup_release(tess_server *srv);
void srv_thread_release_lookup(srv_thread *th);

/* auth.c: the server's keys */
/* Loads o.keys_file (when set). TESS_OK, or an error with the reason in msg. */
int srv_auth_init(tess_server *srv, char *msg, size_t cap);
void srv_auth_release(tess_server *srv);
/* Reads the keys file again (only_if_changed: when its size, times or inode changed). On an
 * error the keys loaded before stay, and the log says why. TESS_OK or the error. */
int srv_auth_reload(tess_server *srv, int only_if_changed);
/* The API-key check of a request for a route needing `need` (SRV_SCOPE_*); `what` names it in
 * messages ("POST /push"). 0: allowed; else the status of the error reply (401, 403). */
int srv_auth_check(srv_req *r, unsigned need, const char *what);

/* guard.c */
int srv_guard_start(tess_server *srv);
void srv_guard_stop(tess_server *srv);
/* A connection's deadline: by then its request must be in and its reply sent (us from now;
 * 0: none). */
void srv_sock_deadline(tess_server *srv, struct MHD_Connection *mc, uint64_t us_from_now);
/* A new connection's first deadline: idle timeout + request timeout from now. */
void srv_sock_start(tess_server *srv, srv_sock *s);

/* metrics.c */
void srv_metrics_record(srv_thread *th, int route, int status, int ecode, uint64_t us);
int srv_handle_metrics(srv_req *r);
extern const char *const srv_route_names[R__COUNT];

#endif
