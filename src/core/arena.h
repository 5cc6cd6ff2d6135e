/* arena.h — a bump allocator for short-lived memory (one request, one batch of expression
 * results). Everything allocated from it is freed at once by tess__arena_reset/release.
 * Allocations are 8-byte aligned. Optional cap on total bytes (0: none). */
#ifndef TESS_CORE_ARENA_H
#define TESS_CORE_ARENA_H

#include <stddef.h>

typedef struct tess__arena_block tess__arena_block;

typedef struct tess__arena {
    tess__arena_block *head;
    size_t used_total; /* bytes handed out since the last reset */
    size_t max;        /* 0: no cap */
} tess__arena;

#define TESS__ARENA_INIT {NULL, 0, 0}

/* NULL on out-of-memory or cap exceeded. */
void *tess__arena_alloc(tess__arena *a, size_t n);
/* Copies n bytes (plus a NUL terminator) into the arena. */
char *tess__arena_strndup(tess__arena *a, const char *s, size_t n);
/* Frees everything but keeps the first block for reuse. */
void tess__arena_reset(tess__arena *a);
void tess__arena_release(tess__arena *a);

#endif
