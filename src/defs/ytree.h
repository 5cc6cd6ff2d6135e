/* ytree.h — one YAML file read with libyaml's event parser into a small tree of nodes that keep
 * their source positions, plus the list of diagnostics (file:line:column: message) that the
 * definitions loader collects while it validates.
 *
 * The tree is deliberately smaller than YAML: aliases are rejected (no billion laughs), anchors
 * and tags are ignored, one document per file, nesting is capped (TESS__Y_MAX_DEPTH) and so is
 * the number of nodes of one load (TESS__Y_MAX_NODES). Duplicate keys in one mapping are
 * reported and the later ones dropped, so that a mapping's keys are unique. Every node lives in
 * the arena given to the reader; nothing else is allocated for the caller.
 */
#ifndef TESS_DEFS_YTREE_H
#define TESS_DEFS_YTREE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/arena.h"

#define TESS__Y_MAX_DEPTH 64
#define TESS__Y_MAX_NODES 1000000
#define TESS__Y_MAX_DIAGS 100

typedef enum tess__ykind { TESS__Y_SCALAR, TESS__Y_SEQ, TESS__Y_MAP } tess__ykind;

typedef enum tess__ystyle {
    TESS__Y_PLAIN,
    TESS__Y_SQUOTED,
    TESS__Y_DQUOTED,
    TESS__Y_LITERAL,
    TESS__Y_FOLDED
} tess__ystyle;

typedef struct tess__ynode tess__ynode;
struct tess__ynode {
    tess__ykind kind;
    tess__ystyle style; /* scalars */
    int file;           /* index into the loader's file list */
    int line, col;      /* 1-based start (for a quoted scalar: the opening quote) */
    int end_line;       /* 1-based line of the end mark */
    int indent;         /* literal block scalars: the content's indentation, else 0 */
    const char *s;      /* scalar value, NUL-terminated (may hold NULs: use n) */
    size_t n;
    tess__ynode **items; /* seq: nitems items; map: keys at 2i, values at 2i+1 */
    size_t nitems;       /* seq: items; map: pairs */
};

/* A map's i-th key / value. */
static inline const tess__ynode *tess__ymap_key(const tess__ynode *m, size_t i)
{
    return m->items[2 * i];
}
static inline const tess__ynode *tess__ymap_val(const tess__ynode *m, size_t i)
{
    return m->items[2 * i + 1];
}

/* True for a plain scalar that YAML reads as null: empty, "~", "null", "Null", "NULL". */
bool tess__ynode_is_null(const tess__ynode *n);
/* True if the scalar equals the NUL-terminated string s. */
bool tess__ynode_eq(const tess__ynode *n, const char *s);
/* "a mapping", "a list", "a string", "null" (for messages). */
const char *tess__ynode_what(const tess__ynode *n);

/* One problem, at a position of a file. */
typedef struct tess__ydiag {
    int file, line, col, seq;
    char *msg; /* heap (tess__malloc) */
} tess__ydiag;

typedef struct tess__ydiags {
    tess__ydiag *v;
    size_t n, cap;
    size_t dropped; /* problems past TESS__Y_MAX_DIAGS */
    bool oom;       /* an allocation failed (the load then fails with TESS_ENOMEM) */
} tess__ydiags;

/* Adds a problem (kept up to TESS__Y_MAX_DIAGS, then counted in `dropped`). */
void tess__ydiag_add(tess__ydiags *d, int file, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
void tess__ydiag_vadd(tess__ydiags *d, int file, int line, int col, const char *fmt, va_list ap);
/* Sorts by (file, line, column, order added). */
void tess__ydiags_sort(tess__ydiags *d);
void tess__ydiags_release(tess__ydiags *d);

/*
 * Parses `text` (n bytes) of file number `file`. On success *root is the document's root node,
 * or NULL for an empty file. Problems (broken YAML with libyaml's own text, aliases, depth,
 * duplicate keys, several documents) go to `diags`; a file with a problem that stops the parse
 * gives *root = NULL. *nodes counts nodes across calls and caps them.
 * Returns false only when out of memory.
 */
bool tess__ytree_parse(const char *text, size_t n, int file, tess__arena *arena, size_t *nodes,
                       tess__ydiags *diags, tess__ynode **root);

#endif
