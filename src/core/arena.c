/* arena.c — bump allocator: a list of blocks, newest first; a reset keeps one block. */
#include "core/arena.h"

#include <string.h>

#include "core/alloc.h"

struct tess__arena_block {
    tess__arena_block *next;
    size_t size;
    size_t used;
    _Alignas(16) unsigned char data[];
};

void *tess__arena_alloc(tess__arena *a, size_t n)
{
    n = (n + 7) & ~(size_t)7;
    if (a->max && a->used_total + n > a->max) return NULL;
    tess__arena_block *b = a->head;
    if (!b || b->size - b->used < n) {
        size_t size = b ? b->size * 2 : 4096;
        if (size > (1u << 20)) size = 1u << 20;
        if (size < n) size = n;
        tess__arena_block *nb = tess__malloc(sizeof(*nb) + size);
        if (!nb) return NULL;
        nb->next = b;
        nb->size = size;
        nb->used = 0;
        a->head = b = nb;
    }
    void *p = b->data + b->used;
    b->used += n;
    a->used_total += n;
    return p;
}

char *tess__arena_strndup(tess__arena *a, const char *s, size_t n)
{
    char *d = tess__arena_alloc(a, n + 1);
    if (!d) return NULL;
    if (n) memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

void tess__arena_reset(tess__arena *a)
{
    tess__arena_block *b = a->head;
    if (!b) return;
    /* keep the largest (oldest-grown) block: the head is the newest, usually the biggest */
    tess__arena_block *rest = b->next;
    while (rest) {
        tess__arena_block *n = rest->next;
        tess__free(rest);
        rest = n;
    }
    b->next = NULL;
    b->used = 0;
    a->used_total = 0;
}

void tess__arena_release(tess__arena *a)
{
    tess__arena_block *b = a->head;
    while (b) {
        tess__arena_block *n = b->next;
        tess__free(b);
        b = n;
    }
    a->head = NULL;
    a->used_total = 0;
}
