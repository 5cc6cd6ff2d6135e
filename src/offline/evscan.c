/* evscan.c — scans of a layout: the k-way merge of its segments, in event order.
 *
 * Each segment has a cursor: its current decoded block and a *run* [pos, run_end) of rows in
 * it that the scan wants (the whole block, or with a key filter the rows of one wanted
 * entity). The merge repeatedly takes the cursor with the smallest head row and copies rows
 * from its run up to the next cursor's head (galloping search), so that with one segment, or
 * segments holding different entities, whole runs are copied at once.
 *
 * Key filter: the wanted keys are sorted, distinct encoded keys. A block is read only if some
 * wanted key lies in its [first, last] key range; inside a block, a merge walk of the rows and
 * the wanted keys (each side galloping forward over what the other lacks) finds runs of rows
 * of consecutive wanted entities (find_run). Rows are compared with wanted keys without
 * encoding them (tess__evkey_cmp; keys of int64/timestamp columns as integers, decoded once).
 * A cursor's filter position only moves forward, so a segment costs O(k log(n/k)) comparisons
 * for k wanted keys over n rows, not a binary search per key.
 *
 * Batches: rows are appended to the output batch until it holds batch_rows rows; then, unless
 * the scan may split entities (merges, rebuilds), rows continue to be appended while they
 * belong to the entity of the last row, so that an entity is never split across batches.
 *
 * States: a scan is fresh (cursors not filled), running, done (every cursor exhausted) or
 * failed (an error is sticky: every later next returns it).
 */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "offline/evstore_int.h"
#include "tessera.h"

typedef struct cursor {
    tess__segr *r;
    size_t nblocks;
    size_t next_blk; /* next block to consider */
    tess__batch b;   /* the current block: arrays for the segment's largest block, in `mem` */
    char *mem;
    size_t pos, run_end;
    size_t ki; /* filter: index of the first wanted key not passed yet */
    bool live;
} cursor;

struct tess__evscan {
    const tess__source *src;
    size_t *keys, nkeys;
    tess__evorder ord;
    cursor *curs;
    size_t ncurs;
    cursor **order; /* the live cursors, by head row */
    size_t norder;
    bool filtered;
    tess__str *filter; /* sorted, distinct; bytes in fbytes */
    size_t nfilter;
    char *fbytes;
    uint64_t *fkeys; /* integer keys only: nfilter x nkeys decoded values, else NULL */
    bool *want, *skip;
    size_t skip_rows; /* rows of `out` whose skipped columns are set to null */
    size_t target;
    bool split;
    bool started;
    int failed;
    tess__batch out;
};

static int keycmp(const void *a, size_t an, const void *b, size_t bn)
{
    size_t n = an < bn ? an : bn;
    int c = n ? memcmp(a, b, n) : 0;
    if (c) return c < 0 ? -1 : 1;
    return (an > bn) - (an < bn);
}

static int str_cmp(const void *x, const void *y)
{
    const tess__str *a = x, *b = y;
    return keycmp(a->p, a->n, b->p, b->n);
}

/* Row i of b's key against wanted key ki: <0, 0, >0 (no encoding is built). Keys of int64
 * and timestamp columns only (the usual ids) compare as integers: the encoding of such a
 * value is its 8 big-endian bytes with the sign bit flipped, decoded once into fkeys. */
static inline int row_vs_key(const tess__evscan *s, const tess__batch *b, size_t i, size_t ki)
{
    if (s->fkeys) {
        const uint64_t *f = s->fkeys + ki * s->nkeys;
        for (size_t k = 0; k < s->nkeys; k++) {
            uint64_t u = (uint64_t)((const int64_t *)b->cols[s->keys[k]].data)[i] ^ (1ULL << 63);
            if (u != f[k]) return u < f[k] ? -1 : 1;
        }
        return 0;
    }
    const tess__str *k = &s->filter[ki];
    return tess__evkey_cmp(b->cols, s->keys, s->nkeys, i, k->p, k->n);
}

/* First row in [lo, hi) whose key is >= k (strict: > k); rows are sorted by key. Galloping
 * from lo: the cost grows with the log of the distance moved, not of the block's size. */
static size_t row_bound(const tess__evscan *s, const tess__batch *b, size_t lo, size_t hi,
                        size_t k, bool strict)
{
#define BEFORE(i) (strict ? row_vs_key(s, b, (i), k) <= 0 : row_vs_key(s, b, (i), k) < 0)
    size_t step = 1;
    while (lo + step <= hi && BEFORE(lo + step - 1)) {
        lo += step;
        step *= 2;
    }
    size_t z = lo + step <= hi ? lo + step - 1 : hi;
    while (lo < z) {
        size_t m = lo + (z - lo) / 2;
        if (BEFORE(m)) lo = m + 1;
        else z = m;
    }
    return lo;
#undef BEFORE
}

/* First filter index in [lo, nfilter) whose key is >= (p, n), galloping from lo. */
static size_t filter_bound(const tess__evscan *s, size_t lo, const void *p, size_t n)
{
    size_t hi = s->nfilter, step = 1;
#define BEFORE(i) (keycmp(s->filter[(i)].p, s->filter[(i)].n, p, n) < 0)
    while (lo + step <= hi && BEFORE(lo + step - 1)) {
        lo += step;
        step *= 2;
    }
    size_t z = lo + step <= hi ? lo + step - 1 : hi;
    while (lo < z) {
        size_t m = lo + (z - lo) / 2;
        if (BEFORE(m)) lo = m + 1;
        else z = m;
    }
    return lo;
#undef BEFORE
}

/* First filter index in [lo, nfilter) whose key is >= row i's key, galloping from lo. */
static size_t filter_bound_row(const tess__evscan *s, size_t lo, const tess__batch *b, size_t i)
{
    size_t hi = s->nfilter, step = 1;
#define BEFORE(x) (row_vs_key(s, b, i, (x)) > 0)
    while (lo + step <= hi && BEFORE(lo + step - 1)) {
        lo += step;
        step *= 2;
    }
    size_t z = lo + step <= hi ? lo + step - 1 : hi;
    while (lo < z) {
        size_t m = lo + (z - lo) / 2;
        if (BEFORE(m)) lo = m + 1;
        else z = m;
    }
    return lo;
#undef BEFORE
}

/*
 * With a filter: the next run of wanted rows in the current block, from c->pos: a merge walk
 * of the block's rows with the wanted keys, both sorted, each side galloping forward over
 * what the other does not have. A run spans consecutive wanted entities (a dense filter
 * gives runs of whole blocks). Leaves c->ki at the last key matched: the next block may
 * continue that entity.
 */
static void find_run(tess__evscan *s, cursor *c)
{
    size_t n = c->b.nrows;
    while (c->pos < n) {
        if (c->ki >= s->nfilter) { /* no wanted key left: the cursor is done */
            c->pos = c->run_end = n;
            c->next_blk = c->nblocks;
            return;
        }
        int cmp = row_vs_key(s, &c->b, c->pos, c->ki);
        if (cmp > 0) {
            c->ki = filter_bound_row(s, c->ki + 1, &c->b, c->pos);
        } else if (cmp < 0) {
            c->pos = row_bound(s, &c->b, c->pos + 1, n, c->ki, false);
        } else {
            size_t end = c->pos;
            for (;;) {
                end = row_bound(s, &c->b, end + 1, n, c->ki, true);
                if (end >= n || c->ki + 1 >= s->nfilter ||
                    row_vs_key(s, &c->b, end, c->ki + 1) != 0)
                    break;
                c->ki++;
            }
            c->run_end = end;
            return;
        }
    }
    c->run_end = c->pos;
}

/* Makes c->pos < c->run_end, reading blocks as needed, or marks the cursor exhausted. */
static int cur_fill(tess__evscan *s, cursor *c, tess__err *err)
{
    int rc;
    for (;;) {
        if (c->pos < c->run_end) return TESS_OK;
        if (s->filtered && c->pos < c->b.nrows) {
            find_run(s, c);
            if (c->pos < c->run_end) return TESS_OK;
        }
        size_t blk = c->next_blk;
        if (s->filtered) {
            for (; blk < c->nblocks; blk++) {
                const tess__segblock *bl = tess__segr_block(c->r, blk);
                c->ki = filter_bound(s, c->ki, bl->first, bl->first_n);
                if (c->ki >= s->nfilter) {
                    blk = c->nblocks;
                    break;
                }
                if (keycmp(s->filter[c->ki].p, s->filter[c->ki].n, bl->last, bl->last_n) <= 0) break;
            }
        }
        if (blk >= c->nblocks) {
            c->live = false;
            c->next_blk = c->nblocks;
            tess__batch_reset(&c->b);
            c->pos = c->run_end = 0;
            return TESS_OK;
        }
        if ((rc = tess__segr_read_block(c->r, blk, s->want, &c->b, err))) return rc;
        c->next_blk = blk + 1;
        c->pos = 0;
        c->run_end = s->filtered ? 0 : c->b.nrows;
    }
}

/* First row in [lo, hi) of b that compares > row ri of rb (keys only, or the full order). */
static size_t gallop(const tess__evorder *o, const tess__batch *b, size_t lo, size_t hi,
                     const tess__batch *rb, size_t ri, bool keys_only)
{
#define GT(i) ((keys_only ? tess__ev_cmp_keys(o, b, (i), rb, ri) : tess__ev_cmp_rows(o, b, (i), rb, ri)) > 0)
    if (lo >= hi) return hi;
    size_t a = lo, step = 1;
    while (a + step <= hi && !GT(a + step - 1)) {
        a += step;
        step *= 2;
    }
    size_t z = a + step <= hi ? a + step - 1 : hi;
    while (a < z) {
        size_t m = a + (z - a) / 2;
        if (GT(m)) z = m;
        else a = m + 1;
    }
    return a;
#undef GT
}

/* The cursor's batch: arrays for the segment's largest block in one allocation (a scan may
 * merge many segments; fresh memory is paid page by page), never grown. */
static int cursor_batch(cursor *c, const tess__type *types, size_t nc)
{
    size_t cap = 1;
    for (size_t k = 0; k < c->nblocks; k++)
        if (tess__segr_block(c->r, k)->nrows > cap) cap = tess__segr_block(c->r, k)->nrows;
    size_t total = cap * sizeof(int64_t);
    /* every array starts 8-byte aligned: a bool column's data is rounded up like the nulls */
    size_t cap8 = (cap + 7) & ~(size_t)7;
    for (size_t k = 0; k < nc; k++) total += cap8 + cap8 * tess__type_width(types[k]);
    memset(&c->b, 0, sizeof(c->b));
    char *p = tess__big_alloc(total, &c->mem);
    c->b.cols = tess__calloc(nc ? nc : 1, sizeof(tess__col));
    if (!p || !c->b.cols) return TESS_ENOMEM;
    c->b.cap = cap;
    c->b.ncols = nc;
    c->b.seq = (int64_t *)(void *)p;
    p += cap * sizeof(int64_t);
    for (size_t k = 0; k < nc; k++) {
        c->b.cols[k].type = types[k];
        c->b.cols[k].data = p;
        p += cap8 * tess__type_width(types[k]);
        c->b.cols[k].nulls = (uint8_t *)p;
        p += cap8;
    }
    return TESS_OK;
}

void tess__evscan_close(tess__evscan *s)
{
    if (!s) return;
    for (size_t i = 0; i < s->ncurs; i++) {
        tess__segr_close(s->curs[i].r);
        tess__arena_release(&s->curs[i].b.arena);
        tess__free(s->curs[i].b.cols);
        tess__free(s->curs[i].mem);
    }
    tess__free(s->curs);
    tess__free(s->order);
    tess__free(s->keys);
    tess__free(s->filter);
    tess__free(s->fbytes);
    tess__free(s->fkeys);
    tess__free(s->want);
    tess__free(s->skip);
    tess__batch_release(&s->out);
    tess__free(s);
}

int tess__evscan_new(const tess__source *src, const size_t *keys, size_t nkeys,
                     tess__segr **readers, size_t nreaders, const tess__evscan_opts *opts,
                     bool split, tess__evscan **out, tess__err *err)
{
    *out = NULL;
    tess__evscan_opts defaults;
    memset(&defaults, 0, sizeof(defaults));
    if (!opts) opts = &defaults;
    size_t nc = src->nschema;
    tess__type *types = NULL;
    tess__evscan *s = tess__calloc(1, sizeof(*s));
    if (!s) goto nomem;
    s->src = src;
    s->split = split;
    s->target = opts->batch_rows ? opts->batch_rows : TESS__SEG_BLOCK_ROWS;
    s->curs = tess__calloc(nreaders ? nreaders : 1, sizeof(cursor));
    s->order = tess__calloc(nreaders ? nreaders : 1, sizeof(cursor *));
    if (!s->curs || !s->order) goto nomem;
    for (size_t i = 0; i < nreaders; i++) {
        s->curs[i].r = readers[i];
        readers[i] = NULL;
        s->ncurs = i + 1;
    }
    s->keys = tess__calloc(nkeys ? nkeys : 1, sizeof(size_t));
    s->want = tess__calloc(nc ? nc : 1, sizeof(bool));
    s->skip = tess__calloc(nc ? nc : 1, sizeof(bool));
    types = tess__calloc(nc ? nc : 1, sizeof(tess__type));
    if (!s->keys || !s->want || !s->skip || !types) goto nomem;
    if (nkeys) memcpy(s->keys, keys, nkeys * sizeof(size_t));
    s->nkeys = nkeys;
    s->ord = tess__evorder_of(src, s->keys, nkeys);
    for (size_t c = 0; c < nc; c++) {
        types[c] = src->schema[c].type;
        s->want[c] = !opts->want || opts->want[c];
    }
    for (size_t k = 0; k < nkeys; k++) s->want[keys[k]] = true;
    s->want[src->ts_col] = true;
    if (src->created_col >= 0) s->want[src->created_col] = true;
    for (size_t c = 0; c < nc; c++) s->skip[c] = !s->want[c];
    if (tess__batch_init(&s->out, types, nc, s->target < 1024 ? s->target : 1024)) goto nomem;
    for (size_t i = 0; i < s->ncurs; i++) {
        cursor *c = &s->curs[i];
        c->nblocks = tess__segr_nblocks(c->r);
        c->live = true;
        if (cursor_batch(c, types, nc)) goto nomem;
    }
    if (opts->filter) {
        s->filtered = true;
        size_t total = 0;
        for (size_t i = 0; i < opts->nfilter; i++) total += opts->filter[i].n;
        s->filter = tess__calloc(opts->nfilter ? opts->nfilter : 1, sizeof(tess__str));
        s->fbytes = tess__malloc(total ? total : 1);
        if (!s->filter || !s->fbytes) goto nomem;
        char *p = s->fbytes;
        bool sorted = true;
        for (size_t i = 0; i < opts->nfilter; i++) {
            const tess__str *k = &opts->filter[i];
            if (k->n) memcpy(p, k->p, k->n);
            s->filter[i].p = p;
            s->filter[i].n = k->n;
            p += k->n;
            if (i && sorted && str_cmp(&s->filter[i - 1], &s->filter[i]) > 0) sorted = false;
        }
        if (!sorted) qsort(s->filter, opts->nfilter, sizeof(tess__str), str_cmp);
        size_t nu = 0;
        for (size_t i = 0; i < opts->nfilter; i++)
            if (nu == 0 || str_cmp(&s->filter[nu - 1], &s->filter[i]) != 0)
                s->filter[nu++] = s->filter[i];
        s->nfilter = nu;
        bool ints = nkeys > 0;
        for (size_t k = 0; k < nkeys; k++) {
            tess__type t = src->schema[keys[k]].type;
            ints &= t == TESS_T_INT64 || t == TESS_T_TIMESTAMP;
        }
        for (size_t i = 0; i < nu && ints; i++) ints = s->filter[i].n == 8 * nkeys;
        if (ints) {
            if (!(s->fkeys = tess__malloc((nu ? nu : 1) * nkeys * sizeof(uint64_t)))) goto nomem;
            for (size_t i = 0; i < nu; i++)
                for (size_t k = 0; k < nkeys; k++) {
                    uint64_t v;
                    memcpy(&v, s->filter[i].p + 8 * k, 8);
                    s->fkeys[i * nkeys + k] = __builtin_bswap64(v);
                }
        }
    }
    tess__free(types);
    *out = s;
    return TESS_OK;
nomem:
    tess__free(types);
    for (size_t i = 0; i < nreaders; i++) { /* those not handed to a cursor yet */
        tess__segr_close(readers[i]);
        readers[i] = NULL;
    }
    tess__evscan_close(s);
    return tess__err_set(err, TESS_ENOMEM, "out of memory");
}

/* Puts a live cursor into the order of heads (binary search: log k comparisons). */
static void order_insert(tess__evscan *s, cursor *c)
{
    size_t lo = 0, hi = s->norder;
    while (lo < hi) {
        size_t m = lo + (hi - lo) / 2;
        cursor *x = s->order[m];
        if (tess__ev_cmp_rows(&s->ord, &x->b, x->pos, &c->b, c->pos) <= 0) lo = m + 1;
        else hi = m;
    }
    memmove(s->order + lo + 1, s->order + lo, (s->norder - lo) * sizeof(cursor *));
    s->order[lo] = c;
    s->norder++;
}

/* Columns not wanted are null in every row of the output batch: set once per capacity, not
 * per append (tess__batch_append leaves them alone). */
static void skip_ready(tess__evscan *s)
{
    if (s->skip_rows >= s->out.cap) return;
    for (size_t c = 0; c < s->out.ncols; c++) {
        if (!s->skip[c]) continue;
        tess__col *d = &s->out.cols[c];
        size_t w = tess__type_width(d->type), k = s->out.cap - s->skip_rows;
        memset(d->nulls + s->skip_rows, 1, k);
        memset((char *)d->data + s->skip_rows * w, 0, k * w);
    }
    s->skip_rows = s->out.cap;
}

int tess__evscan_next(tess__evscan *s, const tess__batch **out, tess__err *err)
{
    int rc = TESS_OK;
    *out = NULL;
    if (s->failed) return tess__err_set(err, s->failed, "the scan failed before");
    if (!s->started) {
        s->started = true;
        for (size_t i = 0; i < s->ncurs; i++) {
            if ((rc = cur_fill(s, &s->curs[i], err))) goto fail;
            if (s->curs[i].live) order_insert(s, &s->curs[i]);
        }
    }
    tess__batch_reset(&s->out);
    for (;;) {
        /* order[0] has the smallest head, order[1] the next */
        if (s->norder == 0) break;
        cursor *c = s->order[0], *c2 = s->norder > 1 ? s->order[1] : NULL;
        size_t end = c->run_end;
        if (c2) end = gallop(&s->ord, &c->b, c->pos + 1, end, &c2->b, c2->pos, false);
        size_t have = s->out.nrows;
        if (have >= s->target) {
            if (s->split) break;
            if (tess__ev_cmp_keys(&s->ord, &s->out, have - 1, &c->b, c->pos) != 0) break;
            end = gallop(&s->ord, &c->b, c->pos + 1, end, &s->out, have - 1, true);
        } else if (end - c->pos > s->target - have) {
            end = c->pos + (s->target - have);
        }
        size_t n = end - c->pos;
        if (tess__batch_reserve(&s->out, have + n)) {
            rc = tess__err_set(err, TESS_ENOMEM, "out of memory");
            goto fail;
        }
        skip_ready(s);
        if (tess__batch_append(&s->out, &c->b, c->pos, n, s->skip)) {
            rc = tess__err_set(err, TESS_ENOMEM, "out of memory");
            goto fail;
        }
        c->pos = end;
        if ((rc = cur_fill(s, c, err))) goto fail;
        s->norder--;
        memmove(s->order, s->order + 1, s->norder * sizeof(cursor *));
        if (c->live) order_insert(s, c);
    }
    if (s->out.nrows == 0) return TESS_NOTFOUND;
    *out = &s->out;
    return TESS_OK;
fail:
    s->failed = rc;
    tess__batch_reset(&s->out);
    return rc;
}

uint64_t tess__evscan_blocks_read(const tess__evscan *s)
{
    uint64_t n = 0;
    for (size_t i = 0; i < s->ncurs; i++) n += tess__segr_blocks_read(s->curs[i].r);
    return n;
}
