/* jsonw.c — the server's JSON output, written by hand into a reused buffer (no document tree,
 * no allocation per value).
 *
 * Floats: the shortest decimal that reads back to the same double. Values with at most 15
 * decimals below 2^53 (prices, counts, most means) take a fast exact path: x * 10^k rounded to
 * an integer m, accepted when m / 10^k == x (both exact, so the division is the correctly
 * rounded value strtod would give for the decimal). Everything else goes through the
 * expression module's formatter (%.15g..%.17g with a read-back check). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/time.h"
#include "expr/expr_int.h"
#include "server/server.h"

void srv_buf_release(srv_buf *b)
{
    tess__free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
    b->oom = 0;
}

char *srv_reserve(srv_buf *b, size_t n)
{
    if (b->oom) return NULL;
    if (b->cap - b->len < n + 1) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap - b->len < n + 1) {
            if (cap > ((size_t)-1) / 2) {
                b->oom = 1;
                return NULL;
            }
            cap *= 2;
        }
        char *p = tess__realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return NULL;
        }
        b->p = p;
        b->cap = cap;
    }
    return b->p + b->len;
}

void srv_put_slow(srv_buf *b, const char *s, size_t n)
{
    char *d = srv_reserve(b, n);
    if (!d) return;
    memcpy(d, s, n);
    b->len += n;
}

void srv_printf(srv_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char tmp[256];
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof tmp) {
        srv_put(b, tmp, (size_t)n);
        return;
    }
    char *d = srv_reserve(b, (size_t)n);
    if (!d) return;
    va_start(ap, fmt);
    vsnprintf(d, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

size_t srv_utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    unsigned min;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        min = 0x10000;
    } else {
        return 0;
    }
    if (n < len) return 0;
    unsigned cp = c & (0x3f >> (len - 1));
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return len;
}

void srv_put_str(srv_buf *b, const char *str, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    char *d = srv_reserve(b, 2 + 6 * n);
    if (!d) return;
    const unsigned char *s = (const unsigned char *)str, *end = s + n;
    char *o = d;
    *o++ = '"';
    while (s < end) {
        unsigned c = *s;
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            *o++ = (char)c;
            s++;
            continue;
        }
        if (c >= 0x80) {
            size_t l = srv_utf8_len(s, (size_t)(end - s));
            if (l) {
                memcpy(o, s, l);
                o += l;
                s += l;
            } else {
                memcpy(o, "\\ufffd", 6);
                o += 6;
                s++;
            }
            continue;
        }
        *o++ = '\\';
        switch (c) {
        case '"':
            *o++ = '"';
            break;
        case '\\':
            *o++ = '\\';
            break;
        case '\n':
            *o++ = 'n';
            break;
        case '\r':
            *o++ = 'r';
            break;
        case '\t':
            *o++ = 't';
            break;
        case '\b':
            *o++ = 'b';
            break;
        case '\f':
            *o++ = 'f';
            break;
        default:
            *o++ = 'u';
            *o++ = '0';
            *o++ = '0';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
        s++;
    }
    *o++ = '"';
    b->len += (size_t)(o - d);
}

/* Writes the decimal digits of v into the end of tmp[24]; returns where they start. */
static char *u64_digits(uint64_t v, char *end)
{
    char *p = end;
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return p;
}

void srv_put_int(srv_buf *b, int64_t v)
{
    char tmp[24], *end = tmp + sizeof tmp;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    char *p = u64_digits(u, end);
    if (v < 0) *--p = '-';
    srv_put(b, p, (size_t)(end - p));
}

static const double pow10_tab[16] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                     1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};
static const uint64_t pow10_u[16] = {1ULL,
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
                                     1000000000000000ULL};

#define TWO53 9007199254740992.0

void srv_put_float(srv_buf *b, double x)
{
    if (isnan(x)) {
        srv_put(b, "\"NaN\"", 5);
        return;
    }
    if (isinf(x)) {
        if (x < 0)
            srv_put(b, "\"-Infinity\"", 11);
        else
            srv_put(b, "\"Infinity\"", 10);
        return;
    }
    char tmp[48];
    double ax = fabs(x);
    if (ax == 0) {
        if (signbit(x))
            srv_put(b, "-0.0", 4);
        else
            srv_put(b, "0.0", 3);
        return;
    }
    if (ax >= 1e-5 && ax < TWO53) {
        for (int k = 0; k < 16; k++) {
            double m = ax * pow10_tab[k];
            if (m >= TWO53) break;
            double r = floor(m + 0.5);
            if (r / pow10_tab[k] != ax) continue;
            uint64_t u = (uint64_t)r;
            char *const end = tmp + sizeof tmp;
            char *p;
            if (k == 0) {
                end[-1] = '0';
                end[-2] = '.';
                p = u64_digits(u, end - 2);
            } else {
                uint64_t ip = u / pow10_u[k], fp = u % pow10_u[k];
                char *q = end;
                for (int i = 0; i < k; i++) {
                    *--q = (char)('0' + fp % 10);
                    fp /= 10;
                }
                *--q = '.';
                p = u64_digits(ip, q);
            }
            if (x < 0) *--p = '-';
            srv_put(b, p, (size_t)(end - p));
            return;
        }
    }
    size_t n = tess__expr_format_float(x, tmp);
    int plain = 1;
    for (size_t i = 0; i < n; i++)
        if (tmp[i] == '.' || tmp[i] == 'e' || tmp[i] == 'E') plain = 0;
    srv_put(b, tmp, n);
    if (plain) srv_put(b, ".0", 2);
}

/* The text form of timestamps covers years 0001..9999 (as tess__ts_parse). */
#define TS_TEXT_MIN (-62135596800000000LL) /* 0001-01-01T00:00:00Z */
#define TS_TEXT_MAX 253402300799999999LL   /* 9999-12-31T23:59:59.999999Z */

static void two(char *p, unsigned v)
{
    p[0] = (char)('0' + v / 10);
    p[1] = (char)('0' + v % 10);
}

void srv_put_ts(srv_buf *b, int64_t us)
{
    if (us < TS_TEXT_MIN || us > TS_TEXT_MAX) { /* no RFC 3339 form: the integer */
        srv_put_int(b, us);
        return;
    }
    char *d = srv_reserve(b, 32);
    if (!d) return;
    int64_t secs = tess__floor_div(us, TESS_US_PER_S);
    long frac = (long)(us - secs * TESS_US_PER_S);
    int64_t days = tess__floor_div(secs, 86400);
    unsigned sod = (unsigned)(secs - days * 86400);
    int64_t y;
    unsigned m, dd;
    tess__civil_from_days(days, &y, &m, &dd);
    char *o = d;
    *o++ = '"';
    two(o, (unsigned)(y / 100));
    two(o + 2, (unsigned)(y % 100));
    o[4] = '-';
    two(o + 5, m);
    o[7] = '-';
    two(o + 8, dd);
    o[10] = 'T';
    two(o + 11, sod / 3600);
    o[13] = ':';
    two(o + 14, sod / 60 % 60);
    o[16] = ':';
    two(o + 17, sod % 60);
    o += 19;
    if (frac) {
        *o++ = '.';
        for (int i = 5; i >= 0; i--) {
            o[i] = (char)('0' + frac % 10);
            frac /= 10;
        }
        o += 6;
    }
    *o++ = 'Z';
    *o++ = '"';
    b->len += (size_t)(o - d);
}
