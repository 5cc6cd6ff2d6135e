/* test_oview.c — one view in the online store (src/online/oview.c): an entity's head and
 * history records written by many writes at moving times, against one write of every row.
 *
 * Random events of one entity over a few days are applied in random chunks, each chunk at a
 * `now` at or after every earlier one (as materializations and pushes do), with the history
 * record kept beside the head as the store keeps it (read only when a write asks for it,
 * rewritten or deleted as the write says). At random times after the last write the values
 * read from head (+ history when the read asks for it) must equal, bit for bit, those the
 * window engine computes from the rows themselves (tiles built from every row due, no record
 * in between), and the latest row found by a scan. Also: a read outside the
 * write's hop bucket asks for the history; a history of another write is refused (stale); a
 * damaged or missing history fails the write with TESS_EIO. Both on a view with a lifetime
 * aggregate and on one whose windows all end (reads long after a write then read no history);
 * amounts include outliers (|x| >= 2^96), after which a read must merge in the window engine's
 * order.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/value.h"
#include "defs/defs.h"
#include "defs/defs_model.h"
#include "core/time.h"
#include "offline/agg.h"
#include "offline/window.h"
#include "online/oview.h"
#include "online/record.h"
#include "tessera.h"

static const char *const CONFIG = "project: t\n";
/* A view's head and its first six features; v and w differ in the seventh. */
#define VIEW(name)                                                                                \
    "  - name: " name "\n"                                                                        \
    "    entities: [user]\n"                                                                      \
    "    source: ev\n"                                                                            \
    "    hop: 1h\n"                                                                               \
    "    features:\n"                                                                             \
    "      - {name: last_amount, expr: amount}\n"                                                 \
    "      - {name: last_name, expr: name}\n"                                                     \
    "      - {name: n_1h, agg: count, window: 1h}\n"                                              \
    "      - {name: sum_1d, agg: sum, expr: amount, window: 1d}\n"                                \
    "      - {name: max_2d, agg: max, expr: amount, window: 2d}\n"                                \
    "      - {name: mean_2d, agg: mean, expr: amount, window: 2d}\n"
static const char *const DEFS =
    "entities:\n"
    "  - name: user\n"
    "    join_keys: [user_id]\n"
    "sources:\n"
    "  - name: ev\n"
    "    type: batch\n"
    "    path: data/ev.csv\n"
    "    timestamp: ts\n"
    "    schema: {user_id: int64, amount: float64, name: string, ts: timestamp}\n"
    "feature_views:\n"
    VIEW("v") "      - {name: n_all, agg: count}\n"
    /* the same without a lifetime aggregate: a read long after the write needs no history */
    VIEW("w") "      - {name: n_6h, agg: count, window: 6h}\n";

enum { C_USER, C_AMOUNT, C_NAME, C_TS, NCOLS };
#define HOUR 3600000000LL
#define NFEAT 7

typedef struct fx {
    tess__defs *d;
    tess__oview *ov;
    const char *view;
    uint64_t seed;
} fx;

static int setup_view(void **state, const char *view)
{
    fx *f = calloc(1, sizeof(*f));
    tess__defs_file files[2] = {{"tessera.yaml", CONFIG, strlen(CONFIG)},
                                {"defs.yaml", DEFS, strlen(DEFS)}};
    tess__err err = TESS__ERR_INIT;
    if (tess__defs_load_strings(files, 2, &f->d, &err) != TESS_OK)
        fail_msg("defs: %s", tess__err_msg(&err));
    f->view = view;
    if (tess__oview_new(f->d, tess__defs_view(f->d, view), &f->ov, &err) != TESS_OK)
        fail_msg("oview: %s", tess__err_msg(&err));
    tess__err_release(&err);
    const char *s = getenv("TESS_SEED");
    f->seed = s ? strtoull(s, NULL, 10) : 0x5eed0f0f;
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return setup_view(state, "v");
}

static int setup_w(void **state)
{
    return setup_view(state, "w");
}

static int teardown(void **state)
{
    fx *f = *state;
    tess__oview_free(f->ov);
    tess__defs_free(f->d);
    free(f);
    return 0;
}

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* The entity as the store keeps it. */
typedef struct ent {
    tess__buf head, hist;
    bool has_hist;
    tess__buf nhead, nhist;
} ent;

static int hist_of(void *ctx, tess__str *hist, tess__err *err)
{
    ent *e = ctx;
    (void)err;
    *hist = e->has_hist ? (tess__str){e->hist.p, e->hist.len} : (tess__str){NULL, 0};
    return TESS_OK;
}

/* One write of rows[0..n) at now; the entity's records replaced as the store would. */
static void write_rows(fx *f, ent *e, const tess__value *rows, const int64_t *seq, size_t n,
                       int64_t now)
{
    tess__arena a = TESS__ARENA_INIT;
    tess__err err = TESS__ERR_INIT;
    int op;
    tess__buf_reset(&e->nhead);
    int rc = tess__oview_apply(f->ov, e->head.len ? e->head.p : NULL, e->head.len, hist_of, e,
                               rows, seq, n, now, &a, &e->nhead, &e->nhist, &op, &err);
    if (rc != TESS_OK) fail_msg("seed %llu: apply: %s", (unsigned long long)f->seed, tess__err_msg(&err));
    tess__buf_reset(&e->head);
    assert_int_equal(tess__buf_append(&e->head, e->nhead.p, e->nhead.len), TESS_OK);
    if (op == TESS__HIST_WRITE) {
        tess__buf_reset(&e->hist);
        assert_int_equal(tess__buf_append(&e->hist, e->nhist.p, e->nhist.len), TESS_OK);
        e->has_hist = true;
    } else if (op == TESS__HIST_DELETE) {
        assert_true(e->has_hist);
        e->has_hist = false;
    }
    /* the head names its history, or none */
    assert_int_equal(tess__orec_hist_sum(e->head.p, e->head.len) != 0, e->has_hist);
    if (e->has_hist)
        assert_true(tess__orec_hist_sum(e->head.p, e->head.len) ==
                    tess__orec_checksum(e->hist.p, e->hist.len));
    tess__arena_release(&a);
    tess__err_release(&err);
}

/* Reads every feature at t as a lookup does: head first, the history when asked for. */
static void read_all(fx *f, const ent *e, int64_t t, tess__arena *a, tess__value *vals, int *st,
                     bool *asked)
{
    size_t which[NFEAT];
    int64_t ts[NFEAT];
    for (size_t i = 0; i < NFEAT; i++) which[i] = i;
    tess__err err = TESS__ERR_INIT;
    int rc = tess__oview_eval(f->ov, e->head.p, e->head.len, NULL, 0, t, which, NFEAT, a, vals, st,
                              ts, &err);
    *asked = rc == TESS__OVIEW_NEED_HISTORY;
    if (*asked) {
        assert_true(e->has_hist);
        rc = tess__oview_eval(f->ov, e->head.p, e->head.len, e->hist.p, e->hist.len, t, which,
                              NFEAT, a, vals, st, ts, &err);
    }
    if (rc != TESS_OK) fail_msg("seed %llu: eval: %d %s", (unsigned long long)f->seed, rc, tess__err_msg(&err));
    tess__err_release(&err);
}

static bool same(const tess__value *x, const tess__value *y)
{
    if (x->null != y->null || x->type != y->type) return false;
    if (x->null) return true;
    switch (x->type) {
    case TESS_T_FLOAT64: return memcmp(&x->u.f, &y->u.f, 8) == 0;
    case TESS_T_STRING: return x->u.s.n == y->u.s.n && memcmp(x->u.s.p, y->u.s.p, x->u.s.n) == 0;
    case TESS_T_BOOL: return x->u.b == y->u.b;
    default: return x->u.i == y->u.i;
    }
}

/* What the values at t must be, from the rows alone. */
static void expect(fx *f, const tess__value *rows, const int64_t *seq, size_t n, int64_t t,
                   tess__arena *a, tess__value *vals, int *st)
{
    const tess__view *v = tess__defs_view(f->d, f->view);
    tess__wplan *plan;
    assert_int_equal(tess__wplan_new(v, &plan), TESS_OK);
    int64_t h = tess__wplan_hop(plan);
    size_t ns = tess__wplan_nspecs(plan);
    int64_t *starts = tess__arena_alloc(a, (n + 1) * sizeof(int64_t));
    size_t nt = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t ts = rows[i * NCOLS + C_TS].u.i;
        if (ts > t) continue;
        int64_t b = tess__floor_to(ts, h);
        size_t k = 0;
        while (k < nt && starts[k] < b) k++;
        if (k < nt && starts[k] == b) continue;
        memmove(&starts[k + 1], &starts[k], (nt - k) * sizeof(int64_t));
        starts[k] = b;
        nt++;
    }
    tess__agg_state *states = tess__arena_alloc(a, (nt * ns + 1) * sizeof(*states));
    for (size_t i = 0; i < nt * ns; i++) tess__agg_init(tess__wplan_spec_kind(plan, i % ns), &states[i]);
    long latest = -1;
    for (size_t i = 0; i < n; i++) {
        int64_t ts = rows[i * NCOLS + C_TS].u.i;
        if (ts > t) continue;
        size_t k = 0;
        while (starts[k] != tess__floor_to(ts, h)) k++;
        assert_int_equal(tess__wplan_add_row(plan, &states[k * ns], &rows[i * NCOLS], seq[i], a),
                         TESS_OK);
        if (latest < 0 || ts > rows[latest * NCOLS + C_TS].u.i ||
            (ts == rows[latest * NCOLS + C_TS].u.i && seq[i] > seq[latest]))
            latest = (long)i;
    }
    tess__value aggs[8];
    assert_int_equal(tess__wplan_eval_at(plan, t, starts, states, nt, NULL, a, aggs), TESS_OK);
    for (size_t i = 0; i < NFEAT; i++) {
        if (i < 2) { /* last_amount, last_name */
            if (latest < 0) {
                vals[i] = tess__null(i == 0 ? TESS_T_FLOAT64 : TESS_T_STRING);
                st[i] = TESS_STATUS_NOT_FOUND;
                continue;
            }
            vals[i] = rows[latest * NCOLS + (i == 0 ? C_AMOUNT : C_NAME)];
        } else {
            vals[i] = aggs[i - 2];
        }
        st[i] = vals[i].null ? TESS_STATUS_NULL_VALUE : TESS_STATUS_PRESENT;
    }
    tess__wplan_free(plan);
}

static void ent_release(ent *e)
{
    tess__buf_release(&e->head);
    tess__buf_release(&e->hist);
    tess__buf_release(&e->nhead);
    tess__buf_release(&e->nhist);
}

static void test_oracle(void **state)
{
    fx *f = *state;
    static const char *names[] = {"a", "bb", "ccc"};
    int64_t t0 = 1767225600000000LL; /* 2026-01-01 */
    size_t asked_total = 0;
    for (int round = 0; round < 60; round++) {
        uint64_t s = f->seed + (uint64_t)round * 7919;
        if (!s) s = 1;
        size_t n = 1 + rnd(&s) % 120;
        tess__value *rows = calloc(n * NCOLS, sizeof(*rows));
        int64_t *seq = calloc(n, sizeof(int64_t));
        int64_t span = (int64_t)(1 + rnd(&s) % 96) * HOUR; /* events over up to 4 days */
        for (size_t i = 0; i < n; i++) {
            tess__value *r = &rows[i * NCOLS];
            r[C_USER] = (tess__value){.type = TESS_T_INT64, .u.i = 1};
            /* now and then an outlier (|x| >= 2^96): sums then depend on the merge order,
               and a read must merge in the window engine's order */
            double x = rnd(&s) % 200 ? (double)(rnd(&s) % 100000) / 100.0 - 100.0 : 1e30;
            r[C_AMOUNT] = (tess__value){.type = TESS_T_FLOAT64, .u.f = x};
            const char *nm = names[rnd(&s) % 3];
            r[C_NAME] = (tess__value){.type = TESS_T_STRING, .u.s = {nm, strlen(nm)}};
            r[C_TS] = (tess__value){.type = TESS_T_TIMESTAMP,
                                    .u.i = t0 + (int64_t)(rnd(&s) % (uint64_t)span)};
            seq[i] = (int64_t)i;
        }
        /* chunks in event order mostly, some late: written at moving times */
        ent e = {0};
        int64_t now = t0;
        for (size_t at = 0; at < n;) {
            size_t k = 1 + rnd(&s) % 20;
            if (k > n - at) k = n - at;
            int64_t newest = INT64_MIN;
            for (size_t i = at; i < at + k; i++)
                if (rows[i * NCOLS + C_TS].u.i > newest) newest = rows[i * NCOLS + C_TS].u.i;
            /* now: often past the chunk (late rows fold in), sometimes before it (future rows) */
            int64_t cand = rnd(&s) % 4 ? newest + (int64_t)(rnd(&s) % (3 * HOUR)) : newest - HOUR;
            if (cand > now) now = cand;
            write_rows(f, &e, &rows[at * NCOLS], &seq[at], k, now);
            at += k;
        }
        for (int q = 0; q < 6; q++) {
            int64_t t = now + (q == 0 ? 0 : (int64_t)(rnd(&s) % (50 * HOUR)));
            tess__arena a = TESS__ARENA_INIT;
            tess__value got[NFEAT], want[NFEAT];
            int gs[NFEAT], ws[NFEAT];
            bool asked;
            read_all(f, &e, t, &a, got, gs, &asked);
            expect(f, rows, seq, n, t, &a, want, ws);
            asked_total += asked;
            for (size_t i = 0; i < NFEAT; i++)
                if (!same(&got[i], &want[i]) || gs[i] != ws[i])
                    fail_msg("seed %llu round %d: feature %zu at t+%lld us differs (status %d vs "
                             "%d)", (unsigned long long)f->seed, round, i,
                             (long long)(t - now), gs[i], ws[i]);
            tess__arena_release(&a);
        }
        ent_release(&e);
        free(rows);
        free(seq);
    }
    assert_true(asked_total > 0); /* reads outside the bucket did go to the history */
}

/* The same on view w, whose windows all end: a read long after the write reads no history. */
static void test_oracle_no_lifetime(void **state)
{
    test_oracle(state);
}

/* A read outside the write's bucket asks for the history; another write's history is stale;
 * a write with a damaged or missing history fails and writes nothing. */
static void test_history_checks(void **state)
{
    fx *f = *state;
    int64_t t0 = 1767225600000000LL;
    tess__value rows[3 * NCOLS];
    int64_t seq[3] = {1, 2, 3};
    for (int i = 0; i < 3; i++) {
        tess__value *r = &rows[i * NCOLS];
        r[C_USER] = (tess__value){.type = TESS_T_INT64, .u.i = 7};
        r[C_AMOUNT] = (tess__value){.type = TESS_T_FLOAT64, .u.f = 1.5 * (i + 1)};
        r[C_NAME] = (tess__value){.type = TESS_T_STRING, .u.s = {"x", 1}};
        r[C_TS] = (tess__value){.type = TESS_T_TIMESTAMP, .u.i = t0 + i * 5 * HOUR};
    }
    ent e = {0};
    write_rows(f, &e, rows, seq, 3, t0 + 11 * HOUR);
    assert_true(e.has_hist); /* tiles at 0h and 5h are before the write's bucket (11h) */
    size_t which[NFEAT];
    for (size_t i = 0; i < NFEAT; i++) which[i] = i;
    tess__value v[NFEAT];
    int st[NFEAT];
    int64_t ts[NFEAT];
    tess__arena a = TESS__ARENA_INIT;
    tess__err err = TESS__ERR_INIT;
    /* in the bucket: the head alone */
    assert_int_equal(tess__oview_eval(f->ov, e.head.p, e.head.len, NULL, 0, t0 + 11 * HOUR + 5,
                                      which, NFEAT, &a, v, st, ts, &err), TESS_OK);
    /* later: the history is needed */
    assert_int_equal(tess__oview_eval(f->ov, e.head.p, e.head.len, NULL, 0, t0 + 13 * HOUR,
                                      which, NFEAT, &a, v, st, ts, &err), TESS__OVIEW_NEED_HISTORY);
    /* a history of an older write: stale */
    tess__buf old = TESS__BUF_INIT;
    assert_int_equal(tess__buf_append(&old, e.hist.p, e.hist.len), TESS_OK);
    tess__value late[NCOLS];
    memcpy(late, rows, sizeof(late));
    late[C_TS].u.i = t0 + 1; /* a late row: lands in the 0h tile, in the history */
    int64_t lseq = 4;
    write_rows(f, &e, late, &lseq, 1, t0 + 11 * HOUR);
    assert_int_equal(tess__oview_eval(f->ov, e.head.p, e.head.len, old.p, old.len, t0 + 13 * HOUR,
                                      which, NFEAT, &a, v, st, ts, &err), TESS__OVIEW_STALE_HISTORY);
    assert_int_equal(tess__oview_eval(f->ov, e.head.p, e.head.len, e.hist.p, e.hist.len,
                                      t0 + 13 * HOUR, which, NFEAT, &a, v, st, ts, &err), TESS_OK);
    assert_int_equal(v[6].u.i, 4); /* n_all: every row, the late one too */
    /* a write that needs the history (a new bucket) and finds it damaged or missing */
    e.hist.p[e.hist.len / 2] ^= 0x40;
    tess__buf out = TESS__BUF_INIT, hout = TESS__BUF_INIT;
    int op;
    late[C_TS].u.i = t0 + 20 * HOUR;
    assert_int_equal(tess__oview_apply(f->ov, e.head.p, e.head.len, hist_of, &e, late, &lseq, 1,
                                       t0 + 20 * HOUR, &a, &out, &hout, &op, &err), TESS_EIO);
    e.has_hist = false;
    assert_int_equal(tess__oview_apply(f->ov, e.head.p, e.head.len, hist_of, &e, late, &lseq, 1,
                                       t0 + 20 * HOUR, &a, &out, &hout, &op, &err), TESS_EIO);
    assert_non_null(strstr(tess__err_msg(&err), "missing"));
    tess__buf_release(&out);
    tess__buf_release(&hout);
    tess__buf_release(&old);
    tess__arena_release(&a);
    tess__err_release(&err);
    ent_release(&e);
}

/* The key layout (record.h): 'v' view '#' gg NUL entity, the group the hash of the encoded
 * entity key (TESS__OVIEW_GROUPS of them, a cluster's; one: group 00); the history and meta
 * keys of the same group; one view's prefix holds every head
 * of it ("w"'s heads start "vw#"); 20000 users cover all 256 groups, each near 1/256. */
static void test_keys_and_groups(void **state)
{
    fx *f = *state;
    tess__buf k = TESS__BUF_INIT, k2 = TESS__BUF_INIT, pre = TESS__BUF_INIT;
    unsigned count[TESS__OVIEW_GROUPS] = {0};
    assert_int_equal(tess__oview_prefix(f->ov, &pre), TESS_OK);
    assert_int_equal(pre.len, 3);
    assert_memory_equal(pre.p, "vv#", 3);
    for (int64_t u = -10000; u < 10000; u++) {
        tess__value key = {.type = TESS_T_INT64, .u.i = u};
        tess__buf_reset(&k);
        assert_int_equal(tess__oview_key(f->ov, TESS__OVIEW_GROUPS, &key, &k), TESS_OK);
        tess__str view, ekey;
        uint32_t g;
        assert_int_equal(tess__oview_key_parts((tess__str){k.p, k.len}, &view, &g, &ekey), TESS_OK);
        assert_int_equal(view.n, 1);
        assert_int_equal(view.p[0], 'v');
        assert_int_equal(ekey.n, 8);
        assert_int_equal(g, tess__oview_group_of(ekey, TESS__OVIEW_GROUPS));
        assert_memory_equal(k.p, pre.p, pre.len);
        count[g]++;
        /* the same key from the encoded entity */
        tess__buf_reset(&k2);
        assert_int_equal(tess__oview_key_of(f->ov, TESS__OVIEW_GROUPS, ekey, &k2), TESS_OK);
        assert_int_equal(k2.len, k.len);
        assert_memory_equal(k2.p, k.p, k.len);
        /* the history key: the same group (the same hash tag) */
        tess__buf_reset(&k2);
        assert_int_equal(tess__oview_hist_key((tess__str){k.p, k.len}, &k2), TESS_OK);
        uint32_t hg;
        assert_int_equal(tess__oview_key_parts((tess__str){k2.p, k2.len}, NULL, &hg, NULL), TESS_OK);
        assert_int_equal(hg, g);
        assert_int_equal(k2.p[0], 'h');
        /* the group's meta key has the same tag: the bytes after the first, up to the NUL */
        tess__buf_reset(&k2);
        assert_int_equal(tess__oview_meta_key(f->ov, g, &k2), TESS_OK);
        assert_int_equal(k2.len, 1 + (strchr(k.p + 1, '\0') - (k.p + 1)));
        assert_memory_equal(k2.p + 1, k.p + 1, k2.len - 1);
        uint32_t mg;
        assert_int_equal(tess__oview_key_parts((tess__str){k2.p, k2.len}, NULL, &mg, &ekey), TESS_OK);
        assert_int_equal(mg, g);
        assert_int_equal(ekey.n, 0);
        /* a back end of one group (LMDB, one Redis): every entity in group 00 */
        tess__buf_reset(&k2);
        assert_int_equal(tess__oview_key(f->ov, 1, &key, &k2), TESS_OK);
        assert_int_equal(tess__oview_key_parts((tess__str){k2.p, k2.len}, NULL, &mg, NULL), TESS_OK);
        assert_int_equal(mg, 0);
        assert_memory_equal(k2.p, "vv#00\0", 6);
    }
    for (unsigned g = 0; g < TESS__OVIEW_GROUPS; g++) {
        assert_true(count[g] > 30); /* 78 each on average */
        assert_true(count[g] < 160);
    }
    /* not keys of the layout */
    assert_int_equal(tess__oview_key_parts((tess__str){"vv\0\x80", 4}, NULL, NULL, NULL), TESS_EINVAL);
    assert_int_equal(tess__oview_key_parts((tess__str){"mv#0", 4}, NULL, NULL, NULL), TESS_EINVAL);
    assert_int_equal(tess__oview_key_parts((tess__str){"vv#0g\0x", 6}, NULL, NULL, NULL), TESS_EINVAL);
    assert_int_equal(tess__oview_key_parts((tess__str){"vv#00x", 6}, NULL, NULL, NULL), TESS_EINVAL);
    tess__buf_release(&k);
    tess__buf_release(&k2);
    tess__buf_release(&pre);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_oracle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oracle_no_lifetime, setup_w, teardown),
        cmocka_unit_test_setup_teardown(test_history_checks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keys_and_groups, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
