/*
 * test_cells.c - one CSV cell to a value (common/src/cells.c): time cells in
 * every supported format, number cells with missing tokens, event cells.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "mm/cells.h"
#include "mm/util.h"

/* ------------------------------------------------------------ time cells */

typedef struct time_format {
    const char *format;
    mm_time_kind_t kind;
} time_format_t;

static time_format_t with_format(const char *format) {
    time_format_t tf = {.format = format};
    cr_assert(mm_cells_time_kind(format, &tf.kind), "format '%s' refused", format);
    return tf;
}

static void expect_time(const time_format_t *tf, const char *text, int64_t want) {
    int64_t got = 0;
    cr_assert(mm_cells_parse_time(tf->kind, tf->format, text, strlen(text), &got),
              "[%s] '%s' rejected", tf->format, text);
    cr_assert_eq(got, want, "[%s] '%s' -> %lld, want %lld", tf->format, text, (long long)got,
                 (long long)want);
}

static void expect_bad_time(const time_format_t *tf, const char *text) {
    int64_t got = 0;
    cr_assert_not(mm_cells_parse_time(tf->kind, tf->format, text, strlen(text), &got),
                  "[%s] '%s' accepted as %lld", tf->format, text, (long long)got);
}

Test(cells, time_date_format_is_utc_midnight) {
    time_format_t spec = with_format("%Y-%m-%d");
    expect_time(&spec, "1970-01-01", 0);
    expect_time(&spec, "2024-01-01", 1704067200000LL);
    expect_time(&spec, "2024-02-29", 1709164800000LL);
    expect_time(&spec, "2024-1-5", 1704412800000LL); /* strptime accepts unpadded fields */
    expect_bad_time(&spec, "2023-02-29");
    expect_bad_time(&spec, "2024-04-31");
    expect_bad_time(&spec, "2024-13-01");
    expect_bad_time(&spec, "2024-01-01x");
    expect_bad_time(&spec, "2024-01-01 00:00:00");
    expect_bad_time(&spec, "");
    expect_bad_time(&spec, "yesterday");
}

Test(cells, time_datetime_formats_with_space_or_t) {
    time_format_t spec = with_format("%Y-%m-%d %H:%M:%S");
    expect_time(&spec, "2024-01-01 06:30:15", 1704067200000LL + (6 * 3600 + 30 * 60 + 15) * 1000LL);
    expect_bad_time(&spec, "2024-01-01T06:30:15");
    expect_bad_time(&spec, "2024-01-01 24:00:00");
    expect_bad_time(&spec, "2024-01-01 23:60:00");
    expect_bad_time(&spec, "2024-01-01 23:59:60");
    spec = with_format("%Y-%m-%dT%H:%M:%S");
    expect_time(&spec, "2024-01-01T00:00:01", 1704067201000LL);
    expect_bad_time(&spec, "2024-01-01 00:00:01");
}

Test(cells, time_iso8601_accepts_dates_times_fractions_and_offsets) {
    time_format_t spec = with_format("iso8601");
    int64_t base = 1704067200000LL; /* 2024-01-01T00:00:00Z */
    expect_time(&spec, "2024-01-01", base);
    expect_time(&spec, "2024-01-01T10:20", base + (10 * 60 + 20) * 60000LL);
    expect_time(&spec, "2024-01-01 10:20:30", base + ((10 * 60 + 20) * 60 + 30) * 1000LL);
    expect_time(&spec, "2024-01-01T00:00:00.123Z", base + 123);
    expect_time(&spec, "2024-01-01T00:00:00.5", base + 500);
    expect_time(&spec, "2024-01-01T02:00:00+02:00", base);
    expect_time(&spec, "2024-01-01T02:00:00+0200", base);
    expect_time(&spec, "2023-12-31T19:00:00-05", base);
    expect_bad_time(&spec, "2024-01-01T");
    expect_bad_time(&spec, "2024-01-01T10");
    expect_bad_time(&spec, "2024-01-01T10:20:30.");
    expect_bad_time(&spec, "2024-01-01T10:20:30Zjunk");
    expect_bad_time(&spec, "2024-02-30");
    expect_bad_time(&spec, "2024-01-01T25:00");
}

Test(cells, time_epoch_seconds_and_milliseconds) {
    time_format_t spec = with_format("epoch_s");
    expect_time(&spec, "1700000000", 1700000000000LL);
    expect_time(&spec, "1700000000.25", 1700000000250LL);
    expect_time(&spec, "-1", -1000);
    expect_bad_time(&spec, "17e8");
    expect_bad_time(&spec, "1700000000.");
    expect_bad_time(&spec, "12 ");
    spec = with_format("epoch_ms");
    expect_time(&spec, "1700000000123", 1700000000123LL);
    expect_bad_time(&spec, "1700000000.5");
    expect_bad_time(&spec, "9999999999999999999999");
}

Test(cells, time_custom_strptime_pattern_rejects_garbage_and_impossible_dates) {
    time_format_t spec = with_format("%d/%m/%Y %H:%M");
    expect_time(&spec, "31/01/2024 12:00", 1704067200000LL + 30 * 86400000LL + 12 * 3600000LL);
    expect_bad_time(&spec, "31/02/2024 12:00");
    expect_bad_time(&spec, "31/01/2024 12:00 extra");
    expect_bad_time(&spec, "2024-01-31");
    spec = with_format("%Y-%m-%d %H:%M:%S %z");
    expect_time(&spec, "2024-01-01 01:00:00 +0100", 1704067200000LL);
}

/* ------------------------------------------------------------ number and event cells */

Test(cells, numbers_parse_and_missing_tokens_are_nan) {
    double v;
    cr_assert(mm_cells_parse_number("12", 2, &v));
    cr_assert_float_eq(v, 12.0, 0);
    cr_assert(mm_cells_parse_number(" -3.25 ", 7, &v));
    cr_assert_float_eq(v, -3.25, 0);
    cr_assert(mm_cells_parse_number("1e3", 3, &v));
    cr_assert_float_eq(v, 1000.0, 0);
    cr_assert(mm_cells_parse_number("0012", 4, &v));
    cr_assert_float_eq(v, 12.0, 0);
    const char *missing[] = {"", "NA", "nan", "NaN", "null", "NULL", "  "};
    for (size_t i = 0; i < MM_ARRAY_SIZE(missing); i++) {
        v = 0;
        cr_assert(mm_cells_parse_number(missing[i], strlen(missing[i]), &v), "'%s'", missing[i]);
        cr_assert(isnan(v), "'%s' should be missing", missing[i]);
    }
    const char *bad[] = {"abc", "1,5", "12x", "inf", "1e999", "--1"};
    for (size_t i = 0; i < MM_ARRAY_SIZE(bad); i++)
        cr_assert_not(mm_cells_parse_number(bad[i], strlen(bad[i]), &v), "'%s' accepted", bad[i]);
    /* the length is honoured: "12" out of "123" */
    cr_assert(mm_cells_parse_number("123", 2, &v));
    cr_assert_float_eq(v, 12.0, 0);
}

/* The number strtod(3) makes of @p text must be the very double the cell parser makes. */
static void expect_same_as_strtod(const char *text) {
    double got = 0;
    double want = strtod(text, NULL);
    cr_assert(mm_cells_parse_number(text, strlen(text), &got), "'%s' rejected", text);
    cr_assert(memcmp(&got, &want, sizeof(got)) == 0, "'%s' -> %.17g, strtod says %.17g", text, got,
              want);
}

Test(cells, plain_decimals_are_the_doubles_strtod_makes) {
    static const char *const fixed[] = {"8.22",
                                        "-0.0",
                                        "+2.5",
                                        "0.1",
                                        "0.3",
                                        "123456789012345",
                                        "1234567890.12345",
                                        "0.000000000000001",
                                        "9.999999999999999",
                                        "-7.125",
                                        "5.",
                                        ".5",
                                        "00000000000000001.5",
                                        "1234567890123456",
                                        "12345678901234567890",
                                        "3.14159265358979323846",
                                        "1E3",
                                        "+0"};
    for (size_t i = 0; i < MM_ARRAY_SIZE(fixed); i++) expect_same_as_strtod(fixed[i]);
    /* Every split of random digit strings up to 17 digits (both paths, both signs). */
    uint64_t state = 88172645463325252ULL;
    for (int n = 0; n < 20000; n++) {
        state ^= state << 13, state ^= state >> 7, state ^= state << 17;
        char text[40];
        size_t len = 0;
        int n_digits = 1 + (int)(state % 17),
            point = (int)((state >> 8) % (uint64_t)(n_digits + 1));
        if ((state >> 20) & 1) text[len++] = '-';
        for (int d = 0; d < n_digits; d++) {
            if (d == point && d > 0) text[len++] = '.';
            text[len++] = (char)('0' + (state >> (24 + 2 * (d % 16))) % 10);
        }
        text[len] = 0;
        expect_same_as_strtod(text);
    }
}

Test(cells, event_cells_map_to_zero_or_one) {
    const char *zero[] = {"", "0", "0.0", "NA", "false", "no", " 0 "};
    const char *one[] = {"1", "comp2", "true", "2.5", "failure"};
    for (size_t i = 0; i < MM_ARRAY_SIZE(zero); i++)
        cr_assert_eq(mm_cells_event_value(zero[i], strlen(zero[i])), 0.0, "'%s'", zero[i]);
    for (size_t i = 0; i < MM_ARRAY_SIZE(one); i++)
        cr_assert_eq(mm_cells_event_value(one[i], strlen(one[i])), 1.0, "'%s'", one[i]);
}

Test(cells, time_kind_is_decided_by_the_format) {
    mm_time_kind_t kind;
    cr_assert(mm_cells_time_kind("%Y-%m-%d", &kind));
    cr_assert_eq(kind, MM_TIME_DATE);
    cr_assert(mm_cells_time_kind("%Y-%m-%dT%H:%M:%S", &kind));
    cr_assert_eq(kind, MM_TIME_DATETIME);
    cr_assert(mm_cells_time_kind("iso8601", &kind));
    cr_assert_eq(kind, MM_TIME_ISO8601);
    cr_assert(mm_cells_time_kind("epoch_ms", &kind));
    cr_assert_eq(kind, MM_TIME_EPOCH_MS);
    cr_assert(mm_cells_time_kind("%s", &kind));
    cr_assert_eq(kind, MM_TIME_STRPTIME);
    cr_assert_not(mm_cells_time_kind("YYYY-MM-DD", &kind));
}

Test(cells, strptime_seconds_pattern_in_range_parses_and_huge_values_are_refused) {
    time_format_t spec = with_format("%s");
    expect_time(&spec, "1700000000", 1700000000000LL);
    /* ~6.8e16 s: glibc sets tm_year near INT_MAX; this must be a bad cell, not an overflow. */
    expect_bad_time(&spec, "67767976233316800");
    expect_bad_time(&spec, "67768036191676799");
    expect_bad_time(&spec, "-67768040609740800");
    /* Past year 9999 but well inside int: still out of range. */
    expect_bad_time(&spec, "253402300800");
}
