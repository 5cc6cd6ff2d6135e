/* store.c — the public tess_store handle (include/tessera.h): a feature repo's configuration,
 * its store directory, and the glue between the definitions (src/defs) and the registry
 * (src/registry).
 *
 * States of a handle: OPEN (configuration read, store directory present, registry open) or
 * FAILED (tess_store_open returned an error; the handle only keeps the message, and every call
 * but close / errmsg / project returns the open error again). Every call on an OPEN handle
 * clears the previous message first, so that tess_store_errmsg tells about the last failure.
 *
 * The store directory is tessera.yaml's `store:` (default .tessera), relative to the repo unless
 * absolute, created with its parents if missing. The embedded registry lives in
 * <store>/registry.db; a `registry:` URL for another back end is refused for now (TESS_ECONFIG).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "defs/defs.h"
#include "registry/registry.h"
#include "store/store_int.h"
#include "tessera.h"


/* ---- open -------------------------------------------------------------------------------- */

/* Line and column of the value of a top-level key in tessera.yaml (block style, as written by
 * people and by `tessera init`); 0 if not found. Only for messages. */
static void key_location(const char *repo_dir, const char *key, int *line, int *col)
{
    tess__buf path = TESS__BUF_INIT;
    char text[1024];
    size_t klen = strlen(key);
    FILE *f = NULL;
    *line = *col = 0;
    if (tess__buf_printf(&path, "%s/tessera.yaml", repo_dir) != TESS_OK) goto out;
    if (!(f = fopen(path.p, "r"))) goto out;
    for (int n = 1; fgets(text, sizeof text, f); n++) {
        if (strncmp(text, key, klen) == 0 && text[klen] == ':') {
            const char *v = text + klen + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            *line = n;
            *col = (int)(v - text) + 1;
            break;
        }
    }
out:
    if (f) fclose(f);
    tess__buf_release(&path);
}

static int check_backends(tess_store *st)
{
    const char *reg = st->cfg.registry;
    int line, col;
    if (!reg || !*reg || strcmp(reg, "sqlite") == 0) return TESS_OK;
    key_location(st->repo_dir, "registry", &line, &col);
    if (line)
        return tess__err_set(&st->err, TESS_ECONFIG,
                             "tessera.yaml:%d:%d: registry \"%s\" is not supported yet: only the "
                             "embedded SQLite registry is (leave registry: out, or write sqlite)",
                             line, col, reg);
    return tess__err_set(&st->err, TESS_ECONFIG,
                         "tessera.yaml: registry \"%s\" is not supported yet: only the embedded "
                         "SQLite registry is (leave registry: out, or write sqlite)",
                         reg);
}

/* mkdir -p */
static int make_dirs(tess__err *err, const char *dir)
{
    char *p = tess__strdup(dir);
    int rc = TESS_OK;
    if (!p) return tess__err_set(err, TESS_ENOMEM, "out of memory");
    size_t n = strlen(p);
    for (size_t i = 1; i <= n; i++) {
        if (p[i] != '/' && p[i] != '\0') continue;
        if (p[i - 1] == '/') continue;
        char c = p[i];
        p[i] = '\0';
        if (mkdir(p, 0777) != 0 && errno != EEXIST) {
            char ebuf[128];
            rc = tess__err_set(err, TESS_EIO, "cannot create the store directory %s: %s", p,
                               strerror_r(errno, ebuf, sizeof ebuf));
            break;
        }
        p[i] = c;
    }
    struct stat sb;
    if (rc == TESS_OK && (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)))
        rc = tess__err_set(err, TESS_EIO, "the store %s is not a directory", dir);
    tess__free(p);
    return rc;
}

int tess_store_open(const char *repo_dir, tess_store **out)
{
    tess__buf b = TESS__BUF_INIT;
    tess_store *st;
    int rc;
    *out = NULL;
    if (!(st = tess__calloc(1, sizeof *st))) return TESS_ENOMEM;
    *out = st;
    if (!repo_dir || !*repo_dir) {
        rc = tess__err_set(&st->err, TESS_EINVAL, "no repo directory given");
        goto out;
    }
    if (!(st->repo_dir = tess__strdup(repo_dir))) goto oom;
    if ((rc = tess__config_load(repo_dir, &st->cfg, &st->err)) != TESS_OK) goto out;
    if ((rc = check_backends(st))) goto out;
    const char *store = st->cfg.store && *st->cfg.store ? st->cfg.store : ".tessera";
    if (store[0] == '/')
        rc = tess__buf_puts(&b, store);
    else
        rc = tess__buf_printf(&b, "%s/%s", repo_dir, store);
    if (rc != TESS_OK || !(st->store_dir = tess__buf_take(&b))) goto oom;
    if ((rc = make_dirs(&st->err, st->store_dir))) goto out;
    if (tess__buf_printf(&b, "%s/registry.db", st->store_dir) != TESS_OK) goto oom;
    if ((rc = tess__registry_open(b.p, &st->reg, &st->err))) goto out;
    goto out;
oom:
    rc = tess__err_set(&st->err, TESS_ENOMEM, "out of memory");
out:
    tess__buf_release(&b);
    st->open_rc = rc;
    if (rc == TESS_ENOMEM) {
        tess_store_close(st);
        *out = NULL;
    }
    return rc;
}

void tess_store_close(tess_store *st)
{
    if (!st) return;
    tess__registry_close(st->reg);
    tess__evstore_close(st->es);
    tess__kv_close(st->kv);
    tess__pushq_free(st->pushq);
    tess__snap_unref(st->snap);
    tess__config_release(&st->cfg);
    tess__free(st->repo_dir);
    tess__free(st->store_dir);
    tess__err_release(&st->err);
    tess__free(st);
}

const char *tess_store_errmsg(const tess_store *st)
{
    return st ? tess__err_msg(&st->err) : "no store";
}

const char *tess_store_project(const tess_store *st)
{
    return st && st->cfg.project ? st->cfg.project : "";
}

/* ---- calls ------------------------------------------------------------------------------- */

/* Start of every call on a handle: checks it and clears the last message. */
static int enter(tess_store *st, char **json_out)
{
    if (json_out) *json_out = NULL;
    return tess__store_enter(st); /* a FAILED handle keeps its open message */
}

/* Hands a JSON result to the caller as text (tess_free), and drops the reference. */
static int finish(tess_store *st, int rc, json_t *j, char **json_out)
{
    if (rc == TESS_OK) {
        *json_out = tess__json_text(j, JSON_COMPACT);
        if (!*json_out) rc = tess__err_set(&st->err, TESS_ENOMEM, "out of memory");
    }
    json_decref(j);
    return rc;
}

/* The canonical definitions document of the repo, and the files it was loaded from. */
static int load_defs(tess_store *st, json_t **doc, json_t **files)
{
    tess__defs *d = NULL;
    int rc = tess__defs_load(st->repo_dir, &d, &st->err);
    *doc = *files = NULL;
    if (rc != TESS_OK) return rc;
    if (!(*doc = tess__defs_to_json(d)) || !(*files = tess__defs_files_json(d)))
        rc = tess__err_set(&st->err, TESS_ENOMEM, "out of memory");
    tess__defs_free(d);
    return rc;
}

static int plan_or_apply(tess_store *st, int apply, char **json_out)
{
    json_t *doc = NULL, *files = NULL, *res = NULL;
    int rc = enter(st, json_out);
    if (rc) return rc;
    if (!json_out) return tess__err_set(&st->err, TESS_EINVAL, "no output pointer");
    if ((rc = load_defs(st, &doc, &files)) == TESS_OK)
        rc = apply ? tess__registry_apply_files(st->reg, doc, files, &res, &st->err)
                   : tess__registry_plan(st->reg, doc, &res, &st->err);
    json_decref(doc);
    json_decref(files);
    return finish(st, rc, res, json_out);
}

int tess__store_enter(tess_store *st)
{
    if (!st) return TESS_EINVAL;
    if (st->open_rc != TESS_OK) return st->open_rc;
    tess__err_clear(&st->err);
    return TESS_OK;
}

int tess__store_evstore(tess_store *st, tess__evstore **out)
{
    int rc = TESS_OK;
    if (!st->es) rc = tess__evstore_open(st->store_dir, &st->es, &st->err);
    *out = st->es;
    return rc;
}

void tess__snap_ref(tess__snap *s)
{
    __atomic_add_fetch(&s->refs, 1, __ATOMIC_RELAXED);
}

void tess__snap_unref(tess__snap *s)
{
    if (!s || __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) != 0) return;
    if (s->ov)
        for (size_t i = 0; i < s->defs->nviews; i++) tess__oview_free(s->ov[i]);
    tess__free(s->ov);
    tess__defs_free(s->defs);
    tess__free(s);
}

/* A snapshot of definitions `d` (taken over) of version v, with the online plan of every
 * online view. */
static int snap_new(tess_store *st, tess__defs *d, int64_t v, tess__snap **out)
{
    tess__snap *s = tess__calloc(1, sizeof(*s));
    if (!s || !(s->ov = tess__calloc(d->nviews ? d->nviews : 1, sizeof(tess__oview *)))) {
        tess__free(s);
        tess__defs_free(d);
        return tess__err_set(&st->err, TESS_ENOMEM, "out of memory");
    }
    s->refs = 1;
    s->version = v;
    s->defs = d;
    int rc = TESS_OK;
    for (size_t i = 0; !rc && i < d->nviews; i++)
        if (d->views[i]->online) rc = tess__oview_new(d, d->views[i], &s->ov[i], &st->err);
    if (rc) {
        tess__snap_unref(s);
        return rc;
    }
    *out = s;
    return TESS_OK;
}

int tess__store_snap(tess_store *st, tess__snap **out)
{
    tess__snap *s = NULL;
    int64_t latest = 0, v = 0;
    json_t *files = NULL;
    tess__defs *d = NULL;
    int rc;
    *out = NULL;
    if ((rc = tess__registry_latest(st->reg, &latest, NULL, &st->err))) return rc;
    if (latest == 0)
        return tess__err_set(&st->err, TESS_NOTFOUND,
                             "nothing has been applied yet: run 'tessera apply' first");
    if (st->snap && st->snap->version == latest) {
        *out = st->snap;
        return TESS_OK;
    }
    if ((rc = tess__registry_files(st->reg, latest, &v, &files, &st->err))) return rc;
    if (json_array_size(files) == 0) {
        rc = tess__err_set(&st->err, TESS_NOTFOUND,
                           "registry version %lld was applied by an older tessera that did not "
                           "record its files: run 'tessera apply' again",
                           (long long)v);
        goto out;
    }
    if ((rc = tess__defs_load_json(files, &d, &st->err)) != TESS_OK) {
        if (rc != TESS_ENOMEM)
            rc = tess__err_add(&st->err, TESS_EREGISTRY,
                               "registry version %lld: its definitions no longer load",
                               (long long)v);
        goto out;
    }
    if ((rc = snap_new(st, d, v, &s))) goto out;
    tess__snap_unref(st->snap);
    st->snap = s;
    *out = s;
out:
    json_decref(files);
    return rc;
}

int tess__store_applied_defs(tess_store *st, const tess__defs **out)
{
    tess__snap *s;
    int rc = tess__store_snap(st, &s);
    *out = rc ? NULL : s->defs;
    return rc;
}

int tess__store_kv(tess_store *st, tess__kv **out)
{
    int rc = TESS_OK;
    if (!st->kv) {
        tess__buf dir = TESS__BUF_INIT;
        if (tess__buf_printf(&dir, "%s/online", st->store_dir))
            return tess__err_set(&st->err, TESS_ENOMEM, "out of memory");
        rc = tess__kv_open(st->cfg.online, dir.p, NULL, &st->kv, &st->err);
        tess__buf_release(&dir);
    }
    *out = st->kv;
    return rc;
}

int tess_plan(tess_store *st, char **json_out)
{
    return plan_or_apply(st, 0, json_out);
}

int tess_apply(tess_store *st, char **json_out)
{
    return plan_or_apply(st, 1, json_out);
}

int tess_catalog_list(tess_store *st, const char *kind, int64_t version, char **json_out)
{
    json_t *res = NULL;
    int rc = enter(st, json_out);
    if (rc) return rc;
    if (!json_out) return tess__err_set(&st->err, TESS_EINVAL, "no output pointer");
    rc = tess__registry_list(st->reg, kind, version, &res, &st->err);
    return finish(st, rc, res, json_out);
}

int tess_catalog_describe(tess_store *st, const char *name, int64_t version, char **json_out)
{
    json_t *res = NULL;
    int rc = enter(st, json_out);
    if (rc) return rc;
    if (!json_out || !name) return tess__err_set(&st->err, TESS_EINVAL, "no name or output");
    rc = tess__registry_describe(st->reg, name, version, &res, &st->err);
    return finish(st, rc, res, json_out);
}

int tess_catalog_search(tess_store *st, const char *text, char **json_out)
{
    json_t *res = NULL;
    int rc = enter(st, json_out);
    if (rc) return rc;
    if (!json_out || !text) return tess__err_set(&st->err, TESS_EINVAL, "no text or output");
    rc = tess__registry_search(st->reg, text, &res, &st->err);
    return finish(st, rc, res, json_out);
}

int tess_catalog_lineage(tess_store *st, const char *name, char **json_out)
{
    json_t *res = NULL;
    int rc = enter(st, json_out);
    if (rc) return rc;
    if (!json_out || !name) return tess__err_set(&st->err, TESS_EINVAL, "no name or output");
    rc = tess__registry_lineage(st->reg, name, 0, &res, &st->err);
    return finish(st, rc, res, json_out);
}

int tess_catalog_history(tess_store *st, char **json_out)
{
    json_t *res = NULL;
    int rc = enter(st, json_out);
    if (rc) return rc;
    if (!json_out) return tess__err_set(&st->err, TESS_EINVAL, "no output pointer");
    rc = tess__registry_history(st->reg, &res, &st->err);
    return finish(st, rc, res, json_out);
}

int tess_catalog_definitions(tess_store *st, int64_t version, char **json_out)
{
    int rc = enter(st, json_out);
    if (rc) return rc;
    if (!json_out) return tess__err_set(&st->err, TESS_EINVAL, "no output pointer");
    return tess__registry_definitions(st->reg, version, json_out, &st->err);
}
