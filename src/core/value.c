/* value.c — type names and value comparison. */
#include "core/value.h"

#include <math.h>
#include <string.h>

#include "tessera.h"

static const char *const names[TESS_T__COUNT] = {
    [TESS_T_NULL] = "null",       [TESS_T_BOOL] = "bool",     [TESS_T_INT64] = "int64",
    [TESS_T_FLOAT64] = "float64", [TESS_T_STRING] = "string", [TESS_T_TIMESTAMP] = "timestamp",
};

const char *tess__type_name(tess__type t)
{
    return (unsigned)t < TESS_T__COUNT ? names[t] : "?";
}

int tess__type_parse(const char *s, size_t n, tess__type *out)
{
    for (int t = TESS_T_BOOL; t < TESS_T__COUNT; t++) {
        if (strlen(names[t]) == n && memcmp(names[t], s, n) == 0) {
            *out = (tess__type)t;
            return TESS_OK;
        }
    }
    return TESS_NOTFOUND;
}

bool tess__value_same(const tess__value *a, const tess__value *b)
{
    if (a->null || b->null) return a->null && b->null;
    if (a->type != b->type) return false;
    switch (a->type) {
    case TESS_T_BOOL: return a->u.b == b->u.b;
    case TESS_T_INT64:
    case TESS_T_TIMESTAMP: return a->u.i == b->u.i;
    case TESS_T_FLOAT64:
        if (isnan(a->u.f) || isnan(b->u.f)) return isnan(a->u.f) && isnan(b->u.f);
        return a->u.f == b->u.f;
    case TESS_T_STRING:
        return a->u.s.n == b->u.s.n && (a->u.s.n == 0 || memcmp(a->u.s.p, b->u.s.p, a->u.s.n) == 0);
    default: return true;
    }
}
