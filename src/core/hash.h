/* hash.h — content hashes (xxHash's XXH3, from Debian's libxxhash). */
#ifndef TESS_CORE_HASH_H
#define TESS_CORE_HASH_H

#include <stddef.h>
#include <stdint.h>

uint64_t tess__hash64(const void *p, size_t n);
/* 128-bit hash as 32 lowercase hex digits + NUL into out[33]. */
void tess__hash128_hex(const void *p, size_t n, char out[33]);

#endif
