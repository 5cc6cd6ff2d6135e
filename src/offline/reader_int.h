/* reader_int.h — what reader.c, csv.c and jsonl.c share (not for other modules).
 *
 * reader.c owns the reader: opening, the read buffer, the bad-row policy, messages and the
 * value parsers (int64, float64, bool, timestamp, UTF-8). csv.c and jsonl.c each turn the
 * bytes of the buffer into rows of the batch being filled.
 *
 * The buffer: the bytes not yet parsed are buf[pos, len); buf[len] is always '\n' (a
 * sentinel, so that scanning loops stop at the end without a bounds check); `line` is the
 * line number of buf[pos]. A parser that reaches len in the middle of a row calls
 * tess__rd_fill, which moves buf[pos, len) to the front and reads more (pointers into the
 * buffer are then stale: the parser starts the row again from pos).
 */
#ifndef TESS_OFFLINE_READER_INT_H
#define TESS_OFFLINE_READER_INT_H

#include <locale.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "offline/reader.h"

#define TESS__RD_CHUNK ((size_t)4 << 20)    /* bytes per read(2) */
#define TESS__RD_MAX_ROW ((size_t)16 << 20) /* longest row (CSV) or line (JSONL) */
#define TESS__RD_MAX_BAD_TEXT ((size_t)16 << 20)
#define TESS__RD_VALUE_SHOWN 40 /* bytes of a bad value quoted in a message */

/* One CSV field of the current row: raw bytes inside the quotes if it was quoted (still with
 * "" escapes when `escaped`). */
typedef struct tess__csv_field {
    const char *p;
    size_t n;
    uint8_t quoted, escaped;
} tess__csv_field;

struct tess__reader {
    const tess__source *src;
    tess__format format;
    char delim;
    size_t max_bad;
    char *display; /* owned copy */
    int fd;

    /* the read buffer (see above); cap bytes + 1 for the sentinel */
    char *buf;
    size_t cap, pos, len;
    bool eof;
    size_t chunk, max_row;
    uint64_t bytes; /* read from the file so far */
    uint64_t line;  /* line number of buf[pos], 1-based */
    int64_t accepted;

    /* the schema */
    size_t ncols;
    tess__type *types;
    size_t *name_len;

    /* the batch being filled by tess__reader_next: its arrays, and the row index */
    void **cdata;
    uint8_t **cnull;
    tess__arena *arena;
    size_t row;

    /* problems */
    size_t nbad;
    tess__buf bad;     /* one line per skipped row */
    bool bad_full;     /* bad text reached its cap: later rows are counted, not listed */
    tess__buf msg;     /* the message being built */
    tess__buf scratch; /* unescaped values */
    int failed;        /* sticky: once a read failed, every later call fails the same way */
    char *failed_msg;

    /* values */
    locale_t c_locale; /* "C", for strtod_l */
    char ts_day[10];   /* the date part of the last YYYY-MM-DDTHH:MM:SSZ timestamp */
    int64_t ts_day_us;
    bool ts_day_ok;

    /* CSV */
    uint8_t cls[256]; /* byte classes for the field scanner */
    size_t nfields;   /* fields of the header, and so of every row */
    long *field_col;  /* header field -> schema column, or -1 */
    tess__csv_field *fields;
    size_t fcap;

    /* JSON Lines */
    uint8_t *seen; /* schema column set on this line */
    size_t hint;   /* the schema column expected for the next key */
};

/* Reads more bytes (see above). TESS_OK (r->eof set at the end of the file), TESS_EIO,
 * TESS_ENOMEM; err is set on failure. Does not enforce max_row: callers do. */
int tess__rd_fill(tess__reader *r, tess__err *err);

/* Starts r->msg with "display:line:col: " ("display:line: " when col is 0). */
void tess__rd_msg_at(tess__reader *r, uint64_t line, size_t col);
/* Appends a value as a double-quoted string, control characters and invalid UTF-8 escaped,
 * cut after TESS__RD_VALUE_SHOWN bytes ("..."). */
void tess__rd_msg_value(tess__buf *b, const char *p, size_t n);
/* "a bool", "an int64", ... */
const char *tess__rd_type_article(tess__type t);

/* The current row is bad (message in r->msg): with room under max_bad_rows it is listed in
 * r->bad and TESS_OK is returned (the caller skips it); otherwise err gets the message, the
 * reader fails for good and TESS_EPARSE is returned. */
int tess__rd_bad_row(tess__reader *r, tess__err *err);
/* A failure that ends the read whatever max_bad_rows says: err gets r->msg (for TESS_EPARSE)
 * or keeps what the caller set; the reader fails for good. Returns rc. */
int tess__rd_fatal(tess__reader *r, tess__err *err, int rc);

/* Value parsers: TESS_OK or TESS_EPARSE with *why (a static explanation, or NULL). */
int tess__rd_parse_i64(const char *s, size_t n, int64_t *out, const char **why);
/* Decimal: [+-]digits[.digits][e[+-]digits] (also "1." and ".5"); json: JSON's number
 * grammar. No inf/nan, no spaces. Correctly rounded; out of range is an error. */
int tess__rd_parse_f64(tess__reader *r, const char *s, size_t n, bool json, double *out,
                       const char **why);
int tess__rd_parse_bool(const char *s, size_t n, bool *out);
/* Timestamps of core/time.h, without surrounding spaces (r: a cache of the last day). */
int tess__rd_parse_ts(tess__reader *r, const char *s, size_t n, int64_t *out, const char **why);
/* Index of the first byte of s that is not valid UTF-8, or n if all of it is. */
size_t tess__rd_utf8_check(const char *s, size_t n);

/* Builds in r->msg `display:line:col: column "name": "value" is not a T[ (why)]`. */
void tess__rd_value_error(tess__reader *r, uint64_t line, size_t col, size_t sc, const char *p,
                          size_t n, const char *why);

/* Sets column sc of the current row to null (its data zeroed). */
void tess__rd_set_null(tess__reader *r, size_t sc);
/* Sets column sc of the current row (not null) from text: CSV fields, JSON strings for
 * timestamps. Strings are checked for UTF-8 and copied into the batch arena. Returns TESS_OK,
 * TESS_EPARSE (message in r->msg; line and col are for it) or TESS_ENOMEM. */
int tess__rd_set_text(tess__reader *r, size_t sc, const char *p, size_t n, uint64_t line,
                      size_t col);

/* Format back ends. _open: after the reader is set up (header for CSV); _row: reads the next
 * accepted row into r->row of the batch: 1 = a row, 0 = end of file, < 0 = failure (err set,
 * reader failed). */
int tess__rd_csv_open(tess__reader *r, tess__err *err);
int tess__rd_csv_row(tess__reader *r, tess__err *err);
int tess__rd_jsonl_open(tess__reader *r, tess__err *err);
int tess__rd_jsonl_row(tess__reader *r, tess__err *err);

#endif
