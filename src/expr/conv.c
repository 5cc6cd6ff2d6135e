/* conv.c — scalar conversions between strings and numbers, used by the lexer (float literals)
 * and by the cast kernels.
 *
 * The host program may have called setlocale(); a feature's value must not depend on it, so
 * every conversion here runs in the C locale: strtod_l with a C locale object created once
 * (pthread_once), and snprintf under uselocale() for the current thread only. If the locale
 * object cannot be created (out of memory at first use) the process locale is used.
 *
 * Accepted string forms (docs/expressions.md "cast"): surrounding ASCII whitespace is ignored;
 *   int64    [+-]digits, in range
 *   float64  [+-](digits[.digits]|.digits)[(e|E)[+-]digits], or inf, infinity, nan (any case);
 *            at most 500 bytes; a finite form that overflows to infinity is rejected
 *   bool     true, false, 1, 0 (any case)
 */
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expr/expr_int.h"

static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;

static void c_locale_init(void)
{
    c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

static locale_t get_c_locale(void)
{
    pthread_once(&c_locale_once, c_locale_init);
    return c_locale;
}

static double strtod_c(const char *s)
{
    locale_t l = get_c_locale();
    if (l) return strtod_l(s, NULL, l);
    return strtod(s, NULL);
}

double tess__expr_strtod(const char *s)
{
    return strtod_c(s);
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static void trim(const char **s, size_t *n)
{
    while (*n > 0 && is_space((*s)[0])) {
        (*s)++;
        (*n)--;
    }
    while (*n > 0 && is_space((*s)[*n - 1]))
        (*n)--;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

bool tess__expr_word_eq(const char *s, size_t n, const char *word)
{
    size_t i = 0;
    for (; i < n; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
        if (word[i] == '\0' || c != word[i]) return false;
    }
    return word[i] == '\0';
}

bool tess__expr_parse_int(const char *s, size_t n, int64_t *out)
{
    trim(&s, &n);
    size_t i = 0;
    bool neg = false;
    if (i < n && (s[i] == '+' || s[i] == '-')) neg = s[i++] == '-';
    if (i == n) return false;
    uint64_t v = 0;
    const uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; i < n; i++) {
        if (!is_digit(s[i])) return false;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (limit - d) / 10) return false;
        v = v * 10 + d;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return true;
}

bool tess__expr_parse_float(const char *s, size_t n, double *out)
{
    trim(&s, &n);
    if (n == 0 || n > 500) return false;
    size_t i = 0;
    bool neg = false;
    if (s[i] == '+' || s[i] == '-') neg = s[i++] == '-';
    const char *w = s + i;
    size_t wn = n - i;
    if (tess__expr_word_eq(w, wn, "inf") || tess__expr_word_eq(w, wn, "infinity")) {
        *out = neg ? -INFINITY : INFINITY;
        return true;
    }
    if (tess__expr_word_eq(w, wn, "nan")) {
        *out = NAN;
        return true;
    }
    size_t mant = 0;
    while (i < n && is_digit(s[i]))
        i++, mant++;
    if (i < n && s[i] == '.') {
        i++;
        while (i < n && is_digit(s[i]))
            i++, mant++;
    }
    if (mant == 0) return false;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-')) i++;
        size_t ed = 0;
        while (i < n && is_digit(s[i]))
            i++, ed++;
        if (ed == 0) return false;
    }
    if (i != n) return false;
    char buf[512];
    memcpy(buf, s, n);
    buf[n] = '\0';
    double x = strtod_c(buf);
    if (isinf(x)) return false;
    *out = x;
    return true;
}

bool tess__expr_parse_bool(const char *s, size_t n, bool *out)
{
    trim(&s, &n);
    if (tess__expr_word_eq(s, n, "true") || (n == 1 && s[0] == '1')) {
        *out = true;
        return true;
    }
    if (tess__expr_word_eq(s, n, "false") || (n == 1 && s[0] == '0')) {
        *out = false;
        return true;
    }
    return false;
}

size_t tess__expr_format_float(double x, char *buf)
{
    if (isnan(x)) {
        memcpy(buf, "nan", 4);
        return 3;
    }
    if (isinf(x)) {
        const char *s = x < 0 ? "-inf" : "inf";
        size_t n = strlen(s);
        memcpy(buf, s, n + 1);
        return n;
    }
    locale_t l = get_c_locale();
    locale_t old = l ? uselocale(l) : (locale_t)0;
    int len = 0;
    for (int prec = 15; prec <= 17; prec++) {
        len = snprintf(buf, 32, "%.*g", prec, x);
        if (prec == 17 || strtod_c(buf) == x) break;
    }
    if (l) uselocale(old);
    return len < 0 ? 0 : (size_t)len;
}
