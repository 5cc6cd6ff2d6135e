/* fuzz_agg.c — decoding of aggregation states (tess__agg_decode, src/offline/agg.h), as the
 * online store reads them from its tiles and rollups, for every aggregation and input type.
 *
 * Input: byte 0 picks the aggregation, byte 1 the input type (pairs the definitions do not
 * allow are skipped); the rest is the encoded state. A state that decodes is finalized, must
 * encode within tess__agg_encoded_bound to bytes that decode to the same state and value, and
 * is merged with itself and with an empty state, copied, subtracted where invertible, and
 * added a value to.
 */
#include "core/arena.h"
#include "core/buf.h"
#include "offline/agg.h"
#include "fuzz.h"
#include "tessera.h"

static tess__value sample(tess__type t)
{
    switch (t) {
    case TESS_T_BOOL:
        return tess__v_bool(true);
    case TESS_T_INT64:
        return tess__v_int(-5);
    case TESS_T_FLOAT64:
        return tess__v_float(2.5);
    case TESS_T_STRING:
        return tess__v_str("zz", 2);
    case TESS_T_TIMESTAMP:
        return tess__v_ts(1710504000000000);
    default:
        return tess__null(TESS_T_NULL);
    }
}

static int same(const tess__value *a, const tess__value *b)
{
    if (a->null != b->null || a->type != b->type) return 0;
    if (a->null) return 1;
    switch (a->type) {
    case TESS_T_BOOL:
        return a->u.b == b->u.b;
    case TESS_T_FLOAT64:
        return memcmp(&a->u.f, &b->u.f, 8) == 0;
    case TESS_T_STRING:
        return a->u.s.n == b->u.s.n && (!a->u.s.n || !memcmp(a->u.s.p, b->u.s.p, a->u.s.n));
    default:
        return a->u.i == b->u.i;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    tess__agg_kind k = {(tess__agg)(1 + data[0] % (TESS_AGG__COUNT - 1)),
                        (tess__type)(data[1] % TESS_T__COUNT)};
    if (!tess__agg_kind_valid(k)) return 0;
    const uint8_t *p = data + 2;
    size_t n = size - 2;
    tess__arena a = TESS__ARENA_INIT;
    tess__agg_state s, c, e;
    int rc = tess__agg_decode(k, p, n, &s, &a);
    fuzz_debug("decode", rc, NULL);
    if (rc != TESS_OK) {
        if (rc != TESS_EPARSE) abort();
        goto out;
    }
    tess__value v;
    if (tess__agg_finalize(k, &s, &a, &v) != TESS_OK) abort();
    /* The encoding is not unique (a fixed-point sum with redundant sign bytes, a padded
     * varint, a NaN's payload decode to the same state), so the check is that encoding is
     * stable: what a state encodes to decodes to a state that encodes the same, with the same
     * value. */
    tess__buf b = TESS__BUF_INIT, b2 = TESS__BUF_INIT;
    if (tess__agg_encode(k, &s, &b) != TESS_OK) abort();
    if (b.len > tess__agg_encoded_bound(k, &s) || b.len > n) abort();
    tess__agg_state s2;
    tess__value v2;
    if (tess__agg_decode(k, b.p, b.len, &s2, &a) != TESS_OK) abort();
    if (tess__agg_encode(k, &s2, &b2) != TESS_OK) abort();
    if (tess__agg_finalize(k, &s2, &a, &v2) != TESS_OK) abort();
    if (b.len != b2.len || memcmp(b.p, b2.p, b.len) != 0 || !same(&v, &v2)) {
        fprintf(stderr, "state of agg %d type %d: encoded, decoded and encoded again changed\n",
                (int)k.agg, (int)k.in);
        abort();
    }
    tess__buf_release(&b2);
    tess__buf_release(&b);
    tess__agg_exact(k, &s);
    if (tess__agg_copy(k, &c, &s, &a) != TESS_OK) abort();
    if (tess__agg_merge(k, &c, &s, &a) != TESS_OK) abort();
    if (tess__agg_finalize(k, &c, &a, &v) != TESS_OK) abort();
    tess__agg_init(k, &e);
    if (tess__agg_merge(k, &e, &s, &a) != TESS_OK) abort();
    if (tess__agg_invertible(k) && tess__agg_exact(k, &s) && tess__agg_exact(k, &c)) {
        if (tess__agg_sub(k, &c, &s) != TESS_OK) abort();
        tess__agg_finalize(k, &c, &a, &v);
    }
    tess__value x = sample(k.in);
    tess__agg_key key = {1, 2, 3};
    if (tess__agg_add(k, &s, k.in == TESS_T_NULL ? NULL : &x, &key, &a) != TESS_OK) abort();
    if (tess__agg_finalize(k, &s, &a, &v) != TESS_OK) abort();
out:
    tess__arena_release(&a);
    return 0;
}
