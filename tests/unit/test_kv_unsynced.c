/* test_kv_unsynced.c — unsynced LMDB commits (kv.h TESS__KV_REPLAYABLE; kv_lmdb.c,
 * docs/online_backends.md "Durability"): the marker file that announces them, its removal once
 * they are flushed, and what the next open does after a system crash (simulated: a process
 * that dies with unsynced commits, then TESSERA_BOOT_ID set to another boot's id).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "online/kv.h"
#include "tessera.h"

static char dir[256];
static char marker[300];

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

static int setup(void **state)
{
    (void)state;
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(dir, sizeof dir, "%s/tess-unsynced-XXXXXX", base);
    if (!mkdtemp(dir)) return -1;
    snprintf(marker, sizeof marker, "%s/unsynced", dir);
    setenv("TESSERA_BOOT_ID", "boot-a", 1);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    unsetenv("TESSERA_BOOT_ID");
    return 0;
}

static tess__kv *open_kv(bool read_only)
{
    tess__kv_opts o = {false, read_only, 0};
    tess__kv *kv = NULL;
    tess__err err = TESS__ERR_INIT;
    int rc = tess__kv_open(NULL, dir, &o, &kv, &err);
    if (rc) fail_msg("open: %s", tess__err_msg(&err));
    tess__err_release(&err);
    return kv;
}

static int set_fn(void *arg, tess__kv_txn *tx, size_t i, tess__str old, tess__str *nv, bool *del)
{
    (void)tx, (void)i, (void)old, (void)del;
    *nv = *(tess__str *)arg;
    return 0;
}

static void put(tess__kv *kv, const char *k, const char *v, unsigned flags)
{
    tess__str key = {k, strlen(k)}, val = {v, strlen(v)};
    tess__err err = TESS__ERR_INIT;
    int rc = tess__kv_update_flags(kv, &key, 1, set_fn, &val, flags, &err);
    if (rc) fail_msg("update: %s", tess__err_msg(&err));
    tess__err_release(&err);
}

/* the value of k ("" when absent) */
static char *get(tess__kv *kv, const char *k)
{
    static char out[64];
    tess__str key = {k, strlen(k)}, val;
    tess__arena a = TESS__ARENA_INIT;
    tess__err err = TESS__ERR_INIT;
    int rc = tess__kv_get(kv, &key, 1, &val, &a, &err);
    if (rc) fail_msg("get: %s", tess__err_msg(&err));
    snprintf(out, sizeof out, "%.*s", (int)val.n, val.p ? val.p : "");
    tess__arena_release(&a);
    tess__err_release(&err);
    return out;
}

static char *marker_text(void)
{
    static char out[64];
    FILE *f = fopen(marker, "r");
    if (!f) return NULL;
    size_t n = fread(out, 1, sizeof out - 1, f);
    out[n] = '\0';
    fclose(f);
    return out;
}

/* A child process that writes k=v unsynced and dies without closing (as kill -9 would). */
static void crash_after_unsynced(const char *k, const char *v)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        tess__kv *kv = open_kv(false);
        put(kv, k, v, TESS__KV_REPLAYABLE);
        _exit(marker_text() ? 0 : 3);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

static void test_synced_writes_leave_no_marker(void **state)
{
    (void)state;
    tess__kv *kv = open_kv(false);
    put(kv, "k", "v1", 0);
    assert_null(marker_text());
    tess__kv_close(kv);
    assert_null(marker_text());
}

static void test_marker_lives_while_unsynced(void **state)
{
    (void)state;
    tess__kv *kv = open_kv(false);
    put(kv, "k", "v1", TESS__KV_REPLAYABLE);
    /* announced before the commit, with this boot's id, unless already flushed */
    char *m = marker_text();
    if (m) assert_string_equal(m, "boot-a");
    assert_string_equal(get(kv, "k"), "v1");
    tess__kv_close(kv); /* flushes: nothing unsynced is left, the marker goes */
    assert_null(marker_text());
    kv = open_kv(true);
    assert_string_equal(get(kv, "k"), "v1");
    tess__kv_close(kv);
}

static void test_flusher_removes_marker(void **state)
{
    (void)state;
    tess__kv *kv = open_kv(false);
    put(kv, "k", "v1", TESS__KV_REPLAYABLE);
    /* the handle stays open: its flusher thread flushes and removes the marker by itself */
    for (int i = 0; i < 200 && marker_text(); i++) usleep(50000);
    assert_null(marker_text());
    /* and a later unsynced commit announces itself again */
    put(kv, "k", "v2", TESS__KV_REPLAYABLE);
    tess__kv_close(kv);
    assert_null(marker_text());
}

static void test_process_crash_same_boot_keeps_data(void **state)
{
    (void)state;
    tess__kv *kv = open_kv(false);
    put(kv, "old", "x", 0);
    tess__kv_close(kv);
    crash_after_unsynced("k", "v1");
    assert_non_null(marker_text()); /* the dead process had unsynced commits */
    /* the system did not stop: the OS has the pages, nothing is lost */
    kv = open_kv(true);
    assert_string_equal(get(kv, "k"), "v1");
    tess__kv_close(kv);
    assert_non_null(marker_text()); /* a reader leaves it */
    /* a writer flushes what the dead process left and removes the marker at once */
    kv = open_kv(false);
    assert_null(marker_text());
    assert_string_equal(get(kv, "k"), "v1");
    assert_string_equal(get(kv, "old"), "x");
    tess__kv_close(kv);
    /* so a later restart of the system keeps everything */
    setenv("TESSERA_BOOT_ID", "boot-b", 1);
    kv = open_kv(false);
    assert_string_equal(get(kv, "k"), "v1");
    tess__kv_close(kv);
}

static void test_system_crash_resets_store(void **state)
{
    (void)state;
    tess__kv *kv = open_kv(false);
    put(kv, "old", "x", 0);
    tess__kv_close(kv);
    crash_after_unsynced("k", "v1");
    assert_non_null(marker_text());
    setenv("TESSERA_BOOT_ID", "boot-b", 1); /* the system restarted */

    /* a reader may not trust the file */
    tess__kv_opts ro = {false, true, 0};
    tess__kv *r = NULL;
    tess__err err = TESS__ERR_INIT;
    assert_int_equal(tess__kv_open(NULL, dir, &ro, &r, &err), TESS_EIO);
    assert_null(r);
    assert_non_null(strstr(tess__err_msg(&err), "may be damaged"));
    assert_non_null(strstr(tess__err_msg(&err), "tessera materialize"));
    tess__err_release(&err);
    assert_non_null(marker_text());

    /* a writer starts the store anew: everything is gone, synced or not (the next
       materialization rebuilds it from the offline store) */
    kv = open_kv(false);
    assert_null(marker_text());
    assert_string_equal(get(kv, "k"), "");
    assert_string_equal(get(kv, "old"), "");
    put(kv, "new", "y", 0);
    tess__kv_close(kv);
    kv = open_kv(true);
    assert_string_equal(get(kv, "new"), "y");
    tess__kv_close(kv);
}

static void test_clean_shutdown_then_restart_keeps_data(void **state)
{
    (void)state;
    tess__kv *kv = open_kv(false);
    put(kv, "k", "v1", TESS__KV_REPLAYABLE);
    tess__kv_close(kv);
    setenv("TESSERA_BOOT_ID", "boot-b", 1);
    kv = open_kv(false);
    assert_string_equal(get(kv, "k"), "v1");
    tess__kv_close(kv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_synced_writes_leave_no_marker, setup, teardown),
        cmocka_unit_test_setup_teardown(test_marker_lives_while_unsynced, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flusher_removes_marker, setup, teardown),
        cmocka_unit_test_setup_teardown(test_process_crash_same_boot_keeps_data, setup, teardown),
        cmocka_unit_test_setup_teardown(test_system_crash_resets_store, setup, teardown),
        cmocka_unit_test_setup_teardown(test_clean_shutdown_then_restart_keeps_data, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
