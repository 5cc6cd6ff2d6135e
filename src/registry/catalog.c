/* catalog.c — read queries over registry versions: list, describe, search.
 *
 * Every query runs in one read transaction (one snapshot, never waiting for a writer) and reads
 * the objects and edges valid in the version asked for (since_version <= v < until_version).
 *
 * Search: the text is split into words at white space; an object matches when every word is a
 * case-insensitive substring of its name, description, owner, or a key or value of its tags.
 * Ranking: an object whose name (or, for a feature, the part after the colon) equals the whole
 * text first; then more words found in the name; then more words found elsewhere; then catalog
 * order (kind, name). "matched" lists the fields where words were found, in the order name,
 * description, owner, tags.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "registry/reg_int.h"
#include "tessera.h"

#define OBJ_COLS "kind, name, owner, description, tags, body, since_version"

/* ---- shared ------------------------------------------------------------------------------ */

static int load_json(tess__registry *r, const char *text, json_t **out, tess__err *err)
{
    json_error_t jerr = {0};
    *out = json_loads(text, JSON_DECODE_ANY, &jerr);
    if (*out) return TESS_OK;
    if (tess__json_oom(&jerr))
        return tess__err_set(err, TESS_ENOMEM, "out of memory");
    return tess__err_set(err, TESS_EREGISTRY, "%s: a stored object is damaged: %s", r->path,
                         jerr.text);
}

/* A catalog item from a row of OBJ_COLS: {"kind","name","owner","description","tags",
 * "since_version"}, then (if `definition`) every other field of the object's stored JSON. A field
 * of the object named "kind" (a feature's "row" or "aggregate") is renamed "<kind>_kind"
 * ("feature_kind") so that "kind" always names the registry kind. */
static int row_item(tess__registry *r, sqlite3_stmt *st, int definition, json_t **out,
                    tess__err *err)
{
    json_t *o = json_object(), *tags = NULL, *body = NULL;
    const char *kind = tess__col_text(st, 0);
    char own_kind[64];
    int rc;
    *out = NULL;
    if (!o) return tess__err_set(err, TESS_ENOMEM, "out of memory");
    if ((rc = load_json(r, tess__col_text(st, 4), &tags, err))) goto out;
    if (definition && (rc = load_json(r, tess__col_text(st, 5), &body, err))) goto out;
    snprintf(own_kind, sizeof own_kind, "%s_kind", kind);
    if (json_object_set_new(o, "kind", json_string(kind)) ||
        json_object_set_new(o, "name", json_string(tess__col_text(st, 1))) ||
        json_object_set_new(o, "owner", json_string(tess__col_text(st, 2))) ||
        json_object_set_new(o, "description", json_string(tess__col_text(st, 3))) ||
        json_object_set(o, "tags", tags) ||
        json_object_set_new(o, "since_version", json_integer(sqlite3_column_int64(st, 6))) ||
        (json_object_get(body, "kind") &&
         json_object_set(o, own_kind, json_object_get(body, "kind"))) ||
        (body && json_object_update_missing(o, body))) {
        rc = tess__err_set(err, TESS_ENOMEM, "out of memory");
        goto out;
    }
    *out = o;
    o = NULL;
out:
    json_decref(o);
    json_decref(tags);
    json_decref(body);
    return rc;
}

int tess__reg_resolve(tess__registry *r, const char *name, int64_t v, tess__kind *kind,
                      tess__err *err)
{
    static const tess__kind order[] = {TESS__K_VIEW, TESS__K_ENTITY, TESS__K_SOURCE, TESS__K_ODF,
                                       TESS__K_SERVICE};
    static const tess__kind feature[] = {TESS__K_FEATURE};
    const tess__kind *kinds = strchr(name, ':') ? feature : order;
    size_t nk = strchr(name, ':') ? 1 : sizeof order / sizeof order[0];
    sqlite3_stmt *st = NULL;
    int rc = tess__reg_prepare(
        r, "SELECT 1 FROM objects WHERE kind = ?1 AND name = ?2 AND " TESS__VALID_SQL(3), &st, err);
    if (rc) return rc;
    rc = TESS_NOTFOUND;
    for (size_t i = 0; i < nk && rc == TESS_NOTFOUND; i++) {
        sqlite3_bind_text(st, 1, tess__kind_name(kinds[i]), -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, v);
        int src = sqlite3_step(st);
        sqlite3_reset(st);
        if (src == SQLITE_ROW) {
            *kind = kinds[i];
            rc = TESS_OK;
        } else if (src != SQLITE_DONE) {
            rc = tess__reg_sqlerr(r, err, src, "finding an object");
        }
    }
    sqlite3_finalize(st);
    if (rc == TESS_NOTFOUND)
        tess__err_set(err, rc, "no object named \"%s\" in registry version %lld", name,
                      (long long)v);
    return rc;
}

static int edge_qcmp(const void *a, const void *b)
{
    return tess__redge_cmp(a, b);
}

int tess__reg_load_edges(tess__registry *r, int64_t v, tess__redge **out, size_t *n, tess__err *err)
{
    sqlite3_stmt *st = NULL;
    tess__redge *e = NULL;
    size_t ne = 0, cap = 0;
    int rc, src;
    *out = NULL;
    *n = 0;
    if ((rc = tess__reg_prepare(
             r,
             "SELECT from_kind, from_name, to_kind, to_name FROM edges WHERE " TESS__VALID_SQL(1),
             &st, err)))
        return rc;
    sqlite3_bind_int64(st, 1, v);
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        tess__kind fk, tk;
        if (tess__kind_parse(tess__col_text(st, 0), &fk) ||
            tess__kind_parse(tess__col_text(st, 2), &tk)) {
            rc = tess__err_set(err, TESS_EREGISTRY, "%s: an edge has an unknown kind", r->path);
            goto out;
        }
        if (tess__redges_add(&e, &ne, &cap, fk, tess__col_text(st, 1), tk, tess__col_text(st, 3))) {
            rc = tess__err_set(err, TESS_ENOMEM, "out of memory");
            goto out;
        }
    }
    if (src != SQLITE_DONE) {
        rc = tess__reg_sqlerr(r, err, src, "reading edges");
        goto out;
    }
    if (ne) qsort(e, ne, sizeof *e, edge_qcmp);
    *out = e;
    *n = ne;
    e = NULL;
    ne = 0;
out:
    sqlite3_finalize(st);
    tess__redges_free(e, ne);
    return rc;
}

/* ---- list -------------------------------------------------------------------------------- */

static int kind_filter(const char *s, tess__kind *k)
{
    static const struct {
        const char *name;
        tess__kind kind;
    } names[] = {
        {"entities", TESS__K_ENTITY},
        {"entity", TESS__K_ENTITY},
        {"sources", TESS__K_SOURCE},
        {"source", TESS__K_SOURCE},
        {"views", TESS__K_VIEW},
        {"view", TESS__K_VIEW},
        {"feature_views", TESS__K_VIEW},
        {"feature_view", TESS__K_VIEW},
        {"features", TESS__K_FEATURE},
        {"feature", TESS__K_FEATURE},
        {"on_demand_features", TESS__K_ODF},
        {"on_demand_feature", TESS__K_ODF},
        {"services", TESS__K_SERVICE},
        {"service", TESS__K_SERVICE},
        {"feature_services", TESS__K_SERVICE},
        {"feature_service", TESS__K_SERVICE},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(s, names[i].name) == 0) {
            *k = names[i].kind;
            return 0;
        }
    }
    return -1;
}

int tess__registry_list(tess__registry *r, const char *kind, int64_t version, json_t **out,
                        tess__err *err)
{
    sqlite3_stmt *st = NULL;
    json_t *arr = NULL;
    tess__kind k = TESS__K_ENTITY;
    int64_t v;
    int rc, src;
    *out = NULL;
    if (kind && kind_filter(kind, &k))
        return tess__err_set(err, TESS_EINVAL,
                             "unknown kind \"%s\" (expected entities, sources, views, features, "
                             "on_demand_features or services)",
                             kind);
    if (!(arr = json_array())) return tess__err_set(err, TESS_ENOMEM, "out of memory");
    if ((rc = tess__reg_begin_read(r, err))) goto out;
    if ((rc = tess__reg_version(r, version, &v, err))) goto end;
    if ((rc = tess__reg_prepare(
             r,
             "SELECT " OBJ_COLS " FROM objects WHERE " TESS__VALID_SQL(
                 1) " AND (?2 IS NULL OR kind = ?2) ORDER BY " TESS__KIND_ORDER_SQL ", name",
             &st, err)))
        goto end;
    sqlite3_bind_int64(st, 1, v);
    if (kind) sqlite3_bind_text(st, 2, tess__kind_name(k), -1, SQLITE_STATIC);
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *item;
        if ((rc = row_item(r, st, 1, &item, err))) goto end;
        if (json_array_append_new(arr, item)) {
            rc = tess__err_set(err, TESS_ENOMEM, "out of memory");
            goto end;
        }
    }
    if (src != SQLITE_DONE) rc = tess__reg_sqlerr(r, err, src, "listing objects");
end:
    sqlite3_finalize(st);
    rc = tess__reg_end(r, rc, err);
out:
    if (rc == TESS_OK)
        *out = arr;
    else
        json_decref(arr);
    return rc;
}

/* ---- describe ---------------------------------------------------------------------------- */

/* [{"kind","name"}] of the direct neighbours of (k, name) in version v: upstream when `up`. */
static int neighbours(tess__registry *r, tess__kind k, const char *name, int64_t v, int up,
                      json_t **out, tess__err *err)
{
    static const char *const sql[2] = {
        "SELECT to_kind, to_name FROM edges WHERE from_kind = ?1 AND from_name = ?2 "
        "AND " TESS__VALID_SQL(3),
        "SELECT from_kind, from_name FROM edges WHERE to_kind = ?1 AND to_name = ?2 "
        "AND " TESS__VALID_SQL(3),
    };
    sqlite3_stmt *st = NULL;
    tess__redge *e = NULL;
    size_t n = 0, cap = 0;
    json_t *arr = json_array();
    int rc, src;
    *out = NULL;
    if (!arr) return tess__err_set(err, TESS_ENOMEM, "out of memory");
    if ((rc = tess__reg_prepare(r, sql[up], &st, err))) goto out;
    sqlite3_bind_text(st, 1, tess__kind_name(k), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, v);
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        tess__kind nk;
        if (tess__kind_parse(tess__col_text(st, 0), &nk)) continue;
        /* kept as edges from the neighbour so that they sort in catalog order */
        if (tess__redges_add(&e, &n, &cap, nk, tess__col_text(st, 1), k, name)) {
            rc = tess__err_set(err, TESS_ENOMEM, "out of memory");
            goto out;
        }
    }
    if (src != SQLITE_DONE) {
        rc = tess__reg_sqlerr(r, err, src, "reading edges");
        goto out;
    }
    if (n) qsort(e, n, sizeof *e, edge_qcmp);
    for (size_t i = 0; i < n; i++) {
        if (json_array_append_new(arr, tess__kn(e[i].fk, e[i].from))) {
            rc = tess__err_set(err, TESS_ENOMEM, "out of memory");
            goto out;
        }
    }
out:
    sqlite3_finalize(st);
    tess__redges_free(e, n);
    if (rc == TESS_OK)
        *out = arr;
    else
        json_decref(arr);
    return rc;
}

int tess__registry_describe(tess__registry *r, const char *name, int64_t version, json_t **out,
                            tess__err *err)
{
    sqlite3_stmt *st = NULL;
    json_t *item = NULL, *uses = NULL, *used_by = NULL;
    tess__kind k;
    int64_t v;
    int rc, src;
    *out = NULL;
    if (!name || !*name) return tess__err_set(err, TESS_EINVAL, "describe: no name given");
    if ((rc = tess__reg_begin_read(r, err))) return rc;
    if ((rc = tess__reg_version(r, version, &v, err)) ||
        (rc = tess__reg_resolve(r, name, v, &k, err)))
        goto end;
    if ((rc = tess__reg_prepare(r,
                                "SELECT " OBJ_COLS " FROM objects WHERE kind = ?1 AND name = ?2 "
                                "AND " TESS__VALID_SQL(3),
                                &st, err)))
        goto end;
    sqlite3_bind_text(st, 1, tess__kind_name(k), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, v);
    src = sqlite3_step(st);
    if (src != SQLITE_ROW) {
        rc = tess__reg_sqlerr(r, err, src == SQLITE_DONE ? SQLITE_CORRUPT : src, "describe");
        goto end;
    }
    if ((rc = row_item(r, st, 1, &item, err)) || (rc = neighbours(r, k, name, v, 1, &uses, err)) ||
        (rc = neighbours(r, k, name, v, 0, &used_by, err)))
        goto end;
    if (json_object_set_new(item, "version", json_integer(v)) ||
        json_object_set(item, "uses", uses) || json_object_set(item, "used_by", used_by))
        rc = tess__err_set(err, TESS_ENOMEM, "out of memory");
end:
    sqlite3_finalize(st);
    rc = tess__reg_end(r, rc, err);
    json_decref(uses);
    json_decref(used_by);
    if (rc == TESS_OK)
        *out = item;
    else
        json_decref(item);
    return rc;
}

/* ---- search ------------------------------------------------------------------------------ */

enum { F_NAME = 1, F_DESCRIPTION = 2, F_OWNER = 4, F_TAGS = 8 };

typedef struct hit {
    json_t *item;
    int exact, in_name, elsewhere;
    size_t order;
} hit;

static int hit_qcmp(const void *pa, const void *pb)
{
    const hit *a = pa, *b = pb;
    if (a->exact != b->exact) return b->exact - a->exact;
    if (a->in_name != b->in_name) return b->in_name - a->in_name;
    if (a->elsewhere != b->elsewhere) return b->elsewhere - a->elsewhere;
    return a->order < b->order ? -1 : a->order > b->order;
}

static int contains(const char *hay, const char *word)
{
    return hay && strcasestr(hay, word) != NULL;
}

/* The fields (F_*) of an object where `word` occurs. */
static int word_fields(const char *name, const char *description, const char *owner, json_t *tags,
                       const char *word)
{
    int f = 0;
    const char *k;
    json_t *v;
    if (contains(name, word)) f |= F_NAME;
    if (contains(description, word)) f |= F_DESCRIPTION;
    if (contains(owner, word)) f |= F_OWNER;
    json_object_foreach(tags, k, v)
    {
        if (contains(k, word) || contains(json_string_value(v), word)) {
            f |= F_TAGS;
            break;
        }
    }
    return f;
}

/* Splits text into words (pointers into the copy *buf). */
static int split_words(const char *text, char **buf, char ***words, size_t *n)
{
    size_t cap = 0;
    *n = 0;
    *words = NULL;
    if (!(*buf = tess__strdup(text))) return TESS_ENOMEM;
    for (char *p = *buf; *p;) {
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
            *p++ = '\0';
        if (!*p) break;
        if (*n == cap) {
            size_t nc = cap ? cap * 2 : 8;
            char **nw = tess__realloc(*words, nc * sizeof *nw);
            if (!nw) return TESS_ENOMEM;
            *words = nw;
            cap = nc;
        }
        (*words)[(*n)++] = p;
        while (*p && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
            p++;
    }
    return TESS_OK;
}

static int whole_text_is_name(const char *name, const char *text)
{
    size_t tl = strlen(text), s = 0;
    while (s < tl && strchr(" \t\r\n", text[s]))
        s++;
    while (tl > s && strchr(" \t\r\n", text[tl - 1]))
        tl--;
    const char *colon = strchr(name, ':');
    if (strlen(name) == tl - s && strncasecmp(name, text + s, tl - s) == 0) return 2;
    if (colon && strlen(colon + 1) == tl - s && strncasecmp(colon + 1, text + s, tl - s) == 0)
        return 1;
    return 0;
}

int tess__registry_search(tess__registry *r, const char *text, json_t **out, tess__err *err)
{
    sqlite3_stmt *st = NULL;
    char *buf = NULL, **words = NULL;
    size_t nwords = 0, nhits = 0, caphits = 0;
    hit *hits = NULL;
    json_t *arr = NULL;
    int64_t v;
    int rc, src;
    *out = NULL;
    if (!text) text = "";
    if (split_words(text, &buf, &words, &nwords) != TESS_OK) {
        rc = tess__err_set(err, TESS_ENOMEM, "out of memory");
        goto out;
    }
    if (nwords == 0) {
        rc = tess__err_set(err, TESS_EINVAL, "search: nothing to search for");
        goto out;
    }
    if ((rc = tess__reg_begin_read(r, err))) goto out;
    if ((rc = tess__reg_version(r, 0, &v, err))) goto end;
    if ((rc = tess__reg_prepare(r,
                                "SELECT " OBJ_COLS " FROM objects WHERE " TESS__VALID_SQL(
                                    1) " ORDER BY " TESS__KIND_ORDER_SQL ", name",
                                &st, err)))
        goto end;
    sqlite3_bind_int64(st, 1, v);
    for (size_t order = 0; (src = sqlite3_step(st)) == SQLITE_ROW; order++) {
        json_t *item = NULL, *matched = NULL;
        int all = 0, in_name = 0, elsewhere = 0, ok = 1;
        if ((rc = row_item(r, st, 0, &item, err))) goto end;
        const char *name = tess__col_text(st, 1);
        json_t *tags = json_object_get(item, "tags");
        for (size_t w = 0; w < nwords && ok; w++) {
            int f = word_fields(name, tess__col_text(st, 3), tess__col_text(st, 2), tags, words[w]);
            if (!f) ok = 0;
            all |= f;
            in_name += (f & F_NAME) != 0;
            elsewhere += (f & ~F_NAME) != 0;
        }
        if (!ok) {
            json_decref(item);
            continue;
        }
        if (!(matched = json_array()) || json_object_set_new(item, "matched", matched) ||
            ((all & F_NAME) && json_array_append_new(matched, json_string("name"))) ||
            ((all & F_DESCRIPTION) && json_array_append_new(matched, json_string("description"))) ||
            ((all & F_OWNER) && json_array_append_new(matched, json_string("owner"))) ||
            ((all & F_TAGS) && json_array_append_new(matched, json_string("tags")))) {
            json_decref(item);
            rc = tess__err_set(err, TESS_ENOMEM, "out of memory");
            goto end;
        }
        if (nhits == caphits) {
            size_t nc = caphits ? caphits * 2 : 32;
            hit *nh = tess__realloc(hits, nc * sizeof *nh);
            if (!nh) {
                json_decref(item);
                rc = tess__err_set(err, TESS_ENOMEM, "out of memory");
                goto end;
            }
            hits = nh;
            caphits = nc;
        }
        hits[nhits++] = (hit){item, whole_text_is_name(name, text), in_name, elsewhere, order};
    }
    if (src != SQLITE_DONE) rc = tess__reg_sqlerr(r, err, src, "searching");
end:
    sqlite3_finalize(st);
    rc = tess__reg_end(r, rc, err);
    if (rc == TESS_OK) {
        if (nhits) qsort(hits, nhits, sizeof *hits, hit_qcmp);
        if (!(arr = json_array())) rc = tess__err_set(err, TESS_ENOMEM, "out of memory");
        for (size_t i = 0; rc == TESS_OK && i < nhits; i++) {
            if (json_array_append(arr, hits[i].item))
                rc = tess__err_set(err, TESS_ENOMEM, "out of memory");
        }
    }
out:
    for (size_t i = 0; i < nhits; i++)
        json_decref(hits[i].item);
    tess__free(hits);
    tess__free(words);
    tess__free(buf);
    if (rc == TESS_OK)
        *out = arr;
    else
        json_decref(arr);
    return rc;
}
