/* auth.c — API keys: the keys file, the per-request check, reloads (docs/security.md).
 *
 * The keys file (auth.h) is read into an immutable srv_keys table. A request's check
 * (srv_auth_check, on the worker thread when its headers are in) hashes the presented key
 * once (SHA-256, ~0.1 us), looks the hash up (one probe in an open-addressing table; the 32
 * bytes compared in constant time) and compares the key's scopes with the route's. It takes
 * no lock and allocates nothing.
 *
 * Reloads (srv_auth_reload: on a change of the file, seen by the guard thread within a
 * second, or tess_server_reload_keys) make a new table and swap the server's pointer. The old
 * table may still be read by a worker in the middle of a check, so it is retired, not freed:
 * each worker publishes the table it reads in its srv_thread (a hazard pointer), and a
 * retired table is freed once no worker's hazard points to it (at a later reload, or when the
 * server stops). A reload that fails (a bad line, the file gone) keeps the keys loaded
 * before and says why in the server's log.
 *
 * Secrets: the file holds hashes only; a presented key is never copied, logged, counted
 * under its own name or echoed in a reply (a 403 names the key's name from the file, which
 * the caller's key maps to, and its scopes).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>

#include <microhttpd.h>
#include <nettle/memops.h>
#include <nettle/sha2.h>

#include "core/alloc.h"
#include "server/auth.h"
#include "server/server.h"

#define KEYS_FILE_MAX (16u << 20)
#define KEYS_MAX 1000000

void srv_sha256(const void *p, size_t n, uint8_t out[32])
{
    struct sha256_ctx c;
    sha256_init(&c);
    sha256_update(&c, n, p);
    sha256_digest(&c, SHA256_DIGEST_SIZE, out);
}

int srv_key_name_ok(const char *s, size_t n)
{
    if (n == 0 || n > SRV_KEY_NAME_MAX) return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '-' || ch == '.' || ch == '@'))
            return 0;
    }
    return 1;
}

static const struct {
    const char *name;
    unsigned bits;
} scope_names[] = {
    {"read", SRV_SCOPE_READ},
    {"write", SRV_SCOPE_WRITE},
    {"metrics", SRV_SCOPE_METRICS},
    {"admin", SRV_SCOPE_ALL},
};
#define NSCOPES (sizeof scope_names / sizeof scope_names[0])

int srv_scopes_parse(const char *s, size_t n, size_t *at, char *msg, size_t cap)
{
    unsigned bits = 0;
    size_t i = 0;
    *at = 0;
    if (n == 0) {
        snprintf(msg, cap, "no scopes (expected read, write, metrics or admin, comma-separated)");
        return -1;
    }
    while (i <= n) {
        size_t j = i;
        while (j < n && s[j] != ',')
            j++;
        size_t k = 0;
        while (k < NSCOPES && !(strlen(scope_names[k].name) == j - i &&
                                strncmp(scope_names[k].name, s + i, j - i) == 0))
            k++;
        if (k == NSCOPES) {
            *at = i;
            if (j == i)
                snprintf(msg, cap, "an empty scope (expected read, write, metrics or admin)");
            else if (j - i > 16) /* not echoed: it might be a key put there by mistake */
                snprintf(msg, cap, "unknown scope (expected read, write, metrics or admin)");
            else
                snprintf(msg, cap,
                         "unknown scope \"%.*s\" (expected read, write, metrics or admin)",
                         (int)(j - i), s + i);
            return -1;
        }
        bits |= scope_names[k].bits;
        i = j + 1;
    }
    return (int)bits;
}

const char *srv_scopes_text(unsigned scopes, char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = 0;
    if ((scopes & SRV_SCOPE_ADMIN) || scopes == 0) {
        snprintf(buf, cap, "%s", scopes ? "admin" : "none");
        return buf;
    }
    for (size_t k = 0; k + 1 < NSCOPES; k++) {
        if (!(scopes & scope_names[k].bits)) continue;
        int w = snprintf(buf + len, cap - len, "%s%s", len ? "," : "", scope_names[k].name);
        if (w < 0 || (size_t)w >= cap - len) break;
        len += (size_t)w;
    }
    return buf;
}

void srv_keys_free(srv_keys *k)
{
    if (!k) return;
    if (k->keys) memset(k->keys, 0, k->n * sizeof *k->keys);
    tess__free(k->keys);
    tess__free(k->slots);
    tess__free(k);
}

static size_t slot_of(const uint8_t *hash, size_t mask)
{
    uint64_t h;
    memcpy(&h, hash, sizeof h);
    return (size_t)(h & mask);
}

const srv_key *srv_keys_find(const srv_keys *k, const uint8_t hash[32])
{
    if (!k || k->n == 0) return NULL;
    for (size_t s = slot_of(hash, k->mask);; s = (s + 1) & k->mask) {
        uint32_t i = k->slots[s];
        if (!i) return NULL;
        if (memeql_sec(k->keys[i - 1].hash, hash, 32)) return &k->keys[i - 1];
    }
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t';
}

int srv_keys_parse(const char *path, const char *text, size_t n, srv_keys **out, char *msg,
                   size_t cap)
{
    *out = NULL;
    srv_keys *k = tess__calloc(1, sizeof *k);
    size_t kcap = 0;
    int rc = TESS_OK, line = 0;
    int *lines = NULL; /* the line of each key, for messages about duplicates */
    if (!k) return TESS_ENOMEM;
    size_t pos = 0;
    while (pos < n) {
        size_t end = pos;
        while (end < n && text[end] != '\n')
            end++;
        line++;
        size_t len = end;
        if (len > pos && text[len - 1] == '\r') len--;
        size_t i = pos;
#define COL ((int)(i - pos + 1))
#define FAIL(...)                                                                                  \
    do {                                                                                           \
        int w_ = snprintf(msg, cap, "%s:%d:%d: ", path, line, COL);                                \
        if (w_ >= 0 && (size_t)w_ < cap) snprintf(msg + w_, cap - (size_t)w_, __VA_ARGS__);        \
        rc = TESS_EINVAL;                                                                          \
        goto out;                                                                                  \
    } while (0)
        for (size_t z = pos; z < len; z++)
            if (text[z] == 0) {
                i = z;
                FAIL("a NUL byte (the keys file is text)");
            }
        while (i < len && is_blank(text[i]))
            i++;
        if (i == len || text[i] == '#') {
            pos = end + 1;
            continue;
        }
        /* name */
        size_t f = i;
        while (i < len && !is_blank(text[i]))
            i++;
        size_t name_at = f, name_len = i - f;
        if (!srv_key_name_ok(text + f, name_len)) {
            i = f;
            FAIL("a key's name is 1 to %d of the characters A-Z a-z 0-9 _ - . @", SRV_KEY_NAME_MAX);
        }
        while (i < len && is_blank(text[i]))
            i++;
        if (i == len)
            FAIL("expected the key's scopes after its name (a line is: NAME SCOPES sha256:HASH)");
        /* scopes */
        f = i;
        while (i < len && !is_blank(text[i]))
            i++;
        size_t bad_at;
        char why[160];
        int scopes = srv_scopes_parse(text + f, i - f, &bad_at, why, sizeof why);
        if (scopes < 0) {
            i = f + bad_at;
            FAIL("%s", why);
        }
        while (i < len && is_blank(text[i]))
            i++;
        if (i == len) FAIL("expected the key's hash after its scopes (sha256:<64 hex digits>)");
        /* hash */
        f = i;
        while (i < len && !is_blank(text[i]))
            i++;
        uint8_t hash[32];
        if (i - f != 7 + 64 || strncmp(text + f, "sha256:", 7) != 0) {
            /* the text is not echoed: it might be a key put there by mistake */
            int looks_key = strncmp(text + f, "tess_", 5) == 0;
            i = f;
            FAIL("expected sha256:<64 hex digits>, the SHA-256 of the key%s (`tessera keys hash` "
                 "makes the line)",
                 looks_key ? " (this looks like a key itself: the file must never hold one)" : "");
        }
        for (size_t h = 0; h < 32; h++) {
            int hi = hexval(text[f + 7 + 2 * h]), lo = hexval(text[f + 8 + 2 * h]);
            if (hi < 0 || lo < 0) {
                i = f + 7 + 2 * h + (hi < 0 ? 0 : 1);
                FAIL("not a hex digit: '%c'", text[i]);
            }
            hash[h] = (uint8_t)(hi << 4 | lo);
        }
        while (i < len && is_blank(text[i]))
            i++;
        if (i < len && text[i] != '#')
            FAIL("unexpected text after the hash (a line is: NAME SCOPES sha256:HASH [# comment])");
        for (size_t j = 0; j < k->n; j++) {
            if (strlen(k->keys[j].name) == name_len &&
                memcmp(k->keys[j].name, text + name_at, name_len) == 0) {
                i = name_at;
                FAIL("the name \"%s\" is already used on line %d", k->keys[j].name, lines[j]);
            }
            if (memcmp(k->keys[j].hash, hash, 32) == 0) {
                i = f;
                FAIL("the same key (hash) as \"%s\" on line %d", k->keys[j].name, lines[j]);
            }
        }
        if (k->n == KEYS_MAX) FAIL("more than %d keys", KEYS_MAX);
        if (k->n == kcap) {
            size_t nc = kcap ? kcap * 2 : 8;
            srv_key *nk = tess__realloc(k->keys, nc * sizeof *nk);
            if (!nk) {
                rc = TESS_ENOMEM;
                goto out;
            }
            k->keys = nk;
            int *nl = tess__realloc(lines, nc * sizeof *nl);
            if (!nl) {
                rc = TESS_ENOMEM;
                goto out;
            }
            lines = nl;
            kcap = nc;
        }
        srv_key *key = &k->keys[k->n];
        memset(key, 0, sizeof *key);
        memcpy(key->hash, hash, 32);
        key->scopes = (unsigned)scopes;
        memcpy(key->name, text + name_at, name_len);
        lines[k->n++] = line;
        pos = end + 1;
#undef FAIL
#undef COL
    }
    /* the table: at least twice as many slots as keys */
    size_t ns = 4;
    while (ns < 2 * k->n)
        ns *= 2;
    if (!(k->slots = tess__calloc(ns, sizeof *k->slots))) {
        rc = TESS_ENOMEM;
        goto out;
    }
    k->mask = ns - 1;
    for (size_t j = 0; j < k->n; j++) {
        size_t s = slot_of(k->keys[j].hash, k->mask);
        while (k->slots[s])
            s = (s + 1) & k->mask;
        k->slots[s] = (uint32_t)(j + 1);
    }
out:
    tess__free(lines);
    if (rc != TESS_OK) {
        if (rc == TESS_ENOMEM) snprintf(msg, cap, "%s: out of memory", path);
        srv_keys_free(k);
        return rc;
    }
    *out = k;
    return TESS_OK;
}

int srv_keys_load(const char *path, srv_keys **out, char *msg, size_t cap)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(msg, cap, "cannot read the keys file %s: %s", path, strerror(errno));
        return TESS_EIO;
    }
    struct stat sb;
    int rc = TESS_OK;
    char *text = NULL;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        snprintf(msg, cap, "the keys file %s is not a regular file", path);
        rc = TESS_EIO;
        goto out;
    }
    if (sb.st_mode & S_IWOTH) {
        snprintf(msg, cap,
                 "the keys file %s is writable by anyone (mode %04o), who could add a key of "
                 "their own: chmod o-w %s",
                 path, (unsigned)(sb.st_mode & 07777), path);
        rc = TESS_EIO;
        goto out;
    }
    if ((size_t)sb.st_size > KEYS_FILE_MAX) {
        snprintf(msg, cap, "the keys file %s is larger than %u bytes", path, KEYS_FILE_MAX);
        rc = TESS_EINVAL;
        goto out;
    }
    size_t want = (size_t)sb.st_size;
    if (!(text = tess__malloc(want + 1))) {
        rc = TESS_ENOMEM;
        snprintf(msg, cap, "%s: out of memory", path);
        goto out;
    }
    size_t got = fread(text, 1, want + 1, f);
    if (ferror(f)) {
        snprintf(msg, cap, "cannot read the keys file %s: %s", path, strerror(errno));
        rc = TESS_EIO;
        goto out;
    }
    if (got > want) got = want; /* it grew meanwhile: the next reload reads the rest */
    rc = srv_keys_parse(path, text, got, out, msg, cap);
out:
    fclose(f);
    tess__free(text);
    return rc;
}

/* ---- the server's keys: check, reload ------------------------------------------------------ */

static void log_line(tess_server *srv, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void log_line(tess_server *srv, const char *fmt, ...)
{
    if (!srv->o.log) return;
    char line[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    srv->o.log(srv->o.log_arg, line);
}

/* Frees the retired tables no worker reads any more. Under keys_lock. */
static void reclaim(tess_server *srv, int all)
{
    srv_keys **p = &srv->keys_retired;
    while (*p) {
        srv_keys *k = *p;
        int used = 0;
        if (!all) {
            pthread_mutex_lock(&srv->threads_lock);
            for (srv_thread *t = srv->threads; t && !used; t = t->next)
                used = atomic_load(&t->keys_hazard) == k;
            pthread_mutex_unlock(&srv->threads_lock);
        }
        if (used) {
            p = &k->next_retired;
            continue;
        }
        *p = k->next_retired;
        srv_keys_free(k);
    }
}

static void file_sig(const struct stat *sb, srv_filesig *s)
{
    s->dev = (uint64_t)sb->st_dev;
    s->ino = (uint64_t)sb->st_ino;
    s->size = (int64_t)sb->st_size;
    s->mtime_ns = (int64_t)sb->st_mtim.tv_sec * 1000000000 + sb->st_mtim.tv_nsec;
    s->ctime_ns = (int64_t)sb->st_ctim.tv_sec * 1000000000 + sb->st_ctim.tv_nsec;
}

int srv_auth_init(tess_server *srv, char *msg, size_t cap)
{
    pthread_mutex_init(&srv->keys_lock, NULL);
    srv->keys_lock_made = 1;
    if (!srv->o.keys_file) return TESS_OK;
    struct stat sb;
    if (stat(srv->o.keys_file, &sb) == 0) file_sig(&sb, &srv->keys_sig);
    srv_keys *k = NULL;
    int rc = srv_keys_load(srv->o.keys_file, &k, msg, cap);
    if (rc != TESS_OK) return rc;
    atomic_store(&srv->keys, k);
    atomic_store(&srv->nkeys, (int64_t)k->n);
    return TESS_OK;
}

void srv_auth_release(tess_server *srv)
{
    if (!srv->keys_lock_made) return;
    srv_keys *k = atomic_exchange(&srv->keys, NULL);
    srv_keys_free(k);
    reclaim(srv, 1);
    pthread_mutex_destroy(&srv->keys_lock);
    srv->keys_lock_made = 0;
}

int srv_auth_reload(tess_server *srv, int only_if_changed)
{
    if (!srv->o.keys_file) return TESS_OK;
    pthread_mutex_lock(&srv->keys_lock);
    int rc = TESS_OK;
    struct stat sb;
    srv_filesig sig;
    memset(&sig, 0, sizeof sig);
    if (stat(srv->o.keys_file, &sb) == 0) file_sig(&sb, &sig);
    if (only_if_changed && memcmp(&sig, &srv->keys_sig, sizeof sig) == 0) goto out;
    srv->keys_sig = sig;
    char msg[1024];
    srv_keys *k = NULL;
    rc = srv_keys_load(srv->o.keys_file, &k, msg, sizeof msg);
    if (rc != TESS_OK) {
        atomic_fetch_add(&srv->keys_reload_failures, 1);
        log_line(srv, "keys not reloaded: %s; still using the %lld keys loaded before", msg,
                 (long long)atomic_load(&srv->nkeys));
        goto out;
    }
    srv_keys *old = atomic_exchange(&srv->keys, k);
    atomic_store(&srv->nkeys, (int64_t)k->n);
    if (old) {
        old->next_retired = srv->keys_retired;
        srv->keys_retired = old;
    }
    reclaim(srv, 0);
    log_line(srv, "keys reloaded from %s: %zu keys", srv->o.keys_file, k->n);
out:
    pthread_mutex_unlock(&srv->keys_lock);
    return rc;
}

int tess_server_reload_keys(tess_server *srv)
{
    if (!srv) return TESS_EINVAL;
    return srv_auth_reload(srv, 0);
}

/* The token of "Bearer <token>" (scheme case-insensitive, RFC 7235), or NULL. */
static const char *bearer(const char *h, size_t *n)
{
    while (is_blank(*h))
        h++;
    if (strncasecmp(h, "Bearer", 6) != 0 || !is_blank(h[6])) return NULL;
    h += 7;
    while (is_blank(*h))
        h++;
    size_t len = strlen(h);
    while (len && is_blank(h[len - 1]))
        len--;
    *n = len;
    return h;
}

int srv_auth_check(srv_req *r, unsigned need, const char *what)
{
    tess_server *srv = r->srv;
    const char *h = MHD_lookup_connection_value(r->mc, MHD_HEADER_KIND, "Authorization");
    if (!h) {
        r->www_auth = "Bearer realm=\"tessera\"";
        return srv_error(r, 401, E_UNAUTHORIZED,
                         "%s needs an API key: send the header \"Authorization: Bearer <key>\"",
                         what);
    }
    size_t n = 0;
    const char *tok = bearer(h, &n);
    if (!tok || n == 0) {
        r->www_auth = "Bearer realm=\"tessera\", error=\"invalid_request\"";
        return srv_error(r, 401, E_UNAUTHORIZED,
                         "the Authorization header must be \"Bearer <key>\" (an API key)");
    }
    const srv_key *key = NULL;
    unsigned scopes = 0;
    char name[SRV_KEY_NAME_MAX + 1];
    if (n <= SRV_KEY_TOKEN_MAX) {
        uint8_t hash[32];
        srv_sha256(tok, n, hash);
        srv_thread *th = r->th;
        srv_keys *k;
        do { /* publish the table read, then make sure it is still the current one */
            k = atomic_load(&srv->keys);
            atomic_store(&th->keys_hazard, k);
        } while (k != atomic_load(&srv->keys));
        if ((key = srv_keys_find(k, hash))) {
            scopes = key->scopes;
            if (!(scopes & need)) memcpy(name, key->name, sizeof name);
        }
        atomic_store_explicit(&th->keys_hazard, NULL, memory_order_release);
    }
    if (!key) {
        r->www_auth = "Bearer realm=\"tessera\", error=\"invalid_token\"";
        return srv_error(r, 401, E_UNAUTHORIZED, "the API key is not valid (no such key)");
    }
    if (!(scopes & need)) {
        char have[64], needs[64];
        r->www_auth = need == SRV_SCOPE_WRITE ? "Bearer realm=\"tessera\", "
                                                "error=\"insufficient_scope\", scope=\"write\""
                      : need == SRV_SCOPE_METRICS
                          ? "Bearer realm=\"tessera\", "
                            "error=\"insufficient_scope\", scope=\"metrics\""
                          : "Bearer realm=\"tessera\", "
                            "error=\"insufficient_scope\", scope=\"read\"";
        return srv_error(r, 403, E_FORBIDDEN,
                         "the key \"%s\" (scopes: %s) may not %s: that needs the %s scope", name,
                         srv_scopes_text(scopes, have, sizeof have), what,
                         srv_scopes_text(need, needs, sizeof needs));
    }
    return 0;
}

/* ---- public helpers: making keys ----------------------------------------------------------- */

int tess_api_key_new(char *key, size_t cap)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    uint8_t raw[33]; /* 32 random bytes; one more of zero pads the last group */
    if (!key || cap < TESS_API_KEY_LEN + 1) return TESS_EINVAL;
    size_t got = 0;
    while (got < 32) {
        ssize_t g = getrandom(raw + got, 32 - got, 0);
        if (g < 0) {
            if (errno == EINTR) continue;
            return TESS_EIO;
        }
        got += (size_t)g;
    }
    raw[32] = 0;
    memcpy(key, "tess_", 5);
    size_t o = 5;
    for (size_t i = 0; i < 33; i += 3) {
        uint32_t v = (uint32_t)raw[i] << 16 | (uint32_t)raw[i + 1] << 8 | raw[i + 2];
        key[o++] = b64[(v >> 18) & 63];
        key[o++] = b64[(v >> 12) & 63];
        key[o++] = b64[(v >> 6) & 63];
        if (i + 3 < 33) key[o++] = b64[v & 63];
    }
    key[o] = 0; /* 5 + 43 */
    memset(raw, 0, sizeof raw);
    return TESS_OK;
}

int tess_api_key_line(const char *name, const char *scopes, const char *key, char *line, size_t cap)
{
    if (!line || cap < 160) return TESS_EINVAL;
    if (!name || !srv_key_name_ok(name, strlen(name))) {
        snprintf(line, cap,
                 "a key's name is 1 to %d of the characters A-Z a-z 0-9 _ - . @, not \"%.80s\"",
                 SRV_KEY_NAME_MAX, name ? name : "");
        return TESS_EINVAL;
    }
    size_t at;
    char why[160];
    int bits =
        srv_scopes_parse(scopes ? scopes : "", scopes ? strlen(scopes) : 0, &at, why, sizeof why);
    if (bits < 0) {
        snprintf(line, cap, "%s", why);
        return TESS_EINVAL;
    }
    size_t n = key ? strlen(key) : 0;
    if (n < TESS_API_KEY_MIN || n > SRV_KEY_TOKEN_MAX) {
        snprintf(line, cap,
                 "a key must be %d to %d characters long (a hash is only as strong as the key: "
                 "`tessera keys new` makes random ones), not %zu",
                 TESS_API_KEY_MIN, SRV_KEY_TOKEN_MAX, n);
        return TESS_EINVAL;
    }
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)key[i] <= ' ' || key[i] == 0x7f) {
            snprintf(line, cap, "a key cannot hold spaces or control characters (at character %zu)",
                     i + 1);
            return TESS_EINVAL;
        }
    uint8_t hash[32];
    srv_sha256(key, n, hash);
    char hex[65], sc[64];
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", hash[i]);
    /* the scopes as given, normalised: "read,write" */
    int w = snprintf(line, cap, "%s %s sha256:%s", name,
                     srv_scopes_text((unsigned)bits, sc, sizeof sc), hex);
    if (w < 0 || (size_t)w >= cap) return TESS_EINVAL;
    return TESS_OK;
}
