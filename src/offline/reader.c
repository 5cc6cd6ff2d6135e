/* reader.c — typed readers of event files (reader.h): the reader handle, buffered input, the
 * bad-row policy, messages, and the value parsers shared by the CSV (csv.c) and JSON Lines
 * (jsonl.c) back ends.
 *
 * Input is read with read(2) in big chunks (4 MiB) into one buffer; a row that spans two
 * chunks is completed by moving its start to the front of the buffer and reading more, so
 * the buffer holds at most one chunk plus one row (rows are capped at 16 MiB). Values are
 * parsed straight from the buffer; only strings are copied, once, into the batch's arena.
 *
 * States: open (rows to read) -> end of file (next returns TESS_NOTFOUND, again and again), or
 * -> failed (a bad row beyond max_bad_rows, an I/O error, out of memory: every later next
 * returns the same code and message). A bad row under max_bad_rows is skipped, counted and
 * listed, and the read goes on.
 *
 * Value rules: reader.h. float64 is correctly rounded: Clinger's fast path (at most 19
 * significant digits, mantissa <= 2^53, |exponent| <= 22: one exact IEEE operation), else
 * strtod_l in the C locale (never the process's locale). Timestamps of the common form
 * YYYY-MM-DDTHH:MM:SSZ keep the last day parsed, the rest goes to tess__ts_parse.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* strtod_l, newlocale (also set by the Makefile) */
#endif
#include "offline/reader.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/time.h"
#include "offline/reader_int.h"
#include "tessera.h"

/* ---- messages ----------------------------------------------------------------------------- */

void tess__rd_msg_at(tess__reader *r, uint64_t line, size_t col)
{
    tess__buf_reset(&r->msg);
    if (col)
        tess__buf_printf(&r->msg, "%s:%llu:%zu: ", r->display, (unsigned long long)line, col);
    else
        tess__buf_printf(&r->msg, "%s:%llu: ", r->display, (unsigned long long)line);
}

/* Length of the valid UTF-8 sequence at s[0] (2..4), or 0 if it is not one. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t k;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) {
        k = 1;
        cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
        k = 2;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        k = 3;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n <= k) return 0;
    for (size_t j = 1; j <= k; j++) {
        if ((s[j] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[j] & 0x3F);
    }
    if (k == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) return 0;
    if (k == 3 && (cp < 0x10000 || cp > 0x10FFFF)) return 0;
    return k + 1;
}

size_t tess__rd_utf8_check(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        while (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, p + i, 8);
            if (w & 0x8080808080808080ULL) break;
            i += 8;
        }
        while (i < n && p[i] < 0x80)
            i++;
        if (i >= n) break;
        size_t k = utf8_seq(p + i, n - i);
        if (!k) return i;
        i += k;
    }
    return n;
}

void tess__rd_msg_value(tess__buf *b, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    char tmp[8];
    size_t i = 0;
    tess__buf_putc(b, '"');
    while (i < n) {
        unsigned c = p[i];
        size_t k = 1;
        if (c >= 0x80) {
            k = utf8_seq(p + i, n - i);
            if (!k) k = 1;
        }
        if (i + k > TESS__RD_VALUE_SHOWN) {
            tess__buf_puts(b, "...");
            break;
        }
        if (c == '"' || c == '\\') {
            tmp[0] = '\\';
            tmp[1] = (char)c;
            tess__buf_append(b, tmp, 2);
        } else if (c == '\n') {
            tess__buf_puts(b, "\\n");
        } else if (c == '\r') {
            tess__buf_puts(b, "\\r");
        } else if (c == '\t') {
            tess__buf_puts(b, "\\t");
        } else if (c < 0x20 || c == 0x7F || (c >= 0x80 && k == 1)) {
            snprintf(tmp, sizeof tmp, "\\x%02x", c);
            tess__buf_puts(b, tmp);
        } else {
            tess__buf_append(b, p + i, k);
        }
        i += k;
    }
    tess__buf_putc(b, '"');
}

const char *tess__rd_type_article(tess__type t)
{
    switch (t) {
    case TESS_T_BOOL:
        return "a bool";
    case TESS_T_INT64:
        return "an int64";
    case TESS_T_FLOAT64:
        return "a float64";
    case TESS_T_STRING:
        return "a string";
    case TESS_T_TIMESTAMP:
        return "a timestamp";
    default:
        return "a null";
    }
}

void tess__rd_value_error(tess__reader *r, uint64_t line, size_t col, size_t sc, const char *p,
                          size_t n, const char *why)
{
    tess__rd_msg_at(r, line, col);
    tess__buf_printf(&r->msg, "column \"%s\": ", r->src->schema[sc].name);
    tess__rd_msg_value(&r->msg, p, n);
    tess__buf_printf(&r->msg, " is not %s", tess__rd_type_article(r->types[sc]));
    if (why) tess__buf_printf(&r->msg, " (%s)", why);
}

/* ---- failure and bad rows ----------------------------------------------------------------- */

int tess__rd_fatal(tess__reader *r, tess__err *err, int rc)
{
    if (rc == TESS_ENOMEM && r->msg.len == 0) tess__buf_puts(&r->msg, "out of memory");
    r->failed = rc;
    tess__free(r->failed_msg);
    r->failed_msg = tess__strndup(r->msg.p ? r->msg.p : "", r->msg.len);
    if (err) tess__err_set(err, rc, "%s", r->msg.p ? r->msg.p : "out of memory");
    return rc;
}

int tess__rd_bad_row(tess__reader *r, tess__err *err)
{
    if (r->nbad < r->max_bad) {
        r->nbad++;
        if (r->bad_full) return TESS_OK;
        if (r->bad.len + r->msg.len + 1 > TESS__RD_MAX_BAD_TEXT) {
            r->bad_full = true;
            tess__buf_puts(&r->bad, "(more bad rows were skipped: counted, not listed)\n");
            return TESS_OK;
        }
        if (tess__buf_append(&r->bad, r->msg.p, r->msg.len) != TESS_OK ||
            tess__buf_putc(&r->bad, '\n') != TESS_OK) {
            tess__buf_reset(&r->msg);
            return tess__rd_fatal(r, err, TESS_ENOMEM);
        }
        return TESS_OK;
    }
    if (r->max_bad > 0)
        tess__buf_printf(&r->msg, " (too many bad rows: %zu skipped, max_bad_rows is %zu)", r->nbad,
                         r->max_bad);
    return tess__rd_fatal(r, err, TESS_EPARSE);
}

/* ---- input -------------------------------------------------------------------------------- */

int tess__rd_fill(tess__reader *r, tess__err *err)
{
    if (r->eof) return TESS_OK;
    size_t rem = r->len - r->pos;
    if (r->pos > 0) {
        memmove(r->buf, r->buf + r->pos, rem);
        r->pos = 0;
        r->len = rem;
    }
    if (!r->buf || r->cap - rem < r->chunk) {
        size_t ncap = rem + r->chunk;
        char *nb = tess__realloc(r->buf, ncap + 1);
        if (!nb) {
            tess__buf_reset(&r->msg);
            return tess__rd_fatal(r, err, TESS_ENOMEM);
        }
        r->buf = nb;
        r->cap = ncap;
    }
    size_t got = 0;
    while (got < r->chunk) {
        ssize_t k = read(r->fd, r->buf + r->len, r->chunk - got);
        if (k < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            r->buf[r->len] = '\n';
            tess__buf_reset(&r->msg);
            tess__buf_printf(&r->msg, "%s: cannot read: %s", r->display, strerror(e));
            return tess__rd_fatal(r, err, TESS_EIO);
        }
        if (k == 0) {
            r->eof = true;
            break;
        }
        r->len += (size_t)k;
        got += (size_t)k;
        r->bytes += (uint64_t)k;
    }
    r->buf[r->len] = '\n';
    return TESS_OK;
}

/* ---- values ------------------------------------------------------------------------------- */

int tess__rd_parse_i64(const char *s, size_t n, int64_t *out, const char **why)
{
    size_t i = 0;
    bool neg = false;
    *why = NULL;
    if (n > 0 && (s[0] == '+' || s[0] == '-')) {
        neg = s[0] == '-';
        i = 1;
    }
    if (i == n) return TESS_EPARSE;
    while (i + 1 < n && s[i] == '0')
        i++;
    if (n - i > 19) {
        for (size_t j = i; j < n; j++)
            if ((unsigned)(s[j] - '0') > 9) return TESS_EPARSE;
        *why = "out of range";
        return TESS_EPARSE;
    }
    uint64_t v = 0;
    for (; i < n; i++) {
        unsigned d = (unsigned)(unsigned char)s[i] - '0';
        if (d > 9) return TESS_EPARSE;
        v = v * 10 + d;
    }
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

static const double pow10_exact[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                     1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                     1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

int tess__rd_parse_f64(tess__reader *r, const char *s, size_t n, bool json, double *out,
                       const char **why)
{
    size_t i = 0;
    bool neg = false, trunc = false;
    uint64_t m = 0;
    int nd = 0;
    int64_t e10 = 0;
    *why = NULL;
    if (i < n && (s[i] == '-' || (!json && s[i] == '+'))) {
        neg = s[i] == '-';
        i++;
    }
    size_t int_start = i;
    for (; i < n && (unsigned)(s[i] - '0') <= 9; i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (m == 0 && d == 0) continue;
        if (nd < 19) {
            m = m * 10 + d;
            nd++;
        } else {
            e10++;
            trunc |= d != 0;
        }
    }
    size_t int_digits = i - int_start, frac_digits = 0;
    if (json && (int_digits == 0 || (int_digits > 1 && s[int_start] == '0'))) return TESS_EPARSE;
    if (i < n && s[i] == '.') {
        size_t fs = ++i;
        for (; i < n && (unsigned)(s[i] - '0') <= 9; i++) {
            unsigned d = (unsigned)(s[i] - '0');
            if (m == 0 && d == 0) {
                e10--;
            } else if (nd < 19) {
                m = m * 10 + d;
                nd++;
                e10--;
            } else {
                trunc |= d != 0;
            }
        }
        frac_digits = i - fs;
        if (json && frac_digits == 0) return TESS_EPARSE;
    }
    if (int_digits + frac_digits == 0) return TESS_EPARSE;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        int esign = 1;
        if (i < n && (s[i] == '+' || s[i] == '-')) esign = s[i++] == '-' ? -1 : 1;
        size_t es = i;
        int64_t ev = 0;
        for (; i < n && (unsigned)(s[i] - '0') <= 9; i++)
            if (ev < 1000000) ev = ev * 10 + (s[i] - '0');
        if (i == es) return TESS_EPARSE;
        e10 += esign * ev;
    }
    if (i != n) return TESS_EPARSE;
    if (m == 0) {
        *out = neg ? -0.0 : 0.0;
        return TESS_OK;
    }
    if (!trunc && m <= (1ULL << 53) && e10 >= -22 && e10 <= 22) {
        double d = (double)m;
        d = e10 < 0 ? d / pow10_exact[-e10] : d * pow10_exact[e10];
        *out = neg ? -d : d;
        return TESS_OK;
    }
    /* the slow path: strtod in the C locale on a NUL-terminated copy */
    char small[64];
    char *z = small;
    if (n >= sizeof small) {
        z = tess__strndup(s, n);
        if (!z) {
            *why = "out of memory";
            return TESS_ENOMEM;
        }
    } else {
        memcpy(small, s, n);
        small[n] = '\0';
    }
    double d = strtod_l(z, NULL, r->c_locale);
    if (z != small) tess__free(z);
    if (isinf(d)) {
        *why = "out of range";
        return TESS_EPARSE;
    }
    *out = d;
    return TESS_OK;
}

int tess__rd_parse_bool(const char *s, size_t n, bool *out)
{
    /* ASCII case folding by | 0x20 (the letters of true/false only) */
    if (n == 1 && (s[0] == '1' || s[0] == '0')) {
        *out = s[0] == '1';
        return TESS_OK;
    }
    if (n == 4 && (s[0] | 0x20) == 't' && (s[1] | 0x20) == 'r' && (s[2] | 0x20) == 'u' &&
        (s[3] | 0x20) == 'e') {
        *out = true;
        return TESS_OK;
    }
    if (n == 5 && (s[0] | 0x20) == 'f' && (s[1] | 0x20) == 'a' && (s[2] | 0x20) == 'l' &&
        (s[3] | 0x20) == 's' && (s[4] | 0x20) == 'e') {
        *out = false;
        return TESS_OK;
    }
    return TESS_EPARSE;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t';
}

static int two_digits(const char *s)
{
    unsigned a = (unsigned)(s[0] - '0'), b = (unsigned)(s[1] - '0');
    return a <= 9 && b <= 9 ? (int)(a * 10 + b) : -1;
}

int tess__rd_parse_ts(tess__reader *r, const char *s, size_t n, int64_t *out, const char **why)
{
    /* The common form YYYY-MM-DDTHH:MM:SSZ: the date part is parsed by tess__ts_parse and
     * remembered (consecutive events mostly share their day); the time of day here, with the
     * same checks. Anything else, or any doubt, takes the general path. */
    if (n == 20 && s[10] == 'T' && s[13] == ':' && s[16] == ':' && s[19] == 'Z') {
        int hh = two_digits(s + 11), mi = two_digits(s + 14), ss = two_digits(s + 17);
        if (hh >= 0 && hh <= 23 && mi >= 0 && mi <= 59 && ss >= 0 && ss <= 59) {
            int64_t day;
            if (r->ts_day_ok && memcmp(s, r->ts_day, 10) == 0) {
                day = r->ts_day_us;
            } else if (tess__ts_parse(s, 10, &day, NULL) == TESS_OK && !is_space(s[0])) {
                memcpy(r->ts_day, s, 10);
                r->ts_day_us = day;
                r->ts_day_ok = true;
            } else {
                goto general;
            }
            *out = day + ((int64_t)hh * 3600 + mi * 60 + ss) * TESS_US_PER_S;
            return TESS_OK;
        }
    }
general:
    if (n > 0 && (is_space(s[0]) || is_space(s[n - 1]))) {
        *why = "spaces around it";
        return TESS_EPARSE;
    }
    return tess__ts_parse(s, n, out, why);
}

void tess__rd_set_null(tess__reader *r, size_t sc)
{
    size_t row = r->row;
    r->cnull[sc][row] = 1;
    switch (r->types[sc]) {
    case TESS_T_BOOL:
        ((uint8_t *)r->cdata[sc])[row] = 0;
        break;
    case TESS_T_STRING:
        ((tess__str *)r->cdata[sc])[row] = (tess__str){"", 0};
        break;
    default:
        ((int64_t *)r->cdata[sc])[row] = 0;
        break;
    }
}

int tess__rd_set_text(tess__reader *r, size_t sc, const char *p, size_t n, uint64_t line,
                      size_t col)
{
    const char *why = NULL;
    size_t row = r->row;
    int rc;
    switch (r->types[sc]) {
    case TESS_T_INT64:
        if (tess__rd_parse_i64(p, n, &((int64_t *)r->cdata[sc])[row], &why) != TESS_OK) goto bad;
        break;
    case TESS_T_FLOAT64:
        rc = tess__rd_parse_f64(r, p, n, false, &((double *)r->cdata[sc])[row], &why);
        if (rc == TESS_ENOMEM) return rc;
        if (rc != TESS_OK) goto bad;
        break;
    case TESS_T_TIMESTAMP:
        if (tess__rd_parse_ts(r, p, n, &((int64_t *)r->cdata[sc])[row], &why) != TESS_OK) goto bad;
        break;
    case TESS_T_BOOL: {
        bool v;
        if (tess__rd_parse_bool(p, n, &v) != TESS_OK) goto bad;
        ((uint8_t *)r->cdata[sc])[row] = v;
        break;
    }
    case TESS_T_STRING: {
        size_t at = tess__rd_utf8_check(p, n);
        if (at < n) {
            tess__rd_msg_at(r, line, col);
            tess__buf_printf(&r->msg,
                             "column \"%s\": invalid UTF-8 (byte 0x%02x at offset %zu of the "
                             "value): ",
                             r->src->schema[sc].name, (unsigned char)p[at], at);
            tess__rd_msg_value(&r->msg, p, n);
            return TESS_EPARSE;
        }
        char *d = "";
        if (n) {
            d = tess__arena_alloc(r->arena, n);
            if (!d) return TESS_ENOMEM;
            memcpy(d, p, n);
        }
        ((tess__str *)r->cdata[sc])[row] = (tess__str){d, n};
        break;
    }
    default:
        return TESS_EINVAL;
    }
    r->cnull[sc][row] = 0;
    return TESS_OK;
bad:
    tess__rd_value_error(r, line, col, sc, p, n, why);
    return TESS_EPARSE;
}

/* ---- the handle --------------------------------------------------------------------------- */

tess__format tess__format_of_path(const char *path)
{
    size_t n = strlen(path);
    if ((n >= 6 && strcmp(path + n - 6, ".jsonl") == 0) ||
        (n >= 5 && strcmp(path + n - 5, ".json") == 0))
        return TESS_FORMAT_JSONL;
    return TESS_FORMAT_CSV;
}

int tess__reader_open(const char *path, const tess__source *src, const tess__reader_opts *opts,
                      tess__reader **out, tess__err *err)
{
    tess__reader *r = NULL;
    int rc = TESS_OK;
    *out = NULL;
    if (!path || !src || !opts ||
        (opts->format != TESS_FORMAT_CSV && opts->format != TESS_FORMAT_JSONL)) {
        if (err) tess__err_set(err, TESS_EINVAL, "reader: bad arguments");
        return TESS_EINVAL;
    }
    char delim = opts->delimiter ? opts->delimiter : ',';
    if (opts->format == TESS_FORMAT_CSV &&
        (delim == '"' || delim == '\n' || delim == '\r' || (unsigned char)delim >= 0x80)) {
        if (err)
            tess__err_set(err, TESS_EINVAL, "reader: invalid CSV delimiter 0x%02x",
                          (unsigned char)delim);
        return TESS_EINVAL;
    }
    for (size_t i = 0; i < src->nschema; i++) {
        tess__type t = src->schema[i].type;
        if (t <= TESS_T_NULL || t >= TESS_T__COUNT || !src->schema[i].name) {
            if (err) tess__err_set(err, TESS_EINVAL, "reader: schema column %zu has no type", i);
            return TESS_EINVAL;
        }
    }
    r = tess__calloc(1, sizeof(*r));
    if (!r) goto nomem;
    r->fd = -1;
    r->src = src;
    r->format = opts->format;
    r->delim = delim;
    r->max_bad = opts->max_bad_rows;
    r->chunk = opts->chunk_size ? opts->chunk_size : TESS__RD_CHUNK;
    r->max_row = opts->max_row_bytes ? opts->max_row_bytes : TESS__RD_MAX_ROW;
    r->line = 1;
    r->ncols = src->nschema;
    r->display = tess__strdup(opts->display ? opts->display : path);
    r->c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
    size_t nc = r->ncols ? r->ncols : 1;
    r->types = tess__calloc(nc, sizeof(*r->types));
    r->name_len = tess__calloc(nc, sizeof(*r->name_len));
    r->cdata = tess__calloc(nc, sizeof(*r->cdata));
    r->cnull = tess__calloc(nc, sizeof(*r->cnull));
    r->seen = tess__calloc(nc, 1);
    if (!r->display || !r->c_locale || !r->types || !r->name_len || !r->cdata || !r->cnull ||
        !r->seen)
        goto nomem;
    for (size_t i = 0; i < r->ncols; i++) {
        r->types[i] = src->schema[i].type;
        r->name_len[i] = strlen(src->schema[i].name);
    }
    r->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (r->fd < 0) {
        int e = errno;
        if (err) tess__err_set(err, TESS_EIO, "%s: cannot open: %s", r->display, strerror(e));
        rc = TESS_EIO;
        goto fail;
    }
#ifdef POSIX_FADV_SEQUENTIAL
    (void)posix_fadvise(r->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
#endif
    /* enough bytes to see a byte-order mark */
    while (!r->eof && r->len < 3) {
        if ((rc = tess__rd_fill(r, err)) != TESS_OK) goto fail;
    }
    if (r->len >= 3 && memcmp(r->buf, "\xEF\xBB\xBF", 3) == 0) r->pos = 3;
    rc = r->format == TESS_FORMAT_CSV ? tess__rd_csv_open(r, err) : tess__rd_jsonl_open(r, err);
    if (rc != TESS_OK) goto fail;
    *out = r;
    return TESS_OK;
nomem:
    rc = TESS_ENOMEM;
    if (err) tess__err_set(err, rc, "out of memory");
fail:
    tess__reader_close(r);
    return rc;
}

int tess__reader_next(tess__reader *r, tess__batch *b, tess__err *err)
{
    if (r->failed) {
        b->nrows = 0;
        if (err) tess__err_set(err, r->failed, "%s", r->failed_msg ? r->failed_msg : "");
        return r->failed;
    }
    bool ok = b->ncols == r->ncols && b->cap > 0 && (b->cols || r->ncols == 0);
    for (size_t i = 0; ok && i < r->ncols; i++)
        ok = b->cols[i].type == r->types[i] && b->cols[i].data && b->cols[i].nulls;
    if (!ok) {
        if (err)
            tess__err_set(err, TESS_EINVAL,
                          "reader: the batch does not match the schema of source \"%s\"",
                          r->src->name ? r->src->name : "");
        return TESS_EINVAL;
    }
    tess__batch_reset(b);
    for (size_t i = 0; i < r->ncols; i++) {
        r->cdata[i] = b->cols[i].data;
        r->cnull[i] = b->cols[i].nulls;
    }
    r->arena = &b->arena;
    int (*row_fn)(tess__reader *, tess__err *) =
        r->format == TESS_FORMAT_CSV ? tess__rd_csv_row : tess__rd_jsonl_row;
    while (b->nrows < b->cap) {
        r->row = b->nrows;
        int rc = row_fn(r, err);
        if (rc == 0) break;
        if (rc < 0) {
            tess__batch_reset(b);
            return rc;
        }
        if (b->seq) b->seq[b->nrows] = r->accepted;
        r->accepted++;
        b->nrows++;
    }
    return b->nrows ? TESS_OK : TESS_NOTFOUND;
}

size_t tess__reader_bad_count(const tess__reader *r)
{
    return r->nbad;
}

const char *tess__reader_bad_text(const tess__reader *r)
{
    return r->bad.p ? r->bad.p : "";
}

uint64_t tess__reader_bytes(const tess__reader *r)
{
    return r->bytes;
}

void tess__reader_close(tess__reader *r)
{
    if (!r) return;
    if (r->fd >= 0) close(r->fd);
    if (r->c_locale) freelocale(r->c_locale);
    tess__free(r->display);
    tess__free(r->buf);
    tess__free(r->types);
    tess__free(r->name_len);
    tess__free(r->cdata);
    tess__free(r->cnull);
    tess__free(r->seen);
    tess__free(r->field_col);
    tess__free(r->fields);
    tess__free(r->failed_msg);
    tess__buf_release(&r->bad);
    tess__buf_release(&r->msg);
    tess__buf_release(&r->scratch);
    tess__free(r);
}
