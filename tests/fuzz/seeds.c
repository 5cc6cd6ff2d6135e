/* seeds.c — writes the binary seed inputs of the fuzz targets of the store's own files into
 * tests/fuzz/corpus/<target>/ (run by `make fuzz-seeds`; the files are kept in the repository,
 * so this is needed only when a format changes). Each seed is made by the library's own
 * writers, in the input form its harness expects (see each fuzz_<target>.c).
 *
 * Usage: seeds <corpus-dir>
 */
#include <errno.h>
#include <math.h>
#include <sys/stat.h>
#include <zstd.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "offline/agg.h"
#include "offline/evstore_int.h"
#include "offline/segment.h"
#include "online/meta.h"
#include "online/record.h"
#include "fuzz.h"
#include "tessera.h"

static const char *root;

static void put(const char *target, const char *name, uint8_t prefix, int with_prefix,
                const void *p, size_t n)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", root, target);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/%s/%s", root, target, name);
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        exit(1);
    }
    if (with_prefix) fputc(prefix, f);
    if (n && fwrite(p, 1, n, f) != n) exit(1);
    fclose(f);
}

static uint8_t *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) exit(1);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = malloc((size_t)len + 1);
    if (fread(p, 1, (size_t)len, f) != (size_t)len) exit(1);
    fclose(f);
    *n = (size_t)len;
    return p;
}

/* n rows of FUZZ_SCHEMA in event order (user_id, ts, created, seq); some nulls. */
static void rows(tess__batch *b, size_t n, int nulls)
{
    if (tess__batch_init(b, FUZZ_TYPES, FUZZ_NCOLS, n) != TESS_OK) exit(1);
    static const char *const names[] = {"", "alice", "b\xc3\xa9", "x,y \"q\"", "zzzzzzzzzzzzz"};
    for (size_t i = 0; i < n; i++) {
        ((int64_t *)b->cols[0].data)[i] = (int64_t)(i / 3) * 7 - 3;
        const char *s = names[i % 5];
        char *copy = tess__arena_strndup(&b->arena, s, strlen(s));
        ((tess__str *)b->cols[1].data)[i] = (tess__str){copy, strlen(s)};
        ((double *)b->cols[2].data)[i] = i % 4 == 3 ? -0.0 : (double)i * 1.25 - 2;
        ((uint8_t *)b->cols[3].data)[i] = i % 2;
        ((int64_t *)b->cols[4].data)[i] = 1710504000000000 + (int64_t)(i % 3) * 3600000000;
        ((int64_t *)b->cols[5].data)[i] = 1710504000000000 + (int64_t)i;
        for (size_t c = 0; c < FUZZ_NCOLS; c++)
            b->cols[c].nulls[i] = nulls && c != 0 && c != 4 && (i + c) % 5 == 0;
        b->seq[i] = (int64_t)i;
    }
    b->nrows = n;
}

/* ---- segments ------------------------------------------------------------------------------- */

/* The raw-chunk form of a segment file (fuzz_segment.c, odd first byte). */
static size_t unpack(const uint8_t *in, size_t n, uint8_t *out)
{
    uint64_t foff = fuzz_get64(in + n - 32), flen = fuzz_get64(in + n - 24);
    uint8_t *footer = malloc(flen);
    memcpy(footer, in + foff, flen);
    memcpy(out, in, 16);
    size_t len = 16;
    /* walk as the reader does (the schema is FUZZ_SCHEMA, one key) */
    const uint8_t *p = footer + 4;
    uint32_t ncols = fuzz_get32(p);
    p += 4;
    for (uint32_t i = 0; i < ncols; i++) p += 3 + (p[1] | p[2] << 8);
    uint32_t nkeys = fuzz_get32(p);
    p += 4 + 4 * nkeys + 8 + 24;
    uint32_t nblocks = fuzz_get32(p);
    p += 4;
    for (uint32_t b = 0; b < nblocks; b++) {
        p += 20;
        p += 4 + fuzz_get32(p);
        p += 4 + fuzz_get32(p);
        for (uint32_t c = 0; c <= ncols; c++) {
            uint8_t *e = footer + (p - footer);
            uint64_t off = fuzz_get64(e);
            uint32_t clen = fuzz_get32(e + 8), raw = fuzz_get32(e + 12);
            size_t z = ZSTD_decompress(out + len, raw, in + off, clen);
            if (ZSTD_isError(z) || z != raw) exit(1);
            fuzz_put64(e, len);
            memcpy(e + 8, &raw, 4);
            len += raw;
            p += 24;
        }
    }
    memcpy(out + len, footer, flen);
    uint64_t nfoff = len;
    len += flen;
    fuzz_put64(out + len, nfoff);
    fuzz_put64(out + len + 8, flen);
    fuzz_put64(out + len + 16, 0); /* the harness computes it */
    memcpy(out + len + 24, in + n - 8, 8);
    free(footer);
    return len + 32;
}

/* b's rows as two blocks: [0, split) and [split, n). */
static int add_split(tess__segw *w, const tess__batch *b, size_t split, tess__err *err)
{
    tess__batch h;
    if (tess__batch_init(&h, FUZZ_TYPES, FUZZ_NCOLS, b->nrows)) exit(1);
    int rc = tess__batch_append(&h, b, 0, split, NULL);
    if (!rc) rc = tess__segw_add_block(w, &h, err);
    tess__batch_reset(&h);
    if (!rc) rc = tess__batch_append(&h, b, split, b->nrows - split, NULL);
    if (!rc) rc = tess__segw_add_block(w, &h, err);
    tess__batch_release(&h);
    return rc;
}

static void segment(const char *name, size_t n, int nulls, size_t split)
{
    tess__source src = fuzz_source(TESS_FORMAT_CSV);
    static const size_t keys[1] = {0};
    char path[512];
    snprintf(path, sizeof path, "%s/s.seg", fuzz_scratch());
    unlink(path);
    tess__segw *w;
    tess__err err = TESS__ERR_INIT;
    tess__batch b;
    rows(&b, n, nulls);
    const tess__batch *chunks[1] = {&b};
    if (tess__segw_open(path, NULL, &src, keys, 1, &w, &err) ||
        (n && !split && tess__segw_add(w, chunks, NULL, n, &err)) ||
        (split && add_split(w, &b, split, &err)) || tess__segw_finish(w, NULL, &err)) {
        fprintf(stderr, "%s\n", tess__err_msg(&err));
        exit(1);
    }
    size_t len;
    uint8_t *file = slurp(path, &len);
    char nm[64];
    snprintf(nm, sizeof nm, "%s-file", name);
    put("segment", nm, 0, 1, file, len);
    uint8_t *raw = malloc(len + 64 * n + 65536);
    size_t rl = unpack(file, len, raw);
    snprintf(nm, sizeof nm, "%s-raw", name);
    put("segment", nm, 1, 1, raw, rl);
    free(raw);
    free(file);
    tess__batch_release(&b);
}

/* ---- manifests and push logs ---------------------------------------------------------------- */

static void manifest(void)
{
    tess__source src = fuzz_source(TESS_FORMAT_CSV);
    tess__manifest *m;
    if (tess__manifest_new(&src, &m)) exit(1);
    m->next_ingest = 4;
    m->next_seg = 3;
    m->log = 2;
    static const size_t k0[1] = {0};
    tess__mlayout *l;
    if (tess__manifest_add_layout(m, &src, k0, 1, &l)) exit(1);
    tess__mseg s = {1, 10, 1710504000000000, 1710507600000000, 4096, false};
    tess__manifest_add_seg(l, &s);
    s.num = 2;
    tess__manifest_add_seg(l, &s);
    l->null_key_rows = 1;
    if (tess__manifest_add_layout(m, &src, NULL, 0, &l)) exit(1);
    tess__manifest_add_seg(l, &s);
    tess__mfile f = {{1, 2, 3}, "data/events.csv", 21, 1, 1710600000000000,
                     1710504000000000, 1710507600000000, 777};
    tess__manifest_add_file(m, &f);
    f.name = "push";
    f.ingest = 2;
    tess__manifest_add_file(m, &f);
    char tmp[512], path[512];
    snprintf(tmp, sizeof tmp, "%s/M.tmp", fuzz_scratch());
    snprintf(path, sizeof path, "%s/M", fuzz_scratch());
    bool renamed;
    tess__err err = TESS__ERR_INIT;
    if (tess__manifest_write(m, tmp, path, fuzz_scratch(), false, &renamed, &err)) exit(1);
    size_t len;
    uint8_t *p = slurp(path, &len);
    put("manifest", "two-layouts", 0, 0, p, len);
    free(p);
    tess__manifest_free(m);
    if (tess__manifest_new(&src, &m)) exit(1);
    if (tess__manifest_write(m, tmp, path, fuzz_scratch(), false, &renamed, &err)) exit(1);
    p = slurp(path, &len);
    put("manifest", "empty", 0, 0, p, len);
    free(p);
    tess__manifest_free(m);
}

static void evlog(void)
{
    tess__batch a, b;
    rows(&a, 5, 1);
    rows(&b, 2, 0);
    tess__batch *one[2] = {&a, &b};
    uint8_t *f1, *f2;
    size_t l1, l2;
    if (tess__evlog_frame(1, 1, one, 2, FUZZ_NCOLS, &f1, &l1)) exit(1);
    if (tess__evlog_frame(1, 3, &one[1], 1, FUZZ_NCOLS, &f2, &l2)) exit(1);
    uint8_t *both = malloc(l1 + l2);
    memcpy(both, f1, l1);
    memcpy(both + l1, f2, l2);
    put("evlog", "one-frame", 0, 0, f1, l1);
    put("evlog", "two-frames", 0, 0, both, l1 + l2);
    put("evlog", "torn-tail", 0, 0, both, l1 + l2 / 2);
    free(both);
    tess__free(f1);
    tess__free(f2);
    tess__batch_release(&a);
    tess__batch_release(&b);
}

/* ---- aggregation states, online records ----------------------------------------------------- */

static tess__value val(tess__type t, int i)
{
    static const char *const s[] = {"a", "bb", "", "\xc3\xa9", "zz"};
    switch (t) {
    case TESS_T_BOOL:
        return tess__v_bool(i % 2);
    case TESS_T_INT64:
        return tess__v_int(i * 37 - 50);
    case TESS_T_FLOAT64:
        return tess__v_float(i == 3 ? 1e30 : i * 0.1 - 1);
    case TESS_T_STRING:
        return tess__v_str(s[i % 5], strlen(s[i % 5]));
    case TESS_T_TIMESTAMP:
        return tess__v_ts(1710504000000000 + i * 1000);
    default:
        return tess__null(TESS_T_NULL);
    }
}

static void state(tess__agg_kind k, int nvals, tess__arena *a, tess__buf *out)
{
    tess__agg_state s;
    tess__agg_init(k, &s);
    for (int i = 0; i < nvals; i++) {
        tess__value v = val(k.in, i);
        tess__agg_key key = {i * 10, INT64_MIN, i};
        if (tess__agg_add(k, &s, k.in == TESS_T_NULL ? NULL : &v, &key, a)) exit(1);
    }
    if (tess__agg_encode(k, &s, out)) exit(1);
}

static void aggs(void)
{
    tess__arena a = TESS__ARENA_INIT;
    for (int g = 1; g < TESS_AGG__COUNT; g++)
        for (int t = 0; t < TESS_T__COUNT; t++) {
            tess__agg_kind k = {(tess__agg)g, (tess__type)t};
            if (!tess__agg_kind_valid(k)) continue;
            static const int counts[] = {0, 1, 5, 300};
            for (int c = 0; c < 4; c++) {
                if (counts[c] == 300 && g != TESS_AGG_COUNT_DISTINCT_APPROX) continue;
                tess__buf b = TESS__BUF_INIT;
                uint8_t hdr[2] = {(uint8_t)(g - 1), (uint8_t)t};
                tess__buf_append(&b, hdr, 2);
                state(k, counts[c], &a, &b);
                char nm[64];
                snprintf(nm, sizeof nm, "%s-%s-%d", tess__agg_name(k.agg),
                         tess__type_name(k.in), counts[c]);
                put("agg", nm, 0, 0, b.p, b.len);
                tess__buf_release(&b);
            }
        }
    tess__arena_release(&a);
}

static void records(void)
{
    tess__arena a = TESS__ARENA_INIT;
    tess__orec r;
    memset(&r, 0, sizeof r);
    r.fingerprint = 0x1234;
    r.written = 1710507600000000;
    r.hist_sum = 0;
    r.has_row = true;
    r.row_ts = 1710504000000000;
    r.row_created = INT64_MIN;
    r.row_seq = 7;
    tess__value vals[4] = {tess__v_float(1.5), tess__v_str("abc", 3), tess__null(TESS_T_INT64),
                           tess__v_bool(true)};
    r.nvals = 4;
    r.vals = vals;
    tess__agg_kind k1 = {TESS_AGG_SUM, TESS_T_FLOAT64}, k2 = {TESS_AGG_COUNT, TESS_T_NULL};
    int64_t starts[2] = {1710500400000000, 1710504000000000};
    tess__buf sb = TESS__BUF_INIT;
    size_t offs[5] = {0};
    for (int t = 0; t < 2; t++) {
        state(k1, 2 + t, &a, &sb);
        offs[2 * t + 1] = sb.len;
        state(k2, 3 + t, &a, &sb);
        offs[2 * t + 2] = sb.len;
    }
    tess__str states[4];
    for (int i = 0; i < 4; i++)
        states[i] = (tess__str){(const char *)sb.p + offs[i], offs[i + 1] - offs[i]};
    r.ntiles = 2;
    r.nspecs = 2;
    r.starts = starts;
    r.states = states;
    r.rollup_bucket = 1710504000000000;
    r.nrollups = 2;
    r.rollups = states;
    tess__value cur[2] = {tess__v_float(3.25), tess__v_int(4)};
    r.ncur = 2;
    r.cur = cur;
    tess__value frows[FUZZ_NCOLS] = {tess__v_int(1), tess__v_str("x", 1), tess__v_float(2),
                                     tess__v_bool(false), tess__v_ts(1710600000000000),
                                     tess__null(TESS_T_TIMESTAMP)};
    int64_t fseq[1] = {99};
    r.nfuture = 1;
    r.ncols = FUZZ_NCOLS;
    r.fseq = fseq;
    r.frows = frows;
    tess__buf b = TESS__BUF_INIT;
    if (tess__orec_encode(&r, &b)) exit(1);
    put("orec", "record-full", 0, 1, b.p, b.len);
    tess__buf_reset(&b);
    tess__orec e;
    memset(&e, 0, sizeof e);
    e.rollup_bucket = INT64_MIN;
    if (tess__orec_encode(&e, &b)) exit(1);
    put("orec", "record-empty", 0, 1, b.p, b.len);
    tess__buf_reset(&b);

    tess__ometa m;
    memset(&m, 0, sizeof m);
    m.present = true;
    m.fingerprint = 77;
    m.watermark = 3;
    uint32_t applied[2] = {5, 9};
    m.napplied = 2;
    m.applied = applied;
    m.pending = true;
    m.pending_to = 12;
    m.pending_key = (tess__str){"\x80\x00\x00\x00\x00\x00\x00\x05", 8};
    m.at = 1710504000000000;
    m.newest = 1710503000000000;
    if (tess__ometa_encode(&m, &b)) exit(1);
    put("orec", "meta-pending", 1, 1, b.p, b.len);
    tess__buf_reset(&b);
    m.pending = false;
    m.napplied = 0;
    if (tess__ometa_encode(&m, &b)) exit(1);
    put("orec", "meta-plain", 1, 1, b.p, b.len);
    tess__buf_release(&b);
    tess__buf_release(&sb);
    tess__arena_release(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    (void)data;
    (void)size;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: seeds <corpus-dir>\n");
        return 2;
    }
    root = argv[1];
    segment("small", 7, 1, 0);
    segment("one-row", 1, 0, 0);
    segment("two-blocks", 9, 1, 4);
    segment("empty", 0, 0, 0);
    manifest();
    evlog();
    aggs();
    records();
    return 0;
}
