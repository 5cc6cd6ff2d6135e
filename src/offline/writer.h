/* writer.h — writing typed values as CSV fields and JSON literals, and output files that appear
 * atomically (a temporary file renamed into place, so that a reader never sees half a file and
 * a failed run leaves what was there before).
 *
 * Text forms (the same everywhere Tessera writes values): int64 in decimal; float64 in the
 * shortest form that reads back to the same double (NaN/inf as nan/inf in CSV, null in JSON);
 * bool as true/false; timestamps as RFC 3339 with Z; null as an empty CSV field or JSON null.
 * In CSV a non-null empty string is written "" so that it stays distinct from null. */
#ifndef TESS_OFFLINE_WRITER_H
#define TESS_OFFLINE_WRITER_H

#include <stddef.h>
#include <stdio.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/value.h"

/* The plain text of a non-null value (no quoting). TESS_OK or TESS_ENOMEM. */
int tess__put_value_text(tess__buf *b, const tess__value *v);
/* One CSV field holding `p` (n bytes), quoted when it must be (delimiter, quote, CR, LF). */
int tess__csv_put_field(tess__buf *b, const char *p, size_t n, char delim);
/* A value as one CSV field (null: empty; empty string: ""). */
int tess__csv_put_value(tess__buf *b, const tess__value *v, char delim);
/* A JSON string literal of p (n bytes, UTF-8), escaped. */
int tess__json_put_string(tess__buf *b, const char *p, size_t n);
/* A value as a JSON literal. */
int tess__json_put_value(tess__buf *b, const tess__value *v);

/* An output file written to `<path>.tmp-<pid>` and renamed over `path` by commit. */
typedef struct tess__outfile {
    char *path, *tmp;
    int fd; /* -1: none (a zeroed outfile has fd 0 and no tmp: nothing to close) */
} tess__outfile;

int tess__outfile_open(tess__outfile *o, const char *path, tess__err *err);
/* Writes b's bytes and empties b. */
int tess__outfile_write(tess__outfile *o, tess__buf *b, tess__err *err);
/* Flushes, fsyncs and renames into place. The outfile is released either way. */
int tess__outfile_commit(tess__outfile *o, tess__err *err);
/* Removes the temporary file. Safe after commit and on a zeroed outfile. */
void tess__outfile_abort(tess__outfile *o);

#endif
