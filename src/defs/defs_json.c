/* defs_json.c — the canonical JSON document of validated definitions (defs.h has the shape).
 *
 * Canonical means: independent of file layout, object order and formatting. Top-level arrays
 * follow the model's arrays, which are sorted by name; durations are printed in their shortest
 * exact form ("60m" -> "1h"); absent strings are "", absent tags {}; no source locations.
 * Lists whose order means something keep the written order: join keys, schema columns, a view's
 * entities and features (the output column order), on-demand inputs, a service's features.
 * On-demand request fields are a mapping, sorted by name. Expressions are kept as written
 * (trimmed). Every jansson failure is out of memory: the document is dropped and NULL returned.
 */
#include <jansson.h>

#include "core/alloc.h"
#include "core/time.h"
#include "core/value.h"
#include "defs/defs.h"
#include "defs/defs_model.h"
#include "tessera.h"

typedef struct jb {
    int bad;
} jb;

/* Both steal v (jansson's *_new functions decref it even when they fail). */
static void put(jb *b, json_t *o, const char *k, json_t *v)
{
    if (!o || !v) {
        json_decref(v);
        b->bad = 1;
    } else if (json_object_set_new(o, k, v) != 0) {
        b->bad = 1;
    }
}

static void push(jb *b, json_t *a, json_t *v)
{
    if (!a || !v) {
        json_decref(v);
        b->bad = 1;
    } else if (json_array_append_new(a, v) != 0) {
        b->bad = 1;
    }
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *duration(int64_t us)
{
    char buf[32];
    tess__duration_format(us, buf);
    return json_string(buf);
}

static json_t *type_json(tess__type t)
{
    return t == TESS_T_NULL ? json_null() : json_string(tess__type_name(t));
}

static void meta(jb *b, json_t *o, const tess__meta *m)
{
    json_t *tags = json_object();
    for (size_t i = 0; i < m->ntags && tags; i++)
        put(b, tags, m->tags[i].key, json_string(m->tags[i].value));
    put(b, o, "description", json_string(m->description ? m->description : ""));
    put(b, o, "owner", json_string(m->owner ? m->owner : ""));
    put(b, o, "tags", tags);
}

static json_t *columns(jb *b, const tess__column *c, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_object();
        put(b, o, "name", json_string(c[i].name));
        put(b, o, "type", type_json(c[i].type));
        push(b, a, o);
    }
    return a;
}

static json_t *entity(jb *b, const tess__entity *e)
{
    json_t *o = json_object();
    put(b, o, "name", json_string(e->name));
    put(b, o, "join_keys", columns(b, e->join_keys, e->njoin_keys));
    meta(b, o, &e->meta);
    return o;
}

static json_t *source(jb *b, const tess__source *s)
{
    json_t *o = json_object();
    bool batch = s->kind == TESS_SOURCE_BATCH;
    char delim[2] = {s->delimiter, 0};
    put(b, o, "name", json_string(s->name));
    put(b, o, "type", json_string(batch ? "batch" : "push"));
    put(b, o, "path", str_or_null(batch ? s->path : NULL));
    put(b, o, "format",
        str_or_null(!batch                         ? NULL
                    : s->format == TESS_FORMAT_CSV ? "csv"
                                                   : "jsonl"));
    put(b, o, "delimiter", str_or_null(batch && s->format == TESS_FORMAT_CSV ? delim : NULL));
    put(b, o, "timestamp", json_string(s->nschema ? s->schema[s->ts_col].name : ""));
    put(b, o, "created_timestamp",
        str_or_null(s->created_col >= 0 ? s->schema[s->created_col].name : NULL));
    put(b, o, "batch_source", str_or_null(s->batch_source ? s->batch_source->name : NULL));
    put(b, o, "schema", columns(b, s->schema, s->nschema));
    meta(b, o, &s->meta);
    return o;
}

static json_t *feature(jb *b, const tess__feature *f)
{
    json_t *o = json_object();
    bool agg = f->kind == TESS_FEATURE_AGG;
    put(b, o, "name", json_string(f->name));
    put(b, o, "type", type_json(f->type));
    put(b, o, "kind", json_string(agg ? "aggregate" : "row"));
    put(b, o, "expr", str_or_null(f->expr_src));
    put(b, o, "agg", str_or_null(agg ? tess__agg_name(f->agg) : NULL));
    put(b, o, "where", str_or_null(f->where_src));
    put(b, o, "window", agg && f->window_us > 0 ? duration(f->window_us) : json_null());
    put(b, o, "description", json_string(f->description ? f->description : ""));
    return o;
}

static json_t *view(jb *b, const tess__view *v)
{
    json_t *o = json_object(), *ents = json_array(), *fs = json_array();
    put(b, o, "name", json_string(v->name));
    for (size_t i = 0; i < v->nentities; i++)
        push(b, ents, json_string(v->entities[i]->name));
    put(b, o, "entities", ents);
    put(b, o, "source", json_string(v->source->name));
    put(b, o, "ttl", v->ttl_us > 0 ? duration(v->ttl_us) : json_null());
    /* only when set: the documents (and the online fingerprints hashed from them) of views
       without it stay as they were before the field existed */
    if (v->online_expiry_us > 0) put(b, o, "online_expiry", duration(v->online_expiry_us));
    put(b, o, "hop", duration(v->hop_us));
    put(b, o, "online", json_boolean(v->online));
    for (size_t i = 0; i < v->nfeatures; i++)
        push(b, fs, feature(b, &v->features[i]));
    put(b, o, "features", fs);
    meta(b, o, &v->meta);
    return o;
}

static json_t *ref_json(const tess__service_item *it)
{
    if (it->odf) return json_string(it->odf->name);
    return json_pack("s++", it->feature->view->name, ":", it->feature->name);
}

static json_t *odf(jb *b, const tess__odf *d)
{
    json_t *o = json_object(), *ins = json_array();
    put(b, o, "name", json_string(d->name));
    put(b, o, "type", type_json(d->type));
    put(b, o, "expr", json_string(d->expr_src));
    for (size_t i = 0; i < d->ninputs; i++) {
        tess__service_item it = {d->inputs[i], NULL};
        push(b, ins, ref_json(&it));
    }
    put(b, o, "features", ins);
    put(b, o, "request", columns(b, d->request, d->nrequest));
    meta(b, o, &d->meta);
    return o;
}

static json_t *service(jb *b, const tess__service *s)
{
    json_t *o = json_object(), *refs = json_array(), *res = json_array();
    put(b, o, "name", json_string(s->name));
    for (size_t i = 0; i < s->nrefs; i++)
        push(b, refs, json_string(s->refs[i]));
    for (size_t i = 0; i < s->nitems; i++)
        push(b, res, ref_json(&s->items[i]));
    put(b, o, "features", refs);
    put(b, o, "resolved", res);
    meta(b, o, &s->meta);
    return o;
}

json_t *tess__defs_to_json(const tess__defs *d)
{
    jb b = {0};
    json_t *doc = json_object();
    json_t *es = json_array(), *ss = json_array(), *vs = json_array(), *os = json_array(),
           *fs = json_array();
    for (size_t i = 0; i < d->nentities; i++)
        push(&b, es, entity(&b, d->entities[i]));
    for (size_t i = 0; i < d->nsources; i++)
        push(&b, ss, source(&b, d->sources[i]));
    for (size_t i = 0; i < d->nviews; i++)
        push(&b, vs, view(&b, d->views[i]));
    for (size_t i = 0; i < d->nodfs; i++)
        push(&b, os, odf(&b, d->odfs[i]));
    for (size_t i = 0; i < d->nservices; i++)
        push(&b, fs, service(&b, d->services[i]));
    put(&b, doc, "project", json_string(d->config.project ? d->config.project : ""));
    put(&b, doc, "entities", es);
    put(&b, doc, "sources", ss);
    put(&b, doc, "feature_views", vs);
    put(&b, doc, "on_demand_features", os);
    put(&b, doc, "feature_services", fs);
    if (b.bad) {
        json_decref(doc);
        return NULL;
    }
    return doc;
}

json_t *tess__defs_files_json(const tess__defs *d)
{
    json_t *arr = json_array();
    if (!arr) return NULL;
    for (size_t i = 0; i < d->nfiles; i++) {
        json_t *o = json_pack("{s:s, s:s#}", "name", d->files[i], "text", d->file_texts[i],
                              (int)d->file_lens[i]);
        if (!o || json_array_append_new(arr, o)) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

int tess__defs_load_json(const json_t *files, tess__defs **out, tess__err *err)
{
    size_t n = json_is_array(files) ? json_array_size(files) : 0;
    *out = NULL;
    if (!json_is_array(files))
        return tess__err_set(err, TESS_EINVAL, "definition files: expected a JSON array");
    tess__defs_file *v = tess__calloc(n ? n : 1, sizeof(*v));
    if (!v) return tess__err_set(err, TESS_ENOMEM, "out of memory");
    int rc = TESS_OK;
    for (size_t i = 0; i < n; i++) {
        const json_t *o = json_array_get(files, i);
        const json_t *name = json_object_get(o, "name"), *text = json_object_get(o, "text");
        if (!json_is_string(name) || !json_is_string(text)) {
            rc = tess__err_set(err, TESS_EINVAL, "definition files: entry %zu is not {name, text}",
                               i);
            goto out;
        }
        v[i].name = json_string_value(name);
        v[i].text = json_string_value(text);
        v[i].len = json_string_length(text);
    }
    rc = tess__defs_load_strings(v, n, out, err);
out:
    tess__free(v);
    return rc;
}
