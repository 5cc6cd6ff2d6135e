/* store_int.h — the tess_store handle, shared by the files of src/store that implement the
 * public API (store.c: open, plan/apply, catalog; offline.c: ingest, training sets, stats;
 * online.c: queries, lookups, materialization). */
#ifndef TESS_STORE_STORE_INT_H
#define TESS_STORE_STORE_INT_H

#include <stdint.h>

#include "core/err.h"
#include "defs/defs.h"
#include "defs/defs_model.h"
#include "offline/evstore.h"
#include "online/kv.h"
#include "online/oview.h"
#include "registry/registry.h"
#include "tessera.h"

/*
 * A snapshot of one applied registry version: its typed definitions and the online plan of
 * each of its views. Immutable once made and reference-counted: the store handle holds one
 * (the latest it has seen) and every tess_query holds the one it was made from, so a query
 * keeps working, with its own definitions, after newer versions are applied.
 */
typedef struct tess__snap {
    int refs; /* atomic */
    int64_t version;
    tess__defs *defs;
    tess__oview **ov; /* per defs->views index; NULL for a view that is not online */
} tess__snap;

void tess__snap_ref(tess__snap *s);
void tess__snap_unref(tess__snap *s); /* NULL is ok */

struct tess_store {
    tess__err err;
    int open_rc; /* TESS_OK, or why tess_store_open failed */
    char *repo_dir;
    char *store_dir;
    tess__config cfg;
    tess__registry *reg;
    /* the latest applied version's definitions, shared with the queries made from it
       (tess__store_snap) */
    tess__snap *snap;
    tess__evstore *es; /* the offline event store, opened on first use (tess__store_evstore) */
    tess__kv *kv;      /* the online store, opened on first use (tess__store_kv) */
};

/* The offline event store of the handle, opened on first use. Borrowed for the handle's life.
 * Errors: as tess__evstore_open. */
int tess__store_evstore(tess_store *st, tess__evstore **out);

/* Starts a public call: clears the message; returns the open error of a FAILED handle. */
int tess__store_enter(tess_store *st);

/*
 * The typed definitions of the registry's latest version, rebuilt from the definition files
 * recorded with it and cached on the handle (reloaded when a newer version appears). Borrowed
 * until the next call on the handle. Errors: TESS_NOTFOUND ("nothing applied yet: run tessera
 * apply"), TESS_EREGISTRY, TESS_ENOMEM.
 */
int tess__store_applied_defs(tess_store *st, const tess__defs **out);

/* The snapshot of the latest applied version (tess__store_applied_defs's), borrowed: take a
 * reference (tess__snap_ref) to keep it. Errors: as tess__store_applied_defs. */
int tess__store_snap(tess_store *st, tess__snap **out);

/* The online store of the handle (tessera.yaml's `online:`, default LMDB in <store>/online),
 * opened on first use. Borrowed for the handle's life; thread-safe (kv.h).
 * Errors: as tess__kv_open. */
int tess__store_kv(tess_store *st, tess__kv **out);

/* The i-th feature view a query reads (in order of first use), or NULL past the last. */
const tess__view *tess__query_view(const tess_query *q, size_t i);

#endif
