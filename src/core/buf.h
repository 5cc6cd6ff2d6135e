/* buf.h — a growable byte buffer with an optional cap (curl's dynbuf). The contents are always
 * NUL-terminated after a successful append, so `p` can be used as a C string. */
#ifndef TESS_CORE_BUF_H
#define TESS_CORE_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <string.h>

typedef struct tess__buf {
    char *p;
    size_t len;
    size_t cap;
    size_t max; /* 0: no cap; otherwise appends that would pass it fail with TESS_EINVAL */
} tess__buf;

#define TESS__BUF_INIT {NULL, 0, 0, 0}

/* Each returns TESS_OK, TESS_ENOMEM, or TESS_EINVAL (cap exceeded); on failure the buffer is
 * unchanged. tess__buf_append is inline for the common case (the bytes fit): encoders call it
 * for every field. */
int tess__buf_append_grow(tess__buf *b, const void *data, size_t n);
static inline int tess__buf_append(tess__buf *b, const void *data, size_t n)
{
    if (b->len + n < b->cap && (!b->max || b->len + n <= b->max)) {
        if (n) memcpy(b->p + b->len, data, n);
        b->len += n;
        b->p[b->len] = '\0';
        return 0;
    }
    return tess__buf_append_grow(b, data, n);
}
int tess__buf_puts(tess__buf *b, const char *s);
int tess__buf_putc(tess__buf *b, char c);
int tess__buf_printf(tess__buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int tess__buf_vprintf(tess__buf *b, const char *fmt, va_list ap);
void tess__buf_reset(tess__buf *b);   /* len = 0, memory kept */
void tess__buf_release(tess__buf *b); /* frees memory */
/* Hands the memory (NUL-terminated, never NULL on success) to the caller; the buffer is empty. */
char *tess__buf_take(tess__buf *b);

#endif
