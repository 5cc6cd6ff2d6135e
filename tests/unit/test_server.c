/* test_server.c — the feature server's JSON writer (floats read back exactly, strings escaped
 * and valid UTF-8, timestamps), the depth scan, and the server's lifecycle through the public
 * API: start on a free port, answer /health over a socket, errors for bad options and a port
 * in use, stop. The routes themselves are tested end to end by tests/integration/test_serve.sh.
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
#include <sys/socket.h>
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

static void test_depth(void **state)
{
    (void)state;
    const char *ok = "{\"a\": [[1], {\"b\": \"[[[[[[\\\"[[[[\"}]}";
    assert_int_equal(srv_json_too_deep(ok, strlen(ok), 3), -1);
    assert_int_equal(srv_json_too_deep(ok, strlen(ok), 2), 7);
    const char *deep = "[[[[";
    assert_int_equal(srv_json_too_deep(deep, 4, 4), -1);
    assert_int_equal(srv_json_too_deep(deep, 4, 3), 3);
    assert_int_equal(srv_json_too_deep("\"[[[", 4, 1), -1); /* unterminated string */
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_floats),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_timestamps),
        cmocka_unit_test(test_depth),
        cmocka_unit_test_setup_teardown(test_lifecycle, setup_repo, teardown_repo),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
