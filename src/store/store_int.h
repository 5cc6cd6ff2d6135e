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
    struct tess__pushq *pushq; /* group commit of pushes (push.c), made with the first session */
};

/* A lookup/push session (tessera.h): one thread's scratch memory and error message. */
struct tess_session {
    tess_store *st; /* only its thread-safe parts: kv, es, pushq, store_dir */
    tess__kv *kv;
    tess__evstore *es;
    tess__err err;
    tess__arena arena;
    tess__buf keybuf;
    size_t cap; /* values of the result arrays */
    tess_value *vals;
    int *statuses;
    int64_t *event_ts;
    size_t kcap; /* keys */
    tess__str *keys, *recs;
    size_t *koff;
};

/* A caller's value (tessera.h) as an internal one of type `want`; int64 and timestamp stand
 * for each other, nothing else converts (false). Strings are shared, not copied. */
static inline bool tess__value_in(const tess_value *in, tess__type want, tess__value *out)
{
    if (in->null) {
        *out = tess__null(want);
        return true;
    }
    tess__type t = (tess__type)in->type;
    if (t != want && !((t == TESS_T_INT64 || t == TESS_T_TIMESTAMP) &&
                       (want == TESS_T_INT64 || want == TESS_T_TIMESTAMP)))
        return false;
    out->type = want;
    out->null = false;
    switch (want) {
    case TESS_T_BOOL: out->u.b = in->u.b != 0; break;
    case TESS_T_FLOAT64: out->u.f = in->u.f; break;
    case TESS_T_STRING: out->u.s = (tess__str){in->u.s.p, in->u.s.n}; break;
    default: out->u.i = in->u.i; break;
    }
    return true;
}

/* An internal value as a caller's (strings shared). */
static inline void tess__value_out(const tess__value *in, tess_value *out)
{
    out->type = (int)in->type;
    out->null = in->null;
    out->u.i = 0;
    if (in->null) return;
    switch (in->type) {
    case TESS_T_BOOL: out->u.b = in->u.b; break;
    case TESS_T_FLOAT64: out->u.f = in->u.f; break;
    case TESS_T_STRING:
        out->u.s.p = in->u.s.p;
        out->u.s.n = in->u.s.n;
        break;
    default: out->u.i = in->u.i; break;
    }
}

/* The group-commit queue of pushes (push.c). */
int tess__pushq_new(struct tess__pushq **out);
void tess__pushq_free(struct tess__pushq *q);

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

/*
 * The online half of a push (online_write.c): applies rows (row-major, the schema of `src`;
 * seq[i] each row's ingestion sequence) to every online view of `snap` whose source shares
 * src's store (only the view named like `only` when it is not NULL), all in one back-end
 * transaction that also records the offline ingests the rows came with (none for
 * online-only rows) in the views' meta records. Views not materialized yet, or materialized
 * from another definition, are skipped (their materialization reads the push offline), and
 * so are ingests a materialization counts or will read (online_write.c). `replayable`: every
 * row is stored offline too (the online commit may go unflushed: TESS__KV_REPLAYABLE, kv.h).
 * *views_updated counts the views written. Errors: TESS_EIO, TESS_ENOMEM.
 */
int tess__online_apply_rows(tess__kv *kv, const tess__snap *snap,
                            const tess__source *src, const tess__view *only,
                            const tess__value *rows, const int64_t *seq,
                            size_t nrows, const uint32_t *ingests, size_t ningests,
                            bool replayable, int64_t now, size_t *views_updated,
                            tess__err *err);

/* The i-th feature view a query reads (in order of first use), or NULL past the last. */
const tess__view *tess__query_view(const tess_query *q, size_t i);

#endif
