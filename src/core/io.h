/* io.h — the system calls that change files, in one place: every write, fsync, rename and
 * truncation of Tessera's own files (the offline store, training-set output) goes through
 * these, so that tests can make the Nth of them fail (tess__io_fail_after) and check that the
 * error is clean, that nothing already stored is lost or half-written, and that the store is
 * usable afterwards. They behave exactly as the calls they wrap (errno included).
 *
 * The embedded back ends with their own I/O (LMDB for the online store, SQLite for the
 * registry) are not steered here: a full disk is tested on them with RLIMIT_FSIZE
 * (docs/durability.md).
 */
#ifndef TESS_CORE_IO_H
#define TESS_CORE_IO_H

#include <stddef.h>
#include <sys/types.h>

ssize_t tess__io_write(int fd, const void *p, size_t n);
ssize_t tess__io_pwrite(int fd, const void *p, size_t n, off_t off);
int tess__io_fsync(int fd);
int tess__io_fdatasync(int fd);
int tess__io_ftruncate(int fd, off_t len);
int tess__io_rename(const char *from, const char *to);

/* Test hook (per thread, as tess__alloc_fail_after): after `n` more successful calls of the
 * wrappers above, each later call fails with errno `err` (EIO, ENOSPC, ...) without doing
 * anything, until reset with a negative n. Returns the number of calls made since the last
 * call (useful to size a fail-the-Nth loop). */
long tess__io_fail_after(long n, int err);

/* err for tess__io_fail_after: instead of failing, the process ends at once (_exit with
 * TESS__IO_CRASH_STATUS), leaving the files as a kill -9 just before that call would: crash
 * tests run the operation in a forked child. */
#define TESS__IO_CRASH (-1)
#define TESS__IO_CRASH_STATUS 86

#endif
