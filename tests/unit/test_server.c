/* test_server.c — the feature server's JSON writer (floats read back exactly, strings escaped
 * and valid UTF-8, timestamps), the depth scan, and the server's lifecycle through the public
 * API: start on a free port, answer /health over a socket, errors for bad options and a port
 * in use, stop; and tess_push_many, the group commit the server's committer calls (a group with
 * good and bad pushes, threads pushing at once). The routes themselves are tested end to end
 * by tests/integration/test_serve.sh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/time.h"
#include "server/server.h"
#include "tessera.h"

static char *fmt_float(double x, char *out)
{
    srv_buf b = {0};
    srv_put_float(&b, x);
    assert_false(b.oom);
    memcpy(out, b.p, b.len);
    out[b.len] = 0;
    srv_buf_release(&b);
    return out;
}

static void test_floats(void **state)
{
    (void)state;
    char s[64];
    assert_string_equal(fmt_float(20.0, s), "20.0");
    assert_string_equal(fmt_float(-3.0, s), "-3.0");
    assert_string_equal(fmt_float(0.0, s), "0.0");
    assert_string_equal(fmt_float(-0.0, s), "-0.0");
    assert_string_equal(fmt_float(5.25, s), "5.25");
    assert_string_equal(fmt_float(0.1, s), "0.1");
    assert_string_equal(fmt_float(0.3, s), "0.3");
    assert_string_equal(fmt_float(0.1 + 0.2, s), "0.30000000000000004");
    assert_string_equal(fmt_float(1.0 / 3.0, s), "0.3333333333333333");
    assert_string_equal(fmt_float(1e300, s), "1e+300");
    assert_string_equal(fmt_float(1e-7, s), "1e-07");
    assert_string_equal(fmt_float(123456789.125, s), "123456789.125");
    assert_string_equal(fmt_float(NAN, s), "\"NaN\"");
    assert_string_equal(fmt_float(INFINITY, s), "\"Infinity\"");
    assert_string_equal(fmt_float(-INFINITY, s), "\"-Infinity\"");
    /* every finite double reads back as itself */
    srand(7);
    for (int i = 0; i < 200000; i++) {
        double x;
        if (i % 3 == 0) {
            uint64_t bits = ((uint64_t)rand() << 42) ^ ((uint64_t)rand() << 21) ^ (uint64_t)rand();
            memcpy(&x, &bits, sizeof x);
            if (!isfinite(x)) continue;
        } else if (i % 3 == 1) {
            x = (double)(rand() % 2000000 - 1000000) / 100.0; /* prices */
        } else {
            x = (double)rand() / (double)RAND_MAX * pow(10, rand() % 30 - 15);
        }
        fmt_float(x, s);
        double back = strtod(s, NULL);
        if (memcmp(&back, &x, sizeof x) != 0) fail_msg("%.17g printed as %s", x, s);
        assert_non_null(strpbrk(s, ".e")); /* always looks like a float */
    }
}

static void test_strings(void **state)
{
    (void)state;
    srv_buf b = {0};
    srv_put_str(&b, "a\"b\\c\n\t\x01", 8);
    srv_put(&b, "|", 1);
    srv_put_str(&b, "caf\xc3\xa9 \xe2\x82\xac", 9); /* valid UTF-8 passes through */
    srv_put(&b, "|", 1);
    srv_put_str(&b, "x\xff\xc3y\xed\xa0\x80", 7); /* invalid bytes, a surrogate */
    srv_put(&b, "|", 1);
    srv_put_str(&b, "", 0);
    srv_put(&b, "", 0);
    assert_false(b.oom);
    b.p[b.len] = 0;
    assert_string_equal(b.p, "\"a\\\"b\\\\c\\n\\t\\u0001\"|\"caf\xc3\xa9 \xe2\x82\xac\"|"
                             "\"x\\ufffd\\ufffdy\\ufffd\\ufffd\\ufffd\"|\"\"");
    b.len = 0;
    srv_put_int(&b, INT64_MIN);
    srv_put(&b, " ", 1);
    srv_put_int(&b, 0);
    srv_put(&b, " ", 1);
    srv_put_int(&b, 42);
    b.p[b.len] = 0;
    assert_string_equal(b.p, "-9223372036854775808 0 42");
    srv_buf_release(&b);
}

static void test_timestamps(void **state)
{
    (void)state;
    const int64_t cases[] = {0,
                             1,
                             -1,
                             1767268800000000LL,
                             1767268800123456LL,
                             -86400000000LL,
                             253402300799999999LL,
                             -62135596800000000LL};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        srv_buf b = {0};
        srv_put_ts(&b, cases[i]);
        char want[TESS_TS_FORMAT_MAX + 2];
        want[0] = '"';
        size_t n = tess__ts_format(cases[i], want + 1);
        want[n + 1] = '"';
        want[n + 2] = 0;
        b.p[b.len] = 0;
        assert_string_equal(b.p, want);
        srv_buf_release(&b);
    }
    srv_buf b = {0};
    srv_put_ts(&b, INT64_MAX); /* no RFC 3339 form: the number */
    b.p[b.len] = 0;
    assert_string_equal(b.p, "9223372036854775807");
    srv_buf_release(&b);
}

/* Parses a copy of text (the reader modifies it); returns the status. */
static int jparse(srv_jdoc *d, char *copy, const char *text, int depth)
{
    size_t n = strlen(text);
    memcpy(copy, text, n + 1);
    return srv_json_parse(d, copy, n, depth);
}

static void test_depth(void **state)
{
    (void)state;
    srv_jdoc d;
    memset(&d, 0, sizeof d);
    char buf[256];
    const char *ok = "{\"a\": [[1], {\"b\": \"[[[[[[\\\"[[[[\"}]}";
    assert_int_equal(jparse(&d, buf, ok, 3), 0);
    assert_int_equal(jparse(&d, buf, ok, 2), SRV_JSON_TOO_DEEP);
    assert_int_equal(d.deep_at, 7);
    assert_int_equal(jparse(&d, buf, "[[[[]]]]", 4), 0);
    assert_int_equal(jparse(&d, buf, "[[[[]]]]", 3), SRV_JSON_TOO_DEEP);
    assert_int_equal(d.deep_at, 3);
    srv_jdoc_release(&d);
}

static void test_reader(void **state)
{
    (void)state;
    srv_jdoc d;
    memset(&d, 0, sizeof d);
    char buf[512];
    /* structure: members, elements, next links */
    assert_int_equal(jparse(&d, buf,
                            " {\"a\": [1, -2, 3.5, \"x\\ty\\u00e9\\ud83d\\ude00\"], \"b\": {}, "
                            "\"c\": [], \"d\": null, \"e\": true, \"f\": false} ",
                            32),
                     0);
    const srv_jnode *n = d.nodes;
    assert_int_equal(n[0].type, SJ_OBJECT);
    assert_int_equal(n[0].n, 6);
    assert_int_equal(n[0].next, d.len);
    uint32_t a = srv_jget(&d, 0, "a");
    assert_int_equal(n[a].type, SJ_ARRAY);
    assert_int_equal(n[a].n, 4);
    int64_t ints[2];
    double real = 0;
    const char *str = NULL;
    size_t slen = 0;
    for (SRV_JEACH_ELEM(&d, a, e, i)) {
        if (i < 2) {
            assert_int_equal(n[e].type, SJ_INT);
            ints[i] = n[e].u.i;
        } else if (i == 2) {
            assert_int_equal(n[e].type, SJ_REAL);
            real = n[e].u.f;
        } else {
            assert_int_equal(n[e].type, SJ_STRING);
            str = n[e].u.s;
            slen = n[e].n;
        }
    }
    assert_int_equal(ints[0], 1);
    assert_int_equal(ints[1], -2);
    assert_true(real == 3.5);
    assert_int_equal(slen, 9);
    assert_memory_equal(str, "x\ty\xc3\xa9\xf0\x9f\x98\x80", 10); /* NUL-terminated */
    assert_int_equal(n[srv_jget(&d, 0, "b")].type, SJ_OBJECT);
    assert_int_equal(n[srv_jget(&d, 0, "c")].n, 0);
    assert_int_equal(n[srv_jget(&d, 0, "d")].type, SJ_NULL);
    assert_int_equal(n[srv_jget(&d, 0, "e")].type, SJ_TRUE);
    assert_int_equal(n[srv_jget(&d, 0, "f")].type, SJ_FALSE);
    assert_int_equal(srv_jget(&d, 0, "g"), 0);
    int m = 0;
    for (SRV_JEACH_MEMBER(&d, 0, k, i)) {
        assert_int_equal(n[k].type, SJ_STRING);
        m++;
    }
    assert_int_equal(m, 6);

    /* integers: the int64 range exactly */
    assert_int_equal(jparse(&d, buf, "[9223372036854775807, -9223372036854775808, -0]", 4), 0);
    assert_true(d.nodes[1].u.i == INT64_MAX && d.nodes[2].u.i == INT64_MIN);
    assert_int_equal(jparse(&d, buf, "[9223372036854775808]", 4), SRV_JSON_INVALID);
    assert_non_null(strstr(d.msg, "too big integer"));
    assert_int_equal(jparse(&d, buf, "-92233720368547758090", 4), SRV_JSON_INVALID);

    /* errors: what and where */
    static const struct {
        const char *text, *msg;
        int line, column;
    } bad[] = {
        {"", "end of the text", 1, 1},
        {"{\"a\": [1,]}", "expected a value", 1, 10},
        {"{\"a\": 1,\n \"a\": 2}", "duplicate object key \"a\"", 2, 8},
        {"{\"k1\":1,\"k2\":1,\"k3\":1,\"k4\":1,\"k5\":1,\"k6\":1,\"k7\":1,\"k8\":1,\"k9\":1,\"k3\":"
         "0}",
         "duplicate object key \"k3\"", 1, 0},
        {"[1] x", "end of the text expected", 1, 5},
        {"[\"a\\u0000\"]", "\\u0000", 1, 0},
        {"[\"\xff\"]", "invalid UTF-8", 1, 0},
        {"[\"\xc3\xa9\x01\"]", "control character", 1, 4},
        {"[\"\\ud800\"]", "surrogate", 1, 0},
        {"[\"\\q\"]", "invalid escape", 1, 0},
        {"[01]", "expected ',' or ']'", 1, 3},
        {"[1.]", "invalid number", 1, 0},
        {"[1e]", "invalid number", 1, 0},
        {"[-]", "invalid number", 1, 0},
        {"[1e400]", "overflow", 1, 0},
        {"[tru]", "expected a value", 1, 0},
        {"{\"a\" 1}", "expected ':'", 1, 0},
        {"{1: 2}", "expected a string", 1, 0},
        {"[\"abc", "unterminated string", 1, 0},
        {"{\"a\": 1", "unexpected end", 1, 0},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (jparse(&d, buf, bad[i].text, 32) != SRV_JSON_INVALID)
            fail_msg("accepted: %s", bad[i].text);
        if (!strstr(d.msg, bad[i].msg)) fail_msg("%s: message %s", bad[i].text, d.msg);
        if (d.line != bad[i].line || (bad[i].column && d.column != bad[i].column))
            fail_msg("%s: at %d:%d", bad[i].text, d.line, d.column);
    }

    /* reals read back exactly as strtod reads them */
    srand(11);
    for (int i = 0; i < 100000; i++) {
        char num[64];
        if (i % 3 == 0)
            snprintf(num, sizeof num, "%.2f", (double)(rand() % 10000000) / 100.0);
        else if (i % 3 == 1)
            snprintf(num, sizeof num, "%.17g",
                     (double)rand() / RAND_MAX * pow(10, rand() % 40 - 20));
        else
            snprintf(num, sizeof num, "-%d.%de%d", rand() % 100000, rand(), rand() % 60 - 30);
        if (!strpbrk(num, ".e")) strcat(num, ".0");
        double want = strtod(num, NULL);
        assert_int_equal(jparse(&d, buf, num, 4), 0);
        assert_int_equal(d.nodes[0].type, SJ_REAL);
        if (memcmp(&d.nodes[0].u.f, &want, sizeof want) != 0)
            fail_msg("%s read as %.17g, strtod %.17g", num, d.nodes[0].u.f, want);
    }
    assert_int_equal(jparse(&d, buf, "-0.0", 4), 0);
    assert_true(signbit(d.nodes[0].u.f));
    assert_int_equal(jparse(&d, buf, "123456789012345678901234567890.5e-3", 4), 0);
    assert_true(d.nodes[0].u.f == strtod("123456789012345678901234567890.5e-3", NULL));
    srv_jdoc_release(&d);
}

/* A repo with a tessera.yaml and nothing applied, in a temporary directory. */
static char repo[64];

static int setup_repo(void **state)
{
    (void)state;
    snprintf(repo, sizeof repo, "/tmp/tessera-srv-XXXXXX");
    if (!mkdtemp(repo)) return -1;
    char path[128];
    snprintf(path, sizeof path, "%s/tessera.yaml", repo);
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fputs("project: srv\n", f);
    fclose(f);
    return 0;
}

static int teardown_repo(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", repo);
    return system(cmd) == 0 ? 0 : -1;
}

/* GET path over a new connection; returns the whole answer in buf. */
static void http_get(int port, const char *path, char *buf, size_t cap)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    char req[256];
    int n =
        snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", path);
    assert_int_equal(write(fd, req, (size_t)n), n);
    size_t len = 0;
    ssize_t r;
    while (len + 1 < cap && (r = read(fd, buf + len, cap - 1 - len)) > 0)
        len += (size_t)r;
    buf[len] = 0;
    close(fd);
}

static void test_lifecycle(void **state)
{
    (void)state;
    tess_store *st = NULL;
    assert_int_equal(tess_store_open(repo, &st), TESS_OK);
    tess_server_opts o;
    memset(&o, 0, sizeof o);
    o.threads = 2;
    tess_server *srv = NULL;
    assert_int_equal(tess_server_start(st, &o, &srv), TESS_OK);
    int port = tess_server_port(srv);
    assert_true(port > 0);

    char buf[4096];
    http_get(port, "/health", buf, sizeof buf);
    assert_non_null(strstr(buf, "HTTP/1.1 200"));
    assert_non_null(strstr(buf, "{\"status\":\"ok\",\"version\":null}"));
    http_get(port, "/nowhere", buf, sizeof buf);
    assert_non_null(strstr(buf, "HTTP/1.1 404"));
    assert_non_null(strstr(buf, "\"code\":\"not_found\""));
    http_get(port, "/metrics", buf, sizeof buf);
    assert_non_null(strstr(buf, "tessera_http_requests_total{route=\"/health\",code=\"2xx\"} 1"));

    tess_server_stop(srv);

    /* a port in use: a clean error naming the address (the caller's socket holds it) */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t slen = sizeof sa;
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(fd, 1), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &slen), 0);
    tess_server *two = NULL;
    o.port = ntohs(sa.sin_port);
    assert_int_equal(tess_server_start(st, &o, &two), TESS_EIO);
    assert_null(two);
    assert_non_null(strstr(tess_store_errmsg(st), "cannot listen on 127.0.0.1 port"));
    close(fd);
    /* options out of range, an address that does not resolve */
    o.port = 70000;
    assert_int_equal(tess_server_start(st, &o, &two), TESS_EINVAL);
    o.port = 0;
    o.host = "no-such-host.invalid";
    assert_int_equal(tess_server_start(st, &o, &two), TESS_EIO);
    assert_null(two);

    tess_server_stop(NULL);
    tess_store_close(st);
}

/* ---- tess_push_many (the server's group commit) through the C API ---------------------------- */

static char prepo[64];

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[192];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup_push_repo(void **state)
{
    (void)state;
    setenv("TESSERA_NOW", "2026-01-01T12:00:00Z", 1); /* writes and lookups at one instant */
    snprintf(prepo, sizeof prepo, "/tmp/tessera-push-XXXXXX");
    if (!mkdtemp(prepo)) return -1;
    char data[128];
    snprintf(data, sizeof data, "%s/data", prepo);
    mkdir(data, 0755);
    write_file(prepo, "tessera.yaml", "project: push\n");
    write_file(prepo, "defs.yaml",
               "entities:\n  - {name: user, join_keys: [user_id]}\n"
               "sources:\n"
               "  - name: tx\n    type: batch\n    path: data/tx.csv\n    timestamp: ts\n"
               "    schema: {user_id: int64, amount: float64, ts: timestamp}\n"
               "  - name: tx_live\n    type: push\n    batch_source: tx\n"
               "feature_views:\n  - name: spend\n    entities: [user]\n    source: tx\n"
               "    hop: 1h\n    features:\n      - {name: last_amount, expr: amount}\n"
               "      - {name: n_1d, agg: count, window: 1d}\n");
    write_file(prepo, "data/tx.csv", "user_id,amount,ts\n1,1.5,2026-01-01T10:00:00Z\n");
    return 0;
}

static int teardown_push_repo(void **state)
{
    (void)state;
    char cmd[128];
    unsetenv("TESSERA_NOW");
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", prepo);
    return system(cmd) == 0 ? 0 : -1;
}

static tess_value v_int(int64_t i)
{
    tess_value v = {TESS_TYPE_INT64, 0, {.i = i}};
    return v;
}
static tess_value v_float(double f)
{
    tess_value v = {TESS_TYPE_FLOAT64, 0, {.f = f}};
    return v;
}
static tess_value v_ts(int64_t us)
{
    tess_value v = {TESS_TYPE_TIMESTAMP, 0, {.i = us}};
    return v;
}
static tess_value v_str(const char *s)
{
    tess_value v = {TESS_TYPE_STRING, 0, {.i = 0}};
    v.u.s.p = s;
    v.u.s.n = strlen(s);
    return v;
}

#define T11 1767265200000000LL /* 2026-01-01T11:00:00Z */

/* spend:last_amount and n_1d of user `uid` at 12:00. */
static void lookup_user(tess_session *s, const tess_query *q, int64_t uid, int *status,
                        double *last, int64_t *n)
{
    tess_value in = v_int(uid);
    tess_online_result res;
    assert_int_equal(tess_get_online(s, q, &in, 1, T11 + 3600000000LL, &res), TESS_OK);
    *status = res.statuses[0];
    *last = res.values[0].u.f;
    *n = res.values[1].u.i;
}

typedef struct {
    tess_store *st;
    const tess_pusher *p;
    int base, rc;
} push_thread_arg;

/* Pushes 20 groups of 5 one-row pushes for users base..base+99 (amount = user id). */
static void *push_thread(void *arg)
{
    push_thread_arg *a = arg;
    tess_session *s = NULL;
    a->rc = tess_session_new(a->st, &s);
    static const char *const cols[] = {"user_id", "amount", "ts"};
    for (int g = 0; !a->rc && g < 40; g++) {
        tess_value rows[5][3];
        tess_push_req reqs[5];
        memset(reqs, 0, sizeof reqs);
        for (int i = 0; i < 5; i++) {
            int64_t uid = a->base + g * 5 + i;
            rows[i][0] = v_int(uid);
            rows[i][1] = v_float((double)uid);
            rows[i][2] = v_ts(T11);
            reqs[i] =
                (tess_push_req){a->p, cols, 3, rows[i], 1, TESS_PUSH_ONLINE_AND_OFFLINE, 0, NULL};
        }
        a->rc = tess_push_many(s, reqs, 5);
    }
    tess_session_free(s);
    return NULL;
}

static void test_push_many(void **state)
{
    (void)state;
    tess_store *st = NULL;
    char *json = NULL;
    assert_int_equal(tess_store_open(prepo, &st), TESS_OK);
    assert_int_equal(tess_apply(st, &json), TESS_OK);
    tess_free(json);
    const char *paths[] = {"data/tx.csv"};
    char path[128];
    snprintf(path, sizeof path, "%s/data/tx.csv", prepo);
    paths[0] = path;
    assert_int_equal(tess_ingest(st, "tx", paths, 1, NULL, &json), TESS_OK);
    tess_free(json);
    assert_int_equal(tess_materialize(st, NULL, &json), TESS_OK);
    tess_free(json);

    tess_pusher *p = NULL;
    assert_int_equal(tess_pusher_new(st, "tx_live", &p), TESS_OK);
    tess_session *s = NULL;
    assert_int_equal(tess_session_new(st, &s), TESS_OK);
    tess_query *q = NULL;
    static const char *const feats[] = {"spend:last_amount", "spend:n_1d"};
    assert_int_equal(tess_query_new(st, NULL, feats, 2, 0, &q), TESS_OK);

    /* one group: good pushes, a bad value, a missing timestamp column, a null timestamp, an
     * unknown column, an empty push: each its own status, the good ones stored */
    static const char *const cols[] = {"user_id", "amount", "ts"};
    static const char *const no_ts[] = {"user_id", "amount"};
    static const char *const unknown[] = {"user_id", "colour", "ts"};
    tess_value good1[2][3] = {{v_int(1), v_float(7.5), v_ts(T11)},
                              {v_int(2), v_float(2.5), v_ts(T11)}};
    tess_value bad_type[1][3] = {{v_int(3), v_str("x"), v_ts(T11)}};
    tess_value missing[1][2] = {{v_int(4), v_float(1.0)}};
    tess_value null_ts[1][3] = {{v_int(5), v_float(1.0), v_ts(T11)}};
    null_ts[0][2].null = 1;
    tess_value good2[1][3] = {{v_int(6), v_float(6.25), v_ts(T11)}};
    tess_push_req reqs[7] = {
        {p, cols, 3, &good1[0][0], 2, TESS_PUSH_ONLINE_AND_OFFLINE, 0, NULL},
        {p, cols, 3, &bad_type[0][0], 1, TESS_PUSH_ONLINE_AND_OFFLINE, 0, NULL},
        {p, no_ts, 2, &missing[0][0], 1, TESS_PUSH_ONLINE_AND_OFFLINE, 0, NULL},
        {p, cols, 3, &null_ts[0][0], 1, TESS_PUSH_ONLINE_AND_OFFLINE, 0, NULL},
        {p, unknown, 3, &good2[0][0], 1, TESS_PUSH_ONLINE_AND_OFFLINE, 0, NULL},
        {p, cols, 3, &good2[0][0], 1, TESS_PUSH_ONLINE, 0, NULL},
        {p, cols, 3, NULL, 0, TESS_PUSH_ONLINE_AND_OFFLINE, 0, NULL},
    };
    assert_int_equal(tess_push_many(s, reqs, 7), TESS_EINVAL);
    assert_non_null(strstr(tess_session_errmsg(s), "row 1: column amount: expected float64"));
    int want[7] = {TESS_OK, TESS_EINVAL, TESS_EINVAL, TESS_EINVAL, TESS_EINVAL, TESS_OK, TESS_OK};
    const char *why[7] = {NULL,
                          "row 1: column amount",
                          "the event timestamp) is missing",
                          "row 1: column ts (the event timestamp) is null",
                          "\"colour\"",
                          NULL,
                          NULL};
    for (int i = 0; i < 7; i++) {
        assert_int_equal(reqs[i].status, want[i]);
        if (why[i]) {
            assert_non_null(reqs[i].message);
            assert_non_null(strstr(reqs[i].message, why[i]));
        } else {
            assert_null(reqs[i].message);
        }
        tess_free(reqs[i].message);
    }
    int status;
    double last;
    int64_t n;
    lookup_user(s, q, 1, &status, &last, &n);
    assert_true(status == TESS_STATUS_PRESENT && last == 7.5 && n == 2);
    lookup_user(s, q, 2, &status, &last, &n);
    assert_true(status == TESS_STATUS_PRESENT && last == 2.5 && n == 1);
    lookup_user(s, q, 6, &status, &last, &n);
    assert_true(status == TESS_STATUS_PRESENT && last == 6.25 && n == 1);
    for (int64_t u = 3; u <= 5; u++) {
        lookup_user(s, q, u, &status, &last, &n);
        assert_int_equal(status, TESS_STATUS_NOT_FOUND);
    }
    assert_int_equal(tess_push_many(s, NULL, 0), TESS_OK);
    assert_int_equal(tess_push_many(NULL, reqs, 1), TESS_EINVAL);

    /* tess_push is one push of the same path */
    assert_int_equal(tess_push(s, p, cols, 3, &bad_type[0][0], 1, TESS_PUSH_ONLINE), TESS_EINVAL);
    assert_non_null(strstr(tess_session_errmsg(s), "row 1: column amount"));
    assert_int_equal(tess_push(s, p, cols, 3, &good1[1][0], 1, TESS_PUSH_ONLINE), TESS_OK);

    /* 6 threads at once, 40 groups of 5 each: every push stored once, visible on return (the
       two stages of the group commit run in different threads and hand requests back) */
    pthread_t th[6];
    push_thread_arg args[6];
    for (int t = 0; t < 6; t++) {
        args[t] = (push_thread_arg){st, p, 1000 + t * 200, -1};
        assert_int_equal(pthread_create(&th[t], NULL, push_thread, &args[t]), 0);
    }
    for (int t = 0; t < 6; t++) {
        pthread_join(th[t], NULL);
        assert_int_equal(args[t].rc, TESS_OK);
    }
    for (int64_t u = 1000; u < 2200; u++) {
        lookup_user(s, q, u, &status, &last, &n);
        if (status != TESS_STATUS_PRESENT || last != (double)u || n != 1)
            fail_msg("user %lld: status %d, last %g, n %lld", (long long)u, status, last,
                     (long long)n);
    }
    tess_query_free(q);
    tess_session_free(s);
    tess_pusher_free(p);
    tess_store_close(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_floats),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_timestamps),
        cmocka_unit_test(test_depth),
        cmocka_unit_test(test_reader),
        cmocka_unit_test_setup_teardown(test_lifecycle, setup_repo, teardown_repo),
        cmocka_unit_test_setup_teardown(test_push_many, setup_push_repo, teardown_push_repo),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
