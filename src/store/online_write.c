/* online_write.c — everything that writes the online store: materialization (tess_materialize)
 * and the online half of a push (tess__online_apply_rows). docs/online.md.
 *
 * A view's entities are divided into slot groups (oview.h; as many as the back end asks for,
 * kv.h tess__kv_slot_groups: 256 in a Redis Cluster, 1 on LMDB and one Redis), and each group
 * has its own meta record (meta.h), in a cluster in its own hash slot. Both write entity
 * records in batches (wbatch): one back-end update per batch, which also updates the meta
 * record of every group the batch touches, each group's meta in the same transaction as that group's records (a
 * cluster commits each slot on its own), so that a group's records and the account of which
 * offline ingests they hold always agree and no ingest is ever applied twice to a group:
 *   - a push applies its own ingests and adds them to `applied` — unless the meta record
 *     already counts them, or a materialization in progress (`pending` up to pending_to)
 *     will read them from the offline store: then it leaves them to it;
 *   - a materialization applies the ingests above the watermark that are not applied yet (up
 *     to the last ingest at its start), leaving out, in each batch's transaction, the rows of
 *     ingests its push applied meanwhile; it records its progress (`pending`) in every batch,
 *     so a crashed run resumes where it stopped, and finally raises the watermark of every
 *     group (each group resumes from its own progress: after a crash between the commits of
 *     two groups, the ingest is applied to those that lack it, never twice to one that has it);
 *   - a full rebuild first marks every group's meta record as of no definition (pushes leave
 *     the view alone), drops the records, then resets every account with `pending` up to its
 *     last ingest.
 * Readers combine the groups: a view is materialized when every group's meta is present and of
 * its definition (else the next run rebuilds it whole); its watermark is the least of the
 * groups', its newest event and last change the greatest (tess_online_stats).
 * Materializations of a store run one at a time (the online lock, held for a view's whole run:
 * the online store's own lock, kv.h tess__kv_lock — a flock on <store>/online.lock for LMDB, a
 * lease in Redis for Redis and Redis Cluster, so that machines sharing one take turns); pushes
 * never wait for them.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/time.h"
#include "offline/batch.h"
#include "offline/evstore.h"
#include "offline/segment.h"
#include "online/meta.h"
#include "online/record.h"
#include "registry/registry.h"
#include "store/store_int.h"
#include "tessera.h"

#define OOM(err) tess__err_set((err), TESS_ENOMEM, "out of memory")

#define FLUSH_ENTITIES 1024
#define FLUSH_ROWS 65536

/* ---- the online lock ---------------------------------------------------------------------- */

/* The store's online lock, held for a view's whole materialization: the online store's own
 * lock "online" (kv.h tess__kv_lock): LMDB, an exclusive flock on <store>/online.lock across
 * the processes of one machine; Redis and Redis Cluster, a lease in the server, across every
 * machine that materializes into it. *lk receives the hold to unlock. */
static int online_lock(tess__kv *kv, tess__kv_hold **lk, tess__err *err)
{
    return tess__kv_lock(kv, "online", true, lk, err);
}

/* Releases the lock (NULL: not held). A lock lost while held (a Redis lease that could not be
 * renewed) is an error when nothing else failed: another run may have overlapped this one. */
static int online_unlock(tess__kv_hold *lk, int rc, tess__err *err)
{
    tess__err e = TESS__ERR_INIT;
    int urc = tess__kv_unlock(lk, &e);
    if (urc != TESS_OK && rc == TESS_OK)
        rc = tess__err_set(err, urc, "%s; if another materialization ran meanwhile, run "
                           "`tessera materialize --full`", tess__err_msg(&e));
    tess__err_release(&e);
    return rc;
}

/* ---- batches of entity records ------------------------------------------------------------ */

/* What a batch does to the meta record of slot group `group` in its transaction; sets *skip
 * to leave the group's records alone (e.g. the view needs a rebuild first). */
typedef int (*meta_fn)(void *arg, uint32_t group, tess__ometa *m, tess__arena *a, bool *skip);

#define NGROUPS TESS__OVIEW_GROUPS /* the most groups a back end may ask for */
_Static_assert(TESS__KV_CLUSTER_GROUPS <= NGROUPS, "a group must fit in two hex digits");

/* The state of one group during a flush. */
typedef struct wgroup {
    tess__ometa cur; /* the meta record as this transaction writes it */
    bool skip;       /* its records are left alone */
    int64_t newest;  /* the newest event time of the flush's rows in the group */
    size_t n;        /* the flush's entities in the group */
} wgroup;

typedef struct wbatch {
    const tess__oview *ov;
    int64_t now;
    size_t ncols;
    size_t n, cap;       /* entities */
    tess__buf keys;      /* their record keys */
    size_t *koff;
    size_t *first;       /* first row of each entity in rows/seq */
    uint32_t *grp;       /* the group of each entity */
    int64_t *enew;       /* the newest event time of each entity's rows */
    tess__value *rows;   /* nrows x ncols */
    int64_t *seq;
    size_t nrows, rcap;
    tess__arena arena;   /* string bytes of rows */
    tess__arena scratch; /* one flush */
    tess__buf out;
    tess__buf hkey, hout; /* an entity's history key and new history record */
    tess__kv_txn *tx;     /* during a flush: its transaction */
    tess__err *err;
    meta_fn mfn;
    void *marg;
    wgroup *g;      /* NGROUPS, during a flush */
    uint32_t ng;    /* the back end's slot groups (kv.h tess__kv_slot_groups) */
    bool all;       /* a flush without entities updates every group's meta record */
    bool borrow;    /* rows outlive the batch (a push's): their strings are not copied */
    bool only_new;  /* a materialization's: rows of ingests the meta record already counts
                       (pushes that went ahead since the run read it) are left out */
    int64_t newest; /* the newest event time of the rows added (INT64_MIN: none) */
    uint64_t entities, events;
} wbatch;

static void wb_release(wbatch *b)
{
    tess__buf_release(&b->keys);
    tess__buf_release(&b->out);
    tess__buf_release(&b->hkey);
    tess__buf_release(&b->hout);
    tess__free(b->koff);
    tess__free(b->first);
    tess__free(b->grp);
    tess__free(b->enew);
    tess__free(b->g);
    tess__free(b->rows);
    tess__free(b->seq);
    tess__arena_release(&b->arena);
    tess__arena_release(&b->scratch);
}

/* Room for one more entity (and the end offsets after the last one). */
static int wb_reserve(wbatch *b)
{
    if (b->n + 1 >= b->cap) {
        size_t c = b->cap ? b->cap * 2 : FLUSH_ENTITIES * 2;
        size_t *k = tess__realloc(b->koff, (c + 1) * sizeof(size_t));
        if (k) b->koff = k;
        size_t *f = tess__realloc(b->first, (c + 1) * sizeof(size_t));
        if (f) b->first = f;
        uint32_t *g = tess__realloc(b->grp, (c + 1) * sizeof(uint32_t));
        if (g) b->grp = g;
        int64_t *w = tess__realloc(b->enew, (c + 1) * sizeof(int64_t));
        if (w) b->enew = w;
        if (!k || !f || !g || !w) return OOM(b->err);
        b->cap = c;
    }
    return TESS_OK;
}

/* Starts an entity whose head key is `key`. */
static int wb_entity(wbatch *b, const char *key, size_t n)
{
    if (wb_reserve(b)) return TESS_ENOMEM;
    uint32_t g;
    if (tess__oview_key_parts((tess__str){key, n}, NULL, &g, NULL))
        return tess__err_set(b->err, TESS_EINVAL, "not a head key");
    b->koff[b->n] = b->keys.len;
    b->first[b->n] = b->nrows;
    b->grp[b->n] = g;
    b->enew[b->n] = INT64_MIN;
    if (tess__buf_append(&b->keys, key, n)) return OOM(b->err);
    b->n++;
    return TESS_OK;
}

/* Adds a row (ncols values, schema order) to the current entity; strings are copied unless
 * the batch borrows its rows. */
static int wb_row(wbatch *b, const tess__value *row, int64_t seq)
{
    if (b->nrows == b->rcap) {
        size_t c = b->rcap ? b->rcap * 2 : 4096;
        tess__value *r = tess__realloc(b->rows, c * b->ncols * sizeof(*r));
        if (r) b->rows = r;
        int64_t *s = tess__realloc(b->seq, c * sizeof(int64_t));
        if (s) b->seq = s;
        if (!r || !s) return OOM(b->err);
        b->rcap = c;
    }
    tess__value *dst = &b->rows[b->nrows * b->ncols];
    for (size_t c = 0; c < b->ncols; c++) {
        dst[c] = row[c];
        if (!b->borrow && !dst[c].null && dst[c].type == TESS_T_STRING) {
            char *s = tess__arena_strndup(&b->arena, dst[c].u.s.p, dst[c].u.s.n);
            if (!s) return OOM(b->err);
            dst[c].u.s.p = s;
        }
    }
    b->seq[b->nrows++] = seq;
    b->events++;
    const tess__value *ts = &row[tess__oview_view(b->ov)->source->ts_col];
    if (!ts->null && ts->u.i > b->newest) b->newest = ts->u.i;
    if (!ts->null && ts->u.i > b->enew[b->n - 1]) b->enew[b->n - 1] = ts->u.i;
    return TESS_OK;
}

/* Reads the history record of the entity whose history key is in b->hkey (oview.h). */
static int hist_get(void *ctx, tess__str *hist, tess__err *err)
{
    wbatch *b = ctx;
    return tess__kv_txn_get(b->tx, (tess__str){b->hkey.p, b->hkey.len}, &b->scratch, hist, err);
}

/* ---- expiry (docs/online.md, "Expiry") ------------------------------------------------------ */

/* A head record of a view with online_expiry whose entity is forgotten at `now` (its expiry
 * instant is before it)? false for every record of a view without one. */
static int forgotten_at(const tess__oview *ov, tess__str head, int64_t now, tess__arena *a,
                        bool *gone, tess__err *err)
{
    int64_t at;
    *gone = false;
    int rc = tess__oview_expires(ov, head.p, head.n, a, &at, err);
    if (!rc) *gone = at < now;
    return rc;
}

/* What a key expiry adds to the time left until an entity is forgotten: a back end whose
 * clock runs a little ahead of the writer's or the readers' then still never drops a record
 * that a lookup would answer from (which could change a value: docs/online.md, "Expiry");
 * and a history outlives its head by as much again, so a head read never misses its
 * history (that would be a damaged record). */
#define EXPIRY_SLACK_MS 1000

/* A write of a view with online_expiry, done: the new head (b->out) is deleted with its
 * history when its entity is forgotten at the write's now already; otherwise the head and its
 * history (written or kept) are given a key expiry: the time left until the entity is
 * forgotten, rounded up to a millisecond, plus the slack above — a hint the back end may act
 * on (kv.h), never what decides an answer. `op` is what the write did to the history. */
static int expire_write(wbatch *b, tess__kv_txn *tx, tess__str key, int op, bool *del)
{
    int64_t at, left;
    int rc = tess__oview_expires(b->ov, b->out.p, b->out.len, &b->scratch, &at, b->err);
    if (rc) return rc;
    tess__str hkey = {b->hkey.p, b->hkey.len};
    if (at < b->now) {
        *del = true;
        return tess__kv_txn_put(tx, hkey, (tess__str){NULL, 0}, b->err);
    }
    if (__builtin_sub_overflow(at, b->now, &left)) left = INT64_MAX;
    uint64_t ms = (uint64_t)left / 1000 + ((uint64_t)left % 1000 != 0) + EXPIRY_SLACK_MS;
    rc = tess__kv_txn_expire(tx, key, ms, b->err);
    if (!rc && (op == TESS__HIST_WRITE ||
                (op == TESS__HIST_KEEP && tess__orec_hist_sum(b->out.p, b->out.len))))
        rc = tess__kv_txn_expire(tx, hkey, ms + EXPIRY_SLACK_MS, b->err);
    return rc;
}

/* One key of a flush: the meta record of group `group` (e == NONE) or entity e's head record
 * (its history record is read and written through the transaction when a write needs it).
 * A group's meta key comes before its entities', so the callback has decided the group's
 * account (and whether it is skipped) before it writes the group's records, also when a
 * cluster does one slot again. */
#define NONE SIZE_MAX

static int flush_fn(wbatch *b, tess__kv_txn *tx, uint32_t group, size_t e, tess__str old,
                    tess__str *new_val, bool *del)
{
    *del = false;
    *new_val = (tess__str){NULL, 0};
    tess__buf_reset(&b->out);
    wgroup *wg = &b->g[group];
    if (e == NONE) {
        tess__ometa m;
        wg->skip = false;
        int rc = tess__ometa_decode(old.p, old.n, &m, &b->scratch, b->err);
        if (rc == TESS_EIO) { /* damaged (or of an older format): as if absent, rebuilt whole */
            tess__err_clear(b->err);
            rc = tess__ometa_decode(NULL, 0, &m, &b->scratch, b->err);
        }
        if (!rc) rc = b->mfn(b->marg, group, &m, &b->scratch, &wg->skip);
        if (!rc && !wg->skip && wg->newest > m.newest) m.newest = wg->newest;
        if (rc || wg->skip) return rc == TESS_ENOMEM ? OOM(b->err) : rc;
        if (tess__ometa_encode(&m, &b->out)) return OOM(b->err);
        wg->cur = m;
    } else {
        if (wg->skip) return TESS_OK;
        tess__buf_reset(&b->hkey);
        if (tess__oview_hist_key((tess__str){b->keys.p + b->koff[e], b->koff[e + 1] - b->koff[e]},
                                 &b->hkey))
            return OOM(b->err);
        b->tx = tx;
        const tess__value *rows = b->rows + b->first[e] * b->ncols;
        const int64_t *seq = b->seq + b->first[e];
        size_t nr = b->first[e + 1] - b->first[e];
        if (b->only_new && wg->cur.napplied) {
            /* the rows of ingests counted meanwhile (pushed and applied by their push) */
            tess__value *kr = tess__arena_alloc(&b->scratch, nr * b->ncols * sizeof(*kr) + 1);
            int64_t *ks = tess__arena_alloc(&b->scratch, nr * sizeof(int64_t) + 1);
            if (!kr || !ks) return OOM(b->err);
            size_t k = 0;
            for (size_t r = 0; r < nr; r++) {
                if (tess__ometa_has(&wg->cur, (uint32_t)((uint64_t)seq[r] >> 32))) continue;
                memcpy(&kr[k * b->ncols], &rows[r * b->ncols], b->ncols * sizeof(*kr));
                ks[k++] = seq[r];
            }
            if (k == 0) return TESS_OK;
            rows = kr;
            seq = ks;
            nr = k;
        }
        int op, rc;
        bool expiry = tess__oview_expiry_us(b->ov) > 0, gone = false;
        /* an entity forgotten at now starts afresh, its old history dropped: every back end
           then stores the same bytes, whether or not it has dropped the keys already */
        if (expiry && old.p && (rc = forgotten_at(b->ov, old, b->now, &b->scratch, &gone, b->err)))
            return rc;
        if (gone) {
            if (tess__orec_hist_sum(old.p, old.n) &&
                (rc = tess__kv_txn_put(tx, (tess__str){b->hkey.p, b->hkey.len},
                                       (tess__str){NULL, 0}, b->err)))
                return rc;
            old = (tess__str){NULL, 0};
        }
        rc = tess__oview_apply(b->ov, old.p, old.n, hist_get, b, rows, seq, nr, b->now,
                               &b->scratch, &b->out, &b->hout, &op, b->err);
        if (!rc && op != TESS__HIST_KEEP)
            rc = tess__kv_txn_put(tx, (tess__str){b->hkey.p, b->hkey.len},
                                  op == TESS__HIST_WRITE ? (tess__str){b->hout.p, b->hout.len}
                                                         : (tess__str){NULL, 0},
                                  b->err);
        tess__str key = {b->keys.p + b->koff[e], b->koff[e + 1] - b->koff[e]};
        if (!rc && expiry) rc = expire_write(b, tx, key, op, del);
        if (rc || *del) return rc;
    }
    char *c = tess__arena_alloc(&b->scratch, b->out.len);
    if (!c) return OOM(b->err);
    memcpy(c, b->out.p, b->out.len);
    *new_val = (tess__str){c, b->out.len};
    return TESS_OK;
}

/* The keys of one update: several batches (one per view) one after the other, each as its
 * groups' meta keys, each followed by the group's entities. */
typedef struct flushes {
    wbatch **bs;
    uint32_t *kb;  /* per key: its batch */
    uint32_t *kg;  /* its group */
    size_t *ke;    /* its entity, NONE for the meta record */
} flushes;

static int many_fn(void *arg, tess__kv_txn *tx, size_t i, tess__str old, tess__str *new_val,
                   bool *del)
{
    flushes *f = arg;
    return flush_fn(f->bs[f->kb[i]], tx, f->kg[i], f->ke[i], old, new_val, del);
}

/* Writes the batches bs[0..nb) in one update (one transaction, or on a cluster one per hash
 * slot): per batch, the meta record of every group it has entities in (of every group when
 * b->all) and those entities' records, each group's in one transaction. Errors are set in
 * bs[0]->err. */
static int wb_flush_many(tess__kv *kv, wbatch **bs, size_t nb, unsigned kv_flags)
{
    tess__err *err = bs[0]->err;
    size_t nk = 0;
    int rc = TESS_OK;
    for (size_t k = 0; !rc && k < nb; k++) {
        wbatch *b = bs[k];
        b->ng = tess__kv_slot_groups(kv);
        if (!b->g && !(b->g = tess__calloc(NGROUPS, sizeof(wgroup)))) rc = OOM(err);
        else rc = wb_reserve(b);
        if (rc) break;
        b->koff[b->n] = b->keys.len;
        b->first[b->n] = b->nrows;
        for (uint32_t g = 0; g < b->ng; g++)
            b->g[g] = (wgroup){.newest = INT64_MIN};
        for (size_t e = 0; e < b->n; e++) {
            wgroup *wg = &b->g[b->grp[e]];
            wg->n++;
            if (b->enew[e] > wg->newest) wg->newest = b->enew[e];
        }
        for (uint32_t g = 0; g < b->ng; g++)
            if (b->g[g].n || b->all) nk++;
        nk += b->n;
    }
    tess__str *keys = rc ? NULL : tess__calloc(nk + 1, sizeof(*keys));
    flushes f = {bs, rc ? NULL : tess__calloc(nk + 1, sizeof(uint32_t)),
                 rc ? NULL : tess__calloc(nk + 1, sizeof(uint32_t)),
                 rc ? NULL : tess__calloc(nk + 1, sizeof(size_t))};
    size_t *at = rc ? NULL : tess__calloc(NGROUPS + 1, sizeof(size_t));
    tess__buf mk = TESS__BUF_INIT;
    size_t *mo = rc ? NULL : tess__calloc(nk + 1, sizeof(size_t));
    if (!rc && (!keys || !f.kb || !f.kg || !f.ke || !at || !mo)) rc = OOM(err);
    size_t nkey = 0;
    for (size_t k = 0; !rc && k < nb; k++) {
        wbatch *b = bs[k];
        /* the positions: each group's meta key, then its entities (in batch order) */
        size_t pos = nkey;
        for (uint32_t g = 0; g < b->ng; g++) {
            at[g] = pos;
            if (b->g[g].n || b->all) pos += 1 + b->g[g].n;
        }
        for (uint32_t g = 0; !rc && g < b->ng; g++) {
            if (!b->g[g].n && !b->all) continue;
            mo[at[g]] = mk.len;
            if (tess__oview_meta_key(b->ov, g, &mk)) rc = OOM(err);
            f.kb[at[g]] = (uint32_t)k;
            f.kg[at[g]] = g;
            f.ke[at[g]] = NONE;
            keys[at[g]] = (tess__str){NULL, mk.len - mo[at[g]]}; /* p set below: mk moves */
            at[g]++;
        }
        for (size_t e = 0; !rc && e < b->n; e++) {
            size_t j = at[b->grp[e]]++;
            f.kb[j] = (uint32_t)k;
            f.kg[j] = b->grp[e];
            f.ke[j] = e;
            keys[j] = (tess__str){b->keys.p + b->koff[e], b->koff[e + 1] - b->koff[e]};
        }
        nkey = pos;
    }
    if (!rc) {
        for (size_t j = 0; j < nkey; j++)
            if (f.ke[j] == NONE) keys[j].p = mk.p + mo[j];
        rc = tess__kv_update_flags(kv, keys, nkey, many_fn, &f, kv_flags, err);
    }
    for (size_t k = 0; k < nb; k++) {
        wbatch *b = bs[k];
        for (uint32_t g = 0; !rc && b->g && g < b->ng; g++)
            if (!b->g[g].skip) b->entities += b->g[g].n;
        b->n = 0;
        b->nrows = 0;
        tess__buf_reset(&b->keys);
        tess__arena_reset(&b->arena);
        tess__arena_reset(&b->scratch);
    }
    tess__buf_release(&mk);
    tess__free(keys);
    tess__free(f.kb);
    tess__free(f.kg);
    tess__free(f.ke);
    tess__free(at);
    tess__free(mo);
    return rc;
}

static int wb_flush(tess__kv *kv, wbatch *b)
{
    if (b->n == 0) return TESS_OK;
    return wb_flush_many(kv, &b, 1, 0);
}

/* Reads the meta records of every group of the view (m[NGROUPS]) in one batch. A damaged one
 * (or one of an older format) reads as absent: the view is rebuilt whole. */
static int meta_get(tess__kv *kv, const tess__oview *ov, tess__ometa *m, tess__arena *a,
                    tess__err *err)
{
    tess__buf k = TESS__BUF_INIT;
    uint32_t ng = tess__kv_slot_groups(kv);
    size_t off[NGROUPS + 1];
    tess__str *keys = tess__calloc(NGROUPS, sizeof(*keys) * 2);
    int rc = keys ? TESS_OK : OOM(err);
    for (uint32_t g = 0; !rc && g < ng; g++) {
        off[g] = k.len;
        if (tess__oview_meta_key(ov, g, &k)) rc = OOM(err);
    }
    if (!rc) {
        tess__str *vals = keys + NGROUPS;
        for (uint32_t g = 0; g < ng; g++)
            keys[g] = (tess__str){k.p + off[g], (g + 1 < ng ? off[g + 1] : k.len) - off[g]};
        rc = tess__kv_get(kv, keys, ng, vals, a, err);
        for (uint32_t g = 0; !rc && g < ng; g++) {
            rc = tess__ometa_decode(vals[g].p, vals[g].n, &m[g], a, err);
            if (rc == TESS_EIO) {
                tess__err_clear(err);
                rc = tess__ometa_decode(NULL, 0, &m[g], a, err);
            }
        }
    }
    tess__buf_release(&k);
    tess__free(keys);
    return rc;
}

/* Read-modify-write of every group's meta record, without records. */
static int meta_update(tess__kv *kv, wbatch *b)
{
    b->all = true;
    int rc = wb_flush_many(kv, &b, 1, 0);
    b->all = false;
    return rc;
}

/* ---- materialization ------------------------------------------------------------------------ */

typedef struct mat {
    uint64_t fp;      /* the fingerprint to record (0 after a range: rebuild next time) */
    uint32_t *to;     /* per group: the last ingest this run applies to it */
    const char *key;  /* progress: the last encoded entity key done */
    size_t keyn;
    bool finish;      /* the last update: raise the watermark, clear pending */
    bool reset;       /* start over: watermark 0, nothing applied */
    int64_t now;
} mat;

static int mat_meta(void *arg, uint32_t g, tess__ometa *m, tess__arena *a, bool *skip)
{
    mat *x = arg;
    if (x->reset) {
        memset(m, 0, sizeof(*m));
        m->present = true;
        m->newest = INT64_MIN;
    }
    m->fingerprint = x->fp;
    m->at = x->now;
    if (x->finish) {
        tess__ometa_advance(m, x->to[g]);
        m->pending = false;
    } else {
        m->pending = true;
        m->pending_to = x->to[g];
        m->pending_key = (tess__str){x->key, x->keyn};
    }
    return TESS_OK;
}

/* ---- the sweep: records of forgotten entities, deleted -------------------------------------- */

#define SWEEP_BATCH 1024

/* The heads a sweep found forgotten, deleted SWEEP_BATCH at a time. */
typedef struct sweep {
    tess__kv *kv;
    const tess__oview *ov;
    int64_t now;
    tess__buf keys;  /* the batch's head keys */
    size_t koff[SWEEP_BATCH + 1];
    bool gone[SWEEP_BATCH]; /* per key: deleted by the update's last call of fn */
    size_t n;
    tess__buf hkey;
    tess__arena scratch;
    uint64_t deleted;
    tess__err *err;
} sweep;

/* Whether head `val` is forgotten at the sweep's now: a damaged record is left alone (it is
 * not ours to judge; `tessera verify` reports it), so only ENOMEM fails. */
static int sweep_judge(sweep *sw, tess__str val, bool *gone)
{
    tess__err e = TESS__ERR_INIT;
    int rc = forgotten_at(sw->ov, val, sw->now, &sw->scratch, gone, &e);
    tess__arena_reset(&sw->scratch);
    if (rc == TESS_ENOMEM) tess__err_set(sw->err, rc, "%s", tess__err_msg(&e));
    tess__err_release(&e);
    if (rc == TESS_ENOMEM) return rc;
    if (rc) *gone = false;
    return TESS_OK;
}

/* The update of a batch: each head judged again as it is now (a push may have brought its
 * entity back since the scan), and deleted with its history if still forgotten. */
static int sweep_fn(void *arg, tess__kv_txn *tx, size_t i, tess__str old, tess__str *new_val,
                    bool *del)
{
    sweep *sw = arg;
    (void)new_val;
    sw->gone[i] = false;
    if (!old.p) return TESS_OK;
    bool gone;
    int rc = sweep_judge(sw, old, &gone);
    if (rc || !gone) return rc;
    tess__buf_reset(&sw->hkey);
    if (tess__oview_hist_key((tess__str){sw->keys.p + sw->koff[i], sw->koff[i + 1] - sw->koff[i]},
                             &sw->hkey))
        return OOM(sw->err);
    rc = tess__kv_txn_put(tx, (tess__str){sw->hkey.p, sw->hkey.len}, (tess__str){NULL, 0},
                          sw->err);
    if (!rc) *del = sw->gone[i] = true;
    return rc;
}

static int sweep_flush(sweep *sw)
{
    if (!sw->n) return TESS_OK;
    tess__str keys[SWEEP_BATCH];
    for (size_t i = 0; i < sw->n; i++)
        keys[i] = (tess__str){sw->keys.p + sw->koff[i], sw->koff[i + 1] - sw->koff[i]};
    int rc = tess__kv_update(sw->kv, keys, sw->n, sweep_fn, sw, sw->err);
    for (size_t i = 0; !rc && i < sw->n; i++) sw->deleted += sw->gone[i];
    sw->n = 0;
    tess__buf_reset(&sw->keys);
    return rc;
}

static int sweep_scan_fn(void *arg, tess__str key, tess__str val)
{
    sweep *sw = arg;
    bool gone;
    int rc = sweep_judge(sw, val, &gone);
    if (rc || !gone) return rc;
    sw->koff[sw->n] = sw->keys.len;
    if (tess__buf_append(&sw->keys, key.p, key.n)) return OOM(sw->err);
    sw->koff[++sw->n] = sw->keys.len;
    return sw->n == SWEEP_BATCH ? sweep_flush(sw) : TESS_OK;
}

/* Deletes the records of the view's entities forgotten at `now` (heads and histories): the
 * back ends that keep expired keys (LMDB) do not hold them forever. *deleted: how many. */
static int sweep_view(tess__kv *kv, const tess__oview *ov, int64_t now, uint64_t *deleted,
                      tess__err *err)
{
    sweep *sw = tess__calloc(1, sizeof(*sw));
    tess__buf pre = TESS__BUF_INIT;
    *deleted = 0;
    if (!sw) return OOM(err);
    *sw = (sweep){.kv = kv, .ov = ov, .now = now, .keys = TESS__BUF_INIT, .hkey = TESS__BUF_INIT,
                  .scratch = TESS__ARENA_INIT, .err = err};
    int rc = tess__oview_prefix(ov, &pre) ? OOM(err) : TESS_OK;
    if (!rc) rc = tess__kv_scan(kv, (tess__str){pre.p, pre.len}, sweep_scan_fn, sw, err);
    if (!rc) rc = sweep_flush(sw);
    *deleted = sw->deleted;
    tess__buf_release(&pre);
    tess__buf_release(&sw->keys);
    tess__buf_release(&sw->hkey);
    tess__arena_release(&sw->scratch);
    tess__free(sw);
    return rc;
}

/* Drops the view's records: heads and histories of every group, and those of the layout before
 * slot groups (oview.h tess__oview_legacy_prefix) with its meta record. */
static int drop_records(tess__kv *kv, const tess__oview *ov, tess__err *err)
{
    tess__buf pre = TESS__BUF_INIT;
    int rc = TESS_OK;
    for (int k = 0; !rc && k < 5; k++) {
        tess__buf_reset(&pre);
        int prc = k == 0   ? tess__oview_prefix(ov, &pre)
                  : k == 1 ? tess__oview_hist_prefix(ov, &pre)
                           : tess__oview_legacy_prefix(ov, "vhm"[k - 2], &pre);
        if (prc) rc = OOM(err);
        else if (k < 4) rc = tess__kv_drop_prefix(kv, (tess__str){pre.p, pre.len}, NULL, err);
        else { /* the old meta record: one key ('m' name is a prefix of no other key's) */
            tess__str key = {pre.p, pre.len}, none = {NULL, 0};
            rc = tess__kv_put(kv, &key, &none, 1, err);
        }
    }
    tess__buf_release(&pre);
    return rc;
}

/* Key order of encoded entity keys (memcmp, a shorter key before its extensions). */
static int ekey_cmp(tess__str a, tess__str b)
{
    size_t k = a.n < b.n ? a.n : b.n;
    int c = k ? memcmp(a.p, b.p, k) : 0;
    return c ? c : (a.n > b.n) - (a.n < b.n);
}

/* Materializes one view; appends its report to `views`. */
static int materialize_view(tess_store *st, tess__kv *kv, tess__evstore *es, const tess__oview *ov,
                            const tess_materialize_opts *opts, int64_t now, json_t *views)
{
    tess__err *err = &st->err;
    const tess__view *v = tess__oview_view(ov);
    const tess__source *src = tess__evstore_source(v->source);
    tess__arena a = TESS__ARENA_INIT;
    wbatch b = {0};
    b.ov = ov;
    b.now = now;
    b.newest = INT64_MIN;
    b.ncols = v->source->nschema;
    b.err = err;
    b.mfn = mat_meta;
    b.only_new = true;
    uint32_t *to = tess__calloc(NGROUPS, sizeof(uint32_t));
    tess__ometa *m = tess__calloc(NGROUPS, sizeof(tess__ometa));
    mat x = {tess__oview_fingerprint(ov), to, NULL, 0, false, false, now};
    uint32_t ng = tess__kv_slot_groups(kv);
    b.marg = &x;
    tess__evscan *scan = NULL;
    tess__buf ek = TESS__BUF_INIT, hk = TESS__BUF_INIT;
    /* one materialization of the store at a time (two would apply the same ingests twice);
       pushes do not wait: the meta records' `pending` tells them what a run will apply */
    tess__kv_hold *lock = NULL;
    int rc = to && m ? TESS_OK : OOM(err);
    if (!rc) rc = online_lock(kv, &lock, err);
    if (!rc) rc = meta_get(kv, ov, m, &a, err);
    if (rc) goto out;
    /* a view is materialized when every group's account is present and of this definition;
       otherwise it is rebuilt whole */
    bool full = opts->full || opts->has_range;
    for (uint32_t g = 0; g < ng && !full; g++)
        full = !m[g].present || m[g].fingerprint != tess__oview_fingerprint(ov);
    if (opts->has_range) x.fp = 0; /* a partial view: the next run rebuilds it */
    tess__evstats es_st;
    rc = tess__evstore_stats(es, src, &es_st, err);
    uint32_t last = es_st.ingests;
    tess__evstats_release(&es_st);
    if (rc) goto out;
    for (uint32_t g = 0; g < ng; g++) to[g] = last;
    if (full) {
        /* drop the records and reset the accounts: first every account is marked as of no
           definition (pushes leave the view alone from then on, and a crash between the steps
           leaves a view the next run rebuilds whole), then the heads and histories go, then
           every account is reset to this definition, pending up to `last` (pushes of ingests
           up to it leave them to this run; later ones apply themselves) */
        uint64_t fp = x.fp;
        x.reset = true;
        x.fp = 0;
        rc = meta_update(kv, &b);
        x.fp = fp;
        if (!rc) rc = drop_records(kv, ov, err);
        if (!rc) rc = meta_update(kv, &b);
        x.reset = false;
        if (rc) goto out;
        memset(m, 0, NGROUPS * sizeof(*m));
        for (uint32_t g = 0; g < ng; g++) m[g].present = true;
    } else {
        /* a group whose run crashed resumes it: up to its pending_to, after its pending_key */
        for (uint32_t g = 0; g < ng; g++)
            if (m[g].pending) to[g] = m[g].pending_to;
    }
    bool work = false;
    uint32_t wm = last; /* the watermark the run leaves: the least group's */
    for (uint32_t g = 0; g < ng; g++) {
        work = work || to[g] > m[g].watermark;
        if (to[g] < wm) wm = to[g];
    }
    if (work) {
        tess__evorder ord = tess__evorder_of(src, v->join_cols, v->njoin);
        rc = tess__evscan_open(es, src, v->join_cols, v->njoin, NULL, 0, &scan, err);
        const tess__batch *eb;
        tess__value *row = tess__calloc(b.ncols ? b.ncols : 1, sizeof(tess__value));
        if (!rc && !row) rc = OOM(err);
        while (!rc && (rc = tess__evscan_next(scan, &eb, err)) == TESS_OK) {
            for (size_t r = 0; !rc && r < eb->nrows;) {
                size_t e = r + 1; /* the entity's rows: [r, e) */
                while (e < eb->nrows && tess__ev_cmp_keys(&ord, eb, r, eb, e) == 0) e++;
                tess__buf_reset(&ek);
                rc = tess__evkey_encode(&ek, eb->cols, v->join_cols, v->njoin, r);
                if (rc) {
                    rc = rc == TESS_NOTFOUND ? TESS_OK : OOM(err);
                    r = e;
                    continue;
                }
                tess__str ent = {ek.p, ek.len};
                uint32_t g = tess__oview_group_of(ent, ng);
                /* done before the crash (the scan is in entity key order) */
                if (m[g].pending && ekey_cmp(ent, m[g].pending_key) <= 0) {
                    r = e;
                    continue;
                }
                bool started = false;
                for (size_t i = r; !rc && i < e; i++) {
                    uint32_t ing = (uint32_t)((uint64_t)eb->seq[i] >> 32);
                    if (ing > to[g] || tess__ometa_has(&m[g], ing)) continue;
                    if (opts->has_range) {
                        int64_t ts = ((const int64_t *)eb->cols[src->ts_col].data)[i];
                        if (ts < opts->start || ts > opts->end) continue;
                    }
                    if (!started) {
                        tess__buf_reset(&hk);
                        if (tess__oview_key_of(ov, ng, ent, &hk)) rc = OOM(err);
                        else rc = wb_entity(&b, hk.p, hk.len);
                        if (rc) break;
                    }
                    started = true;
                    for (size_t c = 0; c < b.ncols; c++) row[c] = tess__col_get(&eb->cols[c], i);
                    rc = wb_row(&b, row, eb->seq[i]);
                }
                if (!rc && (b.n >= FLUSH_ENTITIES || b.nrows >= FLUSH_ROWS)) {
                    /* progress: every entity up to this one, in each group the batch touches */
                    char *kc = tess__arena_alloc(&b.scratch, ek.len);
                    if (!kc) rc = OOM(err);
                    else {
                        memcpy(kc, ek.p, ek.len);
                        x.key = kc;
                        x.keyn = ek.len;
                        rc = wb_flush(kv, &b);
                    }
                }
                r = e;
            }
        }
        tess__free(row);
        if (rc == TESS_NOTFOUND) rc = TESS_OK;
        if (!rc && b.n) { /* the last batch; its progress key is the last entity's */
            tess__str ent;
            size_t kn = b.keys.len - b.koff[b.n - 1];
            rc = tess__oview_key_parts((tess__str){b.keys.p + b.koff[b.n - 1], kn}, NULL, NULL,
                                       &ent);
            char *kc = rc ? NULL : tess__arena_alloc(&b.scratch, ent.n + 1);
            if (!kc) rc = OOM(err);
            else {
                memcpy(kc, ent.p, ent.n);
                x.key = kc;
                x.keyn = ent.n;
                rc = wb_flush(kv, &b);
            }
        }
    }
    if (!rc) {
        x.finish = true;
        rc = meta_update(kv, &b);
    }
    uint64_t expired = 0;
    bool expiry = tess__oview_expiry_us(ov) > 0;
    if (!rc && expiry) rc = sweep_view(kv, ov, now, &expired, err);
    if (!rc) {
        json_t *o = json_pack("{s:s, s:s, s:I, s:I, s:I}", "view", v->name, "mode",
                              full ? "full" : "incremental", "events", (json_int_t)b.events,
                              "entities", (json_int_t)b.entities, "watermark", (json_int_t)wm);
        if (o && expiry && json_object_set_new(o, "expired", json_integer((json_int_t)expired))) {
            json_decref(o);
            o = NULL;
        }
        if (!o || json_array_append_new(views, o)) rc = OOM(err);
    }
out:
    rc = online_unlock(lock, rc, err);
    if (scan) tess__evscan_close(scan);
    tess__buf_release(&ek);
    tess__buf_release(&hk);
    wb_release(&b);
    tess__arena_release(&a);
    tess__free(to);
    tess__free(m);
    return rc;
}

int tess_materialize(tess_store *st, const tess_materialize_opts *opts, char **json_out)
{
    if (json_out) *json_out = NULL;
    int rc = tess__store_enter(st);
    if (rc) return rc;
    tess_materialize_opts none = {0};
    if (!opts) opts = &none;
    if (!json_out) return tess__err_set(&st->err, TESS_EINVAL, "no output pointer");
    if (opts->has_range && opts->start > opts->end)
        return tess__err_set(&st->err, TESS_EINVAL, "--start is after --end");
    tess__snap *snap;
    tess__kv *kv;
    tess__evstore *es;
    if ((rc = tess__store_snap(st, &snap)) || (rc = tess__store_kv(st, &kv)) ||
        (rc = tess__store_evstore(st, &es)))
        return rc;
    const tess__defs *d = snap->defs;
    for (size_t i = 0; i < opts->nviews; i++) {
        const tess__view *v = tess__defs_view(d, opts->views[i]);
        if (!v)
            return tess__err_set(&st->err, TESS_NOTFOUND, "no feature view \"%s\"",
                                 opts->views[i]);
        if (!v->online)
            return tess__err_set(&st->err, TESS_EINVAL,
                                 "feature view %s is not online (online: false)", v->name);
    }
    int64_t now;
    if (tess__now(&now))
        return tess__err_set(&st->err, TESS_EINVAL, "TESSERA_NOW is not a timestamp");
    json_t *views = json_array();
    if (!views) return OOM(&st->err);
    tess__snap_ref(snap);
    for (size_t i = 0; !rc && i < d->nviews; i++) {
        if (!snap->ov[i]) continue;
        bool chosen = opts->nviews == 0;
        for (size_t k = 0; k < opts->nviews && !chosen; k++)
            chosen = strcmp(opts->views[k], d->views[i]->name) == 0;
        if (chosen) rc = materialize_view(st, kv, es, snap->ov[i], opts, now, views);
    }
    tess__snap_unref(snap);
    json_t *res = rc ? NULL : json_pack("{s:o}", "views", views);
    if (rc) json_decref(views);
    if (!rc) {
        *json_out = res ? tess__json_text(res, JSON_COMPACT) : NULL;
        if (!*json_out) rc = OOM(&st->err);
    }
    json_decref(res);
    return rc;
}

/* ---- the online half of a push ------------------------------------------------------------- */

typedef struct pushm {
    uint64_t fp;
    const uint32_t *ingests; /* the offline ingests the rows came with (none: online only) */
    size_t ningests;
    int64_t now;
} pushm;

static int push_meta(void *arg, uint32_t g, tess__ometa *m, tess__arena *a, bool *skip)
{
    (void)g;
    pushm *x = arg;
    /* a view that is not materialized, or whose records are of another definition, is left
       to its (full) materialization, which will read this push from the offline store */
    if (!m->present || m->fingerprint != x->fp) {
        *skip = true;
        return TESS_OK;
    }
    /* an ingest already counted (a materialization read it from the offline store after this
       push's offline commit), or one a materialization in progress (or a crashed one, to be
       resumed) will read: this push must not apply it again. The group's ingests were
       committed together, so a materialization sees all of them or none. */
    for (size_t i = 0; i < x->ningests; i++)
        if (tess__ometa_has(m, x->ingests[i]) || (m->pending && x->ingests[i] <= m->pending_to)) {
            *skip = true;
            return TESS_OK;
        }
    m->at = x->now;
    for (size_t i = 0; i < x->ningests; i++) {
        int rc = tess__ometa_add(m, x->ingests[i], a);
        if (rc) return rc;
    }
    return TESS_OK;
}

/* Sorting rows by their record key. */
typedef struct krow {
    const char *k;
    size_t n;
    size_t row;
} krow;

static int krow_cmp(const void *a, const void *b)
{
    const krow *x = a, *y = b;
    size_t n = x->n < y->n ? x->n : y->n;
    int c = memcmp(x->k, y->k, n);
    if (c) return c;
    if (x->n != y->n) return x->n < y->n ? -1 : 1;
    return x->row < y->row ? -1 : x->row > y->row;
}

int tess__online_apply_rows(tess__kv *kv, const tess__snap *snap,
                            const tess__source *src, const tess__view *only,
                            const tess__value *rows, const int64_t *seq,
                            size_t nrows, const uint32_t *ingests, size_t ningests,
                            bool replayable, int64_t now, size_t *views_updated,
                            tess__err *err)
{
    int rc = TESS_OK;
    const tess__source *store_src = tess__evstore_source(src);
    size_t ncols = src->nschema, nv = snap->defs->nviews;
    krow *kr = tess__calloc(nrows ? nrows : 1, sizeof(*kr));
    tess__buf keys = TESS__BUF_INIT;
    size_t *koff = tess__calloc(nrows + 1, sizeof(size_t));
    tess__value *kv_vals = tess__calloc(16, sizeof(tess__value));
    wbatch *bs = tess__calloc(nv + 1, sizeof(*bs));
    wbatch **bp = tess__calloc(nv + 1, sizeof(*bp));
    pushm x = {0, ingests, ningests, now};
    pushm *xs = tess__calloc(nv + 1, sizeof(*xs));
    size_t nb = 0;
    if (!kr || !koff || !kv_vals || !bs || !bp || !xs) rc = OOM(err);
    *views_updated = 0;
    /* a batch per view the rows go to: its entities' rows, one entity's rows together */
    for (size_t vi = 0; !rc && vi < nv; vi++) {
        const tess__oview *ov = snap->ov[vi];
        if (!ov) continue;
        const tess__view *v = tess__oview_view(ov);
        if (tess__evstore_source(v->source) != store_src || v->source->nschema != ncols)
            continue;
        if (only && strcmp(only->name, v->name) != 0) continue;
        /* the rows' record keys, sorted, so that one entity's rows are together */
        tess__buf_reset(&keys);
        size_t nk = 0;
        for (size_t r = 0; !rc && r < nrows; r++) {
            for (size_t j = 0; j < v->njoin && j < 16; j++)
                kv_vals[j] = rows[r * ncols + v->join_cols[j]];
            koff[r] = keys.len;
            int krc = tess__oview_key(ov, tess__kv_slot_groups(kv), kv_vals, &keys);
            if (krc == TESS_NOTFOUND) { /* a null key: no entity of this view */
                keys.len = koff[r];
                continue;
            }
            if (krc) rc = krc == TESS_ENOMEM ? OOM(err) : tess__err_set(err, krc, "bad key");
            kr[nk++] = (krow){NULL, keys.len - koff[r], r};
        }
        if (rc) break;
        if (nk == 0) continue; /* nothing to write, nothing to account for */
        for (size_t i = 0; i < nk; i++) kr[i].k = keys.p + koff[kr[i].row];
        qsort(kr, nk, sizeof(*kr), krow_cmp);
        xs[nb] = x;
        xs[nb].fp = tess__oview_fingerprint(ov);
        wbatch *b = &bs[nb];
        bp[nb] = b;
        b->ov = ov;
        b->now = now;
        b->newest = INT64_MIN;
        b->ncols = ncols;
        b->err = err;
        b->mfn = push_meta;
        b->marg = &xs[nb++];
        b->borrow = true;
        for (size_t i = 0; !rc && i < nk; i++) {
            if (i == 0 || krow_cmp(&(krow){kr[i].k, kr[i].n, 0}, &(krow){kr[i - 1].k, kr[i - 1].n, 0}) != 0)
                rc = wb_entity(b, kr[i].k, kr[i].n);
            if (!rc) rc = wb_row(b, &rows[kr[i].row * ncols], seq[kr[i].row]);
        }
    }
    /* one update for every view: each group's records with its meta record, one transaction
       (on a cluster, one per hash slot); a view or group without a row of the push has
       nothing to account for (its materialization finds no row of these ingests) */
    if (!rc && nb) {
        rc = wb_flush_many(kv, bp, nb, replayable ? TESS__KV_REPLAYABLE : 0);
        for (size_t k = 0; !rc && k < nb; k++)
            if (bs[k].entities) (*views_updated)++;
    }
    for (size_t k = 0; k < nb; k++) wb_release(&bs[k]);
    tess__buf_release(&keys);
    tess__free(koff);
    tess__free(kr);
    tess__free(kv_vals);
    tess__free(bs);
    tess__free(bp);
    tess__free(xs);
    return rc;
}

/* ---- monitoring ---------------------------------------------------------------------------- */

static json_t *ts_json(int64_t us)
{
    if (us == INT64_MIN || us == 0) return json_null();
    char b[TESS_TS_FORMAT_MAX];
    tess__ts_format(us, b);
    return json_string(b);
}

int tess_online_stats(tess_store *st, char **json_out)
{
    if (json_out) *json_out = NULL;
    int rc = tess__store_enter(st);
    if (rc) return rc;
    if (!json_out) return tess__err_set(&st->err, TESS_EINVAL, "no output pointer");
    tess__snap *snap;
    tess__kv *kv;
    if ((rc = tess__store_snap(st, &snap)) || (rc = tess__store_kv(st, &kv))) return rc;
    uint64_t bytes = 0, keys = 0;
    if ((rc = tess__kv_stats(kv, &bytes, &keys, &st->err))) return rc;
    json_t *views = json_array(), *res = NULL;
    tess__arena a = TESS__ARENA_INIT;
    tess__ometa *ms = tess__calloc(NGROUPS, sizeof(*ms));
    uint32_t ng = tess__kv_slot_groups(kv);
    if (!ms) rc = OOM(&st->err);
    for (size_t i = 0; !rc && views && i < snap->defs->nviews; i++) {
        const tess__oview *ov = snap->ov[i];
        if (!ov) continue;
        /* the groups combined: materialized when every group is; the watermark is the least
           group's, the newest event and the last change the greatest */
        if ((rc = meta_get(kv, ov, ms, &a, &st->err))) break;
        bool ok = true;
        uint32_t wm = UINT32_MAX;
        int64_t newest = INT64_MIN, at = INT64_MIN;
        for (uint32_t g = 0; g < ng; g++) {
            const tess__ometa *m = &ms[g];
            ok = ok && m->present && m->fingerprint == tess__oview_fingerprint(ov);
            if (!m->present) {
                wm = 0;
                continue;
            }
            if (m->watermark < wm) wm = m->watermark;
            if (m->newest > newest) newest = m->newest;
            if (m->at > at) at = m->at;
        }
        json_t *o = json_pack("{s:s, s:b, s:I, s:o, s:o}", "view", snap->defs->views[i]->name,
                              "materialized", ok, "watermark", (json_int_t)(wm == UINT32_MAX ? 0 : wm),
                              "newest_event", ts_json(newest), "updated_at", ts_json(at));
        if (!o || json_array_append_new(views, o)) rc = OOM(&st->err);
        tess__arena_reset(&a);
    }
    tess__arena_release(&a);
    tess__free(ms);
    if (!rc && views)
        res = json_pack("{s:s, s:I, s:I, s:O}", "backend", tess__kv_name(kv), "bytes",
                        (json_int_t)bytes, "keys", (json_int_t)keys, "views", views);
    if (!rc && (!res || !(*json_out = tess__json_text(res, JSON_COMPACT)))) rc = OOM(&st->err);
    json_decref(views);
    json_decref(res);
    return rc;
}
