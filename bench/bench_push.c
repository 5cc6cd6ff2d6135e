/* bench_push — pushes through the C API (tess_push), DESIGN.md "push to online visibility":
 * the store's side of a push without HTTP, so that its cost per row can be measured apart from
 * request parsing.
 *
 * Usage: bench_push REPO SOURCE USERS MERCHANTS [ROWS_PER_PUSH] [PUSHES] [TO]
 *   TO: online, offline or both (default both). The source must have the generator's
 *   transactions schema (bench/online/definitions.yaml: transactions_live). Rows are random
 *   users and merchants at "now" minus a few minutes (TESSERA_NOW pins it), like
 *   bench/online/bodies.py's. Prints wall and CPU microseconds per row (median of the pushes'
 *   per-push figures is not used: the totals are) and the slowest push.
 */
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

static uint64_t rng = 0x2545F4914F6CDD1Dull;
static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: bench_push REPO SOURCE USERS MERCHANTS [ROWS_PER_PUSH] [PUSHES] "
                        "[online|offline|both]\n");
        return 2;
    }
    long users = atol(argv[3]), merchants = atol(argv[4]);
    size_t per = argc > 5 ? (size_t)atol(argv[5]) : 1000;
    long pushes = argc > 6 ? atol(argv[6]) : 50;
    const char *tos = argc > 7 ? argv[7] : "both";
    int to = strcmp(tos, "online") == 0    ? TESS_PUSH_ONLINE
             : strcmp(tos, "offline") == 0 ? TESS_PUSH_OFFLINE
                                           : TESS_PUSH_ONLINE_AND_OFFLINE;
    tess_store *st = NULL;
    tess_session *s = NULL;
    tess_pusher *p = NULL;
    int rc = tess_store_open(argv[1], &st);
    if (!rc) rc = tess_session_new(st, &s);
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
    static const char *const cols[] = {"txn_id", "user_id", "merchant_id", "amount", "currency",
                                       "channel", "is_international", "ts", "created_at"};
    static const char *const channels[] = {"web", "app", "pos"};
    size_t nc = sizeof(cols) / sizeof(cols[0]);
    tess_value *rows = calloc(per * nc, sizeof(*rows));
    double w0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID), worst = 0;
    for (long k = 0; k < pushes; k++) {
        for (size_t r = 0; r < per; r++) {
            tess_value *v = &rows[r * nc];
            int64_t ts = now - (int64_t)(next() % 1800000000ull) - 1; /* the last half hour */
            v[0] = (tess_value){.type = TESS_TYPE_INT64, .u.i = 900000000 + (int64_t)(k * per + r)};
            v[1] = (tess_value){.type = TESS_TYPE_INT64, .u.i = (int64_t)(next() % (uint64_t)users) + 1};
            v[2] = (tess_value){.type = TESS_TYPE_INT64,
                                .u.i = (int64_t)(next() % (uint64_t)merchants) + 1};
            v[3] = (tess_value){.type = TESS_TYPE_FLOAT64, .u.f = (double)(next() % 50000) / 100.0};
            v[4] = (tess_value){.type = TESS_TYPE_STRING, .u.s = {"USD", 3}};
            const char *ch = channels[next() % 3];
            v[5] = (tess_value){.type = TESS_TYPE_STRING, .u.s = {ch, strlen(ch)}};
            v[6] = (tess_value){.type = TESS_TYPE_BOOL, .u.b = next() % 10 == 0};
            v[7] = (tess_value){.type = TESS_TYPE_TIMESTAMP, .u.i = ts};
            v[8] = (tess_value){.type = TESS_TYPE_TIMESTAMP, .u.i = ts};
        }
        double t = clock_s(CLOCK_MONOTONIC);
        if (tess_push(s, p, cols, nc, rows, per, to) != TESS_OK) {
            fprintf(stderr, "bench_push: %s\n", tess_session_errmsg(s));
            return 1;
        }
        t = clock_s(CLOCK_MONOTONIC) - t;
        if (t > worst) worst = t;
    }
    double wall = clock_s(CLOCK_MONOTONIC) - w0, cpu = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
    double n = (double)pushes * (double)per;
    printf("bench_push: %ld pushes of %zu rows (%s): %.2f us wall, %.2f us CPU per row; %.0f "
           "rows/s; slowest push %.1f ms\n",
           pushes, per, tos, wall / n * 1e6, cpu / n * 1e6, n / wall, worst * 1e3);
    free(rows);
    tess_pusher_free(p);
    tess_session_free(s);
    tess_store_close(st);
    return 0;
}
