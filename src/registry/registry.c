/* registry.c — the registry's storage in SQLite: schema and migrations, versions, plan and apply,
 * history and definitions. Catalog queries are in catalog.c and lineage.c.
 *
 * Database (docs/registry.md has the full schema):
 *   schema_migrations  one row per schema migration applied (the schema version is the max)
 *   versions           one row per apply: full canonical document, its hash, applied_at, summary
 *   objects, edges     each row valid for the versions [since_version, until_version): a row is
 *                      written when an object (edge) appears or its body changes, and closed
 *                      (until_version set) when it changes or disappears. A row with
 *                      until_version NULL is part of the latest version.
 *
 * Concurrency: WAL journal, so readers see the last committed version and never wait for a
 * writer; each catalog query reads inside one transaction (one snapshot). An apply is one
 * BEGIN IMMEDIATE transaction: it takes the write lock first (waiting up to busy_ms for another
 * writer), then reads the latest version, so two concurrent applies are serialized and each one
 * diffs against what the other committed. A crash before COMMIT leaves the previous version.
 *
 * Durability: synchronous=FULL (an acknowledged apply survives power loss; applies are rare).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/hash.h"
#include "core/time.h"
#include "registry/reg_int.h"
#include "tessera.h"

/* ---- SQLite helpers ---------------------------------------------------------------------- */

int tess__reg_sqlerr(tess__registry *r, tess__err *err, int src, const char *what)
{
    int prim = src & 0xff;
    const char *msg = r && r->db ? sqlite3_errmsg(r->db) : sqlite3_errstr(src);
    const char *path = r && r->path ? r->path : "registry";
    switch (prim) {
    case SQLITE_NOMEM:
        return tess__err_set(err, TESS_ENOMEM, "out of memory");
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return tess__err_set(err, TESS_EREGISTRY,
                             "%s: %s: the registry is locked by another writer (waited %d ms)",
                             path, what, r ? r->busy_ms : 0);
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PERM:
        return tess__err_set(err, TESS_EIO, "%s: %s: %s", path, what, msg);
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        return tess__err_set(err, TESS_EREGISTRY, "%s: %s: not a registry database or damaged (%s)",
                             path, what, msg);
    default:
        return tess__err_set(err, TESS_EREGISTRY, "%s: %s: %s", path, what, msg);
    }
}

int tess__reg_prepare(tess__registry *r, const char *sql, sqlite3_stmt **st, tess__err *err)
{
    int src = sqlite3_prepare_v2(r->db, sql, -1, st, NULL);
    if (src != SQLITE_OK) {
        sqlite3_finalize(*st);
        *st = NULL;
        return tess__reg_sqlerr(r, err, src, "query");
    }
    return TESS_OK;
}

static int exec(tess__registry *r, const char *sql, const char *what, tess__err *err)
{
    int src = sqlite3_exec(r->db, sql, NULL, NULL, NULL);
    return src == SQLITE_OK ? TESS_OK : tess__reg_sqlerr(r, err, src, what);
}

const char *tess__col_text(sqlite3_stmt *st, int i)
{
    const unsigned char *s = sqlite3_column_text(st, i);
    return s ? (const char *)s : "";
}

/* A transaction left open by a failure whose ROLLBACK failed too (out of memory) is rolled back
 * before the next operation, so that the handle never keeps the write lock. */
static void recover(tess__registry *r)
{
    if (!sqlite3_get_autocommit(r->db)) sqlite3_exec(r->db, "ROLLBACK", NULL, NULL, NULL);
}

int tess__reg_begin_read(tess__registry *r, tess__err *err)
{
    recover(r);
    return exec(r, "BEGIN", "begin", err);
}

static int begin_write(tess__registry *r, tess__err *err)
{
    recover(r);
    return exec(r, "BEGIN IMMEDIATE", "begin", err);
}

int tess__reg_end(tess__registry *r, int rc, tess__err *err)
{
    if (sqlite3_get_autocommit(r->db)) return rc; /* SQLite already rolled back */
    if (rc == TESS_OK) {
        int src = sqlite3_exec(r->db, "COMMIT", NULL, NULL, NULL);
        if (src == SQLITE_OK) return TESS_OK;
        rc = tess__reg_sqlerr(r, err, src, "commit");
    }
    sqlite3_exec(r->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

/* ---- schema ------------------------------------------------------------------------------ */

/* Migration i (0-based) brings the schema from version i to i + 1. Only ever append. */
static const char *const migrations[TESS__REGISTRY_SCHEMA] = {
    /* 1: versions, objects, edges */
    "CREATE TABLE versions ("
    "  version     INTEGER PRIMARY KEY CHECK (version > 0),"
    "  applied_at  INTEGER NOT NULL," /* microseconds since the epoch, UTC */
    "  project     TEXT NOT NULL,"
    "  hash        TEXT NOT NULL," /* tess__hash128_hex of definitions */
    "  definitions TEXT NOT NULL," /* canonical document, sorted keys, compact */
    "  summary     TEXT NOT NULL"  /* {added, changed, removed, affected_services} */
    ");"
    "CREATE TABLE objects ("
    "  id            INTEGER PRIMARY KEY,"
    "  kind          TEXT NOT NULL CHECK (kind IN ('entity', 'source', 'feature_view', 'feature',"
    "                  'on_demand_feature', 'feature_service')),"
    "  name          TEXT NOT NULL,"
    "  since_version INTEGER NOT NULL REFERENCES versions(version),"
    "  until_version INTEGER REFERENCES versions(version),"
    "  owner         TEXT NOT NULL DEFAULT '',"
    "  description   TEXT NOT NULL DEFAULT '',"
    "  tags          TEXT NOT NULL DEFAULT '{}',"
    "  body          TEXT NOT NULL,"
    "  CHECK (until_version IS NULL OR until_version > since_version),"
    "  UNIQUE (kind, name, since_version)"
    ");"
    "CREATE INDEX objects_live ON objects (until_version, kind, name);"
    "CREATE TABLE edges ("
    "  id            INTEGER PRIMARY KEY,"
    "  from_kind     TEXT NOT NULL,"
    "  from_name     TEXT NOT NULL,"
    "  to_kind       TEXT NOT NULL,"
    "  to_name       TEXT NOT NULL,"
    "  since_version INTEGER NOT NULL REFERENCES versions(version),"
    "  until_version INTEGER REFERENCES versions(version),"
    "  CHECK (until_version IS NULL OR until_version > since_version),"
    "  UNIQUE (from_kind, from_name, to_kind, to_name, since_version)"
    ");"
    "CREATE INDEX edges_to ON edges (to_kind, to_name);"
    "CREATE INDEX edges_live ON edges (until_version);",
    /* 2: the definition files each version was loaded from ([{"name","text"}]) */
    "ALTER TABLE versions ADD COLUMN files TEXT NOT NULL DEFAULT '[]';",
};

static int schema_version(tess__registry *r, int64_t *v, tess__err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = tess__reg_prepare(r,
                               "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
                               "name = 'schema_migrations'",
                               &st, err);
    if (rc) return rc;
    int src = sqlite3_step(st);
    int exists = src == SQLITE_ROW && sqlite3_column_int(st, 0) > 0;
    sqlite3_finalize(st);
    if (src != SQLITE_ROW) return tess__reg_sqlerr(r, err, src, "reading the schema");
    *v = 0;
    if (!exists) return TESS_OK;
    if ((rc = tess__reg_prepare(r, "SELECT coalesce(max(version), 0) FROM schema_migrations", &st,
                                err)))
        return rc;
    src = sqlite3_step(st);
    if (src == SQLITE_ROW) *v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return src == SQLITE_ROW ? TESS_OK : tess__reg_sqlerr(r, err, src, "reading the schema");
}

static int migrate(tess__registry *r, tess__err *err)
{
    int64_t v, now = 0;
    int rc;
    if ((rc = schema_version(r, &v, err))) return rc;
    if (v == TESS__REGISTRY_SCHEMA) return TESS_OK; /* the usual case: reads only */
    if (v > TESS__REGISTRY_SCHEMA) goto newer;
    if ((rc = begin_write(r, err))) return rc;
    if ((rc = schema_version(r, &v, err))) goto out; /* another process may have migrated */
    if (v > TESS__REGISTRY_SCHEMA) {
        rc = tess__reg_end(r, TESS_EREGISTRY, err);
        goto newer;
    }
    if ((rc = exec(r,
                   "CREATE TABLE IF NOT EXISTS schema_migrations ("
                   " version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
                   "creating the schema", err)))
        goto out;
    if (tess__now(&now) != TESS_OK) now = 0;
    for (; v < TESS__REGISTRY_SCHEMA; v++) {
        sqlite3_stmt *st = NULL;
        if ((rc = exec(r, migrations[v], "migrating the schema", err))) goto out;
        if ((rc = tess__reg_prepare(
                 r, "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)", &st,
                 err)))
            goto out;
        sqlite3_bind_int64(st, 1, v + 1);
        sqlite3_bind_int64(st, 2, now);
        int src = sqlite3_step(st);
        sqlite3_finalize(st);
        if (src != SQLITE_DONE) {
            rc = tess__reg_sqlerr(r, err, src, "migrating the schema");
            goto out;
        }
    }
out:
    return tess__reg_end(r, rc, err);
newer:
    return tess__err_set(err, TESS_EREGISTRY,
                         "%s: registry schema version %lld is newer than this tessera's (%d): "
                         "upgrade tessera",
                         r->path, (long long)v, TESS__REGISTRY_SCHEMA);
}

/* ---- integrity ---------------------------------------------------------------------------- */

int tess__registry_verify(tess__registry *r, tess__err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = tess__reg_prepare(r, "PRAGMA integrity_check(10)", &st, err);
    if (rc) return rc;
    tess__buf msg = TESS__BUF_INIT;
    int src;
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        const char *line = tess__col_text(st, 0);
        if (line && strcmp(line, "ok") != 0)
            (void)tess__buf_printf(&msg, "%s%s", msg.len ? "; " : "", line);
    }
    for (size_t i = 0; i < msg.len; i++) /* SQLite's report has line breaks: one line here */
        if (msg.p[i] == '\n') msg.p[i] = ' ';
    sqlite3_finalize(st);
    if (src != SQLITE_DONE) rc = tess__reg_sqlerr(r, err, src, "verify");
    else if (msg.len)
        rc = tess__err_set(err, TESS_EREGISTRY, "registry %s is damaged: %s", r->path, msg.p);
    tess__buf_release(&msg);
    return rc;
}

/* ---- open / close ------------------------------------------------------------------------ */

int tess__registry_open(const char *path, tess__registry **out, tess__err *err)
{
    tess__registry *r = tess__calloc(1, sizeof *r);
    sqlite3_stmt *st = NULL;
    int rc = TESS_ENOMEM, src;
    *out = NULL;
    if (!r || !(r->path = tess__strdup(path))) {
        rc = tess__err_set(err, TESS_ENOMEM, "out of memory");
        goto out;
    }
    r->busy_ms = TESS__REGISTRY_BUSY_MS;
    src = sqlite3_open_v2(path, &r->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (src != SQLITE_OK) {
        rc = tess__reg_sqlerr(r, err, src, "open");
        goto out;
    }
    sqlite3_busy_timeout(r->db, r->busy_ms);
    if ((rc = exec(r, "PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL", "open", err)))
        goto out;
    /* WAL is persistent: switch only a new (or rollback-journal) database, so that opening an
     * existing registry never needs the write lock. */
    if ((rc = tess__reg_prepare(r, "PRAGMA journal_mode", &st, err))) goto out;
    src = sqlite3_step(st);
    int wal = src == SQLITE_ROW && sqlite3_stricmp(tess__col_text(st, 0), "wal") == 0;
    sqlite3_finalize(st);
    st = NULL;
    if (src != SQLITE_ROW) {
        rc = tess__reg_sqlerr(r, err, src, "open");
        goto out;
    }
    if (!wal) {
        if ((rc = tess__reg_prepare(r, "PRAGMA journal_mode = WAL", &st, err))) goto out;
        src = sqlite3_step(st);
        wal = src == SQLITE_ROW && sqlite3_stricmp(tess__col_text(st, 0), "wal") == 0;
        sqlite3_finalize(st);
        st = NULL;
        if (src != SQLITE_ROW) {
            rc = tess__reg_sqlerr(r, err, src, "switching to WAL");
            goto out;
        }
        if (!wal) {
            rc = tess__err_set(err, TESS_EREGISTRY, "%s: cannot switch to WAL journal mode",
                               r->path);
            goto out;
        }
    }
    if ((rc = migrate(r, err))) goto out;
    *out = r;
    r = NULL;
out:
    tess__registry_close(r);
    return rc;
}

void tess__registry_close(tess__registry *r)
{
    if (!r) return;
    if (r->db) {
        recover(r);
        sqlite3_close_v2(r->db);
    }
    tess__free(r->path);
    tess__free(r);
}

void tess__registry_set_busy_timeout(tess__registry *r, int ms)
{
    r->busy_ms = ms;
    sqlite3_busy_timeout(r->db, ms);
}

void tess__registry_set_hook(tess__registry *r, tess__registry_hook hook, void *arg)
{
    r->hook = hook;
    r->hook_arg = arg;
}

/* ---- versions ---------------------------------------------------------------------------- */

/* The latest version (0 if none) with its hash, applied_at and (if defs != NULL) its document
 * (tess__malloc'd). Inside the caller's transaction. */
static int latest(tess__registry *r, int64_t *version, char hash[33], int64_t *applied_at,
                  char **defs, tess__err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = tess__reg_prepare(r,
                               "SELECT version, hash, applied_at, definitions FROM versions "
                               "ORDER BY version DESC LIMIT 1",
                               &st, err);
    if (rc) return rc;
    *version = 0;
    if (hash) hash[0] = '\0';
    if (applied_at) *applied_at = 0;
    if (defs) *defs = NULL;
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        *version = sqlite3_column_int64(st, 0);
        if (hash) snprintf(hash, 33, "%s", tess__col_text(st, 1));
        if (applied_at) *applied_at = sqlite3_column_int64(st, 2);
        if (defs && !(*defs = tess__strdup(tess__col_text(st, 3))))
            rc = tess__err_set(err, TESS_ENOMEM, "out of memory");
    } else if (src != SQLITE_DONE) {
        rc = tess__reg_sqlerr(r, err, src, "reading the latest version");
    }
    sqlite3_finalize(st);
    return rc;
}

int tess__registry_latest(tess__registry *r, int64_t *version, char *hash_out, tess__err *err)
{
    char hash[33];
    int rc = tess__reg_begin_read(r, err);
    if (rc) return rc;
    rc = latest(r, version, hash, NULL, NULL, err);
    rc = tess__reg_end(r, rc, err);
    if (rc == TESS_OK && hash_out) memcpy(hash_out, hash, 33);
    return rc;
}

int tess__reg_version(tess__registry *r, int64_t version, int64_t *out, tess__err *err)
{
    sqlite3_stmt *st = NULL;
    int rc, src;
    if (version < 0) return tess__err_set(err, TESS_EINVAL, "bad version %lld", (long long)version);
    if ((rc = tess__reg_prepare(r, "SELECT coalesce(max(version), 0) FROM versions", &st, err)))
        return rc;
    src = sqlite3_step(st);
    int64_t last = src == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    if (src != SQLITE_ROW) return tess__reg_sqlerr(r, err, src, "reading versions");
    if (last == 0)
        return tess__err_set(err, TESS_NOTFOUND,
                             "the registry is empty: no definitions have been applied yet");
    if (version > last)
        return tess__err_set(err, TESS_NOTFOUND, "no registry version %lld (the latest is %lld)",
                             (long long)version, (long long)last);
    *out = version ? version : last; /* versions are 1..last without gaps */
    return TESS_OK;
}

static int fmt_time(json_t *o, const char *key, int64_t us)
{
    char buf[TESS_TS_FORMAT_MAX];
    tess__ts_format(us, buf);
    return json_object_set_new(o, key, json_string(buf));
}

/* The plan document's head. */
static json_t *plan_new(const char *project, int64_t from, const char *hash, int changes)
{
    json_t *p = json_object();
    if (!p || json_object_set_new(p, "project", json_string(project)) ||
        json_object_set_new(p, "from_version", from ? json_integer(from) : json_null()) ||
        json_object_set_new(p, "hash", json_string(hash)) ||
        json_object_set_new(p, "changes", json_boolean(changes))) {
        json_decref(p);
        return NULL;
    }
    return p;
}

/* Builds the model of the stored document `text`. */
static int model_of_text(tess__registry *r, const char *text, tess__rmodel *m, tess__err *err)
{
    json_error_t jerr = {0};
    json_t *doc = json_loads(text, 0, &jerr);
    int rc;
    if (!doc) {
        if (tess__json_oom(&jerr))
            return tess__err_set(err, TESS_ENOMEM, "out of memory");
        return tess__err_set(err, TESS_EREGISTRY,
                             "%s: a stored definitions document is damaged: %s", r->path,
                             jerr.text);
    }
    rc = tess__rmodel_build(doc, m, err);
    json_decref(doc);
    if (rc == TESS_EINVAL)
        rc = tess__err_set(err, TESS_EREGISTRY, "%s: a stored definitions document is damaged",
                           r->path);
    return rc;
}

/* What plan and apply share: the new document as text, hash and model, and the plan against the
 * latest version, read inside the caller's transaction. *same: the hash equals the latest. */
typedef struct prep {
    char *text;
    char hash[33];
    const char *project;
    tess__rmodel cur, old;
    int64_t from, from_at;
    int same;
    json_t *plan;
} prep;

static void prep_release(prep *p)
{
    tess__free(p->text);
    tess__rmodel_release(&p->cur);
    tess__rmodel_release(&p->old);
    json_decref(p->plan);
}

/* Outside the transaction: everything that depends on the new document only. */
static int prep_doc(json_t *defs, prep *p, tess__err *err)
{
    int rc;
    memset(p, 0, sizeof *p);
    p->cur = (tess__rmodel)TESS__RMODEL_INIT;
    p->old = (tess__rmodel)TESS__RMODEL_INIT;
    if ((rc = tess__rmodel_build(defs, &p->cur, err))) return rc;
    p->project = json_string_value(json_object_get(defs, "project"));
    if (!p->project) p->project = "";
    if (!(p->text = tess__json_text(defs, JSON_SORT_KEYS | JSON_COMPACT)) ||
        tess__rmodel_texts(&p->cur) != TESS_OK)
        return tess__err_set(err, TESS_ENOMEM, "out of memory");
    tess__hash128_hex(p->text, strlen(p->text), p->hash);
    return TESS_OK;
}

/* Inside the transaction: the latest version and the plan against it. */
static int prep_plan(tess__registry *r, prep *p, tess__err *err)
{
    char hash[33];
    char *old_text = NULL;
    int rc = latest(r, &p->from, hash, &p->from_at, &old_text, err);
    if (rc) goto out;
    p->same = p->from && strcmp(hash, p->hash) == 0;
    if (!(p->plan = plan_new(p->project, p->from, p->hash, !p->same))) goto oom;
    if (p->from && !p->same && (rc = model_of_text(r, old_text, &p->old, err))) goto out;
    if (p->same) {
        /* identical documents: nothing added, changed or removed */
        if (json_object_set_new(p->plan, "added", json_array()) ||
            json_object_set_new(p->plan, "changed", json_array()) ||
            json_object_set_new(p->plan, "removed", json_array()) ||
            json_object_set_new(p->plan, "affected_services", json_array()))
            goto oom;
    } else if (tess__rmodel_diff(p->from ? &p->old : NULL, &p->cur, p->plan) != TESS_OK) {
        goto oom;
    }
    goto out;
oom:
    rc = tess__err_set(err, TESS_ENOMEM, "out of memory");
out:
    tess__free(old_text);
    return rc;
}

int tess__registry_plan(tess__registry *r, json_t *defs, json_t **out, tess__err *err)
{
    prep p;
    int rc;
    *out = NULL;
    if ((rc = prep_doc(defs, &p, err))) goto out;
    if ((rc = tess__reg_begin_read(r, err))) goto out;
    rc = prep_plan(r, &p, err);
    if ((rc = tess__reg_end(r, rc, err))) goto out;
    *out = p.plan;
    p.plan = NULL;
out:
    prep_release(&p);
    return rc;
}

/* ---- apply ------------------------------------------------------------------------------- */

static int step_done(tess__registry *r, sqlite3_stmt *st, const char *what, tess__err *err)
{
    int src = sqlite3_step(st);
    sqlite3_reset(st);
    return src == SQLITE_DONE ? TESS_OK : tess__reg_sqlerr(r, err, src, what);
}

/* Closes the rows (ids) of `table` at version v. */
static int close_rows(tess__registry *r, const char *sql, const int64_t *ids, size_t n, int64_t v,
                      tess__err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = tess__reg_prepare(r, sql, &st, err);
    for (size_t i = 0; rc == TESS_OK && i < n; i++) {
        sqlite3_bind_int64(st, 1, v);
        sqlite3_bind_int64(st, 2, ids[i]);
        rc = step_done(r, st, "closing a row", err);
    }
    sqlite3_finalize(st);
    return rc;
}

typedef struct ids {
    int64_t *v;
    size_t n, cap;
} ids;

static int ids_add(ids *s, int64_t id)
{
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 64;
        int64_t *nv = tess__realloc(s->v, nc * sizeof *nv);
        if (!nv) return TESS_ENOMEM;
        s->v = nv;
        s->cap = nc;
    }
    s->v[s->n++] = id;
    return TESS_OK;
}

/* Objects: close the live rows that are gone or whose body changed, insert the new bodies. */
static int write_objects(tess__registry *r, const tess__rmodel *m, int64_t v, tess__err *err)
{
    sqlite3_stmt *st = NULL;
    ids gone = {0};
    unsigned char *kept = tess__calloc(m->nobjs ? m->nobjs : 1, 1);
    int rc = TESS_OK, src;
    if (!kept) {
        rc = tess__err_set(err, TESS_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = tess__reg_prepare(
             r, "SELECT id, kind, name, body FROM objects WHERE until_version IS NULL", &st, err)))
        goto out;
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        tess__kind k;
        const tess__robj *o = NULL;
        if (tess__kind_parse(tess__col_text(st, 1), &k) == 0)
            o = tess__rmodel_find(m, k, tess__col_text(st, 2));
        if (o && strcmp(o->text, tess__col_text(st, 3)) == 0) {
            kept[o - m->objs] = 1;
        } else if (ids_add(&gone, sqlite3_column_int64(st, 0)) != TESS_OK) {
            rc = tess__err_set(err, TESS_ENOMEM, "out of memory");
            goto out;
        }
    }
    if (src != SQLITE_DONE) {
        rc = tess__reg_sqlerr(r, err, src, "reading objects");
        goto out;
    }
    sqlite3_finalize(st);
    st = NULL;
    if ((rc = close_rows(r, "UPDATE objects SET until_version = ?1 WHERE id = ?2", gone.v, gone.n,
                         v, err)))
        goto out;
    if ((rc = tess__reg_prepare(r,
                                "INSERT INTO objects (kind, name, since_version, owner, "
                                "description, tags, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                                &st, err)))
        goto out;
    for (size_t i = 0; i < m->nobjs; i++) {
        const tess__robj *o = &m->objs[i];
        char *tags;
        if (kept[i]) continue;
        tags =
            o->tags ? tess__json_text(o->tags, JSON_SORT_KEYS | JSON_COMPACT) : tess__strdup("{}");
        if (!tags) {
            rc = tess__err_set(err, TESS_ENOMEM, "out of memory");
            goto out;
        }
        sqlite3_bind_text(st, 1, tess__kind_name(o->kind), -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, o->name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, v);
        sqlite3_bind_text(st, 4, o->owner, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, o->description, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 6, tags, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 7, o->text, -1, SQLITE_STATIC);
        rc = step_done(r, st, "writing an object", err);
        sqlite3_clear_bindings(st);
        tess__free(tags);
        if (rc) goto out;
    }
out:
    sqlite3_finalize(st);
    tess__free(kept);
    tess__free(gone.v);
    return rc;
}

static const tess__redge *find_edge(const tess__rmodel *m, const tess__redge *key)
{
    size_t lo = 0, hi = m->nedges;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = tess__redge_cmp(&m->edges[mid], key);
        if (c == 0) return &m->edges[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* Edges: close the live edges that are gone, insert the new ones. */
static int write_edges(tess__registry *r, const tess__rmodel *m, int64_t v, tess__err *err)
{
    sqlite3_stmt *st = NULL;
    ids gone = {0};
    unsigned char *kept = tess__calloc(m->nedges ? m->nedges : 1, 1);
    int rc = TESS_OK, src;
    if (!kept) {
        rc = tess__err_set(err, TESS_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = tess__reg_prepare(r,
                                "SELECT id, from_kind, from_name, to_kind, to_name FROM edges "
                                "WHERE until_version IS NULL",
                                &st, err)))
        goto out;
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        tess__redge key;
        const tess__redge *e = NULL;
        key.from = (char *)tess__col_text(st, 2);
        key.to = (char *)tess__col_text(st, 4);
        if (tess__kind_parse(tess__col_text(st, 1), &key.fk) == 0 &&
            tess__kind_parse(tess__col_text(st, 3), &key.tk) == 0)
            e = find_edge(m, &key);
        if (e) {
            kept[e - m->edges] = 1;
        } else if (ids_add(&gone, sqlite3_column_int64(st, 0)) != TESS_OK) {
            rc = tess__err_set(err, TESS_ENOMEM, "out of memory");
            goto out;
        }
    }
    if (src != SQLITE_DONE) {
        rc = tess__reg_sqlerr(r, err, src, "reading edges");
        goto out;
    }
    sqlite3_finalize(st);
    st = NULL;
    if ((rc = close_rows(r, "UPDATE edges SET until_version = ?1 WHERE id = ?2", gone.v, gone.n, v,
                         err)))
        goto out;
    if ((rc = tess__reg_prepare(r,
                                "INSERT INTO edges (from_kind, from_name, to_kind, to_name, "
                                "since_version) VALUES (?1, ?2, ?3, ?4, ?5)",
                                &st, err)))
        goto out;
    for (size_t i = 0; i < m->nedges; i++) {
        const tess__redge *e = &m->edges[i];
        if (kept[i]) continue;
        sqlite3_bind_text(st, 1, tess__kind_name(e->fk), -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, e->from, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, tess__kind_name(e->tk), -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, e->to, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 5, v);
        if ((rc = step_done(r, st, "writing an edge", err))) goto out;
    }
out:
    sqlite3_finalize(st);
    tess__free(kept);
    tess__free(gone.v);
    return rc;
}

static int write_version(tess__registry *r, const prep *p, const json_t *files, int64_t v,
                         int64_t now, tess__err *err)
{
    sqlite3_stmt *st = NULL;
    json_t *summary = json_object();
    char *text = NULL, *ftext = NULL;
    static const char *const keys[] = {"added", "changed", "removed", "affected_services"};
    int rc;
    if (!summary) goto oom;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (json_object_set(summary, keys[i], json_object_get(p->plan, keys[i]))) goto oom;
    if (!(text = tess__json_text(summary, JSON_COMPACT))) goto oom;
    if (files && !(ftext = tess__json_text(files, JSON_COMPACT))) goto oom;
    if ((rc = tess__reg_prepare(r,
                                "INSERT INTO versions (version, applied_at, project, hash, "
                                "definitions, summary, files) "
                                "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                                &st, err)))
        goto out;
    sqlite3_bind_int64(st, 1, v);
    sqlite3_bind_int64(st, 2, now);
    sqlite3_bind_text(st, 3, p->project, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, p->hash, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, p->text, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, text, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, ftext ? ftext : "[]", -1, SQLITE_STATIC);
    rc = step_done(r, st, "writing the version", err);
    goto out;
oom:
    rc = tess__err_set(err, TESS_ENOMEM, "out of memory");
out:
    sqlite3_finalize(st);
    tess__free(text);
    tess__free(ftext);
    json_decref(summary);
    return rc;
}

int tess__registry_apply(tess__registry *r, json_t *defs, json_t **out, tess__err *err)
{
    return tess__registry_apply_files(r, defs, NULL, out, err);
}

int tess__registry_apply_files(tess__registry *r, json_t *defs, const json_t *files,
                               json_t **out, tess__err *err)
{
    prep p;
    int64_t now, v = 0, at;
    int rc;
    *out = NULL;
    if ((rc = prep_doc(defs, &p, err))) goto out;
    if (tess__now(&now) != TESS_OK) {
        rc = tess__err_set(err, TESS_EINVAL, "TESSERA_NOW is not a timestamp: \"%s\"",
                           getenv("TESSERA_NOW"));
        goto out;
    }
    if ((rc = begin_write(r, err))) goto out;
    if ((rc = prep_plan(r, &p, err))) goto end;
    if (p.same) {
        v = p.from;
        at = p.from_at;
    } else {
        v = p.from + 1;
        at = now;
        if ((rc = write_version(r, &p, files, v, now, err)) || (rc = write_objects(r, &p.cur, v, err)) ||
            (rc = write_edges(r, &p.cur, v, err)))
            goto end;
        if (r->hook && (rc = r->hook(r->hook_arg)) != TESS_OK) {
            tess__err_set(err, rc, "apply aborted by a hook");
            goto end;
        }
    }
    if (json_object_set_new(p.plan, "version", json_integer(v)) ||
        fmt_time(p.plan, "applied_at", at))
        rc = tess__err_set(err, TESS_ENOMEM, "out of memory");
end:
    if ((rc = tess__reg_end(r, rc, err))) goto out;
    *out = p.plan;
    p.plan = NULL;
out:
    prep_release(&p);
    return rc;
}

/* ---- history and definitions ------------------------------------------------------------- */

/* ["kind:name", ...] from a summary list of {"kind","name",...}. */
static json_t *kind_names(const json_t *list)
{
    json_t *out = json_array(), *o;
    size_t i;
    if (!out) return NULL;
    json_array_foreach(list, i, o)
    {
        json_t *s = json_sprintf("%s:%s", json_string_value(json_object_get(o, "kind")),
                                 json_string_value(json_object_get(o, "name")));
        if (json_array_append_new(out, s)) {
            json_decref(out);
            return NULL;
        }
    }
    return out;
}

int tess__registry_history(tess__registry *r, json_t **out, tess__err *err)
{
    sqlite3_stmt *st = NULL;
    json_t *arr = json_array(), *summary = NULL;
    int rc, src;
    *out = NULL;
    if (!arr) return tess__err_set(err, TESS_ENOMEM, "out of memory");
    if ((rc = tess__reg_begin_read(r, err))) goto out;
    if ((rc = tess__reg_prepare(r,
                                "SELECT version, applied_at, hash, project, summary FROM versions "
                                "ORDER BY version",
                                &st, err)))
        goto end;
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        json_error_t jerr = {0};
        json_t *h = json_object();
        summary = json_loads(tess__col_text(st, 4), 0, &jerr);
        if (!summary && !tess__json_oom(&jerr)) {
            json_decref(h);
            rc = tess__err_set(err, TESS_EREGISTRY, "%s: version %lld: damaged summary", r->path,
                               (long long)sqlite3_column_int64(st, 0));
            goto end;
        }
        if (json_array_append_new(arr, h) || !summary ||
            json_object_set_new(h, "version", json_integer(sqlite3_column_int64(st, 0))) ||
            fmt_time(h, "applied_at", sqlite3_column_int64(st, 1)) ||
            json_object_set_new(h, "hash", json_string(tess__col_text(st, 2))) ||
            json_object_set_new(h, "project", json_string(tess__col_text(st, 3))) ||
            json_object_set_new(h, "added", kind_names(json_object_get(summary, "added"))) ||
            json_object_set_new(h, "changed", kind_names(json_object_get(summary, "changed"))) ||
            json_object_set_new(h, "removed", kind_names(json_object_get(summary, "removed")))) {
            rc = tess__err_set(err, TESS_ENOMEM, "out of memory");
            goto end;
        }
        json_decref(summary);
        summary = NULL;
    }
    if (src != SQLITE_DONE) rc = tess__reg_sqlerr(r, err, src, "reading history");
end:
    sqlite3_finalize(st);
    rc = tess__reg_end(r, rc, err);
out:
    json_decref(summary);
    if (rc == TESS_OK)
        *out = arr;
    else
        json_decref(arr);
    return rc;
}

int tess__registry_definitions(tess__registry *r, int64_t version, char **out, tess__err *err)
{
    sqlite3_stmt *st = NULL;
    int64_t v;
    int rc, src;
    *out = NULL;
    if ((rc = tess__reg_begin_read(r, err))) return rc;
    if ((rc = tess__reg_version(r, version, &v, err))) goto end;
    if ((rc =
             tess__reg_prepare(r, "SELECT definitions FROM versions WHERE version = ?1", &st, err)))
        goto end;
    sqlite3_bind_int64(st, 1, v);
    src = sqlite3_step(st);
    if (src != SQLITE_ROW)
        rc = tess__reg_sqlerr(r, err, src, "reading definitions");
    else if (!(*out = tess__strdup(tess__col_text(st, 0))))
        rc = tess__err_set(err, TESS_ENOMEM, "out of memory");
end:
    sqlite3_finalize(st);
    rc = tess__reg_end(r, rc, err);
    if (rc != TESS_OK) {
        tess__free(*out);
        *out = NULL;
    }
    return rc;
}

int tess__registry_files(tess__registry *r, int64_t version, int64_t *version_out, json_t **out,
                         tess__err *err)
{
    sqlite3_stmt *st = NULL;
    int64_t v = 0;
    int rc, src;
    *out = NULL;
    if ((rc = tess__reg_begin_read(r, err))) return rc;
    if ((rc = tess__reg_version(r, version, &v, err))) goto end;
    if ((rc = tess__reg_prepare(r, "SELECT files FROM versions WHERE version = ?1", &st, err)))
        goto end;
    sqlite3_bind_int64(st, 1, v);
    src = sqlite3_step(st);
    if (src != SQLITE_ROW) {
        rc = tess__reg_sqlerr(r, err, src, "reading definition files");
    } else {
        json_error_t je;
        *out = json_loads(tess__col_text(st, 0), 0, &je);
        if (!*out || !json_is_array(*out))
            rc = tess__err_set(err, TESS_EREGISTRY, "registry: version %lld: damaged files record",
                               (long long)v);
    }
end:
    sqlite3_finalize(st);
    rc = tess__reg_end(r, rc, err);
    if (rc != TESS_OK) {
        json_decref(*out);
        *out = NULL;
    } else if (version_out) {
        *version_out = v;
    }
    return rc;
}
