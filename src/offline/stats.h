/* stats.h — statistics of a feature view's features over the offline store (`tessera stats`).
 *
 * One value per event of the view's source layout: a row-level feature's expression on the
 * event's row, an aggregate's value as of the event's time (what a backfill computes, with the
 * window engine the training sets use). Per feature: count of non-null values, nulls, mean and
 * standard deviation (numbers), min and max, approximate p50/p90/p99 (numbers and timestamps:
 * nearest rank over a deterministic reservoir sample of 16,384 values), and the approximate
 * distinct count (HyperLogLog, agg.h, 1.6% standard error). */
#ifndef TESS_OFFLINE_STATS_H
#define TESS_OFFLINE_STATS_H

#include <jansson.h>

#include "core/err.h"
#include "defs/defs_model.h"
#include "offline/evstore.h"

/* *out (new reference): {"view", "rows", "features": [{"name", "type", "count", "nulls",
 * "mean", "stddev", "min", "max", "p50", "p90", "p99", "distinct"}]}; numbers that do not
 * apply are null; min/max/percentiles of timestamps are RFC 3339 strings.
 * Errors: TESS_EIO, TESS_ENOMEM. */
int tess__view_stats(const tess__view *v, tess__evstore *es, json_t **out, tess__err *err);

#endif
