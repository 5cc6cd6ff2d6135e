/* evstore.h — the event store: every event of every source, kept sorted per layout.
 *
 * On disk, inside a store directory (docs/offline.md, "Event store"):
 *   <store>/offline/<source>/MANIFEST              the committed state (checksummed, renamed
 *                                                  into place atomically)
 *   <store>/offline/<source>/LOCK                  appenders and committers hold its flock
 *   <store>/offline/<source>/FOLD                  folders and committers hold its flock
 *   <store>/offline/<source>/<n>.log, <n+1>.log    the push-log chain the MANIFEST names:
 *                                                  pushed rows not yet folded into segments
 *   <store>/offline/<source>/<layout>/<n>.seg      immutable segments (segment.h)
 *
 * A *layout* is a tuple of join-key columns of the source (schema indices, in order); its
 * directory is the column names joined with '+'. Each layout keeps every event whose key
 * values are all non-null, sorted by the event order of segment.h: (keys, event ts, created ts,
 * seq). Events that fit no layout (a null in some key of each) are kept in the keyless layout
 * "~rest", so that a layout added later is complete whatever it is built from.
 *
 * seq = (ingest number << 32) | (row index in its file), the ingest number coming from the
 * manifest, one per file.
 *
 * Writers (ingest, ensure_layout, append) serialize on the source's LOCK; ingests, layout
 * builds and folds also on its FOLD lock. Ingests and layout builds commit by renaming a new
 * MANIFEST into place; an append writes one checksummed frame at the end of the active push
 * log and fdatasyncs it (a frame is the commit). Full logs are sealed and folded into
 * segments off the append path, by a background thread of the handle that takes the LOCK only
 * to rename its MANIFEST (tess__evstore_fold in evstore_int.h; docs/offline.md, "Push log"). A reader sees the
 * state before a commit or after it, never between, and never waits (it reads the MANIFEST
 * without locking, opens the segments it lists and reads the complete frames of the log it
 * names; segments replaced by a merge and folded logs are unlinked after the commit, and a
 * reader that opened them keeps reading them).
 *
 * Thread safety: any number of threads may scan, ingest and append through one handle (writes
 * of one source then run one after the other); the handle's mutable state (what it knows of
 * each active log, its folder's queue) is guarded. Closing it waits for its folder's work.
 * A scan is used by one thread at a time.
 */
#ifndef TESS_OFFLINE_EVSTORE_H
#define TESS_OFFLINE_EVSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "defs/defs_model.h"
#include "offline/batch.h"
#include "offline/segment.h"

typedef struct tess__evstore tess__evstore;

/*
 * Opens the event store of the store directory `store_dir` (the directory itself must exist;
 * <store>/offline is created by the first ingest). Removes what crashed writers left behind
 * (temporary files, segments no manifest lists) in every source that no writer holds now.
 * Errors: TESS_EIO (err names the path), TESS_EINVAL (store_dir NULL or empty), TESS_ENOMEM.
 * *out is set only on success; close it with tess__evstore_close.
 */
int tess__evstore_open(const char *store_dir, tess__evstore **out, tess__err *err);
void tess__evstore_close(tess__evstore *es);

/* Durability of commits. On (the default): segments, the MANIFEST, push-log frames and the
 * directories are fsynced before a commit (an append) returns. Off: nothing is fsynced, for tests and scratch stores; a
 * process crash still leaves the store before or after a commit, an OS crash or power loss
 * may not. Set it before the handle is shared. */
void tess__evstore_set_durable(tess__evstore *es, bool durable);

/* A layout: key columns, indices into the source's schema, in order (a view's join_cols). */
typedef struct tess__evlayout {
    const size_t *cols;
    size_t ncols;
} tess__evlayout;

/* Progress of a long operation: phase is "hash", "read", "sort", "write" or "merge"; done and
 * total are bytes (hash, read) or rows (the others); total 0 when unknown. */
typedef void (*tess__ev_progress_fn)(void *ctx, const char *phase, uint64_t done, uint64_t total);

typedef struct tess__ingest_opts {
    bool force;                 /* ingest files whose content was ingested before */
    size_t max_bad_rows;        /* per file, as tess__reader_opts; 0: the first bad row fails */
    const char *const *display; /* names of the files in messages and the manifest, one per
                                   path (NULL: the paths) */
    tess__ev_progress_fn progress; /* may be NULL */
    void *progress_ctx;
    size_t run_rows; /* rows held in memory before a sorted run is written (0: 2M; the peak
                        memory of an ingest is about 250 bytes a row of it) */
} tess__ingest_opts;

typedef struct tess__ingest_result {
    size_t files_ingested;
    size_t files_skipped; /* already ingested (same content), not forced */
    char **skipped;       /* their display names (owned) */
    uint64_t rows;        /* rows read and stored */
    uint64_t bad_rows;    /* rows skipped as bad (max_bad_rows > 0) */
    char *bad_text;       /* one line per bad row, "" if none (owned; NULL after a failure) */
    /* per layout of the call: rows of this ingest that layout does not hold (a key is null);
       they are still stored (in another layout or in ~rest) */
    uint64_t *null_key_rows;
    size_t nlayouts;
    uint32_t first_ingest, last_ingest; /* ingest numbers used (0, 0 if nothing ingested) */
    bool merged;                        /* a layout was merged in this commit */
} tess__ingest_result;

void tess__ingest_result_release(tess__ingest_result *r);

/*
 * Ingests files of `src` (CSV or JSON Lines by src->format, read with reader.h) into every
 * layout of the source: those the store has, plus `layouts` (a new layout is first built from
 * the events already stored, in the same commit). Files whose XXH3-128 content hash is in the
 * manifest (or earlier in `paths`) are skipped unless opts->force. All files are one commit:
 * on any error (a bad row over max_bad_rows, I/O, memory) the store is as it was and no
 * temporary file is left. Segments are merged in the same commit, size-tiered (small segments
 * with their peers, never more than 8 per layout: docs/offline.md, "Merging").
 * `res` (may be NULL) is filled on success and on failure (release it either way);
 * opts may be NULL (defaults).
 * Errors: TESS_EPARSE (a bad row or header: err is the reader's `file:line[:col]: ...`),
 * TESS_EIO (err names the file), TESS_EINVAL (a layout column out of range or repeated, the
 * source's schema differs from the stored events', more than 2^32 - 1 rows in one file),
 * TESS_ENOMEM. Inputs are borrowed.
 */
int tess__evstore_ingest(tess__evstore *es, const tess__source *src, const tess__evlayout *layouts,
                         size_t nlayouts, const char *const *paths, size_t npaths,
                         const tess__ingest_opts *opts, tess__ingest_result *res, tess__err *err);

/*
 * Appends rows held in memory (pushes) to the source's layouts (those the store has plus
 * `layouts`), all batches in one commit (group commit): batch i gets ingest number
 * *first_ingest + i, and its rows' seq are set to (ingest << 32) | row (the batches are
 * modified). Rows must be typed by the source's schema; timestamps are not checked here.
 * No file is recorded in the manifest (pushes have no content hash to deduplicate by).
 * The batches go to the push log as one frame (one fdatasync) when the log can take them (a
 * full active log is sealed and the frame goes to the next one, which the handle's background
 * folder folds later); otherwise (no log yet, a layout to add, the group alone past the log's
 * bounds) the logs and the batches are folded into segments in one commit (merges included),
 * after any running fold of the source. Either way, when it returns
 * TESS_OK the rows are durable (durability on) and every later scan or stats, in any
 * process, sees them; on an error none of them is stored (but see docs/offline.md, "Push log",
 * on a failed fsync). nbatches 0: nothing is done.
 * Errors: as tess__evstore_ingest (no EPARSE); TESS_EINVAL for a batch of the wrong shape;
 * TESS_EIO also for a damaged push log.
 */
int tess__evstore_append(tess__evstore *es, const tess__source *src, const tess__evlayout *layouts,
                         size_t nlayouts, tess__batch *const *batches, size_t nbatches,
                         uint32_t *first_ingest, tess__err *err);

/* The source whose events a source's store holds: a push source with a batch source shares
 * that source's store (its pushed rows are kept offline there, DESIGN.md). */
static inline const tess__source *tess__evstore_source(const tess__source *src)
{
    return src->batch_source ? src->batch_source : src;
}

/*
 * Makes sure the source has the layout `keys`: if it is missing and events are stored, builds
 * it from the stored events (a re-sort of the other layouts, streamed) and commits. A source
 * without events needs nothing (TESS_OK). Errors: as tess__evstore_ingest (no EPARSE).
 */
int tess__evstore_ensure_layout(tess__evstore *es, const tess__source *src, const size_t *keys,
                                size_t nkeys, tess__err *err);

/* ---- scans ------------------------------------------------------------------------------ */

typedef struct tess__evscan tess__evscan;

typedef struct tess__evscan_opts {
    /* Restrict to these entities: encoded key tuples (tess__evkey_encode of the layout's
       columns), any order, duplicates allowed. filter NULL: every entity; filter non-NULL
       with nfilter 0: none. */
    const tess__str *filter;
    size_t nfilter;
    /* Columns to return (want[c] for schema column c; NULL: all). The key, timestamp and
       created-timestamp columns and seq are always returned; others not wanted come back as
       nulls, and their blocks are not decompressed. */
    const bool *want;
    size_t batch_rows; /* target rows per batch (0: 65,536) */
} tess__evscan_opts;

/*
 * Opens a scan of the source's layout `keys` (built first, with tess__evstore_ensure_layout,
 * if it is missing): batches of rows in event order (segment.h), merged on the fly from the
 * layout's segments as of the last commit and the push log's rows (sorted in memory). One entity's rows (equal key tuple) are never split
 * across two batches: a batch holds about batch_rows rows, more when an entity is larger.
 * A source without events gives an empty scan. The scan keeps the segments open: commits made
 * meanwhile do not affect it.
 * Errors: TESS_EIO (a damaged manifest or segment: err names the file), TESS_EINVAL (keys out
 * of range, schema changed), TESS_ENOMEM. Inputs are borrowed for the call only.
 */
int tess__evscan_open_opts(tess__evstore *es, const tess__source *src, const size_t *keys,
                           size_t nkeys, const tess__evscan_opts *opts, tess__evscan **out,
                           tess__err *err);

/* tess__evscan_open_opts with only a filter (encoded keys; NULL: all entities). */
int tess__evscan_open(tess__evstore *es, const tess__source *src, const size_t *keys, size_t nkeys,
                      const tess__str *filter, size_t nfilter, tess__evscan **out, tess__err *err);

/*
 * The next batch: TESS_OK with (*out)->nrows > 0, TESS_NOTFOUND at the end, or an error
 * (TESS_EIO: a checksum mismatch or read error, err names the file and block; TESS_ENOMEM);
 * after an error every call fails. *out (columns in schema order, and seq) is borrowed until
 * the next call or the close.
 */
int tess__evscan_next(tess__evscan *s, const tess__batch **out, tess__err *err);

/* Blocks decompressed so far (all segments). */
uint64_t tess__evscan_blocks_read(const tess__evscan *s);

void tess__evscan_close(tess__evscan *s);

/* ---- stats and checks ----------------------------------------------------------------------- */

typedef struct tess__evlayout_stats {
    char *name;      /* directory name, e.g. "user_id" or "user_id+merchant_id" (owned) */
    uint64_t rows;   /* events it holds */
    uint64_t null_key_rows; /* events it does not hold (a key was null) */
    size_t segments;
    uint64_t bytes;
} tess__evlayout_stats;

typedef struct tess__evstats {
    uint64_t rows;     /* events ingested (all files) */
    uint64_t files;    /* files ingested */
    uint32_t ingests;  /* ingest numbers used */
    int64_t min_ts, max_ts; /* event time range (INT64_MAX / INT64_MIN if no event) */
    int64_t last_ingest_time; /* when the last file was ingested (0: never) */
    uint64_t bytes;    /* all segments */
    uint64_t log_rows, log_bytes; /* pushed rows in the push log, not yet in segments (they are
                                     counted in the layouts' rows) */
    tess__evlayout_stats *layouts; /* manifest order; "~rest" included when present (owned) */
    size_t nlayouts;
} tess__evstats;

/* The source's stats from its manifest and its push log (no segment is read). A source without events gives
 * zeros. Errors: TESS_EIO (damaged manifest), TESS_ENOMEM. Release with
 * tess__evstats_release (also after a failure). */
int tess__evstore_stats(tess__evstore *es, const tess__source *src, tess__evstats *out,
                        tess__err *err);
void tess__evstats_release(tess__evstats *st);

/* Reads every block of every segment of the source and checks its checksums (for
 * `tessera verify`). Errors: TESS_EIO naming the first damaged file and block, TESS_ENOMEM. */
int tess__evstore_verify(tess__evstore *es, const tess__source *src, tess__err *err);

#endif
