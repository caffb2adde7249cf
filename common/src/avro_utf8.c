/*
 * avro_utf8.c - the UTF-8 check applied to every Avro string, both ways: the
 * encoder refuses to write a string other readers would reject, the decoder
 * refuses to hand one to the services. Strict: no overlong forms, surrogates,
 * code points past U+10FFFF, or NUL (our strings are C strings).
 *
 * Workload: short strings (keys, ids, names), a few per record; ASCII takes
 * the one-comparison path.
 */
#include "avro_int.h"

bool mm_avro__utf8_valid(const uint8_t *s, size_t n, size_t *bad) {
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c >= 0x01 && c < 0x80) {
            i++;
            continue;
        }
        size_t need;
        uint8_t lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
        if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            if (c == 0xE0) lo = 0xA0; /* overlong */
            if (c == 0xED) hi = 0x9F; /* surrogates */
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            if (c == 0xF0) lo = 0x90; /* overlong */
            if (c == 0xF4) hi = 0x8F; /* past U+10FFFF */
        } else {
            *bad = i;
            return false;
        }
        if (n - i - 1 < need || s[i + 1] < lo || s[i + 1] > hi) {
            *bad = i;
            return false;
        }
        for (size_t k = 2; k <= need; k++) {
            if ((s[i + k] & 0xC0) != 0x80) {
                *bad = i;
                return false;
            }
        }
        i += need + 1;
    }
    return true;
}
