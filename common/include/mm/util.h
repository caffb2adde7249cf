/*
 * util.h - small shared helpers: hex, checked number parsing, strndup.
 * Nothing here knows about any service.
 *
 * The clocks and civil dates live in the core layer (mm/clock.h), included
 * here so that libmm code and everything above gets them with the other
 * helpers; code below libmm (the core layer, the model library) includes
 * mm/clock.h itself. File I/O is in mm/fs.h.
 */
#ifndef MM_UTIL_H
#define MM_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mm/clock.h"

#define MM_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/** @brief Lower-case hex of @p len bytes into @p out (2*len+1 bytes). */
void mm_hex(const uint8_t *bytes, size_t len, char *out);

/** @brief Checked strtoll: whole string, no overflow. */
bool mm_parse_i64(const char *s, int64_t *out);

/**
 * @brief Strict UTF-8 check of @p n bytes: no overlong forms, surrogates,
 * code points past U+10FFFF, or NUL.
 * @param bad receives the offset of the first bad byte (may be NULL).
 */
bool mm_utf8_valid(const void *text, size_t n, size_t *bad);
/** @brief Checked strtod: whole string, finite or not as @p allow_nonfinite says. */
bool mm_parse_double(const char *s, double *out, bool allow_nonfinite);
/** @brief "true/false/1/0/yes/no/on/off" (case-insensitive). */
bool mm_parse_bool(const char *s, bool *out);

/** @brief strdup that aborts on OOM is NOT provided: returns NULL on OOM like strdup. */
char *mm_strndup(const char *s, size_t n);

#endif
