/*
 * clock.h - wall and monotonic clocks, sleeping, backoff with jitter, and
 * proleptic Gregorian civil dates. Part of the core layer (mm_core): no I/O
 * beyond the system clock, usable by the model library and everything above.
 */
#ifndef MM_CLOCK_H
#define MM_CLOCK_H

#include <stdint.h>

/** @returns wall-clock milliseconds since the Unix epoch. */
int64_t mm_now_ms(void);
/** @returns monotonic milliseconds (for timeouts and durations). */
int64_t mm_mono_ms(void);
/**
 * @brief Sleep @p ms milliseconds, restarting on EINTR.
 * @param stop may be NULL; when it becomes non-zero the sleep ends early
 * (checked at least every 50 ms).
 */
void mm_sleep_ms(int64_t ms, volatile int *stop);

/**
 * @brief Exponential backoff with full jitter: a random delay in
 * [base/2, min(cap, base * 2^attempt)] milliseconds. @p attempt starts at 0.
 * @locality any thread (uses a thread-local PRNG).
 */
int64_t mm_backoff_ms(int attempt, int64_t base_ms, int64_t cap_ms);

/** @brief Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
int64_t mm_days_from_civil(int64_t year, int month, int day);
/** @brief The inverse of mm_days_from_civil. */
void mm_civil_from_days(int64_t days, int *year, int *month, int *day);

#endif
