/* fuzz_manifest.c — the MANIFEST reader of the event store (tess__manifest_read, manifest.c),
 * then what is done with a manifest read: checking it against FUZZ_SCHEMA, resolving its
 * layouts' key names, and writing it back, which must give a manifest that reads the same.
 *
 * The harness makes the body length and the checksum right (their checks are covered by the
 * unit tests), so mutations reach the decoder.
 */
#include "core/err.h"
#include "offline/evstore_int.h"
#include "fuzz.h"
#include "tessera.h"

static char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) abort();
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = malloc((size_t)len + 1);
    if (fread(p, 1, (size_t)len, f) != (size_t)len) abort();
    fclose(f);
    *n = (size_t)len;
    return p;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *file = malloc(size ? size : 1);
    memcpy(file, data, size);
    if (size >= 32) {
        fuzz_put64(file + 16, size - 32);
        fuzz_put64(file + size - 8, tess__hash64(file, size - 8));
    }
    const char *path = fuzz_file("MANIFEST", file, size);
    free(file);

    tess__manifest *m = NULL;
    tess__err err = TESS__ERR_INIT;
    int rc = tess__manifest_read(path, &m, &err);
    if (rc != TESS_OK) {
        fuzz_debug("read", rc, tess__err_msg(&err));
        if (m || !tess__err_msg(&err)[0]) abort();
        tess__err_release(&err);
        return 0;
    }
    tess__source src = fuzz_source(TESS_FORMAT_CSV);
    tess__err_clear(&err);
    if (tess__manifest_check_schema(m, &src, &err) == TESS_OK) {
        tess__err_clear(&err);
        rc = tess__manifest_resolve(m, &src, &err);
        if (rc == TESS_OK) {
            static const size_t k0[1] = {0};
            tess__manifest_layout(m, &src, k0, 1);
            for (size_t i = 0; i < m->nlayouts; i++) tess__mlayout_rows(&m->layouts[i]);
        }
    }
    /* written back, it reads back the same */
    char tmp[512], out[512];
    snprintf(tmp, sizeof tmp, "%s/M.tmp", fuzz_scratch());
    snprintf(out, sizeof out, "%s/M", fuzz_scratch());
    bool renamed = false;
    tess__err_clear(&err);
    if (tess__manifest_write(m, tmp, out, fuzz_scratch(), false, &renamed, &err) != TESS_OK) {
        fprintf(stderr, "write: %s\n", tess__err_msg(&err));
        abort();
    }
    tess__manifest *m2 = NULL;
    tess__err_clear(&err);
    if (tess__manifest_read(out, &m2, &err) != TESS_OK) {
        fprintf(stderr, "reading back: %s\n", tess__err_msg(&err));
        abort();
    }
    size_t n1, n2;
    char *b1 = slurp(out, &n1);
    char tmp2[512], out2[512];
    snprintf(tmp2, sizeof tmp2, "%s/M2.tmp", fuzz_scratch());
    snprintf(out2, sizeof out2, "%s/M2", fuzz_scratch());
    if (tess__manifest_write(m2, tmp2, out2, fuzz_scratch(), false, &renamed, &err) != TESS_OK)
        abort();
    char *b2 = slurp(out2, &n2);
    if (n1 != n2 || memcmp(b1, b2, n1) != 0) {
        fprintf(stderr, "a manifest written, read and written again changed\n");
        abort();
    }
    free(b1);
    free(b2);
    tess__manifest_free(m2);
    tess__manifest_free(m);
    tess__err_release(&err);
    return 0;
}
