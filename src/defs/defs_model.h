/* defs_model.h — the validated object model of a feature repo, for the modules that compute
 * features from definitions (offline engine, online store, server).
 *
 * A tess__defs returned by tess__defs_load is complete and consistent: every reference is
 * resolved to a pointer, every expression is compiled and type-checked, every type is known
 * (except the type of an entity's join key that no view uses and the entity does not declare:
 * TESS_T_NULL). Everything is owned by the tess__defs and freed by tess__defs_free; all
 * pointers below are borrowed for its life, and the whole thing is immutable, so threads may
 * share it.
 *
 * Arrays of top-level objects are sorted by name (byte order); lookups are binary searches.
 * Lists inside objects keep the order written in the file (join keys, schema columns, a view's
 * entities and features, on-demand inputs), except on-demand request fields, sorted by name.
 *
 * Expression variables: a feature's `expr` and `where` are compiled against its view's
 * source schema, variable i = source->schema[i]. An on-demand feature's `expr` is compiled
 * against its inputs then its request fields: variable i < ninputs is inputs[i], variable
 * ninputs + j is request[j].
 */
#ifndef TESS_DEFS_DEFS_MODEL_H
#define TESS_DEFS_DEFS_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/value.h"
#include "defs/defs.h"
#include "expr/expr.h"

/* Where an object was written: file relative to the repo dir, 1-based line and column. */
typedef struct tess__loc {
    const char *file;
    int line, col;
} tess__loc;

typedef struct tess__tag {
    const char *key, *value;
} tess__tag;

/* Fields every top-level object has. Absent description/owner are "" (never NULL). Tags keep
 * the written order. */
typedef struct tess__meta {
    const char *description;
    const char *owner;
    const tess__tag *tags;
    size_t ntags;
} tess__meta;

/* A typed name: a schema column, a join key, a request field. */
typedef struct tess__column {
    const char *name;
    tess__type type;
    tess__loc loc;
} tess__column;

typedef struct tess__entity {
    const char *name;
    tess__loc loc;
    tess__meta meta;
    const tess__column *join_keys; /* >= 1; type declared or inferred from the views' sources */
    size_t njoin_keys;
} tess__entity;

typedef enum tess__source_kind { TESS_SOURCE_BATCH, TESS_SOURCE_PUSH } tess__source_kind;
typedef enum tess__format { TESS_FORMAT_NONE, TESS_FORMAT_CSV, TESS_FORMAT_JSONL } tess__format;

typedef struct tess__source {
    const char *name;
    tess__loc loc;
    tess__meta meta;
    tess__source_kind kind;
    const char *path;    /* batch: as written (relative to the repo dir, may be a glob) */
    tess__format format; /* batch: csv or jsonl; push: NONE */
    char delimiter;      /* batch csv: the field separator (default ','); otherwise 0 */
    /* push: the batch source whose schema it shares and where pushed rows are also kept
     * offline, or NULL */
    const struct tess__source *batch_source;
    /* The schema in written order. A push source with a batch_source has that source's schema
     * (and timestamp columns) here too, so engines never need to follow batch_source. */
    const tess__column *schema;
    size_t nschema;
    size_t ts_col;    /* index of the event-timestamp column (type timestamp) */
    long created_col; /* index of the created-timestamp column, or -1 */
    bool broken;      /* loader-internal; always false in a returned tess__defs */
} tess__source;

typedef enum tess__feature_kind { TESS_FEATURE_ROW, TESS_FEATURE_AGG } tess__feature_kind;

typedef enum tess__agg {
    TESS_AGG_NONE = 0, /* row-level feature */
    TESS_AGG_COUNT,
    TESS_AGG_SUM,
    TESS_AGG_MEAN,
    TESS_AGG_MIN,
    TESS_AGG_MAX,
    TESS_AGG_FIRST,
    TESS_AGG_LAST,
    TESS_AGG_STDDEV_SAMP,
    TESS_AGG_STDDEV_POP,
    TESS_AGG_VAR_SAMP,
    TESS_AGG_VAR_POP,
    TESS_AGG_COUNT_DISTINCT_APPROX,
    TESS_AGG__COUNT
} tess__agg;

/* "count", "sum", ... ("" for TESS_AGG_NONE). */
const char *tess__agg_name(tess__agg a);
/* Parses an aggregation name; TESS_OK or TESS_NOTFOUND. */
int tess__agg_parse(const char *s, size_t n, tess__agg *out);

struct tess__view;

typedef struct tess__feature {
    const char *name;
    tess__loc loc;
    const struct tess__view *view;
    size_t index; /* position in view->features (the output column order) */
    tess__feature_kind kind;
    tess__agg agg;           /* TESS_AGG_NONE for row-level features */
    const char *expr_src;    /* as written (trimmed), NULL for `count` without expr */
    const tess__expr *expr;  /* NULL iff expr_src is NULL */
    const char *where_src;   /* aggregates only; NULL if none */
    const tess__expr *where; /* bool */
    int64_t window_us;       /* aggregates: the window, 0 = lifetime; row-level: 0 */
    tess__type input_type;   /* type of expr (TESS_T_NULL when there is none) */
    tess__type type;         /* the feature's value type */
    const char *description; /* "" if none */
} tess__feature;

typedef struct tess__view {
    const char *name;
    tess__loc loc;
    tess__meta meta;
    const tess__entity *const *entities; /* >= 1, written order */
    size_t nentities;
    const tess__source *source;
    int64_t ttl_us;                /* 0 = unlimited */
    int64_t online_expiry_us;      /* > 0: entities idle longer are forgotten online (docs/
                                      online.md, "Expiry"); 0 = never (absent) */
    int64_t hop_us;                /* > 0: as written, or the default min(1h, shortest window) */
    bool hop_given;                /* hop was written */
    bool online;                   /* materialized online (default true) */
    const tess__feature *features; /* >= 1, written order */
    size_t nfeatures;
    /* The join-key columns, entity by entity, key by key: join_cols[i] indexes source->schema.
     * Names and types are source->schema[join_cols[i]]. */
    const size_t *join_cols;
    size_t njoin;
    bool has_aggregates, has_row_features;
} tess__view;

typedef struct tess__odf {
    const char *name;
    tess__loc loc;
    tess__meta meta;
    const tess__feature *const *inputs; /* the input features, written order */
    const char *const *input_refs;      /* "view:feature" for each input */
    size_t ninputs;
    const tess__column *request; /* request fields, sorted by name */
    size_t nrequest;
    const char *expr_src;
    const tess__expr *expr; /* variables: inputs, then request fields */
    tess__type type;
} tess__odf;

/* One resolved feature of a service: exactly one of the two is set. */
typedef struct tess__service_item {
    const tess__feature *feature;
    const tess__odf *odf;
} tess__service_item;

typedef struct tess__service {
    const char *name;
    tess__loc loc;
    tess__meta meta;
    const char *const *refs; /* as written: "view:feat", "view:*" or an on-demand name */
    size_t nrefs;
    const tess__service_item *items; /* expanded, in order, without duplicates */
    size_t nitems;
} tess__service;

struct tess__defs {
    tess__config config;
    const char *const *files; /* files read, in load order (tessera.yaml first) */
    const char *const *file_texts; /* their contents (file_lens[i] bytes, NUL-terminated) */
    const size_t *file_lens;
    size_t nfiles;
    tess__entity *const *entities; /* each array sorted by name */
    size_t nentities;
    tess__source *const *sources;
    size_t nsources;
    tess__view *const *views;
    size_t nviews;
    tess__odf *const *odfs;
    size_t nodfs;
    tess__service *const *services;
    size_t nservices;
    /* owned memory: everything above lives in `arena`; compiled expressions in exprs */
    tess__arena arena;
    tess__expr **exprs;
    size_t nexprs, exprs_cap;
};

/* Lookups by name: the object, or NULL. */
const tess__entity *tess__defs_entity(const tess__defs *d, const char *name);
const tess__source *tess__defs_source(const tess__defs *d, const char *name);
const tess__view *tess__defs_view(const tess__defs *d, const char *name);
const tess__odf *tess__defs_odf(const tess__defs *d, const char *name);
const tess__service *tess__defs_service(const tess__defs *d, const char *name);
/* A view's feature by name, or NULL. */
const tess__feature *tess__view_feature(const tess__view *v, const char *name);
/* "view:feature" (n bytes) -> the feature, or NULL. */
const tess__feature *tess__defs_feature_ref(const tess__defs *d, const char *ref, size_t n);
/* The index of a column in a source's schema, or -1. */
long tess__source_column(const tess__source *s, const char *name);

/*
 * Resolves a list of feature references the way a feature service does ("view:feat",
 * "view:*", or an on-demand feature name), e.g. for the features of a get-online-features
 * request. *items (owned, tess__free) receives *nitems resolved features, in order, without
 * duplicates. Errors: TESS_NOTFOUND (err says which reference, with a suggestion),
 * TESS_ENOMEM.
 */
int tess__defs_resolve(const tess__defs *d, const char *const *refs, size_t nrefs,
                       tess__service_item **items, size_t *nitems, tess__err *err);

/* One definition file given in memory (tess__defs_load_strings). */
typedef struct tess__defs_file {
    const char *name; /* as it appears in messages, e.g. "tessera.yaml", "views.yaml" */
    const char *text;
    size_t len;
} tess__defs_file;

/*
 * tess__defs_load without touching the disk (tests, fuzzers): the file named "tessera.yaml"
 * is the configuration (required: TESS_ECONFIG without it); the others are definition files,
 * read in name order whatever order they are given in. Errors and ownership: as
 * tess__defs_load.
 */
int tess__defs_load_strings(const tess__defs_file *files, size_t nfiles, tess__defs **out,
                            tess__err *err);

/* The files the definitions were loaded from, as [{"name","text"}] in load order (new
 * reference; NULL on out-of-memory): what the registry records with a version, so that
 * tess__defs_load_json can rebuild exactly these definitions later. */
json_t *tess__defs_files_json(const tess__defs *d);

/* Loads definitions from a [{"name","text"}] document (tess__defs_files_json, as kept by the
 * registry). Errors: as tess__defs_load_strings, and TESS_EINVAL for a malformed document. */
int tess__defs_load_json(const json_t *files, tess__defs **out, tess__err *err);

#endif
