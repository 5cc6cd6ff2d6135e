/* lineage.c — transitive lineage of one object in one version: everything upstream (what it is
 * computed from) and downstream (what is computed from it, up to the services), each with its
 * depth (the length of the shortest path), and the edges walked.
 *
 * The graph is the version's edges (model.c lists them); it is loaded whole (a registry holds
 * thousands of edges, not millions) and walked breadth-first in memory. Edges are listed once,
 * in catalog order, for both directions: every edge whose head is the object or upstream of it
 * and whose tail is upstream, and every edge whose tail is the object or downstream of it.
 */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "registry/reg_int.h"
#include "tessera.h"

typedef struct lnode {
    tess__kind kind;
    const char *name; /* borrowed from the edges */
    int depth;
} lnode;

typedef struct walk {
    lnode *v;
    size_t n, cap;
} walk;

static int walk_add(walk *w, tess__kind k, const char *name, int depth)
{
    for (size_t i = 0; i < w->n; i++)
        if (w->v[i].kind == k && strcmp(w->v[i].name, name) == 0) return TESS_OK;
    if (w->n == w->cap) {
        size_t nc = w->cap ? w->cap * 2 : 16;
        lnode *nv = tess__realloc(w->v, nc * sizeof *nv);
        if (!nv) return TESS_ENOMEM;
        w->v = nv;
        w->cap = nc;
    }
    w->v[w->n++] = (lnode){k, name, depth};
    return TESS_OK;
}

/* Breadth-first from w->v[0]; marks the edges walked in `used`. */
static int bfs(const tess__redge *e, size_t ne, int down, walk *w, unsigned char *used)
{
    for (size_t qi = 0; qi < w->n; qi++) {
        lnode cur = w->v[qi];
        for (size_t i = 0; i < ne; i++) {
            tess__kind ak = down ? e[i].fk : e[i].tk, bk = down ? e[i].tk : e[i].fk;
            const char *a = down ? e[i].from : e[i].to, *b = down ? e[i].to : e[i].from;
            if (ak != cur.kind || strcmp(a, cur.name) != 0) continue;
            used[i] = 1;
            if (walk_add(w, bk, b, cur.depth + 1) != TESS_OK) return TESS_ENOMEM;
        }
    }
    return TESS_OK;
}

static int lnode_qcmp(const void *pa, const void *pb)
{
    const lnode *a = pa, *b = pb;
    if (a->depth != b->depth) return a->depth - b->depth;
    if (a->kind != b->kind) return a->kind < b->kind ? -1 : 1;
    return strcmp(a->name, b->name);
}

/* [{"kind","name","depth"}] of the walk without its start, by depth then catalog order. */
static json_t *walk_json(walk *w)
{
    json_t *arr = json_array();
    if (!arr) return NULL;
    if (w->n > 1) qsort(w->v + 1, w->n - 1, sizeof *w->v, lnode_qcmp);
    for (size_t i = 1; i < w->n; i++) {
        json_t *o = json_pack("{s:s, s:s, s:i}", "kind", tess__kind_name(w->v[i].kind), "name",
                              w->v[i].name, "depth", w->v[i].depth);
        if (json_array_append_new(arr, o)) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

int tess__registry_lineage(tess__registry *r, const char *name, int64_t version, json_t **out,
                           tess__err *err)
{
    tess__redge *e = NULL;
    size_t ne = 0;
    walk up = {0}, down = {0};
    unsigned char *used = NULL;
    json_t *res = NULL, *edges = NULL;
    tess__kind k;
    int64_t v;
    int rc;
    *out = NULL;
    if (!name || !*name) return tess__err_set(err, TESS_EINVAL, "lineage: no name given");
    if ((rc = tess__reg_begin_read(r, err))) return rc;
    if (!(rc = tess__reg_version(r, version, &v, err)) &&
        !(rc = tess__reg_resolve(r, name, v, &k, err)))
        rc = tess__reg_load_edges(r, v, &e, &ne, err);
    if ((rc = tess__reg_end(r, rc, err))) goto out;

    if (!(used = tess__calloc(ne ? ne : 1, 1)) || walk_add(&up, k, name, 0) ||
        walk_add(&down, k, name, 0) || bfs(e, ne, 0, &up, used) || bfs(e, ne, 1, &down, used))
        goto oom;
    if (!(edges = json_array())) goto oom;
    for (size_t i = 0; i < ne; i++) {
        if (!used[i]) continue;
        json_t *o = json_pack("{s:o, s:o}", "from", tess__kn(e[i].fk, e[i].from), "to",
                              tess__kn(e[i].tk, e[i].to));
        if (json_array_append_new(edges, o)) goto oom;
    }
    res = json_pack("{s:s, s:s, s:I, s:o, s:o, s:O}", "name", name, "kind", tess__kind_name(k),
                    "version", (json_int_t)v, "upstream", walk_json(&up), "downstream",
                    walk_json(&down), "edges", edges);
    if (!res) goto oom;
    goto out;
oom:
    rc = tess__err_set(err, TESS_ENOMEM, "out of memory");
out:
    json_decref(edges);
    tess__free(used);
    tess__free(up.v);
    tess__free(down.v);
    tess__redges_free(e, ne);
    if (rc == TESS_OK)
        *out = res;
    else
        json_decref(res);
    return rc;
}
