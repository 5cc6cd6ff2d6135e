/* kv_int.h — how a back end plugs into the online store's key-value interface (kv.h).
 *
 * A back end is a table of function pointers (SQLite's sqlite3_vfs, curl's Curl_ssl). kv.c
 * owns the public entry points: it dispatches tess__kv_open on the URL, validates every
 * argument (key and value sizes, NULL pointers, writes on a read-only handle) and only then
 * calls the back end, so a back end may assume:
 *   - keys are 1..TESS__KV_MAX_KEY bytes with a non-NULL pointer; n > 0 for batches;
 *   - put's values are {NULL, 0} (delete) or at most TESS__KV_MAX_VALUE bytes;
 *   - update's fn is wrapped: the *new_val it hands back has already been checked (an invalid
 *     one turned into TESS_EINVAL with a message, returned from fn like an abort);
 *   - drop_prefix's prefix is non-empty; write operations never reach a read-only handle.
 * A back end's handle struct starts with a `tess__kv` (the base below), which kv.c fills
 * after the back end's open returns.
 */
#ifndef TESS_ONLINE_KV_INT_H
#define TESS_ONLINE_KV_INT_H

#include "core/buf.h"
#include "online/kv.h"

typedef struct tess__kv_vtab {
    const char *name; /* "lmdb": what tess__kv_name returns */
    /* what tess__kv_slot_groups returns (0: 1, the back end's transactions span every key) */
    uint32_t slot_groups;
    /* url is the whole URL as given (NULL for the default back end); dir the store directory.
     * opts is never NULL. On success *out is the back end's handle (its base filled by kv.c). */
    int (*open)(const char *url, const char *dir, const tess__kv_opts *opts, tess__kv **out,
                tess__err *err);
    void (*close)(tess__kv *kv);
    int (*get)(tess__kv *kv, const tess__str *keys, size_t n, tess__str *vals,
               tess__arena *arena, tess__err *err);
    /* optional (NULL: a snapshot's gets are get, copying into the arena): a snapshot whose
     * values stay in the back end's memory until snap_end (kv.h). snap->kv is set by kv.c;
     * snap_end is called only after a successful snap_begin. */
    int (*snap_begin)(tess__kv *kv, tess__kv_snap *snap, tess__err *err);
    int (*snap_get)(tess__kv_snap *snap, const tess__str *keys, size_t n, tess__str *vals,
                    tess__err *err);
    void (*snap_end)(tess__kv_snap *snap);
    int (*update)(tess__kv *kv, const tess__str *keys, size_t n, tess__kv_update_fn fn,
                  void *arg, unsigned flags, tess__err *err);
    int (*put)(tess__kv *kv, const tess__str *keys, const tess__str *vals, size_t n,
               tess__err *err);
    /* inside update's fn (keys and values checked as above) */
    int (*txn_get)(tess__kv_txn *tx, tess__str key, tess__arena *arena, tess__str *val,
                   tess__err *err);
    int (*txn_put)(tess__kv_txn *tx, tess__str key, tess__str val, tess__err *err);
    /* optional (NULL: the back end keeps every key; kv.h tess__kv_txn_expire): ms is 1 to
     * TESS__KV_MAX_EXPIRE_MS */
    int (*txn_expire)(tess__kv_txn *tx, tess__str key, uint64_t ms, tess__err *err);
    int (*scan)(tess__kv *kv, tess__str prefix, tess__kv_scan_fn fn, void *arg, tess__err *err);
    int (*drop_prefix)(tess__kv *kv, tess__str prefix, uint64_t *deleted, tess__err *err);
    int (*stats)(tess__kv *kv, uint64_t *bytes, uint64_t *keys, tess__err *err);
    /* optional (NULL: kv.c's flock beside the store directory). name is checked; *out is
     * the back end's hold, given back to unlock (which frees it, also on error). */
    int (*lock)(tess__kv *kv, const char *name, bool wait, void **out, tess__err *err);
    int (*unlock)(tess__kv *kv, void *lk, tess__err *err);
} tess__kv_vtab;

/* The common head of every back end's handle. */
struct tess__kv {
    const tess__kv_vtab *vt;
    bool read_only;
    char *dir; /* the directory given at open (a copy; NULL if none): the file locks' place */
};

/* The common head of a back end's update transaction (what update's fn gets as tx). */
struct tess__kv_txn {
    tess__kv *kv;
};

/* The writes an update's fn queued through tx (txn_put), kept until fn returns so that the old
 * value fn is reading stays where it is (kv.c; every back end queues them the same way). */
typedef struct tess__kvq {
    tess__buf b; /* per write: u32 key length, u32 value length + 1 (0: delete), key, value */
    size_t n;
} tess__kvq;

/* Queues a write (val.p NULL: delete); the bytes are copied. Errors: TESS_ENOMEM. */
int tess__kvq_put(tess__kvq *q, tess__str key, tess__str val);
/* The newest queued write of `key`: true and *val ({NULL, 0}: a delete), or false. */
bool tess__kvq_find(const tess__kvq *q, tess__str key, tess__str *val);
/* The write at *at (start with 0), advancing *at; false after the last. val.p NULL: delete. */
bool tess__kvq_next(const tess__kvq *q, size_t *at, tess__str *key, tess__str *val);
void tess__kvq_reset(tess__kvq *q);
void tess__kvq_release(tess__kvq *q);

/* The back ends (one file each). */
extern const tess__kv_vtab tess__kv_lmdb_vtab;  /* kv_lmdb.c */
extern const tess__kv_vtab tess__kv_redis_vtab; /* kv_redis.c */
extern const tess__kv_vtab tess__kv_redis_cluster_vtab; /* kv_redis.c */

#endif
