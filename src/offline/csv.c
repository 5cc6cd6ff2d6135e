/* csv.c — the CSV back end of the reader (RFC 4180, strict).
 *
 * A row is scanned first (scan_row: field boundaries, quotes, the terminator), straight in
 * the read buffer and without copying; then the fields that the schema uses are converted
 * into the batch. A row that is not complete in the buffer is scanned again after more input
 * (tess__rd_fill), so the scanner keeps no state between calls.
 *
 * Syntax: fields separated by the one-byte delimiter; rows end with LF or CRLF (or the end of
 * the file); a field that starts with '"' is quoted: it ends at the next lone '"', "" inside
 * stands for one '"', and delimiters, CR and LF inside are data (a quoted LF does not end the
 * row). Strict: a '"' inside an unquoted field, anything but a delimiter or a line end after a
 * closing quote, and a CR not followed by LF outside quotes make the row bad; an unclosed
 * quote at the end of the file fails the read. Lines that are completely empty are skipped.
 *
 * Messages: `file:line:field: ...` where line is the line on which the row starts and field
 * the 1-based field number; values are named by their header name.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* locale_t in reader_int.h (also set by the Makefile) */
#endif
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/suggest.h"
#include "offline/reader_int.h"
#include "tessera.h"

enum { C_DATA = 0, C_DELIM, C_QUOTE, C_CR, C_LF };

enum {
    SCAN_DONE,         /* a row: fields in r->fields, terminator included in s->end */
    SCAN_BLANK,        /* an empty line (s->end bytes) */
    SCAN_EOF,          /* no more rows */
    SCAN_MORE,         /* the row goes past the bytes read so far */
    SCAN_UNTERMINATED, /* a quote still open at the end of the file */
    SCAN_FULL          /* more fields than r->fcap (header only) */
};

enum { P_NONE, P_QUOTE_INSIDE, P_AFTER_QUOTE, P_STRAY_CR };

typedef struct scan {
    size_t nf;       /* fields in the row (those past r->fcap are counted, not stored) */
    size_t end;      /* bytes of the row, terminator included */
    uint64_t nl;     /* line feeds inside quoted fields */
    int problem;     /* first syntax problem */
    size_t pfield;   /* its field index */
    size_t in_quote; /* SCAN_MORE/SCAN_UNTERMINATED inside a quoted field: its index + 1 */
    uint64_t qline;  /* ... and the line (relative to the row) where it opened */
} scan;

static uint64_t count_lf(const char *p, const char *e)
{
    uint64_t n = 0;
    while ((p = memchr(p, '\n', (size_t)(e - p))) != NULL) {
        n++;
        p++;
    }
    return n;
}

static int scan_row(tess__reader *r, scan *s, bool grow)
{
    const uint8_t *cls = r->cls;
    const char *const row = r->buf + r->pos, *const end = r->buf + r->len;
    const char *p = row;
    const bool eof = r->eof;
    tess__csv_field *fl = r->fields;
    const size_t fcap = r->fcap;
    size_t nf = 0;
    uint64_t nl = 0;

    s->problem = P_NONE;
    s->in_quote = 0;
    if (p == end) return eof ? SCAN_EOF : SCAN_MORE;
    if (*p == '\n') {
        s->end = 1;
        return SCAN_BLANK;
    }
    if (*p == '\r') {
        if (p + 1 == end && !eof) return SCAN_MORE;
        if (p + 1 == end || p[1] == '\n') {
            s->end = (size_t)(p + 1 == end ? 1 : 2);
            return SCAN_BLANK;
        }
    }
    for (;;) {
        const char *vs, *ve;
        uint8_t quoted = 0, escaped = 0;
        if (*p == '"' && p < end) {
            const uint64_t open_nl = nl;
            quoted = 1;
            vs = ++p;
            for (;;) {
                const char *q = memchr(p, '"', (size_t)(end - p));
                if (!q) {
                    s->in_quote = nf + 1;
                    s->qline = open_nl;
                    return eof ? SCAN_UNTERMINATED : SCAN_MORE;
                }
                if (memchr(p, '\n', (size_t)(q - p))) nl += count_lf(p, q);
                if (q + 1 == end && !eof) {
                    s->in_quote = nf + 1;
                    return SCAN_MORE;
                }
                if (q + 1 < end && q[1] == '"') {
                    escaped = 1;
                    p = q + 2;
                    continue;
                }
                ve = q;
                p = q + 1;
                break;
            }
            uint8_t c = cls[(uint8_t)*p];
            if (c == C_QUOTE || c == C_DATA || (c == C_CR && p + 1 < end && p[1] != '\n')) {
                if (!s->problem) {
                    s->problem = P_AFTER_QUOTE;
                    s->pfield = nf;
                }
                goto unquoted_rest;
            }
        } else {
            vs = p;
        unquoted_rest:
            for (;;) {
                while (!cls[(uint8_t)*p])
                    p++;
                uint8_t c = cls[(uint8_t)*p];
                if (c == C_QUOTE) {
                    if (!s->problem) {
                        s->problem = P_QUOTE_INSIDE;
                        s->pfield = nf;
                    }
                    p++;
                    continue;
                }
                if (c == C_CR) {
                    if (p + 1 == end) {
                        if (!eof) return SCAN_MORE;
                        break; /* a final CR: the end of the row */
                    }
                    if (p[1] == '\n') break;
                    if (!s->problem) {
                        s->problem = P_STRAY_CR;
                        s->pfield = nf;
                    }
                    p++;
                    continue;
                }
                break; /* delimiter or LF (or the sentinel at the end) */
            }
            if (!quoted) ve = p;
        }
        if (nf < fcap) {
            fl[nf].p = vs;
            fl[nf].n = (size_t)(ve - vs);
            fl[nf].quoted = quoted;
            fl[nf].escaped = escaped;
        } else if (grow) {
            return SCAN_FULL;
        }
        nf++;
        if (p == end) {
            if (!eof) return SCAN_MORE;
            break;
        }
        if (*p == r->delim) {
            p++;
            continue;
        }
        if (*p == '\n') {
            p++;
            break;
        }
        /* CR: CRLF, or a CR at the end of the file */
        if (p + 1 == end && !eof) return SCAN_MORE;
        p += (p + 1 < end && p[1] == '\n') ? 2 : 1;
        break;
    }
    s->nf = nf;
    s->end = (size_t)(p - row);
    s->nl = nl;
    return SCAN_DONE;
}

/* "" -> " inside a quoted field: into r->scratch. */
static int unescape(tess__reader *r, const tess__csv_field *f, const char **p, size_t *n)
{
    tess__buf_reset(&r->scratch);
    if (tess__buf_append(&r->scratch, f->p, f->n) != TESS_OK) return TESS_ENOMEM;
    char *d = r->scratch.p;
    size_t j = 0;
    for (size_t i = 0; i < f->n; i++) {
        d[j++] = f->p[i];
        if (f->p[i] == '"') i++; /* the second of the pair */
    }
    *p = d;
    *n = j;
    return TESS_OK;
}

/* "column "x": " for a field the schema uses. */
static void msg_field_name(tess__reader *r, size_t f)
{
    if (r->field_col && f < r->nfields && r->field_col[f] >= 0)
        tess__buf_printf(&r->msg, "column \"%s\": ", r->src->schema[r->field_col[f]].name);
}

static void msg_problem(tess__reader *r, const scan *s, uint64_t line)
{
    tess__rd_msg_at(r, line, s->pfield + 1);
    msg_field_name(r, s->pfield);
    switch (s->problem) {
    case P_QUOTE_INSIDE:
        tess__buf_puts(&r->msg, "a '\"' inside an unquoted field (quote the field and double "
                                "its quotes: \"a \"\"b\"\" c\")");
        break;
    case P_AFTER_QUOTE:
        tess__buf_puts(&r->msg, "unexpected characters after the closing quote of a field "
                                "(expected a delimiter or the end of the line)");
        break;
    default:
        tess__buf_puts(&r->msg, "a carriage return (CR) outside quotes that does not end "
                                "the line");
        break;
    }
}

/* Row too long, or an unclosed quote at the end of the file: the read fails. */
static int scan_failure(tess__reader *r, const scan *s, int what, tess__err *err)
{
    if (what == SCAN_UNTERMINATED) {
        tess__rd_msg_at(r, r->line + s->qline, s->in_quote);
        msg_field_name(r, s->in_quote - 1);
        tess__buf_puts(&r->msg, "unterminated quoted field: no closing '\"' before the end of "
                                "the file");
    } else {
        tess__rd_msg_at(r, r->line, 0);
        tess__buf_printf(&r->msg, "row longer than the limit of %zu bytes", r->max_row);
        if (s->in_quote)
            tess__buf_printf(&r->msg, " (field %zu opens a quote that is never closed?)",
                             s->in_quote);
    }
    return tess__rd_fatal(r, err, TESS_EPARSE);
}

/* Scans the next row, reading more input as needed. Returns a SCAN_ code, or < 0 on failure
 * (err set, reader failed). */
static int next_scan(tess__reader *r, scan *s, bool grow, tess__err *err)
{
    for (;;) {
        int what = scan_row(r, s, grow);
        switch (what) {
        case SCAN_MORE: {
            if (r->len - r->pos >= r->max_row) return scan_failure(r, s, what, err);
            int rc = tess__rd_fill(r, err);
            if (rc != TESS_OK) return rc;
            continue;
        }
        case SCAN_BLANK:
            r->pos += s->end;
            r->line++;
            continue;
        case SCAN_UNTERMINATED:
            /* a row past the cap is "too long" whatever the chunk size showed of it */
            if (r->len - r->pos > r->max_row) return scan_failure(r, s, SCAN_MORE, err);
            return scan_failure(r, s, what, err);
        case SCAN_DONE:
            if (s->end > r->max_row) return scan_failure(r, s, SCAN_MORE, err);
            return what;
        default:
            return what; /* SCAN_EOF, SCAN_FULL */
        }
    }
}

typedef struct hname {
    const char *p;
    size_t n;
    size_t field;
} hname;

static int hname_cmp(const void *a, const void *b)
{
    const hname *x = a, *y = b;
    size_t n = x->n < y->n ? x->n : y->n;
    int c = memcmp(x->p, y->p, n);
    if (c) return c;
    if (x->n != y->n) return x->n < y->n ? -1 : 1;
    return x->field < y->field ? -1 : x->field > y->field;
}


/* The header field closest to a missing column name, or NULL. */
static const hname *suggest(const hname *h, size_t nh, const char *w, size_t wn)
{
    const hname *best = NULL;
    size_t best_d = (size_t)-1;
    size_t limit = wn <= 3 ? 1 : wn <= 6 ? 2 : 3;
    if (wn == 0 || wn > 64) return NULL;
    for (size_t i = 0; i < nh; i++) {
        if (h[i].n == 0 || h[i].n > 64) continue;
        size_t d = (size_t)tess__edit_distance(w, wn, h[i].p, h[i].n, TESS_EDIT_MAXLEN, true);
        if (d <= limit && d < wn && d < h[i].n && d < best_d) {
            best_d = d;
            best = &h[i];
        }
    }
    return best;
}

static const char *names_list(tess__reader *r, tess__buf *b)
{
    for (size_t i = 0; i < r->ncols; i++)
        tess__buf_printf(b, "%s%s", i ? ", " : "", r->src->schema[i].name);
    return b->p ? b->p : "";
}

int tess__rd_csv_open(tess__reader *r, tess__err *err)
{
    int rc = TESS_OK;
    hname *h = NULL;
    char *names = NULL; /* unescaped header names, back to back */
    scan s;

    r->cls[(uint8_t)r->delim] = C_DELIM;
    r->cls['"'] = C_QUOTE;
    r->cls['\r'] = C_CR;
    r->cls['\n'] = C_LF;
    r->fcap = 16;
    r->fields = tess__malloc(r->fcap * sizeof(*r->fields));
    if (!r->fields) return tess__rd_fatal(r, err, TESS_ENOMEM);
    for (;;) {
        int what = next_scan(r, &s, true, err);
        if (what < 0) return what;
        if (what == SCAN_FULL) {
            size_t ncap = r->fcap * 2;
            tess__csv_field *nf = tess__realloc(r->fields, ncap * sizeof(*nf));
            if (!nf) return tess__rd_fatal(r, err, TESS_ENOMEM);
            r->fields = nf;
            r->fcap = ncap;
            continue;
        }
        if (what == SCAN_EOF) {
            tess__buf_reset(&r->msg);
            tess__buf_printf(&r->msg, "%s: empty file: expected a header line with the columns ",
                             r->display);
            names_list(r, &r->msg);
            return tess__rd_fatal(r, err, TESS_EPARSE);
        }
        break;
    }
    uint64_t hline = r->line;
    if (s.problem) {
        msg_problem(r, &s, hline);
        tess__buf_puts(&r->msg, " in the header");
        return tess__rd_fatal(r, err, TESS_EPARSE);
    }
    r->nfields = s.nf;
    r->field_col = tess__malloc(s.nf * sizeof(long) + 1);
    h = tess__malloc(s.nf * sizeof(*h) + 1);
    size_t total = 0;
    for (size_t f = 0; f < s.nf; f++)
        total += r->fields[f].n;
    names = tess__malloc(total + 1);
    if (!r->field_col || !h || !names) {
        rc = tess__rd_fatal(r, err, TESS_ENOMEM);
        goto out;
    }
    size_t off = 0;
    for (size_t f = 0; f < s.nf; f++) {
        const tess__csv_field *x = &r->fields[f];
        size_t n = 0;
        for (size_t i = 0; i < x->n; i++) {
            names[off + n++] = x->p[i];
            if (x->escaped && x->p[i] == '"') i++;
        }
        size_t at = tess__rd_utf8_check(names + off, n);
        if (at < n) {
            tess__rd_msg_at(r, hline, f + 1);
            tess__buf_printf(&r->msg, "invalid UTF-8 in the header (byte 0x%02x): ",
                             (unsigned char)names[off + at]);
            tess__rd_msg_value(&r->msg, names + off, n);
            rc = tess__rd_fatal(r, err, TESS_EPARSE);
            goto out;
        }
        h[f] = (hname){names + off, n, f};
        r->field_col[f] = -1;
        off += n;
    }
    qsort(h, s.nf, sizeof(*h), hname_cmp);
    tess__buf_reset(&r->msg);
    int problems = 0;
    for (size_t i = 1; i < s.nf; i++) {
        if (h[i].n == h[i - 1].n && memcmp(h[i].p, h[i - 1].p, h[i].n) == 0 &&
            (i < 2 || h[i - 1].n != h[i - 2].n || memcmp(h[i - 1].p, h[i - 2].p, h[i].n) != 0)) {
            if (problems++) tess__buf_putc(&r->msg, '\n');
            tess__buf_printf(&r->msg, "%s:%llu:%zu: column ", r->display, (unsigned long long)hline,
                             h[i].field + 1);
            tess__rd_msg_value(&r->msg, h[i].p, h[i].n);
            tess__buf_printf(&r->msg, " appears twice in the header (fields %zu and %zu)",
                             h[i - 1].field + 1, h[i].field + 1);
        }
    }
    for (size_t c = 0; c < r->ncols; c++) {
        hname key = {r->src->schema[c].name, r->name_len[c], 0};
        size_t lo = 0, hi = s.nf;
        while (lo < hi) { /* the first entry with this name */
            size_t mid = (lo + hi) / 2;
            if (hname_cmp(&h[mid], &key) < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo < s.nf && h[lo].n == key.n && memcmp(h[lo].p, key.p, key.n) == 0) {
            r->field_col[h[lo].field] = (long)c;
            continue;
        }
        if (problems++) tess__buf_putc(&r->msg, '\n');
        tess__buf_printf(&r->msg, "%s:%llu: missing column \"%s\" in the header", r->display,
                         (unsigned long long)hline, key.p);
        const hname *best = suggest(h, s.nf, key.p, key.n);
        if (best) {
            tess__buf_puts(&r->msg, "; did you mean ");
            tess__rd_msg_value(&r->msg, best->p, best->n);
            tess__buf_puts(&r->msg, "?");
        }
    }
    if (problems) {
        rc = tess__rd_fatal(r, err, TESS_EPARSE);
        goto out;
    }
    r->pos += s.end;
    r->line += 1 + s.nl;
    /* rows keep only the header's fields; one more slot would not help */
    if (r->fcap > s.nf && s.nf > 0) r->fcap = s.nf;
out:
    tess__free(h);
    tess__free(names);
    return rc;
}

int tess__rd_csv_row(tess__reader *r, tess__err *err)
{
    scan s;
    for (;;) {
        int what = next_scan(r, &s, false, err);
        if (what < 0) return what;
        if (what == SCAN_EOF) return 0;
        const uint64_t line = r->line;
        r->pos += s.end;
        r->line += 1 + s.nl;
        int rc = TESS_OK;
        if (s.problem) {
            msg_problem(r, &s, line);
            goto bad;
        }
        if (s.nf != r->nfields) {
            tess__rd_msg_at(r, line, 0);
            tess__buf_printf(&r->msg, "expected %zu field%s as in the header, got %zu", r->nfields,
                             r->nfields == 1 ? "" : "s", s.nf);
            goto bad;
        }
        for (size_t f = 0; f < s.nf; f++) {
            long sc = r->field_col[f];
            if (sc < 0) continue;
            const tess__csv_field *x = &r->fields[f];
            const char *p = x->p;
            size_t n = x->n;
            if (n == 0 && (!x->quoted || r->types[sc] != TESS_T_STRING)) {
                tess__rd_set_null(r, (size_t)sc);
                continue;
            }
            if (x->escaped && unescape(r, x, &p, &n) != TESS_OK) {
                rc = TESS_ENOMEM;
                break;
            }
            rc = tess__rd_set_text(r, (size_t)sc, p, n, line, f + 1);
            if (rc != TESS_OK) break;
        }
        if (rc == TESS_OK) return 1;
        if (rc != TESS_EPARSE) {
            tess__buf_reset(&r->msg);
            return tess__rd_fatal(r, err, rc);
        }
    bad:
        rc = tess__rd_bad_row(r, err);
        if (rc != TESS_OK) return rc;
    }
}
