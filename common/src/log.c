/*
 * log.c - JSON-lines logging on stderr (see log.h). Low volume by design:
 * per-row events are counted, not logged. Every line passes through the
 * redaction (redact.h) before it is written: no secret reaches a log.
 */
#include "mm/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "mm/redact.h"

static char log_service[64] = "mm";
static volatile int log_min_level = MM_LOG_INFO;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void mm_log_init(const char *service, mm_log_level_t min_level) {
    snprintf(log_service, sizeof(log_service), "%s", service ? service : "mm");
    log_min_level = (int)min_level;
}

bool mm_log_level_parse(const char *s, mm_log_level_t *out) {
    for (int i = 0; i < 4; i++) {
        if (s && strcasecmp(s, level_names[i]) == 0) {
            *out = (mm_log_level_t)i;
            return true;
        }
    }
    return false;
}

void mm_log_set_level(mm_log_level_t min_level) {
    log_min_level = (int)min_level;
}

bool mm_log_enabled(mm_log_level_t level) {
    return (int)level >= log_min_level;
}

/* String members before encoding, where a secret is still spelled as it was given
 * (JSON escapes would hide one with a quote or backslash from the pass over the line). */
static void redact_fields(json_t *fields) {
    const char *name;
    json_t *value;
    json_object_foreach(fields, name, value) {
        if (!json_is_string(value) || !mm_redact_needed(json_string_value(value))) continue;
        char *redacted = mm_redact(json_string_value(value));
        if (!redacted || json_string_set(value, redacted) != 0) json_string_set(value, MM_REDACTED);
        free(redacted);
    }
}

__attribute__((format(printf, 4, 0))) static void
log_emit(mm_log_level_t level, const char *event, json_t *fields, const char *fmt, va_list ap) {
    char msg[2048];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    mm_redact_into(msg, msg, sizeof(msg));

    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char ts[96];
    snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             (long)(tv.tv_usec / 1000));

    json_t *line = json_object();
    if (!line) {
        json_decref(fields);
        return;
    }
    json_object_set_new(line, "ts", json_string(ts));
    json_object_set_new(line, "level", json_string(level_names[level]));
    json_object_set_new(line, "service", json_string(log_service));
    json_object_set_new(line, "event", json_string(event ? event : "log"));
    json_object_set_new(line, "msg", json_string_nocheck(msg));
    if (fields && json_is_object(fields)) {
        redact_fields(fields);
        json_object_update(line, fields);
    }
    json_decref(fields);

    char *dumped = json_dumps(line, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(line);
    if (!dumped) return;
    /* The fields too: a URL or an error text carried in one is redacted here. A line that
     * cannot be redacted (out of memory) is dropped rather than written as it is. */
    char *text = mm_redact(dumped);
    free(dumped);
    if (!text) return;
    size_t len = strlen(text);
    text[len] = '\n'; /* replaces NUL; write exactly len+1 bytes */
    pthread_mutex_lock(&log_lock);
    const char *p = text;
    size_t left = len + 1;
    while (left > 0) {
        ssize_t n = write(STDERR_FILENO, p, left);
        if (n <= 0) break;
        p += n;
        left -= (size_t)n;
    }
    pthread_mutex_unlock(&log_lock);
    free(text);
}

void mm_log(mm_log_level_t level, const char *event, const char *fmt, ...) {
    if (!mm_log_enabled(level)) return;
    va_list ap;
    va_start(ap, fmt);
    log_emit(level, event, NULL, fmt, ap);
    va_end(ap);
}

void mm_logj(mm_log_level_t level, const char *event, json_t *fields, const char *fmt, ...) {
    if (!mm_log_enabled(level)) {
        json_decref(fields);
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    log_emit(level, event, fields, fmt, ap);
    va_end(ap);
}
