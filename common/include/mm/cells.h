/*
 * cells.h - one CSV cell to a value: time cells to epoch milliseconds,
 * number cells to doubles (with missing tokens), event cells to 0/1.
 *
 * These run once per cell of every row (tens of millions per load), so the
 * common time formats have allocation-free fast paths and strptime(3) is
 * only the general fallback. The dataset spec (mm/spec.h) decides the time
 * kind once, at load, with mm_cells_time_kind().
 */
#ifndef MM_CELLS_H
#define MM_CELLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Civil years a time cell may name: the range every date check uses. */
#define MM_CELLS_MIN_YEAR 1
#define MM_CELLS_MAX_YEAR 9999

/* How a time cell is read (decided once per spec, from its time.format). */
typedef enum mm_time_kind {
    MM_TIME_STRPTIME = 0, /* any strptime(3) pattern in time_format */
    MM_TIME_DATE,         /* "%Y-%m-%d" (fast path) */
    MM_TIME_DATETIME,     /* "%Y-%m-%d %H:%M:%S" or "%Y-%m-%dT%H:%M:%S" (fast path) */
    MM_TIME_ISO8601,      /* date, optional time, fraction and Z / +hh:mm offset */
    MM_TIME_EPOCH_S,      /* seconds since the epoch (fraction allowed) */
    MM_TIME_EPOCH_MS,     /* milliseconds since the epoch */
} mm_time_kind_t;

/**
 * @brief The time kind of a spec's time.format: "iso8601", "epoch_s",
 * "epoch_ms", the two fast-path patterns, or any other pattern containing '%'
 * (strptime).
 * @returns false when @p format is none of these (the spec rejects it).
 */
bool mm_cells_time_kind(const char *format, mm_time_kind_t *kind);

/**
 * @brief Parse a time cell into epoch ms (UTC).
 * @param format the time.format @p kind was decided from (strptime pattern
 * for MM_TIME_STRPTIME, and the fallback of the date fast paths).
 * @returns false if the cell is unparsable or names a date outside years
 * MM_CELLS_MIN_YEAR..MM_CELLS_MAX_YEAR.
 */
bool mm_cells_parse_time(mm_time_kind_t kind, const char *format, const char *text, size_t len,
                         int64_t *out_ms);

/**
 * @brief Parse a numeric cell. Empty, "NA", "NaN", "nan", "null" (any case,
 * spaces and tabs around ignored) are missing and give NaN; anything else
 * must be a finite number.
 * @returns false if unparsable.
 */
bool mm_cells_parse_number(const char *text, size_t len, double *out);

/**
 * @brief Event-column cell to 0/1: empty, a missing token, or a number equal
 * to 0 (also "false", "no") is 0; any other non-empty text (a number other
 * than 0, "comp2", "true") is 1. Never fails.
 */
double mm_cells_event_value(const char *text, size_t len);

#endif
