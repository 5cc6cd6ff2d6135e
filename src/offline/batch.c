/* batch.c — column batches (see batch.h). The column arrays are allocated once, outside the
 * arena's resettable part, so that a reset only drops the string bytes. */
#include "offline/batch.h"

#include <string.h>

#include "core/alloc.h"
#include "tessera.h"

size_t tess__type_width(tess__type t)
{
    switch (t) {
    case TESS_T_BOOL: return 1;
    case TESS_T_STRING: return sizeof(tess__str);
    default: return 8;
    }
}

int tess__batch_init(tess__batch *b, const tess__type *types, size_t ncols, size_t cap)
{
    memset(b, 0, sizeof(*b));
    b->cap = cap;
    b->ncols = ncols;
    b->cols = tess__calloc(ncols ? ncols : 1, sizeof(tess__col));
    b->seq = tess__calloc(cap, sizeof(int64_t));
    if (!b->cols || !b->seq) goto nomem;
    for (size_t i = 0; i < ncols; i++) {
        b->cols[i].type = types[i];
        b->cols[i].nulls = tess__calloc(cap, 1);
        b->cols[i].data = tess__calloc(cap, tess__type_width(types[i]));
        if (!b->cols[i].nulls || !b->cols[i].data) goto nomem;
    }
    return TESS_OK;
nomem:
    tess__batch_release(b);
    return TESS_ENOMEM;
}

void tess__batch_reset(tess__batch *b)
{
    b->nrows = 0;
    tess__arena_reset(&b->arena);
}

void tess__batch_release(tess__batch *b)
{
    if (b->cols) {
        for (size_t i = 0; i < b->ncols; i++) {
            tess__free(b->cols[i].nulls);
            tess__free(b->cols[i].data);
        }
    }
    tess__free(b->cols);
    tess__free(b->seq);
    tess__arena_release(&b->arena);
    memset(b, 0, sizeof(*b));
}
