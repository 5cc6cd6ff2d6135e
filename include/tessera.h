/*
 * tessera.h — the public C API of libtessera, a feature store.
 *
 * Everything a user of the library may touch is declared here; the `tessera` command is built
 * on this header alone. Conventions (see docs/architecture.md):
 *   - functions return an int status: TESS_OK (0) or a negative TESS_E* code; TESS_NOTFOUND is
 *     an ordinary answer, not a failure. Codes are only ever appended, never renumbered.
 *   - handles are opaque; a handle keeps a detailed message for its last failure
 *     (tess_store_errmsg), e.g. "defs.yaml:12:7: unknown type \"flaot64\" ...".
 *   - inputs are borrowed; outputs are owned by the caller and freed with the function named in
 *     the comment (tess_free for strings).
 *   - the library never prints and never exits.
 */
#ifndef TESSERA_H
#define TESSERA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TESS_VERSION "0.1.0"

/* Status codes. */
enum {
    TESS_OK = 0,
    TESS_NOTFOUND = -1,  /* the thing asked for does not exist (an answer, not a failure) */
    TESS_ENOMEM = -2,    /* out of memory */
    TESS_EINVAL = -3,    /* bad argument from the caller */
    TESS_EDEFS = -4,     /* definitions do not validate (message lists file:line:column) */
    TESS_EIO = -5,       /* operating-system I/O error */
    TESS_EREGISTRY = -6, /* the registry database failed or is damaged */
    TESS_EPARSE = -7,    /* malformed input data (message says where) */
    TESS_ETYPE = -8,     /* a value or expression has the wrong type */
    TESS_ECONFIG = -9,   /* tessera.yaml is missing or invalid */
    TESS_EEXIST = -10,   /* would overwrite something that exists */
};

/* A short, static description of a status code. Never NULL. */
const char *tess_strerror(int rc);

/* Frees memory that the library returned to the caller (strings, JSON documents). NULL is ok. */
void tess_free(void *p);

/* ---- store ------------------------------------------------------------------------------ */

typedef struct tess_store tess_store;

/*
 * Opens the feature repo in `repo_dir` (the directory holding tessera.yaml) and its store
 * (the `store:` directory, created if missing; default back ends live inside it).
 * Only tessera.yaml is read here; definition files are read by tess_plan and tess_apply.
 *
 * On every return except TESS_ENOMEM, *out is a handle (close it with tess_store_close), so
 * that tess_store_errmsg can explain a failure.
 * Errors: TESS_ECONFIG (no or bad tessera.yaml), TESS_EIO, TESS_EREGISTRY, TESS_ENOMEM.
 */
int tess_store_open(const char *repo_dir, tess_store **out);

/* Closes the store and frees the handle. NULL is ok. */
void tess_store_close(tess_store *st);

/* The detailed message of the last failure on this handle ("" if none). Borrowed until the
 * next call on the handle. May span several lines (one per definition error). */
const char *tess_store_errmsg(const tess_store *st);

/* The project name from tessera.yaml. Borrowed for the life of the handle. */
const char *tess_store_project(const tess_store *st);

/* ---- definitions: plan and apply ------------------------------------------------------- */

/*
 * Reads and validates every definition file of the repo and compares it with the registry's
 * latest version. *json_out receives (owned, tess_free) a JSON document:
 *   {"project": ..., "from_version": N|null, "hash": "...", "changes": bool,
 *    "added": [{"kind","name"}], "changed": [{"kind","name","fields":[...]}],
 *    "removed": [{"kind","name"}],
 *    "affected_services": [{"kind","name","services":[...]}]}
 * Errors: TESS_EDEFS (message: every problem, one per line, as file:line:column: text),
 * TESS_EIO, TESS_EREGISTRY, TESS_ENOMEM.
 */
int tess_plan(tess_store *st, char **json_out);

/*
 * Validates the definitions and, if they differ from the latest version, records them as a new
 * registry version, atomically. *json_out (owned, tess_free) is the plan document of tess_plan
 * plus "version": the new version (or the unchanged latest one when "changes" is false).
 * Nothing is written unless everything validates.
 * Errors: as tess_plan.
 */
int tess_apply(tess_store *st, char **json_out);

/* ---- catalog (reads the registry; version 0 means the latest) -------------------------- */

/*
 * Lists registry objects of one kind: "entities", "sources", "views", "features",
 * "on_demand_features", "services", or NULL for all. *json_out (owned): a JSON array of objects,
 * each with "kind", "name", "owner", "description", "tags" and the kind's own fields.
 * Errors: TESS_EINVAL (unknown kind), TESS_NOTFOUND (no such version / nothing applied yet),
 * TESS_EREGISTRY, TESS_ENOMEM.
 */
int tess_catalog_list(tess_store *st, const char *kind, int64_t version, char **json_out);

/* Describes one object by name (a view, an entity, "view:feature", ...). *json_out: the
 * object's full definition plus "used_by" (downstream) and "uses" (upstream).
 * Errors: TESS_NOTFOUND, TESS_EREGISTRY, TESS_ENOMEM. */
int tess_catalog_describe(tess_store *st, const char *name, int64_t version, char **json_out);

/* Searches names, descriptions, tags and owners of the latest version, case-insensitively,
 * for every word of `text`. *json_out: a JSON array of matches ranked best first, each with
 * "kind", "name", "owner", "description", "tags", "matched" (the fields that matched). */
int tess_catalog_search(tess_store *st, const char *text, char **json_out);

/* Lineage of one object: {"name","kind","upstream":[{"kind","name","depth"}],
 * "downstream":[...], "edges":[{"from":{..},"to":{..}}]}. Errors: TESS_NOTFOUND, ... */
int tess_catalog_lineage(tess_store *st, const char *name, char **json_out);

/* Every registry version, oldest first: [{"version","applied_at","hash","added","changed",
 * "removed"}] where the last three list "kind:name" strings. */
int tess_catalog_history(tess_store *st, char **json_out);

/* The full definitions document of a version (0: latest), as recorded by apply. */
int tess_catalog_definitions(tess_store *st, int64_t version, char **json_out);

#ifdef __cplusplus
}
#endif
#endif /* TESSERA_H */
