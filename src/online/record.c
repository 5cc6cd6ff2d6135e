/* record.c — encoding and decoding of online records (record.h).
 *
 * Layout (little-endian):
 *   u8  version (7)
 *   u64 fingerprint
 *   i64 written
 *   u64 hist_sum
 *   u8  has_row
 *     [has_row] i64 ts, i64 created, i64 seq, u32 nvals, nvals x value
 *   u32 ntiles, u32 nspecs
 *     ntiles x i64 start, ntiles * nspecs x u32 end (of the state in the blob), u32 blob
 *     length, blob (every state's bytes, tile by tile): any tile is reached in O(1)
 *   i64 rollup_bucket, u32 nrollups
 *     nrollups x u32 end (of the rollup in its blob), u32 blob length, blob: any rollup (a
 *     history's suffix states are ntiles x nspecs of them) is reached in O(1)
 *   u32 ncur, ncur x value
 *   u32 nfuture, u32 ncols
 *     nfuture x (i64 seq, ncols x value)
 *   u64 XXH3-64 of every byte before it
 * Values: tess__oval_put.
 */
#include "online/record.h"

#include <string.h>

#include "core/bytes.h"
#include "core/hash.h"
#include "tessera.h"

#define NULL_BIT 0x80u

int tess__oval_put(tess__buf *out, const tess__value *v)
{
    uint8_t tag = (uint8_t)v->type | (v->null ? NULL_BIT : 0u);
    int rc = tess__put_u8(out, tag);
    if (rc || v->null) return rc;
    switch (v->type) {
    case TESS_T_BOOL:
        return tess__put_u8(out, v->u.b ? 1 : 0);
    case TESS_T_INT64:
    case TESS_T_TIMESTAMP:
        return tess__put_i64(out, v->u.i);
    case TESS_T_FLOAT64: {
        uint64_t bits;
        memcpy(&bits, &v->u.f, 8);
        return tess__put_u64(out, bits);
    }
    case TESS_T_STRING:
        if (v->u.s.n > UINT32_MAX) return TESS_EINVAL;
        if ((rc = tess__put_u32(out, (uint32_t)v->u.s.n))) return rc;
        return tess__buf_append(out, v->u.s.p, v->u.s.n);
    default:
        return TESS_OK; /* TESS_T_NULL: the tag says it all */
    }
}

/* Reads one value; false if malformed. Strings point into the input. */
static bool oval_get(tess__cur *r, tess__value *v)
{
    uint8_t tag = tess__cur_u8(r);
    tess__type t = (tess__type)(tag & ~NULL_BIT);
    if (r->bad || t >= TESS_T__COUNT) return false;
    if (tag & NULL_BIT) {
        *v = tess__null(t);
        return true;
    }
    v->type = t;
    v->null = false;
    switch (t) {
    case TESS_T_BOOL: {
        uint8_t b = tess__cur_u8(r);
        if (b > 1) return false;
        v->u.b = b == 1;
        break;
    }
    case TESS_T_INT64:
    case TESS_T_TIMESTAMP:
        v->u.i = tess__cur_i64(r);
        break;
    case TESS_T_FLOAT64: {
        uint64_t bits = tess__cur_u64(r);
        memcpy(&v->u.f, &bits, 8);
        break;
    }
    case TESS_T_STRING: {
        uint32_t n = tess__cur_u32(r);
        const uint8_t *p = tess__cur_take(r, n);
        v->u.s.p = (const char *)p;
        v->u.s.n = n;
        break;
    }
    default:
        *v = tess__null(TESS_T_NULL);
        break;
    }
    return !r->bad;
}

int tess__orec_encode(const tess__orec *r, tess__buf *out)
{
    size_t start = out->len;
    int rc = tess__put_u8(out, TESS__OREC_VERSION);
    if (!rc) rc = tess__put_u64(out, r->fingerprint);
    if (!rc) rc = tess__put_i64(out, r->written);
    if (!rc) rc = tess__put_u64(out, r->hist_sum);
    if (!rc) rc = tess__put_u8(out, r->has_row ? 1 : 0);
    if (!rc && r->has_row) {
        rc = tess__put_i64(out, r->row_ts);
        if (!rc) rc = tess__put_i64(out, r->row_created);
        if (!rc) rc = tess__put_i64(out, r->row_seq);
        if (!rc) rc = tess__put_u32(out, (uint32_t)r->nvals);
        for (size_t i = 0; !rc && i < r->nvals; i++) rc = tess__oval_put(out, &r->vals[i]);
    }
    if (!rc) rc = tess__put_u32(out, (uint32_t)r->ntiles);
    if (!rc) rc = tess__put_u32(out, (uint32_t)r->nspecs);
    for (size_t t = 0; !rc && t < r->ntiles; t++) rc = tess__put_i64(out, r->starts[t]);
    size_t nst = r->ntiles * r->nspecs, end = 0;
    for (size_t i = 0; !rc && i < nst; i++) {
        end += r->states[i].n;
        rc = end > UINT32_MAX ? TESS_EINVAL : tess__put_u32(out, (uint32_t)end);
    }
    if (!rc) rc = tess__put_u32(out, (uint32_t)end);
    for (size_t i = 0; !rc && i < nst; i++)
        rc = tess__buf_append(out, r->states[i].p, r->states[i].n);
    if (!rc) rc = tess__put_i64(out, r->rollup_bucket);
    if (!rc) rc = tess__put_u32(out, (uint32_t)r->nrollups);
    end = 0;
    for (size_t i = 0; !rc && i < r->nrollups; i++) {
        end += tess__orec_rollup(r, i).n;
        rc = end > UINT32_MAX ? TESS_EINVAL : tess__put_u32(out, (uint32_t)end);
    }
    if (!rc) rc = tess__put_u32(out, (uint32_t)end);
    for (size_t i = 0; !rc && i < r->nrollups; i++) {
        tess__str ro = tess__orec_rollup(r, i);
        rc = tess__buf_append(out, ro.p, ro.n);
    }
    if (!rc) rc = tess__put_u32(out, (uint32_t)r->ncur);
    for (size_t i = 0; !rc && i < r->ncur; i++) rc = tess__oval_put(out, &r->cur[i]);
    if (!rc) rc = tess__put_u32(out, (uint32_t)r->nfuture);
    if (!rc) rc = tess__put_u32(out, (uint32_t)r->ncols);
    for (size_t f = 0; !rc && f < r->nfuture; f++) {
        rc = tess__put_i64(out, r->fseq[f]);
        for (size_t c = 0; !rc && c < r->ncols; c++)
            rc = tess__oval_put(out, &r->frows[f * r->ncols + c]);
    }
    if (!rc) rc = tess__put_u64(out, tess__hash64(out->p + start, out->len - start));
    if (rc) {
        out->len = start;
        if (out->p) out->p[start] = '\0';
    }
    return rc;
}

uint64_t tess__orec_fingerprint(const void *p, size_t n)
{
    tess__cur r = tess__cur_init(p, n);
    (void)tess__cur_u8(&r);
    return tess__cur_u64(&r);
}

uint64_t tess__orec_hist_sum(const void *p, size_t n)
{
    if (n < 1 + 8 + 8 + 8) return 0;
    tess__cur r = tess__cur_init((const uint8_t *)p + 17, 8);
    return tess__cur_u64(&r);
}

uint64_t tess__orec_checksum(const void *p, size_t n)
{
    if (n < 8) return 0;
    tess__cur r = tess__cur_init((const uint8_t *)p + n - 8, 8);
    return tess__cur_u64(&r);
}

#define DAMAGED(what) tess__err_set(err, TESS_EIO, "damaged online record: %s", what)

/* n elements of size sz from the arena, or NULL (n == 0 gives NULL too). */
static void *arr(tess__arena *a, size_t n, size_t sz, bool *oom)
{
    if (n == 0) return NULL;
    void *p = tess__arena_alloc(a, n * sz);
    if (!p) *oom = true;
    return p;
}

int tess__orec_decode(const void *p, size_t n, tess__orec *r, tess__arena *arena, tess__err *err)
{
    memset(r, 0, sizeof(*r));
    if (n < 1 + 8 + 8 + 8 + 1 + 8) return DAMAGED("too short");
    tess__cur sum = tess__cur_init((const uint8_t *)p + n - 8, 8);
    if (tess__cur_u64(&sum) != tess__hash64(p, n - 8)) return DAMAGED("checksum mismatch");
    tess__cur rd = tess__cur_init(p, n - 8);
    bool oom = false;
    if (tess__cur_u8(&rd) != TESS__OREC_VERSION) return DAMAGED("unknown format version");
    r->fingerprint = tess__cur_u64(&rd);
    r->written = tess__cur_i64(&rd);
    r->hist_sum = tess__cur_u64(&rd);
    uint8_t has_row = tess__cur_u8(&rd);
    if (has_row > 1) return DAMAGED("bad row flag");
    r->has_row = has_row == 1;
    if (r->has_row) {
        r->row_ts = tess__cur_i64(&rd);
        r->row_created = tess__cur_i64(&rd);
        r->row_seq = tess__cur_i64(&rd);
        r->nvals = tess__cur_u32(&rd);
        if (r->nvals > tess__cur_left(&rd)) return DAMAGED("bad value count");
        r->vals = arr(arena, r->nvals, sizeof(tess__value), &oom);
        for (size_t i = 0; !oom && i < r->nvals; i++)
            if (!oval_get(&rd, &r->vals[i])) return DAMAGED("bad row value");
    }
    r->ntiles = tess__cur_u32(&rd);
    r->nspecs = tess__cur_u32(&rd);
    if (rd.bad || r->ntiles > tess__cur_left(&rd) / 8 ||
        (r->ntiles && r->nspecs > tess__cur_left(&rd) / 4 / r->ntiles))
        return DAMAGED("bad tile count");
    r->raw_starts = tess__cur_take(&rd, r->ntiles * 8);
    r->raw_ends = tess__cur_take(&rd, r->ntiles * r->nspecs * 4);
    uint32_t blob = tess__cur_u32(&rd);
    r->raw_blob = tess__cur_take(&rd, blob);
    if (rd.bad) return DAMAGED("truncated tiles");
    r->blob_len = blob;
    /* offsets and tile order are checked where they are used (tess__orec_state; the window
       engine checks the order of the starts), so that a read touching two tiles costs two */
    r->rollup_bucket = tess__cur_i64(&rd);
    r->nrollups = tess__cur_u32(&rd);
    if (rd.bad || r->nrollups > tess__cur_left(&rd) / 4) return DAMAGED("bad rollup count");
    r->raw_rollup_ends = tess__cur_take(&rd, r->nrollups * 4);
    uint32_t rblob = tess__cur_u32(&rd);
    r->raw_rollup_blob = tess__cur_take(&rd, rblob);
    if (rd.bad) return DAMAGED("truncated rollups");
    r->rollup_blob_len = rblob;
    r->ncur = tess__cur_u32(&rd);
    if (rd.bad || r->ncur > tess__cur_left(&rd)) return DAMAGED("bad value count");
    r->cur = arr(arena, r->ncur, sizeof(tess__value), &oom);
    for (size_t i = 0; !oom && i < r->ncur; i++)
        if (!oval_get(&rd, &r->cur[i])) return DAMAGED("bad aggregate value");
    r->nfuture = tess__cur_u32(&rd);
    r->ncols = tess__cur_u32(&rd);
    if (rd.bad || r->nfuture > tess__cur_left(&rd) / 8 ||
        (r->nfuture && r->ncols > tess__cur_left(&rd) / r->nfuture))
        return DAMAGED("bad future row count");
    r->fseq = arr(arena, r->nfuture, sizeof(int64_t), &oom);
    r->frows = arr(arena, r->nfuture * r->ncols, sizeof(tess__value), &oom);
    for (size_t f = 0; !oom && f < r->nfuture; f++) {
        r->fseq[f] = tess__cur_i64(&rd);
        for (size_t c = 0; c < r->ncols; c++)
            if (!oval_get(&rd, &r->frows[f * r->ncols + c])) return DAMAGED("bad future row");
    }
    if (oom) return tess__err_set(err, TESS_ENOMEM, "out of memory");
    if (rd.bad) return DAMAGED("truncated");
    if (tess__cur_left(&rd) != 0) return DAMAGED("trailing bytes");
    return TESS_OK;
}

int64_t tess__orec_start(const tess__orec *r, size_t t)
{
    if (r->starts) return r->starts[t];
    tess__cur c = tess__cur_init(r->raw_starts + 8 * t, 8);
    return tess__cur_i64(&c);
}

static uint32_t end_at(const tess__orec *r, size_t i)
{
    tess__cur c = tess__cur_init(r->raw_ends + 4 * i, 4);
    return tess__cur_u32(&c);
}

tess__str tess__orec_rollup(const tess__orec *r, size_t i)
{
    if (r->rollups) return r->rollups[i];
    tess__cur c = tess__cur_init(r->raw_rollup_ends + 4 * (i ? i - 1 : 0), i ? 8 : 4);
    uint32_t from = i ? tess__cur_u32(&c) : 0, to = tess__cur_u32(&c);
    if (from > to || to > r->rollup_blob_len) return (tess__str){"", 0}; /* damaged */
    return (tess__str){(const char *)r->raw_rollup_blob + from, to - from};
}

tess__str tess__orec_state(const tess__orec *r, size_t t, size_t s)
{
    size_t i = t * r->nspecs + s;
    if (r->states) return r->states[i];
    uint32_t from = i ? end_at(r, i - 1) : 0, to = end_at(r, i);
    if (from > to || to > r->blob_len) return (tess__str){"", 0}; /* damaged: decodes as such */
    return (tess__str){(const char *)r->raw_blob + from, to - from};
}

int tess__orec_tiles(tess__orec *r, tess__arena *arena)
{
    if (r->states || r->ntiles == 0) return TESS_OK;
    size_t nst = r->ntiles * r->nspecs;
    int64_t *starts = tess__arena_alloc(arena, r->ntiles * sizeof(int64_t));
    tess__str *states = tess__arena_alloc(arena, (nst ? nst : 1) * sizeof(tess__str));
    if (!starts || !states) return TESS_ENOMEM;
    for (size_t t = 0; t < r->ntiles; t++) starts[t] = tess__orec_start(r, t);
    for (size_t t = 0; t < r->ntiles; t++)
        for (size_t s = 0; s < r->nspecs; s++) states[t * r->nspecs + s] = tess__orec_state(r, t, s);
    r->starts = starts;
    r->states = states;
    return TESS_OK;
}
