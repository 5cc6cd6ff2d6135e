/* push.c — POST /push and POST /write-to-online-store (docs/server.md).
 *
 *   POST /push                   {"push_source_name": "...", "df": {"col": [...], ...},
 *                                 "to": "online" | "offline" | "online_and_offline"}
 *   POST /write-to-online-store  {"feature_view_name": "...", "df": {...}}
 *
 * `df` is column-oriented like Feast's: every key a column of the source's schema, all arrays
 * of one length; values typed by the schema (timestamps as RFC 3339 strings, or integers of
 * microseconds). Feast's `allow_registry_cache` and `transform_on_write` are accepted and
 * ignored. Every value is checked (type by the schema, the event timestamp present and not
 * null) before anything is stored; a bad one rejects the whole push (400 invalid_row, naming
 * df.column[row]). When the reply is 200 the rows are durable (offline) and visible (online).
 *
 * The worker thread never waits for a commit. It parses the body (jsonr.c: strings stay in
 * the body, decoded in place), converts the columns into typed rows, suspends the connection
 * (MHD_suspend_connection) and queues it. A committer thread takes everything queued at
 * once and commits it with one tess_push_many — one group commit: one offline append, one
 * fsync, one online write — then resumes each connection with its outcome; its worker answers
 * on its next call (srv_push_answer). Pushes that arrive during a commit form the next group,
 * so that under load a group holds every connection's push, and lookups on the same workers
 * are never queued behind a commit. There are two committers: while one group is written
 * online, the next one is committed offline (the store's two stages, src/store/push.c).
 *
 * Stop (srv_push_stop): new pushes are refused (503), the queued ones are committed and their
 * connections resumed before libmicrohttpd is stopped (it must not stop with a connection
 * suspended).
 *
 * Push targets are made once per (kind, name, registry version) and kept until the server
 * stops, so a request never waits for one being freed.
 */
#include <stdio.h>
#include <string.h>

#include <microhttpd.h>

#include "core/alloc.h"
#include "server/server.h"

typedef struct srv_pentry {
    struct srv_pentry *next;
    int view; /* made by tess_pusher_for_view */
    char *name;
    int64_t version;
    tess_pusher *p;
} srv_pentry;

void srv_push_release(tess_server *srv)
{
    while (srv->pushers) {
        srv_pentry *e = srv->pushers;
        srv->pushers = e->next;
        tess_pusher_free(e->p);
        tess__free(e->name);
        tess__free(e);
    }
}

/* The push target of `name`; 0 or the status of the error reply. */
static int pusher_get(srv_req *r, int view, const char *name, const tess_pusher **out)
{
    tess_server *srv = r->srv;
    int64_t version = atomic_load(&srv->version);
    char msg[1024] = "";
    int rc = TESS_OK;
    pthread_mutex_lock(&srv->store_lock);
    srv_pentry *e = srv->pushers;
    while (e && !(e->view == view && e->version == version && strcmp(e->name, name) == 0))
        e = e->next;
    if (!e) {
        tess_pusher *p = NULL;
        rc = view ? tess_pusher_for_view(srv->st, name, &p) : tess_pusher_new(srv->st, name, &p);
        if (rc != TESS_OK) {
            snprintf(msg, sizeof msg, "%s", tess_store_errmsg(srv->st));
        } else if (!(e = tess__calloc(1, sizeof(*e))) || !(e->name = tess__strdup(name))) {
            tess__free(e);
            e = NULL;
            tess_pusher_free(p);
            rc = TESS_ENOMEM;
        } else {
            e->view = view;
            e->version = version;
            e->p = p;
            e->next = srv->pushers;
            srv->pushers = e;
        }
    }
    pthread_mutex_unlock(&srv->store_lock);
    if (rc == TESS_NOTFOUND)
        return srv_error(r, 404,
                         atomic_load(&srv->version) == 0 ? E_NOTHING_APPLIED
                         : view                          ? E_UNKNOWN_VIEW
                                                         : E_UNKNOWN_SOURCE,
                         "%s", msg[0] ? msg : tess_strerror(rc));
    if (rc == TESS_EINVAL) return srv_error(r, 400, E_INVALID_REQUEST, "%s", msg);
    if (rc) return srv_error(r, 500, E_INTERNAL, "%s", msg[0] ? msg : tess_strerror(rc));
    *out = e->p;
    return 0;
}

int srv_push_prepare(srv_req *r, int view)
{
    tess_server *srv = r->srv;
    srv_jdoc *d = &r->th->doc;
    int status;
    const char *name_field = view ? "feature_view_name" : "push_source_name";

    if ((status = srv_parse_body(r)) != 0) return status;
    const srv_jnode *nd = d->nodes;
    uint32_t name = 0, to = 0, df = 0;
    for (SRV_JEACH_MEMBER(d, 0, k, i)) {
        const char *key = nd[k].u.s;
        if (strcmp(key, name_field) == 0)
            name = k + 1;
        else if (strcmp(key, "df") == 0)
            df = k + 1;
        else if (!view && strcmp(key, "to") == 0)
            to = k + 1;
        else if (strcmp(key, "allow_registry_cache") == 0 || strcmp(key, "transform_on_write") == 0)
            continue;
        else
            return srv_error(r, 400, E_UNKNOWN_FIELD, "unknown field \"%s\" (expected %s, df%s)",
                             key, name_field, view ? "" : ", to");
    }
    if (!name || nd[name].type != SJ_STRING || nd[name].n == 0)
        return srv_error(r, 400, E_INVALID_REQUEST, "%s must be a non-empty string", name_field);
    int where = TESS_PUSH_ONLINE_AND_OFFLINE;
    if (to && nd[to].type != SJ_NULL) {
        const char *t = nd[to].type == SJ_STRING ? nd[to].u.s : "";
        if (strcmp(t, "online") == 0)
            where = TESS_PUSH_ONLINE;
        else if (strcmp(t, "offline") == 0)
            where = TESS_PUSH_OFFLINE;
        else if (strcmp(t, "online_and_offline") == 0)
            where = TESS_PUSH_ONLINE_AND_OFFLINE;
        else
            return srv_error(r, 400, E_INVALID_REQUEST,
                             "to must be \"online\", \"offline\" or \"online_and_offline\"");
    }
    if (!df || nd[df].type != SJ_OBJECT || nd[df].n == 0)
        return srv_error(r, 400, E_INVALID_REQUEST,
                         "df must be an object of columns: {\"user_id\": [1], \"ts\": [...]}");
    const tess_pusher *p = NULL;
    if ((status = pusher_get(r, view, nd[name].u.s, &p)) != 0) return status;

    /* columns: names of the schema, arrays of one length, the event timestamp among them */
    size_t ncols = nd[df].n, nrows = 0, nschema = tess_pusher_ncolumns(p);
    size_t ts_col = tess_pusher_ts_column(p);
    const char *first = NULL, *ts_name = tess_pusher_column(p, ts_col, NULL);
    int types[64], *type = types;
    uint32_t arrs[64], *arr = arrs;
    int has_ts = 0;
    tess_push_req *pr = &r->c->push;
    const char **names = tess__calloc(ncols, sizeof *names);
    if (ncols > 64) {
        type = tess__calloc(ncols, sizeof *type);
        arr = tess__calloc(ncols, sizeof *arr);
    }
    if (!names || !type || !arr) {
        status = srv_error(r, 500, E_INTERNAL, "out of memory");
        goto fail;
    }
    for (SRV_JEACH_MEMBER(d, df, k, c)) {
        const char *key = nd[k].u.s;
        uint32_t v = k + 1;
        size_t s = 0;
        while (s < nschema && strcmp(tess_pusher_column(p, s, &type[c]), key) != 0)
            s++;
        if (s == nschema) {
            status = srv_error(r, 400, E_INVALID_REQUEST,
                               "df.%s is not a column of the source's schema", key);
            goto fail;
        }
        if (s == ts_col) has_ts = 1;
        if (nd[v].type != SJ_ARRAY) {
            status = srv_error(r, 400, E_INVALID_REQUEST, "df.%s must be an array, not %s", key,
                               srv_jkind(&nd[v]));
            goto fail;
        }
        if (!first) {
            first = key;
            nrows = nd[v].n;
        } else if (nd[v].n != nrows) {
            status = srv_error(r, 400, E_LENGTH_MISMATCH, "df.%s has %u values but df.%s has %zu",
                               key, nd[v].n, first, nrows);
            goto fail;
        }
        names[c] = key;
        arr[c] = v;
    }
    if (!has_ts) {
        status = srv_error(r, 400, E_INVALID_ROW, "column \"%s\" (the event timestamp) is missing",
                           ts_name);
        goto fail;
    }
    if (nrows > srv->o.max_entities) {
        status = srv_error(r, 413, E_TOO_MANY_ENTITIES, "%zu rows in one push; the limit is %zu",
                           nrows, srv->o.max_entities);
        goto fail;
    }
    /* the rows, row-major, every value checked; strings point into the body, which stays
     * with the connection until it is answered */
    tess_value *rows = tess__malloc((nrows * ncols + 1) * sizeof *rows);
    if (!rows) {
        status = srv_error(r, 500, E_INTERNAL, "out of memory");
        goto fail;
    }
    pr->rows = rows;
    for (size_t c = 0; c < ncols; c++) {
        int null_ok = strcmp(names[c], ts_name) != 0;
        for (SRV_JEACH_ELEM(d, arr[c], j, row)) {
            const char *why = srv_json_value(&nd[j], type[c], null_ok, &rows[row * ncols + c]);
            if (why) {
                if (why[0] == 'e')
                    status =
                        srv_error(r, 400, E_INVALID_ROW, "df.%s[%u]: %s (%s), got %s", names[c],
                                  row, why, tess_type_name(type[c]), srv_jkind(&nd[j]));
                else if (nd[j].type == SJ_NULL)
                    status = srv_error(r, 400, E_INVALID_ROW,
                                       "df.%s[%u] is null (the event timestamp cannot be null)",
                                       names[c], row);
                else
                    status = srv_error(r, 400, E_INVALID_ROW, "df.%s[%u] %s", names[c], row, why);
                goto fail;
            }
        }
    }
    if (type != types) tess__free(type);
    if (arr != arrs) tess__free(arr);
    pr->pusher = p;
    pr->columns = names;
    pr->ncols = ncols;
    pr->nrows = nrows;
    pr->to = where;
    pr->status = TESS_OK;
    pr->message = NULL;
    return 0;

fail:
    if (type != types) tess__free(type);
    if (arr != arrs) tess__free(arr);
    pr->columns = names;
    srv_push_conn_done(srv, r->c);
    return status;
}

static int handle(srv_req *r, int view)
{
    tess_server *srv = r->srv;
    int status = srv_push_prepare(r, view);
    if (status != 0) return status;

    /* to the committer: suspended first, so that it cannot be resumed before */
    srv_conn *c = r->c;
    pthread_mutex_lock(&srv->pq_lock);
    if (srv->pq_closing) {
        pthread_mutex_unlock(&srv->pq_lock);
        srv_push_conn_done(srv, c);
        return srv_error(r, 503, E_INTERNAL, "the server is stopping; the push was not stored");
    }
    c->mc = r->mc;
    c->state = SRV_C_QUEUED;
    c->next_push = NULL;
    MHD_suspend_connection(r->mc);
    if (srv->pq_tail)
        srv->pq_tail->next_push = c;
    else
        srv->pq_head = c;
    srv->pq_tail = c;
    atomic_fetch_add(&srv->pq_pending, 1);
    pthread_cond_signal(&srv->pq_cond);
    pthread_mutex_unlock(&srv->pq_lock);
    return SRV_SUSPENDED;
}

void srv_push_conn_done(tess_server *srv, srv_conn *c)
{
    if (c->state == SRV_C_QUEUED || c->state == SRV_C_COMMITTED)
        atomic_fetch_sub(&srv->pq_pending, 1);
    if (c->state != SRV_C_READING) c->state = SRV_C_ANSWERED;
    tess__free((void *)c->push.columns);
    tess__free((void *)c->push.rows);
    tess_free(c->push.message);
    memset(&c->push, 0, sizeof c->push);
}

int srv_push_answer(srv_req *r)
{
    srv_conn *c = r->c;
    srv_thread *th = r->th;
    tess_push_req *pr = &c->push;
    int status;
    const char *msg = pr->message ? pr->message : tess_strerror(pr->status);
    if (pr->status == TESS_OK) {
        srv_count(&th->m.pushes, 1);
        srv_count(&th->m.pushed_rows, pr->nrows);
        th->out.len = 0;
        srv_printf(&th->out, "{\"rows\":%zu}\n", pr->nrows);
        status = 200;
    } else if (pr->status == TESS_EINVAL) {
        status = srv_error(r, 400, E_INVALID_ROW, "%s", msg);
    } else if (pr->status == TESS_EIO) { /* a store cannot be written: not stored, try again */
        status = srv_error(r, 503, E_UNAVAILABLE, "push failed: %s", msg);
    } else {
        status = srv_error(r, 500, E_INTERNAL, "push failed: %s", msg);
    }
    srv_push_conn_done(r->srv, c);
    return status;
}

int srv_handle_push(srv_req *r)
{
    return handle(r, 0);
}

int srv_handle_write_online(srv_req *r)
{
    return handle(r, 1);
}

/* ---- the committer -----------------------------------------------------------------------------
 */

/* Commits the pushes of `list` as one group: each one's push.status and push.message. */
static void group_commit(tess_server *srv, tess_session **session, srv_conn *list,
                         tess_push_req **reqs, size_t *cap)
{
    size_t n = 0;
    for (srv_conn *c = list; c; c = c->next_push)
        n++;
    int rc = TESS_OK;
    char msg[1024] = "";
    if (n > *cap) {
        tess_push_req *nr = tess__realloc(*reqs, n * sizeof *nr);
        if (nr) {
            *reqs = nr;
            *cap = n;
        } else {
            rc = TESS_ENOMEM;
        }
    }
    if (!rc && !*session) {
        pthread_mutex_lock(&srv->store_lock);
        rc = tess_session_new(srv->st, session);
        if (rc != TESS_OK) {
            snprintf(msg, sizeof msg, "cannot open a session: %s",
                     *session ? tess_session_errmsg(*session) : tess_store_errmsg(srv->st));
            tess_session_free(*session);
            *session = NULL;
        }
        pthread_mutex_unlock(&srv->store_lock);
    }
    if (!rc) {
        size_t i = 0;
        for (srv_conn *c = list; c; c = c->next_push)
            (*reqs)[i++] = c->push;
        tess_push_many(*session, *reqs, n);
        i = 0;
        for (srv_conn *c = list; c; c = c->next_push, i++) {
            c->push.status = (*reqs)[i].status;
            c->push.message = (*reqs)[i].message;
        }
    } else {
        for (srv_conn *c = list; c; c = c->next_push) {
            c->push.status = rc;
            c->push.message = tess__strdup(msg[0] ? msg : tess_strerror(rc));
        }
    }
}

int srv_push_commit_now(srv_req *r, tess_session **session)
{
    srv_conn *c = r->c;
    tess_push_req *reqs = NULL;
    size_t cap = 0;
    c->next_push = NULL;
    atomic_fetch_add(&r->srv->pq_pending, 1); /* as if queued: srv_push_answer counts it off */
    c->state = SRV_C_QUEUED;
    group_commit(r->srv, session, c, &reqs, &cap);
    tess__free(reqs);
    c->state = SRV_C_COMMITTED;
    return srv_push_answer(r);
}

/* Commits the pushes of `list` as one group and resumes their connections. */
static void commit(tess_server *srv, tess_session **session, srv_conn *list,
                   tess_push_req **reqs, size_t *cap)
{
    group_commit(srv, session, list, reqs, cap);
    /* resume: the next_push links are read before each connection is handed back */
    for (srv_conn *c = list, *next; c; c = next) {
        next = c->next_push;
        c->next_push = NULL;
        c->state = SRV_C_COMMITTED;
        MHD_resume_connection(c->mc);
    }
}

static void *committer_main(void *arg)
{
    tess_server *srv = arg;
    tess_push_req *reqs = NULL;
    tess_session *session = NULL;
    size_t cap = 0;
    pthread_mutex_lock(&srv->pq_lock);
    for (;;) {
        while (!srv->pq_head && !srv->pq_closing)
            pthread_cond_wait(&srv->pq_cond, &srv->pq_lock);
        if (!srv->pq_head) break; /* closing, and nothing left */
        srv_conn *list = srv->pq_head;
        srv->pq_head = srv->pq_tail = NULL;
        pthread_mutex_unlock(&srv->pq_lock);
        commit(srv, &session, list, &reqs, &cap);
        pthread_mutex_lock(&srv->pq_lock);
    }
    pthread_cond_broadcast(&srv->pq_cond); /* the other committer may be waiting to close too */
    pthread_mutex_unlock(&srv->pq_lock);
    tess_session_free(session);
    tess__free(reqs);
    return NULL;
}

int srv_push_init(tess_server *srv)
{
    for (int i = 0; i < 2; i++) {
        if (pthread_create(&srv->committer[i], NULL, committer_main, srv) != 0) return TESS_ENOMEM;
        srv->committers++;
    }
    return TESS_OK;
}

void srv_push_stop(tess_server *srv)
{
    if (!srv->committers) return;
    pthread_mutex_lock(&srv->pq_lock);
    srv->pq_closing = 1;
    pthread_cond_broadcast(&srv->pq_cond);
    pthread_mutex_unlock(&srv->pq_lock);
    for (int i = 0; i < srv->committers; i++) pthread_join(srv->committer[i], NULL);
    srv->committers = 0;
}
