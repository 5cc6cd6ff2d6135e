/* bench_online — in-process online lookups through the C API (tess_get_online), DESIGN.md:
 * "in-process lookup through the C API: under 2 us per entity for 20 features".
 *
 *   bench_online REPO SERVICE USERS MERCHANTS [LOOKUPS]
 *
 * Looks up random (user_id, merchant_id) entities of a materialized repo, one entity per call
 * and 100 per call, median of 5 runs each; prints microseconds per entity. A checksum of the
 * values keeps the work from being optimised away.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

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
    size_t nin = tess_query_ninputs(q);
    size_t nf = tess_query_nfeatures(q);
    const size_t batch_sizes[2] = {1, 100};
    tess_value *in = calloc(100 * nin, sizeof(*in));
    uint64_t check = 0;
    printf("bench_online: service %s, %zu features, %zu inputs, %ld lookups per run, median of 5\n",
           argv[2], nf, nin, lookups);
    for (int bi = 0; bi < 2; bi++) {
        size_t bs = batch_sizes[bi];
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
                if (tess_get_online(s, q, in, bs, 0, &res) != TESS_OK) {
                    fprintf(stderr, "bench_online: %s\n", tess_session_errmsg(s));
                    return 1;
                }
                for (size_t k = 0; k < bs * nf; k++) check += (uint64_t)res.statuses[k];
            }
            runs[run] = (now_s() - t0) / (double)lookups * 1e6;
        }
        qsort(runs, 5, sizeof(double), cmp_d);
        printf("entities per call %3zu: %.3f us per entity (%.0f entities/s)\n", bs, runs[2],
               1e6 / runs[2]);
    }
    printf("(checksum %llu)\n", (unsigned long long)check);
    free(in);
    tess_session_free(s);
    tess_query_free(q);
    tess_store_close(st);
    return 0;
}
