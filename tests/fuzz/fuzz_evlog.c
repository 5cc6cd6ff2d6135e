/* fuzz_evlog.c — the push log reader (tess__evlog_read, evlog.c): frames, their headers,
 * columns and null maps, torn tails, damaged frames followed by valid ones, and the rows
 * appended to a batch of FUZZ_SCHEMA's types.
 *
 * The harness makes every frame's checksum right (walking the frames by their body lengths),
 * so mutations reach the decoder; the log number and first ingest number expected are those of
 * the first frame's header (1 and 1 when there is none). A second read from where the first
 * stopped must find nothing new.
 */
#include <xxhash.h>

#include "core/err.h"
#include "offline/evstore_int.h"
#include "fuzz.h"
#include "tessera.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *file = malloc(size ? size : 1);
    memcpy(file, data, size);
    uint64_t log = 1;
    uint32_t first = 1;
    if (size >= 32) {
        log = fuzz_get64(file + 8);
        first = fuzz_get32(file + 16);
    }
    for (size_t off = 0; off + 40 <= size;) {
        uint64_t body = fuzz_get32(file + off + 4);
        if (body > size - off - 40) break;
        fuzz_put64(file + off + 32 + body, XXH3_64bits(file + off, 32 + body));
        off += 40 + body;
    }
    const char *path = fuzz_file("1.log", file, size);
    free(file);

    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) abort();
    tess__batch rows;
    if (tess__batch_init(&rows, FUZZ_TYPES, FUZZ_NCOLS, 4) != TESS_OK) abort();
    tess__evlog lg;
    memset(&lg, 0, sizeof lg);
    lg.next_ingest = first;
    tess__err err = TESS__ERR_INIT;
    int rc = tess__evlog_read(fd, "1.log", log, FUZZ_TYPES, FUZZ_NCOLS, &lg, &rows, &err);
    fuzz_debug("read", rc, tess__err_msg(&err));
    if (rc != TESS_OK) {
        if (!tess__err_msg(&err)[0]) abort();
    } else {
        if (lg.end > size || lg.size != size || rows.nrows != lg.rows) abort();
        for (size_t i = 1; i < rows.nrows; i++)
            if (rows.seq[i] <= rows.seq[i - 1]) abort();
        /* nothing new from where it stopped */
        tess__evlog again = lg;
        tess__err_clear(&err);
        if (tess__evlog_read(fd, "1.log", log, FUZZ_TYPES, FUZZ_NCOLS, &again, NULL, &err) !=
                TESS_OK ||
            again.end != lg.end || again.rows != lg.rows)
            abort();
    }
    close(fd);
    tess__batch_release(&rows);
    tess__err_release(&err);
    return 0;
}
