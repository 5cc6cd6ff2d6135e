/* fuzz_defs.c — the definitions loader (tess__defs_load_strings): libyaml events, the object
 * model, validation with file:line:column messages, expression compilation against schemas,
 * reference resolution, the canonical JSON document.
 *
 * Input: tessera.yaml, then up to three definition files (a.yaml, b.yaml, c.yaml), separated
 * by lines "#@@@" (a YAML comment, so a seed stays readable YAML). Checks beyond "no crash":
 * a failed load returns no defs and a message; a successful one gives a canonical document,
 * and loading its recorded files again (tess__defs_files_json / tess__defs_load_json, what
 * the registry does) gives the same document.
 */
#include <jansson.h>

#include "core/alloc.h"
#include "core/err.h"
#include "defs/defs.h"
#include "fuzz.h"
#include "tessera.h"

#define SEP "#@@@\n"
#define MAXF 4

static char *canonical(const tess__defs *d)
{
    json_t *j = tess__defs_to_json(d);
    if (!j) abort(); /* no allocation failure injected: only a bug gives NULL */
    char *s = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
    json_decref(j);
    if (!s) abort();
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const names[MAXF] = {"tessera.yaml", "a.yaml", "b.yaml", "c.yaml"};
    tess__defs_file files[MAXF];
    size_t nfiles = 0;
    const char *p = (const char *)data, *end = p + size;
    while (nfiles < MAXF) {
        const char *sep = nfiles + 1 < MAXF ? memmem(p, (size_t)(end - p), SEP, strlen(SEP)) : NULL;
        const char *stop = sep ? sep : end;
        files[nfiles].name = names[nfiles];
        files[nfiles].text = p;
        files[nfiles].len = (size_t)(stop - p);
        nfiles++;
        if (!sep) break;
        p = sep + strlen(SEP);
    }

    tess__defs *d = NULL;
    tess__err err = TESS__ERR_INIT;
    int rc = tess__defs_load_strings(files, nfiles, &d, &err);
    fuzz_debug("load", rc, tess__err_msg(&err));
    if (rc != TESS_OK) {
        if (d) abort();                   /* nothing is returned on failure */
        if (!tess__err_msg(&err)[0]) abort(); /* and the failure is explained */
        tess__err_release(&err);
        return 0;
    }
    char *doc = canonical(d);

    /* what the registry keeps, loaded again, is the same definitions */
    json_t *fj = tess__defs_files_json(d);
    if (!fj) abort();
    tess__defs *d2 = NULL;
    tess__err_clear(&err);
    if (tess__defs_load_json(fj, &d2, &err) != TESS_OK) {
        fprintf(stderr, "reload failed: %s\n", tess__err_msg(&err));
        abort();
    }
    char *doc2 = canonical(d2);
    if (strcmp(doc, doc2) != 0) {
        fprintf(stderr, "canonical documents differ:\n%s\n%s\n", doc, doc2);
        abort();
    }

    /* resolving every service's references again, and every view's features */
    for (size_t i = 0; i < d->nservices; i++) {
        tess__service_item *items = NULL;
        size_t n = 0;
        tess__err_clear(&err);
        if (tess__defs_resolve(d, d->services[i]->refs, d->services[i]->nrefs, &items, &n,
                               &err) != TESS_OK)
            abort(); /* a loaded service resolves */
        if (n != d->services[i]->nitems) abort();
        tess__free(items);
    }
    for (size_t i = 0; i < d->nviews; i++)
        for (size_t f = 0; f < d->views[i]->nfeatures; f++) {
            const tess__feature *ft = &d->views[i]->features[f];
            if (tess__view_feature(d->views[i], ft->name) != ft) abort();
        }

    free(doc);
    free(doc2);
    json_decref(fj);
    tess__defs_free(d2);
    tess__defs_free(d);
    tess__err_release(&err);
    return 0;
}
