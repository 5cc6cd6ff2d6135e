/* stats.c — per-feature statistics of a view over the offline store (stats.h). One full scan
 * of the view's layout; aggregates are evaluated at every event's time by the window engine.
 *
 * Column at a time. Values are summarised a column of one feature at a time (a batch of
 * row-level values from the expression evaluator; the aggregates of a batch's entities, which
 * the window engine writes into columns), with the bulk adds of agg.h: no tess__value and no
 * dispatch per value. The mean and the standard deviation share one moments state (see
 * add_column). The reservoir sees each feature's values in scan order, as it always did, so
 * the sample, hence the percentiles, are the same. */
#include "offline/stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "core/time.h"
#include "offline/agg.h"
#include "offline/segment.h"
#include "offline/window.h"
#include "offline/writer.h"
#include "tessera.h"

#define SAMPLE 16384

typedef struct fstat {
    const tess__feature *f;
    uint64_t count, nulls;
    tess__agg_state mean, sd, mn, mx, distinct;
    tess__agg_kind kmean, ksd, kmin, kmax, kdist;
    bool numeric, ordered;
    bool mean_shared; /* the mean is finalized from `sd` (add_column says when it may be) */
    double *sample; /* numbers and timestamps (as doubles of microseconds) */
    size_t nsample;
    uint64_t seen;  /* values offered to the reservoir */
    uint64_t rng;
} fstat;

static uint64_t next_rand(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* float64: the first non-null value in [0, n) of magnitude >= 2^80, n if none */
static size_t first_big(const tess__col *c, size_t n)
{
    const uint64_t *x = c->data;
    const uint8_t *nu = c->nulls;
    for (size_t i = 0; i < n; i++) /* nulls first: their data may be uninitialised */
        if (!(nu && nu[i]) && ((x[i] >> 52) & 0x7FF) >= 1023 + 80 &&
            ((x[i] >> 52) & 0x7FF) != 0x7FF)
            return i;
    return n;
}

/*
 * Adds values [0, n) of a column of the feature's type.
 *
 * Mean and standard deviation: both finalize the same exact fixed-point sums (agg.c), so one
 * stddev state serves both as long as it holds no outlier (|x| >= 2^80 puts a row in its
 * order-dependent double-double, where a mean state would still be exact up to 2^96). Until
 * the first such value the two states would be equal in everything the mean reads, so the
 * stddev state alone is kept; at that value it is copied into the mean state and both are
 * kept from then on. The values are the same as with two states from the start.
 */
static int add_column(fstat *s, const tess__col *c, size_t n, tess__arena *arena)
{
    int rc;
    size_t nn = 0;
    if (c->nulls)
        for (size_t i = 0; i < n; i++) nn += c->nulls[i] != 0;
    s->nulls += nn;
    s->count += n - nn;
    if (nn == n) return TESS_OK;
    if (s->numeric) {
        size_t cut = 0; /* the mean state takes rows [cut, n) */
        if (s->mean_shared) {
            cut = c->type == TESS_T_FLOAT64 ? first_big(c, n) : n;
            if ((rc = tess__agg_add_rows(s->ksd, &s->sd, c, NULL, 0, cut, NULL, arena)))
                return rc;
            if (cut < n) {
                s->mean = s->sd; /* moments: a plain struct (agg.h) */
                s->mean_shared = false;
            }
        }
        if (cut < n && ((rc = tess__agg_add_rows(s->ksd, &s->sd, c, NULL, cut, n, NULL, arena)) ||
                        (rc = tess__agg_add_rows(s->kmean, &s->mean, c, NULL, cut, n, NULL,
                                                 arena))))
            return rc;
    }
    if (s->ordered && ((rc = tess__agg_add_rows(s->kmin, &s->mn, c, NULL, 0, n, NULL, arena)) ||
                       (rc = tess__agg_add_rows(s->kmax, &s->mx, c, NULL, 0, n, NULL, arena))))
        return rc;
    if ((rc = tess__agg_add_rows(s->kdist, &s->distinct, c, NULL, 0, n, NULL, arena))) return rc;
    if (s->numeric || c->type == TESS_T_TIMESTAMP) {
        /* the reservoir: the first SAMPLE values, then value number `seen` replaces a random
         * slot with probability SAMPLE / seen */
        const uint8_t *nu = c->nulls;
        const double *fx = c->type == TESS_T_FLOAT64 ? c->data : NULL;
        const int64_t *ix = c->data;
        for (size_t i = 0; i < n; i++) {
            if (nu && nu[i]) continue;
            double x = fx ? fx[i] : (double)ix[i];
            if (isnan(x)) continue;
            s->seen++;
            if (s->nsample < SAMPLE) {
                s->sample[s->nsample++] = x;
            } else {
                uint64_t r = next_rand(&s->rng) % s->seen;
                if (r < SAMPLE) s->sample[r] = x;
            }
        }
    }
    return TESS_OK;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static json_t *value_json(const tess__value *v)
{
    if (v->null) return json_null();
    switch (v->type) {
    case TESS_T_INT64: return json_integer(v->u.i);
    case TESS_T_FLOAT64: return isfinite(v->u.f) ? json_real(v->u.f) : json_null();
    case TESS_T_BOOL: return json_boolean(v->u.b);
    case TESS_T_STRING: return json_stringn(v->u.s.p, v->u.s.n);
    case TESS_T_TIMESTAMP: {
        char buf[TESS_TS_FORMAT_MAX];
        size_t n = tess__ts_format(v->u.i, buf);
        return json_stringn(buf, n);
    }
    default: return json_null();
    }
}

static json_t *pct_json(fstat *s, double q)
{
    if (s->nsample == 0) return json_null();
    size_t rank = (size_t)ceil(q * (double)s->nsample);
    if (rank < 1) rank = 1;
    double x = s->sample[rank - 1];
    tess__value v;
    switch (s->f->type) {
    case TESS_T_TIMESTAMP: v = tess__v_ts((int64_t)x); break;
    case TESS_T_INT64: v = tess__v_int((int64_t)x); break;
    default: v = tess__v_float(x); break;
    }
    return value_json(&v);
}

static json_t *feature_json(fstat *s, tess__arena *arena)
{
    tess__value mean = tess__null(TESS_T_FLOAT64), sd = tess__null(TESS_T_FLOAT64);
    tess__value mn = tess__null(s->f->type), mx = tess__null(s->f->type);
    tess__value dist = tess__null(TESS_T_INT64);
    if (s->numeric) {
        tess__agg_finalize(s->kmean, s->mean_shared ? &s->sd : &s->mean, arena, &mean);
        tess__agg_finalize(s->ksd, &s->sd, arena, &sd);
    }
    if (s->ordered) {
        tess__agg_finalize(s->kmin, &s->mn, arena, &mn);
        tess__agg_finalize(s->kmax, &s->mx, arena, &mx);
    }
    tess__agg_finalize(s->kdist, &s->distinct, arena, &dist);
    if (dist.null) dist = tess__v_int(0);
    qsort(s->sample, s->nsample, sizeof(double), cmp_double);
    return json_pack("{s:s, s:s, s:I, s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "name",
                     s->f->name, "type", tess__type_name(s->f->type), "count",
                     (json_int_t)s->count, "nulls", (json_int_t)s->nulls, "mean",
                     value_json(&mean), "stddev", value_json(&sd), "min", value_json(&mn), "max",
                     value_json(&mx), "p50", pct_json(s, 0.5), "p90", pct_json(s, 0.9), "p99",
                     pct_json(s, 0.99), "distinct", value_json(&dist));
}

int tess__view_stats(const tess__view *v, tess__evstore *es, json_t **out, tess__err *err)
{
    size_t nf = v->nfeatures;
    fstat *fs = tess__calloc(nf, sizeof(*fs));
    tess__arena arena = TESS__ARENA_INIT, scratch = TESS__ARENA_INIT, rowarena = TESS__ARENA_INIT;
    tess__wplan *wp = NULL;
    tess__weval *ev = NULL;
    tess__evscan *scan = NULL;
    tess__col *rowvals = tess__calloc(nf, sizeof(*rowvals));
    tess__col *aggcols = NULL, *aggsub = NULL; /* per aggregate: a batch's values; one entity's */
    size_t cap = 0, nagg = 0; /* rows the column buffers hold */
    long *aggidx = NULL;
    json_t *feats = NULL;
    uint64_t rows = 0;
    int rc = TESS_OK;
    *out = NULL;
    if (!fs || !rowvals) goto nomem;
    for (size_t i = 0; i < nf; i++) {
        fstat *s = &fs[i];
        tess__type t = v->features[i].type;
        s->f = &v->features[i];
        s->numeric = tess__type_is_numeric(t);
        s->ordered = s->numeric || t == TESS_T_STRING || t == TESS_T_TIMESTAMP;
        s->kmean = (tess__agg_kind){TESS_AGG_MEAN, t};
        s->ksd = (tess__agg_kind){TESS_AGG_STDDEV_SAMP, t};
        s->kmin = (tess__agg_kind){TESS_AGG_MIN, t};
        s->kmax = (tess__agg_kind){TESS_AGG_MAX, t};
        s->kdist = (tess__agg_kind){TESS_AGG_COUNT_DISTINCT_APPROX, t};
        tess__agg_init(s->kmean, &s->mean);
        tess__agg_init(s->ksd, &s->sd);
        tess__agg_init(s->kmin, &s->mn);
        tess__agg_init(s->kmax, &s->mx);
        tess__agg_init(s->kdist, &s->distinct);
        s->mean_shared = true;
        s->rng = 0x5EED + i;
        if (!(s->sample = tess__malloc(SAMPLE * sizeof(double)))) goto nomem;
    }
    if (v->has_aggregates) {
        if ((rc = tess__wplan_new(v, &wp))) {
            if (rc == TESS_ENOMEM) goto nomem;
            rc = tess__err_set(err, rc, "feature view \"%s\": cannot plan its window features",
                               v->name);
            goto out;
        }
        if (tess__weval_new(wp, &ev)) goto nomem;
        nagg = tess__wplan_nfeatures(wp);
        aggidx = tess__calloc(nagg ? nagg : 1, sizeof(*aggidx));
        aggcols = tess__calloc(nagg ? nagg : 1, sizeof(*aggcols));
        aggsub = tess__calloc(nagg ? nagg : 1, sizeof(*aggsub));
        if (!aggidx || !aggcols || !aggsub) goto nomem;
        for (size_t k = 0; k < nagg; k++) {
            size_t spec;
            aggidx[k] = (long)tess__wplan_feature(wp, k, &spec, NULL)->index;
            aggcols[k].type = tess__agg_result_type(tess__wplan_spec_kind(wp, spec));
        }
    }
    if ((rc = tess__evscan_open(es, v->source, v->join_cols, v->njoin, NULL, 0, &scan, err)))
        goto out;
    tess__evorder ord = tess__evorder_of(v->source, v->join_cols, v->njoin);
    const tess__batch *b;
    while ((rc = tess__evscan_next(scan, &b, err)) == TESS_OK) {
        rows += b->nrows;
        tess__arena_reset(&rowarena);
        tess__arena_reset(&scratch);
        if (b->nrows > cap) { /* column buffers for a batch, reused */
            cap = b->nrows;
            for (size_t i = 0; i < nf + nagg; i++) {
                tess__col *c = i < nf ? &rowvals[i] : &aggcols[i - nf];
                if (i < nf && v->features[i].kind != TESS_FEATURE_ROW) continue;
                if (i < nf) c->type = v->features[i].type;
                tess__free(c->nulls);
                tess__free(c->data);
                c->nulls = tess__malloc(cap);
                c->data = tess__malloc(cap * tess__type_width(c->type));
                if (!c->nulls || !c->data) goto nomem;
            }
        }
        for (size_t i = 0; i < nf; i++) {
            const tess__feature *f = &v->features[i];
            if (f->kind != TESS_FEATURE_ROW) continue;
            if ((rc = tess__expr_eval_batch(f->expr, b->cols, b->nrows, &rowarena, &rowvals[i])))
                goto fail;
            if ((rc = add_column(&fs[i], &rowvals[i], b->nrows, &arena))) goto fail;
        }
        if (!wp) continue;
        /* every entity's aggregates as of each of its events (the query times are the rows'
         * own timestamps, ascending within an entity), into the batch's columns */
        const int64_t *ts = b->cols[v->source->ts_col].data;
        for (size_t lo = 0, hi; lo < b->nrows; lo = hi) {
            hi = lo + 1;
            while (hi < b->nrows && tess__ev_cmp_keys(&ord, b, lo, b, hi) == 0) hi++;
            for (size_t k = 0; k < nagg; k++) {
                aggsub[k].type = aggcols[k].type;
                aggsub[k].nulls = aggcols[k].nulls + lo;
                aggsub[k].data = (char *)aggcols[k].data + lo * tess__type_width(aggcols[k].type);
            }
            if ((rc = tess__weval_run_cols(ev, b, lo, hi, ts + lo, hi - lo, &scratch, aggsub)))
                goto fail;
        }
        for (size_t k = 0; k < nagg; k++)
            if ((rc = add_column(&fs[aggidx[k]], &aggcols[k], b->nrows, &arena))) goto fail;
    }
    if (rc != TESS_NOTFOUND) goto out;
    rc = TESS_OK;
    if (!(feats = json_array())) goto nomem;
    for (size_t i = 0; i < nf; i++)
        if (json_array_append_new(feats, feature_json(&fs[i], &scratch))) goto nomem;
    *out = json_pack("{s:s, s:I, s:O}", "view", v->name, "rows", (json_int_t)rows, "features",
                     feats);
    if (!*out) goto nomem;
    goto out;
nomem:
    rc = tess__err_set(err, TESS_ENOMEM, "out of memory");
    goto out;
fail:
    if (rc == TESS_ENOMEM) tess__err_set(err, TESS_ENOMEM, "out of memory");
out:
    json_decref(feats);
    tess__evscan_close(scan);
    tess__weval_free(ev);
    tess__wplan_free(wp);
    if (fs)
        for (size_t i = 0; i < nf; i++) tess__free(fs[i].sample);
    if (rowvals)
        for (size_t i = 0; i < nf; i++) {
            tess__free(rowvals[i].nulls);
            tess__free(rowvals[i].data);
        }
    if (aggcols)
        for (size_t k = 0; k < nagg; k++) {
            tess__free(aggcols[k].nulls);
            tess__free(aggcols[k].data);
        }
    tess__free(rowvals);
    tess__free(aggcols);
    tess__free(aggsub);
    tess__free(fs);
    tess__free(aggidx);
    tess__arena_release(&arena);
    tess__arena_release(&scratch);
    tess__arena_release(&rowarena);
    return rc;
}
