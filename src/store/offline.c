/* offline.c — the public offline API (include/tessera.h): ingest, training sets, statistics.
 * Each call works from the latest applied definitions (tess__store_applied_defs), never from
 * the repo's working files: what is ingested and computed is what was applied. */
#include <glob.h>
#include <jansson.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "offline/evstore.h"
#include "offline/pit.h"
#include "offline/stats.h"
#include "store/store_int.h"
#include "tessera.h"

#define OOM(st) tess__err_set(&(st)->err, TESS_ENOMEM, "out of memory")

static int give(tess_store *st, int rc, json_t *j, char **json_out)
{
    if (rc == TESS_OK) {
        *json_out = tess__json_text(j, JSON_COMPACT);
        if (!*json_out) rc = OOM(st);
    }
    json_decref(j);
    return rc;
}

/* The layouts of a batch source: the distinct join-key tuples of the views reading it (also
 * through a push source that keeps its rows in it). */
static int layouts_of(const tess__defs *d, const tess__source *src, tess__evlayout **out,
                      size_t *n)
{
    tess__evlayout *l = tess__calloc(d->nviews ? d->nviews : 1, sizeof(*l));
    *out = l;
    *n = 0;
    if (!l) return TESS_ENOMEM;
    for (size_t i = 0; i < d->nviews; i++) {
        const tess__view *v = d->views[i];
        if (v->source != src && v->source->batch_source != src) continue;
        bool dup = false;
        for (size_t k = 0; k < *n && !dup; k++)
            dup = l[k].ncols == v->njoin &&
                  memcmp(l[k].cols, v->join_cols, v->njoin * sizeof(size_t)) == 0;
        if (!dup) l[(*n)++] = (tess__evlayout){v->join_cols, v->njoin};
    }
    return TESS_OK;
}

static void ingest_progress(void *ctx, const char *phase, uint64_t done, uint64_t total)
{
    const tess_ingest_opts *o = ctx;
    if (strcmp(phase, "read") == 0 && o->progress) o->progress(o->progress_arg, done, total);
}

int tess_ingest(tess_store *st, const char *source, const char *const *paths, size_t npaths,
                const tess_ingest_opts *opts, char **json_out)
{
    const tess__defs *d;
    tess__evstore *es;
    tess__evlayout *layouts = NULL;
    size_t nlayouts = 0;
    glob_t g;
    bool globbed = false;
    tess__buf pat = TESS__BUF_INIT;
    tess__ingest_result res;
    json_t *out = NULL, *files = NULL, *bad = NULL;
    int rc;
    memset(&res, 0, sizeof(res));
    if (json_out) *json_out = NULL;
    if ((rc = tess__store_enter(st))) return rc;
    if (!json_out || !source) return tess__err_set(&st->err, TESS_EINVAL, "no source or output");
    if ((rc = tess__store_applied_defs(st, &d))) return rc;
    const tess__source *src = tess__defs_source(d, source);
    if (!src)
        return tess__err_set(&st->err, TESS_NOTFOUND, "no source \"%s\" in the applied definitions",
                             source);
    if (src->kind != TESS_SOURCE_BATCH)
        return tess__err_set(&st->err, TESS_EINVAL,
                             "source \"%s\" is a push source: its events arrive with tessera push%s%s",
                             source, src->batch_source ? "; ingest files into its batch source " : "",
                             src->batch_source ? src->batch_source->name : "");
    if (npaths == 0) { /* the source's own path: a glob, relative to the repo */
        if (src->path[0] == '/' || strcmp(st->repo_dir, ".") == 0)
            rc = tess__buf_puts(&pat, src->path);
        else
            rc = tess__buf_printf(&pat, "%s/%s", st->repo_dir, src->path);
        if (rc) goto nomem;
        int gr = glob(pat.p, 0, NULL, &g);
        globbed = gr == 0 || gr == GLOB_NOMATCH;
        if (gr != 0 || g.gl_pathc == 0) {
            rc = tess__err_set(&st->err, TESS_NOTFOUND, "source \"%s\": no file matches its path %s",
                               source, src->path);
            goto out;
        }
        paths = (const char *const *)g.gl_pathv;
        npaths = g.gl_pathc;
    }
    if ((rc = layouts_of(d, src, &layouts, &nlayouts))) goto nomem;
    if ((rc = tess__store_evstore(st, &es))) goto out;
    tess__ingest_opts io;
    memset(&io, 0, sizeof(io));
    io.force = opts && opts->force;
    io.max_bad_rows = opts ? opts->max_bad_rows : 0;
    if (opts && opts->progress) {
        io.progress = ingest_progress;
        io.progress_ctx = (void *)opts;
    }
    if ((rc = tess__evstore_ingest(es, src, layouts, nlayouts, paths, npaths, &io, &res, &st->err)))
        goto out;

    /* the result document */
    if (!(out = json_object()) || !(files = json_array()) || !(bad = json_array())) goto nomem;
    for (size_t i = 0; i < npaths; i++) {
        bool skipped = false;
        for (size_t k = 0; k < res.files_skipped && !skipped; k++)
            skipped = strcmp(res.skipped[k], paths[i]) == 0;
        if (json_array_append_new(files, json_pack("{s:s, s:b}", "path", paths[i], "skipped",
                                                   skipped)))
            goto nomem;
    }
    for (const char *p = res.bad_text; p && *p;) {
        const char *e = strchr(p, '\n');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (json_array_append_new(bad, json_stringn(p, n))) goto nomem;
        p += n + (e != NULL);
    }
    uint64_t nullkeys = 0;
    for (size_t i = 0; i < res.nlayouts; i++)
        if (res.null_key_rows[i] > nullkeys) nullkeys = res.null_key_rows[i];
    if (json_object_set_new(out, "source", json_string(source)) ||
        json_object_set_new(out, "rows", json_integer((json_int_t)res.rows)) ||
        json_object_set(out, "files", files) ||
        json_object_set_new(out, "files_ingested", json_integer((json_int_t)res.files_ingested)) ||
        json_object_set_new(out, "bad_rows", json_integer((json_int_t)res.bad_rows)) ||
        json_object_set(out, "bad_row_messages", bad) ||
        json_object_set_new(out, "null_key_rows", json_integer((json_int_t)nullkeys)) ||
        json_object_set_new(out, "merged", json_boolean(res.merged)))
        goto nomem;
    goto out;
nomem:
    rc = OOM(st);
out:
    json_decref(files);
    json_decref(bad);
    if (globbed) globfree(&g);
    tess__buf_release(&pat);
    tess__free(layouts);
    tess__ingest_result_release(&res);
    if (rc != TESS_OK) {
        json_decref(out);
        return rc;
    }
    return give(st, rc, out, json_out);
}

int tess_training_set(tess_store *st, const tess_training_opts *opts, char **json_out)
{
    const tess__defs *d;
    tess__evstore *es;
    json_t *summary = NULL;
    int rc;
    if (json_out) *json_out = NULL;
    if ((rc = tess__store_enter(st))) return rc;
    if (!json_out || !opts) return tess__err_set(&st->err, TESS_EINVAL, "no options or output");
    if ((rc = tess__store_applied_defs(st, &d))) return rc;
    if ((rc = tess__store_evstore(st, &es))) return rc;
    rc = tess__training_set(d, es, opts, &summary, &st->err);
    return give(st, rc, summary, json_out);
}

int tess_stats(tess_store *st, const char *view, char **json_out)
{
    const tess__defs *d;
    tess__evstore *es;
    json_t *doc = NULL;
    int rc;
    if (json_out) *json_out = NULL;
    if ((rc = tess__store_enter(st))) return rc;
    if (!json_out || !view) return tess__err_set(&st->err, TESS_EINVAL, "no view or output");
    if ((rc = tess__store_applied_defs(st, &d))) return rc;
    const tess__view *v = tess__defs_view(d, view);
    if (!v)
        return tess__err_set(&st->err, TESS_NOTFOUND,
                             "no feature view \"%s\" in the applied definitions", view);
    if ((rc = tess__store_evstore(st, &es))) return rc;
    rc = tess__view_stats(v, es, &doc, &st->err);
    return give(st, rc, doc, json_out);
}
