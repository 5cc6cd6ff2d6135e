/* oview.c — one feature view in the online store (oview.h; docs/online.md).
 *
 * Writing (tess__oview_apply) decodes the old record into a working form (the latest row, the
 * decoded tile states, the future rows), folds every due row in — the latest row by (event ts,
 * created ts, seq), the row into the tile of its hop bucket with the window engine's
 * tess__wplan_add_row — prunes tiles no window needs, and encodes the result.
 * Reading (tess__oview_eval) runs the window engine's tess__wplan_eval_encoded over the stored
 * tiles: the tile of floor(t, h) is the head of every window, which is exact because a stored
 * tile only holds rows at or before the time of the write, and a read is at or after it. Future
 * rows whose time has come by the read are folded into a working copy first (the slow path).
 */
#include "online/oview.h"

#include <jansson.h>
#include <string.h>

#include "core/alloc.h"
#include "core/hash.h"
#include "core/time.h"
#include "offline/agg.h"
#include "offline/segment.h"
#include "offline/window.h"
#include "online/record.h"
#include "tessera.h"

#define OOM(err) tess__err_set((err), TESS_ENOMEM, "out of memory")

struct tess__oview {
    const tess__view *v;
    const tess__source *src;
    tess__wplan *plan; /* NULL when the view has no aggregates */
    size_t nspecs;
    tess__agg_kind *kinds; /* per spec */
    size_t nrowf;
    size_t *rowf;  /* view feature index of each row-level feature */
    long *slot;    /* per view feature: index among row features or among aggregates */
    int64_t wmax;  /* the longest window (0: none windowed) */
    size_t naggs;      /* aggregate features of the plan */
    size_t *agg_spec;  /* per aggregate feature: its spec */
    int64_t *agg_win;  /* per aggregate feature: its window (0: lifetime) */
    bool rollup_ok;    /* every window a multiple of the hop: rollups are valid in a bucket */
    bool split;        /* tiles before the write's bucket go to the history record */
    bool suffixes;     /* histories carry suffix states (split, and no HyperLogLog spec: its
                          states are too big to keep twice) */
    bool lifetime; /* some aggregate has no window */
    uint64_t fp;
    int64_t expiry; /* online_expiry (0: never): docs/online.md, "Expiry" */
    char *name;
    size_t name_len;
};

/* ---- construction ------------------------------------------------------------------------ */

static void strip_meta(json_t *o)
{
    json_object_del(o, "description");
    json_object_del(o, "owner");
    json_object_del(o, "tags");
}

static json_t *find_named(json_t *arr, const char *name)
{
    size_t i;
    json_t *o;
    json_array_foreach(arr, i, o)
    {
        const char *n = json_string_value(json_object_get(o, "name"));
        if (n && strcmp(n, name) == 0) return o;
    }
    return NULL;
}

/* The fingerprint: XXH3 of the canonical JSON of the view and of its source (and entities),
 * meta fields removed, and the record format's version. */
static int fingerprint(const tess__defs *d, const tess__view *v, uint64_t *out)
{
    json_t *doc = tess__defs_to_json(d);
    if (!doc) return TESS_ENOMEM;
    json_t *pick = json_array();
    json_t *vo = find_named(json_object_get(doc, "feature_views"), v->name);
    json_t *so = find_named(json_object_get(doc, "sources"), v->source->name);
    int rc = TESS_ENOMEM;
    if (pick && vo && so) {
        strip_meta(vo);
        strip_meta(so);
        size_t i;
        json_t *f;
        json_array_foreach(json_object_get(vo, "features"), i, f) strip_meta(f);
        json_array_append(pick, vo);
        json_array_append(pick, so);
        for (size_t e = 0; e < v->nentities; e++) {
            json_t *eo = find_named(json_object_get(doc, "entities"), v->entities[e]->name);
            if (eo) {
                strip_meta(eo);
                json_array_append(pick, eo);
            }
        }
        char *s = json_dumps(pick, JSON_SORT_KEYS | JSON_COMPACT);
        if (s) {
            /* the record format is part of it: records of an older format read as missing,
               and the next materialization rebuilds the view */
            *out = tess__hash64(s, strlen(s)) + (uint64_t)TESS__OREC_VERSION * 0x9E3779B97F4A7C15ull;
            free(s);
            rc = TESS_OK;
        }
    }
    json_decref(pick);
    json_decref(doc);
    return rc;
}

int tess__oview_new(const tess__defs *d, const tess__view *v, tess__oview **out, tess__err *err)
{
    *out = NULL;
    tess__oview *ov = tess__calloc(1, sizeof(*ov));
    if (!ov) return OOM(err);
    ov->v = v;
    ov->src = v->source;
    ov->expiry = v->online_expiry_us;
    ov->name_len = strlen(v->name);
    ov->name = tess__strndup(v->name, ov->name_len);
    ov->rowf = tess__calloc(v->nfeatures, sizeof(size_t));
    ov->slot = tess__calloc(v->nfeatures, sizeof(long));
    int rc = (!ov->name || !ov->rowf || !ov->slot) ? TESS_ENOMEM : TESS_OK;
    if (!rc && v->has_aggregates) {
        rc = tess__wplan_new(v, &ov->plan);
        if (rc == TESS_EINVAL)
            tess__err_set(err, rc, "view %s: the window engine cannot compute it", v->name);
    }
    if (!rc && ov->plan) {
        ov->nspecs = tess__wplan_nspecs(ov->plan);
        ov->kinds = tess__calloc(ov->nspecs ? ov->nspecs : 1, sizeof(tess__agg_kind));
        if (!ov->kinds) rc = TESS_ENOMEM;
        for (size_t s = 0; !rc && s < ov->nspecs; s++)
            ov->kinds[s] = tess__wplan_spec_kind(ov->plan, s);
        ov->naggs = tess__wplan_nfeatures(ov->plan);
        ov->agg_spec = tess__calloc(ov->naggs + 1, sizeof(size_t));
        ov->agg_win = tess__calloc(ov->naggs + 1, sizeof(int64_t));
        if (!ov->agg_spec || !ov->agg_win) rc = TESS_ENOMEM;
        ov->rollup_ok = true;
        for (size_t i = 0; !rc && i < ov->naggs; i++) {
            int64_t w;
            const tess__feature *f = tess__wplan_feature(ov->plan, i, &ov->agg_spec[i], &w);
            ov->agg_win[i] = w;
            if (w % tess__wplan_hop(ov->plan) != 0) ov->rollup_ok = false;
            ov->slot[f->index] = (long)i;
            if (w == 0) ov->lifetime = true;
            if (w > ov->wmax) ov->wmax = w;
        }
    }
    ov->split = ov->plan && ov->rollup_ok;
    ov->suffixes = ov->split;
    for (size_t sp = 0; sp < ov->nspecs; sp++)
        if (ov->kinds[sp].agg == TESS_AGG_COUNT_DISTINCT_APPROX) ov->suffixes = false;
    for (size_t i = 0; !rc && i < v->nfeatures; i++)
        if (v->features[i].kind == TESS_FEATURE_ROW) {
            ov->slot[i] = (long)ov->nrowf;
            ov->rowf[ov->nrowf++] = i;
        }
    if (!rc) rc = fingerprint(d, v, &ov->fp);
    if (rc) {
        if (rc == TESS_ENOMEM) OOM(err);
        tess__oview_free(ov);
        return rc;
    }
    *out = ov;
    return TESS_OK;
}

void tess__oview_free(tess__oview *ov)
{
    if (!ov) return;
    tess__wplan_free(ov->plan);
    tess__free(ov->kinds);
    tess__free(ov->agg_spec);
    tess__free(ov->agg_win);
    tess__free(ov->rowf);
    tess__free(ov->slot);
    tess__free(ov->name);
    tess__free(ov);
}

const tess__view *tess__oview_view(const tess__oview *ov)
{
    return ov->v;
}

uint64_t tess__oview_fingerprint(const tess__oview *ov)
{
    return ov->fp;
}

/* ---- expiry (docs/online.md, "Expiry") --------------------------------------------------- */

/* The read-time rule: the entity of decoded head `r` is forgotten at t when it has no row at
 * or before t (future rows due by t folded in), or its latest such row is older than
 * online_expiry. Its answer is then exactly that of an entity without a record. */
static bool forgotten(const tess__oview *ov, const tess__orec *r, int64_t t)
{
    bool has = r->has_row;
    int64_t ts = r->row_ts;
    for (size_t f = 0; f < r->nfuture; f++) {
        int64_t fts = r->frows[f * r->ncols + ov->src->ts_col].u.i;
        if (fts <= t && (!has || fts > ts)) {
            has = true;
            ts = fts;
        }
    }
    return !has || ts > t || t - ts > ov->expiry;
}

int64_t tess__oview_expiry_us(const tess__oview *ov)
{
    return ov->expiry;
}

int tess__oview_expires(const tess__oview *ov, const void *rec, size_t recn, tess__arena *arena,
                        int64_t *at, tess__err *err)
{
    *at = INT64_MAX;
    if (!ov->expiry || !rec || tess__orec_fingerprint(rec, recn) != ov->fp) return TESS_OK;
    tess__orec r;
    int rc = tess__orec_decode(rec, recn, &r, arena, err);
    if (rc) return rc;
    bool has = r.has_row;
    int64_t newest = r.row_ts;
    for (size_t f = 0; f < r.nfuture; f++) {
        const tess__value *fts = &r.frows[f * r.ncols + ov->src->ts_col];
        if (fts->null || fts->type != TESS_T_TIMESTAMP)
            return tess__err_set(err, TESS_EIO, "damaged online record: bad future row");
        if (!has || fts->u.i > newest) newest = fts->u.i;
        has = true;
    }
    if (!has) *at = INT64_MIN;
    else if (__builtin_add_overflow(newest, ov->expiry, at)) *at = INT64_MAX;
    return TESS_OK;
}

/* ---- keys -------------------------------------------------------------------------------- */

/* Keys (record.h): 'v' / 'h' name '#' gg NUL entity, 'm' name '#' gg, gg the entity's group
 * as two lowercase hex digits. '#' is not a character of a name (an identifier), so the
 * prefix of one view never matches another view's keys. */

static const char HEX[] = "0123456789abcdef";

static int put_view(const tess__oview *ov, char kind, tess__buf *out)
{
    int rc = tess__buf_putc(out, kind);
    if (!rc) rc = tess__buf_append(out, ov->name, ov->name_len);
    if (!rc) rc = tess__buf_putc(out, '#');
    return rc;
}

static int put_group(uint32_t g, tess__buf *out)
{
    char h[2] = {HEX[(g >> 4) & 15], HEX[g & 15]};
    return tess__buf_append(out, h, 2);
}

int tess__oview_prefix(const tess__oview *ov, tess__buf *out)
{
    return put_view(ov, 'v', out);
}

int tess__oview_hist_prefix(const tess__oview *ov, tess__buf *out)
{
    return put_view(ov, 'h', out);
}

int tess__oview_legacy_prefix(const tess__oview *ov, char kind, tess__buf *out)
{
    int rc = tess__buf_putc(out, kind);
    if (!rc) rc = tess__buf_append(out, ov->name, ov->name_len + (kind != 'm')); /* NUL */
    return rc;
}

int tess__oview_hist_key(tess__str head_key, tess__buf *out)
{
    if (head_key.n < 1) return TESS_EINVAL;
    int rc = tess__buf_putc(out, 'h');
    if (!rc) rc = tess__buf_append(out, head_key.p + 1, head_key.n - 1);
    return rc;
}

int tess__oview_meta_key(const tess__oview *ov, uint32_t group, tess__buf *out)
{
    int rc = put_view(ov, 'm', out);
    if (!rc) rc = put_group(group, out);
    return rc;
}

uint32_t tess__oview_group_of(tess__str entity, uint32_t ngroups)
{
    if (ngroups <= 1) return 0; /* no hash to compute */
    return (uint32_t)(tess__hash64(entity.p, entity.n) & (ngroups - 1));
}

int tess__oview_key_of(const tess__oview *ov, uint32_t ngroups, tess__str entity, tess__buf *out)
{
    int rc = put_view(ov, 'v', out);
    if (!rc) rc = put_group(tess__oview_group_of(entity, ngroups), out);
    if (!rc) rc = tess__buf_putc(out, '\0');
    if (!rc) rc = tess__buf_append(out, entity.p, entity.n);
    return rc;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int tess__oview_key_parts(tess__str key, tess__str *view, uint32_t *group, tess__str *entity)
{
    if (key.n < 1) return TESS_EINVAL;
    bool meta = key.p[0] == 'm';
    size_t n = 1; /* the '#' after the name */
    while (n < key.n && key.p[n] != '#' && key.p[n] != '\0') n++;
    if (n == 1 || n + 3 > key.n || key.p[n] != '#') return TESS_EINVAL;
    int hi = hexval(key.p[n + 1]), lo = hexval(key.p[n + 2]);
    if (hi < 0 || lo < 0) return TESS_EINVAL;
    if (meta ? key.n != n + 3 : key.n < n + 4 || key.p[n + 3] != '\0') return TESS_EINVAL;
    if (view) *view = (tess__str){key.p + 1, n - 1};
    if (group) *group = (uint32_t)(hi * 16 + lo);
    if (entity)
        *entity = meta ? (tess__str){key.p + key.n, 0} : (tess__str){key.p + n + 4, key.n - n - 4};
    return TESS_OK;
}

int tess__oview_key(const tess__oview *ov, uint32_t ngroups, const tess__value *keys,
                    tess__buf *out)
{
    const tess__view *v = ov->v;
    tess__col cols[16];
    uint8_t bools[16];
    if (v->njoin > 16) return TESS_EINVAL;
    for (size_t i = 0; i < v->njoin; i++) {
        const tess__value *k = &keys[i];
        tess__type t = ov->src->schema[v->join_cols[i]].type;
        if (k->null) return TESS_NOTFOUND;
        if (k->type != t) return TESS_EINVAL;
        cols[i].type = t;
        cols[i].nulls = NULL;
        if (t == TESS_T_BOOL) {
            bools[i] = k->u.b ? 1 : 0;
            cols[i].data = &bools[i];
        } else {
            cols[i].data = (void *)&k->u; /* int64, timestamp, float64 and tess__str alike */
        }
    }
    /* the prefix with a placeholder group, the entity, then the entity's group filled in */
    size_t start = out->len;
    int rc = put_view(ov, 'v', out);
    size_t gat = out->len;
    if (!rc) rc = put_group(0, out);
    if (!rc) rc = tess__buf_putc(out, '\0');
    size_t eat = out->len;
    if (!rc) rc = tess__evkey_encode(out, cols, NULL, v->njoin, 0);
    if (rc) {
        out->len = start;
        return rc;
    }
    uint32_t g = tess__oview_group_of((tess__str){out->p + eat, out->len - eat}, ngroups);
    out->p[gat] = HEX[(g >> 4) & 15];
    out->p[gat + 1] = HEX[g & 15];
    return TESS_OK;
}

/* ---- the working form of a record -------------------------------------------------------- */

typedef struct work {
    bool has_row;
    tess__agg_key row_key;
    tess__value *vals; /* nrowf */
    size_t ntiles, cap;
    int64_t *starts;
    tess__agg_state *states; /* [tile * nspecs + spec] */
    size_t nfuture, fcap;
    const tess__value **frows; /* nschema values each */
    int64_t *fseq;
} work;

static int grow(tess__arena *a, void **p, size_t n, size_t newcap, size_t sz)
{
    void *q = tess__arena_alloc(a, newcap * sz);
    if (!q) return TESS_ENOMEM;
    if (n) memcpy(q, *p, n * sz);
    *p = q;
    return TESS_OK;
}

static int key_cmp(const tess__agg_key *a, const tess__agg_key *b)
{
    if (a->ts != b->ts) return a->ts < b->ts ? -1 : 1;
    if (a->created != b->created) return a->created < b->created ? -1 : 1;
    if (a->seq != b->seq) return a->seq < b->seq ? -1 : 1;
    return 0;
}

static tess__agg_key row_key(const tess__oview *ov, const tess__value *row, int64_t seq)
{
    tess__agg_key k = {row[ov->src->ts_col].u.i, INT64_MIN, seq};
    if (ov->src->created_col >= 0) {
        const tess__value *c = &row[ov->src->created_col];
        if (!c->null) k.created = c->u.i;
    }
    return k;
}

/* The index of the tile of bucket `start`, inserted (empty states) if missing. */
static int tile_at(const tess__oview *ov, work *w, int64_t start, tess__arena *a, size_t *idx)
{
    size_t lo = 0, hi = w->ntiles;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (w->starts[mid] < start) lo = mid + 1;
        else hi = mid;
    }
    *idx = lo;
    if (lo < w->ntiles && w->starts[lo] == start) return TESS_OK;
    size_t ns = ov->nspecs;
    if (w->ntiles == w->cap) {
        size_t nc = w->cap ? w->cap * 2 : 8;
        if (grow(a, (void **)&w->starts, w->ntiles, nc, sizeof(int64_t)) ||
            grow(a, (void **)&w->states, w->ntiles * ns, nc * ns, sizeof(tess__agg_state)))
            return TESS_ENOMEM;
        w->cap = nc;
    }
    memmove(&w->starts[lo + 1], &w->starts[lo], (w->ntiles - lo) * sizeof(int64_t));
    memmove(&w->states[(lo + 1) * ns], &w->states[lo * ns],
            (w->ntiles - lo) * ns * sizeof(tess__agg_state));
    w->starts[lo] = start;
    for (size_t s = 0; s < ns; s++) tess__agg_init(ov->kinds[s], &w->states[lo * ns + s]);
    w->ntiles++;
    return TESS_OK;
}

/* Makes `row` (ordering key k) the latest row if it is newer than w's: its row-level
 * feature values are computed then. */
static int set_latest(const tess__oview *ov, work *w, const tess__value *row, tess__agg_key k,
                      tess__arena *a, tess__err *err)
{
    if (w->has_row && key_cmp(&k, &w->row_key) <= 0) return TESS_OK;
    for (size_t i = 0; i < ov->nrowf; i++) {
        const tess__feature *f = &ov->v->features[ov->rowf[i]];
        int rc = tess__expr_eval(f->expr, row, a, &w->vals[i]);
        if (rc) return rc == TESS_ENOMEM ? OOM(err) : tess__err_set(err, rc, "%s: cannot evaluate "
                                                                   "feature %s", ov->v->name,
                                                                   f->name);
    }
    w->has_row = true;
    w->row_key = k;
    return TESS_OK;
}

/* Adds one row to the states of its tile (`states`, nspecs of them). */
static int add_to_tile(const tess__oview *ov, tess__agg_state *states, const tess__value *row,
                       int64_t seq, tess__arena *a, tess__err *err)
{
    int rc = tess__wplan_add_row(ov->plan, states, row, seq, a);
    if (rc == TESS_ENOMEM) return OOM(err);
    if (rc) return tess__err_set(err, rc, "%s: cannot aggregate a row", ov->v->name);
    return TESS_OK;
}

/* Folds one due row (event ts <= now) into the latest row and its tile. */
static int fold(const tess__oview *ov, work *w, const tess__value *row, int64_t seq,
                tess__arena *a, tess__err *err)
{
    tess__agg_key k = row_key(ov, row, seq);
    int rc = set_latest(ov, w, row, k, a, err);
    if (rc || !ov->plan) return rc;
    size_t t;
    if (tile_at(ov, w, tess__floor_to(k.ts, tess__wplan_hop(ov->plan)), a, &t)) return OOM(err);
    return add_to_tile(ov, &w->states[t * ov->nspecs], row, seq, a, err);
}

static int add_future(work *w, const tess__value *row, int64_t seq, tess__arena *a)
{
    if (w->nfuture == w->fcap) {
        size_t nc = w->fcap ? w->fcap * 2 : 4;
        if (grow(a, (void **)&w->frows, w->nfuture, nc, sizeof(*w->frows)) ||
            grow(a, (void **)&w->fseq, w->nfuture, nc, sizeof(int64_t)))
            return TESS_ENOMEM;
        w->fcap = nc;
    }
    w->frows[w->nfuture] = row;
    w->fseq[w->nfuture++] = seq;
    return TESS_OK;
}

/* Drops tiles no window can need at any time from `now` on; with lifetime aggregates they are
 * merged into the oldest tile instead (the base), whose start stays before every window. */
static int prune(const tess__oview *ov, work *w, int64_t now, tess__arena *a)
{
    if (!ov->plan || w->ntiles == 0) return TESS_OK;
    int64_t h = tess__wplan_hop(ov->plan);
    int64_t horizon = tess__floor_to((ov->wmax ? now - ov->wmax : now), h);
    size_t n = 0; /* tiles before the horizon */
    while (n < w->ntiles && w->starts[n] < horizon) n++;
    if (n == 0) return TESS_OK;
    size_t ns = ov->nspecs, keep = 0;
    if (ov->lifetime) {
        for (size_t t = 1; t < n; t++)
            for (size_t s = 0; s < ns; s++) {
                int rc = tess__agg_merge(ov->kinds[s], &w->states[s], &w->states[t * ns + s], a);
                if (rc) return rc;
            }
        keep = 1;
    }
    size_t drop = n - keep;
    memmove(&w->starts[keep], &w->starts[n], (w->ntiles - n) * sizeof(int64_t));
    memmove(&w->states[keep * ns], &w->states[n * ns],
            (w->ntiles - n) * ns * sizeof(tess__agg_state));
    w->ntiles -= drop;
    return TESS_OK;
}

/* Decodes a history record of this view into *h, its tiles filled in if `tiles` (else reached
 * through tess__orec_start / _state / _rollup). */
static int decode_hist(const tess__oview *ov, const void *hist, size_t histn, bool tiles,
                       tess__orec *h, tess__arena *a, tess__err *err)
{
    int rc = tess__orec_decode(hist, histn, h, a, err);
    if (!rc && tiles && tess__orec_tiles(h, a)) rc = OOM(err);
    if (rc) return rc;
    if (h->fingerprint != ov->fp || h->has_row || h->nfuture ||
        (h->nrollups && h->nrollups != h->ntiles * h->nspecs) ||
        (h->ntiles && h->nspecs != ov->nspecs))
        return tess__err_set(err, TESS_EIO, "damaged online record: history differs from view %s",
                             ov->v->name);
    return TESS_OK;
}

/* Appends the decoded tiles of x (all after w's) to w. */
static int add_tiles(const tess__oview *ov, work *w, const tess__orec *x, tess__arena *a,
                     tess__err *err)
{
    if (!x->ntiles) return TESS_OK;
    size_t ns = ov->nspecs, nt = w->ntiles + x->ntiles;
    if (w->ntiles && x->starts[0] <= w->starts[w->ntiles - 1])
        return tess__err_set(err, TESS_EIO, "damaged online record: tiles out of order");
    if (grow(a, (void **)&w->starts, w->ntiles, nt, sizeof(int64_t)) ||
        grow(a, (void **)&w->states, w->ntiles * ns, nt * ns, sizeof(tess__agg_state)))
        return OOM(err);
    memcpy(w->starts + w->ntiles, x->starts, x->ntiles * sizeof(int64_t));
    for (size_t i = 0; i < x->ntiles * ns; i++) {
        int rc = tess__agg_decode(ov->kinds[i % ns], x->states[i].p, x->states[i].n,
                                  &w->states[w->ntiles * ns + i], a);
        if (rc == TESS_ENOMEM) return OOM(err);
        if (rc) return tess__err_set(err, TESS_EIO, "damaged online record: bad tile state");
    }
    w->ntiles = w->cap = nt;
    return TESS_OK;
}

/* Decodes a record of this view into `w` (empty when rec is NULL or of another fingerprint),
 * with the tiles of its history record `hist` (which must be the one the head names: TESS_EIO
 * otherwise). *r receives the decoded head. */
static int load(const tess__oview *ov, const void *rec, size_t recn, const void *hist,
                size_t histn, work *w, tess__orec *r, tess__arena *a, tess__err *err)
{
    memset(w, 0, sizeof(*w));
    memset(r, 0, sizeof(*r));
    if (ov->nrowf && !(w->vals = tess__arena_alloc(a, ov->nrowf * sizeof(tess__value))))
        return OOM(err);
    for (size_t i = 0; i < ov->nrowf; i++)
        w->vals[i] = tess__null(ov->v->features[ov->rowf[i]].type);
    if (!rec || tess__orec_fingerprint(rec, recn) != ov->fp) return TESS_OK;
    int rc = tess__orec_decode(rec, recn, r, a, err);
    if (!rc && tess__orec_tiles(r, a)) rc = OOM(err);
    if (rc) return rc;
    if (r->nvals != (r->has_row ? ov->nrowf : 0) || r->nspecs != (r->ntiles ? ov->nspecs : 0) ||
        (r->nfuture && r->ncols != ov->src->nschema))
        return tess__err_set(err, TESS_EIO, "damaged online record: shape differs from view %s",
                             ov->v->name);
    if (r->has_row) {
        w->has_row = true;
        w->row_key = (tess__agg_key){r->row_ts, r->row_created, r->row_seq};
        if (ov->nrowf) memcpy(w->vals, r->vals, ov->nrowf * sizeof(tess__value));
    }
    if (r->hist_sum) {
        tess__orec h;
        if (!hist || tess__orec_checksum(hist, histn) != r->hist_sum)
            return tess__err_set(err, TESS_EIO, "damaged online record: the history record of "
                                 "an entity of view %s is %s", ov->v->name,
                                 hist ? "not the one its head was written with" : "missing");
        if ((rc = decode_hist(ov, hist, histn, true, &h, a, err)) ||
            (rc = add_tiles(ov, w, &h, a, err)))
            return rc;
    }
    if ((rc = add_tiles(ov, w, r, a, err))) return rc;
    for (size_t f = 0; f < r->nfuture; f++) {
        const tess__value *row = &r->frows[f * r->ncols];
        if (row[ov->src->ts_col].null || row[ov->src->ts_col].type != TESS_T_TIMESTAMP)
            return tess__err_set(err, TESS_EIO, "damaged online record: bad future row");
        if (add_future(w, row, r->fseq[f], a)) return OOM(err);
    }
    return TESS_OK;
}

/* Folds the future rows that are due at `now` (event ts <= now), oldest first. */
static int fold_due(const tess__oview *ov, work *w, int64_t now, tess__arena *a, tess__err *err)
{
    size_t keep = 0;
    for (size_t f = 0; f < w->nfuture; f++) {
        const tess__value *row = w->frows[f];
        if (row[ov->src->ts_col].u.i <= now) {
            int rc = fold(ov, w, row, w->fseq[f], a, err);
            if (rc) return rc;
        } else {
            w->frows[keep] = row;
            w->fseq[keep++] = w->fseq[f];
        }
    }
    w->nfuture = keep;
    return TESS_OK;
}

static int check_row(const tess__oview *ov, const tess__value *row, size_t i, tess__err *err)
{
    for (size_t c = 0; c < ov->src->nschema; c++) {
        const tess__column *col = &ov->src->schema[c];
        const tess__value *v = &row[c];
        if (v->null) {
            if (c == ov->src->ts_col)
                return tess__err_set(err, TESS_EINVAL, "row %zu: column %s (the event "
                                     "timestamp) is null", i + 1, col->name);
            continue;
        }
        if (v->type != col->type)
            return tess__err_set(err, TESS_EINVAL, "row %zu: column %s: expected %s, got %s",
                                 i + 1, col->name, tess__type_name(col->type),
                                 tess__type_name(v->type));
    }
    return TESS_OK;
}

/* The history half of a write: what becomes of the entity's history record. */
typedef struct hist_io {
    tess__oview_hist_fn get; /* reads the old history record (the slow path only) */
    void *ctx;
    tess__str old;           /* once read */
    tess__buf *out;          /* the new history record, when op is TESS__HIST_WRITE */
    int op;
} hist_io;

/*
 * The suffix states of a history record (docs/online.md, "Reading later"): for each of its
 * tiles t and each spec, the merge of the tiles t .. nh-1, stored as the history's rollups
 * ([t * nspecs + spec]), so that a read in a later hop bucket than the write's takes one state
 * per feature (the suffix from its window's first tile) instead of merging a window's worth.
 * Merges are exact (agg.h), so the grouping gives the bits the oldest-first merge of the
 * window engine gives; a tile with an outlier (tess__agg_exact false) makes the order matter,
 * and then the history has no suffix states (reads merge the tiles). Encoded into `enc`
 * (h->rollups point into it). Errors: TESS_ENOMEM.
 */
static int suffix_states(const tess__oview *ov, const work *w, size_t nh, tess__arena *a,
                         tess__buf *enc, tess__orec *h)
{
    size_t ns = ov->nspecs, n = nh * ns;
    if (!ov->suffixes) return TESS_OK;
    for (size_t i = 0; i < n; i++)
        if (!tess__agg_exact(ov->kinds[i % ns], &w->states[i])) return TESS_OK;
    size_t *offs = tess__arena_alloc(a, (n + 1) * sizeof(size_t));
    tess__str *suf = tess__arena_alloc(a, n * sizeof(tess__str));
    tess__agg_state *acc = tess__arena_alloc(a, ns * sizeof(tess__agg_state));
    if (!offs || !suf || !acc) return TESS_ENOMEM;
    for (size_t sp = 0; sp < ns; sp++) tess__agg_init(ov->kinds[sp], &acc[sp]);
    int rc = TESS_OK;
    for (size_t t = nh; !rc && t-- > 0;)
        for (size_t sp = 0; !rc && sp < ns; sp++) {
            /* S(t) = tile t, then S(t + 1) (the newer tiles) */
            tess__agg_state x;
            rc = tess__agg_copy(ov->kinds[sp], &x, &w->states[t * ns + sp], a);
            if (!rc) rc = tess__agg_merge(ov->kinds[sp], &x, &acc[sp], a);
            if (rc) break;
            acc[sp] = x;
            offs[t * ns + sp] = enc->len;
            rc = tess__agg_encode(ov->kinds[sp], &x, enc);
        }
    if (rc) return rc;
    /* encoded newest first: each state ends where the next one encoded starts */
    for (size_t i = 0; i < n; i++) {
        size_t t = i / ns, sp = i % ns;
        size_t end = (sp + 1 < ns) ? offs[t * ns + sp + 1] : (t ? offs[(t - 1) * ns] : enc->len);
        suf[i] = (tess__str){enc->p + offs[i], end - offs[i]};
    }
    h->rollups = suf;
    h->nrollups = n;
    return TESS_OK;
}

static int store(const tess__oview *ov, const work *w, int64_t now, tess__arena *a,
                 tess__buf *out, hist_io *hio, tess__err *err)
{
    tess__orec r = {0};
    r.fingerprint = ov->fp;
    r.written = now;
    r.has_row = w->has_row;
    if (w->has_row) {
        r.row_ts = w->row_key.ts;
        r.row_created = w->row_key.created;
        r.row_seq = w->row_key.seq;
        r.nvals = ov->nrowf;
        r.vals = w->vals;
    }
    /* every tile state, then every rollup, encoded into one buffer; pointed at once the
       buffer no longer moves */
    tess__buf enc = TESS__BUF_INIT;
    int rc = TESS_OK;
    size_t ns = ov->nspecs, nst = w->ntiles * ns;
    bool rollups = ov->plan && ov->rollup_ok && w->ntiles;
    size_t nro = rollups ? ov->naggs : 0;
    size_t *offs = tess__arena_alloc(a, (nst + nro + 1) * sizeof(size_t));
    tess__str *states = nst ? tess__arena_alloc(a, nst * sizeof(tess__str)) : NULL;
    r.rollups = nro ? tess__arena_alloc(a, nro * sizeof(tess__str)) : NULL;
    if (!offs || (nst && !states) || (nro && !r.rollups)) return OOM(err);
    for (size_t i = 0; !rc && i < nst; i++) {
        offs[i] = enc.len;
        rc = tess__agg_encode(ov->kinds[i % ns], &w->states[i], &enc);
    }
    /* rollups as of this write's hop bucket b: per aggregate feature, its window's tiles
       before b merged oldest first (the order tess__wplan_eval_at merges them in) */
    int64_t b = ov->plan ? tess__floor_to(now, tess__wplan_hop(ov->plan)) : 0;
    r.rollup_bucket = INT64_MIN;
    if (rollups) {
        bool head = w->starts[w->ntiles - 1] == b;
        if (!(r.cur = tess__arena_alloc(a, nro * sizeof(tess__value)))) rc = TESS_ENOMEM;
        for (size_t f = 0; !rc && f < nro; f++) {
            size_t sp = ov->agg_spec[f];
            int64_t from = ov->agg_win[f] ? b - ov->agg_win[f] : INT64_MIN;
            tess__agg_state acc;
            tess__agg_init(ov->kinds[sp], &acc);
            for (size_t t = 0; !rc && t < w->ntiles && w->starts[t] < b; t++)
                if (w->starts[t] >= from)
                    rc = tess__agg_merge(ov->kinds[sp], &acc, &w->states[t * ns + sp], a);
            offs[nst + f] = enc.len;
            if (!rc) rc = tess__agg_encode(ov->kinds[sp], &acc, &enc);
            /* and the value as of the write: the rollup with the head tile, if any */
            if (!rc && head)
                rc = tess__agg_merge(ov->kinds[sp], &acc, &w->states[(w->ntiles - 1) * ns + sp], a);
            if (!rc) rc = tess__agg_finalize(ov->kinds[sp], &acc, a, &r.cur[f]);
        }
        r.rollup_bucket = b;
        r.nrollups = nro;
        r.ncur = nro;
    }
    offs[nst + nro] = enc.len;
    for (size_t i = 0; !rc && i < nst; i++)
        states[i] = (tess__str){enc.p + offs[i], offs[i + 1] - offs[i]};
    for (size_t f = 0; !rc && f < nro; f++)
        r.rollups[f] = (tess__str){enc.p + offs[nst + f], offs[nst + f + 1] - offs[nst + f]};
    r.nfuture = w->nfuture;
    r.ncols = w->nfuture ? ov->src->nschema : 0;
    if (!rc && w->nfuture) {
        r.fseq = w->fseq;
        r.frows = tess__arena_alloc(a, w->nfuture * r.ncols * sizeof(tess__value));
        if (!r.frows) rc = TESS_ENOMEM;
        for (size_t f = 0; !rc && f < w->nfuture; f++)
            memcpy(&r.frows[f * r.ncols], w->frows[f], r.ncols * sizeof(tess__value));
    }
    /* the tiles before b go to the history record, the others stay in the head */
    size_t nh = 0;
    if (ov->split)
        while (nh < w->ntiles && w->starts[nh] < b) nh++;
    hio->op = TESS__HIST_KEEP;
    tess__buf senc = TESS__BUF_INIT;
    if (!rc && nh) {
        tess__orec h = {0};
        h.fingerprint = ov->fp;
        h.ntiles = nh;
        h.nspecs = ns;
        h.starts = w->starts;
        h.states = states;
        h.rollup_bucket = INT64_MIN;
        rc = suffix_states(ov, w, nh, a, &senc, &h);
        tess__buf_reset(hio->out);
        if (!rc) rc = tess__orec_encode(&h, hio->out);
        if (!rc) {
            r.hist_sum = tess__orec_checksum(hio->out->p, hio->out->len);
            if (hio->old.n != hio->out->len || memcmp(hio->old.p, hio->out->p, hio->out->len) != 0)
                hio->op = TESS__HIST_WRITE;
        }
    } else if (hio->old.p) {
        hio->op = TESS__HIST_DELETE;
    }
    r.ntiles = w->ntiles - nh;
    r.nspecs = r.ntiles ? ns : 0;
    r.starts = w->starts ? w->starts + nh : NULL;
    r.states = states ? states + nh * ns : NULL;
    if (!rc) rc = tess__orec_encode(&r, out);
    tess__buf_release(&enc);
    tess__buf_release(&senc);
    if (rc == TESS_ENOMEM) return OOM(err);
    if (rc) return tess__err_set(err, rc, "online record of view %s too large", ov->v->name);
    return TESS_OK;
}

/*
 * The fast path of a write (the common case of pushes): the record is of this view, was last
 * written in the same hop bucket b as `now`, has no future row due, and every new row falls in
 * bucket b at or before now. Then only the latest row and the head tile (bucket b) change:
 * the other tiles' bytes and the rollups (which cover the tiles before b) are copied as they
 * are, and pruning has nothing to do (its horizon moves with the bucket). Returns
 * TESS_NOTFOUND when the fast path does not apply (nothing written).
 */
static int apply_fast(const tess__oview *ov, const void *old, size_t oldn, const tess__value *rows,
                      const int64_t *seq, size_t nrows, int64_t now, tess__arena *a,
                      tess__buf *out, tess__err *err)
{
    if (!old || tess__orec_fingerprint(old, oldn) != ov->fp) return TESS_NOTFOUND;
    if (ov->plan && !ov->rollup_ok) return TESS_NOTFOUND;
    int64_t h = ov->plan ? tess__wplan_hop(ov->plan) : 0;
    int64_t b = ov->plan ? tess__floor_to(now, h) : 0;
    size_t ns = ov->src->nschema, tc = ov->src->ts_col;
    for (size_t i = 0; i < nrows; i++) {
        const tess__value *t = &rows[i * ns + tc];
        if (t->null || t->type != TESS_T_TIMESTAMP || t->u.i > now) return TESS_NOTFOUND;
        if (ov->plan && tess__floor_to(t->u.i, h) != b) return TESS_NOTFOUND;
    }
    tess__orec r;
    int rc = tess__orec_decode(old, oldn, &r, a, err);
    if (!rc && tess__orec_tiles(&r, a)) rc = OOM(err);
    if (rc) return rc;
    /* a record with tiles has rollups as of its write's bucket; one without takes the slow path */
    if (ov->plan && (r.rollup_bucket != b || r.nrollups != ov->naggs || r.ncur != ov->naggs))
        return TESS_NOTFOUND;
    if (r.nvals != (r.has_row ? ov->nrowf : 0) || (r.ntiles && r.nspecs != ov->nspecs))
        return TESS_NOTFOUND;
    for (size_t f = 0; f < r.nfuture; f++)
        if (r.frows[f * r.ncols + tc].u.i <= now) return TESS_NOTFOUND;
    for (size_t i = 0; i < nrows; i++)
        if ((rc = check_row(ov, &rows[i * ns], i, err))) return rc;

    /* the latest row */
    work w;
    memset(&w, 0, sizeof(w));
    w.has_row = r.has_row;
    w.row_key = (tess__agg_key){r.row_ts, r.row_created, r.row_seq};
    w.vals = r.vals;
    if (ov->nrowf && !r.has_row) {
        if (!(w.vals = tess__arena_alloc(a, ov->nrowf * sizeof(tess__value)))) return OOM(err);
        for (size_t i = 0; i < ov->nrowf; i++)
            w.vals[i] = tess__null(ov->v->features[ov->rowf[i]].type);
    } else if (ov->nrowf) {
        tess__value *v = tess__arena_alloc(a, ov->nrowf * sizeof(tess__value));
        if (!v) return OOM(err);
        memcpy(v, r.vals, ov->nrowf * sizeof(tess__value));
        w.vals = v;
    }
    /* the head tile: decoded, the rows added, encoded again */
    tess__agg_state *head = NULL;
    bool had_head = r.ntiles && r.starts[r.ntiles - 1] == b;
    if (ov->plan) {
        if (!(head = tess__arena_alloc(a, ov->nspecs * sizeof(*head)))) return OOM(err);
        for (size_t sp = 0; sp < ov->nspecs; sp++) {
            if (!had_head) {
                tess__agg_init(ov->kinds[sp], &head[sp]);
                continue;
            }
            const tess__str *e = &r.states[(r.ntiles - 1) * r.nspecs + sp];
            if (tess__agg_decode(ov->kinds[sp], e->p, e->n, &head[sp], a))
                return tess__err_set(err, TESS_EIO, "damaged online record: bad tile state");
        }
    }
    for (size_t i = 0; i < nrows; i++) {
        const tess__value *row = &rows[i * ns];
        if ((rc = set_latest(ov, &w, row, row_key(ov, row, seq[i]), a, err))) return rc;
        if (head && (rc = add_to_tile(ov, head, row, seq[i], a, err))) return rc;
    }
    /* the new record: the old one with the row and the head tile replaced */
    tess__orec n = r;
    n.written = now;
    n.has_row = w.has_row;
    n.row_ts = w.row_key.ts;
    n.row_created = w.row_key.created;
    n.row_seq = w.row_key.seq;
    n.nvals = w.has_row ? ov->nrowf : 0;
    n.vals = w.vals;
    tess__buf enc = TESS__BUF_INIT;
    if (head && nrows) {
        size_t nt = r.ntiles + (had_head ? 0 : 1);
        int64_t *starts = tess__arena_alloc(a, nt * sizeof(int64_t));
        tess__str *states = tess__arena_alloc(a, nt * ov->nspecs * sizeof(tess__str));
        size_t *offs = tess__arena_alloc(a, (ov->nspecs + 1) * sizeof(size_t));
        if (!starts || !states || !offs) return OOM(err);
        if (r.ntiles) {
            memcpy(starts, r.starts, r.ntiles * sizeof(int64_t));
            memcpy(states, r.states, r.ntiles * ov->nspecs * sizeof(tess__str));
        }
        starts[nt - 1] = b;
        for (size_t sp = 0; !rc && sp < ov->nspecs; sp++) {
            offs[sp] = enc.len;
            rc = tess__agg_encode(ov->kinds[sp], &head[sp], &enc);
        }
        offs[ov->nspecs] = enc.len;
        for (size_t sp = 0; !rc && sp < ov->nspecs; sp++)
            states[(nt - 1) * ov->nspecs + sp] = (tess__str){enc.p + offs[sp], offs[sp + 1] - offs[sp]};
        n.ntiles = nt;
        n.nspecs = ov->nspecs;
        n.starts = starts;
        n.states = states;
        /* the values as of this write: each rollup with the new head tile */
        if (!(n.cur = tess__arena_alloc(a, ov->naggs * sizeof(tess__value)))) rc = TESS_ENOMEM;
        n.ncur = ov->naggs;
        for (size_t f = 0; !rc && f < ov->naggs; f++) {
            size_t sp = ov->agg_spec[f];
            tess__agg_state acc;
            tess__str ro = tess__orec_rollup(&r, f);
            rc = tess__agg_decode(ov->kinds[sp], ro.p, ro.n, &acc, a);
            if (!rc) rc = tess__agg_merge(ov->kinds[sp], &acc, &head[sp], a);
            if (!rc) rc = tess__agg_finalize(ov->kinds[sp], &acc, a, &n.cur[f]);
            if (rc && rc != TESS_ENOMEM) {
                tess__buf_release(&enc);
                return tess__err_set(err, TESS_EIO, "damaged online record: bad rollup");
            }
        }
    }
    if (!rc) rc = tess__orec_encode(&n, out);
    tess__buf_release(&enc);
    if (rc == TESS_ENOMEM) return OOM(err);
    if (rc) return tess__err_set(err, rc, "online record of view %s too large", ov->v->name);
    return TESS_OK;
}

int tess__oview_apply(const tess__oview *ov, const void *old, size_t oldn,
                      tess__oview_hist_fn hist, void *hist_ctx, const tess__value *rows,
                      const int64_t *seq, size_t nrows, int64_t now, tess__arena *arena,
                      tess__buf *out, tess__buf *hist_out, int *hist_op, tess__err *err)
{
    size_t mark = out->len;
    *hist_op = TESS__HIST_KEEP;
    int frc = apply_fast(ov, old, oldn, rows, seq, nrows, now, arena, out, err);
    if (frc != TESS_NOTFOUND) return frc;
    out->len = mark;
    hist_io hio = {hist, hist_ctx, {NULL, 0}, hist_out, TESS__HIST_KEEP};
    /* the old history record: the one a head of this definition names (one of another
       definition was dropped with its head by the rebuild that made this one) */
    int rc = TESS_OK;
    if (old && tess__orec_fingerprint(old, oldn) == ov->fp && tess__orec_hist_sum(old, oldn)) {
        if (!hist) return tess__err_set(err, TESS_EINVAL, "view %s: a write needs the history "
                                        "record", ov->v->name);
        if ((rc = hist(hist_ctx, &hio.old, err))) return rc;
    }
    work w;
    tess__orec r;
    rc = load(ov, old, oldn, hio.old.p, hio.old.n, &w, &r, arena, err);
    if (!rc) rc = fold_due(ov, &w, now, arena, err);
    size_t ns = ov->src->nschema;
    for (size_t i = 0; !rc && i < nrows; i++) {
        const tess__value *row = &rows[i * ns];
        rc = check_row(ov, row, i, err);
        if (rc) break;
        if (row[ov->src->ts_col].u.i > now) rc = add_future(&w, row, seq[i], arena) ? OOM(err) : 0;
        else rc = fold(ov, &w, row, seq[i], arena, err);
    }
    if (!rc && prune(ov, &w, now, arena)) rc = OOM(err);
    if (!rc) rc = store(ov, &w, now, arena, out, &hio, err);
    if (!rc) *hist_op = hio.op;
    return rc;
}

/* ---- reading ----------------------------------------------------------------------------- */

/* An entity without a record: NOT_FOUND; an aggregate still has the value of an empty
 * window (count and sum 0, as offline; docs/online.md). */
static void not_found(const tess__oview *ov, const size_t *which, size_t n, tess__value *vals,
                      int *statuses, int64_t *event_ts)
{
    for (size_t i = 0; i < n; i++) {
        const tess__feature *f = &ov->v->features[which[i]];
        vals[i] = tess__null(f->type);
        if (f->kind == TESS_FEATURE_AGG && (f->agg == TESS_AGG_COUNT || f->agg == TESS_AGG_SUM)) {
            vals[i].null = false;
            if (f->type == TESS_T_FLOAT64) vals[i].u.f = 0.0;
            else vals[i].u.i = 0;
        }
        statuses[i] = TESS_STATUS_NOT_FOUND;
        event_ts[i] = 0;
    }
}

/*
 * The aggregates at t, in a later hop bucket than the write's (r->rollup_bucket), nothing due:
 * each window is the history tiles from its start on — one suffix state of the history `h`
 * (NULL: none needed), the first tile at or after the start — then the head's tiles (the
 * write's bucket) if the window reaches them. The same merges as tess__wplan_eval_encoded over
 * every tile, grouped differently, which exact merges make bit-identical (suffix_states).
 */
static int eval_later(const tess__oview *ov, const tess__orec *r, const tess__orec *h,
                      int64_t t, tess__arena *arena, tess__value *aggs, tess__err *err)
{
    int64_t hop = tess__wplan_hop(ov->plan), bs = tess__floor_to(t, hop);
    size_t ns = ov->nspecs;
    for (size_t f = 0; f < ov->naggs; f++) {
        size_t sp = ov->agg_spec[f];
        tess__agg_kind k = ov->kinds[sp];
        int64_t ws = tess__wplan_win_start(t, ov->agg_win[f], hop);
        tess__agg_state acc, x;
        tess__agg_init(k, &acc);
        int rc = TESS_OK;
        if (h && h->ntiles) {
            size_t lo = 0, hi = h->ntiles;
            while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (tess__orec_start(h, mid) < ws) lo = mid + 1;
                else hi = mid;
            }
            if (lo < h->ntiles) {
                tess__str e = tess__orec_rollup(h, lo * ns + sp);
                rc = tess__agg_decode(k, e.p, e.n, &acc, arena);
            }
        }
        for (size_t j = 0; !rc && j < r->ntiles; j++) {
            int64_t st = tess__orec_start(r, j);
            if (st < ws || st > bs) continue;
            tess__str e = tess__orec_state(r, j, sp);
            rc = tess__agg_decode(k, e.p, e.n, &x, arena);
            if (!rc) rc = tess__agg_merge(k, &acc, &x, arena);
        }
        if (!rc) rc = tess__agg_finalize(k, &acc, arena, &aggs[f]);
        if (rc == TESS_ENOMEM) return OOM(err);
        if (rc) return tess__err_set(err, TESS_EIO, "damaged online record: bad tile state");
    }
    return TESS_OK;
}

int tess__oview_eval(const tess__oview *ov, const void *rec, size_t recn, const void *hist,
                     size_t histn, int64_t t, const size_t *which, size_t n, tess__arena *arena,
                     tess__value *vals, int *statuses, int64_t *event_ts, tess__err *err)
{
    if (!rec || tess__orec_fingerprint(rec, recn) != ov->fp) {
        not_found(ov, which, n, vals, statuses, event_ts);
        return TESS_OK;
    }
    tess__orec r;
    int rc = tess__orec_decode(rec, recn, &r, arena, err);
    if (rc) return rc;
    if (ov->expiry && forgotten(ov, &r, t)) {
        not_found(ov, which, n, vals, statuses, event_ts);
        return TESS_OK;
    }
    bool due = false;
    for (size_t f = 0; f < r.nfuture && !due; f++)
        due = r.frows[f * r.ncols + ov->src->ts_col].u.i <= t;
    size_t naggs = ov->plan ? tess__wplan_nfeatures(ov->plan) : 0;
    int64_t hop = naggs ? tess__wplan_hop(ov->plan) : 1;
    bool fast = !due && naggs && ov->rollup_ok && r.nrollups == naggs &&
                r.rollup_bucket == tess__floor_to(t, hop);
    /* a read in a later hop bucket than the write's, nothing due: the suffix path */
    bool later = !due && naggs && !fast && ov->split && r.rollup_bucket != INT64_MIN &&
                 tess__floor_to(t, hop) > r.rollup_bucket;
    /* every tile is needed (not only the head's): the history record too; but the history's
       tiles are all before the write's bucket, so a later read whose every window starts at
       or after it needs none of them */
    bool need_hist = r.hist_sum && (due || (naggs && !fast));
    if (need_hist && later && tess__wplan_first_start(ov->plan, t) >= r.rollup_bucket) need_hist = false;
    if (need_hist) {
        if (!hist) return TESS__OVIEW_NEED_HISTORY;
        if (tess__orec_checksum(hist, histn) != r.hist_sum) return TESS__OVIEW_STALE_HISTORY;
    }
    /* the history, decoded once for the paths below (the due path loads its own) */
    tess__orec h = {0};
    if (need_hist && !due) {
        if ((rc = decode_hist(ov, hist, histn, false, &h, arena, err))) return rc;
        if (h.nrollups != h.ntiles * ov->nspecs) later = false; /* no suffix states: merge */
    }

    /* the latest row and the aggregates as of t */
    bool has_row = r.has_row;
    int64_t row_ts = r.row_ts;
    const tess__value *rowvals = r.vals;
    tess__value *aggs = NULL;
    if (naggs && !(aggs = tess__arena_alloc(arena, naggs * sizeof(tess__value)))) return OOM(err);
    if (due) {
        work w;
        rc = load(ov, rec, recn, hist, histn, &w, &r, arena, err);
        if (rc) return rc;
        rc = fold_due(ov, &w, t, arena, err);
        if (!rc && naggs)
            rc = tess__wplan_eval_at(ov->plan, t, w.starts, w.states, w.ntiles, NULL, arena, aggs);
        if (rc) return rc == TESS_ENOMEM ? OOM(err) : tess__err_set(err, TESS_EIO, "damaged "
                                                                    "online record");
        has_row = w.has_row;
        row_ts = w.row_key.ts;
        rowvals = w.vals;
    } else if (fast && r.ncur == naggs && r.written <= t) {
        /* the fastest path: the values as of the write still hold in its bucket (nothing due,
           the head tile unchanged since) */
        memcpy(aggs, r.cur, naggs * sizeof(tess__value));
    } else if (fast) {
        /* the fast path: each feature's rollup, then the head tile (if any) */
        bool head = r.ntiles && tess__orec_start(&r, r.ntiles - 1) == r.rollup_bucket;
        for (size_t f = 0; f < naggs; f++) {
            size_t sp = ov->agg_spec[f];
            tess__agg_kind k = ov->kinds[sp];
            tess__agg_state acc, hs;
            tess__str ro = tess__orec_rollup(&r, f);
            rc = tess__agg_decode(k, ro.p, ro.n, &acc, arena);
            if (!rc && head) {
                tess__str hst = tess__orec_state(&r, r.ntiles - 1, sp);
                rc = tess__agg_decode(k, hst.p, hst.n, &hs, arena);
                if (!rc) rc = tess__agg_merge(k, &acc, &hs, arena);
            }
            if (!rc) rc = tess__agg_finalize(k, &acc, arena, &aggs[f]);
            if (rc == TESS_ENOMEM) return OOM(err);
            if (rc) return tess__err_set(err, TESS_EIO, "damaged online record: bad rollup");
        }
    } else if (later) {
        if ((rc = eval_later(ov, &r, need_hist ? &h : NULL, t, arena, aggs, err))) return rc;
    } else if (naggs) {
        /* every tile: the history's (decoded above when the head has one), then the head's */
        size_t nt = h.ntiles + r.ntiles;
        tess__wtile_enc *tiles = NULL;
        if (tess__orec_tiles(&h, arena) || tess__orec_tiles(&r, arena) ||
            (nt && !(tiles = tess__arena_alloc(arena, nt * sizeof(*tiles)))))
            return OOM(err);
        for (size_t i = 0; i < h.ntiles; i++)
            tiles[i] = (tess__wtile_enc){h.starts[i], &h.states[i * h.nspecs]};
        for (size_t i = 0; i < r.ntiles; i++)
            tiles[h.ntiles + i] = (tess__wtile_enc){r.starts[i], &r.states[i * r.nspecs]};
        rc = tess__wplan_eval_encoded(ov->plan, t, tiles, nt, NULL, arena, aggs);
        if (rc == TESS_ENOMEM) return OOM(err);
        if (rc) return tess__err_set(err, TESS_EIO, "damaged online record: bad tiles");
    }
    if (has_row && row_ts > t) has_row = false; /* read before the write's time */

    for (size_t i = 0; i < n; i++) {
        const tess__feature *f = &ov->v->features[which[i]];
        long s = ov->slot[which[i]];
        event_ts[i] = has_row ? row_ts : 0;
        if (f->kind == TESS_FEATURE_ROW) {
            if (!has_row) {
                vals[i] = tess__null(f->type);
                statuses[i] = TESS_STATUS_NOT_FOUND;
            } else if (ov->v->ttl_us > 0 && t - row_ts > ov->v->ttl_us) {
                vals[i] = tess__null(f->type);
                statuses[i] = TESS_STATUS_OUTSIDE_MAX_AGE;
            } else {
                vals[i] = rowvals[s];
                statuses[i] = vals[i].null ? TESS_STATUS_NULL_VALUE : TESS_STATUS_PRESENT;
            }
        } else {
            vals[i] = aggs[s];
            statuses[i] = vals[i].null ? TESS_STATUS_NULL_VALUE : TESS_STATUS_PRESENT;
        }
    }
    return TESS_OK;
}
