/* writer.c — CSV/JSON value text and atomic output files (writer.h).
 *
 * The value functions run once per cell of a training set, so they avoid printf: int64 and
 * float64 are formatted by hand (float64 by tess__expr_format_float, whose text is the one
 * documented in writer.h), and CSV quoting copies runs of bytes rather than single ones. */
#include "offline/writer.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/io.h"
#include "core/time.h"
#include "expr/expr_int.h"
#include "tessera.h"

/* The decimal text of i into buf (at least 21 bytes, no NUL); returns the length. */
static size_t format_int64(int64_t i, char *buf)
{
    static const char pairs[201] = "00010203040506070809"
                                   "10111213141516171819"
                                   "20212223242526272829"
                                   "30313233343536373839"
                                   "40414243444546474849"
                                   "50515253545556575859"
                                   "60616263646566676869"
                                   "70717273747576777879"
                                   "80818283848586878889"
                                   "90919293949596979899";
    uint64_t u = i < 0 ? 0 - (uint64_t)i : (uint64_t)i;
    char tmp[20], *p = tmp + sizeof(tmp);
    while (u >= 100) {
        p -= 2;
        memcpy(p, pairs + 2 * (u % 100), 2);
        u /= 100;
    }
    if (u >= 10) {
        p -= 2;
        memcpy(p, pairs + 2 * u, 2);
    } else {
        *--p = (char)('0' + u);
    }
    size_t len = 0;
    if (i < 0) buf[len++] = '-';
    memcpy(buf + len, p, (size_t)(tmp + sizeof(tmp) - p));
    return len + (size_t)(tmp + sizeof(tmp) - p);
}

int tess__put_value_text(tess__buf *b, const tess__value *v)
{
    char tmp[64];
    size_t n;
    switch (v->type) {
    case TESS_T_BOOL: return tess__buf_puts(b, v->u.b ? "true" : "false");
    case TESS_T_INT64:
        n = format_int64(v->u.i, tmp);
        return tess__buf_append(b, tmp, n);
    case TESS_T_FLOAT64: /* nan, inf and -inf included */
        n = tess__expr_format_float(v->u.f, tmp);
        return tess__buf_append(b, tmp, n);
    case TESS_T_TIMESTAMP:
        n = tess__ts_format(v->u.i, tmp);
        return tess__buf_append(b, tmp, n);
    case TESS_T_STRING: return tess__buf_append(b, v->u.s.p, v->u.s.n);
    default: return TESS_OK;
    }
}

int tess__csv_put_field(tess__buf *b, const char *p, size_t n, char delim)
{
    bool quote = false;
    for (size_t i = 0; i < n && !quote; i++)
        quote = p[i] == delim || p[i] == '"' || p[i] == '\n' || p[i] == '\r';
    if (!quote) return tess__buf_append(b, p, n);
    int rc = tess__buf_putc(b, '"');
    size_t run = 0;
    for (size_t i = 0; i < n && rc == TESS_OK; i++) {
        if (p[i] != '"') continue;
        rc = tess__buf_append(b, p + run, i + 1 - run); /* through the quote */
        run = i;                                        /* which starts the next run again */
    }
    if (rc == TESS_OK) rc = tess__buf_append(b, p + run, n - run);
    return rc ? rc : tess__buf_putc(b, '"');
}

int tess__csv_put_value(tess__buf *b, const tess__value *v, char delim)
{
    if (v->null) return TESS_OK;
    if (v->type == TESS_T_STRING) {
        if (v->u.s.n == 0) return tess__buf_puts(b, "\"\"");
        return tess__csv_put_field(b, v->u.s.p, v->u.s.n, delim);
    }
    return tess__put_value_text(b, v);
}

int tess__json_put_string(tess__buf *b, const char *p, size_t n)
{
    int rc = tess__buf_putc(b, '"');
    size_t run = 0;
    for (size_t i = 0; i < n && rc == TESS_OK; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        if ((rc = tess__buf_append(b, p + run, i - run))) break;
        run = i + 1;
        switch (c) {
        case '"': rc = tess__buf_puts(b, "\\\""); break;
        case '\\': rc = tess__buf_puts(b, "\\\\"); break;
        case '\n': rc = tess__buf_puts(b, "\\n"); break;
        case '\r': rc = tess__buf_puts(b, "\\r"); break;
        case '\t': rc = tess__buf_puts(b, "\\t"); break;
        default: rc = tess__buf_printf(b, "\\u%04x", c); break;
        }
    }
    if (rc == TESS_OK) rc = tess__buf_append(b, p + run, n - run);
    return rc ? rc : tess__buf_putc(b, '"');
}

int tess__json_put_value(tess__buf *b, const tess__value *v)
{
    if (v->null) return tess__buf_puts(b, "null");
    switch (v->type) {
    case TESS_T_FLOAT64:
        if (!isfinite(v->u.f)) return tess__buf_puts(b, "null");
        return tess__put_value_text(b, v);
    case TESS_T_STRING: return tess__json_put_string(b, v->u.s.p, v->u.s.n);
    case TESS_T_TIMESTAMP: {
        char tmp[TESS_TS_FORMAT_MAX];
        size_t n = tess__ts_format(v->u.i, tmp);
        return tess__json_put_string(b, tmp, n);
    }
    default: return tess__put_value_text(b, v);
    }
}

int tess__outfile_open(tess__outfile *o, const char *path, tess__err *err)
{
    tess__buf t = TESS__BUF_INIT;
    memset(o, 0, sizeof(*o));
    if (tess__buf_printf(&t, "%s.tmp-%ld", path, (long)getpid()) != TESS_OK ||
        !(o->path = tess__strdup(path))) {
        tess__buf_release(&t);
        return tess__err_set(err, TESS_ENOMEM, "out of memory");
    }
    o->tmp = tess__buf_take(&t);
    o->fd = open(o->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (o->fd < 0) {
        int e = errno;
        tess__err_set(err, TESS_EIO, "%s: cannot create: %s", path, strerror(e));
        tess__outfile_abort(o);
        return TESS_EIO;
    }
    return TESS_OK;
}

int tess__outfile_write(tess__outfile *o, tess__buf *b, tess__err *err)
{
    for (size_t off = 0; off < b->len;) {
        ssize_t w = tess__io_write(o->fd, b->p + off, b->len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0)
            return tess__err_set(err, TESS_EIO, "%s: write failed: %s", o->path,
                                 w < 0 ? strerror(errno) : "no progress");
        off += (size_t)w;
    }
    tess__buf_reset(b);
    return TESS_OK;
}

int tess__outfile_commit(tess__outfile *o, tess__err *err)
{
    int rc = TESS_OK;
    if (tess__io_fsync(o->fd) != 0)
        rc = tess__err_set(err, TESS_EIO, "%s: write failed: %s", o->path, strerror(errno));
    if (close(o->fd) != 0 && rc == TESS_OK)
        rc = tess__err_set(err, TESS_EIO, "%s: write failed: %s", o->path, strerror(errno));
    o->fd = -1;
    if (rc == TESS_OK && tess__io_rename(o->tmp, o->path) != 0)
        rc = tess__err_set(err, TESS_EIO, "%s: cannot rename into place: %s", o->path,
                           strerror(errno));
    if (rc == TESS_OK) {
        tess__free(o->tmp);
        o->tmp = NULL;
    }
    tess__outfile_abort(o);
    return rc;
}

void tess__outfile_abort(tess__outfile *o)
{
    if (o->tmp && o->fd >= 0) close(o->fd);
    if (o->tmp) unlink(o->tmp);
    tess__free(o->tmp);
    tess__free(o->path);
    memset(o, 0, sizeof(*o));
}
