/* kv_redis.c — the online store in Redis, through hiredis: one server (redis://host:port/db)
 * or a Redis Cluster (redis-cluster://host:port,host:port,...). One code path serves both: a
 * single server is a cluster of one node that owns every key (kv_redis_int.h).
 *
 * Keys and values are stored as they are on a single server, in the database the URL names
 * (0 by default), which the store owns (stats counts every key of it). In a cluster, a key is
 * stored under a hash tag ("{" tag "}" key, kv_redis_cluster.c) so that every key of one
 * feature view, its meta record included, lies in one hash slot. Every command is sent with
 * hiredis's argv form, so keys and values are binary-safe (NUL bytes and all).
 *
 * Connections: every node keeps a small pool of idle connections (at most MAX_IDLE). An
 * operation takes the connections it needs (one per node; an update one per hash slot it
 * touches: a "lane", so that a WATCH is never shared with another thread or slot), and gives
 * them back at the end; a connection that failed (I/O error, timeout, a reply out of
 * protocol) is closed instead and the node's generation rises, which closes its idle
 * connections opened before it (they most likely lead to the same dead server). An idle
 * connection is checked with a zero-timeout poll() before it is reused: a readable idle socket
 * means the server closed it (e.g. it restarted), so it is dropped. Hence the next operation
 * after a failure reconnects by itself. A child after fork() never reuses its parent's
 * connections (the handle remembers its pid). Connect and command timeouts bound every wait.
 *
 * Keys are routed in groups: the keys of one hash slot (all keys, on a single server). Every
 * operation sends the commands of every group first, on all the nodes, then reads the
 * answers: a batch costs one pipelined round trip per node. In a cluster, a MOVED answer
 * updates the slot map and the group is sent again to the node named (the whole map is read
 * again, once per operation); ASK sends it to the node named after ASKING; TRYAGAIN waits and
 * sends it again; a node that fails marks the map stale, so the next operation reads it again
 * (a failover moves slots to a promoted replica).
 *
 * Operations (docs/online_backends.md has the guarantees; scan, drop_prefix and stats are in
 * kv_redis_scan.c):
 *   get          one MGET per group: one snapshot per group (MGET is atomic).
 *   update       optimistic, per group on its own lane: WATCH + MGET of the group's keys (one
 *                round trip for all groups), fn called per key in batch order against a local
 *                table of the keys read and written; a key fn reads through tess__kv_txn_get
 *                is WATCHed before it is read (WATCH + GET on its group's lane); then MULTI,
 *                SET/DEL of the group's written keys (SET ... PX ms for a key given an
 *                expiry, tess__kv_txn_expire; PEXPIRE for one given an expiry alone), EXEC
 *                (one round trip for all groups). A
 *                group whose EXEC answers nil (a watched key changed meanwhile) or that was
 *                redirected is done again — its keys read again, fn called again for them —
 *                after a randomised exponential backoff, up to UPDATE_ATTEMPTS times.
 *   put          per group: SET or DEL for one key; MULTI + SET/DELs + EXEC for more.
 * A group caught in a slot's migration (ASK, TRYAGAIN) is read or written key by key.
 *
 * SIGPIPE: hiredis writes with write(2); a write to a connection the server closed would
 * raise SIGPIPE and kill the process. Every operation blocks SIGPIPE in its thread while it
 * talks to Redis, consumes one that became pending, and restores the mask.
 */
#include <errno.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/hash.h"
#include "online/kv_int.h"
#include "online/kv_redis_int.h"
#include "tessera.h"

#define DEFAULT_PORT 6379
#define DEFAULT_CONNECT_TIMEOUT_MS 2000
#define DEFAULT_TIMEOUT_MS 10000
#define DEFAULT_LOCK_TTL_MS 30000
#define MAX_TIMEOUT_MS (24 * 3600 * 1000)
#define MAX_IDLE TESS__RKV_MAX_IDLE
#define MAX_HOSTS 64                     /* servers listed in a URL */
#define UPDATE_ATTEMPTS 100              /* optimistic update: tries before giving up */
#define REDIRECTS 16                     /* MOVED / ASK / TRYAGAIN followed per group */
#define BACKOFF_MIN_US 50
#define BACKOFF_MAX_US 20000

typedef tess__rkv redis_kv;
typedef tess__rop rop;
typedef tess__rcfg rcfg;

static struct timeval ms_tv(int ms)
{
    return (struct timeval){ms / 1000, (ms % 1000) * 1000};
}

/* ---- URL ---------------------------------------------------------------------------------- */

static void cfg_release(rcfg *c)
{
    for (int i = 0; i < c->nhosts; i++) tess__free(c->hosts[i]);
    tess__free(c->hosts);
    tess__free(c->ports);
    tess__free(c->user);
    tess__free(c->pass);
    *c = (rcfg){0};
}

/* A decimal number in [lo, hi] made of the n bytes at s. */
static bool parse_num(const char *s, size_t n, long lo, long hi, long *out)
{
    if (n == 0 || n > 10) return false;
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        v = v * 10 + (s[i] - '0');
    }
    if (v < lo || v > hi) return false;
    *out = v;
    return true;
}

static int url_fail(const rcfg *cfg, const char *shown, tess__err *err, const char *what)
{
    return tess__err_set(err, TESS_ECONFIG, "online store \"%s\": %s (expected %s)", shown, what,
                         cfg->cluster ? "redis-cluster://[[user]:password@]host:port[,host:port"
                                        "...][?timeout=ms&connect_timeout=ms&lock_ttl=ms]"
                                      : "redis://[[user]:password@]host[:port][/db][?timeout=ms"
                                        "&connect_timeout=ms&lock_ttl=ms]");
}

/* One "host[:port]" or "[v6][:port]" of s..end into cfg's lists. */
static int parse_host(rcfg *cfg, const char *shown, const char *s, const char *end,
                      tess__buf *msg, tess__err *err)
{
    const char *host = s, *hend, *p;
    if (*s == '[') { /* [IPv6] */
        hend = memchr(s, ']', (size_t)(end - s));
        if (!hend) return url_fail(cfg, shown, err, "an IPv6 address lacks its closing ']'");
        host = s + 1;
        p = hend + 1;
        if (p < end && *p != ':')
            return url_fail(cfg, shown, err, "unexpected characters after the IPv6 address");
    } else {
        hend = memchr(s, ':', (size_t)(end - s));
        if (!hend) hend = end;
        p = hend;
    }
    if (hend == host) return url_fail(cfg, shown, err, "no host");
    long port = DEFAULT_PORT;
    if (p < end && !parse_num(p + 1, (size_t)(end - p - 1), 1, 65535, &port)) {
        tess__buf_reset(msg);
        tess__buf_printf(msg, "port \"%.*s\" is not a number from 1 to 65535",
                         (int)(end - p - 1), p + 1);
        return url_fail(cfg, shown, err, msg->p ? msg->p : "bad port");
    }
    if (cfg->nhosts == MAX_HOSTS) return url_fail(cfg, shown, err, "too many hosts");
    char *h = tess__strndup(host, (size_t)(hend - host));
    if (!h) return tess__err_set(err, TESS_ENOMEM, "online store: out of memory");
    cfg->hosts[cfg->nhosts] = h;
    cfg->ports[cfg->nhosts++] = (int)port;
    return TESS_OK;
}

/* redis://[[user]:password@]host[:port][/db][?options]
 * redis-cluster://[[user]:password@]host[:port][,host[:port]...][?options] */
static int parse_url(const char *url, bool cluster, rcfg *cfg, tess__err *err)
{
    int rc = TESS_OK;
    tess__buf shown = TESS__BUF_INIT, msg = TESS__BUF_INIT;
    size_t skip = cluster ? 16 : 8;
    const char *s = url + skip;
    const char *end = s + strcspn(s, "/?");
    const char *at = NULL;
    for (const char *p = s; p < end; p++)
        if (*p == '@') at = p;
    /* the URL as messages show it: the credentials masked */
    if (at ? tess__buf_printf(&shown, "%.*s***@%s", (int)skip, url, at + 1)
           : tess__buf_puts(&shown, url))
        return tess__err_set(err, TESS_ENOMEM, "out of memory");
    *cfg = (rcfg){.cluster = cluster,
                  .connect_ms = DEFAULT_CONNECT_TIMEOUT_MS,
                  .timeout_ms = DEFAULT_TIMEOUT_MS,
                  .lock_ttl_ms = DEFAULT_LOCK_TTL_MS};
    cfg->hosts = tess__calloc(MAX_HOSTS, sizeof(char *));
    cfg->ports = tess__calloc(MAX_HOSTS, sizeof(int));
    if (!cfg->hosts || !cfg->ports) goto oom;
    if (at) {
        const char *colon = memchr(s, ':', (size_t)(at - s));
        if (!colon) {
            rc = url_fail(cfg, shown.p, err, "credentials must be user:password or :password");
            goto out;
        }
        cfg->user = tess__strndup(s, (size_t)(colon - s));
        cfg->pass = tess__strndup(colon + 1, (size_t)(at - colon - 1));
        if (!cfg->user || !cfg->pass) goto oom;
        s = at + 1;
    }
    if (cluster) {
        while (rc == TESS_OK) {
            const char *comma = memchr(s, ',', (size_t)(end - s));
            const char *e = comma ? comma : end;
            rc = parse_host(cfg, shown.p, s, e, &msg, err);
            if (!comma) break;
            s = comma + 1;
        }
    } else {
        if (memchr(s, ',', (size_t)(end - s))) {
            rc = url_fail(cfg, shown.p, err, "several hosts (a cluster is redis-cluster://)");
            goto out;
        }
        rc = parse_host(cfg, shown.p, s, end, &msg, err);
    }
    if (rc != TESS_OK) goto out;
    s = end;
    if (*s == '/') { /* "/db" (empty: 0) */
        s++;
        size_t n = strcspn(s, "?");
        long db = 0;
        if (cluster && n) {
            rc = url_fail(cfg, shown.p, err, "a cluster has no databases (no /db)");
            goto out;
        }
        if (n && !parse_num(s, n, 0, INT_MAX, &db)) {
            tess__buf_reset(&msg);
            tess__buf_printf(&msg, "database \"%.*s\" is not a number from 0", (int)n, s);
            rc = url_fail(cfg, shown.p, err, msg.p ? msg.p : "bad database");
            goto out;
        }
        cfg->db = (int)db;
        s += n;
    }
    if (*s == '?') { /* options */
        s++;
        while (*s) {
            size_t n = strcspn(s, "&");
            const char *eq = memchr(s, '=', n);
            size_t kn = eq ? (size_t)(eq - s) : n;
            int *slot = NULL;
            if (kn == 7 && memcmp(s, "timeout", 7) == 0) slot = &cfg->timeout_ms;
            else if (kn == 15 && memcmp(s, "connect_timeout", 15) == 0) slot = &cfg->connect_ms;
            else if (kn == 8 && memcmp(s, "lock_ttl", 8) == 0) slot = &cfg->lock_ttl_ms;
            long v;
            if (!slot) {
                tess__buf_reset(&msg);
                tess__buf_printf(&msg, "unknown option \"%.*s\" (known: timeout, "
                                 "connect_timeout, lock_ttl)", (int)kn, s);
                rc = url_fail(cfg, shown.p, err, msg.p ? msg.p : "unknown option");
                goto out;
            }
            long lo = slot == &cfg->lock_ttl_ms ? 100 : 1;
            if (!eq || !parse_num(eq + 1, n - kn - 1, lo, MAX_TIMEOUT_MS, &v)) {
                tess__buf_reset(&msg);
                tess__buf_printf(&msg, "option \"%.*s\" needs milliseconds from %ld to %d",
                                 (int)n, s, lo, MAX_TIMEOUT_MS);
                rc = url_fail(cfg, shown.p, err, msg.p ? msg.p : "bad option");
                goto out;
            }
            *slot = (int)v;
            s += n;
            if (*s == '&') s++;
        }
    }
    goto out;
oom:
    rc = tess__err_set(err, TESS_ENOMEM, "online store: out of memory");
out:
    if (rc != TESS_OK) cfg_release(cfg);
    tess__buf_release(&shown);
    tess__buf_release(&msg);
    return rc;
}

/* ---- nodes and connections ---------------------------------------------------------------- */

static void close_ctx(redis_kv *kv, redisContext *c)
{
    if (kv->pid != getpid()) { /* a child after fork: the socket is the parent's */
        close(c->fd);          /* our copy of the descriptor only; nothing is sent */
        c->fd = -1;
    }
    redisFree(c);
}

static void node_close_idle(redis_kv *kv, tess__rnode *nd)
{
    for (int i = 0; i < nd->nidle; i++) close_ctx(kv, nd->idle[i]);
    nd->nidle = 0;
}

int tess__rkv_node(redis_kv *kv, const char *host, size_t hostn, int port)
{
    pthread_mutex_lock(&kv->lock);
    int found = -1;
    for (int i = 0; i < kv->nnode && found < 0; i++) {
        tess__rnode *nd = kv->node[i];
        if (nd->port == port && strlen(nd->host) == hostn && memcmp(nd->host, host, hostn) == 0)
            found = i;
    }
    if (found < 0) {
        tess__rnode *nd = tess__calloc(1, sizeof(*nd));
        tess__buf a = TESS__BUF_INIT;
        bool v6 = memchr(host, ':', hostn) != NULL;
        if (nd && !(nd->host = tess__strndup(host, hostn))) goto fail;
        if (!nd || tess__buf_printf(&a, "%s%.*s%s:%d", v6 ? "[" : "", (int)hostn, host,
                                    v6 ? "]" : "", port))
            goto fail;
        if (kv->nnode == kv->nodecap) {
            int cap = kv->nodecap ? kv->nodecap * 2 : 8;
            tess__rnode **p = tess__realloc(kv->node, (size_t)cap * sizeof(*p));
            if (!p) goto fail;
            kv->node = p;
            kv->nodecap = cap;
        }
        nd->port = port;
        nd->addr = tess__buf_take(&a);
        kv->node[kv->nnode] = nd;
        found = kv->nnode++;
        goto done;
    fail:
        tess__buf_release(&a);
        if (nd) tess__free(nd->host);
        tess__free(nd);
    }
done:
    pthread_mutex_unlock(&kv->lock);
    return found;
}

/* An idle connection is healthy if nothing can be read from it: a server that closed it (or
 * restarted) makes it readable (EOF) or errs. */
static bool idle_ok(redisContext *c)
{
    struct pollfd pfd = {c->fd, POLLIN, 0};
    return c->err == 0 && poll(&pfd, 1, 0) == 0;
}

static int conn_error(rop *op, int ci, bool wrote);

static const char *node_addr(rop *op, int node)
{
    pthread_mutex_lock(&op->kv->lock);
    const char *a = op->kv->node[node]->addr; /* immutable once made */
    pthread_mutex_unlock(&op->kv->lock);
    return a;
}

/* " node host:port" in a cluster's messages, "" on a single server. */
static const char *node_label(rop *op, int node, char *buf, size_t n)
{
    if (!op->kv->cfg.cluster) return "";
    snprintf(buf, n, " node %s", node_addr(op, node));
    return buf;
}

/* Sends the commands a new connection needs (AUTH, SELECT) and checks their answers. */
static int conn_setup(rop *op, int ci)
{
    const rcfg *cfg = &op->kv->cfg;
    redisContext *c = op->cs[ci].c;
    int sent = 0;
    if (cfg->pass) {
        const char *argv[3] = {"AUTH", cfg->user, cfg->pass};
        size_t lens[3] = {4, strlen(cfg->user), strlen(cfg->pass)};
        if (*cfg->user) redisAppendCommandArgv(c, 3, argv, lens);
        else redisAppendCommandArgv(c, 2, (const char *[]){"AUTH", cfg->pass},
                                    (size_t[]){4, lens[2]});
        sent++;
    }
    char db[16];
    if (cfg->db) {
        snprintf(db, sizeof(db), "%d", cfg->db);
        redisAppendCommandArgv(c, 2, (const char *[]){"SELECT", db}, (size_t[]){6, strlen(db)});
        sent++;
    }
    int rc = TESS_OK;
    for (int i = 0; i < sent; i++) {
        redisReply *r = NULL;
        if (redisGetReply(c, (void **)&r) != REDIS_OK || !r) return conn_error(op, ci, false);
        if (r->type == REDIS_REPLY_ERROR && rc == TESS_OK) {
            bool auth = cfg->pass && i == 0;
            char nb[300];
            rc = tess__err_set(op->err, TESS_ECONFIG, "online store %s: %s:%s %s: %.*s",
                               op->kv->where, op->what, node_label(op, op->cs[ci].node, nb,
                                                                   sizeof(nb)),
                               auth ? "authentication failed" : "cannot select the database",
                               (int)r->len, r->str);
            op->cs[ci].broken = true;
        }
        freeReplyObject(r);
    }
    return rc;
}

static int conn_open(rop *op, int ci)
{
    redis_kv *kv = op->kv;
    pthread_mutex_lock(&kv->lock);
    const tess__rnode *nd = kv->node[op->cs[ci].node];
    pthread_mutex_unlock(&kv->lock);
    redisContext *c = redisConnectWithTimeout(nd->host, nd->port, ms_tv(kv->cfg.connect_ms));
    if (!c) return tess__rop_oom(op);
    if (c->err) {
        bool timeout = strstr(c->errstr, "timed out") || strstr(c->errstr, "temporarily");
        int rc = tess__err_set(op->err, TESS_EIO, "online store %s: %s: cannot connect to "
                               "%s: %s%s", kv->where, op->what, nd->addr, c->errstr,
                               timeout ? " (connect timeout)" : "");
        redisFree(c);
        if (kv->cfg.cluster) {
            pthread_mutex_lock(&kv->lock);
            kv->stale = true; /* a failover may have moved its slots */
            pthread_mutex_unlock(&kv->lock);
        }
        return rc;
    }
    redisSetTimeout(c, ms_tv(kv->cfg.timeout_ms));
    redisEnableKeepAlive(c);
    op->cs[ci].c = c;
    return conn_setup(op, ci);
}

int tess__rop_begin(rop *op, redis_kv *kv, const char *what, tess__err *err)
{
    *op = (rop){.kv = kv, .what = what, .err = err, .tmo = kv->cfg.timeout_ms};
    op->cs = op->small;
    op->cap = (int)(sizeof(op->small) / sizeof(op->small[0]));
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    if (pthread_sigmask(SIG_BLOCK, &pipe, &op->old_mask) == 0)
        op->masked = !sigismember(&op->old_mask, SIGPIPE);
    pthread_mutex_lock(&kv->lock);
    if (kv->pid != getpid()) { /* a child after fork: the sockets are the parent's */
        for (int i = 0; i < kv->nnode; i++) node_close_idle(kv, kv->node[i]);
        kv->pid = getpid();
    }
    bool stale = kv->cfg.cluster && kv->stale;
    pthread_mutex_unlock(&kv->lock);
    if (stale) return tess__rkv_refresh(op);
    return TESS_OK;
}

int tess__rop_conn(rop *op, int node, bool lane, int *ci)
{
    redis_kv *kv = op->kv;
    if (!lane)
        for (int i = 0; i < op->ncs; i++)
            if (op->cs[i].node == node && !op->cs[i].lane && !op->cs[i].broken) {
                *ci = i;
                return TESS_OK;
            }
    if (op->ncs == op->cap) {
        int cap = op->cap * 2;
        tess__rconn *p = tess__malloc((size_t)cap * sizeof(*p));
        if (!p) return tess__rop_oom(op);
        memcpy(p, op->cs, (size_t)op->ncs * sizeof(*p));
        if (op->cs != op->small) tess__free(op->cs);
        op->cs = p;
        op->cap = cap;
    }
    int i = op->ncs++;
    op->cs[i] = (tess__rconn){.node = node, .lane = lane};
    *ci = i;
    pthread_mutex_lock(&kv->lock);
    tess__rnode *nd = kv->node[node];
    op->cs[i].gen = nd->gen;
    while (nd->nidle > 0) {
        redisContext *c = nd->idle[--nd->nidle];
        if (nd->idle_gen[nd->nidle] == nd->gen && idle_ok(c)) {
            op->cs[i].c = c;
            break;
        }
        redisFree(c);
    }
    pthread_mutex_unlock(&kv->lock);
    if (op->cs[i].c) return TESS_OK;
    int rc = conn_open(op, i);
    if (rc != TESS_OK) op->cs[i].broken = true;
    return rc;
}

void tess__rop_end(rop *op)
{
    redis_kv *kv = op->kv;
    bool io_error = false;
    for (int i = 0; i < op->ncs; i++) {
        tess__rconn *rc = &op->cs[i];
        redisContext *c = rc->c;
        if (!c) continue;
        bool failed = c->err != 0;
        io_error |= failed;
        pthread_mutex_lock(&kv->lock);
        tess__rnode *nd = kv->node[rc->node];
        if (rc->broken || failed || kv->pid != getpid()) {
            if (failed && rc->gen == nd->gen) {
                nd->gen++; /* the server may be gone: do not trust the other idle ones */
                node_close_idle(kv, nd);
                if (kv->cfg.cluster) kv->stale = true;
            }
            close_ctx(kv, c);
        } else if (nd->nidle < MAX_IDLE && rc->gen == nd->gen) {
            nd->idle_gen[nd->nidle] = nd->gen;
            nd->idle[nd->nidle++] = c;
        } else {
            redisFree(c);
        }
        pthread_mutex_unlock(&kv->lock);
        rc->c = NULL;
    }
    op->ncs = 0;
    if (op->cs != op->small) tess__free(op->cs);
    op->cs = op->small;
    if (op->masked) {
        sigset_t pipe, pending;
        sigemptyset(&pipe);
        sigaddset(&pipe, SIGPIPE);
        if (io_error && sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE)) {
            struct timespec zero = {0, 0};
            sigtimedwait(&pipe, NULL, &zero);
        }
        pthread_sigmask(SIG_SETMASK, &op->old_mask, NULL);
        op->masked = false;
    }
}

/* The connection failed (no reply): TESS_EIO naming the server and the reason. `wrote`: a
 * write had been sent, whose outcome is now unknown. */
static int conn_error(rop *op, int ci, bool wrote)
{
    redisContext *c = op->cs[ci].c;
    op->cs[ci].broken = true;
    if (c->err == REDIS_ERR_OOM) return tess__rop_oom(op);
    const char *why = c->errstr[0] ? c->errstr : "connection error";
    char buf[96] = "", nb[300];
    if (c->err == REDIS_ERR_IO && strstr(why, "temporarily unavailable")) {
        snprintf(buf, sizeof(buf), "no answer within %d ms (timed out)", op->tmo);
        why = buf;
    }
    if (op->kv->cfg.cluster) {
        pthread_mutex_lock(&op->kv->lock);
        op->kv->stale = true;
        pthread_mutex_unlock(&op->kv->lock);
    }
    return tess__err_set(op->err, TESS_EIO, "online store %s: %s:%s %s%s", op->kv->where,
                         op->what, node_label(op, op->cs[ci].node, nb, sizeof(nb)), why,
                         wrote ? "; the write may or may not have been applied" : "");
}

int tess__rop_reply_error(rop *op, int ci, const redisReply *r)
{
    char nb[300];
    const char *nl = ci >= 0 ? node_label(op, op->cs[ci].node, nb, sizeof(nb)) : "";
    if (r->type == REDIS_REPLY_ERROR) {
        bool full = r->len >= 3 && memcmp(r->str, "OOM", 3) == 0;
        return tess__err_set(op->err, TESS_EIO, "online store %s: %s:%s %s%.*s", op->kv->where,
                             op->what, nl,
                             full ? "Redis is full (maxmemory): " : "Redis answered: ",
                             (int)r->len, r->str);
    }
    if (ci >= 0) op->cs[ci].broken = true; /* out of step with the protocol we expect */
    return tess__err_set(op->err, TESS_EIO, "online store %s: %s:%s unexpected reply of type %d",
                         op->kv->where, op->what, nl, r->type);
}

int tess__rop_command(rop *op, int ci, int argc, const char **argv, const size_t *lens,
                      redisReply **out)
{
    *out = redisCommandArgv(op->cs[ci].c, argc, argv, lens);
    if (!*out) return conn_error(op, ci, false);
    return TESS_OK;
}

int tess__rop_reply(rop *op, int ci, bool wrote, redisReply **out)
{
    *out = NULL;
    if (redisGetReply(op->cs[ci].c, (void **)out) != REDIS_OK || !*out) {
        *out = NULL;
        return conn_error(op, ci, wrote);
    }
    return TESS_OK;
}

int tess__rop_flush(rop *op)
{
    for (int i = 0; i < op->ncs; i++) {
        if (!op->cs[i].sent || !op->cs[i].c) continue;
        op->cs[i].sent = false;
        int done = 0;
        while (!done)
            if (redisBufferWrite(op->cs[i].c, &done) != REDIS_OK) return conn_error(op, i, true);
    }
    return TESS_OK;
}

int tess__rop_oom(rop *op)
{
    return tess__err_set(op->err, TESS_ENOMEM, "online store %s: %s: out of memory",
                         op->kv->where, op->what);
}

void tess__rop_append(rop *op, int ci, int argc, const char **argv, const size_t *lens)
{
    redisAppendCommandArgv(op->cs[ci].c, argc, argv, lens);
    op->cs[ci].sent = true;
}

/* ---- argv arrays -------------------------------------------------------------------------- */

/* A command's arguments: small ones on the stack, big batches on the heap. */
typedef struct args {
    const char **v;
    size_t *n;
    int c;
    const char *sv[34];
    size_t sn[34];
} args;

static int args_init(args *a, size_t cap)
{
    a->c = 0;
    if (cap > INT_MAX / 2) return TESS_ENOMEM;
    if (cap <= 34) {
        a->v = a->sv;
        a->n = a->sn;
        return TESS_OK;
    }
    a->v = tess__malloc(cap * (sizeof(char *) + sizeof(size_t)));
    if (!a->v) return TESS_ENOMEM;
    a->n = (size_t *)(a->v + cap);
    return TESS_OK;
}

static void args_release(args *a)
{
    if (a->v != a->sv) tess__free(a->v);
    a->v = NULL;
}

static void args_add(args *a, const char *p, size_t n)
{
    a->v[a->c] = p;
    a->n[a->c++] = n;
}

/* ---- routing: keys in groups of one hash slot --------------------------------------------- */

/* One group: the keys of one hash slot (on a single server: every key). */
typedef struct rgroup {
    int slot;       /* -1 on a single server */
    int node;       /* where it is sent this round */
    int ask;        /* a node named by ASK for the next round, -1 none */
    size_t first, n; /* its keys: order[first .. first + n) */
    int ci;         /* its connection this round */
    int state;      /* G_* */
    int redirects;
} rgroup;

/* G_SLOW: caught in a slot's migration (ASK, TRYAGAIN): its keys go one by one */
enum { G_PENDING, G_DONE, G_REDIRECT, G_CONFLICT, G_SLOW };

typedef struct rplan {
    tess__str *sk;   /* per key: its stored form */
    int *gi;         /* per key: its group */
    size_t *order;   /* key indices grouped by group, batch order within a group */
    rgroup *g;
    size_t ng;
    tess__buf bytes; /* the stored forms' bytes (cluster) */
} rplan;

static void plan_release(rplan *p)
{
    tess__free(p->sk);
    tess__free(p->gi);
    tess__free(p->order);
    tess__free(p->g);
    tess__buf_release(&p->bytes);
    *p = (rplan){0};
}

typedef struct slot_ix {
    int slot;
    size_t i;
} slot_ix;

static int slot_ix_cmp(const void *a, const void *b)
{
    const slot_ix *x = a, *y = b;
    if (x->slot != y->slot) return x->slot < y->slot ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

/* Groups keys[0..n) by hash slot. */
static int plan_make(rop *op, const tess__str *keys, size_t n, rplan *p)
{
    *p = (rplan){0};
    p->sk = tess__malloc(n * sizeof(*p->sk));
    p->gi = tess__malloc(n * sizeof(int));
    p->order = tess__malloc(n * sizeof(size_t));
    p->g = tess__malloc(n * sizeof(rgroup));
    if (!p->sk || !p->gi || !p->order || !p->g) goto oom;
    if (!op->kv->cfg.cluster) {
        for (size_t i = 0; i < n; i++) {
            p->sk[i] = keys[i];
            p->gi[i] = 0;
            p->order[i] = i;
        }
        p->g[0] = (rgroup){.slot = -1, .node = 0, .ask = -1, .first = 0, .n = n};
        p->ng = 1;
        return TESS_OK;
    }
    size_t *off = tess__malloc((n + 1) * sizeof(size_t));
    slot_ix *sx = tess__malloc(n * sizeof(slot_ix));
    if (!off || !sx) {
        tess__free(off);
        tess__free(sx);
        goto oom;
    }
    int rc = TESS_OK;
    for (size_t i = 0; i < n && rc == TESS_OK; i++) {
        off[i] = p->bytes.len;
        rc = tess__rkv_stored_key(&p->bytes, keys[i]);
    }
    off[n] = p->bytes.len;
    for (size_t i = 0; i < n && rc == TESS_OK; i++) {
        p->sk[i] = (tess__str){p->bytes.p + off[i], off[i + 1] - off[i]};
        sx[i] = (slot_ix){tess__rkv_keyslot(p->sk[i].p, p->sk[i].n), i};
    }
    if (rc == TESS_OK) {
        qsort(sx, n, sizeof(slot_ix), slot_ix_cmp);
        for (size_t j = 0; j < n; j++) {
            if (j == 0 || sx[j].slot != sx[j - 1].slot)
                p->g[p->ng++] = (rgroup){.slot = sx[j].slot, .ask = -1, .first = j};
            p->g[p->ng - 1].n++;
            p->order[j] = sx[j].i;
            p->gi[sx[j].i] = (int)p->ng - 1;
        }
    }
    tess__free(off);
    tess__free(sx);
    if (rc == TESS_OK) return TESS_OK;
oom:
    plan_release(p);
    return tess__rop_oom(op);
}

/* The node group g goes to this round (its ASK node, else its slot's); TESS_EIO if no node
 * is known to serve its slot. */
static int group_node(rop *op, rgroup *g)
{
    if (g->slot < 0) {
        g->node = 0;
        return TESS_OK;
    }
    g->node = g->ask >= 0 ? g->ask : tess__rkv_slot_node(op->kv, g->slot);
    if (g->node >= 0) return TESS_OK;
    return tess__err_set(op->err, TESS_EIO, "online store %s: %s: no node serves hash slot %d "
                         "(the cluster is down or being reconfigured)", op->kv->where, op->what,
                         g->slot);
}

static void maybe_asking(rop *op, rgroup *g);
static int read_asking(rop *op, rgroup *g);

/* Whether reply r of group g is a redirection; if so the group is marked for another round
 * (MOVED: to the slot's new node; ASK: to the node named, after ASKING; TRYAGAIN: later). */
static bool redirected(rop *op, rgroup *g, const redisReply *r)
{
    if (g->slot < 0 || r->type != REDIS_REPLY_ERROR) return false;
    int node = -1;
    int kind = tess__rkv_redirect(op, r, g->node, &node);
    if (!kind) return false;
    g->state = kind == 1 || g->n == 1 ? G_REDIRECT : G_SLOW;
    g->ask = kind == 2 ? node : -1;
    return true;
}

int tess__rop_slot_command(rop *op, int slot, int argc, const char **argv, const size_t *lens,
                           redisReply **out)
{
    *out = NULL;
    rgroup g = {.slot = slot, .ask = -1, .n = 1};
    for (int attempt = 1;; attempt++) {
        int rc = group_node(op, &g);
        if (rc == TESS_OK) rc = tess__rop_conn(op, g.node, false, &g.ci);
        if (rc != TESS_OK) return rc;
        maybe_asking(op, &g);
        tess__rop_append(op, g.ci, argc, argv, lens);
        redisReply *r = NULL;
        if ((rc = tess__rop_flush(op)) || (rc = read_asking(op, &g)) ||
            (rc = tess__rop_reply(op, g.ci, false, &r)))
            return rc;
        g.ask = -1;
        if (!redirected(op, &g, r)) {
            *out = r;
            return TESS_OK;
        }
        freeReplyObject(r);
        if (attempt >= REDIRECTS)
            return tess__err_set(op->err, TESS_EIO, "online store %s: %s: hash slot %d: still "
                                 "redirected after %d attempts (the cluster is being "
                                 "reconfigured)", op->kv->where, op->what, slot, REDIRECTS);
        if (g.ask < 0) tess__rkv_backoff(attempt); /* TRYAGAIN */
    }
}

/* After a round: gives up on groups redirected too often; waits before TRYAGAINs. */
static int next_round(rop *op, rplan *p, int round)
{
    for (size_t k = 0; k < p->ng; k++) {
        rgroup *g = &p->g[k];
        if (g->state != G_REDIRECT) continue;
        if (++g->redirects > REDIRECTS)
            return tess__err_set(op->err, TESS_EIO, "online store %s: %s: hash slot %d: still "
                                 "redirected after %d attempts (the cluster is being "
                                 "reconfigured)", op->kv->where, op->what, g->slot, REDIRECTS);
    }
    tess__rkv_backoff(round);
    return TESS_OK;
}

/* ---- open / close ------------------------------------------------------------------------ */

static void redis_close(tess__kv *base)
{
    redis_kv *kv = (redis_kv *)base;
    for (int i = 0; i < kv->nnode; i++) {
        node_close_idle(kv, kv->node[i]);
        tess__free(kv->node[i]->host);
        tess__free(kv->node[i]->addr);
        tess__free(kv->node[i]);
    }
    tess__free(kv->node);
    tess__free(kv->slot);
    pthread_mutex_destroy(&kv->lock);
    cfg_release(&kv->cfg);
    tess__free(kv->where);
    tess__free(kv);
}

static int open_any(const char *url, bool cluster, tess__kv **out, tess__err *err)
{
    const char *name = cluster ? "redis-cluster" : "redis";
    *out = NULL;
    redis_kv *kv = tess__calloc(1, sizeof(*kv));
    if (!kv) return tess__err_set(err, TESS_ENOMEM, "online store \"%s\": out of memory", name);
    int rc = parse_url(url, cluster, &kv->cfg, err);
    if (rc != TESS_OK) {
        tess__free(kv);
        return rc;
    }
    pthread_mutex_init(&kv->lock, NULL);
    kv->pid = getpid();
    tess__buf w = TESS__BUF_INIT;
    rc = tess__buf_puts(&w, cluster ? "redis-cluster://" : "redis://");
    for (int i = 0; i < kv->cfg.nhosts && !rc; i++) {
        const char *h = kv->cfg.hosts[i];
        int ni = tess__rkv_node(kv, h, strlen(h), kv->cfg.ports[i]);
        if (ni < 0) rc = TESS_ENOMEM;
        else rc = tess__buf_printf(&w, "%s%s", i ? "," : "", kv->node[ni]->addr);
    }
    if (!rc && !cluster) rc = tess__buf_printf(&w, "/%d", kv->cfg.db);
    if (!rc && cluster && !(kv->slot = tess__calloc(TESS__RKV_SLOTS, sizeof(uint16_t))))
        rc = TESS_ENOMEM;
    kv->where = tess__buf_take(&w);
    if (rc || !kv->where) {
        redis_close(&kv->base);
        return tess__err_set(err, TESS_ENOMEM, "online store \"%s\": out of memory", name);
    }
    /* connect now: an unreachable server, a wrong password or database is said at open (a
       cluster: its slot map is read) */
    rop op;
    rc = tess__rop_begin(&op, kv, "open", err);
    if (rc == TESS_OK && cluster) {
        rc = tess__rkv_refresh(&op);
    } else if (rc == TESS_OK) {
        int ci;
        redisReply *r = NULL;
        rc = tess__rop_conn(&op, 0, false, &ci);
        if (rc == TESS_OK) rc = tess__rop_command(&op, ci, 1, (const char *[]){"PING"},
                                                  (size_t[]){4}, &r);
        if (rc == TESS_OK && r->type != REDIS_REPLY_STATUS) rc = tess__rop_reply_error(&op, ci, r);
        if (r) freeReplyObject(r);
    }
    tess__rop_end(&op);
    if (rc != TESS_OK) {
        redis_close(&kv->base);
        return rc;
    }
    *out = &kv->base;
    return TESS_OK;
}

static int redis_open(const char *url, const char *dir, const tess__kv_opts *o, tess__kv **out,
                      tess__err *err)
{
    (void)dir; /* the data lives in Redis */
    (void)o;   /* sync: the server's persistence decides (docs/online_backends.md) */
    return open_any(url, false, out, err);
}

static int cluster_open(const char *url, const char *dir, const tess__kv_opts *o,
                        tess__kv **out, tess__err *err)
{
    (void)dir;
    (void)o;
    return open_any(url, true, out, err);
}

/* ---- get ---------------------------------------------------------------------------------- */

/* Copies an MGET/GET reply element into *val (arena bytes, NUL-terminated). */
static int take_value(rop *op, int ci, const redisReply *e, tess__arena *arena, tess__str *val)
{
    if (e->type == REDIS_REPLY_NIL) {
        *val = (tess__str){NULL, 0};
        return TESS_OK;
    }
    if (e->type != REDIS_REPLY_STRING) return tess__rop_reply_error(op, ci, e);
    char *p = tess__arena_strndup(arena, e->str, e->len);
    if (!p) return tess__rop_oom(op);
    *val = (tess__str){p, e->len};
    return TESS_OK;
}

/* Appends "ASKING" when the group was sent there by ASK. */
static void maybe_asking(rop *op, rgroup *g)
{
    if (g->ask >= 0) tess__rop_append(op, g->ci, 1, (const char *[]){"ASKING"}, (size_t[]){6});
}

/* Reads the answer to ASKING, if one was sent. */
static int read_asking(rop *op, rgroup *g)
{
    if (g->ask < 0) return TESS_OK;
    redisReply *r;
    int rc = tess__rop_reply(op, g->ci, false, &r);
    if (rc == TESS_OK && r->type != REDIS_REPLY_STATUS) rc = tess__rop_reply_error(op, g->ci, r);
    if (r) freeReplyObject(r);
    return rc;
}

int tess__rop_get(rop *op, const tess__str *keys, size_t n, tess__str *vals, tess__arena *arena)
{
    rplan p;
    args a = {0};
    int rc = plan_make(op, keys, n, &p);
    if (rc != TESS_OK) return rc;
    if (args_init(&a, n + 1)) {
        plan_release(&p);
        return tess__rop_oom(op);
    }
    for (int round = 1; rc == TESS_OK; round++) {
        bool again = false;
        for (size_t k = 0; k < p.ng && rc == TESS_OK; k++) {
            rgroup *g = &p.g[k];
            if (g->state == G_DONE) continue;
            if ((rc = group_node(op, g)) || (rc = tess__rop_conn(op, g->node, false, &g->ci)))
                break;
            maybe_asking(op, g);
            a.c = 0;
            args_add(&a, "MGET", 4);
            for (size_t j = 0; j < g->n; j++) {
                tess__str k2 = p.sk[p.order[g->first + j]];
                args_add(&a, k2.p, k2.n);
            }
            tess__rop_append(op, g->ci, a.c, a.v, a.n);
        }
        if (rc == TESS_OK) rc = tess__rop_flush(op);
        for (size_t k = 0; k < p.ng && rc == TESS_OK; k++) {
            rgroup *g = &p.g[k];
            if (g->state == G_DONE) continue;
            redisReply *r;
            if ((rc = read_asking(op, g)) || (rc = tess__rop_reply(op, g->ci, false, &r))) break;
            g->ask = -1;
            if (redirected(op, g, r)) {
                again |= g->state == G_REDIRECT;
            } else if (r->type != REDIS_REPLY_ARRAY || r->elements != g->n) {
                rc = tess__rop_reply_error(op, g->ci, r);
            } else {
                g->state = G_DONE;
                for (size_t j = 0; j < g->n && rc == TESS_OK; j++)
                    rc = take_value(op, g->ci, r->element[j], arena, &vals[p.order[g->first + j]]);
            }
            freeReplyObject(r);
        }
        /* groups caught in a migration: key by key (no snapshot of the group then) */
        for (size_t k = 0; k < p.ng && rc == TESS_OK; k++) {
            rgroup *g = &p.g[k];
            if (g->state != G_SLOW) continue;
            for (size_t j = 0; j < g->n && rc == TESS_OK; j++) {
                size_t i = p.order[g->first + j];
                redisReply *r = NULL;
                rc = tess__rop_slot_command(op, g->slot, 2, (const char *[]){"GET", p.sk[i].p},
                                            (size_t[]){3, p.sk[i].n}, &r);
                if (rc == TESS_OK) rc = take_value(op, -1, r, arena, &vals[i]);
                if (r) freeReplyObject(r);
            }
            g->state = G_DONE;
        }
        if (rc != TESS_OK || !again) break;
        rc = next_round(op, &p, round);
    }
    /* a round stopped half-way (a node failed) leaves the other nodes' MGET replies unread:
       those connections must not go back to the pool, or the next operation on one would
       read this one's reply as its own */
    if (rc != TESS_OK) tess__rop_abandon(op);
    args_release(&a);
    plan_release(&p);
    return rc;
}

static int redis_get(tess__kv *base, const tess__str *keys, size_t n, tess__str *vals,
                     tess__arena *arena, tess__err *err)
{
    rop op;
    int rc = tess__rop_begin(&op, (redis_kv *)base, "get", err);
    if (rc == TESS_OK) rc = tess__rop_get(&op, keys, n, vals, arena);
    tess__rop_end(&op);
    return rc;
}

/* Marks every connection of the operation as not reusable (a round stopped half-way: replies
 * may be left unread, WATCHes left in place). */
void tess__rop_abandon(rop *op)
{
    for (int i = 0; i < op->ncs; i++) op->cs[i].broken = true;
}

/* ---- update ------------------------------------------------------------------------------- */

/* A key the update has read or written, and its value as the update sees it. */
typedef struct tent {
    const char *k;  /* the key */
    size_t kn;
    const char *sk; /* its stored form */
    size_t skn;
    uint64_t h;
    const char *v;  /* NULL: absent */
    size_t vn;
    char *own;      /* v's bytes when the update wrote them (ours to free) */
    int group;
    bool dirty;     /* written: goes into the group's MULTI/EXEC */
    uint64_t pexpire; /* an expiry asked for since its last write (ms; 0: none) */
} tent;

enum { G_READ = G_CONFLICT + 1 };

typedef struct rtxn {
    tess__kv_txn base;
    rop *op;
    rplan *p;
    int cur;          /* the group of the batch key fn is called for */
    bool retry;       /* a read through tx was redirected: do the group again */
    tent *e;          /* entries */
    size_t ne, ecap;
    uint32_t *slot;   /* open addressing: entry index + 1, 0 = empty */
    size_t nslot;     /* power of two */
    redisReply **rep; /* replies the entries' values point into */
    size_t nrep, repcap;
    tess__arena kmem; /* copies of keys read or written through tx */
    tess__kvq q;      /* writes queued by the running call of fn */
    tess__kvq xq;     /* expiries asked for by it (the value: 8 bytes of ms) */
    tess__buf skb;    /* scratch: a stored key */
    const tess__str *batch; /* the batch's keys */
} rtxn;

static void txn_reset(rtxn *x)
{
    for (size_t i = 0; i < x->ne; i++) tess__free(x->e[i].own);
    x->ne = 0;
    if (x->slot) memset(x->slot, 0, x->nslot * sizeof(uint32_t));
    for (size_t i = 0; i < x->nrep; i++) freeReplyObject(x->rep[i]);
    x->nrep = 0;
    tess__arena_reset(&x->kmem);
    tess__kvq_reset(&x->q);
    tess__kvq_reset(&x->xq);
}

static void txn_release(rtxn *x)
{
    txn_reset(x);
    tess__free(x->e);
    tess__free(x->slot);
    tess__free(x->rep);
    tess__arena_release(&x->kmem);
    tess__kvq_release(&x->q);
    tess__kvq_release(&x->xq);
    tess__buf_release(&x->skb);
}

static int keep_reply(rtxn *x, redisReply *r)
{
    if (x->nrep == x->repcap) {
        size_t cap = x->repcap ? x->repcap * 2 : 8;
        redisReply **p = tess__realloc(x->rep, cap * sizeof(*p));
        if (!p) {
            freeReplyObject(r);
            return tess__rop_oom(x->op);
        }
        x->rep = p;
        x->repcap = cap;
    }
    x->rep[x->nrep++] = r;
    return TESS_OK;
}

/* Index of the entry of key k, or SIZE_MAX. */
static size_t txn_find(const rtxn *x, const char *k, size_t kn, uint64_t h)
{
    if (!x->nslot) return SIZE_MAX;
    for (size_t s = h & (x->nslot - 1);; s = (s + 1) & (x->nslot - 1)) {
        uint32_t i = x->slot[s];
        if (!i) return SIZE_MAX;
        const tent *e = &x->e[i - 1];
        if (e->h == h && e->kn == kn && memcmp(e->k, k, kn) == 0) return i - 1;
    }
}

/* Adds an entry (the key must be absent). A key read or written through tx (sk NULL) is
 * copied, with its stored form, and must be of the current group's slot. */
static int txn_add(rtxn *x, tess__str k, tess__str sk, uint64_t h, int group, size_t *out)
{
    rop *op = x->op;
    if (!sk.p) { /* through tx */
        if (!op->kv->cfg.cluster) {
            char *p = tess__arena_strndup(&x->kmem, k.p, k.n);
            if (!p) return tess__rop_oom(op);
            k.p = sk.p = p;
            sk.n = k.n;
        } else {
            tess__buf_reset(&x->skb);
            if (tess__rkv_stored_key(&x->skb, k)) return tess__rop_oom(op);
            int want = x->p->g[group].slot, slot = tess__rkv_keyslot(x->skb.p, x->skb.len);
            if (slot != want)
                return tess__err_set(op->err, TESS_EINVAL,
                                     "online store %s: update: a key read or written through "
                                     "the transaction is in hash slot %d, the batch key it was "
                                     "reached from in slot %d: they must share a hash tag "
                                     "(docs/online_backends.md)", op->kv->where, slot, want);
            char *p = tess__arena_strndup(&x->kmem, k.p, k.n);
            char *q = tess__arena_strndup(&x->kmem, x->skb.p, x->skb.len);
            if (!p || !q) return tess__rop_oom(op);
            k.p = p;
            sk = (tess__str){q, x->skb.len};
        }
    }
    if ((x->ne + 1) * 2 > x->nslot) {
        size_t ns = x->nslot ? x->nslot * 2 : 64;
        uint32_t *sl = tess__calloc(ns, sizeof(uint32_t));
        if (!sl) return tess__rop_oom(op);
        for (size_t i = 0; i < x->ne; i++) {
            size_t s = x->e[i].h & (ns - 1);
            while (sl[s]) s = (s + 1) & (ns - 1);
            sl[s] = (uint32_t)(i + 1);
        }
        tess__free(x->slot);
        x->slot = sl;
        x->nslot = ns;
    }
    if (x->ne == x->ecap) {
        size_t cap = x->ecap ? x->ecap * 2 : 32;
        tent *e = tess__realloc(x->e, cap * sizeof(tent));
        if (!e) return tess__rop_oom(op);
        x->e = e;
        x->ecap = cap;
    }
    size_t s = h & (x->nslot - 1);
    while (x->slot[s]) s = (s + 1) & (x->nslot - 1);
    x->slot[s] = (uint32_t)(x->ne + 1);
    x->e[x->ne] = (tent){k.p, k.n, sk.p, sk.n, h, NULL, 0, NULL, group, false, 0};
    *out = x->ne++;
    return TESS_OK;
}

/* Writes val (v NULL: delete) into entry i; the bytes are copied first, so they may point
 * into the entry's current value. */
static int txn_set(rtxn *x, size_t i, const char *v, size_t vn)
{
    char *own = NULL;
    if (v) {
        own = tess__malloc(vn ? vn : 1);
        if (!own) return tess__rop_oom(x->op);
        if (vn) memcpy(own, v, vn);
    }
    tent *e = &x->e[i];
    tess__free(e->own);
    e->own = own;
    e->v = own;
    e->vn = v ? vn : 0;
    e->dirty = true;
    e->pexpire = 0; /* a write without an expiry clears it (kv.h) */
    return TESS_OK;
}

static int rtxn_get(tess__kv_txn *tx, tess__str key, tess__arena *arena, tess__str *val,
                    tess__err *err)
{
    rtxn *x = (rtxn *)tx;
    (void)err; /* the operation's err, the same one */
    /* 1. this call's queued writes: the newest wins */
    tess__str qv;
    const char *src = NULL;
    size_t n = 0;
    if (tess__kvq_find(&x->q, key, &qv)) {
        if (!qv.p) return TESS_OK; /* deleted */
        src = qv.p;
        n = qv.n;
    } else {
        /* 2. a key the update has read or written */
        uint64_t h = tess__hash64(key.p, key.n);
        size_t i = txn_find(x, key.p, key.n, h);
        if (i == SIZE_MAX) {
            /* 3. Redis: WATCH it, then read it (one round trip) on the group's lane */
            rop *op = x->op;
            int rc = txn_add(x, key, (tess__str){NULL, 0}, h, x->cur, &i);
            if (rc != TESS_OK) return rc;
            int ci = x->p->g[x->cur].ci;
            const tent *e = &x->e[i];
            tess__rop_append(op, ci, 2, (const char *[]){"WATCH", e->sk}, (size_t[]){5, e->skn});
            tess__rop_append(op, ci, 2, (const char *[]){"GET", e->sk}, (size_t[]){3, e->skn});
            redisReply *w = NULL, *g = NULL;
            rc = tess__rop_reply(op, ci, false, &w);
            if (rc == TESS_OK) rc = tess__rop_reply(op, ci, false, &g);
            if (rc == TESS_OK && (redirected(op, &x->p->g[x->cur], w) ||
                                  redirected(op, &x->p->g[x->cur], g))) {
                x->retry = true; /* the slot moved under us: the group is done again */
                rc = tess__err_set(op->err, TESS_EIO, "online store %s: update: redirected",
                                   op->kv->where);
            }
            if (rc == TESS_OK && w->type != REDIS_REPLY_STATUS)
                rc = tess__rop_reply_error(op, ci, w);
            if (rc == TESS_OK && g->type != REDIS_REPLY_STRING && g->type != REDIS_REPLY_NIL)
                rc = tess__rop_reply_error(op, ci, g);
            if (w) freeReplyObject(w);
            if (rc != TESS_OK) {
                if (g) freeReplyObject(g);
                return rc;
            }
            if ((rc = keep_reply(x, g)) != TESS_OK) return rc; /* g freed */
            if (g->type == REDIS_REPLY_STRING) {
                x->e[i].v = g->str;
                x->e[i].vn = g->len;
            }
        }
        if (!x->e[i].v) return TESS_OK;
        src = x->e[i].v;
        n = x->e[i].vn;
    }
    char *p = tess__arena_strndup(arena, n ? src : "", n);
    if (!p) return tess__rop_oom(x->op);
    *val = (tess__str){p, n};
    return TESS_OK;
}

static int rtxn_put(tess__kv_txn *tx, tess__str key, tess__str val, tess__err *err)
{
    rtxn *x = (rtxn *)tx;
    (void)err;
    if (tess__kvq_put(&x->q, key, val)) return tess__rop_oom(x->op);
    return TESS_OK;
}

static int rtxn_expire(tess__kv_txn *tx, tess__str key, uint64_t ms, tess__err *err)
{
    rtxn *x = (rtxn *)tx;
    (void)err;
    if (tess__kvq_put(&x->xq, key, (tess__str){(const char *)&ms, sizeof(ms)}))
        return tess__rop_oom(x->op);
    return TESS_OK;
}

/* Applies and clears the expiries asked for by one call of fn (after its writes). A key the
 * update has not touched gets an entry of its own, unwatched: PEXPIRE of a key that is gone
 * by then does nothing. */
static int txn_expire_flush(rtxn *x)
{
    tess__str k, v;
    for (size_t at = 0; tess__kvq_next(&x->xq, &at, &k, &v);) {
        uint64_t h = tess__hash64(k.p, k.n), ms;
        size_t i = txn_find(x, k.p, k.n, h);
        int rc = TESS_OK;
        if (i == SIZE_MAX) rc = txn_add(x, k, (tess__str){NULL, 0}, h, x->cur, &i);
        if (rc != TESS_OK) return rc;
        memcpy(&ms, v.p, sizeof(ms));
        x->e[i].pexpire = ms;
    }
    tess__kvq_reset(&x->xq);
    return TESS_OK;
}

/* Applies and clears the writes queued by one call of fn. */
static int txn_flush(rtxn *x)
{
    tess__str k, v;
    for (size_t at = 0; tess__kvq_next(&x->q, &at, &k, &v);) {
        uint64_t h = tess__hash64(k.p, k.n);
        size_t i = txn_find(x, k.p, k.n, h);
        int rc = TESS_OK;
        if (i == SIZE_MAX) /* a blind write: no WATCH */
            rc = txn_add(x, k, (tess__str){NULL, 0}, h, x->cur, &i);
        if (rc == TESS_OK) rc = txn_set(x, i, v.p, v.n);
        if (rc != TESS_OK) return rc;
    }
    tess__kvq_reset(&x->q);
    return TESS_OK;
}

/* Read phase: WATCH + MGET of every pending group's keys on its own lane, in rounds until
 * every one is read (redirected groups go again). */
static int update_read(rtxn *x, args *a)
{
    rop *op = x->op;
    rplan *p = x->p;
    int rc = TESS_OK;
    for (int round = 1; rc == TESS_OK; round++) {
        bool again = false;
        for (size_t k = 0; k < p->ng && rc == TESS_OK; k++) {
            rgroup *g = &p->g[k];
            if (g->state != G_PENDING && g->state != G_REDIRECT) continue;
            g->ask = -1; /* an update does not follow ASK: it waits for the migration */
            int old = g->ci;
            if ((rc = group_node(op, g))) break;
            if (old < 0 || op->cs[old].node != g->node || op->cs[old].broken) {
                if (old >= 0) op->cs[old].broken = true; /* it may hold a WATCH */
                rc = tess__rop_conn(op, g->node, true, &g->ci);
            }
            if (rc) break;
            a->c = 0;
            args_add(a, "WATCH", 5);
            for (size_t j = 0; j < g->n; j++) {
                tess__str s = p->sk[p->order[g->first + j]];
                args_add(a, s.p, s.n);
            }
            tess__rop_append(op, g->ci, a->c, a->v, a->n);
            a->v[0] = "MGET";
            a->n[0] = 4;
            tess__rop_append(op, g->ci, a->c, a->v, a->n);
        }
        if (rc == TESS_OK) rc = tess__rop_flush(op);
        for (size_t k = 0; k < p->ng && rc == TESS_OK; k++) {
            rgroup *g = &p->g[k];
            if (g->state != G_PENDING && g->state != G_REDIRECT) continue;
            redisReply *w = NULL, *r = NULL;
            rc = tess__rop_reply(op, g->ci, false, &w);
            if (rc == TESS_OK) rc = tess__rop_reply(op, g->ci, false, &r);
            if (rc == TESS_OK) {
                g->state = G_PENDING;
                bool rw = redirected(op, g, w), rr = redirected(op, g, r);
                if (rw || rr) {
                    again = true;
                    g->state = G_REDIRECT;
                } else if (w->type != REDIS_REPLY_STATUS) {
                    rc = tess__rop_reply_error(op, g->ci, w);
                } else if (r->type != REDIS_REPLY_ARRAY || r->elements != g->n) {
                    rc = tess__rop_reply_error(op, g->ci, r);
                }
            }
            if (w) freeReplyObject(w);
            if (rc != TESS_OK || g->state == G_REDIRECT) {
                if (r) freeReplyObject(r);
                continue;
            }
            if ((rc = keep_reply(x, r)) != TESS_OK) break;
            for (size_t j = 0; j < g->n && rc == TESS_OK; j++) {
                const redisReply *e = r->element[j];
                size_t i = p->order[g->first + j];
                if (e->type != REDIS_REPLY_STRING && e->type != REDIS_REPLY_NIL) {
                    rc = tess__rop_reply_error(op, g->ci, e);
                    break;
                }
                uint64_t h = tess__hash64(x->batch[i].p, x->batch[i].n);
                size_t at = txn_find(x, x->batch[i].p, x->batch[i].n, h);
                if (at != SIZE_MAX) continue; /* a repeated key */
                rc = txn_add(x, x->batch[i], p->sk[i], h, (int)k, &at);
                if (rc == TESS_OK && e->type == REDIS_REPLY_STRING) {
                    x->e[at].v = e->str;
                    x->e[at].vn = e->len;
                }
            }
            if (rc == TESS_OK) g->state = G_READ;
        }
        if (rc != TESS_OK || !again) break;
        rc = next_round(op, p, round);
    }
    return rc;
}

/* Calls fn for every key of the groups just read, in batch order. */
static int update_fn(rtxn *x, size_t n, tess__kv_update_fn fn, void *arg)
{
    rplan *p = x->p;
    for (size_t i = 0; i < n; i++) {
        int gk = p->gi[i];
        if (p->g[gk].state != G_READ) continue;
        x->cur = gk;
        uint64_t h = tess__hash64(x->batch[i].p, x->batch[i].n);
        size_t j = txn_find(x, x->batch[i].p, x->batch[i].n, h);
        tess__str old = {x->e[j].v, x->e[j].vn};
        if (old.p && !old.n) old.p = ""; /* an empty value is a value */
        tess__str nv = {NULL, 0};
        bool del = false;
        int rc = fn(arg, &x->base, i, old, &nv, &del);
        if (rc != 0) return rc;
        j = txn_find(x, x->batch[i].p, x->batch[i].n, h); /* fn may have added entries */
        if (del) rc = txn_set(x, j, NULL, 0);
        else if (nv.p) rc = txn_set(x, j, nv.p, nv.n);
        if (rc == TESS_OK && x->q.n) rc = txn_flush(x);
        if (rc == TESS_OK && x->xq.n) rc = txn_expire_flush(x);
        if (rc != TESS_OK) return rc;
    }
    return TESS_OK;
}

/* Commit phase: per group read, MULTI + its writes + EXEC on its lane (UNWATCH if it wrote
 * nothing). A group ends G_DONE, G_CONFLICT (a nil EXEC) or G_REDIRECT; *committed is set when
 * a group's writes were applied. */
static int update_commit(rtxn *x, bool *committed)
{
    rop *op = x->op;
    rplan *p = x->p;
    size_t *nw = tess__calloc(p->ng, sizeof(size_t));
    if (!nw) return tess__rop_oom(op);
    for (size_t i = 0; i < x->ne; i++)
        if (x->e[i].dirty || x->e[i].pexpire) nw[x->e[i].group]++;
    for (size_t k = 0; k < p->ng; k++) {
        rgroup *g = &p->g[k];
        if (g->state != G_READ) continue;
        if (!nw[k]) {
            tess__rop_append(op, g->ci, 1, (const char *[]){"UNWATCH"}, (size_t[]){7});
            continue;
        }
        tess__rop_append(op, g->ci, 1, (const char *[]){"MULTI"}, (size_t[]){5});
        for (size_t i = 0; i < x->ne; i++) {
            const tent *e = &x->e[i];
            if ((!e->dirty && !e->pexpire) || e->group != (int)k) continue;
            char ms[24];
            size_t msn = (size_t)snprintf(ms, sizeof ms, "%" PRIu64, e->pexpire);
            if (!e->dirty) /* an expiry alone */
                tess__rop_append(op, g->ci, 3, (const char *[]){"PEXPIRE", e->sk, ms},
                                 (size_t[]){7, e->skn, msn});
            else if (e->v && e->pexpire)
                tess__rop_append(op, g->ci, 5, (const char *[]){"SET", e->sk, e->v, "PX", ms},
                                 (size_t[]){3, e->skn, e->vn, 2, msn});
            else if (e->v)
                tess__rop_append(op, g->ci, 3, (const char *[]){"SET", e->sk, e->v},
                       (size_t[]){3, e->skn, e->vn});
            else
                tess__rop_append(op, g->ci, 2, (const char *[]){"DEL", e->sk},
                                 (size_t[]){3, e->skn});
        }
        tess__rop_append(op, g->ci, 1, (const char *[]){"EXEC"}, (size_t[]){4});
    }
    int rc = tess__rop_flush(op);
    for (size_t k = 0; k < p->ng && rc == TESS_OK; k++) {
        rgroup *g = &p->g[k];
        if (g->state != G_READ) continue;
        size_t nr = nw[k] ? nw[k] + 2 : 1;
        bool moved = false;
        int grc = TESS_OK;
        for (size_t i = 0; i < nr && rc == TESS_OK; i++) {
            redisReply *r;
            rc = tess__rop_reply(op, g->ci, nw[k] > 0, &r);
            if (rc != TESS_OK) break;
            if (!nw[k]) { /* UNWATCH */
                if (r->type != REDIS_REPLY_STATUS) grc = tess__rop_reply_error(op, g->ci, r);
                else g->state = G_DONE;
            } else if (i < nr - 1) { /* +OK, +QUEUED...: an error here makes EXEC abort */
                if (redirected(op, g, r)) moved = true;
                else if (r->type != REDIS_REPLY_STATUS && grc == TESS_OK)
                    grc = tess__rop_reply_error(op, g->ci, r);
            } else if (moved) {
                g->state = G_REDIRECT; /* EXECABORT: nothing was applied */
            } else if (grc != TESS_OK) {
                /* the error of a queued command: EXEC aborted the transaction */
            } else if (r->type == REDIS_REPLY_NIL) {
                g->state = G_CONFLICT;
            } else if (r->type == REDIS_REPLY_ARRAY) {
                for (size_t j = 0; j < r->elements && grc == TESS_OK; j++)
                    if (r->element[j]->type == REDIS_REPLY_ERROR)
                        grc = tess__rop_reply_error(op, g->ci, r->element[j]);
                g->state = G_DONE;
                *committed = true;
            } else {
                grc = tess__rop_reply_error(op, g->ci, r);
            }
            freeReplyObject(r);
        }
        if (rc == TESS_OK) rc = grc;
    }
    tess__free(nw);
    return rc;
}

static int redis_update(tess__kv *base, const tess__str *keys, size_t n, tess__kv_update_fn fn,
                        void *arg, unsigned flags, tess__err *err)
{
    (void)flags; /* Redis's durability is its own (appendfsync): docs/online_backends.md */
    redis_kv *kv = (redis_kv *)base;
    args a;
    if (args_init(&a, n + 1))
        return tess__err_set(err, TESS_ENOMEM, "online store %s: update: out of memory",
                             kv->where);
    rop op;
    rplan p = {0};
    int rc = tess__rop_begin(&op, kv, "update", err);
    if (rc == TESS_OK) rc = plan_make(&op, keys, n, &p);
    for (size_t k = 0; k < p.ng; k++) p.g[k].ci = -1;
    rtxn x = {.base = {base}, .op = &op, .p = &p, .kmem = TESS__ARENA_INIT, .batch = keys};
    bool committed = false;
    for (int attempt = 1; rc == TESS_OK; attempt++) {
        x.retry = false;
        rc = update_read(&x, &a);
        if (rc == TESS_OK) rc = update_fn(&x, n, fn, arg);
        if (rc != TESS_OK && x.retry) { /* a read through tx was redirected */
            tess__err_clear(err);
            rc = TESS_OK;
            tess__rop_abandon(&op); /* the lanes hold WATCHes: closed, not reused */
            for (size_t k = 0; k < p.ng; k++)
                if (p.g[k].state != G_DONE) p.g[k] = (rgroup){.slot = p.g[k].slot, .ask = -1,
                    .first = p.g[k].first, .n = p.g[k].n, .ci = -1, .state = G_PENDING};
        } else if (rc == TESS_OK) {
            rc = update_commit(&x, &committed);
        }
        txn_reset(&x);
        if (rc != TESS_OK) {
            tess__rop_abandon(&op); /* an abort (fn's code, a bad value, no memory) or a failure */
            break;
        }
        bool left = false;
        for (size_t k = 0; k < p.ng; k++) {
            rgroup *g = &p.g[k];
            if (g->state == G_DONE) continue;
            left = true;
            if (g->state == G_CONFLICT || g->state == G_READ) g->state = G_PENDING;
        }
        if (!left) break;
        if (attempt >= UPDATE_ATTEMPTS) {
            rc = tess__err_set(err, TESS_EIO, "online store %s: update: gave up after %d "
                               "attempts: other writers kept changing the same keys",
                               kv->where, attempt);
            break;
        }
        tess__rkv_backoff(attempt);
    }
    if (rc != TESS_OK && rc != TESS_ENOMEM && committed && err) {
        tess__buf m = TESS__BUF_INIT;
        if (!tess__buf_puts(&m, tess__err_msg(err)))
            tess__err_set(err, rc, "%s (the keys of the update's other hash slots were written)",
                          m.p);
        tess__buf_release(&m);
    }
    txn_release(&x);
    plan_release(&p);
    tess__rop_end(&op);
    args_release(&a);
    return rc;
}

/* ---- put ---------------------------------------------------------------------------------- */

static int redis_put(tess__kv *base, const tess__str *keys, const tess__str *vals, size_t n,
                     tess__err *err)
{
    redis_kv *kv = (redis_kv *)base;
    rop op;
    rplan p = {0};
    int rc = tess__rop_begin(&op, kv, "put", err);
    if (rc == TESS_OK) rc = plan_make(&op, keys, n, &p);
    for (int round = 1; rc == TESS_OK; round++) {
        bool again = false;
        for (size_t k = 0; k < p.ng && rc == TESS_OK; k++) {
            rgroup *g = &p.g[k];
            if (g->state == G_DONE) continue;
            if ((rc = group_node(&op, g)) || (rc = tess__rop_conn(&op, g->node, false, &g->ci)))
                break;
            maybe_asking(&op, g); /* ASKING holds through a MULTI */
            if (g->n > 1) tess__rop_append(&op, g->ci, 1, (const char *[]){"MULTI"}, (size_t[]){5});
            for (size_t j = 0; j < g->n; j++) {
                size_t i = p.order[g->first + j];
                if (vals[i].p)
                    tess__rop_append(&op, g->ci, 3, (const char *[]){"SET", p.sk[i].p, vals[i].p},
                           (size_t[]){3, p.sk[i].n, vals[i].n});
                else
                    tess__rop_append(&op, g->ci, 2, (const char *[]){"DEL", p.sk[i].p},
                           (size_t[]){3, p.sk[i].n});
            }
            if (g->n > 1) tess__rop_append(&op, g->ci, 1, (const char *[]){"EXEC"}, (size_t[]){4});
        }
        if (rc == TESS_OK) rc = tess__rop_flush(&op);
        for (size_t k = 0; k < p.ng && rc == TESS_OK; k++) {
            rgroup *g = &p.g[k];
            if (g->state == G_DONE) continue;
            if ((rc = read_asking(&op, g))) break;
            g->ask = -1;
            bool multi = g->n > 1, moved = false;
            size_t nr = multi ? g->n + 2 : 1;
            int grc = TESS_OK;
            for (size_t i = 0; i < nr && rc == TESS_OK; i++) {
                redisReply *r;
                rc = tess__rop_reply(&op, g->ci, true, &r);
                if (rc != TESS_OK) break;
                bool last = i == nr - 1;
                if (redirected(&op, g, r)) {
                    moved = true;
                } else if (r->type == REDIS_REPLY_ERROR) {
                    if (grc == TESS_OK && !(moved && last))
                        grc = tess__rop_reply_error(&op, g->ci, r);
                } else if (multi && last) {
                    if (r->type != REDIS_REPLY_ARRAY && grc == TESS_OK)
                        grc = tess__rop_reply_error(&op, g->ci, r);
                    for (size_t j = 0; grc == TESS_OK && j < r->elements; j++)
                        if (r->element[j]->type == REDIS_REPLY_ERROR)
                            grc = tess__rop_reply_error(&op, g->ci, r->element[j]);
                }
                freeReplyObject(r);
            }
            if (rc == TESS_OK && moved && grc == TESS_OK) {
                /* nothing of the group was applied: sent again (G_REDIRECT), or key by key
                   if caught in a migration (G_SLOW) */
                again |= g->state == G_REDIRECT;
            } else if (rc == TESS_OK) {
                rc = grc;
                g->state = G_DONE;
            }
        }
        for (size_t k = 0; k < p.ng && rc == TESS_OK; k++) {
            rgroup *g = &p.g[k];
            if (g->state != G_SLOW) continue;
            for (size_t j = 0; j < g->n && rc == TESS_OK; j++) {
                size_t i = p.order[g->first + j];
                redisReply *r = NULL;
                if (vals[i].p)
                    rc = tess__rop_slot_command(&op, g->slot, 3,
                                                (const char *[]){"SET", p.sk[i].p, vals[i].p},
                                                (size_t[]){3, p.sk[i].n, vals[i].n}, &r);
                else
                    rc = tess__rop_slot_command(&op, g->slot, 2, (const char *[]){"DEL", p.sk[i].p},
                                                (size_t[]){3, p.sk[i].n}, &r);
                if (rc == TESS_OK && r->type == REDIS_REPLY_ERROR)
                    rc = tess__rop_reply_error(&op, -1, r);
                if (r) freeReplyObject(r);
            }
            g->state = G_DONE;
        }
        if (rc != TESS_OK || !again) break;
        rc = next_round(&op, &p, round);
    }
    if (rc != TESS_OK) tess__rop_abandon(&op);
    plan_release(&p);
    tess__rop_end(&op);
    return rc;
}

/* ---- backoff -------------------------------------------------------------------------------- */

static uint64_t jitter(void)
{
    static _Thread_local uint64_t s;
    if (!s) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        s = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)(uintptr_t)&s ^ (uint64_t)getpid();
        s |= 1;
    }
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
}

void tess__rkv_backoff(int attempt)
{
    uint64_t cap = BACKOFF_MIN_US << (attempt < 10 ? attempt : 10);
    if (cap > BACKOFF_MAX_US) cap = BACKOFF_MAX_US;
    uint64_t us = cap / 2 + jitter() % (cap / 2 + 1);
    struct timespec ts = {(time_t)(us / 1000000), (long)(us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

/* What a server and a cluster do alike (the operations route by slot themselves). */
#define REDIS_OPS                                                                                 \
    .close = redis_close, .get = redis_get, .update = redis_update, .txn_get = rtxn_get,           \
    .txn_put = rtxn_put, .txn_expire = rtxn_expire, .put = redis_put, .scan = tess__rkv_scan,      \
    .drop_prefix = tess__rkv_drop_prefix, .stats = tess__rkv_stats, .lock = tess__rkv_lock,        \
    .unlock = tess__rkv_unlock

const tess__kv_vtab tess__kv_redis_vtab = {
    .name = "redis",
    .open = redis_open,
    REDIS_OPS,
};

const tess__kv_vtab tess__kv_redis_cluster_vtab = {
    .name = "redis-cluster",
    .slot_groups = TESS__KV_CLUSTER_GROUPS,
    .open = cluster_open,
    REDIS_OPS,
};
