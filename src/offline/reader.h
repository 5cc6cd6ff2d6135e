/* reader.h — typed readers of event files: CSV (RFC 4180) and JSON Lines, by a source's schema.
 *
 * A reader turns one file into batches of typed columns in schema order (batch.h). It checks
 * everything: the header (CSV) names every schema column (any order; extra columns are
 * ignored — decision in docs/offline.md), each value parses as its column's type, every line
 * has the header's field count, quotes are closed, the text is valid UTF-8. A problem is
 * reported as `file:line: column "amount": "12,5" is not a float64` (CSV fields also carry
 * the column number: `file:line:col`). Empty CSV fields and JSON null / absent keys are null.
 * Timestamps: the forms of core/time.h; JSON numbers are not timestamps.
 *
 * Bad rows: with max_bad_rows = 0 the first bad row fails the read (TESS_EPARSE, nothing of the
 * batch returned); with N > 0, up to N bad rows are skipped and described in `bad` (one line
 * each), and the N+1th fails the read.
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
    tess__format format;  /* TESS_FORMAT_CSV or TESS_FORMAT_JSONL */
    char delimiter;       /* CSV; 0 means ',' */
    size_t max_bad_rows;  /* 0: fail on the first bad row */
    const char *display;  /* the file name used in messages (e.g. relative to the repo) */
} tess__reader_opts;

/*
 * Opens `path` to read rows of `src`'s schema. Errors: TESS_EIO (cannot open/read; err says
 * which file and why), TESS_EPARSE (CSV header does not match the schema), TESS_ENOMEM.
 * `src` is borrowed for the life of the reader.
 */
int tess__reader_open(const char *path, const tess__source *src, const tess__reader_opts *opts,
                      tess__reader **out, tess__err *err);

/*
 * Reads the next rows into `b` (which the caller set up with tess__batch_init for the schema's
 * types; it is reset first) — up to b->cap rows. b->seq[i] is set to the row's 0-based index
 * among the file's accepted rows. Returns TESS_OK with b->nrows > 0, TESS_NOTFOUND at the end
 * of the file, or an error: TESS_EPARSE (bad row, err has file:line[:col], the column and the
 * value), TESS_EIO, TESS_ENOMEM.
 */
int tess__reader_next(tess__reader *r, tess__batch *b, tess__err *err);

/* Bad rows skipped so far (max_bad_rows > 0): their count, and one message line each
 * (borrowed until the reader is closed; "" if none). */
size_t tess__reader_bad_count(const tess__reader *r);
const char *tess__reader_bad_text(const tess__reader *r);

/* Bytes read so far (for progress on a terminal). */
uint64_t tess__reader_bytes(const tess__reader *r);

void tess__reader_close(tess__reader *r);

#endif
