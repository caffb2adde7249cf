/*
 * log.h - structured logs: one JSON object per line on stderr.
 *
 *   {"ts":"2026-11-21T22:50:01.123Z","level":"info","service":"mm-trainer",
 *    "event":"model_trained","msg":"...", <extra fields>}
 *
 * Thread-safe: each line is written with a single write(2) under a mutex.
 */
#ifndef MM_LOG_H
#define MM_LOG_H

#include <stdbool.h>

#include <jansson.h>

typedef enum mm_log_level {
    MM_LOG_DEBUG = 0,
    MM_LOG_INFO = 1,
    MM_LOG_WARN = 2,
    MM_LOG_ERROR = 3,
} mm_log_level_t;

/** @brief Set the service name written in every line (default "mm"). Not thread-safe; call at
 * start. */
void mm_log_init(const char *service, mm_log_level_t min_level);
/** @brief Parse "debug|info|warn|error". @returns false if unknown. */
bool mm_log_level_parse(const char *s, mm_log_level_t *out);
void mm_log_set_level(mm_log_level_t min_level);
bool mm_log_enabled(mm_log_level_t level);

/** @brief Log @p event with a printf-style message. */
void mm_log(mm_log_level_t level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/**
 * @brief Log @p event with a message and extra fields.
 * @param fields a JSON object whose members are added to the line; stolen (may be NULL).
 */
void mm_logj(mm_log_level_t level, const char *event, json_t *fields, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define mm_log_debug(event, ...) mm_log(MM_LOG_DEBUG, event, __VA_ARGS__)
#define mm_log_info(event, ...)  mm_log(MM_LOG_INFO, event, __VA_ARGS__)
#define mm_log_warn(event, ...)  mm_log(MM_LOG_WARN, event, __VA_ARGS__)
#define mm_log_error(event, ...) mm_log(MM_LOG_ERROR, event, __VA_ARGS__)

#endif
