/* defs_model.c — lookups over a validated tess__defs, reference resolution, aggregation names,
 * and the "did you mean" helper the loader uses in its messages.
 *
 * Invariant relied on here: every top-level array of a tess__defs is sorted by name with
 * strcmp and holds unique names (the loader guarantees both), so lookups are binary searches.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/suggest.h"
#include "defs/defs_int.h"
#include "defs/defs_model.h"
#include "tessera.h"

static const char *const agg_names[TESS_AGG__COUNT] = {
    [TESS_AGG_NONE] = "",
    [TESS_AGG_COUNT] = "count",
    [TESS_AGG_SUM] = "sum",
    [TESS_AGG_MEAN] = "mean",
    [TESS_AGG_MIN] = "min",
    [TESS_AGG_MAX] = "max",
    [TESS_AGG_FIRST] = "first",
    [TESS_AGG_LAST] = "last",
    [TESS_AGG_STDDEV_SAMP] = "stddev_samp",
    [TESS_AGG_STDDEV_POP] = "stddev_pop",
    [TESS_AGG_VAR_SAMP] = "var_samp",
    [TESS_AGG_VAR_POP] = "var_pop",
    [TESS_AGG_COUNT_DISTINCT_APPROX] = "count_distinct_approx",
};

const char *tess__agg_name(tess__agg a)
{
    return (unsigned)a < TESS_AGG__COUNT ? agg_names[a] : "?";
}

int tess__agg_parse(const char *s, size_t n, tess__agg *out)
{
    for (int a = TESS_AGG_COUNT; a < TESS_AGG__COUNT; a++) {
        if (strlen(agg_names[a]) == n && memcmp(agg_names[a], s, n) == 0) {
            *out = (tess__agg)a;
            return TESS_OK;
        }
    }
    return TESS_NOTFOUND;
}

/* ---- lookups ---------------------------------------------------------------------------- */

/* Binary search in an array of pointers to structs whose first member is `const char *name`. */
static const void *find_named(const void *const *arr, size_t n, const char *name, size_t len)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const char *m = *(const char *const *)arr[mid];
        int c = strncmp(m, name, len);
        if (c == 0 && m[len] != '\0') c = 1;
        if (c == 0) return arr[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

#define FIND(arr, n, name) find_named((const void *const *)(arr), (n), (name), strlen(name))

const tess__entity *tess__defs_entity(const tess__defs *d, const char *name)
{
    return FIND(d->entities, d->nentities, name);
}
const tess__source *tess__defs_source(const tess__defs *d, const char *name)
{
    return FIND(d->sources, d->nsources, name);
}
const tess__view *tess__defs_view(const tess__defs *d, const char *name)
{
    return FIND(d->views, d->nviews, name);
}
const tess__odf *tess__defs_odf(const tess__defs *d, const char *name)
{
    return FIND(d->odfs, d->nodfs, name);
}
const tess__service *tess__defs_service(const tess__defs *d, const char *name)
{
    return FIND(d->services, d->nservices, name);
}

static const tess__feature *view_feature_n(const tess__view *v, const char *name, size_t n)
{
    for (size_t i = 0; i < v->nfeatures; i++) {
        const char *f = v->features[i].name;
        if (f && strlen(f) == n && memcmp(f, name, n) == 0) return &v->features[i];
    }
    return NULL;
}

const tess__feature *tess__view_feature(const tess__view *v, const char *name)
{
    return view_feature_n(v, name, strlen(name));
}

long tess__source_column(const tess__source *s, const char *name)
{
    for (size_t i = 0; i < s->nschema; i++)
        if (s->schema[i].name && strcmp(s->schema[i].name, name) == 0) return (long)i;
    return -1;
}

const tess__feature *tess__defs_feature_ref(const tess__defs *d, const char *ref, size_t n)
{
    const char *colon = memchr(ref, ':', n);
    if (!colon) return NULL;
    size_t vn = (size_t)(colon - ref);
    const tess__view *v = find_named((const void *const *)d->views, d->nviews, ref, vn);
    if (!v) return NULL;
    return view_feature_n(v, colon + 1, n - vn - 1);
}

/* ---- suggestions ------------------------------------------------------------------------ */

#define SUGGEST_MAX 64

void tess__suggest_init(tess__suggest *s, const char *w, size_t wn)
{
    s->w = w;
    s->wn = wn;
    s->best = NULL;
    s->best_d = 1 << 30;
}


void tess__suggest_add(tess__suggest *s, const char *cand)
{
    if (!cand) return;
    size_t cn = strlen(cand);
    if (s->wn == 0 || s->wn > SUGGEST_MAX || cn > SUGGEST_MAX) return;
    int d = tess__edit_distance(s->w, s->wn, cand, cn, SUGGEST_MAX, true);
    int limit = s->wn <= 3 ? 1 : s->wn <= 6 ? 2 : 3;
    if (d > limit || (size_t)d >= s->wn || (size_t)d >= cn) return;
    if (d < s->best_d) {
        s->best_d = d;
        s->best = cand;
    }
}

const char *tess__suggest_best(const tess__suggest *s)
{
    return s->best;
}

/* ---- references ------------------------------------------------------------------------- */

int tess__defs_ref_lookup(const tess__defs *d, const char *ref, size_t n, tess__ref_target *t,
                          tess__buf *why)
{
    tess__suggest sg;
    memset(t, 0, sizeof(*t));
    const char *colon = memchr(ref, ':', n);
    if (!colon) {
        const tess__odf *o = find_named((const void *const *)d->odfs, d->nodfs, ref, n);
        if (o) {
            t->odf = o;
            return TESS_OK;
        }
        if (find_named((const void *const *)d->views, d->nviews, ref, n)) {
            tess__buf_printf(why,
                             "\"%.*s\" is a feature view; name its features as \"%.*s:name\" "
                             "or all of them as \"%.*s:*\"",
                             (int)n, ref, (int)n, ref, (int)n, ref);
            return TESS_NOTFOUND;
        }
        tess__suggest_init(&sg, ref, n);
        for (size_t i = 0; i < d->nodfs; i++)
            tess__suggest_add(&sg, d->odfs[i]->name);
        tess__buf_printf(why,
                         "unknown on-demand feature \"%.*s\" (a view's feature is written "
                         "\"view:feature\")",
                         (int)n, ref);
        if (tess__suggest_best(&sg)) tess__buf_printf(why, "; did you mean \"%s\"?", sg.best);
        return TESS_NOTFOUND;
    }
    size_t vn = (size_t)(colon - ref);
    const char *fname = colon + 1;
    size_t fn = n - vn - 1;
    const tess__view *v = find_named((const void *const *)d->views, d->nviews, ref, vn);
    if (!v) {
        tess__suggest_init(&sg, ref, vn);
        for (size_t i = 0; i < d->nviews; i++)
            tess__suggest_add(&sg, d->views[i]->name);
        tess__buf_printf(why, "unknown feature view \"%.*s\" in \"%.*s\"", (int)vn, ref, (int)n,
                         ref);
        if (tess__suggest_best(&sg)) tess__buf_printf(why, "; did you mean \"%s\"?", sg.best);
        return TESS_NOTFOUND;
    }
    t->view = v;
    if (fn == 1 && fname[0] == '*') return TESS_OK;
    t->feature = view_feature_n(v, fname, fn);
    if (t->feature) return TESS_OK;
    tess__suggest_init(&sg, fname, fn);
    for (size_t i = 0; i < v->nfeatures; i++)
        tess__suggest_add(&sg, v->features[i].name);
    tess__buf_printf(why, "feature view \"%s\" has no feature \"%.*s\"", v->name, (int)fn, fname);
    if (tess__suggest_best(&sg)) tess__buf_printf(why, "; did you mean \"%s\"?", sg.best);
    return TESS_NOTFOUND;
}

/* Orders item indices by target pointer, then by position (to keep the first of equals). */
typedef struct item_key {
    const void *p;
    size_t i;
} item_key;

static int item_key_cmp(const void *a, const void *b)
{
    const item_key *x = a, *y = b;
    if (x->p != y->p) return (const char *)x->p < (const char *)y->p ? -1 : 1;
    return (x->i > y->i) - (x->i < y->i);
}

size_t tess__defs_dedupe_items(tess__service_item *items, size_t n)
{
    if (n < 2) return n;
    item_key *k = tess__malloc(n * sizeof(*k));
    unsigned char *drop = tess__calloc(n, 1);
    size_t out = (size_t)-1;
    if (!k || !drop) goto done;
    for (size_t i = 0; i < n; i++) {
        k[i].p = items[i].feature ? (const void *)items[i].feature : (const void *)items[i].odf;
        k[i].i = i;
    }
    qsort(k, n, sizeof(*k), item_key_cmp);
    for (size_t i = 1; i < n; i++)
        if (k[i].p == k[i - 1].p) drop[k[i].i] = 1;
    out = 0;
    for (size_t i = 0; i < n; i++)
        if (!drop[i]) items[out++] = items[i];
done:
    tess__free(k);
    tess__free(drop);
    return out;
}

int tess__defs_resolve(const tess__defs *d, const char *const *refs, size_t nrefs,
                       tess__service_item **items, size_t *nitems, tess__err *err)
{
    tess__buf why = TESS__BUF_INIT;
    tess__service_item *v = NULL;
    size_t n = 0, cap = 0;
    int rc = TESS_OK;
    *items = NULL;
    *nitems = 0;
    for (size_t r = 0; r < nrefs; r++) {
        tess__ref_target t;
        if (tess__defs_ref_lookup(d, refs[r], strlen(refs[r]), &t, &why) != TESS_OK) {
            rc = tess__err_set(err, TESS_NOTFOUND, "%s", why.p ? why.p : refs[r]);
            goto out;
        }
        size_t add = t.view && !t.feature ? t.view->nfeatures : 1;
        if (n + add > cap) {
            size_t nc = cap ? cap * 2 : 16;
            while (nc < n + add)
                nc *= 2;
            tess__service_item *nv = tess__realloc(v, nc * sizeof(*nv));
            if (!nv) {
                rc = tess__err_set(err, TESS_ENOMEM, "out of memory");
                goto out;
            }
            v = nv;
            cap = nc;
        }
        if (t.odf) {
            v[n].feature = NULL;
            v[n++].odf = t.odf;
        } else if (t.feature) {
            v[n].feature = t.feature;
            v[n++].odf = NULL;
        } else {
            for (size_t i = 0; i < t.view->nfeatures; i++) {
                v[n].feature = &t.view->features[i];
                v[n++].odf = NULL;
            }
        }
    }
    n = tess__defs_dedupe_items(v, n);
    if (n == (size_t)-1) {
        rc = tess__err_set(err, TESS_ENOMEM, "out of memory");
        goto out;
    }
    *items = v;
    *nitems = n;
    v = NULL;
out:
    tess__free(v);
    tess__buf_release(&why);
    return rc;
}
