/* fuzz_push.c — the bodies of POST /push and POST /write-to-online-store (src/server/push.c),
 * through the same code as the server, and pushed into a real store.
 *
 * The server hands a push to its committer threads on a suspended connection, which a direct
 * call has not got; so the target goes through the seam push.c offers for it:
 * srv_push_prepare (everything the worker thread does: the body parsed, the push target
 * resolved, every value checked and converted into rows) and then srv_push_commit_now (the
 * committer's group commit, for a group of one, on this thread, and the reply). The repo and
 * the started server are fuzz_srv.h's. Input: byte 0 picks the route (odd: /push, even:
 * /write-to-online-store); the rest is the body.
 *
 * Checks: the status is 200 or an error status (400-599); the reply is one JSON document; an
 * error reply is {"error": {"code", "message"}} and one from srv_push_prepare is a 4xx (the
 * caller's mistake: nothing reaches the store); a 200 is {"rows": N} with N the length of the
 * df columns; a 200 to the online store is visible at once: the last row pushed of a new
 * entity is that entity's latest row online (checked when the push has a single row with a
 * non-null amount, on a user id no earlier input used).
 *
 * Pushes that validate are stored (offline and online, on /dev/shm when it exists): the store
 * grows during a run, so a finding may depend on the inputs before it.
 */
#include <jansson.h>

#include "fuzz_srv.h"

static tess_store *st;
static tess_server *srv;
static srv_thread th;
static tess_session *session; /* the committer's, made on first use */
static tess_session *reader;  /* for the visibility check */
static tess_query *query;     /* stats:last_amount */

/* every user id pushed so far (an open-addressing set; 0 is stored apart) */
static int64_t *seen;
static size_t seen_cap, seen_n;
static int seen_zero;

static int seen_has(int64_t u)
{
    if (u == 0) return seen_zero;
    for (size_t i = (size_t)(u * 0x9E3779B97F4A7C15ull) & (seen_cap - 1); seen_cap;
         i = (i + 1) & (seen_cap - 1)) {
        if (seen[i] == 0) return 0;
        if (seen[i] == u) return 1;
    }
    return 0;
}

static void seen_add(int64_t u)
{
    if (u == 0) {
        seen_zero = 1;
        return;
    }
    if (seen_has(u)) return;
    if (2 * (seen_n + 1) > seen_cap) {
        size_t nc = seen_cap ? seen_cap * 2 : 1024;
        int64_t *old = seen, oc = (int64_t)seen_cap;
        seen = calloc(nc, sizeof *seen);
        seen_cap = nc;
        seen_n = 0;
        for (int64_t i = 0; i < oc; i++)
            if (old[i]) seen_add(old[i]);
        free(old);
    }
    size_t i = (size_t)(u * 0x9E3779B97F4A7C15ull) & (seen_cap - 1);
    while (seen[i])
        i = (i + 1) & (seen_cap - 1);
    seen[i] = u;
    seen_n++;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_srv_setup(&st, &srv);
    const char *feats[] = {"stats:last_amount"};
    pthread_mutex_lock(&srv->store_lock); /* the server's rule for calls on the store */
    if (tess_session_new(st, &reader) != TESS_OK ||
        tess_query_new(st, NULL, feats, 1, 0, &query) != TESS_OK) {
        fprintf(stderr, "set-up: %s\n", tess_store_errmsg(st));
        abort();
    }
    pthread_mutex_unlock(&srv->store_lock);
    return 0;
}

static void fail_with(const char *why, int status, const char *reply, size_t n)
{
    fprintf(stderr, "%s: status %d, reply %.*s\n", why, status, (int)(n > 2000 ? 2000 : n),
            reply ? reply : "");
    abort();
}

/* After a push answered 200: a single-row push, not offline only, of a user never pushed
 * before, with a number as amount, is visible at once: the user's last_amount online is that
 * amount (when the row is within the view's ttl and not in the future: PRESENT). Every user
 * id of the push is then remembered. */
static void check_visible(const char *body, size_t n)
{
    json_t *doc = json_loadb(body, n, 0, NULL);
    json_t *df = json_object_get(doc, "df");
    json_t *uids = json_object_get(df, "user_id");
    json_t *uid = json_array_get(uids, 0);
    json_t *amt = json_array_get(json_object_get(df, "amount"), 0);
    const char *to = json_string_value(json_object_get(doc, "to"));
    if (json_is_integer(uid) && json_array_size(uids) == 1 && json_is_number(amt) &&
        !(to && strcmp(to, "offline") == 0) && !seen_has(json_integer_value(uid))) {
        double want = json_number_value(amt);
        tess_value key;
        memset(&key, 0, sizeof key);
        key.type = TESS_TYPE_INT64;
        key.u.i = json_integer_value(uid);
        tess_online_result res;
        if (tess_get_online(reader, query, &key, 1, 0, &res) != TESS_OK) {
            fprintf(stderr, "lookup: %s\n", tess_session_errmsg(reader));
            abort();
        }
        const tess_value *v = &res.values[0];
        if (res.statuses[0] == TESS_STATUS_PRESENT && v->u.f != want &&
            !(want != want && v->u.f != v->u.f)) {
            fprintf(stderr, "pushed amount %.17g for user %lld, online %.17g\n", want,
                    (long long)key.u.i, v->u.f);
            abort();
        }
    }
    for (size_t i = 0; i < json_array_size(uids); i++)
        if (json_is_integer(json_array_get(uids, i)))
            seen_add(json_integer_value(json_array_get(uids, i)));
    json_decref(doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    int view = (data[0] & 1) == 0;
    char *body = malloc(size); /* exactly the body's bytes: ASan sees any read past them */
    memcpy(body, data + 1, size - 1);
    char *copy = malloc(size); /* the body as sent (the parser decodes strings in place) */
    memcpy(copy, data + 1, size - 1);

    srv_conn c;
    memset(&c, 0, sizeof c);
    c.th = &th;
    c.state = SRV_C_READING;
    c.route = view ? R_WRITE_ONLINE : R_PUSH;
    srv_req r;
    memset(&r, 0, sizeof r);
    r.srv = srv;
    r.th = &th;
    r.body = body;
    r.n = size - 1;
    r.route = c.route;
    r.ecode = -1;
    r.ctype = "application/json";
    r.c = &c;
    th.out.len = 0;
    int status = srv_push_prepare(&r, view);
    int prepared = status == 0;
    size_t nrows = c.push.nrows;
    if (prepared) status = srv_push_commit_now(&r, &session);
    if (c.push.rows || c.push.columns || c.push.message)
        fail_with("the push's memory was not released", status, th.out.p, th.out.len);

    const char *out = th.out.p ? th.out.p : "";
    if (th.out.len < 4096) {
        char msg[4100];
        snprintf(msg, sizeof msg, "%.*s", (int)th.out.len, out);
        fuzz_debug("status", status, msg);
    }
    if (status != 200 && (status < 400 || status > 599))
        fail_with("not a status", status, out, th.out.len);
    if (!prepared && (status < 400 || status > 499) && status != 500)
        fail_with("a push refused before the store answers with a 4xx", status, out, th.out.len);
    if (th.out.oom) abort();
    json_error_t e;
    json_t *reply = json_loadb(out, th.out.len, 0, &e);
    if (!reply) fail_with("the reply is not JSON", status, out, th.out.len);
    if (status == 200) {
        json_t *rows = json_object_get(reply, "rows");
        if (!json_is_integer(rows) || json_object_size(reply) != 1 ||
            (size_t)json_integer_value(rows) != nrows)
            fail_with("a 200 that is not {\"rows\": N}", status, out, th.out.len);
        check_visible(copy, size - 1);
    } else {
        json_t *err = json_object_get(reply, "error");
        if (!json_is_string(json_object_get(err, "code")) ||
            !json_is_string(json_object_get(err, "message")) || r.ecode < 0)
            fail_with("an error reply without code and message", status, out, th.out.len);
    }
    json_decref(reply);
    free(body);
    free(copy);
    return 0;
}
