/* kv_redis_lock.c — the lock of a store in Redis (or Redis Cluster), shared by every process
 * on every machine that uses the same server (kv.h: tess__kv_lock).
 *
 * The lock "name" is the key "tessera-lock:<name>" (a key no stored key can be: the store's
 * scans and drops leave it out), holding the holder's token "<host>:<pid>:<random>":
 *   take      SET key token NX PX ttl; while another holds it, wait (a randomised backoff from
 *             50 ms to 1 s) and try again (wait true) or answer TESS_EEXIST (wait false);
 *   hold      a thread renews the lease every ttl/3 with a script that runs PEXPIRE only if
 *             the key still holds our token. A renewal that finds another token (or none),
 *             or no successful renewal for a whole ttl (the server unreachable), means the
 *             lease is lost: another process may take the lock from then on;
 *   release   a script that deletes the key only if it holds our token (compare-and-delete),
 *             so a holder whose lease ran out never releases someone else's lock.
 * A holder that dies without releasing frees the lock when its lease runs out (ttl, the URL's
 * lock_ttl option, 30 s by default). There is no fencing token: a holder paused longer than
 * its ttl (or cut off from the server) may still be writing when the next one starts; its
 * release then reports the loss (TESS_EIO).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "online/kv_redis_int.h"
#include "tessera.h"

static const char RENEW_LUA[] = "if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
                                "  return redis.call('PEXPIRE', KEYS[1], ARGV[2])\n"
                                "end\n"
                                "return 0\n";

static const char RELEASE_LUA[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end\n"
    "return 0\n";

typedef struct rlock {
    tess__rkv *kv;
    char key[96];
    char token[160];
    char ttl[16];
    pthread_t th;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
    bool lost;
    char why[400];
} rlock;

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One command on the node of `key`, following MOVED / ASK / TRYAGAIN. */
static int key_command(tess__rop *op, const char *key, int argc, const char **argv,
                       const size_t *lens, redisReply **out)
{
    int slot = op->kv->cfg.cluster ? tess__rkv_keyslot(key, strlen(key)) : -1;
    return tess__rop_slot_command(op, slot, argc, argv, lens, out);
}

/* EVAL script 1 key token [arg]: the integer it answers into *res. */
static int eval_key(tess__rkv *kv, const char *what, const char *script, rlock *lk, const char *arg,
                    long long *res, tess__err *err)
{
    tess__rop op;
    redisReply *r = NULL;
    int rc = tess__rop_begin(&op, kv, what, err);
    if (rc == TESS_OK) {
        const char *argv[6] = {"EVAL", script, "1", lk->key, lk->token, arg};
        size_t lens[6] = {
            4, strlen(script), 1, strlen(lk->key), strlen(lk->token), arg ? strlen(arg) : 0};
        rc = key_command(&op, lk->key, arg ? 6 : 5, argv, lens, &r);
    }
    if (rc == TESS_OK && r->type != REDIS_REPLY_INTEGER) rc = tess__rop_reply_error(&op, -1, r);
    if (rc == TESS_OK) *res = r->integer;
    if (r) freeReplyObject(r);
    tess__rop_end(&op);
    return rc;
}

static void *renew_thread(void *arg)
{
    rlock *lk = arg;
    int ttl = lk->kv->cfg.lock_ttl_ms;
    int64_t last_ok = mono_ms();
    pthread_mutex_lock(&lk->mu);
    while (!lk->stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        int64_t ns = until.tv_nsec + (int64_t)(ttl / 3) * 1000000;
        until.tv_sec += (time_t)(ns / 1000000000);
        until.tv_nsec = (long)(ns % 1000000000);
        pthread_cond_timedwait(&lk->cv, &lk->mu, &until);
        if (lk->stop) break;
        pthread_mutex_unlock(&lk->mu);
        tess__err e = TESS__ERR_INIT;
        long long res = 0;
        int rc = eval_key(lk->kv, "lock renewal", RENEW_LUA, lk, lk->ttl, &res, &e);
        pthread_mutex_lock(&lk->mu);
        if (rc == TESS_OK && res == 1) {
            last_ok = mono_ms();
        } else if (rc == TESS_OK) {
            lk->lost = true;
            snprintf(lk->why, sizeof(lk->why),
                     "its lease ran out and it was found free or "
                     "taken by another process");
        } else if (mono_ms() - last_ok >= ttl) {
            lk->lost = true;
            snprintf(lk->why, sizeof(lk->why), "not renewed for %d ms: %s", ttl, tess__err_msg(&e));
        }
        tess__err_release(&e);
        if (lk->lost) break;
    }
    pthread_mutex_unlock(&lk->mu);
    return NULL;
}

static void make_token(rlock *lk)
{
    char host[64] = "?";
    gethostname(host, sizeof(host) - 1);
    host[sizeof(host) - 1] = 0;
    uint64_t r[2] = {0, 0};
    if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
        r[0] = (uint64_t)mono_ms() ^ ((uint64_t)getpid() << 32);
        r[1] = (uint64_t)(uintptr_t)lk;
    }
    snprintf(lk->token, sizeof(lk->token), "%s:%ld:%016llx%016llx", host, (long)getpid(),
             (unsigned long long)r[0], (unsigned long long)r[1]);
}

int tess__rkv_lock(tess__kv *base, const char *name, bool wait, void **out, tess__err *err)
{
    tess__rkv *kv = (tess__rkv *)base;
    *out = NULL;
    rlock *lk = tess__calloc(1, sizeof(*lk));
    if (!lk)
        return tess__err_set(err, TESS_ENOMEM, "online store %s: lock: out of memory", kv->where);
    lk->kv = kv;
    snprintf(lk->key, sizeof(lk->key), "%s%s", TESS__RKV_LOCK_PREFIX, name);
    snprintf(lk->ttl, sizeof(lk->ttl), "%d", kv->cfg.lock_ttl_ms);
    make_token(lk);
    int rc = TESS_OK;
    for (int attempt = 1;; attempt++) {
        tess__rop op;
        redisReply *r = NULL;
        rc = tess__rop_begin(&op, kv, "lock", err);
        if (rc == TESS_OK) {
            const char *argv[6] = {"SET", lk->key, lk->token, "NX", "PX", lk->ttl};
            size_t lens[6] = {3, strlen(lk->key), strlen(lk->token), 2, 2, strlen(lk->ttl)};
            rc = key_command(&op, lk->key, 6, argv, lens, &r);
        }
        bool taken = false;
        if (rc == TESS_OK && r->type == REDIS_REPLY_STATUS)
            taken = true;
        else if (rc == TESS_OK && r->type != REDIS_REPLY_NIL)
            rc = tess__rop_reply_error(&op, -1, r);
        if (r) freeReplyObject(r);
        r = NULL;
        if (rc == TESS_OK && !taken && !wait) { /* say who has it */
            const char *argv[2] = {"GET", lk->key};
            size_t lens[2] = {3, strlen(lk->key)};
            rc = key_command(&op, lk->key, 2, argv, lens, &r);
            if (rc == TESS_OK)
                rc = tess__err_set(err, TESS_EEXIST,
                                   "online store %s: lock \"%s\" is held by "
                                   "%.*s",
                                   kv->where, name, r->type == REDIS_REPLY_STRING ? (int)r->len : 7,
                                   r->type == REDIS_REPLY_STRING ? r->str : "another");
            if (r) freeReplyObject(r);
        }
        tess__rop_end(&op);
        if (rc != TESS_OK || taken) break;
        /* held by another: wait, 50 ms doubling to 1 s, randomised */
        int cap = 50 << (attempt < 5 ? attempt : 5);
        if (cap > 1000) cap = 1000;
        struct timespec ts = {0, (long)(cap / 2 + rand() % (cap / 2 + 1)) * 1000000};
        nanosleep(&ts, NULL);
    }
    if (rc != TESS_OK) {
        tess__free(lk);
        return rc;
    }
    pthread_mutex_init(&lk->mu, NULL);
    pthread_cond_init(&lk->cv, NULL);
    if (pthread_create(&lk->th, NULL, renew_thread, lk) != 0) {
        long long res;
        tess__err e = TESS__ERR_INIT;
        eval_key(kv, "unlock", RELEASE_LUA, lk, NULL, &res, &e);
        tess__err_release(&e);
        pthread_cond_destroy(&lk->cv);
        pthread_mutex_destroy(&lk->mu);
        tess__free(lk);
        return tess__err_set(err, TESS_EIO,
                             "online store %s: lock: cannot start the renewal "
                             "thread: %s",
                             kv->where, strerror(errno));
    }
    lk->started = true;
    *out = lk;
    return TESS_OK;
}

int tess__rkv_unlock(tess__kv *base, void *h, tess__err *err)
{
    tess__rkv *kv = (tess__rkv *)base;
    rlock *lk = h;
    pthread_mutex_lock(&lk->mu);
    lk->stop = true;
    pthread_cond_signal(&lk->cv);
    pthread_mutex_unlock(&lk->mu);
    if (lk->started) pthread_join(lk->th, NULL);
    int rc = TESS_OK;
    const char *name = lk->key + strlen(TESS__RKV_LOCK_PREFIX);
    long long res = 0;
    if (lk->lost) {
        rc = tess__err_set(err, TESS_EIO,
                           "online store %s: lock \"%s\" was lost while held "
                           "(%s): another process may have held it meanwhile",
                           kv->where, name, lk->why);
    } else if ((rc = eval_key(kv, "unlock", RELEASE_LUA, lk, NULL, &res, err)) != TESS_OK) {
        tess__buf m = TESS__BUF_INIT;
        if (!tess__buf_puts(&m, tess__err_msg(err)))
            tess__err_set(err, rc, "%s (lock \"%s\" not released: its lease runs out in %d ms)",
                          m.p, name, kv->cfg.lock_ttl_ms);
        tess__buf_release(&m);
    } else if (res != 1) {
        rc = tess__err_set(err, TESS_EIO,
                           "online store %s: lock \"%s\" was lost while held (its "
                           "lease ran out): another process may have held it meanwhile",
                           kv->where, name);
    }
    pthread_cond_destroy(&lk->cv);
    pthread_mutex_destroy(&lk->mu);
    tess__free(lk);
    return rc;
}
