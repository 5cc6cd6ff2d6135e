/* test_core.c — timestamps, durations, buffers, arenas, errors, allocation failure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/time.h"
#include "core/value.h"
#include "tessera.h"

static int64_t ts(const char *s)
{
    int64_t us = 0;
    const char *why = NULL;
    int rc = tess__ts_parse(s, strlen(s), &us, &why);
    if (rc != TESS_OK) fail_msg("%s: %s", s, why);
    return us;
}

static void test_ts_forms(void **state)
{
    (void)state;
    assert_int_equal(ts("1970-01-01"), 0);
    assert_int_equal(ts("1970-01-01T00:00:01Z"), 1000000);
    assert_int_equal(ts("1970-01-01 00:00:01"), 1000000);
    assert_int_equal(ts("1970-01-01T01:00:00+01:00"), 0);
    assert_int_equal(ts("1969-12-31T23:00:00-01:00"), 0);
    assert_int_equal(ts("1970-01-01T00:00:00.5Z"), 500000);
    assert_int_equal(ts("1970-01-01T00:00:00.123456789Z"), 123456);
    assert_int_equal(ts("2000-03-01"), 951868800LL * 1000000);
    assert_int_equal(ts("1969-12-31T23:59:59Z"), -1000000);
    assert_int_equal(ts("2024-02-29T12:00:00Z"), 1709208000LL * 1000000);
}

static void test_ts_errors(void **state)
{
    (void)state;
    const char *bad[] = {"",           "2024-13-01", "2024-02-30", "2023-02-29", "2024-01-01T25:00:00",
                         "2024-01-01x", "2024/01/01", "2024-01-01T00:00", "2024-01-01T00:00:00+25:00",
                         "2024-01-01T00:00:00.Z", "12345", "2024-01-01T00:00:00Q"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t us;
        const char *why = NULL;
        if (tess__ts_parse(bad[i], strlen(bad[i]), &us, &why) != TESS_EPARSE)
            fail_msg("accepted \"%s\"", bad[i]);
        assert_non_null(why);
    }
}

static void test_ts_roundtrip_random(void **state)
{
    (void)state;
    uint64_t x = 42;
    char buf[TESS_TS_FORMAT_MAX];
    for (int i = 0; i < 100000; i++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        /* years 0001..9999 */
        int64_t lo = -62135596800LL * 1000000, hi = 253402300799LL * 1000000;
        int64_t us = lo + (int64_t)((x >> 1) % (uint64_t)(hi - lo));
        if (i % 3 == 0) us -= us % 1000000;
        size_t n = tess__ts_format(us, buf);
        int64_t back;
        assert_int_equal(tess__ts_parse(buf, n, &back, NULL), TESS_OK);
        assert_int_equal(back, us);
    }
    tess__ts_format(0, buf);
    assert_string_equal(buf, "1970-01-01T00:00:00Z");
    tess__ts_format(1500, buf);
    assert_string_equal(buf, "1970-01-01T00:00:00.001500Z");
    /* the int64 limits format without overflow (years outside 0001..9999 are not parseable) */
    assert_true(tess__ts_format(INT64_MIN, buf) > 0);
    assert_true(tess__ts_format(INT64_MAX, buf) > 0);
    tess__value e1 = tess__v_str(NULL, 0), e2 = tess__v_str("", 0);
    assert_true(tess__value_same(&e1, &e2));
    tess__ts_format(-1, buf);
    assert_string_equal(buf, "1969-12-31T23:59:59.999999Z");
}

static void test_durations(void **state)
{
    (void)state;
    int64_t us;
    char buf[32];
    assert_int_equal(tess__duration_parse("90m", 3, &us, NULL), TESS_OK);
    assert_int_equal(us, 5400LL * 1000000);
    tess__duration_format(us, buf);
    assert_string_equal(buf, "90m");
    assert_int_equal(tess__duration_parse("7d", 2, &us, NULL), TESS_OK);
    tess__duration_format(us, buf);
    assert_string_equal(buf, "1w");
    assert_int_equal(tess__duration_parse("0", 1, &us, NULL), TESS_OK);
    assert_int_equal(us, 0);
    const char *bad[] = {"", "7", "d", "7x", "1h30m", "-1h", "7 d", "99999999999999w"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(tess__duration_parse(bad[i], strlen(bad[i]), &us, NULL), TESS_EPARSE);
}

static void test_floor(void **state)
{
    (void)state;
    assert_int_equal(tess__floor_to(7, 5), 5);
    assert_int_equal(tess__floor_to(-1, 5), -5);
    assert_int_equal(tess__floor_to(-5, 5), -5);
    assert_int_equal(tess__floor_to(0, 5), 0);
}

static void test_buf_and_cap(void **state)
{
    (void)state;
    tess__buf b = TESS__BUF_INIT;
    for (int i = 0; i < 1000; i++) assert_int_equal(tess__buf_printf(&b, "%d,", i), TESS_OK);
    assert_int_equal(strncmp(b.p, "0,1,2,", 6), 0);
    tess__buf_release(&b);
    tess__buf c = TESS__BUF_INIT;
    c.max = 4;
    assert_int_equal(tess__buf_puts(&c, "abcd"), TESS_OK);
    assert_int_equal(tess__buf_puts(&c, "e"), TESS_EINVAL);
    assert_string_equal(c.p, "abcd");
    tess__buf_release(&c);
}

static void test_arena(void **state)
{
    (void)state;
    tess__arena a = TESS__ARENA_INIT;
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 10000; i++) {
            char *p = tess__arena_alloc(&a, (size_t)(i % 100) + 1);
            assert_non_null(p);
            assert_int_equal(((uintptr_t)p) % 8, 0);
            memset(p, 1, (size_t)(i % 100) + 1);
        }
        tess__arena_reset(&a);
    }
    char *s = tess__arena_strndup(&a, "hello", 3);
    assert_string_equal(s, "hel");
    tess__arena_release(&a);
}

static void test_err(void **state)
{
    (void)state;
    tess__err e = TESS__ERR_INIT;
    assert_string_equal(tess__err_msg(&e), "");
    assert_int_equal(tess__err_add(&e, TESS_EDEFS, "a.yaml:1:2: %s", "one"), TESS_EDEFS);
    tess__err_add(&e, TESS_EIO, "two");
    assert_int_equal(e.rc, TESS_EDEFS);
    assert_string_equal(tess__err_msg(&e), "a.yaml:1:2: one\ntwo");
    tess__err_set(&e, TESS_EIO, "x");
    assert_string_equal(tess__err_msg(&e), "x");
    tess__err_release(&e);
    assert_string_equal(tess_strerror(TESS_EDEFS), "invalid definitions");
}

static void test_alloc_failure(void **state)
{
    (void)state;
    tess__alloc_fail_after(1);
    void *a = tess__malloc(10);
    void *b = tess__malloc(10);
    tess__alloc_fail_after(-1);
    assert_non_null(a);
    assert_null(b);
    tess__free(a);
    /* a buffer stays intact when growth fails */
    tess__buf buf = TESS__BUF_INIT;
    assert_int_equal(tess__buf_puts(&buf, "keep"), TESS_OK);
    tess__alloc_fail_after(0);
    char big[200];
    memset(big, 'x', sizeof big);
    assert_int_equal(tess__buf_append(&buf, big, sizeof big), TESS_ENOMEM);
    tess__alloc_fail_after(-1);
    assert_string_equal(buf.p, "keep");
    tess__buf_release(&buf);
}

static void test_types_and_hash(void **state)
{
    (void)state;
    tess__type t;
    assert_int_equal(tess__type_parse("float64", 7, &t), TESS_OK);
    assert_int_equal(t, TESS_T_FLOAT64);
    assert_int_equal(tess__type_parse("flaot64", 7, &t), TESS_NOTFOUND);
    assert_int_equal(tess__type_parse("null", 4, &t), TESS_NOTFOUND);
    char h1[33], h2[33];
    tess__hash128_hex("abc", 3, h1);
    tess__hash128_hex("abd", 3, h2);
    assert_int_equal(strlen(h1), 32);
    assert_string_not_equal(h1, h2);
    tess__value a = tess__v_float(0.0), b = tess__v_float(-0.0), n = tess__null(TESS_T_INT64);
    assert_true(tess__value_same(&a, &b));
    assert_false(tess__value_same(&a, &n));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ts_forms),     cmocka_unit_test(test_ts_errors),
        cmocka_unit_test(test_ts_roundtrip_random), cmocka_unit_test(test_durations),
        cmocka_unit_test(test_floor),        cmocka_unit_test(test_buf_and_cap),
        cmocka_unit_test(test_arena),        cmocka_unit_test(test_err),
        cmocka_unit_test(test_alloc_failure), cmocka_unit_test(test_types_and_hash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
