/* verify.c — tess_verify (`tessera verify`): reads everything Tessera wrote into a store and
 * checks it, reporting each damaged part precisely (docs/cli.md, "verify").
 *
 *   - the registry: SQLite's integrity check;
 *   - the offline store: per source that keeps events, the manifest, every block of every
 *     segment and every frame of the push log against their checksums (tess__evstore_verify);
 *     a source directory that no definition names is reported as not checked (its schema is
 *     unknown);
 *   - the online store: every key the online store holds — heads and histories of records
 *     (record.h, checksummed), meta records (meta.h) — decoded; a head whose history is
 *     missing or not the one it names is damage too (confirmed in one snapshot, so that a
 *     write between two reads is not taken for damage).
 * Nothing is repaired: a damaged online store is rebuilt by `tessera materialize --full`, the
 * offline store and the registry are the sources of truth.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "core/alloc.h"
#include "online/meta.h"
#include "online/record.h"
#include "store/store_int.h"
#include "tessera.h"

#define OOM(err) tess__err_set((err), TESS_ENOMEM, "out of memory")
#define MAX_LISTED 20 /* damaged online keys listed in the report (all are counted) */

static json_t *check(const char *part, bool ok, const char *detail)
{
    return json_pack("{s:s, s:b, s:s}", "part", part, "ok", ok, "detail", detail ? detail : "");
}

/* ---- offline ------------------------------------------------------------------------------ */

static int verify_offline(tess_store *st, const tess__defs *d, json_t *checks, bool *ok)
{
    tess__evstore *es;
    int rc = tess__store_evstore(st, &es);
    if (rc) return rc;
    for (size_t i = 0; d && i < d->nsources; i++) {
        const tess__source *src = d->sources[i];
        if (tess__evstore_source(src) != src) continue; /* kept in its batch source's store */
        tess__err e = TESS__ERR_INIT;
        int vrc = tess__evstore_verify(es, src, &e);
        if (vrc == TESS_ENOMEM) {
            tess__err_release(&e);
            return OOM(&st->err);
        }
        json_t *c = check("offline", vrc == TESS_OK, vrc ? tess__err_msg(&e) : "");
        if (!c || json_object_set_new(c, "source", json_string(src->name)) ||
            json_array_append_new(checks, c)) {
            tess__err_release(&e);
            return OOM(&st->err);
        }
        if (vrc) *ok = false;
        tess__err_release(&e);
    }
    /* directories of sources no definition names */
    tess__buf dir = TESS__BUF_INIT;
    if (tess__buf_printf(&dir, "%s/offline", st->store_dir)) return OOM(&st->err);
    DIR *dh = opendir(dir.p);
    struct dirent *de;
    while (dh && (de = readdir(dh))) {
        if (de->d_name[0] == '.') continue;
        bool known = false;
        for (size_t i = 0; d && i < d->nsources && !known; i++)
            known = strcmp(d->sources[i]->name, de->d_name) == 0;
        if (known) continue;
        json_t *c = check("offline", true, "not checked: no source of this name in the "
                                           "definitions (its schema is unknown)");
        if (!c || json_object_set_new(c, "source", json_string(de->d_name)) ||
            json_array_append_new(checks, c)) {
            closedir(dh);
            tess__buf_release(&dir);
            return OOM(&st->err);
        }
    }
    if (dh) closedir(dh);
    tess__buf_release(&dir);
    return TESS_OK;
}

/* ---- online ------------------------------------------------------------------------------- */

typedef struct oscan {
    tess_store *st;
    tess__kv *kv;
    tess__arena arena;
    uint64_t heads, hists, metas;
    uint64_t damaged;
    json_t *list;
} oscan;

/* "head record of view V (group gg), entity key 0x..." for a record key; "meta record of view
 * V (group gg)" for a meta key; the bytes of any other key. */
static void describe_key(tess__buf *out, tess__str key)
{
    tess__str view, ent;
    uint32_t g;
    char kind = key.p[0];
    if ((kind != 'm' && kind != 'v' && kind != 'h') || tess__oview_key_parts(key, &view, &g, &ent)) {
        (void)tess__buf_printf(out, "key 0x");
        for (size_t i = 0; i < key.n && i < 64; i++)
            (void)tess__buf_printf(out, "%02x", (unsigned char)key.p[i]);
        return;
    }
    if (kind == 'm') {
        (void)tess__buf_printf(out, "meta record of view %.*s (group %02x)", (int)view.n, view.p,
                               (unsigned)g);
        return;
    }
    (void)tess__buf_printf(out, "%s record of view %.*s (group %02x), entity key 0x",
                           kind == 'v' ? "head" : "history", (int)view.n, view.p, (unsigned)g);
    for (size_t i = 0; i < ent.n && i < 48; i++)
        (void)tess__buf_printf(out, "%02x", (unsigned char)ent.p[i]);
}

static int damage(oscan *o, tess__str key, const char *why)
{
    o->damaged++;
    if (json_array_size(o->list) >= MAX_LISTED) return TESS_OK;
    tess__buf d = TESS__BUF_INIT;
    describe_key(&d, key);
    json_t *j = json_pack("{s:s, s:s}", "what", d.p ? d.p : "", "error", why);
    tess__buf_release(&d);
    if (!j || json_array_append_new(o->list, j)) return OOM(&o->st->err);
    return TESS_OK;
}

/* A head that names a history: the history must be there and be that one, read together. */
static int check_history(oscan *o, tess__str head_key, uint64_t sum)
{
    tess__buf hk = TESS__BUF_INIT;
    if (tess__oview_hist_key(head_key, &hk)) return OOM(&o->st->err);
    tess__str keys[2] = {head_key, {hk.p, hk.len}}, vals[2];
    tess__err e = TESS__ERR_INIT;
    int rc = tess__kv_get(o->kv, keys, 2, vals, &o->arena, &e);
    if (rc == TESS_OK && vals[0].p && tess__orec_hist_sum(vals[0].p, vals[0].n) == sum) {
        /* the head is still the one scanned (else it changed since: nothing to say) */
        if (!vals[1].p) rc = damage(o, head_key, "its history record is missing");
        else if (tess__orec_checksum(vals[1].p, vals[1].n) != sum)
            rc = damage(o, head_key, "its history record is not the one it was written with");
    } else if (rc) {
        rc = tess__err_set(&o->st->err, rc, "%s", tess__err_msg(&e));
    }
    tess__err_release(&e);
    tess__buf_release(&hk);
    return rc;
}

static int scan_fn(void *arg, tess__str key, tess__str val)
{
    oscan *o = arg;
    tess__err e = TESS__ERR_INIT;
    int rc = TESS_OK;
    tess__arena_reset(&o->arena);
    switch (key.n ? key.p[0] : 0) {
    case 'v':
    case 'h': {
        tess__orec r;
        if (key.p[0] == 'v') o->heads++;
        else o->hists++;
        int drc = tess__orec_decode(val.p, val.n, &r, &o->arena, &e);
        if (drc == TESS_ENOMEM) rc = OOM(&o->st->err);
        else if (drc) rc = damage(o, key, tess__err_msg(&e));
        else if (key.p[0] == 'v' && r.hist_sum) rc = check_history(o, key, r.hist_sum);
        break;
    }
    case 'm': {
        tess__ometa m;
        o->metas++;
        int drc = tess__ometa_decode(val.p, val.n, &m, &o->arena, &e);
        if (drc == TESS_ENOMEM) rc = OOM(&o->st->err);
        else if (drc) rc = damage(o, key, tess__err_msg(&e));
        break;
    }
    default:
        rc = damage(o, key, "not a key the online store writes");
        break;
    }
    tess__err_release(&e);
    return rc;
}

static int verify_online(tess_store *st, json_t *checks, bool *ok)
{
    /* an embedded store that was never written is not created by looking at it */
    if (!st->cfg.online || !*st->cfg.online || strcmp(st->cfg.online, "lmdb") == 0) {
        tess__buf p = TESS__BUF_INIT;
        struct stat sb;
        if (tess__buf_printf(&p, "%s/online/data.mdb", st->store_dir)) return OOM(&st->err);
        bool none = stat(p.p, &sb) != 0 && errno == ENOENT;
        tess__buf_release(&p);
        if (none) {
            json_t *c = check("online", true, "no online store yet (nothing materialized)");
            if (!c || json_array_append_new(checks, c)) return OOM(&st->err);
            return TESS_OK;
        }
    }
    tess__kv *kv;
    int rc = tess__store_kv(st, &kv);
    if (rc == TESS_EIO) { /* the store cannot even be opened: that is the finding */
        json_t *c = check("online", false, tess__err_msg(&st->err));
        tess__err_clear(&st->err);
        *ok = false;
        if (!c || json_array_append_new(checks, c)) return OOM(&st->err);
        return TESS_OK;
    }
    if (rc) return rc;
    oscan o = {st, kv, TESS__ARENA_INIT, 0, 0, 0, 0, json_array()};
    if (!o.list) return OOM(&st->err);
    rc = tess__kv_scan(kv, (tess__str){"", 0}, scan_fn, &o, &st->err);
    tess__arena_release(&o.arena);
    if (rc == TESS_EIO) { /* the back end failed reading: a finding too */
        o.damaged++;
        json_t *j = json_pack("{s:s, s:s}", "what", "the online store", "error",
                              tess__err_msg(&st->err));
        tess__err_clear(&st->err);
        if (!j || json_array_append_new(o.list, j)) rc = TESS_ENOMEM;
        else rc = TESS_OK;
    }
    if (rc) {
        json_decref(o.list);
        return rc == TESS_ENOMEM ? OOM(&st->err) : rc;
    }
    char detail[160];
    snprintf(detail, sizeof detail, "%llu head records, %llu history records, %llu meta records",
             (unsigned long long)o.heads, (unsigned long long)o.hists,
             (unsigned long long)o.metas);
    json_t *c = check("online", o.damaged == 0, detail);
    if (!c || json_object_set_new(c, "backend", json_string(tess__kv_name(kv))) ||
        json_object_set_new(c, "damaged_count", json_integer((json_int_t)o.damaged)) ||
        json_object_set_new(c, "damaged", o.list) || json_array_append_new(checks, c))
        return OOM(&st->err);
    if (o.damaged) *ok = false;
    return TESS_OK;
}

/* ---- the report --------------------------------------------------------------------------- */

int tess_verify(tess_store *st, char **json_out)
{
    if (json_out) *json_out = NULL;
    int rc = tess__store_enter(st);
    if (rc) return rc;
    if (!json_out) return tess__err_set(&st->err, TESS_EINVAL, "no output pointer");
    json_t *checks = json_array();
    if (!checks) return OOM(&st->err);
    bool ok = true;
    tess__err e = TESS__ERR_INIT;
    int vrc = tess__registry_verify(st->reg, &e);
    json_t *c = check("registry", vrc == TESS_OK, vrc ? tess__err_msg(&e) : "");
    tess__err_release(&e);
    if (!c || json_array_append_new(checks, c)) rc = OOM(&st->err);
    if (vrc) ok = false;
    /* the definitions name the sources (and their schemas); none applied yet: nothing else
       can have been written */
    const tess__defs *d = NULL;
    if (!rc) {
        int drc = tess__store_applied_defs(st, &d);
        if (drc == TESS_NOTFOUND || (drc == TESS_EREGISTRY && vrc)) {
            tess__err_clear(&st->err); /* nothing applied, or the registry's damage above */
            d = NULL;
        } else if (drc) {
            rc = drc;
        }
    }
    if (!rc) rc = verify_offline(st, d, checks, &ok);
    if (!rc) rc = verify_online(st, checks, &ok);
    json_t *doc = rc ? NULL : json_pack("{s:b, s:O}", "ok", ok, "checks", checks);
    json_decref(checks);
    if (!rc && (!doc || !(*json_out = tess__json_text(doc, JSON_COMPACT)))) rc = OOM(&st->err);
    json_decref(doc);
    return rc;
}
