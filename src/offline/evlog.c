/* evlog.c — the push log of a source: pushed rows not yet folded into segments.
 *
 * A push (tess__evstore_append) does not write a segment and a manifest: it appends one
 * *frame* (the group's rows and their ingest numbers) to the log <source>/<n>.log named by the
 * MANIFEST and fdatasyncs it. Scans and stats merge the log's rows (sorted in memory) with the
 * segments; a later commit folds them into segments (evstore.c). docs/offline.md, "Push log".
 *
 * Frame layout (integers little-endian):
 *
 *   header  u32 magic "TPL1"; u32 body length; u64 log number; u32 first ingest number;
 *           u32 batches; u32 rows; u32 0                                             32 bytes
 *   body    u32 rows of each batch;
 *           per schema column: u8 flags (bit 0: a null byte per row follows), [rows bytes,
 *           1 = null], the values: int64, timestamp, float64 as rows x 8 bytes; bool rows x 1;
 *           string rows x u32 length then the bytes (null values: 0, length 0)
 *   trailer u64 XXH3-64 of the header and the body                                    8 bytes
 *
 * Batch i of a frame has ingest number first + i, and its row r the seq (ingest << 32) | r.
 * Frames follow each other from offset 0 with consecutive ingest numbers; the first frame of
 * log n starts at the manifest's next ingest number.
 *
 * Reading: frames are taken while they are complete and valid. The first invalid one is the
 * *torn tail* of a crashed append (ignored here, cut by the next writer) if no valid frame
 * follows it anywhere in the file; if one does, the log is damaged (TESS_EIO): bytes in the
 * middle of a log are never skipped silently. Writers append a frame only after the previous
 * one is complete, so a reader (which reads the bytes below the file size it saw) never sees
 * an incomplete frame followed by a complete one.
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "core/alloc.h"
#include "offline/evstore_int.h"
#include "tessera.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "evlog.c stores integers little-endian with memcpy: a big-endian port must swap bytes"
#endif

#define LOG_MAGIC 0x314c5054u /* "TPL1" */
#define HDR 32u
#define TRAILER 8u
/* a log larger than this is not read (the writers keep it under TESS__EV_LOG_MAX_BYTES) */
#define LOG_READ_MAX ((uint64_t)1 << 31)


/* ---- encoding ------------------------------------------------------------------------------- */

static inline bool null_at(const tess__col *c, size_t i)
{
    return c->nulls && c->nulls[i];
}

static inline uint8_t *put32(uint8_t *q, uint64_t v)
{
    uint32_t x = (uint32_t)v;
    memcpy(q, &x, 4);
    return q + 4;
}

static inline uint32_t get32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* Whether column c has a null in any row of the batches. */
static bool any_null(tess__batch *const *batches, size_t n, size_t c)
{
    for (size_t i = 0; i < n; i++) {
        const tess__col *col = &batches[i]->cols[c];
        for (size_t r = 0; col->nulls && r < batches[i]->nrows; r++)
            if (col->nulls[r]) return true;
    }
    return false;
}

int tess__evlog_frame(uint64_t log, uint32_t first_ingest, tess__batch *const *batches, size_t n,
                      size_t ncols, uint8_t **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    uint64_t rows = 0, size = HDR + TRAILER + 4 * (uint64_t)n;
    for (size_t i = 0; i < n; i++) rows += batches[i]->nrows;
    bool *nulls = tess__calloc(ncols ? ncols : 1, sizeof(bool));
    if (!nulls) return TESS_ENOMEM;
    for (size_t c = 0; c < ncols; c++) {
        nulls[c] = any_null(batches, n, c);
        size += 1 + (nulls[c] ? rows : 0);
        tess__type t = n ? batches[0]->cols[c].type : TESS_T_INT64;
        if (t == TESS_T_STRING) {
            size += 4 * rows;
            for (size_t i = 0; i < n; i++) {
                const tess__col *col = &batches[i]->cols[c];
                for (size_t r = 0; r < batches[i]->nrows; r++)
                    if (!null_at(col, r)) size += ((const tess__str *)col->data)[r].n;
            }
        } else {
            size += rows * (t == TESS_T_BOOL ? 1 : 8);
        }
    }
    if (n == 0 || n > UINT32_MAX || rows > UINT32_MAX || size - HDR - TRAILER > UINT32_MAX) {
        tess__free(nulls);
        return TESS_EINVAL;
    }
    uint8_t *p = tess__malloc((size_t)size), *q = p + HDR;
    if (!p) {
        tess__free(nulls);
        return TESS_ENOMEM;
    }
    put32(p, LOG_MAGIC);
    put32(p + 4, size - HDR - TRAILER);
    memcpy(p + 8, &log, 8);
    put32(p + 16, first_ingest);
    put32(p + 20, n);
    put32(p + 24, rows);
    put32(p + 28, 0);
    for (size_t i = 0; i < n; i++) q = put32(q, batches[i]->nrows);
    for (size_t c = 0; c < ncols; c++) {
        *q++ = nulls[c] ? 1 : 0;
        if (nulls[c])
            for (size_t i = 0; i < n; i++)
                for (size_t r = 0; r < batches[i]->nrows; r++)
                    *q++ = null_at(&batches[i]->cols[c], r) ? 1 : 0;
        tess__type t = batches[0]->cols[c].type;
        for (size_t i = 0; i < n; i++) {
            const tess__col *col = &batches[i]->cols[c];
            size_t nr = batches[i]->nrows;
            if (t == TESS_T_BOOL) {
                for (size_t r = 0; r < nr; r++)
                    *q++ = !null_at(col, r) && ((const uint8_t *)col->data)[r] ? 1 : 0;
            } else if (t == TESS_T_STRING) {
                const tess__str *s = col->data;
                for (size_t r = 0; r < nr; r++) q = put32(q, null_at(col, r) ? 0 : s[r].n);
            } else {
                for (size_t r = 0; r < nr; r++, q += 8) {
                    if (null_at(col, r)) memset(q, 0, 8);
                    else memcpy(q, (const char *)col->data + r * 8, 8);
                }
            }
        }
        if (t != TESS_T_STRING) continue;
        for (size_t i = 0; i < n; i++) {
            const tess__col *col = &batches[i]->cols[c];
            const tess__str *s = col->data;
            for (size_t r = 0; r < batches[i]->nrows; r++) {
                if (null_at(col, r) || !s[r].n) continue;
                memcpy(q, s[r].p, s[r].n);
                q += s[r].n;
            }
        }
    }
    tess__free(nulls);
    uint64_t sum = XXH3_64bits(p, (size_t)size - TRAILER);
    memcpy(q, &sum, 8);
    q += 8;
    if ((uint64_t)(q - p) != size) { /* the size and the encoding disagree: a bug */
        tess__free(p);
        return TESS_EINVAL;
    }
    *out = p;
    *len = (size_t)size;
    return TESS_OK;
}

/* ---- decoding ------------------------------------------------------------------------------- */

/*
 * Walks a frame's body: checks that it is exactly what nb batches of `rows` rows of the schema
 * take, and, with dst (room reserved for `rows` more rows), appends the rows to it (strings
 * copied into its arena; seq from first). Returns TESS_OK, TESS_EIO (malformed: only a bug
 * can write one with a valid checksum) or TESS_ENOMEM.
 */
static int walk(const uint8_t *body, size_t blen, uint32_t nb, uint32_t rows, uint32_t first,
                const tess__type *types, size_t ncols, tess__batch *dst)
{
    const uint8_t *p = body, *end = body + blen;
#define NEED(k)                                                                                    \
    do {                                                                                           \
        if ((size_t)(end - p) < (size_t)(k)) return TESS_EIO;                                      \
    } while (0)
    NEED(4 * (size_t)nb);
    uint64_t total = 0;
    size_t at = dst ? dst->nrows : 0;
    for (uint32_t i = 0; i < nb; i++) {
        uint32_t k = get32(p + 4 * (size_t)i);
        if (dst)
            for (uint32_t r = 0; r < k; r++)
                dst->seq[at + total + r] = (int64_t)(((uint64_t)(first + i) << 32) | r);
        total += k;
    }
    if (total != rows) return TESS_EIO;
    p += 4 * (size_t)nb;
    for (size_t c = 0; c < ncols; c++) {
        NEED(1);
        uint8_t flags = *p++;
        if (flags > 1) return TESS_EIO;
        tess__col *col = dst ? &dst->cols[c] : NULL;
        if (flags) {
            NEED(rows);
            for (uint32_t r = 0; r < rows; r++)
                if (p[r] > 1) return TESS_EIO;
            if (col) memcpy(col->nulls + at, p, rows);
            p += rows;
        } else if (col) {
            memset(col->nulls + at, 0, rows);
        }
        if (types[c] == TESS_T_BOOL) {
            NEED(rows);
            if (col) memcpy((uint8_t *)col->data + at, p, rows);
            p += rows;
        } else if (types[c] == TESS_T_STRING) {
            NEED(4 * (size_t)rows);
            const uint8_t *lens = p;
            uint64_t bytes = 0;
            for (uint32_t r = 0; r < rows; r++) bytes += get32(lens + 4 * (size_t)r);
            p += 4 * (size_t)rows;
            NEED(bytes);
            if (col) {
                char *s = bytes ? tess__arena_alloc(&dst->arena, (size_t)bytes) : NULL;
                if (bytes && !s) return TESS_ENOMEM;
                if (bytes) memcpy(s, p, (size_t)bytes);
                tess__str *v = (tess__str *)col->data + at;
                for (uint32_t r = 0; r < rows; r++) {
                    uint32_t n = get32(lens + 4 * (size_t)r);
                    v[r].p = n ? s : "";
                    v[r].n = n;
                    s += n;
                }
            }
            p += bytes;
        } else {
            NEED(8 * (size_t)rows);
            if (col) memcpy((char *)col->data + at * 8, p, 8 * (size_t)rows);
            p += 8 * (size_t)rows;
        }
    }
#undef NEED
    if (p != end) return TESS_EIO;
    if (dst) dst->nrows += rows;
    return TESS_OK;
}

enum { FRAME_OK, FRAME_BAD, FRAME_ORDER };

/* The frame at p (n bytes available): FRAME_OK (*size set), FRAME_BAD (incomplete, damaged),
 * FRAME_ORDER (valid, but its first ingest is not `expect`; expect 0: not checked). */
static int frame_at(const uint8_t *p, uint64_t n, uint64_t log, uint32_t expect,
                    const tess__type *types, size_t ncols, uint64_t *size)
{
    if (n < HDR + TRAILER || get32(p) != LOG_MAGIC) return FRAME_BAD;
    uint64_t blen = get32(p + 4), num;
    memcpy(&num, p + 8, 8);
    if (num != log || get32(p + 28) != 0 || get32(p + 20) == 0 || blen > n - HDR - TRAILER)
        return FRAME_BAD;
    uint64_t sum;
    memcpy(&sum, p + HDR + blen, 8);
    if (XXH3_64bits(p, (size_t)(HDR + blen)) != sum) return FRAME_BAD;
    if (walk(p + HDR, (size_t)blen, get32(p + 20), get32(p + 24), 0, types, ncols, NULL))
        return FRAME_BAD;
    *size = HDR + blen + TRAILER;
    return expect && get32(p + 16) != expect ? FRAME_ORDER : FRAME_OK;
}

static int pread_full(int fd, uint8_t *p, size_t n, uint64_t off, size_t *got)
{
    *got = 0;
    while (*got < n) {
        ssize_t r = pread(fd, p + *got, n - *got, (off_t)(off + *got));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return -1;
        if (r == 0) break; /* the file was cut meanwhile */
        *got += (size_t)r;
    }
    return 0;
}

int tess__evlog_read(int fd, const char *display, uint64_t log, const tess__type *types,
                     size_t ncols, tess__evlog *lg, tess__batch *rows, tess__err *err)
{
    struct stat st;
    if (fstat(fd, &st))
        return tess__err_set(err, TESS_EIO, "%s: stat: %s", display, strerror(errno));
    uint64_t size = (uint64_t)st.st_size;
    lg->size = size;
    if (size < lg->end)
        return tess__err_set(err, TESS_EIO, "%s: damaged push log: %llu bytes, %llu expected",
                             display, (unsigned long long)size, (unsigned long long)lg->end);
    if (size == lg->end) return TESS_OK;
    if (size - lg->end > LOG_READ_MAX)
        return tess__err_set(err, TESS_EIO, "%s: push log too large (%llu bytes)", display,
                             (unsigned long long)size);
    size_t n = (size_t)(size - lg->end), got;
    uint8_t *buf = tess__malloc(n);
    if (!buf) return tess__err_set(err, TESS_ENOMEM, "out of memory");
    int rc = TESS_OK;
    if (pread_full(fd, buf, n, lg->end, &got)) {
        rc = tess__err_set(err, TESS_EIO, "%s: read: %s", display, strerror(errno));
        goto out;
    }
    n = got;
    size_t off = 0;
    while (off < n) {
        uint64_t fsize = 0;
        int f = frame_at(buf + off, n - off, log, lg->next_ingest, types, ncols, &fsize);
        if (f == FRAME_ORDER) {
            rc = tess__err_set(err, TESS_EIO,
                               "%s: damaged push log: the frame at offset %llu has ingest %u, "
                               "%u expected",
                               display, (unsigned long long)(lg->end), get32(buf + off + 16),
                               lg->next_ingest);
            goto out;
        }
        if (f == FRAME_BAD) {
            /* a torn tail, unless a valid frame follows somewhere */
            for (size_t q = off + 1; q + HDR + TRAILER <= n; q++) {
                const uint8_t *m = memchr(buf + q, (int)(LOG_MAGIC & 0xff), n - q);
                if (!m) break;
                q = (size_t)(m - buf);
                uint64_t s2;
                if (frame_at(buf + q, n - q, log, 0, types, ncols, &s2) != FRAME_BAD) {
                    rc = tess__err_set(err, TESS_EIO,
                                       "%s: damaged push log: bad frame at offset %llu",
                                       display, (unsigned long long)lg->end);
                    goto out;
                }
            }
            break;
        }
        uint32_t nb = get32(buf + off + 20), nr = get32(buf + off + 24);
        if (rows) {
            if (tess__batch_reserve(rows, rows->nrows + nr)) {
                rc = tess__err_set(err, TESS_ENOMEM, "out of memory");
                goto out;
            }
            rc = walk(buf + off + HDR, (size_t)(fsize - HDR - TRAILER), nb, nr, lg->next_ingest,
                      types, ncols, rows);
            if (rc) {
                if (rc == TESS_ENOMEM) tess__err_set(err, rc, "out of memory");
                else tess__err_set(err, rc, "%s: damaged push log frame", display);
                goto out;
            }
        }
        off += (size_t)fsize;
        lg->end += fsize;
        lg->next_ingest += nb;
        lg->frames++;
        lg->rows += nr;
    }
out:
    tess__free(buf);
    return rc;
}
