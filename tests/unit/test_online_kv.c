/* test_online_kv.c — the conformance suite of the online store's key-value interface (kv.h).
 *
 * Every test is written against kv.h alone and runs once per back end in BACKENDS (LMDB,
 * Redis and Redis Cluster). A back end's row says how to make a fresh, empty store
 * for one test (setup) and which URL and directory tess__kv_open gets; tests that need a store
 * living in a local directory (damaged files, map size) check `local` and skip otherwise, and
 * the few tests about a Redis server itself (restarts, timeouts, its URLs: test_redis_*) or
 * a cluster (test_cluster_*) run on that row only, those of a lock lease (test_lease_*) on
 * both Redis rows. Test names are "<back end>/<test>".
 *
 * Keys that a test needs in one snapshot or one transaction share a hash tag (kv.h: the bytes
 * after the first one, up to the first NUL), e.g. "snap\0A" and "snap\0B": in a cluster only
 * the keys of one slot are read in one snapshot and written in one transaction.
 *
 * Redis: the binary starts its own redis-server (`--save '' --appendonly no`) on a free
 * loopback port before the first test, and kills it at exit (also when a test fails; the
 * server dies with this process through PR_SET_PDEATHSIG if it crashes). Each test gets the
 * database 3 after a FLUSHALL. Redis Cluster: three more redis-servers (--cluster-enabled yes,
 * each in its own directory, on free loopback ports whose bus ports, +10000, are free too),
 * joined by `redis-cli --cluster create` (three masters, no replicas); each test gets them
 * flushed, every node up and the cluster's state ok. Without redis-server (and redis-cli) on
 * the PATH the Redis rows are skipped, saying so; a server that does not start is a failure.
 *
 * Random tests compare the store with an in-memory model (a sorted array of keys and values)
 * over thousands of operations. The seed is printed with every failure; rerun one with
 * TESS_SEED=<seed> (and TESS_KV_OPS=<n> to change the number of random operations).
 *
 * LMDB stores go under TESS_TEST_TMP, else /dev/shm when it has 1 GiB free (each commit
 * fsyncs: on a disk the suite would wait for thousands of flushes), else $TMPDIR or /tmp.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "online/kv.h"
#include "tessera.h"

/* ---- back ends ------------------------------------------------------------------------------ */

typedef struct fixture fixture;

typedef struct backend {
    const char *name;
    const char *url;             /* given to tess__kv_open */
    bool local;                  /* the store is a local directory (file-system tests apply) */
    int (*setup)(fixture *f);    /* make a fresh, empty store for one test */
    void (*teardown)(fixture *f);
} backend;

struct fixture {
    const backend *be;
    char root[512]; /* scratch directory of the test */
    char dir[600];  /* the store directory given to tess__kv_open */
    uint64_t seed;
};

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(p);
}

static const char *tmp_base(void)
{
    const char *t = getenv("TESS_TEST_TMP");
    if (t && *t) return t;
    struct statvfs vs;
    if (access("/dev/shm", W_OK) == 0 && statvfs("/dev/shm", &vs) == 0 &&
        (uint64_t)vs.f_bavail * vs.f_frsize >= (1ull << 30)) /* docker's default is 64 MB */
        return "/dev/shm";
    t = getenv("TMPDIR");
    return t && *t ? t : "/tmp";
}

static int lmdb_setup(fixture *f)
{
    snprintf(f->root, sizeof(f->root), "%s/tess-kv.XXXXXX", tmp_base());
    if (!mkdtemp(f->root)) return -1;
    snprintf(f->dir, sizeof(f->dir), "%s/online", f->root);
    return 0;
}

static void lmdb_teardown(fixture *f)
{
    nftw(f->root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- the redis-server of this test binary ----------------------------------------------- */

static struct {
    pid_t pid;      /* 0: not running */
    int port;
    char dir[512];  /* its working directory (and log) */
    char url[128];  /* the URL the tests open: database 3 */
} rs;

/* A TCP port on 127.0.0.1 that nothing listens on right now. */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t n = sizeof(a);
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &n) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0) close(fd);
    return port;
}

static bool on_path(const char *prog)
{
    const char *path = getenv("PATH");
    char buf[1024];
    while (path && *path) {
        size_t n = strcspn(path, ":");
        snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, path, prog);
        if (access(buf, X_OK) == 0) return true;
        path += n + (path[n] == ':');
    }
    return false;
}

static redisContext *rs_connect(void)
{
    redisContext *c = redisConnectWithTimeout("127.0.0.1", rs.port, (struct timeval){1, 0});
    if (c && c->err) {
        redisFree(c);
        return NULL;
    }
    if (c) redisSetTimeout(c, (struct timeval){5, 0});
    return c;
}

/* Runs one command on a fresh connection; true if Redis answered without an error. */
static bool rs_command(const char *cmd)
{
    redisContext *c = rs_connect();
    if (!c) return false;
    redisReply *r = redisCommand(c, cmd);
    bool ok = r && r->type != REDIS_REPLY_ERROR;
    if (r) freeReplyObject(r);
    redisFree(c);
    return ok;
}

static void rs_stop(int sig)
{
    if (rs.pid <= 0) return;
    kill(rs.pid, SIGCONT); /* a test may have stopped it */
    kill(rs.pid, sig);
    waitpid(rs.pid, NULL, 0);
    rs.pid = 0;
}

static void rs_atexit(void)
{
    rs_stop(SIGKILL);
    if (rs.dir[0]) nftw(rs.dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Starts redis-server on rs.port (rs.port 0: a free port) and waits until it answers. */
static int rs_start(void)
{
    for (int attempt = 0; attempt < 5; attempt++) {
        if (!rs.port || attempt > 0) rs.port = free_port();
        char port[16], log[600];
        snprintf(port, sizeof(port), "%d", rs.port);
        snprintf(log, sizeof(log), "%s/redis.log", rs.dir);
        pid_t pid = fork();
        if (pid < 0) return -1;
        if (pid == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the tests */
            int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
            if (fd >= 0) {
                dup2(fd, 1);
                dup2(fd, 2);
            }
            execlp("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1",
                   "--save", "", "--appendonly", "no", "--daemonize", "no", "--dir", rs.dir,
                   (char *)NULL);
            _exit(127);
        }
        rs.pid = pid;
        for (int i = 0; i < 200; i++) { /* up to 10 s */
            if (rs_command("PING")) return 0;
            if (waitpid(pid, NULL, WNOHANG) == pid) { /* it exited: the port was taken? */
                rs.pid = 0;
                break;
            }
            usleep(50000);
        }
        rs_stop(SIGKILL);
    }
    fprintf(stderr, "[  ERROR   ] redis-server did not start (see %s/redis.log)\n", rs.dir);
    return -1;
}

static int redis_setup(fixture *f)
{
    if (lmdb_setup(f) != 0) return -1; /* a scratch directory (the URL names the store) */
    if (rs.pid > 0) kill(rs.pid, SIGCONT); /* a failed test may have left it stopped */
    if (!rs_command("FLUSHALL")) { /* a failed test may have left it down */
        rs_stop(SIGKILL);
        if (rs_start() != 0 || !rs_command("FLUSHALL")) return -1;
    }
    return 0;
}

static void redis_teardown(fixture *f)
{
    lmdb_teardown(f);
}


/* ---- the Redis Cluster of this test binary: three masters -------------------------------- */

#define CN 3

static struct {
    pid_t pid[CN];   /* 0: not running */
    int port[CN];
    char dir[512];   /* node i works in <dir>/<i> (its nodes.conf survives a restart) */
    char url[256];   /* redis-cluster://127.0.0.1:p0,127.0.0.1:p1,127.0.0.1:p2 */
    int migrating;   /* a slot a test left half-migrated (-1: none) */
} cs = {.migrating = -1};

/* A port whose cluster bus port (+10000) is free too. */
static int free_cluster_port(void)
{
    for (int i = 0; i < 200; i++) {
        int p = free_port();
        if (p <= 0 || p > 55000) continue;
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                                .sin_port = htons((uint16_t)(p + 10000))};
        bool ok = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
        if (fd >= 0) close(fd);
        if (ok) return p;
    }
    return -1;
}

/* One command to node i on a fresh connection (NULL: no answer). */
static redisReply *node_cmd(int i, const char *fmt, ...)
{
    redisContext *c = redisConnectWithTimeout("127.0.0.1", cs.port[i], (struct timeval){1, 0});
    if (!c || c->err) {
        if (c) redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, (struct timeval){5, 0});
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    redisFree(c);
    return r;
}

static bool node_ok(int i, const char *cmd)
{
    redisReply *r = node_cmd(i, cmd);
    bool ok = r && r->type != REDIS_REPLY_ERROR;
    if (r) freeReplyObject(r);
    return ok;
}

static void cs_stop(int i, int sig)
{
    if (cs.pid[i] <= 0) return;
    kill(cs.pid[i], SIGCONT);
    kill(cs.pid[i], sig);
    waitpid(cs.pid[i], NULL, 0);
    cs.pid[i] = 0;
}

static void cs_atexit(void)
{
    for (int i = 0; i < CN; i++) cs_stop(i, SIGKILL);
    if (cs.dir[0]) nftw(cs.dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Starts node i (again: it rejoins with its nodes.conf) and waits until it answers. */
static int cs_spawn(int i)
{
    char port[16], dir[600], log[700];
    snprintf(port, sizeof(port), "%d", cs.port[i]);
    snprintf(dir, sizeof(dir), "%s/%d", cs.dir, i);
    snprintf(log, sizeof(log), "%s/redis.log", dir);
    mkdir(dir, 0700);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execlp("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1", "--save",
               "", "--appendonly", "no", "--daemonize", "no", "--dir", dir, "--cluster-enabled",
               "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "3000",
               (char *)NULL);
        _exit(127);
    }
    cs.pid[i] = pid;
    for (int t = 0; t < 200; t++) { /* up to 10 s */
        if (node_ok(i, "PING")) return 0;
        if (waitpid(pid, NULL, WNOHANG) == pid) {
            cs.pid[i] = 0;
            return -1;
        }
        usleep(50000);
    }
    cs_stop(i, SIGKILL);
    return -1;
}

/* Every node up, agreeing that the cluster is ok and that it has CN masters. */
static bool cs_healthy(void)
{
    for (int i = 0; i < CN; i++) {
        redisReply *r = node_cmd(i, "CLUSTER INFO");
        bool ok = r && r->type == REDIS_REPLY_STRING && strstr(r->str, "cluster_state:ok") &&
                  strstr(r->str, "cluster_known_nodes:3") && strstr(r->str, "cluster_size:3");
        if (r) freeReplyObject(r);
        if (!ok) return false;
    }
    return true;
}

static int cs_wait_healthy(void)
{
    for (int t = 0; t < 400; t++) { /* up to 20 s */
        if (cs_healthy()) return 0;
        usleep(50000);
    }
    fprintf(stderr, "[  ERROR   ] the test cluster is not ok (see %s/*/redis.log)\n", cs.dir);
    return -1;
}

static int cs_start(void)
{
    char *argv[CN + 8];
    char addr[CN][32];
    int n = 0;
    argv[n++] = "redis-cli";
    argv[n++] = "--cluster";
    argv[n++] = "create";
    for (int i = 0; i < CN; i++) {
        cs.port[i] = free_cluster_port();
        if (cs.port[i] < 0 || cs_spawn(i) != 0) {
            fprintf(stderr, "[  ERROR   ] cluster node %d did not start (see %s)\n", i, cs.dir);
            return -1;
        }
        snprintf(addr[i], sizeof(addr[i]), "127.0.0.1:%d", cs.port[i]);
        argv[n++] = addr[i];
    }
    argv[n++] = "--cluster-yes";
    argv[n] = NULL;
    char log[600];
    snprintf(log, sizeof(log), "%s/create.log", cs.dir);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execvp("redis-cli", argv);
        _exit(127);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "[  ERROR   ] redis-cli --cluster create failed (see %s)\n", log);
        return -1;
    }
    snprintf(cs.url, sizeof(cs.url), "redis-cluster://%s,%s,%s", addr[0], addr[1], addr[2]);
    return cs_wait_healthy();
}

/* The node that serves hash slot `slot` (-1: unknown). */
static int cs_slot_owner(int slot)
{
    redisReply *r = node_cmd(0, "CLUSTER SLOTS");
    int owner = -1;
    for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
        redisReply *e = r->element[i];
        if (e->element[0]->integer <= slot && slot <= e->element[1]->integer)
            for (int j = 0; j < CN; j++)
                if (e->element[2]->element[1]->integer == cs.port[j]) owner = j;
    }
    if (r) freeReplyObject(r);
    return owner;
}

static int cluster_setup(fixture *f)
{
    if (lmdb_setup(f) != 0) return -1;
    bool restarted = false;
    for (int i = 0; i < CN; i++) {
        if (cs.pid[i] > 0) kill(cs.pid[i], SIGCONT); /* a failed test may have left it stopped */
        if (!node_ok(i, "PING")) {
            cs_stop(i, SIGKILL);
            if (cs_spawn(i) != 0) return -1;
            restarted = true;
        }
    }
    if (cs.migrating >= 0) { /* a failed test left a slot half-migrated */
        for (int i = 0; i < CN; i++) {
            redisReply *r = node_cmd(i, "CLUSTER SETSLOT %d STABLE", cs.migrating);
            if (r) freeReplyObject(r);
        }
        cs.migrating = -1;
    }
    if ((restarted || !cs_healthy()) && cs_wait_healthy() != 0) return -1;
    for (int i = 0; i < CN; i++)
        if (!node_ok(i, "FLUSHALL")) return -1;
    return 0;
}

static const backend BACKENDS[] = {
    {"lmdb", NULL, true, lmdb_setup, lmdb_teardown},
    {"redis", rs.url, false, redis_setup, redis_teardown},
    {"redis-cluster", cs.url, false, cluster_setup, redis_teardown},
};

static bool is_redis(const fixture *f)
{
    return strcmp(f->be->name, "redis") == 0;
}

static bool is_cluster(const fixture *f)
{
    return strcmp(f->be->name, "redis-cluster") == 0;
}

/* Opens the test's store (fresh and empty at the start of each test). */
static int open_store(fixture *f, const tess__kv_opts *o, tess__kv **kv, tess__err *err)
{
    return tess__kv_open(f->be->url, f->dir, o, kv, err);
}

static tess__kv *must_open(fixture *f, const tess__kv_opts *o)
{
    tess__err err = TESS__ERR_INIT;
    tess__kv *kv = NULL;
    int rc = open_store(f, o, &kv, &err);
    if (rc != TESS_OK) fprintf(stderr, "[  ERROR   ] open: %d %s\n", rc, tess__err_msg(&err));
    assert_int_equal(rc, TESS_OK);
    tess__err_release(&err);
    return kv;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    if (!f) return -1;
    f->be = *state;
    const char *s = getenv("TESS_SEED");
    f->seed = s && *s ? strtoull(s, NULL, 10)
                      : ((uint64_t)time(NULL) * 2654435761u) ^ ((uint64_t)getpid() << 16);
    if (f->be->setup(f) != 0) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    f->be->teardown(f);
    free(f);
    return 0;
}

/* A failed check prints the seed (cmocka's asserts cannot). */
#define EXPECT(f, cond, ...)                                                                      \
    do {                                                                                          \
        if (!(cond)) {                                                                            \
            fprintf(stderr, "[  ERROR   ] %s:%d: seed %" PRIu64 " (rerun: TESS_SEED=%" PRIu64     \
                            "): ", __FILE__, __LINE__, (f)->seed, (f)->seed);                     \
            fprintf(stderr, __VA_ARGS__);                                                         \
            fprintf(stderr, "\n");                                                                \
            fail();                                                                               \
        }                                                                                         \
    } while (0)

#define EXPECT_OK(f, rc, err)                                                                     \
    EXPECT(f, (rc) == TESS_OK, "rc %d: %s", (int)(rc), tess__err_msg(err))

/* ---- random numbers ------------------------------------------------------------------------- */

static uint64_t rnd(uint64_t *s)
{
    /* splitmix64 */
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static size_t rndn(uint64_t *s, size_t n)
{
    return n ? (size_t)(rnd(s) % n) : 0;
}

/* ---- the model: a sorted array of (key, value) ------------------------------------------------ */

typedef struct mentry {
    char *k;
    size_t kn;
    char *v;
    size_t vn;
} mentry;

typedef struct model {
    mentry *e;
    size_t n, cap;
} model;

static int keycmp(const char *a, size_t an, const char *b, size_t bn)
{
    size_t m = an < bn ? an : bn;
    int c = m ? memcmp(a, b, m) : 0;
    if (c) return c;
    return an < bn ? -1 : an > bn;
}

/* Index of key, or of where it would go (*found says which). */
static size_t model_find(const model *m, const char *k, size_t kn, bool *found)
{
    size_t lo = 0, hi = m->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = keycmp(m->e[mid].k, m->e[mid].kn, k, kn);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    *found = false;
    return lo;
}

static char *dupmem(const char *p, size_t n)
{
    char *d = malloc(n + 1);
    assert_non_null(d);
    if (n) memcpy(d, p, n);
    d[n] = 0;
    return d;
}

static void model_set(model *m, const char *k, size_t kn, const char *v, size_t vn)
{
    bool found;
    size_t i = model_find(m, k, kn, &found);
    if (found) {
        free(m->e[i].v);
        m->e[i].v = dupmem(v, vn);
        m->e[i].vn = vn;
        return;
    }
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 64;
        m->e = realloc(m->e, m->cap * sizeof(mentry));
        assert_non_null(m->e);
    }
    memmove(m->e + i + 1, m->e + i, (m->n - i) * sizeof(mentry));
    m->e[i] = (mentry){dupmem(k, kn), kn, dupmem(v, vn), vn};
    m->n++;
}

static void model_del_at(model *m, size_t i)
{
    free(m->e[i].k);
    free(m->e[i].v);
    memmove(m->e + i, m->e + i + 1, (m->n - i - 1) * sizeof(mentry));
    m->n--;
}

static void model_del(model *m, const char *k, size_t kn)
{
    bool found;
    size_t i = model_find(m, k, kn, &found);
    if (found) model_del_at(m, i);
}

static const mentry *model_get(const model *m, const char *k, size_t kn)
{
    bool found;
    size_t i = model_find(m, k, kn, &found);
    return found ? &m->e[i] : NULL;
}

static bool starts_with(const char *k, size_t kn, const char *p, size_t pn)
{
    return kn >= pn && (pn == 0 || memcmp(k, p, pn) == 0);
}

static uint64_t model_drop_prefix(model *m, const char *p, size_t pn)
{
    uint64_t d = 0;
    for (size_t i = 0; i < m->n;) {
        if (starts_with(m->e[i].k, m->e[i].kn, p, pn)) {
            model_del_at(m, i);
            d++;
        } else {
            i++;
        }
    }
    return d;
}

static void model_free(model *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free(m->e[i].k);
        free(m->e[i].v);
    }
    free(m->e);
    *m = (model){0};
}

/* ---- scan collection -------------------------------------------------------------------------- */

typedef struct collected {
    model got; /* in the order the scan gave them (appended, not sorted) */
    int stop_after; /* >0: return 99 after this many */
} collected;

static int collect_fn(void *arg, tess__str key, tess__str val)
{
    collected *c = arg;
    model *m = &c->got;
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 64;
        m->e = realloc(m->e, m->cap * sizeof(mentry));
        if (!m->e) return -100;
    }
    if (!val.p && val.n) return -101;
    m->e[m->n++] = (mentry){dupmem(key.p, key.n), key.n, dupmem(val.p, val.n), val.n};
    if (c->stop_after > 0 && m->n == (size_t)c->stop_after) return 99;
    return 0;
}

/* Scans `prefix` and compares with the model, in order. */
static void check_scan(fixture *f, tess__kv *kv, const model *m, const char *p, size_t pn)
{
    tess__err err = TESS__ERR_INIT;
    collected c = {{0}, 0};
    int rc = tess__kv_scan(kv, (tess__str){p, pn}, collect_fn, &c, &err);
    EXPECT_OK(f, rc, &err);
    size_t j = 0;
    for (size_t i = 0; i < m->n; i++) {
        const mentry *e = &m->e[i];
        if (!starts_with(e->k, e->kn, p, pn)) continue;
        EXPECT(f, j < c.got.n, "scan of a %zu-byte prefix stopped after %zu keys", pn, j);
        const mentry *g = &c.got.e[j];
        EXPECT(f, g->kn == e->kn && memcmp(g->k, e->k, e->kn) == 0,
               "scan key %zu: got %zu bytes, model %zu bytes", j, g->kn, e->kn);
        EXPECT(f, g->vn == e->vn && (e->vn == 0 || memcmp(g->v, e->v, e->vn) == 0),
               "scan value %zu (key of %zu bytes): got %zu bytes, model %zu bytes", j, e->kn,
               g->vn, e->vn);
        j++;
    }
    EXPECT(f, j == c.got.n, "scan of a %zu-byte prefix: %zu keys, model %zu", pn, c.got.n, j);
    model_free(&c.got);
    tess__err_release(&err);
}

static void check_get(fixture *f, tess__kv *kv, const model *m, const tess__str *keys, size_t n)
{
    tess__err err = TESS__ERR_INIT;
    tess__arena arena = TESS__ARENA_INIT;
    tess__str *vals = calloc(n ? n : 1, sizeof(tess__str));
    int rc = tess__kv_get(kv, keys, n, vals, &arena, &err);
    EXPECT_OK(f, rc, &err);
    for (size_t i = 0; i < n; i++) {
        const mentry *e = model_get(m, keys[i].p, keys[i].n);
        if (!e) {
            EXPECT(f, vals[i].p == NULL && vals[i].n == 0,
                   "get %zu (key of %zu bytes): absent in the model, got %zu bytes", i,
                   keys[i].n, vals[i].n);
        } else {
            EXPECT(f, vals[i].p != NULL, "get %zu (key of %zu bytes): missing, model has %zu bytes",
                   i, keys[i].n, e->vn);
            EXPECT(f, vals[i].n == e->vn && memcmp(vals[i].p, e->v, e->vn) == 0,
                   "get %zu (key of %zu bytes): %zu bytes, model %zu bytes", i, keys[i].n,
                   vals[i].n, e->vn);
            EXPECT(f, vals[i].p[vals[i].n] == '\0', "get %zu: value not NUL-terminated", i);
        }
    }
    free(vals);
    tess__arena_release(&arena);
    tess__err_release(&err);
}

static void check_all(fixture *f, tess__kv *kv, const model *m)
{
    check_scan(f, kv, m, "", 0);
    tess__err err = TESS__ERR_INIT;
    uint64_t bytes = 0, keys = 0;
    int rc = tess__kv_stats(kv, &bytes, &keys, &err);
    EXPECT_OK(f, rc, &err);
    EXPECT(f, keys == m->n, "stats: %" PRIu64 " keys, model %zu", keys, m->n);
    tess__err_release(&err);
}

/* ---- random keys and values --------------------------------------------------------------------- */

static const char *const PREFIXES[] = {
    "u:",  "u:\0", "u:\0\0", "v\xff", "\xff\xff", "\xff", "\0", "m:item:", "m:itemx", "a",
};
static const size_t PREFIX_LEN[] = {2, 3, 4, 2, 2, 1, 1, 7, 7, 1};
#define NPREFIXES (sizeof(PREFIX_LEN) / sizeof(PREFIX_LEN[0]))

static const char ALPHABET[] = {0, 1, 'a', 'b', 0x7f, (char)0x80, (char)0xfe, (char)0xff};

/* A key into buf (at least TESS__KV_MAX_KEY bytes): often an existing key of the model. */
static size_t rnd_key(uint64_t *s, const model *m, char *buf)
{
    if (m->n && rndn(s, 2) == 0) {
        const mentry *e = &m->e[rndn(s, m->n)];
        memcpy(buf, e->k, e->kn);
        return e->kn;
    }
    size_t p = rndn(s, NPREFIXES);
    size_t n = PREFIX_LEN[p];
    memcpy(buf, PREFIXES[p], n);
    size_t extra = rndn(s, 100) == 0 ? TESS__KV_MAX_KEY - n - rndn(s, 80) : rndn(s, 5);
    for (size_t i = 0; i < extra; i++) buf[n++] = ALPHABET[rndn(s, sizeof(ALPHABET))];
    return n;
}

/* A value into *buf (grown as needed): empty, small, medium or (rarely) a few MB. */
static size_t rnd_val(uint64_t *s, char **buf, size_t *cap)
{
    size_t r = rndn(s, 1000), n;
    if (r < 80) n = 0;
    else if (r < 800) n = 1 + rndn(s, 40);
    else if (r < 996) n = 100 + rndn(s, 5000);
    else n = (1u << 20) + rndn(s, 3u << 20);
    if (n + 1 > *cap) {
        *cap = n + 1;
        *buf = realloc(*buf, *cap);
        assert_non_null(*buf);
    }
    uint64_t x = rnd(s);
    for (size_t i = 0; i < n; i++) {
        if ((i & 7) == 0) x = rnd(s);
        (*buf)[i] = (char)(x >> ((i & 7) * 8));
    }
    return n;
}

/* ---- update plans for the random test ------------------------------------------------------------ */

enum { P_SET, P_KEEP, P_DEL };

typedef struct plan {
    size_t n;
    int what[16];
    char *val[16];
    size_t vn[16];
    size_t abort_at; /* SIZE_MAX: no abort */
    /* what fn saw (the last call for each i: network back ends may retry) */
    char *old[16];
    size_t oldn[16];
    bool old_present[16];
} plan;

static int plan_fn(void *arg, tess__kv_txn *tx, size_t i, tess__str old, tess__str *nv, bool *del)
{
    plan *p = arg;
    if (i >= p->n) return -200;
    free(p->old[i]);
    p->old_present[i] = old.p != NULL;
    p->old[i] = old.p ? dupmem(old.p, old.n) : NULL;
    p->oldn[i] = old.n;
    if (i == p->abort_at) return 77;
    switch (p->what[i]) {
    case P_SET: *nv = (tess__str){p->val[i], p->vn[i]}; break;
    case P_DEL: *del = true; break;
    default: break;
    }
    return 0;
}

/* ---- tests ---------------------------------------------------------------------------------- */

/* Random puts, updates, deletes, drops, gets and scans against the model. */
static void test_random_ops(void **state)
{
    fixture *f = *state;
    uint64_t s = f->seed;
    const char *ops_env = getenv("TESS_KV_OPS");
    size_t nops = ops_env && *ops_env ? strtoul(ops_env, NULL, 10) : 3000;
    tess__kv *kv = must_open(f, NULL);
    tess__err err = TESS__ERR_INIT;
    model m = {0};
    char keybuf[16][TESS__KV_MAX_KEY];
    tess__str keys[16];
    char *vbuf[16] = {0};
    size_t vcap[16] = {0};

    for (size_t op = 0; op < nops; op++) {
        size_t r = rndn(&s, 100);
        size_t n = 1 + rndn(&s, 8);
        int rc;
        if (r < 30) { /* put, some deletes */
            tess__str vals[16];
            for (size_t i = 0; i < n; i++) {
                keys[i] = (tess__str){keybuf[i], rnd_key(&s, &m, keybuf[i])};
                if (rndn(&s, 6) == 0) {
                    vals[i] = (tess__str){NULL, 0};
                } else {
                    size_t vn = rnd_val(&s, &vbuf[i], &vcap[i]);
                    vals[i] = (tess__str){vbuf[i], vn};
                }
            }
            rc = tess__kv_put(kv, keys, vals, n, &err);
            EXPECT_OK(f, rc, &err);
            for (size_t i = 0; i < n; i++) {
                if (vals[i].p) model_set(&m, keys[i].p, keys[i].n, vals[i].p, vals[i].n);
                else model_del(&m, keys[i].p, keys[i].n);
            }
        } else if (r < 55) { /* update: set / keep / delete, repeated keys, sometimes abort */
            plan p = {0};
            p.n = n;
            p.abort_at = rndn(&s, 8) == 0 ? rndn(&s, n) : SIZE_MAX;
            for (size_t i = 0; i < n; i++) {
                if (i > 0 && rndn(&s, 4) == 0) keys[i] = keys[rndn(&s, i)]; /* a repeat */
                else keys[i] = (tess__str){keybuf[i], rnd_key(&s, &m, keybuf[i])};
                size_t w = rndn(&s, 10);
                p.what[i] = w < 6 ? P_SET : w < 8 ? P_KEEP : P_DEL;
                if (p.what[i] == P_SET) {
                    p.vn[i] = rnd_val(&s, &vbuf[i], &vcap[i]);
                    p.val[i] = vbuf[i];
                }
            }
            rc = tess__kv_update(kv, keys, n, plan_fn, &p, &err);
            if (p.abort_at != SIZE_MAX) {
                EXPECT(f, rc == 77, "update aborted by fn returned %d, not 77", rc);
            } else {
                EXPECT_OK(f, rc, &err);
            }
            /* replay on the model: what fn saw must be what the model had at that point */
            size_t upto = p.abort_at != SIZE_MAX ? p.abort_at + 1 : n;
            model shadow = {0};
            for (size_t i = 0; i < upto; i++) {
                const mentry *e = NULL;
                bool in_shadow = false;
                for (size_t j = 0; j < shadow.n; j++) {
                    if (keycmp(shadow.e[j].k, shadow.e[j].kn, keys[i].p, keys[i].n) == 0) {
                        e = shadow.e[j].v ? &shadow.e[j] : NULL;
                        in_shadow = true;
                    }
                }
                if (!in_shadow) e = model_get(&m, keys[i].p, keys[i].n);
                EXPECT(f, p.old_present[i] == (e != NULL),
                       "update op %zu key %zu: fn saw %s, model %s", op, i,
                       p.old_present[i] ? "a value" : "no value", e ? "a value" : "no value");
                if (e)
                    EXPECT(f, p.oldn[i] == e->vn && memcmp(p.old[i], e->v, e->vn) == 0,
                           "update op %zu key %zu: fn saw %zu bytes, model %zu", op, i,
                           p.oldn[i], e->vn);
                if (i == p.abort_at) break;
                /* shadow: the batch's own writes (v == NULL: deleted) */
                if (p.what[i] == P_KEEP) continue;
                size_t j = 0;
                while (j < shadow.n &&
                       keycmp(shadow.e[j].k, shadow.e[j].kn, keys[i].p, keys[i].n) != 0)
                    j++;
                if (j == shadow.n) {
                    shadow.e = realloc(shadow.e, (shadow.n + 1) * sizeof(mentry));
                    shadow.e[shadow.n++] = (mentry){dupmem(keys[i].p, keys[i].n), keys[i].n,
                                                    NULL, 0};
                }
                free(shadow.e[j].v);
                shadow.e[j].v = p.what[i] == P_SET ? dupmem(p.val[i], p.vn[i]) : NULL;
                shadow.e[j].vn = p.what[i] == P_SET ? p.vn[i] : 0;
            }
            if (p.abort_at == SIZE_MAX) {
                for (size_t j = 0; j < shadow.n; j++) {
                    if (shadow.e[j].v)
                        model_set(&m, shadow.e[j].k, shadow.e[j].kn, shadow.e[j].v,
                                  shadow.e[j].vn);
                    else
                        model_del(&m, shadow.e[j].k, shadow.e[j].kn);
                }
            }
            for (size_t j = 0; j < shadow.n; j++) {
                free(shadow.e[j].k);
                free(shadow.e[j].v);
            }
            free(shadow.e);
            for (size_t i = 0; i < n; i++) free(p.old[i]);
        } else if (r < 58) { /* drop a prefix: of the pool, or a cut of an existing key */
            char pb[TESS__KV_MAX_KEY];
            size_t pn;
            if (m.n && rndn(&s, 2)) {
                const mentry *e = &m.e[rndn(&s, m.n)];
                pn = 1 + rndn(&s, e->kn);
                memcpy(pb, e->k, pn);
            } else {
                size_t i = rndn(&s, NPREFIXES);
                pn = PREFIX_LEN[i];
                memcpy(pb, PREFIXES[i], pn);
            }
            uint64_t deleted = 12345;
            rc = tess__kv_drop_prefix(kv, (tess__str){pb, pn}, &deleted, &err);
            EXPECT_OK(f, rc, &err);
            uint64_t want = model_drop_prefix(&m, pb, pn);
            EXPECT(f, deleted == want, "drop_prefix of %zu bytes: %" PRIu64 " deleted, model %"
                   PRIu64, pn, deleted, want);
        } else if (r < 85) { /* batch get */
            n = 1 + rndn(&s, 12);
            for (size_t i = 0; i < n; i++)
                keys[i] = (tess__str){keybuf[i], rnd_key(&s, &m, keybuf[i])};
            check_get(f, kv, &m, keys, n);
        } else { /* scan a prefix: empty, of the pool, a whole key, a cut of a key */
            char pb[TESS__KV_MAX_KEY];
            size_t pn = 0, w = rndn(&s, 4);
            if (w == 1) {
                size_t i = rndn(&s, NPREFIXES);
                pn = PREFIX_LEN[i];
                memcpy(pb, PREFIXES[i], pn);
            } else if (w >= 2 && m.n) {
                const mentry *e = &m.e[rndn(&s, m.n)];
                pn = w == 2 ? e->kn : rndn(&s, e->kn + 1);
                memcpy(pb, e->k, pn);
            }
            check_scan(f, kv, &m, pb, pn);
        }
        if (op % 500 == 499) check_all(f, kv, &m);
    }
    check_all(f, kv, &m);
    tess__kv_close(kv);
    /* and all of it after reopening */
    kv = must_open(f, NULL);
    check_all(f, kv, &m);
    tess__kv_close(kv);
    for (int i = 0; i < 16; i++) free(vbuf[i]);
    model_free(&m);
    tess__err_release(&err);
}

/* update's contract, case by case. */
typedef struct upd {
    int abort_at;            /* index at which fn fails with 42, -1: never */
    const char *set[8];      /* new values (NULL: see del/keep) */
    bool del[8];
    char seen[8][32];        /* old values as fn saw them ("<absent>" if none) */
    size_t calls;
} upd;

static int upd_fn(void *arg, tess__kv_txn *tx, size_t i, tess__str old, tess__str *nv, bool *del)
{
    upd *u = arg;
    u->calls++;
    snprintf(u->seen[i], sizeof(u->seen[i]), "%.*s", old.p ? (int)old.n : 8,
             old.p ? old.p : "<absent>");
    if ((int)i == u->abort_at) return 42;
    if (u->del[i]) *del = true;
    else if (u->set[i]) *nv = (tess__str){u->set[i], strlen(u->set[i])};
    return 0;
}

/* The values of keys[0..n) (n <= 8) as text ("<absent>" if none). */
static void xget(fixture *f, tess__kv *kv, const tess__str *keys, size_t n, char out[][32])
{
    tess__str vals[8] = {{0}};
    tess__arena arena = TESS__ARENA_INIT;
    tess__err err = TESS__ERR_INIT;
    assert_true(n <= 8);
    int rc = tess__kv_get(kv, keys, n, vals, &arena, &err);
    EXPECT_OK(f, rc, &err);
    for (size_t i = 0; i < n; i++)
        snprintf(out[i], 32, "%.*s", vals[i].p ? (int)vals[i].n : 8,
                 vals[i].p ? vals[i].p : "<absent>");
    tess__arena_release(&arena);
    tess__err_release(&err);
}

/* The same for keys given as C strings. */
static void get_strs(fixture *f, tess__kv *kv, const char *const *ks, size_t n, char out[][32])
{
    tess__str keys[8] = {{0}};
    assert_true(n <= 8);
    for (size_t i = 0; i < n; i++) keys[i] = (tess__str){ks[i], strlen(ks[i])};
    xget(f, kv, keys, n, out);
}

static void test_update_semantics(void **state)
{
    fixture *f = *state;
    tess__kv *kv = must_open(f, NULL);
    tess__err err = TESS__ERR_INIT;
    const char *ks[] = {"a", "b", "c", "d"};
    tess__str keys[8];
    char got[8][32];
    for (int i = 0; i < 4; i++) keys[i] = (tess__str){ks[i], 1};

    /* set a, b, c */
    upd u = {.abort_at = -1, .set = {"a1", "b1", "c1"}};
    int rc = tess__kv_update(kv, keys, 3, upd_fn, &u, &err);
    EXPECT_OK(f, rc, &err);
    assert_string_equal(u.seen[0], "<absent>");
    get_strs(f, kv, ks, 4, got);
    assert_string_equal(got[0], "a1");
    assert_string_equal(got[2], "c1");
    assert_string_equal(got[3], "<absent>");

    /* fn fails at the third key after setting two: nothing is written, its code comes back */
    u = (upd){.abort_at = 2, .set = {"a2", "b2", "c2"}};
    rc = tess__kv_update(kv, keys, 3, upd_fn, &u, &err);
    assert_int_equal(rc, 42);
    get_strs(f, kv, ks, 3, got);
    assert_string_equal(got[0], "a1");
    assert_string_equal(got[1], "b1");
    assert_string_equal(got[2], "c1");

    /* repeated keys: the later occurrence sees the earlier new value; delete via *del;
     * {NULL, 0} keeps the key; a deleted key then re-set in the same batch */
    tess__str rk[6] = {{"a", 1}, {"a", 1}, {"b", 1}, {"c", 1}, {"c", 1}, {"a", 1}};
    u = (upd){.abort_at = -1, .set = {"a2", "a3", NULL, NULL, "c3", NULL}};
    u.del[2] = true;  /* b deleted */
    u.del[3] = true;  /* c deleted, then set again */
    rc = tess__kv_update(kv, rk, 6, upd_fn, &u, &err);
    EXPECT_OK(f, rc, &err);
    assert_string_equal(u.seen[0], "a1");
    assert_string_equal(u.seen[1], "a2");
    assert_string_equal(u.seen[2], "b1");
    assert_string_equal(u.seen[3], "c1");
    assert_string_equal(u.seen[4], "<absent>");
    assert_string_equal(u.seen[5], "a3");
    get_strs(f, kv, ks, 3, got);
    assert_string_equal(got[0], "a3");
    assert_string_equal(got[1], "<absent>");
    assert_string_equal(got[2], "c3");

    /* deleting an absent key is fine */
    u = (upd){.abort_at = -1};
    u.del[0] = true;
    rc = tess__kv_update(kv, &keys[3], 1, upd_fn, &u, &err);
    EXPECT_OK(f, rc, &err);

    /* an empty value is a value, not an absence */
    u = (upd){.abort_at = -1, .set = {""}};
    rc = tess__kv_update(kv, &keys[3], 1, upd_fn, &u, &err);
    EXPECT_OK(f, rc, &err);
    tess__str v;
    tess__arena arena = TESS__ARENA_INIT;
    rc = tess__kv_get(kv, &keys[3], 1, &v, &arena, &err);
    EXPECT_OK(f, rc, &err);
    assert_non_null(v.p);
    assert_int_equal(v.n, 0);
    u = (upd){.abort_at = -1, .set = {"d1"}};
    rc = tess__kv_update(kv, &keys[3], 1, upd_fn, &u, &err);
    EXPECT_OK(f, rc, &err);
    assert_string_equal(u.seen[0], "");

    /* an empty batch does nothing */
    rc = tess__kv_update(kv, keys, 0, upd_fn, &u, &err);
    EXPECT_OK(f, rc, &err);
    tess__arena_release(&arena);
    tess__err_release(&err);
    tess__kv_close(kv);
}

/* A new value that points into the old one's bytes (fn returning a slice of old). */
static int slice_fn(void *arg, tess__kv_txn *tx, size_t i, tess__str old, tess__str *nv, bool *del)
{
    (void)arg, (void)i, (void)del;
    if (old.p && old.n > 1) *nv = (tess__str){old.p + 1, old.n - 1};
    return 0;
}

static void test_update_aliasing(void **state)
{
    fixture *f = *state;
    tess__kv *kv = must_open(f, NULL);
    tess__err err = TESS__ERR_INIT;
    char big[6000];
    for (size_t i = 0; i < sizeof(big); i++) big[i] = (char)('a' + i % 26);
    tess__str keys[] = {{"k1", 2}, {"k2", 2}, {"k1", 2}};
    tess__str vals[] = {{big, sizeof(big)}, {big, 10}};
    int rc = tess__kv_put(kv, keys, vals, 2, &err);
    EXPECT_OK(f, rc, &err);
    rc = tess__kv_update(kv, keys, 3, slice_fn, NULL, &err);
    EXPECT_OK(f, rc, &err);
    tess__str got[2];
    tess__arena arena = TESS__ARENA_INIT;
    rc = tess__kv_get(kv, keys, 2, got, &arena, &err);
    EXPECT_OK(f, rc, &err);
    assert_int_equal(got[0].n, sizeof(big) - 2);
    assert_memory_equal(got[0].p, big + 2, sizeof(big) - 2);
    assert_int_equal(got[1].n, 9);
    assert_memory_equal(got[1].p, big + 1, 9);
    tess__arena_release(&arena);
    tess__err_release(&err);
    tess__kv_close(kv);
}

/* Other keys read and written through the update's transaction (a record kept as two keys). */
typedef struct side {
    int abort_at;
    char seen_x[8][32]; /* x as fn read it through tx, per call */
    tess__arena arena;
    tess__err *err;
} side;

static int side_fn(void *arg, tess__kv_txn *tx, size_t i, tess__str old, tess__str *nv, bool *del)
{
    side *sd = arg;
    tess__str x;
    int rc = tess__kv_txn_get(tx, (tess__str){"x", 1}, &sd->arena, &x, sd->err);
    if (rc) return rc;
    snprintf(sd->seen_x[i], 32, "%.*s", x.p ? (int)x.n : 8, x.p ? x.p : "<absent>");
    /* x grows by one character per call; y is deleted; the key itself becomes "v<i>" */
    char buf[40];
    int n = snprintf(buf, sizeof buf, "%.*s%c", x.p ? (int)x.n : 0, x.p ? x.p : "", (char)('0' + i));
    if ((rc = tess__kv_txn_put(tx, (tess__str){"x", 1}, (tess__str){buf, (size_t)n}, sd->err)))
        return rc;
    if ((rc = tess__kv_txn_put(tx, (tess__str){"y", 1}, (tess__str){NULL, 0}, sd->err))) return rc;
    /* the old value must still be readable after the writes were queued */
    if (old.p && old.n && old.p[0] != 'o' && old.p[0] != 'v' && old.p[0] != '0') return 43;
    if ((int)i == sd->abort_at) return 42;
    char *v = tess__arena_alloc(&sd->arena, 2);
    v[0] = 'v';
    v[1] = (char)('0' + i);
    *nv = (tess__str){v, 2};
    (void)del;
    return 0;
}

static void test_update_txn(void **state)
{
    fixture *f = *state;
    tess__kv *kv = must_open(f, NULL);
    tess__err err = TESS__ERR_INIT;
    const char *ks[] = {"a", "b", "x", "y"};
    char got[8][32];
    tess__str pk[] = {{"a", 1}, {"y", 1}};
    tess__str pv[] = {{"old", 3}, {"yy", 2}};
    int rc = tess__kv_put(kv, pk, pv, 2, &err);
    EXPECT_OK(f, rc, &err);

    /* three calls: each reads x as the previous one left it; a later key of the batch that
       was written through tx (x) is read with that value */
    tess__str keys[] = {{"a", 1}, {"b", 1}, {"x", 1}};
    side sd = {.abort_at = -1, .arena = TESS__ARENA_INIT, .err = &err};
    rc = tess__kv_update(kv, keys, 3, side_fn, &sd, &err);
    EXPECT_OK(f, rc, &err);
    assert_string_equal(sd.seen_x[0], "<absent>");
    assert_string_equal(sd.seen_x[1], "0");
    assert_string_equal(sd.seen_x[2], "01");
    get_strs(f, kv, ks, 4, got);
    assert_string_equal(got[0], "v0");
    assert_string_equal(got[1], "v1");
    assert_string_equal(got[2], "012"); /* written through tx after the key's own new value */
    assert_string_equal(got[3], "<absent>");

    /* an aborted update writes nothing, through tx either */
    rc = tess__kv_put(kv, pk + 1, pv + 1, 1, &err);
    EXPECT_OK(f, rc, &err);
    sd.abort_at = 1;
    rc = tess__kv_update(kv, keys, 3, side_fn, &sd, &err);
    assert_int_equal(rc, 42);
    get_strs(f, kv, ks, 4, got);
    assert_string_equal(got[0], "v0");
    assert_string_equal(got[2], "012");
    assert_string_equal(got[3], "yy");

    tess__arena_release(&sd.arena);
    tess__err_release(&err);
    tess__kv_close(kv);
}

/* ---- key expiry (kv.h tess__kv_txn_expire) ---------------------------------------------------- */

/* The keys of the expiry test share one hash tag ("exp"): one update may touch them all. */
#define XK(c) ((tess__str){"xexp\0" c, 6})

/* An update's fn for the expiry test: per batch key, a value to set (NULL: leave it; "-":
 * delete it) and an expiry to ask for it (0: none), asked before the write is made; the call
 * for key 0 also writes each `side` key through the transaction, with an expiry of side_ms
 * (0: none) asked after the write, and then fails with 42 if `abort`. */
typedef struct xupd {
    const char *set[8];
    uint64_t ms[8];
    tess__str side[4];
    size_t nside;
    uint64_t side_ms;
    bool abort;
    const tess__str *keys;
    tess__err *err;
} xupd;

static int xupd_fn(void *arg, tess__kv_txn *tx, size_t i, tess__str old, tess__str *nv, bool *del)
{
    xupd *u = arg;
    (void)old;
    int rc = u->ms[i] ? tess__kv_txn_expire(tx, u->keys[i], u->ms[i], u->err) : TESS_OK;
    for (size_t k = 0; !rc && i == 0 && k < u->nside; k++) {
        rc = tess__kv_txn_put(tx, u->side[k], (tess__str){"side", 4}, u->err);
        if (!rc && u->side_ms) rc = tess__kv_txn_expire(tx, u->side[k], u->side_ms, u->err);
    }
    if (rc) return rc;
    if (i == 0 && u->abort) return 42;
    if (u->set[i] && strcmp(u->set[i], "-") == 0) *del = true;
    else if (u->set[i]) *nv = (tess__str){u->set[i], strlen(u->set[i])};
    return 0;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Keys given an expiry read back as written before it; Redis (and a cluster) drops them after
 * it, LMDB keeps them; a write without an expiry makes a key lasting again; an expiry alone
 * (a key the update does not write) applies; an aborted update's expiries do nothing. Never
 * asserts on timing: the drop is polled for, with a cap of seconds. */
static void test_expire(void **state)
{
    fixture *f = *state;
    tess__kv *kv = must_open(f, NULL);
    tess__err err = TESS__ERR_INIT;
    bool drops = !f->be->local; /* Redis and Redis Cluster drop expired keys; LMDB keeps them */
    const uint64_t SHORT = 300;
    char got[8][32];

    /* "c" exists, lasting; "e" exists, lasting */
    tess__str pk[] = {XK("c"), XK("e")};
    tess__str pv[] = {{"c0", 2}, {"e0", 2}};
    int rc = tess__kv_put(kv, pk, pv, 2, &err);
    EXPECT_OK(f, rc, &err);

    /* one update: a (set, short expiry), b (through tx, short expiry), c (left as it is,
       short expiry: PEXPIRE alone), d (set with a short expiry, rewritten below without),
       g (set, a long expiry), h (deleted, with an expiry: stays absent) */
    tess__str keys[] = {XK("a"), XK("c"), XK("d"), XK("g"), XK("h")};
    xupd u = {.set = {"a1", NULL, "d1", "g1", "-"}, .ms = {SHORT, SHORT, SHORT, 600000, SHORT},
              .side = {XK("b")}, .nside = 1, .side_ms = SHORT, .keys = keys, .err = &err};
    int64_t t0 = mono_ms();
    rc = tess__kv_update(kv, keys, 5, xupd_fn, &u, &err);
    EXPECT_OK(f, rc, &err);
    tess__str all[] = {XK("a"), XK("b"), XK("c"), XK("d"), XK("e"), XK("g"), XK("h")};
    xget(f, kv, all, 7, got);
    if (mono_ms() - t0 < (int64_t)SHORT - 50) { /* read before the expiry: as written */
        assert_string_equal(got[0], "a1");
        assert_string_equal(got[1], "side");
        assert_string_equal(got[2], "c0");
        assert_string_equal(got[3], "d1");
    }
    assert_string_equal(got[5], "g1");
    assert_string_equal(got[6], "<absent>");

    /* d written again without an expiry: lasting again (SET clears the expiry) */
    tess__str dk[] = {XK("d")};
    xupd w = {.set = {"d2"}, .keys = dk, .err = &err};
    rc = tess__kv_update(kv, dk, 1, xupd_fn, &w, &err);
    EXPECT_OK(f, rc, &err);
    /* e: an update that asks for an expiry of e and then aborts leaves e lasting */
    tess__str ek[] = {XK("e")};
    xupd ab = {.set = {"e1"}, .ms = {SHORT}, .side = {XK("f")}, .nside = 1, .side_ms = SHORT,
               .abort = true, .keys = ek, .err = &err};
    assert_int_equal(tess__kv_update(kv, ek, 1, xupd_fn, &ab, &err), 42);

    /* the short expiries pass: on Redis a, b and c go (polled, up to 10 s); LMDB keeps them */
    if (drops) {
        bool gone = false;
        for (int i = 0; i < 200 && !gone; i++) {
            xget(f, kv, all, 3, got);
            gone = strcmp(got[0], "<absent>") == 0 && strcmp(got[1], "<absent>") == 0 &&
                   strcmp(got[2], "<absent>") == 0;
            if (!gone) usleep(50000);
        }
        EXPECT(f, gone, "keys with a %" PRIu64 " ms expiry still there after 10 s: a=%s b=%s "
               "c=%s", SHORT, got[0], got[1], got[2]);
    } else {
        while (mono_ms() - t0 <= (int64_t)SHORT + 100) usleep(20000);
        xget(f, kv, all, 3, got);
        assert_string_equal(got[0], "a1");
        assert_string_equal(got[1], "side");
        assert_string_equal(got[2], "c0");
    }
    /* past every short expiry: d (rewritten without one), e (aborted), g (long) remain */
    while (mono_ms() - t0 <= (int64_t)SHORT + 100) usleep(20000);
    xget(f, kv, all, 7, got);
    assert_string_equal(got[3], "d2");
    assert_string_equal(got[4], "e0");
    assert_string_equal(got[5], "g1");
    assert_string_equal(got[6], "<absent>");
    tess__str fk[] = {XK("f")};
    xget(f, kv, fk, 1, got);
    assert_string_equal(got[0], "<absent>");
    tess__err_release(&err);
    tess__kv_close(kv);
}

/* tess__kv_txn_expire's arguments: 0 ms and bad keys are refused (the update aborts). */
static int xbad_fn(void *arg, tess__kv_txn *tx, size_t i, tess__str old, tess__str *nv, bool *del)
{
    int *step = arg;
    (void)i, (void)old, (void)nv, (void)del;
    tess__err e = TESS__ERR_INIT;
    int rc = *step == 0 ? tess__kv_txn_expire(tx, XK("a"), 0, &e)
                        : tess__kv_txn_expire(tx, (tess__str){"", 0}, 10, &e);
    tess__err_release(&e);
    return rc == TESS_EINVAL ? 41 : 40;
}

static void test_expire_args(void **state)
{
    fixture *f = *state;
    tess__kv *kv = must_open(f, NULL);
    tess__err err = TESS__ERR_INIT;
    tess__str k[] = {XK("a")};
    for (int step = 0; step < 2; step++)
        assert_int_equal(tess__kv_update(kv, k, 1, xbad_fn, &step, &err), 41);
    tess__err_release(&err);
    tess__kv_close(kv);
}

/* ---- concurrency ----------------------------------------------------------------------------- */

typedef struct shared {
    tess__kv *kv;
    atomic_int done;
    atomic_long errors;
    atomic_long reads;
    int iters;
    char msg[256];
} shared;

static long parse_long(tess__str v)
{
    char b[32];
    size_t n = v.n < sizeof(b) - 1 ? v.n : sizeof(b) - 1;
    memcpy(b, v.p, n);
    b[n] = 0;
    return strtol(b, NULL, 10);
}

/* Sets every key of the batch to (first key's old value + 1). */
static int incr_all_fn(void *arg, tess__kv_txn *tx, size_t i, tess__str old, tess__str *nv, bool *del)
{
    char(*buf)[32] = arg;
    (void)del;
    if (i == 0) snprintf(buf[0], 32, "%ld", old.p ? parse_long(old) + 1 : 1);
    *nv = (tess__str){buf[0], strlen(buf[0])};
    return 0;
}

static void *snap_writer(void *arg)
{
    shared *sh = arg;
    tess__err err = TESS__ERR_INIT;
    tess__str keys[] = {{"snap\0A", 6}, {"snap\0B", 6}};
    char buf[1][32];
    for (int i = 0; i < sh->iters; i++) {
        if (tess__kv_update(sh->kv, keys, 2, incr_all_fn, buf, &err) != TESS_OK) {
            snprintf(sh->msg, sizeof(sh->msg), "writer: %s", tess__err_msg(&err));
            atomic_fetch_add(&sh->errors, 1);
            break;
        }
    }
    atomic_store(&sh->done, 1);
    tess__err_release(&err);
    return NULL;
}

typedef struct pair_scan {
    long v[2];
    int n;
} pair_scan;

static int pair_fn(void *arg, tess__str key, tess__str val)
{
    pair_scan *p = arg;
    if (p->n < 2) p->v[p->n] = parse_long(val);
    p->n++;
    return 0;
}

static void *snap_reader(void *arg)
{
    shared *sh = arg;
    tess__err err = TESS__ERR_INIT;
    tess__arena arena = TESS__ARENA_INIT;
    tess__str keys[] = {{"snap\0A", 6}, {"snap\0B", 6}};
    long last = 0;
    int spins = 0; /* a few reads after the writer is done too: a busy machine may start the
                      readers only then */
    while (!atomic_load(&sh->done) || spins++ < 3) {
        tess__str vals[2];
        if (tess__kv_get(sh->kv, keys, 2, vals, &arena, &err) != TESS_OK) {
            snprintf(sh->msg, sizeof(sh->msg), "reader: %s", tess__err_msg(&err));
            atomic_fetch_add(&sh->errors, 1);
            break;
        }
        long a = vals[0].p ? parse_long(vals[0]) : 0, b = vals[1].p ? parse_long(vals[1]) : 0;
        if (a != b || a < last) {
            snprintf(sh->msg, sizeof(sh->msg), "get saw A=%ld B=%ld after %ld", a, b, last);
            atomic_fetch_add(&sh->errors, 1);
            break;
        }
        last = a;
        pair_scan ps = {{0, 0}, 0};
        if (tess__kv_scan(sh->kv, (tess__str){"snap\0", 5}, pair_fn, &ps, &err) != TESS_OK ||
            (ps.n != 0 && (ps.n != 2 || ps.v[0] != ps.v[1]))) {
            snprintf(sh->msg, sizeof(sh->msg), "scan saw %d keys A=%ld B=%ld", ps.n, ps.v[0],
                     ps.v[1]);
            atomic_fetch_add(&sh->errors, 1);
            break;
        }
        atomic_fetch_add(&sh->reads, 1);
        tess__arena_reset(&arena);
    }
    tess__arena_release(&arena);
    tess__err_release(&err);
    return NULL;
}

/* A batch get (and a scan) during concurrent updates sees all of each update or none. */
static void test_snapshot_reads(void **state)
{
    fixture *f = *state;
    shared sh = {.kv = must_open(f, NULL), .iters = 1500};
    pthread_t w, r[2];
    for (int i = 0; i < 2; i++) pthread_create(&r[i], NULL, snap_reader, &sh);
    pthread_create(&w, NULL, snap_writer, &sh);
    pthread_join(w, NULL);
    for (int i = 0; i < 2; i++) pthread_join(r[i], NULL);
    EXPECT(f, atomic_load(&sh.errors) == 0, "%s", sh.msg);
    EXPECT(f, atomic_load(&sh.reads) > 0, "the readers read nothing");
    tess__err err = TESS__ERR_INIT;
    tess__str keys[] = {{"snap\0A", 6}, {"snap\0B", 6}}, vals[2];
    tess__arena arena = TESS__ARENA_INIT;
    int rc = tess__kv_get(sh.kv, keys, 2, vals, &arena, &err);
    EXPECT_OK(f, rc, &err);
    assert_int_equal(parse_long(vals[0]), 1500);
    assert_int_equal(parse_long(vals[1]), 1500);
    tess__arena_release(&arena);
    tess__err_release(&err);
    tess__kv_close(sh.kv);
}

/* A snapshot's gets (tess__kv_snap_*): the values put, absent keys {NULL, 0}, bytes that stay
 * as read until the snapshot ends while another thread rewrites them, and (LMDB, whose
 * snapshot is one read transaction) gets after that write still answer as of the snapshot. */
typedef struct snap_write {
    tess__kv *kv;
    tess__str *keys, *vals;
    size_t n;
    int rc;
    tess__err err;
} snap_write;

static void *snap_write_thread(void *arg)
{
    snap_write *w = arg;
    w->rc = tess__kv_put(w->kv, w->keys, w->vals, w->n, &w->err);
    return NULL;
}

static void test_snap(void **state)
{
    fixture *f = *state;
    tess__kv *kv = must_open(f, NULL);
    tess__err err = TESS__ERR_INIT;
    tess__arena arena = TESS__ARENA_INIT;
    uint64_t seed = f->seed;
    enum { N = 64, LEN = 300 };
    char kb[N][12], vb[2][N][LEN];
    size_t vn[2][N];
    tess__str keys[N], vals[N], got[N], again[N];
    for (size_t i = 0; i < N; i++) {
        int kl = snprintf(kb[i], sizeof kb[i], "s%c%zu", 0, i); /* one hash tag: "s" NUL */
        keys[i] = (tess__str){kb[i], (size_t)kl};
        for (int g = 0; g < 2; g++) {
            vn[g][i] = 1 + rndn(&seed, LEN);
            for (size_t j = 0; j < vn[g][i]; j++) vb[g][i][j] = (char)rnd(&seed);
        }
        /* every third key absent */
        vals[i] = i % 3 ? (tess__str){vb[0][i], vn[0][i]} : (tess__str){NULL, 0};
    }
    int rc = tess__kv_put(kv, keys, vals, N, &err);
    EXPECT_OK(f, rc, &err);
    for (int round = 0; round < 3; round++) {
        tess__kv_snap snap;
        rc = tess__kv_snap_begin(kv, &snap, &err);
        EXPECT_OK(f, rc, &err);
        rc = tess__kv_snap_get(&snap, keys, N, got, &arena, &err);
        EXPECT_OK(f, rc, &err);
        for (size_t i = 0; i < N; i++) {
            size_t g = (size_t)round % 2;
            if (i % 3 == 0) {
                EXPECT(f, got[i].p == NULL && got[i].n == 0, "round %d: key %zu should be absent",
                       round, i);
            } else {
                EXPECT(f, got[i].n == vn[g][i] && memcmp(got[i].p, vb[g][i], vn[g][i]) == 0,
                       "round %d: key %zu: not the value put", round, i);
            }
        }
        /* another thread rewrites every present key with the other generation */
        size_t ng = (size_t)(round + 1) % 2;
        for (size_t i = 0; i < N; i++)
            vals[i] = i % 3 ? (tess__str){vb[ng][i], vn[ng][i]} : (tess__str){NULL, 0};
        snap_write w = {.kv = kv, .keys = keys, .vals = vals, .n = N, .err = TESS__ERR_INIT};
        pthread_t th;
        pthread_create(&th, NULL, snap_write_thread, &w);
        pthread_join(th, NULL);
        EXPECT_OK(f, w.rc, &w.err);
        tess__err_release(&w.err);
        size_t g = (size_t)round % 2;
        for (size_t i = 0; i < N; i++) /* what was read is still what was read */
            if (i % 3)
                EXPECT(f, got[i].n == vn[g][i] && memcmp(got[i].p, vb[g][i], vn[g][i]) == 0,
                       "round %d: key %zu: the bytes read changed under the snapshot", round, i);
        rc = tess__kv_snap_get(&snap, keys, N, again, &arena, &err);
        EXPECT_OK(f, rc, &err);
        if (f->be->local)
            for (size_t i = 1; i < N; i += 3)
                EXPECT(f, again[i].n == vn[g][i] && memcmp(again[i].p, vb[g][i], vn[g][i]) == 0,
                       "round %d: key %zu: a get of the snapshot saw a later write", round, i);
        tess__kv_snap_end(&snap);
        tess__arena_reset(&arena);
    }
    /* a bad key is an error, as for tess__kv_get */
    tess__kv_snap snap;
    rc = tess__kv_snap_begin(kv, &snap, &err);
    EXPECT_OK(f, rc, &err);
    tess__str empty = {"", 0};
    rc = tess__kv_snap_get(&snap, &empty, 1, got, &arena, &err);
    assert_int_equal(rc, TESS_EINVAL);
    tess__kv_snap_end(&snap);
    tess__arena_release(&arena);
    tess__err_release(&err);
    tess__kv_close(kv);
}

#define WIDE 16

static void *wide_writer(void *arg)
{
    shared *sh = arg;
    tess__err err = TESS__ERR_INIT;
    char kb[WIDE][16], vb[WIDE][32];
    tess__str keys[WIDE], vals[WIDE];
    for (int i = 0; i < sh->iters; i++) {
        for (int k = 0; k < WIDE; k++) {
            kb[k][0] = 'w'; /* "w" NUL "<k>": one hash tag */
            kb[k][1] = 0;
            snprintf(kb[k] + 2, 14, "%02d", k);
            snprintf(vb[k], 32, "%d", i + 1);
            keys[k] = (tess__str){kb[k], 2 + strlen(kb[k] + 2)};
            vals[k] = (tess__str){vb[k], strlen(vb[k])};
        }
        if (tess__kv_put(sh->kv, keys, vals, WIDE, &err) != TESS_OK) {
            snprintf(sh->msg, sizeof(sh->msg), "writer: %s", tess__err_msg(&err));
            atomic_fetch_add(&sh->errors, 1);
            break;
        }
    }
    atomic_store(&sh->done, 1);
    tess__err_release(&err);
    return NULL;
}

static void *wide_reader(void *arg)
{
    shared *sh = arg;
    tess__err err = TESS__ERR_INIT;
    tess__arena arena = TESS__ARENA_INIT;
    char kb[WIDE][16];
    tess__str keys[WIDE], vals[WIDE];
    for (int k = 0; k < WIDE; k++) {
        kb[k][0] = 'w';
        kb[k][1] = 0;
        snprintf(kb[k] + 2, 14, "%02d", k);
        keys[k] = (tess__str){kb[k], 2 + strlen(kb[k] + 2)};
    }
    long last = 0;
    int spins = 0;
    while (!atomic_load(&sh->done) || spins++ < 10) {
        /* a random subset, in a random order: the snapshot covers whatever is asked */
        if (tess__kv_get(sh->kv, keys, WIDE, vals, &arena, &err) != TESS_OK) {
            snprintf(sh->msg, sizeof(sh->msg), "reader: %s", tess__err_msg(&err));
            atomic_fetch_add(&sh->errors, 1);
            break;
        }
        long v0 = vals[0].p ? parse_long(vals[0]) : 0;
        for (int k = 1; k < WIDE; k++) {
            long v = vals[k].p ? parse_long(vals[k]) : 0;
            if (v != v0) {
                snprintf(sh->msg, sizeof(sh->msg), "key %d = %ld but key 0 = %ld", k, v, v0);
                atomic_fetch_add(&sh->errors, 1);
                goto out;
            }
        }
        if (v0 < last) {
            snprintf(sh->msg, sizeof(sh->msg), "went back from %ld to %ld", last, v0);
            atomic_fetch_add(&sh->errors, 1);
            break;
        }
        last = v0;
        atomic_fetch_add(&sh->reads, 1);
        tess__arena_reset(&arena);
    }
out:
    tess__arena_release(&arena);
    tess__err_release(&err);
    return NULL;
}

/* Many threads reading (snapshots, never going back in time) while one writes. */
static void test_many_readers(void **state)
{
    fixture *f = *state;
    shared sh = {.kv = must_open(f, NULL), .iters = 1000};
    enum { NR = 8 };
    pthread_t w, r[NR];
    for (int i = 0; i < NR; i++) pthread_create(&r[i], NULL, wide_reader, &sh);
    pthread_create(&w, NULL, wide_writer, &sh);
    pthread_join(w, NULL);
    for (int i = 0; i < NR; i++) pthread_join(r[i], NULL);
    EXPECT(f, atomic_load(&sh.errors) == 0, "%s", sh.msg);
    EXPECT(f, atomic_load(&sh.reads) >= NR, "readers read only %ld times",
           atomic_load(&sh.reads));
    tess__kv_close(sh.kv);
}

/* Read-modify-write of the same counters from several threads: no lost update. */
static void *rmw_thread(void *arg)
{
    shared *sh = arg;
    tess__err err = TESS__ERR_INIT;
    tess__str keys[] = {{"c\0" "0", 3}, {"c\0" "1", 3}, {"c\0" "2", 3}};
    char buf[1][32];
    for (int i = 0; i < sh->iters; i++) {
        if (tess__kv_update(sh->kv, keys, 3, incr_all_fn, buf, &err) != TESS_OK) {
            snprintf(sh->msg, sizeof(sh->msg), "update: %s", tess__err_msg(&err));
            atomic_fetch_add(&sh->errors, 1);
            break;
        }
    }
    tess__err_release(&err);
    return NULL;
}

static void expect_counters(fixture *f, tess__kv *kv, long want)
{
    tess__err err = TESS__ERR_INIT;
    tess__arena arena = TESS__ARENA_INIT;
    tess__str keys[] = {{"c\0" "0", 3}, {"c\0" "1", 3}, {"c\0" "2", 3}}, vals[3];
    int rc = tess__kv_get(kv, keys, 3, vals, &arena, &err);
    EXPECT_OK(f, rc, &err);
    for (int i = 0; i < 3; i++) {
        EXPECT(f, vals[i].p != NULL, "counter %d missing", i);
        EXPECT(f, parse_long(vals[i]) == want, "counter %d = %ld, want %ld (lost updates)", i,
               parse_long(vals[i]), want);
    }
    tess__arena_release(&arena);
    tess__err_release(&err);
}

static void test_threads_rmw(void **state)
{
    fixture *f = *state;
    shared sh = {.kv = must_open(f, NULL), .iters = 300};
    enum { NT = 4 };
    pthread_t t[NT];
    for (int i = 0; i < NT; i++) pthread_create(&t[i], NULL, rmw_thread, &sh);
    for (int i = 0; i < NT; i++) pthread_join(t[i], NULL);
    EXPECT(f, atomic_load(&sh.errors) == 0, "%s", sh.msg);
    expect_counters(f, sh.kv, NT * 300);
    tess__kv_close(sh.kv);
}

/* Two (here: four) processes updating the same counters: no lost update. */
static void test_processes_rmw(void **state)
{
    fixture *f = *state;
    enum { NP = 3, ITERS = 200 };
    tess__kv *kv = must_open(f, NULL); /* the parent has it open too, and writes as well */
    pid_t pids[NP];
    for (int p = 0; p < NP; p++) {
        pids[p] = fork();
        assert_true(pids[p] >= 0);
        if (pids[p] == 0) {
            tess__err err = TESS__ERR_INIT;
            tess__kv *ckv = NULL;
            int rc = open_store(f, NULL, &ckv, &err);
            tess__str keys[] = {{"c\0" "0", 3}, {"c\0" "1", 3}, {"c\0" "2", 3}};
            char buf[1][32];
            for (int i = 0; rc == TESS_OK && i < ITERS; i++)
                rc = tess__kv_update(ckv, keys, 3, incr_all_fn, buf, &err);
            if (rc != TESS_OK) fprintf(stderr, "[  ERROR   ] child: %s\n", tess__err_msg(&err));
            tess__kv_close(ckv);
            tess__err_release(&err);
            _exit(rc == TESS_OK ? 0 : 1);
        }
    }
    shared sh = {.kv = kv, .iters = ITERS};
    rmw_thread(&sh);
    EXPECT(f, atomic_load(&sh.errors) == 0, "%s", sh.msg);
    for (int p = 0; p < NP; p++) {
        int st = 0;
        assert_int_equal(waitpid(pids[p], &st, 0), pids[p]);
        EXPECT(f, WIFEXITED(st) && WEXITSTATUS(st) == 0, "child %d failed (status %d)", p, st);
    }
    expect_counters(f, kv, (NP + 1) * ITERS);
    tess__kv_close(kv);
}

/* ---- persistence, read-only, limits, errors --------------------------------------------------- */

static void fill_random(fixture *f, tess__kv *kv, model *m, uint64_t *s, size_t nkeys)
{
    tess__err err = TESS__ERR_INIT;
    char kb[TESS__KV_MAX_KEY];
    char *vb = NULL;
    size_t vcap = 0;
    for (size_t i = 0; i < nkeys; i++) {
        size_t kn = rnd_key(s, m, kb);
        size_t vn = rnd_val(s, &vb, &vcap);
        if (vn > 100000) vn = 100000;
        tess__str k = {kb, kn}, v = {vb ? vb : "", vn};
        int rc = tess__kv_put(kv, &k, &v, 1, &err);
        EXPECT_OK(f, rc, &err);
        model_set(m, kb, kn, v.p, vn);
    }
    free(vb);
    tess__err_release(&err);
}

static void test_persistence(void **state)
{
    fixture *f = *state;
    uint64_t s = f->seed;
    model m = {0};
    tess__kv_opts o = {.sync = true};
    tess__kv *kv = must_open(f, &o);
    fill_random(f, kv, &m, &s, 300);
    tess__kv_close(kv);
    kv = must_open(f, NULL);
    check_all(f, kv, &m);
    fill_random(f, kv, &m, &s, 100);
    tess__kv_close(kv);
    kv = must_open(f, &o);
    check_all(f, kv, &m);
    tess__kv_close(kv);
    model_free(&m);
}

static void expect_err(fixture *f, int rc, int want, const tess__err *err, const char *needle)
{
    EXPECT(f, rc == want, "rc %d, want %d (%s)", rc, want, tess__err_msg(err));
    EXPECT(f, strstr(tess__err_msg(err), needle) != NULL, "message \"%s\" lacks \"%s\"",
           tess__err_msg(err), needle);
}

/* A bad URL and the words its TESS_ECONFIG message must hold. */
typedef struct bad_url {
    const char *url, *needle;
} bad_url;

/* Every URL of bad[0..n) is refused with TESS_ECONFIG saying why, and opens nothing. */
static void expect_bad_urls(fixture *f, const bad_url *bad, size_t n)
{
    tess__err err = TESS__ERR_INIT;
    for (size_t i = 0; i < n; i++) {
        tess__kv *kv = (tess__kv *)1;
        int rc = tess__kv_open(bad[i].url, NULL, NULL, &kv, &err);
        expect_err(f, rc, TESS_ECONFIG, &err, bad[i].needle);
        assert_null(kv);
    }
    tess__err_release(&err);
}

static void test_read_only(void **state)
{
    fixture *f = *state;
    uint64_t s = f->seed;
    model m = {0};
    tess__err err = TESS__ERR_INIT;
    tess__kv *kv = must_open(f, NULL);
    fill_random(f, kv, &m, &s, 50);
    tess__kv_close(kv);

    tess__kv_opts ro = {.read_only = true};
    kv = must_open(f, &ro);
    check_all(f, kv, &m);
    tess__str k = {"x", 1}, v = {"y", 1};
    int rc = tess__kv_put(kv, &k, &v, 1, &err);
    expect_err(f, rc, TESS_EINVAL, &err, "read-only");
    upd u = {.abort_at = -1, .set = {"z"}};
    rc = tess__kv_update(kv, &k, 1, upd_fn, &u, &err);
    expect_err(f, rc, TESS_EINVAL, &err, "read-only");
    assert_int_equal(u.calls, 0);
    rc = tess__kv_drop_prefix(kv, (tess__str){"u", 1}, NULL, &err);
    expect_err(f, rc, TESS_EINVAL, &err, "read-only");
    check_all(f, kv, &m);
    tess__kv_close(kv);
    model_free(&m);
    tess__err_release(&err);
}

static void test_limits(void **state)
{
    fixture *f = *state;
    tess__kv *kv = must_open(f, NULL);
    tess__err err = TESS__ERR_INIT;
    tess__arena arena = TESS__ARENA_INIT;
    char longkey[TESS__KV_MAX_KEY + 1];
    memset(longkey, 'k', sizeof(longkey));
    tess__str empty = {"", 0}, toolong = {longkey, sizeof(longkey)};
    tess__str maxkey = {longkey, TESS__KV_MAX_KEY}, v = {"v", 1}, got[2];

    int rc = tess__kv_get(kv, &empty, 1, got, &arena, &err);
    expect_err(f, rc, TESS_EINVAL, &err, "empty key");
    tess__str two[2] = {{"ok", 2}, {longkey, sizeof(longkey)}};
    rc = tess__kv_get(kv, two, 2, got, &arena, &err);
    expect_err(f, rc, TESS_EINVAL, &err, "longer than the limit");
    expect_err(f, rc, TESS_EINVAL, &err, "key 1 of the batch");
    rc = tess__kv_put(kv, &empty, &v, 1, &err);
    expect_err(f, rc, TESS_EINVAL, &err, "empty key");
    rc = tess__kv_put(kv, &toolong, &v, 1, &err);
    expect_err(f, rc, TESS_EINVAL, &err, "longer than the limit");
    upd u = {.abort_at = -1, .set = {"z"}};
    rc = tess__kv_update(kv, &toolong, 1, upd_fn, &u, &err);
    expect_err(f, rc, TESS_EINVAL, &err, "longer than the limit");
    assert_int_equal(u.calls, 0);
    rc = tess__kv_drop_prefix(kv, empty, NULL, &err);
    expect_err(f, rc, TESS_EINVAL, &err, "empty prefix");

    /* the longest key works, and a prefix longer than any key matches nothing */
    rc = tess__kv_put(kv, &maxkey, &v, 1, &err);
    EXPECT_OK(f, rc, &err);
    rc = tess__kv_get(kv, &maxkey, 1, got, &arena, &err);
    EXPECT_OK(f, rc, &err);
    assert_int_equal(got[0].n, 1);
    collected c = {{0}, 0};
    rc = tess__kv_scan(kv, toolong, collect_fn, &c, &err);
    EXPECT_OK(f, rc, &err);
    assert_int_equal(c.got.n, 0);

    /* values: the limit itself works, one byte more does not (put and update) */
    char *big = calloc(1, (size_t)TESS__KV_MAX_VALUE + 1);
    assert_non_null(big);
    big[TESS__KV_MAX_VALUE - 1] = 'z';
    tess__str k = {"big", 3}, bv = {big, (size_t)TESS__KV_MAX_VALUE + 1};
    rc = tess__kv_put(kv, &k, &bv, 1, &err);
    expect_err(f, rc, TESS_EINVAL, &err, "bigger than the limit");
    tess__str kk[2] = {{"small", 5}, {"big", 3}};
    upd u2 = {.abort_at = -1, .set = {"s", big}};
    /* upd_fn takes strlen: make the second value exactly one byte too long */
    char *big2 = malloc((size_t)TESS__KV_MAX_VALUE + 2);
    assert_non_null(big2);
    memset(big2, 'b', (size_t)TESS__KV_MAX_VALUE + 1);
    big2[TESS__KV_MAX_VALUE + 1] = 0;
    u2.set[1] = big2;
    rc = tess__kv_update(kv, kk, 2, upd_fn, &u2, &err);
    expect_err(f, rc, TESS_EINVAL, &err, "bigger than the limit");
    rc = tess__kv_get(kv, kk, 2, got, &arena, &err);
    EXPECT_OK(f, rc, &err);
    EXPECT(f, got[0].p == NULL && got[1].p == NULL, "a rejected update wrote something");
    bv.n = TESS__KV_MAX_VALUE;
    rc = tess__kv_put(kv, &k, &bv, 1, &err);
    EXPECT_OK(f, rc, &err);
    tess__arena_reset(&arena);
    rc = tess__kv_get(kv, &k, 1, got, &arena, &err);
    EXPECT_OK(f, rc, &err);
    assert_int_equal(got[0].n, TESS__KV_MAX_VALUE);
    assert_memory_equal(got[0].p, big, TESS__KV_MAX_VALUE);
    free(big);
    free(big2);

    /* {NULL, n} is not a value */
    tess__str nul = {NULL, 3};
    tess__str k2 = {"k2", 2};
    v = (tess__str){"x", 1};
    tess__str ks[2] = {k2, k}, vs[2] = {v, nul};
    rc = tess__kv_put(kv, ks, vs, 2, &err);
    expect_err(f, rc, TESS_EINVAL, &err, "no data");

    tess__arena_release(&arena);
    model_free(&c.got);
    tess__err_release(&err);
    tess__kv_close(kv);
}

/* URLs: unknown schemes are configuration errors, for every back end. */
static void test_urls(void **state)
{
    fixture *f = *state;
    tess__err err = TESS__ERR_INIT;
    tess__kv *kv = (tess__kv *)1;
    int rc = tess__kv_open("bogus://x", f->dir, NULL, &kv, &err);
    expect_err(f, rc, TESS_ECONFIG, &err, "bogus://x");
    assert_null(kv);
    rc = tess__kv_open(f->be->url ? f->be->url : "lmdb", f->dir, NULL, &kv, &err);
    EXPECT_OK(f, rc, &err);
    assert_string_equal(tess__kv_name(kv), f->be->name);
    tess__kv_close(kv);
    tess__kv_close(NULL);
    tess__err_release(&err);
}

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(data, 1, n, fp), n);
    fclose(fp);
}

/* A directory that is a file, a file in the way, damaged and truncated data files. */
static void test_fs_errors(void **state)
{
    fixture *f = *state;
    if (!f->be->local) skip();
    tess__err err = TESS__ERR_INIT;
    tess__kv *kv = NULL;
    char saved[600];
    memcpy(saved, f->dir, sizeof(saved));

    /* the store directory is a regular file */
    write_file(f->dir, "x", 1);
    int rc = open_store(f, NULL, &kv, &err);
    expect_err(f, rc, TESS_EIO, &err, f->dir);
    expect_err(f, rc, TESS_EIO, &err, "not a directory");
    tess__kv_opts ro = {.read_only = true};
    rc = open_store(f, &ro, &kv, &err);
    expect_err(f, rc, TESS_EIO, &err, f->dir);
    remove(f->dir);

    /* a file where a parent directory should be */
    char blocker[600];
    snprintf(blocker, sizeof(blocker), "%s/blocker", f->root);
    write_file(blocker, "x", 1);
    snprintf(f->dir, sizeof(f->dir), "%s/blocker/online", f->root);
    rc = open_store(f, NULL, &kv, &err);
    expect_err(f, rc, TESS_EIO, &err, f->dir);
    memcpy(f->dir, saved, sizeof(saved));

    /* read-only open of a store that does not exist: NOTFOUND, nothing created */
    rc = open_store(f, &ro, &kv, &err);
    expect_err(f, rc, TESS_NOTFOUND, &err, f->dir);
    struct stat st;
    assert_int_not_equal(stat(f->dir, &st), 0);

    /* a data file of garbage */
    assert_int_equal(mkdir(f->dir, 0700), 0);
    char path[700], junk[65536];
    uint64_t s = f->seed;
    for (size_t i = 0; i < sizeof(junk); i++) junk[i] = (char)rnd(&s);
    snprintf(path, sizeof(path), "%s/data.mdb", f->dir);
    write_file(path, junk, sizeof(junk));
    rc = open_store(f, NULL, &kv, &err);
    expect_err(f, rc, TESS_EIO, &err, "damaged");
    expect_err(f, rc, TESS_EIO, &err, f->dir);
    rc = open_store(f, &ro, &kv, &err);
    expect_err(f, rc, TESS_EIO, &err, "damaged");
    remove(path);

    /* a truncated data file */
    model m = {0};
    kv = must_open(f, NULL);
    char val[4000];
    memset(val, 'v', sizeof(val));
    for (int i = 0; i < 200; i++) {
        char kb[16];
        snprintf(kb, sizeof(kb), "key%04d", i);
        tess__str k = {kb, strlen(kb)}, v = {val, sizeof(val)};
        rc = tess__kv_put(kv, &k, &v, 1, &err);
        EXPECT_OK(f, rc, &err);
    }
    tess__kv_close(kv);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(truncate(path, st.st_size / 2), 0);
    rc = open_store(f, NULL, &kv, &err);
    expect_err(f, rc, TESS_EIO, &err, "damaged");
    rc = open_store(f, &ro, &kv, &err);
    expect_err(f, rc, TESS_EIO, &err, "damaged");
    model_free(&m);
    tess__err_release(&err);
}

/* The map fills up: a clear error, and the store stays readable and writable (deletes). */
static void test_map_full(void **state)
{
    fixture *f = *state;
    if (!f->be->local) skip();
    tess__err err = TESS__ERR_INIT;
    tess__kv_opts o = {.map_size = 1u << 20};
    tess__kv *kv = must_open(f, &o);
    char val[50000];
    memset(val, 'v', sizeof(val));
    int rc = TESS_OK, i;
    char kb[16];
    for (i = 0; i < 100 && rc == TESS_OK; i++) {
        snprintf(kb, sizeof(kb), "key%04d", i);
        tess__str k = {kb, strlen(kb)}, v = {val, sizeof(val)};
        rc = tess__kv_put(kv, &k, &v, 1, &err);
    }
    expect_err(f, rc, TESS_EIO, &err, "online store is full (map size");
    expect_err(f, rc, TESS_EIO, &err, f->dir);
    int written = i - 1;
    assert_true(written > 2);
    /* what was committed is there; deleting makes room */
    tess__arena arena = TESS__ARENA_INIT;
    tess__str k = {"key0000", 7}, got;
    rc = tess__kv_get(kv, &k, 1, &got, &arena, &err);
    EXPECT_OK(f, rc, &err);
    assert_int_equal(got.n, sizeof(val));
    snprintf(kb, sizeof(kb), "key%04d", written);
    k = (tess__str){kb, strlen(kb)};
    rc = tess__kv_get(kv, &k, 1, &got, &arena, &err);
    EXPECT_OK(f, rc, &err);
    assert_null(got.p);
    /* LMDB reuses the pages a transaction freed from the second transaction after it on */
    uint64_t deleted = 0;
    rc = tess__kv_drop_prefix(kv, (tess__str){"key000", 6}, &deleted, &err);
    EXPECT_OK(f, rc, &err);
    assert_int_equal(deleted, 10);
    rc = tess__kv_drop_prefix(kv, (tess__str){"key001", 6}, &deleted, &err);
    EXPECT_OK(f, rc, &err);
    tess__str v = {val, sizeof(val)};
    rc = tess__kv_put(kv, &k, &v, 1, &err);
    EXPECT_OK(f, rc, &err);
    tess__kv_close(kv);
    /* a bigger map: room again */
    o.map_size = 16u << 20;
    kv = must_open(f, &o);
    for (i = 100; i < 150; i++) {
        snprintf(kb, sizeof(kb), "key%04d", i);
        k = (tess__str){kb, strlen(kb)};
        rc = tess__kv_put(kv, &k, &v, 1, &err);
        EXPECT_OK(f, rc, &err);
    }
    tess__kv_close(kv);
    tess__arena_release(&arena);
    tess__err_release(&err);
}

/* Another process grows the map beyond ours: our next operations remap and go on. */
static void test_map_resized(void **state)
{
    fixture *f = *state;
    if (!f->be->local) skip();
    tess__err err = TESS__ERR_INIT;
    tess__kv_opts small = {.map_size = 1u << 20};
    tess__kv *kv = must_open(f, &small);
    tess__str k = {"mine", 4}, v = {"1", 1}, got[2];
    int rc = tess__kv_put(kv, &k, &v, 1, &err);
    EXPECT_OK(f, rc, &err);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        tess__kv_opts big = {.map_size = 64u << 20};
        tess__kv *ckv = NULL;
        rc = open_store(f, &big, &ckv, &err);
        static char val[200000];
        memset(val, 'c', sizeof(val));
        for (int i = 0; rc == TESS_OK && i < 20; i++) {
            char kb[32];
            snprintf(kb, sizeof(kb), "child%02d", i);
            tess__str ck = {kb, strlen(kb)}, cv = {val, sizeof(val)};
            rc = tess__kv_put(ckv, &ck, &cv, 1, &err);
        }
        if (rc != TESS_OK) fprintf(stderr, "[  ERROR   ] child: %s\n", tess__err_msg(&err));
        tess__kv_close(ckv);
        _exit(rc == TESS_OK ? 0 : 1);
    }
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    tess__arena arena = TESS__ARENA_INIT;
    tess__str ks[2] = {{"mine", 4}, {"child19", 7}};
    rc = tess__kv_get(kv, ks, 2, got, &arena, &err);
    EXPECT_OK(f, rc, &err);
    assert_int_equal(got[0].n, 1);
    assert_int_equal(got[1].n, 200000);
    v = (tess__str){got[1].p, got[1].n};
    tess__str k2 = {"mine2", 5};
    rc = tess__kv_put(kv, &k2, &v, 1, &err);
    EXPECT_OK(f, rc, &err);
    uint64_t keys = 0;
    rc = tess__kv_stats(kv, NULL, &keys, &err);
    EXPECT_OK(f, rc, &err);
    assert_int_equal(keys, 22);
    tess__arena_release(&arena);
    tess__kv_close(kv);
    tess__err_release(&err);
}

/* Two handles on one directory in one process share the environment. */
static void test_two_handles(void **state)
{
    fixture *f = *state;
    tess__err err = TESS__ERR_INIT;
    tess__kv *a = must_open(f, NULL);
    tess__kv_opts so = {.sync = true};
    tess__kv *b = must_open(f, &so);
    tess__str k = {"k", 1}, v = {"v", 1}, got;
    int rc = tess__kv_put(a, &k, &v, 1, &err);
    EXPECT_OK(f, rc, &err);
    tess__arena arena = TESS__ARENA_INIT;
    rc = tess__kv_get(b, &k, 1, &got, &arena, &err);
    EXPECT_OK(f, rc, &err);
    assert_int_equal(got.n, 1);
    tess__kv_close(a);
    v = (tess__str){"w", 1};
    rc = tess__kv_put(b, &k, &v, 1, &err);
    EXPECT_OK(f, rc, &err);
    tess__kv_close(b);
    a = must_open(f, NULL);
    rc = tess__kv_get(a, &k, 1, &got, &arena, &err);
    EXPECT_OK(f, rc, &err);
    assert_memory_equal(got.p, "w", 1);
    tess__kv_close(a);
    tess__arena_release(&arena);
    tess__err_release(&err);
}

static void test_stats(void **state)
{
    fixture *f = *state;
    tess__err err = TESS__ERR_INIT;
    tess__kv *kv = must_open(f, NULL);
    uint64_t bytes = 1, keys = 1;
    int rc = tess__kv_stats(kv, &bytes, &keys, &err);
    EXPECT_OK(f, rc, &err);
    assert_int_equal(keys, 0);
    char kb[100][16];
    tess__str ks[100], vs[100];
    for (int i = 0; i < 100; i++) {
        snprintf(kb[i], 16, "s:%03d", i);
        ks[i] = (tess__str){kb[i], strlen(kb[i])};
        vs[i] = (tess__str){"value", 5};
    }
    rc = tess__kv_put(kv, ks, vs, 100, &err);
    EXPECT_OK(f, rc, &err);
    rc = tess__kv_stats(kv, &bytes, &keys, &err);
    EXPECT_OK(f, rc, &err);
    assert_int_equal(keys, 100);
    assert_true(bytes >= 100 * 10);
    for (int i = 0; i < 10; i++) vs[i] = (tess__str){NULL, 0};
    rc = tess__kv_put(kv, ks, vs, 10, &err); /* deletes */
    EXPECT_OK(f, rc, &err);
    rc = tess__kv_put(kv, ks, vs, 10, &err); /* deleting absent keys is fine */
    EXPECT_OK(f, rc, &err);
    rc = tess__kv_stats(kv, NULL, &keys, &err);
    EXPECT_OK(f, rc, &err);
    assert_int_equal(keys, 90);
    uint64_t deleted = 0;
    rc = tess__kv_drop_prefix(kv, (tess__str){"s:05", 4}, &deleted, &err);
    EXPECT_OK(f, rc, &err);
    assert_int_equal(deleted, 10);
    rc = tess__kv_stats(kv, NULL, &keys, &err);
    EXPECT_OK(f, rc, &err);
    assert_int_equal(keys, 80);
    tess__err_release(&err);
    tess__kv_close(kv);
}

static void test_scan_bounds(void **state)
{
    fixture *f = *state;
    tess__err err = TESS__ERR_INIT;
    tess__kv *kv = must_open(f, NULL);
    static const struct {
        const char *k;
        size_t n;
    } K[] = {
        {"\xff", 1}, {"\xff\xff", 2}, {"\xff\xff\x00", 3}, {"\xff\xff\xff", 3}, {"\xfe\xff", 2},
        {"a", 1},    {"ab", 2},       {"abc", 3},          {"ab\0c", 4},         {"b", 1},
        {"\0", 1},   {"\0\0", 2},     {"\x01", 1},
    };
    enum { NK = sizeof(K) / sizeof(K[0]) };
    model m = {0};
    tess__str ks[NK], vs[NK];
    for (int i = 0; i < NK; i++) {
        ks[i] = (tess__str){K[i].k, K[i].n};
        vs[i] = (tess__str){K[i].k, K[i].n};
        model_set(&m, K[i].k, K[i].n, K[i].k, K[i].n);
    }
    int rc = tess__kv_put(kv, ks, vs, NK, &err);
    EXPECT_OK(f, rc, &err);
    check_scan(f, kv, &m, "", 0);
    check_scan(f, kv, &m, "\xff", 1);
    check_scan(f, kv, &m, "\xff\xff", 2);
    check_scan(f, kv, &m, "\xff\xff\xff", 3);
    check_scan(f, kv, &m, "\xff\xff\xff\xff", 4);
    check_scan(f, kv, &m, "ab", 2);
    check_scan(f, kv, &m, "abc", 3);
    check_scan(f, kv, &m, "abcd", 4);
    check_scan(f, kv, &m, "ab\0", 3);
    check_scan(f, kv, &m, "\0", 1);
    check_scan(f, kv, &m, "\xfe", 1);
    check_scan(f, kv, &m, "c", 1);

    /* the order is bytewise: spot-check the first keys of a full scan */
    collected c = {{0}, 0};
    rc = tess__kv_scan(kv, (tess__str){NULL, 0}, collect_fn, &c, &err);
    EXPECT_OK(f, rc, &err);
    assert_int_equal(c.got.n, NK);
    assert_memory_equal(c.got.e[0].k, "\0", 1);
    assert_int_equal(c.got.e[0].kn, 1);
    assert_int_equal(c.got.e[1].kn, 2);
    assert_memory_equal(c.got.e[NK - 1].k, "\xff\xff\xff", 3);
    model_free(&c.got);

    /* fn stops the scan: its code comes back */
    c = (collected){{0}, 2};
    rc = tess__kv_scan(kv, (tess__str){"", 0}, collect_fn, &c, &err);
    assert_int_equal(rc, 99);
    assert_int_equal(c.got.n, 2);
    model_free(&c.got);

    /* drop a prefix equal to a whole key, and the 0xff end of the key space */
    uint64_t deleted = 0;
    rc = tess__kv_drop_prefix(kv, (tess__str){"ab", 2}, &deleted, &err);
    EXPECT_OK(f, rc, &err);
    assert_int_equal(deleted, model_drop_prefix(&m, "ab", 2));
    rc = tess__kv_drop_prefix(kv, (tess__str){"\xff\xff", 2}, &deleted, &err);
    EXPECT_OK(f, rc, &err);
    assert_int_equal(deleted, model_drop_prefix(&m, "\xff\xff", 2));
    rc = tess__kv_drop_prefix(kv, (tess__str){"zz", 2}, &deleted, &err);
    EXPECT_OK(f, rc, &err);
    assert_int_equal(deleted, 0);
    check_all(f, kv, &m);
    model_free(&m);
    tess__err_release(&err);
    tess__kv_close(kv);
}

/* Fail every allocation in turn: each failure is TESS_ENOMEM, the store is unchanged and
 * usable afterwards. */
static void test_alloc_failures(void **state)
{
    fixture *f = *state;
    tess__err err = TESS__ERR_INIT;
    tess__kv *kv = NULL;
    /* open */
    int rc;
    long n;
    for (n = 0;; n++) {
        tess__alloc_fail_after(n);
        rc = open_store(f, NULL, &kv, &err);
        tess__alloc_fail_after(-1);
        if (rc == TESS_OK) break;
        EXPECT(f, rc == TESS_ENOMEM, "open with allocation %ld failing: rc %d %s", n, rc,
               tess__err_msg(&err));
        assert_true(n < 1000);
    }
    char val[3000];
    memset(val, 'x', sizeof(val));
    tess__str keys[] = {{"a", 1}, {"b", 1}, {"c", 1}}, vals[3] = {{val, 3000}, {val, 2}, {"", 0}};
    rc = tess__kv_put(kv, keys, vals, 3, &err);
    EXPECT_OK(f, rc, &err);
    /* update (slice_fn's new values alias the old ones: the back end copies them) */
    for (n = 0;; n++) {
        tess__alloc_fail_after(n);
        rc = tess__kv_update(kv, keys, 3, slice_fn, NULL, &err);
        tess__alloc_fail_after(-1);
        tess__arena arena = TESS__ARENA_INIT;
        tess__str got[3];
        int rc2 = tess__kv_get(kv, keys, 3, got, &arena, &err);
        EXPECT_OK(f, rc2, &err);
        if (rc == TESS_OK) {
            assert_int_equal(got[0].n, 2999);
            assert_int_equal(got[1].n, 1);
            tess__arena_release(&arena);
            break;
        }
        EXPECT(f, rc == TESS_ENOMEM, "update with allocation %ld failing: rc %d %s", n, rc,
               tess__err_msg(&err));
        assert_int_equal(got[0].n, 3000); /* unchanged */
        assert_int_equal(got[1].n, 2);
        tess__arena_release(&arena);
        assert_true(n < 1000);
    }
    /* get */
    for (n = 0;; n++) {
        tess__arena arena = TESS__ARENA_INIT;
        tess__str got[3];
        tess__alloc_fail_after(n);
        rc = tess__kv_get(kv, keys, 3, got, &arena, &err);
        tess__alloc_fail_after(-1);
        tess__arena_release(&arena);
        if (rc == TESS_OK) break;
        EXPECT(f, rc == TESS_ENOMEM, "get with allocation %ld failing: rc %d %s", n, rc,
               tess__err_msg(&err));
        assert_true(n < 1000);
    }
    tess__kv_close(kv);
    tess__err_release(&err);
}

/* ---- keys with glob characters, RMW through tx, scans bigger than a snapshot -------------- */

/* Keys full of the characters a glob pattern gives a meaning to (Redis's MATCH), and NULs:
 * scans and drops of such prefixes take exactly the keys that start with them. */
static void test_glob_keys(void **state)
{
    fixture *f = *state;
    tess__err err = TESS__ERR_INIT;
    tess__kv *kv = must_open(f, NULL);
    static const struct {
        const char *k;
        size_t n;
    } K[] = {
        {"g*1", 3},   {"g*2", 3},    {"gX1", 3},   {"g?1", 3},     {"ga1", 3},   {"g[a]1", 5},
        {"ga]1", 4},  {"g\\1", 3},   {"g\\\\x", 4}, {"g\\*", 3},   {"g\0*", 3},  {"g\0x", 3},
        {"g\0", 2},   {"g]", 2},     {"g^x", 3},   {"g-", 2},      {"g[", 2},    {"g[!a]", 5},
        {"g*", 2},    {"g", 1},      {"h*", 2},    {"*", 1},       {"?", 1},     {"\\", 1},
        {"[", 1},     {"[a-z]", 5},  {"\0*\0", 3}, {"\0\0", 2},
    };
    enum { NK = sizeof(K) / sizeof(K[0]) };
    model m = {0};
    tess__str ks[NK], vs[NK];
    for (int i = 0; i < NK; i++) {
        ks[i] = (tess__str){K[i].k, K[i].n};
        vs[i] = (tess__str){K[i].k, K[i].n};
        model_set(&m, K[i].k, K[i].n, K[i].k, K[i].n);
    }
    int rc = tess__kv_put(kv, ks, vs, NK, &err);
    EXPECT_OK(f, rc, &err);
    static const struct {
        const char *p;
        size_t n;
    } P[] = {
        {"g*", 2}, {"g?", 2}, {"g[a]", 4}, {"g[", 2}, {"g\\", 2}, {"g\\\\", 3}, {"g\0", 2},
        {"g\0*", 3}, {"g]", 2}, {"g", 1}, {"*", 1}, {"?", 1}, {"\\", 1}, {"[", 1}, {"[a-z]", 5},
        {"\0", 1}, {"\0*", 2}, {"g[!a]", 5}, {"ga", 2},
    };
    for (size_t i = 0; i < sizeof(P) / sizeof(P[0]); i++) check_scan(f, kv, &m, P[i].p, P[i].n);
    /* a get of all of them, and drops one prefix at a time */
    check_get(f, kv, &m, ks, NK);
    for (size_t i = 0; i < sizeof(P) / sizeof(P[0]); i++) {
        uint64_t deleted = 999;
        rc = tess__kv_drop_prefix(kv, (tess__str){P[i].p, P[i].n}, &deleted, &err);
        EXPECT_OK(f, rc, &err);
        uint64_t want = model_drop_prefix(&m, P[i].p, P[i].n);
        EXPECT(f, deleted == want, "drop of prefix %zu: %" PRIu64 " deleted, model %" PRIu64, i,
               deleted, want);
        check_all(f, kv, &m);
    }
    assert_int_equal(m.n, 1); /* "h*" is left */
    model_free(&m);
    tess__err_release(&err);
    tess__kv_close(kv);
}

/* Every update of a key of its own reads a shared counter through tx and writes it back plus
 * one: an update that did not guard the keys it read through tx (Redis: WATCH) would lose
 * increments. Threads of one handle, and processes of their own handles. */
typedef struct txn_counter {
    tess__arena arena;
    tess__err *err;
    char total[32], own[32];
} txn_counter;

static int txn_counter_fn(void *arg, tess__kv_txn *tx, size_t i, tess__str old, tess__str *nv,
                          bool *del)
{
    txn_counter *t = arg;
    tess__str key = {"tc\0total", 8}, cur;
    int rc = tess__kv_txn_get(tx, key, &t->arena, &cur, t->err);
    if (rc) return rc;
    int n = snprintf(t->total, sizeof(t->total), "%ld", cur.p ? parse_long(cur) + 1 : 1);
    rc = tess__kv_txn_put(tx, key, (tess__str){t->total, (size_t)n}, t->err);
    if (rc) return rc;
    n = snprintf(t->own, sizeof(t->own), "%ld", old.p ? parse_long(old) + 1 : 1);
    *nv = (tess__str){t->own, (size_t)n};
    (void)i, (void)del;
    return 0;
}

typedef struct txn_worker {
    tess__kv *kv;
    int id, iters;
    int rc;
    char msg[256];
} txn_worker;

static void *txn_counter_thread(void *arg)
{
    txn_worker *w = arg;
    tess__err err = TESS__ERR_INIT;
    txn_counter t = {.arena = TESS__ARENA_INIT, .err = &err};
    char kb[16];
    kb[0] = 't'; /* "tc" NUL "<id>": the hash tag of "tc" NUL "total" */
    kb[1] = 'c';
    kb[2] = 0;
    snprintf(kb + 3, sizeof(kb) - 3, "%d", w->id);
    tess__str key = {kb, 3 + strlen(kb + 3)};
    for (int i = 0; i < w->iters && w->rc == TESS_OK; i++) {
        w->rc = tess__kv_update(w->kv, &key, 1, txn_counter_fn, &t, &err);
        tess__arena_reset(&t.arena);
    }
    if (w->rc) snprintf(w->msg, sizeof(w->msg), "worker %d: %s", w->id, tess__err_msg(&err));
    tess__arena_release(&t.arena);
    tess__err_release(&err);
    return NULL;
}

static void test_txn_counters(void **state)
{
    fixture *f = *state;
    enum { NT = 4, NP = 2, ITERS = 150 };
    tess__kv *kv = must_open(f, NULL);
    pid_t pids[NP];
    for (int p = 0; p < NP; p++) {
        pids[p] = fork();
        assert_true(pids[p] >= 0);
        if (pids[p] == 0) {
            tess__err err = TESS__ERR_INIT;
            txn_worker w = {.id = NT + p, .iters = ITERS};
            w.rc = open_store(f, NULL, &w.kv, &err);
            if (w.rc == TESS_OK) txn_counter_thread(&w);
            else snprintf(w.msg, sizeof(w.msg), "%s", tess__err_msg(&err));
            if (w.rc) fprintf(stderr, "[  ERROR   ] child: %s\n", w.msg);
            tess__kv_close(w.kv);
            tess__err_release(&err);
            _exit(w.rc == TESS_OK ? 0 : 1);
        }
    }
    txn_worker w[NT];
    pthread_t t[NT];
    for (int i = 0; i < NT; i++) {
        w[i] = (txn_worker){.kv = kv, .id = i, .iters = ITERS};
        pthread_create(&t[i], NULL, txn_counter_thread, &w[i]);
    }
    for (int i = 0; i < NT; i++) {
        pthread_join(t[i], NULL);
        EXPECT(f, w[i].rc == TESS_OK, "%s", w[i].msg);
    }
    for (int p = 0; p < NP; p++) {
        int st = 0;
        assert_int_equal(waitpid(pids[p], &st, 0), pids[p]);
        EXPECT(f, WIFEXITED(st) && WEXITSTATUS(st) == 0, "child %d failed (status %d)", p, st);
    }
    tess__err err = TESS__ERR_INIT;
    tess__arena arena = TESS__ARENA_INIT;
    char kb[NT + NP + 1][16];
    tess__str keys[NT + NP + 1], vals[NT + NP + 1];
    for (int i = 0; i < NT + NP; i++) {
        memcpy(kb[i], "tc", 3);
        snprintf(kb[i] + 3, 13, "%d", i);
        keys[i] = (tess__str){kb[i], 3 + strlen(kb[i] + 3)};
    }
    keys[NT + NP] = (tess__str){"tc\0total", 8};
    int rc = tess__kv_get(kv, keys, NT + NP + 1, vals, &arena, &err);
    EXPECT_OK(f, rc, &err);
    for (int i = 0; i < NT + NP; i++)
        EXPECT(f, vals[i].p && parse_long(vals[i]) == ITERS, "worker %d's key: %ld, want %d", i,
               vals[i].p ? parse_long(vals[i]) : -1, ITERS);
    EXPECT(f, vals[NT + NP].p && parse_long(vals[NT + NP]) == (NT + NP) * ITERS,
           "total %ld, want %d (lost updates)", vals[NT + NP].p ? parse_long(vals[NT + NP]) : -1,
           (NT + NP) * ITERS);
    tess__arena_release(&arena);
    tess__err_release(&err);
    tess__kv_close(kv);
}

/* A scan whose keys and values pass 64 MiB (Redis: more than one snapshot's worth, fetched in
 * batches): every key once, in order, with its value; fn stopping it early. */
static void test_big_scan(void **state)
{
    fixture *f = *state;
    tess__err err = TESS__ERR_INIT;
    tess__kv *kv = must_open(f, NULL);
    model m = {0};
    size_t big = 22u << 20;
    char *v = malloc(big);
    assert_non_null(v);
    uint64_t s = f->seed;
    for (size_t i = 0; i < big; i += 8) {
        uint64_t x = rnd(&s);
        memcpy(v + i, &x, 8);
    }
    for (int i = 0; i < 3; i++) { /* 66 MiB in three values, all different */
        char kb[16];
        snprintf(kb, sizeof(kb), "big:%d", i);
        v[0] = (char)i;
        tess__str k = {kb, strlen(kb)}, val = {v, big};
        int rc = tess__kv_put(kv, &k, &val, 1, &err);
        EXPECT_OK(f, rc, &err);
        model_set(&m, kb, strlen(kb), v, big);
    }
    free(v);
    for (int i = 0; i < 2500; i++) { /* more keys than one batch */
        char kb[24], vb[16];
        snprintf(kb, sizeof(kb), "big:s%04d", i);
        snprintf(vb, sizeof(vb), "%d", i);
        tess__str k = {kb, strlen(kb)}, val = {vb, strlen(vb)};
        if (i % 2) val = (tess__str){"", 0}; /* empty values too */
        int rc = tess__kv_put(kv, &k, &val, 1, &err);
        EXPECT_OK(f, rc, &err);
        model_set(&m, k.p, k.n, val.p, val.n);
    }
    tess__str k = {"other", 5}, val = {"x", 1};
    int rc = tess__kv_put(kv, &k, &val, 1, &err);
    EXPECT_OK(f, rc, &err);
    model_set(&m, "other", 5, "x", 1);
    check_scan(f, kv, &m, "big:", 4);
    check_scan(f, kv, &m, "", 0);
    collected c = {{0}, 2502};
    rc = tess__kv_scan(kv, (tess__str){"big:", 4}, collect_fn, &c, &err);
    assert_int_equal(rc, 99);
    assert_int_equal(c.got.n, 2502);
    model_free(&c.got);
    model_free(&m);
    tess__err_release(&err);
    tess__kv_close(kv);
}

/* ---- Redis: the server goes away, hangs, and its URLs -------------------------------------- */

typedef struct bg_load {
    tess__kv *kv;
    atomic_int stop;
    atomic_long ok, failed, bad;
    char msg[512];
    const char *needle; /* every failure names the server */
} bg_load;

/* Puts and gets in a loop while the server restarts: failures must be clean TESS_EIO. */
static void *bg_load_thread(void *arg)
{
    bg_load *b = arg;
    tess__err err = TESS__ERR_INIT;
    tess__arena arena = TESS__ARENA_INIT;
    /* big values too: writes that span many write(2) calls while the server dies */
    size_t big = 2u << 20;
    char *val = malloc(big);
    if (!val) return NULL;
    memset(val, 'b', big);
    for (long i = 0; !atomic_load(&b->stop); i++) {
        tess__str k = {"bg", 2}, v = {val, i % 2 ? big : 10}, got;
        int rc = tess__kv_put(b->kv, &k, &v, 1, &err);
        if (rc == TESS_OK) rc = tess__kv_get(b->kv, &k, 1, &got, &arena, &err);
        tess__arena_reset(&arena);
        if (rc == TESS_OK) {
            atomic_fetch_add(&b->ok, 1);
            continue;
        }
        atomic_fetch_add(&b->failed, 1);
        if (rc != TESS_EIO || !strstr(tess__err_msg(&err), b->needle)) {
            snprintf(b->msg, sizeof(b->msg), "rc %d: %s", rc, tess__err_msg(&err));
            atomic_fetch_add(&b->bad, 1);
        }
        usleep(1000);
    }
    free(val);
    tess__arena_release(&arena);
    tess__err_release(&err);
    return NULL;
}

static int noop_fn(void *arg, tess__kv_txn *tx, size_t i, tess__str old, tess__str *nv, bool *del)
{
    (void)arg, (void)tx, (void)i, (void)old, (void)nv, (void)del;
    return 0;
}

static void test_redis_restart(void **state)
{
    fixture *f = *state;
    if (!is_redis(f)) skip();
    tess__err err = TESS__ERR_INIT;
    tess__arena arena = TESS__ARENA_INIT;
    char where[64];
    snprintf(where, sizeof(where), "127.0.0.1:%d", rs.port);
    tess__kv *kv = must_open(f, NULL);
    tess__str k = {"k", 1}, v = {"v", 1}, got;
    int rc = tess__kv_put(kv, &k, &v, 1, &err);
    EXPECT_OK(f, rc, &err);
    bg_load b = {.kv = kv, .needle = where};
    pthread_t t;
    pthread_create(&t, NULL, bg_load_thread, &b);
    usleep(100000);

    rs_stop(SIGKILL); /* the server dies in the middle of the writes */
    rc = tess__kv_get(kv, &k, 1, &got, &arena, &err);
    expect_err(f, rc, TESS_EIO, &err, where);
    rc = tess__kv_put(kv, &k, &v, 1, &err);
    expect_err(f, rc, TESS_EIO, &err, where);
    upd u = {.abort_at = -1, .set = {"z"}};
    rc = tess__kv_update(kv, &k, 1, upd_fn, &u, &err);
    expect_err(f, rc, TESS_EIO, &err, where);
    rc = tess__kv_update(kv, &k, 1, noop_fn, NULL, &err);
    expect_err(f, rc, TESS_EIO, &err, where);
    collected c = {{0}, 0};
    rc = tess__kv_scan(kv, (tess__str){"", 0}, collect_fn, &c, &err);
    expect_err(f, rc, TESS_EIO, &err, where);
    rc = tess__kv_drop_prefix(kv, (tess__str){"k", 1}, NULL, &err);
    expect_err(f, rc, TESS_EIO, &err, where);
    rc = tess__kv_stats(kv, NULL, NULL, &err);
    expect_err(f, rc, TESS_EIO, &err, where);
    tess__kv *kv2 = (tess__kv *)1;
    rc = open_store(f, NULL, &kv2, &err);
    expect_err(f, rc, TESS_EIO, &err, where);
    expect_err(f, rc, TESS_EIO, &err, "cannot connect");
    assert_null(kv2);
    usleep(100000);

    assert_int_equal(rs_start(), 0); /* back, on the same port, empty */
    rc = tess__kv_get(kv, &k, 1, &got, &arena, &err); /* the very next operation works */
    EXPECT_OK(f, rc, &err);
    rc = tess__kv_put(kv, &k, &v, 1, &err);
    EXPECT_OK(f, rc, &err);
    u = (upd){.abort_at = -1, .set = {"w"}};
    rc = tess__kv_update(kv, &k, 1, upd_fn, &u, &err);
    EXPECT_OK(f, rc, &err);
    assert_string_equal(u.seen[0], "v");
    long before = atomic_load(&b.ok);
    for (int i = 0; i < 500 && atomic_load(&b.ok) < before + 20; i++) usleep(10000);
    atomic_store(&b.stop, 1);
    pthread_join(t, NULL);
    EXPECT(f, atomic_load(&b.bad) == 0, "a failure that is not a clean TESS_EIO: %s", b.msg);
    EXPECT(f, atomic_load(&b.ok) >= before + 20, "the load did not recover after the restart");
    /* a restart while the handle is idle: its pooled connections are dead, the next
       operations notice it before they use them */
    rs_stop(SIGKILL);
    assert_int_equal(rs_start(), 0);
    rc = tess__kv_get(kv, &k, 1, &got, &arena, &err);
    EXPECT_OK(f, rc, &err);
    assert_null(got.p);
    rc = tess__kv_put(kv, &k, &v, 1, &err);
    EXPECT_OK(f, rc, &err);
    model m = {0};
    model_set(&m, "k", 1, "v", 1);
    check_all(f, kv, &m);
    model_free(&m);
    tess__kv_close(kv);
    tess__arena_release(&arena);
    tess__err_release(&err);
}

/* A server that hangs (SIGSTOP): operations time out with TESS_EIO, then work again. */
static void test_redis_timeout(void **state)
{
    fixture *f = *state;
    if (!is_redis(f)) skip();
    tess__err err = TESS__ERR_INIT;
    tess__arena arena = TESS__ARENA_INIT;
    char url[200], where[64];
    snprintf(url, sizeof(url), "%s?timeout=300&connect_timeout=300", rs.url);
    snprintf(where, sizeof(where), "127.0.0.1:%d", rs.port);
    tess__kv *kv = NULL;
    int rc = tess__kv_open(url, NULL, NULL, &kv, &err);
    EXPECT_OK(f, rc, &err);
    tess__str k = {"k", 1}, v = {"v", 1}, got;
    rc = tess__kv_put(kv, &k, &v, 1, &err);
    EXPECT_OK(f, rc, &err);
    assert_int_equal(kill(rs.pid, SIGSTOP), 0);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    rc = tess__kv_get(kv, &k, 1, &got, &arena, &err);
    expect_err(f, rc, TESS_EIO, &err, "timed out");
    expect_err(f, rc, TESS_EIO, &err, where);
    rc = tess__kv_put(kv, &k, &v, 1, &err);
    expect_err(f, rc, TESS_EIO, &err, "timed out");
    tess__kv *kv2 = NULL;
    /* a new handle connects (the kernel accepts the connection), then SELECT hangs */
    rc = tess__kv_open(url, NULL, NULL, &kv2, &err);
    expect_err(f, rc, TESS_EIO, &err, where);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    EXPECT(f, secs < 30, "three timed-out operations took %.1f s", secs); /* not forever */
    kill(rs.pid, SIGCONT);
    rc = tess__kv_get(kv, &k, 1, &got, &arena, &err);
    EXPECT_OK(f, rc, &err);
    assert_int_equal(got.n, 1);
    tess__kv_close(kv);
    tess__arena_release(&arena);
    tess__err_release(&err);
}

static void test_redis_urls(void **state)
{
    fixture *f = *state;
    if (!is_redis(f)) skip();
    tess__err err = TESS__ERR_INIT;
    char url[256];
    static const bad_url BAD[] = {
        {"redis://", "no host"},
        {"redis://:6379", "no host"},
        {"redis:///3", "no host"},
        {"redis://127.0.0.1:abc", "port \"abc\""},
        {"redis://127.0.0.1:", "port \"\""},
        {"redis://127.0.0.1:0", "port \"0\""},
        {"redis://127.0.0.1:70000", "port \"70000\""},
        {"redis://127.0.0.1:6379/x", "database \"x\""},
        {"redis://127.0.0.1:6379/-1", "database \"-1\""},
        {"redis://127.0.0.1:6379/3?bogus=1", "unknown option \"bogus\""},
        {"redis://127.0.0.1:6379/3?timeout=abc", "\"timeout=abc\" needs milliseconds"},
        {"redis://127.0.0.1:6379/3?timeout", "needs milliseconds"},
        {"redis://[::1:6379", "closing ']'"},
        {"redis://user@127.0.0.1", "credentials"},
        {"rediss://127.0.0.1:6379", "TLS"},
        {"redis://127.0.0.1:1,127.0.0.1:2", "several hosts"},
    };
    expect_bad_urls(f, BAD, sizeof(BAD) / sizeof(BAD[0]));
    /* the server refuses: a database it does not have, a password it does not want (never
       shown), nothing listening on the port */
    tess__kv *kv = (tess__kv *)1;
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d/100000", rs.port);
    int rc = tess__kv_open(url, NULL, NULL, &kv, &err);
    expect_err(f, rc, TESS_ECONFIG, &err, "cannot select the database");
    snprintf(url, sizeof(url), "redis://:s3cret@127.0.0.1:%d/3", rs.port);
    rc = tess__kv_open(url, NULL, NULL, &kv, &err);
    expect_err(f, rc, TESS_ECONFIG, &err, "authentication failed");
    EXPECT(f, !strstr(tess__err_msg(&err), "s3cret"), "the password is shown: %s",
           tess__err_msg(&err));
    snprintf(url, sizeof(url), "redis://u:s3cret@127.0.0.1:%d/x", rs.port);
    rc = tess__kv_open(url, NULL, NULL, &kv, &err);
    expect_err(f, rc, TESS_ECONFIG, &err, "database");
    EXPECT(f, !strstr(tess__err_msg(&err), "s3cret"), "the password is shown: %s",
           tess__err_msg(&err));
    int closed = free_port();
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d", closed);
    rc = tess__kv_open(url, NULL, NULL, &kv, &err);
    char where[64];
    snprintf(where, sizeof(where), "127.0.0.1:%d", closed);
    expect_err(f, rc, TESS_EIO, &err, where);
    expect_err(f, rc, TESS_EIO, &err, "cannot connect");
    assert_null(kv);
    /* good ones: the default database, a host name, a trailing slash; each its own database */
    static const char *const GOOD[] = {"redis://127.0.0.1:%d", "redis://localhost:%d/3",
                                       "redis://127.0.0.1:%d/",
                                       "redis://127.0.0.1:%d/4?timeout=5000"};
    for (size_t i = 0; i < 4; i++) {
        snprintf(url, sizeof(url), GOOD[i], rs.port);
        rc = tess__kv_open(url, NULL, NULL, &kv, &err);
        EXPECT_OK(f, rc, &err);
        assert_string_equal(tess__kv_name(kv), "redis");
        char vb[8];
        snprintf(vb, sizeof(vb), "%zu", i);
        tess__str k = {"which", 5}, v = {vb, strlen(vb)};
        rc = tess__kv_put(kv, &k, &v, 1, &err);
        EXPECT_OK(f, rc, &err);
        tess__kv_close(kv);
    }
    /* databases 0 and 4 got one key each, 3 (ours: localhost) one */
    kv = must_open(f, NULL);
    uint64_t keys = 0;
    rc = tess__kv_stats(kv, NULL, &keys, &err);
    EXPECT_OK(f, rc, &err);
    assert_int_equal(keys, 1);
    tess__kv_close(kv);
    tess__err_release(&err);
}

/* ---- the store's lock ------------------------------------------------------------------------ */

/* A critical section guarded by the lock: read a counter, say who is inside, wait a little,
 * check nobody else came in, write the counter + 1. Returns 0 or a message. */
static const char *locked_increment(tess__kv *kv, tess__err *err)
{
    static _Thread_local char msg[300];
    tess__kv_hold *h = NULL;
    tess__arena arena = TESS__ARENA_INIT;
    tess__str keys[] = {{"lk\0n", 4}, {"lk\0who", 6}}, vals[2];
    char me[32], nb[32];
    snprintf(me, sizeof(me), "%ld", (long)getpid());
    const char *bad = NULL;
    if (tess__kv_lock(kv, "online", true, &h, err) != TESS_OK) bad = "lock";
    if (!bad && tess__kv_get(kv, keys, 1, vals, &arena, err) != TESS_OK) bad = "get";
    long n = !bad && vals[0].p ? parse_long(vals[0]) : 0;
    tess__str who = {me, strlen(me)};
    if (!bad && tess__kv_put(kv, &keys[1], &who, 1, err) != TESS_OK) bad = "put who";
    usleep(2000);
    if (!bad && tess__kv_get(kv, &keys[1], 1, &vals[1], &arena, err) != TESS_OK) bad = "get who";
    if (!bad && (!vals[1].p || vals[1].n != who.n || memcmp(vals[1].p, me, who.n) != 0)) {
        snprintf(msg, sizeof(msg), "another process (%.*s) was inside the lock with %s",
                 vals[1].p ? (int)vals[1].n : 1, vals[1].p ? vals[1].p : "?", me);
        tess__kv_unlock(h, err);
        tess__arena_release(&arena);
        return msg;
    }
    snprintf(nb, sizeof(nb), "%ld", n + 1);
    tess__str nv = {nb, strlen(nb)};
    if (!bad && tess__kv_put(kv, keys, &nv, 1, err) != TESS_OK) bad = "put n";
    if (h && tess__kv_unlock(h, err) != TESS_OK && !bad) bad = "unlock";
    tess__arena_release(&arena);
    if (!bad) return NULL;
    snprintf(msg, sizeof(msg), "%s: %s", bad, tess__err_msg(err));
    return msg;
}

/* One holder at a time: across handles of one process, and across processes. */
static void test_lock(void **state)
{
    fixture *f = *state;
    tess__err err = TESS__ERR_INIT;
    tess__kv *a = must_open(f, NULL), *b = must_open(f, NULL);
    tess__kv_hold *ha = NULL, *hb = (tess__kv_hold *)1;
    int rc = tess__kv_lock(a, "online", false, &ha, &err);
    EXPECT_OK(f, rc, &err);
    rc = tess__kv_lock(b, "online", false, &hb, &err);
    expect_err(f, rc, TESS_EEXIST, &err, "");
    assert_null(hb);
    /* the lock is not a key of the store */
    collected c = {{0}, 0};
    rc = tess__kv_scan(b, (tess__str){"", 0}, collect_fn, &c, &err);
    EXPECT_OK(f, rc, &err);
    EXPECT(f, c.got.n == 0, "a scan of an empty store holding a lock found %zu keys",
           c.got.n);
    model_free(&c.got);
    rc = tess__kv_lock(b, "other-lock_2", false, &hb, &err); /* another name: free */
    EXPECT_OK(f, rc, &err);
    rc = tess__kv_unlock(hb, &err);
    EXPECT_OK(f, rc, &err);
    static const char *const BAD[] = {"", "a/b", "a b", "../x",
                                      "12345678901234567890123456789012345678901234567890123456"
                                      "789012345"};
    for (size_t i = 0; i < sizeof(BAD) / sizeof(BAD[0]); i++) {
        hb = (tess__kv_hold *)1;
        rc = tess__kv_lock(b, BAD[i], false, &hb, &err);
        expect_err(f, rc, TESS_EINVAL, &err, "bad name");
        assert_null(hb);
    }
    rc = tess__kv_unlock(ha, &err);
    EXPECT_OK(f, rc, &err);
    rc = tess__kv_lock(b, "online", false, &hb, &err); /* free again */
    EXPECT_OK(f, rc, &err);
    rc = tess__kv_unlock(hb, &err);
    EXPECT_OK(f, rc, &err);
    EXPECT_OK(f, tess__kv_unlock(NULL, &err), &err);
    tess__kv_close(b);

    /* processes taking turns: a read-modify-write inside the lock loses nothing and never
       finds another process inside */
    enum { NP = 2, ITERS = 25 };
    pid_t pids[NP];
    for (int p = 0; p < NP; p++) {
        pids[p] = fork();
        assert_true(pids[p] >= 0);
        if (pids[p] == 0) {
            tess__err cerr = TESS__ERR_INIT;
            tess__kv *ckv = NULL;
            const char *bad = open_store(f, NULL, &ckv, &cerr) == TESS_OK ? NULL : "open";
            for (int i = 0; !bad && i < ITERS; i++) bad = locked_increment(ckv, &cerr);
            if (bad) fprintf(stderr, "[  ERROR   ] child: %s %s\n", bad, tess__err_msg(&cerr));
            tess__kv_close(ckv);
            tess__err_release(&cerr);
            _exit(bad ? 1 : 0);
        }
    }
    const char *bad = NULL;
    for (int i = 0; !bad && i < ITERS; i++) bad = locked_increment(a, &err);
    EXPECT(f, bad == NULL, "%s", bad ? bad : "");
    for (int p = 0; p < NP; p++) {
        int st = 0;
        assert_int_equal(waitpid(pids[p], &st, 0), pids[p]);
        EXPECT(f, WIFEXITED(st) && WEXITSTATUS(st) == 0, "child %d failed (status %d)", p, st);
    }
    tess__arena arena = TESS__ARENA_INIT;
    tess__str k = {"lk\0n", 4}, v;
    rc = tess__kv_get(a, &k, 1, &v, &arena, &err);
    EXPECT_OK(f, rc, &err);
    EXPECT(f, v.p && parse_long(v) == (NP + 1) * ITERS, "counter %ld, want %d",
           v.p ? parse_long(v) : -1, (NP + 1) * ITERS);
    tess__arena_release(&arena);
    tess__kv_close(a);
    tess__err_release(&err);
}

/* Deletes the key of lock "online" behind its holder's back. */
static void drop_lock_key(const fixture *f)
{
    if (is_cluster(f)) {
        for (int i = 0; i < CN; i++) { /* the owner deletes it; the others answer MOVED */
            redisReply *r = node_cmd(i, "DEL tessera-lock:online");
            if (r) freeReplyObject(r);
        }
        return;
    }
    redisContext *c = rs_connect();
    assert_non_null(c);
    redisReply *r = redisCommand(c, "SELECT 3");
    if (r) freeReplyObject(r);
    r = redisCommand(c, "DEL tessera-lock:online");
    assert_true(r && r->type == REDIS_REPLY_INTEGER && r->integer == 1);
    freeReplyObject(r);
    redisFree(c);
}

/* Redis leases: renewed while held, freed when the holder dies, a loss reported. */
static void test_lease(void **state)
{
    fixture *f = *state;
    if (!is_redis(f) && !is_cluster(f)) skip();
    tess__err err = TESS__ERR_INIT;
    char url[300];
    snprintf(url, sizeof(url), "%s?lock_ttl=1000", f->be->url);
    tess__kv *a = NULL, *b = NULL;
    int rc = tess__kv_open(url, NULL, NULL, &a, &err);
    EXPECT_OK(f, rc, &err);
    rc = tess__kv_open(url, NULL, NULL, &b, &err);
    EXPECT_OK(f, rc, &err);

    /* held across several lease times: the holder renews it */
    tess__kv_hold *ha = NULL, *hb = NULL;
    rc = tess__kv_lock(a, "online", false, &ha, &err);
    EXPECT_OK(f, rc, &err);
    for (int i = 0; i < 8; i++) { /* 3.2 s: more than three leases */
        usleep(400000);
        rc = tess__kv_lock(b, "online", false, &hb, &err);
        expect_err(f, rc, TESS_EEXIST, &err, "is held by");
    }
    rc = tess__kv_unlock(ha, &err);
    EXPECT_OK(f, rc, &err);

    /* a holder that dies: the lock is free once its lease runs out */
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        tess__kv *ckv = NULL;
        tess__kv_hold *h = NULL;
        char ok = tess__kv_open(url, NULL, NULL, &ckv, &err) == TESS_OK &&
                          tess__kv_lock(ckv, "online", false, &h, &err) == TESS_OK
                      ? 'y'
                      : 'n';
        if (write(pfd[1], &ok, 1) != 1) _exit(1);
        for (;;) pause(); /* killed holding it */
    }
    char got = 0;
    assert_int_equal(read(pfd[0], &got, 1), 1);
    close(pfd[0]);
    close(pfd[1]);
    assert_int_equal(got, 'y');
    rc = tess__kv_lock(b, "online", false, &hb, &err);
    expect_err(f, rc, TESS_EEXIST, &err, "is held by");
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    rc = tess__kv_lock(b, "online", true, &hb, &err); /* waits for the lease to run out */
    EXPECT_OK(f, rc, &err);
    rc = tess__kv_unlock(hb, &err);
    EXPECT_OK(f, rc, &err);

    /* a lease lost while held (its key deleted behind its back, another process took it):
       the release says so and leaves the other holder's lock alone */
    rc = tess__kv_lock(a, "online", false, &ha, &err);
    EXPECT_OK(f, rc, &err);
    drop_lock_key(f);
    rc = tess__kv_lock(b, "online", false, &hb, &err);
    EXPECT_OK(f, rc, &err);
    rc = tess__kv_unlock(ha, &err);
    expect_err(f, rc, TESS_EIO, &err, "was lost");
    rc = tess__kv_lock(a, "online", false, &ha, &err);
    expect_err(f, rc, TESS_EEXIST, &err, "is held by"); /* b still holds it */
    rc = tess__kv_unlock(hb, &err);
    EXPECT_OK(f, rc, &err);
    tess__kv_close(a);
    tess__kv_close(b);
    tess__err_release(&err);
}

/* ---- Redis Cluster -------------------------------------------------------------------------- */

/* One command with binary arguments to node i. */
static redisReply *node_argv(int i, int argc, const char **argv, const size_t *lens)
{
    redisContext *c = redisConnectWithTimeout("127.0.0.1", cs.port[i], (struct timeval){1, 0});
    if (!c || c->err) {
        if (c) redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, (struct timeval){5, 0});
    redisReply *r = redisCommandArgv(c, argc, argv, lens);
    redisFree(c);
    return r;
}

/* The hash tag of a stored key (the bytes between its first '{' and the next '}'). */
static int stored_tag(const char *k, size_t n, char *out, size_t cap)
{
    const char *o = memchr(k, '{', n), *c = o ? memchr(o, '}', n - (size_t)(o - k)) : NULL;
    if (!o || !c || (size_t)(c - o - 1) >= cap) return -1;
    memcpy(out, o + 1, (size_t)(c - o - 1));
    out[c - o - 1] = 0;
    return 0;
}

/* Keys whose bytes use '{', '}' and '%' (the characters of hash tags and of their escape):
 * stored and found as they are; the keys of one tag are in one transaction; a key of another
 * tag reached through the transaction is refused; one view's keys lie on one node, and the
 * views spread over the nodes. */
static void test_cluster_tags(void **state)
{
    fixture *f = *state;
    if (!is_cluster(f)) skip();
    tess__err err = TESS__ERR_INIT;
    tess__kv *kv = must_open(f, NULL);
    static const struct {
        const char *k;
        size_t n;
    } K[] = {
        {"v{a}\0{b}", 8}, {"h{a}\0{b}", 8}, {"m{a}", 4},  {"v}\0x", 4},  {"v%7D\0x", 7},
        {"v%\0x", 4},     {"v\0x", 3},      {"{", 1},     {"}", 1},      {"{}", 2},
        {"}{", 2},        {"v{}\0", 4},     {"m%", 2},    {"m%25", 4},   {"x", 1},
    };
    enum { NK = sizeof(K) / sizeof(K[0]) };
    model m = {0};
    for (size_t i = 0; i < NK; i++) {
        char v[16];
        int vn = snprintf(v, sizeof(v), "val%zu", i);
        tess__str k = {K[i].k, K[i].n}, val = {v, (size_t)vn};
        int rc = tess__kv_put(kv, &k, &val, 1, &err);
        EXPECT_OK(f, rc, &err);
        model_set(&m, K[i].k, K[i].n, v, (size_t)vn);
    }
    check_all(f, kv, &m);
    tess__str all[NK];
    for (size_t i = 0; i < NK; i++) all[i] = (tess__str){K[i].k, K[i].n};
    check_get(f, kv, &m, all, NK);
    /* a view's head, history and meta record in one transaction */
    upd u = {.abort_at = -1, .set = {"meta2", "head2"}};
    tess__str batch[] = {{"m{a}", 4}, {"v{a}\0{b}", 8}};
    int rc = tess__kv_update(kv, batch, 2, upd_fn, &u, &err);
    EXPECT_OK(f, rc, &err);
    assert_string_equal(u.seen[0], "val2");
    model_set(&m, "m{a}", 4, "meta2", 5);
    model_set(&m, "v{a}\0{b}", 8, "head2", 5);
    side sd = {.abort_at = -1, .arena = TESS__ARENA_INIT, .err = &err};
    tess__str other = {"v}\0x", 4}; /* tag "}": side_fn reaches "x" (tag ""): refused */
    rc = tess__kv_update(kv, &other, 1, side_fn, &sd, &err);
    expect_err(f, rc, TESS_EINVAL, &err, "share a hash tag");
    check_all(f, kv, &m);
    uint64_t deleted = 0;
    rc = tess__kv_drop_prefix(kv, (tess__str){"v{a}\0", 5}, &deleted, &err);
    EXPECT_OK(f, rc, &err);
    assert_int_equal(deleted, 1);
    deleted += model_drop_prefix(&m, "v{a}\0", 5);
    rc = tess__kv_drop_prefix(kv, (tess__str){"v", 1}, &deleted, &err);
    EXPECT_OK(f, rc, &err);
    EXPECT(f, deleted == model_drop_prefix(&m, "v", 1), "drop \"v\": %" PRIu64, deleted);
    check_all(f, kv, &m);
    tess__arena_release(&sd.arena);

    /* 40 views of 3 keys each: each view on one node, the views on every node */
    char kb[3][32];
    for (int vw = 0; vw < 40; vw++) {
        int n0 = snprintf(kb[0], 32, "vview%d", vw) + 1; /* 'v' name NUL entity */
        memcpy(kb[0] + n0, "e1", 2);
        memcpy(kb[1], kb[0], (size_t)n0 + 2);
        kb[1][0] = 'h';
        int n2 = snprintf(kb[2], 32, "mview%d", vw);
        tess__str ks[3] = {{kb[0], (size_t)n0 + 2}, {kb[1], (size_t)n0 + 2}, {kb[2], (size_t)n2}};
        tess__str vs[3] = {{"1", 1}, {"2", 1}, {"3", 1}};
        rc = tess__kv_put(kv, ks, vs, 3, &err);
        EXPECT_OK(f, rc, &err);
    }
    int nodes_used = 0;
    char tags[CN][40][16];
    int ntags[CN] = {0};
    for (int i = 0; i < CN; i++) {
        redisReply *r = node_cmd(i, "KEYS *view*");
        assert_non_null(r);
        assert_int_equal(r->type, REDIS_REPLY_ARRAY);
        if (r->elements) nodes_used++;
        for (size_t j = 0; j < r->elements; j++) {
            char t[16];
            assert_int_equal(stored_tag(r->element[j]->str, r->element[j]->len, t, sizeof t), 0);
            bool seen = false;
            for (int q = 0; q < ntags[i]; q++) seen |= strcmp(tags[i][q], t) == 0;
            if (!seen && ntags[i] < 40) strcpy(tags[i][ntags[i]++], t);
        }
        freeReplyObject(r);
    }
    int total = 0;
    for (int i = 0; i < CN; i++) {
        total += ntags[i];
        for (int q = 0; q < ntags[i]; q++)
            for (int o = 0; o < CN; o++)
                for (int w = 0; o != i && w < ntags[o]; w++)
                    EXPECT(f, strcmp(tags[i][q], tags[o][w]) != 0, "view tag %s on two nodes",
                           tags[i][q]);
    }
    EXPECT(f, total == 40, "%d view tags found, want 40", total);
    EXPECT(f, nodes_used == CN, "the views are on %d of %d nodes", nodes_used, CN);
    uint64_t keys = 0;
    rc = tess__kv_stats(kv, NULL, &keys, &err);
    EXPECT_OK(f, rc, &err);
    EXPECT(f, keys == 120 + m.n, "stats: %" PRIu64 " keys, want %zu", keys, 120 + m.n);
    model_free(&m);
    tess__kv_close(kv);
    tess__err_release(&err);
}

/* The slot of a view moves to another node while a handle is open: in the middle of the
 * migration (ASK), and after it (MOVED), every operation still finds every key. */
static void test_cluster_moved(void **state)
{
    fixture *f = *state;
    if (!is_cluster(f)) skip();
    tess__err err = TESS__ERR_INIT;
    tess__arena arena = TESS__ARENA_INIT;
    tess__kv *kv = must_open(f, NULL);
    enum { NE = 20 };
    char kb[NE + 1][16];
    tess__str keys[NE + 1], vals[NE + 1], got[NE + 1];
    model m = {0};
    for (int i = 0; i < NE; i++) {
        memcpy(kb[i], "vmv", 4); /* "vmv" NUL "<i>" */
        int n = snprintf(kb[i] + 4, 12, "%d", i);
        keys[i] = (tess__str){kb[i], 4 + (size_t)n};
        vals[i] = (tess__str){kb[i] + 4, (size_t)n};
    }
    keys[NE] = (tess__str){"mmv", 3};
    vals[NE] = (tess__str){"meta", 4};
    int rc = tess__kv_put(kv, keys, vals, NE + 1, &err);
    EXPECT_OK(f, rc, &err);
    for (int i = 0; i <= NE; i++) model_set(&m, keys[i].p, keys[i].n, vals[i].p, vals[i].n);
    redisReply *r = node_cmd(0, "CLUSTER KEYSLOT {mv}");
    assert_non_null(r);
    int slot = (int)r->integer;
    freeReplyObject(r);
    int src = cs_slot_owner(slot), dst = (src + 1) % CN;
    assert_true(src >= 0);
    char id[CN][64];
    for (int i = 0; i < CN; i++) {
        r = node_cmd(i, "CLUSTER MYID");
        assert_true(r && r->type == REDIS_REPLY_STRING && r->len < 64);
        memcpy(id[i], r->str, r->len + 1);
        freeReplyObject(r);
    }
    cs.migrating = slot;
    r = node_cmd(dst, "CLUSTER SETSLOT %d IMPORTING %s", slot, id[src]);
    assert_true(r && r->type == REDIS_REPLY_STATUS);
    freeReplyObject(r);
    r = node_cmd(src, "CLUSTER SETSLOT %d MIGRATING %s", slot, id[dst]);
    assert_true(r && r->type == REDIS_REPLY_STATUS);
    freeReplyObject(r);
    /* half of the keys move */
    r = node_cmd(src, "CLUSTER GETKEYSINSLOT %d 100", slot);
    assert_true(r && r->type == REDIS_REPLY_ARRAY && r->elements == NE + 1);
    char port[16];
    snprintf(port, sizeof(port), "%d", cs.port[dst]);
    const char *mv[8 + NE];
    size_t ml[8 + NE];
    int mc = 0;
    const char *head[] = {"MIGRATE", "127.0.0.1", port, "", "0", "5000", "KEYS"};
    for (int i = 0; i < 7; i++) {
        mv[mc] = head[i];
        ml[mc++] = strlen(head[i]);
    }
    for (size_t j = 0; j < r->elements / 2; j++) {
        mv[mc] = r->element[j]->str;
        ml[mc++] = r->element[j]->len;
    }
    redisReply *mr = node_argv(src, mc, mv, ml);
    assert_true(mr && mr->type == REDIS_REPLY_STATUS);
    freeReplyObject(mr);
    /* mid-migration: reads and blind writes follow ASK */
    rc = tess__kv_get(kv, keys, NE + 1, got, &arena, &err);
    EXPECT_OK(f, rc, &err);
    check_get(f, kv, &m, keys, NE + 1);
    tess__str nv = {"x0", 2};
    for (int i = 0; i <= NE; i += 7) {
        rc = tess__kv_put(kv, &keys[i], &nv, 1, &err);
        EXPECT_OK(f, rc, &err);
        model_set(&m, keys[i].p, keys[i].n, nv.p, nv.n);
    }
    check_get(f, kv, &m, keys, NE + 1);
    /* the rest moves; the slot is the destination's */
    freeReplyObject(r);
    r = node_cmd(src, "CLUSTER GETKEYSINSLOT %d 100", slot);
    assert_true(r && r->type == REDIS_REPLY_ARRAY);
    mc = 7;
    for (size_t j = 0; j < r->elements; j++) {
        mv[mc] = r->element[j]->str;
        ml[mc++] = r->element[j]->len;
    }
    if (r->elements) {
        mr = node_argv(src, mc, mv, ml);
        assert_true(mr && mr->type == REDIS_REPLY_STATUS);
        freeReplyObject(mr);
    }
    freeReplyObject(r);
    for (int i = 0; i < CN; i++) {
        int o = (dst + i) % CN; /* the destination first */
        r = node_cmd(o, "CLUSTER SETSLOT %d NODE %s", slot, id[dst]);
        assert_true(r && r->type == REDIS_REPLY_STATUS);
        freeReplyObject(r);
    }
    cs.migrating = -1;
    /* after it: MOVED, the map read again */
    check_get(f, kv, &m, keys, NE + 1);
    upd u = {.abort_at = -1, .set = {"meta2", "h2"}};
    tess__str batch[] = {{"mmv", 3}, keys[1]};
    rc = tess__kv_update(kv, batch, 2, upd_fn, &u, &err);
    EXPECT_OK(f, rc, &err);
    model_set(&m, "mmv", 3, "meta2", 5);
    model_set(&m, keys[1].p, keys[1].n, "h2", 2);
    check_scan(f, kv, &m, "vmv\0", 4);
    check_all(f, kv, &m);
    tess__kv *kv2 = must_open(f, NULL); /* a new handle reads the new map at once */
    check_get(f, kv2, &m, keys, NE + 1);
    tess__kv_close(kv2);
    uint64_t deleted = 0;
    rc = tess__kv_drop_prefix(kv, (tess__str){"vmv\0", 4}, &deleted, &err);
    EXPECT_OK(f, rc, &err);
    assert_int_equal(deleted, NE);
    model_drop_prefix(&m, "vmv\0", 4);
    check_all(f, kv, &m);
    model_free(&m);
    tess__arena_release(&arena);
    tess__kv_close(kv);
    tess__err_release(&err);
}

/* A node dies: operations on its keys fail with TESS_EIO naming it, never a crash; when it
 * is back, the same handle works again by itself. */
static void test_cluster_node_down(void **state)
{
    fixture *f = *state;
    if (!is_cluster(f)) skip();
    tess__err err = TESS__ERR_INIT;
    tess__arena arena = TESS__ARENA_INIT;
    tess__kv *kv = must_open(f, NULL);
    /* a key of a view that node 1 serves */
    char kb[32];
    size_t kn = 0;
    for (int vw = 0; vw < 1000 && !kn; vw++) {
        char tag[16];
        snprintf(tag, sizeof(tag), "{dv%d}", vw);
        redisReply *r = node_cmd(0, "CLUSTER KEYSLOT %s", tag);
        int owner = r && r->type == REDIS_REPLY_INTEGER ? cs_slot_owner((int)r->integer) : -1;
        if (r) freeReplyObject(r);
        if (owner == 1) kn = (size_t)snprintf(kb, sizeof(kb), "vdv%d", vw) + 1 + 1;
    }
    assert_true(kn > 0);
    kb[kn - 1] = 'e'; /* "vdv<n>" NUL "e" */
    char where[64];
    snprintf(where, sizeof(where), "127.0.0.1:%d", cs.port[1]);
    tess__str k = {kb, kn}, v = {"v", 1}, got;
    int rc = tess__kv_put(kv, &k, &v, 1, &err);
    EXPECT_OK(f, rc, &err);
    cs_stop(1, SIGKILL);
    rc = tess__kv_get(kv, &k, 1, &got, &arena, &err);
    expect_err(f, rc, TESS_EIO, &err, where);
    rc = tess__kv_put(kv, &k, &v, 1, &err);
    expect_err(f, rc, TESS_EIO, &err, where);
    upd u = {.abort_at = -1, .set = {"z"}};
    rc = tess__kv_update(kv, &k, 1, upd_fn, &u, &err);
    expect_err(f, rc, TESS_EIO, &err, where);
    rc = tess__kv_stats(kv, NULL, NULL, &err);
    EXPECT(f, rc == TESS_EIO, "stats with a node down: rc %d", rc);
    collected c = {{0}, 0};
    rc = tess__kv_scan(kv, (tess__str){"", 0}, collect_fn, &c, &err);
    EXPECT(f, rc == TESS_EIO, "scan with a node down: rc %d", rc);
    model_free(&c.got);
    assert_int_equal(cs_spawn(1), 0); /* back (empty: no persistence), rejoining */
    assert_int_equal(cs_wait_healthy(), 0);
    for (int i = 0; i < 100; i++) { /* the handle recovers by itself */
        rc = tess__kv_put(kv, &k, &v, 1, &err);
        if (rc == TESS_OK) break;
        EXPECT(f, rc == TESS_EIO, "while the cluster recovers: rc %d %s", rc,
               tess__err_msg(&err));
        usleep(100000);
    }
    EXPECT_OK(f, rc, &err);
    model m = {0};
    model_set(&m, kb, kn, "v", 1);
    check_all(f, kv, &m);
    model_free(&m);
    tess__arena_release(&arena);
    tess__kv_close(kv);
    tess__err_release(&err);
}

/* Calls of Redis command `cmd` on every node since the last CONFIG RESETSTAT. */
static long cmd_calls(const char *cmd)
{
    long total = 0;
    char needle[64];
    snprintf(needle, sizeof(needle), "cmdstat_%s:calls=", cmd);
    for (int i = 0; i < CN; i++) {
        redisReply *r = node_cmd(i, "INFO commandstats");
        const char *at = r && r->type == REDIS_REPLY_STRING ? strstr(r->str, needle) : NULL;
        if (at) total += strtol(at + strlen(needle), NULL, 10);
        if (r) freeReplyObject(r);
    }
    return total;
}

static void reset_stats(void)
{
    for (int i = 0; i < CN; i++) assert_true(node_ok(i, "CONFIG RESETSTAT"));
}

/* Many entities cost one command per view (one pipelined round trip per node), not one per
 * entity: a get of 2 x 100 heads is two MGETs; an update of a view's meta record and 100
 * heads one WATCH, one MGET, one EXEC. */
static void test_cluster_round_trips(void **state)
{
    fixture *f = *state;
    if (!is_cluster(f)) skip();
    tess__err err = TESS__ERR_INIT;
    tess__arena arena = TESS__ARENA_INIT;
    tess__kv *kv = must_open(f, NULL);
    enum { NE = 100 };
    static char kb[2 * NE][16];
    tess__str keys[2 * NE + 1], vals[2 * NE], got[2 * NE + 1];
    for (int i = 0; i < 2 * NE; i++) {
        int n = snprintf(kb[i], sizeof kb[i], "vrt%d", i / NE) + 1;
        n += snprintf(kb[i] + n, sizeof kb[i] - (size_t)n, "%d", i % NE);
        keys[i] = (tess__str){kb[i], (size_t)n};
        vals[i] = (tess__str){"x", 1};
    }
    int rc = tess__kv_put(kv, keys, vals, 2 * NE, &err);
    EXPECT_OK(f, rc, &err);
    reset_stats();
    rc = tess__kv_get(kv, keys, 2 * NE, got, &arena, &err);
    EXPECT_OK(f, rc, &err);
    for (int i = 0; i < 2 * NE; i++) EXPECT(f, got[i].p && got[i].n == 1, "key %d missing", i);
    EXPECT(f, cmd_calls("mget") == 2 && cmd_calls("get") == 0, "a get of two views' 200 keys "
           "took %ld MGETs and %ld GETs", cmd_calls("mget"), cmd_calls("get"));
    keys[NE] = (tess__str){"mrt0", 4}; /* view 0's meta record and its 100 heads */
    reset_stats();
    char buf[1][32];
    rc = tess__kv_update(kv, keys, NE + 1, incr_all_fn, buf, &err);
    EXPECT_OK(f, rc, &err);
    EXPECT(f, cmd_calls("watch") == 1 && cmd_calls("mget") == 1 && cmd_calls("exec") == 1,
           "an update of a view's 101 keys took %ld WATCH, %ld MGET, %ld EXEC",
           cmd_calls("watch"), cmd_calls("mget"), cmd_calls("exec"));
    tess__arena_release(&arena);
    tess__kv_close(kv);
    tess__err_release(&err);
}

static void test_cluster_urls(void **state)
{
    fixture *f = *state;
    if (!is_cluster(f)) skip();
    tess__err err = TESS__ERR_INIT;
    char url[300];
    static const bad_url BAD[] = {
        {"redis-cluster://", "no host"},
        {"redis-cluster://127.0.0.1:7000,", "no host"},
        {"redis-cluster://127.0.0.1:7000,127.0.0.1:x", "port \"x\""},
        {"redis-cluster://127.0.0.1:7000/3", "no databases"},
        {"redis-cluster://127.0.0.1:7000?bogus=1", "unknown option \"bogus\""},
        {"redis-cluster://127.0.0.1:7000?lock_ttl=5", "lock_ttl=5"},
        {"redis-cluster://u@127.0.0.1:7000", "credentials"},
    };
    expect_bad_urls(f, BAD, sizeof(BAD) / sizeof(BAD[0]));
    int dead = free_port();
    /* nobody answers */
    snprintf(url, sizeof(url), "redis-cluster://127.0.0.1:%d", dead);
    tess__kv *kv = (tess__kv *)1;
    int rc = tess__kv_open(url, NULL, NULL, &kv, &err);
    expect_err(f, rc, TESS_EIO, &err, "cannot connect");
    assert_null(kv);
    /* a server that is not a cluster node */
    snprintf(url, sizeof(url), "redis-cluster://127.0.0.1:%d", rs.port);
    rc = tess__kv_open(url, NULL, NULL, &kv, &err);
    expect_err(f, rc, TESS_ECONFIG, &err, "not a cluster node");
    /* one live node among dead ones is enough: the others are learnt from it */
    snprintf(url, sizeof(url), "redis-cluster://127.0.0.1:%d,127.0.0.1:%d?timeout=5000", dead,
             cs.port[2]);
    rc = tess__kv_open(url, NULL, NULL, &kv, &err);
    EXPECT_OK(f, rc, &err);
    assert_string_equal(tess__kv_name(kv), "redis-cluster");
    tess__str ks[3] = {{"a\0x", 3}, {"b\0y", 3}, {"c\0z", 3}}, vs[3] = {{"1", 1}, {"2", 1}, {"3", 1}};
    char kb[40][8];
    for (int i = 0; i < 40; i++) { /* keys all over the cluster */
        int n = snprintf(kb[i], sizeof kb[i], "k%d", i);
        tess__str k = {kb[i], (size_t)n};
        rc = tess__kv_put(kv, &k, &vs[0], 1, &err);
        EXPECT_OK(f, rc, &err);
    }
    rc = tess__kv_put(kv, ks, vs, 3, &err);
    EXPECT_OK(f, rc, &err);
    uint64_t keys = 0;
    rc = tess__kv_stats(kv, NULL, &keys, &err);
    EXPECT_OK(f, rc, &err);
    assert_int_equal(keys, 43);
    tess__kv_close(kv);
    tess__err_release(&err);
}

/* ---- main: every test against every back end --------------------------------------------------- */

typedef struct named_test {
    const char *name;
    CMUnitTestFunction fn;
} named_test;

#define T(fn) {#fn, fn}
static const named_test TESTS[] = {
    T(test_random_ops),  T(test_update_semantics), T(test_update_aliasing), T(test_update_txn),
    T(test_expire),      T(test_expire_args),
    T(test_snapshot_reads), T(test_snap),          T(test_many_readers),  T(test_threads_rmw),
    T(test_processes_rmw), T(test_persistence),    T(test_read_only),
    T(test_limits),      T(test_urls),             T(test_fs_errors),
    T(test_map_full),    T(test_map_resized),      T(test_two_handles),
    T(test_stats),       T(test_scan_bounds),      T(test_alloc_failures),
    T(test_glob_keys),   T(test_txn_counters),     T(test_big_scan),
    T(test_redis_restart), T(test_redis_timeout),  T(test_redis_urls),
    T(test_lock),        T(test_lease),            T(test_cluster_tags),
    T(test_cluster_moved), T(test_cluster_node_down), T(test_cluster_urls),
    T(test_cluster_round_trips),
};

int main(void)
{
    enum { NB = sizeof(BACKENDS) / sizeof(BACKENDS[0]), NT = sizeof(TESTS) / sizeof(TESTS[0]) };
    static struct CMUnitTest tests[NB * NT];
    static char names[NB * NT][96];
    size_t nb = NB;
    if (!on_path("redis-server") || !on_path("redis-cli")) {
        printf("[ SKIPPED  ] redis/*, redis-cluster/*: redis-server or redis-cli is not "
               "installed (scripts/setup.sh installs them); the Redis back ends are not tested\n");
        nb = 1;
    } else {
        snprintf(rs.dir, sizeof(rs.dir), "%s/tess-redis.XXXXXX", tmp_base());
        if (!mkdtemp(rs.dir)) {
            perror(rs.dir);
            return 1;
        }
        atexit(rs_atexit);
        if (rs_start() != 0) return 1;
        snprintf(rs.url, sizeof(rs.url), "redis://127.0.0.1:%d/3", rs.port);
        snprintf(cs.dir, sizeof(cs.dir), "%s/tess-cluster.XXXXXX", tmp_base());
        if (!mkdtemp(cs.dir)) {
            perror(cs.dir);
            return 1;
        }
        atexit(cs_atexit);
        if (cs_start() != 0) return 1;
    }
    size_t n = 0;
    for (size_t b = 0; b < nb; b++) {
        for (size_t t = 0; t < NT; t++) {
            /* the tests of a Redis server itself run on the Redis row only */
            const char *be = BACKENDS[b].name, *tn = TESTS[t].name;
            if (strncmp(tn, "test_redis_", 11) == 0 && strcmp(be, "redis") != 0) continue;
            if (strncmp(tn, "test_cluster_", 13) == 0 && strcmp(be, "redis-cluster") != 0)
                continue;
            if (strncmp(tn, "test_lease", 10) == 0 && strncmp(be, "redis", 5) != 0) continue;
            snprintf(names[n], sizeof(names[n]), "%s/%s", BACKENDS[b].name, TESTS[t].name + 5);
            tests[n] = (struct CMUnitTest){names[n], TESTS[t].fn, setup, teardown,
                                           (void *)&BACKENDS[b]};
            n++;
        }
    }
    return _cmocka_run_group_tests("online_kv", tests, n, NULL, NULL);
}
