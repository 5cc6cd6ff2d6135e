/* model.c — a canonical definitions document as registry objects and lineage edges.
 *
 * Objects: every entity, source, feature view, feature ("view:feature"), on-demand feature and
 * feature service of the document. A view's body is the view as written (with its features); a
 * feature's body is the feature's own JSON with its full name, "view", and the view's owner and
 * tags unless it has its own. What plan compares (`own`) leaves out what belongs to another
 * object: a view's "features".
 *
 * Edges (docs/registry.md): entity -> feature_view, source -> feature_view, batch source -> push
 * source, feature_view -> feature, feature -> on_demand_feature, feature -> feature_service,
 * on_demand_feature -> feature_service. A reference without a colon names an on-demand feature.
 *
 * Invariant after tess__rmodel_build: objs sorted by (kind, name) and unique; edges sorted and
 * unique. Names in edges need not name an object (the document is validated by src/defs).
 */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "registry/reg_int.h"
#include "tessera.h"

static const char *const kind_names[TESS__K_COUNT] = {
    "entity", "source", "feature_view", "feature", "on_demand_feature", "feature_service",
};

const char *tess__kind_name(tess__kind k)
{
    return (unsigned)k < TESS__K_COUNT ? kind_names[k] : "?";
}

int tess__kind_parse(const char *s, tess__kind *k)
{
    for (int i = 0; i < TESS__K_COUNT; i++) {
        if (strcmp(s, kind_names[i]) == 0) {
            *k = (tess__kind)i;
            return 0;
        }
    }
    return -1;
}

json_t *tess__kn(tess__kind k, const char *name)
{
    return json_pack("{s:s, s:s}", "kind", tess__kind_name(k), "name", name);
}

static int dump_cb(const char *buf, size_t size, void *data)
{
    return tess__buf_append(data, buf, size) == TESS_OK ? 0 : -1;
}

bool tess__json_oom(const json_error_t *e)
{
    return json_error_code(e) == json_error_out_of_memory || e->text[0] == '\0';
}

char *tess__json_text(const json_t *j, size_t flags)
{
    tess__buf b = TESS__BUF_INIT;
    if (json_dump_callback(j, dump_cb, &b, flags | JSON_ENCODE_ANY) != 0) {
        tess__buf_release(&b);
        return NULL;
    }
    return tess__buf_take(&b);
}

/* ---- edges ------------------------------------------------------------------------------ */

int tess__redge_cmp(const tess__redge *a, const tess__redge *b)
{
    int c;
    if (a->fk != b->fk) return a->fk < b->fk ? -1 : 1;
    if ((c = strcmp(a->from, b->from)) != 0) return c;
    if (a->tk != b->tk) return a->tk < b->tk ? -1 : 1;
    return strcmp(a->to, b->to);
}

static int edge_qcmp(const void *a, const void *b)
{
    return tess__redge_cmp(a, b);
}

int tess__redges_add(tess__redge **v, size_t *n, size_t *cap, tess__kind fk, const char *from,
                     tess__kind tk, const char *to)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        tess__redge *nv = tess__realloc(*v, nc * sizeof *nv);
        if (!nv) return TESS_ENOMEM;
        *v = nv;
        *cap = nc;
    }
    tess__redge *e = &(*v)[*n];
    e->fk = fk;
    e->tk = tk;
    e->from = tess__strdup(from);
    e->to = tess__strdup(to);
    if (!e->from || !e->to) {
        tess__free(e->from);
        tess__free(e->to);
        return TESS_ENOMEM;
    }
    (*n)++;
    return TESS_OK;
}

void tess__redges_free(tess__redge *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        tess__free(v[i].from);
        tess__free(v[i].to);
    }
    tess__free(v);
}

static int add_edge(tess__rmodel *m, tess__kind fk, const char *from, tess__kind tk, const char *to)
{
    return tess__redges_add(&m->edges, &m->nedges, &m->capedges, fk, from, tk, to);
}

/* A feature reference: "view:feature" is a feature, anything else an on-demand feature. */
static tess__kind ref_kind(const char *ref)
{
    return strchr(ref, ':') ? TESS__K_FEATURE : TESS__K_ODF;
}

/* ---- objects ---------------------------------------------------------------------------- */

static const char *str_or_empty(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

static int obj_cmp(const tess__robj *a, tess__kind k, const char *name)
{
    if (a->kind != k) return a->kind < k ? -1 : 1;
    return strcmp(a->name, name);
}

static int obj_qcmp(const void *pa, const void *pb)
{
    const tess__robj *b = pb;
    return obj_cmp(pa, b->kind, b->name);
}

const tess__robj *tess__rmodel_find(const tess__rmodel *m, tess__kind k, const char *name)
{
    size_t lo = 0, hi = m->nobjs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = obj_cmp(&m->objs[mid], k, name);
        if (c == 0) return &m->objs[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static void obj_release(tess__robj *o)
{
    tess__free(o->name);
    tess__free(o->view);
    tess__free(o->text);
    json_decref(o->body);
    json_decref(o->own);
}

/* Takes the references body and own (also on failure). */
static int add_obj(tess__rmodel *m, tess__kind k, const char *name, const char *view, json_t *body,
                   json_t *own)
{
    tess__robj o = {0};
    o.kind = k;
    o.body = body;
    o.own = own;
    o.name = tess__strdup(name);
    o.view = view ? tess__strdup(view) : NULL;
    if (!body || !own || !o.name || (view && !o.view)) goto oom;
    if (m->nobjs == m->capobjs) {
        size_t nc = m->capobjs ? m->capobjs * 2 : 16;
        tess__robj *nv = tess__realloc(m->objs, nc * sizeof *nv);
        if (!nv) goto oom;
        m->objs = nv;
        m->capobjs = nc;
    }
    o.owner = str_or_empty(body, "owner");
    o.description = str_or_empty(body, "description");
    o.tags = json_object_get(body, "tags");
    if (!json_is_object(o.tags)) o.tags = NULL;
    m->objs[m->nobjs++] = o;
    return TESS_OK;
oom:
    obj_release(&o);
    return TESS_ENOMEM;
}

void tess__rmodel_release(tess__rmodel *m)
{
    for (size_t i = 0; i < m->nobjs; i++)
        obj_release(&m->objs[i]);
    tess__free(m->objs);
    tess__redges_free(m->edges, m->nedges);
    *m = (tess__rmodel)TESS__RMODEL_INIT;
}

int tess__rmodel_texts(tess__rmodel *m)
{
    for (size_t i = 0; i < m->nobjs; i++) {
        if (m->objs[i].text) continue;
        m->objs[i].text = tess__json_text(m->objs[i].body, JSON_SORT_KEYS | JSON_COMPACT);
        if (!m->objs[i].text) return TESS_ENOMEM;
    }
    return TESS_OK;
}

/* ---- build ------------------------------------------------------------------------------ */

static int bad(tess__err *err, const char *section, size_t i, const char *what)
{
    return tess__err_set(err, TESS_EINVAL, "definitions document: %s[%zu]: %s", section, i, what);
}

/* The features of a view: objects and view -> feature edges. */
static int add_features(tess__rmodel *m, json_t *view, const char *vname, size_t vi, tess__err *err)
{
    json_t *feats = json_object_get(view, "features");
    if (!feats) return TESS_OK;
    if (!json_is_array(feats)) return bad(err, "feature_views", vi, "\"features\" is not a list");
    const char *owner = str_or_empty(view, "owner");
    json_t *tags = json_object_get(view, "tags");
    tess__buf full = TESS__BUF_INIT;
    int rc = TESS_OK;
    size_t i;
    json_t *f;
    json_array_foreach(feats, i, f)
    {
        const char *fname = json_string_value(json_object_get(f, "name"));
        if (!json_is_object(f) || !fname || !*fname) {
            rc = bad(err, "feature_views", vi, "a feature without a \"name\"");
            break;
        }
        tess__buf_reset(&full);
        if (tess__buf_printf(&full, "%s:%s", vname, fname) != TESS_OK) goto oom;
        json_t *body = json_copy(f);
        if (!body) goto oom;
        const char *fowner = str_or_empty(f, "owner");
        json_t *ftags = json_object_get(f, "tags");
        int bad_set = json_object_set_new(body, "name", json_string(full.p)) ||
                      json_object_set_new(body, "view", json_string(vname)) ||
                      json_object_set_new(body, "owner", json_string(*fowner ? fowner : owner));
        if (!bad_set) {
            json_t *t = (json_is_object(ftags) && json_object_size(ftags)) ? ftags : tags;
            bad_set = json_is_object(t) ? json_object_set(body, "tags", t)
                                        : json_object_set_new(body, "tags", json_object());
        }
        if (bad_set) {
            json_decref(body);
            goto oom;
        }
        if (add_obj(m, TESS__K_FEATURE, full.p, vname, body, json_incref(f)) != TESS_OK ||
            add_edge(m, TESS__K_VIEW, vname, TESS__K_FEATURE, full.p) != TESS_OK)
            goto oom;
    }
    tess__buf_release(&full);
    return rc;
oom:
    tess__buf_release(&full);
    return tess__err_set(err, TESS_ENOMEM, "out of memory");
}

/* Edges from a list of feature references to `to`; a reference "view:*" stands for all the
 * features of the view (documents from src/defs list services' "resolved" features instead). */
static int add_ref_edges(tess__rmodel *m, json_t *refs, tess__kind tk, const char *to,
                         const char *section, size_t idx, tess__err *err)
{
    size_t i;
    json_t *r;
    if (!refs) return TESS_OK;
    if (!json_is_array(refs)) return bad(err, section, idx, "feature references are not a list");
    json_array_foreach(refs, i, r)
    {
        const char *ref = json_string_value(r);
        if (!ref) return bad(err, section, idx, "a feature reference is not a string");
        size_t n = strlen(ref);
        if (n >= 2 && strcmp(ref + n - 2, ":*") == 0) {
            for (size_t k = 0; k < m->nobjs; k++) {
                const tess__robj *o = &m->objs[k];
                if (o->kind == TESS__K_FEATURE && strlen(o->view) == n - 2 &&
                    strncmp(o->view, ref, n - 2) == 0 &&
                    add_edge(m, TESS__K_FEATURE, o->name, tk, to) != TESS_OK)
                    return tess__err_set(err, TESS_ENOMEM, "out of memory");
            }
            continue;
        }
        if (add_edge(m, ref_kind(ref), ref, tk, to) != TESS_OK)
            return tess__err_set(err, TESS_ENOMEM, "out of memory");
    }
    return TESS_OK;
}

static const struct {
    const char *key;
    tess__kind kind;
} sections[] = {
    /* views before services: a service's "view:*" expands over the views' features */
    {"entities", TESS__K_ENTITY},          {"sources", TESS__K_SOURCE},
    {"feature_views", TESS__K_VIEW},       {"on_demand_features", TESS__K_ODF},
    {"feature_services", TESS__K_SERVICE},
};

static int add_section(tess__rmodel *m, json_t *doc, const char *key, tess__kind kind,
                       tess__err *err)
{
    json_t *arr = json_object_get(doc, key);
    size_t i;
    json_t *o;
    int rc;
    if (!arr || json_is_null(arr)) return TESS_OK;
    if (!json_is_array(arr))
        return tess__err_set(err, TESS_EINVAL, "definitions document: \"%s\" is not a list", key);
    json_array_foreach(arr, i, o)
    {
        const char *name = json_string_value(json_object_get(o, "name"));
        if (!json_is_object(o) || !name || !*name)
            return bad(err, key, i, "expected an object with a \"name\"");
        json_t *own = json_incref(o);
        if (kind == TESS__K_VIEW) {
            json_decref(own);
            own = json_copy(o);
            if (own && json_object_get(own, "features") && json_object_del(own, "features")) {
                json_decref(own);
                own = NULL;
            }
        }
        if (add_obj(m, kind, name, NULL, json_incref(o), own) != TESS_OK)
            return tess__err_set(err, TESS_ENOMEM, "out of memory");
        rc = TESS_OK;
        switch (kind) {
        case TESS__K_SOURCE: {
            const char *bs = json_string_value(json_object_get(o, "batch_source"));
            if (bs && *bs && add_edge(m, TESS__K_SOURCE, bs, TESS__K_SOURCE, name) != TESS_OK)
                rc = TESS_ENOMEM;
            break;
        }
        case TESS__K_VIEW: {
            json_t *ents = json_object_get(o, "entities"), *e;
            const char *src = json_string_value(json_object_get(o, "source"));
            size_t k;
            if (ents && !json_is_array(ents)) return bad(err, key, i, "\"entities\" is not a list");
            json_array_foreach(ents, k, e)
            {
                const char *en = json_string_value(e);
                if (!en) return bad(err, key, i, "an entity name is not a string");
                if (add_edge(m, TESS__K_ENTITY, en, TESS__K_VIEW, name) != TESS_OK)
                    rc = TESS_ENOMEM;
            }
            if (src && *src && add_edge(m, TESS__K_SOURCE, src, TESS__K_VIEW, name) != TESS_OK)
                rc = TESS_ENOMEM;
            if (rc == TESS_OK && (rc = add_features(m, o, name, i, err)) != TESS_OK) return rc;
            break;
        }
        case TESS__K_ODF:
            if ((rc = add_ref_edges(m, json_object_get(o, "features"), kind, name, key, i, err)))
                return rc;
            break;
        case TESS__K_SERVICE: {
            json_t *refs = json_object_get(o, "resolved");
            if (!refs) refs = json_object_get(o, "features");
            if ((rc = add_ref_edges(m, refs, kind, name, key, i, err))) return rc;
            break;
        }
        default:
            break;
        }
        if (rc != TESS_OK) return tess__err_set(err, TESS_ENOMEM, "out of memory");
    }
    return TESS_OK;
}

int tess__rmodel_build(json_t *doc, tess__rmodel *m, tess__err *err)
{
    int rc = TESS_OK;
    *m = (tess__rmodel)TESS__RMODEL_INIT;
    if (!json_is_object(doc)) {
        rc = tess__err_set(err, TESS_EINVAL, "definitions document: expected a JSON object");
        goto out;
    }
    for (size_t s = 0; s < sizeof sections / sizeof sections[0]; s++)
        if ((rc = add_section(m, doc, sections[s].key, sections[s].kind, err)) != TESS_OK) goto out;
    if (m->nobjs) qsort(m->objs, m->nobjs, sizeof *m->objs, obj_qcmp);
    for (size_t i = 1; i < m->nobjs; i++) {
        if (obj_qcmp(&m->objs[i - 1], &m->objs[i]) == 0) {
            rc = tess__err_set(err, TESS_EINVAL, "definitions document: duplicate %s \"%s\"",
                               tess__kind_name(m->objs[i].kind), m->objs[i].name);
            goto out;
        }
    }
    if (m->nedges) qsort(m->edges, m->nedges, sizeof *m->edges, edge_qcmp);
    size_t w = 0;
    for (size_t i = 0; i < m->nedges; i++) {
        if (w > 0 && tess__redge_cmp(&m->edges[w - 1], &m->edges[i]) == 0) {
            tess__free(m->edges[i].from);
            tess__free(m->edges[i].to);
            continue;
        }
        m->edges[w++] = m->edges[i];
    }
    m->nedges = w;
out:
    if (rc != TESS_OK) tess__rmodel_release(m);
    return rc;
}
