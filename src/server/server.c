/* server.c — the HTTP feature server: the tess_server handle, libmicrohttpd's daemon, the route
 * table, request bodies under their limits, error replies and GET /health.
 *
 * libmicrohttpd (MHD) runs a pool of worker threads over epoll (when available) with strict
 * HTTP parsing (MHD_OPTION_STRICT_FOR_CLIENT = 1), a connection limit, an idle timeout and a
 * per-connection memory limit for the request line and headers. The listening socket is made
 * here (so that bind errors are precise and port 0 can report the port it got).
 *
 * A request goes through on_request, which MHD calls several times per request:
 *   1. headers received (*con_cls NULL): the route is looked up; unknown path -> 404, wrong
 *      method -> 405 with Allow; POST routes check the content type (415); a declared
 *      Content-Length over the limit is 413 before anything is read. These early replies
 *      close the connection (MHD does so for any reply queued before the body is read). Any
 *      other request gets a srv_conn (recycled per thread) and is answered on a later call,
 *      GET requests too: MHD keeps a connection alive only then.
 *   2. body chunks: appended up to max_body_bytes; beyond it (chunked bodies have no declared
 *      length) the rest is read and dropped, up to as much again, then the connection is
 *      closed.
 *   3. end of the body: the handler runs on the whole body; its reply (th->out) is copied into
 *      the response (MHD_RESPMEM_MUST_COPY: a connection's response may still be sending while
 *      its thread serves the next request, so th->out cannot be lent to MHD), or, when it is
 *      large, handed to MHD (which frees it) and th->out starts again in a new buffer.
 * Every reply is counted once in the thread's metrics with its latency (headers -> queued).
 *
 * Access control (auth.c, docs/security.md): with a keys file, the route's scope is checked
 * when the headers are in, after the route and the method (401 / 403, which close the
 * connection like the other early replies). /health is open. Without a keys file the server
 * refuses to listen on a non-loopback address unless told `insecure`. TLS is libmicrohttpd's
 * (GnuTLS), the certificate and key checked here first so that a mistake is named. Slow
 * clients: the guard thread (guard.c) closes connections past their request deadline.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <microhttpd.h>

#include "core/alloc.h"
#include "core/err.h"
#include "server/server.h"
#include "store/store_int.h"

#define DEF_MAX_BODY (1u << 20)
#define HANDOFF_BYTES (16u << 10) /* replies this big are given to MHD, not copied */
#define DEF_MAX_BODY_MEMORY ((size_t)256 << 20)
#define DEF_MAX_ENTITIES 10000
#define DEF_MAX_DEPTH 32
#define DEF_MAX_CONNECTIONS 1024
#define DEF_TIMEOUT_S 30
#define DEF_CONN_MEMORY (32u << 10)
#define DEF_REQUEST_TIMEOUT_S 30
#define PEM_MAX (1u << 20) /* largest certificate or key file */
/* TLS 1.2 and 1.3 only */
#define TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"
#define MAX_FREE_CONNS 64
#define KEEP_BUF_BYTES (64u << 10) /* buffers larger than this are freed after a request */
#define KEEP_OUT_BYTES (1u << 20)  /* a thread's reply buffer (one per thread) */
#define KEEP_NODES (64u << 10)     /* parsed documents too (a 1000-row push has ~10k nodes) */

const char *const srv_error_codes[E__COUNT] = {
    [E_INVALID_JSON] = "invalid_json",
    [E_TOO_DEEP] = "too_deep",
    [E_INVALID_REQUEST] = "invalid_request",
    [E_UNKNOWN_FIELD] = "unknown_field",
    [E_UNKNOWN_FEATURE] = "unknown_feature",
    [E_UNKNOWN_SERVICE] = "unknown_feature_service",
    [E_NOTHING_APPLIED] = "nothing_applied",
    [E_UNKNOWN_ENTITY_KEY] = "unknown_entity_key",
    [E_MISSING_ENTITY_KEY] = "missing_entity_key",
    [E_MISSING_REQUEST_FIELD] = "missing_request_field",
    [E_INVALID_ENTITY_VALUE] = "invalid_entity_value",
    [E_LENGTH_MISMATCH] = "length_mismatch",
    [E_TOO_MANY_ENTITIES] = "too_many_entities",
    [E_BODY_TOO_LARGE] = "body_too_large",
    [E_UNSUPPORTED_MEDIA_TYPE] = "unsupported_media_type",
    [E_NOT_FOUND] = "not_found",
    [E_METHOD_NOT_ALLOWED] = "method_not_allowed",
    [E_NOT_IMPLEMENTED] = "not_implemented",
    [E_INTERNAL] = "internal",
    [E_UNAVAILABLE] = "unavailable",
    [E_UNKNOWN_SOURCE] = "unknown_push_source",
    [E_UNKNOWN_VIEW] = "unknown_feature_view",
    [E_INVALID_ROW] = "invalid_row",
    [E_UNAUTHORIZED] = "unauthorized",
    [E_FORBIDDEN] = "forbidden",
    [E_BUSY] = "busy",
};

typedef int (*srv_handler)(srv_req *r);

static int handle_health(srv_req *r);

static const struct route {
    const char *path;
    const char *method; /* "GET" routes also answer HEAD */
    int id;
    srv_handler fn;
    unsigned scope;   /* the API key's scope it needs (SRV_SCOPE_*); 0: open */
    const char *what; /* for messages */
} routes[] = {
    {"/get-online-features", "POST", R_GET_ONLINE, srv_handle_get_online, SRV_SCOPE_READ,
     "POST /get-online-features"},
    {"/push", "POST", R_PUSH, srv_handle_push, SRV_SCOPE_WRITE, "POST /push"},
    {"/write-to-online-store", "POST", R_WRITE_ONLINE, srv_handle_write_online, SRV_SCOPE_WRITE,
     "POST /write-to-online-store"},
    {"/health", "GET", R_HEALTH, handle_health, 0, "GET /health"},
    {"/metrics", "GET", R_METRICS, srv_handle_metrics, SRV_SCOPE_METRICS, "GET /metrics"},
};
#define NROUTES (sizeof routes / sizeof routes[0])

uint64_t srv_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int srv_error(srv_req *r, int status, int code, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n < 0) n = 0;
    if ((size_t)n >= sizeof msg) n = sizeof msg - 1;
    srv_buf *o = &r->th->out;
    o->len = 0;
    srv_puts(o, "{\"error\":{\"code\":\"");
    srv_puts(o, srv_error_codes[code]);
    srv_puts(o, "\",\"message\":");
    srv_put_str(o, msg, (size_t)n);
    srv_puts(o, "}}\n");
    r->ecode = code;
    r->ctype = "application/json";
    return status;
}

/* ---- worker threads ------------------------------------------------------------------------ */

static srv_thread *get_thread(tess_server *srv)
{
    srv_thread *th = pthread_getspecific(srv->key);
    if (th) return th;
    th = tess__calloc(1, sizeof *th);
    if (!th) return NULL;
    if (pthread_setspecific(srv->key, th) != 0) {
        tess__free(th);
        return NULL;
    }
    pthread_mutex_lock(&srv->threads_lock);
    th->next = srv->threads;
    srv->threads = th;
    pthread_mutex_unlock(&srv->threads_lock);
    return th;
}

static void free_thread(srv_thread *th)
{
    srv_thread_release_lookup(th);
    srv_jdoc_release(&th->doc);
    srv_buf_release(&th->out);
    srv_buf_release(&th->key);
    while (th->free_conns) {
        srv_conn *c = th->free_conns;
        th->free_conns = c->next_free;
        srv_buf_release(&c->body);
        tess__free(c);
    }
    tess__free(th);
}

static srv_conn *conn_get(srv_thread *th)
{
    srv_conn *c = th->free_conns;
    if (c) {
        th->free_conns = c->next_free;
        th->nfree_conns--;
    } else if (!(c = tess__calloc(1, sizeof *c))) {
        return NULL;
    }
    c->next_free = NULL;
    c->th = th;
    c->too_large = 0;
    c->too_busy = 0;
    c->dropped = 0;
    c->held = 0;
    c->body.len = 0;
    c->body.oom = 0;
    c->state = SRV_C_READING;
    c->mc = NULL;
    c->next_push = NULL;
    memset(&c->push, 0, sizeof c->push);
    return c;
}

/* Gives back the body bytes a request counted in srv->body_memory. */
static void unhold(tess_server *srv, srv_conn *c)
{
    if (c->held) atomic_fetch_sub(&srv->body_memory, c->held);
    c->held = 0;
}

/* Counts n more bytes of c's body in srv->body_memory; false (nothing counted) when that would
 * pass max_body_memory. */
static bool hold(tess_server *srv, srv_conn *c, size_t n)
{
    uint64_t was = atomic_fetch_add(&srv->body_memory, n);
    if (was + n > srv->o.max_body_memory) {
        atomic_fetch_sub(&srv->body_memory, n);
        return false;
    }
    c->held += n;
    return true;
}

/* MHD_OPTION_NOTIFY_COMPLETED: a request ended (answered, or its connection closed). */
static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    tess_server *srv = cls;
    srv_conn *c = *con_cls;
    *con_cls = NULL;
    /* the next request line is due within the idle timeout (and then the request timeout) */
    srv_sock_deadline(srv, conn, srv->idle_us + srv->request_us);
    if (!c) return;
    srv_push_conn_done(srv, c);
    unhold(srv, c);
    if (c->body.cap > KEEP_BUF_BYTES) srv_buf_release(&c->body);
    srv_thread *th = c->th;
    if (th == pthread_getspecific(srv->key) && th->nfree_conns < MAX_FREE_CONNS) {
        c->next_free = th->free_conns;
        th->free_conns = c;
        th->nfree_conns++;
        return;
    }
    srv_buf_release(&c->body);
    tess__free(c);
}

/* MHD_OPTION_NOTIFY_CONNECTION: counts open connections for /metrics, and keeps the list of
 * their sockets and deadlines for the guard thread (guard.c). MHD notifies the end before it
 * closes the socket, so a socket on the list is always still open. */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    tess_server *srv = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        atomic_fetch_add(&srv->connections, 1);
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        srv_sock *s = ci ? tess__calloc(1, sizeof *s) : NULL;
        if (!s) return; /* not watched: libmicrohttpd's idle timeout still applies */
        s->fd = ci->connect_fd;
        srv_sock_start(srv, s);
        pthread_mutex_lock(&srv->socks_lock);
        s->next = srv->socks;
        if (s->next) s->next->prev = s;
        srv->socks = s;
        pthread_mutex_unlock(&srv->socks_lock);
        *socket_context = s;
        return;
    }
    atomic_fetch_add(&srv->connections, -1);
    srv_sock *s = *socket_context;
    if (!s) return;
    *socket_context = NULL;
    pthread_mutex_lock(&srv->socks_lock);
    if (s->prev)
        s->prev->next = s->next;
    else
        srv->socks = s->next;
    if (s->next) s->next->prev = s->prev;
    pthread_mutex_unlock(&srv->socks_lock);
    tess__free(s);
}

/* MHD_OPTION_URI_LOG_CALLBACK: a request line is in. The rest of the request must follow,
 * and the reply be sent, within the request timeout. */
static void *on_request_line(void *cls, const char *uri, struct MHD_Connection *conn)
{
    tess_server *srv = cls;
    srv_sock_deadline(srv, conn, srv->request_us);
    return NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    tess_server *srv = cls;
    if (!srv->o.log) return;
    char line[512];
    int n = vsnprintf(line, sizeof line, fmt, ap);
    if (n < 0) return;
    size_t len = strlen(line);
    while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
        line[--len] = 0;
    srv->o.log(srv->o.log_arg, line);
}

/* ---- replies -------------------------------------------------------------------------------- */

static enum MHD_Result send_reply(srv_req *r, struct MHD_Connection *conn, int status,
                                  const char *allow, uint64_t t0)
{
    srv_buf *o = &r->th->out;
    if (o->oom) {
        o->oom = 0;
        status = srv_error(r, 500, E_INTERNAL, "out of memory");
    }
    struct MHD_Response *resp = NULL;
    if (o->len >= HANDOFF_BYTES) {
        /* a large reply (e.g. a lookup of many entities) is handed to MHD rather than copied,
           and the thread starts its next reply in a fresh buffer of the same size */
        resp = MHD_create_response_from_buffer_with_free_callback(o->len, o->p, tess__free);
        if (resp) {
            size_t cap = o->cap <= KEEP_OUT_BYTES ? o->cap : 0;
            o->p = cap ? tess__malloc(cap) : NULL;
            o->cap = o->p ? cap : 0;
        }
    }
    if (!resp) resp = MHD_create_response_from_buffer(o->len, o->p, MHD_RESPMEM_MUST_COPY);
    enum MHD_Result ret = MHD_NO;
    if (resp) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->ctype);
        if (allow) MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
        if (r->www_auth)
            MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, r->www_auth);
        if (atomic_load_explicit(&r->srv->closing, memory_order_relaxed))
            MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
        ret = MHD_queue_response(conn, (unsigned)status, resp);
        MHD_destroy_response(resp);
    }
    srv_metrics_record(r->th, r->route, status, r->ecode, srv_now_us() - t0);
    o->len = 0;
    if (o->cap > KEEP_OUT_BYTES) srv_buf_release(o);
    if (r->th->doc.cap > KEEP_NODES) srv_jdoc_release(&r->th->doc);
    if (r->c) r->c->state = SRV_C_ANSWERED;
    return ret;
}

int srv_parse_body(srv_req *r)
{
    srv_jdoc *d = &r->th->doc;
    int rc = srv_json_parse(d, r->body, r->n, r->srv->o.max_json_depth);
    if (rc == SRV_JSON_TOO_DEEP)
        return srv_error(r, 400, E_TOO_DEEP, "JSON nested deeper than %d levels (at byte %ld)",
                         r->srv->o.max_json_depth, d->deep_at + 1);
    if (rc != 0)
        return srv_error(r, 400, E_INVALID_JSON, "malformed JSON at line %d, column %d: %s",
                         d->line, d->column, d->msg);
    if (d->nodes[0].type != SJ_OBJECT)
        return srv_error(r, 400, E_INVALID_REQUEST, "the body must be a JSON object, not %s",
                         srv_jkind(&d->nodes[0]));
    return 0;
}

static int handle_health(srv_req *r)
{
    srv_buf *o = &r->th->out;
    int64_t v = atomic_load(&r->srv->version);
    srv_puts(o, "{\"status\":\"ok\",\"version\":");
    if (v > 0)
        srv_put_int(o, v);
    else
        srv_puts(o, "null");
    srv_puts(o, "}\n");
    return 200;
}

/* application/json (any parameters), any "+json" type, or absent; also
 * application/x-www-form-urlencoded, which `curl -d` sends unless told otherwise (Feast's own
 * curl examples do so): the body is read as JSON all the same. */
static int content_type_ok(const char *ct)
{
    if (!ct) return 1;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    size_t n = strcspn(ct, "; \t");
    if (n == 0) return 1;
    if (n == 16 && strncasecmp(ct, "application/json", 16) == 0) return 1;
    if (n == 33 && strncasecmp(ct, "application/x-www-form-urlencoded", 33) == 0) return 1;
    if (n > 17 && strncasecmp(ct, "application/", 12) == 0 &&
        strncasecmp(ct + n - 5, "+json", 5) == 0)
        return 1;
    return 0;
}

/* 503 busy: the request bodies in memory are at max_body_memory (the client may retry). */
static int busy(srv_req *r)
{
    return srv_error(r, 503, E_BUSY, "the server holds %llu bytes of request bodies already "
                     "(its limit: %zu, --max-body-memory); retry later",
                     (unsigned long long)atomic_load(&r->srv->body_memory),
                     r->srv->o.max_body_memory);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    tess_server *srv = cls;
    srv_conn *c = *con_cls;
    if (c) {
        if (*upload_data_size) { /* a chunk of the body */
            size_t n = *upload_data_size;
            *upload_data_size = 0;
            if (!c->too_large && c->body.len + n > srv->o.max_body_bytes) c->too_large = 1;
            if (!c->too_large && !c->too_busy && !hold(srv, c, n)) {
                /* the bodies in memory are at their limit: what came is let go at once */
                c->too_busy = 1;
                unhold(srv, c);
                srv_buf_release(&c->body);
            }
            if (c->too_large || c->too_busy) {
                c->dropped += n;
                return c->dropped > srv->o.max_body_bytes ? MHD_NO : MHD_YES;
            }
            srv_put(&c->body, upload_data, n);
            return MHD_YES;
        }
        /* the whole body is in (or a push is back from its commit) */
        srv_req r = {srv, c->th, c->body.p, c->body.len, c->route, -1, "application/json",
                     c,   conn,  NULL};
        int status;
        if (c->state == SRV_C_COMMITTED) {
            srv_sock_deadline(srv, conn, srv->request_us); /* the reply is to be sent */
            status = srv_push_answer(&r);
        } else if (c->state != SRV_C_READING)
            return MHD_YES; /* suspended: nothing to do yet */
        else if (c->too_large)
            status = srv_error(&r, 413, E_BODY_TOO_LARGE, "the body is larger than %zu bytes",
                               srv->o.max_body_bytes);
        else if (c->too_busy)
            status = busy(&r);
        else if (c->body.oom)
            status = srv_error(&r, 500, E_INTERNAL, "out of memory");
        else
            status = routes[c->route].fn(&r);
        if (status == SRV_SUSPENDED) {       /* answered when the commit is done */
            srv_sock_deadline(srv, conn, 0); /* (the wait is not the client's doing) */
            return MHD_YES;
        }
        return send_reply(&r, conn, status, NULL, c->t0);
    }

    /* the headers of a new request */
    uint64_t t0 = srv_now_us();
    srv_thread *th = get_thread(srv);
    if (!th) return MHD_NO;
    srv_req r = {srv, th, NULL, 0, R_OTHER, -1, "application/json", NULL, conn, NULL};
    const struct route *rt = NULL;
    for (size_t i = 0; i < NROUTES; i++)
        if (strcmp(url, routes[i].path) == 0) rt = &routes[i];
    if (!rt)
        return send_reply(&r, conn, srv_error(&r, 404, E_NOT_FOUND, "no route %s", url), NULL, t0);
    r.route = rt->id;
    int is_get = strcmp(rt->method, "GET") == 0;
    if (strcmp(method, rt->method) != 0 && !(is_get && strcmp(method, "HEAD") == 0)) {
        int st = srv_error(&r, 405, E_METHOD_NOT_ALLOWED, "%s takes %s, not %s", rt->path,
                           is_get ? "GET or HEAD" : rt->method, method);
        return send_reply(&r, conn, st, is_get ? "GET, HEAD" : rt->method, t0);
    }
    if (srv->o.keys_file && rt->scope) {
        int st = srv_auth_check(&r, rt->scope, rt->what);
        if (st) return send_reply(&r, conn, st, NULL, t0);
    }
    const char *ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type");
    if (!is_get && !content_type_ok(ct)) {
        int st = srv_error(&r, 415, E_UNSUPPORTED_MEDIA_TYPE,
                           "the body must be JSON (Content-Type: application/json), not %s", ct);
        return send_reply(&r, conn, st, NULL, t0);
    }
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
    if (cl) {
        char *end;
        errno = 0;
        unsigned long long len = strtoull(cl, &end, 10);
        if (errno == ERANGE || len > srv->o.max_body_bytes) {
            int st = srv_error(&r, 413, E_BODY_TOO_LARGE,
                               "the body (Content-Length: %s) is larger than %zu bytes", cl,
                               srv->o.max_body_bytes);
            return send_reply(&r, conn, st, NULL, t0);
        }
        if (len > srv->o.max_body_memory - atomic_load(&srv->body_memory))
            return send_reply(&r, conn, busy(&r), NULL, t0);
    }
    if (!(c = conn_get(th))) return MHD_NO;
    c->route = (int)(rt - routes);
    c->t0 = t0;
    *con_cls = c;
    return MHD_YES;
}

/* ---- start and stop ------------------------------------------------------------------------ */

/* 127.0.0.0/8, ::1, or ::ffff:127.x.y.z */
static int is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
    }
    return 0;
}

/* Makes the listening socket for host:port. Returns the socket or -1 after setting st's
 * message. loopback_only: an address other than loopback is refused (before listening). */
static int listen_on(tess_store *st, const char *host, int port, int *family, int loopback_only)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char ports[16];
    snprintf(ports, sizeof ports, "%d", port);
    int g = getaddrinfo(host, ports, &hints, &res);
    if (g != 0) {
        tess__err_set(&st->err, TESS_EIO, "cannot resolve the address %s: %s", host,
                      gai_strerror(g));
        return -1;
    }
    int fd = -1, err = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (loopback_only && !is_loopback(ai->ai_addr)) {
            close(fd);
            fd = -1;
            freeaddrinfo(res);
            tess__err_set(&st->err, TESS_EINVAL,
                          "refusing to serve %s (not a loopback address) without API keys: "
                          "anyone who can reach it could read and push every feature. Give a "
                          "keys file (--keys FILE, docs/security.md), or --insecure to serve it "
                          "open all the same",
                          host);
            return -2;
        }
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 1024) == 0) {
            *family = ai->ai_family;
            break;
        }
        err = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        tess__err_set(&st->err, TESS_EIO, "cannot listen on %s port %d: %s", host, port,
                      strerror(err));
    else
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

static int bound_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0) return -1;
    if (ss.ss_family == AF_INET) return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6) return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return -1;
}

/* Reads a PEM file into *out (NUL-terminated; tess__free). TESS_OK, or an error with st's
 * message set. */
static int read_pem(tess_store *st, const char *what, const char *path, char **out, size_t *len)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return tess__err_set(&st->err, TESS_EIO, "cannot read the TLS %s %s: %s", what, path,
                             strerror(errno));
    char *p = tess__malloc(PEM_MAX + 1);
    size_t n = p ? fread(p, 1, PEM_MAX + 1, f) : 0;
    int err = ferror(f);
    fclose(f);
    if (!p) return TESS_ENOMEM;
    if (err || n == 0 || n > PEM_MAX) {
        tess__free(p);
        return tess__err_set(&st->err, TESS_EIO, "cannot read the TLS %s %s: %s", what, path,
                             err ? "read error"
                             : n ? "larger than 1 MiB"
                                 : "the file is empty");
    }
    p[n] = 0;
    *out = p;
    *len = n;
    return TESS_OK;
}

/* Loads the certificate and key and checks them with GnuTLS (libmicrohttpd would only say
 * that it failed). */
static int tls_load(tess_server *srv, const tess_server_opts *o)
{
    tess_store *st = srv->st;
    size_t clen = 0;
    int rc;
    if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
        return tess__err_set(&st->err, TESS_EINVAL,
                             "this libmicrohttpd was built without TLS: --tls-cert cannot be used");
    if ((rc = read_pem(st, "certificate", o->tls_cert_file, &srv->tls_cert, &clen)) != TESS_OK)
        return rc;
    if ((rc = read_pem(st, "key", o->tls_key_file, &srv->tls_key, &srv->tls_key_len)) != TESS_OK)
        return rc;
    gnutls_certificate_credentials_t cred;
    if (gnutls_certificate_allocate_credentials(&cred) < 0) return TESS_ENOMEM;
    gnutls_datum_t c = {(unsigned char *)srv->tls_cert, (unsigned)clen};
    gnutls_datum_t k = {(unsigned char *)srv->tls_key, (unsigned)srv->tls_key_len};
    int g = gnutls_certificate_set_x509_key_mem(cred, &c, &k, GNUTLS_X509_FMT_PEM);
    gnutls_certificate_free_credentials(cred);
    if (g < 0)
        return tess__err_set(&st->err, TESS_EIO,
                             "the TLS certificate %s and key %s cannot be used: %s (they must "
                             "be PEM, the key unencrypted and the certificate's own)",
                             o->tls_cert_file, o->tls_key_file, gnutls_strerror(g));
    return TESS_OK;
}

static void free_server(tess_server *srv)
{
    if (!srv) return;
    srv_guard_stop(srv);
    srv_push_stop(srv);
    srv_lookup_release(srv);
    srv_push_release(srv);
    srv_auth_release(srv);
    while (srv->socks) { /* only if MHD never started */
        srv_sock *s = srv->socks;
        srv->socks = s->next;
        tess__free(s);
    }
    if (srv->tls_key) explicit_bzero(srv->tls_key, srv->tls_key_len);
    tess__free(srv->tls_key);
    tess__free(srv->tls_cert);
    while (srv->threads) {
        srv_thread *th = srv->threads;
        srv->threads = th->next;
        free_thread(th);
    }
    if (srv->key_made) pthread_key_delete(srv->key);
    pthread_mutex_destroy(&srv->threads_lock);
    pthread_mutex_destroy(&srv->store_lock);
    pthread_mutex_destroy(&srv->pq_lock);
    pthread_cond_destroy(&srv->pq_cond);
    pthread_mutex_destroy(&srv->socks_lock);
    pthread_mutex_destroy(&srv->guard_lock);
    pthread_cond_destroy(&srv->guard_cond);
    tess__free(srv->host);
    tess__free(srv);
}

int tess_server_start(tess_store *st, const tess_server_opts *opts, tess_server **out)
{
    int rc = TESS_OK, fd = -1, family = AF_INET;
    tess_server *srv = NULL;
    *out = NULL;
    if (!st) return TESS_EINVAL;
    if ((rc = tess__store_enter(st)) != TESS_OK) return rc;
    tess_server_opts o;
    if (opts)
        o = *opts;
    else
        memset(&o, 0, sizeof o);
    if (!o.host || !*o.host) o.host = "127.0.0.1";
    if (o.threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        o.threads = n > 0 ? (int)(n > 256 ? 256 : n) : 1;
    }
    if (!o.max_body_bytes) o.max_body_bytes = DEF_MAX_BODY;
    if (!o.max_entities) o.max_entities = DEF_MAX_ENTITIES;
    if (!o.max_json_depth) o.max_json_depth = DEF_MAX_DEPTH;
    if (!o.max_connections) o.max_connections = DEF_MAX_CONNECTIONS;
    if (!o.timeout_s) o.timeout_s = DEF_TIMEOUT_S;
    if (!o.connection_memory) o.connection_memory = DEF_CONN_MEMORY;
    if (!o.request_timeout_s) o.request_timeout_s = DEF_REQUEST_TIMEOUT_S;
    if (!o.max_body_memory) o.max_body_memory = DEF_MAX_BODY_MEMORY;
    if (o.max_body_memory < o.max_body_bytes) o.max_body_memory = o.max_body_bytes;
    if (o.port < 0 || o.port > 65535 || o.threads < 0 || o.threads > 1024 || o.max_json_depth < 2 ||
        o.connection_memory < 4096 || o.max_connections < (unsigned)o.threads ||
        o.timeout_s > 86400 || o.request_timeout_s > 86400) {
        return tess__err_set(&st->err, TESS_EINVAL,
                             "invalid server options: port 0..65535, threads 1..1024, JSON depth "
                             ">= 2, connection memory >= 4096, connections >= threads, timeouts "
                             "<= 86400 s");
    }
    if (o.keys_file && !*o.keys_file) o.keys_file = NULL;
    if (!o.tls_cert_file != !o.tls_key_file)
        return tess__err_set(&st->err, TESS_EINVAL,
                             "TLS needs both a certificate and its key (--tls-cert and --tls-key)");

    if (!(srv = tess__calloc(1, sizeof *srv))) return TESS_ENOMEM;
    pthread_mutex_init(&srv->threads_lock, NULL);
    pthread_mutex_init(&srv->store_lock, NULL);
    pthread_mutex_init(&srv->pq_lock, NULL);
    pthread_cond_init(&srv->pq_cond, NULL);
    pthread_mutex_init(&srv->socks_lock, NULL);
    pthread_mutex_init(&srv->guard_lock, NULL);
    pthread_cond_init(&srv->guard_cond, NULL);
    srv->st = st;
    srv->idle_us = (uint64_t)o.timeout_s * 1000000u;
    srv->request_us = (uint64_t)o.request_timeout_s * 1000000u;
    srv->started_us = srv_now_us();
    if (!(srv->host = tess__strdup(o.host))) {
        rc = TESS_ENOMEM;
        goto out;
    }
    o.host = srv->host;
    srv->o = o;
    if (pthread_key_create(&srv->key, NULL) != 0) {
        rc = TESS_ENOMEM;
        goto out;
    }
    srv->key_made = 1;
    char msg[1200];
    if ((rc = srv_auth_init(srv, msg, sizeof msg)) != TESS_OK) {
        if (rc != TESS_ENOMEM) tess__err_set(&st->err, rc, "%s", msg);
        goto out;
    }
    if (o.tls_cert_file && (rc = tls_load(srv, &o)) != TESS_OK) goto out;
    if ((rc = srv_lookup_init(srv)) != TESS_OK) goto out;
    if ((rc = srv_push_init(srv)) != TESS_OK) goto out;

    if ((fd = listen_on(st, o.host, o.port, &family, !o.keys_file && !o.insecure)) < 0) {
        rc = fd == -2 ? TESS_EINVAL : TESS_EIO;
        fd = -1;
        goto out;
    }
    srv->port = bound_port(fd);

    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG | MHD_USE_ITC |
                     MHD_ALLOW_SUSPEND_RESUME;
    if (MHD_is_feature_supported(MHD_FEATURE_EPOLL) == MHD_YES) flags |= MHD_USE_EPOLL;
    if (family == AF_INET6) flags |= MHD_USE_IPv6;
    if (srv->tls_cert) flags |= MHD_USE_TLS;
    struct MHD_OptionItem more[] = {
        {MHD_OPTION_PER_IP_CONNECTION_LIMIT, (intptr_t)o.max_connections_per_ip, NULL},
        {srv->tls_cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, srv->tls_cert},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, srv->tls_key},
        {MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)TLS_PRIORITIES},
        {MHD_OPTION_END, 0, NULL},
    };
    srv->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, srv, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, srv,
        MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned)(o.threads > 1 ? o.threads : 0), MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)o.max_connections, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)o.timeout_s,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, o.connection_memory, MHD_OPTION_STRICT_FOR_CLIENT,
        (int)1, MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv, MHD_OPTION_NOTIFY_CONNECTION,
        on_connection, srv, MHD_OPTION_URI_LOG_CALLBACK, on_request_line, srv, MHD_OPTION_ARRAY,
        more, MHD_OPTION_END);
    if (!srv->daemon) {
        close(fd);
        rc = tess__err_set(&st->err, TESS_EIO, "cannot start the HTTP server on %s port %d", o.host,
                           srv->port);
        goto out;
    }
    if ((rc = srv_guard_start(srv)) != TESS_OK) {
        MHD_stop_daemon(srv->daemon);
        srv->daemon = NULL;
        goto out;
    }
out:
    if (rc != TESS_OK) {
        free_server(srv);
        return rc;
    }
    *out = srv;
    return TESS_OK;
}

int tess_server_port(const tess_server *srv)
{
    return srv ? srv->port : 0;
}

void tess_server_stop(tess_server *srv)
{
    if (!srv) return;
    srv_guard_stop(srv);
    if (srv->daemon) {
        /* stop accepting; from now on every reply closes its connection */
        MHD_socket lfd = MHD_quiesce_daemon(srv->daemon);
        if (lfd != MHD_INVALID_SOCKET) close(lfd);
        atomic_store(&srv->closing, 1);
        /* give the requests in progress a moment (pushes are committed meanwhile) */
        for (int i = 0; i < 100; i++) {
            const union MHD_DaemonInfo *info =
                MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
            if (!info || info->num_connections == 0) break;
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        /* no more pushes; the queued ones are committed and their connections resumed
         * (MHD must not be stopped with a connection suspended) */
        srv_push_stop(srv);
        for (int i = 0; i < 500 && atomic_load(&srv->pq_pending) > 0; i++) {
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        MHD_stop_daemon(srv->daemon);
    }
    free_server(srv);
}
