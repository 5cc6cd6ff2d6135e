/* push.c — POST /push and POST /write-to-online-store (docs/server.md).
 *
 *   POST /push                   {"push_source_name": "...", "df": {"col": [...], ...},
 *                                 "to": "online" | "offline" | "online_and_offline"}
 *   POST /write-to-online-store  {"feature_view_name": "...", "df": {...}}
 *
 * `df` is column-oriented like Feast's: every key a column of the source's schema, all arrays
 * of one length; values typed by the schema (timestamps as RFC 3339 strings, or integers of
 * microseconds). Feast's `allow_registry_cache` and `transform_on_write` are accepted and
 * ignored. The rows go through tess_push: every row checked before anything is stored; when
 * the reply is 200 the rows are durable (offline) and visible (online).
 *
 * Push targets are made once per (kind, name, registry version) and kept until the server
 * stops, so a request never waits for one being freed.
 */
#include <stdio.h>
#include <string.h>

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
        return srv_error(r, 404, atomic_load(&srv->version) == 0 ? E_NOTHING_APPLIED
                                 : view                         ? E_UNKNOWN_VIEW
                                                                : E_UNKNOWN_SOURCE,
                         "%s", msg[0] ? msg : tess_strerror(rc));
    if (rc == TESS_EINVAL) return srv_error(r, 400, E_INVALID_REQUEST, "%s", msg);
    if (rc) return srv_error(r, 500, E_INTERNAL, "%s", msg[0] ? msg : tess_strerror(rc));
    *out = e->p;
    return 0;
}

static int handle(srv_req *r, int view)
{
    tess_server *srv = r->srv;
    srv_thread *th = r->th;
    json_t *doc = NULL;
    const char **names = NULL;
    tess_value *rows = NULL;
    int status;
    const char *name_field = view ? "feature_view_name" : "push_source_name";

    long deep = srv_json_too_deep(r->body, r->n, srv->o.max_json_depth);
    if (deep >= 0) {
        status = srv_error(r, 400, E_TOO_DEEP, "JSON nested deeper than %d levels (at byte %ld)",
                           srv->o.max_json_depth, deep + 1);
        goto out;
    }
    json_error_t jerr;
    doc = json_loadb(r->body ? r->body : "", r->n, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc) {
        status = srv_error(r, 400, E_INVALID_JSON, "malformed JSON at line %d, column %d: %s",
                           jerr.line, jerr.column, jerr.text);
        goto out;
    }
    if (!json_is_object(doc)) {
        status = srv_error(r, 400, E_INVALID_REQUEST, "the body must be a JSON object, not %s",
                           srv_json_kind(doc));
        goto out;
    }
    const json_t *name = NULL, *to = NULL;
    json_t *df = NULL;
    const char *key;
    json_t *val;
    json_object_foreach(doc, key, val)
    {
        if (strcmp(key, name_field) == 0) name = val;
        else if (strcmp(key, "df") == 0) df = val;
        else if (!view && strcmp(key, "to") == 0) to = val;
        else if (strcmp(key, "allow_registry_cache") == 0 || strcmp(key, "transform_on_write") == 0)
            continue;
        else {
            status = srv_error(r, 400, E_UNKNOWN_FIELD, "unknown field \"%s\" (expected %s, df%s)",
                               key, name_field, view ? "" : ", to");
            goto out;
        }
    }
    if (!name || !json_is_string(name) || json_string_length(name) == 0) {
        status = srv_error(r, 400, E_INVALID_REQUEST, "%s must be a non-empty string", name_field);
        goto out;
    }
    int where = TESS_PUSH_ONLINE_AND_OFFLINE;
    if (to && !json_is_null(to)) {
        const char *t = json_is_string(to) ? json_string_value(to) : "";
        if (strcmp(t, "online") == 0) where = TESS_PUSH_ONLINE;
        else if (strcmp(t, "offline") == 0) where = TESS_PUSH_OFFLINE;
        else if (strcmp(t, "online_and_offline") == 0) where = TESS_PUSH_ONLINE_AND_OFFLINE;
        else {
            status = srv_error(r, 400, E_INVALID_REQUEST,
                               "to must be \"online\", \"offline\" or \"online_and_offline\"");
            goto out;
        }
    }
    if (!df || !json_is_object(df) || json_object_size(df) == 0) {
        status = srv_error(r, 400, E_INVALID_REQUEST,
                           "df must be an object of columns: {\"user_id\": [1], \"ts\": [...]}");
        goto out;
    }
    const tess_pusher *p = NULL;
    if ((status = pusher_get(r, view, json_string_value(name), &p)) != 0) goto out;
    /* columns: names of the schema, arrays of one length */
    size_t ncols = json_object_size(df), nrows = 0, c = 0;
    int *types = NULL;
    names = tess__calloc(ncols, sizeof(*names));
    types = tess__calloc(ncols, sizeof(int));
    const char *first = NULL;
    if (!names || !types) {
        tess__free(types);
        status = srv_error(r, 500, E_INTERNAL, "out of memory");
        goto out;
    }
    json_object_foreach(df, key, val)
    {
        size_t k = 0, nc = tess_pusher_ncolumns(p);
        while (k < nc && strcmp(tess_pusher_column(p, k, &types[c]), key) != 0) k++;
        if (k == nc) {
            status = srv_error(r, 400, E_INVALID_REQUEST,
                               "df.%s is not a column of the source's schema", key);
            tess__free(types);
            goto out;
        }
        if (!json_is_array(val)) {
            status = srv_error(r, 400, E_INVALID_REQUEST, "df.%s must be an array, not %s", key,
                               srv_json_kind(val));
            tess__free(types);
            goto out;
        }
        if (!first) {
            first = key;
            nrows = json_array_size(val);
        } else if (json_array_size(val) != nrows) {
            status = srv_error(r, 400, E_LENGTH_MISMATCH, "df.%s has %zu values but df.%s has %zu",
                               key, json_array_size(val), first, nrows);
            tess__free(types);
            goto out;
        }
        names[c++] = key;
    }
    if (nrows > srv->o.max_entities) {
        status = srv_error(r, 413, E_TOO_MANY_ENTITIES, "%zu rows in one push; the limit is %zu",
                           nrows, srv->o.max_entities);
        tess__free(types);
        goto out;
    }
    rows = tess__calloc(nrows * ncols + 1, sizeof(*rows));
    if (!rows) {
        tess__free(types);
        status = srv_error(r, 500, E_INTERNAL, "out of memory");
        goto out;
    }
    for (c = 0; c < ncols; c++) {
        const json_t *col = json_object_get(df, names[c]);
        for (size_t row = 0; row < nrows; row++) {
            const json_t *j = json_array_get(col, row);
            const char *why = srv_json_value(j, types[c], 1, &rows[row * ncols + c]);
            if (why) {
                status = srv_error(r, 400, E_INVALID_ROW, "df.%s[%zu]: %s (%s), got %s", names[c],
                                   row, why, tess_type_name(types[c]), srv_json_kind(j));
                tess__free(types);
                goto out;
            }
        }
    }
    tess__free(types);
    if ((status = srv_thread_session(r)) != 0) goto out;
    int rc = tess_push(th->session, p, names, ncols, rows, nrows, where);
    if (rc != TESS_OK) {
        const char *msg = tess_session_errmsg(th->session);
        if (!msg || !msg[0]) msg = tess_strerror(rc);
        status = rc == TESS_EINVAL ? srv_error(r, 400, E_INVALID_ROW, "%s", msg)
                                   : srv_error(r, 500, E_INTERNAL, "push failed: %s", msg);
        goto out;
    }
    srv_count(&th->m.pushes, 1);
    srv_count(&th->m.pushed_rows, nrows);
    th->out.len = 0;
    srv_printf(&th->out, "{\"rows\":%zu}\n", nrows);
    status = 200;
out:
    tess__free(rows);
    tess__free(names);
    json_decref(doc);
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
