/* value.h — Tessera's typed values: bool, int64, float64, string, timestamp, and null.
 *
 * A tess__value is a small tagged union passed by value. Strings are {ptr, len} views, not
 * NUL-terminated; the bytes belong to whoever produced the value (a column, an arena, a
 * definition) and stay valid as long as that owner does. Timestamps are int64 microseconds since
 * the Unix epoch, UTC. Null is a flag, not a type: a null value still has the type of its
 * column or expression (SQL semantics); TESS_T_NULL is only the type of the literal `null`. */
#ifndef TESS_CORE_VALUE_H
#define TESS_CORE_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum tess__type {
    TESS_T_NULL = 0, /* the type of a bare `null` literal; converts to any type */
    TESS_T_BOOL,
    TESS_T_INT64,
    TESS_T_FLOAT64,
    TESS_T_STRING,
    TESS_T_TIMESTAMP,
    TESS_T__COUNT
} tess__type;

typedef struct tess__str {
    const char *p;
    size_t n;
} tess__str;

typedef struct tess__value {
    tess__type type;
    bool null;
    union {
        bool b;
        int64_t i;   /* int64 and timestamp (microseconds) */
        double f;
        tess__str s;
    } u;
} tess__value;

/* "bool", "int64", "float64", "string", "timestamp", "null". */
const char *tess__type_name(tess__type t);
/* Parses a type name; returns TESS_OK or TESS_NOTFOUND. */
int tess__type_parse(const char *s, size_t n, tess__type *out);
/* int64 or float64. */
static inline bool tess__type_is_numeric(tess__type t)
{
    return t == TESS_T_INT64 || t == TESS_T_FLOAT64;
}

static inline tess__value tess__null(tess__type t)
{
    tess__value v;
    v.type = t;
    v.null = true;
    v.u.i = 0;
    return v;
}
static inline tess__value tess__v_bool(bool b)
{
    tess__value v = {TESS_T_BOOL, false, {.b = b}};
    return v;
}
static inline tess__value tess__v_int(int64_t i)
{
    tess__value v = {TESS_T_INT64, false, {.i = i}};
    return v;
}
static inline tess__value tess__v_float(double f)
{
    tess__value v = {TESS_T_FLOAT64, false, {.f = f}};
    return v;
}
static inline tess__value tess__v_ts(int64_t us)
{
    tess__value v = {TESS_T_TIMESTAMP, false, {.i = us}};
    return v;
}
static inline tess__value tess__v_str(const char *p, size_t n)
{
    tess__value v = {TESS_T_STRING, false, {.s = {p, n}}};
    return v;
}

/* True if both are null, or both non-null with equal type and value (floats compared bitwise
 * after treating -0.0 == 0.0; NaN equals NaN). For tests and consistency checks. */
bool tess__value_same(const tess__value *a, const tess__value *b);

#endif
