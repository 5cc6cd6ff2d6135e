/* jsonr.c — the server's JSON reader: a strict RFC 8259 parser of request bodies into a flat
 * tree (srv_jdoc), made for the request path:
 *
 *   - no allocation per value: the nodes are one array in document order, reused by the
 *     worker thread from request to request; a container knows its size and where its
 *     subtree ends, so that walking a 1000-row push is a loop over consecutive nodes;
 *   - strings are decoded in place in the body (escapes are never longer than what they
 *     stand for) and NUL-terminated there (where their closing quote was), so that a value
 *     can point into the body for as long as the request lives;
 *   - numbers: integers are int64 (a larger one is an error, as jansson's "too big
 *     integer"); reals take Clinger's exact fast path (at most 19 significant digits forming
 *     an integer m <= 2^53, and a power of ten up to 10^22: m * 10^e or m / 10^e is one
 *     correctly rounded operation), and strtod otherwise;
 *   - strict: invalid UTF-8, control characters in strings, \u0000, lone surrogates,
 *     duplicate keys in an object, and trailing text are errors, with the line and column;
 *   - nesting is limited while parsing (max_depth); no recursion.
 *
 * What jansson did before on this path cost more than the handlers around it (a malloc per
 * value and per string, a hash table per object); it is still used for the small JSON
 * documents of the library (/metrics).
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "server/server.h"

void srv_jdoc_release(srv_jdoc *d)
{
    tess__free(d->nodes);
    tess__free(d->stack);
    tess__free(d->keys);
    memset(d, 0, sizeof *d);
}

const char *srv_jkind(const srv_jnode *j)
{
    switch (j->type) {
    case SJ_OBJECT:
        return "object";
    case SJ_ARRAY:
        return "array";
    case SJ_STRING:
        return "string";
    case SJ_INT:
        return "integer";
    case SJ_REAL:
        return "number";
    case SJ_TRUE:
    case SJ_FALSE:
        return "boolean";
    case SJ_NULL:
        return "null";
    }
    return "value";
}

uint32_t srv_jget(const srv_jdoc *d, uint32_t obj, const char *key)
{
    const srv_jnode *o = &d->nodes[obj];
    if (o->type != SJ_OBJECT) return 0;
    uint32_t k = obj + 1;
    for (uint32_t m = 0; m < o->n; m++, k = d->nodes[k + 1].next)
        if (strcmp(d->nodes[k].u.s, key) == 0) return k + 1;
    return 0;
}

/* ---- the parser ------------------------------------------------------------------------------ */

typedef struct parser {
    srv_jdoc *d;
    char *text, *p, *end;
    int max_depth;
} parser;

/* Records an error at p: line, column (in characters), message. Returns SRV_JSON_INVALID. */
static int fail(parser *ps, const char *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(parser *ps, const char *at, const char *fmt, ...)
{
    srv_jdoc *d = ps->d;
    int line = 1, col = 1;
    for (const char *q = ps->text; q < at && q < ps->end; q++) {
        if (*q == '\n') {
            line++;
            col = 1;
        } else if (((unsigned char)*q & 0xc0) != 0x80) {
            col++;
        }
    }
    d->line = line;
    d->column = col;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->msg, sizeof d->msg, fmt, ap);
    va_end(ap);
    return SRV_JSON_INVALID;
}

static uint32_t new_node(parser *ps, int type)
{
    srv_jdoc *d = ps->d;
    if (d->len == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 256;
        srv_jnode *n = tess__realloc(d->nodes, cap * sizeof *n);
        if (!n) return UINT32_MAX;
        d->nodes = n;
        d->cap = cap;
    }
    uint32_t i = (uint32_t)d->len++;
    srv_jnode *n = &d->nodes[i];
    n->type = (uint8_t)type;
    n->n = 0;
    n->next = i + 1;
    n->u.i = 0;
    return i;
}

static inline const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    return p;
}

static int hex4(const char *p, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

static char *put_utf8(char *w, unsigned cp)
{
    if (cp < 0x80) {
        *w++ = (char)cp;
    } else if (cp < 0x800) {
        *w++ = (char)(0xc0 | (cp >> 6));
        *w++ = (char)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        *w++ = (char)(0xe0 | (cp >> 12));
        *w++ = (char)(0x80 | ((cp >> 6) & 0x3f));
        *w++ = (char)(0x80 | (cp & 0x3f));
    } else {
        *w++ = (char)(0xf0 | (cp >> 18));
        *w++ = (char)(0x80 | ((cp >> 12) & 0x3f));
        *w++ = (char)(0x80 | ((cp >> 6) & 0x3f));
        *w++ = (char)(0x80 | (cp & 0x3f));
    }
    return w;
}

/* A string at ps->p (its opening quote): decoded in place, NUL-terminated, node idx. */
static int parse_string(parser *ps, uint32_t idx)
{
    char *p = ps->p + 1, *end = ps->end, *start = p, *w = p;
    for (;;) {
        /* the common case: plain ASCII, nothing to move while nothing was decoded */
        if (w == p) {
            while (p < end && (unsigned char)*p >= 0x20 && (unsigned char)*p < 0x80 && *p != '"' &&
                   *p != '\\')
                p++;
            w = p;
        } else {
            while (p < end && (unsigned char)*p >= 0x20 && (unsigned char)*p < 0x80 && *p != '"' &&
                   *p != '\\')
                *w++ = *p++;
        }
        if (p >= end) return fail(ps, ps->p, "unterminated string");
        unsigned char c = (unsigned char)*p;
        if (c == '"') break;
        if (c < 0x20) return fail(ps, p, "control character 0x%02x in a string", c);
        if (c >= 0x80) {
            size_t l = srv_utf8_len((const unsigned char *)p, (size_t)(end - p));
            if (!l) return fail(ps, p, "invalid UTF-8 in a string");
            memmove(w, p, l);
            w += l;
            p += l;
            continue;
        }
        /* an escape */
        if (end - p < 2) return fail(ps, p, "unterminated string");
        char e = p[1];
        switch (e) {
        case '"':
            *w++ = '"';
            p += 2;
            continue;
        case '\\':
            *w++ = '\\';
            p += 2;
            continue;
        case '/':
            *w++ = '/';
            p += 2;
            continue;
        case 'b':
            *w++ = '\b';
            p += 2;
            continue;
        case 'f':
            *w++ = '\f';
            p += 2;
            continue;
        case 'n':
            *w++ = '\n';
            p += 2;
            continue;
        case 'r':
            *w++ = '\r';
            p += 2;
            continue;
        case 't':
            *w++ = '\t';
            p += 2;
            continue;
        case 'u':
            break;
        default:
            return fail(ps, p, "invalid escape \\%c in a string", e);
        }
        unsigned cp, lo;
        if (end - p < 6 || hex4(p + 2, &cp)) return fail(ps, p, "invalid \\u escape in a string");
        if (cp == 0) return fail(ps, p, "\\u0000 is not allowed in a string");
        if (cp >= 0xdc00 && cp <= 0xdfff)
            return fail(ps, p, "invalid Unicode \\u%04X (a lone low surrogate)", cp);
        if (cp >= 0xd800 && cp <= 0xdbff) {
            if (end - p < 12 || p[6] != '\\' || p[7] != 'u' || hex4(p + 8, &lo) || lo < 0xdc00 ||
                lo > 0xdfff)
                return fail(ps, p, "invalid Unicode \\u%04X (a high surrogate without its pair)",
                            cp);
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            p += 12;
        } else {
            p += 6;
        }
        w = put_utf8(w, cp);
    }
    srv_jnode *n = &ps->d->nodes[idx];
    n->u.s = start;
    n->n = (uint32_t)(w - start);
    *w = 0; /* w <= p, and *p is the closing quote, already read */
    ps->p = p + 1;
    return 0;
}

static const double exact_pow10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                       1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                       1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

static int parse_number(parser *ps, uint32_t idx)
{
    char *p = ps->p, *end = ps->end, *start = p;
    int neg = 0;
    if (*p == '-') {
        neg = 1;
        p++;
    }
    if (p >= end || *p < '0' || *p > '9') return fail(ps, start, "invalid number");
    uint64_t m = 0;  /* the significant digits, while they fit */
    int ndig = 0;    /* digits in m (leading zeros not counted) */
    int dropped = 0; /* integer digits that did not fit in m */
    int exact = 1;   /* m holds every digit */
    if (*p == '0') {
        p++;
    } else {
        while (p < end && *p >= '0' && *p <= '9') {
            if (ndig < 19) {
                m = m * 10 + (uint64_t)(*p - '0');
                ndig++;
            } else {
                dropped++;
                exact = 0;
            }
            p++;
        }
    }
    int is_real = 0, frac = 0;
    if (p < end && *p == '.') {
        is_real = 1;
        p++;
        if (p >= end || *p < '0' || *p > '9') return fail(ps, start, "invalid number");
        while (p < end && *p >= '0' && *p <= '9') {
            if (ndig < 19 && exact) {
                if (m || *p != '0') ndig++;
                m = m * 10 + (uint64_t)(*p - '0');
                frac++;
            } else if (*p != '0') {
                exact = 0;
            }
            p++;
        }
    }
    long e10 = 0;
    if (p < end && (*p == 'e' || *p == 'E')) {
        is_real = 1;
        p++;
        int eneg = 0;
        if (p < end && (*p == '+' || *p == '-')) eneg = *p++ == '-';
        if (p >= end || *p < '0' || *p > '9') return fail(ps, start, "invalid number");
        while (p < end && *p >= '0' && *p <= '9') {
            if (e10 < 100000) e10 = e10 * 10 + (*p - '0');
            p++;
        }
        if (eneg) e10 = -e10;
    }
    srv_jnode *n = &ps->d->nodes[idx];
    if (!is_real) {
        if (dropped || m > (uint64_t)INT64_MAX + (uint64_t)neg)
            return fail(ps, start, "too big integer");
        n->type = SJ_INT;
        n->u.i = neg ? (int64_t)(0 - m) : (int64_t)m;
        ps->p = p;
        return 0;
    }
    n->type = SJ_REAL;
    long e = e10 - frac + dropped;
    double v;
    if (exact && m == 0) {
        v = 0.0;
    } else if (exact && m <= (1ULL << 53) && e >= -22 && e <= 22) {
        v = e < 0 ? (double)m / exact_pow10[-e] : (double)m * exact_pow10[e];
    } else {
        char tmp[64], *buf = tmp;
        size_t len = (size_t)(p - start);
        if (len >= sizeof tmp && !(buf = tess__malloc(len + 1)))
            return fail(ps, start, "out of memory");
        memcpy(buf, start, len);
        buf[len] = 0;
        v = strtod(buf, NULL);
        if (buf != tmp) tess__free(buf);
        if (isinf(v)) return fail(ps, start, "real number overflow");
        n->u.f = v;
        ps->p = p;
        return 0;
    }
    n->u.f = neg ? -v : v;
    ps->p = p;
    return 0;
}

static int key_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The object at obj is complete: its keys must be distinct. */
static int check_keys(parser *ps, uint32_t obj, const char *at)
{
    srv_jdoc *d = ps->d;
    uint32_t n = d->nodes[obj].n;
    if (n < 2) return 0;
    if (n <= 8) {
        const char *ks[8];
        uint32_t k = obj + 1;
        for (uint32_t i = 0; i < n; i++, k = d->nodes[k + 1].next) {
            ks[i] = d->nodes[k].u.s;
            for (uint32_t j = 0; j < i; j++)
                if (strcmp(ks[j], ks[i]) == 0)
                    return fail(ps, at, "duplicate object key \"%.100s\"", ks[i]);
        }
        return 0;
    }
    if (n > d->kcap) {
        const char **ks = tess__realloc(d->keys, n * sizeof *ks);
        if (!ks) return fail(ps, at, "out of memory");
        d->keys = ks;
        d->kcap = n;
    }
    uint32_t k = obj + 1;
    for (uint32_t i = 0; i < n; i++, k = d->nodes[k + 1].next)
        d->keys[i] = d->nodes[k].u.s;
    qsort(d->keys, n, sizeof *d->keys, key_cmp);
    for (uint32_t i = 1; i < n; i++)
        if (strcmp(d->keys[i - 1], d->keys[i]) == 0)
            return fail(ps, at, "duplicate object key \"%.100s\"", d->keys[i]);
    return 0;
}

/* After '{' or ',' in an object: a key and its colon. */
static int parse_key(parser *ps)
{
    ps->p = (char *)skip_ws(ps->p, ps->end);
    if (ps->p >= ps->end) return fail(ps, ps->p, "unexpected end of the text, expected a key");
    if (*ps->p != '"') return fail(ps, ps->p, "expected a string (an object key)");
    uint32_t k = new_node(ps, SJ_STRING);
    if (k == UINT32_MAX) return fail(ps, ps->p, "out of memory");
    int rc = parse_string(ps, k);
    if (rc) return rc;
    ps->p = (char *)skip_ws(ps->p, ps->end);
    if (ps->p >= ps->end || *ps->p != ':') return fail(ps, ps->p, "expected ':' after a key");
    ps->p++;
    return 0;
}

int srv_json_parse(srv_jdoc *d, char *text, size_t n, int max_depth)
{
    parser ps = {d, text, text, text + n, max_depth};
    d->len = 0;
    d->msg[0] = 0;
    d->line = d->column = 0;
    d->deep_at = -1;
    size_t top = 0; /* open containers: d->stack[0..top) */
    int rc;
    static char empty[1];
    if (!text) ps.text = ps.p = ps.end = empty;
    for (;;) {
        /* a value */
        ps.p = (char *)skip_ws(ps.p, ps.end);
        if (ps.p >= ps.end) return fail(&ps, ps.p, "unexpected end of the text, expected a value");
        char c = *ps.p;
        uint32_t idx = new_node(&ps, SJ_NULL);
        if (idx == UINT32_MAX) return fail(&ps, ps.p, "out of memory");
        if (c == '{' || c == '[') {
            if (top + 1 > (size_t)max_depth) {
                d->deep_at = (long)(ps.p - ps.text);
                return SRV_JSON_TOO_DEEP;
            }
            if (top == d->scap) {
                size_t cap = d->scap ? d->scap * 2 : 16;
                uint32_t *s = tess__realloc(d->stack, cap * sizeof *s);
                if (!s) return fail(&ps, ps.p, "out of memory");
                d->stack = s;
                d->scap = cap;
            }
            d->nodes[idx].type = c == '{' ? SJ_OBJECT : SJ_ARRAY;
            d->stack[top++] = idx;
            ps.p = (char *)skip_ws(ps.p + 1, ps.end);
            if (ps.p < ps.end && *ps.p == (c == '{' ? '}' : ']')) { /* empty */
                ps.p++;
                top--;
                d->nodes[idx].next = (uint32_t)d->len;
                goto after_value;
            }
            if (c == '{' && (rc = parse_key(&ps))) return rc;
            continue;
        }
        if (c == '"') {
            d->nodes[idx].type = SJ_STRING;
            if ((rc = parse_string(&ps, idx))) return rc;
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            if ((rc = parse_number(&ps, idx))) return rc;
        } else if (ps.end - ps.p >= 4 && memcmp(ps.p, "true", 4) == 0) {
            d->nodes[idx].type = SJ_TRUE;
            ps.p += 4;
        } else if (ps.end - ps.p >= 5 && memcmp(ps.p, "false", 5) == 0) {
            d->nodes[idx].type = SJ_FALSE;
            ps.p += 5;
        } else if (ps.end - ps.p >= 4 && memcmp(ps.p, "null", 4) == 0) {
            ps.p += 4;
        } else {
            return fail(&ps, ps.p,
                        "expected a value (an object, array, string, number, true, "
                        "false or null)");
        }
    after_value:
        if (top == 0) {
            ps.p = (char *)skip_ws(ps.p, ps.end);
            if (ps.p < ps.end) return fail(&ps, ps.p, "end of the text expected after the value");
            return 0;
        }
        {
            uint32_t parent = d->stack[top - 1];
            srv_jnode *pn = &d->nodes[parent];
            pn->n++;
            ps.p = (char *)skip_ws(ps.p, ps.end);
            if (ps.p >= ps.end) return fail(&ps, ps.p, "unexpected end of the text");
            char s = *ps.p;
            if (s == ',') {
                ps.p++;
                if (pn->type == SJ_OBJECT && (rc = parse_key(&ps))) return rc;
                continue;
            }
            if (s == (pn->type == SJ_OBJECT ? '}' : ']')) {
                if (pn->type == SJ_OBJECT && (rc = check_keys(&ps, parent, ps.p))) return rc;
                ps.p++;
                pn->next = (uint32_t)d->len;
                top--;
                goto after_value;
            }
            return fail(&ps, ps.p,
                        pn->type == SJ_OBJECT ? "expected ',' or '}'" : "expected ',' or ']'");
        }
    }
}
