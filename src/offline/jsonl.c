/* jsonl.c — the JSON Lines back end of the reader: one flat JSON object per line.
 *
 * A hand-written strict parser (RFC 8259) that reads each line in place in the read buffer:
 * every line ends with '\n' there (the last one with the buffer's sentinel), so the scanning
 * loops stop at the line end without bounds checks. Keys are matched against the schema
 * (the next schema column is tried first: writers usually keep one key order); values of
 * schema columns are converted straight into the batch, values of other keys are checked
 * as JSON and skipped (nesting up to 1024 levels). Strings are checked for UTF-8; escapes
 * include \uXXXX with surrogate pairs (a lone surrogate is an error).
 *
 * Types: null or an absent key is null; int64 from a number with an integral value (3, -7,
 * 3.0, 1e3; not 3.5, not "3"); float64 from any number; bool from true/false; string from a
 * string; timestamp from a string in a core/time.h form (numbers are not timestamps). An
 * object or an array for a column is an error. Blank lines are skipped. Any problem makes
 * the line a bad row (`file:line:col`, col = 1-based byte column of the offending token).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* locale_t in reader_int.h (also set by the Makefile) */
#endif
#include <stdarg.h>
#include <string.h>

#include "core/alloc.h"
#include "offline/reader_int.h"
#include "tessera.h"

#define MAX_DEPTH 1024

typedef struct jl {
    tess__reader *r;
    const char *ls, *le; /* the line; *le == '\n' */
    uint64_t line;
} jl;

enum { S_ESC = 1, S_NONASCII = 2 };

/* 1 for the bytes that stop the fast scan of a string: '"', '\\', controls, non-ASCII. */
static const uint8_t str_stop[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
};

static size_t col_of(const jl *j, const char *at)
{
    return (size_t)(at - j->ls) + 1;
}

static const char *ws(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\r')
        p++;
    return p;
}

/* "invalid JSON: <what>, got <the token at `at`>" */
static int syntax(jl *j, const char *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int syntax(jl *j, const char *at, const char *fmt, ...)
{
    tess__reader *r = j->r;
    va_list ap;
    tess__rd_msg_at(r, j->line, col_of(j, at));
    tess__buf_puts(&r->msg, "invalid JSON: ");
    va_start(ap, fmt);
    tess__buf_vprintf(&r->msg, fmt, ap);
    va_end(ap);
    if (at == j->le)
        tess__buf_puts(&r->msg, ", got the end of the line");
    else if ((unsigned char)*at >= 0x21 && (unsigned char)*at < 0x7F)
        tess__buf_printf(&r->msg, ", got '%c'", *at);
    else
        tess__buf_printf(&r->msg, ", got byte 0x%02x", (unsigned char)*at);
    return TESS_EPARSE;
}

static int plain(jl *j, const char *at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int plain(jl *j, const char *at, const char *fmt, ...)
{
    tess__reader *r = j->r;
    va_list ap;
    tess__rd_msg_at(r, j->line, col_of(j, at));
    va_start(ap, fmt);
    tess__buf_vprintf(&r->msg, fmt, ap);
    va_end(ap);
    return TESS_EPARSE;
}

/* p at the opening quote: finds the closing one (*q) and what the string holds. */
static int scan_str(jl *j, const char *p, const char **q, int *flags)
{
    const unsigned char *s = (const unsigned char *)p + 1;
    int fl = 0;
    for (;;) {
        while (!str_stop[*s])
            s++;
        unsigned c = *s;
        if (c == '"') break;
        if (c == '\\') {
            fl |= S_ESC;
            s++;
            if ((const char *)s == j->le) break;
            s++;
            continue;
        }
        if (c >= 0x80) {
            fl |= S_NONASCII;
            s++;
            continue;
        }
        break; /* a control character, or the end of the line */
    }
    if (*s != '"') {
        if ((const char *)s >= j->le)
            return plain(j, p, "invalid JSON: unterminated string (no closing '\"' on this line)");
        return plain(j, (const char *)s,
                     "invalid JSON: control character 0x%02x in a string (write it as an "
                     "escape, e.g. \\n)",
                     *s);
    }
    if (fl & S_NONASCII) {
        size_t n = (size_t)((const char *)s - (p + 1));
        size_t at = tess__rd_utf8_check(p + 1, n);
        if (at < n)
            return plain(j, p + 1 + at, "invalid UTF-8 in a string (byte 0x%02x)",
                         (unsigned char)p[1 + at]);
    }
    *q = (const char *)s;
    *flags = fl;
    return TESS_OK;
}

static int hex4(const char *s, uint32_t *out)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = (unsigned char)s[i], d;
        if (c - '0' <= 9)
            d = c - '0';
        else if ((c | 0x20) - 'a' <= 5)
            d = (c | 0x20) - 'a' + 10;
        else
            return -1;
        v = v << 4 | d;
    }
    *out = v;
    return 0;
}

/* Decodes the body [s, q) of a string with escapes into d (room for q - s bytes; NULL: only
 * check); *dn gets the length. */
static int decode_str(jl *j, const char *s, const char *q, char *d, size_t *dn)
{
    size_t k = 0;
    while (s < q) {
        const char *e = memchr(s, '\\', (size_t)(q - s));
        size_t run = (size_t)((e ? e : q) - s);
        if (d) memcpy(d + k, s, run);
        k += run;
        s += run;
        if (!e) break;
        char c;
        switch (s[1]) {
        case '"':
            c = '"';
            break;
        case '\\':
            c = '\\';
            break;
        case '/':
            c = '/';
            break;
        case 'b':
            c = '\b';
            break;
        case 'f':
            c = '\f';
            break;
        case 'n':
            c = '\n';
            break;
        case 'r':
            c = '\r';
            break;
        case 't':
            c = '\t';
            break;
        case 'u': {
            uint32_t cp, lo;
            if (q - s < 6 || hex4(s + 2, &cp) != 0)
                return plain(j, s, "invalid JSON: \\u needs 4 hexadecimal digits");
            const char *u = s;
            s += 6;
            if (cp >= 0xDC00 && cp <= 0xDFFF)
                return plain(j, u, "invalid JSON: lone low surrogate \\u%04X", (unsigned)cp);
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (q - s < 6 || s[0] != '\\' || s[1] != 'u' || hex4(s + 2, &lo) != 0 ||
                    lo < 0xDC00 || lo > 0xDFFF)
                    return plain(j, u,
                                 "invalid JSON: high surrogate \\u%04X not followed by a low "
                                 "surrogate \\uDC00-\\uDFFF",
                                 (unsigned)cp);
                s += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            char b[4];
            size_t bn;
            if (cp < 0x80) {
                b[0] = (char)cp;
                bn = 1;
            } else if (cp < 0x800) {
                b[0] = (char)(0xC0 | cp >> 6);
                b[1] = (char)(0x80 | (cp & 0x3F));
                bn = 2;
            } else if (cp < 0x10000) {
                b[0] = (char)(0xE0 | cp >> 12);
                b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
                b[2] = (char)(0x80 | (cp & 0x3F));
                bn = 3;
            } else {
                b[0] = (char)(0xF0 | cp >> 18);
                b[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
                b[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
                b[3] = (char)(0x80 | (cp & 0x3F));
                bn = 4;
            }
            if (d) memcpy(d + k, b, bn);
            k += bn;
            continue;
        }
        default:
            return plain(j, s, "invalid JSON: invalid escape \\%c in a string",
                         (unsigned char)s[1] >= 0x21 && (unsigned char)s[1] < 0x7F ? s[1] : '?');
        }
        if (d) d[k] = c;
        k++;
        s += 2;
    }
    *dn = k;
    return TESS_OK;
}

/* A string's text: the body itself when it has no escapes, else decoded into r->scratch. */
static int str_text(jl *j, const char *p, const char *q, int flags, const char **t, size_t *n)
{
    if (!(flags & S_ESC)) {
        *t = p + 1;
        *n = (size_t)(q - p - 1);
        return TESS_OK;
    }
    tess__buf *b = &j->r->scratch;
    tess__buf_reset(b);
    size_t raw = (size_t)(q - p - 1);
    if (raw >= b->cap) {
        /* grow through append (keeps the cap logic in one place) */
        if (tess__buf_append(b, p + 1, raw) != TESS_OK) return TESS_ENOMEM;
        tess__buf_reset(b);
    }
    int rc = decode_str(j, p + 1, q, b->p, n);
    if (rc != TESS_OK) return rc;
    *t = b->p;
    return TESS_OK;
}

/* A number at p: checks JSON's grammar, *end = the byte after it. */
static int scan_num(jl *j, const char *p, const char **end)
{
    const char *s = p;
    if (*s == '-') s++;
    if (*s == '0') {
        s++;
    } else if ((unsigned)(*s - '1') <= 8) {
        while ((unsigned)(*s - '0') <= 9)
            s++;
    } else {
        return syntax(j, p, "invalid number");
    }
    if (*s == '.') {
        s++;
        if ((unsigned)(*s - '0') > 9) return syntax(j, p, "invalid number");
        while ((unsigned)(*s - '0') <= 9)
            s++;
    }
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '+' || *s == '-') s++;
        if ((unsigned)(*s - '0') > 9) return syntax(j, p, "invalid number");
        while ((unsigned)(*s - '0') <= 9)
            s++;
    }
    if ((unsigned)(*s - '0') <= 9 || *s == '.' || *s == 'e' || *s == 'E' || *s == '+' || *s == '-')
        return syntax(j, p, "invalid number");
    *end = s;
    return TESS_OK;
}

/* The int64 value of a JSON number (already checked), if it is integral. */
static int num_to_i64(const char *p, const char *end, int64_t *out, const char **why)
{
    const char *s = p, *ip, *fp = NULL;
    size_t in, fn = 0;
    bool neg = false;
    int64_t ex = 0;
    *why = NULL;
    if (*s == '-') {
        neg = true;
        s++;
    }
    ip = s;
    while (s < end && (unsigned)(*s - '0') <= 9)
        s++;
    in = (size_t)(s - ip);
    if (s < end && *s == '.') {
        fp = ++s;
        while (s < end && (unsigned)(*s - '0') <= 9)
            s++;
        fn = (size_t)(s - fp);
    }
    if (s < end) { /* exponent */
        s++;
        int sign = 1;
        if (*s == '+' || *s == '-') sign = *s++ == '-' ? -1 : 1;
        while (s < end) {
            if (ex < 100000) ex = ex * 10 + (*s - '0');
            s++;
        }
        ex *= sign;
    }
    /* the digits D = int digits then fraction digits; value = D * 10^(ex - fn) */
    size_t nd = in + fn, first = 0, last = nd;
#define DIGIT(i) ((i) < in ? ip[i] : fp[(i)-in])
    while (first < nd && DIGIT(first) == '0')
        first++;
    if (first == nd) {
        *out = 0;
        return TESS_OK;
    }
    while (DIGIT(last - 1) == '0')
        last--;
    int64_t e = ex - (int64_t)fn + (int64_t)(nd - last);
    if (e < 0) {
        *why = "not an integer";
        return TESS_EPARSE;
    }
    if ((int64_t)(last - first) + e > 19) goto range;
    uint64_t v = 0;
    for (size_t i = first; i < last; i++)
        v = v * 10 + (uint64_t)(DIGIT(i) - '0');
    for (int64_t i = 0; i < e; i++)
        v *= 10;
#undef DIGIT
    if (neg) {
        if (v > (uint64_t)INT64_MAX + 1) goto range;
        *out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
    } else {
        if (v > (uint64_t)INT64_MAX) goto range;
        *out = (int64_t)v;
    }
    return TESS_OK;
range:
    *why = "out of range";
    return TESS_EPARSE;
}

/* A literal (true, false, null) at p: its length, or 0. */
static size_t literal(const char *p, const char *lit, size_t n)
{
    for (size_t i = 0; i < n; i++) /* stops at the line's '\n' at the latest */
        if (p[i] != lit[i]) return 0;
    return n;
}

/* `column "x": <shown> is not a T[ (why)]` where shown is a JSON token as written. */
static int type_error(jl *j, const char *at, size_t sc, const char *tok, size_t n, const char *why)
{
    tess__reader *r = j->r;
    tess__rd_msg_at(r, j->line, col_of(j, at));
    tess__buf_printf(&r->msg, "column \"%s\": %.*s is not %s", r->src->schema[sc].name, (int)n, tok,
                     tess__rd_type_article(r->types[sc]));
    if (why) tess__buf_printf(&r->msg, " (%s)", why);
    return TESS_EPARSE;
}

/* Skips any JSON value at p (checking it); *end = the byte after it. */
static int skip_value(jl *j, const char *p, const char **end)
{
    uint8_t stack[MAX_DEPTH]; /* 1: object, 0: array */
    size_t depth = 0;
    const char *q;
    int fl, rc;
    for (;;) {
        /* a value at p */
        switch (*p) {
        case '{':
        case '[':
            if (depth == MAX_DEPTH)
                return plain(j, p, "invalid JSON: nested deeper than %d levels", MAX_DEPTH);
            stack[depth++] = *p == '{';
            p = ws(p + 1);
            if (*p == (stack[depth - 1] ? '}' : ']')) {
                depth--;
                p++;
                break;
            }
            if (stack[depth - 1]) {
                if (*p != '"') return syntax(j, p, "expected a key (a string) or '}'");
                if ((rc = scan_str(j, p, &q, &fl)) != TESS_OK) return rc;
                if ((fl & S_ESC) && (rc = decode_str(j, p + 1, q, NULL, &(size_t){0})) != TESS_OK)
                    return rc;
                p = ws(q + 1);
                if (*p != ':') return syntax(j, p, "expected ':' after the key");
                p = ws(p + 1);
            }
            continue;
        case '"':
            if ((rc = scan_str(j, p, &q, &fl)) != TESS_OK) return rc;
            if ((fl & S_ESC) && (rc = decode_str(j, p + 1, q, NULL, &(size_t){0})) != TESS_OK)
                return rc;
            p = q + 1;
            break;
        case 't':
        case 'f':
        case 'n': {
            size_t k = literal(p, "true", 4) | literal(p, "false", 5) | literal(p, "null", 4);
            if (!k) return syntax(j, p, "expected a value");
            p += k;
            break;
        }
        default:
            if (*p == '-' || (unsigned)(*p - '0') <= 9) {
                if ((rc = scan_num(j, p, &p)) != TESS_OK) return rc;
                break;
            }
            return syntax(j, p, "expected a value");
        }
        /* after a value: close containers, or go on to the next element */
        for (;;) {
            if (depth == 0) {
                *end = p;
                return TESS_OK;
            }
            p = ws(p);
            bool obj = stack[depth - 1];
            if (*p == ',') {
                p = ws(p + 1);
                if (obj) {
                    if (*p != '"') return syntax(j, p, "expected a key (a string)");
                    if ((rc = scan_str(j, p, &q, &fl)) != TESS_OK) return rc;
                    if ((fl & S_ESC) &&
                        (rc = decode_str(j, p + 1, q, NULL, &(size_t){0})) != TESS_OK)
                        return rc;
                    p = ws(q + 1);
                    if (*p != ':') return syntax(j, p, "expected ':' after the key");
                    p = ws(p + 1);
                }
                break;
            }
            if (*p == (obj ? '}' : ']')) {
                depth--;
                p++;
                continue;
            }
            return syntax(j, p, obj ? "expected ',' or '}'" : "expected ',' or ']'");
        }
    }
}

/* The value of schema column sc at p; *end = the byte after it. */
static int column_value(jl *j, size_t sc, const char *p, const char **end)
{
    tess__reader *r = j->r;
    const tess__type t = r->types[sc];
    const size_t row = r->row;
    const char *q, *why = NULL;
    int fl, rc;
    switch (*p) {
    case '"': {
        if ((rc = scan_str(j, p, &q, &fl)) != TESS_OK) return rc;
        *end = q + 1;
        if (t == TESS_T_STRING) {
            size_t raw = (size_t)(q - p - 1), n = raw;
            char *d = "";
            if (raw) {
                d = tess__arena_alloc(r->arena, raw);
                if (!d) return TESS_ENOMEM;
                if (fl & S_ESC) {
                    if ((rc = decode_str(j, p + 1, q, d, &n)) != TESS_OK) return rc;
                } else {
                    memcpy(d, p + 1, raw);
                }
            }
            ((tess__str *)r->cdata[sc])[row] = (tess__str){d, n};
            r->cnull[sc][row] = 0;
            return TESS_OK;
        }
        const char *txt;
        size_t n;
        if ((rc = str_text(j, p, q, fl, &txt, &n)) != TESS_OK) return rc;
        if (t == TESS_T_TIMESTAMP) {
            if (tess__rd_parse_ts(r, txt, n, &((int64_t *)r->cdata[sc])[row], &why) == TESS_OK) {
                r->cnull[sc][row] = 0;
                return TESS_OK;
            }
        }
        tess__rd_value_error(r, j->line, col_of(j, p), sc, txt, n, why);
        return TESS_EPARSE;
    }
    case 'n':
        if (!literal(p, "null", 4)) return syntax(j, p, "expected a value");
        *end = p + 4;
        tess__rd_set_null(r, sc);
        return TESS_OK;
    case 't':
    case 'f': {
        size_t k = literal(p, "true", 4) | literal(p, "false", 5);
        if (!k) return syntax(j, p, "expected a value");
        *end = p + k;
        if (t != TESS_T_BOOL) return type_error(j, p, sc, p, k, NULL);
        ((uint8_t *)r->cdata[sc])[row] = *p == 't';
        r->cnull[sc][row] = 0;
        return TESS_OK;
    }
    case '{':
    case '[':
        if ((rc = skip_value(j, p, end)) != TESS_OK) return rc;
        return type_error(j, p, sc, *p == '{' ? "an object" : "an array", *p == '{' ? 9 : 8, NULL);
    default:
        if (*p != '-' && (unsigned)(*p - '0') > 9) return syntax(j, p, "expected a value");
        if ((rc = scan_num(j, p, end)) != TESS_OK) return rc;
        size_t n = (size_t)(*end - p);
        if (t == TESS_T_FLOAT64) {
            rc = tess__rd_parse_f64(r, p, n, true, &((double *)r->cdata[sc])[row], &why);
        } else if (t == TESS_T_INT64) {
            rc = num_to_i64(p, *end, &((int64_t *)r->cdata[sc])[row], &why);
        } else {
            rc = TESS_EPARSE;
            if (t == TESS_T_TIMESTAMP) why = "write timestamps as strings";
        }
        if (rc == TESS_ENOMEM) return rc;
        if (rc != TESS_OK) {
            if (n > TESS__RD_VALUE_SHOWN) n = TESS__RD_VALUE_SHOWN; /* digits: no UTF-8 */
            return type_error(j, p, sc, p, n, why);
        }
        r->cnull[sc][row] = 0;
        return TESS_OK;
    }
}

static long find_col(tess__reader *r, const char *k, size_t n)
{
    size_t h = r->hint;
    if (h < r->ncols && r->name_len[h] == n && memcmp(r->src->schema[h].name, k, n) == 0)
        return (long)h;
    for (size_t i = 0; i < r->ncols; i++)
        if (r->name_len[i] == n && memcmp(r->src->schema[i].name, k, n) == 0) return (long)i;
    return -1;
}

/* One line: 1 = a row, 0 = blank, or TESS_EPARSE / TESS_ENOMEM. */
static int parse_line(jl *j)
{
    tess__reader *r = j->r;
    const char *p = ws(j->ls), *q;
    int fl, rc;
    if (p == j->le) return 0;
    if (*p != '{') return syntax(j, p, "expected an object ('{') at the start of the line");
    memset(r->seen, 0, r->ncols);
    r->hint = 0;
    p = ws(p + 1);
    if (*p == '}') {
        p++;
    } else {
        for (;;) {
            if (*p != '"') return syntax(j, p, "expected a key (a string)");
            if ((rc = scan_str(j, p, &q, &fl)) != TESS_OK) return rc;
            const char *key = p + 1;
            size_t kn = (size_t)(q - key);
            if ((fl & S_ESC) && (rc = str_text(j, p, q, fl, &key, &kn)) != TESS_OK) return rc;
            long sc = find_col(r, key, kn);
            const char *kp = p;
            p = ws(q + 1);
            if (*p != ':') return syntax(j, p, "expected ':' after the key");
            p = ws(p + 1);
            if (sc >= 0) {
                if (r->seen[sc])
                    return plain(j, kp, "key \"%s\" appears twice in the object",
                                 r->src->schema[sc].name);
                r->seen[sc] = 1;
                r->hint = (size_t)sc + 1;
                rc = column_value(j, (size_t)sc, p, &p);
            } else {
                rc = skip_value(j, p, &p);
            }
            if (rc != TESS_OK) return rc;
            p = ws(p);
            if (*p == ',') {
                p = ws(p + 1);
                continue;
            }
            if (*p == '}') {
                p++;
                break;
            }
            return syntax(j, p, "expected ',' or '}'");
        }
    }
    p = ws(p);
    if (p != j->le) return syntax(j, p, "unexpected characters after the object");
    for (size_t c = 0; c < r->ncols; c++)
        if (!r->seen[c]) tess__rd_set_null(r, c);
    return 1;
}

int tess__rd_jsonl_open(tess__reader *r, tess__err *err)
{
    (void)r;
    (void)err;
    return TESS_OK;
}

int tess__rd_jsonl_row(tess__reader *r, tess__err *err)
{
    for (;;) {
        if (r->pos == r->len) {
            if (r->eof) return 0;
            int rc = tess__rd_fill(r, err);
            if (rc != TESS_OK) return rc;
            continue;
        }
        const char *ls = r->buf + r->pos;
        const char *le = memchr(ls, '\n', r->len - r->pos);
        size_t used;
        if (le) {
            used = (size_t)(le - ls) + 1;
        } else if (!r->eof) {
            if (r->len - r->pos >= r->max_row) goto too_long;
            int rc = tess__rd_fill(r, err);
            if (rc != TESS_OK) return rc;
            continue;
        } else {
            le = r->buf + r->len; /* the last line, without a line feed: the sentinel */
            used = (size_t)(le - ls);
        }
        if (used > r->max_row) goto too_long;
        jl j = {r, ls, le, r->line};
        r->pos += used;
        r->line++;
        int rc = parse_line(&j);
        if (rc == 1) return 1;
        if (rc == 0) continue;
        if (rc != TESS_EPARSE) {
            tess__buf_reset(&r->msg);
            return tess__rd_fatal(r, err, rc);
        }
        rc = tess__rd_bad_row(r, err);
        if (rc != TESS_OK) return rc;
    }
too_long:
    tess__rd_msg_at(r, r->line, 0);
    tess__buf_printf(&r->msg, "line longer than the limit of %zu bytes", r->max_row);
    return tess__rd_fatal(r, err, TESS_EPARSE);
}
