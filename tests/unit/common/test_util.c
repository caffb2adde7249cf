/*
 * test_util.c - common/src/util.c: hex, checked number and boolean parsing,
 * strndup. Configuration values and CSV-adjacent text go through these, so
 * a parser that accepts trailing garbage or an overflowed number would let a
 * wrong value through silently.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "mm/util.h"

Test(util, hex_is_lower_case_two_digits_per_byte_and_terminated) {
    const uint8_t bytes[] = {0x00, 0x0f, 0xa5, 0xff};
    char out[2 * sizeof(bytes) + 1];
    memset(out, 'x', sizeof(out));
    mm_hex(bytes, sizeof(bytes), out);
    cr_assert_str_eq(out, "000fa5ff");
    mm_hex(bytes, 0, out);
    cr_assert_str_eq(out, "");
}

Test(util, parse_i64_takes_whole_numbers_at_the_int64_limits) {
    int64_t v = 0;
    cr_assert(mm_parse_i64("0", &v));
    cr_assert_eq(v, 0);
    cr_assert(mm_parse_i64("-42", &v));
    cr_assert_eq(v, -42);
    cr_assert(mm_parse_i64("9223372036854775807", &v));
    cr_assert_eq(v, INT64_MAX);
    cr_assert(mm_parse_i64("-9223372036854775808", &v));
    cr_assert_eq(v, INT64_MIN);
}

Test(util, parse_i64_refuses_overflow_garbage_and_empty_without_touching_the_output) {
    const char *bad[] = {
        "9223372036854775808", "-9223372036854775809", "12abc", "1.5", "", "abc", "12 "};
    for (size_t i = 0; i < MM_ARRAY_SIZE(bad); i++) {
        int64_t v = 77;
        cr_expect_not(mm_parse_i64(bad[i], &v), "accepted \"%s\"", bad[i]);
        cr_expect_eq(v, 77, "\"%s\" changed the output", bad[i]);
    }
    int64_t v = 77;
    cr_expect_not(mm_parse_i64(NULL, &v));
}

Test(util, parse_double_takes_finite_numbers_and_nonfinite_only_when_allowed) {
    double v = 0;
    cr_assert(mm_parse_double("2.5e3", &v, false));
    cr_assert_float_eq(v, 2500.0, 0);
    cr_assert(mm_parse_double("-0.125", &v, false));
    cr_assert_float_eq(v, -0.125, 0);
    cr_assert_not(mm_parse_double("inf", &v, false));
    cr_assert_not(mm_parse_double("nan", &v, false));
    cr_assert(mm_parse_double("inf", &v, true));
    cr_assert(isinf(v));
    cr_assert(mm_parse_double("nan", &v, true));
    cr_assert(isnan(v));
}

Test(util, parse_double_refuses_overflow_and_garbage) {
    const char *bad[] = {"1e999", "-1e999", "1.5x", "", "x", "1,5"};
    for (size_t i = 0; i < MM_ARRAY_SIZE(bad); i++) {
        double v = 7;
        cr_expect_not(mm_parse_double(bad[i], &v, true), "accepted \"%s\"", bad[i]);
        cr_expect_float_eq(v, 7.0, 0, "\"%s\" changed the output", bad[i]);
    }
}

Test(util, parse_bool_knows_the_documented_words_in_any_case) {
    const char *yes[] = {"true", "TRUE", "1", "yes", "On"};
    const char *no[] = {"false", "False", "0", "no", "OFF"};
    for (size_t i = 0; i < MM_ARRAY_SIZE(yes); i++) {
        bool b = false;
        cr_expect(mm_parse_bool(yes[i], &b), "refused \"%s\"", yes[i]);
        cr_expect(b, "\"%s\" is not true", yes[i]);
        b = true;
        cr_expect(mm_parse_bool(no[i], &b), "refused \"%s\"", no[i]);
        cr_expect_not(b, "\"%s\" is not false", no[i]);
    }
    bool b = true;
    cr_expect_not(mm_parse_bool("y", &b));
    cr_expect_not(mm_parse_bool("", &b));
    cr_expect_not(mm_parse_bool(NULL, &b));
    cr_expect(b, "a refused word changed the output");
}

Test(util, strndup_copies_exactly_n_bytes_and_terminates) {
    char *s = mm_strndup("abcdef", 3);
    cr_assert_not_null(s);
    cr_assert_str_eq(s, "abc");
    free(s);
    /* Embedded bytes are copied as they are: the caller says how many. */
    s = mm_strndup("a\0b", 3);
    cr_assert_not_null(s);
    cr_assert_eq(memcmp(s, "a\0b\0", 4), 0);
    free(s);
}
