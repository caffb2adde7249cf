/*
 * util.h - small shared helpers: clocks, backoff with jitter, hex, checked
 * number parsing, file slurping. Nothing here knows about any service.
 */
#ifndef MM_UTIL_H
#define MM_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mm/buf.h"
#include "mm/err.h"

#define MM_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/** @returns wall-clock milliseconds since the Unix epoch. */
int64_t mm_now_ms(void);
/** @returns monotonic milliseconds (for timeouts and durations). */
int64_t mm_mono_ms(void);
/** @brief Sleep @p ms milliseconds (restarts on EINTR unless *stop becomes non-zero; stop may be
 * NULL). */
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

/** @brief Lower-case hex of @p len bytes into @p out (2*len+1 bytes). */
void mm_hex(const uint8_t *bytes, size_t len, char *out);

/** @brief Checked strtoll: whole string, no overflow. */
bool mm_parse_i64(const char *s, int64_t *out);
/** @brief Checked strtod: whole string, finite or not as @p allow_nonfinite says. */
bool mm_parse_double(const char *s, double *out, bool allow_nonfinite);
/** @brief "true/false/1/0/yes/no/on/off" (case-insensitive). */
bool mm_parse_bool(const char *s, bool *out);

/** @brief Read a whole file into @p out (limit applies). */
mm_err_t mm_file_read(const char *path, mm_buf_t *out, char *errstr, size_t errstr_size);
/** @brief Write a file atomically (temp file + fsync + rename). */
mm_err_t mm_file_write_atomic(const char *path, const void *data, size_t len, char *errstr,
                              size_t errstr_size);
/** @brief mkdir -p. */
mm_err_t mm_mkdirs(const char *path, char *errstr, size_t errstr_size);

/** @brief strdup that aborts on OOM is NOT provided: returns NULL on OOM like strdup. */
char *mm_strndup(const char *s, size_t n);

#endif
