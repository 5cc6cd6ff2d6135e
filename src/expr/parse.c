/* parse.c — recursive-descent parser: tokens -> syntax tree.
 *
 * Grammar, lowest precedence first (docs/expressions.md):
 *   or     := and ("or" and)*
 *   and    := not ("and" not)*
 *   not    := "not" not | cmp
 *   cmp    := add [("=" | "==" | "!=" | "<>" | "<" | "<=" | ">" | ">=") add]   -- no chains
 *   add    := mul (("+" | "-") mul)*
 *   mul    := unary (("*" | "/" | "%") unary)*
 *   unary  := "-" unary | primary
 *   primary:= literal | name | name "(" [or ("," or)*] ")" | "cast" "(" or "," type ")"
 *           | "(" or ")"
 * The binary levels are parsed by precedence climbing (one function, parse_expr) rather than
 * one function per level, so that a level of parentheses costs a few stack frames, not eight.
 * Binary operators are left-associative and built by a loop, so a long chain a + b + ... costs
 * no stack; recursion happens only through parentheses, calls, unary operators and right
 * operands, and is limited to TESS__EXPR_MAX_DEPTH levels. The height of the tree is limited to
 * the same number (the checker and compiler recurse over it). Only compilation recurses:
 * evaluation (vm.c) is a loop. Nodes live in the compile arena.
 */
#include <stdio.h>
#include <string.h>

#include "core/suggest.h"
#include "expr/expr_int.h"
#include "tessera.h"

typedef tess__expr_node node;

typedef struct parser {
    tess__expr_lexer lx;
    tess__expr_tok cur;
    tess__arena *arena;
    tess__expr_diag *diag;
    int depth;
} parser;

static int parse_or(parser *p, node **out);

static int col_of(const tess__expr_tok *t)
{
    return (int)t->pos + 1;
}

static int advance(parser *p)
{
    return tess__expr_lex(&p->lx, &p->cur);
}

/* "end of input" or the token's text in quotes, shortened. */
static const char *describe(parser *p, const tess__expr_tok *t, char *buf, size_t cap)
{
    if (t->kind == TK_END) return "end of input";
    if (t->len > 24)
        snprintf(buf, cap, "\"%.*s...\"", 24, p->lx.src + t->pos);
    else
        snprintf(buf, cap, "\"%.*s\"", (int)t->len, p->lx.src + t->pos);
    return buf;
}

static int oom(parser *p, int col)
{
    return tess__expr_fail(p->diag, TESS_ENOMEM, col, "out of memory");
}

static int too_deep(parser *p, int col)
{
    return tess__expr_fail(p->diag, TESS_EPARSE, col,
                           "expression is nested too deeply (more than %d levels)",
                           TESS__EXPR_MAX_DEPTH);
}

__attribute__((noinline)) static node *mk(parser *p, tess__expr_nk kind, int col, int start)
{
    node *nd = tess__arena_alloc(p->arena, sizeof(*nd));
    if (!nd) return NULL;
    memset(nd, 0, sizeof(*nd));
    nd->kind = kind;
    nd->col = col;
    nd->start = start;
    nd->height = 1;
    nd->type = TESS_T_NULL;
    return nd;
}

/* Gives nd its children and checks the height limit. */
__attribute__((noinline)) static int set_args(parser *p, node *nd, node **args, int nargs)
{
    if (nargs > 0) {
        nd->args = tess__arena_alloc(p->arena, sizeof(node *) * (size_t)nargs);
        if (!nd->args) return oom(p, nd->col);
        memcpy(nd->args, args, sizeof(node *) * (size_t)nargs);
    }
    nd->nargs = nargs;
    int h = 0;
    for (int i = 0; i < nargs; i++)
        if (args[i]->height > h) h = args[i]->height;
    nd->height = h + 1;
    if (nd->height > TESS__EXPR_MAX_DEPTH) return too_deep(p, nd->col);
    return TESS_OK;
}

static int enter(parser *p, int col)
{
    if (++p->depth > TESS__EXPR_MAX_DEPTH) return too_deep(p, col);
    return TESS_OK;
}

__attribute__((noinline)) static int binary(parser *p, tess__expr_tk op, int col, node *l, node *r,
                                            node **out)
{
    node *nd = mk(p, N_BIN, col, l->start);
    if (!nd) return oom(p, col);
    nd->op = op;
    node *kids[2] = {l, r};
    int rc = set_args(p, nd, kids, 2);
    *out = nd;
    return rc;
}

__attribute__((noinline, cold)) static int expect_expression(parser *p)
{
    char buf[40];
    return tess__expr_fail(p->diag, TESS_EPARSE, col_of(&p->cur), "expected an expression, got %s",
                           describe(p, &p->cur, buf, sizeof(buf)));
}

__attribute__((noinline)) static int parse_cast(parser *p, node *nd, int open_col)
{
    char buf[40];
    node *arg = NULL;
    int rc;
    if (p->cur.kind == TK_RPAREN)
        return tess__expr_fail(p->diag, TESS_ETYPE, nd->col,
                               "cast() takes 2 arguments, got 0: cast(value, type)");
    if ((rc = parse_or(p, &arg))) return rc;
    if (p->cur.kind != TK_COMMA) {
        if (p->cur.kind == TK_RPAREN)
            return tess__expr_fail(p->diag, TESS_ETYPE, nd->col,
                                   "cast() takes 2 arguments, got 1: cast(value, type)");
        return tess__expr_fail(p->diag, TESS_EPARSE, col_of(&p->cur),
                               "expected \",\" and a type name in cast(), got %s",
                               describe(p, &p->cur, buf, sizeof(buf)));
    }
    if ((rc = advance(p))) return rc;
    if (p->cur.kind != TK_IDENT)
        return tess__expr_fail(p->diag, TESS_EPARSE, col_of(&p->cur),
                               "expected a type name (bool, int64, float64, string or timestamp) "
                               "as the second argument of cast(), got %s",
                               describe(p, &p->cur, buf, sizeof(buf)));
    static const char *const types[] = {"bool", "int64", "float64", "string", "timestamp"};
    static const tess__type tvals[] = {TESS_T_BOOL, TESS_T_INT64, TESS_T_FLOAT64, TESS_T_STRING,
                                       TESS_T_TIMESTAMP};
    const char *name = p->lx.src + p->cur.pos;
    size_t len = p->cur.len;
    int found = -1, best = -1, best_d = 3;
    for (int i = 0; i < 5; i++) {
        if (tess__expr_word_eq(name, len, types[i])) found = i;
        int d = tess__edit_distance(name, len, types[i], strlen(types[i]), 2, true);
        if (d < best_d) best_d = d, best = i;
    }
    if (found < 0) {
        if (best >= 0 && (size_t)best_d < len)
            return tess__expr_fail(p->diag, TESS_ETYPE, col_of(&p->cur),
                                   "unknown type \"%.*s\"; did you mean \"%s\"?", (int)len, name,
                                   types[best]);
        return tess__expr_fail(p->diag, TESS_ETYPE, col_of(&p->cur),
                               "unknown type \"%.*s\"; expected bool, int64, float64, string or "
                               "timestamp",
                               (int)len, name);
    }
    nd->to = tvals[found];
    nd->to_col = col_of(&p->cur);
    if ((rc = advance(p))) return rc;
    if (p->cur.kind != TK_RPAREN) {
        if (p->cur.kind == TK_COMMA)
            return tess__expr_fail(p->diag, TESS_ETYPE, nd->col,
                                   "cast() takes 2 arguments: cast(value, type)");
        return tess__expr_fail(p->diag, TESS_EPARSE, col_of(&p->cur),
                               "expected \")\" to close \"(\" at column %d, got %s", open_col,
                               describe(p, &p->cur, buf, sizeof(buf)));
    }
    if ((rc = advance(p))) return rc;
    return set_args(p, nd, &arg, 1);
}

__attribute__((noinline, cold)) static int unclosed_call(parser *p, int open_col)
{
    char buf[40];
    return tess__expr_fail(p->diag, TESS_EPARSE, col_of(&p->cur),
                           "expected \",\" or \")\" to close \"(\" at column %d, got %s", open_col,
                           describe(p, &p->cur, buf, sizeof(buf)));
}

/* At "(" after the name src[pos, pos + len). (Not inlined, like the error paths: small frames
 * in the recursive functions are what keep deep nesting cheap.) */
__attribute__((noinline)) static int parse_call(parser *p, size_t pos, size_t len, node **out)
{
    int rc;
    int col = (int)pos + 1, open_col = col_of(&p->cur);
    node *nd = mk(p, N_CALL, col, col);
    if (!nd) return oom(p, col);
    nd->name = p->lx.src + pos;
    nd->name_len = len;
    *out = nd;
    if ((rc = enter(p, open_col))) return rc;
    if ((rc = advance(p))) return rc;
    if (tess__expr_word_eq(nd->name, nd->name_len, "cast")) {
        nd->op = FN_CAST;
        rc = parse_cast(p, nd, open_col);
        p->depth--;
        return rc;
    }
    nd->op = -1; /* resolved by the checker */
    node **args = NULL;
    int nargs = 0, cap = 0;
    if (p->cur.kind == TK_RPAREN) {
        if ((rc = advance(p))) return rc;
    } else {
        for (;;) {
            node *a = NULL;
            if ((rc = parse_or(p, &a))) return rc;
            if (nargs == cap) {
                cap = cap ? cap * 2 : 4;
                node **bigger = tess__arena_alloc(p->arena, sizeof(node *) * (size_t)cap);
                if (!bigger) return oom(p, a->start);
                if (nargs) memcpy(bigger, args, sizeof(node *) * (size_t)nargs);
                args = bigger;
            }
            args[nargs++] = a;
            if (p->cur.kind == TK_COMMA) {
                if ((rc = advance(p))) return rc;
                continue;
            }
            if (p->cur.kind == TK_RPAREN) {
                if ((rc = advance(p))) return rc;
                break;
            }
            return unclosed_call(p, open_col);
        }
    }
    p->depth--;
    return set_args(p, nd, args, nargs);
}

__attribute__((noinline, cold)) static int unclosed(parser *p, int open_col)
{
    char buf[40];
    return tess__expr_fail(p->diag, TESS_EPARSE, col_of(&p->cur),
                           "expected \")\" to close \"(\" at column %d, got %s", open_col,
                           describe(p, &p->cur, buf, sizeof(buf)));
}

__attribute__((noinline)) static int parse_literal(parser *p, node **out)
{
    const tess__expr_tok *t = &p->cur;
    int col = col_of(t);
    node *nd;
    if (t->kind == TK_INT && t->ival > (uint64_t)INT64_MAX)
        return tess__expr_fail(p->diag, TESS_EPARSE, col,
                               "integer literal %.*s is out of the int64 range (write a float "
                               "such as 1e19 instead)",
                               (int)t->len, p->lx.src + t->pos);
    if (!(nd = mk(p, N_LIT, col, col))) return oom(p, col);
    if (t->kind == TK_INT)
        nd->lit = tess__v_int((int64_t)t->ival);
    else if (t->kind == TK_FLOAT)
        nd->lit = tess__v_float(t->fval);
    else if (t->kind == TK_STRING)
        nd->lit = tess__v_str(t->sval.p, t->sval.n);
    else if (t->kind == TK_NULL)
        nd->lit = tess__null(TESS_T_NULL);
    else
        nd->lit = tess__v_bool(t->kind == TK_TRUE);
    nd->type = nd->lit.type;
    *out = nd;
    return advance(p);
}

static int parse_primary(parser *p, node **out)
{
    int rc;
    int col = col_of(&p->cur);
    switch (p->cur.kind) {
    case TK_INT:
    case TK_FLOAT:
    case TK_STRING:
    case TK_TRUE:
    case TK_FALSE:
    case TK_NULL:
        return parse_literal(p, out);
    case TK_IDENT: {
        size_t pos = p->cur.pos, len = p->cur.len;
        if ((rc = advance(p))) return rc;
        if (p->cur.kind == TK_LPAREN) return parse_call(p, pos, len, out);
        node *nd = mk(p, N_NAME, col, col);
        if (!nd) return oom(p, col);
        nd->name = p->lx.src + pos;
        nd->name_len = len;
        *out = nd;
        return TESS_OK;
    }
    case TK_LPAREN:
        if ((rc = enter(p, col))) return rc;
        if ((rc = advance(p))) return rc;
        if ((rc = parse_or(p, out))) return rc;
        if (p->cur.kind != TK_RPAREN) return unclosed(p, col);
        p->depth--;
        return advance(p);
    default:
        return expect_expression(p);
    }
}

static int parse_unary(parser *p, node **out)
{
    int rc;
    if (p->cur.kind != TK_MINUS) return parse_primary(p, out);
    int col = col_of(&p->cur);
    if ((rc = enter(p, col))) return rc;
    if ((rc = advance(p))) return rc;
    node *nd;
    if (p->cur.kind == TK_INT && p->cur.ival == (uint64_t)INT64_MAX + 1) {
        /* -9223372036854775808: the one literal that only exists negated */
        if (!(nd = mk(p, N_LIT, col, col))) return oom(p, col);
        nd->lit = tess__v_int(INT64_MIN);
        nd->type = TESS_T_INT64;
        *out = nd;
        p->depth--;
        return advance(p);
    }
    node *kid = NULL;
    if ((rc = parse_unary(p, &kid))) return rc;
    if (!(nd = mk(p, N_NEG, col, col))) return oom(p, col);
    *out = nd;
    p->depth--;
    return set_args(p, nd, &kid, 1);
}

/* Binding strength of a binary operator token, 0 if it is not one. */
enum { PREC_OR = 1, PREC_AND, PREC_NOT, PREC_CMP, PREC_ADD, PREC_MUL };

static int binary_prec(tess__expr_tk k)
{
    switch (k) {
    case TK_OR:
        return PREC_OR;
    case TK_AND:
        return PREC_AND;
    case TK_EQ:
    case TK_NE:
    case TK_LT:
    case TK_LE:
    case TK_GT:
    case TK_GE:
        return PREC_CMP;
    case TK_PLUS:
    case TK_MINUS:
        return PREC_ADD;
    case TK_STAR:
    case TK_SLASH:
    case TK_PERCENT:
        return PREC_MUL;
    default:
        return 0;
    }
}

static int chained(parser *p)
{
    return tess__expr_fail(p->diag, TESS_EPARSE, col_of(&p->cur),
                           "comparisons do not chain: write a < b and b < c, not a < b < c");
}

/* Precedence climbing: parses an expression whose binary operators all bind at least as
 * strongly as min_prec. Left operands of a chain are built in the loop (no recursion); only a
 * right operand recurses, with a higher minimum, so it stops at the next operator of the same
 * level. `not` is a prefix operator between "and" and the comparisons. */
static int parse_expr(parser *p, int min_prec, node **out)
{
    int rc;
    node *l = NULL, *r = NULL;
    if (p->cur.kind == TK_NOT && min_prec <= PREC_NOT) {
        int col = col_of(&p->cur);
        if ((rc = enter(p, col))) return rc;
        if ((rc = advance(p))) return rc;
        node *kid = NULL;
        if ((rc = parse_expr(p, PREC_NOT, &kid))) return rc;
        if (!(l = mk(p, N_NOT, col, col))) return oom(p, col);
        p->depth--;
        if ((rc = set_args(p, l, &kid, 1))) return rc;
    } else if ((rc = parse_unary(p, &l))) {
        return rc;
    }
    for (;;) {
        tess__expr_tk op = p->cur.kind;
        int prec = binary_prec(op);
        if (prec == 0 || prec < min_prec) break;
        int col = col_of(&p->cur);
        if ((rc = advance(p))) return rc;
        if ((rc = parse_expr(p, prec + 1, &r))) return rc;
        if ((rc = binary(p, op, col, l, r, &l))) return rc;
        if (prec == PREC_CMP && binary_prec(p->cur.kind) == PREC_CMP) return chained(p);
    }
    *out = l;
    return TESS_OK;
}

static int parse_or(parser *p, node **out)
{
    return parse_expr(p, PREC_OR, out);
}

int tess__expr_parse(const char *src, size_t n, tess__arena *arena, tess__expr_diag *diag,
                     node **out)
{
    char buf[40];
    parser p;
    memset(&p, 0, sizeof(p));
    p.lx.src = src;
    p.lx.n = n;
    p.lx.arena = arena;
    p.lx.diag = diag;
    p.arena = arena;
    p.diag = diag;
    int rc = advance(&p);
    if (rc) return rc;
    if (p.cur.kind == TK_END) return tess__expr_fail(diag, TESS_EPARSE, 1, "empty expression");
    if ((rc = parse_or(&p, out))) return rc;
    if (p.cur.kind != TK_END) {
        if (p.cur.kind == TK_RPAREN)
            return tess__expr_fail(diag, TESS_EPARSE, col_of(&p.cur),
                                   "unexpected \")\": no \"(\" to close");
        return tess__expr_fail(diag, TESS_EPARSE, col_of(&p.cur),
                               "expected an operator or the end of the expression, got %s",
                               describe(&p, &p.cur, buf, sizeof(buf)));
    }
    return TESS_OK;
}
