/*
 * serve_json.c - the serving API's JSON writer (see serve_json.h).
 */
#include "serve_json.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* 10^k for k in [0, 22]: exact doubles. */
static const double POW10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                               1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                               1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
/* The smallest and the largest 10-digit mantissa, plus one. */
#define MANT_LOW  1000000000LL
#define MANT_HIGH 10000000000LL
/* How close (in units of the 10th digit) to a rounding tie the scaled value
 * may be before printf decides: the scaling's error is below 2e-6 units. */
#define TIE_MARGIN 1e-5

/* jansson's rules on printf's text: a '.' or 'e' always, no '+' or leading
 * zeros in the exponent. */
static size_t real_slow(char *out, double v) {
    int n = snprintf(out, MM_SERVE_REAL_TEXT_MAX, "%.*g", MM_SERVE_REAL_DIGITS, v);
    if (n < 0 || n >= MM_SERVE_REAL_TEXT_MAX - 3) return 0;
    size_t len = (size_t)n;
    if (!strchr(out, '.') && !strchr(out, 'e')) {
        memcpy(out + len, ".0", 3);
        len += 2;
    }
    char *start = strchr(out, 'e');
    if (start) {
        start++;
        char *end = start + 1;
        if (*start == '-') start++;
        while (*end == '0') end++;
        if (end != start) {
            memmove(start, end, len - (size_t)(end - out) + 1);
            len -= (size_t)(end - start);
        }
    }
    return len;
}

size_t mm_serve_json_real(char *out, double v) {
    double a = fabs(v);
    if (!(a >= 1e-4 && a < 1e10)) return real_slow(out, v);
    /* a = m * 10^(e - 9) with m of 10 digits, e the decimal exponent of a */
    int e = (int)floor(log10(a));
    double scaled = e <= 9 ? a * POW10[9 - e] : a / POW10[e - 9];
    if (scaled >= (double)MANT_HIGH) {
        e++;
        scaled = e <= 9 ? a * POW10[9 - e] : a / POW10[e - 9];
    } else if (scaled < (double)MANT_LOW) {
        e--;
        scaled = a * POW10[9 - e];
    }
    double whole = floor(scaled), frac = scaled - whole;
    if (fabs(frac - 0.5) < TIE_MARGIN || frac < TIE_MARGIN || frac > 1.0 - TIE_MARGIN)
        return real_slow(out, v); /* a tie, or a carry near a power of ten */
    long long m = (long long)whole + (frac > 0.5);
    if (m < MANT_LOW || m >= MANT_HIGH) return real_slow(out, v);
    if (e < -4 || e > 9) return real_slow(out, v);
    char digits[10];
    for (int i = 9; i >= 0; i--, m /= 10) digits[i] = (char)('0' + m % 10);
    int nd = 10;
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    size_t len = 0;
    if (v < 0) out[len++] = '-';
    if (e >= 0) {
        int intd = e + 1; /* digits before the point */
        for (int i = 0; i < intd; i++) out[len++] = digits[i];
        out[len++] = '.';
        if (nd > intd)
            for (int i = intd; i < nd; i++) out[len++] = digits[i];
        else
            out[len++] = '0'; /* jansson's ".0" */
    } else {
        out[len++] = '0';
        out[len++] = '.';
        for (int i = 0; i < -e - 1; i++) out[len++] = '0';
        for (int i = 0; i < nd; i++) out[len++] = digits[i];
    }
    out[len] = '\0';
    return len;
}

/* Append a JSON string (jansson's escapes: '"', '\\', and control bytes;
 * UTF-8 as it is). */
static mm_err_t dump_string(mm_buf_t *buf, const char *s, size_t n) {
    static const char hex[] = "0123456789ABCDEF";
    mm_err_t err = mm_buf_append(buf, "\"", 1);
    size_t run = 0; /* bytes of s[i - run, i) not yet appended */
    for (size_t i = 0; !err && i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            run++;
            continue;
        }
        err = mm_buf_append(buf, s + i - run, run);
        run = 0;
        char esc[7] = {'\\', 0};
        size_t elen = 2;
        switch (c) {
        case '"':
            esc[1] = '"';
            break;
        case '\\':
            esc[1] = '\\';
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        default:
            memcpy(esc + 1, "u00", 3);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            elen = 6;
        }
        if (!err) err = mm_buf_append(buf, esc, elen);
    }
    if (!err) err = mm_buf_append(buf, s + n - run, run);
    if (!err) err = mm_buf_append(buf, "\"", 1);
    return err;
}

static mm_err_t dump_integer(mm_buf_t *buf, json_int_t v) {
    char text[24];
    size_t i = sizeof(text);
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do {
        text[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0) text[--i] = '-';
    return mm_buf_append(buf, text + i, sizeof(text) - i);
}

mm_err_t mm_serve_json_dump(mm_buf_t *buf, const json_t *root) {
    switch (json_typeof(root)) {
    case JSON_OBJECT: {
        mm_err_t err = mm_buf_append(buf, "{", 1);
        const char *key;
        size_t key_len;
        json_t *value;
        bool first = true;
        json_object_keylen_foreach((json_t *)root, key, key_len, value) {
            if (!err && !first) err = mm_buf_append(buf, ",", 1);
            first = false;
            if (!err) err = dump_string(buf, key, key_len);
            if (!err) err = mm_buf_append(buf, ":", 1);
            if (!err) err = mm_serve_json_dump(buf, value);
            if (err) return err;
        }
        return err ? err : mm_buf_append(buf, "}", 1);
    }
    case JSON_ARRAY: {
        mm_err_t err = mm_buf_append(buf, "[", 1);
        for (size_t i = 0; !err && i < json_array_size(root); i++) {
            if (i) err = mm_buf_append(buf, ",", 1);
            if (!err) err = mm_serve_json_dump(buf, json_array_get(root, i));
        }
        return err ? err : mm_buf_append(buf, "]", 1);
    }
    case JSON_STRING:
        return dump_string(buf, json_string_value(root), json_string_length(root));
    case JSON_INTEGER:
        return dump_integer(buf, json_integer_value(root));
    case JSON_REAL: {
        double v = json_real_value(root);
        if (!isfinite(v)) return MM_ERR_INVALID_ARG;
        char text[MM_SERVE_REAL_TEXT_MAX];
        size_t n = mm_serve_json_real(text, v);
        return n ? mm_buf_append(buf, text, n) : MM_ERR_INVALID_ARG;
    }
    case JSON_TRUE:
        return mm_buf_append(buf, "true", 4);
    case JSON_FALSE:
        return mm_buf_append(buf, "false", 5);
    case JSON_NULL:
        return mm_buf_append(buf, "null", 4);
    }
    return MM_ERR_INVALID_ARG;
}
