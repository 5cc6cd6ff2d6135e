/* pit.h — point-in-time training sets: the offline join of label rows with feature values.
 *
 * For every label row (join keys, timestamp t, any other columns) and every requested feature,
 * the value as of t (DESIGN.md, "Time semantics": offline, t is the label row's timestamp).
 * Label rows keep their order and every column; one column is added per feature. */
#ifndef TESS_OFFLINE_PIT_H
#define TESS_OFFLINE_PIT_H

#include <jansson.h>

#include "core/err.h"
#include "defs/defs_model.h"
#include "offline/evstore.h"
#include "tessera.h"

/* Builds the training set of `o` (include/tessera.h) from the events of `es` with the
 * definitions `d`. *summary (new reference): {"rows", "columns": [...], "features": [...],
 * "output"}. Errors: as tess_training_set. */
int tess__training_set(const tess__defs *d, tess__evstore *es, const tess_training_opts *o,
                       json_t **summary, tess__err *err);

#endif
