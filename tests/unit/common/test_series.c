/*
 * test_series.c - common/src/series.c: the one regularisation of stored rows
 * that training and scoring share. A gap must stay a gap (NaN, not a zero or
 * a shifted neighbour), slots must be one period apart, and the window kept
 * must be the newest one.
 */
#include <math.h>
#include <stdint.h>

#include <criterion/criterion.h>

#include "mm/series.h"

#define DAY INT64_C(86400000)
#define T0  (INT64_C(19723) * DAY) /* 2024-01-01 */

Test(series, a_missing_day_becomes_a_nan_slot_one_period_after_the_last) {
    const int64_t t[] = {T0, T0 + DAY, T0 + 3 * DAY};
    const double y[] = {1, 2, 4};
    const double x[] = {10, 0, 20, 1, 40, 0}; /* row-major: price, promo */
    mm_regular_series_t s;
    char errstr[128];
    cr_assert_eq(mm_series_regularise(MM_FREQ_DAY, t, y, x, 3, 2, 0, &s, errstr, sizeof(errstr)),
                 MM_OK, "%s", errstr);
    cr_assert_eq(s.n, 4);
    for (size_t i = 0; i < 4; i++) cr_expect_eq(s.time_ms[i], T0 + (int64_t)i * DAY, "slot %zu", i);
    cr_expect_float_eq(s.y[1], 2.0, 0);
    cr_expect(isnan(s.y[2]), "the gap is missing, not a value");
    cr_expect(isnan(s.exog[0][2]) && isnan(s.exog[1][2]), "the gap has no covariates");
    cr_expect_float_eq(s.exog[0][3], 40.0, 0);
    cr_expect_float_eq(s.exog[1][1], 1.0, 0);
    mm_series_t view = mm_regular_series_view(&s);
    cr_expect_eq(view.n, 4);
    cr_expect_eq(view.n_exog, 2);
    cr_expect_eq(view.exog, s.exog);
    mm_regular_series_clear(&s);
    cr_expect_null(s.y);
}

Test(series, max_periods_keeps_the_newest_slots) {
    int64_t t[10];
    double y[10];
    for (int i = 0; i < 10; i++) {
        t[i] = T0 + i * DAY;
        y[i] = i;
    }
    mm_regular_series_t s;
    char errstr[128];
    cr_assert_eq(
        mm_series_regularise(MM_FREQ_DAY, t, y, NULL, 10, 0, 4, &s, errstr, sizeof(errstr)), MM_OK);
    cr_assert_eq(s.n, 4);
    cr_expect_eq(s.time_ms[0], T0 + 6 * DAY);
    cr_expect_float_eq(s.y[3], 9.0, 0);
    cr_expect_null(s.exog);
    mm_regular_series_clear(&s);
}

Test(series, months_are_counted_on_the_calendar) {
    /* 2024-01-31 and 2024-03-01: two calendar months apart, 30 days. */
    const int64_t jan31 = T0 + 30 * DAY, mar1 = T0 + 60 * DAY;
    cr_expect_eq(mm_series_period_index(MM_FREQ_MONTH, jan31, mar1), 2);
    cr_expect_eq(mm_series_period_index(MM_FREQ_DAY, jan31, mar1), 30);
    cr_expect_eq(mm_series_period_index(MM_FREQ_WEEK, T0, T0 + 15 * DAY), 2,
                 "rounded to the nearest week");
}

Test(series, no_rows_is_an_error_not_an_empty_series) {
    mm_regular_series_t s;
    char errstr[128];
    cr_expect_eq(
        mm_series_regularise(MM_FREQ_DAY, NULL, NULL, NULL, 0, 0, 0, &s, errstr, sizeof(errstr)),
        MM_ERR_INVALID_ARG);
    mm_regular_series_clear(&s);
    mm_regular_series_clear(NULL);
}
