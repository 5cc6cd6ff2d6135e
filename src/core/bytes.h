/* bytes.h — little-endian binary encoding: appending fixed-width integers to a tess__buf, and
 * a bounds-checked cursor to read them back. Every file format of Tessera's own (online
 * records, ...) is written and read with these, so that a truncated or damaged input is
 * detected by the cursor (it turns `bad` and reads zeros) instead of being read past its end.
 *
 *   tess__cur r = tess__cur_init(p, n);
 *   uint32_t k = tess__cur_u32(&r);
 *   const uint8_t *s = tess__cur_take(&r, k);   NULL if fewer than k bytes remain
 *   if (r.bad) ... damaged
 */
#ifndef TESS_CORE_BYTES_H
#define TESS_CORE_BYTES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/buf.h"

static inline int tess__put_u8(tess__buf *b, uint8_t v)
{
    return tess__buf_append(b, &v, 1);
}
static inline int tess__put_u32(tess__buf *b, uint32_t v)
{
    uint8_t x[4];
    for (int i = 0; i < 4; i++) x[i] = (uint8_t)(v >> (8 * i));
    return tess__buf_append(b, x, 4);
}
static inline int tess__put_u64(tess__buf *b, uint64_t v)
{
    uint8_t x[8];
    for (int i = 0; i < 8; i++) x[i] = (uint8_t)(v >> (8 * i));
    return tess__buf_append(b, x, 8);
}
static inline int tess__put_i64(tess__buf *b, int64_t v)
{
    return tess__put_u64(b, (uint64_t)v);
}

typedef struct tess__cur {
    const uint8_t *p, *end;
    bool bad; /* a read went past the end: every later read gives zeros */
} tess__cur;

static inline tess__cur tess__cur_init(const void *p, size_t n)
{
    tess__cur r = {(const uint8_t *)p, (const uint8_t *)p + n, false};
    return r;
}
static inline size_t tess__cur_left(const tess__cur *r)
{
    return r->bad ? 0 : (size_t)(r->end - r->p);
}
/* The next n bytes (and advances), or NULL (and bad) if fewer remain. */
static inline const uint8_t *tess__cur_take(tess__cur *r, size_t n)
{
    if (r->bad || (size_t)(r->end - r->p) < n) {
        r->bad = true;
        return NULL;
    }
    const uint8_t *q = r->p;
    r->p += n;
    return q;
}
static inline uint8_t tess__cur_u8(tess__cur *r)
{
    const uint8_t *q = tess__cur_take(r, 1);
    return q ? q[0] : 0;
}
static inline uint16_t tess__cur_u16(tess__cur *r)
{
    const uint8_t *q = tess__cur_take(r, 2);
    return q ? (uint16_t)(q[0] | q[1] << 8) : 0;
}
static inline uint32_t tess__cur_u32(tess__cur *r)
{
    const uint8_t *q = tess__cur_take(r, 4);
    uint32_t v = 0;
    if (q)
        for (int i = 3; i >= 0; i--) v = v << 8 | q[i];
    return v;
}
static inline uint64_t tess__cur_u64(tess__cur *r)
{
    const uint8_t *q = tess__cur_take(r, 8);
    uint64_t v = 0;
    if (q)
        for (int i = 7; i >= 0; i--) v = v << 8 | q[i];
    return v;
}
static inline int64_t tess__cur_i64(tess__cur *r)
{
    return (int64_t)tess__cur_u64(r);
}

#endif
