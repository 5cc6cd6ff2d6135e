/* defs.h — a feature repo's definitions: tessera.yaml and every definition file, loaded with
 * libyaml into typed, validated objects (entities, sources, feature views with row-level and
 * window features, on-demand features, feature services).
 *
 * Loading validates everything and reports every problem, one line each, as
 * `file:line:column: what was wrong and what was expected`; nothing is returned unless all of it
 * validates. The registry never sees a tess__defs: it stores the canonical JSON document of
 * tess__defs_to_json (docs/registry.md describes it), so the two modules meet only there.
 *
 * The object model (structs) is declared in defs_model.h, for the modules that compute features
 * (offline engine, online store) from validated definitions.
 */
#ifndef TESS_DEFS_DEFS_H
#define TESS_DEFS_DEFS_H

#include <jansson.h>

#include "core/err.h"

/* tessera.yaml: the project's configuration. Paths are as written (relative to the repo). */
typedef struct tess__config {
    char *project;     /* required: [A-Za-z0-9_-]+ */
    char *store;       /* store directory; default ".tessera" */
    char *online;      /* online store URL or NULL (embedded default) */
    char *registry;    /* registry URL or NULL (embedded default) */
    char *offline;     /* offline store URL or NULL (embedded default) */
    char *description; /* or NULL */
} tess__config;

/* Reads `<repo_dir>/tessera.yaml` (configuration keys only are checked here; definition sections
 * in it are read by tess__defs_load). Errors: TESS_ECONFIG with file:line:column in err,
 * TESS_ENOMEM. On failure *cfg is released. */
int tess__config_load(const char *repo_dir, tess__config *cfg, tess__err *err);
void tess__config_release(tess__config *cfg);

typedef struct tess__defs tess__defs;

/*
 * Loads tessera.yaml and every other `*.yaml` / `*.yml` file directly inside repo_dir, in name
 * order, and validates the whole. Errors: TESS_EDEFS (err lists every problem, one per line,
 * each `file:line:column: message`, file names relative to repo_dir), TESS_ECONFIG, TESS_EIO,
 * TESS_ENOMEM. *out is owned by the caller: tess__defs_free.
 */
int tess__defs_load(const char *repo_dir, tess__defs **out, tess__err *err);
void tess__defs_free(tess__defs *d);

/*
 * The canonical JSON document of the definitions (new reference, json_decref). Canonical: the
 * same definitions written in any order, in any number of files, with any formatting give the
 * same document when dumped with JSON_SORT_KEYS | JSON_COMPACT, so its hash identifies them.
 * Source locations are NOT part of it. Shape (docs/registry.md):
 * {
 *   "project": "fraud",
 *   "entities":  [{"name", "join_keys": [{"name","type"}], "description", "owner", "tags": {}}],
 *   "sources":   [{"name", "type": "batch"|"push", "path"|null, "format": "csv"|"jsonl"|null,
 *                  "delimiter": ","|null (csv only), "timestamp", "created_timestamp"|null,
 *                  "batch_source"|null,
 *                  "schema": [{"name","type"}], "description", "owner", "tags"}],
 *   "feature_views": [{"name", "entities": [..], "source", "ttl": "30d"|null, "hop": "1h",
 *                  "online_expiry": "60d" (only when set),
 *                  "description", "owner", "tags", "online": true,
 *                  "features": [{"name", "type", "kind": "row"|"aggregate",
 *                                "expr"|null, "agg"|null, "where"|null, "window": "7d"|null,
 *                                "description"}]}],
 *   "on_demand_features": [{"name", "type", "expr", "features": ["view:feat", ...],
 *                  "request": [{"name","type"}], "description", "owner", "tags"}],
 *   "feature_services": [{"name", "features": [as written], "resolved": ["view:feat" or
 *                  on-demand name, expanded, in order, no duplicates], "description", "owner",
 *                  "tags"}]
 * }
 * Arrays of objects are sorted by name; descriptions/owners absent are "", tags absent are {}.
 * Returns NULL on out-of-memory.
 */
json_t *tess__defs_to_json(const tess__defs *d);

/* The project name (borrowed for the life of d). */
const char *tess__defs_project(const tess__defs *d);

#endif
