/* err.h — the detailed error message a handle keeps for its last failure (sqlite3_errmsg).
 * One error replaces the message (tess__err_set); validators that report every problem append
 * one line per problem (tess__err_add). The first non-OK code sticks as `rc`. */
#ifndef TESS_CORE_ERR_H
#define TESS_CORE_ERR_H

#include "core/buf.h"

typedef struct tess__err {
    int rc;       /* first failure code, TESS_OK if none */
    int count;    /* number of messages added */
    tess__buf msg;
} tess__err;

#define TESS__ERR_INIT {0, 0, TESS__BUF_INIT}

/* Replace the message; returns rc so that callers can `return tess__err_set(...)`. */
int tess__err_set(tess__err *e, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Append one more line; returns rc. */
int tess__err_add(tess__err *e, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void tess__err_clear(tess__err *e);
void tess__err_release(tess__err *e);
/* The message, "" if none. */
const char *tess__err_msg(const tess__err *e);

#endif
