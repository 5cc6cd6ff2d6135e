/* kv_redis_int.h — what the files of the Redis back ends share: the handle, its nodes and
 * their connection pools, an operation's hold on connections, and key routing.
 *
 *   kv_redis.c          the URL, connections, operations (get, update, put, scan, drop_prefix,
 *                       stats) for both redis:// and redis-cluster://, and the two vtabs
 *   kv_redis_scan.c     scan, drop_prefix and stats over every node
 *   kv_redis_cluster.c  Redis Cluster: hash tags (the stored form of a key), CRC16 slots, the
 *                       slot map (CLUSTER SLOTS) and MOVED / ASK replies
 *   kv_redis_lock.c     the lock shared across machines (SET NX PX, renewal, release)
 *
 * A single server is a cluster of one node that owns every key: routing answers node 0 and
 * keys are stored as they are. docs/online_backends.md has the guarantees.
 */
#ifndef TESS_ONLINE_KV_REDIS_INT_H
#define TESS_ONLINE_KV_REDIS_INT_H

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/buf.h"
#include "online/kv_int.h"

#define TESS__RKV_SLOTS 16384
#define TESS__RKV_MAX_IDLE 16                 /* idle connections kept per node */
#define TESS__RKV_LOCK_PREFIX "tessera-lock:" /* keys of locks (never a stored key's form) */

/* One server: its address and its pool of idle connections. Never freed before the handle. */
typedef struct tess__rnode {
    char *host; /* no brackets around an IPv6 address */
    int port;
    char *addr; /* "host:port" ("[v6]:port") for messages */
    redisContext *idle[TESS__RKV_MAX_IDLE];
    uint64_t idle_gen[TESS__RKV_MAX_IDLE];
    int nidle;
    uint64_t gen; /* raised when a connection fails: older idle connections are closed */
} tess__rnode;

typedef struct tess__rcfg {
    bool cluster; /* redis-cluster:// */
    char **hosts; /* the URL's servers (cluster: the seeds) */
    int *ports;
    int nhosts;
    int db;
    char *user; /* AUTH user (NULL: none; "" with a password: AUTH password alone) */
    char *pass; /* NULL: no AUTH */
    int connect_ms;
    int timeout_ms;
    int lock_ttl_ms;
} tess__rcfg;

typedef struct tess__rkv {
    tess__kv base;
    tess__rcfg cfg;
    char *where;          /* the URL for messages (never the password) */
    pthread_mutex_t lock; /* guards nodes, pools and the slot map */
    tess__rnode **node;
    int nnode, nodecap;
    uint16_t *slot; /* cluster: per hash slot, the index + 1 of its node (0: none known) */
    bool stale;     /* cluster: refresh the slot map before the next operation */
    pid_t pid;      /* the process the idle connections belong to */
} tess__rkv;

/* One connection an operation holds. */
typedef struct tess__rconn {
    int node;
    redisContext *c;
    uint64_t gen;
    bool broken; /* must not be reused */
    bool lane;   /* taken for one group of keys alone (update), not shared */
    bool sent;   /* commands appended since the last flush */
} tess__rconn;

/* One operation's hold on connections (tess__rop_begin .. tess__rop_end). */
typedef struct tess__rop {
    tess__rkv *kv;
    const char *what;
    tess__err *err;
    tess__rconn *cs;
    int ncs, cap;
    tess__rconn small[4];
    bool masked;    /* SIGPIPE was blocked by this operation */
    bool refreshed; /* the slot map was read again during this operation */
    int tmo;        /* the command timeout in force (ms), for messages */
    sigset_t old_mask;
} tess__rop;

/* ---- operations and connections (kv_redis.c) ---- */

/* Starts an operation (SIGPIPE blocked until tess__rop_end); refreshes a stale slot map. */
int tess__rop_begin(tess__rop *op, tess__rkv *kv, const char *what, tess__err *err);
/* A connection to node `node` for this operation: the one it already holds (lane false) or
 * a new one of its own (lane true). *ci is its index in op->cs. Errors: TESS_EIO, TESS_ENOMEM,
 * TESS_ECONFIG (authentication). */
int tess__rop_conn(tess__rop *op, int node, bool lane, int *ci);
/* Gives every connection back (or closes the broken ones) and restores the signal mask. */
void tess__rop_end(tess__rop *op);
/* Sends what was appended on every connection of the operation. */
int tess__rop_flush(tess__rop *op);
/* The next reply on connection ci (freed by the caller). `wrote`: a write was sent. */
int tess__rop_reply(tess__rop *op, int ci, bool wrote, redisReply **out);
/* One command on connection ci, one reply. */
int tess__rop_command(tess__rop *op, int ci, int argc, const char **argv, const size_t *lens,
                      redisReply **out);
/* One command whose keys all lie in hash slot `slot` (-1: a single server), following MOVED,
 * ASK and TRYAGAIN; *out is the reply (freed by the caller). */
int tess__rop_slot_command(tess__rop *op, int slot, int argc, const char **argv, const size_t *lens,
                           redisReply **out);
/* Appends a command on connection ci (sent by tess__rop_flush). */
void tess__rop_append(tess__rop *op, int ci, int argc, const char **argv, const size_t *lens);
/* Marks every connection of the operation as not reusable (a round stopped half-way). */
void tess__rop_abandon(tess__rop *op);
/* The values of keys[0..n) (kv.h's get) within the operation. */
int tess__rop_get(tess__rop *op, const tess__str *keys, size_t n, tess__str *vals,
                  tess__arena *arena);
/* An error or unexpected reply as TESS_EIO. */
int tess__rop_reply_error(tess__rop *op, int ci, const redisReply *r);
int tess__rop_oom(tess__rop *op);
/* The node of address host:port (added if new). -1: out of memory. Takes kv->lock. */
int tess__rkv_node(tess__rkv *kv, const char *host, size_t hostn, int port);
/* A randomised exponential backoff (attempt 1, 2, ...). */
void tess__rkv_backoff(int attempt);

/* ---- Redis Cluster (kv_redis_cluster.c) ---- */

/* The hash slot of a stored key (Redis's rule: CRC16 of the hash tag, or of the whole key). */
int tess__rkv_keyslot(const char *k, size_t n);
/* Appends the stored form of `key` ("{" tag "}" key, docs/online_backends.md). */
int tess__rkv_stored_key(tess__buf *out, tess__str key);
/* The key whose stored form is `stored`: false if it is not one (e.g. a lock's key). */
bool tess__rkv_orig_key(tess__str stored, tess__str *key);
/* For a scan or drop of `prefix`: true and the stored form of the prefix when every matching
 * key carries the same tag (one slot); false and the prefix every stored matching key starts
 * with otherwise. Errors only from memory (TESS_ENOMEM). */
int tess__rkv_stored_prefix(tess__buf *out, tess__str prefix, bool *one_slot);
/* Reads the slot map again (CLUSTER SLOTS of the first node that answers). */
int tess__rkv_refresh(tess__rop *op);
/* A redirection in reply r, received from node `from`: 0 none; 1 MOVED; 2 ASK; 3 TRYAGAIN.
 * For MOVED and ASK, *node is the node named (added if new); MOVED also updates the slot's
 * entry and marks the map stale (read again by the next operation). */
int tess__rkv_redirect(tess__rop *op, const redisReply *r, int from, int *node);
/* The node serving hash slot `slot` (-1: none known). Takes kv->lock. */
int tess__rkv_slot_node(tess__rkv *kv, int slot);

/* ---- scan, drop_prefix, stats (kv_redis_scan.c) ---- */

int tess__rkv_scan(tess__kv *kv, tess__str prefix, tess__kv_scan_fn fn, void *arg, tess__err *err);
int tess__rkv_drop_prefix(tess__kv *kv, tess__str prefix, uint64_t *deleted, tess__err *err);
int tess__rkv_stats(tess__kv *kv, uint64_t *bytes, uint64_t *keys, tess__err *err);

/* ---- the lock (kv_redis_lock.c) ---- */

int tess__rkv_lock(tess__kv *kv, const char *name, bool wait, void **out, tess__err *err);
int tess__rkv_unlock(tess__kv *kv, void *lk, tess__err *err);

#endif
