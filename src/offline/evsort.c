/* evsort.c — sorting a run's rows into the event order (segment.h) before they are written.
 *
 * The usual case is fast: each key column is mapped to an order-preserving unsigned integer
 * (int64 and timestamp with the sign bit flipped, bool 0/1, float64 by its sign transform,
 * string by its rank among the run's distinct strings), offset by its minimum; when the key
 * widths add up to 64 bits or less, the keys are packed into one word and sorted, along with
 * each row's event timestamp, by a stable LSD radix sort (11-bit digits, passes over constant
 * digits skipped). Then each entity's rows are checked for timestamp order (files are mostly
 * written in time order) and merge-sorted by it if needed, and rows with equal keys and
 * timestamps are checked for (created ts, seq) order the same way. All of this reads the
 * records sequentially; only the last step, rare, reads the rows.
 * Keys wider than 64 bits fall back to a merge sort with the full comparison.
 * All memory comes from the allocation wrapper; a failure is TESS_ENOMEM.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <xxhash.h>

#include "core/alloc.h"
#include "offline/evstore_int.h"
#include "tessera.h"

typedef struct sctx {
    const tess__run *r;
    const tess__evorder *o;
    const tess__str *dict; /* string sorting: the distinct strings */
} sctx;

typedef int (*cmp_fn)(const sctx *s, uint32_t a, uint32_t b);

static inline int cmp_i64(int64_t a, int64_t b)
{
    return (a > b) - (a < b);
}

static inline uint64_t f64_ord(double d)
{
    if (isnan(d)) return UINT64_MAX;
    if (d == 0) d = 0.0;
    uint64_t u;
    memcpy(&u, &d, 8);
    return (u >> 63) ? ~u : (u | (1ULL << 63));
}

static int cmp_str(tess__str x, tess__str y)
{
    size_t n = x.n < y.n ? x.n : y.n;
    int c = n ? memcmp(x.p, y.p, n) : 0;
    if (c) return c < 0 ? -1 : 1;
    return (x.n > y.n) - (x.n < y.n);
}

/* One column of two rows, nulls first. */
static int cmp_col(const tess__run *r, uint32_t a, uint32_t b, size_t c)
{
    bool na = tess__run_null(r, a, c), nb = tess__run_null(r, b, c);
    if (na || nb) return na == nb ? 0 : (na ? -1 : 1);
    switch (r->types[c]) {
    case TESS_T_STRING: return cmp_str(tess__run_str(r, a, c), tess__run_str(r, b, c));
    case TESS_T_FLOAT64: {
        double x, y;
        int64_t ix = tess__run_i64(r, a, c), iy = tess__run_i64(r, b, c);
        memcpy(&x, &ix, 8);
        memcpy(&y, &iy, 8);
        uint64_t ox = f64_ord(x), oy = f64_ord(y);
        return (ox > oy) - (ox < oy);
    }
    default: return cmp_i64(tess__run_i64(r, a, c), tess__run_i64(r, b, c));
    }
}

/* (event ts, created ts, seq). */
static int tail_cmp(const sctx *s, uint32_t a, uint32_t b)
{
    int c = cmp_col(s->r, a, b, s->o->ts_col);
    if (c) return c;
    if (s->o->created_col >= 0 && (c = cmp_col(s->r, a, b, (size_t)s->o->created_col))) return c;
    return cmp_i64(tess__run_seq(s->r, a), tess__run_seq(s->r, b));
}

static int full_cmp(const sctx *s, uint32_t a, uint32_t b)
{
    for (size_t k = 0; k < s->o->nkeys; k++) {
        int c = cmp_col(s->r, a, b, s->o->keys[k]);
        if (c) return c;
    }
    return tail_cmp(s, a, b);
}

static int dict_cmp(const sctx *s, uint32_t a, uint32_t b)
{
    return cmp_str(s->dict[a], s->dict[b]);
}

/* Stable merge sort of a[0..n) (tmp: n elements of scratch). Already ordered halves are not
 * merged, so sorted input costs n comparisons. */
static void msort(uint32_t *a, uint32_t *tmp, size_t n, cmp_fn cmp, const sctx *s)
{
    if (n <= 16) {
        for (size_t i = 1; i < n; i++) {
            uint32_t v = a[i];
            size_t j = i;
            while (j > 0 && cmp(s, a[j - 1], v) > 0) {
                a[j] = a[j - 1];
                j--;
            }
            a[j] = v;
        }
        return;
    }
    size_t mid = n / 2;
    msort(a, tmp, mid, cmp, s);
    msort(a + mid, tmp, n - mid, cmp, s);
    if (cmp(s, a[mid - 1], a[mid]) <= 0) return;
    memcpy(tmp, a, mid * sizeof(uint32_t));
    size_t i = 0, j = mid, k = 0;
    while (i < mid && j < n) a[k++] = cmp(s, a[j], tmp[i]) < 0 ? a[j++] : tmp[i++];
    while (i < mid) a[k++] = tmp[i++];
}

typedef struct rec {
    uint64_t key; /* the packed key columns */
    uint64_t ts;  /* the event timestamp, sign bit flipped; 0 for null */
    uint32_t ref; /* the row */
} rec;

/* Stable merge sort of recs by ts (tmp: n elements of scratch). */
static void rec_msort(rec *a, rec *tmp, size_t n)
{
    if (n <= 16) {
        for (size_t i = 1; i < n; i++) {
            rec v = a[i];
            size_t j = i;
            while (j > 0 && a[j - 1].ts > v.ts) {
                a[j] = a[j - 1];
                j--;
            }
            a[j] = v;
        }
        return;
    }
    size_t mid = n / 2;
    rec_msort(a, tmp, mid);
    rec_msort(a + mid, tmp, n - mid);
    if (a[mid - 1].ts <= a[mid].ts) return;
    memcpy(tmp, a, mid * sizeof(rec));
    size_t i = 0, j = mid, k = 0;
    while (i < mid && j < n) a[k++] = a[j].ts < tmp[i].ts ? a[j++] : tmp[i++];
    while (i < mid) a[k++] = tmp[i++];
}

static unsigned bitlen(uint64_t v)
{
    return v ? 64u - (unsigned)__builtin_clzll(v) : 0u;
}

/* Ranks of the strings of column c over the rows: rank[i] for idx[i]; *maxrank set. */
static int string_ranks(const tess__run *r, const uint32_t *idx, size_t n, size_t c,
                        uint64_t *rank, uint64_t *maxrank)
{
    int rc = TESS_ENOMEM;
    size_t cap = 16;
    while (cap < 2 * n) cap *= 2;
    uint32_t *slots = tess__calloc(cap, sizeof(uint32_t)); /* distinct id + 1, 0 = empty */
    tess__str *dict = tess__malloc(n * sizeof(tess__str));
    uint64_t *dhash = tess__malloc(n * sizeof(uint64_t));
    uint32_t *ids = tess__malloc(n * sizeof(uint32_t));
    uint32_t *order = NULL, *tmp = NULL;
    uint64_t *rank_of = NULL;
    if (!slots || !dict || !dhash || !ids) goto out;
    size_t nd = 0;
    for (size_t i = 0; i < n; i++) {
        tess__str v = tess__run_str(r, idx[i], c);
        uint64_t h = XXH3_64bits(v.p, v.n);
        size_t sl = (size_t)h & (cap - 1);
        for (;;) {
            uint32_t id = slots[sl];
            if (!id) {
                dict[nd] = v;
                dhash[nd] = h;
                slots[sl] = (uint32_t)++nd;
                ids[i] = (uint32_t)(nd - 1);
                break;
            }
            const tess__str *d = &dict[id - 1];
            if (dhash[id - 1] == h && d->n == v.n && (!v.n || memcmp(d->p, v.p, v.n) == 0)) {
                ids[i] = id - 1;
                break;
            }
            sl = (sl + 1) & (cap - 1);
        }
    }
    order = tess__malloc((nd ? nd : 1) * sizeof(uint32_t));
    tmp = tess__malloc((nd ? nd : 1) * sizeof(uint32_t));
    rank_of = tess__malloc((nd ? nd : 1) * sizeof(uint64_t));
    if (!order || !tmp || !rank_of) goto out;
    for (size_t i = 0; i < nd; i++) order[i] = (uint32_t)i;
    sctx s = {NULL, NULL, dict};
    msort(order, tmp, nd, dict_cmp, &s);
    for (size_t i = 0; i < nd; i++) rank_of[order[i]] = i;
    for (size_t i = 0; i < n; i++) rank[i] = rank_of[ids[i]];
    *maxrank = nd ? nd - 1 : 0;
    rc = TESS_OK;
out:
    tess__free(slots);
    tess__free(dict);
    tess__free(dhash);
    tess__free(ids);
    tess__free(order);
    tess__free(tmp);
    tess__free(rank_of);
    return rc;
}

/* Packs the keys of the rows into recs[i].key and their event timestamps into recs[i].ts;
 * *fits is false if the keys need more than 64 bits. word: n elements of scratch. */
static int pack_keys(const tess__run *r, const uint32_t *idx, size_t n, const tess__evorder *o,
                     rec *recs, uint64_t *word, bool *fits, unsigned *bits_out)
{
    unsigned total = 0;
    *fits = true;
    size_t tc = o->ts_col;
    for (size_t i = 0; i < n; i++) {
        recs[i].key = 0;
        recs[i].ref = idx[i];
        /* a null and INT64_MIN compare equal here; the tail comparison of equal words tells
         * them apart */
        recs[i].ts = tess__run_null(r, idx[i], tc)
                         ? 0
                         : (uint64_t)tess__run_i64(r, idx[i], tc) ^ (1ULL << 63);
    }
    for (size_t k = 0; k < o->nkeys; k++) {
        size_t c = o->keys[k];
        tess__type t = r->types[c];
        uint64_t mn = UINT64_MAX, mx = 0;
        if (t == TESS_T_STRING) {
            if (string_ranks(r, idx, n, c, word, &mx)) return TESS_ENOMEM;
            mn = 0;
        } else {
            for (size_t i = 0; i < n; i++) {
                int64_t v = tess__run_i64(r, idx[i], c);
                uint64_t w;
                if (t == TESS_T_BOOL) w = v ? 1 : 0;
                else if (t == TESS_T_FLOAT64) {
                    double d;
                    memcpy(&d, &v, 8);
                    w = f64_ord(d);
                } else
                    w = (uint64_t)v ^ (1ULL << 63);
                word[i] = w;
                if (w < mn) mn = w;
                if (w > mx) mx = w;
            }
        }
        if (n == 0) mn = mx = 0;
        unsigned b = bitlen(mx - mn);
        if (total + b > 64) {
            *fits = false;
            return TESS_OK;
        }
        total += b;
        if (b == 0) continue;
        for (size_t i = 0; i < n; i++)
            recs[i].key = (b == 64 ? 0 : recs[i].key << b) | (word[i] - mn);
    }
    *bits_out = total;
    return TESS_OK;
}

#define DIGIT 11
#define NBUCKET (1u << DIGIT)

/* Stable LSD radix sort of a by the low `bits` bits of key; *sorted is a or tmp. */
static int radix(rec *a, rec *tmp, size_t n, unsigned bits, rec **sorted)
{
    unsigned passes = (bits + DIGIT - 1) / DIGIT;
    size_t *hist = tess__calloc((size_t)(passes ? passes : 1) * NBUCKET, sizeof(size_t));
    if (!hist) return TESS_ENOMEM;
    for (size_t i = 0; i < n; i++)
        for (unsigned p = 0; p < passes; p++)
            hist[p * NBUCKET + ((a[i].key >> (p * DIGIT)) & (NBUCKET - 1))]++;
    rec *src = a, *dst = tmp;
    for (unsigned p = 0; p < passes; p++) {
        size_t *h = hist + p * NBUCKET;
        bool trivial = false;
        for (size_t b = 0; b < NBUCKET && !trivial; b++) trivial = h[b] == n;
        if (trivial) continue;
        size_t sum = 0;
        for (size_t b = 0; b < NBUCKET; b++) {
            size_t c = h[b];
            h[b] = sum;
            sum += c;
        }
        unsigned shift = p * DIGIT;
        for (size_t i = 0; i < n; i++) dst[h[(src[i].key >> shift) & (NBUCKET - 1)]++] = src[i];
        rec *t = src;
        src = dst;
        dst = t;
    }
    tess__free(hist);
    *sorted = src;
    return TESS_OK;
}

/* The workspace: records, their copy, and scratch, 60 bytes a row, in one allocation kept from
 * one sort to the next and advised for huge pages (see evrun.c). */
struct tess__evsort_ws {
    char *raw;
    size_t cap; /* rows */
    rec *recs, *recs2;
    uint32_t *tmp;
    uint64_t *word;
};

tess__evsort_ws *tess__evsort_ws_new(void)
{
    return tess__calloc(1, sizeof(tess__evsort_ws));
}

void tess__evsort_ws_free(tess__evsort_ws *ws)
{
    if (!ws) return;
    tess__free(ws->raw);
    tess__free(ws);
}

static int ws_reserve(tess__evsort_ws *ws, size_t n)
{
    if (n <= ws->cap) return TESS_OK;
    size_t bytes = n * (2 * sizeof(rec) + sizeof(uint32_t) + sizeof(uint64_t));
    char *raw, *p = tess__big_alloc(bytes, &raw);
    if (!p) return TESS_ENOMEM;
    tess__free(ws->raw);
    ws->raw = raw;
    ws->recs = (rec *)(void *)p;
    ws->recs2 = ws->recs + n;
    ws->word = (uint64_t *)(void *)(ws->recs2 + n);
    ws->tmp = (uint32_t *)(void *)(ws->word + n);
    ws->cap = n;
    return TESS_OK;
}

int tess__evsort(const tess__run *r, uint32_t *idx, size_t n, const tess__evorder *o,
                 tess__evsort_ws *ws)
{
    if (n < 2) return TESS_OK;
    int rc = TESS_ENOMEM;
    sctx s = {r, o, NULL};
    tess__evsort_ws *own = NULL;
    if (!ws && !(ws = own = tess__evsort_ws_new())) return TESS_ENOMEM;
    if (ws_reserve(ws, n)) goto out;
    bool fits;
    unsigned bits = 0;
    if (pack_keys(r, idx, n, o, ws->recs, ws->word, &fits, &bits)) goto out;
    if (!fits) {
        msort(idx, ws->tmp, n, full_cmp, &s);
        rc = TESS_OK;
        goto out;
    }
    rec *sorted;
    if (radix(ws->recs, ws->recs2, n, bits, &sorted)) goto out;
    rec *other = sorted == ws->recs ? ws->recs2 : ws->recs;
    /* entities: by timestamp (input is mostly in time order: usually nothing to do) */
    for (size_t a = 0, b; a < n; a = b) {
        b = a + 1;
        bool ordered = true;
        while (b < n && sorted[b].key == sorted[a].key) {
            if (sorted[b].ts < sorted[b - 1].ts) ordered = false;
            b++;
        }
        if (!ordered) rec_msort(sorted + a, other, b - a);
    }
    for (size_t i = 0; i < n; i++) idx[i] = sorted[i].ref;
    /* equal (entity, timestamp): by created ts, then seq */
    for (size_t a = 0, b; a < n; a = b) {
        b = a + 1;
        bool ordered = true;
        while (b < n && sorted[b].key == sorted[a].key && sorted[b].ts == sorted[a].ts) {
            if (ordered && tail_cmp(&s, idx[b - 1], idx[b]) > 0) ordered = false;
            b++;
        }
        if (!ordered) msort(idx + a, ws->tmp, b - a, tail_cmp, &s);
    }
    rc = TESS_OK;
out:
    tess__evsort_ws_free(own);
    return rc;
}
