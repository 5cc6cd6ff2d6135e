/* io.c — the wrappers of io.h with their per-thread fail-after-N hook. */
#include "core/io.h"

#include <errno.h>
#include <stdio.h>
#include <unistd.h>

static _Thread_local long fail_after = -1; /* <0: never fail */
static _Thread_local long made;
static _Thread_local int fail_errno = EIO;

/* True when this call must fail (errno set). */
static int should_fail(void)
{
    made++;
    if (fail_after < 0) return 0;
    if (fail_after == 0) {
        if (fail_errno == TESS__IO_CRASH) _exit(TESS__IO_CRASH_STATUS); /* a kill -9 here */
        errno = fail_errno;
        return 1;
    }
    fail_after--;
    return 0;
}

long tess__io_fail_after(long n, int err)
{
    long m = made;
    made = 0;
    fail_after = n;
    fail_errno = err ? err : EIO;
    return m;
}

ssize_t tess__io_write(int fd, const void *p, size_t n)
{
    if (should_fail()) return -1;
    return write(fd, p, n);
}

ssize_t tess__io_pwrite(int fd, const void *p, size_t n, off_t off)
{
    if (should_fail()) return -1;
    return pwrite(fd, p, n, off);
}

int tess__io_fsync(int fd)
{
    if (should_fail()) return -1;
    return fsync(fd);
}

int tess__io_fdatasync(int fd)
{
    if (should_fail()) return -1;
    return fdatasync(fd);
}

int tess__io_ftruncate(int fd, off_t len)
{
    if (should_fail()) return -1;
    return ftruncate(fd, len);
}

int tess__io_rename(const char *from, const char *to)
{
    if (should_fail()) return -1;
    return rename(from, to);
}
