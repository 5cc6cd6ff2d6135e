/* test_evstore.c — segments and the event store, against a brute-force oracle.
 *
 * Every test works in its own temporary store directory. Rows are generated in the test,
 * written as CSV files, ingested, and scans are compared with the oracle: the ingested rows
 * (with the seq the test expects: ingest number << 32 | row index) filtered by non-null keys
 * and sorted by (keys, ts, created ts, seq), nulls first.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/hash.h"
#include "core/io.h"
#include "core/time.h"
#include "defs/defs_model.h"
#include "offline/evstore.h"
#include "offline/evstore_int.h"
#include "offline/segment.h"
#include "tessera.h"

/* ---- fixtures --------------------------------------------------------------------------------- */

static const char *const DEFS =
    "entities:\n"
    "  - name: user\n"
    "    join_keys: [user_id]\n"
    "  - name: merchant\n"
    "    join_keys: [merchant_id]\n"
    "sources:\n"
    "  - name: tx\n"
    "    type: batch\n"
    "    path: data/tx.csv\n"
    "    timestamp: ts\n"
    "    created_timestamp: created_at\n"
    "    schema: {user_id: int64, merchant_id: string, amount: float64, ts: timestamp, "
    "created_at: timestamp}\n"
    "  - name: tx2\n" /* same columns, amount typed differently: a schema mismatch */
    "    type: batch\n"
    "    path: data/tx.csv\n"
    "    timestamp: ts\n"
    "    created_timestamp: created_at\n"
    "    schema: {user_id: int64, merchant_id: string, amount: int64, ts: timestamp, "
    "created_at: timestamp}\n";

enum { C_USER, C_MERCH, C_AMOUNT, C_TS, C_CREATED, NCOLS };

static const size_t L_USER[] = {C_USER};
static const size_t L_MERCH[] = {C_MERCH};
static const size_t L_MU[] = {C_MERCH, C_USER};

typedef struct orow {
    int64_t user;
    char merch[24];
    double amount;
    int64_t ts, created;
    bool nuser, nmerch, namount, nts, ncreated;
    int64_t seq;
} orow;

typedef struct env {
    char dir[256];   /* temp dir: data files and the store */
    char store[300]; /* <dir>/store */
    tess__defs *defs;
    const tess__source *src;
    tess__evstore *es;
    /* the oracle: every row ingested so far */
    orow *db;
    size_t ndb, dbcap;
    uint32_t next_ingest;
    int nfiles;
    uint64_t rng;
} env;

static uint64_t rnd(env *e)
{
    e->rng = e->rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return e->rng >> 33;
}

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static int setup(void **state)
{
    env *e = calloc(1, sizeof(*e));
    snprintf(e->dir, sizeof(e->dir), "/tmp/tess_evXXXXXX");
    if (!mkdtemp(e->dir)) return -1;
    snprintf(e->store, sizeof(e->store), "%s/store", e->dir);
    mkdir(e->store, 0755);
    tess__defs_file files[2] = {{"tessera.yaml", "project: t\n", 11},
                                {"defs.yaml", DEFS, strlen(DEFS)}};
    tess__err err = TESS__ERR_INIT;
    if (tess__defs_load_strings(files, 2, &e->defs, &err) != TESS_OK) {
        fprintf(stderr, "defs: %s\n", tess__err_msg(&err));
        return -1;
    }
    e->src = tess__defs_source(e->defs, "tx");
    if (tess__evstore_open(e->store, &e->es, &err) != TESS_OK) return -1;
    tess__evstore_set_durable(e->es, false); /* fsync costs seconds per test: one test below
                                                keeps it on */
    tess__err_release(&err);
    e->next_ingest = 1;
    e->rng = 12345;
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    env *e = *state;
    if (getenv("TESS_TEST_TIMING")) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        fprintf(stderr, "t=%.3f\n", ts.tv_sec + ts.tv_nsec / 1e9);
    }
    tess__evstore_close(e->es);
    tess__defs_free(e->defs);
    nftw(e->dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    free(e->db);
    free(e);
    return 0;
}

/* ---- data ------------------------------------------------------------------------------------ */

#define T0 1767225600000000LL /* 2026-01-01 */

typedef struct gen_opts {
    int users, merchants;
    int null_pct;   /* % of rows with a null in each nullable column (user, merchant, amount,
                       created) */
    int ts_span;    /* seconds */
    int dup_pct;    /* % of rows repeating the previous row's user and ts */
} gen_opts;

static void gen_rows(env *e, orow *rows, size_t n, const gen_opts *g)
{
    for (size_t i = 0; i < n; i++) {
        orow *r = &rows[i];
        memset(r, 0, sizeof(*r));
        r->user = 1 + (int64_t)(rnd(e) % (uint64_t)g->users);
        snprintf(r->merch, sizeof(r->merch), "m%llu", (unsigned long long)(rnd(e) % (uint64_t)g->merchants));
        char buf[32];
        snprintf(buf, sizeof(buf), "%.2f", (double)(rnd(e) % 100000) / 100.0);
        r->amount = strtod(buf, NULL);
        r->ts = T0 + (int64_t)(rnd(e) % (uint64_t)g->ts_span) * 1000000;
        r->created = r->ts + (int64_t)(rnd(e) % 3) * 1000000;
        if (i > 0 && (int)(rnd(e) % 100) < g->dup_pct) {
            r->user = rows[i - 1].user;
            r->nuser = rows[i - 1].nuser;
            r->ts = rows[i - 1].ts;
            if (rnd(e) % 2) r->created = rows[i - 1].created;
        }
        if ((int)(rnd(e) % 100) < g->null_pct) r->nuser = true;
        if ((int)(rnd(e) % 100) < g->null_pct) r->nmerch = true;
        if ((int)(rnd(e) % 100) < g->null_pct) r->namount = true;
        if ((int)(rnd(e) % 100) < g->null_pct) r->ncreated = true;
    }
}

/* Writes rows as a CSV file <dir>/<name>; returns the path (static buffer rotation). */
static const char *write_csv(env *e, const char *name, const orow *rows, size_t n)
{
    static char paths[8][512];
    static int k;
    char *path = paths[k++ % 8];
    snprintf(path, 512, "%s/%s", e->dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("user_id,merchant_id,amount,ts,created_at\n", f);
    char t1[TESS_TS_FORMAT_MAX], t2[TESS_TS_FORMAT_MAX];
    for (size_t i = 0; i < n; i++) {
        const orow *r = &rows[i];
        tess__ts_format(r->ts, t1);
        tess__ts_format(r->created, t2);
        if (r->nuser) fputc(',', f);
        else fprintf(f, "%lld,", (long long)r->user);
        fprintf(f, "%s,", r->nmerch ? "" : r->merch);
        if (r->namount) fputc(',', f);
        else fprintf(f, "%.2f,", r->amount);
        fprintf(f, "%s,%s\n", r->nts ? "" : t1, r->ncreated ? "" : t2);
    }
    fclose(f);
    return path;
}

static void db_add(env *e, const orow *rows, size_t n, uint32_t ingest)
{
    if (e->ndb + n > e->dbcap) {
        e->dbcap = (e->ndb + n) * 2;
        e->db = realloc(e->db, e->dbcap * sizeof(orow));
    }
    for (size_t i = 0; i < n; i++) {
        e->db[e->ndb] = rows[i];
        e->db[e->ndb++].seq = (int64_t)(((uint64_t)ingest << 32) | i);
    }
}

/* ---- the oracle -------------------------------------------------------------------------------- */

static const size_t *g_keys;
static size_t g_nkeys;

static int cmp_i(int64_t a, int64_t b)
{
    return (a > b) - (a < b);
}

static int ocmp(const void *x, const void *y)
{
    const orow *a = x, *b = y;
    for (size_t k = 0; k < g_nkeys; k++) {
        int c = g_keys[k] == C_USER ? cmp_i(a->user, b->user) : strcmp(a->merch, b->merch);
        if (c) return c < 0 ? -1 : 1;
    }
    if (a->nts != b->nts) return a->nts ? -1 : 1;
    if (!a->nts && a->ts != b->ts) return cmp_i(a->ts, b->ts);
    if (a->ncreated != b->ncreated) return a->ncreated ? -1 : 1;
    if (!a->ncreated && a->created != b->created) return cmp_i(a->created, b->created);
    return cmp_i(a->seq, b->seq);
}

static bool has_keys(const orow *r, const size_t *keys, size_t nkeys)
{
    for (size_t k = 0; k < nkeys; k++)
        if ((keys[k] == C_USER && r->nuser) || (keys[k] == C_MERCH && r->nmerch)) return false;
    return true;
}

/* The expected scan of a layout: malloc'ed, *n rows. Optional filter on users. */
static orow *expect(env *e, const size_t *keys, size_t nkeys, size_t *n, const int64_t *users,
                    size_t nusers)
{
    orow *out = malloc((e->ndb ? e->ndb : 1) * sizeof(orow));
    size_t k = 0;
    for (size_t i = 0; i < e->ndb; i++) {
        if (!has_keys(&e->db[i], keys, nkeys)) continue;
        if (users) {
            bool want = false;
            for (size_t u = 0; u < nusers; u++) want |= e->db[i].user == users[u];
            if (!want) continue;
        }
        out[k++] = e->db[i];
    }
    g_keys = keys;
    g_nkeys = nkeys;
    qsort(out, k, sizeof(orow), ocmp);
    *n = k;
    return out;
}

static void row_of(const tess__batch *b, size_t i, orow *r)
{
    memset(r, 0, sizeof(*r));
    const tess__col *c = b->cols;
    r->nuser = c[C_USER].nulls && c[C_USER].nulls[i];
    r->user = r->nuser ? 0 : ((const int64_t *)c[C_USER].data)[i];
    r->nmerch = c[C_MERCH].nulls && c[C_MERCH].nulls[i];
    if (!r->nmerch) {
        const tess__str *s = (const tess__str *)c[C_MERCH].data + i;
        assert_true(s->n < sizeof(r->merch));
        memcpy(r->merch, s->p, s->n);
    }
    r->namount = c[C_AMOUNT].nulls && c[C_AMOUNT].nulls[i];
    r->amount = r->namount ? 0 : ((const double *)c[C_AMOUNT].data)[i];
    r->nts = c[C_TS].nulls && c[C_TS].nulls[i];
    r->ts = r->nts ? 0 : ((const int64_t *)c[C_TS].data)[i];
    r->ncreated = c[C_CREATED].nulls && c[C_CREATED].nulls[i];
    r->created = r->ncreated ? 0 : ((const int64_t *)c[C_CREATED].data)[i];
    r->seq = b->seq[i];
}

static bool same_row(const orow *a, const orow *b)
{
    return a->nuser == b->nuser && (a->nuser || a->user == b->user) && a->nmerch == b->nmerch &&
           (a->nmerch || strcmp(a->merch, b->merch) == 0) && a->namount == b->namount &&
           (a->namount || a->amount == b->amount) && a->nts == b->nts && (a->nts || a->ts == b->ts) &&
           a->ncreated == b->ncreated && (a->ncreated || a->created == b->created) &&
           a->seq == b->seq;
}

typedef struct scanned {
    orow *rows;
    size_t n;
    size_t batches;
    uint64_t blocks;
    bool split; /* an entity was split across batches */
} scanned;

/* Scans a layout (optionally restricted to users), checking entity integrity of batches. */
static int scan_all(env *e, const size_t *keys, size_t nkeys, const int64_t *users, size_t nusers,
                    size_t batch_rows, scanned *out, tess__err *err)
{
    memset(out, 0, sizeof(*out));
    tess__str *filter = NULL;
    tess__buf kb = TESS__BUF_INIT;
    if (users) {
        int64_t *vals = calloc(nusers + 1, sizeof(int64_t));
        uint8_t nulls[1] = {0};
        size_t *offs = calloc(nusers + 1, sizeof(size_t));
        for (size_t u = 0; u < nusers; u++) {
            vals[0] = users[u];
            tess__col col = {TESS_T_INT64, nulls, vals};
            offs[u] = kb.len;
            assert_int_equal(tess__evkey_encode(&kb, &col, NULL, 1, 0), TESS_OK);
        }
        offs[nusers] = kb.len;
        filter = calloc(nusers + 1, sizeof(tess__str));
        for (size_t u = 0; u < nusers; u++)
            filter[u] = (tess__str){kb.p + offs[u], offs[u + 1] - offs[u]};
        free(vals);
        free(offs);
    }
    tess__evscan_opts o;
    memset(&o, 0, sizeof(o));
    o.filter = users ? filter : NULL;
    o.nfilter = nusers;
    o.batch_rows = batch_rows;
    tess__evscan *s = NULL;
    int rc = tess__evscan_open_opts(e->es, e->src, keys, nkeys, &o, &s, err);
    size_t cap = 1024;
    out->rows = malloc(cap * sizeof(orow));
    tess__evorder ord = tess__evorder_of(e->src, keys, nkeys);
    const tess__batch *b;
    orow last;
    bool have_last = false;
    while (rc == TESS_OK && (rc = tess__evscan_next(s, &b, err)) == TESS_OK) {
        assert_true(b->nrows > 0);
        if (have_last) {
            /* the first row of this batch must not belong to the previous batch's entity */
            orow first;
            row_of(b, 0, &first);
            bool same = true;
            for (size_t k = 0; k < nkeys; k++)
                same &= keys[k] == C_USER ? first.user == last.user
                                          : strcmp(first.merch, last.merch) == 0;
            if (same) out->split = true;
        }
        for (size_t i = 1; i < b->nrows; i++)
            assert_true(tess__ev_cmp_rows(&ord, b, i - 1, b, i) < 0);
        for (size_t i = 0; i < b->nrows; i++) {
            if (out->n == cap) out->rows = realloc(out->rows, (cap *= 2) * sizeof(orow));
            row_of(b, i, &out->rows[out->n++]);
        }
        row_of(b, b->nrows - 1, &last);
        have_last = true;
        out->batches++;
    }
    if (rc == TESS_NOTFOUND) rc = TESS_OK;
    if (s) out->blocks = tess__evscan_blocks_read(s);
    tess__evscan_close(s);
    free(filter);
    tess__buf_release(&kb);
    return rc;
}

/* Scans a layout and compares it with the oracle. */
static void check_layout(env *e, const size_t *keys, size_t nkeys)
{
    tess__err err = TESS__ERR_INIT;
    scanned sc;
    int rc = scan_all(e, keys, nkeys, NULL, 0, 0, &sc, &err);
    if (rc) fail_msg("scan: %s", tess__err_msg(&err));
    size_t n;
    orow *want = expect(e, keys, nkeys, &n, NULL, 0);
    if (sc.n != n) fail_msg("layout %zu keys: %zu rows scanned, %zu expected", nkeys, sc.n, n);
    for (size_t i = 0; i < n; i++)
        if (!same_row(&sc.rows[i], &want[i]))
            fail_msg("row %zu differs: user %lld/%lld seq %llx/%llx ts %lld/%lld", i,
                     (long long)sc.rows[i].user, (long long)want[i].user,
                     (unsigned long long)sc.rows[i].seq, (unsigned long long)want[i].seq,
                     (long long)sc.rows[i].ts, (long long)want[i].ts);
    assert_false(sc.split);
    free(sc.rows);
    free(want);
    tess__err_release(&err);
}

static int ingest(env *e, const size_t *const *lays, const size_t *nk, size_t nl,
                  const char *const *paths, size_t np, bool force, size_t run_rows,
                  tess__ingest_result *res, tess__err *err)
{
    tess__evlayout l[4];
    for (size_t i = 0; i < nl; i++) l[i] = (tess__evlayout){lays[i], nk[i]};
    tess__ingest_opts o;
    memset(&o, 0, sizeof(o));
    o.force = force;
    o.run_rows = run_rows;
    return tess__evstore_ingest(e->es, e->src, l, nl, paths, np, &o, res, err);
}

/* Generates, writes and ingests `nfiles` files of n rows each into the two usual layouts;
 * adds them to the oracle. */
static void ingest_new(env *e, size_t nfiles, size_t n, const gen_opts *g, size_t run_rows)
{
    const size_t *lays[] = {L_USER, L_MERCH};
    const size_t nk[] = {1, 1};
    const char *paths[8] = {NULL};
    orow *rows[8] = {NULL};
    assert_true(nfiles <= 8);
    for (size_t f = 0; f < nfiles; f++) {
        rows[f] = malloc(n * sizeof(orow));
        gen_rows(e, rows[f], n, g);
        char name[64];
        snprintf(name, sizeof(name), "f%d.csv", e->nfiles++);
        paths[f] = write_csv(e, name, rows[f], n);
    }
    tess__err err = TESS__ERR_INIT;
    tess__ingest_result res;
    int rc = ingest(e, lays, nk, 2, paths, nfiles, false, run_rows, &res, &err);
    if (rc) fail_msg("ingest: %s", tess__err_msg(&err));
    assert_int_equal(res.files_ingested, nfiles);
    for (size_t f = 0; f < nfiles; f++) {
        db_add(e, rows[f], n, e->next_ingest++);
        free(rows[f]);
    }
    tess__ingest_result_release(&res);
    tess__err_release(&err);
}

/* A listing of every file under the store (names and sizes), to compare states. */
static void list_rec(const char *dir, const char *rel, char *out, size_t cap)
{
    DIR *d = opendir(dir);
    if (!d) return;
    char *names[4096];
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) && n < 4096)
        if (de->d_name[0] != '.') names[n++] = strdup(de->d_name);
    closedir(d);
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            char *t = names[j];
            names[j] = names[j - 1];
            names[j - 1] = t;
        }
    for (size_t i = 0; i < n; i++) {
        char p[1024], r[1024];
        snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
        snprintf(r, sizeof(r), "%s/%s", rel, names[i]);
        struct stat st;
        stat(p, &st);
        size_t len = strlen(out);
        snprintf(out + len, cap - len, "%s %lld\n", r, S_ISDIR(st.st_mode) ? 0LL : (long long)st.st_size);
        if (S_ISDIR(st.st_mode)) list_rec(p, r, out, cap);
        free(names[i]);
    }
}

static char *listing(env *e)
{
    char *out = calloc(1, 1 << 16);
    list_rec(e->store, "", out, 1 << 16);
    return out;
}

static char *read_file_all(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = malloc((size_t)sz + 1);
    *n = fread(p, 1, (size_t)sz, f);
    fclose(f);
    return p;
}

/* ---- segments alone ------------------------------------------------------------------------ */

static void fill_batch(env *e, tess__batch *b, size_t n)
{
    tess__type types[NCOLS];
    for (size_t c = 0; c < NCOLS; c++) types[c] = e->src->schema[c].type;
    assert_int_equal(tess__batch_init(b, types, NCOLS, n), TESS_OK);
    for (size_t i = 0; i < n; i++) {
        ((int64_t *)b->cols[C_USER].data)[i] = (int64_t)(rnd(e) % 5000) - 100; /* negatives too */
        char m[24];
        int len = snprintf(m, sizeof(m), "m%llu", (unsigned long long)(rnd(e) % 300));
        if (i % 97 == 0) m[1] = '\0'; /* an embedded NUL byte */
        ((tess__str *)b->cols[C_MERCH].data)[i] =
            (tess__str){tess__arena_strndup(&b->arena, m, (size_t)len), (size_t)len};
        ((double *)b->cols[C_AMOUNT].data)[i] = (double)(rnd(e) % 100000) / 7.0;
        b->cols[C_AMOUNT].nulls[i] = rnd(e) % 10 == 0;
        ((int64_t *)b->cols[C_TS].data)[i] = T0 + (int64_t)(rnd(e) % 1000000) * 1000;
        ((int64_t *)b->cols[C_CREATED].data)[i] = T0 + (int64_t)(rnd(e) % 1000000) * 1000;
        b->cols[C_CREATED].nulls[i] = rnd(e) % 5 == 0;
        b->seq[i] = (int64_t)((7ULL << 32) | i);
    }
    b->nrows = n;
}

static void test_segment_roundtrip(void **state)
{
    env *e = *state;
    tess__err err = TESS__ERR_INIT;
    const size_t n = 150000; /* 3 blocks */
    tess__batch b;
    fill_batch(e, &b, n);
    uint32_t *refs = malloc(n * sizeof(uint32_t));
    tess__batch *chunks[3];
    /* the batch is one chunk of up to 65,536 rows per ref: split it in three views */
    tess__batch parts[3];
    for (int p = 0; p < 3; p++) {
        size_t from = (size_t)p * 65536, cnt = n - from < 65536 ? n - from : 65536;
        parts[p] = b;
        parts[p].nrows = cnt;
        parts[p].cols = malloc(NCOLS * sizeof(tess__col));
        for (size_t c = 0; c < NCOLS; c++) {
            parts[p].cols[c] = b.cols[c];
            parts[p].cols[c].nulls = b.cols[c].nulls + from;
            parts[p].cols[c].data = (char *)b.cols[c].data + from * tess__type_width(b.cols[c].type);
        }
        parts[p].seq = b.seq + from;
        chunks[p] = &parts[p];
        for (size_t i = 0; i < cnt; i++) refs[from + i] = (uint32_t)(p << 16 | i);
    }
    const size_t keys[] = {C_MERCH, C_USER};
    tess__evorder ord = tess__evorder_of(e->src, keys, 2);
    /* sorted as a run, then written from the three chunks by refs */
    tess__run run;
    assert_int_equal(tess__run_init(&run, e->src), TESS_OK);
    assert_int_equal(tess__run_reserve(&run, n), TESS_OK);
    assert_int_equal(tess__run_append(&run, &b, NULL, 0, n), TESS_OK);
    uint32_t *idx = malloc(n * sizeof(uint32_t));
    for (size_t i = 0; i < n; i++) idx[i] = (uint32_t)i;
    assert_int_equal(tess__evsort(&run, idx, n, &ord, NULL), TESS_OK);
    for (size_t i = 0; i < n; i++) refs[i] = (uint32_t)((idx[i] / 65536) << 16 | idx[i] % 65536);
    free(idx);
    tess__run_release(&run);
    for (size_t i = 1; i < n; i++)
        assert_true(tess__ev_cmp_rows(&ord, chunks[refs[i - 1] >> 16], refs[i - 1] & 0xffff,
                                      chunks[refs[i] >> 16], refs[i] & 0xffff) < 0);

    char path[512];
    snprintf(path, sizeof(path), "%s/a.seg", e->dir);
    tess__segw *w;
    assert_int_equal(tess__segw_open(path, NULL, e->src, keys, 2, &w, &err), TESS_OK);
    /* in two calls, to cross a block boundary inside a call */
    assert_int_equal(tess__segw_add(w, (const tess__batch *const *)chunks, refs, 1000, &err), TESS_OK);
    assert_int_equal(tess__segw_add(w, (const tess__batch *const *)chunks, refs + 1000, n - 1000, &err),
                     TESS_OK);
    tess__seginfo info;
    assert_int_equal(tess__segw_finish(w, &info, &err), TESS_OK);
    assert_int_equal(info.rows, n);
    assert_int_equal(info.nblocks, 3);

    tess__segr *r;
    if (tess__segr_open(path, NULL, e->src, keys, 2, &r, &err)) fail_msg("%s", tess__err_msg(&err));
    assert_int_equal(tess__segr_nblocks(r), 3);
    assert_int_equal(tess__segr_rows(r), n);
    tess__batch rb;
    memset(&rb, 0, sizeof(rb));
    tess__type types[NCOLS];
    for (size_t c = 0; c < NCOLS; c++) types[c] = e->src->schema[c].type;
    assert_int_equal(tess__batch_init(&rb, types, NCOLS, 1), TESS_OK);
    size_t at = 0;
    for (size_t k = 0; k < 3; k++) {
        const tess__segblock *bl = tess__segr_block(r, k);
        if (k > 0) {
            const tess__segblock *pb = tess__segr_block(r, k - 1);
            size_t m = pb->last_n < bl->first_n ? pb->last_n : bl->first_n;
            int c = memcmp(pb->last, bl->first, m);
            assert_true(c < 0 || (c == 0 && pb->last_n <= bl->first_n));
        }
        assert_int_equal(tess__segr_read_block(r, k, NULL, &rb, &err), TESS_OK);
        assert_int_equal(rb.nrows, bl->nrows);
        for (size_t i = 0; i < rb.nrows; i++, at++) {
            const tess__batch *sb = chunks[refs[at] >> 16];
            size_t si = refs[at] & 0xffff;
            assert_int_equal(tess__ev_cmp_rows(&ord, &rb, i, sb, si), 0);
            /* the non-key columns too */
            bool na = rb.cols[C_AMOUNT].nulls[i];
            assert_int_equal(na, sb->cols[C_AMOUNT].nulls[si]);
            if (!na)
                assert_true(((double *)rb.cols[C_AMOUNT].data)[i] ==
                            ((double *)sb->cols[C_AMOUNT].data)[si]);
            /* first/last keys of the block */
            if (i == 0 || i == rb.nrows - 1) {
                tess__buf kb = TESS__BUF_INIT;
                assert_int_equal(tess__evkey_encode(&kb, rb.cols, keys, 2, i), TESS_OK);
                const uint8_t *want = i == 0 ? bl->first : bl->last;
                size_t wn = i == 0 ? bl->first_n : bl->last_n;
                assert_int_equal(kb.len, wn);
                assert_memory_equal(kb.p, want, wn);
                /* find() lists this block for its own keys */
                size_t lo, hi;
                tess__segr_find(r, kb.p, kb.len, &lo, &hi);
                assert_true(lo <= k && k < hi);
                tess__buf_release(&kb);
            }
        }
    }
    assert_int_equal(at, n);
    /* a key beyond every block */
    size_t lo, hi;
    tess__segr_find(r, "\xff\xff\xff", 3, &lo, &hi);
    assert_int_equal(lo, hi);
    /* projection: only the key columns */
    bool want[NCOLS] = {true, true, false, true, true};
    assert_int_equal(tess__segr_read_block(r, 1, want, &rb, &err), TESS_OK);
    for (size_t i = 0; i < rb.nrows; i++) assert_int_equal(rb.cols[C_AMOUNT].nulls[i], 1);
    tess__segr_close(r);

    /* schema mismatch: named file, column and source */
    const tess__source *tx2 = tess__defs_source(e->defs, "tx2");
    assert_int_equal(tess__segr_open(path, "seg-a", tx2, keys, 2, &r, &err), TESS_EIO);
    assert_non_null(strstr(tess__err_msg(&err), "seg-a: schema mismatch"));
    assert_non_null(strstr(tess__err_msg(&err), "amount"));
    /* wrong layout */
    assert_int_equal(tess__segr_open(path, NULL, e->src, keys, 1, &r, &err), TESS_EIO);
    /* a corrupted data byte: checksum error naming the block and column, no data */
    size_t flen;
    char *bytes = read_file_all(path, &flen);
    bytes[100] ^= 0x40;
    char bad[512];
    snprintf(bad, sizeof(bad), "%s/bad.seg", e->dir);
    FILE *f = fopen(bad, "wb");
    fwrite(bytes, 1, flen, f);
    fclose(f);
    assert_int_equal(tess__segr_open(bad, NULL, e->src, keys, 2, &r, &err), TESS_OK);
    assert_int_equal(tess__segr_read_block(r, 0, NULL, &rb, &err), TESS_EIO);
    assert_non_null(strstr(tess__err_msg(&err), "block 0 column 0 (user_id): checksum mismatch"));
    assert_int_equal(rb.nrows, 0);
    assert_int_equal(tess__segr_read_block(r, 1, NULL, &rb, &err), TESS_OK);
    tess__segr_close(r);
    /* a corrupted footer byte, and a truncated file */
    bytes[100] ^= 0x40;
    bytes[flen - 60] ^= 1;
    f = fopen(bad, "wb");
    fwrite(bytes, 1, flen, f);
    fclose(f);
    assert_int_equal(tess__segr_open(bad, NULL, e->src, keys, 2, &r, &err), TESS_EIO);
    assert_non_null(strstr(tess__err_msg(&err), "footer checksum mismatch"));
    f = fopen(bad, "wb");
    fwrite(bytes, 1, flen / 2, f);
    fclose(f);
    assert_int_equal(tess__segr_open(bad, NULL, e->src, keys, 2, &r, &err), TESS_EIO);
    assert_non_null(strstr(tess__err_msg(&err), "bad.seg"));
    free(bytes);

    tess__batch_release(&rb);
    for (int p = 0; p < 3; p++) free(parts[p].cols);
    tess__batch_release(&b);
    free(refs);
    tess__err_release(&err);
}

/* The sort against qsort with the full comparison, for every key type and width. */
static void test_sort_oracle(void **state)
{
    env *e = *state;
    const size_t n = 20000;
    tess__batch b;
    fill_batch(e, &b, n);
    /* narrow and wide int keys, nulls in ts */
    for (size_t i = 0; i < n; i++) {
        if (i % 3 == 0) ((int64_t *)b.cols[C_USER].data)[i] = (int64_t)(rnd(e) << 20) * (i % 2 ? 1 : -1);
        b.cols[C_TS].nulls[i] = rnd(e) % 50 == 0;
    }
    const size_t lay[][2] = {{C_USER, 0}, {C_MERCH, 0}, {C_MERCH, C_USER}, {C_USER, C_TS},
                             {C_AMOUNT, 0}};
    const size_t nk[] = {1, 1, 2, 2, 1};
    for (size_t t = 0; t < 5; t++) {
        tess__evorder ord = tess__evorder_of(e->src, lay[t], nk[t]);
        tess__run run;
        assert_int_equal(tess__run_init(&run, e->src), TESS_OK);
        assert_int_equal(tess__run_reserve(&run, n), TESS_OK);
        assert_int_equal(tess__run_append(&run, &b, NULL, 0, n), TESS_OK);
        uint32_t *refs = malloc(n * sizeof(uint32_t));
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            bool ok = true;
            for (size_t j = 0; j < nk[t]; j++) ok &= !b.cols[lay[t][j]].nulls[i];
            if (ok) refs[k++] = (uint32_t)i;
        }
        assert_int_equal(tess__evsort(&run, refs, k, &ord, NULL), TESS_OK);
        for (size_t i = 1; i < k; i++)
            if (tess__ev_cmp_rows(&ord, &b, refs[i - 1], &b, refs[i]) >= 0)
                fail_msg("layout %zu: rows %zu and %zu out of order", t, i - 1, i);
        /* gathered back, the rows are the batch's */
        tess__batch g;
        tess__type types[NCOLS];
        for (size_t c = 0; c < NCOLS; c++) types[c] = e->src->schema[c].type;
        assert_int_equal(tess__batch_init(&g, types, NCOLS, k ? k : 1), TESS_OK);
        tess__run_gather(&run, refs, k, &g);
        for (size_t i = 0; i < k; i++) {
            assert_int_equal(tess__ev_cmp_rows(&ord, &g, i, &b, refs[i]), 0);
            assert_int_equal(g.cols[C_AMOUNT].nulls[i], b.cols[C_AMOUNT].nulls[refs[i]]);
            tess__str x = ((tess__str *)g.cols[C_MERCH].data)[i];
            tess__str y = ((tess__str *)b.cols[C_MERCH].data)[refs[i]];
            assert_int_equal(x.n, y.n);
            assert_memory_equal(x.p, y.p, x.n);
        }
        tess__batch_release(&g);
        tess__run_release(&run);
        free(refs);
    }
    tess__batch_release(&b);
}

/* ---- the event store ---------------------------------------------------------------------- */

static const gen_opts G_SMALL = {50, 12, 5, 100, 10};

static void test_ingest_two_layouts(void **state)
{
    env *e = *state;
    tess__evstore_set_durable(e->es, true); /* the fsync path, once */
    ingest_new(e, 2, 3000, &G_SMALL, 0);
    check_layout(e, L_USER, 1);
    check_layout(e, L_MERCH, 1);
    /* stats */
    tess__evstats st;
    tess__err err = TESS__ERR_INIT;
    assert_int_equal(tess__evstore_stats(e->es, e->src, &st, &err), TESS_OK);
    assert_int_equal(st.rows, 6000);
    assert_int_equal(st.files, 2);
    assert_int_equal(st.ingests, 2);
    int64_t mn = INT64_MAX, mx = INT64_MIN;
    for (size_t i = 0; i < e->ndb; i++) {
        if (e->db[i].ts < mn) mn = e->db[i].ts;
        if (e->db[i].ts > mx) mx = e->db[i].ts;
    }
    assert_int_equal(st.min_ts, mn);
    assert_int_equal(st.max_ts, mx);
    size_t nu = 0, nm = 0, rest = 0;
    for (size_t i = 0; i < e->ndb; i++) {
        nu += e->db[i].nuser;
        nm += e->db[i].nmerch;
        rest += e->db[i].nuser && e->db[i].nmerch;
    }
    assert_true(st.nlayouts >= 2);
    assert_string_equal(st.layouts[0].name, "user_id");
    assert_int_equal(st.layouts[0].rows, 6000 - nu);
    assert_int_equal(st.layouts[0].null_key_rows, nu);
    assert_string_equal(st.layouts[1].name, "merchant_id");
    assert_int_equal(st.layouts[1].null_key_rows, nm);
    if (rest) {
        assert_int_equal(st.nlayouts, 3);
        assert_string_equal(st.layouts[2].name, "~rest");
        assert_int_equal(st.layouts[2].rows, rest);
    }
    tess__evstats_release(&st);
    assert_int_equal(tess__evstore_verify(e->es, e->src, &err), TESS_OK);
    /* a scan through a handle opened afresh sees the same */
    tess__evstore_close(e->es);
    assert_int_equal(tess__evstore_open(e->store, &e->es, &err), TESS_OK);
    check_layout(e, L_USER, 1);
    tess__err_release(&err);
}

static void test_null_key_counts_and_empty(void **state)
{
    env *e = *state;
    tess__err err = TESS__ERR_INIT;
    /* a scan of an empty store is empty */
    scanned sc;
    assert_int_equal(scan_all(e, L_USER, 1, NULL, 0, 0, &sc, &err), TESS_OK);
    assert_int_equal(sc.n, 0);
    free(sc.rows);
    orow rows[6];
    gen_rows(e, rows, 6, &G_SMALL);
    for (int i = 0; i < 6; i++) rows[i].nuser = rows[i].nmerch = false;
    rows[1].nuser = true;
    rows[2].nmerch = true;
    rows[3].nuser = rows[3].nmerch = true;
    const char *p = write_csv(e, "n.csv", rows, 6);
    const size_t *lays[] = {L_USER, L_MERCH};
    const size_t nk[] = {1, 1};
    tess__ingest_result res;
    assert_int_equal(ingest(e, lays, nk, 2, &p, 1, false, 0, &res, &err), TESS_OK);
    assert_int_equal(res.rows, 6);
    assert_int_equal(res.nlayouts, 2);
    assert_int_equal(res.null_key_rows[0], 2);
    assert_int_equal(res.null_key_rows[1], 2);
    assert_int_equal(res.first_ingest, 1);
    assert_string_equal(res.bad_text, "");
    tess__ingest_result_release(&res);
    db_add(e, rows, 6, e->next_ingest++);
    check_layout(e, L_USER, 1);
    check_layout(e, L_MERCH, 1);
    /* the row with both keys null is kept: a layout built later from the others has it all */
    assert_int_equal(tess__evstore_ensure_layout(e->es, e->src, L_MU, 2, &err), TESS_OK);
    check_layout(e, L_MU, 2);
    tess__err_release(&err);
}

static void test_idempotent_and_force(void **state)
{
    env *e = *state;
    orow rows[500];
    gen_rows(e, rows, 500, &G_SMALL);
    const char *paths[2];
    paths[0] = write_csv(e, "a.csv", rows, 500);
    const size_t *lays[] = {L_USER, L_MERCH};
    const size_t nk[] = {1, 1};
    tess__err err = TESS__ERR_INIT;
    tess__ingest_result res;
    assert_int_equal(ingest(e, lays, nk, 2, paths, 1, false, 0, &res, &err), TESS_OK);
    db_add(e, rows, 500, e->next_ingest++);
    tess__ingest_result_release(&res);
    char *before = listing(e);
    /* the same content under another name, twice in one call: skipped */
    paths[1] = write_csv(e, "a-copy.csv", rows, 500);
    paths[0] = paths[1];
    assert_int_equal(ingest(e, lays, nk, 2, paths, 2, false, 0, &res, &err), TESS_OK);
    assert_int_equal(res.files_ingested, 0);
    assert_int_equal(res.files_skipped, 2);
    assert_non_null(strstr(res.skipped[0], "a-copy.csv"));
    tess__ingest_result_release(&res);
    char *after = listing(e);
    assert_string_equal(before, after); /* nothing written at all */
    free(after);
    check_layout(e, L_USER, 1);
    /* --force: ingested again, duplicates kept with later seqs */
    tess__ingest_opts o;
    memset(&o, 0, sizeof(o));
    o.force = true;
    tess__evlayout l[2] = {{L_USER, 1}, {L_MERCH, 1}};
    assert_int_equal(tess__evstore_ingest(e->es, e->src, l, 2, paths, 1, &o, &res, &err), TESS_OK);
    assert_int_equal(res.files_ingested, 1);
    assert_int_equal(res.first_ingest, e->next_ingest);
    tess__ingest_result_release(&res);
    db_add(e, rows, 500, e->next_ingest++);
    check_layout(e, L_USER, 1);
    check_layout(e, L_MERCH, 1);
    /* two different files in one call with the same content as each other: second skipped */
    free(before);
    tess__err_release(&err);
}

static void test_bad_file_leaves_store_unchanged(void **state)
{
    env *e = *state;
    ingest_new(e, 1, 2000, &G_SMALL, 0);
    char man[600];
    snprintf(man, sizeof(man), "%s/offline/tx/MANIFEST", e->store);
    size_t n0, n1;
    char *m0 = read_file_all(man, &n0);
    char *before = listing(e);
    orow rows[1000];
    gen_rows(e, rows, 1000, &G_SMALL);
    const char *paths[3];
    paths[0] = write_csv(e, "good1.csv", rows, 1000);
    paths[1] = write_csv(e, "good2.csv", rows + 500, 500);
    /* a bad value deep in the third file: the two good ones were read and spilled already */
    char bad[512];
    snprintf(bad, sizeof(bad), "%s/bad.csv", e->dir);
    FILE *f = fopen(bad, "w");
    fputs("user_id,merchant_id,amount,ts,created_at\n", f);
    for (int i = 0; i < 300; i++) fprintf(f, "%d,m1,1.5,2026-01-01T00:00:%02dZ,\n", i, i % 60);
    fputs("7,m1,12x5,2026-01-01T00:00:00Z,\n", f);
    fclose(f);
    paths[2] = bad;
    const size_t *lays[] = {L_USER, L_MERCH, L_MU};
    const size_t nk[] = {1, 1, 2};
    tess__err err = TESS__ERR_INIT;
    tess__ingest_result res;
    /* run_rows small: runs are spilled to segments before the failure */
    int rc = ingest(e, lays, nk, 3, paths, 3, false, 400, &res, &err);
    assert_int_equal(rc, TESS_EPARSE);
    assert_non_null(strstr(tess__err_msg(&err), "bad.csv:302"));
    tess__ingest_result_release(&res);
    char *m1 = read_file_all(man, &n1);
    assert_int_equal(n0, n1);
    assert_memory_equal(m0, m1, n0);
    char *after = listing(e);
    assert_string_equal(before, after);
    check_layout(e, L_USER, 1);
    check_layout(e, L_MERCH, 1);
    /* with max_bad_rows the bad row is skipped and reported */
    tess__ingest_opts o;
    memset(&o, 0, sizeof(o));
    o.max_bad_rows = 5;
    tess__evlayout l[1] = {{L_USER, 1}};
    assert_int_equal(tess__evstore_ingest(e->es, e->src, l, 1, (const char *const *)&paths[2], 1, &o,
                                          &res, &err),
                     TESS_OK);
    assert_int_equal(res.bad_rows, 1);
    assert_int_equal(res.rows, 300);
    assert_non_null(strstr(res.bad_text, "bad.csv:302"));
    tess__ingest_result_release(&res);
    free(m0);
    free(m1);
    free(before);
    free(after);
    tess__err_release(&err);
}

static void test_merges(void **state)
{
    env *e = *state;
    tess__err err = TESS__ERR_INIT;
    for (int i = 0; i < 20; i++) {
        ingest_new(e, 1, 300, &G_SMALL, 0);
        tess__evstats st;
        assert_int_equal(tess__evstore_stats(e->es, e->src, &st, &err), TESS_OK);
        /* size-tiered: every segment is in tier 0, merged as soon as there are FANIN */
        for (size_t l = 0; l < st.nlayouts; l++)
            assert_true(st.layouts[l].segments < TESS__EV_MERGE_FANIN);
        if (i == TESS__EV_MERGE_FANIN - 1) assert_int_equal(st.layouts[0].segments, 1);
        tess__evstats_release(&st);
    }
    check_layout(e, L_USER, 1);
    check_layout(e, L_MERCH, 1);
    /* no segment file is left over that the manifest does not list */
    char *ls = listing(e);
    size_t segs = 0;
    for (const char *p = ls; (p = strstr(p, ".seg ")); p++) segs++;
    tess__evstats st;
    assert_int_equal(tess__evstore_stats(e->es, e->src, &st, &err), TESS_OK);
    size_t listed = 0;
    for (size_t l = 0; l < st.nlayouts; l++) listed += st.layouts[l].segments;
    assert_int_equal(segs, listed);
    assert_null(strstr(ls, ".tmp"));
    tess__evstats_release(&st);
    free(ls);
    /* one big ingest with small runs: many sorted runs, merged into one */
    ingest_new(e, 1, 5000, &G_SMALL, 500);
    assert_int_equal(tess__evstore_stats(e->es, e->src, &st, &err), TESS_OK);
    assert_int_equal(st.layouts[0].segments, 1);
    tess__evstats_release(&st);
    check_layout(e, L_USER, 1);
    check_layout(e, L_MERCH, 1);
    assert_int_equal(tess__evstore_verify(e->es, e->src, &err), TESS_OK);
    tess__err_release(&err);
}

/* Size-tiered merging: small segments are merged together, a big one is not rewritten with
 * them; a layout stays under the maximum whatever the sizes. */
static void test_merges_tiered(void **state)
{
    env *e = *state;
    tess__err err = TESS__ERR_INIT;
    gen_opts g = {3000, 100, 2, 100000, 5};
    ingest_new(e, 1, 70000, &g, 0); /* tier 1: one segment per layout */
    char *ls0 = listing(e);
    const char *big = strstr(ls0, "/user_id/");
    assert_non_null(big);
    char bigname[64];
    assert_int_equal(sscanf(big, "%63s", bigname), 1); /* "/tx/user_id/<n>.seg" */
    for (int i = 0; i < 3 * TESS__EV_MERGE_FANIN; i++) {
        ingest_new(e, 1, 300, &G_SMALL, 0);
        tess__evstats st;
        assert_int_equal(tess__evstore_stats(e->es, e->src, &st, &err), TESS_OK);
        for (size_t l = 0; l < st.nlayouts; l++)
            assert_true(st.layouts[l].segments <= TESS__EV_MERGE_FANIN);
        tess__evstats_release(&st);
        char *ls = listing(e);
        assert_non_null(strstr(ls, bigname)); /* never rewritten with the small ones */
        free(ls);
    }
    check_layout(e, L_USER, 1);
    check_layout(e, L_MERCH, 1);
    /* FANIN segments of the big one's tier: merged together */
    for (int i = 1; i < TESS__EV_MERGE_FANIN; i++) ingest_new(e, 1, 70000, &g, 0);
    char *ls = listing(e);
    assert_null(strstr(ls, bigname));
    free(ls);
    tess__evstats st;
    assert_int_equal(tess__evstore_stats(e->es, e->src, &st, &err), TESS_OK);
    for (size_t l = 0; l < st.nlayouts; l++) assert_true(st.layouts[l].segments <= 2);
    tess__evstats_release(&st);
    check_layout(e, L_USER, 1);
    check_layout(e, L_MERCH, 1);
    free(ls0);
    tess__err_release(&err);
}

/* tess__evkey_cmp agrees with memcmp of tess__evkey_encode, prefixes and strings with 00 and
 * FF bytes included. */
static void test_evkey_cmp(void **state)
{
    env *e = *state;
    enum { N = 64 };
    int64_t iv[N];
    double fv[N];
    uint8_t bv[N], nulls[N] = {0};
    tess__str sv[N];
    char sbytes[N][6];
    const double specials[] = {0.0, -0.0, 1.5, -1.5, 1e300, -1e300, NAN};
    for (size_t i = 0; i < N; i++) {
        iv[i] = (int64_t)(rnd(e) % 7) - 3;
        if (i % 9 == 0) iv[i] = i % 2 ? INT64_MIN : INT64_MAX;
        fv[i] = specials[rnd(e) % 7];
        bv[i] = (uint8_t)(rnd(e) % 2);
        size_t n = rnd(e) % 5;
        for (size_t k = 0; k < n; k++) {
            const char alphabet[] = {'\0', '\x01', 'a', '\xff'};
            sbytes[i][k] = alphabet[rnd(e) % 4];
        }
        sv[i] = (tess__str){sbytes[i], n};
    }
    tess__col cols[4] = {{TESS_T_STRING, nulls, sv},
                         {TESS_T_INT64, nulls, iv},
                         {TESS_T_FLOAT64, nulls, fv},
                         {TESS_T_BOOL, nulls, bv}};
    const size_t orders[][4] = {{0, 1, 2, 3}, {1, 0, 3, 2}, {2, 3, 0, 1}, {3, 2, 1, 0}};
    tess__buf a = TESS__BUF_INIT, b = TESS__BUF_INIT;
    for (size_t o = 0; o < 4; o++)
        for (size_t nk = 1; nk <= 4; nk++)
            for (size_t i = 0; i < N; i++)
                for (size_t j = 0; j < N; j++) {
                    tess__buf_reset(&a);
                    tess__buf_reset(&b);
                    assert_int_equal(tess__evkey_encode(&a, cols, orders[o], nk, i), TESS_OK);
                    assert_int_equal(tess__evkey_encode(&b, cols, orders[o], nk, j), TESS_OK);
                    /* the whole key of j, and a prefix of it */
                    for (size_t cut = 0; cut < 2; cut++) {
                        size_t bn = cut ? rnd(e) % (b.len + 1) : b.len;
                        size_t m = a.len < bn ? a.len : bn;
                        int want = m ? memcmp(a.p, b.p, m) : 0;
                        if (!want) want = (a.len > bn) - (a.len < bn);
                        want = (want > 0) - (want < 0);
                        int got = tess__evkey_cmp(cols, orders[o], nk, i, b.p, bn);
                        if (got != want)
                            fail_msg("order %zu keys %zu rows %zu/%zu cut %zu: %d, expected %d",
                                     o, nk, i, j, bn, got, want);
                    }
                }
    tess__buf_release(&a);
    tess__buf_release(&b);
}

static int str_order(const void *x, const void *y)
{
    const tess__str *a = x, *b = y;
    size_t m = a->n < b->n ? a->n : b->n;
    int c = m ? memcmp(a->p, b->p, m) : 0;
    return c ? c : (a->n > b->n) - (a->n < b->n);
}

/* Restricted scans of every layout (int64, string and two-column keys) against the oracle:
 * sparse and dense filters, unknown keys, several segments of several blocks. */
static void test_restricted_scan_oracle(void **state)
{
    env *e = *state;
    gen_opts g = {3000, 400, 3, 100000, 10};
    const size_t *lays[] = {L_USER, L_MERCH, L_MU};
    const size_t nk[] = {1, 1, 2};
    const size_t sizes[] = {140000, 30000, 5000};
    for (size_t f = 0; f < 3; f++) {
        orow *rows = malloc(sizes[f] * sizeof(orow));
        gen_rows(e, rows, sizes[f], &g);
        char name[64];
        snprintf(name, sizeof(name), "r%zu.csv", f);
        const char *paths[1] = {write_csv(e, name, rows, sizes[f])};
        tess__err err = TESS__ERR_INIT;
        tess__ingest_result res;
        int rc = ingest(e, lays, nk, 3, paths, 1, false, f == 1 ? 7000 : 0, &res, &err);
        if (rc) fail_msg("ingest: %s", tess__err_msg(&err));
        db_add(e, rows, sizes[f], e->next_ingest++);
        tess__ingest_result_release(&res);
        tess__err_release(&err);
        free(rows);
    }
    tess__buf kb = TESS__BUF_INIT, rk = TESS__BUF_INIT;
    tess__err err = TESS__ERR_INIT;
    const int pcts[] = {0, 1, 10, 60, 100};
    for (size_t li = 0; li < 3; li++) {
        tess__evorder ord = tess__evorder_of(e->src, lays[li], nk[li]);
        for (size_t pi = 0; pi < 5; pi++) {
            /* the filter: keys of random stored rows (about pct% of them), and unknown keys */
            tess__buf_reset(&kb);
            size_t cap = e->ndb + 16, nf = 0;
            size_t *offs = malloc((cap + 1) * sizeof(size_t));
            for (size_t i = 0; i < e->ndb; i++) {
                const orow *r = &e->db[i];
                if (!has_keys(r, lays[li], nk[li]) || (int)(rnd(e) % 100) >= pcts[pi]) continue;
                int64_t u = r->user;
                tess__str m = {r->merch, strlen(r->merch)};
                uint8_t nn[1] = {0};
                tess__col cols[NCOLS];
                memset(cols, 0, sizeof(cols));
                cols[C_USER] = (tess__col){TESS_T_INT64, nn, &u};
                cols[C_MERCH] = (tess__col){TESS_T_STRING, nn, &m};
                offs[nf++] = kb.len;
                assert_int_equal(tess__evkey_encode(&kb, cols, lays[li], nk[li], 0), TESS_OK);
            }
            for (int x = 0; x < 8; x++) { /* unknown: before, between and after the stored */
                int64_t u = x < 4 ? -1000 - x : 1000000 + x;
                char mb[24];
                snprintf(mb, sizeof(mb), x % 2 ? "m%dz" : "%c", x % 2 ? x : '\x01');
                tess__str m = {mb, strlen(mb)};
                uint8_t nn[1] = {0};
                tess__col cols[NCOLS];
                memset(cols, 0, sizeof(cols));
                cols[C_USER] = (tess__col){TESS_T_INT64, nn, &u};
                cols[C_MERCH] = (tess__col){TESS_T_STRING, nn, &m};
                offs[nf++] = kb.len;
                assert_int_equal(tess__evkey_encode(&kb, cols, lays[li], nk[li], 0), TESS_OK);
            }
            offs[nf] = kb.len;
            tess__str *filter = malloc(nf * sizeof(tess__str));
            for (size_t i = 0; i < nf; i++) filter[i] = (tess__str){kb.p + offs[i], offs[i + 1] - offs[i]};
            tess__str *sorted = malloc(nf * sizeof(tess__str));
            memcpy(sorted, filter, nf * sizeof(tess__str));
            qsort(sorted, nf, sizeof(tess__str), str_order);
            /* expected: rows whose key is in the filter, in event order */
            orow *want = malloc((e->ndb ? e->ndb : 1) * sizeof(orow));
            size_t nw = 0;
            for (size_t i = 0; i < e->ndb; i++) {
                const orow *r = &e->db[i];
                if (!has_keys(r, lays[li], nk[li])) continue;
                int64_t u = r->user;
                tess__str m = {r->merch, strlen(r->merch)};
                uint8_t nn[1] = {0};
                tess__col cols[NCOLS];
                memset(cols, 0, sizeof(cols));
                cols[C_USER] = (tess__col){TESS_T_INT64, nn, &u};
                cols[C_MERCH] = (tess__col){TESS_T_STRING, nn, &m};
                tess__buf_reset(&rk);
                assert_int_equal(tess__evkey_encode(&rk, cols, lays[li], nk[li], 0), TESS_OK);
                tess__str key = {rk.p, rk.len};
                if (bsearch(&key, sorted, nf, sizeof(tess__str), str_order)) want[nw++] = *r;
            }
            g_keys = lays[li];
            g_nkeys = nk[li];
            qsort(want, nw, sizeof(orow), ocmp);
            tess__evscan_opts o;
            memset(&o, 0, sizeof(o));
            o.filter = filter;
            o.nfilter = nf;
            o.batch_rows = pi % 2 ? 100 : 0;
            tess__evscan *s;
            assert_int_equal(tess__evscan_open_opts(e->es, e->src, lays[li], nk[li], &o, &s, &err),
                             TESS_OK);
            const tess__batch *b;
            size_t got = 0;
            int rc;
            while ((rc = tess__evscan_next(s, &b, &err)) == TESS_OK) {
                for (size_t i = 0; i < b->nrows; i++, got++) {
                    if (i) assert_true(tess__ev_cmp_rows(&ord, b, i - 1, b, i) < 0);
                    orow r;
                    row_of(b, i, &r);
                    if (got >= nw || !same_row(&r, &want[got]))
                        fail_msg("layout %zu, %d%%: row %zu differs", li, pcts[pi], got);
                }
            }
            assert_int_equal(rc, TESS_NOTFOUND);
            if (got != nw) fail_msg("layout %zu, %d%%: %zu rows, expected %zu", li, pcts[pi], got, nw);
            tess__evscan_close(s);
            free(want);
            free(filter);
            free(sorted);
            free(offs);
        }
    }
    tess__buf_release(&kb);
    tess__buf_release(&rk);
    tess__err_release(&err);
}

static void test_restricted_scan(void **state)
{
    env *e = *state;
    gen_opts g = {2000, 50, 2, 100000, 5};
    ingest_new(e, 2, 150000, &g, 0); /* ~5 blocks per layout; written on two threads */
    ingest_new(e, 1, 50000, &g, 0);
    check_layout(e, L_USER, 1);
    check_layout(e, L_MERCH, 1);
    tess__err err = TESS__ERR_INIT;
    scanned all;
    assert_int_equal(scan_all(e, L_USER, 1, NULL, 0, 0, &all, &err), TESS_OK);
    const int64_t users[] = {1777, 3, 1000, 999999 /* unknown */, 3};
    scanned sc;
    assert_int_equal(scan_all(e, L_USER, 1, users, 5, 0, &sc, &err), TESS_OK);
    size_t n;
    orow *want = expect(e, L_USER, 1, &n, users, 5);
    assert_true(n > 0);
    assert_int_equal(sc.n, n);
    for (size_t i = 0; i < n; i++) assert_true(same_row(&sc.rows[i], &want[i]));
    assert_true(sc.blocks < all.blocks);
    assert_true(sc.blocks <= 3 * 2); /* at most 2 blocks per segment for 3 users */
    free(sc.rows);
    free(want);
    /* an empty filter returns nothing; an unknown key reads nothing */
    assert_int_equal(scan_all(e, L_USER, 1, users, 0, 0, &sc, &err), TESS_OK);
    assert_int_equal(sc.n, 0);
    free(sc.rows);
    assert_int_equal(scan_all(e, L_USER, 1, users + 3, 1, 0, &sc, &err), TESS_OK);
    assert_int_equal(sc.n, 0);
    assert_int_equal(sc.blocks, 0);
    free(sc.rows);
    /* projection: amount and merchant_id not read, returned as nulls; keys and times are */
    bool wanted[NCOLS] = {false, false, false, false, false};
    tess__evscan_opts o;
    memset(&o, 0, sizeof(o));
    o.want = wanted;
    tess__evscan *s;
    assert_int_equal(tess__evscan_open_opts(e->es, e->src, L_USER, 1, &o, &s, &err), TESS_OK);
    const tess__batch *b;
    size_t n2 = 0;
    int rc;
    while ((rc = tess__evscan_next(s, &b, &err)) == TESS_OK) {
        for (size_t i = 0; i < b->nrows; i++, n2++) {
            assert_int_equal(b->cols[C_AMOUNT].nulls[i], 1);
            assert_int_equal(b->cols[C_MERCH].nulls[i], 1);
            assert_int_equal(((int64_t *)b->cols[C_USER].data)[i], all.rows[n2].user);
            assert_int_equal(b->seq[i], all.rows[n2].seq);
        }
    }
    assert_int_equal(rc, TESS_NOTFOUND);
    assert_int_equal(n2, all.n);
    tess__evscan_close(s);
    free(all.rows);
    tess__err_release(&err);
}

static void test_entities_not_split(void **state)
{
    env *e = *state;
    /* a few users, one of them heavy: small batches must still hold whole entities */
    gen_opts g = {5, 3, 0, 1000, 0};
    ingest_new(e, 3, 4000, &g, 0);
    tess__err err = TESS__ERR_INIT;
    scanned sc;
    assert_int_equal(scan_all(e, L_USER, 1, NULL, 0, 100, &sc, &err), TESS_OK);
    assert_false(sc.split);
    assert_int_equal(sc.batches, 5); /* one per user */
    assert_int_equal(sc.n, 12000);
    free(sc.rows);
    check_layout(e, L_USER, 1);
    tess__err_release(&err);
}

static void test_corrupt_segment(void **state)
{
    env *e = *state;
    ingest_new(e, 1, 3000, &G_SMALL, 0);
    char dir[600];
    snprintf(dir, sizeof(dir), "%s/offline/tx/user_id", e->store);
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *de;
    char seg[1024] = "";
    while ((de = readdir(d)))
        if (strstr(de->d_name, ".seg")) snprintf(seg, sizeof(seg), "%s/%s", dir, de->d_name);
    closedir(d);
    assert_true(seg[0]);
    int fd = open(seg, O_RDWR);
    unsigned char c;
    assert_int_equal(pread(fd, &c, 1, 40), 1);
    c ^= 0x10;
    assert_int_equal(pwrite(fd, &c, 1, 40), 1);
    close(fd);
    tess__err err = TESS__ERR_INIT;
    scanned sc;
    assert_int_equal(scan_all(e, L_USER, 1, NULL, 0, 0, &sc, &err), TESS_EIO);
    assert_int_equal(sc.n, 0);
    assert_non_null(strstr(tess__err_msg(&err), "checksum mismatch"));
    assert_non_null(strstr(tess__err_msg(&err), ".seg: block 0 column"));
    free(sc.rows);
    assert_int_equal(tess__evstore_verify(e->es, e->src, &err), TESS_EIO);
    /* the other layout is intact */
    check_layout(e, L_MERCH, 1);
    tess__err_release(&err);
}

static void test_new_layout(void **state)
{
    env *e = *state;
    gen_opts g = {200, 40, 15, 1000, 10};
    /* ingested into user_id only: rows with a null user_id survive in ~rest */
    const size_t *lays[] = {L_USER};
    const size_t nk[] = {1};
    for (int i = 0; i < 3; i++) {
        orow rows[2000];
        gen_rows(e, rows, 2000, &g);
        char name[32];
        snprintf(name, sizeof(name), "nl%d.csv", i);
        const char *p = write_csv(e, name, rows, 2000);
        tess__err err = TESS__ERR_INIT;
        assert_int_equal(ingest(e, lays, nk, 1, &p, 1, false, 0, NULL, &err), TESS_OK);
        db_add(e, rows, 2000, e->next_ingest++);
    }
    check_layout(e, L_USER, 1);
    /* a scan of a missing layout builds it */
    check_layout(e, L_MERCH, 1);
    tess__err err = TESS__ERR_INIT;
    assert_int_equal(tess__evstore_ensure_layout(e->es, e->src, L_MU, 2, &err), TESS_OK);
    check_layout(e, L_MU, 2);
    /* later ingests go to all three layouts, even when the call names only one */
    ingest_new(e, 1, 1000, &g, 0);
    check_layout(e, L_USER, 1);
    check_layout(e, L_MERCH, 1);
    check_layout(e, L_MU, 2);
    /* bad layouts */
    const size_t bad[] = {C_USER, C_USER};
    assert_int_equal(tess__evstore_ensure_layout(e->es, e->src, bad, 2, &err), TESS_EINVAL);
    const size_t oob[] = {17};
    assert_int_equal(tess__evstore_ensure_layout(e->es, e->src, oob, 1, &err), TESS_EINVAL);
    /* a source whose schema changed is refused */
    const tess__source *tx2 = tess__defs_source(e->defs, "tx2");
    tess__evscan *s = NULL;
    char d2[600], d1[600];
    snprintf(d1, sizeof(d1), "%s/offline/tx", e->store);
    snprintf(d2, sizeof(d2), "%s/offline/tx2", e->store);
    assert_int_equal(rename(d1, d2), 0);
    assert_int_equal(tess__evscan_open(e->es, tx2, L_USER, 1, NULL, 0, &s, &err), TESS_EINVAL);
    assert_non_null(strstr(tess__err_msg(&err), "amount"));
    assert_null(s);
    assert_int_equal(rename(d2, d1), 0);
    tess__err_release(&err);
}

static void test_random_oracle(void **state)
{
    env *e = *state;
    for (int round = 0; round < 6; round++) {
        gen_opts g = {1 + (int)(rnd(e) % 300), 1 + (int)(rnd(e) % 30), (int)(rnd(e) % 30),
                      1 + (int)(rnd(e) % 200), (int)(rnd(e) % 30)};
        size_t files = 1 + rnd(e) % 3, rows = 1 + rnd(e) % 3000;
        size_t run = (rnd(e) % 2) ? 0 : 100 + rnd(e) % 1000;
        ingest_new(e, files, rows, &g, run);
        check_layout(e, L_USER, 1);
        check_layout(e, L_MERCH, 1);
        if (round == 3) {
            tess__err err = TESS__ERR_INIT;
            assert_int_equal(tess__evstore_ensure_layout(e->es, e->src, L_MU, 2, &err), TESS_OK);
        }
        if (round >= 3) check_layout(e, L_MU, 2);
    }
}

/* A scan keeps reading the segments it opened while a merge replaces and deletes them. */
static void test_scan_survives_merge(void **state)
{
    env *e = *state;
    for (int i = 0; i < TESS__EV_MERGE_FANIN - 1; i++) ingest_new(e, 1, 500, &G_SMALL, 0);
    size_t n;
    orow *want = expect(e, L_USER, 1, &n, NULL, 0);
    tess__err err = TESS__ERR_INIT;
    tess__evscan *s;
    tess__evscan_opts o;
    memset(&o, 0, sizeof(o));
    o.batch_rows = 10;
    assert_int_equal(tess__evscan_open_opts(e->es, e->src, L_USER, 1, &o, &s, &err), TESS_OK);
    const tess__batch *b;
    size_t got = 0;
    assert_int_equal(tess__evscan_next(s, &b, &err), TESS_OK);
    for (size_t i = 0; i < b->nrows; i++, got++) {
        orow r;
        row_of(b, i, &r);
        assert_true(same_row(&r, &want[got]));
    }
    ingest_new(e, 1, 500, &G_SMALL, 0); /* the FANIN-th segment: merge, old files unlinked */
    int rc;
    while ((rc = tess__evscan_next(s, &b, &err)) == TESS_OK)
        for (size_t i = 0; i < b->nrows; i++, got++) {
            orow r;
            row_of(b, i, &r);
            assert_true(same_row(&r, &want[got]));
        }
    assert_int_equal(rc, TESS_NOTFOUND);
    assert_int_equal(got, n);
    tess__evscan_close(s);
    free(want);
    check_layout(e, L_USER, 1);
    tess__err_release(&err);
}

static void test_strays_removed(void **state)
{
    env *e = *state;
    ingest_new(e, 1, 100, &G_SMALL, 0);
    char *clean = listing(e);
    const char *strays[] = {"offline/tx/MANIFEST.tmp", "offline/tx/user_id/99.seg.tmp",
                            "offline/tx/user_id/12345.seg", "offline/tx/newlayout/3.seg"};
    char p[700];
    snprintf(p, sizeof(p), "%s/offline/tx/newlayout", e->store);
    mkdir(p, 0755);
    for (size_t i = 0; i < 4; i++) {
        snprintf(p, sizeof(p), "%s/%s", e->store, strays[i]);
        FILE *f = fopen(p, "w");
        fputs("junk", f);
        fclose(f);
    }
    /* a file that is not ours stays */
    snprintf(p, sizeof(p), "%s/offline/tx/user_id/notes.txt", e->store);
    FILE *f = fopen(p, "w");
    fclose(f);
    tess__evstore_close(e->es);
    tess__err err = TESS__ERR_INIT;
    assert_int_equal(tess__evstore_open(e->store, &e->es, &err), TESS_OK);
    assert_int_equal(access(p, F_OK), 0);
    unlink(p);
    char *after = listing(e);
    assert_string_equal(clean, after);
    free(clean);
    free(after);
    check_layout(e, L_USER, 1);
    tess__err_release(&err);
}

/* Two processes ingest at once: writers take turns, both commits land, nothing is lost. */
static void test_concurrent_writers(void **state)
{
    env *e = *state;
    ingest_new(e, 1, 1000, &G_SMALL, 0);
    orow rows[2][3000];
    const char *paths[2];
    gen_rows(e, rows[0], 3000, &G_SMALL);
    gen_rows(e, rows[1], 3000, &G_SMALL);
    paths[0] = write_csv(e, "c0.csv", rows[0], 3000);
    paths[1] = write_csv(e, "c1.csv", rows[1], 3000);
    const size_t *lays[] = {L_USER, L_MERCH};
    const size_t nk[] = {1, 1};
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        tess__err err = TESS__ERR_INIT;
        int rc = TESS_OK;
        for (int i = 0; i < 5 && rc == TESS_OK; i++) /* the same file: later ones are skipped */
            rc = ingest(e, lays, nk, 2, &paths[0], 1, false, 0, NULL, &err);
        _exit(rc == TESS_OK ? 0 : 1);
    }
    tess__err err = TESS__ERR_INIT;
    int rc = TESS_OK;
    for (int i = 0; i < 5 && rc == TESS_OK; i++) {
        rc = ingest(e, lays, nk, 2, &paths[1], 1, false, 0, NULL, &err);
        /* a reader meanwhile sees a consistent state */
        scanned sc;
        assert_int_equal(scan_all(e, L_USER, 1, NULL, 0, 0, &sc, &err), TESS_OK);
        free(sc.rows);
    }
    assert_int_equal(rc, TESS_OK);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    tess__evstats st;
    assert_int_equal(tess__evstore_stats(e->es, e->src, &st, &err), TESS_OK);
    assert_int_equal(st.rows, 7000);
    assert_int_equal(st.files, 3);
    tess__evstats_release(&st);
    assert_int_equal(tess__evstore_verify(e->es, e->src, &err), TESS_OK);
    /* both files are there, with ingest numbers 2 and 3 in some order */
    tess__evstore *es2;
    assert_int_equal(tess__evstore_open(e->store, &es2, &err), TESS_OK);
    tess__evstore_close(es2);
    scanned sc;
    assert_int_equal(scan_all(e, L_USER, 1, NULL, 0, 0, &sc, &err), TESS_OK);
    size_t per[4] = {0};
    for (size_t i = 0; i < sc.n; i++) per[(uint64_t)sc.rows[i].seq >> 32 & 3]++;
    size_t nu0 = 0, nu1 = 0;
    for (size_t i = 0; i < 3000; i++) {
        nu0 += !rows[0][i].nuser;
        nu1 += !rows[1][i].nuser;
    }
    assert_true((per[2] == nu0 && per[3] == nu1) || (per[2] == nu1 && per[3] == nu0));
    free(sc.rows);
    tess__err_release(&err);
}

/* Fail every allocation in turn: each failure is a clean error and the store is unchanged. */
static void test_alloc_failures(void **state)
{
    env *e = *state;
    for (int i = 0; i < TESS__EV_MERGE_FANIN - 1; i++)
        ingest_new(e, 1, 200, &G_SMALL, 0); /* the next one merges */
    char *before = listing(e);
    orow rows[2][300];
    const char *paths[2];
    gen_rows(e, rows[0], 300, &G_SMALL);
    gen_rows(e, rows[1], 300, &G_SMALL);
    paths[0] = write_csv(e, "fa.csv", rows[0], 300);
    paths[1] = write_csv(e, "fb.csv", rows[1], 300);
    /* a new layout too: built from the stored events in the same commit */
    const size_t *lays[] = {L_USER, L_MU};
    const size_t nk[] = {1, 2};
    int rc = -1;
    long n;
    for (n = 0; n < 100000; n++) {
        tess__err err = TESS__ERR_INIT;
        tess__ingest_result res;
        tess__alloc_fail_after(n);
        rc = ingest(e, lays, nk, 2, paths, 2, false, 0, &res, &err);
        tess__alloc_fail_after(-1);
        tess__ingest_result_release(&res);
        if (rc == TESS_OK) {
            tess__err_release(&err);
            break;
        }
        if (rc != TESS_ENOMEM) fail_msg("allocation %ld: rc %d: %s", n, rc, tess__err_msg(&err));
        char *now = listing(e);
        if (strcmp(before, now) != 0) fail_msg("allocation %ld: the store changed:\n%s\nvs\n%s", n, before, now);
        free(now);
        tess__err_release(&err);
    }
    assert_int_equal(rc, TESS_OK);
    assert_true(n > 50);
    db_add(e, rows[0], 300, e->next_ingest++);
    db_add(e, rows[1], 300, e->next_ingest++);
    check_layout(e, L_USER, 1);
    check_layout(e, L_MERCH, 1);
    check_layout(e, L_MU, 2);
    /* scans under allocation failures: clean errors */
    for (n = 0; n < 100000; n++) {
        tess__err err = TESS__ERR_INIT;
        scanned sc;
        const int64_t users[] = {3, 7};
        tess__alloc_fail_after(n);
        rc = scan_all(e, L_MERCH, 1, n % 2 ? users : NULL, n % 2 ? 2 : 0, 50, &sc, &err);
        tess__alloc_fail_after(-1);
        free(sc.rows);
        tess__err_release(&err);
        if (rc == TESS_OK && n > 200) break;
        if (rc != TESS_OK && rc != TESS_ENOMEM) fail_msg("scan, allocation %ld: rc %d", n, rc);
    }
    free(before);
}

/* ---- the push log ------------------------------------------------------------------------- */

/* rows as a batch of the source's schema (strings copied into its arena) */
static void rows_batch(env *e, const orow *rows, size_t n, tess__batch *b)
{
    tess__type types[NCOLS];
    for (size_t c = 0; c < NCOLS; c++) types[c] = e->src->schema[c].type;
    assert_int_equal(tess__batch_init(b, types, NCOLS, n ? n : 1), TESS_OK);
    for (size_t i = 0; i < n; i++) {
        const orow *r = &rows[i];
        b->cols[C_USER].nulls[i] = r->nuser;
        ((int64_t *)b->cols[C_USER].data)[i] = r->nuser ? 0 : r->user;
        b->cols[C_MERCH].nulls[i] = r->nmerch;
        size_t len = strlen(r->merch);
        ((tess__str *)b->cols[C_MERCH].data)[i] =
            r->nmerch ? (tess__str){"", 0}
                      : (tess__str){tess__arena_strndup(&b->arena, r->merch, len), len};
        b->cols[C_AMOUNT].nulls[i] = r->namount;
        ((double *)b->cols[C_AMOUNT].data)[i] = r->namount ? 0 : r->amount;
        b->cols[C_TS].nulls[i] = r->nts;
        ((int64_t *)b->cols[C_TS].data)[i] = r->nts ? 0 : r->ts;
        b->cols[C_CREATED].nulls[i] = r->ncreated;
        ((int64_t *)b->cols[C_CREATED].data)[i] = r->ncreated ? 0 : r->created;
    }
    b->nrows = n;
}

/* One group commit of nb batches of the given sizes (new random rows) through `es`; the rows
 * go to `out` (nb x max rows), and *first receives the first ingest number. */
static int append_group(env *e, tess__evstore *es, const gen_opts *g, const size_t *sizes,
                        size_t nb, orow **out, uint32_t *first, tess__err *err)
{
    tess__batch b[8], *bp[8];
    assert_true(nb <= 8);
    for (size_t i = 0; i < nb; i++) {
        gen_rows(e, out[i], sizes[i], g);
        rows_batch(e, out[i], sizes[i], &b[i]);
        bp[i] = &b[i];
    }
    tess__evlayout l[2] = {{L_USER, 1}, {L_MERCH, 1}};
    int rc = tess__evstore_append(es, e->src, l, 2, bp, nb, first, err);
    for (size_t i = 0; rc == TESS_OK && i < nb; i++)
        for (size_t r = 0; r < sizes[i]; r++)
            assert_int_equal(b[i].seq[r], (int64_t)(((uint64_t)(*first + i) << 32) | r));
    for (size_t i = 0; i < nb; i++) tess__batch_release(&b[i]);
    return rc;
}

/* Appends a random group and adds it to the oracle. */
static void append_random(env *e, const gen_opts *g, size_t max_rows)
{
    orow *rows[4];
    size_t sizes[4], nb = 1 + rnd(e) % 4;
    for (size_t i = 0; i < nb; i++) {
        sizes[i] = 1 + rnd(e) % max_rows;
        rows[i] = malloc(sizes[i] * sizeof(orow));
    }
    tess__err err = TESS__ERR_INIT;
    uint32_t first = 0;
    int rc = append_group(e, e->es, g, sizes, nb, rows, &first, &err);
    if (rc) fail_msg("append: %s", tess__err_msg(&err));
    assert_int_equal(first, e->next_ingest);
    for (size_t i = 0; i < nb; i++) {
        db_add(e, rows[i], sizes[i], e->next_ingest++);
        free(rows[i]);
    }
    tess__err_release(&err);
}

static size_t count_segments(env *e)
{
    tess__evstats st;
    tess__err err = TESS__ERR_INIT;
    assert_int_equal(tess__evstore_stats(e->es, e->src, &st, &err), TESS_OK);
    size_t n = 0;
    for (size_t i = 0; i < st.nlayouts; i++) n += st.layouts[i].segments;
    tess__evstats_release(&st);
    return n;
}

/* The stats count the log's rows as the layouts will hold them, and every ingest number. */
static void check_stats(env *e)
{
    tess__evstats st;
    tess__err err = TESS__ERR_INIT;
    assert_int_equal(tess__evstore_stats(e->es, e->src, &st, &err), TESS_OK);
    assert_int_equal(st.ingests, e->next_ingest - 1);
    for (size_t i = 0; i < st.nlayouts; i++) {
        const size_t *keys = strcmp(st.layouts[i].name, "user_id") == 0       ? L_USER
                             : strcmp(st.layouts[i].name, "merchant_id") == 0 ? L_MERCH
                                                                               : NULL;
        if (!keys) continue;
        size_t n;
        free(expect(e, keys, 1, &n, NULL, 0));
        assert_int_equal(st.layouts[i].rows, n);
        assert_int_equal(st.layouts[i].rows + st.layouts[i].null_key_rows, e->ndb);
    }
    tess__evstats_release(&st);
}

/* Appends go to the log (no segment, no manifest), scans and stats see them at once, folds
 * write them into segments; ingests, new layouts and a reopen keep everything. */
static void test_append_oracle(void **state)
{
    env *e = *state;
    ingest_new(e, 1, 300, &G_SMALL, 0);
    tess__evstore_set_log_bounds(e->es, 700, 0);
    char man[700];
    snprintf(man, sizeof(man), "%s/offline/tx/MANIFEST", e->store);
    struct stat st0, st1;
    assert_int_equal(stat(man, &st0), 0);
    size_t segs = count_segments(e);
    append_random(e, &G_SMALL, 20);
    assert_int_equal(stat(man, &st1), 0);
    assert_true(st0.st_ino == st1.st_ino); /* no commit */
    assert_int_equal(count_segments(e), segs);
    check_layout(e, L_USER, 1);
    check_stats(e);
    size_t folds = 0;
    for (int i = 0; i < 80; i++) {
        append_random(e, &G_SMALL, 40);
        tess__evstore_fold_wait(e->es); /* the background fold of a sealed log */
        assert_int_equal(stat(man, &st1), 0);
        if (st1.st_ino != st0.st_ino) folds++;
        st0 = st1;
        if (i % 9 == 0) {
            check_layout(e, L_USER, 1);
            check_layout(e, L_MERCH, 1);
            check_stats(e);
        }
    }
    assert_true(folds >= 3 && folds <= 20);
    check_layout(e, L_USER, 1);
    check_layout(e, L_MERCH, 1);
    check_stats(e);
    /* an ingest folds the log; its numbers follow */
    ingest_new(e, 2, 200, &G_SMALL, 0);
    tess__evstats st;
    tess__err err = TESS__ERR_INIT;
    assert_int_equal(tess__evstore_stats(e->es, e->src, &st, &err), TESS_OK);
    assert_int_equal(st.log_rows, 0);
    tess__evstats_release(&st);
    check_layout(e, L_USER, 1);
    check_stats(e);
    append_random(e, &G_SMALL, 30);
    append_random(e, &G_SMALL, 30);
    /* a new layout, built from the segments and the log */
    check_layout(e, L_MU, 2);
    check_layout(e, L_USER, 1);
    append_random(e, &G_SMALL, 30);
    /* another handle, then a reopened one, see the same */
    tess__evstore *es2;
    assert_int_equal(tess__evstore_open(e->store, &es2, &err), TESS_OK);
    tess__evstore *mine = e->es;
    e->es = es2;
    check_layout(e, L_MERCH, 1);
    append_random(e, &G_SMALL, 30); /* through the second handle: the first must notice */
    e->es = mine;
    append_random(e, &G_SMALL, 30);
    tess__evstore_close(es2);
    check_layout(e, L_USER, 1);
    tess__evstore_close(e->es);
    assert_int_equal(tess__evstore_open(e->store, &e->es, &err), TESS_OK);
    tess__evstore_set_durable(e->es, false);
    check_layout(e, L_USER, 1);
    check_layout(e, L_MERCH, 1);
    check_layout(e, L_MU, 2);
    check_stats(e);
    assert_int_equal(tess__evstore_verify(e->es, e->src, &err), TESS_OK);
    tess__err_release(&err);
}

/* The first push into a source without events, and one that needs a new layout: a commit. */
static void test_append_first(void **state)
{
    env *e = *state;
    append_random(e, &G_SMALL, 50);
    check_layout(e, L_USER, 1);
    append_random(e, &G_SMALL, 50); /* now to the log */
    check_layout(e, L_MERCH, 1);
    check_stats(e);
    /* a layout the manifest lacks */
    orow rows[20];
    gen_rows(e, rows, 20, &G_SMALL);
    tess__batch b, *bp = &b;
    rows_batch(e, rows, 20, &b);
    tess__evlayout l[1] = {{L_MU, 2}};
    uint32_t first;
    tess__err err = TESS__ERR_INIT;
    assert_int_equal(tess__evstore_append(e->es, e->src, l, 1, &bp, 1, &first, &err), TESS_OK);
    assert_int_equal(first, e->next_ingest);
    db_add(e, rows, 20, e->next_ingest++);
    tess__batch_release(&b);
    check_layout(e, L_MU, 2);
    check_layout(e, L_USER, 1);
    /* a batch of the wrong shape */
    tess__type types[2] = {TESS_T_INT64, TESS_T_INT64};
    assert_int_equal(tess__batch_init(&b, types, 2, 1), TESS_OK);
    assert_int_equal(tess__evstore_append(e->es, e->src, l, 1, &bp, 1, &first, &err),
                     TESS_EINVAL);
    tess__batch_release(&b);
    tess__err_release(&err);
}

typedef struct tgroup {
    uint32_t first;
    size_t nb, sizes[2];
    orow *rows[2];
} tgroup;

typedef struct tctx {
    env *e;
    env local; /* its own random numbers */
    tess__evstore *es;
    tgroup *groups;
    size_t ngroups;
    volatile size_t *folds; /* wait for a fold halfway (may be NULL) */
    volatile int *fold_rc;
    volatile size_t *scans; /* wait for a scan halfway (may be NULL) */
    volatile int *scan_done;
    int rc;
    char msg[256];
} tctx;

#define TGROUPS 80
#define TMAX_INGEST 1024

static const gen_opts G_KEYED = {60, 15, 0, 100, 10}; /* no null keys */

static void *append_thread(void *arg)
{
    tctx *c = arg;
    for (size_t g = 0; g < TGROUPS && c->rc == TESS_OK; g++) {
        /* halfway, the first thread waits for a fold (the others go on appending): so a
         * fold surely happens while appends go on, however the threads are scheduled */
        while (c->folds && g == TGROUPS / 2 && *c->folds < 1 && *c->fold_rc == TESS_OK)
            usleep(1000);
        /* likewise for a whole scan, so that the scans surely overlap the appends */
        while (c->scans && g == TGROUPS / 2 && *c->scans < 1 && !*c->scan_done) usleep(1000);
        tgroup *tg = &c->groups[g];
        tg->nb = 1 + rnd(&c->local) % 2;
        for (size_t i = 0; i < tg->nb; i++) {
            tg->sizes[i] = 1 + rnd(&c->local) % 25;
            tg->rows[i] = malloc(tg->sizes[i] * sizeof(orow));
        }
        tess__err err = TESS__ERR_INIT;
        c->rc = append_group(&c->local, c->es, &G_KEYED, tg->sizes, tg->nb, tg->rows, &tg->first,
                             &err);
        if (c->rc) snprintf(c->msg, sizeof(c->msg), "%s", tess__err_msg(&err));
        tess__err_release(&err);
        c->ngroups = g + 1;
    }
    return NULL;
}

typedef struct rctx {
    env *e;
    volatile int *stop;
    uint32_t (*seen)[TMAX_INGEST]; /* per scan: rows per ingest number */
    volatile size_t nscans;
    size_t cap;
    int rc;
    volatile int done; /* the scanner ended (an error, or full) */
} rctx;

static void *scan_thread(void *arg)
{
    rctx *c = arg;
    while (!*c->stop && c->nscans < c->cap) {
        tess__evscan *s = NULL;
        tess__err err = TESS__ERR_INIT;
        int rc = tess__evscan_open(c->e->es, c->e->src, L_USER, 1, NULL, 0, &s, &err);
        uint32_t *seen = c->seen[c->nscans];
        memset(seen, 0, sizeof(uint32_t) * TMAX_INGEST);
        const tess__batch *b;
        while (rc == TESS_OK && (rc = tess__evscan_next(s, &b, &err)) == TESS_OK)
            for (size_t i = 0; i < b->nrows; i++) {
                uint64_t ing = (uint64_t)b->seq[i] >> 32;
                if (ing < TMAX_INGEST) seen[ing]++;
            }
        tess__evscan_close(s);
        tess__err_release(&err);
        if (rc != TESS_NOTFOUND) {
            c->rc = rc;
            c->done = 1;
            return NULL;
        }
        c->nscans++;
    }
    c->done = 1;
    return NULL;
}

typedef struct fctx {
    tess__evstore *es;
    volatile int *stop;
    volatile size_t folds;
    size_t calls;
    volatile int rc;
    char msg[256];
} fctx;

/* Folds the source again and again (on its own handle) until told to stop. */
static void *fold_thread(void *arg)
{
    fctx *c = arg;
    while (!*c->stop && c->rc == TESS_OK) {
        tess__err err = TESS__ERR_INIT;
        bool folded = false;
        c->rc = tess__evstore_fold(c->es, "tx", &folded, &err);
        if (c->rc) snprintf(c->msg, sizeof(c->msg), "%s", tess__err_msg(&err));
        tess__err_release(&err);
        c->folds += folded;
        c->calls++;
        usleep(500);
    }
    return NULL;
}

/* Threads append through one handle (and one through another handle) while a thread scans:
 * every row is scanned once, in order; each scan sees whole groups, and a prefix of them.
 * The logs are sealed every few hundred rows and folded by the handles' background folders,
 * or (explicit) by a thread of a third handle that folds in a loop. */
static void append_threads(env *e, bool explicit)
{
    ingest_new(e, 1, 100, &G_KEYED, 0);
    uint64_t bound = explicit ? 300 : 900;
    tess__evstore_set_log_bounds(e->es, bound, 0);
    tess__err err = TESS__ERR_INIT;
    tess__evstore *es2, *es3;
    assert_int_equal(tess__evstore_open(e->store, &es2, &err), TESS_OK);
    assert_int_equal(tess__evstore_open(e->store, &es3, &err), TESS_OK);
    tess__evstore_set_durable(es2, false);
    tess__evstore_set_durable(es3, false);
    tess__evstore_set_log_bounds(es2, bound, 0);
    tess__evstore_set_background_fold(e->es, !explicit);
    tess__evstore_set_background_fold(es2, !explicit);
    volatile int fstop = 0;
    fctx fc = {es3, &fstop, 0, 0, TESS_OK, ""};
    pthread_t ft;
    if (explicit) assert_int_equal(pthread_create(&ft, NULL, fold_thread, &fc), 0);
    enum { NT = 4 };
    tctx t[NT];
    pthread_t th[NT], rt;
    for (int i = 0; i < NT; i++) {
        memset(&t[i], 0, sizeof(t[i]));
        t[i].e = e;
        t[i].local = *e;
        t[i].local.rng = 1000 + (uint64_t)i;
        t[i].es = i == NT - 1 ? es2 : e->es;
        t[i].groups = calloc(TGROUPS, sizeof(tgroup));
        t[i].folds = explicit && i == 0 ? &fc.folds : NULL;
        t[i].fold_rc = &fc.rc;
    }
    volatile int stop = 0;
    rctx r = {e, &stop, calloc(4000, sizeof(*r.seen)), 0, 4000, TESS_OK, 0};
    t[0].scans = &r.nscans;
    t[0].scan_done = &r.done;
    assert_int_equal(pthread_create(&rt, NULL, scan_thread, &r), 0);
    for (int i = 0; i < NT; i++) assert_int_equal(pthread_create(&th[i], NULL, append_thread, &t[i]), 0);
    for (int i = 0; i < NT; i++) pthread_join(th[i], NULL);
    stop = 1;
    pthread_join(rt, NULL);
    fstop = 1;
    if (explicit) pthread_join(ft, NULL);
    tess__evstore_fold_wait(es2);
    tess__evstore_fold_wait(e->es);
    if (fc.rc) fail_msg("fold: %s", fc.msg);
    if (e->es->fold_failures || es2->fold_failures)
        fail_msg("background fold: %s %s", e->es->fold_msg, es2->fold_msg);
    if (explicit) assert_true(fc.folds >= 1); /* while appends went on (append_thread) */
    else assert_true(e->es->folds + es2->folds > 0);
    tess__evstore_close(es2);
    tess__evstore_close(es3);
    assert_int_equal(r.rc, TESS_OK);
    assert_true(r.nscans > 0);
    /* the oracle: every group with its ingest numbers; sizes per ingest for the scans */
    static uint32_t size_of[TMAX_INGEST];
    memset(size_of, 0, sizeof(size_of));
    size_of[1] = 100;
    uint32_t last = 1;
    for (int i = 0; i < NT; i++) {
        if (t[i].rc) fail_msg("thread %d: %s", i, t[i].msg);
        assert_int_equal(t[i].ngroups, TGROUPS);
        for (size_t g = 0; g < TGROUPS; g++) {
            tgroup *tg = &t[i].groups[g];
            for (size_t k = 0; k < tg->nb; k++) {
                uint32_t ing = tg->first + (uint32_t)k;
                assert_true(ing < TMAX_INGEST);
                assert_int_equal(size_of[ing], 0); /* each number once */
                size_of[ing] = (uint32_t)tg->sizes[k];
                if (ing > last) last = ing;
                db_add(e, tg->rows[k], tg->sizes[k], ing);
                free(tg->rows[k]);
            }
        }
        free(t[i].groups);
    }
    for (uint32_t i = 1; i <= last; i++) assert_true(size_of[i] > 0); /* no gap */
    e->next_ingest = last + 1;
    for (size_t s = 0; s < r.nscans; s++) {
        uint32_t top = 0;
        for (uint32_t i = 1; i <= last; i++)
            if (r.seen[s][i]) top = i;
        for (uint32_t i = 1; i <= top; i++)
            if (r.seen[s][i] != size_of[i])
                fail_msg("scan %zu: ingest %u: %u rows of %u (seen up to %u)", s, i, r.seen[s][i],
                         size_of[i], top);
    }
    free(r.seen);
    check_layout(e, L_USER, 1);
    check_layout(e, L_MERCH, 1);
    check_stats(e);
    assert_int_equal(tess__evstore_verify(e->es, e->src, &err), TESS_OK);
    /* last folds (8 logs' worth each): only the active log is left unfolded */
    bool folded = true;
    while (folded) assert_int_equal(tess__evstore_fold(e->es, "tx", &folded, &err), TESS_OK);
    tess__evstats st;
    assert_int_equal(tess__evstore_stats(e->es, e->src, &st, &err), TESS_OK);
    assert_true(st.log_rows <= bound);
    tess__evstats_release(&st);
    check_layout(e, L_USER, 1);
    check_stats(e);
    tess__err_release(&err);
}

static void test_append_threads(void **state)
{
    append_threads(*state, false);
}

/* The same with a fold running in a loop in another thread while the appends go on. */
static void test_fold_while_appending(void **state)
{
    append_threads(*state, true);
}

/* The path of the source's push log (the only <n>.log of its directory). */
static void log_file(env *e, char *out, size_t cap)
{
    char dir[700];
    snprintf(dir, sizeof(dir), "%s/offline/tx", e->store);
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *de;
    int found = 0;
    while ((de = readdir(d))) {
        size_t n = strlen(de->d_name);
        if (n > 4 && strcmp(de->d_name + n - 4, ".log") == 0) {
            snprintf(out, cap, "%s/%s", dir, de->d_name);
            found++;
        }
    }
    closedir(d);
    assert_int_equal(found, 1);
}

static off_t file_size(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st.st_size;
}

static void flip_byte(const char *path, off_t at)
{
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    unsigned char c;
    assert_int_equal(pread(fd, &c, 1, at), 1);
    c ^= 0x5a;
    assert_int_equal(pwrite(fd, &c, 1, at), 1);
    close(fd);
}

static void reopen(env *e)
{
    tess__err err = TESS__ERR_INIT;
    tess__evstore_close(e->es);
    assert_int_equal(tess__evstore_open(e->store, &e->es, &err), TESS_OK);
    tess__evstore_set_durable(e->es, false);
    tess__err_release(&err);
}

/* A crash in the middle of an append leaves a torn frame: ignored by readers, cut by the next
 * writer; a damaged frame with frames after it is an error, never skipped. */
static void test_log_torn_and_damaged(void **state)
{
    env *e = *state;
    ingest_new(e, 1, 200, &G_SMALL, 0);
    tess__evstore_set_durable(e->es, true); /* the fdatasync path once */
    for (int i = 0; i < 4; i++) append_random(e, &G_SMALL, 40);
    tess__evstore_set_durable(e->es, false);
    char path[800];
    log_file(e, path, sizeof(path));
    off_t good = file_size(path);
    size_t ndb = e->ndb;
    uint32_t ingest = e->next_ingest;
    append_random(e, &G_SMALL, 40); /* the one to tear */
    off_t full = file_size(path);
    assert_true(full > good);
    /* torn: the frame cut in its middle, or only its header written */
    off_t cuts[] = {full - 1, good + (full - good) / 2, good + 10};
    for (size_t k = 0; k < 3; k++) {
        assert_int_equal(truncate(path, cuts[k]), 0);
        e->ndb = ndb;
        e->next_ingest = ingest;
        reopen(e);
        check_layout(e, L_USER, 1);
        check_stats(e);
        tess__err err = TESS__ERR_INIT;
        assert_int_equal(tess__evstore_verify(e->es, e->src, &err), TESS_OK);
        tess__err_release(&err);
        /* the next append cuts it and reuses the number */
        append_random(e, &G_SMALL, 40);
        assert_true(file_size(path) > good);
        check_layout(e, L_MERCH, 1);
    }
    /* a damaged byte in the last frame: that frame is torn */
    full = file_size(path);
    flip_byte(path, full - 3);
    e->ndb = ndb;
    e->next_ingest = ingest;
    reopen(e);
    check_layout(e, L_USER, 1);
    /* zeros at the end (the size grew, the data did not reach the disk) */
    append_random(e, &G_SMALL, 40);
    full = file_size(path);
    assert_int_equal(truncate(path, full + 4096), 0);
    reopen(e);
    check_layout(e, L_USER, 1);
    append_random(e, &G_SMALL, 40);
    check_layout(e, L_USER, 1);
    { /* the zeros were cut: the new frame starts where they did */
        int fd = open(path, O_RDONLY);
        char magic[4] = {0};
        assert_int_equal(pread(fd, magic, 4, full), 4);
        close(fd);
        assert_memory_equal(magic, "TPL1", 4);
    }
    /* a damaged byte in the first frame, frames after it: an error for everyone */
    flip_byte(path, 40);
    reopen(e);
    tess__err err = TESS__ERR_INIT;
    scanned sc;
    assert_int_equal(scan_all(e, L_USER, 1, NULL, 0, 0, &sc, &err), TESS_EIO);
    assert_non_null(strstr(tess__err_msg(&err), ".log"));
    free(sc.rows);
    assert_int_equal(tess__evstore_verify(e->es, e->src, &err), TESS_EIO);
    tess__evstats st;
    assert_int_equal(tess__evstore_stats(e->es, e->src, &st, &err), TESS_EIO);
    tess__evstats_release(&st);
    orow rows[3];
    size_t sizes[1] = {3};
    orow *rp[1] = {rows};
    uint32_t first;
    assert_int_equal(append_group(e, e->es, &G_SMALL, sizes, 1, rp, &first, &err), TESS_EIO);
    /* repaired: the store is usable again */
    flip_byte(path, 40);
    reopen(e);
    check_layout(e, L_USER, 1);
    tess__err_release(&err);
}

/* Logs that no manifest names (folded, or created by a commit that did not happen) go. */
static void test_log_strays(void **state)
{
    env *e = *state;
    ingest_new(e, 1, 100, &G_SMALL, 0);
    append_random(e, &G_SMALL, 10);
    char path[800], stray[800];
    log_file(e, path, sizeof(path));
    const char *names[] = {"0.log", "77.log"};
    for (size_t i = 0; i < 2; i++) {
        snprintf(stray, sizeof(stray), "%s/offline/tx/%s", e->store, names[i]);
        FILE *f = fopen(stray, "w");
        fputs("junk", f);
        fclose(f);
    }
    reopen(e);
    char now[800];
    log_file(e, now, sizeof(now));
    assert_string_equal(path, now);
    check_layout(e, L_USER, 1);
    /* after a fold, the old log is gone and a new one is named */
    ingest_new(e, 1, 50, &G_SMALL, 0);
    log_file(e, now, sizeof(now));
    assert_string_not_equal(path, now);
    assert_int_equal(file_size(now), 0);
    check_layout(e, L_USER, 1);
}

/* Fail every allocation of an append in turn (to the log, then one that folds): a clean error,
 * and the store is as it was. */
static size_t count_logs(env *e, long *lo, long *hi);
static void check_all(env *e);

static void test_append_alloc_failures(void **state)
{
    env *e = *state;
    ingest_new(e, 1, 200, &G_SMALL, 0);
    append_random(e, &G_SMALL, 20);
    for (int fold = 0; fold < 2; fold++) {
        tess__evstore_set_log_bounds(e->es, fold ? 10 : 0, 0);
        char *before = listing(e);
        orow rows[2][30];
        tess__batch b[2], *bp[2] = {&b[0], &b[1]};
        for (int k = 0; k < 2; k++) {
            gen_rows(e, rows[k], 30, &G_SMALL);
            rows_batch(e, rows[k], 30, &b[k]);
        }
        tess__evlayout l[2] = {{L_USER, 1}, {L_MERCH, 1}};
        int rc = -1;
        long n;
        uint32_t first = 0;
        for (n = 0; n < 100000; n++) {
            tess__err err = TESS__ERR_INIT;
            tess__alloc_fail_after(n);
            rc = tess__evstore_append(e->es, e->src, l, 2, bp, 2, &first, &err);
            tess__alloc_fail_after(-1);
            if (rc == TESS_OK) {
                tess__err_release(&err);
                break;
            }
            if (rc != TESS_ENOMEM) fail_msg("allocation %ld: rc %d: %s", n, rc, tess__err_msg(&err));
            char *now = listing(e);
            if (strcmp(before, now) != 0)
                fail_msg("allocation %ld: the store changed:\n%s\nvs\n%s", n, before, now);
            free(now);
            tess__err_release(&err);
        }
        tess__batch_release(&b[0]);
        tess__batch_release(&b[1]);
        assert_int_equal(rc, TESS_OK);
        assert_true(n > (fold ? 30 : 3));
        assert_int_equal(first, e->next_ingest);
        db_add(e, rows[0], 30, e->next_ingest++);
        db_add(e, rows[1], 30, e->next_ingest++);
        check_layout(e, L_USER, 1);
        check_layout(e, L_MERCH, 1);
        free(before);
    }
    /* a fold of sealed logs (with a merge), failing at each allocation in turn */
    tess__evstore_set_background_fold(e->es, false);
    tess__evstore_set_log_bounds(e->es, 40, 0);
    ingest_new(e, 2, 50, &G_SMALL, 0);
    for (int i = 0; i < 12; i++) append_random(e, &G_SMALL, 10);
    long lo, hi;
    assert_true(count_logs(e, &lo, &hi) >= 2);
    char *before = listing(e);
    long n;
    int rc = -1;
    for (n = 0; n < 100000; n++) {
        tess__err err = TESS__ERR_INIT;
        bool folded = false;
        tess__alloc_fail_after(n);
        rc = tess__evstore_fold(e->es, "tx", &folded, &err);
        tess__alloc_fail_after(-1);
        if (rc == TESS_OK) {
            assert_true(folded);
            tess__err_release(&err);
            break;
        }
        if (rc != TESS_ENOMEM) fail_msg("allocation %ld: rc %d: %s", n, rc, tess__err_msg(&err));
        char *now = listing(e);
        if (strcmp(before, now) != 0)
            fail_msg("allocation %ld: the store changed:\n%s\nvs\n%s", n, before, now);
        free(now);
        tess__err_release(&err);
        check_layout(e, L_USER, 1);
    }
    free(before);
    assert_int_equal(rc, TESS_OK);
    assert_true(n > 30);
    assert_int_equal(count_logs(e, &lo, &hi), 1);
    check_all(e);
}

/* ---- failed writes, fsyncs and renames (core/io.h) ------------------------------------------ */

/* The committed state of the source: its MANIFEST's bytes and its push logs' sizes (the
 * listing also shows files a later writer deletes, which are not state). */
static char *committed(env *e)
{
    char *l = listing(e), *out = calloc(1, 1 << 16), path[1024];
    size_t n;
    snprintf(path, sizeof path, "%s/offline/tx/MANIFEST", e->store);
    char *m = read_file_all(path, &n);
    snprintf(out, 1 << 16, "MANIFEST %zu %llx\n", m ? n : 0,
             m ? (unsigned long long)tess__hash64(m, n) : 0ull);
    free(m);
    /* the current log is the newest (older ones are folded, deleted by a later writer) */
    long best = -1;
    char cur[256] = "";
    for (char *line = strtok(l, "\n"); line; line = strtok(NULL, "\n")) {
        const char *lg = strstr(line, ".log ");
        const char *slash = strrchr(line, '/');
        if (!lg || !slash) continue;
        long num = strtol(slash + 1, NULL, 10);
        if (num > best) {
            best = num;
            snprintf(cur, sizeof cur, "%s", line);
        }
    }
    strcat(out, cur);
    free(l);
    return out;
}

/* After an operation failed at an injected I/O error: the error says why, no temporary file
 * is left, and the store is as before it or — when only a step after the commit point failed
 * (a directory fsync after the rename) — as after it. Returns whether it took effect. */
static bool after_io_failure(env *e, const char *before, int rc, const tess__err *err, long n)
{
    if (rc != TESS_EIO) fail_msg("I/O call %ld: rc %d (not TESS_EIO): %s", n, rc, tess__err_msg(err));
    const char *m = tess__err_msg(err);
    if (!strstr(m, "Input/output error") && !strstr(m, "No space left on device"))
        fail_msg("I/O call %ld: the message does not say why: %s", n, m);
    char *l = listing(e);
    if (strstr(l, ".tmp")) fail_msg("I/O call %ld: a temporary file is left:\n%s", n, l);
    free(l);
    char *now = committed(e);
    bool same = strcmp(before, now) == 0;
    free(now);
    return !same;
}

/* Appends rows ar[0..nr) with the n-th I/O call failing (EIO or ENOSPC in turn); checks what
 * a failure left (after_io_failure) and the layouts; returns whether the append took effect
 * (then its rows are added to the reference). */
static bool append_failing_at(env *e, orow *ar, size_t nr, long n, const char *before)
{
    tess__batch b, *bp = &b;
    rows_batch(e, ar, nr, &b);
    tess__evlayout l[2] = {{L_USER, 1}, {L_MERCH, 1}};
    tess__err err = TESS__ERR_INIT;
    uint32_t first = 0;
    tess__io_fail_after(n, n % 2 ? EIO : ENOSPC);
    int rc = tess__evstore_append(e->es, e->src, l, 2, &bp, 1, &first, &err);
    tess__io_fail_after(-1, 0);
    tess__batch_release(&b);
    bool took = rc == TESS_OK || after_io_failure(e, before, rc, &err, n);
    tess__err_release(&err);
    if (took) db_add(e, ar, nr, e->next_ingest++);
    check_layout(e, L_USER, 1);
    check_layout(e, L_MERCH, 1);
    return took;
}

static void test_io_failures(void **state)
{
    env *e = *state;
    tess__evstore_set_durable(e->es, true);
    for (int i = 0; i < TESS__EV_MERGE_FANIN - 1; i++)
        ingest_new(e, 1, 200, &G_SMALL, 0); /* the ingest below merges */
    /* an ingest (with a new layout and a merge) failing at each of its writes in turn */
    orow rows[300];
    gen_rows(e, rows, 300, &G_SMALL);
    const char *paths[1] = {write_csv(e, "io.csv", rows, 300)};
    const size_t *lays[] = {L_USER, L_MU};
    const size_t nk[] = {1, 2};
    char *before = committed(e);
    long n;
    int rc = -1;
    bool took = false;
    for (n = 0; n < 10000 && !took; n++) {
        tess__err err = TESS__ERR_INIT;
        tess__ingest_result res;
        tess__io_fail_after(n, n % 2 ? ENOSPC : EIO);
        rc = ingest(e, lays, nk, 2, paths, 1, false, 0, &res, &err);
        tess__io_fail_after(-1, 0);
        tess__ingest_result_release(&res);
        took = rc == TESS_OK || after_io_failure(e, before, rc, &err, n);
        tess__err_release(&err);
        /* usable: what a scan gives is the oracle (before, or after once it took) */
        if (took) db_add(e, rows, 300, e->next_ingest++);
        check_layout(e, L_USER, 1);
    }
    assert_true(took);
    assert_true(n > 10);
    check_layout(e, L_MU, 2);
    free(before);

    /* appends: into the log (one frame, one fdatasync), then with a fold into segments */
    append_random(e, &G_SMALL, 20);
    for (int fold = 0; fold < 2; fold++) {
        tess__evstore_set_log_bounds(e->es, fold ? 10 : 0, 0);
        before = committed(e);
        orow ar[30];
        gen_rows(e, ar, 30, &G_SMALL);
        took = false;
        for (n = 0; n < 10000 && !took; n++) took = append_failing_at(e, ar, 30, n, before);
        assert_true(took);
        assert_true(n > (fold ? 5 : 1));
        free(before);
    }
    /* and the store takes more after all that */
    reopen(e);
    ingest_new(e, 1, 50, &G_SMALL, 0);
    append_random(e, &G_SMALL, 5);
    check_layout(e, L_USER, 1);
}

/* ---- the fold, off the append path --------------------------------------------------------- */

/* The numbers of the source's push logs: how many, the lowest and the highest. */
static size_t count_logs(env *e, long *lo, long *hi)
{
    char dir[700];
    snprintf(dir, sizeof(dir), "%s/offline/tx", e->store);
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *de;
    size_t n = 0;
    *lo = -1;
    *hi = -1;
    while ((de = readdir(d))) {
        size_t len = strlen(de->d_name);
        if (len <= 4 || strcmp(de->d_name + len - 4, ".log") != 0) continue;
        long k = strtol(de->d_name, NULL, 10);
        if (*lo < 0 || k < *lo) *lo = k;
        if (k > *hi) *hi = k;
        n++;
    }
    closedir(d);
    return n;
}

static uint64_t log_rows(env *e)
{
    tess__evstats st;
    tess__err err = TESS__ERR_INIT;
    assert_int_equal(tess__evstore_stats(e->es, e->src, &st, &err), TESS_OK);
    uint64_t n = st.log_rows;
    tess__evstats_release(&st);
    return n;
}

static void check_all(env *e)
{
    tess__err err = TESS__ERR_INIT;
    check_layout(e, L_USER, 1);
    check_layout(e, L_MERCH, 1);
    check_stats(e);
    if (tess__evstore_verify(e->es, e->src, &err)) fail_msg("verify: %s", tess__err_msg(&err));
    tess__err_release(&err);
}

/* An append that fills the active log seals it (the next log takes the rows) and hands the
 * sealed log to the handle's background folder; closing a handle finishes its fold; without a
 * folder the chain of sealed logs grows, readers see all of it, and the next commit (an ingest)
 * or the next handle with a folder folds it. */
static void test_background_fold(void **state)
{
    env *e = *state;
    ingest_new(e, 1, 100, &G_SMALL, 0);
    tess__evstore_set_log_bounds(e->es, 100, 0);
    long lo, hi;
    for (int i = 0; i < 40; i++) append_random(e, &G_SMALL, 10);
    tess__evstore_fold_wait(e->es);
    if (e->es->fold_failures) fail_msg("background fold: %s", e->es->fold_msg);
    assert_true(e->es->folds >= 1);
    /* (not "more segments than before": a fold may merge segments into fewer) */
    assert_true(log_rows(e) <= 100);
    assert_int_equal(count_logs(e, &lo, &hi), 1); /* folded logs are gone */
    check_all(e);

    /* no folder: sealed logs pile up, and every reader sees all of their rows, once */
    tess__evstore_set_background_fold(e->es, false);
    for (int i = 0; i < 100; i++) append_random(e, &G_SMALL, 10);
    size_t nlogs = count_logs(e, &lo, &hi);
    assert_true(nlogs >= 11);
    assert_int_equal((size_t)(hi - lo + 1), nlogs); /* a chain, no gap */
    check_all(e);
    /* a fold takes 8 logs' worth of rows at most (800 here): the rest stays in the chain */
    tess__err err = TESS__ERR_INIT;
    bool folded = false;
    assert_int_equal(tess__evstore_fold(e->es, "tx", &folded, &err), TESS_OK);
    assert_true(folded);
    assert_true(count_logs(e, &lo, &hi) >= 2 && count_logs(e, &lo, &hi) < nlogs - 7);
    check_all(e);
    tess__err_release(&err);
    /* an ingest folds the whole chain, active log included, and names a new, empty log */
    ingest_new(e, 1, 50, &G_SMALL, 0);
    assert_int_equal(count_logs(e, &lo, &hi), 1);
    assert_int_equal(log_rows(e), 0);
    check_all(e);

    /* sealed logs left by a process without a folder: the next handle's append folds them */
    for (int i = 0; i < 30; i++) append_random(e, &G_SMALL, 10);
    assert_true(count_logs(e, &lo, &hi) >= 2);
    reopen(e); /* bounds back to the defaults: this append seals nothing */
    append_random(e, &G_SMALL, 5);
    tess__evstore_fold_wait(e->es);
    assert_int_equal(count_logs(e, &lo, &hi), 1);
    check_all(e);

    /* a handle closed right after its append sealed a log: its close finishes the fold */
    tess__evstore_set_log_bounds(e->es, 30, 0);
    for (int i = 0; i < 6; i++) append_random(e, &G_SMALL, 10);
    reopen(e);
    assert_int_equal(count_logs(e, &lo, &hi), 1);
    check_all(e);
}

/* A sealing append and then a fold, each failing at every write, fsync, rename and truncation
 * in turn: a clean error, no temporary file, the store as before (or, for a failed directory
 * fsync after the rename, as after), and every row read exactly once after each failure. */
static void test_fold_io_failures(void **state)
{
    env *e = *state;
    tess__evstore_set_durable(e->es, true);
    tess__evstore_set_background_fold(e->es, false);
    for (int i = 0; i < TESS__EV_MERGE_FANIN - 1; i++)
        ingest_new(e, 1, 100, &G_SMALL, 0); /* the fold's segments make a tier merge */
    tess__evstore_set_log_bounds(e->es, 60, 0);
    for (int i = 0; i < 5; i++) {
        orow rows[10];
        size_t sizes[1] = {10};
        orow *rp[1] = {rows};
        uint32_t first;
        tess__err err = TESS__ERR_INIT;
        assert_int_equal(append_group(e, e->es, &G_SMALL, sizes, 1, rp, &first, &err), TESS_OK);
        db_add(e, rows, 10, e->next_ingest++);
        tess__err_release(&err);
    }
    long lo, hi;
    assert_int_equal(count_logs(e, &lo, &hi), 1);
    /* 1. the append that seals the log */
    char *before = committed(e);
    orow ar[20];
    gen_rows(e, ar, 20, &G_SMALL);
    bool took = false;
    long n;
    int rc;
    for (n = 0; n < 1000 && !took; n++) {
        took = append_failing_at(e, ar, 20, n, before);
        if (!took) assert_int_equal(count_logs(e, &lo, &hi), 1); /* not sealed */
    }
    assert_true(took);
    assert_true(n >= 3); /* the directory's fsync, the frame's write, its fdatasync */
    assert_int_equal(count_logs(e, &lo, &hi), 2);
    free(before);
    /* a second sealed log */
    for (int i = 0; i < 6; i++) append_random(e, &G_SMALL, 10);
    assert_true(count_logs(e, &lo, &hi) >= 3);
    size_t segs = count_segments(e);

    /* 2. the fold */
    before = committed(e);
    took = false;
    for (n = 0; n < 10000 && !took; n++) {
        tess__err err = TESS__ERR_INIT;
        bool folded = false;
        tess__io_fail_after(n, n % 2 ? ENOSPC : EIO);
        rc = tess__evstore_fold(e->es, "tx", &folded, &err);
        tess__io_fail_after(-1, 0);
        took = rc == TESS_OK || after_io_failure(e, before, rc, &err, n);
        if (rc == TESS_OK) assert_true(folded);
        tess__err_release(&err);
        check_layout(e, L_USER, 1); /* the same rows, once, whatever happened */
        check_layout(e, L_MERCH, 1);
        check_stats(e);
    }
    assert_true(took);
    assert_true(n > 8);
    free(before);
    assert_true(count_segments(e) < segs + 2); /* merged */
    assert_true(log_rows(e) <= 60);
    /* the store takes more after all that */
    reopen(e);
    assert_int_equal(count_logs(e, &lo, &hi), 1);
    check_all(e);
    append_random(e, &G_SMALL, 5);
    ingest_new(e, 1, 50, &G_SMALL, 0);
    check_all(e);
}

/* Copies of the store directory, to start each crash from the same state. */
static void store_save(env *e)
{
    char cmd[1600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s/snap' && cp -a '%s' '%s/snap'", e->dir, e->store,
             e->dir);
    assert_int_equal(system(cmd), 0);
}

static void store_restore(env *e)
{
    char cmd[1600];
    tess__evstore_close(e->es);
    e->es = NULL;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s' && cp -a '%s/snap' '%s'", e->store, e->dir,
             e->store);
    assert_int_equal(system(cmd), 0);
    tess__err err = TESS__ERR_INIT;
    assert_int_equal(tess__evstore_open(e->store, &e->es, &err), TESS_OK);
    tess__evstore_set_durable(e->es, true);
    tess__evstore_set_background_fold(e->es, false);
    tess__evstore_set_log_bounds(e->es, 60, 0);
    tess__err_release(&err);
}

typedef struct crash_op {
    env *e;
    bool fold;   /* else: append `rows` */
    orow *rows;
    size_t n;
} crash_op;

static int run_crash_op(crash_op *op)
{
    tess__err err = TESS__ERR_INIT;
    if (op->fold) return tess__evstore_fold(op->e->es, "tx", NULL, &err);
    tess__batch b, *bp = &b;
    rows_batch(op->e, op->rows, op->n, &b);
    tess__evlayout l[2] = {{L_USER, 1}, {L_MERCH, 1}};
    uint32_t first;
    return tess__evstore_append(op->e->es, op->e->src, l, 2, &bp, 1, &first, &err);
}

/* Runs op in a child process that dies (as by kill -9) just before its n-th write, fsync,
 * rename or truncation. Returns whether it died there (else it completed). */
static bool crash_at(crash_op *op, long n)
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        tess__io_fail_after(n, TESS__IO_CRASH);
        _exit(run_crash_op(op) == TESS_OK ? 0 : 1);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    if (WEXITSTATUS(status) == 1) fail_msg("I/O call %ld: failed without crashing", n);
    return WEXITSTATUS(status) == TESS__IO_CRASH_STATUS;
}

/* After a crash: a reader open during it, then a new handle (which removes the leftovers),
 * read every committed row exactly once; nothing temporary and no folded log stays. */
static void after_crash(env *e, long n)
{
    check_layout(e, L_USER, 1);
    check_layout(e, L_MERCH, 1);
    check_stats(e);
    reopen(e);
    tess__evstore_set_durable(e->es, true);
    tess__evstore_set_background_fold(e->es, false);
    tess__evstore_set_log_bounds(e->es, 60, 0);
    check_all(e);
    char *l = listing(e);
    if (strstr(l, ".tmp")) fail_msg("crash at I/O call %ld: a temporary file is left:\n%s", n, l);
    free(l);
}

/* kill -9 at every step of a sealing append and of a fold (before each write, fsync, rename,
 * truncation; the files' state then is what a kill between two system calls leaves). */
static void test_fold_crash(void **state)
{
    env *e = *state;
    tess__evstore_set_durable(e->es, true);
    tess__evstore_set_background_fold(e->es, false);
    tess__evstore_set_log_bounds(e->es, 60, 0);
    for (int i = 0; i < TESS__EV_MERGE_FANIN - 1; i++) ingest_new(e, 1, 100, &G_SMALL, 0);
    for (int i = 0; i < 5; i++) {
        orow rows[10];
        size_t sizes[1] = {10};
        orow *rp[1] = {rows};
        uint32_t first;
        tess__err err = TESS__ERR_INIT;
        assert_int_equal(append_group(e, e->es, &G_SMALL, sizes, 1, rp, &first, &err), TESS_OK);
        db_add(e, rows, 10, e->next_ingest++);
        tess__err_release(&err);
    }
    long lo, hi;
    /* 1. the append that seals the log (20 rows past 50 of 60) */
    store_save(e);
    size_t ndb = e->ndb;
    uint32_t ingest0 = e->next_ingest;
    orow ar[20];
    gen_rows(e, ar, 20, &G_SMALL);
    crash_op op = {e, false, ar, 20};
    long n;
    size_t crashes = 0;
    for (n = 0; n < 100; n++) {
        store_restore(e);
        e->ndb = ndb;
        e->next_ingest = ingest0;
        bool died = crash_at(&op, n);
        /* did the frame survive? (ingests counts it then) */
        tess__evstats st;
        tess__err err = TESS__ERR_INIT;
        assert_int_equal(tess__evstore_stats(e->es, e->src, &st, &err), TESS_OK);
        bool took = st.ingests == ingest0;
        tess__evstats_release(&st);
        tess__err_release(&err);
        if (!died) assert_true(took);
        if (took) db_add(e, ar, 20, e->next_ingest++);
        after_crash(e, n);
        if (!died) break;
        crashes++;
    }
    assert_true(crashes >= 3);
    assert_int_equal(count_logs(e, &lo, &hi), 2);
    /* 2. the fold of two sealed logs, with a merge */
    for (int i = 0; i < 6; i++) append_random(e, &G_SMALL, 10);
    assert_true(count_logs(e, &lo, &hi) >= 3);
    store_save(e);
    op.fold = true;
    crashes = 0;
    for (n = 0; n < 1000; n++) {
        store_restore(e);
        bool died = crash_at(&op, n);
        after_crash(e, n); /* the same rows whatever the step */
        if (!died) break;
        crashes++;
    }
    assert_true(crashes > 8);
    assert_int_equal(count_logs(e, &lo, &hi), 1);
    append_random(e, &G_SMALL, 10);
    ingest_new(e, 1, 30, &G_SMALL, 0);
    check_all(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_segment_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sort_oracle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ingest_two_layouts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_null_key_counts_and_empty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idempotent_and_force, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_file_leaves_store_unchanged, setup, teardown),
        cmocka_unit_test_setup_teardown(test_merges, setup, teardown),
        cmocka_unit_test_setup_teardown(test_merges_tiered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restricted_scan, setup, teardown),
        cmocka_unit_test_setup_teardown(test_evkey_cmp, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restricted_scan_oracle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_entities_not_split, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_segment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_new_layout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_random_oracle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan_survives_merge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_strays_removed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_writers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alloc_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_append_oracle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_append_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_append_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fold_while_appending, setup, teardown),
        cmocka_unit_test_setup_teardown(test_background_fold, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fold_io_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fold_crash, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_torn_and_damaged, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_strays, setup, teardown),
        cmocka_unit_test_setup_teardown(test_append_alloc_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_io_failures, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
