/* test_agg.c — aggregate states (agg.c) and the window engine (window.c).
 *
 * What a user would check: every aggregation's value on known data, empty and all-null
 * windows; states that survive the online store's bytes (and garbage that is refused); that the
 * order in which rows arrive and tiles are merged never changes a value (the online/offline
 * consistency promise); the HyperLogLog error against its stated bound; and an oracle: random
 * events (ties on ts, created-ts tie-breaks, nulls, where filters, int and float inputs,
 * several windows and hops, lifetime) checked against a brute-force reading of DESIGN.md's
 * sawtooth rule, with the fast engine, the canonical tile merge, the online path (tiles + head,
 * rows arriving shuffled) and the encoded tiles all required to agree bit for bit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/time.h"
#include "defs/defs.h"
#include "defs/defs_model.h"
#include "offline/agg.h"
#include "offline/batch.h"
#include "offline/window.h"
#include "tessera.h"

typedef __float128 f128;

/* ---- helpers ------------------------------------------------------------------------------ */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static void rng_seed(uint64_t s)
{
    rng_state = s * 0x9E3779B97F4A7C15ull + 1;
}

static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t rndn(uint64_t n)
{
    return n ? rnd() % n : 0;
}

static bool chance(int pct)
{
    return (int)rndn(100) < pct;
}

/* Floats compared bitwise (so -0.0 != 0.0 and NaN == NaN), strings by bytes. */
static bool same_strict(const tess__value *a, const tess__value *b)
{
    if (a->null != b->null) return false;
    if (a->null) return true;
    if (a->type != b->type) return false;
    switch (a->type) {
    case TESS_T_BOOL: return a->u.b == b->u.b;
    case TESS_T_FLOAT64: return memcmp(&a->u.f, &b->u.f, sizeof(double)) == 0;
    case TESS_T_STRING:
        return a->u.s.n == b->u.s.n && (a->u.s.n == 0 || memcmp(a->u.s.p, b->u.s.p, a->u.s.n) == 0);
    default: return a->u.i == b->u.i;
    }
}

static const char *show(const tess__value *v, char *buf, size_t n)
{
    if (v->null) {
        snprintf(buf, n, "null(%s)", tess__type_name(v->type));
        return buf;
    }
    switch (v->type) {
    case TESS_T_BOOL: snprintf(buf, n, "%s", v->u.b ? "true" : "false"); break;
    case TESS_T_FLOAT64: snprintf(buf, n, "%.17g (%a)", v->u.f, v->u.f); break;
    case TESS_T_STRING: snprintf(buf, n, "'%.*s'", (int)v->u.s.n, v->u.s.p); break;
    default: snprintf(buf, n, "%lld", (long long)v->u.i); break;
    }
    return buf;
}

static tess__value S(const char *s)
{
    return tess__v_str(s, strlen(s));
}

static tess__value agg1(tess__agg agg, tess__type in, const tess__value *vals, size_t n,
                        tess__arena *a)
{
    tess__agg_kind k = {agg, in};
    tess__agg_state s;
    tess__agg_init(k, &s);
    for (size_t i = 0; i < n; i++) {
        tess__agg_key key = {(int64_t)i, INT64_MIN, (int64_t)i};
        assert_int_equal(tess__agg_add(k, &s, vals ? &vals[i] : NULL, &key, a), TESS_OK);
    }
    tess__value out;
    assert_int_equal(tess__agg_finalize(k, &s, a, &out), TESS_OK);
    return out;
}

#define NUL(t) tess__null(t)
#define I(x) tess__v_int(x)
#define F(x) tess__v_float(x)

static void expect_int(tess__value v, int64_t x)
{
    assert_false(v.null);
    assert_int_equal(v.type, TESS_T_INT64);
    assert_int_equal(v.u.i, x);
}

static void expect_float(tess__value v, double x)
{
    char b1[64], b2[64];
    tess__value w = F(x);
    if (!same_strict(&v, &w)) fail_msg("got %s, expected %s", show(&v, b1, 64), show(&w, b2, 64));
}

static void expect_null(tess__value v, tess__type t)
{
    assert_true(v.null);
    assert_int_equal(v.type, t);
}

/* ---- finalize on known data ------------------------------------------------------------ */

static void test_finalize_known(void **state)
{
    (void)state;
    tess__arena a = TESS__ARENA_INIT;
    tess__value ints[] = {I(1), I(2), NUL(TESS_T_INT64), I(3)};
    tess__value nulls[] = {NUL(TESS_T_INT64), NUL(TESS_T_INT64)};
    tess__value fnulls[] = {NUL(TESS_T_FLOAT64)};

    /* count: rows, or non-null values; empty 0 */
    expect_int(agg1(TESS_AGG_COUNT, TESS_T_NULL, NULL, 3, &a), 3);
    expect_int(agg1(TESS_AGG_COUNT, TESS_T_INT64, ints, 4, &a), 3);
    expect_int(agg1(TESS_AGG_COUNT, TESS_T_INT64, nulls, 2, &a), 0);
    expect_int(agg1(TESS_AGG_COUNT, TESS_T_NULL, NULL, 0, &a), 0);

    /* sum: 0 when empty or all null; int overflow null; exact intermediate */
    expect_int(agg1(TESS_AGG_SUM, TESS_T_INT64, ints, 4, &a), 6);
    expect_int(agg1(TESS_AGG_SUM, TESS_T_INT64, nulls, 2, &a), 0);
    expect_int(agg1(TESS_AGG_SUM, TESS_T_INT64, NULL, 0, &a), 0);
    tess__value big[] = {I(INT64_MAX), I(1)};
    expect_null(agg1(TESS_AGG_SUM, TESS_T_INT64, big, 2, &a), TESS_T_INT64);
    tess__value big2[] = {I(INT64_MAX), I(1), I(-1)};
    expect_int(agg1(TESS_AGG_SUM, TESS_T_INT64, big2, 3, &a), INT64_MAX);
    tess__value small[] = {I(INT64_MIN), I(-1)};
    expect_null(agg1(TESS_AGG_SUM, TESS_T_INT64, small, 2, &a), TESS_T_INT64);
    expect_float(agg1(TESS_AGG_SUM, TESS_T_FLOAT64, fnulls, 1, &a), 0.0);
    expect_float(agg1(TESS_AGG_SUM, TESS_T_FLOAT64, NULL, 0, &a), 0.0);
    /* the correctly rounded exact sum: 0.6, where (0.1 + 0.2) + 0.3 is 0.6000000000000001 */
    tess__value tenths[] = {F(0.1), F(0.2), F(0.3)};
    expect_float(agg1(TESS_AGG_SUM, TESS_T_FLOAT64, tenths, 3, &a), 0.6);
    /* cancellation that a double loses entirely */
    tess__value canc[] = {F(1e20), F(1.0), F(-1e20), F(0.25)};
    expect_float(agg1(TESS_AGG_SUM, TESS_T_FLOAT64, canc, 4, &a), 1.25);
    tess__value infs[] = {F(1.0), F(INFINITY), F(2.0)};
    expect_float(agg1(TESS_AGG_SUM, TESS_T_FLOAT64, infs, 3, &a), INFINITY);
    tess__value infs2[] = {F(-INFINITY), F(INFINITY)};
    tess__value r = agg1(TESS_AGG_SUM, TESS_T_FLOAT64, infs2, 2, &a);
    assert_true(isnan(r.u.f));
    /* outliers (>= 2^96) still sum right when the order is benign */
    tess__value outl[] = {F(ldexp(1, 100)), F(1.0), F(ldexp(1, 100))};
    expect_float(agg1(TESS_AGG_SUM, TESS_T_FLOAT64, outl, 3, &a), ldexp(1, 101));

    /* mean */
    tess__value fl[] = {F(1.5), F(2.5), NUL(TESS_T_FLOAT64)};
    expect_float(agg1(TESS_AGG_MEAN, TESS_T_FLOAT64, fl, 3, &a), 2.0);
    tess__value i12[] = {I(1), I(2)};
    expect_float(agg1(TESS_AGG_MEAN, TESS_T_INT64, i12, 2, &a), 1.5);
    expect_null(agg1(TESS_AGG_MEAN, TESS_T_FLOAT64, fnulls, 1, &a), TESS_T_FLOAT64);
    tess__value thirds[] = {F(1.0), F(1.0), F(2.0)};
    expect_float(agg1(TESS_AGG_MEAN, TESS_T_FLOAT64, thirds, 3, &a), 4.0 / 3.0);

    /* variances: 2 4 4 4 5 5 7 9 -> pop 4, samp 32/7 */
    int64_t xs[] = {2, 4, 4, 4, 5, 5, 7, 9};
    tess__value vi[8], vf[8];
    for (int i = 0; i < 8; i++) {
        vi[i] = I(xs[i]);
        vf[i] = F((double)xs[i] / 4.0);
    }
    expect_float(agg1(TESS_AGG_VAR_POP, TESS_T_INT64, vi, 8, &a), 4.0);
    expect_float(agg1(TESS_AGG_STDDEV_POP, TESS_T_INT64, vi, 8, &a), 2.0);
    expect_float(agg1(TESS_AGG_VAR_SAMP, TESS_T_INT64, vi, 8, &a), 32.0 / 7.0);
    expect_float(agg1(TESS_AGG_STDDEV_SAMP, TESS_T_INT64, vi, 8, &a), sqrt(32.0 / 7.0));
    expect_float(agg1(TESS_AGG_VAR_POP, TESS_T_FLOAT64, vf, 8, &a), 0.25);
    expect_float(agg1(TESS_AGG_VAR_SAMP, TESS_T_FLOAT64, vf, 8, &a), 2.0 / 7.0);
    expect_null(agg1(TESS_AGG_VAR_SAMP, TESS_T_FLOAT64, vf, 1, &a), TESS_T_FLOAT64);
    expect_float(agg1(TESS_AGG_VAR_POP, TESS_T_FLOAT64, vf, 1, &a), 0.0);
    expect_null(agg1(TESS_AGG_VAR_POP, TESS_T_FLOAT64, NULL, 0, &a), TESS_T_FLOAT64);
    expect_null(agg1(TESS_AGG_STDDEV_SAMP, TESS_T_INT64, nulls, 2, &a), TESS_T_FLOAT64);
    /* a large offset does not destroy the variance (no cancellation: exact sums) */
    tess__value off[3] = {F(1e9 + 0.01), F(1e9 + 0.02), F(1e9 + 0.03)};
    tess__value vo = agg1(TESS_AGG_VAR_SAMP, TESS_T_FLOAT64, off, 3, &a);
    {
        f128 m = ((f128)off[0].u.f + off[1].u.f + off[2].u.f) / 3, s = 0;
        for (int i = 0; i < 3; i++) s += ((f128)off[i].u.f - m) * ((f128)off[i].u.f - m);
        expect_float(vo, (double)(s / 2));
    }

    /* min/max: NaN greatest, -0.0 < 0.0 */
    tess__value fx[] = {F(1.0), F(NAN), F(-3.0), NUL(TESS_T_FLOAT64)};
    expect_float(agg1(TESS_AGG_MIN, TESS_T_FLOAT64, fx, 4, &a), -3.0);
    assert_true(isnan(agg1(TESS_AGG_MAX, TESS_T_FLOAT64, fx, 4, &a).u.f));
    tess__value zs[] = {F(0.0), F(-0.0)};
    expect_float(agg1(TESS_AGG_MIN, TESS_T_FLOAT64, zs, 2, &a), -0.0);
    expect_float(agg1(TESS_AGG_MAX, TESS_T_FLOAT64, zs, 2, &a), 0.0);
    expect_null(agg1(TESS_AGG_MIN, TESS_T_INT64, nulls, 2, &a), TESS_T_INT64);
    expect_int(agg1(TESS_AGG_MAX, TESS_T_INT64, ints, 4, &a), 3);
    tess__value tsv[] = {tess__v_ts(50), tess__v_ts(-7), tess__v_ts(8)};
    tess__value tmin = agg1(TESS_AGG_MIN, TESS_T_TIMESTAMP, tsv, 3, &a);
    assert_int_equal(tmin.type, TESS_T_TIMESTAMP);
    assert_int_equal(tmin.u.i, -7);

    /* strings are copied into the state: the caller's buffer may change afterwards */
    {
        char buf[4][8] = {"b", "ab", "abc", ""};
        tess__value sv[4];
        for (int i = 0; i < 4; i++) sv[i] = tess__v_str(buf[i], strlen(buf[i]));
        tess__agg_kind kmin = {TESS_AGG_MIN, TESS_T_STRING}, kmax = {TESS_AGG_MAX, TESS_T_STRING};
        tess__agg_state smin, smax;
        tess__agg_init(kmin, &smin);
        tess__agg_init(kmax, &smax);
        for (int i = 0; i < 4; i++) {
            assert_int_equal(tess__agg_add(kmin, &smin, &sv[i], NULL, &a), TESS_OK);
            assert_int_equal(tess__agg_add(kmax, &smax, &sv[i], NULL, &a), TESS_OK);
        }
        memset(buf, 'X', sizeof(buf));
        tess__value o1, o2;
        tess__agg_finalize(kmin, &smin, &a, &o1);
        tess__agg_finalize(kmax, &smax, &a, &o2);
        assert_int_equal(o1.u.s.n, 0);
        assert_int_equal(o2.u.s.n, 1);
        assert_memory_equal(o2.u.s.p, "b", 1);
    }

    /* first/last by (ts, created, seq), whatever the order of arrival */
    {
        struct {
            int64_t ts, created, seq;
            const char *v;
        } rows[] = {{10, 5, 1, "x"}, {10, 7, 0, "y"}, {5, INT64_MIN, 2, "z"}, {10, 7, 3, "w"},
                    {5, INT64_MIN, 9, "q"}};
        tess__agg_kind kf = {TESS_AGG_FIRST, TESS_T_STRING}, kl = {TESS_AGG_LAST, TESS_T_STRING};
        tess__agg_state sf, sl;
        tess__agg_init(kf, &sf);
        tess__agg_init(kl, &sl);
        for (int i = 0; i < 5; i++) {
            tess__agg_key key = {rows[i].ts, rows[i].created, rows[i].seq};
            tess__value v = S(rows[i].v);
            assert_int_equal(tess__agg_add(kf, &sf, &v, &key, &a), TESS_OK);
            assert_int_equal(tess__agg_add(kl, &sl, &v, &key, &a), TESS_OK);
        }
        tess__value o;
        tess__agg_finalize(kf, &sf, &a, &o);
        assert_memory_equal(o.u.s.p, "z", 1);
        tess__agg_finalize(kl, &sl, &a, &o);
        assert_memory_equal(o.u.s.p, "w", 1);
        /* first of nothing */
        tess__agg_init(kf, &sf);
        tess__agg_finalize(kf, &sf, &a, &o);
        expect_null(o, TESS_T_STRING);
    }
    {
        tess__value bs[] = {tess__v_bool(true), NUL(TESS_T_BOOL), tess__v_bool(false)};
        tess__value o = agg1(TESS_AGG_LAST, TESS_T_BOOL, bs, 3, &a);
        assert_false(o.null);
        assert_false(o.u.b);
        o = agg1(TESS_AGG_FIRST, TESS_T_BOOL, bs, 3, &a);
        assert_true(o.u.b);
    }

    /* count_distinct_approx: empty is null; duplicates count once; types differ */
    expect_null(agg1(TESS_AGG_COUNT_DISTINCT_APPROX, TESS_T_INT64, nulls, 2, &a), TESS_T_INT64);
    {
        tess__value v[40];
        for (int i = 0; i < 40; i++) v[i] = I(i % 20);
        expect_int(agg1(TESS_AGG_COUNT_DISTINCT_APPROX, TESS_T_INT64, v, 40, &a), 20);
        tess__value bs[] = {tess__v_bool(true), tess__v_bool(false), tess__v_bool(true)};
        expect_int(agg1(TESS_AGG_COUNT_DISTINCT_APPROX, TESS_T_BOOL, bs, 3, &a), 2);
        tess__value zf[] = {F(0.0), F(-0.0), F(NAN), F(-NAN)};
        expect_int(agg1(TESS_AGG_COUNT_DISTINCT_APPROX, TESS_T_FLOAT64, zf, 4, &a), 2);
        uint32_t i1, i2;
        uint8_t r1, r2;
        tess__value one = I(1), sone = S("1");
        tess__hll_point(TESS_T_INT64, &one, &i1, &r1);
        tess__hll_point(TESS_T_STRING, &sone, &i2, &r2);
        assert_true(i1 != i2 || r1 != r2);
    }

    /* kinds */
    assert_true(tess__agg_kind_valid((tess__agg_kind){TESS_AGG_COUNT, TESS_T_NULL}));
    assert_false(tess__agg_kind_valid((tess__agg_kind){TESS_AGG_SUM, TESS_T_STRING}));
    assert_false(tess__agg_kind_valid((tess__agg_kind){TESS_AGG_MIN, TESS_T_BOOL}));
    assert_true(tess__agg_kind_valid((tess__agg_kind){TESS_AGG_LAST, TESS_T_BOOL}));
    assert_int_equal(tess__agg_result_type((tess__agg_kind){TESS_AGG_MEAN, TESS_T_INT64}),
                     TESS_T_FLOAT64);
    assert_int_equal(tess__agg_result_type((tess__agg_kind){TESS_AGG_SUM, TESS_T_INT64}),
                     TESS_T_INT64);
    tess__arena_release(&a);
}

/* ---- states from random values ------------------------------------------------------------ */

static const tess__agg ALL_AGGS[] = {
    TESS_AGG_COUNT,      TESS_AGG_SUM,        TESS_AGG_MEAN,     TESS_AGG_MIN,
    TESS_AGG_MAX,        TESS_AGG_FIRST,      TESS_AGG_LAST,     TESS_AGG_STDDEV_SAMP,
    TESS_AGG_STDDEV_POP, TESS_AGG_VAR_SAMP,   TESS_AGG_VAR_POP,  TESS_AGG_COUNT_DISTINCT_APPROX};
#define NAGGS (sizeof(ALL_AGGS) / sizeof(ALL_AGGS[0]))
static const tess__type ALL_TYPES[] = {TESS_T_BOOL, TESS_T_INT64, TESS_T_FLOAT64, TESS_T_STRING,
                                       TESS_T_TIMESTAMP};
#define NTYPES (sizeof(ALL_TYPES) / sizeof(ALL_TYPES[0]))

static const char *const WORDS[] = {"a", "b", "ab", "", "zz", "abc", "B", "ba", "é", "x y"};
#define NWORDS (sizeof(WORDS) / sizeof(WORDS[0]))

/* A random value of type t: 2-decimal amounts for floats (mode 0) or wild ones (mode 1:
 * tiny, huge, inf, NaN, -0.0). */
static tess__value rand_value(tess__type t, int mode)
{
    if (chance(8)) return NUL(t);
    switch (t) {
    case TESS_T_BOOL: return tess__v_bool(rnd() & 1);
    case TESS_T_INT64:
        if (mode && chance(10)) return I(chance(50) ? INT64_MAX - (int64_t)rndn(3) : INT64_MIN);
        return I((int64_t)rndn(2001) - 1000);
    case TESS_T_TIMESTAMP: return tess__v_ts((int64_t)rndn(1000000) - 1000);
    case TESS_T_STRING: return S(WORDS[rndn(NWORDS)]);
    default:
        if (mode) {
            switch (rndn(9)) {
            case 0: return F(ldexp((double)(rnd() >> 11), -(int)rndn(300)));
            case 1: return F(-ldexp((double)(rnd() >> 11), (int)rndn(60)));
            case 2: return F(ldexp(1.0 + (double)rndn(1000), 85 + (int)rndn(30))); /* outlier */
            case 3: return F(chance(50) ? INFINITY : -INFINITY);
            case 4: return F(NAN);
            case 5: return F(-0.0);
            default: break;
            }
        }
        return F((double)((int64_t)rndn(2000001) - 500000) / 100.0);
    }
}

/* ---- encode / decode -------------------------------------------------------------------- */

static void encode_ok(tess__agg_kind k, const tess__agg_state *s, tess__buf *b)
{
    tess__buf_reset(b);
    assert_int_equal(tess__agg_encode(k, s, b), TESS_OK);
    assert_true(b->len <= tess__agg_encoded_bound(k, s));
}

static void check_roundtrip(tess__agg_kind k, const tess__agg_state *s, tess__arena *a)
{
    tess__buf b1 = TESS__BUF_INIT, b2 = TESS__BUF_INIT;
    char x1[128], x2[128];
    encode_ok(k, s, &b1);
    tess__agg_state d;
    assert_int_equal(tess__agg_decode(k, b1.p, b1.len, &d, a), TESS_OK);
    encode_ok(k, &d, &b2);
    assert_int_equal(b1.len, b2.len);
    assert_memory_equal(b1.p, b2.p, b1.len);
    tess__value v1, v2;
    assert_int_equal(tess__agg_finalize(k, s, a, &v1), TESS_OK);
    assert_int_equal(tess__agg_finalize(k, &d, a, &v2), TESS_OK);
    if (!same_strict(&v1, &v2))
        fail_msg("%s(%s): %s != %s", tess__agg_name(k.agg), tess__type_name(k.in),
                 show(&v1, x1, 128), show(&v2, x2, 128));

    /* every strict prefix, and one byte more, is refused */
    for (size_t n = 0; n < b1.len; n++)
        assert_int_equal(tess__agg_decode(k, b1.p, n, &d, a), TESS_EPARSE);
    tess__buf_putc(&b1, 0);
    assert_int_equal(tess__agg_decode(k, b1.p, b1.len, &d, a), TESS_EPARSE);
    b1.len--;
    /* bit flips: refused, or a state that finalizes and encodes */
    for (int i = 0; i < 40 && b1.len; i++) {
        tess__buf_reset(&b2);
        tess__buf_append(&b2, b1.p, b1.len);
        size_t at = rndn(b1.len);
        b2.p[at] ^= (char)(1u << rndn(8));
        int rc = tess__agg_decode(k, b2.p, b2.len, &d, a);
        assert_true(rc == TESS_OK || rc == TESS_EPARSE);
        if (rc == TESS_OK) {
            assert_int_equal(tess__agg_finalize(k, &d, a, &v2), TESS_OK);
            encode_ok(k, &d, &b2);
        }
    }
    /* another kind does not read it */
    tess__agg_kind other = {k.agg == TESS_AGG_COUNT ? TESS_AGG_SUM : TESS_AGG_COUNT,
                            k.agg == TESS_AGG_COUNT ? TESS_T_INT64 : k.in};
    if (tess__agg_kind_valid(other))
        assert_int_equal(tess__agg_decode(other, b1.p, b1.len, &d, a), TESS_EPARSE);
    tess__buf_release(&b1);
    tess__buf_release(&b2);
}

static void test_encode_roundtrip(void **state)
{
    (void)state;
    rng_seed(1);
    tess__arena a = TESS__ARENA_INIT;
    size_t sizes[] = {0, 1, 5, 30, 200, 6000};
    for (size_t ai = 0; ai < NAGGS; ai++) {
        for (size_t ti = 0; ti <= NTYPES; ti++) {
            tess__agg_kind k = {ALL_AGGS[ai], ti < NTYPES ? ALL_TYPES[ti] : TESS_T_NULL};
            if (!tess__agg_kind_valid(k)) continue;
            for (int mode = 0; mode < 2; mode++) {
                for (size_t si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
                    tess__agg_state s;
                    tess__agg_init(k, &s);
                    for (size_t i = 0; i < sizes[si]; i++) {
                        tess__value v = rand_value(k.in == TESS_T_NULL ? TESS_T_INT64 : k.in, mode);
                        if (k.agg == TESS_AGG_COUNT_DISTINCT_APPROX && k.in == TESS_T_INT64)
                            v = I((int64_t)rnd()); /* many distinct: dense registers */
                        tess__agg_key key = {(int64_t)rndn(100), chance(30) ? INT64_MIN : 5,
                                             (int64_t)i};
                        assert_int_equal(
                            tess__agg_add(k, &s, k.in == TESS_T_NULL ? NULL : &v, &key, &a),
                            TESS_OK);
                    }
                    check_roundtrip(k, &s, &a);
                }
            }
            tess__arena_reset(&a);
        }
    }
    tess__arena_release(&a);
}

static void test_decode_garbage(void **state)
{
    (void)state;
    rng_seed(2);
    tess__arena a = TESS__ARENA_INIT;
    uint8_t buf[5000];
    size_t accepted = 0;
    for (int iter = 0; iter < 20000; iter++) {
        size_t n = rndn(iter % 10 == 0 ? sizeof(buf) : 40);
        for (size_t i = 0; i < n; i++) buf[i] = (uint8_t)rnd();
        tess__agg_kind k = {ALL_AGGS[rndn(NAGGS)], ALL_TYPES[rndn(NTYPES)]};
        if (!tess__agg_kind_valid(k)) continue;
        /* a plausible header half the time, so that the payload checks are reached */
        if (n >= 3 && chance(50)) {
            buf[0] = 1;
            buf[1] = (uint8_t)k.agg;
            buf[2] = (uint8_t)k.in;
        }
        tess__agg_state s;
        int rc = tess__agg_decode(k, buf, n, &s, &a);
        assert_true(rc == TESS_OK || rc == TESS_EPARSE);
        if (rc == TESS_OK) {
            accepted++;
            tess__value v;
            assert_int_equal(tess__agg_finalize(k, &s, &a, &v), TESS_OK);
        } else {
            assert_int_equal(s.n, 0);
        }
        if (iter % 1000 == 0) tess__arena_reset(&a);
    }
    assert_int_equal(tess__agg_decode((tess__agg_kind){TESS_AGG_COUNT, TESS_T_NULL}, NULL, 0,
                                      &(tess__agg_state){0}, &a),
                     TESS_EPARSE);
    (void)accepted;
    tess__arena_release(&a);
}

/* ---- merge order ------------------------------------------------------------------------------ */

/* A state of the values vals[idx[0..n)] added in that order, keys from the index. */
static void state_of(tess__agg_kind k, const tess__value *vals, const size_t *idx, size_t n,
                     tess__arena *a, tess__agg_state *s)
{
    tess__agg_init(k, s);
    for (size_t i = 0; i < n; i++) {
        size_t r = idx[i];
        tess__agg_key key = {(int64_t)(r / 3), (r % 5) ? (int64_t)(r % 7) : INT64_MIN, (int64_t)r};
        assert_int_equal(
            tess__agg_add(k, s, k.in == TESS_T_NULL ? NULL : &vals[r], &key, a), TESS_OK);
    }
}

static void shuffle(size_t *x, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = rndn(i), t = x[i - 1];
        x[i - 1] = x[j];
        x[j] = t;
    }
}

static void expect_same_state(tess__agg_kind k, const tess__agg_state *x,
                              const tess__agg_state *y, tess__arena *a, const char *what)
{
    tess__value v1, v2;
    char b1[128], b2[128];
    assert_int_equal(tess__agg_finalize(k, x, a, &v1), TESS_OK);
    assert_int_equal(tess__agg_finalize(k, y, a, &v2), TESS_OK);
    if (!same_strict(&v1, &v2))
        fail_msg("%s %s(%s): %s != %s", what, tess__agg_name(k.agg), tess__type_name(k.in),
                 show(&v1, b1, 128), show(&v2, b2, 128));
    tess__buf e1 = TESS__BUF_INIT, e2 = TESS__BUF_INIT;
    encode_ok(k, x, &e1);
    encode_ok(k, y, &e2);
    if (e1.len != e2.len || memcmp(e1.p, e2.p, e1.len) != 0)
        fail_msg("%s %s(%s): same value, different encodings", what, tess__agg_name(k.agg),
                 tess__type_name(k.in));
    tess__buf_release(&e1);
    tess__buf_release(&e2);
}

static void test_merge_associative(void **state)
{
    (void)state;
    rng_seed(3);
    tess__arena a = TESS__ARENA_INIT;
    enum { N = 300 };
    tess__value vals[N];
    size_t idx[N];
    for (int iter = 0; iter < 10; iter++) {
        for (size_t ai = 0; ai < NAGGS; ai++) {
            for (size_t ti = 0; ti <= NTYPES; ti++) {
                tess__agg_kind k = {ALL_AGGS[ai], ti < NTYPES ? ALL_TYPES[ti] : TESS_T_NULL};
                if (!tess__agg_kind_valid(k)) continue;
                for (size_t i = 0; i < N; i++) {
                    vals[i] = rand_value(k.in == TESS_T_NULL ? TESS_T_INT64 : k.in, 0);
                    idx[i] = i;
                }
                size_t c1 = rndn(N), c2 = c1 + rndn(N - c1);
                tess__agg_state x, y, z, l, r, t;
                state_of(k, vals, idx, c1, &a, &x);
                state_of(k, vals, idx + c1, c2 - c1, &a, &y);
                state_of(k, vals, idx + c2, N - c2, &a, &z);
                /* (x + y) + z */
                assert_int_equal(tess__agg_copy(k, &l, &x, &a), TESS_OK);
                assert_int_equal(tess__agg_merge(k, &l, &y, &a), TESS_OK);
                assert_int_equal(tess__agg_merge(k, &l, &z, &a), TESS_OK);
                /* x + (y + z) */
                assert_int_equal(tess__agg_copy(k, &t, &y, &a), TESS_OK);
                assert_int_equal(tess__agg_merge(k, &t, &z, &a), TESS_OK);
                assert_int_equal(tess__agg_copy(k, &r, &x, &a), TESS_OK);
                assert_int_equal(tess__agg_merge(k, &r, &t, &a), TESS_OK);
                expect_same_state(k, &l, &r, &a, "associativity");
                /* the canonical fold from empty equals the rows added in order */
                tess__agg_state whole;
                state_of(k, vals, idx, N, &a, &whole);
                tess__agg_state fold;
                tess__agg_init(k, &fold);
                tess__agg_merge(k, &fold, &x, &a);
                tess__agg_merge(k, &fold, &y, &a);
                tess__agg_merge(k, &fold, &z, &a);
                expect_same_state(k, &fold, &whole, &a, "fold");
                /* merge does not touch its second argument */
                tess__agg_state y2;
                state_of(k, vals, idx + c1, c2 - c1, &a, &y2);
                expect_same_state(k, &y, &y2, &a, "merge source");
                /* subtraction undoes a merge exactly */
                if (tess__agg_invertible(k)) {
                    assert_int_equal(tess__agg_sub(k, &l, &z), TESS_OK);
                    tess__agg_state xy;
                    state_of(k, vals, idx, c2, &a, &xy);
                    expect_same_state(k, &l, &xy, &a, "sub");
                } else {
                    assert_int_equal(tess__agg_sub(k, &l, &z), TESS_EINVAL);
                }
                tess__arena_reset(&a);
            }
        }
    }
    tess__arena_release(&a);
}

/* The same rows, added in random orders into random tiles merged in random orders: the same
 * bits (2-decimal amounts, ints, strings; every aggregation, variances included). */
static void test_order_independence(void **state)
{
    (void)state;
    rng_seed(4);
    tess__arena a = TESS__ARENA_INIT;
    enum { N = 2000, TRIES = 12 };
    static tess__value vals[N];
    static size_t idx[N];
    for (size_t ai = 0; ai < NAGGS; ai++) {
        for (size_t ti = 0; ti <= NTYPES; ti++) {
            tess__agg_kind k = {ALL_AGGS[ai], ti < NTYPES ? ALL_TYPES[ti] : TESS_T_NULL};
            if (!tess__agg_kind_valid(k)) continue;
            for (size_t i = 0; i < N; i++) {
                vals[i] = rand_value(k.in == TESS_T_NULL ? TESS_T_INT64 : k.in, 0);
                idx[i] = i;
            }
            tess__agg_state ref;
            state_of(k, vals, idx, N, &a, &ref);
            for (int tr = 0; tr < TRIES; tr++) {
                shuffle(idx, N);
                size_t ntiles = 1 + rndn(40), cut[41];
                cut[0] = 0;
                for (size_t i = 1; i < ntiles; i++) cut[i] = rndn(N + 1);
                cut[ntiles] = N;
                for (size_t i = 1; i < ntiles; i++) /* sort the cuts */
                    for (size_t j = i; j > 0 && cut[j] < cut[j - 1]; j--) {
                        size_t t = cut[j];
                        cut[j] = cut[j - 1];
                        cut[j - 1] = t;
                    }
                tess__agg_state tiles[40];
                size_t order[40];
                for (size_t i = 0; i < ntiles; i++) {
                    state_of(k, vals, idx + cut[i], cut[i + 1] - cut[i], &a, &tiles[i]);
                    order[i] = i;
                }
                shuffle(order, ntiles);
                tess__agg_state acc;
                tess__agg_init(k, &acc);
                for (size_t i = 0; i < ntiles; i++)
                    assert_int_equal(tess__agg_merge(k, &acc, &tiles[order[i]], &a), TESS_OK);
                expect_same_state(k, &acc, &ref, &a, "order");
            }
            tess__arena_reset(&a);
        }
    }
    tess__arena_release(&a);
}

/* ---- bulk adds and sliding windows ---------------------------------------------------------- */

/* vals[0..n) as a column (nulls as a byte array), in `a`. */
static tess__col col_of(tess__type t, const tess__value *vals, size_t n, tess__arena *a)
{
    tess__col c = {t, tess__arena_alloc(a, n + 1), tess__arena_alloc(a, (n + 1) * 16)};
    for (size_t i = 0; i < n; i++) {
        c.nulls[i] = vals[i].null;
        switch (t) {
        case TESS_T_BOOL: ((uint8_t *)c.data)[i] = vals[i].null ? 0 : vals[i].u.b; break;
        case TESS_T_FLOAT64: ((double *)c.data)[i] = vals[i].null ? 0.0 : vals[i].u.f; break;
        case TESS_T_STRING: ((tess__str *)c.data)[i] = vals[i].u.s; break;
        default: ((int64_t *)c.data)[i] = vals[i].null ? 0 : vals[i].u.i; break;
        }
    }
    return c;
}

/* Random values with runs of equal ones (what a backfill's column looks like: the bulk paths
 * skip repeated values where adding is idempotent). */
static void rand_column(tess__type t, int mode, tess__value *vals, size_t n)
{
    for (size_t i = 0; i < n; i++)
        vals[i] = i && chance(40) ? vals[i - 1] : rand_value(t, mode);
}

/* tess__agg_add_rows over any range, with or without a skip mask, equals tess__agg_add row by
 * row (state encodings included); tess__agg_slide's every window equals the state of its rows
 * alone, and says when it cannot be exact (outliers). Sizes span the bulk thresholds. */
static void test_add_rows_and_slide(void **state)
{
    (void)state;
    rng_seed(5);
    tess__arena a = TESS__ARENA_INIT;
    enum { N = 1500 };
    static tess__value vals[N];
    static size_t idx[N]; /* the rows a reference state is built from */
    static uint8_t skip[N];
    static size_t lo[N], hi[N];
    for (int mode = 0; mode < 2; mode++) {
        for (size_t ai = 0; ai < NAGGS; ai++) {
            for (size_t ti = 0; ti <= NTYPES; ti++) {
                tess__agg_kind k = {ALL_AGGS[ai], ti < NTYPES ? ALL_TYPES[ti] : TESS_T_NULL};
                if (!tess__agg_kind_valid(k)) continue;
                tess__type t = k.in == TESS_T_NULL ? TESS_T_INT64 : k.in;
                for (int tr = 0; tr < 6; tr++) {
                    size_t n = tr < 3 ? 1 + rndn(40) : N - rndn(300);
                    rand_column(t, mode, vals, n);
                    for (size_t i = 0; i < n; i++) skip[i] = chance(15);
                    tess__col col = col_of(t, vals, n, &a);
                    const tess__col *cp = k.in == TESS_T_NULL ? NULL : &col;
                    const uint8_t *sk = tr & 1 ? skip : NULL;
                    /* keys as state_of makes them */
                    int64_t *kts = tess__arena_alloc(&a, n * 8), *kcr = tess__arena_alloc(&a, n * 8);
                    uint8_t *kcn = tess__arena_alloc(&a, n);
                    for (size_t r = 0; r < n; r++) {
                        kts[r] = (int64_t)(r / 3);
                        kcr[r] = (int64_t)(r % 7);
                        kcn[r] = !(r % 5);
                    }
                    tess__agg_keys keys = {kts, kcr, kcn, NULL};
                    /* a random range, added in two calls */
                    size_t from = rndn(n / 4 + 1), to = n - rndn(n / 4 + 1), mid = from + rndn(to - from + 1);
                    tess__agg_state bulk, ref;
                    tess__agg_init(k, &bulk);
                    assert_int_equal(tess__agg_add_rows(k, &bulk, cp, sk, from, mid, &keys, &a), TESS_OK);
                    assert_int_equal(tess__agg_add_rows(k, &bulk, cp, sk, mid, to, &keys, &a), TESS_OK);
                    size_t nr = 0;
                    for (size_t r = from; r < to; r++)
                        if (!(sk && sk[r])) idx[nr++] = r;
                    state_of(k, vals, idx, nr, &a, &ref);
                    expect_same_state(k, &bulk, &ref, &a, "add_rows");
                    if (!tess__agg_invertible(k)) continue;
                    /* sliding windows: random non-decreasing ends */
                    size_t m = 1 + rndn(n), h = 0, l = 0;
                    for (size_t j = 0; j < m; j++) {
                        h += rndn(4);
                        if (h > n) h = n;
                        l += rndn(4);
                        if (l > h) l = h;
                        lo[j] = l;
                        hi[j] = h;
                    }
                    tess__type rt = tess__agg_result_type(k);
                    tess__col out = {rt, tess__arena_alloc(&a, m), tess__arena_alloc(&a, m * 16)};
                    bool exact;
                    assert_int_equal(tess__agg_slide(k, cp, sk, tr & 2 ? NULL : lo, hi, m, &out, &exact),
                                     TESS_OK);
                    tess__agg_state all;
                    nr = 0;
                    for (size_t r = 0; r < hi[m - 1]; r++)
                        if (!(sk && sk[r])) idx[nr++] = r;
                    state_of(k, vals, idx, nr, &a, &all);
                    if (!exact) { /* only when the rows hold an outlier */
                        assert_false(tess__agg_exact(k, &all));
                        continue;
                    }
                    assert_true(tess__agg_exact(k, &all));
                    for (size_t j = 0; j < m; j++) {
                        size_t a0 = tr & 2 ? 0 : lo[j];
                        nr = 0;
                        for (size_t r = a0; r < hi[j]; r++)
                            if (!(sk && sk[r])) idx[nr++] = r;
                        tess__agg_state w;
                        state_of(k, vals, idx, nr, &a, &w);
                        tess__value want, got;
                        assert_int_equal(tess__agg_finalize(k, &w, &a, &want), TESS_OK);
                        got = out.nulls[j] ? tess__null(rt) : want;
                        if (!out.nulls[j]) {
                            got.type = rt;
                            if (rt == TESS_T_FLOAT64)
                                got.u.f = ((double *)out.data)[j];
                            else
                                got.u.i = ((int64_t *)out.data)[j];
                        }
                        char b1[128], b2[128];
                        if (!same_strict(&got, &want))
                            fail_msg("slide %s(%s) [%zu, %zu): %s != %s", tess__agg_name(k.agg),
                                     tess__type_name(k.in), a0, hi[j], show(&got, b1, 128),
                                     show(&want, b2, 128));
                    }
                }
                tess__arena_reset(&a);
            }
        }
    }
    tess__arena_release(&a);
}

/* ---- HyperLogLog error -------------------------------------------------------------------- */

/* Stated: standard error 1.04 / sqrt(4096) = 1.625%; we require every estimate within three
 * standard errors (4.9%), and exact-ish counts (within 1) up to 100 values. */
static void test_hll_error(void **state)
{
    (void)state;
    tess__arena a = TESS__ARENA_INIT;
    tess__agg_kind ki = {TESS_AGG_COUNT_DISTINCT_APPROX, TESS_T_INT64};
    tess__agg_kind ks = {TESS_AGG_COUNT_DISTINCT_APPROX, TESS_T_STRING};
    const double bound = 3 * 1.04 / 64.0;
    long checkpoints[] = {1, 10, 50, 100, 1000, 5000, 20000, 100000};
    tess__agg_state si, ss;
    tess__agg_init(ki, &si);
    tess__agg_init(ks, &ss);
    long next = 0;
    double sum_err = 0;
    int nerr = 0;
    for (long i = 1; i <= 100000; i++) {
        tess__value v = I(i * 7919);
        char b[32];
        int n = snprintf(b, sizeof(b), "user-%ld", i);
        tess__value sv = tess__v_str(b, (size_t)n);
        assert_int_equal(tess__agg_add(ki, &si, &v, NULL, &a), TESS_OK);
        assert_int_equal(tess__agg_add(ks, &ss, &sv, NULL, &a), TESS_OK);
        if (i == checkpoints[next]) {
            next++;
            tess__value e1, e2;
            tess__agg_finalize(ki, &si, &a, &e1);
            tess__agg_finalize(ks, &ss, &a, &e2);
            for (int t = 0; t < 2; t++) {
                double est = (double)(t ? e2.u.i : e1.u.i);
                double err = fabs(est - (double)i) / (double)i;
                if (i <= 100) {
                    if (fabs(est - (double)i) > 1) fail_msg("n=%ld estimate %g", i, est);
                } else if (err > bound) {
                    fail_msg("n=%ld estimate %g: error %.2f%% > %.2f%%", i, est, 100 * err,
                             100 * bound);
                }
                if (i >= 1000) {
                    sum_err += err;
                    nerr++;
                }
            }
        }
    }
    /* on average well inside one standard error */
    assert_true(sum_err / nerr < 1.04 / 64.0);
    tess__arena_release(&a);
}

/* ---- the window engine ------------------------------------------------------------------------ */

static const char *const CONFIG = "project: t\n";

static tess__defs *load_defs(const char *text)
{
    tess__defs_file files[2] = {{"tessera.yaml", CONFIG, strlen(CONFIG)},
                                {"defs.yaml", text, strlen(text)}};
    tess__defs *d = NULL;
    tess__err err = TESS__ERR_INIT;
    int rc = tess__defs_load_strings(files, 2, &d, &err);
    if (rc != TESS_OK) fail_msg("defs: %s", tess__err_msg(&err));
    tess__err_release(&err);
    return d;
}

#define SCHEMA_YAML                                                                                \
    "entities:\n"                                                                                  \
    "  - name: user\n"                                                                             \
    "    join_keys: [user_id]\n"                                                                   \
    "sources:\n"                                                                                   \
    "  - name: ev\n"                                                                               \
    "    type: batch\n"                                                                            \
    "    path: data/ev.csv\n"                                                                      \
    "    timestamp: ts\n"                                                                          \
    "    created_timestamp: created\n"                                                             \
    "    schema: {user_id: int64, amount: float64, qty: int64, name: string, flag: bool,"          \
    " ts: timestamp, created: timestamp}\n"

enum { C_USER, C_AMOUNT, C_QTY, C_NAME, C_FLAG, C_TS, C_CREATED, NCOLS };

/* Every aggregation, int and float inputs, where filters, three windows and lifetime. */
static char *view_yaml(const char *hop, const char *w1, const char *w2, const char *w3)
{
    static char buf[8192];
    snprintf(buf, sizeof(buf),
             SCHEMA_YAML
             "feature_views:\n"
             "  - name: v\n"
             "    entities: [user]\n"
             "    source: ev\n"
             "    hop: %s\n"
             "    features:\n"
             "      - {name: last_amount, expr: amount}\n"
             "      - {name: n_w1, agg: count, window: %s}\n"
             "      - {name: n_life, agg: count}\n"
             "      - {name: namt_w2, agg: count, expr: amount, window: %s}\n"
             "      - {name: nbig_w3, agg: count, where: \"amount > 300\", window: %s}\n"
             "      - {name: n_w3, agg: count, window: %s}\n"
             "      - {name: sum_w1, agg: sum, expr: amount, window: %s}\n"
             "      - {name: sum_w3, agg: sum, expr: amount, window: %s}\n"
             "      - {name: sum2_w3, agg: sum, expr: \"amount * 2\", where: flag, window: %s}\n"
             "      - {name: isum_w2, agg: sum, expr: qty, window: %s}\n"
             "      - {name: isum_life, agg: sum, expr: qty}\n"
             "      - {name: mean_w3, agg: mean, expr: amount, window: %s}\n"
             "      - {name: imean_life, agg: mean, expr: qty}\n"
             "      - {name: min_w2, agg: min, expr: amount, window: %s}\n"
             "      - {name: max_w3, agg: max, expr: amount, window: %s}\n"
             "      - {name: smin_w3, agg: min, expr: name, window: %s}\n"
             "      - {name: smax_life, agg: max, expr: name}\n"
             "      - {name: tmin_life, agg: min, expr: ts}\n"
             "      - {name: imax_w2, agg: max, expr: qty, where: flag, window: %s}\n"
             "      - {name: first_w3, agg: first, expr: name, window: %s}\n"
             "      - {name: last_w3, agg: last, expr: name, window: %s}\n"
             "      - {name: firsta_life, agg: first, expr: amount}\n"
             "      - {name: lasta_w2, agg: last, expr: amount, window: %s}\n"
             "      - {name: lastf_w1, agg: last, expr: flag, window: %s}\n"
             "      - {name: firstq_w1, agg: first, expr: qty, where: \"qty > 0\", window: %s}\n"
             "      - {name: sds_w3, agg: stddev_samp, expr: amount, window: %s}\n"
             "      - {name: sdp_life, agg: stddev_pop, expr: qty}\n"
             "      - {name: vs_w2, agg: var_samp, expr: amount, window: %s}\n"
             "      - {name: vp_w3, agg: var_pop, expr: amount, window: %s}\n"
             "      - {name: ivs_w3, agg: var_samp, expr: qty, window: %s}\n"
             "      - {name: hll_w3, agg: count_distinct_approx, expr: name, window: %s}\n"
             "      - {name: hllq_life, agg: count_distinct_approx, expr: qty}\n"
             "      - {name: hlla_w2, agg: count_distinct_approx, expr: amount, where: flag,"
             " window: %s}\n"
             "      - {name: hllf_w1, agg: count_distinct_approx, expr: flag, window: %s}\n"
             "      - {name: sum_w3b, agg: sum, expr: amount, window: %s}\n"
             "      - {name: hllq_w3, agg: count_distinct_approx, expr: qty, window: %s}\n",
             hop, w1, w2, w3, w3, w1, w3, w3, w2, w3, w2, w3, w3, w2, w3, w3, w2, w1, w1, w3, w2,
             w3, w3, w3, w2, w1, w3, w3);
    return buf;
}

/* One generated case: rows of several entities in one batch. */
typedef struct gcase {
    size_t n, nent;
    size_t lo[8], hi[8];
    tess__batch b;
    bool seq_null;
    tess__value *rows; /* n x NCOLS */
} gcase;

typedef struct grow {
    int64_t ts, created; /* created INT64_MIN: null */
    int64_t seq;
    tess__value v[NCOLS];
} grow;

static int grow_cmp(const void *x, const void *y)
{
    const grow *a = x, *b = y;
    if (a->v[C_USER].u.i != b->v[C_USER].u.i) return a->v[C_USER].u.i < b->v[C_USER].u.i ? -1 : 1;
    if (a->ts != b->ts) return a->ts < b->ts ? -1 : 1;
    if (a->created != b->created) return a->created < b->created ? -1 : 1;
    if (a->seq != b->seq) return a->seq < b->seq ? -1 : 1;
    return 0;
}

/* mode 0: 2-decimal amounts; 1: wild floats (outliers, inf, NaN) too; 2: one big entity
 * of `big` rows with qty in 0..29999 (many rows per HyperLogLog register). */
static void gen_case(gcase *g, int64_t hop, int mode, size_t big)
{
    static const tess__type types[NCOLS] = {TESS_T_INT64,     TESS_T_FLOAT64, TESS_T_INT64,
                                            TESS_T_STRING,    TESS_T_BOOL,    TESS_T_TIMESTAMP,
                                            TESS_T_TIMESTAMP};
    memset(g, 0, sizeof(*g));
    g->nent = mode == 2 ? 1 : 1 + rndn(4);
    size_t cap = 0, per[8];
    for (size_t e = 0; e < g->nent; e++) {
        per[e] = mode == 2 ? big : chance(10) ? 0 : rndn(70);
        cap += per[e];
    }
    grow *gr = calloc(cap ? cap : 1, sizeof(grow));
    int64_t base = 1767225600LL * TESS_US_PER_S; /* 2026-01-01 */
    int64_t span = hop * (mode == 2 ? 72 : (int64_t)(2 + rndn(40)));
    int seqmode = (int)rndn(3); /* 0 unique, 1 NULL (row index), 2 duplicates possible */
    g->seq_null = seqmode == 1;
    size_t k = 0;
    for (size_t e = 0; e < g->nent; e++) {
        /* a few distinct times, so that ties are common; some exactly on bucket starts */
        int64_t grain = chance(50) ? hop / 4 : (int64_t)(1 + rndn(1000)) * TESS_US_PER_S;
        if (mode == 2) grain = TESS_US_PER_S;
        if (grain <= 0) grain = 1;
        for (size_t i = 0; i < per[e]; i++, k++) {
            grow *r = &gr[k];
            r->ts = base + (int64_t)rndn((uint64_t)(span / grain + 1)) * grain;
            r->created = chance(30) ? INT64_MIN : r->ts + (int64_t)rndn(3) * TESS_US_PER_S;
            r->seq = seqmode == 2 ? (int64_t)rndn(4) : (int64_t)rnd() >> 2;
            r->v[C_USER] = I((int64_t)e + 1);
            r->v[C_AMOUNT] = rand_value(TESS_T_FLOAT64, mode == 1);
            r->v[C_QTY] = mode == 2 ? I((int64_t)rndn(30000)) : rand_value(TESS_T_INT64, 0);
            r->v[C_NAME] = rand_value(TESS_T_STRING, 0);
            r->v[C_FLAG] = rand_value(TESS_T_BOOL, 0);
            r->v[C_TS] = tess__v_ts(r->ts);
            r->v[C_CREATED] =
                r->created == INT64_MIN ? NUL(TESS_T_TIMESTAMP) : tess__v_ts(r->created);
        }
    }
    g->n = cap;
    qsort(gr, cap, sizeof(grow), grow_cmp);
    assert_int_equal(tess__batch_init(&g->b, types, NCOLS, cap ? cap : 1), TESS_OK);
    g->b.nrows = cap;
    g->rows = calloc((cap ? cap : 1) * NCOLS, sizeof(tess__value));
    for (size_t i = 0; i < cap; i++) {
        for (int c = 0; c < NCOLS; c++) {
            tess__value v = gr[i].v[c];
            g->rows[i * NCOLS + c] = v;
            tess__col *col = &g->b.cols[c];
            col->nulls[i] = v.null;
            switch (types[c]) {
            case TESS_T_BOOL: ((uint8_t *)col->data)[i] = v.null ? 0 : v.u.b; break;
            case TESS_T_FLOAT64: ((double *)col->data)[i] = v.null ? 0 : v.u.f; break;
            case TESS_T_STRING:
                ((tess__str *)col->data)[i] = v.null ? (tess__str){NULL, 0} : v.u.s;
                break;
            default: ((int64_t *)col->data)[i] = v.null ? 0 : v.u.i; break;
            }
        }
        g->b.seq[i] = gr[i].seq;
    }
    size_t at = 0;
    for (size_t e = 0; e < g->nent; e++) {
        g->lo[e] = at;
        at += per[e];
        g->hi[e] = at;
    }
    free(gr);
}

static void free_case(gcase *g)
{
    tess__batch_release(&g->b);
    free(g->rows);
}

/* Sorted query times around the entity's rows: before everything, on events, on bucket
 * starts, one microsecond before them, in between, after. */
static size_t gen_queries(const gcase *g, size_t e, int64_t hop, int64_t *q, size_t max)
{
    size_t m = 1 + rndn(max);
    int64_t base = 1767225600LL * TESS_US_PER_S;
    for (size_t j = 0; j < m; j++) {
        int64_t t;
        size_t n = g->hi[e] - g->lo[e];
        switch (rndn(6)) {
        case 0: t = base - (int64_t)rndn(3) * hop - 1; break;
        case 1:
            t = n ? g->rows[(g->lo[e] + rndn(n)) * NCOLS + C_TS].u.i : base;
            break;
        case 2:
            t = tess__floor_to(n ? g->rows[(g->lo[e] + rndn(n)) * NCOLS + C_TS].u.i : base, hop) +
                (int64_t)rndn(3) * hop;
            break;
        case 3:
            t = tess__floor_to(n ? g->rows[(g->lo[e] + rndn(n)) * NCOLS + C_TS].u.i : base, hop) -
                1;
            break;
        default: t = base + (int64_t)rndn((uint64_t)hop * 45); break;
        }
        q[j] = t;
    }
    for (size_t i = 1; i < m; i++)
        for (size_t j = i; j > 0 && q[j] < q[j - 1]; j--) {
            int64_t t = q[j];
            q[j] = q[j - 1];
            q[j - 1] = t;
        }
    return m;
}

/* ---- the brute-force oracle ------------------------------------------------------------------ */

static int ocmp(tess__type t, const tess__value *a, const tess__value *b)
{
    switch (t) {
    case TESS_T_FLOAT64: {
        double x = a->u.f, y = b->u.f;
        if (isnan(x) || isnan(y)) return isnan(x) - isnan(y);
        if (x != y) return x < y ? -1 : 1;
        return (int)(signbit(y) != 0) - (int)(signbit(x) != 0);
    }
    case TESS_T_STRING: {
        size_t n = a->u.s.n < b->u.s.n ? a->u.s.n : b->u.s.n;
        int c = n ? memcmp(a->u.s.p, b->u.s.p, n) : 0;
        if (c) return c;
        return (a->u.s.n > b->u.s.n) - (a->u.s.n < b->u.s.n);
    }
    case TESS_T_BOOL: return (int)a->u.b - (int)b->u.b;
    default: return (a->u.i > b->u.i) - (a->u.i < b->u.i);
    }
}

/* The value of feature f for the entity's rows [lo, hi) at time t, by DESIGN.md directly. */
static tess__value oracle(const gcase *g, size_t lo, size_t hi, const tess__feature *f, int64_t hop,
                          int64_t t, tess__arena *a, bool *approx)
{
    *approx = false;
    int64_t start = f->window_us ? tess__floor_to(t - f->window_us, hop) : INT64_MIN;
    tess__type in = f->expr ? tess__expr_type(f->expr) : TESS_T_NULL;
    int64_t cnt = 0;
    __int128 isum = 0;
    f128 fsum = 0;
    bool special = false;
    double sp = 0;
    tess__value best = NUL(in);
    int64_t bk[3] = {0, 0, 0};
    size_t nv = 0;
    tess__value *vs = tess__arena_alloc(a, (hi - lo + 1) * sizeof(tess__value));
    for (size_t i = lo; i < hi; i++) {
        const tess__value *row = &g->rows[i * NCOLS];
        int64_t ts = row[C_TS].u.i;
        if (ts > t || ts < start) continue;
        if (f->where) {
            tess__value w;
            assert_int_equal(tess__expr_eval(f->where, row, a, &w), TESS_OK);
            if (w.null || !w.u.b) continue;
        }
        tess__value v = NUL(in);
        if (f->expr) {
            assert_int_equal(tess__expr_eval(f->expr, row, a, &v), TESS_OK);
            if (v.null) continue;
        }
        cnt++;
        if (!f->expr) continue;
        vs[nv++] = v;
        if (in == TESS_T_INT64) isum += v.u.i;
        if (in == TESS_T_FLOAT64) {
            if (isinf(v.u.f) || isnan(v.u.f)) {
                special = true;
                sp += v.u.f;
            } else {
                fsum += v.u.f;
            }
        }
        int64_t key[3] = {ts, row[C_CREATED].null ? INT64_MIN : row[C_CREATED].u.i,
                          g->seq_null ? (int64_t)(i - lo) : g->b.seq[i]};
        bool take = best.null;
        if (!take) {
            int c = 0;
            if (f->agg == TESS_AGG_FIRST || f->agg == TESS_AGG_LAST) {
                for (int z = 0; z < 3 && !c; z++) c = (key[z] > bk[z]) - (key[z] < bk[z]);
                if (!c) c = ocmp(in, &v, &best);
                take = f->agg == TESS_AGG_FIRST ? c < 0 : c > 0;
            } else if (f->agg == TESS_AGG_MIN) {
                take = ocmp(in, &v, &best) < 0;
            } else if (f->agg == TESS_AGG_MAX) {
                take = ocmp(in, &v, &best) > 0;
            }
        }
        if (take) {
            best = v;
            memcpy(bk, key, sizeof(bk));
        }
    }
    switch (f->agg) {
    case TESS_AGG_COUNT: return I(cnt);
    case TESS_AGG_SUM:
        if (in == TESS_T_INT64)
            return (isum < INT64_MIN || isum > INT64_MAX) ? NUL(TESS_T_INT64) : I((int64_t)isum);
        if (special) return F(isnan(sp) ? NAN : sp);
        return F((double)fsum);
    case TESS_AGG_MEAN:
        if (!cnt) return NUL(TESS_T_FLOAT64);
        if (special) return F(isnan(sp) ? NAN : sp);
        return F(in == TESS_T_INT64 ? (double)((f128)isum / cnt) : (double)(fsum / cnt));
    case TESS_AGG_MIN:
    case TESS_AGG_MAX:
    case TESS_AGG_FIRST:
    case TESS_AGG_LAST:
        if (!best.null && best.type == TESS_T_FLOAT64 && isnan(best.u.f)) best.u.f = NAN;
        return best;
    case TESS_AGG_STDDEV_SAMP:
    case TESS_AGG_STDDEV_POP:
    case TESS_AGG_VAR_SAMP:
    case TESS_AGG_VAR_POP: {
        bool samp = f->agg == TESS_AGG_STDDEV_SAMP || f->agg == TESS_AGG_VAR_SAMP;
        if (cnt == 0 || (samp && cnt < 2)) return NUL(TESS_T_FLOAT64);
        if (special) return F(NAN);
        *approx = true;
        f128 mean = (in == TESS_T_INT64 ? (f128)isum : fsum) / cnt, m2 = 0;
        for (size_t i = 0; i < nv; i++) {
            f128 d = (in == TESS_T_INT64 ? (f128)vs[i].u.i : (f128)vs[i].u.f) - mean;
            m2 += d * d;
        }
        double var = (double)(m2 / (samp ? cnt - 1 : cnt));
        return F(f->agg == TESS_AGG_STDDEV_SAMP || f->agg == TESS_AGG_STDDEV_POP ? sqrt(var) : var);
    }
    case TESS_AGG_COUNT_DISTINCT_APPROX: {
        /* the state path, rows in reverse order (the engine's HLL path is deques) */
        if (nv == 0) return NUL(TESS_T_INT64);
        tess__agg_kind k = {f->agg, in};
        tess__agg_state s;
        tess__agg_init(k, &s);
        for (size_t i = nv; i-- > 0;) assert_int_equal(tess__agg_add(k, &s, &vs[i], NULL, a), 0);
        tess__value out;
        tess__agg_finalize(k, &s, a, &out);
        /* and near the exact distinct count */
        size_t distinct = 0;
        for (size_t i = 0; i < nv; i++) {
            bool seen = false;
            for (size_t j = 0; j < i && !seen; j++) {
                tess__value x = vs[i], y = vs[j];
                if (in == TESS_T_FLOAT64) { /* -0 = 0, NaN = NaN for distinctness */
                    seen = (isnan(x.u.f) && isnan(y.u.f)) || x.u.f == y.u.f;
                } else {
                    seen = ocmp(in, &x, &y) == 0;
                }
            }
            distinct += !seen;
        }
        if (llabs(out.u.i - (long long)distinct) > 1 + (long long)distinct / 20)
            fail_msg("hll %lld for %zu distinct", (long long)out.u.i, distinct);
        return out;
    }
    default: fail_msg("agg"); return NUL(TESS_T_NULL);
    }
}

static void expect_match(const tess__value *got, const tess__value *want, bool approx,
                         const char *what, const tess__feature *f, int64_t t)
{
    char b1[128], b2[128];
    if (approx && !got->null && !want->null && got->type == TESS_T_FLOAT64) {
        double x = got->u.f, y = want->u.f;
        if (isnan(x) && isnan(y)) return;
        if (fabs(x - y) <= 1e-9 * fmax(fabs(y), 1e-300)) return;
    } else if (same_strict(got, want)) {
        return;
    }
    fail_msg("%s: feature %s at t=%lld: got %s, expected %s", what, f->name, (long long)t,
             show(got, b1, 128), show(want, b2, 128));
}

/* Online tiles built from rows in the given order (shuffled = late arrivals). */
static void online_tiles(const tess__wplan *p, const gcase *g, size_t lo, size_t hi, bool shuffled,
                         tess__arena *a, int64_t **starts, tess__agg_state **st, size_t *nt)
{
    int64_t hop = tess__wplan_hop(p);
    size_t ns = tess__wplan_nspecs(p), n = hi - lo, cnt = 0;
    int64_t *s = tess__arena_alloc(a, (n + 1) * sizeof(int64_t));
    tess__agg_state *x = tess__arena_alloc(a, (n * ns + 1) * sizeof(tess__agg_state));
    size_t *order = tess__arena_alloc(a, (n + 1) * sizeof(size_t));
    for (size_t i = 0; i < n; i++) order[i] = lo + i;
    if (shuffled) shuffle(order, n);
    for (size_t i = 0; i < n; i++) {
        size_t r = order[i];
        int64_t b = tess__floor_to(g->rows[r * NCOLS + C_TS].u.i, hop);
        size_t at = 0;
        while (at < cnt && s[at] < b) at++;
        if (at == cnt || s[at] != b) { /* insert a new tile, keep starts sorted */
            memmove(s + at + 1, s + at, (cnt - at) * sizeof(int64_t));
            memmove(x + (at + 1) * ns, x + at * ns, (cnt - at) * ns * sizeof(tess__agg_state));
            s[at] = b;
            for (size_t k = 0; k < ns; k++) tess__agg_init(tess__wplan_spec_kind(p, k), &x[at * ns + k]);
            cnt++;
        }
        int64_t seq = g->seq_null ? (int64_t)(r - lo) : g->b.seq[r];
        assert_int_equal(tess__wplan_add_row(p, &x[at * ns], &g->rows[r * NCOLS], seq, a), 0);
    }
    *starts = s;
    *st = x;
    *nt = cnt;
}

/* `cases` random cases; mode as gen_case; up to maxq query times per entity, the oracle
 * checked at every `every`-th one (the cross-path checks at all). */
static void run_oracle_cases(const char *hop_s, int64_t hop, const char *w1, const char *w2,
                             const char *w3, int cases, int mode, size_t big, size_t maxq,
                             size_t every)
{
    tess__defs *d = load_defs(view_yaml(hop_s, w1, w2, w3));
    const tess__view *v = tess__defs_view(d, "v");
    assert_non_null(v);
    assert_int_equal(v->hop_us, hop);
    tess__wplan *p;
    assert_int_equal(tess__wplan_new(v, &p), TESS_OK);
    size_t nf = tess__wplan_nfeatures(p), ns = tess__wplan_nspecs(p);
    assert_int_equal(nf, v->nfeatures - 1);
    tess__weval *ev, *evf;
    assert_int_equal(tess__weval_new(p, &ev), TESS_OK);
    assert_int_equal(tess__weval_new(p, &evf), TESS_OK);
    tess__weval_set_fold(evf, true);
    tess__arena a = TESS__ARENA_INIT;
    int64_t *q = malloc(maxq * sizeof(int64_t));
    tess__value *o1 = malloc(maxq * nf * sizeof(tess__value));
    tess__value *o2 = malloc(maxq * nf * sizeof(tess__value));
    tess__value *o3 = malloc(nf * sizeof(tess__value));
    tess__buf enc = TESS__BUF_INIT;
    for (int cs = 0; cs < cases; cs++) {
        gcase g;
        gen_case(&g, hop, mode, big);
        const int64_t *seqsave = g.b.seq;
        if (g.seq_null) g.b.seq = NULL;
        for (size_t e = 0; e < g.nent; e++) {
            size_t lo = g.lo[e], hi = g.hi[e];
            size_t m = gen_queries(&g, e, hop, q, maxq);
            assert_int_equal(tess__weval_run(ev, &g.b, lo, hi, q, m, &a, o1), TESS_OK);
            assert_int_equal(tess__weval_run(evf, &g.b, lo, hi, q, m, &a, o2), TESS_OK);
            /* fast engine == canonical merge, bit for bit, every aggregation */
            for (size_t j = 0; j < m; j++)
                for (size_t i = 0; i < nf; i++)
                    expect_match(&o1[j * nf + i], &o2[j * nf + i], false, "fast vs fold",
                                 tess__wplan_feature(p, i, NULL, NULL), q[j]);
            /* the same values in columns (the backfill's layout) */
            tess__col *oc = tess__arena_alloc(&a, nf * sizeof(tess__col));
            for (size_t i = 0; i < nf; i++) {
                size_t sp;
                tess__wplan_feature(p, i, &sp, NULL);
                oc[i].type = tess__agg_result_type(tess__wplan_spec_kind(p, sp));
                oc[i].nulls = tess__arena_alloc(&a, m);
                oc[i].data = tess__arena_alloc(&a, m * 16);
            }
            assert_int_equal(tess__weval_run_cols(ev, &g.b, lo, hi, q, m, &a, oc), TESS_OK);
            for (size_t j = 0; j < m; j++)
                for (size_t i = 0; i < nf; i++) {
                    tess__value cv = tess__null(oc[i].type);
                    if (!oc[i].nulls[j]) {
                        cv.null = false;
                        switch (oc[i].type) {
                        case TESS_T_BOOL: cv.u.b = ((uint8_t *)oc[i].data)[j]; break;
                        case TESS_T_FLOAT64: cv.u.f = ((double *)oc[i].data)[j]; break;
                        case TESS_T_STRING: cv.u.s = ((tess__str *)oc[i].data)[j]; break;
                        default: cv.u.i = ((int64_t *)oc[i].data)[j]; break;
                        }
                    }
                    expect_match(&cv, &o1[j * nf + i], false, "columns vs rows",
                                 tess__wplan_feature(p, i, NULL, NULL), q[j]);
                }
            /* the oracle */
            for (size_t j = 0; j < m; j += every) {
                for (size_t i = 0; i < nf; i++) {
                    const tess__feature *f = tess__wplan_feature(p, i, NULL, NULL);
                    bool approx;
                    tess__value want = oracle(&g, lo, hi, f, hop, q[j], &a, &approx);
                    /* wild floats: the f128 oracle is not exact for sums of huge and tiny
                     * values; only the cross-path checks apply to those */
                    if (mode && tess__agg_invertible((tess__agg_kind){f->agg, TESS_T_FLOAT64}) &&
                        f->agg != TESS_AGG_COUNT && f->expr &&
                        tess__expr_type(f->expr) == TESS_T_FLOAT64)
                        continue;
                    expect_match(&o1[j * nf + i], &want, approx, "engine vs oracle", f, q[j]);
                }
            }
            /* online: tiles (in order, and shuffled like late arrivals) plus a head */
            int64_t *starts;
            tess__agg_state *tiles;
            size_t nt;
            tess__wtiles wt;
            assert_int_equal(tess__weval_tiles(ev, &g.b, lo, hi, &a, &wt), TESS_OK);
            for (int variant = 0; variant < 3; variant++) {
                if (variant == 0) {
                    starts = wt.start;
                    tiles = wt.states;
                    nt = wt.n;
                } else {
                    if (mode && variant == 2) break; /* outliers: arrival order matters */
                    online_tiles(p, &g, lo, hi, variant == 2, &a, &starts, &tiles, &nt);
                }
                /* encoded copies of the tiles */
                tess__wtile_enc *et = tess__arena_alloc(&a, (nt + 1) * sizeof(*et));
                for (size_t i = 0; i < nt; i++) {
                    tess__str *sv = tess__arena_alloc(&a, (ns + 1) * sizeof(tess__str));
                    for (size_t s = 0; s < ns; s++) {
                        tess__buf_reset(&enc);
                        assert_int_equal(
                            tess__agg_encode(tess__wplan_spec_kind(p, s), &tiles[i * ns + s], &enc),
                            TESS_OK);
                        char *cp = tess__arena_alloc(&a, enc.len + 1);
                        memcpy(cp, enc.p, enc.len);
                        sv[s] = (tess__str){cp, enc.len};
                    }
                    et[i].start = starts[i];
                    et[i].states = sv;
                }
                for (size_t j = 0; j < m; j++) {
                    /* head: rows in [floor(t, h), t], sorted (or shuffled) */
                    int64_t bs = tess__floor_to(q[j], hop);
                    tess__agg_state *head = tess__arena_alloc(&a, (ns + 1) * sizeof(*head));
                    for (size_t s = 0; s < ns; s++) tess__agg_init(tess__wplan_spec_kind(p, s), &head[s]);
                    size_t *hr = tess__arena_alloc(&a, (hi - lo + 1) * sizeof(size_t)), nh = 0;
                    for (size_t r = lo; r < hi; r++) {
                        int64_t ts = g.rows[r * NCOLS + C_TS].u.i;
                        if (ts >= bs && ts <= q[j]) hr[nh++] = r;
                    }
                    if (variant == 2) shuffle(hr, nh);
                    for (size_t r = 0; r < nh; r++) {
                        int64_t seq = g.seq_null ? (int64_t)(hr[r] - lo) : seqsave[hr[r]];
                        assert_int_equal(
                            tess__wplan_add_row(p, head, &g.rows[hr[r] * NCOLS], seq, &a), 0);
                    }
                    assert_int_equal(
                        tess__wplan_eval_at(p, q[j], starts, tiles, nt, head, &a, o3), TESS_OK);
                    for (size_t i = 0; i < nf; i++)
                        expect_match(&o3[i], &o1[j * nf + i], false,
                                     variant == 0   ? "online tiles"
                                     : variant == 1 ? "online rows"
                                                    : "online shuffled",
                                     tess__wplan_feature(p, i, NULL, NULL), q[j]);
                    assert_int_equal(tess__wplan_eval_encoded(p, q[j], et, nt, head, &a, o3),
                                     TESS_OK);
                    for (size_t i = 0; i < nf; i++)
                        expect_match(&o3[i], &o1[j * nf + i], false, "online encoded",
                                     tess__wplan_feature(p, i, NULL, NULL), q[j]);
                }
            }
            tess__arena_reset(&a);
        }
        g.b.seq = (int64_t *)seqsave;
        free_case(&g);
    }
    tess__buf_release(&enc);
    free(q);
    free(o1);
    free(o2);
    free(o3);
    tess__arena_release(&a);
    tess__weval_free(ev);
    tess__weval_free(evf);
    tess__wplan_free(p);
    tess__defs_free(d);
}

static void test_oracle_hour(void **state)
{
    (void)state;
    rng_seed(10);
    run_oracle_cases("1h", 3600 * TESS_US_PER_S, "1h", "3h", "1d", 150, 0, 0, 30, 1);
}

static void test_oracle_minutes(void **state)
{
    (void)state;
    rng_seed(11);
    run_oracle_cases("20m", 1200 * TESS_US_PER_S, "20m", "1h", "7h", 100, 0, 0, 30, 1);
}

static void test_oracle_days(void **state)
{
    (void)state;
    rng_seed(12);
    run_oracle_cases("1d", 86400 * TESS_US_PER_S, "1d", "2d", "7d", 100, 0, 0, 30, 1);
}

/* Floats with inf, NaN, -0.0, tiny values and outliers (>= 2^96): the engine falls back to the
 * canonical merge where needed and every path still agrees. */
static void test_oracle_wild(void **state)
{
    (void)state;
    rng_seed(13);
    run_oracle_cases("1h", 3600 * TESS_US_PER_S, "1h", "3h", "1d", 100, 1, 0, 30, 1);
}

/* One busy entity: 20000 rows over 3 days, qty spread so that HyperLogLog registers see many
 * rows each as the 1d window slides (the deque paths), 100 query times. */
static void test_oracle_big(void **state)
{
    (void)state;
    rng_seed(14);
    run_oracle_cases("1h", 3600 * TESS_US_PER_S, "1h", "3h", "1d", 2, 2, 20000, 100, 20);
}

static void test_plan(void **state)
{
    (void)state;
    tess__defs *d = load_defs(view_yaml("1h", "1h", "3h", "1d"));
    const tess__view *v = tess__defs_view(d, "v");
    tess__wplan *p;
    assert_int_equal(tess__wplan_new(v, &p), TESS_OK);
    /* sum_w3 and sum_w3b share a spec with sum_w1; n_w1, n_life and n_w3 share one */
    size_t s1, s2, s3, c1, c2, c3;
    int64_t w;
    for (size_t i = 0; i < tess__wplan_nfeatures(p); i++) {
        const tess__feature *f = tess__wplan_feature(p, i, NULL, NULL);
        size_t sp;
        tess__wplan_feature(p, i, &sp, &w);
        assert_int_equal(w, f->window_us);
        if (!strcmp(f->name, "sum_w1")) s1 = sp;
        if (!strcmp(f->name, "sum_w3")) s2 = sp;
        if (!strcmp(f->name, "sum_w3b")) s3 = sp;
        if (!strcmp(f->name, "n_w1")) c1 = sp;
        if (!strcmp(f->name, "n_life")) c2 = sp;
        if (!strcmp(f->name, "n_w3")) c3 = sp;
    }
    assert_int_equal(s1, s2);
    assert_int_equal(s1, s3);
    assert_int_equal(c1, c2);
    assert_int_equal(c1, c3);
    assert_true(s1 != c1);
    assert_int_equal(tess__wplan_nfeatures(p), v->nfeatures - 1);
    assert_int_equal(tess__wplan_nspecs(p), tess__wplan_nfeatures(p) - 6); /* also isum_*, hllq_* */
    assert_int_equal(tess__wplan_hop(p), 3600 * TESS_US_PER_S);

    /* errors: unsorted rows or query times, bounds */
    tess__weval *ev;
    assert_int_equal(tess__weval_new(p, &ev), TESS_OK);
    static const tess__type types[NCOLS] = {TESS_T_INT64,  TESS_T_FLOAT64, TESS_T_INT64,
                                            TESS_T_STRING, TESS_T_BOOL,    TESS_T_TIMESTAMP,
                                            TESS_T_TIMESTAMP};
    tess__batch b;
    assert_int_equal(tess__batch_init(&b, types, NCOLS, 4), TESS_OK);
    b.nrows = 3;
    int64_t *ts = b.cols[C_TS].data;
    ts[0] = 100;
    ts[1] = 50;
    ts[2] = 200;
    int64_t q[2] = {300, 400};
    tess__value out[2 * 64];
    tess__arena a = TESS__ARENA_INIT;
    assert_int_equal(tess__weval_run(ev, &b, 0, 3, q, 2, &a, out), TESS_EINVAL);
    assert_int_equal(tess__weval_run(ev, &b, 1, 3, q, 2, &a, out), TESS_OK);
    assert_int_equal(tess__weval_run(ev, &b, 1, 4, q, 2, &a, out), TESS_EINVAL);
    int64_t qbad[2] = {400, 300};
    assert_int_equal(tess__weval_run(ev, &b, 1, 3, qbad, 2, &a, out), TESS_EINVAL);
    b.cols[C_TS].nulls[2] = 1;
    assert_int_equal(tess__weval_run(ev, &b, 1, 3, q, 2, &a, out), TESS_EINVAL);
    b.cols[C_TS].nulls[2] = 0;
    /* an empty entity: count and sum 0, the others null */
    assert_int_equal(tess__weval_run(ev, &b, 0, 0, q, 1, &a, out), TESS_OK);
    for (size_t i = 0; i < tess__wplan_nfeatures(p); i++) {
        const tess__feature *f = tess__wplan_feature(p, i, NULL, NULL);
        if (f->agg == TESS_AGG_COUNT || f->agg == TESS_AGG_SUM)
            assert_false(out[i].null);
        else
            assert_true(out[i].null);
        assert_int_equal(out[i].type, f->type);
    }
    tess__batch_release(&b);
    tess__arena_release(&a);
    tess__weval_free(ev);
    tess__wplan_free(p);
    tess__defs_free(d);
}

/* Fail the Nth allocation of a plan, an evaluator, a run and a tile build: every failure is
 * a clean TESS_ENOMEM (and ASan sees no leak), and a later run works. */
static void test_alloc_failures(void **state)
{
    (void)state;
    rng_seed(15);
    tess__defs *d = load_defs(view_yaml("1h", "1h", "3h", "1d"));
    const tess__view *v = tess__defs_view(d, "v");
    gcase g;
    do {
        gen_case(&g, 3600 * TESS_US_PER_S, 0, 0);
        if (g.hi[0] - g.lo[0] >= 30) break;
        free_case(&g);
    } while (1);
    int64_t q[8];
    size_t m = gen_queries(&g, 0, 3600 * TESS_US_PER_S, q, 8);
    tess__value out[8 * 64];
    bool completed = false;
    for (long nth = 0; nth < 10000 && !completed; nth++) {
        tess__arena a = TESS__ARENA_INIT;
        tess__wplan *p = NULL;
        tess__weval *ev = NULL;
        tess__wtiles wt;
        tess__alloc_fail_after(nth);
        int rc = tess__wplan_new(v, &p);
        if (!rc) rc = tess__weval_new(p, &ev);
        if (!rc) rc = tess__weval_run(ev, &g.b, g.lo[0], g.hi[0], q, m, &a, out);
        if (!rc) tess__weval_set_fold(ev, true);
        if (!rc) rc = tess__weval_run(ev, &g.b, g.lo[0], g.hi[0], q, m, &a, out);
        if (!rc) rc = tess__weval_tiles(ev, &g.b, g.lo[0], g.hi[0], &a, &wt);
        tess__alloc_fail_after(-1);
        assert_true(rc == TESS_OK || rc == TESS_ENOMEM);
        completed = rc == TESS_OK;
        if (ev) { /* the evaluator still works after a failure */
            tess__weval_set_fold(ev, false);
            assert_int_equal(tess__weval_run(ev, &g.b, g.lo[0], g.hi[0], q, m, &a, out), TESS_OK);
        }
        tess__weval_free(ev);
        tess__wplan_free(p);
        tess__arena_release(&a);
    }
    assert_true(completed);
    free_case(&g);
    tess__defs_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_finalize_known),
        cmocka_unit_test(test_encode_roundtrip),
        cmocka_unit_test(test_decode_garbage),
        cmocka_unit_test(test_merge_associative),
        cmocka_unit_test(test_order_independence),
        cmocka_unit_test(test_add_rows_and_slide),
        cmocka_unit_test(test_hll_error),
        cmocka_unit_test(test_plan),
        cmocka_unit_test(test_oracle_hour),
        cmocka_unit_test(test_oracle_minutes),
        cmocka_unit_test(test_oracle_days),
        cmocka_unit_test(test_oracle_wild),
        cmocka_unit_test(test_oracle_big),
        cmocka_unit_test(test_alloc_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
