/* ytree.c — YAML text -> tess__ynode tree, with libyaml's event API.
 *
 * The event API (not yaml_document_t) is used so that aliases never get expanded: an alias is
 * an error, which rules out exponential "billion laughs" documents. Collections being built sit
 * on a fixed stack of TESS__Y_MAX_DEPTH frames; each frame gathers its children in a growable
 * heap vector that is copied into the arena when the collection ends. Invariant: when parse
 * returns, every frame vector has been freed.
 */
#include "defs/ytree.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "core/alloc.h"
#include "core/buf.h"

/* ---- diagnostics ------------------------------------------------------------------------ */

void tess__ydiag_vadd(tess__ydiags *d, int file, int line, int col, const char *fmt, va_list ap)
{
    if (d->n >= TESS__Y_MAX_DIAGS) {
        d->dropped++;
        return;
    }
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 16;
        tess__ydiag *v = tess__realloc(d->v, cap * sizeof(*v));
        if (!v) {
            d->oom = true;
            return;
        }
        d->v = v;
        d->cap = cap;
    }
    tess__buf b = TESS__BUF_INIT;
    if (tess__buf_vprintf(&b, fmt, ap) != 0) {
        tess__buf_release(&b);
        d->oom = true;
        return;
    }
    char *msg = tess__buf_take(&b);
    if (!msg) {
        d->oom = true;
        return;
    }
    tess__ydiag *x = &d->v[d->n];
    x->file = file;
    x->line = line;
    x->col = col;
    x->seq = (int)d->n;
    x->msg = msg;
    d->n++;
}

void tess__ydiag_add(tess__ydiags *d, int file, int line, int col, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    tess__ydiag_vadd(d, file, line, col, fmt, ap);
    va_end(ap);
}

static int diag_cmp(const void *a, const void *b)
{
    const tess__ydiag *x = a, *y = b;
    if (x->file != y->file) return x->file < y->file ? -1 : 1;
    if (x->line != y->line) return x->line < y->line ? -1 : 1;
    if (x->col != y->col) return x->col < y->col ? -1 : 1;
    return (x->seq > y->seq) - (x->seq < y->seq);
}

void tess__ydiags_sort(tess__ydiags *d)
{
    if (d->n > 1) qsort(d->v, d->n, sizeof(*d->v), diag_cmp);
}

void tess__ydiags_release(tess__ydiags *d)
{
    for (size_t i = 0; i < d->n; i++)
        tess__free(d->v[i].msg);
    tess__free(d->v);
    memset(d, 0, sizeof(*d));
}

/* ---- node helpers ----------------------------------------------------------------------- */

bool tess__ynode_is_null(const tess__ynode *n)
{
    if (!n || n->kind != TESS__Y_SCALAR || n->style != TESS__Y_PLAIN) return false;
    return n->n == 0 || tess__ynode_eq(n, "~") || tess__ynode_eq(n, "null") ||
           tess__ynode_eq(n, "Null") || tess__ynode_eq(n, "NULL");
}

bool tess__ynode_eq(const tess__ynode *n, const char *s)
{
    size_t k = strlen(s);
    return n && n->kind == TESS__Y_SCALAR && n->n == k && memcmp(n->s, s, k) == 0;
}

const char *tess__ynode_what(const tess__ynode *n)
{
    if (!n) return "nothing";
    switch (n->kind) {
    case TESS__Y_MAP:
        return "a mapping";
    case TESS__Y_SEQ:
        return "a list";
    default:
        return tess__ynode_is_null(n) ? "null" : "a string";
    }
}

/* ---- the parser ------------------------------------------------------------------------- */

typedef struct frame {
    tess__ynode *node;
    tess__ynode **kids;
    size_t n, cap;
} frame;

typedef struct pstate {
    const char *text;
    size_t n;
    size_t cur_line, cur_off; /* a cursor: text + cur_off starts 0-based line cur_line */
    int file;
    tess__arena *arena;
    size_t *nodes;
    tess__ydiags *diags;
    frame stack[TESS__Y_MAX_DEPTH];
    int depth;
    bool oom;
} pstate;

static tess__ynode *new_node(pstate *ps, tess__ykind kind, const yaml_event_t *ev)
{
    tess__ynode *n = tess__arena_alloc(ps->arena, sizeof(*n));
    if (!n) {
        ps->oom = true;
        return NULL;
    }
    memset(n, 0, sizeof(*n));
    n->kind = kind;
    n->file = ps->file;
    n->line = (int)ev->start_mark.line + 1;
    n->col = (int)ev->start_mark.column + 1;
    n->end_line = (int)ev->end_mark.line + 1;
    n->s = "";
    return n;
}

/* The indentation of a literal block scalar's content: the leading spaces of the first
 * non-blank line after the indicator's line. Events come in document order, so the cursor only
 * moves forward and the whole file is scanned at most once. */
static int block_indent(pstate *ps, size_t line)
{
    const char *t = ps->text;
    size_t i = ps->cur_off;
    if (line < ps->cur_line) return 0;
    while (ps->cur_line < line && i < ps->n) {
        if (t[i++] == '\n') ps->cur_line++;
    }
    ps->cur_off = i;
    while (i < ps->n && t[i] != '\n')
        i++; /* the indicator's line */
    while (i < ps->n) {
        size_t sp = 0;
        i++;
        while (i + sp < ps->n && t[i + sp] == ' ')
            sp++;
        if (i + sp < ps->n && t[i + sp] != '\n' && t[i + sp] != '\r') return (int)sp;
        i += sp;
        while (i < ps->n && t[i] != '\n')
            i++;
    }
    return 0;
}

static bool push_kid(pstate *ps, frame *f, tess__ynode *kid)
{
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 8;
        tess__ynode **k = tess__realloc(f->kids, cap * sizeof(*k));
        if (!k) {
            ps->oom = true;
            return false;
        }
        f->kids = k;
        f->cap = cap;
    }
    f->kids[f->n++] = kid;
    return true;
}

typedef struct keyref {
    const char *s;
    size_t n;
    size_t pair;
} keyref;

static int keyref_cmp(const void *a, const void *b)
{
    const keyref *x = a, *y = b;
    size_t m = x->n < y->n ? x->n : y->n;
    int c = memcmp(x->s, y->s, m);
    if (c) return c;
    if (x->n != y->n) return x->n < y->n ? -1 : 1;
    return (x->pair > y->pair) - (x->pair < y->pair);
}

/* Finishes a mapping: drops pairs whose key is not a scalar or repeats an earlier key. */
static bool finish_map(pstate *ps, frame *f)
{
    size_t npairs = f->n / 2;
    bool ok = false;
    unsigned char *drop = NULL;
    keyref *refs = NULL;
    if (npairs == 0) {
        ok = true;
        goto out;
    }
    drop = tess__calloc(npairs, 1);
    refs = tess__malloc(npairs * sizeof(*refs));
    if (!drop || !refs) {
        ps->oom = true;
        goto out;
    }
    size_t nrefs = 0;
    for (size_t i = 0; i < npairs; i++) {
        tess__ynode *k = f->kids[2 * i];
        if (k->kind != TESS__Y_SCALAR) {
            tess__ydiag_add(ps->diags, ps->file, k->line, k->col,
                            "a mapping key must be a string, not %s", tess__ynode_what(k));
            drop[i] = 1;
            continue;
        }
        refs[nrefs].s = k->s;
        refs[nrefs].n = k->n;
        refs[nrefs].pair = i;
        nrefs++;
    }
    if (nrefs > 1) qsort(refs, nrefs, sizeof(*refs), keyref_cmp);
    for (size_t i = 1; i < nrefs; i++) {
        size_t first = i - 1;
        while (i < nrefs && refs[i].n == refs[first].n &&
               memcmp(refs[i].s, refs[first].s, refs[i].n) == 0) {
            const tess__ynode *k0 = f->kids[2 * refs[first].pair];
            const tess__ynode *k = f->kids[2 * refs[i].pair];
            tess__ydiag_add(ps->diags, ps->file, k->line, k->col,
                            "duplicate key \"%.*s\" (first at line %d, column %d)", (int)k->n, k->s,
                            k0->line, k0->col);
            drop[refs[i].pair] = 1;
            i++;
        }
    }
    size_t kept = 0;
    for (size_t i = 0; i < npairs; i++)
        kept += !drop[i];
    f->node->items = tess__arena_alloc(ps->arena, (kept ? kept : 1) * 2 * sizeof(tess__ynode *));
    if (!f->node->items) {
        ps->oom = true;
        goto out;
    }
    size_t j = 0;
    for (size_t i = 0; i < npairs; i++) {
        if (drop[i]) continue;
        f->node->items[j++] = f->kids[2 * i];
        f->node->items[j++] = f->kids[2 * i + 1];
    }
    f->node->nitems = kept;
    ok = true;
out:
    tess__free(drop);
    tess__free(refs);
    return ok;
}

static bool finish_seq(pstate *ps, frame *f)
{
    f->node->items = tess__arena_alloc(ps->arena, (f->n ? f->n : 1) * sizeof(tess__ynode *));
    if (!f->node->items) {
        ps->oom = true;
        return false;
    }
    if (f->n) memcpy(f->node->items, f->kids, f->n * sizeof(tess__ynode *));
    f->node->nitems = f->n;
    return true;
}

/* libyaml's reader errors carry a byte offset, not a mark: turn it into line and column. */
static void offset_to_mark(const char *text, size_t n, size_t off, int *line, int *col)
{
    int l = 1, c = 1;
    if (off > n) off = n;
    for (size_t i = 0; i < off; i++) {
        if (text[i] == '\n') {
            l++;
            c = 1;
        } else if (((unsigned char)text[i] & 0xC0) != 0x80) {
            c++;
        }
    }
    *line = l;
    *col = c;
}

static void report_yaml_error(pstate *ps, const yaml_parser_t *p, const char *text, size_t n)
{
    int line, col;
    const char *problem = p->problem ? p->problem : "cannot parse";
    if (p->error == YAML_MEMORY_ERROR) {
        ps->oom = true;
        return;
    }
    if (p->error == YAML_READER_ERROR) {
        offset_to_mark(text, n, p->problem_offset, &line, &col);
        tess__ydiag_add(ps->diags, ps->file, line, col, "invalid YAML: %s", problem);
        return;
    }
    line = (int)p->problem_mark.line + 1;
    col = (int)p->problem_mark.column + 1;
    if (p->context)
        tess__ydiag_add(ps->diags, ps->file, line, col,
                        "invalid YAML: %s (%s at line %d, column %d)", problem, p->context,
                        (int)p->context_mark.line + 1, (int)p->context_mark.column + 1);
    else
        tess__ydiag_add(ps->diags, ps->file, line, col, "invalid YAML: %s", problem);
}

bool tess__ytree_parse(const char *text, size_t n, int file, tess__arena *arena, size_t *nodes,
                       tess__ydiags *diags, tess__ynode **root)
{
    yaml_parser_t p;
    yaml_event_t ev;
    pstate ps;
    bool done = false, failed = false;
    int docs = 0;
    tess__ynode *top = NULL;

    *root = NULL;
    memset(&ps, 0, sizeof(ps));
    ps.file = file;
    ps.text = text ? text : "";
    ps.n = text ? n : 0;
    ps.arena = arena;
    ps.nodes = nodes;
    ps.diags = diags;
    if (!yaml_parser_initialize(&p)) return false;
    if (!text) {
        text = "";
        n = 0;
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)text, n);

    while (!done && !failed && !ps.oom) {
        if (!yaml_parser_parse(&p, &ev)) {
            report_yaml_error(&ps, &p, text, n);
            failed = true;
            break;
        }
        tess__ynode *node = NULL;
        int line = (int)ev.start_mark.line + 1, col = (int)ev.start_mark.column + 1;
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        case YAML_DOCUMENT_START_EVENT:
            if (++docs > 1) {
                tess__ydiag_add(diags, file, line, col,
                                "a definition file holds one YAML document; found a second one");
                failed = true;
            }
            break;
        case YAML_ALIAS_EVENT:
            tess__ydiag_add(diags, file, line, col,
                            "YAML aliases (*%s) are not supported; write the value out",
                            ev.data.alias.anchor ? (const char *)ev.data.alias.anchor : "");
            failed = true;
            break;
        case YAML_SCALAR_EVENT:
            node = new_node(&ps, TESS__Y_SCALAR, &ev);
            if (!node) break;
            switch (ev.data.scalar.style) {
            case YAML_SINGLE_QUOTED_SCALAR_STYLE:
                node->style = TESS__Y_SQUOTED;
                break;
            case YAML_DOUBLE_QUOTED_SCALAR_STYLE:
                node->style = TESS__Y_DQUOTED;
                break;
            case YAML_LITERAL_SCALAR_STYLE:
                node->style = TESS__Y_LITERAL;
                node->indent = block_indent(&ps, ev.start_mark.line);
                break;
            case YAML_FOLDED_SCALAR_STYLE:
                node->style = TESS__Y_FOLDED;
                break;
            default:
                node->style = TESS__Y_PLAIN;
                break;
            }
            node->n = ev.data.scalar.length;
            node->s = tess__arena_strndup(arena, (const char *)ev.data.scalar.value, node->n);
            if (!node->s) ps.oom = true;
            break;
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
            node = new_node(&ps, ev.type == YAML_SEQUENCE_START_EVENT ? TESS__Y_SEQ : TESS__Y_MAP,
                            &ev);
            if (!node) break;
            if (ps.depth >= TESS__Y_MAX_DEPTH) {
                tess__ydiag_add(diags, file, line, col, "nesting is deeper than %d levels",
                                TESS__Y_MAX_DEPTH);
                failed = true;
                break;
            }
            ps.stack[ps.depth].node = node;
            ps.stack[ps.depth].n = 0;
            ps.depth++;
            node = NULL; /* attached to its parent when it ends */
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT: {
            frame *f = &ps.stack[ps.depth - 1];
            f->node->end_line = (int)ev.end_mark.line + 1;
            bool ok = f->node->kind == TESS__Y_MAP ? finish_map(&ps, f) : finish_seq(&ps, f);
            if (!ok) break;
            node = f->node;
            ps.depth--;
            break;
        }
        default:
            break;
        }
        yaml_event_delete(&ev);
        if (node && !ps.oom) {
            if (++*nodes > TESS__Y_MAX_NODES) {
                tess__ydiag_add(diags, file, node->line, node->col,
                                "too many YAML nodes (more than %d in one load)",
                                TESS__Y_MAX_NODES);
                failed = true;
            } else if (ps.depth > 0) {
                push_kid(&ps, &ps.stack[ps.depth - 1], node);
            } else {
                top = node;
            }
        }
    }
    for (int i = 0; i < TESS__Y_MAX_DEPTH; i++)
        tess__free(ps.stack[i].kids);
    yaml_parser_delete(&p);
    if (ps.oom) return false;
    if (!failed) *root = top;
    return true;
}
