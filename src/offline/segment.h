/* segment.h — immutable segment files of sorted rows, and the row order of the event store.
 *
 * A segment holds rows of one source's schema (plus each row's seq), sorted by the event
 * store's order (below), in blocks of up to TESS__SEG_BLOCK_ROWS rows. Each column of a block
 * is encoded, zstd-compressed and checksummed (XXH3-64 of the compressed bytes); a footer
 * indexes the blocks by their first and last key (order-preserving byte encoding, below) and
 * their event-time range. The byte layout is in segment.c and docs/offline.md.
 *
 * The order ("event order") of a layout with key columns k1..kn:
 *   k1..kn by type (int64 and timestamp numeric, float64 numeric with -0 = 0 and NaN last,
 *   string bytewise, false < true), then event ts, then created ts, then seq. Nulls sort
 *   first (a layout never holds a null key; ts and created ts may be null).
 * Encoded keys: each key value in turn, int64/timestamp as 8 big-endian bytes of the value with
 * the sign bit flipped, float64 likewise after the usual sign transform, bool as one byte,
 * strings with 0x00 escaped as 00 FF and terminated by 00 01. memcmp of two encodings orders
 * them as the typed comparison does.
 *
 * Thread safety: a writer or a reader is used by one thread at a time; distinct readers of one
 * file are independent.
 */
#ifndef TESS_OFFLINE_SEGMENT_H
#define TESS_OFFLINE_SEGMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "defs/defs_model.h"
#include "offline/batch.h"

#define TESS__SEG_BLOCK_ROWS 65536

/* ---- the event order -------------------------------------------------------------------- */

typedef struct tess__evorder {
    const size_t *keys; /* key columns, indices into the schema (and a batch's cols) */
    size_t nkeys;
    size_t ts_col;    /* event timestamp column */
    long created_col; /* created timestamp column, or -1 */
} tess__evorder;

/* The order of a source's layout; keys are borrowed. */
tess__evorder tess__evorder_of(const tess__source *src, const size_t *keys, size_t nkeys);

/* <0, 0, >0: row i of a against row j of b, by keys only / by the full order (keys, ts,
 * created, seq; a batch without seq compares as seq 0). */
int tess__ev_cmp_keys(const tess__evorder *o, const tess__batch *a, size_t i, const tess__batch *b,
                      size_t j);
int tess__ev_cmp_rows(const tess__evorder *o, const tess__batch *a, size_t i, const tess__batch *b,
                      size_t j);

/* Appends the encoded key of row `row`: the columns cols[idx[0..n)] (idx NULL: cols[0..n)).
 * Returns TESS_OK, TESS_NOTFOUND (a key value is null; part of the key may have been
 * appended), or TESS_ENOMEM / TESS_EINVAL (the buffer's cap). */
int tess__evkey_encode(tess__buf *out, const tess__col *cols, const size_t *idx, size_t n,
                       size_t row);

/* <0, 0, >0: the encoded key of row `row` (as tess__evkey_encode would append it) against the
 * encoded key (key, keyn), bytewise as memcmp then length, without building the encoding.
 * A null key value ends the row's encoding there (it compares as the prefix before it). */
int tess__evkey_cmp(const tess__col *cols, const size_t *idx, size_t n, size_t row,
                    const void *key, size_t keyn);

/* Grows a batch set up by tess__batch_init (nulls and seq allocated) to hold `cap` rows; the
 * rows it holds are kept. TESS_OK or TESS_ENOMEM (the batch is unchanged). */
int tess__batch_reserve(tess__batch *b, size_t cap);

/* Appends rows [from, from + n) of `src` to `dst` (same column types; dst has room, see
 * tess__batch_reserve): values, nulls, seq; strings are copied into dst's arena. Columns with
 * `skip[c]` true (skip may be NULL) are not written: their rows keep what dst held there (a
 * scan keeps them null once for all). TESS_OK or TESS_ENOMEM. */
int tess__batch_append(tess__batch *dst, const tess__batch *src, size_t from, size_t n,
                       const bool *skip);

/* Appends rows picked from several batches: row i is chunks[ref[i] >> 16] row
 * (ref[i] & 0xffff). Same column types, dst has room. TESS_OK, TESS_ENOMEM, TESS_EINVAL (no
 * room). */
int tess__batch_gather(tess__batch *dst, const tess__batch *const *chunks, const uint32_t *ref,
                       size_t n);

/* ---- writer ----------------------------------------------------------------------------- */

typedef struct tess__segw tess__segw;

/* What a finished segment holds. min_ts/max_ts: over the non-null event timestamps
 * (INT64_MAX / INT64_MIN if none). */
typedef struct tess__seginfo {
    uint64_t rows;
    int64_t min_ts, max_ts;
    uint64_t bytes;
    uint32_t nblocks;
} tess__seginfo;

/*
 * Creates `path` (O_EXCL: it must not exist) for rows of `src`'s schema in the order of the
 * layout `keys`. The caller gives rows in their final order (not checked) with
 * tess__segw_add, then tess__segw_finish. `display` names the file in messages
 * (NULL: path). Errors: TESS_EIO (err names the file), TESS_ENOMEM. src and keys are borrowed
 * until finish/abort.
 */
int tess__segw_open(const char *path, const char *display, const tess__source *src,
                    const size_t *keys, size_t nkeys, tess__segw **out, tess__err *err);

/*
 * Appends n rows: row i is chunks[ref[i] >> 16] row (ref[i] & 0xffff); with ref NULL, rows
 * 0..n-1 of chunks[0]. Every chunk has the source's column types and a seq array. Full blocks
 * are compressed and written as they fill. Errors: TESS_EIO, TESS_ENOMEM; after an error the
 * writer can only be aborted.
 */
int tess__segw_add(tess__segw *w, const tess__batch *const *chunks, const uint32_t *ref, size_t n,
                   tess__err *err);

/* Writes b's rows (at most 65,536) as one block, compressed straight from b, when no row is
 * pending (otherwise as tess__segw_add). For callers that cut their rows into blocks
 * themselves: every block but the last should be full. Errors: as tess__segw_add. */
int tess__segw_add_block(tess__segw *w, const tess__batch *b, tess__err *err);

/* Writes the last block, the footer and the trailer, fsyncs and closes the file (which keeps
 * its name: committing it is the caller's rename) and frees the writer, whatever the outcome.
 * On failure the file is removed. info (may be NULL) receives what the file holds.
 * Errors: TESS_EIO, TESS_ENOMEM. */
int tess__segw_finish(tess__segw *w, tess__seginfo *info, tess__err *err);

/* sync false: finish does not fsync (tests, scratch stores). Default: true. */
void tess__segw_set_sync(tess__segw *w, bool sync);

/* Closes and removes the file, frees the writer. NULL is a no-op. */
void tess__segw_abort(tess__segw *w);

/* ---- reader ----------------------------------------------------------------------------- */

typedef struct tess__segr tess__segr;

typedef struct tess__segblock {
    uint32_t nrows;
    int64_t min_ts, max_ts;
    const uint8_t *first, *last; /* encoded keys of the first and last row */
    size_t first_n, last_n;
} tess__segblock;

/*
 * Opens a segment and checks its trailer, footer checksum, schema (names and types must be
 * src's, in order) and layout keys. `display` names the file in messages (NULL: path).
 * Errors: TESS_NOTFOUND (no such file; err says so), TESS_EIO (cannot read, not a segment,
 * damaged footer, schema or keys differ: err names the file and what is wrong), TESS_ENOMEM.
 * src and keys are borrowed for the life of the reader.
 */
int tess__segr_open(const char *path, const char *display, const tess__source *src,
                    const size_t *keys, size_t nkeys, tess__segr **out, tess__err *err);
void tess__segr_close(tess__segr *r);

/*
 * A reader over rows held in memory (the push log's, evstore.c): blocks[0..nblocks) of the
 * source's types with seq, each of 1 to TESS__SEG_BLOCK_ROWS rows, in event order across
 * blocks. It reads as a segment file does (want, blocks, keys); release(owner) is called at
 * the close (or at once on failure), and the blocks must live until then.
 * Errors: TESS_ENOMEM.
 */
int tess__segr_open_mem(const char *display, const tess__source *src, const size_t *keys,
                        size_t nkeys, const tess__batch *blocks, size_t nblocks,
                        void (*release)(void *), void *owner, tess__segr **out, tess__err *err);

size_t tess__segr_nblocks(const tess__segr *r);
uint64_t tess__segr_rows(const tess__segr *r);
/* Block i's row count, time range and key range (borrowed for the reader's life). */
const tess__segblock *tess__segr_block(const tess__segr *r, size_t i);

/* The blocks [*lo, *hi) whose key range [first, last] contains the encoded key (empty when
 * *lo == *hi). Binary searches: blocks are sorted, consecutive ranges may share a key. */
void tess__segr_find(const tess__segr *r, const void *key, size_t n, size_t *lo, size_t *hi);

/*
 * Reads block i into b (a batch of the source's types, grown as needed; reset first):
 * every column, or only those with want[c] true (want may be NULL; others come back as
 * nulls), and seq. Every column read is checksummed first: a mismatch is TESS_EIO
 * "file: block i column c (name): checksum mismatch" and nothing of the block is returned
 * (b->nrows = 0). Errors: TESS_EIO (read failed, checksum, malformed contents), TESS_ENOMEM.
 */
int tess__segr_read_block(tess__segr *r, size_t i, const bool *want, tess__batch *b, tess__err *err);

/* Blocks decoded so far by this reader (for tests and stats). */
uint64_t tess__segr_blocks_read(const tess__segr *r);

#endif
