/* online.c — the public API of the online store (include/tessera.h): queries, lookup
 * sessions, lookups and materialization. What a record holds and how values are computed is
 * src/online/oview.c's; this file resolves names, batches keys (one back-end round trip per
 * lookup, whatever the number of views and entities), and walks the offline store.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "core/bytes.h"
#include "core/time.h"
#include "expr/expr_int.h"
#include "offline/batch.h"
#include "offline/evstore.h"
#include "offline/segment.h"
#include "offline/reader_int.h"
#include "online/record.h"
#include "registry/registry.h"
#include "store/store_int.h"
#include "tessera.h"

#define OOM(err) tess__err_set((err), TESS_ENOMEM, "out of memory")

const char *tess_type_name(int type)
{
    return tess__type_name((tess__type)(type >= 0 && type < TESS_T__COUNT ? type : 0));
}

const char *tess_status_name(int status)
{
    switch (status) {
    case TESS_STATUS_PRESENT: return "PRESENT";
    case TESS_STATUS_NOT_FOUND: return "NOT_FOUND";
    case TESS_STATUS_NULL_VALUE: return "NULL_VALUE";
    case TESS_STATUS_OUTSIDE_MAX_AGE: return "OUTSIDE_MAX_AGE";
    default: return "UNKNOWN";
    }
}

int tess_value_parse(const char *text, size_t n, int type, tess_value *out)
{
    const char *why;
    bool b;
    memset(out, 0, sizeof(*out));
    out->type = type;
    if (!text) return TESS_EINVAL;
    switch (type) {
    case TESS_TYPE_BOOL:
        if (tess__rd_parse_bool(text, n, &b)) return TESS_EPARSE;
        out->u.b = b;
        return TESS_OK;
    case TESS_TYPE_INT64:
        return tess__rd_parse_i64(text, n, &out->u.i, &why) ? TESS_EPARSE : TESS_OK;
    case TESS_TYPE_TIMESTAMP:
        return tess__ts_parse(text, n, &out->u.i, &why) ? TESS_EPARSE : TESS_OK;
    case TESS_TYPE_FLOAT64: {
        char tmp[64], *end;
        if (n == 0 || n >= sizeof tmp) return TESS_EPARSE;
        memcpy(tmp, text, n);
        tmp[n] = '\0';
        if (tmp[0] == ' ' || tmp[0] == '\t') return TESS_EPARSE;
        out->u.f = strtod(tmp, &end);
        return *end == '\0' ? TESS_OK : TESS_EPARSE;
    }
    case TESS_TYPE_STRING:
        out->u.s.p = text;
        out->u.s.n = n;
        return TESS_OK;
    default:
        return TESS_EINVAL;
    }
}

size_t tess_value_format(const tess_value *v, char *buf, size_t cap)
{
    char tmp[64];
    const char *p = tmp;
    size_t n;
    if (!v || v->null) {
        p = "";
        n = 0;
    } else {
        switch (v->type) {
        case TESS_TYPE_BOOL: p = v->u.b ? "true" : "false"; n = strlen(p); break;
        case TESS_TYPE_INT64: n = (size_t)snprintf(tmp, sizeof tmp, "%lld", (long long)v->u.i); break;
        case TESS_TYPE_FLOAT64: n = tess__expr_format_float(v->u.f, tmp); break;
        case TESS_TYPE_TIMESTAMP: n = tess__ts_format(v->u.i, tmp); break;
        case TESS_TYPE_STRING: p = v->u.s.p; n = v->u.s.n; break;
        default: p = ""; n = 0; break;
        }
    }
    if (cap) {
        size_t k = n < cap - 1 ? n : cap - 1;
        memcpy(buf, p, k);
        buf[k] = '\0';
    }
    return n;
}

/* ---- queries ------------------------------------------------------------------------------ */

/* A view a query reads: its join keys come from inputs keyidx[], and it computes the view's
 * features which[0..nwhich). */
typedef struct qview {
    const tess__oview *ov;
    size_t *keyidx;
    size_t *which;
    size_t nwhich;
} qview;

/* An output: a view's feature (qv, pos in which) or an on-demand feature. */
typedef struct qout {
    long qv;
    size_t pos;
    const tess__odf *odf;
    size_t *odf_qv, *odf_pos; /* per odf input: where its value comes from */
    size_t *odf_req;          /* per request field: its input index */
} qout;

struct tess_query {
    tess__snap *snap;
    tess__arena arena; /* everything below */
    size_t ninputs;
    const char **in_names;
    tess__type *in_types;
    bool *in_req;
    size_t nout;
    const char **out_names;
    tess__type *out_types;
    qout *outs;
    size_t nqv;
    qview *qv;
};

void tess_query_free(tess_query *q)
{
    if (!q) return;
    tess__snap_unref(q->snap);
    tess__arena_release(&q->arena);
    tess__free(q);
}

const tess__view *tess__query_view(const tess_query *q, size_t i)
{
    return i < q->nqv ? tess__oview_view(q->qv[i].ov) : NULL;
}

int64_t tess_query_version(const tess_query *q)
{
    return q->snap->version;
}

size_t tess_query_ninputs(const tess_query *q)
{
    return q->ninputs;
}

const char *tess_query_input(const tess_query *q, size_t i, int *type, int *is_request)
{
    if (i >= q->ninputs) return NULL;
    if (type) *type = (int)q->in_types[i];
    if (is_request) *is_request = q->in_req[i];
    return q->in_names[i];
}

size_t tess_query_nfeatures(const tess_query *q)
{
    return q->nout;
}

const char *tess_query_feature(const tess_query *q, size_t i, int *type)
{
    if (i >= q->nout) return NULL;
    if (type) *type = (int)q->out_types[i];
    return q->out_names[i];
}

/* The input named `name` of type t, added if new. Errors: a name used with two types. */
static int input_of(tess_query *q, const char *name, tess__type t, bool req, size_t cap,
                    size_t *idx, tess__err *err)
{
    for (size_t i = 0; i < q->ninputs; i++)
        if (strcmp(q->in_names[i], name) == 0) {
            if (q->in_types[i] != t)
                return tess__err_set(err, TESS_EINVAL, "input %s is used as %s and as %s", name,
                                     tess__type_name(q->in_types[i]), tess__type_name(t));
            *idx = i;
            return TESS_OK;
        }
    if (q->ninputs == cap) return OOM(err);
    q->in_names[q->ninputs] = name;
    q->in_types[q->ninputs] = t;
    q->in_req[q->ninputs] = req;
    *idx = q->ninputs++;
    return TESS_OK;
}

/* The (qview, position) of feature f, added if new. */
static int feature_slot(tess_query *q, tess__snap *snap, const tess__feature *f, size_t *qvi,
                        size_t *pos, size_t incap, tess__err *err)
{
    const tess__view *v = f->view;
    size_t vi = 0;
    while (vi < snap->defs->nviews && snap->defs->views[vi] != v) vi++;
    if (vi == snap->defs->nviews || !snap->ov[vi])
        return tess__err_set(err, TESS_NOTFOUND, "feature view %s is not served online (online: "
                             "false)", v->name);
    size_t k = 0;
    while (k < q->nqv && q->qv[k].ov != snap->ov[vi]) k++;
    qview *qv = &q->qv[k];
    if (k == q->nqv) {
        q->nqv++;
        qv->ov = snap->ov[vi];
        qv->keyidx = tess__arena_alloc(&q->arena, v->njoin * sizeof(size_t));
        qv->which = tess__arena_alloc(&q->arena, v->nfeatures * sizeof(size_t));
        if (!qv->keyidx || !qv->which) return OOM(err);
        for (size_t j = 0; j < v->njoin; j++) {
            const tess__column *c = &v->source->schema[v->join_cols[j]];
            int rc = input_of(q, c->name, c->type, false, incap, &qv->keyidx[j], err);
            if (rc) return rc;
        }
    }
    size_t p = 0;
    while (p < qv->nwhich && qv->which[p] != f->index) p++;
    if (p == qv->nwhich) qv->which[qv->nwhich++] = f->index;
    *qvi = k;
    *pos = p;
    return TESS_OK;
}

static int build_query(tess_query *q, tess__snap *snap, const tess__service_item *items,
                       size_t nitems, int full_names, tess__err *err)
{
    const tess__defs *d = snap->defs;
    /* bounds: inputs are join keys of views and request fields; views at most all of them */
    size_t incap = 0;
    for (size_t i = 0; i < d->nviews; i++) incap += d->views[i]->njoin;
    for (size_t i = 0; i < nitems; i++)
        if (items[i].odf) incap += items[i].odf->nrequest;
    tess__arena *a = &q->arena;
    q->in_names = tess__arena_alloc(a, (incap + 1) * sizeof(char *));
    q->in_types = tess__arena_alloc(a, (incap + 1) * sizeof(tess__type));
    q->in_req = tess__arena_alloc(a, (incap + 1) * sizeof(bool));
    q->qv = tess__arena_alloc(a, (d->nviews + 1) * sizeof(qview));
    q->outs = tess__arena_alloc(a, (nitems + 1) * sizeof(qout));
    q->out_names = tess__arena_alloc(a, (nitems + 1) * sizeof(char *));
    q->out_types = tess__arena_alloc(a, (nitems + 1) * sizeof(tess__type));
    if (!q->in_names || !q->in_types || !q->in_req || !q->qv || !q->outs || !q->out_names ||
        !q->out_types)
        return OOM(err);
    memset(q->qv, 0, (d->nviews + 1) * sizeof(qview));
    memset(q->outs, 0, (nitems + 1) * sizeof(qout));
    int rc = TESS_OK;
    for (size_t i = 0; !rc && i < nitems; i++) {
        qout *o = &q->outs[i];
        if (items[i].feature) {
            const tess__feature *f = items[i].feature;
            size_t qvi;
            rc = feature_slot(q, snap, f, &qvi, &o->pos, incap, err);
            o->qv = (long)qvi;
            q->out_types[i] = f->type;
            if (full_names) {
                size_t n = strlen(f->view->name) + 2 + strlen(f->name) + 1;
                char *s = tess__arena_alloc(a, n);
                if (!s) return OOM(err);
                snprintf(s, n, "%s__%s", f->view->name, f->name);
                q->out_names[i] = s;
            } else {
                q->out_names[i] = f->name;
            }
            continue;
        }
        const tess__odf *odf = items[i].odf;
        o->qv = -1;
        o->odf = odf;
        q->out_names[i] = odf->name;
        q->out_types[i] = odf->type;
        o->odf_qv = tess__arena_alloc(a, (odf->ninputs + 1) * sizeof(size_t));
        o->odf_pos = tess__arena_alloc(a, (odf->ninputs + 1) * sizeof(size_t));
        o->odf_req = tess__arena_alloc(a, (odf->nrequest + 1) * sizeof(size_t));
        if (!o->odf_qv || !o->odf_pos || !o->odf_req) return OOM(err);
        for (size_t k = 0; !rc && k < odf->ninputs; k++)
            rc = feature_slot(q, snap, odf->inputs[k], &o->odf_qv[k], &o->odf_pos[k], incap, err);
        for (size_t k = 0; !rc && k < odf->nrequest; k++)
            rc = input_of(q, odf->request[k].name, odf->request[k].type, true, incap,
                          &o->odf_req[k], err);
    }
    q->nout = nitems;
    return rc;
}

int tess_query_new(tess_store *st, const char *service, const char *const *features,
                   size_t nfeatures, int full_feature_names, tess_query **out)
{
    if (out) *out = NULL;
    int rc = tess__store_enter(st);
    if (rc) return rc;
    if (!out) return tess__err_set(&st->err, TESS_EINVAL, "no output pointer");
    if ((service != NULL) == (features != NULL && nfeatures > 0))
        return tess__err_set(&st->err, TESS_EINVAL,
                             "give either a feature service or a list of features");
    tess__snap *snap;
    if ((rc = tess__store_snap(st, &snap))) return rc;
    const tess__service_item *items;
    tess__service_item *owned = NULL;
    size_t nitems;
    if (service) {
        const tess__service *sv = tess__defs_service(snap->defs, service);
        if (!sv)
            return tess__err_set(&st->err, TESS_NOTFOUND, "no feature service \"%s\"", service);
        items = sv->items;
        nitems = sv->nitems;
    } else {
        if ((rc = tess__defs_resolve(snap->defs, features, nfeatures, &owned, &nitems, &st->err)))
            return rc;
        items = owned;
    }
    tess_query *q = tess__calloc(1, sizeof(*q));
    if (!q) {
        tess__free(owned);
        return OOM(&st->err);
    }
    tess__snap_ref(snap);
    q->snap = snap;
    rc = build_query(q, snap, items, nitems, full_feature_names, &st->err);
    tess__free(owned);
    if (rc) {
        tess_query_free(q);
        return rc;
    }
    *out = q;
    return TESS_OK;
}

/* ---- sessions and lookups ------------------------------------------------------------------ */

static pthread_mutex_t kv_open_mu = PTHREAD_MUTEX_INITIALIZER;

int tess_session_new(tess_store *st, tess_session **out)
{
    *out = NULL;
    if (!st) return TESS_EINVAL;
    if (st->open_rc) return st->open_rc;
    tess__kv *kv;
    tess__evstore *es = NULL;
    pthread_mutex_lock(&kv_open_mu); /* sessions are made from several threads */
    int rc = tess__store_kv(st, &kv);
    if (!rc) rc = tess__store_evstore(st, &es);
    if (!rc && !st->pushq) rc = tess__pushq_new(&st->pushq);
    pthread_mutex_unlock(&kv_open_mu);
    if (rc) return rc;
    tess_session *s = tess__calloc(1, sizeof(*s));
    if (!s) return TESS_ENOMEM;
    s->st = st;
    s->kv = kv;
    s->es = es;
    *out = s;
    return TESS_OK;
}

void tess_session_free(tess_session *s)
{
    if (!s) return;
    tess__err_release(&s->err);
    tess__arena_release(&s->arena);
    tess__buf_release(&s->keybuf);
    tess__free(s->vals);
    tess__free(s->statuses);
    tess__free(s->event_ts);
    tess__free(s->keys);
    tess__free(s->recs);
    tess__free(s->koff);
    tess__free(s);
}

const char *tess_session_errmsg(const tess_session *s)
{
    return s ? tess__err_msg(&s->err) : "no session";
}

static int reserve(tess_session *s, size_t nvals, size_t nkeys)
{
    if (nvals > s->cap) {
        size_t c = nvals * 2;
        tess_value *v = tess__realloc(s->vals, c * sizeof(*v));
        if (v) s->vals = v;
        int *st = tess__realloc(s->statuses, c * sizeof(int));
        if (st) s->statuses = st;
        int64_t *ts = tess__realloc(s->event_ts, c * sizeof(int64_t));
        if (ts) s->event_ts = ts;
        if (!v || !st || !ts) return TESS_ENOMEM;
        s->cap = c;
    }
    if (nkeys + 1 > s->kcap) { /* + 1: koff has one more, also for no key at all */
        size_t c = (nkeys + 1) * 2;
        tess__str *k = tess__realloc(s->keys, c * sizeof(*k));
        if (k) s->keys = k;
        tess__str *r = tess__realloc(s->recs, c * sizeof(*r));
        if (r) s->recs = r;
        size_t *o = tess__realloc(s->koff, (c + 1) * sizeof(size_t));
        if (o) s->koff = o;
        if (!k || !r || !o) return TESS_ENOMEM;
        s->kcap = c;
    }
    return TESS_OK;
}

/* tess_get_online's work, reading through `snap` (begun by the caller): the records' bytes
 * stay in the online store's memory while the features are computed. */
static int get_online(tess_session *s, const tess_query *q, const tess_value *inputs,
                      size_t nrows, int64_t now, tess_online_result *out, tess__kv_snap *snap)
{
    tess__arena_reset(&s->arena);
    tess__buf_reset(&s->keybuf);
    if (now == 0 && tess__now(&now))
        return tess__err_set(&s->err, TESS_EINVAL, "TESSERA_NOW is not a timestamp");
    size_t nk = q->nqv * nrows, nv = q->nout * nrows;
    uint32_t ng = tess__kv_slot_groups(s->kv);
    if (reserve(s, nv, nk)) return OOM(&s->err);
    /* typed inputs */
    tess__value *in = tess__arena_alloc(&s->arena, (q->ninputs * nrows + 1) * sizeof(*in));
    if (!in) return OOM(&s->err);
    for (size_t r = 0; r < nrows; r++)
        for (size_t i = 0; i < q->ninputs; i++) {
            const tess_value *v = &inputs[r * q->ninputs + i];
            if (!tess__value_in(v, q->in_types[i], &in[r * q->ninputs + i]))
                return tess__err_set(&s->err, TESS_EINVAL, "row %zu: %s must be %s, got %s",
                                     r + 1, q->in_names[i], tess__type_name(q->in_types[i]),
                                     tess_type_name(v->type));
        }
    /* keys of every (view, row), then one batch read */
    tess__value keyv[16];
    for (size_t k = 0; k < q->nqv; k++) {
        const qview *qv = &q->qv[k];
        const tess__view *v = tess__oview_view(qv->ov);
        for (size_t r = 0; r < nrows; r++) {
            for (size_t j = 0; j < v->njoin && j < 16; j++)
                keyv[j] = in[r * q->ninputs + qv->keyidx[j]];
            s->koff[k * nrows + r] = s->keybuf.len;
            int rc = tess__oview_key(qv->ov, ng, keyv, &s->keybuf);
            if (rc == TESS_NOTFOUND) { /* a null key: no entity, as offline */
                s->keybuf.len = s->koff[k * nrows + r];
                continue;
            }
            if (rc) return rc == TESS_ENOMEM ? OOM(&s->err) : tess__err_set(&s->err, rc, "bad key");
        }
    }
    s->koff[nk] = s->keybuf.len;
    /* one batch read of the non-null keys (an empty key marks a null one) */
    size_t nget = 0;
    for (size_t i = 0; i < nk; i++) {
        size_t len = s->koff[i + 1] - s->koff[i];
        if (len) s->keys[nget++] = (tess__str){s->keybuf.p + s->koff[i], len};
    }
    tess__str *got = tess__arena_alloc(&s->arena, (nget + 1) * sizeof(*got));
    if (!got) return OOM(&s->err);
    int rc = nget ? tess__kv_snap_get(snap, s->keys, nget, got, &s->arena, &s->err) : TESS_OK;
    if (rc) return rc;
    for (size_t i = 0, g = 0; i < nk; i++)
        s->recs[i] = s->koff[i + 1] > s->koff[i] ? got[g++] : (tess__str){NULL, 0};
    /* evaluate each view's features per row */
    size_t maxw = 0;
    for (size_t k = 0; k < q->nqv; k++)
        if (q->qv[k].nwhich > maxw) maxw = q->qv[k].nwhich;
    size_t *need = NULL, nneed = 0; /* (view, row)s whose read needs the history record */
    tess__value **vv = tess__arena_alloc(&s->arena, (q->nqv + 1) * sizeof(*vv));
    int **vs = tess__arena_alloc(&s->arena, (q->nqv + 1) * sizeof(*vs));
    int64_t **vt = tess__arena_alloc(&s->arena, (q->nqv + 1) * sizeof(*vt));
    if (!vv || !vs || !vt) return OOM(&s->err);
    for (size_t k = 0; k < q->nqv; k++) {
        const qview *qv = &q->qv[k];
        size_t m = qv->nwhich * nrows + 1;
        vv[k] = tess__arena_alloc(&s->arena, m * sizeof(tess__value));
        vs[k] = tess__arena_alloc(&s->arena, m * sizeof(int));
        vt[k] = tess__arena_alloc(&s->arena, m * sizeof(int64_t));
        if (!vv[k] || !vs[k] || !vt[k]) return OOM(&s->err);
        for (size_t r = 0; r < nrows; r++) {
            const tess__str *rec = &s->recs[k * nrows + r];
            size_t o = r * qv->nwhich;
            rc = tess__oview_eval(qv->ov, rec->p, rec->n, NULL, 0, now, qv->which, qv->nwhich,
                                  &s->arena, vv[k] + o, vs[k] + o, vt[k] + o, &s->err);
            if (rc == TESS__OVIEW_NEED_HISTORY) {
                if (!need && !(need = tess__arena_alloc(&s->arena, nk * sizeof(size_t))))
                    return OOM(&s->err);
                need[nneed++] = k * nrows + r;
            } else if (rc) {
                return rc;
            }
        }
    }
    /* reads outside the hop bucket of the records' last write need the history records too:
       one more batch read of those; one whose head changed in between (its history is not
       the one the head names) is read again, head and history in one snapshot */
    rc = TESS_OK;
    for (int attempt = 0; nneed; attempt++) {
        size_t per = attempt ? 2 : 1, nh = 0;
        tess__str *hk = tess__arena_alloc(&s->arena, nneed * per * sizeof(*hk));
        tess__str *hv = tess__arena_alloc(&s->arena, nneed * per * sizeof(*hv));
        if (!hk || !hv) return OOM(&s->err);
        tess__buf kb = TESS__BUF_INIT;
        size_t *ko = tess__arena_alloc(&s->arena, (nneed * per + 1) * sizeof(size_t));
        if (!ko) return OOM(&s->err);
        for (size_t j = 0; !rc && j < nneed; j++) {
            tess__str head = {s->keybuf.p + s->koff[need[j]], s->koff[need[j] + 1] - s->koff[need[j]]};
            ko[nh++] = kb.len;
            if (tess__oview_hist_key(head, &kb)) rc = OOM(&s->err);
            if (attempt) {
                ko[nh++] = kb.len;
                if (tess__buf_append(&kb, head.p, head.n)) rc = OOM(&s->err);
            }
        }
        ko[nh] = kb.len;
        for (size_t j = 0; j < nh; j++) hk[j] = (tess__str){kb.p + ko[j], ko[j + 1] - ko[j]};
        if (!rc) rc = tess__kv_snap_get(snap, hk, nh, hv, &s->arena, &s->err);
        tess__buf_release(&kb);
        if (rc) return rc;
        size_t left = 0;
        for (size_t j = 0; j < nneed; j++) {
            size_t i = need[j], k = i / nrows, r = i % nrows;
            const qview *qv = &q->qv[k];
            if (attempt) s->recs[i] = hv[j * 2 + 1];
            const tess__str *hist = &hv[j * per];
            size_t o = r * qv->nwhich;
            rc = tess__oview_eval(qv->ov, s->recs[i].p, s->recs[i].n, hist->p ? hist->p : "",
                                  hist->n, now, qv->which, qv->nwhich, &s->arena, vv[k] + o,
                                  vs[k] + o, vt[k] + o, &s->err);
            if (rc == TESS__OVIEW_STALE_HISTORY && !attempt) {
                need[left++] = i;
            } else if (rc > 0) {
                return tess__err_set(&s->err, TESS_EIO, "damaged online record: the history "
                                     "record of an entity of view %s is not its head's",
                                     tess__oview_view(qv->ov)->name);
            } else if (rc) {
                return rc;
            }
        }
        nneed = left;
    }
    /* outputs */
    tess__value tmp[64];
    for (size_t r = 0; r < nrows; r++)
        for (size_t i = 0; i < q->nout; i++) {
            const qout *o = &q->outs[i];
            size_t at = r * q->nout + i;
            if (o->qv >= 0) {
                size_t src = r * q->qv[o->qv].nwhich + o->pos;
                tess__value_out(&vv[o->qv][src], &s->vals[at]);
                s->statuses[at] = vs[o->qv][src];
                s->event_ts[at] = vt[o->qv][src];
                continue;
            }
            const tess__odf *odf = o->odf;
            size_t nvars = odf->ninputs + odf->nrequest;
            tess__value *vars = nvars <= 64 ? tmp : tess__arena_alloc(&s->arena, nvars * sizeof(*vars));
            if (!vars) return OOM(&s->err);
            for (size_t k = 0; k < odf->ninputs; k++)
                vars[k] = vv[o->odf_qv[k]][r * q->qv[o->odf_qv[k]].nwhich + o->odf_pos[k]];
            for (size_t k = 0; k < odf->nrequest; k++)
                vars[odf->ninputs + k] = in[r * q->ninputs + o->odf_req[k]];
            tess__value res;
            rc = tess__expr_eval(odf->expr, vars, &s->arena, &res);
            if (rc) return rc == TESS_ENOMEM ? OOM(&s->err)
                                             : tess__err_set(&s->err, rc, "on-demand feature %s "
                                                             "failed", odf->name);
            tess__value_out(&res, &s->vals[at]);
            s->statuses[at] = res.null ? TESS_STATUS_NULL_VALUE : TESS_STATUS_PRESENT;
            s->event_ts[at] = 0;
        }
    /* the strings still point into the snapshot: copied, as the results outlive it */
    for (size_t i = 0; i < nv; i++) {
        tess_value *v = &s->vals[i];
        if (v->type != TESS_TYPE_STRING || v->null) continue;
        const char *p = tess__arena_strndup(&s->arena, v->u.s.p, v->u.s.n);
        if (!p) return OOM(&s->err);
        v->u.s.p = p;
    }
    out->nrows = nrows;
    out->nfeatures = q->nout;
    out->values = s->vals;
    out->statuses = s->statuses;
    out->event_ts = s->event_ts;
    return TESS_OK;
}

int tess_get_online(tess_session *s, const tess_query *q, const tess_value *inputs, size_t nrows,
                    int64_t now, tess_online_result *out)
{
    if (!s) return TESS_EINVAL;
    tess__err_clear(&s->err);
    if (!q || !out || (nrows && !inputs))
        return tess__err_set(&s->err, TESS_EINVAL, "missing query, inputs or result");
    memset(out, 0, sizeof(*out));
    tess__kv_snap snap;
    int rc = tess__kv_snap_begin(s->kv, &snap, &s->err);
    if (rc != TESS_OK) return rc;
    rc = get_online(s, q, inputs, nrows, now, out, &snap);
    tess__kv_snap_end(&snap);
    if (rc != TESS_OK) memset(out, 0, sizeof(*out));
    return rc;
}
