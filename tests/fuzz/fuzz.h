/* fuzz.h — what the libFuzzer targets of tests/fuzz/ share (docs/fuzzing.md).
 *
 * Each target is one fuzz_<name>.c defining LLVMFuzzerTestOneInput; `make fuzz-build` links it
 * against the library built with clang, ASan, UBSan and coverage (build-fuzz/). Readers that
 * take a path get the input through a file in a private scratch directory (on /dev/shm when it
 * exists: no disk I/O per input, or under $FUZZ_SCRATCH), removed at exit.
 *
 * The fixed schema FUZZ_SCHEMA has every type, an event timestamp and a created timestamp, so
 * that every reader and decoder meets each kind of value.
 */
#ifndef TESS_FUZZ_H
#define TESS_FUZZ_H

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/hash.h"
#include "defs/defs_model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- a scratch directory, removed at exit --------------------------------------------------- */

static char fuzz_dir[256];

static inline void fuzz_cleanup(void)
{
    char cmd[300];
    if (!fuzz_dir[0]) return;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fuzz_dir);
    if (system(cmd) != 0) { /* nothing more to do */
    }
}

static inline const char *fuzz_scratch(void)
{
    if (fuzz_dir[0]) return fuzz_dir;
    /* `make fuzz` names one (FUZZ_SCRATCH) and removes it after the run, since a crash
       skips atexit handlers */
    const char *base = getenv("FUZZ_SCRATCH");
    if (!base) base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
    if (!base) base = "/tmp";
    snprintf(fuzz_dir, sizeof fuzz_dir, "%s/tess-fuzz-XXXXXX", base);
    if (!mkdtemp(fuzz_dir)) {
        perror("mkdtemp");
        abort();
    }
    atexit(fuzz_cleanup);
    return fuzz_dir;
}

/* Writes the bytes to <scratch>/<name> (replacing it) and returns the path (static storage). */
static inline const char *fuzz_file(const char *name, const void *p, size_t n)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", fuzz_scratch(), name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        perror(path);
        abort();
    }
    const char *q = p;
    while (n > 0) {
        ssize_t w = write(fd, q, n);
        if (w <= 0) {
            perror(path);
            abort();
        }
        q += w;
        n -= (size_t)w;
    }
    close(fd);
    return path;
}

/* ---- the fixed schema ----------------------------------------------------------------------- */

/* user_id int64, name string, amount float64, ok bool, ts timestamp, created timestamp. */
static const tess__column FUZZ_SCHEMA[] = {
    {"user_id", TESS_T_INT64, {0}}, {"name", TESS_T_STRING, {0}},
    {"amount", TESS_T_FLOAT64, {0}}, {"ok", TESS_T_BOOL, {0}},
    {"ts", TESS_T_TIMESTAMP, {0}},  {"created", TESS_T_TIMESTAMP, {0}},
};
#define FUZZ_NCOLS 6
static const tess__type FUZZ_TYPES[FUZZ_NCOLS] = {TESS_T_INT64, TESS_T_STRING,
                                                  TESS_T_FLOAT64, TESS_T_BOOL,
                                                  TESS_T_TIMESTAMP, TESS_T_TIMESTAMP};

static inline tess__source fuzz_source(tess__format fmt)
{
    tess__source s;
    memset(&s, 0, sizeof s);
    s.name = "events";
    s.kind = TESS_SOURCE_BATCH;
    s.path = "events";
    s.format = fmt;
    s.delimiter = fmt == TESS_FORMAT_CSV ? ',' : 0;
    s.schema = FUZZ_SCHEMA;
    s.nschema = FUZZ_NCOLS;
    s.ts_col = 4;
    s.created_col = 5;
    return s;
}

/* With FUZZ_DEBUG set in the environment, harnesses say why an input was rejected (to check
 * that seeds get as deep as meant). */
static inline void fuzz_debug(const char *what, int rc, const char *msg)
{
    static int on = -1;
    if (on < 0) on = getenv("FUZZ_DEBUG") != NULL;
    if (on) fprintf(stderr, "%s: %d %s\n", what, rc, msg ? msg : "");
}

/* Little-endian helpers for fixing checksums up inside fuzzed bytes. */
static inline uint64_t fuzz_get64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}
static inline uint32_t fuzz_get32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}
static inline void fuzz_put64(uint8_t *p, uint64_t v)
{
    memcpy(p, &v, 8);
}

#endif
