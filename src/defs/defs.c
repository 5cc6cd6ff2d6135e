/* defs.c — loading a feature repo: tessera.yaml and the definition files -> tess__defs.
 *
 * The load runs in phases, and reports every problem it finds (up to TESS__Y_MAX_DIAGS) as
 * `file:line:column: message`, sorted by position, before giving up:
 *
 *   1. read   each file is parsed into a ytree (positions kept); the top level is checked:
 *             configuration keys (tessera.yaml only) and the five sections.
 *   2. shape  each object of each section is checked on its own: known keys, required keys,
 *             names, types, durations, schema, timestamps, aggregation names, windows and hop.
 *   3. names  names are unique across all top-level objects of every kind and file; later
 *             duplicates are reported (with where the first was) and dropped. The per-kind
 *             arrays are then sorted by name: from here on lookups are binary searches.
 *   4. link   push sources -> batch sources; views -> entities and source, join keys checked
 *             against the source (untyped join keys get their type from it), feature
 *             expressions compiled against the source schema and their types checked;
 *             on-demand features -> input features, compiled; services -> resolved lists.
 *
 * An object broken in phase 2 (a source whose schema does not parse, say) is marked, and the
 * checks of later phases that would only repeat its problem are skipped (no cascades).
 * Memory: the YAML trees and the whole model live in the tess__defs arena (one free);
 * compiled expressions are listed in d->exprs. Loader bookkeeping is freed before returning.
 */
#include "defs/defs.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/time.h"
#include "core/value.h"
#include "defs/defs_int.h"
#include "defs/defs_model.h"
#include "defs/ytree.h"
#include "expr/expr.h"
#include "tessera.h"

#define MAX_FILE_BYTES (16u << 20)
#define MAX_NAME 128
#define MAX_KEYS 16
#define DEFAULT_HOP_US (3600 * TESS_US_PER_S)
#define CONFIG_FILE "tessera.yaml"

enum { K_ENTITY, K_SOURCE, K_VIEW, K_ODF, K_SERVICE, K__N };

static const char *const kind_name[K__N] = {"entity", "source", "feature view", "on-demand feature",
                                            "feature service"};
static const char *const kind_a[K__N] = {"an entity", "a source", "a feature view",
                                         "an on-demand feature", "a feature service"};
static const char *const sections[K__N] = {"entities", "sources", "feature_views",
                                           "on_demand_features", "feature_services"};
static const char *const config_keys[] = {"project",  "store",   "online",
                                          "registry", "offline", "description"};
#define NCONFIG (sizeof(config_keys) / sizeof(config_keys[0]))
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* A top-level object while loading: its YAML, its model, and kind-specific loader data. */
typedef struct obj {
    int kind;
    const char *name; /* NULL when the name is missing or invalid */
    const tess__ynode *map, *name_node;
    size_t order; /* load order */
    bool dropped; /* duplicate name, or no valid name */
    bool broken;  /* a problem was reported: dependants skip checks that would cascade */
    void *model;
    void *aux;
} obj;

typedef struct ent_aux {
    bool *declared;            /* per join key: type written in the entity */
    const tess__view **inf_by; /* per join key: the view whose source gave the type */
} ent_aux;

typedef struct src_aux {
    const tess__ynode *batch_node;
} src_aux;

typedef struct view_aux {
    const tess__ynode **ent_nodes;
    size_t nent;
    const tess__ynode *source_node;
    const tess__ynode **feat_maps; /* parallel to the view's features */
    bool *feat_bad;                /* parallel too: the feature had a problem already */
} view_aux;

typedef struct odf_aux {
    const tess__ynode **in_nodes;
    size_t nin;
    const tess__ynode **req_nodes; /* parallel to the (unsorted) request columns */
    const tess__ynode *expr_node;
} odf_aux;

typedef struct svc_aux {
    const tess__ynode **ref_nodes;
} svc_aux;

typedef struct loader {
    tess__defs *d;
    tess__ydiags diags;
    size_t nodes;
    size_t defs_problems, config_problems;
    bool config_only;
    bool oom;
    bool saw_project;
    obj **objs; /* load order */
    size_t nobjs, objs_cap;
    obj **by[K__N]; /* per kind, kept objects sorted by name */
    size_t nby[K__N];
} loader;

typedef struct fields {
    const tess__ynode *map;
    const char *const *keys;
    size_t nkeys;
    const tess__ynode *k[MAX_KEYS], *v[MAX_KEYS];
} fields;

/* For messages: at most 100 bytes of a scalar. */
#define SHOW(node) (int)((node)->n < 100 ? (node)->n : 100), (node)->s

/* ---- small helpers ---------------------------------------------------------------------- */

static void *A(loader *L, size_t n)
{
    void *p = tess__arena_alloc(&L->d->arena, n ? n : 1);
    if (!p) {
        L->oom = true;
        return NULL;
    }
    memset(p, 0, n ? n : 1);
    return p;
}

static char *S(loader *L, const char *s)
{
    char *p = tess__arena_strndup(&L->d->arena, s, strlen(s));
    if (!p) L->oom = true;
    return p;
}

static void report(loader *L, bool config, int file, int line, int col, const char *fmt, va_list ap)
{
    tess__ydiag_vadd(&L->diags, file, line, col, fmt, ap);
    if (config)
        L->config_problems++;
    else
        L->defs_problems++;
}

__attribute__((format(printf, 3, 4))) static void perr(loader *L, const tess__ynode *at,
                                                       const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report(L, false, at->file, at->line, at->col, fmt, ap);
    va_end(ap);
}

__attribute__((format(printf, 5, 6))) static void perr_pos(loader *L, int file, int line, int col,
                                                           const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report(L, false, file, line, col, fmt, ap);
    va_end(ap);
}

__attribute__((format(printf, 3, 4))) static void cerr(loader *L, const tess__ynode *at,
                                                       const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report(L, true, at->file, at->line, at->col, fmt, ap);
    va_end(ap);
}

static bool is_ident(const char *s, size_t n)
{
    if (n == 0 || n > MAX_NAME) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
        if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
    }
    return true;
}

static const tess__ynode *ymap_get(const tess__ynode *m, const char *key)
{
    if (!m || m->kind != TESS__Y_MAP) return NULL;
    for (size_t i = 0; i < m->nitems; i++)
        if (tess__ynode_eq(tess__ymap_key(m, i), key)) return tess__ymap_val(m, i);
    return NULL;
}

/* "; did you mean \"x\"?" or "" into buf (size >= 160). */
static const char *did_you_mean(const tess__suggest *sg, char *buf, size_t n)
{
    const char *b = tess__suggest_best(sg);
    if (!b) return "";
    snprintf(buf, n, "; did you mean \"%.100s\"?", b);
    return buf;
}

/* ---- fields of a mapping ---------------------------------------------------------------- */

static size_t key_index(const fields *f, const char *key)
{
    for (size_t i = 0; i < f->nkeys; i++)
        if (strcmp(f->keys[i], key) == 0) return i;
    return 0; /* unreachable for the keys this file asks for */
}

/* The value of key, or NULL when absent. */
static const tess__ynode *fv(const fields *f, const char *key)
{
    return f->v[key_index(f, key)];
}
static const tess__ynode *fk(const fields *f, const char *key)
{
    return f->k[key_index(f, key)];
}
/* Present with a non-null value. */
static const tess__ynode *fval(const fields *f, const char *key)
{
    const tess__ynode *v = fv(f, key);
    return v && !tess__ynode_is_null(v) ? v : NULL;
}

static void unknown_key(loader *L, bool config, const tess__ynode *key, const char *const *keys,
                        size_t nkeys, const char *ctx)
{
    tess__suggest sg;
    char sug[160];
    tess__buf list = TESS__BUF_INIT;
    tess__suggest_init(&sg, key->s, key->n);
    for (size_t i = 0; i < nkeys; i++) {
        tess__suggest_add(&sg, keys[i]);
        tess__buf_printf(&list, "%s%s", i ? ", " : "", keys[i]);
    }
    const char *dym = did_you_mean(&sg, sug, sizeof(sug));
    tess__ydiag_add(&L->diags, key->file, key->line, key->col, "%s%sunknown key \"%.*s\"%s%s%s%s",
                    ctx ? ctx : "", ctx ? ": " : "", SHOW(key), dym,
                    *dym ? "" : " (expected one of: ", *dym ? "" : (list.p ? list.p : ""),
                    *dym ? "" : ")");
    if (config)
        L->config_problems++;
    else
        L->defs_problems++;
    tess__buf_release(&list);
}

static void read_fields(loader *L, fields *f, const tess__ynode *map, const char *const *keys,
                        size_t nkeys, const char *ctx)
{
    memset(f, 0, sizeof(*f));
    f->map = map;
    f->keys = keys;
    f->nkeys = nkeys;
    for (size_t i = 0; i < map->nitems; i++) {
        const tess__ynode *k = tess__ymap_key(map, i);
        size_t j;
        for (j = 0; j < nkeys; j++)
            if (tess__ynode_eq(k, keys[j])) break;
        if (j == nkeys) {
            unknown_key(L, false, k, keys, nkeys, ctx);
            continue;
        }
        f->k[j] = k;
        f->v[j] = tess__ymap_val(map, i);
    }
}

/* The value of a required key, or NULL after reporting that it is missing. */
static const tess__ynode *need(loader *L, const fields *f, const char *key, const char *ctx)
{
    const tess__ynode *v = fv(f, key);
    if (!v) {
        perr(L, f->map, "%s: missing required key \"%s\"", ctx, key);
        return NULL;
    }
    if (tess__ynode_is_null(v)) {
        perr(L, fk(f, key), "%s: %s needs a value", ctx, key);
        return NULL;
    }
    return v;
}

/* A scalar's text, or NULL after reporting (a list or mapping, or a NUL byte inside). */
static const char *scalar(loader *L, const tess__ynode *v, const char *ctx, const char *key)
{
    if (v->kind != TESS__Y_SCALAR) {
        perr(L, v, "%s: %s must be a string, not %s", ctx, key, tess__ynode_what(v));
        return NULL;
    }
    if (memchr(v->s, 0, v->n)) {
        perr(L, v, "%s: %s contains a NUL character", ctx, key);
        return NULL;
    }
    return v->s;
}

/* An optional string: "" when absent or null. Returns false after reporting a problem. */
static bool opt_str(loader *L, const fields *f, const char *key, const char *ctx, const char **out)
{
    const tess__ynode *v = fval(f, key);
    *out = "";
    if (!v) return true;
    const char *s = scalar(L, v, ctx, key);
    if (!s) return false;
    *out = s;
    return true;
}

static const char *ident(loader *L, const tess__ynode *v, const char *ctx, const char *what)
{
    const char *s = scalar(L, v, ctx, what);
    if (!s) return NULL;
    if (!is_ident(v->s, v->n)) {
        perr(L, v,
             "%s: invalid %s \"%.*s\": use letters, digits and _, not starting with a digit "
             "(at most %d characters)",
             ctx, what, SHOW(v), MAX_NAME);
        return NULL;
    }
    return s;
}

static bool type_of(loader *L, const tess__ynode *v, const char *ctx, tess__type *out)
{
    const char *s = scalar(L, v, ctx, "type");
    if (!s) return false;
    if (tess__type_parse(v->s, v->n, out) == TESS_OK) return true;
    tess__suggest sg;
    char sug[160];
    tess__suggest_init(&sg, v->s, v->n);
    for (int t = TESS_T_BOOL; t < TESS_T__COUNT; t++)
        tess__suggest_add(&sg, tess__type_name(t));
    perr(L, v, "%s: unknown type \"%.*s\"%s (types: bool, int64, float64, string, timestamp)", ctx,
         SHOW(v), did_you_mean(&sg, sug, sizeof(sug)));
    return false;
}

/* A duration; `positive` requires > 0. */
static bool duration_of(loader *L, const tess__ynode *v, const char *ctx, const char *key,
                        bool positive, int64_t *us)
{
    const char *why = NULL;
    if (!scalar(L, v, ctx, key)) return false;
    if (tess__duration_parse(v->s, v->n, us, &why) != TESS_OK) {
        perr(L, v, "%s: invalid %s \"%.*s\": %s", ctx, key, SHOW(v), why ? why : "bad duration");
        return false;
    }
    if (positive && *us <= 0) {
        perr(L, v, "%s: %s must be greater than 0", ctx, key);
        return false;
    }
    return true;
}

static bool bool_of(loader *L, const tess__ynode *v, const char *ctx, const char *key, bool *out)
{
    if (v->kind == TESS__Y_SCALAR) {
        if (tess__ynode_eq(v, "true") || tess__ynode_eq(v, "True") || tess__ynode_eq(v, "TRUE")) {
            *out = true;
            return true;
        }
        if (tess__ynode_eq(v, "false") || tess__ynode_eq(v, "False") ||
            tess__ynode_eq(v, "FALSE")) {
            *out = false;
            return true;
        }
    }
    perr(L, v, "%s: %s must be true or false", ctx, key);
    return false;
}

/* A list value; NULL after reporting. */
static const tess__ynode *list_of(loader *L, const tess__ynode *v, const char *ctx, const char *key,
                                  const char *of)
{
    if (v->kind != TESS__Y_SEQ) {
        perr(L, v, "%s: %s must be a list of %s, not %s", ctx, key, of, tess__ynode_what(v));
        return NULL;
    }
    if (v->nitems == 0) {
        perr(L, v, "%s: %s must list at least one of %s", ctx, key, of);
        return NULL;
    }
    return v;
}

/* description, owner, tags. */
static bool read_meta(loader *L, const fields *f, const char *ctx, tess__meta *m)
{
    bool ok = opt_str(L, f, "description", ctx, &m->description);
    ok &= opt_str(L, f, "owner", ctx, &m->owner);
    const tess__ynode *t = fval(f, "tags");
    if (!t) return ok;
    if (t->kind != TESS__Y_MAP) {
        perr(L, t, "%s: tags must be a mapping of names to strings, not %s", ctx,
             tess__ynode_what(t));
        return false;
    }
    tess__tag *tags = A(L, t->nitems * sizeof(*tags));
    if (!tags) return false;
    for (size_t i = 0; i < t->nitems; i++) {
        const tess__ynode *k = tess__ymap_key(t, i), *v = tess__ymap_val(t, i);
        tags[i].key = scalar(L, k, ctx, "a tag name");
        if (tags[i].key && k->n == 0) {
            perr(L, k, "%s: a tag name cannot be empty", ctx);
            ok = false;
        }
        if (tess__ynode_is_null(v))
            tags[i].value = "";
        else
            tags[i].value = scalar(L, v, ctx, "a tag value");
        if (!tags[i].key || !tags[i].value) ok = false;
    }
    m->tags = tags;
    m->ntags = t->nitems;
    return ok;
}

/* ---- objects ---------------------------------------------------------------------------- */

static obj *new_obj(loader *L, int kind, const tess__ynode *map)
{
    obj *o = A(L, sizeof(*o));
    if (!o) return NULL;
    if (L->nobjs == L->objs_cap) {
        size_t cap = L->objs_cap ? L->objs_cap * 2 : 64;
        obj **v = tess__realloc(L->objs, cap * sizeof(*v));
        if (!v) {
            L->oom = true;
            return NULL;
        }
        L->objs = v;
        L->objs_cap = cap;
    }
    o->kind = kind;
    o->map = map;
    o->order = L->nobjs;
    L->objs[L->nobjs++] = o;
    return o;
}

/* Common start of every object: a mapping, its keys, its name. Fills ctx with
 * `kind "name"` (or just `kind`). Returns NULL when the item is not a mapping. */
static obj *begin_obj(loader *L, int kind, const tess__ynode *item, fields *f,
                      const char *const *keys, size_t nkeys, char *ctx, size_t ctxn)
{
    if (item->kind != TESS__Y_MAP) {
        perr(L, item, "%s: expected %s (a mapping with name: and its keys), not %s", sections[kind],
             kind_a[kind], tess__ynode_what(item));
        return NULL;
    }
    const tess__ynode *nv = ymap_get(item, "name");
    if (nv && nv->kind == TESS__Y_SCALAR && is_ident(nv->s, nv->n))
        snprintf(ctx, ctxn, "%s \"%s\"", kind_name[kind], nv->s);
    else
        snprintf(ctx, ctxn, "%s", kind_name[kind]);
    obj *o = new_obj(L, kind, item);
    if (!o) return NULL;
    read_fields(L, f, item, keys, nkeys, ctx);
    o->dropped = true;
    const tess__ynode *v = need(L, f, "name", ctx);
    if (v && ident(L, v, ctx, "name")) {
        o->name = v->s;
        o->name_node = v;
        o->dropped = false;
    }
    return o;
}

/* ---- entities --------------------------------------------------------------------------- */

static const char *const entity_keys[] = {"name", "join_keys", "description", "owner", "tags"};


/* Where a YAML node is, as a model location. */
static tess__loc loc_of(const loader *L, const tess__ynode *n)
{
    tess__loc at = {L->d->files[n->file], n->line, n->col};
    return at;
}

static void parse_entity(loader *L, const tess__ynode *item)
{
    fields f;
    char ctx[200];
    obj *o = begin_obj(L, K_ENTITY, item, &f, entity_keys, NELEM(entity_keys), ctx, sizeof(ctx));
    if (!o) return;
    tess__entity *e = A(L, sizeof(*e));
    ent_aux *ax = A(L, sizeof(*ax));
    if (!e || !ax) return;
    o->model = e;
    o->aux = ax;
    e->name = o->name;
    e->loc = loc_of(L, item);
    if (!read_meta(L, &f, ctx, &e->meta)) o->broken = true;

    const tess__ynode *jk = need(L, &f, "join_keys", ctx);
    if (!jk || !(jk = list_of(L, jk, ctx, "join_keys", "join key names"))) {
        o->broken = true;
        return;
    }
    tess__column *keys = A(L, jk->nitems * sizeof(*keys));
    ax->declared = A(L, jk->nitems * sizeof(bool));
    ax->inf_by = A(L, jk->nitems * sizeof(*ax->inf_by));
    if (!keys || !ax->declared || !ax->inf_by) return;
    for (size_t i = 0; i < jk->nitems; i++) {
        const tess__ynode *it = jk->items[i], *nn = it;
        tess__column *c = &keys[i];
        c->type = TESS_T_NULL;
        if (it->kind == TESS__Y_MAP) {
            static const char *const jk_keys[] = {"name", "type"};
            fields kf;
            read_fields(L, &kf, it, jk_keys, NELEM(jk_keys), ctx);
            nn = need(L, &kf, "name", ctx);
            const tess__ynode *tv = fval(&kf, "type");
            if (tv) {
                if (type_of(L, tv, ctx, &c->type))
                    ax->declared[i] = true;
                else
                    o->broken = true;
            }
            if (!nn) {
                o->broken = true;
                continue;
            }
        }
        c->name = ident(L, nn, ctx, "join key");
        c->loc = loc_of(L, nn);
        if (!c->name) {
            o->broken = true;
            continue;
        }
        for (size_t j = 0; j < i; j++) {
            if (keys[j].name && strcmp(keys[j].name, c->name) == 0) {
                perr(L, nn, "%s: join key \"%s\" is listed twice", ctx, c->name);
                o->broken = true;
                break;
            }
        }
    }
    e->join_keys = keys;
    e->njoin_keys = jk->nitems;
}

/* ---- sources ---------------------------------------------------------------------------- */

static const char *const source_keys[] = {"name",
                                          "type",
                                          "description",
                                          "owner",
                                          "tags",
                                          "path",
                                          "format",
                                          "delimiter",
                                          "schema",
                                          "timestamp",
                                          "created_timestamp",
                                          "batch_source"};

static bool parse_schema(loader *L, const tess__ynode *v, const char *ctx, tess__source *s)
{
    if (v->kind != TESS__Y_MAP || v->nitems == 0) {
        perr(L, v,
             "%s: schema must be a mapping of column names to types, e.g. "
             "{user_id: int64, ts: timestamp}",
             ctx);
        return false;
    }
    bool ok = true;
    tess__column *cols = A(L, v->nitems * sizeof(*cols));
    if (!cols) return false;
    for (size_t i = 0; i < v->nitems; i++) {
        const tess__ynode *k = tess__ymap_key(v, i), *t = tess__ymap_val(v, i);
        cols[i].name = ident(L, k, ctx, "column name");
        cols[i].loc = loc_of(L, k);
        if (!cols[i].name) ok = false;
        char cctx[400];
        snprintf(cctx, sizeof(cctx), "%s: column \"%.*s\"", ctx, SHOW(k));
        if (tess__ynode_is_null(t)) {
            perr(L, k, "%s: missing type", cctx);
            ok = false;
        } else if (!type_of(L, t, cctx, &cols[i].type)) {
            ok = false;
        }
    }
    s->schema = cols;
    s->nschema = v->nitems;
    return ok;
}

static long ts_column(loader *L, const tess__source *s, const tess__ynode *v, const char *ctx,
                      const char *key)
{
    if (!scalar(L, v, ctx, key)) return -1;
    long c = memchr(v->s, 0, v->n) ? -1 : tess__source_column(s, v->s);
    if (c < 0) {
        tess__suggest sg;
        char sug[160];
        tess__suggest_init(&sg, v->s, v->n);
        for (size_t i = 0; i < s->nschema; i++)
            if (s->schema[i].name) tess__suggest_add(&sg, s->schema[i].name);
        perr(L, v, "%s: %s column \"%.*s\" is not in the schema%s", ctx, key, SHOW(v),
             did_you_mean(&sg, sug, sizeof(sug)));
        return -1;
    }
    if (s->schema[c].type != TESS_T_TIMESTAMP) {
        perr(L, v, "%s: %s column \"%s\" has type %s; it must be timestamp", ctx, key, v->s,
             tess__type_name(s->schema[c].type));
        return -1;
    }
    return c;
}

/* schema, timestamp, created_timestamp written in the source itself. */
static bool own_schema(loader *L, const fields *f, const char *ctx, tess__source *s)
{
    const tess__ynode *sv = need(L, f, "schema", ctx);
    const tess__ynode *tv = need(L, f, "timestamp", ctx);
    const tess__ynode *cv = fval(f, "created_timestamp");
    if (!sv || !parse_schema(L, sv, ctx, s)) return false;
    if (!tv) return false;
    long ts = ts_column(L, s, tv, ctx, "timestamp");
    long cr = cv ? ts_column(L, s, cv, ctx, "created_timestamp") : -1;
    if (ts < 0 || (cv && cr < 0)) return false;
    s->ts_col = (size_t)ts;
    s->created_col = cr;
    return true;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

static void parse_source(loader *L, const tess__ynode *item)
{
    fields f;
    char ctx[200], sug[160];
    obj *o = begin_obj(L, K_SOURCE, item, &f, source_keys, NELEM(source_keys), ctx, sizeof(ctx));
    if (!o) return;
    tess__source *s = A(L, sizeof(*s));
    src_aux *ax = A(L, sizeof(*ax));
    if (!s || !ax) return;
    o->model = s;
    o->aux = ax;
    s->name = o->name;
    s->loc = loc_of(L, item);
    s->created_col = -1;
    bool ok = read_meta(L, &f, ctx, &s->meta);

    const tess__ynode *tv = need(L, &f, "type", ctx);
    if (!tv || !scalar(L, tv, ctx, "type")) {
        s->broken = o->broken = true;
        return;
    }
    if (tess__ynode_eq(tv, "batch")) {
        s->kind = TESS_SOURCE_BATCH;
    } else if (tess__ynode_eq(tv, "push")) {
        s->kind = TESS_SOURCE_PUSH;
    } else {
        tess__suggest sg;
        tess__suggest_init(&sg, tv->s, tv->n);
        tess__suggest_add(&sg, "batch");
        tess__suggest_add(&sg, "push");
        perr(L, tv, "%s: unknown source type \"%.*s\"%s (expected batch or push)", ctx, SHOW(tv),
             did_you_mean(&sg, sug, sizeof(sug)));
        s->broken = o->broken = true;
        return;
    }

    if (s->kind == TESS_SOURCE_BATCH) {
        if (fv(&f, "batch_source")) {
            perr(L, fk(&f, "batch_source"), "%s: batch_source is only for push sources", ctx);
            ok = false;
        }
        const tess__ynode *pv = need(L, &f, "path", ctx);
        if (pv && (s->path = scalar(L, pv, ctx, "path")) != NULL && pv->n == 0) {
            perr(L, pv, "%s: path cannot be empty", ctx);
            s->path = NULL;
        }
        if (!s->path) ok = false;
        const tess__ynode *fmt = fval(&f, "format");
        if (fmt) {
            if (!scalar(L, fmt, ctx, "format")) {
                ok = false;
            } else if (tess__ynode_eq(fmt, "csv")) {
                s->format = TESS_FORMAT_CSV;
            } else if (tess__ynode_eq(fmt, "jsonl")) {
                s->format = TESS_FORMAT_JSONL;
            } else {
                tess__suggest sg;
                tess__suggest_init(&sg, fmt->s, fmt->n);
                tess__suggest_add(&sg, "csv");
                tess__suggest_add(&sg, "jsonl");
                perr(L, fmt, "%s: unknown format \"%.*s\"%s (expected csv or jsonl)", ctx,
                     SHOW(fmt), did_you_mean(&sg, sug, sizeof(sug)));
                ok = false;
            }
        } else if (s->path) {
            if (ends_with(s->path, ".csv"))
                s->format = TESS_FORMAT_CSV;
            else if (ends_with(s->path, ".jsonl") || ends_with(s->path, ".json") ||
                     ends_with(s->path, ".ndjson"))
                s->format = TESS_FORMAT_JSONL;
            else {
                perr(L, pv,
                     "%s: cannot tell the format of \"%s\" from its extension; add format: csv "
                     "or format: jsonl",
                     ctx, s->path);
                ok = false;
            }
        }
        const tess__ynode *dv = fval(&f, "delimiter");
        if (s->format == TESS_FORMAT_CSV) s->delimiter = ',';
        if (dv) {
            if (s->format == TESS_FORMAT_JSONL) {
                perr(L, fk(&f, "delimiter"), "%s: delimiter is only for csv sources", ctx);
                ok = false;
            } else if (!scalar(L, dv, ctx, "delimiter")) {
                ok = false;
            } else if (dv->n != 1 || dv->s[0] == '"' || dv->s[0] == '\n' || dv->s[0] == '\r') {
                perr(L, dv,
                     "%s: delimiter must be one character (not a quote or a line break), "
                     "e.g. \";\" or \"\\t\"",
                     ctx);
                ok = false;
            } else {
                s->delimiter = dv->s[0];
            }
        }
        if (!own_schema(L, &f, ctx, s)) ok = false;
    } else {
        static const char *const batch_only[] = {"path", "format", "delimiter"};
        for (size_t i = 0; i < NELEM(batch_only); i++) {
            if (fv(&f, batch_only[i])) {
                perr(L, fk(&f, batch_only[i]),
                     "%s: %s is only for batch sources (a push source receives its rows from "
                     "clients)",
                     ctx, batch_only[i]);
                ok = false;
            }
        }
        const tess__ynode *bv = fval(&f, "batch_source");
        if (bv) {
            static const char *const inherited[] = {"schema", "timestamp", "created_timestamp"};
            if (!scalar(L, bv, ctx, "batch_source")) ok = false;
            ax->batch_node = bv;
            for (size_t i = 0; i < NELEM(inherited); i++) {
                if (fv(&f, inherited[i])) {
                    perr(L, fk(&f, inherited[i]),
                         "%s: %s comes from batch_source \"%.*s\"; do not repeat it here", ctx,
                         inherited[i], SHOW(bv));
                    ok = false;
                }
            }
        } else if (!own_schema(L, &f, ctx, s)) {
            ok = false;
        }
    }
    if (!ok) s->broken = o->broken = true;
}

/* ---- feature views ---------------------------------------------------------------------- */

static const char *const view_keys[] = {"name",        "entities", "source", "ttl",    "hop",
                                        "description", "owner",    "tags",   "online", "features",
                                        "online_expiry"};
static const char *const feature_keys[] = {"name", "expr", "agg", "where", "window", "description"};

/* Trimmed copy of an expression's text (block scalars end with a newline). */
static const char *expr_text(loader *L, const tess__ynode *v)
{
    size_t a = 0, b = v->n;
    while (a < b && (v->s[a] == ' ' || v->s[a] == '\t' || v->s[a] == '\n' || v->s[a] == '\r'))
        a++;
    while (b > a && (v->s[b - 1] == ' ' || v->s[b - 1] == '\t' || v->s[b - 1] == '\n' ||
                     v->s[b - 1] == '\r'))
        b--;
    char *p = tess__arena_strndup(&L->d->arena, v->s + a, b - a);
    if (!p) L->oom = true;
    return p;
}

/* An expression value: a non-empty string. NULL after reporting. */
static const tess__ynode *expr_node(loader *L, const tess__ynode *v, const char *ctx,
                                    const char *key)
{
    if (!scalar(L, v, ctx, key)) return NULL;
    size_t i = 0;
    while (i < v->n && (v->s[i] == ' ' || v->s[i] == '\t' || v->s[i] == '\n' || v->s[i] == '\r'))
        i++;
    if (i == v->n) {
        perr(L, v, "%s: %s is empty", ctx, key);
        return NULL;
    }
    return v;
}

static bool parse_feature(loader *L, const tess__ynode *item, const char *view, size_t idx,
                          tess__feature *ft)
{
    fields f;
    char ctx[300], sug[160];
    if (item->kind != TESS__Y_MAP) {
        perr(L, item,
             "feature view \"%s\": feature #%zu must be a mapping ({name: ..., expr: ...}), not %s",
             view, idx + 1, tess__ynode_what(item));
        return false;
    }
    const tess__ynode *nv = ymap_get(item, "name");
    if (nv && nv->kind == TESS__Y_SCALAR && is_ident(nv->s, nv->n))
        snprintf(ctx, sizeof(ctx), "feature \"%s:%s\"", view, nv->s);
    else
        snprintf(ctx, sizeof(ctx), "feature #%zu of feature view \"%s\"", idx + 1, view);
    read_fields(L, &f, item, feature_keys, NELEM(feature_keys), ctx);
    bool ok = true;
    ft->loc = loc_of(L, item);
    ft->index = idx;
    ft->type = TESS_T_NULL;
    ft->input_type = TESS_T_NULL;
    nv = need(L, &f, "name", ctx);
    if (!nv || !(ft->name = ident(L, nv, ctx, "feature name"))) ok = false;
    if (!opt_str(L, &f, "description", ctx, &ft->description)) ok = false;

    const tess__ynode *av = fval(&f, "agg"), *ev = fval(&f, "expr"), *wv = fval(&f, "where"),
                      *win = fval(&f, "window");
    if (av) {
        if (!scalar(L, av, ctx, "agg")) {
            ok = false;
        } else if (tess__agg_parse(av->s, av->n, &ft->agg) != TESS_OK) {
            tess__suggest sg;
            tess__buf list = TESS__BUF_INIT;
            tess__suggest_init(&sg, av->s, av->n);
            for (int a = TESS_AGG_COUNT; a < TESS_AGG__COUNT; a++) {
                tess__suggest_add(&sg, tess__agg_name(a));
                tess__buf_printf(&list, "%s%s", a > TESS_AGG_COUNT ? ", " : "", tess__agg_name(a));
            }
            perr(L, av, "%s: unknown aggregation \"%.*s\"%s (aggregations: %s)", ctx, SHOW(av),
                 did_you_mean(&sg, sug, sizeof(sug)), list.p ? list.p : "");
            tess__buf_release(&list);
            ok = false;
        }
        ft->kind = TESS_FEATURE_AGG;
    } else if (fv(&f, "agg")) {
        perr(L, fk(&f, "agg"), "%s: agg needs a value", ctx);
        ok = false;
        ft->kind = TESS_FEATURE_AGG;
    } else {
        ft->kind = TESS_FEATURE_ROW;
    }

    if (ev) {
        if (expr_node(L, ev, ctx, "expr"))
            ft->expr_src = expr_text(L, ev);
        else
            ok = false;
    } else if (ft->kind == TESS_FEATURE_ROW) {
        if (fv(&f, "expr"))
            perr(L, fk(&f, "expr"), "%s: expr needs a value", ctx);
        else
            perr(L, item,
                 "%s: missing required key \"expr\" (a row-level feature; add agg: to "
                 "aggregate)",
                 ctx);
        ok = false;
    } else if (ok && ft->agg != TESS_AGG_COUNT) {
        perr(L, item, "%s: missing required key \"expr\" (%s needs an expression to aggregate)",
             ctx, tess__agg_name(ft->agg));
        ok = false;
    }

    if (ft->kind == TESS_FEATURE_ROW) {
        if (fv(&f, "where")) {
            perr(L, fk(&f, "where"), "%s: where is only for aggregates (add agg:)", ctx);
            ok = false;
        }
        if (fv(&f, "window")) {
            perr(L, fk(&f, "window"), "%s: window is only for aggregates (add agg:)", ctx);
            ok = false;
        }
    } else {
        if (wv) {
            if (expr_node(L, wv, ctx, "where"))
                ft->where_src = expr_text(L, wv);
            else
                ok = false;
        }
        if (win && !duration_of(L, win, ctx, "window", true, &ft->window_us)) ok = false;
    }
    return ok;
}

/* online_expiry (at node x) may only forget entities whose every value is already that of an
 * entity never seen: no lifetime aggregate, a ttl at most as long when there are row-level
 * features, every window (with its hop) over. Then expiry changes statuses and event times,
 * never a value (docs/online.md, "Expiry"). */
static bool expiry_ok(loader *L, const tess__view *v, const tess__ynode *x, const char *ctx)
{
    bool ok = true;
    int64_t wmax = 0;
    const tess__feature *lifetime = NULL, *row = NULL;
    for (size_t i = 0; i < v->nfeatures; i++) {
        const tess__feature *ft = &v->features[i];
        if (ft->kind == TESS_FEATURE_ROW && !row) row = ft;
        if (ft->kind == TESS_FEATURE_AGG && ft->window_us == 0 && !lifetime) lifetime = ft;
        if (ft->kind == TESS_FEATURE_AGG && ft->window_us > wmax) wmax = ft->window_us;
    }
    char eb[32], b1[32], b2[32], b3[32];
    tess__duration_format(v->online_expiry_us, eb);
    if (lifetime) {
        perr(L, x, "%s: online_expiry cannot be used with lifetime aggregates (feature \"%s\" "
             "has no window): lifetime aggregates would lose their history", ctx,
             lifetime->name ? lifetime->name : "?");
        ok = false;
    }
    if (row && v->ttl_us <= 0) {
        perr(L, x, "%s: online_expiry needs a ttl when the view has row-level features (feature "
             "\"%s\"): their values must be OUTSIDE_MAX_AGE before the entity is forgotten", ctx,
             row->name ? row->name : "?");
        ok = false;
    } else if (v->ttl_us > 0 && v->online_expiry_us < v->ttl_us) {
        tess__duration_format(v->ttl_us, b1);
        perr(L, x, "%s: online_expiry %s is shorter than the view's ttl %s", ctx, eb, b1);
        ok = false;
    }
    int64_t need;
    if (__builtin_add_overflow(wmax, v->hop_us, &need)) need = INT64_MAX;
    if (wmax > 0 && v->online_expiry_us < need) {
        tess__duration_format(wmax, b1);
        tess__duration_format(v->hop_us, b2);
        tess__duration_format(need, b3);
        perr(L, x, "%s: online_expiry %s is shorter than the view's longest window + hop "
             "(%s + %s = %s)", ctx, eb, b1, b2, b3);
        ok = false;
    }
    return ok;
}

static void parse_view(loader *L, const tess__ynode *item)
{
    fields f;
    char ctx[200];
    obj *o = begin_obj(L, K_VIEW, item, &f, view_keys, NELEM(view_keys), ctx, sizeof(ctx));
    if (!o) return;
    tess__view *v = A(L, sizeof(*v));
    view_aux *ax = A(L, sizeof(*ax));
    if (!v || !ax) return;
    o->model = v;
    o->aux = ax;
    v->name = o->name;
    v->loc = loc_of(L, item);
    v->online = true;
    bool ok = read_meta(L, &f, ctx, &v->meta);
    const char *vname = o->name ? o->name : "?";

    const tess__ynode *en = need(L, &f, "entities", ctx);
    if (en && (en = list_of(L, en, ctx, "entities", "entity names"))) {
        ax->ent_nodes = A(L, en->nitems * sizeof(*ax->ent_nodes));
        if (!ax->ent_nodes) return;
        for (size_t i = 0; i < en->nitems; i++) {
            const tess__ynode *it = en->items[i];
            if (!ident(L, it, ctx, "entity name")) {
                ok = false;
                continue;
            }
            bool dup = false;
            for (size_t j = 0; j < ax->nent; j++)
                if (strcmp(ax->ent_nodes[j]->s, it->s) == 0) dup = true;
            if (dup) {
                perr(L, it, "%s: entity \"%s\" is listed twice", ctx, it->s);
                ok = false;
                continue;
            }
            ax->ent_nodes[ax->nent++] = it;
        }
    } else {
        ok = false;
    }
    const tess__ynode *sv = need(L, &f, "source", ctx);
    if (sv && ident(L, sv, ctx, "source name"))
        ax->source_node = sv;
    else
        ok = false;
    const tess__ynode *x;
    if ((x = fval(&f, "ttl")) && !duration_of(L, x, ctx, "ttl", false, &v->ttl_us)) ok = false;
    const tess__ynode *expiry = fval(&f, "online_expiry");
    if (expiry && !duration_of(L, expiry, ctx, "online_expiry", true, &v->online_expiry_us))
        ok = false;
    const tess__ynode *hop = fval(&f, "hop");
    if (hop) {
        v->hop_given = duration_of(L, hop, ctx, "hop", true, &v->hop_us);
        if (!v->hop_given) ok = false;
    }
    if ((x = fval(&f, "online")) && !bool_of(L, x, ctx, "online", &v->online)) ok = false;

    const tess__ynode *fl = need(L, &f, "features", ctx);
    if (fl && (fl = list_of(L, fl, ctx, "features", "features"))) {
        tess__feature *fs = A(L, fl->nitems * sizeof(*fs));
        ax->feat_maps = A(L, fl->nitems * sizeof(*ax->feat_maps));
        ax->feat_bad = A(L, fl->nitems * sizeof(bool));
        if (!fs || !ax->feat_maps || !ax->feat_bad) return;
        size_t n = 0;
        for (size_t i = 0; i < fl->nitems; i++) {
            tess__feature *ft = &fs[n];
            if (!parse_feature(L, fl->items[i], vname, i, ft)) {
                ok = false;
                ax->feat_bad[n] = true;
            }
            if (fl->items[i]->kind != TESS__Y_MAP) continue;
            ft->view = v;
            ft->index = n;
            ax->feat_maps[n] = fl->items[i];
            if (ft->name) {
                for (size_t j = 0; j < n; j++) {
                    if (fs[j].name && strcmp(fs[j].name, ft->name) == 0) {
                        const tess__ynode *nn = ymap_get(fl->items[i], "name");
                        const tess__ynode *n0 = ymap_get(ax->feat_maps[j], "name");
                        perr(L, nn, "%s: duplicate feature \"%s\" (first at line %d, column %d)",
                             ctx, ft->name, n0->line, n0->col);
                        ok = false;
                        break;
                    }
                }
            }
            if (ft->kind == TESS_FEATURE_AGG)
                v->has_aggregates = true;
            else
                v->has_row_features = true;
            n++;
        }
        v->features = fs;
        v->nfeatures = n;
    } else {
        ok = false;
    }

    /* hop: given, or min(1h, shortest window); every window must be >= hop */
    int64_t minw = 0;
    for (size_t i = 0; i < v->nfeatures; i++) {
        int64_t w = v->features[i].window_us;
        if (w > 0 && (minw == 0 || w < minw)) minw = w;
    }
    if (!v->hop_given) {
        v->hop_us = DEFAULT_HOP_US;
        if (minw > 0 && minw < v->hop_us) v->hop_us = minw;
    }
    if (v->hop_given) {
        for (size_t i = 0; i < v->nfeatures; i++) {
            const tess__feature *ft = &v->features[i];
            if (ft->window_us > 0 && ft->window_us < v->hop_us) {
                char wb[32], hb[32];
                tess__duration_format(ft->window_us, wb);
                tess__duration_format(v->hop_us, hb);
                perr(L, ymap_get(ax->feat_maps[i], "window"),
                     "feature \"%s:%s\": window %s is shorter than the view's hop %s", vname,
                     ft->name ? ft->name : "?", wb, hb);
                ok = false;
            }
        }
    }
    if (ok && v->online_expiry_us > 0 && !expiry_ok(L, v, expiry, ctx)) ok = false;
    if (!ok) o->broken = true;
}

/* ---- on-demand features ----------------------------------------------------------------- */

static const char *const odf_keys[] = {"name", "inputs", "expr", "description", "owner", "tags"};

static void parse_odf(loader *L, const tess__ynode *item)
{
    fields f;
    char ctx[200];
    obj *o = begin_obj(L, K_ODF, item, &f, odf_keys, NELEM(odf_keys), ctx, sizeof(ctx));
    if (!o) return;
    tess__odf *d = A(L, sizeof(*d));
    odf_aux *ax = A(L, sizeof(*ax));
    if (!d || !ax) return;
    o->model = d;
    o->aux = ax;
    d->name = o->name;
    d->loc = loc_of(L, item);
    d->type = TESS_T_NULL;
    bool ok = read_meta(L, &f, ctx, &d->meta);

    const tess__ynode *in = fval(&f, "inputs");
    if (in && in->kind != TESS__Y_MAP) {
        perr(L, in,
             "%s: inputs must be a mapping {features: [view:feature, ...], request: "
             "{name: type}}, not %s",
             ctx, tess__ynode_what(in));
        ok = false;
    } else if (in) {
        static const char *const in_keys[] = {"features", "request"};
        fields inf;
        read_fields(L, &inf, in, in_keys, NELEM(in_keys), ctx);
        const tess__ynode *fl = fval(&inf, "features"), *rq = fval(&inf, "request");
        if (fl && fl->kind != TESS__Y_SEQ) {
            perr(L, fl, "%s: inputs.features must be a list of \"view:feature\", not %s", ctx,
                 tess__ynode_what(fl));
            ok = false;
        } else if (fl) {
            ax->in_nodes = A(L, fl->nitems * sizeof(*ax->in_nodes));
            if (!ax->in_nodes) return;
            for (size_t i = 0; i < fl->nitems; i++) {
                if (!scalar(L, fl->items[i], ctx, "an input feature")) {
                    ok = false;
                    continue;
                }
                ax->in_nodes[ax->nin++] = fl->items[i];
            }
        }
        if (rq && rq->kind != TESS__Y_MAP) {
            perr(L, rq, "%s: inputs.request must be a mapping of field names to types, not %s", ctx,
                 tess__ynode_what(rq));
            ok = false;
        } else if (rq) {
            tess__column *cols = A(L, rq->nitems * sizeof(*cols));
            ax->req_nodes = A(L, rq->nitems * sizeof(*ax->req_nodes));
            if (!cols || !ax->req_nodes) return;
            for (size_t i = 0; i < rq->nitems; i++) {
                const tess__ynode *k = tess__ymap_key(rq, i), *t = tess__ymap_val(rq, i);
                ax->req_nodes[i] = k;
                cols[i].name = ident(L, k, ctx, "request field");
                cols[i].loc = loc_of(L, k);
                if (!cols[i].name) ok = false;
                if (tess__ynode_is_null(t)) {
                    perr(L, k, "%s: request field \"%.*s\" needs a type", ctx, SHOW(k));
                    ok = false;
                } else if (!type_of(L, t, ctx, &cols[i].type)) {
                    ok = false;
                }
            }
            d->request = cols;
            d->nrequest = rq->nitems;
        }
    }
    const tess__ynode *ev = need(L, &f, "expr", ctx);
    if (ev && expr_node(L, ev, ctx, "expr")) {
        ax->expr_node = ev;
        d->expr_src = expr_text(L, ev);
    } else {
        ok = false;
    }
    if (!ok) o->broken = true;
}

/* ---- feature services ------------------------------------------------------------------- */

static const char *const service_keys[] = {"name", "features", "description", "owner", "tags"};

static void parse_service(loader *L, const tess__ynode *item)
{
    fields f;
    char ctx[200];
    obj *o = begin_obj(L, K_SERVICE, item, &f, service_keys, NELEM(service_keys), ctx, sizeof(ctx));
    if (!o) return;
    tess__service *s = A(L, sizeof(*s));
    svc_aux *ax = A(L, sizeof(*ax));
    if (!s || !ax) return;
    o->model = s;
    o->aux = ax;
    s->name = o->name;
    s->loc = loc_of(L, item);
    bool ok = read_meta(L, &f, ctx, &s->meta);
    const tess__ynode *fl = need(L, &f, "features", ctx);
    if (fl && (fl = list_of(L, fl, ctx, "features",
                            "feature references (\"view:feature\", \"view:*\" or an on-demand "
                            "feature)"))) {
        const char **refs = A(L, fl->nitems * sizeof(*refs));
        ax->ref_nodes = A(L, fl->nitems * sizeof(*ax->ref_nodes));
        if (!refs || !ax->ref_nodes) return;
        size_t n = 0;
        for (size_t i = 0; i < fl->nitems; i++) {
            const char *r = scalar(L, fl->items[i], ctx, "a feature reference");
            if (!r) {
                ok = false;
                continue;
            }
            ax->ref_nodes[n] = fl->items[i];
            refs[n++] = r;
        }
        s->refs = refs;
        s->nrefs = n;
    } else {
        ok = false;
    }
    if (!ok) o->broken = true;
}

/* ---- files ------------------------------------------------------------------------------ */

static void parse_config_key(loader *L, tess__config *cfg, const tess__ynode *k,
                             const tess__ynode *v)
{
    char **slot = NULL;
    if (tess__ynode_eq(k, "project"))
        slot = &cfg->project;
    else if (tess__ynode_eq(k, "store"))
        slot = &cfg->store;
    else if (tess__ynode_eq(k, "online"))
        slot = &cfg->online;
    else if (tess__ynode_eq(k, "registry"))
        slot = &cfg->registry;
    else if (tess__ynode_eq(k, "offline"))
        slot = &cfg->offline;
    else
        slot = &cfg->description;
    if (slot == &cfg->project) L->saw_project = true;
    if (tess__ynode_is_null(v)) {
        if (slot == &cfg->project || slot == &cfg->store) cerr(L, k, "%.*s needs a value", SHOW(k));
        return;
    }
    if (v->kind != TESS__Y_SCALAR || memchr(v->s, 0, v->n)) {
        cerr(L, v, "%.*s must be a string, not %s", SHOW(k), tess__ynode_what(v));
        return;
    }
    if (slot == &cfg->project) {
        bool good = v->n > 0 && v->n <= MAX_NAME;
        for (size_t i = 0; i < v->n && good; i++) {
            char c = v->s[i];
            good = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   c == '_' || c == '-';
        }
        if (!good) {
            cerr(L, v, "invalid project name \"%.*s\": use letters, digits, _ and - (at most %d)",
                 SHOW(v), MAX_NAME);
            return;
        }
    }
    if (slot == &cfg->store && v->n == 0) {
        cerr(L, v, "store cannot be empty");
        return;
    }
    tess__free(*slot);
    *slot = tess__strdup(v->s);
    if (!*slot) L->oom = true;
}

static int section_of(const tess__ynode *k)
{
    for (int i = 0; i < K__N; i++)
        if (tess__ynode_eq(k, sections[i])) return i;
    return -1;
}

static bool is_config_key(const tess__ynode *k)
{
    for (size_t i = 0; i < NCONFIG; i++)
        if (tess__ynode_eq(k, config_keys[i])) return true;
    return false;
}

static void read_file(loader *L, int fi, const tess__ynode *root)
{
    bool is_cfg = fi == 0;
    if (!root || tess__ynode_is_null(root)) return;
    if (root->kind != TESS__Y_MAP) {
        if (is_cfg)
            cerr(L, root,
                 "expected a mapping (project: ..., and optionally definition sections),"
                 " not %s",
                 tess__ynode_what(root));
        else
            perr(L, root,
                 "expected a mapping of sections (entities, sources, feature_views, "
                 "on_demand_features, feature_services), not %s",
                 tess__ynode_what(root));
        return;
    }
    for (size_t i = 0; i < root->nitems && !L->oom; i++) {
        const tess__ynode *k = tess__ymap_key(root, i), *v = tess__ymap_val(root, i);
        int sec = section_of(k);
        if (sec < 0) {
            if (is_config_key(k)) {
                if (is_cfg)
                    parse_config_key(L, &L->d->config, k, v);
                else
                    perr(L, k, "\"%.*s\" belongs in " CONFIG_FILE ", not in a definition file",
                         SHOW(k));
                continue;
            }
            const char *all[K__N + NCONFIG];
            size_t n = 0;
            for (int s = 0; s < K__N; s++)
                all[n++] = sections[s];
            if (is_cfg)
                for (size_t c = 0; c < NCONFIG; c++)
                    all[n++] = config_keys[c];
            unknown_key(L, is_cfg, k, all, n, NULL);
            continue;
        }
        if (L->config_only) continue;
        if (tess__ynode_is_null(v)) continue;
        if (v->kind != TESS__Y_SEQ) {
            perr(L, v, "%s must be a list (of %s), not %s", sections[sec],
                 sec == K_ENTITY   ? "entities"
                 : sec == K_SOURCE ? "sources"
                 : sec == K_VIEW   ? "feature views"
                 : sec == K_ODF    ? "on-demand features"
                                   : "feature services",
                 tess__ynode_what(v));
            continue;
        }
        for (size_t j = 0; j < v->nitems && !L->oom; j++) {
            const tess__ynode *it = v->items[j];
            switch (sec) {
            case K_ENTITY:
                parse_entity(L, it);
                break;
            case K_SOURCE:
                parse_source(L, it);
                break;
            case K_VIEW:
                parse_view(L, it);
                break;
            case K_ODF:
                parse_odf(L, it);
                break;
            default:
                parse_service(L, it);
                break;
            }
        }
    }
}

/* ---- names ------------------------------------------------------------------------------ */

static int obj_name_cmp(const void *a, const void *b)
{
    const obj *x = *(const obj *const *)a, *y = *(const obj *const *)b;
    int c = strcmp(x->name, y->name);
    if (c) return c;
    return (x->order > y->order) - (x->order < y->order);
}

static bool check_names(loader *L)
{
    obj **v = tess__malloc((L->nobjs ? L->nobjs : 1) * sizeof(*v));
    if (!v) {
        L->oom = true;
        return false;
    }
    size_t n = 0;
    for (size_t i = 0; i < L->nobjs; i++)
        if (!L->objs[i]->dropped && L->objs[i]->model) v[n++] = L->objs[i];
    qsort(v, n, sizeof(*v), obj_name_cmp);
    for (size_t i = 1; i < n; i++) {
        size_t first = i - 1;
        while (i < n && strcmp(v[i]->name, v[first]->name) == 0) {
            const obj *a = v[first];
            perr(L, v[i]->name_node, "duplicate name \"%s\": already defined as %s at %s:%d:%d",
                 v[i]->name, kind_a[a->kind], L->d->files[a->name_node->file], a->name_node->line,
                 a->name_node->col);
            v[i]->dropped = true;
            i++;
        }
    }
    for (int k = 0; k < K__N; k++) {
        size_t c = 0;
        for (size_t i = 0; i < n; i++)
            c += v[i]->kind == k && !v[i]->dropped;
        L->by[k] = A(L, c * sizeof(obj *));
        void **models = A(L, c * sizeof(void *));
        if (!L->by[k] || !models) break;
        c = 0;
        for (size_t i = 0; i < n; i++) {
            if (v[i]->kind != k || v[i]->dropped) continue;
            models[c] = v[i]->model;
            L->by[k][c++] = v[i];
        }
        L->nby[k] = c;
        switch (k) {
        case K_ENTITY:
            L->d->entities = (tess__entity *const *)models;
            L->d->nentities = c;
            break;
        case K_SOURCE:
            L->d->sources = (tess__source *const *)models;
            L->d->nsources = c;
            break;
        case K_VIEW:
            L->d->views = (tess__view *const *)models;
            L->d->nviews = c;
            break;
        case K_ODF:
            L->d->odfs = (tess__odf *const *)models;
            L->d->nodfs = c;
            break;
        default:
            L->d->services = (tess__service *const *)models;
            L->d->nservices = c;
            break;
        }
    }
    tess__free(v);
    return !L->oom;
}

static obj *find_obj(loader *L, int kind, const char *name)
{
    size_t lo = 0, hi = L->nby[kind];
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(L->by[kind][mid]->name, name);
        if (c == 0) return L->by[kind][mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static void unknown_ref(loader *L, const tess__ynode *at, const char *ctx, int kind)
{
    tess__suggest sg;
    char sug[160];
    tess__suggest_init(&sg, at->s, at->n);
    for (size_t i = 0; i < L->nby[kind]; i++)
        tess__suggest_add(&sg, L->by[kind][i]->name);
    const char *dym = did_you_mean(&sg, sug, sizeof(sug));
    /* a name of another kind? say so */
    const char *other = NULL;
    for (int k = 0; k < K__N && !*dym; k++)
        if (k != kind && find_obj(L, k, at->s)) other = kind_a[k];
    if (other)
        perr(L, at, "%s: unknown %s \"%.*s\" (\"%.*s\" is %s)", ctx, kind_name[kind], SHOW(at),
             SHOW(at), other);
    else
        perr(L, at, "%s: unknown %s \"%.*s\"%s", ctx, kind_name[kind], SHOW(at), dym);
}

/* ---- linking ---------------------------------------------------------------------------- */

static void link_push_sources(loader *L)
{
    for (size_t i = 0; i < L->nby[K_SOURCE]; i++) {
        obj *o = L->by[K_SOURCE][i];
        tess__source *s = o->model;
        src_aux *ax = o->aux;
        const tess__ynode *bn = ax->batch_node;
        if (s->kind != TESS_SOURCE_PUSH || !bn || bn->kind != TESS__Y_SCALAR ||
            memchr(bn->s, 0, bn->n))
            continue;
        char ctx[200];
        snprintf(ctx, sizeof(ctx), "source \"%s\"", s->name);
        obj *b = find_obj(L, K_SOURCE, ax->batch_node->s);
        if (!b) {
            unknown_ref(L, ax->batch_node, ctx, K_SOURCE);
            s->broken = o->broken = true;
            continue;
        }
        const tess__source *bs = b->model;
        if (bs->kind != TESS_SOURCE_BATCH) {
            perr(L, ax->batch_node,
                 "%s: batch_source \"%s\" is a push source; expected a batch "
                 "source",
                 ctx, bs->name);
            s->broken = o->broken = true;
            continue;
        }
        s->batch_source = bs;
        if (bs->broken) {
            s->broken = o->broken = true;
            continue;
        }
        s->schema = bs->schema;
        s->nschema = bs->nschema;
        s->ts_col = bs->ts_col;
        s->created_col = bs->created_col;
    }
}

/* Where a position inside an expression value is in the file. err_col is the 1-based byte
 * column in the value; the file column counts characters (libyaml's marks do). Exact for
 * single-line scalars (plain or quoted, barring escapes before the spot) and for literal block
 * scalars (`|`), whose lines are the file's lines; other multi-line forms point at the value. */
static void expr_pos(const tess__ynode *v, int err_col, int *line, int *col)
{
    *line = v->line;
    *col = v->col;
    if (err_col < 1) err_col = 1;
    size_t off = (size_t)err_col - 1;
    if (off > v->n) off = v->n;
    if (v->style == TESS__Y_LITERAL && v->indent > 0) {
        size_t ls = 0;
        int nl = 0;
        for (size_t i = 0; i < off; i++)
            if (v->s[i] == '\n') {
                nl++;
                ls = i + 1;
            }
        int chars = 0;
        for (size_t i = ls; i < off; i++)
            chars += ((unsigned char)v->s[i] & 0xC0) != 0x80;
        *line = v->line + 1 + nl;
        *col = v->indent + 1 + chars;
        return;
    }
    if (v->style == TESS__Y_LITERAL || v->style == TESS__Y_FOLDED || v->end_line != v->line) return;
    int chars = 0;
    for (size_t i = 0; i < off; i++)
        chars += ((unsigned char)v->s[i] & 0xC0) != 0x80;
    *col = v->col + chars + (v->style == TESS__Y_SQUOTED || v->style == TESS__Y_DQUOTED);
}

static const tess__expr *compile_at(loader *L, const tess__ynode *v, const tess__expr_var *vars,
                                    size_t nvars, const char *ctx, const char *key)
{
    tess__err e = TESS__ERR_INIT;
    tess__expr *x = NULL;
    int col = 0;
    int rc = tess__expr_compile(v->s, v->n, vars, nvars, &x, &e, &col);
    if (rc == TESS_ENOMEM) {
        L->oom = true;
    } else if (rc != TESS_OK) {
        int line, c;
        expr_pos(v, col, &line, &c);
        perr_pos(L, v->file, line, c, "%s: %s: %s", ctx, key, tess__err_msg(&e));
        x = NULL;
    } else if (x) {
        tess__defs *d = L->d;
        if (d->nexprs == d->exprs_cap) {
            size_t cap = d->exprs_cap ? d->exprs_cap * 2 : 32;
            tess__expr **nv = tess__realloc(d->exprs, cap * sizeof(*nv));
            if (!nv) {
                tess__expr_free(x);
                x = NULL;
                L->oom = true;
                goto out;
            }
            d->exprs = nv;
            d->exprs_cap = cap;
        }
        d->exprs[d->nexprs++] = x;
    }
out:
    tess__err_release(&e);
    return x;
}

static void check_feature(loader *L, const tess__view *v, tess__feature *ft,
                          const tess__ynode *fmap, const tess__expr_var *vars, size_t nvars)
{
    char ctx[300];
    snprintf(ctx, sizeof(ctx), "feature \"%s:%s\"", v->name, ft->name);
    const tess__ynode *ev = ymap_get(fmap, "expr"), *wv = ymap_get(fmap, "where");
    if (ft->where_src) {
        ft->where = compile_at(L, wv, vars, nvars, ctx, "where");
        if (ft->where && tess__expr_type(ft->where) != TESS_T_BOOL)
            perr(L, wv, "%s: where must be a bool expression, got %s", ctx,
                 tess__type_name(tess__expr_type(ft->where)));
    }
    if (ft->expr_src) {
        ft->expr = compile_at(L, ev, vars, nvars, ctx, "expr");
        if (!ft->expr) return;
        ft->input_type = tess__expr_type(ft->expr);
    }
    tess__type in = ft->input_type;
    const char *agg = tess__agg_name(ft->agg);
    switch (ft->agg) {
    case TESS_AGG_NONE:
        ft->type = in;
        break;
    case TESS_AGG_COUNT:
    case TESS_AGG_COUNT_DISTINCT_APPROX:
        ft->type = TESS_T_INT64;
        break;
    case TESS_AGG_SUM:
    case TESS_AGG_MEAN:
    case TESS_AGG_STDDEV_SAMP:
    case TESS_AGG_STDDEV_POP:
    case TESS_AGG_VAR_SAMP:
    case TESS_AGG_VAR_POP:
        if (!tess__type_is_numeric(in)) {
            perr(L, ev, "%s: %s needs an int64 or float64 expression, got %s", ctx, agg,
                 tess__type_name(in));
            return;
        }
        ft->type = ft->agg == TESS_AGG_SUM ? in : TESS_T_FLOAT64;
        break;
    case TESS_AGG_MIN:
    case TESS_AGG_MAX:
        if (!tess__type_is_numeric(in) && in != TESS_T_TIMESTAMP && in != TESS_T_STRING) {
            perr(L, ev, "%s: %s needs an int64, float64, timestamp or string expression, got %s",
                 ctx, agg, tess__type_name(in));
            return;
        }
        ft->type = in;
        break;
    default:
        ft->type = in;
        break; /* first, last */
    }
}

/* Views in load order, so that "first" in messages means first written. */
static void link_views(loader *L)
{
    for (size_t oi = 0; oi < L->nobjs && !L->oom; oi++) {
        obj *o = L->objs[oi];
        if (o->kind != K_VIEW || o->dropped || !o->model) continue;
        tess__view *v = o->model;
        view_aux *ax = o->aux;
        char ctx[200];
        snprintf(ctx, sizeof(ctx), "feature view \"%s\"", v->name);

        const tess__entity **ents = A(L, (ax->nent ? ax->nent : 1) * sizeof(*ents));
        obj **eobjs = A(L, (ax->nent ? ax->nent : 1) * sizeof(*eobjs));
        if (!ents || !eobjs) return;
        bool ents_ok = true;
        for (size_t i = 0; i < ax->nent; i++) {
            eobjs[i] = find_obj(L, K_ENTITY, ax->ent_nodes[i]->s);
            if (!eobjs[i]) {
                unknown_ref(L, ax->ent_nodes[i], ctx, K_ENTITY);
                ents_ok = false;
                continue;
            }
            ents[i] = eobjs[i]->model;
            if (eobjs[i]->broken) ents_ok = false;
        }
        v->entities = ents;
        v->nentities = ax->nent;

        obj *so = ax->source_node ? find_obj(L, K_SOURCE, ax->source_node->s) : NULL;
        if (ax->source_node && !so) unknown_ref(L, ax->source_node, ctx, K_SOURCE);
        if (!so) continue;
        const tess__source *s = so->model;
        v->source = s;
        if (s->broken) continue;

        /* join keys */
        if (ents_ok) {
            size_t nj = 0;
            for (size_t i = 0; i < ax->nent; i++)
                nj += ents[i]->njoin_keys;
            size_t *cols = A(L, (nj ? nj : 1) * sizeof(*cols));
            if (!cols) return;
            size_t k = 0;
            for (size_t i = 0; i < ax->nent; i++) {
                const tess__entity *e = ents[i];
                ent_aux *ea = eobjs[i]->aux;
                const tess__ynode *at = ax->ent_nodes[i];
                for (size_t j = 0; j < e->njoin_keys; j++) {
                    tess__column *jk = (tess__column *)&e->join_keys[j];
                    long c = tess__source_column(s, jk->name);
                    if (c < 0) {
                        perr(L, at,
                             "%s: join key \"%s\" of entity \"%s\" is not a column of source "
                             "\"%s\"",
                             ctx, jk->name, e->name, s->name);
                        continue;
                    }
                    for (size_t p = 0; p < k; p++) {
                        if (strcmp(s->schema[cols[p]].name, jk->name) == 0) {
                            perr(L, at,
                                 "%s: join key \"%s\" of entity \"%s\" is also a join key of "
                                 "another entity of this view",
                                 ctx, jk->name, e->name);
                            break;
                        }
                    }
                    cols[k++] = (size_t)c;
                    tess__type ct = s->schema[c].type;
                    if (ea->declared[j]) {
                        if (jk->type != ct)
                            perr(L, at,
                                 "%s: join key \"%s\" of entity \"%s\" has type %s, but column "
                                 "\"%s\" of source \"%s\" is %s",
                                 ctx, jk->name, e->name, tess__type_name(jk->type), jk->name,
                                 s->name, tess__type_name(ct));
                    } else if (!ea->inf_by[j]) {
                        jk->type = ct;
                        ea->inf_by[j] = v;
                    } else if (jk->type != ct) {
                        perr(L, at,
                             "%s: join key \"%s\" of entity \"%s\" is %s in source \"%s\" but %s "
                             "in source \"%s\" (feature view \"%s\"); declare its type in the "
                             "entity and make the sources agree",
                             ctx, jk->name, e->name, tess__type_name(ct), s->name,
                             tess__type_name(jk->type), ea->inf_by[j]->source->name,
                             ea->inf_by[j]->name);
                    }
                }
            }
            v->join_cols = cols;
            v->njoin = k;
        }

        /* features */
        tess__expr_var *vars = tess__malloc((s->nschema ? s->nschema : 1) * sizeof(*vars));
        if (!vars) {
            L->oom = true;
            return;
        }
        for (size_t i = 0; i < s->nschema; i++) {
            vars[i].name = s->schema[i].name;
            vars[i].type = s->schema[i].type;
        }
        for (size_t i = 0; i < v->nfeatures && !L->oom; i++) {
            tess__feature *ft = (tess__feature *)&v->features[i];
            if (!ft->name || ax->feat_bad[i]) continue;
            check_feature(L, v, ft, ax->feat_maps[i], vars, s->nschema);
        }
        tess__free(vars);
    }
}

typedef struct named_at {
    const char *name;
    const tess__ynode *at;
    size_t i;
} named_at;

static int named_at_cmp(const void *a, const void *b)
{
    const named_at *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c) return c;
    return (x->i > y->i) - (x->i < y->i);
}

static void link_odfs(loader *L)
{
    for (size_t oi = 0; oi < L->nby[K_ODF] && !L->oom; oi++) {
        obj *o = L->by[K_ODF][oi];
        tess__odf *d = o->model;
        odf_aux *ax = o->aux;
        char ctx[200];
        snprintf(ctx, sizeof(ctx), "on-demand feature \"%s\"", d->name);
        bool ok = !o->broken;
        const tess__feature **ins = A(L, (ax->nin ? ax->nin : 1) * sizeof(*ins));
        const char **refs = A(L, (ax->nin ? ax->nin : 1) * sizeof(*refs));
        if (!ins || !refs) return;
        for (size_t i = 0; i < ax->nin; i++) {
            const tess__ynode *at = ax->in_nodes[i];
            refs[i] = at->s;
            const char *colon = memchr(at->s, ':', at->n);
            if (!colon) {
                if (find_obj(L, K_ODF, at->s))
                    perr(L, at,
                         "%s: input \"%.*s\" is an on-demand feature; on-demand features may not "
                         "use other on-demand features (use its inputs instead)",
                         ctx, SHOW(at));
                else
                    perr(L, at,
                         "%s: input \"%.*s\" is not a feature reference; write "
                         "\"view:feature\"",
                         ctx, SHOW(at));
                ok = false;
                continue;
            }
            if (at->n - (size_t)(colon - at->s) == 2 && colon[1] == '*') {
                perr(L, at, "%s: inputs name single features (\"view:feature\"), not \"%.*s\"", ctx,
                     SHOW(at));
                ok = false;
                continue;
            }
            tess__ref_target t;
            tess__buf why = TESS__BUF_INIT;
            if (tess__defs_ref_lookup(L->d, at->s, at->n, &t, &why) != TESS_OK) {
                perr(L, at, "%s: %s", ctx, why.p ? why.p : "unknown feature");
                ok = false;
            } else {
                ins[i] = t.feature;
                if (t.feature->type == TESS_T_NULL) ok = false; /* its own error is reported */
            }
            tess__buf_release(&why);
        }
        d->inputs = ins;
        d->input_refs = refs;
        d->ninputs = ax->nin;

        /* the expression's names: input short names, then request fields; all distinct */
        size_t nn = ax->nin + d->nrequest;
        named_at *names = tess__malloc((nn ? nn : 1) * sizeof(*names));
        if (!names) {
            L->oom = true;
            return;
        }
        size_t k = 0;
        for (size_t i = 0; i < ax->nin; i++) {
            if (!ins[i]) continue;
            names[k].name = ins[i]->name;
            names[k].at = ax->in_nodes[i];
            names[k].i = k;
            k++;
        }
        for (size_t i = 0; i < d->nrequest; i++) {
            if (!d->request[i].name) continue;
            names[k].name = d->request[i].name;
            names[k].at = ax->req_nodes[i];
            names[k].i = k;
            k++;
        }
        qsort(names, k, sizeof(*names), named_at_cmp);
        for (size_t i = 1; i < k; i++) {
            if (strcmp(names[i].name, names[i - 1].name) == 0) {
                const tess__ynode *a = names[i - 1].at, *b = names[i].at;
                /* report at the later of the two positions */
                if (b->line < a->line || (b->line == a->line && b->col < a->col)) {
                    const tess__ynode *t = a;
                    a = b;
                    b = t;
                }
                perr(L, b,
                     "%s: the name \"%s\" is given twice to the expression (also at line %d, "
                     "column %d); an input feature and a request field, or two input features, "
                     "cannot share a name",
                     ctx, names[i].name, a->line, a->col);
                ok = false;
            }
        }
        tess__free(names);

        /* request fields sorted by name */
        tess__column *rq = (tess__column *)d->request;
        for (size_t i = 1; i < d->nrequest; i++) {
            for (size_t j = i;
                 j > 0 && rq[j - 1].name && rq[j].name && strcmp(rq[j - 1].name, rq[j].name) > 0;
                 j--) {
                tess__column t = rq[j];
                rq[j] = rq[j - 1];
                rq[j - 1] = t;
            }
        }
        if (!ok || !ax->expr_node) continue;

        tess__expr_var *vars = tess__malloc((nn ? nn : 1) * sizeof(*vars));
        if (!vars) {
            L->oom = true;
            return;
        }
        for (size_t i = 0; i < d->ninputs; i++) {
            vars[i].name = ins[i]->name;
            vars[i].type = ins[i]->type;
        }
        for (size_t i = 0; i < d->nrequest; i++) {
            vars[d->ninputs + i].name = rq[i].name;
            vars[d->ninputs + i].type = rq[i].type;
        }
        d->expr = compile_at(L, ax->expr_node, vars, nn, ctx, "expr");
        if (d->expr) d->type = tess__expr_type(d->expr);
        tess__free(vars);
    }
}

static void link_services(loader *L)
{
    for (size_t oi = 0; oi < L->nby[K_SERVICE] && !L->oom; oi++) {
        obj *o = L->by[K_SERVICE][oi];
        tess__service *s = o->model;
        svc_aux *ax = o->aux;
        char ctx[200];
        snprintf(ctx, sizeof(ctx), "feature service \"%s\"", s->name);
        tess__service_item *items = NULL;
        size_t n = 0, cap = 0;
        bool ok = true;
        for (size_t i = 0; i < s->nrefs; i++) {
            tess__ref_target t;
            tess__buf why = TESS__BUF_INIT;
            const tess__ynode *at = ax->ref_nodes[i];
            int rc = tess__defs_ref_lookup(L->d, at->s, at->n, &t, &why);
            if (rc != TESS_OK) perr(L, at, "%s: %s", ctx, why.p ? why.p : "unknown feature");
            tess__buf_release(&why);
            if (rc != TESS_OK) {
                ok = false;
                continue;
            }
            size_t add = t.view && !t.feature ? t.view->nfeatures : 1;
            if (n + add > cap) {
                size_t nc = cap ? cap * 2 : 16;
                while (nc < n + add)
                    nc *= 2;
                tess__service_item *nv = tess__realloc(items, nc * sizeof(*nv));
                if (!nv) {
                    L->oom = true;
                    break;
                }
                items = nv;
                cap = nc;
            }
            if (t.odf) {
                items[n].feature = NULL;
                items[n++].odf = t.odf;
            } else if (t.feature) {
                items[n].feature = t.feature;
                items[n++].odf = NULL;
            } else {
                for (size_t j = 0; j < t.view->nfeatures; j++) {
                    items[n].feature = &t.view->features[j];
                    items[n++].odf = NULL;
                }
            }
        }
        if (ok && !L->oom) {
            size_t m = tess__defs_dedupe_items(items, n);
            if (m == (size_t)-1) {
                L->oom = true;
            } else {
                tess__service_item *kept = A(L, (m ? m : 1) * sizeof(*kept));
                if (kept && m) memcpy(kept, items, m * sizeof(*kept));
                s->items = kept;
                s->nitems = m;
            }
        }
        tess__free(items);
    }
}

/* ---- the load --------------------------------------------------------------------------- */

void tess__defs_free(tess__defs *d)
{
    if (!d) return;
    for (size_t i = 0; i < d->nexprs; i++)
        tess__expr_free(d->exprs[i]);
    tess__free(d->exprs);
    tess__config_release(&d->config);
    tess__arena_release(&d->arena);
    tess__free(d);
}

void tess__config_release(tess__config *cfg)
{
    if (!cfg) return;
    tess__free(cfg->project);
    tess__free(cfg->store);
    tess__free(cfg->online);
    tess__free(cfg->registry);
    tess__free(cfg->offline);
    tess__free(cfg->description);
    memset(cfg, 0, sizeof(*cfg));
}

const char *tess__defs_project(const tess__defs *d)
{
    return d->config.project;
}

/* files[0] is tessera.yaml. */
static int load_core(const tess__defs_file *files, size_t nfiles, bool config_only,
                     tess__defs **out, tess__err *err)
{
    loader L;
    int rc = TESS_OK;
    memset(&L, 0, sizeof(L));
    L.config_only = config_only;
    *out = NULL;
    tess__err_clear(err);
    L.d = tess__calloc(1, sizeof(*L.d));
    if (!L.d) return tess__err_set(err, TESS_ENOMEM, "out of memory");
    const char **names = A(&L, nfiles * sizeof(*names));
    if (!names) goto out;
    for (size_t i = 0; i < nfiles; i++)
        if (!(names[i] = S(&L, files[i].name))) goto out;
    L.d->files = names;
    L.d->nfiles = nfiles;
    const char **texts = A(&L, nfiles * sizeof(*texts));
    size_t *lens = A(&L, nfiles * sizeof(*lens));
    if (!texts || !lens) goto out;
    for (size_t i = 0; i < nfiles; i++) {
        char *t = A(&L, files[i].len + 1);
        if (!t) goto out;
        if (files[i].len) memcpy(t, files[i].text, files[i].len);
        t[files[i].len] = '\0';
        texts[i] = t;
        lens[i] = files[i].len;
    }
    L.d->file_texts = texts;
    L.d->file_lens = lens;

    bool cfg_parsed = false;
    for (size_t i = 0; i < nfiles && !L.oom; i++) {
        tess__ynode *root = NULL;
        size_t before = L.diags.n + L.diags.dropped;
        if (!tess__ytree_parse(files[i].text, files[i].len, (int)i, &L.d->arena, &L.nodes, &L.diags,
                               &root)) {
            L.oom = true;
            break;
        }
        size_t added = L.diags.n + L.diags.dropped - before;
        if (i == 0) {
            L.config_problems += added;
            cfg_parsed = added == 0;
        } else {
            L.defs_problems += added;
        }
        read_file(&L, (int)i, root);
        if (config_only) break;
    }
    if (!L.oom && cfg_parsed && !L.saw_project) {
        tess__ydiag_add(&L.diags, 0, 1, 1, "missing required key \"project\" (the project name)");
        L.config_problems++;
    }
    if (!L.oom && !L.d->config.store) {
        L.d->config.store = tess__strdup(".tessera");
        if (!L.d->config.store) L.oom = true;
    }
    if (!config_only && !L.oom && check_names(&L)) {
        link_push_sources(&L);
        if (!L.oom) link_views(&L);
        if (!L.oom) link_odfs(&L);
        if (!L.oom) link_services(&L);
    }

out:
    if (L.oom || L.diags.oom) {
        rc = tess__err_set(err, TESS_ENOMEM, "out of memory");
    } else if (L.diags.n > 0 || L.diags.dropped > 0) {
        rc = L.defs_problems > 0 ? TESS_EDEFS : TESS_ECONFIG;
        tess__ydiags_sort(&L.diags);
        for (size_t i = 0; i < L.diags.n; i++) {
            const tess__ydiag *x = &L.diags.v[i];
            tess__err_add(err, rc, "%s:%d:%d: %s", L.d->files[x->file], x->line, x->col, x->msg);
        }
        if (L.diags.dropped)
            tess__err_add(err, rc, "... and %zu more problems (only the first %d are shown)",
                          L.diags.dropped, TESS__Y_MAX_DIAGS);
    }
    tess__ydiags_release(&L.diags);
    tess__free(L.objs);
    if (rc == TESS_OK) {
        *out = L.d;
    } else {
        tess__defs_free(L.d);
    }
    return rc;
}

/* Orders files: tessera.yaml first, then by name. */
static int file_cmp(const void *a, const void *b)
{
    const tess__defs_file *x = *(const tess__defs_file *const *)a,
                          *y = *(const tess__defs_file *const *)b;
    bool xc = strcmp(x->name, CONFIG_FILE) == 0, yc = strcmp(y->name, CONFIG_FILE) == 0;
    if (xc != yc) return xc ? -1 : 1;
    return strcmp(x->name, y->name);
}

int tess__defs_load_strings(const tess__defs_file *files, size_t nfiles, tess__defs **out,
                            tess__err *err)
{
    *out = NULL;
    const tess__defs_file **p = tess__malloc((nfiles ? nfiles : 1) * sizeof(*p));
    tess__defs_file *v = tess__malloc((nfiles ? nfiles : 1) * sizeof(*v));
    int rc;
    if (!p || !v) {
        rc = tess__err_set(err, TESS_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < nfiles; i++)
        p[i] = &files[i];
    qsort(p, nfiles, sizeof(*p), file_cmp);
    if (nfiles == 0 || strcmp(p[0]->name, CONFIG_FILE) != 0) {
        rc = tess__err_set(err, TESS_ECONFIG, CONFIG_FILE ": missing");
        goto out;
    }
    for (size_t i = 0; i < nfiles; i++)
        v[i] = *p[i];
    rc = load_core(v, nfiles, false, out, err);
out:
    tess__free(p);
    tess__free(v);
    return rc;
}

/* ---- reading the repo directory --------------------------------------------------------- */

static int read_whole(const char *dir, const char *name, char **text, size_t *len, tess__err *err)
{
    tess__buf path = TESS__BUF_INIT;
    FILE *fp = NULL;
    char *buf = NULL;
    int rc = TESS_OK;
    *text = NULL;
    *len = 0;
    if (tess__buf_printf(&path, "%s/%s", dir, name) != TESS_OK) {
        rc = tess__err_set(err, TESS_ENOMEM, "out of memory");
        goto out;
    }
    fp = fopen(path.p, "rb");
    if (!fp) {
        int e = errno;
        rc = tess__err_set(err,
                           e == ENOENT && strcmp(name, CONFIG_FILE) == 0 ? TESS_ECONFIG : TESS_EIO,
                           "%s: cannot open: %s", e == ENOENT ? path.p : name, strerror(e));
        goto out;
    }
    size_t cap = 4096, n = 0;
    buf = tess__malloc(cap);
    if (!buf) {
        rc = tess__err_set(err, TESS_ENOMEM, "out of memory");
        goto out;
    }
    for (;;) {
        if (n == cap) {
            if (cap >= MAX_FILE_BYTES) {
                rc = tess__err_set(err, TESS_EIO, "%s: larger than %u MiB", name,
                                   MAX_FILE_BYTES >> 20);
                goto out;
            }
            char *nb = tess__realloc(buf, cap * 2);
            if (!nb) {
                rc = tess__err_set(err, TESS_ENOMEM, "out of memory");
                goto out;
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, fp);
        n += got;
        if (got == 0) break;
    }
    if (ferror(fp)) {
        rc = tess__err_set(err, TESS_EIO, "%s: read error", name);
        goto out;
    }
    *text = buf;
    *len = n;
    buf = NULL;
out:
    if (fp) fclose(fp);
    tess__free(buf);
    tess__buf_release(&path);
    return rc;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static bool is_defs_file(const char *dir, const char *name)
{
    if (name[0] == '.' || strcmp(name, CONFIG_FILE) == 0) return false;
    if (!ends_with(name, ".yaml") && !ends_with(name, ".yml")) return false;
    tess__buf path = TESS__BUF_INIT;
    struct stat st;
    bool ok = tess__buf_printf(&path, "%s/%s", dir, name) == TESS_OK && stat(path.p, &st) == 0 &&
              S_ISREG(st.st_mode);
    tess__buf_release(&path);
    return ok;
}

/* Reads tessera.yaml, and the definition files unless config_only; then loads. */
static int load_dir(const char *repo_dir, bool config_only, tess__defs **out, tess__err *err)
{
    char **names = NULL;
    size_t n = 0, cap = 0;
    tess__defs_file *files = NULL;
    DIR *dir = NULL;
    int rc = TESS_OK;
    *out = NULL;
    tess__err_clear(err);

    names = tess__malloc(8 * sizeof(*names));
    if (!names) return tess__err_set(err, TESS_ENOMEM, "out of memory");
    cap = 8;
    names[n] = tess__strdup(CONFIG_FILE);
    if (!names[n]) {
        rc = tess__err_set(err, TESS_ENOMEM, "out of memory");
        goto out;
    }
    n++;
    if (!config_only) {
        dir = opendir(repo_dir);
        if (!dir) {
            rc = tess__err_set(err, TESS_EIO, "%s: cannot open: %s", repo_dir, strerror(errno));
            goto out;
        }
        struct dirent *de;
        while ((de = readdir(dir)) != NULL) {
            if (!is_defs_file(repo_dir, de->d_name)) continue;
            if (n == cap) {
                char **nv = tess__realloc(names, cap * 2 * sizeof(*nv));
                if (!nv) {
                    rc = tess__err_set(err, TESS_ENOMEM, "out of memory");
                    goto out;
                }
                names = nv;
                cap *= 2;
            }
            names[n] = tess__strdup(de->d_name);
            if (!names[n]) {
                rc = tess__err_set(err, TESS_ENOMEM, "out of memory");
                goto out;
            }
            n++;
        }
        qsort(names + 1, n - 1, sizeof(*names), name_cmp);
    }
    files = tess__calloc(n, sizeof(*files));
    if (!files) {
        rc = tess__err_set(err, TESS_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        char *text;
        files[i].name = names[i];
        rc = read_whole(repo_dir, names[i], &text, &files[i].len, err);
        if (rc != TESS_OK) goto out;
        files[i].text = text;
    }
    rc = load_core(files, n, config_only, out, err);
out:
    if (dir) closedir(dir);
    if (files)
        for (size_t i = 0; i < n; i++)
            tess__free((void *)files[i].text);
    tess__free(files);
    for (size_t i = 0; i < n; i++)
        tess__free(names[i]);
    tess__free(names);
    return rc;
}

int tess__defs_load(const char *repo_dir, tess__defs **out, tess__err *err)
{
    return load_dir(repo_dir, false, out, err);
}

int tess__config_load(const char *repo_dir, tess__config *cfg, tess__err *err)
{
    tess__defs *d = NULL;
    memset(cfg, 0, sizeof(*cfg));
    int rc = load_dir(repo_dir, true, &d, err);
    if (rc != TESS_OK) return rc == TESS_EDEFS ? TESS_ECONFIG : rc;
    *cfg = d->config;
    memset(&d->config, 0, sizeof(d->config));
    tess__defs_free(d);
    return TESS_OK;
}
