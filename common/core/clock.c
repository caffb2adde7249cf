/*
 * clock.c - clocks, sleeping, backoff with jitter, civil dates (see clock.h).
 *
 * Workload: clocks are read on every poll loop iteration and per record, so
 * they are a single clock_gettime each; civil-date conversion runs once per
 * feature row and is pure integer arithmetic.
 */
#include "mm/clock.h"

#include <stdint.h>
#include <time.h>

/* The longest single nanosleep while a stop flag is watched. */
#define CLOCK_STOP_POLL_MS 50

int64_t mm_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t mm_mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void mm_sleep_ms(int64_t ms, volatile int *stop) {
    int64_t end = mm_mono_ms() + ms;
    while (!(stop && *stop)) {
        int64_t left = end - mm_mono_ms();
        if (left <= 0) return;
        if (stop && left > CLOCK_STOP_POLL_MS) left = CLOCK_STOP_POLL_MS;
        struct timespec ts = {.tv_sec = left / 1000, .tv_nsec = (left % 1000) * 1000000};
        nanosleep(&ts, NULL);
    }
}

static _Thread_local uint64_t backoff_state;

static uint64_t backoff_rand(void) {
    if (!backoff_state) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        backoff_state = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^
                        (uint64_t)(uintptr_t)&backoff_state ^ 0x9e3779b97f4a7c15ull;
    }
    /* xorshift64* */
    backoff_state ^= backoff_state >> 12;
    backoff_state ^= backoff_state << 25;
    backoff_state ^= backoff_state >> 27;
    return backoff_state * 2685821657736338717ull;
}

int64_t mm_backoff_ms(int attempt, int64_t base_ms, int64_t cap_ms) {
    if (base_ms <= 0) base_ms = 1;
    if (cap_ms < base_ms) cap_ms = base_ms;
    int64_t ceiling = base_ms;
    for (int i = 0; i < attempt && ceiling < cap_ms; i++) ceiling *= 2;
    if (ceiling > cap_ms) ceiling = cap_ms;
    int64_t floor_ms = base_ms / 2;
    if (ceiling <= floor_ms) return ceiling;
    return floor_ms + (int64_t)(backoff_rand() % (uint64_t)(ceiling - floor_ms + 1));
}

int64_t mm_days_from_civil(int64_t y, int m, int d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void mm_civil_from_days(int64_t z, int *y, int *m, int *d) {
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}
