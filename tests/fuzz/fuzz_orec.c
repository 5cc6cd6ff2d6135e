/* fuzz_orec.c — the online store's records (src/online/record.h, tess__orec_decode) and
 * meta records (src/online/meta.h, tess__ometa_decode), as read back from the back end.
 *
 * The first input byte picks the decoder (even: record, odd: meta record); the rest is the
 * value. The harness makes the trailing checksum right (its check is covered by the unit
 * tests), so mutations reach the decoder. A decoded record is walked (tiles, states, rollups,
 * values), encoded again, and that encoding must decode and encode to the same bytes; likewise
 * a meta record, whose encoding must be exactly its input (the format has one encoding per
 * record).
 */
#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "online/meta.h"
#include "online/record.h"
#include "fuzz.h"
#include "tessera.h"

static void touch(const tess__value *v)
{
    if (v->null) return;
    if (v->type == TESS_T_STRING && v->u.s.n) {
        volatile char c = v->u.s.p[v->u.s.n - 1];
        (void)c;
    }
}

static void fuzz_record(const uint8_t *p, size_t n)
{
    tess__arena a = TESS__ARENA_INIT;
    tess__err err = TESS__ERR_INIT;
    tess__orec r;
    tess__orec_fingerprint(p, n);
    tess__orec_hist_sum(p, n);
    tess__orec_checksum(p, n);
    int rc = tess__orec_decode(p, n, &r, &a, &err);
    fuzz_debug("record", rc, tess__err_msg(&err));
    if (rc != TESS_OK) {
        if (!tess__err_msg(&err)[0]) abort();
        goto out;
    }
    for (size_t i = 0; i < r.nvals; i++) touch(&r.vals[i]);
    for (size_t i = 0; i < r.ncur; i++) touch(&r.cur[i]);
    for (size_t i = 0; i < r.nfuture * r.ncols; i++) touch(&r.frows[i]);
    for (size_t t = 0; t < r.ntiles; t++) {
        tess__orec_start(&r, t);
        for (size_t s = 0; s < r.nspecs; s++) {
            tess__str st = tess__orec_state(&r, t, s);
            if (st.n && (const uint8_t *)st.p + st.n > p + n) abort();
        }
    }
    for (size_t i = 0; i < r.nrollups; i++) {
        tess__str ro = tess__orec_rollup(&r, i);
        if (ro.n && (const uint8_t *)ro.p + ro.n > p + n) abort();
    }
    if (tess__orec_tiles(&r, &a) != TESS_OK) abort();

    tess__buf b1 = TESS__BUF_INIT, b2 = TESS__BUF_INIT;
    if (tess__orec_encode(&r, &b1) != TESS_OK) abort();
    tess__orec r2;
    if (tess__orec_decode(b1.p, b1.len, &r2, &a, &err) != TESS_OK) {
        fprintf(stderr, "re-encoded record does not decode: %s\n", tess__err_msg(&err));
        abort();
    }
    if (tess__orec_tiles(&r2, &a) != TESS_OK) abort();
    if (tess__orec_encode(&r2, &b2) != TESS_OK) abort();
    if (b1.len != b2.len || memcmp(b1.p, b2.p, b1.len) != 0) {
        fprintf(stderr, "a record encoded twice changed\n");
        abort();
    }
    tess__buf_release(&b1);
    tess__buf_release(&b2);
out:
    tess__arena_release(&a);
    tess__err_release(&err);
}

static void fuzz_meta(const uint8_t *p, size_t n)
{
    tess__arena a = TESS__ARENA_INIT;
    tess__err err = TESS__ERR_INIT;
    tess__ometa m;
    int rc = tess__ometa_decode(p, n, &m, &a, &err);
    fuzz_debug("meta", rc, tess__err_msg(&err));
    if (rc != TESS_OK) {
        if (!tess__err_msg(&err)[0]) abort();
        goto out;
    }
    tess__buf b = TESS__BUF_INIT;
    if (tess__ometa_encode(&m, &b) != TESS_OK) abort();
    if (b.len != n || memcmp(b.p, p, n) != 0) {
        fprintf(stderr, "a meta record decoded and encoded again changed\n");
        abort();
    }
    tess__buf_release(&b);
    /* what the materializer does with one */
    for (uint32_t k = 0; k < 4; k++) tess__ometa_has(&m, m.watermark + k);
    uint32_t w0 = m.watermark;
    if (tess__ometa_add(&m, w0 + 2, &a) != TESS_OK) abort();
    if (!tess__ometa_has(&m, w0 + 2) && w0 + 2 > w0) abort();
    tess__ometa_advance(&m, m.watermark + 1);
    for (size_t i = 1; i < m.napplied; i++)
        if (m.applied[i] <= m.applied[i - 1] || m.applied[i - 1] <= m.watermark) {
            fprintf(stderr, "applied list out of order after add/advance\n");
            abort();
        }
out:
    tess__arena_release(&a);
    tess__err_release(&err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    size_t n = size - 1;
    uint8_t *p = malloc(n ? n : 1);
    memcpy(p, data + 1, n);
    if (n >= 8) fuzz_put64(p + n - 8, tess__hash64(p, n - 8));
    if (data[0] & 1) fuzz_meta(p, n);
    else fuzz_record(p, n);
    free(p);
    return 0;
}
