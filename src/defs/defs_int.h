/* defs_int.h — helpers shared by the files of src/defs only (not for other modules). */
#ifndef TESS_DEFS_DEFS_INT_H
#define TESS_DEFS_DEFS_INT_H

#include <stddef.h>

#include "core/buf.h"
#include "defs/defs_model.h"

/* "Did you mean": feed candidates, then ask for the closest one within a small edit distance
 * (case-insensitive optimal string alignment: typos, transpositions), or NULL. */
typedef struct tess__suggest {
    const char *w;
    size_t wn;
    const char *best;
    int best_d;
} tess__suggest;

void tess__suggest_init(tess__suggest *s, const char *w, size_t wn);
void tess__suggest_add(tess__suggest *s, const char *cand);
const char *tess__suggest_best(const tess__suggest *s);

/* What a feature reference names: a view's feature, a whole view ("view:*": feature NULL), or
 * an on-demand feature (odf). */
typedef struct tess__ref_target {
    const tess__view *view;
    const tess__feature *feature;
    const tess__odf *odf;
} tess__ref_target;

/* Looks up "view:feat", "view:*" or an on-demand name (n bytes) in d. On failure returns
 * TESS_NOTFOUND and appends to `why` what is missing, with a suggestion (no location). */
int tess__defs_ref_lookup(const tess__defs *d, const char *ref, size_t n, tess__ref_target *t,
                          tess__buf *why);

/* Drops later duplicates (same feature or on-demand feature) from items, keeping the order;
 * O(n log n). Returns the new count, or (size_t)-1 when out of memory. */
size_t tess__defs_dedupe_items(tess__service_item *items, size_t n);

#endif
