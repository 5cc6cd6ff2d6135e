/* evstore_int.h — what evstore.c, manifest.c, evsort.c and evscan.c share (not for other
 * modules): the manifest in memory, sorting runs, and scans over explicit segment lists. */
#ifndef TESS_OFFLINE_EVSTORE_INT_H
#define TESS_OFFLINE_EVSTORE_INT_H

#include <pthread.h>
#include <sys/types.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/err.h"
#include "defs/defs_model.h"
#include "offline/batch.h"
#include "offline/evstore.h"
#include "offline/segment.h"

#define TESS__EV_REST_DIR "~rest"  /* the keyless layout (events no layout holds) */
/* Merges (evstore.c, merge_pick): segments are grouped in size tiers, tier 0 under
 * TIER_ROWS rows and each next one MERGE_FANIN times larger; a tier with MERGE_FANIN
 * segments is merged with every smaller segment; above MAX_SEGMENTS, the smallest are. */
#define TESS__EV_MERGE_FANIN 4
#define TESS__EV_TIER_ROWS ((uint64_t)65536)
#define TESS__EV_MAX_SEGMENTS 8
#define TESS__EV_RUN_ROWS ((size_t)2 << 20) /* rows of a run: ~250 bytes each at the peak */

/* The push log (evlog.c, evstore.c): an append goes to the active log while it stays under
 * both bounds (rows and bytes, its own included); the append that would pass one *seals* it
 * (creates the next log and appends there) and asks for a fold, which runs off the append path
 * (a background thread of the handle: tess__evstore_fold). A group larger than a bound by
 * itself goes straight to segments in a commit. */
#define TESS__EV_LOG_MAX_ROWS ((uint64_t)262144)
#define TESS__EV_LOG_MAX_BYTES ((uint64_t)64 << 20)

/* What a writer knows of a source's push log between two appends (evstore.c): valid while
 * the MANIFEST names the same log and the file is the same; touched only under the source's
 * LOCK. */
typedef struct tess__evlog_cache tess__evlog_cache;

struct tess__evstore {
    char *store_dir;
    char *offline_dir; /* <store>/offline */
    bool nosync;       /* tess__evstore_set_durable(es, false) */
    uint64_t log_max_rows, log_max_bytes; /* the push log's bounds (tests lower them) */
    pthread_mutex_t mu; /* guards the list below (not the entries: each under its LOCK) and
                           the folder's state */
    tess__evlog_cache **logs;
    size_t nlogs;
    /* the background folder (evstore.c, fold_main): started on the first fold request */
    pthread_cond_t fold_cv;
    pthread_t fold_thread;
    bool fold_started, fold_stop, fold_busy;
    pid_t fold_pid;         /* the process that started the thread */
    bool fold_off;          /* tess__evstore_set_background_fold(es, false) */
    char **fold_queue;      /* source directory names waiting for a fold */
    size_t fold_nqueue;
    int64_t fold_retry_at;  /* after a failed fold: no new one before (monotonic us) */
    uint64_t folds, fold_failures; /* background folds done and failed */
    int fold_rc;            /* the last background fold's status */
    char fold_msg[256];     /* and its message */
};

/* The push log's bounds (rows, bytes; 0: the default): for tests, set before the handle is
 * shared. */
void tess__evstore_set_log_bounds(tess__evstore *es, uint64_t rows, uint64_t bytes);

/* Whether appends through this handle hand sealed logs to its background folder (default on).
 * Off (tests): sealed logs wait for tess__evstore_fold or the next commit. Set it before the
 * handle is shared. */
void tess__evstore_set_background_fold(tess__evstore *es, bool on);

/*
 * Folds the source's sealed push logs (every log of the chain but the active one) into
 * segments, merges as an ingest would, and commits: the work runs under the source's FOLD lock
 * only (appends go on), the LOCK is taken for the manifest's rename. Another process folding
 * now: nothing is done (*folded false). `name`: the source's directory (the store source's
 * name); the schema comes from the MANIFEST. folded (may be NULL): whether a commit happened.
 * Errors: TESS_EIO (err names the file), TESS_ENOMEM; the store is then as before (or, when
 * only the directory fsync after the manifest's rename failed, as after).
 */
int tess__evstore_fold(tess__evstore *es, const char *name, bool *folded, tess__err *err);

/* Waits until the background folder has nothing queued or running. */
void tess__evstore_fold_wait(tess__evstore *es);

/* ---- the manifest (manifest.c) -------------------------------------------------------------- */

typedef struct tess__mseg {
    uint64_t num; /* file <num>.seg in the layout's directory */
    uint64_t rows;
    int64_t min_ts, max_ts;
    uint64_t bytes;
    bool pending; /* in memory only: written by the open transaction, still <num>.seg.tmp */
} tess__mseg;

typedef struct tess__mlayout {
    char *dir;    /* directory name: key names joined with '+', or TESS__EV_REST_DIR */
    char **keys;  /* key column names; none for ~rest */
    size_t nkeys;
    size_t *cols; /* in memory only: keys resolved against the source (tess__manifest_resolve) */
    uint64_t null_key_rows;
    tess__mseg *segs;
    size_t nsegs, segs_cap;
} tess__mlayout;

typedef struct tess__mfile {
    uint8_t hash[16]; /* XXH3-128, high 64 bits first, big-endian */
    char *name;
    uint64_t rows;
    uint32_t ingest;
    int64_t time; /* when it was ingested */
    int64_t min_ts, max_ts;
    uint64_t bytes;
} tess__mfile;

typedef struct tess__manifest {
    uint32_t next_ingest; /* from 1; the log's first frame starts there */
    uint64_t next_seg;
    uint64_t log; /* the first log of the push-log chain <log>.log, <log+1>.log, ... (each one
                     existing seals the one before it; the last is the active log); 0: none,
                     a store written before push logs existed */
    /* the schema of the stored events */
    size_t ncols;
    char **col_names;
    tess__type *col_types;
    size_t ts_col;
    long created_col;
    tess__mlayout *layouts;
    size_t nlayouts, layouts_cap;
    tess__mfile *files;
    size_t nfiles, files_cap;
} tess__manifest;

/* An empty manifest with src's schema. TESS_OK or TESS_ENOMEM. */
int tess__manifest_new(const tess__source *src, tess__manifest **out);
void tess__manifest_free(tess__manifest *m);
/* Reads and checks a MANIFEST. Errors: TESS_NOTFOUND (no such file), TESS_EIO (cannot read,
 * damaged: err names the file), TESS_ENOMEM. */
int tess__manifest_read(const char *path, tess__manifest **out, tess__err *err);
/* Writes tmp_path, fsyncs it, renames it to path and fsyncs dir (no fsync if !sync). Errors: TESS_EIO, TESS_ENOMEM;
 * on failure tmp_path is removed and path is unchanged (unless only the directory fsync
 * failed: then *renamed is set and the new manifest may be in place). */
int tess__manifest_write(const tess__manifest *m, const char *tmp_path, const char *path,
                         const char *dir, bool sync, bool *renamed, tess__err *err);
/* tess__manifest_write in two steps: write and fsync tmp_path (removed on failure), then
 * rename it to path and fsync dir (*renamed as above). */
int tess__manifest_prepare(const tess__manifest *m, const char *tmp_path, bool sync,
                           tess__err *err);
int tess__manifest_install(const char *tmp_path, const char *path, const char *dir, bool sync,
                           bool *renamed, tess__err *err);
/* TESS_OK if src has the manifest's schema, else TESS_EINVAL saying what changed. */
int tess__manifest_check_schema(const tess__manifest *m, const tess__source *src, tess__err *err);
/* Resolves every layout's key names to src's columns (fills cols). TESS_EINVAL, TESS_ENOMEM. */
int tess__manifest_resolve(tess__manifest *m, const tess__source *src, tess__err *err);
/* The layout with these key columns (by name), or NULL. */
tess__mlayout *tess__manifest_layout(const tess__manifest *m, const tess__source *src,
                                     const size_t *keys, size_t nkeys);
/* Appends a layout (keys resolved; nkeys 0: ~rest). TESS_OK or TESS_ENOMEM. */
int tess__manifest_add_layout(tess__manifest *m, const tess__source *src, const size_t *keys,
                              size_t nkeys, tess__mlayout **out);
int tess__manifest_add_seg(tess__mlayout *l, const tess__mseg *s);
/* Appends a file entry (name copied). */
int tess__manifest_add_file(tess__manifest *m, const tess__mfile *f);
/* Rows stored in a layout (sum of its segments). */
uint64_t tess__mlayout_rows(const tess__mlayout *l);

/* ---- the push log (evlog.c) ------------------------------------------------------------- */

/* What was read of a log: from offset 0 to `end`, complete frames. */
typedef struct tess__evlog {
    uint64_t end;         /* bytes of the complete frames read */
    uint64_t size;        /* the file's size at the last read (more than end: a torn tail) */
    uint64_t frames, rows;
    uint32_t next_ingest; /* set to the manifest's next ingest before the first read; after a
                             read: the number after the last frame's */
} tess__evlog;

/*
 * Encodes one frame of log number `log`: batches[0..n) (n >= 1, each with the schema's ncols
 * columns), batch i taking ingest number first_ingest + i. *out (tess__free) receives the
 * frame, *len its size. TESS_OK, TESS_ENOMEM, TESS_EINVAL (over 2^32 - 1 rows or bytes).
 */
int tess__evlog_frame(uint64_t log, uint32_t first_ingest, tess__batch *const *batches, size_t n,
                      size_t ncols, uint8_t **out, size_t *len);

/*
 * Reads the frames of the log open as fd (number `log`; display names it in messages) from
 * lg->end (a frame boundary whose frame should start at ingest lg->next_ingest) to the end of
 * the file, advancing lg. A torn tail (an invalid frame that no valid frame follows) is left:
 * lg->end stops before it, lg->size is past it. rows (may be NULL): a batch of the schema's
 * types to which the frames' rows are appended, with their seq.
 * Errors: TESS_EIO (read error; a damaged frame followed by a valid one; a frame out of
 * sequence; the file shorter than lg->end), TESS_ENOMEM. On an error lg may have advanced and
 * rows may hold some of the rows.
 */
int tess__evlog_read(int fd, const char *display, uint64_t log, const tess__type *types,
                     size_t ncols, tess__evlog *lg, tess__batch *rows, tess__err *err);

/* ---- runs: rows held in memory before they are sorted and written (evrun.c) ---------------- */

/*
 * A run keeps rows in row-major form: gathering a row in a layout's order then costs one or
 * two cache misses instead of one per column, and the memory is reused from one run to the
 * next (fresh memory costs a page fault per 4 KB, which on a virtual machine costs more than
 * parsing the row). Row i, at base + i * stride: i64 seq, the null bitmap (bit c % 8 of byte
 * c / 8: column c is null), then each column's value: 8 bytes (int64, float64, timestamp;
 * bool as 0/1), or for strings u64 offset and u64 length of its bytes in `strs`, the run's
 * string buffer (offsets, so that the buffer may grow).
 */
typedef struct tess__run {
    size_t ncols;
    tess__type *types;
    size_t *off; /* per column: offset of its value in a row */
    size_t stride;
    char *mem, *base; /* the row buffer (mem: the allocation; base: aligned) */
    size_t n, cap;    /* rows held, and room */
    char *strs;       /* string bytes */
    size_t slen, scap;
} tess__run;

/* A buffer of `bytes` bytes, aligned to 2 MB and advised for huge pages when it is that large:
 * returns its start (NULL: out of memory); *mem receives the pointer to tess__free. */
char *tess__big_alloc(size_t bytes, char **mem);

/* Sets up an empty run for src's schema. TESS_OK or TESS_ENOMEM (then release it anyway). */
int tess__run_init(tess__run *r, const tess__source *src);
void tess__run_release(tess__run *r);
/* Makes room for `cap` rows in all. TESS_OK or TESS_ENOMEM (the run is unchanged). */
int tess__run_reserve(tess__run *r, size_t cap);
/* Appends rows of b: rows[0..n) (rows NULL: rows from..from+n). Room must have been reserved;
 * string bytes are copied. TESS_OK or TESS_ENOMEM (the run is unchanged). */
int tess__run_append(tess__run *r, const tess__batch *b, const uint32_t *rows, size_t from,
                     size_t n);
/* Appends rows idx[0..n) of the run to b (which has room for them); strings point into the
 * run (valid until the run is cleared or grows). */
void tess__run_gather(const tess__run *r, const uint32_t *idx, size_t n, tess__batch *b);
/* Forgets the rows (memory kept). */
void tess__run_clear(tess__run *r);

static inline const char *tess__run_row(const tess__run *r, size_t i)
{
    return r->base + i * r->stride;
}
static inline bool tess__run_null(const tess__run *r, size_t i, size_t c)
{
    return (r->base[i * r->stride + 8 + c / 8] >> (c % 8)) & 1;
}
static inline int64_t tess__run_i64(const tess__run *r, size_t i, size_t c)
{
    int64_t v;
    memcpy(&v, r->base + i * r->stride + r->off[c], 8);
    return v;
}
static inline int64_t tess__run_seq(const tess__run *r, size_t i)
{
    int64_t v;
    memcpy(&v, r->base + i * r->stride, 8);
    return v;
}
static inline tess__str tess__run_str(const tess__run *r, size_t i, size_t c)
{
    uint64_t o[2];
    memcpy(o, r->base + i * r->stride + r->off[c], 16);
    tess__str s = {r->strs + o[0], (size_t)o[1]};
    return s;
}

/* ---- sorting runs (evsort.c) ---------------------------------------------------------------- */

/* Scratch memory kept from one sort to the next (NULL from new: out of memory). */
typedef struct tess__evsort_ws tess__evsort_ws;
tess__evsort_ws *tess__evsort_ws_new(void);
void tess__evsort_ws_free(tess__evsort_ws *ws);

/*
 * Sorts idx (rows of the run) by the event order `o`. Key values must be non-null.
 * ws: a workspace (NULL: a temporary one). TESS_OK or TESS_ENOMEM.
 */
int tess__evsort(const tess__run *r, uint32_t *idx, size_t n, const tess__evorder *o,
                 tess__evsort_ws *ws);

/* ---- scans over explicit segments (evscan.c) ---------------------------------------------- */

/*
 * A scan over the given readers (ownership passes to the scan, even on failure), merged in
 * the event order of the layout `keys`. opts as tess__evscan_opts; split: batches of exactly
 * batch_rows rows (the last one fewer), entities may be split (merges and rebuilds).
 */
int tess__evscan_new(const tess__source *src, const size_t *keys, size_t nkeys,
                     tess__segr **readers, size_t nreaders, const tess__evscan_opts *opts,
                     bool split, tess__evscan **out, tess__err *err);

#endif
