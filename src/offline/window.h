/* window.h — the window-aggregation engine of one feature view: DESIGN.md's sawtooth windows,
 * computed the same way for training sets (many query times per entity), backfills (tiles)
 * and the online store (tiles + head at one time).
 *
 * Semantics. For an entity, a time t, a feature with window W (0 = lifetime) over a view with
 * hop h, the value aggregates the rows with floor(t - W, h) <= event_ts <= t (lifetime:
 * event_ts <= t) whose `where` is true and whose `expr` is not null (count without expr counts
 * the rows). Canonically it is computed as
 *
 *     finalize(merge(... merge(merge(empty, T_a), T_a+1) ..., T_b-1), head))
 *
 * where T_a .. T_b-1 are the entity's tiles (one state per spec and hop bucket [k h, (k+1) h))
 * with a bucket start in [floor(t - W, h), floor(t, h)), oldest first, and head is the state of
 * the rows in [floor(t, h), t] added in (event ts, created ts, seq) order. Every merge in
 * agg.h is exact (see there), so any other grouping of the same rows gives bit-identical
 * values; the offline evaluator uses that to go faster (prefix differences, monotonic
 * deques), except for states with outliers (agg.h), where it runs the canonical merge itself.
 *
 * A plan (tess__wplan) is immutable after tess__wplan_new and may be shared by threads; an
 * evaluator (tess__weval) holds scratch memory and belongs to one thread at a time.
 */
#ifndef TESS_OFFLINE_WINDOW_H
#define TESS_OFFLINE_WINDOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/value.h"
#include "defs/defs_model.h"
#include "offline/agg.h"
#include "offline/batch.h"

typedef struct tess__wplan tess__wplan;

/*
 * Builds the plan of `v`'s aggregate features: the distinct specs (agg, expr text, where
 * text) — features that differ only in their window share a spec, hence tiles — and for each
 * aggregate feature (in view order) its spec and window. `v` is borrowed for the life of the
 * plan. A view without aggregates gives a plan with no features. Errors: TESS_EINVAL (hop not
 * > 0, an aggregation/type the definitions do not allow, event-ts column not a timestamp),
 * TESS_ENOMEM. Free with tess__wplan_free (NULL is ok).
 */
int tess__wplan_new(const tess__view *v, tess__wplan **out);
void tess__wplan_free(tess__wplan *p);

int64_t tess__wplan_hop(const tess__wplan *p);
size_t tess__wplan_nspecs(const tess__wplan *p);
tess__agg_kind tess__wplan_spec_kind(const tess__wplan *p, size_t spec);
/* The first bucket start of a window of w us (0: lifetime) at time t with hop h:
 * floor(t - w, h) (the "sawtooth" tail); INT64_MIN for a lifetime window or when t - w is before
 * every accepted timestamp. */
int64_t tess__wplan_win_start(int64_t t, int64_t w, int64_t h);
/* The earliest of the plan's window starts at t: INT64_MIN with a lifetime feature, INT64_MAX
 * with no feature. A tile before it is in no window at t. */
int64_t tess__wplan_first_start(const tess__wplan *p, int64_t t);
/* Aggregate features, in view order (the column order of every output below). */
size_t tess__wplan_nfeatures(const tess__wplan *p);
/* The i-th aggregate feature; *spec and *window_us (0 = lifetime) if not NULL. */
const tess__feature *tess__wplan_feature(const tess__wplan *p, size_t i, size_t *spec,
                                         int64_t *window_us);

/* ---- offline: many query times per entity ----------------------------------------------- */

typedef struct tess__weval tess__weval;

/* An evaluator for plan `p` (borrowed). Errors: TESS_ENOMEM. Free with tess__weval_free. */
int tess__weval_new(const tess__wplan *p, tess__weval **out);
void tess__weval_free(tess__weval *ev);
/* Forces the canonical tile-by-tile merge for every spec (the online store's path): slower,
 * same values. For tests and `tessera check`. */
void tess__weval_set_fold(tess__weval *ev, bool fold);

/*
 * Values of every aggregate feature of one entity at the query times q[0..m) (ascending; equal
 * times allowed). The entity's events are rows [lo, hi) of `b` — columns in the source's
 * schema order, b->seq the ingestion sequence (or NULL: the row index is used) — sorted by
 * (event ts, created ts (null first), seq); event timestamps must not be null. Writes
 * out[j * nfeatures + i] for query j and feature i. Strings point into `arena`; the batch is
 * not referenced afterwards.
 * Cost: O(rows + queries x features) for every aggregation (see window.c); memory from the
 * evaluator's scratch arena, O(rows + queries x windows).
 * Errors: TESS_EINVAL (bounds, more than 2^31 - 2 rows, unsorted rows or query times, null
 * event ts, a column of the wrong type, timestamps beyond +-2^61 us), TESS_ENOMEM. On error
 * `out` is unspecified; the evaluator stays usable.
 */
int tess__weval_run(tess__weval *ev, const tess__batch *b, size_t lo, size_t hi,
                    const int64_t *q, size_t m, tess__arena *arena, tess__value *out);

/*
 * tess__weval_run with the values in columns: out[i] is feature i's column, of type
 * tess__agg_result_type of its spec, with room for m entries (data and nulls, which the
 * caller allocates); entry j is the value at q[j]. Data of null entries is left as it was.
 * Same values, without a tess__value per (query, feature): for a backfill, which reads them a
 * feature at a time. Errors: as tess__weval_run (TESS_EINVAL also for a column of the wrong
 * type).
 */
int tess__weval_run_cols(tess__weval *ev, const tess__batch *b, size_t lo, size_t hi,
                         const int64_t *q, size_t m, tess__arena *arena, tess__col *out);

/* Tiles of one entity (backfill, materialization, tests). */
typedef struct tess__wtiles {
    size_t n;                /* tiles (hop buckets that hold at least one row) */
    size_t nspecs;
    int64_t *start;          /* bucket starts, ascending */
    tess__agg_state *states; /* states[i * nspecs + s]: tile i, spec s */
} tess__wtiles;

/*
 * Builds the tiles of rows [lo, hi) of `b` (same requirements as tess__weval_run). Arrays and
 * states' bytes live in `arena`. Errors: TESS_EINVAL, TESS_ENOMEM.
 */
int tess__weval_tiles(tess__weval *ev, const tess__batch *b, size_t lo, size_t hi,
                      tess__arena *arena, tess__wtiles *out);

/* ---- online: one time, stored tiles ---------------------------------------------------- */

/*
 * Adds one source row (row[i] = value of schema column i) to `states` (one per spec, e.g. the
 * tile of its bucket tess__floor_to(ts, hop), or a head being built): evaluates each spec's
 * where and expr on it, as the offline engine does. `seq` is the row's ingestion sequence.
 * Errors: TESS_EINVAL (null or non-timestamp event ts, values of the wrong type), TESS_ENOMEM.
 */
int tess__wplan_add_row(const tess__wplan *p, tess__agg_state *states, const tess__value *row,
                        int64_t seq, tess__arena *arena);

/*
 * Values of every aggregate feature at time t (out[i] for feature i), from an entity's tiles:
 * starts[0..ntiles) ascending, multiples of the hop; states[i * nspecs + s]. For each feature,
 * the tiles with a start in [floor(t - W, h), floor(t, h)) are merged oldest first, then the
 * head: `head` (nspecs states, e.g. built with tess__wplan_add_row from the rows in
 * [floor(t, h), t] in sorted order) if not NULL, otherwise the tile that starts at floor(t, h)
 * if any (then all of its rows count). Tiles after floor(t, h) are ignored. Strings and
 * scratch states go into `arena`. Errors: TESS_EINVAL (unsorted or misaligned starts),
 * TESS_ENOMEM.
 */
int tess__wplan_eval_at(const tess__wplan *p, int64_t t, const int64_t *starts,
                        const tess__agg_state *states, size_t ntiles,
                        const tess__agg_state *head, tess__arena *arena, tess__value *out);

/* A stored tile: its bucket start and the tess__agg_encode bytes of each spec's state. */
typedef struct tess__wtile_enc {
    int64_t start;
    const tess__str *states; /* nspecs */
} tess__wtile_enc;

/* tess__wplan_eval_at over encoded tiles (decoded into `arena`). Errors: as eval_at, and
 * TESS_EPARSE (a state that does not decode). */
int tess__wplan_eval_encoded(const tess__wplan *p, int64_t t, const tess__wtile_enc *tiles,
                             size_t ntiles, const tess__agg_state *head, tess__arena *arena,
                             tess__value *out);

#endif
