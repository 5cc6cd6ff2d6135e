/* kv_redis_scan.c — the Redis back ends' operations over many keys: scan and drop_prefix of
 * a prefix, and stats (kv_redis.c has the others; kv_redis_int.h what they share).
 *
 *   scan         per node, a Lua script lists the keys of the prefix (SCAN MATCH inside the
 *                script, so atomically) and, when they hold at most SCAN_SNAPSHOT_BYTES,
 *                returns their values too: one snapshot per node. Bigger results come back as
 *                keys and lengths only; the values are then fetched by gets of up to
 *                SCAN_BATCH_BYTES / SCAN_BATCH_KEYS. Keys are sorted here (memcmp order) and fn
 *                is called with no connection held.
 *   drop_prefix  per node a Lua script: SCAN MATCH + UNLINK inside the server, atomic.
 *   stats        per node DBSIZE and INFO memory's used_memory, summed; one round trip.
 *
 * The nodes: a single server; in a cluster, the one node of a prefix that fixes the hash tag
 * (the script then declares a key of that slot, so a moved slot answers MOVED), else every
 * master of the slot map. The scripts see stored keys and give back the store's keys (a
 * cluster's "{tag}key" cut at its first '}'); the locks' keys are never the store's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "online/kv_redis_int.h"
#include "tessera.h"

#define SCRIPT_TIMEOUT_MS 60000         /* at least this long for scan / drop_prefix scripts */
#define REDIRECTS 16                    /* MOVED / ASK followed */
#define SCAN_SNAPSHOT_BYTES (64u << 20) /* keys + values a scan returns in one snapshot */
#define SCAN_BATCH_BYTES (8u << 20)     /* beyond it: values fetched by gets of this size */
#define SCAN_BATCH_KEYS 1000

typedef tess__rkv redis_kv;
typedef tess__rop rop;

static struct timeval ms_tv(int ms)
{
    return (struct timeval){ms / 1000, (ms % 1000) * 1000};
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

/* The scripts' common head. ARGV: pattern, prefix, budget, mode ("1": keys are stored forms
 * "{tag}key" of a cluster; "0": keys as they are, locks' keys left out). orig(k) is the key
 * that k stores, nil for keys that are not the store's. SCAN may repeat a key. */
#define LUA_HEAD                                                                                   \
    "local pat, pre, cl = ARGV[1], ARGV[2], ARGV[4] == '1'\n"                                      \
    "local lockp = '" TESS__RKV_LOCK_PREFIX "'\n"                                                  \
    "local function orig(k)\n"                                                                     \
    "  if cl then\n"                                                                               \
    "    if string.byte(k, 1) ~= 123 then return nil end\n"                                        \
    "    local e = string.find(k, '}', 2, true)\n"                                                 \
    "    if not e then return nil end\n"                                                           \
    "    return string.sub(k, e + 1)\n"                                                            \
    "  end\n"                                                                                      \
    "  if string.sub(k, 1, #lockp) == lockp then return nil end\n"                                 \
    "  return k\n"                                                                                 \
    "end\n"                                                                                        \
    "local plen, cur = #pre, '0'\n"

/* Returns {1, k1, v1, k2, v2, ...} (one snapshot) or, when the keys and values pass the
 * budget, {0, k1, len1, k2, len2, ...}; the keys are the store's (not their stored forms). */
static const char SCAN_LUA[] =
    LUA_HEAD "local budget, keys, okeys, seen = tonumber(ARGV[3]), {}, {}, {}\n"
             "repeat\n"
             "  local r = redis.call('SCAN', cur, 'MATCH', pat, 'COUNT', 1000)\n"
             "  cur = r[1]\n"
             "  for _, k in ipairs(r[2]) do\n"
             "    local o = orig(k)\n"
             "    if o and not seen[k] and string.sub(o, 1, plen) == pre then\n"
             "      seen[k] = true\n"
             "      keys[#keys + 1] = k\n"
             "      okeys[#okeys + 1] = o\n"
             "    end\n"
             "  end\n"
             "until cur == '0'\n"
             "local total, lens = 0, {}\n"
             "for i, k in ipairs(keys) do\n"
             "  lens[i] = redis.call('STRLEN', k)\n"
             "  total = total + lens[i] + #okeys[i]\n"
             "end\n"
             "local out = {1}\n"
             "if total > budget then\n"
             "  out[1] = 0\n"
             "  for i, o in ipairs(okeys) do out[#out + 1] = o; out[#out + 1] = lens[i] end\n"
             "  return out\n"
             "end\n"
             "for i, k in ipairs(keys) do\n"
             "  local v = redis.call('GET', k)\n"
             "  if v then out[#out + 1] = okeys[i]; out[#out + 1] = v end\n"
             "end\n"
             "return out\n";

/* Returns the number of keys unlinked. */
static const char DROP_LUA[] =
    LUA_HEAD "local n = 0\n"
             "repeat\n"
             "  local r = redis.call('SCAN', cur, 'MATCH', pat, 'COUNT', 1000)\n"
             "  cur = r[1]\n"
             "  local ks = {}\n"
             "  for _, k in ipairs(r[2]) do\n"
             "    local o = orig(k)\n"
             "    if o and string.sub(o, 1, plen) == pre then ks[#ks + 1] = k end\n"
             "  end\n"
             "  local step = cl and 1 or 500\n" /* a cluster: one slot per command */
             "  for i = 1, #ks, step do\n"
             "    n = n + redis.call('UNLINK', unpack(ks, i, math.min(i + step - 1, #ks)))\n"
             "  end\n"
             "until cur == '0'\n"
             "return n\n";

/* The nodes a scan or drop of `prefix` runs on, and the script's arguments. */
typedef struct pscan {
    tess__buf pat;    /* MATCH pattern */
    tess__buf tagkey; /* one slot: a key of it, declared to the script (MOVED if it moved) */
    int slot;         /* one slot: it; -1 every node */
    int *nodes;
    int nn;
} pscan;

static void pscan_release(pscan *s)
{
    tess__buf_release(&s->pat);
    tess__buf_release(&s->tagkey);
    tess__free(s->nodes);
}

/* Which nodes, with what pattern. */
static int pscan_make(rop *op, tess__str prefix, pscan *s)
{
    redis_kv *kv = op->kv;
    *s = (pscan){.pat = TESS__BUF_INIT, .tagkey = TESS__BUF_INIT, .slot = -1};
    if (!kv->cfg.cluster) {
        if (glob_of(prefix, &s->pat) || !(s->nodes = tess__malloc(sizeof(int))))
            return tess__rop_oom(op);
        s->nodes[0] = 0;
        s->nn = 1;
        return TESS_OK;
    }
    tess__buf sp = TESS__BUF_INIT;
    bool one = false;
    int rc = tess__rkv_stored_prefix(&sp, prefix, &one);
    if (rc == TESS_OK && glob_of((tess__str){sp.p, sp.len}, &s->pat)) rc = TESS_ENOMEM;
    if (rc == TESS_OK && one) {
        const char *close = memchr(sp.p, '}', sp.len); /* "{tag}": a key of the slot */
        if (tess__buf_append(&s->tagkey, sp.p, (size_t)(close - sp.p) + 1))
            rc = TESS_ENOMEM;
        else
            s->slot = tess__rkv_keyslot(s->tagkey.p, s->tagkey.len);
    }
    tess__buf_release(&sp);
    if (rc == TESS_OK && !(s->nodes = tess__malloc((size_t)(kv->nnode + 1) * sizeof(int))))
        rc = TESS_ENOMEM;
    if (rc != TESS_OK) return tess__rop_oom(op);
    if (one) {
        int nd = tess__rkv_slot_node(kv, s->slot);
        if (nd < 0)
            return tess__err_set(op->err, TESS_EIO,
                                 "online store %s: %s: no node serves hash "
                                 "slot %d (the cluster is down or being reconfigured)",
                                 kv->where, op->what, s->slot);
        s->nodes[s->nn++] = nd;
        return TESS_OK;
    }
    /* every node that serves a slot; every slot must be served (else keys would be missed) */
    pthread_mutex_lock(&kv->lock);
    int missing = -1;
    char *seen = tess__calloc((size_t)kv->nnode + 1, 1);
    for (int i = 0; seen && i < TESS__RKV_SLOTS; i++) {
        int nd = (int)kv->slot[i] - 1;
        if (nd < 0) {
            if (missing < 0) missing = i;
            continue;
        }
        if (!seen[nd]) {
            seen[nd] = 1;
            s->nodes[s->nn++] = nd;
        }
    }
    pthread_mutex_unlock(&kv->lock);
    if (!seen) return tess__rop_oom(op);
    tess__free(seen);
    if (missing >= 0)
        return tess__err_set(op->err, TESS_EIO,
                             "online store %s: %s: no node serves hash slot "
                             "%d (the cluster is down or being reconfigured)",
                             kv->where, op->what, missing);
    return TESS_OK;
}

/* Runs `script` on every node of s (pipelined), following MOVED for a one-slot prefix;
 * replies[k] is node k's answer (freed by the caller). */
static int eval_nodes(rop *op, pscan *s, const char *script, tess__str prefix, const char *extra,
                      redisReply **replies)
{
    redis_kv *kv = op->kv;
    const char *mode = kv->cfg.cluster ? "1" : "0";
    int *ci = tess__calloc((size_t)s->nn, sizeof(int));
    if (!ci) return tess__rop_oom(op);
    int rc = TESS_OK;
    for (int round = 1; rc == TESS_OK; round++) {
        for (int k = 0; k < s->nn && rc == TESS_OK; k++) {
            if (replies[k]) continue;
            if ((rc = tess__rop_conn(op, s->nodes[k], false, &ci[k]))) break;
            bool one = s->tagkey.len > 0;
            const char *argv[8] = {"EVAL", script, one ? "1" : "0"};
            size_t lens[8] = {4, strlen(script), 1};
            int c = 3;
            if (one) {
                argv[c] = s->tagkey.p;
                lens[c++] = s->tagkey.len;
            }
            argv[c] = s->pat.p;
            lens[c++] = s->pat.len;
            argv[c] = prefix.p;
            lens[c++] = prefix.n;
            argv[c] = extra ? extra : "0";
            lens[c++] = extra ? strlen(extra) : 1;
            argv[c] = mode;
            lens[c++] = 1;
            if (kv->cfg.timeout_ms < SCRIPT_TIMEOUT_MS) {
                redisSetTimeout(op->cs[ci[k]].c, ms_tv(SCRIPT_TIMEOUT_MS));
                op->tmo = SCRIPT_TIMEOUT_MS;
            }
            tess__rop_append(op, ci[k], c, argv, lens);
        }
        if (rc == TESS_OK) rc = tess__rop_flush(op);
        bool again = false;
        for (int k = 0; k < s->nn && rc == TESS_OK; k++) {
            if (replies[k]) continue;
            redisReply *r;
            if ((rc = tess__rop_reply(op, ci[k], false, &r))) break;
            int nd = -1, kind = s->slot >= 0 && r->type == REDIS_REPLY_ERROR
                                    ? tess__rkv_redirect(op, r, s->nodes[k], &nd)
                                    : 0;
            if (kind) {
                freeReplyObject(r);
                if (round > REDIRECTS) {
                    rc = tess__err_set(op->err, TESS_EIO,
                                       "online store %s: %s: hash slot %d: "
                                       "still redirected after %d attempts",
                                       kv->where, op->what, s->slot, REDIRECTS);
                    break;
                }
                int now = tess__rkv_slot_node(kv, s->slot);
                s->nodes[k] = kind == 1 && now >= 0 ? now : s->nodes[k];
                again = true;
                continue;
            }
            replies[k] = r;
        }
        if (rc != TESS_OK || !again) break;
        tess__rkv_backoff(round);
    }
    for (int k = 0; k < s->nn; k++)
        if (op->cs[ci[k]].c && kv->cfg.timeout_ms < SCRIPT_TIMEOUT_MS)
            redisSetTimeout(op->cs[ci[k]].c, ms_tv(kv->cfg.timeout_ms));
    op->tmo = kv->cfg.timeout_ms;
    tess__free(ci);
    if (rc != TESS_OK) tess__rop_abandon(op);
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

/* Values of pairs [from, to) by a get, then fn for each key that still exists. */
static int scan_batch(redis_kv *kv, kvpair *p, size_t from, size_t to, tess__kv_scan_fn fn,
                      void *arg, tess__err *err)
{
    size_t n = to - from;
    tess__str *keys = tess__malloc(n * sizeof(*keys)), *vals = tess__malloc(n * sizeof(*vals));
    tess__arena arena = TESS__ARENA_INIT;
    int rc = keys && vals ? TESS_OK
                          : tess__err_set(err, TESS_ENOMEM,
                                          "online store %s: scan: out of "
                                          "memory",
                                          kv->where);
    for (size_t i = 0; rc == TESS_OK && i < n; i++)
        keys[i] = (tess__str){p[from + i].k, p[from + i].kn};
    if (rc == TESS_OK) {
        rop op;
        rc = tess__rop_begin(&op, kv, "scan", err);
        if (rc == TESS_OK) rc = tess__rop_get(&op, keys, n, vals, &arena);
        tess__rop_end(&op); /* fn may call other operations: no connection held */
    }
    for (size_t i = 0; rc == TESS_OK && i < n; i++)
        if (vals[i].p) rc = fn(arg, keys[i], vals[i]); /* NULL: deleted since the listing */
    tess__arena_release(&arena);
    tess__free(keys);
    tess__free(vals);
    return rc;
}

int tess__rkv_scan(tess__kv *base, tess__str prefix, tess__kv_scan_fn fn, void *arg, tess__err *err)
{
    redis_kv *kv = (redis_kv *)base;
    char budget[24];
    snprintf(budget, sizeof(budget), "%u", (unsigned)SCAN_SNAPSHOT_BYTES);
    rop op;
    pscan s = {0};
    redisReply **r = NULL;
    kvpair *p = NULL;
    size_t np = 0;
    int rc = tess__rop_begin(&op, kv, "scan", err);
    if (rc == TESS_OK) rc = pscan_make(&op, prefix, &s);
    if (rc == TESS_OK && !(r = tess__calloc((size_t)s.nn, sizeof(*r)))) rc = tess__rop_oom(&op);
    if (rc == TESS_OK) rc = eval_nodes(&op, &s, SCAN_LUA, prefix, budget, r);
    for (int k = 0; rc == TESS_OK && k < s.nn; k++) {
        if (r[k]->type != REDIS_REPLY_ARRAY || r[k]->elements % 2 != 1 ||
            r[k]->element[0]->type != REDIS_REPLY_INTEGER)
            rc = tess__rop_reply_error(&op, -1, r[k]);
        else
            np += r[k]->elements / 2;
    }
    tess__rop_end(&op);
    if (rc != TESS_OK) goto out;
    p = tess__malloc((np ? np : 1) * sizeof(kvpair));
    if (!p) {
        rc = tess__err_set(err, TESS_ENOMEM, "online store %s: scan: out of memory", kv->where);
        goto out;
    }
    np = 0;
    for (int k = 0; k < s.nn; k++) {
        bool snapshot = r[k]->element[0]->integer == 1;
        for (size_t i = 0; i < r[k]->elements / 2; i++) {
            const redisReply *kr = r[k]->element[1 + 2 * i], *vr = r[k]->element[2 + 2 * i];
            if (kr->type != REDIS_REPLY_STRING ||
                vr->type != (snapshot ? REDIS_REPLY_STRING : REDIS_REPLY_INTEGER)) {
                rc = tess__err_set(err, TESS_EIO, "online store %s: scan: unexpected reply",
                                   kv->where);
                goto out;
            }
            p[np++] = snapshot ? (kvpair){kr->str, kr->len, vr->len ? vr->str : "", vr->len}
                               : (kvpair){kr->str, kr->len, NULL, (size_t)vr->integer};
        }
    }
    qsort(p, np, sizeof(kvpair), pair_cmp);
    for (size_t from = 0; rc == TESS_OK && from < np;) {
        if (p[from].v) {
            rc = fn(arg, (tess__str){p[from].k, p[from].kn}, (tess__str){p[from].v, p[from].vn});
            from++;
            continue;
        }
        size_t to = from, bytes = 0;
        while (
            to < np && !p[to].v &&
            (to == from || (to - from < SCAN_BATCH_KEYS && bytes + p[to].vn <= SCAN_BATCH_BYTES)))
            bytes += p[to++].vn;
        rc = scan_batch(kv, p, from, to, fn, arg, err);
        from = to;
    }
out:
    tess__free(p);
    for (int k = 0; r && k < s.nn; k++)
        if (r[k]) freeReplyObject(r[k]);
    tess__free(r);
    pscan_release(&s);
    return rc;
}

int tess__rkv_drop_prefix(tess__kv *base, tess__str prefix, uint64_t *deleted, tess__err *err)
{
    redis_kv *kv = (redis_kv *)base;
    rop op;
    pscan s = {0};
    redisReply **r = NULL;
    int rc = tess__rop_begin(&op, kv, "drop_prefix", err);
    if (rc == TESS_OK) rc = pscan_make(&op, prefix, &s);
    if (rc == TESS_OK && !(r = tess__calloc((size_t)s.nn, sizeof(*r)))) rc = tess__rop_oom(&op);
    if (rc == TESS_OK) rc = eval_nodes(&op, &s, DROP_LUA, prefix, NULL, r);
    for (int k = 0; rc == TESS_OK && k < s.nn; k++) {
        if (r[k]->type != REDIS_REPLY_INTEGER)
            rc = tess__rop_reply_error(&op, -1, r[k]);
        else
            *deleted += (uint64_t)r[k]->integer;
    }
    for (int k = 0; r && k < s.nn; k++)
        if (r[k]) freeReplyObject(r[k]);
    tess__free(r);
    pscan_release(&s);
    tess__rop_end(&op);
    return rc;
}

/* ---- stats -------------------------------------------------------------------------------- */

int tess__rkv_stats(tess__kv *base, uint64_t *bytes, uint64_t *keys, tess__err *err)
{
    redis_kv *kv = (redis_kv *)base;
    rop op;
    pscan s = {0};
    int rc = tess__rop_begin(&op, kv, "stats", err);
    if (rc == TESS_OK) rc = pscan_make(&op, (tess__str){"", 0}, &s); /* every node */
    int *ci = rc == TESS_OK ? tess__calloc((size_t)s.nn, sizeof(int)) : NULL;
    if (rc == TESS_OK && !ci) rc = tess__rop_oom(&op);
    for (int k = 0; rc == TESS_OK && k < s.nn; k++) {
        if ((rc = tess__rop_conn(&op, s.nodes[k], false, &ci[k]))) break;
        tess__rop_append(&op, ci[k], 1, (const char *[]){"DBSIZE"}, (size_t[]){6});
        tess__rop_append(&op, ci[k], 2, (const char *[]){"INFO", "memory"}, (size_t[]){4, 6});
    }
    if (rc == TESS_OK) rc = tess__rop_flush(&op);
    for (int k = 0; rc == TESS_OK && k < s.nn; k++) {
        redisReply *d = NULL, *m = NULL;
        rc = tess__rop_reply(&op, ci[k], false, &d);
        if (rc == TESS_OK) rc = tess__rop_reply(&op, ci[k], false, &m);
        if (rc == TESS_OK && d->type != REDIS_REPLY_INTEGER)
            rc = tess__rop_reply_error(&op, ci[k], d);
        if (rc == TESS_OK && m->type != REDIS_REPLY_STRING)
            rc = tess__rop_reply_error(&op, ci[k], m);
        if (rc == TESS_OK) {
            *keys += (uint64_t)d->integer;
            const char *u = strstr(m->str, "used_memory:");
            *bytes += u ? strtoull(u + 12, NULL, 10) : 0;
        }
        if (d) freeReplyObject(d);
        if (m) freeReplyObject(m);
    }
    if (rc != TESS_OK) tess__rop_abandon(&op);
    tess__free(ci);
    pscan_release(&s);
    tess__rop_end(&op);
    return rc;
}
