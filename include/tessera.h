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


/* ---- typed values (online lookups, pushes) ---------------------------------------------- */

/* Value types, as in the definitions. */
typedef enum tess_type {
    TESS_TYPE_NULL = 0, /* only the type of a bare null */
    TESS_TYPE_BOOL,
    TESS_TYPE_INT64,
    TESS_TYPE_FLOAT64,
    TESS_TYPE_STRING,
    TESS_TYPE_TIMESTAMP, /* int64 microseconds since the Unix epoch, UTC, in u.i */
} tess_type;

/* A typed value. A null still carries the type of its column. Strings are {p, n} views, not
 * NUL-terminated; their bytes belong to whoever produced the value. */
typedef struct tess_value {
    int type; /* tess_type */
    int null; /* non-zero: null */
    union {
        int b;
        int64_t i; /* int64 and timestamp */
        double f;
        struct {
            const char *p;
            size_t n;
        } s;
    } u;
} tess_value;

/* "bool", "int64", "float64", "string", "timestamp", "null". */
const char *tess_type_name(int type);

/* Parses text (n bytes) as a value of `type` the way the CSV reader does: int64 digits,
 * float64 decimal or exponent notation, bool true/false/1/0, timestamp in any accepted form
 * (DESIGN.md), string as is (pointing into `text`). Errors: TESS_EPARSE (not a value of that
 * type), TESS_EINVAL (an unknown type). */
int tess_value_parse(const char *text, size_t n, int type, tess_value *out);

/* Writes v as text into buf (cap bytes, always NUL-terminated when cap > 0): what the CSV
 * writer writes (shortest round-trip floats, RFC 3339 UTC timestamps with Z, true/false; ""
 * for null). Returns the length of the whole text (as snprintf: may be >= cap). */
size_t tess_value_format(const tess_value *v, char *buf, size_t cap);

/* ---- online store: lookups ------------------------------------------------------------- */

/* The status of one feature value of one entity (Feast's field statuses). */
enum {
    TESS_STATUS_PRESENT = 0,         /* a value (possibly computed from no events: count 0) */
    TESS_STATUS_NOT_FOUND = 1,       /* the entity has no row in the feature's view */
    TESS_STATUS_NULL_VALUE = 2,      /* the value is null */
    TESS_STATUS_OUTSIDE_MAX_AGE = 3, /* the latest row is older than the view's ttl */
};
/* "PRESENT", "NOT_FOUND", "NULL_VALUE", "OUTSIDE_MAX_AGE"; "UNKNOWN" otherwise. */
const char *tess_status_name(int status);

/*
 * A query: a feature service or a list of feature references ("view:feature", "view:*",
 * on-demand feature names) resolved against the latest applied definitions, ready to be run
 * for any number of entities. Immutable once made: threads may share it. It stays valid (and
 * keeps answering with the definitions it was made from) after newer versions are applied;
 * tess_query_version tells which version that is.
 * Errors: TESS_NOTFOUND (nothing applied; unknown service or feature: the message names it),
 * TESS_EINVAL (neither or both of service and features), TESS_EREGISTRY, TESS_ENOMEM.
 * Free with tess_query_free (NULL is ok); free queries before closing their store.
 */
typedef struct tess_query tess_query;
int tess_query_new(tess_store *st, const char *service, const char *const *features,
                   size_t nfeatures, int full_feature_names, tess_query **out);
void tess_query_free(tess_query *q);
int64_t tess_query_version(const tess_query *q);

/* What each entity row must give, in this order: the join keys of every entity of the views
 * involved (in order of first use), then the request fields that on-demand features need.
 * *type (tess_type) and *is_request may be NULL. Borrowed for the life of the query. */
size_t tess_query_ninputs(const tess_query *q);
const char *tess_query_input(const tess_query *q, size_t i, int *type, int *is_request);

/* The output features, in order (services: in the service's order; `view:*` expands in view
 * order); names are "feature" or, with full_feature_names, "view__feature". */
size_t tess_query_nfeatures(const tess_query *q);
const char *tess_query_feature(const tess_query *q, size_t i, int *type);

/*
 * A lookup session: the scratch memory and error message of one thread's lookups. Sessions of
 * one store may run in parallel threads (one session per thread); the store handle itself
 * must not be used concurrently with them except through other sessions.
 * Errors: as tess_store_open's store errors (the online store cannot be opened: TESS_EIO).
 */
typedef struct tess_session tess_session;
int tess_session_new(tess_store *st, tess_session **out);
void tess_session_free(tess_session *s);
const char *tess_session_errmsg(const tess_session *s);

/* The result of a lookup; arrays belong to the session and stay valid until its next lookup. */
typedef struct tess_online_result {
    size_t nrows, nfeatures;
    const tess_value *values; /* values[row * nfeatures + feature] */
    const int *statuses;      /* TESS_STATUS_*, same indexing */
    const int64_t *event_ts;  /* the event time of the row the value comes from; 0: none */
} tess_online_result;

/*
 * Looks up the features of `q` for nrows entity rows: inputs[row * ninputs + i] is input i of
 * the row (tess_query_input's order; int64 keys may also be given as timestamps and vice
 * versa; nothing else converts). `now` is the instant the values are as of (microseconds; 0:
 * the current time, or TESSERA_NOW). Values follow DESIGN.md's time semantics over every
 * event materialized or pushed so far: row-level features from the latest row at or before
 * now (OUTSIDE_MAX_AGE beyond the view's ttl), window aggregates from the stored tiles and the
 * head of the window, on-demand features computed on the row.
 * A row with a null join key gets the values of an entity without events (NOT_FOUND), as in
 * training sets.
 * Errors: TESS_EINVAL (an input of the wrong type: the message says which row and input),
 * TESS_EIO (the online store failed), TESS_ENOMEM.
 */
int tess_get_online(tess_session *s, const tess_query *q, const tess_value *inputs,
                    size_t nrows, int64_t now, tess_online_result *out);

/* ---- online store: materialization ----------------------------------------------------- */

/* Options of tess_materialize. Zero-initialise, then set what you need. */
typedef struct tess_materialize_opts {
    const char *const *views; /* the views to materialize; NULL/0: every view */
    size_t nviews;
    int64_t start, end; /* with `has_range`: only events with start <= event ts <= end */
    int has_range;
    int full; /* rebuild from scratch instead of going on from the last watermark */
} tess_materialize_opts;

/*
 * Computes the online state (latest rows and window tiles, docs/online.md) of feature views
 * from the offline store: incrementally, the events ingested since the view's last
 * materialization (its watermark), or everything when the view's definition changed since, it
 * was never materialized, or opts->full. Then, in a view with online_expiry, the records of
 * entities forgotten as of now are deleted (docs/online.md, "Expiry"). *json_out (owned):
 * {"views": [{"view", "mode": "full"|"incremental", "events", "entities", "watermark",
 * "expired" (views with online_expiry only: the records deleted)}]}.
 * Errors: TESS_NOTFOUND (nothing applied, unknown view), TESS_EIO, TESS_ENOMEM.
 */
int tess_materialize(tess_store *st, const tess_materialize_opts *opts, char **json_out);

/*
 * The online store's state, for monitoring: *json_out (owned) is
 * {"backend": "lmdb", "bytes": N, "keys": N, "views": [{"view", "materialized": bool,
 *  "watermark": N, "newest_event": RFC 3339 | null, "updated_at": RFC 3339 | null}]}
 * for every online view of the latest applied version; "newest_event" is the newest event time
 * the online store holds for the view (its freshness). Errors: TESS_NOTFOUND (nothing applied),
 * TESS_EIO, TESS_ENOMEM.
 */
int tess_online_stats(tess_store *st, char **json_out);

/* ---- push ------------------------------------------------------------------------------ */

/* Where pushed rows go (Feast's "to"). */
enum {
    TESS_PUSH_ONLINE = 1,            /* the online store only (lost by a full rebuild) */
    TESS_PUSH_OFFLINE = 2,           /* the offline store only (online at the next
                                        materialization) */
    TESS_PUSH_ONLINE_AND_OFFLINE = 3 /* both: the default */
};

/*
 * A push target: a push source of the latest applied definitions, resolved once (the server
 * keeps one per source). Immutable; threads may share it. Its columns are the source's schema.
 * Errors: TESS_NOTFOUND (no such source; nothing applied), TESS_EINVAL (a batch source: use
 * tess_ingest), TESS_ENOMEM. Free with tess_pusher_free before closing the store.
 */
typedef struct tess_pusher tess_pusher;
int tess_pusher_new(tess_store *st, const char *push_source, tess_pusher **out);
void tess_pusher_free(tess_pusher *p);
/* A target that writes rows of a feature view's source into that view's online records only
 * (POST /write-to-online-store): tess_push through it always behaves as TESS_PUSH_ONLINE.
 * Errors: TESS_NOTFOUND (no such view), TESS_EINVAL (not online), TESS_ENOMEM. */
int tess_pusher_for_view(tess_store *st, const char *view, tess_pusher **out);
size_t tess_pusher_ncolumns(const tess_pusher *p);
const char *tess_pusher_column(const tess_pusher *p, size_t i, int *type);
/* The index of the event-timestamp column. */
size_t tess_pusher_ts_column(const tess_pusher *p);

/*
 * Pushes nrows rows: rows[r * ncols + c] is the value of column columns[c] (names of the
 * source's schema, each at most once, any order; a column not given is null; the event
 * timestamp is required). int64 and timestamp values may stand for each other; nothing else
 * converts. Every row is checked before anything is written: a bad row rejects the push
 * (TESS_EINVAL, the message names the row and the column) and nothing of it is stored.
 * Offline (to & TESS_PUSH_OFFLINE), the rows are one ingest of the source's offline store
 * (its batch source's store when it has one), fsynced before the call returns, committed
 * together with the pushes of other threads made at the same time (group commit). Online,
 * every materialized view over the source is updated at once: latest rows (an older row never
 * replaces a newer one), tiles (a late event lands in its own tile). When the call returns
 * TESS_OK, the push is durable and visible to lookups.
 * Errors: TESS_EINVAL (bad rows or columns), TESS_EIO, TESS_ENOMEM; message in the session.
 */
int tess_push(tess_session *s, const tess_pusher *p, const char *const *columns, size_t ncols,
              const tess_value *rows, size_t nrows, int to);

/* One push of tess_push_many: tess_push's arguments, then its outcome. */
typedef struct tess_push_req {
    const tess_pusher *pusher;
    const char *const *columns;
    size_t ncols;
    const tess_value *rows; /* rows[r * ncols + c] */
    size_t nrows;
    int to;
    int status;    /* set by tess_push_many: TESS_OK, or this push's error */
    char *message; /* set with an error (owned: tess_free; NULL when out of memory): why,
                      naming the row and the column as tess_push's message does */
} tess_push_req;

/*
 * Runs n pushes as one group commit (a server hands every push that arrived meanwhile to one
 * call): each is checked and stored exactly as tess_push would store it alone — its own
 * ingest, all of its rows or none, its own status — but they are committed together with one
 * fsync, and the online store is written once per view for all of them. A bad push fails
 * alone; the others go on. When the call returns, every push with status TESS_OK is durable
 * and visible to lookups. Returns TESS_OK when every push succeeded, otherwise the status of
 * the first that failed (its message is also the session's). TESS_EINVAL without touching
 * reqs when s is NULL, or reqs is NULL with n > 0.
 */
int tess_push_many(tess_session *s, tess_push_req *reqs, size_t n);

/* Pushes every row of a CSV (with a header) or JSON Lines file (by extension: .jsonl/.json)
 * read by the source's schema, as one push (all rows or none). *rows_out (may be NULL): the
 * rows pushed. Errors: TESS_EPARSE (a bad row: file:line, the column and the value), TESS_EIO,
 * and as tess_push. */
int tess_push_file(tess_session *s, const tess_pusher *p, const char *path, int to,
                   size_t *rows_out);

/* ---- integrity ------------------------------------------------------------------------- */

/*
 * Reads everything Tessera wrote into the store and checks it (`tessera verify`): the
 * registry (SQLite's integrity check), every source's offline files (manifest, segments, push
 * log: checksums), every online record and meta record. *json_out (owned):
 * {"ok": bool, "checks": [{"part": "registry" | "offline" | "online", "ok": bool, "detail":
 * "...", "source": NAME (offline), "backend", "damaged_count", "damaged": [{"what", "error"}]
 * (online: at most 20 listed)}]}. Damage is a finding (ok false), not an error: errors are
 * TESS_ENOMEM, TESS_EIO (a file cannot be read at all), TESS_EREGISTRY.
 */
int tess_verify(tess_store *st, char **json_out);

/* ---- online/offline consistency -------------------------------------------------------- */

/* Options of tess_check. Zero-initialise, then set what you need. */
typedef struct tess_check_opts {
    const char *service;          /* a feature service, or NULL to use `features` */
    const char *const *features;  /* as tess_query_new */
    size_t nfeatures;
    size_t sample;                /* entities to compare (0: 100) */
    int64_t now;                  /* the instant (0: now, or TESSERA_NOW) */
} tess_check_opts;

/*
 * Compares online and offline values of sampled entities at one instant: entities are drawn
 * uniformly from the events of the first feature view's source (their columns give the
 * inputs; an input that is not a column stays null); the offline values come from a training
 * set with every label at `now`, the online ones from tess_get_online at `now`; every value
 * must be identical. *json_out (owned): {"service", "now", "sampled", "compared",
 * "mismatch_count", "mismatches": [{"entity": {...}, "feature", "online", "offline",
 * "status"}]} (values as JSON text).
 * Errors: as tess_query_new, tess_training_set and tess_get_online.
 */
int tess_check(tess_store *st, const tess_check_opts *opts, char **json_out);

/* ---- feature server ---------------------------------------------------------------------- */

/* Options of tess_server_start. Zero-initialise, then set what you need: every 0 / NULL field
 * takes the default named beside it. docs/server.md describes the routes and limits. */
typedef struct tess_server_opts {
    const char *host;           /* address or name to bind; NULL: "127.0.0.1" (loopback). A
                                 * non-loopback address (e.g. "0.0.0.0") needs keys_file, or
                                 * insecure set (docs/security.md) */
    int port;                   /* 0: a free port, chosen by the system (tess_server_port) */
    int threads;                /* worker threads; 0: the number of online CPUs */
    size_t max_body_bytes;      /* request bodies; 0: 1 MiB (larger: 413) */
    size_t max_entities;        /* entity rows per lookup; 0: 10000 (more: 413) */
    int max_json_depth;         /* nesting of request JSON; 0: 32 (deeper: 400) */
    unsigned max_connections;   /* open connections at once; 0: 1024 (more are refused) */
    unsigned timeout_s;         /* a connection idle this long is closed; 0: 30 s */
    size_t connection_memory;   /* per-connection memory for the request line and headers;
                                 * 0: 32 KiB (larger headers: 431) */
    /* diagnostics of the HTTP layer (one line each, no newline); NULL: discarded */
    void (*log)(void *arg, const char *line);
    void *log_arg;
    /* access control and hardening (docs/security.md) */
    const char *keys_file;      /* API keys (name, scopes, SHA-256 per line); NULL: no keys,
                                 * every route open. Reread when it changes (within a second) */
    int insecure;               /* nonzero: serve a non-loopback host without keys_file */
    const char *tls_cert_file;  /* PEM certificate (chain) and its unencrypted PEM key: HTTPS; */
    const char *tls_key_file;   /* both or neither. NULL: plain HTTP */
    unsigned request_timeout_s; /* a request must be received, and its reply sent, within this
                                 * from its request line (a client that trickles bytes is
                                 * closed); 0: 30 s */
    unsigned max_connections_per_ip; /* open connections from one address; 0: no limit */
    size_t max_body_memory;     /* request bodies held in memory at once, all connections
                                 * together (bodies being received, pushes waiting for their
                                 * commit); 0: 256 MiB, and at least max_body_bytes. A body
                                 * that would pass it is refused with 503 busy */
} tess_server_opts;

typedef struct tess_server tess_server;

/*
 * Starts the HTTP feature server over `st` (Feast-compatible routes: POST /get-online-features,
 * POST /push, POST /write-to-online-store, GET /health, GET /metrics). It serves from its own
 * threads (the workers, and one committer of pushes) until tess_server_stop; the caller's
 * thread returns at once.
 * Each worker thread makes its own lookup session; the server picks up a newer registry
 * version within a second. While the server runs, the caller must not use `st` (the server
 * serialises its own calls on it); `st` must outlive the server. opts may be NULL.
 * Errors: TESS_EINVAL (an option out of range; a bad line in keys_file; a non-loopback host
 * without keys_file or insecure), TESS_EIO (the address cannot be resolved or bound; a keys,
 * certificate or key file that cannot be read or is not valid: the message,
 * tess_store_errmsg(st), says which and why), TESS_ENOMEM.
 * On success *out is the server (stop it with tess_server_stop); on error *out is NULL.
 */
int tess_server_start(tess_store *st, const tess_server_opts *opts, tess_server **out);

/* Reads opts->keys_file again now (the server also does so by itself within a second of a
 * change). On an error the keys loaded before stay in force and opts->log says why.
 * TESS_OK, TESS_EIO (unreadable), TESS_EINVAL (a bad line), TESS_ENOMEM; TESS_OK too when the
 * server has no keys file. Thread-safe. */
int tess_server_reload_keys(tess_server *srv);

/* API keys (docs/security.md). A new key is "tess_" and 43 characters of base64url: 32 random
 * bytes from the kernel (getrandom). */
#define TESS_API_KEY_LEN 48
#define TESS_API_KEY_MIN 20 /* shortest key tess_api_key_line accepts */
/* Writes a new random key and its NUL into key (cap >= TESS_API_KEY_LEN + 1).
 * TESS_OK, TESS_EINVAL (cap too small), TESS_EIO (no randomness). */
int tess_api_key_new(char *key, size_t cap);
/* The keys-file line of a key: "NAME SCOPES sha256:HEX". scopes: comma-separated read,
 * write, metrics, admin. Writes the line (cap >= 160) and returns TESS_OK, or returns
 * TESS_EINVAL with the reason in line instead (a bad name or scope; a key shorter than
 * TESS_API_KEY_MIN or with spaces). The key is only read. */
int tess_api_key_line(const char *name, const char *scopes, const char *key, char *line,
                      size_t cap);

/* The TCP port the server listens on (the chosen one when opts->port was 0). */
int tess_server_port(const tess_server *srv);

/* Stops accepting, finishes the requests in progress (pushes in flight are committed and
 * answered; later ones 503), stops the threads and frees the server and everything it made
 * (sessions, queries). NULL is ok. */
void tess_server_stop(tess_server *srv);

#ifdef __cplusplus
}
#endif
#endif /* TESSERA_H */
