/* store_int.h — the tess_store handle, shared by the files of src/store that implement the
 * public API (store.c: open, plan/apply, catalog; offline.c: ingest, training sets, stats). */
#ifndef TESS_STORE_STORE_INT_H
#define TESS_STORE_STORE_INT_H

#include <stdint.h>

#include "core/err.h"
#include "defs/defs.h"
#include "defs/defs_model.h"
#include "offline/evstore.h"
#include "registry/registry.h"
#include "tessera.h"

struct tess_store {
    tess__err err;
    int open_rc; /* TESS_OK, or why tess_store_open failed */
    char *repo_dir;
    char *store_dir;
    tess__config cfg;
    tess__registry *reg;
    /* the typed definitions of the latest applied version (tess__store_applied_defs) */
    tess__defs *applied;
    int64_t applied_version;
    tess__evstore *es; /* the offline event store, opened on first use (tess__store_evstore) */
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

#endif
