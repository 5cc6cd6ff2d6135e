/* time.h — timestamps and durations as DESIGN.md's "Time semantics" defines them.
 *
 * A timestamp is int64 microseconds since 1970-01-01T00:00:00Z. Accepted on input:
 *   RFC 3339 / ISO 8601 with `Z` or an offset   2026-03-01T12:30:00.25+01:00
 *   `YYYY-MM-DD HH:MM:SS[.ffffff]` (UTC)         2026-03-01 12:30:00
 *   a plain date (midnight UTC)                   2026-03-01
 * Years 0001..9999; fractions of up to 9 digits, truncated to microseconds. Written as RFC 3339
 * with `Z`, with a fraction only when it is not zero.
 * A duration is an integer and a unit, s m h d w ("90m", "7d"); 0 is allowed. */
#ifndef TESS_CORE_TIME_H
#define TESS_CORE_TIME_H

#include <stddef.h>
#include <stdint.h>

#define TESS_US_PER_S 1000000LL
#define TESS_TS_FORMAT_MAX 40 /* bytes for tess__ts_format, NUL included */

/* Returns TESS_OK or TESS_EPARSE; on failure *why (if not NULL) gets a static explanation. */
int tess__ts_parse(const char *s, size_t n, int64_t *us, const char **why);
/* Writes the RFC 3339 form into buf (>= TESS_TS_FORMAT_MAX bytes); returns its length. */
size_t tess__ts_format(int64_t us, char *buf);

int tess__duration_parse(const char *s, size_t n, int64_t *us, const char **why);
/* The shortest exact form: "7d", "90m", "1w", "0s"; buf >= 32 bytes. Returns its length. */
size_t tess__duration_format(int64_t us, char *buf);

/* floor division for timestamps before 1970 too: floor(a / b), b > 0. */
static inline int64_t tess__floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}
/* floor(t, h): the start of the h-aligned bucket that holds t. */
static inline int64_t tess__floor_to(int64_t t, int64_t h)
{
    return tess__floor_div(t, h) * h;
}

/* Days since 1970-01-01 of a proleptic Gregorian date, and back. */
int64_t tess__days_from_civil(int64_t y, unsigned m, unsigned d);
void tess__civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d);

/* "Now": the TESSERA_NOW environment variable (any accepted timestamp form) if set, otherwise
 * the system clock. Returns TESS_OK, or TESS_EPARSE if TESSERA_NOW does not parse. */
int tess__now(int64_t *us);

#endif
