/* test_server_auth.c — the API keys of the feature server (src/server/auth.c): the keys file
 * parser (every error with its line and column, comments, CRLF, duplicates), the lookup table
 * (every key found, nothing else, with many keys), scopes, and the public helpers that make
 * keys and their lines (tess_api_key_new, tess_api_key_line). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/auth.h"
#include "tessera.h"

static char msg[1024];

static int parse(const char *text, srv_keys **k)
{
    msg[0] = 0;
    return srv_keys_parse("keys.txt", text, strlen(text), k, msg, sizeof msg);
}

static void hex_of(const char *key, char out[65])
{
    uint8_t h[32];
    srv_sha256(key, strlen(key), h);
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", h[i]);
}

static void test_sha256_vector(void **state)
{
    (void)state;
    char hex[65];
    hex_of("abc", hex); /* FIPS 180-2 */
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_parse_and_find(void **state)
{
    (void)state;
    char a[65], b[65], text[1024];
    hex_of("tess_first_key_xxxxxxxxxxxxxxxx", a);
    hex_of("tess_second_key_xxxxxxxxxxxxxxx", b);
    for (char *p = b; *p; p++) /* upper-case hex is fine too */
        if (*p >= 'a' && *p <= 'f') *p = (char)(*p - 'a' + 'A');
    snprintf(text, sizeof text,
             "# name  scopes  hash\r\n"
             "\r\n"
             "  reader\tread   sha256:%s   # the model server\r\n"
             "ops admin,read sha256:%s",
             a, b);
    srv_keys *k = NULL;
    assert_int_equal(parse(text, &k), TESS_OK);
    assert_int_equal(k->n, 2);
    uint8_t h[32];
    srv_sha256("tess_first_key_xxxxxxxxxxxxxxxx", 31, h);
    const srv_key *f = srv_keys_find(k, h);
    assert_non_null(f);
    assert_string_equal(f->name, "reader");
    assert_int_equal(f->scopes, SRV_SCOPE_READ);
    srv_sha256("tess_second_key_xxxxxxxxxxxxxxx", 31, h);
    f = srv_keys_find(k, h);
    assert_non_null(f);
    assert_string_equal(f->name, "ops");
    assert_int_equal(f->scopes, SRV_SCOPE_ALL);
    srv_sha256("tess_first_key_xxxxxxxxxxxxxxxy", 31, h);
    assert_null(srv_keys_find(k, h));
    srv_keys_free(k);

    /* an empty file: no keys, nothing found */
    assert_int_equal(parse("# nobody\n", &k), TESS_OK);
    assert_int_equal(k->n, 0);
    assert_null(srv_keys_find(k, h));
    srv_keys_free(k);
}

static void test_many_keys(void **state)
{
    (void)state;
    size_t n = 3000, cap = n * 100 + 1;
    char *text = malloc(cap), key[64], hex[65];
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        snprintf(key, sizeof key, "tess_key_number_%zu_xxxxxxxx", i);
        hex_of(key, hex);
        len += (size_t)snprintf(text + len, cap - len, "k%zu %s sha256:%s\n", i,
                                i % 3 == 0   ? "read"
                                : i % 3 == 1 ? "write"
                                             : "metrics",
                                hex);
    }
    srv_keys *k = NULL;
    assert_int_equal(srv_keys_parse("keys.txt", text, len, &k, msg, sizeof msg), TESS_OK);
    assert_int_equal(k->n, n);
    for (size_t i = 0; i < n; i++) {
        uint8_t h[32];
        char want[32];
        snprintf(key, sizeof key, "tess_key_number_%zu_xxxxxxxx", i);
        srv_sha256(key, strlen(key), h);
        const srv_key *f = srv_keys_find(k, h);
        assert_non_null(f);
        snprintf(want, sizeof want, "k%zu", i);
        assert_string_equal(f->name, want);
        snprintf(key, sizeof key, "tess_key_number_%zu_xxxxxxxz", i);
        srv_sha256(key, strlen(key), h);
        assert_null(srv_keys_find(k, h));
    }
    srv_keys_free(k);
    free(text);
}

static void expect_error(const char *text, const char *want)
{
    srv_keys *k = NULL;
    int rc = parse(text, &k);
    if (rc == TESS_OK || !strstr(msg, want)) {
        fprintf(stderr, "input: %s\nmessage: %s\nexpected: %s\n", text, msg, want);
        fail();
    }
    assert_null(k);
}

static void test_errors(void **state)
{
    (void)state;
    char h[65], t[512];
    hex_of("tess_some_key_xxxxxxxxxxxxxxxxx", h);
    snprintf(t, sizeof t, "a read,wirte sha256:%s\n", h);
    expect_error(t, "keys.txt:1:8: unknown scope \"wirte\"");
    snprintf(t, sizeof t, "a read, sha256:%s\n", h);
    expect_error(t, "keys.txt:1:8: an empty scope");
    expect_error("a read\n", "keys.txt:1:7: expected the key's hash");
    expect_error("\n\nlonely\n", "keys.txt:3:7: expected the key's scopes");
    expect_error("a read sha256:abc\n", "keys.txt:1:8: expected sha256:<64 hex digits>");
    expect_error("a read tess_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n",
                 "this looks like a key itself");
    snprintf(t, sizeof t, "a read md5:%s\n", h);
    expect_error(t, "keys.txt:1:8: expected sha256:");
    snprintf(t, sizeof t, "a read sha256:%.63sg\n", h);
    expect_error(t, "keys.txt:1:78: not a hex digit: 'g'");
    snprintf(t, sizeof t, "a read sha256:%s extra\n", h);
    expect_error(t, "keys.txt:1:80: unexpected text after the hash");
    snprintf(t, sizeof t, "bad!name read sha256:%s\n", h);
    expect_error(t, "keys.txt:1:1: a key's name is 1 to 64");
    char h2[65];
    hex_of("tess_other_key_xxxxxxxxxxxxxxxx", h2);
    snprintf(t, sizeof t, "a read sha256:%s\nb read sha256:%s\n a write sha256:%s\n", h, h2, h2);
    expect_error(t, "keys.txt:3:2: the name \"a\" is already used on line 1");
    snprintf(t, sizeof t, "a read sha256:%s\n# x\nb write sha256:%s\n", h, h);
    expect_error(t, "keys.txt:3:9: the same key (hash) as \"a\" on line 1");
    char nul[] = "a read\0 x\n";
    srv_keys *k = NULL;
    assert_int_equal(srv_keys_parse("keys.txt", nul, sizeof nul - 1, &k, msg, sizeof msg),
                     TESS_EINVAL);
    assert_non_null(strstr(msg, "keys.txt:1:7: a NUL byte"));
}

static void test_scopes(void **state)
{
    (void)state;
    size_t at;
    char buf[64];
    assert_int_equal(srv_scopes_parse("read,write", 10, &at, msg, sizeof msg),
                     SRV_SCOPE_READ | SRV_SCOPE_WRITE);
    assert_int_equal(srv_scopes_parse("metrics", 7, &at, msg, sizeof msg), SRV_SCOPE_METRICS);
    assert_int_equal(srv_scopes_parse("write,admin", 11, &at, msg, sizeof msg), SRV_SCOPE_ALL);
    assert_int_equal(srv_scopes_parse("", 0, &at, msg, sizeof msg), -1);
    assert_int_equal(srv_scopes_parse("read,READ", 9, &at, msg, sizeof msg), -1);
    assert_int_equal(at, 5);
    assert_string_equal(srv_scopes_text(SRV_SCOPE_WRITE | SRV_SCOPE_METRICS, buf, sizeof buf),
                        "write,metrics");
    assert_string_equal(srv_scopes_text(SRV_SCOPE_ALL, buf, sizeof buf), "admin");
}

static void test_public_helpers(void **state)
{
    (void)state;
    char k1[TESS_API_KEY_LEN + 1], k2[TESS_API_KEY_LEN + 1], line[256], hex[65];
    assert_int_equal(tess_api_key_new(k1, sizeof k1), TESS_OK);
    assert_int_equal(tess_api_key_new(k2, sizeof k2), TESS_OK);
    assert_int_equal(strlen(k1), TESS_API_KEY_LEN);
    assert_memory_equal(k1, "tess_", 5);
    assert_string_not_equal(k1, k2);
    for (const char *p = k1 + 5; *p; p++)
        assert_non_null(
            strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", *p));
    assert_int_equal(tess_api_key_new(k1, TESS_API_KEY_LEN), TESS_EINVAL);

    assert_int_equal(tess_api_key_line("svc", "write,read", k2, line, sizeof line), TESS_OK);
    hex_of(k2, hex);
    char want[200];
    snprintf(want, sizeof want, "svc read,write sha256:%s", hex);
    assert_string_equal(line, want);
    /* the line it makes is one the parser reads, and the key is found */
    srv_keys *k = NULL;
    assert_int_equal(parse(line, &k), TESS_OK);
    uint8_t h[32];
    srv_sha256(k2, strlen(k2), h);
    assert_non_null(srv_keys_find(k, h));
    srv_keys_free(k);

    assert_int_equal(tess_api_key_line("svc", "root", k2, line, sizeof line), TESS_EINVAL);
    assert_non_null(strstr(line, "unknown scope \"root\""));
    assert_int_equal(tess_api_key_line("a b", "read", k2, line, sizeof line), TESS_EINVAL);
    assert_int_equal(tess_api_key_line("svc", "read", "short", line, sizeof line), TESS_EINVAL);
    assert_non_null(strstr(line, "20 to 512"));
    assert_int_equal(
        tess_api_key_line("svc", "read", "tess_has a space_xxxxxxxxxx", line, sizeof line),
        TESS_EINVAL);
    assert_non_null(strstr(line, "at character 9"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256_vector), cmocka_unit_test(test_parse_and_find),
        cmocka_unit_test(test_many_keys),     cmocka_unit_test(test_errors),
        cmocka_unit_test(test_scopes),        cmocka_unit_test(test_public_helpers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
