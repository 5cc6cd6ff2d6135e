/* test_reader.c — the typed CSV and JSON Lines readers (src/offline/reader.h): syntax, types,
 * messages (exact file:line:col), bad-row skipping, limits, chunk boundaries, allocation
 * failures, and a randomized round trip of typed rows through CSV and JSON Lines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/time.h"
#include "offline/reader.h"
#include "tessera.h"

/* ---- harness ------------------------------------------------------------------------------ */

static char tmpdir[64];
static unsigned file_no;

/* The default schema of most tests. */
static const tess__column S5[] = {
    {"id", TESS_T_INT64, {0}}, {"name", TESS_T_STRING, {0}},  {"amount", TESS_T_FLOAT64, {0}},
    {"ok", TESS_T_BOOL, {0}},  {"ts", TESS_T_TIMESTAMP, {0}},
};
enum { ID, NAME, AMOUNT, OK, TS };

typedef struct ropts {
    const tess__column *cols; /* NULL: S5 */
    size_t ncols;
    tess__format fmt; /* 0: CSV */
    char delim;
    size_t max_bad, chunk, max_row, cap;
} ropts;

typedef struct res {
    int rc;    /* of open, or of the first failing next; TESS_OK if the file was read */
    char *msg; /* the message of that failure */
    size_t nrows, ncols;
    tess__value *v; /* nrows x ncols; strings are owned by `strs` */
    char **strs;
    size_t nstrs;
    int64_t *seq;
    size_t nbad;
    char *bad;
    uint64_t bytes;
    int batches;
} res;

static char *write_tmp(const char *data, size_t n, const char *ext)
{
    char *path = malloc(128);
    snprintf(path, 128, "%s/f%u.%s", tmpdir, file_no++, ext);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (n) assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
    return path;
}

static void res_free(res *r)
{
    if (!r) return;
    for (size_t i = 0; i < r->nstrs; i++)
        free(r->strs[i]);
    free(r->strs);
    free(r->v);
    free(r->seq);
    free(r->msg);
    free(r->bad);
    free(r);
}

static res *read_n(const char *data, size_t n, const ropts *o)
{
    const tess__column *cols = o->cols ? o->cols : S5;
    size_t ncols = o->cols ? o->ncols : 5;
    tess__format fmt = o->fmt ? o->fmt : TESS_FORMAT_CSV;
    const char *ext = fmt == TESS_FORMAT_CSV ? "csv" : "jsonl";
    char *path = write_tmp(data, n, ext);
    char display[16];
    snprintf(display, sizeof display, "t.%s", ext);

    tess__source src;
    memset(&src, 0, sizeof src);
    src.name = "t";
    src.format = fmt;
    src.schema = cols;
    src.nschema = ncols;
    tess__type types[16];
    for (size_t i = 0; i < ncols; i++)
        types[i] = cols[i].type;

    res *r = calloc(1, sizeof *r);
    r->ncols = ncols;
    tess__err err = TESS__ERR_INIT;
    tess__reader_opts ro = {fmt, o->delim, o->max_bad, display, o->chunk, o->max_row};
    tess__reader *rd = NULL;
    r->rc = tess__reader_open(path, &src, &ro, &rd, &err);
    if (r->rc != TESS_OK) {
        assert_null(rd);
        r->msg = strdup(tess__err_msg(&err));
        goto out;
    }
    tess__batch b;
    assert_int_equal(tess__batch_init(&b, types, ncols, o->cap ? o->cap : 1000), TESS_OK);
    size_t cap = 0;
    int rc;
    while ((rc = tess__reader_next(rd, &b, &err)) == TESS_OK) {
        r->batches++;
        assert_true(b.nrows > 0 && b.nrows <= b.cap);
        if (r->nrows + b.nrows > cap) {
            cap = (r->nrows + b.nrows) * 2;
            r->v = realloc(r->v, cap * ncols * sizeof *r->v);
            r->seq = realloc(r->seq, cap * sizeof *r->seq);
            r->strs = realloc(r->strs, cap * ncols * sizeof *r->strs);
        }
        for (size_t i = 0; i < b.nrows; i++) {
            size_t row = r->nrows + i;
            r->seq[row] = b.seq[i];
            for (size_t c = 0; c < ncols; c++) {
                const tess__col *col = &b.cols[c];
                tess__value *v = &r->v[row * ncols + c];
                if (col->nulls[i]) {
                    *v = tess__null(col->type);
                    continue;
                }
                switch (col->type) {
                case TESS_T_INT64:
                    *v = tess__v_int(((int64_t *)col->data)[i]);
                    break;
                case TESS_T_TIMESTAMP:
                    *v = tess__v_ts(((int64_t *)col->data)[i]);
                    break;
                case TESS_T_FLOAT64:
                    *v = tess__v_float(((double *)col->data)[i]);
                    break;
                case TESS_T_BOOL:
                    *v = tess__v_bool(((uint8_t *)col->data)[i] != 0);
                    break;
                default: {
                    tess__str s = ((tess__str *)col->data)[i];
                    char *copy = malloc(s.n + 1);
                    if (s.n) memcpy(copy, s.p, s.n);
                    copy[s.n] = '\0';
                    r->strs[r->nstrs++] = copy;
                    *v = tess__v_str(copy, s.n);
                }
                }
            }
        }
        r->nrows += b.nrows;
    }
    if (rc != TESS_NOTFOUND) {
        r->rc = rc;
        r->msg = strdup(tess__err_msg(&err));
        assert_int_equal(b.nrows, 0);
        /* the failure sticks */
        assert_int_equal(tess__reader_next(rd, &b, &err), rc);
        assert_string_equal(tess__err_msg(&err), r->msg);
    } else {
        /* the end sticks too */
        assert_int_equal(tess__reader_next(rd, &b, &err), TESS_NOTFOUND);
    }
    r->nbad = tess__reader_bad_count(rd);
    r->bad = strdup(tess__reader_bad_text(rd));
    r->bytes = tess__reader_bytes(rd);
    tess__reader_close(rd);
    tess__batch_release(&b);
out:
    tess__err_release(&err);
    unlink(path);
    free(path);
    return r;
}

static res *read_s(const char *data, const ropts *o)
{
    return read_n(data, strlen(data), o);
}

static res *csv(const char *data)
{
    ropts o = {0};
    return read_s(data, &o);
}

static res *jsonl(const char *data)
{
    ropts o = {0};
    o.fmt = TESS_FORMAT_JSONL;
    return read_s(data, &o);
}

static const tess__value *V(const res *r, size_t row, size_t col)
{
    assert_true(row < r->nrows);
    return &r->v[row * r->ncols + col];
}

#define ASSERT_OK(r)                                                                               \
    do {                                                                                           \
        if ((r)->rc != TESS_OK) fail_msg("rc %d: %s", (r)->rc, (r)->msg);                          \
    } while (0)

static void assert_int_v(const res *r, size_t row, size_t col, int64_t want)
{
    const tess__value *v = V(r, row, col);
    if (v->null) fail_msg("row %zu col %zu: null, want %lld", row, col, (long long)want);
    assert_int_equal(v->u.i, want);
}

static void assert_str_v(const res *r, size_t row, size_t col, const char *want, size_t n)
{
    const tess__value *v = V(r, row, col);
    if (v->null) fail_msg("row %zu col %zu: null, want \"%s\"", row, col, want);
    assert_int_equal(v->type, TESS_T_STRING);
    assert_int_equal(v->u.s.n, n);
    assert_memory_equal(v->u.s.p, want, n);
}
#define ASSERT_STR(r, row, col, lit) assert_str_v(r, row, col, lit, sizeof(lit) - 1)

static void assert_f_v(const res *r, size_t row, size_t col, double want)
{
    const tess__value *v = V(r, row, col);
    if (v->null) fail_msg("row %zu col %zu: null", row, col);
    if (memcmp(&v->u.f, &want, sizeof want) != 0)
        fail_msg("row %zu col %zu: %.17g, want %.17g", row, col, v->u.f, want);
}

static void assert_null_v(const res *r, size_t row, size_t col)
{
    if (!V(r, row, col)->null) fail_msg("row %zu col %zu: not null", row, col);
}

/* The read fails with TESS_EPARSE and exactly this message. */
static void expect_fail(res *r, const char *msg)
{
    if (r->rc != TESS_EPARSE)
        fail_msg("rc %d, want TESS_EPARSE (%s); message: %s", r->rc, msg, r->msg ? r->msg : "");
    if (strcmp(r->msg, msg) != 0) fail_msg("message\n  got:  %s\n  want: %s", r->msg, msg);
    res_free(r);
}

static int64_t ts(const char *s)
{
    int64_t us = 0;
    assert_int_equal(tess__ts_parse(s, strlen(s), &us, NULL), TESS_OK);
    return us;
}

/* ---- CSV ---------------------------------------------------------------------------------- */

static void test_csv_basic(void **state)
{
    (void)state;
    const char *text = "id,name,amount,ok,ts\n"
                       "1,alice,12.5,true,2026-01-01T00:00:00Z\n"
                       "-2,bob,-0.25,FALSE,2026-01-02 03:04:05\n"
                       ",,,,\n"
                       "3,,1e3,1,2026-03-01\n";
    res *r = csv(text);
    ASSERT_OK(r);
    assert_int_equal(r->nrows, 4);
    assert_int_v(r, 0, ID, 1);
    ASSERT_STR(r, 0, NAME, "alice");
    assert_f_v(r, 0, AMOUNT, 12.5);
    assert_true(V(r, 0, OK)->u.b);
    assert_int_v(r, 0, TS, ts("2026-01-01T00:00:00Z"));
    assert_int_v(r, 1, ID, -2);
    assert_f_v(r, 1, AMOUNT, -0.25);
    assert_false(V(r, 1, OK)->u.b);
    assert_int_v(r, 1, TS, ts("2026-01-02T03:04:05Z"));
    for (size_t c = 0; c < 5; c++)
        assert_null_v(r, 2, c);
    assert_null_v(r, 3, NAME);
    assert_f_v(r, 3, AMOUNT, 1000.0);
    assert_true(V(r, 3, OK)->u.b);
    assert_int_v(r, 3, TS, ts("2026-03-01"));
    for (int64_t i = 0; i < 4; i++)
        assert_int_equal(r->seq[i], i);
    assert_int_equal(r->nbad, 0);
    assert_string_equal(r->bad, "");
    assert_int_equal(r->bytes, strlen(text));
    res_free(r);
}

static void test_csv_quoting(void **state)
{
    (void)state;
    res *r = csv("\"id\",\"name\",amount,ok,ts\n"
                 "1,\"a,b\",\"1.5\",\"true\",\"2026-01-01\"\n"
                 "2,\"say \"\"hi\"\"\",,,\n"
                 "3,\"two\nlines\",,,\n"
                 "4,\"\",\"\",\"\",\"\"\n"
                 "5,\"\"\"\",,,\n"
                 "6,\"x\"\"\"\"y\",,,\n"
                 "7,\"\n\",,,\n"
                 "8,\"with \"\"quote\"\" and\nnewline, and comma\",,,\n");
    ASSERT_OK(r);
    assert_int_equal(r->nrows, 8);
    ASSERT_STR(r, 0, NAME, "a,b");
    assert_f_v(r, 0, AMOUNT, 1.5);
    assert_true(V(r, 0, OK)->u.b);
    ASSERT_STR(r, 1, NAME, "say \"hi\"");
    ASSERT_STR(r, 2, NAME, "two\nlines");
    /* "" is the empty string for strings, null for the other types */
    ASSERT_STR(r, 3, NAME, "");
    assert_null_v(r, 3, AMOUNT);
    assert_null_v(r, 3, OK);
    assert_null_v(r, 3, TS);
    ASSERT_STR(r, 4, NAME, "\"");
    ASSERT_STR(r, 5, NAME, "x\"\"y");
    ASSERT_STR(r, 6, NAME, "\n");
    ASSERT_STR(r, 7, NAME, "with \"quote\" and\nnewline, and comma");
    assert_int_v(r, 7, ID, 8);
    res_free(r);

    /* line numbers after multi-line fields are those of the row's first line */
    expect_fail(csv("id,name,amount,ok,ts\n"
                    "1,\"a\nb\nc\",,,\n"
                    "2,\"d\ne\",x,,\n"),
                "t.csv:5:3: column \"amount\": \"x\" is not a float64");
}

static void test_csv_syntax_errors(void **state)
{
    (void)state;
    expect_fail(csv("id,name,amount,ok,ts\n1,a\"b,,,\n"),
                "t.csv:2:2: column \"name\": a '\"' inside an unquoted field (quote the field "
                "and double its quotes: \"a \"\"b\"\" c\")");
    expect_fail(csv("id,name,amount,ok,ts\n1,\"ab\"c,,,\n"),
                "t.csv:2:2: column \"name\": unexpected characters after the closing quote of a "
                "field (expected a delimiter or the end of the line)");
    expect_fail(csv("id,name,amount,ok,ts\n1,\"ab\" ,,,\n"),
                "t.csv:2:2: column \"name\": unexpected characters after the closing quote of a "
                "field (expected a delimiter or the end of the line)");
    expect_fail(csv("id,name,amount,ok,ts\n1,a\rb,,,\n"),
                "t.csv:2:2: column \"name\": a carriage return (CR) outside quotes that does not "
                "end the line");
    expect_fail(csv("id,name,amount,ok,ts\n1,x,,,\n2,\"open,,,\n3,y,,,\n"),
                "t.csv:3:2: column \"name\": unterminated quoted field: no closing '\"' before "
                "the end of the file");
    expect_fail(csv("id,name,amount,ok,ts\n1,x,,,\n2,\"a\nb\",\"c\nd"),
                "t.csv:4:3: column \"amount\": unterminated quoted field: no closing '\"' before "
                "the end of the file");
    expect_fail(csv("id,name,amount,ok,ts\n1,x,,\n"),
                "t.csv:2: expected 5 fields as in the header, got 4");
    expect_fail(csv("id,name,amount,ok,ts\n1,x,,,,\n"),
                "t.csv:2: expected 5 fields as in the header, got 6");
    expect_fail(csv("id,name,amount,ok,ts\n1,x,,,\n\"7\"\n"),
                "t.csv:3: expected 5 fields as in the header, got 1");
    expect_fail(csv("id,na\"me,amount,ok,ts\n"),
                "t.csv:1:2: a '\"' inside an unquoted field (quote the field and double its "
                "quotes: \"a \"\"b\"\" c\") in the header");
    expect_fail(csv("id,\"name,amount,ok,ts\n"),
                "t.csv:1:2: unterminated quoted field: no closing '\"' before the end of the "
                "file");
}

static void test_csv_line_ends(void **state)
{
    (void)state;
    /* CRLF everywhere, a quoted CRLF kept as data, no final line end */
    res *r = csv("id,name,amount,ok,ts\r\n"
                 "1,a,1,true,2026-01-01\r\n"
                 "2,\"x\r\ny\",2,false,2026-01-02\r\n"
                 "3,c,3,,");
    ASSERT_OK(r);
    assert_int_equal(r->nrows, 3);
    ASSERT_STR(r, 0, NAME, "a");
    assert_int_v(r, 0, TS, ts("2026-01-01"));
    ASSERT_STR(r, 1, NAME, "x\r\ny");
    assert_int_v(r, 2, ID, 3);
    ASSERT_STR(r, 2, NAME, "c");
    assert_null_v(r, 2, TS);
    res_free(r);

    /* final line with a quoted last field and no line end; CR as the very last byte */
    r = csv("id,name,amount,ok,ts\n1,\"q\",,,\"2026-01-01\"");
    ASSERT_OK(r);
    assert_int_equal(r->nrows, 1);
    assert_int_v(r, 0, TS, ts("2026-01-01"));
    res_free(r);
    r = csv("id,name,amount,ok,ts\r\n1,a,,,\r");
    ASSERT_OK(r);
    assert_int_equal(r->nrows, 1);
    ASSERT_STR(r, 0, NAME, "a");
    res_free(r);

    /* blank lines are skipped (and counted in line numbers), CRLF ones too */
    r = csv("\n\r\nid,name,amount,ok,ts\n\n1,a,,,\n\r\n\n2,b,,,\n\n");
    ASSERT_OK(r);
    assert_int_equal(r->nrows, 2);
    assert_int_v(r, 1, ID, 2);
    res_free(r);
    expect_fail(csv("\nid,name,amount,ok,ts\r\n\r\n1,a,,,\r\n\n2,b,x,,\r\n"),
                "t.csv:6:3: column \"amount\": \"x\" is not a float64");
}

static void test_csv_bom(void **state)
{
    (void)state;
    res *r = csv("\xEF\xBB\xBFid,name,amount,ok,ts\n1,\xEF\xBB\xBFx,,,\n");
    ASSERT_OK(r);
    assert_int_equal(r->nrows, 1);
    assert_int_v(r, 0, ID, 1);
    ASSERT_STR(r, 0, NAME, "\xEF\xBB\xBFx"); /* only the first one is a BOM */
    res_free(r);
    /* BOM then a quoted header name */
    r = csv("\xEF\xBB\xBF\"id\",name,amount,ok,ts\n");
    ASSERT_OK(r);
    assert_int_equal(r->nrows, 0);
    res_free(r);
}

static void test_csv_delimiters(void **state)
{
    (void)state;
    ropts o = {0};
    o.delim = ';';
    res *r = read_s("id;name;amount;ok;ts\n1;\"a;b\";1,5;true;\n2;x,y;;;\n", &o);
    /* with ';' a comma is data: "1,5" is still not a float64 */
    expect_fail(r, "t.csv:2:3: column \"amount\": \"1,5\" is not a float64");
    r = read_s("id;name;amount;ok;ts\n1;\"a;b\";1.5;true;\n2;x,y;;;\n", &o);
    ASSERT_OK(r);
    assert_int_equal(r->nrows, 2);
    ASSERT_STR(r, 0, NAME, "a;b");
    assert_f_v(r, 0, AMOUNT, 1.5);
    ASSERT_STR(r, 1, NAME, "x,y");
    res_free(r);

    o.delim = '\t';
    r = read_s("ts\tok\tamount\tname\tid\n2026-01-01\t0\t2\t\"t\tab\"\t9\n", &o);
    ASSERT_OK(r);
    assert_int_equal(r->nrows, 1);
    assert_int_v(r, 0, ID, 9);
    ASSERT_STR(r, 0, NAME, "t\tab");
    assert_f_v(r, 0, AMOUNT, 2.0);
    assert_false(V(r, 0, OK)->u.b);
    res_free(r);
    expect_fail(read_s("id\tname\tamount\tok\tts\n1\ta b\t1 \t\t\n", &o),
                "t.csv:2:3: column \"amount\": \"1 \" is not a float64");
}

static void test_csv_header(void **state)
{
    (void)state;
    /* any order, extra columns ignored (even duplicated-looking values) */
    res *r = csv("extra1,ts,ok,amount,name,id,extra2\n"
                 "zz,2026-01-01,true,2.5,n,7,\"q,\"\"\"\n");
    ASSERT_OK(r);
    assert_int_equal(r->nrows, 1);
    assert_int_v(r, 0, ID, 7);
    ASSERT_STR(r, 0, NAME, "n");
    assert_f_v(r, 0, AMOUNT, 2.5);
    assert_true(V(r, 0, OK)->u.b);
    assert_int_v(r, 0, TS, ts("2026-01-01"));
    res_free(r);

    /* errors in ignored columns do not matter; their field count does */
    r = csv("id,junk,name,amount,ok,ts\n1,\xff not a number,a,,,\n");
    ASSERT_OK(r);
    res_free(r);

    expect_fail(csv("id,name,amout,ok,ts\n1,a,2,,\n"),
                "t.csv:1: missing column \"amount\" in the header; did you mean \"amout\"?");
    expect_fail(csv("id,name,ok\n"), "t.csv:1: missing column \"amount\" in the header\n"
                                     "t.csv:1: missing column \"ts\" in the header");
    expect_fail(csv("id,name,amount,ok,ts,name\n"),
                "t.csv:1:6: column \"name\" appears twice in the header (fields 2 and 6)");
    expect_fail(csv("x,id,name,amount,x,ok,ts,x\n"),
                "t.csv:1:5: column \"x\" appears twice in the header (fields 1 and 5)");
    expect_fail(csv("ID,Name,amount,ok,ts\n"),
                "t.csv:1: missing column \"id\" in the header; did you mean \"ID\"?\n"
                "t.csv:1: missing column \"name\" in the header; did you mean \"Name\"?");
    expect_fail(csv("id,name,amount,ok,ts\xff\n"),
                "t.csv:1:5: invalid UTF-8 in the header (byte 0xff): \"ts\\xff\"");
    /* a header with fields beyond the first allocation */
    char big[4096];
    size_t n = 0;
    for (int i = 0; i < 300; i++)
        n += (size_t)snprintf(big + n, sizeof big - n, "c%d,", i);
    n += (size_t)snprintf(big + n, sizeof big - n, "id,name,amount,ok,ts\n");
    for (int i = 0; i < 300; i++)
        big[n++] = ',';
    n += (size_t)snprintf(big + n, sizeof big - n, "5,e,,,\n");
    ropts o = {0};
    r = read_n(big, n, &o);
    ASSERT_OK(r);
    assert_int_equal(r->nrows, 1);
    assert_int_v(r, 0, ID, 5);
    ASSERT_STR(r, 0, NAME, "e");
    res_free(r);
}

static void test_csv_empty(void **state)
{
    (void)state;
    const char *want = "t.csv: empty file: expected a header line with the columns id, name, "
                       "amount, ok, ts";
    expect_fail(csv(""), want);
    expect_fail(csv("\xEF\xBB\xBF"), want);
    expect_fail(csv("\n\r\n\n"), want);
    res *r = csv("id,name,amount,ok,ts");
    ASSERT_OK(r);
    assert_int_equal(r->nrows, 0);
    assert_int_equal(r->batches, 0);
    res_free(r);
    r = csv("id,name,amount,ok,ts\n\n");
    ASSERT_OK(r);
    assert_int_equal(r->nrows, 0);
    res_free(r);
}

static void test_csv_types(void **state)
{
    (void)state;
    res *r = csv("id,name,amount,ok,ts\n"
                 "9223372036854775807,,0.1,True,2026-01-01T12:30:00.25+01:00\n"
                 "-9223372036854775808,,+.5,0,1999-12-31t23:59:59z\n"
                 "+0042,,5.,tRUE,2026-01-01 00:00:00.123456789\n"
                 "-0,,1.7976931348623157e308,false,0001-01-01\n"
                 "0,,4.9e-324,1,9999-12-31T23:59:59.999999Z\n"
                 "1,,-0.0,0,2026-06-01T00:00:00-02:30\n"
                 "2,,123456789012345678901234567890,1,2026-06-01\n"
                 "3,,1E-5,1,2026-06-01\n"
                 "4,,1e-400,1,2026-06-01\n");
    ASSERT_OK(r);
    assert_int_equal(r->nrows, 9);
    assert_int_v(r, 0, ID, INT64_MAX);
    assert_int_v(r, 1, ID, INT64_MIN);
    assert_int_v(r, 2, ID, 42);
    assert_int_v(r, 3, ID, 0);
    assert_f_v(r, 0, AMOUNT, 0.1);
    assert_f_v(r, 1, AMOUNT, 0.5);
    assert_f_v(r, 2, AMOUNT, 5.0);
    assert_f_v(r, 3, AMOUNT, 1.7976931348623157e308);
    assert_f_v(r, 4, AMOUNT, 4.9e-324);
    assert_f_v(r, 5, AMOUNT, -0.0);
    assert_f_v(r, 6, AMOUNT, 123456789012345678901234567890.0);
    assert_f_v(r, 7, AMOUNT, 1e-5);
    assert_f_v(r, 8, AMOUNT, 0.0);
    assert_true(V(r, 0, OK)->u.b);
    assert_false(V(r, 1, OK)->u.b);
    assert_true(V(r, 2, OK)->u.b);
    assert_false(V(r, 3, OK)->u.b);
    assert_int_v(r, 0, TS, ts("2026-01-01T11:30:00.25Z"));
    assert_int_v(r, 1, TS, ts("1999-12-31T23:59:59Z"));
    assert_int_v(r, 2, TS, ts("2026-01-01T00:00:00.123456Z"));
    assert_int_v(r, 5, TS, ts("2026-06-01T02:30:00Z"));
    res_free(r);

    /* the fast path of YYYY-MM-DDTHH:MM:SSZ (with its cache of the day) agrees with the rest */
    r = csv("id,name,amount,ok,ts\n"
            "1,,,,2026-03-01T10:00:00Z\n"
            "2,,,,2026-03-01T23:59:59Z\n"
            "3,,,,2026-03-02T00:00:00Z\n"
            "4,,,,2026-03-01T00:00:01Z\n"
            "5,,,,1969-12-31T23:59:59Z\n"
            "6,,,,2024-02-29T12:00:00Z\n");
    ASSERT_OK(r);
    assert_int_v(r, 0, TS, ts("2026-03-01 10:00:00"));
    assert_int_v(r, 1, TS, ts("2026-03-01 23:59:59"));
    assert_int_v(r, 2, TS, ts("2026-03-02"));
    assert_int_v(r, 3, TS, ts("2026-03-01 00:00:01"));
    assert_int_v(r, 4, TS, -1000000);
    assert_int_v(r, 5, TS, 1709208000LL * 1000000);
    res_free(r);

    struct {
        const char *row, *msg;
    } bad[] = {
        {"12x,,,,", "t.csv:2:1: column \"id\": \"12x\" is not an int64"},
        {"1.0,,,,", "t.csv:2:1: column \"id\": \"1.0\" is not an int64"},
        {" 1,,,,", "t.csv:2:1: column \"id\": \" 1\" is not an int64"},
        {"1 ,,,,", "t.csv:2:1: column \"id\": \"1 \" is not an int64"},
        {"-,,,,", "t.csv:2:1: column \"id\": \"-\" is not an int64"},
        {"+-1,,,,", "t.csv:2:1: column \"id\": \"+-1\" is not an int64"},
        {"9223372036854775808,,,,",
         "t.csv:2:1: column \"id\": \"9223372036854775808\" is not an int64 (out of range)"},
        {"-9223372036854775809,,,,",
         "t.csv:2:1: column \"id\": \"-9223372036854775809\" is not an int64 (out of range)"},
        {"100000000000000000000000,,,,",
         "t.csv:2:1: column \"id\": \"100000000000000000000000\" is not an int64 (out of range)"},
        {"1e3,,,,", "t.csv:2:1: column \"id\": \"1e3\" is not an int64"},
        {",,12,5,,", "t.csv:2: expected 5 fields as in the header, got 6"},
        {",,\"12,5\",,", "t.csv:2:3: column \"amount\": \"12,5\" is not a float64"},
        {",,inf,,", "t.csv:2:3: column \"amount\": \"inf\" is not a float64"},
        {",,nan,,", "t.csv:2:3: column \"amount\": \"nan\" is not a float64"},
        {",,NaN,,", "t.csv:2:3: column \"amount\": \"NaN\" is not a float64"},
        {",,0x10,,", "t.csv:2:3: column \"amount\": \"0x10\" is not a float64"},
        {",,.,,", "t.csv:2:3: column \"amount\": \".\" is not a float64"},
        {",,1e,,", "t.csv:2:3: column \"amount\": \"1e\" is not a float64"},
        {",,1e+,,", "t.csv:2:3: column \"amount\": \"1e+\" is not a float64"},
        {",,e5,,", "t.csv:2:3: column \"amount\": \"e5\" is not a float64"},
        {",,1.2.3,,", "t.csv:2:3: column \"amount\": \"1.2.3\" is not a float64"},
        {",, 1.5,,", "t.csv:2:3: column \"amount\": \" 1.5\" is not a float64"},
        {",,1e400,,", "t.csv:2:3: column \"amount\": \"1e400\" is not a float64 (out of range)"},
        {",,-1e309,,", "t.csv:2:3: column \"amount\": \"-1e309\" is not a float64 (out of range)"},
        {",,,yes,", "t.csv:2:4: column \"ok\": \"yes\" is not a bool"},
        {",,,2,", "t.csv:2:4: column \"ok\": \"2\" is not a bool"},
        {",,,truee,", "t.csv:2:4: column \"ok\": \"truee\" is not a bool"},
        {",,,\" true\",", "t.csv:2:4: column \"ok\": \" true\" is not a bool"},
        {",,,,2026-13-01",
         "t.csv:2:5: column \"ts\": \"2026-13-01\" is not a timestamp (month out of range)"},
        {",,,,2026-02-30T00:00:00Z", "t.csv:2:5: column \"ts\": \"2026-02-30T00:00:00Z\" is not a "
                                     "timestamp (day out of range)"},
        {",,,,2026-01-01T24:00:00Z", "t.csv:2:5: column \"ts\": \"2026-01-01T24:00:00Z\" is not a "
                                     "timestamp (time of day out of range)"},
        {",,,,2026-01-01T23:5a:00Z", "t.csv:2:5: column \"ts\": \"2026-01-01T23:5a:00Z\" is not a "
                                     "timestamp (expected HH:MM:SS)"},
        {",,,,1700000000",
         "t.csv:2:5: column \"ts\": \"1700000000\" is not a timestamp (expected YYYY-MM-DD)"},
        {",,,, 2026-01-01",
         "t.csv:2:5: column \"ts\": \" 2026-01-01\" is not a timestamp (spaces around it)"},
        {",,,,\"2026-01-01 \"",
         "t.csv:2:5: column \"ts\": \"2026-01-01 \" is not a timestamp (spaces around it)"},
        {"1,\"ab\xc3\",,,", "t.csv:2:2: column \"name\": invalid UTF-8 (byte 0xc3 at offset 2 of "
                            "the value): \"ab\\xc3\""},
        {"1,\xed\xa0\x80,,,", "t.csv:2:2: column \"name\": invalid UTF-8 (byte 0xed at offset 0 "
                              "of the value): \"\\xed\\xa0\\x80\""},
        {"1,\xc0\xaf,,,", "t.csv:2:2: column \"name\": invalid UTF-8 (byte 0xc0 at offset 0 of "
                          "the value): \"\\xc0\\xaf\""},
        {"1,\xf4\x90\x80\x80,,,", "t.csv:2:2: column \"name\": invalid UTF-8 (byte 0xf4 at "
                                  "offset 0 of the value): \"\\xf4\\x90\\x80\\x80\""},
        /* long values are cut, control characters escaped */
        {",,\"0123456789\t0123456789\"\"0123456789\n0123456789xyz\",,",
         "t.csv:2:3: column \"amount\": \"0123456789\\t0123456789\\\"0123456789\\n0123456...\" "
         "is not a float64"},
        {",,\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
         "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
         "\xc3\xa9\",,",
         "t.csv:2:3: column \"amount\": \"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
         "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
         "\xc3\xa9\xc3\xa9...\" is not a float64"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[512];
        snprintf(text, sizeof text, "id,name,amount,ok,ts\n%s\n", bad[i].row);
        expect_fail(csv(text), bad[i].msg);
    }
}

/* Every float64 form is read exactly as strtod reads it. */
static void test_float_exact(void **state)
{
    (void)state;
    static const tess__column one[] = {{"x", TESS_T_FLOAT64, {0}}};
    tess__buf text = TESS__BUF_INIT;
    double *want = malloc(20000 * sizeof *want);
    uint64_t s = 88172645463325252ULL;
    tess__buf_puts(&text, "x\n");
    for (int i = 0; i < 20000; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        char v[64];
        switch (i % 5) {
        case 0:
            snprintf(v, sizeof v, "%llu.%02llu", (unsigned long long)(s % 100000),
                     (unsigned long long)(s >> 40) % 100);
            break;
        case 1:
            snprintf(v, sizeof v, "%.17g",
                     (double)(s >> 11) * 0x1p-53 * pow(10, (int)(s % 40) - 20));
            break;
        case 2: {
            double d;
            uint64_t bits = s & ~(0x7FFULL << 52);
            bits |= (uint64_t)((s >> 3) % 2046 + 1) << 52;
            memcpy(&d, &bits, sizeof d);
            snprintf(v, sizeof v, "%.17g", d);
            break;
        }
        case 3:
            snprintf(v, sizeof v, "%llu%llue%d", (unsigned long long)s,
                     (unsigned long long)(s >> 7), (int)(s % 500) - 300);
            break;
        default:
            snprintf(v, sizeof v, "-0.%019llu", (unsigned long long)(s % 10000000000000000000ULL));
            break;
        }
        want[i] = strtod(v, NULL);
        tess__buf_printf(&text, "%s\n", v);
    }
    ropts o = {0};
    o.cols = one;
    o.ncols = 1;
    o.cap = 4096;
    res *r = read_n(text.p, text.len, &o);
    ASSERT_OK(r);
    assert_int_equal(r->nrows, 20000);
    for (size_t i = 0; i < 20000; i++)
        assert_f_v(r, i, 0, want[i]);
    res_free(r);
    free(want);
    tess__buf_release(&text);
}

static void test_csv_max_bad_rows(void **state)
{
    (void)state;
    const char *text = "id,name,amount,ok,ts\n"
                       "1,a,,,\n"
                       "x,b,,,\n"
                       "3,c,,\n"
                       "4,\"d\ne\",,,\n"
                       "5,e,,maybe,\n"
                       "6,f,,,\n";
    ropts o = {0};
    o.max_bad = 3;
    o.cap = 2;
    res *r = read_s(text, &o);
    ASSERT_OK(r);
    assert_int_equal(r->nrows, 3);
    assert_int_v(r, 0, ID, 1);
    assert_int_v(r, 1, ID, 4);
    ASSERT_STR(r, 1, NAME, "d\ne");
    assert_int_v(r, 2, ID, 6);
    for (int64_t i = 0; i < 3; i++)
        assert_int_equal(r->seq[i], i);
    assert_int_equal(r->nbad, 3);
    assert_string_equal(r->bad, "t.csv:3:1: column \"id\": \"x\" is not an int64\n"
                                "t.csv:4: expected 5 fields as in the header, got 4\n"
                                "t.csv:7:4: column \"ok\": \"maybe\" is not a bool\n");
    res_free(r);

    o.max_bad = 2;
    expect_fail(read_s(text, &o), "t.csv:7:4: column \"ok\": \"maybe\" is not a bool (too many "
                                  "bad rows: 2 skipped, max_bad_rows is 2)");
    o.max_bad = 0;
    expect_fail(read_s(text, &o), "t.csv:3:1: column \"id\": \"x\" is not an int64");
    /* syntax problems are bad rows too, an unclosed quote at the end is not */
    o.max_bad = 5;
    r = read_s("id,name,amount,ok,ts\n1,a\"b,,,\n2,\"x\"y,,,\n3,c,,,\n", &o);
    ASSERT_OK(r);
    assert_int_equal(r->nrows, 1);
    assert_int_equal(r->nbad, 2);
    res_free(r);
    expect_fail(read_s("id,name,amount,ok,ts\n1,a,,,\n2,\"b,,,\n", &o),
                "t.csv:3:2: column \"name\": unterminated quoted field: no closing '\"' before "
                "the end of the file");
}

static void test_csv_row_cap(void **state)
{
    (void)state;
    ropts o = {0};
    o.max_row = 64;
    o.chunk = 16;
    char text[1024];
    /* a row of exactly 64 bytes (terminator included) is fine, 65 is not */
    snprintf(text, sizeof text, "id,name,amount,ok,ts\n1,%s,,,\n",
             "0123456789012345678901234567890123456789012345678901234567");
    res *r = read_s(text, &o);
    ASSERT_OK(r);
    assert_int_equal(r->nrows, 1);
    res_free(r);
    snprintf(text, sizeof text, "id,name,amount,ok,ts\n1,%s,,,\n2,,,,\n",
             "01234567890123456789012345678901234567890123456789012345678");
    expect_fail(read_s(text, &o), "t.csv:2: row longer than the limit of 64 bytes");
    snprintf(text, sizeof text, "id,name,amount,ok,ts\n1,\"%s,,,\n2,,,,\n",
             "01234567890123456789012345678901234567890123456789012345678");
    expect_fail(read_s(text, &o), "t.csv:2: row longer than the limit of 64 bytes (field 2 opens "
                                  "a quote that is never closed?)");
    /* the same at the end of the file, without a line end */
    snprintf(text, sizeof text, "id,name,amount,ok,ts\n1,%s,,,",
             "012345678901234567890123456789012345678901234567890123456789");
    expect_fail(read_s(text, &o), "t.csv:2: row longer than the limit of 64 bytes");

    /* the default cap: 16 MiB */
    size_t big = ((size_t)16 << 20) + 100;
    char *huge = malloc(big + 64);
    size_t n = (size_t)snprintf(huge, 64, "id,name,amount,ok,ts\n1,");
    memset(huge + n, 'a', big);
    n += big;
    memcpy(huge + n, ",,,\n", 4);
    n += 4;
    ropts d = {0};
    expect_fail(read_n(huge, n, &d), "t.csv:2: row longer than the limit of 16777216 bytes");
    /* a long row under the cap spans several chunks */
    n = (size_t)snprintf(huge, 64, "id,name,amount,ok,ts\n1,\"");
    memset(huge + n, 'b', (size_t)10 << 20);
    n += (size_t)10 << 20;
    memcpy(huge + n, "\"\"\",,,\n2,,,,\n", 13);
    n += 13;
    r = read_n(huge, n, &d);
    ASSERT_OK(r);
    assert_int_equal(r->nrows, 2);
    assert_int_equal(V(r, 0, NAME)->u.s.n, ((size_t)10 << 20) + 1);
    assert_int_equal(V(r, 0, NAME)->u.s.p[((size_t)10 << 20)], '"');
    res_free(r);
    free(huge);
}

/* The same file read with every small chunk size gives the same rows. */
static void test_csv_chunks(void **state)
{
    (void)state;
    const char *text = "\xEF\xBB\xBF\"id\",name,amount,ok,ts\r\n"
                       "1,\"a,\"\"b\"\"\r\nc\",1.25,true,2026-01-01T00:00:00Z\r\n"
                       "\r\n"
                       "2,,,,\n"
                       "3,\"\",-7e-3,0,\"2026-02-03 04:05:06.5\"\n"
                       "4,\"x\"\"\",,,\r"; /* a final CR */
    ropts o = {0};
    res *ref = read_s(text, &o);
    ASSERT_OK(ref);
    assert_int_equal(ref->nrows, 4);
    ASSERT_STR(ref, 0, NAME, "a,\"b\"\r\nc");
    ASSERT_STR(ref, 3, NAME, "x\"");
    for (size_t chunk = 1; chunk <= 40; chunk++) {
        for (size_t cap = 1; cap <= 5; cap += 2) {
            o.chunk = chunk;
            o.cap = cap;
            res *r = read_s(text, &o);
            ASSERT_OK(r);
            assert_int_equal(r->nrows, ref->nrows);
            for (size_t i = 0; i < r->nrows * r->ncols; i++)
                if (!tess__value_same(&r->v[i], &ref->v[i]))
                    fail_msg("chunk %zu: value %zu", chunk, i);
            assert_int_equal(r->bytes, strlen(text));
            res_free(r);
        }
        /* messages do not depend on the chunk size either */
        o.cap = 0;
        expect_fail(read_s("id,name,amount,ok,ts\r\n1,\"a\r\n\",,,\r\n2,\"b\",x,,\r\n", &o),
                    "t.csv:4:3: column \"amount\": \"x\" is not a float64");
    }
    res_free(ref);
}

/* ---- JSON Lines --------------------------------------------------------------------------- */

static void test_jsonl_basic(void **state)
{
    (void)state;
    res *r =
        jsonl("{\"id\": 1, \"name\": \"alice\", \"amount\": 12.5, \"ok\": true, \"ts\": "
              "\"2026-01-01T00:00:00Z\"}\n"
              "\n"
              "  {\"ts\":\"2026-01-02\",\"ok\":false,\"amount\":-2,\"name\":\"b\",\"id\":-2}  \r\n"
              "{}\n"
              "{\"id\": null, \"name\": null, \"other\": {\"a\": [1, 2, {\"b\": null}], \"c\": "
              "\"\\u0041\"}, \"more\": [[], {}, -1.5e3, true, false, null, \"s\"]}\n"
              "{\"id\": 3.0, \"amount\": 1e3, \"name\": \"\"}\n"
              "{\"id\": 1e3, \"amount\": 0}\n"
              "{\"id\": -0, \"amount\": -0.0}\n"
              "{\"id\": 12.5e1, \"amount\": 1E-2}\n"
              "{\"id\": 9223372036854775807}\n"
              "{\"id\": -9223372036854775808}\n"
              "{\"id\": 92233720368547758.07e2}\n"
              "{\"id\":7,\"name\":\"last\"}");
    ASSERT_OK(r);
    assert_int_equal(r->nrows, 12);
    assert_int_v(r, 0, ID, 1);
    ASSERT_STR(r, 0, NAME, "alice");
    assert_f_v(r, 0, AMOUNT, 12.5);
    assert_true(V(r, 0, OK)->u.b);
    assert_int_v(r, 0, TS, ts("2026-01-01"));
    assert_int_v(r, 1, ID, -2);
    ASSERT_STR(r, 1, NAME, "b");
    assert_f_v(r, 1, AMOUNT, -2.0);
    assert_false(V(r, 1, OK)->u.b);
    assert_int_v(r, 1, TS, ts("2026-01-02"));
    for (size_t c = 0; c < 5; c++) {
        assert_null_v(r, 2, c);
        assert_null_v(r, 3, c);
    }
    assert_int_v(r, 4, ID, 3);
    assert_f_v(r, 4, AMOUNT, 1000.0);
    ASSERT_STR(r, 4, NAME, "");
    assert_int_v(r, 5, ID, 1000);
    assert_f_v(r, 5, AMOUNT, 0.0);
    assert_int_v(r, 6, ID, 0);
    assert_f_v(r, 6, AMOUNT, -0.0);
    assert_int_v(r, 7, ID, 125);
    assert_f_v(r, 7, AMOUNT, 0.01);
    assert_int_v(r, 8, ID, INT64_MAX);
    assert_int_v(r, 9, ID, INT64_MIN);
    assert_int_v(r, 10, ID, 9223372036854775807LL);
    ASSERT_STR(r, 11, NAME, "last");
    for (int64_t i = 0; i < 12; i++)
        assert_int_equal(r->seq[i], i);
    res_free(r);

    /* a BOM, and blank lines only */
    r = jsonl("\xEF\xBB\xBF{\"id\":1}\n");
    ASSERT_OK(r);
    assert_int_equal(r->nrows, 1);
    res_free(r);
    r = jsonl("");
    ASSERT_OK(r);
    assert_int_equal(r->nrows, 0);
    res_free(r);
    r = jsonl("\n  \n\t\r\n");
    ASSERT_OK(r);
    assert_int_equal(r->nrows, 0);
    res_free(r);
}

static void test_jsonl_strings(void **state)
{
    (void)state;
    res *r = jsonl("{\"name\": \"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\"}\n"
                   "{\"name\": \"\\u0041\\u00e9\\u20AC\\uD83D\\uDE00\"}\n"
                   "{\"name\": \"caf\xc3\xa9 \xf0\x9f\x98\x80 \\u0000x\"}\n"
                   "{\"n\\u0061me\": \"escaped key\"}\n"
                   "{\"ts\": \"2026-01-0\\u0031\"}\n");
    ASSERT_OK(r);
    assert_int_equal(r->nrows, 5);
    ASSERT_STR(r, 0, NAME, "a\"b\\c/d\b\f\n\r\t");
    ASSERT_STR(r, 1, NAME, "A\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
    ASSERT_STR(r, 2, NAME, "caf\xc3\xa9 \xf0\x9f\x98\x80 \0x");
    ASSERT_STR(r, 3, NAME, "escaped key");
    assert_int_v(r, 4, TS, ts("2026-01-01"));
    res_free(r);
}

static void test_jsonl_errors(void **state)
{
    (void)state;
    struct {
        const char *line, *msg;
    } bad[] = {
        {"[1, 2]",
         "t.jsonl:1:1: invalid JSON: expected an object ('{') at the start of the line, got '['"},
        {"\"id\"",
         "t.jsonl:1:1: invalid JSON: expected an object ('{') at the start of the line, got '\"'"},
        {"  42",
         "t.jsonl:1:3: invalid JSON: expected an object ('{') at the start of the line, got '4'"},
        {"{\"id\": 1", "t.jsonl:1:9: invalid JSON: expected ',' or '}', got the end of the line"},
        {"{\"id\": 1,}", "t.jsonl:1:10: invalid JSON: expected a key (a string), got '}'"},
        {"{id: 1}", "t.jsonl:1:2: invalid JSON: expected a key (a string), got 'i'"},
        {"{\"id\" 1}", "t.jsonl:1:7: invalid JSON: expected ':' after the key, got '1'"},
        {"{\"id\": 1} x",
         "t.jsonl:1:11: invalid JSON: unexpected characters after the object, got 'x'"},
        {"{\"id\": 1}{}",
         "t.jsonl:1:10: invalid JSON: unexpected characters after the object, got '{'"},
        {"{\"id\": 01}", "t.jsonl:1:8: invalid JSON: invalid number, got '0'"},
        {"{\"id\": +1}", "t.jsonl:1:8: invalid JSON: expected a value, got '+'"},
        {"{\"id\": 1.}", "t.jsonl:1:8: invalid JSON: invalid number, got '1'"},
        {"{\"id\": .5}", "t.jsonl:1:8: invalid JSON: expected a value, got '.'"},
        {"{\"id\": tru}", "t.jsonl:1:8: invalid JSON: expected a value, got 't'"},
        {"{\"id\": NaN}", "t.jsonl:1:8: invalid JSON: expected a value, got 'N'"},
        {"{\"name\": \"abc}",
         "t.jsonl:1:10: invalid JSON: unterminated string (no closing '\"' on this line)"},
        {"{\"name\": \"a\tb\"}", "t.jsonl:1:12: invalid JSON: control character 0x09 in a string "
                                 "(write it as an escape, e.g. \\n)"},
        {"{\"name\": \"\\x\"}", "t.jsonl:1:11: invalid JSON: invalid escape \\x in a string"},
        {"{\"name\": \"\\u12G4\"}", "t.jsonl:1:11: invalid JSON: \\u needs 4 hexadecimal digits"},
        {"{\"name\": \"\\u12\"}", "t.jsonl:1:11: invalid JSON: \\u needs 4 hexadecimal digits"},
        {"{\"name\": \"a\\uD83D\"}", "t.jsonl:1:12: invalid JSON: high surrogate \\uD83D not "
                                     "followed by a low surrogate \\uDC00-\\uDFFF"},
        {"{\"name\": \"\\uD83Dx\\uDE00\"}", "t.jsonl:1:11: invalid JSON: high surrogate \\uD83D "
                                            "not followed by a low surrogate \\uDC00-\\uDFFF"},
        {"{\"name\": \"\\uDE00\"}", "t.jsonl:1:11: invalid JSON: lone low surrogate \\uDE00"},
        {"{\"name\": \"ab\xff\"}", "t.jsonl:1:13: invalid UTF-8 in a string (byte 0xff)"},
        {"{\"x\xc3\": 1}", "t.jsonl:1:4: invalid UTF-8 in a string (byte 0xc3)"},
        {"{\"other\": \"\\q\"}", "t.jsonl:1:12: invalid JSON: invalid escape \\q in a string"},
        {"{\"other\": [1, 2}", "t.jsonl:1:16: invalid JSON: expected ',' or ']', got '}'"},
        {"{\"other\": {\"a\" 1}}",
         "t.jsonl:1:16: invalid JSON: expected ':' after the key, got '1'"},
        {"{\"other\": {1: 2}}",
         "t.jsonl:1:12: invalid JSON: expected a key (a string) or '}', got '1'"},
        {"{\"other\": [1,]}", "t.jsonl:1:14: invalid JSON: expected a value, got ']'"},
        {"{\"id\": 1, \"id\": 2}", "t.jsonl:1:11: key \"id\" appears twice in the object"},
        /* types */
        {"{\"id\": 3.5}", "t.jsonl:1:8: column \"id\": 3.5 is not an int64 (not an integer)"},
        {"{\"id\": 1e-1}", "t.jsonl:1:8: column \"id\": 1e-1 is not an int64 (not an integer)"},
        {"{\"id\": 9223372036854775808}",
         "t.jsonl:1:8: column \"id\": 9223372036854775808 is not an int64 (out of range)"},
        {"{\"id\": 1e19}", "t.jsonl:1:8: column \"id\": 1e19 is not an int64 (out of range)"},
        {"{\"id\": 1e999999999}",
         "t.jsonl:1:8: column \"id\": 1e999999999 is not an int64 (out of range)"},
        {"{\"id\": \"12\"}", "t.jsonl:1:8: column \"id\": \"12\" is not an int64"},
        {"{\"id\": true}", "t.jsonl:1:8: column \"id\": true is not an int64"},
        {"{\"id\": {\"a\": 1}}", "t.jsonl:1:8: column \"id\": an object is not an int64"},
        {"{\"amount\": [1.5]}", "t.jsonl:1:12: column \"amount\": an array is not a float64"},
        {"{\"amount\": \"1.5\"}", "t.jsonl:1:12: column \"amount\": \"1.5\" is not a float64"},
        {"{\"amount\": 1e400}",
         "t.jsonl:1:12: column \"amount\": 1e400 is not a float64 (out of range)"},
        {"{\"ok\": 1}", "t.jsonl:1:8: column \"ok\": 1 is not a bool"},
        {"{\"ok\": \"true\"}", "t.jsonl:1:8: column \"ok\": \"true\" is not a bool"},
        {"{\"name\": 12}", "t.jsonl:1:10: column \"name\": 12 is not a string"},
        {"{\"name\": false}", "t.jsonl:1:10: column \"name\": false is not a string"},
        {"{\"ts\": 1700000000}",
         "t.jsonl:1:8: column \"ts\": 1700000000 is not a timestamp (write timestamps as strings)"},
        {"{\"ts\": \"2026-02-30\"}",
         "t.jsonl:1:8: column \"ts\": \"2026-02-30\" is not a timestamp (day out of range)"},
        {"{\"ts\": \"2026-01-01\\n\"}", "t.jsonl:1:8: column \"ts\": \"2026-01-01\\n\" is not a "
                                        "timestamp (expected 'T' or ' ' after the date)"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[512];
        snprintf(text, sizeof text, "%s\n", bad[i].line);
        expect_fail(jsonl(text), bad[i].msg);
        /* the same at the end of the file without a line feed */
        expect_fail(jsonl(bad[i].line), bad[i].msg);
    }
    /* line numbers count blank lines; deep nesting is fine up to the limit */
    expect_fail(jsonl("{}\n\n{\"id\": 1}\r\n{\"id\": x}\n"),
                "t.jsonl:4:8: invalid JSON: expected a value, got 'x'");
    char deep[5000];
    size_t n = (size_t)snprintf(deep, sizeof deep, "{\"other\": ");
    for (int i = 0; i < 1024; i++)
        deep[n++] = '[';
    for (int i = 0; i < 1024; i++)
        deep[n++] = ']';
    deep[n++] = '}';
    deep[n++] = '\n';
    ropts o = {0};
    o.fmt = TESS_FORMAT_JSONL;
    res *r = read_n(deep, n, &o);
    ASSERT_OK(r);
    assert_int_equal(r->nrows, 1);
    res_free(r);
    n = (size_t)snprintf(deep, sizeof deep, "{\"other\": ");
    for (int i = 0; i < 1025; i++)
        deep[n++] = '[';
    deep[n++] = '\n';
    expect_fail(read_n(deep, n, &o),
                "t.jsonl:1:1035: invalid JSON: nested deeper than 1024 levels");
}

static void test_jsonl_bad_rows_and_cap(void **state)
{
    (void)state;
    ropts o = {0};
    o.fmt = TESS_FORMAT_JSONL;
    o.max_bad = 10;
    o.cap = 1;
    res *r = read_s("{\"id\": 1}\n[]\n{\"id\": \"2\"}\n{\"id\": 3}\n{\"id\"\n{\"id\": 4}", &o);
    ASSERT_OK(r);
    assert_int_equal(r->nrows, 3);
    assert_int_v(r, 2, ID, 4);
    assert_int_equal(r->seq[2], 2);
    assert_int_equal(r->nbad, 3);
    assert_string_equal(
        r->bad,
        "t.jsonl:2:1: invalid JSON: expected an object ('{') at the start of the line, got '['\n"
        "t.jsonl:3:8: column \"id\": \"2\" is not an int64\n"
        "t.jsonl:5:6: invalid JSON: expected ':' after the key, got the end of the line\n");
    res_free(r);

    o.max_bad = 0;
    o.max_row = 20;
    o.chunk = 7;
    r = read_s("{\"name\": \"12345678\"}\n{\"id\": 1}", &o); /* 21 bytes with its LF */
    expect_fail(r, "t.jsonl:1: line longer than the limit of 20 bytes");
    r = read_s("{\"name\": \"1234567\"}\n{\"id\": 1}", &o);
    ASSERT_OK(r);
    assert_int_equal(r->nrows, 2);
    res_free(r);
    expect_fail(read_s("{\"id\": 1}\n{\"name\": \"123456789\"}", &o),
                "t.jsonl:2: line longer than the limit of 20 bytes");
}

static void test_jsonl_chunks(void **state)
{
    (void)state;
    const char *text =
        "\xEF\xBB\xBF{\"id\": 1, \"name\": \"\\uD83D\\uDE00 \xc3\xa9\", \"x\": [1, {\"y\": "
        "\"z\"}]}\r\n"
        "\n"
        "{\"amount\": 1.5e-3, \"ts\": \"2026-01-01T00:00:00.000001Z\", \"ok\": true}\n"
        "{\"id\": null}";
    ropts o = {0};
    o.fmt = TESS_FORMAT_JSONL;
    res *ref = read_s(text, &o);
    ASSERT_OK(ref);
    assert_int_equal(ref->nrows, 3);
    for (size_t chunk = 1; chunk <= 30; chunk++) {
        o.chunk = chunk;
        res *r = read_s(text, &o);
        ASSERT_OK(r);
        assert_int_equal(r->nrows, ref->nrows);
        for (size_t i = 0; i < r->nrows * r->ncols; i++)
            assert_true(tess__value_same(&r->v[i], &ref->v[i]));
        res_free(r);
    }
    res_free(ref);
}

/* ---- the rest ----------------------------------------------------------------------------- */

static void test_open_errors(void **state)
{
    (void)state;
    tess__source src;
    memset(&src, 0, sizeof src);
    src.schema = S5;
    src.nschema = 5;
    tess__reader_opts o = {TESS_FORMAT_CSV, 0, 0, "nope.csv", 0, 0};
    tess__reader *r = (tess__reader *)&src;
    tess__err err = TESS__ERR_INIT;
    assert_int_equal(tess__reader_open("/nonexistent/x.csv", &src, &o, &r, &err), TESS_EIO);
    assert_null(r);
    assert_string_equal(tess__err_msg(&err), "nope.csv: cannot open: No such file or directory");
    /* a directory opens but cannot be read */
    assert_int_equal(tess__reader_open(tmpdir, &src, &o, &r, &err), TESS_EIO);
    assert_string_equal(tess__err_msg(&err), "nope.csv: cannot read: Is a directory");
    o.delimiter = '"';
    assert_int_equal(tess__reader_open("/nonexistent/x.csv", &src, &o, &r, &err), TESS_EINVAL);
    o.delimiter = 0;
    o.format = TESS_FORMAT_NONE;
    assert_int_equal(tess__reader_open("/nonexistent/x.csv", &src, &o, &r, &err), TESS_EINVAL);

    /* a batch of another shape is refused */
    char *path = write_tmp("id,name,amount,ok,ts\n1,a,,,\n", 27, "csv");
    o.format = TESS_FORMAT_CSV;
    assert_int_equal(tess__reader_open(path, &src, &o, &r, &err), TESS_OK);
    tess__type wrong[5] = {TESS_T_INT64, TESS_T_STRING, TESS_T_INT64, TESS_T_BOOL,
                           TESS_T_TIMESTAMP};
    tess__batch b;
    assert_int_equal(tess__batch_init(&b, wrong, 5, 10), TESS_OK);
    assert_int_equal(tess__reader_next(r, &b, &err), TESS_EINVAL);
    tess__batch_release(&b);
    tess__reader_close(r);
    tess__reader_close(NULL);
    unlink(path);
    free(path);
    tess__err_release(&err);
}

/* Every allocation the reader makes may fail: the error is clean and nothing leaks. */
static void test_alloc_failures(void **state)
{
    (void)state;
    const char *texts[2] = {
        "id,name,amount,ok,ts\n1,\"a\"\"b\",1.5,true,2026-01-01\n2,x,,,\n"
        "3,bad,x,,\n4,y,123456789012345678901234567890.5,,\n",
        "{\"id\": 1, \"name\": \"a\\u00e9\", \"ts\": \"2026-01-0\\u0031\"}\n"
        "{\"id\": \"bad\"}\n{\"name\": \"x\"}\n{\"amount\": 1e-400, \"o\": [{}]}\n"};
    tess__format fmts[2] = {TESS_FORMAT_CSV, TESS_FORMAT_JSONL};
    tess__source src;
    memset(&src, 0, sizeof src);
    src.schema = S5;
    src.nschema = 5;
    tess__type types[5];
    for (int i = 0; i < 5; i++)
        types[i] = S5[i].type;
    for (int k = 0; k < 2; k++) {
        char *path = write_tmp(texts[k], strlen(texts[k]), k ? "jsonl" : "csv");
        for (long n = 0;; n++) {
            tess__err err = TESS__ERR_INIT;
            tess__reader_opts o = {fmts[k], 0, 1, "t", 8, 0};
            tess__reader *r = NULL;
            tess__batch b;
            assert_int_equal(tess__batch_init(&b, types, 5, 2), TESS_OK);
            tess__alloc_fail_after(n);
            int rc = tess__reader_open(path, &src, &o, &r, &err);
            size_t rows = 0;
            if (rc == TESS_OK) {
                while ((rc = tess__reader_next(r, &b, &err)) == TESS_OK)
                    rows += b.nrows;
            }
            long made = tess__alloc_fail_after(-1);
            (void)made;
            tess__reader_close(r);
            tess__batch_release(&b);
            tess__err_release(&err);
            if (rc == TESS_NOTFOUND) {
                assert_int_equal(rows, 3);
                break; /* no allocation failed: done */
            }
            assert_int_equal(rc, TESS_ENOMEM);
            assert_true(n < 1000);
        }
        unlink(path);
        free(path);
    }
}

/* ---- randomized round trip ---------------------------------------------------------------- */

static uint64_t rng = 0x2545F4914F6CDD1DULL;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static const char *const PIECES[] = {
    "a",    "Z",    " ",    ",",   ";", "\"",       "\"\"",         "\n",
    "\r\n", "\r",   "\t",   "\\",  "/", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
    "x y",  "{",    "}",    "[",   ":", "0",        "1.5",          "\x01",
    "\x1f", "\x7f", "null", "true"};

static void rand_string(tess__buf *b)
{
    size_t n = rnd() % 8;
    for (size_t i = 0; i < n; i++)
        tess__buf_puts(b, PIECES[rnd() % (sizeof PIECES / sizeof PIECES[0])]);
}

static void csv_field(tess__buf *out, const char *s, size_t n, bool force_quote)
{
    bool q = force_quote || n == 0;
    for (size_t i = 0; i < n && !q; i++)
        q = s[i] == ',' || s[i] == '"' || s[i] == '\n' || s[i] == '\r';
    if (!q) {
        tess__buf_append(out, s, n);
        return;
    }
    tess__buf_putc(out, '"');
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"') tess__buf_putc(out, '"');
        tess__buf_putc(out, s[i]);
    }
    tess__buf_putc(out, '"');
}

static void put_json_string(tess__buf *out, const char *s, size_t n)
{
    tess__buf_putc(out, '"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            tess__buf_putc(out, '\\');
            tess__buf_putc(out, (char)c);
        } else if (c == '\n' && rnd() % 2) {
            tess__buf_puts(out, "\\n");
        } else if (c < 0x20) {
            tess__buf_printf(out, "\\u%04x", c);
        } else if (c == 0xf0 && rnd() % 2) { /* the emoji as a surrogate pair */
            tess__buf_puts(out, rnd() % 2 ? "\\ud83d\\ude00" : "\\uD83D\\uDE00");
            i += 3;
        } else if (c == 0xc3 && rnd() % 2) {
            tess__buf_puts(out, "\\u00E9");
            i += 1;
        } else if (c == '/' && rnd() % 2) {
            tess__buf_puts(out, "\\/");
        } else {
            tess__buf_putc(out, (char)c);
        }
    }
    tess__buf_putc(out, '"');
}

static void test_roundtrip_random(void **state)
{
    (void)state;
    enum { NROWS = 3000 };
    tess__value *want = calloc(NROWS * 5, sizeof *want);
    tess__buf strs[NROWS];
    tess__buf c = TESS__BUF_INIT, j = TESS__BUF_INIT;
    static const char *const names[5] = {"id", "name", "amount", "ok", "ts"};
    tess__buf_puts(&c, "ts,name,extra,ok,amount,id\r\n");
    for (size_t i = 0; i < NROWS; i++) {
        tess__value *w = &want[i * 5];
        strs[i] = (tess__buf)TESS__BUF_INIT;
        uint64_t x = rnd();
        w[ID] = tess__v_int((int64_t)x >> (rnd() % 64));
        rand_string(&strs[i]);
        tess__buf_putc(&strs[i], 'e'); /* never NULL */
        strs[i].len--;
        w[NAME] = tess__v_str(strs[i].p, strs[i].len);
        double d;
        uint64_t bits = rnd();
        memcpy(&d, &bits, sizeof d);
        if (!isfinite(d)) d = (double)(int64_t)bits / 1e6;
        w[AMOUNT] = tess__v_float(rnd() % 3 ? d : (double)(rnd() % 100000) / 100);
        w[OK] = tess__v_bool(rnd() % 2);
        w[TS] = tess__v_ts((int64_t)(rnd() % (253402300800ULL * 1000000ULL)) -
                           62135596800LL * 1000000LL);
        for (int k = 0; k < 5; k++)
            if (rnd() % 7 == 0) w[k] = tess__null(w[k].type);

        /* CSV, in another column order, with an extra column */
        char buf[64];
        const int order[6] = {TS, NAME, -1, OK, AMOUNT, ID};
        for (int k = 0; k < 6; k++) {
            if (k) tess__buf_putc(&c, ',');
            int col = order[k];
            bool fq = rnd() % 5 == 0;
            if (col < 0) {
                csv_field(&c, "x,\"y\"", 5, false);
                continue;
            }
            const tess__value *v = &w[col];
            if (v->null) continue;
            switch (col) {
            case ID:
                snprintf(buf, sizeof buf, "%lld", (long long)v->u.i);
                break;
            case AMOUNT:
                snprintf(buf, sizeof buf, "%.17g", v->u.f);
                break;
            case OK:
                snprintf(buf, sizeof buf, "%s",
                         v->u.b ? (rnd() % 2 ? "true" : "1") : (rnd() % 2 ? "FALSE" : "0"));
                break;
            case TS:
                tess__ts_format(v->u.i, buf);
                break;
            default:
                csv_field(&c, v->u.s.p, v->u.s.n, fq);
                continue;
            }
            csv_field(&c, buf, strlen(buf), fq);
        }
        tess__buf_puts(&c, rnd() % 2 ? "\n" : "\r\n");

        /* JSON Lines, keys in a random order, nulls written or left out */
        int perm[5] = {0, 1, 2, 3, 4};
        for (int k = 4; k > 0; k--) {
            int t = (int)(rnd() % (uint64_t)(k + 1)), s = perm[k];
            perm[k] = perm[t];
            perm[t] = s;
        }
        tess__buf_puts(&j, rnd() % 4 ? "{" : " { ");
        bool first = true;
        for (int k = 0; k < 5; k++) {
            int col = perm[k];
            const tess__value *v = &w[col];
            if (v->null && rnd() % 2) continue;
            if (!first) tess__buf_puts(&j, rnd() % 2 ? "," : " , ");
            first = false;
            if (rnd() % 5 == 0) tess__buf_puts(&j, "\"zz\": [1, {\"a\": \"b\\\"\"}], ");
            tess__buf_printf(&j, "\"%s\":%s", names[col], rnd() % 2 ? "" : " ");
            if (v->null) {
                tess__buf_puts(&j, "null");
                continue;
            }
            switch (col) {
            case ID:
                tess__buf_printf(&j, "%lld", (long long)v->u.i);
                break;
            case AMOUNT:
                snprintf(buf, sizeof buf, "%.17g", v->u.f);
                if (strchr(buf, 'n') || strchr(buf, 'i')) abort();
                tess__buf_puts(&j, buf);
                break;
            case OK:
                tess__buf_puts(&j, v->u.b ? "true" : "false");
                break;
            case TS:
                tess__ts_format(v->u.i, buf);
                put_json_string(&j, buf, strlen(buf));
                break;
            default:
                put_json_string(&j, v->u.s.p, v->u.s.n);
                break;
            }
        }
        tess__buf_puts(&j, rnd() % 3 ? "}\n" : "}  \r\n");
        if (rnd() % 50 == 0) tess__buf_puts(&j, "\n");
    }
    for (int pass = 0; pass < 4; pass++) {
        ropts o = {0};
        o.fmt = pass % 2 ? TESS_FORMAT_JSONL : TESS_FORMAT_CSV;
        o.cap = pass < 2 ? 1000 : 7;
        o.chunk = pass < 2 ? 0 : 1 + rnd() % 300;
        res *r = pass % 2 ? read_n(j.p, j.len, &o) : read_n(c.p, c.len, &o);
        ASSERT_OK(r);
        assert_int_equal(r->nrows, NROWS);
        for (size_t i = 0; i < NROWS; i++) {
            assert_int_equal(r->seq[i], (int64_t)i);
            for (size_t k = 0; k < 5; k++) {
                const tess__value *g = V(r, i, k), *w = &want[i * 5 + k];
                bool same = g->null == w->null;
                if (same && !g->null && k == AMOUNT)
                    same = memcmp(&g->u.f, &w->u.f, sizeof(double)) == 0;
                else if (same && !g->null)
                    same = tess__value_same(g, w);
                if (!same) fail_msg("pass %d row %zu column %s differs", pass, i, names[k]);
            }
        }
        res_free(r);
    }
    for (size_t i = 0; i < NROWS; i++)
        tess__buf_release(&strs[i]);
    tess__buf_release(&c);
    tess__buf_release(&j);
    free(want);
}

/* ---- main --------------------------------------------------------------------------------- */

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/tess_reader_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csv_basic),
        cmocka_unit_test(test_csv_quoting),
        cmocka_unit_test(test_csv_syntax_errors),
        cmocka_unit_test(test_csv_line_ends),
        cmocka_unit_test(test_csv_bom),
        cmocka_unit_test(test_csv_delimiters),
        cmocka_unit_test(test_csv_header),
        cmocka_unit_test(test_csv_empty),
        cmocka_unit_test(test_csv_types),
        cmocka_unit_test(test_float_exact),
        cmocka_unit_test(test_csv_max_bad_rows),
        cmocka_unit_test(test_csv_row_cap),
        cmocka_unit_test(test_csv_chunks),
        cmocka_unit_test(test_jsonl_basic),
        cmocka_unit_test(test_jsonl_strings),
        cmocka_unit_test(test_jsonl_errors),
        cmocka_unit_test(test_jsonl_bad_rows_and_cap),
        cmocka_unit_test(test_jsonl_chunks),
        cmocka_unit_test(test_open_errors),
        cmocka_unit_test(test_alloc_failures),
        cmocka_unit_test(test_roundtrip_random),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    rmdir(tmpdir);
    return rc;
}
