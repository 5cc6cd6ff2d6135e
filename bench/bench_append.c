/* bench_append.c — the cost of appending pushed rows to the offline event store
 * (tess__evstore_append, the offline half of a push: docs/offline.md, "Push log").
 *
 * Usage: bench_append REPO [groups_of_1 [groups_of_16 [groups_of_1000]]]
 *
 * REPO is a feature repo whose store already holds events of bench/online/definitions.yaml's
 * source `transactions` (e.g. the bench's repo after `tessera ingest`: 2M events, 3 layouts).
 * It is copied to a temporary directory first (never modified). Then, with durable commits
 * (fsync), it appends groups of 1, 16 and 1000 rows (default 2000, 500 and 200 groups), one
 * after the other as a push's group commit would, and prints per size the mean, p50, p99 and
 * max time per group and the rows/s sustained over the run (folds and merges included). At
 * the end it times a restricted scan (one user) and a full scan of the user_id layout, and
 * stats, so that the price readers pay for unfolded rows shows too.
 *
 *   make build/bench/bench_append
 *   build/bench/bench_append /tmp/ob/repo.orig
 *
 * Benchmarks are not tests: this never fails on a slow figure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "defs/defs.h"
#include "defs/defs_model.h"
#include "offline/evstore.h"
#include "offline/segment.h"
#include "tessera.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static uint64_t rng = 88172645463325252ULL;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* A batch of n rows of the generator's transactions (docs/generator.md). */
static void fill(const tess__source *src, tess__batch *b, size_t n, int64_t t0)
{
    static const char *cur[] = {"USD", "EUR", "GBP"};
    static const char *chan[] = {"web", "pos", "app"};
    tess__batch_reset(b);
    if (b->cap < n) tess__batch_reserve(b, n);
    for (size_t i = 0; i < n; i++) {
        for (size_t c = 0; c < src->nschema; c++) {
            const char *name = src->schema[c].name;
            tess__col *col = &b->cols[c];
            col->nulls[i] = 0;
            if (strcmp(name, "txn_id") == 0) ((int64_t *)col->data)[i] = (int64_t)(rnd() >> 2);
            else if (strcmp(name, "user_id") == 0)
                ((int64_t *)col->data)[i] = 1 + (int64_t)(rnd() % 20000);
            else if (strcmp(name, "merchant_id") == 0)
                ((int64_t *)col->data)[i] = 1 + (int64_t)(rnd() % 2000);
            else if (strcmp(name, "amount") == 0)
                ((double *)col->data)[i] = (double)(rnd() % 200000) / 100.0;
            else if (strcmp(name, "currency") == 0)
                ((tess__str *)col->data)[i] = (tess__str){cur[rnd() % 3], 3};
            else if (strcmp(name, "channel") == 0)
                ((tess__str *)col->data)[i] = (tess__str){chan[rnd() % 3], 3};
            else if (strcmp(name, "is_international") == 0)
                ((uint8_t *)col->data)[i] = rnd() % 10 == 0;
            else /* ts, created_at */
                ((int64_t *)col->data)[i] = t0 - (int64_t)(rnd() % 3600) * 1000000;
        }
    }
    b->nrows = n;
}

static int run(tess__evstore *es, const tess__source *src, const tess__evlayout *lays, size_t nl,
               size_t rows, size_t groups)
{
    if (!groups) return 0;
    tess__type types[64];
    for (size_t c = 0; c < src->nschema; c++) types[c] = src->schema[c].type;
    tess__batch b;
    if (tess__batch_init(&b, types, src->nschema, rows)) return 1;
    double *t = calloc(groups, sizeof(double));
    tess__err err = TESS__ERR_INIT;
    const int64_t t0 = 1769819400000000LL; /* 2026-01-31T00:30:00Z */
    double start = now(), fill_s = 0;
    for (size_t g = 0; g < groups; g++) {
        double f0 = now();
        fill(src, &b, rows, t0);
        double a = now();
        fill_s += a - f0;
        tess__batch *bs[1] = {&b};
        uint32_t first;
        int rc = tess__evstore_append(es, src, lays, nl, bs, 1, &first, &err);
        t[g] = now() - a;
        if (rc) {
            fprintf(stderr, "append: %s\n", tess__err_msg(&err));
            return 1;
        }
    }
    double total = now() - start - fill_s;
    if (getenv("BENCH_SLOWEST")) { /* the slowest groups, in order: what they were doing */
        double lim;
        double *c = malloc(groups * sizeof(double));
        memcpy(c, t, groups * sizeof(double));
        qsort(c, groups, sizeof(double), cmp_double);
        lim = c[groups - 1 - (groups < 20 ? groups - 1 : 19)];
        for (size_t g = 0; g < groups; g++)
            if (t[g] >= lim) fprintf(stderr, "  group %zu: %.3f ms\n", g, t[g] * 1e3);
        free(c);
    }
    double sum = 0;
    for (size_t g = 0; g < groups; g++) sum += t[g];
    qsort(t, groups, sizeof(double), cmp_double);
    printf("groups of %4zu rows x %5zu: mean %8.3f ms  p50 %8.3f  p99 %8.3f  max %8.3f ms  "
           "%10.0f rows/s  %.2f us/row\n",
           rows, groups, sum / groups * 1e3, t[groups / 2] * 1e3, t[groups * 99 / 100] * 1e3,
           t[groups - 1] * 1e3, (double)(rows * groups) / total,
           total / (double)(rows * groups) * 1e6);
    free(t);
    tess__batch_release(&b);
    tess__err_release(&err);
    return 0;
}

static int scan(tess__evstore *es, const tess__source *src, const size_t *keys, size_t nkeys,
                bool one)
{
    tess__err err = TESS__ERR_INIT;
    tess__buf kb = TESS__BUF_INIT;
    int64_t v = 42;
    uint8_t nul = 0;
    tess__col col = {TESS_T_INT64, &nul, &v};
    tess__evkey_encode(&kb, &col, NULL, 1, 0);
    tess__str f = {kb.p, kb.len};
    double a = now();
    tess__evscan *s = NULL;
    int rc = tess__evscan_open(es, src, keys, nkeys, one ? &f : NULL, one ? 1 : 0, &s, &err);
    double b = now();
    uint64_t n = 0;
    const tess__batch *out;
    while (rc == TESS_OK && (rc = tess__evscan_next(s, &out, &err)) == TESS_OK) n += out->nrows;
    double c = now();
    tess__evscan_close(s);
    if (rc != TESS_NOTFOUND) {
        fprintf(stderr, "scan: %s\n", tess__err_msg(&err));
        return 1;
    }
    printf("scan %-8s: open %8.3f ms, read %8.3f ms, %llu rows\n", one ? "1 user" : "all",
           (b - a) * 1e3, (c - b) * 1e3, (unsigned long long)n);
    tess__buf_release(&kb);
    tess__err_release(&err);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_append REPO [groups_of_1 [groups_of_16 [groups_of_1000]]]\n");
        return 2;
    }
    size_t g1 = argc > 2 ? (size_t)atol(argv[2]) : 2000;
    size_t g16 = argc > 3 ? (size_t)atol(argv[3]) : 500;
    size_t g1000 = argc > 4 ? (size_t)atol(argv[4]) : 200;
    char tmp[256], cmd[1024];
    const char *base = getenv("BENCH_TMP") ? getenv("BENCH_TMP") : "/tmp";
    snprintf(tmp, sizeof(tmp), "%s/bench_append.XXXXXX", base);
    if (!mkdtemp(tmp)) return 1;
    snprintf(cmd, sizeof(cmd), "cp -a '%s'/. '%s'/", argv[1], tmp);
    if (system(cmd)) return 1;
    sync(); /* the copy's writeback would slow the first fsyncs down */
    int status = 1;
    tess__err err = TESS__ERR_INIT;
    tess__defs *defs = NULL;
    tess__evstore *es = NULL;
    char store[512];
    snprintf(store, sizeof(store), "%s/.tessera", tmp);
    if (tess__defs_load(tmp, &defs, &err) || tess__evstore_open(store, &es, &err)) {
        fprintf(stderr, "%s\n", tess__err_msg(&err));
        goto out;
    }
    const tess__source *src = tess__defs_source(defs, "transactions");
    size_t u = (size_t)tess__source_column(src, "user_id"),
           m = (size_t)tess__source_column(src, "merchant_id");
    size_t ku[1] = {u}, km[1] = {m}, kum[2] = {u, m};
    tess__evlayout lays[3] = {{ku, 1}, {km, 1}, {kum, 2}};
    tess__evstats st;
    double a = now();
    if (tess__evstore_stats(es, src, &st, &err)) goto out;
    printf("store: %llu rows in %zu layouts (stats %.3f ms)\n",
           (unsigned long long)st.layouts[0].rows, st.nlayouts, (now() - a) * 1e3);
    tess__evstats_release(&st);
    if (run(es, src, lays, 3, 1, g1) || run(es, src, lays, 3, 16, g16) ||
        run(es, src, lays, 3, 1000, g1000))
        goto out;
    a = now();
    if (tess__evstore_stats(es, src, &st, &err)) goto out;
    printf("stats: %.3f ms;", (now() - a) * 1e3);
    for (size_t i = 0; i < st.nlayouts; i++)
        printf(" %s %llu rows in %zu segments;", st.layouts[i].name,
               (unsigned long long)st.layouts[i].rows, st.layouts[i].segments);
    printf("\n");
    tess__evstats_release(&st);
    if (scan(es, src, ku, 1, true) || scan(es, src, ku, 1, false)) goto out;
    status = 0;
out:
    tess__evstore_close(es);
    tess__defs_free(defs);
    tess__err_release(&err);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
    if (system(cmd)) status = 1;
    return status;
}
