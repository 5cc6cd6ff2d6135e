/* meta.h — the meta record of a feature view in the online store: how far the online store
 * has caught up with the offline store (docs/online.md, "Materialization" and "Push").
 *
 * One per slot group of a view (oview.h): key 'm' view-name '#' gg (tess__oview_meta_key).
 * Events are applied to the online store one offline ingest at a time, by materialization or
 * by the push that made the ingest; the meta record of a group says which ingests the group's
 * records hold: every ingest number up to `watermark`, plus `applied` (numbers above it, e.g.
 * pushes that went ahead of a materialization). It is updated in the same back-end
 * transaction as the group's records it accounts for, so the two always agree, and an ingest
 * is never applied twice to a group.
 *
 * A materialization in progress records `pending`: the ingests it applies (those above the
 * watermark, up to pending_to, not in applied) are in the records of every entity of the group
 * whose encoded entity key (tess__evkey_encode, without the record key's prefix) is at most
 * pending_key; a crashed materialization resumes from there.
 */
#ifndef TESS_ONLINE_META_H
#define TESS_ONLINE_META_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/value.h"

typedef struct tess__ometa {
    bool present;
    uint64_t fingerprint; /* the view's fingerprint; 0: the records need a full rebuild */
    uint32_t watermark;
    size_t napplied;
    uint32_t *applied; /* ascending, all > watermark */
    bool pending;
    uint32_t pending_to;
    tess__str pending_key;
    int64_t at;     /* time of the last change */
    int64_t newest; /* the newest event time applied (INT64_MIN: none): freshness */
} tess__ometa;

/* Decodes a meta record ({NULL, 0}: absent, present = false). Arrays and the key go into
 * `arena`. Errors: TESS_EIO (damaged), TESS_ENOMEM. */
int tess__ometa_decode(const void *p, size_t n, tess__ometa *m, tess__arena *arena,
                       tess__err *err);
int tess__ometa_encode(const tess__ometa *m, tess__buf *out);

/* True if ingest `n` is in the online store. */
bool tess__ometa_has(const tess__ometa *m, uint32_t n);
/* Records ingest n as applied (then folds applied numbers that follow the watermark into it).
 * Errors: TESS_ENOMEM. */
int tess__ometa_add(tess__ometa *m, uint32_t n, tess__arena *arena);
/* Every ingest up to `to` is applied: raises the watermark, drops what it covers. */
void tess__ometa_advance(tess__ometa *m, uint32_t to);

#endif
