/* diff.c — what a set of definitions changes against the latest version, and which feature
 * services (models) the change affects. Pure: works on two models (model.c), no SQLite.
 *
 * Objects are matched by (kind, name). An object is "changed" when its `own` JSON differs; the
 * "fields" listed are the top-level keys whose values differ (a view's features are objects of
 * their own, so adding a feature to a view adds a feature and leaves the view unchanged).
 *
 * "affected_services" lists, for every feature and on-demand feature whose values may change,
 * the services that exist both before and after and reach it downstream (directly, or through an
 * on-demand feature) in either version. Values may change when the feature or on-demand feature
 * is changed or removed, and — for every feature the view keeps — when its view changes in a field
 * other than description, owner or tags (entities, source, ttl, hop, ...): such a change alters the
 * values served to the model even though the feature's own JSON is unchanged. Entries with no
 * service are left out.
 */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "registry/reg_int.h"
#include "tessera.h"

typedef struct node {
    tess__kind kind;
    const char *name; /* borrowed from a model */
} node;

typedef struct nodes {
    node *v;
    size_t n, cap;
} nodes;

static int nodes_add(nodes *s, tess__kind k, const char *name)
{
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 16;
        node *nv = tess__realloc(s->v, nc * sizeof *nv);
        if (!nv) return TESS_ENOMEM;
        s->v = nv;
        s->cap = nc;
    }
    s->v[s->n].kind = k;
    s->v[s->n].name = name;
    s->n++;
    return TESS_OK;
}

static int nodes_has(const nodes *s, tess__kind k, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->v[i].kind == k && strcmp(s->v[i].name, name) == 0) return 1;
    return 0;
}

static int node_qcmp(const void *pa, const void *pb)
{
    const node *a = pa, *b = pb;
    if (a->kind != b->kind) return a->kind < b->kind ? -1 : 1;
    return strcmp(a->name, b->name);
}

static void nodes_sort_unique(nodes *s)
{
    size_t w = 0;
    if (s->n) qsort(s->v, s->n, sizeof *s->v, node_qcmp);
    for (size_t i = 0; i < s->n; i++)
        if (w == 0 || node_qcmp(&s->v[w - 1], &s->v[i]) != 0) s->v[w++] = s->v[i];
    s->n = w;
}

/* Index of the first edge leaving (k, name) in the sorted edges. */
static size_t first_out(const tess__rmodel *m, tess__kind k, const char *name)
{
    size_t lo = 0, hi = m->nedges;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const tess__redge *e = &m->edges[mid];
        int c = e->fk != k ? (e->fk < k ? -1 : 1) : strcmp(e->from, name);
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Adds to `out` every service downstream of (k, name) in m. */
static int reach_services(const tess__rmodel *m, tess__kind k, const char *name, nodes *out)
{
    nodes q = {0};
    int rc = nodes_add(&q, k, name);
    for (size_t qi = 0; rc == TESS_OK && qi < q.n; qi++) {
        node cur = q.v[qi];
        for (size_t i = first_out(m, cur.kind, cur.name);
             i < m->nedges && m->edges[i].fk == cur.kind && !strcmp(m->edges[i].from, cur.name);
             i++) {
            const tess__redge *e = &m->edges[i];
            if (nodes_has(&q, e->tk, e->to)) continue;
            if ((rc = nodes_add(&q, e->tk, e->to)) != TESS_OK) break;
            if (e->tk == TESS__K_SERVICE && (rc = nodes_add(out, e->tk, e->to)) != TESS_OK) break;
        }
    }
    tess__free(q.v);
    return rc;
}

static int str_qcmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The sorted top-level keys whose values differ between two objects. */
static json_t *diff_fields(const json_t *a, const json_t *b)
{
    json_t *fields = json_array();
    const char **keys = tess__malloc((json_object_size(a) + json_object_size(b)) * sizeof *keys);
    size_t n = 0;
    const char *k;
    json_t *v;
    if (!fields || !keys) goto oom;
    json_object_foreach((json_t *)a, k, v)
    {
        if (!json_equal(v, json_object_get(b, k))) keys[n++] = k;
    }
    json_object_foreach((json_t *)b, k, v)
    {
        if (!json_object_get(a, k)) keys[n++] = k;
    }
    if (n) qsort(keys, n, sizeof *keys, str_qcmp);
    for (size_t i = 0; i < n; i++)
        if (json_array_append_new(fields, json_string(keys[i]))) goto oom;
    tess__free(keys);
    return fields;
oom:
    tess__free(keys);
    json_decref(fields);
    return NULL;
}

/* Values of a view's features change with a change of any field but these. */
static int view_change_affects_values(const json_t *fields)
{
    size_t i;
    json_t *f;
    json_array_foreach(fields, i, f)
    {
        const char *s = json_string_value(f);
        if (strcmp(s, "description") && strcmp(s, "owner") && strcmp(s, "tags")) return 1;
    }
    return 0;
}

static int is_value_kind(tess__kind k)
{
    return k == TESS__K_FEATURE || k == TESS__K_ODF;
}

/* The affected_services entry of one feature / on-demand feature, or NULL in *out if none. */
static int affected_entry(const tess__rmodel *old, const tess__rmodel *cur, const node *f,
                          json_t **out)
{
    nodes svc = {0};
    int rc;
    json_t *names = NULL;
    *out = NULL;
    if ((rc = reach_services(old, f->kind, f->name, &svc)) != TESS_OK ||
        (rc = reach_services(cur, f->kind, f->name, &svc)) != TESS_OK)
        goto out;
    nodes_sort_unique(&svc);
    rc = TESS_ENOMEM;
    if (!(names = json_array())) goto out;
    for (size_t i = 0; i < svc.n; i++) {
        if (!tess__rmodel_find(old, TESS__K_SERVICE, svc.v[i].name) ||
            !tess__rmodel_find(cur, TESS__K_SERVICE, svc.v[i].name))
            continue;
        if (json_array_append_new(names, json_string(svc.v[i].name))) goto out;
    }
    rc = TESS_OK;
    if (json_array_size(names) == 0) goto out;
    *out = json_pack("{s:s, s:s, s:O}", "kind", tess__kind_name(f->kind), "name", f->name,
                     "services", names);
    if (!*out) rc = TESS_ENOMEM;
out:
    json_decref(names);
    tess__free(svc.v);
    return rc;
}

int tess__rmodel_diff(const tess__rmodel *old, const tess__rmodel *cur, json_t *plan)
{
    static const tess__rmodel empty = TESS__RMODEL_INIT;
    json_t *added = json_array(), *changed = json_array(), *removed = json_array();
    json_t *affected = json_array();
    nodes impacted = {0};
    int rc = TESS_ENOMEM;
    size_t i = 0, j = 0;

    if (!old) old = &empty;
    if (!added || !changed || !removed || !affected) goto out;
    while (i < old->nobjs || j < cur->nobjs) {
        const tess__robj *a = i < old->nobjs ? &old->objs[i] : NULL;
        const tess__robj *b = j < cur->nobjs ? &cur->objs[j] : NULL;
        int c =
            !a   ? 1
            : !b ? -1
                 : (a->kind != b->kind ? (a->kind < b->kind ? -1 : 1) : strcmp(a->name, b->name));
        if (c < 0) { /* removed */
            if (json_array_append_new(removed, tess__kn(a->kind, a->name))) goto out;
            if (is_value_kind(a->kind) && nodes_add(&impacted, a->kind, a->name)) goto out;
            i++;
        } else if (c > 0) { /* added */
            if (json_array_append_new(added, tess__kn(b->kind, b->name))) goto out;
            j++;
        } else {
            if (!json_equal(a->own, b->own)) {
                json_t *fields = diff_fields(a->own, b->own);
                if (!fields) goto out;
                json_t *ch = json_pack("{s:s, s:s, s:o}", "kind", tess__kind_name(b->kind), "name",
                                       b->name, "fields", fields);
                if (json_array_append_new(changed, ch)) goto out;
                if (is_value_kind(b->kind) && nodes_add(&impacted, b->kind, b->name)) goto out;
                if (b->kind == TESS__K_VIEW &&
                    view_change_affects_values(json_object_get(ch, "fields"))) {
                    for (size_t k = 0; k < cur->nobjs; k++) {
                        const tess__robj *f = &cur->objs[k];
                        if (f->kind == TESS__K_FEATURE && strcmp(f->view, b->name) == 0 &&
                            tess__rmodel_find(old, TESS__K_FEATURE, f->name) &&
                            nodes_add(&impacted, f->kind, f->name))
                            goto out;
                    }
                }
            }
            i++;
            j++;
        }
    }
    nodes_sort_unique(&impacted);
    for (size_t k = 0; k < impacted.n; k++) {
        json_t *e;
        if (affected_entry(old, cur, &impacted.v[k], &e) != TESS_OK) goto out;
        if (e && json_array_append_new(affected, e)) goto out;
    }
    if (json_object_set(plan, "added", added) || json_object_set(plan, "changed", changed) ||
        json_object_set(plan, "removed", removed) ||
        json_object_set(plan, "affected_services", affected))
        goto out;
    rc = TESS_OK;
out:
    json_decref(added);
    json_decref(changed);
    json_decref(removed);
    json_decref(affected);
    tess__free(impacted.v);
    return rc;
}
