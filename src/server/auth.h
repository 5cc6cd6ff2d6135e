/* auth.h — API keys of the feature server (auth.c; docs/security.md).
 *
 * A keys file lists, one per line, a key's name, its scopes and the SHA-256 of the key:
 *
 *     # name        scopes        hash of the key
 *     model-server  read          sha256:1f0c...64 hex digits
 *     ingest-job    read,write    sha256:...
 *
 * The file never holds a key itself. A request presents `Authorization: Bearer <key>`; the
 * server hashes the presented key (SHA-256, nettle: about 0.1 us), finds the hash in an
 * open-addressing table and compares the 32 bytes in constant time (nettle's memeql_sec).
 * Keys are 32 random bytes, so a fast hash is enough: there is nothing to guess from a hash.
 */
#ifndef TESS_SERVER_AUTH_H
#define TESS_SERVER_AUTH_H

#include <stddef.h>
#include <stdint.h>

/* Scopes (bits). admin implies every other one. */
enum {
    SRV_SCOPE_READ = 1,    /* POST /get-online-features */
    SRV_SCOPE_WRITE = 2,   /* POST /push, POST /write-to-online-store */
    SRV_SCOPE_METRICS = 4, /* GET /metrics */
    SRV_SCOPE_ADMIN = 8,
    SRV_SCOPE_ALL = 15,
};

#define SRV_KEY_NAME_MAX 64   /* bytes of a key's name */
#define SRV_KEY_TOKEN_MAX 512 /* longest key a request may present (longer: invalid) */

typedef struct srv_key {
    uint8_t hash[32];
    unsigned scopes; /* SRV_SCOPE_* bits; admin has them all */
    char name[SRV_KEY_NAME_MAX + 1];
} srv_key;

/* A loaded keys file: immutable once made (a reload makes a new one). */
typedef struct srv_keys {
    size_t n;
    srv_key *keys;
    uint32_t *slots; /* open addressing on the hash's first bytes: index + 1, 0 empty */
    size_t mask;     /* slots - 1 (a power of two, at least 2n) */
    struct srv_keys *next_retired;
} srv_keys;

/* Reads and checks a keys file. TESS_OK with *out (free with srv_keys_free), or an error with
 * the reason in msg ("FILE:LINE:COLUMN: what"): TESS_EIO (unreadable, or writable by anyone),
 * TESS_EINVAL (a bad line), TESS_ENOMEM. */
int srv_keys_load(const char *path, srv_keys **out, char *msg, size_t cap);
/* The same from text in memory; `path` only names it in messages. */
int srv_keys_parse(const char *path, const char *text, size_t n, srv_keys **out, char *msg,
                   size_t cap);
void srv_keys_free(srv_keys *k);

/* The key whose hash is `hash`, or NULL (constant-time comparison of the hashes). */
const srv_key *srv_keys_find(const srv_keys *k, const uint8_t hash[32]);

/* SHA-256 of n bytes. */
void srv_sha256(const void *p, size_t n, uint8_t out[32]);

/* Scopes as text ("read,write"): SRV_SCOPE_* bits, or -1 with the reason in msg (and the
 * 0-based offset of the bad scope in *at). */
int srv_scopes_parse(const char *s, size_t n, size_t *at, char *msg, size_t cap);
/* The scopes of bits as text ("read,write", "admin") into buf. */
const char *srv_scopes_text(unsigned scopes, char *buf, size_t cap);
/* A key's name: 1..64 of [A-Za-z0-9_.@-]. */
int srv_key_name_ok(const char *s, size_t n);

#endif
