/* bench_reader.c — throughput of the typed CSV / JSON Lines reader (src/offline/reader.h).
 *
 * Usage: bench_reader FILE [runs]   (FILE: the generator's transactions.csv or .jsonl;
 *                                    runs: default 3)
 *
 * Reads FILE with the schema of the generator's transactions (docs/generator.md) into batches
 * of 65,536 rows, `runs` times, and prints the median rows/s and MB/s. The first run also
 * warms the page cache, so the figure is the parser's, not the disk's. The target
 * (docs/offline.md): at least 3M rows/s for the 9-column CSV on one core. Benchmarks are not
 * tests: this never fails on a slow figure.
 *
 *   make build/bench/gen build/bench/bench_reader
 *   build/bench/gen --out /tmp/b --events 1000000
 *   build/bench/bench_reader /tmp/b/transactions.csv
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/err.h"
#include "offline/reader.h"
#include "tessera.h"

#define BATCH 65536
#define MAX_RUNS 15

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

static const tess__column schema[] = {
    {"txn_id", TESS_T_INT64, {0}},          {"user_id", TESS_T_INT64, {0}},
    {"merchant_id", TESS_T_INT64, {0}},     {"amount", TESS_T_FLOAT64, {0}},
    {"currency", TESS_T_STRING, {0}},       {"channel", TESS_T_STRING, {0}},
    {"is_international", TESS_T_BOOL, {0}}, {"ts", TESS_T_TIMESTAMP, {0}},
    {"created_at", TESS_T_TIMESTAMP, {0}},
};
#define NCOLS (sizeof(schema) / sizeof(schema[0]))

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_reader FILE [runs]\n");
        return 2;
    }
    const char *path = argv[1];
    int runs = argc > 2 ? atoi(argv[2]) : 3;
    if (runs < 1 || runs > MAX_RUNS) runs = 3;
    size_t n = strlen(path);
    int jsonl = n >= 6 && strcmp(path + n - 6, ".jsonl") == 0;

    tess__source src;
    memset(&src, 0, sizeof src);
    src.name = "transactions";
    src.format = jsonl ? TESS_FORMAT_JSONL : TESS_FORMAT_CSV;
    src.delimiter = ',';
    src.schema = schema;
    src.nschema = NCOLS;
    src.ts_col = 7;
    src.created_col = 8;

    tess__type types[NCOLS];
    for (size_t i = 0; i < NCOLS; i++)
        types[i] = schema[i].type;
    tess__batch b;
    if (tess__batch_init(&b, types, NCOLS, BATCH) != TESS_OK) {
        fprintf(stderr, "bench_reader: out of memory\n");
        return 1;
    }
    double rates[MAX_RUNS], mbs[MAX_RUNS];
    unsigned long long rows = 0, bytes = 0;
    double checksum = 0;
    tess__err err = TESS__ERR_INIT;
    for (int run = 0; run < runs; run++) {
        tess__reader_opts o = {src.format, ',', 0, NULL, 0, 0};
        tess__reader *r;
        double t0 = now();
        int rc = tess__reader_open(path, &src, &o, &r, &err);
        if (rc != TESS_OK) {
            fprintf(stderr, "bench_reader: %s\n", tess__err_msg(&err));
            return 1;
        }
        rows = 0;
        while ((rc = tess__reader_next(r, &b, &err)) == TESS_OK) {
            rows += b.nrows;
            const double *amount = b.cols[3].data;
            checksum += amount[b.nrows - 1];
        }
        if (rc != TESS_NOTFOUND) {
            fprintf(stderr, "bench_reader: %s\n", tess__err_msg(&err));
            return 1;
        }
        bytes = tess__reader_bytes(r);
        tess__reader_close(r);
        double dt = now() - t0;
        rates[run] = (double)rows / dt;
        mbs[run] = (double)bytes / dt / 1e6;
    }
    qsort(rates, (size_t)runs, sizeof(double), cmp_double);
    qsort(mbs, (size_t)runs, sizeof(double), cmp_double);
    printf("reader %-5s %llu rows, %.1f MB: %.2fM rows/s, %.0f MB/s (median of %d; checksum %g)\n",
           jsonl ? "jsonl" : "csv", rows, (double)bytes / 1e6, rates[runs / 2] / 1e6, mbs[runs / 2],
           runs, checksum);
    tess__batch_release(&b);
    tess__err_release(&err);
    return 0;
}
