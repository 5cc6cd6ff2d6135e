/* check.c — tess_check: online values against offline ones for sampled entities.
 *
 * The sample: up to N event rows of the first view's source, chosen uniformly (reservoir
 * sampling over a scan of its layout); each gives one entity row, the query's inputs taken
 * from the event's columns of the same names. The offline side is a real training set
 * (tess_training_set, labels and output as JSON Lines in a temporary directory of the store)
 * with every label at the same instant `now`; the online side is tess_get_online at `now`.
 * Values are compared exactly (floats bit for bit, through their shortest round-trip text).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/hash.h"
#include "core/time.h"
#include "offline/batch.h"
#include "offline/evstore.h"
#include "offline/writer.h"
#include "registry/registry.h"
#include "store/store_int.h"
#include "tessera.h"

#define OOM(err) tess__err_set((err), TESS_ENOMEM, "out of memory")

/* A sampled input row: values are copied (strings into `arena`). */
typedef struct sample {
    size_t n, cap, nin;
    tess_value *rows;
    tess__arena arena;
} sample;

static int sample_rows(tess_store *st, const tess_query *q, size_t want, uint64_t seed,
                       sample *out)
{
    size_t nin = tess_query_ninputs(q);
    out->nin = nin;
    const tess__view *v = tess__query_view(q, 0);
    if (!v || nin == 0)
        return tess__err_set(&st->err, TESS_EINVAL, "the features read no feature view");
    const tess__source *src = v->source;
    long *col = tess__calloc(nin, sizeof(long));
    if (!col) return OOM(&st->err);
    for (size_t i = 0; i < nin; i++) {
        int type;
        const char *name = tess_query_input(q, i, &type, NULL);
        col[i] = tess__source_column(src, name); /* -1: not a column (stays null) */
    }
    tess__evstore *es;
    tess__evscan *scan = NULL;
    int rc;
    if ((rc = tess__store_evstore(st, &es)) ||
        (rc = tess__evscan_open(es, src, v->join_cols, v->njoin, NULL, 0, &scan, &st->err)))
        goto out;
    out->cap = want;
    if (!(out->rows = tess__calloc(want * nin + 1, sizeof(tess_value)))) {
        rc = OOM(&st->err);
        goto out;
    }
    uint64_t seen = 0, x = seed | 1;
    const tess__batch *b;
    while ((rc = tess__evscan_next(scan, &b, &st->err)) == TESS_OK) {
        for (size_t r = 0; r < b->nrows; r++, seen++) {
            size_t slot;
            if (out->n < want) {
                slot = out->n++;
            } else {
                x ^= x << 13, x ^= x >> 7, x ^= x << 17; /* xorshift64 */
                uint64_t j = x % (seen + 1);
                if (j >= want) continue;
                slot = (size_t)j;
            }
            for (size_t i = 0; i < nin; i++) {
                tess_value *dst = &out->rows[slot * nin + i];
                int type;
                tess_query_input(q, i, &type, NULL);
                memset(dst, 0, sizeof(*dst));
                dst->type = type;
                dst->null = 1;
                if (col[i] < 0) continue;
                tess__value val = tess__col_get(&b->cols[col[i]], r);
                if (val.null || (int)val.type != type) continue;
                dst->null = 0;
                switch (val.type) {
                case TESS_T_BOOL: dst->u.b = val.u.b; break;
                case TESS_T_FLOAT64: dst->u.f = val.u.f; break;
                case TESS_T_STRING: {
                    char *c = tess__arena_strndup(&out->arena, val.u.s.p, val.u.s.n);
                    if (!c) {
                        rc = OOM(&st->err);
                        goto out;
                    }
                    dst->u.s.p = c;
                    dst->u.s.n = val.u.s.n;
                    break;
                }
                default: dst->u.i = val.u.i; break;
                }
            }
        }
    }
    if (rc == TESS_NOTFOUND) rc = TESS_OK;
out:
    tess__evscan_close(scan);
    tess__free(col);
    return rc;
}

/* The text a value has in the training set's JSON Lines (via the writer), for comparison. */
static int value_json_text(const tess_value *p, tess__buf *b)
{
    tess__value v;
    tess__value_in(p, (tess__type)p->type, &v);
    return tess__json_put_value(b, &v);
}

static int write_labels(const char *path, const tess_query *q, const sample *s, int64_t now,
                        tess__err *err)
{
    tess__buf b = TESS__BUF_INIT;
    char ts[TESS_TS_FORMAT_MAX];
    tess__ts_format(now, ts);
    int rc = TESS_OK;
    for (size_t r = 0; !rc && r < s->n; r++) {
        rc = tess__buf_putc(&b, '{');
        for (size_t i = 0; !rc && i < s->nin; i++) {
            const char *name = tess_query_input(q, i, NULL, NULL);
            rc = tess__json_put_string(&b, name, strlen(name));
            if (!rc) rc = tess__buf_putc(&b, ':');
            if (!rc) rc = value_json_text(&s->rows[r * s->nin + i], &b);
            if (!rc) rc = tess__buf_putc(&b, ',');
        }
        if (!rc) rc = tess__buf_printf(&b, "\"event_timestamp\":\"%s\"}\n", ts);
    }
    if (rc) {
        tess__buf_release(&b);
        return OOM(err);
    }
    FILE *f = fopen(path, "w");
    if (!f || fwrite(b.p ? b.p : "", 1, b.len, f) != b.len || fclose(f) != 0) {
        if (f) fclose(f);
        rc = tess__err_set(err, TESS_EIO, "%s: cannot write the check's labels", path);
    }
    tess__buf_release(&b);
    return rc;
}

int tess_check(tess_store *st, const tess_check_opts *opts, char **json_out)
{
    if (json_out) *json_out = NULL;
    int rc = tess__store_enter(st);
    if (rc) return rc;
    if (!opts || !json_out) return tess__err_set(&st->err, TESS_EINVAL, "missing options or output");
    int64_t now = opts->now;
    if (now == 0 && tess__now(&now))
        return tess__err_set(&st->err, TESS_EINVAL, "TESSERA_NOW is not a timestamp");
    size_t want = opts->sample ? opts->sample : 100;
    tess_query *q = NULL;
    tess_session *sess = NULL;
    sample s = {0};
    json_t *res = NULL, *mism = NULL;
    char dir[4096] = "", labels[4200], output[4200];
    if ((rc = tess_query_new(st, opts->service, opts->features, opts->nfeatures, 0, &q))) goto out;
    if ((rc = sample_rows(st, q, want, (uint64_t)now, &s))) goto out;
    if ((rc = tess_session_new(st, &sess))) {
        tess__err_set(&st->err, rc, "cannot open the online store");
        goto out;
    }
    snprintf(dir, sizeof dir, "%s/tmp.check.XXXXXX", st->store_dir);
    if (!mkdtemp(dir)) {
        dir[0] = '\0';
        rc = tess__err_set(&st->err, TESS_EIO, "cannot make a temporary directory in %s",
                           st->store_dir);
        goto out;
    }
    snprintf(labels, sizeof labels, "%s/labels.jsonl", dir);
    snprintf(output, sizeof output, "%s/offline.jsonl", dir);
    mism = json_array();
    if (!mism) {
        rc = OOM(&st->err);
        goto out;
    }
    size_t compared = 0;
    if (s.n > 0) {
        if ((rc = write_labels(labels, q, &s, now, &st->err))) goto out;
        tess_training_opts to = {0};
        to.service = opts->service;
        to.features = opts->features;
        to.nfeatures = opts->nfeatures;
        to.labels_path = labels;
        to.output_path = output;
        char *tj = NULL;
        if ((rc = tess_training_set(st, &to, &tj))) goto out;
        tess_free(tj);
        tess_online_result on;
        if ((rc = tess_get_online(sess, q, s.rows, s.n, now, &on))) {
            tess__err_set(&st->err, rc, "%s", tess_session_errmsg(sess));
            goto out;
        }
        json_error_t je;
        FILE *f = fopen(output, "r");
        if (!f) {
            rc = tess__err_set(&st->err, TESS_EIO, "%s: cannot read the training set", output);
            goto out;
        }
        char *line = NULL;
        size_t cap = 0;
        tess__buf a = TESS__BUF_INIT, b = TESS__BUF_INIT;
        for (size_t r = 0; r < s.n && !rc; r++) {
            json_t *row = getline(&line, &cap, f) > 0 ? json_loads(line, 0, &je) : NULL;
            if (!row) {
                rc = tess__err_set(&st->err, TESS_EIO, "%s: row %zu is missing or unreadable",
                                   output, r + 1);
                break;
            }
            for (size_t i = 0; i < on.nfeatures && !rc; i++) {
                const char *name = tess_query_feature(q, i, NULL);
                tess__buf_reset(&a);
                tess__buf_reset(&b);
                char *offline = json_dumps(json_object_get(row, name),
                                           JSON_ENCODE_ANY | JSON_COMPACT);
                tess__value iv;
                tess__value_in(&on.values[r * on.nfeatures + i],
                               (tess__type)on.values[r * on.nfeatures + i].type, &iv);
                if (!offline || tess__json_put_value(&a, &iv)) {
                    free(offline);
                    rc = OOM(&st->err);
                    break;
                }
                /* the offline text as the writer wrote it, re-read by jansson: numbers are
                   compared through the same dump */
                json_t *onj = json_loads(a.p ? a.p : "null", JSON_DECODE_ANY, &je);
                char *online = onj ? json_dumps(onj, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
                compared++;
                if (!online || strcmp(online, offline) != 0) {
                    json_t *ent = json_object();
                    for (size_t k = 0; k < s.nin; k++) {
                        tess__buf_reset(&b);
                        value_json_text(&s.rows[r * s.nin + k], &b);
                        json_object_set_new(ent, tess_query_input(q, k, NULL, NULL),
                                            json_loads(b.p ? b.p : "null", JSON_DECODE_ANY, &je));
                    }
                    json_array_append_new(
                        mism, json_pack("{s:o, s:s, s:s, s:s, s:s}", "entity", ent, "feature",
                                        name, "online", online ? online : "?", "offline",
                                        offline, "status",
                                        tess_status_name(on.statuses[r * on.nfeatures + i])));
                }
                free(online);
                free(offline);
                json_decref(onj);
            }
            json_decref(row);
        }
        free(line);
        fclose(f);
        tess__buf_release(&a);
        tess__buf_release(&b);
        if (rc) goto out;
    }
    char ts[TESS_TS_FORMAT_MAX];
    tess__ts_format(now, ts);
    res = json_pack("{s:s?, s:s, s:I, s:I, s:I, s:O}", "service", opts->service, "now", ts,
                    "sampled", (json_int_t)s.n, "compared", (json_int_t)compared,
                    "mismatch_count", (json_int_t)json_array_size(mism), "mismatches", mism);
    if (!res || !(*json_out = tess__json_text(res, JSON_COMPACT))) rc = OOM(&st->err);
out:
    if (dir[0]) {
        unlink(labels);
        unlink(output);
        rmdir(dir);
    }
    json_decref(res);
    json_decref(mism);
    tess_session_free(sess);
    tess_query_free(q);
    tess__free(s.rows);
    tess__arena_release(&s.arena);
    return rc;
}
