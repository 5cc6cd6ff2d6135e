/* fuzz_server.c — the bodies of POST /get-online-features (src/server/lookup.c), through the
 * handler itself. (The push routes have their own target, fuzz_push.c.)
 *
 * At start-up the harness makes a feature repo and starts a server (fuzz_srv.h). Each input
 * then goes straight to the handler, as server.c would call it after reading the body, on a
 * worker-thread state of the harness's own. Input: byte 0 is ignored (it picked the route
 * when this target also ran pushes; the corpus keeps it); the rest is the body.
 *
 * Checks: the status is 200 or an error status (400-599), the reply is one well-formed JSON
 * document, and an error reply is {"error": {"code", "message"}}. Also, on every body, the
 * request reader's nesting limit agrees with the real depth of any body jansson can parse,
 * for a few limits.
 */
#include <jansson.h>

#include "fuzz_srv.h"

static tess_store *st;
static tess_server *srv;
static srv_thread th;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_srv_setup(&st, &srv);
    return 0;
}

static int depth_of(const json_t *j)
{
    int d = 0;
    if (json_is_array(j)) {
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v) {
            int x = depth_of(v);
            if (x > d) d = x;
        }
        return d + 1;
    }
    if (json_is_object(j)) {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)j, k, v) {
            int x = depth_of(v);
            if (x > d) d = x;
        }
        return d + 1;
    }
    return 0;
}

/* The request reader (jsonr.c) against jansson: on a document both accept, the nesting limit
 * refuses exactly the documents deeper than it. (The reader is stricter than jansson on some
 * inputs — integers beyond int64, \u0000 — so only documents it reads are compared.) */
static void check_depth_guard(const char *body, size_t n)
{
    json_error_t e;
    json_t *doc = json_loadb(body, n, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &e);
    if (!doc) return;
    int d = depth_of(doc);
    json_decref(doc);
    char *copy = malloc(n + 1);
    srv_jdoc jd;
    memset(&jd, 0, sizeof jd);
    memcpy(copy, body, n);
    int ok = srv_json_parse(&jd, copy, n, 1 << 20) == 0;
    static const int limits[] = {1, 2, 3, 8, 32};
    for (size_t i = 0; ok && i < sizeof limits / sizeof limits[0]; i++) {
        memcpy(copy, body, n);
        int rc = srv_json_parse(&jd, copy, n, limits[i]);
        if ((rc == SRV_JSON_TOO_DEEP) != (d > limits[i])) {
            fprintf(stderr, "depth guard: limit %d, depth %d, reader says %d\n", limits[i], d, rc);
            abort();
        }
    }
    srv_jdoc_release(&jd);
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    int route = data[0] % 3;
    char *body = malloc(size); /* exactly the body's bytes: ASan sees any read past them */
    memcpy(body, data + 1, size - 1);
    check_depth_guard(body, size - 1);

    srv_req r;
    memset(&r, 0, sizeof r);
    r.srv = srv;
    r.th = &th;
    r.body = body;
    r.n = size - 1;
    r.ecode = -1;
    (void)route; /* pushes: fuzz_push.c */
    r.route = R_GET_ONLINE;
    th.out.len = 0;
    int status = srv_handle_get_online(&r);
    if (th.out.len < 4096) {
        char msg[4100];
        snprintf(msg, sizeof msg, "%.*s", (int)th.out.len, th.out.p ? th.out.p : "");
        fuzz_debug("status", status, msg);
    }
    if (status != 200 && (status < 400 || status > 599)) {
        fprintf(stderr, "status %d\n", status);
        abort();
    }
    if (th.out.oom) abort();
    json_error_t e;
    json_t *reply = json_loadb(th.out.p ? th.out.p : "", th.out.len, 0, &e);
    if (!reply) {
        fprintf(stderr, "status %d, reply is not JSON (%s): %.*s\n", status, e.text,
                (int)th.out.len, th.out.p);
        abort();
    }
    if (status != 200) {
        json_t *err = json_object_get(reply, "error");
        if (!json_is_string(json_object_get(err, "code")) ||
            !json_is_string(json_object_get(err, "message")) || r.ecode < 0)
            abort();
    }
    json_decref(reply);
    free(body);
    return 0;
}
