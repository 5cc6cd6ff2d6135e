/* bench_format.c — throughput of float64 text (tess__expr_format_float) and of the CSV value
 * writer, against the snprintf code they replaced.
 *
 * Usage: bench_format [values]   (default 2,000,000)
 *
 * Distributions (generated deterministically, xorshift64):
 *   money    amounts with 2 decimals, 0.01 .. 1,000,000.00 (log-uniform number of digits)
 *   unit     uniform in [0, 1), the typical ratio or score
 *   bits     random bit patterns, finite: every exponent equally likely
 *   int      float64 integers below 1e6 (counts)
 * The old formatter (the first of %.15g %.16g %.17g that strtod reads back) is copied here as
 * it was. Each figure is the median of 5 runs. A last section times tess__csv_put_value on
 * int64 and float64 against the snprintf-based code it replaced. The outputs are compared,
 * and a difference is printed in capitals. Benchmarks are not tests: this never fails.
 */
#include <inttypes.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/value.h"
#include "expr/expr_int.h"
#include "offline/writer.h"
#include "tessera.h"

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

/* The formatter as it was before this benchmark was written (src/expr/conv.c). */
static locale_t c_locale;

static size_t format_old(double x, char *buf)
{
    if (isnan(x)) {
        memcpy(buf, "nan", 4);
        return 3;
    }
    if (isinf(x)) {
        const char *s = x < 0 ? "-inf" : "inf";
        size_t n = strlen(s);
        memcpy(buf, s, n + 1);
        return n;
    }
    locale_t old = uselocale(c_locale);
    int len = 0;
    for (int prec = 15; prec <= 17; prec++) {
        len = snprintf(buf, 32, "%.*g", prec, x);
        if (prec == 17 || strtod_l(buf, NULL, c_locale) == x) break;
    }
    uselocale(old);
    return len < 0 ? 0 : (size_t)len;
}

typedef size_t (*format_fn)(double, char *);

static uint64_t sink;

/* Values per second, median of RUNS passes over v. */
static double rate(format_fn f, const double *v, size_t n)
{
    double t[RUNS];
    char buf[40];
    for (int r = 0; r < RUNS; r++) {
        double t0 = now();
        for (size_t i = 0; i < n; i++)
            sink += f(v[i], buf) + (unsigned char)buf[0];
        t[r] = (double)n / (now() - t0);
    }
    return median(t);
}

static void generate(const char *dist, double *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t r = next();
        if (!strcmp(dist, "money")) {
            static const double lim[] = {1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8};
            v[i] = (double)(1 + r % (uint64_t)lim[(r >> 40) % 8]) / 100.0;
        } else if (!strcmp(dist, "unit")) {
            v[i] = (double)(r >> 11) * 0x1p-53;
        } else if (!strcmp(dist, "bits")) {
            do {
                memcpy(&v[i], &r, sizeof(r));
                r = next();
            } while (!isfinite(v[i]));
        } else {
            v[i] = (double)(r % 1000000);
        }
    }
}

static unsigned long mismatches(const double *v, size_t n)
{
    unsigned long bad = 0;
    char a[40], b[40];
    for (size_t i = 0; i < n; i++) {
        size_t na = format_old(v[i], a), nb = tess__expr_format_float(v[i], b);
        bad += na != nb || memcmp(a, b, na) != 0;
    }
    return bad;
}

/* ---- the CSV writer's per-value path ------------------------------------------------------- */

static int put_old(tess__buf *b, const tess__value *v)
{
    char tmp[40];
    if (v->type == TESS_T_INT64) return tess__buf_printf(b, "%" PRId64, v->u.i);
    size_t n = format_old(v->u.f, tmp);
    return tess__buf_append(b, tmp, n);
}

static int put_new(tess__buf *b, const tess__value *v)
{
    return tess__csv_put_value(b, v, ',');
}

static double csv_rate(int (*put)(tess__buf *, const tess__value *), const tess__value *v,
                       size_t n)
{
    double t[RUNS];
    tess__buf b = TESS__BUF_INIT;
    for (int r = 0; r < RUNS; r++) {
        double t0 = now();
        for (size_t i = 0; i < n; i++) {
            put(&b, &v[i]);
            tess__buf_putc(&b, ',');
            if (b.len > (1u << 20)) tess__buf_reset(&b);
        }
        t[r] = (double)n / (now() - t0);
    }
    sink += b.len;
    tess__buf_release(&b);
    return median(t);
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? (size_t)strtoull(argv[1], NULL, 10) : 2000000;
    c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
    double *v = malloc(n * sizeof(*v));
    tess__value *tv = malloc(n * sizeof(*tv));
    if (!c_locale || !v || !tv) return 1;
    printf("bench_format: %zu values per distribution, median of %d runs\n", n, RUNS);
    printf("%-8s %16s %16s %8s\n", "values", "old values/s", "new values/s", "speedup");
    const char *dists[] = {"money", "unit", "bits", "int"};
    for (size_t d = 0; d < sizeof(dists) / sizeof(dists[0]); d++) {
        generate(dists[d], v, n);
        double o = rate(format_old, v, n), w = rate(tess__expr_format_float, v, n);
        printf("%-8s %15.2fM %15.2fM %7.1fx\n", dists[d], o / 1e6, w / 1e6, w / o);
        unsigned long bad = mismatches(v, n);
        if (bad) printf("MISMATCH: %lu values print differently\n", bad);
    }
    printf("csv value writer (tess__csv_put_value + delimiter)\n");
    for (int k = 0; k < 2; k++) {
        generate(k ? "money" : "int", v, n);
        for (size_t i = 0; i < n; i++)
            tv[i] = k ? tess__v_float(v[i]) : tess__v_int((int64_t)v[i] * 7919 - 3000000);
        double o = csv_rate(put_old, tv, n), w = csv_rate(put_new, tv, n);
        printf("%-8s %15.2fM %15.2fM %7.1fx\n", k ? "float64" : "int64", o / 1e6, w / 1e6, w / o);
    }
    printf("(checksum %" PRIu64 ")\n", sink);
    free(v);
    free(tv);
    freelocale(c_locale);
    return 0;
}
