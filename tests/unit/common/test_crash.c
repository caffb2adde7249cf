/*
 * test_crash.c - named crash points (common/src/crash.c): MM_CRASH_AT names
 * a point and optionally its hit; the process dies by SIGKILL exactly there
 * and nowhere else. Each Criterion test runs in a process of its own, which
 * is what a point that reads its variable once needs.
 */
#include <signal.h>
#include <stdlib.h>

#include <criterion/criterion.h>

#include "mm/crash.h"

#ifdef MM_CRASH_POINTS

Test(crash, the_named_point_dies_by_sigkill_at_its_first_hit, .signal = SIGKILL) {
    setenv("MM_CRASH_AT", "unit_point", 1);
    mm_crash_point("other_point");
    mm_crash_point("unit_point");
    cr_assert_fail("survived the armed point");
}

Test(crash, a_count_picks_the_hit_that_dies, .signal = SIGKILL) {
    setenv("MM_CRASH_AT", "unit_point:3", 1);
    mm_crash_point("unit_point");
    mm_crash_point("unit_point");
    mm_crash_point("unit_point_longer");
    mm_crash_point("unit");
    mm_crash_point("unit_point");
    cr_assert_fail("survived the third hit");
}

Test(crash, other_points_and_earlier_hits_do_not_fire) {
    setenv("MM_CRASH_AT", "unit_point:3", 1);
    mm_crash_points_init();
    for (int i = 0; i < 10; i++) mm_crash_point("another_point");
    mm_crash_point("unit_point");
    mm_crash_point("unit_point");
}

Test(crash, a_bad_count_or_no_variable_arms_nothing) {
    setenv("MM_CRASH_AT", "unit_point:0", 1);
    for (int i = 0; i < 5; i++) mm_crash_point("unit_point");
}

Test(crash, without_the_variable_nothing_fires) {
    unsetenv("MM_CRASH_AT");
    for (int i = 0; i < 5; i++) mm_crash_point("unit_point");
}

#else

Test(crash, compiled_out_points_never_fire) {
    setenv("MM_CRASH_AT", "unit_point", 1);
    mm_crash_point("unit_point");
}

#endif
