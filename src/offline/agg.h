/* agg.h — partial aggregate states: the one definition of every aggregation's arithmetic,
 * called by the offline engine (window.c: training sets, backfills) and by the online store
 * (tiles in LMDB/Redis), so that a value computed online is bit-identical to the one computed
 * offline. docs/offline.md ("Aggregations") has the design and its reasons.
 *
 * A state is the partial aggregate of some rows. Operations: init (empty), add one row,
 * merge (a := a + b, b newer than a), sub (a := a - b, for the invertible aggregations),
 * copy, finalize (the feature's value), encode/decode (compact bytes for the online store).
 *
 * Every state is ORDER-INDEPENDENT: adding the same rows in any order, or merging the same
 * partial states in any grouping, gives a bit-identical finalized value, because every merge
 * is exact:
 *   count                 int64 counter
 *   sum (int64 input)     128-bit integer; the value is null if the sum is outside int64
 *   sum/mean/var/stddev   exact fixed-point sums: sum of x in units of 2^-128 (256 bits), and
 *   (numeric inputs)      for variances the sum of x*x in units of 2^-192 (384 bits). int64
 *                         inputs are exact; a float64 input is exact unless it has bits below
 *                         2^-128 (then it is rounded to that grid, the same way every time). So
 *                         the sum is the correctly rounded exact sum, the mean the correctly
 *                         rounded exact mean, the variance the correctly rounded exact variance
 *                         (of the grid values). |x| >= 2^96 (sum) or >= 2^80 (squares): an
 *                         "outlier", kept in a double-double beside the exact part; only then
 *                         do the results depend on the order (tess__agg_exact says so). inf and
 *                         NaN inputs are counted: the sum is NaN, +inf or -inf as IEEE says.
 *   min, max              a total order: numbers, NaN greatest, -0.0 < 0.0; strings bytewise
 *   first, last           the row with the least/greatest key (event ts, created ts, seq),
 *                         ties (equal keys) broken by the value's order (first: least)
 *   count_distinct_approx HyperLogLog, p = 12 (4096 registers), XXH3-64 of the value with its
 *                         type as seed; standard error 1.04/sqrt(4096) = 1.6%
 * Nulls are skipped (count without an expression counts rows). Empty: count and sum are 0,
 * everything else is null (count_distinct_approx included, as DESIGN.md says).
 *
 * Memory: a tess__agg_state is a plain fixed-size struct. Bytes it points to — the string of a
 * min/max/first/last of strings, the dense registers of a HyperLogLog — live in the tess__arena
 * passed to the call that made them; the state is valid as long as that arena. Strings are
 * immutable once stored, so a struct assignment may share them; HyperLogLog registers are
 * updated in place by add/merge, so a state that will be modified must be copied with
 * tess__agg_copy, never by assignment (assignment is fine for every other aggregation).
 * Merge/sub never modify their second argument. Nothing here keeps global state: threads may
 * use distinct states freely.
 */
#ifndef TESS_OFFLINE_AGG_H
#define TESS_OFFLINE_AGG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/value.h"
#include "defs/defs_model.h"
#include "expr/expr.h"

/* What a state aggregates: the aggregation and its input type (the type of the feature's
 * expr; TESS_T_NULL for count without expr). */
typedef struct tess__agg_kind {
    tess__agg agg;
    tess__type in;
} tess__agg_kind;

/* The ordering key of a row, for first/last: event ts, created ts (INT64_MIN if none or
 * null), ingestion seq. */
typedef struct tess__agg_key {
    int64_t ts, created, seq;
} tess__agg_key;

/* Key columns for tess__agg_add_rows, indexed like the value column. */
typedef struct tess__agg_keys {
    const int64_t *ts;            /* event timestamps */
    const int64_t *created;       /* created timestamps, or NULL (INT64_MIN for every row) */
    const uint8_t *created_nulls; /* or NULL; a null created ts is INT64_MIN */
    const int64_t *seq;           /* or NULL: the row's index in the column is its seq */
} tess__agg_keys;

#define TESS__HLL_P 12
#define TESS__HLL_M (1u << TESS__HLL_P)
#define TESS__HLL_Q (64 - TESS__HLL_P)   /* bits of the hash after the register index */
#define TESS__HLL_HIST (TESS__HLL_Q + 2) /* register values 0 .. Q+1 */
#define TESS__HLL_SPARSE 29              /* registers kept inline before going dense */

/* Fields are internal to agg.c (window.c reads none of them). */
typedef struct tess__agg_state {
    int64_t n; /* values added (count: rows counted) */
    union {
        struct {
            uint64_t lo, hi; /* int64 sum: 128-bit two's complement */
        } isum;
        struct {
            uint64_t s[4];        /* sum of x, units of 2^-128, two's complement */
            uint64_t ss[6];       /* sum of x*x, units of 2^-192 (variances only) */
            double out_s[2];      /* outliers' sum, double-double */
            double out_ss[2];     /* outliers' sum of squares, double-double */
            uint32_t npinf, nninf, nnan, nout;
        } m;
        struct {
            tess__value v; /* valid when n > 0 */
        } mm;
        struct {
            tess__agg_key k;
            tess__value v; /* valid when n > 0 */
        } fl;
        struct {
            uint8_t *regs;    /* dense registers (TESS__HLL_M bytes, in an arena), or NULL */
            uint32_t nsparse; /* while regs is NULL: sparse[] holds (index << 8 | value) */
            uint32_t sparse[TESS__HLL_SPARSE]; /* sorted by index */
        } hll;
    } u;
} tess__agg_state;

/* True if `k` is an aggregation the definitions allow (DESIGN.md): count of anything or of
 * rows; sum/mean/stddev_* /var_* of int64 or float64; min/max of int64, float64, timestamp or
 * string; first/last/count_distinct_approx of any type. */
bool tess__agg_kind_valid(tess__agg_kind k);
/* The type of the finalized value: int64 for count and count_distinct_approx, the input type
 * for sum, min, max, first, last, float64 for the others. */
tess__type tess__agg_result_type(tess__agg_kind k);
/* True for the aggregations whose states can be subtracted (tess__agg_sub): count, sum, mean,
 * the variances and standard deviations. */
bool tess__agg_invertible(tess__agg_kind k);

/* An empty state. */
void tess__agg_init(tess__agg_kind k, tess__agg_state *s);

/*
 * Adds one row: `v` is the value of the feature's expression on the row (a null value is
 * skipped; v == NULL means "a row" for count without expr and is skipped by the others), `key`
 * its ordering key (read by first/last only; may be NULL for the others). A string is copied
 * into `arena` when it becomes the state's value; dense HyperLogLog registers are allocated
 * there. Returns TESS_OK, TESS_ENOMEM, or TESS_EINVAL (v of the wrong type, key missing).
 */
int tess__agg_add(tess__agg_kind k, tess__agg_state *s, const tess__value *v,
                  const tess__agg_key *key, tess__arena *arena);

/*
 * Adds rows [from, to) of a column in order: rows with skip[i] != 0 (skip may be NULL) and null
 * values are skipped; vals == NULL counts rows (count without expr). `keys` is read by
 * first/last only (may be NULL for the others). The same result as tess__agg_add row by row,
 * faster. Errors: TESS_ENOMEM, TESS_EINVAL (column of the wrong type, keys missing).
 */
int tess__agg_add_rows(tess__agg_kind k, tess__agg_state *s, const tess__col *vals,
                       const uint8_t *skip, size_t from, size_t to, const tess__agg_keys *keys,
                       tess__arena *arena);

/* a := a merged with b (b covers newer rows than a; the result does not depend on it except for
 * outliers, see tess__agg_exact). b is not modified. Errors: TESS_ENOMEM. */
int tess__agg_merge(tess__agg_kind k, tess__agg_state *a, const tess__agg_state *b,
                    tess__arena *arena);

/* a := a minus b, where b's rows are a subset of a's (a prefix sum minus an earlier one).
 * Exact. Errors: TESS_EINVAL if k is not invertible or either state has outliers. */
int tess__agg_sub(tess__agg_kind k, tess__agg_state *a, const tess__agg_state *b);

/* *dst := a deep copy of *src (dense registers copied into `arena`). Errors: TESS_ENOMEM. */
int tess__agg_copy(tess__agg_kind k, tess__agg_state *dst, const tess__agg_state *src,
                   tess__arena *arena);

/*
 * Sliding windows over a column, for the invertible aggregations: entry j of `out` (a column
 * of tess__agg_result_type(k) with room for m entries: data and nulls) is the finalized state
 * of rows [lo[j], hi[j]) (lo == NULL: from row 0), rows skipped as tess__agg_add_rows does.
 * lo and hi must be non-decreasing and lo[j] <= hi[j]. Each row is added once and removed at
 * most once, exactly (the inverse of an add subtracts the same rounded magnitudes), so every
 * value is bit-identical to a state built from its rows alone: O(rows + m) without a state
 * per position. If the rows hold an outlier (tess__agg_exact) the removal would not be exact:
 * *exact is set false and `out` is unspecified (the caller merges canonically instead).
 * Errors: TESS_EINVAL (k not invertible, column or output of the wrong type).
 */
int tess__agg_slide(tess__agg_kind k, const tess__col *vals, const uint8_t *skip,
                    const size_t *lo, const size_t *hi, size_t m, tess__col *out, bool *exact);

/* False if the state holds outliers (sum/mean/variances of |x| >= 2^96 or 2^80), whose
 * double-double sum depends on the order of the rows; true otherwise. */
bool tess__agg_exact(tess__agg_kind k, const tess__agg_state *s);

/*
 * The feature's value (type tess__agg_result_type(k)). Strings are copied into `arena`
 * (they point to the state's own bytes otherwise, which may be reused). Errors: TESS_ENOMEM.
 */
int tess__agg_finalize(tess__agg_kind k, const tess__agg_state *s, tess__arena *arena,
                       tess__value *out);

/*
 * Appends the state's encoding to `out`: version 1, little-endian, varints; docs/offline.md
 * describes the layout. At most tess__agg_encoded_bound(k, s) bytes. Errors: TESS_ENOMEM,
 * TESS_EINVAL (out's cap exceeded).
 */
int tess__agg_encode(tess__agg_kind k, const tess__agg_state *s, tess__buf *out);
/* An upper bound of the encoded size of this state (strings counted). */
size_t tess__agg_encoded_bound(tess__agg_kind k, const tess__agg_state *s);
/* The bound for every state of a kind without strings (every kind but min/max/first/last of
 * strings): 4096 + 8 bytes is enough for a dense HyperLogLog. */
#define TESS__AGG_ENCODED_MAX 4112

/*
 * Decodes `n` bytes written by tess__agg_encode for the same kind into *s (strings and dense
 * registers are copied into `arena`; p is not referenced afterwards). Validates everything:
 * version, kind, lengths, ranges (a row count is at most 2^62: merges saturate there, so no
 * count overflows whatever a damaged tile holds), no trailing bytes. Several encodings may
 * decode to one state (redundant sign bytes of a sum, padded varints, NaN payloads); encoding
 * a decoded state gives the canonical one. Errors: TESS_EPARSE (not a valid encoding of this
 * kind: the state is left empty), TESS_ENOMEM.
 */
int tess__agg_decode(tess__agg_kind k, const void *p, size_t n, tess__agg_state *s,
                     tess__arena *arena);

/* ---- pieces shared with the window engine (window.c), so that its fast paths compute exactly
 * what the states compute ---------------------------------------------------------------- */

/* The total order of min/max and of first/last ties: <0, 0, >0. Both non-null, of type t. */
int tess__agg_value_cmp(tess__type t, const tess__value *a, const tess__value *b);
/* The value a state stores for v: NaN canonical (the only change). */
tess__value tess__agg_value_canon(tess__value v);
/* The HyperLogLog register index and value (1 .. Q+1) of a non-null value of type t. */
void tess__hll_point(tess__type t, const tess__value *v, uint32_t *index, uint8_t *rank);
/* The estimate from the histogram of register values (hist[r] = registers holding r; the
 * counts add up to TESS__HLL_M): Ertl's improved estimator (2017), rounded to an integer. */
int64_t tess__hll_estimate(const uint32_t hist[TESS__HLL_HIST]);

#endif
