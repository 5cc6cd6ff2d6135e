/* manifest.c — the MANIFEST of one source's event store: what is committed.
 *
 * File format (integers little-endian, strings as u32 length + bytes):
 *
 *   "TESSMAN1"  u32 version (2)  u32 0  u64 body length
 *   body:
 *     u32 next ingest number; u64 next segment number; u64 push log number (version 2 only;
 *         version 1, written before push logs existed, is read as log 0: none)
 *     u32 ncols; per column: u8 type, string name; u32 ts column; i32 created column (-1: none)
 *     u32 nlayouts; per layout: string dir; u32 nkeys; per key: string column name;
 *         u64 rows left out for a null key; u32 nsegs; per segment: u64 number, u64 rows,
 *         i64 min ts, i64 max ts, u64 bytes
 *     u32 nfiles; per file: 16 bytes XXH3-128 (big-endian), string name, u64 rows,
 *         u32 ingest number, i64 ingest time, i64 min ts, i64 max ts, u64 bytes
 *   u64 XXH3-64 of everything before it
 *
 * A MANIFEST is replaced, never modified: written to MANIFEST.tmp, fsynced, renamed, and the
 * directory fsynced. Readers do not lock; rename(2) makes them see one version or the other.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "core/alloc.h"
#include "core/bytes.h"
#include "core/io.h"
#include "core/buf.h"
#include "offline/evstore_int.h"
#include "tessera.h"

#define MAN_MAGIC "TESSMAN1"
#define MAN_VERSION 2u
#define MAN_MAX ((uint64_t)1 << 31)

/* ---- memory ------------------------------------------------------------------------------- */

static void layout_release(tess__mlayout *l)
{
    tess__free(l->dir);
    for (size_t k = 0; k < l->nkeys; k++) tess__free(l->keys ? l->keys[k] : NULL);
    tess__free(l->keys);
    tess__free(l->cols);
    tess__free(l->segs);
}

void tess__manifest_free(tess__manifest *m)
{
    if (!m) return;
    for (size_t c = 0; c < m->ncols; c++) tess__free(m->col_names ? m->col_names[c] : NULL);
    tess__free(m->col_names);
    tess__free(m->col_types);
    for (size_t i = 0; i < m->nlayouts; i++) layout_release(&m->layouts[i]);
    tess__free(m->layouts);
    for (size_t i = 0; i < m->nfiles; i++) tess__free(m->files[i].name);
    tess__free(m->files);
    tess__free(m);
}

int tess__manifest_new(const tess__source *src, tess__manifest **out)
{
    *out = NULL;
    tess__manifest *m = tess__calloc(1, sizeof(*m));
    if (!m) return TESS_ENOMEM;
    m->next_ingest = 1;
    m->next_seg = 1;
    m->ts_col = src->ts_col;
    m->created_col = src->created_col;
    m->col_names = tess__calloc(src->nschema ? src->nschema : 1, sizeof(char *));
    m->col_types = tess__calloc(src->nschema ? src->nschema : 1, sizeof(tess__type));
    if (!m->col_names || !m->col_types) goto nomem;
    m->ncols = src->nschema;
    for (size_t c = 0; c < src->nschema; c++) {
        if (!(m->col_names[c] = tess__strdup(src->schema[c].name))) goto nomem;
        m->col_types[c] = src->schema[c].type;
    }
    *out = m;
    return TESS_OK;
nomem:
    tess__manifest_free(m);
    return TESS_ENOMEM;
}

static int grow(void **arr, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap) return TESS_OK;
    size_t nc = *cap ? *cap * 2 : 4;
    while (nc < need) nc *= 2;
    void *p = tess__realloc(*arr, nc * size);
    if (!p) return TESS_ENOMEM;
    *arr = p;
    *cap = nc;
    return TESS_OK;
}

int tess__manifest_add_seg(tess__mlayout *l, const tess__mseg *s)
{
    if (grow((void **)&l->segs, &l->segs_cap, l->nsegs + 1, sizeof(*s))) return TESS_ENOMEM;
    l->segs[l->nsegs++] = *s;
    return TESS_OK;
}

int tess__manifest_add_file(tess__manifest *m, const tess__mfile *f)
{
    if (grow((void **)&m->files, &m->files_cap, m->nfiles + 1, sizeof(*f))) return TESS_ENOMEM;
    char *name = tess__strdup(f->name);
    if (!name) return TESS_ENOMEM;
    m->files[m->nfiles] = *f;
    m->files[m->nfiles++].name = name;
    return TESS_OK;
}

uint64_t tess__mlayout_rows(const tess__mlayout *l)
{
    uint64_t n = 0;
    for (size_t i = 0; i < l->nsegs; i++) n += l->segs[i].rows;
    return n;
}

/* Directory name: key names joined with '+', bytes other than [A-Za-z0-9_] as %XX. */
static char *dir_name(const tess__source *src, const size_t *keys, size_t nkeys)
{
    if (nkeys == 0) return tess__strdup(TESS__EV_REST_DIR);
    tess__buf b = TESS__BUF_INIT;
    int rc = TESS_OK;
    for (size_t k = 0; k < nkeys && rc == TESS_OK; k++) {
        if (k) rc = tess__buf_putc(&b, '+');
        for (const char *p = src->schema[keys[k]].name; *p && rc == TESS_OK; p++) {
            unsigned char ch = (unsigned char)*p;
            if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                ch == '_')
                rc = tess__buf_putc(&b, (char)ch);
            else
                rc = tess__buf_printf(&b, "%%%02X", ch);
        }
    }
    if (rc) {
        tess__buf_release(&b);
        return NULL;
    }
    return tess__buf_take(&b);
}

int tess__manifest_add_layout(tess__manifest *m, const tess__source *src, const size_t *keys,
                              size_t nkeys, tess__mlayout **out)
{
    if (grow((void **)&m->layouts, &m->layouts_cap, m->nlayouts + 1, sizeof(tess__mlayout)))
        return TESS_ENOMEM;
    tess__mlayout l;
    memset(&l, 0, sizeof(l));
    l.dir = dir_name(src, keys, nkeys);
    l.keys = tess__calloc(nkeys ? nkeys : 1, sizeof(char *));
    l.cols = tess__calloc(nkeys ? nkeys : 1, sizeof(size_t));
    if (!l.dir || !l.keys || !l.cols) goto nomem;
    for (size_t k = 0; k < nkeys; k++) {
        l.nkeys = k;
        if (!(l.keys[k] = tess__strdup(src->schema[keys[k]].name))) goto nomem;
        l.cols[k] = keys[k];
    }
    l.nkeys = nkeys;
    m->layouts[m->nlayouts] = l;
    *out = &m->layouts[m->nlayouts++];
    return TESS_OK;
nomem:
    layout_release(&l);
    return TESS_ENOMEM;
}

tess__mlayout *tess__manifest_layout(const tess__manifest *m, const tess__source *src,
                                     const size_t *keys, size_t nkeys)
{
    for (size_t i = 0; i < m->nlayouts; i++) {
        tess__mlayout *l = &m->layouts[i];
        if (l->nkeys != nkeys) continue;
        size_t k = 0;
        while (k < nkeys && strcmp(l->keys[k], src->schema[keys[k]].name) == 0) k++;
        if (k == nkeys) return l;
    }
    return NULL;
}

int tess__manifest_check_schema(const tess__manifest *m, const tess__source *src, tess__err *err)
{
    const char *hint = "the stored events keep their schema: ingest into a new store or "
                       "restore the source's previous schema";
    if (m->ncols != src->nschema)
        return tess__err_set(err, TESS_EINVAL,
                             "source \"%s\": its schema has %zu columns, the stored events %zu (%s)",
                             src->name, src->nschema, m->ncols, hint);
    for (size_t c = 0; c < m->ncols; c++) {
        const tess__column *sc = &src->schema[c];
        if (strcmp(sc->name, m->col_names[c]) != 0 || sc->type != m->col_types[c])
            return tess__err_set(err, TESS_EINVAL,
                                 "source \"%s\": schema column %zu is \"%s\" %s, the stored events "
                                 "have \"%s\" %s (%s)",
                                 src->name, c + 1, sc->name, tess__type_name(sc->type),
                                 m->col_names[c], tess__type_name(m->col_types[c]), hint);
    }
    if (m->ts_col != src->ts_col || m->created_col != src->created_col)
        return tess__err_set(err, TESS_EINVAL,
                             "source \"%s\": its timestamp or created-timestamp column is not the "
                             "stored events' (%s)",
                             src->name, hint);
    return TESS_OK;
}

int tess__manifest_resolve(tess__manifest *m, const tess__source *src, tess__err *err)
{
    for (size_t i = 0; i < m->nlayouts; i++) {
        tess__mlayout *l = &m->layouts[i];
        if (!l->cols && !(l->cols = tess__calloc(l->nkeys ? l->nkeys : 1, sizeof(size_t))))
            return tess__err_set(err, TESS_ENOMEM, "out of memory");
        for (size_t k = 0; k < l->nkeys; k++) {
            long c = tess__source_column(src, l->keys[k]);
            if (c < 0)
                return tess__err_set(err, TESS_EINVAL,
                                     "source \"%s\": layout %s: no column \"%s\" in the schema",
                                     src->name, l->dir, l->keys[k]);
            l->cols[k] = (size_t)c;
        }
    }
    return TESS_OK;
}

/* ---- encoding ------------------------------------------------------------------------------- */

static void p32(tess__buf *b, int *rc, uint32_t v)
{
    if (*rc == TESS_OK) *rc = tess__buf_append(b, &v, 4);
}
static void p64(tess__buf *b, int *rc, uint64_t v)
{
    if (*rc == TESS_OK) *rc = tess__buf_append(b, &v, 8);
}
static void pstr(tess__buf *b, int *rc, const char *s)
{
    size_t n = strlen(s);
    p32(b, rc, (uint32_t)n);
    if (*rc == TESS_OK) *rc = tess__buf_append(b, s, n);
}

static int encode(const tess__manifest *m, tess__buf *b)
{
    int rc = tess__buf_append(b, MAN_MAGIC, 8);
    p32(b, &rc, MAN_VERSION);
    p32(b, &rc, 0);
    p64(b, &rc, 0); /* body length, patched below */
    p32(b, &rc, m->next_ingest);
    p64(b, &rc, m->next_seg);
    p64(b, &rc, m->log);
    p32(b, &rc, (uint32_t)m->ncols);
    for (size_t c = 0; c < m->ncols; c++) {
        uint8_t t = (uint8_t)m->col_types[c];
        if (rc == TESS_OK) rc = tess__buf_append(b, &t, 1);
        pstr(b, &rc, m->col_names[c]);
    }
    p32(b, &rc, (uint32_t)m->ts_col);
    p32(b, &rc, (uint32_t)(int32_t)m->created_col);
    p32(b, &rc, (uint32_t)m->nlayouts);
    for (size_t i = 0; i < m->nlayouts; i++) {
        const tess__mlayout *l = &m->layouts[i];
        pstr(b, &rc, l->dir);
        p32(b, &rc, (uint32_t)l->nkeys);
        for (size_t k = 0; k < l->nkeys; k++) pstr(b, &rc, l->keys[k]);
        p64(b, &rc, l->null_key_rows);
        p32(b, &rc, (uint32_t)l->nsegs);
        for (size_t s = 0; s < l->nsegs; s++) {
            p64(b, &rc, l->segs[s].num);
            p64(b, &rc, l->segs[s].rows);
            p64(b, &rc, (uint64_t)l->segs[s].min_ts);
            p64(b, &rc, (uint64_t)l->segs[s].max_ts);
            p64(b, &rc, l->segs[s].bytes);
        }
    }
    p32(b, &rc, (uint32_t)m->nfiles);
    for (size_t i = 0; i < m->nfiles; i++) {
        const tess__mfile *f = &m->files[i];
        if (rc == TESS_OK) rc = tess__buf_append(b, f->hash, 16);
        pstr(b, &rc, f->name);
        p64(b, &rc, f->rows);
        p32(b, &rc, f->ingest);
        p64(b, &rc, (uint64_t)f->time);
        p64(b, &rc, (uint64_t)f->min_ts);
        p64(b, &rc, (uint64_t)f->max_ts);
        p64(b, &rc, f->bytes);
    }
    if (rc) return rc;
    uint64_t body = b->len - 24;
    memcpy(b->p + 16, &body, 8);
    p64(b, &rc, XXH3_64bits(b->p, b->len));
    return rc;
}

/* ---- decoding ------------------------------------------------------------------------------- */

/* NULL with r->bad (malformed) or without (out of memory). */
static char *gstr(tess__cur *r)
{
    uint32_t n = tess__cur_u32(r);
    const uint8_t *p = tess__cur_take(r, n);
    if (!p) return NULL;
    if (memchr(p, '\0', n)) {
        r->bad = true;
        return NULL;
    }
    return tess__strndup((const char *)p, n);
}

static int decode(const uint8_t *p, size_t n, uint32_t ver, tess__manifest **out)
{
    tess__cur r = tess__cur_init(p + 24, n - 32);
    tess__manifest *m = tess__calloc(1, sizeof(*m));
    if (!m) return TESS_ENOMEM;
    m->next_ingest = tess__cur_u32(&r);
    m->next_seg = tess__cur_u64(&r);
    m->log = ver >= 2 ? tess__cur_u64(&r) : 0;
    uint32_t ncols = tess__cur_u32(&r);
    if (r.bad || ncols > n) goto bad;
    m->col_names = tess__calloc(ncols ? ncols : 1, sizeof(char *));
    m->col_types = tess__calloc(ncols ? ncols : 1, sizeof(tess__type));
    if (!m->col_names || !m->col_types) goto nomem;
    m->ncols = ncols;
    for (size_t c = 0; c < ncols; c++) {
        const uint8_t *t = tess__cur_take(&r, 1);
        if (!t || *t == TESS_T_NULL || *t >= TESS_T__COUNT) goto bad;
        m->col_types[c] = (tess__type)*t;
        if (!(m->col_names[c] = gstr(&r))) goto fail;
    }
    m->ts_col = tess__cur_u32(&r);
    m->created_col = (int32_t)tess__cur_u32(&r);
    if (r.bad || m->ts_col >= ncols || m->created_col < -1 || m->created_col >= (long)ncols)
        goto bad;
    uint32_t nl = tess__cur_u32(&r);
    if (r.bad || nl > n) goto bad;
    m->layouts = tess__calloc(nl ? nl : 1, sizeof(tess__mlayout));
    if (!m->layouts) goto nomem;
    m->layouts_cap = nl ? nl : 1;
    for (size_t i = 0; i < nl; i++) {
        tess__mlayout *l = &m->layouts[i];
        m->nlayouts = i + 1;
        if (!(l->dir = gstr(&r))) goto fail;
        uint32_t nk = tess__cur_u32(&r);
        if (r.bad || nk > ncols) goto bad;
        if (!(l->keys = tess__calloc(nk ? nk : 1, sizeof(char *)))) goto nomem;
        for (size_t k = 0; k < nk; k++) {
            l->nkeys = k + 1;
            if (!(l->keys[k] = gstr(&r))) goto fail;
        }
        l->null_key_rows = tess__cur_u64(&r);
        uint32_t ns = tess__cur_u32(&r);
        if (r.bad || ns > n) goto bad;
        if (!(l->segs = tess__calloc(ns ? ns : 1, sizeof(tess__mseg)))) goto nomem;
        l->segs_cap = ns ? ns : 1;
        for (size_t s = 0; s < ns; s++) {
            tess__mseg *g = &l->segs[s];
            g->num = tess__cur_u64(&r);
            g->rows = tess__cur_u64(&r);
            g->min_ts = (int64_t)tess__cur_u64(&r);
            g->max_ts = (int64_t)tess__cur_u64(&r);
            g->bytes = tess__cur_u64(&r);
        }
        l->nsegs = ns;
    }
    uint32_t nf = tess__cur_u32(&r);
    if (r.bad || nf > n) goto bad;
    m->files = tess__calloc(nf ? nf : 1, sizeof(tess__mfile));
    if (!m->files) goto nomem;
    m->files_cap = nf ? nf : 1;
    for (size_t i = 0; i < nf; i++) {
        tess__mfile *f = &m->files[i];
        const uint8_t *h = tess__cur_take(&r, 16);
        if (!h) goto bad;
        memcpy(f->hash, h, 16);
        m->nfiles = i + 1;
        if (!(f->name = gstr(&r))) goto fail;
        f->rows = tess__cur_u64(&r);
        f->ingest = tess__cur_u32(&r);
        f->time = (int64_t)tess__cur_u64(&r);
        f->min_ts = (int64_t)tess__cur_u64(&r);
        f->max_ts = (int64_t)tess__cur_u64(&r);
        f->bytes = tess__cur_u64(&r);
    }
    if (r.bad || r.p != r.end) goto bad;
    *out = m;
    return TESS_OK;
fail:
    if (r.bad) goto bad;
nomem:
    tess__manifest_free(m);
    return TESS_ENOMEM;
bad:
    tess__manifest_free(m);
    return TESS_EIO;
}

int tess__manifest_read(const char *path, tess__manifest **out, tess__err *err)
{
    *out = NULL;
    int rc = TESS_OK;
    uint8_t *data = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) return TESS_NOTFOUND;
        return tess__err_set(err, TESS_EIO, "%s: cannot open: %s", path, strerror(errno));
    }
    struct stat st;
    if (fstat(fd, &st)) {
        rc = tess__err_set(err, TESS_EIO, "%s: stat: %s", path, strerror(errno));
        goto out;
    }
    uint64_t size = (uint64_t)st.st_size;
    if (size < 32 || size > MAN_MAX) {
        rc = tess__err_set(err, TESS_EIO, "%s: damaged manifest (size %llu)", path,
                           (unsigned long long)size);
        goto out;
    }
    if (!(data = tess__malloc(size))) {
        rc = tess__err_set(err, TESS_ENOMEM, "out of memory");
        goto out;
    }
    size_t got = 0;
    while (got < size) {
        ssize_t r = read(fd, data + got, size - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            rc = tess__err_set(err, TESS_EIO, "%s: read: %s", path, r < 0 ? strerror(errno) : "short");
            goto out;
        }
        got += (size_t)r;
    }
    uint64_t body, sum;
    uint32_t ver;
    memcpy(&ver, data + 8, 4);
    memcpy(&body, data + 16, 8);
    memcpy(&sum, data + size - 8, 8);
    if (memcmp(data, MAN_MAGIC, 8) != 0) {
        rc = tess__err_set(err, TESS_EIO, "%s: not a manifest (bad magic)", path);
        goto out;
    }
    if (ver != MAN_VERSION && ver != 1) {
        rc = tess__err_set(err, TESS_EIO, "%s: manifest version %u is not supported (%u is)", path,
                           ver, MAN_VERSION);
        goto out;
    }
    if (body != size - 32 || XXH3_64bits(data, size - 8) != sum) {
        rc = tess__err_set(err, TESS_EIO, "%s: manifest checksum mismatch", path);
        goto out;
    }
    rc = decode(data, size, ver, out);
    if (rc == TESS_EIO) tess__err_set(err, rc, "%s: damaged manifest (malformed contents)", path);
    else if (rc) tess__err_set(err, rc, "out of memory");
out:
    tess__free(data);
    close(fd);
    return rc;
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -1;
    int r = tess__io_fsync(fd);
    close(fd);
    return r;
}

int tess__manifest_prepare(const tess__manifest *m, const char *tmp_path, bool sync,
                           tess__err *err)
{
    tess__buf b = TESS__BUF_INIT;
    int rc = encode(m, &b);
    if (rc) {
        tess__buf_release(&b);
        return tess__err_set(err, TESS_ENOMEM, "out of memory");
    }
    int fd = open(tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = tess__err_set(err, TESS_EIO, "%s: cannot create: %s", tmp_path, strerror(errno));
        goto out;
    }
    size_t off = 0;
    while (off < b.len) {
        ssize_t w = tess__io_write(fd, b.p + off, b.len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) break;
        off += (size_t)w;
    }
    if (off < b.len || (sync && tess__io_fsync(fd))) {
        rc = tess__err_set(err, TESS_EIO, "%s: write: %s", tmp_path, strerror(errno));
        close(fd);
        unlink(tmp_path);
        goto out;
    }
    if (close(fd)) {
        rc = tess__err_set(err, TESS_EIO, "%s: close: %s", tmp_path, strerror(errno));
        unlink(tmp_path);
    }
out:
    tess__buf_release(&b);
    return rc;
}

int tess__manifest_install(const char *tmp_path, const char *path, const char *dir, bool sync,
                           bool *renamed, tess__err *err)
{
    *renamed = false;
    if (tess__io_rename(tmp_path, path)) {
        int rc = tess__err_set(err, TESS_EIO, "%s: cannot commit: %s", path, strerror(errno));
        unlink(tmp_path);
        return rc;
    }
    *renamed = true;
    if (sync && fsync_dir(dir))
        return tess__err_set(err, TESS_EIO, "%s: fsync: %s", dir, strerror(errno));
    return TESS_OK;
}

int tess__manifest_write(const tess__manifest *m, const char *tmp_path, const char *path,
                         const char *dir, bool sync, bool *renamed, tess__err *err)
{
    *renamed = false;
    int rc = tess__manifest_prepare(m, tmp_path, sync, err);
    if (rc) return rc;
    return tess__manifest_install(tmp_path, path, dir, sync, renamed, err);
}
