/* lex.c — the tokenizer of the expression language.
 *
 * Produces one token per call, on demand; the parser never backs up. Keywords (true false null
 * and or not) are matched case-insensitively; everything else that looks like a name is
 * TK_IDENT. String literals are decoded here (escapes \\ \' \" \n \t) into the lexer's arena;
 * integer literals are read as unsigned so that -9223372036854775808 can be written, and the
 * parser rejects 2^63 anywhere but right after a unary minus. A number may not run into a name
 * ("1abc" is an error rather than two tokens).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "expr/expr_int.h"
#include "tessera.h"

static bool is_ident_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_ident_char(char c)
{
    return is_ident_start(c) || is_digit(c);
}

static int col_of(size_t pos)
{
    return (int)pos + 1;
}

static int lex_number(tess__expr_lexer *lx, tess__expr_tok *t)
{
    const char *s = lx->src;
    size_t n = lx->n, i = lx->pos;
    bool is_float = false;
    while (i < n && is_digit(s[i]))
        i++;
    if (i < n && s[i] == '.') {
        is_float = true;
        i++;
        while (i < n && is_digit(s[i]))
            i++;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        is_float = true;
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-')) i++;
        if (i >= n || !is_digit(s[i]))
            return tess__expr_fail(lx->diag, TESS_EPARSE, col_of(lx->pos),
                                   "malformed number \"%.*s\": expected digits after the exponent",
                                   (int)(i - lx->pos), s + lx->pos);
        while (i < n && is_digit(s[i]))
            i++;
    }
    if (i < n && (is_ident_char(s[i]) || s[i] == '.')) {
        size_t j = i;
        while (j < n && (is_ident_char(s[j]) || s[j] == '.') && j - lx->pos < 40)
            j++;
        return tess__expr_fail(lx->diag, TESS_EPARSE, col_of(lx->pos), "malformed number \"%.*s\"",
                               (int)(j - lx->pos), s + lx->pos);
    }
    t->len = i - lx->pos;
    if (is_float) {
        char *copy = tess__arena_strndup(lx->arena, s + lx->pos, t->len);
        if (!copy) return tess__expr_fail(lx->diag, TESS_ENOMEM, col_of(lx->pos), "out of memory");
        double x = tess__expr_strtod(copy);
        if (isinf(x))
            return tess__expr_fail(lx->diag, TESS_EPARSE, col_of(lx->pos),
                                   "float literal \"%.*s\" is out of range", (int)t->len,
                                   s + lx->pos);
        t->kind = TK_FLOAT;
        t->fval = x;
    } else {
        uint64_t v = 0;
        const uint64_t max = (uint64_t)INT64_MAX + 1;
        for (size_t j = lx->pos; j < i; j++) {
            unsigned d = (unsigned)(s[j] - '0');
            if (v > (max - d) / 10)
                return tess__expr_fail(lx->diag, TESS_EPARSE, col_of(lx->pos),
                                       "integer literal %.*s is out of the int64 range (write a "
                                       "float such as 1e19 instead)",
                                       (int)t->len, s + lx->pos);
            v = v * 10 + d;
        }
        t->kind = TK_INT;
        t->ival = v;
    }
    lx->pos = i;
    return TESS_OK;
}

static int lex_string(tess__expr_lexer *lx, tess__expr_tok *t)
{
    const char *s = lx->src;
    size_t n = lx->n, start = lx->pos, i = start + 1;
    char q = s[start];
    /* First pass: find the end and check the escapes. */
    size_t out_len = 0;
    for (;;) {
        if (i >= n)
            return tess__expr_fail(lx->diag, TESS_EPARSE, col_of(start),
                                   "unterminated string: no closing %c", q);
        char c = s[i];
        if (c == q) break;
        if (c == '\\') {
            if (i + 1 >= n)
                return tess__expr_fail(lx->diag, TESS_EPARSE, col_of(start),
                                       "unterminated string: no closing %c", q);
            char e = s[i + 1];
            if (e != '\\' && e != '\'' && e != '"' && e != 'n' && e != 't') {
                if ((unsigned char)e >= 0x20 && (unsigned char)e < 0x7f)
                    return tess__expr_fail(lx->diag, TESS_EPARSE, col_of(i),
                                           "unknown escape \"\\%c\" in a string (the escapes are "
                                           "\\\\ \\' \\\" \\n \\t)",
                                           e);
                return tess__expr_fail(lx->diag, TESS_EPARSE, col_of(i),
                                       "unknown escape in a string (the escapes are \\\\ \\' \\\" "
                                       "\\n \\t)");
            }
            i += 2;
        } else {
            i++;
        }
        out_len++;
    }
    char *d = tess__arena_alloc(lx->arena, out_len + 1);
    if (!d) return tess__expr_fail(lx->diag, TESS_ENOMEM, col_of(start), "out of memory");
    size_t k = 0;
    for (size_t j = start + 1; j < i; j++) {
        char c = s[j];
        if (c == '\\') {
            char e = s[++j];
            c = e == 'n' ? '\n' : e == 't' ? '\t' : e;
        }
        d[k++] = c;
    }
    d[k] = '\0';
    t->kind = TK_STRING;
    t->sval.p = d;
    t->sval.n = k;
    t->len = i + 1 - start;
    lx->pos = i + 1;
    return TESS_OK;
}

static const struct {
    const char *word;
    tess__expr_tk kind;
} keywords[] = {
    {"true", TK_TRUE}, {"false", TK_FALSE}, {"null", TK_NULL},
    {"and", TK_AND},   {"or", TK_OR},       {"not", TK_NOT},
};

int tess__expr_lex(tess__expr_lexer *lx, tess__expr_tok *t)
{
    const char *s = lx->src;
    size_t n = lx->n;
    while (lx->pos < n && (s[lx->pos] == ' ' || s[lx->pos] == '\t' || s[lx->pos] == '\n' ||
                           s[lx->pos] == '\r' || s[lx->pos] == '\f' || s[lx->pos] == '\v'))
        lx->pos++;
    memset(t, 0, sizeof(*t));
    t->pos = lx->pos;
    if (lx->pos >= n) {
        t->kind = TK_END;
        return TESS_OK;
    }
    char c = s[lx->pos];
    char c2 = lx->pos + 1 < n ? s[lx->pos + 1] : '\0';
    if (is_ident_start(c)) {
        size_t i = lx->pos;
        while (i < n && is_ident_char(s[i]))
            i++;
        t->len = i - lx->pos;
        t->kind = TK_IDENT;
        for (size_t k = 0; k < sizeof(keywords) / sizeof(keywords[0]); k++) {
            if (tess__expr_word_eq(s + lx->pos, t->len, keywords[k].word)) {
                t->kind = keywords[k].kind;
                break;
            }
        }
        lx->pos = i;
        return TESS_OK;
    }
    if (is_digit(c) || (c == '.' && is_digit(c2))) return lex_number(lx, t);
    if (c == '\'' || c == '"') return lex_string(lx, t);

    tess__expr_tk k;
    size_t len = 1;
    switch (c) {
    case '(':
        k = TK_LPAREN;
        break;
    case ')':
        k = TK_RPAREN;
        break;
    case ',':
        k = TK_COMMA;
        break;
    case '+':
        k = TK_PLUS;
        break;
    case '-':
        k = TK_MINUS;
        break;
    case '*':
        k = TK_STAR;
        break;
    case '/':
        k = TK_SLASH;
        break;
    case '%':
        k = TK_PERCENT;
        break;
    case '=':
        k = TK_EQ;
        if (c2 == '=') len = 2;
        break;
    case '!':
        if (c2 != '=')
            return tess__expr_fail(lx->diag, TESS_EPARSE, col_of(lx->pos),
                                   "unexpected \"!\"; did you mean \"!=\" or \"not\"?");
        k = TK_NE;
        len = 2;
        break;
    case '<':
        k = TK_LT;
        if (c2 == '=')
            k = TK_LE, len = 2;
        else if (c2 == '>')
            k = TK_NE, len = 2;
        break;
    case '>':
        k = TK_GT;
        if (c2 == '=') k = TK_GE, len = 2;
        break;
    default:
        if ((unsigned char)c >= 0x20 && (unsigned char)c < 0x7f) {
            const char *hint = "";
            if (c == '&')
                hint = "; use \"and\"";
            else if (c == '|')
                hint = "; use \"or\"";
            else if (c == '`')
                hint = "; strings are quoted with ' or \"";
            return tess__expr_fail(lx->diag, TESS_EPARSE, col_of(lx->pos),
                                   "unexpected character \"%c\"%s", c, hint);
        }
        return tess__expr_fail(lx->diag, TESS_EPARSE, col_of(lx->pos),
                               "unexpected byte 0x%02x (names are ASCII letters, digits and _)",
                               (unsigned char)c);
    }
    t->kind = k;
    t->len = len;
    lx->pos += len;
    return TESS_OK;
}
