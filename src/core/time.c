/* time.c — timestamp and duration parsing and printing (civil-date arithmetic after Howard
 * Hinnant's public-domain algorithms, written from their description). */
#include "core/time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tessera.h"

int64_t tess__days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

void tess__civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static int is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned days_in_month(int64_t y, unsigned m)
{
    static const unsigned dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : dm[m - 1];
}

/* Reads exactly `k` digits at s[*i]; returns -1 if they are not all digits. */
static long digits(const char *s, size_t n, size_t *i, int k)
{
    long v = 0;
    if (*i + (size_t)k > n) return -1;
    for (int j = 0; j < k; j++) {
        char c = s[*i + (size_t)j];
        if (c < '0' || c > '9') return -1;
        v = v * 10 + (c - '0');
    }
    *i += (size_t)k;
    return v;
}

#define FAIL(msg)                                                                                  \
    do {                                                                                           \
        if (why) *why = msg;                                                                       \
        return TESS_EPARSE;                                                                        \
    } while (0)

int tess__ts_parse(const char *s, size_t n, int64_t *us, const char **why)
{
    size_t i = 0;
    long y, mo, d, hh = 0, mi = 0, ss = 0, frac = 0, off = 0;

    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t')) n--;
    while (i < n && (s[i] == ' ' || s[i] == '\t')) i++;
    if (i == n) FAIL("empty timestamp");
    if ((y = digits(s, n, &i, 4)) < 0 || i >= n || s[i++] != '-') FAIL("expected YYYY-MM-DD");
    if ((mo = digits(s, n, &i, 2)) < 0 || i >= n || s[i++] != '-') FAIL("expected YYYY-MM-DD");
    if ((d = digits(s, n, &i, 2)) < 0) FAIL("expected YYYY-MM-DD");
    if (y < 1 || mo < 1 || mo > 12) FAIL("month out of range");
    if (d < 1 || (unsigned)d > days_in_month(y, (unsigned)mo)) FAIL("day out of range");
    if (i < n) {
        if (s[i] != 'T' && s[i] != 't' && s[i] != ' ') FAIL("expected 'T' or ' ' after the date");
        i++;
        if ((hh = digits(s, n, &i, 2)) < 0 || i >= n || s[i++] != ':') FAIL("expected HH:MM:SS");
        if ((mi = digits(s, n, &i, 2)) < 0 || i >= n || s[i++] != ':') FAIL("expected HH:MM:SS");
        if ((ss = digits(s, n, &i, 2)) < 0) FAIL("expected HH:MM:SS");
        if (hh > 23 || mi > 59 || ss > 59) FAIL("time of day out of range");
        if (i < n && (s[i] == '.' || s[i] == ',')) {
            int k = 0;
            i++;
            while (i < n && s[i] >= '0' && s[i] <= '9') {
                if (k < 6) frac = frac * 10 + (s[i] - '0');
                k++;
                i++;
            }
            if (k == 0 || k > 9) FAIL("expected 1 to 9 digits of fraction");
            for (; k < 6; k++) frac *= 10;
        }
        if (i < n) {
            if (s[i] == 'Z' || s[i] == 'z') {
                i++;
            } else if (s[i] == '+' || s[i] == '-') {
                int sign = s[i++] == '-' ? -1 : 1;
                long oh, om;
                if ((oh = digits(s, n, &i, 2)) < 0) FAIL("expected an offset +HH:MM");
                if (i < n && s[i] == ':') i++;
                if ((om = digits(s, n, &i, 2)) < 0) FAIL("expected an offset +HH:MM");
                if (oh > 23 || om > 59) FAIL("offset out of range");
                off = sign * (oh * 3600 + om * 60);
            } else {
                FAIL("expected 'Z' or an offset after the time");
            }
        }
        if (i != n) FAIL("unexpected characters after the timestamp");
    }
    int64_t days = tess__days_from_civil(y, (unsigned)mo, (unsigned)d);
    int64_t secs = days * 86400 + hh * 3600 + mi * 60 + ss - off;
    *us = secs * TESS_US_PER_S + frac;
    return TESS_OK;
}

size_t tess__ts_format(int64_t us, char *buf)
{
    int64_t secs = us / TESS_US_PER_S; /* floor division without overflow at the int64 limits */
    long frac = (long)(us % TESS_US_PER_S);
    if (frac < 0) {
        frac += TESS_US_PER_S;
        secs--;
    }
    int64_t days = tess__floor_div(secs, 86400);
    long sod = (long)(secs - days * 86400);
    int64_t y;
    unsigned m, d;
    tess__civil_from_days(days, &y, &m, &d);
    int len;
    if (frac)
        len = snprintf(buf, TESS_TS_FORMAT_MAX, "%04lld-%02u-%02uT%02ld:%02ld:%02ld.%06ldZ",
                       (long long)y, m, d, sod / 3600, sod / 60 % 60, sod % 60, frac);
    else
        len = snprintf(buf, TESS_TS_FORMAT_MAX, "%04lld-%02u-%02uT%02ld:%02ld:%02ldZ",
                       (long long)y, m, d, sod / 3600, sod / 60 % 60, sod % 60);
    return len < 0 ? 0 : (size_t)len;
}

static const struct {
    char unit;
    int64_t us;
} units[] = {
    {'w', 7 * 86400 * TESS_US_PER_S}, {'d', 86400 * TESS_US_PER_S}, {'h', 3600 * TESS_US_PER_S},
    {'m', 60 * TESS_US_PER_S},        {'s', TESS_US_PER_S},
};

int tess__duration_parse(const char *s, size_t n, int64_t *us, const char **why)
{
    size_t i = 0;
    int64_t v = 0;
    if (n == 0) FAIL("empty duration");
    while (i < n && s[i] >= '0' && s[i] <= '9') {
        if (v > 1000000000LL) FAIL("duration too large");
        v = v * 10 + (s[i] - '0');
        i++;
    }
    if (i == 0) FAIL("a duration is an integer and a unit (s, m, h, d, w), e.g. 7d");
    if (i == n) {
        if (v == 0) {
            *us = 0;
            return TESS_OK;
        }
        FAIL("missing unit: use s, m, h, d or w, e.g. 7d");
    }
    if (i + 1 != n) FAIL("a duration is an integer and one unit (s, m, h, d, w), e.g. 90m");
    for (size_t k = 0; k < sizeof(units) / sizeof(units[0]); k++) {
        if (units[k].unit == s[i]) {
            if (__builtin_mul_overflow(v, units[k].us, us)) FAIL("duration too large");
            return TESS_OK;
        }
    }
    FAIL("unknown unit: use s, m, h, d or w");
}

size_t tess__duration_format(int64_t us, char *buf)
{
    int len = 0;
    if (us == 0) {
        len = snprintf(buf, 32, "0s");
        return (size_t)len;
    }
    for (size_t k = 0; k < sizeof(units) / sizeof(units[0]); k++) {
        if (us % units[k].us == 0) {
            len = snprintf(buf, 32, "%lld%c", (long long)(us / units[k].us), units[k].unit);
            return (size_t)len;
        }
    }
    len = snprintf(buf, 32, "%lldus", (long long)us);
    return (size_t)len;
}

int tess__now(int64_t *us)
{
    const char *pin = getenv("TESSERA_NOW");
    if (pin && *pin) {
        /* parsed once per value and thread: lookups ask for "now" on every call */
        static _Thread_local char last[64];
        static _Thread_local int64_t last_us;
        size_t n = strlen(pin);
        if (n < sizeof last && memcmp(last, pin, n + 1) == 0) {
            *us = last_us;
            return TESS_OK;
        }
        int rc = tess__ts_parse(pin, n, us, NULL);
        if (rc == TESS_OK && n < sizeof last) {
            memcpy(last, pin, n + 1);
            last_us = *us;
        }
        return rc;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    *us = (int64_t)ts.tv_sec * TESS_US_PER_S + ts.tv_nsec / 1000;
    return TESS_OK;
}
