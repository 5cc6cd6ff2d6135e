/* bench_kv.c — the online store's key-value layer (src/online/kv.h) on the LMDB back end.
 *
 * Usage: bench_kv [keys] [seconds]   (keys: default 100000; seconds per figure: default 1)
 *
 * Fills a fresh store (in $TMPDIR) with `keys` records shaped like the online store's: a view
 * prefix, a NUL, an 8-byte entity id; a 200-byte value (about 20 features). Then measures
 * tess__kv_get of random keys in batches of 1, 3 and 100 (one snapshot per batch, values
 * copied into an arena that is reset per batch), on 1 thread and on 2, and writes (put of 100
 * keys per commit, update of 1 key per commit) with sync off and on. For reference it also
 * times the two ways to get an LMDB read transaction: begin+abort per read (what a plain
 * back end would do) against renew+reset of a cached one (what kv_lmdb.c does).
 *
 * Each get figure is given as throughput (wall clock) and as CPU time per get and per key
 * (the thread's CPU clock): on a shared machine the second is the one that says what a get
 * costs. The target (docs/online_backends.md): a whole feature lookup under 2 us per entity, so a
 * get of 3 keys well under 1 us. Benchmarks are not tests: this never fails on a slow figure.
 */
#include <ftw.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/arena.h"
#include "core/err.h"
#include "online/kv.h"
#include "tessera.h"

#define KEYLEN 17 /* "user_txn" NUL id(8) */
#define VALLEN 200

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void make_key(char *k, uint64_t id)
{
    memcpy(k, "user_txn", 8);
    k[8] = 0;
    for (int i = 0; i < 8; i++) k[9 + i] = (char)(id >> (56 - 8 * i));
}

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static uint64_t rng(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void die(const char *what, const tess__err *err)
{
    fprintf(stderr, "bench_kv: %s: %s\n", what, tess__err_msg(err));
    exit(1);
}

typedef struct job {
    tess__kv *kv;
    size_t nkeys, batch;
    double seconds;
    uint64_t seed;
    double batches; /* out */
    double elapsed; /* out: wall seconds */
    double cpu;     /* out: CPU seconds of the thread */
} job;

static void *get_loop(void *arg)
{
    job *j = arg;
    tess__err err = TESS__ERR_INIT;
    tess__arena arena = TESS__ARENA_INIT;
    char (*kb)[KEYLEN] = malloc(j->batch * KEYLEN);
    tess__str *keys = malloc(j->batch * sizeof(tess__str));
    tess__str *vals = malloc(j->batch * sizeof(tess__str));
    uint64_t s = j->seed | 1;
    long n = 0;
    double t0 = now(), c0 = cpu_now(), t;
    do {
        for (int rep = 0; rep < 256; rep++) {
            for (size_t i = 0; i < j->batch; i++) {
                make_key(kb[i], rng(&s) % j->nkeys);
                keys[i] = (tess__str){kb[i], KEYLEN};
            }
            if (tess__kv_get(j->kv, keys, j->batch, vals, &arena, &err) != TESS_OK)
                die("get", &err);
            if (!vals[0].p || vals[0].n != VALLEN) {
                fprintf(stderr, "bench_kv: a key is missing\n");
                exit(1);
            }
            tess__arena_reset(&arena);
            n++;
        }
        t = now();
    } while (t - t0 < j->seconds);
    j->batches = (double)n;
    j->elapsed = t - t0;
    j->cpu = cpu_now() - c0;
    tess__arena_release(&arena);
    tess__err_release(&err);
    free(kb);
    free(keys);
    free(vals);
    return NULL;
}

static void bench_get(tess__kv *kv, size_t nkeys, size_t batch, int threads, double seconds)
{
    job j[8];
    pthread_t th[8];
    for (int i = 0; i < threads; i++) {
        j[i] = (job){kv, nkeys, batch, seconds, 0x9E3779B97F4A7C15ull * (i + 1), 0, 0, 0};
        pthread_create(&th[i], NULL, get_loop, &j[i]);
    }
    double batches = 0, elapsed = 0, cpu = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(th[i], NULL);
        batches += j[i].batches;
        cpu += j[i].cpu;
        if (j[i].elapsed > elapsed) elapsed = j[i].elapsed;
    }
    double bps = batches / elapsed;
    printf("get  batch %3zu  %d thread%s  %9.0f gets/s  %9.0f keys/s   CPU: %6.0f ns/get  "
           "%5.0f ns/key\n",
           batch, threads, threads > 1 ? "s" : " ", bps, bps * batch, 1e9 * cpu / batches,
           1e9 * cpu / (batches * batch));
}

static int one_fn(void *arg, tess__kv_txn *tx, size_t i, tess__str old, tess__str *nv, bool *del)
{
    (void)i, (void)del;
    char *buf = arg;
    memcpy(buf, old.p ? old.p : "", old.p ? old.n : 0);
    buf[0]++;
    *nv = (tess__str){buf, VALLEN};
    return 0;
}

static void bench_writes(const char *dir, size_t nkeys, bool sync, double seconds)
{
    tess__err err = TESS__ERR_INIT;
    tess__kv_opts o = {.sync = sync};
    tess__kv *kv = NULL;
    if (tess__kv_open(NULL, dir, &o, &kv, &err) != TESS_OK) die("open", &err);
    char kb[100][KEYLEN], vb[VALLEN];
    tess__str keys[100], vals[100];
    memset(vb, 'w', sizeof(vb));
    uint64_t s = 12345;
    long n = 0;
    double t0 = now(), t;
    do {
        for (int i = 0; i < 100; i++) {
            make_key(kb[i], rng(&s) % nkeys);
            keys[i] = (tess__str){kb[i], KEYLEN};
            vals[i] = (tess__str){vb, VALLEN};
        }
        if (tess__kv_put(kv, keys, vals, 100, &err) != TESS_OK) die("put", &err);
        n++;
        t = now();
    } while (t - t0 < seconds);
    printf("put  batch 100  sync=%-5s  %8.0f commits/s  %9.0f keys/s\n", sync ? "true" : "false",
           n / (t - t0), 100.0 * n / (t - t0));
    char buf[VALLEN];
    n = 0;
    t0 = now();
    do {
        make_key(kb[0], rng(&s) % nkeys);
        keys[0] = (tess__str){kb[0], KEYLEN};
        if (tess__kv_update(kv, keys, 1, one_fn, buf, &err) != TESS_OK) die("update", &err);
        n++;
        t = now();
    } while (t - t0 < seconds);
    printf("update batch 1  sync=%-5s  %8.0f commits/s\n", sync ? "true" : "false", n / (t - t0));
    tess__kv_close(kv);
    tess__err_release(&err);
}

/* Raw LMDB: the cost of getting a read transaction, two ways, plus one mdb_get. */
static void bench_txn(const char *dir, size_t nkeys, double seconds)
{
    MDB_env *env;
    MDB_dbi dbi;
    MDB_txn *txn;
    mdb_env_create(&env);
    mdb_env_set_maxdbs(env, 4);
    mdb_env_set_maxreaders(env, 512);
    mdb_env_set_mapsize(env, (size_t)64 << 30);
    if (mdb_env_open(env, dir, MDB_NOTLS | MDB_RDONLY | MDB_NORDAHEAD, 0600)) return;
    mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);
    if (mdb_dbi_open(txn, "data", 0, &dbi)) return;
    mdb_txn_commit(txn);
    char k[KEYLEN];
    uint64_t s = 777;
    for (int mode = 0; mode < 2; mode++) {
        long n = 0;
        double t0 = now(), c0 = cpu_now(), t;
        txn = NULL;
        if (mode == 1) {
            mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);
            mdb_txn_reset(txn);
        }
        do {
            for (int rep = 0; rep < 1024; rep++) {
                if (mode == 0) mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);
                else mdb_txn_renew(txn);
                make_key(k, rng(&s) % nkeys);
                MDB_val kv = {KEYLEN, k}, v;
                mdb_get(txn, dbi, &kv, &v);
                if (mode == 0) mdb_txn_abort(txn);
                else mdb_txn_reset(txn);
                n++;
            }
            t = now();
        } while (t - t0 < seconds);
        if (mode == 1) mdb_txn_abort(txn);
        printf("raw lmdb: %-16s + 1 mdb_get: %6.0f ns wall, %6.0f ns CPU\n",
               mode == 0 ? "txn begin/abort" : "txn renew/reset", 1e9 * (t - t0) / n,
               1e9 * (cpu_now() - c0) / n);
    }
    mdb_env_close(env);
}

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(p);
}

int main(int argc, char **argv)
{
    size_t nkeys = argc > 1 ? strtoul(argv[1], NULL, 10) : 100000;
    double seconds = argc > 2 ? atof(argv[2]) : 1.0;
    if (nkeys < 100) nkeys = 100;
    const char *tmp = getenv("TMPDIR");
    char root[512], dir[600];
    snprintf(root, sizeof(root), "%s/bench_kv.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(root)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(dir, sizeof(dir), "%s/online", root);

    tess__err err = TESS__ERR_INIT;
    tess__kv *kv = NULL;
    if (tess__kv_open(NULL, dir, NULL, &kv, &err) != TESS_OK) die("open", &err);
    enum { CHUNK = 10000 };
    char (*kb)[KEYLEN] = malloc(CHUNK * KEYLEN);
    tess__str *keys = malloc(CHUNK * sizeof(tess__str)), *vals = malloc(CHUNK * sizeof(tess__str));
    char val[VALLEN];
    memset(val, 'v', sizeof(val));
    double t0 = now();
    for (size_t base = 0; base < nkeys; base += CHUNK) {
        size_t n = nkeys - base < CHUNK ? nkeys - base : CHUNK;
        for (size_t i = 0; i < n; i++) {
            make_key(kb[i], base + i);
            keys[i] = (tess__str){kb[i], KEYLEN};
            vals[i] = (tess__str){val, VALLEN};
        }
        if (tess__kv_put(kv, keys, vals, n, &err) != TESS_OK) die("fill", &err);
    }
    double t1 = now();
    uint64_t bytes = 0, count = 0;
    tess__kv_stats(kv, &bytes, &count, &err);
    printf("bench_kv: %zu keys of %d bytes, values of %d bytes (%.1f MB in the store), filled "
           "in %.2f s (%.0f keys/s, %d keys per commit)\n",
           (size_t)count, KEYLEN, VALLEN, bytes / 1e6, t1 - t0, nkeys / (t1 - t0), CHUNK);
    free(kb);
    free(keys);
    free(vals);

    size_t batches[] = {1, 3, 20, 100};
    for (size_t i = 0; i < 4; i++) bench_get(kv, nkeys, batches[i], 1, seconds);
    for (size_t i = 0; i < 4; i += 1) bench_get(kv, nkeys, batches[i], 2, seconds);
    tess__kv_close(kv);

    bench_txn(dir, nkeys, seconds);
    bench_writes(dir, nkeys, false, seconds);
    bench_writes(dir, nkeys, true, seconds);

    nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    tess__err_release(&err);
    return 0;
}
