/* record.h — the online store's records: everything the online store keeps for one (feature
 * view, entity), as one or two values of the back end (kv.h). docs/online.md has the design.
 *
 *   head key     'v' view-name '#' gg '\0' encoded-entity-key (tess__evkey_encode of the
 *                view's join keys, the event store's order-preserving encoding; gg the
 *                entity's slot group, XXH3-64 of the encoded key & 255 as two lowercase hex
 *                digits: oview.h tess__oview_group_of; 00 for all when the back end asks for
 *                one group), so one view's heads share the prefix
 *                'v' view-name '#', and a Redis Cluster's hash tag (the bytes after the first,
 *                up to the NUL: view-name#gg) keeps an entity on one node and spreads a view
 *                over all of them;
 *   history key  'h' view-name '#' gg '\0' encoded-entity-key (the head's group);
 *   meta key     'm' view-name '#' gg: the account of group gg (meta.h);
 *   value        the record below, encoded little-endian with a trailing XXH3-64 checksum: a
 *                damaged record is reported (TESS_EIO), never read as data.
 *
 * The head is what reads and pushes in the current hop bucket touch: the latest row, the
 * rollups, the tiles from the write's hop bucket on, the future rows, and the checksum of the
 * history record it was written with. The history holds the older tiles (only the tiles; it is
 * absent when there are none) and changes only when a write starts a new hop bucket or a late
 * event lands in an old tile. Views whose rollups cannot be used (a window that is not a
 * multiple of the hop) keep every tile in the head.
 *
 * A record holds
 *   - the view's fingerprint (a hash of the definitions the record was computed with: records
 *     of an older definition of the view are never read as the new one's);
 *   - the latest row (by event ts, created ts, ingestion seq) with event ts at or before the
 *     time of the write, as the values of the view's row-level features;
 *   - the window tiles: per hop bucket, the encoded partial state (agg.h) of each aggregate
 *     spec of the view, buckets ascending; a bucket older than every window is merged into the
 *     oldest tile (the "base", kept only if the view has lifetime aggregates);
 *   - rollups: per aggregate feature, its window's complete tiles merged as of the write's
 *     hop bucket (oview.c uses them while reads stay in that bucket);
 *   - "future" rows: source rows whose event ts was after the time of the write; they are
 *     kept raw (every schema column) and folded in at read time when their time has come, and
 *     into the latest row and tiles by a later write.
 */
#ifndef TESS_ONLINE_RECORD_H
#define TESS_ONLINE_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/value.h"

#define TESS__OREC_VERSION 7

typedef struct tess__orec {
    uint64_t fingerprint;
    int64_t written; /* the time of the write ("now" then), microseconds; 0 in a history */
    uint64_t hist_sum; /* head: the checksum of its history record (0: none); history: 0 */
    /* the latest row */
    bool has_row;
    int64_t row_ts, row_created, row_seq; /* created: INT64_MIN when null or absent */
    size_t nvals;
    tess__value *vals; /* row-level feature values, in view order of the row-level features */
    /* tiles. Writing: starts and states. Reading: tess__orec_decode leaves them NULL and
       keeps the raw section (O(1) access with tess__orec_start / tess__orec_state, so a read
       that needs two tiles does not walk a window's worth); tess__orec_tiles fills them. */
    size_t ntiles, nspecs;
    int64_t *starts;   /* ntiles, ascending */
    tess__str *states; /* [tile * nspecs + spec]: tess__agg_encode bytes */
    const uint8_t *raw_starts, *raw_ends, *raw_blob; /* decoded records only */
    size_t blob_len;
    /* rollups: per aggregate feature of the view's plan, the merged state of its window's
       complete tiles as of the hop bucket `rollup_bucket` (the write's floor(now, h)), so a
       read in that bucket merges two states instead of a window's worth of tiles */
    int64_t rollup_bucket; /* INT64_MIN: none */
    size_t nrollups;
    tess__str *rollups; /* tess__agg_encode bytes. Writing: set. Reading: tess__orec_decode
                           leaves it NULL (tess__orec_rollup reaches each in O(1)) */
    const uint8_t *raw_rollup_ends, *raw_rollup_blob; /* decoded records only */
    size_t rollup_blob_len;
    /* the values of the aggregate features as of the write: each rollup merged with the
       head tile, finalized (a read in the rollup bucket with no future row due is these) */
    size_t ncur;
    tess__value *cur;
    /* future rows */
    size_t nfuture, ncols;
    int64_t *fseq;      /* nfuture ingestion seqs */
    tess__value *frows; /* [row * ncols + col]: the source row, schema order */
} tess__orec;

/* Appends the encoding of `r` to `out`. Errors: TESS_ENOMEM, TESS_EINVAL (out's cap). */
int tess__orec_encode(const tess__orec *r, tess__buf *out);

/*
 * Decodes a record into *r; arrays live in `arena`, strings and states point into `p` (which
 * must outlive r). The schema of the future rows is checked against `types` (ncols of them)
 * and the row values against `val_types` (nvals) when not NULL. Errors: TESS_EIO (checksum
 * mismatch, truncated or malformed: err says "damaged online record" and what), TESS_ENOMEM.
 */
int tess__orec_decode(const void *p, size_t n, tess__orec *r, tess__arena *arena,
                      tess__err *err);

/* Tile t's start and tile t's state of spec s of a decoded record (bounds: the caller's). */
int64_t tess__orec_start(const tess__orec *r, size_t t);
tess__str tess__orec_state(const tess__orec *r, size_t t, size_t s);
/* Rollup i of a record (set or decoded; bounds: the caller's). A history record's rollups are
 * its suffix states, [tile * nspecs + spec] (oview.c). */
tess__str tess__orec_rollup(const tess__orec *r, size_t i);
/* Fills r->starts and r->states of a decoded record (in `arena`). Errors: TESS_ENOMEM. */
int tess__orec_tiles(tess__orec *r, tess__arena *arena);

/* Reads only the fingerprint (0 if the bytes are too short to hold one). */
uint64_t tess__orec_fingerprint(const void *p, size_t n);
/* Reads only the hist_sum (unchecked: decoding checks it; 0 if too short). */
uint64_t tess__orec_hist_sum(const void *p, size_t n);
/* The checksum of an encoded record (its last 8 bytes; 0 if too short): what a head's
 * hist_sum names its history by. */
uint64_t tess__orec_checksum(const void *p, size_t n);

/* Value codec shared with the meta records: one tag byte (type | 0x80 for null), then bool 1
 * byte, int64/timestamp/float64 8 bytes little-endian, string u32 length + bytes. */
int tess__oval_put(tess__buf *out, const tess__value *v);

#endif
