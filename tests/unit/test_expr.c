/* test_expr.c — the expression language: syntax, types, every operator and function with its
 * null behaviour, errors with their columns, limits, and batch evaluation against row
 * evaluation on random data.
 *
 * Most checks go through expect(): it compiles the source against a fixed set of variables,
 * evaluates it one row at a time, and also as a batch of 3 identical rows, and requires all
 * four results to be the same value of the same type. Expressions made only of literals are
 * constant-folded at compile time, so most operators are checked twice: once folded (on
 * literals) and once at run time (on variables). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "core/err.h"
#include "core/time.h"
#include "core/value.h"
#include "expr/expr.h"
#include "tessera.h"

/* ---- fixture ------------------------------------------------------------------------------- */

#define T_2024_03_15_134530 1710510330000000LL /* 2024-03-15T13:45:30Z, a Friday */

static const tess__expr_var VARS[] = {
    {"i", TESS_T_INT64},    {"j", TESS_T_INT64},      {"f", TESS_T_FLOAT64},
    {"g", TESS_T_FLOAT64},  {"s", TESS_T_STRING},     {"u", TESS_T_STRING},
    {"b", TESS_T_BOOL},     {"c", TESS_T_BOOL},       {"t", TESS_T_TIMESTAMP},
    {"ni", TESS_T_INT64},   {"nf", TESS_T_FLOAT64},   {"ns", TESS_T_STRING},
    {"nb", TESS_T_BOOL},    {"nt", TESS_T_TIMESTAMP}, {"amount", TESS_T_FLOAT64},
    {"big", TESS_T_INT64},  {"small", TESS_T_INT64},  {"zero", TESS_T_INT64},
    {"fz", TESS_T_FLOAT64}, {"e", TESS_T_STRING},     {"user_id", TESS_T_INT64},
};
#define NVARS (sizeof(VARS) / sizeof(VARS[0]))

static tess__value VALS[NVARS];
static tess__arena keep = TESS__ARENA_INIT; /* copies of string results, for the whole run */

static void init_vals(void)
{
    VALS[0] = tess__v_int(7);
    VALS[1] = tess__v_int(-3);
    VALS[2] = tess__v_float(2.5);
    VALS[3] = tess__v_float(-0.5);
    VALS[4] = tess__v_str("Hello", 5);
    VALS[5] = tess__v_str("h\xc3\xa9llo w\xc3\xb6rld", 13); /* héllo wörld */
    VALS[6] = tess__v_bool(true);
    VALS[7] = tess__v_bool(false);
    VALS[8] = tess__v_ts(T_2024_03_15_134530);
    VALS[9] = tess__null(TESS_T_INT64);
    VALS[10] = tess__null(TESS_T_FLOAT64);
    VALS[11] = tess__null(TESS_T_STRING);
    VALS[12] = tess__null(TESS_T_BOOL);
    VALS[13] = tess__null(TESS_T_TIMESTAMP);
    VALS[14] = tess__v_float(12.5);
    VALS[15] = tess__v_int(INT64_MAX);
    VALS[16] = tess__v_int(INT64_MIN);
    VALS[17] = tess__v_int(0);
    VALS[18] = tess__v_float(0.0);
    VALS[19] = tess__v_str("", 0);
    VALS[20] = tess__v_int(42);
}

static void describe(const tess__value *v, char *buf, size_t cap)
{
    const char *tn = tess__type_name(v->type);
    if (v->null) {
        snprintf(buf, cap, "null (%s)", tn);
        return;
    }
    switch (v->type) {
    case TESS_T_BOOL:
        snprintf(buf, cap, "%s (bool)", v->u.b ? "true" : "false");
        break;
    case TESS_T_INT64:
        snprintf(buf, cap, "%lld (int64)", (long long)v->u.i);
        break;
    case TESS_T_TIMESTAMP: {
        char ts[TESS_TS_FORMAT_MAX];
        tess__ts_format(v->u.i, ts);
        snprintf(buf, cap, "%s (timestamp %lld)", ts, (long long)v->u.i);
        break;
    }
    case TESS_T_FLOAT64:
        snprintf(buf, cap, "%.17g (float64)", v->u.f);
        break;
    case TESS_T_STRING:
        snprintf(buf, cap, "\"%.*s\" (string)", (int)v->u.s.n, v->u.s.p);
        break;
    default:
        snprintf(buf, cap, "?");
        break;
    }
}

static bool same_typed(const tess__value *a, const tess__value *b)
{
    if (a->type != b->type) return false;
    if (a->type == TESS_T_STRING && !a->null && !b->null) /* empty strings may have p == NULL */
        return a->u.s.n == b->u.s.n && (a->u.s.n == 0 || memcmp(a->u.s.p, b->u.s.p, a->u.s.n) == 0);
    return tess__value_same(a, b);
}

/* Builds 1-row columns of VALS, repeated n times. */
static void make_cols(tess__col *cols, size_t n, tess__arena *a)
{
    for (size_t v = 0; v < NVARS; v++) {
        tess__type t = VARS[v].type;
        size_t es = t == TESS_T_BOOL ? 1 : t == TESS_T_STRING ? sizeof(tess__str) : 8;
        cols[v].type = t;
        cols[v].data = tess__arena_alloc(a, es * n);
        cols[v].nulls = VALS[v].null ? tess__arena_alloc(a, n) : NULL;
        for (size_t r = 0; r < n; r++) {
            char *d = (char *)cols[v].data + r * es;
            if (cols[v].nulls) cols[v].nulls[r] = 1;
            switch (t) {
            case TESS_T_BOOL:
                *(uint8_t *)d = VALS[v].u.b;
                break;
            case TESS_T_FLOAT64:
                memcpy(d, &VALS[v].u.f, 8);
                break;
            case TESS_T_STRING:
                memcpy(d, &VALS[v].u.s, sizeof(tess__str));
                break;
            default:
                memcpy(d, &VALS[v].u.i, 8);
                break;
            }
        }
    }
}

static tess__value col_get(const tess__col *c, size_t i)
{
    if (c->nulls[i]) return tess__null(c->type);
    switch (c->type) {
    case TESS_T_BOOL:
        return tess__v_bool(((uint8_t *)c->data)[i] != 0);
    case TESS_T_INT64:
        return tess__v_int(((int64_t *)c->data)[i]);
    case TESS_T_TIMESTAMP:
        return tess__v_ts(((int64_t *)c->data)[i]);
    case TESS_T_FLOAT64:
        return tess__v_float(((double *)c->data)[i]);
    case TESS_T_STRING: {
        tess__str s = ((tess__str *)c->data)[i];
        return tess__v_str(s.p, s.n);
    }
    default:
        return tess__null(c->type);
    }
}

/* Compiles and evaluates src (row and batch); the result's strings are copied into `keep`. */
static tess__value ev_at(const char *src, int line)
{
    tess__err err = TESS__ERR_INIT;
    int col = -1;
    tess__expr *e = NULL;
    int rc = tess__expr_compile(src, strlen(src), VARS, NVARS, &e, &err, &col);
    if (rc != TESS_OK) {
        print_error("line %d: %s: compile failed (%d) at column %d: %s\n", line, src, rc, col,
                    tess__err_msg(&err));
        tess__err_release(&err);
        fail();
    }
    tess__err_release(&err);
    tess__arena a = TESS__ARENA_INIT;
    tess__value row;
    assert_int_equal(tess__expr_eval(e, VALS, &a, &row), TESS_OK);
    assert_int_equal(row.type, tess__expr_type(e));
    tess__col cols[NVARS];
    make_cols(cols, 3, &a);
    uint8_t onulls[3];
    char odata[3 * 16];
    tess__col out = {TESS_T_NULL, onulls, odata};
    assert_int_equal(tess__expr_eval_batch(e, cols, 3, &a, &out), TESS_OK);
    for (size_t r = 0; r < 3; r++) {
        tess__value bv = col_get(&out, r);
        if (!same_typed(&bv, &row)) {
            char x[128], y[128];
            describe(&row, x, sizeof(x));
            describe(&bv, y, sizeof(y));
            print_error("line %d: %s: row evaluation gives %s, batch row %zu gives %s\n", line, src,
                        x, r, y);
            fail();
        }
    }
    if (row.type == TESS_T_STRING && !row.null) {
        char *p = tess__arena_strndup(&keep, row.u.s.p ? row.u.s.p : "", row.u.s.n);
        assert_non_null(p);
        row.u.s.p = p;
    }
    tess__arena_release(&a);
    tess__expr_free(e);
    return row;
}

static void expect_at(const char *src, tess__value want, int line)
{
    tess__value got = ev_at(src, line);
    if (!same_typed(&got, &want)) {
        char x[128], y[128];
        describe(&got, x, sizeof(x));
        describe(&want, y, sizeof(y));
        print_error("line %d: %s: got %s, want %s\n", line, src, x, y);
        fail();
    }
}

#define expect(src, want) expect_at(src, want, __LINE__)
#define EXPECT_I(src, x) expect(src, tess__v_int(x))
#define EXPECT_F(src, x) expect(src, tess__v_float(x))
#define EXPECT_B(src, x) expect(src, tess__v_bool(x))
#define EXPECT_T(src, x) expect(src, tess__v_ts(x))
#define EXPECT_S(src, x) expect(src, tess__v_str(x, strlen(x)))
#define EXPECT_NULL(src, type) expect(src, tess__null(type))

static void expect_err_at(const char *src, int want_rc, int want_col, const char *want_msg,
                          int line)
{
    tess__err err = TESS__ERR_INIT;
    int col = -1;
    tess__expr *e = NULL;
    int rc = tess__expr_compile(src, strlen(src), VARS, NVARS, &e, &err, &col);
    const char *msg = tess__err_msg(&err);
    if (rc != want_rc || col != want_col || !strstr(msg, want_msg)) {
        print_error("line %d: %s: got rc %d column %d \"%s\", want rc %d column %d \"%s\"\n", line,
                    src, rc, col, msg, want_rc, want_col, want_msg);
        tess__err_release(&err);
        tess__expr_free(e);
        fail();
    }
    assert_null(e);
    tess__err_release(&err);
}

#define EXPECT_PARSE_ERR(src, col, msg) expect_err_at(src, TESS_EPARSE, col, msg, __LINE__)
#define EXPECT_TYPE_ERR(src, col, msg) expect_err_at(src, TESS_ETYPE, col, msg, __LINE__)

static tess__type type_of(const char *src)
{
    tess__expr *e = NULL;
    tess__err err = TESS__ERR_INIT;
    int col;
    int rc = tess__expr_compile(src, strlen(src), VARS, NVARS, &e, &err, &col);
    if (rc) print_error("%s: %s\n", src, tess__err_msg(&err));
    assert_int_equal(rc, TESS_OK);
    tess__type t = tess__expr_type(e);
    tess__expr_free(e);
    tess__err_release(&err);
    return t;
}

static int64_t ts(const char *s)
{
    int64_t us = 0;
    assert_int_equal(tess__ts_parse(s, strlen(s), &us, NULL), TESS_OK);
    return us;
}

/* ---- literals and syntax ------------------------------------------------------------------- */

static void test_literals(void **state)
{
    (void)state;
    EXPECT_I("42", 42);
    EXPECT_I("007", 7);
    EXPECT_I("9223372036854775807", INT64_MAX);
    EXPECT_I("-9223372036854775808", INT64_MIN);
    EXPECT_F("1.5", 1.5);
    EXPECT_F("1e3", 1000.0);
    EXPECT_F("1E-2", 0.01);
    EXPECT_F(".5", 0.5);
    EXPECT_F("2.", 2.0);
    EXPECT_F("1.5e+2", 150.0);
    EXPECT_S("'abc'", "abc");
    EXPECT_S("\"abc\"", "abc");
    EXPECT_S("''", "");
    EXPECT_S("'it\\'s'", "it's");
    EXPECT_S("\"say \\\"hi\\\"\"", "say \"hi\"");
    EXPECT_S("'a\\\\b'", "a\\b");
    EXPECT_S("'\\n\\t'", "\n\t");
    EXPECT_S("'\"'", "\"");
    EXPECT_S("\"'\"", "'");
    EXPECT_S("'h\xc3\xa9'", "h\xc3\xa9");
    EXPECT_B("true", true);
    EXPECT_B("FALSE", false);
    EXPECT_B("True", true);
    EXPECT_NULL("cast(NULL, int64)", TESS_T_INT64);
    EXPECT_NULL("cast(Null, string)", TESS_T_STRING);
    EXPECT_I(" \t\n 1 \r\n", 1);
}

static void test_names(void **state)
{
    (void)state;
    EXPECT_I("i", 7);
    EXPECT_F("amount", 12.5);
    EXPECT_I("user_id", 42);
    EXPECT_S("s", "Hello");
    EXPECT_NULL("ni", TESS_T_INT64);
    EXPECT_NULL("ns", TESS_T_STRING);
    EXPECT_T("t", T_2024_03_15_134530);
    /* names are case-sensitive, functions and keywords are not */
    EXPECT_TYPE_ERR("I", 1, "unknown name \"I\"; did you mean \"i\"?");
    EXPECT_I("LENGTH(s)", 5);
    EXPECT_I("Abs(j)", 3);
}

static void test_precedence(void **state)
{
    (void)state;
    EXPECT_I("1 + 2 * 3", 7);
    EXPECT_I("(1 + 2) * 3", 9);
    EXPECT_I("2 * 3 + 1", 7);
    EXPECT_I("10 - 4 - 3", 3); /* left-associative */
    EXPECT_I("10 - (4 - 3)", 9);
    EXPECT_F("100 / 10 / 2", 5.0);
    EXPECT_I("2 * 7 % 4", 2); /* (2 * 7) % 4 */
    EXPECT_I("2 * (7 % 4)", 6);
    EXPECT_I("- 1 + 2", 1); /* unary minus binds tighter than + */
    EXPECT_I("-2 * -3", 6);
    EXPECT_I("1 - -1", 2);
    EXPECT_I("- - 5", 5);
    EXPECT_I("-i % 4", -3);
    EXPECT_B("1 + 2 = 3", true); /* arithmetic before comparison */
    EXPECT_B("1 + 2 * 3 > 6 and 1 < 2", true);
    EXPECT_B("not 1 = 2", true);           /* not (1 = 2) */
    EXPECT_B("not true and false", false); /* (not true) and false */
    EXPECT_B("not (true and false)", true);
    EXPECT_B("true or false and false", true); /* true or (false and false) */
    EXPECT_B("(true or false) and false", false);
    EXPECT_B("false and false or true", true); /* (false and false) or true */
    EXPECT_B("not not true", true);
    EXPECT_B("b and not c", true);
    EXPECT_B("i * 2 > 10 or s = 'x'", true);
    EXPECT_B("i - 7 = 0 and j < 0", true);
    EXPECT_B("amount * 100 > 5", true);
    EXPECT_B("amount * 100 > 5000", false);
}

static void test_precedence_typed(void **state)
{
    (void)state;
    assert_int_equal(type_of("amount * 100 > 5"), TESS_T_BOOL);
    assert_int_equal(type_of("1 + 2 * 3"), TESS_T_INT64);
    assert_int_equal(type_of("1 + 2.0"), TESS_T_FLOAT64);
    assert_int_equal(type_of("4 / 2"), TESS_T_FLOAT64);
    assert_int_equal(type_of("t - t"), TESS_T_INT64);
    assert_int_equal(type_of("t + 1"), TESS_T_TIMESTAMP);
    assert_int_equal(type_of("1 + t"), TESS_T_TIMESTAMP);
    assert_int_equal(type_of("t - 1"), TESS_T_TIMESTAMP);
    assert_int_equal(type_of("if(b, 1, null)"), TESS_T_INT64);
    assert_int_equal(type_of("if(b, 1, 2.5)"), TESS_T_FLOAT64);
    assert_int_equal(type_of("coalesce(null, s)"), TESS_T_STRING);
    assert_int_equal(type_of("null + 1"), TESS_T_INT64);
    assert_int_equal(type_of("null / null"), TESS_T_FLOAT64);
    assert_int_equal(type_of("null = null"), TESS_T_BOOL);
    assert_int_equal(type_of("t + null"), TESS_T_TIMESTAMP);
    assert_int_equal(type_of("t - null"), TESS_T_TIMESTAMP);
    assert_int_equal(type_of("null - t"), TESS_T_INT64);
    assert_int_equal(type_of("null + t"), TESS_T_TIMESTAMP);
    assert_int_equal(type_of("abs(null) + 1.5"), TESS_T_FLOAT64);
    assert_int_equal(type_of("is_null(null)"), TESS_T_BOOL);
    assert_int_equal(type_of("floor(i)"), TESS_T_INT64);
    assert_int_equal(type_of("floor(f)"), TESS_T_FLOAT64);
    assert_int_equal(type_of("round(i, 2)"), TESS_T_INT64);
    assert_int_equal(type_of("min(i, f)"), TESS_T_FLOAT64);
    assert_int_equal(type_of("min(i, j)"), TESS_T_INT64);
    assert_int_equal(type_of("length(s)"), TESS_T_INT64);
    assert_int_equal(type_of("log(i)"), TESS_T_FLOAT64);
}

/* ---- operators ----------------------------------------------------------------------------- */

static void test_arithmetic(void **state)
{
    (void)state;
    EXPECT_I("i + j", 4);
    EXPECT_I("i - j", 10);
    EXPECT_I("i * j", -21);
    EXPECT_F("i / 2", 3.5);
    EXPECT_F("i / j", 7.0 / -3.0);
    EXPECT_F("f + i", 9.5);
    EXPECT_F("i + f", 9.5);
    EXPECT_F("f - g", 3.0);
    EXPECT_F("f * g", -1.25);
    EXPECT_F("f / g", -5.0);
    EXPECT_F("f * 2", 5.0);
    EXPECT_F("-f", -2.5);
    EXPECT_I("-i", -7);
    EXPECT_F("1 + 0.5", 1.5);
    EXPECT_F("0.1 + 0.2", 0.1 + 0.2);
    EXPECT_F("amount * 100", 1250.0);
    /* null in, null out */
    EXPECT_NULL("i + ni", TESS_T_INT64);
    EXPECT_NULL("ni - i", TESS_T_INT64);
    EXPECT_NULL("ni * 2", TESS_T_INT64);
    EXPECT_NULL("i / ni", TESS_T_FLOAT64);
    EXPECT_NULL("ni % 2", TESS_T_INT64);
    EXPECT_NULL("-ni", TESS_T_INT64);
    EXPECT_NULL("-nf", TESS_T_FLOAT64);
    EXPECT_NULL("f + nf", TESS_T_FLOAT64);
    EXPECT_NULL("nf * i", TESS_T_FLOAT64);
    EXPECT_NULL("i + null", TESS_T_INT64);
    EXPECT_NULL("null * f", TESS_T_FLOAT64);
    EXPECT_NULL("1 + null", TESS_T_INT64);
    EXPECT_NULL("null + null + 1", TESS_T_INT64);
    /* float overflow is infinity, not null */
    EXPECT_F("1e308 * 10", INFINITY);
    EXPECT_F("-1e308 * 10", -INFINITY);
}

static void test_division_and_modulo(void **state)
{
    (void)state;
    EXPECT_NULL("i / 0", TESS_T_FLOAT64);
    EXPECT_NULL("i / zero", TESS_T_FLOAT64);
    EXPECT_NULL("f / 0.0", TESS_T_FLOAT64);
    EXPECT_NULL("f / fz", TESS_T_FLOAT64);
    EXPECT_NULL("f / -0.0", TESS_T_FLOAT64);
    EXPECT_NULL("0 / 0", TESS_T_FLOAT64);
    EXPECT_F("0 / 5", 0.0);
    EXPECT_F("1 / 4", 0.25);
    EXPECT_NULL("i % 0", TESS_T_INT64);
    EXPECT_NULL("i % zero", TESS_T_INT64);
    EXPECT_NULL("f % 0", TESS_T_FLOAT64);
    EXPECT_NULL("f % fz", TESS_T_FLOAT64);
    EXPECT_I("7 % 3", 1);
    EXPECT_I("7 % -3", 1); /* sign of the dividend, as in C */
    EXPECT_I("-7 % 3", -1);
    EXPECT_I("i % j", 1);
    EXPECT_I("small % -1", 0);
    EXPECT_I("-9223372036854775808 % -1", 0);
    EXPECT_F("7.5 % 2", 1.5);
    EXPECT_F("-7.5 % 2", -1.5);
    EXPECT_F("f % 1", 0.5);
    EXPECT_F("i % 2.5", 2.0);
}

static void test_overflow(void **state)
{
    (void)state;
    EXPECT_NULL("big + 1", TESS_T_INT64);
    EXPECT_NULL("9223372036854775807 + 1", TESS_T_INT64);
    EXPECT_NULL("small - 1", TESS_T_INT64);
    EXPECT_NULL("big * 2", TESS_T_INT64);
    EXPECT_NULL("small * -1", TESS_T_INT64);
    EXPECT_NULL("-small", TESS_T_INT64);
    EXPECT_NULL("- -9223372036854775808", TESS_T_INT64);
    EXPECT_NULL("abs(small)", TESS_T_INT64);
    EXPECT_NULL("t + big", TESS_T_TIMESTAMP);
    EXPECT_NULL("cast(small, timestamp) - t", TESS_T_INT64);
    EXPECT_I("big + 0", INT64_MAX);
    EXPECT_I("big - 1 + 1", INT64_MAX);
    EXPECT_I("small + big", -1);
    EXPECT_I("-big", -INT64_MAX);
    EXPECT_F("big + 1.0", 9223372036854775808.0); /* float arithmetic does not overflow */
}

static void test_comparisons(void **state)
{
    (void)state;
    const char *ops[] = {"=", "==", "!=", "<>", "<", "<=", ">", ">="};
    /* for a < b, a = b, a > b: the expected result of each operator */
    const bool lt[] = {false, false, true, true, true, true, false, false};
    const bool eq[] = {true, true, false, false, false, true, false, true};
    const bool gt[] = {false, false, true, true, false, false, true, true};
    const char *pairs[][3] = {
        /* less, equal, greater operands */
        {"1", "2", "int"},       {"f", "3", "float"},         {"i", "7.5", "mixed"},
        {"'abc'", "'abd'", "s"}, {"'ab'", "'abc'", "prefix"}, {"c", "b", "bool"},
        {"t", "t + 1", "ts"},    {"'B'", "'a'", "bytes"},
    };
    char src[128];
    for (size_t p = 0; p < sizeof(pairs) / sizeof(pairs[0]); p++) {
        for (size_t o = 0; o < 8; o++) {
            snprintf(src, sizeof(src), "%s %s %s", pairs[p][0], ops[o], pairs[p][1]);
            expect_at(src, tess__v_bool(lt[o]), __LINE__);
            snprintf(src, sizeof(src), "%s %s %s", pairs[p][1], ops[o], pairs[p][0]);
            expect_at(src, tess__v_bool(gt[o]), __LINE__);
            snprintf(src, sizeof(src), "%s %s %s", pairs[p][0], ops[o], pairs[p][0]);
            expect_at(src, tess__v_bool(eq[o]), __LINE__);
            snprintf(src, sizeof(src), "%s %s null", pairs[p][0], ops[o]);
            expect_at(src, tess__null(TESS_T_BOOL), __LINE__);
            snprintf(src, sizeof(src), "null %s %s", ops[o], pairs[p][1]);
            expect_at(src, tess__null(TESS_T_BOOL), __LINE__);
        }
    }
    EXPECT_B("i = 7.0", true);
    EXPECT_B("e = ''", true);
    EXPECT_B("e < 'a'", true);
    EXPECT_NULL("ni = ni", TESS_T_BOOL);
    EXPECT_NULL("ns < s", TESS_T_BOOL);
    EXPECT_NULL("nt >= t", TESS_T_BOOL);
    EXPECT_NULL("nb = b", TESS_T_BOOL);
    EXPECT_NULL("nf <> 1", TESS_T_BOOL);
    EXPECT_NULL("null = null", TESS_T_BOOL);
    /* NaN: equal to itself, greater than everything */
    EXPECT_B("cast('nan', float64) = cast('nan', float64)", true);
    EXPECT_B("cast('nan', float64) > 1e308", true);
    EXPECT_B("cast('inf', float64) < cast('nan', float64)", true);
    EXPECT_B("f != cast('nan', float64)", true);
    EXPECT_B("-0.0 = 0.0", true);
}

static void test_logic_truth_tables(void **state)
{
    (void)state;
    const char *v[3] = {"false", "true", "null"};
    const char *var[3] = {"c", "b", "nb"};
    /* index 0 false, 1 true, 2 null */
    const int and_t[3][3] = {{0, 0, 0}, {0, 1, 2}, {0, 2, 2}};
    const int or_t[3][3] = {{0, 1, 2}, {1, 1, 1}, {2, 1, 2}};
    const int not_t[3] = {1, 0, 2};
    char src[64];
    for (int x = 0; x < 3; x++) {
        for (int y = 0; y < 3; y++) {
            for (int form = 0; form < 2; form++) {
                const char *const *n = form ? var : v;
                int want = and_t[x][y];
                snprintf(src, sizeof(src), "%s and %s", n[x], n[y]);
                expect_at(src, want == 2 ? tess__null(TESS_T_BOOL) : tess__v_bool(want), __LINE__);
                want = or_t[x][y];
                snprintf(src, sizeof(src), "%s or %s", n[x], n[y]);
                expect_at(src, want == 2 ? tess__null(TESS_T_BOOL) : tess__v_bool(want), __LINE__);
            }
        }
        for (int form = 0; form < 2; form++) {
            snprintf(src, sizeof(src), "not %s", form ? var[x] : v[x]);
            int want = not_t[x];
            expect_at(src, want == 2 ? tess__null(TESS_T_BOOL) : tess__v_bool(want), __LINE__);
        }
    }
}

/* The same truth tables in one batch of 9 rows: every combination in its own row. */
static void test_logic_batch(void **state)
{
    (void)state;
    tess__expr_var vars[] = {{"x", TESS_T_BOOL}, {"y", TESS_T_BOOL}};
    uint8_t xd[9], yd[9], xn[9], yn[9];
    for (int r = 0; r < 9; r++) {
        int x = r / 3, y = r % 3;
        xd[r] = x == 1;
        xn[r] = x == 2;
        yd[r] = y == 1;
        yn[r] = y == 2;
        if (x == 2) xd[r] = 1; /* garbage under a null must not matter */
    }
    tess__col cols[2] = {{TESS_T_BOOL, xn, xd}, {TESS_T_BOOL, yn, yd}};
    const char *srcs[] = {"x and y", "x or y"};
    const int want[2][9] = {{0, 0, 0, 0, 1, 2, 0, 2, 2}, {0, 1, 2, 1, 1, 1, 2, 1, 2}};
    for (int k = 0; k < 2; k++) {
        tess__expr *e = NULL;
        assert_int_equal(tess__expr_compile(srcs[k], strlen(srcs[k]), vars, 2, &e, NULL, NULL),
                         TESS_OK);
        tess__arena a = TESS__ARENA_INIT;
        uint8_t od[9], on[9];
        tess__col out = {TESS_T_BOOL, on, od};
        assert_int_equal(tess__expr_eval_batch(e, cols, 9, &a, &out), TESS_OK);
        for (int r = 0; r < 9; r++) {
            if (want[k][r] == 2) {
                assert_int_equal(on[r], 1);
                assert_int_equal(od[r], 0); /* null rows are zeroed */
            } else {
                assert_int_equal(on[r], 0);
                assert_int_equal(od[r], want[k][r]);
            }
        }
        tess__arena_release(&a);
        tess__expr_free(e);
    }
}

/* ---- functions ----------------------------------------------------------------------------- */

static void test_if_coalesce_is_null(void **state)
{
    (void)state;
    EXPECT_I("if(b, 1, 2)", 1);
    EXPECT_I("if(c, 1, 2)", 2);
    EXPECT_I("if(nb, 1, 2)", 2); /* a null condition picks the else branch */
    EXPECT_I("if(null, 1, 2)", 2);
    EXPECT_F("if(b, 1, 2.5)", 1.0);
    EXPECT_F("if(c, 1, 2.5)", 2.5);
    EXPECT_NULL("if(b, null, 2)", TESS_T_INT64);
    EXPECT_I("if(c, null, 2)", 2);
    EXPECT_NULL("if(b, ni, i)", TESS_T_INT64);
    EXPECT_S("if(i > 5, 'big', 'small')", "big");
    EXPECT_T("if(b, t, nt)", T_2024_03_15_134530);
    EXPECT_B("if(b, c, b)", false);
    EXPECT_NULL("if(b, i / 0, 1.0)", TESS_T_FLOAT64);
    EXPECT_F("if(c, i / 0, 1.0)", 1.0);
    EXPECT_I("coalesce(ni, i)", 7);
    EXPECT_I("coalesce(ni, null, j, i)", -3);
    EXPECT_I("coalesce(i)", 7);
    EXPECT_NULL("coalesce(ni, ni)", TESS_T_INT64);
    EXPECT_F("coalesce(nf, i)", 7.0);
    EXPECT_F("coalesce(ni, f)", 2.5);
    EXPECT_S("coalesce(null, ns, s)", "Hello");
    EXPECT_S("coalesce(ns, 'default')", "default");
    EXPECT_T("coalesce(nt, t)", T_2024_03_15_134530);
    EXPECT_B("coalesce(nb, false)", false);
    EXPECT_B("is_null(ni)", true);
    EXPECT_B("is_null(i)", false);
    EXPECT_B("is_null(ns)", true);
    EXPECT_B("is_null(e)", false);
    EXPECT_B("is_null(null)", true);
    EXPECT_B("is_null(i / 0)", true);
    EXPECT_B("is_null(nb and false)", false);
    EXPECT_B("IS_NULL(nt)", true);
}

static void test_math(void **state)
{
    (void)state;
    EXPECT_I("abs(j)", 3);
    EXPECT_I("abs(i)", 7);
    EXPECT_F("abs(g)", 0.5);
    EXPECT_F("abs(-0.0)", 0.0);
    EXPECT_NULL("abs(ni)", TESS_T_INT64);
    EXPECT_NULL("abs(nf)", TESS_T_FLOAT64);
    EXPECT_F("log(1)", 0.0);
    EXPECT_F("log(f)", log(2.5));
    EXPECT_NULL("log(0)", TESS_T_FLOAT64);
    EXPECT_NULL("log(-1)", TESS_T_FLOAT64);
    EXPECT_NULL("log(zero)", TESS_T_FLOAT64);
    EXPECT_NULL("log(g)", TESS_T_FLOAT64);
    EXPECT_NULL("log(nf)", TESS_T_FLOAT64);
    EXPECT_F("exp(0)", 1.0);
    EXPECT_F("exp(f)", exp(2.5));
    EXPECT_F("exp(1000)", INFINITY);
    EXPECT_NULL("exp(ni)", TESS_T_FLOAT64);
    EXPECT_F("sqrt(16)", 4.0);
    EXPECT_F("sqrt(0)", 0.0);
    EXPECT_F("sqrt(f)", sqrt(2.5));
    EXPECT_NULL("sqrt(-1)", TESS_T_FLOAT64);
    EXPECT_NULL("sqrt(g)", TESS_T_FLOAT64);
    EXPECT_NULL("sqrt(ni)", TESS_T_FLOAT64);
    EXPECT_F("pow(2, 10)", 1024.0);
    EXPECT_F("pow(f, 2)", 6.25);
    EXPECT_F("pow(4, 0.5)", 2.0);
    EXPECT_F("pow(-8, 3)", -512.0);
    EXPECT_NULL("pow(-8, 1.0 / 3)", TESS_T_FLOAT64); /* not a real number */
    EXPECT_NULL("pow(ni, 2)", TESS_T_FLOAT64);
    EXPECT_NULL("pow(2, nf)", TESS_T_FLOAT64);
    EXPECT_F("floor(f)", 2.0);
    EXPECT_F("floor(g)", -1.0);
    EXPECT_F("ceil(f)", 3.0);
    EXPECT_F("ceil(g)", -0.0);
    EXPECT_I("floor(i)", 7);
    EXPECT_I("ceil(j)", -3);
    EXPECT_NULL("floor(nf)", TESS_T_FLOAT64);
    EXPECT_NULL("ceil(ni)", TESS_T_INT64);
}

static void test_round(void **state)
{
    (void)state;
    EXPECT_F("round(f)", 3.0); /* half away from zero */
    EXPECT_F("round(-2.5)", -3.0);
    EXPECT_F("round(g)", -1.0);
    EXPECT_F("round(0.49)", 0.0);
    EXPECT_I("round(i)", 7);
    EXPECT_F("round(3.14159, 2)", 3.14);
    EXPECT_F("round(3.14159, 0)", 3.0);
    EXPECT_F("round(1234.5678, -2)", 1200.0);
    EXPECT_F("round(1250.0, -2)", 1300.0);
    EXPECT_F("round(-1250.0, -2)", -1300.0);
    EXPECT_F("round(f, 1)", 2.5);
    EXPECT_F("round(1.5, 400)", 1.5);
    EXPECT_F("round(1e300, 100)", 1e300);
    EXPECT_F("round(123.0, -400)", 0.0);
    EXPECT_I("round(i, 2)", 7);
    EXPECT_I("round(1234, -2)", 1200);
    EXPECT_I("round(1250, -2)", 1300);
    EXPECT_I("round(-1250, -2)", -1300);
    EXPECT_I("round(-1249, -2)", -1200);
    EXPECT_I("round(big, -30)", 0);
    EXPECT_NULL("round(big, -1)", TESS_T_INT64); /* rounds up past the int64 range */
    EXPECT_NULL("round(big, -19)", TESS_T_INT64);
    EXPECT_I("round(123, -19)", 0);
    EXPECT_NULL("round(nf)", TESS_T_FLOAT64);
    EXPECT_NULL("round(f, ni)", TESS_T_FLOAT64);
    EXPECT_NULL("round(ni, 2)", TESS_T_INT64);
}

static void test_min_max(void **state)
{
    (void)state;
    EXPECT_I("min(i, j)", -3);
    EXPECT_I("max(i, j)", 7);
    EXPECT_I("min(3, 1, 2)", 1);
    EXPECT_I("max(3, 1, 2)", 3);
    EXPECT_F("min(i, f)", 2.5);
    EXPECT_F("max(i, f)", 7.0);
    EXPECT_I("min(ni, i)", 7); /* nulls are skipped */
    EXPECT_I("max(i, ni, j)", 7);
    EXPECT_I("min(ni, null, j)", -3);
    EXPECT_NULL("min(ni, ni)", TESS_T_INT64);
    EXPECT_NULL("max(ni, null)", TESS_T_INT64);
    EXPECT_F("max(nf, g)", -0.5);
    EXPECT_S("min(s, u)", "Hello");
    EXPECT_S("max(s, u, ns)", "h\xc3\xa9llo w\xc3\xb6rld");
    EXPECT_S("min('b', 'a', 'c')", "a");
    EXPECT_S("max('', e)", "");
    EXPECT_T("min(t, t + 1)", T_2024_03_15_134530);
    EXPECT_T("max(t, t + 1, nt)", T_2024_03_15_134530 + 1);
    EXPECT_F("max(1.0, cast('nan', float64))", NAN); /* NaN is the greatest */
    EXPECT_F("min(1.0, cast('nan', float64))", 1.0);
}

static void test_strings(void **state)
{
    (void)state;
    EXPECT_S("lower(s)", "hello");
    EXPECT_S("upper(s)", "HELLO");
    EXPECT_S("upper(u)", "H\xc3\xa9LLO W\xc3\xb6RLD"); /* ASCII only */
    EXPECT_S("lower('ÀBC')", "Àbc");
    EXPECT_S("lower(e)", "");
    EXPECT_S("upper('a1_z')", "A1_Z");
    EXPECT_NULL("lower(ns)", TESS_T_STRING);
    EXPECT_NULL("upper(null)", TESS_T_STRING);
    EXPECT_I("length(s)", 5);
    EXPECT_I("length(u)", 11); /* code points, not bytes */
    EXPECT_I("length(e)", 0);
    EXPECT_I("length('日本語')", 3);
    EXPECT_I("length('😀')", 1);
    EXPECT_NULL("length(ns)", TESS_T_INT64);
    EXPECT_S("concat(s, ' ', 'world')", "Hello world");
    EXPECT_S("concat(s)", "Hello");
    EXPECT_S("concat(e, e)", "");
    EXPECT_S("concat('a', e, 'b')", "ab");
    EXPECT_NULL("concat(s, ns)", TESS_T_STRING);
    EXPECT_NULL("concat(s, null, 'x')", TESS_T_STRING);
    EXPECT_S("concat(u, '!')", "h\xc3\xa9llo w\xc3\xb6rld!");
}

static void test_substr(void **state)
{
    (void)state;
    EXPECT_S("substr(s, 1)", "Hello");
    EXPECT_S("substr(s, 2)", "ello");
    EXPECT_S("substr(s, 2, 3)", "ell");
    EXPECT_S("substr(s, 1, 0)", "");
    EXPECT_S("substr(s, 5, 10)", "o");
    EXPECT_S("substr(s, 6)", ""); /* beyond the end */
    EXPECT_S("substr(s, 100, 2)", "");
    EXPECT_S("substr(s, 0, 2)", "H");  /* positions 0 and 1; only 1 exists */
    EXPECT_S("substr(s, -1, 3)", "H"); /* positions -1, 0, 1 */
    EXPECT_S("substr(s, -5)", "Hello");
    EXPECT_S("substr(s, -10, 2)", "");
    EXPECT_S("substr(u, 2, 1)", "\xc3\xa9"); /* code points */
    EXPECT_S("substr(u, 7)", "w\xc3\xb6rld");
    EXPECT_S("substr(u, 8, 2)", "\xc3\xb6r");
    EXPECT_S("substr(s, 2, big)", "ello"); /* start + len overflows: to the end */
    EXPECT_S("substr(s, small, big)", "");
    EXPECT_S("substr(e, 1, 1)", "");
    EXPECT_NULL("substr(s, 1, -1)", TESS_T_STRING); /* negative length */
    EXPECT_NULL("substr(ns, 1)", TESS_T_STRING);
    EXPECT_NULL("substr(s, ni)", TESS_T_STRING);
    EXPECT_NULL("substr(s, 1, ni)", TESS_T_STRING);
    /* invalid UTF-8 still has code points: one starts at byte 0 and at every non-continuation
     * byte */
    EXPECT_I("length('\x80\x80"
             "ab')",
             3);
    EXPECT_I("length('a\xc3')", 2);
    EXPECT_S("substr('\x80\x80"
             "ab', 2)",
             "ab");
    EXPECT_S("substr('a\xc3\xa9"
             "b', 2, 1)",
             "\xc3\xa9");
}

static void test_time(void **state)
{
    (void)state;
    EXPECT_I("t - t", 0);
    EXPECT_T("t + 3600000000", T_2024_03_15_134530 + 3600000000LL);
    EXPECT_T("3600000000 + t", T_2024_03_15_134530 + 3600000000LL);
    EXPECT_T("t - 1000000", T_2024_03_15_134530 - 1000000);
    EXPECT_I("(t + 60000000) - t", 60000000);
    EXPECT_I("cast('2024-03-16', timestamp) - cast('2024-03-15', timestamp)", 86400000000LL);
    EXPECT_NULL("t - nt", TESS_T_INT64);
    EXPECT_NULL("nt + 1", TESS_T_TIMESTAMP);
    EXPECT_NULL("t + ni", TESS_T_TIMESTAMP);
    EXPECT_I("hour(t)", 13);
    EXPECT_I("hour(t + 11 * 3600000000)", 0);
    EXPECT_I("hour(cast('2024-03-15T23:59:59.999999Z', timestamp))", 23);
    EXPECT_I("hour(cast('2024-03-15T10:00:00+02:00', timestamp))", 8);
    EXPECT_I("hour(cast('1969-12-31T23:30:00Z', timestamp))", 23);
    EXPECT_I("hour(cast(0, timestamp))", 0);
    EXPECT_I("hour(cast(-1, timestamp))", 23);
    EXPECT_NULL("hour(nt)", TESS_T_INT64);
    EXPECT_I("day_of_week(t)", 5); /* Friday */
    EXPECT_T("cast('2024-03-17', timestamp)", ts("2024-03-17"));
    EXPECT_I("day_of_week(cast('2024-03-17', timestamp))", 7); /* Sunday */
    EXPECT_I("day_of_week(cast('2024-03-18', timestamp))", 1); /* Monday */
    EXPECT_I("day_of_week(cast(0, timestamp))", 4);            /* 1970-01-01, a Thursday */
    EXPECT_I("day_of_week(cast('1969-12-31T23:59:59Z', timestamp))", 3);
    EXPECT_I("day_of_week(cast('1900-01-01', timestamp))", 1);
    EXPECT_I("DAY_OF_WEEK(t + 86400000000)", 6);
    EXPECT_NULL("day_of_week(nt)", TESS_T_INT64);
}

static void test_casts(void **state)
{
    (void)state;
    /* bool -> */
    EXPECT_I("cast(b, int64)", 1);
    EXPECT_I("cast(c, int64)", 0);
    EXPECT_F("cast(b, float64)", 1.0);
    EXPECT_S("cast(b, string)", "true");
    EXPECT_S("cast(c, string)", "false");
    EXPECT_B("cast(b, bool)", true);
    EXPECT_NULL("cast(nb, int64)", TESS_T_INT64);
    EXPECT_NULL("cast(nb, string)", TESS_T_STRING);
    /* int64 -> */
    EXPECT_B("cast(i, bool)", true);
    EXPECT_B("cast(zero, bool)", false);
    EXPECT_B("cast(j, bool)", true);
    EXPECT_F("cast(i, float64)", 7.0);
    EXPECT_S("cast(i, string)", "7");
    EXPECT_S("cast(j, string)", "-3");
    EXPECT_S("cast(small, string)", "-9223372036854775808");
    EXPECT_S("cast(big, string)", "9223372036854775807");
    EXPECT_S("cast(zero, string)", "0");
    EXPECT_T("cast(i, timestamp)", 7);
    EXPECT_I("cast(i, int64)", 7);
    EXPECT_NULL("cast(ni, float64)", TESS_T_FLOAT64);
    EXPECT_NULL("cast(ni, timestamp)", TESS_T_TIMESTAMP);
    /* float64 -> */
    EXPECT_I("cast(f, int64)", 2);
    EXPECT_I("cast(g, int64)", 0); /* toward zero */
    EXPECT_I("cast(-2.9, int64)", -2);
    EXPECT_I("cast(amount * 100, int64)", 1250);
    EXPECT_I("cast(-9223372036854775808.0, int64)", INT64_MIN);
    EXPECT_NULL("cast(9223372036854775808.0, int64)", TESS_T_INT64);
    EXPECT_NULL("cast(1e300, int64)", TESS_T_INT64);
    EXPECT_NULL("cast(cast('nan', float64), int64)", TESS_T_INT64);
    EXPECT_NULL("cast(cast('-inf', float64), int64)", TESS_T_INT64);
    EXPECT_S("cast(f, string)", "2.5");
    EXPECT_S("cast(0.1, string)", "0.1");
    EXPECT_S("cast(0.1 + 0.2, string)", "0.30000000000000004");
    EXPECT_S("cast(1.0 / 3, string)", "0.3333333333333333");
    EXPECT_S("cast(100.0, string)", "100");
    EXPECT_S("cast(1e21, string)", "1e+21");
    EXPECT_S("cast(-0.0, string)", "-0");
    EXPECT_S("cast(cast('nan', float64), string)", "nan");
    EXPECT_S("cast(exp(1000), string)", "inf");
    EXPECT_S("cast(-exp(1000), string)", "-inf");
    EXPECT_S("cast(5e-324, string)", "4.94065645841247e-324");
    EXPECT_F("cast(f, float64)", 2.5);
    EXPECT_NULL("cast(nf, string)", TESS_T_STRING);
    /* string -> */
    EXPECT_B("cast('true', bool)", true);
    EXPECT_B("cast('TRUE', bool)", true);
    EXPECT_B("cast('False', bool)", false);
    EXPECT_B("cast('1', bool)", true);
    EXPECT_B("cast(' 0 ', bool)", false);
    EXPECT_NULL("cast('yes', bool)", TESS_T_BOOL);
    EXPECT_NULL("cast('', bool)", TESS_T_BOOL);
    EXPECT_NULL("cast('2', bool)", TESS_T_BOOL);
    EXPECT_I("cast('42', int64)", 42);
    EXPECT_I("cast(' -42 ', int64)", -42);
    EXPECT_I("cast('+5', int64)", 5);
    EXPECT_I("cast('9223372036854775807', int64)", INT64_MAX);
    EXPECT_I("cast('-9223372036854775808', int64)", INT64_MIN);
    EXPECT_NULL("cast('9223372036854775808', int64)", TESS_T_INT64);
    EXPECT_NULL("cast('1.5', int64)", TESS_T_INT64);
    EXPECT_NULL("cast('12abc', int64)", TESS_T_INT64);
    EXPECT_NULL("cast('', int64)", TESS_T_INT64);
    EXPECT_NULL("cast('-', int64)", TESS_T_INT64);
    EXPECT_NULL("cast(s, int64)", TESS_T_INT64);
    EXPECT_F("cast('1.5', float64)", 1.5);
    EXPECT_F("cast('-.5e1', float64)", -5.0);
    EXPECT_F("cast(' 3 ', float64)", 3.0);
    EXPECT_F("cast('1e-400', float64)", 0.0);
    EXPECT_F("cast('Infinity', float64)", INFINITY);
    EXPECT_F("cast('-inf', float64)", -INFINITY);
    EXPECT_NULL("cast('1e400', float64)", TESS_T_FLOAT64);
    EXPECT_NULL("cast('0x10', float64)", TESS_T_FLOAT64);
    EXPECT_NULL("cast('1,5', float64)", TESS_T_FLOAT64);
    EXPECT_NULL("cast('.', float64)", TESS_T_FLOAT64);
    EXPECT_NULL("cast('1e', float64)", TESS_T_FLOAT64);
    EXPECT_NULL("cast(e, float64)", TESS_T_FLOAT64);
    EXPECT_T("cast('2024-03-15T13:45:30Z', timestamp)", T_2024_03_15_134530);
    EXPECT_T("cast('2024-03-15 13:45:30', timestamp)", T_2024_03_15_134530);
    EXPECT_T("cast('2024-03-15T14:45:30+01:00', timestamp)", T_2024_03_15_134530);
    EXPECT_T("cast('1970-01-01', timestamp)", 0);
    EXPECT_NULL("cast('2024-02-30', timestamp)", TESS_T_TIMESTAMP);
    EXPECT_NULL("cast('yesterday', timestamp)", TESS_T_TIMESTAMP);
    EXPECT_S("cast(s, string)", "Hello");
    EXPECT_NULL("cast(ns, timestamp)", TESS_T_TIMESTAMP);
    /* timestamp -> */
    EXPECT_I("cast(t, int64)", T_2024_03_15_134530);
    EXPECT_S("cast(t, string)", "2024-03-15T13:45:30Z");
    EXPECT_S("cast(t + 500000, string)", "2024-03-15T13:45:30.500000Z");
    EXPECT_S("cast(cast(-1, timestamp), string)", "1969-12-31T23:59:59.999999Z");
    EXPECT_T("cast(t, timestamp)", T_2024_03_15_134530);
    EXPECT_NULL("cast(nt, string)", TESS_T_STRING);
    EXPECT_S("cast(cast('0001-01-01', timestamp), string)", "0001-01-01T00:00:00Z");
    EXPECT_S("cast(cast('9999-12-31T23:59:59.999999Z', timestamp), string)",
             "9999-12-31T23:59:59.999999Z");
    /* outside years 0001..9999 a timestamp has no text form */
    EXPECT_NULL("cast(cast('0001-01-01', timestamp) - 1, string)", TESS_T_STRING);
    EXPECT_NULL("cast(cast('9999-12-31T23:59:59.999999Z', timestamp) + 1, string)", TESS_T_STRING);
    EXPECT_NULL("cast(cast(small, timestamp), string)", TESS_T_STRING);
    EXPECT_NULL("cast(cast(big, timestamp), string)", TESS_T_STRING);
    /* round trips */
    EXPECT_B("cast(cast(t, string), timestamp) = t", true);
    EXPECT_B("cast(cast(f * 1.1, string), float64) = f * 1.1", true);
    EXPECT_B("cast(cast(small, string), int64) = small", true);
    /* the type name is case-insensitive */
    EXPECT_I("CAST(f, INT64)", 2);
    /* disallowed pairs */
    EXPECT_TYPE_ERR("cast(f, bool)", 9, "cannot cast float64 to bool");
    EXPECT_TYPE_ERR("cast(f, timestamp)", 9, "cannot cast float64 to timestamp");
    EXPECT_TYPE_ERR("cast(t, float64)", 9, "cannot cast timestamp to float64");
    EXPECT_TYPE_ERR("cast(t, bool)", 9, "cannot cast timestamp to bool");
    EXPECT_TYPE_ERR("cast(b, timestamp)", 9, "cannot cast bool to timestamp");
}

/* ---- errors -------------------------------------------------------------------------------- */

static void test_type_errors(void **state)
{
    (void)state;
    EXPECT_TYPE_ERR("s + 1", 3, "\"+\" needs numbers or timestamps, got string and int64");
    EXPECT_TYPE_ERR("i + 'x'", 3, "\"+\" needs numbers or timestamps, got int64 and string");
    EXPECT_TYPE_ERR("1 + 2 * s", 7, "\"*\" needs numbers, got int64 and string");
    EXPECT_TYPE_ERR("b / 2", 3, "\"/\" needs numbers, got bool and int64");
    EXPECT_TYPE_ERR("s % 2", 3, "\"%\" needs numbers");
    EXPECT_TYPE_ERR("-s", 1, "\"-\" needs a number, got string");
    EXPECT_TYPE_ERR("t + t", 3, "cannot add two timestamps");
    EXPECT_TYPE_ERR("1 - t", 3, "cannot subtract a timestamp from an int64");
    EXPECT_TYPE_ERR("t + f", 3, "needs an int64 number of microseconds");
    EXPECT_TYPE_ERR("t < '2024-01-01'", 3, "\"<\" cannot compare timestamp with string");
    EXPECT_TYPE_ERR("i = 'a'", 3, "\"=\" cannot compare int64 with string");
    EXPECT_TYPE_ERR("b = 1", 3, "\"=\" cannot compare bool with int64");
    EXPECT_TYPE_ERR("b and 1", 3, "\"and\" needs bools, got bool and int64");
    EXPECT_TYPE_ERR("i or b", 3, "\"or\" needs bools, got int64 and bool");
    EXPECT_TYPE_ERR("not i", 1, "\"not\" needs a bool, got int64");
    EXPECT_TYPE_ERR("length(i)", 8, "length() needs a string, got int64");
    EXPECT_TYPE_ERR("lower(  f)", 9, "lower() needs a string");
    EXPECT_TYPE_ERR("if(i, 1, 2)", 4, "if() needs a bool condition, got int64");
    EXPECT_TYPE_ERR("if(b, 1, 'x')", 10, "if() branches have different types: int64 and string");
    EXPECT_TYPE_ERR("coalesce(i, s)", 13, "coalesce() arguments have different types");
    EXPECT_TYPE_ERR("min(i, s)", 8, "min() arguments have different types");
    EXPECT_TYPE_ERR("max(b, c)", 5, "max() needs numbers, strings or timestamps, got bool");
    EXPECT_TYPE_ERR("concat(s, i)", 11, "concat() needs strings as argument 2, got int64");
    EXPECT_TYPE_ERR("substr(s, 1.5)", 11, "substr() needs an int64 start position as argument 2");
    EXPECT_TYPE_ERR("substr(s, 1, f)", 14, "an int64 length");
    EXPECT_TYPE_ERR("round(f, 1.5)", 10, "round() needs an int64 number of digits");
    EXPECT_TYPE_ERR("abs(s)", 5, "abs() needs a number, got string");
    EXPECT_TYPE_ERR("sqrt(b)", 6, "sqrt() needs a number");
    EXPECT_TYPE_ERR("pow(2, s)", 8, "pow() needs a number");
    EXPECT_TYPE_ERR("hour(i)", 6, "hour() needs a timestamp, got int64");
    EXPECT_TYPE_ERR("day_of_week(s)", 13, "day_of_week() needs a timestamp, got string");
    EXPECT_TYPE_ERR("if(b, 1)", 1, "if() takes 3 arguments, got 2");
    EXPECT_TYPE_ERR("abs()", 1, "abs() takes 1 argument, got 0");
    EXPECT_TYPE_ERR("substr(s)", 1, "substr() takes 2 or 3 arguments, got 1");
    EXPECT_TYPE_ERR("round(f, 1, 2)", 1, "round() takes 1 or 2 arguments, got 3");
    EXPECT_TYPE_ERR("min(i)", 1, "min() takes at least 2 arguments, got 1");
    EXPECT_TYPE_ERR("concat()", 1, "concat() takes at least 1 argument, got 0");
    EXPECT_TYPE_ERR("1 + cast(i)", 5, "cast() takes 2 arguments, got 1");
    EXPECT_TYPE_ERR("cast(i, int64, 1)", 1, "cast() takes 2 arguments");
    EXPECT_TYPE_ERR("cast(i, foo)", 9, "unknown type \"foo\"");
    EXPECT_TYPE_ERR("cast(i, flaot64)", 9, "unknown type \"flaot64\"; did you mean \"float64\"?");
    EXPECT_TYPE_ERR("null", 1, "expression has no type");
    EXPECT_TYPE_ERR("  null + null", 3, "expression has no type");
    EXPECT_TYPE_ERR("coalesce(null, null)", 1, "expression has no type");
    EXPECT_TYPE_ERR("(-null)", 2, "expression has no type");
}

static void test_unknown_names(void **state)
{
    (void)state;
    EXPECT_TYPE_ERR("amout * 2", 1, "unknown name \"amout\"; did you mean \"amount\"?");
    EXPECT_TYPE_ERR("1 + amont", 5, "unknown name \"amont\"; did you mean \"amount\"?");
    EXPECT_TYPE_ERR("usr_id", 1, "did you mean \"user_id\"?");
    EXPECT_TYPE_ERR("userid", 1, "did you mean \"user_id\"?");
    EXPECT_TYPE_ERR("xyzzy + 1", 1, "unknown name \"xyzzy\"");
    EXPECT_TYPE_ERR("lenght(s)", 1, "unknown function \"lenght\"; did you mean \"length\"?");
    EXPECT_TYPE_ERR("i + uper(s)", 5, "unknown function \"uper\"; did you mean \"upper\"?");
    EXPECT_TYPE_ERR("dayofweek(t)", 1, "did you mean \"day_of_week\"?");
    EXPECT_TYPE_ERR("frobnicate(1)", 1, "unknown function \"frobnicate\"");
    EXPECT_TYPE_ERR("length", 1, "\"length\" is a function");
    EXPECT_TYPE_ERR("i(1)", 1, "unknown function \"i\"");
    /* no far-fetched suggestions */
    tess__err err = TESS__ERR_INIT;
    tess__expr *e = NULL;
    int col;
    assert_int_equal(tess__expr_compile("xyzzy", 5, VARS, NVARS, &e, &err, &col), TESS_ETYPE);
    assert_null(strstr(tess__err_msg(&err), "did you mean"));
    assert_int_equal(tess__expr_compile("q", 1, VARS, NVARS, &e, &err, &col), TESS_ETYPE);
    assert_null(strstr(tess__err_msg(&err), "did you mean"));
    tess__err_release(&err);
}

static void test_parse_errors(void **state)
{
    (void)state;
    EXPECT_PARSE_ERR("", 1, "empty expression");
    EXPECT_PARSE_ERR("   ", 1, "empty expression");
    EXPECT_PARSE_ERR("(1 + 2", 7, "expected \")\" to close \"(\" at column 1, got end of input");
    EXPECT_PARSE_ERR("((1 + 2) * 3", 13, "expected \")\" to close \"(\" at column 1");
    EXPECT_PARSE_ERR("i * (1 + 2 j", 12, "expected \")\" to close \"(\" at column 5, got \"j\"");
    EXPECT_PARSE_ERR("1 +", 4, "expected an expression, got end of input");
    EXPECT_PARSE_ERR("1 + * 2", 5, "expected an expression, got \"*\"");
    EXPECT_PARSE_ERR("1 2", 3, "expected an operator or the end of the expression, got \"2\"");
    EXPECT_PARSE_ERR("i j", 3, "expected an operator");
    EXPECT_PARSE_ERR("1 + 2)", 6, "unexpected \")\"");
    EXPECT_PARSE_ERR(")", 1, "expected an expression, got \")\"");
    EXPECT_PARSE_ERR("1 < 2 < 3", 7, "comparisons do not chain");
    EXPECT_PARSE_ERR("i = j = 1", 7, "comparisons do not chain");
    EXPECT_PARSE_ERR("concat('a', 'b'", 16, "expected \",\" or \")\" to close \"(\" at column 7");
    EXPECT_PARSE_ERR("abs(1 2)", 7, "expected \",\" or \")\"");
    EXPECT_PARSE_ERR("abs(1,)", 7, "expected an expression, got \")\"");
    EXPECT_PARSE_ERR("cast(i, 1)", 9, "expected a type name");
    EXPECT_PARSE_ERR("cast(i int64)", 8, "expected \",\" and a type name");
    EXPECT_PARSE_ERR("cast(i, int64", 14, "expected \")\" to close \"(\" at column 5");
    EXPECT_PARSE_ERR("'abc", 1, "unterminated string");
    EXPECT_PARSE_ERR("i + \"abc", 5, "unterminated string");
    EXPECT_PARSE_ERR("'abc\\", 1, "unterminated string");
    EXPECT_PARSE_ERR("'a\\qb'", 3, "unknown escape \"\\q\"");
    EXPECT_PARSE_ERR("9223372036854775808", 1, "out of the int64 range");
    EXPECT_PARSE_ERR("1 + 99999999999999999999", 5, "out of the int64 range");
    EXPECT_PARSE_ERR("1e999", 1, "out of range");
    EXPECT_PARSE_ERR("1e", 1, "malformed number");
    EXPECT_PARSE_ERR("2 * 1abc", 5, "malformed number \"1abc\"");
    EXPECT_PARSE_ERR("1.2.3", 1, "malformed number");
    EXPECT_PARSE_ERR("i @ 2", 3, "unexpected character \"@\"");
    EXPECT_PARSE_ERR("b && c", 3, "use \"and\"");
    EXPECT_PARSE_ERR("b || c", 3, "use \"or\"");
    EXPECT_PARSE_ERR("!b", 1, "did you mean \"!=\" or \"not\"?");
    EXPECT_PARSE_ERR("i = \x01", 5, "unexpected byte 0x01");
    EXPECT_PARSE_ERR("s = \xc3\xa9", 5, "unexpected byte 0xc3");
    EXPECT_PARSE_ERR("i = not b", 5, "expected an expression, got \"not\"");
    EXPECT_PARSE_ERR("1 + and", 5, "expected an expression, got \"and\"");
    EXPECT_PARSE_ERR("+1", 1, "expected an expression, got \"+\"");
}

static void test_depth_limit(void **state)
{
    (void)state;
    size_t big = 100000;
    char *src = malloc(big * 2 + 8);
    assert_non_null(src);
    /* parentheses: 256 levels are fine, 257 are not */
    for (int depth = 250; depth <= 260; depth++) {
        size_t k = 0;
        for (int d = 0; d < depth; d++)
            src[k++] = '(';
        src[k++] = '1';
        for (int d = 0; d < depth; d++)
            src[k++] = ')';
        src[k] = '\0';
        tess__expr *e = NULL;
        tess__err err = TESS__ERR_INIT;
        int col = 0;
        int rc = tess__expr_compile(src, k, VARS, NVARS, &e, &err, &col);
        if (depth <= 256) {
            assert_int_equal(rc, TESS_OK);
            tess__expr_free(e);
        } else {
            assert_int_equal(rc, TESS_EPARSE);
            assert_int_equal(col, 257);
            assert_non_null(strstr(tess__err_msg(&err), "nested too deeply"));
        }
        tess__err_release(&err);
    }
    /* far deeper than any stack would take: a clean error, not a crash */
    const char *unit[] = {"(", "-", "not ", "abs(", "-("};
    for (size_t u = 0; u < sizeof(unit) / sizeof(unit[0]); u++) {
        size_t k = 0, ul = strlen(unit[u]);
        while (k + ul < big) {
            memcpy(src + k, unit[u], ul);
            k += ul;
        }
        src[k++] = '1';
        tess__expr *e = NULL;
        tess__err err = TESS__ERR_INIT;
        int col = 0;
        int rc = tess__expr_compile(src, k, VARS, NVARS, &e, &err, &col);
        assert_int_equal(rc, TESS_EPARSE); /* too long, or too deep */
        assert_null(e);
        tess__err_release(&err);
    }
    /* a long flat chain is limited by the height of the tree */
    size_t k = 0;
    for (int t = 0; t < 300; t++) {
        memcpy(src + k, "i + ", 4);
        k += 4;
    }
    src[k++] = '1';
    tess__expr *e = NULL;
    tess__err err = TESS__ERR_INIT;
    int col = 0;
    assert_int_equal(tess__expr_compile(src, k, VARS, NVARS, &e, &err, &col), TESS_EPARSE);
    assert_non_null(strstr(tess__err_msg(&err), "nested too deeply"));
    assert_int_equal(src[col - 1], '+');
    /* within the limits: a chain of 200 and a wide call */
    k = 0;
    for (int t = 0; t < 200; t++) {
        memcpy(src + k, "i + ", 4);
        k += 4;
    }
    src[k++] = '1';
    assert_int_equal(tess__expr_compile(src, k, VARS, NVARS, &e, &err, &col), TESS_OK);
    tess__arena a = TESS__ARENA_INIT;
    tess__value v;
    assert_int_equal(tess__expr_eval(e, VALS, &a, &v), TESS_OK);
    assert_int_equal(v.u.i, 1401);
    tess__expr_free(e);
    k = 0;
    k += (size_t)sprintf(src, "max(");
    for (int t = 0; t < 2000; t++)
        k += (size_t)sprintf(src + k, "%d, ", t);
    k += (size_t)sprintf(src + k, "i)");
    assert_int_equal(tess__expr_compile(src, k, VARS, NVARS, &e, &err, &col), TESS_OK);
    assert_int_equal(tess__expr_eval(e, VALS, &a, &v), TESS_OK);
    assert_int_equal(v.u.i, 1999);
    tess__expr_free(e);
    /* the source length limit */
    memset(src, ' ', big);
    src[0] = '1';
    assert_int_equal(tess__expr_compile(src, big, VARS, NVARS, &e, &err, &col), TESS_EPARSE);
    assert_int_equal(col, 1);
    assert_non_null(strstr(tess__err_msg(&err), "too long"));
    tess__arena_release(&a);
    tess__err_release(&err);
    free(src);
}

/* ---- the API ------------------------------------------------------------------------------- */

static void test_refs_and_api(void **state)
{
    (void)state;
    tess__expr *e = NULL;
    const char *src = "f + i * 2 + f + if(b, 1, 2)";
    assert_int_equal(tess__expr_compile(src, strlen(src), VARS, NVARS, &e, NULL, NULL), TESS_OK);
    size_t n;
    const int *refs = tess__expr_refs(e, &n);
    assert_int_equal(n, 3);
    assert_int_equal(refs[0], 0); /* i */
    assert_int_equal(refs[1], 2); /* f */
    assert_int_equal(refs[2], 6); /* b */
    assert_int_equal(tess__expr_type(e), TESS_T_FLOAT64);
    tess__expr_free(e);

    assert_int_equal(tess__expr_compile("1 + 2", 5, VARS, NVARS, &e, NULL, NULL), TESS_OK);
    tess__expr_refs(e, &n);
    assert_int_equal(n, 0);
    tess__arena a = TESS__ARENA_INIT;
    tess__value v;
    assert_int_equal(tess__expr_eval(e, NULL, &a, &v), TESS_OK);
    assert_int_equal(v.u.i, 3);
    int64_t od[5];
    uint8_t on[5];
    tess__col out = {TESS_T_NULL, on, od};
    assert_int_equal(tess__expr_eval_batch(e, NULL, 5, &a, &out), TESS_OK);
    assert_int_equal(out.type, TESS_T_INT64);
    for (int r = 0; r < 5; r++)
        assert_int_equal(od[r], 3);
    assert_int_equal(tess__expr_eval_batch(e, NULL, 0, &a, &out), TESS_OK);
    tess__expr_free(e);
    tess__expr_free(NULL);

    /* the source need not be NUL-terminated: n bytes are read */
    assert_int_equal(tess__expr_compile("i + 1000", 5, VARS, NVARS, &e, NULL, NULL), TESS_OK);
    assert_int_equal(tess__expr_eval(e, VALS, &a, &v), TESS_OK);
    assert_int_equal(v.u.i, 8);
    /* input type mismatches are caller bugs */
    tess__value bad[NVARS];
    memcpy(bad, VALS, sizeof(bad));
    bad[0] = tess__v_float(1.0);
    assert_int_equal(tess__expr_eval(e, bad, &a, &v), TESS_EINVAL);
    bad[0] = tess__null(TESS_T_NULL); /* an untyped null is accepted as null */
    assert_int_equal(tess__expr_eval(e, bad, &a, &v), TESS_OK);
    assert_true(v.null);
    tess__col cols[NVARS];
    make_cols(cols, 5, &a);
    cols[0].type = TESS_T_FLOAT64;
    assert_int_equal(tess__expr_eval_batch(e, cols, 5, &a, &out), TESS_EINVAL);
    tess__expr_free(e);

    /* bad variables */
    tess__expr_var vbad[] = {{"x", TESS_T_NULL}};
    assert_int_equal(tess__expr_compile("1", 1, vbad, 1, &e, NULL, NULL), TESS_EINVAL);
    assert_null(e);
    tess__arena_release(&a);
}

static void test_batch_chunks(void **state)
{
    (void)state;
    /* crosses the 1024-row chunks; columns without a null mask; string results */
    tess__expr_var vars[] = {{"x", TESS_T_INT64}, {"y", TESS_T_FLOAT64}, {"name", TESS_T_STRING}};
    const size_t n = 5000;
    int64_t *x = malloc(n * 8);
    double *y = malloc(n * 8);
    tess__str *name = malloc(n * sizeof(tess__str));
    uint8_t *yn = malloc(n);
    assert_non_null(x);
    assert_non_null(y);
    assert_non_null(name);
    assert_non_null(yn);
    static const char *names[] = {"ann", "Bob", "", "Zoë"};
    for (size_t r = 0; r < n; r++) {
        x[r] = (int64_t)r - 2500;
        y[r] = (double)r * 0.5;
        yn[r] = r % 7 == 0;
        name[r].p = names[r % 4];
        name[r].n = strlen(names[r % 4]);
    }
    tess__col cols[3] = {
        {TESS_T_INT64, NULL, x}, {TESS_T_FLOAT64, yn, y}, {TESS_T_STRING, NULL, name}};
    const char *src = "concat(upper(name), ':', cast(x * 2 + cast(y, int64), string))";
    tess__expr *e = NULL;
    assert_int_equal(tess__expr_compile(src, strlen(src), vars, 3, &e, NULL, NULL), TESS_OK);
    tess__arena a = TESS__ARENA_INIT;
    tess__str *od = malloc(n * sizeof(tess__str));
    uint8_t *on = malloc(n);
    assert_non_null(od);
    assert_non_null(on);
    tess__col out = {TESS_T_STRING, on, od};
    assert_int_equal(tess__expr_eval_batch(e, cols, n, &a, &out), TESS_OK);
    static const char *upper[] = {"ANN", "BOB", "", "ZOë"};
    for (size_t r = 0; r < n; r++) {
        if (r % 7 == 0) {
            assert_int_equal(on[r], 1);
            assert_null(od[r].p);
            assert_int_equal(od[r].n, 0);
            continue;
        }
        char want[64];
        snprintf(want, sizeof(want), "%s:%lld", upper[r % 4],
                 (long long)(x[r] * 2 + (int64_t)y[r]));
        assert_int_equal(on[r], 0);
        assert_int_equal(od[r].n, strlen(want));
        assert_memory_equal(od[r].p, want, od[r].n);
    }
    tess__arena_release(&a);
    tess__expr_free(e);
    free(x), free(y), free(name), free(yn), free(od), free(on);
}

static void test_out_of_memory(void **state)
{
    (void)state;
    const char *srcs[] = {
        "concat(lower(s), cast(i * 2 + 1, string), substr(u, 2, 3))",
        "if(b and not c, coalesce(nf, f / 3), max(g, amount, 1)) > 0.5",
        "lenght(s)",
        "(1 + 2",
    };
    for (size_t k = 0; k < sizeof(srcs) / sizeof(srcs[0]); k++) {
        int want = TESS_OK;
        {
            tess__expr *e = NULL;
            want = tess__expr_compile(srcs[k], strlen(srcs[k]), VARS, NVARS, &e, NULL, NULL);
            tess__expr_free(e);
        }
        for (long fail_at = 0;; fail_at++) {
            tess__expr *e = NULL;
            tess__err err = TESS__ERR_INIT;
            int col;
            tess__alloc_fail_after(fail_at);
            int rc = tess__expr_compile(srcs[k], strlen(srcs[k]), VARS, NVARS, &e, &err, &col);
            tess__alloc_fail_after(-1);
            tess__err_release(&err);
            if (rc == TESS_ENOMEM) {
                assert_null(e);
                continue;
            }
            assert_int_equal(rc, want);
            if (rc == TESS_OK) {
                /* evaluation: fail the arena's allocations */
                for (long f2 = 0;; f2++) {
                    tess__arena a = TESS__ARENA_INIT;
                    tess__value v;
                    tess__alloc_fail_after(f2);
                    int rc2 = tess__expr_eval(e, VALS, &a, &v);
                    tess__alloc_fail_after(-1);
                    tess__arena_release(&a);
                    if (rc2 == TESS_ENOMEM) continue;
                    assert_int_equal(rc2, TESS_OK);
                    break;
                }
            }
            tess__expr_free(e);
            break;
        }
    }
    /* an arena with a cap */
    tess__expr *e = NULL;
    const char *src = "concat(s, s, s, s)";
    assert_int_equal(tess__expr_compile(src, strlen(src), VARS, NVARS, &e, NULL, NULL), TESS_OK);
    tess__arena a = TESS__ARENA_INIT;
    a.max = 64;
    tess__value v;
    assert_int_equal(tess__expr_eval(e, VALS, &a, &v), TESS_ENOMEM);
    tess__arena_release(&a);
    tess__expr_free(e);
}

typedef struct thread_arg {
    const tess__expr *e;
    int ok;
} thread_arg;

static void *thread_main(void *p)
{
    thread_arg *ta = p;
    tess__arena a = TESS__ARENA_INIT;
    ta->ok = 1;
    for (int k = 0; k < 2000; k++) {
        tess__value v;
        tess__value vals[NVARS];
        memcpy(vals, VALS, sizeof(vals));
        vals[0] = tess__v_int(k);
        if (tess__expr_eval(ta->e, vals, &a, &v) != TESS_OK) ta->ok = 0;
        char want[32];
        snprintf(want, sizeof(want), "%d|HELLO", k * 3);
        if (v.null || v.u.s.n != strlen(want) || memcmp(v.u.s.p, want, v.u.s.n) != 0) ta->ok = 0;
        tess__arena_reset(&a);
    }
    tess__arena_release(&a);
    return NULL;
}

static void test_threads_share_an_expression(void **state)
{
    (void)state;
    tess__expr *e = NULL;
    const char *src = "concat(cast(i * 3, string), '|', upper(s))";
    assert_int_equal(tess__expr_compile(src, strlen(src), VARS, NVARS, &e, NULL, NULL), TESS_OK);
    pthread_t th[4];
    thread_arg args[4];
    for (int k = 0; k < 4; k++) {
        args[k].e = e;
        assert_int_equal(pthread_create(&th[k], NULL, thread_main, &args[k]), 0);
    }
    for (int k = 0; k < 4; k++) {
        pthread_join(th[k], NULL);
        assert_true(args[k].ok);
    }
    tess__expr_free(e);
}

/* ---- batch = row on random expressions and random columns ---------------------------------- */

typedef struct rng {
    uint64_t s;
} rng;

static uint64_t next(rng *r)
{
    r->s ^= r->s << 13;
    r->s ^= r->s >> 7;
    r->s ^= r->s << 17;
    return r->s;
}

static int pick(rng *r, int n)
{
    return (int)(next(r) % (uint64_t)n);
}

static const tess__expr_var RVARS[] = {
    {"i1", TESS_T_INT64},     {"i2", TESS_T_INT64},  {"f1", TESS_T_FLOAT64},
    {"f2", TESS_T_FLOAT64},   {"s1", TESS_T_STRING}, {"s2", TESS_T_STRING},
    {"b1", TESS_T_BOOL},      {"b2", TESS_T_BOOL},   {"t1", TESS_T_TIMESTAMP},
    {"t2", TESS_T_TIMESTAMP},
};
#define NRVARS (sizeof(RVARS) / sizeof(RVARS[0]))

typedef struct sbuf {
    char p[8192];
    size_t n;
} sbuf;

static void put(sbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(b->p + b->n, sizeof(b->p) - b->n, fmt, ap);
    va_end(ap);
    if (k > 0) b->n += (size_t)k;
    if (b->n >= sizeof(b->p)) b->n = sizeof(b->p) - 1;
}

static void gen_expr(rng *r, sbuf *b, tess__type t, int depth);

static void gen_leaf(rng *r, sbuf *b, tess__type t)
{
    static const char *ints[] = {
        "0", "1", "-1", "7", "3600000000", "9223372036854775807", "-9223372036854775808", "2"};
    static const char *floats[] = {"0.0", "1.5", "-2.25", "1e300", "0.1", "-0.0"};
    static const char *strs[] = {
        "''", "'abc'", "'Héllo'", "'42'", "' 1.5 '", "'true'", "'2024-03-15T10:00:00Z'", "'ÀÉ'"};
    int k = pick(r, 10);
    if (k < 6) {
        int base = t == TESS_T_INT64     ? 0
                   : t == TESS_T_FLOAT64 ? 2
                   : t == TESS_T_STRING  ? 4
                   : t == TESS_T_BOOL    ? 6
                                         : 8;
        put(b, "%s", RVARS[base + pick(r, 2)].name);
        return;
    }
    if (k == 6) {
        put(b, "cast(null, %s)", tess__type_name(t));
        return;
    }
    switch (t) {
    case TESS_T_INT64:
        put(b, "%s", ints[pick(r, 8)]);
        break;
    case TESS_T_FLOAT64:
        put(b, "%s", floats[pick(r, 6)]);
        break;
    case TESS_T_STRING:
        put(b, "%s", strs[pick(r, 8)]);
        break;
    case TESS_T_BOOL:
        put(b, "%s", pick(r, 2) ? "true" : "false");
        break;
    default:
        put(b, "cast(%s, timestamp)", ints[pick(r, 5)]);
        break;
    }
}

static tess__type any_type(rng *r)
{
    return (tess__type)(TESS_T_BOOL + pick(r, 5));
}

static void gen_generic(rng *r, sbuf *b, tess__type t, int depth)
{
    switch (pick(r, 4)) {
    case 0:
        put(b, "if(");
        gen_expr(r, b, TESS_T_BOOL, depth - 1);
        put(b, ", ");
        gen_expr(r, b, t, depth - 1);
        put(b, ", ");
        gen_expr(r, b, t, depth - 1);
        put(b, ")");
        return;
    case 1:
        put(b, "coalesce(");
        gen_expr(r, b, t, depth - 1);
        put(b, ", ");
        gen_expr(r, b, t, depth - 1);
        put(b, ")");
        return;
    case 2:
        if (t != TESS_T_BOOL) {
            put(b, pick(r, 2) ? "min(" : "max(");
            gen_expr(r, b, t, depth - 1);
            put(b, ", ");
            gen_expr(r, b, t, depth - 1);
            if (pick(r, 2)) {
                put(b, ", ");
                gen_expr(r, b, t, depth - 1);
            }
            put(b, ")");
            return;
        }
        /* fallthrough */
    default:
        put(b, "cast(");
        gen_expr(r, b, TESS_T_STRING, depth - 1);
        put(b, ", %s)", tess__type_name(t));
        return;
    }
}

static void gen_expr(rng *r, sbuf *b, tess__type t, int depth)
{
    if (depth <= 0 || pick(r, 4) == 0) {
        gen_leaf(r, b, t);
        return;
    }
    if (pick(r, 5) == 0) {
        gen_generic(r, b, t, depth);
        return;
    }
    static const char *arith[] = {"+", "-", "*", "%"};
    static const char *cmps[] = {"=", "!=", "<", "<=", ">", ">="};
    switch (t) {
    case TESS_T_INT64:
        switch (pick(r, 9)) {
        case 0:
        case 1:
            put(b, "(");
            gen_expr(r, b, TESS_T_INT64, depth - 1);
            put(b, " %s ", arith[pick(r, 4)]);
            gen_expr(r, b, TESS_T_INT64, depth - 1);
            put(b, ")");
            return;
        case 2:
            put(b, "-");
            gen_expr(r, b, TESS_T_INT64, depth - 1);
            return;
        case 3:
            put(b, "abs(");
            gen_expr(r, b, TESS_T_INT64, depth - 1);
            put(b, ")");
            return;
        case 4:
            put(b, "length(");
            gen_expr(r, b, TESS_T_STRING, depth - 1);
            put(b, ")");
            return;
        case 5:
            put(b, pick(r, 2) ? "hour(" : "day_of_week(");
            gen_expr(r, b, TESS_T_TIMESTAMP, depth - 1);
            put(b, ")");
            return;
        case 6:
            put(b, "cast(");
            gen_expr(r, b, pick(r, 2) ? TESS_T_FLOAT64 : TESS_T_BOOL, depth - 1);
            put(b, ", int64)");
            return;
        case 7:
            put(b, "(");
            gen_expr(r, b, TESS_T_TIMESTAMP, depth - 1);
            put(b, " - ");
            gen_expr(r, b, TESS_T_TIMESTAMP, depth - 1);
            put(b, ")");
            return;
        default:
            put(b, "round(");
            gen_expr(r, b, TESS_T_INT64, depth - 1);
            put(b, ", %d)", pick(r, 25) - 20);
            return;
        }
    case TESS_T_FLOAT64:
        switch (pick(r, 8)) {
        case 0:
        case 1:
            put(b, "(");
            gen_expr(r, b, pick(r, 3) ? TESS_T_FLOAT64 : TESS_T_INT64, depth - 1);
            put(b, " %s ", pick(r, 5) == 0 ? "/" : arith[pick(r, 4)]);
            gen_expr(r, b, TESS_T_FLOAT64, depth - 1);
            put(b, ")");
            return;
        case 2:
            put(b, "(");
            gen_expr(r, b, TESS_T_INT64, depth - 1);
            put(b, " / ");
            gen_expr(r, b, TESS_T_INT64, depth - 1);
            put(b, ")");
            return;
        case 3: {
            static const char *fns[] = {"abs", "log", "exp", "sqrt", "floor", "ceil", "round"};
            put(b, "%s(", fns[pick(r, 7)]);
            gen_expr(r, b, TESS_T_FLOAT64, depth - 1);
            put(b, ")");
            return;
        }
        case 4:
            put(b, "pow(");
            gen_expr(r, b, TESS_T_FLOAT64, depth - 1);
            put(b, ", ");
            gen_expr(r, b, TESS_T_FLOAT64, depth - 1);
            put(b, ")");
            return;
        case 5:
            put(b, "round(");
            gen_expr(r, b, TESS_T_FLOAT64, depth - 1);
            put(b, ", ");
            gen_expr(r, b, TESS_T_INT64, depth - 1);
            put(b, ")");
            return;
        case 6:
            put(b, "-");
            gen_expr(r, b, TESS_T_FLOAT64, depth - 1);
            return;
        default:
            put(b, "cast(");
            gen_expr(r, b, pick(r, 2) ? TESS_T_INT64 : TESS_T_BOOL, depth - 1);
            put(b, ", float64)");
            return;
        }
    case TESS_T_BOOL:
        switch (pick(r, 5)) {
        case 0: {
            tess__type ct = any_type(r);
            put(b, "(");
            gen_expr(r, b, ct, depth - 1);
            put(b, " %s ", cmps[pick(r, 6)]);
            gen_expr(r, b, ct == TESS_T_INT64 && pick(r, 2) ? TESS_T_FLOAT64 : ct, depth - 1);
            put(b, ")");
            return;
        }
        case 1:
        case 2:
            put(b, "(");
            gen_expr(r, b, TESS_T_BOOL, depth - 1);
            put(b, pick(r, 2) ? " and " : " or ");
            gen_expr(r, b, TESS_T_BOOL, depth - 1);
            put(b, ")");
            return;
        case 3:
            put(b, "(not ");
            gen_expr(r, b, TESS_T_BOOL, depth - 1);
            put(b, ")");
            return;
        default:
            put(b, "is_null(");
            gen_expr(r, b, any_type(r), depth - 1);
            put(b, ")");
            return;
        }
    case TESS_T_STRING:
        switch (pick(r, 5)) {
        case 0:
            put(b, pick(r, 2) ? "lower(" : "upper(");
            gen_expr(r, b, TESS_T_STRING, depth - 1);
            put(b, ")");
            return;
        case 1:
            put(b, "concat(");
            gen_expr(r, b, TESS_T_STRING, depth - 1);
            put(b, ", ");
            gen_expr(r, b, TESS_T_STRING, depth - 1);
            put(b, ")");
            return;
        case 2:
            put(b, "substr(");
            gen_expr(r, b, TESS_T_STRING, depth - 1);
            put(b, ", %d", pick(r, 8) - 2);
            if (pick(r, 2)) {
                put(b, ", ");
                gen_expr(r, b, TESS_T_INT64, depth - 1);
            }
            put(b, ")");
            return;
        default: {
            tess__type from = any_type(r);
            put(b, "cast(");
            gen_expr(r, b, from, depth - 1);
            put(b, ", string)");
            return;
        }
        }
    default: /* timestamp */
        switch (pick(r, 3)) {
        case 0:
            put(b, "(");
            gen_expr(r, b, TESS_T_TIMESTAMP, depth - 1);
            put(b, pick(r, 2) ? " + " : " - ");
            gen_expr(r, b, TESS_T_INT64, depth - 1);
            put(b, ")");
            return;
        case 1:
            put(b, "cast(");
            gen_expr(r, b, TESS_T_INT64, depth - 1);
            put(b, ", timestamp)");
            return;
        default:
            put(b, "(");
            gen_expr(r, b, TESS_T_INT64, depth - 1);
            put(b, " + ");
            gen_expr(r, b, TESS_T_TIMESTAMP, depth - 1);
            put(b, ")");
            return;
        }
    }
}

static void random_column(rng *r, tess__col *c, tess__type t, size_t n)
{
    static const char *strs[] = {
        "",           "a",   "Hello", "h\xc3\xa9llo", "123", " 42 ", "true",
        "2024-01-01", "1e3", "nan",   "W\xc3\xb6rld", "0",   "-7",   "x y z"};
    static const int64_t ints[] = {0,
                                   1,
                                   -1,
                                   2,
                                   3,
                                   10,
                                   -10,
                                   1000,
                                   INT64_MAX,
                                   INT64_MIN,
                                   INT64_MAX - 1,
                                   3600000000LL,
                                   86400000000LL};
    static const double floats[] = {0.0,   -0.0,   1.0,    -1.0,    0.5,   2.5, -2.5,
                                    1e300, -1e300, 1e-300, 3.14159, 100.0, 0.1};
    size_t es = t == TESS_T_BOOL ? 1 : t == TESS_T_STRING ? sizeof(tess__str) : 8;
    c->type = t;
    c->data = malloc(es * n);
    c->nulls = malloc(n);
    assert_non_null(c->data);
    assert_non_null(c->nulls);
    for (size_t i = 0; i < n; i++) {
        c->nulls[i] = pick(r, 5) == 0;
        switch (t) {
        case TESS_T_BOOL:
            ((uint8_t *)c->data)[i] = (uint8_t)pick(r, 2);
            break;
        case TESS_T_INT64:
            ((int64_t *)c->data)[i] =
                pick(r, 2) ? ints[pick(r, 13)] : (int64_t)(next(r) % 2001) - 1000;
            break;
        case TESS_T_FLOAT64:
            ((double *)c->data)[i] =
                pick(r, 2) ? floats[pick(r, 13)] : (double)(int64_t)(next(r) % 20001) / 100 - 100;
            break;
        case TESS_T_STRING: {
            const char *s = strs[pick(r, 14)];
            ((tess__str *)c->data)[i].p = s;
            ((tess__str *)c->data)[i].n = strlen(s);
            break;
        }
        default: /* timestamps from 1900 to 2100 */
            ((int64_t *)c->data)[i] = (int64_t)(next(r) % 6311390400000000ULL) - 2208988800000000LL;
            break;
        }
        if (c->nulls[i] && t == TESS_T_STRING) { /* garbage under nulls must not be read */
            ((tess__str *)c->data)[i].p = (const char *)(uintptr_t)0x1;
            ((tess__str *)c->data)[i].n = 1000000;
        }
    }
}

static void test_batch_equals_row_random(void **state)
{
    (void)state;
    rng r = {0x9E3779B97F4A7C15ULL};
    const size_t n = 2100; /* three chunks, the last one partial */
    tess__col cols[NRVARS];
    for (size_t v = 0; v < NRVARS; v++)
        random_column(&r, &cols[v], RVARS[v].type, n);
    int compiled = 0, rows_checked = 0, nulls_seen = 0;
    for (int k = 0; k < 400; k++) {
        sbuf b;
        b.n = 0;
        b.p[0] = '\0';
        tess__type t = any_type(&r);
        gen_expr(&r, &b, t, 1 + pick(&r, 5));
        tess__expr *e = NULL;
        tess__err err = TESS__ERR_INIT;
        int col;
        int rc = tess__expr_compile(b.p, b.n, RVARS, NRVARS, &e, &err, &col);
        if (rc != TESS_OK) {
            print_error("%s: %s at %d\n", b.p, tess__err_msg(&err), col);
            fail();
        }
        tess__err_release(&err);
        compiled++;
        assert_int_equal(tess__expr_type(e), t);
        tess__arena a = TESS__ARENA_INIT;
        char *od = malloc(16 * n);
        uint8_t *on = malloc(n);
        assert_non_null(od);
        assert_non_null(on);
        tess__col out = {TESS_T_NULL, on, od};
        assert_int_equal(tess__expr_eval_batch(e, cols, n, &a, &out), TESS_OK);
        tess__arena ra = TESS__ARENA_INIT;
        for (size_t i = 0; i < n; i++) {
            tess__value vals[NRVARS];
            for (size_t v = 0; v < NRVARS; v++)
                vals[v] = col_get(&cols[v], i);
            tess__value row;
            assert_int_equal(tess__expr_eval(e, vals, &ra, &row), TESS_OK);
            tess__value bv = col_get(&out, i);
            if (!same_typed(&row, &bv)) {
                char x[128], y[128];
                describe(&row, x, sizeof(x));
                describe(&bv, y, sizeof(y));
                print_error("%s: row %zu: row evaluation %s, batch %s\n", b.p, i, x, y);
                fail();
            }
            nulls_seen += row.null;
            rows_checked++;
            if (i % 256 == 0) tess__arena_reset(&ra);
        }
        tess__arena_release(&ra);
        tess__arena_release(&a);
        free(od);
        free(on);
        tess__expr_free(e);
    }
    assert_int_equal(compiled, 400);
    assert_true(nulls_seen > 0 && nulls_seen < rows_checked);
    for (size_t v = 0; v < NRVARS; v++) {
        free(cols[v].data);
        free(cols[v].nulls);
    }
}

static int setup(void **state)
{
    (void)state;
    init_vals();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tess__arena_release(&keep);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_literals),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_precedence_typed),
        cmocka_unit_test(test_arithmetic),
        cmocka_unit_test(test_division_and_modulo),
        cmocka_unit_test(test_overflow),
        cmocka_unit_test(test_comparisons),
        cmocka_unit_test(test_logic_truth_tables),
        cmocka_unit_test(test_logic_batch),
        cmocka_unit_test(test_if_coalesce_is_null),
        cmocka_unit_test(test_math),
        cmocka_unit_test(test_round),
        cmocka_unit_test(test_min_max),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_substr),
        cmocka_unit_test(test_time),
        cmocka_unit_test(test_casts),
        cmocka_unit_test(test_type_errors),
        cmocka_unit_test(test_unknown_names),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_refs_and_api),
        cmocka_unit_test(test_batch_chunks),
        cmocka_unit_test(test_out_of_memory),
        cmocka_unit_test(test_threads_share_an_expression),
        cmocka_unit_test(test_batch_equals_row_random),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
