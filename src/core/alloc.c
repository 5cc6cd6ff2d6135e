/* alloc.c — allocation wrapper with a per-thread fail-after-N hook for fault-injection tests. */
#include "core/alloc.h"

#include <stdlib.h>
#include <string.h>

static _Thread_local long fail_after = -1; /* <0: never fail */
static _Thread_local long made;

static int should_fail(void)
{
    made++;
    if (fail_after < 0) return 0;
    if (fail_after == 0) return 1;
    fail_after--;
    return 0;
}

long tess__alloc_fail_after(long n)
{
    long m = made;
    made = 0;
    fail_after = n;
    return m;
}

void *tess__malloc(size_t n)
{
    if (should_fail()) return NULL;
    return malloc(n ? n : 1);
}

void *tess__calloc(size_t count, size_t size)
{
    if (should_fail()) return NULL;
    return calloc(count ? count : 1, size ? size : 1);
}

void *tess__realloc(void *p, size_t n)
{
    if (should_fail()) return NULL;
    return realloc(p, n ? n : 1);
}

void tess__free(void *p)
{
    free(p);
}

char *tess__strndup(const char *s, size_t n)
{
    char *d = tess__malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *tess__strdup(const char *s)
{
    return s ? tess__strndup(s, strlen(s)) : NULL;
}
