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
 * The store directory is relative to repo_dir unless absolute; the embedded registry is
 * <store>/registry.db (SQLite). A `registry:` other than absent, empty or "sqlite" (e.g.
 * postgresql://...) is TESS_ECONFIG "not supported yet", with its tessera.yaml line:column.
 *
 * On every return except TESS_ENOMEM, *out is a handle (close it with tess_store_close), so
 * that tess_store_errmsg can explain a failure; every other call on a handle whose open failed
 * returns the same error and keeps its message.
 * Errors: TESS_ECONFIG (no or bad tessera.yaml), TESS_EIO, TESS_EREGISTRY, TESS_EINVAL
 * (repo_dir NULL or empty), TESS_ENOMEM.
 */
int tess_store_open(const char *repo_dir, tess_store **out);

/* Closes the store and frees the handle. NULL is ok. */
void tess_store_close(tess_store *st);

/* The detailed message of the last failure on this handle ("" if none: each call clears it).
 * Borrowed until the next call on the handle. May span several lines (one per definition
 * error). */
const char *tess_store_errmsg(const tess_store *st);

/* The project name from tessera.yaml ("" if it could not be read). Borrowed for the life of
 * the handle. */
const char *tess_store_project(const tess_store *st);

/* ---- definitions: plan and apply ------------------------------------------------------- */

/*
 * Reads and validates every definition file of the repo and compares it with the registry's
 * latest version. Writes nothing. *json_out receives (owned, tess_free) a JSON document:
 *   {"project": "fraud", "from_version": N | null (nothing applied yet), "hash": "<32 hex>",
 *    "changes": bool (false: the definitions hash equals the latest version's),
 *    "added":   [{"kind", "name"}],
 *    "changed": [{"kind", "name", "fields": ["expr", "window", ...]}],
 *    "removed": [{"kind", "name"}],
 *    "affected_services": [{"kind", "name", "services": ["fraud_model_v1", ...]}]}
 * "kind" is one of "entity", "source", "feature_view", "feature", "on_demand_feature",
 * "feature_service"; a feature's name is "view:feature". Lists are sorted by kind (in that order)
 * then name. "fields" are the object's top-level fields that differ (a view's "features" are not
 * a field of the view: each feature is an object of its own). "affected_services" has one entry
 * per feature or on-demand feature whose values may change — changed, removed, or (features
 * only) whose view changed in a field other than description/owner/tags — listing the services
 * present before and after that use it, directly or through an on-demand feature; entries with
 * no service are left out. docs/registry.md has the details.
 * Errors: TESS_EDEFS (message: every problem, one per line, as file:line:column: text),
 * TESS_ECONFIG, TESS_EIO, TESS_EREGISTRY, TESS_ENOMEM.
 */
int tess_plan(tess_store *st, char **json_out);

/*
 * Validates the definitions and, if they differ from the latest version, records them as a new
 * registry version, atomically. *json_out (owned, tess_free) is the plan document of tess_plan
 * plus "version": the new version (or the unchanged latest one when "changes" is false), and
 * "applied_at": that version's time, RFC 3339 UTC ("2024-01-02T03:04:05Z"; TESSERA_NOW pins it).
 * Nothing is written unless everything validates. An apply waits for another process's apply
 * (up to 10 s, then TESS_EREGISTRY); readers never wait for it.
 * Errors: as tess_plan; TESS_EINVAL if TESSERA_NOW is set but is not a timestamp.
 */
int tess_apply(tess_store *st, char **json_out);

/* ---- catalog (reads the registry; version 0 means the latest) -------------------------- */

/*
 * Lists registry objects of one kind: "entities", "sources", "views", "features",
 * "on_demand_features", "services" (the singular kind names are accepted too), or NULL for all.
 * *json_out (owned): a JSON array sorted by kind then name, each element
 *   {"kind", "name", "owner", "description", "tags": {...}, "since_version": N (the version
 *    that introduced this definition of the object), ...the object's own fields as in the
 *    definitions document (docs/registry.md)}.
 * A feature has its view's owner and tags unless it has its own, plus "view" and
 * "feature_kind" ("row" | "aggregate": the document's "kind" of a feature, renamed). A view
 * includes its "features" as written in the document.
 * Errors: TESS_EINVAL (unknown kind), TESS_NOTFOUND (no such version / nothing applied yet),
 * TESS_EREGISTRY, TESS_ENOMEM.
 */
int tess_catalog_list(tess_store *st, const char *kind, int64_t version, char **json_out);

/* Describes one object by name: "view:feature" is a feature; any other name is looked up as a
 * feature view, entity, source, on-demand feature, then service (the first that exists wins).
 * *json_out (owned): an element of tess_catalog_list plus "version" (the version described),
 * "uses": [{"kind","name"}] (direct upstream) and "used_by": [{"kind","name"}] (direct
 * downstream), each sorted by kind then name.
 * Errors: TESS_NOTFOUND (no such object or version), TESS_EINVAL, TESS_EREGISTRY, TESS_ENOMEM. */
int tess_catalog_describe(tess_store *st, const char *name, int64_t version, char **json_out);

/* Searches names, descriptions, tags (keys and values) and owners of the latest version,
 * case-insensitively: an object matches when every word of `text` is found in one of them.
 * *json_out (owned): a JSON array ranked best first (the whole text equal to the name, or to a
 * feature's part after the colon; then more words in the name; then more words elsewhere; then
 * kind and name), each {"kind", "name", "owner", "description", "tags", "since_version",
 * "matched": ["name", "description", "owner", "tags"] (the fields where words were found)}.
 * No match is an empty array. Errors: TESS_EINVAL (no word), TESS_NOTFOUND (nothing applied
 * yet), TESS_EREGISTRY, TESS_ENOMEM. */
int tess_catalog_search(tess_store *st, const char *text, char **json_out);

/* Lineage of one object (named as for describe) in the latest version:
 *   {"name", "kind", "version",
 *    "upstream":   [{"kind", "name", "depth"}]   what it is computed from, transitively,
 *    "downstream": [{"kind", "name", "depth"}]   what is computed from it, up to the services,
 *    "edges": [{"from": {"kind","name"}, "to": {"kind","name"}}]}
 * depth is the length of the shortest path (1: direct); lists are sorted by depth, kind, name.
 * "edges" are the edges walked on both sides. Edges: entity -> feature_view, source ->
 * feature_view, batch source -> push source, feature_view -> feature, feature ->
 * on_demand_feature, feature -> feature_service, on_demand_feature -> feature_service.
 * Errors: TESS_NOTFOUND, TESS_EINVAL, TESS_EREGISTRY, TESS_ENOMEM. */
int tess_catalog_lineage(tess_store *st, const char *name, char **json_out);

/* Every registry version, oldest first: [{"version", "applied_at" (RFC 3339), "hash",
 * "project", "added", "changed", "removed"}] where the last three list "kind:name" strings
 * ("feature:user_txn:amount_sum_7d"). [] when nothing has been applied.
 * Errors: TESS_EREGISTRY, TESS_ENOMEM. */
int tess_catalog_history(tess_store *st, char **json_out);

/* The full definitions document of a version (0: latest), exactly as recorded by apply (compact,
 * sorted keys; its hash is the version's "hash"). Errors: TESS_NOTFOUND, TESS_EREGISTRY,
 * TESS_ENOMEM. */
int tess_catalog_definitions(tess_store *st, int64_t version, char **json_out);


/* ---- offline store: ingest, training sets, statistics ---------------------------------- */

/* Options of tess_ingest. Zero-initialise, then set what you need. */
typedef struct tess_ingest_opts {
    int force;           /* ingest files whose content was ingested before (default: skip) */
    size_t max_bad_rows; /* skip and report up to this many bad rows (default 0: fail) */
    /* progress on long ingests: called now and then with bytes read so far and in all; may be
     * NULL */
    void (*progress)(void *arg, uint64_t done, uint64_t total);
    void *progress_arg;
} tess_ingest_opts;

/*
 * Ingests event files into the offline store for the batch source `source` of the latest
 * applied definitions. `paths` (npaths of them, relative to the current directory) are the
 * files; npaths == 0 means the source's own `path` (a glob, relative to the repo). All files are
 * one atomic commit: all of them or none. Files whose content was ingested before are skipped
 * unless opts->force. opts may be NULL.
 * *json_out (owned, tess_free): {"source", "rows" (stored by this call), "files": [{"path",
 * "skipped": bool}], "files_ingested", "bad_rows": N, "bad_row_messages": [...],
 * "null_key_rows": N (the most rows one view's layout had to leave out: a key was null),
 * "merged": bool (segments were merged)}.
 * Errors: TESS_NOTFOUND (nothing applied, no such source, no file matches), TESS_EPARSE (a bad
 * row: the message says file:line:column, the column and the value), TESS_EIO, TESS_ENOMEM.
 */
int tess_ingest(tess_store *st, const char *source, const char *const *paths, size_t npaths,
                const tess_ingest_opts *opts, char **json_out);

/* Options of tess_training_set. Zero-initialise, then set what you need. */
typedef struct tess_training_opts {
    const char *service;          /* a feature service, or NULL to use `features` */
    const char *const *features;  /* "view:feature", "view:*" or on-demand names */
    size_t nfeatures;
    const char *labels_path;      /* CSV or JSON Lines (by extension: .jsonl/.json, else CSV) */
    const char *output_path;      /* written atomically; format by extension as above */
    const char *timestamp_column; /* NULL: "event_timestamp" */
    int full_feature_names;       /* name columns "view__feature" instead of "feature" */
} tess_training_opts;

/*
 * Builds a point-in-time correct training set: for every label row (its join keys and
 * timestamp t), the value of every feature as of t (DESIGN.md, "Time semantics"). Label rows
 * keep their order and every column; one column is added per feature. *json_out (owned):
 * {"rows", "columns": [...], "output"}.
 * Errors: TESS_NOTFOUND (nothing applied; unknown service or feature), TESS_EPARSE (a label
 * row's key or timestamp does not parse: file:line, column, value; a missing column), TESS_EIO,
 * TESS_ENOMEM.
 */
int tess_training_set(tess_store *st, const tess_training_opts *opts, char **json_out);

/*
 * Statistics of a feature view's features over the offline store: a row-level feature's value
 * on every event row, an aggregate's value as of every event's time (what a backfill computes)
 * — one value per event of the view's source. *json_out (owned): {"view", "rows",
 * "features": [{"name", "type", "count", "nulls", "mean", "stddev", "min", "max", "p50",
 * "p90", "p99", "distinct"}]} (numbers null where they do not apply; percentiles and distinct
 * counts are approximate). Errors: TESS_NOTFOUND, TESS_EIO, TESS_ENOMEM.
 */
int tess_stats(tess_store *st, const char *view, char **json_out);

#ifdef __cplusplus
}
#endif
#endif /* TESSERA_H */
