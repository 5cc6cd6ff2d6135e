/* bench_push — pushes through the C API (tess_push), DESIGN.md "push to online visibility":
 * the store's side of a push without HTTP, so that its cost per row can be measured apart from
 * request parsing.
 *
 * Usage: bench_push REPO SOURCE USERS MERCHANTS [ROWS_PER_PUSH] [PUSHES] [TO] [THREADS]
 *                   [LOAD_THREADS LOAD_ROWS [LOAD_RATE]]
 *   TO: online, offline or both (default both). The source must have the generator's
 *   transactions schema (bench/online/definitions.yaml: transactions_live). Rows are random
 *   users and merchants at "now" minus a few minutes (TESSERA_NOW pins it), like
 *   bench/online/bodies.py's. THREADS (default 1) threads push at once, PUSHES each, one
 *   session each (their pushes are group-committed together, as a server's clients' are).
 *   Prints wall and CPU microseconds per row (the totals), and the latency of a push
 *   (p50, p99, p99.9, max over every push of every thread): pushes that wait behind a fold of
 *   the push log show in the tail (docs/offline.md, "Push log"). LOAD_THREADS more threads
 *   push LOAD_ROWS rows at a time, unmeasured, as long as the measured ones run: a load of
 *   large pushes that fills the push log (a fold per 262,144 rows) while small pushes are timed;
 *   LOAD_RATE: their rows per second in all (0, the default: as fast as they can), so that the
 *   timed pushes see folds rather than a saturated machine.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tessera.h"

static double clock_s(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct worker {
    tess_store *st;
    tess_pusher *p;
    long users, merchants, pushes, id;
    size_t per;
    int to;
    int64_t now;
    double *lat; /* pushes seconds */
    uint64_t rng;
    int rc;
    volatile int *stop; /* a load thread: push until *stop (lat unused) */
    double every;       /* a load thread: seconds between its pushes (0: none) */
} worker;

static uint64_t next(worker *w)
{
    w->rng ^= w->rng << 13;
    w->rng ^= w->rng >> 7;
    w->rng ^= w->rng << 17;
    return w->rng;
}

static void *push_main(void *arg)
{
    worker *w = arg;
    static const char *const cols[] = {"txn_id", "user_id", "merchant_id", "amount", "currency",
                                       "channel", "is_international", "ts", "created_at"};
    static const char *const channels[] = {"web", "app", "pos"};
    size_t nc = sizeof(cols) / sizeof(cols[0]), per = w->per;
    tess_session *s = NULL;
    if ((w->rc = tess_session_new(w->st, &s))) return NULL;
    tess_value *rows = calloc(per * nc, sizeof(*rows));
    for (long k = 0; w->stop ? !*w->stop : k < w->pushes; k++) {
        for (size_t r = 0; r < per; r++) {
            tess_value *v = &rows[r * nc];
            int64_t ts = w->now - (int64_t)(next(w) % 1800000000ull) - 1; /* the last half hour */
            int64_t id = 900000000 + w->id * 100000000 + (int64_t)((size_t)k * per + r);
            v[0] = (tess_value){.type = TESS_TYPE_INT64, .u.i = id};
            v[1] = (tess_value){.type = TESS_TYPE_INT64,
                                .u.i = (int64_t)(next(w) % (uint64_t)w->users) + 1};
            v[2] = (tess_value){.type = TESS_TYPE_INT64,
                                .u.i = (int64_t)(next(w) % (uint64_t)w->merchants) + 1};
            v[3] = (tess_value){.type = TESS_TYPE_FLOAT64,
                                .u.f = (double)(next(w) % 50000) / 100.0};
            v[4] = (tess_value){.type = TESS_TYPE_STRING, .u.s = {"USD", 3}};
            const char *ch = channels[next(w) % 3];
            v[5] = (tess_value){.type = TESS_TYPE_STRING, .u.s = {ch, strlen(ch)}};
            v[6] = (tess_value){.type = TESS_TYPE_BOOL, .u.b = next(w) % 10 == 0};
            v[7] = (tess_value){.type = TESS_TYPE_TIMESTAMP, .u.i = ts};
            v[8] = (tess_value){.type = TESS_TYPE_TIMESTAMP, .u.i = ts};
        }
        double t = clock_s(CLOCK_MONOTONIC);
        if (w->every > 0) { /* a throttled load: wait for this push's turn */
            static __thread double due;
            if (due == 0) due = t;
            due += w->every;
            if (due > t) {
                double d = due - t;
                struct timespec ts = {(time_t)d, (long)((d - (double)(time_t)d) * 1e9)};
                nanosleep(&ts, NULL);
            }
            t = clock_s(CLOCK_MONOTONIC);
        }
        if ((w->rc = tess_push(s, w->p, cols, nc, rows, per, w->to)) != TESS_OK) {
            fprintf(stderr, "bench_push: %s\n", tess_session_errmsg(s));
            break;
        }
        if (!w->stop) w->lat[k] = clock_s(CLOCK_MONOTONIC) - t;
        else w->pushes = k + 1;
    }
    free(rows);
    tess_session_free(s);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: bench_push REPO SOURCE USERS MERCHANTS [ROWS_PER_PUSH] [PUSHES] "
                        "[online|offline|both] [THREADS]\n");
        return 2;
    }
    long users = atol(argv[3]), merchants = atol(argv[4]);
    size_t per = argc > 5 ? (size_t)atol(argv[5]) : 1000;
    long pushes = argc > 6 ? atol(argv[6]) : 50;
    const char *tos = argc > 7 ? argv[7] : "both";
    long nth = argc > 8 ? atol(argv[8]) : 1, nload = argc > 9 ? atol(argv[9]) : 0;
    size_t load_rows = argc > 10 ? (size_t)atol(argv[10]) : 1000;
    double load_rate = argc > 11 ? atof(argv[11]) : 0;
    if (nth < 1 || nth > 256 || nload < 0 || nload > 256 || load_rows < 1 || pushes < 1 ||
        per < 1 || users < 1 || merchants < 1) {
        fprintf(stderr, "bench_push: bad arguments\n");
        return 2;
    }
    int to = strcmp(tos, "online") == 0    ? TESS_PUSH_ONLINE
             : strcmp(tos, "offline") == 0 ? TESS_PUSH_OFFLINE
                                           : TESS_PUSH_ONLINE_AND_OFFLINE;
    tess_store *st = NULL;
    tess_pusher *p = NULL;
    int rc = tess_store_open(argv[1], &st);
    if (!rc) rc = tess_pusher_new(st, argv[2], &p);
    if (rc) {
        fprintf(stderr, "bench_push: %s\n", tess_store_errmsg(st));
        return 1;
    }
    int64_t now = 0;
    const char *pinned = getenv("TESSERA_NOW");
    tess_value nv;
    if (pinned && tess_value_parse(pinned, strlen(pinned), TESS_TYPE_TIMESTAMP, &nv) == TESS_OK)
        now = nv.u.i;
    else
        now = (int64_t)(clock_s(CLOCK_REALTIME) * 1e6);
    worker *ws = calloc((size_t)(nth + nload), sizeof(*ws));
    pthread_t *th = calloc((size_t)(nth + nload), sizeof(*th));
    volatile int stop = 0;
    double *lat = calloc((size_t)(nth * pushes), sizeof(double));
    double w0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
    for (long i = 0; i < nth + nload; i++) {
        bool load = i >= nth;
        ws[i] = (worker){st, p, users, merchants, pushes, i, load ? load_rows : per, to, now,
                         load ? NULL : lat + i * pushes,
                         0x2545F4914F6CDD1Dull + (uint64_t)i * 0x9E3779B97F4A7C15ull, 0,
                         load ? &stop : NULL,
                         load && load_rate > 0 ? (double)load_rows * (double)nload / load_rate : 0};
        if (pthread_create(&th[i], NULL, push_main, &ws[i])) {
            fprintf(stderr, "bench_push: cannot start a thread\n");
            return 1;
        }
    }
    for (long i = 0; i < nth; i++) pthread_join(th[i], NULL);
    stop = 1;
    uint64_t load_pushed = 0;
    for (long i = nth; i < nth + nload; i++) {
        pthread_join(th[i], NULL);
        load_pushed += (uint64_t)ws[i].pushes * load_rows;
    }
    double wall = clock_s(CLOCK_MONOTONIC) - w0, cpu = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
    for (long i = 0; i < nth + nload; i++)
        if (ws[i].rc) return 1;
    size_t np = (size_t)(nth * pushes);
    qsort(lat, np, sizeof(double), cmp_double);
    double n = (double)np * (double)per;
#define PCT(q) (lat[(size_t)((double)(np - 1) * (q))] * 1e3)
    printf("bench_push: %ld thread(s) x %ld pushes of %zu rows (%s): %.2f us wall, %.2f us CPU "
           "per row; %.0f rows/s; push latency p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, "
           "max %.1f ms\n",
           nth, pushes, per, tos, wall / n * 1e6, cpu / n * 1e6, n / wall, PCT(0.5), PCT(0.99),
           PCT(0.999), lat[np - 1] * 1e3);
    if (nload)
        printf("bench_push: and %ld load thread(s) pushed %llu rows in %zu-row pushes meanwhile "
               "(%.0f rows/s)\n",
               nload, (unsigned long long)load_pushed, load_rows, (double)load_pushed / wall);
    free(lat);
    free(ws);
    free(th);
    tess_pusher_free(p);
    tess_store_close(st);
    return 0;
}
