/*
 * cells.c - one CSV cell to a value (see cells.h): time cells in the spec's
 * format, number cells with missing tokens, event cells to 0/1.
 *
 * Workload: once per cell of every row, tens of millions per load. The
 * common time shapes are parsed by hand without allocation; strptime(3) is
 * the fallback for other patterns, and its result is range-checked before
 * any arithmetic, since a pattern such as "%s" lets a cell set tm_year to
 * nearly INT_MAX.
 */
#include "mm/cells.h"

#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "mm/util.h"

#define CELLS_MAX_TIME_TEXT    128  /* bytes of a time cell handed to strptime, NUL included */
#define CELLS_MAX_NUMBER_TEXT  64   /* bytes of a number cell handed to strtod, NUL included */
#define CELLS_MAX_FAST_DIGITS  9    /* an all-digit cell this short fits an int: no strtod */
#define CELLS_MAX_EXACT_DIGITS 15   /* decimal digits that always fit a double exactly (< 2^53) */
#define CELLS_MAX_EPOCH_DIGITS 15   /* beyond year 30000 in ms; also keeps *1000 safe */
#define CELLS_TM_YEAR_BASE     1900 /* struct tm counts years from 1900 */
#define SECONDS_PER_DAY        86400L

bool mm_cells_time_kind(const char *format, mm_time_kind_t *kind) {
    if (!format || !kind) return false;
    if (strcmp(format, "iso8601") == 0)
        *kind = MM_TIME_ISO8601;
    else if (strcmp(format, "epoch_s") == 0)
        *kind = MM_TIME_EPOCH_S;
    else if (strcmp(format, "epoch_ms") == 0)
        *kind = MM_TIME_EPOCH_MS;
    else if (strcmp(format, "%Y-%m-%d") == 0)
        *kind = MM_TIME_DATE;
    else if (strcmp(format, "%Y-%m-%d %H:%M:%S") == 0 || strcmp(format, "%Y-%m-%dT%H:%M:%S") == 0)
        *kind = MM_TIME_DATETIME;
    else if (strchr(format, '%'))
        *kind = MM_TIME_STRPTIME;
    else
        return false;
    return true;
}

/* ------------------------------------------------------------ time cells */

static bool date_valid(int64_t y, int m, int d) {
    static const int dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < MM_CELLS_MIN_YEAR || y > MM_CELLS_MAX_YEAR || m < 1 || m > 12 || d < 1) return false;
    int max = dim[m - 1];
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) max = 29;
    return d <= max;
}

static bool clock_valid(int h, int mi, int s) {
    return h >= 0 && h <= 23 && mi >= 0 && mi <= 59 && s >= 0 && s <= 59;
}

static inline bool digits(const char *p, size_t n, int *out) {
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') return false;
        v = v * 10 + (p[i] - '0');
    }
    *out = v;
    return true;
}

static int64_t to_ms(int y, int m, int d, int h, int mi, int s) {
    return ((mm_days_from_civil(y, m, d) * 24 + h) * 60 + mi) * 60000LL + s * 1000LL;
}

/* "YYYY-MM-DD" at p (exactly 10 bytes). */
static bool parse_ymd(const char *p, int *y, int *m, int *d) {
    return p[4] == '-' && p[7] == '-' && digits(p, 4, y) && digits(p + 5, 2, m) &&
           digits(p + 8, 2, d) && date_valid(*y, *m, *d);
}

/* "HH:MM:SS" at p (exactly 8 bytes). */
static bool parse_hms(const char *p, int *h, int *mi, int *s) {
    return p[2] == ':' && p[5] == ':' && digits(p, 2, h) && digits(p + 3, 2, mi) &&
           digits(p + 6, 2, s) && clock_valid(*h, *mi, *s);
}

static bool parse_iso8601(const char *p, size_t len, int64_t *out_ms) {
    int y, m, d, h = 0, mi = 0, s = 0;
    if (len < 10 || !parse_ymd(p, &y, &m, &d)) return false;
    size_t i = 10;
    int64_t frac_ms = 0, offset_min = 0;
    if (i < len && (p[i] == 'T' || p[i] == ' ')) {
        i++;
        if (len - i < 5 || p[i + 2] != ':' || !digits(p + i, 2, &h) || !digits(p + i + 3, 2, &mi))
            return false;
        i += 5;
        if (i < len && p[i] == ':') {
            if (len - i < 3 || !digits(p + i + 1, 2, &s)) return false;
            i += 3;
            if (i < len && (p[i] == '.' || p[i] == ',')) {
                i++;
                size_t start = i, scale = 100;
                while (i < len && p[i] >= '0' && p[i] <= '9') {
                    if (scale > 0) {
                        frac_ms += (p[i] - '0') * (int64_t)scale;
                        scale /= 10;
                    }
                    i++;
                }
                if (i == start) return false;
            }
        }
        if (!clock_valid(h, mi, s)) return false;
        if (i < len && p[i] == 'Z') {
            i++;
        } else if (i < len && (p[i] == '+' || p[i] == '-')) {
            int oh, om;
            int sign = p[i] == '-' ? -1 : 1;
            i++;
            if (len - i >= 5 && p[i + 2] == ':' && digits(p + i, 2, &oh) &&
                digits(p + i + 3, 2, &om))
                i += 5;
            else if (len - i >= 4 && digits(p + i, 2, &oh) && digits(p + i + 2, 2, &om))
                i += 4;
            else if (len - i >= 2 && digits(p + i, 2, &oh) && (om = 0, true))
                i += 2;
            else
                return false;
            if (oh > 23 || om > 59) return false;
            offset_min = sign * (oh * 60 + om);
        }
    }
    if (i != len) return false;
    *out_ms = to_ms(y, m, d, h, mi, s) + frac_ms - offset_min * 60000LL;
    return true;
}

/* Decimal integer with optional sign and (for seconds) a fraction. */
static bool parse_epoch(const char *p, size_t len, bool seconds, int64_t *out_ms) {
    size_t i = 0;
    bool neg = false;
    if (i < len && (p[i] == '-' || p[i] == '+')) neg = p[i++] == '-';
    size_t start = i;
    int64_t v = 0;
    while (i < len && p[i] >= '0' && p[i] <= '9') {
        if (i - start >= CELLS_MAX_EPOCH_DIGITS) return false;
        v = v * 10 + (p[i] - '0');
        i++;
    }
    if (i == start) return false;
    int64_t frac = 0;
    if (seconds) {
        v *= 1000;
        if (i < len && p[i] == '.') {
            i++;
            size_t fstart = i, scale = 100;
            while (i < len && p[i] >= '0' && p[i] <= '9') {
                if (scale > 0) {
                    frac += (p[i] - '0') * (int64_t)scale;
                    scale /= 10;
                }
                i++;
            }
            if (i == fstart) return false;
        }
    }
    if (i != len) return false;
    *out_ms = neg ? -(v + frac) : v + frac;
    return true;
}

/*
 * The fields strptime filled in are checked before any arithmetic on them:
 * "%s" converts the seconds with localtime, so a cell of ~6.8e16 s leaves
 * tm_year near INT_MAX and tm_year + 1900 would overflow.
 */
static bool tm_in_range(const struct tm *tm) {
    return tm->tm_year >= MM_CELLS_MIN_YEAR - CELLS_TM_YEAR_BASE &&
           tm->tm_year <= MM_CELLS_MAX_YEAR - CELLS_TM_YEAR_BASE && tm->tm_mon >= 0 &&
           tm->tm_mon <= 11 && clock_valid(tm->tm_hour, tm->tm_min, tm->tm_sec) &&
           tm->tm_gmtoff > -SECONDS_PER_DAY && tm->tm_gmtoff < SECONDS_PER_DAY;
}

static bool parse_strptime(const char *format, const char *text, size_t len, int64_t *out_ms) {
    char buf[CELLS_MAX_TIME_TEXT];
    if (len >= sizeof(buf)) return false;
    memcpy(buf, text, len);
    buf[len] = 0;
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    tm.tm_mday = 1;
    const char *end = strptime(buf, format, &tm);
    if (!end || *end || !tm_in_range(&tm)) return false;
    int y = tm.tm_year + CELLS_TM_YEAR_BASE, m = tm.tm_mon + 1;
    if (!date_valid(y, m, tm.tm_mday)) return false;
    *out_ms = to_ms(y, m, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec) - tm.tm_gmtoff * 1000LL;
    return true;
}

bool mm_cells_parse_time(mm_time_kind_t kind, const char *format, const char *text, size_t len,
                         int64_t *out_ms) {
    if (!text || !out_ms || len == 0) return false;
    int y, m, d, h, mi, s;
    switch (kind) {
    case MM_TIME_DATE:
        if (len == 10 && parse_ymd(text, &y, &m, &d)) {
            *out_ms = to_ms(y, m, d, 0, 0, 0);
            return true;
        }
        break; /* not the canonical shape: let strptime decide ("2024-1-5") */
    case MM_TIME_DATETIME:
        if (len == 19 && format && text[10] == format[8] && parse_ymd(text, &y, &m, &d) &&
            parse_hms(text + 11, &h, &mi, &s)) {
            *out_ms = to_ms(y, m, d, h, mi, s);
            return true;
        }
        break;
    case MM_TIME_ISO8601:
        return parse_iso8601(text, len, out_ms);
    case MM_TIME_EPOCH_S:
        return parse_epoch(text, len, true, out_ms);
    case MM_TIME_EPOCH_MS:
        return parse_epoch(text, len, false, out_ms);
    case MM_TIME_STRPTIME:
        break;
    }
    if (!format) return false;
    return parse_strptime(format, text, len, out_ms);
}

/* ------------------------------------------------------------ number cells */

static void trim(const char **text, size_t *len) {
    const char *p = *text;
    size_t n = *len;
    while (n > 0 && (*p == ' ' || *p == '\t')) {
        p++;
        n--;
    }
    while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t')) n--;
    *text = p;
    *len = n;
}

static bool is_missing_token(const char *p, size_t n) {
    if (n == 0) return true;
    if (*p != 'n' && *p != 'N') return false; /* every token starts with n: numbers leave here */
    return (n == 2 && strncasecmp(p, "na", 2) == 0) || (n == 3 && strncasecmp(p, "nan", 3) == 0) ||
           (n == 4 && strncasecmp(p, "null", 4) == 0);
}

/*
 * A plain decimal ([+-]digits[.digits], at most CELLS_MAX_EXACT_DIGITS
 * digits) without strtod: its digits form an integer m < 2^53 and its
 * fraction has k <= 22 digits, so m and 10^k are exact doubles and one IEEE
 * division rounds m / 10^k correctly, the same double strtod returns
 * (Clinger's fast path). Anything else (exponents, more digits, ".5", "5.")
 * is left to strtod: returns false.
 */
static bool parse_plain_decimal(const char *p, size_t n, double *out) {
    static const double pow10[CELLS_MAX_EXACT_DIGITS + 1] = {
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};
    size_t i = 0;
    bool negative = false;
    if (n > 0 && (p[0] == '-' || p[0] == '+')) {
        negative = p[0] == '-';
        i = 1;
    }
    uint64_t m = 0;
    size_t n_digits = 0, n_fraction = 0, int_start = i;
    for (; i < n && p[i] >= '0' && p[i] <= '9'; i++, n_digits++)
        m = m * 10 + (uint64_t)(p[i] - '0');
    if (i == int_start || n_digits > CELLS_MAX_EXACT_DIGITS) return false;
    if (i < n) {
        if (p[i] != '.') return false;
        size_t frac_start = ++i;
        for (; i < n && p[i] >= '0' && p[i] <= '9'; i++, n_fraction++)
            m = m * 10 + (uint64_t)(p[i] - '0');
        if (i == frac_start || i < n || n_digits + n_fraction > CELLS_MAX_EXACT_DIGITS)
            return false;
    }
    double v = (double)m / pow10[n_fraction];
    *out = negative ? -v : v;
    return true;
}

bool mm_cells_parse_number(const char *text, size_t len, double *out) {
    if (!out) return false;
    if (!text) len = 0;
    trim(&text, &len);
    if (is_missing_token(text, len)) {
        *out = NAN;
        return true;
    }
    char buf[CELLS_MAX_NUMBER_TEXT];
    if (len >= sizeof(buf)) return false;
    /* small non-negative integers (counts, flags, ids) skip strtod */
    if (len <= CELLS_MAX_FAST_DIGITS) {
        int v;
        if (digits(text, len, &v)) {
            *out = v;
            return true;
        }
    }
    if (parse_plain_decimal(text, len, out)) return true;
    memcpy(buf, text, len);
    buf[len] = 0;
    return mm_parse_double(buf, out, false);
}

double mm_cells_event_value(const char *text, size_t len) {
    if (!text) return 0;
    trim(&text, &len);
    if (is_missing_token(text, len)) return 0;
    if ((len == 5 && strncasecmp(text, "false", 5) == 0) ||
        (len == 2 && strncasecmp(text, "no", 2) == 0))
        return 0;
    double v;
    if (mm_cells_parse_number(text, len, &v)) return (isnan(v) || v == 0) ? 0 : 1;
    return 1;
}
