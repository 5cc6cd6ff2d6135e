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
 *
 * Inside: the source is compiled to a short list of typed instructions over registers that hold
 * vectors of up to 1024 values (src/expr/expr_int.h describes the stages). Both eval functions
 * run that same code; a row is a batch of one. Compiling recurses (at most 256 levels, about
 * 100 KB of stack at the deepest); evaluating does not.
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
 * Parses and type-checks `src` (n bytes, not necessarily NUL-terminated, at most 65536) against
 * `vars` and compiles it into *out (free it with tess__expr_free).
 * On failure *out is NULL and the return is
 *   TESS_EPARSE  syntax (also: too long, nested more than 256 levels deep),
 *   TESS_ETYPE   types, unknown names or functions, wrong number of arguments, or an
 *                expression that is always null and so has no type (a bare `null`),
 *   TESS_EINVAL  a var without a name or with an invalid type (a caller bug),
 *   TESS_ENOMEM;
 * *err_col (if not NULL) is the 1-based byte column inside `src` of the offending token (n + 1
 * for the end of the input), and the message of `err` (if not NULL) says what was expected,
 * without any location prefix, e.g.
 *   unknown name "amout"; did you mean "amount"?
 *   "+" needs numbers or timestamps, got string and int64
 *   expected ")" to close "(" at column 4, got end of input
 * The caller adds file:line:column. `vars` is borrowed only during the call; names are compared
 * case-sensitively (function names and keywords are case-insensitive).
 */
int tess__expr_compile(const char *src, size_t n, const tess__expr_var *vars, size_t nvars,
                       tess__expr **out, tess__err *err, int *err_col);

/* Frees a compiled expression; NULL is ok. */
void tess__expr_free(tess__expr *e);

/* The result type (never TESS_T_NULL: a bare `null` expression is an error). */
tess__type tess__expr_type(const tess__expr *e);

/* The variables the expression reads: *n of them, ascending indices into the compile-time vars.
 * Borrowed for the life of e. */
const int *tess__expr_refs(const tess__expr *e, size_t *n);

/* Row at a time: vals[i] is the value of vars[i] (only referenced ones are read; vals may be NULL
 * if there are none). A referenced value must be null (any type, TESS_T_NULL included) or have
 * exactly its var's type. String results may point into `arena`, into the inputs, into static
 * storage, or into `e` itself (string constants): they stay valid while all of these do.
 * Returns TESS_OK, TESS_ENOMEM (the arena is out of memory or over its cap) or TESS_EINVAL (a
 * value of the wrong type). */
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
 * others may be {type, NULL, NULL}); a referenced column must have its var's type. Values in
 * null rows of an input are never dereferenced and may be garbage.
 * Writes n results into out->data and out->nulls, which the caller allocates (n elements of the
 * result type, and n bytes of nulls; out->nulls is always written, and the data of null rows is
 * zeroed), and sets out->type. `out` must not overlap the inputs. Scratch memory (up to 17 KB per
 * register, whatever n is) and string results come from `arena`; strings may also point
 * where tess__expr_eval's may. Any n works; the work is done in chunks of 1024 rows.
 * Returns TESS_OK, TESS_ENOMEM, or TESS_EINVAL (a column of the wrong type, missing buffers).
 */
int tess__expr_eval_batch(const tess__expr *e, const tess__col *cols, size_t n, tess__arena *arena,
                          tess__col *out);

#endif
