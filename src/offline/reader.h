/* reader.h — typed readers of event files: CSV (RFC 4180) and JSON Lines, by a source's schema.
 *
 * A reader turns one file into batches of typed columns in schema order (batch.h). It checks
 * everything: the header (CSV) names every schema column (any order; extra columns are
 * ignored — decision in docs/offline.md), each value parses as its column's type, every line
 * has the header's field count, quotes are closed, the text is valid UTF-8. A problem is
 * reported as `file:line:col: column "amount": "12,5" is not a float64` (the value quoted,
 * cut after 40 bytes, control characters and invalid UTF-8 escaped). `line` is the line on
 * which the row starts (a quoted CSV field may span lines); `col` is the 1-based field number
 * in CSV and the 1-based byte column of the offending token in JSON Lines; row-level problems
 * (wrong field count, line too long) have no col. Empty CSV fields and JSON null / absent keys
 * are null. Timestamps: the forms of core/time.h; JSON numbers are not timestamps.
 *
 * CSV: a header line is required (a UTF-8 BOM before it is skipped); quoted fields with ""
 * escapes, delimiters, CR and LF inside; LF or CRLF line ends; the last line may lack one;
 * completely empty lines are skipped. Strict: a '"' inside an unquoted field, text after a
 * closing quote, a bare CR outside quotes, a wrong field count make a bad row; an unclosed
 * quote at the end of the file fails the read. A missing schema column or a header name that
 * appears twice is an error naming it (with a "did you mean"). An empty unquoted field is
 * null; an empty quoted field ("") is the empty string for a string column, null otherwise.
 *
 * Values (no surrounding spaces, except inside strings): int64 = [+-]digits, range-checked;
 * float64 = [+-]digits[.digits][e[+-]digits] (also "5." and ".5"), correctly rounded, no
 * inf/nan/hex, out of range is an error (underflow gives 0 or a subnormal); bool = true/false
 * in any case, 1/0; string = any valid UTF-8; timestamp = core/time.h.
 *
 * JSON Lines: one object per line, blank lines skipped, keys = column names (unknown keys
 * ignored, but checked as JSON; a schema key twice is an error). int64 from a number with an
 * integral value (3, 3.0, 1e3; not 3.5, not "3"); float64 from any number; bool from
 * true/false; string from a string (\uXXXX escapes, surrogate pairs; a lone surrogate is an
 * error); timestamp from a string. An object or an array for a column is an error.
 *
 * Limits: one row / line is at most max_row_bytes (16 MiB): longer fails the read.
 *
 * Bad rows: with max_bad_rows = 0 the first bad row fails the read (TESS_EPARSE, nothing of the
 * batch returned); with N > 0, up to N bad rows are skipped and described in `bad` (one line
 * each), and the N+1th fails the read. A failed reader stays failed: every later
 * tess__reader_next returns the same code and message.
 */
#ifndef TESS_OFFLINE_READER_H
#define TESS_OFFLINE_READER_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "defs/defs_model.h"
#include "offline/batch.h"

typedef struct tess__reader tess__reader;

typedef struct tess__reader_opts {
    tess__format format; /* TESS_FORMAT_CSV or TESS_FORMAT_JSONL */
    char delimiter;      /* CSV; 0 means ',' */
    size_t max_bad_rows; /* 0: fail on the first bad row */
    const char *display; /* the file name used in messages (e.g. relative to the repo);
                            NULL: the path */
    /* Tuning, 0 for the defaults; tests set them small to exercise the edges. */
    size_t chunk_size;    /* bytes per read(2); default 4 MiB */
    size_t max_row_bytes; /* longest CSV row / JSON line, terminator included; default 16 MiB */
} tess__reader_opts;

/* The format of a file of rows by its extension: .jsonl and .json are JSON Lines, anything
 * else CSV (labels, outputs, pushed files). */
tess__format tess__format_of_path(const char *path);

/*
 * Opens `path` to read rows of `src`'s schema (a CSV header is read and checked here). On
 * success *out is a reader to close with tess__reader_close; on failure *out is NULL.
 * Errors: TESS_EIO (cannot open/read; err says which file and why), TESS_EPARSE (empty CSV
 * file, CSV header does not match the schema), TESS_EINVAL (no format, a delimiter that is
 * '"', CR, LF or not ASCII, a schema column without a type), TESS_ENOMEM.
 * `src` is borrowed for the life of the reader; `opts` only during the call.
 */
int tess__reader_open(const char *path, const tess__source *src, const tess__reader_opts *opts,
                      tess__reader **out, tess__err *err);

/*
 * Reads the next rows into `b` (which the caller set up with tess__batch_init for the schema's
 * types; it is reset first) — up to b->cap rows. b->seq[i] is set to the row's 0-based index
 * among the file's accepted rows. Returns TESS_OK with b->nrows > 0, TESS_NOTFOUND at the end
 * of the file (again on every later call), or an error (b->nrows = 0): TESS_EPARSE (bad row,
 * err has file:line[:col], the column and the value), TESS_EIO, TESS_ENOMEM, TESS_EINVAL (b
 * does not match the schema; the reader is not failed by it). String values point into
 * b's arena: they live until b is reset or released.
 */
int tess__reader_next(tess__reader *r, tess__batch *b, tess__err *err);

/* Bad rows skipped so far (max_bad_rows > 0): their count, and one message line each, each
 * ending in '\n' (borrowed until the reader is closed; "" if none; past 16 MiB of text
 * further rows are counted, not listed). */
size_t tess__reader_bad_count(const tess__reader *r);
const char *tess__reader_bad_text(const tess__reader *r);

/* Bytes read so far (for progress on a terminal). */
uint64_t tess__reader_bytes(const tess__reader *r);

void tess__reader_close(tess__reader *r);

#endif
