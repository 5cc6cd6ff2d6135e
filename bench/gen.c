/* gen.c — the deterministic data generator behind the demo, the tests and the benchmarks.
 *
 * Writes DIR/transactions.{csv,jsonl} (card transactions of users at merchants) and
 * DIR/labels.{csv,jsonl} (labelled requests for training sets). docs/generator.md documents the
 * options, the columns and the distributions.
 *
 * Determinism: the same options (and seed) give byte-identical files on any machine with IEEE-754
 * doubles evaluated in double precision (FLT_EVAL_METHOD 0: every 64-bit target). To get there:
 *   - the PRNG is our own (xoshiro256** seeded by splitmix64), with independent streams for setup,
 *     events and labels, so that transactions do not depend on --labels (nor their values on
 *     --format);
 *   - floating point is used only at start-up to build lookup tables (Zipf weights, log-normal
 *     quantiles, delays), with our own log/exp made of + - * / and sqrt, which IEEE-754 rounds
 *     exactly; contraction into fused multiply-adds is turned off for this file;
 *   - the tables are turned into integers (cents, microseconds, alias-table thresholds), so that
 *     the per-row loop and all formatting are integer-only: amounts are integer cents printed
 *     with two decimals, timestamps integer microseconds printed as RFC 3339.
 *
 * Speed: one pass, no per-row allocation, hand-written integer and timestamp formatting (the
 * date part is cached per day), O(1) alias-method sampling of Zipf-distributed entities and
 * 4 MiB buffers written by a second thread. Late events wait in a min-heap keyed by their arrival
 * time.
 *
 * Files are written as NAME.tmp and renamed when complete, so a reader never sees half a file.
 * Only libc, pthreads and libm (exact frexp/ldexp/sqrt) are needed:
 *   cc -O2 -pthread bench/gen.c -lm -o gen
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=off")
#endif
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#if defined(FLT_EVAL_METHOD) && FLT_EVAL_METHOD != 0
#error "gen.c needs double arithmetic in double precision (FLT_EVAL_METHOD 0) to be deterministic"
#endif

#define US_PER_S 1000000LL
#define US_PER_DAY (86400LL * US_PER_S)
#define TAB_BITS 16
#define TAB_SIZE (1u << TAB_BITS)
#define OUT_CAP (4u << 20) /* bytes buffered per output file */
#define ROW_MAX 512        /* a generous bound on one formatted row */

/* ---- errors ------------------------------------------------------------------------------ */

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("gen: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

/* A bad option value: the message, a hint, exit status 2. */
static void usage_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void usage_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("gen: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs("\ntry 'gen --help'\n", stderr);
    va_end(ap);
    exit(2);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) die("out of memory (%zu bytes)", n);
    return p;
}

/* ---- PRNG: xoshiro256** seeded with splitmix64 ------------------------------------------ */

typedef struct rng {
    uint64_t s[4];
} rng;

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Stream `stream` of seed `seed`: streams are independent sequences. */
static void rng_seed(rng *r, uint64_t seed, uint64_t stream)
{
    uint64_t x = seed ^ (stream * 0xd1b54a32d192ed03ULL);
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static inline uint64_t rng_next(rng *r)
{
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

/* Uniform in [0, n) (n >= 1) by multiply-high; the bias, below n / 2^64, is irrelevant here. */
static inline uint64_t rng_below(rng *r, uint64_t n)
{
    __extension__ typedef unsigned __int128 u128;
    return (uint64_t)(((u128)rng_next(r) * n) >> 64);
}

/* True with probability thr / 2^64 (see prob_thr). */
static inline int rng_chance(rng *r, uint64_t thr)
{
    return rng_next(r) < thr;
}

/* A fraction in [0, 1] as a threshold for rng_chance. */
static uint64_t prob_thr(double f)
{
    if (f <= 0) return 0;
    if (f >= 1) return UINT64_MAX;
    return (uint64_t)(f * 18446744073709551616.0);
}

/* A per-entity hash: attributes of user u (scale, home currency, ...) come from it, not from a
 * stream, so they do not depend on the order rows are generated in. */
static inline uint64_t mix(uint64_t seed, uint64_t salt, uint64_t id)
{
    uint64_t x = seed ^ (salt * 0x9e3779b97f4a7c15ULL) ^ (id * 0xd6e8feb86659fd93ULL);
    return splitmix64(&x);
}

/* ---- deterministic math (start-up only) -------------------------------------------------- */

static const double LN2 = 0.6931471805599453094;

/* ln(x), x > 0: x = m * 2^e with m in [sqrt(1/2), sqrt(2)), ln m = 2 atanh((m-1)/(m+1)). */
static double det_log(double x)
{
    int e;
    double m = frexp(x, &e); /* exact; m in [0.5, 1) */
    if (m < 0.70710678118654752440) {
        m *= 2;
        e -= 1;
    }
    /* |s| < 0.172: 12 terms reach s^23 / 23 < 1e-19 */
    static const double inv_odd[12] = {1.0 / 1,  1.0 / 3,  1.0 / 5,  1.0 / 7,  1.0 / 9,  1.0 / 11,
                                       1.0 / 13, 1.0 / 15, 1.0 / 17, 1.0 / 19, 1.0 / 21, 1.0 / 23};
    double s = (m - 1) / (m + 1), s2 = s * s, term = s, sum = 0;
    for (int k = 0; k < 12; k++) {
        sum += term * inv_odd[k];
        term *= s2;
    }
    return 2 * sum + e * LN2;
}

/* e^x: x = k ln2 + r, |r| <= ln2 / 2, Taylor series of e^r, then an exact scaling by 2^k. */
static double det_exp(double x)
{
    if (x < -700) return 0;
    if (x > 700) return HUGE_VAL;
    double kd = x / LN2;
    int k = (int)(kd < 0 ? kd - 0.5 : kd + 0.5);
    /* |r| <= 0.347: 17 terms reach r^17 / 17! < 1e-22 */
    static const double inv[18] = {0,        1.0 / 1,  1.0 / 2,  1.0 / 3,  1.0 / 4,  1.0 / 5,
                                   1.0 / 6,  1.0 / 7,  1.0 / 8,  1.0 / 9,  1.0 / 10, 1.0 / 11,
                                   1.0 / 12, 1.0 / 13, 1.0 / 14, 1.0 / 15, 1.0 / 16, 1.0 / 17};
    double r = x - k * LN2, term = 1, sum = 1;
    for (int i = 1; i <= 17; i++) {
        term = term * r * inv[i];
        sum += term;
    }
    return ldexp(sum, k); /* exact */
}

/* The standard normal quantile (P. J. Acklam's rational approximation, |error| < 1.2e-9). */
static double norm_quantile(double p)
{
    static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,
                               -2.759285104469687e+02, 1.383577518672690e+02,
                               -3.066479806614716e+01, 2.506628277459239e+00};
    static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02,
                               -1.556989798598866e+02, 6.680131188771972e+01,
                               -1.328068155288572e+01};
    static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01,
                               -2.400758277161838e+00, -2.549671010229583e+00,
                               4.374664141464968e+00,  2.938163982698783e+00};
    static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                               3.754408661907416e+00};
    const double plow = 0.02425;
    if (p < plow || p > 1 - plow) {
        double q = sqrt(-2 * det_log(p < plow ? p : 1 - p));
        double x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
                   ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
        return p < plow ? x : -x;
    }
    double q = p - 0.5, r = q * q;
    return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
           (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

/* ---- Zipf sampling with an integer alias table ------------------------------------------ */

/* Entity ids 1..n; id i has popularity rank perm(i) and weight rank^-skew. Sampling is Walker's
 * alias method: slot j = uniform, then j itself if the low 32 bits of the draw are below the
 * slot's threshold, else the slot's alias. A slot packs (alias << 32) | threshold; a full slot
 * (threshold 2^32) is stored as its own alias with threshold 0. */
typedef struct sampler {
    uint32_t n;
    uint64_t *slot; /* NULL: uniform */
} sampler;

static void sampler_init(sampler *sm, uint32_t n, double skew, rng *setup)
{
    sm->n = n;
    sm->slot = NULL;
    if (skew <= 0 || n == 1) return;

    const uint64_t K = 1ULL << 32;
    double *w = xmalloc((size_t)n * sizeof *w);         /* by rank */
    uint32_t *rank = xmalloc((size_t)n * sizeof *rank); /* by id slot */
    uint64_t *q = xmalloc((size_t)n * sizeof *q);
    double total = 0;
    for (uint32_t r = 0; r < n; r++) {
        w[r] = det_exp(-skew * det_log((double)r + 1));
        total += w[r];
    }
    /* a random permutation: popularity is not correlated with the id */
    for (uint32_t i = 0; i < n; i++)
        rank[i] = i;
    for (uint32_t i = n - 1; i > 0; i--) {
        uint32_t j = (uint32_t)rng_below(setup, (uint64_t)i + 1), t = rank[i];
        rank[i] = rank[j];
        rank[j] = t;
    }
    /* integer weights summing to exactly n * 2^32 */
    double scale = (double)n * (double)K / total;
    uint64_t target = (uint64_t)n * K, sum = 0;
    for (uint32_t i = 0; i < n; i++) {
        double v = w[rank[i]] * scale;
        q[i] = v >= (double)target ? target : (uint64_t)v;
        sum += q[i];
    }
    for (uint32_t i = 0; sum < target; i = (i + 1) % n) {
        q[i]++;
        sum++;
    }
    for (uint32_t i = 0; sum > target; i = (i + 1) % n) {
        if (q[i]) {
            q[i]--;
            sum--;
        }
    }
    free(w);
    free(rank);

    /* Vose's construction, exact in integers */
    uint32_t *small = xmalloc((size_t)n * sizeof *small);
    uint32_t *large = xmalloc((size_t)n * sizeof *large);
    size_t ns = 0, nl = 0;
    sm->slot = xmalloc((size_t)n * sizeof *sm->slot);
    for (uint32_t i = 0; i < n; i++) {
        if (q[i] < K)
            small[ns++] = i;
        else
            large[nl++] = i;
    }
    while (ns && nl) {
        uint32_t s = small[--ns], l = large[nl - 1];
        sm->slot[s] = ((uint64_t)l << 32) | q[s];
        q[l] -= K - q[s];
        if (q[l] < K) {
            nl--;
            small[ns++] = l;
        }
    }
    /* exact arithmetic: what is left holds exactly 2^32 (small cannot be left; kept for
     * safety) */
    while (nl) {
        uint32_t l = large[--nl];
        sm->slot[l] = (uint64_t)l << 32;
    }
    while (ns) {
        uint32_t s = small[--ns];
        sm->slot[s] = (uint64_t)s << 32;
    }
    free(small);
    free(large);
    free(q);
}

/* An id in 1..n. */
static inline uint32_t sampler_draw(const sampler *sm, rng *r)
{
    uint64_t x = rng_next(r);
    uint32_t j = (uint32_t)(((x >> 32) * sm->n) >> 32);
    if (sm->slot) {
        uint64_t s = sm->slot[j];
        if ((uint32_t)x >= (uint32_t)s) j = (uint32_t)(s >> 32);
    }
    return j + 1;
}

static void sampler_release(sampler *sm)
{
    free(sm->slot);
}

/* ---- buffered output, written by a second thread ----------------------------------------
 *
 * The generating thread fills one buffer while a writer thread write(2)s the other, so that the
 * kernel's copy into the page cache (as much time as the generation itself at 10M rows) runs on
 * the second core. States of a buffer hand-off: idle (pending NULL) -> pending (the writer owns
 * it) -> idle. */

typedef struct outfile {
    int fd;
    char *buf; /* being filled by the generator */
    size_t len;
    char *spare; /* the other buffer: pending, or free when pending is NULL */
    char *path, *tmp;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    const char *pending; /* guarded by mu */
    size_t pending_len;
    int stop, err; /* err: errno of a failed write, reported by the generator */
} outfile;

static void *writer_main(void *arg)
{
    outfile *o = arg;
    pthread_mutex_lock(&o->mu);
    for (;;) {
        while (!o->pending && !o->stop)
            pthread_cond_wait(&o->cv, &o->mu);
        if (!o->pending) break;
        const char *p = o->pending;
        size_t n = o->pending_len, off = 0;
        pthread_mutex_unlock(&o->mu);
        int err = 0;
        while (off < n) {
            ssize_t w = write(o->fd, p + off, n - off);
            if (w < 0) {
                if (errno == EINTR) continue;
                err = errno;
                break;
            }
            off += (size_t)w;
        }
        pthread_mutex_lock(&o->mu);
        if (err && !o->err) o->err = err;
        o->pending = NULL;
        pthread_cond_broadcast(&o->cv);
    }
    pthread_mutex_unlock(&o->mu);
    return NULL;
}

static void out_open(outfile *o, const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 8;
    o->path = xmalloc(n);
    o->tmp = xmalloc(n);
    snprintf(o->path, n, "%s/%s", dir, name);
    snprintf(o->tmp, n, "%s/%s.tmp", dir, name);
    o->fd = open(o->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (o->fd < 0) die("cannot create %s: %s", o->tmp, strerror(errno));
    o->buf = xmalloc(OUT_CAP);
    o->spare = xmalloc(OUT_CAP);
    o->len = 0;
    o->pending = NULL;
    o->stop = o->err = 0;
    pthread_mutex_init(&o->mu, NULL);
    pthread_cond_init(&o->cv, NULL);
    if (pthread_create(&o->thread, NULL, writer_main, o) != 0) die("cannot start a thread");
}

/* Waits until the writer is idle; dies if a write failed. Called with mu held. */
static void out_wait_idle(outfile *o)
{
    while (o->pending)
        pthread_cond_wait(&o->cv, &o->mu);
    if (o->err) die("cannot write %s: %s", o->tmp, strerror(o->err));
}

/* Hands the filled buffer to the writer and takes the spare one. */
static void out_flush(outfile *o)
{
    pthread_mutex_lock(&o->mu);
    out_wait_idle(o);
    if (o->len) {
        char *t = o->spare;
        o->spare = o->buf;
        o->pending = o->spare;
        o->pending_len = o->len;
        o->buf = t;
        o->len = 0;
        pthread_cond_broadcast(&o->cv);
    }
    pthread_mutex_unlock(&o->mu);
}

/* Room for one row: returns where to write; the caller sets o->len = end - o->buf. */
static inline char *out_room(outfile *o)
{
    if (OUT_CAP - o->len < ROW_MAX) out_flush(o);
    return o->buf + o->len;
}

static void out_close(outfile *o)
{
    out_flush(o);
    pthread_mutex_lock(&o->mu);
    out_wait_idle(o);
    o->stop = 1;
    pthread_cond_broadcast(&o->cv);
    pthread_mutex_unlock(&o->mu);
    pthread_join(o->thread, NULL);
    pthread_mutex_destroy(&o->mu);
    pthread_cond_destroy(&o->cv);
    if (close(o->fd) != 0) die("cannot write %s: %s", o->tmp, strerror(errno));
    if (rename(o->tmp, o->path) != 0)
        die("cannot rename %s to %s: %s", o->tmp, o->path, strerror(errno));
    free(o->buf);
    free(o->spare);
    free(o->path);
    free(o->tmp);
}

/* ---- formatting -------------------------------------------------------------------------- */

static const char DIGITS2[] = "00010203040506070809101112131415161718192021222324252627282930313233"
                              "34353637383940414243444546474849505152535455565758596061626364656667"
                              "6869707172737475767778798081828384858687888990919293949596979899";

static inline char *put_str(char *p, const char *s, size_t n)
{
    memcpy(p, s, n);
    return p + n;
}

#define PUT_LIT(p, lit) put_str((p), (lit), sizeof(lit) - 1)

static inline unsigned ndigits(uint64_t v)
{
    unsigned n = 1;
    while (v >= 10000) {
        v /= 10000;
        n += 4;
    }
    return n + (v >= 10) + (v >= 100) + (v >= 1000);
}

static inline char *put_u64(char *p, uint64_t v)
{
    char *e = p + ndigits(v), *q = e;
    while (v >= 100) {
        unsigned r = (unsigned)(v % 100);
        v /= 100;
        q -= 2;
        memcpy(q, DIGITS2 + 2 * r, 2);
    }
    if (v >= 10) {
        q -= 2;
        memcpy(q, DIGITS2 + 2 * v, 2);
    } else {
        *--q = (char)('0' + v);
    }
    return e;
}

/* Integer cents as a decimal with exactly two decimals: 1234 -> "12.34". */
static inline char *put_cents(char *p, int64_t cents)
{
    p = put_u64(p, (uint64_t)(cents / 100));
    *p++ = '.';
    memcpy(p, DIGITS2 + 2 * (cents % 100), 2);
    return p + 2;
}

static inline int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/* Days since 1970-01-01 of a proleptic Gregorian date, and back (H. Hinnant's algorithms). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = floor_div(y, 400);
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = floor_div(z, 146097);
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

/* Timestamp formatting with the "YYYY-MM-DDT" part cached for the last day seen. */
typedef struct tsfmt {
    int64_t day;
    char date[11];
} tsfmt;

static void tsfmt_init(tsfmt *c)
{
    c->day = INT64_MIN;
}

/* RFC 3339 with Z, ".ffffff" only when the fraction is not zero (as src/core/time.c). */
static inline char *put_ts(char *p, tsfmt *c, int64_t us)
{
    int64_t secs = floor_div(us, US_PER_S);
    int64_t frac = us - secs * US_PER_S;
    int64_t day = floor_div(secs, 86400);
    unsigned sod = (unsigned)(secs - day * 86400);
    if (day != c->day) {
        int64_t y;
        unsigned m, d;
        civil_from_days(day, &y, &m, &d);
        memcpy(c->date, DIGITS2 + 2 * (y / 100), 2);
        memcpy(c->date + 2, DIGITS2 + 2 * (y % 100), 2);
        c->date[4] = '-';
        memcpy(c->date + 5, DIGITS2 + 2 * m, 2);
        c->date[7] = '-';
        memcpy(c->date + 8, DIGITS2 + 2 * d, 2);
        c->day = day;
    }
    p = put_str(p, c->date, 10);
    *p++ = 'T';
    memcpy(p, DIGITS2 + 2 * (sod / 3600), 2);
    p[2] = ':';
    memcpy(p + 3, DIGITS2 + 2 * (sod / 60 % 60), 2);
    p[5] = ':';
    memcpy(p + 6, DIGITS2 + 2 * (sod % 60), 2);
    p += 8;
    if (frac) {
        unsigned f = (unsigned)frac;
        *p++ = '.';
        memcpy(p, DIGITS2 + 2 * (f / 10000), 2);
        memcpy(p + 2, DIGITS2 + 2 * (f / 100 % 100), 2);
        memcpy(p + 4, DIGITS2 + 2 * (f % 100), 2);
        p += 6;
    }
    *p++ = 'Z';
    return p;
}

/* ---- the model --------------------------------------------------------------------------- */

enum { CH_WEB, CH_APP, CH_POS };
static const char *const CHANNEL[] = {"web", "app", "pos"};
static const uint8_t CHANNEL_LEN[] = {3, 3, 3};

#define NCUR 6
static const char *const CURRENCY[NCUR] = {"USD", "EUR", "GBP", "CAD", "JPY", "AUD"};

/* Nullable columns of transactions: bits of ev.nulls. */
enum { NULL_MERCHANT = 1, NULL_AMOUNT = 2, NULL_CURRENCY = 4, NULL_CHANNEL = 8, NULL_INTL = 16 };

typedef struct ev {
    int64_t ts, created;
    uint64_t txn_id;
    uint32_t user, merchant;
    int64_t cents;
    uint8_t channel, intl, currency, nulls;
} ev;

typedef struct label {
    int64_t ts;
    uint32_t user, merchant;
    int64_t cents; /* -1: null */
    uint8_t fraud;
} label;

typedef struct opts {
    const char *out;
    uint64_t events, users, merchants, labels, seed;
    int64_t start_us;
    uint64_t days;
    double skew, late, dup, nul;
    int jsonl;
    int64_t unit_us; /* timestamp precision: 1 s, 1 ms or 1 us */
} opts;

typedef struct model {
    const opts *o;
    uint64_t seed;
    uint32_t amount_tab[TAB_SIZE]; /* log-normal quantiles, cents, median $35 */
    uint16_t scale_tab[TAB_SIZE];  /* per-user spending scale, permille, median 1000 */
    uint32_t delay_tab[TAB_SIZE];  /* late arrival delays, seconds, log-uniform 1 min..2 days */
    uint64_t thr_late, thr_dup, thr_null;
    uint16_t *uattr; /* per-user attributes by id (model_cache) */
    uint8_t *mforeign;
    uint32_t nuattr, nmforeign;
} model;

static void model_init(model *m, const opts *o)
{
    m->o = o;
    m->seed = o->seed;
    for (uint32_t k = 0; k < TAB_SIZE; k++) {
        double p = ((double)k + 0.5) / TAB_SIZE;
        double z = norm_quantile(p);
        double cents = 3500 * det_exp(0.9 * z);
        m->amount_tab[k] = cents < 1 ? 1 : (uint32_t)(cents + 0.5);
        double sc = 1000 * det_exp(0.5 * z); /* at most about 8040: fits 13 bits */
        m->scale_tab[k] = (uint16_t)(sc + 0.5 < 8191 ? sc + 0.5 : 8191);
        m->delay_tab[k] = (uint32_t)(60 * det_exp(p * det_log(2880.0)) + 0.5);
    }
    m->thr_late = prob_thr(o->late);
    m->thr_dup = prob_thr(o->dup);
    m->thr_null = prob_thr(o->nul);
}

/* Per-user attributes, from hashes of the id (so that they do not depend on row order):
 * packed as scale (13 bits, permille < 8192) | home currency << 13 | fraudster << 15. */
static uint16_t user_attr_hash(const model *m, uint32_t u)
{
    unsigned fraudster = mix(m->seed, 1, u) % 1000 < 20; /* 2% */
    unsigned scale = m->scale_tab[mix(m->seed, 2, u) & (TAB_SIZE - 1)];
    unsigned h = (unsigned)(mix(m->seed, 3, u) % 100);
    unsigned home = h < 80 ? 0 : h < 90 ? 1 : h < 96 ? 2 : 3; /* USD EUR GBP CAD */
    return (uint16_t)(scale | home << 13 | fraudster << 15);
}

static int merchant_foreign_hash(const model *m, uint32_t mer)
{
    return mix(m->seed, 4, mer) % 100 < 8; /* 8% */
}

/* Cached for ids 1..n (n up to CACHE_MAX), hashed on the fly beyond (unknown label ids). */
#define CACHE_MAX (1u << 26)

static void model_cache(model *m, uint32_t users, uint32_t merchants)
{
    m->nuattr = users <= CACHE_MAX ? users : 0;
    m->nmforeign = merchants <= CACHE_MAX ? merchants : 0;
    m->uattr = xmalloc(((size_t)m->nuattr + 1) * sizeof *m->uattr);
    m->mforeign = xmalloc((size_t)m->nmforeign + 1);
    for (uint32_t u = 1; u <= m->nuattr; u++)
        m->uattr[u] = user_attr_hash(m, u);
    for (uint32_t i = 1; i <= m->nmforeign; i++)
        m->mforeign[i] = (uint8_t)merchant_foreign_hash(m, i);
}

static inline unsigned user_attr(const model *m, uint32_t u)
{
    return u <= m->nuattr ? m->uattr[u] : user_attr_hash(m, u);
}

static inline int user_is_fraudster(const model *m, uint32_t u)
{
    return (user_attr(m, u) >> 15) & 1;
}

static inline uint32_t user_scale(const model *m, uint32_t u)
{
    return user_attr(m, u) & 0x1fff;
}

static inline uint8_t user_home(const model *m, uint32_t u)
{
    return (uint8_t)((user_attr(m, u) >> 13) & 3);
}

static inline int merchant_is_foreign(const model *m, uint32_t mer)
{
    return mer <= m->nmforeign ? m->mforeign[mer] : merchant_foreign_hash(m, mer);
}

/* A transaction amount in cents for user u. */
static inline int64_t draw_cents(const model *m, rng *r, uint32_t u, int fraudster)
{
    uint64_t x = rng_next(r);
    /* big ones: 1.5% of normal users' transactions, 20% of fraudsters' */
    uint64_t big = fraudster ? 200 : 15;
    if ((x >> 32) % 1000 < big) return 100000 + (int64_t)((x & 0xffffffff) % 700001);
    int64_t c = (int64_t)m->amount_tab[x & (TAB_SIZE - 1)] * user_scale(m, u) / 1000;
    return c < 1 ? 1 : c;
}

/* Fraud probability in parts per million, and the draw. */
static inline int draw_fraud(const model *m, rng *r, uint32_t u, int64_t cents, int intl,
                             int channel)
{
    uint64_t p = 3000;
    if (user_is_fraudster(m, u)) p += 350000;
    if (cents > 100000) p += 80000;
    if (cents > 5 * 3500 * (int64_t)user_scale(m, u) / 1000) p += 30000;
    if (intl) p += 20000;
    if (channel == CH_WEB) p += 5000;
    return rng_below(r, 1000000) < p;
}

/* ---- late events: a min-heap on (created, txn_id) ---------------------------------------- */

typedef struct heap {
    ev *a;
    size_t n, cap;
} heap;

static inline int ev_before(const ev *x, const ev *y)
{
    return x->created < y->created || (x->created == y->created && x->txn_id < y->txn_id);
}

static void heap_push(heap *h, const ev *e)
{
    if (h->n == h->cap) {
        h->cap = h->cap ? h->cap * 2 : 1024;
        h->a = realloc(h->a, h->cap * sizeof *h->a);
        if (!h->a) die("out of memory");
    }
    size_t i = h->n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!ev_before(e, &h->a[p])) break;
        h->a[i] = h->a[p];
        i = p;
    }
    h->a[i] = *e;
}

static ev heap_pop(heap *h)
{
    ev top = h->a[0], last = h->a[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n) break;
        if (c + 1 < h->n && ev_before(&h->a[c + 1], &h->a[c])) c++;
        if (!ev_before(&h->a[c], &last)) break;
        h->a[i] = h->a[c];
        i = c;
    }
    if (h->n) h->a[i] = last;
    return top;
}

/* ---- rows -------------------------------------------------------------------------------- */

typedef struct writer {
    outfile f;
    int jsonl;
    tsfmt ts_c, cr_c;
} writer;

static void write_txn(writer *w, const ev *e)
{
    char *p = out_room(&w->f);
    if (!w->jsonl) {
        p = put_u64(p, e->txn_id);
        *p++ = ',';
        p = put_u64(p, e->user);
        *p++ = ',';
        if (!(e->nulls & NULL_MERCHANT)) p = put_u64(p, e->merchant);
        *p++ = ',';
        if (!(e->nulls & NULL_AMOUNT)) p = put_cents(p, e->cents);
        *p++ = ',';
        if (!(e->nulls & NULL_CURRENCY)) p = put_str(p, CURRENCY[e->currency], 3);
        *p++ = ',';
        if (!(e->nulls & NULL_CHANNEL))
            p = put_str(p, CHANNEL[e->channel], CHANNEL_LEN[e->channel]);
        *p++ = ',';
        if (!(e->nulls & NULL_INTL)) p = e->intl ? PUT_LIT(p, "true") : PUT_LIT(p, "false");
        *p++ = ',';
        p = put_ts(p, &w->ts_c, e->ts);
        *p++ = ',';
        p = put_ts(p, &w->cr_c, e->created);
        *p++ = '\n';
    } else {
        p = PUT_LIT(p, "{\"txn_id\":");
        p = put_u64(p, e->txn_id);
        p = PUT_LIT(p, ",\"user_id\":");
        p = put_u64(p, e->user);
        p = PUT_LIT(p, ",\"merchant_id\":");
        p = (e->nulls & NULL_MERCHANT) ? PUT_LIT(p, "null") : put_u64(p, e->merchant);
        p = PUT_LIT(p, ",\"amount\":");
        p = (e->nulls & NULL_AMOUNT) ? PUT_LIT(p, "null") : put_cents(p, e->cents);
        p = PUT_LIT(p, ",\"currency\":");
        if (e->nulls & NULL_CURRENCY) {
            p = PUT_LIT(p, "null");
        } else {
            *p++ = '"';
            p = put_str(p, CURRENCY[e->currency], 3);
            *p++ = '"';
        }
        p = PUT_LIT(p, ",\"channel\":");
        if (e->nulls & NULL_CHANNEL) {
            p = PUT_LIT(p, "null");
        } else {
            *p++ = '"';
            p = put_str(p, CHANNEL[e->channel], CHANNEL_LEN[e->channel]);
            *p++ = '"';
        }
        p = PUT_LIT(p, ",\"is_international\":");
        p = (e->nulls & NULL_INTL) ? PUT_LIT(p, "null")
            : e->intl              ? PUT_LIT(p, "true")
                                   : PUT_LIT(p, "false");
        p = PUT_LIT(p, ",\"ts\":\"");
        p = put_ts(p, &w->ts_c, e->ts);
        p = PUT_LIT(p, "\",\"created_at\":\"");
        p = put_ts(p, &w->cr_c, e->created);
        p = PUT_LIT(p, "\"}\n");
    }
    w->f.len = (size_t)(p - w->f.buf);
}

static void write_label(writer *w, const label *l)
{
    char *p = out_room(&w->f);
    if (!w->jsonl) {
        p = put_u64(p, l->user);
        *p++ = ',';
        p = put_u64(p, l->merchant);
        *p++ = ',';
        p = put_ts(p, &w->ts_c, l->ts);
        *p++ = ',';
        if (l->cents >= 0) p = put_cents(p, l->cents);
        *p++ = ',';
        p = l->fraud ? PUT_LIT(p, "true") : PUT_LIT(p, "false");
        *p++ = '\n';
    } else {
        p = PUT_LIT(p, "{\"user_id\":");
        p = put_u64(p, l->user);
        p = PUT_LIT(p, ",\"merchant_id\":");
        p = put_u64(p, l->merchant);
        p = PUT_LIT(p, ",\"event_timestamp\":\"");
        p = put_ts(p, &w->ts_c, l->ts);
        p = PUT_LIT(p, "\",\"amount\":");
        p = l->cents >= 0 ? put_cents(p, l->cents) : PUT_LIT(p, "null");
        p = PUT_LIT(p, ",\"is_fraud\":");
        p = l->fraud ? PUT_LIT(p, "true") : PUT_LIT(p, "false");
        p = PUT_LIT(p, "}\n");
    }
    w->f.len = (size_t)(p - w->f.buf);
}

static void writer_open(writer *w, const opts *o, const char *base)
{
    char name[64];
    snprintf(name, sizeof name, "%s.%s", base, o->jsonl ? "jsonl" : "csv");
    out_open(&w->f, o->out, name);
    w->jsonl = o->jsonl;
    tsfmt_init(&w->ts_c);
    tsfmt_init(&w->cr_c);
}

/* ---- generation -------------------------------------------------------------------------- */

typedef struct stats {
    uint64_t late, dup, nulls;
    uint64_t lab_event, lab_random, lab_before, lab_unknown, lab_fraud;
} stats;

/* Sorts n values below 2^44 (LSD radix sort, 4 passes of 11 bits: qsort took a tenth of the
 * generator's time at 10M events). */
static void sort_u64(uint64_t *a, size_t n)
{
    uint64_t *tmp = xmalloc(n * sizeof *tmp), *src = a, *dst = tmp;
    for (int shift = 0; shift < 44; shift += 11) {
        size_t count[2048] = {0};
        for (size_t i = 0; i < n; i++)
            count[(src[i] >> shift) & 2047]++;
        size_t pos = 0;
        for (size_t b = 0; b < 2048; b++) {
            size_t c = count[b];
            count[b] = pos;
            pos += c;
        }
        for (size_t i = 0; i < n; i++)
            dst[count[(src[i] >> shift) & 2047]++] = src[i];
        uint64_t *t = src;
        src = dst;
        dst = t;
    }
    /* an even number of passes: the result is back in a */
    free(tmp);
}

static inline int64_t floor_to(int64_t t, int64_t unit)
{
    return floor_div(t, unit) * unit;
}

/* Attributes of one event of user u at merchant mer (everything but the times and id). */
static void fill_event(const model *m, rng *r, ev *e, uint32_t u, uint32_t mer)
{
    int fraudster = user_is_fraudster(m, u);
    e->user = u;
    e->merchant = mer;
    e->cents = draw_cents(m, r, u, fraudster);
    uint64_t x = rng_next(r);
    unsigned c = (unsigned)((x >> 40) % 100);
    if (fraudster)
        e->channel = c < 60 ? CH_WEB : c < 90 ? CH_APP : CH_POS;
    else
        e->channel = c < 35 ? CH_WEB : c < 80 ? CH_APP : CH_POS;
    unsigned t = (unsigned)((x >> 16) % 1000);
    e->intl = merchant_is_foreign(m, mer) || t < (fraudster ? 300u : 20u);
    uint8_t home = user_home(m, u);
    if (e->intl) {
        uint8_t cur = (uint8_t)((x & 0xffff) % (NCUR - 1));
        e->currency = cur >= home ? cur + 1 : cur; /* any currency but the user's own */
    } else {
        e->currency = home;
    }
    e->nulls = 0;
    if (m->thr_null) {
        for (int b = 0; b < 5; b++)
            if (rng_chance(r, m->thr_null)) e->nulls |= (uint8_t)(1u << b);
    }
}

static void generate(const opts *o, stats *st)
{
    model *m = xmalloc(sizeof *m);
    model_init(m, o);
    model_cache(m, (uint32_t)o->users, (uint32_t)o->merchants);
    rng setup, evr, labr;
    rng_seed(&setup, o->seed, 1);
    rng_seed(&evr, o->seed, 2);
    rng_seed(&labr, o->seed, 3);

    sampler users, merchants;
    sampler_init(&users, (uint32_t)o->users, o->skew, &setup);
    sampler_init(&merchants, (uint32_t)o->merchants, o->skew, &setup);

    /* label plan: 70% from events, 20% at random times, 5% before the span, 5% unknown users */
    uint64_t L = o->labels, N = o->events;
    uint64_t n_ev = N ? L * 70 / 100 : 0;
    uint64_t n_before = L * 5 / 100, n_unknown = L * 5 / 100;
    uint64_t n_random = L - n_ev - n_before - n_unknown;
    label *labs = xmalloc(L * sizeof *labs);
    uint64_t nlab = 0;
    uint64_t *pick = xmalloc(n_ev * sizeof *pick);
    for (uint64_t i = 0; i < n_ev; i++)
        pick[i] = rng_below(&labr, N);
    sort_u64(pick, n_ev);

    const int64_t S = (int64_t)o->days * US_PER_DAY, unit = o->unit_us;
    const int64_t normal_delay = 2 * US_PER_S; /* created_at - ts of an on-time event */
    writer tw;
    writer_open(&tw, o, "transactions");
    if (!o->jsonl) {
        const char *h = "txn_id,user_id,merchant_id,amount,currency,channel,is_international,"
                        "ts,created_at\n";
        char *p = out_room(&tw.f);
        p = put_str(p, h, strlen(h));
        tw.f.len = (size_t)(p - tw.f.buf);
    }

    heap late = {0};
    ev prev = {0};
    uint64_t pi = 0;
    /* slot i of the span is [lo, hi) with lo = floor(i * S / N), kept exactly without a
     * division per row: hi = lo + q, plus 1 when the remainders add up past N */
    const uint64_t q = N ? (uint64_t)S / N : 0, rem = N ? (uint64_t)S % N : 0;
    uint64_t lo = 0, acc = 0;
    for (uint64_t i = 0; i < N; i++, lo += q) {
        ev e;
        uint64_t width = q;
        acc += rem;
        if (acc >= N) {
            acc -= N;
            width++;
        }
        int64_t ts = o->start_us + (int64_t)lo + (int64_t)rng_below(&evr, width ? width : 1);
        lo += width - q; /* the loop adds q */
        ts = floor_to(ts, unit);
        int dup = i > 0 && rng_chance(&evr, m->thr_dup);
        uint32_t u = dup ? prev.user : sampler_draw(&users, &evr);
        fill_event(m, &evr, &e, u, sampler_draw(&merchants, &evr));
        e.txn_id = i + 1;
        if (dup) {
            /* same user, same ts: created_at equal (file order decides), later, or earlier */
            st->dup++;
            e.ts = prev.ts;
            uint64_t x = rng_next(&evr);
            int64_t d = (int64_t)((x >> 2) % (uint64_t)(normal_delay / unit + 1)) * unit;
            switch (x & 3) {
            case 0:
            case 1:
                e.created = prev.created;
                break;
            case 2:
                e.created = prev.created + (d ? d : unit);
                break;
            default:
                e.created = prev.created - d < e.ts ? e.ts : prev.created - d;
                break;
            }
        } else {
            e.ts = ts;
            int64_t d = (int64_t)rng_below(&evr, (uint64_t)(normal_delay / unit + 1)) * unit;
            e.created = e.ts + d;
            if (rng_chance(&evr, m->thr_late))
                e.created =
                    e.ts + (int64_t)m->delay_tab[rng_next(&evr) & (TAB_SIZE - 1)] * US_PER_S;
        }
        /* events that arrived before this one's event time go first */
        while (late.n && late.a[0].created <= e.ts) {
            ev l = heap_pop(&late);
            write_txn(&tw, &l);
        }
        if (e.created - e.ts > normal_delay) {
            st->late++;
            heap_push(&late, &e);
        } else {
            write_txn(&tw, &e);
        }
        if (e.nulls) st->nulls++;
        /* labels taken from this event */
        for (; pi < n_ev && pick[pi] == i; pi++) {
            label *l = &labs[nlab++];
            l->user = e.user;
            l->merchant = e.merchant;
            l->ts = e.ts;
            if (rng_next(&labr) & 1) /* half at the event's own time, half up to 5 min later */
                l->ts += floor_to((int64_t)rng_below(&labr, 300 * US_PER_S), unit);
            l->cents = rng_chance(&labr, m->thr_null) ? -1 : e.cents;
            l->fraud = (uint8_t)draw_fraud(m, &labr, e.user, e.cents, e.intl, e.channel);
            st->lab_event++;
        }
        prev = e;
    }
    while (late.n) {
        ev l = heap_pop(&late);
        write_txn(&tw, &l);
    }
    free(late.a);
    free(pick);
    out_close(&tw.f);

    /* the other labels, from their own stream */
    for (uint64_t k = 0; k < n_random + n_before + n_unknown; k++) {
        label *l = &labs[nlab++];
        ev e;
        uint32_t u, mer;
        int64_t t;
        if (k < n_random) {
            u = sampler_draw(&users, &labr);
            mer = sampler_draw(&merchants, &labr);
            t = o->start_us + (int64_t)rng_below(&labr, (uint64_t)S);
            st->lab_random++;
        } else if (k < n_random + n_before) {
            u = sampler_draw(&users, &labr);
            mer = sampler_draw(&merchants, &labr);
            t = o->start_us - US_PER_S - (int64_t)rng_below(&labr, 7 * (uint64_t)US_PER_DAY);
            st->lab_before++;
        } else {
            /* users that have no events at all; half of them at unknown merchants too */
            u = (uint32_t)(o->users + 1 + rng_below(&labr, o->users / 10 + 1));
            mer = (rng_next(&labr) & 1)
                      ? (uint32_t)(o->merchants + 1 + rng_below(&labr, o->merchants / 10 + 1))
                      : sampler_draw(&merchants, &labr);
            t = o->start_us + (int64_t)rng_below(&labr, (uint64_t)S);
            st->lab_unknown++;
        }
        fill_event(m, &labr, &e, u, mer);
        l->user = u;
        l->merchant = mer;
        l->ts = floor_to(t, unit);
        l->cents = rng_chance(&labr, m->thr_null) ? -1 : e.cents;
        l->fraud = (uint8_t)draw_fraud(m, &labr, u, e.cents, e.intl, e.channel);
    }
    /* labels in random order: a training set keeps the order of its labels file */
    for (uint64_t i = nlab; i > 1; i--) {
        uint64_t j = rng_below(&labr, i);
        label t = labs[i - 1];
        labs[i - 1] = labs[j];
        labs[j] = t;
    }
    writer lw;
    writer_open(&lw, o, "labels");
    if (!o->jsonl) {
        const char *h = "user_id,merchant_id,event_timestamp,amount,is_fraud\n";
        char *p = out_room(&lw.f);
        p = put_str(p, h, strlen(h));
        lw.f.len = (size_t)(p - lw.f.buf);
    }
    for (uint64_t i = 0; i < nlab; i++) {
        st->lab_fraud += labs[i].fraud;
        write_label(&lw, &labs[i]);
    }
    out_close(&lw.f);
    free(labs);
    sampler_release(&users);
    sampler_release(&merchants);
    free(m->uattr);
    free(m->mforeign);
    free(m);
}

/* ---- options ----------------------------------------------------------------------------- */

static const char USAGE[] =
    "usage: gen --out DIR [options]\n"
    "\n"
    "Writes deterministic synthetic card transactions and fraud labels for Tessera:\n"
    "DIR/transactions.csv and DIR/labels.csv (.jsonl with --format jsonl). The same options\n"
    "give byte-identical files on every machine. See docs/generator.md.\n"
    "\n"
    "options (counts take an optional k, M or G suffix: 10M = 10000000):\n"
    "  -o, --out DIR        output directory, created if missing (required)\n"
    "  -n, --events N       transactions to write (default 10000)\n"
    "  -u, --users N        users, ids 1..N (default events/100, at least 10)\n"
    "  -m, --merchants N    merchants, ids 1..N (default events/1000, at least 10)\n"
    "  -l, --labels N       label rows (default events/10)\n"
    "  -s, --seed S         PRNG seed, an unsigned 64-bit integer (default 42)\n"
    "      --start DATE     start of the event span, YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ\n"
    "                       (default 2026-01-01)\n"
    "      --days D         length of the span in days (default 30)\n"
    "      --skew Z         Zipf exponent of user and merchant popularity; 0 = uniform\n"
    "                       (default 0.8)\n"
    "      --late F         fraction of events that arrive late: created_at 1 min to 2 days\n"
    "                       after ts, written out of order at their arrival (default 0.02)\n"
    "      --dup F          fraction of events that repeat the previous event's user and ts\n"
    "                       exactly, to exercise tie-breaks (default 0.01)\n"
    "      --null F         fraction of nulls in each nullable column (default 0.01)\n"
    "      --format FMT     csv or jsonl (default csv)\n"
    "      --precision P    timestamp precision: s, ms or us (default s)\n"
    "  -h, --help           show this help\n";

static uint64_t parse_count(const char *opt, const char *s)
{
    char *end;
    errno = 0;
    if (*s == '-' || *s == '\0')
        usage_die("--%s: expected a non-negative integer, got \"%s\"", opt, s);
    unsigned long long v = strtoull(s, &end, 10);
    uint64_t mul = 1;
    if (*end == 'k' || *end == 'K')
        mul = 1000, end++;
    else if (*end == 'M')
        mul = 1000000, end++;
    else if (*end == 'G')
        mul = 1000000000, end++;
    if (errno || *end || end == s || (mul > 1 && v > UINT64_MAX / mul))
        usage_die("--%s: expected a non-negative integer (k, M, G suffixes allowed), got \"%s\"",
                  opt, s);
    return (uint64_t)v * mul;
}

static double parse_frac(const char *opt, const char *s, double max)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || end == s || !(v >= 0 && v <= max))
        usage_die("--%s: expected a number between 0 and %g, got \"%s\"", opt, max, s);
    return v;
}

static int parse_digits(const char *s, int n, int *val)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    *val = v;
    return 0;
}

/* YYYY-MM-DD, YYYY-MM-DDTHH:MM:SS[Z] or with a space instead of T; UTC. */
static int64_t parse_start(const char *s)
{
    int y, mo, d, hh = 0, mi = 0, ss = 0;
    size_t n = strlen(s);
    if (n < 10 || parse_digits(s, 4, &y) || s[4] != '-' || parse_digits(s + 5, 2, &mo) ||
        s[7] != '-' || parse_digits(s + 8, 2, &d))
        goto bad;
    if (n > 10) {
        if ((s[10] != 'T' && s[10] != ' ') || n < 19 || parse_digits(s + 11, 2, &hh) ||
            s[13] != ':' || parse_digits(s + 14, 2, &mi) || s[16] != ':' ||
            parse_digits(s + 17, 2, &ss) || !(n == 19 || (n == 20 && s[19] == 'Z')))
            goto bad;
    }
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || hh > 23 || mi > 59 || ss > 59)
        goto bad;
    if (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))) goto bad;
    return (days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + hh * 3600 + mi * 60 + ss) *
           US_PER_S;
bad:
    usage_die("--start: expected YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ, got \"%s\"", s);
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void mkdirs(const char *dir)
{
    size_t n = strlen(dir);
    char *p = xmalloc(n + 1);
    memcpy(p, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (p[i] != '/' && p[i] != '\0') continue;
        char c = p[i];
        p[i] = '\0';
        if (mkdir(p, 0755) != 0 && errno != EEXIST) die("cannot create %s: %s", p, strerror(errno));
        p[i] = c;
    }
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) die("%s is not a directory", dir);
    free(p);
}

int main(int argc, char **argv)
{
    enum {
        OPT_START = 256,
        OPT_DAYS,
        OPT_SKEW,
        OPT_LATE,
        OPT_DUP,
        OPT_NULL,
        OPT_FORMAT,
        OPT_PRECISION
    };
    static const struct option longopts[] = {
        {"out", required_argument, NULL, 'o'},
        {"events", required_argument, NULL, 'n'},
        {"users", required_argument, NULL, 'u'},
        {"merchants", required_argument, NULL, 'm'},
        {"labels", required_argument, NULL, 'l'},
        {"seed", required_argument, NULL, 's'},
        {"start", required_argument, NULL, OPT_START},
        {"days", required_argument, NULL, OPT_DAYS},
        {"skew", required_argument, NULL, OPT_SKEW},
        {"late", required_argument, NULL, OPT_LATE},
        {"dup", required_argument, NULL, OPT_DUP},
        {"null", required_argument, NULL, OPT_NULL},
        {"format", required_argument, NULL, OPT_FORMAT},
        {"precision", required_argument, NULL, OPT_PRECISION},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    opts o = {.events = 10000,
              .seed = 42,
              .days = 30,
              .skew = 0.8,
              .late = 0.02,
              .dup = 0.01,
              .nul = 0.01,
              .unit_us = US_PER_S};
    int have_users = 0, have_merchants = 0, have_labels = 0;
    o.start_us = parse_start("2026-01-01");
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":o:n:u:m:l:s:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'o':
            o.out = optarg;
            break;
        case 'n':
            o.events = parse_count("events", optarg);
            break;
        case 'u':
            o.users = parse_count("users", optarg);
            have_users = 1;
            break;
        case 'm':
            o.merchants = parse_count("merchants", optarg);
            have_merchants = 1;
            break;
        case 'l':
            o.labels = parse_count("labels", optarg);
            have_labels = 1;
            break;
        case 's':
            o.seed = parse_count("seed", optarg);
            break;
        case OPT_START:
            o.start_us = parse_start(optarg);
            break;
        case OPT_DAYS:
            o.days = parse_count("days", optarg);
            break;
        case OPT_SKEW:
            o.skew = parse_frac("skew", optarg, 10);
            break;
        case OPT_LATE:
            o.late = parse_frac("late", optarg, 1);
            break;
        case OPT_DUP:
            o.dup = parse_frac("dup", optarg, 1);
            break;
        case OPT_NULL:
            o.nul = parse_frac("null", optarg, 1);
            break;
        case OPT_FORMAT:
            if (strcmp(optarg, "csv") == 0)
                o.jsonl = 0;
            else if (strcmp(optarg, "jsonl") == 0)
                o.jsonl = 1;
            else
                goto usage_bad_format;
            break;
        case OPT_PRECISION:
            if (strcmp(optarg, "s") == 0)
                o.unit_us = US_PER_S;
            else if (strcmp(optarg, "ms") == 0)
                o.unit_us = 1000;
            else if (strcmp(optarg, "us") == 0)
                o.unit_us = 1;
            else
                goto usage_bad_precision;
            break;
        case 'h':
            fputs(USAGE, stdout);
            return 0;
        case ':':
            fprintf(stderr, "gen: option %s needs a value\n", argv[optind - 1]);
            goto usage;
        default:
            fprintf(stderr, "gen: unknown option %s\n", argv[optind - 1]);
            goto usage;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "gen: unexpected argument \"%s\"\n", argv[optind]);
        goto usage;
    }
    if (!o.out) {
        fprintf(stderr, "gen: --out DIR is required\n");
        goto usage;
    }
    if (!have_users) o.users = o.events / 100 > 10 ? o.events / 100 : 10;
    if (!have_merchants) o.merchants = o.events / 1000 > 10 ? o.events / 1000 : 10;
    if (!have_labels) o.labels = o.events / 10;
    if (o.users < 1 || o.users > 1000000000) usage_die("--users: expected 1 to 1G");
    if (o.merchants < 1 || o.merchants > 1000000000) usage_die("--merchants: expected 1 to 1G");
    if (o.days < 1 || o.days > 36500) usage_die("--days: expected 1 to 36500");
    if (o.events > (1ULL << 40) || o.labels > (1ULL << 34))
        usage_die("--events or --labels: too many rows");
    {
        /* every timestamp written must have a 4-digit year */
        int64_t lo = o.start_us - 8 * US_PER_DAY;
        int64_t hi = o.start_us + ((int64_t)o.days + 3) * US_PER_DAY;
        if (lo < days_from_civil(1, 1, 1) * 86400 * US_PER_S ||
            hi >= days_from_civil(10000, 1, 1) * 86400 * US_PER_S)
            usage_die("--start/--days: the span must stay within years 0001..9999");
    }

    mkdirs(o.out);
    double t0 = now_s();
    stats st = {0};
    generate(&o, &st);
    double dt = now_s() - t0;
    const char *ext = o.jsonl ? "jsonl" : "csv";
    fprintf(
        stderr,
        "gen: %s/transactions.%s: %" PRIu64 " events (%" PRIu64 " late, %" PRIu64 " dup, %" PRIu64
        " with nulls) of %" PRIu64 " users at %" PRIu64 " merchants; %s/labels.%s: %" PRIu64
        " labels (%" PRIu64 " fraud); seed %" PRIu64 "; %.2f s, %.2fM rows/s\n",
        o.out, ext, o.events, st.late, st.dup, st.nulls, o.users, o.merchants, o.out, ext, o.labels,
        st.lab_fraud, o.seed, dt, dt > 0 ? (double)(o.events + o.labels) / dt / 1e6 : 0.0);
    return 0;

usage_bad_format:
    fprintf(stderr, "gen: --format: expected csv or jsonl, got \"%s\"\n", optarg);
    goto usage;
usage_bad_precision:
    fprintf(stderr, "gen: --precision: expected s, ms or us, got \"%s\"\n", optarg);
usage:
    fputs("try 'gen --help'\n", stderr);
    return 2;
}
