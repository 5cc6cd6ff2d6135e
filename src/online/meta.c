/* meta.c — the online meta record of a slot group of a view (meta.h).
 *
 * Layout (little-endian): u8 version (4), u64 fingerprint, u32 watermark, u32 napplied,
 * napplied x u32, u8 pending, [pending: u32 pending_to, u32 key length, key bytes],
 * i64 at, i64 newest, u64 XXH3-64 of everything before.
 */
#include "online/meta.h"

#include <string.h>

#include "core/bytes.h"
#include "core/hash.h"
#include "tessera.h"

#define META_VERSION 4

int tess__ometa_encode(const tess__ometa *m, tess__buf *out)
{
    size_t start = out->len;
    int rc = tess__put_u8(out, META_VERSION);
    if (!rc) rc = tess__put_u64(out, m->fingerprint);
    if (!rc) rc = tess__put_u32(out, m->watermark);
    if (!rc) rc = tess__put_u32(out, (uint32_t)m->napplied);
    for (size_t i = 0; !rc && i < m->napplied; i++) rc = tess__put_u32(out, m->applied[i]);
    if (!rc) rc = tess__put_u8(out, m->pending ? 1 : 0);
    if (!rc && m->pending) {
        rc = tess__put_u32(out, m->pending_to);
        if (!rc) rc = tess__put_u32(out, (uint32_t)m->pending_key.n);
        if (!rc) rc = tess__buf_append(out, m->pending_key.p, m->pending_key.n);
    }
    if (!rc) rc = tess__put_i64(out, m->at);
    if (!rc) rc = tess__put_i64(out, m->newest);
    if (!rc) rc = tess__put_u64(out, tess__hash64(out->p + start, out->len - start));
    if (rc) out->len = start;
    return rc;
}

int tess__ometa_decode(const void *p, size_t n, tess__ometa *m, tess__arena *arena,
                       tess__err *err)
{
    memset(m, 0, sizeof(*m));
    m->newest = INT64_MIN;
    if (!p) return TESS_OK;
    if (n < 9) return tess__err_set(err, TESS_EIO, "damaged online meta record: too short");
    tess__cur sum = tess__cur_init((const uint8_t *)p + n - 8, 8);
    if (tess__cur_u64(&sum) != tess__hash64(p, n - 8))
        return tess__err_set(err, TESS_EIO, "damaged online meta record: checksum mismatch");
    tess__cur c = tess__cur_init(p, n - 8);
    if (tess__cur_u8(&c) != META_VERSION)
        return tess__err_set(err, TESS_EIO, "damaged online meta record: unknown version");
    m->fingerprint = tess__cur_u64(&c);
    m->watermark = tess__cur_u32(&c);
    m->napplied = tess__cur_u32(&c);
    if (m->napplied > tess__cur_left(&c) / 4)
        return tess__err_set(err, TESS_EIO, "damaged online meta record: bad count");
    if (m->napplied) {
        m->applied = tess__arena_alloc(arena, m->napplied * sizeof(uint32_t));
        if (!m->applied) return tess__err_set(err, TESS_ENOMEM, "out of memory");
        for (size_t i = 0; i < m->napplied; i++) {
            m->applied[i] = tess__cur_u32(&c);
            /* ascending, all above the watermark (meta.h): tess__ometa_has binary-searches it,
               so an unordered list would answer wrongly which ingests are applied */
            if (m->applied[i] <= (i ? m->applied[i - 1] : m->watermark))
                return tess__err_set(err, TESS_EIO,
                                     "damaged online meta record: applied ingests out of order");
        }
    }
    uint8_t pend = tess__cur_u8(&c);
    if (pend > 1) return tess__err_set(err, TESS_EIO, "damaged online meta record: bad flag");
    m->pending = pend == 1;
    if (m->pending) {
        m->pending_to = tess__cur_u32(&c);
        uint32_t kn = tess__cur_u32(&c);
        const uint8_t *k = tess__cur_take(&c, kn);
        if (k) {
            char *copy = tess__arena_alloc(arena, kn + 1);
            if (!copy) return tess__err_set(err, TESS_ENOMEM, "out of memory");
            memcpy(copy, k, kn);
            m->pending_key = (tess__str){copy, kn};
        }
    }
    m->at = tess__cur_i64(&c);
    m->newest = tess__cur_i64(&c);
    if (c.bad || tess__cur_left(&c) != 0)
        return tess__err_set(err, TESS_EIO, "damaged online meta record: truncated");
    m->present = true;
    return TESS_OK;
}

bool tess__ometa_has(const tess__ometa *m, uint32_t n)
{
    if (n <= m->watermark) return true;
    size_t lo = 0, hi = m->napplied;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (m->applied[mid] < n) lo = mid + 1;
        else hi = mid;
    }
    return lo < m->napplied && m->applied[lo] == n;
}

/* Folds applied numbers that directly follow the watermark into it. */
static void compact(tess__ometa *m)
{
    size_t k = 0;
    while (k < m->napplied && m->applied[k] <= m->watermark + 1) {
        if (m->applied[k] == m->watermark + 1) m->watermark++;
        k++;
    }
    if (k == 0) return;
    memmove(m->applied, m->applied + k, (m->napplied - k) * sizeof(uint32_t));
    m->napplied -= k;
}

int tess__ometa_add(tess__ometa *m, uint32_t n, tess__arena *arena)
{
    if (tess__ometa_has(m, n)) return TESS_OK;
    uint32_t *a = tess__arena_alloc(arena, (m->napplied + 1) * sizeof(uint32_t));
    if (!a) return TESS_ENOMEM;
    size_t i = 0, k = 0;
    while (i < m->napplied && m->applied[i] < n) a[k++] = m->applied[i++];
    a[k++] = n;
    while (i < m->napplied) a[k++] = m->applied[i++];
    m->applied = a;
    m->napplied = k;
    compact(m);
    return TESS_OK;
}

void tess__ometa_advance(tess__ometa *m, uint32_t to)
{
    if (to > m->watermark) m->watermark = to;
    compact(m);
}
