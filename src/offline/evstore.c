/* evstore.c — the event store: ingest, layouts, merges, commits, scans, push logs, folds
 * (evstore.h).
 *
 * Two locks per source, always taken in this order: <source>/FOLD, held by every writer of
 * segments and manifests (commits, folds), and <source>/LOCK, held by appenders and by
 * commits (whole), and by a fold only for its manifest's rename. Readers take neither.
 *
 * Writers work in a *transaction* on one source:
 *   begin   mkdir, take FOLD then LOCK (an append: LOCK only), remove what crashed writers
 *           left (MANIFEST.tmp, *.seg.tmp, segments the manifest does not list, logs out of
 *           its chain; only FOLD holders, never on the append's fast path), read the MANIFEST
 *           and what the handle knows of the active push log (or start an empty manifest),
 *           check the schema, resolve the layouts' key columns;
 *   work    new segments are written as <layout>/<n>.seg.tmp and fsynced (`pending` in the
 *           in-memory manifest); segments a merge replaces are dropped from the manifest (a
 *           pending one is removed at once, a committed one is remembered);
 *   commit  rename every pending segment to <n>.seg, fsync the layout directories, create
 *           the next, empty push log after the chain and fsync the source directory, write
 *           MANIFEST.tmp (naming that log), fsync, rename it to MANIFEST, fsync the source
 *           directory; then unlink the replaced committed segments and the folded logs;
 *   abort   remove the pending segments (either name) and empty new directories.
 * A crash anywhere before the MANIFEST rename leaves the old state plus stray files, removed by
 * the next writer (or tess__evstore_open); after it, the new state plus, possibly, replaced
 * segments and folded logs not yet unlinked, removed the same way.
 *
 * Ingest: files are hashed (XXH3-128) first; duplicates are skipped. The others are read with
 * reader.h, a batch at a time, into the transaction's *run* (evrun.c: rows kept row-major in
 * memory that is reused); when a run reaches run_rows rows, or at the end, it is *spilled*:
 * per layout, the rows whose keys are all non-null are sorted (evsort.c) and written as one
 * segment, the layouts shared between this thread and a helper thread; rows no keyed layout
 * holds go to ~rest. Segments are then merged, size-tiered (merge_pick): whenever
 * TESS__EV_MERGE_FANIN segments of one size tier exist, they and any smaller ones become one
 * (evscan.c's merge, streamed into one new segment, a block per segment in memory), so a
 * layout converges to few segments and a big one is rewritten only with peers of its size.
 *
 * Pushes (tess__evstore_append) go to the source's push-log *chain* <n>.log, <n+1>.log, ...
 * (evlog.c), the MANIFEST naming its first log n and that log's first ingest number: under the
 * LOCK, one checksummed frame per group at the end of the last, *active* log, fdatasynced; no
 * segment, manifest or directory is written. A log's successor existing *seals* it: an append
 * that would take the active log past its bounds creates the next log (fsyncing the directory)
 * and writes there, then queues the source for the handle's background folder (fold_main).
 * The fold (tess__evstore_fold) holds only FOLD while it reads the sealed logs, sorts their
 * rows and writes and merges segments; it renames its MANIFEST (naming the chain from the
 * active log on) under the LOCK, then unlinks the folded logs. Every other commit (an ingest,
 * a layout built, an append that cannot go to the log) folds the whole chain into its own
 * run and names a new, empty log. So the rows of a log are never both in it and in the
 * segments of a manifest whose chain holds it. Scans and stats walk the chain of the manifest
 * they read (read_chain) and merge its rows, sorted in memory (tess__segr_open_mem); a chain
 * folded since makes them read the manifest again. Writers keep what they read of the active
 * log in the handle (tess__evlog_cache), so that an append reads only what others appended
 * since. docs/offline.md, "Push log", lists the states of a crashed fold.
 *
 * A new layout is built from the stored events: each keyed layout in manifest order, then
 * ~rest, contributes the rows that no earlier one holds (a layout holds a row iff the row's
 * keys for it are all non-null, so this is decidable from the row alone): every event is seen
 * once, whatever layouts exist.
 */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <time.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <unistd.h>
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "core/alloc.h"
#include "core/io.h"
#include "core/time.h"
#include "offline/evstore_int.h"
#include "offline/reader.h"
#include "tessera.h"

#define OOM(err) tess__err_set((err), TESS_ENOMEM, "out of memory")
#define SCAN_RETRIES 20

struct tess__evlog_cache {
    char *name;   /* the source's directory name */
    uint64_t log; /* the log number described (0: nothing known) */
    int fd;       /* that log, open read-write (-1: not open) */
    dev_t dev;
    ino_t ino;
    tess__evlog lg; /* what has been read of it */
};

static void log_cache_reset(tess__evlog_cache *c)
{
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
    c->log = 0;
    memset(&c->lg, 0, sizeof(c->lg));
}

/* ---- paths and directories ------------------------------------------------------------------ */

static int pathf(char *buf, tess__err *err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int pathf(char *buf, tess__err *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, PATH_MAX, fmt, ap);
    va_end(ap);
    if (n < 0 || n >= PATH_MAX) {
        buf[0] = '\0';
        return tess__err_set(err, TESS_EINVAL, "path too long under the store directory");
    }
    return TESS_OK;
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -1;
    int r = tess__io_fsync(fd);
    close(fd);
    return r;
}

/* mkdir if missing; a new directory is made durable by fsyncing its parent. */
static int make_dir(const char *dir, const char *parent, bool sync, tess__err *err)
{
    if (mkdir(dir, 0755) == 0) {
        if (sync && fsync_dir(parent))
            return tess__err_set(err, TESS_EIO, "%s: fsync: %s", parent, strerror(errno));
        return TESS_OK;
    }
    if (errno == EEXIST) return TESS_OK;
    return tess__err_set(err, TESS_EIO, "%s: cannot create directory: %s", dir, strerror(errno));
}

static bool has_suffix(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && strcmp(s + n - m, suf) == 0;
}

/* "<digits><ext>" -> number; false for any other name. */
static bool file_number(const char *name, const char *ext, uint64_t *num)
{
    const char *p = name;
    uint64_t v = 0;
    if (*p < '0' || *p > '9') return false;
    while (*p >= '0' && *p <= '9') {
        if (v > (UINT64_MAX - 9) / 10) return false;
        v = v * 10 + (uint64_t)(*p++ - '0');
    }
    if (strcmp(p, ext) != 0) return false;
    *num = v;
    return true;
}

static bool seg_number(const char *name, uint64_t *num)
{
    return file_number(name, ".seg", num);
}

static bool log_number(const char *name, uint64_t *num)
{
    return file_number(name, ".log", num);
}

/* Removes what crashed writers left in a source directory: MANIFEST.tmp, <n>.seg.tmp, <n>.seg
 * files that `m` (the committed manifest; NULL: there is none) does not list, and push logs
 * not in the chain it names: below it (folded ones) and, when the caller holds the LOCK too
 * (`locked`: no appender can extend the chain meanwhile), above a gap after it (a log right
 * after the chain's last is in the chain: an empty one that a failed commit created is a
 * valid next log). The caller holds the source's FOLD lock (every writer of segments and
 * manifests holds it). Best effort: errors are ignored. */
static void cleanup_source(const char *sdir, const tess__manifest *m, bool locked)
{
    char path[PATH_MAX];
    uint64_t chain_end = 0; /* the chain's last log (locked only) */
    for (uint64_t k = m && locked ? m->log : 0; k; k++) {
        struct stat st;
        if (snprintf(path, sizeof(path), "%s/%llu.log", sdir, (unsigned long long)k) >=
                (int)sizeof(path) ||
            stat(path, &st) != 0)
            break;
        chain_end = k;
    }
    if (snprintf(path, sizeof(path), "%s/MANIFEST.tmp", sdir) < (int)sizeof(path)) unlink(path);
    DIR *d = opendir(sdir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || strcmp(e->d_name, "MANIFEST") == 0 ||
            strcmp(e->d_name, "LOCK") == 0 || strcmp(e->d_name, "FOLD") == 0)
            continue;
        char ldir[PATH_MAX];
        if (snprintf(ldir, sizeof(ldir), "%s/%s", sdir, e->d_name) >= (int)sizeof(ldir)) continue;
        uint64_t lnum;
        if (log_number(e->d_name, &lnum)) {
            if (!m || m->log == 0 || lnum < m->log || (locked && lnum > chain_end)) unlink(ldir);
            continue;
        }
        struct stat st;
        if (stat(ldir, &st) || !S_ISDIR(st.st_mode)) continue;
        const tess__mlayout *l = NULL;
        for (size_t i = 0; m && i < m->nlayouts; i++)
            if (strcmp(m->layouts[i].dir, e->d_name) == 0) l = &m->layouts[i];
        DIR *ld = opendir(ldir);
        if (!ld) continue;
        struct dirent *f;
        while ((f = readdir(ld))) {
            uint64_t num;
            bool stray = false;
            if (has_suffix(f->d_name, ".seg.tmp")) stray = true;
            else if (seg_number(f->d_name, &num)) {
                stray = true;
                for (size_t s = 0; l && s < l->nsegs; s++)
                    if (l->segs[s].num == num) stray = false;
            }
            if (stray && snprintf(path, sizeof(path), "%s/%s", ldir, f->d_name) < (int)sizeof(path))
                unlink(path);
        }
        closedir(ld);
        if (!l) rmdir(ldir); /* only if empty */
    }
    closedir(d);
}

/* ---- open / close ----------------------------------------------------------------------------- */

int tess__evstore_open(const char *store_dir, tess__evstore **out, tess__err *err)
{
    *out = NULL;
    if (!store_dir || !*store_dir)
        return tess__err_set(err, TESS_EINVAL, "no store directory given");
    struct stat st;
    if (stat(store_dir, &st))
        return tess__err_set(err, TESS_EIO, "%s: %s", store_dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return tess__err_set(err, TESS_EIO, "%s: not a directory", store_dir);
    tess__evstore *es = tess__calloc(1, sizeof(*es));
    tess__buf b = TESS__BUF_INIT;
    if (es && pthread_mutex_init(&es->mu, NULL)) {
        tess__free(es);
        es = NULL;
    }
    if (es && pthread_cond_init(&es->fold_cv, NULL)) {
        pthread_mutex_destroy(&es->mu);
        tess__free(es);
        es = NULL;
    }
    if (!es || !(es->store_dir = tess__strdup(store_dir)) ||
        tess__buf_printf(&b, "%s/offline", store_dir) || !(es->offline_dir = tess__buf_take(&b))) {
        tess__buf_release(&b);
        tess__evstore_close(es);
        return OOM(err);
    }
    tess__evstore_set_log_bounds(es, 0, 0);
    /* TESSERA_PUSH_LOG_ROWS: a lower row bound of the push logs, so that tests (test_crash.sh)
     * see seals and background folds under load without pushing 262,144 rows per fold */
    const char *lr = getenv("TESSERA_PUSH_LOG_ROWS");
    if (lr && *lr) {
        char *end;
        unsigned long long v = strtoull(lr, &end, 10);
        if (*end == '\0' && v > 0 && v < TESS__EV_LOG_MAX_ROWS) es->log_max_rows = v;
    }
    /* crashed writers' leftovers, in every source no writer holds now */
    DIR *d = opendir(es->offline_dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.') continue;
            char sdir[PATH_MAX], lock[PATH_MAX], fold[PATH_MAX], man[PATH_MAX];
            if (snprintf(sdir, sizeof(sdir), "%s/%s", es->offline_dir, e->d_name) >= PATH_MAX ||
                snprintf(lock, sizeof(lock), "%s/LOCK", sdir) >= PATH_MAX ||
                snprintf(fold, sizeof(fold), "%s/FOLD", sdir) >= PATH_MAX ||
                snprintf(man, sizeof(man), "%s/MANIFEST", sdir) >= PATH_MAX)
                continue;
            int fd = open(lock, O_RDWR | O_CLOEXEC);
            if (fd < 0) continue;
            /* the FOLD lock first (a folder writes segments holding only it), then the LOCK */
            int ffd = open(fold, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
            if (ffd >= 0 && flock(ffd, LOCK_EX | LOCK_NB) == 0 &&
                flock(fd, LOCK_EX | LOCK_NB) == 0) {
                tess__manifest *m = NULL;
                tess__err e2 = TESS__ERR_INIT;
                int rc = tess__manifest_read(man, &m, &e2);
                if (rc == TESS_OK || rc == TESS_NOTFOUND) cleanup_source(sdir, m, true);
                tess__manifest_free(m);
                tess__err_release(&e2);
            }
            if (ffd >= 0) close(ffd);
            close(fd);
        }
        closedir(d);
    }
    *out = es;
    return TESS_OK;
}

void tess__evstore_set_durable(tess__evstore *es, bool durable)
{
    es->nosync = !durable;
}

void tess__evstore_set_log_bounds(tess__evstore *es, uint64_t rows, uint64_t bytes)
{
    es->log_max_rows = rows ? rows : TESS__EV_LOG_MAX_ROWS;
    es->log_max_bytes = bytes ? bytes : TESS__EV_LOG_MAX_BYTES;
}

void tess__evstore_set_background_fold(tess__evstore *es, bool on)
{
    es->fold_off = !on;
}

static void fold_stop(tess__evstore *es);

void tess__evstore_close(tess__evstore *es)
{
    if (!es) return;
    fold_stop(es);
    for (size_t i = 0; i < es->nlogs; i++) {
        log_cache_reset(es->logs[i]);
        tess__free(es->logs[i]->name);
        tess__free(es->logs[i]);
    }
    tess__free(es->logs);
    pthread_cond_destroy(&es->fold_cv);
    pthread_mutex_destroy(&es->mu);
    tess__free(es->store_dir);
    tess__free(es->offline_dir);
    tess__free(es);
}

/* ---- transactions --------------------------------------------------------------------------- */

/* What sorting and writing one layout's segment needs of its own (one per thread). */
typedef struct worker {
    tess__evsort_ws *ws;
    tess__batch blk; /* one block gathered from the run */
} worker;

static void worker_release(worker *w);

typedef struct txn {
    tess__evstore *es;
    const tess__source *src;
    char dir[PATH_MAX]; /* <offline>/<source> */
    int lock_fd;        /* the LOCK, held (-1: not held) */
    int fold_fd;        /* the FOLD lock, held (-1: not held) */
    tess__manifest *m;
    char **del_paths; /* committed segments replaced: unlinked after the commit */
    size_t ndel, del_cap;
    bool merged;
    bool dirty; /* the manifest changed: commit */
    tess__run run;       /* rows read, not yet written (spill) */
    bool run_ready;
    tess__batch rd;      /* the reader's batch */
    worker main, helper; /* sort and gather memory of this thread and of the helper */
    tess__ev_progress_fn progress;
    void *progress_ctx;
    size_t run_rows;
    tess__type *types;       /* the schema's column types */
    tess__evlog_cache *lc;   /* the handle's entry for this source's log (or &own) */
    tess__evlog_cache own;   /* when the handle has no room for one */
    tess__evlog lg;          /* the active log (the chain's last), as read at the start */
    uint64_t chain_first;    /* the chain's first log (the manifest's, at the start) */
    uint64_t active;         /* the chain's last log (0: no chain) */
    uint32_t log_first;      /* the manifest's next ingest: the chain's first frame's */
    bool log_folded;         /* the chain's rows are in the run (or segments) of this txn */
    uint64_t new_log;        /* created by the commit (0: none yet) */
} txn;

/* txn_begin's flags */
enum {
    TX_LOCK = 1,    /* take the LOCK (appends, commits) */
    TX_FOLD = 2,    /* take the FOLD lock first (every writer of segments or manifests) */
    TX_CLEANUP = 4, /* remove crashed writers' leftovers (needs TX_FOLD) */
    TX_WRITE = TX_LOCK | TX_FOLD | TX_CLEANUP,
};

static bool has_rows(const tess__manifest *m)
{
    for (size_t i = 0; i < m->nlayouts; i++)
        if (m->layouts[i].nsegs) return true;
    return false;
}

static void progress(txn *t, const char *phase, uint64_t done, uint64_t total)
{
    if (t->progress) t->progress(t->progress_ctx, phase, done, total);
}

static int seg_path(const txn *t, const tess__mlayout *l, uint64_t num, bool tmp, char *buf,
                    tess__err *err)
{
    return pathf(buf, err, "%s/%s/%llu.seg%s", t->dir, l->dir, (unsigned long long)num,
                 tmp ? ".tmp" : "");
}

static void txn_end(txn *t)
{
    if (t->lock_fd >= 0) close(t->lock_fd); /* releases the flock */
    t->lock_fd = -1;
    if (t->fold_fd >= 0) close(t->fold_fd);
    t->fold_fd = -1;
    if (t->lc == &t->own) log_cache_reset(&t->own);
    t->lc = NULL;
    tess__free(t->types);
    t->types = NULL;
    tess__manifest_free(t->m);
    t->m = NULL;
    for (size_t i = 0; i < t->ndel; i++) tess__free(t->del_paths[i]);
    tess__free(t->del_paths);
    t->del_paths = NULL;
    tess__run_release(&t->run);
    t->run_ready = false;
    tess__batch_release(&t->rd);
    worker_release(&t->main);
    worker_release(&t->helper);
    t->ndel = t->del_cap = 0;
}

/* Removes the transaction's pending segments and empty directories, then ends it. */
static void txn_abort(txn *t)
{
    if (t->m) {
        char path[PATH_MAX];
        tess__err ignore = TESS__ERR_INIT;
        for (size_t i = 0; i < t->m->nlayouts; i++) {
            tess__mlayout *l = &t->m->layouts[i];
            for (size_t s = 0; s < l->nsegs; s++) {
                if (!l->segs[s].pending) continue;
                if (seg_path(t, l, l->segs[s].num, true, path, &ignore) == TESS_OK) unlink(path);
                if (seg_path(t, l, l->segs[s].num, false, path, &ignore) == TESS_OK) unlink(path);
            }
            if (pathf(path, &ignore, "%s/%s", t->dir, l->dir) == TESS_OK) rmdir(path);
        }
        if (t->new_log && pathf(path, &ignore, "%s/%llu.log", t->dir,
                                (unsigned long long)t->new_log) == TESS_OK)
            unlink(path);
        tess__err_release(&ignore);
    }
    txn_end(t);
}

/* The handle's log entry for the source (created on first use); NULL when out of memory. */
static tess__evlog_cache *log_cache(tess__evstore *es, const char *name)
{
    tess__evlog_cache *c = NULL;
    pthread_mutex_lock(&es->mu);
    for (size_t i = 0; i < es->nlogs && !c; i++)
        if (strcmp(es->logs[i]->name, name) == 0) c = es->logs[i];
    if (!c) {
        tess__evlog_cache **p = tess__realloc(es->logs, (es->nlogs + 1) * sizeof(*p));
        if (p) {
            es->logs = p;
            c = tess__calloc(1, sizeof(*c));
            if (c && !(c->name = tess__strdup(name))) {
                tess__free(c);
                c = NULL;
            }
            if (c) {
                c->fd = -1;
                es->logs[es->nlogs++] = c;
            }
        }
    }
    pthread_mutex_unlock(&es->mu);
    return c;
}

static int log_path(const char *sdir, uint64_t num, char *buf, tess__err *err)
{
    return pathf(buf, err, "%s/%llu.log", sdir, (unsigned long long)num);
}

/* Whether the MANIFEST of sdir still names the chain starting at `first`: TESS_OK if so,
 * TESS_NOTFOUND if it names another (a commit folded the chain since), or an error. */
static int chain_still_named(const char *sdir, uint64_t first, tess__err *err)
{
    char man[PATH_MAX];
    tess__manifest *m2 = NULL;
    int rc = pathf(man, err, "%s/MANIFEST", sdir);
    if (rc == TESS_OK) rc = tess__manifest_read(man, &m2, err);
    if (rc == TESS_OK && m2->log != first) rc = TESS_NOTFOUND;
    tess__manifest_free(m2);
    return rc;
}

/* read_chain's flags */
enum {
    CH_RW = 1,          /* open the logs read-write; a missing first log is created empty */
    CH_SYNC = 2,        /* with CH_RW: make that creation durable */
    CH_STABLE = 4,      /* the caller holds the LOCK or the FOLD lock: no fold commits meanwhile */
    CH_SEALED_ONLY = 8, /* leave the active (last) log unread */
};

static void lg_add(tess__evlog *to, const tess__evlog *lg)
{
    to->end += lg->end;
    to->size += lg->size;
    to->frames += lg->frames;
    to->rows += lg->rows;
    to->next_ingest = lg->next_ingest;
}

/*
 * Reads the push-log chain of source directory sdir that starts at log `first`, whose first
 * frame has ingest number `first_ingest`: <first>.log, then each next log while it exists.
 * The next log existing *seals* the one before it (appenders create it under the LOCK and
 * never append to a sealed log again), so a log is read to its end once its successor was
 * seen: the frames appended before the seal are all read. Ingest numbers run on across the
 * chain. Without CH_STABLE, a missing next log is confirmed by reading the MANIFEST again: a
 * fold that unlinked it renamed a new MANIFEST first.
 *   max_rows: with CH_SEALED_ONLY, stop after the sealed log that brings the rows read to it
 *        (0: no limit); its successor is then reported as the active log;
 *   rows (may be NULL): receives the rows (set up by the caller);
 *   out: totals over the logs read (end and size summed; next_ingest: after the last frame
 *        read, or the active log's first with CH_SEALED_ONLY);
 *   last, last_fd, last_lg (may be NULL): the active log's number, an open fd of it (the
 *        caller's to close; without last_fd it is closed here), what was read of it alone.
 * Returns TESS_OK, TESS_NOTFOUND (not stable: the chain was folded since the manifest was read:
 * read it again), TESS_EIO (damaged; the manifest names a missing log), TESS_ENOMEM.
 */
static int read_chain(const char *sdir, uint64_t first, uint32_t first_ingest,
                      const tess__type *types, size_t ncols, unsigned flags, uint64_t max_rows,
                      tess__batch *rows,
                      tess__evlog *out, uint64_t *last, int *last_fd, tess__evlog *last_lg,
                      tess__err *err)
{
    memset(out, 0, sizeof(*out));
    out->next_ingest = first_ingest;
    if (last) *last = 0;
    if (last_fd) *last_fd = -1;
    if (last_lg) memset(last_lg, 0, sizeof(*last_lg));
    if (first == 0) return TESS_OK;
    char path[PATH_MAX], next[PATH_MAX];
    int oflags = ((flags & CH_RW) ? O_RDWR : O_RDONLY) | O_CLOEXEC, fd = -1, nfd = -1;
    uint64_t k = first;
    tess__evlog lg;
    memset(&lg, 0, sizeof(lg));
    lg.next_ingest = first_ingest;
    int rc = log_path(sdir, k, path, err);
    if (rc) return rc;
    fd = open(path, oflags);
    if (fd < 0 && errno == ENOENT) {
        if (flags & CH_RW) { /* only a damaged store lacks it (created before the commit) */
            fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
            if (fd >= 0 && (flags & CH_SYNC) && fsync_dir(sdir)) {
                rc = tess__err_set(err, TESS_EIO, "%s: fsync: %s", sdir, strerror(errno));
                goto out;
            }
        } else {
            /* folded since? (the commit renamed a new manifest before it unlinked the log) */
            rc = chain_still_named(sdir, first, err);
            if (rc == TESS_OK)
                rc = tess__err_set(err, TESS_EIO, "%s: missing (the MANIFEST names it)", path);
            goto out;
        }
    }
    if (fd < 0) {
        rc = tess__err_set(err, TESS_EIO, "%s: cannot open: %s", path, strerror(errno));
        goto out;
    }
    for (;;) {
        if ((rc = log_path(sdir, k + 1, next, err))) goto out;
        nfd = open(next, oflags);
        if (nfd < 0 && errno != ENOENT) {
            rc = tess__err_set(err, TESS_EIO, "%s: cannot open: %s", next, strerror(errno));
            goto out;
        }
        bool sealed = nfd >= 0;
        if (sealed || !(flags & CH_SEALED_ONLY)) {
            if ((rc = tess__evlog_read(fd, path, k, types, ncols, &lg, rows, err))) goto out;
        }
        if (!sealed) break;
        lg_add(out, &lg);
        if (max_rows && out->rows >= max_rows) { /* enough for one fold */
            close(fd);
            fd = nfd;
            nfd = -1;
            k++;
            memset(&lg, 0, sizeof(lg));
            lg.next_ingest = out->next_ingest;
            break;
        }
        uint32_t ni = lg.next_ingest;
        memset(&lg, 0, sizeof(lg));
        lg.next_ingest = ni;
        close(fd);
        fd = nfd;
        nfd = -1;
        k++;
        memcpy(path, next, sizeof(path));
    }
    /* k is the active log; without a lock, make sure the chain was not folded meanwhile */
    if (!(flags & CH_STABLE) && (rc = chain_still_named(sdir, first, err))) goto out;
    if (flags & CH_SEALED_ONLY) out->next_ingest = lg.next_ingest;
    else lg_add(out, &lg);
    if (last) *last = k;
    if (last_lg) *last_lg = lg;
    if (last_fd) {
        *last_fd = fd;
        fd = -1;
    }
out:
    if (fd >= 0) close(fd);
    if (nfd >= 0) close(nfd);
    return rc;
}

/*
 * Brings t->lg up to date with the active log of the chain the manifest names (the writer
 * holds the LOCK): from what the handle read before when it is still the active log (same
 * file, no next log), else by reading the chain from its start. The manifest's next ingest
 * number then counts every frame of the chain.
 */
static int txn_log(txn *t, tess__err *err)
{
    tess__manifest *m = t->m;
    memset(&t->lg, 0, sizeof(t->lg));
    t->chain_first = m->log;
    t->log_first = t->lg.next_ingest = m->next_ingest;
    t->active = 0;
    if (m->log == 0) return TESS_OK;
    tess__evlog_cache *c = t->lc;
    char path[PATH_MAX], next[PATH_MAX];
    struct stat st;
    int rc;
    if (c->fd >= 0 && c->log >= m->log) {
        if ((rc = log_path(t->dir, c->log, path, err)) ||
            (rc = log_path(t->dir, c->log + 1, next, err)))
            return rc;
        bool same = stat(path, &st) == 0 && st.st_dev == c->dev && st.st_ino == c->ino &&
                    (uint64_t)st.st_size >= c->lg.end && stat(next, &st) != 0 && errno == ENOENT;
        if (same) {
            if ((rc = tess__evlog_read(c->fd, path, c->log, t->types, t->src->nschema, &c->lg,
                                       NULL, err))) {
                log_cache_reset(c);
                return rc;
            }
            goto done;
        }
    }
    log_cache_reset(c);
    tess__evlog tot, lastlg;
    uint64_t last;
    int fd;
    rc = read_chain(t->dir, m->log, m->next_ingest, t->types, t->src->nschema,
                    CH_RW | CH_STABLE | (t->es->nosync ? 0 : CH_SYNC), 0, NULL, &tot, &last, &fd,
                    &lastlg, err);
    if (rc) return rc;
    if (fstat(fd, &st)) {
        rc = tess__err_set(err, TESS_EIO, "%s: stat: %s", t->dir, strerror(errno));
        close(fd);
        return rc;
    }
    c->fd = fd;
    c->dev = st.st_dev;
    c->ino = st.st_ino;
    c->log = last;
    c->lg = lastlg;
done:
    t->active = c->log;
    t->lg = c->lg;
    m->next_ingest = c->lg.next_ingest;
    return TESS_OK;
}

/* Takes the exclusive flock on <dir>/<name> (created if need be) into *fd: blocking, or
 * TESS_NOTFOUND at once when nonblock and another holds it. */
static int take_lock(const char *dir, const char *name, bool nonblock, int *fd, tess__err *err)
{
    char path[PATH_MAX];
    *fd = -1;
    int rc = pathf(path, err, "%s/%s", dir, name);
    if (rc) return rc;
    int f = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (f < 0) return tess__err_set(err, TESS_EIO, "%s: cannot open: %s", path, strerror(errno));
    while (flock(f, LOCK_EX | (nonblock ? LOCK_NB : 0)) != 0) {
        if (errno == EINTR) continue;
        if (nonblock && errno == EWOULDBLOCK) {
            close(f);
            return TESS_NOTFOUND;
        }
        rc = tess__err_set(err, TESS_EIO, "%s: cannot lock: %s", path, strerror(errno));
        close(f);
        return rc;
    }
    *fd = f;
    return TESS_OK;
}

static int txn_begin(tess__evstore *es, const tess__source *src, txn *t, unsigned flags,
                     tess__err *err)
{
    memset(t, 0, sizeof(*t));
    t->es = es;
    t->src = src;
    t->lock_fd = -1;
    t->fold_fd = -1;
    t->run_rows = TESS__EV_RUN_ROWS;
    t->own.fd = -1;
    char path[PATH_MAX];
    int rc;
    assert(!(flags & TX_CLEANUP) || (flags & TX_FOLD));
    if (!(t->types = tess__calloc(src->nschema ? src->nschema : 1, sizeof(tess__type))))
        return OOM(err);
    for (size_t c = 0; c < src->nschema; c++) t->types[c] = src->schema[c].type;
    if (!(t->lc = log_cache(es, tess__evstore_source(src)->name))) t->lc = &t->own;
    if ((rc = make_dir(es->offline_dir, es->store_dir, !es->nosync, err)) ||
        (rc = pathf(t->dir, err, "%s/%s", es->offline_dir, tess__evstore_source(src)->name)) ||
        (rc = make_dir(t->dir, es->offline_dir, !es->nosync, err)))
        goto fail;
    /* lock order: FOLD, then LOCK */
    if ((flags & TX_FOLD) && (rc = take_lock(t->dir, "FOLD", false, &t->fold_fd, err))) goto fail;
    if ((flags & TX_LOCK) && (rc = take_lock(t->dir, "LOCK", false, &t->lock_fd, err))) goto fail;
    if ((rc = pathf(path, err, "%s/MANIFEST", t->dir))) goto fail;
    rc = tess__manifest_read(path, &t->m, err);
    if (rc == TESS_NOTFOUND) {
        if (flags & TX_CLEANUP) cleanup_source(t->dir, NULL, flags & TX_LOCK);
        if (tess__manifest_new(src, &t->m)) {
            rc = OOM(err);
            goto fail;
        }
    } else if (rc) {
        goto fail;
    } else if (flags & TX_CLEANUP) {
        cleanup_source(t->dir, t->m, flags & TX_LOCK);
    }
    if ((rc = tess__manifest_check_schema(t->m, src, err)) ||
        (rc = tess__manifest_resolve(t->m, src, err)) || (rc = txn_log(t, err)))
        goto fail;
    return TESS_OK;
fail:
    txn_end(t);
    return rc;
}

static int txn_run(txn *t, tess__err *err);
static int run_room(txn *t, size_t k, tess__err *err);
static int spill(txn *t, long only, uint64_t *nullkeys, tess__err *err);

/* Puts rows into the transaction's run, spilling it (every layout) whenever it is full. */
static int run_add_rows(txn *t, const tess__batch *rows, tess__err *err)
{
    int rc = txn_run(t, err);
    for (size_t at = 0; rc == TESS_OK && at < rows->nrows;) {
        if (t->run.n >= t->run_rows && (rc = spill(t, -1, NULL, err))) break;
        size_t k = rows->nrows - at, room = t->run_rows > t->run.n ? t->run_rows - t->run.n : 0;
        if (k > room && room) k = room;
        if ((rc = run_room(t, k, err))) break;
        if (tess__run_append(&t->run, rows, NULL, at, k)) rc = OOM(err);
        at += k;
    }
    return rc;
}

/* Puts the rows of the whole push-log chain into the transaction's run: the commit then writes
 * them into segments and names a new, empty log (every commit under the LOCK does: see
 * txn_commit). */
static int txn_fold_log(txn *t, tess__err *err)
{
    if (t->log_folded || t->chain_first == 0) {
        t->log_folded = true;
        return TESS_OK;
    }
    tess__batch rows;
    tess__evlog tot;
    uint64_t last = 0;
    memset(&rows, 0, sizeof(rows));
    int rc = tess__batch_init(&rows, t->types, t->src->nschema, 1024) ? OOM(err) : TESS_OK;
    if (rc == TESS_OK)
        rc = read_chain(t->dir, t->chain_first, t->log_first, t->types, t->src->nschema,
                        CH_STABLE, 0, &rows, &tot, &last, NULL, NULL, err);
    if (rc == TESS_OK && (last != t->active || tot.next_ingest != t->lg.next_ingest ||
                          tot.rows != rows.nrows))
        rc = tess__err_set(err, TESS_EIO, "%s: the push log changed under the lock", t->dir);
    if (rc == TESS_OK) rc = run_add_rows(t, &rows, err);
    tess__batch_release(&rows);
    if (rc) return rc;
    t->log_folded = true;
    if (tot.frames) t->dirty = true;
    return TESS_OK;
}

/* Commit, step 1: pending segments take their final names, their directories are fsynced. */
static int commit_segments(txn *t, tess__err *err)
{
    char from[PATH_MAX], to[PATH_MAX];
    int rc = TESS_OK;
    tess__manifest *m = t->m;
    for (size_t i = 0; i < m->nlayouts; i++) {
        tess__mlayout *l = &m->layouts[i];
        bool any = false;
        for (size_t s = 0; s < l->nsegs; s++) {
            if (!l->segs[s].pending) continue;
            if ((rc = seg_path(t, l, l->segs[s].num, true, from, err)) ||
                (rc = seg_path(t, l, l->segs[s].num, false, to, err)))
                return rc;
            if (tess__io_rename(from, to))
                return tess__err_set(err, TESS_EIO, "%s: cannot rename: %s", from,
                                     strerror(errno));
            any = true;
        }
        if (any) {
            if ((rc = pathf(to, err, "%s/%s", t->dir, l->dir))) return rc;
            if (!t->es->nosync && fsync_dir(to))
                return tess__err_set(err, TESS_EIO, "%s: fsync: %s", to, strerror(errno));
        }
    }
    return TESS_OK;
}

/* Unlinks logs from..to-1 (in increasing order) of source directory dir. */
static void unlink_logs(const char *dir, uint64_t from, uint64_t to)
{
    char path[PATH_MAX];
    tess__err ignore = TESS__ERR_INIT;
    for (uint64_t k = from; from && k < to; k++)
        if (log_path(dir, k, path, &ignore) == TESS_OK) unlink(path);
    tess__err_release(&ignore);
}

static int txn_commit(txn *t, tess__err *err)
{
    assert(t->log_folded && t->lock_fd >= 0 && t->fold_fd >= 0);
    char to[PATH_MAX], from[PATH_MAX];
    tess__manifest *m = t->m;
    /* 1. pending segments take their final names */
    int rc = commit_segments(t, err);
    if (rc) goto fail;
    /* 2. a new, empty push log after the chain: the chain's rows are in the segments now
     * (every such commit folds it, txn_fold_log), and appends go to the new one */
    uint64_t old_log = m->log;
    t->new_log = t->active + 1;
    if ((rc = log_path(t->dir, t->new_log, to, err))) goto fail;
    int lfd = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (lfd < 0) {
        rc = tess__err_set(err, TESS_EIO, "%s: cannot create: %s", to, strerror(errno));
        goto fail;
    }
    close(lfd);
    if (!t->es->nosync && fsync_dir(t->dir)) {
        rc = tess__err_set(err, TESS_EIO, "%s: fsync: %s", t->dir, strerror(errno));
        goto fail;
    }
    m->log = t->new_log;
    log_cache_reset(t->lc); /* it describes the old log */
    /* 3. the manifest (if it is not renamed into place, abort removes the segments under
     * either name, and the new log) */
    bool renamed = false;
    if ((rc = pathf(from, err, "%s/MANIFEST.tmp", t->dir)) ||
        (rc = pathf(to, err, "%s/MANIFEST", t->dir)))
        goto fail;
    rc = tess__manifest_write(m, from, to, t->dir, !t->es->nosync, &renamed, err);
    if (rc && !renamed) {
        m->log = old_log;
        goto fail;
    }
    /* 4. committed; replaced segments and the folded logs go. Readers that opened them keep
     * them until they close them; one that finds a log gone reads the manifest again. When
     * only the directory fsync failed, the rename may not survive a power loss: they stay
     * (a later writer's cleanup removes what its manifest does not name). */
    if (rc == TESS_OK) {
        for (size_t i = 0; i < t->ndel; i++) unlink(t->del_paths[i]);
        unlink_logs(t->dir, t->chain_first, t->new_log);
    }
    txn_end(t);
    return rc;
fail:
    txn_abort(t);
    return rc;
}

/* Remembers a committed segment to unlink after the commit. */
static int txn_del(txn *t, const tess__mlayout *l, uint64_t num, tess__err *err)
{
    char path[PATH_MAX];
    int rc = seg_path(t, l, num, false, path, err);
    if (rc) return rc;
    if (t->ndel == t->del_cap) {
        size_t nc = t->del_cap ? t->del_cap * 2 : 16;
        char **p = tess__realloc(t->del_paths, nc * sizeof(char *));
        if (!p) return OOM(err);
        t->del_paths = p;
        t->del_cap = nc;
    }
    if (!(t->del_paths[t->ndel] = tess__strdup(path))) return OOM(err);
    t->ndel++;
    return TESS_OK;
}

/* ---- writing segments ----------------------------------------------------------------------- */

typedef struct segout {
    tess__segw *w;
    uint64_t num;
    size_t li;
} segout;

static int seg_begin(txn *t, size_t li, segout *so, tess__err *err)
{
    char ldir[PATH_MAX], path[PATH_MAX];
    tess__mlayout *l = &t->m->layouts[li];
    int rc;
    so->w = NULL;
    so->li = li;
    so->num = t->m->next_seg++;
    if ((rc = pathf(ldir, err, "%s/%s", t->dir, l->dir)) ||
        (rc = make_dir(ldir, t->dir, !t->es->nosync, err)) ||
        (rc = seg_path(t, l, so->num, true, path, err)))
        return rc;
    unlink(path); /* a stray of a crashed writer could have the same number */
    rc = tess__segw_open(path, NULL, t->src, l->cols, l->nkeys, &so->w, err);
    if (rc == TESS_OK && t->es->nosync) tess__segw_set_sync(so->w, false);
    return rc;
}

static int seg_end(txn *t, segout *so, tess__err *err)
{
    tess__seginfo info;
    tess__segw *w = so->w;
    so->w = NULL;
    int rc = tess__segw_finish(w, &info, err);
    if (rc) return rc;
    tess__mlayout *l = &t->m->layouts[so->li];
    tess__mseg s = {so->num, info.rows, info.min_ts, info.max_ts, info.bytes, true};
    if (tess__manifest_add_seg(l, &s)) {
        char path[PATH_MAX];
        if (seg_path(t, l, so->num, true, path, err) == TESS_OK) unlink(path);
        return OOM(err);
    }
    t->dirty = true;
    return TESS_OK;
}

/* ---- spills: a run's rows, sorted and written per layout ------------------------------------ */

/* Rows read per reader call and rows a run holds before it is spilled: run_rows is honoured
 * to a reader batch. */
static size_t batch_rows(const txn *t)
{
    return t->run_rows < TESS__SEG_BLOCK_ROWS ? t->run_rows : TESS__SEG_BLOCK_ROWS;
}

/* The transaction's run, set up on first use. */
static int txn_run(txn *t, tess__err *err)
{
    if (t->run_ready) return TESS_OK;
    if (tess__run_init(&t->run, t->src)) {
        tess__run_release(&t->run);
        return OOM(err);
    }
    t->run_ready = true;
    return TESS_OK;
}

/* Room in the run for k more rows: it grows eightfold (few copies) up to what a spill leaves
 * room for (run_rows plus a batch), so that small ingests stay small. */
static int run_room(txn *t, size_t k, tess__err *err)
{
    tess__run *r = &t->run;
    if (r->n + k <= r->cap) return TESS_OK;
    size_t max = t->run_rows + batch_rows(t), cap = r->cap ? r->cap * 8 : 4096;
    while (cap < r->n + k) cap *= 8;
    if (cap > max && max >= r->n + k) cap = max;
    return tess__run_reserve(r, cap) ? OOM(err) : TESS_OK;
}

static bool keys_present(const tess__batch *b, size_t row, const size_t *cols, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        const tess__col *c = &b->cols[cols[k]];
        if (c->nulls && c->nulls[row]) return false;
    }
    return true;
}

static bool run_keys_present(const tess__run *r, size_t row, const size_t *cols, size_t n)
{
    for (size_t k = 0; k < n; k++)
        if (tess__run_null(r, row, cols[k])) return false;
    return true;
}

static void worker_release(worker *w)
{
    tess__evsort_ws_free(w->ws);
    w->ws = NULL;
    tess__batch_release(&w->blk);
}

/* One layout's part of a spill: its rows (indices into the run), sorted then written to a new
 * segment. */
typedef struct job {
    size_t li;
    uint32_t *rows;
    size_t n;
    tess__evorder ord;
    segout so;
    tess__seginfo info;
    int rc;
    tess__err err;
    bool done; /* finished: the file exists under its temporary name */
} job;

typedef struct spill_ctx {
    const tess__source *src;
    const tess__run *run;
    job *jobs;
    size_t njobs;
    size_t next; /* next job to take (under mu) */
    pthread_mutex_t mu;
    worker *helper;
} spill_ctx;

/* Sorts the job's rows, writes them a block at a time and finishes the segment. Touches no
 * shared state but the job queue: runs on either thread. */
static int run_job(spill_ctx *c, job *j, worker *w)
{
    int rc = TESS_OK;
    if (!w->ws && !(w->ws = tess__evsort_ws_new())) return OOM(&j->err);
    if (tess__evsort(c->run, j->rows, j->n, &j->ord, w->ws)) return OOM(&j->err);
    if (!w->blk.cols) {
        tess__type types[256], *tp = types;
        size_t nc = c->src->nschema;
        if (nc > 256 && !(tp = tess__malloc(nc * sizeof(tess__type)))) return OOM(&j->err);
        for (size_t k = 0; k < nc; k++) tp[k] = c->src->schema[k].type;
        rc = tess__batch_init(&w->blk, tp, nc, TESS__SEG_BLOCK_ROWS);
        if (tp != types) tess__free(tp);
        if (rc) return OOM(&j->err);
    }
    for (size_t at = 0; at < j->n && rc == TESS_OK; at += TESS__SEG_BLOCK_ROWS) {
        size_t k = j->n - at < TESS__SEG_BLOCK_ROWS ? j->n - at : TESS__SEG_BLOCK_ROWS;
        tess__batch *blk = &w->blk;
        blk->nrows = 0;
        tess__run_gather(c->run, j->rows + at, k, blk);
        rc = tess__segw_add_block(j->so.w, blk, &j->err);
    }
    if (rc) return rc;
    tess__segw *sw = j->so.w;
    j->so.w = NULL;
    if ((rc = tess__segw_finish(sw, &j->info, &j->err))) return rc;
    j->done = true;
    return TESS_OK;
}

static void run_jobs(spill_ctx *c, worker *w)
{
    for (;;) {
        pthread_mutex_lock(&c->mu);
        size_t i = c->next < c->njobs ? c->next++ : c->njobs;
        pthread_mutex_unlock(&c->mu);
        if (i >= c->njobs) return;
        job *j = &c->jobs[i];
        j->rc = run_job(c, j, w);
    }
}

static void *helper_main(void *arg)
{
    spill_ctx *c = arg;
    run_jobs(c, c->helper);
    return NULL;
}

/* A new job for layout li: the run's rows that it holds (marked in `held`), or all rows no
 * keyed layout holds (rest). Returns TESS_OK with *added false when there are none. */
static int add_job(txn *t, spill_ctx *c, size_t li, bool rest, uint8_t *held, bool *added,
                   tess__err *err)
{
    const tess__run *r = &t->run;
    job *j = &c->jobs[c->njobs];
    *added = false;
    if (!(j->rows = tess__malloc(r->n * sizeof(uint32_t)))) return OOM(err);
    const tess__mlayout *l = &t->m->layouts[li];
    size_t k = 0;
    for (size_t i = 0; i < r->n; i++) {
        if (rest ? held[i] : !run_keys_present(r, i, l->cols, l->nkeys)) continue;
        j->rows[k++] = (uint32_t)i;
        if (held && !rest) held[i] = 1;
    }
    j->li = li;
    j->n = k;
    if (k == 0) {
        tess__free(j->rows);
        j->rows = NULL;
        return TESS_OK;
    }
    c->njobs++;
    *added = true;
    return TESS_OK;
}

/*
 * Writes the run and empties it: one segment per keyed layout in `only` (or every keyed layout
 * if only < 0) with the rows whose keys are all non-null, and (when only < 0) the rows no keyed
 * layout holds into ~rest. nullkeys[li] (may be NULL) counts each layout's left-out rows.
 * Layouts are sorted and written in parallel on a second thread when the run is large.
 */
static int spill(txn *t, long only, uint64_t *nullkeys, tess__err *err)
{
    tess__run *r = &t->run;
    if (!t->run_ready || r->n == 0) return TESS_OK;
    int rc = TESS_OK;
    size_t n = r->n, nl = t->m->nlayouts;
    bool added, mu = false;
    spill_ctx c;
    memset(&c, 0, sizeof(c));
    c.src = t->src;
    c.run = r;
    c.helper = &t->helper;
    c.jobs = tess__calloc(nl + 1, sizeof(job));
    uint8_t *held = only < 0 ? tess__calloc(n, 1) : NULL;
    if (!c.jobs || (only < 0 && !held)) {
        rc = OOM(err);
        goto out;
    }
    for (size_t li = 0; li < nl; li++) {
        tess__mlayout *l = &t->m->layouts[li];
        if (l->nkeys == 0 || (only >= 0 && (size_t)only != li)) continue;
        if ((rc = add_job(t, &c, li, false, held, &added, err))) goto out;
        size_t k = added ? c.jobs[c.njobs - 1].n : 0;
        l->null_key_rows += n - k;
        if (nullkeys) nullkeys[li] += n - k;
    }
    if (only < 0) {
        size_t k = 0;
        for (size_t i = 0; i < n; i++) k += !held[i];
        if (k) {
            tess__mlayout *rest = tess__manifest_layout(t->m, t->src, NULL, 0);
            if (!rest && tess__manifest_add_layout(t->m, t->src, NULL, 0, &rest)) {
                rc = OOM(err);
                goto out;
            }
            t->dirty = true;
            if ((rc = add_job(t, &c, (size_t)(rest - t->m->layouts), true, held, &added, err)))
                goto out;
        }
    }
    /* open every segment here (manifest numbers, directories), then sort and write */
    for (size_t i = 0; i < c.njobs; i++) {
        job *j = &c.jobs[i];
        const tess__mlayout *l = &t->m->layouts[j->li];
        j->ord = tess__evorder_of(t->src, l->cols, l->nkeys);
        if ((rc = seg_begin(t, j->li, &j->so, err))) goto out;
    }
    progress(t, "write", 0, n);
    if (pthread_mutex_init(&c.mu, NULL)) {
        rc = tess__err_set(err, TESS_ENOMEM, "cannot create a mutex");
        goto out;
    }
    mu = true;
    /* a helper thread for large runs (if it cannot start, this thread does everything) */
    pthread_t helper;
    bool helped = c.njobs >= 2 && n >= 2 * (size_t)TESS__SEG_BLOCK_ROWS &&
                  pthread_create(&helper, NULL, helper_main, &c) == 0;
    run_jobs(&c, &t->main);
    if (helped) pthread_join(helper, NULL);
    for (size_t i = 0; i < c.njobs && rc == TESS_OK; i++)
        if (c.jobs[i].rc) {
            rc = c.jobs[i].rc;
            tess__err_set(err, rc, "%s", tess__err_msg(&c.jobs[i].err));
        }
    if (rc) goto out;
    /* all written: into the manifest */
    for (size_t i = 0; i < c.njobs; i++) {
        job *j = &c.jobs[i];
        tess__mseg sg = {j->so.num, j->info.rows, j->info.min_ts, j->info.max_ts, j->info.bytes,
                         true};
        if (tess__manifest_add_seg(&t->m->layouts[j->li], &sg)) {
            rc = OOM(err);
            goto out;
        }
        j->done = false; /* the manifest has it: abort removes it */
        t->dirty = true;
    }
    tess__run_clear(r);
out:
    if (mu) pthread_mutex_destroy(&c.mu);
    for (size_t i = 0; c.jobs && i < c.njobs; i++) {
        job *j = &c.jobs[i];
        tess__segw_abort(j->so.w);
        if (j->done) { /* finished but not in the manifest */
            char path[PATH_MAX];
            tess__err ignore = TESS__ERR_INIT;
            if (seg_path(t, &t->m->layouts[j->li], j->so.num, true, path, &ignore) == TESS_OK)
                unlink(path);
            tess__err_release(&ignore);
        }
        tess__free(j->rows);
        tess__err_release(&j->err);
    }
    tess__free(c.jobs);
    tess__free(held);
    return rc;
}

/* ---- merging and building layouts ----------------------------------------------------------- */

/* Readers for a layout's segments (pending ones under their temporary names). */
static int open_readers(txn *t, const tess__mlayout *l, tess__segr ***out, tess__err *err)
{
    *out = NULL;
    tess__segr **rs = tess__calloc(l->nsegs ? l->nsegs : 1, sizeof(*rs));
    if (!rs) return OOM(err);
    char path[PATH_MAX];
    int rc = TESS_OK;
    for (size_t s = 0; s < l->nsegs && rc == TESS_OK; s++) {
        if ((rc = seg_path(t, l, l->segs[s].num, l->segs[s].pending, path, err))) break;
        rc = tess__segr_open(path, NULL, t->src, l->cols, l->nkeys, &rs[s], err);
        if (rc == TESS_NOTFOUND) rc = TESS_EIO; /* listed by the manifest: the store is damaged */
    }
    if (rc) {
        for (size_t s = 0; s < l->nsegs; s++) tess__segr_close(rs[s]);
        tess__free(rs);
        return rc;
    }
    *out = rs;
    return TESS_OK;
}

/* Merges the segments of layout li with pick[s] set (at least two) into one new segment (a
 * k-way merge, one block per segment in memory), which takes their place in the list. */
static int merge_segs(txn *t, size_t li, const bool *pick, tess__err *err)
{
    tess__mlayout *l = &t->m->layouts[li];
    size_t nold = l->nsegs, npick = 0;
    tess__segr **rs = NULL;
    tess__evscan *sc = NULL;
    segout so = {NULL, 0, li};
    uint64_t total = 0, done = 0;
    int rc = open_readers(t, l, &rs, err);
    if (rc) return rc;
    for (size_t s = 0; s < nold; s++) {
        if (pick[s]) {
            rs[npick++] = rs[s];
            total += l->segs[s].rows;
        } else {
            tess__segr_close(rs[s]);
        }
    }
    rc = tess__evscan_new(t->src, l->cols, l->nkeys, rs, npick, NULL, true, &sc, err);
    tess__free(rs);
    if (rc) return rc;
    if ((rc = seg_begin(t, li, &so, err))) goto out;
    const tess__batch *b;
    while ((rc = tess__evscan_next(sc, &b, err)) == TESS_OK) {
        if ((rc = tess__segw_add_block(so.w, b, err))) goto out;
        done += b->nrows;
        progress(t, "merge", done, total);
    }
    if (rc != TESS_NOTFOUND) goto out;
    if ((rc = seg_end(t, &so, err))) goto out;
    l = &t->m->layouts[li];
    /* the new segment is last; the picked ones go (committed: after the commit) */
    for (size_t s = 0; s < nold; s++)
        if (pick[s] && !l->segs[s].pending && (rc = txn_del(t, l, l->segs[s].num, err))) goto out;
    char path[PATH_MAX];
    size_t k = 0;
    for (size_t s = 0; s <= nold; s++) {
        if (s < nold && pick[s]) {
            if (l->segs[s].pending && seg_path(t, l, l->segs[s].num, true, path, err) == TESS_OK)
                unlink(path);
            continue;
        }
        l->segs[k++] = l->segs[s];
    }
    l->nsegs = k;
    t->merged = true;
out:
    tess__segw_abort(so.w);
    tess__evscan_close(sc);
    return rc;
}

/* A segment's size tier: 0 below TESS__EV_TIER_ROWS rows, then one more per factor of
 * TESS__EV_MERGE_FANIN. */
static unsigned tier_of(uint64_t rows)
{
    unsigned tier = 0;
    for (uint64_t lim = TESS__EV_TIER_ROWS; rows >= lim && tier < 40; lim *= TESS__EV_MERGE_FANIN)
        tier++;
    return tier;
}

/*
 * Which segments of l to merge now, if any (pick[s]; false when there is nothing to do):
 *   - among the small segments (under half of TESS__EV_RUN_ROWS rows: the segment of a full
 *     run is never small, even when a layout leaves out its rows with null keys), the lowest tier
 *     with at least TESS__EV_MERGE_FANIN of them: those and every smaller segment (so small
 *     segments are merged together, and a bigger one only with its peers);
 *   - else, above TESS__EV_MAX_SEGMENTS segments: the smallest ones, down to the maximum.
 * Large segments are left alone until then: a scan merges a few of them for little (a
 * merge costs about as much as the ingest that wrote the rows; a scan of 5 segments a few
 * percent more than of one), so a big ingest of several runs keeps one segment per run.
 */
static bool merge_pick(const tess__mlayout *l, bool *pick)
{
    size_t n = l->nsegs, count[41] = {0};
    for (size_t s = 0; s < n; s++)
        if (l->segs[s].rows < TESS__EV_RUN_ROWS / 2) count[tier_of(l->segs[s].rows)]++;
    for (unsigned tier = 0; tier <= 40; tier++) {
        if (count[tier] < TESS__EV_MERGE_FANIN) continue;
        for (size_t s = 0; s < n; s++)
            pick[s] = l->segs[s].rows < TESS__EV_RUN_ROWS / 2 && tier_of(l->segs[s].rows) <= tier;
        return true;
    }
    if (n <= TESS__EV_MAX_SEGMENTS) return false;
    /* the n - MAX + 1 smallest (ties: the earlier listed) */
    size_t k = n - TESS__EV_MAX_SEGMENTS + 1;
    for (size_t s = 0; s < n; s++) {
        size_t smaller = 0;
        for (size_t o = 0; o < n; o++)
            smaller += l->segs[o].rows < l->segs[s].rows ||
                       (l->segs[o].rows == l->segs[s].rows && o < s);
        pick[s] = smaller < k;
    }
    return true;
}

static int merge_if_needed(txn *t, tess__err *err)
{
    for (size_t li = 0; li < t->m->nlayouts; li++) {
        for (;;) {
            const tess__mlayout *l = &t->m->layouts[li];
            if (l->nsegs < 2) break;
            bool *pick = tess__calloc(l->nsegs, sizeof(bool));
            if (!pick) return OOM(err);
            int rc = merge_pick(l, pick) ? merge_segs(t, li, pick, err) : TESS_NOTFOUND;
            tess__free(pick);
            if (rc == TESS_NOTFOUND) break;
            if (rc) return rc;
        }
    }
    return TESS_OK;
}

/* Builds the (new, empty) keyed layout `li` from the other layouts' events. */
static int build_layout(txn *t, size_t li, tess__err *err)
{
    int rc = txn_run(t, err);
    if (rc) return rc;
    uint32_t *rows = tess__malloc(TESS__SEG_BLOCK_ROWS * sizeof(uint32_t));
    if (!rows) return OOM(err);
    size_t nl = t->m->nlayouts;
    uint64_t nullkeys = 0;
    tess__evscan_opts so;
    memset(&so, 0, sizeof(so));
    so.batch_rows = batch_rows(t); /* what the run has room for after run_rows */
    /* keyed layouts in manifest order, then ~rest */
    for (int pass = 0; pass < 2 && rc == TESS_OK; pass++) {
        for (size_t j = 0; j < nl && rc == TESS_OK; j++) {
            tess__mlayout *src_l = &t->m->layouts[j];
            if (j == li || (pass == 0) != (src_l->nkeys > 0) || src_l->nsegs == 0) continue;
            tess__segr **rs = NULL;
            tess__evscan *sc = NULL;
            if ((rc = open_readers(t, src_l, &rs, err))) break;
            rc = tess__evscan_new(t->src, src_l->cols, src_l->nkeys, rs, src_l->nsegs, &so, true,
                                  &sc, err);
            tess__free(rs);
            if (rc) break;
            const tess__batch *b;
            const tess__mlayout *nw = &t->m->layouts[li];
            while ((rc = tess__evscan_next(sc, &b, err)) == TESS_OK) {
                size_t k = 0;
                for (size_t row = 0; row < b->nrows; row++) {
                    /* seen in an earlier source already? (~rest: in any keyed layout) */
                    bool seen = false;
                    for (size_t i = 0; i < nl && !seen; i++) {
                        const tess__mlayout *o = &t->m->layouts[i];
                        if (i == li || o->nkeys == 0 || (pass == 0 && i >= j)) continue;
                        seen = keys_present(b, row, o->cols, o->nkeys);
                    }
                    if (seen) continue;
                    if (!keys_present(b, row, nw->cols, nw->nkeys)) {
                        nullkeys++;
                        continue;
                    }
                    rows[k++] = (uint32_t)row;
                }
                if (t->run.n >= t->run_rows && (rc = spill(t, (long)li, NULL, err))) break;
                if ((rc = run_room(t, k, err))) break;
                if (tess__run_append(&t->run, b, rows, 0, k)) {
                    rc = OOM(err);
                    break;
                }
            }
            if (rc == TESS_NOTFOUND) rc = TESS_OK;
            tess__evscan_close(sc);
        }
    }
    if (rc == TESS_OK) rc = spill(t, (long)li, NULL, err);
    if (rc == TESS_OK) t->m->layouts[li].null_key_rows = nullkeys;
    tess__run_clear(&t->run);
    tess__free(rows);
    return rc;
}

static int check_layout(const tess__source *src, const size_t *keys, size_t nkeys, tess__err *err)
{
    if (nkeys == 0 || !keys)
        return tess__err_set(err, TESS_EINVAL, "source \"%s\": a layout needs key columns",
                             src->name);
    for (size_t k = 0; k < nkeys; k++) {
        if (keys[k] >= src->nschema)
            return tess__err_set(err, TESS_EINVAL, "source \"%s\": layout column %zu out of range",
                                 src->name, keys[k]);
        for (size_t j = 0; j < k; j++)
            if (keys[j] == keys[k])
                return tess__err_set(err, TESS_EINVAL,
                                     "source \"%s\": layout column \"%s\" is listed twice",
                                     src->name, src->schema[keys[k]].name);
    }
    return TESS_OK;
}

/* The layout's index, adding it (and building it from the stored events) if missing. */
static int txn_layout(txn *t, const size_t *keys, size_t nkeys, size_t *li, tess__err *err)
{
    tess__mlayout *l = tess__manifest_layout(t->m, t->src, keys, nkeys);
    if (l) {
        *li = (size_t)(l - t->m->layouts);
        return TESS_OK;
    }
    bool build = has_rows(t->m);
    if (tess__manifest_add_layout(t->m, t->src, keys, nkeys, &l)) return OOM(err);
    t->dirty = true;
    *li = (size_t)(l - t->m->layouts);
    return build ? build_layout(t, *li, err) : TESS_OK;
}

int tess__evstore_ensure_layout(tess__evstore *es, const tess__source *src, const size_t *keys,
                                size_t nkeys, tess__err *err)
{
    int rc = check_layout(src, keys, nkeys, err);
    if (rc) return rc;
    txn t;
    if ((rc = txn_begin(es, src, &t, TX_WRITE, err))) return rc;
    if (tess__manifest_layout(t.m, src, keys, nkeys) ||
        (!has_rows(t.m) && t.lg.rows == 0 && t.active == t.chain_first)) {
        txn_end(&t); /* nothing to do */
        return TESS_OK;
    }
    size_t li;
    if ((rc = txn_layout(&t, keys, nkeys, &li, err)) || (rc = txn_fold_log(&t, err)) ||
        (rc = spill(&t, -1, NULL, err)) || (rc = merge_if_needed(&t, err))) {
        txn_abort(&t);
        return rc;
    }
    return txn_commit(&t, err);
}

/* ---- ingest --------------------------------------------------------------------------------- */

void tess__ingest_result_release(tess__ingest_result *r)
{
    if (!r) return;
    for (size_t i = 0; i < r->files_skipped; i++) tess__free(r->skipped ? r->skipped[i] : NULL);
    tess__free(r->skipped);
    tess__free(r->bad_text);
    tess__free(r->null_key_rows);
    memset(r, 0, sizeof(*r));
}

static int hash_file(const char *path, const char *display, uint8_t out[16], uint64_t *bytes,
                     txn *t, uint64_t *done, uint64_t total, tess__err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return tess__err_set(err, TESS_EIO, "%s: cannot open: %s", display, strerror(errno));
    int rc = TESS_OK;
    size_t cap = (size_t)1 << 20;
    char *buf = tess__malloc(cap);
    XXH3_state_t st;
    if (!buf) {
        rc = OOM(err);
        goto out;
    }
    XXH3_128bits_reset(&st);
    *bytes = 0;
    for (;;) {
        ssize_t r = read(fd, buf, cap);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            rc = tess__err_set(err, TESS_EIO, "%s: read: %s", display, strerror(errno));
            goto out;
        }
        if (r == 0) break;
        XXH3_128bits_update(&st, buf, (size_t)r);
        *bytes += (uint64_t)r;
        *done += (uint64_t)r;
        progress(t, "hash", *done, total);
    }
    XXH128_hash_t h = XXH3_128bits_digest(&st);
    for (int i = 0; i < 8; i++) {
        out[i] = (uint8_t)(h.high64 >> (56 - 8 * i));
        out[8 + i] = (uint8_t)(h.low64 >> (56 - 8 * i));
    }
out:
    tess__free(buf);
    close(fd);
    return rc;
}

/* Reads one file into the run (spilling as it fills); appends its manifest entry. */
static int read_file(txn *t, const char *path, const char *display, uint32_t ingest,
                     const tess__ingest_opts *opts, const uint8_t hash[16], uint64_t bytes,
                     int64_t now, uint64_t *nullkeys, tess__buf *bad, tess__ingest_result *res,
                     uint64_t *read_done, uint64_t read_total, tess__err *err)
{
    const tess__source *src = t->src;
    tess__reader_opts ro;
    memset(&ro, 0, sizeof(ro));
    ro.format = src->format;
    ro.delimiter = src->delimiter;
    ro.max_bad_rows = opts->max_bad_rows;
    ro.display = display;
    tess__reader *rd = NULL;
    int rc = tess__reader_open(path, src, &ro, &rd, err);
    if (rc) return rc;
    uint64_t rows = 0, base = *read_done;
    int64_t mn = INT64_MAX, mx = INT64_MIN;
    const size_t tc = src->ts_col;
    if ((rc = txn_run(t, err))) goto out;
    if (!t->rd.cols) {
        tess__type *types = t->run.types; /* the schema's */
        if (tess__batch_init(&t->rd, types, src->nschema, batch_rows(t))) {
            rc = OOM(err);
            goto out;
        }
    }
    for (;;) {
        if (t->run.n >= t->run_rows && (rc = spill(t, -1, nullkeys, err))) goto out;
        tess__batch *b = &t->rd;
        rc = tess__reader_next(rd, b, err);
        if (rc == TESS_NOTFOUND || (rc == TESS_OK && b->nrows == 0)) {
            rc = TESS_OK;
            break;
        }
        if (rc) goto out;
        const tess__col *col = &b->cols[tc];
        for (size_t i = 0; i < b->nrows; i++) {
            if ((uint64_t)b->seq[i] > UINT32_MAX) {
                rc = tess__err_set(err, TESS_EINVAL,
                                   "%s: more than 4294967295 rows in one file: split it", display);
                goto out;
            }
            b->seq[i] = (int64_t)(((uint64_t)ingest << 32) | (uint64_t)b->seq[i]);
            if (col->nulls && col->nulls[i]) continue;
            int64_t v = ((const int64_t *)col->data)[i];
            if (v < mn) mn = v;
            if (v > mx) mx = v;
        }
        if (rows == 0 && t->run.n + b->nrows > t->run.cap) {
            /* the file's first batch tells its bytes per row: room for all of it at once
             * (growing copies the rows and touches fresh memory twice) */
            uint64_t used = tess__reader_bytes(rd);
            double est = used ? (double)b->nrows * (double)read_total / (double)used * 1.125 : 0;
            size_t max = t->run_rows + batch_rows(t);
            size_t want = est < (double)max ? (size_t)est + batch_rows(t) : max;
            if (want > max) want = max;
            if (want > t->run.cap && tess__run_reserve(&t->run, want)) {
                rc = OOM(err);
                goto out;
            }
        }
        if ((rc = run_room(t, b->nrows, err))) goto out;
        if (tess__run_append(&t->run, b, NULL, 0, b->nrows)) {
            rc = OOM(err);
            goto out;
        }
        rows += b->nrows;
        *read_done = base + tess__reader_bytes(rd);
        progress(t, "read", *read_done, read_total);
    }
    res->bad_rows += tess__reader_bad_count(rd);
    const char *bt = tess__reader_bad_text(rd);
    if (bt && *bt) {
        if (tess__buf_puts(bad, bt) || (bt[strlen(bt) - 1] != '\n' && tess__buf_putc(bad, '\n'))) {
            rc = OOM(err);
            goto out;
        }
    }
    tess__mfile f;
    memset(&f, 0, sizeof(f));
    memcpy(f.hash, hash, 16);
    f.name = (char *)display;
    f.rows = rows;
    f.ingest = ingest;
    f.time = now;
    f.min_ts = mn;
    f.max_ts = mx;
    f.bytes = bytes;
    if (tess__manifest_add_file(t->m, &f)) rc = OOM(err);
    t->dirty = true;
    res->rows += rows;
out:
    tess__reader_close(rd);
    return rc;
}

int tess__evstore_ingest(tess__evstore *es, const tess__source *src, const tess__evlayout *layouts,
                         size_t nlayouts, const char *const *paths, size_t npaths,
                         const tess__ingest_opts *opts, tess__ingest_result *res, tess__err *err)
{
    tess__ingest_opts dflt;
    tess__ingest_result local;
    memset(&dflt, 0, sizeof(dflt));
    if (!opts) opts = &dflt;
    if (!res) res = &local;
    memset(res, 0, sizeof(*res));
    int rc = TESS_OK;
    txn t;
    bool in_txn = false;
    size_t *lidx = NULL;
    uint8_t(*hashes)[16] = NULL;
    uint64_t *sizes = NULL, *nullkeys = NULL;
    bool *skip = NULL;
    tess__buf bad = TESS__BUF_INIT;

    res->nlayouts = nlayouts;
    res->null_key_rows = tess__calloc(nlayouts ? nlayouts : 1, sizeof(uint64_t));
    res->skipped = tess__calloc(npaths ? npaths : 1, sizeof(char *));
    lidx = tess__calloc(nlayouts ? nlayouts : 1, sizeof(size_t));
    hashes = tess__calloc(npaths ? npaths : 1, 16);
    sizes = tess__calloc(npaths ? npaths : 1, sizeof(uint64_t));
    skip = tess__calloc(npaths ? npaths : 1, sizeof(bool));
    if (!res->null_key_rows || !res->skipped || !lidx || !hashes || !sizes || !skip) {
        rc = OOM(err);
        goto out;
    }
    if (src->format != TESS_FORMAT_CSV && src->format != TESS_FORMAT_JSONL) {
        rc = tess__err_set(err, TESS_EINVAL, "source \"%s\" has no file format (a push source?)",
                           src->name);
        goto out;
    }
    for (size_t i = 0; i < nlayouts; i++)
        if ((rc = check_layout(src, layouts[i].cols, layouts[i].ncols, err))) goto out;
    int64_t now = 0;
    if (tess__now(&now)) {
        rc = tess__err_set(err, TESS_EINVAL, "TESSERA_NOW is not a timestamp");
        goto out;
    }

    if ((rc = txn_begin(es, src, &t, TX_WRITE, err))) goto out;
    in_txn = true;
    t.progress = opts->progress;
    t.progress_ctx = opts->progress_ctx;
    if (opts->run_rows) t.run_rows = opts->run_rows;

    /* 1. the layouts (new ones built from the stored events) */
    for (size_t i = 0; i < nlayouts; i++)
        if ((rc = txn_layout(&t, layouts[i].cols, layouts[i].ncols, &lidx[i], err))) goto out;
    /* the push log's rows, written first (ingest numbers of the files follow the log's; the
     * null-key counts of the result are the files') */
    if ((rc = txn_fold_log(&t, err)) || (rc = spill(&t, -1, NULL, err))) goto out;

    /* 2. content hashes: which files are new */
    uint64_t total = 0, done = 0;
    for (size_t i = 0; i < npaths; i++) {
        struct stat st;
        if (stat(paths[i], &st) == 0) total += (uint64_t)st.st_size;
    }
    for (size_t i = 0; i < npaths; i++) {
        const char *disp = opts->display && opts->display[i] ? opts->display[i] : paths[i];
        if ((rc = hash_file(paths[i], disp, hashes[i], &sizes[i], &t, &done, total, err))) goto out;
        if (opts->force) continue;
        for (size_t f = 0; f < t.m->nfiles && !skip[i]; f++)
            skip[i] = memcmp(t.m->files[f].hash, hashes[i], 16) == 0;
        for (size_t j = 0; j < i && !skip[i]; j++)
            skip[i] = !skip[j] && memcmp(hashes[j], hashes[i], 16) == 0;
        if (skip[i]) {
            if (!(res->skipped[res->files_skipped] = tess__strdup(disp))) {
                rc = OOM(err);
                goto out;
            }
            res->files_skipped++;
        }
    }

    /* 3. read, spill sorted runs */
    nullkeys = tess__calloc(t.m->nlayouts + 1, sizeof(uint64_t));
    if (!nullkeys) {
        rc = OOM(err);
        goto out;
    }
    uint64_t read_total = 0, read_done = 0;
    for (size_t i = 0; i < npaths; i++)
        if (!skip[i]) read_total += sizes[i];
    for (size_t i = 0; i < npaths; i++) {
        if (skip[i]) continue;
        if (t.m->next_ingest == UINT32_MAX) {
            rc = tess__err_set(err, TESS_EINVAL, "source \"%s\": no ingest number left", src->name);
            goto out;
        }
        uint32_t ingest = t.m->next_ingest++;
        if (!res->first_ingest) res->first_ingest = ingest;
        res->last_ingest = ingest;
        const char *disp = opts->display && opts->display[i] ? opts->display[i] : paths[i];
        if ((rc = read_file(&t, paths[i], disp, ingest, opts, hashes[i], sizes[i], now,
                            nullkeys, &bad, res, &read_done, read_total, err)))
            goto out;
        res->files_ingested++;
    }
    if ((rc = spill(&t, -1, nullkeys, err))) goto out;

    /* 4. merges, commit */
    if ((rc = merge_if_needed(&t, err))) goto out;
    res->merged = t.merged;
    /* everything that can fail is done before the commit */
    res->bad_text = bad.len ? tess__buf_take(&bad) : tess__strdup("");
    if (!res->bad_text) {
        rc = OOM(err);
        goto out;
    }
    in_txn = false;
    if (!t.dirty) txn_end(&t); /* nothing new */
    else if ((rc = txn_commit(&t, err)))
        goto out;
    for (size_t i = 0; i < nlayouts; i++) res->null_key_rows[i] = nullkeys[lidx[i]];
out:
    if (in_txn) txn_abort(&t);
    tess__buf_release(&bad);
    tess__free(lidx);
    tess__free(hashes);
    tess__free(sizes);
    tess__free(skip);
    tess__free(nullkeys);
    if (res == &local) tess__ingest_result_release(&local);
    return rc;
}

static int write_all_at(int fd, const uint8_t *p, size_t n, uint64_t off)
{
    while (n) {
        ssize_t w = tess__io_pwrite(fd, p, n, (off_t)off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            if (w == 0) errno = EIO;
            return -1;
        }
        p += w;
        n -= (size_t)w;
        off += (uint64_t)w;
    }
    return 0;
}

static void fold_request(tess__evstore *es, const char *name);

/*
 * The fast path of an append: the group as one frame at the end of the active log (cutting a
 * torn tail first), fdatasynced. When the frame would take the active log past a bound, the log
 * is *sealed* first: the next log is created (and the directory fsynced) and the frame goes
 * there. TESS_NOTFOUND when the log cannot take the group (no log yet, a layout to add, the
 * group alone past a bound): the caller commits instead.
 */
static int append_to_log(txn *t, const tess__evlayout *layouts, size_t nlayouts,
                         tess__batch *const *batches, size_t nbatches, uint64_t rows,
                         tess__err *err)
{
    tess__manifest *m = t->m;
    tess__evlog_cache *c = t->lc;
    const tess__evstore *es = t->es;
    if (m->log == 0 || c->fd < 0 || rows > es->log_max_rows) return TESS_NOTFOUND;
    for (size_t i = 0; i < nlayouts; i++)
        if (!tess__manifest_layout(m, t->src, layouts[i].cols, layouts[i].ncols))
            return TESS_NOTFOUND;
    if ((uint64_t)m->next_ingest + nbatches >= UINT32_MAX)
        return tess__err_set(err, TESS_EINVAL, "source \"%s\": no ingest number left",
                             t->src->name);
    uint8_t *frame = NULL;
    size_t len = 0;
    uint64_t num = c->log;
    int rc = tess__evlog_frame(num, m->next_ingest, batches, nbatches, t->src->nschema, &frame,
                               &len);
    if (rc == TESS_EINVAL) return TESS_NOTFOUND; /* too large for one frame */
    if (rc) return OOM(err);
    if (len > es->log_max_bytes) {
        tess__free(frame);
        return TESS_NOTFOUND;
    }
    bool seal = t->lg.frames > 0 &&
                (t->lg.rows + rows > es->log_max_rows || t->lg.end + len > es->log_max_bytes);
    char path[PATH_MAX];
    int fd = c->fd;
    uint64_t end = t->lg.end;
    bool cut = t->lg.size > end;
    if (seal) { /* the frame names its log: encode it for the next one */
        tess__free(frame);
        frame = NULL;
        num++;
        end = 0;
        cut = false;
        if (tess__evlog_frame(num, m->next_ingest, batches, nbatches, t->src->nschema, &frame,
                              &len)) {
            rc = OOM(err);
            goto out;
        }
    }
    if ((rc = log_path(t->dir, num, path, err))) goto out;
    if (seal) {
        fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0) {
            rc = tess__err_set(err, TESS_EIO, "%s: cannot create: %s", path, strerror(errno));
            log_cache_reset(c);
            goto out;
        }
        if (!es->nosync && fsync_dir(t->dir)) {
            rc = tess__err_set(err, TESS_EIO, "%s: fsync: %s", t->dir, strerror(errno));
            close(fd);
            unlink(path);
            log_cache_reset(c);
            goto out;
        }
    }
    if ((cut && tess__io_ftruncate(fd, (off_t)end)) || write_all_at(fd, frame, len, end) ||
        (!es->nosync && tess__io_fdatasync(fd))) {
        rc = tess__err_set(err, TESS_EIO, "%s: cannot append: %s", path, strerror(errno));
        /* not acknowledged: take it back (if this fails too, the frame may stay: a failed
         * fsync leaves the file's state unknown); a log this append created goes again, so
         * that the log before it is not sealed */
        if (ftruncate(fd, (off_t)end) == 0 && !es->nosync) fdatasync(fd);
        if (seal) {
            close(fd);
            unlink(path);
            if (!es->nosync) fsync_dir(t->dir);
        }
        log_cache_reset(c);
        goto out;
    }
    if (seal) {
        struct stat st;
        uint32_t next = c->lg.next_ingest;
        close(c->fd);
        c->fd = fd;
        c->log = num;
        c->dev = c->ino = 0;
        if (fstat(fd, &st) == 0) {
            c->dev = st.st_dev;
            c->ino = st.st_ino;
        }
        memset(&c->lg, 0, sizeof(c->lg));
        c->lg.next_ingest = next;
        t->active = num;
    }
    c->lg.end = c->lg.size = end + len;
    c->lg.frames++;
    c->lg.rows += rows;
    c->lg.next_ingest += (uint32_t)nbatches;
out:
    tess__free(frame);
    return rc;
}

int tess__evstore_append(tess__evstore *es, const tess__source *src, const tess__evlayout *layouts,
                         size_t nlayouts, tess__batch *const *batches, size_t nbatches,
                         uint32_t *first_ingest, tess__err *err)
{
    int rc = TESS_OK;
    txn t;
    bool in_txn = false;
    uint64_t *nullkeys = NULL, rows = 0;
    size_t li;
    *first_ingest = 0;
    for (size_t i = 0; i < nlayouts; i++)
        if ((rc = check_layout(src, layouts[i].cols, layouts[i].ncols, err))) return rc;
    for (size_t i = 0; i < nbatches; i++) {
        if (batches[i]->ncols != src->nschema || (uint64_t)batches[i]->nrows > UINT32_MAX)
            return tess__err_set(err, TESS_EINVAL, "source \"%s\": a batch of the wrong shape",
                                 src->name);
        for (size_t c = 0; c < src->nschema; c++)
            if (batches[i]->cols[c].type != src->schema[c].type)
                return tess__err_set(err, TESS_EINVAL,
                                     "source \"%s\": a batch of the wrong shape (column %s)",
                                     src->name, src->schema[c].name);
        rows += batches[i]->nrows;
    }
    if (nbatches == 0) return TESS_OK;
    if ((rc = txn_begin(es, src, &t, TX_LOCK, err))) return rc;
    in_txn = true;
    uint32_t first = t.m->next_ingest;
    /* 1. the push log, when it can take the group */
    rc = append_to_log(&t, layouts, nlayouts, batches, nbatches, rows, err);
    if (rc != TESS_NOTFOUND) {
        if (rc) goto out;
        /* sealed logs (this append's seal, or older ones not folded yet): to the folder */
        bool sealed = t.active > t.chain_first;
        in_txn = false;
        txn_end(&t);
        if (sealed) fold_request(es, tess__evstore_source(src)->name);
        goto done;
    }
    /* 2. else a commit: the chain's rows and the group's into segments, and a new log. It
     * takes the FOLD lock first (lock order), so the LOCK is let go and taken again. */
    txn_end(&t);
    in_txn = false;
    if ((rc = txn_begin(es, src, &t, TX_WRITE, err))) goto out;
    in_txn = true;
    first = t.m->next_ingest;
    for (size_t i = 0; i < nlayouts; i++)
        if ((rc = txn_layout(&t, layouts[i].cols, layouts[i].ncols, &li, err))) goto out;
    if ((rc = txn_fold_log(&t, err))) goto out;
    if (!(nullkeys = tess__calloc(t.m->nlayouts + 1, sizeof(uint64_t)))) {
        rc = OOM(err);
        goto out;
    }
    if ((rc = txn_run(&t, err))) goto out;
    for (size_t i = 0; i < nbatches; i++) {
        tess__batch *b = batches[i];
        if (t.m->next_ingest == UINT32_MAX) {
            rc = tess__err_set(err, TESS_EINVAL, "source \"%s\": no ingest number left", src->name);
            goto out;
        }
        uint32_t ingest = t.m->next_ingest++;
        for (size_t r = 0; r < b->nrows; r++)
            b->seq[r] = (int64_t)(((uint64_t)ingest << 32) | (uint64_t)r);
        if (t.run.n >= t.run_rows && (rc = spill(&t, -1, nullkeys, err))) goto out;
        if ((rc = run_room(&t, b->nrows, err))) goto out;
        if (tess__run_append(&t.run, b, NULL, 0, b->nrows)) {
            rc = OOM(err);
            goto out;
        }
        t.dirty = true;
    }
    if ((rc = spill(&t, -1, nullkeys, err))) goto out;
    if ((rc = merge_if_needed(&t, err))) goto out;
    in_txn = false;
    if ((rc = txn_commit(&t, err))) goto out;
done:
    *first_ingest = first;
    for (size_t i = 0; i < nbatches; i++) {
        tess__batch *b = batches[i];
        for (size_t r = 0; r < b->nrows; r++)
            b->seq[r] = (int64_t)(((uint64_t)(first + (uint32_t)i) << 32) | (uint64_t)r);
    }
out:
    if (in_txn) txn_abort(&t);
    tess__free(nullkeys);
    if (rc) *first_ingest = 0;
    return rc;
}

/* ---- the fold: sealed logs into segments, off the append path ------------------------------ */

/* A source made from a MANIFEST's schema (the folder needs no definitions). */
typedef struct msrc {
    tess__source src;
    tess__column *cols;
    char *name;
} msrc;

static void msrc_release(msrc *s)
{
    for (size_t c = 0; s->cols && c < s->src.nschema; c++) tess__free((char *)s->cols[c].name);
    tess__free(s->cols);
    tess__free(s->name);
    memset(s, 0, sizeof(*s));
}

static int msrc_init(msrc *s, const tess__manifest *m, const char *name)
{
    memset(s, 0, sizeof(*s));
    if (!(s->name = tess__strdup(name)) ||
        !(s->cols = tess__calloc(m->ncols ? m->ncols : 1, sizeof(tess__column))))
        return TESS_ENOMEM;
    for (size_t c = 0; c < m->ncols; c++) {
        s->src.nschema = c;
        if (!(s->cols[c].name = tess__strdup(m->col_names[c]))) return TESS_ENOMEM;
        s->cols[c].type = m->col_types[c];
    }
    s->src.name = s->name;
    s->src.kind = TESS_SOURCE_PUSH;
    s->src.schema = s->cols;
    s->src.nschema = m->ncols;
    s->src.ts_col = m->ts_col;
    s->src.created_col = m->created_col;
    return TESS_OK;
}

/*
 * The fold's commit: the pending segments take their final names (outside the LOCK: no
 * manifest lists them, and only FOLD holders write segments), MANIFEST.tmp is written and
 * fsynced, then, under the LOCK, the manifest is checked to be the one the fold started from
 * and MANIFEST.tmp is renamed over it (the commit point: appenders read the manifest and walk
 * the chain under the LOCK, so they see the chain before or after, never a log unlinked under
 * them). After the LOCK: the folded logs and replaced segments are unlinked.
 */
static int fold_commit(txn *t, uint64_t first_log, uint64_t base_seg, tess__err *err)
{
    char tmp[PATH_MAX], man[PATH_MAX];
    tess__manifest *cur = NULL;
    bool renamed = false;
    int rc = commit_segments(t, err);
    if (rc == TESS_OK && !(rc = pathf(tmp, err, "%s/MANIFEST.tmp", t->dir)) &&
        !(rc = pathf(man, err, "%s/MANIFEST", t->dir)))
        rc = tess__manifest_prepare(t->m, tmp, !t->es->nosync, err);
    if (rc) goto fail;
    if ((rc = take_lock(t->dir, "LOCK", false, &t->lock_fd, err))) {
        unlink(tmp);
        goto fail;
    }
    rc = tess__manifest_read(man, &cur, err);
    if (rc == TESS_OK && (cur->log != first_log || cur->next_seg != base_seg))
        rc = tess__err_set(err, TESS_EIO, "%s: changed during the fold (another writer did not "
                           "take the FOLD lock)", man);
    tess__manifest_free(cur);
    if (rc == TESS_NOTFOUND) rc = tess__err_set(err, TESS_EIO, "%s: disappeared", man);
    if (rc) {
        unlink(tmp);
        goto fail;
    }
    rc = tess__manifest_install(tmp, man, t->dir, !t->es->nosync, &renamed, err);
    close(t->lock_fd); /* releases the LOCK */
    t->lock_fd = -1;
    if (rc && !renamed) goto fail;
    if (rc == TESS_OK) { /* as txn_commit: only once the rename is durable */
        for (size_t i = 0; i < t->ndel; i++) unlink(t->del_paths[i]);
        unlink_logs(t->dir, first_log, t->m->log);
    }
    txn_end(t);
    return rc;
fail:
    txn_abort(t);
    return rc;
}

int tess__evstore_fold(tess__evstore *es, const char *name, bool *folded, tess__err *err)
{
    bool dummy;
    if (!folded) folded = &dummy;
    *folded = false;
    txn t;
    msrc ms;
    tess__batch rows;
    memset(&t, 0, sizeof(t));
    memset(&ms, 0, sizeof(ms));
    memset(&rows, 0, sizeof(rows));
    t.es = es;
    t.lock_fd = t.fold_fd = -1;
    t.own.fd = -1;
    t.lc = &t.own;
    t.run_rows = TESS__EV_RUN_ROWS;
    char man[PATH_MAX];
    struct stat st;
    int rc;
    if ((rc = pathf(t.dir, err, "%s/%s", es->offline_dir, name)) ||
        (rc = pathf(man, err, "%s/MANIFEST", t.dir)))
        return rc;
    if (stat(t.dir, &st) != 0) return TESS_OK; /* no such source: nothing to fold */
    rc = take_lock(t.dir, "FOLD", true, &t.fold_fd, err);
    if (rc == TESS_NOTFOUND) return TESS_OK; /* another folder (or a commit) is at work */
    if (rc) return rc;
    rc = tess__manifest_read(man, &t.m, err);
    if (rc == TESS_NOTFOUND) {
        rc = TESS_OK;
        goto end;
    }
    if (rc) goto end;
    if (msrc_init(&ms, t.m, name) ||
        !(t.types = tess__calloc(t.m->ncols ? t.m->ncols : 1, sizeof(tess__type)))) {
        rc = OOM(err);
        goto end;
    }
    t.src = &ms.src;
    for (size_t c = 0; c < t.m->ncols; c++) t.types[c] = t.m->col_types[c];
    if ((rc = tess__manifest_resolve(t.m, t.src, err))) goto end;
    cleanup_source(t.dir, t.m, false);
    if (t.m->log == 0) goto end;
    /* the sealed logs' rows (the chain cannot be folded meanwhile: the FOLD lock is ours), up
     * to 8 logs' worth (a run's rows by default): the rest is for the next fold */
    uint64_t first_log = t.m->log, base_seg = t.m->next_seg, active = 0;
    tess__evlog tot;
    if (tess__batch_init(&rows, t.types, t.m->ncols, 1024)) {
        rc = OOM(err);
        goto end;
    }
    if ((rc = read_chain(t.dir, first_log, t.m->next_ingest, t.types, t.m->ncols,
                         CH_STABLE | CH_SEALED_ONLY, 8 * es->log_max_rows, &rows, &tot, &active,
                         NULL, NULL, err)))
        goto end;
    if (active == first_log) goto end; /* nothing sealed */
    if ((rc = run_add_rows(&t, &rows, err))) goto abort;
    tess__batch_release(&rows);
    t.log_folded = true;
    if ((rc = spill(&t, -1, NULL, err)) || (rc = merge_if_needed(&t, err))) goto abort;
    /* the new manifest: the segments, and the chain from the active log on */
    t.m->log = active;
    t.m->next_ingest = tot.next_ingest;
    rc = fold_commit(&t, first_log, base_seg, err);
    if (rc == TESS_OK) *folded = true;
    tess__batch_release(&rows);
    msrc_release(&ms);
    return rc;
abort:
    tess__batch_release(&rows);
    txn_abort(&t);
    msrc_release(&ms);
    return rc;
end:
    tess__batch_release(&rows);
    txn_end(&t);
    msrc_release(&ms);
    return rc;
}

/* ---- the background folder ------------------------------------------------------------------ */

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* One thread per handle, started on the first request: folds the sources queued, one at a
 * time, until the handle closes (the queue is emptied first). A failed fold is recorded
 * (fold_rc, fold_msg) and the next one waits a second: the logs stay readable meanwhile. */
static void *fold_main(void *arg)
{
    tess__evstore *es = arg;
    /* below the appenders and readers: a fold has seconds to spare, a push has not (a
     * thread's nice value on Linux; the spill's helper thread inherits it) */
    setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 10);
    pthread_mutex_lock(&es->mu);
    for (;;) {
        while (!es->fold_nqueue && !es->fold_stop) pthread_cond_wait(&es->fold_cv, &es->mu);
        if (!es->fold_nqueue) break;
        char *name = es->fold_queue[0];
        memmove(es->fold_queue, es->fold_queue + 1, --es->fold_nqueue * sizeof(char *));
        es->fold_busy = true;
        pthread_mutex_unlock(&es->mu);
        tess__err err = TESS__ERR_INIT;
        uint64_t folds = 0;
        bool folded, stop;
        int rc;
        do { /* again while it folds: a fold takes at most 8 logs' rows */
            folded = false;
            rc = tess__evstore_fold(es, name, &folded, &err);
            folds += folded;
            pthread_mutex_lock(&es->mu);
            stop = es->fold_stop;
            pthread_mutex_unlock(&es->mu);
        } while (rc == TESS_OK && folded && !stop);
        pthread_mutex_lock(&es->mu);
        es->fold_busy = false;
        es->fold_rc = rc;
        es->folds += folds;
        if (rc) {
            es->fold_failures++;
            es->fold_retry_at = mono_us() + 1000000;
            snprintf(es->fold_msg, sizeof(es->fold_msg), "%s", tess__err_msg(&err));
        }
        tess__err_release(&err);
        tess__free(name);
        pthread_cond_broadcast(&es->fold_cv);
    }
    pthread_mutex_unlock(&es->mu);
    return NULL;
}

/* Asks the background folder to fold the source (directory `name`): queued once, the thread
 * started if need be. Best effort: when it cannot be (off, out of memory, no thread), the
 * sealed logs stay readable and the next request or commit folds them. */
static void fold_request(tess__evstore *es, const char *name)
{
    pthread_mutex_lock(&es->mu);
    if (es->fold_off || es->fold_stop || (es->fold_retry_at && mono_us() < es->fold_retry_at))
        goto out;
    for (size_t i = 0; i < es->fold_nqueue; i++)
        if (strcmp(es->fold_queue[i], name) == 0) goto out;
    char **q = tess__realloc(es->fold_queue, (es->fold_nqueue + 1) * sizeof(char *));
    if (!q) goto out;
    es->fold_queue = q;
    if (!(q[es->fold_nqueue] = tess__strdup(name))) goto out;
    es->fold_nqueue++;
    if (es->fold_started && es->fold_pid != getpid()) goto out; /* a child after fork() */
    if (!es->fold_started) {
        /* the thread takes no asynchronous signal: the process's own threads handle them */
        sigset_t all, old;
        sigfillset(&all);
        /* but the faults: a crash must kill the process as it would on any thread */
        sigdelset(&all, SIGSEGV);
        sigdelset(&all, SIGBUS);
        sigdelset(&all, SIGFPE);
        sigdelset(&all, SIGILL);
        sigdelset(&all, SIGABRT);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        es->fold_started = pthread_create(&es->fold_thread, NULL, fold_main, es) == 0;
        es->fold_pid = getpid();
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (!es->fold_started) {
            tess__free(q[--es->fold_nqueue]);
            goto out;
        }
    }
    pthread_cond_broadcast(&es->fold_cv);
out:
    pthread_mutex_unlock(&es->mu);
}

void tess__evstore_fold_wait(tess__evstore *es)
{
    pthread_mutex_lock(&es->mu);
    while (es->fold_nqueue || es->fold_busy) pthread_cond_wait(&es->fold_cv, &es->mu);
    pthread_mutex_unlock(&es->mu);
}

/* Lets the folder finish what is queued, and joins it. */
static void fold_stop(tess__evstore *es)
{
    pthread_mutex_lock(&es->mu);
    es->fold_stop = true;
    pthread_cond_broadcast(&es->fold_cv);
    bool started = es->fold_started && es->fold_pid == getpid(); /* not a child's after fork() */
    pthread_mutex_unlock(&es->mu);
    if (started) pthread_join(es->fold_thread, NULL);
    es->fold_started = false;
    for (size_t i = 0; i < es->fold_nqueue; i++) tess__free(es->fold_queue[i]);
    tess__free(es->fold_queue);
    es->fold_queue = NULL;
    es->fold_nqueue = 0;
}

/* ---- scans ------------------------------------------------------------------------------- */

/* ---- the push log for readers ------------------------------------------------------------ */

/* The log's rows of one layout, sorted: an in-memory segment (tess__segr_open_mem). */
typedef struct logseg {
    tess__run run; /* the strings of the blocks point into it */
    tess__batch *blocks;
    size_t nblocks;
} logseg;

static void logseg_free(void *p)
{
    logseg *ls = p;
    if (!ls) return;
    for (size_t i = 0; i < ls->nblocks; i++) tess__batch_release(&ls->blocks[i]);
    tess__free(ls->blocks);
    tess__run_release(&ls->run);
    tess__free(ls);
}

static int cmp_str(const void *x, const void *y)
{
    const tess__str *a = x, *b = y;
    size_t n = a->n < b->n ? a->n : b->n;
    int c = n ? memcmp(a->p, b->p, n) : 0;
    if (c) return c;
    return (a->n > b->n) - (a->n < b->n);
}

/* Whether row i's key is one of the sorted keys f[0..nf). */
static bool row_wanted(const tess__batch *b, size_t i, const size_t *keys, size_t nkeys,
                       const tess__str *f, size_t nf)
{
    size_t lo = 0, hi = nf;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = tess__evkey_cmp(b->cols, keys, nkeys, i, f[mid].p, f[mid].n);
        if (c == 0) return true;
        if (c > 0) lo = mid + 1;
        else hi = mid;
    }
    return false;
}

/*
 * The rows of `rows` (the log's) that layout `keys` holds and the scan wants (opts->filter),
 * sorted in event order and cut in blocks, as a reader; *out NULL when there are none.
 */
static int log_reader(const tess__source *src, const size_t *keys, size_t nkeys,
                      const tess__batch *rows, const tess__evscan_opts *opts, const char *display,
                      tess__segr **out, tess__err *err)
{
    *out = NULL;
    int rc = TESS_OK;
    const tess__str *filter = opts ? opts->filter : NULL;
    size_t nf = opts ? opts->nfilter : 0;
    if (rows->nrows == 0 || (filter && nf == 0)) return TESS_OK;
    tess__str *f = NULL;
    uint32_t *idx = tess__malloc(rows->nrows * sizeof(uint32_t));
    logseg *ls = tess__calloc(1, sizeof(*ls));
    if (!idx || !ls || (filter && !(f = tess__malloc(nf * sizeof(*f))))) goto nomem;
    if (filter) {
        memcpy(f, filter, nf * sizeof(*f));
        qsort(f, nf, sizeof(*f), cmp_str);
    }
    size_t k = 0;
    for (size_t i = 0; i < rows->nrows; i++)
        if (keys_present(rows, i, keys, nkeys) && (!f || row_wanted(rows, i, keys, nkeys, f, nf)))
            idx[k++] = (uint32_t)i;
    if (k == 0) goto out;
    if (tess__run_init(&ls->run, src) || tess__run_reserve(&ls->run, k) ||
        tess__run_append(&ls->run, rows, idx, 0, k))
        goto nomem;
    for (size_t i = 0; i < k; i++) idx[i] = (uint32_t)i;
    tess__evorder ord = tess__evorder_of(src, keys, nkeys);
    if (tess__evsort(&ls->run, idx, k, &ord, NULL)) goto nomem;
    size_t nb = (k + TESS__SEG_BLOCK_ROWS - 1) / TESS__SEG_BLOCK_ROWS;
    if (!(ls->blocks = tess__calloc(nb, sizeof(tess__batch)))) goto nomem;
    for (size_t b = 0; b < nb; b++) {
        size_t at = b * TESS__SEG_BLOCK_ROWS, n = k - at < TESS__SEG_BLOCK_ROWS ? k - at
                                                                          : TESS__SEG_BLOCK_ROWS;
        if (tess__batch_init(&ls->blocks[b], ls->run.types, src->nschema, n)) goto nomem;
        ls->nblocks = b + 1;
        tess__run_gather(&ls->run, idx + at, n, &ls->blocks[b]);
    }
    rc = tess__segr_open_mem(display, src, keys, nkeys, ls->blocks, ls->nblocks, logseg_free, ls,
                             out, err);
    ls = NULL; /* the reader has it */
    goto out;
nomem:
    rc = OOM(err);
out:
    logseg_free(ls);
    tess__free(idx);
    tess__free(f);
    return rc;
}

/*
 * Reads the rows of the push-log chain that manifest m (of source directory sdir) names into
 * rows (set up here: release it, also after a failure), lg receiving the totals. No log
 * (m->log 0): no rows. TESS_NOTFOUND: the chain was folded since m was read (read the manifest
 * again); TESS_EIO: damaged, or missing while the manifest still names it.
 */
static int read_log(const char *sdir, const tess__manifest *m, const tess__source *src,
                    tess__batch *rows, tess__evlog *lg, tess__err *err)
{
    memset(lg, 0, sizeof(*lg));
    lg->next_ingest = m->next_ingest;
    memset(rows, 0, sizeof(*rows));
    tess__type *types = tess__calloc(src->nschema ? src->nschema : 1, sizeof(tess__type));
    if (!types) return OOM(err);
    for (size_t c = 0; c < src->nschema; c++) types[c] = src->schema[c].type;
    int rc = tess__batch_init(rows, types, src->nschema, m->log ? 1024 : 1) ? OOM(err) : TESS_OK;
    if (rc == TESS_OK)
        rc = read_chain(sdir, m->log, m->next_ingest, types, src->nschema, 0, 0, rows, lg,
                        NULL, NULL, NULL, err);
    tess__free(types);
    return rc;
}

int tess__evscan_open_opts(tess__evstore *es, const tess__source *src, const size_t *keys,
                           size_t nkeys, const tess__evscan_opts *opts, tess__evscan **out,
                           tess__err *err)
{
    *out = NULL;
    int rc = check_layout(src, keys, nkeys, err);
    if (rc) return rc;
    char sdir[PATH_MAX], man[PATH_MAX], path[PATH_MAX];
    if ((rc = pathf(sdir, err, "%s/%s", es->offline_dir, tess__evstore_source(src)->name)) ||
        (rc = pathf(man, err, "%s/MANIFEST", sdir)))
        return rc;
    bool built = false;
    for (int attempt = 0; attempt < SCAN_RETRIES; attempt++) {
        tess__manifest *m = NULL;
        tess__segr **rs = NULL;
        size_t nrs = 0;
        tess__batch lrows;
        tess__evlog lg;
        memset(&lrows, 0, sizeof(lrows));
        rc = tess__manifest_read(man, &m, err);
        if (rc == TESS_NOTFOUND) /* no events */
            return tess__evscan_new(src, keys, nkeys, NULL, 0, opts, false, out, err);
        if (rc) return rc;
        if ((rc = tess__manifest_check_schema(m, src, err))) goto next;
        /* the log first: a commit may fold it and remove it, and then replace segments */
        if ((rc = read_log(sdir, m, src, &lrows, &lg, err))) goto next;
        const tess__mlayout *l = tess__manifest_layout(m, src, keys, nkeys);
        if (!l) {
            if (!has_rows(m) && lrows.nrows == 0) {
                tess__manifest_free(m);
                tess__batch_release(&lrows);
                return tess__evscan_new(src, keys, nkeys, NULL, 0, opts, false, out, err);
            }
            if (built) {
                rc = tess__err_set(err, TESS_EIO, "%s: the layout was built but is missing", man);
                goto next;
            }
            tess__manifest_free(m);
            tess__batch_release(&lrows);
            if ((rc = tess__evstore_ensure_layout(es, src, keys, nkeys, err))) return rc;
            built = true;
            attempt--;
            continue;
        }
        rs = tess__calloc(l->nsegs + 1, sizeof(*rs));
        if (!rs) {
            rc = OOM(err);
            goto next;
        }
        for (nrs = 0; nrs < l->nsegs; nrs++) {
            if ((rc = pathf(path, err, "%s/%s/%llu.seg", sdir, l->dir,
                            (unsigned long long)l->segs[nrs].num)))
                break;
            if ((rc = tess__segr_open(path, NULL, src, keys, nkeys, &rs[nrs], err))) break;
        }
        if (rc == TESS_OK && (rc = log_path(sdir, m->log, path, err)) == TESS_OK &&
            (rc = log_reader(src, keys, nkeys, &lrows, opts, path, &rs[nrs], err)) == TESS_OK &&
            rs[nrs])
            nrs++;
        if (rc == TESS_OK) {
            rc = tess__evscan_new(src, keys, nkeys, rs, nrs, opts, false, out, err);
            nrs = 0;
        }
    next:
        for (size_t i = 0; i < nrs; i++) tess__segr_close(rs[i]);
        tess__free(rs);
        tess__manifest_free(m);
        tess__batch_release(&lrows);
        if (rc != TESS_NOTFOUND) return rc;
        /* a segment or the log was replaced by a commit after we read the manifest: again */
    }
    return tess__err_set(err, TESS_EIO, "%s: segments keep disappearing (%s)", man,
                         tess__err_msg(err));
}

int tess__evscan_open(tess__evstore *es, const tess__source *src, const size_t *keys, size_t nkeys,
                      const tess__str *filter, size_t nfilter, tess__evscan **out, tess__err *err)
{
    tess__evscan_opts o;
    memset(&o, 0, sizeof(o));
    o.filter = filter;
    o.nfilter = nfilter;
    return tess__evscan_open_opts(es, src, keys, nkeys, &o, out, err);
}

/* ---- stats and verification ------------------------------------------------------------------ */

void tess__evstats_release(tess__evstats *st)
{
    if (!st) return;
    for (size_t i = 0; i < st->nlayouts; i++) tess__free(st->layouts ? st->layouts[i].name : NULL);
    tess__free(st->layouts);
    memset(st, 0, sizeof(*st));
    st->min_ts = INT64_MAX;
    st->max_ts = INT64_MIN;
}

static int read_manifest(tess__evstore *es, const tess__source *src, tess__manifest **m,
                         char *sdir, tess__err *err)
{
    char man[PATH_MAX];
    int rc;
    if ((rc = pathf(sdir, err, "%s/%s", es->offline_dir, tess__evstore_source(src)->name)) ||
        (rc = pathf(man, err, "%s/MANIFEST", sdir)))
        return rc;
    return tess__manifest_read(man, m, err);
}

int tess__evstore_stats(tess__evstore *es, const tess__source *src, tess__evstats *st,
                        tess__err *err)
{
    memset(st, 0, sizeof(*st));
    st->min_ts = INT64_MAX;
    st->max_ts = INT64_MIN;
    tess__manifest *m = NULL;
    tess__batch lrows;
    tess__evlog lg;
    char sdir[PATH_MAX];
    memset(&lrows, 0, sizeof(lrows));
    int rc = TESS_NOTFOUND;
    for (int attempt = 0; attempt < SCAN_RETRIES && rc == TESS_NOTFOUND; attempt++) {
        tess__manifest_free(m);
        m = NULL;
        tess__batch_release(&lrows);
        rc = read_manifest(es, src, &m, sdir, err);
        if (rc == TESS_NOTFOUND) return TESS_OK;
        if (rc == TESS_OK && (rc = tess__manifest_check_schema(m, src, err)) == TESS_OK &&
            (rc = tess__manifest_resolve(m, src, err)) == TESS_OK)
            rc = read_log(sdir, m, src, &lrows, &lg, err);
    }
    if (rc == TESS_NOTFOUND) rc = tess__err_set(err, TESS_EIO, "%s: the push log keeps "
                                                "disappearing", sdir);
    if (rc) goto out;
    st->ingests = lg.next_ingest - 1;
    st->log_rows = lg.rows;
    st->log_bytes = lg.end;
    for (size_t i = 0; i < m->nfiles; i++) {
        const tess__mfile *f = &m->files[i];
        st->rows += f->rows;
        st->files++;
        if (f->rows && f->min_ts < st->min_ts) st->min_ts = f->min_ts;
        if (f->rows && f->max_ts > st->max_ts) st->max_ts = f->max_ts;
        if (f->time > st->last_ingest_time) st->last_ingest_time = f->time;
    }
    st->layouts = tess__calloc(m->nlayouts ? m->nlayouts : 1, sizeof(*st->layouts));
    if (!st->layouts) {
        rc = OOM(err);
        goto out;
    }
    for (size_t i = 0; i < m->nlayouts; i++) {
        const tess__mlayout *l = &m->layouts[i];
        tess__evlayout_stats *ls = &st->layouts[i];
        if (!(ls->name = tess__strdup(l->dir))) {
            rc = OOM(err);
            goto out;
        }
        st->nlayouts = i + 1;
        ls->rows = tess__mlayout_rows(l);
        ls->null_key_rows = l->null_key_rows;
        ls->segments = l->nsegs;
        for (size_t s = 0; s < l->nsegs; s++) ls->bytes += l->segs[s].bytes;
        st->bytes += ls->bytes;
        /* the log's rows, as a fold would share them out */
        for (size_t r = 0; r < lrows.nrows; r++) {
            bool held;
            if (l->nkeys) {
                held = keys_present(&lrows, r, l->cols, l->nkeys);
                if (!held) ls->null_key_rows++;
            } else { /* ~rest: the rows no keyed layout holds */
                held = true;
                for (size_t o = 0; o < m->nlayouts && held; o++)
                    if (m->layouts[o].nkeys)
                        held = !keys_present(&lrows, r, m->layouts[o].cols, m->layouts[o].nkeys);
            }
            ls->rows += held;
        }
    }
out:
    tess__manifest_free(m);
    tess__batch_release(&lrows);
    return rc;
}

int tess__evstore_verify(tess__evstore *es, const tess__source *src, tess__err *err)
{
    tess__manifest *m = NULL;
    char sdir[PATH_MAX], path[PATH_MAX];
    int rc = read_manifest(es, src, &m, sdir, err);
    if (rc == TESS_NOTFOUND) return TESS_OK;
    if (rc) return rc;
    tess__type *types = tess__calloc(src->nschema ? src->nschema : 1, sizeof(tess__type));
    tess__batch b;
    memset(&b, 0, sizeof(b));
    if (!types) {
        rc = OOM(err);
        goto out;
    }
    for (size_t c = 0; c < src->nschema; c++) types[c] = src->schema[c].type;
    if (tess__batch_init(&b, types, src->nschema, 1)) {
        rc = OOM(err);
        goto out;
    }
    if ((rc = tess__manifest_check_schema(m, src, err)) || (rc = tess__manifest_resolve(m, src, err)))
        goto out;
    if (m->log) { /* the push log: every frame complete and valid but a torn tail */
        tess__batch lrows;
        tess__evlog lg;
        rc = read_log(sdir, m, src, &lrows, &lg, err);
        tess__batch_release(&lrows);
        if (rc == TESS_NOTFOUND) rc = TESS_OK; /* folded meanwhile: its rows are in segments */
    }
    for (size_t i = 0; i < m->nlayouts && rc == TESS_OK; i++) {
        const tess__mlayout *l = &m->layouts[i];
        for (size_t s = 0; s < l->nsegs && rc == TESS_OK; s++) {
            tess__segr *r = NULL;
            if ((rc = pathf(path, err, "%s/%s/%llu.seg", sdir, l->dir,
                            (unsigned long long)l->segs[s].num)))
                break;
            rc = tess__segr_open(path, NULL, src, l->cols, l->nkeys, &r, err);
            if (rc == TESS_NOTFOUND) rc = TESS_EIO;
            if (rc == TESS_OK && tess__segr_rows(r) != l->segs[s].rows)
                rc = tess__err_set(err, TESS_EIO, "%s: %llu rows, the manifest says %llu", path,
                                   (unsigned long long)tess__segr_rows(r),
                                   (unsigned long long)l->segs[s].rows);
            for (size_t k = 0; rc == TESS_OK && k < tess__segr_nblocks(r); k++)
                rc = tess__segr_read_block(r, k, NULL, &b, err);
            tess__segr_close(r);
        }
    }
out:
    tess__batch_release(&b);
    tess__free(types);
    tess__manifest_free(m);
    return rc;
}
