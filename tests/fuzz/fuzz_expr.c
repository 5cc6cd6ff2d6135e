/* fuzz_expr.c — the expression language (src/expr/expr.h): lexer, parser, type checker,
 * constant folding, compiler, and both evaluators.
 *
 * Input: the expression's source. It is compiled against the columns of FUZZ_SCHEMA plus a
 * few request-like variables; if it compiles, it is evaluated row at a time on a fixed set of
 * rows (nulls, zeros, negatives, extremes, NaN, infinities, empty and non-ASCII strings) and
 * column at a time on the same rows, and the two must agree bit for bit (they run the same
 * code: DESIGN.md's online = offline). A failure must come with a message and a column inside
 * the input (or just past its end).
 */
#include <math.h>

#include "core/arena.h"
#include "core/err.h"
#include "expr/expr.h"
#include "fuzz.h"
#include "tessera.h"

static const tess__expr_var VARS[] = {
    {"user_id", TESS_T_INT64},   {"name", TESS_T_STRING},   {"amount", TESS_T_FLOAT64},
    {"ok", TESS_T_BOOL},         {"ts", TESS_T_TIMESTAMP},  {"created", TESS_T_TIMESTAMP},
    {"n", TESS_T_INT64},         {"x", TESS_T_FLOAT64},     {"s", TESS_T_STRING},
};
#define NVARS (sizeof VARS / sizeof VARS[0])
#define NROWS 8

static tess__value cell(size_t v, size_t row)
{
    static const int64_t ints[NROWS] = {0, 1, -1, INT64_MAX, INT64_MIN, 42, 1000000007, -7};
    static const int64_t tss[NROWS] = {0, 1710504000000000, -1, INT64_MAX, INT64_MIN,
                                       253402300799999999, -62135596800000000, 86400000000};
    static const char *const strs[NROWS] = {"", "a", "Hello", "\xc3\xa9t\xc3\xa9", "12",
                                            "2024-03-15T12:00:00Z", "true", "1e3"};
    if (row == NROWS - 1 && v % 2 == 0) return tess__null(VARS[v].type); /* some nulls */
    double fl[NROWS] = {0.0, -0.0, 1.5, -2.25, NAN, INFINITY, -INFINITY, 1e308};
    switch (VARS[v].type) {
    case TESS_T_BOOL:
        return tess__v_bool(row % 2);
    case TESS_T_INT64:
        return tess__v_int(ints[(row + v) % NROWS]);
    case TESS_T_FLOAT64:
        return tess__v_float(fl[(row + v) % NROWS]);
    case TESS_T_TIMESTAMP:
        return tess__v_ts(tss[(row + v) % NROWS]);
    case TESS_T_STRING: {
        const char *s = strs[(row + v) % NROWS];
        return tess__v_str(s, strlen(s));
    }
    default:
        abort();
    }
}

static int same(const tess__value *a, const tess__col *c, size_t i)
{
    int cnull = c->nulls[i] != 0;
    if (a->null != cnull) return 0;
    if (cnull) return 1;
    switch (c->type) {
    case TESS_T_BOOL:
        return a->u.b == (((const uint8_t *)c->data)[i] != 0);
    case TESS_T_INT64:
    case TESS_T_TIMESTAMP:
        return a->u.i == ((const int64_t *)c->data)[i];
    case TESS_T_FLOAT64: {
        double d = ((const double *)c->data)[i];
        if (isnan(d) && isnan(a->u.f)) return 1;
        return memcmp(&d, &a->u.f, 8) == 0;
    }
    case TESS_T_STRING: {
        const tess__str *s = (const tess__str *)c->data + i;
        return s->n == a->u.s.n && (s->n == 0 || memcmp(s->p, a->u.s.p, s->n) == 0);
    }
    default:
        return 0;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tess__expr *e = NULL;
    tess__err err = TESS__ERR_INIT;
    int col = -1;
    int rc = tess__expr_compile((const char *)data, size, VARS, NVARS, &e, &err, &col);
    if (rc != TESS_OK) {
        if (e) abort();
        if (rc != TESS_EPARSE && rc != TESS_ETYPE) abort();
        if (!tess__err_msg(&err)[0]) abort();
        if (col < 1 || (size_t)col > size + 1) {
            fprintf(stderr, "error column %d outside 1..%zu: %s\n", col, size + 1,
                    tess__err_msg(&err));
            abort();
        }
        tess__err_release(&err);
        return 0;
    }
    tess__type t = tess__expr_type(e);
    if (t <= TESS_T_NULL || t >= TESS_T__COUNT) abort();
    size_t nrefs = 0;
    const int *refs = tess__expr_refs(e, &nrefs);
    for (size_t i = 0; i < nrefs; i++)
        if (refs[i] < 0 || (size_t)refs[i] >= NVARS || (i && refs[i] <= refs[i - 1])) abort();

    /* column inputs */
    tess__arena arena = TESS__ARENA_INIT;
    tess__col cols[NVARS];
    for (size_t v = 0; v < NVARS; v++) {
        cols[v].type = VARS[v].type;
        cols[v].nulls = tess__arena_alloc(&arena, NROWS);
        size_t w = VARS[v].type == TESS_T_BOOL     ? 1
                   : VARS[v].type == TESS_T_STRING ? sizeof(tess__str)
                                                   : 8;
        cols[v].data = tess__arena_alloc(&arena, NROWS * w);
        for (size_t r = 0; r < NROWS; r++) {
            tess__value x = cell(v, r);
            cols[v].nulls[r] = x.null;
            if (x.null) continue;
            if (x.type == TESS_T_BOOL) ((uint8_t *)cols[v].data)[r] = x.u.b;
            else if (x.type == TESS_T_STRING) ((tess__str *)cols[v].data)[r] = x.u.s;
            else if (x.type == TESS_T_FLOAT64) ((double *)cols[v].data)[r] = x.u.f;
            else ((int64_t *)cols[v].data)[r] = x.u.i;
        }
    }
    tess__col out;
    out.type = t;
    out.nulls = tess__arena_alloc(&arena, NROWS);
    out.data = tess__arena_alloc(&arena, NROWS * 16);
    if (tess__expr_eval_batch(e, cols, NROWS, &arena, &out) != TESS_OK) abort();
    if (out.type != t) abort();

    tess__arena rowa = TESS__ARENA_INIT;
    for (size_t r = 0; r < NROWS; r++) {
        tess__value vals[NVARS], res;
        for (size_t v = 0; v < NVARS; v++)
            vals[v] = cell(v, r);
        if (tess__expr_eval(e, vals, &rowa, &res) != TESS_OK) abort();
        if (!res.null && res.type != t) abort();
        if (!same(&res, &out, r)) {
            fprintf(stderr, "row %zu: row-at-a-time and column-at-a-time results differ\n", r);
            abort();
        }
        tess__arena_reset(&rowa);
    }
    tess__arena_release(&rowa);
    tess__arena_release(&arena);
    tess__expr_free(e);
    tess__err_release(&err);
    return 0;
}
