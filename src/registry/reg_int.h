/* reg_int.h — shared by the files of src/registry only.
 *
 * model.c turns a canonical definitions document into a "model": the sorted list of registry
 * objects (kind, name, stored body) and the sorted list of lineage edges. It is pure (no SQLite),
 * so the diff (diff.c) and a later PostgreSQL back end reuse it. registry.c stores models as
 * versions; catalog.c and lineage.c query them back. */
#ifndef TESS_REGISTRY_REG_INT_H
#define TESS_REGISTRY_REG_INT_H

#include <jansson.h>
#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "registry/registry.h"

/* Object kinds, in catalog order (lists and diffs are sorted by kind, then name). */
typedef enum tess__kind {
    TESS__K_ENTITY,
    TESS__K_SOURCE,
    TESS__K_VIEW,
    TESS__K_FEATURE,
    TESS__K_ODF,
    TESS__K_SERVICE,
    TESS__K_COUNT
} tess__kind;

/* "entity", "source", "feature_view", "feature", "on_demand_feature", "feature_service". */
const char *tess__kind_name(tess__kind k);
/* Exact kind names only; returns 0 and sets *k, or -1. */
int tess__kind_parse(const char *s, tess__kind *k);
/* The SQL expression ordering a `kind` column in catalog order. */
#define TESS__KIND_ORDER_SQL                                                                       \
    "CASE kind WHEN 'entity' THEN 0 WHEN 'source' THEN 1 WHEN 'feature_view' THEN 2 "              \
    "WHEN 'feature' THEN 3 WHEN 'on_demand_feature' THEN 4 ELSE 5 END"

typedef struct tess__robj {
    tess__kind kind;
    char *name;        /* features: "view:feature" */
    json_t *body;      /* what the registry stores and describe shows */
    json_t *own;       /* what plan compares: a view without its features, a feature's own JSON */
    const char *owner; /* borrowed from body; "" if none */
    const char *description;
    json_t *tags; /* borrowed from body; NULL means {} */
    char *view;   /* features: the view's name; NULL otherwise */
    char *text;   /* body as stored (sorted, compact); filled by tess__rmodel_texts */
} tess__robj;

typedef struct tess__redge {
    tess__kind fk, tk;
    char *from, *to;
} tess__redge;

typedef struct tess__rmodel {
    tess__robj *objs; /* sorted by (kind, name), unique */
    size_t nobjs, capobjs;
    tess__redge *edges; /* sorted by (from kind, from, to kind, to), unique */
    size_t nedges, capedges;
} tess__rmodel;

#define TESS__RMODEL_INIT                                                                          \
    {                                                                                              \
        NULL, 0, 0, NULL, 0, 0                                                                     \
    }

/* Builds the model of a definitions document. Errors: TESS_EINVAL (not a definitions document:
 * wrong types, missing names, duplicate names), TESS_ENOMEM. On failure *m is released. */
int tess__rmodel_build(json_t *doc, tess__rmodel *m, tess__err *err);
void tess__rmodel_release(tess__rmodel *m);
/* Fills every object's `text`. TESS_OK or TESS_ENOMEM. */
int tess__rmodel_texts(tess__rmodel *m);
const tess__robj *tess__rmodel_find(const tess__rmodel *m, tess__kind k, const char *name);
int tess__redge_cmp(const tess__redge *a, const tess__redge *b);
int tess__redges_add(tess__redge **v, size_t *n, size_t *cap, tess__kind fk, const char *from,
                     tess__kind tk, const char *to);
void tess__redges_free(tess__redge *v, size_t n);

/* Adds "added", "changed", "removed" and "affected_services" to `plan` (old may be NULL: nothing
 * applied yet). Returns TESS_OK or TESS_ENOMEM. */
int tess__rmodel_diff(const tess__rmodel *old, const tess__rmodel *cur, json_t *plan);

/* {"kind": ..., "name": ...}, or NULL when out of memory. */
json_t *tess__kn(tess__kind k, const char *name);

struct tess__registry {
    sqlite3 *db;
    char *path;
    int busy_ms;
    tess__registry_hook hook;
    void *hook_arg;
};

/* Sets err from a SQLite failure (`what` says what was being done) and returns the status:
 * TESS_ENOMEM, TESS_EIO (I/O, disk full, cannot open, read-only) or TESS_EREGISTRY. */
int tess__reg_sqlerr(tess__registry *r, tess__err *err, int src, const char *what);
/* Prepares a statement; on failure sets err. */
int tess__reg_prepare(tess__registry *r, const char *sql, sqlite3_stmt **st, tess__err *err);
/* A read transaction (one snapshot for several queries); end it with tess__reg_end. */
int tess__reg_begin_read(tess__registry *r, tess__err *err);
/* Ends the open transaction: COMMIT when rc is TESS_OK, otherwise ROLLBACK. Returns rc, or the
 * COMMIT failure. */
int tess__reg_end(tess__registry *r, int rc, tess__err *err);
/* Resolves version (0: latest) to an existing version; TESS_NOTFOUND with a message otherwise. */
int tess__reg_version(tess__registry *r, int64_t version, int64_t *out, tess__err *err);
/* The edges valid in version v, sorted. */
int tess__reg_load_edges(tess__registry *r, int64_t v, tess__redge **out, size_t *n,
                         tess__err *err);
/* Finds an object by a user-given name valid in version v: "view:feature" is a feature; any other
 * name is looked up as a feature view, entity, source, on-demand feature, then service (the first
 * kind that has it wins). TESS_NOTFOUND with a message if none. */
int tess__reg_resolve(tess__registry *r, const char *name, int64_t v, tess__kind *kind,
                      tess__err *err);
/* A column as a NUL-terminated string ("" for NULL). */
const char *tess__col_text(sqlite3_stmt *st, int i);

/* The SQL condition "row valid in version ?N" for tables with since/until columns. */
#define TESS__VALID_SQL(n)                                                                         \
    "since_version <= ?" #n " AND (until_version IS NULL OR until_version > ?" #n ")"

#endif
