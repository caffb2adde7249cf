/*
 * err.c - names and descriptions of mm_err_t, and the errstr formatter.
 */
#include "mm/err.h"

#include <stdarg.h>
#include <stdio.h>

static const struct {
    const char *name;
    const char *desc;
    bool retriable;
    bool fatal;
} err_table[MM_ERR__COUNT] = {
    [MM_OK] = {"MM_OK", "success", false, false},
    [MM_ERR_INVALID_ARG] = {"MM_ERR_INVALID_ARG", "invalid argument", false, false},
    [MM_ERR_NOMEM] = {"MM_ERR_NOMEM", "out of memory or over a size cap", false, true},
    [MM_ERR_IO] = {"MM_ERR_IO", "local I/O error", false, false},
    [MM_ERR_PARSE] = {"MM_ERR_PARSE", "malformed input", false, false},
    [MM_ERR_CONFIG] = {"MM_ERR_CONFIG", "invalid configuration", false, true},
    [MM_ERR_NOT_FOUND] = {"MM_ERR_NOT_FOUND", "not found", false, false},
    [MM_ERR_EXISTS] = {"MM_ERR_EXISTS", "already exists", false, false},
    [MM_ERR_TIMEOUT] = {"MM_ERR_TIMEOUT", "timed out", true, false},
    [MM_ERR_TRANSPORT] = {"MM_ERR_TRANSPORT", "network transport error", true, false},
    [MM_ERR_HTTP] = {"MM_ERR_HTTP", "HTTP error", false, false},
    [MM_ERR_THROTTLED] = {"MM_ERR_THROTTLED", "server busy or throttling", true, false},
    [MM_ERR_AUTH] = {"MM_ERR_AUTH", "authentication or authorization failed", false, false},
    [MM_ERR_KAFKA] = {"MM_ERR_KAFKA", "Kafka client error", true, false},
    [MM_ERR_DB] = {"MM_ERR_DB", "database error", false, false},
    [MM_ERR_SCHEMA] = {"MM_ERR_SCHEMA", "unknown wire format or schema id", false, false},
    [MM_ERR_INTEGRITY] = {"MM_ERR_INTEGRITY", "content does not match its checksum", false, false},
    [MM_ERR_UNSUPPORTED] = {"MM_ERR_UNSUPPORTED", "unsupported version or feature", false, false},
    [MM_ERR_NUMERIC] = {"MM_ERR_NUMERIC", "numerical failure", false, false},
    [MM_ERR_INSUFFICIENT_DATA] = {"MM_ERR_INSUFFICIENT_DATA", "insufficient data", false, false},
    [MM_ERR_SHUTDOWN] = {"MM_ERR_SHUTDOWN", "interrupted by shutdown", false, false},
    [MM_ERR_BUSY] = {"MM_ERR_BUSY", "resource busy", true, false},
};

const char *mm_err2str(mm_err_t err) {
    if ((int)err < 0 || err >= MM_ERR__COUNT) return "unknown error";
    return err_table[err].desc;
}

const char *mm_err_name(mm_err_t err) {
    if ((int)err < 0 || err >= MM_ERR__COUNT) return "MM_ERR_UNKNOWN";
    return err_table[err].name;
}

bool mm_err_is_retriable(mm_err_t err) {
    if ((int)err < 0 || err >= MM_ERR__COUNT) return false;
    return err_table[err].retriable;
}

bool mm_err_is_fatal(mm_err_t err) {
    if ((int)err < 0 || err >= MM_ERR__COUNT) return true;
    return err_table[err].fatal;
}

mm_err_t mm_errf(mm_err_t err, char *errstr, size_t errstr_size, const char *fmt, ...) {
    if (errstr && errstr_size > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(errstr, errstr_size, fmt, ap);
        va_end(ap);
    }
    return err;
}
