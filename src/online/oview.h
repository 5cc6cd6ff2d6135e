/* oview.h — one feature view in the online store: how its records (record.h) are keyed,
 * built from events, updated by new events, and read at a point in time. The one place that
 * knows what a record means; materialization, push and lookups all go through it, and it
 * computes with the offline engine's code (window.h, agg.h, the compiled expressions), so
 * that online values equal offline ones (DESIGN.md, "Time semantics"; docs/online.md).
 *
 * An oview is immutable after tess__oview_new and may be shared by threads.
 */
#ifndef TESS_ONLINE_OVIEW_H
#define TESS_ONLINE_OVIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/value.h"
#include "defs/defs.h"
#include "defs/defs_model.h"

typedef struct tess__oview tess__oview;

/* Builds the online plan of view `v` of definitions `d` (both borrowed for the oview's life).
 * Errors: TESS_EINVAL (the window engine refuses the view), TESS_ENOMEM. */
int tess__oview_new(const tess__defs *d, const tess__view *v, tess__oview **out, tess__err *err);
void tess__oview_free(tess__oview *ov);

const tess__view *tess__oview_view(const tess__oview *ov);
/* A hash of everything that decides the view's online values (source schema and time
 * columns, join keys, ttl, hop, features; not descriptions, owners or tags). */
uint64_t tess__oview_fingerprint(const tess__oview *ov);

/* The slot groups of a view (record.h, docs/online_backends.md "Slot groups"): an entity's
 * records live in group tess__oview_group_of(its encoded key, ngroups), and each group of the
 * view has its own meta record. ngroups is the back end's (kv.h tess__kv_slot_groups): a power
 * of two, at most TESS__OVIEW_GROUPS (two hex digits); 1 puts every entity in group 00. */
#define TESS__OVIEW_GROUPS 256u
/* The group of the entity whose encoded key (tess__evkey_encode) is `entity`. */
uint32_t tess__oview_group_of(tess__str entity, uint32_t ngroups);

/* Appends the prefix every head key of the view starts with: 'v' name '#' (all its groups). */
int tess__oview_prefix(const tess__oview *ov, tess__buf *out);
/* Appends the prefix every history key of the view starts with: 'h' name '#'. */
int tess__oview_hist_prefix(const tess__oview *ov, tess__buf *out);
/* Appends the prefix of the view's keys in the layout before slot groups (record format 6 and
 * older): kind 'v' or 'h': kind name NUL; 'm': the whole meta key, 'm' name. A full rebuild
 * drops them, so that a store written by an older Tessera keeps no dead records. */
int tess__oview_legacy_prefix(const tess__oview *ov, char kind, tess__buf *out);
/* Appends the history key of the entity whose head key is `head_key` (record.h).
 * Errors: TESS_EINVAL (an empty key), TESS_ENOMEM. */
int tess__oview_hist_key(tess__str head_key, tess__buf *out);
/* Appends the head key of the entity whose join-key values are keys[0..njoin) in a store of
 * `ngroups` slot groups (the view's
 * join_cols order; types must match exactly). TESS_NOTFOUND if a key value is null,
 * TESS_EINVAL for a wrong type, TESS_ENOMEM (out is left as it was on every error). */
int tess__oview_key(const tess__oview *ov, uint32_t ngroups, const tess__value *keys,
                    tess__buf *out);
/* Appends the head key of the entity whose encoded key is `entity`. Errors: TESS_ENOMEM. */
int tess__oview_key_of(const tess__oview *ov, uint32_t ngroups, tess__str entity,
                       tess__buf *out);
/* The meta key of group `group` of the view: 'm' name '#' gg. Errors: TESS_ENOMEM. */
int tess__oview_meta_key(const tess__oview *ov, uint32_t group, tess__buf *out);
/* Splits a head, history or meta key (kind byte first) into its view name, group and encoded
 * entity key (empty for a meta key); any pointer may be NULL. TESS_EINVAL: not such a key. */
int tess__oview_key_parts(tess__str key, tess__str *view, uint32_t *group, tess__str *entity);

/* What a write does to the entity's history record (record.h). */
enum { TESS__HIST_KEEP = 0, TESS__HIST_WRITE = 1, TESS__HIST_DELETE = 2 };

/* Reads the entity's current history record for a write ({NULL, 0}: absent); the bytes must
 * stay valid until tess__oview_apply returns. */
typedef int (*tess__oview_hist_fn)(void *ctx, tess__str *hist, tess__err *err);

/*
 * The head record after adding source rows to `old` (the entity's head record, or {NULL, 0}
 * for none): rows[i * nschema + c] is schema column c of row i, seq[i] its ingestion sequence;
 * any order. `now` is the time of the write: rows with a later event ts are kept as future
 * rows; tiles older than every window are pruned (merged into the base tile when the view has
 * lifetime aggregates). A row already in the record (same seq) is not added twice... only as
 * far as the latest row goes: callers never give a row twice (watermarks).
 * An `old` record of another fingerprint is ignored (rebuilt from `rows` alone).
 * The encoded head is appended to `out`. The history record is read through hist(hist_ctx)
 * only when the write needs it (a new hop bucket, a late row, due future rows: not the common
 * push into the current bucket); *hist_op says what to do with it: keep it, write `hist_out`
 * (the new history record, replacing hist_out's bytes) or delete it. Scratch from `arena`.
 * Errors: TESS_EINVAL (a null event ts, a value of the wrong type: err says which row and
 * column), TESS_EIO (old or its history is damaged), hist's errors, TESS_ENOMEM.
 */
int tess__oview_apply(const tess__oview *ov, const void *old, size_t oldn,
                      tess__oview_hist_fn hist, void *hist_ctx, const tess__value *rows,
                      const int64_t *seq, size_t nrows, int64_t now, tess__arena *arena,
                      tess__buf *out, tess__buf *hist_out, int *hist_op, tess__err *err);

/* The view's online_expiry in microseconds (0: entities are never forgotten). */
int64_t tess__oview_expiry_us(const tess__oview *ov);

/*
 * When the entity of head record `rec` is forgotten (docs/online.md, "Expiry"): *at is the
 * greatest event ts among the record's rows (its latest row and its future rows) plus the
 * view's online_expiry — the entity reads as never seen at every t > *at (tess__oview_eval);
 * INT64_MIN when the record holds no row; INT64_MAX when the view has no online_expiry, or
 * rec is NULL or of another fingerprint (not this definition's to judge). Scratch from arena.
 * Errors: TESS_EIO (a damaged record), TESS_ENOMEM.
 */
int tess__oview_expires(const tess__oview *ov, const void *rec, size_t recn, tess__arena *arena,
                        int64_t *at, tess__err *err);

/* tess__oview_eval's answers when the read needs the entity's history record too: */
#define TESS__OVIEW_NEED_HISTORY 1  /* hist was NULL: read it and call again */
#define TESS__OVIEW_STALE_HISTORY 2 /* hist is not the head's (read in another snapshot): read
                                       both again in one snapshot and call again */

/*
 * The values of the view's features `which[0..n)` (indices into view->features) as of time t
 * from head record `rec` (NULL: the entity has no record) and, when the read needs it, its
 * history record `hist` (NULL: not read; see the codes above — reads in the write's hop bucket
 * need only the head): vals[i], statuses[i] (TESS_STATUS_*), event_ts[i] (0: none). A record
 * of another fingerprint counts as no record, and so does, in a view with online_expiry, one
 * whose entity is forgotten at t (no row at or before t, or the latest older than the
 * expiry). Strings go into `arena`.
 * Errors: TESS_EIO (damaged record), TESS_ENOMEM.
 */
int tess__oview_eval(const tess__oview *ov, const void *rec, size_t recn, const void *hist,
                     size_t histn, int64_t t, const size_t *which, size_t n, tess__arena *arena,
                     tess__value *vals, int *statuses, int64_t *event_ts, tess__err *err);

#endif
