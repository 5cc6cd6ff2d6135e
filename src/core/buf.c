/* buf.c — growable byte buffer. Invariant: cap == 0 or p[len] == '\0'. */
#include "core/buf.h"

#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "tessera.h"

static int grow(tess__buf *b, size_t extra)
{
    size_t need = b->len + extra + 1;
    if (b->max && b->len + extra > b->max) return TESS_EINVAL;
    if (need <= b->cap) return TESS_OK;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need) cap *= 2;
    char *p = tess__realloc(b->p, cap);
    if (!p) return TESS_ENOMEM;
    b->p = p;
    b->cap = cap;
    return TESS_OK;
}

int tess__buf_append_grow(tess__buf *b, const void *data, size_t n)
{
    int rc = grow(b, n);
    if (rc) return rc;
    if (n) memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
    return TESS_OK;
}

int tess__buf_puts(tess__buf *b, const char *s)
{
    return tess__buf_append(b, s, strlen(s));
}

int tess__buf_putc(tess__buf *b, char c)
{
    return tess__buf_append(b, &c, 1);
}

int tess__buf_vprintf(tess__buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0) return TESS_EINVAL;
    int rc = grow(b, (size_t)n);
    if (rc) return rc;
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return TESS_OK;
}

int tess__buf_printf(tess__buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = tess__buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

void tess__buf_reset(tess__buf *b)
{
    b->len = 0;
    if (b->cap) b->p[0] = '\0';
}

void tess__buf_release(tess__buf *b)
{
    tess__free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

char *tess__buf_take(tess__buf *b)
{
    if (!b->p) {
        if (grow(b, 0)) return NULL;
        b->p[0] = '\0';
    }
    char *p = b->p;
    b->p = NULL;
    b->len = b->cap = 0;
    return p;
}
