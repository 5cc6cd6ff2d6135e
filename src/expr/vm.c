/* vm.c — the interpreter: vector kernels over registers, and the two entry points.
 *
 * A compiled expression is a straight-line list of instructions over registers (compile.c).
 * A register holds one chunk of up to TESS__EXPR_CHUNK values of one type plus a null mask;
 * each instruction runs over the whole chunk in a tight loop, so the per-instruction dispatch is
 * paid once per 1024 rows. Row-at-a-time evaluation is the same code on a chunk of one row:
 * there is exactly one implementation of every operator.
 *
 * Invariants:
 *   - A register's `nulls` is NULL (no nulls in this chunk), its own `nbuf`, or a slice of an
 *     input column; a kernel writes only its destination's `buf` and `nbuf`. The compiler never
 *     gives an instruction a destination that is also one of its sources, so kernels may use
 *     restrict-qualified loops.
 *   - Values in null rows are unspecified inside registers (kernels compute on them freely, but
 *     never dereference a null string); the entry points zero them in the caller's output.
 *   - Strings made by kernels (lower, concat, casts) live in the caller's arena; substr returns
 *     a slice of its input; constants point into the compiled expression.
 *   - Nothing here writes to the tess__expr: evaluation is thread-safe given separate arenas.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/time.h"
#include "expr/expr_int.h"
#include "tessera.h"

#define CH TESS__EXPR_CHUNK

typedef tess__expr_reg reg;

static const uint8_t zeros[CH];

/* Non-null empty strings made here point at this rather than being NULL, so that consumers may
 * pass them to memcmp/memcpy. */
static const char empty[1] = "";

size_t tess__expr_elem_size(tess__type t)
{
    switch (t) {
    case TESS_T_BOOL:
        return 1;
    case TESS_T_STRING:
        return sizeof(tess__str);
    default:
        return 8;
    }
}

/* ---- null masks ---------------------------------------------------------------------------- */

static void nulls1(reg *d, const reg *a, size_t n)
{
    if (!a->nulls) {
        d->nulls = NULL;
        return;
    }
    memcpy(d->nbuf, a->nulls, n);
    d->nulls = d->nbuf;
}

static void nulls2(reg *d, const reg *a, const reg *b, size_t n)
{
    const uint8_t *x = a->nulls, *y = b->nulls;
    if (!x && !y) {
        d->nulls = NULL;
        return;
    }
    uint8_t *restrict o = d->nbuf;
    if (x && y)
        for (size_t i = 0; i < n; i++)
            o[i] = x[i] | y[i];
    else
        memcpy(o, x ? x : y, n);
    d->nulls = o;
}

static void nulls3(reg *d, const reg *a, const reg *b, const reg *c, size_t n)
{
    nulls2(d, a, b, n);
    if (!c->nulls) return;
    if (!d->nulls) {
        nulls1(d, c, n);
        return;
    }
    for (size_t i = 0; i < n; i++)
        d->nbuf[i] |= c->nulls[i];
}

/* d's mask as a writable array (all zero if there were no nulls). Call after nulls1/2/3. */
static uint8_t *nulls_w(reg *d, size_t n)
{
    if (!d->nulls) {
        memset(d->nbuf, 0, n);
        d->nulls = d->nbuf;
    }
    return d->nbuf;
}

static const uint8_t *mask(const reg *r)
{
    return r->nulls ? r->nulls : zeros;
}

/* ---- loads and constants ------------------------------------------------------------------- */

void tess__expr_fill(reg *r, const tess__value *v, size_t n)
{
    r->data = r->buf;
    if (v->null) {
        memset(r->buf, 0, n * tess__expr_elem_size(v->type));
        memset(r->nbuf, 1, n);
        r->nulls = r->nbuf;
        return;
    }
    r->nulls = NULL;
    switch (v->type) {
    case TESS_T_BOOL:
        memset(r->buf, v->u.b ? 1 : 0, n);
        break;
    case TESS_T_FLOAT64: {
        double *o = r->buf;
        for (size_t i = 0; i < n; i++)
            o[i] = v->u.f;
        break;
    }
    case TESS_T_STRING: {
        tess__str *o = r->buf;
        for (size_t i = 0; i < n; i++)
            o[i] = v->u.s;
        break;
    }
    default: {
        int64_t *o = r->buf;
        for (size_t i = 0; i < n; i++)
            o[i] = v->u.i;
        break;
    }
    }
}

tess__value tess__expr_get(const void *data, const uint8_t *nulls, tess__type t, size_t i)
{
    if (nulls && nulls[i]) return tess__null(t);
    switch (t) {
    case TESS_T_BOOL:
        return tess__v_bool(((const uint8_t *)data)[i] != 0);
    case TESS_T_INT64:
        return tess__v_int(((const int64_t *)data)[i]);
    case TESS_T_TIMESTAMP:
        return tess__v_ts(((const int64_t *)data)[i]);
    case TESS_T_FLOAT64:
        return tess__v_float(((const double *)data)[i]);
    case TESS_T_STRING: {
        tess__str s = ((const tess__str *)data)[i];
        return tess__v_str(s.p, s.n);
    }
    default:
        return tess__null(t);
    }
}

/* ---- arithmetic ---------------------------------------------------------------------------- */

#define FLOAT_BINARY(name, expr)                                                                   \
    static void name(reg *d, const reg *ra, const reg *rb, size_t n)                               \
    {                                                                                              \
        const double *restrict a = ra->data, *restrict b = rb->data;                               \
        double *restrict o = d->buf;                                                               \
        for (size_t i = 0; i < n; i++) {                                                           \
            double x = a[i], y = b[i];                                                             \
            o[i] = (expr);                                                                         \
        }                                                                                          \
        d->data = d->buf;                                                                          \
        nulls2(d, ra, rb, n);                                                                      \
    }

FLOAT_BINARY(k_add_f, x + y)
FLOAT_BINARY(k_sub_f, x - y)
FLOAT_BINARY(k_mul_f, x *y)
FLOAT_BINARY(k_div_f, y != 0 ? x / y : 0.0)
FLOAT_BINARY(k_mod_f, y != 0 ? fmod(x, y) : 0.0)
FLOAT_BINARY(k_pow, pow(x, y))

/* Rows where the divisor is zero become null (/ and % on floats, % on ints). */
static void null_where_zero_f(reg *d, const reg *rb, size_t n)
{
    const double *b = rb->data;
    int any = 0;
    for (size_t i = 0; i < n; i++)
        any |= b[i] == 0;
    if (!any) return;
    uint8_t *m = nulls_w(d, n);
    for (size_t i = 0; i < n; i++)
        m[i] |= b[i] == 0;
}

/* pow of a negative number to a non-integer power is not a real number: null. */
static void null_where_nan_pow(reg *d, const reg *ra, const reg *rb, size_t n)
{
    const double *a = ra->data, *b = rb->data, *o = d->buf;
    int any = 0;
    for (size_t i = 0; i < n; i++)
        any |= isnan(o[i]) && !isnan(a[i]) && !isnan(b[i]);
    if (!any) return;
    uint8_t *m = nulls_w(d, n);
    for (size_t i = 0; i < n; i++)
        m[i] |= isnan(o[i]) && !isnan(a[i]) && !isnan(b[i]);
}

#define INT_BINARY_OVF(name, builtin)                                                              \
    static void name(reg *d, const reg *ra, const reg *rb, size_t n)                               \
    {                                                                                              \
        const int64_t *restrict a = ra->data, *restrict b = rb->data;                              \
        int64_t *restrict o = d->buf;                                                              \
        int any = 0;                                                                               \
        for (size_t i = 0; i < n; i++) {                                                           \
            int64_t r;                                                                             \
            any |= builtin(a[i], b[i], &r);                                                        \
            o[i] = r;                                                                              \
        }                                                                                          \
        d->data = d->buf;                                                                          \
        nulls2(d, ra, rb, n);                                                                      \
        if (any) {                                                                                 \
            uint8_t *m = nulls_w(d, n);                                                            \
            for (size_t i = 0; i < n; i++) {                                                       \
                int64_t r;                                                                         \
                m[i] |= builtin(a[i], b[i], &r);                                                   \
            }                                                                                      \
        }                                                                                          \
    }

INT_BINARY_OVF(k_add_i, __builtin_add_overflow)
INT_BINARY_OVF(k_sub_i, __builtin_sub_overflow)
INT_BINARY_OVF(k_mul_i, __builtin_mul_overflow)

static void k_mod_i(reg *d, const reg *ra, const reg *rb, size_t n)
{
    const int64_t *restrict a = ra->data, *restrict b = rb->data;
    int64_t *restrict o = d->buf;
    int any = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t x = a[i], y = b[i];
        /* y == -1: the result is 0, and INT64_MIN % -1 would trap */
        o[i] = (y == 0 || y == -1) ? 0 : x % y;
        any |= y == 0;
    }
    d->data = d->buf;
    nulls2(d, ra, rb, n);
    if (any) {
        uint8_t *m = nulls_w(d, n);
        for (size_t i = 0; i < n; i++)
            m[i] |= b[i] == 0;
    }
}

static void k_neg_i(reg *d, const reg *ra, size_t n)
{
    const int64_t *restrict a = ra->data;
    int64_t *restrict o = d->buf;
    int any = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t x = a[i];
        any |= x == INT64_MIN;
        o[i] = x == INT64_MIN ? 0 : -x;
    }
    d->data = d->buf;
    nulls1(d, ra, n);
    if (any) {
        uint8_t *m = nulls_w(d, n);
        for (size_t i = 0; i < n; i++)
            m[i] |= a[i] == INT64_MIN;
    }
}

static void k_abs_i(reg *d, const reg *ra, size_t n)
{
    const int64_t *restrict a = ra->data;
    int64_t *restrict o = d->buf;
    int any = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t x = a[i];
        any |= x == INT64_MIN;
        o[i] = x == INT64_MIN ? 0 : x < 0 ? -x : x;
    }
    d->data = d->buf;
    nulls1(d, ra, n);
    if (any) {
        uint8_t *m = nulls_w(d, n);
        for (size_t i = 0; i < n; i++)
            m[i] |= a[i] == INT64_MIN;
    }
}

#define FLOAT_UNARY(name, expr)                                                                    \
    static void name(reg *d, const reg *ra, size_t n)                                              \
    {                                                                                              \
        const double *restrict a = ra->data;                                                       \
        double *restrict o = d->buf;                                                               \
        for (size_t i = 0; i < n; i++) {                                                           \
            double x = a[i];                                                                       \
            o[i] = (expr);                                                                         \
        }                                                                                          \
        d->data = d->buf;                                                                          \
        nulls1(d, ra, n);                                                                          \
    }

FLOAT_UNARY(k_neg_f, -x)
FLOAT_UNARY(k_abs_f, fabs(x))
FLOAT_UNARY(k_log, x > 0 || isnan(x) ? log(x) : 0.0)
FLOAT_UNARY(k_exp, exp(x))
FLOAT_UNARY(k_sqrt, x >= 0 || isnan(x) ? sqrt(x) : 0.0)
FLOAT_UNARY(k_floor, floor(x))
FLOAT_UNARY(k_ceil, ceil(x))
FLOAT_UNARY(k_round_f, round(x))

/* Rows where cond(x) holds become null. */
#define NULL_WHERE_F(name, cond)                                                                   \
    static void name(reg *d, const reg *ra, size_t n)                                              \
    {                                                                                              \
        const double *a = ra->data;                                                                \
        int any = 0;                                                                               \
        for (size_t i = 0; i < n; i++) {                                                           \
            double x = a[i];                                                                       \
            any |= (cond);                                                                         \
        }                                                                                          \
        if (!any) return;                                                                          \
        uint8_t *m = nulls_w(d, n);                                                                \
        for (size_t i = 0; i < n; i++) {                                                           \
            double x = a[i];                                                                       \
            m[i] |= (cond);                                                                        \
        }                                                                                          \
    }

NULL_WHERE_F(null_where_nonpositive, x <= 0)
NULL_WHERE_F(null_where_negative, x < 0)

/* round(x, digits) on the binary value: x * 10^d rounded half away from zero, then / 10^d. */
static double round_digits(double x, int64_t d)
{
    if (!isfinite(x) || d > 400) return x;
    if (d >= 0) {
        double p = pow(10.0, (double)d);
        double y = x * p;
        if (!isfinite(y)) return x; /* more digits than a double has: nothing to round */
        double r = round(y) / p;
        return isfinite(r) ? r : x;
    }
    if (d < -308) return copysign(0.0, x);
    double p = pow(10.0, (double)-d);
    double r = round(x / p) * p;
    return isfinite(r) ? r : x;
}

static void k_round_fd(reg *d, const reg *ra, const reg *rb, size_t n)
{
    const double *restrict a = ra->data;
    const int64_t *restrict b = rb->data;
    double *restrict o = d->buf;
    for (size_t i = 0; i < n; i++)
        o[i] = round_digits(a[i], b[i]);
    d->data = d->buf;
    nulls2(d, ra, rb, n);
}

/* round(int x, digits): x itself for digits >= 0; else the nearest multiple of 10^-digits, half
 * away from zero; null if that overflows. */
static bool round_int(int64_t x, int64_t d, int64_t *out)
{
    if (d >= 0) {
        *out = x;
        return true;
    }
    if (d < -19) {
        *out = 0;
        return true;
    }
    if (d == -19) { /* 10^19 > INT64_MAX: 0, or +-10^19 which overflows */
        *out = 0;
        return x > -5000000000000000000LL && x < 5000000000000000000LL;
    }
    int64_t p = 1;
    for (int64_t k = 0; k < -d; k++)
        p *= 10;
    int64_t q = x / p, r = x % p;
    int64_t ar = r < 0 ? -r : r;
    if (ar >= p - ar) q += x < 0 ? -1 : 1;
    return !__builtin_mul_overflow(q, p, out);
}

static void k_round_id(reg *d, const reg *ra, const reg *rb, size_t n)
{
    const int64_t *restrict a = ra->data, *restrict b = rb->data;
    int64_t *restrict o = d->buf;
    int any = 0;
    for (size_t i = 0; i < n; i++)
        any |= !round_int(a[i], b[i], &o[i]);
    d->data = d->buf;
    nulls2(d, ra, rb, n);
    if (any) {
        uint8_t *m = nulls_w(d, n);
        for (size_t i = 0; i < n; i++) {
            int64_t r;
            m[i] |= !round_int(a[i], b[i], &r);
        }
    }
}

/* ---- comparisons --------------------------------------------------------------------------- */

/* Floats in a total order: NaN equals NaN and is greater than every other value. */
#define F_LT(x, y) (((x) < (y)) | (((y) != (y)) & ((x) == (x))))
#define F_EQ(x, y) (((x) == (y)) | (((x) != (x)) & ((y) != (y))))

#define COMPARE(name, T, expr)                                                                     \
    static void name(reg *d, const reg *ra, const reg *rb, size_t n)                               \
    {                                                                                              \
        const T *restrict a = ra->data, *restrict b = rb->data;                                    \
        uint8_t *restrict o = d->buf;                                                              \
        for (size_t i = 0; i < n; i++) {                                                           \
            T x = a[i], y = b[i];                                                                  \
            o[i] = (uint8_t)(expr);                                                                \
        }                                                                                          \
        d->data = d->buf;                                                                          \
        nulls2(d, ra, rb, n);                                                                      \
    }

COMPARE(k_eq_i, int64_t, x == y)
COMPARE(k_ne_i, int64_t, x != y)
COMPARE(k_lt_i, int64_t, x < y)
COMPARE(k_le_i, int64_t, x <= y)
COMPARE(k_gt_i, int64_t, x > y)
COMPARE(k_ge_i, int64_t, x >= y)
COMPARE(k_eq_f, double, F_EQ(x, y))
COMPARE(k_ne_f, double, !F_EQ(x, y))
COMPARE(k_lt_f, double, F_LT(x, y))
COMPARE(k_le_f, double, !F_LT(y, x))
COMPARE(k_gt_f, double, F_LT(y, x))
COMPARE(k_ge_f, double, !F_LT(x, y))
COMPARE(k_eq_b, uint8_t, (x != 0) == (y != 0))
COMPARE(k_ne_b, uint8_t, (x != 0) != (y != 0))
COMPARE(k_lt_b, uint8_t, (x != 0) < (y != 0))
COMPARE(k_le_b, uint8_t, (x != 0) <= (y != 0))
COMPARE(k_gt_b, uint8_t, (x != 0) > (y != 0))
COMPARE(k_ge_b, uint8_t, (x != 0) >= (y != 0))

static int str_cmp(tess__str a, tess__str b)
{
    size_t m = a.n < b.n ? a.n : b.n;
    int c = m ? memcmp(a.p, b.p, m) : 0;
    if (c) return c < 0 ? -1 : 1;
    return a.n < b.n ? -1 : a.n > b.n;
}

#define COMPARE_S(name, rel)                                                                       \
    static void name(reg *d, const reg *ra, const reg *rb, size_t n)                               \
    {                                                                                              \
        const tess__str *a = ra->data, *b = rb->data;                                              \
        uint8_t *o = d->buf;                                                                       \
        d->data = d->buf;                                                                          \
        nulls2(d, ra, rb, n);                                                                      \
        const uint8_t *m = mask(d);                                                                \
        for (size_t i = 0; i < n; i++)                                                             \
            o[i] = m[i] ? 0 : (uint8_t)(str_cmp(a[i], b[i]) rel 0);                                \
    }

COMPARE_S(k_eq_s, ==)
COMPARE_S(k_ne_s, !=)
COMPARE_S(k_lt_s, <)
COMPARE_S(k_le_s, <=)
COMPARE_S(k_gt_s, >)
COMPARE_S(k_ge_s, >=)

/* ---- logic --------------------------------------------------------------------------------- */

static void k_and(reg *d, const reg *ra, const reg *rb, size_t n)
{
    const uint8_t *restrict a = ra->data, *restrict b = rb->data;
    uint8_t *restrict o = d->buf;
    d->data = d->buf;
    if (!ra->nulls && !rb->nulls) {
        for (size_t i = 0; i < n; i++)
            o[i] = (a[i] != 0) & (b[i] != 0);
        d->nulls = NULL;
        return;
    }
    const uint8_t *an = mask(ra), *bn = mask(rb);
    uint8_t *restrict m = d->nbuf;
    for (size_t i = 0; i < n; i++) {
        int na = an[i] != 0, nb = bn[i] != 0;
        int f = ((!na) & (a[i] == 0)) | ((!nb) & (b[i] == 0)); /* a known false decides */
        int nul = (!f) & (na | nb);
        o[i] = (uint8_t)((!f) & (!nul));
        m[i] = (uint8_t)nul;
    }
    d->nulls = m;
}

static void k_or(reg *d, const reg *ra, const reg *rb, size_t n)
{
    const uint8_t *restrict a = ra->data, *restrict b = rb->data;
    uint8_t *restrict o = d->buf;
    d->data = d->buf;
    if (!ra->nulls && !rb->nulls) {
        for (size_t i = 0; i < n; i++)
            o[i] = (a[i] != 0) | (b[i] != 0);
        d->nulls = NULL;
        return;
    }
    const uint8_t *an = mask(ra), *bn = mask(rb);
    uint8_t *restrict m = d->nbuf;
    for (size_t i = 0; i < n; i++) {
        int na = an[i] != 0, nb = bn[i] != 0;
        int t = ((!na) & (a[i] != 0)) | ((!nb) & (b[i] != 0)); /* a known true decides */
        int nul = (!t) & (na | nb);
        o[i] = (uint8_t)t;
        m[i] = (uint8_t)nul;
    }
    d->nulls = m;
}

static void k_not(reg *d, const reg *ra, size_t n)
{
    const uint8_t *restrict a = ra->data;
    uint8_t *restrict o = d->buf;
    for (size_t i = 0; i < n; i++)
        o[i] = a[i] == 0;
    d->data = d->buf;
    nulls1(d, ra, n);
}

static void k_is_null(reg *d, const reg *ra, size_t n)
{
    uint8_t *o = d->buf;
    if (ra->nulls)
        for (size_t i = 0; i < n; i++)
            o[i] = ra->nulls[i] != 0;
    else
        memset(o, 0, n);
    d->data = d->buf;
    d->nulls = NULL;
}

/* d[i] = pick[i] ? a[i] : b[i], values and nulls, for elements of es bytes. */
static void select_rows(reg *d, const reg *ra, const reg *rb, const uint8_t *pick, size_t n,
                        size_t es)
{
    d->data = d->buf;
    switch (es) {
    case 1: {
        const uint8_t *a = ra->data, *b = rb->data;
        uint8_t *o = d->buf;
        for (size_t i = 0; i < n; i++)
            o[i] = pick[i] ? a[i] : b[i];
        break;
    }
    case 8: {
        const int64_t *a = ra->data, *b = rb->data;
        int64_t *o = d->buf;
        for (size_t i = 0; i < n; i++)
            o[i] = pick[i] ? a[i] : b[i];
        break;
    }
    default: {
        const tess__str *a = ra->data, *b = rb->data;
        tess__str *o = d->buf;
        for (size_t i = 0; i < n; i++)
            o[i] = pick[i] ? a[i] : b[i];
        break;
    }
    }
    if (!ra->nulls && !rb->nulls) {
        d->nulls = NULL;
        return;
    }
    const uint8_t *an = mask(ra), *bn = mask(rb);
    for (size_t i = 0; i < n; i++)
        d->nbuf[i] = pick[i] ? an[i] : bn[i];
    d->nulls = d->nbuf;
}

static void k_coalesce(reg *d, const reg *ra, const reg *rb, size_t n, size_t es)
{
    uint8_t pick[CH];
    const uint8_t *an = mask(ra);
    for (size_t i = 0; i < n; i++)
        pick[i] = an[i] == 0;
    select_rows(d, ra, rb, pick, n, es);
}

static void k_if(reg *d, const reg *ra, const reg *rb, const reg *rc, size_t n, size_t es)
{
    uint8_t pick[CH];
    const uint8_t *c = rc->data, *cn = mask(rc);
    for (size_t i = 0; i < n; i++)
        pick[i] = (cn[i] == 0) & (c[i] != 0);
    select_rows(d, ra, rb, pick, n, es);
}

/* min/max skipping nulls: pick a when b is null or a wins (ties pick a). */
#define MINMAX(name, T, a_wins)                                                                    \
    static void name(reg *d, const reg *ra, const reg *rb, size_t n)                               \
    {                                                                                              \
        uint8_t pick[CH];                                                                          \
        const T *a = ra->data, *b = rb->data;                                                      \
        const uint8_t *an = mask(ra), *bn = mask(rb);                                              \
        for (size_t i = 0; i < n; i++) {                                                           \
            if (an[i] | bn[i]) {                                                                   \
                pick[i] = an[i] == 0;                                                              \
            } else {                                                                               \
                T x = a[i], y = b[i];                                                              \
                pick[i] = (uint8_t)(a_wins);                                                       \
            }                                                                                      \
        }                                                                                          \
        select_rows(d, ra, rb, pick, n, sizeof(T)); /* null only where both are */                 \
    }

MINMAX(k_min_i, int64_t, x <= y)
MINMAX(k_max_i, int64_t, x >= y)
MINMAX(k_min_f, double, !F_LT(y, x))
MINMAX(k_max_f, double, !F_LT(x, y))
MINMAX(k_min_s, tess__str, str_cmp(x, y) <= 0)
MINMAX(k_max_s, tess__str, str_cmp(x, y) >= 0)

/* ---- strings ------------------------------------------------------------------------------- */

static bool is_cont(char c)
{
    return ((unsigned char)c & 0xC0) == 0x80;
}

/* Code points: one starts at byte 0 and at every byte that is not a UTF-8 continuation byte
 * (so invalid UTF-8 still has a length, and substr never splits a valid sequence). */
static int64_t cp_count(tess__str s)
{
    if (s.n == 0) return 0;
    int64_t c = 1;
    for (size_t i = 1; i < s.n; i++)
        c += !is_cont(s.p[i]);
    return c;
}

static int k_case(reg *d, const reg *ra, size_t n, tess__arena *arena, bool upper)
{
    const tess__str *a = ra->data;
    tess__str *o = d->buf;
    d->data = d->buf;
    nulls1(d, ra, n);
    const uint8_t *m = mask(d);
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        if (!m[i]) total += a[i].n;
    char *p = total ? tess__arena_alloc(arena, total) : NULL;
    if (total && !p) return TESS_ENOMEM;
    char lo = upper ? 'a' : 'A', hi = upper ? 'z' : 'Z';
    for (size_t i = 0; i < n; i++) {
        if (m[i] || a[i].n == 0) {
            o[i].p = m[i] ? NULL : empty;
            o[i].n = 0;
            continue;
        }
        for (size_t j = 0; j < a[i].n; j++) {
            char c = a[i].p[j];
            p[j] = c >= lo && c <= hi ? (char)(c ^ 0x20) : c;
        }
        o[i].p = p;
        o[i].n = a[i].n;
        p += a[i].n;
    }
    return TESS_OK;
}

static void k_length(reg *d, const reg *ra, size_t n)
{
    const tess__str *a = ra->data;
    int64_t *o = d->buf;
    d->data = d->buf;
    nulls1(d, ra, n);
    const uint8_t *m = mask(d);
    for (size_t i = 0; i < n; i++)
        o[i] = m[i] ? 0 : cp_count(a[i]);
}

static int k_concat(reg *d, const reg *ra, const reg *rb, size_t n, tess__arena *arena)
{
    const tess__str *a = ra->data, *b = rb->data;
    tess__str *o = d->buf;
    d->data = d->buf;
    nulls2(d, ra, rb, n);
    const uint8_t *m = mask(d);
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        if (!m[i]) total += a[i].n + b[i].n;
    char *p = total ? tess__arena_alloc(arena, total) : NULL;
    if (total && !p) return TESS_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        size_t len = m[i] ? 0 : a[i].n + b[i].n;
        if (len == 0) {
            o[i].p = m[i] ? NULL : empty;
            o[i].n = 0;
            continue;
        }
        if (a[i].n) memcpy(p, a[i].p, a[i].n);
        if (b[i].n) memcpy(p + a[i].n, b[i].p, b[i].n);
        o[i].p = p;
        o[i].n = len;
        p += len;
    }
    return TESS_OK;
}

/* SQL substring: code points [start, start + len) counted from 1, clipped to the string. */
static tess__str substr_cp(tess__str s, int64_t start, bool has_len, int64_t len)
{
    int64_t end = INT64_MAX; /* exclusive */
    if (has_len && __builtin_add_overflow(start, len, &end)) end = INT64_MAX;
    int64_t first = start < 1 ? 1 : start;
    tess__str r = {s.p ? s.p : empty, 0};
    if (end <= first) return r;
    size_t i = 0;
    int64_t cp = 1;
    while (i < s.n && cp < first) {
        i++;
        while (i < s.n && is_cont(s.p[i]))
            i++;
        cp++;
    }
    size_t b0 = i;
    while (i < s.n && cp < end) {
        i++;
        while (i < s.n && is_cont(s.p[i]))
            i++;
        cp++;
    }
    r.p = s.p ? s.p + b0 : empty;
    r.n = i - b0;
    return r;
}

static void k_substr(reg *d, const reg *rs, const reg *rst, const reg *rl, size_t n)
{
    const tess__str *s = rs->data;
    const int64_t *st = rst->data, *ln = rl ? rl->data : NULL;
    tess__str *o = d->buf;
    d->data = d->buf;
    if (rl)
        nulls3(d, rs, rst, rl, n);
    else
        nulls2(d, rs, rst, n);
    const uint8_t *m = mask(d);
    bool negative = false;
    for (size_t i = 0; i < n; i++) {
        if (m[i] || (ln && ln[i] < 0)) {
            negative |= !m[i];
            o[i].p = NULL;
            o[i].n = 0;
            continue;
        }
        o[i] = substr_cp(s[i], st[i], ln != NULL, ln ? ln[i] : 0);
    }
    if (negative) { /* a negative length is null */
        uint8_t *w = nulls_w(d, n);
        for (size_t i = 0; i < n; i++)
            w[i] |= ln[i] < 0;
    }
}

/* ---- time ---------------------------------------------------------------------------------- */

#define US_PER_HOUR (3600 * TESS_US_PER_S)
#define US_PER_DAY (86400 * TESS_US_PER_S)

static void k_hour(reg *d, const reg *ra, size_t n)
{
    const int64_t *a = ra->data;
    int64_t *o = d->buf;
    for (size_t i = 0; i < n; i++) {
        int64_t h = tess__floor_div(a[i], US_PER_HOUR) % 24;
        o[i] = h < 0 ? h + 24 : h;
    }
    d->data = d->buf;
    nulls1(d, ra, n);
}

static void k_dow(reg *d, const reg *ra, size_t n)
{
    const int64_t *a = ra->data;
    int64_t *o = d->buf;
    for (size_t i = 0; i < n; i++) {
        /* 1970-01-01 was a Thursday (ISO 4) */
        int64_t r = (tess__floor_div(a[i], US_PER_DAY) + 3) % 7;
        o[i] = (r < 0 ? r + 7 : r) + 1;
    }
    d->data = d->buf;
    nulls1(d, ra, n);
}

/* ---- casts --------------------------------------------------------------------------------- */

static void k_b2i(reg *d, const reg *ra, size_t n)
{
    const uint8_t *a = ra->data;
    int64_t *o = d->buf;
    for (size_t i = 0; i < n; i++)
        o[i] = a[i] != 0;
    d->data = d->buf;
    nulls1(d, ra, n);
}

static void k_b2f(reg *d, const reg *ra, size_t n)
{
    const uint8_t *a = ra->data;
    double *o = d->buf;
    for (size_t i = 0; i < n; i++)
        o[i] = a[i] != 0 ? 1.0 : 0.0;
    d->data = d->buf;
    nulls1(d, ra, n);
}

static void k_b2s(reg *d, const reg *ra, size_t n)
{
    static const tess__str t = {"true", 4}, f = {"false", 5}, none = {NULL, 0};
    const uint8_t *a = ra->data;
    tess__str *o = d->buf;
    d->data = d->buf;
    nulls1(d, ra, n);
    const uint8_t *m = mask(d);
    for (size_t i = 0; i < n; i++)
        o[i] = m[i] ? none : a[i] ? t : f;
}

static void k_i2b(reg *d, const reg *ra, size_t n)
{
    const int64_t *a = ra->data;
    uint8_t *o = d->buf;
    for (size_t i = 0; i < n; i++)
        o[i] = a[i] != 0;
    d->data = d->buf;
    nulls1(d, ra, n);
}

static void k_i2f(reg *d, const reg *ra, size_t n)
{
    const int64_t *restrict a = ra->data;
    double *restrict o = d->buf;
    for (size_t i = 0; i < n; i++)
        o[i] = (double)a[i];
    d->data = d->buf;
    nulls1(d, ra, n);
}

static void k_f2i(reg *d, const reg *ra, size_t n)
{
    const double *a = ra->data;
    int64_t *o = d->buf;
    d->data = d->buf;
    nulls1(d, ra, n);
    int any = 0;
    for (size_t i = 0; i < n; i++) {
        double x = a[i];
        /* truncation toward zero; NaN fails both comparisons */
        int ok = x >= -9223372036854775808.0 && x < 9223372036854775808.0;
        o[i] = ok ? (int64_t)x : 0;
        any |= !ok;
    }
    if (any) {
        uint8_t *m = nulls_w(d, n);
        for (size_t i = 0; i < n; i++)
            m[i] |= !(a[i] >= -9223372036854775808.0 && a[i] < 9223372036854775808.0);
    }
}

/* Formats each non-null row with fmt(row, buf) and copies it into the arena. */
static int to_string(reg *d, const reg *ra, size_t n, tess__arena *arena,
                     size_t (*fmt)(const reg *ra, size_t i, char *buf))
{
    tess__str *o = d->buf;
    d->data = d->buf;
    nulls1(d, ra, n);
    const uint8_t *m = mask(d);
    char buf[64];
    for (size_t i = 0; i < n; i++) {
        if (m[i]) {
            o[i].p = NULL;
            o[i].n = 0;
            continue;
        }
        size_t len = fmt(ra, i, buf);
        char *p = tess__arena_alloc(arena, len);
        if (!p) return TESS_ENOMEM;
        memcpy(p, buf, len);
        o[i].p = p;
        o[i].n = len;
    }
    return TESS_OK;
}

/* Decimal, as %lld would print it (snprintf is most of the cost of cast(x, string)). */
static size_t fmt_int(const reg *ra, size_t i, char *buf)
{
    int64_t x = ((const int64_t *)ra->data)[i];
    uint64_t u = x < 0 ? 0 - (uint64_t)x : (uint64_t)x;
    char tmp[24];
    size_t k = sizeof(tmp);
    do {
        tmp[--k] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    size_t len = 0;
    if (x < 0) buf[len++] = '-';
    memcpy(buf + len, tmp + k, sizeof(tmp) - k);
    return len + sizeof(tmp) - k;
}

static size_t fmt_float(const reg *ra, size_t i, char *buf)
{
    return tess__expr_format_float(((const double *)ra->data)[i], buf);
}

/* The text form of timestamps covers years 0001..9999, as tess__ts_parse does. */
#define TS_TEXT_MIN (-62135596800000000LL) /* 0001-01-01T00:00:00Z */
#define TS_TEXT_MAX 253402300799999999LL   /* 9999-12-31T23:59:59.999999Z */

static size_t fmt_ts(const reg *ra, size_t i, char *buf)
{
    return tess__ts_format(((const int64_t *)ra->data)[i], buf);
}

static int k_t2s(reg *d, const reg *ra, size_t n, tess__arena *arena)
{
    const int64_t *a = ra->data;
    int any = 0;
    for (size_t i = 0; i < n; i++)
        any |= a[i] < TS_TEXT_MIN || a[i] > TS_TEXT_MAX;
    if (!any) return to_string(d, ra, n, arena, fmt_ts);
    /* null out the rows without a text form first, so that to_string skips them */
    uint8_t nulls[CH];
    const uint8_t *in = mask(ra);
    for (size_t i = 0; i < n; i++)
        nulls[i] = in[i] | (a[i] < TS_TEXT_MIN || a[i] > TS_TEXT_MAX);
    reg tmp = *ra;
    tmp.nulls = nulls;
    return to_string(d, &tmp, n, arena, fmt_ts);
}

/* Parses each non-null string row; rows that do not parse become null. */
#define FROM_STRING(name, T, parse)                                                                \
    static void name(reg *d, const reg *ra, size_t n)                                              \
    {                                                                                              \
        const tess__str *a = ra->data;                                                             \
        T *o = d->buf;                                                                             \
        d->data = d->buf;                                                                          \
        nulls1(d, ra, n);                                                                          \
        uint8_t *m = nulls_w(d, n);                                                                \
        for (size_t i = 0; i < n; i++) {                                                           \
            o[i] = 0;                                                                              \
            if (m[i]) continue;                                                                    \
            const char *s = a[i].p ? a[i].p : "";                                                  \
            size_t len = a[i].n;                                                                   \
            T v;                                                                                   \
            if (parse)                                                                             \
                o[i] = v;                                                                          \
            else                                                                                   \
                m[i] = 1;                                                                          \
        }                                                                                          \
    }

static bool parse_bool_u8(const char *s, size_t n, uint8_t *out)
{
    bool b;
    if (!tess__expr_parse_bool(s, n, &b)) return false;
    *out = b;
    return true;
}

static bool parse_ts(const char *s, size_t n, int64_t *out)
{
    return tess__ts_parse(s, n, out, NULL) == TESS_OK;
}

FROM_STRING(k_s2b, uint8_t, parse_bool_u8(s, len, &v))
FROM_STRING(k_s2i, int64_t, tess__expr_parse_int(s, len, &v))
FROM_STRING(k_s2f, double, tess__expr_parse_float(s, len, &v))
FROM_STRING(k_s2t, int64_t, parse_ts(s, len, &v))

/* ---- dispatch ------------------------------------------------------------------------------ */

int tess__expr_exec(const tess__expr_ins *in, reg *regs, size_t n, const tess__expr_ctx *ctx)
{
    reg *d = &regs[in->dst];
    const reg *a = in->a != TESS__EXPR_NOREG ? &regs[in->a] : NULL;
    const reg *b = in->b != TESS__EXPR_NOREG ? &regs[in->b] : NULL;
    const reg *c = in->c != TESS__EXPR_NOREG ? &regs[in->c] : NULL;
    switch ((tess__expr_op)in->op) {
    case OP_LOAD: {
        const tess__col *col = &ctx->cols[in->k];
        d->data = (char *)col->data + ctx->off * tess__expr_elem_size(col->type);
        d->nulls = col->nulls ? col->nulls + ctx->off : NULL;
        return TESS_OK;
    }
    case OP_CONST:
        tess__expr_fill(d, &ctx->consts[in->k], n);
        return TESS_OK;
    case OP_ADD_I:
        k_add_i(d, a, b, n);
        return TESS_OK;
    case OP_SUB_I:
        k_sub_i(d, a, b, n);
        return TESS_OK;
    case OP_MUL_I:
        k_mul_i(d, a, b, n);
        return TESS_OK;
    case OP_MOD_I:
        k_mod_i(d, a, b, n);
        return TESS_OK;
    case OP_NEG_I:
        k_neg_i(d, a, n);
        return TESS_OK;
    case OP_ADD_F:
        k_add_f(d, a, b, n);
        return TESS_OK;
    case OP_SUB_F:
        k_sub_f(d, a, b, n);
        return TESS_OK;
    case OP_MUL_F:
        k_mul_f(d, a, b, n);
        return TESS_OK;
    case OP_DIV_F:
        k_div_f(d, a, b, n);
        null_where_zero_f(d, b, n);
        return TESS_OK;
    case OP_MOD_F:
        k_mod_f(d, a, b, n);
        null_where_zero_f(d, b, n);
        return TESS_OK;
    case OP_NEG_F:
        k_neg_f(d, a, n);
        return TESS_OK;
    case OP_EQ_I:
        k_eq_i(d, a, b, n);
        return TESS_OK;
    case OP_NE_I:
        k_ne_i(d, a, b, n);
        return TESS_OK;
    case OP_LT_I:
        k_lt_i(d, a, b, n);
        return TESS_OK;
    case OP_LE_I:
        k_le_i(d, a, b, n);
        return TESS_OK;
    case OP_GT_I:
        k_gt_i(d, a, b, n);
        return TESS_OK;
    case OP_GE_I:
        k_ge_i(d, a, b, n);
        return TESS_OK;
    case OP_EQ_F:
        k_eq_f(d, a, b, n);
        return TESS_OK;
    case OP_NE_F:
        k_ne_f(d, a, b, n);
        return TESS_OK;
    case OP_LT_F:
        k_lt_f(d, a, b, n);
        return TESS_OK;
    case OP_LE_F:
        k_le_f(d, a, b, n);
        return TESS_OK;
    case OP_GT_F:
        k_gt_f(d, a, b, n);
        return TESS_OK;
    case OP_GE_F:
        k_ge_f(d, a, b, n);
        return TESS_OK;
    case OP_EQ_S:
        k_eq_s(d, a, b, n);
        return TESS_OK;
    case OP_NE_S:
        k_ne_s(d, a, b, n);
        return TESS_OK;
    case OP_LT_S:
        k_lt_s(d, a, b, n);
        return TESS_OK;
    case OP_LE_S:
        k_le_s(d, a, b, n);
        return TESS_OK;
    case OP_GT_S:
        k_gt_s(d, a, b, n);
        return TESS_OK;
    case OP_GE_S:
        k_ge_s(d, a, b, n);
        return TESS_OK;
    case OP_EQ_B:
        k_eq_b(d, a, b, n);
        return TESS_OK;
    case OP_NE_B:
        k_ne_b(d, a, b, n);
        return TESS_OK;
    case OP_LT_B:
        k_lt_b(d, a, b, n);
        return TESS_OK;
    case OP_LE_B:
        k_le_b(d, a, b, n);
        return TESS_OK;
    case OP_GT_B:
        k_gt_b(d, a, b, n);
        return TESS_OK;
    case OP_GE_B:
        k_ge_b(d, a, b, n);
        return TESS_OK;
    case OP_AND:
        k_and(d, a, b, n);
        return TESS_OK;
    case OP_OR:
        k_or(d, a, b, n);
        return TESS_OK;
    case OP_NOT:
        k_not(d, a, n);
        return TESS_OK;
    case OP_IS_NULL:
        k_is_null(d, a, n);
        return TESS_OK;
    case OP_COALESCE:
        k_coalesce(d, a, b, n, tess__expr_elem_size((tess__type)in->t));
        return TESS_OK;
    case OP_IF:
        k_if(d, a, b, c, n, tess__expr_elem_size((tess__type)in->t));
        return TESS_OK;
    case OP_ABS_I:
        k_abs_i(d, a, n);
        return TESS_OK;
    case OP_ABS_F:
        k_abs_f(d, a, n);
        return TESS_OK;
    case OP_LOG:
        k_log(d, a, n);
        null_where_nonpositive(d, a, n);
        return TESS_OK;
    case OP_EXP:
        k_exp(d, a, n);
        return TESS_OK;
    case OP_SQRT:
        k_sqrt(d, a, n);
        null_where_negative(d, a, n);
        return TESS_OK;
    case OP_POW:
        k_pow(d, a, b, n);
        null_where_nan_pow(d, a, b, n);
        return TESS_OK;
    case OP_FLOOR:
        k_floor(d, a, n);
        return TESS_OK;
    case OP_CEIL:
        k_ceil(d, a, n);
        return TESS_OK;
    case OP_ROUND_F:
        k_round_f(d, a, n);
        return TESS_OK;
    case OP_ROUND_FD:
        k_round_fd(d, a, b, n);
        return TESS_OK;
    case OP_ROUND_ID:
        k_round_id(d, a, b, n);
        return TESS_OK;
    case OP_MIN_I:
        k_min_i(d, a, b, n);
        return TESS_OK;
    case OP_MAX_I:
        k_max_i(d, a, b, n);
        return TESS_OK;
    case OP_MIN_F:
        k_min_f(d, a, b, n);
        return TESS_OK;
    case OP_MAX_F:
        k_max_f(d, a, b, n);
        return TESS_OK;
    case OP_MIN_S:
        k_min_s(d, a, b, n);
        return TESS_OK;
    case OP_MAX_S:
        k_max_s(d, a, b, n);
        return TESS_OK;
    case OP_LOWER:
        return k_case(d, a, n, ctx->arena, false);
    case OP_UPPER:
        return k_case(d, a, n, ctx->arena, true);
    case OP_LENGTH:
        k_length(d, a, n);
        return TESS_OK;
    case OP_CONCAT:
        return k_concat(d, a, b, n, ctx->arena);
    case OP_SUBSTR:
        k_substr(d, a, b, c, n);
        return TESS_OK;
    case OP_HOUR:
        k_hour(d, a, n);
        return TESS_OK;
    case OP_DOW:
        k_dow(d, a, n);
        return TESS_OK;
    case OP_B2I:
        k_b2i(d, a, n);
        return TESS_OK;
    case OP_B2F:
        k_b2f(d, a, n);
        return TESS_OK;
    case OP_B2S:
        k_b2s(d, a, n);
        return TESS_OK;
    case OP_I2B:
        k_i2b(d, a, n);
        return TESS_OK;
    case OP_I2F:
        k_i2f(d, a, n);
        return TESS_OK;
    case OP_I2S:
        return to_string(d, a, n, ctx->arena, fmt_int);
    case OP_F2I:
        k_f2i(d, a, n);
        return TESS_OK;
    case OP_F2S:
        return to_string(d, a, n, ctx->arena, fmt_float);
    case OP_S2B:
        k_s2b(d, a, n);
        return TESS_OK;
    case OP_S2I:
        k_s2i(d, a, n);
        return TESS_OK;
    case OP_S2F:
        k_s2f(d, a, n);
        return TESS_OK;
    case OP_S2T:
        k_s2t(d, a, n);
        return TESS_OK;
    case OP_T2S:
        return k_t2s(d, a, n, ctx->arena);
    case OP__COUNT:
        break;
    }
    return TESS_EINVAL;
}

/* ---- entry points -------------------------------------------------------------------------- */

static size_t align8(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

/* Runs e over n rows whose referenced columns are cols[0..nrefs) (in refs order), writing n
 * results of e->type into out_data / out_nulls (null rows zeroed). */
static int run(const tess__expr *e, const tess__col *cols, size_t n, tess__arena *arena,
               void *out_data, uint8_t *out_nulls)
{
    size_t chunk = n < CH ? n : CH;
    size_t total = align8(sizeof(reg) * e->nregs);
    for (size_t r = 0; r < e->nregs; r++)
        total += align8(chunk * e->reg_size[r]) + align8(chunk);
    char *mem = tess__arena_alloc(arena, total);
    if (!mem) return TESS_ENOMEM;
    reg *regs = (reg *)mem;
    char *p = mem + align8(sizeof(reg) * e->nregs);
    for (size_t r = 0; r < e->nregs; r++) {
        regs[r].buf = p;
        regs[r].data = p;
        p += align8(chunk * e->reg_size[r]);
        regs[r].nbuf = (uint8_t *)p;
        regs[r].nulls = NULL;
        p += align8(chunk);
    }
    tess__expr_ctx ctx = {cols, 0, e->consts, arena};
    size_t es = tess__expr_elem_size(e->type);
    for (size_t off = 0; off < n; off += chunk) {
        size_t m = n - off < chunk ? n - off : chunk;
        ctx.off = off;
        for (size_t k = 0; k < e->ncode; k++) {
            int rc = tess__expr_exec(&e->code[k], regs, m, &ctx);
            if (rc) return rc;
        }
        const reg *res = &regs[e->result];
        char *od = (char *)out_data + off * es;
        memcpy(od, res->data, m * es);
        if (res->nulls) {
            memcpy(out_nulls + off, res->nulls, m);
            for (size_t i = 0; i < m; i++)
                if (res->nulls[i]) memset(od + i * es, 0, es);
        } else {
            memset(out_nulls + off, 0, m);
        }
    }
    return TESS_OK;
}

int tess__expr_eval_batch(const tess__expr *e, const tess__col *cols, size_t n, tess__arena *arena,
                          tess__col *out)
{
    if (!out || (n > 0 && (!out->data || !out->nulls))) return TESS_EINVAL;
    out->type = e->type;
    if (n == 0) return TESS_OK;
    tess__col *slots = NULL;
    if (e->nrefs) {
        slots = tess__arena_alloc(arena, sizeof(*slots) * e->nrefs);
        if (!slots) return TESS_ENOMEM;
        for (size_t j = 0; j < e->nrefs; j++) {
            const tess__col *c = &cols[e->refs[j]];
            if (c->type != e->var_types[e->refs[j]] || !c->data) return TESS_EINVAL;
            slots[j] = *c;
        }
    }
    return run(e, slots, n, arena, out->data, out->nulls);
}

int tess__expr_eval(const tess__expr *e, const tess__value *vals, tess__arena *arena,
                    tess__value *out)
{
    size_t nr = e->nrefs;
    /* one allocation: the slot columns, then their single values, then their null flags */
    tess__col *slots = NULL;
    char *data = NULL;
    uint8_t *nulls = NULL;
    if (nr) {
        char *mem = tess__arena_alloc(arena, nr * (sizeof(tess__col) + 16 + 1));
        if (!mem) return TESS_ENOMEM;
        slots = (tess__col *)mem;
        data = mem + nr * sizeof(tess__col);
        nulls = (uint8_t *)(data + nr * 16);
    }
    for (size_t j = 0; j < nr; j++) {
        int v = e->refs[j];
        tess__type t = e->var_types[v];
        const tess__value *x = &vals[v];
        char *slot = data + j * 16;
        slots[j].type = t;
        slots[j].data = slot;
        slots[j].nulls = nulls + j;
        memset(slot, 0, 16);
        nulls[j] = 0;
        if (x->null || x->type == TESS_T_NULL) {
            nulls[j] = 1;
            continue;
        }
        if (x->type != t) return TESS_EINVAL;
        switch (t) {
        case TESS_T_BOOL:
            *(uint8_t *)slot = x->u.b;
            break;
        case TESS_T_FLOAT64:
            memcpy(slot, &x->u.f, sizeof(double));
            break;
        case TESS_T_STRING:
            memcpy(slot, &x->u.s, sizeof(tess__str));
            break;
        default:
            memcpy(slot, &x->u.i, sizeof(int64_t));
            break;
        }
    }
    union {
        int64_t i;
        double f;
        tess__str s;
        uint8_t b;
    } res;
    uint8_t res_null;
    int rc = run(e, slots, 1, arena, &res, &res_null);
    if (rc) return rc;
    *out = tess__expr_get(&res, &res_null, e->type, 0);
    return TESS_OK;
}
