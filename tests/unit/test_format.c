/* test_format.c — the text of float64 values (tess__expr_format_float) and of CSV/JSON values
 * (offline/writer.c).
 *
 * The oracle: tess__expr_format_float must print the same bytes as the loop it replaced, the
 * first of %.15g %.16g %.17g that strtod reads back. That loop is kept here, as it was, as the
 * reference, and both are run on a few million doubles per run: random bit patterns, random
 * short decimals (0-6 fraction digits) at many magnitudes, integers, every power of two and of
 * ten with their neighbours, exact ties at 15, 16 and 17 digits, and the edges (DBL_MAX,
 * DBL_MIN, subnormals, -0). The seed changes every run and is printed on a mismatch;
 * TESS_FORMAT_SEED=<n> replays a run and TESS_FORMAT_SCALE=<k> multiplies the counts.
 *
 * The process stays in the C locale, so the reference's plain snprintf/strtod are the C ones. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/time.h"
#include "core/value.h"
#include "expr/expr_int.h"
#include "offline/writer.h"
#include "tessera.h"

/* ---- the reference and the comparison -------------------------------------------------------- */

static size_t format_ref(double x, char *buf)
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
    int len = 0;
    for (int prec = 15; prec <= 17; prec++) {
        len = snprintf(buf, 32, "%.*g", prec, x);
        if (prec == 17 || strtod(buf, NULL) == x) break;
    }
    return len < 0 ? 0 : (size_t)len;
}

static uint64_t seed;
static uint64_t rng;
static unsigned long checked;

static uint64_t next(void)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 0x2545F4914F6CDD1DULL;
}

static double from_bits(uint64_t b)
{
    double x;
    memcpy(&x, &b, sizeof(x));
    return x;
}

static uint64_t to_bits(double x)
{
    uint64_t b;
    memcpy(&b, &x, sizeof(b));
    return b;
}

static void check(double x)
{
    char want[40], got[40];
    memset(got, 'X', sizeof(got));
    size_t wn = format_ref(x, want);
    size_t gn = tess__expr_format_float(x, got);
    checked++;
    if (gn != wn || memcmp(got, want, wn + 1) != 0) {
        got[sizeof(got) - 1] = '\0';
        print_error("x = %a (bits %016" PRIx64 "): want \"%s\" (%zu), got \"%s\" (%zu); "
                    "TESS_FORMAT_SEED=%" PRIu64 "\n",
                    x, to_bits(x), want, wn, got, gn, seed);
        fail();
    }
}

/* x, -x, and the doubles k ulps either side of both. */
static void check_around(double x, int k)
{
    double up = x, down = x;
    check(x);
    check(-x);
    for (int i = 0; i < k; i++) {
        up = nextafter(up, INFINITY);
        down = nextafter(down, -INFINITY);
        check(up);
        check(down);
        check(-up);
        check(-down);
    }
}

static unsigned long count(unsigned long n)
{
    const char *s = getenv("TESS_FORMAT_SCALE");
    unsigned long k = s ? strtoul(s, NULL, 10) : 1;
    return n * (k ? k : 1);
}

static int setup(void **state)
{
    (void)state;
    const char *s = getenv("TESS_FORMAT_SEED");
    seed = s ? strtoull(s, NULL, 10) : (uint64_t)time(NULL) * 0x9E3779B97F4A7C15ULL;
    rng = seed | 1;
    return 0;
}

static const double pow10_exact[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                     1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                     1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* ---- fixed cases: what a reader of the output expects --------------------------------------- */

static void expect(double x, const char *text)
{
    char buf[40];
    size_t n = tess__expr_format_float(x, buf);
    assert_string_equal(buf, text);
    assert_int_equal(n, strlen(text));
    check(x); /* and the reference agrees */
}

static void test_known_values(void **state)
{
    (void)state;
    expect(0.0, "0");
    expect(-0.0, "-0");
    expect(1.0, "1");
    expect(-42.0, "-42");
    expect(123.45, "123.45");
    expect(0.1, "0.1");
    expect(0.1 + 0.2, "0.30000000000000004");
    expect(1.0 / 3.0, "0.3333333333333333");
    expect(2.0 / 3.0, "0.6666666666666666");
    expect(1e-4, "0.0001");
    expect(1e-5, "1e-05");
    expect(1.5e-7, "1.5e-07");
    expect(1e14, "100000000000000");
    expect(1e15, "1e+15");
    expect(123456789012345.0, "123456789012345");
    expect(1234567890123456.0, "1234567890123456");
    expect(9007199254740992.0, "9007199254740992");
    expect(9007199254740993.0, "9007199254740992");
    expect(12345678901234567.0, "12345678901234568");
    expect(1e17, "1e+17");
    expect(1e20, "1e+20");
    expect(1e22, "1e+22");
    expect(1e23, "1e+23");
    expect(DBL_MAX, "1.7976931348623157e+308");
    expect(-DBL_MAX, "-1.7976931348623157e+308");
    expect(DBL_MIN, "2.2250738585072014e-308");
    expect(5e-324, "4.94065645841247e-324");
    expect(DBL_EPSILON, "2.220446049250313e-16");
    expect(NAN, "nan");
    expect(INFINITY, "inf");
    expect(-INFINITY, "-inf");
    expect(1710510330000000.0, "1.71051033e+15"); /* microseconds: %.15g goes exponential */
    expect(1710510330.123456, "1710510330.123456");
    expect(0.1 * 3, "0.30000000000000004");
    expect(1e15 + 0.5, "1000000000000000.5");
    expect(4503599627370495.5, "4503599627370495.5");
    expect(2.5, "2.5");
}

/* ---- the oracle ---------------------------------------------------------------------------- */

static void test_oracle_edges(void **state)
{
    (void)state;
    /* every power of two, from the smallest subnormal to 2^1023, and neighbours */
    for (int k = -1074; k <= 1023; k++)
        check_around(ldexp(1.0, k), 3);
    /* every power of ten a double can get near, as strtod reads it, and neighbours */
    for (int k = -325; k <= 308; k++) {
        char s[16];
        snprintf(s, sizeof(s), "1e%d", k);
        check_around(strtod(s, NULL), 3);
        snprintf(s, sizeof(s), "5e%d", k);
        check_around(strtod(s, NULL), 2);
        snprintf(s, sizeof(s), "9.5e%d", k);
        check_around(strtod(s, NULL), 2);
    }
    check_around(DBL_MAX, 20);
    check_around(DBL_MIN, 20);
    check_around(from_bits(1), 20);                     /* 5e-324 */
    check_around(from_bits(0x000FFFFFFFFFFFFFULL), 20); /* largest subnormal */
    check_around(0.0, 20);
    check_around(0.1 + 0.2, 20);
    check_around(0.3, 20);
    check_around(1e15, 200);
    check_around(1e16, 200);
    check_around(1e17, 200);
    check_around(9007199254740992.0, 200);
    for (int i = 0; i < 23; i++)
        check_around(pow10_exact[i], 8);
    for (int64_t i = 0; i < 2000; i++)
        check((double)i);
}

/* Random bit patterns: every exponent equally likely, nan and inf included. */
static void test_oracle_random_bits(void **state)
{
    (void)state;
    unsigned long n = count(150000);
    for (unsigned long i = 0; i < n; i++)
        check(from_bits(next()));
}

/* Short decimals such as money: k / 10^f with f = 0..6 fraction digits, k of 1..16 digits. */
static void test_oracle_decimals(void **state)
{
    (void)state;
    unsigned long n = count(200000);
    for (unsigned long i = 0; i < n; i++) {
        uint64_t r = next();
        int f = (int)(r % 7), nd = 1 + (int)((r >> 8) % 16);
        uint64_t lim = 1;
        for (int j = 0; j < nd; j++)
            lim *= 10;
        int64_t k = (int64_t)(next() % lim);
        double x = (double)k / pow10_exact[f];
        if (r >> 63) x = -x;
        check(x);
        /* the same digits at another magnitude, read as text */
        char s[48];
        snprintf(s, sizeof(s), "%" PRId64 "e%d", k, (int)((r >> 16) % 80) - 40);
        check(strtod(s, NULL));
    }
}

/* Integers of every size, exact halves and quarters near the 15-17 digit boundary (ties for
 * the rounding), and uniform doubles in [0, 1) and over the exactly computed range. */
static void test_oracle_integers_and_ties(void **state)
{
    (void)state;
    unsigned long n = count(80000);
    for (unsigned long i = 0; i < n; i++) {
        uint64_t r = next();
        int bitsn = 1 + (int)(r % 64);
        uint64_t k = next() >> (64 - bitsn);
        check((double)k);
        check(-(double)(int64_t)(k >> 1));
        /* k + j/8 for k near 10^14..10^17: exact values with 16..18 significant digits */
        uint64_t base = (uint64_t)pow10_exact[14 + (r >> 8) % 3];
        double t = (double)(base + next() % (base * 9)) + (double)((r >> 16) % 8) / 8.0;
        check(t);
        check((double)(next() >> 11) * 0x1p-53); /* uniform in [0, 1) */
        int ex = (int)((r >> 24) % 100) - 36;    /* 2^-36 .. 2^63 */
        check(ldexp((double)((next() >> 11) | 1ULL << 52), ex - 52));
    }
    print_message("%lu doubles compared with the reference so far\n", checked);
}

/* ---- writer.c: value text ----------------------------------------------------------------- */

static void expect_csv(const tess__value *v, const char *text)
{
    tess__buf b = TESS__BUF_INIT;
    assert_int_equal(tess__csv_put_value(&b, v, ','), TESS_OK);
    assert_string_equal(b.p ? b.p : "", text);
    assert_int_equal(b.len, strlen(text));
    tess__buf_release(&b);
}

static void test_writer_values(void **state)
{
    (void)state;
    tess__value v;
    v = tess__v_int(0);
    expect_csv(&v, "0");
    v = tess__v_int(-7);
    expect_csv(&v, "-7");
    v = tess__v_int(INT64_MAX);
    expect_csv(&v, "9223372036854775807");
    v = tess__v_int(INT64_MIN);
    expect_csv(&v, "-9223372036854775808");
    v = tess__v_float(123.45);
    expect_csv(&v, "123.45");
    v = tess__v_float(-0.0);
    expect_csv(&v, "-0");
    v = tess__v_float(NAN);
    expect_csv(&v, "nan");
    v = tess__v_float(-INFINITY);
    expect_csv(&v, "-inf");
    v = tess__v_bool(true);
    expect_csv(&v, "true");
    v = tess__v_ts(1710510330000000LL);
    expect_csv(&v, "2024-03-15T13:45:30Z");
    v = tess__v_ts(1710510330000123LL);
    expect_csv(&v, "2024-03-15T13:45:30.000123Z");
    v = tess__v_str("plain", 5);
    expect_csv(&v, "plain");
    v = tess__v_str("", 0);
    expect_csv(&v, "\"\"");
    v = tess__v_str("a,b", 3);
    expect_csv(&v, "\"a,b\"");
    v = tess__v_str("say \"hi\"\n", 9);
    expect_csv(&v, "\"say \"\"hi\"\"\n\"");
    v = tess__v_str("\"", 1);
    expect_csv(&v, "\"\"\"\"");
    v = tess__v_str("x\r", 2);
    expect_csv(&v, "\"x\r\"");
    v = tess__null(TESS_T_FLOAT64);
    expect_csv(&v, "");

    tess__buf b = TESS__BUF_INIT;
    v = tess__v_float(INFINITY);
    assert_int_equal(tess__json_put_value(&b, &v), TESS_OK);
    v = tess__v_float(0.5);
    assert_int_equal(tess__json_put_value(&b, &v), TESS_OK);
    v = tess__v_int(-12);
    assert_int_equal(tess__json_put_value(&b, &v), TESS_OK);
    v = tess__v_ts(0);
    assert_int_equal(tess__json_put_value(&b, &v), TESS_OK);
    assert_string_equal(b.p, "null0.5-12\"1970-01-01T00:00:00Z\"");
    tess__buf_release(&b);
}

/* int64 text and CSV quoting against the obvious implementations, on random values. */
static void test_writer_random(void **state)
{
    (void)state;
    tess__buf b = TESS__BUF_INIT, want = TESS__BUF_INIT;
    const char alphabet[] = "ab,\"\n\r x";
    for (int i = 0; i < 200000; i++) {
        uint64_t r = next();
        tess__value v = tess__v_int((int64_t)(next() >> (r % 64)) * (r >> 63 ? -1 : 1));
        if (i == 0) v = tess__v_int(INT64_MIN);
        tess__buf_reset(&b);
        tess__buf_reset(&want);
        assert_int_equal(tess__csv_put_value(&b, &v, ','), TESS_OK);
        assert_int_equal(tess__buf_printf(&want, "%" PRId64, v.u.i), TESS_OK);
        assert_string_equal(b.p, want.p);

        char s[12];
        size_t n = (size_t)(r % sizeof(s));
        bool quote = false;
        for (size_t j = 0; j < n; j++) {
            s[j] = alphabet[(r >> (8 + 3 * j)) % (sizeof(alphabet) - 1)];
            quote = quote || s[j] == ',' || s[j] == '"' || s[j] == '\n' || s[j] == '\r';
        }
        tess__buf_reset(&b);
        tess__buf_reset(&want);
        assert_int_equal(tess__csv_put_field(&b, s, n, ','), TESS_OK);
        if (quote) tess__buf_putc(&want, '"');
        for (size_t j = 0; j < n; j++) {
            if (s[j] == '"') tess__buf_putc(&want, '"');
            tess__buf_putc(&want, s[j]);
        }
        if (quote) tess__buf_putc(&want, '"');
        assert_int_equal(b.len, want.len);
        assert_memory_equal(b.p ? b.p : "", want.p ? want.p : "", want.len);
    }
    tess__buf_release(&b);
    tess__buf_release(&want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_values),
        cmocka_unit_test(test_oracle_edges),
        cmocka_unit_test(test_oracle_random_bits),
        cmocka_unit_test(test_oracle_decimals),
        cmocka_unit_test(test_oracle_integers_and_ties),
        cmocka_unit_test(test_writer_values),
        cmocka_unit_test(test_writer_random),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
