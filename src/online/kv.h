/* kv.h — the online store's back-end interface: a transactional key-value store of byte
 * strings. Every back end (LMDB embedded in the store directory, Redis, Redis Cluster)
 * implements these operations and passes the one conformance suite
 * (tests/unit/test_online_kv.c). What the bytes mean (records per feature view and entity:
 * the latest row and the window tiles, docs/online.md) is decided above this layer, in
 * src/online/record.c; a back end never interprets a value.
 *
 * Keys are at most TESS__KV_MAX_KEY bytes; values at most TESS__KV_MAX_VALUE. Keys group into
 * "namespaces" by a prefix the caller chooses (a view's records share the prefix of the view),
 * which tess__kv_scan and tess__kv_drop_prefix work on.
 *
 * Concurrency: a tess__kv handle may be used by many threads at once (each with its own arena);
 * each operation is atomic on its own. Several handles, in one process or in several, may open
 * the same store (LMDB: the handles of one process on one directory share one environment). Readers never wait for writers (LMDB: MVCC snapshots). Writers are serialised
 * across threads and processes by the back end; tess__kv_update's read-modify-write is atomic:
 * no other write to its keys can slip between its reads and its writes.
 *
 * Durability: a successful tess__kv_update / tess__kv_drop_prefix / tess__kv_put is on disk
 * when `sync` was requested at open (tess__kv_opts.sync), otherwise the back end may lose the
 * last writes in a crash (never tear them: after a crash the store holds a prefix of the
 * committed operations). docs/online_backends.md says what each back end guarantees exactly
 * (LMDB without sync: a power loss may undo the last commit; kill -9 loses nothing). The online
 * store is derived data: the offline store is the durable
 * copy and the watermarks (meta keys) say how far the online store has caught up.
 */
#ifndef TESS_ONLINE_KV_H
#define TESS_ONLINE_KV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/err.h"
#include "core/value.h"

#define TESS__KV_MAX_KEY 480             /* fits LMDB's default max key size (511) */
#define TESS__KV_MAX_VALUE (64u << 20)   /* 64 MiB */

typedef struct tess__kv tess__kv;

typedef struct tess__kv_opts {
    bool sync;         /* fsync every commit (default false: see Durability above) */
    bool read_only;    /* open for reading only (e.g. `tessera get` without a writer); writes
                          through the handle fail with TESS_EINVAL */
    size_t map_size;   /* LMDB: maximum size of the database file; 0 = default (64 GiB) */
} tess__kv_opts;

/*
 * Opens the back end named by `url`:
 *   NULL, "" or "lmdb"    the embedded LMDB environment in directory `dir` (created if missing)
 *   redis://[[user]:password@]host[:port][/db][?timeout=ms&connect_timeout=ms&lock_ttl=ms]
 *                         a Redis server (kv_redis.c; `dir` unused); docs/online_backends.md
 *   redis-cluster://[[user]:password@]host:port[,host:port...][?options]
 *                         a Redis Cluster (the same file; the listed nodes are where the slot
 *                         map is first read from). The guarantees of a cluster hold per hash
 *                         slot, see "Redis Cluster" below.
 * `opts` may be NULL (defaults). Errors: TESS_ECONFIG (unknown or malformed URL, a wrong
 * Redis password or database, a cluster URL naming a server not in cluster mode: err says
 * what), TESS_EIO (cannot create/open/lock the files, not a directory, a damaged data file, an
 * unreachable server or cluster: err names the path or host:port and the reason),
 * TESS_NOTFOUND (LMDB, read_only, and no store exists there yet: nothing was ever written),
 * TESS_EINVAL (no directory), TESS_ENOMEM.
 * *out is NULL on error. Close with tess__kv_close (NULL is ok).
 */
int tess__kv_open(const char *url, const char *dir, const tess__kv_opts *opts, tess__kv **out,
                  tess__err *err);
void tess__kv_close(tess__kv *kv);

/* The back end's name ("lmdb"), for messages and metrics. */
const char *tess__kv_name(const tess__kv *kv);

/* How many slot groups the layer above should divide a collection of keys into, each group
 * with its own bookkeeping in its own transactions (docs/online_backends.md, "Slot groups"):
 * 1 where one transaction may span every key (LMDB, one Redis server), TESS__KV_CLUSTER_GROUPS
 * for Redis Cluster, whose transactions span one hash slot. A power of two. */
#define TESS__KV_CLUSTER_GROUPS 256u
uint32_t tess__kv_slot_groups(const tess__kv *kv);

/*
 * Batch read: for i in [0, n), vals[i] = the value of keys[i], its bytes copied into `arena`
 * (NUL-terminated for convenience), or {NULL, 0} when the key is absent. One snapshot for the
 * whole batch (all values as of one instant); one round trip for network back ends.
 * Errors: TESS_EINVAL (a key empty or too long), TESS_EIO, TESS_ENOMEM. On error `vals` is
 * unspecified.
 */
int tess__kv_get(tess__kv *kv, const tess__str *keys, size_t n, tess__str *vals,
                 tess__arena *arena, tess__err *err);

/*
 * A read snapshot whose values are not copied: tess__kv_snap_get is tess__kv_get, except that
 * values may point into the back end's own memory (LMDB: the memory map) and are valid until
 * tess__kv_snap_end; every get of one snapshot sees the same instant (LMDB: one read
 * transaction; back ends without snapshots of their own copy the values into `arena`, and each
 * get is its own instant, as tess__kv_get). Values are not NUL-terminated and not aligned.
 * Keep a snapshot short: it holds the thread's reader slot (LMDB pages it sees are not reused
 * until it ends); no other operation of the same kv may run on the thread meanwhile. The
 * struct is the caller's (on the stack); its fields are the back end's.
 * Errors: as tess__kv_get. tess__kv_snap_end is a no-op on a snapshot whose begin failed.
 */
typedef struct tess__kv_snap {
    tess__kv *kv;
    void *p[2];
} tess__kv_snap;
int tess__kv_snap_begin(tess__kv *kv, tess__kv_snap *snap, tess__err *err);
int tess__kv_snap_get(tess__kv_snap *snap, const tess__str *keys, size_t n, tess__str *vals,
                      tess__arena *arena, tess__err *err);
void tess__kv_snap_end(tess__kv_snap *snap);

/*
 * Read-modify-write of a batch of keys, atomically (all of the batch's writes or none):
 * reads every key's current value (as tess__kv_get), then calls fn(arg, tx, i, old, &new) once
 * per key in order, where old is the current value ({NULL,0}: absent); fn sets *new to
 *   - a value to store (bytes owned by the caller, valid until tess__kv_update returns),
 *   - {NULL, 0} with *del = false to leave the key as it is,
 *   - anything with *del = true to delete the key.
 * old's bytes are valid only during that call of fn (copy what must outlive it); *new may
 * point into old's bytes. Through `tx`, fn may also read and write other keys in the same
 * atomic update (tess__kv_txn_get / tess__kv_txn_put below): a record kept as two keys is
 * read and rewritten together.
 * fn returning non-zero aborts the whole update: nothing is written and that code is returned
 * (fn sets err itself). Keys may repeat: a later occurrence sees the new value written for an
 * earlier one (old is then that value). Network back ends may call fn again for the same
 * batch when a concurrent writer interfered (optimistic retry), so fn must not have side
 * effects other than on *new, on tx (and its own scratch memory).
 * Errors: fn's code, TESS_EINVAL (a key empty or too long, a value too big, {NULL, n > 0} as
 * a value, a read-only handle), TESS_EIO (err says why; e.g. the disk is full or the map is
 * full: "online store is full (map size N bytes): ..."), TESS_ENOMEM.
 */
typedef struct tess__kv_txn tess__kv_txn;
typedef int (*tess__kv_update_fn)(void *arg, tess__kv_txn *tx, size_t i, tess__str old,
                                  tess__str *new_val, bool *del);
int tess__kv_update(tess__kv *kv, const tess__str *keys, size_t n, tess__kv_update_fn fn,
                    void *arg, tess__err *err);

/* tess__kv_update with flags:
 *   TESS__KV_REPLAYABLE  what the update writes is durable elsewhere and would be written again
 *                        after a crash that lost it (a push committed to the offline store,
 *                        which the next materialization applies): the back end may commit it
 *                        without flushing (LMDB: MDB_NOSYNC, guarded by a marker that makes
 *                        the next open after a system crash rebuild the store; see
 *                        docs/online_backends.md, "Durability"). Other back ends ignore it. */
#define TESS__KV_REPLAYABLE 1u
int tess__kv_update_flags(tess__kv *kv, const tess__str *keys, size_t n, tess__kv_update_fn fn,
                          void *arg, unsigned flags, tess__err *err);

/* Inside an update's fn: the current value of `key` in the update (it sees the update's own
 * earlier writes), its bytes copied into `arena`; {NULL, 0} when absent. Errors: TESS_EINVAL
 * (a bad key), TESS_EIO, TESS_ENOMEM. */
int tess__kv_txn_get(tess__kv_txn *tx, tess__str key, tess__arena *arena, tess__str *val,
                     tess__err *err);
/* Inside an update's fn: stores `val` at `key` as part of the update (val.p NULL deletes the
 * key); the bytes are copied. A key of the update's batch that comes later is then read with
 * this value. Errors: as tess__kv_update. */
int tess__kv_txn_put(tess__kv_txn *tx, tess__str key, tess__str val, tess__err *err);

/* Inside an update's fn: asks that `key` expire `ms` milliseconds after the update commits (a
 * key of the batch, whose value fn sets through *new_val, or one written through
 * tess__kv_txn_put, or one the update leaves as it is). The expiries asked for by one call of
 * fn apply after that call's writes (*new_val and tess__kv_txn_put alike, before or after the
 * request); a later write of the key without an expiry — in a later call of fn, a later
 * update or put — clears it; an expiry of a key that does not exist at the commit (or that the
 * update deletes) does nothing. ms is at least 1; longer than TESS__KV_MAX_EXPIRE_MS is taken
 * as that.
 * An expiry is a hint: a back end MAY drop the key once that much time has passed (Redis and
 * Redis Cluster: SET ... PX, or PEXPIRE for a key the update does not write, in the update's
 * MULTI/EXEC), or keep it (LMDB keeps every key: tessera's materialization sweeps them,
 * docs/online.md "Expiry"). A caller must therefore apply the rule that made the key stale
 * itself when it reads (so that every back end answers alike), and must not rely on a key
 * being gone. Errors: TESS_EINVAL (a bad key, ms 0), TESS_ENOMEM. */
#define TESS__KV_MAX_EXPIRE_MS (100ull * 366 * 24 * 3600 * 1000) /* about a hundred years */
int tess__kv_txn_expire(tess__kv_txn *tx, tess__str key, uint64_t ms, tess__err *err);

/* Stores vals[i] at keys[i] for i in [0, n), atomically (a blind write: no read). A value with
 * p == NULL deletes the key. Errors: as tess__kv_update. */
int tess__kv_put(tess__kv *kv, const tess__str *keys, const tess__str *vals, size_t n,
                 tess__err *err);

/*
 * Calls fn(arg, key, value) for every key that starts with `prefix` (an empty prefix: every
 * key), in ascending byte order of keys (memcmp, a shorter key before its extensions), from one
 * snapshot. Key and value bytes are valid only during the call. fn returning non-zero stops
 * the scan and that code is returned. fn may call other operations on kv; writes it makes are
 * not seen by this scan. A long scan holds its snapshot (LMDB: pages it sees are not reused
 * until it ends). A prefix longer than TESS__KV_MAX_KEY matches nothing.
 * Errors: fn's code, TESS_EIO, TESS_ENOMEM.
 */
typedef int (*tess__kv_scan_fn)(void *arg, tess__str key, tess__str val);
int tess__kv_scan(tess__kv *kv, tess__str prefix, tess__kv_scan_fn fn, void *arg,
                  tess__err *err);

/* Deletes every key that starts with `prefix` (must be non-empty), atomically; *deleted (may
 * be NULL) receives how many. All in one transaction: LMDB may answer TESS_EIO ("too many
 * changes in one operation") for millions of keys. Errors: TESS_EINVAL, TESS_EIO,
 * TESS_ENOMEM. */
int tess__kv_drop_prefix(tess__kv *kv, tess__str prefix, uint64_t *deleted, tess__err *err);

/* Size of the store in bytes as the back end counts it (LMDB: pages in use x page size), and
 * the number of keys. For /metrics. Errors: TESS_EIO. */
int tess__kv_stats(tess__kv *kv, uint64_t *bytes, uint64_t *keys, tess__err *err);

/*
 * The lock `name` (1 to 64 bytes of [A-Za-z0-9_-]) of this store, shared by every process
 * that opens the same store: blocks until no other holder has it (wait true), or answers
 * TESS_EEXIST at once when another holder has it (wait false). *out is the hold, given back
 * with tess__kv_unlock. Not reentrant: a second tess__kv_lock of the same name by the same
 * process waits for the first to be released (or, with wait false, answers TESS_EEXIST).
 *   - LMDB (and every back end without a lock of its own): an exclusive flock on the file
 *     "<name>.lock" beside the store's directory (<store>/online.lock for "online"): shared by
 *     the processes of one machine; released by the kernel when the holder dies.
 *   - Redis, Redis Cluster: the key "tessera-lock:<name>" set with SET NX PX: a lease of
 *     lock_ttl ms (URL option, default 30000) that a thread of the holder renews every third
 *     of it, released by its holder only (compare-and-delete): shared by every machine that
 *     uses the server; a holder that dies frees it when its lease runs out.
 * Errors: TESS_EEXIST, TESS_EINVAL (a bad name), TESS_EIO (the file or server: err says),
 * TESS_ENOMEM.
 */
typedef struct tess__kv_hold tess__kv_hold;
int tess__kv_lock(tess__kv *kv, const char *name, bool wait, tess__kv_hold **out,
                  tess__err *err);
/* Releases a hold (NULL is ok) and frees it. TESS_EIO when the lock was lost while held (a
 * Redis lease that could not be renewed in time, e.g. the server was unreachable: another
 * process may have held it meanwhile; err says so) or when the server could not be told (the
 * lease then runs out by itself). */
int tess__kv_unlock(tess__kv_hold *lk, tess__err *err);

/*
 * Redis Cluster. Redis runs a transaction, a script or a multi-key command only on keys of
 * one hash slot, so the cluster back end (kv_redis*.c) stores every key under a hash tag: the
 * key's bytes after its first byte, up to the first NUL byte after it (all of them if there
 * is none). The online store's keys are 'v' view '#' gg NUL entity, 'h' view '#' gg NUL
 * entity and 'm' view '#' gg, gg the entity's slot group (oview.h): one entity's head and
 * history and its group's meta record share one slot, and a view's 256 groups
 * (tess__kv_slot_groups) spread over the cluster (docs/online_backends.md, "Slot groups").
 * Then, per hash slot:
 *   - get: one snapshot of the keys of the same slot (MGET), not across slots;
 *   - update, put: atomic and isolated for the keys of each slot; keys of several slots commit
 *     slot by slot (fn is still called for every key, in order, before anything is written,
 *     so an abort writes nothing; a conflict in one slot retries that slot's keys alone).
 *     Keys read or written through tess__kv_txn_get / _put must be in the slot of the batch
 *     key whose fn call touches them (TESS_EINVAL otherwise);
 *   - scan, drop_prefix: one snapshot / atomic per node; a prefix that contains the NUL ending
 *     the tag (a group's 'v' view '#' gg NUL) lives on one node; a view's 'v' view '#' is on
 *     every node.
 */

#endif
