/* pit.c — point-in-time training sets (pit.h).
 *
 * The path of one training set:
 *   1. resolve the requested features (a service, or a list of references) and the features
 *      on-demand features need as inputs; group them by feature view;
 *   2. load the labels: CSV rows are read as strings (every column passes through unchanged),
 *      JSON Lines are kept as their raw lines; the columns the join needs (join keys, the
 *      timestamp, on-demand request fields) are parsed to typed columns;
 *   3. per view: sort the label rows by (encoded join key, t, row) (radix sorts: by (t, row)
 *      once for every view, then stably by key), scan the view's layout of the event store
 *      restricted to those keys and to the columns the view's expressions read (events come
 *      sorted by key, ts, created ts, seq; one entity's rows are never split across batches),
 *      and merge-join one entity at a time: row-level features take the last event with ts <= t (the sort order already
 *      breaks ties by created ts, then seq) within the ttl; window features come from the
 *      window engine (window.h), which the online store shares;
 *   4. on-demand features are evaluated over the joined columns;
 *   5. the output is written to a temporary file and renamed into place.
 *
 * Memory: the labels, one typed column per feature, and one scan batch at a time; events are
 * never all loaded (a training set for few labels reads only those entities' blocks).
 */
#include "offline/pit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "core/buf.h"
#include "core/time.h"
#include "expr/expr_int.h"
#include "offline/batch.h"
#include "offline/reader.h"
#include "offline/segment.h"
#include "offline/window.h"
#include "offline/writer.h"

#define OOM(err) tess__err_set((err), TESS_ENOMEM, "out of memory")

/* ---- labels ------------------------------------------------------------------------------ */

typedef struct labels {
    const char *path;
    tess__format fmt;
    size_t n;
    /* CSV: every column as strings, in file order */
    char **names;
    size_t ncols;
    tess__batch rows;
    /* JSON Lines: each row's line without its line end (bytes in arena) */
    tess__str *lines;
    json_t **objs; /* parsed lines, freed once the typed columns are extracted */
    tess__arena arena;
} labels;

static void labels_release(labels *l)
{
    for (size_t i = 0; i < l->ncols; i++) tess__free(l->names[i]);
    tess__free(l->names);
    tess__batch_release(&l->rows);
    if (l->objs)
        for (size_t i = 0; i < l->n; i++) json_decref(l->objs[i]);
    tess__free(l->objs);
    tess__free(l->lines);
    tess__arena_release(&l->arena);
}

/* The header of a CSV file: its field names (quotes removed). */
static int csv_header(const char *path, char ***names, size_t *n, tess__err *err)
{
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0;
    int rc = TESS_OK;
    *names = NULL;
    *n = 0;
    if (!f) return tess__err_set(err, TESS_EIO, "%s: cannot open: %s", path, strerror(errno));
    ssize_t len = getline(&line, &cap, f);
    if (len <= 0) {
        rc = tess__err_set(err, TESS_EPARSE,
                           "%s: empty file: expected a header line naming the join keys and the "
                           "timestamp column",
                           path);
        goto out;
    }
    size_t start = 0;
    if (len >= 3 && (unsigned char)line[0] == 0xEF && (unsigned char)line[1] == 0xBB &&
        (unsigned char)line[2] == 0xBF)
        start = 3;
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = '\0';
    size_t cnt = 1;
    for (ssize_t i = (ssize_t)start; i < len; i++) cnt += line[i] == ',';
    if (!(*names = tess__calloc(cnt, sizeof(char *)))) goto nomem;
    for (size_t i = start;;) {
        size_t j = i;
        while (j < (size_t)len && line[j] != ',') j++;
        const char *p = line + i;
        size_t m = j - i;
        if (m >= 2 && p[0] == '"' && p[m - 1] == '"') p++, m -= 2;
        if (!((*names)[(*n)++] = tess__strndup(p, m))) goto nomem;
        if (j >= (size_t)len) break;
        i = j + 1;
    }
    goto out;
nomem:
    rc = OOM(err);
out:
    free(line);
    fclose(f);
    return rc;
}

static int load_csv(labels *l, tess__err *err)
{
    int rc;
    tess__column *cols = NULL;
    tess__type *types = NULL;
    tess__reader *r = NULL;
    tess__batch b = {0};
    if ((rc = csv_header(l->path, &l->names, &l->ncols, err))) return rc;
    cols = tess__calloc(l->ncols, sizeof(*cols));
    types = tess__calloc(l->ncols, sizeof(*types));
    if (!cols || !types) goto nomem;
    for (size_t i = 0; i < l->ncols; i++) {
        cols[i].name = l->names[i];
        cols[i].type = types[i] = TESS_T_STRING;
        for (size_t j = 0; j < i; j++)
            if (strcmp(l->names[i], l->names[j]) == 0) {
                rc = tess__err_set(err, TESS_EPARSE, "%s:1: column \"%s\" appears twice",
                                   l->path, l->names[i]);
                goto out;
            }
    }
    /* the labels' own schema: every column a string, so that each passes through unchanged */
    tess__source src;
    memset(&src, 0, sizeof(src));
    src.name = "labels";
    src.kind = TESS_SOURCE_BATCH;
    src.path = l->path;
    src.format = TESS_FORMAT_CSV;
    src.delimiter = ',';
    src.schema = cols;
    src.nschema = l->ncols;
    src.created_col = -1;
    tess__reader_opts ro;
    memset(&ro, 0, sizeof(ro));
    ro.format = TESS_FORMAT_CSV;
    ro.delimiter = ',';
    ro.display = l->path;
    if ((rc = tess__reader_open(l->path, &src, &ro, &r, err))) goto out;
    if ((rc = tess__batch_init(&b, types, l->ncols, 65536)) ||
        (rc = tess__batch_init(&l->rows, types, l->ncols, 65536)))
        goto nomem;
    while ((rc = tess__reader_next(r, &b, err)) == TESS_OK) {
        if ((rc = tess__batch_reserve(&l->rows, l->rows.nrows + b.nrows)) ||
            (rc = tess__batch_append(&l->rows, &b, 0, b.nrows, NULL)))
            goto nomem;
    }
    if (rc != TESS_NOTFOUND) goto out;
    l->n = l->rows.nrows;
    rc = TESS_OK;
    goto out;
nomem:
    rc = OOM(err);
out:
    tess__reader_close(r);
    tess__batch_release(&b);
    tess__free(cols);
    tess__free(types);
    return rc;
}

static int load_jsonl(labels *l, tess__err *err)
{
    FILE *f = fopen(l->path, "r");
    char *line = NULL;
    size_t cap = 0, lcap = 0;
    uint64_t lineno = 0;
    int rc = TESS_OK;
    if (!f) return tess__err_set(err, TESS_EIO, "%s: cannot open: %s", l->path, strerror(errno));
    ssize_t len;
    while ((len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r' || line[len - 1] == ' '))
            len--;
        size_t s = 0;
        while (s < (size_t)len && (line[s] == ' ' || line[s] == '\t')) s++;
        if (s == (size_t)len) continue; /* blank line */
        json_error_t je;
        json_t *o = json_loadb(line + s, (size_t)len - s, JSON_REJECT_DUPLICATES, &je);
        if (!o || !json_is_object(o)) {
            json_decref(o);
            rc = tess__err_set(err, TESS_EPARSE, "%s:%llu:%d: %s", l->path,
                               (unsigned long long)lineno, o ? 1 : je.column + (int)s,
                               o ? "expected a JSON object" : je.text);
            goto out;
        }
        if (l->n == lcap) {
            size_t nc = lcap ? lcap * 2 : 1024;
            json_t **no = tess__realloc(l->objs, nc * sizeof(*no));
            if (!no) {
                json_decref(o);
                goto nomem;
            }
            l->objs = no;
            tess__str *nl = tess__realloc(l->lines, nc * sizeof(*nl));
            if (!nl) {
                json_decref(o);
                goto nomem;
            }
            l->lines = nl;
            lcap = nc;
        }
        char *copy = tess__arena_strndup(&l->arena, line + s, (size_t)len - s);
        if (!copy) {
            json_decref(o);
            goto nomem;
        }
        l->objs[l->n] = o;
        l->lines[l->n] = (tess__str){copy, (size_t)len - s};
        l->n++;
    }
    if (ferror(f)) rc = tess__err_set(err, TESS_EIO, "%s: read failed", l->path);
    goto out;
nomem:
    rc = OOM(err);
out:
    free(line);
    fclose(f);
    return rc;
}

/* Where a label row is, for messages. */
static void row_where(const labels *l, size_t row, char *buf, size_t n)
{
    if (l->fmt == TESS_FORMAT_CSV)
        snprintf(buf, n, "%s: row %zu", l->path, row + 1);
    else
        snprintf(buf, n, "%s: object %zu", l->path, row + 1);
}

/* Parses the text of a label cell as `type`. */
static bool parse_text(const char *p, size_t n, tess__type type, tess__value *v)
{
    v->type = type;
    v->null = false;
    switch (type) {
    case TESS_T_INT64: return tess__expr_parse_int(p, n, &v->u.i);
    case TESS_T_FLOAT64: return tess__expr_parse_float(p, n, &v->u.f);
    case TESS_T_BOOL: return tess__expr_parse_bool(p, n, &v->u.b);
    case TESS_T_TIMESTAMP: return tess__ts_parse(p, n, &v->u.i, NULL) == TESS_OK;
    case TESS_T_STRING: v->u.s = (tess__str){p, n}; return true;
    default: return false;
    }
}

/* Stores v into column c's row i (strings: the bytes stay where they are: in the labels). */
static void col_set(tess__col *c, size_t i, const tess__value *v)
{
    c->nulls[i] = v->null;
    if (v->null) return;
    switch (c->type) {
    case TESS_T_BOOL: ((uint8_t *)c->data)[i] = v->u.b; break;
    case TESS_T_FLOAT64: ((double *)c->data)[i] = v->u.f; break;
    case TESS_T_STRING: ((tess__str *)c->data)[i] = v->u.s; break;
    default: ((int64_t *)c->data)[i] = v->u.i; break;
    }
}

static tess__value col_get(const tess__col *c, size_t i)
{
    tess__value v;
    v.type = c->type;
    v.null = c->nulls && c->nulls[i];
    v.u.i = 0;
    if (v.null) return v;
    switch (c->type) {
    case TESS_T_BOOL: v.u.b = ((const uint8_t *)c->data)[i]; break;
    case TESS_T_FLOAT64: v.u.f = ((const double *)c->data)[i]; break;
    case TESS_T_STRING: v.u.s = ((const tess__str *)c->data)[i]; break;
    default: v.u.i = ((const int64_t *)c->data)[i]; break;
    }
    return v;
}

static int col_alloc(tess__col *c, tess__type t, size_t n)
{
    c->type = t;
    c->nulls = tess__calloc(n ? n : 1, 1);
    c->data = tess__calloc(n ? n : 1, tess__type_width(t));
    return c->nulls && c->data ? TESS_OK : TESS_ENOMEM;
}

static void col_free(tess__col *c)
{
    tess__free(c->nulls);
    tess__free(c->data);
    c->nulls = NULL;
    c->data = NULL;
}

/*
 * The typed column `name` of the labels (every row), parsed as `type`. `required`: a missing
 * column is an error; otherwise a missing column is all nulls. A value that does not parse is
 * an error naming the row, the column and the value. String values point into the labels.
 */
static int label_column(labels *l, const char *name, tess__type type, bool required,
                        tess__col *out, tess__err *err)
{
    char where[512];
    if (col_alloc(out, type, l->n)) return OOM(err);
    long ci = -1;
    if (l->fmt == TESS_FORMAT_CSV) {
        for (size_t i = 0; i < l->ncols; i++)
            if (strcmp(l->names[i], name) == 0) ci = (long)i;
        if (ci < 0 && required)
            return tess__err_set(err, TESS_EPARSE,
                                 "%s:1: no column \"%s\": the labels need it (join key, timestamp "
                                 "or request field)",
                                 l->path, name);
        if (ci < 0) {
            memset(out->nulls, 1, l->n);
            return TESS_OK;
        }
    }
    for (size_t i = 0; i < l->n; i++) {
        tess__value v = tess__null(type);
        const char *text = NULL;
        size_t tn = 0;
        if (l->fmt == TESS_FORMAT_CSV) {
            const tess__col *c = &l->rows.cols[ci];
            if (!c->nulls[i]) {
                text = ((const tess__str *)c->data)[i].p;
                tn = ((const tess__str *)c->data)[i].n;
                if (!parse_text(text, tn, type, &v)) goto bad;
            }
        } else {
            const json_t *j = json_object_get(l->objs[i], name);
            if (!j && required) {
                row_where(l, i, where, sizeof where);
                return tess__err_set(err, TESS_EPARSE, "%s: no key \"%s\" (join key, timestamp "
                                     "or request field)", where, name);
            }
            if (j && !json_is_null(j)) {
                v.null = false;
                if (json_is_string(j)) {
                    text = json_string_value(j);
                    tn = json_string_length(j);
                    if (type == TESS_T_STRING)
                        v.u.s = (tess__str){text, tn};
                    else if (!parse_text(text, tn, type, &v) || type == TESS_T_INT64 ||
                             type == TESS_T_FLOAT64)
                        goto bad;
                } else if (json_is_integer(j) && type == TESS_T_INT64) {
                    v.u.i = json_integer_value(j);
                } else if (json_is_number(j) && type == TESS_T_FLOAT64) {
                    v.u.f = json_number_value(j);
                } else if (json_is_boolean(j) && type == TESS_T_BOOL) {
                    v.u.b = json_is_true(j);
                } else {
                    text = "(a JSON value of another type)";
                    tn = strlen(text);
                    goto bad;
                }
            }
        }
        col_set(out, i, &v);
        continue;
    bad:
        row_where(l, i, where, sizeof where);
        return tess__err_set(err, TESS_EPARSE, "%s: column \"%s\": \"%.*s\" is not a%s %s", where,
                             name, (int)(tn > 40 ? 40 : tn), text, type == TESS_T_INT64 ? "n" : "",
                             tess__type_name(type));
    }
    return TESS_OK;
}

/* ---- what to compute ---------------------------------------------------------------------- */

typedef struct fslot {
    const tess__feature *f;
    tess__col col; /* one value per label row */
} fslot;

typedef struct plan {
    const tess__service_item *items; /* the output, in order */
    size_t nitems;
    tess__service_item *owned_items;
    fslot *slots; /* every feature computed: outputs and on-demand inputs */
    size_t nslots;
    tess__arena strings; /* feature string values */
} plan;

static long slot_of(const plan *p, const tess__feature *f)
{
    for (size_t i = 0; i < p->nslots; i++)
        if (p->slots[i].f == f) return (long)i;
    return -1;
}

static int add_slot(plan *p, const tess__feature *f, size_t n)
{
    if (slot_of(p, f) >= 0) return TESS_OK;
    fslot *s = &p->slots[p->nslots];
    s->f = f;
    if (col_alloc(&s->col, f->type, n)) return TESS_ENOMEM;
    p->nslots++;
    return TESS_OK;
}

static void plan_release(plan *p)
{
    for (size_t i = 0; i < p->nslots; i++) col_free(&p->slots[i].col);
    tess__free(p->slots);
    tess__free(p->owned_items);
    tess__arena_release(&p->strings);
}

/* ---- the join of one view ------------------------------------------------------------------- */

typedef struct lkey {
    const uint8_t *key; /* encoded join key */
    size_t keyn;
    int64_t t;
    size_t row;
} lkey;

static int lkey_cmp(const void *a, const void *b)
{
    const lkey *x = a, *y = b;
    size_t n = x->keyn < y->keyn ? x->keyn : y->keyn;
    int c = memcmp(x->key, y->key, n);
    if (c) return c;
    if (x->keyn != y->keyn) return x->keyn < y->keyn ? -1 : 1;
    if (x->t != y->t) return x->t < y->t ? -1 : 1;
    return x->row < y->row ? -1 : x->row > y->row;
}

static int key_cmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    size_t n = an < bn ? an : bn;
    int c = memcmp(a, b, n);
    if (c) return c;
    return an < bn ? -1 : an > bn;
}

/*
 * Label sorts. The labels are sorted once by (t, row) (sort_by_time), and each view then
 * sorts them stably by its encoded key alone (sort_by_key), which gives (key, t, row): both are
 * LSD radix sorts, one pass per byte position whose byte is not the same in every element
 * (the histograms of all positions come from one pass, so constant bytes cost nothing).
 * Keys of different lengths (strings) fall back to qsort on the full order.
 */
typedef struct tsort {
    uint64_t k; /* t with the sign bit flipped: unsigned order is t's order */
    size_t row;
} tsort;

/* The rows 0..n-1 of t sorted by (t, row) into order[]. TESS_OK or TESS_ENOMEM. */
static int sort_by_time(const int64_t *t, size_t n, size_t *order)
{
    tsort *a = tess__malloc((n ? n : 1) * sizeof(*a)), *b = tess__malloc((n ? n : 1) * sizeof(*b));
    size_t(*cnt)[256] = tess__calloc(8, sizeof(*cnt));
    if (!a || !b || !cnt) {
        tess__free(a);
        tess__free(b);
        tess__free(cnt);
        return TESS_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        a[i].k = (uint64_t)t[i] ^ (1ULL << 63);
        a[i].row = i;
        for (int d = 0; d < 8; d++) cnt[d][(a[i].k >> (8 * d)) & 0xFF]++;
    }
    for (int d = 0; d < 8; d++) {
        size_t sum = 0;
        bool trivial = false;
        for (int v = 0; v < 256; v++) {
            size_t c = cnt[d][v];
            if (c == n) trivial = true;
            cnt[d][v] = sum;
            sum += c;
        }
        if (trivial) continue;
        for (size_t i = 0; i < n; i++) b[cnt[d][(a[i].k >> (8 * d)) & 0xFF]++] = a[i];
        tsort *x = a;
        a = b;
        b = x;
    }
    for (size_t i = 0; i < n; i++) order[i] = a[i].row;
    tess__free(a);
    tess__free(b);
    tess__free(cnt);
    return TESS_OK;
}

/* Sorts lk (in (t, row) order) stably by key: then it is in lkey_cmp's order. */
static int sort_by_key(lkey *lk, size_t n)
{
    if (n < 2) return TESS_OK;
    size_t kn = lk[0].keyn;
    bool fixed = kn <= 64;
    for (size_t i = 1; i < n && fixed; i++) fixed = lk[i].keyn == kn;
    if (!fixed) {
        qsort(lk, n, sizeof(*lk), lkey_cmp);
        return TESS_OK;
    }
    lkey *tmp = tess__malloc(n * sizeof(*tmp));
    size_t(*cnt)[256] = tess__calloc(kn ? kn : 1, sizeof(*cnt));
    if (!tmp || !cnt) {
        tess__free(tmp);
        tess__free(cnt);
        return TESS_ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        for (size_t d = 0; d < kn; d++) cnt[d][lk[i].key[d]]++;
    lkey *a = lk, *b = tmp;
    for (size_t d = kn; d-- > 0;) {
        size_t sum = 0;
        bool trivial = false;
        for (int v = 0; v < 256; v++) {
            size_t c = cnt[d][v];
            if (c == n) trivial = true;
            cnt[d][v] = sum;
            sum += c;
        }
        if (trivial) continue;
        for (size_t i = 0; i < n; i++) b[cnt[d][a[i].key[d]]++] = a[i];
        lkey *x = a;
        a = b;
        b = x;
    }
    if (a != lk) memcpy(lk, a, n * sizeof(*lk));
    tess__free(tmp);
    tess__free(cnt);
    return TESS_OK;
}

/* Copies a value into the plan's string arena if it is a string (event batches are reused). */
static int keep_value(plan *p, tess__value *v)
{
    if (v->null || v->type != TESS_T_STRING || v->u.s.n == 0) return TESS_OK;
    char *s = tess__arena_strndup(&p->strings, v->u.s.p, v->u.s.n);
    if (!s) return TESS_ENOMEM;
    v->u.s.p = s;
    return TESS_OK;
}

typedef struct vjoin {
    const tess__view *v;
    plan *p;
    const int64_t *t; /* label times */
    /* the view's features being computed, and their slots */
    const tess__feature **rowf;
    long *rowslot;
    size_t nrow;
    tess__wplan *wp;
    tess__weval *ev;
    tess__value *empty; /* the window features' values for an entity without events */
    long *aggslot; /* per window-plan feature */
    size_t nagg;
    /* scratch */
    int64_t *times;
    tess__value *aggout;
    tess__col *rowvals;    /* per row feature: values over the current batch */
    tess__arena rowarena;  /* their strings; reset per batch */
    tess__arena scratch;   /* the window engine's; reset per entity */
} vjoin;

/* Row-level features for labels lk[0..m) of one entity whose events are rows [lo, hi) of b. */
static int join_rows(vjoin *j, const tess__batch *b, size_t lo, size_t hi, const lkey *lk,
                     size_t m)
{
    const tess__view *v = j->v;
    const int64_t *ts = b ? b->cols[v->source->ts_col].data : NULL;
    const uint8_t *tsnull = b ? b->cols[v->source->ts_col].nulls : NULL;
    size_t e = lo; /* first event with ts > t */
    for (size_t k = 0; k < m; k++) {
        int64_t t = lk[k].t;
        while (e < hi && (tsnull[e] || ts[e] <= t)) e++;
        bool found = e > lo;
        bool fresh = found && (v->ttl_us == 0 || t - ts[e - 1] <= v->ttl_us);
        for (size_t f = 0; f < j->nrow; f++) {
            fslot *s = &j->p->slots[j->rowslot[f]];
            tess__value val = tess__null(s->f->type);
            if (found && fresh) {
                val = col_get(&j->rowvals[f], e - 1);
                if (keep_value(j->p, &val)) return TESS_ENOMEM;
            }
            col_set(&s->col, lk[k].row, &val);
        }
    }
    return TESS_OK;
}

/* Window features for labels lk[0..m) of one entity (rows [lo, hi) of b; b NULL: no events). */
static int join_aggs(vjoin *j, const tess__batch *b, size_t lo, size_t hi, const lkey *lk,
                     size_t m)
{
    if (j->nagg == 0) return TESS_OK;
    for (size_t k = 0; k < m; k++) j->times[k] = lk[k].t;
    tess__arena_reset(&j->scratch);
    if (b) {
        int rc = tess__weval_run(j->ev, b, lo, hi, j->times, m, &j->scratch, j->aggout);
        if (rc) return rc;
    }
    for (size_t k = 0; k < m; k++)
        for (size_t f = 0; f < j->nagg; f++) {
            if (j->aggslot[f] < 0) continue;
            tess__value val = b ? j->aggout[k * j->nagg + f] : j->empty[f];
            if (keep_value(j->p, &val)) return TESS_ENOMEM;
            col_set(&j->p->slots[j->aggslot[f]].col, lk[k].row, &val);
        }
    return TESS_OK;
}

/* The end of the entity that starts at row lo of b (rows with the same key). int_keys: every
 * key column is int64 or timestamp (compared as integers; a layout holds no null key). */
static size_t entity_end(const tess__evorder *o, const tess__batch *b, size_t lo, bool int_keys)
{
    size_t hi = lo + 1, n = b->nrows;
    if (int_keys && o->nkeys == 1) {
        const int64_t *d = b->cols[o->keys[0]].data;
        while (hi < n && d[hi] == d[lo]) hi++;
        return hi;
    }
    while (hi < n && tess__ev_cmp_keys(o, b, lo, b, hi) == 0) hi++;
    return hi;
}

/* Evaluates the row-level features over a whole scan batch. */
static int eval_rows(vjoin *j, const tess__batch *b)
{
    for (size_t f = 0; f < j->nrow; f++) {
        tess__col *c = &j->rowvals[f];
        col_free(c);
        if (col_alloc(c, j->rowf[f]->type, b->nrows)) return TESS_ENOMEM;
        if (b->nrows == 0) continue;
        int rc = tess__expr_eval_batch(j->rowf[f]->expr, b->cols, b->nrows, &j->rowarena, c);
        if (rc) return rc;
    }
    return TESS_OK;
}

static int join_view(const tess__view *v, plan *p, labels *l, const int64_t *t,
                     const size_t *torder, tess__evstore *es, tess__err *err)
{
    vjoin j;
    lkey *lk = NULL;
    tess__col *keys = NULL;
    tess__buf kb = TESS__BUF_INIT;
    tess__str *filter = NULL;
    tess__evscan *scan = NULL;
    size_t *kidx = NULL, nfilter = 0;
    bool *want = NULL;
    lkey *ek_of = NULL;
    int rc = TESS_OK;
    memset(&j, 0, sizeof(j));
    j.v = v;
    j.p = p;
    j.t = t;

    /* the view's features to compute */
    j.rowf = tess__calloc(v->nfeatures, sizeof(*j.rowf));
    j.rowslot = tess__calloc(v->nfeatures, sizeof(*j.rowslot));
    j.rowvals = tess__calloc(v->nfeatures, sizeof(*j.rowvals));
    if (!j.rowf || !j.rowslot || !j.rowvals) goto nomem;
    for (size_t f = 0; f < v->nfeatures; f++) {
        const tess__feature *ft = &v->features[f];
        long s = slot_of(p, ft);
        if (s < 0 || ft->kind != TESS_FEATURE_ROW) continue;
        j.rowf[j.nrow] = ft;
        j.rowslot[j.nrow++] = s;
    }
    if (v->has_aggregates) {
        if ((rc = tess__wplan_new(v, &j.wp))) {
            if (rc == TESS_ENOMEM) goto nomem;
            rc = tess__err_set(err, rc, "feature view \"%s\": cannot plan its window features",
                               v->name);
            goto out;
        }
        if (tess__weval_new(j.wp, &j.ev)) goto nomem;
        j.nagg = tess__wplan_nfeatures(j.wp);
        j.aggslot = tess__calloc(j.nagg ? j.nagg : 1, sizeof(*j.aggslot));
        j.empty = tess__calloc(j.nagg ? j.nagg : 1, sizeof(*j.empty));
        if (!j.aggslot || !j.empty) goto nomem;
        for (size_t f = 0; f < j.nagg; f++) {
            size_t spec;
            j.aggslot[f] = slot_of(p, tess__wplan_feature(j.wp, f, &spec, NULL));
            tess__agg_kind k = tess__wplan_spec_kind(j.wp, spec);
            tess__agg_state st0;
            tess__agg_init(k, &st0);
            if (tess__agg_finalize(k, &st0, &j.scratch, &j.empty[f])) goto nomem;
        }
    }

    /* the labels' join keys, encoded, and the labels sorted by (key, t, row) */
    keys = tess__calloc(v->njoin, sizeof(*keys));
    kidx = tess__calloc(v->njoin, sizeof(*kidx));
    lk = tess__calloc(l->n ? l->n : 1, sizeof(*lk));
    if (!keys || !kidx || !lk) goto nomem;
    for (size_t k = 0; k < v->njoin; k++) {
        const tess__column *kc = &v->source->schema[v->join_cols[k]];
        kidx[k] = k;
        if ((rc = label_column(l, kc->name, kc->type, true, &keys[k], err))) goto out;
    }
    /* encoded keys, in (t, row) order; null keys (no events can match) first */
    size_t nl = 0, nnull = 0;
    for (size_t i = 0; i < l->n; i++) {
        size_t at = kb.len;
        rc = tess__evkey_encode(&kb, keys, kidx, v->njoin, i);
        if (rc == TESS_NOTFOUND) {
            kb.len = at;
            nnull++;
            lk[i].keyn = (size_t)-1; /* marks "null key" (lk is indexed by row for now) */
            continue;
        }
        if (rc) goto nomem;
        lk[i].key = (const uint8_t *)(uintptr_t)at; /* an offset until kb no longer moves */
        lk[i].keyn = kb.len - at;
    }
    rc = TESS_OK;
    ek_of = tess__malloc((l->n ? l->n : 1) * sizeof(*ek_of));
    if (!ek_of) goto nomem;
    for (size_t i = 0; i < l->n; i++) ek_of[i] = lk[i];
    for (size_t o = 0, a = 0, z = nnull; o < l->n; o++) {
        size_t i = torder[o];
        lkey k = ek_of[i];
        if (k.keyn == (size_t)-1)
            lk[a++] = (lkey){(const uint8_t *)"", 0, t[i], i};
        else
            lk[z++] = (lkey){(const uint8_t *)kb.p + (uintptr_t)k.key, k.keyn, t[i], i};
    }
    nl = l->n;
    tess__free(ek_of);
    ek_of = NULL;
    lkey *ll = lk + nnull;
    size_t nll = nl - nnull;
    if (sort_by_key(ll, nll)) goto nomem;

    /* the distinct keys: the scan reads only their blocks */
    filter = tess__calloc(nll ? nll : 1, sizeof(*filter));
    if (!filter) goto nomem;
    for (size_t i = 0; i < nll; i++)
        if (i == 0 || key_cmp(ll[i].key, ll[i].keyn, ll[i - 1].key, ll[i - 1].keyn) != 0)
            filter[nfilter++] = (tess__str){(const char *)ll[i].key, ll[i].keyn};
    size_t cap = 0;
    for (size_t i = 0, run = 0; i < nll; i++) {
        run = (i && key_cmp(ll[i].key, ll[i].keyn, ll[i - 1].key, ll[i - 1].keyn) == 0) ? run + 1 : 1;
        if (run > cap) cap = run;
    }
    if (nnull > cap) cap = nnull; /* the null-key labels are joined as one group */
    j.times = tess__calloc(cap ? cap : 1, sizeof(*j.times));
    j.aggout = tess__calloc((cap ? cap : 1) * (j.nagg ? j.nagg : 1), sizeof(*j.aggout));
    if (!j.times || !j.aggout) goto nomem;
    /* null-key labels get the values of an entity without events */
    if (nnull) {
        if ((rc = join_rows(&j, NULL, 0, 0, lk, nnull)) || (rc = join_aggs(&j, NULL, 0, 0, lk, nnull)))
            goto fail;
    }

    /* merge-join the sorted labels with the sorted events, one entity at a time */
    tess__evorder ord = tess__evorder_of(v->source, v->join_cols, v->njoin);
    size_t li = 0;
    bool int_keys = true;
    for (size_t k = 0; k < v->njoin; k++) {
        tess__type kt = v->source->schema[v->join_cols[k]].type;
        int_keys &= kt == TESS_T_INT64 || kt == TESS_T_TIMESTAMP;
    }
    /* only the columns the view's expressions read are decompressed and copied (the key,
       timestamp and created timestamp and seq always come back) */
    want = tess__calloc(v->source->nschema ? v->source->nschema : 1, sizeof(*want));
    if (!want) goto nomem;
    for (size_t f = 0; f < v->nfeatures; f++) {
        const tess__expr *ex[2] = {v->features[f].expr, v->features[f].where};
        for (size_t e = 0; e < 2; e++) {
            size_t nr = 0;
            const int *refs = ex[e] ? tess__expr_refs(ex[e], &nr) : NULL;
            for (size_t r = 0; r < nr; r++)
                if (refs[r] >= 0 && (size_t)refs[r] < v->source->nschema) want[refs[r]] = true;
        }
    }
    tess__evscan_opts so;
    memset(&so, 0, sizeof(so));
    so.filter = filter;
    so.nfilter = nfilter;
    so.want = want;
    if (nfilter > 0 && (rc = tess__evscan_open_opts(es, v->source, v->join_cols, v->njoin, &so,
                                                    &scan, err)))
        goto fail;
    const tess__batch *b;
    while (nfilter > 0 && li < nll && (rc = tess__evscan_next(scan, &b, err)) == TESS_OK) {
        tess__arena_reset(&j.rowarena);
        if ((rc = eval_rows(&j, b))) break;
        for (size_t lo = 0, hi; lo < b->nrows && li < nll; lo = hi) {
            hi = entity_end(&ord, b, lo, int_keys);
            bool null_key = false;
            for (size_t k = 0; k < v->njoin; k++) {
                const tess__col *kc = &b->cols[v->join_cols[k]];
                null_key |= kc->nulls && kc->nulls[lo];
            }
            if (null_key) continue; /* never stored, but be safe */
            /* labels of entities before this one have no events (the entity's key is compared
               with the labels' encoded keys without being encoded) */
            size_t s = li;
            while (li < nll && tess__evkey_cmp(b->cols, v->join_cols, v->njoin, lo, ll[li].key,
                                               ll[li].keyn) > 0)
                li++;
            if (li > s) {
                for (size_t a = s, c; a < li; a = c) {
                    c = a + 1;
                    while (c < li && key_cmp(ll[c].key, ll[c].keyn, ll[a].key, ll[a].keyn) == 0) c++;
                    if ((rc = join_rows(&j, NULL, 0, 0, ll + a, c - a)) ||
                        (rc = join_aggs(&j, NULL, 0, 0, ll + a, c - a)))
                        goto scanfail;
                }
            }
            s = li;
            while (li < nll && tess__evkey_cmp(b->cols, v->join_cols, v->njoin, lo, ll[li].key,
                                               ll[li].keyn) == 0)
                li++;
            if (li > s && ((rc = join_rows(&j, b, lo, hi, ll + s, li - s)) ||
                           (rc = join_aggs(&j, b, lo, hi, ll + s, li - s))))
                goto scanfail;
        }
    }
    if (rc == TESS_NOTFOUND || nfilter == 0 || li >= nll) rc = TESS_OK;
scanfail:
    if (rc) goto fail;
    /* labels after the last entity with events */
    for (size_t a = li, c; a < nll; a = c) {
        c = a + 1;
        while (c < nll && key_cmp(ll[c].key, ll[c].keyn, ll[a].key, ll[a].keyn) == 0) c++;
        if ((rc = join_rows(&j, NULL, 0, 0, ll + a, c - a)) ||
            (rc = join_aggs(&j, NULL, 0, 0, ll + a, c - a)))
            goto fail;
    }
    goto out;
nomem:
    rc = OOM(err);
    goto out;
fail:
    if (rc == TESS_ENOMEM)
        OOM(err);
    else if (err->rc == TESS_OK)
        tess__err_set(err, rc, "feature view \"%s\": computing features failed (%s)", v->name,
                      tess_strerror(rc));
out:
    tess__evscan_close(scan);
    if (keys)
        for (size_t k = 0; k < v->njoin; k++) col_free(&keys[k]);
    tess__free(keys);
    tess__free(kidx);
    tess__free(lk);
    tess__free(filter);
    tess__free(want);
    tess__free(ek_of);
    tess__buf_release(&kb);
    if (j.rowvals)
        for (size_t f = 0; f < v->nfeatures; f++) col_free(&j.rowvals[f]);
    tess__free(j.rowvals);
    tess__free(j.rowf);
    tess__free(j.rowslot);
    tess__free(j.aggslot);
    tess__free(j.times);
    tess__free(j.aggout);
    tess__weval_free(j.ev);
    tess__wplan_free(j.wp);
    tess__free(j.empty);
    tess__arena_release(&j.scratch);
    tess__arena_release(&j.rowarena);
    return rc;
}

/* ---- on-demand features ------------------------------------------------------------------- */

static int eval_odf(const tess__odf *o, plan *p, labels *l, tess__col *out, tess__err *err)
{
    size_t nv = o->ninputs + o->nrequest;
    tess__col *cols = tess__calloc(nv ? nv : 1, sizeof(*cols));
    tess__arena scratch = TESS__ARENA_INIT;
    int rc = TESS_OK;
    if (!cols) return OOM(err);
    for (size_t i = 0; i < o->ninputs; i++) cols[i] = p->slots[slot_of(p, o->inputs[i])].col;
    for (size_t r = 0; r < o->nrequest; r++)
        if ((rc = label_column(l, o->request[r].name, o->request[r].type, true,
                               &cols[o->ninputs + r], err)))
            goto out;
    if (col_alloc(out, o->type, l->n)) {
        rc = OOM(err);
        goto out;
    }
    /* in chunks, so that scratch memory stays small; string results go to the plan's arena */
    for (size_t at = 0; at < l->n && rc == TESS_OK; at += 65536) {
        size_t m = l->n - at < 65536 ? l->n - at : 65536;
        tess__col in[64], res;
        if (nv > 64) {
            rc = tess__err_set(err, TESS_EINVAL, "too many inputs");
            break;
        }
        for (size_t i = 0; i < nv; i++) {
            in[i].type = cols[i].type;
            in[i].nulls = cols[i].nulls + at;
            in[i].data = (char *)cols[i].data + at * tess__type_width(cols[i].type);
        }
        res.type = o->type;
        res.nulls = out->nulls + at;
        res.data = (char *)out->data + at * tess__type_width(o->type);
        tess__arena_reset(&scratch);
        if ((rc = tess__expr_eval_batch(o->expr, in, m, &scratch, &res))) {
            OOM(err);
            break;
        }
        if (o->type == TESS_T_STRING)
            for (size_t i = 0; i < m; i++) {
                tess__value v = col_get(out, at + i);
                if (keep_value(p, &v)) {
                    rc = OOM(err);
                    break;
                }
                col_set(out, at + i, &v);
            }
    }
out:
    for (size_t r = 0; r < o->nrequest; r++) col_free(&cols[o->ninputs + r]);
    tess__free(cols);
    tess__arena_release(&scratch);
    return rc;
}

/* ---- output ------------------------------------------------------------------------------- */

static int column_name(const tess__service_item *it, bool full, tess__buf *b)
{
    if (it->odf) return tess__buf_puts(b, it->odf->name);
    if (full) return tess__buf_printf(b, "%s__%s", it->feature->view->name, it->feature->name);
    return tess__buf_puts(b, it->feature->name);
}

static int write_output(const tess_training_opts *o, plan *p, labels *l, tess__col *odfcols,
                        json_t *names, tess__err *err)
{
    tess__outfile of;
    tess__buf b = TESS__BUF_INIT, name = TESS__BUF_INIT;
    tess__format ofmt = tess__format_of_path(o->output_path);
    int rc;
    const tess__col **cols = tess__calloc(p->nitems ? p->nitems : 1, sizeof(*cols));
    if (!cols) return OOM(err);
    for (size_t i = 0, od = 0; i < p->nitems; i++)
        cols[i] = p->items[i].odf ? &odfcols[od++] : &p->slots[slot_of(p, p->items[i].feature)].col;
    if ((rc = tess__outfile_open(&of, o->output_path, err))) goto out;
    if (ofmt == TESS_FORMAT_CSV) {
        for (size_t c = 0; c < l->ncols && !rc; c++)
            rc = tess__csv_put_field(&b, l->names[c], strlen(l->names[c]), ',') ||
                 tess__buf_putc(&b, c + 1 < l->ncols || p->nitems ? ',' : '\n');
        for (size_t i = 0; i < p->nitems && !rc; i++)
            rc = tess__csv_put_field(&b, json_string_value(json_array_get(names, i)),
                                     json_string_length(json_array_get(names, i)), ',') ||
                 tess__buf_putc(&b, i + 1 < p->nitems ? ',' : '\n');
    }
    for (size_t r = 0; r < l->n && !rc; r++) {
        if (ofmt == TESS_FORMAT_CSV) {
            for (size_t c = 0; c < l->ncols && !rc; c++) {
                if (l->fmt == TESS_FORMAT_CSV) {
                    tess__value v = col_get(&l->rows.cols[c], r);
                    rc = tess__csv_put_value(&b, &v, ',');
                }
                if (!rc) rc = tess__buf_putc(&b, c + 1 < l->ncols || p->nitems ? ',' : '\n');
            }
            for (size_t i = 0; i < p->nitems && !rc; i++) {
                tess__value v = col_get(cols[i], r);
                rc = tess__csv_put_value(&b, &v, ',') ||
                     tess__buf_putc(&b, i + 1 < p->nitems ? ',' : '\n');
            }
        } else {
            /* the label's object, with one key per feature added */
            if (l->fmt == TESS_FORMAT_JSONL) {
                const tess__str *s = &l->lines[r];
                size_t end = s->n; /* drop the closing brace */
                while (end > 0 && s->p[end - 1] != '}') end--;
                rc = tess__buf_append(&b, s->p, end ? end - 1 : 0);
                bool empty = true;
                for (size_t k = 0; k + 1 < end && empty; k++)
                    empty = s->p[k] == '{' || s->p[k] == ' ' || s->p[k] == '\t';
                if (!rc && !empty && p->nitems) rc = tess__buf_putc(&b, ',');
            } else {
                rc = tess__buf_putc(&b, '{');
                for (size_t c = 0; c < l->ncols && !rc; c++) {
                    tess__value v = col_get(&l->rows.cols[c], r);
                    rc = tess__json_put_string(&b, l->names[c], strlen(l->names[c])) ||
                         tess__buf_putc(&b, ':') || tess__json_put_value(&b, &v) ||
                         (c + 1 < l->ncols || p->nitems ? tess__buf_putc(&b, ',') : 0);
                }
            }
            for (size_t i = 0; i < p->nitems && !rc; i++) {
                tess__value v = col_get(cols[i], r);
                const json_t *nm = json_array_get(names, i);
                rc = tess__json_put_string(&b, json_string_value(nm), json_string_length(nm)) ||
                     tess__buf_putc(&b, ':') || tess__json_put_value(&b, &v) ||
                     (i + 1 < p->nitems ? tess__buf_putc(&b, ',') : 0);
            }
            if (!rc) rc = tess__buf_puts(&b, "}\n");
        }
        if (!rc && b.len > (1u << 20)) rc = tess__outfile_write(&of, &b, err);
    }
    if (rc == TESS_ENOMEM) OOM(err);
    if (!rc) rc = tess__outfile_write(&of, &b, err);
    if (!rc)
        rc = tess__outfile_commit(&of, err);
    else
        tess__outfile_abort(&of);
out:
    tess__free(cols);
    tess__buf_release(&b);
    tess__buf_release(&name);
    return rc;
}

/* ---- the whole ------------------------------------------------------------------------------ */

int tess__training_set(const tess__defs *d, tess__evstore *es, const tess_training_opts *o,
                       json_t **summary, tess__err *err)
{
    plan p;
    labels l;
    tess__col tcol = {0};
    tess__col *odfcols = NULL;
    size_t *torder = NULL;
    json_t *names = NULL, *feats = NULL;
    tess__buf nb = TESS__BUF_INIT;
    int rc = TESS_OK;
    memset(&p, 0, sizeof(p));
    memset(&l, 0, sizeof(l));
    *summary = NULL;
    if (!o || !o->labels_path || !o->output_path || (!o->service && !o->nfeatures))
        return tess__err_set(err, TESS_EINVAL,
                             "a training set needs labels, an output and a service or features");

    /* 1. the features */
    if (o->service) {
        const tess__service *s = tess__defs_service(d, o->service);
        if (!s) return tess__err_set(err, TESS_NOTFOUND, "no feature service \"%s\"", o->service);
        p.items = s->items;
        p.nitems = s->nitems;
    } else {
        if ((rc = tess__defs_resolve(d, o->features, o->nfeatures, &p.owned_items, &p.nitems, err)))
            return rc;
        p.items = p.owned_items;
    }
    size_t maxslots = 0;
    for (size_t i = 0; i < p.nitems; i++) maxslots += p.items[i].odf ? p.items[i].odf->ninputs : 1;

    /* 2. the labels */
    l.path = o->labels_path;
    l.fmt = tess__format_of_path(o->labels_path);
    if ((rc = l.fmt == TESS_FORMAT_CSV ? load_csv(&l, err) : load_jsonl(&l, err))) goto out;
    const char *tsname = o->timestamp_column ? o->timestamp_column : "event_timestamp";
    if ((rc = label_column(&l, tsname, TESS_T_TIMESTAMP, true, &tcol, err))) goto out;
    for (size_t i = 0; i < l.n; i++)
        if (tcol.nulls[i]) {
            char where[512];
            row_where(&l, i, where, sizeof where);
            rc = tess__err_set(err, TESS_EPARSE, "%s: column \"%s\": the timestamp is empty",
                               where, tsname);
            goto out;
        }

    p.slots = tess__calloc(maxslots ? maxslots : 1, sizeof(*p.slots));
    if (!p.slots) goto nomem;
    for (size_t i = 0; i < p.nitems; i++) {
        if (p.items[i].feature && add_slot(&p, p.items[i].feature, l.n)) goto nomem;
        if (p.items[i].odf)
            for (size_t k = 0; k < p.items[i].odf->ninputs; k++)
                if (add_slot(&p, p.items[i].odf->inputs[k], l.n)) goto nomem;
    }

    /* 3. one view at a time (the labels sorted by time once, for all of them) */
    if (!(torder = tess__malloc((l.n ? l.n : 1) * sizeof(*torder))) ||
        sort_by_time(tcol.data, l.n, torder))
        goto nomem;
    for (size_t i = 0; i < p.nslots; i++) {
        const tess__view *v = p.slots[i].f->view;
        bool seen = false;
        for (size_t k = 0; k < i && !seen; k++) seen = p.slots[k].f->view == v;
        if (seen) continue;
        if ((rc = join_view(v, &p, &l, tcol.data, torder, es, err))) goto out;
    }

    /* 4. on-demand features */
    size_t nodf = 0;
    for (size_t i = 0; i < p.nitems; i++) nodf += p.items[i].odf != NULL;
    odfcols = tess__calloc(nodf ? nodf : 1, sizeof(*odfcols));
    if (!odfcols) goto nomem;
    for (size_t i = 0, k = 0; i < p.nitems; i++)
        if (p.items[i].odf && (rc = eval_odf(p.items[i].odf, &p, &l, &odfcols[k++], err))) goto out;
    if (l.objs) { /* the raw lines are all the output needs from now on */
        for (size_t i = 0; i < l.n; i++) json_decref(l.objs[i]);
        tess__free(l.objs);
        l.objs = NULL;
    }

    /* 5. the output */
    if (!(names = json_array()) || !(feats = json_array())) goto nomem;
    for (size_t i = 0; i < p.nitems; i++) {
        tess__buf_reset(&nb);
        if (column_name(&p.items[i], o->full_feature_names, &nb) ||
            json_array_append_new(names, json_stringn(nb.p, nb.len)))
            goto nomem;
        tess__buf_reset(&nb);
        if ((p.items[i].odf ? tess__buf_puts(&nb, p.items[i].odf->name)
                            : tess__buf_printf(&nb, "%s:%s", p.items[i].feature->view->name,
                                               p.items[i].feature->name)) ||
            json_array_append_new(feats, json_stringn(nb.p, nb.len)))
            goto nomem;
    }
    for (size_t i = 0; i < p.nitems; i++)
        for (size_t c = 0; c < l.ncols; c++)
            if (strcmp(json_string_value(json_array_get(names, i)), l.names[c]) == 0) {
                rc = tess__err_set(err, TESS_EINVAL,
                                   "feature column \"%s\" would repeat a column of the labels: "
                                   "rename one, or use --full-feature-names",
                                   l.names[c]);
                goto out;
            }
    if ((rc = write_output(o, &p, &l, odfcols, names, err))) goto out;
    *summary = json_pack("{s:I, s:O, s:O, s:s}", "rows", (json_int_t)l.n, "columns", names,
                         "features", feats, "output", o->output_path);
    if (!*summary) goto nomem;
    goto out;
nomem:
    rc = OOM(err);
out:
    json_decref(names);
    json_decref(feats);
    if (odfcols) {
        size_t nodf2 = 0;
        for (size_t i = 0; i < p.nitems; i++) nodf2 += p.items[i].odf != NULL;
        for (size_t i = 0; i < nodf2; i++) col_free(&odfcols[i]);
    }
    tess__free(odfcols);
    tess__free(torder);
    col_free(&tcol);
    tess__buf_release(&nb);
    plan_release(&p);
    labels_release(&l);
    return rc;
}
