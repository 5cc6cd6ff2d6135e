/* conv.c — scalar conversions between strings and numbers, used by the lexer (float literals)
 * and by the cast kernels.
 *
 * The host program may have called setlocale(); a feature's value must not depend on it, so
 * every conversion here runs in the C locale: strtod_l with a C locale object created once
 * (pthread_once), and snprintf under uselocale() for the current thread only. If the locale
 * object cannot be created (out of memory at first use) the process locale is used.
 * float64 -> text does not go through snprintf at all except in rare fallbacks (see "float64 to
 * text" below), so it is locale-independent by construction.
 *
 * Accepted string forms (docs/expressions.md "cast"): surrounding ASCII whitespace is ignored;
 *   int64    [+-]digits, in range
 *   float64  [+-](digits[.digits]|.digits)[(e|E)[+-]digits], or inf, infinity, nan (any case);
 *            at most 500 bytes; a finite form that overflows to infinity is rejected
 *   bool     true, false, 1, 0 (any case)
 */
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expr/expr_int.h"

static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;

static void c_locale_init(void)
{
    c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

static locale_t get_c_locale(void)
{
    pthread_once(&c_locale_once, c_locale_init);
    return c_locale;
}

static double strtod_c(const char *s)
{
    locale_t l = get_c_locale();
    if (l) return strtod_l(s, NULL, l);
    return strtod(s, NULL);
}

double tess__expr_strtod(const char *s)
{
    return strtod_c(s);
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static void trim(const char **s, size_t *n)
{
    while (*n > 0 && is_space((*s)[0])) {
        (*s)++;
        (*n)--;
    }
    while (*n > 0 && is_space((*s)[*n - 1]))
        (*n)--;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

bool tess__expr_word_eq(const char *s, size_t n, const char *word)
{
    size_t i = 0;
    for (; i < n; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
        if (word[i] == '\0' || c != word[i]) return false;
    }
    return word[i] == '\0';
}

bool tess__expr_parse_int(const char *s, size_t n, int64_t *out)
{
    trim(&s, &n);
    size_t i = 0;
    bool neg = false;
    if (i < n && (s[i] == '+' || s[i] == '-')) neg = s[i++] == '-';
    if (i == n) return false;
    uint64_t v = 0;
    const uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; i < n; i++) {
        if (!is_digit(s[i])) return false;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (limit - d) / 10) return false;
        v = v * 10 + d;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return true;
}

bool tess__expr_parse_float(const char *s, size_t n, double *out)
{
    trim(&s, &n);
    if (n == 0 || n > 500) return false;
    size_t i = 0;
    bool neg = false;
    if (s[i] == '+' || s[i] == '-') neg = s[i++] == '-';
    const char *w = s + i;
    size_t wn = n - i;
    if (tess__expr_word_eq(w, wn, "inf") || tess__expr_word_eq(w, wn, "infinity")) {
        *out = neg ? -INFINITY : INFINITY;
        return true;
    }
    if (tess__expr_word_eq(w, wn, "nan")) {
        *out = NAN;
        return true;
    }
    size_t mant = 0;
    while (i < n && is_digit(s[i]))
        i++, mant++;
    if (i < n && s[i] == '.') {
        i++;
        while (i < n && is_digit(s[i]))
            i++, mant++;
    }
    if (mant == 0) return false;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-')) i++;
        size_t ed = 0;
        while (i < n && is_digit(s[i]))
            i++, ed++;
        if (ed == 0) return false;
    }
    if (i != n) return false;
    char buf[512];
    memcpy(buf, s, n);
    buf[n] = '\0';
    double x = strtod_c(buf);
    if (isinf(x)) return false;
    *out = x;
    return true;
}

bool tess__expr_parse_bool(const char *s, size_t n, bool *out)
{
    trim(&s, &n);
    if (tess__expr_word_eq(s, n, "true") || (n == 1 && s[0] == '1')) {
        *out = true;
        return true;
    }
    if (tess__expr_word_eq(s, n, "false") || (n == 1 && s[0] == '0')) {
        *out = false;
        return true;
    }
    return false;
}

/* ---- float64 to text ----------------------------------------------------------------------------
 *
 * tess__expr_format_float prints exactly what the reference loop (format_float_snprintf below)
 * prints: the first of %.15g, %.16g, %.17g that strtod reads back as x. glibc's printf and
 * strtod are both correctly rounded (printf rounds the exact binary value, half to even), so
 * that text is a function of x alone, and it is computed here with integer arithmetic:
 *
 * 1. x = m * 2^e with m < 2^53. With X the decimal exponent of x (10^X <= x < 10^(X+1)), %.Pg
 *    rounds y = x * 10^(P-1-X) to an integer N, half to even, and prints N's P digits with
 *    exponent X (X+1 if N rounded up to 10^P): fixed when -4 <= exponent < P, else d.ddde±XX;
 *    trailing zeros of the fraction and a bare '.' removed.
 * 2. One scaling serves the three precisions: Xe = floor(log10(2) * floor(log2 x)) is X or
 *    X-1, and y = x * 10^(16-Xe) has 17 or 18 integer digits, which settles X. y is held in
 *    128 bits as Y = y * 2^66. Rounding to P digits is rounding y / 10^k, k = digits - P,
 *    decided by (integer part of y mod 10^k, fraction bits) against 10^k / 2.
 * 3. strtod(text) == x exactly when the printed decimal D lies in x's rounding interval: it
 *    is closer to x than half the gap to the neighbouring double on its side, or exactly half
 *    way and m is even (strtod breaks ties to even). The gap is 2^e, or 2^(e-1) below x when
 *    x is a power of two above the smallest normal binade. Scaled like y, half a gap is
 *    H = 2^(e-1) * 10^(16-Xe) * 2^66. The largest double and the smallest subnormal need no
 *    special case: their out-of-range neighbours (overflow, zero) sit at the same distance.
 * 4. Exact mode: when 0 <= q = 16-Xe <= 27 and e + q + 66 >= 2, Y = m * 5^q * 2^(e+q+66) and
 *    H = 5^q * 2^(e+q+65) are exact 128-bit integers (5^27 < 2^63, Y < 2^126), so every
 *    comparison is exact, ties included. That holds for all 1e-11 <= |x| < 1e18.
 *    Integers from 1e17 to 2^64 (18 to 20 digits) are held as they are (Y = x, H = 2^(e-1);
 *    fraction bits none, since k >= 1 and 10^k is even), exactly too.
 * 5. Elsewhere Y and H are computed from a 128-bit truncation T of 10^q (pow10_init) and are
 *    low by less than 2 units of 2^-66: Y = m*T*2^-r truncated, true Y = m*(T+d)*2^-r with
 *    0 <= d < 2, and m*2^-r < 1/2 because Y < 2^126 <= T/2. A decision that such an error
 *    could flip (a value within 3 units of a tie, of 10^17 or of a half gap; of the doubles
 *    outside the exact range, in practice only exact decimals such as 1e20) is left to the
 *    reference loop, so the result is exact in every case.
 */
__extension__ typedef unsigned __int128 u128;

#define FIX 66 /* fraction bits of the fixed-point Y */
#define POW10_MIN (-300)
#define POW10_MAX 345

/* 10^q ~ (hi * 2^64 + lo) * 2^e, truncated: never above 10^q, and less than 2 units below. */
static struct {
    uint64_t hi, lo;
    int e;
} pow10_tab[POW10_MAX - POW10_MIN + 1];
static pthread_once_t pow10_once = PTHREAD_ONCE_INIT;

static void pow10_store(int q, const uint64_t a[4], int e)
{
    pow10_tab[q - POW10_MIN].hi = a[3];
    pow10_tab[q - POW10_MIN].lo = a[2];
    pow10_tab[q - POW10_MIN].e = e + 128;
}

/* Builds pow10_tab with a 256-bit mantissa a (a[3] most significant, top bit set) stepped by
 * x10 and /10 from 10^0 = 2^255 * 2^-255. Each step truncates less than one unit of a >= 2^251,
 * so after 345 steps a is low by a relative 2^-242 at most, and its top 128 bits by less than
 * 1 + 2^-114 units. */
static void pow10_init(void)
{
    uint64_t a[4] = {0, 0, 0, 1ULL << 63};
    int e = -255;
    pow10_store(0, a, e);
    for (int q = 1; q <= POW10_MAX; q++) {
        uint64_t carry = 0;
        for (int i = 0; i < 4; i++) {
            u128 t = (u128)a[i] * 10 + carry;
            a[i] = (uint64_t)t;
            carry = (uint64_t)(t >> 64);
        }
        int s = 64 - __builtin_clzll(carry); /* carry is 5..9: shift 3 or 4 bits back out */
        for (int i = 0; i < 4; i++)
            a[i] = (a[i] >> s) | ((i < 3 ? a[i + 1] : carry) << (64 - s));
        e += s;
        pow10_store(q, a, e);
    }
    a[0] = a[1] = a[2] = 0;
    a[3] = 1ULL << 63;
    e = -255;
    for (int q = -1; q >= POW10_MIN; q--) {
        uint64_t rem = 0;
        for (int i = 3; i >= 0; i--) {
            u128 cur = ((u128)rem << 64) | a[i];
            a[i] = (uint64_t)(cur / 10);
            rem = (uint64_t)(cur % 10);
        }
        int s = __builtin_clzll(a[3]); /* 3 or 4 */
        for (int i = 3; i > 0; i--)
            a[i] = (a[i] << s) | (a[i - 1] >> (64 - s));
        a[0] <<= s;
        e -= s;
        pow10_store(q, a, e);
    }
}

static const uint64_t pow10_u64[] = {1ULL,
                                     10ULL,
                                     100ULL,
                                     1000ULL,
                                     10000ULL,
                                     100000ULL,
                                     1000000ULL,
                                     10000000ULL,
                                     100000000ULL,
                                     1000000000ULL,
                                     10000000000ULL,
                                     100000000000ULL,
                                     1000000000000ULL,
                                     10000000000000ULL,
                                     100000000000000ULL,
                                     1000000000000000ULL,
                                     10000000000000000ULL,
                                     100000000000000000ULL,
                                     1000000000000000000ULL};

static const uint64_t pow5_u64[28] = {1ULL,
                                      5ULL,
                                      25ULL,
                                      125ULL,
                                      625ULL,
                                      3125ULL,
                                      15625ULL,
                                      78125ULL,
                                      390625ULL,
                                      1953125ULL,
                                      9765625ULL,
                                      48828125ULL,
                                      244140625ULL,
                                      1220703125ULL,
                                      6103515625ULL,
                                      30517578125ULL,
                                      152587890625ULL,
                                      762939453125ULL,
                                      3814697265625ULL,
                                      19073486328125ULL,
                                      95367431640625ULL,
                                      476837158203125ULL,
                                      2384185791015625ULL,
                                      11920928955078125ULL,
                                      59604644775390625ULL,
                                      298023223876953125ULL,
                                      1490116119384765625ULL,
                                      7450580596923828125ULL};

static const char digit_pairs[201] = "00010203040506070809"
                                     "10111213141516171819"
                                     "20212223242526272829"
                                     "30313233343536373839"
                                     "40414243444546474849"
                                     "50515253545556575859"
                                     "60616263646566676869"
                                     "70717273747576777879"
                                     "80818283848586878889"
                                     "90919293949596979899";

/* y = x * 10^q as Y = y * 2^FIX, and half the gap below (hlo) and above (hhi) x on the same
 * scale. err 0: exact; otherwise each true value is in [value, value + err). */
typedef struct scaled {
    u128 y, hlo, hhi;
    unsigned err;
} scaled;

static bool scale(uint64_t m, int e, int q, bool narrow_below, scaled *s)
{
    if (q >= 0 && q <= 27 && e + q + FIX >= 2) {
        int sh = e + q + FIX;
        s->y = ((u128)m * pow5_u64[q]) << sh;
        s->hhi = (u128)pow5_u64[q] << (sh - 1);
        s->hlo = narrow_below ? s->hhi >> 1 : s->hhi;
        s->err = 0;
        return true;
    }
    if (q < POW10_MIN || q > POW10_MAX) return false;
    pthread_once(&pow10_once, pow10_init);
    uint64_t thi = pow10_tab[q - POW10_MIN].hi, tlo = pow10_tab[q - POW10_MIN].lo;
    int r = -(e + pow10_tab[q - POW10_MIN].e + FIX);
    if (r < 2 || r > 62) return false; /* cannot happen: Y is in [2^119, 2^126) */
    u128 lo = (u128)m * tlo, hi = (u128)m * thi;
    u128 mid = (lo >> 64) + (uint64_t)hi;
    u128 top = (((u128)(uint64_t)(hi >> 64) + (uint64_t)(mid >> 64)) << 64) | (uint64_t)mid;
    s->y = (top << (64 - r)) | ((uint64_t)lo >> r);
    u128 t = ((u128)thi << 64) | tlo;
    s->hhi = t >> (r + 1);
    s->hlo = narrow_below ? t >> (r + 2) : s->hhi;
    s->err = 3;
    return true;
}

/* %.{prec}g of the decimal n * 10^(xo - prec + 1), where n has exactly prec digits; p gets the
 * text and a NUL. Returns the length. */
static size_t emit_g(char *p, uint64_t n, int prec, int xo)
{
    int nd = prec;
    while (n % 10000 == 0) {
        n /= 10000;
        nd -= 4;
    }
    while (n % 10 == 0) {
        n /= 10;
        nd--;
    }
    char dig[24], *d = dig + nd;
    if (n >= 100000000) { /* the low 8 digits apart: two short dependency chains, not one */
        uint32_t lo = (uint32_t)(n % 100000000);
        n /= 100000000;
        for (int i = 0; i < 4; i++) {
            d -= 2;
            memcpy(d, digit_pairs + 2 * (lo % 100), 2);
            lo /= 100;
        }
    }
    while (n >= 100) {
        d -= 2;
        memcpy(d, digit_pairs + 2 * (n % 100), 2);
        n /= 100;
    }
    if (n >= 10) {
        d -= 2;
        memcpy(d, digit_pairs + 2 * n, 2);
    } else {
        *--d = (char)('0' + n);
    }
    char *s = p;
    if (xo < -4 || xo >= prec) {
        *s++ = dig[0];
        if (nd > 1) {
            *s++ = '.';
            memcpy(s, dig + 1, (size_t)nd - 1);
            s += nd - 1;
        }
        *s++ = 'e';
        *s++ = xo < 0 ? '-' : '+';
        unsigned ax = (unsigned)(xo < 0 ? -xo : xo);
        if (ax >= 100) {
            *s++ = (char)('0' + ax / 100);
            ax %= 100;
        }
        memcpy(s, digit_pairs + 2 * ax, 2);
        s += 2;
    } else if (xo >= 0) {
        int ni = xo + 1; /* digits before the point */
        if (nd <= ni) {
            memcpy(s, dig, (size_t)nd);
            memset(s + nd, '0', (size_t)(ni - nd));
            s += ni;
        } else {
            memcpy(s, dig, (size_t)ni);
            s += ni;
            *s++ = '.';
            memcpy(s, dig + ni, (size_t)(nd - ni));
            s += nd - ni;
        }
    } else {
        *s++ = '0';
        *s++ = '.';
        memset(s, '0', (size_t)(-xo - 1));
        s += -xo - 1;
        memcpy(s, dig, (size_t)nd);
        s += nd;
    }
    *s = '\0';
    return (size_t)(s - p);
}

/* The reference: what tess__expr_format_float computes, the slow way. */
static size_t format_float_snprintf(double x, char *buf)
{
    if (isnan(x)) {
        memcpy(buf, "nan", 4);
        return 3;
    }
    if (isinf(x)) {
        const char *s = x < 0 ? "-inf" : "inf";
        size_t n = strlen(s);
        memcpy(buf, s, n + 1);
        return n;
    }
    locale_t l = get_c_locale();
    locale_t old = l ? uselocale(l) : (locale_t)0;
    int len = 0;
    for (int prec = 15; prec <= 17; prec++) {
        len = snprintf(buf, 32, "%.*g", prec, x);
        if (prec == 17 || strtod_c(buf) == x) break;
    }
    if (l) uselocale(old);
    return len < 0 ? 0 : (size_t)len;
}

size_t tess__expr_format_float(double x, char *buf)
{
    uint64_t bits;
    memcpy(&bits, &x, sizeof(bits));
    uint64_t frac = bits & ((1ULL << 52) - 1);
    int bexp = (int)(bits >> 52 & 0x7ff);
    if (bexp == 0x7ff) return format_float_snprintf(x, buf); /* nan, inf, -inf */
    char *p = buf;
    if (bits >> 63) *p++ = '-';
    if (bexp == 0 && frac == 0) {
        p[0] = '0';
        p[1] = '\0';
        return (size_t)(p - buf) + 1;
    }
    uint64_t m = bexp ? frac | 1ULL << 52 : frac;
    int e = bexp ? bexp - 1075 : -1074;
    int log2x = bexp ? bexp - 1023 : 63 - __builtin_clzll(m) - 1074;
    /* floor(log2x * log10(2)), exact for |log2x| <= 1100; the offset keeps the shift's operand
     * positive */
    int xe = (int)((((int64_t)log2x * 646456993) + ((int64_t)2000 << 31)) >> 31) - 2000;
    scaled s;
    int digits, fix = FIX;
    if (xe >= 17 && e <= 11) {
        /* an integer of 18 to 20 digits: y = x itself, exactly (e >= 4 here) */
        uint64_t v = m << e;
        digits = 18 + (v >= pow10_u64[18]) + (v >= 10 * pow10_u64[18]);
        xe = digits - 1;
        s.y = v;
        s.hhi = (u128)1 << (e - 1);
        s.hlo = frac == 0 ? s.hhi >> 1 : s.hhi;
        s.err = 0;
        fix = 0;
    } else {
        if (!scale(m, e, 16 - xe, frac == 0 && bexp > 1, &s)) goto slow;
        const u128 ten17 = (u128)pow10_u64[17] << FIX;
        digits = 17;
        if (s.y >= ten17) {
            digits = 18;
            xe++;
        } else if (s.y + s.err > ten17) {
            goto slow;
        }
    }
    uint64_t ip = (uint64_t)(s.y >> fix);
    u128 fp = s.y & (((u128)1 << fix) - 1);
    for (int prec = 15; prec <= 17; prec++) {
        uint64_t d = pow10_u64[digits - prec], n;
        switch (digits - prec) { /* constant divisors: a multiplication, not a division */
        case 0: n = ip; break;
        case 1: n = ip / 10; break;
        case 2: n = ip / 100; break;
        case 3: n = ip / 1000; break;
        case 4: n = ip / 10000; break;
        default: n = ip / d; break;
        }
        u128 r = ((u128)(ip - n * d) << fix) | fp; /* y - n*d, in units of 2^-fix */
        u128 full = (u128)d << fix, half = full >> 1;
        bool up;
        if (r > half)
            up = true;
        else if (s.err == 0)
            up = r == half && (n & 1);
        else if (r + s.err <= half)
            up = false;
        else
            goto slow;
        if (prec < 17) {
            /* does the printed value read back as x? */
            u128 dist = up ? full - r : r, h = up ? s.hhi : s.hlo;
            bool back;
            if (s.err == 0)
                back = dist < h || (dist == h && !(m & 1));
            else if (dist + s.err <= h)
                back = true;
            else if (dist >= h + 2 * s.err)
                back = false;
            else
                goto slow;
            if (!back) continue;
        }
        n += up;
        int xo = xe;
        if (n == pow10_u64[prec]) { /* 9.99..95 rounded up to 10.0 */
            n = pow10_u64[prec - 1];
            xo++;
        }
        return (size_t)(p - buf) + emit_g(p, n, prec, xo);
    }
slow:
    return format_float_snprintf(x, buf);
}
