/* push.c — pushes (tess_pusher_*, tess_push): rows that arrive one request at a time, kept
 * offline (durably, with group commit) and applied online at once. docs/online.md, "Push".
 *
 * Group commit: a push appends its rows to the store's queue; a pusher that finds the offline
 * stage free takes every queued push (its own included) and commits them to the event store
 * in one append — one fsync for all of them — then the group waits for the online stage, where
 * the rows of every group waiting are applied in one transaction. Two pushing threads (the
 * server's two committers) overlap one group's online write with the next group's offline
 * commit (run_group).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/time.h"
#include "offline/batch.h"
#include "offline/evstore.h"
#include "offline/reader.h"
#include "store/store_int.h"
#include "tessera.h"

#define OOM(err) tess__err_set((err), TESS_ENOMEM, "out of memory")

struct tess_pusher {
    tess__snap *snap;
    const tess__source *src;
    const tess__view *only; /* tess_pusher_for_view: write this view online, nothing else */
    tess__evlayout *layouts; /* the layouts the views over its store read */
    size_t nlayouts;
};

int tess_pusher_new(tess_store *st, const char *name, tess_pusher **out)
{
    *out = NULL;
    int rc = tess__store_enter(st);
    if (rc) return rc;
    tess__snap *snap;
    if ((rc = tess__store_snap(st, &snap))) return rc;
    const tess__source *src = name ? tess__defs_source(snap->defs, name) : NULL;
    if (!src) return tess__err_set(&st->err, TESS_NOTFOUND, "no push source \"%s\"", name ? name : "");
    if (src->kind != TESS_SOURCE_PUSH)
        return tess__err_set(&st->err, TESS_EINVAL, "source \"%s\" is a batch source: push to a "
                             "push source (type: push), or use tessera ingest", name);
    tess_pusher *p = tess__calloc(1, sizeof(*p));
    const tess__defs *d = snap->defs;
    if (!p || !(p->layouts = tess__calloc(d->nviews + 1, sizeof(*p->layouts)))) {
        tess__free(p);
        return OOM(&st->err);
    }
    for (size_t i = 0; i < d->nviews; i++) {
        const tess__view *v = d->views[i];
        if (tess__evstore_source(v->source) != tess__evstore_source(src)) continue;
        bool dup = false;
        for (size_t k = 0; k < p->nlayouts && !dup; k++)
            dup = p->layouts[k].ncols == v->njoin &&
                  memcmp(p->layouts[k].cols, v->join_cols, v->njoin * sizeof(size_t)) == 0;
        if (!dup) p->layouts[p->nlayouts++] = (tess__evlayout){v->join_cols, v->njoin};
    }
    tess__snap_ref(snap);
    p->snap = snap;
    p->src = src;
    *out = p;
    return TESS_OK;
}

int tess_pusher_for_view(tess_store *st, const char *view, tess_pusher **out)
{
    *out = NULL;
    int rc = tess__store_enter(st);
    if (rc) return rc;
    tess__snap *snap;
    if ((rc = tess__store_snap(st, &snap))) return rc;
    const tess__view *v = view ? tess__defs_view(snap->defs, view) : NULL;
    if (!v) return tess__err_set(&st->err, TESS_NOTFOUND, "no feature view \"%s\"", view ? view : "");
    if (!v->online)
        return tess__err_set(&st->err, TESS_EINVAL, "feature view %s is not online (online: "
                             "false)", v->name);
    tess_pusher *p = tess__calloc(1, sizeof(*p));
    if (!p) return OOM(&st->err);
    tess__snap_ref(snap);
    p->snap = snap;
    p->src = v->source;
    p->only = v;
    *out = p;
    return TESS_OK;
}

void tess_pusher_free(tess_pusher *p)
{
    if (!p) return;
    tess__snap_unref(p->snap);
    tess__free(p->layouts);
    tess__free(p);
}

size_t tess_pusher_ncolumns(const tess_pusher *p)
{
    return p->src->nschema;
}

const char *tess_pusher_column(const tess_pusher *p, size_t i, int *type)
{
    if (i >= p->src->nschema) return NULL;
    if (type) *type = (int)p->src->schema[i].type;
    return p->src->schema[i].name;
}

size_t tess_pusher_ts_column(const tess_pusher *p)
{
    return p->src->ts_col;
}

/* ---- group commit ------------------------------------------------------------------------- */

typedef struct preq {
    const tess_pusher *p;
    int to;
    tess__batch *b;           /* offline: the rows as a batch (NULL when not offline) */
    const tess__value *vals;  /* online: the rows, row-major */
    int64_t *seq;             /* each row's ingestion seq (set by the commit) */
    size_t nrows;
    int64_t now;
    uint32_t ingest;
    int rc;
    bool done;    /* the stages' own mark: nothing more to do for it */
    bool settled; /* done, as its owner may see it (set under the queue's lock once the stage
                     that finished it no longer touches it: the owner then frees it) */
    tess__err err;
    struct preq *next;
    /* owned by the request (prep_rows, tess_push_many) */
    tess__batch batch;
    tess__value *own_vals;
} preq;

/* The store's pushes in two stages, each run by one thread at a time, so that a group's online
 * write and the next group's offline commit overlap when two threads push (the server's two
 * committers): requests wait for the offline stage (head..tail), then, in commit order, for the
 * online stage (ohead..otail). */
struct tess__pushq {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    preq *head, *tail;
    preq *ohead, *otail;
    bool offline_busy, online_busy;
};

int tess__pushq_new(struct tess__pushq **out)
{
    struct tess__pushq *q = tess__calloc(1, sizeof(*q));
    if (!q) return TESS_ENOMEM;
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
    *out = q;
    return TESS_OK;
}

void tess__pushq_free(struct tess__pushq *q)
{
    if (!q) return;
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->cv);
    tess__free(q);
}

/* Marks the requests rs[0..n) done with rc (and r0's message when failing). */
static void finish(preq **rs, size_t n, int rc, const tess__err *msg)
{
    for (size_t i = 0; i < n; i++) {
        if (rc && !rs[i]->rc) {
            rs[i]->rc = rc;
            if (&rs[i]->err != msg) tess__err_set(&rs[i]->err, rc, "%s", tess__err_msg(msg));
        }
        rs[i]->done = true;
    }
}

/* The online half of a group: the rows of every request with the same target, in one
 * transaction per view. */
static void apply_online(tess_session *s, preq **rs, size_t n)
{
    const tess__source *src = rs[0]->p->src;
    size_t ns = src->nschema, total = 0, ning = 0;
    for (size_t i = 0; i < n; i++) total += rs[i]->nrows;
    tess__value *vals = tess__calloc(total * ns + 1, sizeof(*vals));
    int64_t *seq = tess__calloc(total + 1, sizeof(int64_t));
    uint32_t *ings = tess__calloc(n + 1, sizeof(uint32_t));
    tess__err err = TESS__ERR_INIT;
    int rc = vals && seq && ings ? TESS_OK : tess__err_set(&err, TESS_ENOMEM, "out of memory");
    size_t at = 0;
    for (size_t i = 0; !rc && i < n; i++) {
        memcpy(vals + at * ns, rs[i]->vals, rs[i]->nrows * ns * sizeof(*vals));
        memcpy(seq + at, rs[i]->seq, rs[i]->nrows * sizeof(int64_t));
        at += rs[i]->nrows;
        if (rs[i]->ingest) ings[ning++] = rs[i]->ingest;
    }
    size_t nv;
    if (!rc)
        /* every request stored offline: the next materialization would apply the rows again
           after a crash that lost them, so the online commit need not be flushed (kv.h) */
        rc = tess__online_apply_rows(s->kv, rs[0]->p->snap, src, rs[0]->p->only, vals, seq,
                                     total, ings, ning, ning == n, rs[0]->now, &nv, &err);
    /* a push whose offline commit is done is durable: say so, so that it is not sent again
       (the next materialization applies it online) */
    for (size_t i = 0; rc && i < n; i++)
        if (rs[i]->ingest && !rs[i]->rc) {
            rs[i]->rc = rc;
            tess__err_set(&rs[i]->err, rc, "the rows are stored offline (ingest %u) and reach "
                          "the online store at its next materialization; do not push them "
                          "again. The online write failed: %s", rs[i]->ingest,
                          tess__err_msg(&err));
        }
    finish(rs, n, rc, &err);
    tess__err_release(&err);
    tess__free(vals);
    tess__free(seq);
    tess__free(ings);
}

/* Every request of `list` fails with TESS_ENOMEM (a stage could not allocate its arrays). */
static void fail_all(preq *list)
{
    for (preq *x = list; x; x = x->next) {
        x->rc = tess__err_set(&x->err, TESS_ENOMEM, "out of memory");
        x->done = true;
    }
}

/* The offline stage of the taken pushes: per store source, one offline append of every
 * request going offline (one ingest each, one commit). Requests not going online are done. */
static void offline_stage(tess_session *s, preq *list)
{
    size_t n = 0;
    for (preq *x = list; x; x = x->next) n++;
    preq **rs = tess__calloc(n + 1, sizeof(*rs));
    tess__batch **bs = tess__calloc(n + 1, sizeof(*bs));
    if (!rs || !bs) {
        fail_all(list);
        tess__free(rs);
        tess__free(bs);
        return;
    }
    for (preq *r = list; r; r = r->next) {
        if (r->done || !r->b || r->ingest) continue;
        size_t k = 0;
        for (preq *x = r; x; x = x->next)
            if (x->b && !x->ingest && !x->rc &&
                tess__evstore_source(x->p->src) == tess__evstore_source(r->p->src)) {
                rs[k] = x;
                bs[k++] = x->b;
            }
        uint32_t first = 0;
        int rc = tess__evstore_append(s->es, r->p->src, r->p->layouts, r->p->nlayouts, bs, k,
                                      &first, &r->err);
        for (size_t i = 0; i < k; i++) {
            if (rc) {
                finish(&rs[i], 1, rc, &r->err);
                continue;
            }
            rs[i]->ingest = first + (uint32_t)i;
            memcpy(rs[i]->seq, rs[i]->b->seq, rs[i]->nrows * sizeof(int64_t));
            if (!(rs[i]->to & TESS_PUSH_ONLINE)) rs[i]->done = true;
        }
    }
    tess__free(rs);
    tess__free(bs);
}

/* The online stage: per target (source, definitions, view) one online write of every request
 * of `list` going online. */
static void online_stage(tess_session *s, preq *list)
{
    size_t n = 0;
    for (preq *x = list; x; x = x->next) n++;
    preq **rs = tess__calloc(n + 1, sizeof(*rs));
    if (!rs) {
        fail_all(list);
        return;
    }
    for (preq *r = list; r; r = r->next) {
        if (r->done) continue;
        size_t k = 0;
        for (preq *x = r; x; x = x->next)
            if (!x->done && x->p->snap == r->p->snap && x->p->only == r->p->only &&
                tess__evstore_source(x->p->src) == tess__evstore_source(r->p->src))
                rs[k++] = x;
        apply_online(s, rs, k);
    }
    tess__free(rs);
}

/* Runs the prepared requests rs[0..n) with whatever other pushes are waiting: they join the
 * store's queue together (so that they commit in one group). A thread whose requests are not
 * done runs whichever stage is free — the online stage of the oldest groups first — on every
 * request waiting for it, then looks again; otherwise it waits. One thread alone runs both
 * stages of its own group, one after the other. */
static void run_group(tess_session *s, preq **rs, size_t n)
{
    if (n == 0) return;
    struct tess__pushq *q = s->st->pushq;
    pthread_mutex_lock(&q->mu);
    for (size_t i = 0; i < n; i++) {
        rs[i]->next = NULL;
        if (q->tail) q->tail->next = rs[i];
        else q->head = rs[i];
        q->tail = rs[i];
    }
    size_t waiting = 0; /* rs[0..waiting) are settled */
    for (;;) {
        while (waiting < n && rs[waiting]->settled) waiting++;
        if (waiting == n) break;
        if (!q->online_busy && q->ohead) {
            preq *list = q->ohead;
            q->ohead = q->otail = NULL;
            q->online_busy = true;
            pthread_mutex_unlock(&q->mu);
            online_stage(s, list);
            pthread_mutex_lock(&q->mu);
            for (preq *x = list; x; x = x->next) x->settled = true;
            q->online_busy = false;
            pthread_cond_broadcast(&q->cv);
        } else if (!q->offline_busy && q->head) {
            preq *list = q->head;
            q->head = q->tail = NULL;
            q->offline_busy = true;
            pthread_mutex_unlock(&q->mu);
            offline_stage(s, list);
            pthread_mutex_lock(&q->mu);
            /* on to the online stage, in commit order (the links are the queue's again) */
            for (preq *x = list, *next; x; x = next) {
                next = x->next;
                if (x->done) {
                    x->settled = true;
                    continue;
                }
                x->next = NULL;
                if (q->otail) q->otail->next = x;
                else q->ohead = x;
                q->otail = x;
            }
            q->offline_busy = false;
            pthread_cond_broadcast(&q->cv);
        } else {
            pthread_cond_wait(&q->cv, &q->mu);
        }
    }
    pthread_mutex_unlock(&q->mu);
}

/* ---- the push ----------------------------------------------------------------------------- */

static void put_cell(tess__col *c, size_t row, const tess__value *v)
{
    c->nulls[row] = v->null;
    if (v->null) return;
    switch (c->type) {
    case TESS_T_BOOL: ((uint8_t *)c->data)[row] = v->u.b; break;
    case TESS_T_FLOAT64: ((double *)c->data)[row] = v->u.f; break;
    case TESS_T_STRING: ((tess__str *)c->data)[row] = v->u.s; break;
    default: ((int64_t *)c->data)[row] = v->u.i; break;
    }
}

/* The push's "to", as tess_push documents it (a view's target writes online only). */
static int check_to(const tess_pusher *p, int *to, tess__err *err)
{
    if (p->only) *to = TESS_PUSH_ONLINE;
    if (*to < TESS_PUSH_ONLINE || *to > TESS_PUSH_ONLINE_AND_OFFLINE)
        return tess__err_set(err, TESS_EINVAL, "\"to\" must be online, offline or "
                             "online_and_offline");
    return TESS_OK;
}

static void prep_release(preq *r)
{
    tess__batch_release(&r->batch);
    tess__free(r->seq);
    tess__free(r->own_vals);
    tess__err_release(&r->err);
    r->seq = NULL;
    r->own_vals = NULL;
}

/* Prepares a push of typed rows: vals[r * nschema + c], the source's schema order, types
 * checked by the caller, borrowed until the commit. Checks the event timestamps and makes the
 * offline batch. Returns TESS_OK or the error (in r->err); prep_release r either way. */
static int prep_rows(preq *r, const tess_pusher *p, const tess__value *vals, size_t nrows,
                     int to, int64_t now)
{
    const tess__source *src = p->src;
    size_t ns = src->nschema;
    tess__err *err = &r->err;
    r->p = p;
    r->to = to;
    r->vals = vals;
    r->nrows = nrows;
    r->now = now;
    for (size_t i = 0; i < nrows; i++)
        if (vals[i * ns + src->ts_col].null)
            return tess__err_set(err, TESS_EINVAL, "row %zu: column %s (the event timestamp) is "
                                 "null", i + 1, src->schema[src->ts_col].name);
    if (nrows == 0) return TESS_OK;
    if (!(r->seq = tess__calloc(nrows, sizeof(int64_t)))) return OOM(err);
    /* online only: after every ingested row in the tie-break order */
    for (size_t i = 0; i < nrows; i++) r->seq[i] = (int64_t)((0x7FFFFFFFull << 32) | i);
    if (to & TESS_PUSH_OFFLINE) {
        tess__type *types = tess__calloc(ns, sizeof(tess__type));
        for (size_t c = 0; types && c < ns; c++) types[c] = src->schema[c].type;
        int bad = !types || tess__batch_init(&r->batch, types, ns, nrows);
        tess__free(types);
        if (bad) return OOM(err);
        for (size_t c = 0; c < ns; c++) {
            tess__col *col = &r->batch.cols[c];
            for (size_t i = 0; i < nrows; i++) put_cell(col, i, &vals[i * ns + c]);
        }
        r->batch.nrows = nrows;
        r->b = &r->batch;
    }
    return TESS_OK;
}

/* A caller's rows as typed rows of the source's schema (r->own_vals), every one checked. */
static int convert_rows(preq *r, const tess_push_req *in)
{
    tess__err *err = &r->err;
    const tess_pusher *p = in->pusher;
    size_t ncols = in->ncols, nrows = in->nrows;
    if (!p || (ncols && !in->columns) || (nrows && !in->rows))
        return tess__err_set(err, TESS_EINVAL, "missing pusher, columns or rows");
    const tess__source *src = p->src;
    size_t ns = src->nschema;
    int rc = TESS_OK;
    long *map = tess__calloc(ncols + 1, sizeof(long)); /* given column -> schema column */
    bool *given = tess__calloc(ns + 1, sizeof(bool));
    tess__value *vals = r->own_vals = tess__calloc(nrows * ns + 1, sizeof(tess__value));
    if (!map || !vals || !given) rc = OOM(err);
    for (size_t c = 0; !rc && c < ncols; c++) {
        const char *name = in->columns[c];
        map[c] = name ? tess__source_column(src, name) : -1;
        if (map[c] < 0)
            rc = tess__err_set(err, TESS_EINVAL, "column \"%s\" is not in the schema of source %s",
                               name ? name : "", src->name);
        else if (given[map[c]])
            rc = tess__err_set(err, TESS_EINVAL, "column \"%s\" is given twice", name);
        else
            given[map[c]] = true;
    }
    if (!rc && !given[src->ts_col])
        rc = tess__err_set(err, TESS_EINVAL, "column \"%s\" (the event timestamp) is missing",
                           src->schema[src->ts_col].name);
    /* typed rows, every one checked before anything is written */
    for (size_t i = 0; !rc && i < nrows; i++) {
        tess__value *row = &vals[i * ns];
        for (size_t c = 0; c < ns; c++)
            if (!given[c]) row[c] = tess__null(src->schema[c].type);
        const tess_value *inrow = &in->rows[i * ncols];
        for (size_t c = 0; c < ncols; c++) {
            const tess__column *sc = &src->schema[map[c]];
            if (!tess__value_in(&inrow[c], sc->type, &row[map[c]])) {
                rc = tess__err_set(err, TESS_EINVAL, "row %zu: column %s: expected %s, got %s",
                                   i + 1, sc->name, tess__type_name(sc->type),
                                   tess_type_name(inrow[c].type));
                break;
            }
        }
    }
    tess__free(map);
    tess__free(given);
    return rc;
}

int tess_push_many(tess_session *s, tess_push_req *reqs, size_t n)
{
    if (!s) return TESS_EINVAL;
    tess__err *err = &s->err;
    tess__err_clear(err);
    if (n && !reqs) return tess__err_set(err, TESS_EINVAL, "missing push requests");
    for (size_t i = 0; i < n; i++) {
        reqs[i].status = TESS_OK;
        reqs[i].message = NULL;
    }
    preq *rs = tess__calloc(n + 1, sizeof(*rs));
    preq **run = tess__calloc(n + 1, sizeof(*run));
    int64_t now = 0;
    int rc = TESS_OK;
    if (!rs || !run)
        rc = OOM(err);
    else if (tess__now(&now))
        rc = tess__err_set(err, TESS_EINVAL, "TESSERA_NOW is not a timestamp");
    if (rc) {
        for (size_t i = 0; i < n; i++) reqs[i].status = rc;
        tess__free(rs);
        tess__free(run);
        return rc;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        preq *r = &rs[i];
        int to = reqs[i].to;
        int prc = reqs[i].pusher ? check_to(reqs[i].pusher, &to, &r->err) : TESS_OK;
        if (!prc) prc = convert_rows(r, &reqs[i]);
        if (!prc) prc = prep_rows(r, reqs[i].pusher, r->own_vals, reqs[i].nrows, to, now);
        if (prc)
            r->rc = prc;
        else if (reqs[i].nrows)
            run[k++] = r;
    }
    run_group(s, run, k);
    rc = TESS_OK;
    for (size_t i = 0; i < n; i++) {
        preq *r = &rs[i];
        reqs[i].status = r->rc;
        if (r->rc) {
            const char *m = tess__err_msg(&r->err);
            if (!m[0]) m = tess_strerror(r->rc);
            reqs[i].message = tess__strdup(m);
            if (!rc) rc = tess__err_set(err, r->rc, "%s", m);
        }
        prep_release(r);
    }
    tess__free(rs);
    tess__free(run);
    return rc;
}

int tess_push(tess_session *s, const tess_pusher *p, const char *const *columns, size_t ncols,
              const tess_value *rows, size_t nrows, int to)
{
    tess_push_req r;
    memset(&r, 0, sizeof(r));
    r.pusher = p;
    r.columns = columns;
    r.ncols = ncols;
    r.rows = rows;
    r.nrows = nrows;
    r.to = to;
    int rc = tess_push_many(s, &r, 1);
    tess_free(r.message); /* the session has it too */
    return rc;
}

/* Pushes typed rows (tess_push_file): one group of one request. */
static int push_rows(tess_session *s, const tess_pusher *p, const tess__value *vals, size_t nrows,
                     int to, tess__err *err)
{
    int64_t now = 0;
    if (tess__now(&now)) return tess__err_set(err, TESS_EINVAL, "TESSERA_NOW is not a timestamp");
    preq r;
    memset(&r, 0, sizeof(r));
    int rc = prep_rows(&r, p, vals, nrows, to, now);
    if (!rc && nrows) {
        preq *one = &r;
        run_group(s, &one, 1);
        rc = r.rc;
    }
    if (rc) tess__err_set(err, rc, "%s", tess__err_msg(&r.err));
    prep_release(&r);
    return rc;
}

/* ---- a file of rows --------------------------------------------------------------------- */

int tess_push_file(tess_session *s, const tess_pusher *p, const char *path, int to,
                   size_t *rows_out)
{
    if (!s) return TESS_EINVAL;
    tess__err *err = &s->err;
    tess__err_clear(err);
    if (rows_out) *rows_out = 0;
    if (!p || !path) return tess__err_set(err, TESS_EINVAL, "missing pusher or path");
    int rc = check_to(p, &to, err);
    if (rc) return rc;
    const tess__source *src = p->src;
    size_t ns = src->nschema;
    tess__reader_opts ro;
    memset(&ro, 0, sizeof(ro));
    ro.format = tess__format_of_path(path);
    tess__reader *rd = NULL;
    tess__batch b;
    memset(&b, 0, sizeof(b));
    tess__type *types = tess__calloc(ns, sizeof(tess__type));
    tess__value *rows = NULL;
    size_t nrows = 0, cap = 0;
    tess__arena strs = TESS__ARENA_INIT; /* string bytes: the reader reuses its batch */
    if (!types) rc = OOM(err);
    for (size_t c = 0; !rc && c < ns; c++) types[c] = src->schema[c].type;
    if (!rc) rc = tess__reader_open(path, src, &ro, &rd, err);
    if (!rc && tess__batch_init(&b, types, ns, 8192)) rc = OOM(err);
    /* the whole file is one push: all of it or nothing */
    while (!rc && (rc = tess__reader_next(rd, &b, err)) == TESS_OK) {
        if (nrows + b.nrows > cap) {
            size_t nc = (nrows + b.nrows) * 2;
            tess__value *r2 = tess__realloc(rows, nc * ns * sizeof(*r2));
            if (!r2) {
                rc = OOM(err);
                break;
            }
            rows = r2;
            cap = nc;
        }
        for (size_t r = 0; !rc && r < b.nrows; r++)
            for (size_t c = 0; c < ns; c++) {
                tess__value *o = &rows[(nrows + r) * ns + c];
                *o = tess__col_get(&b.cols[c], r);
                if (o->null || o->type != TESS_T_STRING) continue;
                if (!(o->u.s.p = tess__arena_strndup(&strs, o->u.s.p, o->u.s.n))) rc = OOM(err);
            }
        nrows += b.nrows;
    }
    if (rc == TESS_NOTFOUND) rc = TESS_OK;
    if (!rc) rc = push_rows(s, p, rows, nrows, to, err);
    if (!rc && rows_out) *rows_out = nrows;
    tess__reader_close(rd);
    tess__batch_release(&b);
    tess__arena_release(&strs);
    tess__free(rows);
    tess__free(types);
    return rc;
}
