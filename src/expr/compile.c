/* compile.c — from a checked syntax tree to register bytecode; the compile entry point.
 *
 * Code generation walks the tree once, children first, producing for each node either a
 * constant or a register. An operation whose operands are all constants is folded: it is run
 * right away by the same kernel the interpreter uses (tess__expr_exec on one row), so folding can
 * never disagree with evaluation. Constants that feed a non-constant operation are materialised
 * by an OP_CONST instruction just before it.
 *
 * Registers are allocated like a stack: an instruction's destination is taken before its
 * sources are released, so a destination is never also a source (vm.c relies on this), and
 * the number of registers stays proportional to the tree's height. Variadic functions (min,
 * max, coalesce, concat) become chains of two-operand instructions.
 *
 * All intermediate data lives in a compile arena released at the end; the finished tess__expr
 * is a handful of heap blocks (tess__malloc) and is never written again.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "expr/expr_int.h"
#include "tessera.h"

typedef tess__expr_node node;

int tess__expr_fail(tess__expr_diag *d, int rc, int col, const char *fmt, ...)
{
    if (d->err_col) *d->err_col = col;
    if (d->err) {
        char msg[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        tess__err_set(d->err, rc, "%s", msg);
    }
    return rc;
}

/* A node's value during code generation: a register r (>= 0), or the constant consts[-1 - o].
 * A plain int keeps gen_node's frame small: its recursion is as deep as the tree is high. */
typedef int operand;

static bool is_const(operand o)
{
    return o < 0;
}

typedef struct gen {
    tess__arena *arena;
    tess__expr_diag *diag;
    tess__expr_ins *code;
    size_t ncode, cap_code;
    tess__value *consts; /* literals and folded values; strings in the arena */
    size_t nconsts, cap_consts;
    uint8_t *reg_size, *reg_busy;
    size_t nregs, cap_regs;
    uint8_t *used; /* per variable */
    int *slot;     /* per variable: position in refs, filled at the end */
} gen;

/* Grows an arena array (the old copy is simply abandoned in the arena). */
static int grow(gen *g, void **arr, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return TESS_OK;
    size_t nc = *cap ? *cap * 2 : 16;
    while (nc < need)
        nc *= 2;
    void *p = tess__arena_alloc(g->arena, nc * elem);
    if (!p) return TESS_ENOMEM;
    if (*cap) memcpy(p, *arr, *cap * elem);
    *arr = p;
    *cap = nc;
    return TESS_OK;
}

static int oom(gen *g)
{
    return tess__expr_fail(g->diag, TESS_ENOMEM, 1, "out of memory");
}

static int reg_alloc(gen *g, tess__type t, int *out)
{
    size_t r = 0;
    while (r < g->nregs && g->reg_busy[r])
        r++;
    if (r == g->nregs) {
        if (g->nregs >= TESS__EXPR_NOREG - 1)
            return tess__expr_fail(g->diag, TESS_ETYPE, 1, "expression is too complex");
        size_t cap = g->cap_regs;
        if (grow(g, (void **)&g->reg_size, &cap, g->nregs + 1, 1)) return oom(g);
        cap = g->cap_regs;
        if (grow(g, (void **)&g->reg_busy, &cap, g->nregs + 1, 1)) return oom(g);
        g->cap_regs = cap;
        g->reg_size[r] = 0;
        g->nregs++;
    }
    g->reg_busy[r] = 1;
    size_t es = tess__expr_elem_size(t);
    if (es > g->reg_size[r]) g->reg_size[r] = (uint8_t)es;
    *out = (int)r;
    return TESS_OK;
}

static int push(gen *g, tess__expr_op op, tess__type t, int dst, int a, int b, int c, int32_t k)
{
    if (grow(g, (void **)&g->code, &g->cap_code, g->ncode + 1, sizeof(tess__expr_ins)))
        return oom(g);
    tess__expr_ins *in = &g->code[g->ncode++];
    in->op = (uint8_t)op;
    in->t = (uint8_t)t;
    in->dst = (uint16_t)dst;
    in->a = (uint16_t)a;
    in->b = (uint16_t)b;
    in->c = (uint16_t)c;
    in->k = k;
    return TESS_OK;
}

static int add_const(gen *g, const tess__value *v, operand *out)
{
    if (g->nconsts >= INT32_MAX / 2)
        return tess__expr_fail(g->diag, TESS_ETYPE, 1, "expression is too complex");
    if (grow(g, (void **)&g->consts, &g->cap_consts, g->nconsts + 1, sizeof(tess__value)))
        return oom(g);
    g->consts[g->nconsts] = *v;
    *out = -1 - (int)g->nconsts++;
    return TESS_OK;
}

static const tess__value *const_of(const gen *g, operand o)
{
    return &g->consts[-1 - o];
}

/* Turns a constant operand into a register. */
static int materialize(gen *g, operand *o)
{
    if (!is_const(*o)) return TESS_OK;
    tess__type t = const_of(g, *o)->type;
    int r = 0, rc;
    if ((rc = reg_alloc(g, t, &r))) return rc;
    if ((rc = push(g, OP_CONST, t, r, TESS__EXPR_NOREG, TESS__EXPR_NOREG, TESS__EXPR_NOREG,
                   -1 - *o)))
        return rc;
    *o = r;
    return TESS_OK;
}

/* Runs op on constant operands, on one row, with the interpreter's own kernel. Not inlined:
 * its frame would otherwise be paid by every level of gen_node's recursion. */
__attribute__((noinline)) static int fold(gen *g, tess__expr_op op, tess__type rt,
                                          const operand *ops, int nops, operand *out)
{
    union {
        int64_t i;
        double f;
        tess__str s;
    } bufs[4];
    uint8_t nbufs[4];
    tess__expr_reg regs[4];
    memset(regs, 0, sizeof(regs));
    for (int i = 0; i < 4; i++) {
        regs[i].buf = &bufs[i];
        regs[i].nbuf = &nbufs[i];
    }
    for (int i = 0; i < nops; i++)
        tess__expr_fill(&regs[i], const_of(g, ops[i]), 1);
    tess__expr_ins in = {(uint8_t)op,
                         (uint8_t)rt,
                         3,
                         nops > 0 ? 0 : TESS__EXPR_NOREG,
                         nops > 1 ? 1 : TESS__EXPR_NOREG,
                         nops > 2 ? 2 : TESS__EXPR_NOREG,
                         0};
    tess__expr_ctx ctx = {NULL, 0, NULL, g->arena};
    if (tess__expr_exec(&in, regs, 1, &ctx)) return oom(g);
    tess__value v = tess__expr_get(regs[3].data, regs[3].nulls, rt, 0);
    return add_const(g, &v, out);
}

/* Emits op over ops (folding if they are all constants); the result goes to *out. */
static int emit(gen *g, tess__expr_op op, tess__type rt, operand *ops, int nops, operand *out)
{
    bool all_const = nops > 0;
    for (int i = 0; i < nops; i++)
        all_const &= is_const(ops[i]);
    if (all_const) return fold(g, op, rt, ops, nops, out);
    int rc, dst;
    for (int i = 0; i < nops; i++)
        if ((rc = materialize(g, &ops[i]))) return rc;
    if ((rc = reg_alloc(g, rt, &dst))) return rc;
    int r[3] = {TESS__EXPR_NOREG, TESS__EXPR_NOREG, TESS__EXPR_NOREG};
    for (int i = 0; i < nops; i++)
        r[i] = ops[i];
    if ((rc = push(g, op, rt, dst, r[0], r[1], r[2], 0))) return rc;
    for (int i = 0; i < nops; i++)
        g->reg_busy[ops[i]] = 0;
    *out = dst;
    return TESS_OK;
}

static int emit1(gen *g, tess__expr_op op, tess__type rt, operand a, operand *out)
{
    return emit(g, op, rt, &a, 1, out);
}

static int emit2(gen *g, tess__expr_op op, tess__type rt, operand a, operand b, operand *out)
{
    operand ops[2] = {a, b};
    return emit(g, op, rt, ops, 2, out);
}

static int gen_node(gen *g, const node *n, operand *out);

/* Left fold of a variadic function into two-operand instructions. */
static int gen_chain(gen *g, const node *n, tess__expr_op op, operand *out)
{
    int rc;
    operand acc, x;
    if ((rc = gen_node(g, n->args[0], &acc))) return rc;
    for (int i = 1; i < n->nargs; i++) {
        if ((rc = gen_node(g, n->args[i], &x))) return rc;
        if ((rc = emit2(g, op, n->type, acc, x, &acc))) return rc;
    }
    *out = acc;
    return TESS_OK;
}

_Static_assert(OP_GE_I - OP_EQ_I == TK_GE - TK_EQ && OP_EQ_F - OP_EQ_I == 6 &&
                   OP_EQ_S - OP_EQ_F == 6 && OP_EQ_B - OP_EQ_S == 6,
               "comparison opcodes follow the comparison tokens");

static tess__expr_op cmp_op(int tk, tess__type t)
{
    int base = t == TESS_T_FLOAT64  ? OP_EQ_F
               : t == TESS_T_STRING ? OP_EQ_S
               : t == TESS_T_BOOL   ? OP_EQ_B
                                    : OP_EQ_I;
    return (tess__expr_op)(base + (tk - TK_EQ));
}

static int gen_cast(gen *g, const node *n, operand *out)
{
    int rc;
    operand a;
    if ((rc = gen_node(g, n->args[0], &a))) return rc;
    tess__type from = n->args[0]->type, to = n->to;
    if (from == to) {
        *out = a;
        return TESS_OK;
    }
    if ((from == TESS_T_INT64 && to == TESS_T_TIMESTAMP) ||
        (from == TESS_T_TIMESTAMP && to == TESS_T_INT64)) {
        /* the same bits: a register is used as it is; a constant gets its new type */
        if (!is_const(a)) {
            *out = a;
            return TESS_OK;
        }
        tess__value v = *const_of(g, a);
        v.type = to;
        return add_const(g, &v, out);
    }
    tess__expr_op op;
    switch (from * 8 + to) {
    case TESS_T_BOOL * 8 + TESS_T_INT64:
        op = OP_B2I;
        break;
    case TESS_T_BOOL * 8 + TESS_T_FLOAT64:
        op = OP_B2F;
        break;
    case TESS_T_BOOL * 8 + TESS_T_STRING:
        op = OP_B2S;
        break;
    case TESS_T_INT64 * 8 + TESS_T_BOOL:
        op = OP_I2B;
        break;
    case TESS_T_INT64 * 8 + TESS_T_FLOAT64:
        op = OP_I2F;
        break;
    case TESS_T_INT64 * 8 + TESS_T_STRING:
        op = OP_I2S;
        break;
    case TESS_T_FLOAT64 * 8 + TESS_T_INT64:
        op = OP_F2I;
        break;
    case TESS_T_FLOAT64 * 8 + TESS_T_STRING:
        op = OP_F2S;
        break;
    case TESS_T_STRING * 8 + TESS_T_BOOL:
        op = OP_S2B;
        break;
    case TESS_T_STRING * 8 + TESS_T_INT64:
        op = OP_S2I;
        break;
    case TESS_T_STRING * 8 + TESS_T_FLOAT64:
        op = OP_S2F;
        break;
    case TESS_T_STRING * 8 + TESS_T_TIMESTAMP:
        op = OP_S2T;
        break;
    case TESS_T_TIMESTAMP * 8 + TESS_T_STRING:
        op = OP_T2S;
        break;
    default:
        return tess__expr_fail(g->diag, TESS_ETYPE, n->to_col, "internal error: cast %s to %s",
                               tess__type_name(from), tess__type_name(to));
    }
    return emit1(g, op, to, a, out);
}

static tess__expr_op minmax_op(const node *n)
{
    bool min = n->op == FN_MIN;
    if (n->type == TESS_T_FLOAT64) return min ? OP_MIN_F : OP_MAX_F;
    if (n->type == TESS_T_STRING) return min ? OP_MIN_S : OP_MAX_S;
    return min ? OP_MIN_I : OP_MAX_I; /* int64 and timestamp */
}

static int gen_call(gen *g, const node *n, operand *out)
{
    int rc;
    operand ops[3];
    bool is_float = n->nargs > 0 && n->args[0]->type == TESS_T_FLOAT64;

    switch ((tess__expr_fn)n->op) {
    case FN_CAST:
        return gen_cast(g, n, out);
    case FN_COALESCE:
        return gen_chain(g, n, OP_COALESCE, out);
    case FN_MIN:
    case FN_MAX:
        return gen_chain(g, n, minmax_op(n), out);
    case FN_CONCAT:
        return gen_chain(g, n, OP_CONCAT, out);
    default:
        break;
    }
    for (int i = 0; i < n->nargs; i++)
        if ((rc = gen_node(g, n->args[i], &ops[i]))) return rc;
    switch ((tess__expr_fn)n->op) {
    case FN_IF: {
        operand o[3] = {ops[1], ops[2], ops[0]}; /* then, else, condition */
        return emit(g, OP_IF, n->type, o, 3, out);
    }
    case FN_IS_NULL:
        return emit1(g, OP_IS_NULL, TESS_T_BOOL, ops[0], out);
    case FN_ABS:
        return emit1(g, is_float ? OP_ABS_F : OP_ABS_I, n->type, ops[0], out);
    case FN_LOG:
        return emit1(g, OP_LOG, TESS_T_FLOAT64, ops[0], out);
    case FN_EXP:
        return emit1(g, OP_EXP, TESS_T_FLOAT64, ops[0], out);
    case FN_SQRT:
        return emit1(g, OP_SQRT, TESS_T_FLOAT64, ops[0], out);
    case FN_POW:
        return emit(g, OP_POW, TESS_T_FLOAT64, ops, 2, out);
    case FN_FLOOR:
    case FN_CEIL:
        if (!is_float) { /* an int64 is its own floor and ceiling */
            *out = ops[0];
            return TESS_OK;
        }
        return emit1(g, n->op == FN_FLOOR ? OP_FLOOR : OP_CEIL, n->type, ops[0], out);
    case FN_ROUND:
        if (n->nargs == 1) {
            if (!is_float) {
                *out = ops[0];
                return TESS_OK;
            }
            return emit1(g, OP_ROUND_F, n->type, ops[0], out);
        }
        return emit(g, is_float ? OP_ROUND_FD : OP_ROUND_ID, n->type, ops, 2, out);
    case FN_LOWER:
        return emit1(g, OP_LOWER, TESS_T_STRING, ops[0], out);
    case FN_UPPER:
        return emit1(g, OP_UPPER, TESS_T_STRING, ops[0], out);
    case FN_LENGTH:
        return emit1(g, OP_LENGTH, TESS_T_INT64, ops[0], out);
    case FN_SUBSTR:
        return emit(g, OP_SUBSTR, TESS_T_STRING, ops, n->nargs, out);
    case FN_HOUR:
        return emit1(g, OP_HOUR, TESS_T_INT64, ops[0], out);
    case FN_DAY_OF_WEEK:
        return emit1(g, OP_DOW, TESS_T_INT64, ops[0], out);
    default:
        break;
    }
    return tess__expr_fail(g->diag, TESS_ETYPE, n->col, "internal error: bad function");
}

static tess__expr_op binary_op(const node *n)
{
    tess__type t = n->args[0]->type;
    bool f = t == TESS_T_FLOAT64;
    switch (n->op) {
    case TK_PLUS:
        return f ? OP_ADD_F : OP_ADD_I; /* int64 and timestamps alike */
    case TK_MINUS:
        return f ? OP_SUB_F : OP_SUB_I;
    case TK_STAR:
        return f ? OP_MUL_F : OP_MUL_I;
    case TK_SLASH:
        return OP_DIV_F;
    case TK_PERCENT:
        return f ? OP_MOD_F : OP_MOD_I;
    case TK_AND:
        return OP_AND;
    case TK_OR:
        return OP_OR;
    default:
        return cmp_op(n->op, t);
    }
}

static int gen_node(gen *g, const node *n, operand *out)
{
    int rc;
    operand a, b;
    if (n->type == TESS_T_NULL)
        return tess__expr_fail(g->diag, TESS_ETYPE, n->start, "internal error: untyped node");
    switch (n->kind) {
    case N_LIT: {
        tess__value v = n->lit;
        v.type = n->type;
        return add_const(g, &v, out);
    }
    case N_VAR:
        if ((rc = reg_alloc(g, n->type, out))) return rc;
        g->used[n->var] = 1;
        /* k is the variable for now; finish() rewrites it to the position in refs */
        return push(g, OP_LOAD, n->type, *out, TESS__EXPR_NOREG, TESS__EXPR_NOREG, TESS__EXPR_NOREG,
                    n->var);
    case N_CONV:
        if ((rc = gen_node(g, n->args[0], &a))) return rc;
        return emit1(g, OP_I2F, TESS_T_FLOAT64, a, out);
    case N_NEG:
        if ((rc = gen_node(g, n->args[0], &a))) return rc;
        return emit1(g, n->type == TESS_T_FLOAT64 ? OP_NEG_F : OP_NEG_I, n->type, a, out);
    case N_NOT:
        if ((rc = gen_node(g, n->args[0], &a))) return rc;
        return emit1(g, OP_NOT, TESS_T_BOOL, a, out);
    case N_BIN:
        if ((rc = gen_node(g, n->args[0], &a)) || (rc = gen_node(g, n->args[1], &b))) return rc;
        return emit2(g, binary_op(n), n->type, a, b, out);
    case N_CALL:
        return gen_call(g, n, out);
    case N_NAME:
        break;
    }
    return tess__expr_fail(g->diag, TESS_ETYPE, n->col, "internal error: bad node");
}

void tess__expr_free(tess__expr *e)
{
    if (!e) return;
    tess__free(e->var_types);
    tess__free(e->refs);
    tess__free(e->code);
    tess__free(e->consts);
    tess__free(e->strpool);
    tess__free(e->reg_size);
    tess__free(e);
}

/* Copies the generated program out of the compile arena into the heap, keeping only the
 * constants that an OP_CONST instruction loads (folding leaves many behind). */
static int finish(gen *g, const tess__expr_var *vars, size_t nvars, int result, tess__type type,
                  tess__expr **out)
{
    tess__expr *e = tess__calloc(1, sizeof(*e));
    if (!e) return oom(g);
    e->type = type;
    e->nvars = nvars;
    e->result = (uint16_t)result;
    e->nregs = (uint16_t)g->nregs;
    size_t nrefs = 0, nconsts = 0, pool = 0;
    for (size_t v = 0; v < nvars; v++)
        nrefs += g->used[v];
    for (size_t k = 0; k < g->ncode; k++) {
        if (g->code[k].op != OP_CONST) continue;
        const tess__value *c = &g->consts[g->code[k].k];
        nconsts++;
        if (c->type == TESS_T_STRING && !c->null) pool += c->u.s.n;
    }
    e->var_types = tess__malloc(sizeof(tess__type) * (nvars ? nvars : 1));
    e->refs = tess__malloc(sizeof(int) * (nrefs ? nrefs : 1));
    e->code = tess__malloc(sizeof(tess__expr_ins) * (g->ncode ? g->ncode : 1));
    e->consts = tess__malloc(sizeof(tess__value) * (nconsts ? nconsts : 1));
    e->strpool = tess__malloc(pool ? pool : 1);
    e->reg_size = tess__malloc(g->nregs ? g->nregs : 1);
    if (!e->var_types || !e->refs || !e->code || !e->consts || !e->strpool || !e->reg_size) {
        tess__expr_free(e);
        return oom(g);
    }
    for (size_t v = 0; v < nvars; v++) {
        e->var_types[v] = vars[v].type;
        if (g->used[v]) {
            g->slot[v] = (int)e->nrefs;
            e->refs[e->nrefs++] = (int)v;
        }
    }
    char *p = e->strpool;
    for (size_t k = 0; k < g->ncode; k++) {
        tess__expr_ins in = g->code[k];
        if (in.op == OP_LOAD) in.k = g->slot[in.k];
        if (in.op == OP_CONST) {
            tess__value v = g->consts[in.k];
            if (v.type == TESS_T_STRING && !v.null) {
                if (v.u.s.n) memcpy(p, v.u.s.p, v.u.s.n);
                v.u.s.p = p;
                p += v.u.s.n;
            }
            in.k = (int32_t)e->nconsts;
            e->consts[e->nconsts++] = v;
        }
        e->code[e->ncode++] = in;
    }
    if (g->nregs) memcpy(e->reg_size, g->reg_size, g->nregs);
    *out = e;
    return TESS_OK;
}

int tess__expr_compile(const char *src, size_t n, const tess__expr_var *vars, size_t nvars,
                       tess__expr **out, tess__err *err, int *err_col)
{
    tess__expr_diag diag = {err, err_col};
    tess__arena arena = TESS__ARENA_INIT;
    node *root = NULL;
    int rc;
    *out = NULL;
    if (err_col) *err_col = 0;
    if (!src) n = 0;
    for (size_t v = 0; v < nvars; v++) {
        if (!vars[v].name || vars[v].type <= TESS_T_NULL || vars[v].type >= TESS_T__COUNT) {
            rc = tess__expr_fail(&diag, TESS_EINVAL, 1,
                                 "variable %zu has no name or an invalid type", v);
            goto out;
        }
    }
    if (n > TESS__EXPR_MAX_SRC) {
        rc = tess__expr_fail(&diag, TESS_EPARSE, 1,
                             "expression is too long (%zu bytes; the limit is %d)", n,
                             TESS__EXPR_MAX_SRC);
        goto out;
    }
    if ((rc = tess__expr_parse(src ? src : "", n, &arena, &diag, &root))) goto out;
    if ((rc = tess__expr_check(root, vars, nvars, &arena, &diag))) goto out;
    if (root->type == TESS_T_NULL) {
        rc = tess__expr_fail(&diag, TESS_ETYPE, root->start,
                             "expression has no type (it is always null); give it one with "
                             "cast(null, type)");
        goto out;
    }
    gen g;
    memset(&g, 0, sizeof(g));
    g.arena = &arena;
    g.diag = &diag;
    g.used = tess__arena_alloc(&arena, nvars ? nvars : 1);
    g.slot = tess__arena_alloc(&arena, sizeof(int) * (nvars ? nvars : 1));
    if (!g.used || !g.slot) {
        rc = oom(&g);
        goto out;
    }
    memset(g.used, 0, nvars ? nvars : 1);
    operand res;
    if ((rc = gen_node(&g, root, &res))) goto out;
    if ((rc = materialize(&g, &res))) goto out;
    rc = finish(&g, vars, nvars, res, root->type, out);
out:
    tess__arena_release(&arena);
    return rc;
}

tess__type tess__expr_type(const tess__expr *e)
{
    return e->type;
}

const int *tess__expr_refs(const tess__expr *e, size_t *n)
{
    *n = e->nrefs;
    return e->refs;
}
