/* fuzz_segment.c — the segment reader (src/offline/segment.h): trailer, footer, block index,
 * chunk decompression and column decoding, against FUZZ_SCHEMA with layout key user_id.
 *
 * Checksums would stop a fuzzer at the first byte it changes, so the harness makes them right
 * (the checksum checks themselves are covered by tests/unit/test_evstore.c). The first input
 * byte picks the form of the rest:
 *   even  a segment file as written; the chunk and footer checksums are recomputed when the
 *         footer can be walked;
 *   odd   a segment file whose chunks are stored uncompressed: the harness compresses each
 *         (zstd), fixes offsets, lengths and checksums, so mutations reach the column decoders.
 * Then every block is read (all columns, then every other column) and looked up by its keys.
 */
#include <zstd.h>
#include <xxhash.h>

#include "core/err.h"
#include "offline/segment.h"
#include "fuzz.h"
#include "tessera.h"

typedef struct walker {
    const uint8_t *p, *end;
    int bad;
} walker;

static const uint8_t *take(walker *w, size_t n)
{
    if (w->bad || (size_t)(w->end - w->p) < n) {
        w->bad = 1;
        return NULL;
    }
    const uint8_t *q = w->p;
    w->p += n;
    return q;
}
static uint32_t w32(walker *w)
{
    const uint8_t *q = take(w, 4);
    return q ? fuzz_get32(q) : 0;
}

/* The chunk index entries inside a footer: offsets (into the footer) of each entry's
 * (u64 off, u32 clen, u32 rawlen, u64 sum). Returns the number of entries, or -1. */
static long chunk_entries(uint8_t *footer, size_t flen, size_t **where)
{
    walker w = {footer, footer + flen, 0};
    w32(&w); /* version */
    uint32_t ncols = w32(&w);
    if (w.bad || ncols > 64) return -1;
    for (uint32_t i = 0; i < ncols; i++) {
        take(&w, 1);
        const uint8_t *l = take(&w, 2);
        if (!l) return -1;
        take(&w, (size_t)l[0] | (size_t)l[1] << 8);
    }
    uint32_t nkeys = w32(&w);
    if (w.bad || nkeys > 64) return -1;
    take(&w, 4 * (size_t)nkeys + 8 + 24);
    uint32_t nblocks = w32(&w);
    if (w.bad || nblocks > flen) return -1;
    size_t n = (size_t)nblocks * (ncols + 1);
    *where = malloc((n ? n : 1) * sizeof(size_t));
    size_t k = 0;
    for (uint32_t b = 0; b < nblocks && !w.bad; b++) {
        take(&w, 4 + 16);
        take(&w, w32(&w));
        take(&w, w32(&w));
        for (uint32_t c = 0; c <= ncols && !w.bad; c++) {
            const uint8_t *e = take(&w, 24);
            if (e) (*where)[k++] = (size_t)(e - footer);
        }
    }
    if (w.bad) {
        free(*where);
        *where = NULL;
        return -1;
    }
    return (long)k;
}

/* Builds the file to read into *out (malloc'd). */
static size_t build(const uint8_t *in, size_t n, int raw_chunks, uint8_t **out)
{
    *out = malloc(n ? n : 1);
    memcpy(*out, in, n);
    if (n < 16 + 32) return n;
    uint64_t foff = fuzz_get64(in + n - 32), flen = fuzz_get64(in + n - 24);
    if (foff < 16 || flen > n - 32 || foff != n - 32 - flen) return n;
    uint8_t *footer = malloc(flen ? flen : 1);
    memcpy(footer, in + foff, flen);
    size_t *ent = NULL;
    long ne = chunk_entries(footer, flen, &ent);
    if (ne < 0) {
        free(footer);
        return n;
    }
    if (!raw_chunks) {
        for (long i = 0; i < ne; i++) {
            uint8_t *e = footer + ent[i];
            uint64_t off = fuzz_get64(e);
            uint32_t clen = fuzz_get32(e + 8);
            if (off <= foff && clen <= foff - off) fuzz_put64(e + 16, XXH3_64bits(in + off, clen));
        }
        memcpy(*out + foff, footer, flen);
        fuzz_put64(*out + n - 16, XXH3_64bits(footer, flen));
    } else {
        /* compress each chunk, in index order, laying them out after the header */
        size_t cap = 16 + 32 + flen, len = 16;
        for (long i = 0; i < ne; i++) {
            uint32_t clen = fuzz_get32(footer + ent[i] + 8);
            cap += ZSTD_compressBound(clen < n ? clen : n);
        }
        uint8_t *o = malloc(cap);
        memcpy(o, in, 16);
        for (long i = 0; i < ne; i++) {
            uint8_t *e = footer + ent[i];
            uint64_t off = fuzz_get64(e);
            uint32_t clen = fuzz_get32(e + 8);
            if (off > foff || clen > foff - off) { /* out of range: keep the fuzzed entry */
                continue;
            }
            size_t z = ZSTD_compress(o + len, cap - len, in + off, clen, 1);
            if (ZSTD_isError(z)) abort();
            fuzz_put64(e, len);
            memcpy(e + 8, &(uint32_t){(uint32_t)z}, 4);
            memcpy(e + 12, &clen, 4);
            fuzz_put64(e + 16, XXH3_64bits(o + len, z));
            len += z;
        }
        memcpy(o + len, footer, flen);
        uint64_t nfoff = len;
        len += flen;
        fuzz_put64(o + len, nfoff);
        fuzz_put64(o + len + 8, flen);
        fuzz_put64(o + len + 16, XXH3_64bits(footer, flen));
        memcpy(o + len + 24, in + n - 8, 8);
        len += 32;
        free(*out);
        *out = o;
        n = len;
    }
    free(ent);
    free(footer);
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    uint8_t *file;
    size_t n = build(data + 1, size - 1, data[0] & 1, &file);
    const char *path = fuzz_file("in.seg", file, n);
    free(file);

    tess__source src = fuzz_source(TESS_FORMAT_CSV);
    static const size_t keys[1] = {0};
    tess__err err = TESS__ERR_INIT;
    tess__segr *r = NULL;
    int rc = tess__segr_open(path, "in.seg", &src, keys, 1, &r, &err);
    if (rc != TESS_OK) {
        fuzz_debug("open", rc, tess__err_msg(&err));
        if (r || !tess__err_msg(&err)[0]) abort();
        tess__err_release(&err);
        return 0;
    }
    tess__batch b;
    if (tess__batch_init(&b, FUZZ_TYPES, FUZZ_NCOLS, 16) != TESS_OK) abort();
    size_t nb = tess__segr_nblocks(r);
    uint64_t rows = 0;
    for (size_t i = 0; i < nb; i++) {
        const tess__segblock *blk = tess__segr_block(r, i);
        tess__err_clear(&err);
        rc = tess__segr_read_block(r, i, NULL, &b, &err);
        if (rc == TESS_OK) {
            if (b.nrows != blk->nrows) abort();
            rows += b.nrows;
        } else if (fuzz_debug("read", rc, tess__err_msg(&err)),
                   b.nrows != 0 || !tess__err_msg(&err)[0]) {
            abort();
        }
        static const bool want[FUZZ_NCOLS] = {true, false, true, false, true, false};
        tess__err_clear(&err);
        rc = tess__segr_read_block(r, i, want, &b, &err);
        if (rc == TESS_OK && b.nrows != blk->nrows) abort();
        size_t lo, hi;
        tess__segr_find(r, blk->first, blk->first_n, &lo, &hi);
        if (lo > hi || hi > nb) abort();
        tess__segr_find(r, blk->last, blk->last_n, &lo, &hi);
        if (lo > hi || hi > nb) abort();
    }
    (void)rows;
    tess__batch_release(&b);
    tess__segr_close(r);
    tess__err_release(&err);
    return 0;
}
