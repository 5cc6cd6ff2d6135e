/* kv_lmdb.c — the embedded online store: an LMDB environment in a directory of its own.
 *
 * Files: <dir>/data.mdb (the B+tree, a sparse file mapped up to the map size) and
 * <dir>/lock.mdb (the reader table and the writer mutex, shared by every process that has the
 * store open). The directory is created with mode 0700, the files with 0600. All keys live in
 * one named database, "data"; LMDB orders keys by bytes (memcmp, then shorter first), which is
 * the order tess__kv_scan promises.
 *
 * One MDB_env per (process, directory). LMDB forbids opening an environment twice in one
 * process (closing the second copy would drop the first's POSIX locks, and another process's
 * mdb_reader_check would then reclaim our live readers' slots), so the environments of this
 * process are kept in a small table (`envs`, keyed by the directory's device and inode and
 * by the pid, so that a child after fork() opens its own) and shared by reference count
 * between the tess__kv handles that open the same directory.
 *
 * Reads: MDB_NOTLS, so a read transaction belongs to no thread. Each operation takes a read
 * transaction from a small array of slots (a thread's slot is chosen by the address of a
 * thread-local variable, so threads rarely share one), renews it, reads, resets it and puts it
 * back: no malloc and no reader-table mutex on the fast path, only two atomic operations on a
 * cache line the thread mostly has to itself. A reset transaction keeps its reader slot but pins
 * no pages.
 *
 * Writes: one write transaction per update / put / drop_prefix. Threads of this process queue
 * on `write_lock` before LMDB's own (process-shared) writer mutex.
 *
 * Remapping: when another process has grown the map (it opened the store with a bigger map
 * size and wrote past ours), mdb_txn_begin answers MDB_MAP_RESIZED; the map may only be
 * changed while no transaction of this process is running. Every operation counts itself in
 * its slot's `active` while it runs (a "big reader lock"); remap() raises `resizing`, waits for
 * every count to drop to zero, calls mdb_env_set_mapsize(env, 0) and lets the others go on.
 *
 * Durability: the environment is always opened with MDB_NOMETASYNC: a commit fsyncs the data
 * pages, and the meta page that makes them current is written but not flushed. A handle opened
 * with sync = true then calls mdb_env_sync(env, 1) after each of its commits, which makes the
 * meta page durable too (the same two flushes as LMDB's default). Without sync, a power loss
 * may undo the last committed transaction; it never tears one (LMDB's guarantee for
 * MDB_NOMETASYNC). A crash of the process alone (kill -9) loses nothing: the meta page is in
 * the OS page cache.
 *
 * Unsynced commits: an update flagged TESS__KV_REPLAYABLE (a push whose rows are durable in
 * the offline store, which the next materialization would apply again) commits with
 * MDB_NOSYNC: no flush at all. A system crash may then leave the file damaged (pages reach the
 * disk in any order), so such commits are announced first by a marker file, `unsynced` in the
 * environment's directory, holding the id of the running boot (/proc/sys/kernel/random/
 * boot_id), written and fsynced before the first unsynced commit. Each process with unsynced
 * commits holds a shared flock on it; a thread of its own flushes the file (fdatasync) about
 * once a second, and then, if no unsynced commit came meanwhile, lets go of the marker and
 * removes it when no other process holds it (an exclusive flock, not blocking). So a marker
 * with another boot's id, found when the environment is opened, means the system stopped with
 * commits maybe not on disk: a writable open then deletes the environment's files (the online
 * store is derived data: every view's meta record goes with it, so the next materialization
 * rebuilds everything from the offline store), a read-only open fails (TESS_EIO) saying so.
 * A crash of the process alone leaves the marker of the running boot: harmless, the next
 * process's flush removes it. docs/online_backends.md, "Durability".
 */
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "online/kv_int.h"
#include "tessera.h"

#define DEFAULT_MAP_SIZE ((size_t)64 << 30) /* 64 GiB: address space, not disk */
#define MAX_READERS 512                     /* reader slots, shared by all processes */
#define NSLOTS 32                           /* cached read transactions per environment */
#define REMAP_WAIT_NS (30LL * 1000000000LL)  /* give up remapping after 30 s */
#define FLUSH_EVERY_NS 1000000000LL          /* unsynced commits reach the disk within ~1 s */
#define BOOT_ID_MAX 64

typedef struct rslot {
    _Alignas(64) _Atomic(MDB_txn *) txn; /* a reset read transaction, or NULL */
    atomic_long active;                   /* operations of this process counted on this slot */
} rslot;

typedef struct lenv {
    struct lenv *next;
    pid_t pid;
    dev_t dev;
    ino_t ino;
    int refs;      /* handles sharing this environment (under envs_lock) */
    char *path;
    MDB_env *env;
    MDB_dbi dbi;
    bool rdonly;   /* opened MDB_RDONLY: no handle on it may write */
    atomic_int resizing;
    pthread_mutex_t resize_lock;
    pthread_mutex_t write_lock;
    void *slots_mem;
    rslot *slots;  /* NSLOTS, 64-byte aligned inside slots_mem */
    /* unsynced commits (see the top of the file); all but `flusher` under write_lock */
    char boot[BOOT_ID_MAX]; /* this boot's id; "" when unknown: no commit goes unsynced */
    char *marker;           /* <path>/unsynced */
    int marker_fd;          /* -1, or the marker, held (LOCK_SH) while commits are unsynced */
    uint64_t unsynced;      /* unsynced commits so far */
    bool flusher_started;
    bool stopping;          /* under flush_lock */
    pthread_t flusher;
    pthread_mutex_t flush_lock;
    pthread_cond_t flush_cond;
} lenv;

typedef struct lmdb_kv {
    tess__kv base;
    lenv *e;
    bool sync;
} lmdb_kv;

/* The environments open in this process (see the top of the file). */
static pthread_mutex_t envs_lock = PTHREAD_MUTEX_INITIALIZER;
static lenv *envs;

/* Operations this thread is inside (a scan callback calling back in nests): remap() must not
 * wait for the thread's own count. */
static _Thread_local int tls_depth;
static _Thread_local char tls_marker;

/* ---- errors ------------------------------------------------------------------------------- */

static int lmdb_fail(const lenv *e, const char *what, int mrc, tess__err *err)
{
    switch (mrc) {
    case ENOMEM:
        return tess__err_set(err, TESS_ENOMEM, "online store %s: %s: out of memory", e->path,
                             what);
    case MDB_MAP_FULL: {
        MDB_envinfo info;
        mdb_env_info(e->env, &info);
        return tess__err_set(err, TESS_EIO,
                             "online store is full (map size %zu bytes): %s: %s: %s; open it "
                             "with a bigger map size",
                             info.me_mapsize, e->path, what, mdb_strerror(mrc));
    }
    case MDB_CORRUPTED:
    case MDB_INVALID:
    case MDB_PAGE_NOTFOUND:
        return tess__err_set(err, TESS_EIO, "online store %s is damaged: %s: %s", e->path, what,
                             mdb_strerror(mrc));
    case MDB_VERSION_MISMATCH:
        return tess__err_set(err, TESS_EIO,
                             "online store %s: %s: %s (written by an incompatible LMDB)",
                             e->path, what, mdb_strerror(mrc));
    case MDB_READERS_FULL:
        return tess__err_set(err, TESS_EIO,
                             "online store %s: %s: %s (all %d reader slots are in use)", e->path,
                             what, mdb_strerror(mrc), MAX_READERS);
    case MDB_PANIC:
        return tess__err_set(err, TESS_EIO, "online store %s: %s: %s (close and reopen it)",
                             e->path, what, mdb_strerror(mrc));
    case MDB_TXN_FULL:
        return tess__err_set(err, TESS_EIO,
                             "online store %s: %s: %s (too many changes in one operation)",
                             e->path, what, mdb_strerror(mrc));
    case EIO:
    case ENOSPC:
    case EFBIG: {
        /* LMDB reports a short write as EIO: say what the file system has left */
        struct statvfs fs;
        if (statvfs(e->path, &fs) == 0)
            return tess__err_set(err, TESS_EIO,
                                 "online store %s: %s: %s (writing its file failed: %llu bytes "
                                 "free on its file system; a full disk or a file-size limit?)",
                                 e->path, what, mdb_strerror(mrc),
                                 (unsigned long long)fs.f_bavail * fs.f_frsize);
        return tess__err_set(err, TESS_EIO, "online store %s: %s: %s (writing its file failed)",
                             e->path, what, mdb_strerror(mrc));
    }
    default:
        return tess__err_set(err, TESS_EIO, "online store %s: %s: %s", e->path, what,
                             mdb_strerror(mrc));
    }
}

/* ---- slots, counts and remapping ---------------------------------------------------------- */

static rslot *thread_slot(lenv *e)
{
    uint64_t a = (uint64_t)(uintptr_t)&tls_marker;
    a ^= a >> 21;
    a *= 0x9E3779B97F4A7C15ull;
    return &e->slots[a >> 59]; /* top 5 bits: NSLOTS = 32 */
}

_Static_assert(NSLOTS == 32, "thread_slot takes 5 bits");

static rslot *enter(lenv *e)
{
    rslot *s = thread_slot(e);
    for (;;) {
        atomic_fetch_add(&s->active, 1);
        if (!atomic_load(&e->resizing)) break;
        atomic_fetch_sub(&s->active, 1);
        pthread_mutex_lock(&e->resize_lock); /* held by the remapping thread */
        pthread_mutex_unlock(&e->resize_lock);
    }
    tls_depth++;
    return s;
}

static void leave(rslot *s)
{
    tls_depth--;
    atomic_fetch_sub(&s->active, 1);
}

/* Maps the file again at `size` bytes (0: the size in the meta page, i.e. what another process
 * set), once no operation of this process is running. */
static int remap(lenv *e, size_t size, tess__err *err)
{
    if (tls_depth > 0)
        return tess__err_set(err, TESS_EIO,
                             "online store %s: another process grew the map; it cannot be "
                             "remapped while this thread is inside a scan of the store",
                             e->path);
    int rc = TESS_OK;
    pthread_mutex_lock(&e->resize_lock);
    atomic_store(&e->resizing, 1);
    long long waited = 0;
    for (;;) {
        long busy = 0;
        for (int i = 0; i < NSLOTS; i++) busy += atomic_load(&e->slots[i].active);
        if (busy == 0) break;
        if (waited > REMAP_WAIT_NS) {
            rc = tess__err_set(err, TESS_EIO,
                               "online store %s: another process grew the map, and it could "
                               "not be remapped: operations kept running for 30 s",
                               e->path);
            break;
        }
        struct timespec ts = {0, 100000};
        nanosleep(&ts, NULL);
        waited += ts.tv_nsec;
    }
    if (rc == TESS_OK) {
        int mrc = mdb_env_set_mapsize(e->env, size);
        if (mrc) rc = lmdb_fail(e, "remap", mrc, err);
    }
    atomic_store(&e->resizing, 0);
    pthread_mutex_unlock(&e->resize_lock);
    return rc;
}

/* A read transaction, counted in *slot; give it back with read_end. */
static int read_begin(lenv *e, rslot **slot, MDB_txn **txn, tess__err *err)
{
    for (int attempt = 0;; attempt++) {
        rslot *s = enter(e);
        MDB_txn *t = atomic_exchange(&s->txn, NULL);
        int mrc;
        if (t) {
            mrc = mdb_txn_renew(t);
            if (mrc) mdb_txn_abort(t);
        } else {
            mrc = mdb_txn_begin(e->env, NULL, MDB_RDONLY, &t);
        }
        if (mrc == 0) {
            *slot = s;
            *txn = t;
            return TESS_OK;
        }
        leave(s);
        if (mrc != MDB_MAP_RESIZED || attempt >= 3)
            return lmdb_fail(e, "begin a read transaction", mrc, err);
        int rc = remap(e, 0, err);
        if (rc != TESS_OK) return rc;
    }
}

static void read_end(rslot *s, MDB_txn *t)
{
    mdb_txn_reset(t);
    MDB_txn *expected = NULL;
    if (!atomic_compare_exchange_strong(&s->txn, &expected, t)) mdb_txn_abort(t);
    leave(s);
}

/* ---- unsynced commits (see the top of the file) -------------------------------------------- */

/* This boot's id into out (""; when it cannot be read, commits stay synced). TESSERA_BOOT_ID
 * overrides it: tests pretend the system restarted (docs/online_backends.md). */
static void read_boot_id(char out[BOOT_ID_MAX])
{
    out[0] = '\0';
    const char *env = getenv("TESSERA_BOOT_ID");
    if (env && *env) {
        snprintf(out, BOOT_ID_MAX, "%s", env);
        return;
    }
    int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    ssize_t n = read(fd, out, BOOT_ID_MAX - 1);
    close(fd);
    while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == ' ')) n--;
    out[n > 0 ? n : 0] = '\0';
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

/* The boot id a marker holds ("" if none or empty), read from fd. */
static void marker_read(int fd, char out[BOOT_ID_MAX])
{
    ssize_t n = pread(fd, out, BOOT_ID_MAX - 1, 0);
    out[n > 0 ? n : 0] = '\0';
}

/* Whether fd is still the file at path (not removed meanwhile by marker_release). */
static bool same_file(int fd, const char *path)
{
    struct stat a, b;
    return fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_ino == b.st_ino &&
           a.st_dev == b.st_dev;
}

/* Before an unsynced commit (under write_lock): holds the marker, created with this boot's id
 * and on disk. false: it cannot be had (the commit is then synced as usual). */
static bool marker_hold(lenv *e)
{
    if (e->marker_fd >= 0) return true;
    if (!e->boot[0] || !e->marker) return false;
    size_t len = strlen(e->boot);
    for (int attempt = 0; attempt < 8; attempt++) {
        int fd = open(e->marker, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0) return false;
        if (flock(fd, LOCK_SH) != 0) {
            close(fd);
            return false;
        }
        if (!same_file(fd, e->marker)) { /* removed while we waited for it: a new one */
            close(fd);
            continue;
        }
        char cur[BOOT_ID_MAX];
        marker_read(fd, cur);
        if (strcmp(cur, e->boot) != 0 &&
            (pwrite(fd, e->boot, len, 0) != (ssize_t)len || ftruncate(fd, (off_t)len) != 0 ||
             fdatasync(fd) != 0 || fsync_dir(e->path) != 0)) {
            close(fd);
            return false;
        }
        e->marker_fd = fd;
        return true;
    }
    return false;
}

/* Removes the marker unless another process holds it. */
static void marker_remove(const char *marker)
{
    int fd = open(marker, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    if (flock(fd, LOCK_EX | LOCK_NB) == 0 && same_file(fd, marker)) unlink(marker);
    close(fd); /* a process waiting for the marker now finds it gone and makes a new one */
}

/* Flushes this process's unsynced commits; lets go of the marker if none came meanwhile. */
static void flush_unsynced(lenv *e)
{
    pthread_mutex_lock(&e->write_lock);
    uint64_t seen = e->unsynced;
    bool held = e->marker_fd >= 0;
    pthread_mutex_unlock(&e->write_lock);
    int fd;
    if (!held || mdb_env_get_fd(e->env, &fd) != 0) return;
    /* LMDB writes with pwrite (no MDB_WRITEMAP): one fdatasync makes every commit so far and
       its meta page durable (what mdb_env_sync(env, 1) does), without touching the
       environment's flags, which committers change under write_lock */
    if (fdatasync(fd) != 0) return; /* the marker stays: a restart after a crash rebuilds */
    pthread_mutex_lock(&e->write_lock);
    if (e->unsynced == seen && e->marker_fd >= 0) {
        close(e->marker_fd);
        e->marker_fd = -1;
        marker_remove(e->marker);
    }
    pthread_mutex_unlock(&e->write_lock);
}

static void *flusher_main(void *arg)
{
    lenv *e = arg;
    pthread_mutex_lock(&e->flush_lock);
    while (!e->stopping) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += FLUSH_EVERY_NS / 1000000000LL;
        pthread_cond_timedwait(&e->flush_cond, &e->flush_lock, &until);
        if (e->stopping) break;
        pthread_mutex_unlock(&e->flush_lock);
        flush_unsynced(e);
        pthread_mutex_lock(&e->flush_lock);
    }
    pthread_mutex_unlock(&e->flush_lock);
    flush_unsynced(e); /* closing: nothing stays unsynced */
    return NULL;
}

/* After an unsynced commit (under write_lock): counts it; starts the flusher once. */
static void note_unsynced(lenv *e)
{
    e->unsynced++;
    if (e->flusher_started) return;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&e->flush_cond, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&e->flush_lock, NULL);
    if (pthread_create(&e->flusher, NULL, flusher_main, e) == 0) {
        e->flusher_started = true;
    } else {
        pthread_cond_destroy(&e->flush_cond);
        pthread_mutex_destroy(&e->flush_lock);
        /* no flusher: the next commits are synced (marker_hold is asked again each time, and
           lenv_free flushes) */
    }
}

static void stop_flusher(lenv *e)
{
    if (e->flusher_started) {
        pthread_mutex_lock(&e->flush_lock);
        e->stopping = true;
        pthread_cond_signal(&e->flush_cond);
        pthread_mutex_unlock(&e->flush_lock);
        pthread_join(e->flusher, NULL);
        pthread_cond_destroy(&e->flush_cond);
        pthread_mutex_destroy(&e->flush_lock);
        e->flusher_started = false;
    } else if (e->marker_fd >= 0) {
        flush_unsynced(e);
    }
    if (e->marker_fd >= 0) close(e->marker_fd); /* a failed flush: the marker stays */
    e->marker_fd = -1;
}

/* At open, before LMDB sees the files: a marker of another boot means the system stopped with
 * commits perhaps not on disk. Writable: delete the environment's files (rebuilt from the
 * offline store by the next materialization). Read-only: TESS_EIO. A marker of
 * this boot is left alone (its process may be running, or crashed: adopt_marker removes it). */
static int check_marker(lenv *e, bool read_only, tess__err *err)
{
    int fd = open(e->marker, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return TESS_OK;
    char cur[BOOT_ID_MAX];
    marker_read(fd, cur);
    int rc = TESS_OK;
    if (cur[0] && strcmp(cur, e->boot) != 0) {
        if (read_only) {
            rc = tess__err_set(err, TESS_EIO,
                               "online store %s may be damaged: it had writes not yet flushed "
                               "to disk when the system stopped; run `tessera materialize` "
                               "(it rebuilds the online store from the offline store)",
                               e->path);
        } else if (flock(fd, LOCK_EX) == 0 && same_file(fd, e->marker)) {
            marker_read(fd, cur);
            if (cur[0] && strcmp(cur, e->boot) != 0) {
                tess__buf p = TESS__BUF_INIT;
                const char *files[] = {"data.mdb", "lock.mdb"};
                for (size_t i = 0; i < 2 && rc == TESS_OK; i++) {
                    tess__buf_reset(&p);
                    if (tess__buf_printf(&p, "%s/%s", e->path, files[i]) != TESS_OK)
                        rc = tess__err_set(err, TESS_ENOMEM, "online store %s: out of memory",
                                           e->path);
                    else if (unlink(p.p) != 0 && errno != ENOENT)
                        rc = tess__err_set(err, TESS_EIO, "online store %s: cannot remove %s "
                                           "(damaged by a system crash): %s",
                                           e->path, p.p, strerror(errno));
                }
                tess__buf_release(&p);
                if (rc == TESS_OK) {
                    fsync_dir(e->path);
                    unlink(e->marker);
                    fsync_dir(e->path);
                }
            }
        }
    }
    close(fd);
    return rc;
}

/* At a writable open, after LMDB's: a marker of this boot that no process holds was left by a
 * process that died with unsynced commits (the OS still has them): flush them and remove it, so
 * that a later restart of the system does not rebuild the store for nothing. */
static void adopt_marker(lenv *e)
{
    int fd = open(e->marker, O_RDONLY | O_CLOEXEC), dfd;
    if (fd < 0) return;
    char cur[BOOT_ID_MAX];
    if (flock(fd, LOCK_EX | LOCK_NB) == 0 && same_file(fd, e->marker)) {
        marker_read(fd, cur);
        if (strcmp(cur, e->boot) == 0 && mdb_env_get_fd(e->env, &dfd) == 0 && fdatasync(dfd) == 0)
            unlink(e->marker);
    }
    close(fd);
}

/* The write transaction; end it with write_end. Holds e->write_lock until then. *nosync in:
 * the caller would have it unsynced; out: it is (the marker is held and MDB_NOSYNC set). */
static int write_begin(lenv *e, bool *nosync, rslot **slot, MDB_txn **txn, tess__err *err)
{
    pthread_mutex_lock(&e->write_lock);
    if (*nosync) *nosync = marker_hold(e) && mdb_env_set_flags(e->env, MDB_NOSYNC, 1) == 0;
    for (int attempt = 0;; attempt++) {
        rslot *s = enter(e);
        MDB_txn *t = NULL;
        int mrc = mdb_txn_begin(e->env, NULL, 0, &t);
        if (mrc == 0) {
            *slot = s;
            *txn = t;
            return TESS_OK;
        }
        leave(s);
        int rc = (mrc == MDB_MAP_RESIZED && attempt < 3)
                     ? remap(e, 0, err)
                     : lmdb_fail(e, "begin a write transaction", mrc, err);
        if (rc != TESS_OK) {
            if (*nosync) mdb_env_set_flags(e->env, MDB_NOSYNC, 0);
            pthread_mutex_unlock(&e->write_lock);
            return rc;
        }
    }
}

/* Commits (rc == TESS_OK) or aborts (otherwise) and returns the outcome. */
static int write_end(lmdb_kv *kv, bool nosync, rslot *s, MDB_txn *t, int rc, const char *what,
                     tess__err *err)
{
    lenv *e = kv->e;
    int mrc = 0;
    if (rc == TESS_OK) {
        mrc = mdb_txn_commit(t);
    } else {
        mdb_txn_abort(t);
    }
    if (nosync) {
        mdb_env_set_flags(e->env, MDB_NOSYNC, 0);
        if (rc == TESS_OK && !mrc) note_unsynced(e);
    }
    leave(s);
    pthread_mutex_unlock(&e->write_lock);
    if (mrc) return lmdb_fail(e, what, mrc, err);
    if (rc == TESS_OK && kv->sync && !nosync) {
        /* after the unlock: concurrent committers' flushes overlap (group commit) */
        mrc = mdb_env_sync(e->env, 1);
        if (mrc) return lmdb_fail(e, "flush to disk", mrc, err);
    }
    return rc;
}

/* ---- opening ------------------------------------------------------------------------------ */

/* mkdir -p with mode 0700 for what it creates. */
static int make_dirs(const char *dir, tess__err *err)
{
    struct stat st;
    if (stat(dir, &st) == 0) {
        if (S_ISDIR(st.st_mode)) return TESS_OK;
        return tess__err_set(err, TESS_EIO, "online store %s: not a directory", dir);
    }
    size_t n = strlen(dir);
    char *p = tess__strndup(dir, n);
    if (!p) return tess__err_set(err, TESS_ENOMEM, "online store %s: out of memory", dir);
    int rc = TESS_OK;
    for (size_t i = 1; i <= n; i++) {
        if (i < n && p[i] != '/') continue;
        char c = p[i];
        p[i] = '\0';
        if (mkdir(p, 0700) != 0 && errno != EEXIST) {
            rc = tess__err_set(err, TESS_EIO, "online store %s: cannot create %s: %s", dir, p,
                               strerror(errno));
            break;
        }
        p[i] = c;
    }
    tess__free(p);
    if (rc != TESS_OK) return rc;
    if (stat(dir, &st) != 0)
        return tess__err_set(err, TESS_EIO, "online store %s: %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return tess__err_set(err, TESS_EIO, "online store %s: not a directory", dir);
    return TESS_OK;
}

static void lenv_free(lenv *e)
{
    if (!e) return;
    if (e->env) stop_flusher(e);
    if (e->slots) {
        for (int i = 0; i < NSLOTS; i++) {
            MDB_txn *t = atomic_exchange(&e->slots[i].txn, NULL);
            if (t) mdb_txn_abort(t);
        }
    }
    if (e->env) mdb_env_close(e->env);
    pthread_mutex_destroy(&e->resize_lock);
    pthread_mutex_destroy(&e->write_lock);
    tess__free(e->slots_mem);
    tess__free(e->marker);
    tess__free(e->path);
    tess__free(e);
}

/* The data file must hold every page the meta page counts: a shorter file (truncated, or
 * copied while being written) would fault (SIGBUS) when the missing pages are read. */
static int check_file_size(lenv *e, tess__err *err)
{
    MDB_envinfo info;
    MDB_stat st;
    int fd;
    struct stat fs;
    int mrc = mdb_env_info(e->env, &info);
    if (!mrc) mrc = mdb_env_stat(e->env, &st);
    if (!mrc) mrc = mdb_env_get_fd(e->env, &fd);
    if (mrc) return lmdb_fail(e, "read its size", mrc, err);
    if (fstat(fd, &fs) != 0)
        return tess__err_set(err, TESS_EIO, "online store %s: %s", e->path, strerror(errno));
    uint64_t need = ((uint64_t)info.me_last_pgno + 1) * st.ms_psize;
    if ((uint64_t)fs.st_size < need)
        return tess__err_set(err, TESS_EIO,
                             "online store %s is damaged: data.mdb has %llu bytes, its last "
                             "page ends at byte %llu (truncated?)",
                             e->path, (unsigned long long)fs.st_size, (unsigned long long)need);
    return TESS_OK;
}

/* DEFAULT_MAP_SIZE, or TESSERA_LMDB_MAP_SIZE (bytes, at least 1 MiB) when set: some tools
 * cannot reserve 64 GiB of address space (valgrind: tests/valgrind.sh sets 4 GiB). */
static size_t default_map_size(void)
{
    const char *v = getenv("TESSERA_LMDB_MAP_SIZE");
    char *end;
    unsigned long long n = v && *v ? strtoull(v, &end, 10) : 0;
    return n >= ((size_t)1 << 20) && *end == '\0' ? (size_t)n : DEFAULT_MAP_SIZE;
}

static int lenv_open(const char *dir, const struct stat *dst, const tess__kv_opts *o,
                     lenv **out, tess__err *err)
{
    int rc = TESS_OK, mrc;
    lenv *e = tess__calloc(1, sizeof(*e));
    if (!e) return tess__err_set(err, TESS_ENOMEM, "online store %s: out of memory", dir);
    pthread_mutex_init(&e->resize_lock, NULL);
    pthread_mutex_init(&e->write_lock, NULL);
    e->pid = getpid();
    e->dev = dst->st_dev;
    e->ino = dst->st_ino;
    e->rdonly = o->read_only;
    e->path = tess__strdup(dir);
    e->slots_mem = tess__calloc(1, sizeof(rslot) * NSLOTS + 64);
    e->marker_fd = -1;
    read_boot_id(e->boot);
    tess__buf mp = TESS__BUF_INIT;
    if (e->path && tess__buf_printf(&mp, "%s/unsynced", dir) == TESS_OK) e->marker = mp.p;
    else tess__buf_release(&mp);
    if (!e->path || !e->slots_mem || !e->marker) {
        lenv_free(e);
        return tess__err_set(err, TESS_ENOMEM, "online store %s: out of memory", dir);
    }
    e->slots = (rslot *)(((uintptr_t)e->slots_mem + 63) & ~(uintptr_t)63);
    for (int i = 0; i < NSLOTS; i++) {
        atomic_init(&e->slots[i].txn, NULL);
        atomic_init(&e->slots[i].active, 0);
    }
    atomic_init(&e->resizing, 0);
    rc = check_marker(e, o->read_only, err);
    if (rc != TESS_OK) goto out;

    if (o->read_only) {
        tess__buf p = TESS__BUF_INIT;
        struct stat st;
        if (tess__buf_printf(&p, "%s/data.mdb", dir) != TESS_OK) {
            rc = tess__err_set(err, TESS_ENOMEM, "online store %s: out of memory", dir);
        } else if (stat(p.p, &st) != 0) {
            rc = errno == ENOENT
                     ? tess__err_set(err, TESS_NOTFOUND, "online store %s: no data.mdb "
                                     "(nothing was written to it yet)", dir)
                     : tess__err_set(err, TESS_EIO, "online store %s: %s", p.p, strerror(errno));
        }
        tess__buf_release(&p);
        if (rc != TESS_OK) goto out;
    }

    mrc = mdb_env_create(&e->env);
    if (!mrc) mrc = mdb_env_set_maxreaders(e->env, MAX_READERS);
    if (!mrc) mrc = mdb_env_set_maxdbs(e->env, 4);
    if (!mrc) mrc = mdb_env_set_mapsize(e->env, o->map_size ? o->map_size : default_map_size());
    if (mrc) {
        rc = lmdb_fail(e, "create the environment", mrc, err);
        goto out;
    }
    unsigned flags = MDB_NOTLS | MDB_NORDAHEAD | MDB_NOMETASYNC;
    if (o->read_only) flags |= MDB_RDONLY;
    mrc = mdb_env_open(e->env, dir, flags, 0600);
    if (mrc) {
        rc = lmdb_fail(e, "open", mrc, err);
        goto out;
    }
    rc = check_file_size(e, err);
    if (rc != TESS_OK) goto out;
    if (!o->read_only) adopt_marker(e);
    int dead = 0;
    mdb_reader_check(e->env, &dead); /* frees the reader slots of crashed processes */

    MDB_txn *t = NULL;
    mrc = mdb_txn_begin(e->env, NULL, o->read_only ? MDB_RDONLY : 0, &t);
    if (!mrc) {
        mrc = mdb_dbi_open(t, "data", o->read_only ? 0 : MDB_CREATE, &e->dbi);
        if (mrc) {
            mdb_txn_abort(t);
        } else {
            mrc = mdb_txn_commit(t); /* keeps the DBI handle for the environment */
        }
    }
    if (mrc == MDB_NOTFOUND && o->read_only) {
        rc = tess__err_set(err, TESS_NOTFOUND,
                           "online store %s: no data (nothing was written to it yet)", dir);
    } else if (mrc == MDB_INCOMPATIBLE) {
        rc = tess__err_set(err, TESS_EIO, "online store %s is damaged: %s", dir,
                           mdb_strerror(mrc));
    } else if (mrc) {
        rc = lmdb_fail(e, "open the data", mrc, err);
    }
out:
    if (rc != TESS_OK) {
        lenv_free(e);
        return rc;
    }
    *out = e;
    return TESS_OK;
}

static int lmdb_open(const char *url, const char *dir, const tess__kv_opts *o, tess__kv **out,
                     tess__err *err)
{
    (void)url;
    struct stat st;
    int rc;
    if (o->read_only) {
        if (stat(dir, &st) != 0) {
            if (errno == ENOENT || errno == ENOTDIR)
                return tess__err_set(err, TESS_NOTFOUND, "online store %s: does not exist", dir);
            return tess__err_set(err, TESS_EIO, "online store %s: %s", dir, strerror(errno));
        }
        if (!S_ISDIR(st.st_mode))
            return tess__err_set(err, TESS_EIO, "online store %s: not a directory", dir);
    } else {
        rc = make_dirs(dir, err);
        if (rc != TESS_OK) return rc;
        if (stat(dir, &st) != 0)
            return tess__err_set(err, TESS_EIO, "online store %s: %s", dir, strerror(errno));
    }
    lmdb_kv *kv = tess__calloc(1, sizeof(*kv));
    if (!kv) return tess__err_set(err, TESS_ENOMEM, "online store %s: out of memory", dir);
    kv->sync = o->sync;

    pid_t pid = getpid();
    pthread_mutex_lock(&envs_lock);
    lenv *e = envs;
    while (e && !(e->pid == pid && e->dev == st.st_dev && e->ino == st.st_ino)) e = e->next;
    if (e) {
        if (e->rdonly && !o->read_only) {
            rc = tess__err_set(err, TESS_EIO,
                               "online store %s: already open read-only in this process; close "
                               "that handle first",
                               dir);
        } else if (o->map_size) {
            MDB_envinfo info;
            mdb_env_info(e->env, &info);
            rc = o->map_size > info.me_mapsize ? remap(e, o->map_size, err) : TESS_OK;
        } else {
            rc = TESS_OK;
        }
    } else {
        rc = lenv_open(dir, &st, o, &e, err);
        if (rc == TESS_OK) {
            e->next = envs;
            envs = e;
        }
    }
    if (rc == TESS_OK) e->refs++;
    pthread_mutex_unlock(&envs_lock);
    if (rc != TESS_OK) {
        tess__free(kv);
        return rc;
    }
    kv->e = e;
    *out = &kv->base;
    return TESS_OK;
}

static void lmdb_close(tess__kv *base)
{
    lmdb_kv *kv = (lmdb_kv *)base;
    lenv *e = kv->e;
    pthread_mutex_lock(&envs_lock);
    if (--e->refs == 0) {
        lenv **pp = &envs;
        while (*pp != e) pp = &(*pp)->next;
        *pp = e->next;
    } else {
        e = NULL;
    }
    pthread_mutex_unlock(&envs_lock);
    lenv_free(e);
    tess__free(kv);
}

/* ---- operations --------------------------------------------------------------------------- */

static MDB_val mval(tess__str s)
{
    return (MDB_val){s.n, (void *)s.p};
}

/* A snapshot (kv.h): the thread's read transaction, held until lmdb_snap_end; values point
 * into the map. */
static int lmdb_snap_begin(tess__kv *base, tess__kv_snap *snap, tess__err *err)
{
    lenv *e = ((lmdb_kv *)base)->e;
    rslot *s;
    MDB_txn *t;
    int rc = read_begin(e, &s, &t, err);
    if (rc != TESS_OK) return rc;
    snap->p[0] = s;
    snap->p[1] = t;
    return TESS_OK;
}

static int lmdb_snap_get(tess__kv_snap *snap, const tess__str *keys, size_t n, tess__str *vals,
                         tess__err *err)
{
    lenv *e = ((lmdb_kv *)snap->kv)->e;
    MDB_txn *t = snap->p[1];
    for (size_t i = 0; i < n; i++) {
        MDB_val k = mval(keys[i]), v;
        int mrc = mdb_get(t, e->dbi, &k, &v);
        if (mrc == MDB_NOTFOUND) {
            vals[i] = (tess__str){NULL, 0};
        } else if (mrc) {
            return lmdb_fail(e, "get", mrc, err);
        } else {
            vals[i] = (tess__str){v.mv_data, v.mv_size};
        }
    }
    return TESS_OK;
}

static void lmdb_snap_end(tess__kv_snap *snap)
{
    read_end(snap->p[0], snap->p[1]);
}

/* get = a snapshot's get, the values copied out before it ends */
static int lmdb_get(tess__kv *base, const tess__str *keys, size_t n, tess__str *vals,
                    tess__arena *arena, tess__err *err)
{
    tess__kv_snap snap = {.kv = base};
    int rc = lmdb_snap_begin(base, &snap, err);
    if (rc != TESS_OK) return rc;
    rc = lmdb_snap_get(&snap, keys, n, vals, err);
    for (size_t i = 0; rc == TESS_OK && i < n; i++) {
        if (!vals[i].p) continue;
        char *p = tess__arena_strndup(arena, vals[i].p, vals[i].n);
        if (!p)
            rc = tess__err_set(err, TESS_ENOMEM, "online store %s: get: out of memory for a "
                               "value of %zu bytes", ((lmdb_kv *)base)->e->path, vals[i].n);
        vals[i].p = p;
    }
    lmdb_snap_end(&snap);
    return rc;
}

/* An update's transaction as fn sees it. Writes through it are queued and applied when fn
 * returns, so that the old value fn is reading (bytes in an LMDB page) stays where it is. */
typedef struct ltxn {
    tess__kv_txn base;
    lenv *e;
    MDB_txn *t;
    tess__kvq q;     /* writes queued by the running call of fn */
} ltxn;

static int ltxn_get(tess__kv_txn *tx, tess__str key, tess__arena *arena, tess__str *val,
                    tess__err *err)
{
    ltxn *x = (ltxn *)tx;
    /* the newest queued write of the key wins */
    tess__str qv;
    const void *src = NULL;
    size_t n = 0;
    if (tess__kvq_find(&x->q, key, &qv)) {
        if (!qv.p) return TESS_OK; /* deleted */
        src = qv.p;
        n = qv.n;
    } else {
        MDB_val k = mval(key), v;
        int mrc = mdb_get(x->t, x->e->dbi, &k, &v);
        if (mrc == MDB_NOTFOUND) return TESS_OK;
        if (mrc) return lmdb_fail(x->e, "update", mrc, err);
        src = v.mv_data;
        n = v.mv_size;
    }
    char *p = tess__arena_strndup(arena, src ? src : "", n);
    if (!p) return tess__err_set(err, TESS_ENOMEM, "online store %s: update: out of memory",
                                 x->e->path);
    *val = (tess__str){p, n};
    return TESS_OK;
}

static int ltxn_put(tess__kv_txn *tx, tess__str key, tess__str val, tess__err *err)
{
    ltxn *x = (ltxn *)tx;
    if (tess__kvq_put(&x->q, key, val))
        return tess__err_set(err, TESS_ENOMEM, "online store %s: update: out of memory",
                             x->e->path);
    return TESS_OK;
}

/* Applies and clears the queued writes. */
static int ltxn_flush(ltxn *x, tess__err *err)
{
    tess__str key, val;
    for (size_t at = 0; tess__kvq_next(&x->q, &at, &key, &val);) {
        MDB_val k = mval(key);
        int mrc;
        if (val.p) {
            MDB_val v = mval(val);
            mrc = mdb_put(x->t, x->e->dbi, &k, &v, 0);
        } else {
            mrc = mdb_del(x->t, x->e->dbi, &k, NULL);
            if (mrc == MDB_NOTFOUND) mrc = 0;
        }
        if (mrc) return lmdb_fail(x->e, "update", mrc, err);
    }
    tess__kvq_reset(&x->q);
    return TESS_OK;
}

static int lmdb_update(tess__kv *base, const tess__str *keys, size_t n, tess__kv_update_fn fn,
                       void *arg, unsigned flags, tess__err *err)
{
    lmdb_kv *kv = (lmdb_kv *)base;
    lenv *e = kv->e;
    rslot *s;
    MDB_txn *t;
    void *scratch = NULL;
    bool nosync = (flags & TESS__KV_REPLAYABLE) != 0;
    int rc = write_begin(e, &nosync, &s, &t, err);
    if (rc != TESS_OK) return rc;
    ltxn x = {{base}, e, t, {TESS__BUF_INIT, 0}};
    for (size_t i = 0; i < n && rc == TESS_OK; i++) {
        MDB_val k = mval(keys[i]), v;
        tess__str old = {NULL, 0};
        int mrc = mdb_get(t, e->dbi, &k, &v);
        if (mrc == 0) {
            old = (tess__str){v.mv_data ? v.mv_data : "", v.mv_size};
        } else if (mrc != MDB_NOTFOUND) {
            rc = lmdb_fail(e, "update", mrc, err);
            break;
        }
        tess__str nv = {NULL, 0};
        bool del = false;
        rc = fn(arg, &x.base, i, old, &nv, &del);
        if (rc != 0) break;
        mrc = 0;
        if (del) {
            mrc = mdb_del(t, e->dbi, &k, NULL);
            if (mrc == MDB_NOTFOUND) mrc = 0;
        } else if (nv.p) {
            /* a new value inside the old one's bytes (in a page this put may move): copy it */
            if (old.n && nv.p < old.p + old.n && nv.p + nv.n > old.p) {
                tess__free(scratch);
                scratch = tess__malloc(nv.n);
                if (!scratch) {
                    rc = tess__err_set(err, TESS_ENOMEM, "online store %s: update: out of memory",
                                       e->path);
                    break;
                }
                memcpy(scratch, nv.p, nv.n);
                nv.p = scratch;
            }
            MDB_val nvv = mval(nv);
            mrc = mdb_put(t, e->dbi, &k, &nvv, 0);
        }
        if (mrc) rc = lmdb_fail(e, "update", mrc, err);
        if (rc == TESS_OK && x.q.n) rc = ltxn_flush(&x, err);
    }
    rc = write_end(kv, nosync, s, t, rc, "update", err);
    tess__free(scratch);
    tess__kvq_release(&x.q);
    return rc;
}

static int lmdb_put(tess__kv *base, const tess__str *keys, const tess__str *vals, size_t n,
                    tess__err *err)
{
    lmdb_kv *kv = (lmdb_kv *)base;
    lenv *e = kv->e;
    rslot *s;
    MDB_txn *t;
    bool nosync = false;
    int rc = write_begin(e, &nosync, &s, &t, err);
    if (rc != TESS_OK) return rc;
    for (size_t i = 0; i < n; i++) {
        MDB_val k = mval(keys[i]);
        int mrc;
        if (!vals[i].p) {
            mrc = mdb_del(t, e->dbi, &k, NULL);
            if (mrc == MDB_NOTFOUND) mrc = 0;
        } else {
            MDB_val v = mval(vals[i]);
            mrc = mdb_put(t, e->dbi, &k, &v, 0);
        }
        if (mrc) {
            rc = lmdb_fail(e, "put", mrc, err);
            break;
        }
    }
    return write_end(kv, false, s, t, rc, "put", err);
}

static bool has_prefix(const MDB_val *k, tess__str prefix)
{
    return k->mv_size >= prefix.n && memcmp(k->mv_data, prefix.p, prefix.n) == 0;
}

static int lmdb_scan(tess__kv *base, tess__str prefix, tess__kv_scan_fn fn, void *arg,
                     tess__err *err)
{
    lenv *e = ((lmdb_kv *)base)->e;
    rslot *s;
    MDB_txn *t;
    MDB_cursor *c = NULL;
    int rc = read_begin(e, &s, &t, err);
    if (rc != TESS_OK) return rc;
    int mrc = mdb_cursor_open(t, e->dbi, &c);
    if (mrc) {
        rc = lmdb_fail(e, "scan", mrc, err);
        goto out;
    }
    MDB_val k = mval(prefix), v;
    mrc = mdb_cursor_get(c, &k, &v, prefix.n ? MDB_SET_RANGE : MDB_FIRST);
    while (mrc == 0 && has_prefix(&k, prefix)) {
        rc = fn(arg, (tess__str){k.mv_data, k.mv_size},
                (tess__str){v.mv_data ? v.mv_data : "", v.mv_size});
        if (rc != 0) goto out;
        mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
    }
    if (mrc && mrc != MDB_NOTFOUND) rc = lmdb_fail(e, "scan", mrc, err);
out:
    if (c) mdb_cursor_close(c);
    read_end(s, t);
    return rc;
}

static int lmdb_drop_prefix(tess__kv *base, tess__str prefix, uint64_t *deleted,
                            tess__err *err)
{
    lmdb_kv *kv = (lmdb_kv *)base;
    lenv *e = kv->e;
    rslot *s;
    MDB_txn *t;
    MDB_cursor *c = NULL;
    uint64_t count = 0;
    bool nosync = false;
    int rc = write_begin(e, &nosync, &s, &t, err);
    if (rc != TESS_OK) return rc;
    int mrc = mdb_cursor_open(t, e->dbi, &c);
    if (!mrc) {
        MDB_val k = mval(prefix), v;
        mrc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
        while (mrc == 0 && has_prefix(&k, prefix)) {
            mrc = mdb_cursor_del(c, 0);
            if (mrc) break;
            count++;
            /* after a delete the cursor already stands on the next key: MDB_NEXT stays */
            mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
        }
        if (mrc == MDB_NOTFOUND) mrc = 0;
        mdb_cursor_close(c);
    }
    if (mrc) rc = lmdb_fail(e, "drop_prefix", mrc, err);
    rc = write_end(kv, false, s, t, rc, "drop_prefix", err);
    if (rc == TESS_OK) *deleted = count;
    return rc;
}

static int lmdb_stats(tess__kv *base, uint64_t *bytes, uint64_t *keys, tess__err *err)
{
    lenv *e = ((lmdb_kv *)base)->e;
    rslot *s;
    MDB_txn *t;
    MDB_stat st;
    int rc = read_begin(e, &s, &t, err);
    if (rc != TESS_OK) return rc;
    int mrc = mdb_stat(t, e->dbi, &st);
    read_end(s, t);
    if (mrc) return lmdb_fail(e, "stats", mrc, err);
    *keys = st.ms_entries;
    *bytes = ((uint64_t)st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages) *
             st.ms_psize;
    return TESS_OK;
}

const tess__kv_vtab tess__kv_lmdb_vtab = {
    .name = "lmdb",
    .open = lmdb_open,
    .close = lmdb_close,
    .get = lmdb_get,
    .snap_begin = lmdb_snap_begin,
    .snap_get = lmdb_snap_get,
    .snap_end = lmdb_snap_end,
    .update = lmdb_update,
    .txn_get = ltxn_get,
    .txn_put = ltxn_put,
    .put = lmdb_put,
    .scan = lmdb_scan,
    .drop_prefix = lmdb_drop_prefix,
    .stats = lmdb_stats,
};
