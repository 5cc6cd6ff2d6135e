/* window.c — the window-aggregation engine of one view (see window.h for the semantics).
 *
 * Plan. The aggregate features of a view reduce to a few distinct specs (agg, expr text,
 * where text); the expressions themselves are deduplicated again (sum, mean and max of
 * `amount` evaluate `amount` once), and an expression that is just a column name reads the
 * column without evaluating anything.
 *
 * Offline evaluation, for one entity and m sorted query times. The rows of a window are a
 * contiguous range of the entity's sorted rows, [lo_j, hi_j) for query j, and both ends only
 * move forward as t grows. Because every merge of agg.h is exact, the canonical tile-by-tile
 * merge equals the aggregate of that row range computed any way at all, so each spec uses the
 * fastest exact method for its aggregation:
 *   count, sum, mean, variances  prefix states at the O(m) positions the queries need, and one
 *                                exact subtraction per (query, feature): O(n + m); with about
 *                                a query per row (backfills), a sliding state per feature
 *                                instead (tess__agg_slide: each row added and removed once)
 *   min, max                     a monotonic deque per feature: O(n + m)
 *   first, last                  next/previous qualifying row arrays: O(n + m)
 *   count_distinct_approx        per-register monotonic deques and a histogram of register
 *                                values maintained as rows enter and leave: O(n + m * 54)
 *   outliers (agg.h), or forced  the canonical merge itself: tiles, a running prefix for
 *                                lifetime windows, a cached fold per (first tile, last tile)
 *                                for sliding ones, and a head state extended within a bucket
 * The last path is also what the online store runs (tess__wplan_eval_at), and the unit tests
 * check that all paths agree bit for bit.
 *
 * Output: every path writes a column per feature (put_out); tess__weval_run_cols hands the
 * caller's columns in, tess__weval_run copies scratch columns into its rows of tess__values.
 *
 * Memory: everything a run needs comes from the evaluator's scratch arena, reset at the start
 * of each run (its largest block is kept, so steady state allocates nothing); the HyperLogLog
 * register deques (4096 heads and tails) persist in the evaluator and are cleared register by
 * register after use.
 */
#include "offline/window.h"

#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "core/time.h"
#include "tessera.h"

#define TS_LIMIT (INT64_C(1) << 61) /* |timestamps| accepted (year +-73000) */
#define NONE SIZE_MAX

typedef struct winput {
    const char *src;
    const tess__expr *expr;
    long col; /* the schema column when the expression is just its name, else -1 */
    tess__type type;
} winput;

typedef struct wspec {
    tess__agg_kind kind;
    long expr;  /* index into exprs, -1: count rows */
    long where; /* index into wheres, -1: none */
    /* sum (float), mean, variances over the same (expr, where) share one running sum on the
     * offline fast path: the group's first spec, and a kind whose state holds them all */
    size_t group;
    tess__agg_kind gkind;
} wspec;

typedef struct wfeat {
    const tess__feature *f;
    size_t spec;
    int64_t window; /* 0: lifetime */
    size_t win;     /* index into windows */
} wfeat;

struct tess__wplan {
    const tess__view *view;
    const tess__source *src;
    int64_t hop;
    winput *exprs, *wheres;
    size_t nexprs, nwheres;
    wspec *specs;
    size_t nspecs;
    wfeat *feats;
    size_t nfeats;
    int64_t *windows;
    size_t nwindows;
};

struct tess__weval {
    const tess__wplan *p;
    bool fold;
    tess__arena scratch;
    int32_t *hll_head, *hll_tail; /* per register: deque ends, -1 when empty */
    uint8_t *hll_cur;             /* per register: current value */
};

/* ---- plan -------------------------------------------------------------------------------- */

static bool is_keyword(const char *s)
{
    static const char *const kw[] = {"true", "false", "null", "and", "or", "not"};
    for (size_t i = 0; i < sizeof(kw) / sizeof(kw[0]); i++)
        if (strcasecmp(s, kw[i]) == 0) return true;
    return false;
}

static long direct_column(const tess__source *src, const char *s, tess__type t)
{
    if (!s || !((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
        return -1;
    for (const char *c = s; *c; c++)
        if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
              *c == '_'))
            return -1;
    if (is_keyword(s)) return -1;
    long col = tess__source_column(src, s);
    if (col < 0 || src->schema[col].type != t) return -1;
    return col;
}

static bool needs_squares(tess__agg a)
{
    return a == TESS_AGG_STDDEV_SAMP || a == TESS_AGG_STDDEV_POP || a == TESS_AGG_VAR_SAMP ||
           a == TESS_AGG_VAR_POP;
}

/* The aggregations whose states are fixed-point moments (agg.c): float sums, means,
 * variances. Their states have one layout, so a group can share one. */
static bool is_moments(tess__agg_kind k)
{
    return (k.agg == TESS_AGG_SUM && k.in == TESS_T_FLOAT64) || k.agg == TESS_AGG_MEAN ||
           needs_squares(k.agg);
}

/* Index of the input with this source text, added if new. */
static long input_of(winput *a, size_t *n, const tess__source *src, const char *text,
                     const tess__expr *e)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp(a[i].src, text) == 0) return (long)i;
    a[*n].src = text;
    a[*n].expr = e;
    a[*n].type = tess__expr_type(e);
    a[*n].col = direct_column(src, text, a[*n].type);
    return (long)(*n)++;
}

int tess__wplan_new(const tess__view *v, tess__wplan **out)
{
    *out = NULL;
    if (!v || !v->source || v->hop_us <= 0) return TESS_EINVAL;
    const tess__source *src = v->source;
    if (src->ts_col >= src->nschema || src->schema[src->ts_col].type != TESS_T_TIMESTAMP)
        return TESS_EINVAL;
    if (src->created_col >= 0 && ((size_t)src->created_col >= src->nschema ||
                                  src->schema[src->created_col].type != TESS_T_TIMESTAMP))
        return TESS_EINVAL;
    tess__wplan *p = tess__calloc(1, sizeof(*p));
    if (!p) return TESS_ENOMEM;
    size_t nf = v->nfeatures ? v->nfeatures : 1;
    p->view = v;
    p->src = src;
    p->hop = v->hop_us;
    p->exprs = tess__calloc(nf, sizeof(winput));
    p->wheres = tess__calloc(nf, sizeof(winput));
    p->specs = tess__calloc(nf, sizeof(wspec));
    p->feats = tess__calloc(nf, sizeof(wfeat));
    p->windows = tess__calloc(nf, sizeof(int64_t));
    if (!p->exprs || !p->wheres || !p->specs || !p->feats || !p->windows) {
        tess__wplan_free(p);
        return TESS_ENOMEM;
    }
    for (size_t i = 0; i < v->nfeatures; i++) {
        const tess__feature *f = &v->features[i];
        if (f->kind != TESS_FEATURE_AGG) continue;
        tess__agg_kind k = {f->agg, f->expr ? tess__expr_type(f->expr) : TESS_T_NULL};
        if (!tess__agg_kind_valid(k) || (f->where && tess__expr_type(f->where) != TESS_T_BOOL) ||
            f->window_us < 0 || (!f->expr && f->agg != TESS_AGG_COUNT)) {
            tess__wplan_free(p);
            return TESS_EINVAL;
        }
        long e = f->expr ? input_of(p->exprs, &p->nexprs, src, f->expr_src, f->expr) : -1;
        long w = f->where ? input_of(p->wheres, &p->nwheres, src, f->where_src, f->where) : -1;
        size_t s;
        for (s = 0; s < p->nspecs; s++)
            if (p->specs[s].kind.agg == k.agg && p->specs[s].expr == e && p->specs[s].where == w)
                break;
        if (s == p->nspecs) {
            p->specs[s].kind = k;
            p->specs[s].expr = e;
            p->specs[s].where = w;
            p->nspecs++;
        }
        size_t wi;
        for (wi = 0; wi < p->nwindows; wi++)
            if (p->windows[wi] == f->window_us) break;
        if (wi == p->nwindows) p->windows[p->nwindows++] = f->window_us;
        wfeat *ft = &p->feats[p->nfeats++];
        ft->f = f;
        ft->spec = s;
        ft->window = f->window_us;
        ft->win = wi;
    }
    for (size_t i = 0; i < p->nspecs; i++) {
        wspec *a = &p->specs[i];
        a->group = i;
        a->gkind = a->kind;
        if (!is_moments(a->kind)) continue;
        for (size_t j = 0; j < i; j++) {
            wspec *b = &p->specs[j];
            if (is_moments(b->kind) && b->expr == a->expr && b->where == a->where) {
                a->group = b->group;
                break;
            }
        }
    }
    for (size_t i = 0; i < p->nspecs; i++) { /* a group's kind: the variance state if needed */
        wspec *a = &p->specs[i];
        if (!is_moments(a->kind)) continue;
        wspec *g = &p->specs[a->group];
        if (needs_squares(a->kind.agg)) g->gkind.agg = TESS_AGG_VAR_POP;
        else if (g->gkind.agg == TESS_AGG_SUM) g->gkind.agg = TESS_AGG_MEAN;
    }
    for (size_t i = 0; i < p->nspecs; i++) p->specs[i].gkind = p->specs[p->specs[i].group].gkind;
    *out = p;
    return TESS_OK;
}

void tess__wplan_free(tess__wplan *p)
{
    if (!p) return;
    tess__free(p->exprs);
    tess__free(p->wheres);
    tess__free(p->specs);
    tess__free(p->feats);
    tess__free(p->windows);
    tess__free(p);
}

int64_t tess__wplan_hop(const tess__wplan *p)
{
    return p->hop;
}

size_t tess__wplan_nspecs(const tess__wplan *p)
{
    return p->nspecs;
}

tess__agg_kind tess__wplan_spec_kind(const tess__wplan *p, size_t spec)
{
    return p->specs[spec].kind;
}

size_t tess__wplan_nfeatures(const tess__wplan *p)
{
    return p->nfeats;
}

const tess__feature *tess__wplan_feature(const tess__wplan *p, size_t i, size_t *spec,
                                         int64_t *window_us)
{
    if (spec) *spec = p->feats[i].spec;
    if (window_us) *window_us = p->feats[i].window;
    return p->feats[i].f;
}

int64_t tess__wplan_win_start(int64_t t, int64_t w, int64_t h)
{
    if (w <= 0 || w > t + TS_LIMIT) return INT64_MIN;
    return tess__floor_to(t - w, h);
}

int64_t tess__wplan_first_start(const tess__wplan *p, int64_t t)
{
    int64_t from = INT64_MAX;
    for (size_t f = 0; f < p->nfeats; f++) {
        int64_t ws = tess__wplan_win_start(t, p->feats[f].window, p->hop);
        if (ws < from) from = ws;
    }
    return from;
}

/* floor(t, h) for non-decreasing t: the bucket of the previous call is reused while t stays in
 * it, so that a run divides once per bucket rather than once per query (a backfill has a
 * query per event). *start = INT64_MAX before the first call. */
static inline int64_t floor_next(int64_t *start, int64_t t, int64_t h)
{
    if (t >= *start && t - *start < h) return *start;
    return *start = tess__floor_to(t, h);
}

/* ---- evaluator --------------------------------------------------------------------------- */

int tess__weval_new(const tess__wplan *p, tess__weval **out)
{
    *out = NULL;
    tess__weval *ev = tess__calloc(1, sizeof(*ev));
    if (!ev) return TESS_ENOMEM;
    ev->p = p;
    ev->hll_head = tess__malloc(TESS__HLL_M * sizeof(int32_t));
    ev->hll_tail = tess__malloc(TESS__HLL_M * sizeof(int32_t));
    ev->hll_cur = tess__calloc(TESS__HLL_M, 1);
    if (!ev->hll_head || !ev->hll_tail || !ev->hll_cur) {
        tess__weval_free(ev);
        return TESS_ENOMEM;
    }
    for (uint32_t i = 0; i < TESS__HLL_M; i++) ev->hll_head[i] = ev->hll_tail[i] = -1;
    *out = ev;
    return TESS_OK;
}

void tess__weval_free(tess__weval *ev)
{
    if (!ev) return;
    tess__arena_release(&ev->scratch);
    tess__free(ev->hll_head);
    tess__free(ev->hll_tail);
    tess__free(ev->hll_cur);
    tess__free(ev);
}

void tess__weval_set_fold(tess__weval *ev, bool fold)
{
    ev->fold = fold;
}

/* Everything one run over one entity's rows needs. */
typedef struct rctx {
    tess__weval *ev;
    const tess__wplan *p;
    tess__arena *a; /* scratch */
    size_t n;
    const int64_t *ts;
    tess__agg_keys keys;
    const int64_t *seq;
    tess__col *ecols;  /* per expr input: n values */
    uint8_t **wskip;   /* per where input: 1 = the row is filtered out */
    size_t m;
    size_t *hiq;       /* per query: rows with ts <= q_j */
    size_t *bq;        /* per query: rows with ts < floor(q_j, h) */
    size_t *loq;       /* per window and query: rows with ts < tess__wplan_win_start(q_j, W) */
    tess__arena *out_arena;
    tess__col *oc; /* per feature: m output values (the caller's columns, or scratch) */
} rctx;

static void *salloc(rctx *c, size_t n)
{
    return tess__arena_alloc(c->a, n ? n : 1);
}

static tess__value colval(const tess__col *col, size_t i)
{
    tess__value v;
    v.type = col->type;
    v.null = false;
    switch (col->type) {
    case TESS_T_BOOL: v.u.b = ((const uint8_t *)col->data)[i] != 0; break;
    case TESS_T_FLOAT64: v.u.f = ((const double *)col->data)[i]; break;
    case TESS_T_STRING: v.u.s = ((const tess__str *)col->data)[i]; break;
    default: v.u.i = ((const int64_t *)col->data)[i]; break;
    }
    return v;
}

static int64_t created_at(const tess__agg_keys *k, size_t i)
{
    return k->created && !(k->created_nulls && k->created_nulls[i]) ? k->created[i] : INT64_MIN;
}

/* Validates the rows, evaluates every expression and where over them. */
static int prepare(tess__weval *ev, const tess__batch *b, size_t lo, size_t hi, rctx *c)
{
    const tess__wplan *p = ev->p;
    const tess__source *src = p->src;
    tess__arena_reset(&ev->scratch);
    memset(c, 0, sizeof(*c));
    c->ev = ev;
    c->p = p;
    c->a = &ev->scratch;
    if (!b || lo > hi || hi > b->nrows || b->ncols != src->nschema || hi - lo >= INT32_MAX)
        return TESS_EINVAL;
    for (size_t i = 0; i < b->ncols; i++)
        if (b->cols[i].type != src->schema[i].type || (hi > lo && !b->cols[i].data))
            return TESS_EINVAL;
    size_t n = hi - lo;
    c->n = n;
    /* columns restricted to the rows */
    tess__col *sub = salloc(c, b->ncols * sizeof(tess__col));
    if (!sub) return TESS_ENOMEM;
    for (size_t i = 0; i < b->ncols; i++) {
        const tess__col *bc = &b->cols[i];
        sub[i].type = bc->type;
        sub[i].nulls = bc->nulls ? bc->nulls + lo : NULL;
        sub[i].data = bc->data ? (char *)bc->data + lo * tess__type_width(bc->type) : NULL;
    }
    const tess__col *tc = &sub[src->ts_col];
    c->ts = tc->data;
    c->keys.ts = c->ts;
    if (src->created_col >= 0) {
        c->keys.created = sub[src->created_col].data;
        c->keys.created_nulls = sub[src->created_col].nulls;
    }
    c->seq = b->seq ? b->seq + lo : NULL;
    c->keys.seq = c->seq;
    for (size_t i = 0; i < n; i++) {
        if (tc->nulls && tc->nulls[i]) return TESS_EINVAL;
        int64_t t = c->ts[i];
        if (t < -TS_LIMIT || t > TS_LIMIT) return TESS_EINVAL;
        if (i == 0) continue;
        int64_t t0 = c->ts[i - 1];
        if (t0 < t) continue;
        if (t0 > t) return TESS_EINVAL;
        int64_t c0 = created_at(&c->keys, i - 1), c1 = created_at(&c->keys, i);
        if (c0 < c1) continue;
        if (c0 > c1) return TESS_EINVAL;
        if (c->seq && c->seq[i - 1] > c->seq[i]) return TESS_EINVAL;
    }
    /* expressions */
    c->ecols = salloc(c, (p->nexprs + 1) * sizeof(tess__col));
    c->wskip = salloc(c, (p->nwheres + 1) * sizeof(uint8_t *));
    if (!c->ecols || !c->wskip) return TESS_ENOMEM;
    for (size_t e = 0; e < p->nexprs; e++) {
        const winput *in = &p->exprs[e];
        if (in->col >= 0) {
            c->ecols[e] = sub[in->col];
            continue;
        }
        tess__col *o = &c->ecols[e];
        o->data = salloc(c, n * tess__type_width(in->type));
        o->nulls = salloc(c, n);
        if (!o->data || !o->nulls) return TESS_ENOMEM;
        int rc = tess__expr_eval_batch(in->expr, sub, n, c->a, o);
        if (rc) return rc;
    }
    for (size_t w = 0; w < p->nwheres; w++) {
        const winput *in = &p->wheres[w];
        tess__col wc;
        if (in->col >= 0) {
            wc = sub[in->col];
        } else {
            wc.data = salloc(c, n);
            wc.nulls = salloc(c, n);
            if (!wc.data || !wc.nulls) return TESS_ENOMEM;
            int rc = tess__expr_eval_batch(in->expr, sub, n, c->a, &wc);
            if (rc) return rc;
        }
        uint8_t *sk = salloc(c, n);
        if (!sk) return TESS_ENOMEM;
        const uint8_t *d = wc.data;
        for (size_t i = 0; i < n; i++) sk[i] = (wc.nulls && wc.nulls[i]) || !d[i];
        c->wskip[w] = sk;
    }
    return TESS_OK;
}

static const tess__col *spec_vals(const rctx *c, const wspec *sp)
{
    return sp->expr >= 0 ? &c->ecols[sp->expr] : NULL;
}

static const uint8_t *spec_skip(const rctx *c, const wspec *sp)
{
    return sp->where >= 0 ? c->wskip[sp->where] : NULL;
}

static bool qualifies(const tess__col *vals, const uint8_t *skip, size_t i)
{
    return !(skip && skip[i]) && !(vals && vals->nulls && vals->nulls[i]);
}

static void put_out(rctx *c, size_t j, size_t fi, tess__value v)
{
    tess__col *o = &c->oc[fi];
    o->nulls[j] = v.null;
    if (v.null) return;
    switch (o->type) {
    case TESS_T_BOOL: ((uint8_t *)o->data)[j] = v.u.b; break;
    case TESS_T_FLOAT64: ((double *)o->data)[j] = v.u.f; break;
    case TESS_T_STRING: ((tess__str *)o->data)[j] = v.u.s; break;
    default: ((int64_t *)o->data)[j] = v.u.i; break;
    }
}

/* The canonical value of row r's input, strings copied into the output arena. */
static int row_value(rctx *c, const tess__col *vals, size_t r, tess__value *v)
{
    *v = tess__agg_value_canon(colval(vals, r));
    if (v->type == TESS_T_STRING) {
        char *s = tess__arena_strndup(c->out_arena, v->u.s.p ? v->u.s.p : "", v->u.s.n);
        if (!s) return TESS_ENOMEM;
        v->u.s.p = s;
    }
    return TESS_OK;
}

/* count: prefix counts of the qualifying rows, one subtraction per value. */
static int run_counts(rctx *c, size_t s)
{
    const tess__wplan *p = c->p;
    const wspec *sp = &p->specs[s];
    const tess__col *vals = spec_vals(c, sp);
    const uint8_t *skip = spec_skip(c, sp);
    size_t n = c->n, m = c->m;
    const int64_t *P = NULL;
    if (vals || skip) {
        int64_t *pc = salloc(c, (n + 1) * sizeof(int64_t));
        if (!pc) return TESS_ENOMEM;
        const uint8_t *nu = vals ? vals->nulls : NULL;
        pc[0] = 0;
        if (skip && nu) { /* branch-free: filters are unpredictable */
            for (size_t i = 0; i < n; i++) pc[i + 1] = pc[i] + !(skip[i] | nu[i]);
        } else if (skip || nu) {
            const uint8_t *x = skip ? skip : nu;
            for (size_t i = 0; i < n; i++) pc[i + 1] = pc[i] + !x[i];
        } else {
            for (size_t i = 0; i < n; i++) pc[i + 1] = (int64_t)i + 1;
        }
        P = pc;
    }
    for (size_t f = 0; f < p->nfeats; f++) {
        const wfeat *ft = &p->feats[f];
        if (ft->spec != s) continue;
        const size_t *lq = ft->window ? c->loq + ft->win * m : NULL;
        int64_t *o = c->oc[f].data;
        memset(c->oc[f].nulls, 0, m);
        for (size_t j = 0; j < m; j++) {
            size_t a = lq ? lq[j] : 0, b = c->hiq[j];
            o[j] = P ? P[b] - P[a] : (int64_t)(b - a);
        }
    }
    return TESS_OK;
}

/* int sums and the moment groups: prefix states at the positions the queries need, one exact
 * subtraction per value. *fallback when the states hold outliers (their subtraction is not
 * exact): then the group's specs take the canonical merge. */
static int run_prefix(rctx *c, size_t g, bool *fallback)
{
    const tess__wplan *p = c->p;
    const wspec *sp = &p->specs[g];
    tess__agg_kind k = sp->gkind;
    const tess__col *vals = spec_vals(c, sp);
    const uint8_t *skip = spec_skip(c, sp);
    size_t n = c->n, m = c->m;
    if (2 * m >= n) {
        /* about a query per row (a backfill: every event's own time): slide each feature's
         * window over the rows instead; no state per position (136 bytes each, most of this
         * path's cost and page faults when every position is a query). Same values: both are
         * exact. */
        for (size_t f = 0; f < p->nfeats; f++) {
            const wfeat *ft = &p->feats[f];
            if (p->specs[ft->spec].group != g) continue;
            bool exact;
            int rc = tess__agg_slide(p->specs[ft->spec].kind, vals, skip,
                                     ft->window ? c->loq + ft->win * m : NULL, c->hiq, m,
                                     &c->oc[f], &exact);
            if (rc) return rc;
            if (!exact) {
                *fallback = true;
                return TESS_OK;
            }
        }
        return TESS_OK;
    }
    uint8_t *mark = salloc(c, n + 1);
    uint32_t *sidx = salloc(c, (n + 1) * sizeof(uint32_t));
    if (!mark || !sidx) return TESS_ENOMEM;
    memset(mark, 0, n + 1);
    mark[0] = 1;
    for (size_t j = 0; j < m; j++) mark[c->hiq[j]] = 1;
    for (size_t f = 0; f < p->nfeats; f++) {
        if (p->specs[p->feats[f].spec].group != g || !p->feats[f].window) continue;
        const size_t *lq = c->loq + p->feats[f].win * m;
        for (size_t j = 0; j < m; j++) mark[lq[j]] = 1;
    }
    size_t ns = 0;
    for (size_t i = 0; i <= n; i++) ns += mark[i];
    tess__agg_state *snap = salloc(c, ns * sizeof(tess__agg_state));
    if (!snap) return TESS_ENOMEM;
    tess__agg_state st;
    tess__agg_init(k, &st);
    size_t prev = 0, ks = 0;
    for (size_t pos = 0; pos <= n; pos++) {
        if (!mark[pos]) continue;
        int rc = tess__agg_add_rows(k, &st, vals, skip, prev, pos, NULL, c->a);
        if (rc) return rc;
        snap[ks] = st;
        sidx[pos] = (uint32_t)ks++;
        prev = pos;
    }
    if (!tess__agg_exact(k, &st)) {
        *fallback = true;
        return TESS_OK;
    }
    for (size_t f = 0; f < p->nfeats; f++) {
        const wfeat *ft = &p->feats[f];
        if (p->specs[ft->spec].group != g) continue;
        tess__agg_kind fk = p->specs[ft->spec].kind;
        const size_t *lq = ft->window ? c->loq + ft->win * m : NULL;
        size_t pa = NONE, pb = NONE;
        tess__value last = tess__null(TESS_T_NULL);
        for (size_t j = 0; j < m; j++) {
            size_t a = lq ? lq[j] : 0, b = c->hiq[j];
            if (a != pa || b != pb) {
                tess__agg_state x = snap[sidx[b]];
                if (a) {
                    int rc = tess__agg_sub(k, &x, &snap[sidx[a]]);
                    if (rc) return rc;
                }
                int rc = tess__agg_finalize(fk, &x, c->out_arena, &last);
                if (rc) return rc;
                pa = a;
                pb = b;
            }
            put_out(c, j, f, last);
        }
    }
    return TESS_OK;
}

/* A uint64 that sorts like agg.h's total order: int64 and timestamps by value, floats with
 * -0.0 < 0.0 and NaN greatest. */
static uint64_t sort_key(tess__type t, const void *data, size_t i)
{
    if (t == TESS_T_FLOAT64) {
        double x = ((const double *)data)[i];
        if (x != x) return UINT64_MAX;
        uint64_t b;
        memcpy(&b, &x, 8);
        return (b >> 63) ? ~b : b | (1ull << 63);
    }
    return (uint64_t)((const int64_t *)data)[i] ^ (1ull << 63);
}

/* min, max: a monotonic deque of row indices per feature. */
static int run_minmax(rctx *c, size_t s)
{
    const tess__wplan *p = c->p;
    const wspec *sp = &p->specs[s];
    tess__agg_kind k = sp->kind;
    const tess__col *vals = spec_vals(c, sp);
    const uint8_t *skip = spec_skip(c, sp);
    size_t n = c->n, m = c->m;
    size_t *dq = salloc(c, (n + 1) * sizeof(size_t));
    if (!dq) return TESS_ENOMEM;
    bool is_min = k.agg == TESS_AGG_MIN;
    /* numbers and timestamps: keys that sort like the values, flipped for max */
    uint64_t *key = NULL;
    if (k.in != TESS_T_STRING) {
        key = salloc(c, (n + 1) * sizeof(uint64_t));
        if (!key) return TESS_ENOMEM;
        for (size_t i = 0; i < n; i++) {
            uint64_t x = sort_key(k.in, vals->data, i);
            key[i] = is_min ? x : ~x;
        }
    }
    for (size_t f = 0; f < p->nfeats; f++) {
        const wfeat *ft = &p->feats[f];
        if (ft->spec != s) continue;
        const size_t *lq = ft->window ? c->loq + ft->win * m : NULL;
        size_t h = 0, t = 0, in = 0, lastrow = NONE;
        tess__value last = tess__null(k.in);
        for (size_t j = 0; j < m; j++) {
            for (; in < c->hiq[j]; in++) {
                if (!qualifies(vals, skip, in)) continue;
                if (key) {
                    uint64_t x = key[in];
                    while (t > h && key[dq[t - 1]] >= x) t--;
                } else {
                    tess__value v = colval(vals, in);
                    while (t > h) {
                        tess__value b = colval(vals, dq[t - 1]);
                        int cmp = tess__agg_value_cmp(k.in, &b, &v);
                        if (is_min ? cmp < 0 : cmp > 0) break;
                        t--;
                    }
                }
                dq[t++] = in;
            }
            size_t a = lq ? lq[j] : 0;
            while (h < t && dq[h] < a) h++;
            if (h == t) {
                put_out(c, j, f, tess__null(k.in));
                continue;
            }
            if (dq[h] != lastrow) {
                int rc = row_value(c, vals, dq[h], &last);
                if (rc) return rc;
                lastrow = dq[h];
            }
            put_out(c, j, f, last);
        }
    }
    return TESS_OK;
}

static bool same_key(const rctx *c, size_t i, size_t j)
{
    return c->ts[i] == c->ts[j] && created_at(&c->keys, i) == created_at(&c->keys, j) &&
           c->seq[i] == c->seq[j];
}

/* first, last: the first/last qualifying row of the range; rows with the same full key (only
 * possible with duplicate seqs) are decided by the value, as the states do. */
static int run_firstlast(rctx *c, size_t s)
{
    const tess__wplan *p = c->p;
    const wspec *sp = &p->specs[s];
    tess__agg_kind k = sp->kind;
    const tess__col *vals = spec_vals(c, sp);
    const uint8_t *skip = spec_skip(c, sp);
    size_t n = c->n, m = c->m;
    bool first = k.agg == TESS_AGG_FIRST;
    size_t *nq = salloc(c, (n + 1) * sizeof(size_t));
    if (!nq) return TESS_ENOMEM;
    if (first) { /* nq[i]: first qualifying row >= i, n if none */
        nq[n] = n;
        for (size_t i = n; i-- > 0;) nq[i] = qualifies(vals, skip, i) ? i : nq[i + 1];
    } else { /* nq[i]: last qualifying row < i, NONE if none */
        nq[0] = NONE;
        for (size_t i = 1; i <= n; i++) nq[i] = qualifies(vals, skip, i - 1) ? i - 1 : nq[i - 1];
    }
    for (size_t f = 0; f < p->nfeats; f++) {
        const wfeat *ft = &p->feats[f];
        if (ft->spec != s) continue;
        const size_t *lq = ft->window ? c->loq + ft->win * m : NULL;
        size_t lastrow = NONE;
        tess__value last = tess__null(k.in);
        for (size_t j = 0; j < m; j++) {
            size_t a = lq ? lq[j] : 0, b = c->hiq[j], r;
            if (first) {
                r = nq[a];
                if (r >= b) r = NONE;
            } else {
                r = nq[b];
                if (r != NONE && r < a) r = NONE;
            }
            if (r == NONE) {
                put_out(c, j, f, tess__null(k.in));
                continue;
            }
            if (c->seq) {
                size_t best = r;
                tess__value bv = colval(vals, best);
                if (first) {
                    for (size_t r2 = r + 1; r2 < b && same_key(c, r2, r); r2++) {
                        tess__value v = colval(vals, r2);
                        if (qualifies(vals, skip, r2) && tess__agg_value_cmp(k.in, &v, &bv) < 0) {
                            best = r2;
                            bv = v;
                        }
                    }
                } else {
                    for (size_t r2 = r; r2-- > a && same_key(c, r2, r);) {
                        tess__value v = colval(vals, r2);
                        if (qualifies(vals, skip, r2) && tess__agg_value_cmp(k.in, &v, &bv) > 0) {
                            best = r2;
                            bv = v;
                        }
                    }
                }
                r = best;
            }
            if (r != lastrow) {
                int rc = row_value(c, vals, r, &last);
                if (rc) return rc;
                lastrow = r;
            }
            put_out(c, j, f, last);
        }
    }
    return TESS_OK;
}

/* count_distinct_approx: per register, a deque of the rows in the window with decreasing
 * values (the front is the register's value); a histogram of register values gives the
 * estimate exactly as the state's finalize computes it. */
typedef struct hllw {
    int32_t *head, *tail, *nx, *pv;
    uint8_t *cur;
    const uint16_t *ri;
    const uint8_t *rk;
    uint32_t hist[TESS__HLL_HIST];
    bool dirty;
} hllw;

static void hll_setcur(hllw *w, uint32_t r, uint8_t v)
{
    if (v == w->cur[r]) return;
    w->hist[w->cur[r]]--;
    w->hist[v]++;
    w->cur[r] = v;
    w->dirty = true;
}

static void hll_push(hllw *w, int32_t i)
{
    uint32_t r = w->ri[i];
    uint8_t v = w->rk[i];
    int32_t tl = w->tail[r];
    while (tl >= 0 && w->rk[tl] <= v) tl = w->pv[tl];
    w->pv[i] = tl;
    w->nx[i] = -1;
    if (tl >= 0)
        w->nx[tl] = i;
    else
        w->head[r] = i;
    w->tail[r] = i;
    hll_setcur(w, r, w->rk[w->head[r]]);
}

static void hll_pop(hllw *w, int32_t i)
{
    uint32_t r = w->ri[i];
    if (w->head[r] != i) return; /* dominated by a later row: already gone */
    int32_t h2 = w->nx[i];
    w->head[r] = h2;
    if (h2 < 0)
        w->tail[r] = -1;
    else
        w->pv[h2] = -1;
    hll_setcur(w, r, h2 >= 0 ? w->rk[h2] : 0);
}

static int run_hll(rctx *c, size_t s)
{
    const tess__wplan *p = c->p;
    const wspec *sp = &p->specs[s];
    tess__agg_kind k = sp->kind;
    const tess__col *vals = spec_vals(c, sp);
    const uint8_t *skip = spec_skip(c, sp);
    size_t n = c->n, m = c->m;
    uint16_t *ri = salloc(c, n * sizeof(uint16_t));
    uint8_t *rk = salloc(c, n);
    hllw w;
    w.nx = salloc(c, n * sizeof(int32_t));
    w.pv = salloc(c, n * sizeof(int32_t));
    if (!ri || !rk || !w.nx || !w.pv) return TESS_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        rk[i] = 0;
        if (!qualifies(vals, skip, i)) continue;
        tess__value v = colval(vals, i);
        uint32_t idx;
        tess__hll_point(k.in, &v, &idx, &rk[i]);
        ri[i] = (uint16_t)idx;
    }
    w.head = c->ev->hll_head;
    w.tail = c->ev->hll_tail;
    w.cur = c->ev->hll_cur;
    w.ri = ri;
    w.rk = rk;
    for (size_t f = 0; f < p->nfeats; f++) {
        const wfeat *ft = &p->feats[f];
        if (ft->spec != s) continue;
        const size_t *lq = ft->window ? c->loq + ft->win * m : NULL;
        memset(w.hist, 0, sizeof(w.hist));
        w.hist[0] = TESS__HLL_M;
        w.dirty = true;
        size_t in = 0, gone = 0;
        tess__value last = tess__null(TESS_T_INT64);
        for (size_t j = 0; j < m; j++) {
            for (; in < c->hiq[j]; in++)
                if (rk[in]) hll_push(&w, (int32_t)in);
            size_t a = lq ? lq[j] : 0;
            for (; gone < a; gone++)
                if (rk[gone]) hll_pop(&w, (int32_t)gone);
            if (w.dirty) {
                last = w.hist[0] == TESS__HLL_M ? tess__null(TESS_T_INT64)
                                                : tess__v_int(tess__hll_estimate(w.hist));
                w.dirty = false;
            }
            put_out(c, j, f, last);
        }
        for (size_t i = 0; i < in; i++) {
            if (!rk[i]) continue;
            w.head[ri[i]] = w.tail[ri[i]] = -1;
            w.cur[ri[i]] = 0;
        }
    }
    return TESS_OK;
}

/* ---- the canonical merge ------------------------------------------------------------------ */

/* Tiles of one spec: bucket boundaries in rows (trow[0..nt], trow[nt] = n) and states. */
static int build_tiles(rctx *c, size_t s, tess__arena *arena, size_t *nt_out, size_t **trow_out,
                       tess__agg_state **st_out)
{
    const wspec *sp = &c->p->specs[s];
    int64_t h = c->p->hop;
    size_t n = c->n, nt = 0;
    for (size_t i = 0; i < n; i++)
        if (i == 0 || tess__floor_to(c->ts[i], h) != tess__floor_to(c->ts[i - 1], h)) nt++;
    size_t *trow = salloc(c, (nt + 1) * sizeof(size_t));
    tess__agg_state *st = tess__arena_alloc(arena, (nt ? nt : 1) * sizeof(tess__agg_state));
    if (!trow || !st) return TESS_ENOMEM;
    size_t t = 0;
    for (size_t i = 0; i < n; i++)
        if (i == 0 || tess__floor_to(c->ts[i], h) != tess__floor_to(c->ts[i - 1], h))
            trow[t++] = i;
    trow[nt] = n;
    for (size_t i = 0; i < nt; i++) {
        tess__agg_init(sp->kind, &st[i]);
        int rc = tess__agg_add_rows(sp->kind, &st[i], spec_vals(c, sp), spec_skip(c, sp), trow[i],
                                    trow[i + 1], &c->keys, arena);
        if (rc) return rc;
    }
    *nt_out = nt;
    *trow_out = trow;
    *st_out = st;
    return TESS_OK;
}

/* Tiles whose first row is before row x: those that start before the bucket-aligned time
 * that row x is the first row at or after. */
static size_t tiles_before(const size_t *trow, size_t nt, size_t x)
{
    size_t lo = 0, hi = nt;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (trow[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int run_fold(rctx *c, size_t s)
{
    const tess__wplan *p = c->p;
    const wspec *sp = &p->specs[s];
    tess__agg_kind k = sp->kind;
    const tess__col *vals = spec_vals(c, sp);
    const uint8_t *skip = spec_skip(c, sp);
    size_t m = c->m, nt, *trow;
    tess__agg_state *tiles;
    int rc = build_tiles(c, s, c->a, &nt, &trow, &tiles);
    if (rc) return rc;
    for (size_t f = 0; f < p->nfeats; f++) {
        const wfeat *ft = &p->feats[f];
        if (ft->spec != s) continue;
        const size_t *lq = ft->window ? c->loq + ft->win * m : NULL;
        tess__agg_state acc, head, tmp;
        tess__agg_init(k, &acc);
        tess__agg_init(k, &head);
        size_t fa = 0, fb = 0; /* acc = fold of tiles [fa, fb) */
        size_t hfrom = NONE, hto = 0;
        for (size_t j = 0; j < m; j++) {
            size_t tb = tiles_before(trow, nt, c->bq[j]);
            size_t ta = lq ? tiles_before(trow, nt, lq[j]) : 0;
            if (ta != fa || tb < fb) {
                tess__agg_init(k, &acc);
                fa = fb = ta;
            }
            for (; fb < tb; fb++)
                if ((rc = tess__agg_merge(k, &acc, &tiles[fb], c->a))) return rc;
            if (c->bq[j] != hfrom) {
                tess__agg_init(k, &head);
                hfrom = hto = c->bq[j];
            }
            if (c->hiq[j] > hto) {
                rc = tess__agg_add_rows(k, &head, vals, skip, hto, c->hiq[j], &c->keys, c->a);
                if (rc) return rc;
                hto = c->hiq[j];
            }
            if ((rc = tess__agg_copy(k, &tmp, &acc, c->a))) return rc;
            if ((rc = tess__agg_merge(k, &tmp, &head, c->a))) return rc;
            tess__value v;
            if ((rc = tess__agg_finalize(k, &tmp, c->out_arena, &v))) return rc;
            put_out(c, j, f, v);
        }
    }
    return TESS_OK;
}

/* ---- runs ---------------------------------------------------------------------------------- */

/* The run behind both output layouts: values into the columns oc (m entries each), or, when
 * oc is NULL, into scratch columns (set in *ocp) that the caller copies out. */
static int run(tess__weval *ev, const tess__batch *b, size_t lo, size_t hi, const int64_t *q,
               size_t m, tess__arena *arena, tess__col *oc, rctx *cp)
{
    const tess__wplan *p = ev->p;
    for (size_t j = 0; j < m; j++)
        if (q[j] < -TS_LIMIT || q[j] > TS_LIMIT || (j && q[j] < q[j - 1])) return TESS_EINVAL;
    rctx c;
    int rc = prepare(ev, b, lo, hi, &c);
    if (rc) return rc;
    c.m = m;
    c.out_arena = arena;
    if (!oc) {
        if (!(oc = salloc(&c, p->nfeats * sizeof(tess__col)))) return TESS_ENOMEM;
        for (size_t f = 0; f < p->nfeats; f++) {
            oc[f].type = tess__agg_result_type(p->specs[p->feats[f].spec].kind);
            oc[f].nulls = salloc(&c, m);
            oc[f].data = salloc(&c, m * tess__type_width(oc[f].type));
            if (!oc[f].nulls || !oc[f].data) return TESS_ENOMEM;
        }
    } else {
        for (size_t f = 0; f < p->nfeats; f++)
            if (oc[f].type != tess__agg_result_type(p->specs[p->feats[f].spec].kind) ||
                !oc[f].nulls || !oc[f].data)
                return TESS_EINVAL;
    }
    c.oc = oc;
    c.hiq = salloc(&c, m * sizeof(size_t));
    c.bq = salloc(&c, m * sizeof(size_t));
    c.loq = salloc(&c, p->nwindows * m * sizeof(size_t));
    if (!c.hiq || !c.bq || !c.loq) return TESS_ENOMEM;
    size_t n = c.n, r = 0, rb = 0;
    int64_t bstart = INT64_MAX;
    for (size_t j = 0; j < m; j++) {
        while (r < n && c.ts[r] <= q[j]) r++;
        c.hiq[j] = r;
        int64_t bs = floor_next(&bstart, q[j], p->hop);
        while (rb < n && c.ts[rb] < bs) rb++;
        c.bq[j] = rb;
    }
    for (size_t w = 0; w < p->nwindows; w++) {
        size_t *lq = c.loq + w * m, rl = 0;
        int64_t wd = p->windows[w], wstart = INT64_MAX;
        for (size_t j = 0; j < m; j++) {
            /* tess__wplan_win_start(q[j], wd, hop), the floor through floor_next */
            if (wd > 0 && wd <= q[j] + TS_LIMIT) {
                int64_t ws = floor_next(&wstart, q[j] - wd, p->hop);
                while (rl < n && c.ts[rl] < ws) rl++;
            }
            lq[j] = rl;
        }
    }
    for (size_t s = 0; s < p->nspecs; s++) {
        const wspec *sp = &p->specs[s];
        tess__agg_kind k = sp->kind;
        if (ev->fold) {
            if ((rc = run_fold(&c, s))) return rc;
            continue;
        }
        if (k.agg == TESS_AGG_COUNT) {
            rc = run_counts(&c, s);
        } else if (tess__agg_invertible(k)) {
            if (sp->group != s) continue; /* done with its group */
            bool fallback = false;
            rc = run_prefix(&c, s, &fallback);
            for (size_t g = s; !rc && fallback && g < p->nspecs; g++)
                if (p->specs[g].group == s) rc = run_fold(&c, g);
        } else if (k.agg == TESS_AGG_MIN || k.agg == TESS_AGG_MAX) {
            rc = run_minmax(&c, s);
        } else if (k.agg == TESS_AGG_FIRST || k.agg == TESS_AGG_LAST) {
            rc = run_firstlast(&c, s);
        } else {
            rc = run_hll(&c, s);
        }
        if (rc) return rc;
    }
    *cp = c;
    return TESS_OK;
}

int tess__weval_run(tess__weval *ev, const tess__batch *b, size_t lo, size_t hi,
                    const int64_t *q, size_t m, tess__arena *arena, tess__value *out)
{
    const tess__wplan *p = ev->p;
    if (m == 0 || p->nfeats == 0) return TESS_OK;
    if (!q || !out || !arena) return TESS_EINVAL;
    rctx c;
    int rc = run(ev, b, lo, hi, q, m, arena, NULL, &c);
    if (rc) return rc;
    size_t nf = p->nfeats;
    for (size_t f = 0; f < nf; f++) {
        const tess__col *o = &c.oc[f];
        for (size_t j = 0; j < m; j++)
            out[j * nf + f] = o->nulls[j] ? tess__null(o->type) : colval(o, j);
    }
    return TESS_OK;
}

int tess__weval_run_cols(tess__weval *ev, const tess__batch *b, size_t lo, size_t hi,
                         const int64_t *q, size_t m, tess__arena *arena, tess__col *out)
{
    const tess__wplan *p = ev->p;
    if (m == 0 || p->nfeats == 0) return TESS_OK;
    if (!q || !out || !arena) return TESS_EINVAL;
    rctx c;
    return run(ev, b, lo, hi, q, m, arena, out, &c);
}

int tess__weval_tiles(tess__weval *ev, const tess__batch *b, size_t lo, size_t hi,
                      tess__arena *arena, tess__wtiles *out)
{
    const tess__wplan *p = ev->p;
    memset(out, 0, sizeof(*out));
    rctx c;
    int rc = prepare(ev, b, lo, hi, &c);
    if (rc) return rc;
    size_t ns = p->nspecs, nt = 0;
    for (size_t i = 0; i < c.n; i++)
        if (i == 0 || tess__floor_to(c.ts[i], p->hop) != tess__floor_to(c.ts[i - 1], p->hop))
            nt++;
    out->nspecs = ns;
    out->start = tess__arena_alloc(arena, (nt ? nt : 1) * sizeof(int64_t));
    out->states = tess__arena_alloc(arena, (nt * ns + 1) * sizeof(tess__agg_state));
    if (!out->start || !out->states) return TESS_ENOMEM;
    for (size_t s = 0; s < ns; s++) {
        size_t nts, *trow;
        tess__agg_state *st;
        if ((rc = build_tiles(&c, s, arena, &nts, &trow, &st))) return rc;
        for (size_t i = 0; i < nts; i++) {
            out->states[i * ns + s] = st[i];
            if (s == 0) out->start[i] = tess__floor_to(c.ts[trow[i]], p->hop);
        }
    }
    if (ns == 0) { /* starts only */
        size_t t = 0;
        for (size_t i = 0; i < c.n; i++)
            if (i == 0 || tess__floor_to(c.ts[i], p->hop) != tess__floor_to(c.ts[i - 1], p->hop))
                out->start[t++] = tess__floor_to(c.ts[i], p->hop);
    }
    out->n = nt;
    return TESS_OK;
}

/* ---- online ------------------------------------------------------------------------------ */

int tess__wplan_add_row(const tess__wplan *p, tess__agg_state *states, const tess__value *row,
                        int64_t seq, tess__arena *arena)
{
    const tess__source *src = p->src;
    const tess__value *tv = &row[src->ts_col];
    if (tv->null || tv->type != TESS_T_TIMESTAMP) return TESS_EINVAL;
    tess__agg_key key = {tv->u.i, INT64_MIN, seq};
    if (src->created_col >= 0) {
        const tess__value *cv = &row[src->created_col];
        if (!cv->null && cv->type == TESS_T_TIMESTAMP) key.created = cv->u.i;
    }
    tess__value *ev = tess__arena_alloc(arena, (p->nexprs + p->nwheres + 1) * sizeof(tess__value));
    if (!ev) return TESS_ENOMEM;
    tess__value *wv = ev + p->nexprs;
    for (size_t i = 0; i < p->nexprs + p->nwheres; i++) {
        const winput *in = i < p->nexprs ? &p->exprs[i] : &p->wheres[i - p->nexprs];
        if (in->col >= 0) {
            ev[i] = row[in->col];
            continue;
        }
        int rc = tess__expr_eval(in->expr, row, arena, &ev[i]);
        if (rc) return rc;
    }
    for (size_t s = 0; s < p->nspecs; s++) {
        const wspec *sp = &p->specs[s];
        if (sp->where >= 0) {
            const tess__value *w = &wv[sp->where];
            if (w->null || w->type != TESS_T_BOOL || !w->u.b) continue;
        }
        int rc = tess__agg_add(sp->kind, &states[s], sp->expr >= 0 ? &ev[sp->expr] : NULL, &key,
                               arena);
        if (rc) return rc;
    }
    return TESS_OK;
}

int tess__wplan_eval_at(const tess__wplan *p, int64_t t, const int64_t *starts,
                        const tess__agg_state *states, size_t ntiles,
                        const tess__agg_state *head, tess__arena *arena, tess__value *out)
{
    int64_t h = p->hop;
    if (t < -TS_LIMIT || t > TS_LIMIT) return TESS_EINVAL;
    for (size_t i = 0; i < ntiles; i++)
        if (tess__floor_to(starts[i], h) != starts[i] || (i && starts[i] <= starts[i - 1]))
            return TESS_EINVAL;
    int64_t bs = tess__floor_to(t, h);
    size_t nb = 0;
    while (nb < ntiles && starts[nb] < bs) nb++;
    size_t ns = p->nspecs;
    if (!head && nb < ntiles && starts[nb] == bs) head = &states[nb * ns];
    for (size_t f = 0; f < p->nfeats; f++) {
        const wfeat *ft = &p->feats[f];
        tess__agg_kind k = p->specs[ft->spec].kind;
        int64_t ws = tess__wplan_win_start(t, ft->window, h);
        size_t na = 0;
        while (na < nb && starts[na] < ws) na++;
        tess__agg_state acc;
        tess__agg_init(k, &acc);
        int rc;
        for (size_t i = na; i < nb; i++)
            if ((rc = tess__agg_merge(k, &acc, &states[i * ns + ft->spec], arena))) return rc;
        if (head && (rc = tess__agg_merge(k, &acc, &head[ft->spec], arena))) return rc;
        if ((rc = tess__agg_finalize(k, &acc, arena, &out[f]))) return rc;
    }
    return TESS_OK;
}

int tess__wplan_eval_encoded(const tess__wplan *p, int64_t t, const tess__wtile_enc *tiles,
                             size_t ntiles, const tess__agg_state *head, tess__arena *arena,
                             tess__value *out)
{
    size_t ns = p->nspecs;
    int64_t bs = tess__floor_to(t, p->hop);
    /* only the tiles a window can reach: from the earliest window's start (a record read long
       after its write decodes none of the tiles every window has left) up to floor(t, h) */
    if (t < -TS_LIMIT || t > TS_LIMIT) return TESS_EINVAL;
    int64_t from = tess__wplan_first_start(p, t);
    size_t skip = 0;
    while (skip < ntiles && tiles[skip].start < from) skip++;
    if (skip) { /* (tiles may be NULL when there are none: NULL + 0 is undefined) */
        tiles += skip;
        ntiles -= skip;
    }
    size_t nuse = 0;
    while (nuse < ntiles && tiles[nuse].start <= bs) nuse++;
    int64_t *starts = tess__arena_alloc(arena, (nuse ? nuse : 1) * sizeof(int64_t));
    tess__agg_state *st = tess__arena_alloc(arena, (nuse * ns + 1) * sizeof(*st));
    if (!starts || !st) return TESS_ENOMEM;
    for (size_t i = 0; i < nuse; i++) {
        starts[i] = tiles[i].start;
        for (size_t s = 0; s < ns; s++) {
            const tess__str *e = &tiles[i].states[s];
            int rc = tess__agg_decode(p->specs[s].kind, e->p, e->n, &st[i * ns + s], arena);
            if (rc) return rc;
        }
    }
    return tess__wplan_eval_at(p, t, starts, st, nuse, head, arena, out);
}
