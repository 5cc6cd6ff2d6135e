/* bench_online — in-process online lookups through the C API (tess_get_online), DESIGN.md:
 * "in-process lookup through the C API: under 2 us per entity for 20 features".
 *
 *   bench_online REPO SERVICE USERS MERCHANTS [LOOKUPS]
 *
 * Looks up random (user_id, merchant_id) entities of a materialized repo of
 * bench/online/definitions.yaml, one entity per call and 100 per call, median of 5 runs each;
 * prints microseconds per entity. Then, to show where the time goes, the same for each of the
 * service's three views alone ("view:*"), and the peer: bare LMDB, the three mdb_get calls of
 * an entity's head records (the same keys, one read transaction per entity, nothing decoded)
 * on the same store, so the figure can be read against what the storage costs on this
 * machine. A checksum of the values keeps the work from being optimised away.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lmdb.h>

#include "core/buf.h"
#include "offline/segment.h"
#include "tessera.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static uint64_t rng = 88172645463325252ull;
static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* The views of bench/online/definitions.yaml: name, and whether the entity key is the user,
 * the merchant or both. */
static const struct {
    const char *name;
    int user, merchant;
} views[3] = {{"user_txn", 1, 0}, {"merchant_txn", 0, 1}, {"user_merchant", 1, 1}};

static uint64_t check;

/* Median of 5 runs of `lookups` random entities, `bs` per call, through the query q, as of
 * `now` (0: TESSERA_NOW or the clock): us per entity. */
static double time_query(tess_session *s, tess_query *q, tess_value *in, size_t bs, long lookups,
                         long users, long merchants, int64_t now)
{
    size_t nin = tess_query_ninputs(q), nf = tess_query_nfeatures(q);
    double runs[5];
    for (int run = 0; run < 5; run++) {
        double t0 = now_s();
        for (long done = 0; done < lookups; done += (long)bs) {
            for (size_t r = 0; r < bs; r++)
                for (size_t i = 0; i < nin; i++) {
                    int type;
                    const char *name = tess_query_input(q, i, &type, NULL);
                    tess_value *v = &in[r * nin + i];
                    v->type = type;
                    v->null = 0;
                    v->u.i = (int64_t)(next() % (uint64_t)(name[0] == 'u' ? users : merchants)) + 1;
                }
            tess_online_result res;
            if (tess_get_online(s, q, in, bs, now, &res) != TESS_OK) {
                fprintf(stderr, "bench_online: %s\n", tess_session_errmsg(s));
                exit(1);
            }
            for (size_t k = 0; k < bs * nf; k++) check += (uint64_t)res.statuses[k];
        }
        runs[run] = (now_s() - t0) / (double)lookups * 1e6;
    }
    qsort(runs, 5, sizeof(double), cmp_d);
    return runs[2];
}

/* Appends a view's head key of (user, merchant) as the online store spells it on LMDB
 * (src/online/record.h: 'v' view '#' gg NUL encoded-key, gg "00": one slot group). */
static void head_key(tess__buf *b, int v, int64_t user, int64_t merchant)
{
    int64_t ids[2];
    size_t n = 0;
    if (views[v].user) ids[n++] = user;
    if (views[v].merchant) ids[n++] = merchant;
    tess__col cols[2];
    for (size_t i = 0; i < n; i++)
        cols[i] = (tess__col){.type = TESS_T_INT64, .data = &ids[i]};
    tess__buf_reset(b);
    if (tess__buf_putc(b, 'v') || tess__buf_puts(b, views[v].name) ||
        tess__buf_append(b, "#00", 4) || /* with the NUL */
        tess__evkey_encode(b, cols, NULL, n, 0)) {
        fprintf(stderr, "bench_online: out of memory\n");
        exit(1);
    }
}

/* The peer: the three mdb_get of an entity's head records, one read transaction per entity
 * (renewed, as src/online/kv_lmdb.c does), median of 5 runs: us per entity. */
static double time_bare_lmdb(const char *repo, long lookups, long users, long merchants)
{
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/.tessera/online", repo);
    MDB_env *env;
    MDB_dbi dbi;
    MDB_txn *txn;
    if (mdb_env_create(&env) || mdb_env_set_maxdbs(env, 4) ||
        mdb_env_set_mapsize(env, (size_t)64 << 30) ||
        mdb_env_open(env, dir, MDB_NOTLS | MDB_RDONLY | MDB_NORDAHEAD, 0600) ||
        mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) || mdb_dbi_open(txn, "data", 0, &dbi) ||
        mdb_txn_commit(txn) || mdb_txn_begin(env, NULL, MDB_RDONLY, &txn)) {
        fprintf(stderr, "bench_online: cannot open %s with LMDB\n", dir);
        exit(1);
    }
    mdb_txn_reset(txn);
    tess__buf kb[3] = {TESS__BUF_INIT, TESS__BUF_INIT, TESS__BUF_INIT};
    double runs[5];
    long found[3] = {0, 0, 0};
    for (int run = 0; run < 5; run++) {
        double t0 = now_s();
        for (long done = 0; done < lookups; done++) {
            int64_t u = (int64_t)(next() % (uint64_t)users) + 1;
            int64_t m = (int64_t)(next() % (uint64_t)merchants) + 1;
            for (int v = 0; v < 3; v++) head_key(&kb[v], v, u, m);
            if (mdb_txn_renew(txn)) {
                fprintf(stderr, "bench_online: cannot renew an LMDB read transaction\n");
                exit(1);
            }
            for (int v = 0; v < 3; v++) {
                MDB_val k = {kb[v].len, kb[v].p}, val;
                int mrc = mdb_get(txn, dbi, &k, &val);
                if (!mrc) {
                    check += ((const uint8_t *)val.mv_data)[0];
                    found[v]++;
                } else if (mrc != MDB_NOTFOUND) {
                    fprintf(stderr, "bench_online: mdb_get: %s\n", mdb_strerror(mrc));
                    exit(1);
                }
            }
            mdb_txn_reset(txn);
        }
        runs[run] = (now_s() - t0) / (double)lookups * 1e6;
    }
    for (int v = 0; v < 3; v++) tess__buf_release(&kb[v]);
    if (!found[0] || !found[1]) {
        fprintf(stderr, "bench_online: bare LMDB found no user or merchant record: the key "
                        "layout of src/online/record.h changed?\n");
        exit(1);
    }
    mdb_txn_abort(txn);
    mdb_env_close(env);
    qsort(runs, 5, sizeof(double), cmp_d);
    return runs[2];
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: bench_online REPO SERVICE USERS MERCHANTS [LOOKUPS]\n");
        return 2;
    }
    long users = atol(argv[3]), merchants = atol(argv[4]);
    long lookups = argc > 5 ? atol(argv[5]) : 200000;
    tess_store *st = NULL;
    tess_query *q = NULL;
    tess_session *s = NULL;
    int rc = tess_store_open(argv[1], &st);
    if (!rc) rc = tess_query_new(st, argv[2], NULL, 0, 0, &q);
    if (!rc) rc = tess_session_new(st, &s);
    if (rc) {
        fprintf(stderr, "bench_online: %s\n", tess_store_errmsg(st));
        return 1;
    }
    tess_value *in = calloc(100 * 2, sizeof(*in));
    if (!in || tess_query_ninputs(q) > 2) return 1;
    printf("bench_online: service %s, %zu features, %zu inputs, %ld lookups per run, median of 5\n",
           argv[2], tess_query_nfeatures(q), tess_query_ninputs(q), lookups);
    const size_t batch_sizes[2] = {1, 100};
    for (int bi = 0; bi < 2; bi++) {
        double us = time_query(s, q, in, batch_sizes[bi], lookups, users, merchants, 0);
        printf("entities per call %3zu: %.3f us per entity (%.0f entities/s)\n", batch_sizes[bi],
               us, 1e6 / us);
    }
    /* an hour later: outside the hop bucket of every record's write (the reads of an entity
       written yesterday), the history's suffix states instead of the rollups */
    const char *pin = getenv("TESSERA_NOW");
    tess_value pv;
    if (pin && tess_value_parse(pin, strlen(pin), TESS_TYPE_TIMESTAMP, &pv) == TESS_OK) {
        double us = time_query(s, q, in, 1, lookups, users, merchants, pv.u.i + 3600000000LL);
        printf("an hour after the writes, 1 per call: %.3f us per entity\n", us);
    }
    for (int v = 0; v < 3; v++) {
        char ref[64];
        snprintf(ref, sizeof(ref), "%s:*", views[v].name);
        const char *fs[1] = {ref};
        tess_query *vq = NULL;
        if (tess_query_new(st, NULL, fs, 1, 0, &vq) != TESS_OK) {
            fprintf(stderr, "bench_online: %s: %s\n", ref, tess_store_errmsg(st));
            return 1;
        }
        double us = time_query(s, vq, in, 1, lookups, users, merchants, 0);
        printf("view %-14s alone, 1 per call: %.3f us per entity\n", views[v].name, us);
        tess_query_free(vq);
    }
    printf("bare LMDB, 3 mdb_get per entity: %.3f us per entity\n",
           time_bare_lmdb(argv[1], lookups, users, merchants));
    printf("(checksum %llu)\n", (unsigned long long)check);
    free(in);
    tess_session_free(s);
    tess_query_free(q);
    tess_store_close(st);
    return 0;
}
