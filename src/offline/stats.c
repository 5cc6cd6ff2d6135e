/* stats.c — per-feature statistics of a view over the offline store (stats.h). One full scan
 * of the view's layout; aggregates are evaluated at every event's time by the window engine. */
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

static int add_value(fstat *s, const tess__value *v, tess__arena *arena)
{
    int rc;
    if (v->null) {
        s->nulls++;
        return TESS_OK;
    }
    s->count++;
    if (s->numeric && ((rc = tess__agg_add(s->kmean, &s->mean, v, NULL, arena)) ||
                       (rc = tess__agg_add(s->ksd, &s->sd, v, NULL, arena))))
        return rc;
    if (s->ordered && ((rc = tess__agg_add(s->kmin, &s->mn, v, NULL, arena)) ||
                       (rc = tess__agg_add(s->kmax, &s->mx, v, NULL, arena))))
        return rc;
    if ((rc = tess__agg_add(s->kdist, &s->distinct, v, NULL, arena))) return rc;
    if (s->numeric || v->type == TESS_T_TIMESTAMP) {
        double x = v->type == TESS_T_FLOAT64 ? v->u.f : (double)v->u.i;
        if (isnan(x)) return TESS_OK;
        s->seen++;
        if (s->nsample < SAMPLE) {
            s->sample[s->nsample++] = x;
        } else {
            uint64_t r = next_rand(&s->rng) % s->seen;
            if (r < SAMPLE) s->sample[r] = x;
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
        tess__agg_finalize(s->kmean, &s->mean, arena, &mean);
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
    int64_t *times = NULL;
    tess__value *aggout = NULL;
    size_t cap = 0, nagg = 0;
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
        if (!(aggidx = tess__calloc(nagg ? nagg : 1, sizeof(*aggidx)))) goto nomem;
        for (size_t k = 0; k < nagg; k++)
            aggidx[k] = (long)tess__wplan_feature(wp, k, NULL, NULL)->index;
    }
    if ((rc = tess__evscan_open(es, v->source, v->join_cols, v->njoin, NULL, 0, &scan, err)))
        goto out;
    tess__evorder ord = tess__evorder_of(v->source, v->join_cols, v->njoin);
    const tess__batch *b;
    while ((rc = tess__evscan_next(scan, &b, err)) == TESS_OK) {
        rows += b->nrows;
        tess__arena_reset(&rowarena);
        for (size_t i = 0; i < nf; i++) {
            const tess__feature *f = &v->features[i];
            if (f->kind != TESS_FEATURE_ROW) continue;
            tess__free(rowvals[i].nulls);
            tess__free(rowvals[i].data);
            rowvals[i].type = f->type;
            rowvals[i].nulls = tess__calloc(b->nrows, 1);
            rowvals[i].data = tess__calloc(b->nrows, tess__type_width(f->type));
            if (!rowvals[i].nulls || !rowvals[i].data) goto nomem;
            if ((rc = tess__expr_eval_batch(f->expr, b->cols, b->nrows, &rowarena, &rowvals[i])))
                goto fail;
            for (size_t r = 0; r < b->nrows; r++) {
                tess__value val;
                val.type = f->type;
                val.null = rowvals[i].nulls[r];
                switch (f->type) {
                case TESS_T_BOOL: val.u.b = ((uint8_t *)rowvals[i].data)[r]; break;
                case TESS_T_FLOAT64: val.u.f = ((double *)rowvals[i].data)[r]; break;
                case TESS_T_STRING: val.u.s = ((tess__str *)rowvals[i].data)[r]; break;
                default: val.u.i = ((int64_t *)rowvals[i].data)[r]; break;
                }
                if ((rc = add_value(&fs[i], &val, &arena))) goto fail;
            }
        }
        if (!wp) continue;
        const int64_t *ts = b->cols[v->source->ts_col].data;
        for (size_t lo = 0, hi; lo < b->nrows; lo = hi) {
            hi = lo + 1;
            while (hi < b->nrows && tess__ev_cmp_keys(&ord, b, lo, b, hi) == 0) hi++;
            size_t m = hi - lo;
            if (m > cap) {
                cap = m * 2;
                tess__free(times);
                tess__free(aggout);
                times = tess__malloc(cap * sizeof(*times));
                aggout = tess__malloc(cap * (nagg ? nagg : 1) * sizeof(*aggout));
                if (!times || !aggout) goto nomem;
            }
            for (size_t r = 0; r < m; r++) times[r] = ts[lo + r];
            tess__arena_reset(&scratch);
            if ((rc = tess__weval_run(ev, b, lo, hi, times, m, &scratch, aggout))) goto fail;
            for (size_t r = 0; r < m; r++)
                for (size_t k = 0; k < nagg; k++)
                    if ((rc = add_value(&fs[aggidx[k]], &aggout[r * nagg + k], &arena))) goto fail;
        }
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
    tess__free(rowvals);
    tess__free(fs);
    tess__free(times);
    tess__free(aggout);
    tess__free(aggidx);
    tess__arena_release(&arena);
    tess__arena_release(&scratch);
    tess__arena_release(&rowarena);
    return rc;
}
