/* kv.c — the online store's key-value interface: picks the back end named by the URL and
 * checks every argument before a back end sees it (kv_int.h lists what back ends may assume).
 *
 * The checks live here, once, so that every back end answers a bad call with the same code
 * and the same message, and the conformance suite (tests/unit/test_online_kv.c) holds them all
 * to it. Messages name the back end and, for a bad key, its index in the batch.
 */
#include "online/kv.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "core/alloc.h"
#include "online/kv_int.h"
#include "tessera.h"

static const tess__kv_opts DEFAULT_OPTS = {false, false, 0};

int tess__kv_open(const char *url, const char *dir, const tess__kv_opts *opts, tess__kv **out,
                  tess__err *err)
{
    const tess__kv_vtab *vt = NULL;
    *out = NULL;
    if (!opts) opts = &DEFAULT_OPTS;
    if (!url || !*url || strcmp(url, "lmdb") == 0) {
        vt = &tess__kv_lmdb_vtab;
    } else if (strncmp(url, "redis://", 8) == 0) {
        vt = &tess__kv_redis_vtab;
    } else if (strncmp(url, "rediss://", 9) == 0) {
        return tess__err_set(err, TESS_ECONFIG,
                             "online store \"rediss://...\": TLS is not supported yet (use "
                             "redis://host:port[/db])");
    } else if (strncmp(url, "redis-cluster://", 16) == 0) {
        vt = &tess__kv_redis_cluster_vtab;
    } else {
        return tess__err_set(err, TESS_ECONFIG,
                             "online store \"%s\": unknown back end (expected \"lmdb\", "
                             "redis://host:port[/db] or redis-cluster://host:port,...)",
                             url);
    }
    if (vt == &tess__kv_lmdb_vtab && (!dir || !*dir))
        return tess__err_set(err, TESS_EINVAL, "online store (lmdb): no directory given");
    char *dcopy = NULL;
    if (dir && *dir && !(dcopy = tess__strdup(dir)))
        return tess__err_set(err, TESS_ENOMEM, "online store: out of memory");
    tess__kv *kv = NULL;
    int rc = vt->open(url, dir, opts, &kv, err);
    if (rc != TESS_OK) {
        tess__free(dcopy);
        return rc;
    }
    kv->vt = vt;
    kv->read_only = opts->read_only;
    kv->dir = dcopy;
    *out = kv;
    return TESS_OK;
}

void tess__kv_close(tess__kv *kv)
{
    if (!kv) return;
    char *dir = kv->dir;
    kv->vt->close(kv);
    tess__free(dir);
}

const char *tess__kv_name(const tess__kv *kv)
{
    return kv->vt->name;
}

uint32_t tess__kv_slot_groups(const tess__kv *kv)
{
    return kv->vt->slot_groups ? kv->vt->slot_groups : 1;
}

/* ---- argument checks ---------------------------------------------------------------------- */

static int check_key(const tess__kv *kv, const char *what, size_t i, size_t nkeys, tess__str key,
                     tess__err *err)
{
    if (key.n != 0 && key.p && key.n <= TESS__KV_MAX_KEY) return TESS_OK; /* the usual case */
    char where[48] = "";
    if (nkeys > 1) snprintf(where, sizeof(where), " (key %zu of the batch)", i);
    if (key.n == 0)
        return tess__err_set(err, TESS_EINVAL, "online store (%s): %s: empty key%s",
                             kv->vt->name, what, where);
    if (!key.p)
        return tess__err_set(err, TESS_EINVAL, "online store (%s): %s: key of %zu bytes has "
                             "no data%s", kv->vt->name, what, key.n, where);
    return tess__err_set(err, TESS_EINVAL,
                         "online store (%s): %s: key of %zu bytes is longer than the limit "
                         "of %d bytes%s",
                         kv->vt->name, what, key.n, TESS__KV_MAX_KEY, where);
}

static int check_keys(const tess__kv *kv, const char *what, const tess__str *keys, size_t n,
                      tess__err *err)
{
    if (n && !keys)
        return tess__err_set(err, TESS_EINVAL, "online store (%s): %s: no keys", kv->vt->name,
                             what);
    for (size_t i = 0; i < n; i++) {
        int rc = check_key(kv, what, i, n, keys[i], err);
        if (rc != TESS_OK) return rc;
    }
    return TESS_OK;
}

/* A value to store: {NULL, 0} deletes (put) or leaves the key (update); otherwise non-NULL
 * data of at most TESS__KV_MAX_VALUE bytes. */
static int check_value(const tess__kv *kv, const char *what, size_t i, tess__str key,
                       tess__str val, tess__err *err)
{
    if (!val.p && val.n)
        return tess__err_set(err, TESS_EINVAL,
                             "online store (%s): %s: value of %zu bytes for key %zu has no data",
                             kv->vt->name, what, val.n, i);
    if (val.n > TESS__KV_MAX_VALUE)
        return tess__err_set(err, TESS_EINVAL,
                             "online store (%s): %s: value of %zu bytes for key %zu is bigger "
                             "than the limit of %u bytes",
                             kv->vt->name, what, val.n, i, (unsigned)TESS__KV_MAX_VALUE);
    (void)key;
    return TESS_OK;
}

static int check_writable(const tess__kv *kv, const char *what, tess__err *err)
{
    if (kv->read_only)
        return tess__err_set(err, TESS_EINVAL,
                             "online store (%s): %s: the store was opened read-only",
                             kv->vt->name, what);
    return TESS_OK;
}

/* ---- operations --------------------------------------------------------------------------- */

int tess__kv_get(tess__kv *kv, const tess__str *keys, size_t n, tess__str *vals,
                 tess__arena *arena, tess__err *err)
{
    int rc = check_keys(kv, "get", keys, n, err);
    if (rc != TESS_OK) return rc;
    if (n == 0) return TESS_OK;
    if (!vals || !arena)
        return tess__err_set(err, TESS_EINVAL, "online store (%s): get: no output", kv->vt->name);
    return kv->vt->get(kv, keys, n, vals, arena, err);
}

int tess__kv_snap_begin(tess__kv *kv, tess__kv_snap *snap, tess__err *err)
{
    snap->kv = NULL;
    if (!kv->vt->snap_begin) {
        snap->kv = kv;
        return TESS_OK;
    }
    int rc = kv->vt->snap_begin(kv, snap, err);
    if (rc == TESS_OK) snap->kv = kv;
    return rc;
}

int tess__kv_snap_get(tess__kv_snap *snap, const tess__str *keys, size_t n, tess__str *vals,
                      tess__arena *arena, tess__err *err)
{
    tess__kv *kv = snap->kv;
    if (!kv->vt->snap_get) return tess__kv_get(kv, keys, n, vals, arena, err);
    int rc = check_keys(kv, "get", keys, n, err);
    if (rc != TESS_OK || n == 0) return rc;
    if (!vals) return tess__err_set(err, TESS_EINVAL, "online store (%s): get: no output", kv->vt->name);
    return kv->vt->snap_get(snap, keys, n, vals, err);
}

void tess__kv_snap_end(tess__kv_snap *snap)
{
    if (snap->kv && snap->kv->vt->snap_end) snap->kv->vt->snap_end(snap);
    snap->kv = NULL;
}

/* update's fn, wrapped: the value it hands back is checked before the back end stores it. */
typedef struct checked_fn {
    tess__kv *kv;
    const tess__str *keys;
    tess__kv_update_fn fn;
    void *arg;
    tess__err *err;
} checked_fn;

static int call_checked(void *arg, tess__kv_txn *tx, size_t i, tess__str old, tess__str *new_val,
                        bool *del)
{
    checked_fn *c = arg;
    *new_val = (tess__str){NULL, 0};
    *del = false;
    int rc = c->fn(c->arg, tx, i, old, new_val, del);
    if (rc != 0) return rc;
    if (*del) {
        *new_val = (tess__str){NULL, 0};
        return 0;
    }
    return check_value(c->kv, "update", i, c->keys[i], *new_val, c->err);
}

int tess__kv_update(tess__kv *kv, const tess__str *keys, size_t n, tess__kv_update_fn fn,
                    void *arg, tess__err *err)
{
    return tess__kv_update_flags(kv, keys, n, fn, arg, 0, err);
}

int tess__kv_update_flags(tess__kv *kv, const tess__str *keys, size_t n, tess__kv_update_fn fn,
                          void *arg, unsigned flags, tess__err *err)
{
    int rc = check_writable(kv, "update", err);
    if (rc == TESS_OK) rc = check_keys(kv, "update", keys, n, err);
    if (rc != TESS_OK) return rc;
    if (n == 0) return TESS_OK;
    if (!fn)
        return tess__err_set(err, TESS_EINVAL, "online store (%s): update: no function",
                             kv->vt->name);
    checked_fn c = {kv, keys, fn, arg, err};
    return kv->vt->update(kv, keys, n, call_checked, &c, flags, err);
}

int tess__kv_txn_get(tess__kv_txn *tx, tess__str key, tess__arena *arena, tess__str *val,
                     tess__err *err)
{
    tess__kv *kv = tx->kv;
    *val = (tess__str){NULL, 0};
    int rc = check_keys(kv, "update", &key, 1, err);
    if (rc != TESS_OK) return rc;
    return kv->vt->txn_get(tx, key, arena, val, err);
}

int tess__kv_txn_put(tess__kv_txn *tx, tess__str key, tess__str val, tess__err *err)
{
    tess__kv *kv = tx->kv;
    int rc = check_keys(kv, "update", &key, 1, err);
    if (rc == TESS_OK && val.p) rc = check_value(kv, "update", 0, key, val, err);
    if (rc != TESS_OK) return rc;
    return kv->vt->txn_put(tx, key, val, err);
}

int tess__kv_txn_expire(tess__kv_txn *tx, tess__str key, uint64_t ms, tess__err *err)
{
    tess__kv *kv = tx->kv;
    int rc = check_keys(kv, "update", &key, 1, err);
    if (rc != TESS_OK) return rc;
    if (ms == 0)
        return tess__err_set(err, TESS_EINVAL, "online store (%s): update: an expiry of 0 ms",
                             kv->vt->name);
    if (ms > TESS__KV_MAX_EXPIRE_MS) ms = TESS__KV_MAX_EXPIRE_MS;
    return kv->vt->txn_expire ? kv->vt->txn_expire(tx, key, ms, err) : TESS_OK;
}

int tess__kv_put(tess__kv *kv, const tess__str *keys, const tess__str *vals, size_t n,
                 tess__err *err)
{
    int rc = check_writable(kv, "put", err);
    if (rc == TESS_OK) rc = check_keys(kv, "put", keys, n, err);
    if (rc != TESS_OK) return rc;
    if (n == 0) return TESS_OK;
    if (!vals)
        return tess__err_set(err, TESS_EINVAL, "online store (%s): put: no values", kv->vt->name);
    for (size_t i = 0; i < n; i++) {
        rc = check_value(kv, "put", i, keys[i], vals[i], err);
        if (rc != TESS_OK) return rc;
    }
    return kv->vt->put(kv, keys, vals, n, err);
}

int tess__kv_scan(tess__kv *kv, tess__str prefix, tess__kv_scan_fn fn, void *arg,
                  tess__err *err)
{
    if (!fn)
        return tess__err_set(err, TESS_EINVAL, "online store (%s): scan: no function",
                             kv->vt->name);
    if (prefix.n && !prefix.p)
        return tess__err_set(err, TESS_EINVAL, "online store (%s): scan: prefix has no data",
                             kv->vt->name);
    if (prefix.n > TESS__KV_MAX_KEY) return TESS_OK; /* no key is that long: nothing matches */
    if (!prefix.n) prefix.p = "";
    return kv->vt->scan(kv, prefix, fn, arg, err);
}

int tess__kv_drop_prefix(tess__kv *kv, tess__str prefix, uint64_t *deleted, tess__err *err)
{
    uint64_t dummy;
    if (!deleted) deleted = &dummy;
    *deleted = 0;
    int rc = check_writable(kv, "drop_prefix", err);
    if (rc == TESS_OK && prefix.n == 0)
        rc = tess__err_set(err, TESS_EINVAL,
                           "online store (%s): drop_prefix: empty prefix (it would drop "
                           "everything)",
                           kv->vt->name);
    if (rc == TESS_OK && !prefix.p)
        rc = tess__err_set(err, TESS_EINVAL, "online store (%s): drop_prefix: prefix has no data",
                           kv->vt->name);
    if (rc != TESS_OK) return rc;
    if (prefix.n > TESS__KV_MAX_KEY) return TESS_OK;
    return kv->vt->drop_prefix(kv, prefix, deleted, err);
}

int tess__kv_stats(tess__kv *kv, uint64_t *bytes, uint64_t *keys, tess__err *err)
{
    uint64_t b = 0, k = 0;
    int rc = kv->vt->stats(kv, &b, &k, err);
    if (bytes) *bytes = b;
    if (keys) *keys = k;
    return rc;
}

/* ---- locks ------------------------------------------------------------------------------- */

struct tess__kv_hold {
    tess__kv *kv;
    int fd;   /* the flock's file (back ends without a lock of their own), else -1 */
    void *be; /* the back end's hold */
};

/* The flock of back ends without a lock of their own: "<name>.lock" in the directory that
 * holds the store's directory. */
static int file_lock(tess__kv *kv, const char *name, bool wait, int *fd, tess__err *err)
{
    *fd = -1;
    if (!kv->dir)
        return tess__err_set(err, TESS_EINVAL, "online store (%s): lock: no directory",
                             kv->vt->name);
    tess__buf p = TESS__BUF_INIT;
    const char *slash = strrchr(kv->dir, '/');
    int rc = slash ? tess__buf_printf(&p, "%.*s/%s.lock", (int)(slash - kv->dir), kv->dir, name)
                   : tess__buf_printf(&p, "%s.lock", name);
    if (rc) return tess__err_set(err, TESS_ENOMEM, "online store: out of memory");
    int f = open(p.p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    rc = TESS_OK;
    if (f < 0) {
        rc = tess__err_set(err, TESS_EIO, "%s: cannot lock: %s", p.p, strerror(errno));
    } else {
        int r;
        while ((r = flock(f, LOCK_EX | (wait ? 0 : LOCK_NB))) != 0 && errno == EINTR) {}
        if (r != 0 && errno == EWOULDBLOCK)
            rc = tess__err_set(err, TESS_EEXIST, "%s: locked by another process", p.p);
        else if (r != 0)
            rc = tess__err_set(err, TESS_EIO, "%s: cannot lock: %s", p.p, strerror(errno));
    }
    tess__buf_release(&p);
    if (rc && f >= 0) close(f);
    if (!rc) *fd = f;
    return rc;
}

int tess__kv_lock(tess__kv *kv, const char *name, bool wait, tess__kv_hold **out,
                  tess__err *err)
{
    *out = NULL;
    size_t n = name ? strlen(name) : 0;
    bool ok = n >= 1 && n <= 64;
    for (size_t i = 0; ok && i < n; i++)
        ok = (name[i] >= 'a' && name[i] <= 'z') || (name[i] >= 'A' && name[i] <= 'Z') ||
             (name[i] >= '0' && name[i] <= '9') || name[i] == '_' || name[i] == '-';
    if (!ok)
        return tess__err_set(err, TESS_EINVAL, "online store (%s): lock: bad name \"%s\" "
                             "(1 to 64 of A-Z a-z 0-9 _ -)", kv->vt->name, name ? name : "");
    tess__kv_hold *lk = tess__calloc(1, sizeof(*lk));
    if (!lk) return tess__err_set(err, TESS_ENOMEM, "online store: out of memory");
    lk->kv = kv;
    lk->fd = -1;
    int rc = kv->vt->lock ? kv->vt->lock(kv, name, wait, &lk->be, err)
                          : file_lock(kv, name, wait, &lk->fd, err);
    if (rc) {
        tess__free(lk);
        return rc;
    }
    *out = lk;
    return TESS_OK;
}

int tess__kv_unlock(tess__kv_hold *lk, tess__err *err)
{
    if (!lk) return TESS_OK;
    int rc = TESS_OK;
    if (lk->fd >= 0) close(lk->fd); /* releases the flock */
    else rc = lk->kv->vt->unlock(lk->kv, lk->be, err);
    tess__free(lk);
    return rc;
}

/* ---- the queued writes of an update (kv_int.h) ---------------------------------------------- */

int tess__kvq_put(tess__kvq *q, tess__str key, tess__str val)
{
    uint32_t kl = (uint32_t)key.n, vl = val.p ? (uint32_t)val.n + 1 : 0;
    if (tess__buf_append(&q->b, &kl, 4) || tess__buf_append(&q->b, &vl, 4) ||
        tess__buf_append(&q->b, key.p, key.n) || (val.p && tess__buf_append(&q->b, val.p, val.n)))
        return TESS_ENOMEM;
    q->n++;
    return TESS_OK;
}

bool tess__kvq_next(const tess__kvq *q, size_t *at, tess__str *key, tess__str *val)
{
    if (*at >= q->b.len) return false;
    uint32_t kl, vl;
    memcpy(&kl, q->b.p + *at, 4);
    memcpy(&vl, q->b.p + *at + 4, 4);
    const char *k = q->b.p + *at + 8;
    *key = (tess__str){k, kl};
    *val = vl ? (tess__str){k + kl, vl - 1} : (tess__str){NULL, 0};
    *at += 8 + kl + (vl ? vl - 1 : 0);
    return true;
}

bool tess__kvq_find(const tess__kvq *q, tess__str key, tess__str *val)
{
    bool found = false;
    tess__str k, v;
    for (size_t at = 0; tess__kvq_next(q, &at, &k, &v);)
        if (k.n == key.n && memcmp(k.p, key.p, k.n) == 0) {
            *val = v;
            found = true;
        }
    return found;
}

void tess__kvq_reset(tess__kvq *q)
{
    tess__buf_reset(&q->b);
    q->n = 0;
}

void tess__kvq_release(tess__kvq *q)
{
    tess__buf_release(&q->b);
    q->n = 0;
}
