/*
 * test_clock.c - common/core/clock.c: civil dates round-trip over a wide
 * range and agree with known dates; backoff stays inside its bounds; the
 * clocks and sleep behave.
 */
#include <stdint.h>
#include <time.h>

#include <criterion/criterion.h>

#include "mm/clock.h"

/* Days either side of the epoch walked one by one (about 2700 years each way). */
#define ROUND_TRIP_DAYS 1000000
/* Beyond that, sampled: about +-270000 years. */
#define WIDE_DAYS 100000000
#define WIDE_STEP 997

static bool is_leap(int64_t y) {
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int64_t y, int m) {
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

Test(clock, known_dates_match_days_since_the_epoch) {
    /* Reference values: Python's date.toordinal() minus 1970-01-01's. */
    static const struct {
        int64_t y;
        int m, d;
        int64_t days;
    } known[] = {
        {1970, 1, 1, 0},      {1969, 12, 31, -1},    {2000, 3, 1, 11017}, {2024, 2, 29, 19782},
        {1900, 3, 1, -25508}, {1600, 3, 1, -135080}, {1, 1, 1, -719162},  {9999, 12, 31, 2932896},
    };
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        cr_assert_eq(mm_days_from_civil(known[i].y, known[i].m, known[i].d), known[i].days,
                     "%lld-%02d-%02d", (long long)known[i].y, known[i].m, known[i].d);
        int y, m, d;
        mm_civil_from_days(known[i].days, &y, &m, &d);
        cr_assert(y == known[i].y && m == known[i].m && d == known[i].d, "day %lld",
                  (long long)known[i].days);
    }
}

Test(clock, consecutive_days_are_consecutive_dates) {
    int y, m, d;
    mm_civil_from_days(-ROUND_TRIP_DAYS, &y, &m, &d);
    for (int64_t z = -ROUND_TRIP_DAYS; z < ROUND_TRIP_DAYS; z++) {
        int ny, nm, nd;
        mm_civil_from_days(z + 1, &ny, &nm, &nd);
        if (d < days_in_month(y, m)) {
            cr_assert(ny == y && nm == m && nd == d + 1, "day %lld", (long long)z);
        } else if (m < 12) {
            cr_assert(ny == y && nm == m + 1 && nd == 1, "day %lld", (long long)z);
        } else {
            cr_assert(ny == y + 1 && nm == 1 && nd == 1, "day %lld", (long long)z);
        }
        cr_assert_eq(mm_days_from_civil(ny, nm, nd), z + 1);
        y = ny;
        m = nm;
        d = nd;
    }
}

Test(clock, civil_dates_round_trip_far_from_the_epoch) {
    for (int64_t z = -WIDE_DAYS; z <= WIDE_DAYS; z += WIDE_STEP) {
        int y, m, d;
        mm_civil_from_days(z, &y, &m, &d);
        cr_assert(m >= 1 && m <= 12 && d >= 1 && d <= days_in_month(y, m), "day %lld",
                  (long long)z);
        cr_assert_eq(mm_days_from_civil(y, m, d), z);
    }
}

Test(clock, century_years_are_leap_only_every_400_years) {
    cr_assert_eq(mm_days_from_civil(1900, 3, 1) - mm_days_from_civil(1900, 2, 28), 1);
    cr_assert_eq(mm_days_from_civil(2000, 3, 1) - mm_days_from_civil(2000, 2, 28), 2);
    cr_assert_eq(mm_days_from_civil(2100, 3, 1) - mm_days_from_civil(2100, 2, 28), 1);
    cr_assert_eq(mm_days_from_civil(2001, 1, 1) - mm_days_from_civil(2000, 1, 1), 366);
}

Test(clock, backoff_stays_between_half_the_base_and_the_capped_ceiling) {
    const int64_t base = 100, cap = 5000;
    for (int attempt = 0; attempt < 40; attempt++) {
        int64_t ceiling = base;
        for (int i = 0; i < attempt && ceiling < cap; i++) ceiling *= 2;
        if (ceiling > cap) ceiling = cap;
        for (int draw = 0; draw < 200; draw++) {
            int64_t ms = mm_backoff_ms(attempt, base, cap);
            cr_assert(ms >= base / 2 && ms <= ceiling, "attempt %d: %lld not in [%lld, %lld]",
                      attempt, (long long)ms, (long long)(base / 2), (long long)ceiling);
        }
    }
}

Test(clock, backoff_jitters) {
    int64_t first = mm_backoff_ms(6, 100, 60000);
    bool varied = false;
    for (int draw = 0; draw < 100 && !varied; draw++)
        varied = mm_backoff_ms(6, 100, 60000) != first;
    cr_assert(varied, "100 draws gave the same delay");
}

Test(clock, backoff_mends_unusable_bounds) {
    /* A non-positive base counts as 1 ms, a cap under the base as the base. */
    for (int draw = 0; draw < 50; draw++) {
        int64_t ms = mm_backoff_ms(3, 0, 0);
        cr_assert(ms >= 0 && ms <= 1, "%lld", (long long)ms);
        ms = mm_backoff_ms(10, 200, 50);
        cr_assert(ms >= 100 && ms <= 200, "%lld", (long long)ms);
        ms = mm_backoff_ms(1000000, 1000, INT64_MAX / 4);
        cr_assert(ms >= 500 && ms <= INT64_MAX / 4, "%lld", (long long)ms);
    }
}

Test(clock, wall_clock_agrees_with_time) {
    int64_t before = (int64_t)time(NULL) * 1000;
    int64_t now = mm_now_ms();
    int64_t after = ((int64_t)time(NULL) + 1) * 1000;
    cr_assert(now >= before && now <= after, "%lld not in [%lld, %lld]", (long long)now,
              (long long)before, (long long)after);
}

Test(clock, sleep_waits_at_least_as_long_as_asked) {
    int64_t start = mm_mono_ms();
    mm_sleep_ms(30, NULL);
    int64_t slept = mm_mono_ms() - start;
    cr_assert_geq(slept, 30);
    volatile int stop = 0;
    start = mm_mono_ms();
    mm_sleep_ms(30, &stop);
    cr_assert_geq(mm_mono_ms() - start, 30);
}

Test(clock, sleep_ends_early_when_stopped) {
    volatile int stop = 1;
    int64_t start = mm_mono_ms();
    mm_sleep_ms(60000, &stop);
    cr_assert_lt(mm_mono_ms() - start, 1000);
}
