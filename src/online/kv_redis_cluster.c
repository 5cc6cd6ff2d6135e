/* kv_redis_cluster.c — what the Redis back end needs to know about Redis Cluster: where a
 * key is stored (its hash tag and slot), the slot map, and MOVED / ASK answers.
 *
 * Hash tags. Redis runs a transaction, a script or a multi-key command only on keys of one
 * hash slot. The online store's keys are <type byte><view name>'#'<group>NUL<entity> (heads
 * 'v', histories 'h') and 'm'<view name>'#'<group> (the group's meta record), and the layer
 * above updates a slot group's meta record in the same transaction as the group's records
 * (docs/online.md, "Accounting"). So the tag of a key is its bytes after the first one, up to
 * the first NUL (all of them if there is none): an entity's records and its group's meta
 * record land in one slot, a view's groups in many. The key is stored as
 *     "{" esc(tag) "}" key
 * where esc writes '}' as "%7D" and '%' as "%25" (so the tag Redis hashes — the bytes between
 * the first '{' and the next '}' — is exactly esc(tag), whatever the key's bytes), and an
 * empty tag as "%" (Redis would hash the whole key for "{}"). The key itself follows whole,
 * so the stored form is told back into the key by cutting at the first '}'.
 *
 * The slot map: for each of the 16384 slots, the node serving it (CLUSTER SLOTS, read at open
 * from the first node of the URL that answers). A MOVED answer updates the slot's entry at
 * once and marks the map stale; so does a node that fails (a failover promotes a replica);
 * the next operation then reads the whole map again (tess__rop_begin).
 */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "online/kv_redis_int.h"
#include "tessera.h"

/* CRC16-CCITT (XMODEM: polynomial 0x1021, initial value 0), Redis Cluster's key hash. */
static uint16_t crc16(const char *p, size_t n)
{
    uint16_t crc = 0;
    for (size_t i = 0; i < n; i++) {
        crc ^= (uint16_t)((unsigned char)p[i] << 8);
        for (int b = 0; b < 8; b++)
            crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
    }
    return crc;
}

int tess__rkv_keyslot(const char *k, size_t n)
{
    const char *open = memchr(k, '{', n);
    if (open) {
        size_t rest = n - (size_t)(open - k) - 1;
        const char *close = memchr(open + 1, '}', rest);
        if (close && close > open + 1)
            return crc16(open + 1, (size_t)(close - open - 1)) & (TESS__RKV_SLOTS - 1);
    }
    return crc16(k, n) & (TESS__RKV_SLOTS - 1);
}

/* Appends esc(tag) ("%" for an empty tag). */
static int put_tag(tess__buf *out, const char *t, size_t n)
{
    if (n == 0) return tess__buf_putc(out, '%');
    for (size_t i = 0; i < n; i++) {
        int rc = t[i] == '}'   ? tess__buf_puts(out, "%7D")
                 : t[i] == '%' ? tess__buf_puts(out, "%25")
                               : tess__buf_putc(out, t[i]);
        if (rc) return TESS_ENOMEM;
    }
    return TESS_OK;
}

int tess__rkv_stored_key(tess__buf *out, tess__str key)
{
    const char *t = key.p + 1;
    size_t tn = key.n - 1;
    const char *nul = memchr(t, 0, tn);
    if (nul) tn = (size_t)(nul - t);
    if (tess__buf_putc(out, '{') || put_tag(out, t, tn) || tess__buf_putc(out, '}') ||
        tess__buf_append(out, key.p, key.n))
        return TESS_ENOMEM;
    return TESS_OK;
}

bool tess__rkv_orig_key(tess__str stored, tess__str *key)
{
    if (stored.n < 2 || stored.p[0] != '{') return false;
    const char *close = memchr(stored.p + 1, '}', stored.n - 1);
    if (!close) return false;
    *key = (tess__str){close + 1, stored.n - (size_t)(close + 1 - stored.p)};
    return true;
}

int tess__rkv_stored_prefix(tess__buf *out, tess__str prefix, bool *one_slot)
{
    *one_slot = false;
    if (prefix.n >= 2 && memchr(prefix.p + 1, 0, prefix.n - 1)) {
        *one_slot = true; /* the tag ends inside the prefix */
        return tess__rkv_stored_key(out, prefix);
    }
    /* the tag starts with prefix[1..] (per byte, so its escaped form starts with theirs) */
    if (tess__buf_putc(out, '{')) return TESS_ENOMEM;
    for (size_t i = 1; i < prefix.n; i++)
        if (put_tag(out, prefix.p + i, 1)) return TESS_ENOMEM;
    return TESS_OK;
}

int tess__rkv_slot_node(tess__rkv *kv, int slot)
{
    pthread_mutex_lock(&kv->lock);
    int nd = (int)kv->slot[slot] - 1;
    pthread_mutex_unlock(&kv->lock);
    return nd;
}

/* The node of "host:port" (the last ':' splits; "" host: the host of node `from`). */
static int parse_addr(tess__rkv *kv, const char *s, size_t n, int from)
{
    const char *colon = NULL;
    for (size_t i = 0; i < n; i++)
        if (s[i] == ':') colon = s + i;
    if (!colon) return -1;
    long port = 0;
    for (const char *p = colon + 1; p < s + n; p++) {
        if (*p < '0' || *p > '9' || port > 65535) return -1;
        port = port * 10 + (*p - '0');
    }
    if (port < 1 || port > 65535) return -1;
    const char *h = s;
    size_t hn = (size_t)(colon - s);
    if (hn >= 2 && h[0] == '[' && h[hn - 1] == ']') { /* [v6] */
        h++;
        hn -= 2;
    }
    if (hn == 0) {
        if (from < 0) return -1;
        pthread_mutex_lock(&kv->lock);
        h = kv->node[from]->host;
        pthread_mutex_unlock(&kv->lock);
        hn = strlen(h);
    }
    return tess__rkv_node(kv, h, hn, (int)port);
}

int tess__rkv_redirect(tess__rop *op, const redisReply *r, int from, int *node)
{
    *node = -1;
    if (r->type != REDIS_REPLY_ERROR || !r->str) return 0;
    tess__rkv *kv = op->kv;
    bool moved = r->len > 6 && memcmp(r->str, "MOVED ", 6) == 0;
    bool ask = r->len > 4 && memcmp(r->str, "ASK ", 4) == 0;
    if (!moved && !ask) return r->len >= 8 && memcmp(r->str, "TRYAGAIN", 8) == 0 ? 3 : 0;
    const char *s = r->str + (moved ? 6 : 4), *end = r->str + r->len;
    long slot = 0;
    while (s < end && *s >= '0' && *s <= '9' && slot < TESS__RKV_SLOTS)
        slot = slot * 10 + (*s++ - '0');
    if (s >= end || *s != ' ' || slot >= TESS__RKV_SLOTS) return 0;
    s++;
    int nd = parse_addr(kv, s, (size_t)(end - s), from);
    if (nd < 0) return 0; /* unreadable (or no memory): reported as the error it is */
    *node = nd;
    if (moved) {
        pthread_mutex_lock(&kv->lock);
        kv->slot[slot] = (uint16_t)(nd + 1);
        kv->stale = true; /* the cluster changed: read the whole map at the next operation */
        pthread_mutex_unlock(&kv->lock);
        return 1;
    }
    return 2;
}

/* Reads CLUSTER SLOTS' answer into map (node index + 1 per slot). */
static int read_slots(tess__rop *op, int from, const redisReply *r, uint16_t *map)
{
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *e = r->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 ||
            e->element[0]->type != REDIS_REPLY_INTEGER ||
            e->element[1]->type != REDIS_REPLY_INTEGER ||
            e->element[2]->type != REDIS_REPLY_ARRAY || e->element[2]->elements < 2)
            return tess__rop_reply_error(op, -1, e);
        const redisReply *h = e->element[2]->element[0], *p = e->element[2]->element[1];
        long long lo = e->element[0]->integer, hi = e->element[1]->integer;
        if (h->type != REDIS_REPLY_STRING || p->type != REDIS_REPLY_INTEGER || lo < 0 ||
            hi >= TESS__RKV_SLOTS || lo > hi || p->integer < 1 || p->integer > 65535)
            return tess__rop_reply_error(op, -1, e);
        int nd;
        if (h->len == 0 || (h->len == 1 && h->str[0] == '?')) { /* the node we asked */
            nd = from;
        } else {
            const char *hs = h->str;
            size_t hn = h->len;
            nd = tess__rkv_node(op->kv, hs, hn, (int)p->integer);
        }
        if (nd < 0) return tess__rop_oom(op);
        for (long long s = lo; s <= hi; s++)
            map[s] = (uint16_t)(nd + 1);
    }
    return TESS_OK;
}

int tess__rkv_refresh(tess__rop *op)
{
    tess__rkv *kv = op->kv;
    uint16_t *map = tess__calloc(TESS__RKV_SLOTS, sizeof(uint16_t));
    if (!map) return tess__rop_oom(op);
    tess__err first = TESS__ERR_INIT;
    tess__err *err = op->err;
    int rc = TESS_EIO;
    pthread_mutex_lock(&kv->lock);
    int nnode = kv->nnode;
    pthread_mutex_unlock(&kv->lock);
    /* the nodes of the current map first, then the others (the URL's among them) */
    for (int pass = 0; pass < 2 && rc != TESS_OK; pass++) {
        for (int nd = 0; nd < nnode && rc != TESS_OK; nd++) {
            bool in_map = false;
            pthread_mutex_lock(&kv->lock);
            for (int s = 0; s < TESS__RKV_SLOTS && !in_map; s++)
                in_map = kv->slot[s] == nd + 1;
            pthread_mutex_unlock(&kv->lock);
            if (in_map != (pass == 0)) continue;
            tess__err e = TESS__ERR_INIT;
            op->err = &e;
            int ci;
            redisReply *r = NULL;
            rc = tess__rop_conn(op, nd, true, &ci);
            if (rc == TESS_OK)
                rc = tess__rop_command(op, ci, 2, (const char *[]){"CLUSTER", "SLOTS"},
                                       (size_t[]){7, 5}, &r);
            if (rc == TESS_OK && r->type == REDIS_REPLY_ERROR && strstr(r->str, "disabled")) {
                pthread_mutex_lock(&kv->lock);
                const char *addr = kv->node[nd]->addr; /* immutable once made */
                pthread_mutex_unlock(&kv->lock);
                rc = tess__err_set(op->err, TESS_ECONFIG,
                                   "online store %s: %s: %s is not a "
                                   "cluster node (cluster support disabled: use redis://)",
                                   kv->where, op->what, addr);
                pass = 2; /* a configuration error: no other node will do better */
            } else if (rc == TESS_OK && r->type != REDIS_REPLY_ARRAY) {
                rc = tess__rop_reply_error(op, ci, r);
            } else if (rc == TESS_OK) {
                memset(map, 0, TESS__RKV_SLOTS * sizeof(uint16_t));
                rc = read_slots(op, nd, r, map);
            }
            if (r) freeReplyObject(r);
            op->err = err;
            if (rc != TESS_OK && (first.rc == TESS_OK || rc == TESS_ECONFIG))
                tess__err_set(&first, rc, "%s", tess__err_msg(&e));
            tess__err_release(&e);
            if (pass == 2) break;
        }
    }
    if (rc == TESS_OK) {
        bool full = true;
        for (int s = 0; s < TESS__RKV_SLOTS && full; s++)
            full = map[s] != 0;
        pthread_mutex_lock(&kv->lock);
        memcpy(kv->slot, map, TESS__RKV_SLOTS * sizeof(uint16_t));
        kv->stale = !full; /* slots without a node: ask again next time */
        pthread_mutex_unlock(&kv->lock);
        op->refreshed = true;
    } else {
        rc = tess__err_set(err, first.rc ? first.rc : TESS_EIO, "%s%s", tess__err_msg(&first),
                           first.rc == TESS_ECONFIG ? "" : " (no node of the cluster answered)");
    }
    tess__err_release(&first);
    tess__free(map);
    return rc;
}
