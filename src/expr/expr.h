/* expr.h — the expression language: parse, type-check, compile, evaluate.
 *
 * One implementation, called by the definitions loader (type checking), the offline engine
 * (column-at-a-time over millions of rows) and the online server (one row at a time). A compiled
 * tess__expr is immutable and may be shared by threads; every evaluation takes its scratch memory
 * and its string results from the arena it is given.
 *
 * Language (DESIGN.md "Expressions"; docs/expressions.md is the full reference): literals
 * (integers, floats, 'strings' or "strings", true, false, null), names of variables,
 * + - * / %, unary -, comparisons = == != <> < <= > >=, and or not, if(c, a, b), coalesce,
 * is_null, abs log exp sqrt pow floor ceil round min max, lower upper length concat substr,
 * hour day_of_week, cast(x, type). SQL null semantics: null in, null out (and/or are
 * three-valued); division by zero, log of a non-positive number, failed casts and int64 overflow
 * give null. Evaluation never fails at run time except for running out of memory.
 */
#ifndef TESS_EXPR_EXPR_H
#define TESS_EXPR_EXPR_H

#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/err.h"
#include "core/value.h"

typedef struct tess__expr tess__expr;

/* A name an expression may use (a source column, a request field, another feature), with its
 * type. An expression refers to variables by their index in the array given to compile. */
typedef struct tess__expr_var {
    const char *name;
    tess__type type;
} tess__expr_var;

/*
 * Parses and type-checks `src` (n bytes) against `vars` and compiles it.
 * On failure: returns TESS_EPARSE (syntax) or TESS_ETYPE (types, unknown names, wrong arity),
 * sets *err_col to the 1-based byte column inside `src` where the problem is, and sets the
 * message of `err` to what was expected, without any location prefix, e.g.
 *   unknown column "amout"; did you mean "amount"?
 *   "+" needs numbers, got string and int64
 * The caller adds file:line:column. `vars` is borrowed only during the call (names are copied).
 */
int tess__expr_compile(const char *src, size_t n, const tess__expr_var *vars, size_t nvars,
                       tess__expr **out, tess__err *err, int *err_col);

void tess__expr_free(tess__expr *e);

/* The result type (never TESS_T_NULL: a bare `null` expression is an error). */
tess__type tess__expr_type(const tess__expr *e);

/* The variables the expression reads: *n of them, ascending indices into the compile-time vars.
 * Borrowed for the life of e. */
const int *tess__expr_refs(const tess__expr *e, size_t *n);

/* Row at a time: vals[i] is the value of vars[i] (only referenced ones are read). String results
 * may point into `arena` or into the inputs. Returns TESS_OK or TESS_ENOMEM. */
int tess__expr_eval(const tess__expr *e, const tess__value *vals, tess__arena *arena,
                    tess__value *out);

/*
 * A column of n values. `nulls` is NULL when no value is null, else nulls[i] != 0 marks a null.
 * `data` holds n elements of: uint8_t (bool, 0/1), int64_t (int64 and timestamp), double
 * (float64) or tess__str (string).
 */
typedef struct tess__col {
    tess__type type;
    uint8_t *nulls;
    void *data;
} tess__col;

/*
 * Column at a time: cols[i] holds the n values of vars[i] (only referenced ones are read;
 * others may be {type, NULL, NULL}). Writes n results into out->data and out->nulls, which the
 * caller allocates (n elements of the result type, and n bytes of nulls; out->nulls is always
 * written). Scratch and string results come from `arena`. Returns TESS_OK or TESS_ENOMEM.
 */
int tess__expr_eval_batch(const tess__expr *e, const tess__col *cols, size_t n,
                          tess__arena *arena, tess__col *out);

#endif
