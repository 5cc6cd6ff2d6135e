/* bench_expr.c — throughput of the expression evaluator, batch and row at a time.
 *
 * Usage: bench_expr [rows]   (default 10,000,000)
 *
 * For each expression: the batch mode evaluates all rows in batches of 65,536 (the arena reset
 * between batches, as the offline engine does), the row mode evaluates one row per call with an
 * arena reset per call (as the online server does per request). Each is run 5 times and the
 * median rate is printed. The data is generated deterministically (xorshift64); amount is a
 * float64 in [0, 100), with no nulls, or 10% nulls for the "nulls" rows.
 *
 * The peer, measured in the same run: the same `amount * 100 > 5` (nulls propagated) written as a
 * plain C loop over the same batches — the ceiling an interpreter can approach. The ratio
 * Tessera / hand-written C is what BENCHMARKS.md reports.
 *
 * The target (docs/expressions.md "Performance"): at least 20M evaluations/s of
 * `amount * 100 > 5` in batch mode on one core. Benchmarks are not tests: this never fails.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/arena.h"
#include "core/err.h"
#include "expr/expr.h"
#include "tessera.h"

#define BATCH 65536
#define RUNS 5

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;

static uint64_t next(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v)
{
    qsort(v, RUNS, sizeof(double), cmp_double);
    return v[RUNS / 2];
}

enum { V_AMOUNT, V_USER_ID, V_NAME, V_TS, NV };

static const tess__expr_var vars[NV] = {
    {"amount", TESS_T_FLOAT64},
    {"user_id", TESS_T_INT64},
    {"name", TESS_T_STRING},
    {"ts", TESS_T_TIMESTAMP},
};

typedef struct data {
    size_t n;
    double *amount;
    int64_t *user_id;
    tess__str *name;
    int64_t *ts;
    uint8_t *amount_nulls; /* 10% nulls */
} data;

static const char *names[] = {"Alice", "bob", "Carol", "dave", "Eve", "mallory", "Trent", "zoë"};

static void generate(data *d, size_t n)
{
    d->n = n;
    d->amount = malloc(n * sizeof(double));
    d->user_id = malloc(n * sizeof(int64_t));
    d->name = malloc(n * sizeof(tess__str));
    d->ts = malloc(n * sizeof(int64_t));
    d->amount_nulls = malloc(n);
    if (!d->amount || !d->user_id || !d->name || !d->ts || !d->amount_nulls) {
        fprintf(stderr, "bench_expr: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t r = next();
        d->amount[i] = (double)(r >> 11) * (100.0 / 9007199254740992.0);
        d->user_id[i] = (int64_t)(next() % 100000);
        const char *s = names[next() % 8];
        d->name[i].p = s;
        d->name[i].n = strlen(s);
        d->ts[i] = 1700000000000000LL + (int64_t)(next() % (90ULL * 86400 * 1000000));
        d->amount_nulls[i] = next() % 10 == 0;
    }
}

/* Columns for rows [off, off + n). */
static void slice(const data *d, bool with_nulls, size_t off, tess__col *cols)
{
    cols[V_AMOUNT] =
        (tess__col){TESS_T_FLOAT64, with_nulls ? d->amount_nulls + off : NULL, d->amount + off};
    cols[V_USER_ID] = (tess__col){TESS_T_INT64, NULL, d->user_id + off};
    cols[V_NAME] = (tess__col){TESS_T_STRING, NULL, d->name + off};
    cols[V_TS] = (tess__col){TESS_T_TIMESTAMP, NULL, d->ts + off};
}

static double bench_batch(const tess__expr *e, const data *d, bool with_nulls, size_t *checksum)
{
    static char out_data[BATCH * 16];
    static uint8_t out_nulls[BATCH];
    tess__arena arena = TESS__ARENA_INIT;
    double rates[RUNS];
    for (int run = 0; run < RUNS; run++) {
        size_t sum = 0;
        double t0 = now();
        for (size_t off = 0; off < d->n; off += BATCH) {
            size_t m = d->n - off < BATCH ? d->n - off : BATCH;
            tess__col cols[NV];
            slice(d, with_nulls, off, cols);
            tess__col out = {TESS_T_NULL, out_nulls, out_data};
            tess__arena_reset(&arena);
            if (tess__expr_eval_batch(e, cols, m, &arena, &out) != TESS_OK) {
                fprintf(stderr, "bench_expr: evaluation failed\n");
                exit(1);
            }
            sum += out_nulls[0] + (size_t)(unsigned char)out_data[0] + out_nulls[m - 1];
        }
        double dt = now() - t0;
        rates[run] = (double)d->n / dt;
        *checksum += sum;
    }
    tess__arena_release(&arena);
    return median(rates);
}

/* The peer: `amount * 100 > 5` with null propagation, hand-written, over the same batches. */
static double bench_peer(const data *d, bool with_nulls, size_t *checksum)
{
    static uint8_t out_data[BATCH];
    static uint8_t out_nulls[BATCH];
    double rates[RUNS];
    for (int run = 0; run < RUNS; run++) {
        size_t sum = 0;
        double t0 = now();
        for (size_t off = 0; off < d->n; off += BATCH) {
            size_t m = d->n - off < BATCH ? d->n - off : BATCH;
            const double *a = d->amount + off;
            const uint8_t *nl = with_nulls ? d->amount_nulls + off : NULL;
            for (size_t i = 0; i < m; i++) {
                out_nulls[i] = nl ? nl[i] : 0;
                out_data[i] = !out_nulls[i] && a[i] * 100 > 5;
            }
            sum += out_nulls[0] + out_data[0] + out_nulls[m - 1];
        }
        double dt = now() - t0;
        rates[run] = (double)d->n / dt;
        *checksum += sum;
    }
    return median(rates);
}

static double bench_row(const tess__expr *e, const data *d, size_t rows, bool with_nulls,
                        size_t *checksum)
{
    tess__arena arena = TESS__ARENA_INIT;
    double rates[RUNS];
    for (int run = 0; run < RUNS; run++) {
        size_t sum = 0;
        double t0 = now();
        for (size_t i = 0; i < rows; i++) {
            tess__value vals[NV];
            vals[V_AMOUNT] = with_nulls && d->amount_nulls[i] ? tess__null(TESS_T_FLOAT64)
                                                              : tess__v_float(d->amount[i]);
            vals[V_USER_ID] = tess__v_int(d->user_id[i]);
            vals[V_NAME] = tess__v_str(d->name[i].p, d->name[i].n);
            vals[V_TS] = tess__v_ts(d->ts[i]);
            tess__value out;
            tess__arena_reset(&arena);
            if (tess__expr_eval(e, vals, &arena, &out) != TESS_OK) {
                fprintf(stderr, "bench_expr: evaluation failed\n");
                exit(1);
            }
            sum += out.null + (size_t)out.u.b;
        }
        double dt = now() - t0;
        rates[run] = (double)rows / dt;
        *checksum += sum;
    }
    tess__arena_release(&arena);
    return median(rates);
}

int main(int argc, char **argv)
{
    size_t n = 10000000;
    if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        printf("usage: bench_expr [rows]   (default 10000000)\n");
        return 0;
    }
    if (argc > 1) n = strtoull(argv[1], NULL, 10);
    if (n == 0) n = 1;
    size_t row_n = n < 2000000 ? n : 2000000;
    data d;
    generate(&d, n);

    static const struct {
        const char *src;
        bool nulls;
    } cases[] = {
        {"amount * 100 > 5", false},
        {"amount * 100 > 5", true},
        {"if(amount > 50, amount * 1.1, coalesce(amount, 0)) - user_id % 7", true},
        {"hour(ts) >= 9 and hour(ts) < 17 and day_of_week(ts) <= 5", false},
        {"cast(amount * 100, int64) + user_id * 2", false},
        {"concat(lower(name), '-', cast(user_id, string))", false},
    };
    printf("bench_expr: %zu rows, batches of %d, median of %d runs; row mode over %zu rows\n", n,
           BATCH, RUNS, row_n);
    printf("%-76s %14s %14s\n", "expression", "batch evals/s", "row evals/s");
    size_t checksum = 0;
    double headline = 0;
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        tess__expr *e = NULL;
        tess__err err = TESS__ERR_INIT;
        int col = 0;
        const char *src = cases[k].src;
        if (tess__expr_compile(src, strlen(src), vars, NV, &e, &err, &col) != TESS_OK) {
            fprintf(stderr, "bench_expr: %s: column %d: %s\n", src, col, tess__err_msg(&err));
            return 1;
        }
        tess__err_release(&err);
        double b = bench_batch(e, &d, cases[k].nulls, &checksum);
        double r = bench_row(e, &d, row_n, cases[k].nulls, &checksum);
        if (k == 0) headline = b;
        char label[128];
        snprintf(label, sizeof(label), "%s%s", src, cases[k].nulls ? "  [10% nulls]" : "");
        printf("%-76s %13.1fM %13.1fM\n", label, b / 1e6, r / 1e6);
        tess__expr_free(e);
    }
    double peer = bench_peer(&d, false, &checksum);
    printf("%-76s %13.1fM\n", "peer: amount * 100 > 5 as a hand-written C loop", peer / 1e6);
    printf("ratio: tessera batch / hand-written C = %.2f\n", headline / peer);
    printf("target: amount * 100 > 5 in batch mode >= 20M evals/s: %.1fM (%s)\n", headline / 1e6,
           headline >= 20e6 ? "met" : "NOT met");
    printf("(checksum %zu)\n", checksum);
    free(d.amount);
    free(d.user_id);
    free(d.name);
    free(d.ts);
    free(d.amount_nulls);
    return 0;
}
