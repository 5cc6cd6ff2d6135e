/* check.c — the type checker: resolves names, gives every node a type, and rewrites the tree
 * so that the compiler sees only operands of the exact types its instructions take.
 *
 * Rewrites, done in place:
 *   - N_NAME becomes N_VAR (or an error with a "did you mean" suggestion);
 *   - an int64 operand where a float64 is needed is wrapped in N_CONV;
 *   - a null-typed operand (the literal `null`, or anything built only from nulls such as
 *     `null + null`) becomes a typed null literal of the type its context needs.
 * A node of type TESS_T_NULL is always null, because only constructs whose inputs are all
 * null-typed have that type. Parents coerce each child to a concrete type, so after a
 * successful check only the root can still be TESS_T_NULL (compile.c rejects that).
 *
 * Errors point at the operator for operators, at the function name for arity, and at the first
 * column of the offending argument for argument types.
 */
#include <stdio.h>
#include <string.h>

#include "core/suggest.h"
#include "expr/expr_int.h"
#include "tessera.h"

typedef tess__expr_node node;

typedef struct checker {
    const tess__expr_var *vars;
    size_t nvars;
    tess__arena *arena;
    tess__expr_diag *diag;
} checker;

static const struct fninfo {
    const char *name;
    int min, max; /* max < 0: variadic */
} fns[FN__COUNT] = {
    [FN_IF] = {"if", 3, 3},           [FN_COALESCE] = {"coalesce", 1, -1},
    [FN_IS_NULL] = {"is_null", 1, 1}, [FN_ABS] = {"abs", 1, 1},
    [FN_LOG] = {"log", 1, 1},         [FN_EXP] = {"exp", 1, 1},
    [FN_SQRT] = {"sqrt", 1, 1},       [FN_POW] = {"pow", 2, 2},
    [FN_FLOOR] = {"floor", 1, 1},     [FN_CEIL] = {"ceil", 1, 1},
    [FN_ROUND] = {"round", 1, 2},     [FN_MIN] = {"min", 2, -1},
    [FN_MAX] = {"max", 2, -1},        [FN_LOWER] = {"lower", 1, 1},
    [FN_UPPER] = {"upper", 1, 1},     [FN_LENGTH] = {"length", 1, 1},
    [FN_CONCAT] = {"concat", 1, -1},  [FN_SUBSTR] = {"substr", 2, 3},
    [FN_HOUR] = {"hour", 1, 1},       [FN_DAY_OF_WEEK] = {"day_of_week", 1, 1},
    [FN_CAST] = {"cast", 2, 2},
};

static int oom(checker *c, int col)
{
    return tess__expr_fail(c->diag, TESS_ENOMEM, col, "out of memory");
}

static const char *tname(tess__type t)
{
    return tess__type_name(t);
}

/* Gives n the concrete type t: a typed null for a null-typed node, a promotion for int64 where
 * float64 is needed. */
static int coerce(checker *c, node *n, tess__type t)
{
    if (n->type == t) return TESS_OK;
    if (n->type == TESS_T_NULL) {
        n->kind = N_LIT;
        n->lit = tess__null(t);
        n->nargs = 0;
        n->args = NULL;
        n->type = t;
        return TESS_OK;
    }
    if (n->type == TESS_T_INT64 && t == TESS_T_FLOAT64) {
        node *copy = tess__arena_alloc(c->arena, sizeof(*copy));
        node **args = tess__arena_alloc(c->arena, sizeof(node *));
        if (!copy || !args) return oom(c, n->col);
        *copy = *n;
        args[0] = copy;
        n->kind = N_CONV;
        n->args = args;
        n->nargs = 1;
        n->type = TESS_T_FLOAT64;
        n->height = copy->height + 1;
        return TESS_OK;
    }
    return tess__expr_fail(c->diag, TESS_ETYPE, n->start, "internal error: cannot convert %s to %s",
                           tname(n->type), tname(t));
}

static bool numeric_or_null(tess__type t)
{
    return t == TESS_T_NULL || tess__type_is_numeric(t);
}

/* The common type of args (ignoring null-typed ones; int64 and float64 make float64), and
 * coerces them all to it. *out stays TESS_T_NULL if every argument is null-typed. */
static int unify(checker *c, node **args, int n, const char *fname, const char *what,
                 tess__type *out)
{
    tess__type t = TESS_T_NULL;
    for (int i = 0; i < n; i++) {
        tess__type at = args[i]->type;
        if (at == TESS_T_NULL || at == t) continue;
        if (t == TESS_T_NULL) {
            t = at;
        } else if (tess__type_is_numeric(t) && tess__type_is_numeric(at)) {
            t = TESS_T_FLOAT64;
        } else {
            return tess__expr_fail(c->diag, TESS_ETYPE, args[i]->start,
                                   "%s() %s have different types: %s and %s", fname, what, tname(t),
                                   tname(at));
        }
    }
    if (t != TESS_T_NULL) {
        for (int i = 0; i < n; i++) {
            int rc = coerce(c, args[i], t);
            if (rc) return rc;
        }
    }
    *out = t;
    return TESS_OK;
}

static int check(checker *c, node *n);

static const char *op_text(int op)
{
    switch (op) {
    case TK_PLUS:
        return "+";
    case TK_MINUS:
        return "-";
    case TK_STAR:
        return "*";
    case TK_SLASH:
        return "/";
    case TK_PERCENT:
        return "%";
    case TK_EQ:
        return "=";
    case TK_NE:
        return "!=";
    case TK_LT:
        return "<";
    case TK_LE:
        return "<=";
    case TK_GT:
        return ">";
    case TK_GE:
        return ">=";
    case TK_AND:
        return "and";
    case TK_OR:
        return "or";
    default:
        return "?";
    }
}

static int check_additive(checker *c, node *n)
{
    node *a = n->args[0], *b = n->args[1];
    tess__type ta = a->type, tb = b->type;
    bool plus = n->op == TK_PLUS;
    int rc;
    if (ta == TESS_T_NULL && tb == TESS_T_NULL) {
        n->type = TESS_T_NULL;
        return TESS_OK;
    }
    /* a null operand takes the type that makes the operation valid */
    if (ta == TESS_T_NULL && (tess__type_is_numeric(tb) || tb == TESS_T_TIMESTAMP))
        ta = tb == TESS_T_TIMESTAMP ? (plus ? TESS_T_INT64 : TESS_T_TIMESTAMP) : tb;
    if (tb == TESS_T_NULL && (tess__type_is_numeric(ta) || ta == TESS_T_TIMESTAMP))
        tb = ta == TESS_T_TIMESTAMP ? TESS_T_INT64 : ta;
    if (tess__type_is_numeric(ta) && tess__type_is_numeric(tb)) {
        tess__type t = ta == TESS_T_INT64 && tb == TESS_T_INT64 ? TESS_T_INT64 : TESS_T_FLOAT64;
        if ((rc = coerce(c, a, t)) || (rc = coerce(c, b, t))) return rc;
        n->type = t;
        return TESS_OK;
    }
    if (ta == TESS_T_TIMESTAMP && tb == TESS_T_INT64)
        n->type = TESS_T_TIMESTAMP;
    else if (plus && ta == TESS_T_INT64 && tb == TESS_T_TIMESTAMP)
        n->type = TESS_T_TIMESTAMP;
    else if (!plus && ta == TESS_T_TIMESTAMP && tb == TESS_T_TIMESTAMP)
        n->type = TESS_T_INT64;
    else if (plus && ta == TESS_T_TIMESTAMP && tb == TESS_T_TIMESTAMP)
        return tess__expr_fail(c->diag, TESS_ETYPE, n->col,
                               "\"+\" cannot add two timestamps (a timestamp plus an int64 of "
                               "microseconds is a timestamp)");
    else if (!plus && ta == TESS_T_INT64 && tb == TESS_T_TIMESTAMP)
        return tess__expr_fail(c->diag, TESS_ETYPE, n->col,
                               "\"-\" cannot subtract a timestamp from an int64");
    else if ((ta == TESS_T_TIMESTAMP && tb == TESS_T_FLOAT64) ||
             (ta == TESS_T_FLOAT64 && tb == TESS_T_TIMESTAMP))
        return tess__expr_fail(c->diag, TESS_ETYPE, n->col,
                               "\"%s\" needs an int64 number of microseconds with a timestamp, got "
                               "%s and %s (use cast(x, int64))",
                               op_text(n->op), tname(a->type), tname(b->type));
    else
        return tess__expr_fail(c->diag, TESS_ETYPE, n->col,
                               "\"%s\" needs numbers or timestamps, got %s and %s", op_text(n->op),
                               tname(a->type), tname(b->type));
    if ((rc = coerce(c, a, ta)) || (rc = coerce(c, b, tb))) return rc;
    return TESS_OK;
}

static int check_multiplicative(checker *c, node *n)
{
    node *a = n->args[0], *b = n->args[1];
    int rc;
    if (!numeric_or_null(a->type) || !numeric_or_null(b->type))
        return tess__expr_fail(c->diag, TESS_ETYPE, n->col, "\"%s\" needs numbers, got %s and %s",
                               op_text(n->op), tname(a->type), tname(b->type));
    tess__type t;
    if (n->op == TK_SLASH)
        t = TESS_T_FLOAT64;
    else if (a->type == TESS_T_NULL && b->type == TESS_T_NULL)
        t = TESS_T_NULL;
    else if (a->type == TESS_T_FLOAT64 || b->type == TESS_T_FLOAT64)
        t = TESS_T_FLOAT64;
    else
        t = TESS_T_INT64;
    if (t != TESS_T_NULL && ((rc = coerce(c, a, t)) || (rc = coerce(c, b, t)))) return rc;
    n->type = t;
    return TESS_OK;
}

static int check_comparison(checker *c, node *n)
{
    node *a = n->args[0], *b = n->args[1];
    tess__type ta = a->type, tb = b->type;
    int rc;
    if (ta == TESS_T_NULL && tb == TESS_T_NULL)
        ta = tb = TESS_T_BOOL;
    else if (ta == TESS_T_NULL)
        ta = tb;
    else if (tb == TESS_T_NULL)
        tb = ta;
    if (ta != tb) {
        if (tess__type_is_numeric(ta) && tess__type_is_numeric(tb)) {
            ta = tb = TESS_T_FLOAT64;
        } else {
            const char *hint = "";
            if ((ta == TESS_T_TIMESTAMP && tb == TESS_T_STRING) ||
                (ta == TESS_T_STRING && tb == TESS_T_TIMESTAMP))
                hint = " (convert the string with cast(x, timestamp))";
            else if (ta == TESS_T_STRING || tb == TESS_T_STRING)
                hint = " (convert with cast(x, type))";
            return tess__expr_fail(c->diag, TESS_ETYPE, n->col,
                                   "\"%s\" cannot compare %s with %s%s", op_text(n->op),
                                   tname(a->type), tname(b->type), hint);
        }
    }
    if ((rc = coerce(c, a, ta)) || (rc = coerce(c, b, tb))) return rc;
    n->type = TESS_T_BOOL;
    return TESS_OK;
}

static int check_logical(checker *c, node *n)
{
    node *a = n->args[0], *b = n->args[1];
    int rc;
    if ((a->type != TESS_T_BOOL && a->type != TESS_T_NULL) ||
        (b->type != TESS_T_BOOL && b->type != TESS_T_NULL))
        return tess__expr_fail(c->diag, TESS_ETYPE, n->col, "\"%s\" needs bools, got %s and %s",
                               op_text(n->op), tname(a->type), tname(b->type));
    if ((rc = coerce(c, a, TESS_T_BOOL)) || (rc = coerce(c, b, TESS_T_BOOL))) return rc;
    n->type = TESS_T_BOOL;
    return TESS_OK;
}

static int lookup_fn(const char *name, size_t len)
{
    for (int f = 0; f < FN__COUNT; f++)
        if (tess__expr_word_eq(name, len, fns[f].name)) return f;
    return -1;
}

/* Argument i of n must have type t (or be null-typed, then it becomes a typed null). */
static int want_arg(checker *c, node *n, int i, tess__type t, const char *what)
{
    node *a = n->args[i];
    if (a->type == TESS_T_NULL || a->type == t) return coerce(c, a, t);
    const char *hint = "";
    if (t == TESS_T_STRING)
        hint = " (convert with cast(x, string))";
    else if (t == TESS_T_TIMESTAMP && a->type == TESS_T_STRING)
        hint = " (convert with cast(x, timestamp))";
    else if (t == TESS_T_INT64 && a->type == TESS_T_FLOAT64)
        hint = " (convert with cast(x, int64))";
    if (n->nargs == 1)
        return tess__expr_fail(c->diag, TESS_ETYPE, a->start, "%s() needs %s, got %s%s",
                               fns[n->op].name, what, tname(a->type), hint);
    return tess__expr_fail(c->diag, TESS_ETYPE, a->start, "%s() needs %s as argument %d, got %s%s",
                           fns[n->op].name, what, i + 1, tname(a->type), hint);
}

static int want_number(checker *c, node *n, int i)
{
    node *a = n->args[i];
    if (numeric_or_null(a->type)) return TESS_OK;
    return tess__expr_fail(c->diag, TESS_ETYPE, a->start, "%s() needs a number, got %s",
                           fns[n->op].name, tname(a->type));
}

static bool cast_allowed(tess__type from, tess__type to)
{
    if (from == to || from == TESS_T_STRING || to == TESS_T_STRING) return true;
    switch (from) {
    case TESS_T_BOOL:
        return to == TESS_T_INT64 || to == TESS_T_FLOAT64;
    case TESS_T_INT64:
        return true;
    case TESS_T_FLOAT64:
        return to == TESS_T_INT64;
    case TESS_T_TIMESTAMP:
        return to == TESS_T_INT64;
    default:
        return false;
    }
}

static int check_cast(checker *c, node *n)
{
    node *a = n->args[0];
    if (a->type == TESS_T_NULL) {
        n->type = n->to;
        return coerce(c, a, n->to);
    }
    if (!cast_allowed(a->type, n->to)) {
        const char *hint = "";
        if (a->type == TESS_T_FLOAT64 && n->to == TESS_T_BOOL)
            hint = " (compare instead: x != 0)";
        else if (a->type == TESS_T_FLOAT64 && n->to == TESS_T_TIMESTAMP)
            hint = " (cast an int64 number of microseconds)";
        else if (a->type == TESS_T_TIMESTAMP && n->to == TESS_T_FLOAT64)
            hint = " (cast to int64 for microseconds since the epoch)";
        return tess__expr_fail(c->diag, TESS_ETYPE, n->to_col, "cannot cast %s to %s%s",
                               tname(a->type), tname(n->to), hint);
    }
    n->type = n->to;
    return TESS_OK;
}

static int check_call(checker *c, node *n)
{
    int rc;
    if (n->op != FN_CAST) {
        int f = lookup_fn(n->name, n->name_len);
        if (f < 0) {
            int best = -1, best_d = 3;
            for (int g = 0; g < FN__COUNT; g++) {
                int d = tess__edit_distance(n->name, n->name_len, fns[g].name, strlen(fns[g].name),
                                            2, true);
                if (d < best_d) best_d = d, best = g;
            }
            if (best >= 0 && (size_t)best_d < n->name_len)
                return tess__expr_fail(c->diag, TESS_ETYPE, n->col,
                                       "unknown function \"%.*s\"; did you mean \"%s\"?",
                                       (int)n->name_len, n->name, fns[best].name);
            return tess__expr_fail(c->diag, TESS_ETYPE, n->col, "unknown function \"%.*s\"",
                                   (int)n->name_len, n->name);
        }
        n->op = f;
        const struct fninfo *fi = &fns[f];
        if (n->nargs < fi->min || (fi->max >= 0 && n->nargs > fi->max)) {
            const char *extra = "";
            if ((f == FN_MIN || f == FN_MAX) && n->nargs == 1)
                extra = " (it is the least/greatest of its arguments, row by row; for an "
                        "aggregate over rows use agg: min or agg: max)";
            if (fi->max < 0)
                return tess__expr_fail(c->diag, TESS_ETYPE, n->col,
                                       "%s() takes at least %d argument%s, got %d%s", fi->name,
                                       fi->min, fi->min == 1 ? "" : "s", n->nargs, extra);
            if (fi->min == fi->max)
                return tess__expr_fail(c->diag, TESS_ETYPE, n->col,
                                       "%s() takes %d argument%s, got %d", fi->name, fi->min,
                                       fi->min == 1 ? "" : "s", n->nargs);
            return tess__expr_fail(c->diag, TESS_ETYPE, n->col,
                                   "%s() takes %d or %d arguments, got %d", fi->name, fi->min,
                                   fi->max, n->nargs);
        }
    }
    for (int i = 0; i < n->nargs; i++)
        if ((rc = check(c, n->args[i]))) return rc;

    node **a = n->args;
    tess__type t;
    switch ((tess__expr_fn)n->op) {
    case FN_IF:
        if (a[0]->type != TESS_T_BOOL && a[0]->type != TESS_T_NULL)
            return tess__expr_fail(c->diag, TESS_ETYPE, a[0]->start,
                                   "if() needs a bool condition, got %s", tname(a[0]->type));
        if ((rc = coerce(c, a[0], TESS_T_BOOL))) return rc;
        if ((rc = unify(c, a + 1, 2, "if", "branches", &t))) return rc;
        n->type = t;
        return TESS_OK;
    case FN_COALESCE:
        if ((rc = unify(c, a, n->nargs, "coalesce", "arguments", &t))) return rc;
        n->type = t;
        return TESS_OK;
    case FN_IS_NULL:
        if (a[0]->type == TESS_T_NULL && (rc = coerce(c, a[0], TESS_T_BOOL))) return rc;
        n->type = TESS_T_BOOL;
        return TESS_OK;
    case FN_ABS:
    case FN_FLOOR:
    case FN_CEIL:
        if ((rc = want_number(c, n, 0))) return rc;
        n->type = a[0]->type;
        return TESS_OK;
    case FN_ROUND:
        if ((rc = want_number(c, n, 0))) return rc;
        if (n->nargs == 2 && (rc = want_arg(c, n, 1, TESS_T_INT64, "an int64 number of digits")))
            return rc;
        n->type = a[0]->type;
        return TESS_OK;
    case FN_LOG:
    case FN_EXP:
    case FN_SQRT:
    case FN_POW:
        for (int i = 0; i < n->nargs; i++) {
            if ((rc = want_number(c, n, i))) return rc;
            if ((rc = coerce(c, a[i], TESS_T_FLOAT64))) return rc;
        }
        n->type = TESS_T_FLOAT64;
        return TESS_OK;
    case FN_MIN:
    case FN_MAX:
        if ((rc = unify(c, a, n->nargs, fns[n->op].name, "arguments", &t))) return rc;
        if (t == TESS_T_BOOL) {
            for (int i = 0; i < n->nargs; i++)
                if (a[i]->type == TESS_T_BOOL)
                    return tess__expr_fail(c->diag, TESS_ETYPE, a[i]->start,
                                           "%s() needs numbers, strings or timestamps, got bool",
                                           fns[n->op].name);
        }
        n->type = t;
        return TESS_OK;
    case FN_LOWER:
    case FN_UPPER:
        if ((rc = want_arg(c, n, 0, TESS_T_STRING, "a string"))) return rc;
        n->type = TESS_T_STRING;
        return TESS_OK;
    case FN_LENGTH:
        if ((rc = want_arg(c, n, 0, TESS_T_STRING, "a string"))) return rc;
        n->type = TESS_T_INT64;
        return TESS_OK;
    case FN_CONCAT:
        for (int i = 0; i < n->nargs; i++)
            if ((rc = want_arg(c, n, i, TESS_T_STRING, "strings"))) return rc;
        n->type = TESS_T_STRING;
        return TESS_OK;
    case FN_SUBSTR:
        if ((rc = want_arg(c, n, 0, TESS_T_STRING, "a string"))) return rc;
        if ((rc = want_arg(c, n, 1, TESS_T_INT64, "an int64 start position"))) return rc;
        if (n->nargs == 3 && (rc = want_arg(c, n, 2, TESS_T_INT64, "an int64 length"))) return rc;
        n->type = TESS_T_STRING;
        return TESS_OK;
    case FN_HOUR:
    case FN_DAY_OF_WEEK:
        if ((rc = want_arg(c, n, 0, TESS_T_TIMESTAMP, "a timestamp"))) return rc;
        n->type = TESS_T_INT64;
        return TESS_OK;
    case FN_CAST:
        return check_cast(c, n);
    case FN__COUNT:
        break;
    }
    return tess__expr_fail(c->diag, TESS_ETYPE, n->col, "internal error: bad function");
}

static int check_name(checker *c, node *n)
{
    for (size_t i = 0; i < c->nvars; i++) {
        const char *vn = c->vars[i].name;
        if (strlen(vn) == n->name_len && memcmp(vn, n->name, n->name_len) == 0) {
            n->kind = N_VAR;
            n->var = (int)i;
            n->type = c->vars[i].type;
            return TESS_OK;
        }
    }
    int f = lookup_fn(n->name, n->name_len);
    if (f >= 0)
        return tess__expr_fail(c->diag, TESS_ETYPE, n->col,
                               "\"%.*s\" is a function; call it with arguments: %s(...)",
                               (int)n->name_len, n->name, fns[f].name);
    /* suggest a name that differs only in case, else one within 2 edits (and not a complete
     * rewrite of a short name) */
    int best = -1, best_d = 3;
    for (size_t i = 0; i < c->nvars; i++) {
        const char *vn = c->vars[i].name;
        if (tess__edit_distance(n->name, n->name_len, vn, strlen(vn), 0, true) == 0) {
            best = (int)i;
            best_d = 0;
            break;
        }
        int d = tess__edit_distance(n->name, n->name_len, vn, strlen(vn), 2, false);
        if (d < best_d) best_d = d, best = (int)i;
    }
    if (best >= 0 && (best_d == 0 || (size_t)best_d < n->name_len))
        return tess__expr_fail(c->diag, TESS_ETYPE, n->col,
                               "unknown name \"%.*s\"; did you mean \"%s\"?", (int)n->name_len,
                               n->name, c->vars[best].name);
    return tess__expr_fail(c->diag, TESS_ETYPE, n->col, "unknown name \"%.*s\"", (int)n->name_len,
                           n->name);
}

static int check(checker *c, node *n)
{
    int rc;
    switch (n->kind) {
    case N_LIT:
        n->type = n->lit.type;
        return TESS_OK;
    case N_NAME:
        return check_name(c, n);
    case N_VAR:
    case N_CONV:
        return TESS_OK; /* only created by the checker */
    case N_NEG:
        if ((rc = check(c, n->args[0]))) return rc;
        if (!numeric_or_null(n->args[0]->type))
            return tess__expr_fail(c->diag, TESS_ETYPE, n->col, "\"-\" needs a number, got %s",
                                   tname(n->args[0]->type));
        n->type = n->args[0]->type;
        return TESS_OK;
    case N_NOT:
        if ((rc = check(c, n->args[0]))) return rc;
        if (n->args[0]->type != TESS_T_BOOL && n->args[0]->type != TESS_T_NULL)
            return tess__expr_fail(c->diag, TESS_ETYPE, n->col, "\"not\" needs a bool, got %s",
                                   tname(n->args[0]->type));
        n->type = TESS_T_BOOL;
        return coerce(c, n->args[0], TESS_T_BOOL);
    case N_BIN:
        if ((rc = check(c, n->args[0])) || (rc = check(c, n->args[1]))) return rc;
        switch (n->op) {
        case TK_PLUS:
        case TK_MINUS:
            return check_additive(c, n);
        case TK_STAR:
        case TK_SLASH:
        case TK_PERCENT:
            return check_multiplicative(c, n);
        case TK_AND:
        case TK_OR:
            return check_logical(c, n);
        default:
            return check_comparison(c, n);
        }
    case N_CALL:
        return check_call(c, n);
    }
    return tess__expr_fail(c->diag, TESS_ETYPE, n->col, "internal error: bad node");
}

int tess__expr_check(node *root, const tess__expr_var *vars, size_t nvars, tess__arena *arena,
                     tess__expr_diag *diag)
{
    checker c = {vars, nvars, arena, diag};
    return check(&c, root);
}
