/* agg.c — partial aggregate states (see agg.h for the contract).
 *
 * Why exact arithmetic. A tile is built online from rows in arrival order (late events
 * included) and offline from rows in sorted order; the window engine may combine tiles in a
 * different grouping than the online store does. The values agree bit for bit only if every
 * combination is exact, so every state here is a commutative monoid under exact arithmetic:
 * integers for counts and int sums, a max for HyperLogLog registers, a total order for
 * min/max/first/last, and for float sums, means and variances a fixed-point integer:
 *
 *   sum of x    S  = N_s  * 2^-128, N_s  a 256-bit two's complement integer (4 limbs)
 *   sum of x*x  SS = N_ss * 2^-192, N_ss a 384-bit integer (6 limbs); x*x of a double is a
 *               106-bit integer times a power of two, so it is added exactly too.
 *
 * A double x = m * 2^e (m < 2^53) is added by shifting m to bit e + 128 (e + 192 for m^2 at
 * 2e): a few word adds with carries, about as fast as a TwoSum double-double and, unlike it,
 * exact for every input in range, whatever the spread of magnitudes — double-double sums are
 * exact only while the exact sum fits 106 bits (true for 2-decimal amounts, false for their
 * squares). Bits below the unit (|x| < 2^-75 or so) are rounded half-even, per value, so still
 * order-independent. Values too large for the fixed point (|x| >= 2^96 for sums, >= 2^80 for
 * squares, leaving 2^31 rows of headroom) are outliers: they go to a TwoSum double-double
 * beside it, the only order-dependent part, flagged by `nout`. inf and NaN are counted.
 *
 * Finalizing rounds once, correctly: the sum is N_s * 2^-128 rounded to nearest-even; the
 * mean is N_s / n rounded (a 128/64-bit division of the top bits with a sticky bit); the
 * variance is (n * SS - S^2) / (n (n - 1)) computed in 576-bit integers, then rounded.
 *
 * HyperLogLog (p = 12): registers hold 1 + the number of leading zeros of the 52 hash bits
 * after the 12-bit index (1..53). A state keeps up to 29 registers inline, sorted by index
 * (most tiles see few distinct values), and switches to 4096 dense bytes in its arena. The
 * estimate is Ertl's (2017) improved estimator: unbiased over the whole range without the
 * empirical bias tables of HLL++ and computed from the register histogram only.
 */
#include "offline/agg.h"

#include <math.h>
#include <string.h>
#define XXH_INLINE_ALL /* the hash of short values inlined; same function */
#include <xxhash.h>

#include "tessera.h"

/* The largest row count a state holds (2^62): decoding refuses more and merging saturates
 * there, so that counts never overflow, whatever a damaged tile says. */
#define N_MAX ((int64_t)1 << 62)

typedef unsigned __int128 u128;
typedef __int128 i128;

#define S_LIMBS 4
#define SS_LIMBS 6
#define S_UNIT 128      /* S = N_s * 2^-S_UNIT */
#define SS_UNIT 192     /* SS = N_ss * 2^-SS_UNIT */
#define S_MAX_BEXP 96   /* |x| < 2^96: exact in S */
#define SS_MAX_BEXP 80  /* |x| < 2^80: exact in SS */
#define VAR_LIMBS 9     /* n * SS * 2^64 - S^2, units of 2^-256 */
#define VAR_UNIT 256
#define ENC_VERSION 1

/* ---- kinds ---------------------------------------------------------------------------- */

static bool is_moments(tess__agg_kind k)
{
    switch (k.agg) {
    case TESS_AGG_SUM: return k.in == TESS_T_FLOAT64;
    case TESS_AGG_MEAN:
    case TESS_AGG_STDDEV_SAMP:
    case TESS_AGG_STDDEV_POP:
    case TESS_AGG_VAR_SAMP:
    case TESS_AGG_VAR_POP: return true;
    default: return false;
    }
}

static bool needs_ss(tess__agg agg)
{
    return agg == TESS_AGG_STDDEV_SAMP || agg == TESS_AGG_STDDEV_POP ||
           agg == TESS_AGG_VAR_SAMP || agg == TESS_AGG_VAR_POP;
}

static bool is_isum(tess__agg_kind k)
{
    return k.agg == TESS_AGG_SUM && k.in == TESS_T_INT64;
}

bool tess__agg_kind_valid(tess__agg_kind k)
{
    bool any = k.in > TESS_T_NULL && k.in < TESS_T__COUNT;
    switch (k.agg) {
    case TESS_AGG_COUNT: return k.in == TESS_T_NULL || any;
    case TESS_AGG_SUM:
    case TESS_AGG_MEAN:
    case TESS_AGG_STDDEV_SAMP:
    case TESS_AGG_STDDEV_POP:
    case TESS_AGG_VAR_SAMP:
    case TESS_AGG_VAR_POP: return tess__type_is_numeric(k.in);
    case TESS_AGG_MIN:
    case TESS_AGG_MAX:
        return tess__type_is_numeric(k.in) || k.in == TESS_T_TIMESTAMP || k.in == TESS_T_STRING;
    case TESS_AGG_FIRST:
    case TESS_AGG_LAST:
    case TESS_AGG_COUNT_DISTINCT_APPROX: return any;
    default: return false;
    }
}

tess__type tess__agg_result_type(tess__agg_kind k)
{
    switch (k.agg) {
    case TESS_AGG_COUNT:
    case TESS_AGG_COUNT_DISTINCT_APPROX: return TESS_T_INT64;
    case TESS_AGG_SUM:
    case TESS_AGG_MIN:
    case TESS_AGG_MAX:
    case TESS_AGG_FIRST:
    case TESS_AGG_LAST: return k.in;
    default: return TESS_T_FLOAT64;
    }
}

bool tess__agg_invertible(tess__agg_kind k)
{
    return k.agg == TESS_AGG_COUNT || k.agg == TESS_AGG_SUM || is_moments(k);
}

/* ---- fixed point ------------------------------------------------------------------------ */

/* L += (neg ? -1 : 1) * mag * 2^pos (in units; pos < 0 rounds half-even to the unit). The
 * callers' range checks guarantee the result's bits stay inside the nl limbs. */
static inline void fx_add(uint64_t *L, int nl, u128 mag, int pos, bool neg)
{
    if (pos < 0) {
        int sh = -pos;
        if (sh > 128) return; /* below half a unit */
        u128 q, rem, half;
        if (sh == 128) {
            q = 0;
            rem = mag;
            half = (u128)1 << 127;
        } else {
            q = mag >> sh;
            rem = mag & (((u128)1 << sh) - 1);
            half = (u128)1 << (sh - 1);
        }
        if (rem > half || (rem == half && (q & 1))) q++;
        mag = q;
        pos = 0;
        if (!mag) return;
    }
    int k = pos >> 6, off = pos & 63;
    uint64_t w[3];
    if (off == 0) {
        w[0] = (uint64_t)mag;
        w[1] = (uint64_t)(mag >> 64);
        w[2] = 0;
    } else {
        w[0] = (uint64_t)mag << off;
        w[1] = (uint64_t)(mag >> (64 - off));
        w[2] = (uint64_t)(mag >> (128 - off));
    }
    uint64_t c = 0;
    if (!neg) {
        for (int i = k; i < nl; i++) {
            int j = i - k;
            if (j >= 3 && !c) break;
            u128 t = (u128)L[i] + (j < 3 ? w[j] : 0) + c;
            L[i] = (uint64_t)t;
            c = (uint64_t)(t >> 64);
        }
    } else {
        for (int i = k; i < nl; i++) {
            int j = i - k;
            if (j >= 3 && !c) break;
            u128 t = (u128)L[i] - (j < 3 ? w[j] : 0) - c;
            L[i] = (uint64_t)t;
            c = (uint64_t)(t >> 64) ? 1 : 0;
        }
    }
}

/* fx_add for the 4-limb sum and a 53-bit magnitude at pos >= 0 (the common case). */
static inline void fx_add4(uint64_t *L, uint64_t mag, int pos, bool neg)
{
    if (pos < 0 || pos > 192) {
        fx_add(L, 4, mag, pos, neg);
        return;
    }
    int k = pos >> 6, off = pos & 63;
    uint64_t w[5] = {0, 0, 0, 0, 0};
    w[k] = mag << off;
    w[k + 1] = off ? mag >> (64 - off) : 0;
    u128 t;
    if (!neg) {
        t = (u128)L[0] + w[0];
        L[0] = (uint64_t)t;
        t = (u128)L[1] + w[1] + (uint64_t)(t >> 64);
        L[1] = (uint64_t)t;
        t = (u128)L[2] + w[2] + (uint64_t)(t >> 64);
        L[2] = (uint64_t)t;
        L[3] += w[3] + (uint64_t)(t >> 64);
    } else {
        t = (u128)L[0] - w[0];
        L[0] = (uint64_t)t;
        t = (u128)L[1] - w[1] - ((uint64_t)(t >> 64) & 1);
        L[1] = (uint64_t)t;
        t = (u128)L[2] - w[2] - ((uint64_t)(t >> 64) & 1);
        L[2] = (uint64_t)t;
        L[3] -= w[3] + ((uint64_t)(t >> 64) & 1);
    }
}

/* fx_add for the 6-limb sum of squares at 0 <= pos < 256 (the common case), a magnitude below
 * 2^106 (a float's squared mantissa) or any with pos a multiple of 64 (an int64's square):
 * three shifted words and one carry chain. */
static inline void fx_add6(uint64_t *L, u128 mag, int pos, bool neg)
{
    if (pos < 0 || pos >= 256) {
        fx_add(L, 6, mag, pos, neg);
        return;
    }
    int k = pos >> 6, off = pos & 63;
    uint64_t w[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    w[k] = (uint64_t)mag << off;
    w[k + 1] = off ? (uint64_t)(mag >> (64 - off)) : (uint64_t)(mag >> 64);
    w[k + 2] = off ? (uint64_t)(mag >> (128 - off)) : 0;
    u128 t; /* unrolled as in fx_add4, so that the compiler makes one add/adc chain */
    if (!neg) {
        t = (u128)L[0] + w[0];
        L[0] = (uint64_t)t;
        t = (u128)L[1] + w[1] + (uint64_t)(t >> 64);
        L[1] = (uint64_t)t;
        t = (u128)L[2] + w[2] + (uint64_t)(t >> 64);
        L[2] = (uint64_t)t;
        t = (u128)L[3] + w[3] + (uint64_t)(t >> 64);
        L[3] = (uint64_t)t;
        t = (u128)L[4] + w[4] + (uint64_t)(t >> 64);
        L[4] = (uint64_t)t;
        L[5] += w[5] + (uint64_t)(t >> 64);
    } else {
        t = (u128)L[0] - w[0];
        L[0] = (uint64_t)t;
        t = (u128)L[1] - w[1] - ((uint64_t)(t >> 64) & 1);
        L[1] = (uint64_t)t;
        t = (u128)L[2] - w[2] - ((uint64_t)(t >> 64) & 1);
        L[2] = (uint64_t)t;
        t = (u128)L[3] - w[3] - ((uint64_t)(t >> 64) & 1);
        L[3] = (uint64_t)t;
        t = (u128)L[4] - w[4] - ((uint64_t)(t >> 64) & 1);
        L[4] = (uint64_t)t;
        L[5] -= w[5] + ((uint64_t)(t >> 64) & 1);
    }
}

static void fx_addn(uint64_t *a, const uint64_t *b, int nl)
{
    uint64_t c = 0;
    for (int i = 0; i < nl; i++) {
        u128 t = (u128)a[i] + b[i] + c;
        a[i] = (uint64_t)t;
        c = (uint64_t)(t >> 64);
    }
}

static void fx_subn(uint64_t *a, const uint64_t *b, int nl)
{
    uint64_t c = 0;
    for (int i = 0; i < nl; i++) {
        u128 t = (u128)a[i] - b[i] - c;
        a[i] = (uint64_t)t;
        c = (uint64_t)(t >> 64) ? 1 : 0;
    }
}

/* out := |L|; returns true if L < 0. out has room for nl limbs. */
static bool fx_abs(const uint64_t *L, int nl, uint64_t *out)
{
    bool neg = L[nl - 1] >> 63;
    if (!neg) {
        memcpy(out, L, (size_t)nl * 8);
        return false;
    }
    uint64_t c = 1;
    for (int i = 0; i < nl; i++) {
        u128 t = (u128)(~L[i]) + c;
        out[i] = (uint64_t)t;
        c = (uint64_t)(t >> 64);
    }
    return true;
}

/* Index of the highest set bit of an unsigned magnitude, -1 if zero. */
static int fx_top(const uint64_t *m, int nl)
{
    for (int i = nl - 1; i >= 0; i--)
        if (m[i]) return i * 64 + 63 - __builtin_clzll(m[i]);
    return -1;
}

/* Bits [lo, lo + 64) of m (lo may be negative: zeros shifted in); *sticky |= any bit below. */
static uint64_t fx_bits64(const uint64_t *m, int nl, int lo, bool *sticky)
{
    if (lo < 0) return -lo >= 64 ? 0 : m[0] << -lo;
    int k = lo >> 6, off = lo & 63;
    uint64_t r = k < nl ? m[k] >> off : 0;
    if (off && k + 1 < nl) r |= m[k + 1] << (64 - off);
    if (off && k < nl && (m[k] & ((1ull << off) - 1))) *sticky = true;
    for (int i = 0; i < k && i < nl; i++)
        if (m[i]) *sticky = true;
    return r;
}

/* Rounds top * 2^exp2 (bit 63 of top set; `sticky`: more nonzero bits below) to a double,
 * nearest-even. The callers' values are far from the subnormal and overflow ranges. */
static double round64(uint64_t top, bool sticky, int exp2)
{
    uint64_t keep = top >> 11, rem = top & 0x7FF;
    if (rem > 0x400 || (rem == 0x400 && (sticky || (keep & 1)))) keep++;
    int e = exp2 + 11 + 52; /* the value is keep * 2^(e - 52), keep in [2^52, 2^53] */
    if (keep >> 53) {
        keep >>= 1;
        e++;
    }
    if (e < -1022 || e > 1023) return ldexp((double)keep, e - 52); /* never, by the callers */
    uint64_t b = ((uint64_t)(e + 1023) << 52) | (keep & 0xFFFFFFFFFFFFFull);
    double d;
    memcpy(&d, &b, 8);
    return d;
}

/* L * 2^-unit rounded to a double. */
static double fx_to_double(const uint64_t *L, int nl, int unit)
{
    uint64_t m[VAR_LIMBS];
    bool neg = fx_abs(L, nl, m);
    int p = fx_top(m, nl);
    if (p < 0) return 0.0;
    bool st = false;
    uint64_t top = fx_bits64(m, nl, p - 63, &st);
    double r = round64(top, st, p - 63 - unit);
    return neg ? -r : r;
}

/* q = n / d, *r = n % d for n < 2^128, d < 2^64 (two 128/64-bit steps). */
static inline u128 divmod128(u128 n, uint64_t d, uint64_t *r)
{
#if defined(__x86_64__)
    uint64_t hi = (uint64_t)(n >> 64), lo = (uint64_t)n;
    uint64_t qh = hi / d, rh = hi % d, ql, rl;
    __asm__("divq %4" : "=a"(ql), "=d"(rl) : "a"(lo), "d"(rh), "rm"(d));
    *r = rl;
    return (u128)qh << 64 | ql;
#else
    *r = (uint64_t)(n % d);
    return n / d;
#endif
}

/* (magnitude m) / d * 2^-unit, correctly rounded; d >= 1. */
static double fx_div_round(const uint64_t *m, int nl, uint64_t d, int unit)
{
    int p = fx_top(m, nl);
    if (p < 0) return 0.0;
    int sh = p - 127; /* T = floor(m / 2^sh): bit 127 set */
    bool st = false;
    u128 hi = fx_bits64(m, nl, sh + 64, &st);
    st = false;
    u128 T = (hi << 64) | fx_bits64(m, nl, sh, &st);
    uint64_t R;
    u128 Q = divmod128(T, d, &R);
    if (R) st = true;
    uint64_t qh = (uint64_t)(Q >> 64);
    int pq = qh ? 127 - __builtin_clzll(qh) : 63 - __builtin_clzll((uint64_t)Q);
    /* Q >= 2^127 / 2^64, so pq >= 63 */
    int s2 = pq - 63;
    uint64_t top = (uint64_t)(Q >> s2);
    if (s2 && (Q & (((u128)1 << s2) - 1))) st = true;
    return round64(top, st, s2 + sh - unit);
}

/* Exact split of L * 2^-unit into hi + lo (hi the rounded value). */
static void fx_to_dd(const uint64_t *L, int nl, int unit, double dd[2])
{
    double hi = fx_to_double(L, nl, unit);
    dd[0] = hi;
    dd[1] = 0.0;
    if (hi == 0.0) return;
    uint64_t r[VAR_LIMBS];
    memcpy(r, L, (size_t)nl * 8);
    uint64_t b;
    memcpy(&b, &hi, 8);
    int be = (int)((b >> 52) & 0x7FF);
    uint64_t mant = (b & 0xFFFFFFFFFFFFFull) | (1ull << 52);
    fx_add(r, nl, mant, be - 1075 + unit, !(b >> 63));
    dd[1] = fx_to_double(r, nl, unit);
}

/* ---- double-double (outliers only) ------------------------------------------------------ */

static inline void two_sum(double a, double b, double *s, double *e)
{
    double x = a + b, bb = x - a;
    *e = (a - (x - bb)) + (b - bb);
    *s = x;
}

static void dd_add(double d[2], double x)
{
    double s, e;
    two_sum(d[0], x, &s, &e);
    e += d[1];
    two_sum(s, e, &d[0], &d[1]);
}

static void dd_add_dd(double d[2], const double y[2])
{
    double s, e;
    two_sum(d[0], y[0], &s, &e);
    e += d[1] + y[1];
    two_sum(s, e, &d[0], &d[1]);
}

/* (hi + lo) / n */
static double dd_div(const double d[2], double n)
{
    double q = d[0] / n;
    double r = fma(-q, n, d[0]) + d[1];
    return q + r / n;
}

/* ---- moments: sum, mean, variances --------------------------------------------------------- */

#define ST_M(s) (&(s)->u.m)
typedef __typeof__(((tess__agg_state *)0)->u.m) mom;

/* Adds x (rem: removes x, added before; never an outlier) to the moments. Removal is the exact
 * inverse: the same magnitudes, rounded the same way, subtracted. */
static inline __attribute__((always_inline)) void mom_addrem_f(mom *m, double x, bool ss,
                                                                bool rem)
{
    uint64_t b;
    memcpy(&b, &x, 8);
    int be = (int)((b >> 52) & 0x7FF);
    bool neg = b >> 63;
    uint32_t one = rem ? UINT32_MAX : 1; /* -1 or +1, modulo 2^32 */
    if (be == 0x7FF) {
        if (b & 0xFFFFFFFFFFFFFull)
            m->nnan += one;
        else if (neg)
            m->nninf += one;
        else
            m->npinf += one;
        return;
    }
    if (!(b << 1)) return; /* +-0 */
    uint64_t mant = b & 0xFFFFFFFFFFFFFull;
    int e;
    if (be == 0) {
        e = -1074;
    } else {
        mant |= 1ull << 52;
        e = be - 1075;
    }
    bool out = false;
    if (be < 1023 + S_MAX_BEXP) {
        fx_add4(m->s, mant, e + S_UNIT, neg != rem);
    } else {
        dd_add(m->out_s, x);
        out = true;
    }
    if (ss) {
        if (be < 1023 + SS_MAX_BEXP) {
            fx_add6(m->ss, (u128)mant * mant, 2 * e + SS_UNIT, rem);
        } else {
            double p = x * x;
            dd_add(m->out_ss, p);
            dd_add(m->out_ss, fma(x, x, -p));
            out = true;
        }
    }
    if (out) m->nout++;
}

static inline void mom_add_f(mom *m, double x, bool ss)
{
    mom_addrem_f(m, x, ss, false);
}

static inline void mom_addrem_i(mom *m, int64_t x, bool ss, bool rem)
{
    if (!x) return;
    bool neg = x < 0;
    uint64_t mag = neg ? (uint64_t)0 - (uint64_t)x : (uint64_t)x;
    fx_add4(m->s, mag, S_UNIT, neg != rem);
    if (ss) fx_add6(m->ss, (u128)mag * mag, SS_UNIT, rem);
}

static inline void mom_add_i(mom *m, int64_t x, bool ss)
{
    mom_addrem_i(m, x, ss, false);
}

static void mom_merge(mom *a, const mom *b, bool ss)
{
    fx_addn(a->s, b->s, S_LIMBS);
    if (ss) fx_addn(a->ss, b->ss, SS_LIMBS);
    a->npinf += b->npinf;
    a->nninf += b->nninf;
    a->nnan += b->nnan;
    if (b->nout) {
        dd_add_dd(a->out_s, b->out_s);
        if (ss) dd_add_dd(a->out_ss, b->out_ss);
        a->nout += b->nout;
    }
}

static double special_of(const mom *m)
{
    if (m->nnan || (m->npinf && m->nninf)) return NAN;
    return m->npinf ? INFINITY : -INFINITY;
}

static tess__value mom_finalize(tess__agg_kind k, int64_t n, const mom *m)
{
    bool sum = k.agg == TESS_AGG_SUM;
    if (n == 0) return sum ? tess__v_float(0.0) : tess__null(TESS_T_FLOAT64);
    bool special = m->npinf || m->nninf || m->nnan;
    if (sum || k.agg == TESS_AGG_MEAN) {
        if (special) return tess__v_float(special_of(m));
        if (m->nout) {
            double d[2];
            fx_to_dd(m->s, S_LIMBS, S_UNIT, d);
            dd_add_dd(d, m->out_s);
            if (sum) return tess__v_float(d[0]);
            return tess__v_float(dd_div(d, (double)n));
        }
        if (sum) return tess__v_float(fx_to_double(m->s, S_LIMBS, S_UNIT));
        uint64_t mag[S_LIMBS];
        bool neg = fx_abs(m->s, S_LIMBS, mag);
        double r = fx_div_round(mag, S_LIMBS, (uint64_t)n, S_UNIT);
        return tess__v_float(neg ? -r : r);
    }
    bool samp = k.agg == TESS_AGG_VAR_SAMP || k.agg == TESS_AGG_STDDEV_SAMP;
    bool sd = k.agg == TESS_AGG_STDDEV_SAMP || k.agg == TESS_AGG_STDDEV_POP;
    if (samp && n < 2) return tess__null(TESS_T_FLOAT64);
    double var;
    if (special) {
        var = NAN;
    } else if (m->nout || n > (int64_t)UINT32_MAX) {
        /* double-double: rows with outliers (or more than 2^32 rows) */
        double s[2], q[2];
        fx_to_dd(m->s, S_LIMBS, S_UNIT, s);
        fx_to_dd(m->ss, SS_LIMBS, SS_UNIT, q);
        dd_add_dd(s, m->out_s);
        dd_add_dd(q, m->out_ss);
        double p = s[0] * s[0];
        double s2[2] = {p, fma(s[0], s[0], -p) + 2.0 * s[0] * s[1]};
        double t = dd_div(s2, (double)n);
        double m2[2] = {q[0], q[1]};
        dd_add(m2, -t);
        var = (m2[0] + m2[1]) / (samp ? (double)(n - 1) : (double)n);
        if (!(var >= 0.0) && !isnan(var)) var = 0.0;
    } else {
        /* exact: num = n * N_ss * 2^64 - N_s^2, in units of 2^-256 */
        uint64_t a[VAR_LIMBS] = {0}, sq[VAR_LIMBS] = {0}, sa[S_LIMBS];
        uint64_t c = 0;
        for (int i = 0; i < SS_LIMBS; i++) {
            u128 t = (u128)m->ss[i] * (uint64_t)n + c;
            a[i + 1] = (uint64_t)t;
            c = (uint64_t)(t >> 64);
        }
        a[SS_LIMBS + 1] = c;
        fx_abs(m->s, S_LIMBS, sa);
        for (int i = 0; i < S_LIMBS; i++) {
            uint64_t cc = 0;
            for (int j = 0; j < S_LIMBS; j++) {
                u128 t = (u128)sa[i] * sa[j] + sq[i + j] + cc;
                sq[i + j] = (uint64_t)t;
                cc = (uint64_t)(t >> 64);
            }
            sq[i + S_LIMBS] = cc;
        }
        fx_subn(a, sq, VAR_LIMBS);
        if (a[VAR_LIMBS - 1] >> 63) memset(a, 0, sizeof(a)); /* only from rounded tiny values */
        uint64_t un = (uint64_t)n;
        var = fx_div_round(a, VAR_LIMBS, samp ? un * (un - 1) : un * un, VAR_UNIT);
    }
    return tess__v_float(sd ? sqrt(var) : var);
}

/* ---- values: order, canonical form, hashing ---------------------------------------------- */

static const uint64_t CANON_NAN = 0x7FF8000000000000ull;

tess__value tess__agg_value_canon(tess__value v)
{
    if (!v.null && v.type == TESS_T_FLOAT64 && isnan(v.u.f)) memcpy(&v.u.f, &CANON_NAN, 8);
    return v;
}

static int fcmp(double a, double b)
{
    bool na = isnan(a), nb = isnan(b);
    if (na || nb) return na == nb ? 0 : (na ? 1 : -1);
    if (a < b) return -1;
    if (a > b) return 1;
    bool sa = signbit(a), sb = signbit(b);
    return sa == sb ? 0 : (sa ? -1 : 1);
}

int tess__agg_value_cmp(tess__type t, const tess__value *a, const tess__value *b)
{
    switch (t) {
    case TESS_T_BOOL: return (int)a->u.b - (int)b->u.b;
    case TESS_T_FLOAT64: return fcmp(a->u.f, b->u.f);
    case TESS_T_STRING: {
        size_t n = a->u.s.n < b->u.s.n ? a->u.s.n : b->u.s.n;
        int c = n ? memcmp(a->u.s.p, b->u.s.p, n) : 0;
        if (c) return c < 0 ? -1 : 1;
        return a->u.s.n == b->u.s.n ? 0 : (a->u.s.n < b->u.s.n ? -1 : 1);
    }
    default: return a->u.i < b->u.i ? -1 : (a->u.i > b->u.i ? 1 : 0);
    }
}

static void le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t rd64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static inline void hll_point_raw(tess__type t, const void *p, size_t n, uint32_t *index,
                                 uint8_t *rank)
{
    uint64_t h = XXH3_64bits_withSeed(p, n, (XXH64_hash_t)t);
    *index = (uint32_t)(h >> TESS__HLL_Q);
    uint64_t w = h << TESS__HLL_P;
    *rank = w ? (uint8_t)(__builtin_clzll(w) + 1) : (uint8_t)(TESS__HLL_Q + 1);
}

/* The point of an 8-byte value (int64, timestamp, float64 bits) hashed as its little-endian
 * bytes. On a little-endian host the bytes are stored with one 8-byte store: le64's byte
 * stores followed by XXH3's 4-byte loads stalled store forwarding (12% of `tessera stats`). */
static inline void hll_point64(tess__type t, uint64_t x, uint32_t *index, uint8_t *rank)
{
    uint8_t b[8];
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(b, &x, 8);
#else
    le64(b, x);
#endif
    hll_point_raw(t, b, 8, index, rank);
}

/* The bits a float64 is hashed as: -0.0 and 0.0 are one value, NaN canonical. */
static inline uint64_t hll_fbits(double f)
{
    uint64_t x;
    if (f == 0.0) f = 0.0; /* -0.0 and 0.0 are one value */
    memcpy(&x, &f, 8);
    if (isnan(f)) x = CANON_NAN;
    return x;
}

void tess__hll_point(tess__type t, const tess__value *v, uint32_t *index, uint8_t *rank)
{
    switch (t) {
    case TESS_T_BOOL: {
        uint8_t b = v->u.b ? 1 : 0;
        hll_point_raw(t, &b, 1, index, rank);
        return;
    }
    case TESS_T_FLOAT64: hll_point64(t, hll_fbits(v->u.f), index, rank); return;
    case TESS_T_STRING:
        hll_point_raw(t, v->u.s.p ? v->u.s.p : "", v->u.s.n, index, rank);
        return;
    default: hll_point64(t, (uint64_t)v->u.i, index, rank); return;
    }
}

static double hll_sigma(double x)
{
    if (x == 1.0) return INFINITY;
    double y = 1.0, z = x, zp;
    do {
        x *= x;
        zp = z;
        z += x * y;
        y += y;
    } while (z != zp);
    return z;
}

static double hll_tau(double x)
{
    if (x == 0.0 || x == 1.0) return 0.0;
    double y = 1.0, z = 1.0 - x, zp;
    do {
        x = sqrt(x);
        zp = z;
        y *= 0.5;
        z -= (1.0 - x) * (1.0 - x) * y;
    } while (z != zp);
    return z / 3.0;
}

int64_t tess__hll_estimate(const uint32_t c[TESS__HLL_HIST])
{
    const double m = TESS__HLL_M;
    if (c[0] >= TESS__HLL_M) return 0;
    double z = m * hll_tau((m - c[TESS__HLL_Q + 1]) / m);
    int k = TESS__HLL_Q;
    if (z == 0.0) /* 0.5 * (0 + 0) is 0: start at the highest non-empty value */
        while (k >= 1 && c[k] == 0) k--;
    for (; k >= 1; k--) z = 0.5 * (z + c[k]);
    z += m * hll_sigma(c[0] / m);
    double e = 0.72134752044448170368 * m * m / z; /* 1 / (2 ln 2) */
    return (int64_t)floor(e + 0.5);
}

/* ---- HyperLogLog states ---------------------------------------------------------------- */

static int hll_densify(tess__agg_state *s, tess__arena *arena)
{
    uint8_t *r = tess__arena_alloc(arena, TESS__HLL_M);
    if (!r) return TESS_ENOMEM;
    memset(r, 0, TESS__HLL_M);
    for (uint32_t i = 0; i < s->u.hll.nsparse; i++)
        r[s->u.hll.sparse[i] >> 8] = (uint8_t)(s->u.hll.sparse[i] & 0xFF);
    s->u.hll.regs = r;
    s->u.hll.nsparse = 0;
    return TESS_OK;
}

static int hll_set(tess__agg_state *s, uint32_t idx, uint8_t r, tess__arena *arena)
{
    if (s->u.hll.regs) {
        if (r > s->u.hll.regs[idx]) s->u.hll.regs[idx] = r;
        return TESS_OK;
    }
    uint32_t *sp = s->u.hll.sparse, n = s->u.hll.nsparse, lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if ((sp[mid] >> 8) < idx)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < n && (sp[lo] >> 8) == idx) {
        if (r > (sp[lo] & 0xFF)) sp[lo] = idx << 8 | r;
        return TESS_OK;
    }
    if (n < TESS__HLL_SPARSE) {
        memmove(sp + lo + 1, sp + lo, (n - lo) * sizeof(*sp));
        sp[lo] = idx << 8 | r;
        s->u.hll.nsparse = n + 1;
        return TESS_OK;
    }
    int rc = hll_densify(s, arena);
    if (rc) return rc;
    if (r > s->u.hll.regs[idx]) s->u.hll.regs[idx] = r;
    return TESS_OK;
}

static void hll_hist(const tess__agg_state *s, uint32_t h[TESS__HLL_HIST])
{
    memset(h, 0, sizeof(uint32_t) * TESS__HLL_HIST);
    if (s->u.hll.regs) {
        for (uint32_t i = 0; i < TESS__HLL_M; i++) h[s->u.hll.regs[i]]++;
    } else {
        h[0] = TESS__HLL_M - s->u.hll.nsparse;
        for (uint32_t i = 0; i < s->u.hll.nsparse; i++) h[s->u.hll.sparse[i] & 0xFF]++;
    }
}

/* ---- init, add ------------------------------------------------------------------------- */

void tess__agg_init(tess__agg_kind k, tess__agg_state *s)
{
    memset(s, 0, sizeof(*s));
    (void)k;
}

static int key_cmp(const tess__agg_key *a, const tess__agg_key *b)
{
    if (a->ts != b->ts) return a->ts < b->ts ? -1 : 1;
    if (a->created != b->created) return a->created < b->created ? -1 : 1;
    if (a->seq != b->seq) return a->seq < b->seq ? -1 : 1;
    return 0;
}

/* Would (key, v) replace the current first/last? */
static bool fl_better(tess__agg_kind k, const tess__agg_state *s, const tess__agg_key *key,
                      const tess__value *v)
{
    if (s->n == 0) return true;
    int c = key_cmp(key, &s->u.fl.k);
    if (c == 0) c = tess__agg_value_cmp(k.in, v, &s->u.fl.v);
    return k.agg == TESS_AGG_FIRST ? c < 0 : c > 0;
}

static bool mm_better(tess__agg_kind k, const tess__agg_state *s, const tess__value *v)
{
    if (s->n == 0) return true;
    int c = tess__agg_value_cmp(k.in, v, &s->u.mm.v);
    return k.agg == TESS_AGG_MIN ? c < 0 : c > 0;
}

static int own_string(tess__value *v, tess__arena *arena)
{
    if (v->type != TESS_T_STRING) return TESS_OK;
    char *p = tess__arena_strndup(arena, v->u.s.p ? v->u.s.p : "", v->u.s.n);
    if (!p) return TESS_ENOMEM;
    v->u.s.p = p;
    return TESS_OK;
}

int tess__agg_add(tess__agg_kind k, tess__agg_state *s, const tess__value *v,
                  const tess__agg_key *key, tess__arena *arena)
{
    if (k.agg == TESS_AGG_COUNT && (!v || k.in == TESS_T_NULL)) {
        s->n++; /* count without expr: a row */
        return TESS_OK;
    }
    if (!v || v->null || v->type == TESS_T_NULL) return TESS_OK;
    if (v->type != k.in) return TESS_EINVAL;
    switch (k.agg) {
    case TESS_AGG_COUNT: break;
    case TESS_AGG_SUM:
    case TESS_AGG_MEAN:
    case TESS_AGG_STDDEV_SAMP:
    case TESS_AGG_STDDEV_POP:
    case TESS_AGG_VAR_SAMP:
    case TESS_AGG_VAR_POP:
        if (is_isum(k)) {
            u128 t = ((u128)s->u.isum.hi << 64 | s->u.isum.lo) + (u128)(i128)v->u.i;
            s->u.isum.lo = (uint64_t)t;
            s->u.isum.hi = (uint64_t)(t >> 64);
        } else if (k.in == TESS_T_FLOAT64) {
            mom_add_f(ST_M(s), v->u.f, needs_ss(k.agg));
        } else {
            mom_add_i(ST_M(s), v->u.i, needs_ss(k.agg));
        }
        break;
    case TESS_AGG_MIN:
    case TESS_AGG_MAX: {
        tess__value c = tess__agg_value_canon(*v);
        if (mm_better(k, s, &c)) {
            int rc = own_string(&c, arena);
            if (rc) return rc;
            s->u.mm.v = c;
        }
        break;
    }
    case TESS_AGG_FIRST:
    case TESS_AGG_LAST: {
        if (!key) return TESS_EINVAL;
        tess__value c = tess__agg_value_canon(*v);
        if (fl_better(k, s, key, &c)) {
            int rc = own_string(&c, arena);
            if (rc) return rc;
            s->u.fl.v = c;
            s->u.fl.k = *key;
        }
        break;
    }
    case TESS_AGG_COUNT_DISTINCT_APPROX: {
        uint32_t idx;
        uint8_t r;
        tess__hll_point(k.in, v, &idx, &r);
        int rc = hll_set(s, idx, r, arena);
        if (rc) return rc;
        break;
    }
    default: return TESS_EINVAL;
    }
    s->n++;
    return TESS_OK;
}

static tess__value col_value(const tess__col *c, size_t i)
{
    tess__value v;
    v.type = c->type;
    v.null = false;
    switch (c->type) {
    case TESS_T_BOOL: v.u.b = ((const uint8_t *)c->data)[i] != 0; break;
    case TESS_T_FLOAT64: v.u.f = ((const double *)c->data)[i]; break;
    case TESS_T_STRING: v.u.s = ((const tess__str *)c->data)[i]; break;
    default: v.u.i = ((const int64_t *)c->data)[i]; break;
    }
    return v;
}

/* The order of strings (tess__agg_value_cmp's): bytewise, then shorter first. The first bytes
 * are compared inline; most comparisons of distinct values end there without a memcmp call. */
static inline int str_cmp(const tess__str *a, const tess__str *b)
{
    size_t n = a->n < b->n ? a->n : b->n;
    if (n) {
        const unsigned char *x = (const unsigned char *)a->p, *y = (const unsigned char *)b->p;
        if (x[0] != y[0]) return x[0] < y[0] ? -1 : 1;
        int c = memcmp(x, y, n);
        if (c) return c < 0 ? -1 : 1;
    }
    return a->n == b->n ? 0 : (a->n < b->n ? -1 : 1);
}

/* A uint64 that sorts like the total order of min/max: int64 and timestamps by value, floats
 * with -0.0 < 0.0 and NaN greatest (every NaN one key, as they are one canonical value). */
static inline uint64_t sort_key(tess__type t, const void *data, size_t i)
{
    if (t == TESS_T_FLOAT64) {
        double x = ((const double *)data)[i];
        if (x != x) return UINT64_MAX;
        uint64_t b;
        memcpy(&b, &x, 8);
        return (b >> 63) ? ~b : b | (1ull << 63);
    }
    return (uint64_t)((const int64_t *)data)[i] ^ (1ull << 63);
}

static tess__agg_key key_at(const tess__agg_keys *keys, size_t i)
{
    tess__agg_key k;
    k.ts = keys->ts[i];
    k.created = keys->created && !(keys->created_nulls && keys->created_nulls[i])
                    ? keys->created[i]
                    : INT64_MIN;
    k.seq = keys->seq ? keys->seq[i] : (int64_t)i;
    return k;
}

#define SKIP(i) ((skip && skip[i]) || (nu && nu[i]))

/*
 * Float moments of many rows: the exact sums, bucketed by exponent first. A double is
 * mant * 2^(be - 1075) (be its biased exponent); rows with the same be add their signed
 * mantissas into one 128-bit integer (and mant^2 into another), and each bucket is shifted
 * into the fixed point once at the end. Integer sums are exact in any grouping, so the state
 * is the one mom_add_f row by row gives, for about a fifth of the work: buckets hold the
 * exponents whose every bit lies at or above the fixed point's unit and below the outlier
 * bound; other rows (zero, tiny, outliers, inf, NaN) take mom_add_f. A bucket of squares holds
 * 2^22 rows of < 2^106 each, so the rows go in chunks of 2^22. Returns the rows added.
 */
#define MB_LO_S 947  /* be - 1075 + S_UNIT >= 0 */
#define MB_LO_SS 979 /* 2 (be - 1075) + SS_UNIT >= 0 */
#define MB_N (1023 + S_MAX_BEXP - MB_LO_S)

static int64_t mom_add_f_rows(mom *m, const double *x, const uint8_t *skip, const uint8_t *nu,
                              size_t from, size_t to, bool ss)
{
    int blo = ss ? MB_LO_SS : MB_LO_S, bhi = 1023 + (ss ? SS_MAX_BEXP : S_MAX_BEXP);
    i128 bs[MB_N];
    u128 bss[MB_N];
    int64_t c = 0;
    for (size_t at = from; at < to;) {
        size_t end = to - at > ((size_t)1 << 22) ? at + ((size_t)1 << 22) : to;
        memset(bs, 0, sizeof(bs));
        if (ss) memset(bss, 0, sizeof(bss));
        for (size_t i = at; i < end; i++) {
            if (SKIP(i)) continue;
            c++;
            uint64_t b;
            memcpy(&b, &x[i], 8);
            int be = (int)((b >> 52) & 0x7FF);
            if (be < blo || be >= bhi) {
                mom_add_f(m, x[i], ss);
                continue;
            }
            i128 mant = (i128)((b & 0xFFFFFFFFFFFFFull) | (1ull << 52));
            bs[be - blo] += (b >> 63) ? -mant : mant;
            if (ss) bss[be - blo] += (u128)(mant * mant);
        }
        for (int i = 0; i < bhi - blo; i++) {
            int e = i + blo - 1075;
            if (bs[i]) fx_add(m->s, S_LIMBS, bs[i] < 0 ? (u128)-bs[i] : (u128)bs[i], e + S_UNIT,
                              bs[i] < 0);
            if (ss && bss[i]) fx_add(m->ss, SS_LIMBS, bss[i], 2 * e + SS_UNIT, false);
        }
        at = end;
    }
    return c;
}

int tess__agg_add_rows(tess__agg_kind k, tess__agg_state *s, const tess__col *vals,
                       const uint8_t *skip, size_t from, size_t to, const tess__agg_keys *keys,
                       tess__arena *arena)
{
    if (from >= to) return TESS_OK;
    if (!vals) {
        if (k.agg != TESS_AGG_COUNT) return TESS_EINVAL;
        int64_t c = 0;
        if (!skip) {
            c = (int64_t)(to - from);
        } else {
            for (size_t i = from; i < to; i++) c += !skip[i];
        }
        s->n += c;
        return TESS_OK;
    }
    if (vals->type != k.in || !vals->data) return TESS_EINVAL;
    const uint8_t *nu = vals->nulls;
    switch (k.agg) {
    case TESS_AGG_COUNT: {
        int64_t c = 0;
        for (size_t i = from; i < to; i++) c += !SKIP(i);
        s->n += c;
        return TESS_OK;
    }
    case TESS_AGG_SUM:
    case TESS_AGG_MEAN:
    case TESS_AGG_STDDEV_SAMP:
    case TESS_AGG_STDDEV_POP:
    case TESS_AGG_VAR_SAMP:
    case TESS_AGG_VAR_POP: {
        int64_t c = 0;
        if (is_isum(k)) {
            const int64_t *x = vals->data;
            u128 t = (u128)s->u.isum.hi << 64 | s->u.isum.lo;
            for (size_t i = from; i < to; i++) {
                if (SKIP(i)) continue;
                t += (u128)(i128)x[i];
                c++;
            }
            s->u.isum.lo = (uint64_t)t;
            s->u.isum.hi = (uint64_t)(t >> 64);
        } else if (k.in == TESS_T_FLOAT64) {
            const double *x = vals->data;
            mom *m = ST_M(s);
            if (to - from >= 256) { /* the buckets' set-up pays off */
                c = mom_add_f_rows(m, x, skip, nu, from, to, needs_ss(k.agg));
            } else if (needs_ss(k.agg)) {
                for (size_t i = from; i < to; i++) {
                    if (SKIP(i)) continue;
                    mom_add_f(m, x[i], true);
                    c++;
                }
            } else {
                for (size_t i = from; i < to; i++) {
                    if (SKIP(i)) continue;
                    mom_add_f(m, x[i], false);
                    c++;
                }
            }
        } else {
            /* int64 moments: |x| < 2^32 (counts and the like) are summed in a 128-bit S and
             * SS first (exact: SS < 2^64 per row, fewer than 2^64 rows), added to the fixed
             * point once; integer sums are exact in any grouping, so this is the same sum */
            const int64_t *x = vals->data;
            mom *m = ST_M(s);
            bool ss = needs_ss(k.agg);
            i128 S = 0;
            u128 SS = 0;
            for (size_t i = from; i < to; i++) {
                if (SKIP(i)) continue;
                int64_t v = x[i];
                c++;
                if (v > -(INT64_C(1) << 32) && v < (INT64_C(1) << 32)) {
                    S += v;
                    SS += (uint64_t)v * (uint64_t)v; /* v^2 < 2^64, exact mod 2^64 */
                } else {
                    mom_add_i(m, v, ss);
                }
            }
            if (S) fx_add(m->s, S_LIMBS, S < 0 ? (u128)-S : (u128)S, S_UNIT, S < 0);
            if (ss && SS) fx_add(m->ss, SS_LIMBS, SS, SS_UNIT, false);
        }
        s->n += c;
        return TESS_OK;
    }
    case TESS_AGG_MIN:
    case TESS_AGG_MAX: {
        if (k.in != TESS_T_STRING) {
            /* numbers and timestamps: the least key (sort_key, flipped for max) in one pass,
             * then one comparison with the state; equal keys are equal values */
            size_t best = SIZE_MAX;
            uint64_t bk = UINT64_MAX, flip = k.agg == TESS_AGG_MIN ? 0 : UINT64_MAX;
            int64_t c = 0;
            for (size_t i = from; i < to; i++) {
                if (SKIP(i)) continue;
                c++;
                uint64_t x = sort_key(k.in, vals->data, i) ^ flip;
                if (best == SIZE_MAX || x < bk) {
                    best = i;
                    bk = x;
                }
            }
            if (best != SIZE_MAX) {
                tess__value v = tess__agg_value_canon(col_value(vals, best));
                if (mm_better(k, s, &v)) s->u.mm.v = v;
            }
            s->n += c;
            return TESS_OK;
        }
        /* strings: the best row in one pass, then one comparison with the state (and one copy
         * into the arena if it wins) */
        const tess__str *x = vals->data;
        bool is_min = k.agg == TESS_AGG_MIN;
        size_t best = SIZE_MAX;
        int64_t c = 0;
        for (size_t i = from; i < to; i++) {
            if (SKIP(i)) continue;
            c++;
            if (best == SIZE_MAX) {
                best = i;
                continue;
            }
            int d = str_cmp(&x[i], &x[best]);
            if (is_min ? d < 0 : d > 0) best = i;
        }
        if (best != SIZE_MAX) {
            tess__value v = col_value(vals, best);
            if (mm_better(k, s, &v)) {
                tess__value old = s->u.mm.v;
                s->u.mm.v = v;
                int rc = own_string(&s->u.mm.v, arena);
                if (rc) {
                    s->u.mm.v = old;
                    return rc;
                }
            }
        }
        s->n += c;
        return TESS_OK;
    }
    case TESS_AGG_FIRST:
    case TESS_AGG_LAST: {
        if (!keys || !keys->ts) return TESS_EINVAL;
        bool changed = false;
        for (size_t i = from; i < to; i++) {
            if (SKIP(i)) continue;
            tess__value v = tess__agg_value_canon(col_value(vals, i));
            tess__agg_key key = key_at(keys, i);
            if (fl_better(k, s, &key, &v)) {
                s->u.fl.v = v;
                s->u.fl.k = key;
                changed = true;
            }
            s->n++;
        }
        return changed ? own_string(&s->u.fl.v, arena) : TESS_OK;
    }
    case TESS_AGG_COUNT_DISTINCT_APPROX:
        if (k.in == TESS_T_INT64 || k.in == TESS_T_TIMESTAMP || k.in == TESS_T_FLOAT64) {
            /* adding a value is idempotent: a run of equal values is hashed once */
            const uint64_t *x = vals->data;
            bool fl = k.in == TESS_T_FLOAT64, have = false;
            uint64_t prev = 0;
            int64_t c = 0;
            for (size_t i = from; i < to; i++) {
                if (SKIP(i)) continue;
                c++;
                uint64_t b = x[i];
                if (fl) {
                    double f;
                    memcpy(&f, &b, 8);
                    b = hll_fbits(f);
                }
                if (have && b == prev) continue;
                have = true;
                prev = b;
                uint32_t idx;
                uint8_t r;
                hll_point64(k.in, b, &idx, &r);
                if (s->u.hll.regs) { /* dense: hll_set's first case, inline */
                    if (r > s->u.hll.regs[idx]) s->u.hll.regs[idx] = r;
                    continue;
                }
                int rc = hll_set(s, idx, r, arena);
                if (rc) {
                    s->n += c - 1;
                    return rc;
                }
            }
            s->n += c;
            return TESS_OK;
        }
        for (size_t i = from, prev = SIZE_MAX; i < to; i++) {
            if (SKIP(i)) continue;
            s->n++;
            if (k.in == TESS_T_STRING && prev != SIZE_MAX) {
                const tess__str *x = vals->data;
                if (str_cmp(&x[i], &x[prev]) == 0) continue; /* idempotent */
            }
            prev = i;
            tess__value v = col_value(vals, i);
            uint32_t idx;
            uint8_t r;
            tess__hll_point(k.in, &v, &idx, &r);
            int rc = hll_set(s, idx, r, arena);
            if (rc) {
                s->n--;
                return rc;
            }
        }
        return TESS_OK;
    default: return TESS_EINVAL;
    }
}

/* ---- merge, sub, copy --------------------------------------------------------------------- */

int tess__agg_merge(tess__agg_kind k, tess__agg_state *a, const tess__agg_state *b,
                    tess__arena *arena)
{
    if (b->n == 0) return TESS_OK;
    switch (k.agg) {
    case TESS_AGG_COUNT: break;
    case TESS_AGG_SUM:
    case TESS_AGG_MEAN:
    case TESS_AGG_STDDEV_SAMP:
    case TESS_AGG_STDDEV_POP:
    case TESS_AGG_VAR_SAMP:
    case TESS_AGG_VAR_POP:
        if (is_isum(k)) {
            u128 t = ((u128)a->u.isum.hi << 64 | a->u.isum.lo) +
                     ((u128)b->u.isum.hi << 64 | b->u.isum.lo);
            a->u.isum.lo = (uint64_t)t;
            a->u.isum.hi = (uint64_t)(t >> 64);
        } else {
            mom_merge(ST_M(a), ST_M(b), needs_ss(k.agg));
        }
        break;
    case TESS_AGG_MIN:
    case TESS_AGG_MAX:
        if (mm_better(k, a, &b->u.mm.v)) a->u.mm.v = b->u.mm.v; /* strings are immutable */
        break;
    case TESS_AGG_FIRST:
    case TESS_AGG_LAST:
        if (fl_better(k, a, &b->u.fl.k, &b->u.fl.v)) a->u.fl = b->u.fl;
        break;
    case TESS_AGG_COUNT_DISTINCT_APPROX:
        if (b->u.hll.regs) {
            if (!a->u.hll.regs) {
                int rc = hll_densify(a, arena);
                if (rc) return rc;
            }
            uint8_t *ra = a->u.hll.regs;
            const uint8_t *rb = b->u.hll.regs;
            for (uint32_t i = 0; i < TESS__HLL_M; i++) ra[i] = ra[i] > rb[i] ? ra[i] : rb[i];
        } else {
            for (uint32_t i = 0; i < b->u.hll.nsparse; i++) {
                int rc = hll_set(a, b->u.hll.sparse[i] >> 8,
                                 (uint8_t)(b->u.hll.sparse[i] & 0xFF), arena);
                if (rc) return rc;
            }
        }
        break;
    default: return TESS_EINVAL;
    }
    /* saturating: real counts never come near 2^62, but merged damaged states could pass
     * 2^63 */
    int64_t sum;
    if (__builtin_add_overflow(a->n, b->n, &sum) || sum > N_MAX) sum = N_MAX;
    a->n = sum;
    return TESS_OK;
}

int tess__agg_sub(tess__agg_kind k, tess__agg_state *a, const tess__agg_state *b)
{
    if (!tess__agg_invertible(k)) return TESS_EINVAL;
    if (is_isum(k)) {
        u128 t = ((u128)a->u.isum.hi << 64 | a->u.isum.lo) -
                 ((u128)b->u.isum.hi << 64 | b->u.isum.lo);
        a->u.isum.lo = (uint64_t)t;
        a->u.isum.hi = (uint64_t)(t >> 64);
    } else if (k.agg != TESS_AGG_COUNT) {
        mom *x = ST_M(a);
        const mom *y = &b->u.m;
        if (x->nout || y->nout) return TESS_EINVAL;
        fx_subn(x->s, y->s, S_LIMBS);
        if (needs_ss(k.agg)) fx_subn(x->ss, y->ss, SS_LIMBS);
        x->npinf -= y->npinf;
        x->nninf -= y->nninf;
        x->nnan -= y->nnan;
    }
    a->n -= b->n;
    return TESS_OK;
}

int tess__agg_copy(tess__agg_kind k, tess__agg_state *dst, const tess__agg_state *src,
                   tess__arena *arena)
{
    *dst = *src;
    if (k.agg == TESS_AGG_COUNT_DISTINCT_APPROX && src->u.hll.regs) {
        uint8_t *r = tess__arena_alloc(arena, TESS__HLL_M);
        if (!r) return TESS_ENOMEM;
        memcpy(r, src->u.hll.regs, TESS__HLL_M);
        dst->u.hll.regs = r;
    }
    return TESS_OK;
}

bool tess__agg_exact(tess__agg_kind k, const tess__agg_state *s)
{
    return !is_moments(k) || s->u.m.nout == 0;
}

/* ---- sliding windows -------------------------------------------------------------------- */

/* Writes v (of the column's type, or null) as entry j of a column. */
static inline void col_put(tess__col *o, size_t j, const tess__value *v)
{
    o->nulls[j] = v->null;
    if (v->null) return;
    switch (o->type) {
    case TESS_T_BOOL: ((uint8_t *)o->data)[j] = v->u.b; break;
    case TESS_T_FLOAT64: ((double *)o->data)[j] = v->u.f; break;
    case TESS_T_STRING: ((tess__str *)o->data)[j] = v->u.s; break;
    default: ((int64_t *)o->data)[j] = v->u.i; break;
    }
}

/* One row into (rem: out of) a sliding state; the row qualifies. */
static inline void slide_row(tess__agg_kind k, tess__agg_state *s, const tess__col *vals, size_t i,
                             bool ss, bool rem)
{
    if (vals) {
        if (is_isum(k)) {
            u128 t = (u128)s->u.isum.hi << 64 | s->u.isum.lo;
            u128 x = (u128)(i128)((const int64_t *)vals->data)[i];
            t = rem ? t - x : t + x;
            s->u.isum.lo = (uint64_t)t;
            s->u.isum.hi = (uint64_t)(t >> 64);
        } else if (k.agg != TESS_AGG_COUNT) {
            if (k.in == TESS_T_FLOAT64)
                mom_addrem_f(ST_M(s), ((const double *)vals->data)[i], ss, rem);
            else
                mom_addrem_i(ST_M(s), ((const int64_t *)vals->data)[i], ss, rem);
        }
    }
    s->n += rem ? -1 : 1;
}

int tess__agg_slide(tess__agg_kind k, const tess__col *vals, const uint8_t *skip,
                    const size_t *lo, const size_t *hi, size_t m, tess__col *out, bool *exact)
{
    *exact = true;
    if (!tess__agg_invertible(k) || (!vals && k.agg != TESS_AGG_COUNT) ||
        (vals && (vals->type != k.in || !vals->data)) || out->type != tess__agg_result_type(k))
        return TESS_EINVAL;
    const uint8_t *nu = vals ? vals->nulls : NULL;
    bool ss = needs_ss(k.agg), mom_kind = is_moments(k);
    tess__agg_state st;
    tess__agg_init(k, &st);
    tess__value last = tess__null(out->type);
    size_t in = 0, gone = 0;
    for (size_t j = 0; j < m; j++) {
        size_t b = hi[j], a = lo ? lo[j] : 0;
        bool changed = j == 0;
        for (; in < b; in++) {
            if (SKIP(in)) continue;
            slide_row(k, &st, vals, in, ss, false);
            changed = true;
        }
        if (mom_kind && st.u.m.nout) { /* an outlier: removing it would not be exact */
            *exact = false;
            return TESS_OK;
        }
        for (; gone < a; gone++) {
            if (SKIP(gone)) continue;
            slide_row(k, &st, vals, gone, ss, true);
            changed = true;
        }
        if (changed) {
            int rc = tess__agg_finalize(k, &st, NULL, &last);
            if (rc) return rc;
        }
        col_put(out, j, &last);
    }
    return TESS_OK;
}

/* ---- finalize ------------------------------------------------------------------------------ */

int tess__agg_finalize(tess__agg_kind k, const tess__agg_state *s, tess__arena *arena,
                       tess__value *out)
{
    tess__type rt = tess__agg_result_type(k);
    switch (k.agg) {
    case TESS_AGG_COUNT: *out = tess__v_int(s->n); return TESS_OK;
    case TESS_AGG_SUM:
    case TESS_AGG_MEAN:
    case TESS_AGG_STDDEV_SAMP:
    case TESS_AGG_STDDEV_POP:
    case TESS_AGG_VAR_SAMP:
    case TESS_AGG_VAR_POP:
        if (is_isum(k)) {
            i128 t = (i128)((u128)s->u.isum.hi << 64 | s->u.isum.lo);
            *out = (t < INT64_MIN || t > INT64_MAX) ? tess__null(TESS_T_INT64)
                                                    : tess__v_int((int64_t)t);
        } else {
            *out = mom_finalize(k, s->n, &s->u.m);
        }
        return TESS_OK;
    case TESS_AGG_MIN:
    case TESS_AGG_MAX:
    case TESS_AGG_FIRST:
    case TESS_AGG_LAST: {
        if (s->n == 0) {
            *out = tess__null(rt);
            return TESS_OK;
        }
        tess__value v = k.agg == TESS_AGG_MIN || k.agg == TESS_AGG_MAX ? s->u.mm.v : s->u.fl.v;
        int rc = own_string(&v, arena);
        if (rc) return rc;
        *out = v;
        return TESS_OK;
    }
    case TESS_AGG_COUNT_DISTINCT_APPROX: {
        if (s->n == 0) {
            *out = tess__null(TESS_T_INT64);
            return TESS_OK;
        }
        uint32_t h[TESS__HLL_HIST];
        hll_hist(s, h);
        *out = tess__v_int(tess__hll_estimate(h));
        return TESS_OK;
    }
    default: return TESS_EINVAL;
    }
}

/* ---- encode / decode ------------------------------------------------------------------------
 *
 * Version 1, all integers little-endian:
 *   u8 version (1) | u8 agg | u8 input type | uvarint n | payload
 * payload by aggregation:
 *   count                   nothing
 *   sum of int64            fixed(16)    the 128-bit sum
 *   sum/mean/var/stddev     u8 flags (1 specials, 2 outliers) | fixed(32) sum |
 *                           [variances: fixed(48) sum of squares] |
 *                           [specials: uvarint +inf count, -inf count, NaN count] |
 *                           [outliers: uvarint count, f64 hi, f64 lo of the sum,
 *                            variances: f64 hi, f64 lo of the sum of squares]
 *   min, max                (n > 0) value
 *   first, last             (n > 0) svarint ts | u8 has created | [svarint created] |
 *                           svarint seq | value
 *   count_distinct_approx   (n > 0) u8 0 | uvarint k | k x (u16 index, u8 register), indexes
 *                           increasing, registers 1..53     (sparse: when smaller)
 *                        or u8 1 | 4096 registers 0..53     (dense)
 * fixed(max): u8 length L <= max, then L bytes of a two's complement integer, sign-extended
 * (minimal: the top byte is never a redundant sign byte). value: bool u8; int64 and timestamp
 * svarint (zigzag); float64 f64; string uvarint length + bytes. */

static int put(tess__buf *b, const void *p, size_t n)
{
    return n ? tess__buf_append(b, p, n) : TESS_OK;
}

static int put_u8(tess__buf *b, uint8_t v)
{
    return put(b, &v, 1);
}

static int put_uv(tess__buf *b, uint64_t v)
{
    uint8_t t[10];
    size_t n = 0;
    do {
        uint8_t c = v & 0x7F;
        v >>= 7;
        t[n++] = (uint8_t)(c | (v ? 0x80 : 0));
    } while (v);
    return put(b, t, n);
}

static int put_sv(tess__buf *b, int64_t v)
{
    return put_uv(b, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

static int put_f64(tess__buf *b, double d)
{
    uint64_t x;
    uint8_t t[8];
    memcpy(&x, &d, 8);
    le64(t, x);
    return put(b, t, 8);
}

static int put_fx(tess__buf *b, const uint64_t *L, int nl)
{
    uint8_t t[SS_LIMBS * 8 + 1];
    size_t n = (size_t)nl * 8;
    for (int i = 0; i < nl; i++) le64(t + 8 * i, L[i]);
    while (n > 0) {
        uint8_t top = t[n - 1];
        if (top == 0x00 && (n == 1 || !(t[n - 2] & 0x80)))
            n--;
        else if (top == 0xFF && n >= 2 && (t[n - 2] & 0x80))
            n--;
        else
            break;
    }
    int rc = put_u8(b, (uint8_t)n);
    return rc ? rc : put(b, t, n);
}

static int put_value(tess__buf *b, tess__type t, const tess__value *v)
{
    switch (t) {
    case TESS_T_BOOL: return put_u8(b, v->u.b ? 1 : 0);
    case TESS_T_FLOAT64: return put_f64(b, v->u.f);
    case TESS_T_STRING: {
        int rc = put_uv(b, v->u.s.n);
        return rc ? rc : put(b, v->u.s.p, v->u.s.n);
    }
    default: return put_sv(b, v->u.i);
    }
}

static size_t hll_nonzero(const tess__agg_state *s)
{
    if (!s->u.hll.regs) return s->u.hll.nsparse;
    size_t c = 0;
    for (uint32_t i = 0; i < TESS__HLL_M; i++) c += s->u.hll.regs[i] != 0;
    return c;
}

static bool hll_sparse_smaller(size_t nz)
{
    return 10 + 3 * nz < TESS__HLL_M;
}

int tess__agg_encode(tess__agg_kind k, const tess__agg_state *s, tess__buf *out)
{
    uint8_t head[3] = {ENC_VERSION, (uint8_t)k.agg, (uint8_t)k.in};
    int rc = put(out, head, 3);
    if (!rc) rc = put_uv(out, (uint64_t)s->n);
    if (rc) return rc;
    switch (k.agg) {
    case TESS_AGG_COUNT: return TESS_OK;
    case TESS_AGG_SUM:
    case TESS_AGG_MEAN:
    case TESS_AGG_STDDEV_SAMP:
    case TESS_AGG_STDDEV_POP:
    case TESS_AGG_VAR_SAMP:
    case TESS_AGG_VAR_POP: {
        if (is_isum(k)) {
            uint64_t L[2] = {s->u.isum.lo, s->u.isum.hi};
            return put_fx(out, L, 2);
        }
        const mom *m = &s->u.m;
        bool ss = needs_ss(k.agg);
        bool sp = m->npinf || m->nninf || m->nnan;
        rc = put_u8(out, (uint8_t)((sp ? 1 : 0) | (m->nout ? 2 : 0)));
        if (!rc) rc = put_fx(out, m->s, S_LIMBS);
        if (!rc && ss) rc = put_fx(out, m->ss, SS_LIMBS);
        if (!rc && sp) {
            rc = put_uv(out, m->npinf);
            if (!rc) rc = put_uv(out, m->nninf);
            if (!rc) rc = put_uv(out, m->nnan);
        }
        if (!rc && m->nout) {
            rc = put_uv(out, m->nout);
            if (!rc) rc = put_f64(out, m->out_s[0]);
            if (!rc) rc = put_f64(out, m->out_s[1]);
            if (!rc && ss) rc = put_f64(out, m->out_ss[0]);
            if (!rc && ss) rc = put_f64(out, m->out_ss[1]);
        }
        return rc;
    }
    case TESS_AGG_MIN:
    case TESS_AGG_MAX: return s->n > 0 ? put_value(out, k.in, &s->u.mm.v) : TESS_OK;
    case TESS_AGG_FIRST:
    case TESS_AGG_LAST:
        if (s->n == 0) return TESS_OK;
        rc = put_sv(out, s->u.fl.k.ts);
        if (!rc) rc = put_u8(out, s->u.fl.k.created != INT64_MIN);
        if (!rc && s->u.fl.k.created != INT64_MIN) rc = put_sv(out, s->u.fl.k.created);
        if (!rc) rc = put_sv(out, s->u.fl.k.seq);
        if (!rc) rc = put_value(out, k.in, &s->u.fl.v);
        return rc;
    case TESS_AGG_COUNT_DISTINCT_APPROX: {
        if (s->n == 0) return TESS_OK;
        size_t nz = hll_nonzero(s);
        if (hll_sparse_smaller(nz)) {
            rc = put_u8(out, 0);
            if (!rc) rc = put_uv(out, nz);
            for (uint32_t i = 0; !rc && i < TESS__HLL_M; i++) {
                uint8_t r;
                if (s->u.hll.regs) {
                    r = s->u.hll.regs[i];
                } else {
                    if (i >= s->u.hll.nsparse) break;
                    r = (uint8_t)(s->u.hll.sparse[i] & 0xFF);
                }
                uint32_t idx = s->u.hll.regs ? i : s->u.hll.sparse[i] >> 8;
                if (!r) continue;
                uint8_t t[3] = {(uint8_t)(idx & 0xFF), (uint8_t)(idx >> 8), r};
                rc = put(out, t, 3);
            }
            return rc;
        }
        rc = put_u8(out, 1);
        return rc ? rc : put(out, s->u.hll.regs, TESS__HLL_M);
    }
    default: return TESS_EINVAL;
    }
}

size_t tess__agg_encoded_bound(tess__agg_kind k, const tess__agg_state *s)
{
    size_t extra = 0;
    if (k.in == TESS_T_STRING && s->n > 0) {
        if (k.agg == TESS_AGG_MIN || k.agg == TESS_AGG_MAX) extra = s->u.mm.v.u.s.n + 10;
        if (k.agg == TESS_AGG_FIRST || k.agg == TESS_AGG_LAST) extra = s->u.fl.v.u.s.n + 10;
    }
    return TESS__AGG_ENCODED_MAX + extra;
}

typedef struct rd {
    const uint8_t *p;
    size_t n;
} rd;

static bool get_u8(rd *r, uint8_t *v)
{
    if (r->n < 1) return false;
    *v = *r->p++;
    r->n--;
    return true;
}

static bool get_uv(rd *r, uint64_t *v)
{
    uint64_t x = 0;
    for (int i = 0; i < 10; i++) {
        uint8_t c;
        if (!get_u8(r, &c)) return false;
        if (i == 9 && c > 1) return false;
        x |= (uint64_t)(c & 0x7F) << (7 * i);
        if (!(c & 0x80)) {
            *v = x;
            return true;
        }
    }
    return false;
}

static bool get_sv(rd *r, int64_t *v)
{
    uint64_t u;
    if (!get_uv(r, &u)) return false;
    *v = (int64_t)((u >> 1) ^ (0 - (u & 1)));
    return true;
}

static bool get_f64(rd *r, double *d)
{
    if (r->n < 8) return false;
    uint64_t x = rd64(r->p);
    memcpy(d, &x, 8);
    r->p += 8;
    r->n -= 8;
    return true;
}

static bool get_u32(rd *r, uint32_t *v)
{
    uint64_t u;
    if (!get_uv(r, &u) || u > UINT32_MAX) return false;
    *v = (uint32_t)u;
    return true;
}

static bool get_fx(rd *r, uint64_t *L, int nl)
{
    uint8_t len;
    if (!get_u8(r, &len) || len > nl * 8 || r->n < len) return false;
    uint8_t t[SS_LIMBS * 8];
    uint8_t fill = len && (r->p[len - 1] & 0x80) ? 0xFF : 0x00;
    memset(t, fill, sizeof(t));
    memcpy(t, r->p, len);
    r->p += len;
    r->n -= len;
    for (int i = 0; i < nl; i++) L[i] = rd64(t + 8 * i);
    return true;
}

static bool get_value(rd *r, tess__type t, tess__value *v, tess__arena *arena, int *rc)
{
    v->type = t;
    v->null = false;
    switch (t) {
    case TESS_T_BOOL: {
        uint8_t b;
        if (!get_u8(r, &b) || b > 1) return false;
        v->u.b = b;
        return true;
    }
    case TESS_T_FLOAT64:
        if (!get_f64(r, &v->u.f)) return false;
        *v = tess__agg_value_canon(*v);
        return true;
    case TESS_T_STRING: {
        uint64_t n;
        if (!get_uv(r, &n) || n > r->n) return false;
        char *p = tess__arena_strndup(arena, (const char *)r->p, (size_t)n);
        if (!p) {
            *rc = TESS_ENOMEM;
            return false;
        }
        v->u.s.p = p;
        v->u.s.n = (size_t)n;
        r->p += n;
        r->n -= n;
        return true;
    }
    default: return get_sv(r, &v->u.i);
    }
}

static int decode_body(tess__agg_kind k, rd *r, tess__agg_state *s, tess__arena *arena)
{
    int rc = TESS_EPARSE;
    uint8_t h[3];
    uint64_t n;
    if (!get_u8(r, &h[0]) || !get_u8(r, &h[1]) || !get_u8(r, &h[2])) return TESS_EPARSE;
    if (h[0] != ENC_VERSION || h[1] != (uint8_t)k.agg || h[2] != (uint8_t)k.in)
        return TESS_EPARSE;
    if (!tess__agg_kind_valid(k)) return TESS_EPARSE;
    if (!get_uv(r, &n) || n > (uint64_t)N_MAX) return TESS_EPARSE;
    s->n = (int64_t)n;
    switch (k.agg) {
    case TESS_AGG_COUNT: return TESS_OK;
    case TESS_AGG_SUM:
    case TESS_AGG_MEAN:
    case TESS_AGG_STDDEV_SAMP:
    case TESS_AGG_STDDEV_POP:
    case TESS_AGG_VAR_SAMP:
    case TESS_AGG_VAR_POP: {
        if (is_isum(k)) {
            uint64_t L[2];
            if (!get_fx(r, L, 2)) return TESS_EPARSE;
            s->u.isum.lo = L[0];
            s->u.isum.hi = L[1];
            return TESS_OK;
        }
        mom *m = ST_M(s);
        bool ss = needs_ss(k.agg);
        uint8_t fl;
        if (!get_u8(r, &fl) || fl > 3) return TESS_EPARSE;
        if (!get_fx(r, m->s, S_LIMBS)) return TESS_EPARSE;
        if (ss && (!get_fx(r, m->ss, SS_LIMBS) || (m->ss[SS_LIMBS - 1] >> 63)))
            return TESS_EPARSE;
        if (fl & 1) {
            if (!get_u32(r, &m->npinf) || !get_u32(r, &m->nninf) || !get_u32(r, &m->nnan))
                return TESS_EPARSE;
            if (!(m->npinf || m->nninf || m->nnan)) return TESS_EPARSE;
        }
        if (fl & 2) {
            if (!get_u32(r, &m->nout) || m->nout == 0) return TESS_EPARSE;
            if (!get_f64(r, &m->out_s[0]) || !get_f64(r, &m->out_s[1])) return TESS_EPARSE;
            if (ss && (!get_f64(r, &m->out_ss[0]) || !get_f64(r, &m->out_ss[1])))
                return TESS_EPARSE;
        }
        if ((uint64_t)m->npinf + m->nninf + m->nnan + m->nout > n) return TESS_EPARSE;
        return TESS_OK;
    }
    case TESS_AGG_MIN:
    case TESS_AGG_MAX:
        if (n == 0) return TESS_OK;
        if (!get_value(r, k.in, &s->u.mm.v, arena, &rc)) return rc;
        return TESS_OK;
    case TESS_AGG_FIRST:
    case TESS_AGG_LAST: {
        if (n == 0) return TESS_OK;
        uint8_t hc;
        if (!get_sv(r, &s->u.fl.k.ts) || !get_u8(r, &hc) || hc > 1) return TESS_EPARSE;
        s->u.fl.k.created = INT64_MIN;
        if (hc && (!get_sv(r, &s->u.fl.k.created) || s->u.fl.k.created == INT64_MIN))
            return TESS_EPARSE;
        if (!get_sv(r, &s->u.fl.k.seq)) return TESS_EPARSE;
        if (!get_value(r, k.in, &s->u.fl.v, arena, &rc)) return rc;
        return TESS_OK;
    }
    case TESS_AGG_COUNT_DISTINCT_APPROX: {
        if (n == 0) return TESS_OK;
        uint8_t mode;
        if (!get_u8(r, &mode) || mode > 1) return TESS_EPARSE;
        if (mode == 0) {
            uint64_t nz;
            if (!get_uv(r, &nz) || nz == 0 || nz > TESS__HLL_M || r->n < 3 * nz)
                return TESS_EPARSE;
            uint32_t prev = 0;
            for (uint64_t i = 0; i < nz; i++) {
                uint32_t idx = (uint32_t)r->p[0] | (uint32_t)r->p[1] << 8;
                uint8_t v = r->p[2];
                r->p += 3;
                r->n -= 3;
                if (idx >= TESS__HLL_M || (i && idx <= prev) || v == 0 || v > TESS__HLL_Q + 1)
                    return TESS_EPARSE;
                prev = idx;
                int e = hll_set(s, idx, v, arena);
                if (e) return e;
            }
            return TESS_OK;
        }
        if (r->n < TESS__HLL_M) return TESS_EPARSE;
        bool any = false;
        for (uint32_t i = 0; i < TESS__HLL_M; i++) {
            if (r->p[i] > TESS__HLL_Q + 1) return TESS_EPARSE;
            any |= r->p[i] != 0;
        }
        if (!any) return TESS_EPARSE;
        uint8_t *regs = tess__arena_alloc(arena, TESS__HLL_M);
        if (!regs) return TESS_ENOMEM;
        memcpy(regs, r->p, TESS__HLL_M);
        s->u.hll.regs = regs;
        r->p += TESS__HLL_M;
        r->n -= TESS__HLL_M;
        return TESS_OK;
    }
    default: return TESS_EPARSE;
    }
}

int tess__agg_decode(tess__agg_kind k, const void *p, size_t n, tess__agg_state *s,
                     tess__arena *arena)
{
    tess__agg_init(k, s);
    rd r = {p, n};
    if (!p && n) return TESS_EPARSE;
    int rc = decode_body(k, &r, s, arena);
    if (rc == TESS_OK && r.n != 0) rc = TESS_EPARSE;
    if (rc != TESS_OK) tess__agg_init(k, s);
    return rc;
}
