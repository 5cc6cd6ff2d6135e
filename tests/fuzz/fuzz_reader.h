/* fuzz_reader.h — the body of fuzz_csv.c and fuzz_jsonl.c: the typed readers of event files
 * (src/offline/reader.h) over a file of the fuzzed bytes, against FUZZ_SCHEMA (every type).
 *
 * Each input is read three ways:
 *   1. defaults (4 MiB reads, the first bad row fails the read);
 *   2. reads of 1 to 16 bytes and batches of 1 to 4 rows: chunk and batch boundaries must not
 *      change anything, so the outcome (status, message, and every value of a complete read)
 *      must equal 1's;
 *   3. up to 3 bad rows skipped, rows of at most 64 bytes: for coverage of those paths.
 * And every failure must come with a message.
 */
#include "core/alloc.h"
#include "core/err.h"
#include "offline/reader.h"
#include "fuzz.h"
#include "tessera.h"

#ifndef FUZZ_FORMAT
#error "define FUZZ_FORMAT"
#endif

typedef struct outcome {
    int rc;
    char *msg;
    uint64_t hash; /* of every value read, in order */
    size_t rows, bad;
} outcome;

static uint64_t mix(uint64_t h, const void *p, size_t n)
{
    uint64_t x = tess__hash64(p, n);
    return (h ^ x) * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull;
}

static uint64_t value_hash(uint64_t h, const tess__col *c, size_t i)
{
    uint8_t null = c->nulls && c->nulls[i];
    h = mix(h, &null, 1);
    if (null) return h;
    switch (c->type) {
    case TESS_T_BOOL:
        return mix(h, (const uint8_t *)c->data + i, 1);
    case TESS_T_INT64:
    case TESS_T_TIMESTAMP:
        return mix(h, (const int64_t *)c->data + i, 8);
    case TESS_T_FLOAT64:
        return mix(h, (const double *)c->data + i, 8);
    case TESS_T_STRING: {
        const tess__str *s = (const tess__str *)c->data + i;
        return mix(h, s->p ? s->p : "", s->n);
    }
    default:
        abort();
    }
}

static void read_all(const char *path, const tess__reader_opts *o, size_t cap, outcome *out)
{
    tess__source src = fuzz_source(FUZZ_FORMAT);
    tess__err err = TESS__ERR_INIT;
    tess__reader *r = NULL;
    memset(out, 0, sizeof *out);
    out->rc = tess__reader_open(path, &src, o, &r, &err);
    if (out->rc != TESS_OK) {
        if (r) abort();
        goto out;
    }
    tess__batch b;
    if (tess__batch_init(&b, FUZZ_TYPES, FUZZ_NCOLS, cap) != TESS_OK) abort();
    int rc;
    while ((rc = tess__reader_next(r, &b, &err)) == TESS_OK) {
        if (b.nrows == 0 || b.nrows > b.cap) abort();
        for (size_t i = 0; i < b.nrows; i++) {
            if (b.seq[i] != (int64_t)out->rows) abort(); /* seq: the accepted row's index */
            for (size_t c = 0; c < FUZZ_NCOLS; c++)
                out->hash = value_hash(out->hash, &b.cols[c], i);
            out->rows++;
        }
    }
    if (rc != TESS_NOTFOUND) {
        out->rc = rc;
        if (b.nrows != 0) abort();
        /* a failed reader stays failed, with the same message */
        char *m1 = tess__strdup(tess__err_msg(&err));
        tess__err_clear(&err);
        if (tess__reader_next(r, &b, &err) != rc || strcmp(m1, tess__err_msg(&err)) != 0)
            abort();
        tess__free(m1);
    } else if (tess__reader_next(r, &b, &err) != TESS_NOTFOUND) {
        abort(); /* the end, again */
    }
    out->bad = tess__reader_bad_count(r);
    if (out->bad > 0 && !tess__reader_bad_text(r)[0]) abort();
    tess__batch_release(&b);
    tess__reader_close(r);
out:
    if (out->rc != TESS_OK && out->rc != TESS_NOTFOUND) {
        if (!tess__err_msg(&err)[0]) abort(); /* every failure is explained */
        out->msg = tess__strdup(tess__err_msg(&err));
    }
    tess__err_release(&err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file(FUZZ_FORMAT == TESS_FORMAT_CSV ? "in.csv" : "in.jsonl", data, size);
    uint64_t h = tess__hash64(data, size);

    tess__reader_opts o1 = {FUZZ_FORMAT, 0, 0, "f", 0, 0};
    outcome a, b, c;
    read_all(path, &o1, 1024, &a);
    fuzz_debug("read", a.rc, a.msg);

    tess__reader_opts o2 = o1;
    o2.chunk_size = 1 + (size_t)(h % 16);
    read_all(path, &o2, 1 + (size_t)((h >> 8) % 4), &b);
    /* a failed batch returns nothing (reader.h), so only a complete read has all its rows */
    if (a.rc != b.rc || (a.rc == TESS_OK && (a.rows != b.rows || a.hash != b.hash)) ||
        (a.msg && strcmp(a.msg, b.msg) != 0)) {
        fprintf(stderr, "reads differ with chunk %zu: rc %d/%d rows %zu/%zu\n%s\n%s\n",
                o2.chunk_size, a.rc, b.rc, a.rows, b.rows, a.msg ? a.msg : "",
                b.msg ? b.msg : "");
        abort();
    }

    tess__reader_opts o3 = o1;
    o3.max_bad_rows = 3;
    o3.max_row_bytes = 64;
    o3.chunk_size = 1 + (size_t)((h >> 16) % 100);
    read_all(path, &o3, 7, &c);

    tess__free(a.msg);
    tess__free(b.msg);
    tess__free(c.msg);
    return 0;
}
