/* kv_redis.c — the online store in a Redis database (redis://host:port/db), through hiredis.
 *
 * Keys and values are stored as they are: one Redis string per key, in the database the URL
 * names (0 by default), which the store owns (stats counts every key of it). Every command
 * is sent with hiredis's argv form, so keys and values are binary-safe (NUL bytes and all).
 *
 * Connections: a handle keeps a small pool of idle connections (at most MAX_IDLE). Every
 * operation takes one for itself (an idle one, or a new one), so a WATCH is never shared with
 * another thread, and gives it back at the end; a connection that failed (I/O error, timeout,
 * a reply out of protocol) is closed instead and the pool's generation rises, which closes
 * the idle connections opened before it (they most likely lead to the same dead server). An
 * idle connection is checked with a zero-timeout poll() before it is reused: a readable idle
 * socket means the server closed it (e.g. it restarted), so it is dropped. Hence the next
 * operation after a failure reconnects by itself. A child after fork() never reuses its
 * parent's connections (the pool remembers its pid). Connect and command timeouts bound every
 * wait; Lua scripts (scan, drop_prefix) get at least SCRIPT_TIMEOUT_MS.
 *
 * Operations (docs/online_backends.md has the guarantees):
 *   get          one MGET: one round trip, one snapshot (MGET is atomic).
 *   update       optimistic: WATCH the batch's keys + MGET them (one round trip), call fn per
 *                key against a local table of the keys read and written; a key fn reads
 *                through tess__kv_txn_get is WATCHed before it is read (WATCH + GET, one round
 *                trip); then MULTI, SET/DEL of every written key, EXEC (one round trip). A nil
 *                EXEC (a watched key changed meanwhile) retries the whole update, fn included,
 *                with a randomised exponential backoff, up to UPDATE_ATTEMPTS times.
 *   put          SET or DEL for one key; MULTI + SET/DELs + EXEC for a batch.
 *   scan         a Lua script lists the keys of the prefix (SCAN MATCH over the database,
 *                inside the script, so atomically) and, when they hold at most
 *                SCAN_SNAPSHOT_BYTES, returns their values too: one snapshot. Bigger results
 *                come back as keys and lengths only; the values are then fetched by MGETs of
 *                up to SCAN_BATCH_BYTES / SCAN_BATCH_KEYS (each batch a snapshot). Keys are
 *                sorted here (memcmp order) and fn is called with no connection held.
 *   drop_prefix  a Lua script: SCAN MATCH + UNLINK inside the server, atomic.
 *   stats        DBSIZE (keys of the database) and INFO memory's used_memory (bytes of the
 *                whole server), one round trip.
 *
 * SIGPIPE: hiredis writes with write(2); a write to a connection the server closed would
 * raise SIGPIPE and kill the process. Every operation blocks SIGPIPE in its thread while it
 * talks to Redis, consumes one that became pending, and restores the mask.
 *
 * Redis Cluster (later) routes by key: every command here names its keys, and batches would
 * be split by hash slot (the keys of one entity sharing a hash tag).
 */
#include <errno.h>
#include <hiredis/hiredis.h>
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
#include "tessera.h"

#define DEFAULT_PORT 6379
#define DEFAULT_CONNECT_TIMEOUT_MS 2000
#define DEFAULT_TIMEOUT_MS 10000
#define MAX_TIMEOUT_MS (24 * 3600 * 1000)
#define SCRIPT_TIMEOUT_MS 60000          /* at least this long for scan / drop_prefix scripts */
#define MAX_IDLE 16                      /* idle connections kept per handle */
#define UPDATE_ATTEMPTS 100              /* optimistic update: tries before giving up */
#define BACKOFF_MIN_US 50
#define BACKOFF_MAX_US 20000
#define SCAN_SNAPSHOT_BYTES (64u << 20)  /* keys + values a scan returns in one snapshot */
#define SCAN_BATCH_BYTES (8u << 20)      /* beyond it: values fetched by MGETs of this size */
#define SCAN_BATCH_KEYS 1000

/* ---- the handle ------------------------------------------------------------------------- */

typedef struct rcfg {
    char *host;     /* no brackets around an IPv6 address */
    int port;
    int db;
    char *user;     /* AUTH user (NULL: none; "" with a password: AUTH password alone) */
    char *pass;     /* NULL: no AUTH */
    int connect_ms;
    int timeout_ms;
} rcfg;

typedef struct redis_kv {
    tess__kv base;
    rcfg cfg;
    char *where;    /* "redis://host:port/db" for messages (never the password) */
    pthread_mutex_t lock;
    redisContext *idle[MAX_IDLE];
    uint64_t idle_gen[MAX_IDLE];
    int nidle;
    uint64_t gen;   /* raised when a connection fails: older idle connections are closed */
    pid_t pid;      /* the process the idle connections belong to */
} redis_kv;

/* One operation's hold on a connection (op_begin .. op_end). */
typedef struct rop {
    redis_kv *kv;
    const char *what;
    tess__err *err;
    redisContext *c;
    uint64_t gen;
    bool broken;    /* the connection must not be reused */
    bool masked;    /* SIGPIPE was blocked by this operation */
    int tmo;        /* the command timeout in force (ms), for messages */
    sigset_t old_mask;
} rop;

static struct timeval ms_tv(int ms)
{
    return (struct timeval){ms / 1000, (ms % 1000) * 1000};
}

/* ---- URL ---------------------------------------------------------------------------------- */

static void cfg_release(rcfg *c)
{
    tess__free(c->host);
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

static int url_fail(const char *shown, tess__err *err, const char *what)
{
    return tess__err_set(err, TESS_ECONFIG,
                         "online store \"%s\": %s (expected redis://[[user]:password@]host"
                         "[:port][/db][?timeout=ms&connect_timeout=ms])",
                         shown, what);
}

/* redis://[[user]:password@]host[:port][/db][?timeout=MS&connect_timeout=MS] */
static int parse_url(const char *url, rcfg *cfg, tess__err *err)
{
    int rc = TESS_OK;
    tess__buf shown = TESS__BUF_INIT, msg = TESS__BUF_INIT;
    const char *s = url + 8; /* after "redis://" */
    const char *end = s + strcspn(s, "/?");
    const char *at = NULL;
    for (const char *p = s; p < end; p++)
        if (*p == '@') at = p;
    /* the URL as messages show it: the credentials masked */
    if (at ? tess__buf_printf(&shown, "redis://***@%s", at + 1) : tess__buf_puts(&shown, url))
        return tess__err_set(err, TESS_ENOMEM, "out of memory");
    *cfg = (rcfg){.port = DEFAULT_PORT,
                  .connect_ms = DEFAULT_CONNECT_TIMEOUT_MS,
                  .timeout_ms = DEFAULT_TIMEOUT_MS};
    if (at) {
        const char *colon = memchr(s, ':', (size_t)(at - s));
        if (!colon) {
            rc = url_fail(shown.p, err, "credentials must be user:password or :password");
            goto out;
        }
        cfg->user = tess__strndup(s, (size_t)(colon - s));
        cfg->pass = tess__strndup(colon + 1, (size_t)(at - colon - 1));
        if (!cfg->user || !cfg->pass) goto oom;
        s = at + 1;
    }
    const char *host = s, *hend, *p;
    if (*s == '[') { /* [IPv6] */
        hend = memchr(s, ']', (size_t)(end - s));
        if (!hend) {
            rc = url_fail(shown.p, err, "an IPv6 address lacks its closing ']'");
            goto out;
        }
        host = s + 1;
        p = hend + 1;
        if (p < end && *p != ':') {
            rc = url_fail(shown.p, err, "unexpected characters after the IPv6 address");
            goto out;
        }
    } else {
        hend = memchr(s, ':', (size_t)(end - s));
        if (!hend) hend = end;
        p = hend;
    }
    if (hend == host) {
        rc = url_fail(shown.p, err, "no host");
        goto out;
    }
    cfg->host = tess__strndup(host, (size_t)(hend - host));
    if (!cfg->host) goto oom;
    if (p < end) { /* ":port" */
        long port;
        if (!parse_num(p + 1, (size_t)(end - p - 1), 1, 65535, &port)) {
            tess__buf_printf(&msg, "port \"%.*s\" is not a number from 1 to 65535",
                             (int)(end - p - 1), p + 1);
            rc = url_fail(shown.p, err, msg.p ? msg.p : "bad port");
            goto out;
        }
        cfg->port = (int)port;
    }
    s = end;
    if (*s == '/') { /* "/db" (empty: 0) */
        s++;
        size_t n = strcspn(s, "?");
        long db = 0;
        if (n && !parse_num(s, n, 0, INT_MAX, &db)) {
            tess__buf_printf(&msg, "database \"%.*s\" is not a number from 0", (int)n, s);
            rc = url_fail(shown.p, err, msg.p ? msg.p : "bad database");
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
            long v;
            if (!slot) {
                tess__buf_printf(&msg, "unknown option \"%.*s\" (known: timeout, "
                                 "connect_timeout)", (int)kn, s);
                rc = url_fail(shown.p, err, msg.p ? msg.p : "unknown option");
                goto out;
            }
            if (!eq || !parse_num(eq + 1, n - kn - 1, 1, MAX_TIMEOUT_MS, &v)) {
                tess__buf_printf(&msg, "option \"%.*s\" needs milliseconds from 1 to %d",
                                 (int)n, s, MAX_TIMEOUT_MS);
                rc = url_fail(shown.p, err, msg.p ? msg.p : "bad option");
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

/* ---- connections -------------------------------------------------------------------------- */

/* An idle connection is healthy if nothing can be read from it: a server that closed it (or
 * restarted) makes it readable (EOF) or errs. */
static bool idle_ok(redisContext *c)
{
    struct pollfd pfd = {c->fd, POLLIN, 0};
    return c->err == 0 && poll(&pfd, 1, 0) == 0;
}

static int conn_error(rop *op, bool wrote);

/* Sends the commands a new connection needs (AUTH, SELECT) and checks their answers. */
static int conn_setup(rop *op)
{
    const rcfg *cfg = &op->kv->cfg;
    redisContext *c = op->c;
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
        if (redisGetReply(c, (void **)&r) != REDIS_OK || !r) return conn_error(op, false);
        if (r->type == REDIS_REPLY_ERROR && rc == TESS_OK) {
            bool auth = cfg->pass && i == 0;
            rc = tess__err_set(op->err, TESS_ECONFIG, "online store %s: %s: %s: %.*s",
                               op->kv->where, op->what,
                               auth ? "authentication failed" : "cannot select the database",
                               (int)r->len, r->str);
            op->broken = true;
        }
        freeReplyObject(r);
    }
    return rc;
}

static int conn_open(rop *op)
{
    const rcfg *cfg = &op->kv->cfg;
    redisContext *c = redisConnectWithTimeout(cfg->host, cfg->port, ms_tv(cfg->connect_ms));
    if (!c)
        return tess__err_set(op->err, TESS_ENOMEM, "online store %s: %s: out of memory",
                             op->kv->where, op->what);
    if (c->err) {
        bool timeout = strstr(c->errstr, "timed out") || strstr(c->errstr, "temporarily");
        int rc = tess__err_set(op->err, TESS_EIO, "online store %s: %s: cannot connect to "
                               "%s:%d: %s%s", op->kv->where, op->what, cfg->host, cfg->port,
                               c->errstr, timeout ? " (connect timeout)" : "");
        redisFree(c);
        return rc;
    }
    redisSetTimeout(c, ms_tv(cfg->timeout_ms));
    redisEnableKeepAlive(c);
    op->c = c;
    return conn_setup(op);
}

static void pool_close_idle(redis_kv *kv)
{
    for (int i = 0; i < kv->nidle; i++) redisFree(kv->idle[i]);
    kv->nidle = 0;
}

/* Takes a connection for this operation (SIGPIPE blocked from here to op_end). */
static int op_begin(rop *op, redis_kv *kv, const char *what, tess__err *err)
{
    *op = (rop){.kv = kv, .what = what, .err = err, .tmo = kv->cfg.timeout_ms};
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    if (pthread_sigmask(SIG_BLOCK, &pipe, &op->old_mask) == 0)
        op->masked = !sigismember(&op->old_mask, SIGPIPE);
    pthread_mutex_lock(&kv->lock);
    if (kv->pid != getpid()) { /* a child after fork: the sockets are the parent's */
        for (int i = 0; i < kv->nidle; i++) {
            close(kv->idle[i]->fd); /* our copy of the descriptor only; nothing is sent */
            kv->idle[i]->fd = -1;
            redisFree(kv->idle[i]);
        }
        kv->nidle = 0;
        kv->pid = getpid();
    }
    op->gen = kv->gen;
    while (kv->nidle > 0) {
        redisContext *c = kv->idle[--kv->nidle];
        if (kv->idle_gen[kv->nidle] == kv->gen && idle_ok(c)) {
            op->c = c;
            break;
        }
        redisFree(c);
    }
    pthread_mutex_unlock(&kv->lock);
    if (op->c) return TESS_OK;
    return conn_open(op);
}

/* Gives the connection back (or closes it) and restores the signal mask. */
static void op_end(rop *op)
{
    redis_kv *kv = op->kv;
    redisContext *c = op->c;
    bool io_error = c && c->err != 0;
    if (c) {
        pthread_mutex_lock(&kv->lock);
        if (op->broken || c->err || kv->pid != getpid()) {
            if (io_error && op->gen == kv->gen) {
                kv->gen++; /* the server may be gone: do not trust the other idle ones */
                pool_close_idle(kv);
            }
            redisFree(c);
        } else if (kv->nidle < MAX_IDLE && op->gen == kv->gen) {
            kv->idle_gen[kv->nidle] = kv->gen;
            kv->idle[kv->nidle++] = c;
        } else {
            redisFree(c);
        }
        pthread_mutex_unlock(&kv->lock);
        op->c = NULL;
    }
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
static int conn_error(rop *op, bool wrote)
{
    redisContext *c = op->c;
    op->broken = true;
    if (c->err == REDIS_ERR_OOM)
        return tess__err_set(op->err, TESS_ENOMEM, "online store %s: %s: out of memory",
                             op->kv->where, op->what);
    const char *why = c->errstr[0] ? c->errstr : "connection error";
    char buf[96] = "";
    if (c->err == REDIS_ERR_IO && strstr(why, "temporarily unavailable")) {
        snprintf(buf, sizeof(buf), "no answer within %d ms (timed out)", op->tmo);
        why = buf;
    }
    return tess__err_set(op->err, TESS_EIO, "online store %s: %s: %s%s", op->kv->where,
                         op->what, why,
                         wrote ? "; the write may or may not have been applied" : "");
}

/* An error reply from Redis. */
static int reply_error(rop *op, const redisReply *r)
{
    if (r->type == REDIS_REPLY_ERROR) {
        bool full = r->len >= 3 && memcmp(r->str, "OOM", 3) == 0;
        return tess__err_set(op->err, TESS_EIO, "online store %s: %s: %s%.*s", op->kv->where,
                             op->what, full ? "Redis is full (maxmemory): " : "Redis answered: ",
                             (int)r->len, r->str);
    }
    op->broken = true; /* out of step with the protocol we expect */
    return tess__err_set(op->err, TESS_EIO, "online store %s: %s: unexpected reply of type %d",
                         op->kv->where, op->what, r->type);
}

/* One command, one reply (*out: freed by the caller). */
static int command(rop *op, int argc, const char **argv, const size_t *lens, redisReply **out)
{
    *out = redisCommandArgv(op->c, argc, argv, lens);
    if (!*out) return conn_error(op, false);
    return TESS_OK;
}

/* Reads the next reply of a pipeline. */
static int next_reply(rop *op, redisReply **out, bool wrote)
{
    *out = NULL;
    if (redisGetReply(op->c, (void **)out) != REDIS_OK || !*out) {
        *out = NULL;
        return conn_error(op, wrote);
    }
    return TESS_OK;
}

static int oom(rop *op)
{
    return tess__err_set(op->err, TESS_ENOMEM, "online store %s: %s: out of memory",
                         op->kv->where, op->what);
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

/* ---- open / close ------------------------------------------------------------------------ */

static void redis_close(tess__kv *base)
{
    redis_kv *kv = (redis_kv *)base;
    if (kv->pid == getpid()) {
        pool_close_idle(kv);
    } else { /* fork: do not touch the parent's sockets */
        for (int i = 0; i < kv->nidle; i++) {
            close(kv->idle[i]->fd);
            kv->idle[i]->fd = -1;
            redisFree(kv->idle[i]);
        }
    }
    pthread_mutex_destroy(&kv->lock);
    cfg_release(&kv->cfg);
    tess__free(kv->where);
    tess__free(kv);
}

static int redis_open(const char *url, const char *dir, const tess__kv_opts *o, tess__kv **out,
                      tess__err *err)
{
    (void)dir; /* the data lives in Redis */
    (void)o;   /* sync: the server's persistence decides (docs/online_backends.md) */
    *out = NULL;
    redis_kv *kv = tess__calloc(1, sizeof(*kv));
    if (!kv) return tess__err_set(err, TESS_ENOMEM, "online store \"redis\": out of memory");
    int rc = parse_url(url, &kv->cfg, err);
    if (rc != TESS_OK) {
        tess__free(kv);
        return rc;
    }
    tess__buf w = TESS__BUF_INIT;
    bool v6 = strchr(kv->cfg.host, ':') != NULL;
    if (tess__buf_printf(&w, "redis://%s%s%s:%d/%d", v6 ? "[" : "", kv->cfg.host, v6 ? "]" : "",
                         kv->cfg.port, kv->cfg.db)) {
        cfg_release(&kv->cfg);
        tess__free(kv);
        return tess__err_set(err, TESS_ENOMEM, "online store \"redis\": out of memory");
    }
    kv->where = tess__buf_take(&w);
    pthread_mutex_init(&kv->lock, NULL);
    kv->pid = getpid();
    /* connect now: an unreachable server, a wrong password or database is said at open */
    rop op;
    rc = op_begin(&op, kv, "open", err);
    if (rc == TESS_OK) {
        redisReply *r;
        rc = command(&op, 1, (const char *[]){"PING"}, (size_t[]){4}, &r);
        if (rc == TESS_OK && r->type != REDIS_REPLY_STATUS) rc = reply_error(&op, r);
        if (rc == TESS_OK) freeReplyObject(r);
        else if (r) freeReplyObject(r);
    }
    op_end(&op);
    if (rc != TESS_OK) {
        redis_close(&kv->base);
        return rc;
    }
    *out = &kv->base;
    return TESS_OK;
}

/* ---- get ---------------------------------------------------------------------------------- */

/* Copies an MGET/GET reply element into vals[i] (arena bytes, NUL-terminated). */
static int take_value(rop *op, const redisReply *e, tess__arena *arena, tess__str *val)
{
    if (e->type == REDIS_REPLY_NIL) {
        *val = (tess__str){NULL, 0};
        return TESS_OK;
    }
    if (e->type != REDIS_REPLY_STRING) return reply_error(op, e);
    char *p = tess__arena_strndup(arena, e->str, e->len);
    if (!p) return oom(op);
    *val = (tess__str){p, e->len};
    return TESS_OK;
}

static int redis_get(tess__kv *base, const tess__str *keys, size_t n, tess__str *vals,
                     tess__arena *arena, tess__err *err)
{
    redis_kv *kv = (redis_kv *)base;
    args a;
    if (args_init(&a, n + 1))
        return tess__err_set(err, TESS_ENOMEM, "online store %s: get: out of memory",
                             kv->where);
    args_add(&a, "MGET", 4);
    for (size_t i = 0; i < n; i++) args_add(&a, keys[i].p, keys[i].n);
    rop op;
    redisReply *r = NULL;
    int rc = op_begin(&op, kv, "get", err);
    if (rc == TESS_OK) rc = command(&op, a.c, a.v, a.n, &r);
    if (rc == TESS_OK && (r->type != REDIS_REPLY_ARRAY || r->elements != n))
        rc = reply_error(&op, r);
    for (size_t i = 0; rc == TESS_OK && i < n; i++)
        rc = take_value(&op, r->element[i], arena, &vals[i]);
    if (r) freeReplyObject(r);
    op_end(&op);
    args_release(&a);
    return rc;
}

/* ---- update ------------------------------------------------------------------------------- */

/* A key the update has read or written, and its value as the update sees it. */
typedef struct tent {
    const char *k;
    size_t kn;
    uint64_t h;
    const char *v;  /* NULL: absent */
    size_t vn;
    char *own;      /* v's bytes when the update wrote them (ours to free) */
    bool dirty;     /* written: goes into the MULTI/EXEC */
} tent;

typedef struct rtxn {
    tess__kv_txn base;
    rop *op;
    tent *e;          /* entries */
    size_t ne, ecap;
    uint32_t *slot;   /* open addressing: entry index + 1, 0 = empty */
    size_t nslot;     /* power of two */
    redisReply **rep; /* replies the entries' values point into */
    size_t nrep, repcap;
    tess__arena keys; /* copies of keys read or written through tx */
    tess__kvq q;      /* writes queued by the running call of fn */
} rtxn;

static void txn_reset(rtxn *x)
{
    for (size_t i = 0; i < x->ne; i++) tess__free(x->e[i].own);
    x->ne = 0;
    if (x->slot) memset(x->slot, 0, x->nslot * sizeof(uint32_t));
    for (size_t i = 0; i < x->nrep; i++) freeReplyObject(x->rep[i]);
    x->nrep = 0;
    tess__arena_reset(&x->keys);
    tess__kvq_reset(&x->q);
}

static void txn_release(rtxn *x)
{
    txn_reset(x);
    tess__free(x->e);
    tess__free(x->slot);
    tess__free(x->rep);
    tess__arena_release(&x->keys);
    tess__kvq_release(&x->q);
}

static int keep_reply(rtxn *x, redisReply *r)
{
    if (x->nrep == x->repcap) {
        size_t cap = x->repcap ? x->repcap * 2 : 8;
        redisReply **p = tess__realloc(x->rep, cap * sizeof(*p));
        if (!p) {
            freeReplyObject(r);
            return oom(x->op);
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

/* Adds an entry (the key must be absent); `copy`: the key's bytes are copied. */
static int txn_add(rtxn *x, const char *k, size_t kn, uint64_t h, bool copy, size_t *out)
{
    if ((x->ne + 1) * 2 > x->nslot) {
        size_t ns = x->nslot ? x->nslot * 2 : 64;
        uint32_t *sl = tess__calloc(ns, sizeof(uint32_t));
        if (!sl) return oom(x->op);
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
        if (!e) return oom(x->op);
        x->e = e;
        x->ecap = cap;
    }
    if (copy) {
        char *p = tess__arena_strndup(&x->keys, k, kn);
        if (!p) return oom(x->op);
        k = p;
    }
    size_t s = h & (x->nslot - 1);
    while (x->slot[s]) s = (s + 1) & (x->nslot - 1);
    x->slot[s] = (uint32_t)(x->ne + 1);
    x->e[x->ne] = (tent){k, kn, h, NULL, 0, NULL, false};
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
        if (!own) return oom(x->op);
        if (vn) memcpy(own, v, vn);
    }
    tent *e = &x->e[i];
    tess__free(e->own);
    e->own = own;
    e->v = own;
    e->vn = v ? vn : 0;
    e->dirty = true;
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
            /* 3. Redis: WATCH it, then read it (one round trip) */
            rop *op = x->op;
            redisAppendCommandArgv(op->c, 2, (const char *[]){"WATCH", key.p},
                                   (size_t[]){5, key.n});
            redisAppendCommandArgv(op->c, 2, (const char *[]){"GET", key.p},
                                   (size_t[]){3, key.n});
            redisReply *w = NULL, *g = NULL;
            int rc = next_reply(op, &w, false);
            if (rc == TESS_OK) rc = next_reply(op, &g, false);
            if (rc == TESS_OK && w->type != REDIS_REPLY_STATUS) rc = reply_error(op, w);
            if (rc == TESS_OK && g->type != REDIS_REPLY_STRING && g->type != REDIS_REPLY_NIL)
                rc = reply_error(op, g);
            if (w) freeReplyObject(w);
            if (rc != TESS_OK) {
                if (g) freeReplyObject(g);
                return rc;
            }
            if ((rc = keep_reply(x, g)) != TESS_OK) return rc; /* g freed */
            rc = txn_add(x, key.p, key.n, h, true, &i);
            if (rc != TESS_OK) return rc;
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
    if (!p) return oom(x->op);
    *val = (tess__str){p, n};
    return TESS_OK;
}

static int rtxn_put(tess__kv_txn *tx, tess__str key, tess__str val, tess__err *err)
{
    rtxn *x = (rtxn *)tx;
    (void)err;
    if (tess__kvq_put(&x->q, key, val)) return oom(x->op);
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
        if (i == SIZE_MAX) rc = txn_add(x, k.p, k.n, h, true, &i); /* a blind write: no WATCH */
        if (rc == TESS_OK) rc = txn_set(x, i, v.p, v.n);
        if (rc != TESS_OK) return rc;
    }
    tess__kvq_reset(&x->q);
    return TESS_OK;
}

/* Sends UNWATCH (after an abort or a read-only update) so that the pooled connection carries
 * no watch into its next use; a failure just closes the connection. */
static void unwatch(rop *op)
{
    if (!op->c || op->broken || op->c->err) return;
    redisReply *r = redisCommand(op->c, "UNWATCH");
    if (!r || r->type != REDIS_REPLY_STATUS) op->broken = true;
    if (r) freeReplyObject(r);
}

/* Sends MULTI, the writes, EXEC; *conflict when EXEC answered nil (a watched key changed). */
static int exec_writes(rop *op, const tent *e, size_t ne, bool *conflict)
{
    *conflict = false;
    redisContext *c = op->c;
    size_t nw = 0;
    redisAppendCommandArgv(c, 1, (const char *[]){"MULTI"}, (size_t[]){5});
    for (size_t i = 0; i < ne; i++) {
        if (!e[i].dirty) continue;
        nw++;
        if (e[i].v)
            redisAppendCommandArgv(c, 3, (const char *[]){"SET", e[i].k, e[i].v},
                                   (size_t[]){3, e[i].kn, e[i].vn});
        else
            redisAppendCommandArgv(c, 2, (const char *[]){"DEL", e[i].k}, (size_t[]){3, e[i].kn});
    }
    redisAppendCommandArgv(c, 1, (const char *[]){"EXEC"}, (size_t[]){4});
    int rc = TESS_OK;
    for (size_t i = 0; i < nw + 2; i++) {
        redisReply *r;
        int rc2 = next_reply(op, &r, true);
        if (rc2 != TESS_OK) return rc2;
        if (i < nw + 1) { /* +OK, +QUEUED...: an error here makes EXEC abort */
            if (r->type != REDIS_REPLY_STATUS && rc == TESS_OK) rc = reply_error(op, r);
        } else if (r->type == REDIS_REPLY_NIL) {
            *conflict = rc == TESS_OK;
        } else if (r->type == REDIS_REPLY_ARRAY) {
            for (size_t j = 0; j < r->elements && rc == TESS_OK; j++)
                if (r->element[j]->type == REDIS_REPLY_ERROR) rc = reply_error(op, r->element[j]);
        } else if (rc == TESS_OK) {
            rc = reply_error(op, r);
        }
        freeReplyObject(r);
    }
    return rc;
}

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

static void backoff(int attempt)
{
    uint64_t cap = BACKOFF_MIN_US << (attempt < 10 ? attempt : 10);
    if (cap > BACKOFF_MAX_US) cap = BACKOFF_MAX_US;
    uint64_t us = cap / 2 + jitter() % (cap / 2 + 1);
    struct timespec ts = {(time_t)(us / 1000000), (long)(us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

/* One attempt: WATCH + MGET, fn per key, MULTI/EXEC. */
static int update_once(rtxn *x, const tess__str *keys, size_t n, tess__kv_update_fn fn,
                       void *arg, args *a, bool *conflict)
{
    rop *op = x->op;
    redisContext *c = op->c;
    *conflict = false;
    a->c = 0;
    args_add(a, "WATCH", 5);
    for (size_t i = 0; i < n; i++) args_add(a, keys[i].p, keys[i].n);
    redisAppendCommandArgv(c, a->c, a->v, a->n);
    a->v[0] = "MGET";
    a->n[0] = 4;
    redisAppendCommandArgv(c, a->c, a->v, a->n);
    redisReply *w, *g;
    int rc = next_reply(op, &w, false);
    if (rc != TESS_OK) return rc;
    if (w->type != REDIS_REPLY_STATUS) rc = reply_error(op, w);
    freeReplyObject(w);
    if (next_reply(op, &g, false) != TESS_OK) return conn_error(op, false);
    if (rc == TESS_OK && (g->type != REDIS_REPLY_ARRAY || g->elements != n))
        rc = reply_error(op, g);
    if (rc != TESS_OK) {
        freeReplyObject(g);
        return rc;
    }
    if ((rc = keep_reply(x, g)) != TESS_OK) return rc;
    for (size_t i = 0; i < n; i++) {
        const redisReply *e = g->element[i];
        if (e->type != REDIS_REPLY_STRING && e->type != REDIS_REPLY_NIL)
            return reply_error(op, e);
        uint64_t h = tess__hash64(keys[i].p, keys[i].n);
        size_t j = txn_find(x, keys[i].p, keys[i].n, h);
        if (j != SIZE_MAX) continue; /* a repeated key */
        if ((rc = txn_add(x, keys[i].p, keys[i].n, h, false, &j)) != TESS_OK) return rc;
        if (e->type == REDIS_REPLY_STRING) {
            x->e[j].v = e->str;
            x->e[j].vn = e->len;
        }
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t h = tess__hash64(keys[i].p, keys[i].n);
        size_t j = txn_find(x, keys[i].p, keys[i].n, h);
        tess__str old = {x->e[j].v, x->e[j].vn};
        if (old.p && !old.n) old.p = ""; /* an empty value is a value */
        tess__str nv = {NULL, 0};
        bool del = false;
        rc = fn(arg, &x->base, i, old, &nv, &del);
        if (rc != 0) return rc;
        j = txn_find(x, keys[i].p, keys[i].n, h); /* fn may have added entries */
        if (del) rc = txn_set(x, j, NULL, 0);
        else if (nv.p) rc = txn_set(x, j, nv.p, nv.n);
        if (rc == TESS_OK && x->q.n) rc = txn_flush(x);
        if (rc != TESS_OK) return rc;
    }
    bool any = false;
    for (size_t i = 0; i < x->ne && !any; i++) any = x->e[i].dirty;
    if (!any) {
        unwatch(op);
        return TESS_OK;
    }
    return exec_writes(op, x->e, x->ne, conflict);
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
    int rc = op_begin(&op, kv, "update", err);
    rtxn x = {.base = {base}, .op = &op, .keys = TESS__ARENA_INIT, .q = {TESS__BUF_INIT, 0}};
    int attempt = 0;
    while (rc == TESS_OK) {
        bool conflict = false;
        rc = update_once(&x, keys, n, fn, arg, &a, &conflict);
        txn_reset(&x);
        if (rc != TESS_OK) {
            unwatch(&op); /* an abort (fn's code, a bad value, no memory) */
            break;
        }
        if (!conflict) break;
        if (++attempt >= UPDATE_ATTEMPTS) {
            rc = tess__err_set(err, TESS_EIO, "online store %s: update: gave up after %d "
                               "attempts: other writers kept changing the same keys",
                               kv->where, attempt);
            break;
        }
        backoff(attempt);
    }
    txn_release(&x);
    op_end(&op);
    args_release(&a);
    return rc;
}

/* ---- put ---------------------------------------------------------------------------------- */

static int redis_put(tess__kv *base, const tess__str *keys, const tess__str *vals, size_t n,
                     tess__err *err)
{
    redis_kv *kv = (redis_kv *)base;
    rop op;
    int rc = op_begin(&op, kv, "put", err);
    if (rc != TESS_OK) goto out;
    redisContext *c = op.c;
    bool multi = n > 1;
    if (multi) redisAppendCommandArgv(c, 1, (const char *[]){"MULTI"}, (size_t[]){5});
    for (size_t i = 0; i < n; i++) {
        if (vals[i].p)
            redisAppendCommandArgv(c, 3, (const char *[]){"SET", keys[i].p, vals[i].p},
                                   (size_t[]){3, keys[i].n, vals[i].n});
        else
            redisAppendCommandArgv(c, 2, (const char *[]){"DEL", keys[i].p},
                                   (size_t[]){3, keys[i].n});
    }
    if (multi) redisAppendCommandArgv(c, 1, (const char *[]){"EXEC"}, (size_t[]){4});
    size_t nr = multi ? n + 2 : 1;
    for (size_t i = 0; i < nr; i++) {
        redisReply *r;
        int rc2 = next_reply(&op, &r, true);
        if (rc2 != TESS_OK) {
            rc = rc2;
            break;
        }
        bool last = i == nr - 1;
        if (r->type == REDIS_REPLY_ERROR) {
            if (rc == TESS_OK) rc = reply_error(&op, r);
        } else if (multi && last) {
            if (r->type != REDIS_REPLY_ARRAY && rc == TESS_OK) rc = reply_error(&op, r);
            for (size_t j = 0; rc == TESS_OK && j < r->elements; j++)
                if (r->element[j]->type == REDIS_REPLY_ERROR) rc = reply_error(&op, r->element[j]);
        }
        freeReplyObject(r);
    }
out:
    op_end(&op);
    return rc;
}

/* ---- scan and drop_prefix ------------------------------------------------------------------ */

/* The MATCH pattern of keys starting with prefix: glob characters escaped, then '*'. */
static int glob_of(tess__str prefix, tess__buf *out)
{
    for (size_t i = 0; i < prefix.n; i++) {
        char ch = prefix.p[i];
        if ((ch == '*' || ch == '?' || ch == '[' || ch == ']' || ch == '\\') &&
            tess__buf_putc(out, '\\'))
            return TESS_ENOMEM;
        if (tess__buf_putc(out, ch)) return TESS_ENOMEM;
    }
    return tess__buf_putc(out, '*');
}

/* ARGV: pattern, prefix, budget. Returns {1, k1, v1, k2, v2, ...} (one snapshot) or, when the
 * keys and values pass the budget, {0, k1, len1, k2, len2, ...}. SCAN may repeat a key; the
 * prefix is checked again byte for byte. */
static const char SCAN_LUA[] =
    "local pat, pre, budget = ARGV[1], ARGV[2], tonumber(ARGV[3])\n"
    "local plen, cur, keys, seen = #pre, '0', {}, {}\n"
    "repeat\n"
    "  local r = redis.call('SCAN', cur, 'MATCH', pat, 'COUNT', 1000)\n"
    "  cur = r[1]\n"
    "  for _, k in ipairs(r[2]) do\n"
    "    if not seen[k] and string.sub(k, 1, plen) == pre then\n"
    "      seen[k] = true\n"
    "      keys[#keys + 1] = k\n"
    "    end\n"
    "  end\n"
    "until cur == '0'\n"
    "local total, lens = 0, {}\n"
    "for i, k in ipairs(keys) do\n"
    "  lens[i] = redis.call('STRLEN', k)\n"
    "  total = total + lens[i] + #k\n"
    "end\n"
    "local out = {1}\n"
    "if total > budget then\n"
    "  out[1] = 0\n"
    "  for i, k in ipairs(keys) do out[#out + 1] = k; out[#out + 1] = lens[i] end\n"
    "  return out\n"
    "end\n"
    "for _, k in ipairs(keys) do\n"
    "  local v = redis.call('GET', k)\n"
    "  if v then out[#out + 1] = k; out[#out + 1] = v end\n"
    "end\n"
    "return out\n";

/* ARGV: pattern, prefix. Returns the number of keys unlinked. */
static const char DROP_LUA[] =
    "local pat, pre = ARGV[1], ARGV[2]\n"
    "local plen, cur, n = #pre, '0', 0\n"
    "repeat\n"
    "  local r = redis.call('SCAN', cur, 'MATCH', pat, 'COUNT', 1000)\n"
    "  cur = r[1]\n"
    "  local ks = {}\n"
    "  for _, k in ipairs(r[2]) do\n"
    "    if string.sub(k, 1, plen) == pre then ks[#ks + 1] = k end\n"
    "  end\n"
    "  for i = 1, #ks, 500 do\n"
    "    n = n + redis.call('UNLINK', unpack(ks, i, math.min(i + 499, #ks)))\n"
    "  end\n"
    "until cur == '0'\n"
    "return n\n";

/* EVAL script with ARGV pattern-of-prefix, prefix (and `extra`), with the script timeout. */
static int eval_prefix(rop *op, const char *script, tess__str prefix, const char *extra,
                       redisReply **out)
{
    *out = NULL;
    tess__buf pat = TESS__BUF_INIT;
    if (glob_of(prefix, &pat)) {
        tess__buf_release(&pat);
        return oom(op);
    }
    const char *argv[6] = {"EVAL", script, "0", pat.p, prefix.p, extra};
    size_t lens[6] = {4, strlen(script), 1, pat.len, prefix.n, extra ? strlen(extra) : 0};
    int t = op->kv->cfg.timeout_ms;
    if (t < SCRIPT_TIMEOUT_MS) {
        redisSetTimeout(op->c, ms_tv(SCRIPT_TIMEOUT_MS));
        op->tmo = SCRIPT_TIMEOUT_MS;
    }
    int rc = command(op, extra ? 6 : 5, argv, lens, out);
    if (rc == TESS_OK && t < SCRIPT_TIMEOUT_MS) {
        redisSetTimeout(op->c, ms_tv(t));
        op->tmo = t;
    }
    tess__buf_release(&pat);
    return rc;
}

typedef struct kvpair {
    const char *k;
    size_t kn;
    const char *v; /* snapshot: the value; otherwise NULL */
    size_t vn;     /* snapshot: the value's length; otherwise its length when listed */
} kvpair;

static int pair_cmp(const void *a, const void *b)
{
    const kvpair *x = a, *y = b;
    size_t m = x->kn < y->kn ? x->kn : y->kn;
    int c = memcmp(x->k, y->k, m);
    if (c) return c;
    return x->kn < y->kn ? -1 : x->kn > y->kn;
}

/* Values of pairs [from, to) by one MGET, then fn for each key that still exists. */
static int scan_batch(redis_kv *kv, kvpair *p, size_t from, size_t to, tess__kv_scan_fn fn,
                      void *arg, tess__err *err)
{
    args a;
    if (args_init(&a, to - from + 1))
        return tess__err_set(err, TESS_ENOMEM, "online store %s: scan: out of memory",
                             kv->where);
    args_add(&a, "MGET", 4);
    for (size_t i = from; i < to; i++) args_add(&a, p[i].k, p[i].kn);
    rop op;
    redisReply *r = NULL;
    int rc = op_begin(&op, kv, "scan", err);
    if (rc == TESS_OK) rc = command(&op, a.c, a.v, a.n, &r);
    if (rc == TESS_OK && (r->type != REDIS_REPLY_ARRAY || r->elements != to - from))
        rc = reply_error(&op, r);
    op_end(&op); /* fn may call other operations: no connection held */
    args_release(&a);
    for (size_t i = 0; rc == TESS_OK && i < to - from; i++) {
        const redisReply *e = r->element[i];
        if (e->type == REDIS_REPLY_NIL) continue; /* deleted since the listing */
        if (e->type != REDIS_REPLY_STRING) {
            rc = tess__err_set(err, TESS_EIO, "online store %s: scan: a value of type %d",
                               kv->where, e->type);
            break;
        }
        rc = fn(arg, (tess__str){p[from + i].k, p[from + i].kn},
                (tess__str){e->len ? e->str : "", e->len});
    }
    if (r) freeReplyObject(r);
    return rc;
}

static int redis_scan(tess__kv *base, tess__str prefix, tess__kv_scan_fn fn, void *arg,
                      tess__err *err)
{
    redis_kv *kv = (redis_kv *)base;
    char budget[24];
    snprintf(budget, sizeof(budget), "%u", (unsigned)SCAN_SNAPSHOT_BYTES);
    rop op;
    redisReply *r = NULL;
    kvpair *p = NULL;
    int rc = op_begin(&op, kv, "scan", err);
    if (rc == TESS_OK) rc = eval_prefix(&op, SCAN_LUA, prefix, budget, &r);
    if (rc == TESS_OK && (r->type != REDIS_REPLY_ARRAY || r->elements % 2 != 1 ||
                          r->element[0]->type != REDIS_REPLY_INTEGER))
        rc = reply_error(&op, r);
    op_end(&op);
    if (rc != TESS_OK) goto out;
    bool snapshot = r->element[0]->integer == 1;
    size_t np = r->elements / 2;
    p = tess__malloc((np ? np : 1) * sizeof(kvpair));
    if (!p) {
        rc = tess__err_set(err, TESS_ENOMEM, "online store %s: scan: out of memory", kv->where);
        goto out;
    }
    for (size_t i = 0; i < np; i++) {
        const redisReply *k = r->element[1 + 2 * i], *v = r->element[2 + 2 * i];
        if (k->type != REDIS_REPLY_STRING ||
            v->type != (snapshot ? REDIS_REPLY_STRING : REDIS_REPLY_INTEGER)) {
            rc = tess__err_set(err, TESS_EIO, "online store %s: scan: unexpected reply",
                               kv->where);
            goto out;
        }
        p[i] = snapshot ? (kvpair){k->str, k->len, v->len ? v->str : "", v->len}
                        : (kvpair){k->str, k->len, NULL, (size_t)v->integer};
    }
    qsort(p, np, sizeof(kvpair), pair_cmp);
    if (snapshot) {
        for (size_t i = 0; rc == TESS_OK && i < np; i++)
            rc = fn(arg, (tess__str){p[i].k, p[i].kn}, (tess__str){p[i].v, p[i].vn});
        goto out;
    }
    for (size_t from = 0; rc == TESS_OK && from < np;) {
        size_t to = from, bytes = 0;
        while (to < np && (to == from || (to - from < SCAN_BATCH_KEYS &&
                                          bytes + p[to].vn <= SCAN_BATCH_BYTES)))
            bytes += p[to++].vn;
        rc = scan_batch(kv, p, from, to, fn, arg, err);
        from = to;
    }
out:
    tess__free(p);
    if (r) freeReplyObject(r);
    return rc;
}

static int redis_drop_prefix(tess__kv *base, tess__str prefix, uint64_t *deleted,
                             tess__err *err)
{
    redis_kv *kv = (redis_kv *)base;
    rop op;
    redisReply *r = NULL;
    int rc = op_begin(&op, kv, "drop_prefix", err);
    if (rc == TESS_OK) rc = eval_prefix(&op, DROP_LUA, prefix, NULL, &r);
    if (rc == TESS_OK && r->type != REDIS_REPLY_INTEGER) rc = reply_error(&op, r);
    if (rc == TESS_OK) *deleted = (uint64_t)r->integer;
    if (r) freeReplyObject(r);
    op_end(&op);
    return rc;
}

/* ---- stats -------------------------------------------------------------------------------- */

static int redis_stats(tess__kv *base, uint64_t *bytes, uint64_t *keys, tess__err *err)
{
    redis_kv *kv = (redis_kv *)base;
    rop op;
    redisReply *d = NULL, *m = NULL;
    int rc = op_begin(&op, kv, "stats", err);
    if (rc == TESS_OK) {
        redisAppendCommandArgv(op.c, 1, (const char *[]){"DBSIZE"}, (size_t[]){6});
        redisAppendCommandArgv(op.c, 2, (const char *[]){"INFO", "memory"}, (size_t[]){4, 6});
        rc = next_reply(&op, &d, false);
        if (rc == TESS_OK) rc = next_reply(&op, &m, false);
    }
    if (rc == TESS_OK && d->type != REDIS_REPLY_INTEGER) rc = reply_error(&op, d);
    if (rc == TESS_OK && m->type != REDIS_REPLY_STRING) rc = reply_error(&op, m);
    if (rc == TESS_OK) {
        *keys = (uint64_t)d->integer;
        const char *u = strstr(m->str, "used_memory:");
        *bytes = u ? strtoull(u + 12, NULL, 10) : 0;
    }
    if (d) freeReplyObject(d);
    if (m) freeReplyObject(m);
    op_end(&op);
    return rc;
}

const tess__kv_vtab tess__kv_redis_vtab = {
    .name = "redis",
    .open = redis_open,
    .close = redis_close,
    .get = redis_get,
    .update = redis_update,
    .txn_get = rtxn_get,
    .txn_put = rtxn_put,
    .put = redis_put,
    .scan = redis_scan,
    .drop_prefix = redis_drop_prefix,
    .stats = redis_stats,
};
