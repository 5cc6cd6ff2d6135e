/* evrun.c — runs: the rows of an ingest (or a rebuild) held in memory, row-major, before they
 * are sorted per layout and written (evstore_int.h has the row layout).
 *
 * The row buffer and the string buffer are allocated once and kept: a transaction reuses one
 * run for all its spills. Large buffers are aligned to 2 MB and advised for transparent huge
 * pages (a hint: without them the buffers work the same, with more page faults).
 */
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include "core/alloc.h"
#include "offline/evstore_int.h"
#include "tessera.h"

#define HUGE_PAGE ((size_t)2 << 20)

char *tess__big_alloc(size_t bytes, char **mem)
{
    size_t slack = bytes >= HUGE_PAGE ? HUGE_PAGE : 0;
    char *m = tess__malloc(bytes + slack);
    *mem = m;
    if (!m || !slack) return m;
    char *p = (char *)(((uintptr_t)m + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
#ifdef MADV_HUGEPAGE
    madvise(p, bytes & ~(HUGE_PAGE - 1), MADV_HUGEPAGE);
#endif
    return p;
}

int tess__run_init(tess__run *r, const tess__source *src)
{
    memset(r, 0, sizeof(*r));
    size_t nc = src->nschema;
    r->types = tess__calloc(nc ? nc : 1, sizeof(tess__type));
    r->off = tess__calloc(nc ? nc : 1, sizeof(size_t));
    if (!r->types || !r->off) return TESS_ENOMEM;
    r->ncols = nc;
    r->stride = 8 + ((nc + 7) / 8 + 7) / 8 * 8;
    for (size_t c = 0; c < nc; c++) {
        r->types[c] = src->schema[c].type;
        r->off[c] = r->stride;
        r->stride += r->types[c] == TESS_T_STRING ? 16 : 8;
    }
    return TESS_OK;
}

void tess__run_release(tess__run *r)
{
    tess__free(r->types);
    tess__free(r->off);
    tess__free(r->mem);
    tess__free(r->strs);
    memset(r, 0, sizeof(*r));
}

void tess__run_clear(tess__run *r)
{
    r->n = 0;
    r->slen = 0;
}

int tess__run_reserve(tess__run *r, size_t cap)
{
    if (cap <= r->cap) return TESS_OK;
    char *mem, *base = tess__big_alloc(cap * r->stride, &mem);
    if (!base) return TESS_ENOMEM;
    if (r->n) memcpy(base, r->base, r->n * r->stride);
    tess__free(r->mem);
    r->mem = mem;
    r->base = base;
    r->cap = cap;
    return TESS_OK;
}

static int strs_reserve(tess__run *r, size_t extra)
{
    if (r->slen + extra <= r->scap) return TESS_OK;
    size_t nc = r->scap ? r->scap : (size_t)1 << 16;
    while (nc < r->slen + extra) nc *= 2;
    char *p = tess__realloc(r->strs, nc);
    if (!p) return TESS_ENOMEM;
    r->strs = p;
    r->scap = nc;
    return TESS_OK;
}

int tess__run_append(tess__run *r, const tess__batch *b, const uint32_t *rows, size_t from,
                     size_t n)
{
    if (r->n + n > r->cap) return TESS_EINVAL;
    size_t nc = r->ncols, total = 0;
    for (size_t c = 0; c < nc; c++) {
        if (r->types[c] != TESS_T_STRING) continue;
        const tess__col *col = &b->cols[c];
        for (size_t k = 0; k < n; k++) {
            size_t i = rows ? rows[k] : from + k;
            if (!(col->nulls && col->nulls[i])) total += ((const tess__str *)col->data)[i].n;
        }
    }
    if (strs_reserve(r, total)) return TESS_ENOMEM;
    size_t hdr = ((nc + 7) / 8 + 7) / 8 * 8; /* bytes of the null bitmap, padded */
    for (size_t k = 0; k < n; k++) {
        size_t i = rows ? rows[k] : from + k;
        char *p = r->base + (r->n + k) * r->stride;
        int64_t seq = b->seq ? b->seq[i] : 0;
        memcpy(p, &seq, 8);
        uint8_t *bm = (uint8_t *)p + 8;
        memset(bm, 0, hdr);
        for (size_t c = 0; c < nc; c++) {
            const tess__col *col = &b->cols[c];
            bool null = col->nulls && col->nulls[i];
            if (null) bm[c / 8] |= (uint8_t)(1u << (c % 8));
            char *v = p + r->off[c];
            switch (r->types[c]) {
            case TESS_T_BOOL: {
                uint64_t x = null ? 0 : (((const uint8_t *)col->data)[i] ? 1 : 0);
                memcpy(v, &x, 8);
                break;
            }
            case TESS_T_STRING: {
                uint64_t o[2] = {r->slen, 0};
                if (!null) {
                    const tess__str *s = (const tess__str *)col->data + i;
                    if (s->n) memcpy(r->strs + r->slen, s->p, s->n);
                    r->slen += s->n;
                    o[1] = s->n;
                }
                memcpy(v, o, 16);
                break;
            }
            default: memcpy(v, (const char *)col->data + i * 8, 8); break;
            }
        }
    }
    r->n += n;
    return TESS_OK;
}

void tess__run_gather(const tess__run *r, const uint32_t *idx, size_t n, tess__batch *b)
{
    size_t at = b->nrows, nc = r->ncols;
    for (size_t k = 0; k < n; k++) {
        if (k + 16 < n) { /* rows are read at random: ask for them early */
            const char *q = r->base + (size_t)idx[k + 16] * r->stride;
            __builtin_prefetch(q);
            __builtin_prefetch(q + r->stride - 1);
        }
        const char *p = r->base + (size_t)idx[k] * r->stride;
        const uint8_t *bm = (const uint8_t *)p + 8;
        memcpy(&b->seq[at + k], p, 8);
        for (size_t c = 0; c < nc; c++) {
            tess__col *col = &b->cols[c];
            const char *v = p + r->off[c];
            col->nulls[at + k] = (bm[c / 8] >> (c % 8)) & 1;
            switch (r->types[c]) {
            case TESS_T_BOOL: ((uint8_t *)col->data)[at + k] = (uint8_t)v[0]; break;
            case TESS_T_STRING: {
                uint64_t o[2];
                memcpy(o, v, 16);
                tess__str *s = (tess__str *)col->data + at + k;
                s->p = r->strs ? r->strs + o[0] : "";
                s->n = (size_t)o[1];
                break;
            }
            default: memcpy((char *)col->data + (at + k) * 8, v, 8); break;
            }
        }
    }
    b->nrows += n;
}
