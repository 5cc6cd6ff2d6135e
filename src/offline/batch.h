/* batch.h — a batch of rows in columns: the unit that flows between the readers (CSV, JSON
 * Lines), the event store (segments) and the engine (expressions, aggregations).
 *
 * Columns follow a source's schema order (tess__source.schema), each a tess__col of
 * expr/expr.h: type, nulls (NULL when none is null, else one byte per row, 1 = null) and data
 * (uint8_t for bool, int64_t for int64 and timestamp, double for float64, tess__str for
 * string). Every byte a batch points to (column arrays, string bytes) lives in its arena, so
 * a batch is released, or reused after tess__batch_reset, in one step.
 */
#ifndef TESS_OFFLINE_BATCH_H
#define TESS_OFFLINE_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "expr/expr.h"

typedef struct tess__batch {
    size_t nrows;
    size_t cap;   /* rows the column arrays can hold */
    size_t ncols;
    tess__col *cols;
    int64_t *seq; /* ingestion order of each row (see docs/offline.md), or NULL */
    tess__arena arena;
} tess__batch;

/* Sets up a batch for `ncols` columns of the given types with room for `cap` rows; nulls
 * arrays are allocated (all zero) and seq too. Returns TESS_OK or TESS_ENOMEM. */
int tess__batch_init(tess__batch *b, const tess__type *types, size_t ncols, size_t cap);
/* nrows = 0, string bytes freed, columns kept (same types, same cap). */
void tess__batch_reset(tess__batch *b);
void tess__batch_release(tess__batch *b);
/* Element size of a column type in `data` (1, 8, 8, sizeof(tess__str), 8). */
size_t tess__type_width(tess__type t);

/* Row i of a column as a value (strings point into the column's bytes). */
static inline tess__value tess__col_get(const tess__col *c, size_t i)
{
    tess__value v;
    v.type = c->type;
    v.null = c->nulls && c->nulls[i];
    v.u.i = 0;
    if (v.null) return v;
    switch (c->type) {
    case TESS_T_BOOL: v.u.b = ((const uint8_t *)c->data)[i] != 0; break;
    case TESS_T_FLOAT64: v.u.f = ((const double *)c->data)[i]; break;
    case TESS_T_STRING: v.u.s = ((const tess__str *)c->data)[i]; break;
    default: v.u.i = ((const int64_t *)c->data)[i]; break;
    }
    return v;
}

#endif
