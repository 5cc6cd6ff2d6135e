/* alloc.h — the one allocation wrapper. Every heap allocation of the library goes through these,
 * so that tests can make the Nth allocation fail (tess__alloc_fail_after) and check that the
 * error is clean and nothing leaks. They return NULL on failure; they never abort. */
#ifndef TESS_CORE_ALLOC_H
#define TESS_CORE_ALLOC_H

#include <stddef.h>

void *tess__malloc(size_t n);
void *tess__calloc(size_t count, size_t size);
void *tess__realloc(void *p, size_t n);
void tess__free(void *p);
char *tess__strdup(const char *s);
char *tess__strndup(const char *s, size_t n);

/* Test hook: after `n` more successful allocations on this thread, every allocation fails until
 * the hook is reset with a negative n. Returns the number of allocations made since the last
 * call (useful to size a fail-the-Nth loop). */
long tess__alloc_fail_after(long n);

#endif
