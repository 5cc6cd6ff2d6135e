/* status.c — status code descriptions and the public free function. */
#include "tessera.h"

#include "core/alloc.h"

const char *tess_strerror(int rc)
{
    switch (rc) {
    case TESS_OK: return "ok";
    case TESS_NOTFOUND: return "not found";
    case TESS_ENOMEM: return "out of memory";
    case TESS_EINVAL: return "invalid argument";
    case TESS_EDEFS: return "invalid definitions";
    case TESS_EIO: return "I/O error";
    case TESS_EREGISTRY: return "registry error";
    case TESS_EPARSE: return "malformed input";
    case TESS_ETYPE: return "type error";
    case TESS_ECONFIG: return "invalid configuration";
    case TESS_EEXIST: return "already exists";
    default: return "unknown error";
    }
}

void tess_free(void *p)
{
    tess__free(p);
}
