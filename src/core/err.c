/* err.c — detailed error messages kept on handles. An out-of-memory while formatting a message
 * keeps the code and leaves the message as it was (never fails twice). */
#include "core/err.h"

#include <stdarg.h>

#include "tessera.h"

int tess__err_set(tess__err *e, int rc, const char *fmt, ...)
{
    va_list ap;
    tess__buf_reset(&e->msg);
    e->rc = rc;
    e->count = 1;
    va_start(ap, fmt);
    tess__buf_vprintf(&e->msg, fmt, ap);
    va_end(ap);
    return rc;
}

int tess__err_add(tess__err *e, int rc, const char *fmt, ...)
{
    va_list ap;
    if (e->count > 0) tess__buf_putc(&e->msg, '\n');
    if (e->rc == TESS_OK) e->rc = rc;
    e->count++;
    va_start(ap, fmt);
    tess__buf_vprintf(&e->msg, fmt, ap);
    va_end(ap);
    return rc;
}

void tess__err_clear(tess__err *e)
{
    e->rc = TESS_OK;
    e->count = 0;
    tess__buf_reset(&e->msg);
}

void tess__err_release(tess__err *e)
{
    tess__buf_release(&e->msg);
    e->rc = TESS_OK;
    e->count = 0;
}

const char *tess__err_msg(const tess__err *e)
{
    return e->msg.p ? e->msg.p : "";
}
