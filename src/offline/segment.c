/* segment.c — segment files: sorted rows in compressed, checksummed column blocks.
 *
 * File layout (all integers little-endian):
 *
 *   header   "TESSSEG1" u32 version (1) u32 0                                  16 bytes
 *   blocks   for each block, for each column then the seq column: one chunk of
 *            zstd-compressed bytes (offsets, lengths and checksums are in the footer)
 *   footer   u32 version
 *            u32 ncols; per column: u8 type, u16 name length, name bytes
 *            u32 nkeys; per key: u32 column index
 *            u32 ts column; i32 created column (-1: none)
 *            u64 rows; i64 min ts; i64 max ts (event time, over non-null values)
 *            u32 nblocks; per block:
 *              u32 rows; i64 min ts; i64 max ts;
 *              u32 length + bytes of the first row's encoded key; same for the last row;
 *              per chunk (ncols + 1): u64 offset, u32 compressed length, u32 raw length,
 *              u64 XXH3-64 of the compressed bytes
 *   trailer  u64 footer offset; u64 footer length; u64 XXH3-64 of the footer;
 *            "TSEGEND1"                                                         32 bytes
 *
 * A chunk decompresses to: u8 flags (bit 0: the column has nulls), the null bitmap
 * (ceil(rows / 8) bytes, bit i of byte i/8 = row i is null) when flagged, then the values:
 *   int64, timestamp, seq  u8 mode (0: value - base, 1: zigzag of the difference from the
 *                          previous row's value), u8 width (0..8), i64 base, then rows x width
 *                          bytes; null rows store 0
 *   float64                rows x 8 bytes (IEEE-754)
 *   bool                   rows x 1 byte
 *   string                 rows x u32 length, then the bytes (null rows: length 0)
 *
 * Invariants: a reader returns only data whose chunk checksum matched and whose decoded sizes
 * are exactly what the footer and the encoding say; anything else is TESS_EIO naming the file.
 * Rows are in event order (segment.h) across blocks, which is what makes the first/last key
 * index valid; the writer trusts its caller for that.
 */
#define ZSTD_STATIC_LINKING_ONLY
#include "offline/segment.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "core/alloc.h"
#include "core/bytes.h"
#include "core/io.h"
#include "tessera.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "segment.c stores integers little-endian with memcpy: a big-endian port must swap bytes"
#endif

#define SEG_MAGIC "TESSSEG1"
#define SEG_END_MAGIC "TSEGEND1"
#define SEG_VERSION 1u
#define SEG_HEADER 16u
#define WRITEBACK_CHUNK ((uint64_t)4 << 20) /* w_flush */
#define SEG_TRAILER 32u
#define ZSTD_LEVEL 1
#define FLUSH_BYTES ((size_t)1 << 20)
#define MAX_FOOTER ((uint64_t)1 << 30)
#define MAX_CHUNK_RAW ((uint64_t)1 << 31)

/* ---- the event order -------------------------------------------------------------------- */

tess__evorder tess__evorder_of(const tess__source *src, const size_t *keys, size_t nkeys)
{
    tess__evorder o;
    o.keys = keys;
    o.nkeys = nkeys;
    o.ts_col = src->ts_col;
    o.created_col = src->created_col;
    return o;
}

static inline uint64_t f64_ord(double d)
{
    if (isnan(d)) return UINT64_MAX;
    if (d == 0) d = 0.0; /* -0 == 0 */
    uint64_t u;
    memcpy(&u, &d, 8);
    return (u >> 63) ? ~u : (u | (1ULL << 63));
}

static inline int cmp_u64(uint64_t a, uint64_t b)
{
    return (a > b) - (a < b);
}
static inline int cmp_i64(int64_t a, int64_t b)
{
    return (a > b) - (a < b);
}

static inline bool is_null(const tess__col *c, size_t i)
{
    return c->nulls && c->nulls[i];
}

static int cmp_val(const tess__col *ca, size_t i, const tess__col *cb, size_t j)
{
    bool na = is_null(ca, i), nb = is_null(cb, j);
    if (na || nb) return na == nb ? 0 : (na ? -1 : 1);
    switch (ca->type) {
    case TESS_T_BOOL: return (int)((const uint8_t *)ca->data)[i] - (int)((const uint8_t *)cb->data)[j];
    case TESS_T_FLOAT64:
        return cmp_u64(f64_ord(((const double *)ca->data)[i]), f64_ord(((const double *)cb->data)[j]));
    case TESS_T_STRING: {
        const tess__str *x = (const tess__str *)ca->data + i, *y = (const tess__str *)cb->data + j;
        size_t n = x->n < y->n ? x->n : y->n;
        int c = n ? memcmp(x->p, y->p, n) : 0;
        if (c) return c < 0 ? -1 : 1;
        return cmp_u64(x->n, y->n);
    }
    default: return cmp_i64(((const int64_t *)ca->data)[i], ((const int64_t *)cb->data)[j]);
    }
}

int tess__ev_cmp_keys(const tess__evorder *o, const tess__batch *a, size_t i, const tess__batch *b,
                      size_t j)
{
    for (size_t k = 0; k < o->nkeys; k++) {
        size_t c = o->keys[k];
        int r = cmp_val(&a->cols[c], i, &b->cols[c], j);
        if (r) return r;
    }
    return 0;
}

int tess__ev_cmp_rows(const tess__evorder *o, const tess__batch *a, size_t i, const tess__batch *b,
                      size_t j)
{
    int r = tess__ev_cmp_keys(o, a, i, b, j);
    if (r) return r;
    if ((r = cmp_val(&a->cols[o->ts_col], i, &b->cols[o->ts_col], j))) return r;
    if (o->created_col >= 0) {
        size_t c = (size_t)o->created_col;
        if ((r = cmp_val(&a->cols[c], i, &b->cols[c], j))) return r;
    }
    return cmp_i64(a->seq ? a->seq[i] : 0, b->seq ? b->seq[j] : 0);
}

int tess__evkey_encode(tess__buf *out, const tess__col *cols, const size_t *idx, size_t n,
                       size_t row)
{
    int rc = TESS_OK;
    for (size_t k = 0; k < n && rc == TESS_OK; k++) {
        const tess__col *c = &cols[idx ? idx[k] : k];
        if (is_null(c, row)) return TESS_NOTFOUND;
        uint8_t tmp[8];
        uint64_t u;
        switch (c->type) {
        case TESS_T_BOOL:
            tmp[0] = ((const uint8_t *)c->data)[row] ? 1 : 0;
            rc = tess__buf_append(out, tmp, 1);
            continue;
        case TESS_T_STRING: {
            const tess__str *s = (const tess__str *)c->data + row;
            size_t start = 0;
            static const uint8_t esc[2] = {0x00, 0xFF}, term[2] = {0x00, 0x01};
            for (size_t i = 0; i < s->n && rc == TESS_OK; i++) {
                if (s->p[i] != '\0') continue;
                rc = tess__buf_append(out, s->p + start, i - start);
                if (rc == TESS_OK) rc = tess__buf_append(out, esc, 2);
                start = i + 1;
            }
            if (rc == TESS_OK) rc = tess__buf_append(out, s->p ? s->p + start : "", s->n - start);
            if (rc == TESS_OK) rc = tess__buf_append(out, term, 2);
            continue;
        }
        case TESS_T_FLOAT64: u = f64_ord(((const double *)c->data)[row]); break;
        default: u = (uint64_t)((const int64_t *)c->data)[row] ^ (1ULL << 63); break;
        }
        for (int b = 0; b < 8; b++) tmp[b] = (uint8_t)(u >> (56 - 8 * b));
        rc = tess__buf_append(out, tmp, 8);
    }
    return rc;
}

/* Compares the encoding of a string (00 escaped as 00 FF, ended by 00 01) with k[*at..kn),
 * advancing *at past it when equal. */
static int cmp_enc_str(const tess__str *s, const uint8_t *k, size_t kn, size_t *at)
{
    size_t j = *at;
    for (size_t i = 0; i <= s->n; i++) {
        uint8_t b0, b1 = 0;
        bool two;
        if (i == s->n) { /* the terminator */
            b0 = 0x00;
            b1 = 0x01;
            two = true;
        } else {
            b0 = (uint8_t)s->p[i];
            two = b0 == 0x00;
            b1 = 0xFF;
            if (!two) { /* fast path: a run of bytes without 00 */
                size_t m = i;
                while (m < s->n && s->p[m] != '\0') m++;
                size_t len = m - i, avail = kn - j, c = len < avail ? len : avail;
                int r = c ? memcmp(s->p + i, k + j, c) : 0;
                if (r) return r < 0 ? -1 : 1;
                if (c < len) return 1; /* k ended: the row's encoding is longer */
                j += len;
                i = m - 1;
                continue;
            }
        }
        if (j >= kn) return 1;
        if (b0 != k[j]) return b0 < k[j] ? -1 : 1;
        j++;
        if (two) {
            if (j >= kn) return 1;
            if (b1 != k[j]) return b1 < k[j] ? -1 : 1;
            j++;
        }
    }
    *at = j;
    return 0;
}

int tess__evkey_cmp(const tess__col *cols, const size_t *idx, size_t n, size_t row,
                    const void *key, size_t keyn)
{
    const uint8_t *k = key;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        const tess__col *c = &cols[idx ? idx[i] : i];
        if (is_null(c, row)) break; /* compares as the prefix before it */
        uint64_t u;
        switch (c->type) {
        case TESS_T_BOOL: {
            uint8_t b = ((const uint8_t *)c->data)[row] ? 1 : 0;
            if (at >= keyn) return 1;
            if (b != k[at]) return b < k[at] ? -1 : 1;
            at++;
            continue;
        }
        case TESS_T_STRING: {
            int r = cmp_enc_str((const tess__str *)c->data + row, k, keyn, &at);
            if (r) return r;
            continue;
        }
        case TESS_T_FLOAT64: u = f64_ord(((const double *)c->data)[row]); break;
        default: u = (uint64_t)((const int64_t *)c->data)[row] ^ (1ULL << 63); break;
        }
        if (keyn - at >= 8) {
            uint64_t v;
            memcpy(&v, k + at, 8);
            v = __builtin_bswap64(v);
            if (u != v) return u < v ? -1 : 1;
            at += 8;
            continue;
        }
        uint8_t tmp[8];
        for (int b = 0; b < 8; b++) tmp[b] = (uint8_t)(u >> (56 - 8 * b));
        size_t m = keyn - at;
        int r = m ? memcmp(tmp, k + at, m) : 0;
        return r < 0 ? -1 : 1; /* k ends inside this value: equal so far means longer */
    }
    return at < keyn ? -1 : 0;
}

/* ---- batches ------------------------------------------------------------------------------ */

int tess__batch_reserve(tess__batch *b, size_t cap)
{
    if (cap <= b->cap) return TESS_OK;
    size_t nc = b->cap ? b->cap : 1024;
    while (nc < cap) nc *= 2;
    /* each array is replaced as soon as it has grown, so a failure leaves a valid batch */
    int64_t *seq = tess__realloc(b->seq, nc * sizeof(int64_t));
    if (!seq) return TESS_ENOMEM;
    b->seq = seq;
    for (size_t c = 0; c < b->ncols; c++) {
        tess__col *col = &b->cols[c];
        uint8_t *nulls = tess__realloc(col->nulls, nc);
        if (!nulls) return TESS_ENOMEM;
        if (!col->nulls) memset(nulls, 0, b->cap);
        col->nulls = nulls;
        void *data = tess__realloc(col->data, nc * tess__type_width(col->type));
        if (!data) return TESS_ENOMEM;
        col->data = data;
    }
    b->cap = nc;
    return TESS_OK;
}

static int copy_strs(tess__batch *dst, tess__str *d, const tess__str *s, const uint8_t *snulls,
                     size_t n)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++) total += s[i].n;
    char *p = total ? tess__arena_alloc(&dst->arena, total) : NULL;
    if (total && !p) return TESS_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        if ((snulls && snulls[i]) || !s[i].n) {
            d[i].p = "";
            d[i].n = 0;
            continue;
        }
        memcpy(p, s[i].p, s[i].n);
        d[i].p = p;
        d[i].n = s[i].n;
        p += s[i].n;
    }
    return TESS_OK;
}

int tess__batch_append(tess__batch *dst, const tess__batch *src, size_t from, size_t n,
                       const bool *skip)
{
    if (dst->nrows + n > dst->cap) return TESS_EINVAL;
    size_t at = dst->nrows;
    for (size_t c = 0; c < dst->ncols; c++) {
        tess__col *d = &dst->cols[c];
        const tess__col *s = &src->cols[c];
        size_t w = tess__type_width(d->type);
        if (skip && skip[c]) continue;
        if (s->nulls) memcpy(d->nulls + at, s->nulls + from, n);
        else memset(d->nulls + at, 0, n);
        if (d->type == TESS_T_STRING) {
            if (copy_strs(dst, (tess__str *)d->data + at, (const tess__str *)s->data + from,
                          s->nulls ? s->nulls + from : NULL, n))
                return TESS_ENOMEM;
        } else {
            memcpy((char *)d->data + at * w, (const char *)s->data + from * w, n * w);
        }
    }
    if (src->seq) memcpy(dst->seq + at, src->seq + from, n * sizeof(int64_t));
    else memset(dst->seq + at, 0, n * sizeof(int64_t));
    dst->nrows += n;
    return TESS_OK;
}

/* Gathers are random reads over a run much larger than the caches: each loop prefetches the
 * element it will need PF iterations later, which hides most of the memory latency. */
#define PF 64
#define AT(r, c) (&chunks[(r) >> 16]->cols[c])
#define RW(r) ((size_t)((r) & 0xffff))

int tess__batch_gather(tess__batch *b, const tess__batch *const *chunks, const uint32_t *ref,
                       size_t n)
{
    if (b->nrows + n > b->cap) return TESS_EINVAL;
    size_t at = b->nrows;
    for (size_t c = 0; c < b->ncols; c++) {
        tess__col *d = &b->cols[c];
        uint8_t *dn = d->nulls + at;
        size_t w = tess__type_width(d->type);
        for (size_t i = 0; i < n; i++) {
            if (i + PF < n) {
                uint32_t q = ref[i + PF];
                const tess__col *pc = AT(q, c);
                if (pc->nulls) __builtin_prefetch(pc->nulls + RW(q));
                __builtin_prefetch((const char *)pc->data + RW(q) * w);
            }
            const tess__col *s = AT(ref[i], c);
            dn[i] = s->nulls ? s->nulls[RW(ref[i])] : 0;
            if (w == 8) memcpy((char *)d->data + (at + i) * 8, (const char *)s->data + RW(ref[i]) * 8, 8);
            else if (w == 1) ((uint8_t *)d->data)[at + i] = ((const uint8_t *)s->data)[RW(ref[i])];
            else ((tess__str *)d->data)[at + i] = ((const tess__str *)s->data)[RW(ref[i])];
        }
        if (d->type != TESS_T_STRING) continue;
        /* string bytes: into one arena block; the views gathered above still point to the
         * source batches */
        tess__str *dd = (tess__str *)d->data + at;
        size_t total = 0;
        for (size_t i = 0; i < n; i++)
            if (!dn[i]) total += dd[i].n;
        char *p = total ? tess__arena_alloc(&b->arena, total) : NULL;
        if (total && !p) return TESS_ENOMEM;
        for (size_t i = 0; i < n; i++) {
            if (i + PF < n && !dn[i + PF] && dd[i + PF].n) __builtin_prefetch(dd[i + PF].p);
            if (dn[i] || !dd[i].n) {
                dd[i].p = "";
                dd[i].n = 0;
                continue;
            }
            memcpy(p, dd[i].p, dd[i].n);
            dd[i].p = p;
            p += dd[i].n;
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (i + PF < n) {
            uint32_t q = ref[i + PF];
            if (chunks[q >> 16]->seq) __builtin_prefetch(chunks[q >> 16]->seq + RW(q));
        }
        const tess__batch *s = chunks[ref[i] >> 16];
        b->seq[at + i] = s->seq ? s->seq[RW(ref[i])] : 0;
    }
    b->nrows += n;
    return TESS_OK;
}

#undef AT
#undef RW

/* ---- byte buffers ------------------------------------------------------------------------- */

typedef struct bytes {
    uint8_t *p;
    size_t len, cap;
} bytes;

static int bytes_reserve(bytes *b, size_t extra)
{
    if (b->len + extra <= b->cap) return TESS_OK;
    size_t nc = b->cap ? b->cap : 4096;
    while (nc < b->len + extra) nc *= 2;
    uint8_t *p = tess__realloc(b->p, nc);
    if (!p) return TESS_ENOMEM;
    b->p = p;
    b->cap = nc;
    return TESS_OK;
}

static void bytes_release(bytes *b)
{
    tess__free(b->p);
    memset(b, 0, sizeof(*b));
}

/* Unchecked appends: callers reserve first. */
static inline void put(bytes *b, const void *p, size_t n)
{
    if (n) memcpy(b->p + b->len, p, n);
    b->len += n;
}
static inline void put_u8(bytes *b, uint8_t v)
{
    b->p[b->len++] = v;
}
static inline void put_u16(bytes *b, uint16_t v)
{
    put(b, &v, 2);
}
static inline void put_u32(bytes *b, uint32_t v)
{
    put(b, &v, 4);
}
static inline void put_u64(bytes *b, uint64_t v)
{
    put(b, &v, 8);
}

/* ---- zstd through the allocation wrapper ---------------------------------------------------- */

static void *z_alloc(void *opaque, size_t n)
{
    (void)opaque;
    return tess__malloc(n);
}
static void z_free(void *opaque, void *p)
{
    (void)opaque;
    tess__free(p);
}
static const ZSTD_customMem z_mem = {z_alloc, z_free, NULL};

/* ---- I/O helpers ---------------------------------------------------------------------------- */

static int write_all(int fd, const void *p, size_t n)
{
    const char *s = p;
    while (n) {
        ssize_t w = tess__io_write(fd, s, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

static int pread_all(int fd, void *p, size_t n, uint64_t off)
{
    char *d = p;
    while (n) {
        ssize_t r = pread(fd, d, n, (off_t)off);
        if (r < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (r == 0) {
            errno = EIO; /* short file */
            return -1;
        }
        d += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return 0;
}

/* ---- column encoding ------------------------------------------------------------------------ */

static unsigned width_of(uint64_t v)
{
    unsigned w = 0;
    while (v) {
        w++;
        v >>= 8;
    }
    return w;
}

static inline uint64_t zigzag(int64_t d)
{
    return ((uint64_t)d << 1) ^ (uint64_t)(d >> 63);
}
static inline int64_t unzigzag(uint64_t z)
{
    return (int64_t)(z >> 1) ^ -(int64_t)(z & 1);
}

/* Appends the raw (uncompressed) form of n values of a column. */
static int encode_col(bytes *raw, tess__type t, const uint8_t *nulls, const void *data, size_t n)
{
    bool has_nulls = false;
    if (nulls)
        for (size_t i = 0; i < n && !has_nulls; i++) has_nulls = nulls[i] != 0;
    size_t nb = (n + 7) / 8;
    if (bytes_reserve(raw, 1 + (has_nulls ? nb : 0))) return TESS_ENOMEM;
    put_u8(raw, has_nulls ? 1 : 0);
    if (has_nulls) {
        uint8_t *bm = raw->p + raw->len;
        memset(bm, 0, nb);
        for (size_t i = 0; i < n; i++)
            if (nulls[i]) bm[i >> 3] |= (uint8_t)(1u << (i & 7));
        raw->len += nb;
    }
    const uint8_t *nl = has_nulls ? nulls : NULL;
    switch (t) {
    case TESS_T_BOOL: {
        if (bytes_reserve(raw, n)) return TESS_ENOMEM;
        const uint8_t *v = data;
        for (size_t i = 0; i < n; i++) raw->p[raw->len + i] = (nl && nl[i]) ? 0 : (v[i] ? 1 : 0);
        raw->len += n;
        return TESS_OK;
    }
    case TESS_T_FLOAT64: {
        if (bytes_reserve(raw, n * 8)) return TESS_ENOMEM;
        const double *v = data;
        if (!nl) memcpy(raw->p + raw->len, v, n * 8);
        else
            for (size_t i = 0; i < n; i++) {
                double x = nl[i] ? 0.0 : v[i];
                memcpy(raw->p + raw->len + i * 8, &x, 8);
            }
        raw->len += n * 8;
        return TESS_OK;
    }
    case TESS_T_STRING: {
        const tess__str *v = data;
        size_t total = 0;
        for (size_t i = 0; i < n; i++)
            if (!(nl && nl[i])) {
                if (v[i].n > UINT32_MAX) return TESS_EINVAL;
                total += v[i].n;
            }
        if (bytes_reserve(raw, n * 4 + total)) return TESS_ENOMEM;
        for (size_t i = 0; i < n; i++) put_u32(raw, (nl && nl[i]) ? 0 : (uint32_t)v[i].n);
        for (size_t i = 0; i < n; i++)
            if (!(nl && nl[i])) put(raw, v[i].p, v[i].n);
        return TESS_OK;
    }
    default: { /* int64, timestamp, seq */
        const int64_t *v = data;
        int64_t mn = INT64_MAX, mx = INT64_MIN, first = 0, prev = 0;
        bool any = false;
        uint64_t zmax = 0;
        for (size_t i = 0; i < n; i++) {
            if (nl && nl[i]) continue;
            if (!any) {
                first = v[i];
                prev = first;
                any = true;
            }
            if (v[i] < mn) mn = v[i];
            if (v[i] > mx) mx = v[i];
            uint64_t z = zigzag((int64_t)((uint64_t)v[i] - (uint64_t)prev));
            if (z > zmax) zmax = z;
            prev = v[i];
        }
        unsigned wfor = any ? width_of((uint64_t)mx - (uint64_t)mn) : 0;
        unsigned wdel = width_of(zmax);
        uint8_t mode = wdel < wfor ? 1 : 0;
        unsigned w = mode ? wdel : wfor;
        int64_t base = mode ? first : (any ? mn : 0);
        if (bytes_reserve(raw, 10 + n * w + 8)) return TESS_ENOMEM;
        put_u8(raw, mode);
        put_u8(raw, (uint8_t)w);
        put_u64(raw, (uint64_t)base);
        if (w == 0) return TESS_OK;
        uint8_t *o = raw->p + raw->len;
        prev = base;
        for (size_t i = 0; i < n; i++) {
            uint64_t x;
            if (nl && nl[i]) x = 0;
            else if (mode) {
                x = zigzag((int64_t)((uint64_t)v[i] - (uint64_t)prev));
                prev = v[i];
            } else
                x = (uint64_t)v[i] - (uint64_t)base;
            memcpy(o, &x, 8); /* the slack of 8 bytes reserved above absorbs the overrun */
            o += w;
        }
        raw->len += n * w;
        return TESS_OK;
    }
    }
}

/* Decodes a raw chunk of n rows into a column. String bytes stay in `raw` (the caller put it
 * in the batch's arena). Returns false if the contents do not have the expected shape. */
/* The longest chunk of n rows of a fixed-width type decode_col accepts: flags, null bitmap,
 * and the values (integers: mode, width, base, then at most 8 bytes a row). */
static uint64_t raw_max(tess__type t, size_t n)
{
    uint64_t m = 1 + ((uint64_t)n + 7) / 8;
    switch (t) {
    case TESS_T_BOOL: return m + n;
    case TESS_T_FLOAT64: return m + 8 * (uint64_t)n;
    default: return m + 10 + 8 * (uint64_t)n; /* int64, timestamp, seq */
    }
}

static bool decode_col(const uint8_t *raw, size_t len, tess__type t, size_t n, uint8_t *nulls,
                       void *data)
{
    tess__cur c = tess__cur_init(raw, len);
    uint8_t flags = tess__cur_u8(&c);
    if (c.bad || flags > 1) return false;
    if (flags & 1) {
        if (!nulls) return false; /* the seq column has no nulls */
        const uint8_t *bm = tess__cur_take(&c, (n + 7) / 8);
        if (!bm) return false;
        for (size_t i = 0; i < n; i++) nulls[i] = (bm[i >> 3] >> (i & 7)) & 1;
    } else if (nulls) {
        memset(nulls, 0, n);
    }
    switch (t) {
    case TESS_T_BOOL: {
        const uint8_t *p = tess__cur_take(&c, n);
        if (!p) return false;
        memcpy(data, p, n);
        break;
    }
    case TESS_T_FLOAT64: {
        const uint8_t *p = tess__cur_take(&c, n * 8);
        if (!p) return false;
        memcpy(data, p, n * 8);
        break;
    }
    case TESS_T_STRING: {
        const uint8_t *lens = tess__cur_take(&c, n * 4);
        if (!lens) return false;
        tess__str *s = data;
        for (size_t i = 0; i < n; i++) {
            uint32_t l;
            memcpy(&l, lens + 4 * i, 4);
            const uint8_t *p = tess__cur_take(&c, l);
            if (!p) return false;
            s[i].p = (const char *)p;
            s[i].n = l;
        }
        break;
    }
    default: {
        uint8_t mode = tess__cur_u8(&c), w = tess__cur_u8(&c);
        int64_t base = (int64_t)tess__cur_u64(&c);
        if (c.bad || mode > 1 || w > 8) return false;
        int64_t *v = data;
        if (w == 0) { /* every value equals base (either mode) */
            for (size_t i = 0; i < n; i++) v[i] = base;
            break;
        }
        const uint8_t *p = tess__cur_take(&c, n * w);
        if (!p) return false;
        uint64_t mask = w == 8 ? UINT64_MAX : ((1ULL << (8 * w)) - 1);
        int64_t prev = base;
        for (size_t i = 0; i < n; i++) {
            uint64_t x;
            memcpy(&x, p + i * w, 8); /* the buffer has 8 bytes of zeroed slack */
            x &= mask;
            if (mode) {
                prev = (int64_t)((uint64_t)prev + (uint64_t)unzigzag(x));
                v[i] = prev;
            } else {
                v[i] = (int64_t)((uint64_t)base + x);
            }
        }
        break;
    }
    }
    return c.p == c.end;
}

/* ---- writer --------------------------------------------------------------------------------- */

typedef struct chunk_ref {
    uint64_t off;
    uint32_t clen, rawlen;
    uint64_t sum;
} chunk_ref;

struct tess__segw {
    int fd;
    char *path, *display;
    const tess__source *src;
    size_t *keys, nkeys;
    tess__evorder ord;
    size_t ncols;
    tess__batch blk;  /* rows of the block being filled */
    tess__col *view;  /* columns of a caller's block encoded in place */
    bytes out;        /* compressed bytes not yet written; file offset `off` + out.len */
    uint64_t off;     /* bytes written to the file */
    uint64_t flushed; /* bytes handed to writeback (w_flush) */
    bytes raw;        /* scratch: one chunk before compression */
    bytes index;      /* the footer's block entries */
    tess__buf key;    /* scratch: an encoded key */
    ZSTD_CCtx *cctx;
    uint32_t nblocks;
    uint64_t rows;
    int64_t min_ts, max_ts;
    bool failed;
    bool created; /* the file exists: abort removes it */
    bool nosync;  /* tess__segw_set_sync(w, false) */
};

static int w_io(tess__segw *w, tess__err *err, const char *what)
{
    w->failed = true;
    return tess__err_set(err, TESS_EIO, "%s: %s: %s", w->display, what, strerror(errno));
}
static int w_nomem(tess__segw *w, tess__err *err)
{
    w->failed = true;
    return tess__err_set(err, TESS_ENOMEM, "%s: out of memory writing a segment", w->display);
}

static int w_flush(tess__segw *w, tess__err *err)
{
    if (!w->out.len) return TESS_OK;
    if (write_all(w->fd, w->out.p, w->out.len)) return w_io(w, err, "write");
    w->off += w->out.len;
    w->out.len = 0;
    /* durable segments: write back as we go, a few MB at a time (waiting for the previous
     * chunk), so that the final fsync has little to do and the file system's journal never
     * holds much of this file's data: a fold runs beside appends, whose fdatasync would
     * otherwise wait for the writeback of the segment's data. Errors show at the fsync. */
    if (!w->nosync && w->off - w->flushed >= WRITEBACK_CHUNK) {
        if (w->flushed)
            sync_file_range(w->fd, 0, (off_t)w->flushed,
                            SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
                                SYNC_FILE_RANGE_WAIT_AFTER);
        sync_file_range(w->fd, (off_t)w->flushed, (off_t)(w->off - w->flushed),
                        SYNC_FILE_RANGE_WRITE);
        w->flushed = w->off;
    }
    return TESS_OK;
}

int tess__segw_open(const char *path, const char *display, const tess__source *src,
                    const size_t *keys, size_t nkeys, tess__segw **out, tess__err *err)
{
    *out = NULL;
    tess__segw *w = tess__calloc(1, sizeof(*w));
    if (!w) return tess__err_set(err, TESS_ENOMEM, "out of memory");
    w->fd = -1;
    w->src = src;
    w->ncols = src->nschema;
    w->nkeys = nkeys;
    w->min_ts = INT64_MAX;
    w->max_ts = INT64_MIN;
    tess__type *types = tess__calloc(w->ncols ? w->ncols : 1, sizeof(tess__type));
    w->path = tess__strdup(path);
    w->display = tess__strdup(display ? display : path);
    w->keys = tess__calloc(nkeys ? nkeys : 1, sizeof(size_t));
    w->cctx = ZSTD_createCCtx_advanced(z_mem);
    w->view = tess__calloc(w->ncols ? w->ncols : 1, sizeof(tess__col));
    if (!types || !w->path || !w->display || !w->keys || !w->cctx || !w->view) goto nomem;
    if (nkeys) memcpy(w->keys, keys, nkeys * sizeof(size_t));
    w->ord = tess__evorder_of(src, w->keys, nkeys);
    for (size_t c = 0; c < w->ncols; c++) types[c] = src->schema[c].type;
    if (tess__batch_init(&w->blk, types, w->ncols, 1024)) goto nomem; /* grows to a block */
    tess__free(types);
    types = NULL;
    if (ZSTD_isError(ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_compressionLevel, ZSTD_LEVEL)))
        goto nomem;
    if (bytes_reserve(&w->out, SEG_HEADER)) goto nomem;
    put(&w->out, SEG_MAGIC, 8);
    put_u32(&w->out, SEG_VERSION);
    put_u32(&w->out, 0);
    w->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (w->fd < 0) {
        int rc = tess__err_set(err, TESS_EIO, "%s: cannot create: %s", w->display, strerror(errno));
        tess__segw_abort(w);
        return rc;
    }
    w->created = true;
    *out = w;
    return TESS_OK;
nomem:
    tess__free(types);
    tess__segw_abort(w);
    return tess__err_set(err, TESS_ENOMEM, "out of memory");
}

static int compress_chunk(tess__segw *w, chunk_ref *cr, tess__err *err)
{
    size_t bound = ZSTD_compressBound(w->raw.len);
    if (bytes_reserve(&w->out, bound)) return w_nomem(w, err);
    size_t z = ZSTD_compress2(w->cctx, w->out.p + w->out.len, bound, w->raw.p, w->raw.len);
    if (ZSTD_isError(z)) {
        w->failed = true;
        /* the only realistic failure is an allocation inside zstd */
        return tess__err_set(err, TESS_ENOMEM, "%s: compression failed: %s", w->display,
                             ZSTD_getErrorName(z));
    }
    cr->off = w->off + w->out.len;
    cr->clen = (uint32_t)z;
    cr->rawlen = (uint32_t)w->raw.len;
    cr->sum = XXH3_64bits(w->out.p + w->out.len, z);
    w->out.len += z;
    return TESS_OK;
}

/* Compresses and writes a block: the pending one (b == &w->blk, then emptied) or a full block
 * of the caller's. */
static int write_block(tess__segw *w, const tess__batch *b, tess__err *err)
{
    size_t n = b->nrows;
    if (!n) return TESS_OK;
    chunk_ref *crs = tess__calloc(w->ncols + 1, sizeof(chunk_ref));
    if (!crs) return w_nomem(w, err);
    int rc = TESS_OK;
    for (size_t c = 0; c <= w->ncols; c++) {
        w->raw.len = 0;
        int e = c < w->ncols ? encode_col(&w->raw, b->cols[c].type, b->cols[c].nulls,
                                          b->cols[c].data, n)
                             : encode_col(&w->raw, TESS_T_INT64, NULL, b->seq, n);
        if (e == TESS_EINVAL) {
            w->failed = true;
            rc = tess__err_set(err, TESS_EINVAL, "%s: a string of column \"%s\" is over 4 GB",
                               w->display, w->src->schema[c].name);
            goto out;
        }
        if (e || w->raw.len > MAX_CHUNK_RAW) {
            rc = w_nomem(w, err);
            goto out;
        }
        if ((rc = compress_chunk(w, &crs[c], err))) goto out;
    }
    /* block time range and keys */
    int64_t mn = INT64_MAX, mx = INT64_MIN;
    const tess__col *tc = &b->cols[w->src->ts_col];
    for (size_t i = 0; i < n; i++) {
        if (is_null(tc, i)) continue;
        int64_t t = ((const int64_t *)tc->data)[i];
        if (t < mn) mn = t;
        if (t > mx) mx = t;
    }
    tess__buf_reset(&w->key);
    if (tess__evkey_encode(&w->key, b->cols, w->keys, w->nkeys, 0) != TESS_OK) {
        rc = w_nomem(w, err); /* keys are never null in a layout: only memory can fail here */
        goto out;
    }
    size_t first_n = w->key.len;
    if (tess__evkey_encode(&w->key, b->cols, w->keys, w->nkeys, n - 1) != TESS_OK) {
        rc = w_nomem(w, err);
        goto out;
    }
    size_t last_n = w->key.len - first_n;
    if (bytes_reserve(&w->index, 4 + 16 + 8 + first_n + last_n + (w->ncols + 1) * 24)) {
        rc = w_nomem(w, err);
        goto out;
    }
    put_u32(&w->index, (uint32_t)n);
    put_u64(&w->index, (uint64_t)mn);
    put_u64(&w->index, (uint64_t)mx);
    put_u32(&w->index, (uint32_t)first_n);
    put(&w->index, w->key.p, first_n);
    put_u32(&w->index, (uint32_t)last_n);
    put(&w->index, w->key.p + first_n, last_n);
    for (size_t c = 0; c <= w->ncols; c++) {
        put_u64(&w->index, crs[c].off);
        put_u32(&w->index, crs[c].clen);
        put_u32(&w->index, crs[c].rawlen);
        put_u64(&w->index, crs[c].sum);
    }
    if (mn < w->min_ts) w->min_ts = mn;
    if (mx > w->max_ts) w->max_ts = mx;
    w->rows += n;
    w->nblocks++;
    if (b == &w->blk) tess__batch_reset(&w->blk);
    if (w->out.len >= FLUSH_BYTES) rc = w_flush(w, err);
out:
    tess__free(crs);
    return rc;
}

int tess__segw_add(tess__segw *w, const tess__batch *const *chunks, const uint32_t *ref, size_t n,
                   tess__err *err)
{
    if (w->failed) return tess__err_set(err, TESS_EINVAL, "%s: writer failed before", w->display);
    size_t done = 0;
    while (done < n) {
        if (!ref && w->blk.nrows == 0 && n - done >= TESS__SEG_BLOCK_ROWS) {
            /* a whole block of the caller's: encoded where it is, without a copy */
            const tess__batch *s = chunks[0];
            tess__batch v = *s;
            v.cols = w->view;
            v.nrows = TESS__SEG_BLOCK_ROWS;
            for (size_t c = 0; c < w->ncols; c++) {
                v.cols[c] = s->cols[c];
                if (v.cols[c].nulls) v.cols[c].nulls += done;
                v.cols[c].data = (char *)v.cols[c].data + done * tess__type_width(v.cols[c].type);
            }
            v.seq = s->seq ? s->seq + done : NULL;
            int rc = write_block(w, &v, err);
            if (rc) return rc;
            done += TESS__SEG_BLOCK_ROWS;
            continue;
        }
        size_t room = TESS__SEG_BLOCK_ROWS - w->blk.nrows;
        size_t k = n - done < room ? n - done : room;
        if (tess__batch_reserve(&w->blk, w->blk.nrows + k)) return w_nomem(w, err);
        int rc = ref ? tess__batch_gather(&w->blk, chunks, ref + done, k)
                     : tess__batch_append(&w->blk, chunks[0], done, k, NULL);
        if (rc) return w_nomem(w, err);
        done += k;
        if (w->blk.nrows == TESS__SEG_BLOCK_ROWS && (rc = write_block(w, &w->blk, err))) return rc;
    }
    return TESS_OK;
}

int tess__segw_add_block(tess__segw *w, const tess__batch *b, tess__err *err)
{
    if (w->failed) return tess__err_set(err, TESS_EINVAL, "%s: writer failed before", w->display);
    if (w->blk.nrows || b->nrows > TESS__SEG_BLOCK_ROWS)
        return tess__segw_add(w, &b, NULL, b->nrows, err);
    return b->nrows ? write_block(w, b, err) : TESS_OK;
}

int tess__segw_finish(tess__segw *w, tess__seginfo *info, tess__err *err)
{
    int rc = TESS_OK;
    bytes f = {0};
    if (w->failed) {
        rc = tess__err_set(err, TESS_EINVAL, "%s: writer failed before", w->display);
        goto fail;
    }
    if ((rc = write_block(w, &w->blk, err))) goto fail;
    size_t fixed = 4 + 4 + 4 + 8 + 8 + 8 + 8 + 4 + 4;
    for (size_t c = 0; c < w->ncols; c++) fixed += 3 + strlen(w->src->schema[c].name);
    fixed += 4 * w->nkeys;
    if (bytes_reserve(&f, fixed + w->index.len + SEG_TRAILER)) {
        rc = w_nomem(w, err);
        goto fail;
    }
    put_u32(&f, SEG_VERSION);
    put_u32(&f, (uint32_t)w->ncols);
    for (size_t c = 0; c < w->ncols; c++) {
        size_t l = strlen(w->src->schema[c].name);
        put_u8(&f, (uint8_t)w->src->schema[c].type);
        put_u16(&f, (uint16_t)l);
        put(&f, w->src->schema[c].name, l);
    }
    put_u32(&f, (uint32_t)w->nkeys);
    for (size_t k = 0; k < w->nkeys; k++) put_u32(&f, (uint32_t)w->keys[k]);
    put_u32(&f, (uint32_t)w->src->ts_col);
    put_u32(&f, (uint32_t)(int32_t)w->src->created_col);
    put_u64(&f, w->rows);
    put_u64(&f, (uint64_t)w->min_ts);
    put_u64(&f, (uint64_t)w->max_ts);
    put_u32(&f, w->nblocks);
    put(&f, w->index.p, w->index.len);
    uint64_t foff = w->off + w->out.len, flen = f.len;
    uint64_t fsum = XXH3_64bits(f.p, f.len);
    put_u64(&f, foff);
    put_u64(&f, flen);
    put_u64(&f, fsum);
    put(&f, SEG_END_MAGIC, 8);
    if ((rc = w_flush(w, err))) goto fail;
    if (write_all(w->fd, f.p, f.len)) {
        rc = w_io(w, err, "write");
        goto fail;
    }
    w->off += f.len;
    if (!w->nosync && tess__io_fsync(w->fd)) {
        rc = w_io(w, err, "fsync");
        goto fail;
    }
    int fd = w->fd;
    w->fd = -1;
    if (close(fd)) {
        rc = w_io(w, err, "close");
        goto fail;
    }
    if (info) {
        info->rows = w->rows;
        info->min_ts = w->min_ts;
        info->max_ts = w->max_ts;
        info->bytes = w->off;
        info->nblocks = w->nblocks;
    }
    bytes_release(&f);
    /* success: free the writer but keep the file */
    tess__free(w->path);
    w->path = NULL;
    tess__segw_abort(w);
    return TESS_OK;
fail:
    bytes_release(&f);
    tess__segw_abort(w);
    return rc;
}

void tess__segw_set_sync(tess__segw *w, bool sync)
{
    w->nosync = !sync;
}

void tess__segw_abort(tess__segw *w)
{
    if (!w) return;
    if (w->fd >= 0) close(w->fd);
    if (w->path && w->created) unlink(w->path); /* NULL after a successful finish */
    tess__free(w->path);
    tess__free(w->display);
    tess__free(w->keys);
    tess__free(w->view);
    tess__batch_release(&w->blk);
    bytes_release(&w->out);
    bytes_release(&w->raw);
    bytes_release(&w->index);
    tess__buf_release(&w->key);
    ZSTD_freeCCtx(w->cctx);
    tess__free(w);
}

/* ---- reader --------------------------------------------------------------------------------- */

struct tess__segr {
    int fd;
    char *display;
    const tess__source *src;
    size_t ncols;
    uint64_t rows;
    uint32_t nblocks;
    tess__segblock *blocks;
    chunk_ref *chunks; /* nblocks x (ncols + 1) */
    uint8_t *footer;   /* the blocks' keys point into it */
    ZSTD_DCtx *dctx;
    bytes cbuf, rbuf;
    uint64_t blocks_read;
    /* an in-memory segment (tess__segr_open_mem): its blocks, and what owns them */
    const tess__batch *mem;
    void (*release)(void *);
    void *owner;
    bool *skip;
};

static int r_bad(tess__segr *r, tess__err *err, const char *what)
{
    return tess__err_set(err, TESS_EIO, "%s: damaged segment: %s", r->display, what);
}

int tess__segr_open(const char *path, const char *display, const tess__source *src,
                    const size_t *keys, size_t nkeys, tess__segr **out, tess__err *err)
{
    *out = NULL;
    int rc = TESS_OK;
    tess__segr *r = tess__calloc(1, sizeof(*r));
    if (!r) return tess__err_set(err, TESS_ENOMEM, "out of memory");
    r->fd = -1;
    r->src = src;
    r->ncols = src->nschema;
    r->display = tess__strdup(display ? display : path);
    r->dctx = ZSTD_createDCtx_advanced(z_mem);
    if (!r->display || !r->dctx) goto nomem;
    r->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (r->fd < 0) {
        rc = tess__err_set(err, errno == ENOENT ? TESS_NOTFOUND : TESS_EIO, "%s: cannot open: %s",
                           r->display, strerror(errno));
        goto fail;
    }
    struct stat st;
    if (fstat(r->fd, &st)) {
        rc = tess__err_set(err, TESS_EIO, "%s: stat: %s", r->display, strerror(errno));
        goto fail;
    }
    uint64_t size = (uint64_t)st.st_size;
    uint8_t head[SEG_HEADER], tail[SEG_TRAILER];
    if (size < SEG_HEADER + SEG_TRAILER || pread_all(r->fd, head, SEG_HEADER, 0) ||
        pread_all(r->fd, tail, SEG_TRAILER, size - SEG_TRAILER) ||
        memcmp(head, SEG_MAGIC, 8) != 0 || memcmp(tail + 24, SEG_END_MAGIC, 8) != 0) {
        rc = tess__err_set(err, TESS_EIO, "%s: not a segment file (bad magic or truncated)",
                           r->display);
        goto fail;
    }
    uint32_t ver;
    memcpy(&ver, head + 8, 4);
    if (ver != SEG_VERSION) {
        rc = tess__err_set(err, TESS_EIO, "%s: segment format version %u is not supported (%u is)",
                           r->display, ver, SEG_VERSION);
        goto fail;
    }
    uint64_t foff, flen, fsum;
    memcpy(&foff, tail, 8);
    memcpy(&flen, tail + 8, 8);
    memcpy(&fsum, tail + 16, 8);
    if (flen > MAX_FOOTER || foff < SEG_HEADER || foff + flen != size - SEG_TRAILER) {
        rc = r_bad(r, err, "footer position");
        goto fail;
    }
    r->footer = tess__malloc(flen ? flen : 1);
    if (!r->footer) goto nomem;
    if (pread_all(r->fd, r->footer, flen, foff)) {
        rc = tess__err_set(err, TESS_EIO, "%s: read: %s", r->display, strerror(errno));
        goto fail;
    }
    if (XXH3_64bits(r->footer, flen) != fsum) {
        rc = tess__err_set(err, TESS_EIO, "%s: footer checksum mismatch", r->display);
        goto fail;
    }
    tess__cur c = tess__cur_init(r->footer, flen);
    if (tess__cur_u32(&c) != SEG_VERSION) {
        rc = r_bad(r, err, "footer version");
        goto fail;
    }
    uint32_t ncols = tess__cur_u32(&c);
    if (c.bad) {
        rc = r_bad(r, err, "footer");
        goto fail;
    }
    if (ncols != r->ncols) {
        rc = tess__err_set(err, TESS_EIO,
                           "%s: schema mismatch: the file has %u columns, source \"%s\" has %zu",
                           r->display, ncols, src->name, r->ncols);
        goto fail;
    }
    for (size_t i = 0; i < ncols; i++) {
        uint8_t t = tess__cur_u8(&c);
        uint16_t l = tess__cur_u16(&c);
        const uint8_t *name = tess__cur_take(&c, l);
        if (!name) {
            rc = r_bad(r, err, "footer schema");
            goto fail;
        }
        const tess__column *sc = &src->schema[i];
        if (strlen(sc->name) != l || memcmp(sc->name, name, l) != 0 || t != (uint8_t)sc->type) {
            rc = tess__err_set(
                err, TESS_EIO,
                "%s: schema mismatch: column %zu is \"%.*s\" %s in the file, \"%s\" %s in source "
                "\"%s\"",
                r->display, i + 1, (int)l, (const char *)name,
                t < TESS_T__COUNT ? tess__type_name((tess__type)t) : "(unknown type)", sc->name,
                tess__type_name(sc->type), src->name);
            goto fail;
        }
    }
    uint32_t fk = tess__cur_u32(&c);
    bool keys_ok = !c.bad && fk == nkeys;
    for (size_t k = 0; k < fk && !c.bad; k++) {
        uint32_t col = tess__cur_u32(&c);
        if (keys_ok && col != keys[k]) keys_ok = false;
    }
    if (c.bad) {
        rc = r_bad(r, err, "footer keys");
        goto fail;
    }
    if (!keys_ok) {
        rc = tess__err_set(err, TESS_EIO, "%s: the file's key columns are not the layout's",
                           r->display);
        goto fail;
    }
    uint32_t tsc = tess__cur_u32(&c);
    int32_t cc = (int32_t)tess__cur_u32(&c);
    if (!c.bad && (tsc != src->ts_col || cc != (int32_t)src->created_col)) {
        rc = tess__err_set(err, TESS_EIO,
                           "%s: schema mismatch: the file's timestamp columns are not source "
                           "\"%s\"'s",
                           r->display, src->name);
        goto fail;
    }
    r->rows = tess__cur_u64(&c);
    tess__cur_u64(&c);
    tess__cur_u64(&c);
    r->nblocks = tess__cur_u32(&c);
    if (c.bad || r->nblocks > flen / 4) {
        rc = r_bad(r, err, "footer");
        goto fail;
    }
    r->blocks = tess__calloc(r->nblocks ? r->nblocks : 1, sizeof(tess__segblock));
    r->chunks = tess__calloc((size_t)(r->nblocks ? r->nblocks : 1) * (r->ncols + 1),
                             sizeof(chunk_ref));
    if (!r->blocks || !r->chunks) goto nomem;
    uint64_t total = 0, prev_end = SEG_HEADER;
    for (size_t b = 0; b < r->nblocks; b++) {
        tess__segblock *blk = &r->blocks[b];
        blk->nrows = tess__cur_u32(&c);
        blk->min_ts = (int64_t)tess__cur_u64(&c);
        blk->max_ts = (int64_t)tess__cur_u64(&c);
        blk->first_n = tess__cur_u32(&c);
        blk->first = tess__cur_take(&c, blk->first_n);
        blk->last_n = tess__cur_u32(&c);
        blk->last = tess__cur_take(&c, blk->last_n);
        if (c.bad || blk->nrows == 0 || blk->nrows > TESS__SEG_BLOCK_ROWS) {
            rc = r_bad(r, err, "block index");
            goto fail;
        }
        total += blk->nrows;
        for (size_t k = 0; k <= r->ncols; k++) {
            chunk_ref *cr = &r->chunks[b * (r->ncols + 1) + k];
            cr->off = tess__cur_u64(&c);
            cr->clen = tess__cur_u32(&c);
            cr->rawlen = tess__cur_u32(&c);
            cr->sum = tess__cur_u64(&c);
            if (c.bad || cr->off != prev_end || cr->off + cr->clen > foff) {
                rc = r_bad(r, err, "block index");
                goto fail;
            }
            prev_end = cr->off + cr->clen;
        }
    }
    if (c.p != c.end || total != r->rows || prev_end != foff) {
        rc = r_bad(r, err, "footer does not add up");
        goto fail;
    }
    *out = r;
    return TESS_OK;
nomem:
    rc = tess__err_set(err, TESS_ENOMEM, "out of memory");
fail:
    tess__segr_close(r);
    return rc;
}

int tess__segr_open_mem(const char *display, const tess__source *src, const size_t *keys,
                        size_t nkeys, const tess__batch *blocks, size_t nblocks,
                        void (*release)(void *), void *owner, tess__segr **out, tess__err *err)
{
    *out = NULL;
    tess__buf kb = TESS__BUF_INIT;
    size_t *koff = NULL;
    tess__segr *r = tess__calloc(1, sizeof(*r));
    if (!r) goto nomem;
    r->fd = -1;
    r->src = src;
    r->ncols = src->nschema;
    r->mem = blocks;
    r->release = release;
    r->owner = owner;
    r->nblocks = (uint32_t)nblocks;
    r->display = tess__strdup(display);
    r->blocks = tess__calloc(nblocks ? nblocks : 1, sizeof(tess__segblock));
    r->skip = tess__calloc(r->ncols ? r->ncols : 1, sizeof(bool));
    koff = tess__calloc(2 * nblocks + 1, sizeof(size_t));
    if (!r->display || !r->blocks || !r->skip || !koff) goto nomem;
    for (size_t b = 0; b < nblocks; b++) {
        const tess__batch *bl = &blocks[b];
        tess__segblock *sb = &r->blocks[b];
        assert(bl->nrows > 0 && bl->nrows <= TESS__SEG_BLOCK_ROWS);
        sb->nrows = (uint32_t)bl->nrows;
        sb->min_ts = INT64_MAX;
        sb->max_ts = INT64_MIN;
        const tess__col *tc = &bl->cols[src->ts_col];
        for (size_t i = 0; i < bl->nrows; i++) {
            if (is_null(tc, i)) continue;
            int64_t v = ((const int64_t *)tc->data)[i];
            if (v < sb->min_ts) sb->min_ts = v;
            if (v > sb->max_ts) sb->max_ts = v;
        }
        r->rows += bl->nrows;
        koff[2 * b] = kb.len;
        if (tess__evkey_encode(&kb, bl->cols, keys, nkeys, 0) == TESS_ENOMEM) goto nomem;
        koff[2 * b + 1] = kb.len;
        if (tess__evkey_encode(&kb, bl->cols, keys, nkeys, bl->nrows - 1) == TESS_ENOMEM)
            goto nomem;
    }
    koff[2 * nblocks] = kb.len;
    r->footer = (uint8_t *)tess__buf_take(&kb); /* the keys; NULL when there are none */
    if (nblocks && !r->footer) goto nomem;
    for (size_t b = 0; b < nblocks; b++) {
        tess__segblock *sb = &r->blocks[b];
        sb->first = r->footer + koff[2 * b];
        sb->first_n = koff[2 * b + 1] - koff[2 * b];
        sb->last = r->footer + koff[2 * b + 1];
        sb->last_n = koff[2 * b + 2] - koff[2 * b + 1];
    }
    tess__free(koff);
    *out = r;
    return TESS_OK;
nomem:
    tess__buf_release(&kb);
    tess__free(koff);
    if (r) tess__segr_close(r);
    else if (release) release(owner);
    return tess__err_set(err, TESS_ENOMEM, "out of memory");
}

void tess__segr_close(tess__segr *r)
{
    if (!r) return;
    if (r->release) r->release(r->owner);
    tess__free(r->skip);
    if (r->fd >= 0) close(r->fd);
    tess__free(r->display);
    tess__free(r->blocks);
    tess__free(r->chunks);
    tess__free(r->footer);
    ZSTD_freeDCtx(r->dctx);
    bytes_release(&r->cbuf);
    bytes_release(&r->rbuf);
    tess__free(r);
}

size_t tess__segr_nblocks(const tess__segr *r)
{
    return r->nblocks;
}

uint64_t tess__segr_rows(const tess__segr *r)
{
    return r->rows;
}

uint64_t tess__segr_blocks_read(const tess__segr *r)
{
    return r->blocks_read;
}

const tess__segblock *tess__segr_block(const tess__segr *r, size_t i)
{
    return &r->blocks[i];
}

static int keycmp(const uint8_t *a, size_t an, const void *b, size_t bn)
{
    size_t n = an < bn ? an : bn;
    int c = n ? memcmp(a, b, n) : 0;
    if (c) return c;
    return (an > bn) - (an < bn);
}

void tess__segr_find(const tess__segr *r, const void *key, size_t n, size_t *lo, size_t *hi)
{
    /* lo: first block whose last key >= key; hi: first block whose first key > key */
    size_t a = 0, b = r->nblocks;
    while (a < b) {
        size_t m = a + (b - a) / 2;
        if (keycmp(r->blocks[m].last, r->blocks[m].last_n, key, n) < 0) a = m + 1;
        else b = m;
    }
    *lo = a;
    b = r->nblocks;
    while (a < b) {
        size_t m = a + (b - a) / 2;
        if (keycmp(r->blocks[m].first, r->blocks[m].first_n, key, n) <= 0) a = m + 1;
        else b = m;
    }
    *hi = a;
}

int tess__segr_read_block(tess__segr *r, size_t bi, const bool *want, tess__batch *b, tess__err *err)
{
    tess__batch_reset(b);
    if (bi >= r->nblocks) return tess__err_set(err, TESS_EINVAL, "%s: no block %zu", r->display, bi);
    size_t n = r->blocks[bi].nrows;
    if (tess__batch_reserve(b, n)) return tess__err_set(err, TESS_ENOMEM, "out of memory");
    int rc = TESS_OK;
    if (r->mem) { /* in memory: a copy, unwanted columns null */
        for (size_t c = 0; c < r->ncols; c++) r->skip[c] = want && !want[c];
        if (tess__batch_append(b, &r->mem[bi], 0, n, r->skip)) goto nomem;
        for (size_t c = 0; c < r->ncols; c++) {
            if (!r->skip[c]) continue;
            memset(b->cols[c].nulls, 1, n);
            memset(b->cols[c].data, 0, n * tess__type_width(b->cols[c].type));
        }
        r->blocks_read++;
        return TESS_OK;
    }
    for (size_t c = 0; c <= r->ncols; c++) {
        tess__col *col = c < r->ncols ? &b->cols[c] : NULL;
        if (col && want && !want[c]) {
            memset(col->nulls, 1, n);
            memset(col->data, 0, n * tess__type_width(col->type));
            continue;
        }
        const chunk_ref *cr = &r->chunks[bi * (r->ncols + 1) + c];
        const char *cname = c < r->ncols ? r->src->schema[c].name : "seq";
        r->cbuf.len = 0;
        if (bytes_reserve(&r->cbuf, cr->clen)) goto nomem;
        if (pread_all(r->fd, r->cbuf.p, cr->clen, cr->off)) {
            rc = tess__err_set(err, TESS_EIO, "%s: block %zu column %zu (%s): read: %s", r->display,
                               bi, c, cname, strerror(errno));
            goto fail;
        }
        if (XXH3_64bits(r->cbuf.p, cr->clen) != cr->sum) {
            rc = tess__err_set(err, TESS_EIO, "%s: block %zu column %zu (%s): checksum mismatch",
                               r->display, bi, c, cname);
            goto fail;
        }
        tess__type t = col ? col->type : TESS_T_INT64;
        /* The raw length comes from the footer: before allocating it, check that the block's
         * rows need no more (fixed-width columns) and that the compressed bytes can hold that
         * much (zstd's bound from the frame's own block headers), so that a damaged footer
         * cannot make a reader allocate gigabytes. */
        unsigned long long zb = ZSTD_decompressBound(r->cbuf.p, cr->clen);
        if (zb == ZSTD_CONTENTSIZE_ERROR || cr->rawlen > zb ||
            (t != TESS_T_STRING && cr->rawlen > raw_max(t, n))) {
            rc = tess__err_set(err, TESS_EIO,
                               "%s: block %zu column %zu (%s): malformed contents (%u bytes "
                               "uncompressed in the index: more than the chunk can hold)",
                               r->display, bi, c, cname, cr->rawlen);
            goto fail;
        }
        uint8_t *raw;
        if (t == TESS_T_STRING) {
            raw = tess__arena_alloc(&b->arena, (size_t)cr->rawlen + 8);
            if (!raw) goto nomem;
        } else {
            r->rbuf.len = 0;
            if (bytes_reserve(&r->rbuf, (size_t)cr->rawlen + 8)) goto nomem;
            raw = r->rbuf.p;
        }
        memset(raw + cr->rawlen, 0, 8);
        size_t z = ZSTD_decompressDCtx(r->dctx, raw, cr->rawlen, r->cbuf.p, cr->clen);
        if (ZSTD_isError(z)) {
            if (ZSTD_getErrorCode(z) == ZSTD_error_memory_allocation) goto nomem;
            rc = tess__err_set(err, TESS_EIO, "%s: block %zu column %zu (%s): cannot decompress: %s",
                               r->display, bi, c, cname, ZSTD_getErrorName(z));
            goto fail;
        }
        if (z != cr->rawlen ||
            !decode_col(raw, z, t, n, col ? col->nulls : NULL, col ? col->data : (void *)b->seq)) {
            rc = tess__err_set(err, TESS_EIO, "%s: block %zu column %zu (%s): malformed contents",
                               r->display, bi, c, cname);
            goto fail;
        }
    }
    b->nrows = n;
    r->blocks_read++;
    return TESS_OK;
nomem:
    rc = tess__err_set(err, TESS_ENOMEM, "out of memory");
fail:
    tess__batch_reset(b);
    return rc;
}
