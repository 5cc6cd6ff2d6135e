/* registry.h — the registry: every applied set of definitions as a numbered version, with the
 * objects, lineage edges and change summary derived from it, and the catalog queries over them
 * (list, describe, search, lineage, history). Embedded back end: SQLite at <store>/registry.db.
 *
 * The registry knows nothing of YAML: it takes the canonical definitions document of
 * tess__defs_to_json (src/defs/defs.h, docs/registry.md) as a jansson value, so tests and other
 * back ends can feed it hand-written documents.
 *
 * Every function takes the caller's tess__err and, on failure, replaces its message and returns
 * the code (TESS_NOTFOUND included, with a message saying what was not found). Outputs are new
 * jansson references (json_decref) or tess__malloc'd strings (tess__free). A handle is used by
 * one thread at a time; several handles (in several processes) may share one database: readers
 * never wait for writers (WAL), writers queue behind one another (busy timeout).
 */
#ifndef TESS_REGISTRY_REGISTRY_H
#define TESS_REGISTRY_REGISTRY_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"

typedef struct tess__registry tess__registry;

/* Milliseconds a writer waits for another writer's transaction before giving up. */
#define TESS__REGISTRY_BUSY_MS 10000

/* The schema version this code writes (docs/registry.md lists the migrations). */
#define TESS__REGISTRY_SCHEMA 2

/*
 * Opens (creating if missing) the registry database at `path`, switches it to WAL, and brings its
 * schema up to date. Errors: TESS_EIO (cannot open or create the file), TESS_EREGISTRY (not a
 * registry, damaged, or written by a newer tessera), TESS_ENOMEM. *out is NULL on failure.
 */
int tess__registry_open(const char *path, tess__registry **out, tess__err *err);
void tess__registry_close(tess__registry *r);

/* How long a writer waits for another writer (tests shorten it). */
void tess__registry_set_busy_timeout(tess__registry *r, int ms);

/* Test hook: called inside apply's transaction after every write, just before COMMIT. A non-zero
 * return aborts the apply with that status (the transaction is rolled back). NULL removes it. */
typedef int (*tess__registry_hook)(void *arg);
void tess__registry_set_hook(tess__registry *r, tess__registry_hook hook, void *arg);

/* The latest version and its hash (hash_out: 33 bytes, may be NULL); *version = 0 and hash ""
 * when nothing has been applied. A cheap query for pollers (a server watching for new versions). */
int tess__registry_latest(tess__registry *r, int64_t *version, char *hash_out, tess__err *err);

/*
 * Compares `defs` (a canonical definitions document) with the latest version. *out: the plan
 * document of tess_plan (include/tessera.h). Errors: TESS_EINVAL (defs is not a definitions
 * document), TESS_EREGISTRY, TESS_ENOMEM.
 */
int tess__registry_plan(tess__registry *r, json_t *defs, json_t **out, tess__err *err);

/*
 * Records `defs` as a new version in one transaction, unless its hash equals the latest
 * version's. *out: the plan document plus "version" and "applied_at". applied_at is tess__now
 * (TESSERA_NOW-aware). Errors: as tess__registry_plan, and TESS_EINVAL if TESSERA_NOW is set but
 * is not a timestamp; a writer that waits longer than the busy timeout gets TESS_EREGISTRY.
 */
int tess__registry_apply(tess__registry *r, json_t *defs, json_t **out, tess__err *err);

/* As tess__registry_apply, and records with the new version the definition files it was loaded
 * from (`files`: [{"name","text"}], borrowed; NULL records none), so that the typed model of
 * any version can be rebuilt with tess__defs_load_strings (tess__registry_files). */
int tess__registry_apply_files(tess__registry *r, json_t *defs, const json_t *files,
                               json_t **out, tess__err *err);

/* The definition files recorded with a version (0: latest): *out is a new reference to
 * [{"name","text"}] ([] for versions applied before files were recorded). Errors: TESS_NOTFOUND
 * (no such version, nothing applied), TESS_EREGISTRY, TESS_ENOMEM. */
int tess__registry_files(tess__registry *r, int64_t version, int64_t *version_out, json_t **out,
                         tess__err *err);

/* Catalog queries: version 0 means the latest. Shapes: include/tessera.h. */
int tess__registry_list(tess__registry *r, const char *kind, int64_t version, json_t **out,
                        tess__err *err);
int tess__registry_describe(tess__registry *r, const char *name, int64_t version, json_t **out,
                            tess__err *err);
int tess__registry_search(tess__registry *r, const char *text, json_t **out, tess__err *err);
int tess__registry_lineage(tess__registry *r, const char *name, int64_t version, json_t **out,
                           tess__err *err);
int tess__registry_history(tess__registry *r, json_t **out, tess__err *err);
/* SQLite's integrity check of the registry database (`tessera verify`): TESS_OK, or
 * TESS_EREGISTRY with SQLite's first complaints in err. */
int tess__registry_verify(tess__registry *r, tess__err *err);
/* The definitions document of a version exactly as recorded (compact, sorted keys): *out is
 * tess__malloc'd. */
int tess__registry_definitions(tess__registry *r, int64_t version, char **out, tess__err *err);

/* A JSON value as text (jansson flags), in memory from tess__malloc; NULL when out of memory. */
char *tess__json_text(const json_t *j, size_t flags);

/* Whether a failed json_loads* ran out of memory. `e` must have been zeroed before the call:
 * when jansson cannot allocate its reader it returns with e's text empty and its error code
 * never set (valgrind saw the code read uninitialised). */
bool tess__json_oom(const json_error_t *e);

#endif
