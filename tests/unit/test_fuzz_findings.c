/* test_fuzz_findings.c — what the libFuzzer targets of tests/fuzz/ found (docs/fuzzing.md,
 * "Findings"), each as a regular test that fails without its fix:
 *
 *   - fuzz_orec: a meta record whose list of applied ingests is not ascending (or not above
 *     the watermark) was accepted, and tess__ometa_has, a binary search, then answered wrongly
 *     which ingests the online store holds. Decoding now rejects it as damaged.
 *   - fuzz_segment: a segment footer claiming a chunk of 4 GB uncompressed made the reader
 *     allocate that much before finding out. The claim is now checked first, against the
 *     block's row count (fixed-width columns) and zstd's bound of what the compressed bytes
 *     can hold.
 *   - fuzz_segment: a seq chunk flagged as having nulls (the seq column has none, so no null
 *     array is given) made the decoder write through a NULL pointer: a crash on a damaged
 *     file. It is now malformed contents.
 *   - fuzz_agg: a state decoded with a row count near 2^63, merged (the online store merges
 *     tiles), overflowed the count (undefined behaviour; a negative count in practice).
 *     Decoding now refuses counts above 2^62 and merging saturates there.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>
#include <zstd.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "defs/defs_model.h"
#include "offline/agg.h"
#include "offline/batch.h"
#include "offline/segment.h"
#include "online/meta.h"
#include "tessera.h"

/* ---- meta records --------------------------------------------------------------------------- */

static int decode_meta(uint32_t watermark, const uint32_t *applied, size_t n, char *msg,
                       size_t cap)
{
    /* encoded by hand (the encoder writes whatever it is given) */
    tess__ometa m;
    memset(&m, 0, sizeof m);
    m.present = true;
    m.fingerprint = 77;
    m.watermark = watermark;
    m.napplied = n;
    m.applied = (uint32_t *)applied;
    m.at = 1;
    m.newest = 2;
    tess__buf b = TESS__BUF_INIT;
    assert_int_equal(tess__ometa_encode(&m, &b), TESS_OK);
    tess__arena a = TESS__ARENA_INIT;
    tess__err err = TESS__ERR_INIT;
    tess__ometa d;
    int rc = tess__ometa_decode(b.p, b.len, &d, &a, &err);
    snprintf(msg, cap, "%s", tess__err_msg(&err));
    if (rc == TESS_OK) {
        assert_int_equal(d.napplied, n);
        for (size_t i = 0; i < n; i++) assert_true(tess__ometa_has(&d, applied[i]));
    }
    tess__err_release(&err);
    tess__arena_release(&a);
    tess__buf_release(&b);
    return rc;
}

static void test_meta_applied_order(void **state)
{
    (void)state;
    char msg[256];
    /* what the fuzzer found: watermark 3, applied [517, 9] */
    const uint32_t found[] = {517, 9};
    assert_int_equal(decode_meta(3, found, 2, msg, sizeof msg), TESS_EIO);
    assert_non_null(strstr(msg, "damaged online meta record: applied ingests out of order"));
    /* duplicates, and numbers at or below the watermark */
    const uint32_t dup[] = {5, 5};
    assert_int_equal(decode_meta(3, dup, 2, msg, sizeof msg), TESS_EIO);
    const uint32_t low[] = {3, 9};
    assert_int_equal(decode_meta(3, low, 2, msg, sizeof msg), TESS_EIO);
    /* a proper list still reads */
    const uint32_t ok[] = {5, 9, 1000};
    assert_int_equal(decode_meta(3, ok, 3, msg, sizeof msg), TESS_OK);
    assert_int_equal(decode_meta(3, NULL, 0, msg, sizeof msg), TESS_OK);
}

/* ---- segments ------------------------------------------------------------------------------- */

static const tess__column SCHEMA[] = {
    {"user_id", TESS_T_INT64, {0}},
    {"name", TESS_T_STRING, {0}},
    {"ts", TESS_T_TIMESTAMP, {0}},
};
static const tess__type TYPES[] = {TESS_T_INT64, TESS_T_STRING, TESS_T_TIMESTAMP};

static uint32_t rd32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* Writes a segment of 5 rows, then sets the raw length of chunk `chunk` of block 0 (0: user_id,
 * 1: name, ...) to `rawlen` in the footer, with a correct footer checksum. */
static void write_damaged(const char *path, const tess__source *src, int chunk, uint32_t rawlen)
{
    static const size_t keys[1] = {0};
    tess__batch b;
    assert_int_equal(tess__batch_init(&b, TYPES, 3, 5), TESS_OK);
    for (size_t i = 0; i < 5; i++) {
        ((int64_t *)b.cols[0].data)[i] = (int64_t)i;
        ((tess__str *)b.cols[1].data)[i] = (tess__str){"abc", 3};
        ((int64_t *)b.cols[2].data)[i] = 1710504000000000;
        b.cols[0].nulls[i] = b.cols[1].nulls[i] = b.cols[2].nulls[i] = 0;
        b.seq[i] = (int64_t)i;
    }
    b.nrows = 5;
    tess__segw *w;
    tess__err err = TESS__ERR_INIT;
    const tess__batch *chunks[1] = {&b};
    unlink(path);
    assert_int_equal(tess__segw_open(path, NULL, src, keys, 1, &w, &err), TESS_OK);
    tess__segw_set_sync(w, false);
    assert_int_equal(tess__segw_add(w, chunks, NULL, 5, &err), TESS_OK);
    assert_int_equal(tess__segw_finish(w, NULL, &err), TESS_OK);
    tess__batch_release(&b);

    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    size_t n = (size_t)st.st_size;
    uint8_t *f = malloc(n);
    assert_int_equal(pread(fd, f, n, 0), (ssize_t)n);
    uint64_t foff, flen;
    memcpy(&foff, f + n - 32, 8);
    memcpy(&flen, f + n - 24, 8);
    /* walk the footer to block 0's chunk index (segment.c has the layout) */
    uint8_t *p = f + foff + 4;
    uint32_t ncols = rd32(p);
    p += 4;
    for (uint32_t i = 0; i < ncols; i++) p += 3 + (p[1] | p[2] << 8);
    p += 4 + 4 * rd32(p) + 8 + 24 + 4; /* keys, ts/created, rows/min/max, nblocks */
    p += 20;                           /* block 0: rows, min ts, max ts */
    p += 4 + rd32(p);                  /* first key */
    p += 4 + rd32(p);                  /* last key */
    p += 24 * (size_t)chunk + 12;      /* the chunk's (off, clen, rawlen, sum): rawlen */
    memcpy(p, &rawlen, 4);
    uint64_t sum = XXH3_64bits(f + foff, flen);
    memcpy(f + n - 16, &sum, 8);
    assert_int_equal(pwrite(fd, f, n, 0), (ssize_t)n);
    close(fd);
    free(f);
}

static void test_segment_huge_rawlen(void **state)
{
    (void)state;
    char dir[] = "/tmp/tess-fuzzfind-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof path, "%s/s.seg", dir);
    tess__source src;
    memset(&src, 0, sizeof src);
    src.name = "t";
    src.schema = SCHEMA;
    src.nschema = 3;
    src.ts_col = 2;
    src.created_col = -1;
    static const size_t keys[1] = {0};
    for (int chunk = 0; chunk < 2; chunk++) { /* an int64 column, a string column */
        write_damaged(path, &src, chunk, 0xFFFFFFF0u);
        tess__segr *r;
        tess__err err = TESS__ERR_INIT;
        assert_int_equal(tess__segr_open(path, "s.seg", &src, keys, 1, &r, &err), TESS_OK);
        tess__batch b;
        assert_int_equal(tess__batch_init(&b, TYPES, 3, 5), TESS_OK);
        assert_int_equal(tess__segr_read_block(r, 0, NULL, &b, &err), TESS_EIO);
        assert_int_equal(b.nrows, 0);
        assert_non_null(strstr(tess__err_msg(&err), "malformed contents"));
        assert_non_null(strstr(tess__err_msg(&err), "more than the chunk can hold"));
        tess__batch_release(&b);
        tess__segr_close(r);
        tess__err_release(&err);
    }
    unlink(path);
    rmdir(dir);
}

/* Replaces block 0's seq chunk (the last chunk before the footer) by one whose flags say
 * "has nulls", followed by a null bitmap and the original values; offsets and checksums
 * right. */
static void write_seq_with_nulls(const char *path, const tess__source *src)
{
    write_damaged(path, src, 0, 0); /* a fresh segment; chunk 0's rawlen fixed below */
    int fd = open(path, O_RDWR);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    size_t n = (size_t)st.st_size;
    uint8_t *f = malloc(n);
    assert_int_equal(pread(fd, f, n, 0), (ssize_t)n);
    close(fd);
    uint64_t foff, flen;
    memcpy(&foff, f + n - 32, 8);
    memcpy(&flen, f + n - 24, 8);
    uint8_t *footer = f + foff;
    uint8_t *p = footer + 4;
    uint32_t ncols = rd32(p);
    p += 4;
    for (uint32_t i = 0; i < ncols; i++) p += 3 + (p[1] | p[2] << 8);
    p += 4 + 4 * rd32(p) + 8 + 24 + 4;
    p += 20;
    p += 4 + rd32(p);
    p += 4 + rd32(p);
    uint8_t *e0 = p;                    /* chunk 0: put its true rawlen back */
    uint8_t *e = p + 24 * (size_t)ncols; /* the seq chunk */
    uint64_t off;
    uint32_t clen, rawlen;
    memcpy(&off, e, 8);
    memcpy(&clen, e + 8, 4);
    memcpy(&rawlen, e + 12, 4);
    {
        uint64_t o0;
        uint32_t c0;
        memcpy(&o0, e0, 8);
        memcpy(&c0, e0 + 8, 4);
        unsigned long long r0 = ZSTD_getFrameContentSize(f + o0, c0);
        uint32_t r32 = (uint32_t)r0;
        memcpy(e0 + 12, &r32, 4);
    }
    uint8_t raw[256], nraw[256];
    assert_true(rawlen < 200);
    assert_int_equal(ZSTD_decompress(raw, sizeof raw, f + off, clen), rawlen);
    nraw[0] = 1; /* flags: nulls */
    nraw[1] = 0; /* bitmap of 5 rows: none null */
    memcpy(nraw + 2, raw + 1, rawlen - 1);
    uint32_t nrawlen = rawlen + 1;
    uint8_t z[512];
    size_t zl = ZSTD_compress(z, sizeof z, nraw, nrawlen, 1);
    assert_false(ZSTD_isError(zl));
    uint32_t zl32 = (uint32_t)zl;
    memcpy(e + 8, &zl32, 4);
    memcpy(e + 12, &nrawlen, 4);
    uint64_t sum = XXH3_64bits(z, zl);
    memcpy(e + 16, &sum, 8);
    /* file: everything before the seq chunk, the new chunk, the footer, the trailer */
    uint8_t *g = malloc(n + 512);
    size_t len = 0;
    memcpy(g, f, off);
    len = off;
    memcpy(g + len, z, zl);
    len += zl;
    uint64_t nfoff = len;
    memcpy(g + len, footer, flen);
    len += flen;
    uint64_t fsum = XXH3_64bits(footer, flen);
    memcpy(g + len, &nfoff, 8);
    memcpy(g + len + 8, &flen, 8);
    memcpy(g + len + 16, &fsum, 8);
    memcpy(g + len + 24, f + n - 8, 8);
    len += 32;
    assert_int_equal(off + clen, foff); /* the seq chunk was the last one */
    unlink(path);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_int_equal(write(fd, g, len), (ssize_t)len);
    close(fd);
    free(g);
    free(f);
}

static void test_segment_seq_nulls(void **state)
{
    (void)state;
    char dir[] = "/tmp/tess-fuzzfind-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof path, "%s/s.seg", dir);
    tess__source src;
    memset(&src, 0, sizeof src);
    src.name = "t";
    src.schema = SCHEMA;
    src.nschema = 3;
    src.ts_col = 2;
    src.created_col = -1;
    static const size_t keys[1] = {0};
    write_seq_with_nulls(path, &src);
    tess__segr *r;
    tess__err err = TESS__ERR_INIT;
    assert_int_equal(tess__segr_open(path, "s.seg", &src, keys, 1, &r, &err), TESS_OK);
    tess__batch b;
    assert_int_equal(tess__batch_init(&b, TYPES, 3, 5), TESS_OK);
    assert_int_equal(tess__segr_read_block(r, 0, NULL, &b, &err), TESS_EIO);
    assert_non_null(strstr(tess__err_msg(&err), "column 3 (seq): malformed contents"));
    tess__batch_release(&b);
    tess__segr_close(r);
    tess__err_release(&err);
    unlink(path);
    rmdir(dir);
}

/* ---- aggregation states --------------------------------------------------------------------- */

static void test_agg_count_overflow(void **state)
{
    (void)state;
    tess__agg_kind k = {TESS_AGG_COUNT, TESS_T_NULL};
    tess__arena a = TESS__ARENA_INIT;
    tess__agg_state s, d, d2;
    tess__buf b = TESS__BUF_INIT;
    /* the largest count a state may hold decodes, and merging two saturates there */
    tess__agg_init(k, &s);
    s.n = (int64_t)1 << 62;
    assert_int_equal(tess__agg_encode(k, &s, &b), TESS_OK);
    assert_int_equal(tess__agg_decode(k, b.p, b.len, &d, &a), TESS_OK);
    assert_int_equal(tess__agg_decode(k, b.p, b.len, &d2, &a), TESS_OK);
    assert_int_equal(tess__agg_merge(k, &d, &d2, &a), TESS_OK);
    tess__value v;
    assert_int_equal(tess__agg_finalize(k, &d, &a, &v), TESS_OK);
    assert_int_equal(v.u.i, (int64_t)1 << 62);
    /* what the fuzzer found: a count near 2^63 (here 2^63 - 1), merged with itself */
    tess__buf_reset(&b);
    s.n = INT64_MAX;
    assert_int_equal(tess__agg_encode(k, &s, &b), TESS_OK);
    assert_int_equal(tess__agg_decode(k, b.p, b.len, &d, &a), TESS_EPARSE);
    tess__buf_reset(&b);
    s.n = ((int64_t)1 << 62) + 1;
    assert_int_equal(tess__agg_encode(k, &s, &b), TESS_OK);
    assert_int_equal(tess__agg_decode(k, b.p, b.len, &d, &a), TESS_EPARSE);
    tess__buf_release(&b);
    tess__arena_release(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_meta_applied_order),
        cmocka_unit_test(test_segment_huge_rawlen),
        cmocka_unit_test(test_segment_seq_nulls),
        cmocka_unit_test(test_agg_count_overflow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
